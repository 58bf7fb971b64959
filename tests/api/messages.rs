//! WhatsApp through Twilio: the webhook, agents' answers and their delivery, with wiremock
//! standing in for Twilio.

use std::time::{Duration, Instant};

use omni_twilio::{SignatureAlgorithm, SignatureValidator};
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{Account, TestApp, spawn_app_beside, spawn_app_on, unique};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const OUR_NUMBER: &str = "+14155238886";

pub(crate) struct Setup {
    pub(crate) app: TestApp,
    pub(crate) twilio: MockServer,
    pub(crate) admin: Account,
    pub(crate) token: String,
}

async fn setup_with(worker: bool) -> Setup {
    setup_configured(worker, |f| f).await
}

/// A company with a Twilio WhatsApp integration on `OUR_NUMBER`, with configuration
/// overrides.
pub(crate) async fn setup_configured(
    worker: bool,
    customize: impl FnOnce(figment::Figment) -> figment::Figment,
) -> Setup {
    let twilio = MockServer::start().await;
    crate::helpers::twilio_owns_numbers(&twilio).await;
    // The Messages list a worker asks after an interrupted or failed attempt: empty, so
    // the message is sent (the crash test mounts its own).
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{SID}/Messages.json")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"messages": []})))
        .mount(&twilio)
        .await;
    let db = omni_store_postgres::test_db::TestDatabase::new()
        .await
        .unwrap();
    let url = db.url().to_owned();
    let base = twilio.uri();
    let app = spawn_app_on(db, &url, move |f| {
        customize(
            f.merge(("twilio.api_base_url", base.clone()))
                .merge(("twilio.content_base_url", base))
                .merge(("worker.enabled", worker)),
        )
    })
    .await;
    let admin = app.register().await;
    let token = format!("tok{}", unique());
    let body = json!({"type": "twilio_whatsapp", "config": {"account_sid": SID, "auth_token": token, "phone_number": OUR_NUMBER}});
    let (status, _) = app
        .call(Method::POST, "/integrations", Some(body), &admin.token)
        .await;
    assert_eq!(status, 201);
    // These tests count Twilio's requests: automatic replies stay off unless a test turns them on.
    let company = format!("/companies/{}", admin.company_id());
    let (status, _) = app
        .call(
            Method::PUT,
            &company,
            Some(json!({"settings": {"auto_reply": false}})),
            &admin.token,
        )
        .await;
    assert_eq!(status, 200);
    Setup {
        app,
        twilio,
        admin,
        token,
    }
}

async fn setup() -> Setup {
    setup_with(true).await
}

