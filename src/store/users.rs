//! Users, sessions, API tokens and the audit log.
//!
//! Passwords are stored as argon2id PHC strings; tokens are 256 random bits
//! shown once and stored as their SHA-256, so a copy of the database lets
//! nobody log in. Sessions (from a login) and API tokens (for machine
//! ingest) share one table and differ only in kind and lifetime.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{now_us, Result, Store, StoreError};

/// What a user may see (CONTRACT of issue 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, and user management.
    Admin,
    /// One or more units and everything under them.
    Leader,
    /// One or more tier-3 grids; their ancestors only as totals.
    Chief,
    /// Like a leader, and may export.
    Analyst,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Leader => "leader",
            Role::Chief => "chief",
            Role::Analyst => "analyst",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "leader" => Some(Role::Leader),
            "chief" => Some(Role::Chief),
            "analyst" => Some(Role::Analyst),
            _ => None,
        }
    }
}

/// A user as the API sees it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    #[serde(skip)]
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// Unit codes the role applies to (empty for admins).
    pub scopes: Vec<String>,
    /// The source system this account writes for (see [`system_problem`]):
    /// the id space of the cases it sends. Empty: the county's own.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub system: String,
}

/// A live session or API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    /// µs UTC.
    pub expires_at: i64,
    /// `session` or `api`.
    pub kind: String,
}

/// One audit record: who did what to which resource, and the answer's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// µs UTC.
    pub at: i64,
    pub user: Option<String>,
    /// `read`, `export`, `ingest`, `login`, `login_failed`, `logout`.
    pub action: String,
    /// Method and path with query, e.g. `GET /api/v1/map?level=1`.
    pub target: String,
    pub status: u16,
    /// Identical requests this record stands for: the same user, action,
    /// target and status within one second are written once, counted.
    pub n: u32,
}

/// 256 random bits, hex.
pub fn new_token() -> Result<String> {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b)
        .map_err(|e| StoreError::Password(format!("no randomness: {e}")))?;
    Ok(hex::encode(b))
}

/// What is stored for a token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt)
        .map_err(|e| StoreError::Password(format!("no randomness: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| StoreError::Password(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Password(e.to_string()))
}

/// A valid Argon2 hash of a random password, verified against when a name
/// is unknown (made once per process).
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let pw = new_token().unwrap_or_else(|_| "x".repeat(64));
        hash_password(&pw).unwrap_or_default()
    })
}

/// Why a password may not be used: at least 10 characters, not containing
/// the user name, not one character repeated.
pub fn password_problem(name: &str, password: &str) -> Option<String> {
    let n = password.chars().count();
    if n < 10 {
        return Some(format!("the password has {n} characters; use at least 10"));
    }
    if !name.is_empty() && password.to_lowercase().contains(&name.to_lowercase()) {
        return Some("the password contains the user name".into());
    }
    let mut chars = password.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return Some("the password is one character repeated".into());
    }
    None
}

/// Why a user name may not be used: 1-64 characters, no blanks at either
/// end, no control characters (new lines would forge log and audit lines).
pub fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.chars().count() > 64 {
        return Some("a user name has 1-64 characters".into());
    }
    if name.trim() != name {
        return Some("a user name does not begin or end with a blank".into());
    }
    if name.chars().any(char::is_control) {
        return Some("a user name has no control characters (new lines, tabs)".into());
    }
    None
}

/// Why a source system name may not be used: 1-32 ASCII letters, digits,
/// `-`, `_` or `.` (it names an id space in URLs and exports: `12345`,
/// `szcg`, `grid-app`).
pub fn system_problem(system: &str) -> Option<String> {
    let ok = (1..=32).contains(&system.len())
        && system
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    (!ok).then(|| {
        format!("a source system is 1-32 ASCII letters, digits, '-', '_' or '.', not {system:?}")
    })
}

/// The user columns every user query reads first, in [`user_row`]'s order.
const USER_COLS: &str = "u.id, u.name, u.role, u.scopes, COALESCE(u.system, '')";
/// Index of the first column after [`USER_COLS`].
const AFTER_USER: usize = 5;

type UserRow = (i64, String, String, String, String);

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn to_user((id, name, role, scopes, system): UserRow) -> Result<User> {
    let role = Role::parse(&role).ok_or_else(|| StoreError::Corrupt {
        what: "role",
        reason: role.clone(),
    })?;
    let scopes: Vec<String> = serde_json::from_str(&scopes).map_err(|e| StoreError::Corrupt {
        what: "scopes",
        reason: e.to_string(),
    })?;
    Ok(User {
        id,
        name,
        role,
        scopes,
        system,
    })
}

