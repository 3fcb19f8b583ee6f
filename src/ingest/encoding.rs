//! Turning CSV bytes into text, whichever encoding office software chose.
//!
//! Spreadsheets exported on Chinese-locale Windows are GBK (code page 936)
//! unless the user picks "CSV UTF-8", which then carries a byte order mark.
//! Both arrive at wangge, usually undeclared. GB18030 is a superset of GBK
//! and GB2312, so one decoder covers all three. A declared encoding is
//! decoded strictly, and the first malformed byte is reported by offset and
//! line so the sender can find it; silently substituting U+FFFD would turn a
//! category such as 矛盾纠纷 into garbage that still "parses".
//!
//! # Examples
//!
//! ```
//! use wangge::ingest::encoding::{decode, TextEncoding};
//!
//! let (text, enc) = decode(b"\xEF\xBB\xBFid,kind\n", None).unwrap();
//! assert_eq!((text.as_ref(), enc), ("id,kind\n", TextEncoding::Utf8));
//! // "网格" in GBK.
//! let (text, enc) = decode(b"\xCD\xF8\xB8\xF1", None).unwrap();
//! assert_eq!((text.as_ref(), enc), ("网格", TextEncoding::Gb18030));
//! ```

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use encoding_rs::{DecoderResult, GB18030};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A text encoding wangge reads.
///
/// # Examples
///
/// ```
/// use wangge::ingest::encoding::TextEncoding;
///
/// assert_eq!("GBK".parse::<TextEncoding>().unwrap(), TextEncoding::Gb18030);
/// assert_eq!("utf8".parse::<TextEncoding>().unwrap(), TextEncoding::Utf8);
/// assert_eq!(TextEncoding::Utf8.to_string(), "utf-8");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextEncoding {
    /// UTF-8, with or without a byte order mark.
    Utf8,
    /// GB18030, which also decodes GBK and GB2312 (its subsets).
    Gb18030,
}

impl FromStr for TextEncoding {
    type Err = EncodingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Ok(TextEncoding::Utf8),
            "gbk" | "gb2312" | "gb18030" => Ok(TextEncoding::Gb18030),
            _ => Err(EncodingError::UnknownName { name: s.to_owned() }),
        }
    }
}

impl fmt::Display for TextEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TextEncoding::Utf8 => "utf-8",
            TextEncoding::Gb18030 => "gb18030",
        })
    }
}

/// Why bytes could not be read as text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodingError {
    /// An encoding name other than utf-8, utf8, gbk, gb2312, gb18030.
    #[error("unknown text encoding {name:?}; accepted: utf-8, gbk, gb2312, gb18030")]
    UnknownName { name: String },
    /// The input starts with a UTF-16 byte order mark (Excel's "Unicode text").
    #[error("UTF-16 is not supported; save as UTF-8 or GBK")]
    Utf16,
    /// The input is not valid in the declared encoding.
    #[error("not valid {encoding}: malformed byte sequence at byte {offset} (line {line})")]
    Malformed {
        /// The declared encoding.
        encoding: TextEncoding,
        /// Offset of the first malformed byte in the input as given (BOM included).
        offset: usize,
        /// 1-based line of that byte.
        line: usize,
    },
    /// Nothing was declared and the input is neither UTF-8 nor GB18030.
    #[error(
        "neither UTF-8 nor GBK/GB18030: first invalid UTF-8 byte at byte {offset} (line {line}); \
         declare the encoding or re-save the file as UTF-8"
    )]
    Undetected {
        /// Offset of the first byte that is not valid UTF-8 (BOM included).
        offset: usize,
        /// 1-based line of that byte.
        line: usize,
    },
}

