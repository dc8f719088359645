//! The SQLite backend: one file in the data directory, WAL, `synchronous=FULL` (or
//! `NORMAL` by configuration), foreign
//! keys on. Writes run in `BEGIN IMMEDIATE` transactions, so the write lock is taken up
//! front and a batch never fails half-way on a lock upgrade; several processes on one
//! file serialize on it.

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr as _;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt as _;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions as _, Executor as _, Row as _};

use super::batch::{
    AgentChainRow, BatchTx, BatchWrite, KeyContent, KeyRow, Prefetched, StoredLink, agent_ids,
    agent_rows_from_json, frontier_from_json, json_array, named_lists_of, run_batch,
};
use super::changes::{self, ChangeSet, CheckState, ResultState};
use super::codec::{self, BASE_JOIN, ROW_COLUMNS, StoredRow};
use super::common::Crud;
use super::heads::Heads;
use super::prune::{self, Prunable, PruneStep, PruneTx};
use super::{
    AgentInfo, AgentKey, ApiTokenInfo, AuditEntry, BatchResult, ChainEvent, ConflictQuota,
    EnrollOutcome, EnrollTokenInfo, IntegrityReport, LatestResults, LogHead, Millis, NewAgent,
    NewApiToken, NewEnrollToken, NewInventoryList, NewSessionRecord, NewUser, PendingList,
    PendingReport, PoolStats, ReportInfo, Role, SessionRecord, Store, StoreError, StoredEnvelope,
    UserInfo, check_log, hash_from,
};
use crate::log::{Frontier, Hash, leaf_hash};

/// The versioned migrations, embedded.
pub(crate) fn migrator() -> Migrator {
    Migrator {
        migrations: Cow::Owned(vec![
            Migration::new(
                1,
                Cow::Borrowed("initial"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("../../migrations/sqlite/0001_initial.sql")),
                false,
            ),
            Migration::new(
                2,
                Cow::Borrowed("reporting"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("../../migrations/sqlite/0002_reporting.sql")),
                false,
            ),
            Migration::new(
                3,
                Cow::Borrowed("conflicts and tokens"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!(
                    "../../migrations/sqlite/0003_conflicts_and_tokens.sql"
                )),
                false,
            ),
            Migration::new(
                4,
                Cow::Borrowed("replay"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("../../migrations/sqlite/0004_replay.sql")),
                false,
            ),
            Migration::new(
                5,
                Cow::Borrowed("envelope codec"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!(
                    "../../migrations/sqlite/0005_envelope_codec.sql"
                )),
                false,
            ),
            Migration::new(
                6,
                Cow::Borrowed("result changes"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!(
                    "../../migrations/sqlite/0006_result_changes.sql"
                )),
                false,
            ),
            Migration::new(
                7,
                Cow::Borrowed("retention"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("../../migrations/sqlite/0007_retention.sql")),
                false,
            ),
            Migration::new(
                8,
                Cow::Borrowed("inventory lists"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!(
                    "../../migrations/sqlite/0008_inventory_lists.sql"
                )),
                false,
            ),
            Migration::new(
                9,
                Cow::Borrowed("users"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("../../migrations/sqlite/0009_users.sql")),
                false,
            ),
            Migration::new(
                10,
                Cow::Borrowed("day counts"),
                MigrationType::Simple,
                Cow::Borrowed(include_str!("../../migrations/sqlite/0010_day_counts.sql")),
                false,
            ),
        ]),
        ignore_missing: false,
        locking: true,
        no_tx: false,
    }
}

/// Row counts per multi-row statement: a batch is split into these fixed sizes so the
/// statement texts repeat and stay prepared. Powers of two: a batch of n rows takes
/// at most one statement per bit of n (47 rows: 5 statements; with sizes 256, 32, 4,
/// 1 it took 7). A batch's statements go as one or two texts
/// ([`SqliteBatch::write`]), so a statement is not a round trip of its own.
const CHUNKS: [usize; 9] = [256, 128, 64, 32, 16, 8, 4, 2, 1];

fn chunk_sizes(mut total: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for size in CHUNKS {
        while total >= size {
            out.push(size);
            total -= size;
        }
    }
    out
}

fn values(rows: usize, cols: usize) -> String {
    let row = format!("({})", vec!["?"; cols].join(","));
    vec![row; rows].join(",")
}

