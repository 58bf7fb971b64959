//! Black-box tests of the second security review: each closes a hole that a hostile tenant
//! or an outsider could use against the first wave.

use omni_core::JobId;
use omni_messaging::{JobKind, JobQueue as _};
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

async fn profile_status(app: &TestApp, token: &str) -> u16 {
    app.call(Method::GET, "/auth/profile", None, token).await.0
}

#[tokio::test]
async fn a_changed_password_email_or_role_ends_the_users_sessions() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let path = format!("/users/{}", admin.id());

    // Changing one's own password takes the current one.
    let (status, body) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"password": "a new password 1"})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "current_password");
    let (status, body) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"password": "a new password 1", "current_password": "not it at all"})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        profile_status(&app, &admin.token).await,
        200,
        "a refused change ends nothing"
    );
    let second = login_token(&app, &admin.email, &admin.password).await;
    let (status, body) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"password": "a new password 1", "current_password": admin.password})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(profile_status(&app, &admin.token).await, 401);
    assert_eq!(
        profile_status(&app, &second).await,
        401,
        "every session ends"
    );
    let fresh = login_token(&app, &admin.email, "a new password 1").await;
    assert_eq!(profile_status(&app, &fresh).await, 200);

    // The e-mail too.
    let (status, _) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"email": format!("x{}", admin.email), "current_password": "a new password 1"})),
            &fresh,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(profile_status(&app, &fresh).await, 401);
    let admin_token = login_token(&app, &format!("x{}", admin.email), "a new password 1").await;

    // An admin changing an agent's role or password ends the agent's sessions; a rename
    // does not.
    let agent = app
        .add_user(&admin_with(&admin, &admin_token), "agent")
        .await;
    let agent_path = format!("/users/{}", agent.id());
    let (status, _) = app
        .call(
            Method::PUT,
            &agent_path,
            Some(json!({"name": "Renamed"})),
            &admin_token,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(profile_status(&app, &agent.token).await, 200);
    let (status, _) = app
        .call(
            Method::PUT,
            &agent_path,
            Some(json!({"role": "admin"})),
            &admin_token,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(profile_status(&app, &agent.token).await, 401);
    let again = login_token(&app, &agent.email, &agent.password).await;
    let (status, _) = app
        .call(
            Method::PUT,
            &agent_path,
            Some(json!({"password": "reset by admin"})),
            &admin_token,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(profile_status(&app, &again).await, 401);

    // Deleted: gone at once.
    let doomed = app
        .add_user(&admin_with(&admin, &admin_token), "agent")
        .await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/users/{}", doomed.id()),
            None,
            &admin_token,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(profile_status(&app, &doomed.token).await, 401);
}

fn admin_with(admin: &Account, token: &str) -> Account {
    Account {
        token: token.to_owned(),
        ..admin.clone()
    }
}

async fn login_token(app: &TestApp, email: &str, password: &str) -> String {
    let res = app.login(email, password).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn logout_ends_this_token_and_logout_all_every_one() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let other = login_token(&app, &admin.email, &admin.password).await;
    let third = login_token(&app, &admin.email, &admin.password).await;
    let (status, _) = app
        .call(Method::POST, "/auth/logout", None, &admin.token)
        .await;
    assert_eq!(status, 204);
    assert_eq!(profile_status(&app, &admin.token).await, 401);
    assert_eq!(
        profile_status(&app, &other).await,
        200,
        "other sessions go on"
    );
    let (status, _) = app
        .call(Method::POST, "/auth/logout", None, &admin.token)
        .await;
    assert_eq!(status, 401, "a logged-out token cannot log out again");
    let (status, _) = app
        .call(Method::POST, "/auth/logout-all", None, &other)
        .await;
    assert_eq!(status, 204);
    assert_eq!(profile_status(&app, &other).await, 401);
    assert_eq!(profile_status(&app, &third).await, 401);
    let fresh = login_token(&app, &admin.email, &admin.password).await;
    assert_eq!(profile_status(&app, &fresh).await, 200, "new logins work");
}

#[tokio::test]
async fn a_company_keeps_at_least_one_admin() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let root = app.superadmin().await;
    let path = format!("/users/{}", admin.id());
    let (status, body) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"role": "agent"})),
            &root.token,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = app.call(Method::DELETE, &path, None, &root.token).await;
    assert_eq!(status, 409);
    // With a second admin, either may go — but not both, even at the same time.
    let second = app.add_user(&admin, "admin").await;
    let second_path = format!("/users/{}", second.id());
    let demote_second = app.call(
        Method::PUT,
        &second_path,
        Some(json!({"role": "agent"})),
        &root.token,
    );
    let delete_first = app.call(Method::DELETE, &path, None, &root.token);
    let ((a, _), (b, _)) = tokio::join!(demote_second, delete_first);
    assert!(
        (a == 200 && b == 409) || (a == 409 && b == 204),
        "one change goes through, the other is refused: {a} {b}"
    );
    let sql = app.sql().await;
    let company = admin.company_id();
    let admins: i64 = sql
        .query_one(
            "SELECT count(*) FROM users WHERE company_id = $1 AND role = 'admin'",
            &[&company],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(admins, 1);
}

