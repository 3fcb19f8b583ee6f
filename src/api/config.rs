//! `wangge.toml`: the service's settings, with documented defaults,
//! environment overrides and unknown keys reported.
//!
//! Every key has a default (below, and in [`Config::default`]), so the file
//! is optional. `WANGGE_<SECTION>_<KEY>` overrides a key, e.g.
//! `WANGGE_SERVER_ADDR=0.0.0.0:8080`; the value is read as TOML when it parses
//! (numbers, booleans) and as a string otherwise. Nothing falls back
//! silently: [`Config::load`] refuses a `WANGGE_*` variable that is neither
//! a setting nor one of [`OTHER_VARS`], and a value an enumerated setting
//! does not take (`ingest.crs`, `ingest.tz`, `server.log_format`); keys of
//! the file it does not know are returned, and `serve` stops on them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Default listen address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
/// Default data directory (demo data, database, hashing secret).
pub const DEFAULT_DATA: &str = "data/demo";
/// Default largest accepted request body: 64 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 64 << 20;
/// Default query timeout.
pub const DEFAULT_QUERY_TIMEOUT_SECS: u64 = 30;
/// Default session lifetime.
pub const DEFAULT_SESSION_HOURS: u64 = 12;

/// `[server]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Server {
    /// Listen address (`127.0.0.1:8080`).
    pub addr: String,
    /// A directory to serve the front end at `/` from instead of the copy
    /// embedded in the binary (empty: the embedded one). For front-end
    /// work: `web` from the repository root.
    pub web: PathBuf,
    /// Largest request body in bytes (64 MiB); larger ones get 413.
    pub body_limit_bytes: usize,
    /// A query running longer gets 504 `timeout` (30 s).
    pub query_timeout_secs: u64,
    /// `text` or `json` request logs (`text`).
    pub log_format: String,
    /// Open connections served at once (512); more wait to be accepted.
    pub max_connections: usize,
    /// Bearer token a Prometheus scraper sends for `/metrics`, at least 16
    /// characters (empty: only admins' sessions and tokens may read it).
    pub metrics_token: String,
    /// A client must send a request's headers within this many seconds,
    /// and pause no longer while sending its body; an idle kept-alive
    /// connection is closed after it (10).
    pub header_timeout_secs: u64,
    /// Costly requests (map values, trends, compare, hot spots, exports)
    /// each user may start a minute (240); 0: no limit. Past it: 429.
    pub costly_per_minute: u32,
    /// Costly requests a user may send at once before the rate applies (60).
    pub costly_burst: u32,
    /// Static paths served from disk: URL prefix → directory, e.g.
    /// `/vendor/maplibre-gl` → `node_modules/maplibre-gl/dist` to try
    /// another MapLibre (web/VENDOR.md). Default: none, the embedded
    /// MapLibre and uPlot.
    pub vendor: BTreeMap<String, PathBuf>,
}

/// `[storage]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Storage {
    /// Data directory with `grids.geojson` and `events.csv` (`data/demo`).
    pub data: PathBuf,
    /// SQLite database; empty = `<data>/wangge.db`.
    pub database: PathBuf,
    /// Hashing secret for personal data; empty = `<data>/secret.key`
    /// (`WANGGE_SECRET` wins over the file).
    pub secret: PathBuf,
    /// Keep a Parquet copy of the event frame next to the database
    /// (`<database>.frame.parquet`) for fast restarts (true). It is checked
    /// against the database before use; the database stays the truth.
    pub frame_snapshot: bool,
}

/// `[auth]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Auth {
    /// Session lifetime after login (12 h).
    pub session_hours: u64,
    /// API token lifetime (365 days).
    pub token_days: u64,
    /// Whether grid chiefs may send events and case updates, inside their
    /// own grids only (true). Leaders and admins always may, inside their
    /// units; analysts never do.
    pub chief_writes: bool,
}

/// `[ingest]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Ingest {
    /// Rows per transaction when loading files (50,000: a file load
    /// rewrites fewer index pages per row in larger transactions; 10,000
    /// took 11% longer over the demo's 1.3M case updates).
    pub batch_rows: usize,
    /// Zone of timestamps without an offset (`Asia/Shanghai`).
    pub tz: String,
    /// Coordinates of ingested events: `wgs84`, `gcj02` or `bd09` (`wgs84`).
    pub crs: String,
    /// Earliest date (UTC midnight) an event or a step may carry
    /// (`1990-01-01`); earlier ones are rejected.
    pub earliest: String,
    /// How many days past now an event or a step may lie (366).
    pub ahead_days: u32,
}

