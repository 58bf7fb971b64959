//! The messaging crate's `LinkSigner`: HMAC-SHA256 over an upload's id and expiry, with a
//! key of its own derived from the secret-encryption key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use omni_core::UploadId;
use omni_messaging::LinkSigner;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Signs the URLs the provider fetches uploads from.
#[derive(Clone)]
pub struct HmacLinkSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for HmacLinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HmacLinkSigner").finish_non_exhaustive()
    }
}

impl HmacLinkSigner {
    /// A signer whose key is derived from `secret` (the secret-encryption key): a key for
    /// this use alone, so that a signature never doubles as anything else.
    pub fn derived_from(secret: &[u8; 32]) -> Self {
        let mut key = [0u8; 32];
        key.copy_from_slice(&Self::mac(secret, b"omni:upload-links:v1"));
        Self { key }
    }

    fn mac(key: &[u8], message: &[u8]) -> Vec<u8> {
        // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
        match HmacSha256::new_from_slice(key) {
            Ok(mut mac) => {
                mac.update(message);
                mac.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }

    fn message(id: UploadId, expires: i64) -> String {
        format!("upload:{id}:{expires}")
    }
}

impl LinkSigner for HmacLinkSigner {
    fn sign(&self, id: UploadId, expires: i64) -> String {
        URL_SAFE_NO_PAD.encode(Self::mac(&self.key, Self::message(id, expires).as_bytes()))
    }

    fn verify(&self, id: UploadId, expires: i64, signature: &str) -> bool {
        let Ok(given) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        let Ok(mut mac) = HmacSha256::new_from_slice(&self.key) else {
            return false;
        };
        mac.update(Self::message(id, expires).as_bytes());
        // Constant time.
        mac.verify_slice(&given).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_holds_for_its_upload_and_expiry_only() {
        let signer = HmacLinkSigner::derived_from(&[7; 32]);
        let sig = signer.sign(UploadId::new(5), 1_900_000_000);
        assert!(signer.verify(UploadId::new(5), 1_900_000_000, &sig));
        assert!(!signer.verify(UploadId::new(6), 1_900_000_000, &sig));
        assert!(!signer.verify(UploadId::new(5), 1_900_000_001, &sig));
        assert!(!signer.verify(UploadId::new(5), 1_900_000_000, "not base64!"));
        assert!(!signer.verify(UploadId::new(5), 1_900_000_000, ""));
        let other = HmacLinkSigner::derived_from(&[8; 32]);
        assert!(!other.verify(UploadId::new(5), 1_900_000_000, &sig));
    }
}
