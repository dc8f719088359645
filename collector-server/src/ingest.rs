//! Ingest: from a request body to a stored report.
//!
//! 1. [`decode`]: the envelope, strictly (size, nesting, shape, canonical base64).
//! 2. The handler finds the enrolled key by the envelope's key id.
//! 3. [`prepare`]: verify the signature against that key *before* looking inside the
//!    payload, then parse the statement strictly, check that it names the agent the
//!    key is enrolled for, and flatten its results.
//! 4. [`Writer`]: the group-commit writer. Requests queue their prepared report and
//!    wait; one task, on a thread of its own, takes everything queued (up to a batch
//!    limit) and stores it with [`crate::store::Store::write_batch`] in one
//!    transaction, with the inventory lists queued alongside
//!    ([`Writer::submit_list`]); the receipts go out only after the commit. There,
//!    against the agent's locked row, the report's subject is bound to the enrolled
//!    machine (`host_mismatch`), the inventory list it names must be held
//!    (`inventory_list_unknown`), and chain conflicts are recorded within the agent's
//!    [`ConflictQuota`] (`crate::store::batch`).

use std::sync::Arc;
use std::time::Duration;

use attest_proto::chain::LINK_PREFIX;
use attest_proto::{Envelope, ErrorCode, ProtoError, Report, Statement, VerifyingKey, sha256_hex};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::log::leaf_hash;
use crate::metrics::Metrics;
use crate::store::{
    BatchResult, ConflictQuota, DynStore, FlatResult, IngestOutcome, ListOutcome, PendingList,
    PendingReport, StoreError,
};

/// Why a report was refused before it reached the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Rejection {
    pub code: ErrorCode,
    pub message: String,
}

impl Rejection {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Rejection {
            code,
            message: message.into(),
        }
    }
}

impl From<ProtoError> for Rejection {
    fn from(e: ProtoError) -> Self {
        let body = attest_proto::ErrorBody::from(&e);
        Rejection::new(body.error, body.message)
    }
}

/// Decodes an envelope (no verification).
pub fn decode(body: &[u8]) -> Result<Envelope, Rejection> {
    Ok(Envelope::from_json(body)?)
}

/// A verified report, or the agent it claims to be when that is not the key's agent.
#[derive(Debug)]
pub enum Prepared {
    Ready(Box<PendingReport>),
    /// Signed by the key of `key_agent` but claims to be `claimed`.
    OtherAgent {
        claimed: String,
    },
}

/// Verifies the envelope against the agent's key, then parses and flattens the
/// statement. `body` is the request body, stored verbatim.
pub fn prepare(
    body: Bytes,
    envelope: &Envelope,
    agent_id: &str,
    key: &VerifyingKey,
) -> Result<Prepared, Rejection> {
    prepare_with_form(body, None, envelope, agent_id, key)
}

/// [`prepare`] with the envelope's form when the caller has it already (a report sent
/// by difference is rebuilt from it).
pub fn prepare_with_form(
    body: Bytes,
    form: Option<Arc<Vec<u8>>>,
    envelope: &Envelope,
    agent_id: &str,
    key: &VerifyingKey,
) -> Result<Prepared, Rejection> {
    let payload = envelope.verified_payload(key)?;
    let statement = Statement::from_slice(payload)?;
    let report = statement.predicate;
    if report.agent_id != agent_id {
        return Ok(Prepared::OtherAgent {
            claimed: report.agent_id,
        });
    }
    Ok(Prepared::Ready(Box::new(pending_report_with_form(
        body, form, payload, report,
    )?)))
}

/// A report ready for the store: `body` is the envelope (stored verbatim), `payload`
/// its statement bytes, `report` the statement's predicate. The host the signed
/// subject names is the predicate's (`Statement::from_slice` checks that they match):
/// its hostname and the SHA-256 of its machine id go with the report, for the store
/// to bind to the agent's enrolled host.
pub fn pending_report(
    body: Bytes,
    payload: &[u8],
    report: Report,
) -> Result<PendingReport, Rejection> {
    pending_report_with_form(body, None, payload, report)
}

