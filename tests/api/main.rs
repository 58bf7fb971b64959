//! End-to-end tests: the real server on port 0, a real PostgreSQL database per test.
//! Set `TEST_LOG=1` to see the server's logs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth;
mod binary;
mod companies;
mod console;
mod crash;
mod docs;
mod errors;
mod fuzz;
mod health;
mod helpers;
mod integrations;
mod isolation;
mod media;
mod messages;
mod reports;
mod security;
mod templates;
mod tickets;
mod users;
mod ws;
