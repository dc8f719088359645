//! Storage: one async trait ([`Store`]), two backends through `sqlx` ([`sqlite`], the
//! default, and [`postgres`] for fleets), versioned migrations run at open.
//!
//! The ingest write path is group commit: the ingest writer hands a whole batch of
//! verified reports to [`Store::ingest_batch`], which classifies them against the
//! agents' chains, appends the accepted ones to the Merkle log and writes everything
//! with multi-row inserts in *one* transaction. Nothing of a batch is visible until it
//! commits, so a report is never half-stored, and a receipt is sent only after the
//! commit. The classification and the log arithmetic are shared ([`batch`]); the
//! backends provide the few statements ([`batch::BatchTx`]).
//!
//! Several collectors on one PostgreSQL: a batch locks the rows of the agents it
//! touches (in id order) and then the single log-head row, so chains are classified
//! against committed state and log indexes are dense and ordered by commit. On SQLite
//! the write transaction (`BEGIN IMMEDIATE`) serializes the same way.

pub mod batch;
pub mod changes;
pub mod codec;
mod common;
#[cfg(test)]
mod delta_tests;
pub mod heads;
#[cfg(test)]
mod lists_tests;
pub mod postgres;
pub mod prune;
#[cfg(test)]
mod prune_tests;
#[cfg(test)]
mod release_fixture_tests;
pub mod reporting;
pub mod sqlite;
#[cfg(test)]
pub(crate) mod suite;

use std::sync::Arc;

use async_trait::async_trait;
use attest_proto::{ErrorCode, Receipt};

use crate::log::{Frontier, Hash};

pub use batch::{FlatResult, PendingReport};

pub use crate::fleet::{ChainEvent, Millis};

/// A storage failure. Never shown to clients (the API answers `unavailable` or
/// `internal`); logged with its details.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// A stored envelope could not be rebuilt byte-exact (its delta base missing or
    /// corrupt, or the row itself damaged): never returned as wrong bytes.
    #[error("report {index}: stored envelope cannot be read back: {reason}")]
    Envelope { index: i64, reason: String },
    /// The report was pruned (`attest-collector prune`): its row, leaf hash and place
    /// in the Merkle log are kept, its envelope is not.
    #[error(
        "report {index} was pruned on {} (retention): its envelope is no longer stored; \
         the evidence bundle written before the prune holds it",
        rfc3339::text(*at)
    )]
    Pruned { index: i64, at: Millis },
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    Url(String),
    #[error(transparent)]
    Mode(#[from] crate::files::ModeError),
}

impl StoreError {
    /// Whether the database could not be reached (as opposed to a bug or corrupt data).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Db(
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::WorkerCrashed
            )
        ) || matches!(self, StoreError::Db(sqlx::Error::Database(e)) if e.message().contains("locked") || e.message().contains("busy"))
    }
}

/// The role of an API token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Tokens, agents, waivers; everything an auditor may do.
    Admin,
    /// Read-only.
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "auditor" => Some(Role::Auditor),
            _ => None,
        }
    }
}

/// A new enrollment token (only its hash is stored).
#[derive(Debug, Clone)]
pub struct NewEnrollToken {
    pub id: String,
    pub token_hash: String,
    pub uses: i64,
    pub expires_at: Option<Millis>,
    pub created_at: Millis,
}

/// An enrollment token as `token list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EnrollTokenInfo {
    pub id: String,
    pub uses_total: i64,
    pub uses_left: i64,
    #[serde(serialize_with = "crate::store::rfc3339::option::serialize")]
    pub expires_at: Option<Millis>,
    #[serde(serialize_with = "crate::store::rfc3339::serialize")]
    pub created_at: Millis,
    #[serde(serialize_with = "crate::store::rfc3339::option::serialize")]
    pub revoked_at: Option<Millis>,
}

/// An agent to enroll.
#[derive(Debug, Clone)]
pub struct NewAgent {
    pub id: String,
    pub keyid: String,
    pub public_key: [u8; 32],
    pub hostname: String,
    pub machine_id: String,
    pub os_id: String,
    pub os_version_id: String,
    pub os_pretty_name: String,
    pub kernel: String,
    pub enrolled_at: Millis,
}

