//! Retention: dropping the envelopes of old reports while the Merkle log stays whole
//! (`attest-collector prune`, [`crate::retention`] drives it).
//!
//! A pruned report keeps its row: log index, agent, `seq`, payload SHA-256, leaf
//! hash, times. The leaf hash is all the log needs, so `log_nodes`, the log head,
//! checkpoints and inclusion proofs (of pruned leaves too) are untouched. The row is
//! marked (`pruned_at`) and its envelope emptied; every read of its envelope answers
//! [`StoreError::Pruned`]. Its results stay: they are change rows
//! ([`super::changes`], a few bytes per report), so a check's timeline through the
//! pruned period stays readable and the rows of kept reports keep linking up.
//!
//! What is never pruned: an agent's newest report and its newest counted report (not a
//! replay), so every agent's latest state stays answerable; waivers, the audit log,
//! chain events, agents, log nodes and the log head.
//!
//! Envelopes are stored by difference ([`super::codec`]): a kept delta whose keyframe
//! is pruned is stored again ([`codec::rebase`]: the first of the run a keyframe, the
//! others deltas against it) in the same transaction, before the keyframe is emptied.
//!
//! Work goes in steps of a bounded number of reports, each one transaction, in
//! (agent, `seq`) order. A step locks its agents' rows as an ingest batch does (in id
//! order on PostgreSQL; SQLite's write lock on SQLite), so a concurrent `serve` never
//! makes a delta against a keyframe being pruned, and two prunes never rewrite the
//! same rows. A step only takes rows not yet pruned, so a prune stopped half-way
//! (a crash) is finished by running it again, and a second prune is a no-op.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::codec::{self, Encoded, StoredRow};
use super::{Millis, StoreError};

/// The `collector_meta` key holding the latest `--before` a prune used (Unix ms): the
/// reports and exports of times before it are refused.
pub const PRUNED_BEFORE_META: &str = "retention.pruned_before";

/// A report a prune would drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prunable {
    pub log_index: i64,
    pub agent_id: String,
    pub seq: i64,
    pub received_at: Millis,
    pub collected_at: Millis,
    /// `raw` or `zstd`: a keyframe, which deltas may be made against.
    pub keyframe: bool,
}

/// What one step of a prune did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneStep {
    /// Reports pruned.
    pub pruned: u64,
    /// Kept reports stored again because their keyframe was pruned.
    pub rebased: u64,
    /// Where the next step starts (agent id, `seq`); `None`: nothing is left.
    pub next: Option<(String, i64)>,
}

/// The statements of a prune step, inside one write transaction.
#[async_trait]
pub(crate) trait PruneTx: Send {
    /// Reports received before `before`, not pruned, neither the newest nor the newest
    /// counted report of their agent, after `after` in (agent, `seq`) order.
    async fn prunable(
        &mut self,
        before: Millis,
        after: &(String, i64),
        limit: i64,
    ) -> Result<Vec<Prunable>, StoreError>;
    /// Locks the agents' rows (in id order), as an ingest batch does.
    async fn lock_agents(&mut self, ids: &[&str]) -> Result<(), StoreError>;
    /// The rows, not pruned, of `agent` with `seq` in `seqs` (exclusive) whose base is
    /// `base`, in log order, with their base.
    async fn deltas_of(
        &mut self,
        agent: &str,
        seqs: (i64, i64),
        base: i64,
    ) -> Result<Vec<StoredRow>, StoreError>;
    async fn rewrite(&mut self, log_index: i64, e: &Encoded) -> Result<(), StoreError>;
    /// Empties the envelopes and marks the rows pruned at `now`.
    async fn mark_pruned(&mut self, log_indexes: &[i64], now: Millis) -> Result<u64, StoreError>;
    /// Raises [`PRUNED_BEFORE_META`] to `before`.
    async fn record_before(&mut self, before: Millis) -> Result<(), StoreError>;
}

/// A stored `inventory.software` result change row (not a tombstone): the reports of
/// `agent_id` with `seq` in `seq_from..seq_to` share that check's facts, its
/// `inventory_list` address among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSpan {
    pub agent_id: String,
    pub seq_from: i64,
    pub seq_to: i64,
    /// The first report of the range not pruned, if any.
    pub first_unpruned: Option<i64>,
}

