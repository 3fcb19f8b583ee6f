//! Login, logout, `me`, and the caller of every request.
//!
//! A middleware resolves the bearer token once per request (an in-memory
//! cache in front of the sessions table) and leaves the [`Caller`] in the
//! request's extensions; handlers that need a user take [`Caller`], which
//! answers 401 without one. Only the token's SHA-256 is looked up or stored.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::J;
use super::state::AppState;
use crate::store::{hash_token, now_us, AuditEntry, Session, User};

/// The authenticated user of a request.
#[derive(Clone)]
pub struct Caller(pub Arc<Session>, pub String);

impl Caller {
    pub fn user(&self) -> &User {
        &self.0.user
    }
}

/// An Open311 `api_key` that is no live API token (a session token from a
/// login is refused there too: it would end up in URLs and logs).
#[derive(Clone, Copy)]
struct KeyRefused;

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        if let Some(c) = parts.extensions.get::<Caller>() {
            return Ok(c.clone());
        }
        if parts.extensions.get::<KeyRefused>().is_some() {
            return Err(ApiError::Forbidden(
                "invalid api_key: it is not a live API token".into(),
            ));
        }
        Err(ApiError::Unauthorized(
            "log in first: Authorization: Bearer <token> (Open311: or api_key=<API token>)".into(),
        ))
    }
}

fn bearer(req: &Request) -> Option<String> {
    let h = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let t = h
        .strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))?
        .trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// The session of a token: from the cache when read within the last
/// [`SESSION_RECHECK`](super::state::SESSION_RECHECK), else from the
/// database (a revoked, expired or disabled one is then gone).
async fn resolve(st: &AppState, h: &str) -> Result<Option<Arc<Session>>, ApiError> {
    let cached = st
        .sessions
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(h)
        .cloned();
    if let Some((s, read_at)) = cached {
        if s.expires_at > now_us() && read_at.elapsed() < super::state::SESSION_RECHECK {
            return Ok(Some(s));
        }
    }
    let store = st.store.clone();
    let key = h.to_owned();
    let found = st
        .blocking(move || Ok(store.session(&key)?))
        .await?
        .map(Arc::new);
    let mut cache = st.sessions.write().unwrap_or_else(|p| p.into_inner());
    match &found {
        Some(s) => {
            cache.insert(h.to_owned(), (s.clone(), std::time::Instant::now()));
        }
        None => {
            cache.remove(h);
        }
    }
    Ok(found)
}

/// Puts the [`Caller`] into the request when the token is live. Under
/// `/open311/` a machine client may send its API token as `api_key`
/// instead (the bearer header wins when both come); the Open311 envelope
/// is left in the request for the jurisdiction check.
pub async fn authenticate(
    State(st): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    use super::open311::envelope;
    use super::open311::format::{spec_error, Format};
    let path = req.uri().path().to_owned();
    let (mut req, mut env) = if path.starts_with("/open311/") {
        match envelope::read(req, st.config.server.body_limit_bytes).await {
            Ok(read) => read,
            Err(e) => return Ok(spec_error(Format::of_path(&path), e.into_response())),
        }
    } else {
        (req, envelope::Envelope::default())
    };
    if let Some(token) = bearer(&req) {
        let h = hash_token(&token);
        if let Some(s) = resolve(&st, &h).await? {
            req.extensions_mut().insert(Caller(s, h));
        }
    } else if let Some(key) = env.api_key.take() {
        let h = hash_token(&key);
        match resolve(&st, &h).await? {
            Some(s) if s.kind == "api" => {
                req.extensions_mut().insert(Caller(s, h));
            }
            _ => {
                req.extensions_mut().insert(KeyRefused);
            }
        }
    }
    if path.starts_with("/open311/") {
        req.extensions_mut().insert(env);
    }
    Ok(next.run(req).await)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// A user as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UserDto {
    pub name: String,
    /// admin, leader, chief or analyst.
    pub role: String,
    /// Unit codes the role applies to.
    pub scopes: Vec<String>,
}

impl From<&User> for UserDto {
    fn from(u: &User) -> Self {
        UserDto {
            name: u.name.clone(),
            role: u.role.as_str().into(),
            scopes: u.scopes.clone(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    /// Bearer token; shown once.
    pub token: String,
    /// RFC 3339.
    pub expires_at: String,
    pub user: UserDto,
}

/// RFC 3339 in China Standard Time, the zone people read the dates in.
pub fn rfc3339(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.with_timezone(&chrono_tz::Asia::Shanghai).to_rfc3339())
        .unwrap_or_default()
}

/// Exchanges a name and password for a session token.
#[utoipa::path(post, path = "/api/v1/login", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = super::error::ErrorBody)))]
pub async fn login(
    State(st): State<AppState>,
    ext: axum::http::Extensions,
    J(req): J<LoginRequest>,
) -> Result<
    (
        [(axum::http::HeaderName, &'static str); 1],
        Json<LoginResponse>,
    ),
    ApiError,
> {
    let addr = ext
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(secs) = st.logins.wait(&req.username, addr) {
        st.audit(AuditEntry {
            at: now_us(),
            user: Some(req.username.clone()),
            action: "login_throttled".into(),
            target: "POST /api/v1/login".into(),
            status: 429,
            n: 1,
        });
        return Err(ApiError::TooManyRequests("too many failed logins", secs));
    }
    let store = st.store.clone();
    let ttl = i64::try_from(st.config.auth.session_hours.saturating_mul(3_600_000_000))
        .unwrap_or(i64::MAX);
    let name = req.username.clone();
    let found = st
        .blocking(move || {
            let Some(user) = store.verify_login(&req.username, &req.password)? else {
                return Ok(None);
            };
            let (token, expires) = store.create_session(&user, "session", ttl)?;
            Ok(Some((user, token, expires)))
        })
        .await?;
    let ok = found.is_some();
    if ok {
        st.logins.succeeded(&name);
    } else {
        st.logins.failed(&name, addr);
    }
    st.audit(AuditEntry {
        at: now_us(),
        user: Some(name),
        action: if ok { "login" } else { "login_failed" }.into(),
        target: "POST /api/v1/login".into(),
        status: if ok { 200 } else { 401 },
        n: 1,
    });
    let (user, token, expires_at) =
        found.ok_or_else(|| ApiError::Unauthorized("wrong user name or password".into()))?;
    Ok((
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(LoginResponse {
            token,
            expires_at: rfc3339(expires_at),
            user: UserDto::from(&user),
        }),
    ))
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/me", responses((status = 200, body = UserDto)), security(("bearer" = [])))]
pub async fn me(c: Caller) -> Json<UserDto> {
    Json(UserDto::from(c.user()))
}

/// Ends the caller's session.
#[utoipa::path(post, path = "/api/v1/logout", responses((status = 204)), security(("bearer" = [])))]
pub async fn logout(
    State(st): State<AppState>,
    c: Caller,
) -> Result<axum::http::StatusCode, ApiError> {
    st.sessions
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&c.1);
    let store = st.store.clone();
    st.blocking(move || Ok(store.delete_session(&c.1)?)).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
