//! Exactly once across crashes: an instance killed (SIGKILL) while its worker waits on
//! Twilio leaves replies Twilio may already have; the instance that takes the jobs over
//! asks Twilio before sending, so every reply reaches the customer once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use omni_store_postgres::test_db::TestDatabase;
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::{Instance, unique};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const OUR_NUMBER: &str = "+14155550142";

/// What the fake Twilio accepted: (sid, To, Body), in order.
type Accepted = Arc<Mutex<Vec<(String, String, String)>>>;

/// `POST Messages.json`: Twilio accepts the message at once and answers slowly (the
/// window in which an instance dies).
struct SlowAccept(Accepted);

impl Respond for SlowAccept {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let form: Vec<(String, String)> =
            form_urlencoded::parse(&request.body).into_owned().collect();
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let mut accepted = self.0.lock().unwrap();
        let sid = format!("SM{:032}", accepted.len() + 1);
        accepted.push((sid.clone(), field("To"), field("Body")));
        ResponseTemplate::new(201)
            .set_body_json(json!({"sid": sid, "status": "queued"}))
            .set_delay(Duration::from_secs(3))
    }
}

/// `GET Messages.json`: the account's messages, newest first, as Twilio lists them.
struct List(Accepted);

impl Respond for List {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let now = chrono::Utc::now().to_rfc2822();
        let messages: Vec<Value> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .rev()
            .map(|(sid, to, body)| {
                json!({"sid": sid, "to": to, "body": body, "status": "sent",
                       "date_created": now, "messaging_service_sid": null})
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({ "messages": messages }))
    }
}

async fn call(address: &str, m: Method, path: &str, body: Value, token: Option<&str>) -> Value {
    let mut request = reqwest::Client::new()
        .request(m, format!("{address}{path}"))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_in_flight_when_an_instance_dies_reach_the_customer_once() {
    crate::helpers::init_tls();
    let db = TestDatabase::new().await.unwrap();
    let twilio = MockServer::start().await;
    crate::helpers::twilio_owns_numbers(&twilio).await;
    let accepted: Accepted = Arc::default();
    let messages = format!("/2010-04-01/Accounts/{SID}/Messages.json");
    Mock::given(method("POST"))
        .and(path(messages.clone()))
        .respond_with(SlowAccept(accepted.clone()))
        .mount(&twilio)
        .await;
    Mock::given(method("GET"))
        .and(path(messages))
        .respond_with(List(accepted.clone()))
        .mount(&twilio)
        .await;
    let secrets = (format!("{:0>32}", unique()), {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    });
    let first = Instance::start(db.url(), &twilio.uri(), &secrets, None).await;

    let email = format!("crash-{}@example.com", unique());
    let session = call(&first.address, Method::POST, "/auth/register", json!({
        "company_name": "Crash Test", "name": "Ana", "email": email, "password": "correct horse battery"
    }), None)
    .await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let company = session["user"]["company_id"].as_i64().unwrap();
    call(
        &first.address,
        Method::PUT,
        &format!("/companies/{company}"),
        json!({"settings": {"auto_reply": false}}),
        Some(&token),
    )
    .await;
    call(
        &first.address,
        Method::POST,
        "/integrations",
        json!({"type": "twilio_whatsapp",
        "config": {"account_sid": SID, "auth_token": "crash-token", "phone_number": OUR_NUMBER}}),
        Some(&token),
    )
    .await;
    let ticket = call(
        &first.address,
        Method::POST,
        "/tickets",
        json!({"customer_phone": "+5511987650042"}),
        Some(&token),
    )
    .await;
    // As if the customer had written a moment ago: WhatsApp's reply window is open.
    crate::helpers::sql_client(db.url())
        .await
        .execute(
            "UPDATE tickets SET window_closes_at = now() + interval '1 day' WHERE id = $1",
            &[&ticket["id"].as_i64().unwrap()],
        )
        .await
        .unwrap();
    let replies = 5;
    for n in 1..=replies {
        call(
            &first.address,
            Method::POST,
            "/ticket-messages",
            json!({"ticket_id": ticket["id"], "content": format!("Resposta {n}")}),
            Some(&token),
        )
        .await;
    }

    // Every reply is at Twilio, none answered yet: the instance dies now.
    let started = Instant::now();
    while accepted.lock().unwrap().len() < replies {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the sends never began"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill();

    // Another instance takes the jobs over once their leases run out.
    let second = Instance::start(db.url(), &twilio.uri(), &secrets, None).await;
    let sql = crate::helpers::sql_client(db.url()).await;
    let started = Instant::now();
    let rows = loop {
        let rows = sql
            .query(
                "SELECT content, whatsapp_message_id FROM ticket_messages \
                 WHERE NOT from_customer ORDER BY id",
                &[],
            )
            .await
            .unwrap();
        if rows.iter().all(|r| r.get::<_, Option<String>>(1).is_some()) {
            break rows;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the replies were never recorded sent"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let twilio_has = accepted.lock().unwrap().clone();
    assert_eq!(
        twilio_has.len(),
        replies,
        "a reply reached the customer twice: {twilio_has:?}"
    );
    for row in rows {
        let (content, sid): (String, Option<String>) = (row.get(0), row.get(1));
        let at_twilio = twilio_has
            .iter()
            .find(|(_, _, body)| *body == content)
            .unwrap();
        assert_eq!(
            sid.as_deref(),
            Some(at_twilio.0.as_str()),
            "{content}: Twilio's sid is kept"
        );
    }
    drop(second);
}
