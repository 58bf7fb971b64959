use std::time::Duration;

use omni_tenancy::{SecretString, TwilioConfig, Verification};
use serde::Deserialize;

use crate::TwilioError;
use crate::error::ErrorBody;

/// A client of Twilio's REST API.
#[derive(Debug, Clone)]
pub struct TwilioClient {
    pub(crate) http: reqwest::Client,
    /// Attachments: no redirect followed on its own (the next hop must not get the
    /// account's credentials), no total timeout (a large file takes its time), a read
    /// timeout instead.
    pub(crate) media_http: reqwest::Client,
    pub(crate) base_url: String,
    messaging_base_url: String,
    pub(crate) content_base_url: String,
    pub(crate) media_max_bytes: u64,
}

/// The largest attachment Omni passes on by default: WhatsApp's limit for documents.
pub const DEFAULT_MEDIA_MAX_BYTES: u64 = 100 * 1024 * 1024;

/// Whether a Twilio account may send from a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberOwnership {
    /// The number is one of the account's incoming numbers (or its Messaging Service's
    /// senders).
    Owned,
    /// Twilio answered, and the number is not the account's.
    NotOwned,
    /// Twilio refused the credentials.
    Refused(String),
    /// No answer from Twilio.
    Unreachable(String),
}

#[derive(Debug, Deserialize)]
struct IncomingNumbers {
    #[serde(default)]
    incoming_phone_numbers: Vec<NumberItem>,
}

#[derive(Debug, Deserialize)]
struct ServiceNumbers {
    #[serde(default)]
    phone_numbers: Vec<NumberItem>,
    #[serde(default)]
    meta: Option<PageMeta>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PageMeta {
    pub(crate) next_page_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NumberItem {
    phone_number: String,
}

/// A message to send through `POST /2010-04-01/Accounts/{sid}/Messages.json`.
#[derive(Debug, Clone)]
pub struct SendRequest<'a> {
    /// The account.
    pub account_sid: &'a str,
    /// Its auth token.
    pub auth_token: &'a SecretString,
    /// The sender (`whatsapp:+1…`), unless a Messaging Service sends.
    pub from: Option<String>,
    /// The Messaging Service that sends instead of `from`.
    pub messaging_service_sid: Option<&'a str>,
    /// The recipient (`whatsapp:+55…`).
    pub to: String,
    /// The text (not sent with a template, which carries its own).
    pub body: &'a str,
    /// An approved template to send in place of the text: its Content SID and its
    /// variables as the JSON object Twilio reads (`{"1": "Ana"}`).
    pub content: Option<(&'a str, String)>,
    /// Attachments' public URLs.
    pub media_urls: &'a [String],
    /// Where Twilio reports delivery.
    pub status_callback: Option<&'a str>,
}

/// The message resource Twilio created.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SentMessage {
    /// `SM…`: the id status callbacks will name.
    pub sid: String,
    /// Twilio's status (`queued`, `accepted`, `sending`, `sent`…).
    pub status: String,
}

/// The account resource, as far as Omni reads it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Account {
    /// `AC…`.
    pub sid: String,
    /// The account's name.
    pub friendly_name: String,
    /// `active`, `suspended` or `closed`.
    pub status: String,
}

