//! Authentication adapters (argon2id, JWT) and the one extractor every protected route uses.

mod extractor;
mod jwt;
mod password;

pub use extractor::AuthUser;
pub(crate) use extractor::bearer_token;
pub use jwt::JwtIssuer;
pub use password::Argon2Hasher;
