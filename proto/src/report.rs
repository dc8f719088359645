//! The evidence report: one run of all checks on one host.
//!
//! This is the `predicate` of the in-toto statement that an agent signs (see
//! `statement.rs` and `envelope.rs`). Field names are part of the wire format:
//! renaming one is a schema change.
//!
//! Two versions are read. `attest.report/v1` carries `file` and `command` evidence.
//! `attest.report/v2` adds `api` evidence (a WMI, COM, Win32 or sysctl call) and
//! `agent.replay` (a report decided from recorded captures, never evidence). An agent
//! writes the lowest version that can carry its report ([`Report::required_schema`]),
//! so a Linux agent keeps talking to a collector that knows only v1, and a collector
//! that knows only v1 refuses a v2 report as a whole (`not_a_statement`, "predicate
//! schema is …") rather than misreading it. `attest.report/v3` names the
//! `inventory.software` package list by address instead of carrying it
//! ([`crate::inventory`]); an agent writes it only to a collector that takes
//! inventory lists.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The first report schema: `file` and `command` evidence.
pub const REPORT_SCHEMA_V1: &str = "attest.report/v1";
/// The second: adds `api` evidence and `agent.replay`.
pub const REPORT_SCHEMA_V2: &str = "attest.report/v2";
/// The third: `inventory.software` names its package list by address (an inventory
/// list, [`crate::inventory`]) instead of carrying it.
pub const REPORT_SCHEMA_V3: &str = "attest.report/v3";
/// Every schema this crate reads, oldest first.
pub const REPORT_SCHEMAS: [&str; 3] = [REPORT_SCHEMA_V1, REPORT_SCHEMA_V2, REPORT_SCHEMA_V3];

/// One run of all checks on one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// One of [`REPORT_SCHEMAS`]: [`Report::required_schema`] when written.
    pub schema: String,
    /// The id the collector gave this agent at enrollment; empty when not enrolled.
    pub agent_id: String,
    /// Position in the agent's hash chain, counting up from 1; 0 when not enrolled.
    pub seq: u64,
    /// `sha256:<hex>` of the previous statement's bytes (for `seq` 1: of the enrolled
    /// public key); empty when not enrolled.
    pub prev: String,
    /// When the checks ran, RFC 3339 in UTC, whole seconds.
    pub collected_at: chrono::DateTime<chrono::Utc>,
    pub agent: AgentInfo,
    pub host: HostInfo,
    pub results: Vec<CheckResult>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentInfo {
    pub version: String,
    /// True when the verdicts were decided from recorded captures
    /// (`attest-agent collect --replay`), not from a host: a collector stores such a
    /// report but never counts it as evidence. Written only when true (v2).
    #[serde(default, skip_serializing_if = "is_false")]
    pub replay: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Report {
    /// The lowest schema that can carry this report: v3 when it names an inventory
    /// list (an agent does that only once it knows the collector takes lists), v2
    /// when it is a replay or carries `api` evidence, else v1.
    pub fn required_schema(&self) -> &'static str {
        if crate::inventory::uses_list(self) {
            return REPORT_SCHEMA_V3;
        }
        let api = self
            .results
            .iter()
            .flat_map(|r| &r.evidence)
            .any(|e| matches!(e, Evidence::Api { .. }));
        if api || self.agent.replay {
            REPORT_SCHEMA_V2
        } else {
            REPORT_SCHEMA_V1
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostInfo {
    pub hostname: String,
    pub machine_id: String,
    pub os: OsInfo,
    pub kernel: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsInfo {
    pub id: String,
    pub version_id: String,
    pub pretty_name: String,
}

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    /// Could not decide; `reason` says why.
    Unknown,
    /// The thing checked is absent (e.g. no SSH server); `reason` says why.
    NotApplicable,
    /// Inventory: no verdict.
    Info,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pass,
        Status::Fail,
        Status::Unknown,
        Status::NotApplicable,
        Status::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Unknown => "unknown",
            Status::NotApplicable => "not_applicable",
            Status::Info => "info",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one check on one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckResult {
    /// Stable check id, e.g. `disk.root_encrypted`.
    pub check: String,
    pub status: Status,
    /// One sentence a person reads.
    pub summary: String,
    /// For `unknown` and `not_applicable`: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Structured values behind the verdict (counts, names, thresholds used).
    #[serde(default)]
    pub facts: Map<String, Value>,
    /// The sources read (each a JSON object on the wire).
    #[serde(default, deserialize_with = "crate::json::objects")]
    pub evidence: Vec<Evidence>,
}

impl CheckResult {
    /// A result with the given verdict and summary, no facts and no evidence yet.
    pub fn new(check: impl Into<String>, status: Status, summary: impl Into<String>) -> Self {
        CheckResult {
            check: check.into(),
            status,
            summary: summary.into(),
            reason: None,
            facts: Map::new(),
            evidence: Vec::new(),
        }
    }

    /// An `unknown` or `not_applicable` result whose summary is its reason.
    pub fn undecided(check: impl Into<String>, status: Status, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        CheckResult {
            check: check.into(),
            status,
            summary: reason.clone(),
            reason: Some(reason),
            facts: Map::new(),
            evidence: Vec::new(),
        }
    }

    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Adds one fact; values that fail to serialize are recorded as `null`.
    pub fn fact(mut self, key: &str, value: impl Serialize) -> Self {
        self.facts.insert(
            key.to_owned(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }

    pub fn evidence(mut self, evidence: Evidence) -> Self {
        self.evidence.push(evidence);
        self
    }

    pub fn evidences(mut self, evidence: impl IntoIterator<Item = Evidence>) -> Self {
        self.evidence.extend(evidence);
        self
    }
}

/// A source read to decide a verdict. Excerpts are the lines that decided the
/// verdict, never whole files, and never secrets.
///
/// On the wire a JSON object whose `kind` names the variant. It is read by
/// `crate::evidence_de` in one pass over the object (serde's derive for an internally
/// tagged enum first copies the whole object into a buffer to find the tag), with the
/// derive's rules: every field of the variant, `exit_code` may be absent (`None`),
/// no field of another variant or unknown, no key twice.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    File {
        /// Path as seen on the host (inside the root), e.g. `/etc/ssh/sshd_config`.
        path: String,
        excerpt: String,
        /// `sha256:<hex>` of the file's bytes as read.
        sha256: String,
    },
    Command {
        argv: Vec<String>,
        exit_code: Option<i32>,
        excerpt: String,
        /// `sha256:<hex>` of the command's standard output.
        sha256: String,
    },
    /// A call made in-process or in a helper child: a WMI query or method, a COM
    /// or Win32 call, a live registry read, `sysctl` (schema v2).
    Api {
        /// What was called, e.g. `NetUserModalsGet(3)` or
        /// `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion`.
        name: String,
        excerpt: String,
        /// `sha256:<hex>` of the canonical JSON of the call's result (keys sorted,
        /// no insignificant white space).
        sha256: String,
    },
}