/// What became of an enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollOutcome {
    /// A new agent; one use of the token was spent.
    Enrolled {
        agent_id: String,
    },
    /// This public key is already enrolled (a retried enrollment): its id; no use spent.
    AlreadyEnrolled {
        agent_id: String,
    },
    Refused(EnrollRefusal),
}

/// Why an enrollment was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollRefusal {
    UnknownToken,
    TokenRevoked,
    TokenExpired,
    TokenUsedUp,
    /// The public key belongs to a revoked agent.
    AgentRevoked,
}

impl EnrollRefusal {
    pub fn code(self) -> ErrorCode {
        match self {
            EnrollRefusal::UnknownToken | EnrollRefusal::TokenRevoked => ErrorCode::BadToken,
            EnrollRefusal::TokenExpired => ErrorCode::TokenExpired,
            EnrollRefusal::TokenUsedUp => ErrorCode::TokenUsedUp,
            EnrollRefusal::AgentRevoked => ErrorCode::Revoked,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            EnrollRefusal::UnknownToken => "unknown enrollment token",
            EnrollRefusal::TokenRevoked => "the enrollment token has been revoked",
            EnrollRefusal::TokenExpired => "the enrollment token has expired",
            EnrollRefusal::TokenUsedUp => "the enrollment token has no uses left",
            EnrollRefusal::AgentRevoked => "this public key belongs to a revoked agent",
        }
    }
}

/// The key of an enrolled agent, found by key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentKey {
    pub agent_id: String,
    pub public_key: [u8; 32],
    pub revoked: bool,
}

/// An agent as the read API and `agents list` show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AgentInfo {
    pub agent_id: String,
    pub keyid: String,
    pub hostname: String,
    pub machine_id: String,
    pub os_id: String,
    pub os_version_id: String,
    pub os_pretty_name: String,
    pub kernel: String,
    #[serde(serialize_with = "crate::store::rfc3339::serialize")]
    pub enrolled_at: Millis,
    #[serde(serialize_with = "crate::store::rfc3339::option::serialize")]
    pub revoked_at: Option<Millis>,
    /// The highest stored `seq`.
    pub head_seq: Option<i64>,
    #[serde(serialize_with = "crate::store::rfc3339::option::serialize")]
    pub last_report_at: Option<Millis>,
}

/// One flattened result of an agent's latest report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredResult {
    pub check: String,
    pub status: String,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One stored report of an agent, as the read API lists them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReportInfo {
    pub seq: i64,
    pub log_index: i64,
    /// Lowercase hex SHA-256 of the signed statement.
    pub payload_sha256: String,
    #[serde(serialize_with = "crate::store::rfc3339::serialize")]
    pub collected_at: Millis,
    #[serde(serialize_with = "crate::store::rfc3339::serialize")]
    pub received_at: Millis,
    /// The signed report says `agent.replay`: decided from recorded captures, stored
    /// and chained, never evidence for a control.
    pub replay: bool,
    /// When its envelope was pruned (`attest-collector prune`); absent while stored.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::store::rfc3339::option::serialize"
    )]
    pub pruned_at: Option<Millis>,
}

/// The latest counted report of an agent (never a replay) with its results.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LatestResults {
    pub agent_id: String,
    pub seq: i64,
    pub log_index: i64,
    #[serde(serialize_with = "crate::store::rfc3339::serialize")]
    pub collected_at: Millis,
    #[serde(serialize_with = "crate::store::rfc3339::serialize")]
    pub received_at: Millis,
    pub results: Vec<StoredResult>,
}

impl LatestResults {
    /// From a report head (log index, seq, collected_at, received_at) and the result
    /// state open at its seq.
    pub(crate) fn from_state(
        agent_id: &str,
        (log_index, seq, collected_at, received_at): (i64, i64, Millis, Millis),
        state: &changes::ResultState,
    ) -> LatestResults {
        let results = changes::in_order(state)
            .into_iter()
            .map(|(check, s)| StoredResult {
                check: check.to_owned(),
                status: s.status.clone(),
                summary: s.summary.clone(),
                reason: s.reason.clone(),
            })
            .collect();
        LatestResults {
            agent_id: agent_id.to_owned(),
            seq,
            log_index,
            collected_at,
            received_at,
            results,
        }
    }
}

