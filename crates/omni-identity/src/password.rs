/// A new password as its owner typed it: 8 to 128 characters, nothing else required.
///
/// Length is what makes a password strong; composition rules (a digit, a symbol...) only
/// make passwords harder to remember (NIST SP 800-63B). Never printed, not even by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

/// Why a text cannot be a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Fewer than [`Password::MIN_CHARS`] characters.
    #[error("must be at least {min} characters", min = Password::MIN_CHARS)]
    TooShort,
    /// More than [`Password::MAX_CHARS`] characters.
    #[error("must be at most {max} characters", max = Password::MAX_CHARS)]
    TooLong,
    /// Holds a NUL byte, which no storage or hashing step treats consistently.
    #[error("must not contain NUL characters")]
    Nul,
}

impl Password {
    /// The shortest password accepted, in characters.
    pub const MIN_CHARS: usize = 8;
    /// The longest password accepted, in characters (bounds the hashing work).
    pub const MAX_CHARS: usize = 128;

    /// Checks a new password. It is not trimmed: spaces are characters like any other.
    pub fn parse(raw: &str) -> Result<Self, PasswordError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if chars > Self::MAX_CHARS {
            return Err(PasswordError::TooLong);
        }
        if raw.contains('\0') {
            return Err(PasswordError::Nul);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password itself, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl std::str::FromStr for Password {
    type Err = PasswordError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A password hash in PHC string form (`$argon2id$v=19$...`), as stored. Not printed by
/// `Debug` either: a hash is still material for an offline attack.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a stored PHC string.
    pub fn new(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_the_only_rule() {
        assert!(Password::parse("abcdefgh").is_ok());
        assert!(Password::parse("        ").is_ok());
        assert_eq!(Password::parse("abcdefg"), Err(PasswordError::TooShort));
        assert!(Password::parse(&"ç".repeat(128)).is_ok());
        assert_eq!(
            Password::parse(&"ç".repeat(129)),
            Err(PasswordError::TooLong)
        );
        assert_eq!(Password::parse("abcd\0efgh"), Err(PasswordError::Nul));
    }

    #[test]
    fn secrets_do_not_print() {
        let p = Password::parse("correct horse").unwrap();
        assert!(!format!("{p:?}").contains("horse"));
        let h = PasswordHash::new("$argon2id$secret".into());
        assert!(!format!("{h:?}").contains("secret"));
    }
}