pub(crate) fn inbound(customer: &str, body: &str, sid: &str) -> Vec<(String, String)> {
    [
        ("MessageSid", sid),
        ("SmsMessageSid", sid),
        ("AccountSid", SID),
        ("From", &format!("whatsapp:{customer}")),
        ("To", &format!("whatsapp:{OUR_NUMBER}")),
        ("Body", body),
        ("NumMedia", "0"),
        ("ProfileName", "Cliente"),
        ("WaId", &customer[1..]),
        ("SmsStatus", "received"),
        ("ApiVersion", "2010-04-01"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

fn status_callback(message_sid: &str, status: &str) -> Vec<(String, String)> {
    [
        ("MessageSid", message_sid),
        ("MessageStatus", status),
        ("From", &format!("whatsapp:{OUR_NUMBER}")),
        ("To", "whatsapp:+5511987650001"),
        ("AccountSid", SID),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// Posts a form to the webhook, signed as Twilio signs (or with `signature`).
pub(crate) async fn post_webhook(
    s: &Setup,
    form: &[(String, String)],
    signature: Option<&str>,
) -> reqwest::Response {
    post_webhook_at(s, &s.app.address, form, signature).await
}

/// `post_webhook` to the instance at `address` (all share the public URL Twilio signs).
async fn post_webhook_at(
    s: &Setup,
    address: &str,
    form: &[(String, String)],
    signature: Option<&str>,
) -> reqwest::Response {
    let url = "https://omni.test/ticket-messages/webhook";
    let computed =
        SignatureValidator::new(&s.token).compute(url, form, SignatureAlgorithm::HmacSha1);
    let mut req = s
        .app
        .client
        .post(format!("{address}/ticket-messages/webhook"))
        .form(form);
    if let Some(sig) = signature
        .or(Some(computed.as_str()))
        .filter(|s| !s.is_empty())
    {
        req = req.header("X-Twilio-Signature", sig);
    }
    req.send().await.unwrap()
}

pub(crate) async fn count(s: &Setup, sql: &str) -> i64 {
    s.app.sql().await.query_one(sql, &[]).await.unwrap().get(0)
}

pub(crate) fn customer() -> String {
    let n = u64::from_str_radix(&unique()[..8], 16).unwrap() % 100_000_000;
    format!("+55119{n:08}")
}

pub(crate) async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first page of a ticket's messages, oldest first.
pub(crate) async fn messages_of(s: &Setup, ticket: &Value) -> Vec<Value> {
    let (_, page) = s
        .app
        .call(
            Method::GET,
            &format!("/ticket-messages?ticket_id={}", ticket["id"]),
            None,
            &s.admin.token,
        )
        .await;
    page["data"].as_array().cloned().unwrap_or_default()
}

pub(crate) async fn ticket_of(s: &Setup, customer: &str) -> Value {
    let q = format!("/tickets?customer_phone={}", customer.replace('+', "%2B"));
    let (_, list) = s.app.call(Method::GET, &q, None, &s.admin.token).await;
    list["data"][0].clone()
}

#[tokio::test]
async fn an_inbound_message_opens_a_ticket_once_whatever_the_redeliveries() {
    let s = setup().await;
    let who = customer();
    let form = inbound(
        &who,
        "Olá, meu pedido não chegou",
        "SM00000000000000000000000000000001",
    );
    for _ in 0..2 {
        let res = post_webhook(&s, &form, None).await;
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/xml")
        );
        assert!(res.text().await.unwrap().contains("<Response/>"));
    }
    let ticket = ticket_of(&s, &who).await;
    assert_eq!(ticket["status"], "new");
    assert_eq!(ticket["customer_name"], "Cliente");
    assert!(ticket["last_message_at"].is_string());
    let (_, messages) = s
        .app
        .call(
            Method::GET,
            &format!("/ticket-messages?ticket_id={}", ticket["id"]),
            None,
            &s.admin.token,
        )
        .await;
    let data = messages["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "stored once");
    assert_eq!(data[0]["from_customer"], true);
    assert_eq!(
        data[0]["whatsapp_message_id"],
        "SM00000000000000000000000000000001"
    );
    assert_eq!(data[0]["delivery_status"], "received");
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM events WHERE type = 'message.created'"
        )
        .await,
        1
    );
    // Triaged once: its job (deleted once done) leaves one `triage.completed`.
    wait_until("the triage", || async {
        count(
            &s,
            "SELECT count(*) FROM events WHERE type = 'triage.completed'",
        )
        .await
            > 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM events WHERE type = 'triage.completed'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn bad_webhooks_are_refused_and_store_nothing() {
    let s = setup().await;
    let who = customer();
    let form = inbound(&who, "oi", "SM00000000000000000000000000000002");
    assert_eq!(
        post_webhook(&s, &form, Some("")).await.status(),
        400,
        "missing signature"
    );
    assert_eq!(
        post_webhook(&s, &form, Some("bm90IGEgc2lnbmF0dXJl"))
            .await
            .status(),
        403
    );
    let mut unknown = form.clone();
    for (k, v) in unknown.iter_mut() {
        if k == "To" {
            *v = "whatsapp:+14155550000".into();
        }
    }
    assert_eq!(post_webhook(&s, &unknown, None).await.status(), 403);
    let no_from: Vec<_> = form.iter().filter(|(k, _)| k != "From").cloned().collect();
    assert_eq!(post_webhook(&s, &no_from, None).await.status(), 400);
    let big = inbound(
        &who,
        &"x".repeat(70 * 1024),
        "SM00000000000000000000000000000003",
    );
    assert_eq!(post_webhook(&s, &big, None).await.status(), 413);
    assert_eq!(count(&s, "SELECT count(*) FROM ticket_messages").await, 0);
    assert_eq!(count(&s, "SELECT count(*) FROM tickets").await, 0);
}

#[tokio::test]
async fn twenty_first_messages_at_once_make_one_ticket() {
    let s = setup().await;
    let who = customer();
    let forms: Vec<_> = (0..20)
        .map(|i| inbound(&who, &format!("mensagem {i}"), &format!("SM{i:032}")))
        .collect();
    let answers =
        futures_util::future::join_all(forms.iter().map(|f| post_webhook(&s, f, None))).await;
    assert!(answers.iter().all(|r| r.status() == 200));
    assert_eq!(count(&s, "SELECT count(*) FROM tickets").await, 1);
    assert_eq!(count(&s, "SELECT count(*) FROM ticket_messages").await, 20);
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM events WHERE type = 'ticket.created'"
        )
        .await,
        1
    );
}

/// Concurrent deliveries are stored together (group commit): a burst mixing ongoing
/// conversations, repeats inside the burst, redeliveries of stored messages, first messages
/// and a reopening still stores each message exactly once, with its events and ticket changes.
#[tokio::test]
async fn a_burst_of_mixed_deliveries_is_stored_exactly_once() {
    let s = setup_with(false).await;
    let (ongoing, waiting) = (customer(), customer());
    for (who, sid) in [(&ongoing, "SMB0"), (&waiting, "SMW0")] {
        assert_eq!(
            post_webhook(&s, &inbound(who, "oi", sid), None)
                .await
                .status(),
            200
        );
    }
    let waiting_ticket = ticket_of(&s, &waiting).await;
    let path = format!("/tickets/{}", waiting_ticket["id"]);
    let (status, _) = s
        .app
        .call(
            Method::PUT,
            &path,
            Some(json!({"status": "pending"})),
            &s.admin.token,
        )
        .await;
    assert_eq!(status, 200);
    let version_before = ticket_of(&s, &ongoing).await["version"].as_i64().unwrap();

    let mut forms = Vec::new();
    for i in 1..=12 {
        forms.push(inbound(
            &ongoing,
            &format!("continuo {i}"),
            &format!("SMB{i}"),
        ));
        if i % 3 == 0 {
            // The same delivery twice in the burst.
            forms.push(inbound(
                &ongoing,
                &format!("continuo {i}"),
                &format!("SMB{i}"),
            ));
        }
    }
    forms.push(inbound(&ongoing, "oi", "SMB0")); // a redelivery of a stored message
    let newcomers: Vec<String> = (0..3).map(|_| customer()).collect();
    for (n, who) in newcomers.iter().enumerate() {
        forms.push(inbound(who, "primeira vez", &format!("SMN{n}")));
        forms.push(inbound(who, "de novo", &format!("SMN{n}b")));
    }
    forms.push(inbound(&waiting, "ainda espero", "SMW1"));
    let answers =
        futures_util::future::join_all(forms.iter().map(|f| post_webhook(&s, f, None))).await;
    for answer in answers {
        assert_eq!(answer.status(), 200);
    }

    // 2 first + 12 ongoing + 6 newcomers + 1 waiting, each once.
    assert_eq!(count(&s, "SELECT count(*) FROM ticket_messages").await, 21);
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM ticket_messages GROUP BY company_id, whatsapp_message_id \
             ORDER BY count(*) DESC LIMIT 1"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM events WHERE type = 'message.created'"
        )
        .await,
        21
    );
    assert_eq!(count(&s, "SELECT count(*) FROM tickets").await, 5);
    let ongoing_ticket = ticket_of(&s, &ongoing).await;
    assert!(ongoing_ticket["version"].as_i64().unwrap() > version_before);
    let (_, messages) = s
        .app
        .call(
            Method::GET,
            &format!(
                "/ticket-messages?ticket_id={}&limit=50",
                ongoing_ticket["id"]
            ),
            None,
            &s.admin.token,
        )
        .await;
    assert_eq!(messages["data"].as_array().unwrap().len(), 13);
    assert_eq!(ticket_of(&s, &waiting).await["status"], "open");
    for who in &newcomers {
        let t = ticket_of(&s, who).await;
        assert_eq!(t["status"], "new");
    }
}

/// Twilio redelivers to whichever instance its load balancer picks: the same burst posted
/// to two instances at once (their batches collide on every message) stores each once.
#[tokio::test]
async fn the_same_burst_at_two_instances_is_stored_once() {
    let s = setup_with(false).await;
    let other = spawn_app_beside(&s.app, |f| f.merge(("worker.enabled", false))).await;
    let who = customer();
    assert_eq!(
        post_webhook(&s, &inbound(&who, "oi", "SMT0"), None)
            .await
            .status(),
        200
    );
    let forms: Vec<_> = (1..=25)
        .map(|i| inbound(&who, &format!("mensagem {i}"), &format!("SMT{i}")))
        .collect();
    let mut requests = Vec::new();
    for form in &forms {
        requests.push(post_webhook_at(&s, &s.app.address, form, None));
        requests.push(post_webhook_at(&s, &other.address, form, None));
    }
    for answer in futures_util::future::join_all(requests).await {
        assert_eq!(answer.status(), 200);
    }
    assert_eq!(count(&s, "SELECT count(*) FROM ticket_messages").await, 26);
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM events WHERE type = 'message.created'"
        )
        .await,
        26
    );
    assert_eq!(count(&s, "SELECT count(*) FROM tickets").await, 1);
    drop(other);
}

