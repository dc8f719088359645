//! The backend-independent half of a batch: chain classification and log appends.
//!
//! [`run_batch`] runs inside the backend's transaction: it locks the agents of the
//! batch and the log head, classifies every report with [`attest_proto::classify`]
//! (against the committed chain *and* the reports earlier in the same batch), assigns
//! dense log indexes to the accepted ones, and hands everything to
//! [`BatchTx::write`] for the multi-row inserts.
//!
//! Two rules of hostile input live here too, against the locked agent row:
//!
//! - **Host binding.** A report whose signed subject digest (SHA-256 of the machine
//!   id) is not that of the machine the agent enrolled as is refused with
//!   `host_mismatch` before its chain is looked at. A new host *name* with the same
//!   machine id is a rename: accepted, and when the report becomes the agent's head
//!   the agent's hostname changes and a `host_renamed` event is recorded. A name
//!   another enrolled, unrevoked agent of another machine holds is not a rename but a
//!   claim to be that host: refused with `host_mismatch` too (names are compared
//!   ignoring ASCII case). An agent that enrolled without a machine id (it could not
//!   be read) has nothing stronger than its hostname: it is bound to that name, and
//!   cannot be renamed.
//! - **Conflict quota.** Forks and broken links are recorded within the agent's
//!   [`ConflictQuota`]: the first conflict at a `seq` keeps the whole refused
//!   envelope while the agent has envelopes left, every other one only its hash;
//!   beyond the quota a conflict is refused without a record, and the first such
//!   refusal records a `conflict_quota_reached` event and an audit entry.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use attest_proto::chain::link_of;
use attest_proto::{
    ChainVerdict, ErrorCode, Head, Incoming, Receipt, StoredView, classify, sha256_hex,
};
use bytes::Bytes;

use super::changes::{self, ChangeSet, ResultState};
use super::codec::{self, Encoded, KEYFRAME_INTERVAL};
use super::heads::{HeadEntry, KnownHeads};
use super::{
    AuditEntry, BatchResult, COLLECTOR_ACTOR, ConflictQuota, IngestOutcome, ListOutcome, Millis,
    PendingList, StoreError,
};
use crate::log::{Frontier, Hash, NewNode};

/// One result of a report, flattened for queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatResult {
    pub check: String,
    pub status: &'static str,
    pub summary: String,
    pub reason: Option<String>,
    /// SHA-256 of the check's facts ([`super::changes::facts_sha256`], one buffer per report): a change of
    /// facts alone is a change of the check's state.
    pub facts_sha256: [u8; 32],
}

/// A report whose signature verified and whose statement parsed, waiting to be stored.
#[derive(Debug, Clone)]
pub struct PendingReport {
    pub agent_id: String,
    pub seq: i64,
    /// The statement's `prev` link.
    pub prev: String,
    /// The link of the statement bytes (`sha256:<hex>`).
    pub link: String,
    /// Lowercase hex SHA-256 of the statement bytes.
    pub payload_sha256: String,
    /// The request body, verbatim.
    pub envelope: Bytes,
    /// The envelope's [form](codec::to_form), made once per report: the writer
    /// compresses it, the delta-base cache of the API keeps it.
    pub form: Arc<Vec<u8>>,
    pub leaf_hash: Hash,
    pub collected_at: Millis,
    pub results: Vec<FlatResult>,
    /// The host the signed subject names (`host/<hostname>` without the prefix).
    pub hostname: String,
    /// The signed subject's digest: lowercase hex SHA-256 of the host's machine id.
    pub machine_sha256: String,
    /// The signed report's `agent.replay`: decided from recorded captures, not from a
    /// host. Stored and chained like any report, never evidence for a control.
    pub replay: bool,
    /// The address of the inventory list the report names (`attest.report/v3`): the
    /// store must hold it, or the report is refused.
    pub list: Option<String>,
}

/// An agent's row, locked for the batch.
#[derive(Debug, Clone)]
pub struct AgentChainRow {
    pub agent_id: String,
    pub public_key: Vec<u8>,
    pub revoked: bool,
    pub head_seq: Option<i64>,
    pub head_link: Option<String>,
    /// The log index of the head's keyframe (the head's `base_index`, or its own log
    /// index when it is a keyframe): what a [`HeadEntry`] is checked against.
    pub head_base: Option<i64>,
    /// The host the agent reports for now (enrolled, or renamed since).
    pub hostname: String,
    /// The machine id it enrolled with: the host identity reports are bound to.
    pub machine_id: String,
    pub conflicts: ConflictCounts,
}

/// The chain-conflict counters of an agent, kept in its row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConflictCounts {
    /// Forks and broken links recorded.
    pub recorded: i64,
    /// Of those, kept with the whole envelope.
    pub envelopes: i64,
    /// Refused without a record since the last recorded one (the quota was used up).
    pub unrecorded: i64,
}

/// A stored report as the chain rules need it.
#[derive(Debug, Clone)]
pub struct StoredLink {
    pub log_index: i64,
    pub prev: String,
    /// Lowercase hex SHA-256 of its statement bytes.
    pub payload_sha256: String,
}

impl StoredLink {
    fn link(&self) -> String {
        format!("sha256:{}", self.payload_sha256)
    }
}

/// A chain event to record.
#[derive(Debug, Clone)]
pub struct EventRow<'a> {
    pub agent_id: &'a str,
    pub kind: &'static str,
    pub seq: i64,
    pub detail: String,
    pub payload_sha256: Option<&'a str>,
    pub envelope: Option<&'a [u8]>,
}

/// A new chain head of an agent.
#[derive(Debug, Clone)]
pub struct HeadUpdate {
    pub agent_id: String,
    pub head_seq: i64,
    pub head_link: String,
}

