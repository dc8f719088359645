//! Prometheus metrics: a small hand-written registry (counters and histograms on
//! atomics) rendered in the text exposition format at `GET /metrics`.
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `attest_reports_accepted_total` | counter | |
//! | `attest_reports_duplicate_total` | counter | |
//! | `attest_reports_rejected_total` | counter | `reason` (the error code) |
//! | `attest_enrollments_total` | counter | |
//! | `attest_enrollments_rejected_total` | counter | `reason` |
//! | `attest_ingest_duration_seconds` | histogram | (request received → answer ready) |
//! | `attest_ingest_batch_size` | histogram | (reports per transaction) |
//! | `attest_agents_enrolled` | gauge | (not revoked) |
//! | `attest_log_tree_size` | gauge | |
//! | `attest_db_pool_connections` | gauge | `state` = `open`, `idle`, `max` |
//! | `attest_connections_open` | gauge | (client connections held now) |
//! | `attest_connections_refused_total` | counter | `reason` = `max_connections`, `per_ip` |
//! | `attest_connections_closed_total` | counter | `reason` = `deadline`, `slow`, `idle`, `evicted` |
//! | `attest_requests_refused_total` | counter | `reason` = `ip_failures`, `body_memory` |
//! | `attest_accept_errors_total` | counter | (e.g. out of file descriptors) |
//!
//! Counters are per process: with several collectors, sum them in the query.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use attest_proto::ErrorCode;

use crate::store::PoolStats;

/// A fixed-bucket histogram.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum in millionths of the unit.
    sum_micro: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micro: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            if value <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micro
            .fetch_add((value * 1e6).max(0.0) as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let total = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_micro.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {total}");
    }
}

const LATENCY_BOUNDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
const BATCH_BOUNDS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// The collector's metrics.
#[derive(Debug)]
pub struct Metrics {
    accepted: AtomicU64,
    duplicates: AtomicU64,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    enrolled: AtomicU64,
    enroll_rejected: Mutex<BTreeMap<&'static str, u64>>,
    latency: Histogram,
    batch: Histogram,
    open: AtomicU64,
    conn_refused: Mutex<BTreeMap<&'static str, u64>>,
    conn_closed: Mutex<BTreeMap<&'static str, u64>>,
    req_refused: Mutex<BTreeMap<&'static str, u64>>,
    accept_errors: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            accepted: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            rejected: Mutex::new(BTreeMap::new()),
            enrolled: AtomicU64::new(0),
            enroll_rejected: Mutex::new(BTreeMap::new()),
            latency: Histogram::new(LATENCY_BOUNDS),
            batch: Histogram::new(BATCH_BOUNDS),
            open: AtomicU64::new(0),
            conn_refused: Mutex::new(BTreeMap::new()),
            conn_closed: Mutex::new(BTreeMap::new()),
            req_refused: Mutex::new(BTreeMap::new()),
            accept_errors: AtomicU64::new(0),
        }
    }
}

fn bump(map: &Mutex<BTreeMap<&'static str, u64>>, key: &'static str) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key).or_insert(0) += 1;
    }
}

