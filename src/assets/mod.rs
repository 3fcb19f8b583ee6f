//! The front end compiled into the binary, so that copying `wangge` alone
//! to a machine with no network serves the whole map: the page and its
//! modules (`web/`), the MapLibre and uPlot files it imports (from
//! `node_modules/`, put there by `npm ci`), and the Chinese font the labels
//! are drawn with ([`glyphs`], cut at start-up from an embedded Noto Sans
//! CJK face to the loaded county's names).
//!
//! In: nothing at run time (everything is read at compile time; `build.rs`
//! stops the build, naming the command to run, when a file is missing).
//! Out: [`file`], the bytes, content type and entity tag of an embedded
//! file by mount and path, and [`glyphs::Glyphs`]. `api/` serves them, or
//! directories on disk instead when `[server] web` / `[server.vendor]` say so.

pub mod glyphs;

use std::borrow::Cow;

/// `web/`: the page, its modules and its style sheet.
#[derive(rust_embed::Embed)]
#[folder = "web/"]
#[include = "*.html"]
#[include = "*.js"]
#[include = "*.css"]
#[exclude = "glyphs/*"]
struct Web;

/// MapLibre GL JS: the module, its worker (loaded from beside it) and its
/// style sheet; no source maps, no development builds.
#[derive(rust_embed::Embed)]
#[folder = "node_modules/maplibre-gl/dist/"]
#[include = "maplibre-gl.mjs"]
#[include = "maplibre-gl-worker.mjs"]
#[include = "maplibre-gl.css"]
struct MapLibre;

/// uPlot: the ES module and its style sheet (the side panel's charts).
#[derive(rust_embed::Embed)]
#[folder = "node_modules/uplot/dist/"]
#[include = "uPlot.esm.js"]
#[include = "uPlot.min.css"]
struct UPlot;

/// The URL prefixes of the embedded libraries (web/VENDOR.md).
pub const VENDOR_MOUNTS: &[&str] = &["/vendor/maplibre-gl", "/vendor/uplot"];

/// One embedded file.
pub struct File {
    pub bytes: Cow<'static, [u8]>,
    pub content_type: &'static str,
    /// A strong entity tag: the first 16 bytes of the file's SHA-256, hex, quoted.
    pub etag: String,
}

/// The content type of a front-end file by its extension (module scripts
/// are refused by browsers unless served as JavaScript).
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("woff2") => "font/woff2",
        Some("json" | "map") => "application/json",
        _ => "application/octet-stream",
    }
}

fn wrap(f: rust_embed::EmbeddedFile, path: &str) -> File {
    File {
        etag: format!("\"{}\"", hex::encode(&f.metadata.sha256_hash()[..16])),
        content_type: content_type(path),
        bytes: f.data,
    }
}

/// The embedded file at `path` (no leading `/`) under `mount`: `""` for
/// `web/`, or one of [`VENDOR_MOUNTS`].
pub fn file(mount: &str, path: &str) -> Option<File> {
    let f = match mount {
        "" => Web::get(path),
        "/vendor/maplibre-gl" => MapLibre::get(path),
        "/vendor/uplot" => UPlot::get(path),
        _ => None,
    }?;
    Some(wrap(f, path))
}

/// Every Chinese character the front end itself shows (the i18n table,
/// the page): the font subset keeps them whatever the county.
pub fn ui_text() -> String {
    let mut s = String::new();
    for name in Web::iter() {
        if let Some(f) = Web::get(&name) {
            s.extend(
                String::from_utf8_lossy(&f.data)
                    .chars()
                    .filter(|c| !c.is_ascii()),
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_maplibre_and_uplot_are_embedded_without_source_maps() {
        assert!(file("", "index.html").is_some());
        assert!(file("", "app.js").is_some());
        for f in [
            "maplibre-gl.mjs",
            "maplibre-gl-worker.mjs",
            "maplibre-gl.css",
        ] {
            assert!(file("/vendor/maplibre-gl", f).is_some(), "{f}");
        }
        assert!(file("/vendor/maplibre-gl", "maplibre-gl.mjs.map").is_none());
        assert!(file("/vendor/maplibre-gl", "maplibre-gl-dev.mjs").is_none());
        assert!(file("/vendor/uplot", "uPlot.esm.js").is_some());
        assert!(file("", "VENDOR.md").is_none());
        assert_eq!(
            file("", "map.js").unwrap().content_type,
            "text/javascript; charset=utf-8"
        );
        assert!(ui_text().contains("网格"));
    }
}