/// An agent's new hostname (a rename: same machine id).
#[derive(Debug, Clone)]
pub struct Rename {
    pub agent_id: String,
    pub hostname: String,
}

/// An agent's new conflict counters.
#[derive(Debug, Clone)]
pub struct CountersUpdate {
    pub agent_id: String,
    pub counts: ConflictCounts,
}

/// The new log head.
#[derive(Debug, Clone)]
pub struct LogUpdate {
    pub tree_size: u64,
    pub root: Hash,
    pub frontier: Vec<u8>,
}

/// Everything a batch writes.
#[derive(Debug, Default)]
pub struct BatchWrite<'a> {
    /// New reports with their log indexes, in index order.
    pub reports: Vec<(i64, &'a PendingReport)>,
    /// How each of `reports` stores its envelope (same order): see [`codec`].
    pub encoded: Vec<Encoded>,
    pub events: Vec<EventRow<'a>>,
    pub heads: Vec<HeadUpdate>,
    pub renames: Vec<Rename>,
    pub counters: Vec<CountersUpdate>,
    /// Entries the collector writes to the audit log itself (a quota reached).
    pub audits: Vec<AuditEntry>,
    pub nodes: Vec<NewNode>,
    pub log: Option<LogUpdate>,
    pub now: Millis,
    /// The result change rows to write, by agent then `seq` (see [`changes`]): a set
    /// that `replaces` deletes the stored rows at its `seq` first.
    pub changes: Vec<ChangeSet>,
    /// Per agent with change rows, the lowest `seq` written: its rows with
    /// `seq_to >= from` get `seq_to` recomputed after the inserts.
    pub relinks: Vec<(String, i64)>,
}

impl BatchWrite<'_> {
    /// Whether the batch writes only reports, their results, log nodes, heads and the
    /// log head (the backends' fast path).
    pub fn only_reports(&self) -> bool {
        self.events.is_empty()
            && self.renames.is_empty()
            && self.counters.is_empty()
            && self.audits.is_empty()
    }
}

