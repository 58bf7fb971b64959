//! A channel provider's webhook: who sent it is proved before anything it says is believed.
//!
//! The provider's number routes the webhook to one company's integration, the
//! integration's secret proves the provider signed it ([`WebhookVerifier`]), and only then
//! does its content reach the use cases, which take a [`VerifiedWebhook`] as proof.

use omni_core::PhoneNumber;
use omni_tenancy::{Integration, IntegrationSecrets};
use omni_ticketing::Channel;

use crate::content::sanitise_inbound;
use crate::{
    DeliveryStatus, Inbound, InboundOutcome, Media, MessagingError, MessagingService, StatusReport,
    TicketMessage,
};

/// The longest profile name kept, in characters.
const MAX_PROFILE_NAME_CHARS: usize = 200;

/// A webhook as it reached Omni, before anyone trusts it.
#[derive(Debug, Clone, Copy)]
pub struct SignedWebhook<'a> {
    /// The URL the provider called: Omni's public base URL, the path and the query.
    pub url: &'a str,
    /// The body, byte for byte as received.
    pub body: &'a [u8],
    /// The provider's signature.
    pub signature: &'a str,
    /// How the provider says it signed, when it says (Twilio's
    /// `X-Twilio-Webhooks-Signature-Settings`).
    pub signing_settings: Option<&'a str>,
}

/// Checks a provider's signature on a webhook (Twilio's HMAC in production).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait WebhookVerifier: Send + Sync {
    /// Whether the provider signed `webhook` with these secrets (in constant time).
    fn is_signed<'a>(&self, webhook: &SignedWebhook<'a>, secrets: &IntegrationSecrets) -> bool;
}

/// A webhook whose signature matched the secret of the integration it names: the only way
/// to hand a webhook's content to [`MessagingService::accept_inbound`] and
/// [`MessagingService::apply_status`].
#[derive(Debug, Clone)]
pub struct VerifiedWebhook(Integration);

impl VerifiedWebhook {
    /// The integration that received it.
    pub fn integration(&self) -> &Integration {
        &self.0
    }
}

/// A customer's message as the channel delivered it, before it is cleaned.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerMessage {
    /// The provider's id of the message (Twilio's `MessageSid`).
    pub message_sid: String,
    /// The customer.
    pub customer: PhoneNumber,
    /// Their profile name.
    pub customer_name: Option<String>,
    /// Over WhatsApp (else SMS).
    pub whatsapp: bool,
    /// The text, as sent (control characters are removed on the way in).
    pub body: String,
    /// Attachments.
    pub media: Vec<Media>,
}

/// A delivery report as the provider sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderStatus {
    /// The provider's id of the message.
    pub message_sid: String,
    /// The status it reports.
    pub status: DeliveryStatus,
    /// The provider's error code, for a failure.
    pub error_code: Option<i32>,
    /// The provider's error message, for a failure.
    pub error_message: Option<String>,
}

/// Why a webhook was refused. Both answer the provider alike, so that outsiders cannot
/// learn which numbers Omni hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRefusal {
    /// No enabled integration has the number the webhook names.
    #[error("no enabled integration has the number")]
    UnknownNumber,
    /// The signature does not match the integration's secret.
    #[error("the signature does not match")]
    BadSignature,
}

impl WebhookRefusal {
    /// A short name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookRefusal::UnknownNumber => "unknown_number",
            WebhookRefusal::BadSignature => "bad_signature",
        }
    }
}

impl MessagingService {
    /// Routes a webhook by the provider's `number` to its enabled integration and checks
    /// that the provider signed it with the integration's secret.
    #[tracing::instrument(skip_all, fields(number = %number.as_str()))]
    pub async fn authenticate(
        &self,
        number: &PhoneNumber,
        webhook: &SignedWebhook<'_>,
    ) -> Result<VerifiedWebhook, MessagingError> {
        let integration = match self.integrations.by_phone(number).await {
            Ok(Some(integration)) if integration.enabled => integration,
            Ok(_) => return Err(WebhookRefusal::UnknownNumber.into()),
            Err(e) => return Err(crate::service::tenancy(e)),
        };
        let secrets = self
            .integrations
            .secrets(&integration)
            .map_err(crate::service::tenancy)?;
        if !self.webhooks.is_signed(webhook, &secrets) {
            return Err(WebhookRefusal::BadSignature.into());
        }
        Ok(VerifiedWebhook(integration))
    }

    /// Stores a customer's message that reached the webhook's integration: once per
    /// provider id, on the customer's open ticket or a new one.
    #[tracing::instrument(skip_all, fields(company_id = %from.integration().company_id, integration_id = %from.integration().id, message_sid = %message.message_sid))]
    pub async fn accept_inbound(
        &self,
        from: &VerifiedWebhook,
        message: CustomerMessage,
    ) -> Result<InboundOutcome, MessagingError> {
        let integration = from.integration();
        let inbound = Inbound {
            company_id: integration.company_id,
            integration_id: integration.id,
            channel: if message.whatsapp {
                Channel::Whatsapp
            } else {
                Channel::Sms
            },
            message_sid: message.message_sid,
            customer: message.customer,
            customer_name: message.customer_name.map(|n| {
                sanitise_inbound(&n)
                    .chars()
                    .take(MAX_PROFILE_NAME_CHARS)
                    .collect()
            }),
            body: sanitise_inbound(&message.body),
            media: message.media,
        };
        self.store.record_inbound(&inbound).await
    }

    /// Applies a delivery report for a message the webhook's integration sent; unknown
    /// sids and backward moves change nothing (`None`).
    #[tracing::instrument(skip_all, fields(company_id = %from.integration().company_id, message_sid = %report.message_sid, status = report.status.as_str()))]
    pub async fn apply_status(
        &self,
        from: &VerifiedWebhook,
        report: ProviderStatus,
    ) -> Result<Option<TicketMessage>, MessagingError> {
        let report = StatusReport {
            company_id: from.integration().company_id,
            message_sid: report.message_sid,
            status: report.status,
            error_code: report.error_code,
            error_message: report.error_message,
        };
        self.store.apply_status(&report).await
    }
}