impl TwilioClient {
    /// A client of the API at `base_url` (`https://api.twilio.com`, or a fake in tests).
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, TwilioError> {
        // reqwest is built without a default TLS provider; ring is ours. Installing it
        // twice is harmless (the second attempt reports the first and changes nothing).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("omni/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TwilioError::Network(e.to_string()))?;
        let media_http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .read_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("omni/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TwilioError::Network(e.to_string()))?;
        Ok(Self {
            http,
            media_http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            messaging_base_url: "https://messaging.twilio.com".to_owned(),
            content_base_url: "https://content.twilio.com".to_owned(),
            media_max_bytes: DEFAULT_MEDIA_MAX_BYTES,
        })
    }

    /// The Content API's base (`https://content.twilio.com`, or a fake in tests): the
    /// catalog of WhatsApp templates.
    pub fn with_content_base(mut self, base_url: &str) -> Self {
        self.content_base_url = base_url.trim_end_matches('/').to_owned();
        self
    }

    /// The largest attachment passed on to agents, in bytes.
    pub fn with_media_limit(mut self, max_bytes: u64) -> Self {
        self.media_max_bytes = max_bytes;
        self
    }

    /// The Messaging API's base (`https://messaging.twilio.com`, or a fake in tests).
    pub fn with_messaging_base(mut self, base_url: &str) -> Self {
        self.messaging_base_url = base_url.trim_end_matches('/').to_owned();
        self
    }

    /// Whether the account of `config` owns its number: one of the account's incoming
    /// phone numbers (`IncomingPhoneNumbers?PhoneNumber=`), or, with a Messaging Service,
    /// one of the service's senders. Enabling an integration asks this, so that one
    /// company cannot route another's number to itself.
    pub async fn owns_number(
        &self,
        config: &TwilioConfig,
        auth_token: &SecretString,
    ) -> NumberOwnership {
        let number = config.phone_number.as_str();
        let answer = match &config.messaging_service_sid {
            Some(service) => {
                self.service_has(&config.account_sid, auth_token, service, number)
                    .await
            }
            None => {
                let url = format!(
                    "{}/2010-04-01/Accounts/{}/IncomingPhoneNumbers.json",
                    self.base_url, config.account_sid
                );
                let response = self
                    .http
                    .get(url)
                    .query(&[("PhoneNumber", number)])
                    .basic_auth(&config.account_sid, Some(auth_token.expose()))
                    .send()
                    .await
                    .map_err(|e| TwilioError::Network(without_url(&e)));
                match response {
                    Ok(r) => read_resource::<IncomingNumbers>(r).await.map(|found| {
                        found
                            .incoming_phone_numbers
                            .iter()
                            .any(|n| n.phone_number == number)
                    }),
                    Err(e) => Err(e),
                }
            }
        };
        match answer {
            Ok(true) => NumberOwnership::Owned,
            Ok(false) => NumberOwnership::NotOwned,
            Err(TwilioError::Api {
                status: 401 | 403,
                code,
                message,
                ..
            }) => NumberOwnership::Refused(match code {
                Some(code) => format!("Twilio error {code}: {message}"),
                None => format!("Twilio: {message}"),
            }),
            // The account or service does not exist for these credentials.
            Err(TwilioError::Api { status: 404, .. }) => NumberOwnership::NotOwned,
            Err(other) => NumberOwnership::Unreachable(other.to_string()),
        }
    }

    /// Whether a Messaging Service sends from `number` (following its pages, at most 20).
    async fn service_has(
        &self,
        account_sid: &str,
        auth_token: &SecretString,
        service: &str,
        number: &str,
    ) -> Result<bool, TwilioError> {
        let mut url = Some(format!(
            "{}/v1/Services/{service}/PhoneNumbers?PageSize=1000",
            self.messaging_base_url
        ));
        for _ in 0..20 {
            let Some(next) = url.take() else { break };
            // A next page must stay on Twilio's host: never send the token elsewhere.
            if !next.starts_with(&self.messaging_base_url) {
                break;
            }
            let response = self
                .http
                .get(next)
                .basic_auth(account_sid, Some(auth_token.expose()))
                .send()
                .await
                .map_err(|e| TwilioError::Network(without_url(&e)))?;
            let page: ServiceNumbers = read_resource(response).await?;
            if page.phone_numbers.iter().any(|n| n.phone_number == number) {
                return Ok(true);
            }
            url = page.meta.and_then(|m| m.next_page_url);
        }
        Ok(false)
    }

    /// `GET /2010-04-01/Accounts/{sid}.json`: the account, if the credentials are right.
    pub async fn fetch_account(
        &self,
        account_sid: &str,
        auth_token: &SecretString,
    ) -> Result<Account, TwilioError> {
        let url = format!("{}/2010-04-01/Accounts/{account_sid}.json", self.base_url);
        let response = self
            .http
            .get(url)
            .basic_auth(account_sid, Some(auth_token.expose()))
            .send()
            .await
            .map_err(|e| TwilioError::Network(without_url(&e)))?;
        read_resource(response).await
    }

    /// Sends a message. Failures say whether retrying may help ([`TwilioError::is_retryable`]).
    pub async fn send_message(
        &self,
        request: &SendRequest<'_>,
    ) -> Result<SentMessage, TwilioError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.base_url, request.account_sid
        );
        let mut form: Vec<(&str, &str)> = vec![("To", request.to.as_str())];
        match &request.content {
            Some((sid, variables)) => {
                form.push(("ContentSid", sid));
                form.push(("ContentVariables", variables));
            }
            // Media alone goes without a text (an empty Body is not a caption).
            None if request.body.is_empty() && !request.media_urls.is_empty() => {}
            None => form.push(("Body", request.body)),
        }
        match (request.messaging_service_sid, request.from.as_deref()) {
            (Some(service), _) => form.push(("MessagingServiceSid", service)),
            (None, Some(from)) => form.push(("From", from)),
            (None, None) => {
                return Err(TwilioError::Decode(
                    "a sender (From or MessagingServiceSid) is required".into(),
                ));
            }
        }
        for media in request.media_urls {
            form.push(("MediaUrl", media));
        }
        if let Some(callback) = request.status_callback {
            form.push(("StatusCallback", callback));
        }
        let response = self
            .http
            .post(url)
            .basic_auth(request.account_sid, Some(request.auth_token.expose()))
            .form(&form)
            .send()
            .await
            .map_err(|e| TwilioError::Network(without_url(&e)))?;
        read_resource(response).await
    }

    /// The account's latest messages to `to` (from `from`, when given): newest first, one
    /// page of up to 50 — what a worker needs to find a message it may have sent moments ago.
    pub async fn recent_messages(
        &self,
        account_sid: &str,
        auth_token: &SecretString,
        to: &str,
        from: Option<&str>,
    ) -> Result<Vec<MessageRecord>, TwilioError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{account_sid}/Messages.json",
            self.base_url
        );
        let mut query = vec![("To", to), ("PageSize", "50")];
        if let Some(from) = from {
            query.push(("From", from));
        }
        let response = self
            .http
            .get(url)
            .query(&query)
            .basic_auth(account_sid, Some(auth_token.expose()))
            .send()
            .await
            .map_err(|e| TwilioError::Network(without_url(&e)))?;
        let page: MessagePage = read_resource(response).await?;
        Ok(page.messages)
    }

    /// Whether `config` with `auth_token` opens the account: Twilio's own words either way.
    pub async fn verify_credentials(
        &self,
        config: &TwilioConfig,
        auth_token: &SecretString,
    ) -> Verification {
        match self.fetch_account(&config.account_sid, auth_token).await {
            Ok(account) if account.status == "active" => {
                Verification::accepted(format!("account “{}” is active", account.friendly_name))
            }
            Ok(account) => Verification::refused(format!(
                "account “{}” is {}",
                account.friendly_name, account.status
            )),
            // Twilio's host is the operator's, not a tenant's: its words may be shown.
            Err(TwilioError::Api { code, message, .. }) => Verification::refused(match code {
                Some(code) => format!("Twilio error {code}: {message}"),
                None => format!("Twilio: {message}"),
            }),
            Err(other) => Verification::unreachable(other.to_string()),
        }
    }
}