impl Store {
    /// Adds a user writing for `system` (empty: the county's own id
    /// space); fails when the name is taken.
    pub fn add_user(
        &self,
        name: &str,
        role: Role,
        scopes: &[String],
        password: &str,
        system: &str,
    ) -> Result<User> {
        if let Some(p) = name_problem(name)
            .or_else(|| password_problem(name, password))
            .or_else(|| {
                (!system.is_empty())
                    .then(|| system_problem(system))
                    .flatten()
            })
        {
            return Err(StoreError::User(p));
        }
        let hash = hash_password(password)?;
        let scopes_json = serde_json::Value::from(scopes.to_vec()).to_string();
        let exists = self.read(|c| {
            c.query_row("SELECT 1 FROM users WHERE name = ?1", [name], |_| Ok(()))
                .optional()
        })?;
        if exists.is_some() {
            return Err(StoreError::User(format!("user {name:?} already exists")));
        }
        let id = self.write(|c| {
            c.execute(
                "INSERT INTO users(name, role, scopes, password_hash, created_at, system) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![name, role.as_str(), scopes_json, hash, now_us(), (!system.is_empty()).then_some(system)],
            )?;
            Ok(c.last_insert_rowid())
        })?;
        Ok(User {
            id,
            name: name.to_owned(),
            role,
            scopes: scopes.to_vec(),
            system: system.to_owned(),
        })
    }

    /// Number of users.
    pub fn user_count(&self) -> Result<u64> {
        self.read(|c| c.query_row("SELECT count(*) FROM users", [], |r| r.get::<_, i64>(0)))
            .map(|n| u64::try_from(n).unwrap_or(0))
    }

    /// The user when the password matches and the account is enabled;
    /// `None` otherwise. An unknown name costs the same password check as a
    /// known one, so the time of the answer does not tell names apart.
    pub fn verify_login(&self, name: &str, password: &str) -> Result<Option<User>> {
        let row = self.read(|c| {
            c.query_row(
                &format!("SELECT {USER_COLS}, u.password_hash, u.disabled FROM users u WHERE u.name = ?1"),
                [name],
                |r| {
                    Ok((
                        user_row(r)?,
                        r.get::<_, String>(AFTER_USER)?,
                        r.get::<_, bool>(AFTER_USER + 1)?,
                    ))
                },
            )
            .optional()
        })?;
        let hash = row.as_ref().map_or(dummy_hash(), |(_, h, _)| h.as_str());
        let parsed = PasswordHash::new(hash).map_err(|e| StoreError::Corrupt {
            what: "password hash",
            reason: e.to_string(),
        })?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        match row {
            Some((u, _, false)) if matches => to_user(u).map(Some),
            _ => Ok(None),
        }
    }

