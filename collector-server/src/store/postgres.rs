//! The PostgreSQL backend, for fleets and for several collectors on one database.
//!
//! A batch locks its agents' rows (`FOR UPDATE`, in id order, so two collectors never
//! deadlock) and then the one log-head row, so chain verdicts are taken against
//! committed state and log indexes are allocated densely in commit order. Bulk inserts
//! pass each column as one array (`INSERT … SELECT * FROM UNNEST($1, $2, …)`): one
//! statement per table per batch, whatever its size.

use std::borrow::Cow;
use std::collections::HashSet;
use std::str::FromStr as _;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt as _;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _, Executor as _, Row as _};

use super::batch::{
    AgentChainRow, BatchTx, BatchWrite, ConflictCounts, KeyContent, KeyRow, Prefetched, StoredLink,
    agent_ids, named_lists_of, run_batch,
};
use super::changes::{self, ChangeSet, CheckState, ResultState};
use super::codec::{self, BASE_JOIN, Encoded, ROW_COLUMNS, StoredRow};
use super::common::Crud;
use super::heads::{Heads, KnownHeads};
use super::prune::{self, Prunable, PruneStep, PruneTx};
use super::{
    AgentInfo, AgentKey, ApiTokenInfo, AuditEntry, BatchResult, ChainEvent, ConflictQuota,
    EnrollOutcome, EnrollTokenInfo, IntegrityReport, LatestResults, LogHead, Millis, NewAgent,
    NewApiToken, NewEnrollToken, NewInventoryList, NewSessionRecord, NewUser, PendingList,
    PendingReport, PoolStats, ReportInfo, Role, SessionRecord, Store, StoreError, StoredEnvelope,
    UserInfo, check_log, hash_from,
};
use crate::log::{Frontier, Hash, leaf_hash};

pub(crate) fn migrator() -> Migrator {
    Migrator {
        migrations: Cow::Owned(vec![
            Migration::new(
                1,
                Cow::Borrowed("initial"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("../../migrations/postgres/0001_initial.sql")),
                false,
            ),
            Migration::new(
                2,
                Cow::Borrowed("reporting"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("../../migrations/postgres/0002_reporting.sql")),
                false,
            ),
            Migration::new(
                3,
                Cow::Borrowed("conflicts and tokens"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!(
                    "../../migrations/postgres/0003_conflicts_and_tokens.sql"
                )),
                false,
            ),
            Migration::new(
                4,
                Cow::Borrowed("replay"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("../../migrations/postgres/0004_replay.sql")),
                false,
            ),
            Migration::new(
                5,
                Cow::Borrowed("envelope codec"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!(
                    "../../migrations/postgres/0005_envelope_codec.sql"
                )),
                false,
            ),
            Migration::new(
                6,
                Cow::Borrowed("result changes"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!(
                    "../../migrations/postgres/0006_result_changes.sql"
                )),
                false,
            ),
            Migration::new(
                7,
                Cow::Borrowed("retention"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("../../migrations/postgres/0007_retention.sql")),
                false,
            ),
            Migration::new(
                8,
                Cow::Borrowed("inventory lists"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!(
                    "../../migrations/postgres/0008_inventory_lists.sql"
                )),
                false,
            ),
            Migration::new(
                9,
                Cow::Borrowed("users"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("../../migrations/postgres/0009_users.sql")),
                false,
            ),
            Migration::new(
                10,
                Cow::Borrowed("day counts"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!(
                    "../../migrations/postgres/0010_day_counts.sql"
                )),
                false,
            ),
        ]),
        ignore_missing: false,
        locking: true,
        no_tx: false,
    }
}

pub struct PgStore {
    pool: PgPool,
    max: u32,
    /// Each agent's head after the last batch that wrote it ([`super::heads`]).
    heads: Heads,
    /// The ingest writer's own connection between batches.
    ingest: tokio::sync::Mutex<Option<PgConnection>>,
    /// How to open it.
    options: PgConnectOptions,
}

impl PgStore {
    /// The pool, for the reporting queries (`store::reporting`).
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Connects and runs the migrations (under PostgreSQL's advisory lock, so several
    /// collectors may start at once).
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let max = max_connections.max(2);
        let pool = PgPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        migrator().run(&pool).await?;
        convert_results(&pool).await?;
        Ok(PgStore {
            pool,
            max,
            heads: Heads::default(),
            ingest: tokio::sync::Mutex::new(None),
            options,
        })
    }
}

/// One batch in one transaction on `conn`.
async fn batch_on(
    conn: &mut PgConnection,
    lists: &[PendingList],
    batch: &[PendingReport],
    now: Millis,
    quota: ConflictQuota,
    heads: &mut KnownHeads,
) -> Result<BatchResult, StoreError> {
    let mut tx = conn.begin().await?;
    let outcomes = {
        let mut b = PgBatch::open(&mut tx, lists, batch).await?;
        run_batch(&mut b, lists, batch, now, quota, heads).await?
    };
    tx.commit().await?;
    Ok(outcomes)
}

/// A batch's first reads in one statement ([`PgBatch::open`]): the agents' rows
/// locked `FOR UPDATE` (as one JSON array, [`agent_rows_from_json`]), the named lists
/// that are stored locked `FOR KEY SHARE`, the log head locked `FOR UPDATE`. The
/// three are uncorrelated subqueries of one row, evaluated in the order they are
/// written: the locks are taken in the order every batch takes them (agents, lists,
/// log head).
const OPEN_BATCH: &str = "SELECT \
     (SELECT COALESCE(json_agg(json_build_array(id, encode(public_key, 'hex'), \
        revoked::int, head_seq, head_link, hostname, machine_id, conflicts_recorded, \
        conflict_envelopes, conflicts_unrecorded, head_base) ORDER BY id), '[]')::text \
      FROM (SELECT id, public_key, revoked_at IS NOT NULL AS revoked, head_seq, head_link, \
        hostname, machine_id, conflicts_recorded, conflict_envelopes, conflicts_unrecorded, \
        (SELECT COALESCE(h.base_index, h.log_index) FROM reports h \
         WHERE h.agent_id = agents.id AND h.seq = agents.head_seq) AS head_base \
        FROM agents WHERE id = ANY($1) ORDER BY id FOR UPDATE) a), \
     (SELECT COALESCE(json_agg(address), '[]')::text FROM (SELECT address FROM inventory_lists \
        WHERE address = ANY($2) ORDER BY address FOR KEY SHARE) l), \
     (SELECT json_build_array(tree_size, encode(frontier, 'hex'))::text \
      FROM (SELECT tree_size, frontier FROM log_state WHERE id = 1 FOR UPDATE) g)";