/// A stored report's envelope, verbatim, with where it sits in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEnvelope {
    pub log_index: i64,
    pub payload_sha256: String,
    pub envelope: Vec<u8>,
    /// Stored as a replay (`agent.replay`): never evidence.
    pub replay: bool,
}

/// How much of an agent's chain conflicts (forks and broken links) the store keeps,
/// so that a stolen key cannot fill the disk with refused reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConflictQuota {
    /// Conflicts recorded per agent; beyond, they are refused without a record.
    pub recorded_per_agent: i64,
    /// Of those, how many keep the whole refused envelope (only the first per `seq`);
    /// the others keep its hash.
    pub envelopes_per_agent: i64,
}

impl ConflictQuota {
    /// 1,000 recorded (≈ 0.3 MB of hashes and details) with 8 whole envelopes (at
    /// most 32 MiB) per agent.
    pub const DEFAULT: ConflictQuota = ConflictQuota {
        recorded_per_agent: 1000,
        envelopes_per_agent: 8,
    };
}

impl Default for ConflictQuota {
    fn default() -> Self {
        ConflictQuota::DEFAULT
    }
}

/// What a batch did, beyond the outcome of each report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchResult {
    /// One per report, in order.
    pub outcomes: Vec<IngestOutcome>,
    /// Chain conflicts refused without a record (the agent's quota was used up).
    pub conflicts_unrecorded: u64,
    /// Agents whose head the store remembered from an earlier batch, still valid
    /// (`store::heads`): no query for their keyframe and results.
    pub head_hits: u64,
    /// Agents whose conflict quota was reached in this batch (audited).
    pub quota_reached: Vec<String>,
    /// One per inventory list of the batch, in order.
    pub lists: Vec<ListOutcome>,
}

/// What became of an inventory list of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListOutcome {
    /// Stored by this batch.
    New,
    /// The store held it already (from this or another agent).
    Held,
    /// Not stored: its agent is revoked or unknown.
    Refused { code: ErrorCode, message: String },
}

/// The head of the Merkle log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHead {
    pub tree_size: u64,
    pub root: Hash,
    pub updated_at: Millis,
}

/// A dashboard user to create (only the password's argon2id hash is stored).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub created_at: Millis,
}

/// A dashboard user as `user list` shows it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserInfo {
    pub name: String,
    pub role: Role,
    pub created_at: Millis,
    pub password_changed_at: Millis,
    pub disabled_at: Option<Millis>,
}

/// A new dashboard session (only its token's hash is stored).
#[derive(Debug, Clone)]
pub struct NewSessionRecord {
    pub token_hash: String,
    pub user_name: String,
    pub csrf: String,
    pub created_at: Millis,
    /// The client address it was signed in from.
    pub client: String,
}

/// A stored session with its user's role and state, as a request checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub user_name: String,
    pub role: Role,
    pub csrf: String,
    pub created_at: Millis,
    pub last_seen_at: Millis,
    pub ended_at: Option<Millis>,
    /// When the user was disabled, if they were.
    pub user_disabled_at: Option<Millis>,
}

/// A session's last request is written when the one stored is older than this, so a
/// page's requests do not each write (the idle limit is counted from it).
pub const SESSION_SEEN_GRANULARITY: Millis = 60_000;

/// Ended or expired sessions are deleted this long after sign-in.
pub const SESSION_KEEP: Millis = 30 * 24 * 3600 * 1000;

/// An API token (only its hash is stored).
#[derive(Debug, Clone)]
pub struct NewApiToken {
    pub id: String,
    pub token_hash: String,
    pub role: Role,
    pub note: String,
    pub created_at: Millis,
    /// `None`: until revoked.
    pub expires_at: Option<Millis>,
}

/// An API token as `apitoken list` shows it (never the secret, nor its hash).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiTokenInfo {
    pub id: String,
    pub role: Role,
    pub note: String,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    /// The last request made with it, to the minute ([`API_TOKEN_USE_GRANULARITY`]).
    pub last_used_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

