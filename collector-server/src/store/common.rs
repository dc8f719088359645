//! The CRUD half of the storage, written once for both backends: enrollment and API
//! tokens, agents, the audit log, meta, inventory lists (and the reads and deletes a
//! prune makes of them), reports by agent, chain
//! events, the log head and nodes, waivers.
//!
//! The statements are plain SQL both engines run the same way: numbered placeholders
//! (`$1`; SQLite takes them too), `ON CONFLICT … DO NOTHING`, booleans compared with
//! `FALSE`. What differs between the engines is in [`Backend`]: how a write transaction
//! starts, the row lock (`FOR UPDATE` on PostgreSQL; SQLite's write transaction already
//! holds the database) and the decoding of a stored envelope row. [`Crud`] carries the
//! `sqlx` bounds once, on its `impl` block; the two `Store` impls delegate to it.
//!
//! Per backend stay the batch writes ([`super::batch::BatchTx`]), pruning, the
//! integrity check, migrations and the fast reporting reads.

use futures_util::future::BoxFuture;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row as _, Type};

use super::codec::{self, BASE_JOIN, ROW_COLUMNS, StoredRow};
use super::reporting::{WAIVER_COLUMNS, hosts_json, waiver_from};
use super::{
    API_TOKEN_USE_GRANULARITY, AgentInfo, AgentKey, ApiTokenInfo, AuditEntry, ChainEvent,
    EnrollOutcome, EnrollRefusal, EnrollTokenInfo, LogHead, Millis, NewAgent, NewApiToken,
    NewEnrollToken, NewInventoryList, NewSessionRecord, NewUser, PendingList, ReportInfo, Role,
    SESSION_KEEP, SessionRecord, StoreError, StoredEnvelope, UserInfo, hash_from,
};
use crate::fleet::{ChainCount, Waiver};
use crate::log::Hash;

/// What differs between the two engines for the shared statements.
pub(crate) trait Backend: Database {
    /// Appended to a `SELECT` that reads a row the transaction then updates.
    const ROW_LOCK: &'static str;
    /// Starts a transaction that will write (SQLite: `BEGIN IMMEDIATE`).
    fn begin_write(
        pool: &Pool<Self>,
    ) -> BoxFuture<'_, Result<sqlx::Transaction<'static, Self>, sqlx::Error>>;
    fn rows_affected(done: &Self::QueryResult) -> u64;
    /// The codec columns of a stored report ([`codec::ROW_COLUMNS`] from column 4 on).
    fn stored_row(r: &Self::Row) -> Result<StoredRow, StoreError>;
}

impl Backend for sqlx::Sqlite {
    const ROW_LOCK: &'static str = "";
    fn begin_write(
        pool: &Pool<Self>,
    ) -> BoxFuture<'_, Result<sqlx::Transaction<'static, Self>, sqlx::Error>> {
        Box::pin(pool.begin_with("BEGIN IMMEDIATE"))
    }
    fn rows_affected(done: &Self::QueryResult) -> u64 {
        done.rows_affected()
    }
    fn stored_row(r: &Self::Row) -> Result<StoredRow, StoreError> {
        super::sqlite::stored_row(r)
    }
}

impl Backend for sqlx::Postgres {
    const ROW_LOCK: &'static str = " FOR UPDATE";
    fn begin_write(
        pool: &Pool<Self>,
    ) -> BoxFuture<'_, Result<sqlx::Transaction<'static, Self>, sqlx::Error>> {
        Box::pin(pool.begin())
    }
    fn rows_affected(done: &Self::QueryResult) -> u64 {
        done.rows_affected()
    }
    fn stored_row(r: &Self::Row) -> Result<StoredRow, StoreError> {
        super::postgres::stored_row(r)
    }
}

/// The shared statements over one pool.
pub(crate) struct Crud<'p, DB: Database>(pub(crate) &'p Pool<DB>);