    /// Every user with whether it is disabled and its live sessions and tokens.
    pub fn users(&self) -> Result<Vec<(User, bool, u64)>> {
        let rows = self.read(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {USER_COLS}, u.disabled, \
                 (SELECT count(*) FROM sessions s WHERE s.user_id = u.id AND s.expires_at > ?1) \
                 FROM users u ORDER BY u.name"
            ))?;
            let rows = st.query_map([now_us()], |r| {
                Ok((
                    user_row(r)?,
                    r.get::<_, bool>(AFTER_USER)?,
                    r.get::<_, i64>(AFTER_USER + 1)?,
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter()
            .map(|(u, d, n)| Ok((to_user(u)?, d, u64::try_from(n).unwrap_or(0))))
            .collect()
    }

    fn user_id(&self, name: &str) -> Result<i64> {
        self.read(|c| {
            c.query_row("SELECT id FROM users WHERE name = ?1", [name], |r| r.get(0))
                .optional()
        })?
        .ok_or_else(|| StoreError::User(format!("no user {name:?}")))
    }

    /// Disables (or enables) a user; disabling ends their sessions and
    /// tokens. Returns how many ended.
    pub fn set_disabled(&self, name: &str, disabled: bool) -> Result<u64> {
        let id = self.user_id(name)?;
        self.write(|c| {
            let tx = c.savepoint()?;
            tx.execute(
                "UPDATE users SET disabled = ?1 WHERE id = ?2",
                params![disabled, id],
            )?;
            let n = if disabled {
                tx.execute("DELETE FROM sessions WHERE user_id = ?1", [id])?
            } else {
                0
            };
            tx.commit()?;
            Ok(n as u64)
        })
    }

    /// Sets a new password ([`password_problem`] says which are refused) and ends every
    /// session and token of the user. Returns how many ended.
    pub fn set_password(&self, name: &str, password: &str) -> Result<u64> {
        if let Some(p) = password_problem(name, password) {
            return Err(StoreError::User(p));
        }
        let id = self.user_id(name)?;
        let hash = hash_password(password)?;
        self.write(|c| {
            let tx = c.savepoint()?;
            tx.execute(
                "UPDATE users SET password_hash = ?1 WHERE id = ?2",
                params![hash, id],
            )?;
            let n = tx.execute("DELETE FROM sessions WHERE user_id = ?1", [id])?;
            tx.commit()?;
            Ok(n as u64)
        })
    }

    /// Ends every session and API token of a user. Returns how many ended.
    pub fn revoke(&self, name: &str) -> Result<u64> {
        let id = self.user_id(name)?;
        self.write(|c| {
            c.execute("DELETE FROM sessions WHERE user_id = ?1", [id])
                .map(|n| n as u64)
        })
    }

    /// Starts a session (or issues an API token) for `ttl_us`; returns the
    /// clear token (shown once) and its expiry.
    pub fn create_session(&self, user: &User, kind: &str, ttl_us: i64) -> Result<(String, i64)> {
        let token = new_token()?;
        let now = now_us();
        let expires = now.saturating_add(ttl_us);
        self.write(|c| {
            c.execute(
                "INSERT INTO sessions(token_hash, user_id, kind, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![hash_token(&token), user.id, kind, now, expires],
            )
        })?;
        Ok((token, expires))
    }

    /// The live session of a token hash (expired ones are `None`).
    pub fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        let row = self.read(|c| {
            c.query_row(
                &format!(
                    "SELECT {USER_COLS}, s.expires_at, s.kind FROM sessions s JOIN users u ON u.id = s.user_id \
                     WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND u.disabled = 0"
                ),
                params![token_hash, now_us()],
                |r| {
                    Ok((
                        user_row(r)?,
                        r.get::<_, i64>(AFTER_USER)?,
                        r.get::<_, String>(AFTER_USER + 1)?,
                    ))
                },
            )
            .optional()
        })?;
        row.map(|(u, expires_at, kind)| {
            Ok(Session {
                user: to_user(u)?,
                expires_at,
                kind,
            })
        })
        .transpose()
    }

    /// Ends a session; also drops expired ones.
    pub fn delete_session(&self, token_hash: &str) -> Result<()> {
        self.write(|c| {
            c.execute(
                "DELETE FROM sessions WHERE token_hash = ?1 OR expires_at <= ?2",
                params![token_hash, now_us()],
            )
            .map(|_| ())
        })
    }

    /// Appends audit records in one transaction.
    pub fn audit(&self, entries: &[AuditEntry]) -> Result<()> {
        // A map polled many times a second would otherwise write a row per
        // poll; who read what, and when to the second, is all kept.
        let mut rows: Vec<AuditEntry> = Vec::new();
        let mut seen: std::collections::HashMap<(Option<&str>, &str, &str, u16, i64), usize> =
            std::collections::HashMap::new();
        for e in entries {
            let key = (
                e.user.as_deref(),
                e.action.as_str(),
                e.target.as_str(),
                e.status,
                e.at.div_euclid(1_000_000),
            );
            match seen.get(&key) {
                Some(&k) => rows[k].n += e.n,
                None => {
                    seen.insert(key, rows.len());
                    rows.push(e.clone());
                }
            }
        }
        self.write(|c| {
            let tx = c.savepoint()?;
            {
                let mut st = tx.prepare_cached("INSERT INTO audit(at, user, action, target, status, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
                for e in &rows {
                    st.execute(params![e.at, e.user, e.action, e.target, e.status, e.n])?;
                }
            }
            tx.commit()
        })
    }

    /// The newest audit records, newest first.
    pub fn audit_log(&self, limit: u64) -> Result<Vec<AuditEntry>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT at, user, action, target, status, n FROM audit ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = st.query_map([limit], |r| {
                Ok(AuditEntry {
                    at: r.get(0)?,
                    user: r.get(1)?,
                    action: r.get(2)?,
                    target: r.get(3)?,
                    status: r.get(4)?,
                    n: r.get(5)?,
                })
            })?;
            rows.collect()
        })
    }
}