/// The statements a backend provides inside its batch transaction.
#[async_trait]
pub trait BatchTx: Send {
    /// The rows of these agents (sorted, distinct ids), locked until commit.
    async fn lock_agents(&mut self, ids: &[&str]) -> Result<Vec<AgentChainRow>, StoreError>;
    /// The committed report of an agent at `seq`.
    async fn report_at(
        &mut self,
        agent_id: &str,
        seq: i64,
    ) -> Result<Option<StoredLink>, StoreError>;
    /// Whether an unrevoked agent other than `agent_id`, enrolled with another machine
    /// id than `machine_id`, reports under `hostname` (ignoring ASCII case).
    async fn hostname_taken(
        &mut self,
        hostname: &str,
        agent_id: &str,
        machine_id: &str,
    ) -> Result<bool, StoreError>;
    /// Whether a fork or broken link at `seq` of the agent is stored with its whole
    /// envelope.
    async fn conflict_envelope_at(&mut self, agent_id: &str, seq: i64) -> Result<bool, StoreError>;
    /// The keyframe of the agent's report at `seq`: that row itself when it is a
    /// keyframe (`raw` or `zstd`), else its base (of the same agent).
    async fn keyframe_of(&mut self, agent_id: &str, seq: i64)
    -> Result<Option<KeyRow>, StoreError>;
    /// The results of the agent's stored report at `seq`, from its change rows: the
    /// latest row of each check at or before `seq` that is not a tombstone.
    async fn results_at(&mut self, agent_id: &str, seq: i64) -> Result<ResultState, StoreError>;
    /// The agent's stored reports just below and just above `seq`, as `(seq, log
    /// index)`.
    async fn neighbours(
        &mut self,
        agent_id: &str,
        seq: i64,
    ) -> Result<(Option<(i64, i64)>, Option<(i64, i64)>), StoreError>;
    /// The log head (tree size and frontier), locked until commit.
    async fn lock_log(&mut self) -> Result<Frontier, StoreError>;
    /// Writes the batch.
    async fn write(&mut self, w: &BatchWrite<'_>) -> Result<(), StoreError>;
    /// Stores an inventory list unless its address is stored: whether it was new.
    async fn insert_list(&mut self, list: &PendingList) -> Result<bool, StoreError>;
    /// Which of these lists (sorted, distinct addresses) are stored, locked against
    /// deletion until commit.
    async fn lists_held(&mut self, addresses: &[&str]) -> Result<HashSet<String>, StoreError>;
}

/// One agent's row as a backend reads it for [`BatchTx::lock_agents`] in one JSON
/// array (a row of its own per agent is a hand-off per row between the database
/// driver's thread and the writer's): id, hex of the public key, revoked (0 or 1),
/// head seq, head link, hostname, machine id, the three conflict counters, the
/// head's keyframe index.
type AgentChainJson = (
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    String,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
);

/// The agents' rows from their JSON array ([`AgentChainJson`]), in id order.
pub fn agent_rows_from_json(json: &str) -> Result<Vec<AgentChainRow>, StoreError> {
    let rows: Vec<AgentChainJson> = serde_json::from_str(json)
        .map_err(|e| StoreError::Corrupt(format!("agent rows as JSON: {e}")))?;
    let mut out = rows
        .into_iter()
        .map(
            |(agent_id, key, revoked, head_seq, head_link, hostname, machine_id, r, e, u, base)| {
                let public_key = hex::decode(&key).map_err(|e| {
                    StoreError::Corrupt(format!("public key of agent {agent_id}: {e}"))
                })?;
                Ok(AgentChainRow {
                    agent_id,
                    public_key,
                    revoked: revoked != 0,
                    head_seq,
                    head_link,
                    hostname,
                    machine_id,
                    conflicts: ConflictCounts {
                        recorded: r,
                        envelopes: e,
                        unrecorded: u,
                    },
                    head_base: base,
                })
            },
        )
        .collect::<Result<Vec<_>, StoreError>>()?;
    out.sort_unstable_by(|a, b| a.agent_id.cmp(&b.agent_id));
    Ok(out)
}

/// The log head from a JSON array of its tree size and its frontier in hex.
pub fn frontier_from_json(json: &str) -> Result<Frontier, StoreError> {
    let (size, frontier): (u64, String) = serde_json::from_str(json)
        .map_err(|e| StoreError::Corrupt(format!("log head as JSON: {e}")))?;
    let bytes =
        hex::decode(&frontier).map_err(|e| StoreError::Corrupt(format!("log frontier: {e}")))?;
    Frontier::from_bytes(size, &bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Strings as a JSON array, a statement's one parameter for a set of keys.
pub fn json_array(items: &[&str]) -> Result<String, StoreError> {
    serde_json::to_string(items).map_err(|e| StoreError::Corrupt(format!("a JSON array: {e}")))
}

/// What a backend reads at the start of a batch in one round trip, for the
/// [`BatchTx`] methods that would each read it in one of their own: the rows of the
/// batch's agents ([`agent_ids`]), which of the lists its reports name
/// ([`named_lists_of`]) are stored, and the log head. Each is handed out once, and
/// only while it still holds: the agents for the same ids, the lists for addresses
/// that were looked up (a list the batch inserts counts as stored from then on), the
/// log head until a write.
#[derive(Debug, Default)]
pub struct Prefetched {
    agents: Option<(Vec<String>, Vec<AgentChainRow>)>,
    lists: Option<(Vec<String>, HashSet<String>)>,
    log: Option<Frontier>,
}

impl Prefetched {
    /// From the ids and addresses looked up (each sorted) and the three JSON texts
    /// read: the agents' rows ([`agent_rows_from_json`]), the stored addresses, the
    /// log head ([`frontier_from_json`]).
    pub fn from_json(
        ids: &[&str],
        named: &[&str],
        agents: &str,
        held: &str,
        log: &str,
    ) -> Result<Prefetched, StoreError> {
        let held: HashSet<String> = serde_json::from_str(held)
            .map_err(|e| StoreError::Corrupt(format!("stored lists as JSON: {e}")))?;
        Ok(Prefetched {
            agents: Some((
                ids.iter().map(|s| (*s).to_owned()).collect(),
                agent_rows_from_json(agents)?,
            )),
            lists: Some((named.iter().map(|s| (*s).to_owned()).collect(), held)),
            log: Some(frontier_from_json(log)?),
        })
    }

    /// The agents' rows, if these are the ids they were read for.
    pub fn agents(&mut self, ids: &[&str]) -> Option<Vec<AgentChainRow>> {
        let (read, rows) = self.agents.take()?;
        read.iter()
            .map(String::as_str)
            .eq(ids.iter().copied())
            .then_some(rows)
    }

    /// Which of these addresses are stored, if each was looked up.
    pub fn lists_held(&self, addresses: &[&str]) -> Option<HashSet<String>> {
        let (read, held) = self.lists.as_ref()?;
        addresses
            .iter()
            .all(|a| read.binary_search_by(|r| r.as_str().cmp(a)).is_ok())
            .then(|| {
                addresses
                    .iter()
                    .filter(|a| held.contains(**a))
                    .map(|a| (*a).to_owned())
                    .collect()
            })
    }

    /// A list the batch stored (or found stored) is held from then on.
    pub fn list_stored(&mut self, address: &str) {
        if let Some((_, held)) = &mut self.lists {
            held.insert(address.to_owned());
        }
    }

    /// The log head, once.
    pub fn log(&mut self) -> Option<Frontier> {
        self.log.take()
    }

    /// A write: the log head read is stale.
    pub fn written(&mut self) {
        self.log = None;
    }
}

/// A keyframe row as [`BatchTx::keyframe_of`] reads it.
#[derive(Debug, Clone)]
pub struct KeyRow {
    pub log_index: i64,
    pub seq: i64,
    pub content: KeyContent,
}

/// A keyframe's content as the writer holds it.
#[derive(Debug, Clone)]
pub enum KeyContent {
    /// As stored: its codec and compressed bytes (read from the database).
    Stored { codec: String, bytes: Vec<u8> },
    /// Its form, once this writer has it (the form it compressed, or the row
    /// decompressed by an earlier batch): kept with the [`HeadEntry`] so that the
    /// agent's next batch does not decompress the keyframe again (that was a fifth of
    /// the writer's time, `docs/benchmarks.md`).
    Form(Arc<Vec<u8>>),
}

/// What the batch knows of an agent's current keyframe (the base of its next delta).
enum KeyState {
    /// Not looked up yet (read from the database when the first delta needs it).
    Unknown,
    /// The row is `AgentState::key_row` (from the [`HeadEntry`]), not decompressed
    /// yet.
    Stored,
    /// No usable keyframe: the next report stored is one.
    None,
    /// Deltas are made against the keyframe at `seq`.
    Known {
        seq: i64,
        index: i64,
        form: Arc<Vec<u8>>,
    },
}

struct AgentState {
    revoked: bool,
    genesis: String,
    /// SHA-256 (hex) of the enrolled machine id.
    machine_sha256: String,
    /// Enrolled without a machine id: bound to the hostname instead.
    by_name: bool,
    machine_id: String,
    hostname: String,
    renamed: bool,
    conflicts: ConflictCounts,
    conflicts_changed: bool,
    /// Seqs whose conflict envelope is stored whole by this batch.
    whole_seqs: HashSet<i64>,
    /// The committed head seq at lock time: below or at it, the database may hold
    /// reports.
    db_head: Option<i64>,
    head: Option<(i64, String)>,
    head_changed: bool,
    /// Reports accepted earlier in this batch: seq → (prev, link, log index).
    in_batch: BTreeMap<i64, StoredLink>,
    key: KeyState,
    /// The row of the keyframe `key` describes, as stored (kept for the next batch).
    key_row: Option<KeyRow>,
    /// The results of the head (`seq`, state) once known.
    last: Option<(i64, Arc<ResultState>)>,
    /// The results of the reports this batch stores, by `seq`.
    batch_results: BTreeMap<i64, Arc<ResultState>>,
    /// The change rows this batch writes, by `seq`.
    changes: BTreeMap<i64, ChangeSet>,
}

/// Computes the change rows of report `r` (stored at `index`) and, for a late report,
/// recomputes those of the stored report just above it; see [`changes`].
async fn track_results<T: BatchTx>(
    tx: &mut T,
    st: &mut AgentState,
    r: &PendingReport,
    index: i64,
    prior_head: Option<i64>,
) -> Result<(), StoreError> {
    let set = |seq: i64, log_index: i64, replaces: bool, rows| ChangeSet {
        agent_id: r.agent_id.clone(),
        seq,
        log_index,
        replaces,
        rows,
    };
    if prior_head.is_none_or(|h| r.seq > h) {
        // Extends the chain: compared with the head.
        let before = match prior_head {
            None => Arc::new(ResultState::new()),
            Some(h) => match &st.last {
                Some((seq, before)) if *seq == h => Arc::clone(before),
                _ => Arc::new(tx.results_at(&r.agent_id, h).await?),
            },
        };
        let (state, rows) = changes::advance(&before, &r.results);
        st.changes.insert(r.seq, set(r.seq, index, false, rows));
        st.last = Some((r.seq, Arc::clone(&state)));
        st.batch_results.insert(r.seq, state);
        return Ok(());
    }
    let state = changes::state_of(&r.results);
    // A late report: in place, between the stored reports below and above it.
    let (db_below, db_above) = tx.neighbours(&r.agent_id, r.seq).await?;
    let batch_below = st.batch_results.range(..r.seq).next_back();
    let before = match (batch_below, db_below) {
        (Some((b, s)), d) if d.is_none_or(|(d, _)| *b > d) => Arc::clone(s),
        (_, Some((d, _))) => Arc::new(tx.results_at(&r.agent_id, d).await?),
        _ => Arc::new(ResultState::new()),
    };
    st.changes.insert(
        r.seq,
        set(r.seq, index, false, changes::diff(&before, &state)),
    );
    let batch_above = st
        .batch_results
        .range(r.seq.saturating_add(1)..)
        .next()
        .map(|(s, _)| *s);
    let above = match (batch_above, db_above) {
        (Some(b), d) if d.is_none_or(|(d, _)| b < d) => {
            let after = st.batch_results.get(&b).map(Arc::clone).unwrap_or_default();
            let (log_index, replaces) = st
                .changes
                .get(&b)
                .map_or((0, false), |c| (c.log_index, c.replaces));
            Some((b, log_index, replaces, after))
        }
        (_, Some((d, log_index))) => Some((
            d,
            log_index,
            true,
            Arc::new(tx.results_at(&r.agent_id, d).await?),
        )),
        _ => None,
    };
    if let Some((seq, log_index, replaces, after)) = above {
        st.changes.insert(
            seq,
            set(seq, log_index, replaces, changes::diff(&state, &after)),
        );
    }
    st.batch_results.insert(r.seq, Arc::new(state));
    Ok(())
}

/// How report `r`, stored at `index`, keeps its envelope: a delta against the agent's
/// keyframe when it extends the chain (`next`) within [`KEYFRAME_INTERVAL`] of that
/// keyframe, else a new keyframe (first report, gap, late report, interval reached,
/// keyframe unreadable). A keyframe that becomes the head is the base of what follows.
async fn encode<T: BatchTx>(
    tx: &mut T,
    st: &mut AgentState,
    r: &PendingReport,
    index: i64,
    next: bool,
    becomes_head: bool,
) -> Result<Encoded, StoreError> {
    let form = &r.form;
    if next {
        if matches!(st.key, KeyState::Unknown) {
            st.key = KeyState::None;
            if let Some(head) = st.db_head
                && let Some(k) = tx.keyframe_of(&r.agent_id, head).await?
            {
                st.key_row = Some(k);
                st.key = KeyState::Stored;
            }
        }
        if matches!(st.key, KeyState::Stored) {
            st.key = KeyState::None;
            if let Some(mut k) = st.key_row.take() {
                let base = match &k.content {
                    KeyContent::Form(form) => Ok(Arc::clone(form)),
                    KeyContent::Stored { codec, bytes } => {
                        codec::base_form(codec, bytes).map(Arc::new)
                    }
                };
                match base {
                    Ok(base) => {
                        k.content = KeyContent::Form(Arc::clone(&base));
                        st.key = KeyState::Known {
                            seq: k.seq,
                            index: k.log_index,
                            form: base,
                        };
                        st.key_row = Some(k);
                    }
                    Err(e) => tracing::warn!(
                        agent_id = %r.agent_id,
                        log_index = k.log_index,
                        error = %e,
                        "keyframe unreadable; storing a new one"
                    ),
                }
            }
        }
        if let KeyState::Known {
            seq,
            index,
            form: base,
        } = &st.key
            && r.seq.saturating_sub(*seq) < KEYFRAME_INTERVAL
        {
            return codec::delta(*index, base, form);
        }
    }
    let key = codec::keyframe(form)?;
    if becomes_head {
        st.key = KeyState::Known {
            seq: r.seq,
            index,
            form: Arc::clone(form),
        };
        st.key_row = Some(KeyRow {
            log_index: index,
            seq: r.seq,
            content: KeyContent::Form(Arc::clone(form)),
        });
    }
    Ok(key)
}

async fn lookup<T: BatchTx>(
    tx: &mut T,
    agent_id: &str,
    st: &AgentState,
    seq: i64,
) -> Result<Option<StoredLink>, StoreError> {
    if seq < 1 {
        return Ok(None);
    }
    if let Some(found) = st.in_batch.get(&seq) {
        return Ok(Some(found.clone()));
    }
    match st.db_head {
        Some(h) if seq <= h => tx.report_at(agent_id, seq).await,
        _ => Ok(None),
    }
}

fn receipt(r: &PendingReport, log_index: i64, duplicate: bool) -> Receipt {
    Receipt {
        agent_id: r.agent_id.clone(),
        seq: u64::try_from(r.seq).unwrap_or_default(),
        payload_sha256: r.payload_sha256.clone(),
        log_index: u64::try_from(log_index).unwrap_or_default(),
        duplicate,
    }
}

/// At most this many characters of a hostname go into an event or a message.
const NAME_CHARS: usize = 64;

fn cut(s: &str) -> String {
    match s.char_indices().nth(NAME_CHARS) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

/// Records a chain conflict of `r` within the agent's quota (see the module docs).
#[allow(clippy::too_many_arguments)]
async fn record_conflict<'a, T: BatchTx>(
    tx: &mut T,
    st: &mut AgentState,
    r: &'a PendingReport,
    kind: &'static str,
    detail: String,
    quota: ConflictQuota,
    write: &mut BatchWrite<'a>,
    result: &mut BatchResult,
) -> Result<(), StoreError> {
    st.conflicts_changed = true;
    if st.conflicts.recorded < quota.recorded_per_agent {
        let whole = st.conflicts.envelopes < quota.envelopes_per_agent
            && !st.whole_seqs.contains(&r.seq)
            && !tx.conflict_envelope_at(&r.agent_id, r.seq).await?;
        write.events.push(EventRow {
            agent_id: &r.agent_id,
            kind,
            seq: r.seq,
            detail,
            payload_sha256: Some(&r.payload_sha256),
            envelope: whole.then_some(&r.envelope[..]),
        });
        st.conflicts.recorded += 1;
        st.conflicts.unrecorded = 0;
        if whole {
            st.conflicts.envelopes += 1;
            st.whole_seqs.insert(r.seq);
        }
        return Ok(());
    }
    st.conflicts.unrecorded += 1;
    result.conflicts_unrecorded += 1;
    if st.conflicts.unrecorded == 1 {
        write.events.push(EventRow {
            agent_id: &r.agent_id,
            kind: "conflict_quota_reached",
            seq: r.seq,
            detail: format!(
                "{} forks and broken links recorded, the quota of {}; later ones are \
                 refused without a record",
                st.conflicts.recorded, quota.recorded_per_agent
            ),
            payload_sha256: Some(&r.payload_sha256),
            envelope: None,
        });
        write.audits.push(AuditEntry {
            at: write.now,
            actor: COLLECTOR_ACTOR.to_owned(),
            action: "chain_conflicts.quota_reached".to_owned(),
            target: r.agent_id.clone(),
            detail: format!(
                "recorded={} quota={} whole_envelopes={}; later forks and broken links \
                 are refused without a record",
                st.conflicts.recorded, quota.recorded_per_agent, st.conflicts.envelopes
            ),
        });
        result.quota_reached.push(r.agent_id.clone());
    }
    Ok(())
}

/// Inserts the batch's lists whose agent is enrolled and not revoked, each address
/// once, in address order; records one [`ListOutcome`] per list. Returns the
/// addresses this batch inserted.
async fn insert_lists<'l, T: BatchTx>(
    tx: &mut T,
    lists: &'l [PendingList],
    revoked: &HashMap<&str, bool>,
    result: &mut BatchResult,
) -> Result<HashSet<&'l str>, StoreError> {
    result.lists = vec![ListOutcome::Held; lists.len()];
    let mut order: Vec<usize> = (0..lists.len()).collect();
    order.sort_by(|a, b| lists[*a].address.cmp(&lists[*b].address));
    let mut inserted = HashSet::new();
    let mut previous: Option<&str> = None;
    for i in order {
        let list = &lists[i];
        result.lists[i] = match revoked.get(list.agent_id.as_str()) {
            None => ListOutcome::Refused {
                code: ErrorCode::UnknownAgent,
                message: "unknown agent".into(),
            },
            Some(true) => ListOutcome::Refused {
                code: ErrorCode::Revoked,
                message: "the agent has been revoked".into(),
            },
            Some(false) if previous == Some(list.address.as_str()) => ListOutcome::Held,
            Some(false) => {
                previous = Some(list.address.as_str());
                if tx.insert_list(list).await? {
                    inserted.insert(list.address.as_str());
                    ListOutcome::New
                } else {
                    ListOutcome::Held
                }
            }
        };
    }
    Ok(inserted)
}

/// The lists the batch's reports name that the store holds: inserted by this batch,
/// or found (and locked against deletion until the commit) in one lookup.
async fn named_lists<'a, T: BatchTx>(
    tx: &mut T,
    batch: &'a [PendingReport],
    mut held: HashSet<&'a str>,
) -> Result<HashSet<&'a str>, StoreError> {
    let wanted: Vec<&str> = named_lists_of(batch)
        .into_iter()
        .filter(|a| !held.contains(a))
        .collect();
    if wanted.is_empty() {
        return Ok(held);
    }
    let found = tx.lists_held(&wanted).await?;
    held.extend(wanted.into_iter().filter(|a| found.contains(*a)));
    Ok(held)
}