/// A token's last use is written when the one stored is older than this, so that a
/// busy reader does not write on every request.
pub const API_TOKEN_USE_GRANULARITY: Millis = 60_000;

/// The actor of audit entries the collector writes itself (not an admin's action).
pub const COLLECTOR_ACTOR: &str = "collector";

/// An entry of the audit log of admin actions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    #[serde(serialize_with = "crate::store::rfc3339::serialize")]
    pub at: Millis,
    /// Who: `cli:<user>` or `apitoken:<id>`.
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// Database connection pool figures for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// The outcome of one report of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Stored now.
    Stored(Receipt),
    /// Already stored: the first delivery's receipt.
    Duplicate(Receipt),
    /// Refused; nothing stored except, for chain conflicts, the recorded event.
    Rejected { code: ErrorCode, message: String },
}

/// An inventory list to store: its verified document and who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInventoryList {
    /// `sha256:<hex>` of `document`.
    pub address: String,
    /// The agent whose signature carried it.
    pub agent_id: String,
    /// The list document's exact bytes (stored zstd-compressed).
    pub document: Vec<u8>,
    pub received_at: Millis,
}

/// An inventory list as the group-commit writer stores it: compressed already (by
/// the request's task, not the writer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingList {
    pub address: String,
    pub agent_id: String,
    /// The document's length.
    pub size: i64,
    /// The document, zstd-compressed.
    pub body: Vec<u8>,
    pub received_at: Millis,
}

impl PendingList {
    pub fn new(list: &NewInventoryList) -> Result<PendingList, StoreError> {
        Ok(PendingList {
            address: list.address.clone(),
            agent_id: list.agent_id.clone(),
            size: i64::try_from(list.document.len())
                .map_err(|_| StoreError::Corrupt("inventory list size out of range".into()))?,
            body: compress_inventory_list(&list.document)?,
            received_at: list.received_at,
        })
    }
}

/// The zstd level of stored inventory lists.
const INVENTORY_LIST_ZSTD_LEVEL: i32 = 3;

/// A list document as stored: zstd-compressed.
pub(crate) fn compress_inventory_list(document: &[u8]) -> Result<Vec<u8>, StoreError> {
    zstd::bulk::compress(document, INVENTORY_LIST_ZSTD_LEVEL)
        .map_err(|e| StoreError::Corrupt(format!("compressing an inventory list: {e}")))
}

/// A stored list back to its document, checked against its address and size.
pub(crate) fn decompress_inventory_list(
    address: &str,
    size: i64,
    body: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let corrupt = |why: String| StoreError::Corrupt(format!("inventory list {address}: {why}"));
    let size = usize::try_from(size)
        .ok()
        .filter(|s| *s <= attest_proto::inventory::MAX_INVENTORY_LIST_BYTES)
        .ok_or_else(|| corrupt(format!("stored size {size} is out of range")))?;
    let document = zstd::bulk::decompress(body, size).map_err(|e| corrupt(e.to_string()))?;
    if document.len() != size || attest_proto::inventory::address(&document) != address {
        return Err(corrupt("does not match its address".into()));
    }
    Ok(document)
}

#[cfg(test)]
mod inventory_list_tests {
    use super::*;

    #[test]
    fn a_stored_list_reads_back_only_when_it_matches_its_address() {
        let doc = br#"{"schema":"attest.inventory-list/v1","packages":[]}"#;
        let address = attest_proto::inventory::address(doc);
        let body = compress_inventory_list(doc).unwrap();
        assert_eq!(
            decompress_inventory_list(&address, doc.len() as i64, &body).unwrap(),
            doc
        );
        let other = attest_proto::inventory::address(b"x");
        for (addr, size, body) in [
            (other.as_str(), doc.len() as i64, body.clone()),
            (address.as_str(), doc.len() as i64 - 1, body.clone()),
            (address.as_str(), -1, body.clone()),
            (address.as_str(), doc.len() as i64, b"not zstd".to_vec()),
        ] {
            assert!(matches!(
                decompress_inventory_list(addr, size, &body),
                Err(StoreError::Corrupt(_))
            ));
        }
    }
}

