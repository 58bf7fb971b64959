//! The messaging crate's [`ChannelSender`] through Twilio's Messages API.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use omni_messaging::{ChannelSender, DeliveryStatus, OutboundRequest, SendError, Sent};
use omni_tenancy::{IntegrationConfig, TwilioConfig, TwilioSecrets};

use crate::{MessageRecord, SendRequest, TwilioClient, TwilioError};

/// How far before the recorded start of an attempt a message of Twilio's may be dated and
/// still be that attempt's: Twilio's clock and the database's may disagree a little.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(30);

/// The Twilio account and credentials of a request's integration.
fn account(request: &OutboundRequest) -> Result<(&TwilioConfig, &TwilioSecrets), SendError> {
    let IntegrationConfig::Twilio(config) = &request.integration.config else {
        return Err(SendError::Permanent {
            code: None,
            message: "the integration is not a Twilio channel".into(),
        });
    };
    let Some(secrets) = request.secrets.twilio() else {
        return Err(SendError::Permanent {
            code: None,
            message: "the integration's secrets are not Twilio's".into(),
        });
    };
    Ok((config, secrets))
}

fn send_error(e: TwilioError) -> SendError {
    match e {
        e if e.is_retryable() => SendError::Retryable(e.to_string()),
        TwilioError::Api { code, message, .. } => SendError::Permanent {
            code: code.and_then(|c| i32::try_from(c).ok()),
            message,
        },
        other => SendError::Permanent {
            code: None,
            message: other.to_string(),
        },
    }
}

/// Whether Twilio's `record` is the message `request` describes, created at or after
/// `since` (less the clock skew).
fn is_the_attempt(
    record: &MessageRecord,
    request: &OutboundRequest,
    config: &TwilioConfig,
    since: DateTime<Utc>,
) -> bool {
    let created = record
        .date_created
        .as_deref()
        .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
        .map(|d| d.with_timezone(&Utc));
    // A template's record holds Twilio's rendering of it, which Omni's matches for text
    // templates; through a Messaging Service Twilio lists it with no body at all.
    let same_text =
        record.body == request.body || (request.template.is_some() && record.body.is_empty());
    same_text
        && created.is_some_and(|c| c >= since - CLOCK_SKEW)
        && match &config.messaging_service_sid {
            Some(service) => record.messaging_service_sid.as_deref() == Some(service),
            None => true,
        }
}

