//! Zegel's binary crate as a library: configuration, wiring and the HTTP layer, so that the
//! integration tests run the real router.
#![forbid(unsafe_code)]

pub mod admin_keys;
pub mod app;
pub mod audit_cli;
pub mod backup;
pub mod config;
pub mod http;
pub mod receipts;
pub mod smtp;
