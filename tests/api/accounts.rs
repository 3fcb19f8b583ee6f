//! Who can be stopped: disabled users, revoked sessions and tokens, new
//! passwords, and logins that slow down after failures.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;

use super::support::{env, get, login, post_json, PASSWORD};

/// Past the server's session re-check interval.
const PAST_RECHECK: Duration = Duration::from_millis(1_200);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_user_and_a_revoked_token_stop_within_a_second() {
    let e = env();
    let store = e.state.store.clone();
    // A live session, used (and so cached by the server).
    let t = login(&e.app, "leader").await;
    assert_eq!(get(&e.app, "/api/v1/me", &t).await.status, StatusCode::OK);
    // A machine token of the same user.
    let user = store.verify_login("leader", PASSWORD).unwrap().unwrap();
    let (api, _) = store.create_session(&user, "api", 86_400_000_000).unwrap();
    assert_eq!(get(&e.app, "/api/v1/me", &api).await.status, StatusCode::OK);
    assert_eq!(store.set_disabled("leader", true).unwrap(), 2);
    tokio::time::sleep(PAST_RECHECK).await;
    for token in [&t, &api] {
        assert_eq!(
            get(&e.app, "/api/v1/me", token).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    // No new login while disabled; back after enabling.
    let r = post_json(
        &e.app,
        "/api/v1/login",
        None,
        json!({"username": "leader", "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    store.set_disabled("leader", false).unwrap();
    let t = login(&e.app, "leader").await;
    assert_eq!(get(&e.app, "/api/v1/me", &t).await.status, StatusCode::OK);
    // Revoking ends sessions without disabling.
    assert_eq!(store.revoke("leader").unwrap(), 1);
    tokio::time::sleep(PAST_RECHECK).await;
    assert_eq!(
        get(&e.app, "/api/v1/me", &t).await.status,
        StatusCode::UNAUTHORIZED
    );
    // A new password ends every session and only the new one logs in.
    let t = login(&e.app, "leader").await;
    assert!(store.set_password("leader", "short").is_err());
    assert!(
        store.set_password("leader", "my-leader-pass").is_err(),
        "contains the name"
    );
    assert_eq!(store.set_password("leader", "another horse").unwrap(), 1);
    tokio::time::sleep(PAST_RECHECK).await;
    assert_eq!(
        get(&e.app, "/api/v1/me", &t).await.status,
        StatusCode::UNAUTHORIZED
    );
    let old = post_json(
        &e.app,
        "/api/v1/login",
        None,
        json!({"username": "leader", "password": PASSWORD}),
    )
    .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = post_json(
        &e.app,
        "/api/v1/login",
        None,
        json!({"username": "leader", "password": "another horse"}),
    )
    .await;
    assert_eq!(new.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_slow_down_per_name_and_an_unknown_name_is_the_same() {
    let e = env();
    let attempt = |user: &'static str, pw: &'static str| {
        let app = e.app.clone();
        async move {
            post_json(
                &app,
                "/api/v1/login",
                None,
                json!({"username": user, "password": pw}),
            )
            .await
        }
    };
    for name in ["admin", "nobody"] {
        for _ in 0..wangge::api::throttle::FREE {
            assert_eq!(
                attempt(name, "guess-guess").await.status,
                StatusCode::UNAUTHORIZED
            );
        }
        // Now even the right password waits, and says how long.
        let r = attempt(name, PASSWORD).await;
        assert_eq!(
            r.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{name}: {}",
            r.text()
        );
        assert!(r.headers.contains_key("retry-after"));
        assert_eq!(r.json()["code"], "too_many_requests");
    }
    // Another name is not held up.
    assert_eq!(attempt("chief", PASSWORD).await.status, StatusCode::OK);
    // After the wait, the right password works and clears the count.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(attempt("admin", PASSWORD).await.status, StatusCode::OK);
    assert_eq!(
        attempt("admin", "guess-guess").await.status,
        StatusCode::UNAUTHORIZED
    );
}
