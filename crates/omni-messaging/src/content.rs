/// The most characters a message may hold.
pub const MAX_CHARS: usize = 4096;
/// The most characters Twilio sends in one WhatsApp message.
pub const MAX_WHATSAPP_CHARS: usize = 1600;

/// The text of an agent's message: trimmed, not empty, no NUL or other control characters
/// but newline and tab, at most 1600 characters — Twilio's limit for one WhatsApp message.
/// A longer text is refused rather than split: the agent decides where to cut it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageContent(String);

impl MessageContent {
    /// Checks an outbound text.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let text = raw.trim();
        if text.is_empty() {
            return Err("must not be empty".into());
        }
        if text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            return Err("must not contain control characters".into());
        }
        if text.chars().count() > MAX_WHATSAPP_CHARS {
            return Err(format!(
                "must be at most {MAX_WHATSAPP_CHARS} characters (one WhatsApp message); split it"
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for MessageContent {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// An inbound text made safe to store: NUL bytes (which PostgreSQL refuses) removed, other
/// control characters but line breaks and tabs dropped, capped at [`MAX_CHARS`].
pub(crate) fn sanitise_inbound(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t' | '\r'))
        .take(MAX_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbound_text_rules() {
        assert_eq!(
            MessageContent::parse("  Olá!\nTudo bem? ")
                .unwrap()
                .as_str(),
            "Olá!\nTudo bem?"
        );
        assert!(MessageContent::parse("   ").is_err());
        assert!(MessageContent::parse("a\0b").is_err());
        assert!(MessageContent::parse(&"x".repeat(1600)).is_ok());
        assert!(MessageContent::parse(&"x".repeat(1601)).is_err());
    }

    #[test]
    fn inbound_text_is_cleaned_not_refused() {
        assert_eq!(sanitise_inbound("a\0b\u{7}c\nd"), "abc\nd");
        assert_eq!(
            sanitise_inbound(&"y".repeat(5000)).chars().count(),
            MAX_CHARS
        );
    }
}
