//! Spatial order: the Hilbert curve index of a point within a bounding box.
//!
//! Rows sorted by this key put near points in the same row group, so each
//! group's `bbox` statistics are small and a reader asking for one township
//! skips most groups. Hilbert rather than Morton because it has no long
//! jumps between neighbouring cells.

/// Bits per axis of the curve (a 65,536 × 65,536 lattice over the box).
const ORDER: u32 = 16;

/// A bounding box in degrees (x = longitude, y = latitude).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    /// West.
    pub xmin: f64,
    /// South.
    pub ymin: f64,
    /// East.
    pub xmax: f64,
    /// North.
    pub ymax: f64,
}

impl BBox {
    /// The empty box (grows with [`BBox::add`]).
    pub const EMPTY: BBox = BBox {
        xmin: f64::INFINITY,
        ymin: f64::INFINITY,
        xmax: f64::NEG_INFINITY,
        ymax: f64::NEG_INFINITY,
    };

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.xmin > self.xmax
    }

    /// Grows the box to hold `other`.
    pub fn add(&mut self, other: &BBox) {
        self.xmin = self.xmin.min(other.xmin);
        self.ymin = self.ymin.min(other.ymin);
        self.xmax = self.xmax.max(other.xmax);
        self.ymax = self.ymax.max(other.ymax);
    }

    /// The box as `[xmin, ymin, xmax, ymax]`, or `None` when empty.
    pub fn to_array(&self) -> Option<[f64; 4]> {
        (!self.is_empty()).then_some([self.xmin, self.ymin, self.xmax, self.ymax])
    }
}

/// Hilbert index of `(x, y)` on a 2^16 lattice over `bounds`; points outside
/// are clamped, a degenerate box maps everything to 0.
///
/// # Examples
/// ```
/// use wangge::export::order::{hilbert, BBox};
/// let b = BBox { xmin: 0.0, ymin: 0.0, xmax: 1.0, ymax: 1.0 };
/// assert_eq!(hilbert(&b, 0.0, 0.0), 0);
/// // The curve ends at the bottom-right corner.
/// assert_eq!(hilbert(&b, 1.0, 0.0), u32::MAX);
/// ```
pub fn hilbert(bounds: &BBox, x: f64, y: f64) -> u32 {
    let side = f64::from((1u32 << ORDER) - 1);
    let scale = |v: f64, lo: f64, hi: f64| -> u32 {
        if hi <= lo || v.is_nan() {
            return 0;
        }
        // Clamped to [0, side], so the cast cannot overflow.
        (((v - lo) / (hi - lo)).clamp(0.0, 1.0) * side).round() as u32
    };
    xy2d(
        scale(x, bounds.xmin, bounds.xmax),
        scale(y, bounds.ymin, bounds.ymax),
    )
}

/// The classic iterative mapping of lattice cell `(x, y)` to its distance
/// along the curve.
fn xy2d(mut x: u32, mut y: u32) -> u32 {
    let n: u32 = 1 << ORDER;
    let mut d: u64 = 0;
    let mut s = n / 2;
    while s > 0 {
        let rx = u32::from(x & s > 0);
        let ry = u32::from(y & s > 0);
        d += u64::from(s) * u64::from(s) * u64::from((3 * rx) ^ ry);
        if ry == 0 {
            if rx == 1 {
                x = n - 1 - x;
                y = n - 1 - y;
            }
            std::mem::swap(&mut x, &mut y);
        }
        s /= 2;
    }
    // d < n² = 2^32.
    d as u32
}

/// Row order (indices) sorting `keys` ascending, stable.
pub fn sort_order(keys: &[u32]) -> Vec<u32> {
    let mut idx: Vec<u32> = (0..keys.len() as u32).collect();
    idx.sort_by_key(|&i| keys[i as usize]);
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_curve_starts_by_filling_the_first_two_by_two_block() {
        let mut keys = [xy2d(0, 0), xy2d(0, 1), xy2d(1, 0), xy2d(1, 1)];
        keys.sort_unstable();
        assert_eq!(keys, [0, 1, 2, 3]);
    }

    #[test]
    fn an_empty_box_grows_to_hold_what_is_added() {
        let mut b = BBox::EMPTY;
        assert!(b.is_empty() && b.to_array().is_none());
        b.add(&BBox {
            xmin: 1.0,
            ymin: 2.0,
            xmax: 1.0,
            ymax: 2.0,
        });
        assert_eq!(b.to_array(), Some([1.0, 2.0, 1.0, 2.0]));
    }
}
