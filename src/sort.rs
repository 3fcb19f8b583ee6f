//! The counting sort behind the join's spatial order, its cell table and
//! the analytics' per-unit grouping.

/// Copies `input` into `out` ordered by `key` (each below `buckets`),
/// keeping the input order within a key; the start of each key's run, with
/// `out.len()` at the end.
///
/// # Examples
///
/// ```
/// use wangge::sort::counting_sort;
/// let mut out = [0; 5];
/// let start = counting_sort(&[21, 10, 22, 11, 23], &mut out, 3, |v| *v as usize / 10);
/// assert_eq!((out, start), ([10, 11, 21, 22, 23], vec![0, 0, 2, 5]));
/// ```
pub fn counting_sort<T: Copy>(
    input: &[T],
    out: &mut [T],
    buckets: usize,
    key: impl Fn(&T) -> usize,
) -> Vec<usize> {
    assert_eq!(input.len(), out.len());
    let mut start = vec![0usize; buckets + 1];
    for v in input {
        start[key(v) + 1] += 1;
    }
    for b in 0..buckets {
        start[b + 1] += start[b];
    }
    let mut fill = start.clone();
    for v in input {
        let k = key(v);
        out[fill[k]] = *v;
        fill[k] += 1;
    }
    start
}