pub struct SqliteStore {
    pool: SqlitePool,
    max: u32,
    /// This process's writers, in turn ([`SqliteStore::write_turn`]); it holds the
    /// ingest writer's own connection between batches.
    turn: tokio::sync::Mutex<Option<SqliteConnection>>,
    /// How to open a connection (the ingest writer's).
    options: SqliteConnectOptions,
    /// Each agent's head after the last batch that wrote it ([`super::heads`]).
    heads: Heads,
    /// Wakes the [`Checkpointer`] after a batch commits.
    checkpoint: Checkpointer,
}

/// How much memory each SQLite connection may use for pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// The page cache of each connection (filled as needed), in KiB.
    pub cache_kib: u64,
    /// The memory map for reads, in bytes (0: none, reads go through the cache).
    pub mmap_bytes: u64,
}

impl Tuning {
    /// The service: 128 MiB of page cache per connection and a 1 GiB memory map, so
    /// hot pages stay in memory across requests.
    pub const SERVICE: Tuning = Tuning {
        cache_kib: 128 * 1024,
        mmap_bytes: 1 << 30,
    };

    /// One-shot commands (report, export, waiver) that read most pages once: a small
    /// cache and no memory map. A map would leave every page read resident in the
    /// process (10,000 cited envelopes are ~115 MB), and a large cache would keep
    /// copies of pages never read again.
    pub const ONE_SHOT: Tuning = Tuning {
        cache_kib: 16 * 1024,
        mmap_bytes: 0,
    };
}

impl SqliteStore {
    /// Waits for this process's turn to write. SQLite has one write lock per file,
    /// and a connection that finds it taken polls for it (the busy handler sleeps and
    /// tries again), so a single write (an inventory list, a session touch, an API
    /// token's last use) could lose for seconds to the group-commit writer, which
    /// takes the lock again batch after batch. This process's writers queue here
    /// instead, first come first served (tokio's mutex is fair), and meet the lock
    /// free; another process on the file still meets the busy handler. Every write
    /// of the [`Store`] implementation takes its turn first, and none calls another
    /// while holding it.
    async fn write_turn(&self) -> tokio::sync::MutexGuard<'_, Option<SqliteConnection>> {
        self.turn.lock().await
    }

    /// The pool, for the reporting queries (`store::reporting`).
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Opens (creating if needed) the database file and runs the migrations, tuned
    /// for the service ([`Tuning::SERVICE`]).
    pub async fn open(
        path: &Path,
        max_connections: u32,
        full_sync: bool,
    ) -> Result<Self, StoreError> {
        Self::open_tuned(path, max_connections, full_sync, Tuning::SERVICE).await
    }

    /// [`SqliteStore::open`] with a memory budget of its own.
    pub async fn open_tuned(
        path: &Path,
        max_connections: u32,
        full_sync: bool,
        tuning: Tuning,
    ) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            crate::files::private_dir(dir)?;
        }
        crate::files::private_database(path)?;
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if full_sync {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            // Checkpoints every 40 MB of WAL rather than every 4 MB.
            .pragma("cache_size", format!("-{}", tuning.cache_kib))
            .pragma("mmap_size", tuning.mmap_bytes.to_string())
            .pragma("wal_autocheckpoint", "10000");
        let max = max_connections.max(2);
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            // A connection to a local file does not go stale: no round trip to its
            // worker thread to ping it before each use.
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        migrator().run(&pool).await?;
        convert_results(&pool).await?;
        let checkpoint = Checkpointer::start(pool.clone());
        Ok(SqliteStore {
            pool,
            max,
            turn: tokio::sync::Mutex::new(None),
            options: writer_options(options),
            heads: Heads::default(),
            checkpoint,
        })
    }
}

/// The group-commit writer's connection: the pool's settings, with its statement
/// journals in memory. Each multi-row `INSERT` of a batch runs inside the batch's
/// transaction, so SQLite keeps a statement journal to undo that one statement if it
/// fails; past 64 KiB (a few pages) the journal spills to a temporary file, and every
/// batch then wrote and truncated that file (9 % of SQLite's thread in a profile of
/// the steady state, 2026-12-04). A statement journal holds at most the pages one
/// statement changes (a batch's rows), and the read connections keep the default, so
/// their large sorts still spill to disk.
///
/// Most of its WAL is copied into the database file by the [`Checkpointer`], on a
/// connection of its own, beside the batches: the writer's own checkpoint (every
/// 10,000 pages of WAL, in the commit of the batch that crossed them) then finds
/// little left to copy and sync, where it copied 40 MB and waited for their fsync
/// (≈ 20 ms, twice a second under load, every request waiting on that batch). The
/// writer's checkpoint stays: only a checkpoint between two transactions of the
/// writer lets the WAL start over; with only the concurrent one it grew without
/// end. Its page cache is 16 MiB: it holds a batch's dirty pages and the pages the
/// WAL holds (the memory map serves the rest), and SQLite walks the whole cache at a
/// commit that touched the page at 1 GiB, which b-tree balancing does while the file
/// is smaller than that (`docs/benchmarks.md`).
fn writer_options(options: SqliteConnectOptions) -> SqliteConnectOptions {
    options
        .pragma("temp_store", "memory")
        .pragma("cache_size", format!("-{WRITER_CACHE_KIB}"))
        .statement_cache_capacity(WRITER_STATEMENTS)
}

