//! WhatsApp templates: listing a number's approved ones from Twilio's Content API, sending
//! one when the 24-hour window is closed, and opening a conversation with one.

use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::messages::{
    Setup, count, customer, inbound, message, messages_api, messages_of, post_webhook, sends,
    setup_configured, ticket_of, wait_until,
};

const ORDER: &str = "HX00000000000000000000000000000001";
const REJECTED: &str = "HX00000000000000000000000000000002";

/// The Content API of the fake Twilio: one approved template with two variables, one
/// rejected.
async fn content_api(s: &Setup) {
    Mock::given(method("GET"))
        .and(path("/v1/ContentAndApprovals"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "contents": [
                {
                    "sid": ORDER,
                    "friendly_name": "order_update",
                    "language": "pt_BR",
                    "variables": {"1": "Ana", "2": "#42"},
                    "types": {"twilio/text": {"body": "Olá {{1}}, seu pedido {{2}} saiu para entrega."}},
                    "approval_requests": {"name": "order_update", "category": "UTILITY", "status": "approved"}
                },
                {
                    "sid": REJECTED,
                    "friendly_name": "promo",
                    "types": {"twilio/text": {"body": "Promoção!"}},
                    "approval_requests": {"name": "promo", "category": "MARKETING", "status": "rejected"}
                }
            ],
            "meta": {"next_page_url": null}
        })))
        .mount(&s.twilio)
        .await;
}

/// A company with a WhatsApp number (its Content API on the fake Twilio's host).
async fn setup() -> Setup {
    setup_configured(true, |f| f).await
}

async fn catalog_reads(s: &Setup) -> usize {
    s.twilio
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/v1/ContentAndApprovals")
        .count()
}

async fn whatsapp_integration(s: &Setup) -> i64 {
    let (_, page) = s
        .app
        .call(Method::GET, "/integrations", None, &s.admin.token)
        .await;
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "twilio_whatsapp")
        .unwrap()["id"]
        .as_i64()
        .unwrap()
}