/// Rows per bulk insert statement.
const REPORTS_PER_STATEMENT: usize = 64;
const RESULTS_PER_STATEMENT: usize = 2048;

async fn insert_reports(
    conn: &mut PgConnection,
    reports: &[(i64, &PendingReport)],
    encoded: &[Encoded],
    now: Millis,
) -> Result<(), StoreError> {
    let n = reports.len();
    let mut index = Vec::with_capacity(n);
    let mut agent = Vec::with_capacity(n);
    let mut seq = Vec::with_capacity(n);
    let mut prev = Vec::with_capacity(n);
    let mut sha = Vec::with_capacity(n);
    let mut leaf = Vec::with_capacity(n);
    let mut collected = Vec::with_capacity(n);
    let mut count = Vec::with_capacity(n);
    let mut envelope = Vec::with_capacity(n);
    let mut replay = Vec::with_capacity(n);
    let mut codec = Vec::with_capacity(n);
    let mut base = Vec::with_capacity(n);
    for ((i, r), e) in reports.iter().zip(encoded) {
        codec.push(e.codec.as_str());
        base.push(e.base_index);
        index.push(*i);
        agent.push(r.agent_id.as_str());
        seq.push(r.seq);
        prev.push(r.prev.as_str());
        sha.push(r.payload_sha256.as_str());
        leaf.push(&r.leaf_hash[..]);
        collected.push(r.collected_at);
        count.push(r.results.len() as i64);
        envelope.push(&e.bytes[..]);
        replay.push(r.replay);
    }
    sqlx::query(
        "INSERT INTO reports (log_index, agent_id, seq, prev, payload_sha256, leaf_hash, \
         collected_at, received_at, result_count, envelope, replay, codec, base_index) \
         SELECT i, a, s, p, h, l, c, $8, n, e, rp, co, b FROM UNNEST($1::bigint[], \
         $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bytea[], $7::bigint[], \
         $9::bigint[], $10::bytea[], $11::bool[], $12::text[], $13::bigint[]) \
         AS t(i, a, s, p, h, l, c, n, e, rp, co, b)",
    )
    .bind(index)
    .bind(agent)
    .bind(seq)
    .bind(prev)
    .bind(sha)
    .bind(leaf)
    .bind(collected)
    .bind(now)
    .bind(count)
    .bind(envelope)
    .bind(replay)
    .bind(codec)
    .bind(base)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes change sets: the stored rows of a set that `replaces` are deleted first;
/// then `seq_to` is recomputed for `relinks` (agent, from).
async fn write_changes(
    conn: &mut PgConnection,
    sets: &[ChangeSet],
    relinks: &[(String, i64)],
) -> Result<(), StoreError> {
    let (d_agent, d_seq): (Vec<&str>, Vec<i64>) = sets
        .iter()
        .filter(|c| c.replaces)
        .map(|c| (c.agent_id.as_str(), c.seq))
        .unzip();
    if !d_agent.is_empty() {
        sqlx::query(
            "DELETE FROM result_changes c USING UNNEST($1::text[], $2::bigint[]) AS v(a, s) \
             WHERE c.agent_id = v.a AND c.seq_from = v.s",
        )
        .bind(d_agent)
        .bind(d_seq)
        .execute(&mut *conn)
        .await?;
    }
    let rows: Vec<(&ChangeSet, &changes::ChangeRow)> = sets
        .iter()
        .flat_map(|c| c.rows.iter().map(move |r| (c, r)))
        .collect();
    for chunk in rows.chunks(RESULTS_PER_STATEMENT) {
        let n = chunk.len();
        let mut agent = Vec::with_capacity(n);
        let mut check = Vec::with_capacity(n);
        let mut nth = Vec::with_capacity(n);
        let mut seq = Vec::with_capacity(n);
        let mut index = Vec::with_capacity(n);
        let mut pos = Vec::with_capacity(n);
        let mut status = Vec::with_capacity(n);
        let mut summary = Vec::with_capacity(n);
        let mut reason = Vec::with_capacity(n);
        let mut facts = Vec::with_capacity(n);
        for (c, r) in chunk {
            let st = r.state.as_ref();
            agent.push(c.agent_id.as_str());
            check.push(r.check.as_str());
            nth.push(r.nth);
            seq.push(c.seq);
            index.push(c.log_index);
            pos.push(st.map(|s| s.position));
            status.push(st.map(|s| s.status.as_str()));
            summary.push(st.map(|s| s.summary.as_str()));
            reason.push(st.and_then(|s| s.reason.as_deref()));
            facts.push(st.and_then(|s| s.facts_sha256.as_deref()));
        }
        sqlx::query(&format!(
            "INSERT INTO result_changes (agent_id, check_id, nth, seq_from, seq_to, log_index, \
             position, status, summary, reason, facts_sha256) \
             SELECT a, c, n, s, {}, i, p, st, su, re, f FROM UNNEST($1::text[], $2::text[], \
             $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::text[], $8::text[], \
             $9::text[], $10::bytea[]) AS t(a, c, n, s, i, p, st, su, re, f)",
            changes::OPEN
        ))
        .bind(agent)
        .bind(check)
        .bind(nth)
        .bind(seq)
        .bind(index)
        .bind(pos)
        .bind(status)
        .bind(summary)
        .bind(reason)
        .bind(facts)
        .execute(&mut *conn)
        .await?;
    }
    if !relinks.is_empty() {
        relink(conn, relinks).await?;
    }
    Ok(())
}

/// The statement that finds, for each (agent, from) of a batch, the agent's change
/// rows from `from` on whose `seq_to` is no longer the `seq_from` of the next row of
/// the same check. Within the rows with `seq_to >= from`, each row's next row is there
/// too (store::changes), so the window sees it. The LATERAL join keeps the scan on
/// `result_changes_agent_to` per agent even under a generic plan (a join of the
/// whole table against the UNNEST hashes every row: docs/benchmarks.md).
pub(crate) fn relink_find_sql() -> String {
    format!(
        "SELECT w.agent_id, w.check_id, w.nth, w.seq_from, w.next_to \
         FROM UNNEST($1::text[], $2::bigint[]) AS v(a, f) CROSS JOIN LATERAL \
         (SELECT x.agent_id, x.check_id, x.nth, x.seq_from, x.seq_to, \
         COALESCE(lead(x.seq_from) OVER (PARTITION BY x.check_id, x.nth \
         ORDER BY x.seq_from), {}) AS next_to \
         FROM result_changes x WHERE x.agent_id = v.a AND x.seq_to >= v.f) w \
         WHERE w.seq_to <> w.next_to",
        changes::OPEN
    )
}

/// Sets the found rows' `seq_to`, each by its primary key.
pub(crate) const RELINK_SET_SQL: &str = "UPDATE result_changes c SET seq_to = u.t \
     FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[]) \
     AS u(a, k, n, f, t) \
     WHERE c.agent_id = u.a AND c.check_id = u.k AND c.nth = u.n AND c.seq_from = u.f";

/// Recomputes `seq_to` of each agent's rows from `from` on, in two statements that
/// both stay on indexes (see `relink_find_sql`).
async fn relink(conn: &mut PgConnection, relinks: &[(String, i64)]) -> Result<(), StoreError> {
    let (agent, from): (Vec<&str>, Vec<i64>) =
        relinks.iter().map(|(a, f)| (a.as_str(), *f)).unzip();
    let rows = sqlx::query(&relink_find_sql())
        .bind(agent)
        .bind(from)
        .fetch_all(&mut *conn)
        .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let n = rows.len();
    let (mut a, mut k, mut nth, mut f, mut t) = (
        Vec::<String>::with_capacity(n),
        Vec::<String>::with_capacity(n),
        Vec::<i64>::with_capacity(n),
        Vec::<i64>::with_capacity(n),
        Vec::<i64>::with_capacity(n),
    );
    for r in &rows {
        a.push(r.try_get(0)?);
        k.push(r.try_get(1)?);
        nth.push(r.try_get(2)?);
        f.push(r.try_get(3)?);
        t.push(r.try_get(4)?);
    }
    sqlx::query(RELINK_SET_SQL)
        .bind(a)
        .bind(k)
        .bind(nth)
        .bind(f)
        .bind(t)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The results of an agent's report at `seq`, from its change rows.
async fn results_at(
    conn: &mut PgConnection,
    agent_id: &str,
    seq: i64,
) -> Result<ResultState, StoreError> {
    let rows = sqlx::query(
        "SELECT check_id, nth, position, status, summary, reason, facts_sha256 \
         FROM result_changes WHERE agent_id = $1 AND seq_to > $2 AND seq_from <= $2 \
         AND position IS NOT NULL",
    )
    .bind(agent_id)
    .bind(seq)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                (r.try_get(0)?, r.try_get(1)?),
                CheckState {
                    position: r.try_get(2)?,
                    status: r.try_get(3)?,
                    summary: r.try_get(4)?,
                    reason: r.try_get(5)?,
                    facts_sha256: r.try_get(6)?,
                },
            ))
        })
        .collect()
}