mod ws_sessions {
    use std::time::Duration;

    use futures_util::StreamExt as _;
    use tokio_tungstenite::connect_async;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    use super::*;

    fn ws_url(app: &TestApp, query: &str) -> String {
        format!("{}/ws?{query}", app.address.replace("http://", "ws://"))
    }

    async fn ticket(app: &TestApp, token: &str) -> String {
        let (status, body) = app.call(Method::POST, "/ws/ticket", None, token).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["expires_in"], 30);
        body["ticket"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn a_ticket_opens_one_socket_once() {
        let app = spawn_app().await;
        let admin = app.register().await;
        let t = ticket(&app, &admin.token).await;
        let (mut ws, _) = connect_async(ws_url(&app, &format!("ticket={t}")))
            .await
            .expect("the ticket opens a socket");
        let hello = ws.next().await.unwrap().unwrap();
        assert!(hello.to_text().unwrap().contains("hello"));
        let again = connect_async(ws_url(&app, &format!("ticket={t}"))).await;
        match again {
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                assert_eq!(res.status(), 401)
            }
            other => panic!("a used ticket must be refused: {:?}", other.map(|_| ())),
        }
        for bad in ["ticket=", "ticket=nonsense", "since=1"] {
            match connect_async(ws_url(&app, bad)).await {
                Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                    assert_eq!(res.status(), 401, "{bad}")
                }
                other => panic!("{bad}: {:?}", other.map(|_| ())),
            }
        }
        // A ticket outlives nothing: logging out makes an unused one worthless.
        let t = ticket(&app, &admin.token).await;
        let (status, _) = app
            .call(Method::POST, "/auth/logout", None, &admin.token)
            .await;
        assert_eq!(status, 204);
        assert!(
            connect_async(ws_url(&app, &format!("ticket={t}")))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn an_open_socket_is_closed_with_4001_when_its_session_ends() {
        let db = TestDatabase::new().await.unwrap();
        let url = db.url().to_owned();
        let app = spawn_app_on(db, &url, |f| f.merge(("ws.ping_interval_secs", 1))).await;
        let admin = app.register().await;
        let t = ticket(&app, &admin.token).await;
        let (mut by_ticket, _) = connect_async(ws_url(&app, &format!("ticket={t}")))
            .await
            .unwrap();
        let (mut by_token, _) = connect_async(ws_url(&app, &format!("token={}", admin.token)))
            .await
            .unwrap();
        let (status, _) = app
            .call(Method::POST, "/auth/logout-all", None, &admin.token)
            .await;
        assert_eq!(status, 204);
        for ws in [&mut by_ticket, &mut by_token] {
            let code = tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Close(Some(frame)))) => return Some(frame.code),
                        Some(Ok(_)) => continue,
                        _ => return None,
                    }
                }
            })
            .await
            .expect("the server closes the socket within a heartbeat or two");
            assert_eq!(code, Some(CloseCode::from(4001)));
        }
    }

    #[tokio::test]
    async fn credentials_in_the_url_never_reach_the_logs() {
        let logs = LogBuffer::default();
        let sink = logs.clone();
        omni_server::telemetry::init(
            &omni_server::config::LogConfig {
                format: omni_server::config::LogFormat::Json,
                // The test's own WebSocket client logs its handshake; the server is judged.
                level: "trace,tungstenite=off,tokio_tungstenite=off".into(),
            },
            move || sink.clone(),
        );
        let app = spawn_app().await;
        let admin = app.register().await;
        let t = ticket(&app, &admin.token).await;
        let (ws, _) = connect_async(ws_url(&app, &format!("ticket={t}&since=0")))
            .await
            .unwrap();
        drop(ws);
        let (ws, _) = connect_async(ws_url(&app, &format!("token={}", admin.token)))
            .await
            .unwrap();
        drop(ws);
        // A wrong one is logged too (with its 401): redacted all the same.
        let _ = connect_async(ws_url(&app, "ticket=not-a-real-ticket-value")).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert!(
            logs.contains("/ws?ticket=[redacted]&since=0"),
            "the request is logged"
        );
        for secret in [t.as_str(), admin.token.as_str(), "not-a-real-ticket-value"] {
            let line = logs
                .lines()
                .find(|l| l.contains(secret))
                .unwrap_or_default();
            assert!(!logs.contains(secret), "a log line holds {secret}: {line}");
        }
    }

    /// A log sink the test can read.
    #[derive(Clone, Default)]
    struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for LogBuffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}

