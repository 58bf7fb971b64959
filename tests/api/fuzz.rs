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

/// Test cases per operation: with the stateful phase, under a minute on two cores.
const EXAMPLES_PER_OPERATION: &str = "40";

/// Operations left out: logging out would end the session every other request uses (and
/// each later one would only meet a 401), and a WebSocket needs a client that speaks it
/// (tests/api/ws.rs has them).
const EXCLUDED_OPERATIONS: &str = "^(auth_logout|auth_logout_all|realtime_connect)$";

/// Schemathesis hooks (Python): the 422s a schema-valid request may meet because of rules
/// no schema can state — they depend on what is stored or who asks, or compare items of a
/// list — are not failures of `positive_data_acceptance`. Each is named by its field and
/// the start of its message, so that any other 422 still fails the run. Neither is the
/// 413 of a body over the 64 KiB limit (documented, but not a schema's to state): a
/// refusal of invalid data, and of valid data only when the body is that large.
const HOOKS: &str = r#"
import json

import schemathesis

# (method or None, field prefix, message prefix)
STATE_RULES = [
    (None, "cursor", "cursor is not one this server issued"),  # issued by an earlier page
    (None, "company_id", "must be your own company"),  # who asks
    (None, "assigned_to", "is not a user of the ticket's company"),
    (None, "category", "must be one of the company's categories"),  # the company's settings
    (None, "current_password", "is required to change your own"),  # whose account it is
    (None, "current_password", "is not your current password"),
    (None, "role", "superadmins are made with"),  # the target is a superadmin
    (None, "settings.categories[", "`"),  # "`x` appears twice": names are unique in the list
    (None, "settings.business_hours.", "must be after start"),  # two fields of one day
    # A report's range spans two parameters (and `to` defaults to today).
    ("GET", "to", "a report covers at most"),
    ("GET", "from", "must not be after `to`"),
    (None, "config.phone_number", "is not a number of this Twilio account"),  # Twilio says
    (None, "config.auth_token", "was refused by the provider"),
    # The stored integration decides: its type, and which secrets a change needs again.
    ("PUT", "type", "an integration's type cannot change"),
    ("PUT", "config.", "is not a field of a "),
    ("PUT", "config.", "is required again when the address"),
    # Templates: Twilio's catalog decides which exist and what variables each takes; the
    # ticket's stored channel whether it takes one. One of `content` or `template` is
    # required: the document says so in words.
    (None, "template.content_sid", "is not an approved template"),
    (None, "template.variables.", ""),
    (None, "template", "templates are WhatsApp's"),
    ("POST", "template", "send either content or a template"),
    ("POST", "template", "a template carries its own media"),
    ("POST", "content", "is required (or media, or a template)"),
    # Uploads: which exist is stored state; an empty file is a binary string of length 0
    # (minLength is documented, but schemathesis draws binary parts without it).
    ("POST", "media_ids[", "is not an upload of your company"),
    ("POST", "media_ids", "a message carries at most"),  # two lists, one limit
    ("POST", "file", "the upload holds no file"),
]


def _known(method, error):
    return any(
        (m is None or m == method)
        and error.get("field", "").startswith(field)
        and error.get("message", "").startswith(message)
        for m, field, message in STATE_RULES
    )


BODY_LIMIT = 64 * 1024


def _too_large(failure, response):
    if response.status_code != 413:
        return False
    body = response.request.body or b""
    size = len(body.encode() if isinstance(body, str) else body)
    return failure.code == "ST201" or (failure.code == "ST202" and size > BODY_LIMIT)


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if _too_large(failure, response):
        return False
    if failure.code != "ST202" or response.status_code != 422:
        return True
    try:
        errors = json.loads(response.content)["errors"]
    except (ValueError, KeyError, TypeError):
        return True
    return not errors or not all(_known(case.method.upper(), e) for e in errors)
"#;

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
        f.merge(("twilio.api_base_url", base.clone()))
            // A Messaging Service's senders are asked of this one.
            .merge(("twilio.messaging_base_url", base.clone()))
            .merge(("twilio.content_base_url", base))
            .merge(("limits.login_per_minute_per_ip", 0))
            .merge(("limits.login_free_failures", 0))
            .merge(("limits.register_per_hour_per_ip", 0))
            .merge(("limits.api_per_minute_per_user", 0))
            .merge(("limits.webhooks_per_minute_per_integration", 0))
            // Served on the API listener only with a token: otherwise `GET /metrics` is a
            // 404 whatever the request, and there would be nothing to test.
            .merge(("metrics.token", "fuzz-metrics-token-".repeat(2)))
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
            // SMS: no customer-service window stands between the ticket and its reply.
            Some(json!({"customer_phone": "+5511987650001", "channel": "sms"})),
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
    let hooks = scratch.join("omni_hooks.py");
    std::fs::write(&hooks, HOOKS).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(st)
            .current_dir(&scratch)
            .env("NO_COLOR", "1")
            .env("SCHEMATHESIS_HOOKS", &hooks)
            .args([
                "run",
                &schema,
                "--header",
                &auth,
                "--exclude-operation-id-regex",
                EXCLUDED_OPERATIONS,
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,\
                 response_headers_conformance,response_schema_conformance,\
                 negative_data_rejection,positive_data_acceptance,unsupported_method",
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