#[tokio::test]
async fn customers_reopen_waiting_tickets_and_start_over_after_closed() {
    let s = setup().await;
    let who = customer();
    post_webhook(
        &s,
        &inbound(&who, "primeira", "SM10000000000000000000000000000001"),
        None,
    )
    .await;
    let first = ticket_of(&s, &who).await;
    let path = format!("/tickets/{}", first["id"]);
    s.app
        .call(
            Method::PUT,
            &path,
            Some(json!({"status": "resolved"})),
            &s.admin.token,
        )
        .await;
    post_webhook(
        &s,
        &inbound(&who, "voltei", "SM10000000000000000000000000000002"),
        None,
    )
    .await;
    assert_eq!(
        s.app.call(Method::GET, &path, None, &s.admin.token).await.1["status"],
        "open"
    );
    s.app
        .call(
            Method::PUT,
            &path,
            Some(json!({"status": "closed"})),
            &s.admin.token,
        )
        .await;
    post_webhook(
        &s,
        &inbound(&who, "de novo", "SM10000000000000000000000000000003"),
        None,
    )
    .await;
    let second = ticket_of(&s, &who).await;
    assert_ne!(second["id"], first["id"]);
    assert_eq!(second["status"], "new");
}

async fn reply(s: &Setup, ticket: &Value, content: &str, key: Option<&str>) -> (u16, Value) {
    let mut req = s
        .app
        .client
        .post(format!("{}/ticket-messages", s.app.address))
        .bearer_auth(&s.admin.token)
        .json(&json!({"ticket_id": ticket["id"], "content": content}));
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

pub(crate) async fn message(s: &Setup, id: &Value) -> Value {
    s.app
        .call(
            Method::GET,
            &format!("/ticket-messages/{id}"),
            None,
            &s.admin.token,
        )
        .await
        .1
}

pub(crate) async fn messages_api(twilio: &MockServer, status: u16, body: Value) {
    Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{SID}/Messages.json")))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(twilio)
        .await;
}

/// Twilio refuses the first send for good (21211, an invalid number) and accepts the next
/// ones with `sid`.
async fn refuse_once_then_accept(twilio: &MockServer, sid: &str) {
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}),
        ))
        .up_to_n_times(1)
        .mount(twilio)
        .await;
    messages_api(twilio, 201, json!({"sid": sid, "status": "queued"})).await;
}

