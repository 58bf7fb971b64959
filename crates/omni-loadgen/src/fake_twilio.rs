//! A Twilio for the `conversations` scenario: the Messages API Omni sends through
//! (`POST …/Messages.json` answers 201 with a new `SM…` sid; `GET …/Messages.json` lists
//! the account's messages to a number, as a worker that took over a send asks), and the
//! status callbacks Twilio posts afterwards — `sent`, `delivered`, `read`, each signed with
//! the account's auth token, to the `StatusCallback` URL the send named.
//!
//! It runs on its own thread and actix system, so that answering Omni never waits on the
//! load generator's own work; what it receives reaches the scenario through [`Sends`].

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use omni_twilio::{SignatureAlgorithm, SignatureValidator};
use serde_json::json;
use tokio::sync::mpsc;

/// One message Omni sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub sid: String,
    pub to: String,
    pub from: String,
    pub body: String,
    /// When it arrived, in µs since the scenario's start.
    pub at_us: u64,
    date_created: String,
}

/// Everything sent so far, and the callbacks still to post.
pub struct Sends {
    t0: Instant,
    sent: Mutex<Vec<Sent>>,
    /// Auth tokens of the fixture's accounts: a send with another is refused, as Twilio does.
    tokens: HashSet<String>,
    /// Callbacks scheduled and not yet answered by Omni.
    pub callbacks_pending: AtomicI64,
    pub callbacks_ok: AtomicU64,
    pub callbacks_failed: AtomicU64,
    pub refused: AtomicU64,
    callbacks: mpsc::UnboundedSender<Callback>,
}

/// A send's status callbacks to post.
struct Callback {
    url: String,
    token: String,
    sent: Sent,
}

