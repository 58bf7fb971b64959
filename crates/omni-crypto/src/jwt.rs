//! HS256 access tokens (jsonwebtoken).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use omni_core::{Clock, CompanyId, UserId};
use omni_identity::{AccessToken, Claims, IdentityError, Role, TokenIssuer, User};
use serde::{Deserialize, Serialize};

/// Clock skew tolerated between instances when checking `exp`, in seconds.
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Serialize, Deserialize)]
struct JwtClaims {
    sub: String,
    company_id: Option<i64>,
    role: String,
    iat: i64,
    exp: i64,
    /// The user's session epoch at issue.
    sep: i64,
    /// The token's own id.
    jti: String,
}

/// Issues and verifies HS256 tokens with claims `sub`, `company_id`, `role`, `iat`, `exp`.
///
/// Only HS256 is accepted: a token naming another algorithm (`none`, RS256 with our
/// secret as a "public key"...) is refused before its signature is looked at.
pub struct JwtIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    clock: Arc<dyn Clock>,
}

impl JwtIssuer {
    /// An issuer signing with `secret`, tokens living `ttl`.
    pub fn new(secret: &[u8], ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
            clock,
        }
    }
}

impl TokenIssuer for JwtIssuer {
    fn issue(&self, user: &User) -> Result<AccessToken, IdentityError> {
        let now = self.clock.now().timestamp();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = JwtClaims {
            sub: user.id.to_string(),
            company_id: user.company_id.map(CompanyId::get),
            role: user.role.as_str().to_owned(),
            iat: now,
            exp: now.saturating_add(ttl),
            sep: user.session_epoch,
            jti: random_url_safe::<16>(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| IdentityError::Unknown(format!("cannot sign a token: {e}")))?;
        Ok(AccessToken {
            token,
            expires_in: self.ttl.as_secs(),
        })
    }

    fn verify(&self, token: &str) -> Result<Claims, IdentityError> {
        let data =
            decode::<JwtClaims>(token, &self.decoding, &self.validation).map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => {
                        IdentityError::Unauthenticated("the token has expired")
                    }
                    _ => IdentityError::Unauthenticated("the token is invalid"),
                }
            })?;
        let claims = data.claims;
        let invalid = || IdentityError::Unauthenticated("the token is invalid");
        Ok(Claims {
            user_id: claims.sub.parse::<UserId>().map_err(|_| invalid())?,
            company_id: claims.company_id.map(CompanyId::new),
            role: claims.role.parse::<Role>().map_err(|_| invalid())?,
            issued_at: DateTime::from_timestamp(claims.iat, 0).ok_or_else(invalid)?,
            expires_at: DateTime::from_timestamp(claims.exp, 0).ok_or_else(invalid)?,
            session_epoch: claims.sep,
            token_id: Some(claims.jti)
                .filter(|j| !j.is_empty() && j.len() <= 64)
                .ok_or_else(invalid)?,
        })
    }

    fn new_ticket(&self) -> String {
        random_url_safe::<32>()
    }
}

/// `N` random bytes, URL-safe base64: a token's id (16), a WebSocket ticket (32).
fn random_url_safe<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use omni_core::{DisplayName, SystemClock};
    use omni_identity::Email;

    use super::*;

    struct FixedClock(DateTime<Utc>);

    impl Clock for FixedClock {
        fn now(&self) -> DateTime<Utc> {
            self.0
        }
    }

    fn user() -> User {
        User {
            id: UserId::new(42),
            company_id: Some(CompanyId::new(7)),
            email: Email::parse("ana@acme.test").unwrap(),
            name: DisplayName::parse("Ana").unwrap(),
            role: Role::Admin,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            session_epoch: 3,
        }
    }

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn issuer() -> JwtIssuer {
        JwtIssuer::new(SECRET, Duration::from_secs(3600), Arc::new(SystemClock))
    }

    #[test]
    fn a_token_carries_the_claims_it_was_issued_with() {
        let token = issuer().issue(&user()).unwrap();
        assert_eq!(token.expires_in, 3600);
        let claims = issuer().verify(&token.token).unwrap();
        assert_eq!(claims.user_id, UserId::new(42));
        assert_eq!(claims.company_id, Some(CompanyId::new(7)));
        assert_eq!(claims.role, Role::Admin);
        assert_eq!((claims.expires_at - claims.issued_at).num_seconds(), 3600);
        assert_eq!(claims.session_epoch, 3);
        let again = issuer()
            .verify(&issuer().issue(&user()).unwrap().token)
            .unwrap();
        assert_ne!(
            claims.token_id, again.token_id,
            "every token has its own id"
        );
        let payload = token.token.split('.').nth(1).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(json["sub"], "42");
        assert_eq!(json["company_id"], 7);
        assert_eq!(json["role"], "admin");
    }

    #[test]
    fn expired_forged_and_unsigned_tokens_are_refused() {
        let two_hours_ago = Utc::now() - chrono::Duration::hours(2);
        let old = JwtIssuer::new(
            SECRET,
            Duration::from_secs(3600),
            Arc::new(FixedClock(two_hours_ago)),
        );
        let expired = old.issue(&user()).unwrap().token;
        assert!(matches!(
            issuer().verify(&expired),
            Err(IdentityError::Unauthenticated("the token has expired"))
        ));

        let other_key = JwtIssuer::new(
            b"another secret of at least 32 bytes!",
            Duration::from_secs(60),
            Arc::new(SystemClock),
        );
        let forged = other_key.issue(&user()).unwrap().token;
        assert!(issuer().verify(&forged).is_err());

        // alg "none": a valid payload with no signature.
        let good = issuer().issue(&user()).unwrap().token;
        let payload = good.split('.').nth(1).unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(issuer().verify(&format!("{header}.{payload}.")).is_err());
        // A tampered payload breaks the signature.
        let tampered_payload = URL_SAFE_NO_PAD
            .encode(br#"{"sub":"1","company_id":7,"role":"superadmin","iat":1,"exp":99999999999}"#);
        let mut parts: Vec<&str> = good.split('.').collect();
        parts[1] = &tampered_payload;
        assert!(issuer().verify(&parts.join(".")).is_err());
        for garbage in ["", "abc", "a.b.c", "Bearer x"] {
            assert!(issuer().verify(garbage).is_err(), "{garbage}");
        }
    }
}
