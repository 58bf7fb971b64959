//! WhatsApp media: a customer's attachments reach agents through Omni, never through
//! Twilio's URLs, with wiremock standing in for Twilio's API and its CDN.

use reqwest::Method;
use serde_json::Value;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::messages::{
    Setup, count, customer, inbound, messages_of, post_webhook, setup_configured, ticket_of,
};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const PHOTO: &[u8] = b"\xff\xd8\xff\xe0 not really a jpeg, but bytes all the same";

/// Where Twilio keeps attachment `media` of message `message`.
fn media_path(message: &str, media: &str) -> String {
    format!("/2010-04-01/Accounts/{SID}/Messages/{message}/Media/{media}")
}

/// A customer's WhatsApp message with attachments (`url`, `content type`) and no text.
fn with_media(who: &str, sid: &str, media: &[(String, &str)]) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = inbound(who, "", sid)
        .into_iter()
        .filter(|(k, _)| k != "NumMedia")
        .collect();
    form.push(("NumMedia".into(), media.len().to_string()));
    for (i, (url, content_type)) in media.iter().enumerate() {
        form.push((format!("MediaUrl{i}"), url.clone()));
        form.push((format!("MediaContentType{i}"), (*content_type).to_owned()));
    }
    form
}

/// The only message of `who`'s ticket.
async fn the_message(s: &Setup, who: &str) -> Value {
    messages_of(s, &ticket_of(s, who).await).await[0].clone()
}