/// How many statement texts the ingest writer keeps prepared: a batch's write is one
/// text whose shape follows its counts of reports, subtrees and heads (each a sum
/// of powers of two), a few hundred shapes up to the largest batches.
const WRITER_STATEMENTS: usize = 512;

/// The ingest writer's page cache, in KiB.
const WRITER_CACHE_KIB: u64 = 16 * 1024;

/// The shortest time between two checkpoints of the [`Checkpointer`].
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Copies the WAL into the database file beside the ingest writer: woken after each
/// batch it commits, at most every [`CHECKPOINT_EVERY`], a `PASSIVE` checkpoint on a
/// connection of the pool (it waits for no reader or writer; what it cannot copy
/// yet, the next one does). It ends with the store (its handle dropped) or its pool.
struct Checkpointer {
    wake: std::sync::Arc<tokio::sync::Notify>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Checkpointer {
    fn start(pool: SqlitePool) -> Checkpointer {
        let wake = std::sync::Arc::new(tokio::sync::Notify::new());
        let (stop_tx, mut stop) = tokio::sync::oneshot::channel::<()>();
        let woken = std::sync::Arc::clone(&wake);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stop => break,
                    () = woken.notified() => {}
                }
                if pool.is_closed() {
                    break;
                }
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .fetch_all(&pool)
                    .await
                {
                    tracing::warn!(error = %e, "WAL checkpoint failed; retried after the next batch");
                }
                tokio::select! {
                    _ = &mut stop => break,
                    () = tokio::time::sleep(CHECKPOINT_EVERY) => {}
                }
            }
        });
        Checkpointer {
            wake,
            _stop: stop_tx,
        }
    }

    /// Asks for a checkpoint (one pending at most).
    fn wake(&self) {
        self.wake.notify_one();
    }
}

/// The results of an agent's report at `seq`, from its change rows.
async fn results_at(
    conn: &mut SqliteConnection,
    agent_id: &str,
    seq: i64,
) -> Result<ResultState, StoreError> {
    let rows = sqlx::query(
        "SELECT check_id, nth, position, status, summary, reason, facts_sha256 \
         FROM result_changes WHERE agent_id = ?1 AND seq_to > ?2 AND seq_from <= ?2 \
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

type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// The statements that write change sets, for [`bind_changes`]: the stored rows of a
/// set that `replaces` are deleted first, then every set's rows are inserted, then
/// the `seq_to` of each relinked agent's rows is recomputed.
fn changes_sql(sql: &mut String, sets: &[ChangeSet], relinks: usize) {
    for _ in sets.iter().filter(|c| c.replaces) {
        sql.push_str("DELETE FROM result_changes WHERE agent_id = ? AND seq_from = ?;\n");
    }
    let rows = sets.iter().map(|c| c.rows.len()).sum();
    for size in chunk_sizes(rows) {
        sql.push_str(
            "INSERT INTO result_changes (agent_id, check_id, nth, seq_from, seq_to, log_index, \
             position, status, summary, reason, facts_sha256) VALUES ",
        );
        sql.push_str(&values(size, 11));
        sql.push_str(";\n");
    }
    for _ in 0..relinks {
        sql.push_str(&changes::relink_sql("?", "?"));
        sql.push_str(";\n");
    }
}

/// Binds the parameters of [`changes_sql`]'s statements, in their order.
fn bind_changes<'q>(
    mut q: SqliteQuery<'q>,
    sets: &'q [ChangeSet],
    relinks: &'q [(String, i64)],
) -> SqliteQuery<'q> {
    for c in sets.iter().filter(|c| c.replaces) {
        q = q.bind(&c.agent_id).bind(c.seq);
    }
    for c in sets {
        for r in &c.rows {
            let st = r.state.as_ref();
            q = q
                .bind(&c.agent_id)
                .bind(&r.check)
                .bind(r.nth)
                .bind(c.seq)
                .bind(changes::OPEN)
                .bind(c.log_index)
                .bind(st.map(|s| s.position))
                .bind(st.map(|s| s.status.as_str()))
                .bind(st.map(|s| s.summary.as_str()))
                .bind(st.and_then(|s| s.reason.as_deref()))
                .bind(st.and_then(|s| s.facts_sha256.as_deref()));
        }
    }
    for (agent_id, from) in relinks {
        q = q.bind(agent_id).bind(*from);
    }
    q
}

