//! The messaging crate's webhook side through Twilio: its [`WebhookVerifier`] (Twilio's
//! HMAC signature with the account's auth token) and the domain's readings of Twilio's
//! forms.

use omni_messaging::{
    CustomerMessage, DeliveryStatus, Media, ProviderStatus, SignedWebhook, WebhookVerifier,
};
use omni_tenancy::IntegrationSecrets;

use crate::{InboundMessage, RawForm, SignatureAlgorithm, SignatureValidator, StatusCallback};

/// Checks `X-Twilio-Signature` on form-encoded webhooks, with the algorithm the
/// `X-Twilio-Webhooks-Signature-Settings` header names (HMAC-SHA1 when absent).
#[derive(Debug, Clone, Copy, Default)]
pub struct TwilioSignatures;

impl WebhookVerifier for TwilioSignatures {
    fn is_signed<'a>(&self, webhook: &SignedWebhook<'a>, secrets: &IntegrationSecrets) -> bool {
        let (Some(algorithm), Some(twilio)) = (
            SignatureAlgorithm::from_settings_header(webhook.signing_settings),
            secrets.twilio(),
        ) else {
            return false;
        };
        // Over the bytes as sent: a body that is not UTF-8 is still checked, then refused
        // as malformed rather than as forged.
        let form = RawForm::decode(webhook.body);
        SignatureValidator::new(twilio.auth_token.expose()).validate_form(
            webhook.url,
            &form.0,
            webhook.signature,
            algorithm,
        )
    }
}

impl From<InboundMessage> for CustomerMessage {
    fn from(m: InboundMessage) -> Self {
        CustomerMessage {
            message_sid: m.message_sid,
            customer: m.from,
            customer_name: m.profile_name,
            whatsapp: m.whatsapp,
            body: m.body,
            media: m
                .media
                .into_iter()
                .map(|x| Media {
                    url: x.url,
                    content_type: x.content_type,
                    upload: None,
                })
                .collect(),
        }
    }
}

impl StatusCallback {
    /// The report in the domain's terms; `None` for a status word Omni does not track.
    pub fn into_provider_status(self) -> Option<ProviderStatus> {
        Some(ProviderStatus {
            status: DeliveryStatus::from_twilio(&self.status)?,
            message_sid: self.message_sid,
            error_code: self.error_code,
            error_message: self.error_message,
        })
    }
}

#[cfg(test)]
mod tests {
    use omni_tenancy::{SecretString, TwilioSecrets, VeraSecrets};

    use super::*;

    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn secrets(token: &str) -> IntegrationSecrets {
        IntegrationSecrets::Twilio(TwilioSecrets {
            auth_token: SecretString::new(token.into()),
        })
    }

    fn signed(body: &[u8]) -> String {
        let form = RawForm::decode(body);
        SignatureValidator::new(TOKEN).compute(URL, &form.0, SignatureAlgorithm::HmacSha1)
    }

    #[test]
    fn a_form_signed_with_the_token_verifies_and_no_other_does() {
        let body = b"To=%2B14155550100&Body=hi";
        let signature = signed(body);
        let webhook = SignedWebhook {
            url: URL,
            body,
            signature: &signature,
            signing_settings: None,
        };
        assert!(TwilioSignatures.is_signed(&webhook, &secrets(TOKEN)));
        assert!(!TwilioSignatures.is_signed(&webhook, &secrets("another")));
        let vera = IntegrationSecrets::Vera(VeraSecrets {
            api_key: SecretString::new(TOKEN.into()),
        });
        assert!(!TwilioSignatures.is_signed(&webhook, &vera));
        let tampered = SignedWebhook {
            body: b"To=%2B14155550100&Body=ho",
            ..webhook
        };
        assert!(!TwilioSignatures.is_signed(&tampered, &secrets(TOKEN)));
    }

    #[test]
    fn unknown_status_words_are_not_reports() {
        let callback = |status: &str| StatusCallback {
            message_sid: "SM1".into(),
            from: omni_core::PhoneNumber::parse("+14155550100").unwrap(),
            status: status.into(),
            error_code: Some(30003),
            error_message: None,
        };
        let report = callback("undelivered").into_provider_status().unwrap();
        assert_eq!(report.status, DeliveryStatus::Undelivered);
        assert_eq!(report.error_code, Some(30003));
        assert!(
            callback("partially_delivered")
                .into_provider_status()
                .is_none()
        );
    }
}