/// What the integrity check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntegrityReport {
    pub reports: u64,
    pub tree_size: u64,
    /// Inventory lists read (each decompressed and checked against its address and
    /// size).
    pub inventory_lists: u64,
    /// The addresses of the lists that did not read back (each also a problem).
    pub damaged_lists: Vec<String>,
    pub problems: Vec<String>,
}

/// The `fsck` part of the inventory lists: each stored row (address, size, body)
/// must decompress to a document of its size whose address is its key.
#[derive(Debug, Default)]
pub(crate) struct ListCheck {
    pub read: u64,
    pub damaged: Vec<String>,
}

impl ListCheck {
    pub(crate) fn row(
        &mut self,
        address: &str,
        size: i64,
        body: &[u8],
        problems: &mut Vec<String>,
    ) {
        self.read += 1;
        if let Err(e) = decompress_inventory_list(address, size, body) {
            problems.push(e.to_string());
            self.damaged.push(address.to_owned());
        }
    }
}

/// The collector's storage.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    // Enrollment tokens.
    async fn create_enroll_token(&self, token: &NewEnrollToken) -> Result<(), StoreError>;
    async fn list_enroll_tokens(&self) -> Result<Vec<EnrollTokenInfo>, StoreError>;
    /// `false` when there is no such token (or it was already revoked).
    async fn revoke_enroll_token(&self, id: &str, now: Millis) -> Result<bool, StoreError>;

    // Agents.
    /// Spends one use of the token and enrolls the agent, atomically.
    async fn enroll(
        &self,
        token_hash: &str,
        agent: &NewAgent,
        now: Millis,
    ) -> Result<EnrollOutcome, StoreError>;
    async fn agent_key(&self, keyid: &str) -> Result<Option<AgentKey>, StoreError>;
    async fn agent(&self, agent_id: &str) -> Result<Option<AgentInfo>, StoreError>;
    /// Agents ordered by id, after `after`, at most `limit`.
    async fn list_agents(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AgentInfo>, StoreError>;
    /// `false` when there is no such agent (or it was already revoked).
    async fn revoke_agent(&self, agent_id: &str, now: Millis) -> Result<bool, StoreError>;
    async fn count_agents(&self) -> Result<i64, StoreError>;

    // Ingest.
    /// Stores inventory lists and classifies and stores a batch of reports, all in
    /// one transaction (the group-commit writer's: [`crate::ingest::Writer`]): one
    /// outcome per report, in order, and per list whether it was new. On error nothing
    /// of either is stored. Chain conflicts are recorded within `quota`.
    async fn write_batch(
        &self,
        lists: &[PendingList],
        batch: &[PendingReport],
        now: Millis,
        quota: ConflictQuota,
    ) -> Result<BatchResult, StoreError>;

    /// [`Store::write_batch`] of reports alone.
    async fn ingest_batch_with(
        &self,
        batch: &[PendingReport],
        now: Millis,
        quota: ConflictQuota,
    ) -> Result<BatchResult, StoreError> {
        self.write_batch(&[], batch, now, quota).await
    }

    /// [`Store::ingest_batch_with`] under the default quota, the outcomes only.
    async fn ingest_batch(
        &self,
        batch: &[PendingReport],
        now: Millis,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        Ok(self
            .ingest_batch_with(batch, now, ConflictQuota::DEFAULT)
            .await?
            .outcomes)
    }

    // Read API.
    /// The results of the agent's latest report that counts as evidence: the highest
    /// `seq` that is not a replay.
    async fn latest_results(&self, agent_id: &str) -> Result<Option<LatestResults>, StoreError>;
    /// The agent's stored reports, replays too, by `seq`, after `after`, at most
    /// `limit`.
    async fn list_reports(
        &self,
        agent_id: &str,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ReportInfo>, StoreError>;
    async fn report_envelope(
        &self,
        agent_id: &str,
        seq: i64,
    ) -> Result<Option<StoredEnvelope>, StoreError>;
    async fn chain_events(&self, agent_id: &str) -> Result<Vec<ChainEvent>, StoreError>;

    // The Merkle log.
    async fn log_head(&self) -> Result<LogHead, StoreError>;
    /// Stored hashes: level 0 are leaves (by log index), higher levels stored
    /// subtrees. Fewer than `count` when fewer exist.
    async fn log_nodes(&self, level: u32, from: u64, count: u64) -> Result<Vec<Hash>, StoreError>;

    // API tokens and the audit log.
    async fn create_api_token(&self, token: &NewApiToken) -> Result<(), StoreError>;
    /// The id and role of a live token (neither revoked nor expired at `now`), read
    /// from the database on every call: a revocation counts at once on every
    /// collector. Records the use (to [`API_TOKEN_USE_GRANULARITY`]); a failure to
    /// record it is logged, not returned.
    async fn api_token(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> Result<Option<(String, Role)>, StoreError>;
    /// Every API token, oldest first.
    async fn list_api_tokens(&self) -> Result<Vec<ApiTokenInfo>, StoreError>;
    /// `false` when there is no such token (or it was already revoked).
    async fn revoke_api_token(&self, id: &str, now: Millis) -> Result<bool, StoreError>;
    async fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    async fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError>;

    // Dashboard users and sessions.
    /// `false` when a user of that name exists (nothing changes then).
    async fn create_user(&self, user: &NewUser) -> Result<bool, StoreError>;
    /// A user and their password hash.
    async fn user(&self, name: &str) -> Result<Option<(UserInfo, String)>, StoreError>;
    /// Every user, by name.
    async fn list_users(&self) -> Result<Vec<UserInfo>, StoreError>;
    /// Sets a user's password hash and ends their sessions; `false` when there is no
    /// such user.
    async fn set_password(&self, name: &str, hash: &str, now: Millis) -> Result<bool, StoreError>;
    /// Replaces a hash made with older parameters (at sign-in), sessions kept; `false`
    /// when the stored hash is no longer `old` (changed meanwhile).
    async fn rehash_password(&self, name: &str, old: &str, new: &str) -> Result<bool, StoreError>;
    /// Disables a user and ends their sessions; `false` when there is no such enabled
    /// user.
    async fn disable_user(&self, name: &str, now: Millis) -> Result<bool, StoreError>;
    /// Stores a session (and deletes the sessions older than [`SESSION_KEEP`]).
    async fn create_session(&self, session: &NewSessionRecord) -> Result<(), StoreError>;
    /// The session with this token hash, whatever its state (the caller decides by
    /// `crate::session::state_at`).
    async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Records a request on a session when the one stored is `granularity` old or
    /// older (at most [`SESSION_SEEN_GRANULARITY`]; less for a short idle time).
    async fn touch_session(
        &self,
        token_hash: &str,
        now: Millis,
        granularity: Millis,
    ) -> Result<(), StoreError>;
    /// Ends a session (sign-out); `false` when it had already ended or does not exist.
    async fn end_session(&self, token_hash: &str, now: Millis) -> Result<bool, StoreError>;

    // The dashboard's trend: the fleet's counts at the end of each day (ui/trend.rs).
    /// Keeps the counts of the day ending at `day_end` under `basis`, unless that day
    /// has some already (another collector made them): `false` then, nothing changed.
    async fn put_day_counts(
        &self,
        basis: &str,
        day_end: Millis,
        counts: &str,
        now: Millis,
    ) -> Result<bool, StoreError>;
    /// The kept counts under `basis` of the days ending in `[from, to]`, by day.
    async fn day_counts(
        &self,
        basis: &str,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<(Millis, String)>, StoreError>;
    /// Deletes the counts of other bases made before `before` (a collector of another
    /// release or mapping may still use recent ones); how many went.
    async fn prune_day_counts(&self, keep_basis: &str, before: Millis) -> Result<u64, StoreError>;

    // Collector metadata (e.g. the log key that signs this database's checkpoints).
    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Sets `key` if it has no value yet; returns the value now stored.
    async fn meta_init(&self, key: &str, value: &str) -> Result<String, StoreError>;

    // Inventory lists (by address; see `attest_proto::inventory`).
    /// Stores a list once by its address; `false` when that address was already held
    /// (nothing changes then).
    async fn put_inventory_list(&self, list: &NewInventoryList) -> Result<bool, StoreError>;
    /// Whether the list with this address is held.
    async fn has_inventory_list(&self, address: &str) -> Result<bool, StoreError>;
    /// The list document with this address, its exact bytes (the address is checked
    /// again: damaged data is an error, never other bytes).
    async fn inventory_list(&self, address: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Pool figures for the metrics.
    fn pool_stats(&self) -> PoolStats;

    /// Checks that every report is whole (all its results stored), log indexes are
    /// dense, and the stored subtrees and head match the leaves. Reads everything.
    async fn integrity_check(&self) -> Result<IntegrityReport, StoreError>;

    // Retention ([`prune`]).
    /// Every report a prune before `before` would drop now, in (agent, `seq`) order.
    async fn prunable(&self, before: Millis) -> Result<Vec<prune::Prunable>, StoreError>;
    /// One step of a prune before `before`: at most `limit` reports after `after`
    /// (start with [`prune::start`], go on with the step's `next`), in one
    /// transaction.
    async fn prune_step(
        &self,
        before: Millis,
        after: &(String, i64),
        limit: i64,
        now: Millis,
    ) -> Result<prune::PruneStep, StoreError>;
    /// The stored `inventory.software` result change rows that are not tombstones
    /// (the reports of a row's `seq` range share that check's facts, so they name the
    /// same inventory list), each with the first report in its range not pruned.
    async fn list_spans(&self) -> Result<Vec<prune::ListSpan>, StoreError>;
    /// The lowest `seq` of `agent_id` in `from..to` whose report is not pruned.
    async fn first_unpruned(
        &self,
        agent_id: &str,
        from: i64,
        to: i64,
    ) -> Result<Option<i64>, StoreError>;
    /// The addresses of the inventory lists received before `before`.
    async fn inventory_lists_before(&self, before: Millis) -> Result<Vec<String>, StoreError>;
    /// Deletes these inventory lists (in one transaction); how many there were.
    async fn delete_inventory_lists(&self, addresses: &[String]) -> Result<u64, StoreError>;
    /// Gives the space of deleted rows back to the file system: SQLite `VACUUM`
    /// (holds the write lock while it runs); PostgreSQL: nothing (autovacuum makes the
    /// space reusable; `VACUUM FULL` is the operator's call).
    async fn reclaim_space(&self) -> Result<(), StoreError>;

    async fn close(&self);
}

/// Times as the API and every JSON the collector writes show them: RFC 3339, UTC,
/// whole seconds with milliseconds when there are any (`2026-11-25T14:00:00.123Z`).
/// The store keeps milliseconds since the epoch.
pub mod rfc3339 {
    use super::Millis;

    /// The text of a time.
    pub fn text(ms: Millis) -> String {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            .unwrap_or_else(|| format!("@{ms}ms"))
    }

    pub fn serialize<S: serde::Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&text(*ms))
    }

    pub mod option {
        use super::Millis;

        pub fn serialize<S: serde::Serializer>(
            ms: &Option<Millis>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match ms {
                Some(ms) => s.serialize_str(&super::text(*ms)),
                None => s.serialize_none(),
            }
        }
    }
}

/// The SQLite file a database URL names (`sqlite://PATH` or `sqlite:PATH`), if it
/// names one.
pub fn sqlite_path(url: &str) -> Option<&std::path::Path> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .map(std::path::Path::new)
}

/// A store behind the trait object the server uses.
pub type DynStore = Arc<dyn Store>;

/// Opens the store a database URL names and runs its migrations: `sqlite://PATH`
/// (`sqlite:PATH` too) or `postgres://…` / `postgresql://…`.
pub async fn open(url: &str, max_connections: u32) -> Result<DynStore, StoreError> {
    open_with(url, max_connections, true).await
}

/// [`open`], choosing SQLite's `synchronous` level: `FULL` (`true`: a commit is on
/// disk before the receipt goes out, even through a power cut) or `NORMAL` (`false`:
/// safe against a crash of the collector, not of the machine).
pub async fn open_with(
    url: &str,
    max_connections: u32,
    sqlite_full_sync: bool,
) -> Result<DynStore, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            postgres::PgStore::open(url, max_connections).await?,
        ))
    } else if let Some(path) = sqlite_path(url) {
        Ok(Arc::new(
            sqlite::SqliteStore::open(path, max_connections, sqlite_full_sync).await?,
        ))
    } else {
        Err(StoreError::Url(url.chars().take(40).collect()))
    }
}

