//! The secrets of each integration type, typed: an adapter that calls Twilio asks for a
//! [`TwilioSecrets`] and gets an auth token, never a map it must search by name.

use crate::{IntegrationType, SecretString};

/// The name of a secret field of an integration's `config` (as written in requests and
/// as the sealed secrets are stored and bound to their ciphertext).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SecretName {
    /// Twilio's `auth_token`.
    AuthToken,
    /// Vera AI's `api_key`.
    ApiKey,
}

impl SecretName {
    /// The field's name, e.g. `auth_token`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SecretName::AuthToken => "auth_token",
            SecretName::ApiKey => "api_key",
        }
    }
}

impl std::fmt::Display for SecretName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Twilio integration's secret: the account's auth token, which authenticates API calls
/// and signs the webhooks Twilio sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioSecrets {
    /// The account's auth token.
    pub auth_token: SecretString,
}

/// A Vera AI integration's secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VeraSecrets {
    /// The API key sent as a bearer token.
    pub api_key: SecretString,
}

/// An integration's secrets in clear, of the shape its type requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntegrationSecrets {
    /// `twilio_whatsapp` or `twilio_sms`.
    Twilio(TwilioSecrets),
    /// `vera_ai`.
    Vera(VeraSecrets),
}

impl IntegrationSecrets {
    /// The secrets of an integration of type `kind`, each found by `lookup`; the name of
    /// the first one it lacks otherwise.
    pub fn assemble(
        kind: IntegrationType,
        mut lookup: impl FnMut(SecretName) -> Option<SecretString>,
    ) -> Result<Self, SecretName> {
        let mut take = |name| lookup(name).ok_or(name);
        Ok(match kind {
            IntegrationType::TwilioWhatsapp | IntegrationType::TwilioSms => {
                IntegrationSecrets::Twilio(TwilioSecrets {
                    auth_token: take(SecretName::AuthToken)?,
                })
            }
            IntegrationType::VeraAi => IntegrationSecrets::Vera(VeraSecrets {
                api_key: take(SecretName::ApiKey)?,
            }),
        })
    }

    /// Twilio's secrets, if these are a Twilio integration's.
    pub fn twilio(&self) -> Option<&TwilioSecrets> {
        match self {
            IntegrationSecrets::Twilio(s) => Some(s),
            IntegrationSecrets::Vera(_) => None,
        }
    }

    /// Vera AI's secrets, if these are a Vera AI integration's.
    pub fn vera(&self) -> Option<&VeraSecrets> {
        match self {
            IntegrationSecrets::Vera(s) => Some(s),
            IntegrationSecrets::Twilio(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> Option<SecretString> {
        Some(SecretString::new(s.into()))
    }

    #[test]
    fn each_type_takes_its_own_secret() {
        let twilio = IntegrationSecrets::assemble(IntegrationType::TwilioSms, |name| {
            (name == SecretName::AuthToken).then(|| SecretString::new("tok".into()))
        })
        .unwrap();
        assert_eq!(twilio.twilio().unwrap().auth_token.expose(), "tok");
        assert!(twilio.vera().is_none());

        let vera =
            IntegrationSecrets::assemble(IntegrationType::VeraAi, |_| secret("key")).unwrap();
        assert_eq!(vera.vera().unwrap().api_key.expose(), "key");
    }

    #[test]
    fn a_missing_secret_is_named() {
        assert_eq!(
            IntegrationSecrets::assemble(IntegrationType::TwilioWhatsapp, |_| None),
            Err(SecretName::AuthToken)
        );
        assert_eq!(
            IntegrationSecrets::assemble(IntegrationType::VeraAi, |_| None),
            Err(SecretName::ApiKey)
        );
    }

    #[test]
    fn names_are_the_request_fields() {
        assert_eq!(SecretName::AuthToken.to_string(), "auth_token");
        assert_eq!(SecretName::ApiKey.as_str(), "api_key");
    }
}
