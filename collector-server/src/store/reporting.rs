//! What reports, exports and waivers read and write: a second storage trait
//! ([`ReportStore`]), implemented for both backends, next to [`super::Store`].
//!
//! Reads are by time: "as of T" means what the collector had *received* by T (a report
//! counts from its `received_at`), so a report produced later for the same T gives the
//! same answer even after newer reports arrived. The latest report of an agent at T
//! is the one with the highest `seq` among those received by T (order comes from the
//! chain, not from clocks).

use std::sync::Arc;

use async_trait::async_trait;

use super::codec::{self, BASE_JOIN, ROW_COLUMNS};
use super::{ChainEvent, DynStore, Millis, StoreError, StoredEnvelope};

pub use crate::fleet::{ChainCount, HostRecord, ReportRecord, ResultRecord, Waiver, WaiverScope};

/// The reporting half of the storage.
#[async_trait]
pub trait ReportStore: Send + Sync + 'static {
    // Waivers.
    async fn add_waiver(&self, waiver: &Waiver) -> Result<(), StoreError>;
    /// Every waiver ever made, revoked and expired ones too, by creation.
    async fn waivers(&self) -> Result<Vec<Waiver>, StoreError>;
    /// `false` when there is no such live waiver.
    async fn revoke_waiver(&self, id: &str, now: Millis, actor: &str) -> Result<bool, StoreError>;

    /// Every enrolled agent, revoked ones too, by id.
    async fn hosts(&self) -> Result<Vec<HostRecord>, StoreError>;
    /// Per agent, the report with the highest `seq` received by `as_of` that is not a
    /// replay, with its results; by agent id.
    async fn latest_reports(&self, as_of: Millis) -> Result<Vec<ReportRecord>, StoreError> {
        let reports = self.latest_report_heads(as_of).await?;
        let indexes: Vec<i64> = reports.iter().map(|r| r.log_index).collect();
        let results = self.results(&indexes).await?;
        Ok(join_results(reports, results))
    }
    /// [`ReportStore::latest_reports`] without the results (`results` empty): for
    /// callers that take them from the verified envelopes themselves.
    async fn latest_report_heads(&self, as_of: Millis) -> Result<Vec<ReportRecord>, StoreError>;
    /// The results of these reports as `(log_index, result)`, by log index, then
    /// position in the report.
    async fn results(&self, log_indexes: &[i64]) -> Result<Vec<(i64, ResultRecord)>, StoreError>;
    /// Every report received by `to` whose `collected_at` is at or after `from`, plus
    /// per agent the latest received by `to` collected before `from`; by agent, then
    /// `received_at`, then `seq`. Replays are left out (never evidence), and so are
    /// pruned reports (`attest-collector prune`: `report` and `export` refuse a period
    /// starting before the cut-off, and the prune's own bundle covers what is left).
    async fn reports_between(
        &self,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<ReportRecord>, StoreError>;
    /// The replays received by `to` whose `collected_at` is at or after `from`, without
    /// results; by agent, then `seq`. Only for the evidence bundle of a period, which
    /// keeps them whole (they are links of the chains it holds).
    async fn replays_between(
        &self,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<ReportRecord>, StoreError>;
    /// Per agent with reports, how many it had stored by `as_of` (replays too, and how
    /// many of them are replays) and the highest `seq`.
    async fn chain_counts(&self, as_of: Millis) -> Result<Vec<(String, ChainCount)>, StoreError>;
    /// Every chain event recorded by `as_of`, by agent then time.
    async fn chain_events_until(&self, as_of: Millis) -> Result<Vec<ChainEvent>, StoreError>;
    /// The stored envelopes of these log indexes (missing ones left out), by index.
    async fn envelopes(&self, log_indexes: &[i64]) -> Result<Vec<StoredEnvelope>, StoreError>;
}

/// A store behind both traits.
#[derive(Clone)]
pub struct Stores {
    pub store: DynStore,
    pub reports: Arc<dyn ReportStore>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("backend", &self.store.backend())
            .finish()
    }
}

/// Opens a database as [`super::open`] does, with both traits.
pub async fn open(url: &str, max_connections: u32) -> Result<Stores, StoreError> {
    open_tuned(url, max_connections, super::sqlite::Tuning::SERVICE).await
}

/// [`open`] for the service, with SQLite's durability setting (`sqlite_full_sync`).
pub async fn open_with(
    url: &str,
    max_connections: u32,
    full_sync: bool,
) -> Result<Stores, StoreError> {
    open_tuned_sync(
        url,
        max_connections,
        super::sqlite::Tuning::SERVICE,
        full_sync,
    )
    .await
}

/// [`open`] for a one-shot command (report, export, waiver): SQLite keeps a small
/// page cache and maps nothing ([`super::sqlite::Tuning::ONE_SHOT`]).
pub async fn open_one_shot(url: &str, max_connections: u32) -> Result<Stores, StoreError> {
    open_tuned(url, max_connections, super::sqlite::Tuning::ONE_SHOT).await
}

async fn open_tuned(
    url: &str,
    max_connections: u32,
    tuning: super::sqlite::Tuning,
) -> Result<Stores, StoreError> {
    open_tuned_sync(url, max_connections, tuning, true).await
}

