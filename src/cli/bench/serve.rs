//! `wangge bench serve`: the running service measured against its peers on
//! the same data, in one run, with the ratios the service issue asks for.
//!
//! * `startup`: restart `wangge serve` on a database that already holds the
//!   events, until `/readyz` answers 200, against polars reading the same
//!   events from the joined Parquet file. Peak RSS is the server's `VmHWM`
//!   at readiness.
//! * `cached`: wrk on loopback against the cached map-values response, then
//!   against nginx serving the very same bytes as a static file.
//! * `uncached`: map values for distinct random (month, category) pairs, each
//!   a cache miss, against DuckDB's time for the same one-month, one-category,
//!   one-tier query (`benches/duckdb/stats.sql`, section `filtered`, through
//!   `benches/serve/duckdb_map.py`) on the joined Parquet.
//! * `ingest`: batches of 1,000 events POSTed by a few keep-alive clients;
//!   every batch is acknowledged only after its commit (`synchronous=FULL`).
//! * `lifecycle`: the same with every batch of new issues followed by a
//!   batch of steps moving them. `--step-times live` (the default) times
//!   each step now, as a live feed sends them; `historical` an hour after
//!   its report, a back-fill in no particular order, which costs the
//!   store's time index a page per step.
//!
//! * `moving`: `--samples` rounds of one step moving an open case (a
//!   transition now, handled and returned in turn), each followed by its
//!   grid's list of open cases, which folds the step in first (the case's
//!   report days aggregated again), then the same list once more with
//!   nothing to fold. Resident memory at the end.
//!
//! * `soak`: `--soak-secs` (ten minutes by default) of a reader (map values
//!   of every tier on windows that miss the cache, KPIs, trends, the league
//!   table, case lists), a writer (batches of new issues and of steps moving
//!   them) and a stream of failed logins, at once. Every 5xx or broken
//!   connection is an error; refused logins (401, 429) are not. Resident
//!   memory is read when the first tenth of the time has passed and at the
//!   end. Exit status 1 when there was an error.
//!
//! The server is started by the bench (the same binary, `RUST_LOG=warn`)
//! and stopped at the end; the bench adds an admin with an API token to the
//! database it measures.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use polars::prelude::*;
use serde_json::{json, Value};

use super::median;
use crate::columns as c;
use crate::store::{Role, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    Startup,
    Cached,
    Uncached,
    Ingest,
    /// Half new issues, half transition rows moving them (`/api/v1/updates`).
    Lifecycle,
    /// `--soak-secs` of mixed reads, ingest, updates and logins: errors and memory.
    Soak,
    /// `--samples` steps of one case, each followed by its grid's list of
    /// open cases: how long a moving case makes the next read wait.
    Moving,
    /// Vector tiles of tier `--level` over the county at z10, z12 and z14:
    /// the first request (the tier's arcs built), uncached and cached p50.
    Tiles,
}

/// When the lifecycle part's steps happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StepTimes {
    /// Now, as a live feed sends them.
    Live,
    /// An hour after each report: a back-fill.
    Historical,
}

#[derive(Debug, clap::Args)]
pub struct ServeBench {
    /// Data directory (`wangge demo --out`); its events are ingested into
    /// `<data>/wangge.db` on the first start.
    #[arg(long)]
    data: PathBuf,
    /// The same events joined (`wangge join ... --out joined.parquet`).
    #[arg(long)]
    joined: PathBuf,
    /// Parts to run, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "startup,cached,uncached,ingest"
    )]
    only: Vec<Part>,
    /// Address the measured server listens on.
    #[arg(long, default_value = "127.0.0.1:18080")]
    addr: String,
    /// Restarts (and polars reads) timed; medians are reported.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Cached part: the map-values query (the front end's opening view).
    #[arg(
        long,
        default_value = "level=1&metric=event_count&from=2026-03-01&to=2026-04-01"
    )]
    cached_query: String,
    /// Cached part: seconds per wrk run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Cached part: wrk connections (2 threads).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Uncached part: tier of the map.
    #[arg(long, default_value_t = 3)]
    level: u8,
    /// Uncached part: distinct (month, category) pairs timed on each side;
    /// moving part: steps.
    #[arg(long, default_value_t = 25)]
    samples: usize,
    /// Uncached part: seed of the pair shuffle.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Ingest part: events sent (in batches of `--batch`).
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Ingest part: events per request.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Soak part: how long it runs.
    #[arg(long, default_value_t = 600)]
    soak_secs: u64,
    /// Lifecycle part: when the steps happened.
    #[arg(long, value_enum, default_value = "live")]
    step_times: StepTimes,
    /// Ingest part: concurrent keep-alive clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Python with the `duckdb` package.
    #[arg(long, env = "WANGGE_BENCH_PYTHON", default_value = "python3")]
    python: PathBuf,
    /// The DuckDB side of the uncached part.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/serve/duckdb_map.py"))]
    script: PathBuf,
    #[arg(long, default_value = "wrk")]
    wrk: PathBuf,
    #[arg(long, default_value = "nginx")]
    nginx: PathBuf,
}

