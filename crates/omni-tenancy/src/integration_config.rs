//! The typed configuration of each integration type, parsed from a request's `config`
//! object field by field, so that every error names its field and none echoes a value.

use std::collections::BTreeMap;

use omni_core::{FieldError, PhoneNumber};
use serde_json::{Map, Value, json};

use crate::{IntegrationType, SecretName, SecretString};

/// Twilio credentials and the number they serve (WhatsApp or SMS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioConfig {
    /// `AC` followed by 32 hexadecimal digits.
    pub account_sid: String,
    /// The company's number on Twilio; inbound webhooks are routed by it.
    pub phone_number: PhoneNumber,
    /// `MG` followed by 32 hexadecimal digits: send through a Messaging Service instead of
    /// the bare number.
    pub messaging_service_sid: Option<String>,
}

/// Where Vera AI answers and how long to wait for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VeraConfig {
    /// The API's base URL, e.g. `https://vera.example.com/v1`.
    pub base_url: String,
    /// The model to ask.
    pub model: String,
    /// How long one request may take, in milliseconds (100 to 60000).
    pub timeout_ms: u32,
}

/// The non-secret part of an integration's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntegrationConfig {
    /// `twilio_whatsapp` or `twilio_sms`.
    Twilio(TwilioConfig),
    /// `vera_ai`.
    Vera(VeraConfig),
}

/// A configuration parsed from a request: its public part and the secrets it carried.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedConfig {
    /// The non-secret fields.
    pub config: IntegrationConfig,
    /// Secrets given in this request, by name.
    pub secrets: BTreeMap<SecretName, SecretString>,
}

const TWILIO_FIELDS: &[&str] = &[
    "account_sid",
    SecretName::AuthToken.as_str(),
    "phone_number",
    "messaging_service_sid",
];
const VERA_FIELDS: &[&str] = &[
    "base_url",
    SecretName::ApiKey.as_str(),
    "model",
    "timeout_ms",
];
const VERA_DEFAULT_TIMEOUT_MS: u32 = 10_000;

impl IntegrationType {
    /// The names of this type's secret fields.
    pub const fn secret_names(self) -> &'static [SecretName] {
        match self {
            IntegrationType::TwilioWhatsapp | IntegrationType::TwilioSms => {
                &[SecretName::AuthToken]
            }
            IntegrationType::VeraAi => &[SecretName::ApiKey],
        }
    }
}

impl IntegrationConfig {
    /// The phone number webhooks are routed by, for channel integrations.
    pub fn phone_number(&self) -> Option<&PhoneNumber> {
        match self {
            IntegrationConfig::Twilio(c) => Some(&c.phone_number),
            IntegrationConfig::Vera(_) => None,
        }
    }

