//! The key core engine from the outside: one test binary, a module per concern.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub,
    dead_code
)]

mod asymmetric;
mod common;
mod corruption;
mod import;
mod lifecycle;
mod policies;
mod rotation;
mod state_table;