async fn open_tuned_sync(
    url: &str,
    max_connections: u32,
    tuning: super::sqlite::Tuning,
    full_sync: bool,
) -> Result<Stores, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let s = Arc::new(super::postgres::PgStore::open(url, max_connections).await?);
        Ok(Stores {
            store: s.clone(),
            reports: s,
        })
    } else if let Some(path) = super::sqlite_path(url) {
        let s = Arc::new(
            super::sqlite::SqliteStore::open_tuned(path, max_connections, full_sync, tuning)
                .await?,
        );
        Ok(Stores {
            store: s.clone(),
            reports: s,
        })
    } else {
        Err(StoreError::Url(url.chars().take(40).collect()))
    }
}

/// Reads a waiver row: id, scope_kind, scope_id, hosts, justification, approver,
/// created_at, created_by, expires_at, revoked_at, revoked_by.
pub(super) fn waiver_from<R>(r: &R) -> Result<Waiver, StoreError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> Option<String>: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> i64: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> Option<i64>: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
{
    let kind: String = r.try_get(1)?;
    let scope_id: String = r.try_get(2)?;
    let scope = match kind.as_str() {
        "check" => WaiverScope::Check(scope_id),
        "control" => WaiverScope::Control(scope_id),
        other => return Err(StoreError::Corrupt(format!("waiver scope {other:?}"))),
    };
    let hosts: String = r.try_get(3)?;
    let hosts: Vec<String> = serde_json::from_str(&hosts)
        .map_err(|e| StoreError::Corrupt(format!("waiver hosts: {e}")))?;
    Ok(Waiver {
        id: r.try_get(0)?,
        scope,
        hosts,
        justification: r.try_get(4)?,
        approver: r.try_get(5)?,
        created_at: r.try_get(6)?,
        created_by: r.try_get(7)?,
        expires_at: r.try_get(8)?,
        revoked_at: r.try_get(9)?,
        revoked_by: r.try_get(10)?,
    })
}

pub(super) const WAIVER_COLUMNS: &str = "id, scope_kind, scope_id, hosts, justification, approver, \
    created_at, created_by, expires_at, revoked_at, revoked_by";

const HOST_COLUMNS: &str = "id, keyid, public_key, hostname, machine_id, os_id, \
    os_version_id, os_pretty_name, kernel, enrolled_at, revoked_at";

fn host_from<R>(r: &R) -> Result<HostRecord, StoreError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> Vec<u8>: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> i64: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> Option<i64>: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
{
    let key: Vec<u8> = r.try_get(2)?;
    Ok(HostRecord {
        agent_id: r.try_get(0)?,
        keyid: r.try_get(1)?,
        public_key: super::hash_from(&key, "agent public key")?,
        hostname: r.try_get(3)?,
        machine_id: r.try_get(4)?,
        os_id: r.try_get(5)?,
        os_version_id: r.try_get(6)?,
        os_pretty_name: r.try_get(7)?,
        kernel: r.try_get(8)?,
        enrolled_at: r.try_get(9)?,
        revoked_at: r.try_get(10)?,
    })
}

pub(super) fn hosts_json(hosts: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(hosts).map_err(|e| StoreError::Corrupt(format!("waiver hosts: {e}")))
}

/// Report rows (agent_id, seq, log_index, payload_sha256, collected_at, received_at)
/// and their result rows (log_index, check_id, status, summary, reason; by log index
/// then position) joined.
fn join_results(
    mut reports: Vec<ReportRecord>,
    results: Vec<(i64, ResultRecord)>,
) -> Vec<ReportRecord> {
    let index: std::collections::HashMap<i64, usize> = reports
        .iter()
        .enumerate()
        .map(|(i, r)| (r.log_index, i))
        .collect();
    for (log_index, res) in results {
        if let Some(r) = index.get(&log_index).and_then(|&i| reports.get_mut(i)) {
            r.results.push(res);
        }
    }
    reports
}

/// Appends the results of one report from its JSON array of
/// `[position, check, status, summary, reason]`, in position order.
fn push_results(
    out: &mut Vec<(i64, ResultRecord)>,
    log_index: i64,
    json: &str,
) -> Result<(), StoreError> {
    type Row = (i64, String, String, String, Option<String>);
    let mut rows: Vec<Row> = serde_json::from_str(json)
        .map_err(|e| StoreError::Corrupt(format!("results of report {log_index}: {e}")))?;
    rows.sort_unstable_by_key(|r| r.0);
    out.extend(rows.into_iter().map(|(_, check, status, summary, reason)| {
        (
            log_index,
            ResultRecord {
                check,
                status,
                summary,
                reason,
                facts: None,
            },
        )
    }));
    Ok(())
}

/// How many log indexes one query takes.
const INDEX_CHUNK: usize = 2000;

mod sqlite_impl {
    use super::*;
    use crate::store::common::Crud;
    use crate::store::sqlite::SqliteStore;
    use sqlx::Row as _;

