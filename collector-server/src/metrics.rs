//! Prometheus metrics on `prometheus-client`, rendered in the text exposition format
//! (0.0.4) at `GET /metrics`.
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `attest_reports_accepted_total` | counter | |
//! | `attest_reports_duplicate_total` | counter | |
//! | `attest_reports_rejected_total` | counter | `reason` (the error code) |
//! | `attest_chain_conflicts_unrecorded_total` | counter | (forks and broken links beyond an agent's quota) |
//! | `attest_chain_conflict_quota_reached_total` | counter | (times an agent reached its quota) |
//! | `attest_enrollments_total` | counter | |
//! | `attest_enrollments_rejected_total` | counter | `reason` |
//! | `attest_ingest_duration_seconds` | histogram | (request received → answer ready) |
//! | `attest_ingest_batch_size` | histogram | (reports per transaction) |
//! | `attest_ingest_batch_seconds` | histogram | (one batch's transaction, retries included: its sum over a time is how busy the writer was) |
//! | `attest_ingest_head_cache_hits_total` | counter | (agents whose remembered head a batch used, `store::heads`) |
//! | `attest_agents_enrolled` | gauge | (not revoked) |
//! | `attest_log_tree_size` | gauge | |
//! | `attest_db_pool_connections` | gauge | `state` = `open`, `idle`, `max` |
//! | `attest_connections_open` | gauge | (client connections held now) |
//! | `attest_connections_refused_total` | counter | `reason` = `max_connections`, `per_ip` |
//! | `attest_connections_closed_total` | counter | `reason` = `deadline`, `slow`, `idle`, `evicted` |
//! | `attest_requests_refused_total` | counter | `reason` = `ip_failures`, `body_memory` |
//! | `attest_accept_errors_total` | counter | (e.g. out of file descriptors) |
//! | `attest_report_uploads_total` | counter | `encoding` = `full`, `delta` (every `POST /v1/reports` body read) |
//! | `attest_report_upload_bytes_total` | counter | `encoding` (body bytes as they came over the wire) |
//!
//! Counters are per process: with several collectors, sum them in the query. The
//! database gauges are read at scrape time and left out when the database does not
//! answer.

use std::time::Duration;

use attest_proto::ErrorCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::store::PoolStats;

const LATENCY_BOUNDS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
const BATCH_TIME_BOUNDS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0,
];
const BATCH_BOUNDS: [f64; 11] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// A `reason` label: an error code or the name of a limit.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

/// How a report body came: `full` or `delta`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByEncoding {
    encoding: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolState {
    state: &'static str,
}

type ByReason = Family<Reason, Counter>;

/// The collector's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Read from the database at scrape time; rendered only when it answers.
    db_registry: Registry,
    accepted: Counter,
    duplicates: Counter,
    rejected: ByReason,
    conflicts_unrecorded: Counter,
    conflict_quota_reached: Counter,
    enrolled: Counter,
    enroll_rejected: ByReason,
    latency: Histogram,
    batch: Histogram,
    batch_time: Histogram,
    head_hits: Counter,
    open: Gauge,
    conn_refused: ByReason,
    conn_closed: ByReason,
    req_refused: ByReason,
    accept_errors: Counter,
    uploads: Family<ByEncoding, Counter>,
    upload_bytes: Family<ByEncoding, Counter>,
    agents: Gauge,
    tree_size: Gauge,
    pool: Family<PoolState, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Metrics {
            registry: Registry::default(),
            db_registry: Registry::default(),
            accepted: Counter::default(),
            duplicates: Counter::default(),
            rejected: ByReason::default(),
            conflicts_unrecorded: Counter::default(),
            conflict_quota_reached: Counter::default(),
            enrolled: Counter::default(),
            enroll_rejected: ByReason::default(),
            latency: Histogram::new(LATENCY_BOUNDS),
            batch: Histogram::new(BATCH_BOUNDS),
            batch_time: Histogram::new(BATCH_TIME_BOUNDS),
            head_hits: Counter::default(),
            open: Gauge::default(),
            conn_refused: ByReason::default(),
            conn_closed: ByReason::default(),
            req_refused: ByReason::default(),
            accept_errors: Counter::default(),
            uploads: Family::default(),
            upload_bytes: Family::default(),
            agents: Gauge::default(),
            tree_size: Gauge::default(),
            pool: Family::default(),
        };
        m.register()
    }
}

/// Figures read at scrape time.
#[derive(Debug, Clone, Copy)]
pub struct Gauges {
    pub agents: i64,
    pub tree_size: u64,
    pub pool: PoolStats,
}