/// One message as Twilio's Messages list shows it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct MessageRecord {
    /// Twilio's id of the message.
    pub sid: String,
    /// The text as sent.
    #[serde(default)]
    pub body: String,
    /// Twilio's status word.
    pub status: String,
    /// When Twilio created it, as Twilio writes dates (RFC 2822).
    pub date_created: Option<String>,
    /// The Messaging Service it went through, if any.
    pub messaging_service_sid: Option<String>,
}

#[derive(serde::Deserialize)]
struct MessagePage {
    #[serde(default)]
    messages: Vec<MessageRecord>,
}

/// A resource from a 2xx answer, or Twilio's error document.
pub(crate) async fn read_resource<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, TwilioError> {
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| TwilioError::Network(without_url(&e)))?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|e| TwilioError::Decode(e.to_string()));
    }
    let error: Option<ErrorBody> = serde_json::from_slice(&body).ok();
    Err(TwilioError::Api {
        status: status.as_u16(),
        code: error.as_ref().and_then(|e| e.code),
        message: error
            .as_ref()
            .and_then(|e| e.message.clone())
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned()),
        more_info: error.and_then(|e| e.more_info),
    })
}

/// reqwest's error text without the URL (which holds the account SID; harmless, but the
/// operator needs the cause, not the address).
pub(crate) fn without_url(e: &reqwest::Error) -> String {
    let cause = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    match std::error::Error::source(e) {
        Some(source) => format!("{cause}: {source}"),
        None => cause,
    }
}