const AGENT_COLUMNS: &str = "id, keyid, hostname, machine_id, os_id, os_version_id, \
    os_pretty_name, kernel, enrolled_at, revoked_at, head_seq, last_report_at";

const CHAIN_EVENT_COLUMNS: &str =
    "agent_id, kind, seq, detail, payload_sha256, at, envelope IS NOT NULL";

impl<DB> Crud<'_, DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Decode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
{
    fn agent_info(r: &DB::Row) -> Result<AgentInfo, StoreError> {
        Ok(AgentInfo {
            agent_id: r.try_get(0)?,
            keyid: r.try_get(1)?,
            hostname: r.try_get(2)?,
            machine_id: r.try_get(3)?,
            os_id: r.try_get(4)?,
            os_version_id: r.try_get(5)?,
            os_pretty_name: r.try_get(6)?,
            kernel: r.try_get(7)?,
            enrolled_at: r.try_get(8)?,
            revoked_at: r.try_get(9)?,
            head_seq: r.try_get(10)?,
            last_report_at: r.try_get(11)?,
        })
    }

    fn chain_event(r: &DB::Row) -> Result<ChainEvent, StoreError> {
        Ok(ChainEvent {
            agent_id: r.try_get(0)?,
            kind: r.try_get(1)?,
            seq: r.try_get(2)?,
            detail: r.try_get(3)?,
            payload_sha256: r.try_get(4)?,
            at: r.try_get(5)?,
            envelope_stored: r.try_get(6)?,
        })
    }