/// Writes change sets ([`changes_sql`]) in one round trip.
async fn write_changes(conn: &mut SqliteConnection, sets: &[ChangeSet]) -> Result<(), StoreError> {
    let mut sql = String::new();
    changes_sql(&mut sql, sets, 0);
    if !sql.is_empty() {
        bind_changes(sqlx::query(&sql), sets, &[])
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Converts a schema-5 `results` table to change rows and drops it, in one
/// transaction (after migration 6; nothing to do once it is gone).
async fn convert_results(pool: &SqlitePool) -> Result<(), StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'results'")
            .fetch_optional(&mut *tx)
            .await?;
    if exists.is_none() {
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
             WHERE r.agent_id = ? ORDER BY r.seq, x.position",
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
        write_changes(&mut tx, &sets).await?;
        sqlx::query(&changes::relink_sql("?1", "?2"))
            .bind(agent)
            .bind(i64::MIN)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("DROP TABLE results").execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// The rows of the agents whose ids a JSON array holds, as one JSON array in one row:
/// row by row, sqlx's worker thread hands each row to the writer's over a channel,
/// and the two threads contended for it (12 % of the writer's thread for the ~50
/// agents of a batch, profile of 2026-12-04).
const AGENT_ROWS: &str = "SELECT json_group_array(json_array(id, hex(public_key), \
     revoked_at IS NOT NULL, head_seq, head_link, hostname, machine_id, conflicts_recorded, \
     conflict_envelopes, conflicts_unrecorded, \
     (SELECT COALESCE(h.base_index, h.log_index) FROM reports h \
      WHERE h.agent_id = agents.id AND h.seq = agents.head_seq))) FROM agents \
     WHERE id IN (SELECT value FROM json_each(?))";

/// Which of the inventory lists whose addresses a JSON array holds are stored, as a
/// JSON array.
const LISTS_HELD: &str = "SELECT json_group_array(address) FROM inventory_lists \
     WHERE address IN (SELECT value FROM json_each(?))";

/// The log head as a JSON array: tree size, frontier in hex.
const LOG_HEAD: &str = "SELECT json_array(tree_size, hex(frontier)) FROM log_state WHERE id = 1";

/// A batch's first round trip ([`SqliteBatch::open`]).
static OPEN_BATCH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("BEGIN IMMEDIATE;\n{AGENT_ROWS};\n{LISTS_HELD};\n{LOG_HEAD};")
});

/// The group-commit writer's transaction. Every statement is a round trip to
/// SQLite's thread, each a wake-up of either thread, which on a loaded machine waits
/// for a core; so the batch takes few: [`SqliteBatch::open`] begins the transaction
/// and reads what [`run_batch`] reads first (its agents, the lists its reports name,
/// the log head) in one, and [`SqliteBatch::write`] sends every write of the batch,
/// with the `COMMIT`, in one or two (eight round trips down to two in the steady
/// state, `docs/benchmarks.md`).
struct SqliteBatch<'c> {
    conn: &'c mut SqliteConnection,
    /// What `open` read.
    read: Prefetched,
    /// Whether the transaction is committed (the last text of `write` carried the
    /// `COMMIT`).
    committed: bool,
}

impl<'c> SqliteBatch<'c> {
    /// Begins the write transaction (`BEGIN IMMEDIATE`: the write lock is taken
    /// before the first read) and reads the batch's agents, the lists its reports
    /// name and the log head, in one round trip. The lock holds them until the
    /// commit: the store writes nothing else meanwhile, so what is read here is what
    /// the statements would read later.
    async fn open(
        conn: &'c mut SqliteConnection,
        lists: &[PendingList],
        batch: &[PendingReport],
    ) -> Result<SqliteBatch<'c>, StoreError> {
        let ids = agent_ids(lists, batch);
        let named = named_lists_of(batch);
        let texts: Vec<String> = sqlx::query_scalar(&OPEN_BATCH)
            .bind(json_array(&ids)?)
            .bind(json_array(&named)?)
            .fetch_all(&mut *conn)
            .await?;
        let [agents, held, log] = texts.as_slice() else {
            return Err(StoreError::Corrupt(format!(
                "opening a batch read {} rows, not 3",
                texts.len()
            )));
        };
        Ok(SqliteBatch {
            read: Prefetched::from_json(&ids, &named, agents, held, log)?,
            conn,
            committed: false,
        })
    }

    /// Commits, unless `write` did.
    async fn commit(self) -> Result<(), StoreError> {
        if !self.committed {
            self.conn.execute("COMMIT").await?;
        }
        Ok(())
    }
}