/// `[analytics]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Analytics {
    /// Seconds between folding ingested events into the in-memory frame (2).
    pub refresh_secs: u64,
    /// Cached map responses kept (512).
    pub map_cache_entries: usize,
    /// Permutations for hot-spot pseudo p-values (99; at least 19, the
    /// fewest that can give p ≤ 0.05).
    pub permutations: usize,
}

/// `[demo]`: made when `<data>/grids.geojson` or `events.csv` is missing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Demo {
    /// Tier-3 grids (5000).
    pub grids: usize,
    /// Event rows (1,000,000).
    pub events: usize,
    /// Seed (42).
    pub seed: u64,
}

/// `[map]`: what the map draws besides the units.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct MapSettings {
    /// URL template (`{z}`, `{x}`, `{y}`) of a raster tile server inside
    /// the network (a 天地图 or GeoServer mirror), drawn under the units.
    /// Empty (the default): no basemap, and the map asks nothing of any
    /// server but this one.
    pub basemap: String,
    /// The basemap's attribution, shown under the map.
    pub basemap_attribution: String,
}

impl MapSettings {
    /// The basemap server's origin (`scheme://host[:port]`), for the
    /// Content-Security-Policy; `Err` names what is wrong with the URL.
    pub fn basemap_origin(&self) -> Result<Option<String>, String> {
        let url = self.basemap.trim();
        if url.is_empty() {
            return Ok(None);
        }
        let rest = url
            .strip_prefix("http://")
            .map(|r| ("http", r))
            .or_else(|| url.strip_prefix("https://").map(|r| ("https", r)));
        let Some((scheme, rest)) = rest else {
            return Err(format!("{url:?}: use an http:// or https:// URL template"));
        };
        for k in ["{z}", "{x}", "{y}"] {
            if !url.contains(k) {
                return Err(format!("{url:?}: the template lacks {k}"));
            }
        }
        let host = rest.split('/').next().unwrap_or("");
        if host.is_empty()
            || !host.bytes().all(|b| b.is_ascii_graphic())
            || host.contains(['{', '}', '\'', '"', ';', ','])
        {
            return Err(format!("{url:?}: no server name before the path"));
        }
        Ok(Some(format!("{scheme}://{host}")))
    }
}

/// `[open311]`: what the GeoReport v2 interface tells its clients.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Open311 {
    /// The jurisdiction this deployment answers for (e.g. `xian.gov.cn`).
    /// Set: a request naming another `jurisdiction_id` gets 404, as the
    /// spec says of an unknown one. Empty (the default): one jurisdiction,
    /// so `jurisdiction_id` is accepted and ignored, as the spec allows.
    pub jurisdiction_id: String,
    /// The endpoint's public URL in the discovery document, e.g.
    /// `https://wangge.xian.gov.cn/open311/v2`. Empty: `http://` + the
    /// request's Host + `/open311/v2`.
    pub url: String,
    /// Discovery `contact`: how to reach the people who run the service.
    pub contact: String,
    /// Discovery `key_service`: how a client gets an API key.
    pub key_service: String,
}

impl Default for Open311 {
    fn default() -> Self {
        Open311 {
            jurisdiction_id: String::new(),
            url: String::new(),
            contact: "请联系县网格化服务管理中心。Contact the county grid management centre.".into(),
            key_service: "API 令牌由管理员签发（wangge user add --token）。An administrator issues API tokens (wangge user add --token).".into(),
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Config {
    pub server: Server,
    pub storage: Storage,
    pub auth: Auth,
    pub ingest: Ingest,
    pub analytics: Analytics,
    pub demo: Demo,
    pub map: MapSettings,
    pub open311: Open311,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            addr: DEFAULT_ADDR.into(),
            web: PathBuf::new(),
            body_limit_bytes: DEFAULT_BODY_LIMIT,
            query_timeout_secs: DEFAULT_QUERY_TIMEOUT_SECS,
            log_format: "text".into(),
            max_connections: 512,
            metrics_token: String::new(),
            header_timeout_secs: 10,
            costly_per_minute: 240,
            costly_burst: 60,
            vendor: BTreeMap::new(),
        }
    }
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            data: DEFAULT_DATA.into(),
            database: PathBuf::new(),
            secret: PathBuf::new(),
            frame_snapshot: true,
        }
    }
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            session_hours: DEFAULT_SESSION_HOURS,
            token_days: 365,
            chief_writes: true,
        }
    }
}

