//! Streaming text decoding for event files: UTF-8 (with or without BOM) or
//! GB18030/GBK, detected from the first bytes unless declared.
//!
//! Decoding streams so a 10-million-row CSV never sits in memory whole. A
//! malformed byte sequence becomes U+FFFD here, and the row holding it is
//! rejected by the reader, so one bad byte costs one row, not the file.

use std::io::{self, BufRead, Read};

use encoding_rs::{Decoder, Encoding, GB18030, UTF_8};

use super::encoding::TextEncoding;

/// Picks the encoding: a BOM or a declaration wins, else the sniffed prefix
/// decides ([`super::encoding::sniff`]).
pub fn detect(prefix: &[u8], declared: Option<TextEncoding>) -> Result<TextEncoding, String> {
    if prefix.starts_with(&[0xFF, 0xFE]) || prefix.starts_with(&[0xFE, 0xFF]) {
        return Err("UTF-16 is not supported; save the file as UTF-8 or GBK".into());
    }
    if prefix.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Ok(TextEncoding::Utf8);
    }
    if let Some(d) = declared {
        return Ok(d);
    }
    // A character cut by the end of the prefix counts as one malformed
    // sequence among the whole prefix's characters.
    Ok(super::encoding::sniff(prefix))
}

/// A `Read` that yields UTF-8 from an inner reader in the given encoding.
pub struct DecodingReader<R> {
    inner: R,
    decoder: Decoder,
    inbuf: Vec<u8>,
    in_start: usize,
    in_end: usize,
    out: Vec<u8>,
    out_start: usize,
    out_end: usize,
    eof: bool,
    /// The decoder was told the input ended: it may not be called again.
    finished: bool,
}

impl<R: BufRead> DecodingReader<R> {
    /// Wraps `inner`; a UTF-8 BOM is removed by the decoder.
    pub fn new(inner: R, encoding: TextEncoding) -> Self {
        let enc: &'static Encoding = match encoding {
            TextEncoding::Utf8 => UTF_8,
            TextEncoding::Gb18030 => GB18030,
        };
        DecodingReader {
            inner,
            decoder: enc.new_decoder_with_bom_removal(),
            inbuf: vec![0; 64 * 1024],
            in_start: 0,
            in_end: 0,
            out: vec![0; 3 * 64 * 1024 + 16],
            out_start: 0,
            out_end: 0,
            eof: false,
            finished: false,
        }
    }
}

impl<R: BufRead> Read for DecodingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_start == self.out_end {
            if self.in_start == self.in_end && !self.eof {
                let n = self.inner.read(&mut self.inbuf)?;
                self.in_start = 0;
                self.in_end = n;
                self.eof = n == 0;
            }
            if self.eof && self.in_start == self.in_end && self.out_start == self.out_end {
                if self.finished {
                    return Ok(0);
                }
                // The end: a sequence cut short becomes U+FFFD, once.
                self.finished = true;
                let (_, _, written, _) = self.decoder.decode_to_utf8(&[], &mut self.out, true);
                if written == 0 {
                    return Ok(0);
                }
                self.out_start = 0;
                self.out_end = written;
                break;
            }
            let (_, read, written, _) = self.decoder.decode_to_utf8(
                &self.inbuf[self.in_start..self.in_end],
                &mut self.out,
                false,
            );
            self.in_start += read;
            self.out_start = 0;
            self.out_end = written;
        }
        let n = buf.len().min(self.out_end - self.out_start);
        buf[..n].copy_from_slice(&self.out[self.out_start..self.out_start + n]);
        self.out_start += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8], enc: TextEncoding) -> String {
        let mut s = String::new();
        DecodingReader::new(bytes, enc)
            .read_to_string(&mut s)
            .unwrap();
        s
    }

    #[test]
    fn a_gbk_file_is_detected_and_decoded() {
        let (bytes, _, _) = GB18030.encode("id,category\n1,矛盾纠纷\n");
        assert_eq!(detect(&bytes, None).unwrap(), TextEncoding::Gb18030);
        assert_eq!(
            decode_all(&bytes, TextEncoding::Gb18030),
            "id,category\n1,矛盾纠纷\n"
        );
    }

    #[test]
    fn a_utf8_bom_is_dropped() {
        let bytes = b"\xEF\xBB\xBFid\n1\n";
        assert_eq!(detect(bytes, None).unwrap(), TextEncoding::Utf8);
        assert_eq!(decode_all(bytes, TextEncoding::Utf8), "id\n1\n");
    }

    #[test]
    fn a_file_ending_inside_a_character_ends_with_one_replacement() {
        // A three-byte character cut after its first byte: read to the end
        // (and past it) without touching the finished decoder again.
        let mut r = DecodingReader::new(&b"id\n1\xE7"[..], TextEncoding::Utf8);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "id\n1\u{FFFD}");
        let mut more = [0u8; 8];
        assert_eq!(r.read(&mut more).unwrap(), 0);
    }

    #[test]
    fn utf16_is_refused_with_a_reason() {
        assert!(detect(&[0xFF, 0xFE, b'i', 0], None)
            .unwrap_err()
            .contains("UTF-16"));
    }
}