/// Implements the log node source over a store.
pub struct StoreNodes<'a>(pub &'a dyn Store);

impl crate::log::NodeSource for StoreNodes<'_> {
    type Error = StoreError;
    async fn nodes(&self, level: u32, from: u64, count: u64) -> Result<Vec<Hash>, StoreError> {
        self.0.log_nodes(level, from, count).await
    }
}

/// The inclusion proof of leaf `index` in the tree of the first `size` leaves.
pub async fn inclusion_proof(
    store: &dyn Store,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, crate::log::ProofError<StoreError>> {
    crate::log::inclusion_proof(&StoreNodes(store), index, size).await
}

/// Whether a stored envelope's statement says `agent.replay: true`, read without
/// verifying the signature (for `fsck`, which compares it with the stored flag);
/// `None` when the envelope or its payload does not decode.
pub(crate) fn signed_replay(envelope: &[u8]) -> Option<bool> {
    use base64::Engine as _;
    #[derive(serde::Deserialize)]
    struct Env<'a> {
        payload: &'a str,
    }
    #[derive(serde::Deserialize)]
    struct St {
        predicate: Pred,
    }
    #[derive(serde::Deserialize)]
    struct Pred {
        agent: Agent,
    }
    #[derive(serde::Deserialize)]
    struct Agent {
        #[serde(default)]
        replay: bool,
    }
    let env: Env<'_> = serde_json::from_slice(envelope).ok()?;
    let payload = attest_proto::BASE64.decode(env.payload).ok()?;
    let st: St = serde_json::from_slice(&payload).ok()?;
    Some(st.predicate.agent.replay)
}