/// Waits until the reply `m` is `failed`.
async fn until_failed(s: &Setup, m: &Value) {
    wait_until("the message to fail", || async {
        message(s, &m["id"]).await["delivery_status"] == "failed"
    })
    .await;
}

pub(crate) async fn sends(twilio: &MockServer) -> Vec<wiremock::Request> {
    twilio
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| {
            r.method == wiremock::http::Method::POST && r.url.path().ends_with("/Messages.json")
        })
        .collect()
}

#[tokio::test]
async fn an_agents_answer_reaches_twilio_once_and_is_marked_sent() {
    let s = setup().await;
    Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{SID}/Messages.json")))
        .and(header(
            "authorization",
            format!("Basic {}", b64(&format!("{SID}:{}", s.token))).as_str(),
        ))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"sid": "SMsent0001", "status": "queued"})),
        )
        .mount(&s.twilio)
        .await;
    let who = customer();
    post_webhook(
        &s,
        &inbound(&who, "oi", "SM20000000000000000000000000000001"),
        None,
    )
    .await;
    let ticket = ticket_of(&s, &who).await;
    let (status, m) = reply(&s, &ticket, "Olá! Como posso ajudar?", Some("key-1")).await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(
        (m["from_customer"].as_bool(), m["delivery_status"].as_str()),
        (Some(false), Some("queued"))
    );
    // A retry with the same key is the same message.
    let (status, again) = reply(&s, &ticket, "Olá! Como posso ajudar?", Some("key-1")).await;
    assert_eq!((status, &again["id"]), (201, &m["id"]));

    wait_until("the message to be sent", || async {
        message(&s, &m["id"]).await["delivery_status"] == "sending"
    })
    .await;
    let sent = sends(&s.twilio).await;
    assert_eq!(sent.len(), 1, "sent exactly once");
    let form: Vec<(String, String)> = form_urlencoded::parse(&sent[0].body).into_owned().collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(
        get("To").as_deref(),
        Some(format!("whatsapp:{who}").as_str())
    );
    assert_eq!(
        get("From").as_deref(),
        Some(format!("whatsapp:{OUR_NUMBER}").as_str())
    );
    assert_eq!(get("Body").as_deref(), Some("Olá! Como posso ajudar?"));
    assert_eq!(
        get("StatusCallback").as_deref(),
        Some("https://omni.test/ticket-messages/webhook")
    );
    assert_eq!(
        message(&s, &m["id"]).await["whatsapp_message_id"],
        "SMsent0001"
    );
    assert!(
        s.app
            .call(
                Method::GET,
                &format!("/tickets/{}", ticket["id"]),
                None,
                &s.admin.token
            )
            .await
            .1["first_response_at"]
            .is_string()
    );

    // Callbacks out of order: read, sent, delivered → read.
    for st in ["read", "sent", "delivered"] {
        assert_eq!(
            post_webhook(&s, &status_callback("SMsent0001", st), None)
                .await
                .status(),
            200
        );
    }
    assert_eq!(message(&s, &m["id"]).await["delivery_status"], "read");
    // The message was already sent: sending it again is a conflict.
    assert_eq!(
        s.app
            .call(
                Method::POST,
                &format!("/ticket-messages/{}/send", m["id"]),
                None,
                &s.admin.token
            )
            .await
            .0,
        409
    );
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn a_twilio_failure_is_retried_and_sends_once() {
    let s = setup().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"code": 20500, "message": "Internal", "status": 500})),
        )
        .up_to_n_times(1)
        .mount(&s.twilio)
        .await;
    messages_api(
        &s.twilio,
        201,
        json!({"sid": "SMretry001", "status": "queued"}),
    )
    .await;
    let who = customer();
    post_webhook(
        &s,
        &inbound(&who, "oi", "SM30000000000000000000000000000001"),
        None,
    )
    .await;
    let (_, m) = reply(&s, &ticket_of(&s, &who).await, "Já vamos ver", None).await;
    // While it waits, the message says why and when it is tried again; once sent, no more.
    let started = Instant::now();
    let mut why = Value::Null;
    loop {
        let now = message(&s, &m["id"]).await;
        if why.is_null() {
            why = now["retry"].clone();
        }
        if now["whatsapp_message_id"] == "SMretry001" {
            assert!(now["retry"].is_null(), "{now}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "never sent: {now}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        why["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("500")),
        "{why}"
    );
    assert_eq!(why["attempts"], 1, "{why}");
    assert!(why["next_attempt_at"].as_str().is_some(), "{why}");
    assert_eq!(sends(&s.twilio).await.len(), 2, "one failure, one success");
    // The send was one job throughout, retried once; a done job's row is deleted.
    let sql = s.app.sql().await;
    let started = Instant::now();
    loop {
        let rows = sql
            .query(
                "SELECT status, attempts FROM jobs WHERE kind = 'message.send'",
                &[],
            )
            .await
            .unwrap();
        let sends_queued: Vec<(String, i32)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        assert!(sends_queued.len() <= 1, "one send job: {sends_queued:?}");
        let Some((status, attempts)) = sends_queued.first() else {
            break;
        };
        assert!(*attempts <= 2, "one failed attempt, one that sent");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "job still {status} after {attempts} attempts"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sends(&s.twilio).await.len(),
        2,
        "nothing sent after the job ended"
    );
}

#[tokio::test]
async fn a_permanent_refusal_fails_the_message_without_retry_and_it_can_be_resent() {
    let s = setup().await;
    refuse_once_then_accept(&s.twilio, "SMresent01").await;
    let who = customer();
    post_webhook(
        &s,
        &inbound(&who, "oi", "SM40000000000000000000000000000001"),
        None,
    )
    .await;
    let (_, m) = reply(&s, &ticket_of(&s, &who).await, "Resposta", None).await;
    until_failed(&s, &m).await;
    let failed = message(&s, &m["id"]).await;
    assert_eq!(failed["error_code"], 21211);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sends(&s.twilio).await.len(), 1, "no retry");

    let (status, again) = s
        .app
        .call(
            Method::POST,
            &format!("/ticket-messages/{}/send", m["id"]),
            None,
            &s.admin.token,
        )
        .await;
    assert_eq!(
        (status, again["delivery_status"].as_str()),
        (202, Some("queued"))
    );
    wait_until("the resend", || async {
        message(&s, &m["id"]).await["whatsapp_message_id"] == "SMresent01"
    })
    .await;
    // An inbound message is never sent.
    let (_, list) = s
        .app
        .call(
            Method::GET,
            &format!("/ticket-messages?ticket_id={}", failed["ticket_id"]),
            None,
            &s.admin.token,
        )
        .await;
    let inbound_id = &list["data"][0]["id"];
    assert_eq!(
        s.app
            .call(
                Method::POST,
                &format!("/ticket-messages/{inbound_id}/send"),
                None,
                &s.admin.token
            )
            .await
            .0,
        409
    );
}

#[tokio::test]
async fn replies_outside_whatsapps_day_are_refused_until_the_customer_writes_again() {
    let s = setup().await;
    refuse_once_then_accept(&s.twilio, "SMwindow01").await;
    let who = customer();
    post_webhook(
        &s,
        &inbound(&who, "oi", "SM41000000000000000000000000000001"),
        None,
    )
    .await;
    let ticket = ticket_of(&s, &who).await;
    let closes =
        chrono::DateTime::parse_from_rfc3339(ticket["window_closes_at"].as_str().unwrap()).unwrap();
    let until = closes.signed_duration_since(chrono::Utc::now());
    assert!(
        until > chrono::TimeDelta::hours(23) && until <= chrono::TimeDelta::hours(24),
        "a day from the customer's message: {ticket}"
    );
    let (status, m) = reply(&s, &ticket, "Resposta", None).await;
    assert_eq!(status, 201);
    until_failed(&s, &m).await;

    // A day later: neither a new reply nor the failed one's re-send goes out.
    let sql = s.app.sql().await;
    sql.execute(
        "UPDATE tickets SET window_closes_at = now() - interval '1 minute' WHERE id = $1",
        &[&ticket["id"].as_i64().unwrap()],
    )
    .await
    .unwrap();
    let res = s
        .app
        .client
        .post(format!("{}/ticket-messages", s.app.address))
        .bearer_auth(&s.admin.token)
        .json(&json!({"ticket_id": ticket["id"], "content": "Ainda aí?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 409);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["type"], "urn:omni:problem:window-closed");
    assert!(problem["window_closed_at"].is_string(), "{problem}");
    let resend = |id: Value| {
        let s = &s;
        async move {
            s.app
                .call(
                    Method::POST,
                    &format!("/ticket-messages/{id}/send"),
                    None,
                    &s.admin.token,
                )
                .await
        }
    };
    let (status, problem) = resend(m["id"].clone()).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (409, Some("urn:omni:problem:window-closed"))
    );
    assert_eq!(message(&s, &m["id"]).await["delivery_status"], "failed");
    let (_, list) = s
        .app
        .call(
            Method::GET,
            &format!("/ticket-messages?ticket_id={}", ticket["id"]),
            None,
            &s.admin.token,
        )
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2, "nothing stored");

    // The customer writes again: the window opens, and the re-send goes.
    post_webhook(
        &s,
        &inbound(&who, "alô?", "SM41000000000000000000000000000002"),
        None,
    )
    .await;
    assert_eq!(resend(m["id"].clone()).await.0, 202);
    wait_until("the re-send", || async {
        message(&s, &m["id"]).await["whatsapp_message_id"] == "SMwindow01"
    })
    .await;

    // Should WhatsApp still refuse it after the fact, Twilio's callback carries only the
    // code; the message says what it means.
    let mut undelivered = status_callback("SMwindow01", "undelivered");
    undelivered.push(("ErrorCode".into(), "63016".into()));
    assert_eq!(post_webhook(&s, &undelivered, None).await.status(), 200);
    let failed = message(&s, &m["id"]).await;
    assert_eq!(failed["delivery_status"], "undelivered");
    assert_eq!(failed["error_code"], 63016);
    assert!(
        failed["error_message"]
            .as_str()
            .is_some_and(|m| m.contains("template")),
        "{failed}"
    );
}

#[tokio::test]
async fn a_job_queued_while_no_worker_runs_is_sent_after_a_restart() {
    let s = setup_with(false).await;
    messages_api(
        &s.twilio,
        201,
        json!({"sid": "SMlater001", "status": "queued"}),
    )
    .await;
    let who = customer();
    post_webhook(
        &s,
        &inbound(&who, "oi", "SM50000000000000000000000000000001"),
        None,
    )
    .await;
    let (_, m) = reply(&s, &ticket_of(&s, &who).await, "Estamos verificando", None).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(sends(&s.twilio).await.is_empty(), "no worker, no send");
    let restarted = spawn_app_beside(&s.app, |f| f).await;
    wait_until("the restarted worker to send", || async {
        message(&s, &m["id"]).await["whatsapp_message_id"] == "SMlater001"
    })
    .await;
    assert_eq!(sends(&s.twilio).await.len(), 1);
    drop(restarted);
}

#[tokio::test]
async fn reply_input_is_checked() {
    let s = setup().await;
    let who = customer();
    post_webhook(
        &s,
        &inbound(&who, "oi", "SM60000000000000000000000000000001"),
        None,
    )
    .await;
    let ticket = ticket_of(&s, &who).await;
    assert_eq!(reply(&s, &ticket, "   ", None).await.0, 422);
    assert_eq!(reply(&s, &ticket, &"x".repeat(1601), None).await.0, 422);
    assert_eq!(reply(&s, &json!({"id": 999999}), "oi", None).await.0, 404);
    let other = s.app.register().await;
    let (status, _) = s
        .app
        .call(
            Method::POST,
            "/ticket-messages",
            Some(json!({"ticket_id": ticket["id"], "content": "x"})),
            &other.token,
        )
        .await;
    assert_eq!(status, 404, "another company's ticket");
    let (status, _) = s
        .app
        .call(
            Method::GET,
            &format!("/ticket-messages?ticket_id={}", ticket["id"]),
            None,
            &other.token,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn two_instances_share_the_queue_without_double_sends() {
    let s = setup().await;
    let other = spawn_app_beside(&s.app, |f| f).await;
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = counter.clone();
    Mock::given(method("POST"))
        .respond_with(move |_: &wiremock::Request| {
            let n = c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            ResponseTemplate::new(201)
                .set_body_json(json!({"sid": format!("SMshared{n:04}"), "status": "queued"}))
        })
        .mount(&s.twilio)
        .await;
    let who = customer();
    post_webhook(
        &s,
        &inbound(&who, "oi", "SM70000000000000000000000000000001"),
        None,
    )
    .await;
    let ticket = ticket_of(&s, &who).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        // Alternate instances, as a load balancer would.
        let app = if i % 2 == 0 { &s.app } else { &other };
        let (status, m) = app
            .call(
                Method::POST,
                "/ticket-messages",
                Some(json!({"ticket_id": ticket["id"], "content": format!("resposta {i}")})),
                &s.admin.token,
            )
            .await;
        assert_eq!(status, 201);
        ids.push(m["id"].clone());
    }
    wait_until("every answer to be sent", || async {
        count(&s, "SELECT count(*) FROM ticket_messages WHERE from_customer = false AND whatsapp_message_id IS NOT NULL").await == 20
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sends(&s.twilio).await.len(),
        20,
        "each answer sent exactly once"
    );
    assert_eq!(count(&s, "SELECT count(DISTINCT whatsapp_message_id) FROM ticket_messages WHERE from_customer = false").await, 20);
}

#[tokio::test]
async fn a_double_charge_is_triaged_as_urgent_billing_and_answered_once() {
    let s = setup().await;
    let company = format!("/companies/{}", s.admin.company_id());
    s.app
        .call(
            Method::PUT,
            &company,
            Some(json!({"settings": {"auto_reply": true}})),
            &s.admin.token,
        )
        .await;
    messages_api(
        &s.twilio,
        201,
        json!({"sid": "SMauto0001", "status": "queued"}),
    )
    .await;
    let who = customer();
    let form = inbound(
        &who,
        "Fui cobrado duas vezes no cartão, quero o estorno urgente!",
        "SM80000000000000000000000000000001",
    );
    assert_eq!(post_webhook(&s, &form, None).await.status(), 200);
    wait_until("triage", || async {
        ticket_of(&s, &who).await["category"] == "billing"
    })
    .await;
    let ticket = ticket_of(&s, &who).await;
    assert!(
        matches!(ticket["priority"].as_str(), Some("high" | "urgent")),
        "{ticket}"
    );
    assert_eq!(ticket["sentiment"], "negative");
    assert!(ticket["sentiment_score"].as_f64().unwrap() < 0.0);
    assert_eq!(ticket["suggested_categories"][0]["name"], "billing");
    assert!(
        ticket["first_response_at"].is_null(),
        "an automatic reply is not an agent's response"
    );
    wait_until("the auto-reply to be sent", || async {
        sends(&s.twilio).await.len() == 1
    })
    .await;
    // Another message on the same ticket triggers no second triage, so no second reply.
    post_webhook(
        &s,
        &inbound(&who, "alguém?", "SM80000000000000000000000000000002"),
        None,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sends(&s.twilio).await.len(), 1, "one auto-reply per ticket");
    let body = String::from_utf8(sends(&s.twilio).await[0].body.clone()).unwrap();
    assert!(body.contains("Body=Ol%C3%A1%2C+Cliente"), "{body}");
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM events WHERE type = 'triage.completed'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM ticket_messages WHERE from_customer = false AND author_id IS NULL"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn triage_leaves_what_an_agent_set_by_hand() {
    let s = setup().await;
    let who = customer();
    post_webhook(
        &s,
        &inbound(
            &who,
            "quanto custa o plano empresarial?",
            "SM90000000000000000000000000000001",
        ),
        None,
    )
    .await;
    wait_until("triage", || async {
        ticket_of(&s, &who).await["category"] == "sales"
    })
    .await;
    let path = format!("/tickets/{}", ticket_of(&s, &who).await["id"]);
    s.app
        .call(
            Method::PUT,
            &path,
            Some(json!({"category": "general", "priority": "medium", "status": "resolved"})),
            &s.admin.token,
        )
        .await;
    // The customer writes again: the ticket reopens and is triaged again.
    post_webhook(
        &s,
        &inbound(
            &who,
            "meu app não funciona, erro urgente!!",
            "SM90000000000000000000000000000002",
        ),
        None,
    )
    .await;
    wait_until("the second triage", || async {
        count(
            &s,
            "SELECT count(*) FROM events WHERE type = 'triage.completed'",
        )
        .await
            == 2
    })
    .await;
    let t = s.app.call(Method::GET, &path, None, &s.admin.token).await.1;
    assert_eq!(
        (
            t["category"].as_str(),
            t["priority"].as_str(),
            t["status"].as_str()
        ),
        (Some("general"), Some("medium"), Some("open"))
    );
    assert_eq!(
        t["sentiment"], "negative",
        "what no agent set is still triaged"
    );
}

#[tokio::test]
async fn a_company_with_vera_ai_is_triaged_by_it_and_falls_back_when_it_fails() {
    let s = setup().await;
    let vera = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"choices": [{"message": {"content":
            "{\"category\": \"complaint\", \"priority\": \"urgent\", \"sentiment\": {\"label\": \"negative\", \"score\": -0.9}, \"suggested_categories\": [], \"reply\": null}"}}]})))
        .up_to_n_times(1)
        .mount(&vera)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&vera)
        .await;
    let integration = json!({"type": "vera_ai", "config": {"base_url": format!("{}/v1", vera.uri()), "api_key": "k", "model": "m", "timeout_ms": 1000}});
    assert_eq!(
        s.app
            .call(
                Method::POST,
                "/integrations",
                Some(integration),
                &s.admin.token
            )
            .await
            .0,
        201
    );
    let first = customer();
    post_webhook(
        &s,
        &inbound(
            &first,
            "boleto errado",
            "SMa0000000000000000000000000000001",
        ),
        None,
    )
    .await;
    wait_until("Vera's triage", || async {
        ticket_of(&s, &first).await["category"] == "complaint"
    })
    .await;
    assert_eq!(
        ticket_of(&s, &first).await["priority"],
        "urgent",
        "Vera's answer, not the built-in one"
    );
    let second = customer();
    post_webhook(
        &s,
        &inbound(
            &second,
            "boleto errado",
            "SMa0000000000000000000000000000002",
        ),
        None,
    )
    .await;
    wait_until("the fallback", || async {
        ticket_of(&s, &second).await["category"] == "billing"
    })
    .await;
}