/// [`pending_report`] with the envelope's form when the caller has it (else it is
/// made here).
pub fn pending_report_with_form(
    body: Bytes,
    form: Option<Arc<Vec<u8>>>,
    payload: &[u8],
    report: Report,
) -> Result<PendingReport, Rejection> {
    let seq = i64::try_from(report.seq).map_err(|_| {
        Rejection::new(
            ErrorCode::NotAStatement,
            "seq is larger than the collector stores (2^63 - 1)",
        )
    })?;
    let list = attest_proto::inventory::address_of(&report).map(str::to_owned);
    let mut buf = Vec::with_capacity(1024);
    let results = report
        .results
        .into_iter()
        .map(|r| FlatResult {
            check: r.check,
            status: r.status.as_str(),
            summary: r.summary,
            facts_sha256: crate::store::changes::facts_sha256(&mut buf, &r.facts),
            reason: r.reason,
        })
        .collect();
    // One SHA-256 of the payload serves as digest and link (`link_of` is
    // `sha256:` + the same hex).
    let payload_sha256 = sha256_hex(payload);
    let replay = report.agent.replay;
    Ok(PendingReport {
        agent_id: report.agent_id,
        seq,
        prev: report.prev,
        link: format!("{LINK_PREFIX}{payload_sha256}"),
        payload_sha256,
        leaf_hash: leaf_hash(&body),
        form: form.unwrap_or_else(|| Arc::new(attest_proto::form::to_form_of(&body, payload))),
        envelope: body,
        collected_at: report.collected_at.timestamp_millis(),
        results,
        machine_sha256: sha256_hex(report.host.machine_id.as_bytes()),
        hostname: report.host.hostname,
        replay,
        list,
    })
}

type Reply = oneshot::Sender<Result<IngestOutcome, Rejection>>;
type ListReply = oneshot::Sender<Result<ListOutcome, Rejection>>;

/// What a request hands the writer: a report, or an inventory list (its own commit
/// per list would take the database's write lock and an fsync for each).
enum Job {
    Report(PendingReport, Reply),
    List(PendingList, ListReply),
}

/// The group-commit writer's handle.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

/// How the writer batches.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// The most reports in one transaction.
    pub max_batch: usize,
    /// How many reports may wait for the writer; beyond it requests get 503.
    pub queue: usize,
}

impl Writer {
    /// Starts the writer task under the default [`ConflictQuota`]. It ends when every
    /// handle is dropped and the queue is drained (graceful shutdown).
    pub fn start(
        store: DynStore,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        config: WriterConfig,
    ) -> Result<(Writer, tokio::task::JoinHandle<()>), std::io::Error> {
        Writer::start_with(store, clock, metrics, config, ConflictQuota::DEFAULT)
    }

    /// [`Writer::start`], recording chain conflicts within `quota`. Fails when its
    /// thread or runtime cannot be made (out of threads or memory).
    pub fn start_with(
        store: DynStore,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        config: WriterConfig,
        quota: ConflictQuota,
    ) -> Result<(Writer, tokio::task::JoinHandle<()>), std::io::Error> {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let job = run(store, clock, metrics, rx, config.max_batch.max(1), quota);
        // The writer runs on a thread of its own (a one-thread runtime): each of its
        // statements is a round trip to the database driver, and woken from there on
        // the shared runtime it would wait behind the requests queued on it (each a
        // signature verification and a parse) at every step of every batch.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (done, finished) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("attest-writer".into())
            .spawn(move || {
                rt.block_on(job);
                let _ = done.send(());
            })?;
        let task = tokio::spawn(async move {
            let _ = finished.await;
        });
        Ok((Writer { tx }, task))
    }

    /// Queues a report and waits for its outcome (after the commit).
    pub async fn submit(&self, report: PendingReport) -> Result<IngestOutcome, Rejection> {
        let (reply, wait) = oneshot::channel();
        self.queue(Job::Report(report, reply))?;
        wait.await.map_err(|_| shutting_down())?
    }