/// The `fsck` problem of a report whose stored flag is not what its statement says.
pub(crate) fn replay_problem(index: i64, stored: bool, envelope: &[u8]) -> Option<String> {
    match signed_replay(envelope) {
        Some(signed) if signed != stored => Some(if signed {
            format!(
                "report {index}: its statement is a replay (agent.replay) but it is stored as \
                 evidence"
            )
        } else {
            format!("report {index}: stored as a replay, but its statement is not one")
        }),
        _ => None,
    }
}

/// Decodes a stored 32-byte hash.
pub(crate) fn hash_from(bytes: &[u8], what: &str) -> Result<Hash, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what} is {} bytes, not 32", bytes.len())))
}

/// The shared part of the integrity check: leaves in index order, nodes, head.
pub(crate) fn check_log(
    leaves: &[(i64, Hash)],
    nodes: &[(u32, u64, Hash)],
    head: &LogHead,
    frontier: &Frontier,
    problems: &mut Vec<String>,
) {
    let mut rebuilt = Frontier::empty();
    let mut new_nodes = Vec::new();
    for (i, (index, leaf)) in leaves.iter().enumerate() {
        if *index != i as i64 {
            problems.push(format!("log index {index} where {i} was expected"));
            return;
        }
        rebuilt.push(*leaf, &mut new_nodes);
    }
    if rebuilt.size != head.tree_size {
        problems.push(format!(
            "log head says {} leaves, {} reports stored",
            head.tree_size, rebuilt.size
        ));
    }
    if rebuilt.root() != head.root {
        problems.push("log head root does not match the stored leaves".into());
    }
    if rebuilt != *frontier {
        problems.push("log frontier does not match the stored leaves".into());
    }
    let mut stored: Vec<(u32, u64, Hash)> = nodes.to_vec();
    stored.sort_unstable_by_key(|(l, i, _)| (*l, *i));
    let mut expect: Vec<(u32, u64, Hash)> = new_nodes
        .into_iter()
        .map(|n| (n.level, n.index, n.hash))
        .collect();
    expect.sort_unstable_by_key(|(l, i, _)| (*l, *i));
    if stored != expect {
        problems.push(format!(
            "stored log nodes ({}) do not match the leaves ({} expected)",
            stored.len(),
            expect.len()
        ));
    }
}
