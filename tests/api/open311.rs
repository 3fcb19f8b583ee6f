//! Open311 GeoReport v2 as the spec has it: every resource in JSON and
//! XML, errors as `[{code, description}]` / `<errors>`, `api_key` for
//! machine clients, `jurisdiction_id`, the 90-day window, discovery, and
//! the privacy choices (no description, no personal data kept).

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::support::{audit_until, env, env_with, get, login, send, Env, Res, PASSWORD};

/// An element of an XML answer: name, text and children, in order.
#[derive(Debug, Default)]
struct Node {
    name: String,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn names(&self) -> Vec<&str> {
        self.children.iter().map(|c| c.name.as_str()).collect()
    }
    fn child(&self, name: &str) -> &Node {
        self.children
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("<{}> has no <{name}>: {:?}", self.name, self.names()))
    }
}

/// The XML of a response: `text/xml; charset=utf-8`, the declaration
/// first, and its tree.
fn xml(r: &Res) -> Node {
    use quick_xml::events::Event;
    assert_eq!(
        r.headers["content-type"],
        "text/xml; charset=utf-8",
        "{}",
        r.text()
    );
    let text = r.text();
    assert!(
        text.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"),
        "{text}"
    );
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut stack = vec![Node::default()];
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => stack.push(Node {
                name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
                ..Node::default()
            }),
            Event::Empty(e) => {
                let n = Node {
                    name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
                    ..Node::default()
                };
                stack.last_mut().unwrap().children.push(n);
            }
            Event::Text(t) => {
                let s = t.decode().unwrap();
                let s = quick_xml::escape::unescape(&s).unwrap();
                stack.last_mut().unwrap().text.push_str(s.trim());
            }
            Event::GeneralRef(r) => {
                let name = r.decode().unwrap();
                let ch = quick_xml::escape::resolve_predefined_entity(&name).expect("entity");
                stack.last_mut().unwrap().text.push_str(ch);
            }
            Event::End(_) => {
                let n = stack.pop().unwrap();
                stack.last_mut().unwrap().children.push(n);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut doc = stack.pop().unwrap();
    assert_eq!(doc.children.len(), 1, "one root");
    doc.children.pop().unwrap()
}

/// The demo's last months: the default window (the last 90 days before
/// now) moves with the clock, the demo does not.
const AUTUMN: &str = "start_date=2026-08-01T00:00:00%2B08:00&end_date=2026-10-29T00:00:00%2B08:00";

/// The field names of a JSON object, sorted (the order of the answer is
/// checked on its XML twin, the same model: `serde_json::Value` sorts).
fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn sorted<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = names.into_iter().collect();
    v.sort_unstable();
    v
}

