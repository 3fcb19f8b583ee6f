//! `wangge serve`: the service on the embedded database, demo data made
//! when the data directory has none.
//!
//! The port is bound first and answers `/healthz` (and `/readyz` with 503)
//! while the demo is generated, the grids loaded and the events ingested on
//! a blocking thread, so a supervisor can tell "starting" from "dead".

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::api::{app, AppState, Config, Grids};
use crate::demo::{generate, DemoOptions};
use crate::ingest::privacy::KeyedHasher;
use crate::live::ensure_grids;
use crate::store::{new_token, Role, Store};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Data directory (grids.geojson, events.csv, wangge.db); default from the config, `data/demo`.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Listen address; default from the config, 127.0.0.1:8080.
    #[arg(long)]
    pub addr: Option<String>,
    /// Config file (TOML), which must exist; without it, `wangge.toml`
    /// when the working directory has one, else every key's default.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// The config file to read: the one named on the command line, which must
/// exist (a mistyped path never falls back to the defaults); without one,
/// `wangge.toml` in the working directory when there is one.
pub fn config_file(given: Option<&PathBuf>) -> anyhow::Result<Option<PathBuf>> {
    match given {
        Some(p) if !p.is_file() => anyhow::bail!(
            "{}: no such config file (leave out --config to read ./wangge.toml when there is one, \
             or every key's default)",
            p.display()
        ),
        Some(p) => Ok(Some(p.clone())),
        None => Ok(Some(PathBuf::from("wangge.toml")).filter(|p| p.is_file())),
    }
}

/// Reads the config from `file` (none: every key's default), applies
/// environment and command-line overrides. A key it does not know stops it.
pub fn config(
    file: Option<&Path>,
    data: Option<&PathBuf>,
    addr: Option<&String>,
) -> anyhow::Result<Config> {
    let (mut cfg, unknown) = Config::load(file, std::env::vars())?;
    if let (Some(f), false) = (file, unknown.is_empty()) {
        anyhow::bail!(
            "{}: unknown settings: {} (see wangge.example.toml for every key)",
            f.display(),
            unknown.join(", ")
        );
    }
    if let Some(d) = data {
        cfg.storage.data = d.clone();
    }
    if let Some(a) = addr {
        cfg.server.addr = a.clone();
    }
    Ok(cfg)
}

/// Creates the first admin when there is no user; prints its password once.
fn first_admin(store: &Store, data: &std::path::Path) -> anyhow::Result<()> {
    if store.user_count()? > 0 {
        return Ok(());
    }
    let password = new_token()?[..24].to_owned();
    // The password goes to a file only its owner may read, never to a log.
    let path = data.join("admin-password.txt");
    std::fs::create_dir_all(data)?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        writeln!(f, "{password}")?;
    }
    store.add_user("admin", Role::Admin, &[], &password, "")?;
    // A closed stdout must not stop the server (println! would panic).
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "created user admin; its one-time password is in {} (readable by you only; delete it once you have logged in)",
        path.display()
    );
    let _ = writeln!(out, "(add users with `wangge user add`)");
    let _ = out.flush();
    Ok(())
}

/// The events file a start loads from the data directory.
pub(crate) const EVENTS_FILE: &str = "events.csv";
/// The case-update files a start loads after the events file, in order,
/// each when present.
pub(crate) const UPDATE_FILES: [&str; 3] = ["updates.csv", "updates.jsonl", "updates.parquet"];

/// Files of `data` that look like inputs (tables or GeoJSON) but are none
/// of those a start reads (`updtes.csv`, `events.parquet`), nor the
/// store's own files beside `database`: a name mistyped would otherwise
/// go unread without a word.
fn unread_inputs(data: &std::path::Path, database: &std::path::Path) -> Vec<String> {
    let ours = database
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Ok(dir) = std::fs::read_dir(data) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            let ext = n.rsplit_once('.').map(|(_, x)| x.to_ascii_lowercase());
            let table = matches!(
                ext.as_deref(),
                Some("csv" | "tsv" | "json" | "jsonl" | "ndjson" | "parquet" | "geojson")
            );
            let read =
                n == "grids.geojson" || n == EVENTS_FILE || UPDATE_FILES.contains(&n.as_str());
            table && !read && !n.starts_with(&format!("{ours}."))
        })
        .collect();
    names.sort();
    names
}

