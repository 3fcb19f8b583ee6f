//! Per-client limits on the endpoints that compute over many rows (map
//! values, trends, league tables, hot spots, exports): each user may start
//! `[server] costly_per_minute` of them a minute, with bursts of
//! `costly_burst`; past that a request answers 429 with `Retry-After` and
//! costs nothing. One script looping over exports cannot slow the map of
//! everyone else. Keyed by user name (only authenticated requests reach a
//! handler; the keys are bounded by the user table); HEAD, which computes
//! nothing, is not counted.

use std::num::NonZeroU32;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::auth::Caller;
use super::error::ApiError;
use super::state::AppState;

/// The limiter of costly requests; `None` when `costly_per_minute` is 0.
pub struct Costly(Option<DefaultKeyedRateLimiter<String>>);

impl Costly {
    /// `per_minute` requests a minute per user (0: no limit), bursts of `burst`.
    pub fn new(per_minute: u32, burst: u32) -> Costly {
        Costly(NonZeroU32::new(per_minute).map(|n| {
            let quota = Quota::per_minute(n).allow_burst(NonZeroU32::new(burst).unwrap_or(n));
            RateLimiter::keyed(quota)
        }))
    }

    /// Counts one costly request of `who`; the whole seconds to wait when
    /// over the limit.
    pub fn check(&self, who: &str) -> Result<(), u64> {
        let Some(l) = &self.0 else { return Ok(()) };
        l.check_key(&who.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs_f64().ceil().max(1.0) as u64
        })
    }
}

/// Middleware over the costly routes.
pub async fn costly(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::HEAD {
        if let Some(c) = req.extensions().get::<Caller>() {
            if let Err(secs) = st.costly.check(&c.user().name) {
                return ApiError::TooManyRequests(secs).into_response();
            }
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_user_has_their_own_allowance() {
        let c = Costly::new(60, 3);
        for _ in 0..3 {
            assert_eq!(c.check("a"), Ok(()));
        }
        let wait = c.check("a").unwrap_err();
        assert!((1..=2).contains(&wait), "{wait}");
        assert_eq!(c.check("b"), Ok(()));
        let off = Costly::new(0, 0);
        assert!((0..1000).all(|_| off.check("a").is_ok()));
    }
}