/// The inventory lists received before `before` that no report still held names,
/// once the reports in `pruning` (agent, `seq`) are pruned too (empty: as things
/// stand). By address.
///
/// A list's references are not stored: they are found through the result change
/// rows of the `inventory.software` check ([`super::changes`]). Its facts (the
/// `inventory_list` address among them) are the same for every report of a row's
/// `seq` range, so one held report per range is read: the first not pruned. That is
/// one envelope per package change per agent, not one per report, and the rows
/// stay after a prune. A list received at or after `before` is never taken: its
/// report may be on its way (the agent sends the list first).
pub async fn unreferenced_lists(
    store: &dyn super::Store,
    before: Millis,
    pruning: &std::collections::HashSet<(String, i64)>,
) -> Result<Vec<String>, StoreError> {
    let candidates = store.inventory_lists_before(before).await?;
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let mut named = std::collections::HashSet::new();
    for span in store.list_spans().await? {
        let mut seq = span.first_unpruned;
        while let Some(s) = seq {
            if !pruning.contains(&(span.agent_id.clone(), s)) {
                break;
            }
            seq = match s.checked_add(1) {
                Some(next) if next < span.seq_to => {
                    store
                        .first_unpruned(&span.agent_id, next, span.seq_to)
                        .await?
                }
                _ => None,
            };
        }
        let Some(seq) = seq else { continue };
        let envelope = match store.report_envelope(&span.agent_id, seq).await {
            Ok(Some(e)) => e.envelope,
            // Pruned or gone meanwhile (another prune): it names nothing held.
            Ok(None) | Err(StoreError::Pruned { .. }) => continue,
            Err(e) => return Err(e),
        };
        if let Some(address) = list_of(&envelope) {
            named.insert(address);
        }
    }
    Ok(candidates
        .into_iter()
        .filter(|a| !named.contains(a))
        .collect())
}

/// The inventory list a stored envelope's report names (v3); not verified (ingest
/// did).
fn list_of(envelope: &[u8]) -> Option<String> {
    let env = attest_proto::Envelope::from_json(envelope).ok()?;
    let statement = attest_proto::Statement::from_slice(&env.payload).ok()?;
    attest_proto::inventory::address_of(&statement.predicate).map(str::to_owned)
}

/// The cursor of a prune's first step.
pub fn start() -> (String, i64) {
    (String::new(), i64::MIN)
}

/// One step: at most `limit` reports after `after`.
pub(crate) async fn run_step(
    tx: &mut dyn PruneTx,
    before: Millis,
    after: &(String, i64),
    limit: i64,
    now: Millis,
) -> Result<PruneStep, StoreError> {
    let mut first = tx.prunable(before, after, limit).await?;
    let Some(last) = first.last().cloned() else {
        return Ok(PruneStep::default());
    };
    // A step ends where a keyframe's run does: the deltas after the last keyframe of
    // the step that are to be pruned too come along (at most KEYFRAME_INTERVAL - 1),
    // so that the next step does not store them again only to prune them.
    let run_key = first
        .iter()
        .rev()
        .take_while(|p| p.agent_id == last.agent_id)
        .find(|p| p.keyframe)
        .map(|p| p.seq);
    if let Some(key) = run_key {
        let more = tx
            .prunable(
                before,
                &(last.agent_id.clone(), last.seq),
                codec::KEYFRAME_INTERVAL,
            )
            .await?;
        first.extend(more.into_iter().take_while(|p| {
            p.agent_id == last.agent_id
                && !p.keyframe
                && p.seq < key.saturating_add(codec::KEYFRAME_INTERVAL)
        }));
    }
    let Some(last) = first.last() else {
        return Ok(PruneStep::default());
    };
    let next = (last.agent_id.clone(), last.seq);
    let mut agents: Vec<&str> = first.iter().map(|p| p.agent_id.as_str()).collect();
    agents.sort_unstable();
    agents.dedup();
    tx.lock_agents(&agents).await?;
    // (By membership, not by comparing ids: the database orders them by its collation.)
    let chosen: std::collections::HashSet<i64> = first.iter().map(|p| p.log_index).collect();
    // Again under the locks: another prune may have taken some of them meanwhile.
    let rows: Vec<Prunable> = tx
        .prunable(
            before,
            after,
            limit.saturating_add(codec::KEYFRAME_INTERVAL),
        )
        .await?
        .into_iter()
        .filter(|p| chosen.contains(&p.log_index))
        .collect();
    let indexes: Vec<i64> = rows.iter().map(|p| p.log_index).collect();
    let mut rebased = 0;
    let pruning: std::collections::HashSet<i64> = indexes.iter().copied().collect();
    for key in rows.iter().filter(|p| p.keyframe) {
        // A delta is made within KEYFRAME_INTERVAL of its keyframe's seq (batch.rs).
        let kept: Vec<StoredRow> = tx
            .deltas_of(
                &key.agent_id,
                (key.seq, key.seq.saturating_add(codec::KEYFRAME_INTERVAL)),
                key.log_index,
            )
            .await?
            .into_iter()
            .filter(|r| !pruning.contains(&r.log_index))
            .collect();
        if kept.is_empty() {
            continue;
        }
        let mut reader = codec::Reader::default();
        let mut run = BTreeMap::new();
        for row in kept {
            let index = row.log_index;
            run.insert(index, reader.envelope(row)?);
        }
        let run: Vec<(i64, Vec<u8>)> = run.into_iter().collect();
        for ((index, _), e) in run.iter().zip(codec::rebase(&run)?) {
            tx.rewrite(*index, &e).await?;
            rebased += 1;
        }
    }
    let pruned = tx.mark_pruned(&indexes, now).await?;
    tx.record_before(before).await?;
    Ok(PruneStep {
        pruned,
        rebased,
        next: Some(next),
    })
}