impl ServeBench {
    /// The config file the measured server is given: one without keys,
    /// so it runs on the defaults whatever the working directory holds.
    fn config(&self) -> anyhow::Result<PathBuf> {
        let path = self.data.join("bench-defaults.toml");
        std::fs::write(&path, "# every key at its default (wangge bench serve)\n")
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

/// A `wangge serve` child, stopped on drop.
struct Server {
    child: Child,
}

impl Server {
    fn start(b: &ServeBench) -> anyhow::Result<Server> {
        let exe = std::env::current_exe()?;
        let child = Command::new(exe)
            .arg("serve")
            .arg("--data")
            .arg(&b.data)
            .arg("--addr")
            .arg(&b.addr)
            .arg("--config")
            .arg(b.config()?)
            // The clients measure the service's capacity as one user each:
            // the per-user limit of costly requests would measure itself.
            .env("WANGGE_SERVER_COSTLY_PER_MINUTE", "0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting wangge serve")?;
        Ok(Server { child })
    }

    /// Polls `/readyz` until 200; the time since `t0`.
    fn wait_ready(&mut self, addr: &str, t0: Instant, limit: Duration) -> anyhow::Result<f64> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("wangge serve exited with {status} before it was ready");
            }
            if let Ok(r) = request(addr, "GET", "/readyz", None, None, &[]) {
                if r.0 == 200 {
                    return Ok(t0.elapsed().as_secs_f64());
                }
            }
            if t0.elapsed() > limit {
                bail!("wangge serve not ready after {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Peak resident set so far, in MiB (`VmHWM`).
    fn peak_rss_mib(&self) -> Option<f64> {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    }

    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // SIGINT: the graceful shutdown path; SIGKILL if it lingers.
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..200 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One HTTP/1.1 request on a fresh connection: (status, body).
fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    ct: Option<&str>,
    body: &[u8],
) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    send(&mut s, addr, method, path, token, ct, body)
}

/// One request on a keep-alive connection.
fn send(
    s: &mut TcpStream,
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    ct: Option<&str>,
    body: &[u8],
) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(ct) = ct {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 65536];
    let end = loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            bail!("connection closed before the response head");
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .context("no status in the response")?;
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .context("response without content-length")?;
    let mut out = buf[end..].to_vec();
    while out.len() < len {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            bail!("connection closed mid-body");
        }
        out.extend_from_slice(&chunk[..n]);
    }
    out.truncate(len);
    Ok((status, out))
}

/// An admin and an API token for the bench, straight into the database.
fn token(data: &Path) -> anyhow::Result<String> {
    let store = Store::open(&data.join("wangge.db"))?;
    let name = format!("bench-{}-{}", std::process::id(), crate::store::now_us());
    let user = store.add_user(&name, Role::Admin, &[], &crate::store::new_token()?, "")?;
    Ok(store.create_session(&user, "api", 86_400_000_000)?.0)
}

/// One polars read of `path` in this process: seconds and rows.
fn polars_read(path: &Path) -> anyhow::Result<(f64, usize)> {
    let t = Instant::now();
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let df = ParquetReader::new(f).finish()?;
    Ok((t.elapsed().as_secs_f64(), df.height()))
}

/// `wangge bench read FILE --reps N`: [`polars_read`] `reps` times in
/// this process, as JSON.
pub fn read_file(path: &Path, reps: usize) -> anyhow::Result<i32> {
    let mut secs = Vec::new();
    let mut rows = 0;
    for _ in 0..reps.max(1) {
        let (t, n) = polars_read(path)?;
        secs.push(t);
        rows = n;
    }
    println!("{}", json!({"secs": secs, "rows": rows}));
    Ok(0)
}

/// The polars reads the start-up is compared with. Each starts a fresh
/// process, as the server's start-up does: a process that has read the file
/// before reuses the pages its allocator kept, and reads it again up to
/// 1.6x faster than any fresh process can (that third read is reported as
/// `warm`, and is not the comparison).
#[derive(Default)]
struct Reads {
    /// Rust polars, the version the server uses (`wangge bench read`):
    /// the first read of a fresh process.
    rust: Vec<f64>,
    /// The third read in that process.
    warm: Vec<f64>,
    /// Python polars from `--python`, timing `pl.read_parquet` alone.
    python: Vec<f64>,
    rows: usize,
}

const PY_READ: &str = "import sys, time, json\nimport polars as pl\n\
t = time.perf_counter()\ndf = pl.read_parquet(sys.argv[1])\n\
print(json.dumps({'secs': time.perf_counter() - t, 'rows': df.height}))\n";

