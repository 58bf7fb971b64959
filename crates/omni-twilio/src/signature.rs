//! `X-Twilio-Signature`: how Twilio signs the webhooks it sends.
//!
//! The signed string is the full URL Twilio requested followed by every form parameter,
//! names sorted, each name followed by its value (repeated names: every distinct value,
//! sorted). The signature is the base64 HMAC of that string keyed with the auth token —
//! SHA-1 by default, SHA-256 when `X-Twilio-Webhooks-Signature-Settings` says
//! `algorithm=HMAC_SHA256`. Twilio is inconsistent about writing the default port, so both
//! forms of the URL are tried. JSON bodies are signed through the URL alone, which carries
//! the body's SHA-256 in its `bodySHA256` query parameter.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";
/// The header naming the signing algorithm, when it is not the default HMAC-SHA1.
pub const SIGNATURE_SETTINGS_HEADER: &str = "X-Twilio-Webhooks-Signature-Settings";

/// The HMAC a webhook is signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    /// The legacy default, keyed with the auth token.
    HmacSha1,
    /// Named by `X-Twilio-Webhooks-Signature-Settings: …,algorithm=HMAC_SHA256`.
    HmacSha256,
}

impl SignatureAlgorithm {
    /// The algorithm named by the settings header; `None` when it names one this validator
    /// does not know (such a request must fail validation).
    pub fn from_settings_header(header: Option<&str>) -> Option<Self> {
        let named = header.unwrap_or_default().split(',').find_map(|part| {
            let (name, value) = part.split_once('=')?;
            (name.trim() == "algorithm" && !value.trim().is_empty())
                .then(|| value.trim().to_ascii_uppercase())
        });
        match named.as_deref() {
            None | Some("HMAC_SHA1") => Some(SignatureAlgorithm::HmacSha1),
            Some("HMAC_SHA256") => Some(SignatureAlgorithm::HmacSha256),
            Some(_) => None,
        }
    }
}

/// Checks webhook signatures with one auth token.
pub struct SignatureValidator<'a> {
    token: &'a [u8],
}

impl<'a> SignatureValidator<'a> {
    /// A validator for webhooks signed with `auth_token`.
    pub fn new(auth_token: &'a str) -> Self {
        Self {
            token: auth_token.as_bytes(),
        }
    }

    /// The signature Twilio would send for `url` and form `params` (decoded names and
    /// values, as text or as the raw bytes of a body that may not be UTF-8).
    pub fn compute<P: AsRef<[u8]>>(
        &self,
        url: &str,
        params: &[(P, P)],
        algorithm: SignatureAlgorithm,
    ) -> String {
        // Byte order is code-point order for UTF-8, so text sorts as Twilio sorts it.
        let mut names: Vec<&[u8]> = params.iter().map(|(k, _)| k.as_ref()).collect();
        names.sort_unstable();
        names.dedup();
        let mut signed = url.as_bytes().to_vec();
        for name in names {
            let mut values: Vec<&[u8]> = params
                .iter()
                .filter(|(k, _)| k.as_ref() == name)
                .map(|(_, v)| v.as_ref())
                .collect();
            values.sort_unstable();
            values.dedup();
            for value in values {
                signed.extend_from_slice(name);
                signed.extend_from_slice(value);
            }
        }
        let mac = match algorithm {
            SignatureAlgorithm::HmacSha1 => hmac_sha1_base64(self.token, &signed),
            SignatureAlgorithm::HmacSha256 => hmac_sha256_base64(self.token, &signed),
        };
        mac.unwrap_or_default()
    }

    /// Whether `signature` is Twilio's for a form-encoded request to `url`.
    pub fn validate_form<P: AsRef<[u8]>>(
        &self,
        url: &str,
        params: &[(P, P)],
        signature: &str,
        algorithm: SignatureAlgorithm,
    ) -> bool {
        url_forms(url)
            .iter()
            .any(|form| constant_time_eq(&self.compute(form, params, algorithm), signature))
    }

