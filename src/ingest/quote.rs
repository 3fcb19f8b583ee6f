//! Whether a CSV text ends inside a quoted value.
//!
//! The CSV reader ends a quoted value at the end of its input as if it had
//! been closed: a quote opened in the last row and never closed gives that
//! row a value holding the rest of the file, and the row looks complete
//! (no row after it is swallowed to give it away, see
//! [`super::read::swallowed`]). [`QuoteWatch`] follows the quotes of the
//! bytes the reader takes in, by the reader's own rules, so the last row
//! can be rejected when its quote is still open at the end.

use std::io::Read;

/// The quoting state of a CSV text read so far: a quote opens a value only
/// where a value starts (at the start of the text, after the delimiter or
/// a line break); inside a quoted value `""` is a quote and a lone `"`
/// closes it; anywhere else a quote is text.
#[derive(Debug, Clone, Copy)]
pub struct Quotes {
    delimiter: u8,
    /// Inside a quoted value.
    quoted: bool,
    /// The next byte starts a value (outside quotes).
    at_start: bool,
    /// The last byte read was a quote inside a quoted value: it closes the
    /// value unless the next byte is a quote too.
    quote_last: bool,
}

impl Quotes {
    pub fn new(delimiter: u8) -> Self {
        Quotes {
            delimiter,
            quoted: false,
            at_start: true,
            quote_last: false,
        }
    }

    /// Whether the text read so far ends inside a quoted value.
    pub fn open(&self) -> bool {
        self.quoted && !self.quote_last
    }

    fn starts_value(&self, b: u8) -> bool {
        b == self.delimiter || b == b'\n' || b == b'\r'
    }

    /// Takes in the next bytes of the text. Only quotes are looked at one by
    /// one (`memchr`), so a text with few of them costs a scan.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while let Some(&first) = bytes.first() {
            if self.quoted {
                if self.quote_last {
                    self.quote_last = false;
                    if first == b'"' {
                        bytes = &bytes[1..];
                    } else {
                        self.quoted = false;
                        self.at_start = false;
                    }
                    continue;
                }
                let Some(i) = memchr::memchr(b'"', bytes) else {
                    return;
                };
                self.quote_last = true;
                bytes = &bytes[i + 1..];
            } else {
                let Some(i) = memchr::memchr(b'"', bytes) else {
                    self.at_start = self.starts_value(bytes[bytes.len() - 1]);
                    return;
                };
                let at_start = match i {
                    0 => self.at_start,
                    _ => self.starts_value(bytes[i - 1]),
                };
                self.quoted = at_start;
                self.at_start = false;
                bytes = &bytes[i + 1..];
            }
        }
    }
}

/// How a text's lines end, as its first line end shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ends {
    Lf,
    CrLf,
    /// CR alone (Excel for Mac's "CSV (Macintosh)").
    Cr,
}

/// A reader passing its bytes on and following their quotes ([`Quotes`]),
/// and how its first line ends. A text whose lines end in CR alone is
/// passed on with LF for each CR: the CSV reader ends a record at a lone
/// CR but counts lines by LF, so every row of such a file was row 1.
pub struct QuoteWatch<R> {
    inner: R,
    quotes: Quotes,
    /// How lines end, once a line end was seen.
    ends: Option<Ends>,
    /// The last byte passed on.
    last: u8,
}

impl<R> QuoteWatch<R> {
    pub fn new(inner: R, delimiter: u8) -> Self {
        QuoteWatch {
            inner,
            quotes: Quotes::new(delimiter),
            ends: None,
            last: 0,
        }
    }

    /// What to add to the line the CSV reader gives a record: with CR LF
    /// line ends it ends a record at the CR and starts the next one at the
    /// LF, still on the line before, so every row's number came out one
    /// short.
    pub fn line_offset(&self) -> u64 {
        u64::from(self.ends == Some(Ends::CrLf))
    }

    /// Whether the bytes passed on so far end inside a quoted value: at the
    /// end of the input, the last row's quote was never closed.
    pub fn open(&self) -> bool {
        self.quotes.open()
    }

    /// How lines end, from the bytes `read` that follow those passed on.
    fn line_ends(&self, read: &[u8]) -> Option<Ends> {
        if self.last == b'\r' {
            return read
                .first()
                .map(|&b| if b == b'\n' { Ends::CrLf } else { Ends::Cr });
        }
        let i = memchr::memchr2(b'\r', b'\n', read)?;
        if read[i] == b'\n' {
            return Some(Ends::Lf);
        }
        // A CR last in the bytes waits for the next one.
        read.get(i + 1)
            .map(|&b| if b == b'\n' { Ends::CrLf } else { Ends::Cr })
    }
}

impl<R: Read> Read for QuoteWatch<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.ends.is_none() {
            self.ends = self.line_ends(&buf[..n]);
        }
        if self.ends == Some(Ends::Cr) {
            for b in &mut buf[..n] {
                if *b == b'\r' {
                    *b = b'\n';
                }
            }
        }
        let read = &buf[..n];
        self.quotes.feed(read);
        if let Some(&b) = read.last() {
            self.last = b;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `text`, read from its start, ends inside a quoted value.
    fn open_at_end(text: &[u8], delimiter: u8) -> bool {
        let mut q = Quotes::new(delimiter);
        q.feed(text);
        q.open()
    }

    /// What the CSV reader itself makes of `text`: whether its last value
    /// ran to the end of the text in quotes is seen by appending a closing
    /// quote and a row, which then reads as a row of its own only when the
    /// quote was open.
    fn csv_sees_open(text: &str) -> bool {
        let count = |t: &str| {
            csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(t.as_bytes())
                .byte_records()
                .filter_map(Result::ok)
                .count()
        };
        let base = count(&format!("{text}\nz"));
        let closed = count(&format!("{text}\"\nz"));
        closed > base
    }

    #[test]
    fn a_quote_opens_a_value_only_where_the_value_starts() {
        for (text, open) in [
            ("a,b,c", false),
            ("a,\"b,c", true),
            ("a,\"b\",c", false),
            ("a,\"b\"\"c", true),
            ("a,\"b\"\"\",c", false),
            ("a,b\"c", false),
            ("a,b\"c,\"d", true),
            ("\"a", true),
            ("x\n\"a\nb", true),
            ("x\r\n\"a\"\r\n", false),
            ("a,\"b\"x\"y", false),
            ("a,\"\"", false),
            ("a,\"\"\"", true),
        ] {
            assert_eq!(open_at_end(text.as_bytes(), b','), open, "{text:?}");
            assert_eq!(csv_sees_open(text), open, "the CSV reader on {text:?}");
        }
    }

    #[test]
    fn the_state_carries_across_reads_of_any_size() {
        let text = b"id,note\n1,\"a \"\"b\"\"\nc\"\n2,d\"e\n3,\"f\"\"\"\n4,\"open \"\"g\"\" h";
        for size in 1..text.len() {
            let mut q = Quotes::new(b',');
            for chunk in text.chunks(size) {
                q.feed(chunk);
            }
            assert!(q.open(), "chunks of {size}");
            let mut q = Quotes::new(b',');
            for chunk in text[..text.len() - 10].chunks(size) {
                q.feed(chunk);
            }
            let whole = open_at_end(&text[..text.len() - 10], b',');
            assert_eq!(q.open(), whole, "chunks of {size}, cut short");
        }
    }

    #[test]
    fn a_tab_starts_a_value_in_a_tab_separated_text() {
        assert!(open_at_end(b"a\t\"b", b'\t'));
        assert!(!open_at_end(b"a,\"b", b'\t'));
    }
}
