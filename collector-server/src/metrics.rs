//! Prometheus metrics: a small hand-written registry (counters and histograms on
//! atomics) rendered in the text exposition format at `GET /metrics`.
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
//! | `attest_agents_enrolled` | gauge | (not revoked) |
//! | `attest_log_tree_size` | gauge | |
//! | `attest_db_pool_connections` | gauge | `state` = `open`, `idle`, `max` |
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
    conflicts_unrecorded: AtomicU64,
    conflict_quota_reached: AtomicU64,
    enrolled: AtomicU64,
    enroll_rejected: Mutex<BTreeMap<&'static str, u64>>,
    latency: Histogram,
    batch: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            accepted: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            rejected: Mutex::new(BTreeMap::new()),
            conflicts_unrecorded: AtomicU64::new(0),
            conflict_quota_reached: AtomicU64::new(0),
            enrolled: AtomicU64::new(0),
            enroll_rejected: Mutex::new(BTreeMap::new()),
            latency: Histogram::new(LATENCY_BOUNDS),
            batch: Histogram::new(BATCH_BOUNDS),
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

    /// Chain conflicts refused without a record (the agents' quotas were used up).
    pub fn conflicts_unrecorded(&self, n: u64) {
        self.conflicts_unrecorded.fetch_add(n, Ordering::Relaxed);
    }

    /// An agent reached its chain-conflict quota.
    pub fn conflict_quota_reached(&self) {
        self.conflict_quota_reached.fetch_add(1, Ordering::Relaxed);
    }

    pub fn enrolled(&self) {
        self.enrolled.fetch_add(1, Ordering::Relaxed);
    }

    pub fn enroll_rejected(&self, code: ErrorCode) {
        bump(&self.enroll_rejected, code.as_str());
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
            "attest_chain_conflicts_unrecorded_total",
            "Forks and broken links refused without a record: the agent's quota was used up.",
            self.conflicts_unrecorded.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "attest_chain_conflict_quota_reached_total",
            "Times an agent reached its quota of recorded forks and broken links.",
            self.conflict_quota_reached.load(Ordering::Relaxed),
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
        m.conflicts_unrecorded(3);
        m.conflicts_unrecorded(0);
        m.conflict_quota_reached();
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
        assert!(text.contains("attest_chain_conflicts_unrecorded_total 3\n"));
        assert!(text.contains("attest_chain_conflict_quota_reached_total 1\n"));
        assert!(text.contains("attest_ingest_duration_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("attest_ingest_duration_seconds_bucket{le=\"0.05\"} 2\n"));
        assert!(text.contains("attest_ingest_duration_seconds_count 2\n"));
        assert!(text.contains("attest_agents_enrolled 7\n"));
        assert!(text.contains("attest_db_pool_connections{state=\"idle\"} 2\n"));
        assert_eq!(m.rejected_count(ErrorCode::BadSignature), 2);
    }
}