#[cfg(test)]
mod tests {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";

    fn config() -> TwilioConfig {
        TwilioConfig {
            account_sid: SID.into(),
            phone_number: "+14155550100".parse().unwrap(),
            messaging_service_sid: None,
        }
    }

    #[tokio::test]
    async fn ownership_is_asked_of_the_accounts_numbers_or_the_services_senders() {
        use wiremock::matchers::query_param;
        let twilio = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(format!(
                "/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers.json"
            )))
            .and(query_param("PhoneNumber", "+14155550100"))
            .and(header(
                "authorization",
                "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjpyaWdodA==",
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "incoming_phone_numbers": [{"sid": "PN1", "phone_number": "+14155550100"}]
            })))
            .mount(&twilio)
            .await;
        Mock::given(method("GET"))
            .and(path(format!(
                "/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers.json"
            )))
            .and(header(
                "authorization",
                "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjpyaWdodA==",
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "incoming_phone_numbers": []
            })))
            .mount(&twilio)
            .await;
        Mock::given(method("GET"))
            .and(path(
                "/v1/Services/MG0123456789abcdef0123456789abcdef/PhoneNumbers",
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "phone_numbers": [{"phone_number": "+14155550100"}],
                "meta": {"next_page_url": null}
            })))
            .mount(&twilio)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
                "code": 20003, "message": "Authenticate", "status": 401
            })))
            .mount(&twilio)
            .await;
        let client = TwilioClient::new(&twilio.uri(), Duration::from_secs(5))
            .unwrap()
            .with_messaging_base(&twilio.uri());
        let right = SecretString::new("right".into());
        assert_eq!(
            client.owns_number(&config(), &right).await,
            NumberOwnership::Owned
        );
        let other = TwilioConfig {
            phone_number: "+14155550199".parse().unwrap(),
            ..config()
        };
        assert_eq!(
            client.owns_number(&other, &right).await,
            NumberOwnership::NotOwned
        );
        assert!(matches!(
            client
                .owns_number(&config(), &SecretString::new("wrong".into()))
                .await,
            NumberOwnership::Refused(_)
        ));
        let through_service = TwilioConfig {
            messaging_service_sid: Some("MG0123456789abcdef0123456789abcdef".into()),
            ..config()
        };
        assert_eq!(
            client.owns_number(&through_service, &right).await,
            NumberOwnership::Owned
        );
        let down = TwilioClient::new("http://127.0.0.1:1", Duration::from_secs(1)).unwrap();
        assert!(matches!(
            down.owns_number(&config(), &right).await,
            NumberOwnership::Unreachable(_)
        ));
    }

    #[tokio::test]
    async fn good_credentials_open_the_account() {
        let twilio = MockServer::start().await;
        // Basic base64("AC…:right-token").
        let basic = format!(
            "Basic {}",
            "QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjpyaWdodC10b2tlbg=="
        );
        Mock::given(method("GET"))
            .and(path(format!("/2010-04-01/Accounts/{SID}.json")))
            .and(header("authorization", basic.as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "sid": SID, "friendly_name": "Acme", "status": "active", "type": "Full"
            })))
            .mount(&twilio)
            .await;
        let client = TwilioClient::new(&twilio.uri(), Duration::from_secs(5)).unwrap();
        let answer = client
            .verify_credentials(&config(), &SecretString::new("right-token".into()))
            .await;
        assert!(answer.ok, "{answer:?}");
        assert!(answer.detail.contains("Acme"));
    }

    #[tokio::test]
    async fn a_wrong_token_gets_twilios_reason() {
        let twilio = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
                "code": 20003, "message": "Authenticate",
                "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401
            })))
            .mount(&twilio)
            .await;
        let client = TwilioClient::new(&twilio.uri(), Duration::from_secs(5)).unwrap();
        let token = SecretString::new("wrong-token".into());
        let err = client.fetch_account(SID, &token).await.unwrap_err();
        assert_eq!(
            err,
            TwilioError::Api {
                status: 401,
                code: Some(20003),
                message: "Authenticate".into(),
                more_info: Some("https://www.twilio.com/docs/errors/20003".into())
            }
        );
        let answer = client.verify_credentials(&config(), &token).await;
        assert!(!answer.ok);
        assert_eq!(answer.detail, "Twilio error 20003: Authenticate");
        assert!(!answer.detail.contains("wrong-token"));
    }

    #[tokio::test]
    async fn an_unreachable_twilio_is_an_answer_not_a_crash() {
        let client = TwilioClient::new("http://127.0.0.1:1", Duration::from_secs(2)).unwrap();
        let answer = client
            .verify_credentials(&config(), &SecretString::new("t".into()))
            .await;
        assert!(!answer.ok);
        assert!(
            answer.detail.starts_with("could not reach Twilio"),
            "{}",
            answer.detail
        );
    }
}

