//! Black-box tests of the second security review: each closes a hole that a hostile tenant
//! or an outsider could use against the first wave.

use omni_store_postgres::test_db::TestDatabase;
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{Account, TestApp, spawn_app, spawn_app_on};

/// An app whose outbound guard has no exception, as in a real deployment.
async fn guarded_app() -> TestApp {
    let db = TestDatabase::new().await.unwrap();
    let url = db.url().to_owned();
    spawn_app_on(db, &url, |f| {
        f.merge(("outbound.allowed_hosts", Vec::<String>::new()))
    })
    .await
}

async fn vera_integration(app: &TestApp, admin: &Account, base_url: &str) -> (u16, Value) {
    app.call(
        Method::POST,
        "/integrations",
        Some(json!({"type": "vera_ai", "config": {"base_url": base_url, "api_key": "k-123", "model": "vera-large", "timeout_ms": 2000}})),
        &admin.token,
    )
    .await
}

/// Points the company's one Vera integration somewhere else (with its key, as required).
async fn point_vera(app: &TestApp, admin: &Account, id: &Value, base_url: &str) {
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/integrations/{id}"),
            Some(json!({"config": {"base_url": base_url, "api_key": "k-123"}})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn verify(app: &TestApp, admin: &Account, id: &Value) -> Value {
    let (status, answer) = app
        .call(
            Method::POST,
            &format!("/integrations/{id}/verify"),
            None,
            &admin.token,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// A Vera that would answer anyone: reaching it at all is the failure.
async fn open_vera(status: u16) -> MockServer {
    let vera = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(status).set_body_json(
            json!({"object": "list", "data": [{"id": "vera-large", "object": "model"}]}),
        ))
        .mount(&vera)
        .await;
    vera
}

#[tokio::test]
async fn verify_is_no_port_scanner_or_metadata_fetcher() {
    let app = guarded_app().await;
    let admin = app.register().await;
    let vera = open_vera(200).await;
    let port = vera.address().port();
    let pg_port = url_port(&app.db_url);
    let mut answers = Vec::new();
    let (status, created) = vera_integration(&app, &admin, "https://vera.example.com/v1").await;
    assert_eq!(status, 201, "{created}");
    for base_url in [
        format!("http://127.0.0.1:{port}/v1"),
        format!("http://localhost:{port}/v1"),
        format!("http://[::ffff:127.0.0.1]:{port}/v1"),
        format!("http://0x7f000001:{port}/v1"),
        format!("http://127.0.0.1:{pg_port}"),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://10.0.0.1/v1".to_owned(),
        "http://[fd00::1]/v1".to_owned(),
    ] {
        point_vera(&app, &admin, &created["id"], &base_url).await;
        let answer = verify(&app, &admin, &created["id"]).await;
        assert_eq!(answer["ok"], false, "{base_url}: {answer}");
        assert_eq!(answer["outcome"], "unreachable", "{base_url}: {answer}");
        answers.push(answer);
    }
    // Open port, closed port, another service, a cloud metadata address: one answer.
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    assert!(
        vera.received_requests().await.unwrap().is_empty(),
        "the guard let a request through to loopback"
    );
}

#[tokio::test]
async fn verify_tells_only_ok_refused_or_unreachable() {
    // The tests' guard allows loopback, where these fakes listen.
    let app = spawn_app().await;
    let admin = app.register().await;
    let (_, created) = vera_integration(&app, &admin, "https://vera.example.com/v1").await;
    for (status, outcome) in [
        (200, "ok"),
        (401, "refused"),
        (403, "refused"),
        (500, "unreachable"),
        (404, "unreachable"),
        (302, "unreachable"),
    ] {
        let vera = open_vera(status).await;
        point_vera(&app, &admin, &created["id"], &format!("{}/v1", vera.uri())).await;
        let answer = verify(&app, &admin, &created["id"]).await;
        assert_eq!(answer["outcome"], outcome, "{status}: {answer}");
        let detail = answer["detail"].as_str().unwrap();
        assert!(!detail.contains(&status.to_string()), "{status}: {detail}");
    }
    // A redirect is not followed, wherever it points.
    let target = open_vera(200).await;
    let redirecting = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("{}/v1/models", target.uri())),
        )
        .mount(&redirecting)
        .await;
    point_vera(
        &app,
        &admin,
        &created["id"],
        &format!("{}/v1", redirecting.uri()),
    )
    .await;
    assert_eq!(
        verify(&app, &admin, &created["id"]).await["outcome"],
        "unreachable"
    );
    assert!(target.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn moving_a_secret_elsewhere_takes_the_secret_again() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let (_, created) = vera_integration(&app, &admin, "https://vera.example.com/v1").await;
    let path = format!("/integrations/{}", created["id"]);
    let (status, refused) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"config": {"base_url": "https://attacker.example/v1"}})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["errors"][0]["field"], "config.api_key");
    let (status, _) = app.call(Method::GET, &path, None, &admin.token).await;
    assert_eq!(status, 200);
    // Other fields change freely; the address changes with the key.
    let (status, _) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"config": {"model": "vera-small"}})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 200);
    let (status, moved) = app
        .call(
            Method::PUT,
            &path,
            Some(
                json!({"config": {"base_url": "https://vera2.example.com/v1", "api_key": "k-new"}}),
            ),
            &admin.token,
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["config"]["base_url"], "https://vera2.example.com/v1");
}