#[async_trait]
impl ChannelSender for TwilioClient {
    #[tracing::instrument(skip_all, fields(integration_id = %request.integration.id))]
    async fn send(&self, request: &OutboundRequest) -> Result<Sent, SendError> {
        let (config, secrets) = account(request)?;
        let prefix = if request.whatsapp { "whatsapp:" } else { "" };
        let send = SendRequest {
            account_sid: &config.account_sid,
            auth_token: &secrets.auth_token,
            from: Some(format!("{prefix}{}", config.phone_number)),
            messaging_service_sid: config.messaging_service_sid.as_deref(),
            to: format!("{prefix}{}", request.to),
            body: &request.body,
            content: request.template.as_ref().map(|t| {
                (
                    t.content_sid.as_str(),
                    serde_json::Value::from_iter(
                        t.variables
                            .iter()
                            .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str()))),
                    )
                    .to_string(),
                )
            }),
            media_urls: &request.media_urls,
            status_callback: Some(&request.status_callback),
        };
        match self.send_message(&send).await {
            Ok(sent) => Ok(Sent {
                status: DeliveryStatus::from_twilio(&sent.status)
                    .unwrap_or(DeliveryStatus::Sending),
                sid: sent.sid,
            }),
            Err(e) => Err(send_error(e)),
        }
    }

    #[tracing::instrument(skip_all, fields(integration_id = %request.integration.id))]
    async fn find_sent(
        &self,
        request: &OutboundRequest,
        since: DateTime<Utc>,
    ) -> Result<Vec<Sent>, SendError> {
        let (config, secrets) = account(request)?;
        let prefix = if request.whatsapp { "whatsapp:" } else { "" };
        let to = format!("{prefix}{}", request.to);
        // Through a Messaging Service Twilio picks the sender: match on the service.
        let from = config
            .messaging_service_sid
            .is_none()
            .then(|| format!("{prefix}{}", config.phone_number));
        let records = self
            .recent_messages(
                &config.account_sid,
                &secrets.auth_token,
                &to,
                from.as_deref(),
            )
            .await
            .map_err(send_error)?;
        // Newest first, as Twilio lists them.
        Ok(records
            .into_iter()
            .filter(|r| is_the_attempt(r, request, config, since))
            .map(|r| Sent {
                status: DeliveryStatus::from_twilio(&r.status).unwrap_or(DeliveryStatus::Sending),
                sid: r.sid,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use omni_tenancy::IntegrationType;
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::test_support::{SID, integration, secrets};

    fn request() -> OutboundRequest {
        OutboundRequest {
            integration: integration(IntegrationType::TwilioWhatsapp),
            secrets: secrets(),
            to: "+5511987650001".parse().unwrap(),
            whatsapp: true,
            body: "Já estornamos.".into(),
            media_urls: vec![],
            template: None,
            status_callback: "https://omni.example.com/ticket-messages/webhook".into(),
        }
    }

    fn record(sid: &str, body: &str, at: DateTime<Utc>) -> serde_json::Value {
        serde_json::json!({
            "sid": sid, "body": body, "status": "delivered",
            "date_created": at.to_rfc2822(), "messaging_service_sid": null,
        })
    }

    #[tokio::test]
    async fn an_interrupted_attempt_is_found_by_text_and_time_among_the_recent_messages() {
        let twilio = MockServer::start().await;
        let since = Utc::now() - chrono::Duration::minutes(1);
        let client = TwilioClient::new(&twilio.uri(), Duration::from_secs(5)).unwrap();
        Mock::given(method("GET"))
            .and(path(format!("/2010-04-01/Accounts/{SID}/Messages.json")))
            .and(query_param("To", "whatsapp:+5511987650001"))
            .and(query_param("From", "whatsapp:+14155550100"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "messages": [
                    record("SMother", "Outra coisa", since + chrono::Duration::seconds(2)),
                    record("SMthis", "Já estornamos.", since + chrono::Duration::seconds(1)),
                    // The same words an hour earlier were another message.
                    record("SMearlier", "Já estornamos.", since - chrono::Duration::hours(1)),
                ]
            })))
            .expect(2)
            .mount(&twilio)
            .await;
        let found = client.find_sent(&request(), since).await.unwrap();
        assert_eq!(
            found,
            [Sent {
                sid: "SMthis".into(),
                status: DeliveryStatus::Delivered
            }]
        );
        let later = since + chrono::Duration::minutes(5);
        assert!(
            client
                .find_sent(&request(), later)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_template_sent_before_is_found_by_its_text_or_by_no_text_at_all() {
        let since = Utc::now() - chrono::Duration::minutes(1);
        let config = TwilioConfig {
            account_sid: SID.into(),
            phone_number: "+14155550100".parse().unwrap(),
            messaging_service_sid: None,
        };
        let at = since + chrono::Duration::seconds(1);
        let read = |v: serde_json::Value| serde_json::from_value::<MessageRecord>(v).unwrap();
        let mut template = request();
        template.template = Some(omni_messaging::TemplateMessage {
            content_sid: "HX1".into(),
            variables: BTreeMap::from([("1".into(), "Ana".into())]),
        });
        // Twilio's rendering, the same as Omni's; or none (through a Messaging Service).
        assert!(is_the_attempt(
            &read(record("SM1", "Já estornamos.", at)),
            &template,
            &config,
            since
        ));
        assert!(is_the_attempt(
            &read(record("SM1", "", at)),
            &template,
            &config,
            since
        ));
        assert!(!is_the_attempt(
            &read(record("SM1", "Outra", at)),
            &template,
            &config,
            since
        ));
        // Free text with no body is not this message.
        assert!(!is_the_attempt(
            &read(record("SM1", "", at)),
            &request(),
            &config,
            since
        ));
    }

    #[tokio::test]
    async fn a_provider_that_cannot_answer_is_a_reason_to_wait_not_to_send() {
        let twilio = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(503))
            .mount(&twilio)
            .await;
        let client = TwilioClient::new(&twilio.uri(), Duration::from_secs(5)).unwrap();
        assert!(matches!(
            client.find_sent(&request(), Utc::now()).await,
            Err(SendError::Retryable(_))
        ));
    }
}