mod webhooks {
    use super::*;
    use crate::messages::{count, customer, inbound, post_webhook, setup_configured, ticket_of};

    fn sid(n: u32) -> String {
        format!("SM{n:032x}")
    }

    #[tokio::test]
    async fn forgeries_spend_no_quota_of_the_victims_integration() {
        let s = setup_configured(false, |f| {
            f.merge(("limits.webhooks_per_minute_per_integration", 3))
                .merge(("limits.invalid_webhooks_per_minute_per_ip", 0))
        })
        .await;
        let who = customer();
        for n in 0..20 {
            let forged = inbound(&who, "forged", &sid(n));
            let res = post_webhook(&s, &forged, Some("bm90IGEgc2lnbmF0dXJl")).await;
            assert_eq!(res.status(), 403);
        }
        for n in 100..103 {
            let real = inbound(&who, "real", &sid(n));
            assert_eq!(
                post_webhook(&s, &real, None).await.status(),
                200,
                "Twilio's delivery {n}"
            );
        }
        // The quota still holds for valid webhooks.
        assert_eq!(
            post_webhook(&s, &inbound(&who, "real", &sid(200)), None)
                .await
                .status(),
            429
        );
        assert_eq!(
            count(
                &s,
                "SELECT count(*) FROM ticket_messages WHERE content = 'forged'"
            )
            .await,
            0
        );
    }

    #[tokio::test]
    async fn an_unknown_number_and_a_bad_signature_get_the_same_answer() {
        let s = setup_configured(false, |f| f).await;
        let who = customer();
        let forged = inbound(&who, "oi", &sid(1));
        let bad_signature = post_webhook(&s, &forged, Some("bm90IGEgc2lnbmF0dXJl")).await;
        let mut unknown = inbound(&who, "oi", &sid(2));
        for (k, v) in unknown.iter_mut() {
            if k == "To" {
                *v = "whatsapp:+14155550000".into();
            }
        }
        let unknown_number = post_webhook(&s, &unknown, None).await;
        let (a, b) = (bad_signature.status(), unknown_number.status());
        assert_eq!((a.as_u16(), b.as_u16()), (403, 403));
        let (a, b) = (
            bad_signature.text().await.unwrap(),
            unknown_number.text().await.unwrap(),
        );
        assert_eq!(a, b, "the bodies tell nothing apart");
    }

    #[tokio::test]
    async fn invalid_webhooks_are_limited_per_client_address() {
        let s = setup_configured(false, |f| {
            f.merge(("limits.invalid_webhooks_per_minute_per_ip", 3))
        })
        .await;
        let who = customer();
        for n in 0..3 {
            let forged = inbound(&who, "forged", &sid(n));
            assert_eq!(
                post_webhook(&s, &forged, Some("bm90IGEgc2lnbmF0dXJl"))
                    .await
                    .status(),
                403
            );
        }
        let res = post_webhook(
            &s,
            &inbound(&who, "forged", &sid(9)),
            Some("bm90IGEgc2lnbmF0dXJl"),
        )
        .await;
        assert_eq!(res.status(), 429);
        assert!(res.headers().contains_key("retry-after"));
        // Twilio's real deliveries are never refused for someone else's forgeries.
        assert_eq!(
            post_webhook(&s, &inbound(&who, "real", &sid(10)), None)
                .await
                .status(),
            200
        );
    }

