//! Typed readings of the forms Twilio posts: inbound messages and status callbacks.
//! Parameters this code does not know are accepted and ignored.

use omni_core::PhoneNumber;

/// A form Twilio posted, as decoded pairs (a name may repeat).
#[derive(Debug, Clone, Default)]
pub struct WebhookForm(pub Vec<(String, String)>);

/// An attachment of an inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMedia {
    /// Where Twilio keeps it.
    pub url: String,
    /// Its MIME type.
    pub content_type: Option<String>,
}

/// A customer's message.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundMessage {
    /// Twilio's `MessageSid`: the idempotency key of the delivery.
    pub message_sid: String,
    /// The customer (`From`, without `whatsapp:`).
    pub from: PhoneNumber,
    /// Our number (`To`).
    pub to: PhoneNumber,
    /// Whether it came over WhatsApp (`whatsapp:` prefix) rather than SMS.
    pub whatsapp: bool,
    /// The text; for a location or a button reply, a rendering of it.
    pub body: String,
    /// The customer's WhatsApp profile name.
    pub profile_name: Option<String>,
    /// Attachments.
    pub media: Vec<InboundMedia>,
}

/// A delivery report for a message we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCallback {
    /// The message it is about.
    pub message_sid: String,
    /// Our number (`From` in a callback).
    pub from: PhoneNumber,
    /// Twilio's status word (`queued`, `sent`, `delivered`, `read`, `failed`, `undelivered`…).
    pub status: String,
    /// Twilio's error code, for failures.
    pub error_code: Option<i32>,
    /// Twilio's error message, for failures.
    pub error_message: Option<String>,
}

/// What a webhook carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Webhook {
    /// A customer wrote.
    Inbound(InboundMessage),
    /// A message we sent changed status.
    Status(StatusCallback),
}

/// Why a form is not a webhook we can act on (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WebhookError(pub String);

/// A form body decoded to bytes but not yet read as text: its signature is checked over
/// exactly what was sent, so a correctly signed body that is not UTF-8 is told apart (400)
/// from a forged one (403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawForm(pub Vec<(Vec<u8>, Vec<u8>)>);

impl RawForm {
    /// Splits `a=1&b=x%20y+z` into decoded byte pairs (`+` is a space, `%XX` a byte; a
    /// malformed escape stays as written, as browsers and Twilio's helpers do).
    pub fn decode(body: &[u8]) -> Self {
        let pairs = body
            .split(|b| *b == b'&')
            .filter(|part| !part.is_empty())
            .map(|part| {
                let (name, value) = match part.iter().position(|b| *b == b'=') {
                    Some(i) => (&part[..i], &part[i + 1..]),
                    None => (part, &[][..]),
                };
                (unescape(name), unescape(value))
            })
            .collect();
        Self(pairs)
    }

