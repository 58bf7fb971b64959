//! AES-256-GCM for integration secrets, with key ids so that keys can rotate.

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use omni_core::CompanyId;
use omni_tenancy::{SealedSecret, SecretCipher, SecretName, SecretString, TenancyError};
use sha2::{Digest, Sha256};

/// Seals with the current key; opens with whichever key (current or previous) a sealed
/// value names. The key id is derived from the key itself (first 8 hex digits of its
/// SHA-256), so no id needs configuring and a wrong key is recognised, not tried.
pub struct AesGcmCipher {
    current: (String, Aes256Gcm),
    previous: Vec<(String, Aes256Gcm)>,
}

impl AesGcmCipher {
    /// A cipher sealing with `current` and still opening values sealed with `previous`.
    pub fn new(current: &[u8; 32], previous: &[[u8; 32]]) -> Self {
        Self {
            current: keyed(current),
            previous: previous.iter().map(keyed).collect(),
        }
    }

    fn key(&self, id: &str) -> Option<&Aes256Gcm> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|(kid, _)| kid == id)
            .map(|(_, cipher)| cipher)
    }
}

fn keyed(key: &[u8; 32]) -> (String, Aes256Gcm) {
    let digest = Sha256::digest(key);
    let id = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    (id, Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key)))
}

/// Binds a ciphertext to its company and field: moved elsewhere, it no longer opens.
fn aad(company: CompanyId, name: SecretName) -> String {
    format!("omni/integration-secret/{company}/{name}")
}

impl SecretCipher for AesGcmCipher {
    fn seal(
        &self,
        company: CompanyId,
        name: SecretName,
        secret: &SecretString,
    ) -> Result<SealedSecret, TenancyError> {
        let (key_id, cipher) = &self.current;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = aad(company, name);
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.expose().as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| TenancyError::Unknown("sealing a secret failed".into()))?;
        Ok(SealedSecret {
            key_id: key_id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    fn open(
        &self,
        company: CompanyId,
        name: SecretName,
        sealed: &SealedSecret,
    ) -> Result<SecretString, TenancyError> {
        // The messages name the key and the field, never any byte of the secret.
        let cipher = self.key(&sealed.key_id).ok_or_else(|| {
            TenancyError::Unknown(format!(
                "secret `{name}` was sealed with key {} which is not configured (crypto.secret_key / crypto.previous_keys)",
                sealed.key_id
            ))
        })?;
        let nonce: [u8; 12] =
            sealed.nonce.as_slice().try_into().map_err(|_| {
                TenancyError::Unknown(format!("secret `{name}` has a malformed nonce"))
            })?;
        let aad = aad(company, name);
        let plain = cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| {
                TenancyError::Unknown(format!(
                    "secret `{name}` does not open with key {}",
                    sealed.key_id
                ))
            })?;
        String::from_utf8(plain)
            .map(SecretString::new)
            .map_err(|_| TenancyError::Unknown(format!("secret `{name}` is not text")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: CompanyId = CompanyId::new(1);

    #[test]
    fn seals_with_a_fresh_nonce_and_opens_again() {
        let cipher = AesGcmCipher::new(&[7; 32], &[]);
        let secret = SecretString::new("twilio-auth-token".into());
        let one = cipher.seal(A, SecretName::AuthToken, &secret).unwrap();
        let two = cipher.seal(A, SecretName::AuthToken, &secret).unwrap();
        assert_ne!(one.nonce, two.nonce);
        assert_ne!(one.ciphertext, two.ciphertext);
        assert!(!String::from_utf8_lossy(&one.ciphertext).contains("twilio-auth-token"));
        assert_eq!(cipher.open(A, SecretName::AuthToken, &one).unwrap(), secret);
    }

    #[test]
    fn a_sealed_value_moved_to_another_company_or_field_does_not_open() {
        let cipher = AesGcmCipher::new(&[7; 32], &[]);
        let sealed = cipher
            .seal(A, SecretName::AuthToken, &SecretString::new("t".into()))
            .unwrap();
        assert!(
            cipher
                .open(CompanyId::new(2), SecretName::AuthToken, &sealed)
                .is_err()
        );
        assert!(cipher.open(A, SecretName::ApiKey, &sealed).is_err());
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert!(cipher.open(A, SecretName::AuthToken, &tampered).is_err());
    }

    #[test]
    fn keys_rotate_without_losing_old_secrets() {
        let old = AesGcmCipher::new(&[1; 32], &[]);
        let sealed_with_old = old
            .seal(A, SecretName::ApiKey, &SecretString::new("k".into()))
            .unwrap();
        let rotated = AesGcmCipher::new(&[2; 32], &[[1; 32]]);
        assert_eq!(
            rotated
                .open(A, SecretName::ApiKey, &sealed_with_old)
                .unwrap()
                .expose(),
            "k"
        );
        let resealed = rotated
            .seal(A, SecretName::ApiKey, &SecretString::new("k".into()))
            .unwrap();
        assert_ne!(resealed.key_id, sealed_with_old.key_id);
        let err = AesGcmCipher::new(&[3; 32], &[])
            .open(A, SecretName::ApiKey, &sealed_with_old)
            .unwrap_err();
        assert!(err.to_string().contains(&sealed_with_old.key_id));
    }
}