    #[tokio::test]
    async fn a_signed_body_that_is_not_utf8_is_a_bad_request_and_stores_nothing() {
        let s = setup_configured(false, |f| f).await;
        let who = customer();
        let form = inbound(&who, "PLACEHOLDER", &sid(1));
        let mut raw: Vec<(Vec<u8>, Vec<u8>)> = form
            .iter()
            .map(|(k, v)| (k.clone().into_bytes(), v.clone().into_bytes()))
            .collect();
        for (k, v) in raw.iter_mut() {
            if k == b"Body" {
                *v = b"caf\xe9".to_vec(); // Latin-1, not UTF-8
            }
        }
        let url = "https://omni.test/ticket-messages/webhook";
        let signature = omni_twilio::SignatureValidator::new(&s.token).compute(
            url,
            &raw,
            omni_twilio::SignatureAlgorithm::HmacSha1,
        );
        let body: String = form
            .iter()
            .map(|(k, v)| {
                let v = if k == "Body" {
                    "caf%E9".to_owned()
                } else {
                    form_urlencoded::byte_serialize(v.as_bytes()).collect()
                };
                format!("{k}={v}")
            })
            .collect::<Vec<_>>()
            .join("&");
        let res = s
            .app
            .client
            .post(format!("{}/ticket-messages/webhook", s.app.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", signature)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let problem: Value = res.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains("UTF-8"),
            "{problem}"
        );
        assert_eq!(count(&s, "SELECT count(*) FROM ticket_messages").await, 0);
    }

    async fn reply_with_key(
        s: &crate::messages::Setup,
        token: &str,
        ticket: &Value,
        key: &str,
    ) -> (u16, Value) {
        let res = s
            .app
            .client
            .post(format!("{}/ticket-messages", s.app.address))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&json!({"ticket_id": ticket["id"], "content": "resposta"}))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }

    #[tokio::test]
    async fn idempotency_keys_belong_to_one_author_and_one_ticket() {
        let s = setup_configured(false, |f| f).await;
        let (one, two) = (customer(), customer());
        post_webhook(&s, &inbound(&one, "oi", &sid(1)), None).await;
        post_webhook(&s, &inbound(&two, "oi", &sid(2)), None).await;
        let (a, b) = (ticket_of(&s, &one).await, ticket_of(&s, &two).await);
        let admin = &s.admin.token;
        let (status, first) = reply_with_key(&s, admin, &a, "k-1").await;
        assert_eq!(status, 201, "{first}");
        let (status, again) = reply_with_key(&s, admin, &a, "k-1").await;
        assert_eq!(
            (status, &again["id"]),
            (201, &first["id"]),
            "a retry replays"
        );
        let (status, other_ticket) = reply_with_key(&s, admin, &b, "k-1").await;
        assert_eq!(
            status, 409,
            "never another ticket's message: {other_ticket}"
        );
        assert_ne!(other_ticket["id"], first["id"]);
        // Another agent's key is another request, even spelled the same.
        let agent = s.app.add_user(&s.admin, "agent").await;
        let (status, theirs) = reply_with_key(&s, &agent.token, &a, "k-1").await;
        assert_eq!(status, 201, "{theirs}");
        assert_ne!(theirs["id"], first["id"]);
        // A client cannot write Omni's own keys (the automatic reply's).
        let auto = format!("auto-reply:{}", b["id"]);
        let (status, _) = reply_with_key(&s, admin, &b, &auto).await;
        assert_eq!(status, 201);
        let (status, _) = reply_with_key(&s, admin, &b, &format!("sys:{auto}")).await;
        assert_eq!(status, 201);
        assert_eq!(
            count(
                &s,
                "SELECT count(*) FROM ticket_messages WHERE idempotency_key LIKE 'sys:%'"
            )
            .await,
            0
        );
        // Racing retries of one request store one message.
        let (x, y) = tokio::join!(
            reply_with_key(&s, admin, &b, "race"),
            reply_with_key(&s, admin, &b, "race")
        );
        assert_eq!((x.0, y.0), (201, 201));
        assert_eq!(x.1["id"], y.1["id"]);
    }