/// The spec's fields of a request, in its order.
const REQUEST_FIELDS: [&str; 17] = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_resource_answers_in_json_and_in_xml_with_the_same_fields() {
    let e = env();
    let t = login(&e.app, "admin").await;
    // Services: one list, two encodings.
    let s = get(&e.app, "/open311/v2/services.json", &t).await;
    assert_eq!(s.headers["content-type"], "application/json; charset=utf-8");
    let s = s.json();
    let sx = xml(&get(&e.app, "/open311/v2/services.xml", &t).await);
    assert_eq!(sx.name, "services");
    assert_eq!(sx.children.len(), s.as_array().unwrap().len());
    let first = &sx.children[0];
    assert_eq!(first.name, "service");
    assert_eq!(sorted(first.names()), keys(&s[0]));
    assert_eq!(
        first.names(),
        [
            "service_code",
            "service_name",
            "description",
            "metadata",
            "type",
            "keywords",
            "group"
        ]
    );
    assert_eq!(
        first.child("service_code").text,
        s[0]["service_code"].as_str().unwrap()
    );
    assert_eq!(first.child("metadata").text, "false");
    // A service definition: the code, no attributes.
    let code = s[0]["service_code"].as_str().unwrap().to_owned();
    let enc = super::urlencode(&code);
    let d = get(&e.app, &format!("/open311/v2/services/{enc}.json"), &t).await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.text());
    assert_eq!(d.json(), json!({"service_code": code, "attributes": []}));
    let dx = xml(&get(&e.app, &format!("/open311/v2/services/{enc}.xml"), &t).await);
    assert_eq!(dx.name, "service_definition");
    assert_eq!(dx.names(), ["service_code", "attributes"]);
    assert!(dx.child("attributes").children.is_empty());
    let none = get(&e.app, "/open311/v2/services/no-such-service.xml", &t).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    // Requests: the spec's fields in its order, the same in both.
    let url = format!("/open311/v2/requests.json?{AUTUMN}&limit=5");
    let r = get(&e.app, &url, &t).await.json();
    let rx = xml(&get(&e.app, &url.replace(".json", ".xml"), &t).await);
    assert_eq!(rx.name, "service_requests");
    assert_eq!(rx.children.len(), 5);
    for (j, x) in r.as_array().unwrap().iter().zip(&rx.children) {
        assert_eq!(x.name, "request");
        assert_eq!(sorted(x.names()), keys(j));
        assert_eq!(&x.names()[..17], REQUEST_FIELDS);
        assert_eq!(
            x.child("service_request_id").text,
            j["service_request_id"].as_str().unwrap()
        );
        let lat: f64 = x.child("lat").text.parse().unwrap();
        assert!((lat - j["lat"].as_f64().unwrap()).abs() < 1e-9);
        // ISO 8601 with the offset.
        let at = &x.child("requested_datetime").text;
        assert!(
            chrono::DateTime::parse_from_rfc3339(at).is_ok() && at.ends_with("+08:00"),
            "{at}"
        );
    }
    // One request: a list of one.
    let id = r[0]["service_request_id"].as_str().unwrap();
    let one = xml(&get(&e.app, &format!("/open311/v2/requests/{id}.xml"), &t).await);
    assert_eq!(
        (one.name.as_str(), one.children.len()),
        ("service_requests", 1)
    );
    assert_eq!(one.children[0].child("service_request_id").text, id);
    // Updates (FixMyStreet's extension).
    let u = xml(
        &get(
            &e.app,
            "/open311/v2/servicerequestupdates.xml?start_date=2026-10-01T00:00:00%2B08:00&end_date=2026-10-02T00:00:00%2B08:00",
            &t,
        )
        .await,
    );
    assert_eq!(u.name, "service_request_updates");
    assert!(u.children.iter().all(|c| c.name == "request_update"));
    // A limit out of 1..=1000 is refused, not moved into it.
    for limit in ["0", "1001"] {
        let r = get(
            &e.app,
            &format!("/open311/v2/requests.json?limit={limit}"),
            &t,
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "limit {limit}: {}",
            r.text()
        );
    }
    // A window backwards or wider than 90 days is refused, as for requests.
    for (q, why) in [
        (
            "start_date=2026-10-02T00:00:00%2B08:00&end_date=2026-10-01T00:00:00%2B08:00",
            "after",
        ),
        (
            "start_date=2026-01-01T00:00:00%2B08:00&end_date=2026-10-01T00:00:00%2B08:00",
            "90 days",
        ),
    ] {
        let r = get(
            &e.app,
            &format!("/open311/v2/servicerequestupdates.json?{q}"),
            &t,
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}: {}", r.text());
        assert!(r.text().contains(why), "{q}: {}", r.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_request_is_answered_in_the_format_asked_for() {
    let e = env();
    let t = login(&e.app, "admin").await;
    let form = "service_code=%E7%8E%AF%E5%A2%83%E5%8D%AB%E7%94%9F&lat=38.5&long=115.0";
    let r = send(
        &e.app,
        "POST",
        "/open311/v2/requests.xml",
        Some(&t),
        Some("application/x-www-form-urlencoded; charset=utf-8"),
        form.into(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let x = xml(&r);
    assert_eq!(x.name, "service_requests");
    let req = &x.children[0];
    assert_eq!(req.name, "request");
    assert_eq!(
        &req.names()[..3],
        ["service_request_id", "service_notice", "account_id"]
    );
    assert!(req.child("account_id").text.is_empty());
    let id = req.child("service_request_id").text.clone();
    assert!(id.starts_with("o311-"), "{id}");
    let r = send(
        &e.app,
        "POST",
        "/open311/v2/requests.json",
        Some(&t),
        Some("application/x-www-form-urlencoded"),
        form.into(),
    )
    .await
    .json();
    // The spec's three, and the extension `duplicates` (the first request
    // lies within 250 m).
    assert_eq!(
        keys(&r[0]),
        sorted([
            "service_request_id",
            "service_notice",
            "account_id",
            "duplicates"
        ])
    );
    assert_eq!(r[0]["account_id"], Value::Null);
    // A service code is a category, checked as every path checks one:
    // empty, blank, too long or with a control character is refused.
    let long = "x".repeat(300);
    for (code, why) in [
        ("", "missing"),
        ("+++", "missing"),
        (long.as_str(), "at most"),
        ("a%01b", "control character"),
    ] {
        let body = format!("service_code={code}&lat=38.5&long=115.0");
        let r = send(
            &e.app,
            "POST",
            "/open311/v2/requests.json",
            Some(&t),
            Some("application/x-www-form-urlencoded"),
            body.into_bytes(),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{code:?}: {}", r.text());
        let d = r.json()[0]["description"].as_str().unwrap().to_owned();
        assert!(
            d.contains("service_code") && d.contains(why),
            "{code:?}: {d}"
        );
    }
    // Without a position: 400, saying what is missing.
    let r = send(
        &e.app,
        "POST",
        "/open311/v2/requests.json",
        Some(&t),
        Some("application/x-www-form-urlencoded"),
        b"service_code=x&address_string=1+Main+St".to_vec(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()[0]["description"]
        .as_str()
        .unwrap()
        .contains("lat and long"));
    // An update of it, answered with its id.
    let step = format!(
        "service_request_id={id}&update_id=up-1&status=open&external_status_code=%E6%B4%BE%E9%81%A3&updated_datetime={}&description=x",
        super::urlencode(&chrono::Utc::now().to_rfc3339())
    );
    let r = send(
        &e.app,
        "POST",
        "/open311/v2/servicerequestupdates.xml",
        Some(&t),
        Some("application/x-www-form-urlencoded"),
        step.into_bytes(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let x = xml(&r);
    assert_eq!(x.name, "service_request_updates");
    assert_eq!(x.child("request_update").child("update_id").text, "up-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_take_the_specs_shape_with_the_http_status_as_code() {
    let e = env();
    let t = login(&e.app, "admin").await;
    let cases = [
        (
            "/open311/v2/requests/nope.json",
            Some(&t),
            StatusCode::NOT_FOUND,
        ),
        (
            "/open311/v2/requests/nope.xml",
            Some(&t),
            StatusCode::NOT_FOUND,
        ),
        (
            "/open311/v2/requests.xml?start_date=yesterday",
            Some(&t),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/open311/v2/requests.json?status=pending",
            Some(&t),
            StatusCode::BAD_REQUEST,
        ),
        // No credential: 403, as the spec has it for a missing api_key.
        ("/open311/v2/requests.json", None, StatusCode::FORBIDDEN),
        ("/open311/v2/services.xml", None, StatusCode::FORBIDDEN),
        (
            "/open311/v2/no-such-resource",
            Some(&t),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (uri, token, status) in cases {
        let r = send(
            &e.app,
            "GET",
            uri,
            token.map(String::as_str),
            None,
            Vec::new(),
        )
        .await;
        assert_eq!(r.status, status, "{uri}: {}", r.text());
        if uri.contains(".xml") {
            let x = xml(&r);
            assert_eq!(x.name, "errors", "{uri}");
            let err = x.child("error");
            assert_eq!(err.names(), ["code", "description"]);
            assert_eq!(err.child("code").text, status.as_u16().to_string());
            assert!(!err.child("description").text.is_empty());
        } else {
            assert_eq!(r.headers["content-type"], "application/json; charset=utf-8");
            let v = r.json();
            assert_eq!(v.as_array().map(Vec::len), Some(1), "{uri}: {v}");
            assert_eq!(keys(&v[0]), sorted(["code", "description"]));
            assert_eq!(v[0]["code"], status.as_u16());
            assert!(v[0]["description"].as_str().is_some_and(|d| !d.is_empty()));
        }
    }
    // The JSON API keeps its own shape.
    let r = send(&e.app, "GET", "/api/v1/me", None, None, Vec::new()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["code"], "unauthorized");
}

/// An API token of `user`, as `wangge user add --token` issues one.
fn api_token(e: &Env, user: &str) -> String {
    let u = e.state.store.verify_login(user, PASSWORD).unwrap().unwrap();
    e.state
        .store
        .create_session(&u, "api", 86_400_000_000)
        .unwrap()
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_stands_for_the_bearer_token_of_a_machine_client() {
    let e = env();
    let key = api_token(&e, "admin");
    let form = |key: &str| {
        format!(
            "api_key={key}&service_code=%E7%8E%AF%E5%A2%83%E5%8D%AB%E7%94%9F&lat=38.5&long=115.0"
        )
        .into_bytes()
    };
    let post = |body: Vec<u8>| {
        send(
            &e.app,
            "POST",
            "/open311/v2/requests.json",
            None,
            Some("application/x-www-form-urlencoded"),
            body,
        )
    };
    let r = post(form(&key)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let id = r.json()[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // In the query of a read, too.
    let r = send(
        &e.app,
        "GET",
        &format!("/open311/v2/requests/{id}.xml?api_key={key}"),
        None,
        None,
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // A wrong key, and a login's session token: 403 in the spec's shape.
    let session = login(&e.app, "admin").await;
    for bad in ["wrong", session.as_str()] {
        let r = post(form(bad)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
        let v = r.json();
        assert_eq!(v[0]["code"], 403);
        assert!(
            v[0]["description"].as_str().unwrap().contains("api_key"),
            "{v}"
        );
    }
    let r = send(
        &e.app,
        "GET",
        "/open311/v2/requests.xml?api_key=wrong",
        None,
        None,
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(xml(&r).child("error").child("code").text, "403");
    // The key is a credential: the audit log records the request without it.
    let log = audit_until(&e, |log| log.iter().any(|a| a.target.contains(&id))).await;
    let read = log
        .iter()
        .find(|a| a.target.contains(&id))
        .expect("audited");
    assert!(read.target.contains("api_key=***"), "{}", read.target);
    assert!(log.iter().all(|a| !a.target.contains(&key)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_jurisdiction_is_the_only_one_answered() {
    let e = env_with(|c| c.open311.jurisdiction_id = "xian.gov.cn".into());
    let t = login(&e.app, "admin").await;
    for (q, status) in [
        ("", StatusCode::OK),
        ("&jurisdiction_id=", StatusCode::OK),
        ("&jurisdiction_id=xian.gov.cn", StatusCode::OK),
        ("&jurisdiction_id=sfgov.org", StatusCode::NOT_FOUND),
    ] {
        let r = get(&e.app, &format!("/open311/v2/requests.xml?{AUTUMN}{q}"), &t).await;
        assert_eq!(r.status, status, "{q}: {}", r.text());
        if status == StatusCode::NOT_FOUND {
            let err = xml(&r);
            assert!(err
                .child("error")
                .child("description")
                .text
                .contains("sfgov.org"));
        }
    }
    let r = send(
        &e.app,
        "POST",
        "/open311/v2/requests.json",
        Some(&t),
        Some("application/x-www-form-urlencoded"),
        b"jurisdiction_id=sfgov.org&service_code=x&lat=38.5&long=115.0".to_vec(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    assert_eq!(r.json()[0]["code"], 404);
    // Not configured: any is accepted and ignored.
    let e = env();
    let t = login(&e.app, "admin").await;
    let r = get(
        &e.app,
        "/open311/v2/services.json?jurisdiction_id=sfgov.org",
        &t,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_default_to_the_last_90_days_and_span_no_more() {
    let e = env();
    let t = login(&e.app, "admin").await;
    let now = chrono::Utc::now();
    let day = chrono::Duration::days(1);
    let at = |d: i64| (now - day * d as i32).to_rfc3339();
    let ev = |id: &str, d: i64| json!({"id": id, "kind": "issue", "occurred_at": at(d), "lon": 115.0, "lat": 38.5, "category": "窗口测试", "status": "open"});
    let r = super::support::post_json(
        &e.app,
        "/api/v1/events",
        Some(&t),
        json!([ev("W-OLD", 100), ev("W-NEW", 10)]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let ids = |v: Value| -> Vec<String> {
        let mut x: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["service_request_id"].as_str().unwrap().to_owned())
            .collect();
        x.sort();
        x
    };
    let code = "service_code=%E7%AA%97%E5%8F%A3%E6%B5%8B%E8%AF%95";
    let list = |q: String| {
        let app = e.app.clone();
        let t = t.clone();
        async move { get(&app, &format!("/open311/v2/requests.json?{code}{q}"), &t).await }
    };
    assert_eq!(ids(list(String::new()).await.json()), ["W-NEW"]);
    let enc = super::urlencode;
    // From a start: the 90 days after it.
    let r = list(format!("&start_date={}", enc(&at(101)))).await;
    assert_eq!(ids(r.json()), ["W-OLD"]);
    // Up to an end: the 90 days before it.
    let r = list(format!("&end_date={}", enc(&at(5)))).await;
    assert_eq!(ids(r.json()), ["W-NEW"]);
    let r = list(format!(
        "&start_date={}&end_date={}",
        enc(&at(101)),
        enc(&at(5))
    ))
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()[0]["description"]
        .as_str()
        .unwrap()
        .contains("90 days"));
    // Asked by id, the window does not apply.
    let r = get(
        &e.app,
        "/open311/v2/requests.json?service_request_id=W-OLD,W-NEW",
        &t,
    )
    .await;
    assert_eq!(ids(r.json()), ["W-NEW", "W-OLD"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_description_or_personal_data_is_published_and_the_grid_is_named() {
    let e = env();
    let t = login(&e.app, "chief").await;
    let conn = rusqlite::Connection::open(e.state.store.path()).unwrap();
    let (lon, lat): (f64, f64) = conn
        .query_row(
            "SELECT lon, lat FROM events WHERE tier3 = ?1 LIMIT 1",
            [&e.codes.grid],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let form = format!(
        "service_code=%E5%99%AA%E9%9F%B3&lat={lat}&long={lon}&description={}&first_name={}&last_name={}&phone=13800138000&email=zs%40example.cn",
        super::urlencode("张三家楼下每晚施工"),
        super::urlencode("三"),
        super::urlencode("张")
    );
    let r = send(
        &e.app,
        "POST",
        "/open311/v2/requests.json",
        Some(&t),
        Some("application/x-www-form-urlencoded"),
        form.into_bytes(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let id = r.json()[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let notice = r.json()[0]["service_notice"].as_str().unwrap().to_owned();
    assert!(
        notice.contains("不予公开") && notice.contains("not published"),
        "{notice}"
    );
    let one = get(&e.app, &format!("/open311/v2/requests/{id}.json"), &t).await;
    let v = &one.json()[0];
    assert_eq!(v["description"], Value::Null);
    assert_eq!(v["service_notice"], notice.as_str());
    let snap = e.state.snapshot().unwrap();
    let model = &snap.grids.model;
    let grid = model.get(&e.codes.grid).unwrap();
    let town = model.get(&e.codes.township).unwrap();
    assert_eq!(
        v["agency_responsible"],
        format!("{} {}", town.name, grid.name).as_str()
    );
    let x = get(&e.app, &format!("/open311/v2/requests/{id}.xml"), &t).await;
    for body in [one.text(), x.text()] {
        for secret in ["张三", "施工", "13800138000", "example.cn"] {
            assert!(!body.contains(secret), "{secret} in {body}");
        }
    }
    drop(conn);
    let db = std::fs::read(e.state.store.path()).unwrap();
    for secret in ["13800138000", "zs@example.cn"] {
        let found = db.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(!found, "{secret} stored");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chief_sees_only_their_grids_requests_in_xml_as_in_json() {
    let e = env();
    let chief = login(&e.app, "chief").await;
    let url = format!("/open311/v2/requests.json?{AUTUMN}");
    let j = get(&e.app, &url, &chief).await.json();
    let x = xml(&get(&e.app, &url.replace(".json", ".xml"), &chief).await);
    let json_ids: Vec<&str> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["service_request_id"].as_str().unwrap())
        .collect();
    let xml_ids: Vec<&str> = x
        .children
        .iter()
        .map(|r| r.child("service_request_id").text.as_str())
        .collect();
    assert!(!json_ids.is_empty());
    assert_eq!(json_ids, xml_ids);
    let conn = rusqlite::Connection::open(e.state.store.path()).unwrap();
    for id in &xml_ids {
        let grid: String = conn
            .query_row(
                "SELECT tier3 FROM events WHERE id = ?1 AND kind = 'issue'",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(grid, e.codes.grid, "{id}");
    }
    // The admin sees more over the same window.
    let admin = login(&e.app, "admin").await;
    let all = xml(&get(&e.app, &url.replace(".json", ".xml"), &admin).await);
    assert!(all.children.len() > xml_ids.len());
    // Another grid's request by id: 404, in XML too.
    let other: String = conn
        .query_row(
            "SELECT id FROM events WHERE tier3 = ?1 AND kind = 'issue' LIMIT 1",
            [&e.codes.other_grid],
            |r| r.get(0),
        )
        .unwrap();
    let r = get(&e.app, &format!("/open311/v2/requests/{other}.xml"), &chief).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(xml(&r).name, "errors");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_needs_no_token_and_lists_the_endpoint_in_both_formats() {
    let e = env();
    let r = send(
        &e.app,
        "GET",
        "/open311/v2/discovery.xml",
        None,
        None,
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let d = xml(&r);
    assert_eq!(d.name, "discovery");
    assert_eq!(
        d.names(),
        ["changeset", "contact", "key_service", "endpoints"]
    );
    let ep = d.child("endpoints").child("endpoint");
    assert_eq!(
        ep.names(),
        ["specification", "url", "changeset", "type", "formats"]
    );
    assert_eq!(
        ep.child("specification").text,
        "http://wiki.open311.org/GeoReport_v2"
    );
    assert_eq!(ep.child("type").text, "production");
    let formats: Vec<&str> = ep
        .child("formats")
        .children
        .iter()
        .map(|f| f.text.as_str())
        .collect();
    assert_eq!(formats, ["text/xml", "application/json"]);
    assert!(d.child("contact").text.contains("网格"));
    let e = env_with(|c| c.open311.url = "https://wangge.xian.gov.cn/open311/v2".into());
    let j = send(
        &e.app,
        "GET",
        "/open311/v2/discovery.json",
        None,
        None,
        Vec::new(),
    )
    .await
    .json();
    assert_eq!(
        keys(&j),
        sorted(["changeset", "contact", "key_service", "endpoints"])
    );
    assert_eq!(
        j["endpoints"][0]["url"],
        "https://wangge.xian.gov.cn/open311/v2"
    );
    assert_eq!(
        j["endpoints"][0]["formats"],
        json!(["text/xml", "application/json"])
    );
}