/// Decodes `bytes` as text, returning it with the encoding actually used.
///
/// A UTF-8 byte order mark is stripped and wins over a declaration, as in
/// the WHATWG decoding rules browsers and `encoding_rs` follow: it is only
/// ever written by software that saved UTF-8. Without a declaration, the
/// bytes are read in the encoding [`sniff`] picks (UTF-8 borrowed, no
/// copy).
/// With a declaration, decoding is strict. A UTF-16 byte order mark is an
/// error.
///
/// # Examples
///
/// ```
/// use wangge::ingest::encoding::{decode, EncodingError, TextEncoding};
///
/// let err = decode(b"id\n\xFFx\n", Some(TextEncoding::Utf8)).unwrap_err();
/// assert_eq!(err, EncodingError::Malformed { encoding: TextEncoding::Utf8, offset: 3, line: 2 });
/// assert_eq!(decode(b"\xFF\xFEi\0", None).unwrap_err(), EncodingError::Utf16);
/// ```
pub fn decode(
    bytes: &[u8],
    declared: Option<TextEncoding>,
) -> Result<(Cow<'_, str>, TextEncoding), EncodingError> {
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(EncodingError::Utf16);
    }
    if let Some(body) = bytes.strip_prefix(UTF8_BOM) {
        return decode_utf8(body, UTF8_BOM.len(), bytes)
            .map(|s| (Cow::Borrowed(s), TextEncoding::Utf8));
    }
    match declared {
        Some(TextEncoding::Utf8) => {
            decode_utf8(bytes, 0, bytes).map(|s| (Cow::Borrowed(s), TextEncoding::Utf8))
        }
        Some(TextEncoding::Gb18030) => {
            decode_gb18030(bytes).map(|s| (Cow::Owned(s), TextEncoding::Gb18030))
        }
        None => match std::str::from_utf8(bytes) {
            // Valid UTF-8, or mostly UTF-8 with a corrupt byte (named where
            // it is), unless it reads better as GB18030.
            _ if sniff(bytes) == TextEncoding::Utf8 => {
                decode_utf8(bytes, 0, bytes).map(|s| (Cow::Borrowed(s), TextEncoding::Utf8))
            }
            Ok(_) => decode_gb18030(bytes).map(|s| (Cow::Owned(s), TextEncoding::Gb18030)),
            Err(utf8) => match decode_gb18030(bytes) {
                Ok(s) => Ok((Cow::Owned(s), TextEncoding::Gb18030)),
                // The UTF-8 position is reported: a mostly-UTF-8 file with
                // one corrupt byte is the likelier story.
                Err(_) => Err(EncodingError::Undetected {
                    offset: utf8.valid_up_to(),
                    line: line_of(bytes, utf8.valid_up_to()),
                }),
            },
        },
    }
}

/// The encoding of undeclared bytes without a byte order mark: UTF-8 or
/// GB18030, whichever reads them better.
///
/// Read as UTF-8, Chinese text is characters of three bytes (U+0800 and
/// up: CJK, full-width forms, punctuation). GBK text read as UTF-8 is
/// malformed sequences, and characters of two bytes (U+0080-U+07FF:
/// Latin, Greek, Armenian...) where a GBK pair happens to be valid UTF-8:
/// 诈骗 (D5A9 C6AD) reads as `թƭ`, and about 1,900 common characters
/// (一, 为, 业...) do the same, so a GBK file can be valid UTF-8 throughout.
/// The bytes are UTF-8 when its characters of three bytes or more
/// outnumber the others and the malformed sequences together: a UTF-8 file
/// with a few corrupt bytes keeps its Chinese text (read as GB18030 it
/// would all turn to other characters, 民生服务 into 姘戠敓鏈嶅姟, and still
/// "parse"), its corrupt rows rejected. Plain ASCII is UTF-8; so are
/// valid UTF-8 bytes GB18030 cannot read (to their last full line).
/// Left to a declaration: UTF-8 text whose only non-ASCII characters are
/// of two bytes (`Café`, no Chinese at all), which reads as GB18030 too.
///
/// ```
/// use wangge::ingest::encoding::{sniff, TextEncoding};
/// let mut utf8 = "民生服务,矛盾纠纷\n".as_bytes().to_vec();
/// utf8.extend(b"\xFF,x\n");
/// assert_eq!(sniff(&utf8), TextEncoding::Utf8);
/// // "网格,矛盾" in GBK.
/// assert_eq!(sniff(b"\xCD\xF8\xB8\xF1,\xC3\xAC\xB6\xDC"), TextEncoding::Gb18030);
/// // "诈骗" in GBK: valid UTF-8 (`թƭ`), read as GBK.
/// assert_eq!(sniff(b"id,\xD5\xA9\xC6\xAD\n"), TextEncoding::Gb18030);
/// assert_eq!(sniff("id,入户走访 · 2 km²\n".as_bytes()), TextEncoding::Utf8);
/// ```
pub fn sniff(bytes: &[u8]) -> TextEncoding {
    let (mut wide, mut narrow, mut malformed) = (0usize, 0usize, 0usize);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars().filter(|c| !c.is_ascii()) {
            if u32::from(c) < 0x800 {
                narrow += 1;
            } else {
                wide += 1;
            }
        }
        malformed += usize::from(!chunk.invalid().is_empty());
    }
    if wide > narrow + malformed || narrow + malformed == 0 {
        return TextEncoding::Utf8;
    }
    // Valid UTF-8 that GB18030 cannot read either stays UTF-8 (the check
    // stops at the last line break: the bytes may be a file's first part,
    // cut inside a character).
    let whole = bytes
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(bytes, |i| &bytes[..=i]);
    let gb_reads = GB18030
        .decode_without_bom_handling_and_without_replacement(whole)
        .is_some();
    if malformed == 0 && !gb_reads {
        TextEncoding::Utf8
    } else {
        TextEncoding::Gb18030
    }
}

