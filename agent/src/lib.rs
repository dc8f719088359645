//! `attest-agent`: probes a host, assembles an evidence report, signs it, and
//! delivers it to an Attest collector.
//!
//! Data flows one way: host files ([`host`]) → parsers and checks ([`checks`]) →
//! report ([`collect`]) → output ([`output`]).

pub mod checks;
pub mod collect;
pub mod host;
pub mod output;