impl Default for Ingest {
    fn default() -> Self {
        Ingest {
            batch_rows: 50_000,
            tz: "Asia/Shanghai".into(),
            crs: "wgs84".into(),
            earliest: "1990-01-01".into(),
            ahead_days: 366,
        }
    }
}

impl Default for Analytics {
    fn default() -> Self {
        Analytics {
            refresh_secs: 2,
            map_cache_entries: 512,
            permutations: 99,
        }
    }
}

impl Default for Demo {
    fn default() -> Self {
        Demo {
            grids: crate::demo::DEFAULT_GRIDS,
            events: crate::demo::DEFAULT_EVENTS,
            seed: crate::demo::DEFAULT_SEED,
        }
    }
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("environment variable {var}: {reason}")]
    Env { var: String, reason: String },
    #[error("setting {key}: {reason}")]
    Value { key: String, reason: String },
}

/// `WANGGE_*` variables that are not settings: the hashing secret, the
/// first admin's password, and the variables of the project's own build,
/// test and benchmark scripts (which start the service with them set).
pub const OTHER_VARS: &[&str] = &[
    "WANGGE_SECRET",
    "WANGGE_NEW_PASSWORD",
    "WANGGE_BIN",
    "WANGGE_VENV",
    "WANGGE_EXPORT",
    "WANGGE_SKIP_BENCH",
    "WANGGE_BENCH_PYTHON",
    "WANGGE_BENCH_FULL",
    "WANGGE_BENCH_VERBOSE",
    "WANGGE_CJK_FONT",
];

/// Keys present in `file` but not in `known`, as dotted paths.
fn unknown_keys(known: &toml::Table, file: &toml::Table, prefix: &str, out: &mut Vec<String>) {
    for (k, v) in file {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match (known.get(k), v) {
            (None, _) if prefix == "server.vendor" => {}
            (None, _) => out.push(path),
            (Some(toml::Value::Table(kt)), toml::Value::Table(ft)) => {
                unknown_keys(kt, ft, &path, out)
            }
            _ => {}
        }
    }
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) if k != "vendor" => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