    /// Reads big result sets as one JSON document built by SQLite: the driver's cost per
    /// row is far above SQLite's cost per JSON value.
    fn reports_from_json(json: Option<String>) -> Result<Vec<ReportRecord>, StoreError> {
        type Row = (String, i64, i64, String, i64, i64, i64);
        let rows: Vec<Row> = match json {
            None => Vec::new(),
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("reports: {e}")))?,
        };
        Ok(rows
            .into_iter()
            .map(
                |(agent_id, seq, log_index, payload_sha256, collected_at, received_at, replay)| {
                    ReportRecord {
                        agent_id,
                        seq,
                        log_index,
                        payload_sha256,
                        collected_at,
                        received_at,
                        replay: replay != 0,
                        results: Vec::new(),
                    }
                },
            )
            .collect())
    }

    impl SqliteStore {
        /// The results of these reports, one JSON document per chunk.
        async fn results_of(
            &self,
            indexes: &[i64],
        ) -> Result<Vec<(i64, ResultRecord)>, StoreError> {
            type Row = (i64, i64, String, String, String, Option<String>);
            let mut out = Vec::with_capacity(indexes.len() * 25);
            for chunk in indexes.chunks(INDEX_CHUNK) {
                let json = serde_json::to_string(chunk)
                    .map_err(|e| StoreError::Corrupt(format!("log indexes: {e}")))?;
                // Per report, the change rows open at its seq (store::changes).
                let text: Option<String> = sqlx::query_scalar(
                    "SELECT json_group_array(json_array(r.log_index, c.position, c.check_id, \
                     c.status, c.summary, c.reason)) FROM reports r \
                     JOIN result_changes c ON c.agent_id = r.agent_id AND c.seq_to > r.seq \
                     AND c.seq_from <= r.seq \
                     WHERE r.log_index IN (SELECT value FROM json_each(?)) \
                     AND c.position IS NOT NULL",
                )
                .bind(json)
                .fetch_one(self.pool())
                .await?;
                let mut rows: Vec<Row> = match text {
                    None => Vec::new(),
                    Some(t) => serde_json::from_str(&t)
                        .map_err(|e| StoreError::Corrupt(format!("results: {e}")))?,
                };
                rows.sort_unstable_by_key(|r| (r.0, r.1));
                out.extend(rows.into_iter().map(
                    |(log_index, _, check, status, summary, reason)| {
                        (
                            log_index,
                            ResultRecord {
                                check,
                                status,
                                summary,
                                reason,
                                facts: None,
                            },
                        )
                    },
                ));
            }
            Ok(out)
        }
    }

    #[async_trait]
    impl ReportStore for SqliteStore {
        async fn add_waiver(&self, w: &Waiver) -> Result<(), StoreError> {
            Crud(self.pool()).add_waiver(w).await
        }

        async fn waivers(&self) -> Result<Vec<Waiver>, StoreError> {
            Crud(self.pool()).waivers().await
        }

        async fn revoke_waiver(
            &self,
            id: &str,
            now: Millis,
            actor: &str,
        ) -> Result<bool, StoreError> {
            Crud(self.pool()).revoke_waiver(id, now, actor).await
        }

        async fn hosts(&self) -> Result<Vec<HostRecord>, StoreError> {
            type Row = (
                String,
                String,
                String,
                String,
                String,
                String,
                String,
                String,
                String,
                i64,
                Option<i64>,
            );
            let text: Option<String> = sqlx::query_scalar(
                "SELECT json_group_array(json_array(id, keyid, hex(public_key), hostname, \
                 machine_id, os_id, os_version_id, os_pretty_name, kernel, enrolled_at, \
                 revoked_at)) FROM (SELECT * FROM agents ORDER BY id)",
            )
            .fetch_one(self.pool())
            .await?;
            let rows: Vec<Row> = match text {
                None => Vec::new(),
                Some(t) => serde_json::from_str(&t)
                    .map_err(|e| StoreError::Corrupt(format!("agents: {e}")))?,
            };
            let mut out: Vec<HostRecord> = rows
                .into_iter()
                .map(|r| {
                    let key = hex::decode(&r.2)
                        .map_err(|_| StoreError::Corrupt("agent public key".into()))?;
                    Ok(HostRecord {
                        agent_id: r.0,
                        keyid: r.1,
                        public_key: super::super::hash_from(&key, "agent public key")?,
                        hostname: r.3,
                        machine_id: r.4,
                        os_id: r.5,
                        os_version_id: r.6,
                        os_pretty_name: r.7,
                        kernel: r.8,
                        enrolled_at: r.9,
                        revoked_at: r.10,
                    })
                })
                .collect::<Result<_, StoreError>>()?;
            out.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
            Ok(out)
        }

        async fn results(
            &self,
            log_indexes: &[i64],
        ) -> Result<Vec<(i64, ResultRecord)>, StoreError> {
            let mut sorted = log_indexes.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            self.results_of(&sorted).await
        }

        async fn latest_report_heads(
            &self,
            as_of: Millis,
        ) -> Result<Vec<ReportRecord>, StoreError> {
            let text: Option<String> = sqlx::query_scalar(
                "SELECT json_group_array(json_array(agent_id, seq, log_index, payload_sha256, \
                 collected_at, received_at, replay)) FROM (SELECT r.agent_id, r.seq, \
                 r.log_index, r.payload_sha256, r.collected_at, r.received_at, r.replay \
                 FROM agents a JOIN reports r ON r.agent_id = a.id AND r.seq = \
                 (SELECT max(x.seq) FROM reports x WHERE x.agent_id = a.id \
                 AND x.received_at <= ? AND x.replay = 0) ORDER BY a.id)",
            )
            .bind(as_of)
            .fetch_one(self.pool())
            .await?;
            reports_from_json(text)
        }

        async fn reports_between(
            &self,
            from: Millis,
            to: Millis,
        ) -> Result<Vec<ReportRecord>, StoreError> {
            let text: Option<String> = sqlx::query_scalar(
                "SELECT json_group_array(json_array(agent_id, seq, log_index, payload_sha256, \
                 collected_at, received_at, replay)) FROM (SELECT r.agent_id, r.seq, \
                 r.log_index, r.payload_sha256, r.collected_at, r.received_at, r.replay \
                 FROM reports r WHERE r.received_at <= ?1 AND r.pruned_at IS NULL AND r.replay = 0 \
                 AND (r.collected_at >= ?2 \
                 OR r.seq = (SELECT max(x.seq) FROM reports x WHERE x.agent_id = r.agent_id \
                 AND x.received_at <= ?1 AND x.collected_at < ?2 AND x.replay = 0)) \
                 ORDER BY r.agent_id, r.received_at, r.seq)",
            )
            .bind(to)
            .bind(from)
            .fetch_one(self.pool())
            .await?;
            let reports = reports_from_json(text)?;
            let indexes: Vec<i64> = reports.iter().map(|r| r.log_index).collect();
            let results = self.results_of(&indexes).await?;
            Ok(join_results(reports, results))
        }

        async fn replays_between(
            &self,
            from: Millis,
            to: Millis,
        ) -> Result<Vec<ReportRecord>, StoreError> {
            let text: Option<String> = sqlx::query_scalar(
                "SELECT json_group_array(json_array(agent_id, seq, log_index, payload_sha256, \
                 collected_at, received_at, replay)) FROM (SELECT r.agent_id, r.seq, \
                 r.log_index, r.payload_sha256, r.collected_at, r.received_at, r.replay \
                 FROM reports r WHERE r.received_at <= ?1 AND r.pruned_at IS NULL AND r.replay = 1 \
                 AND r.collected_at >= ?2 ORDER BY r.agent_id, r.seq)",
            )
            .bind(to)
            .bind(from)
            .fetch_one(self.pool())
            .await?;
            reports_from_json(text)
        }

        async fn chain_counts(
            &self,
            as_of: Millis,
        ) -> Result<Vec<(String, ChainCount)>, StoreError> {
            Crud(self.pool()).chain_counts(as_of).await
        }

        async fn chain_events_until(&self, as_of: Millis) -> Result<Vec<ChainEvent>, StoreError> {
            Crud(self.pool()).chain_events_until(as_of).await
        }

        async fn envelopes(&self, log_indexes: &[i64]) -> Result<Vec<StoredEnvelope>, StoreError> {
            let mut out = Vec::with_capacity(log_indexes.len());
            let mut reader = codec::Reader::default();
            for chunk in log_indexes.chunks(INDEX_CHUNK) {
                let json = serde_json::to_string(chunk)
                    .map_err(|e| StoreError::Corrupt(format!("log indexes: {e}")))?;
                let rows = sqlx::query(&format!(
                    "SELECT r.log_index, r.payload_sha256, r.envelope, r.replay, {ROW_COLUMNS} \
                     FROM reports r {BASE_JOIN} \
                     WHERE r.log_index IN (SELECT value FROM json_each(?)) ORDER BY r.log_index"
                ))
                .bind(json)
                .fetch_all(self.pool())
                .await?;
                for r in &rows {
                    out.push(StoredEnvelope {
                        log_index: r.try_get(0)?,
                        payload_sha256: r.try_get(1)?,
                        envelope: reader.envelope(crate::store::sqlite::stored_row(r)?)?,
                        replay: r.try_get(3)?,
                    });
                }
            }
            out.sort_by_key(|e| e.log_index);
            Ok(out)
        }
    }
}