/// `GET` of an Omni path with a bearer token.
async fn fetch(s: &Setup, path: &str, token: &str) -> reqwest::Response {
    s.app
        .client
        .get(format!("{}{path}", s.app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Twilio's answer to a media request: a redirect to its CDN, which serves the file only
/// to a request without the account's credentials (as a presigned CDN URL would).
async fn twilio_serves(s: &Setup, message: &str, media: &str, content_type: &str, bytes: &[u8]) {
    let basic = format!(
        "Basic {}",
        base64_of(&format!("{SID}:{}", s.token)) // the integration's credentials
    );
    Mock::given(method("GET"))
        .and(path(media_path(message, media)))
        .and(header("authorization", basic.as_str()))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("/cdn/{media}?Expires=1&Signature=x")),
        )
        .mount(&s.twilio)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/cdn/{media}")))
        .and(|r: &wiremock::Request| !r.headers.contains_key("authorization"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", content_type)
                .set_body_bytes(bytes.to_vec()),
        )
        .mount(&s.twilio)
        .await;
}

fn base64_of(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn a_customers_photo_reaches_the_agent_through_omni_and_nothing_else_is_fetched() {
    let s = setup_configured(false, |f| f).await;
    let who = customer();
    let sid = "MM00000000000000000000000000000a01";
    let photo = format!(
        "{}{}",
        s.twilio.uri(),
        media_path(sid, "ME0000000000000000000000000000a001")
    );
    let elsewhere = "https://files.example.net/ME0000000000000000000000000000a002".to_owned();
    let other_account = format!(
        "{}/2010-04-01/Accounts/AC9999999999999999999999999999999f/Messages/{sid}/Media/ME0000000000000000000000000000a003",
        s.twilio.uri()
    );
    twilio_serves(
        &s,
        sid,
        "ME0000000000000000000000000000a001",
        "image/jpeg",
        PHOTO,
    )
    .await;
    let form = with_media(
        &who,
        sid,
        &[
            (photo, "image/jpeg"),
            (elsewhere, "image/png"),
            (other_account, "application/pdf"),
        ],
    );
    assert_eq!(post_webhook(&s, &form, None).await.status(), 200);

    // A message of media alone is a message; its JSON names Omni's URLs, never Twilio's.
    let message = the_message(&s, &who).await;
    let id = message["id"].as_i64().unwrap();
    assert_eq!(message["content"], "");
    assert_eq!(
        message["media"],
        serde_json::json!([
            {"content_type": "image/jpeg", "url": format!("/ticket-messages/{id}/media/0")},
            {"content_type": "image/png", "url": format!("/ticket-messages/{id}/media/1")},
            {"content_type": "application/pdf", "url": format!("/ticket-messages/{id}/media/2")},
        ])
    );
    let (_, single) = s
        .app
        .call(
            Method::GET,
            &format!("/ticket-messages/{id}"),
            None,
            &s.admin.token,
        )
        .await;
    assert_eq!(single["media"], message["media"]);
    let payloads: Vec<String> = s
        .app
        .sql()
        .await
        .query(
            "SELECT payload::text FROM events WHERE type = 'message.created'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(payloads.len(), 1);
    for leaked in ["files.example.net", s.twilio.uri().as_str(), "/Accounts/"] {
        assert!(!payloads[0].contains(leaked), "{leaked} in {}", payloads[0]);
        assert!(
            !message.to_string().contains(leaked),
            "{leaked} in {message}"
        );
    }

    // The photo, through Twilio's redirect, with its type and size.
    let res = fetch(
        &s,
        &format!("/ticket-messages/{id}/media/0"),
        &s.admin.token,
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    assert_eq!(
        res.headers()["content-length"],
        PHOTO.len().to_string().as_str()
    );
    assert_eq!(res.headers()["content-disposition"], "inline");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.bytes().await.unwrap().as_ref(), PHOTO);
    // An agent of the company sees it too.
    let agent = s.app.add_user(&s.admin, "agent").await;
    assert_eq!(
        fetch(&s, &format!("/ticket-messages/{id}/media/0"), &agent.token)
            .await
            .status(),
        200
    );

    // Another host, another account: refused without asking anyone.
    let before = s.twilio.received_requests().await.unwrap().len();
    for n in [1, 2] {
        let res = fetch(
            &s,
            &format!("/ticket-messages/{id}/media/{n}"),
            &s.admin.token,
        )
        .await;
        assert_eq!(res.status(), 404);
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let problem: Value = res.json().await.unwrap();
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("does not fetch"),
            "{problem}"
        );
    }
    assert_eq!(s.twilio.received_requests().await.unwrap().len(), before);

    // No such attachment; another company; no token.
    let res = fetch(
        &s,
        &format!("/ticket-messages/{id}/media/3"),
        &s.admin.token,
    )
    .await;
    assert_eq!(res.status(), 404);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["detail"], "the message has no attachment 3");
    let stranger = s.app.register().await;
    assert_eq!(
        fetch(
            &s,
            &format!("/ticket-messages/{id}/media/0"),
            &stranger.token
        )
        .await
        .status(),
        404
    );
    let res = s
        .app
        .client
        .get(format!("{}/ticket-messages/{id}/media/0", s.app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        fetch(
            &s,
            &format!("/ticket-messages/{id}/media/x"),
            &s.admin.token
        )
        .await
        .status()
        .as_u16()
            / 100,
        4
    );
}

#[tokio::test]
async fn an_attachment_twilio_lost_or_too_large_is_a_clear_error() {
    let s = setup_configured(false, |f| f.merge(("twilio.media_max_bytes", 16))).await;
    let who = customer();
    let sid = "MM00000000000000000000000000000b01";
    let big = "ME0000000000000000000000000000b001";
    let lost = "ME0000000000000000000000000000b002";
    let script = "ME0000000000000000000000000000b003";
    twilio_serves(&s, sid, big, "video/mp4", &[0u8; 17]).await;
    twilio_serves(&s, sid, script, "text/html", b"<b>x</b>").await;
    Mock::given(method("GET"))
        .and(path(media_path(sid, lost)))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            serde_json::json!({"code": 20404, "message": "The requested resource was not found", "status": 404}),
        ))
        .mount(&s.twilio)
        .await;
    let url = |m: &str| format!("{}{}", s.twilio.uri(), media_path(sid, m));
    let form = with_media(
        &who,
        sid,
        &[
            (url(big), "video/mp4"),
            (url(lost), "audio/ogg"),
            (url(script), "text/html"),
        ],
    );
    assert_eq!(post_webhook(&s, &form, None).await.status(), 200);
    let id = the_message(&s, &who).await["id"].as_i64().unwrap();

    let res = fetch(
        &s,
        &format!("/ticket-messages/{id}/media/0"),
        &s.admin.token,
    )
    .await;
    assert_eq!(res.status(), 502);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(
        problem["detail"],
        "the attachment is larger than the 16-byte limit"
    );

    let res = fetch(
        &s,
        &format!("/ticket-messages/{id}/media/1"),
        &s.admin.token,
    )
    .await;
    assert_eq!(res.status(), 404);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(
        problem["detail"],
        "the provider no longer has this attachment"
    );

    // Under the limit, but a page: offered as a download, never run on Omni's origin.
    let res = fetch(
        &s,
        &format!("/ticket-messages/{id}/media/2"),
        &s.admin.token,
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-disposition"], "attachment");
    assert_eq!(
        res.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'; sandbox"
    );
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"<b>x</b>");
}

/// A multipart body with `parts` of (name, filename, content type, bytes).
fn multipart(parts: &[(&str, &str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "omni-test-boundary-7f3a";
    let mut body = Vec::new();
    for (name, filename, content_type, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n")
                .as_bytes(),
        );
        if let Some(t) = content_type {
            body.extend_from_slice(format!("Content-Type: {t}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(
    s: &Setup,
    token: &str,
    parts: &[(&str, &str, Option<&str>, &[u8])],
) -> (u16, Value) {
    let (content_type, body) = multipart(parts);
    let res = s
        .app
        .client
        .post(format!("{}/media", s.app.address))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_agent_answers_with_an_uploaded_photo_and_a_link_and_twilio_fetches_them_signed() {
    let s = setup_configured(true, |f| f).await;
    // One sid per send: the photo's message, then the link's.
    for sid in ["SMmedia0001", "SMmedia0002"] {
        Mock::given(method("POST"))
            .and(path(format!("/2010-04-01/Accounts/{SID}/Messages.json")))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(serde_json::json!({"sid": sid, "status": "queued"})),
            )
            .up_to_n_times(1)
            .mount(&s.twilio)
            .await;
    }
    let who = customer();
    let form = inbound(
        &who,
        "Chegou quebrado",
        "SM00000000000000000000000000000m01",
    );
    assert_eq!(post_webhook(&s, &form, None).await.status(), 200);
    let ticket = ticket_of(&s, &who).await;

    // Bad uploads: each says what is wrong, nothing is kept.
    let (status, problem) = upload(
        &s,
        &s.admin.token,
        &[("file", "page.html", Some("text/html"), b"<b>x</b>")],
    )
    .await;
    assert_eq!(status, 415, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("image/jpeg"),
        "{problem}"
    );
    let big = vec![0u8; 5 * 1024 * 1024 + 1];
    let (status, problem) = upload(
        &s,
        &s.admin.token,
        &[("file", "big.png", Some("image/png"), &big)],
    )
    .await;
    assert_eq!(status, 413, "{problem}");
    assert_eq!(
        problem["detail"],
        "the file is larger than the 5242880-byte limit for its type"
    );
    let (status, _) = upload(
        &s,
        &s.admin.token,
        &[("other", "a.png", Some("image/png"), PHOTO)],
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = upload(
        &s,
        &s.admin.token,
        &[("file", "a.png", Some("image/png"), b"")],
    )
    .await;
    assert_eq!(status, 422);
    let res = s
        .app
        .client
        .post(format!("{}/media", s.app.address))
        .bearer_auth(&s.admin.token)
        .json(&serde_json::json!({"file": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    assert_eq!(count(&s, "SELECT count(*) FROM uploads").await, 0);

    // A photo from the agent's machine.
    let agent = s.app.add_user(&s.admin, "agent").await;
    let (status, photo) = upload(
        &s,
        &agent.token,
        &[("file", "fotos/caixa nova.png", Some("image/png"), PHOTO)],
    )
    .await;
    assert_eq!(status, 201, "{photo}");
    assert_eq!(photo["content_type"], "image/png");
    assert_eq!(photo["filename"], "caixa nova.png");
    assert_eq!(photo["size"], PHOTO.len());
    // Another company's upload is not ours to send.
    let stranger = s.app.register().await;
    let (_, theirs) = upload(
        &s,
        &stranger.token,
        &[("file", "x.pdf", Some("application/pdf"), b"%PDF-1.7")],
    )
    .await;

    let reply = |body: Value| {
        let s = &s;
        async move {
            s.app
                .call(Method::POST, "/ticket-messages", Some(body), &s.admin.token)
                .await
        }
    };
    for (body, field) in [
        (
            serde_json::json!({"ticket_id": ticket["id"], "media_ids": [theirs["id"]]}),
            "media_ids[0]",
        ),
        (
            serde_json::json!({"ticket_id": ticket["id"], "media_urls": ["http://cdn.example.com/a.pdf"]}),
            "media_urls[0]",
        ),
        (
            serde_json::json!({"ticket_id": ticket["id"], "media_urls": vec!["https://cdn.example.com/a.pdf"; 11]}),
            "media_ids",
        ),
    ] {
        let (status, problem) = reply(body.clone()).await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }

    // WhatsApp carries one attachment per message.
    let link = "https://cdn.example.com/manual.pdf";
    let (status, problem) = reply(serde_json::json!({
        "ticket_id": ticket["id"], "media_ids": [photo["id"]], "media_urls": [link]
    }))
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "media_ids");

    // Media without text is a message.
    let (status, sent) =
        reply(serde_json::json!({"ticket_id": ticket["id"], "media_ids": [photo["id"]]})).await;
    assert_eq!(status, 201, "{sent}");
    let id = sent["id"].as_i64().unwrap();
    assert_eq!(sent["content"], "");
    assert_eq!(
        sent["media"],
        serde_json::json!([{"content_type": "image/png", "url": format!("/ticket-messages/{id}/media/0")}])
    );
    crate::messages::wait_until("the photo to be sent", || async {
        crate::messages::message(&s, &sent["id"]).await["whatsapp_message_id"] == "SMmedia0001"
    })
    .await;
    let (status, linked) = reply(serde_json::json!({
        "ticket_id": ticket["id"], "content": "O manual:", "media_urls": [link]
    }))
    .await;
    assert_eq!(status, 201, "{linked}");
    let linked_id = linked["id"].as_i64().unwrap();
    assert_eq!(
        linked["media"],
        serde_json::json!([{
            "content_type": null,
            "url": format!("/ticket-messages/{linked_id}/media/0"),
            // The agent's own public link, which a browser can follow directly.
            "link": link,
        }])
    );
    crate::messages::wait_until("the link to be sent", || async {
        crate::messages::message(&s, &linked["id"]).await["whatsapp_message_id"] == "SMmedia0002"
    })
    .await;
    let forms: Vec<Vec<(String, String)>> = crate::messages::sends(&s.twilio)
        .await
        .iter()
        .map(|r| {
            form_urlencoded::parse(&r.body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .collect();
    let urls_of = |form: &Vec<(String, String)>| -> Vec<String> {
        form.iter()
            .filter(|(k, _)| k == "MediaUrl")
            .map(|(_, v)| v.clone())
            .collect()
    };
    let body_of = |form: &Vec<(String, String)>| {
        form.iter()
            .find(|(k, _)| k == "Body")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(forms.len(), 2);
    assert_eq!(
        body_of(&forms[0]),
        None,
        "a photo alone goes without a text"
    );
    assert_eq!(urls_of(&forms[1]), [link]);
    assert_eq!(body_of(&forms[1]).as_deref(), Some("O manual:"));
    let photo_urls = urls_of(&forms[0]);
    assert_eq!(photo_urls.len(), 1);
    let signed = photo_urls[0]
        .strip_prefix("https://omni.test")
        .unwrap_or_else(|| panic!("{} is not under the public base", photo_urls[0]))
        .to_owned();
    assert!(
        signed.starts_with(&format!("/media/{}/content?expires=", photo["id"])),
        "{signed}"
    );

    // Twilio fetches it with the URL alone; a changed URL finds nothing.
    let public = s
        .app
        .client
        .get(format!("{}{signed}", s.app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 200);
    assert_eq!(public.headers()["content-type"], "image/png");
    assert_eq!(public.bytes().await.unwrap().as_ref(), PHOTO);
    let forged = signed.replace("signature=", "signature=A");
    let expired = signed.replace("expires=", "expires=1");
    for bad in [
        forged,
        expired,
        format!(
            "/media/{}/content?expires=9999999999&signature=x",
            photo["id"]
        ),
    ] {
        let res = s
            .app
            .client
            .get(format!("{}{bad}", s.app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{bad}");
    }

    // Agents see the photo through the message, and the link leads to the link.
    let res = fetch(&s, &format!("/ticket-messages/{id}/media/0"), &agent.token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), PHOTO);
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = no_redirects
        .get(format!(
            "{}/ticket-messages/{linked_id}/media/0",
            s.app.address
        ))
        .bearer_auth(&agent.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], link);
}

#[tokio::test]
async fn a_company_keeps_uploads_up_to_its_quota_and_no_further() {
    let s = setup_configured(false, |f| f.merge(("worker.upload_quota_mb", 1))).await;
    let file = vec![7u8; 700 * 1024];
    let (status, first) = upload(
        &s,
        &s.admin.token,
        &[("file", "a.pdf", Some("application/pdf"), &file)],
    )
    .await;
    assert_eq!(status, 201, "{first}");
    let (status, problem) = upload(
        &s,
        &s.admin.token,
        &[("file", "b.pdf", Some("application/pdf"), &file)],
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(
        problem["detail"],
        format!(
            "the company's uploads would hold {} bytes, over its 1048576-byte quota; older ones are deleted after the retention",
            2 * file.len()
        )
    );
    assert_eq!(count(&s, "SELECT count(*) FROM uploads").await, 1);
    // Another company's quota is its own.
    let other = s.app.register().await;
    let (status, _) = upload(
        &s,
        &other.token,
        &[("file", "c.pdf", Some("application/pdf"), &file)],
    )
    .await;
    assert_eq!(status, 201);
}