/// [`decode`] for text whose malformed rows are rejected one by one rather
/// than the whole: a byte the encoding cannot read becomes U+FFFD, and the
/// answer says whether any did. Undeclared bytes are read in the encoding
/// [`sniff`] picks. Only UTF-16 is an error.
pub fn decode_lossy(
    bytes: &[u8],
    declared: Option<TextEncoding>,
) -> Result<(Cow<'_, str>, TextEncoding, bool), EncodingError> {
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(EncodingError::Utf16);
    }
    let (body, enc) = match bytes.strip_prefix(UTF8_BOM) {
        Some(body) => (body, TextEncoding::Utf8),
        None => (bytes, declared.unwrap_or_else(|| sniff(bytes))),
    };
    let (text, lossy) = match enc {
        TextEncoding::Utf8 => {
            let text = String::from_utf8_lossy(body);
            let lossy = matches!(text, Cow::Owned(_));
            (text, lossy)
        }
        TextEncoding::Gb18030 => {
            let (text, lossy) = GB18030.decode_without_bom_handling(body);
            (text, lossy)
        }
    };
    Ok((text, enc, lossy))
}

/// Strict UTF-8; `skipped` bytes (a BOM) precede `body` in `whole`, for
/// offsets that match what the sender sees in a hex editor.
fn decode_utf8<'a>(body: &'a [u8], skipped: usize, whole: &[u8]) -> Result<&'a str, EncodingError> {
    std::str::from_utf8(body).map_err(|e| {
        let offset = skipped + e.valid_up_to();
        EncodingError::Malformed {
            encoding: TextEncoding::Utf8,
            offset,
            line: line_of(whole, offset),
        }
    })
}

fn decode_gb18030(bytes: &[u8]) -> Result<String, EncodingError> {
    let mut decoder = GB18030.new_decoder_without_bom_handling();
    let capacity = decoder
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .unwrap_or(bytes.len().saturating_mul(2));
    let mut out = String::with_capacity(capacity);
    let mut pos = 0;
    loop {
        let (result, read) =
            decoder.decode_to_string_without_replacement(&bytes[pos..], &mut out, true);
        pos += read;
        match result {
            DecoderResult::InputEmpty => return Ok(out),
            DecoderResult::OutputFull => out.reserve(bytes.len() - pos + 16),
            DecoderResult::Malformed(bad, after) => {
                let offset = pos - usize::from(after) - usize::from(bad);
                return Err(EncodingError::Malformed {
                    encoding: TextEncoding::Gb18030,
                    offset,
                    line: line_of(bytes, offset),
                });
            }
        }
    }
}