mod postgres_impl {
    use super::*;
    use crate::store::common::Crud;
    use crate::store::postgres::PgStore;
    use sqlx::Row as _;

    fn report_from(r: &sqlx::postgres::PgRow) -> Result<ReportRecord, StoreError> {
        Ok(ReportRecord {
            agent_id: r.try_get(0)?,
            seq: r.try_get(1)?,
            log_index: r.try_get(2)?,
            payload_sha256: r.try_get(3)?,
            collected_at: r.try_get(4)?,
            received_at: r.try_get(5)?,
            replay: r.try_get(6)?,
            results: Vec::new(),
        })
    }

    impl PgStore {
        async fn results_of(
            &self,
            indexes: &[i64],
        ) -> Result<Vec<(i64, ResultRecord)>, StoreError> {
            let mut out = Vec::with_capacity(indexes.len() * 25);
            for chunk in indexes.chunks(INDEX_CHUNK) {
                // Per report, the change rows open at its seq (store::changes).
                let rows = sqlx::query(
                    "SELECT r.log_index, json_agg(json_build_array(c.position, c.check_id, \
                     c.status, c.summary, c.reason))::text FROM reports r \
                     JOIN result_changes c ON c.agent_id = r.agent_id AND c.seq_to > r.seq \
                     AND c.seq_from <= r.seq \
                     WHERE r.log_index = ANY($1) AND c.position IS NOT NULL \
                     GROUP BY r.log_index",
                )
                .bind(chunk.to_vec())
                .fetch_all(self.pool())
                .await?;
                for r in &rows {
                    let text: String = r.try_get(1)?;
                    push_results(&mut out, r.try_get(0)?, &text)?;
                }
            }
            Ok(out)
        }
    }

    #[async_trait]
    impl ReportStore for PgStore {
        async fn add_waiver(&self, w: &Waiver) -> Result<(), StoreError> {
            Crud(self.pool()).add_waiver(w).await
        }

        async fn waivers(&self) -> Result<Vec<Waiver>, StoreError> {
            Crud(self.pool()).waivers().await
        }

        async fn revoke_waiver(
            &self,
            id: &str,
            now: Millis,
            actor: &str,
        ) -> Result<bool, StoreError> {
            Crud(self.pool()).revoke_waiver(id, now, actor).await
        }

