/// A secret in clear (an auth token, an API key): held only as long as needed, never
/// printed, not even by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    /// The secret itself; call only where it is used (a request to the provider).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString(***)")
    }
}

/// A secret as stored: AES-256-GCM ciphertext, its nonce, and the id of the key that
/// sealed it (so that keys can rotate while old ciphertexts still open).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// Which key sealed it.
    pub key_id: String,
    /// The nonce, fresh for every sealing.
    pub nonce: Vec<u8>,
    /// Ciphertext with its authentication tag.
    pub ciphertext: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let s = SecretString::new("hunter2-token".into());
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2-token");
    }
}
