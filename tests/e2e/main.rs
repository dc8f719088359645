//! End-to-end tests: the real binaries, started as processes. One test binary, so
//! the workspace links it once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

mod support;

mod agent_collector;
mod agent_service;
mod browser;
mod collect_cli;
mod collector;
mod dashboard;
mod first_hour;
mod fixtures;
mod prune;
mod reports;
mod upgrade;
mod verify_hostile;