/// Converts a schema-5 `results` table to change rows and drops it, in one
/// transaction under an advisory lock (after migration 6; nothing to do once it is
/// gone).
async fn convert_results(pool: &PgPool) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    // Any constant of our own: collectors starting together convert once.
    sqlx::query("SELECT pg_advisory_xact_lock(7426556710011)")
        .execute(&mut *tx)
        .await?;
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('results') IS NOT NULL")
        .fetch_one(&mut *tx)
        .await?;
    if !exists {
        return Ok(());
    }
    sqlx::query("DELETE FROM result_changes")
        .execute(&mut *tx)
        .await?;
    let agents: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT agent_id FROM reports ORDER BY agent_id")
            .fetch_all(&mut *tx)
            .await?;
    for agent in &agents {
        let rows = sqlx::query(
            "SELECT r.seq, r.log_index, x.check_id, x.status, x.summary, x.reason \
             FROM reports r LEFT JOIN results x ON x.log_index = r.log_index \
             WHERE r.agent_id = $1 ORDER BY r.seq, x.position",
        )
        .bind(agent)
        .fetch_all(&mut *tx)
        .await?;
        let mut reports: Vec<changes::OldReport> = Vec::new();
        for r in &rows {
            let seq: i64 = r.try_get(0)?;
            if reports.last().is_none_or(|o| o.seq != seq) {
                reports.push(changes::OldReport {
                    seq,
                    log_index: r.try_get(1)?,
                    results: Vec::new(),
                });
            }
            let check: Option<String> = r.try_get(2)?;
            if let (Some(check), Some(last)) = (check, reports.last_mut()) {
                last.results
                    .push((check, r.try_get(3)?, r.try_get(4)?, r.try_get(5)?));
            }
        }
        let sets = changes::convert_agent(agent, reports);
        write_changes(&mut tx, &sets, &[(agent.clone(), i64::MIN)]).await?;
    }
    sqlx::query("DROP TABLE results").execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// A whole batch in one statement (data-modifying CTEs): reports, results, stored
/// log nodes, chain heads and the log head. PostgreSQL runs the parts in one
/// snapshot; they touch different rows, so their order does not matter.
async fn write_combined(conn: &mut PgConnection, w: &BatchWrite<'_>) -> Result<(), StoreError> {
    let n = w.reports.len();
    let mut index = Vec::with_capacity(n);
    let mut agent = Vec::with_capacity(n);
    let mut seq = Vec::with_capacity(n);
    let mut prev = Vec::with_capacity(n);
    let mut sha = Vec::with_capacity(n);
    let mut leaf = Vec::with_capacity(n);
    let mut collected = Vec::with_capacity(n);
    let mut count = Vec::with_capacity(n);
    let mut envelope = Vec::with_capacity(n);
    let mut replay = Vec::with_capacity(n);
    let mut codec = Vec::with_capacity(n);
    let mut base = Vec::with_capacity(n);
    for ((i, r), e) in w.reports.iter().zip(&w.encoded) {
        codec.push(e.codec.as_str());
        base.push(e.base_index);
        index.push(*i);
        agent.push(r.agent_id.as_str());
        seq.push(r.seq);
        prev.push(r.prev.as_str());
        sha.push(r.payload_sha256.as_str());
        leaf.push(&r.leaf_hash[..]);
        collected.push(r.collected_at);
        count.push(r.results.len() as i64);
        envelope.push(&e.bytes[..]);
        replay.push(r.replay);
    }
    let n_level: Vec<i64> = w.nodes.iter().map(|n| i64::from(n.level)).collect();
    let n_idx: Vec<i64> = w
        .nodes
        .iter()
        .map(|n| i64::try_from(n.index).unwrap_or(i64::MAX))
        .collect();
    let n_hash: Vec<&[u8]> = w.nodes.iter().map(|n| &n.hash[..]).collect();
    let h_id: Vec<&str> = w.heads.iter().map(|h| h.agent_id.as_str()).collect();
    let h_seq: Vec<i64> = w.heads.iter().map(|h| h.head_seq).collect();
    let h_link: Vec<&str> = w.heads.iter().map(|h| h.head_link.as_str()).collect();
    let (size, root, frontier) = match &w.log {
        Some(log) => (
            i64::try_from(log.tree_size).unwrap_or(i64::MAX),
            log.root.to_vec(),
            log.frontier.clone(),
        ),
        None => {
            return Err(StoreError::Corrupt(
                "a batch with new reports but no new log head".into(),
            ));
        }
    };
    sqlx::query(
        "WITH rep AS (INSERT INTO reports (log_index, agent_id, seq, prev, payload_sha256, \
           leaf_hash, collected_at, received_at, result_count, envelope, replay, codec, \
           base_index) \
           SELECT i, a, s, p, h, l, c, $8, n, e, rp, co, b FROM UNNEST($1::bigint[], \
           $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bytea[], $7::bigint[], \
           $9::bigint[], $10::bytea[], $20::bool[], $21::text[], $22::bigint[]) \
           AS t(i, a, s, p, h, l, c, n, e, rp, co, b)), \
         nod AS (INSERT INTO log_nodes (level, idx, hash) \
           SELECT * FROM UNNEST($11::bigint[], $12::bigint[], $13::bytea[])), \
         hed AS (UPDATE agents AS a SET head_seq = v.s, head_link = v.l, last_report_at = $8 \
           FROM UNNEST($14::text[], $15::bigint[], $16::text[]) AS v(id, s, l) \
           WHERE a.id = v.id) \
         UPDATE log_state SET tree_size = $17, root = $18, frontier = $19, updated_at = $8 \
         WHERE id = 1",
    )
    .bind(index)
    .bind(agent)
    .bind(seq)
    .bind(prev)
    .bind(sha)
    .bind(leaf)
    .bind(collected)
    .bind(w.now)
    .bind(count)
    .bind(envelope)
    .bind(n_level)
    .bind(n_idx)
    .bind(n_hash)
    .bind(h_id)
    .bind(h_seq)
    .bind(h_link)
    .bind(size)
    .bind(root)
    .bind(frontier)
    .bind(replay)
    .bind(codec)
    .bind(base)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A batch's statements, each a round trip to the server.
struct PgBatch<'c> {
    conn: &'c mut PgConnection,
    /// What `open` read.
    read: Prefetched,
}

