use std::io::Write as _;
use std::sync::{Arc, Mutex};

use omni_server::config::{LogConfig, LogFormat};
use omni_store_postgres::test_db::TestDatabase;
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{Account, TestApp, spawn_app_on, unique};

const SID: &str = "AC0123456789abcdef0123456789abcdef";

fn phone() -> String {
    let n: u64 = u64::from_str_radix(&unique()[..7], 16).unwrap() % 10_000_000;
    format!("+1555{n:07}")
}

fn twilio(token: &str, phone: &str) -> Value {
    json!({"type": "twilio_whatsapp", "config": {"account_sid": SID, "auth_token": token, "phone_number": phone}})
}

async fn create(app: &TestApp, admin: &Account, body: Value) -> (u16, Value) {
    app.call(Method::POST, "/integrations", Some(body), &admin.token)
        .await
}

/// A Twilio that knows one account and one auth token.
async fn fake_twilio(token: &str) -> MockServer {
    let twilio = MockServer::start().await;
    crate::helpers::twilio_owns_numbers(&twilio).await;
    let basic = format!("Basic {}", base64_encode(&format!("{SID}:{token}")));
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{SID}.json")))
        .and(wiremock::matchers::header("authorization", basic.as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"sid": SID, "friendly_name": "Acme", "status": "active"})),
        )
        .mount(&twilio)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401
        })))
        .mount(&twilio)
        .await;
    twilio
}

fn base64_encode(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn app_with_twilio(twilio: &MockServer) -> TestApp {
    let db = TestDatabase::new().await.unwrap();
    let url = db.url().to_owned();
    let base = twilio.uri();
    spawn_app_on(db, &url, move |f| f.merge(("twilio.api_base_url", base))).await
}

#[tokio::test]
async fn an_admin_manages_integrations_and_never_sees_a_secret() {
    let token = format!("tok{}", unique());
    let fake = fake_twilio(&token).await;
    let app = app_with_twilio(&fake).await;
    let admin = app.register().await;
    let number = phone();

    let (status, created) = create(&app, &admin, twilio(&token, &number)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["type"], "twilio_whatsapp");
    assert_eq!(created["company_id"], admin.company_id());
    assert_eq!(created["config"]["account_sid"], SID);
    assert_eq!(created["config"]["phone_number"], number);
    assert_eq!(created["secrets_set"], json!(["auth_token"]));
    assert_eq!(created["enabled"], true);
    assert!(!created.to_string().contains(&token));
    let path = format!("/integrations/{}", created["id"]);

    let (_, list) = app
        .call(Method::GET, "/integrations", None, &admin.token)
        .await;
    assert_eq!(list["data"], json!([created.clone()]));
    assert_eq!(
        app.call(Method::GET, &path, None, &admin.token).await.1,
        created
    );

    let (_, ok) = app
        .call(Method::POST, &format!("{path}/verify"), None, &admin.token)
        .await;
    assert_eq!(
        ok,
        json!({"ok": true, "outcome": "ok", "detail": "account “Acme” is active"})
    );

    // Changing the number keeps the token; disabling keeps everything else.
    let other = phone();
    let (status, moved) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"config": {"phone_number": other}, "enabled": false})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["config"]["phone_number"], other);
    assert_eq!(moved["config"]["account_sid"], SID);
    assert_eq!(moved["enabled"], false);
    assert_eq!(moved["secrets_set"], json!(["auth_token"]));
    assert_eq!(
        app.call(Method::POST, &format!("{path}/verify"), None, &admin.token)
            .await
            .1["ok"],
        true
    );

    // A wrong token: Twilio's reason, not a 500.
    let (status, _) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"config": {"auth_token": "wrong"}})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 200);
    let (status, refused) = app
        .call(Method::POST, &format!("{path}/verify"), None, &admin.token)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        refused,
        json!({"ok": false, "outcome": "refused", "detail": "Twilio error 20003: Authenticate"})
    );

    assert_eq!(
        app.call(Method::DELETE, &path, None, &admin.token).await.0,
        204
    );
    assert_eq!(
        app.call(Method::GET, &path, None, &admin.token).await.0,
        404
    );
}