    /// The secrets that must be given again when the configuration changes from `self` to
    /// `next`: a change of where a secret is sent (Vera's `base_url`, the Twilio account a
    /// token is presented to) must not carry the stored secret there unasked — otherwise
    /// whoever may edit an integration could point it at their own host and read the
    /// secret from the first request.
    pub fn secrets_bound_to_changes(&self, next: &IntegrationConfig) -> &'static [SecretName] {
        match (self, next) {
            (IntegrationConfig::Vera(a), IntegrationConfig::Vera(b))
                if a.base_url != b.base_url =>
            {
                &[SecretName::ApiKey]
            }
            (IntegrationConfig::Twilio(a), IntegrationConfig::Twilio(b))
                if a.account_sid != b.account_sid =>
            {
                &[SecretName::AuthToken]
            }
            _ => &[],
        }
    }

    /// The non-secret fields as JSON, as stored and as shown.
    pub fn to_json(&self) -> Value {
        match self {
            IntegrationConfig::Twilio(c) => json!({
                "account_sid": c.account_sid,
                "phone_number": c.phone_number,
                "messaging_service_sid": c.messaging_service_sid,
            }),
            IntegrationConfig::Vera(c) => json!({
                "base_url": c.base_url,
                "model": c.model,
                "timeout_ms": c.timeout_ms,
            }),
        }
    }

    /// Parses the `config` object of a request for an integration of type `kind`.
    ///
    /// For an update, `current` holds the stored non-secret fields: the request's fields
    /// are laid over them, so only what changes needs sending. Secrets are returned apart;
    /// a create that lacks one is refused by the caller, an update that lacks one keeps it.
    pub fn parse(
        kind: IntegrationType,
        input: &Value,
        current: Option<&IntegrationConfig>,
    ) -> Result<ParsedConfig, Vec<FieldError>> {
        let Some(input) = input.as_object() else {
            return Err(vec![FieldError::new("config", "must be an object")]);
        };
        let known = match kind {
            IntegrationType::TwilioWhatsapp | IntegrationType::TwilioSms => TWILIO_FIELDS,
            IntegrationType::VeraAi => VERA_FIELDS,
        };
        let mut errors: Vec<FieldError> = input
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .map(|k| {
                FieldError::new(
                    format!("config.{k}"),
                    format!("is not a field of a {kind} integration"),
                )
            })
            .collect();
        let mut merged: Map<String, Value> = match current {
            Some(c) => c.to_json().as_object().cloned().unwrap_or_default(),
            None => Map::new(),
        };
        for (k, v) in input {
            merged.insert(k.clone(), v.clone());
        }
        let mut fields = Fields {
            map: &merged,
            errors: &mut errors,
        };
        let mut secrets = BTreeMap::new();
        for &name in kind.secret_names() {
            if let Some(secret) = fields.secret(name.as_str(), input) {
                secrets.insert(name, secret);
            }
        }
        let config = match kind {
            IntegrationType::TwilioWhatsapp | IntegrationType::TwilioSms => {
                let account_sid = fields.sid("account_sid", "AC", true);
                let phone_number = fields.phone("phone_number");
                let messaging_service_sid = fields.sid("messaging_service_sid", "MG", false);
                match (account_sid, phone_number) {
                    (Some(account_sid), Some(phone_number)) => {
                        Some(IntegrationConfig::Twilio(TwilioConfig {
                            account_sid,
                            phone_number,
                            messaging_service_sid,
                        }))
                    }
                    _ => None,
                }
            }
            IntegrationType::VeraAi => {
                let base_url = fields.url("base_url");
                let model = fields.text("model", 200);
                let timeout_ms = fields.timeout("timeout_ms");
                match (base_url, model) {
                    (Some(base_url), Some(model)) => Some(IntegrationConfig::Vera(VeraConfig {
                        base_url,
                        model,
                        timeout_ms,
                    })),
                    _ => None,
                }
            }
        };
        match config {
            Some(config) if errors.is_empty() => Ok(ParsedConfig { config, secrets }),
            _ => Err(errors),
        }
    }
}

/// Reads fields of the merged object, collecting errors; messages never quote values.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    errors: &'a mut Vec<FieldError>,
}

