//! `attest-collector`: enrollment, signed-evidence ingest over TLS, storage (SQLite or
//! PostgreSQL), the Merkle log, the read API and metrics. `main.rs` is the CLI only;
//! everything else is here so that tests and the load and fleet generators (`attest-sim`)
//! can use it.

pub mod accounts;
pub mod admin;
pub mod api;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod evaluate;
pub mod files;
pub mod fleet;
pub mod guard;
pub mod ingest;
pub mod log;
pub mod logsafe;
pub mod metrics;
pub mod par;
pub mod ratelimit;
pub mod report;
pub mod retention;
pub mod server;
pub mod session;
pub mod store;
#[cfg(test)]
mod testkit;
pub mod tls;
pub mod ui;
pub mod users;
pub mod waivers;