#[async_trait]
impl BatchTx for SqliteBatch<'_> {
    async fn lock_agents(&mut self, ids: &[&str]) -> Result<Vec<AgentChainRow>, StoreError> {
        // The write transaction already holds the lock.
        if let Some(rows) = self.read.agents(ids) {
            return Ok(rows);
        }
        let all: String = sqlx::query_scalar(AGENT_ROWS)
            .bind(json_array(ids)?)
            .fetch_one(&mut *self.conn)
            .await?;
        agent_rows_from_json(&all)
    }

    async fn report_at(
        &mut self,
        agent_id: &str,
        seq: i64,
    ) -> Result<Option<StoredLink>, StoreError> {
        let row = sqlx::query(
            "SELECT log_index, prev, payload_sha256 FROM reports WHERE agent_id = ? AND seq = ?",
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
            "SELECT TRUE FROM agents WHERE lower(hostname) = lower(?) AND id <> ? \
             AND machine_id <> ? AND revoked_at IS NULL LIMIT 1",
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
            "SELECT TRUE FROM chain_events WHERE agent_id = ? AND seq = ? \
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
             AND k.agent_id = h.agent_id WHERE h.agent_id = ? AND h.seq = ?",
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
            "SELECT seq, log_index FROM reports WHERE agent_id = ? AND seq < ? \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(agent_id)
        .bind(seq)
        .fetch_optional(&mut *self.conn)
        .await?;
        let above: Option<(i64, i64)> = sqlx::query_as(
            "SELECT seq, log_index FROM reports WHERE agent_id = ? AND seq > ? \
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
        let json: String = sqlx::query_scalar(LOG_HEAD)
            .fetch_one(&mut *self.conn)
            .await?;
        frontier_from_json(&json)
    }

    async fn insert_list(&mut self, list: &PendingList) -> Result<bool, StoreError> {
        let new = Crud::<sqlx::Sqlite>::insert_inventory_list(self.conn, list).await?;
        self.read.list_stored(&list.address);
        Ok(new)
    }

    async fn lists_held(&mut self, addresses: &[&str]) -> Result<HashSet<String>, StoreError> {
        // The write transaction holds the database: no delete can come before the
        // commit.
        if let Some(held) = self.read.lists_held(addresses) {
            return Ok(held);
        }
        let json: String = sqlx::query_scalar(LISTS_HELD)
            .bind(json_array(addresses)?)
            .fetch_one(&mut *self.conn)
            .await?;
        serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("stored lists as JSON: {e}")))
    }

    async fn write(&mut self, w: &BatchWrite<'_>) -> Result<(), StoreError> {
        if w.encoded.len() != w.reports.len() {
            return Err(StoreError::Corrupt("a report without its encoding".into()));
        }
        self.read.written();
        // What every batch writes (its reports, the log's new subtrees, the chain
        // heads, the log head) goes as one text of statements with its parameters in
        // order: one round trip to SQLite's thread instead of one per statement
        // (about ten per batch, each a wake-up of either thread; measured in
        // `docs/benchmarks.md`). The result changes, in one batch of six or seven,
        // go as a second text, so the first keeps few shapes. Each statement keeps
        // its power-of-two shape, so the texts repeat and the connection's statement
        // cache keeps them prepared. When nothing else is left to write, the last
        // text ends with the `COMMIT`.
        let report_chunks = chunk_sizes(w.reports.len());
        let node_chunks = chunk_sizes(w.nodes.len());
        let head_chunks = chunk_sizes(w.heads.len());
        let mut sql = String::new();
        for &size in &report_chunks {
            sql.push_str(
                "INSERT INTO reports (log_index, agent_id, seq, prev, payload_sha256, leaf_hash, \
                 collected_at, received_at, result_count, envelope, replay, codec, base_index) \
                 VALUES ",
            );
            sql.push_str(&values(size, 13));
            sql.push_str(";\n");
        }
        for &size in &node_chunks {
            sql.push_str("INSERT INTO log_nodes (level, idx, hash) VALUES ");
            sql.push_str(&values(size, 3));
            sql.push_str(";\n");
        }
        for &size in &head_chunks {
            sql.push_str("WITH v(id, s, l) AS (VALUES ");
            sql.push_str(&values(size, 3));
            sql.push_str(
                ") UPDATE agents SET head_seq = v.s, head_link = v.l, last_report_at = ? \
                 FROM v WHERE agents.id = v.id;\n",
            );
        }
        if w.log.is_some() {
            sql.push_str(
                "UPDATE log_state SET tree_size = ?, root = ?, frontier = ?, updated_at = ? \
                 WHERE id = 1;\n",
            );
        }
        let mut more = String::new();
        changes_sql(&mut more, &w.changes, w.relinks.len());
        let commit = w.only_reports();
        if commit {
            if more.is_empty() {
                sql.push_str("COMMIT;\n");
            } else {
                more.push_str("COMMIT;\n");
            }
        }
        if !sql.is_empty() {
            let mut q = sqlx::query(&sql);
            for ((index, r), e) in w.reports.iter().zip(&w.encoded) {
                q = q
                    .bind(*index)
                    .bind(&r.agent_id)
                    .bind(r.seq)
                    .bind(&r.prev)
                    .bind(&r.payload_sha256)
                    .bind(&r.leaf_hash[..])
                    .bind(r.collected_at)
                    .bind(w.now)
                    .bind(r.results.len() as i64)
                    .bind(&e.bytes[..])
                    .bind(r.replay)
                    .bind(e.codec.as_str())
                    .bind(e.base_index);
            }
            for n in &w.nodes {
                q = q
                    .bind(i64::from(n.level))
                    .bind(i64::try_from(n.index).unwrap_or(i64::MAX))
                    .bind(&n.hash[..]);
            }
            let mut at = 0;
            for size in head_chunks {
                for h in &w.heads[at..at + size] {
                    q = q.bind(&h.agent_id).bind(h.head_seq).bind(&h.head_link);
                }
                q = q.bind(w.now);
                at += size;
            }
            if let Some(log) = &w.log {
                q = q
                    .bind(i64::try_from(log.tree_size).unwrap_or(i64::MAX))
                    .bind(&log.root[..])
                    .bind(&log.frontier)
                    .bind(w.now);
            }
            q.execute(&mut *self.conn).await?;
        }
        if !more.is_empty() {
            bind_changes(sqlx::query(&more), &w.changes, &w.relinks)
                .execute(&mut *self.conn)
                .await?;
        }
        self.committed = commit;
        // Chain events.
        for e in &w.events {
            sqlx::query(
                "INSERT INTO chain_events (agent_id, kind, seq, detail, payload_sha256, envelope, \
                 at) VALUES (?, ?, ?, ?, ?, ?, ?)",
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
            sqlx::query("UPDATE agents SET hostname = ? WHERE id = ?")
                .bind(&rn.hostname)
                .bind(&rn.agent_id)
                .execute(&mut *self.conn)
                .await?;
        }
        for c in &w.counters {
            sqlx::query(
                "UPDATE agents SET conflicts_recorded = ?, conflict_envelopes = ?, \
                 conflicts_unrecorded = ? WHERE id = ?",
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
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(a.at)
            .bind(&a.actor)
            .bind(&a.action)
            .bind(&a.target)
            .bind(&a.detail)
            .execute(&mut *self.conn)
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn create_enroll_token(&self, t: &NewEnrollToken) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        Crud(&self.pool).create_enroll_token(t).await
    }

    async fn list_enroll_tokens(&self) -> Result<Vec<EnrollTokenInfo>, StoreError> {
        Crud(&self.pool).list_enroll_tokens().await
    }

    async fn revoke_enroll_token(&self, id: &str, now: Millis) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        Crud(&self.pool).revoke_enroll_token(id, now).await
    }

    async fn enroll(
        &self,
        token_hash: &str,
        agent: &NewAgent,
        now: Millis,
    ) -> Result<EnrollOutcome, StoreError> {
        let _turn = self.write_turn().await;
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
        let _turn = self.write_turn().await;
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
        let mut turn = self.write_turn().await;
        let mut heads = self.heads.take(batch);
        // The writer's own connection, kept from batch to batch (a pooled one goes
        // back to its pool through a spawned task, which the next batch would wait
        // for behind every request queued on the runtime). Any error drops it, and
        // with it the open transaction (SQLite rolls back what a closed connection
        // did not commit): the next batch starts on a new one.
        let mut conn = match turn.take() {
            Some(c) => c,
            None => self.options.connect().await?,
        };
        let mut b = SqliteBatch::open(&mut conn, lists, batch).await?;
        let outcomes = run_batch(&mut b, lists, batch, now, quota, &mut heads).await?;
        b.commit().await?;
        *turn = Some(conn);
        self.heads.keep(heads);
        self.checkpoint.wake();
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
        let _turn = self.write_turn().await;
        Crud(&self.pool).create_api_token(t).await
    }

    async fn api_token(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> Result<Option<(String, Role)>, StoreError> {
        // A lookup reads; only a use due to be recorded waits for the turn.
        let crud = Crud(&self.pool);
        let Some((id, role, due)) = crud.api_token_lookup(token_hash, now).await? else {
            return Ok(None);
        };
        if due {
            let _turn = self.write_turn().await;
            crud.record_api_token_use(&id, now).await;
        }
        Ok(Some((id, role)))
    }

    async fn list_api_tokens(&self) -> Result<Vec<ApiTokenInfo>, StoreError> {
        Crud(&self.pool).list_api_tokens().await
    }

    async fn revoke_api_token(&self, id: &str, now: Millis) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        Crud(&self.pool).revoke_api_token(id, now).await
    }

    async fn audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        Crud(&self.pool).audit(e).await
    }

    async fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        Crud(&self.pool).audit_log(limit).await
    }

    async fn create_user(&self, user: &NewUser) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        Crud(&self.pool).create_user(user).await
    }

    async fn user(&self, name: &str) -> Result<Option<(UserInfo, String)>, StoreError> {
        Crud(&self.pool).user(name).await
    }

    async fn list_users(&self) -> Result<Vec<UserInfo>, StoreError> {
        Crud(&self.pool).list_users().await
    }

    async fn set_password(&self, name: &str, hash: &str, now: Millis) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        Crud(&self.pool).set_password(name, hash, now).await
    }

    async fn rehash_password(&self, name: &str, old: &str, new: &str) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        Crud(&self.pool).rehash_password(name, old, new).await
    }

    async fn disable_user(&self, name: &str, now: Millis) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        Crud(&self.pool).disable_user(name, now).await
    }

    async fn create_session(&self, session: &NewSessionRecord) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
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
        let _turn = self.write_turn().await;
        Crud(&self.pool)
            .touch_session(token_hash, now, granularity)
            .await
    }

    async fn end_session(&self, token_hash: &str, now: Millis) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        Crud(&self.pool).end_session(token_hash, now).await
    }

    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Crud(&self.pool).meta(key).await
    }

    async fn meta_init(&self, key: &str, value: &str) -> Result<String, StoreError> {
        let _turn = self.write_turn().await;
        Crud(&self.pool).meta_init(key, value).await
    }

    async fn put_day_counts(
        &self,
        basis: &str,
        day_end: Millis,
        counts: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
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
        let _turn = self.write_turn().await;
        Crud(&self.pool).prune_day_counts(keep_basis, before).await
    }

    async fn put_inventory_list(&self, list: &NewInventoryList) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
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
        // One read transaction: a consistent snapshot.
        conn.execute("BEGIN").await?;
        let result = integrity(&mut conn).await;
        conn.execute("ROLLBACK").await?;
        result
    }

    async fn prunable(&self, before: Millis) -> Result<Vec<Prunable>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        SqlitePrune { conn: &mut conn }
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
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let step = {
            let mut p = SqlitePrune { conn: &mut tx };
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
        let _turn = self.write_turn().await;
        Crud(&self.pool).delete_inventory_lists(addresses).await
    }

    async fn reclaim_space(&self) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        sqlx::query("VACUUM").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