impl Config {
    /// Reads `path` (when given and present), applies `WANGGE_*` overrides
    /// from `env`, and returns the config with the unknown keys found.
    pub fn load(
        path: Option<&Path>,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let known = match toml::Value::try_from(Config::default()) {
            Ok(toml::Value::Table(t)) => t,
            _ => toml::Table::new(),
        };
        let mut merged = known.clone();
        let mut unknown = Vec::new();
        if let Some(p) = path.filter(|p| p.exists()) {
            let err = |reason: String| ConfigError::File {
                path: p.to_owned(),
                reason,
            };
            let text = std::fs::read_to_string(p).map_err(|e| err(e.to_string()))?;
            let file: toml::Table = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
            unknown_keys(&known, &file, "", &mut unknown);
            merge(&mut merged, file);
            // A value of the wrong type is the file's, named as such.
            toml::Value::Table(merged.clone())
                .try_into::<Config>()
                .map_err(|e| err(e.to_string()))?;
        }
        let mut applied = Vec::new();
        for (var, value) in env {
            let Some(rest) = var.strip_prefix("WANGGE_") else {
                continue;
            };
            if OTHER_VARS.contains(&var.as_str()) {
                continue;
            }
            let unknown = || ConfigError::Env {
                var: var.clone(),
                reason: "not a setting of wangge (settings are WANGGE_<SECTION>_<KEY>, e.g. \
                         WANGGE_SERVER_ADDR; see wangge.example.toml)"
                    .into(),
            };
            let rest = rest.to_ascii_lowercase();
            let (section, key) = rest.split_once('_').ok_or_else(unknown)?;
            let Some(toml::Value::Table(sec)) = merged.get_mut(section) else {
                return Err(unknown());
            };
            if !sec.contains_key(key) {
                return Err(unknown());
            }
            // A text setting takes the value as it is (a jurisdiction id
            // of digits stays text); any other is read as TOML.
            let v = match sec.get(key) {
                Some(toml::Value::String(_)) => toml::Value::String(value.clone()),
                _ => toml::from_str::<toml::Table>(&format!("v = {value}"))
                    .ok()
                    .and_then(|mut t| t.remove("v"))
                    .unwrap_or(toml::Value::String(value.clone())),
            };
            sec.insert(key.to_owned(), v);
            applied.push(var.clone());
        }
        let cfg: Config = toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Env {
                var: applied.join(", "),
                reason: e.to_string(),
            })?;
        cfg.check().map_err(|(key, reason)| ConfigError::Value {
            key: key.into(),
            reason,
        })?;
        Ok((cfg, unknown))
    }

    /// Every enumerated setting parsed into its type: the key and the reason
    /// for the first that is not one of its values.
    fn check(&self) -> Result<(), (&'static str, String)> {
        self.ingest
            .crs
            .parse::<crate::ingest::crs::Crs>()
            .map_err(|e| ("ingest.crs", e.to_string()))?;
        self.ingest.tz.parse::<chrono_tz::Tz>().map_err(|_| {
            (
                "ingest.tz",
                format!(
                    "unknown time zone {:?}; use an IANA name such as Asia/Shanghai",
                    self.ingest.tz
                ),
            )
        })?;
        self.dates().map_err(|reason| ("ingest.earliest", reason))?;
        self.map.basemap_origin().map_err(|e| ("map.basemap", e))?;
        if !matches!(self.server.log_format.as_str(), "text" | "json") {
            return Err((
                "server.log_format",
                format!("{:?}: use text or json", self.server.log_format),
            ));
        }
        // Counts and durations that mean nothing at 0 (no body, no
        // connection, no time): refused rather than read as 1.
        let server = &self.server;
        for (key, value) in [
            ("server.body_limit_bytes", server.body_limit_bytes as u64),
            ("server.query_timeout_secs", server.query_timeout_secs),
            ("server.max_connections", server.max_connections as u64),
            ("server.header_timeout_secs", server.header_timeout_secs),
            ("auth.session_hours", self.auth.session_hours),
            ("auth.token_days", self.auth.token_days),
            ("ingest.batch_rows", self.ingest.batch_rows as u64),
            ("analytics.refresh_secs", self.analytics.refresh_secs),
        ] {
            if value == 0 {
                return Err((key, "0: at least 1".into()));
            }
        }
        // A pseudo p-value of R permutations is at least 1/(R + 1): with
        // fewer than 19 no unit could ever reach 0.05, and every cluster
        // would read "not significant".
        if self.analytics.permutations < 19 {
            return Err((
                "analytics.permutations",
                format!(
                    "{}: at least 19 (with fewer, no pseudo p-value reaches 0.05; 99 or 999 as usual)",
                    self.analytics.permutations
                ),
            ));
        }
        // A shared secret a scraper sends: short enough to guess, blank,
        // or one character repeated is none.
        let token = &server.metrics_token;
        let mut chars = token.chars();
        let first = chars.next();
        if !token.is_empty()
            && (token.chars().count() < 16
                || token.trim().is_empty()
                || chars.all(|c| Some(c) == first))
        {
            return Err((
                "server.metrics_token",
                "not a secret: at least 16 characters, not blank, not one character repeated (or empty: admins only)"
                    .into(),
            ));
        }
        let url = self.open311.url.trim();
        if !url.is_empty() {
            let host = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"))
                .map(|rest| rest.split('/').next().unwrap_or(""));
            if host.is_none_or(str::is_empty) || url.contains(char::is_whitespace) {
                return Err((
                    "open311.url",
                    format!("{url:?}: an http:// or https:// URL, such as https://wangge.xian.gov.cn/open311/v2"),
                ));
            }
        }
        if server.costly_per_minute > 0 && server.costly_burst == 0 {
            return Err((
                "server.costly_burst",
                "0: at least 1 while costly_per_minute limits (costly_per_minute = 0 is no limit)"
                    .into(),
            ));
        }
        if !server.web.as_os_str().is_empty() && !server.web.is_dir() {
            return Err((
                "server.web",
                format!("{}: not a directory", server.web.display()),
            ));
        }
        for (prefix, dir) in &server.vendor {
            let name = prefix.strip_prefix("/vendor/").unwrap_or("");
            if name.is_empty() || name.ends_with('/') || name.contains("//") {
                return Err((
                    "server.vendor",
                    format!("{prefix:?}: a prefix under /vendor/, such as /vendor/maplibre-gl"),
                ));
            }
            if !dir.is_dir() {
                return Err((
                    "server.vendor",
                    format!("{prefix:?} = {}: not a directory", dir.display()),
                ));
            }
        }
        Ok(())
    }

    /// The instants events and steps may carry (`[ingest] earliest`, `ahead_days`).
    pub fn dates(&self) -> Result<crate::ingest::Dates, String> {
        let day = chrono::NaiveDate::parse_from_str(&self.ingest.earliest, "%Y-%m-%d")
            .map_err(|_| format!("{:?}: use a date YYYY-MM-DD", self.ingest.earliest))?;
        if day > chrono::Utc::now().date_naive() {
            return Err(format!(
                "{:?}: later than today, so every event would be refused; the first day events may carry",
                self.ingest.earliest
            ));
        }
        let earliest_us = day
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_micros())
            .ok_or_else(|| format!("{:?}: not a date", self.ingest.earliest))?;
        Ok(crate::ingest::Dates {
            earliest_us,
            ahead_us: i64::from(self.ingest.ahead_days) * 86_400_000_000,
        })
    }

    /// The database file.
    pub fn database(&self) -> PathBuf {
        if self.storage.database.as_os_str().is_empty() {
            self.storage.data.join("wangge.db")
        } else {
            self.storage.database.clone()
        }
    }

    /// The hashing-secret file.
    pub fn secret(&self) -> PathBuf {
        if self.storage.secret.as_os_str().is_empty() {
            self.storage.data.join("secret.key")
        } else {
            self.storage.secret.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_reported_and_env_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.toml");
        std::fs::write(
            &p,
            "[server]\naddr = \"0.0.0.0:1\"\nadr = 1\n[nope]\nx = 1\n",
        )
        .unwrap();
        let env = vec![("WANGGE_AUTH_SESSION_HOURS".to_owned(), "3".to_owned())];
        let (c, unknown) = Config::load(Some(&p), env.into_iter()).unwrap();
        assert_eq!(c.server.addr, "0.0.0.0:1");
        assert_eq!(c.auth.session_hours, 3);
        assert_eq!(unknown, vec!["nope".to_owned(), "server.adr".to_owned()]);
        assert_eq!(c.database(), PathBuf::from("data/demo/wangge.db"));
    }

    #[test]
    fn a_value_or_variable_the_service_does_not_understand_stops_it() {
        let load = |var: &str, value: &str| {
            Config::load(None, std::iter::once((var.to_owned(), value.to_owned())))
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let e = load("WANGGE_INGEST_CRS", "wgs48").unwrap_err();
        assert!(e.contains("ingest.crs") && e.contains("wgs48"), "{e}");
        let e = load("WANGGE_INGEST_TZ", "Asia/Shangai").unwrap_err();
        assert!(e.contains("ingest.tz") && e.contains("Asia/Shangai"), "{e}");
        let e = load("WANGGE_INGEST_EARLIEST", "1990-13-01").unwrap_err();
        assert!(
            e.contains("ingest.earliest") && e.contains("1990-13-01"),
            "{e}"
        );
        let e = load("WANGGE_SERVER_LOG_FORMAT", "yaml").unwrap_err();
        assert!(e.contains("server.log_format"), "{e}");
        let e = load("WANGGE_SERVER_ADRR", "0.0.0.0:1").unwrap_err();
        assert!(e.contains("WANGGE_SERVER_ADRR"), "{e}");
        let e = load("WANGGE_DEBUG", "1").unwrap_err();
        assert!(e.contains("WANGGE_DEBUG"), "{e}");
        for bad in [
            "ftp://tiles/{z}/{x}/{y}.png",
            "http://tiles/{z}/{x}.png",
            "http:///{z}/{x}/{y}",
        ] {
            let e = load("WANGGE_MAP_BASEMAP", bad).unwrap_err();
            assert!(e.contains("map.basemap") && e.contains(bad), "{e}");
        }
        assert_eq!(
            load(
                "WANGGE_MAP_BASEMAP",
                "http://10.1.2.3:8080/t/{z}/{x}/{y}.png"
            ),
            Ok(())
        );
        assert_eq!(load("WANGGE_INGEST_CRS", "GCJ02"), Ok(()));
        assert_eq!(load("WANGGE_SECRET", "00"), Ok(()));
        assert_eq!(load("PATH", "/bin"), Ok(()));
        // A count or a duration of 0 is refused, not read as 1.
        for var in [
            "WANGGE_SERVER_MAX_CONNECTIONS",
            "WANGGE_SERVER_HEADER_TIMEOUT_SECS",
            "WANGGE_SERVER_COSTLY_BURST",
            "WANGGE_INGEST_BATCH_ROWS",
            "WANGGE_ANALYTICS_REFRESH_SECS",
        ] {
            let e = load(var, "0").unwrap_err();
            assert!(e.contains("at least 1"), "{var}: {e}");
        }
        // Static mounts only under /vendor/, onto a directory that exists.
        for bad in [
            r#"{ "foo" = "." }"#,
            r#"{ "/" = "." }"#,
            r#"{ "/api/v1" = "." }"#,
            r#"{ "/vendor/" = "." }"#,
            r#"{ "/vendor/x" = "/no/such/dir" }"#,
        ] {
            let e = load("WANGGE_SERVER_VENDOR", bad).unwrap_err();
            assert!(e.contains("server.vendor"), "{bad}: {e}");
        }
        assert_eq!(
            load("WANGGE_SERVER_VENDOR", r#"{ "/vendor/x" = "." }"#),
            Ok(())
        );
        let e = load("WANGGE_SERVER_WEB", "/no/such/dir").unwrap_err();
        assert!(e.contains("server.web"), "{e}");
        // Values that would make the service useless are refused: no
        // hot spot could be significant, no event in the window, a
        // guessable scraper token, a discovery URL no client can follow.
        for (var, bad, key) in [
            (
                "WANGGE_ANALYTICS_PERMUTATIONS",
                "0",
                "analytics.permutations",
            ),
            (
                "WANGGE_ANALYTICS_PERMUTATIONS",
                "18",
                "analytics.permutations",
            ),
            ("WANGGE_INGEST_EARLIEST", "2999-01-01", "ingest.earliest"),
            ("WANGGE_SERVER_METRICS_TOKEN", "a", "server.metrics_token"),
            (
                "WANGGE_SERVER_METRICS_TOKEN",
                "                ",
                "server.metrics_token",
            ),
            (
                "WANGGE_SERVER_METRICS_TOKEN",
                "aaaaaaaaaaaaaaaa",
                "server.metrics_token",
            ),
            ("WANGGE_OPEN311_URL", "ftp://x y", "open311.url"),
            ("WANGGE_OPEN311_URL", "https:///open311/v2", "open311.url"),
        ] {
            let e = load(var, bad).unwrap_err();
            assert!(e.contains(key), "{var}={bad}: {e}");
        }
        for (var, good) in [
            ("WANGGE_ANALYTICS_PERMUTATIONS", "19"),
            ("WANGGE_SERVER_METRICS_TOKEN", "0123456789abcdef"),
            (
                "WANGGE_OPEN311_URL",
                "https://wangge.xian.gov.cn/open311/v2",
            ),
        ] {
            assert_eq!(load(var, good), Ok(()), "{var}={good}");
        }
        // A text setting keeps digits as text.
        let (c, _) = Config::load(
            None,
            std::iter::once(("WANGGE_OPEN311_JURISDICTION_ID".into(), "130682".into())),
        )
        .unwrap();
        assert_eq!(c.open311.jurisdiction_id, "130682");
        // A value of the wrong type in the file is the file's.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.toml");
        std::fs::write(&p, "[server]\nmax_connections = \"many\"\n").unwrap();
        let e = Config::load(Some(&p), std::iter::empty())
            .unwrap_err()
            .to_string();
        assert!(e.contains("b.toml") && !e.contains("environment"), "{e}");
    }

    /// Every key of [`Config::default`], as dotted paths.
    fn keys(t: &toml::Table, prefix: &str, out: &mut Vec<String>) {
        for (k, v) in t {
            let path = format!("{prefix}{k}");
            match v {
                toml::Value::Table(sub) if k != "vendor" => keys(sub, &format!("{path}."), out),
                _ => out.push(path),
            }
        }
    }

    #[test]
    fn the_example_file_lists_every_key_with_its_default() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("wangge.example.toml");
        let (c, unknown) = Config::load(Some(&p), std::iter::empty()).unwrap();
        assert!(
            unknown.is_empty(),
            "unknown keys in the example: {unknown:?}"
        );
        assert_eq!(
            c,
            Config::default(),
            "the example's values are the defaults"
        );
        let file: toml::Table = toml::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let toml::Value::Table(defaults) = toml::Value::try_from(Config::default()).unwrap() else {
            panic!("config is not a table");
        };
        let (mut want, mut have) = (Vec::new(), Vec::new());
        keys(&defaults, "", &mut want);
        keys(&file, "", &mut have);
        assert_eq!(have, want, "the example lists every key");
    }
}
