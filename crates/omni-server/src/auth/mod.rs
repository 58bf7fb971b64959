//! The one extractor every protected route uses; the hashing and token adapters it relies on
//! live in `omni-crypto`.

mod extractor;

pub use extractor::AuthUser;
pub(crate) use extractor::{admit, bearer_token, bearer_token_if_any};