        async fn hosts(&self) -> Result<Vec<HostRecord>, StoreError> {
            let sql = format!("SELECT {HOST_COLUMNS} FROM agents ORDER BY id");
            let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
            rows.iter().map(host_from).collect()
        }

        async fn results(
            &self,
            log_indexes: &[i64],
        ) -> Result<Vec<(i64, ResultRecord)>, StoreError> {
            let mut sorted = log_indexes.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            let mut out = self.results_of(&sorted).await?;
            // Grouped rows come in no particular order; each group is in position order.
            out.sort_by_key(|(index, _)| *index);
            Ok(out)
        }

        async fn latest_report_heads(
            &self,
            as_of: Millis,
        ) -> Result<Vec<ReportRecord>, StoreError> {
            let rows = sqlx::query(
                "SELECT r.agent_id, r.seq, r.log_index, r.payload_sha256, r.collected_at, \
                 r.received_at, r.replay FROM agents a JOIN reports r ON r.agent_id = a.id \
                 AND r.seq = (SELECT max(x.seq) FROM reports x WHERE x.agent_id = a.id \
                 AND x.received_at <= $1 AND NOT x.replay) ORDER BY a.id",
            )
            .bind(as_of)
            .fetch_all(self.pool())
            .await?;
            rows.iter().map(report_from).collect()
        }

        async fn reports_between(
            &self,
            from: Millis,
            to: Millis,
        ) -> Result<Vec<ReportRecord>, StoreError> {
            let rows = sqlx::query(
                "SELECT r.agent_id, r.seq, r.log_index, r.payload_sha256, r.collected_at, \
                 r.received_at, r.replay FROM reports r WHERE r.received_at <= $1 \
                 AND r.pruned_at IS NULL AND NOT r.replay AND (r.collected_at >= $2 \
                 OR r.seq = (SELECT max(x.seq) FROM reports x WHERE x.agent_id = r.agent_id \
                 AND x.received_at <= $1 AND x.collected_at < $2 AND NOT x.replay)) \
                 ORDER BY r.agent_id, r.received_at, r.seq",
            )
            .bind(to)
            .bind(from)
            .fetch_all(self.pool())
            .await?;
            let reports = rows
                .iter()
                .map(report_from)
                .collect::<Result<Vec<_>, _>>()?;
            let indexes: Vec<i64> = reports.iter().map(|r| r.log_index).collect();
            let results = self.results_of(&indexes).await?;
            Ok(join_results(reports, results))
        }

        async fn replays_between(
            &self,
            from: Millis,
            to: Millis,
        ) -> Result<Vec<ReportRecord>, StoreError> {
            let rows = sqlx::query(
                "SELECT r.agent_id, r.seq, r.log_index, r.payload_sha256, r.collected_at, \
                 r.received_at, r.replay FROM reports r WHERE r.received_at <= $1 \
                 AND r.pruned_at IS NULL AND r.replay AND r.collected_at >= $2 ORDER BY r.agent_id, r.seq",
            )
            .bind(to)
            .bind(from)
            .fetch_all(self.pool())
            .await?;
            rows.iter().map(report_from).collect()
        }

        async fn chain_counts(
            &self,
            as_of: Millis,
        ) -> Result<Vec<(String, ChainCount)>, StoreError> {
            Crud(self.pool()).chain_counts(as_of).await
        }

        async fn chain_events_until(&self, as_of: Millis) -> Result<Vec<ChainEvent>, StoreError> {
            Crud(self.pool()).chain_events_until(as_of).await
        }

        async fn envelopes(&self, log_indexes: &[i64]) -> Result<Vec<StoredEnvelope>, StoreError> {
            let mut out = Vec::with_capacity(log_indexes.len());
            let mut reader = codec::Reader::default();
            for chunk in log_indexes.chunks(INDEX_CHUNK) {
                let rows = sqlx::query(&format!(
                    "SELECT r.log_index, r.payload_sha256, r.envelope, r.replay, {ROW_COLUMNS} \
                     FROM reports r {BASE_JOIN} \
                     WHERE r.log_index = ANY($1) ORDER BY r.log_index"
                ))
                .bind(chunk.to_vec())
                .fetch_all(self.pool())
                .await?;
                for r in &rows {
                    out.push(StoredEnvelope {
                        log_index: r.try_get(0)?,
                        payload_sha256: r.try_get(1)?,
                        envelope: reader.envelope(crate::store::postgres::stored_row(r)?)?,
                        replay: r.try_get(3)?,
                    });
                }
            }
            out.sort_by_key(|e| e.log_index);
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::testkit::{Pending as _, enroll, report_round};

    const T0: Millis = 1_795_564_800_000;
    const MIN: Millis = 60_000;

    async fn sqlite() -> (Stores, String, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("collector.db").display());
        (open(&url, 4).await.unwrap(), url, dir)
    }

    async fn postgres() -> (Stores, String) {
        let url = crate::store::postgres::create_test_database(
            &crate::store::suite::postgres_url(),
            "reporting",
        )
        .await
        .unwrap();
        (open(&url, 4).await.unwrap(), url)
    }

    /// Runs one statement on the database directly (as someone with write access to
    /// it could); the rows changed.
    async fn raw_sql(url: &str, sql: &str) -> u64 {
        if url.starts_with("postgres") {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let n = sqlx::query(sql)
                .execute(&pool)
                .await
                .unwrap()
                .rows_affected();
            pool.close().await;
            n
        } else {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            let n = sqlx::query(sql)
                .execute(&pool)
                .await
                .unwrap()
                .rows_affected();
            pool.close().await;
            n
        }
    }