#[cfg(test)]
mod send_tests {
    use wiremock::matchers::{body_string_contains, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";

    fn request<'a>(token: &'a SecretString, media: &'a [String]) -> SendRequest<'a> {
        SendRequest {
            account_sid: SID,
            auth_token: token,
            from: Some("whatsapp:+14155238886".into()),
            messaging_service_sid: None,
            to: "whatsapp:+5511987650001".into(),
            body: "Olá! Como posso ajudar?",
            content: None,
            media_urls: media,
            status_callback: Some("https://omni.test/ticket-messages/webhook"),
        }
    }

    #[tokio::test]
    async fn sends_a_form_with_basic_auth_and_reads_the_resource() {
        let twilio = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(format!("/2010-04-01/Accounts/{SID}/Messages.json")))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .and(body_string_contains("To=whatsapp%3A%2B5511987650001"))
            .and(body_string_contains("From=whatsapp%3A%2B14155238886"))
            .and(body_string_contains(
                "MediaUrl=https%3A%2F%2Fcdn.test%2Fa.png",
            ))
            .and(body_string_contains(
                "StatusCallback=https%3A%2F%2Fomni.test%2Fticket-messages%2Fwebhook",
            ))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(serde_json::json!({"sid": "SMabc", "status": "queued"})),
            )
            .expect(1)
            .mount(&twilio)
            .await;
        let client = TwilioClient::new(&twilio.uri(), Duration::from_secs(5)).unwrap();
        let token = SecretString::new("tok".into());
        let media = ["https://cdn.test/a.png".to_owned()];
        let sent = client.send_message(&request(&token, &media)).await.unwrap();
        assert_eq!(
            sent,
            SentMessage {
                sid: "SMabc".into(),
                status: "queued".into()
            }
        );
    }

    #[tokio::test]
    async fn failures_are_classified() {
        for (status, code, retryable) in [
            (500, None, true),
            (503, Some(20500), true),
            (429, Some(20429), true),
            (400, Some(21211), false),
            (400, Some(63016), false),
            (401, Some(20003), false),
        ] {
            let twilio = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(status).set_body_json(
                    serde_json::json!({"code": code, "message": "no", "status": status}),
                ))
                .mount(&twilio)
                .await;
            let client = TwilioClient::new(&twilio.uri(), Duration::from_secs(5)).unwrap();
            let token = SecretString::new("tok".into());
            let err = client
                .send_message(&request(&token, &[]))
                .await
                .unwrap_err();
            assert_eq!(err.is_retryable(), retryable, "{status} {code:?}");
        }
        let client = TwilioClient::new("http://127.0.0.1:1", Duration::from_secs(1)).unwrap();
        let token = SecretString::new("tok".into());
        assert!(
            client
                .send_message(&request(&token, &[]))
                .await
                .unwrap_err()
                .is_retryable()
        );
    }
}