    pub(crate) async fn create_enroll_token(&self, t: &NewEnrollToken) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO enroll_tokens (id, token_hash, uses_total, uses_left, expires_at, \
             created_at) VALUES ($1, $2, $3, $3, $4, $5)",
        )
        .bind(t.id.as_str())
        .bind(t.token_hash.as_str())
        .bind(t.uses)
        .bind(t.expires_at)
        .bind(t.created_at)
        .execute(self.0)
        .await?;
        Ok(())
    }

    pub(crate) async fn list_enroll_tokens(&self) -> Result<Vec<EnrollTokenInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, uses_total, uses_left, expires_at, created_at, revoked_at \
             FROM enroll_tokens ORDER BY created_at, id",
        )
        .fetch_all(self.0)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EnrollTokenInfo {
                    id: r.try_get(0)?,
                    uses_total: r.try_get(1)?,
                    uses_left: r.try_get(2)?,
                    expires_at: r.try_get(3)?,
                    created_at: r.try_get(4)?,
                    revoked_at: r.try_get(5)?,
                })
            })
            .collect()
    }

    pub(crate) async fn revoke_enroll_token(
        &self,
        id: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE enroll_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(self.0)
        .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    pub(crate) async fn enroll(
        &self,
        token_hash: &str,
        agent: &NewAgent,
        now: Millis,
    ) -> Result<EnrollOutcome, StoreError> {
        let mut tx = DB::begin_write(self.0).await?;
        let sql = format!(
            "SELECT id, uses_left, expires_at, revoked_at FROM enroll_tokens \
             WHERE token_hash = $1{}",
            DB::ROW_LOCK
        );
        let token = sqlx::query(&sql)
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(token) = token else {
            return Ok(EnrollOutcome::Refused(EnrollRefusal::UnknownToken));
        };
        let token_id: String = token.try_get(0)?;
        let uses_left: i64 = token.try_get(1)?;
        let expires_at: Option<i64> = token.try_get(2)?;
        let revoked_at: Option<i64> = token.try_get(3)?;
        if revoked_at.is_some() {
            return Ok(EnrollOutcome::Refused(EnrollRefusal::TokenRevoked));
        }
        if expires_at.is_some_and(|e| e <= now) {
            return Ok(EnrollOutcome::Refused(EnrollRefusal::TokenExpired));
        }
        let existing = sqlx::query("SELECT id, revoked_at FROM agents WHERE keyid = $1")
            .bind(agent.keyid.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(existing) = existing {
            let revoked: Option<i64> = existing.try_get(1)?;
            if revoked.is_some() {
                return Ok(EnrollOutcome::Refused(EnrollRefusal::AgentRevoked));
            }
            return Ok(EnrollOutcome::AlreadyEnrolled {
                agent_id: existing.try_get(0)?,
            });
        }
        if uses_left <= 0 {
            return Ok(EnrollOutcome::Refused(EnrollRefusal::TokenUsedUp));
        }
        sqlx::query("UPDATE enroll_tokens SET uses_left = uses_left - 1 WHERE id = $1")
            .bind(token_id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO agents (id, keyid, public_key, hostname, machine_id, os_id, \
             os_version_id, os_pretty_name, kernel, token_id, enrolled_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(agent.id.as_str())
        .bind(agent.keyid.as_str())
        .bind(&agent.public_key[..])
        .bind(agent.hostname.as_str())
        .bind(agent.machine_id.as_str())
        .bind(agent.os_id.as_str())
        .bind(agent.os_version_id.as_str())
        .bind(agent.os_pretty_name.as_str())
        .bind(agent.kernel.as_str())
        .bind(token_id.as_str())
        .bind(agent.enrolled_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(EnrollOutcome::Enrolled {
            agent_id: agent.id.clone(),
        })
    }

    pub(crate) async fn agent_key(&self, keyid: &str) -> Result<Option<AgentKey>, StoreError> {
        let row = sqlx::query(
            "SELECT id, public_key, revoked_at IS NOT NULL FROM agents WHERE keyid = $1",
        )
        .bind(keyid)
        .fetch_optional(self.0)
        .await?;
        row.map(|r| {
            let key: Vec<u8> = r.try_get(1)?;
            Ok(AgentKey {
                agent_id: r.try_get(0)?,
                public_key: hash_from(&key, "agent public key")?,
                revoked: r.try_get(2)?,
            })
        })
        .transpose()
    }

    pub(crate) async fn agent(&self, agent_id: &str) -> Result<Option<AgentInfo>, StoreError> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(agent_id)
            .fetch_optional(self.0)
            .await?;
        row.as_ref().map(Self::agent_info).transpose()
    }

    pub(crate) async fn list_agents(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AgentInfo>, StoreError> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id > $1 ORDER BY id LIMIT $2");
        let rows = sqlx::query(&sql)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(self.0)
            .await?;
        rows.iter().map(Self::agent_info).collect()
    }

    pub(crate) async fn revoke_agent(
        &self,
        agent_id: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE agents SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(agent_id)
                .execute(self.0)
                .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    pub(crate) async fn count_agents(&self) -> Result<i64, StoreError> {
        let r = sqlx::query("SELECT count(*) FROM agents WHERE revoked_at IS NULL")
            .fetch_one(self.0)
            .await?;
        Ok(r.try_get(0)?)
    }

    /// The newest evidence report of an agent (not a replay): log index and seq, and
    /// (collected_at, received_at).
    pub(crate) async fn latest_head(
        &self,
        agent_id: &str,
    ) -> Result<Option<(i64, i64, Millis, Millis)>, StoreError> {
        let head = sqlx::query(
            "SELECT log_index, seq, collected_at, received_at FROM reports \
             WHERE agent_id = $1 AND replay = FALSE ORDER BY seq DESC LIMIT 1",
        )
        .bind(agent_id)
        .fetch_optional(self.0)
        .await?;
        head.map(|h| Ok((h.try_get(0)?, h.try_get(1)?, h.try_get(2)?, h.try_get(3)?)))
            .transpose()
    }

    pub(crate) async fn list_reports(
        &self,
        agent_id: &str,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ReportInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, log_index, payload_sha256, collected_at, received_at, replay, \
             pruned_at FROM reports WHERE agent_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(agent_id)
        .bind(after.unwrap_or(0))
        .bind(limit)
        .fetch_all(self.0)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReportInfo {
                    seq: r.try_get(0)?,
                    log_index: r.try_get(1)?,
                    payload_sha256: r.try_get(2)?,
                    collected_at: r.try_get(3)?,
                    received_at: r.try_get(4)?,
                    replay: r.try_get(5)?,
                    pruned_at: r.try_get(6)?,
                })
            })
            .collect()
    }

    pub(crate) async fn report_envelope(
        &self,
        agent_id: &str,
        seq: i64,
    ) -> Result<Option<StoredEnvelope>, StoreError> {
        let sql = format!(
            "SELECT r.log_index, r.payload_sha256, r.envelope, r.replay, {ROW_COLUMNS} \
             FROM reports r {BASE_JOIN} WHERE r.agent_id = $1 AND r.seq = $2"
        );
        let row = sqlx::query(&sql)
            .bind(agent_id)
            .bind(seq)
            .fetch_optional(self.0)
            .await?;
        row.map(|r| {
            Ok(StoredEnvelope {
                log_index: r.try_get(0)?,
                payload_sha256: r.try_get(1)?,
                envelope: codec::Reader::default().envelope(DB::stored_row(&r)?)?,
                replay: r.try_get(3)?,
            })
        })
        .transpose()
    }

    pub(crate) async fn chain_events(&self, agent_id: &str) -> Result<Vec<ChainEvent>, StoreError> {
        let sql = format!(
            "SELECT {CHAIN_EVENT_COLUMNS} FROM chain_events WHERE agent_id = $1 ORDER BY id"
        );
        let rows = sqlx::query(&sql).bind(agent_id).fetch_all(self.0).await?;
        rows.iter().map(Self::chain_event).collect()
    }

    pub(crate) async fn chain_events_until(
        &self,
        as_of: Millis,
    ) -> Result<Vec<ChainEvent>, StoreError> {
        let sql = format!(
            "SELECT {CHAIN_EVENT_COLUMNS} FROM chain_events WHERE at <= $1 \
             ORDER BY agent_id, at, id"
        );
        let rows = sqlx::query(&sql).bind(as_of).fetch_all(self.0).await?;
        rows.iter().map(Self::chain_event).collect()
    }

    pub(crate) async fn chain_counts(
        &self,
        as_of: Millis,
    ) -> Result<Vec<(String, ChainCount)>, StoreError> {
        let rows = sqlx::query(
            "SELECT agent_id, count(*), max(seq), \
             sum(CASE WHEN replay THEN 1 ELSE 0 END) \
             FROM reports WHERE received_at <= $1 GROUP BY agent_id ORDER BY agent_id",
        )
        .bind(as_of)
        .fetch_all(self.0)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    ChainCount {
                        stored: r.try_get(1)?,
                        max_seq: r.try_get(2)?,
                        replayed: r.try_get(3)?,
                    },
                ))
            })
            .collect()
    }

    pub(crate) async fn log_head(&self) -> Result<LogHead, StoreError> {
        let r = sqlx::query("SELECT tree_size, root, updated_at FROM log_state WHERE id = 1")
            .fetch_one(self.0)
            .await?;
        let size: i64 = r.try_get(0)?;
        let root: Vec<u8> = r.try_get(1)?;
        Ok(LogHead {
            tree_size: u64::try_from(size).unwrap_or_default(),
            root: hash_from(&root, "log root")?,
            updated_at: r.try_get(2)?,
        })
    }

    pub(crate) async fn log_nodes(
        &self,
        level: u32,
        from: u64,
        count: u64,
    ) -> Result<Vec<Hash>, StoreError> {
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        let to = from.saturating_add(i64::try_from(count).unwrap_or(i64::MAX));
        let rows = if level == 0 {
            sqlx::query(
                "SELECT leaf_hash FROM reports WHERE log_index >= $1 AND log_index < $2 \
                 ORDER BY log_index",
            )
            .bind(from)
            .bind(to)
            .fetch_all(self.0)
            .await?
        } else {
            sqlx::query(
                "SELECT hash FROM log_nodes WHERE level = $1 AND idx >= $2 AND idx < $3 \
                 ORDER BY idx",
            )
            .bind(i64::from(level))
            .bind(from)
            .bind(to)
            .fetch_all(self.0)
            .await?
        };
        rows.iter()
            .map(|r| {
                let h: Vec<u8> = r.try_get(0)?;
                hash_from(&h, "log node")
            })
            .collect()
    }

    pub(crate) async fn create_api_token(&self, t: &NewApiToken) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (id, token_hash, role, note, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(t.id.as_str())
        .bind(t.token_hash.as_str())
        .bind(t.role.as_str())
        .bind(t.note.as_str())
        .bind(t.created_at)
        .bind(t.expires_at)
        .execute(self.0)
        .await?;
        Ok(())
    }

    pub(crate) async fn api_token(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> Result<Option<(String, Role)>, StoreError> {
        let Some((id, role, due)) = self.api_token_lookup(token_hash, now).await? else {
            return Ok(None);
        };
        if due {
            self.record_api_token_use(&id, now).await;
        }
        Ok(Some((id, role)))
    }

    /// The live token with this hash: its id, its role and whether its last use is
    /// due to be recorded ([`API_TOKEN_USE_GRANULARITY`]). Reads only.
    pub(crate) async fn api_token_lookup(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> Result<Option<(String, Role, bool)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, role, last_used_at FROM api_tokens WHERE token_hash = $1 \
             AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.0)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let id: String = r.try_get(0)?;
        let role: String = r.try_get(1)?;
        let role = Role::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?;
        let last: Option<Millis> = r.try_get(2)?;
        let due = last.is_none_or(|l| now.saturating_sub(l) >= API_TOKEN_USE_GRANULARITY);
        Ok(Some((id, role, due)))
    }

    /// Records a token's use; a failure is logged, not returned (the request it
    /// authenticated goes on).
    pub(crate) async fn record_api_token_use(&self, id: &str, now: Millis) {
        let done = sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(self.0)
            .await;
        if let Err(e) = done {
            tracing::warn!(token_id = %id, error = %e, "could not record an API token's use");
        }
    }

    pub(crate) async fn list_api_tokens(&self) -> Result<Vec<ApiTokenInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, role, note, created_at, expires_at, last_used_at, revoked_at \
             FROM api_tokens ORDER BY created_at, id",
        )
        .fetch_all(self.0)
        .await?;
        rows.iter()
            .map(|r| {
                let role: String = r.try_get(1)?;
                Ok(ApiTokenInfo {
                    id: r.try_get(0)?,
                    role: Role::parse(&role)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
                    note: r.try_get(2)?,
                    created_at: r.try_get(3)?,
                    expires_at: r.try_get(4)?,
                    last_used_at: r.try_get(5)?,
                    revoked_at: r.try_get(6)?,
                })
            })
            .collect()
    }

    pub(crate) async fn revoke_api_token(&self, id: &str, now: Millis) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(self.0)
        .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    pub(crate) async fn audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(e.at)
        .bind(e.actor.as_str())
        .bind(e.action.as_str())
        .bind(e.target.as_str())
        .bind(e.detail.as_str())
        .execute(self.0)
        .await?;
        Ok(())
    }

    pub(crate) async fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, actor, action, target, detail FROM audit_log ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.0)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    at: r.try_get(0)?,
                    actor: r.try_get(1)?,
                    action: r.try_get(2)?,
                    target: r.try_get(3)?,
                    detail: r.try_get(4)?,
                })
            })
            .collect()
    }

    pub(crate) async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM collector_meta WHERE key = $1")
            .bind(key)
            .fetch_optional(self.0)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    pub(crate) async fn meta_init(&self, key: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO collector_meta (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(self.0)
        .await?;
        let r = sqlx::query("SELECT value FROM collector_meta WHERE key = $1")
            .bind(key)
            .fetch_one(self.0)
            .await?;
        Ok(r.try_get(0)?)
    }

    pub(crate) async fn put_day_counts(
        &self,
        basis: &str,
        day_end: Millis,
        counts: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO day_counts (basis, day_end, counts, made_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (basis, day_end) DO NOTHING",
        )
        .bind(basis)
        .bind(day_end)
        .bind(counts)
        .bind(now)
        .execute(self.0)
        .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    pub(crate) async fn day_counts(
        &self,
        basis: &str,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<(Millis, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT day_end, counts FROM day_counts \
             WHERE basis = $1 AND day_end >= $2 AND day_end <= $3 ORDER BY day_end",
        )
        .bind(basis)
        .bind(from)
        .bind(to)
        .fetch_all(self.0)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    pub(crate) async fn prune_day_counts(
        &self,
        keep_basis: &str,
        before: Millis,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM day_counts WHERE basis <> $1 AND made_at < $2")
            .bind(keep_basis)
            .bind(before)
            .execute(self.0)
            .await?;
        Ok(DB::rows_affected(&done))
    }

    pub(crate) async fn put_inventory_list(
        &self,
        list: &NewInventoryList,
    ) -> Result<bool, StoreError> {
        let list = PendingList::new(list)?;
        let mut conn = self.0.acquire().await?;
        Self::insert_inventory_list(&mut conn, &list).await
    }

    /// Inserts a list unless its address is stored: whether it was new. On `conn`,
    /// so that the writer's batch transaction can run it.
    pub(crate) async fn insert_inventory_list(
        conn: &mut DB::Connection,
        list: &PendingList,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO inventory_lists (address, agent_id, size, body, received_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (address) DO NOTHING",
        )
        .bind(list.address.as_str())
        .bind(list.agent_id.as_str())
        .bind(list.size)
        .bind(list.body.as_slice())
        .bind(list.received_at)
        .execute(conn)
        .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    pub(crate) async fn has_inventory_list(&self, address: &str) -> Result<bool, StoreError> {
        let found = sqlx::query("SELECT 1 FROM inventory_lists WHERE address = $1")
            .bind(address)
            .fetch_optional(self.0)
            .await?;
        Ok(found.is_some())
    }

    pub(crate) async fn inventory_list(
        &self,
        address: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT size, body FROM inventory_lists WHERE address = $1")
            .bind(address)
            .fetch_optional(self.0)
            .await?;
        row.map(|r| {
            let size: i64 = r.try_get(0)?;
            let body: Vec<u8> = r.try_get(1)?;
            super::decompress_inventory_list(address, size, &body)
        })
        .transpose()
    }

    /// The spans of stored inventory-list changes, each with its first unpruned report
    /// ([`super::prune::unreferenced_lists`]).
    pub(crate) async fn list_spans(&self) -> Result<Vec<super::prune::ListSpan>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.agent_id, c.seq_from, c.seq_to, (SELECT min(r.seq) FROM reports r \
             WHERE r.agent_id = c.agent_id AND r.seq >= c.seq_from AND r.seq < c.seq_to \
             AND r.pruned_at IS NULL) FROM result_changes c \
             WHERE c.check_id = $1 AND c.status IS NOT NULL",
        )
        .bind(attest_proto::inventory::SOFTWARE_CHECK)
        .fetch_all(self.0)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(super::prune::ListSpan {
                    agent_id: r.try_get(0)?,
                    seq_from: r.try_get(1)?,
                    seq_to: r.try_get(2)?,
                    first_unpruned: r.try_get(3)?,
                })
            })
            .collect()
    }

    pub(crate) async fn first_unpruned(
        &self,
        agent_id: &str,
        from: i64,
        to: i64,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT min(seq) FROM reports WHERE agent_id = $1 AND seq >= $2 AND seq < $3 \
             AND pruned_at IS NULL",
        )
        .bind(agent_id)
        .bind(from)
        .bind(to)
        .fetch_one(self.0)
        .await?;
        Ok(row.try_get(0)?)
    }

    pub(crate) async fn inventory_lists_before(
        &self,
        before: Millis,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT address FROM inventory_lists WHERE received_at < $1 ORDER BY address",
        )
        .bind(before)
        .fetch_all(self.0)
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    pub(crate) async fn delete_inventory_lists(
        &self,
        addresses: &[String],
    ) -> Result<u64, StoreError> {
        let mut tx = DB::begin_write(self.0).await?;
        let mut deleted = 0;
        for address in addresses {
            let done = sqlx::query("DELETE FROM inventory_lists WHERE address = $1")
                .bind(address.as_str())
                .execute(&mut *tx)
                .await?;
            deleted += DB::rows_affected(&done);
        }
        tx.commit().await?;
        Ok(deleted)
    }

    pub(crate) async fn add_waiver(&self, w: &Waiver) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO waivers (id, scope_kind, scope_id, hosts, justification, approver, \
             created_at, created_by, expires_at, revoked_at, revoked_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(w.id.as_str())
        .bind(w.scope.kind())
        .bind(w.scope.id())
        .bind(hosts_json(&w.hosts)?)
        .bind(w.justification.as_str())
        .bind(w.approver.as_str())
        .bind(w.created_at)
        .bind(w.created_by.as_str())
        .bind(w.expires_at)
        .bind(w.revoked_at)
        .bind(w.revoked_by.as_deref())
        .execute(self.0)
        .await?;
        Ok(())
    }

    pub(crate) async fn waivers(&self) -> Result<Vec<Waiver>, StoreError> {
        let sql = format!("SELECT {WAIVER_COLUMNS} FROM waivers ORDER BY created_at, id");
        let rows = sqlx::query(&sql).fetch_all(self.0).await?;
        rows.iter().map(waiver_from).collect()
    }

    pub(crate) async fn revoke_waiver(
        &self,
        id: &str,
        now: Millis,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE waivers SET revoked_at = $1, revoked_by = $2 \
             WHERE id = $3 AND revoked_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(actor)
        .bind(id)
        .execute(self.0)
        .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    fn user_info(r: &DB::Row) -> Result<UserInfo, StoreError> {
        let role: String = r.try_get(1)?;
        Ok(UserInfo {
            name: r.try_get(0)?,
            role: Role::parse(&role)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
            created_at: r.try_get(2)?,
            password_changed_at: r.try_get(3)?,
            disabled_at: r.try_get(4)?,
        })
    }

    pub(crate) async fn create_user(&self, u: &NewUser) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO users (name, role, password_hash, created_at, password_changed_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (name) DO NOTHING",
        )
        .bind(u.name.as_str())
        .bind(u.role.as_str())
        .bind(u.password_hash.as_str())
        .bind(u.created_at)
        .execute(self.0)
        .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    pub(crate) async fn user(&self, name: &str) -> Result<Option<(UserInfo, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT name, role, created_at, password_changed_at, disabled_at, password_hash \
             FROM users WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(self.0)
        .await?;
        row.map(|r| Ok((Self::user_info(&r)?, r.try_get(5)?)))
            .transpose()
    }

    pub(crate) async fn list_users(&self) -> Result<Vec<UserInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, role, created_at, password_changed_at, disabled_at FROM users \
             ORDER BY name",
        )
        .fetch_all(self.0)
        .await?;
        rows.iter().map(Self::user_info).collect()
    }

    /// Ends every live session of `name` in `tx`.
    async fn end_sessions_of(
        tx: &mut sqlx::Transaction<'static, DB>,
        name: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET ended_at = $1 WHERE user_name = $2 AND ended_at IS NULL")
            .bind(now)
            .bind(name)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    pub(crate) async fn set_password(
        &self,
        name: &str,
        hash: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let mut tx = DB::begin_write(self.0).await?;
        let done = sqlx::query(
            "UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE name = $3",
        )
        .bind(hash)
        .bind(now)
        .bind(name)
        .execute(&mut *tx)
        .await?;
        if DB::rows_affected(&done) != 1 {
            return Ok(false);
        }
        Self::end_sessions_of(&mut tx, name, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(crate) async fn rehash_password(
        &self,
        name: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET password_hash = $1 WHERE name = $2 AND password_hash = $3",
        )
        .bind(new)
        .bind(name)
        .bind(old)
        .execute(self.0)
        .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    pub(crate) async fn disable_user(&self, name: &str, now: Millis) -> Result<bool, StoreError> {
        let mut tx = DB::begin_write(self.0).await?;
        let done = sqlx::query(
            "UPDATE users SET disabled_at = $1 WHERE name = $2 AND disabled_at IS NULL",
        )
        .bind(now)
        .bind(name)
        .execute(&mut *tx)
        .await?;
        if DB::rows_affected(&done) != 1 {
            return Ok(false);
        }
        Self::end_sessions_of(&mut tx, name, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(crate) async fn create_session(&self, s: &NewSessionRecord) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE created_at < $1")
            .bind(s.created_at.saturating_sub(SESSION_KEEP))
            .execute(self.0)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_name, csrf, created_at, last_seen_at, client) \
             VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(s.token_hash.as_str())
        .bind(s.user_name.as_str())
        .bind(s.csrf.as_str())
        .bind(s.created_at)
        .bind(s.client.as_str())
        .execute(self.0)
        .await?;
        Ok(())
    }

    pub(crate) async fn session(
        &self,
        token_hash: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT s.user_name, u.role, s.csrf, s.created_at, s.last_seen_at, s.ended_at, \
             u.disabled_at FROM sessions s JOIN users u ON u.name = s.user_name \
             WHERE s.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(self.0)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let role: String = r.try_get(1)?;
        Ok(Some(SessionRecord {
            user_name: r.try_get(0)?,
            role: Role::parse(&role)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
            csrf: r.try_get(2)?,
            created_at: r.try_get(3)?,
            last_seen_at: r.try_get(4)?,
            ended_at: r.try_get(5)?,
            user_disabled_at: r.try_get(6)?,
        }))
    }

    pub(crate) async fn touch_session(
        &self,
        token_hash: &str,
        now: Millis,
        granularity: Millis,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2 AND ended_at IS NULL \
             AND last_seen_at <= $3",
        )
        .bind(now)
        .bind(token_hash)
        .bind(now.saturating_sub(granularity))
        .execute(self.0)
        .await?;
        Ok(())
    }

    pub(crate) async fn end_session(
        &self,
        token_hash: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET ended_at = $1 WHERE token_hash = $2 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(token_hash)
        .execute(self.0)
        .await?;
        Ok(DB::rows_affected(&done) == 1)
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Row as _;

    /// The shared statements use `$1` placeholders, some more than once
    /// (`create_enroll_token`, `revoke_waiver`): SQLite must bind them by number.
    #[tokio::test]
    async fn sqlite_binds_numbered_placeholders_by_number() {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        let r = sqlx::query("SELECT $2 - $1, $1, $2 * $1")
            .bind(3_i64)
            .bind(10_i64)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(r.try_get::<i64, _>(0).unwrap(), 7);
        assert_eq!(r.try_get::<i64, _>(1).unwrap(), 3);
        assert_eq!(r.try_get::<i64, _>(2).unwrap(), 30);
        let flag: bool = sqlx::query("SELECT 0 = FALSE")
            .fetch_one(&pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert!(flag, "SQLite reads FALSE as 0 (the replay column)");
    }
}