/// The agents of a batch's reports and lists, sorted and distinct: what
/// [`run_batch`] locks first.
pub fn agent_ids<'a>(lists: &'a [PendingList], batch: &'a [PendingReport]) -> Vec<&'a str> {
    let mut ids: Vec<&str> = batch
        .iter()
        .map(|r| r.agent_id.as_str())
        .chain(lists.iter().map(|l| l.agent_id.as_str()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The inventory lists a batch's reports name, sorted and distinct: a superset of
/// what [`run_batch`] asks [`BatchTx::lists_held`] (it leaves out the lists the batch
/// itself inserted).
pub fn named_lists_of(batch: &[PendingReport]) -> Vec<&str> {
    let mut named: Vec<&str> = batch.iter().filter_map(|r| r.list.as_deref()).collect();
    named.sort_unstable();
    named.dedup();
    named
}

/// Stores the inventory lists, then classifies and prepares the batch of reports; see
/// the module docs. `heads` holds what the store remembers of the batch's agents
/// ([`super::heads`]): an entry is used when the locked row still matches it; on
/// return it holds the agents' heads after this batch, for the store to keep once the
/// transaction commits.
///
/// The agents of the reports and of the lists are locked first (a list of a revoked
/// or unknown agent is refused, as its reports are), then the lists are inserted, each
/// address once and in address order, then the lists the reports name are looked up
/// (and kept from deletion until the commit): a report whose list the collector does
/// not hold is refused with `inventory_list_unknown`, one whose list came in the same
/// batch is stored. Every batch takes its locks in that one order: agents, lists, the
/// log head.
pub async fn run_batch<T: BatchTx>(
    tx: &mut T,
    lists: &[PendingList],
    batch: &[PendingReport],
    now: Millis,
    quota: ConflictQuota,
    heads: &mut KnownHeads,
) -> Result<BatchResult, StoreError> {
    let ids = agent_ids(lists, batch);
    let rows = tx.lock_agents(&ids).await?;
    let mut result = BatchResult::default();
    let revoked: HashMap<&str, bool> = rows
        .iter()
        .map(|r| (r.agent_id.as_str(), r.revoked))
        .collect();
    let lists_ok = insert_lists(tx, lists, &revoked, &mut result).await?;
    let named = named_lists(tx, batch, lists_ok).await?;
    if batch.is_empty() {
        heads.clear();
        return Ok(result);
    }
    let mut agents: HashMap<String, AgentState> = HashMap::with_capacity(rows.len());
    for row in rows {
        let key: [u8; 32] = row.public_key.as_slice().try_into().map_err(|_| {
            StoreError::Corrupt(format!(
                "public key of agent {} is not 32 bytes",
                row.agent_id
            ))
        })?;
        let known = heads
            .remove(&row.agent_id)
            .filter(|e| e.matches(row.head_seq, row.head_link.as_deref(), row.head_base));
        if known.is_some() {
            result.head_hits += 1;
        }
        let head = match (row.head_seq, row.head_link) {
            (Some(s), Some(l)) => Some((s, l)),
            _ => None,
        };
        let (key_state, key_row, last) = match known {
            Some(e) => (KeyState::Stored, Some(e.key), Some((e.head_seq, e.results))),
            None => (KeyState::Unknown, None, None),
        };
        agents.insert(
            row.agent_id,
            AgentState {
                revoked: row.revoked,
                // `genesis_prev` of the key, from its stored bytes: the key was
                // checked at enrollment, and decompressing the point again for each
                // report cost the writer 2 % of the collector's CPU.
                genesis: link_of(&key),
                machine_sha256: sha256_hex(row.machine_id.as_bytes()),
                by_name: row.machine_id.is_empty(),
                machine_id: row.machine_id,
                hostname: row.hostname,
                renamed: false,
                conflicts: row.conflicts,
                conflicts_changed: false,
                whole_seqs: HashSet::new(),
                db_head: head.as_ref().map(|(s, _)| *s),
                head,
                head_changed: false,
                in_batch: BTreeMap::new(),
                key: key_state,
                key_row,
                last,
                batch_results: BTreeMap::new(),
                changes: BTreeMap::new(),
            },
        );
    }

    // What was not used (an agent not found) is not kept either.
    heads.clear();
    let mut frontier = tx.lock_log().await?;
    let start_size = frontier.size;
    let mut write = BatchWrite {
        now,
        ..BatchWrite::default()
    };
    let mut outcomes = Vec::with_capacity(batch.len());

    for r in batch {
        let Some(st) = agents.get_mut(&r.agent_id) else {
            outcomes.push(IngestOutcome::Rejected {
                code: ErrorCode::UnknownAgent,
                message: "unknown agent".into(),
            });
            continue;
        };
        if st.revoked {
            outcomes.push(IngestOutcome::Rejected {
                code: ErrorCode::Revoked,
                message: "the agent has been revoked".into(),
            });
            continue;
        }
        if let Some(address) = &r.list
            && !named.contains(address.as_str())
        {
            outcomes.push(IngestOutcome::Rejected {
                code: ErrorCode::InventoryListUnknown,
                message: format!(
                    "the report names inventory list {address}, which this collector does \
                     not hold; send it (POST /v1/inventory-lists), then the report again"
                ),
            });
            continue;
        }
        let other_machine = r.machine_sha256 != st.machine_sha256;
        let new_name = r.hostname != st.hostname;
        if other_machine || (new_name && st.by_name) {
            outcomes.push(IngestOutcome::Rejected {
                code: ErrorCode::HostMismatch,
                message: format!(
                    "the report is about host/{}, not the machine this agent is enrolled \
                     for; enroll that host with its own key",
                    cut(&r.hostname)
                ),
            });
            continue;
        }
        if new_name
            && tx
                .hostname_taken(&r.hostname, &r.agent_id, &st.machine_id)
                .await?
        {
            outcomes.push(IngestOutcome::Rejected {
                code: ErrorCode::HostMismatch,
                message: format!(
                    "the report names host/{}, which another enrolled machine reports \
                     under; a host cannot take the name of another",
                    cut(&r.hostname)
                ),
            });
            continue;
        }
        let at = lookup(tx, &r.agent_id, st, r.seq).await?;
        let below_head = st.head.as_ref().is_some_and(|(h, _)| r.seq < *h);
        let (before, after) = if at.is_none() && below_head {
            (
                lookup(tx, &r.agent_id, st, r.seq - 1).await?,
                lookup(tx, &r.agent_id, st, r.seq.saturating_add(1)).await?,
            )
        } else {
            (None, None)
        };
        let at_link = at.as_ref().map(StoredLink::link);
        let before_link = before.as_ref().map(StoredLink::link);
        let view = StoredView {
            genesis: &st.genesis,
            head: st.head.as_ref().map(|(seq, link)| Head {
                seq: u64::try_from(*seq).unwrap_or_default(),
                link,
            }),
            at_seq: at_link.as_deref(),
            before: before_link.as_deref(),
            after_prev: after.as_ref().map(|a| a.prev.as_str()),
        };
        let incoming = Incoming {
            seq: u64::try_from(r.seq).unwrap_or_default(),
            prev: &r.prev,
            link: &r.link,
        };
        let verdict = classify(&view, &incoming);
        match verdict {
            ChainVerdict::Duplicate => {
                let index = at.as_ref().map_or(0, |a| a.log_index);
                outcomes.push(IngestOutcome::Duplicate(receipt(r, index, true)));
            }
            ChainVerdict::Fork => {
                let detail = format!(
                    "seq {} already holds {}",
                    r.seq,
                    at_link.as_deref().unwrap_or("?")
                );
                record_conflict(tx, st, r, "fork", detail, quota, &mut write, &mut result).await?;
                outcomes.push(IngestOutcome::Rejected {
                    code: ErrorCode::ChainConflict,
                    message: format!("seq {} is already used by another report", r.seq),
                });
            }
            ChainVerdict::BrokenLink { expected_prev } => {
                let detail = match &expected_prev {
                    Some(p) => format!("prev {} does not link to {p}", r.prev),
                    None => "the stored next report does not link to this one".to_owned(),
                };
                record_conflict(
                    tx,
                    st,
                    r,
                    "broken_link",
                    detail.clone(),
                    quota,
                    &mut write,
                    &mut result,
                )
                .await?;
                outcomes.push(IngestOutcome::Rejected {
                    code: ErrorCode::ChainConflict,
                    message: format!("seq {}: {detail}", r.seq),
                });
            }
            ChainVerdict::Invalid => outcomes.push(IngestOutcome::Rejected {
                code: ErrorCode::NotAStatement,
                message: "seq must be 1 or more".into(),
            }),
            ChainVerdict::Next | ChainVerdict::Gap { .. } | ChainVerdict::Late => {
                let index = i64::try_from(frontier.size).map_err(|_| {
                    StoreError::Corrupt("the log is larger than 2^63 leaves".into())
                })?;
                frontier.push(r.leaf_hash, &mut write.nodes);
                match verdict {
                    ChainVerdict::Gap {
                        missing_from,
                        missing_to,
                    } => write.events.push(EventRow {
                        agent_id: &r.agent_id,
                        kind: "gap",
                        seq: r.seq,
                        detail: format!("reports {missing_from}..={missing_to} never arrived"),
                        payload_sha256: Some(&r.payload_sha256),
                        envelope: None,
                    }),
                    ChainVerdict::Late => write.events.push(EventRow {
                        agent_id: &r.agent_id,
                        kind: "late",
                        seq: r.seq,
                        detail: format!("report {} arrived after a later one", r.seq),
                        payload_sha256: Some(&r.payload_sha256),
                        envelope: None,
                    }),
                    _ => {}
                }
                let prior_head = st.head.as_ref().map(|(s, _)| *s);
                track_results(tx, st, r, index, prior_head).await?;
                st.in_batch.insert(
                    r.seq,
                    StoredLink {
                        log_index: index,
                        prev: r.prev.clone(),
                        payload_sha256: r.payload_sha256.clone(),
                    },
                );
                if st.head.as_ref().is_none_or(|(h, _)| r.seq > *h) {
                    st.head = Some((r.seq, r.link.clone()));
                    st.head_changed = true;
                    // The latest report names the host: a new name is a rename.
                    if r.hostname != st.hostname {
                        write.events.push(EventRow {
                            agent_id: &r.agent_id,
                            kind: "host_renamed",
                            seq: r.seq,
                            detail: format!(
                                "hostname {:?} -> {:?} (same machine id)",
                                cut(&st.hostname),
                                cut(&r.hostname)
                            ),
                            payload_sha256: Some(&r.payload_sha256),
                            envelope: None,
                        });
                        st.hostname.clone_from(&r.hostname);
                        st.renamed = true;
                    }
                }
                let next = matches!(verdict, ChainVerdict::Next);
                let becomes_head = st.head.as_ref().is_some_and(|(h, _)| *h == r.seq);
                write
                    .encoded
                    .push(encode(tx, st, r, index, next, becomes_head).await?);
                write.reports.push((index, r));
                outcomes.push(IngestOutcome::Stored(receipt(r, index, false)));
            }
        }
    }

    if frontier.size != start_size {
        write.log = Some(LogUpdate {
            tree_size: frontier.size,
            root: frontier.root(),
            frontier: frontier.to_bytes(),
        });
    }
    for (agent_id, mut st) in agents {
        // The head's results and keyframe, for the store to keep after the commit.
        if let (Some((head_seq, head_link)), Some((last_seq, results)), Some(key)) =
            (&st.head, st.last.take(), st.key_row.take())
            && *head_seq == last_seq
        {
            heads.insert(
                agent_id.clone(),
                HeadEntry {
                    head_seq: *head_seq,
                    head_link: head_link.clone(),
                    key,
                    results,
                },
            );
        }
        // Rows written or replaced move the `seq_to` of others; with none, every
        // row's `seq_to` is still right and the agent needs no relink.
        if st
            .changes
            .values()
            .any(|c| c.replaces || !c.rows.is_empty())
            && let Some(from) = st.changes.keys().next()
        {
            write.relinks.push((agent_id.clone(), *from));
        }
        write.changes.extend(
            st.changes
                .into_values()
                .filter(|c| c.replaces || !c.rows.is_empty()),
        );
        if st.renamed {
            write.renames.push(Rename {
                agent_id: agent_id.clone(),
                hostname: st.hostname,
            });
        }
        if st.conflicts_changed {
            write.counters.push(CountersUpdate {
                agent_id: agent_id.clone(),
                counts: st.conflicts,
            });
        }
        if st.head_changed
            && let Some((head_seq, head_link)) = st.head
        {
            write.heads.push(HeadUpdate {
                agent_id,
                head_seq,
                head_link,
            });
        }
    }
    write
        .heads
        .sort_unstable_by(|a, b| a.agent_id.cmp(&b.agent_id));
    write
        .changes
        .sort_by(|a, b| a.agent_id.cmp(&b.agent_id).then(a.seq.cmp(&b.seq)));
    write.relinks.sort_unstable();
    write
        .renames
        .sort_unstable_by(|a, b| a.agent_id.cmp(&b.agent_id));
    write
        .counters
        .sort_unstable_by(|a, b| a.agent_id.cmp(&b.agent_id));
    tx.write(&write).await?;
    result.outcomes = outcomes;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGENTS: &str = r#"[["agt_b","0a0b",0,3,"sha256:x","b","m-b",0,0,0,7],
        ["agt_a","0c",1,null,null,"a","",1,2,3,null]]"#;

    fn log_json(size: u64) -> String {
        let hashes = "11".repeat(32 * size.count_ones() as usize);
        format!("[{size},\"{hashes}\"]")
    }

    fn prefetched() -> Prefetched {
        Prefetched::from_json(
            &["agt_a", "agt_b"],
            &["sha256:l1", "sha256:l2"],
            AGENTS,
            r#"["sha256:l1"]"#,
            &log_json(3),
        )
        .unwrap()
    }

    #[test]
    fn prefetched_reads_are_handed_out_once_and_only_while_they_hold() {
        let mut p = prefetched();
        let rows = p.agents(&["agt_a", "agt_b"]).unwrap();
        let ids: Vec<&str> = rows.iter().map(|r| r.agent_id.as_str()).collect();
        assert_eq!(ids, ["agt_a", "agt_b"], "in id order");
        assert!(rows[0].revoked && !rows[1].revoked);
        assert_eq!(rows[1].public_key, [0x0a, 0x0b]);
        assert_eq!((rows[1].head_seq, rows[1].head_base), (Some(3), Some(7)));
        assert_eq!(rows[0].conflicts.unrecorded, 3);
        assert!(p.agents(&["agt_a", "agt_b"]).is_none(), "handed out once");
        // Rows read for other ids are not handed out.
        assert!(prefetched().agents(&["agt_a"]).is_none());

        let held = p.lists_held(&["sha256:l1", "sha256:l2"]).unwrap();
        assert_eq!(held, HashSet::from(["sha256:l1".to_owned()]));
        assert!(
            p.lists_held(&["sha256:l1", "sha256:l3"]).is_none(),
            "an address not looked up is read again"
        );
        p.list_stored("sha256:l2");
        assert_eq!(p.lists_held(&["sha256:l2"]).unwrap().len(), 1);

        assert_eq!(p.log().unwrap().size, 3);
        assert!(p.log().is_none(), "handed out once");
        let mut p = prefetched();
        p.written();
        assert!(p.log().is_none(), "stale after a write");
    }

    #[test]
    fn prefetched_reads_that_do_not_parse_are_corrupt() {
        let bad = |agents: &str, held: &str, log: &str| {
            Prefetched::from_json(&["agt_a"], &[], agents, held, log).unwrap_err()
        };
        let e = bad(
            r#"[["agt_a","zz",0,null,null,"a","",0,0,0,null]]"#,
            "[]",
            &log_json(1),
        );
        assert!(e.to_string().contains("public key of agent agt_a"), "{e}");
        let e = bad(AGENTS, "{}", &log_json(1));
        assert!(e.to_string().contains("stored lists"), "{e}");
        // Three leaves need two hashes.
        let e = bad(AGENTS, "[]", &format!("[3,\"{}\"]", "11".repeat(32)));
        assert!(e.to_string().contains("log frontier"), "{e}");
    }
}