#[tokio::test]
async fn bad_configurations_name_their_field() {
    let fake = fake_twilio("t").await;
    let app = app_with_twilio(&fake).await;
    let admin = app.register().await;
    let cases = [
        (
            json!({"type": "twilio_sms", "config": {"account_sid": "AC123", "auth_token": "t", "phone_number": phone()}}),
            "config.account_sid",
        ),
        (
            json!({"type": "twilio_sms", "config": {"account_sid": SID, "auth_token": "t", "phone_number": "5511999"}}),
            "config.phone_number",
        ),
        (
            json!({"type": "twilio_sms", "config": {"account_sid": SID, "phone_number": phone()}}),
            "config.auth_token",
        ),
        (
            json!({"type": "twilio_sms", "config": {"account_sid": SID, "auth_token": "t", "phone_number": phone(), "messaging_service_sid": "MG1"}}),
            "config.messaging_service_sid",
        ),
        (
            json!({"type": "twilio_sms", "config": {"account_sid": SID, "auth_token": "t", "phone_number": phone(), "sender": "x"}}),
            "config.sender",
        ),
        (json!({"type": "telegram", "config": {}}), "type"),
        (
            json!({"type": "vera_ai", "config": {"base_url": "ftp://x", "api_key": "k", "model": "m"}}),
            "config.base_url",
        ),
        (
            json!({"type": "vera_ai", "config": {"base_url": "https://vera.test", "api_key": "k", "model": "m", "timeout_ms": 0}}),
            "config.timeout_ms",
        ),
        (json!({"type": "vera_ai", "config": "nope"}), "config"),
        (
            json!({"type": "vera_ai", "config": {"base_url": "https://vera.test/\u{0}x", "api_key": "k", "model": "m"}}),
            "config.base_url",
        ),
        (
            json!({"type": "vera_ai", "config": {"base_url": "https://vera.test", "api_key": "k", "model": "m\u{0}"}}),
            "config.model",
        ),
    ];
    for (body, field) in cases {
        let (status, problem) = create(&app, &admin, body.clone()).await;
        assert_eq!(status, 422, "{body}: {problem}");
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{body}: {fields:?}");
    }
    let (_, created) = create(&app, &admin, twilio("t", &phone())).await;
    let (status, problem) = app
        .call(
            Method::PUT,
            &format!("/integrations/{}", created["id"]),
            Some(json!({"type": "vera_ai"})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["field"], "type");
}

#[tokio::test]
async fn a_phone_number_belongs_to_one_integration_across_companies() {
    let fake = fake_twilio("t").await;
    let app = app_with_twilio(&fake).await;
    let a = app.register().await;
    let b = app.register().await;
    let number = phone();
    assert_eq!(create(&app, &a, twilio("t1", &number)).await.0, 201);
    let (status, problem) = create(&app, &b, twilio("t2", &number)).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(create(&app, &a, twilio("t3", &number)).await.0, 409);
    // One Vera AI configuration per company.
    let vera = json!({"type": "vera_ai", "config": {"base_url": "https://vera.test/v1", "api_key": "k", "model": "m"}});
    assert_eq!(create(&app, &a, vera.clone()).await.0, 201);
    assert_eq!(create(&app, &a, vera).await.0, 409);
}

#[tokio::test]
async fn agents_get_403_and_other_companies_404() {
    let fake = fake_twilio("t").await;
    let app = app_with_twilio(&fake).await;
    let a = app.register().await;
    let agent = app.add_user(&a, "agent").await;
    let b = app.register().await;
    let (_, ours) = create(&app, &a, twilio("ta", &phone())).await;
    let (_, theirs) = create(&app, &b, twilio("tb", &phone())).await;
    let ours = format!("/integrations/{}", ours["id"]);
    let theirs_path = format!("/integrations/{}", theirs["id"]);

    assert_eq!(
        app.call(Method::GET, "/integrations", None, &agent.token)
            .await
            .0,
        403
    );
    assert_eq!(create(&app, &agent, twilio("x", &phone())).await.0, 403);
    for (m, body) in [
        (Method::GET, None),
        (Method::PUT, Some(json!({"enabled": false}))),
        (Method::DELETE, None),
    ] {
        assert_eq!(
            app.call(m.clone(), &ours, body.clone(), &agent.token)
                .await
                .0,
            403
        );
        assert_eq!(app.call(m, &theirs_path, body, &a.token).await.0, 404);
    }
    assert_eq!(
        app.call(
            Method::POST,
            &format!("{theirs_path}/verify"),
            None,
            &a.token
        )
        .await
        .0,
        404
    );
    let (_, list) = app.call(Method::GET, "/integrations", None, &a.token).await;
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["company_id"] == a.company_id())
    );
    assert_eq!(
        app.call(Method::GET, &theirs_path, None, &b.token).await.1,
        theirs,
        "B's integration is untouched"
    );
}

/// A log sink the test can read.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn pg_dump() -> String {
    let mut candidates: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| {
            dirs.flatten()
                .map(|d| d.path().join("bin/pg_dump"))
                .filter(|p| p.exists())
                .collect()
        })
        .unwrap_or_default();
    candidates.sort();
    candidates
        .pop()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "pg_dump".to_owned())
}

