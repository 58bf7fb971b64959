//! The agent console in a real browser: headless Chromium driven through chromedriver
//! (Debian's `chromium` and `chromium-driver`), against the `omni-server` binary and a fake
//! Twilio. A failing step leaves a screenshot under `target/console/`; a passing run leaves
//! the inbox and the conversation there too (the README's pictures).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use omni_store_postgres::test_db::TestDatabase;
use omni_twilio::{SignatureAlgorithm, SignatureValidator};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{Instance, unique};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
pub(crate) const OUR_NUMBER: &str = "+14155550188";
const SENT_SID: &str = "SMc0450100000000000000000000000001";
const WAIT: Duration = Duration::from_secs(20);

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/console");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The first of `candidates` that exists, or the name looked up on `PATH`.
fn program(env: &str, candidates: &[&str]) -> String {
    if let Ok(p) = std::env::var(env) {
        return p;
    }
    for c in candidates {
        if std::path::Path::new(c).exists() {
            return (*c).to_owned();
        }
    }
    candidates
        .last()
        .map(|c| (*c).to_owned())
        .unwrap_or_default()
}

/// chromedriver and the Chromium session it drives; both end when this is dropped.
struct Browser {
    client: Client,
    driver: Child,
    name: &'static str,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    async fn start(name: &'static str) -> Self {
        // A failure's screenshots from an earlier run would outlive the run that passes.
        if let Ok(entries) = std::fs::read_dir(artifacts()) {
            let stale = format!("{name}-failed-");
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&stale) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        let chromedriver = program(
            "OMNI_CHROMEDRIVER",
            &["/usr/bin/chromedriver", "chromedriver"],
        );
        let chromium = program("OMNI_CHROMIUM", &["/usr/bin/chromium", "chromium"]);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {chromedriver} ({e}): the console's tests need Debian's \
                     chromium and chromium-driver (apt-get install chromium chromium-driver; \
                     .ci/run installs them)"
                )
            });
        let profile = std::env::temp_dir().join(format!("omni-chromium-{}", unique()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--lang=en-US",
                    "--window-size=1280,820",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) => {
                    assert!(
                        started.elapsed() < WAIT,
                        "chromedriver did not start a Chromium session: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        Self {
            client,
            driver,
            name,
        }
    }

    /// A picture of the page now, under `target/console/`.
    async fn shot(&self, what: &str) -> PathBuf {
        let file = artifacts().join(format!("{}-{what}.png", self.name));
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(&file, png);
        }
        file
    }

    async fn fail(&self, what: &str) -> ! {
        let file = self
            .shot(&format!("failed-{}", what.replace([' ', '/'], "-")))
            .await;
        panic!("{what} (screenshot: {})", file.display());
    }

    /// The first element matching `css` once it exists.
    async fn wait_for(&self, css: &str) -> Element {
        let started = Instant::now();
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                return e;
            }
            if started.elapsed() > WAIT {
                self.fail(&format!("nothing matched {css}")).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until an element matching `css` contains `text`.
    async fn wait_text(&self, css: &str, text: &str) -> Element {
        let started = Instant::now();
        loop {
            if let Ok(all) = self.client.find_all(Locator::Css(css)).await {
                for e in all {
                    if e.text().await.is_ok_and(|t| t.contains(text)) {
                        return e;
                    }
                }
            }
            if started.elapsed() > WAIT {
                self.fail(&format!("no {css} says {text:?}")).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn type_into(&self, css: &str, text: &str) {
        let field = self.wait_for(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.wait_for(css).await.click().await.unwrap();
    }

    /// The `name`s of the buttons matching `css`.
    async fn names(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in self.client.find_all(Locator::Css(css)).await.unwrap() {
            out.push(e.attr("name").await.unwrap().unwrap_or_default());
        }
        out
    }
}

/// A company with a WhatsApp number on a fake Twilio that accepts sends, served by the
/// binary.
pub(crate) struct World {
    pub(crate) db: TestDatabase,
    twilio: MockServer,
    pub(crate) secrets: (String, String),
    token: String,
    pub(crate) server: Option<Instance>,
    http: reqwest::Client,
}

impl World {
    /// The world and its admin's `{email, password, token}`.
    pub(crate) async fn new() -> (Self, Value) {
        crate::helpers::init_tls();
        let db = TestDatabase::new().await.unwrap();
        let twilio = MockServer::start().await;
        crate::helpers::twilio_owns_numbers(&twilio).await;
        Mock::given(method("POST"))
            .and(path(format!("/2010-04-01/Accounts/{SID}/Messages.json")))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(json!({"sid": SENT_SID, "status": "queued"})),
            )
            .mount(&twilio)
            .await;
        let secrets = (format!("{:0>32}", unique()), {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode([9u8; 32])
        });
        let server = Instance::start(db.url(), &twilio.uri(), &secrets, None).await;
        let http = reqwest::Client::new();
        let world = Self {
            db,
            twilio,
            secrets,
            token: format!("tok{}", unique()),
            server: Some(server),
            http,
        };
        let email = format!("console-{}@example.com", unique());
        let login = world
            .call("POST", "/auth/register", None, json!({"company_name": "Padaria Aurora", "name": "Ana Lima", "email": email, "password": "correct horse battery"}))
            .await;
        let admin = login["access_token"].as_str().unwrap().to_owned();
        let company = login["user"]["company_id"].as_i64().unwrap();
        world
            .call(
                "POST",
                "/integrations",
                Some(&admin),
                json!({"type": "twilio_whatsapp", "config": {"account_sid": SID, "auth_token": world.token, "phone_number": OUR_NUMBER}}),
            )
            .await;
        // Sends stay countable: no automatic reply.
        world
            .call(
                "PUT",
                &format!("/companies/{company}"),
                Some(&admin),
                json!({"settings": {"auto_reply": false}}),
            )
            .await;
        (
            world,
            json!({"email": email, "password": "correct horse battery", "token": admin}),
        )
    }

    fn address(&self) -> String {
        self.server.as_ref().unwrap().address.clone()
    }

    pub(crate) async fn call(
        &self,
        verb: &str,
        route: &str,
        token: Option<&str>,
        body: Value,
    ) -> Value {
        let mut req = self
            .http
            .request(verb.parse().unwrap(), format!("{}{route}", self.address()))
            .json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let v: Value = res.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{verb} {route}: {status} {v}");
        v
    }

    /// Posts a form to `address`'s webhook, signed as Twilio signs it.
    async fn webhook(&self, address: &str, form: &[(&str, &str)]) {
        let url = "https://omni.test/ticket-messages/webhook";
        let sig =
            SignatureValidator::new(&self.token).compute(url, form, SignatureAlgorithm::HmacSha1);
        let res = self
            .http
            .post(format!("{address}/ticket-messages/webhook"))
            .header("X-Twilio-Signature", sig)
            .form(form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }

    async fn customer_writes(&self, address: &str, from: &str, name: &str, text: &str) {
        let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
        self.customer_sends(address, &sid, from, name, text, &[])
            .await;
    }

    /// A customer's WhatsApp message with `extra` fields (attachments), signed and posted.
    async fn customer_sends(
        &self,
        address: &str,
        sid: &str,
        from: &str,
        name: &str,
        text: &str,
        extra: &[(&str, &str)],
    ) {
        let from = format!("whatsapp:{from}");
        let to = format!("whatsapp:{OUR_NUMBER}");
        let attachments = extra
            .iter()
            .filter(|(k, _)| k.starts_with("MediaUrl"))
            .count();
        let attachments = attachments.to_string();
        let mut form = vec![
            ("MessageSid", sid),
            ("AccountSid", SID),
            ("From", from.as_str()),
            ("To", to.as_str()),
            ("Body", text),
            ("NumMedia", attachments.as_str()),
            ("ProfileName", name),
            ("SmsStatus", "received"),
            ("ApiVersion", "2010-04-01"),
        ];
        form.extend_from_slice(extra);
        self.webhook(address, &form).await;
    }

    /// A customer's photo, which the fake Twilio serves to the integration's credentials.
    async fn customer_sends_photo(&self, from: &str, name: &str) {
        const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
        let bytes = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(PNG)
                .unwrap()
        };
        let sid = "MM00000000000000000000000000c0401";
        let media = format!(
            "/2010-04-01/Accounts/{SID}/Messages/{sid}/Media/ME00000000000000000000000000c0401"
        );
        Mock::given(method("GET"))
            .and(path(media.clone()))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "image/png")
                    .set_body_bytes(bytes),
            )
            .mount(&self.twilio)
            .await;
        let url = format!("{}{media}", self.twilio.uri());
        self.customer_sends(
            &self.address(),
            sid,
            from,
            name,
            "Olha a foto da encomenda",
            &[("MediaUrl0", &url), ("MediaContentType0", "image/png")],
        )
        .await;
    }

    async fn twilio_reports(&self, customer: &str, status: &str) {
        let from = format!("whatsapp:{OUR_NUMBER}");
        let to = format!("whatsapp:{customer}");
        self.webhook(
            &self.address(),
            &[
                ("MessageSid", SENT_SID),
                ("MessageStatus", status),
                ("From", &from),
                ("To", &to),
                ("AccountSid", SID),
            ],
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_answers_a_whatsapp_message_in_the_console_and_sees_it_delivered() {
    let (mut world, admin) = World::new().await;
    let b = Browser::start("conversation").await;
    let console = format!("{}/console/", world.address());
    b.client.goto(&console).await.unwrap();

    // Logging in: a wrong password is said so; the right one opens the inbox, live.
    b.type_into("input[name=email]", admin["email"].as_str().unwrap())
        .await;
    b.type_into("input[name=password]", "not the password")
        .await;
    b.click("button[type=submit]").await;
    b.wait_text("[role=alert]", "Wrong e-mail or password")
        .await;
    b.type_into("input[name=password]", admin["password"].as_str().unwrap())
        .await;
    b.click("button[type=submit]").await;
    b.wait_for(".live[data-state=live]").await;

    // A customer writes on WhatsApp: the conversation appears without a reload, unread,
    // and triage's badges follow.
    let customer = "+5511987650042";
    world
        .customer_writes(
            &world.address(),
            customer,
            "Marina Souza",
            "Meu pedido não chegou, quero cancelar",
        )
        .await;
    let row = b.wait_text("a.ticket", "Marina Souza").await;
    assert!(
        row.attr("class")
            .await
            .unwrap()
            .unwrap_or_default()
            .contains("unread")
    );
    b.wait_for("a.ticket .badge.category").await;
    b.wait_text("a.ticket .preview", "Meu pedido").await;
    b.shot("inbox").await;

    // Opening it shows the message and triage's suggested answer, one click from the box.
    row.click().await.unwrap();
    b.wait_text(".message.in .text", "Meu pedido não chegou")
        .await;
    b.click("button[name=use-suggestion]").await;
    let suggested = b.wait_for(".suggestion span").await.text().await.unwrap();
    let drafted = b
        .wait_for("textarea[name=reply]")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        !drafted.is_empty() && suggested.contains(drafted.trim()),
        "{drafted:?} / {suggested:?}"
    );
    // The reply box counts characters against 1,600.
    b.type_into("textarea[name=reply]", "Olá Marina! Vou verificar agora.")
        .await;
    b.wait_text(".counter", "32/1600").await;
    b.click(".reply button[type=submit]").await;

    // The answer goes to Twilio; its ticks advance as Twilio's status callbacks arrive.
    b.wait_text(".message.out .text", "Vou verificar").await;
    let started = Instant::now();
    while world
        .twilio
        .received_requests()
        .await
        .unwrap()
        .iter()
        .all(|r| r.method.as_str() != "POST")
    {
        assert!(started.elapsed() < WAIT, "the reply never reached Twilio");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    world.twilio_reports(customer, "delivered").await;
    b.wait_for(".message.out[data-status=delivered]").await;
    world.twilio_reports(customer, "read").await;
    b.wait_for(".message.out[data-status=read]").await;
    // Answered: the suggestion is gone; the inbox, loaded afresh, shows the answer as the
    // latest message and nothing unread.
    assert!(b.client.find(Locator::Css(".suggestion")).await.is_err());
    b.client.refresh().await.unwrap();
    b.wait_text("a.ticket .preview", "↩ Olá Marina").await;
    assert!(
        b.client
            .find(Locator::Css("a.ticket.unread"))
            .await
            .is_err()
    );
    b.wait_for(".message.out[data-status=read]").await;
    b.shot("conversation").await;

    // Only the moves the ticket allows are offered; one click moves it.
    let href = row_href(&b).await;
    let ticket = world
        .call(
            "GET",
            &format!("/tickets/{href}"),
            Some(admin["token"].as_str().unwrap()),
            Value::Null,
        )
        .await;
    let offered = b.names(".moves button").await;
    let allowed: Vec<String> = ticket["next_statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("status-{}", s.as_str().unwrap()))
        .collect();
    assert_eq!(offered, allowed);
    b.click("button[name=status-pending]").await;
    b.wait_for(".conv-head .badge.status-pending").await;
    b.click("button[name=assign-me]").await;
    b.wait_text(
        ".conv-head select[name=assignee] option:checked",
        "Ana Lima",
    )
    .await;

    // The server restarts; meanwhile another instance takes a message. The console
    // reconnects with `since` and shows it: no event lost.
    let port = world.server.as_ref().unwrap().port;
    world.server.take().unwrap().kill();
    b.wait_for(".live[data-state=offline]").await;
    // A reply written while the server is gone is kept, and offered again.
    b.type_into("textarea[name=reply]", "Ainda está aí?").await;
    b.click(".reply button[type=submit]").await;
    b.wait_text(".reply button[type=submit]", "Try again").await;
    b.wait_for(".conversation [role=alert]").await;
    let other = Instance::start(world.db.url(), &world.twilio.uri(), &world.secrets, None).await;
    world
        .customer_writes(
            &other.address,
            "+5511987650077",
            "Rafael Dias",
            "Oi, vocês abrem domingo?",
        )
        .await;
    world.server = Some(
        Instance::start(
            world.db.url(),
            &world.twilio.uri(),
            &world.secrets,
            Some(port),
        )
        .await,
    );
    b.wait_for(".live[data-state=live]").await;
    b.wait_text("a.ticket", "Rafael Dias").await;
    drop(other);
    // Sent again (under the same Idempotency-Key): once.
    b.click(".reply button[type=submit]").await;
    b.wait_text(".message.out .text", "Ainda está aí?").await;
    let messages = world
        .call(
            "GET",
            &format!("/ticket-messages?ticket_id={href}"),
            Some(admin["token"].as_str().unwrap()),
            Value::Null,
        )
        .await;
    let copies = messages["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["content"] == "Ainda está aí?")
        .count();
    assert_eq!(copies, 1);

    // Back to the inbox: Marina writes again (her waiting ticket reopens), then Rafael adds
    // to his new one (only a message event): each time that conversation moves to the top.
    b.click("a[href='#/']").await;
    world
        .customer_writes(
            &world.address(),
            customer,
            "Marina Souza",
            "Alguma novidade?",
        )
        .await;
    b.wait_text("li:first-child a.ticket", "Marina Souza").await;
    world
        .customer_writes(
            &world.address(),
            "+5511987650077",
            "Rafael Dias",
            "E no feriado?",
        )
        .await;
    b.wait_text("li:first-child a.ticket", "Rafael Dias").await;
    b.wait_text("li:first-child a.ticket.unread .preview", "E no feriado?")
        .await;

    // A number in the search finds that customer.
    b.type_into("input[name=q]", "+55 11 98765-0042").await;
    b.wait_text("a.ticket", "Marina Souza").await;
    let started = Instant::now();
    while b
        .client
        .find_all(Locator::Css("a.ticket"))
        .await
        .unwrap()
        .len()
        != 1
    {
        assert!(started.elapsed() < WAIT, "the search kept other customers");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Portuguese on the switch.
    b.wait_for("select[name=language]")
        .await
        .select_by_value("pt-BR")
        .await
        .unwrap();
    b.wait_text(".top nav", "Caixa de entrada").await;
    b.client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_runs_the_team_in_portuguese_and_a_phone_reads_a_photo() {
    let (world, admin) = World::new().await;
    let token = admin["token"].as_str().unwrap().to_owned();
    let me = world
        .call("GET", "/auth/profile", Some(&token), Value::Null)
        .await;
    // Tokyo: every time the console shows is in the company's zone (UTC+9, no DST).
    world
        .call(
            "PUT",
            &format!("/companies/{}", me["company_id"]),
            Some(&token),
            json!({"settings": {"timezone": "Asia/Tokyo"}}),
        )
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{SID}.json")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"sid": SID, "friendly_name": "Padaria", "status": "active"})),
        )
        .mount(&world.twilio)
        .await;
    world
        .customer_sends_photo("+5511987650055", "Joana Prado")
        .await;

    let b = Browser::start("admin").await;
    b.client
        .goto(&format!("{}/console/", world.address()))
        .await
        .unwrap();
    // The language is chosen on the login page already, and kept.
    b.wait_for("select[name=language]")
        .await
        .select_by_value("pt-BR")
        .await
        .unwrap();
    b.wait_text("button[type=submit]", "Entrar").await;
    b.type_into("input[name=email]", admin["email"].as_str().unwrap())
        .await;
    b.type_into("input[name=password]", admin["password"].as_str().unwrap())
        .await;
    b.click("button[type=submit]").await;
    b.wait_text(".live", "Ao vivo").await;

    // Users: a new agent, a mistake named by its field, an edit.
    b.click("a[href='#/users']").await;
    b.click("button[name=new-user]").await;
    let email = format!("bruno-{}@example.com", unique());
    b.type_into("form.card input[name=name]", "Bruno Alves")
        .await;
    b.type_into(
        "form.card input[name=email]",
        admin["email"].as_str().unwrap(),
    )
    .await;
    b.type_into("form.card input[name=password]", "another good password")
        .await;
    b.click("form.card button[type=submit]").await;
    b.wait_for("form.card [role=alert]").await;
    b.type_into("form.card input[name=email]", &email).await;
    b.click("form.card button[type=submit]").await;
    let row = b.wait_text("tr", &email).await;
    assert!(row.text().await.unwrap().contains("Atendente"));
    row.find(Locator::Css("button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.type_into("form.card input[name=name]", "Bruno A. Alves")
        .await;
    b.click("form.card button[type=submit]").await;
    b.wait_text("td", "Bruno A. Alves").await;

    // Integrations: the WhatsApp number verified against Twilio; a Vera AI one added.
    b.click("a[href='#/integrations']").await;
    let card = b.wait_text(".integrations li", OUR_NUMBER).await;
    card.find(Locator::Css("button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_text(".integrations .ok", "Verificada").await;
    b.click("button[name=new-integration]").await;
    b.wait_for("form.card select[name=type]")
        .await
        .select_by_label("vera_ai")
        .await
        .unwrap();
    b.type_into("form.card input[name=base_url]", "http://127.0.0.1:9/v1")
        .await;
    b.type_into("form.card input[name=api_key]", "vera-key")
        .await;
    b.type_into("form.card input[name=model]", "vera-1").await;
    b.type_into("form.card input[name=timeout_ms]", "4000")
        .await;
    b.click("form.card button[type=submit]").await;
    let vera = b.wait_text(".integrations li", "vera_ai").await;
    assert!(
        vera.text().await.unwrap().contains("api_key"),
        "its secret is set, not shown"
    );
    b.shot("integrations").await;

    // A phone: one column; the conversation opens over the inbox, with the photo fetched
    // through Omni and the time in Tokyo.
    b.client.set_window_size(390, 844).await.unwrap();
    b.click("a[href='#/']").await;
    let row = b.wait_text("a.ticket", "Joana Prado").await;
    assert!(
        !b.wait_for("section.conversation")
            .await
            .is_displayed()
            .await
            .unwrap()
    );
    row.click().await.unwrap();
    b.wait_text(".message.in .text", "Olha a foto").await;
    assert!(
        !b.wait_for("section.inbox")
            .await
            .is_displayed()
            .await
            .unwrap()
    );
    assert!(b.wait_for("a.back").await.is_displayed().await.unwrap());
    let started = Instant::now();
    loop {
        let width = b
            .client
            .execute(
                "const i = document.querySelector('img.media'); return i ? i.naturalWidth : 0",
                vec![],
            )
            .await
            .unwrap();
        if width == json!(1) {
            break;
        }
        assert!(started.elapsed() < WAIT, "the photo never loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stored = world
        .call(
            "GET",
            "/tickets?customer_phone=%2B5511987650055&include=last_message",
            Some(&token),
            Value::Null,
        )
        .await;
    let at: chrono::DateTime<chrono::FixedOffset> = stored["data"][0]["last_message"]["created_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let tokyo = at.with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap());
    let shown = b.wait_for(".message.in time").await.text().await.unwrap();
    assert_eq!(
        shown,
        tokyo.format("%H:%M").to_string(),
        "pt-BR, Tokyo time"
    );
    b.shot("phone").await;
    b.client.clone().close().await.unwrap();
}

/// The id of the conversation open in the console (from its address).
async fn row_href(b: &Browser) -> String {
    let url = b.client.current_url().await.unwrap();
    url.fragment()
        .and_then(|f| f.strip_prefix("/tickets/"))
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_console_is_served_from_the_binary_under_a_strict_policy() {
    let app = crate::helpers::spawn_app().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = http
        .get(format!("{}/console", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(res.headers()["location"], "/console/");

    let page = http
        .get(format!("{}/console/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script type="module" src="app.js"></script>"#));

    let head = http
        .head(format!("{}/console/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.text().await.unwrap().is_empty());

    // Modules as JavaScript, revalidated by their tag.
    let js = http
        .get(format!("{}/console/app.js", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert_eq!(
        js.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let tag = js.headers()["etag"].to_str().unwrap().to_owned();
    let again = http
        .get(format!("{}/console/app.js", app.address))
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    // Nothing outside the bundled files, whatever the path says.
    for missing in [
        "/console/nope.js",
        "/console/../Cargo.toml",
        "/console/vendor/",
    ] {
        let res = http
            .get(format!("{}{missing}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{missing}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }
}
