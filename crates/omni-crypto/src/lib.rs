//! Omni's cryptographic adapters, usable without the HTTP application:
//!
//! - [`Argon2Hasher`]: the identity crate's `PasswordHasher` (argon2id, OWASP parameters,
//!   on the blocking pool, a bounded number at once);
//! - [`JwtIssuer`]: its `TokenIssuer` (HS256 only, with the session epoch and a token id);
//! - [`AesGcmCipher`]: the tenancy crate's `SecretCipher` (AES-256-GCM, the company and the
//!   secret's name bound to each ciphertext, keys that rotate);
//! - [`HmacLinkSigner`]: the messaging crate's `LinkSigner` (HMAC-SHA256 signed, expiring
//!   URLs of uploaded files for the provider to fetch).
#![warn(missing_docs)]

mod cipher;
mod jwt;
mod links;
mod password;

pub use cipher::AesGcmCipher;
pub use jwt::JwtIssuer;
pub use links::HmacLinkSigner;
pub use password::Argon2Hasher;