    /// Queues an inventory list and waits for the commit of its batch.
    pub async fn submit_list(&self, list: PendingList) -> Result<ListOutcome, Rejection> {
        let (reply, wait) = oneshot::channel();
        self.queue(Job::List(list, reply))?;
        wait.await.map_err(|_| shutting_down())?
    }

    fn queue(&self, job: Job) -> Result<(), Rejection> {
        self.tx.try_send(job).map_err(|_| {
            Rejection::new(ErrorCode::Unavailable, "the collector is busy; retry later")
        })
    }
}

fn shutting_down() -> Rejection {
    Rejection::new(
        ErrorCode::Unavailable,
        "the collector is shutting down; retry later",
    )
}

async fn run(
    store: DynStore,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    quota: ConflictQuota,
) {
    let mut jobs: Vec<Job> = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut jobs, max_batch).await > 0 {
        let mut batch = Vec::with_capacity(jobs.len());
        let mut replies = Vec::with_capacity(jobs.len());
        let mut lists = Vec::new();
        let mut list_replies = Vec::new();
        for job in jobs.drain(..) {
            match job {
                Job::Report(report, reply) => {
                    batch.push(report);
                    replies.push(reply);
                }
                Job::List(list, reply) => {
                    lists.push(list);
                    list_replies.push(reply);
                }
            }
        }
        if !batch.is_empty() {
            metrics.observe_batch(batch.len());
        }
        let started = std::time::Instant::now();
        let stored = store_with_retry(&store, &lists, &batch, clock.as_ref(), quota).await;
        metrics.observe_batch_time(started.elapsed());
        match stored {
            Ok(result) => {
                metrics.conflicts_unrecorded(result.conflicts_unrecorded);
                metrics.head_hits(result.head_hits);
                for agent_id in &result.quota_reached {
                    metrics.conflict_quota_reached();
                    tracing::warn!(
                        agent_id = %agent_id,
                        recorded = quota.recorded_per_agent,
                        "chain conflict quota reached; later forks and broken links of this \
                         agent are refused without a record (a stolen or restored key?)"
                    );
                }
                for (reply, outcome) in replies.into_iter().zip(result.outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
                for (reply, outcome) in list_replies.into_iter().zip(result.lists) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                let code = if e.is_unavailable() {
                    ErrorCode::Unavailable
                } else {
                    ErrorCode::Internal
                };
                tracing::error!(
                    error = %e,
                    reports = batch.len(),
                    lists = lists.len(),
                    "storing a batch of reports and inventory lists failed"
                );
                let failed = |what: &str| {
                    Rejection::new(code, format!("the {what} could not be stored; retry later"))
                };
                for reply in replies {
                    let _ = reply.send(Err(failed("report")));
                }
                for reply in list_replies {
                    let _ = reply.send(Err(failed("inventory list")));
                }
            }
        }
    }
    tracing::debug!("ingest writer stopped");
}

/// Stores a batch; retries a few times when the database is busy or a concurrent
/// collector's insert conflicted (the transaction rolled back as a whole, so a retry
/// re-classifies against the new state).
async fn store_with_retry(
    store: &DynStore,
    lists: &[PendingList],
    batch: &[PendingReport],
    clock: &dyn Clock,
    quota: ConflictQuota,
) -> Result<BatchResult, StoreError> {
    let mut attempt = 0u32;
    loop {
        match store
            .write_batch(lists, batch, clock.now_millis(), quota)
            .await
        {
            Ok(result) => return Ok(result),
            Err(e) if attempt < 3 && retryable(&e) => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "batch transaction failed; retrying");
                tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn retryable(e: &StoreError) -> bool {
    match e {
        StoreError::Db(sqlx::Error::Database(db)) => {
            // Unique violation (a concurrent insert), serialization failure, deadlock,
            // SQLite busy/locked.
            matches!(
                db.code().as_deref(),
                Some("23505" | "40001" | "40P01" | "5" | "6" | "2067" | "1555")
            )
        }
        _ => e.is_unavailable(),
    }
}
