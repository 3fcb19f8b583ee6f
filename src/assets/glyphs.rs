//! The Chinese font of the map's labels and the page's text, cut to what
//! the loaded county needs.
//!
//! A client with no CJK font (and no internet) shows boxes for 汉字 unless
//! the service sends a font. The whole Noto Sans CJK face is embedded (from
//! Debian's `fonts-noto-cjk`, found by `build.rs`); at start-up, and again
//! for each new grid version, it is cut to ASCII, CJK punctuation, the
//! 6,763 hanzi of GB 2312, the characters of the front end and every
//! character of every unit name, whatever county it is, and sent as WOFF2
//! (about 1.5 MB, cut in about 0.2 s in a release build). Characters the face itself lacks are reported per unit.
//!
//! In: unit (code, name) pairs. Out: [`Glyphs`], the WOFF2 bytes with an
//! entity tag and what could not be covered.

use std::collections::BTreeSet;

use allsorts::binary::read::ReadScope;
use allsorts::font::read_cmap_subtable;
use allsorts::font_data::FontData;
use allsorts::subset::{subset, CmapTarget, SubsetProfile};
use allsorts::tables::cmap::{Cmap, CmapSubtable};
use allsorts::tables::{FontTableProvider, NameTable};
use allsorts::tag;
use sha2::{Digest, Sha256};

/// The Noto Sans CJK collection (or a single SC face), read at compile time.
static FACE: &[u8] = include_bytes!(env!("EMBEDDED_CJK_FONT"));

/// The font's URL path under `/glyphs/` (web/map.js, web/style.css).
pub const FILE_NAME: &str = "NotoSansSC-Regular.woff2";

/// Brotli quality of the WOFF2: for the GB 2312 cut, 5 is 3 % larger than
/// 9 and 12 % larger than 11, at a fifth and a thirtieth of their time.
const QUALITY: u8 = 5;

/// Why the font could not be cut.
#[derive(Debug, thiserror::Error)]
pub enum GlyphError {
    /// The embedded face could not be read or written.
    #[error("the embedded CJK font: {reason}")]
    Font { reason: String },
}

fn font_err(e: impl std::fmt::Display) -> GlyphError {
    GlyphError::Font {
        reason: e.to_string(),
    }
}

/// A cut of the face.
pub struct Glyphs {
    /// The font, WOFF2.
    pub woff2: Vec<u8>,
    /// A strong entity tag of `woff2`.
    pub etag: String,
    /// Characters the font maps.
    pub chars: usize,
    /// Units whose names hold characters the face has no glyph for, as
    /// (code, name, those characters); the browser draws those with a
    /// fallback font or a box.
    pub uncovered: Vec<(String, String, String)>,
}

/// ASCII, CJK punctuation, full-width forms, common symbols and the hanzi
/// of GB 2312 (levels 1 and 2).
fn base_chars() -> BTreeSet<char> {
    let mut s: BTreeSet<char> = (0x20u32..0x7F).filter_map(char::from_u32).collect();
    s.extend((0x3000u32..0x3040).filter_map(char::from_u32));
    s.extend((0xFF00u32..0xFFF0).filter_map(char::from_u32));
    s.extend("·—–‘’“”…‰℃←↑→↓▲▼△▽●○■□★☆√×÷±≤≥²³".chars());
    // GB 2312 hanzi: rows 0xB0-0xF7, cells 0xA1-0xFE (GBK agrees there).
    for hi in 0xB0u8..0xF8 {
        for lo in 0xA1u8..0xFF {
            let pair = [hi, lo];
            let (text, _, bad) = encoding_rs::GBK.decode(&pair);
            if !bad {
                s.extend(text.chars().filter(|c| *c != '\u{FFFD}'));
            }
        }
    }
    s
}

/// The face of the collection named "... SC" (Simplified Chinese), or the
/// only one.
fn face(data: &FontData<'static>) -> Result<impl FontTableProvider + 'static, GlyphError> {
    let mut first = None;
    for i in 0..16 {
        let Ok(p) = data.table_provider(i) else { break };
        let family = p
            .read_table_data(tag::NAME)
            .ok()
            .and_then(|n| {
                ReadScope::new(&n)
                    .read::<NameTable<'_>>()
                    .ok()
                    .and_then(|t| t.string_for_id(NameTable::FONT_FAMILY_NAME))
            })
            .unwrap_or_default();
        if family.ends_with(" SC") || family.contains(" SC ") {
            return Ok(p);
        }
        // A single face answers every index with itself.
        if first.is_none() {
            first = Some(p);
        }
    }
    first.ok_or_else(|| font_err("no font face in the file"))
}

/// Cuts the embedded face to the base set, `ui` (the front end's own text)
/// and every character of the `units`' names.
pub fn for_units<'a>(
    units: impl IntoIterator<Item = (&'a str, &'a str)>,
    ui: &str,
) -> Result<Glyphs, GlyphError> {
    let data = ReadScope::new(FACE)
        .read::<FontData<'_>>()
        .map_err(font_err)?;
    let provider = face(&data)?;
    let cmap_data = provider.read_table_data(tag::CMAP).map_err(font_err)?;
    let cmap = ReadScope::new(&cmap_data)
        .read::<Cmap<'_>>()
        .map_err(font_err)?;
    let (_, table): (_, CmapSubtable<'_>) = read_cmap_subtable(&cmap)
        .map_err(font_err)?
        .ok_or_else(|| font_err("no Unicode cmap"))?;
    let glyph = |c: char| {
        table
            .map_glyph(u32::from(c))
            .ok()
            .flatten()
            .filter(|&g| g != 0)
    };

    let mut wanted = base_chars();
    wanted.extend(ui.chars().filter(|c| !c.is_control()));
    let mut uncovered = Vec::new();
    for (code, name) in units {
        let missing: String = name
            .chars()
            .filter(|c| !c.is_whitespace() && !c.is_control())
            .filter(|&c| {
                wanted.insert(c);
                glyph(c).is_none()
            })
            .collect();
        if !missing.is_empty() {
            uncovered.push((code.to_owned(), name.to_owned(), missing));
        }
    }
    let mut gids: Vec<u16> = wanted.iter().filter_map(|&c| glyph(c)).collect();
    let chars = gids.len();
    // .notdef first, as OpenType requires.
    gids.push(0);
    gids.sort_unstable();
    gids.dedup();
    let otf = subset(
        &provider,
        &gids,
        &SubsetProfile::Minimal,
        CmapTarget::Unicode,
    )
    .map_err(font_err)?;
    let woff2 =
        ttf2woff2::encode(&otf, ttf2woff2::BrotliQuality::from(QUALITY)).map_err(font_err)?;
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&woff2)[..16]));
    Ok(Glyphs {
        woff2,
        etag,
        chars,
        uncovered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rare_character_of_a_unit_name_is_kept_and_one_the_face_lacks_is_reported() {
        // 䶮 (U+4DAE, Extension A) is a name character outside GB 2312;
        // U+E000 is a private-use code point no face maps.
        let g = for_units([("1", "䶮家村"), ("2", "\u{E000}庄"), ("3", "网格一")], "").unwrap();
        assert_eq!(&g.woff2[..4], b"wOF2");
        assert!(g.chars > 7000, "{}", g.chars);
        assert_eq!(
            g.uncovered,
            vec![(
                "2".to_owned(),
                "\u{E000}庄".to_owned(),
                "\u{E000}".to_owned()
            )]
        );
        let plain = for_units([("3", "网格一")], "").unwrap();
        assert_eq!(plain.chars + 1, g.chars, "䶮 (outside GB 2312) is added");
    }
}
