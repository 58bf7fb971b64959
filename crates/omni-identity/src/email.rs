use serde::{Deserialize, Serialize};

/// An e-mail address, trimmed and stored lower-case so that `Ana@X.com` and `ana@x.com`
/// are one account.
///
/// The check is deliberately modest — one `@`, a non-empty local part, a domain with a dot,
/// no spaces or control characters, at most 254 characters — because the only real proof
/// of an address is a message that reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// Why a text is not an e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing but whitespace.
    #[error("must not be empty")]
    Empty,
    /// More than 254 characters.
    #[error("must be at most 254 characters")]
    TooLong,
    /// Not of the form `name@domain.tld`.
    #[error("must be an e-mail address like name@example.com")]
    Malformed,
}

impl Email {
    /// Trims, lower-cases and checks an address.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(EmailError::Empty);
        }
        if email.chars().count() > 254 {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = email.split_once('@').ok_or(EmailError::Malformed)?;
        let well_formed = !local.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if !well_formed {
            return Err(EmailError::Malformed);
        }
        Ok(Self(email))
    }

    /// The canonical (lower-case) address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> Self {
        email.0
    }
}

impl std::str::FromStr for Email {
    type Err = EmailError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_canonical() {
        assert_eq!(
            Email::parse("  Ana.Souza@Example.COM ").unwrap().as_str(),
            "ana.souza@example.com"
        );
        assert_eq!(
            Email::parse("a+tag@sub.example.com.br").unwrap().as_str(),
            "a+tag@sub.example.com.br"
        );
    }

    #[test]
    fn malformed_addresses_are_refused() {
        assert_eq!(Email::parse(""), Err(EmailError::Empty));
        for bad in [
            "nope",
            "@example.com",
            "a@",
            "a@example",
            "a@@example.com",
            "a b@example.com",
            "a@.example.com",
            "a@example.com.",
            "a@ex..com",
            "a\0@example.com",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Malformed), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }
}