/// Demo data if missing, grids, events into the database, then the frame.
fn prepare(st: &AppState) -> anyhow::Result<()> {
    let cfg = &st.config;
    let data = &cfg.storage.data;
    let grids = data.join("grids.geojson");
    if !grids.exists() && st.store.active_grid()?.is_none() {
        let d = &cfg.demo;
        tracing::info!(grids = d.grids, events = d.events, dir = %data.display(), "no data: generating the demo county");
        generate(&DemoOptions {
            out: data.clone(),
            grids: d.grids,
            events: d.events,
            seed: d.seed,
        })?;
    }
    // With a snapshot on disk, read it while the grid file is parsed; it is
    // used only if the grids and the events turn out unchanged.
    let t = std::time::Instant::now();
    let early = match (st.store.has_snapshot()?, st.store.active_grid_id()?) {
        (true, Some(active)) => {
            let s = st.clone();
            Some((active, std::thread::spawn(move || s.live.read_frame())))
        }
        _ => None,
    };
    let (model, version) =
        ensure_grids(&st.store, &grids).with_context(|| format!("loading {}", grids.display()))?;
    tracing::info!(
        version = version.id,
        units = version.units,
        secs = t.elapsed().as_secs_f64(),
        "grid version active"
    );
    let tg = std::time::Instant::now();
    let grids = Grids::new(model, version)?;
    tracing::info!(secs = tg.elapsed().as_secs_f64(), "grid index built");
    let mut ingested = false;
    for name in unread_inputs(data, &st.config.database()) {
        tracing::warn!(
            file = %data.join(&name).display(),
            "not read at start-up: the data directory's inputs are grids.geojson, {EVENTS_FILE} and {} (load other files with `wangge ingest`)",
            UPDATE_FILES.join(", ")
        );
    }
    // Events first, then the transition rows (case updates) that move them.
    // A file is loaded again only when its bytes changed (`store::ledger`).
    let files = [(EVENTS_FILE, false)]
        .into_iter()
        .chain(UPDATE_FILES.map(|name| (name, true)));
    for (name, steps) in files {
        let Some(unloaded) = st.store.unloaded(data, name)? else {
            continue;
        };
        let path = data.join(name);
        let t = std::time::Instant::now();
        let batch = cfg.ingest.batch_rows;
        let o = if steps {
            st.live.load_steps_file(&grids, &path, "", batch)?
        } else {
            st.live.load_events_file(&grids, &path, "", batch)?
        };
        unloaded.record(&st.store)?;
        ingested = true;
        tracing::info!(
            file = %path.display(), read = o.read, matched = o.matched, partial = o.partial, outside = o.outside,
            updated = o.updated, unchanged = o.unchanged, stale = o.stale, pending = o.pending,
            rejected = o.rejected, secs = t.elapsed().as_secs_f64(),
            "{}", if steps { "case updates ingested" } else { "events ingested" }
        );
    }
    match early {
        Some((active, read)) if active == grids.version.id && !ingested => {
            let loaded = read
                .join()
                .map_err(|_| anyhow::anyhow!("reading the frame snapshot panicked"))??;
            st.live
                .load_with(grids, loaded, t.elapsed().as_secs_f64())?;
        }
        _ => st.load(grids)?,
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM (what systemd and container runtimes
/// send to stop a service): requests in flight are answered, new
/// connections are refused, and the process exits 0.
async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    tracing::info!("stopping: finishing the requests in flight");
}

pub fn run(a: &ServeArgs) -> anyhow::Result<i32> {
    let file = config_file(a.config.as_ref())?;
    let cfg = config(file.as_deref(), a.data.as_ref(), a.addr.as_ref())?;
    super::init_logs("info", cfg.server.log_format == "json");
    // Held while serving: a file load beside it would bypass the frame.
    let _claim = crate::store::Claim::take(&cfg.database(), "serve")?;
    let store = Arc::new(Store::open(&cfg.database())?);
    let hasher = KeyedHasher::from_env_or_file(&cfg.secret())?;
    first_admin(&store, &cfg.storage.data)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let addr = cfg.server.addr.clone();
        let state = AppState::new(cfg, store, hasher);
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        tracing::info!(%addr, "listening");
        state.spawn_background();
        let st = state.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = prepare(&st) {
                tracing::error!(error = format!("{e:#}"), "start-up failed");
                std::process::exit(1);
            }
            tracing::info!("ready");
            // The map's Chinese font for this county, cut before a browser asks.
            if let Err(e) = crate::api::web::glyphs_for(&st) {
                tracing::error!(error = %e, "start-up failed: no Chinese font for the map");
                std::process::exit(1);
            }
            // The tiers' shared arcs, so that no first map waits for them.
            crate::api::warm_tiles(&st);
        });
        // With the client address for the handlers (login back-off per
        // address), a header-read timeout and a connection limit.
        let (max, timeout) = (
            state.config.server.max_connections,
            std::time::Duration::from_secs(state.config.server.header_timeout_secs),
        );
        crate::api::server::serve(listener, app(state), max, timeout, shutdown()).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mistyped_input_file_in_the_data_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "grids.geojson",
            "events.csv",
            "updates.csv",
            "updtes.csv",
            "events.parquet",
            "wangge.db",
            "wangge.db.frame.parquet",
            "secret.key",
            "admin-password.txt",
            "README.md",
        ] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        assert_eq!(
            unread_inputs(dir.path(), &dir.path().join("wangge.db")),
            ["events.parquet", "updtes.csv"]
        );
    }
}