impl Metrics {
    /// Registers every metric under its stable name (counters get `_total` when
    /// encoded). The metrics are handles to shared values, so the registry's
    /// copies and the fields are the same metrics.
    fn register(mut self) -> Self {
        let r = &mut self.registry;
        r.register(
            "attest_reports_accepted",
            "Reports stored.",
            self.accepted.clone(),
        );
        r.register(
            "attest_reports_duplicate",
            "Reports received again and answered with their first receipt.",
            self.duplicates.clone(),
        );
        r.register(
            "attest_reports_rejected",
            "Reports refused, by error code.",
            self.rejected.clone(),
        );
        r.register(
            "attest_chain_conflicts_unrecorded",
            "Forks and broken links refused without a record: the agent's quota was used up.",
            self.conflicts_unrecorded.clone(),
        );
        r.register(
            "attest_ingest_head_cache_hits",
            "Agents whose head the writer remembered from an earlier batch and used \
             without reading it (keyframe and results).",
            self.head_hits.clone(),
        );
        r.register(
            "attest_chain_conflict_quota_reached",
            "Times an agent reached its quota of recorded forks and broken links.",
            self.conflict_quota_reached.clone(),
        );
        r.register(
            "attest_enrollments",
            "Agents enrolled.",
            self.enrolled.clone(),
        );
        r.register(
            "attest_enrollments_rejected",
            "Enrollments refused, by error code.",
            self.enroll_rejected.clone(),
        );
        r.register(
            "attest_ingest_duration_seconds",
            "Time from receiving a report to answering it.",
            self.latency.clone(),
        );
        r.register(
            "attest_ingest_batch_size",
            "Reports per ingest transaction.",
            self.batch.clone(),
        );
        r.register(
            "attest_ingest_batch_seconds",
            "Time the writer spent on one batch (its transaction, retries included).",
            self.batch_time.clone(),
        );
        r.register(
            "attest_connections_open",
            "Client connections held now.",
            self.open.clone(),
        );
        r.register(
            "attest_connections_refused",
            "Connections closed at accept, by limit.",
            self.conn_refused.clone(),
        );
        r.register(
            "attest_connections_closed",
            "Connections closed by a limit while open, by limit.",
            self.conn_closed.clone(),
        );
        r.register(
            "attest_requests_refused",
            "Requests answered without being served, by limit.",
            self.req_refused.clone(),
        );
        r.register(
            "attest_accept_errors",
            "Failures to accept a connection (e.g. out of file descriptors).",
            self.accept_errors.clone(),
        );
        r.register(
            "attest_report_uploads",
            "Report bodies received, by encoding (full envelope or delta).",
            self.uploads.clone(),
        );
        r.register(
            "attest_report_upload_bytes",
            "Bytes of report bodies received over the wire, by encoding.",
            self.upload_bytes.clone(),
        );
        let d = &mut self.db_registry;
        d.register(
            "attest_agents_enrolled",
            "Enrolled agents that are not revoked.",
            self.agents.clone(),
        );
        d.register(
            "attest_log_tree_size",
            "Leaves in the Merkle log.",
            self.tree_size.clone(),
        );
        d.register(
            "attest_db_pool_connections",
            "Database pool connections.",
            self.pool.clone(),
        );
        self
    }

    /// Chain conflicts refused without a record (the agents' quotas were used up).
    pub fn conflicts_unrecorded(&self, n: u64) {
        self.conflicts_unrecorded.inc_by(n);
    }

    /// Agents of a batch whose remembered head was used.
    pub fn head_hits(&self, n: u64) {
        self.head_hits.inc_by(n);
    }

    /// Agents whose remembered head was used so far (tests and logs).
    pub fn head_hits_count(&self) -> u64 {
        self.head_hits.get()
    }

    /// An agent reached its chain-conflict quota.
    pub fn conflict_quota_reached(&self) {
        self.conflict_quota_reached.inc();
    }

    pub fn accepted(&self, latency: Duration) {
        self.accepted.inc();
        self.latency.observe(latency.as_secs_f64());
    }

    pub fn duplicate(&self, latency: Duration) {
        self.duplicates.inc();
        self.latency.observe(latency.as_secs_f64());
    }

    pub fn rejected(&self, code: ErrorCode) {
        self.rejected
            .get_or_create(&Reason {
                reason: code.as_str(),
            })
            .inc();
    }

    /// A report body of `bytes` bytes arrived as `encoding`.
    pub fn upload(&self, encoding: crate::api::Encoding, bytes: usize) {
        let label = ByEncoding {
            encoding: encoding.as_str(),
        };
        self.uploads.get_or_create(&label).inc();
        self.upload_bytes.get_or_create(&label).inc_by(bytes as u64);
    }

    pub fn enrolled(&self) {
        self.enrolled.inc();
    }

    pub fn enroll_rejected(&self, code: ErrorCode) {
        self.enroll_rejected
            .get_or_create(&Reason {
                reason: code.as_str(),
            })
            .inc();
    }

    /// A client connection admitted.
    pub fn connection_opened(&self) {
        self.open.inc();
    }

    /// A client connection gone.
    pub fn connection_gone(&self) {
        self.open.dec();
    }

    /// A connection closed at accept (`max_connections`, `per_ip`).
    pub fn connection_refused(&self, reason: &'static str) {
        self.conn_refused.get_or_create(&Reason { reason }).inc();
    }

