//! The fleet domain: what evaluation, reports and waivers work on (hosts, their
//! reports and results, chain counts and events, waivers). Plain values, no storage:
//! the store ([`crate::store`]) reads its rows and converts them into these types;
//! `crate::store` re-exports them for callers that only talk to the store.

use serde::{Deserialize, Serialize};

/// Unix time in milliseconds: the one time type of the collector.
pub type Millis = i64;

/// An enrolled agent with what reports show about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostRecord {
    pub agent_id: String,
    pub keyid: String,
    #[serde(skip)]
    pub public_key: [u8; 32],
    pub hostname: String,
    pub machine_id: String,
    pub os_id: String,
    pub os_version_id: String,
    pub os_pretty_name: String,
    pub kernel: String,
    pub enrolled_at: Millis,
    pub revoked_at: Option<Millis>,
}

impl HostRecord {
    /// Whether the host is enrolled and not revoked at `t`.
    pub fn in_scope_at(&self, t: Millis) -> bool {
        self.enrolled_at <= t && self.revoked_at.is_none_or(|r| r > t)
    }
}

/// One stored result, flattened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResultRecord {
    pub check: String,
    pub status: String,
    pub summary: String,
    pub reason: Option<String>,
    /// The values of the result's facts that mapping rules read
    /// ([`crate::catalog::Catalog::rule_facts`]), taken from the verified envelope
    /// (both backends keep it byte for byte; the result change rows hold only a hash of
    /// the facts). `None`:
    /// not read (a stored row, or no rule reads this check's facts).
    #[serde(skip)]
    pub facts: Option<Vec<(String, serde_json::Value)>>,
}

/// One stored report with its results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportRecord {
    pub agent_id: String,
    pub seq: i64,
    pub log_index: i64,
    /// Lowercase hex SHA-256 of the signed statement bytes.
    pub payload_sha256: String,
    pub collected_at: Millis,
    pub received_at: Millis,
    /// A replayed report (`agent.replay`): stored, never evidence. The reads that pick
    /// evidence never return one; evaluation skips one all the same.
    pub replay: bool,
    pub results: Vec<ResultRecord>,
}

/// How much of an agent's chain had arrived by a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ChainCount {
    /// Reports stored (received by the time), replays too: they are links of the chain.
    pub stored: i64,
    /// The highest `seq` among them.
    pub max_seq: i64,
    /// Of the stored, how many are replays (never evidence).
    pub replayed: i64,
}

impl ChainCount {
    /// Positions below the highest `seq` that never arrived.
    pub fn missing(&self) -> i64 {
        (self.max_seq - self.stored).max(0)
    }
}

/// What a waiver covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum WaiverScope {
    /// One check, e.g. `system.screen_lock`.
    Check(String),
    /// One control, e.g. `7.7`.
    Control(String),
}

impl WaiverScope {
    pub fn kind(&self) -> &'static str {
        match self {
            WaiverScope::Check(_) => "check",
            WaiverScope::Control(_) => "control",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            WaiverScope::Check(id) | WaiverScope::Control(id) => id,
        }
    }
}

/// An exception: a check or control that is accepted as not satisfied on some hosts,
/// for a time, with a reason and an approver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waiver {
    pub id: String,
    pub scope: WaiverScope,
    /// Agent ids or hostnames; empty means every host.
    pub hosts: Vec<String>,
    pub justification: String,
    pub approver: String,
    pub created_at: Millis,
    /// Who created it (`cli:<user>` or `apitoken:<id>`).
    pub created_by: String,
    pub expires_at: Millis,
    pub revoked_at: Option<Millis>,
    pub revoked_by: Option<String>,
}

impl Waiver {
    /// Whether it applies at `t`: created by then, not yet expired, not revoked by then.
    pub fn active_at(&self, t: Millis) -> bool {
        self.created_at <= t && t < self.expires_at && self.revoked_at.is_none_or(|r| r > t)
    }

    /// Whether it names this host (or every host).
    pub fn covers_host(&self, agent_id: &str, hostname: &str) -> bool {
        self.hosts.is_empty() || self.hosts.iter().any(|h| h == agent_id || h == hostname)
    }

    /// When it stops applying: the earlier of expiry and revocation.
    pub fn ends_at(&self) -> Millis {
        self.revoked_at
            .map_or(self.expires_at, |r| r.min(self.expires_at))
    }
}

/// A recorded chain event: `gap`, `late`, `fork`, `broken_link`, `host_renamed`, or
/// `conflict_quota_reached`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainEvent {
    pub agent_id: String,
    pub kind: String,
    pub seq: i64,
    pub detail: String,
    pub payload_sha256: Option<String>,
    /// Whether the refused envelope is kept whole (forks and broken links: the first
    /// per `seq`, within the agent's quota); otherwise only its hash is.
    pub envelope_stored: bool,
    #[serde(serialize_with = "crate::store::rfc3339::serialize")]
    pub at: Millis,
}
