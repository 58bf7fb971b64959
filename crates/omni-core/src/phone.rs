use serde::{Deserialize, Serialize};

/// A phone number in E.164 form: `+`, a country code and the subscriber number, 7 to 15
/// digits in all, the first not `0` (e.g. `+5511987650001`).
///
/// Parsing accepts the separators people type (spaces, `-`, `.`, parentheses) and stores
/// the canonical digits only, so `+55 (11) 98765-0001` and `+5511987650001` are one customer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(value_type = String, pattern = r"^\+[1-9][0-9]{6,14}$", example = "+5511987650001")
)]
pub struct PhoneNumber(String);

/// Why a text is not an E.164 phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneNumberError {
    /// The text does not start with `+`.
    #[error("must start with + and the country code (E.164)")]
    MissingPlus,
    /// The text holds something other than digits and separators.
    #[error("may hold only digits after the +")]
    NotDigits,
    /// Too few or too many digits, or a leading zero.
    #[error("must have 7 to 15 digits, the first not 0 (E.164)")]
    BadLength,
}

impl PhoneNumber {
    /// Parses and canonicalises a phone number.
    pub fn parse(raw: &str) -> Result<Self, PhoneNumberError> {
        let rest = raw
            .trim()
            .strip_prefix('+')
            .ok_or(PhoneNumberError::MissingPlus)?;
        let mut digits = String::with_capacity(16);
        digits.push('+');
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(PhoneNumberError::NotDigits),
            }
        }
        let count = digits.len() - 1;
        if !(7..=15).contains(&count) || digits.as_bytes().get(1) == Some(&b'0') {
            return Err(PhoneNumberError::BadLength);
        }
        Ok(Self(digits))
    }

    /// The canonical form, `+` followed by digits only.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = PhoneNumberError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<PhoneNumber> for String {
    fn from(phone: PhoneNumber) -> Self {
        phone.0
    }
}

impl std::fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for PhoneNumber {
    type Err = PhoneNumberError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_canonical_and_typed_forms() {
        assert_eq!(
            PhoneNumber::parse("+5511987650001").unwrap().as_str(),
            "+5511987650001"
        );
        assert_eq!(
            PhoneNumber::parse(" +55 (11) 98765-0001 ")
                .unwrap()
                .as_str(),
            "+5511987650001"
        );
        assert_eq!(
            PhoneNumber::parse("+1.415.555.0100").unwrap().as_str(),
            "+14155550100"
        );
    }

    #[test]
    fn refuses_what_is_not_e164() {
        assert_eq!(
            PhoneNumber::parse("5511987650001"),
            Err(PhoneNumberError::MissingPlus)
        );
        assert_eq!(
            PhoneNumber::parse("+55abc"),
            Err(PhoneNumberError::NotDigits)
        );
        assert_eq!(
            PhoneNumber::parse("+123456"),
            Err(PhoneNumberError::BadLength)
        );
        assert_eq!(
            PhoneNumber::parse("+1234567890123456"),
            Err(PhoneNumberError::BadLength)
        );
        assert_eq!(
            PhoneNumber::parse("+0123456789"),
            Err(PhoneNumberError::BadLength)
        );
        assert_eq!(PhoneNumber::parse(""), Err(PhoneNumberError::MissingPlus));
    }

    #[test]
    fn json_uses_the_canonical_string() {
        let phone: PhoneNumber = serde_json::from_str("\"+55 11 98765 0001\"").unwrap();
        assert_eq!(serde_json::to_string(&phone).unwrap(), "\"+5511987650001\"");
        assert!(serde_json::from_str::<PhoneNumber>("\"12\"").is_err());
    }
}