    /// Whether `signature` is Twilio's for a JSON request to `url` with this `body`: the URL
    /// is signed (with no parameters) and its `bodySHA256` must be the body's SHA-256.
    pub fn validate_json(
        &self,
        url: &str,
        body: &[u8],
        signature: &str,
        algorithm: SignatureAlgorithm,
    ) -> bool {
        let expected = query_param(url, "bodySHA256");
        let actual = hex(&Sha256::digest(body));
        let body_ok = expected.is_some_and(|e| constant_time_eq(&actual, &e));
        // Both checks run whatever the first says: no early exit to time.
        let signature_ok = self.validate_form::<&str>(url, &[], signature, algorithm);
        body_ok & signature_ok
    }
}

fn hmac_sha1_base64(key: &[u8], message: &[u8]) -> Option<String> {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).ok()?;
    mac.update(message);
    Some(BASE64.encode(mac.finalize().into_bytes()))
}

fn hmac_sha256_base64(key: &[u8], message: &[u8]) -> Option<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(message);
    Some(BASE64.encode(mac.finalize().into_bytes()))
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The URL without its port and with the scheme's default port written out (a port that
/// is already there stays): Twilio signs one or the other.
fn url_forms(url: &str) -> [String; 2] {
    let Some((scheme, rest)) = url.split_once("://") else {
        return [url.to_owned(), url.to_owned()];
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            (host, Some(port))
        }
        _ => (authority, None),
    };
    let without = format!("{scheme}://{host}{tail}");
    let with = match port {
        Some(_) => url.to_owned(),
        None => {
            let default = if scheme.eq_ignore_ascii_case("https") {
                443
            } else {
                80
            };
            format!("{scheme}://{host}:{default}{tail}")
        }
    };
    [without, with]
}

/// The first value of a query parameter, percent-decoded.
fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or_default();
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_url_forms() {
        assert_eq!(
            url_forms("https://a.example.com/hook?x=1"),
            [
                "https://a.example.com/hook?x=1".to_owned(),
                "https://a.example.com:443/hook?x=1".to_owned()
            ]
        );
        assert_eq!(
            url_forms("http://localhost:8080/hook"),
            [
                "http://localhost/hook".to_owned(),
                "http://localhost:8080/hook".to_owned()
            ]
        );
    }

    #[test]
    fn the_settings_header_names_the_algorithm() {
        use SignatureAlgorithm::*;
        assert_eq!(
            SignatureAlgorithm::from_settings_header(None),
            Some(HmacSha1)
        );
        assert_eq!(
            SignatureAlgorithm::from_settings_header(Some("")),
            Some(HmacSha1)
        );
        assert_eq!(
            SignatureAlgorithm::from_settings_header(Some(
                "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"
            )),
            Some(HmacSha256)
        );
        assert_eq!(
            SignatureAlgorithm::from_settings_header(Some("algorithm=HMAC_MD5")),
            None
        );
    }

    #[test]
    fn json_bodies_are_signed_through_their_hash() {
        let body = br#"{"event":"x"}"#;
        let url = format!(
            "https://omni.test/hook?bodySHA256={}",
            hex(&Sha256::digest(body))
        );
        let v = SignatureValidator::new("token");
        let signature = v.compute::<&str>(&url, &[], SignatureAlgorithm::HmacSha1);
        assert!(v.validate_json(&url, body, &signature, SignatureAlgorithm::HmacSha1));
        assert!(!v.validate_json(
            &url,
            br#"{"event":"y"}"#,
            &signature,
            SignatureAlgorithm::HmacSha1
        ));
        assert!(!v.validate_json(
            "https://omni.test/hook",
            body,
            &signature,
            SignatureAlgorithm::HmacSha1
        ));
    }

    #[test]
    fn repeated_names_sign_every_distinct_value_sorted() {
        let v = SignatureValidator::new("t");
        let a = vec![
            ("MediaUrl".to_owned(), "b".to_owned()),
            ("MediaUrl".to_owned(), "a".to_owned()),
        ];
        let b = vec![
            ("MediaUrl".to_owned(), "a".to_owned()),
            ("MediaUrl".to_owned(), "b".to_owned()),
        ];
        assert_eq!(
            v.compute("u", &a, SignatureAlgorithm::HmacSha1),
            v.compute("u", &b, SignatureAlgorithm::HmacSha1)
        );
    }
}
