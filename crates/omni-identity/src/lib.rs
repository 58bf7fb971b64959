//! Omni identity: who may use the API and what they may do.
//!
//! Users belong to a company (a tenant) and carry one [`Role`]; a superadmin operates the
//! platform and belongs to none. [`IdentityService`] holds the use cases — register,
//! login, authenticate a token, profile, and user management with its role rules — over
//! three ports: [`UserRepository`], [`PasswordHasher`] and [`TokenIssuer`]. Adapters
//! (PostgreSQL, argon2id, JWT) live outside this crate.
#![warn(missing_docs)]

mod email;
mod error;
mod password;
mod ports;
mod principal;
mod role;
mod service;
mod session;
mod user;

pub use email::{Email, EmailError};
pub use error::IdentityError;
pub use password::{Password, PasswordError, PasswordHash};
pub use ports::{AccessToken, Claims, PasswordHasher, TokenIssuer, UserRepository};
#[cfg(any(test, feature = "mock"))]
pub use ports::{MockPasswordHasher, MockTokenIssuer, MockUserRepository};
pub use principal::Principal;
pub use role::{Role, UnknownRole};
pub use service::{AuthSession, IdentityService, NewUserInput, Registration, UserChanges};
pub use session::{Session, TicketGrant, WS_TICKET_TTL_SECS, WsTicket};
pub use user::{NewUser, User, UserUpdate};
