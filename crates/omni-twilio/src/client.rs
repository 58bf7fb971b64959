use std::time::Duration;

use omni_tenancy::{SecretString, TwilioConfig, Verification};
use serde::Deserialize;

use crate::TwilioError;
use crate::error::ErrorBody;

/// A client of Twilio's REST API.
#[derive(Debug, Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    base_url: String,
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
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
        })
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

    /// Whether `config` with `auth_token` opens the account: Twilio's own words either way.
    pub async fn verify_credentials(
        &self,
        config: &TwilioConfig,
        auth_token: &SecretString,
    ) -> Verification {
        match self.fetch_account(&config.account_sid, auth_token).await {
            Ok(account) if account.status == "active" => Verification {
                ok: true,
                detail: format!("account “{}” is active", account.friendly_name),
            },
            Ok(account) => Verification {
                ok: false,
                detail: format!("account “{}” is {}", account.friendly_name, account.status),
            },
            Err(TwilioError::Api { code, message, .. }) => Verification {
                ok: false,
                detail: match code {
                    Some(code) => format!("Twilio error {code}: {message}"),
                    None => format!("Twilio: {message}"),
                },
            },
            Err(other) => Verification {
                ok: false,
                detail: other.to_string(),
            },
        }
    }
}

/// reqwest's error text without the URL (which holds the account SID; harmless, but the
/// operator needs the cause, not the address).
fn without_url(e: &reqwest::Error) -> String {
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
