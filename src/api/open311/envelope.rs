//! What an Open311 client sends with any resource besides the resource's
//! own fields: `api_key` and `jurisdiction_id`, in the query string or, for
//! a POST, in the form body (the spec's example sends both there).
//!
//! The authentication middleware reads them once per request: `api_key`
//! stands for the bearer header of a machine client, and the envelope is
//! left in the request's extensions for [`super::answer`] to check the
//! jurisdiction. The body is read only for a form-encoded POST and put
//! back as it was.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, Method};

use crate::api::error::ApiError;

/// `api_key` and `jurisdiction_id` of one request (empty ones are absent:
/// the spec treats an empty optional argument as one not sent).
#[derive(Clone, Debug, Default)]
pub struct Envelope {
    pub api_key: Option<String>,
    pub jurisdiction_id: Option<String>,
}

impl Envelope {
    fn take(&mut self, pairs: impl Iterator<Item = (String, String)>) {
        for (k, v) in pairs {
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            match k.as_str() {
                API_KEY => self.api_key = Some(v.to_owned()),
                "jurisdiction_id" => self.jurisdiction_id = Some(v.to_owned()),
                _ => {}
            }
        }
    }
}

/// The Open311 parameter that carries a machine client's API token.
const API_KEY: &str = "api_key";

fn pairs(s: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    form_urlencoded::parse(s).map(|(k, v)| (k.into_owned(), v.into_owned()))
}

/// The envelope of an Open311 request, and the request to pass on (its
/// body read into memory, up to `limit` bytes, when it is a form POST; the
/// body's fields win over the query's).
pub async fn read(req: Request, limit: usize) -> Result<(Request, Envelope), ApiError> {
    let mut env = Envelope::default();
    if let Some(q) = req.uri().query() {
        env.take(pairs(q.as_bytes()));
    }
    let form = req.method() == Method::POST
        && req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Ok((req, env));
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    env.take(pairs(&bytes));
    Ok((Request::from_parts(parts, Body::from(bytes)), env))
}

/// `path_and_query` with the value of any `api_key` replaced by `***`:
/// the audit log records what was asked, never a credential. The name is
/// matched as the envelope reads it, percent-decoded (`api%5Fkey` is
/// `api_key` too).
pub fn redacted(path_and_query: &str) -> std::borrow::Cow<'_, str> {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return path_and_query.into();
    };
    let is_key = |p: &&str| {
        pairs(p.as_bytes())
            .next()
            .is_some_and(|(k, _)| k == API_KEY)
    };
    if !query.split('&').any(|p| is_key(&p)) {
        return path_and_query.into();
    }
    let kept: Vec<&str> = query
        .split('&')
        .map(|p| if is_key(&p) { "api_key=***" } else { p })
        .collect();
    format!("{path}?{}", kept.join("&")).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_form_body_is_read_and_given_back_whole() {
        let body = "api_key=k1&service_code=%E5%99%AA&jurisdiction_id=&lat=1";
        let req = Request::builder()
            .method("POST")
            .uri("/open311/v2/requests.xml?jurisdiction_id=xian.gov.cn&api_key=k0")
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(Body::from(body))
            .unwrap();
        let (req, env) = read(req, 1024).await.unwrap();
        assert_eq!(env.api_key.as_deref(), Some("k1"));
        // Empty in the body: the query's stands.
        assert_eq!(env.jurisdiction_id.as_deref(), Some("xian.gov.cn"));
        let back = axum::body::to_bytes(req.into_body(), 1024).await.unwrap();
        assert_eq!(back, body.as_bytes());
    }

    #[test]
    fn an_api_key_never_reaches_the_audit_log() {
        assert_eq!(
            redacted("/open311/v2/requests.json?status=open&api_key=s3cret"),
            "/open311/v2/requests.json?status=open&api_key=***"
        );
        // The name percent-encoded, as the envelope decodes it.
        assert_eq!(
            redacted("/open311/v2/requests.json?api%5Fkey=s3cret&api%5fkey=t&x=1"),
            "/open311/v2/requests.json?api_key=***&api_key=***&x=1"
        );
        assert_eq!(redacted("/api/v1/map?level=1"), "/api/v1/map?level=1");
        assert_eq!(redacted("/healthz"), "/healthz");
    }
}
