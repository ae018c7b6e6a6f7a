//! Cross-crate integration tests against real processes: one test binary, a module per concern.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub
)]

mod alerts;
mod asymmetric;
mod broker;
mod clients;
mod compose;
mod crash;
mod credentials_endpoint;
mod firmware;
mod hostile;
mod hsm;
mod import;
mod keyclient;
mod keycore_tls;
mod lake;
mod policies;
mod postgres;
mod readme;
mod rotation;
mod scan;
mod secret_rotation;
mod secrets;
mod secrets_cli;
mod secure_broker;
mod stage;
mod support;
mod tls_front;
mod topics;
