//! Helpers for the API tests: a small demo county generated once per test
//! run, a fresh database per test, users of every role, and requests sent
//! through the router without a port.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use tower::ServiceExt;
use wangge::api::{app, AppState, Config, Grids};
use wangge::demo::{generate, DemoOptions};
use wangge::ingest::privacy::KeyedHasher;
use wangge::live::ensure_grids;
use wangge::store::{AuditEntry, Role, Store};

/// Demo county with 600 grids (the fewest the real villages allow) and 20,000 events.
pub fn demo_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        generate(&DemoOptions {
            out: dir.clone(),
            grids: 600,
            events: 20_000,
            seed: 7,
        })
        .expect("demo");
        dir
    })
}

/// Codes the role tests are built on.
#[derive(Clone, Debug)]
pub struct Codes {
    /// A township, its village, two grids of that village, and another township.
    pub township: String,
    pub village: String,
    pub grid: String,
    pub sibling: String,
    pub other_township: String,
    pub other_grid: String,
}

pub struct Env {
    pub _dir: tempfile::TempDir,
    pub state: AppState,
    pub app: Router,
    pub codes: Codes,
}

pub const PASSWORD: &str = "correct horse";

pub fn env() -> Env {
    env_with(|_| {})
}

pub fn env_with(f: impl FnOnce(&mut Config)) -> Env {
    // As the binary does: data-directory Parquet decoded first in a child process.
    wangge::ingest::probe::set_program(env!("CARGO_BIN_EXE_wangge").into());
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = demo_dir();
    let mut cfg = Config::default();
    cfg.storage.data = demo.to_owned();
    cfg.storage.database = dir.path().join("wangge.db");
    cfg.server.web = dir.path().join("web");
    f(&mut cfg);
    let store = Arc::new(Store::open(&cfg.database()).expect("store"));
    let hasher = KeyedHasher::new([7; 32]);
    let (model, version) = ensure_grids(&store, &demo.join("grids.geojson")).expect("grids");
    // The start-up path: the demo's events through the live pipeline.
    let state = AppState::new(cfg, store.clone(), hasher);
    let grids = Grids::new(model, version).expect("grids");
    let loaded = state
        .live
        .load_events_file(&grids, &demo.join("events.csv"), "", 5000)
        .expect("ingest");
    assert!(loaded.balanced(), "{loaded:?}");
    let model = &grids.model;
    // Grids that hold events, so every endpoint has something to leak.
    let conn = rusqlite::Connection::open(store.path()).expect("db");
    let mut st = conn
        .prepare("SELECT DISTINCT tier3 FROM events WHERE tier3 IS NOT NULL")
        .expect("sql");
    let busy: std::collections::HashSet<String> = st
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let has = |i: usize| busy.contains(&model.unit(i).code);
    // A village with at least two grids, in a township; another township.
    let village = model
        .level(2)
        .find(|&v| model.unit(v).children.len() >= 2 && has(model.unit(v).children[0]))
        .expect("a village with two grids");
    let vu = model.unit(village);
    let township = vu.parent.expect("village parent");
    let other_grid = model
        .level(3)
        .find(|&g| has(g) && model.ancestor_at(g, 1) != Some(township))
        .expect("grid elsewhere");
    let other = model.ancestor_at(other_grid, 1).expect("township");
    let code = |i: usize| model.unit(i).code.clone();
    let codes = Codes {
        township: code(township),
        village: code(village),
        grid: code(vu.children[0]),
        sibling: code(vu.children[1]),
        other_township: code(other),
        other_grid: code(other_grid),
    };
    store
        .add_user("admin", Role::Admin, &[], PASSWORD, "")
        .expect("admin");
    store
        .add_user(
            "leader",
            Role::Leader,
            std::slice::from_ref(&codes.township),
            PASSWORD,
            "",
        )
        .expect("leader");
    store
        .add_user(
            "chief",
            Role::Chief,
            std::slice::from_ref(&codes.grid),
            PASSWORD,
            "",
        )
        .expect("chief");
    store
        .add_user(
            "analyst",
            Role::Analyst,
            std::slice::from_ref(&codes.township),
            PASSWORD,
            "",
        )
        .expect("analyst");
    state.load(grids).expect("frame");
    Env {
        _dir: dir,
        app: app(state.clone()),
        state,
        codes,
    }
}

/// A response: status, headers, body.
pub struct Res {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Res {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    ct: Option<&str>,
    body: Vec<u8>,
) -> Res {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if let Some(ct) = ct {
        b = b.header("content-type", ct);
    }
    let res = app
        .clone()
        .oneshot(b.body(Body::from(body)).expect("request"))
        .await
        .expect("infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .expect("body")
        .to_vec();
    Res {
        status,
        headers,
        body,
    }
}

pub async fn get(app: &Router, uri: &str, token: &str) -> Res {
    send(app, "GET", uri, Some(token), None, Vec::new()).await
}

pub async fn post_json(
    app: &Router,
    uri: &str,
    token: Option<&str>,
    body: serde_json::Value,
) -> Res {
    send(
        app,
        "POST",
        uri,
        token,
        Some("application/json"),
        body.to_string().into_bytes(),
    )
    .await
}

pub async fn login(app: &Router, user: &str) -> String {
    let r = post_json(
        app,
        "/api/v1/login",
        None,
        serde_json::json!({"username": user, "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["token"].as_str().expect("token").to_owned()
}

/// The audit log once `done` holds of it (the writer runs in the
/// background), or after 2.5 s.
pub async fn audit_until(e: &Env, done: impl Fn(&[AuditEntry]) -> bool) -> Vec<AuditEntry> {
    e.state.spawn_background();
    let mut log = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        log = e.state.store.audit_log(100).unwrap();
        if done(&log) {
            break;
        }
    }
    log
}

/// The OpenAPI document the service serves (no token needed).
pub async fn openapi_document(app: &Router) -> serde_json::Value {
    let r = send(app, "GET", "/api/v1/openapi.json", None, None, Vec::new()).await;
    assert_eq!(r.status, StatusCode::OK);
    r.json()
}