#[tokio::test]
async fn a_webhook_reaches_the_agents_socket() {
    let s = setup().await;
    let mut socket = crate::ws::connect(&s.app, &s.admin, None).await;
    crate::ws::hello(&mut socket).await;
    let who = customer();
    post_webhook(
        &s,
        &inbound(&who, "tem alguém aí?", "SMb0000000000000000000000000000001"),
        None,
    )
    .await;
    let created = crate::ws::next_of(&mut socket, "message.created").await;
    assert_eq!(created["data"]["message"]["content"], "tem alguém aí?");
    assert_eq!(created["company_id"], s.admin.company_id());
}

#[tokio::test]
async fn the_inbox_lists_each_ticket_with_its_latest_message_and_its_moves() {
    let s = setup_with(false).await;
    let who = customer();
    post_webhook(
        &s,
        &inbound(
            &who,
            "Oi, preciso de ajuda",
            "SM40000000000000000000000000000001",
        ),
        None,
    )
    .await;
    // Without asking, no preview (the list stays one query).
    let plain = format!("/tickets?customer_phone={}", who.replace('+', "%2B"));
    let (_, page) = s.app.call(Method::GET, &plain, None, &s.admin.token).await;
    assert!(page["data"][0].get("last_message").is_none(), "{page}");
    let list = format!("{plain}&include=last_message");
    let (status, page) = s.app.call(Method::GET, &list, None, &s.admin.token).await;
    assert_eq!(status, 200, "{page}");
    let item = &page["data"][0];
    assert_eq!(item["status"], "new");
    assert_eq!(
        item["next_statuses"],
        json!(["open", "pending", "resolved", "closed"])
    );
    assert_eq!(item["last_message"]["content"], "Oi, preciso de ajuda");
    assert_eq!(item["last_message"]["from_customer"], true);
    assert_eq!(item["last_message"]["delivery_status"], "received");

    // An answer is the latest now, its text cut for the list (the message keeps it whole).
    let long = format!("Olá! {}", "Já estamos verificando o seu pedido. ".repeat(8));
    let (status, m) = reply(&s, &ticket_of(&s, &who).await, &long, None).await;
    assert_eq!(status, 201, "{m}");
    let (_, page) = s.app.call(Method::GET, &list, None, &s.admin.token).await;
    let latest = &page["data"][0]["last_message"];
    assert_eq!(latest["id"], m["id"]);
    assert_eq!(latest["from_customer"], false);
    assert_eq!(latest["delivery_status"], "queued");
    let preview = latest["content"].as_str().unwrap();
    assert_eq!(preview.chars().count(), 141, "{preview}");
    assert!(preview.ends_with('…') && long.starts_with(preview.trim_end_matches('…')));
    assert_eq!(message(&s, &m["id"]).await["content"], long.trim());

    // A closed ticket offers no move.
    let id = page["data"][0]["id"].as_i64().unwrap();
    let (status, closed) = s
        .app
        .call(
            Method::PUT,
            &format!("/tickets/{id}"),
            Some(json!({"status": "closed"})),
            &s.admin.token,
        )
        .await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["next_statuses"], json!([]));
}