async fn integrity(conn: &mut SqliteConnection) -> Result<IntegrityReport, StoreError> {
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
             WHERE agent_id = ?",
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
            sqlx::query_as("SELECT seq, log_index, result_count FROM reports WHERE agent_id = ?")
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
    conn: &mut SqliteConnection,
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

/// The statements of a prune step ([`prune::run_step`]), in a `BEGIN IMMEDIATE`
/// transaction: the write lock is the agents' lock.
struct SqlitePrune<'c> {
    conn: &'c mut SqliteConnection,
}

/// Which reports a prune takes: received before `?1`, not pruned, after the cursor
/// (`?2`, `?3`) in (agent, seq) order, and neither the agent's newest report nor its
/// newest counted one. Every clause runs on the (agent_id, seq) indexes.
const PRUNABLE_SQLITE: &str = "SELECT r.log_index, r.agent_id, r.seq, r.received_at, \
     r.codec IN ('raw', 'zstd'), r.collected_at FROM reports r \
     WHERE (r.agent_id, r.seq) > (?2, ?3) AND r.received_at < ?1 AND r.pruned_at IS NULL \
     AND r.seq < (SELECT max(h.seq) FROM reports h WHERE h.agent_id = r.agent_id) \
     AND r.seq <> COALESCE((SELECT c.seq FROM reports c WHERE c.agent_id = r.agent_id \
         AND c.replay = 0 ORDER BY c.seq DESC LIMIT 1), -1) \
     ORDER BY r.agent_id, r.seq LIMIT ?4";