    /// The first value of `name`, if it is text.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The form as text; an error names the first field that is not UTF-8.
    pub fn into_text(self) -> Result<WebhookForm, WebhookError> {
        self.0
            .into_iter()
            .map(|(k, v)| {
                let name = String::from_utf8(k)
                    .map_err(|_| WebhookError("a field name is not UTF-8".into()))?;
                let value = String::from_utf8(v)
                    .map_err(|_| WebhookError(format!("{name} is not UTF-8")))?;
                Ok((name, value))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(WebhookForm)
    }

    /// Our number, as [`WebhookForm::our_number`] reads it.
    pub fn our_number(&self) -> Result<PhoneNumber, WebhookError> {
        let field = if self.get("MessageStatus").is_some() {
            "From"
        } else {
            "To"
        };
        let value = self
            .get(field)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| WebhookError(format!("{field} is missing")))?;
        address(field, value).map(|(p, _)| p)
    }
}

fn unescape(raw: &[u8]) -> Vec<u8> {
    let hex = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                raw.get(i + 1).and_then(|b| hex(*b)),
                raw.get(i + 2).and_then(|b| hex(*b)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

impl WebhookForm {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> Result<&str, WebhookError> {
        self.get(name)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| WebhookError(format!("{name} is missing")))
    }

    /// The number a webhook is routed by: `To` for an inbound message, `From` (our number)
    /// for a status callback.
    pub fn our_number(&self) -> Result<PhoneNumber, WebhookError> {
        let field = if self.is_status_callback() {
            "From"
        } else {
            "To"
        };
        address(field, self.required(field)?).map(|(p, _)| p)
    }

    /// Whether this is a status callback (it carries `MessageStatus`).
    pub fn is_status_callback(&self) -> bool {
        self.get("MessageStatus").is_some()
    }

    /// Reads the form as an inbound message or a status callback.
    pub fn parse(&self) -> Result<Webhook, WebhookError> {
        let message_sid = self
            .get("MessageSid")
            .or_else(|| self.get("SmsMessageSid"))
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| WebhookError("MessageSid is missing".into()))?
            .trim()
            .to_owned();
        if message_sid.len() > 64 || !message_sid.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(WebhookError(
                "MessageSid must be up to 64 letters and digits".into(),
            ));
        }
        if let Some(status) = self.get("MessageStatus") {
            let error_code = self.get("ErrorCode").and_then(|c| c.trim().parse().ok());
            return Ok(Webhook::Status(StatusCallback {
                message_sid,
                from: address("From", self.required("From")?)?.0,
                status: status.trim().to_ascii_lowercase(),
                error_code,
                // Twilio's own words when it sends them; else what the code means.
                error_message: self
                    .get("ErrorMessage")
                    .map(str::to_owned)
                    .filter(|m| !m.is_empty())
                    .or_else(|| {
                        error_code
                            .and_then(crate::error_codes::describe)
                            .map(str::to_owned)
                    }),
            }));
        }
        let (from, whatsapp) = address("From", self.required("From")?)?;
        let (to, _) = address("To", self.required("To")?)?;
        let count: usize = self
            .get("NumMedia")
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        let media = (0..count.min(10))
            .filter_map(|i| {
                // Stored as JSON, where PostgreSQL refuses NUL: control characters are dropped.
                let clean = |s: &str| {
                    s.chars()
                        .filter(|c| !c.is_control())
                        .take(2048)
                        .collect::<String>()
                };
                Some(InboundMedia {
                    url: clean(self.get(&format!("MediaUrl{i}"))?),
                    content_type: self.get(&format!("MediaContentType{i}")).map(clean),
                })
            })
            .collect();
        Ok(Webhook::Inbound(InboundMessage {
            message_sid,
            from,
            to,
            whatsapp,
            body: self.body(),
            profile_name: self
                .get("ProfileName")
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned),
            media,
        }))
    }

    /// The text of the message; a shared location or a tapped button when there is no text.
    fn body(&self) -> String {
        let body = self.get("Body").unwrap_or_default();
        if !body.is_empty() {
            return body.to_owned();
        }
        if let (Some(lat), Some(lon)) = (self.get("Latitude"), self.get("Longitude")) {
            let label = self
                .get("Label")
                .or_else(|| self.get("Address"))
                .unwrap_or("location");
            return format!("📍 {label} ({lat}, {lon})");
        }
        if let Some(button) = self.get("ButtonText").or_else(|| self.get("ButtonPayload")) {
            return button.to_owned();
        }
        String::new()
    }
}