    #[tokio::test]
    async fn a_hanging_vera_delays_no_reply() {
        let s = setup_configured(true, |f| f.merge(("worker.triage_concurrency", 1))).await;
        let vera = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(15)))
            .mount(&vera)
            .await;
        let (status, body) =
            vera_integration(&s.app, &s.admin, &format!("{}/v1", vera.uri())).await;
        assert_eq!(status, 201, "{body}");
        // Two new tickets: triage's only slot hangs on Vera, the second waits behind it.
        let (one, two) = (customer(), customer());
        post_webhook(&s, &inbound(&one, "oi", &sid(1)), None).await;
        post_webhook(&s, &inbound(&two, "oi", &sid(2)), None).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let ticket = ticket_of(&s, &one).await;
        let (status, reply) = reply_with_key(&s, &s.admin.token, &ticket, "now").await;
        assert_eq!(status, 201, "{reply}");
        let started = std::time::Instant::now();
        loop {
            let sent = s
                .twilio
                .received_requests()
                .await
                .unwrap_or_default()
                .iter()
                .any(|r| r.url.path().ends_with("/Messages.json"));
            if sent {
                break;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "the reply waited behind triage"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(
            !vera.received_requests().await.unwrap().is_empty(),
            "triage was indeed stuck on Vera"
        );
    }
}

#[tokio::test]
async fn password_hashing_is_bounded_and_the_overflow_waits_elsewhere() {
    let db = TestDatabase::new().await.unwrap();
    let url = db.url().to_owned();
    let app = spawn_app_on(db, &url, |f| {
        f.merge(("auth.max_concurrent_hashes", 1))
            .merge(("auth.hash_wait_ms", 1))
            .merge(("limits.login_per_minute_per_ip", 0))
            .merge(("limits.login_free_failures", 0))
    })
    .await;
    let logins = (0..12).map(|n| {
        let app = &app;
        async move {
            let res = app
                .login(&format!("nobody{n}@example.com"), "some password")
                .await;
            let retry = res.headers().get("retry-after").cloned();
            (res.status().as_u16(), retry)
        }
    });
    let answers = futures_util::future::join_all(logins).await;
    assert!(
        answers.iter().all(|(s, _)| *s == 401 || *s == 503),
        "{answers:?}"
    );
    assert!(
        answers.iter().any(|(s, _)| *s == 401),
        "some get their turn: {answers:?}"
    );
    let refused: Vec<_> = answers.iter().filter(|(s, _)| *s == 503).collect();
    assert!(
        !refused.is_empty(),
        "one hash at a time: the rest are refused, {answers:?}"
    );
    assert!(
        refused.iter().all(|(_, retry)| retry.is_some()),
        "{answers:?}"
    );
}

#[tokio::test]
async fn metrics_live_on_their_own_listener_or_behind_a_token() {
    let app = spawn_app().await;
    assert_eq!(
        app.get("/metrics").await.status(),
        404,
        "not on the public listener"
    );
    assert!(app.scrape().await.contains("omni_db_pool_connections"));
    // Invented methods collapse into one label value.
    for verb in ["FOO", "BAR", "BAZ"] {
        let method = reqwest::Method::from_bytes(verb.as_bytes()).unwrap();
        app.client
            .request(method, format!("{}/health/live", app.address))
            .send()
            .await
            .unwrap();
    }
    let body = app.scrape().await;
    assert!(body.contains("method=\"OTHER\""), "{body}");
    for verb in ["FOO", "BAR", "BAZ"] {
        assert!(!body.contains(&format!("method=\"{verb}\"")), "{verb}");
    }

    let token = "a-metrics-token-of-at-least-32-chars!";
    let db = TestDatabase::new().await.unwrap();
    let url = db.url().to_owned();
    let with_token = spawn_app_on(db, &url, |f| f.merge(("metrics.token", token))).await;
    let scrape = |bearer: Option<&str>| {
        let mut req = with_token
            .client
            .get(format!("{}/metrics", with_token.address));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        req.send()
    };
    assert_eq!(scrape(None).await.unwrap().status(), 401);
    assert_eq!(scrape(Some("wrong")).await.unwrap().status(), 401);
    let ok = scrape(Some(token)).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(
        ok.text()
            .await
            .unwrap()
            .contains("omni_db_pool_connections")
    );
}