    /// A connection closed by a limit (`deadline`, `slow`, `idle`, `evicted`).
    pub fn connection_closed(&self, reason: &'static str) {
        self.conn_closed.get_or_create(&Reason { reason }).inc();
    }

    /// A request answered without being served (`ip_failures`, `body_memory`).
    pub fn request_refused(&self, reason: &'static str) {
        self.req_refused.get_or_create(&Reason { reason }).inc();
    }

    pub fn accept_error(&self) {
        self.accept_errors.inc();
    }

    /// Connections held now.
    pub fn connections_open(&self) -> u64 {
        u64::try_from(self.open.get()).unwrap_or(0)
    }

    /// Closed by a limit so far, for one reason (tests).
    pub fn closed_count(&self, reason: &'static str) -> u64 {
        self.conn_closed.get_or_create(&Reason { reason }).get()
    }

    pub fn observe_batch(&self, size: usize) {
        self.batch.observe(size as f64);
    }

    /// How long the writer took for one batch.
    pub fn observe_batch_time(&self, took: Duration) {
        self.batch_time.observe(took.as_secs_f64());
    }

    /// Rejections so far for one reason (tests and logs).
    pub fn rejected_count(&self, code: ErrorCode) -> u64 {
        self.rejected
            .get_or_create(&Reason {
                reason: code.as_str(),
            })
            .get()
    }

    /// The text exposition format (0.0.4).
    pub fn render(&self, gauges: Option<Gauges>) -> String {
        use prometheus_client::encoding::prometheus_text::encode;
        let mut out = String::with_capacity(8192);
        let _ = encode(&mut out, &self.registry);
        if let Some(g) = gauges {
            self.agents.set(g.agents);
            self.tree_size
                .set(i64::try_from(g.tree_size).unwrap_or(i64::MAX));
            for (state, n) in [
                ("open", g.pool.size),
                ("idle", g.pool.idle),
                ("max", g.pool.max),
            ] {
                self.pool
                    .get_or_create(&PoolState { state })
                    .set(i64::from(n));
            }
            let _ = encode(&mut out, &self.db_registry);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::default();
        m.accepted(Duration::from_millis(3));
        m.accepted(Duration::from_millis(30));
        m.rejected(ErrorCode::BadSignature);
        m.rejected(ErrorCode::BadSignature);
        m.rejected(ErrorCode::TooLarge);
        let text = m.render(Some(Gauges {
            agents: 7,
            tree_size: 2,
            pool: PoolStats {
                size: 3,
                idle: 2,
                max: 8,
            },
        }));
        assert!(text.contains("attest_reports_accepted_total 2\n"), "{text}");
        assert!(text.contains("attest_reports_rejected_total{reason=\"bad_signature\"} 2\n"));
        assert!(text.contains("attest_reports_rejected_total{reason=\"too_large\"} 1\n"));
        assert!(text.contains("attest_ingest_duration_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("attest_ingest_duration_seconds_bucket{le=\"0.05\"} 2\n"));
        assert!(text.contains("attest_ingest_duration_seconds_count 2\n"));
        m.observe_batch_time(Duration::from_micros(1500));
        let timed = m.render(None);
        assert!(
            timed.contains("attest_ingest_batch_seconds_bucket{le=\"0.001\"} 0\n")
                && timed.contains("attest_ingest_batch_seconds_bucket{le=\"0.002\"} 1\n"),
            "{timed}"
        );
        assert!(text.contains("attest_agents_enrolled 7\n"));
        assert!(text.contains("attest_db_pool_connections{state=\"idle\"} 2\n"));
        assert_eq!(m.rejected_count(ErrorCode::BadSignature), 2);
        assert!(text.contains("attest_connections_open 0\n"), "{text}");
    }

    #[test]
    fn renders_the_chain_conflict_counters() {
        let m = Metrics::default();
        m.conflicts_unrecorded(3);
        m.conflicts_unrecorded(0);
        m.conflict_quota_reached();
        let text = m.render(None);
        assert!(
            text.contains("attest_chain_conflicts_unrecorded_total 3\n"),
            "{text}"
        );
        assert!(
            text.contains("attest_chain_conflict_quota_reached_total 1\n"),
            "{text}"
        );
    }

    #[test]
    fn renders_the_network_limits() {
        let m = Metrics::default();
        m.connection_opened();
        m.connection_opened();
        m.connection_gone();
        m.connection_refused("per_ip");
        m.connection_closed("deadline");
        m.connection_closed("deadline");
        m.request_refused("ip_failures");
        m.accept_error();
        let text = m.render(None);
        for line in [
            "attest_connections_open 1\n",
            "attest_connections_refused_total{reason=\"per_ip\"} 1\n",
            "attest_connections_closed_total{reason=\"deadline\"} 2\n",
            "attest_requests_refused_total{reason=\"ip_failures\"} 1\n",
            "attest_accept_errors_total 1\n",
        ] {
            assert!(text.contains(line), "{line}{text}");
        }
        assert_eq!(m.closed_count("deadline"), 2);
    }
}