impl Fields<'_> {
    fn fail(&mut self, field: &str, message: &str) {
        self.errors
            .push(FieldError::new(format!("config.{field}"), message));
    }

    /// A present, non-null string, trimmed; `None` (with an error when required) otherwise.
    fn string(&mut self, field: &str, required: bool) -> Option<String> {
        match self.map.get(field) {
            None | Some(Value::Null) => {
                if required {
                    self.fail(field, "is required");
                }
                None
            }
            Some(Value::String(s)) => Some(s.trim().to_owned()),
            Some(_) => {
                self.fail(field, "must be a string");
                None
            }
        }
    }

    fn sid(&mut self, field: &str, prefix: &str, required: bool) -> Option<String> {
        let value = self.string(field, required)?;
        let valid = value.len() == 34
            && value.starts_with(prefix)
            && value[2..].chars().all(|c| c.is_ascii_hexdigit());
        if !valid {
            self.fail(
                field,
                &format!("must be {prefix} followed by 32 hexadecimal digits"),
            );
            return None;
        }
        Some(value)
    }

    fn phone(&mut self, field: &str) -> Option<PhoneNumber> {
        let value = self.string(field, true)?;
        match PhoneNumber::parse(&value) {
            Ok(phone) => Some(phone),
            Err(e) => {
                self.fail(field, &e.to_string());
                None
            }
        }
    }

    fn url(&mut self, field: &str) -> Option<String> {
        let value = self.string(field, true)?;
        let trimmed = value.trim_end_matches('/');
        let host = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"));
        match host {
            Some(h)
                if !h.is_empty()
                    && !h.contains(|c: char| c.is_whitespace() || c.is_control())
                    && trimmed.len() <= 500 =>
            {
                Some(trimmed.to_owned())
            }
            _ => {
                self.fail(field, "must be an http(s) URL");
                None
            }
        }
    }

    fn text(&mut self, field: &str, max: usize) -> Option<String> {
        let value = self.string(field, true)?;
        if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
            self.fail(field, &format!("must be 1 to {max} characters"));
            return None;
        }
        Some(value)
    }

    fn timeout(&mut self, field: &str) -> u32 {
        match self.map.get(field) {
            None | Some(Value::Null) => VERA_DEFAULT_TIMEOUT_MS,
            Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) if (100..=60_000).contains(&n) => n,
                _ => {
                    self.fail(
                        field,
                        "must be a whole number of milliseconds from 100 to 60000",
                    );
                    VERA_DEFAULT_TIMEOUT_MS
                }
            },
        }
    }

    /// A secret given in this request (not taken from `current`, which never holds one).
    fn secret(&mut self, field: &str, input: &Map<String, Value>) -> Option<SecretString> {
        match input.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 1024 => {
                Some(SecretString::new(s.trim().to_owned()))
            }
            Some(_) => {
                self.fail(
                    field,
                    "must be a non-empty string of at most 1024 characters",
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";
    const MG: &str = "MG0123456789abcdef0123456789abcdef";

    fn fields(r: Result<ParsedConfig, Vec<FieldError>>) -> Vec<String> {
        r.unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_complete_twilio_config_parses_with_its_secret_apart() {
        let input = json!({"account_sid": SID, "auth_token": "tok", "phone_number": "+1 415 555 0100", "messaging_service_sid": MG});
        let parsed =
            IntegrationConfig::parse(IntegrationType::TwilioWhatsapp, &input, None).unwrap();
        let IntegrationConfig::Twilio(c) = &parsed.config else {
            panic!()
        };
        assert_eq!(c.phone_number.as_str(), "+14155550100");
        assert_eq!(parsed.secrets[&SecretName::AuthToken].expose(), "tok");
        let shown = parsed.config.to_json().to_string();
        assert!(!shown.contains("tok") && shown.contains(SID));
    }

    #[test]
    fn every_bad_field_is_named_and_no_value_is_quoted() {
        let input = json!({"account_sid": "AC123", "auth_token": 12345678, "phone_number": "5511", "messaging_service_sid": "XX", "colour": "red"});
        let errors =
            IntegrationConfig::parse(IntegrationType::TwilioSms, &input, None).unwrap_err();
        let mut names: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "config.account_sid",
                "config.auth_token",
                "config.colour",
                "config.messaging_service_sid",
                "config.phone_number"
            ]
        );
        assert!(
            errors
                .iter()
                .all(|e| !e.message.contains("12345678") && !e.message.contains("AC123"))
        );
        assert_eq!(
            fields(IntegrationConfig::parse(
                IntegrationType::VeraAi,
                &json!({"timeout_ms": 5}),
                None
            )),
            ["config.base_url", "config.model", "config.timeout_ms"]
        );
        assert_eq!(
            fields(IntegrationConfig::parse(
                IntegrationType::VeraAi,
                &json!([]),
                None
            )),
            ["config"]
        );
    }

    #[test]
    fn an_update_lays_its_fields_over_the_stored_ones() {
        let current = IntegrationConfig::parse(
            IntegrationType::VeraAi,
            &json!({"base_url": "https://vera.test/v1/", "api_key": "k", "model": "vera-large"}),
            None,
        )
        .unwrap();
        assert_eq!(current.config.to_json()["timeout_ms"], 10_000);
        assert_eq!(current.config.to_json()["base_url"], "https://vera.test/v1");
        let next = IntegrationConfig::parse(
            IntegrationType::VeraAi,
            &json!({"timeout_ms": 2000}),
            Some(&current.config),
        )
        .unwrap();
        assert!(
            next.secrets.is_empty(),
            "an omitted secret is not a new one"
        );
        assert_eq!(next.config.to_json()["model"], "vera-large");
        assert_eq!(next.config.to_json()["timeout_ms"], 2000);
    }
}