    /// Signs and stores the next report of `a`, a replay or not, received at `received`.
    async fn store_one(
        s: &dyn crate::store::Store,
        catalog: &Catalog,
        a: &mut crate::testkit::SimAgent,
        round: u64,
        replay: bool,
        received: Millis,
    ) -> crate::store::IngestOutcome {
        let at = chrono::DateTime::from_timestamp_millis(received - MIN).unwrap();
        let mut report = crate::testkit::sim_report(catalog, a, 4, round, at);
        report.agent.replay = replay;
        let json = a.sign_next(&mut report).unwrap();
        let out = s
            .ingest_batch(&[a.pending(json).unwrap()], received)
            .await
            .unwrap();
        out.into_iter().next().unwrap()
    }

    /// Replayed reports are stored, chained and listed, and never picked as evidence:
    /// not as the latest report at any time, not among a period's reports, not as the
    /// read API's latest results.
    async fn replays(stores: &Stores, url: &str) {
        use crate::store::IngestOutcome;
        let s = stores.store.as_ref();
        let r = stores.reports.as_ref();
        let catalog = Catalog::builtin().unwrap();
        let mut agents = enroll(s, 4, 2, T0).await.unwrap();
        let (counted, only_replays) = agents.split_at_mut(1);
        let (a, b) = (&mut counted[0], &mut only_replays[0]);
        // a: seq 1 counted, seq 2 a replay, seq 3 counted, seq 4 a replay.
        let mut index = Vec::new();
        for (seq, replay) in [(1, false), (2, true), (3, false), (4, true)] {
            match store_one(s, &catalog, a, seq, replay, T0 + seq as Millis * 10 * MIN).await {
                IngestOutcome::Stored(receipt) => {
                    assert_eq!(receipt.seq, seq);
                    index.push(i64::try_from(receipt.log_index).unwrap());
                }
                other => panic!("a replay is stored like any report: {other:?}"),
            }
        }
        // b: replays only.
        for seq in 1..=2 {
            let out = store_one(s, &catalog, b, seq, true, T0 + seq as Millis * 10 * MIN).await;
            assert!(matches!(out, IngestOutcome::Stored(_)), "{out:?}");
        }

        // The latest report, at every time: the highest counted seq, never a replay.
        for (t, want) in [(25, Some(1)), (35, Some(3)), (45, Some(3)), (500, Some(3))] {
            let latest = r.latest_reports(T0 + t * MIN).await.unwrap();
            let got = latest.iter().find(|l| l.agent_id == a.agent_id);
            assert_eq!(got.map(|l| l.seq), want, "as of +{t} min");
            assert!(latest.iter().all(|l| !l.replay && l.agent_id != b.agent_id));
            assert!(got.is_some_and(|l| l.results.len() == catalog.checks().len()));
        }
        let heads = r.latest_report_heads(T0 + 500 * MIN).await.unwrap();
        assert_eq!(
            heads
                .iter()
                .map(|h| (h.agent_id.as_str(), h.seq))
                .collect::<Vec<_>>(),
            [(a.agent_id.as_str(), 3)]
        );
        // A period: the counted reports only, the one in force at its start too.
        let between = r
            .reports_between(T0 + 15 * MIN, T0 + 500 * MIN)
            .await
            .unwrap();
        assert_eq!(
            between
                .iter()
                .map(|b| (b.agent_id.as_str(), b.seq))
                .collect::<Vec<_>>(),
            [(a.agent_id.as_str(), 1), (a.agent_id.as_str(), 3)]
        );
        let replayed = r
            .replays_between(T0 + 15 * MIN, T0 + 500 * MIN)
            .await
            .unwrap();
        assert_eq!(
            replayed
                .iter()
                .map(|b| (b.agent_id.as_str(), b.seq, b.replay))
                .collect::<Vec<_>>(),
            [
                (a.agent_id.as_str(), 2, true),
                (a.agent_id.as_str(), 4, true),
                (b.agent_id.as_str(), 2, true)
            ]
        );
        // The chain counts every stored report (replays are links of it).
        let counts: std::collections::HashMap<String, ChainCount> = r
            .chain_counts(T0 + 500 * MIN)
            .await
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(
            counts[&a.agent_id],
            ChainCount {
                stored: 4,
                max_seq: 4,
                replayed: 2
            }
        );
        assert_eq!(counts[&a.agent_id].missing(), 0);
        assert_eq!(counts[&b.agent_id].replayed, 2);
        // The envelopes are kept, with the flag.
        let envs = r.envelopes(&index).await.unwrap();
        assert_eq!(
            envs.iter().map(|e| e.replay).collect::<Vec<_>>(),
            [false, true, false, true]
        );

        // The read API: the latest results are the counted report's; the listing and
        // the envelope say which are replays.
        let latest = s.latest_results(&a.agent_id).await.unwrap().unwrap();
        assert_eq!(latest.seq, 3);
        assert_eq!(s.latest_results(&b.agent_id).await.unwrap(), None);
        let listed = s.list_reports(&a.agent_id, None, 100).await.unwrap();
        assert_eq!(
            listed.iter().map(|l| (l.seq, l.replay)).collect::<Vec<_>>(),
            [(1, false), (2, true), (3, false), (4, true)]
        );
        assert_eq!(listed[1].log_index, index[1]);
        let page = s.list_reports(&a.agent_id, Some(2), 1).await.unwrap();
        assert_eq!(page.iter().map(|l| l.seq).collect::<Vec<_>>(), [3]);
        assert!(
            s.report_envelope(&a.agent_id, 2)
                .await
                .unwrap()
                .unwrap()
                .replay
        );
        assert!(
            !s.report_envelope(&a.agent_id, 3)
                .await
                .unwrap()
                .unwrap()
                .replay
        );
        // The agent's chain head is its highest seq, replay or not.
        assert_eq!(
            s.agent(&a.agent_id).await.unwrap().unwrap().head_seq,
            Some(4)
        );

        // fsck: the stored flag agrees with what each statement says; a flag cleared
        // (or set) in the database is named.
        assert_eq!(
            s.integrity_check().await.unwrap().problems,
            Vec::<String>::new()
        );
        let flip = |i: i64| format!("UPDATE reports SET replay = NOT replay WHERE log_index = {i}");
        assert_eq!(raw_sql(url, &flip(index[1])).await, 1);
        assert_eq!(raw_sql(url, &flip(index[2])).await, 1);
        let problems = s.integrity_check().await.unwrap().problems;
        assert_eq!(
            problems,
            [
                format!(
                    "report {}: its statement is a replay (agent.replay) but it is stored as \
                     evidence",
                    index[1]
                ),
                format!(
                    "report {}: stored as a replay, but its statement is not one",
                    index[2]
                ),
            ]
        );
        assert_eq!(raw_sql(url, &flip(index[1])).await, 1);
        assert_eq!(raw_sql(url, &flip(index[2])).await, 1);
        assert!(s.integrity_check().await.unwrap().problems.is_empty());
    }

