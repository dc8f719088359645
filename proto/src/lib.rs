//! `attest-proto`: the Attest wire format and nothing else.
//!
//! Evidence reports ([`report`]), the in-toto statement that carries them
//! ([`statement`]), the DSSE envelope that signs them ([`envelope`]), key ids and public
//! key encoding ([`keys`]), the per-agent hash chain ([`chain`]), the enrollment and
//! receipt messages ([`enroll`]), the size limits ([`limits`]), the stable error
//! codes ([`error`]), the check catalogue every report's ids come from
//! ([`catalogue`]), the facts the collector reads ([`facts`]), the inventory list a v3
//! report names by address ([`inventory`]) and the envelope form that reports are
//! compressed by difference in ([`form`]). No I/O, no async runtime: both the agent and
//! the collector depend
//! on this crate, and it is the one place the format is defined. `docs/proto.md`
//! describes the format for people.
//!
//! The agent: [`ChainState::stamp`] a report, [`Statement::for_report`] →
//! [`Statement::to_bytes`] → [`Envelope::sign`] → [`Envelope::to_json`], then
//! [`ChainState::advance`]. The collector: [`Envelope::from_json`] → look up the key by
//! [`Envelope::keyids`] → [`Envelope::verify`] → [`Statement::from_slice`] →
//! [`chain::classify`].

pub mod catalogue;
pub mod chain;
pub mod enroll;
pub mod envelope;
pub mod error;
mod evidence_de;
pub mod facts;
pub mod form;
pub mod inventory;
mod json;
pub mod keys;
pub mod limits;
pub mod report;
pub mod statement;

pub use catalogue::{CatalogueCheck, Platform};
pub use chain::{
    ChainState, ChainVerdict, Head, Incoming, StoredView, classify, genesis_prev, is_link, link_of,
};
pub use ed25519_dalek::VerifyingKey;
pub use enroll::{EnrollRequest, EnrollResponse, ErrorBody, Receipt};
pub use envelope::{Envelope, EnvelopeSignature, PAYLOAD_TYPE, pae};
pub use error::{ErrorCode, ProtoError};
pub use inventory::{INVENTORY_LIST_PAYLOAD_TYPE, InventoryList, ListReceipt};
pub use keys::{
    BASE64, SigningKey, decode_public_key, encode_public_key, keyid, public_key_from_bytes,
    sha256_hex,
};
pub use limits::{
    MAX_ENROLL_BYTES, MAX_ENVELOPE_BYTES, MAX_JSON_DEPTH, MAX_SIGNATURES, MAX_STATEMENT_BYTES,
};
pub use report::{
    AgentInfo, CheckResult, Evidence, HostInfo, OsInfo, REPORT_SCHEMA_V1, REPORT_SCHEMA_V2,
    REPORT_SCHEMA_V3, REPORT_SCHEMAS, Report, Status,
};
pub use statement::{PREDICATE_TYPE, STATEMENT_TYPE, Statement, Subject, SubjectDigest};