impl Sends {
    /// Everything received so far.
    pub fn all(&self) -> Vec<Sent> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Starts the fake on `bind`; its callbacks post from the calling runtime.
pub fn start(
    bind: &str,
    tokens: HashSet<String>,
    t0: Instant,
    http: reqwest::Client,
) -> anyhow::Result<Arc<Sends>> {
    let listener =
        TcpListener::bind(bind).map_err(|e| anyhow::anyhow!("fake Twilio: binding {bind}: {e}"))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let sends = Arc::new(Sends {
        t0,
        sent: Mutex::new(Vec::new()),
        tokens,
        callbacks_pending: AtomicI64::new(0),
        callbacks_ok: AtomicU64::new(0),
        callbacks_failed: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        callbacks: tx,
    });
    let state = web::Data::from(sends.clone());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("fake-twilio".into())
        .spawn(move || {
            let system = actix_web::rt::System::new();
            let served = system.block_on(async move {
                let server = HttpServer::new(move || {
                    App::new().app_data(state.clone()).service(
                        web::resource("/2010-04-01/Accounts/{account}/Messages.json")
                            .route(web::post().to(create_message))
                            .route(web::get().to(list_messages)),
                    )
                })
                .workers(1)
                .disable_signals()
                .listen(listener)?
                .run();
                let _ = ready_tx.send(());
                server.await
            });
            if let Err(e) = served {
                eprintln!("fake Twilio stopped: {e}");
            }
        })?;
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .map_err(|_| anyhow::anyhow!("fake Twilio did not start"))?;
    tokio::spawn(post_callbacks(rx, sends.clone(), http));
    Ok(sends)
}

/// The account's auth token from Basic credentials, if it is one of the fixture's.
fn token(req: &HttpRequest, sends: &Sends) -> Option<String> {
    let header = req.headers().get("authorization")?.to_str().ok()?;
    let encoded = header.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let (_, token) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    sends.tokens.contains(token).then(|| token.to_owned())
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn refused(sends: &Sends) -> HttpResponse {
    sends.refused.fetch_add(1, Ordering::Relaxed);
    HttpResponse::Unauthorized()
        .json(json!({"code": 20003, "message": "Authenticate", "status": 401}))
}

async fn create_message(
    req: HttpRequest,
    sends: web::Data<Sends>,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let Some(token) = token(&req, &sends) else {
        return refused(&sends);
    };
    let (Some(to), Some(from), Some(body)) = (
        field(&form, "To"),
        field(&form, "From"),
        field(&form, "Body"),
    ) else {
        return HttpResponse::BadRequest().json(
            json!({"code": 21604, "message": "To, From and Body are required", "status": 400}),
        );
    };
    let sent = Sent {
        // As Twilio's: `SM` and 32 hex digits, unique across runs on one database too.
        sid: format!("SM{:032x}", rand::random::<u128>()),
        to: to.to_owned(),
        from: from.to_owned(),
        body: body.to_owned(),
        at_us: micros(sends.t0.elapsed()),
        date_created: chrono::Utc::now().to_rfc2822(),
    };
    sends
        .sent
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(sent.clone());
    if let Some(url) = field(&form, "StatusCallback") {
        sends.callbacks_pending.fetch_add(1, Ordering::Relaxed);
        let scheduled = sends.callbacks.send(Callback {
            url: url.to_owned(),
            token,
            sent: sent.clone(),
        });
        if scheduled.is_err() {
            sends.callbacks_pending.fetch_sub(1, Ordering::Relaxed);
        }
    }
    HttpResponse::Created().json(json!({
        "sid": sent.sid, "status": "queued", "to": sent.to, "from": sent.from,
        "body": sent.body, "date_created": sent.date_created,
    }))
}

async fn list_messages(
    req: HttpRequest,
    sends: web::Data<Sends>,
    query: web::Query<Vec<(String, String)>>,
) -> HttpResponse {
    if token(&req, &sends).is_none() {
        return refused(&sends);
    }
    let to = field(&query, "To");
    let from = field(&query, "From");
    let all = sends.sent.lock().unwrap_or_else(PoisonError::into_inner);
    let messages: Vec<_> = all
        .iter()
        .rev()
        .filter(|m| to.is_none_or(|t| t == m.to) && from.is_none_or(|f| f == m.from))
        .take(50)
        .map(|m| {
            json!({"sid": m.sid, "body": m.body, "status": "read", "to": m.to, "from": m.from,
                   "date_created": m.date_created, "messaging_service_sid": null})
        })
        .collect();
    HttpResponse::Ok().json(json!({"messages": messages}))
}

/// Posts each send's `sent`, `delivered` and `read`, a few milliseconds apart, as Twilio
/// does once WhatsApp reports them.
async fn post_callbacks(
    mut rx: mpsc::UnboundedReceiver<Callback>,
    sends: Arc<Sends>,
    http: reqwest::Client,
) {
    while let Some(callback) = rx.recv().await {
        let (sends, http) = (sends.clone(), http.clone());
        tokio::spawn(async move {
            let mut ok = true;
            for (status, pause) in [("sent", 20), ("delivered", 30), ("read", 50)] {
                tokio::time::sleep(Duration::from_millis(pause)).await;
                ok &= post_status(&http, &callback, status).await;
            }
            if ok {
                sends.callbacks_ok.fetch_add(1, Ordering::Relaxed);
            } else {
                sends.callbacks_failed.fetch_add(1, Ordering::Relaxed);
            }
            sends.callbacks_pending.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// One signed status callback; a refusal Omni may recover from (5xx, no answer) is retried
/// a few times, as Twilio retries.
async fn post_status(http: &reqwest::Client, callback: &Callback, status: &str) -> bool {
    let m = &callback.sent;
    let params: Vec<(String, String)> = vec![
        ("MessageSid".into(), m.sid.clone()),
        ("SmsSid".into(), m.sid.clone()),
        ("MessageStatus".into(), status.into()),
        ("SmsStatus".into(), status.into()),
        (
            "AccountSid".into(),
            "AC00000000000000000000000000000000".into(),
        ),
        ("From".into(), m.from.clone()),
        ("To".into(), m.to.clone()),
        ("ApiVersion".into(), "2010-04-01".into()),
    ];
    let signature = SignatureValidator::new(&callback.token).compute(
        &callback.url,
        &params,
        SignatureAlgorithm::HmacSha1,
    );
    for attempt in 0..5u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
        let answer = http
            .post(&callback.url)
            .header(omni_twilio::SIGNATURE_HEADER, &signature)
            .form(&params)
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => return true,
            Ok(r) if r.status().is_client_error() => return false,
            _ => {}
        }
    }
    false
}

/// Counts of each (To, Body) sent more than once: a doubled send.
pub fn doubled(sent: &[Sent]) -> u64 {
    let mut seen: HashMap<(&str, &str), u32> = HashMap::new();
    for m in sent {
        *seen.entry((&m.to, &m.body)).or_default() += 1;
    }
    seen.values().map(|&n| u64::from(n.saturating_sub(1))).sum()
}

pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    #[tokio::test]
    async fn sends_are_taken_listed_and_called_back_signed_as_twilio_signs() {
        let omni = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&omni)
            .await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // As main does: the client's TLS needs a process-wide provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let sends = start(
            &format!("127.0.0.1:{port}"),
            HashSet::from(["tok".to_owned()]),
            Instant::now(),
            http.clone(),
        )
        .unwrap();
        let messages = format!("http://127.0.0.1:{port}/2010-04-01/Accounts/AC1/Messages.json");
        let callback = format!("{}/ticket-messages/webhook", omni.uri());
        let form = [
            ("To", "whatsapp:+5511999990000"),
            ("From", "whatsapp:+15550000001"),
            ("Body", "Olá!"),
            ("StatusCallback", callback.as_str()),
        ];
        let refused = http
            .post(&messages)
            .basic_auth("AC1", Some("wrong"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
        let created: serde_json::Value = http
            .post(&messages)
            .basic_auth("AC1", Some("tok"))
            .form(&form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let sid = created["sid"].as_str().unwrap().to_owned();
        assert!(sid.starts_with("SM") && sid.len() == 34, "{sid}");
        let listed: serde_json::Value = http
            .get(&messages)
            .query(&[("To", "whatsapp:+5511999990000"), ("PageSize", "50")])
            .basic_auth("AC1", Some("tok"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(listed["messages"][0]["sid"], sid.as_str());
        assert_eq!(listed["messages"][0]["body"], "Olá!");

        for _ in 0..100 {
            if sends.callbacks_pending.load(Ordering::Relaxed) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(sends.callbacks_ok.load(Ordering::Relaxed), 1);
        let received = omni.received_requests().await.unwrap();
        let statuses: Vec<String> = received
            .iter()
            .map(|r| {
                let params: Vec<(String, String)> =
                    url::form_urlencoded::parse(&r.body).into_owned().collect();
                let signature = r.headers[omni_twilio::SIGNATURE_HEADER].to_str().unwrap();
                assert!(SignatureValidator::new("tok").validate_form(
                    &callback,
                    &params,
                    signature,
                    SignatureAlgorithm::HmacSha1
                ));
                assert!(params.contains(&("MessageSid".into(), sid.clone())));
                let status = params.iter().find(|(k, _)| k == "MessageStatus").unwrap();
                status.1.clone()
            })
            .collect();
        assert_eq!(statuses, ["sent", "delivered", "read"]);
        assert_eq!(doubled(&sends.all()), 0);
    }
}