fn url_port(url: &str) -> u16 {
    url.parse::<tokio_postgres::Config>()
        .ok()
        .and_then(|c| c.get_ports().first().copied())
        .unwrap_or(5432)
}

/// An app behind a proxy on loopback that the operator trusts (as `deploy/` sets it).
async fn app_behind_proxy(extra: impl FnOnce(figment::Figment) -> figment::Figment) -> TestApp {
    let db = TestDatabase::new().await.unwrap();
    let url = db.url().to_owned();
    spawn_app_on(db, &url, |f| {
        extra(f.merge(("http.trusted_proxies", ["127.0.0.1/32"])))
    })
    .await
}

async fn login_from(app: &TestApp, xff: &str, email: &str, password: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/auth/login", app.address))
        .header("x-forwarded-for", xff)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn behind_the_proxy_each_client_has_its_own_login_budget() {
    let app = app_behind_proxy(|f| f.merge(("limits.login_per_minute_per_ip", 5))).await;
    let admin = app.register().await;
    // One person guessing uses up their own address's budget...
    for _ in 0..5 {
        let res = login_from(&app, "203.0.113.7", "nobody@example.com", "guess").await;
        assert_eq!(res.status(), 401);
    }
    assert_eq!(
        login_from(&app, "203.0.113.7", "nobody@example.com", "guess")
            .await
            .status(),
        429
    );
    // ...and nobody else's, although every request comes through the same proxy.
    let res = login_from(&app, "198.51.100.20", &admin.email, &admin.password).await;
    assert_eq!(res.status(), 200);
    // A client cannot buy a fresh budget by writing its own X-Forwarded-For: the proxy
    // appends the real address, and only the right-most untrusted hop counts.
    let res = login_from(&app, "1.2.3.4, 203.0.113.7", "nobody@example.com", "guess").await;
    assert_eq!(res.status(), 429);
    // IPv6 clients are one client per /64.
    for n in 0..5 {
        let xff = format!("2001:db8:7:7::{n:x}");
        assert_eq!(
            login_from(&app, &xff, "nobody@example.com", "guess")
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        login_from(&app, "2001:db8:7:7:ffff::1", "nobody@example.com", "guess")
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let db = TestDatabase::new().await.unwrap();
    let url = db.url().to_owned();
    let app = spawn_app_on(db, &url, |f| f.merge(("limits.login_per_minute_per_ip", 3))).await;
    for n in 0..3 {
        let xff = format!("203.0.113.{n}");
        assert_eq!(
            login_from(&app, &xff, "nobody@example.com", "guess")
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        login_from(&app, "198.51.100.99", "nobody@example.com", "guess")
            .await
            .status(),
        429,
        "a spoofed header must not reset the budget"
    );
}

#[tokio::test]
async fn an_outsider_cannot_lock_a_known_account_out() {
    let app = app_behind_proxy(|f| f.merge(("limits.login_free_failures", 3))).await;
    let admin = app.register().await;
    for _ in 0..3 {
        assert_eq!(
            login_from(&app, "203.0.113.7", &admin.email, "guess")
                .await
                .status(),
            401
        );
    }
    let res = login_from(&app, "203.0.113.7", &admin.email, &admin.password).await;
    assert_eq!(
        res.status(),
        429,
        "the guesser backs off, even with the right password"
    );
    assert_eq!(res.headers()["retry-after"], "1");
    // The owner, from their own address, is not locked out.
    let res = login_from(&app, "198.51.100.20", &admin.email, &admin.password).await;
    assert_eq!(res.status(), 200);
    // After the wait the guesser may try again, and the next failure waits twice as long.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        login_from(&app, "203.0.113.7", &admin.email, "guess")
            .await
            .status(),
        401
    );
    let res = login_from(&app, "203.0.113.7", &admin.email, "guess").await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "2");
}
