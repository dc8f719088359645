//! The backend-independent half of a batch: chain classification and log appends.
//!
//! [`run_batch`] runs inside the backend's transaction: it locks the agents of the
//! batch and the log head, classifies every report with [`attest_proto::classify`]
//! (against the committed chain *and* the reports earlier in the same batch), assigns
//! dense log indexes to the accepted ones, and hands everything to
//! [`BatchTx::write`] for the multi-row inserts.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use attest_proto::{
    ChainVerdict, ErrorCode, Head, Incoming, Receipt, StoredView, classify, genesis_prev,
    public_key_from_bytes,
};
use bytes::Bytes;

use super::{IngestOutcome, Millis, StoreError};
use crate::log::{Frontier, Hash, NewNode};

/// One result of a report, flattened for queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatResult {
    pub check: String,
    pub status: &'static str,
    pub summary: String,
    pub reason: Option<String>,
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
    pub leaf_hash: Hash,
    pub collected_at: Millis,
    pub results: Vec<FlatResult>,
}

/// An agent's row, locked for the batch.
#[derive(Debug, Clone)]
pub struct AgentChainRow {
    pub agent_id: String,
    pub public_key: Vec<u8>,
    pub revoked: bool,
    pub head_seq: Option<i64>,
    pub head_link: Option<String>,
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
    pub events: Vec<EventRow<'a>>,
    pub heads: Vec<HeadUpdate>,
    pub nodes: Vec<NewNode>,
    pub log: Option<LogUpdate>,
    pub now: Millis,
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
    /// The log head (tree size and frontier), locked until commit.
    async fn lock_log(&mut self) -> Result<Frontier, StoreError>;
    /// Writes the batch.
    async fn write(&mut self, w: &BatchWrite<'_>) -> Result<(), StoreError>;
}

struct AgentState {
    revoked: bool,
    genesis: String,
    /// The committed head seq at lock time: below or at it, the database may hold
    /// reports.
    db_head: Option<i64>,
    head: Option<(i64, String)>,
    head_changed: bool,
    /// Reports accepted earlier in this batch: seq → (prev, link, log index).
    in_batch: BTreeMap<i64, StoredLink>,
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

/// Classifies and prepares a batch; see the module docs.
pub async fn run_batch<T: BatchTx>(
    tx: &mut T,
    batch: &[PendingReport],
    now: Millis,
) -> Result<Vec<IngestOutcome>, StoreError> {
    let mut ids: Vec<&str> = batch.iter().map(|r| r.agent_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let rows = tx.lock_agents(&ids).await?;
    let mut agents: HashMap<String, AgentState> = HashMap::with_capacity(rows.len());
    for row in rows {
        let key: [u8; 32] = row.public_key.as_slice().try_into().map_err(|_| {
            StoreError::Corrupt(format!(
                "public key of agent {} is not 32 bytes",
                row.agent_id
            ))
        })?;
        let key = public_key_from_bytes(&key).map_err(|e| {
            StoreError::Corrupt(format!("public key of agent {}: {e}", row.agent_id))
        })?;
        let head = match (row.head_seq, row.head_link) {
            (Some(s), Some(l)) => Some((s, l)),
            _ => None,
        };
        agents.insert(
            row.agent_id,
            AgentState {
                revoked: row.revoked,
                genesis: genesis_prev(&key),
                db_head: head.as_ref().map(|(s, _)| *s),
                head,
                head_changed: false,
                in_batch: BTreeMap::new(),
            },
        );
    }

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
                write.events.push(EventRow {
                    agent_id: &r.agent_id,
                    kind: "fork",
                    seq: r.seq,
                    detail: format!(
                        "seq {} already holds {}",
                        r.seq,
                        at_link.as_deref().unwrap_or("?")
                    ),
                    payload_sha256: Some(&r.payload_sha256),
                    envelope: Some(&r.envelope),
                });
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
                write.events.push(EventRow {
                    agent_id: &r.agent_id,
                    kind: "broken_link",
                    seq: r.seq,
                    detail: detail.clone(),
                    payload_sha256: Some(&r.payload_sha256),
                    envelope: Some(&r.envelope),
                });
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
                }
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
    for (agent_id, st) in agents {
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
    tx.write(&write).await?;
    Ok(outcomes)
}
