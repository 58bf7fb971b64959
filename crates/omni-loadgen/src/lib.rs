//! Load generator and benchmark driver for Omni.
//!
//! Will hold the `webhooks`, `fanout` and `reads` scenarios and the database seeder used by
//! `make bench`. The binary lands with the benchmark issue; until then the crate is empty
//! rather than shipping a command that does nothing.