    fn waiver(id: &str, expires_at: Millis) -> Waiver {
        Waiver {
            id: id.into(),
            scope: WaiverScope::Check("system.screen_lock".into()),
            hosts: vec!["lap-00001".into()],
            justification: "kiosk".into(),
            approver: "ciso".into(),
            created_at: T0,
            created_by: "cli:root".into(),
            expires_at,
            revoked_at: None,
            revoked_by: None,
        }
    }

    async fn waivers(s: &dyn ReportStore) {
        s.add_waiver(&waiver("wvr_a", T0 + 10 * MIN)).await.unwrap();
        let mut b = waiver("wvr_b", T0 + 10 * MIN);
        b.scope = WaiverScope::Control("7.7".into());
        b.hosts.clear();
        s.add_waiver(&b).await.unwrap();
        assert!(s.add_waiver(&b).await.is_err(), "ids are unique");
        let all = s.waivers().await.unwrap();
        assert_eq!(all, vec![waiver("wvr_a", T0 + 10 * MIN), b.clone()]);
        assert!(s.revoke_waiver("wvr_a", T0 + MIN, "cli:bob").await.unwrap());
        assert!(
            !s.revoke_waiver("wvr_a", T0 + 2 * MIN, "cli:bob")
                .await
                .unwrap()
        );
        assert!(!s.revoke_waiver("nope", T0, "cli:bob").await.unwrap());
        // An expired waiver cannot be revoked: it already stopped applying.
        assert!(
            !s.revoke_waiver("wvr_b", T0 + 11 * MIN, "cli:bob")
                .await
                .unwrap()
        );
        let a = s
            .waivers()
            .await
            .unwrap()
            .into_iter()
            .find(|w| w.id == "wvr_a")
            .unwrap();
        assert_eq!(a.revoked_at, Some(T0 + MIN));
        assert_eq!(a.revoked_by.as_deref(), Some("cli:bob"));
    }