#[tokio::test]
async fn dead_jobs_are_pruned_after_their_retention() {
    let app = spawn_app().await;
    let sql = app.sql().await;
    sql.batch_execute(
        "INSERT INTO jobs (kind, payload, status, updated_at) VALUES
           ('triage', '{}', 'dead', now()),
           ('triage', '{}', 'queued', now());
         ALTER TABLE jobs DISABLE TRIGGER jobs_touch_updated_at;
         INSERT INTO jobs (kind, payload, status) VALUES ('triage', '{}', 'dead'), ('message.send', '{}', 'dead');
         UPDATE jobs SET updated_at = now() - interval '2 days' WHERE status = 'dead' AND id > (SELECT min(id) + 1 FROM jobs);
         ALTER TABLE jobs ENABLE TRIGGER jobs_touch_updated_at;",
    )
    .await
    .unwrap();
    let queue = omni_store_postgres::PgJobQueue::new(
        omni_store_postgres::Database::new(app.config.database.clone()).unwrap(),
    );
    let pruned = queue
        .prune_finished(std::time::Duration::from_secs(24 * 3600))
        .await
        .unwrap();
    assert_eq!(pruned, 2);
    let left: i64 = sql
        .query_one("SELECT count(*) FROM jobs", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 2, "the recent dead job and the queued one stay");
}

#[tokio::test]
async fn one_company_cannot_hold_every_job_slot() {
    let db = TestDatabase::new().await.unwrap();
    let url = db.url().to_owned();
    let app = spawn_app_on(db, &url, |f| f.merge(("worker.enabled", false))).await;
    let (a, b) = (app.register().await, app.register().await);
    let sql = app.sql().await;
    for (company, n) in [(a.company_id(), 10), (b.company_id(), 2)] {
        for k in 0..n {
            sql.execute(
                "INSERT INTO jobs (company_id, kind, payload, dedupe_key) VALUES ($1, 'triage', '{}', $2)",
                &[&company, &format!("cap-{company}-{k}")],
            )
            .await
            .unwrap();
        }
    }
    let queue = omni_store_postgres::PgJobQueue::new(
        omni_store_postgres::Database::new(app.config.database.clone()).unwrap(),
    );
    let lease = std::time::Duration::from_secs(60);
    let first = queue.claim(&[JobKind::Triage], 8, lease, 3).await.unwrap();
    let running = |company: i64| {
        let sql = &sql;
        async move {
            let n: i64 = sql
                .query_one(
                    "SELECT count(*) FROM jobs WHERE company_id = $1 AND status = 'running'",
                    &[&company],
                )
                .await
                .unwrap()
                .get(0);
            n
        }
    };
    assert_eq!(first.len(), 5, "three of A's, both of B's");
    assert_eq!(
        (running(a.company_id()).await, running(b.company_id()).await),
        (3, 2)
    );
    let second = queue.claim(&[JobKind::Triage], 8, lease, 3).await.unwrap();
    assert!(second.is_empty(), "A is at its cap while its jobs run");
    // A running job's lease is renewed; once one finishes, A gets a slot back.
    let a_job: i64 = sql
        .query_one(
            "SELECT id FROM jobs WHERE company_id = $1 AND status = 'running' LIMIT 1",
            &[&a.company_id()],
        )
        .await
        .unwrap()
        .get(0);
    let a_job = JobId::new(a_job);
    assert!(queue.extend(a_job, 1, lease).await.unwrap());
    queue.complete(&[a_job]).await.unwrap();
    let third = queue.claim(&[JobKind::Triage], 8, lease, 3).await.unwrap();
    assert_eq!(third.len(), 1);
}