#[tokio::test]
async fn plaintext_secrets_appear_in_no_response_log_or_database_dump() {
    // Every log line of this process, at the most verbose level.
    let logs = LogBuffer::default();
    let sink = logs.clone();
    omni_server::telemetry::init(
        &LogConfig {
            format: LogFormat::Json,
            level: "trace".into(),
        },
        move || sink.clone(),
    );

    let token = format!("twilio-token-{}", unique());
    let api_key = format!("vera-key-{}", unique());
    let twilio_fake = fake_twilio(&token).await;
    let app = app_with_twilio(&twilio_fake).await;
    let admin = app.register().await;
    let mut responses = String::new();

    let (_, t) = create(&app, &admin, twilio(&token, &phone())).await;
    responses.push_str(&t.to_string());
    let vera = json!({"type": "vera_ai", "config": {"base_url": "http://127.0.0.1:1/v1", "api_key": api_key, "model": "m"}});
    let (_, v) = create(&app, &admin, vera).await;
    responses.push_str(&v.to_string());
    for path in [
        "/integrations".to_owned(),
        format!("/integrations/{}", t["id"]),
        format!("/integrations/{}", v["id"]),
    ] {
        responses.push_str(
            &app.call(Method::GET, &path, None, &admin.token)
                .await
                .1
                .to_string(),
        );
    }
    for id in [&t["id"], &v["id"]] {
        responses.push_str(
            &app.call(
                Method::POST,
                &format!("/integrations/{id}/verify"),
                None,
                &admin.token,
            )
            .await
            .1
            .to_string(),
        );
        let (_, updated) = app
            .call(
                Method::PUT,
                &format!("/integrations/{id}"),
                Some(json!({"config": {"nonsense": token}})),
                &admin.token,
            )
            .await;
        responses.push_str(&updated.to_string());
    }

    let dump = std::process::Command::new(pg_dump())
        .arg(&app.db_url)
        .output()
        .expect("pg_dump runs");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8(dump.stdout).unwrap();
    assert!(dump.contains(SID), "the dump holds the integrations");

    std::io::stdout().flush().unwrap();
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("/integrations"), "the logs saw the requests");
    assert!(
        logs.contains(&format!("\"company_id\":{}", admin.company_id())),
        "request logs name the tenant"
    );
    assert!(
        logs.contains(&format!("\"user_id\":{}", admin.id())),
        "request logs name the user"
    );
    for secret in [&token, &api_key] {
        assert!(
            !responses.contains(secret.as_str()),
            "a response shows {secret}"
        );
        assert!(
            !dump.contains(secret.as_str()),
            "the database dump shows {secret}"
        );
        assert!(!logs.contains(secret.as_str()), "a log line shows {secret}");
    }
}

#[tokio::test]
async fn a_company_cannot_claim_a_number_its_twilio_account_does_not_own() {
    let token = format!("tok{}", unique());
    let fake = fake_twilio(&token).await;
    let app = app_with_twilio(&fake).await;
    let admin = app.register().await;
    // The fake owns every number but those with 99999 in them.
    let squatted = "+15559999901";
    let (status, body) = create(&app, &admin, twilio(&token, squatted)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "config.phone_number");
    // Disabled, it routes nothing and is not asked; enabling it asks.
    let mut disabled = twilio(&token, squatted);
    disabled["enabled"] = json!(false);
    let (status, created) = create(&app, &admin, disabled).await;
    assert_eq!(status, 201, "{created}");
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/integrations/{}", created["id"]),
            Some(json!({"enabled": true})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    // Moving an enabled integration to a number it does not own is refused too.
    let (status, mine) = create(&app, &admin, twilio(&token, &phone())).await;
    assert_eq!(status, 201, "{mine}");
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/integrations/{}", mine["id"]),
            Some(json!({"config": {"phone_number": "+15559999902"}})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 422);
    let asked: Vec<String> = fake
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("/IncomingPhoneNumbers.json"))
        .map(|r| r.url.query().unwrap_or_default().to_owned())
        .collect();
    assert!(
        asked
            .iter()
            .any(|q| q.contains("PhoneNumber=%2B15559999901")),
        "{asked:?}"
    );
}

#[tokio::test]
async fn a_number_goes_unconfirmed_only_when_the_operator_says_so() {
    // Twilio cannot be reached: by default the number cannot be confirmed (503); with
    // `twilio.confirm_numbers = false` (trying Omni without an account) it is routed.
    for (confirm, expected) in [(true, 503), (false, 201)] {
        let db = omni_store_postgres::test_db::TestDatabase::new()
            .await
            .unwrap();
        let url = db.url().to_owned();
        let app = crate::helpers::spawn_app_on(db, &url, move |f| {
            f.merge(("twilio.api_base_url", "http://127.0.0.1:9"))
                .merge(("twilio.confirm_numbers", confirm))
        })
        .await;
        let admin = app.register().await;
        let (status, body) = create(&app, &admin, twilio("made-up", &phone())).await;
        assert_eq!(status, expected, "confirm_numbers={confirm}: {body}");
    }
}