fn render_labeled(
    out: &mut String,
    name: &str,
    help: &str,
    map: &Mutex<BTreeMap<&'static str, u64>>,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    if let Ok(m) = map.lock() {
        for (reason, n) in m.iter() {
            let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {n}");
        }
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
    pub fn accepted(&self, latency: Duration) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.latency.observe(latency.as_secs_f64());
    }

    pub fn duplicate(&self, latency: Duration) {
        self.duplicates.fetch_add(1, Ordering::Relaxed);
        self.latency.observe(latency.as_secs_f64());
    }

    pub fn rejected(&self, code: ErrorCode) {
        bump(&self.rejected, code.as_str());
    }

    pub fn enrolled(&self) {
        self.enrolled.fetch_add(1, Ordering::Relaxed);
    }

    pub fn enroll_rejected(&self, code: ErrorCode) {
        bump(&self.enroll_rejected, code.as_str());
    }

    /// A client connection admitted (`+1`) or gone (`-1`).
    pub fn connection_opened(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_gone(&self) {
        let _ = self
            .open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// A connection closed at accept (`max_connections`, `per_ip`).
    pub fn connection_refused(&self, reason: &'static str) {
        bump(&self.conn_refused, reason);
    }

    /// A connection closed by a limit (`deadline`, `slow`, `idle`, `evicted`).
    pub fn connection_closed(&self, reason: &'static str) {
        bump(&self.conn_closed, reason);
    }

    /// A request answered without being served (`ip_failures`, `body_memory`).
    pub fn request_refused(&self, reason: &'static str) {
        bump(&self.req_refused, reason);
    }

    pub fn accept_error(&self) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections held now.
    pub fn connections_open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Closed by a limit so far, for one reason (tests).
    pub fn closed_count(&self, reason: &str) -> u64 {
        self.conn_closed
            .lock()
            .map(|m| m.get(reason).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    pub fn observe_batch(&self, size: usize) {
        self.batch.observe(size as f64);
    }

    /// Rejections so far for one reason (tests and logs).
    pub fn rejected_count(&self, code: ErrorCode) -> u64 {
        self.rejected
            .lock()
            .map(|m| m.get(code.as_str()).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// The text exposition format.
    pub fn render(&self, gauges: Option<Gauges>) -> String {
        let mut out = String::with_capacity(4096);
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {v}");
        };
        counter(
            &mut out,
            "attest_reports_accepted_total",
            "Reports stored.",
            self.accepted.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "attest_reports_duplicate_total",
            "Reports received again and answered with their first receipt.",
            self.duplicates.load(Ordering::Relaxed),
        );
        render_labeled(
            &mut out,
            "attest_reports_rejected_total",
            "Reports refused, by error code.",
            &self.rejected,
        );
        counter(
            &mut out,
            "attest_enrollments_total",
            "Agents enrolled.",
            self.enrolled.load(Ordering::Relaxed),
        );
        render_labeled(
            &mut out,
            "attest_enrollments_rejected_total",
            "Enrollments refused, by error code.",
            &self.enroll_rejected,
        );
        self.latency.render(
            &mut out,
            "attest_ingest_duration_seconds",
            "Time from receiving a report to answering it.",
        );
        self.batch.render(
            &mut out,
            "attest_ingest_batch_size",
            "Reports per ingest transaction.",
        );
        let _ = writeln!(
            out,
            "# HELP attest_connections_open Client connections held now.\n\
             # TYPE attest_connections_open gauge\n\
             attest_connections_open {}",
            self.open.load(Ordering::Relaxed)
        );
        render_labeled(
            &mut out,
            "attest_connections_refused_total",
            "Connections closed at accept, by limit.",
            &self.conn_refused,
        );
        render_labeled(
            &mut out,
            "attest_connections_closed_total",
            "Connections closed by a limit while open, by limit.",
            &self.conn_closed,
        );
        render_labeled(
            &mut out,
            "attest_requests_refused_total",
            "Requests answered without being served, by limit.",
            &self.req_refused,
        );
        counter(
            &mut out,
            "attest_accept_errors_total",
            "Failures to accept a connection (e.g. out of file descriptors).",
            self.accept_errors.load(Ordering::Relaxed),
        );
        if let Some(g) = gauges {
            let gauge = |out: &mut String, name: &str, help: &str, line: String| {
                let _ = writeln!(out, "# HELP {name} {help}");
                let _ = writeln!(out, "# TYPE {name} gauge");
                out.push_str(&line);
            };
            gauge(
                &mut out,
                "attest_agents_enrolled",
                "Enrolled agents that are not revoked.",
                format!("attest_agents_enrolled {}\n", g.agents),
            );
            gauge(
                &mut out,
                "attest_log_tree_size",
                "Leaves in the Merkle log.",
                format!("attest_log_tree_size {}\n", g.tree_size),
            );
            gauge(
                &mut out,
                "attest_db_pool_connections",
                "Database pool connections.",
                format!(
                    "attest_db_pool_connections{{state=\"open\"}} {}\n\
                     attest_db_pool_connections{{state=\"idle\"}} {}\n\
                     attest_db_pool_connections{{state=\"max\"}} {}\n",
                    g.pool.size, g.pool.idle, g.pool.max
                ),
            );
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
        assert!(text.contains("attest_agents_enrolled 7\n"));
        assert!(text.contains("attest_db_pool_connections{state=\"idle\"} 2\n"));
        assert_eq!(m.rejected_count(ErrorCode::BadSignature), 2);
        assert!(text.contains("attest_connections_open 0\n"), "{text}");
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