fn form_of(request: &wiremock::Request) -> Vec<(String, String)> {
    form_urlencoded::parse(&request.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test]
async fn agents_list_approved_templates_read_again_when_the_integration_changes() {
    let s = setup().await;
    content_api(&s).await;
    let id = whatsapp_integration(&s).await;
    let agent = s.app.add_user(&s.admin, "agent").await;
    let (status, list) = s
        .app
        .call(
            Method::GET,
            &format!("/integrations/{id}/templates"),
            None,
            &agent.token,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        list,
        json!({"data": [{
            "content_sid": ORDER,
            "name": "order_update",
            "language": "pt_BR",
            "category": "UTILITY",
            "variables": ["1", "2"],
            "body": "Olá {{1}}, seu pedido {{2}} saiu para entrega."
        }]})
    );
    s.app
        .call(
            Method::GET,
            &format!("/integrations/{id}/templates"),
            None,
            &s.admin.token,
        )
        .await;
    assert_eq!(
        catalog_reads(&s).await,
        1,
        "the second list is the cached one"
    );
    let (status, _) = s
        .app
        .call(
            Method::GET,
            &format!("/integrations/{id}/templates?refresh=true"),
            None,
            &s.admin.token,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        catalog_reads(&s).await,
        1,
        "a refresh of a list read seconds ago is that list"
    );
    // A changed integration (a new token here) is another catalog: read again.
    let (status, changed) = s
        .app
        .call(
            Method::PUT,
            &format!("/integrations/{id}"),
            Some(json!({"config": {"auth_token": "a-new-token-for-this-account"}})),
            &s.admin.token,
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    let (status, _) = s
        .app
        .call(
            Method::GET,
            &format!("/integrations/{id}/templates"),
            None,
            &agent.token,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(catalog_reads(&s).await, 2);

    // Another company's integration is not found; a bad id is the path's problem.
    let stranger = s.app.register().await;
    let (status, _) = s
        .app
        .call(
            Method::GET,
            &format!("/integrations/{id}/templates"),
            None,
            &stranger.token,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = s
        .app
        .call(
            Method::GET,
            "/integrations/0/templates",
            None,
            &s.admin.token,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn twilios_content_api_down_is_a_bad_gateway_and_stores_nothing() {
    let s = setup().await;
    Mock::given(method("GET"))
        .and(path("/v1/ContentAndApprovals"))
        .respond_with(ResponseTemplate::new(500).set_body_json(
            json!({"code": 20500, "message": "Internal Server Error", "status": 500}),
        ))
        .mount(&s.twilio)
        .await;
    let id = whatsapp_integration(&s).await;
    let (status, problem) = s
        .app
        .call(
            Method::GET,
            &format!("/integrations/{id}/templates"),
            None,
            &s.admin.token,
        )
        .await;
    assert_eq!(status, 502, "{problem}");
    assert_eq!(problem["type"], "urn:omni:problem:bad-gateway");
    let who = customer();
    let (status, _) = s
        .app
        .call(
            Method::POST,
            "/tickets",
            Some(json!({"customer_phone": who, "template": {"content_sid": ORDER, "variables": {"1": "Ana", "2": "#42"}}})),
            &s.admin.token,
        )
        .await;
    assert_eq!(status, 502);
    assert_eq!(
        count(
            &s,
            &format!("SELECT count(*) FROM tickets WHERE customer_phone = '{who}'")
        )
        .await,
        0
    );
}

#[tokio::test]
async fn after_the_window_only_an_approved_template_with_every_variable_goes_out() {
    let s = setup().await;
    content_api(&s).await;
    messages_api(
        &s.twilio,
        201,
        json!({"sid": "SMtemplate0001", "status": "queued"}),
    )
    .await;
    let who = customer();
    let form = inbound(
        &who,
        "Oi, alguma novidade?",
        "SM00000000000000000000000000000t01",
    );
    assert_eq!(post_webhook(&s, &form, None).await.status(), 200);
    let ticket = ticket_of(&s, &who).await;
    // A day and more later: the window closed.
    s.app
        .sql()
        .await
        .execute(
            "UPDATE tickets SET window_closes_at = now() - interval '1 hour' WHERE id = $1",
            &[&ticket["id"].as_i64().unwrap()],
        )
        .await
        .unwrap();
    let post = |body: Value| {
        let s = &s;
        async move {
            s.app
                .call(Method::POST, "/ticket-messages", Some(body), &s.admin.token)
                .await
        }
    };
    let (status, problem) =
        post(json!({"ticket_id": ticket["id"], "content": "Saiu ontem!"})).await;
    assert_eq!(status, 409);
    assert_eq!(problem["type"], "urn:omni:problem:window-closed");

    // Bad templates: each problem named, nothing stored.
    let before = count(&s, "SELECT count(*) FROM ticket_messages").await;
    for (body, field) in [
        (
            json!({"ticket_id": ticket["id"], "template": {"content_sid": ORDER, "variables": {"1": "Ana"}}}),
            "template.variables.2",
        ),
        (
            json!({"ticket_id": ticket["id"], "template": {"content_sid": ORDER, "variables": {"1": "Ana", "2": "#42", "3": "x"}}}),
            "template.variables.3",
        ),
        (
            json!({"ticket_id": ticket["id"], "template": {"content_sid": REJECTED}}),
            "template.content_sid",
        ),
        (
            json!({"ticket_id": ticket["id"], "template": {"content_sid": ORDER, "variables": {"1": "Ana", "2": "#42"}}, "content": "x"}),
            "template",
        ),
        (json!({"ticket_id": ticket["id"]}), "content"),
    ] {
        let (status, problem) = post(body.clone()).await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    assert_eq!(
        count(&s, "SELECT count(*) FROM ticket_messages").await,
        before
    );

    // The approved template goes out, rendered for the agent, as ContentSid to Twilio.
    let (status, sent) = post(json!({"ticket_id": ticket["id"], "template": {"content_sid": ORDER, "variables": {"1": "Ana", "2": "#42"}}})).await;
    assert_eq!(status, 201, "{sent}");
    assert_eq!(
        sent["content"],
        "Olá Ana, seu pedido #42 saiu para entrega."
    );
    assert_eq!(
        sent["template"],
        json!({"content_sid": ORDER, "variables": {"1": "Ana", "2": "#42"}})
    );
    wait_until("the template to be sent", || async {
        message(&s, &sent["id"]).await["whatsapp_message_id"] == "SMtemplate0001"
    })
    .await;
    let requests = sends(&s.twilio).await;
    assert_eq!(requests.len(), 1);
    let form = form_of(&requests[0]);
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert_eq!(field("ContentSid").as_deref(), Some(ORDER));
    let variables: Value = serde_json::from_str(&field("ContentVariables").unwrap()).unwrap();
    assert_eq!(variables, json!({"1": "Ana", "2": "#42"}));
    assert_eq!(field("Body"), None);
    assert_eq!(field("To").unwrap(), format!("whatsapp:{who}"));

    // The free-form reply is still refused: a template does not open the window.
    let (status, _) = post(json!({"ticket_id": ticket["id"], "content": "E aí?"})).await;
    assert_eq!(status, 409);

    // A retried template request answers with its first message, even with Twilio's
    // catalog down by then.
    let keyed = |key: &'static str| {
        let s = &s;
        let body = json!({"ticket_id": ticket["id"], "template": {"content_sid": ORDER, "variables": {"1": "Ana", "2": "#43"}}});
        async move {
            s.app
                .client
                .post(format!("{}/ticket-messages", s.app.address))
                .bearer_auth(&s.admin.token)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let first = keyed("retry-template-1").await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    // The integration changes (its catalog must be read again), and Twilio goes down.
    let id = whatsapp_integration(&s).await;
    let (status, _) = s
        .app
        .call(
            Method::PUT,
            &format!("/integrations/{id}"),
            Some(json!({"config": {"auth_token": "a-new-token-for-this-account"}})),
            &s.admin.token,
        )
        .await;
    assert_eq!(status, 200);
    s.twilio.reset().await;
    Mock::given(method("GET"))
        .and(path("/v1/ContentAndApprovals"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&s.twilio)
        .await;
    let again = keyed("retry-template-1").await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
}

#[tokio::test]
async fn an_agent_opens_a_conversation_with_a_template() {
    let s = setup().await;
    content_api(&s).await;
    messages_api(
        &s.twilio,
        201,
        json!({"sid": "SMtemplate0002", "status": "queued"}),
    )
    .await;
    let who = customer();
    // A missing variable: refused before the ticket is stored.
    let (status, problem) = s
        .app
        .call(
            Method::POST,
            "/tickets",
            Some(json!({"customer_phone": who, "template": {"content_sid": ORDER, "variables": {"2": "#7"}}})),
            &s.admin.token,
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "template.variables.1");
    let (status, _) = s
        .app
        .call(
            Method::POST,
            "/tickets",
            Some(json!({"customer_phone": who, "channel": "sms", "template": {"content_sid": ORDER, "variables": {"1": "Ana", "2": "#7"}}})),
            &s.admin.token,
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        count(
            &s,
            &format!("SELECT count(*) FROM tickets WHERE customer_phone = '{who}'")
        )
        .await,
        0
    );

    let (status, ticket) = s
        .app
        .call(
            Method::POST,
            "/tickets",
            Some(json!({"customer_phone": who, "customer_name": "Ana", "template": {"content_sid": ORDER, "variables": {"1": "Ana", "2": "#7"}}})),
            &s.admin.token,
        )
        .await;
    assert_eq!(status, 201, "{ticket}");
    assert!(ticket["first_response_at"].is_string(), "{ticket}");
    assert!(ticket["window_closes_at"].is_null());
    let first = messages_of(&s, &ticket).await[0].clone();
    assert_eq!(
        first["content"],
        "Olá Ana, seu pedido #7 saiu para entrega."
    );
    assert_eq!(first["from_customer"], false);
    wait_until("the opening template to be sent", || async {
        message(&s, &first["id"]).await["whatsapp_message_id"] == "SMtemplate0002"
    })
    .await;
    let form = form_of(&sends(&s.twilio).await[0]);
    assert!(form.iter().any(|(k, v)| k == "ContentSid" && v == ORDER));
}