impl Reads {
    fn measure(&mut self, b: &ServeBench) -> anyhow::Result<()> {
        let out = Command::new(std::env::current_exe()?)
            .args(["bench", "read", "--reps", "3"])
            .arg(&b.joined)
            .stderr(Stdio::inherit())
            .output()
            .context("running wangge bench read")?;
        if !out.status.success() {
            bail!("wangge bench read exited with {}", out.status);
        }
        let v: Value = serde_json::from_slice(&out.stdout)?;
        let secs: Vec<f64> = serde_json::from_value(v["secs"].clone())?;
        let (Some(first), Some(last)) = (secs.first(), secs.last()) else {
            bail!("wangge bench read timed nothing");
        };
        self.rust.push(*first);
        self.warm.push(*last);
        self.rows = v["rows"].as_u64().unwrap_or(0) as usize;
        // Python polars is optional: a bench Python without it skips it.
        let py = Command::new(&b.python)
            .args(["-c", PY_READ])
            .arg(&b.joined)
            .stderr(Stdio::null())
            .output();
        if let Some(out) = py.ok().filter(|o| o.status.success()) {
            if let Ok(v) = serde_json::from_slice::<Value>(&out.stdout) {
                if let Some(secs) = v["secs"].as_f64() {
                    self.python.push(secs);
                }
            }
        }
        Ok(())
    }
}

