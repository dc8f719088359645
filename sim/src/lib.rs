//! `attest-sim`: the load and fleet generators of the collector's benchmarks and
//! tests, out of the collector itself.
//!
//! - [`synth`]: synthetic agents and their signed reports (every catalogue check, the
//!   synthetic and the realistic hourly stream) — `attest-loadgen`'s streams.
//! - [`fleetsim`]: a simulated fleet of Linux hosts and Macs with deterministic
//!   verdicts — `attest-fleetgen`'s reports.
//! - [`history`]: the hourly history the delta benchmarks replay on one report.
//! - [`client`]: the pinned HTTPS client of the load generator and the end-to-end tests.
//! - [`fill`]: enrolls a simulated fleet and stores its reports directly in a store
//!   (`attest-fleetgen`).
//!
//! The generators take plain data (`attest-proto` types, check ids) and never a
//! collector type, so the collector's own unit tests use them as a dev-dependency.

pub mod client;
pub mod fill;
pub mod fleetsim;
pub mod history;
pub mod synth;