#[async_trait]
impl PruneTx for SqlitePrune<'_> {
    async fn prunable(
        &mut self,
        before: Millis,
        after: &(String, i64),
        limit: i64,
    ) -> Result<Vec<Prunable>, StoreError> {
        let rows = sqlx::query(PRUNABLE_SQLITE)
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

    async fn lock_agents(&mut self, _ids: &[&str]) -> Result<(), StoreError> {
        // The write transaction already holds the lock.
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
             FROM reports r {BASE_JOIN} WHERE r.agent_id = ? AND r.seq > ? AND r.seq < ? \
             AND r.base_index = ? AND r.pruned_at IS NULL ORDER BY r.log_index"
        ))
        .bind(agent)
        .bind(seqs.0)
        .bind(seqs.1)
        .bind(base)
        .fetch_all(&mut *self.conn)
        .await?;
        rows.iter().map(stored_row).collect()
    }

    async fn rewrite(&mut self, log_index: i64, e: &codec::Encoded) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE reports SET codec = ?, base_index = ?, envelope = ? \
             WHERE log_index = ? AND pruned_at IS NULL",
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
        let json = serde_json::to_string(log_indexes)
            .map_err(|e| StoreError::Corrupt(format!("log indexes: {e}")))?;
        let done = sqlx::query(
            "UPDATE reports SET pruned_at = ?, envelope = X'', codec = 'raw', base_index = NULL \
             WHERE log_index IN (SELECT value FROM json_each(?)) AND pruned_at IS NULL",
        )
        .bind(now)
        .bind(json)
        .execute(&mut *self.conn)
        .await?;
        Ok(done.rows_affected())
    }

    async fn record_before(&mut self, before: Millis) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO collector_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE \
             SET value = CASE WHEN CAST(excluded.value AS INTEGER) > CAST(value AS INTEGER) \
             THEN excluded.value ELSE value END",
        )
        .bind(prune::PRUNED_BEFORE_META)
        .bind(before.to_string())
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }
}

