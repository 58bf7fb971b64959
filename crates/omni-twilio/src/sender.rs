//! The messaging crate's [`ChannelSender`] through Twilio's Messages API.

use async_trait::async_trait;
use omni_messaging::{ChannelSender, DeliveryStatus, OutboundRequest, SendError, Sent};
use omni_tenancy::IntegrationConfig;

use crate::{SendRequest, TwilioClient, TwilioError};

#[async_trait]
impl ChannelSender for TwilioClient {
    #[tracing::instrument(skip_all, fields(integration_id = %request.integration.id))]
    async fn send(&self, request: &OutboundRequest) -> Result<Sent, SendError> {
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
        let prefix = if request.whatsapp { "whatsapp:" } else { "" };
        let send = SendRequest {
            account_sid: &config.account_sid,
            auth_token: &secrets.auth_token,
            from: Some(format!("{prefix}{}", config.phone_number)),
            messaging_service_sid: config.messaging_service_sid.as_deref(),
            to: format!("{prefix}{}", request.to),
            body: &request.body,
            media_urls: &request.media_urls,
            status_callback: Some(&request.status_callback),
        };
        match self.send_message(&send).await {
            Ok(sent) => Ok(Sent {
                status: DeliveryStatus::from_twilio(&sent.status)
                    .unwrap_or(DeliveryStatus::Sending),
                sid: sent.sid,
            }),
            Err(e) if e.is_retryable() => Err(SendError::Retryable(e.to_string())),
            Err(TwilioError::Api { code, message, .. }) => Err(SendError::Permanent {
                code: code.and_then(|c| i32::try_from(c).ok()),
                message,
            }),
            Err(other) => Err(SendError::Permanent {
                code: None,
                message: other.to_string(),
            }),
        }
    }
}