/// `whatsapp:+5511…` or `+5511…`: the number, and whether it was a WhatsApp address.
fn address(field: &str, raw: &str) -> Result<(PhoneNumber, bool), WebhookError> {
    let raw = raw.trim();
    let (number, whatsapp) = match raw.strip_prefix("whatsapp:") {
        Some(n) => (n, true),
        None => (raw, false),
    };
    PhoneNumber::parse(number)
        .map(|p| (p, whatsapp))
        .map_err(|e| WebhookError(format!("{field} is not a phone number: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_forms_decode_as_form_urlencoded_does_and_keep_bytes_that_are_not_text() {
        let body = b"Body=Ol%C3%A1+mundo&To=whatsapp%3A%2B14155550100&Empty=&Flag&Bad=%zz%4";
        let raw = RawForm::decode(body);
        let text: Vec<(String, String)> = form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(raw.clone().into_text().unwrap().0, text);
        assert_eq!(raw.get("To"), Some("whatsapp:+14155550100"));
        let latin1 = RawForm::decode(b"Body=caf%E9&To=x");
        assert_eq!(latin1.0[0].1, b"caf\xe9");
        assert_eq!(latin1.get("Body"), None);
        assert_eq!(
            latin1.into_text().unwrap_err(),
            WebhookError("Body is not UTF-8".into())
        );
    }

    fn form(pairs: &[(&str, &str)]) -> WebhookForm {
        WebhookForm(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn an_inbound_whatsapp_message_with_media() {
        let f = form(&[
            ("MessageSid", "SM1"),
            ("From", "whatsapp:+5511987650001"),
            ("To", "whatsapp:+14155238886"),
            ("Body", "Olá"),
            ("ProfileName", "Zé"),
            ("WaId", "5511987650001"),
            ("NumMedia", "1"),
            ("MediaUrl0", "https://api.twilio.com/m/1"),
            ("MediaContentType0", "image/jpeg"),
            ("Unknown", "x"),
        ]);
        assert_eq!(f.our_number().unwrap().as_str(), "+14155238886");
        let Webhook::Inbound(m) = f.parse().unwrap() else {
            panic!()
        };
        assert_eq!(m.from.as_str(), "+5511987650001");
        assert!(m.whatsapp);
        assert_eq!(m.profile_name.as_deref(), Some("Zé"));
        assert_eq!(
            m.media,
            [InboundMedia {
                url: "https://api.twilio.com/m/1".into(),
                content_type: Some("image/jpeg".into())
            }]
        );
    }

    #[test]
    fn locations_and_buttons_become_text() {
        let base = [
            ("MessageSid", "SM2"),
            ("From", "whatsapp:+5511987650001"),
            ("To", "whatsapp:+14155238886"),
        ];
        let mut loc = base.to_vec();
        loc.extend([
            ("Latitude", "-23.5"),
            ("Longitude", "-46.6"),
            ("Label", "Loja"),
        ]);
        let Webhook::Inbound(m) = form(&loc).parse().unwrap() else {
            panic!()
        };
        assert_eq!(m.body, "📍 Loja (-23.5, -46.6)");
        let mut button = base.to_vec();
        button.extend([("ButtonText", "Sim, confirmar")]);
        let Webhook::Inbound(m) = form(&button).parse().unwrap() else {
            panic!()
        };
        assert_eq!(m.body, "Sim, confirmar");
    }

    #[test]
    fn a_status_callback_is_routed_by_from() {
        let f = form(&[
            ("MessageSid", "SM3"),
            ("MessageStatus", "undelivered"),
            ("From", "whatsapp:+14155238886"),
            ("To", "whatsapp:+5511987650001"),
            ("ErrorCode", "63016"),
        ]);
        assert_eq!(f.our_number().unwrap().as_str(), "+14155238886");
        let Webhook::Status(s) = f.parse().unwrap() else {
            panic!()
        };
        assert_eq!(
            (s.status.as_str(), s.error_code),
            ("undelivered", Some(63016))
        );
        assert!(
            s.error_message.as_deref().unwrap().contains("24-hour"),
            "the code explained: {:?}",
            s.error_message
        );
        let mut said = f.clone();
        said.0
            .push(("ErrorMessage".into(), "Twilio's words".into()));
        let Webhook::Status(s) = said.parse().unwrap() else {
            panic!()
        };
        assert_eq!(s.error_message.as_deref(), Some("Twilio's words"));
    }

    #[test]
    fn missing_or_bad_addresses_are_errors() {
        assert!(
            form(&[("MessageSid", "SM4"), ("To", "whatsapp:+14155238886")])
                .parse()
                .is_err()
        );
        assert!(
            form(&[
                ("MessageSid", "SM4"),
                ("From", "whatsapp:abc"),
                ("To", "whatsapp:+14155238886")
            ])
            .parse()
            .is_err()
        );
        assert!(
            form(&[("From", "+5511987650001"), ("To", "+14155238886")])
                .parse()
                .is_err()
        );
        assert!(form(&[("Body", "x")]).our_number().is_err());
    }
}