impl<'c> PgBatch<'c> {
    /// Reads the batch's agents, the lists its reports name and the log head in one
    /// round trip ([`OPEN_BATCH`]) instead of three, when the batch brings no
    /// inventory list (the lists are inserted after the agents are locked and before
    /// the named ones are looked up, so a batch with lists reads each in turn).
    async fn open(
        conn: &'c mut PgConnection,
        lists: &[PendingList],
        batch: &[PendingReport],
    ) -> Result<PgBatch<'c>, StoreError> {
        if !lists.is_empty() || batch.is_empty() {
            return Ok(PgBatch {
                conn,
                read: Prefetched::default(),
            });
        }
        let ids = agent_ids(lists, batch);
        let named = named_lists_of(batch);
        let row = sqlx::query(OPEN_BATCH)
            .bind(&ids)
            .bind(&named)
            .fetch_one(&mut *conn)
            .await?;
        let agents: String = row.try_get(0)?;
        let held: String = row.try_get(1)?;
        let log: Option<String> = row.try_get(2)?;
        let log = log.ok_or_else(|| StoreError::Corrupt("no log head".into()))?;
        Ok(PgBatch {
            read: Prefetched::from_json(&ids, &named, &agents, &held, &log)?,
            conn,
        })
    }
}

#[async_trait]
impl BatchTx for PgBatch<'_> {
    async fn lock_agents(&mut self, ids: &[&str]) -> Result<Vec<AgentChainRow>, StoreError> {
        if let Some(rows) = self.read.agents(ids) {
            return Ok(rows);
        }
        let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
        let rows = sqlx::query(
            "SELECT id, public_key, revoked_at IS NOT NULL, head_seq, head_link, hostname, \
             machine_id, conflicts_recorded, conflict_envelopes, conflicts_unrecorded, \
             (SELECT COALESCE(h.base_index, h.log_index) FROM reports h \
              WHERE h.agent_id = agents.id AND h.seq = agents.head_seq) FROM agents \
             WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        )
        .bind(ids)
        .fetch_all(&mut *self.conn)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AgentChainRow {
                    agent_id: r.try_get(0)?,
                    public_key: r.try_get(1)?,
                    revoked: r.try_get(2)?,
                    head_seq: r.try_get(3)?,
                    head_link: r.try_get(4)?,
                    hostname: r.try_get(5)?,
                    machine_id: r.try_get(6)?,
                    conflicts: ConflictCounts {
                        recorded: r.try_get(7)?,
                        envelopes: r.try_get(8)?,
                        unrecorded: r.try_get(9)?,
                    },
                    head_base: r.try_get(10)?,
                })
            })
            .collect()
    }

    async fn report_at(
        &mut self,
        agent_id: &str,
        seq: i64,
    ) -> Result<Option<StoredLink>, StoreError> {
        let row = sqlx::query(
            "SELECT log_index, prev, payload_sha256 FROM reports WHERE agent_id = $1 AND seq = $2",
        )
        .bind(agent_id)
        .bind(seq)
        .fetch_optional(&mut *self.conn)
        .await?;
        row.map(|r| {
            Ok(StoredLink {
                log_index: r.try_get(0)?,
                prev: r.try_get(1)?,
                payload_sha256: r.try_get(2)?,
            })
        })
        .transpose()
    }

    async fn hostname_taken(
        &mut self,
        hostname: &str,
        agent_id: &str,
        machine_id: &str,
    ) -> Result<bool, StoreError> {
        let found: Option<bool> = sqlx::query_scalar(
            "SELECT TRUE FROM agents WHERE lower(hostname) = lower($1) AND id <> $2 \
             AND machine_id <> $3 AND revoked_at IS NULL LIMIT 1",
        )
        .bind(hostname)
        .bind(agent_id)
        .bind(machine_id)
        .fetch_optional(&mut *self.conn)
        .await?;
        Ok(found.is_some())
    }

    async fn conflict_envelope_at(&mut self, agent_id: &str, seq: i64) -> Result<bool, StoreError> {
        let found: Option<bool> = sqlx::query_scalar(
            "SELECT TRUE FROM chain_events WHERE agent_id = $1 AND seq = $2 \
             AND kind IN ('fork', 'broken_link') AND envelope IS NOT NULL LIMIT 1",
        )
        .bind(agent_id)
        .bind(seq)
        .fetch_optional(&mut *self.conn)
        .await?;
        Ok(found.is_some())
    }

    async fn keyframe_of(
        &mut self,
        agent_id: &str,
        seq: i64,
    ) -> Result<Option<KeyRow>, StoreError> {
        let row = sqlx::query(
            "SELECT k.log_index, k.seq, k.codec, k.envelope FROM reports h \
             JOIN reports k ON k.log_index = COALESCE(h.base_index, h.log_index) \
             AND k.agent_id = h.agent_id WHERE h.agent_id = $1 AND h.seq = $2",
        )
        .bind(agent_id)
        .bind(seq)
        .fetch_optional(&mut *self.conn)
        .await?;
        row.map(|r| {
            Ok(KeyRow {
                log_index: r.try_get(0)?,
                seq: r.try_get(1)?,
                content: KeyContent::Stored {
                    codec: r.try_get(2)?,
                    bytes: r.try_get(3)?,
                },
            })
        })
        .transpose()
    }

    async fn results_at(&mut self, agent_id: &str, seq: i64) -> Result<ResultState, StoreError> {
        results_at(&mut *self.conn, agent_id, seq).await
    }

    async fn neighbours(
        &mut self,
        agent_id: &str,
        seq: i64,
    ) -> Result<(Option<(i64, i64)>, Option<(i64, i64)>), StoreError> {
        let below: Option<(i64, i64)> = sqlx::query_as(
            "SELECT seq, log_index FROM reports WHERE agent_id = $1 AND seq < $2 \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(agent_id)
        .bind(seq)
        .fetch_optional(&mut *self.conn)
        .await?;
        let above: Option<(i64, i64)> = sqlx::query_as(
            "SELECT seq, log_index FROM reports WHERE agent_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT 1",
        )
        .bind(agent_id)
        .bind(seq)
        .fetch_optional(&mut *self.conn)
        .await?;
        Ok((below, above))
    }

    async fn lock_log(&mut self) -> Result<Frontier, StoreError> {
        if let Some(log) = self.read.log() {
            return Ok(log);
        }
        let row = sqlx::query("SELECT tree_size, frontier FROM log_state WHERE id = 1 FOR UPDATE")
            .fetch_one(&mut *self.conn)
            .await?;
        let size: i64 = row.try_get(0)?;
        let bytes: Vec<u8> = row.try_get(1)?;
        Frontier::from_bytes(u64::try_from(size).unwrap_or_default(), &bytes)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    async fn insert_list(&mut self, list: &PendingList) -> Result<bool, StoreError> {
        let new = Crud::<sqlx::Postgres>::insert_inventory_list(self.conn, list).await?;
        self.read.list_stored(&list.address);
        Ok(new)
    }

    async fn lists_held(&mut self, addresses: &[&str]) -> Result<HashSet<String>, StoreError> {
        if let Some(held) = self.read.lists_held(addresses) {
            return Ok(held);
        }
        // FOR KEY SHARE: a prune deleting one of them waits for this commit.
        let found: Vec<String> = sqlx::query_scalar(
            "SELECT address FROM inventory_lists WHERE address = ANY($1) \
             ORDER BY address FOR KEY SHARE",
        )
        .bind(addresses)
        .fetch_all(&mut *self.conn)
        .await?;
        Ok(found.into_iter().collect())
    }

    async fn write(&mut self, w: &BatchWrite<'_>) -> Result<(), StoreError> {
        if w.encoded.len() != w.reports.len() {
            return Err(StoreError::Corrupt("a report without its encoding".into()));
        }
        self.read.written();
        let rows: usize = w.reports.iter().map(|(_, r)| r.results.len()).sum();
        if !w.reports.is_empty()
            && w.only_reports()
            && w.reports.len() <= REPORTS_PER_STATEMENT
            && rows <= RESULTS_PER_STATEMENT
        {
            // The common case in one round trip, then the result changes.
            write_combined(self.conn, w).await?;
            return write_changes(self.conn, &w.changes, &w.relinks).await;
        }
        // Bulk inserts in bounded chunks: one array parameter per column, a few
        // megabytes per statement at most.
        for (chunk, encoded) in w
            .reports
            .chunks(REPORTS_PER_STATEMENT)
            .zip(w.encoded.chunks(REPORTS_PER_STATEMENT))
        {
            insert_reports(self.conn, chunk, encoded, w.now).await?;
        }
        write_changes(self.conn, &w.changes, &w.relinks).await?;
        if !w.nodes.is_empty() {
            let level: Vec<i64> = w.nodes.iter().map(|n| i64::from(n.level)).collect();
            let idx: Vec<i64> = w
                .nodes
                .iter()
                .map(|n| i64::try_from(n.index).unwrap_or(i64::MAX))
                .collect();
            let hash: Vec<&[u8]> = w.nodes.iter().map(|n| &n.hash[..]).collect();
            sqlx::query(
                "INSERT INTO log_nodes (level, idx, hash) \
                 SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bytea[])",
            )
            .bind(level)
            .bind(idx)
            .bind(hash)
            .execute(&mut *self.conn)
            .await?;
        }
        for e in &w.events {
            sqlx::query(
                "INSERT INTO chain_events (agent_id, kind, seq, detail, payload_sha256, envelope, \
                 at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(e.agent_id)
            .bind(e.kind)
            .bind(e.seq)
            .bind(&e.detail)
            .bind(e.payload_sha256)
            .bind(e.envelope)
            .bind(w.now)
            .execute(&mut *self.conn)
            .await?;
        }
        // Renamed hosts, conflict counters, the collector's own audit entries.
        for rn in &w.renames {
            sqlx::query("UPDATE agents SET hostname = $1 WHERE id = $2")
                .bind(&rn.hostname)
                .bind(&rn.agent_id)
                .execute(&mut *self.conn)
                .await?;
        }
        for c in &w.counters {
            sqlx::query(
                "UPDATE agents SET conflicts_recorded = $1, conflict_envelopes = $2, \
                 conflicts_unrecorded = $3 WHERE id = $4",
            )
            .bind(c.counts.recorded)
            .bind(c.counts.envelopes)
            .bind(c.counts.unrecorded)
            .bind(&c.agent_id)
            .execute(&mut *self.conn)
            .await?;
        }
        for a in &w.audits {
            sqlx::query(
                "INSERT INTO audit_log (at, actor, action, target, detail) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(a.at)
            .bind(&a.actor)
            .bind(&a.action)
            .bind(&a.target)
            .bind(&a.detail)
            .execute(&mut *self.conn)
            .await?;
        }
        if !w.heads.is_empty() {
            let id: Vec<&str> = w.heads.iter().map(|h| h.agent_id.as_str()).collect();
            let seq: Vec<i64> = w.heads.iter().map(|h| h.head_seq).collect();
            let link: Vec<&str> = w.heads.iter().map(|h| h.head_link.as_str()).collect();
            sqlx::query(
                "UPDATE agents AS a SET head_seq = v.s, head_link = v.l, last_report_at = $4 \
                 FROM UNNEST($1::text[], $2::bigint[], $3::text[]) AS v(id, s, l) \
                 WHERE a.id = v.id",
            )
            .bind(id)
            .bind(seq)
            .bind(link)
            .bind(w.now)
            .execute(&mut *self.conn)
            .await?;
        }
        if let Some(log) = &w.log {
            sqlx::query(
                "UPDATE log_state SET tree_size = $1, root = $2, frontier = $3, updated_at = $4 \
                 WHERE id = 1",
            )
            .bind(i64::try_from(log.tree_size).unwrap_or(i64::MAX))
            .bind(&log.root[..])
            .bind(&log.frontier)
            .bind(w.now)
            .execute(&mut *self.conn)
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn create_enroll_token(&self, t: &NewEnrollToken) -> Result<(), StoreError> {
        Crud(&self.pool).create_enroll_token(t).await
    }

    async fn list_enroll_tokens(&self) -> Result<Vec<EnrollTokenInfo>, StoreError> {
        Crud(&self.pool).list_enroll_tokens().await
    }

    async fn revoke_enroll_token(&self, id: &str, now: Millis) -> Result<bool, StoreError> {
        Crud(&self.pool).revoke_enroll_token(id, now).await
    }

    async fn enroll(
        &self,
        token_hash: &str,
        agent: &NewAgent,
        now: Millis,
    ) -> Result<EnrollOutcome, StoreError> {
        Crud(&self.pool).enroll(token_hash, agent, now).await
    }

    async fn agent_key(&self, keyid: &str) -> Result<Option<AgentKey>, StoreError> {
        Crud(&self.pool).agent_key(keyid).await
    }

    async fn agent(&self, agent_id: &str) -> Result<Option<AgentInfo>, StoreError> {
        Crud(&self.pool).agent(agent_id).await
    }

    async fn list_agents(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AgentInfo>, StoreError> {
        Crud(&self.pool).list_agents(after, limit).await
    }

    async fn revoke_agent(&self, agent_id: &str, now: Millis) -> Result<bool, StoreError> {
        Crud(&self.pool).revoke_agent(agent_id, now).await
    }

    async fn count_agents(&self) -> Result<i64, StoreError> {
        Crud(&self.pool).count_agents().await
    }

    async fn write_batch(
        &self,
        lists: &[PendingList],
        batch: &[PendingReport],
        now: Millis,
        quota: ConflictQuota,
    ) -> Result<BatchResult, StoreError> {
        let mut heads = self.heads.take(batch);
        // The writer's own connection, kept from batch to batch (a pooled one goes
        // back to its pool through a spawned task, which the next batch would wait
        // for). Any error drops it: the next batch connects again. A second batch at
        // the same time (a parallel prefill) takes a pooled one.
        let Ok(mut slot) = self.ingest.try_lock() else {
            let mut conn = self.pool.acquire().await?;
            let outcomes = batch_on(&mut conn, lists, batch, now, quota, &mut heads).await?;
            self.heads.keep(heads);
            return Ok(outcomes);
        };
        let mut conn = match slot.take() {
            Some(c) => c,
            None => self.options.connect().await?,
        };
        let outcomes = batch_on(&mut conn, lists, batch, now, quota, &mut heads).await?;
        *slot = Some(conn);
        self.heads.keep(heads);
        Ok(outcomes)
    }

    async fn latest_results(&self, agent_id: &str) -> Result<Option<LatestResults>, StoreError> {
        let Some((log_index, seq, collected_at, received_at)) =
            Crud(&self.pool).latest_head(agent_id).await?
        else {
            return Ok(None);
        };
        let mut conn = self.pool.acquire().await?;
        let state = results_at(&mut conn, agent_id, seq).await?;
        Ok(Some(LatestResults::from_state(
            agent_id,
            (log_index, seq, collected_at, received_at),
            &state,
        )))
    }

    async fn list_reports(
        &self,
        agent_id: &str,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ReportInfo>, StoreError> {
        Crud(&self.pool).list_reports(agent_id, after, limit).await
    }

    async fn report_envelope(
        &self,
        agent_id: &str,
        seq: i64,
    ) -> Result<Option<StoredEnvelope>, StoreError> {
        Crud(&self.pool).report_envelope(agent_id, seq).await
    }

    async fn chain_events(&self, agent_id: &str) -> Result<Vec<ChainEvent>, StoreError> {
        Crud(&self.pool).chain_events(agent_id).await
    }

    async fn log_head(&self) -> Result<LogHead, StoreError> {
        Crud(&self.pool).log_head().await
    }

    async fn log_nodes(&self, level: u32, from: u64, count: u64) -> Result<Vec<Hash>, StoreError> {
        Crud(&self.pool).log_nodes(level, from, count).await
    }

    async fn create_api_token(&self, t: &NewApiToken) -> Result<(), StoreError> {
        Crud(&self.pool).create_api_token(t).await
    }

    async fn api_token(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> Result<Option<(String, Role)>, StoreError> {
        Crud(&self.pool).api_token(token_hash, now).await
    }

    async fn list_api_tokens(&self) -> Result<Vec<ApiTokenInfo>, StoreError> {
        Crud(&self.pool).list_api_tokens().await
    }

    async fn revoke_api_token(&self, id: &str, now: Millis) -> Result<bool, StoreError> {
        Crud(&self.pool).revoke_api_token(id, now).await
    }

    async fn audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        Crud(&self.pool).audit(e).await
    }

    async fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        Crud(&self.pool).audit_log(limit).await
    }

    async fn create_user(&self, user: &NewUser) -> Result<bool, StoreError> {
        Crud(&self.pool).create_user(user).await
    }

    async fn user(&self, name: &str) -> Result<Option<(UserInfo, String)>, StoreError> {
        Crud(&self.pool).user(name).await
    }

    async fn list_users(&self) -> Result<Vec<UserInfo>, StoreError> {
        Crud(&self.pool).list_users().await
    }

    async fn set_password(&self, name: &str, hash: &str, now: Millis) -> Result<bool, StoreError> {
        Crud(&self.pool).set_password(name, hash, now).await
    }

    async fn rehash_password(&self, name: &str, old: &str, new: &str) -> Result<bool, StoreError> {
        Crud(&self.pool).rehash_password(name, old, new).await
    }

    async fn disable_user(&self, name: &str, now: Millis) -> Result<bool, StoreError> {
        Crud(&self.pool).disable_user(name, now).await
    }

    async fn create_session(&self, session: &NewSessionRecord) -> Result<(), StoreError> {
        Crud(&self.pool).create_session(session).await
    }

    async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        Crud(&self.pool).session(token_hash).await
    }

    async fn touch_session(
        &self,
        token_hash: &str,
        now: Millis,
        granularity: Millis,
    ) -> Result<(), StoreError> {
        Crud(&self.pool)
            .touch_session(token_hash, now, granularity)
            .await
    }

    async fn end_session(&self, token_hash: &str, now: Millis) -> Result<bool, StoreError> {
        Crud(&self.pool).end_session(token_hash, now).await
    }

    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Crud(&self.pool).meta(key).await
    }

    async fn meta_init(&self, key: &str, value: &str) -> Result<String, StoreError> {
        Crud(&self.pool).meta_init(key, value).await
    }

    async fn put_day_counts(
        &self,
        basis: &str,
        day_end: Millis,
        counts: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        Crud(&self.pool)
            .put_day_counts(basis, day_end, counts, now)
            .await
    }

    async fn day_counts(
        &self,
        basis: &str,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<(Millis, String)>, StoreError> {
        Crud(&self.pool).day_counts(basis, from, to).await
    }

    async fn prune_day_counts(&self, keep_basis: &str, before: Millis) -> Result<u64, StoreError> {
        Crud(&self.pool).prune_day_counts(keep_basis, before).await
    }

    async fn put_inventory_list(&self, list: &NewInventoryList) -> Result<bool, StoreError> {
        Crud(&self.pool).put_inventory_list(list).await
    }

    async fn has_inventory_list(&self, address: &str) -> Result<bool, StoreError> {
        Crud(&self.pool).has_inventory_list(address).await
    }

    async fn inventory_list(&self, address: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Crud(&self.pool).inventory_list(address).await
    }

    fn pool_stats(&self) -> PoolStats {
        PoolStats {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.max,
        }
    }

    async fn integrity_check(&self) -> Result<IntegrityReport, StoreError> {
        let mut conn = self.pool.acquire().await?;
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let result = integrity(&mut conn).await;
        conn.execute("ROLLBACK").await?;
        result
    }

    async fn prunable(&self, before: Millis) -> Result<Vec<Prunable>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        PgPrune { conn: &mut conn }
            .prunable(before, &prune::start(), i64::MAX)
            .await
    }

    async fn prune_step(
        &self,
        before: Millis,
        after: &(String, i64),
        limit: i64,
        now: Millis,
    ) -> Result<PruneStep, StoreError> {
        let mut tx = self.pool.begin().await?;
        let step = {
            let mut p = PgPrune { conn: &mut tx };
            prune::run_step(&mut p, before, after, limit, now).await?
        };
        tx.commit().await?;
        Ok(step)
    }

    async fn list_spans(&self) -> Result<Vec<prune::ListSpan>, StoreError> {
        Crud(&self.pool).list_spans().await
    }

    async fn first_unpruned(
        &self,
        agent_id: &str,
        from: i64,
        to: i64,
    ) -> Result<Option<i64>, StoreError> {
        Crud(&self.pool).first_unpruned(agent_id, from, to).await
    }

    async fn inventory_lists_before(&self, before: Millis) -> Result<Vec<String>, StoreError> {
        Crud(&self.pool).inventory_lists_before(before).await
    }

    async fn delete_inventory_lists(&self, addresses: &[String]) -> Result<u64, StoreError> {
        Crud(&self.pool).delete_inventory_lists(addresses).await
    }

    async fn reclaim_space(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

async fn integrity(conn: &mut PgConnection) -> Result<IntegrityReport, StoreError> {
    let mut problems = Vec::new();
    let mut leaves = Vec::new();
    {
        let sql = format!(
            "SELECT r.log_index, r.leaf_hash, r.envelope, r.replay, {ROW_COLUMNS} \
             FROM reports r {BASE_JOIN} ORDER BY r.log_index"
        );
        let mut rows = sqlx::query(&sql).fetch(&mut *conn);
        let mut reader = codec::Reader::default();
        while let Some(r) = rows.try_next().await? {
            let index: i64 = r.try_get(0)?;
            let stored: Vec<u8> = r.try_get(1)?;
            let leaf = hash_from(&stored, "leaf hash")?;
            let envelope = match reader.envelope(stored_row(&r)?) {
                Ok(e) => e,
                // Pruned: its leaf hash is all the log needs.
                Err(StoreError::Pruned { .. }) => {
                    leaves.push((index, leaf));
                    continue;
                }
                Err(e @ StoreError::Envelope { .. }) => {
                    problems.push(e.to_string());
                    leaves.push((index, leaf));
                    continue;
                }
                Err(e) => return Err(e),
            };
            if leaf_hash(&envelope) != leaf {
                problems.push(format!(
                    "report {index}: leaf hash does not match its envelope"
                ));
            }
            problems.extend(super::replay_problem(index, r.try_get(3)?, &envelope));
            leaves.push((index, leaf));
        }
    }
    let agents: Vec<String> = sqlx::query_scalar(
        "SELECT agent_id FROM reports UNION SELECT agent_id FROM result_changes ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    for agent in &agents {
        let rows: Vec<(String, i64, i64, i64, bool)> = sqlx::query_as(
            "SELECT check_id, nth, seq_from, seq_to, position IS NOT NULL FROM result_changes \
             WHERE agent_id = $1",
        )
        .bind(agent)
        .fetch_all(&mut *conn)
        .await?;
        let rows: Vec<changes::LinkRow> = rows
            .into_iter()
            .map(|(check, nth, seq_from, seq_to, live)| changes::LinkRow {
                check,
                nth,
                seq_from,
                seq_to,
                live,
            })
            .collect();
        let reports: Vec<(i64, i64, i64)> =
            sqlx::query_as("SELECT seq, log_index, result_count FROM reports WHERE agent_id = $1")
                .bind(agent)
                .fetch_all(&mut *conn)
                .await?;
        problems.extend(changes::check_agent(agent, &rows, &reports));
    }
    let orphans: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM result_changes c WHERE NOT EXISTS (SELECT 1 FROM reports r \
         WHERE r.log_index = c.log_index AND r.agent_id = c.agent_id AND r.seq = c.seq_from)",
    )
    .fetch_one(&mut *conn)
    .await?;
    if orphans > 0 {
        problems.push(format!("{orphans} result changes without their report"));
    }
    let nodes = sqlx::query("SELECT level, idx, hash FROM log_nodes")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            let level: i64 = r.try_get(0)?;
            let idx: i64 = r.try_get(1)?;
            let hash: Vec<u8> = r.try_get(2)?;
            Ok((
                u32::try_from(level).unwrap_or_default(),
                u64::try_from(idx).unwrap_or_default(),
                hash_from(&hash, "log node")?,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let r = sqlx::query("SELECT tree_size, root, updated_at, frontier FROM log_state WHERE id = 1")
        .fetch_one(&mut *conn)
        .await?;
    let size: i64 = r.try_get(0)?;
    let root: Vec<u8> = r.try_get(1)?;
    let frontier: Vec<u8> = r.try_get(3)?;
    let head = LogHead {
        tree_size: u64::try_from(size).unwrap_or_default(),
        root: hash_from(&root, "log root")?,
        updated_at: r.try_get(2)?,
    };
    let frontier = Frontier::from_bytes(head.tree_size, &frontier)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    check_log(&leaves, &nodes, &head, &frontier, &mut problems);
    let lists = integrity_lists(conn, &mut problems).await?;
    Ok(IntegrityReport {
        reports: leaves.len() as u64,
        tree_size: head.tree_size,
        inventory_lists: lists.read,
        damaged_lists: lists.damaged,
        problems,
    })
}

/// Reads every stored inventory list back ([`super::ListCheck`]).
async fn integrity_lists(
    conn: &mut PgConnection,
    problems: &mut Vec<String>,
) -> Result<super::ListCheck, StoreError> {
    let mut check = super::ListCheck::default();
    let mut rows = sqlx::query("SELECT address, size, body FROM inventory_lists ORDER BY address")
        .fetch(&mut *conn);
    while let Some(r) = rows.try_next().await? {
        let address: String = r.try_get(0)?;
        let body: Vec<u8> = r.try_get(2)?;
        check.row(&address, r.try_get(1)?, &body, problems);
    }
    Ok(check)
}

/// Creates a fresh, empty database next to the one `base_url` names (tests and
/// benchmarks: one database per run, so runs never collide) and returns its URL.
pub async fn create_test_database(base_url: &str, label: &str) -> Result<String, StoreError> {
    use sqlx::Connection as _;
    let name = format!("attest_{label}_{}", crate::auth::random_hex(6));
    let mut url = url::Url::parse(base_url)
        .map_err(|_| StoreError::Url(base_url.chars().take(40).collect()))?;
    let mut conn = PgConnection::connect(base_url).await?;
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await?;
    conn.close().await?;
    url.set_path(&name);
    Ok(url.to_string())
}

/// The statements of a prune step ([`prune::run_step`]), in one transaction that
/// locks the agents' rows as an ingest batch does.
struct PgPrune<'c> {
    conn: &'c mut PgConnection,
}

/// Which reports a prune takes: received before `$1`, not pruned, after the cursor
/// (`$2`, `$3`) in (agent, seq) order, and neither the agent's newest report nor its
/// newest counted one. Every clause runs on the (agent_id, seq) indexes.
const PRUNABLE_PG: &str = "SELECT r.log_index, r.agent_id, r.seq, r.received_at, \
     r.codec IN ('raw', 'zstd'), r.collected_at FROM reports r \
     WHERE (r.agent_id, r.seq) > ($2, $3) AND r.received_at < $1 AND r.pruned_at IS NULL \
     AND r.seq < (SELECT max(h.seq) FROM reports h WHERE h.agent_id = r.agent_id) \
     AND r.seq <> COALESCE((SELECT c.seq FROM reports c WHERE c.agent_id = r.agent_id \
         AND NOT c.replay ORDER BY c.seq DESC LIMIT 1), -1) \
     ORDER BY r.agent_id, r.seq LIMIT $4";

#[async_trait]
impl PruneTx for PgPrune<'_> {
    async fn prunable(
        &mut self,
        before: Millis,
        after: &(String, i64),
        limit: i64,
    ) -> Result<Vec<Prunable>, StoreError> {
        let rows = sqlx::query(PRUNABLE_PG)
            .bind(before)
            .bind(&after.0)
            .bind(after.1)
            .bind(limit)
            .fetch_all(&mut *self.conn)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Prunable {
                    log_index: r.try_get(0)?,
                    agent_id: r.try_get(1)?,
                    seq: r.try_get(2)?,
                    received_at: r.try_get(3)?,
                    keyframe: r.try_get(4)?,
                    collected_at: r.try_get(5)?,
                })
            })
            .collect()
    }

    async fn lock_agents(&mut self, ids: &[&str]) -> Result<(), StoreError> {
        sqlx::query("SELECT id FROM agents WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(ids)
            .fetch_all(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn deltas_of(
        &mut self,
        agent: &str,
        seqs: (i64, i64),
        base: i64,
    ) -> Result<Vec<StoredRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT r.log_index, r.agent_id, r.envelope, r.replay, {ROW_COLUMNS} \
             FROM reports r {BASE_JOIN} WHERE r.agent_id = $1 AND r.seq > $2 AND r.seq < $3 \
             AND r.base_index = $4 AND r.pruned_at IS NULL ORDER BY r.log_index"
        ))
        .bind(agent)
        .bind(seqs.0)
        .bind(seqs.1)
        .bind(base)
        .fetch_all(&mut *self.conn)
        .await?;
        rows.iter().map(stored_row).collect()
    }

    async fn rewrite(&mut self, log_index: i64, e: &Encoded) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE reports SET codec = $1, base_index = $2, envelope = $3 \
             WHERE log_index = $4 AND pruned_at IS NULL",
        )
        .bind(e.codec.as_str())
        .bind(e.base_index)
        .bind(&e.bytes[..])
        .bind(log_index)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    async fn mark_pruned(&mut self, log_indexes: &[i64], now: Millis) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE reports SET pruned_at = $1, envelope = ''::bytea, codec = 'raw', \
             base_index = NULL WHERE log_index = ANY($2) AND pruned_at IS NULL",
        )
        .bind(now)
        .bind(log_indexes)
        .execute(&mut *self.conn)
        .await?;
        Ok(done.rows_affected())
    }

    async fn record_before(&mut self, before: Millis) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO collector_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE \
             SET value = GREATEST(collector_meta.value::bigint, EXCLUDED.value::bigint)::text",
        )
        .bind(prune::PRUNED_BEFORE_META)
        .bind(before.to_string())
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }
}

/// The [`StoredRow`] of a read that selected [`ROW_COLUMNS`] after its first four.
pub(crate) fn stored_row(r: &sqlx::postgres::PgRow) -> Result<StoredRow, StoreError> {
    let base_codec: Option<String> = r.try_get(7)?;
    let base_bytes: Option<Vec<u8>> = r.try_get(8)?;
    Ok(StoredRow {
        log_index: r.try_get(0)?,
        codec: r.try_get(4)?,
        bytes: r.try_get(2)?,
        leaf_hash: r.try_get(5)?,
        base_index: r.try_get(6)?,
        base: base_codec.zip(base_bytes),
        pruned_at: r.try_get(9)?,
    })
}
