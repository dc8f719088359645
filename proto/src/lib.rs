//! `attest-proto`: the Attest wire format and nothing else.
//!
//! Evidence reports ([`report`]), the in-toto statement that carries them, the DSSE
//! envelope that signs them, the per-agent hash chain, and the enrollment messages.
//! No I/O, no async runtime: both the agent and the collector depend on this crate,
//! and it is the one place the format is defined.

pub mod report;

pub use report::{
    AgentInfo, CheckResult, Evidence, HostInfo, OsInfo, REPORT_SCHEMA, Report, Status,
};