/// 1-based line holding byte `offset`; '\n' ends a line in both encodings
/// (it is never a trail byte in GB18030).
fn line_of(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER_AND_ROW: &str =
        "编号,类型,发生时间,经度,纬度,类别\nE-001,issue,2026-03-01 08:30,115.0,38.5,矛盾纠纷\n";

    fn gbk(text: &str) -> Vec<u8> {
        let (bytes, _, unmappable) = encoding_rs::GBK.encode(text);
        assert!(!unmappable);
        bytes.into_owned()
    }

    #[test]
    fn utf8_without_bom_is_borrowed() {
        let (text, enc) = decode(HEADER_AND_ROW.as_bytes(), None).unwrap();
        assert!(matches!(text, Cow::Borrowed(_)));
        assert_eq!((text.as_ref(), enc), (HEADER_AND_ROW, TextEncoding::Utf8));
    }

    #[test]
    fn a_utf8_bom_is_stripped_even_when_gbk_is_declared() {
        let bytes = [UTF8_BOM, HEADER_AND_ROW.as_bytes()].concat();
        for declared in [None, Some(TextEncoding::Utf8), Some(TextEncoding::Gb18030)] {
            let (text, enc) = decode(&bytes, declared).unwrap();
            assert_eq!((text.as_ref(), enc), (HEADER_AND_ROW, TextEncoding::Utf8));
        }
    }

    #[test]
    fn undeclared_gbk_is_detected() {
        let bytes = gbk(HEADER_AND_ROW);
        assert!(std::str::from_utf8(&bytes).is_err());
        let (text, enc) = decode(&bytes, None).unwrap();
        assert_eq!(
            (text.as_ref(), enc),
            (HEADER_AND_ROW, TextEncoding::Gb18030)
        );
    }

    #[test]
    fn declared_gbk_decodes() {
        let declared = "gbk".parse().ok();
        let bytes = gbk(HEADER_AND_ROW);
        let (text, enc) = decode(&bytes, declared).unwrap();
        assert_eq!(
            (text.as_ref(), enc),
            (HEADER_AND_ROW, TextEncoding::Gb18030)
        );
    }

    #[test]
    fn malformed_declared_utf8_names_offset_and_line() {
        let mut bytes = [UTF8_BOM, b"id,kind\nE-1,issue\nE-2,"].concat();
        let offset = bytes.len();
        bytes.extend_from_slice(&gbk("走访"));
        let err = decode(&bytes, Some(TextEncoding::Utf8)).unwrap_err();
        assert_eq!(
            err,
            EncodingError::Malformed {
                encoding: TextEncoding::Utf8,
                offset,
                line: 3
            }
        );
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn malformed_declared_gbk_names_offset_and_line() {
        // 0x81 is a lead byte; 0x0A cannot follow it.
        let bytes = [gbk("编号\n网格,"), b"\x81\n".to_vec()].concat();
        let err = decode(&bytes, Some(TextEncoding::Gb18030)).unwrap_err();
        assert_eq!(
            err,
            EncodingError::Malformed {
                encoding: TextEncoding::Gb18030,
                offset: bytes.len() - 2,
                line: 2
            }
        );
    }

    #[test]
    fn undeclared_bytes_valid_in_neither_encoding_name_the_utf8_position() {
        let err = decode(b"id\nE-1,\xFF\n", None).unwrap_err();
        assert_eq!(err, EncodingError::Undetected { offset: 7, line: 2 });
    }

    #[test]
    fn utf16_is_refused_with_advice() {
        for bom in [b"\xFF\xFE", b"\xFE\xFF"] {
            let bytes = [bom.as_slice(), b"i\0d\0"].concat();
            let err = decode(&bytes, None).unwrap_err();
            assert_eq!(
                err.to_string(),
                "UTF-16 is not supported; save as UTF-8 or GBK"
            );
        }
    }

    #[test]
    fn names_parse_case_insensitively() {
        for name in ["UTF-8", "utf8", "Utf-8"] {
            assert_eq!(name.parse::<TextEncoding>(), Ok(TextEncoding::Utf8));
        }
        for name in ["GBK", "gb2312", "GB18030"] {
            assert_eq!(name.parse::<TextEncoding>(), Ok(TextEncoding::Gb18030));
        }
        let err = "big5".parse::<TextEncoding>().unwrap_err().to_string();
        assert!(err.contains("\"big5\"") && err.contains("gb18030"), "{err}");
    }
}
