//! `attest-agent`: probes a host, assembles an evidence report, signs it, and
//! delivers it to an Attest collector.
//!
//! Data flows one way: host files ([`host`]) → parsers and checks ([`checks`]) →
//! report ([`collect`]) → output ([`output`]), or, in the service: signed envelope →
//! [`spool`] → [`upload`] to the collector. [`config`] is the configuration file,
//! [`state`] the state directory (key, enrollment, chain position, status).

pub mod backoff;
pub mod capture;
pub mod checks;
pub mod collect;
pub mod config;
pub mod delta;
pub mod durable;
pub mod enroll;
#[cfg(test)]
mod fake_collector;
pub mod host;
pub mod lists;
pub mod output;
pub mod service;
pub mod spool;
pub mod state;
pub mod tls;
pub mod upload;
#[cfg(windows)]
pub mod winservice;