/// Waits until the server has written the snapshot of what it loaded, its
/// pre-aggregates included: the writer runs right after readiness, and a
/// measurement taken meanwhile would time the writer too, or a restart
/// would rebuild what the writer had not yet stored.
fn settle(b: &ServeBench, store: &Store) -> anyhow::Result<()> {
    let zone =
        crate::api::zone_of(&crate::api::Config::load(Some(&b.config()?), std::env::vars())?.0);
    let key = crate::api::snapshot_key(zone);
    let limit = Instant::now();
    while !store.snapshot_matches(Some(&key))? {
        if limit.elapsed() > Duration::from_secs(600) {
            bail!("the server wrote no current snapshot in 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

fn startup(b: &ServeBench) -> anyhow::Result<Server> {
    let store = Store::open(&b.data.join("wangge.db"))?;
    let stored = store.event_count()?;
    // First start: ingest when the database is new, then wait for the
    // snapshot a fresh frame leaves behind, so the timed restarts are restarts.
    let t0 = Instant::now();
    let mut s = Server::start(b)?;
    let first = s.wait_ready(&b.addr, t0, Duration::from_secs(7200))?;
    println!(
        "{}",
        json!({"part": "startup", "first_start_s": first, "events_before": stored,
        "events_after": store.event_count()?})
    );
    settle(b, &store)?;
    s.stop();
    // Restarts and polars reads alternate, so both sides see the same load.
    let mut times = Vec::new();
    let mut rss = Vec::new();
    let mut reads = Reads::default();
    for _ in 0..b.reps.max(1) {
        let t0 = Instant::now();
        let mut s = Server::start(b)?;
        times.push(s.wait_ready(&b.addr, t0, Duration::from_secs(3600))?);
        rss.push(s.peak_rss_mib().unwrap_or(f64::NAN));
        s.stop();
        reads.measure(b)?;
    }
    println!(
        "{}",
        json!({"part": "startup", "events": store.event_count()?, "restart_s": times,
        "peak_rss_mib": rss, "polars_rows": reads.rows, "polars_read_s": reads.rust,
        "python_polars_read_s": reads.python, "warm_polars_read_s": reads.warm})
    );
    let ours = median(times.clone());
    let theirs = median(reads.rust.clone());
    println!("startup: restart to /readyz 200 {ours:.2} s (median of {}), polars read in a fresh process {theirs:.2} s: {:.2}x (target <= 2x); peak RSS {:.0} MiB",
        times.len(), ours / theirs, median(rss));
    if !reads.python.is_empty() {
        let py = median(reads.python.clone());
        println!(
            "startup: Python polars read in a fresh process {py:.2} s: {:.2}x",
            ours / py
        );
    }
    let warm = median(reads.warm.clone());
    println!(
        "startup: polars' third read in one process {warm:.2} s: {:.2}x",
        ours / warm
    );
    let t0 = Instant::now();
    let mut s = Server::start(b)?;
    s.wait_ready(&b.addr, t0, Duration::from_secs(3600))?;
    Ok(s)
}

/// wrk's requests/s line.
fn wrk(b: &ServeBench, url: &str, token: Option<&str>) -> anyhow::Result<f64> {
    let mut cmd = Command::new(&b.wrk);
    cmd.args([
        "-t2",
        &format!("-c{}", b.connections),
        &format!("-d{}s", b.seconds),
        "--latency",
    ]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = cmd
        .arg(url)
        .output()
        .context("running wrk (apt-get install -y wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no Requests/sec in wrk output:\n{text}"))?;
    let non2xx = text.lines().find(|l| l.contains("Non-2xx"));
    if let Some(l) = non2xx {
        bail!("wrk saw errors against {url}: {l}");
    }
    Ok(rps)
}

fn cached(b: &ServeBench, token: &str) -> anyhow::Result<()> {
    let path = format!("/api/v1/map?{}", b.cached_query);
    let (status, body) = request(&b.addr, "GET", &path, Some(token), None, &[])?;
    if status != 200 {
        bail!("{path}: {status} {}", String::from_utf8_lossy(&body));
    }
    let dir = std::env::temp_dir().join(format!("wangge-bench-nginx-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("map.json"), &body)?;
    let port = 18090;
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "worker_processes auto; pid {0}/nginx.pid; error_log {0}/error.log; daemon off;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000;\n\
             client_body_temp_path {0}; proxy_temp_path {0}; fastcgi_temp_path {0}; uwsgi_temp_path {0}; scgi_temp_path {0};\n\
             server {{ listen 127.0.0.1:{port}; root {0}; default_type application/json; }} }}\n",
            dir.display()
        ),
    )?;
    let mut nginx = Command::new(&b.nginx)
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(&dir)
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting nginx (apt-get install -y nginx)")?;
    std::thread::sleep(Duration::from_millis(300));
    let ours = wrk(b, &format!("http://{}{path}", b.addr), Some(token));
    let theirs = wrk(b, &format!("http://127.0.0.1:{port}/map.json"), None);
    let _ = Command::new("kill")
        .arg("-QUIT")
        .arg(nginx.id().to_string())
        .status();
    let _ = nginx.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let (ours, theirs) = (ours?, theirs?);
    println!(
        "{}",
        json!({"part": "cached", "query": b.cached_query, "bytes": body.len(),
        "wangge_rps": ours, "nginx_rps": theirs, "connections": b.connections, "seconds": b.seconds})
    );
    println!("cached map values ({} bytes): wangge {ours:.0} req/s, nginx {theirs:.0} req/s: {:.2} of nginx (target >= 0.5)",
        body.len(), ours / theirs);
    Ok(())
}

/// Months present in the file and its categories.
fn months_and_categories(joined: &Path) -> anyhow::Result<(Vec<chrono::NaiveDate>, Vec<String>)> {
    let p = joined.to_str().context("path is not UTF-8")?;
    let lf = LazyFrame::scan_parquet(PlRefPath::from(p), ScanArgsParquet::default())?;
    let range = lf
        .clone()
        .select([
            col(c::OCCURRED_AT).min().cast(DataType::Int64).alias("lo"),
            col(c::OCCURRED_AT).max().cast(DataType::Int64).alias("hi"),
        ])
        .collect()?;
    let get = |n: &str| -> anyhow::Result<i64> {
        range.column(n)?.i64()?.get(0).context("an empty file")
    };
    let day = |us: i64| chrono::DateTime::from_timestamp_micros(us).map(|d| d.date_naive());
    let (lo, hi) = (
        day(get("lo")?).context("time")?,
        day(get("hi")?).context("time")?,
    );
    use chrono::Datelike;
    let mut months = Vec::new();
    let mut m = chrono::NaiveDate::from_ymd_opt(lo.year(), lo.month(), 1).context("date")?;
    // Whole months only: the last one is left out when it is cut short.
    while let Some(next) = m.checked_add_months(chrono::Months::new(1)) {
        if next > hi {
            break;
        }
        if m >= lo || m.month() == lo.month() {
            months.push(m);
        }
        m = next;
    }
    let cats = lf
        .select([col(c::CATEGORY).unique().sort(SortOptions::default())])
        .collect()?;
    let cats = c::text(cats.column(c::CATEGORY)?)?
        .iter()
        .flatten()
        .map(String::from)
        .collect();
    Ok((months, cats))
}

fn uncached(b: &ServeBench, token: &str) -> anyhow::Result<()> {
    let (months, cats) = months_and_categories(&b.joined)?;
    let mut pairs: Vec<(chrono::NaiveDate, String)> = months
        .iter()
        .flat_map(|m| cats.iter().map(move |c| (*m, c.clone())))
        .collect();
    // A seeded Fisher-Yates: distinct pairs, so every request is a cache miss.
    let mut rng = crate::demo::rng::Rng::stream(b.seed, 0);
    for i in (1..pairs.len()).rev() {
        pairs.swap(i, rng.below(i + 1));
    }
    pairs.truncate(b.samples.max(1));
    let to = |m: chrono::NaiveDate| m.checked_add_months(chrono::Months::new(1)).unwrap_or(m);
    let mut s = TcpStream::connect(&b.addr)?;
    s.set_nodelay(true)?;
    let mut ours = Vec::new();
    for (m, cat) in &pairs {
        let path = format!(
            "/api/v1/map?level={}&metric=event_count&from={m}&to={}&category={}",
            b.level,
            to(*m),
            percent_encoding::utf8_percent_encode(cat, percent_encoding::NON_ALPHANUMERIC)
        );
        let t = Instant::now();
        let (status, body) = send(&mut s, &b.addr, "GET", &path, Some(token), None, &[])?;
        ours.push(t.elapsed().as_secs_f64());
        if status != 200 {
            bail!("{path}: {status} {}", String::from_utf8_lossy(&body));
        }
    }
    let spec: Vec<Value> = pairs
        .iter()
        .map(|(m, cat)| json!([m.to_string(), to(*m).to_string(), cat]))
        .collect();
    let out = Command::new(&b.python)
        .arg(&b.script)
        .arg("--joined")
        .arg(&b.joined)
        .arg("--level")
        .arg(b.level.to_string())
        .arg("--pairs")
        .arg(serde_json::to_string(&spec)?)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", b.script.display()))?;
    let line = String::from_utf8_lossy(&out.stdout);
    let duck: Value = serde_json::from_str(line.lines().last().unwrap_or(""))
        .with_context(|| format!("DuckDB runner output: {line}"))?;
    let theirs: Vec<f64> = duck["times"]
        .as_array()
        .context("no times from the DuckDB runner")?
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    let (p50, d50) = (median(ours.clone()), median(theirs.clone()));
    println!(
        "{}",
        json!({"part": "uncached", "level": b.level, "pairs": spec, "wangge_s": ours,
        "duckdb_s": theirs, "duckdb": duck["tool"], "threads": duck["threads"]})
    );
    println!("uncached map values (tier {}, {} distinct month x category): wangge p50 {:.1} ms, DuckDB p50 {:.1} ms: {:.2}x (target < 0.5)",
        b.level, pairs.len(), p50 * 1e3, d50 * 1e3, p50 / d50);
    Ok(())
}

/// Requests sent in order by one client: (path, JSON body).
type Unit = Vec<(&'static str, Vec<u8>)>;

/// Batches of JSON events built from rows of the joined file (positions,
/// times and categories of real demo events) under fresh ids.
fn ingest_bodies(b: &ServeBench, updates: bool) -> anyhow::Result<Vec<Unit>> {
    let p = b.joined.to_str().context("path is not UTF-8")?;
    let df = LazyFrame::scan_parquet(PlRefPath::from(p), ScanArgsParquet::default())?
        .filter(col(c::OUTCOME).eq(lit("matched")))
        .select([
            col(c::OCCURRED_AT).cast(DataType::Int64),
            col(c::LON),
            col(c::LAT),
            col(c::CATEGORY),
        ])
        .limit(b.events as IdxSize)
        .collect()?;
    let t = df.column(c::OCCURRED_AT)?.i64()?;
    let (lon, lat) = (df.column(c::LON)?.f64()?, df.column(c::LAT)?.f64()?);
    let cat = c::text(df.column(c::CATEGORY)?)?;
    let run = crate::store::now_us();
    let n = df.height();
    let mut bodies = Vec::new();
    // With updates: batches of `batch` rows, every other one moving the
    // issues of the batch before it (dispatched an hour after the report).
    let step = b.batch.max(1);
    for start in (0..n).step_by(step) {
        let end = (start + step).min(n);
        let rows: Vec<Value> = (start..end)
            .map(|i| {
                let at = t.get(i).and_then(chrono::DateTime::from_timestamp_micros).map(|d| d.to_rfc3339());
                json!({"id": format!("bench-{run}-{i}"), "kind": "issue", "occurred_at": at,
                    "lon": lon.get(i), "lat": lat.get(i), "category": cat.get(i), "status": "open", "source": "patrol"})
            })
            .collect();
        let mut unit = vec![("/api/v1/events", serde_json::to_vec(&rows)?)];
        if updates {
            let steps: Vec<Value> = (start..end)
                .map(|i| {
                    let at = match b.step_times {
                        StepTimes::Live => Some(crate::store::now_us() + i as i64),
                        StepTimes::Historical => t.get(i).map(|t| t + 3_600_000_000),
                    };
                    let at = at
                        .and_then(chrono::DateTime::from_timestamp_micros)
                        .map(|d| d.to_rfc3339());
                    json!({"issue_id": format!("bench-{run}-{i}"), "update_id": "dispatch",
                        "at": at, "status": "派遣", "to_unit": "街道城管办"})
                })
                .collect();
            unit.push(("/api/v1/updates", serde_json::to_vec(&steps)?));
        }
        bodies.push(unit);
    }
    Ok(bodies)
}

fn ingest(b: &ServeBench, token: &str, updates: bool) -> anyhow::Result<()> {
    let bodies = ingest_bodies(b, updates)?;
    let sent: usize = bodies.iter().map(Vec::len).sum();
    let t0 = Instant::now();
    let clients = b.clients.max(1);
    let results: Vec<anyhow::Result<(u64, Vec<f64>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|k| {
                let bodies = &bodies;
                s.spawn(move || -> anyhow::Result<(u64, Vec<f64>)> {
                    let mut conn = TcpStream::connect(&b.addr)?;
                    conn.set_nodelay(true)?;
                    let mut stored = 0;
                    let mut lat = Vec::new();
                    for unit in bodies.iter().skip(k).step_by(clients) {
                        for (path, body) in unit {
                            let t = Instant::now();
                            let (status, res) = send(
                                &mut conn,
                                &b.addr,
                                "POST",
                                path,
                                Some(token),
                                Some("application/json"),
                                body,
                            )?;
                            lat.push(t.elapsed().as_secs_f64());
                            if status != 200 {
                                bail!("ingest: {status} {}", String::from_utf8_lossy(&res));
                            }
                            let v: Value = serde_json::from_slice(&res)?;
                            stored += ["matched", "partial", "outside", "updated"]
                                .iter()
                                .map(|k| v[k].as_u64().unwrap_or(0))
                                .sum::<u64>();
                        }
                    }
                    Ok((stored, lat))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| bail!("client panicked")))
            .collect()
    });
    let secs = t0.elapsed().as_secs_f64();
    let mut stored = 0;
    let mut lat = Vec::new();
    for r in results {
        let (n, l) = r?;
        stored += n;
        lat.extend(l);
    }
    let eps = stored as f64 / secs;
    println!(
        "{}",
        json!({"part": if updates { "lifecycle" } else { "ingest" }, "step_times": format!("{:?}", b.step_times).to_lowercase(), "batches": sent, "batch": b.batch, "clients": clients,
        "stored": stored, "secs": secs, "events_per_s": eps, "batch_p50_s": median(lat.clone())})
    );
    let what = if updates {
        "rows (half new issues, half updates moving them)"
    } else {
        "events"
    };
    println!("{}: {stored} {what} acknowledged in {secs:.2} s by {clients} clients, batches of {}: {eps:.0} rows/s (target >= 100000); batch p50 {:.1} ms",
        if updates { "lifecycle" } else { "ingest" }, b.batch, median(lat) * 1e3);
    Ok(())
}

pub fn run(b: &ServeBench) -> anyhow::Result<i32> {
    let mut server = None;
    if b.only.contains(&Part::Startup) {
        server = Some(startup(b)?);
    }
    let server = match server {
        Some(s) => s,
        None => {
            let t0 = Instant::now();
            let mut s = Server::start(b)?;
            s.wait_ready(&b.addr, t0, Duration::from_secs(7200))?;
            settle(b, &Store::open(&b.data.join("wangge.db"))?)?;
            s
        }
    };
    let token = token(&b.data)?;
    if b.only.contains(&Part::Cached) {
        cached(b, &token)?;
    }
    if b.only.contains(&Part::Uncached) {
        uncached(b, &token)?;
    }
    if b.only.contains(&Part::Ingest) {
        ingest(b, &token, false)?;
    }
    if b.only.contains(&Part::Lifecycle) {
        ingest(b, &token, true)?;
    }
    if b.only.contains(&Part::Moving) {
        moving(b, &token, &server)?;
    }
    if b.only.contains(&Part::Tiles) {
        tiles(b, &token)?;
    }
    if b.only.contains(&Part::Soak) {
        return soak(b, &token, &server);
    }
    Ok(0)
}

/// See [`Part::Moving`].
fn moving(b: &ServeBench, token: &str, server: &Server) -> anyhow::Result<()> {
    let get = |path: &str| -> anyhow::Result<(f64, Value)> {
        let t = Instant::now();
        let (s, body) = request(&b.addr, "GET", path, Some(token), None, &[])?;
        let secs = t.elapsed().as_secs_f64();
        if s != 200 {
            bail!(
                "moving: {path} answered {s}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok((secs, serde_json::from_slice(&body)?))
    };
    // An open issue of the county, and its grid.
    let (_, map) = get("/api/v1/map?level=1&metric=event_count")?;
    let town = map["values"][0]["code"]
        .as_str()
        .context("moving: the map has no township")?
        .to_owned();
    let (_, open) = get(&format!(
        "/api/v1/issues?unit={town}&status=open&per_page=1"
    ))?;
    let (Some(id), Some(grid)) = (
        open["items"][0]["id"].as_str(),
        open["items"][0]["tier3"].as_str(),
    ) else {
        bail!("moving: township {town} has no open issue in a grid");
    };
    let list = format!("/api/v1/issues?unit={grid}&status=open");
    let run = crate::store::now_us();
    let (mut after, mut again) = (Vec::new(), Vec::new());
    for k in 0..b.samples.max(1) {
        let at = chrono::DateTime::from_timestamp_micros(crate::store::now_us())
            .context("moving: clock")?
            .to_rfc3339();
        let step = json!([{"issue_id": id, "update_id": format!("bench-move-{run}-{k}"), "at": at,
            "status": if k % 2 == 0 { "handled" } else { "returned" }}]);
        let (s, body) = request(
            &b.addr,
            "POST",
            "/api/v1/updates",
            Some(token),
            Some("application/json"),
            &serde_json::to_vec(&step)?,
        )?;
        let v: Value = serde_json::from_slice(&body)?;
        if s != 200 || v["updated"].as_u64() != Some(1) {
            bail!("moving: the step was not applied: {s} {v}");
        }
        after.push(get(&list)?.0);
        again.push(get(&list)?.0);
    }
    let p90 = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[(v.len() * 9 / 10).min(v.len() - 1)]
    };
    let rss = rss_mib(server);
    println!(
        "{}",
        json!({"part": "moving", "issue": id, "grid": grid, "samples": after.len(),
        "list_after_step_p50_s": median(after.clone()), "list_after_step_p90_s": p90(after.clone()),
        "list_again_p50_s": median(again.clone()), "rss_mib": rss})
    );
    println!(
        "moving: grid {grid}'s open cases listed right after a step of case {id}: p50 {:.3} s, p90 {:.3} s ({} steps); again with nothing to fold: p50 {:.3} s; resident {:.0} MiB",
        median(after.clone()),
        p90(after),
        b.samples.max(1),
        median(again),
        rss.unwrap_or(f64::NAN)
    );
    Ok(())
}

/// Every tile of tier `--level` over the county's extent at z10, z12 and
/// z14 (at most `--samples` × 16 per zoom, seeded), each asked twice on one
/// keep-alive connection: the first time it is made, the second it comes
/// from the cache.
fn tiles(b: &ServeBench, token: &str) -> anyhow::Result<()> {
    use crate::grid::tiles::tile_of;
    let (status, body) = request(
        &b.addr,
        "GET",
        "/api/v1/units?level=1&geometry=bbox",
        Some(token),
        None,
        &[],
    )?;
    if status != 200 {
        bail!("units: {status}");
    }
    let fc: Value = serde_json::from_slice(&body)?;
    let mut ext = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for f in fc["features"].as_array().context("no units")? {
        let bb: Vec<f64> = f["bbox"]
            .as_array()
            .context("no bbox")?
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        ext = [
            ext[0].min(bb[0]),
            ext[1].min(bb[1]),
            ext[2].max(bb[2]),
            ext[3].max(bb[3]),
        ];
    }
    let mut s = TcpStream::connect(&b.addr)?;
    s.set_nodelay(true)?;
    let mut first = None;
    for z in [10u8, 12, 14] {
        let (x0, y0) = tile_of(ext[0], ext[3], z);
        let (x1, y1) = tile_of(ext[2], ext[1], z);
        let mut all: Vec<(u32, u32)> = (x0..=x1)
            .flat_map(|x| (y0..=y1).map(move |y| (x, y)))
            .collect();
        let mut rng = crate::demo::rng::Rng::stream(b.seed, u64::from(z));
        for i in (1..all.len()).rev() {
            all.swap(i, rng.below(i + 1));
        }
        all.truncate(b.samples.max(1) * 16);
        let (mut cold, mut warm, mut bytes) = (Vec::new(), Vec::new(), 0usize);
        for pass in 0..2 {
            for &(x, y) in &all {
                let path = format!("/tiles/{}/{z}/{x}/{y}.mvt", b.level);
                let t = Instant::now();
                let (status, body) = send(&mut s, &b.addr, "GET", &path, Some(token), None, &[])?;
                let dt = t.elapsed().as_secs_f64();
                if status != 200 {
                    bail!("{path}: {status}");
                }
                if first.is_none() {
                    first = Some(dt);
                    continue;
                }
                if pass == 0 {
                    cold.push(dt);
                    bytes += body.len();
                } else {
                    warm.push(dt);
                }
            }
        }
        let n = cold.len().max(1);
        println!(
            "{}",
            json!({"part": "tiles", "level": b.level, "z": z, "tiles": all.len(), "uncached_s": cold, "cached_s": warm, "bytes": bytes})
        );
        println!(
            "tiles (tier {}, z{z}, {} tiles over the county): uncached p50 {:.1} ms, p90 {:.1} ms; cached p50 {:.2} ms; {:.1} KiB a tile",
            b.level,
            all.len(),
            median(cold.clone()) * 1e3,
            {
                let mut c = cold.clone();
                c.sort_by(f64::total_cmp);
                c.get(c.len() * 9 / 10).copied().unwrap_or(0.0) * 1e3
            },
            median(warm) * 1e3,
            bytes as f64 / n as f64 / 1024.0
        );
    }
    if let Some(f) = first {
        println!(
            "tiles: the first tile of tier {} (its shared arcs built) took {:.0} ms",
            b.level,
            f * 1e3
        );
    }
    Ok(())
}

/// Resident memory of the server now, in MiB (`VmRSS`).
fn rss_mib(server: &Server) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Counts of one soak client: requests answered, errors, and the first few errors.
#[derive(Default)]
struct Tally {
    requests: u64,
    errors: u64,
    examples: Vec<String>,
}

impl Tally {
    fn count(&mut self, what: &str, r: anyhow::Result<(u16, Vec<u8>)>, fine: &[u16]) {
        self.requests += 1;
        let bad = match &r {
            Ok((s, _)) if *s < 500 && (fine.is_empty() || fine.contains(s)) => None,
            Ok((s, body)) => Some(format!("{what}: {s} {}", String::from_utf8_lossy(body))),
            Err(e) => Some(format!("{what}: {e}")),
        };
        if let Some(b) = bad {
            self.errors += 1;
            if self.examples.len() < 5 {
                self.examples.push(b);
            }
        }
    }
}

fn soak(b: &ServeBench, token: &str, server: &Server) -> anyhow::Result<i32> {
    let until = Instant::now() + Duration::from_secs(b.soak_secs);
    let warm = Instant::now() + Duration::from_secs(b.soak_secs.div_ceil(10));
    let bodies = ingest_bodies(b, true)?;
    let (s, body) = request(
        &b.addr,
        "GET",
        "/api/v1/map?level=1&metric=event_count",
        Some(token),
        None,
        &[],
    )?;
    if s != 200 {
        bail!("soak: the map answered {s}");
    }
    let v: Value = serde_json::from_slice(&body)?;
    let units: Vec<String> = v["values"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let parent = units.first().cloned().unwrap_or_default();
    let rss_start = std::sync::Mutex::new(None);
    let (reads, writes, logins) = std::thread::scope(|sc| {
        let reader = sc.spawn(|| {
            let mut t = Tally::default();
            let metrics = [
                "event_count",
                "closure_rate",
                "resolution_rate",
                "overdue_open",
                "response_hours",
            ];
            let mut k = 0usize;
            while Instant::now() < until {
                if Instant::now() >= warm && rss_start.lock().is_ok_and(|r| r.is_none()) {
                    if let Ok(mut r) = rss_start.lock() {
                        *r = rss_mib(server);
                    }
                }
                // A month that moves at every request: the map misses its cache.
                let month = format!("2025-{:02}-01", 1 + k % 11);
                let next = format!("2025-{:02}-01", 2 + k % 11);
                let m = metrics[k % metrics.len()];
                let u = &units[k % units.len().max(1)];
                let paths = [
                    format!(
                        "/api/v1/map?level={}&metric={m}&from={month}&to={next}",
                        1 + k % 3
                    ),
                    format!("/api/v1/units/{u}/kpis?from={month}&to={next}"),
                    format!("/api/v1/trend?unit={u}&metric={m}"),
                    format!(
                        "/api/v1/compare?unit={parent}&metric={m}&from=2025-01-01&to=2026-01-01"
                    ),
                    format!("/api/v1/issues?unit={u}&page={}&per_page=50", 1 + k % 5),
                ];
                let p = &paths[k % paths.len()];
                t.count(
                    p,
                    request(&b.addr, "GET", p, Some(token), None, &[]),
                    &[200],
                );
                k += 1;
            }
            t
        });
        let writer = sc.spawn(|| {
            let mut t = Tally::default();
            let mut k = 0usize;
            while Instant::now() < until && !bodies.is_empty() {
                for (path, body) in &bodies[k % bodies.len()] {
                    let r = request(
                        &b.addr,
                        "POST",
                        path,
                        Some(token),
                        Some("application/json"),
                        body,
                    );
                    t.count(path, r, &[200]);
                }
                k += 1;
            }
            t
        });
        let login = sc.spawn(|| {
            let mut t = Tally::default();
            let body = br#"{"username":"soak-nobody","password":"not the password"}"#;
            while Instant::now() < until {
                let r = request(
                    &b.addr,
                    "POST",
                    "/api/v1/login",
                    None,
                    Some("application/json"),
                    body,
                );
                t.count("/api/v1/login", r, &[401, 429]);
                std::thread::sleep(Duration::from_millis(100));
            }
            t
        });
        (reader.join(), writer.join(), login.join())
    });
    let (reads, writes, logins) = match (reads, writes, logins) {
        (Ok(r), Ok(w), Ok(l)) => (r, w, l),
        _ => bail!("a soak client panicked"),
    };
    let start = rss_start.into_inner().ok().flatten();
    let end = rss_mib(server);
    let errors = reads.errors + writes.errors + logins.errors;
    let growth = start.zip(end).map(|(s, e)| 100.0 * (e - s) / s);
    println!(
        "{}",
        json!({"part": "soak", "secs": b.soak_secs, "reads": reads.requests, "writes": writes.requests,
        "logins": logins.requests, "errors": errors, "rss_start_mib": start, "rss_end_mib": end,
        "rss_growth_pct": growth})
    );
    for e in reads
        .examples
        .iter()
        .chain(&writes.examples)
        .chain(&logins.examples)
    {
        println!("soak: error: {e}");
    }
    println!(
        "soak: {} s, {} reads, {} write batches, {} refused logins: {errors} errors; resident memory {:.0} MiB after the first tenth, {:.0} MiB at the end ({:+.1}%)",
        b.soak_secs, reads.requests, writes.requests, logins.requests,
        start.unwrap_or(f64::NAN), end.unwrap_or(f64::NAN), growth.unwrap_or(f64::NAN)
    );
    Ok(i32::from(errors > 0))
}
