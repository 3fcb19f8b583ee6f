//! kill -9 in the middle of a sustained ingest, of a stream of updates and
//! of the frame snapshot's write: after a restart every acknowledged event
//! and step is stored exactly once, and the frame holds every stored row.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::support::demo_dir;

fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.get(9..12)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map(|x| x.1.to_owned())?;
    Some((status, body))
}

fn start(data: &std::path::Path, addr: &str) -> Child {
    // A config without keys: the defaults, whatever the working directory holds.
    let config = data.with_extension("toml");
    std::fs::write(&config, "").unwrap();
    Command::new(env!("CARGO_BIN_EXE_wangge"))
        .args(["serve", "--data"])
        .arg(data)
        .args(["--addr", addr, "--config"])
        .arg(&config)
        .env("WANGGE_SECRET", "00".repeat(32))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn wangge serve")
}

fn wait_ready(addr: &str) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(120) {
        if http(addr, "GET", "/readyz", None, "").is_some_and(|(s, _)| s == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("server not ready in 120 s");
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// A server on a fresh data directory holding the demo's grids only, its
/// address and an admin token (the one-time password read from its file).
fn fresh_server() -> (tempfile::TempDir, std::path::PathBuf, String, Child, String) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(demo_dir().join("grids.geojson"), data.join("grids.geojson")).unwrap();
    let addr = free_addr();
    let mut child = start(&data, &addr);
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    // The one-time password is in a file only its owner may read.
    assert!(line.contains("admin-password.txt"), "{line}");
    let file = data.join("admin-password.txt");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let password = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert!(!line.contains(&password));
    wait_ready(&addr);
    let (s, body) = http(
        &addr,
        "POST",
        "/api/v1/login",
        None,
        &format!(r#"{{"username":"admin","password":"{password}"}}"#),
    )
    .unwrap();
    assert_eq!(s, 200, "{body}");
    let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    (dir, data, addr, child, token)
}

#[test]
fn every_acknowledged_event_survives_kill_9_exactly_once() {
    let (_dir, data, addr, mut child, token) = fresh_server();

    // A writer thread sends batches of 500 until the server dies; acknowledged ids are kept.
    let (a2, t2) = (addr.clone(), token.clone());
    let writer = std::thread::spawn(move || {
        let mut acked: Vec<String> = Vec::new();
        for b in 0.. {
            let ids: Vec<String> = (0..500).map(|i| format!("K{b}-{i}")).collect();
            let evs: Vec<String> = ids
                .iter()
                .map(|id| format!(r#"{{"id":"{id}","kind":"incident","occurred_at":"2026-03-01 08:00","lon":115.0,"lat":38.5,"category":"盗窃"}}"#))
                .collect();
            match http(
                &a2,
                "POST",
                "/api/v1/events",
                Some(&t2),
                &format!("[{}]", evs.join(",")),
            ) {
                Some((200, _)) => acked.extend(ids),
                _ => return acked,
            }
        }
        acked
    });
    std::thread::sleep(Duration::from_millis(1500));
    // SIGKILL: no chance to flush or checkpoint.
    child.kill().unwrap();
    child.wait().unwrap();
    let acked = writer.join().unwrap();
    assert!(
        acked.len() >= 500,
        "no batch was acknowledged before the kill"
    );

    let mut again = start(&data, &addr);
    wait_ready(&addr);
    let conn = rusqlite::Connection::open(data.join("wangge.db")).unwrap();
    let mut st = conn
        .prepare("SELECT count(*) FROM events WHERE system = '' AND kind = 'incident' AND id = ?1")
        .unwrap();
    for id in &acked {
        let n: i64 = st.query_row([id], |r| r.get(0)).unwrap();
        assert_eq!(n, 1, "acknowledged event {id} stored {n} times");
    }
    // The session survived too (stored hashed in the database), and the frame holds the events.
    let (s, _) = http(&addr, "GET", "/api/v1/me", Some(&token), "").unwrap();
    assert_eq!(s, 200);
    // SIGTERM (systemd's and container runtimes' stop) is a clean exit.
    // SAFETY: kill(2) on the pid of a child this test owns and has not reaped.
    assert_eq!(
        unsafe { libc::kill(again.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let t = Instant::now();
    let status = loop {
        if let Some(status) = again.try_wait().unwrap() {
            break status;
        }
        if t.elapsed() > Duration::from_secs(60) {
            again.kill().unwrap();
            panic!("wangge serve did not stop on SIGTERM in 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "SIGTERM: {status}");
}

#[test]
fn every_acknowledged_update_survives_kill_9_exactly_once() {
    let (_dir, data, addr, mut child, token) = fresh_server();
    let cases: Vec<String> = (0..200)
        .map(|i| format!(r#"{{"id":"W{i}","kind":"issue","occurred_at":"2026-03-01 08:00","lon":115.0,"lat":38.5,"category":"环境卫生","status":"上报"}}"#))
        .collect();
    let (s, body) = http(
        &addr,
        "POST",
        "/api/v1/events",
        Some(&token),
        &format!("[{}]", cases.join(",")),
    )
    .unwrap();
    assert_eq!(s, 200, "{body}");

    // Batch b moves every case one step on, one minute later than batch b - 1.
    let states = ["受理", "派遣", "处置中", "已处置", "结案", "核查不通过"];
    let (a2, t2) = (addr.clone(), token.clone());
    let writer = std::thread::spawn(move || {
        let mut acked = 0usize;
        for b in 0..100_000usize {
            let steps: Vec<String> = (0..200)
                .map(|i| {
                    format!(
                        r#"{{"issue_id":"W{i}","update_id":"s{b}","at":"{}","status":"{}"}}"#,
                        (chrono::DateTime::from_timestamp(1_772_330_400 + 60 * b as i64, 0)
                            .unwrap())
                        .to_rfc3339(),
                        states[b % states.len()]
                    )
                })
                .collect();
            match http(
                &a2,
                "POST",
                "/api/v1/updates",
                Some(&t2),
                &format!("[{}]", steps.join(",")),
            ) {
                Some((200, _)) => acked = b + 1,
                _ => return acked,
            }
        }
        acked
    });
    std::thread::sleep(Duration::from_millis(2000));
    child.kill().unwrap();
    child.wait().unwrap();
    let acked = writer.join().unwrap();
    assert!(acked >= 1, "no batch was acknowledged before the kill");

    let mut again = start(&data, &addr);
    wait_ready(&addr);
    let conn = rusqlite::Connection::open(data.join("wangge.db")).unwrap();
    for b in 0..acked {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM transitions WHERE update_id = ?1",
                [format!("s{b}")],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 200, "acknowledged batch s{b} stored {n} of 200 times");
    }
    // Each case is the fold of what was stored: the last acknowledged batch
    // or the one after it, committed just before the kill.
    let last_acked = 1_772_330_400_000_000i64 + 60_000_000 * (acked as i64 - 1);
    let mut st = conn
        .prepare("SELECT updated_at FROM events WHERE system = '' AND kind = 'issue' AND id = ?1")
        .unwrap();
    for i in 0..200 {
        let at: i64 = st.query_row([format!("W{i}")], |r| r.get(0)).unwrap();
        assert!(
            at == last_acked || at == last_acked + 60_000_000,
            "case W{i} last changed at {at}, acknowledged up to {last_acked}"
        );
    }
    // The service serves the same state.
    let (s, body) = http(
        &addr,
        "GET",
        "/open311/v2/requests/W7.json",
        Some(&token),
        "",
    )
    .unwrap();
    assert_eq!(s, 200, "{body}");
    let want: i64 = st.query_row(["W7"], |r| r.get(0)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let shown =
        chrono::DateTime::parse_from_rfc3339(v[0]["updated_datetime"].as_str().unwrap()).unwrap();
    let closed = v[0]["status"] == "closed";
    if !closed {
        assert_eq!(shown.timestamp_micros(), want, "{body}");
    }
    let _ = again.kill();
    let _ = again.wait();
}

/// Sends batches until the server stops answering: 200 new issues, then a
/// step moving each issue of that batch. Returns the acknowledged issue ids
/// and (issue, update) pairs.
fn stream(addr: &str, token: &str, prefix: &str) -> (Vec<String>, Vec<(String, String)>) {
    let (mut events, mut steps) = (Vec::new(), Vec::new());
    for b in 0.. {
        let ids: Vec<String> = (0..200).map(|i| format!("{prefix}-{b}-{i}")).collect();
        let rows: Vec<String> = ids
            .iter()
            .map(|id| format!(r#"{{"id":"{id}","kind":"issue","occurred_at":"2026-03-01 08:00","lon":115.0,"lat":38.5,"category":"环境卫生","status":"上报"}}"#))
            .collect();
        match http(
            addr,
            "POST",
            "/api/v1/events",
            Some(token),
            &format!("[{}]", rows.join(",")),
        ) {
            Some((200, _)) => events.extend(ids.iter().cloned()),
            _ => break,
        }
        let rows: Vec<String> = ids
            .iter()
            .map(|id| format!(r#"{{"issue_id":"{id}","update_id":"d","at":"2026-03-01T09:00:00+08:00","status":"派遣"}}"#))
            .collect();
        match http(
            addr,
            "POST",
            "/api/v1/updates",
            Some(token),
            &format!("[{}]", rows.join(",")),
        ) {
            Some((200, _)) => steps.extend(ids.into_iter().map(|id| (id, "d".to_owned()))),
            _ => break,
        }
    }
    (events, steps)
}

/// The analytics frame's row count, from `/metrics`.
fn frame_rows(addr: &str, token: &str) -> i64 {
    let (s, body) = http(addr, "GET", "/metrics", Some(token), "").unwrap();
    assert_eq!(s, 200, "{body}");
    body.lines()
        .find_map(|l| l.strip_prefix("wangge_frame_rows "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no wangge_frame_rows in {body}"))
}

/// The server of a test, killed when the test ends, failed or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn twenty_kill_9_cycles_mid_stream_and_mid_snapshot_lose_nothing_acknowledged() {
    let (_dir, data, addr, child, token) = fresh_server();
    let mut child = Running(child);
    let (mut events, mut steps) = (Vec::new(), Vec::new());
    for cycle in 0..20u64 {
        let (a2, t2) = (addr.clone(), token.clone());
        let writer = std::thread::spawn(move || stream(&a2, &t2, &format!("K{cycle}")));
        // Even cycles die in the middle of the stream; odd ones within
        // 50 ms of readiness, while the frame snapshot of the rows stored
        // so far is being written.
        let wait = if cycle % 2 == 0 {
            300 + 60 * cycle
        } else {
            (cycle * 7) % 50
        };
        std::thread::sleep(Duration::from_millis(wait));
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        let (e, s) = writer.join().unwrap();
        events.extend(e);
        steps.extend(s);

        child = Running(start(&data, &addr));
        let mut out = child.0.stdout.take().unwrap();
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        wait_ready(&addr);
        let conn = rusqlite::Connection::open(data.join("wangge.db")).unwrap();
        let stored: i64 = conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap();
        let mut one = conn
            .prepare("SELECT count(*), max(state) FROM events WHERE system = '' AND kind = 'issue' AND id = ?1")
            .unwrap();
        for id in &events {
            let (n, _): (i64, Option<String>) =
                one.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
            assert_eq!(
                n, 1,
                "cycle {cycle}: acknowledged case {id} stored {n} times"
            );
        }
        let mut step = conn
            .prepare("SELECT count(*) FROM transitions WHERE system = '' AND issue_id = ?1 AND update_id = ?2")
            .unwrap();
        for (id, u) in &steps {
            let n: i64 = step.query_row([id, u], |r| r.get(0)).unwrap();
            assert_eq!(
                n, 1,
                "cycle {cycle}: acknowledged step {u} of {id} stored {n} times"
            );
            let (_, state): (i64, Option<String>) =
                one.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
            assert_eq!(state.as_deref(), Some("dispatched"), "cycle {cycle}: {id}");
        }
        // The frame the service answers from holds every stored row once.
        assert_eq!(frame_rows(&addr, &token), stored, "cycle {cycle}");
    }
    assert!(
        events.len() >= 2000,
        "too few batches acknowledged: {}",
        events.len()
    );
}