/// The [`StoredRow`] of a read that selected [`ROW_COLUMNS`] after its first four.
pub(crate) fn stored_row(r: &sqlx::sqlite::SqliteRow) -> Result<StoredRow, StoreError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_row_with_few_statement_shapes() {
        for n in [0usize, 1, 3, 4, 31, 32, 47, 257, 1000] {
            let sizes = chunk_sizes(n);
            assert_eq!(sizes.iter().sum::<usize>(), n);
            assert!(sizes.iter().all(|s| CHUNKS.contains(s)));
            // Below the largest size, one statement per bit.
            if n < 256 {
                assert_eq!(sizes.len(), n.count_ones() as usize, "{n}: {sizes:?}");
            }
        }
        assert_eq!(values(2, 3), "(?,?,?),(?,?,?)");
    }

    /// Writes of this process take their turn, first come first served: while the
    /// turn is held (as a batch of the group-commit writer holds it) no write goes
    /// to SQLite's lock, and once it is free they run in the order they came.
    #[tokio::test]
    async fn writes_wait_their_turn_in_the_order_they_came() {
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("collector.db"), 4, false)
                .await
                .unwrap(),
        );
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let held = store.write_turn().await;
        let mut writers = Vec::new();
        for (i, basis) in ["first", "second", "third"].into_iter().enumerate() {
            let (store, order) = (Arc::clone(&store), Arc::clone(&order));
            writers.push(tokio::spawn(async move {
                store
                    .put_day_counts(basis, 1_000 + i as i64, "{}", 0)
                    .await
                    .unwrap();
                order.lock().unwrap().push(basis);
            }));
            // One thread runs the test's tasks: while this one sleeps, the write
            // just spawned runs up to the turn and queues there, before the next.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(
            order.lock().unwrap().is_empty(),
            "a write went ahead while the turn was held: {:?}",
            order.lock().unwrap()
        );
        drop(held);
        for w in writers {
            w.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["first", "second", "third"]);
        assert_eq!(
            store.day_counts("second", 0, 10_000).await.unwrap().len(),
            1
        );
    }
}
