//! A tar archive (POSIX ustar) written entry by entry to any `Write`: how
//! the files of a partitioned export travel as one download.
//!
//! An entry's header carries its size, so each entry is handed over whole
//! (one partition file); the archive is never held. Entry names of up to
//! 255 bytes (split between the ustar `prefix` and `name` fields at a `/`);
//! sizes of 8 GiB and more in the base-256 form that GNU tar, bsdtar and
//! Python's `tarfile` read. Nothing is written on drop: an archive whose
//! [`TarWriter::finish`] was not reached has no end-of-archive blocks.

use std::io::{self, Write};

/// Size of a tar block.
const BLOCK: usize = 512;
/// Largest size the 11 octal digits of the size field hold.
const OCTAL_MAX: u64 = (1 << 33) - 1;

/// Writes regular-file entries, then the end-of-archive blocks.
pub struct TarWriter<W: Write> {
    out: W,
    /// Modification time of every entry (seconds since the epoch).
    mtime: u64,
}

impl<W: Write> TarWriter<W> {
    /// An archive on `out` whose entries are dated now.
    pub fn new(out: W) -> Self {
        let mtime = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        TarWriter { out, mtime }
    }

    /// Appends a regular file (mode 0644) named `path` (`/`-separated, relative).
    pub fn append(&mut self, path: &str, data: &[u8]) -> io::Result<()> {
        self.out
            .write_all(&header(path, data.len() as u64, self.mtime)?)?;
        self.out.write_all(data)?;
        let pad = (BLOCK - data.len() % BLOCK) % BLOCK;
        self.out.write_all(&[0; BLOCK][..pad])
    }

    /// Writes the two zero blocks that end an archive; the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0; 2 * BLOCK])?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The ustar header of a regular file.
fn header(path: &str, size: u64, mtime: u64) -> io::Result<[u8; BLOCK]> {
    let (prefix, name) = split(path).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{path:?} is too long for a tar entry name"),
        )
    })?;
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    if size <= OCTAL_MAX {
        octal(&mut h[124..136], size);
    } else {
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    octal(&mut h[136..148], mtime.min(OCTAL_MAX));
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    // The checksum is taken with its own field as spaces: 6 digits, NUL, space.
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    octal(&mut h[148..155], u64::from(sum));
    Ok(h)
}

/// `path` as (prefix, name) fitting the 155- and 100-byte fields.
fn split(path: &str) -> Option<(&str, &str)> {
    if path.is_empty() {
        return None;
    }
    if path.len() <= 100 {
        return Some(("", path));
    }
    path.match_indices('/')
        .map(|(i, _)| (&path[..i], &path[i + 1..]))
        .find(|(p, n)| p.len() <= 155 && !n.is_empty() && n.len() <= 100)
}

/// Zero-padded octal digits filling `field` but its last byte, a NUL.
fn octal(field: &mut [u8], v: u64) {
    let digits = format!("{v:0w$o}", w = field.len() - 1);
    let (body, nul) = field.split_at_mut(field.len() - 1);
    body.copy_from_slice(digits.as_bytes());
    nul[0] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(h: &[u8]) -> String {
        String::from_utf8_lossy(h)
            .trim_end_matches(['\0', ' '])
            .to_owned()
    }

    #[test]
    fn a_header_carries_name_size_and_a_checksum_over_its_bytes() {
        let h = header(
            "month=2026-03/tier1=130682001/part-0.csv",
            1234,
            1_700_000_000,
        )
        .unwrap();
        assert_eq!(field(&h[..100]), "month=2026-03/tier1=130682001/part-0.csv");
        assert_eq!(u64::from_str_radix(&field(&h[124..136]), 8).unwrap(), 1234);
        assert_eq!(&h[257..265], b"ustar\x0000");
        let stored = u32::from_str_radix(&field(&h[148..156]), 8).unwrap();
        let mut blank = h;
        blank[148..156].fill(b' ');
        assert_eq!(stored, blank.iter().map(|&b| u32::from(b)).sum::<u32>());
    }

    #[test]
    fn long_names_use_the_prefix_and_too_long_ones_are_refused() {
        let long = format!("{}/{}/part-0.parquet", "a".repeat(90), "b".repeat(60));
        let h = header(&long, 0, 0).unwrap();
        assert_eq!(field(&h[345..500]), "a".repeat(90));
        assert_eq!(
            field(&h[..100]),
            format!("{}/part-0.parquet", "b".repeat(60))
        );
        assert!(header(&"c".repeat(101), 0, 0).is_err());
    }

    #[test]
    fn entries_are_padded_to_blocks_and_the_archive_ends_with_two_zero_blocks() {
        let mut t = TarWriter::new(Vec::new());
        t.append("a.csv", b"x,y\n1,2\n").unwrap();
        t.append("b.csv", &[]).unwrap();
        let bytes = t.finish().unwrap();
        // header, one data block; header of the empty file; end of archive.
        assert_eq!(bytes.len(), 3 * BLOCK + 2 * BLOCK);
        assert_eq!(&bytes[BLOCK..BLOCK + 8], b"x,y\n1,2\n");
        assert!(bytes[BLOCK + 8..2 * BLOCK].iter().all(|&b| b == 0));
        assert_eq!(&bytes[2 * BLOCK..2 * BLOCK + 5], b"b.csv");
        assert!(bytes[3 * BLOCK..].iter().all(|&b| b == 0));
    }

    #[test]
    fn sizes_past_8_gib_are_written_in_base_256() {
        let h = header("big.parquet", 1 << 34, 0).unwrap();
        assert_eq!(h[124], 0x80);
        assert_eq!(u64::from_be_bytes(h[128..136].try_into().unwrap()), 1 << 34);
    }
}
