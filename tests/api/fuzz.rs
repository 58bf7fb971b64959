//! Schemathesis (from PyPI, installed by `make test` under `target/fuzz-venv`) against the
//! running server and the OpenAPI document it serves: no 5xx, and no answer — status,
//! media type, headers or body — that contradicts the document.

use std::path::PathBuf;
use std::process::Command;

use omni_store_postgres::test_db::TestDatabase;
use reqwest::Method;
use serde_json::json;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::spawn_app_on;

/// Test cases per operation: with the stateful phase, about half a minute on two cores.
const EXAMPLES_PER_OPERATION: &str = "40";

fn schemathesis() -> PathBuf {
    std::env::var_os("OMNI_SCHEMATHESIS").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../target/fuzz-venv/bin/st"
            ))
        },
        PathBuf::from,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_answer_against_the_document() {
    let st = schemathesis();
    assert!(
        st.exists(),
        "schemathesis is not installed at {}: `make fuzz-tools` installs it (`make test` does)",
        st.display()
    );
    // Twilio refuses every call: verifying and sending fail the way they fail in real life.
    let twilio = MockServer::start().await;
    crate::helpers::twilio_owns_numbers(&twilio).await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "code": 20003, "message": "Authenticate", "status": 401
        })))
        .mount(&twilio)
        .await;
    let db = TestDatabase::new().await.expect("a test database");
    let url = db.url().to_owned();
    let base = twilio.uri();
    // Limits off: the fuzzer sends thousands of requests as one user from one address.
    let app = spawn_app_on(db, &url, move |f| {
        f.merge(("twilio.api_base_url", base))
            .merge(("limits.login_per_minute_per_ip", 0))
            .merge(("limits.login_free_failures", 0))
            .merge(("limits.register_per_hour_per_ip", 0))
            .merge(("limits.api_per_minute_per_user", 0))
            .merge(("limits.webhooks_per_minute_per_integration", 0))
    })
    .await;
    let admin = app.register().await;
    // Something for ids to find: an integration, a ticket and a reply.
    let (status, _) = app
        .call(
            Method::POST,
            "/integrations",
            Some(json!({"type": "twilio_whatsapp", "config": {
                "account_sid": format!("AC{}", "0".repeat(32)),
                "auth_token": "fuzz-token",
                "phone_number": "+14155238886"
            }})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 201);
    let (status, ticket) = app
        .call(
            Method::POST,
            "/tickets",
            Some(json!({"customer_phone": "+5511987650001"})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = app
        .call(
            Method::POST,
            "/ticket-messages",
            Some(json!({"ticket_id": ticket["id"], "content": "Olá!"})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 201);

    let schema = format!("{}/openapi.json", app.address);
    let auth = format!("Authorization: Bearer {}", admin.token);
    // Hypothesis keeps its example database in the working directory: a scratch one.
    let scratch = std::env::temp_dir().join(format!("omni-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(st)
            .current_dir(&scratch)
            .env("NO_COLOR", "1")
            .args([
                "run",
                &schema,
                "--header",
                &auth,
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,\
                 response_headers_conformance,response_schema_conformance,\
                 negative_data_rejection",
                "--max-examples",
                EXAMPLES_PER_OPERATION,
                "--seed",
                "20261125",
                "--request-timeout",
                "10",
                // One worker: CPython 3.11's parser is not thread-safe, and hypothesis
                // parses lambdas' source while it generates ("AST constructor recursion
                // depth mismatch").
                "--workers",
                "1",
                "--no-shrink",
            ])
            .output()
    })
    .await
    .unwrap()
    .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("passed"), "{stdout}");
}
