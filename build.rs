//! Checks, before compiling, that the front end the binary embeds is there
//! (`src/assets`): `web/`, the MapLibre and uPlot files `npm ci` puts under
//! `node_modules/`, and Debian's Noto Sans CJK collection the Chinese glyphs
//! are cut from at start-up. A missing one stops the build with the command
//! that provides it, rather than a binary that serves a map without a map
//! library or with boxes for 汉字.

use std::path::Path;

/// Files `src/assets/mod.rs` embeds from `node_modules/` (`npm ci`).
const NPM_FILES: &[&str] = &[
    "node_modules/maplibre-gl/dist/maplibre-gl.mjs",
    "node_modules/maplibre-gl/dist/maplibre-gl-worker.mjs",
    "node_modules/maplibre-gl/dist/maplibre-gl.css",
    "node_modules/uplot/dist/uPlot.esm.js",
    "node_modules/uplot/dist/uPlot.min.css",
];

/// Where Debian's `fonts-noto-cjk` puts the collection.
const DEBIAN_CJK: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let root = Path::new(&root);
    let mut missing = Vec::new();
    for f in NPM_FILES {
        println!("cargo:rerun-if-changed={f}");
        if !root.join(f).is_file() {
            missing.push(format!("{f} (run `npm ci` in {})", root.display()));
        }
    }
    // A new file in web/ is embedded once the crate is compiled again.
    println!("cargo:rerun-if-changed=web");
    if !root.join("web/index.html").is_file() {
        missing.push("web/index.html (the front end; check out the whole repository)".into());
    }
    println!("cargo:rerun-if-env-changed=WANGGE_CJK_FONT");
    let font = std::env::var("WANGGE_CJK_FONT").unwrap_or_else(|_| DEBIAN_CJK.into());
    println!("cargo:rerun-if-changed={font}");
    if Path::new(&font).is_file() {
        // Not WANGGE_*: cargo also sets it for test runs, and the service
        // refuses WANGGE_* variables that are not settings.
        println!("cargo:rustc-env=EMBEDDED_CJK_FONT={font}");
    } else {
        missing.push(format!(
            "{font} (run `apt-get install fonts-noto-cjk`, or set WANGGE_CJK_FONT to a \
             Noto Sans CJK .ttc or a Noto Sans SC / CJK SC .otf)"
        ));
    }
    if !missing.is_empty() {
        panic!(
            "\n\nwangge embeds its web front end, and these files are missing:\n  - {}\n\n\
             `bash scripts/prepare.sh` provides them (`bash scripts/serve.sh` runs it, then \
             builds and serves).\n",
            missing.join("\n  - ")
        );
    }
}