    async fn as_of(stores: &Stores) {
        let s = stores.store.as_ref();
        let r = stores.reports.as_ref();
        let catalog = Catalog::builtin().unwrap();
        let mut agents = enroll(s, 3, 3, T0).await.unwrap();
        report_round(s, &catalog, &mut agents, 3, 0, T0 + MIN, T0 + 2 * MIN)
            .await
            .unwrap();
        report_round(s, &catalog, &mut agents, 3, 1, T0 + 60 * MIN, T0 + 61 * MIN)
            .await
            .unwrap();
        let hosts = r.hosts().await.unwrap();
        assert_eq!(hosts.len(), 3);
        assert_eq!(hosts[1].hostname, "lap-00001");
        assert_eq!(
            hosts[1].public_key,
            agents[1].key.verifying_key().to_bytes()
        );

        assert!(r.latest_reports(T0 + MIN).await.unwrap().is_empty());
        let past = r.latest_reports(T0 + 30 * MIN).await.unwrap();
        assert_eq!(past.len(), 3);
        let checks = catalog.checks().len();
        assert_eq!(checks, attest_proto::catalogue::CHECKS.len());
        assert!(past.iter().all(|p| p.seq == 1 && p.results.len() == checks));
        assert_eq!(past[0].collected_at, T0 + MIN);
        let now = r.latest_reports(T0 + 90 * MIN).await.unwrap();
        assert!(
            now.iter()
                .all(|p| p.seq == 2 && p.received_at == T0 + 61 * MIN)
        );
        assert_eq!(
            now[0].results[0].check,
            attest_proto::catalogue::CHECKS[0].id
        );
        let heads = r.latest_report_heads(T0 + 90 * MIN).await.unwrap();
        assert!(heads.iter().all(|h| h.results.is_empty()));
        assert_eq!(
            heads.iter().map(|h| h.log_index).collect::<Vec<_>>(),
            now.iter().map(|n| n.log_index).collect::<Vec<_>>()
        );
        // Results of several reports, asked in any order and twice: by log index, then
        // position, once each; unknown indexes have none.
        let asked = [
            now[2].log_index,
            now[0].log_index,
            now[2].log_index,
            999_999,
        ];
        let rows = r.results(&asked).await.unwrap();
        assert_eq!(rows.len(), 2 * checks);
        assert!(rows.windows(2).all(|w| w[0].0 <= w[1].0));
        let first: Vec<&ResultRecord> = rows
            .iter()
            .filter(|(i, _)| *i == now[0].log_index)
            .map(|(_, res)| res)
            .collect();
        assert_eq!(first, now[0].results.iter().collect::<Vec<_>>());

        let counts = r.chain_counts(T0 + 30 * MIN).await.unwrap();
        assert_eq!(counts.len(), 3);
        assert_eq!(
            counts[0].1,
            ChainCount {
                stored: 1,
                max_seq: 1,
                replayed: 0,
            }
        );

        let between = r
            .reports_between(T0 + 30 * MIN, T0 + 90 * MIN)
            .await
            .unwrap();
        // Per agent: the one before the period and the one in it.
        assert_eq!(between.len(), 6);
        assert_eq!(
            between
                .iter()
                .map(|b| (b.agent_id.as_str(), b.seq))
                .take(2)
                .collect::<Vec<_>>(),
            [
                (agents[0].agent_id.as_str(), 1),
                (agents[0].agent_id.as_str(), 2)
            ]
        );
        assert!(between.iter().all(|b| b.results.len() == checks));

        let envs = r
            .envelopes(&[now[2].log_index, past[0].log_index, 999])
            .await
            .unwrap();
        assert_eq!(envs.len(), 2);
        assert_eq!(envs[0].log_index, past[0].log_index);
        assert_eq!(envs[1].payload_sha256, now[2].payload_sha256);
        let env = attest_proto::Envelope::from_json(&envs[1].envelope).unwrap();
        assert_eq!(
            attest_proto::sha256_hex(&env.payload),
            now[2].payload_sha256
        );

        // A gap: seq 3 signed but never delivered, seq 4 stored.
        let a = &mut agents[0];
        let at = chrono::DateTime::from_timestamp_millis(T0 + 120 * MIN).unwrap();
        let mut lost = crate::testkit::sim_report(&catalog, a, 3, 2, at);
        a.sign_next(&mut lost).unwrap();
        let mut next = crate::testkit::sim_report(&catalog, a, 3, 3, at);
        let json = a.sign_next(&mut next).unwrap();
        let p = a.pending(json).unwrap();
        s.ingest_batch(&[p], T0 + 121 * MIN).await.unwrap();
        let counts = r.chain_counts(T0 + 200 * MIN).await.unwrap();
        assert_eq!(
            counts[0].1,
            ChainCount {
                stored: 3,
                max_seq: 4,
                replayed: 0,
            }
        );
        assert_eq!(counts[0].1.missing(), 1);
        let events = r.chain_events_until(T0 + 200 * MIN).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].kind.as_str(), events[0].seq), ("gap", 4));
        assert!(
            r.chain_events_until(T0 + 100 * MIN)
                .await
                .unwrap()
                .is_empty()
        );
    }

    /// One-shot commands map nothing and keep a small page cache; the service keeps
    /// its map and large cache.
    #[tokio::test]
    async fn one_shot_tuning_maps_nothing_and_keeps_a_small_cache() {
        use crate::store::sqlite::{SqliteStore, Tuning};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("collector.db");
        for (tuning, want) in [
            (Tuning::ONE_SHOT, (0, -16 * 1024)),
            (Tuning::SERVICE, (1 << 30, -128 * 1024)),
        ] {
            let s = SqliteStore::open_tuned(&path, 2, true, tuning)
                .await
                .unwrap();
            let mmap: i64 = sqlx::query_scalar("PRAGMA mmap_size")
                .fetch_one(s.pool())
                .await
                .unwrap();
            let cache: i64 = sqlx::query_scalar("PRAGMA cache_size")
                .fetch_one(s.pool())
                .await
                .unwrap();
            assert_eq!((mmap, cache), want, "{tuning:?}");
            s.pool().close().await;
        }
    }

    #[tokio::test]
    async fn sqlite_reporting() {
        let (stores, _url, _dir) = sqlite().await;
        waivers(stores.reports.as_ref()).await;
        as_of(&stores).await;
        stores.store.close().await;
    }

    #[tokio::test]
    async fn sqlite_replays_are_stored_never_counted() {
        let (stores, url, _dir) = sqlite().await;
        replays(&stores, &url).await;
        stores.store.close().await;
    }

    #[tokio::test]
    #[cfg_attr(
        not(attest_postgres),
        ignore = "needs PostgreSQL: set ATTEST_TEST_POSTGRES_URL when building and running the tests"
    )]
    async fn postgres_replays_are_stored_never_counted() {
        let (stores, url) = postgres().await;
        replays(&stores, &url).await;
        stores.store.close().await;
    }

    #[tokio::test]
    #[cfg_attr(
        not(attest_postgres),
        ignore = "needs PostgreSQL: set ATTEST_TEST_POSTGRES_URL when building and running the tests"
    )]
    async fn postgres_reporting() {
        {
            let (stores, _url) = postgres().await;
            waivers(stores.reports.as_ref()).await;
            as_of(&stores).await;
            stores.store.close().await;
        }
    }
}
