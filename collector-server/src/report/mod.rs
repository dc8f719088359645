//! Fleet reports: `attest-collector report --format html|csv|json|oscal`.
//!
//! [`gather`] reads what the store holds for a time or a period (hosts, the latest
//! report of each, chain counts and events, waivers) and verifies and decodes the
//! cited envelopes once each, on all cores ([`evidence`]: signature status, the results
//! of a verified payload, evidence excerpts, hardware facts); [`model::build`]
//! evaluates ([`crate::evaluate`], hosts on all cores) and assembles one
//! [`model::FleetReport`]; each format renders that, chunks of hosts on all cores
//! written in order ([`crate::par`]): [`html`], [`csv`], [`json`] (the model serialized),
//! [`oscal`].

pub mod bundle;
pub mod csv;
pub mod evidence;
pub mod html;
pub mod json;
pub mod model;
pub mod oscal;
pub mod progress;
mod svg;
pub mod verify;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use attest_proto::{decode_public_key, keyid};

use crate::catalog::Catalog;
use crate::fleet::{ChainCount, ChainEvent, HostRecord, Millis, ReportRecord, Waiver};
use crate::store::StoreError;
use crate::store::reporting::Stores;

pub use evidence::EnvelopeFacts;
pub use model::{FleetReport, LogEntry, build, rfc3339};
pub use progress::Progress;

/// The metadata key under which the database remembers its log key (as `serve` sets it).
pub const LOG_KEY_META: &str = "log_public_key";

/// A report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("writing the report: {0}")]
    Write(#[from] std::io::Error),
    #[error("rendering the HTML report: {0}")]
    Template(#[from] askama::Error),
    #[error("encoding the report: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Invalid(String),
}

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Csv,
    Json,
    Oscal,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "html" => Some(Format::Html),
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            "oscal" => Some(Format::Oscal),
            _ => None,
        }
    }
}

/// `1 host`, `2 hosts`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A point in time or a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    AsOf(Millis),
    Period { from: Millis, to: Millis },
}

impl When {
    /// The moment whose state the report shows: the time, or the end of the period.
    pub fn at(&self) -> Millis {
        match self {
            When::AsOf(t) => *t,
            When::Period { to, .. } => *to,
        }
    }
}

/// How to make a report.
#[derive(Debug, Clone)]
pub struct Options {
    pub when: When,
    /// The freshness window.
    pub window: Millis,
    /// When the report is made (now).
    pub generated_at: Millis,
    /// Per control, how many hosts the HTML report lists with their evidence (the
    /// rest are counted and are in the CSV and JSON reports).
    pub html_host_limit: usize,
    /// The organisation whose fleet the report covers (`--organization`), shown on
    /// the report.
    pub organization: Option<String>,
}

/// What the store held for a report.
#[derive(Debug, Clone)]
pub struct Gathered {
    pub hosts: Vec<HostRecord>,
    /// The latest report of each agent at [`When::at`] that is not a replay, with the
    /// results of its verified payload (the stored rows where the envelope does not
    /// verify).
    pub latest: Vec<ReportRecord>,
    pub counts: HashMap<String, ChainCount>,
    /// Chain events recorded by [`When::at`].
    pub events: Vec<ChainEvent>,
    pub waivers: Vec<Waiver>,
    /// For a period: its reports.
    pub period_reports: Option<Vec<ReportRecord>>,
    /// Decoded latest envelopes, by log index.
    pub facts: HashMap<i64, EnvelopeFacts>,
    pub log: LogEntry,
}

/// Reads everything a report needs; of each result's facts, what the mapping rules
/// of `catalog` read.
pub async fn gather(
    stores: &Stores,
    catalog: &Catalog,
    opts: &Options,
    progress: &Progress,
) -> Result<Gathered, ReportError> {
    let wants = catalog.rule_facts();
    let at = opts.when.at();
    let r = stores.reports.as_ref();
    progress.step("reading hosts and reports", 0);
    let started = std::time::Instant::now();
    let hosts = r.hosts().await?;
    tracing::debug!(
        ms = started.elapsed().as_millis(),
        hosts = hosts.len(),
        "read hosts"
    );
    // The results come from the verified envelopes below (each payload is decoded
    // once); the stored rows only where an envelope does not verify.
    let mut latest = r.latest_report_heads(at).await?;
    tracing::debug!(
        ms = started.elapsed().as_millis(),
        reports = latest.len(),
        "read latest reports"
    );
    let counts: HashMap<String, ChainCount> = r.chain_counts(at).await?.into_iter().collect();
    tracing::debug!(ms = started.elapsed().as_millis(), "read chain counts");
    let events = r.chain_events_until(at).await?;
    let waivers = r.waivers().await?;
    let period_reports = match opts.when {
        When::Period { from, to } => {
            progress.step("reading the period's reports", 0);
            let mut reports = r.reports_between(from, to).await?;
            rule_facts_of(stores, catalog, &wants, &hosts, &mut reports).await?;
            Some(reports)
        }
        When::AsOf(_) => None,
    };
    let head = stores.store.log_head().await?;
    let key_id = stores
        .store
        .meta(LOG_KEY_META)
        .await?
        .and_then(|k| decode_public_key(&k).ok())
        .map(|k| keyid(&k));

    let by_agent: HashMap<&str, &HostRecord> =
        hosts.iter().map(|h| (h.agent_id.as_str(), h)).collect();
    let wanted: Vec<i64> = latest
        .iter()
        .filter(|l| {
            by_agent
                .get(l.agent_id.as_str())
                .is_some_and(|h| h.in_scope_at(at))
        })
        .map(|l| l.log_index)
        .collect();
    let sha: HashMap<i64, (&str, &str)> = latest
        .iter()
        .map(|l| {
            (
                l.log_index,
                (l.agent_id.as_str(), l.payload_sha256.as_str()),
            )
        })
        .collect();
    progress.step("verifying envelopes", wanted.len());
    // Fetch the next chunk of envelopes while this one is verified on all cores.
    let mut facts = HashMap::with_capacity(wanted.len());
    let fetch = |chunk: &[i64]| {
        let reports = std::sync::Arc::clone(&stores.reports);
        let chunk = chunk.to_vec();
        tokio::spawn(async move { reports.envelopes(&chunk).await })
    };
    let mut chunks = wanted.chunks(1000);
    let mut pending = chunks.next().map(fetch);
    let (mut waited, mut decoding) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    while let Some(handle) = pending.take() {
        let wait = std::time::Instant::now();
        let envs = handle
            .await
            .map_err(|e| ReportError::Invalid(format!("reading envelopes: {e}")))??;
        waited += wait.elapsed();
        let decode = std::time::Instant::now();
        pending = chunks.next().map(fetch);
        let items: Vec<(i64, &HostRecord, &str, &[u8])> = envs
            .iter()
            .filter_map(|e| {
                let (agent, sha) = sha.get(&e.log_index)?;
                let host = by_agent.get(agent)?;
                Some((e.log_index, *host, *sha, e.envelope.as_slice()))
            })
            .collect();
        let tick = || progress.tick();
        facts.extend(evidence::decode_all(&items, &wants, &tick));
        decoding += decode.elapsed();
    }
    tracing::debug!(
        waited_ms = waited.as_millis(),
        decoding_ms = decoding.as_millis(),
        "envelopes"
    );
    tracing::debug!(ms = started.elapsed().as_millis(), "verified envelopes");
    drop(sha);
    drop(by_agent);
    let mut unverified = Vec::new();
    for report in &mut latest {
        let f = facts.get_mut(&report.log_index);
        // A report whose signed statement is a replay is never evidence, even one
        // stored unmarked (`fsck` names it): evaluation then finds no evidence.
        if f.as_ref().is_some_and(|f| f.replay) {
            report.replay = true;
        }
        match f.and_then(|f: &mut EnvelopeFacts| f.results.take()) {
            Some(results) => report.results = results,
            None => unverified.push(report.log_index),
        }
    }
    if !unverified.is_empty() {
        let rows = r.results(&unverified).await?;
        let position: HashMap<i64, usize> = latest
            .iter()
            .enumerate()
            .map(|(i, l)| (l.log_index, i))
            .collect();
        for (index, result) in rows {
            if let Some(report) = position.get(&index).and_then(|&i| latest.get_mut(i)) {
                report.results.push(result);
            }
        }
    }
    tracing::debug!(
        ms = started.elapsed().as_millis(),
        stored_rows = unverified.len(),
        "results"
    );
    Ok(Gathered {
        hosts,
        latest,
        counts,
        events,
        waivers,
        period_reports,
        facts,
        log: LogEntry {
            tree_size: head.tree_size,
            root_hash: hex::encode(head.root),
            key_id,
        },
    })
}

/// Fills in, from the stored envelopes, the facts mapping rules read of the stored
/// results of `reports` (a period's, read as rows without facts): only of reports
/// with a result some rule applies to, each envelope verified as for the latest
/// reports. A result whose envelope does not verify keeps no facts, and a rule that
/// needs them counts it as not assessed.
async fn rule_facts_of(
    stores: &Stores,
    catalog: &Catalog,
    wants: &crate::catalog::FactWants,
    hosts: &[HostRecord],
    reports: &mut [ReportRecord],
) -> Result<(), ReportError> {
    let by_agent: HashMap<&str, &HostRecord> =
        hosts.iter().map(|h| (h.agent_id.as_str(), h)).collect();
    // Only reports with a result some rule applies to (its check, its status, its
    // host's OS): a rule about Macs never reads a Linux host's envelopes.
    let ruled = |os_id: &str, res: &crate::fleet::ResultRecord| {
        crate::evaluate::parse_status(&res.status).is_some_and(|st| {
            catalog
                .rules()
                .iter()
                .any(|rule| rule.check == res.check && rule.applies_to(st, os_id))
        })
    };
    let wanted: Vec<i64> = reports
        .iter()
        .filter(|r| {
            by_agent
                .get(r.agent_id.as_str())
                .is_some_and(|h| r.results.iter().any(|res| ruled(&h.os_id, res)))
        })
        .map(|r| r.log_index)
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let position: HashMap<i64, usize> = reports
        .iter()
        .enumerate()
        .map(|(i, r)| (r.log_index, i))
        .collect();
    for chunk in wanted.chunks(1000) {
        let envs = stores.reports.envelopes(chunk).await?;
        let items: Vec<(i64, &HostRecord, &str, &[u8])> = envs
            .iter()
            .filter_map(|e| {
                let report = reports.get(*position.get(&e.log_index)?)?;
                let host = by_agent.get(report.agent_id.as_str())?;
                Some((
                    e.log_index,
                    *host,
                    report.payload_sha256.as_str(),
                    e.envelope.as_slice(),
                ))
            })
            .collect();
        let decoded = evidence::decode_all(&items, wants, &|| {});
        for (index, f) in decoded {
            let (Some(report), Some(results)) = (
                position.get(&index).and_then(|&i| reports.get_mut(i)),
                f.results,
            ) else {
                continue;
            };
            for signed in results {
                if let Some(res) = report.results.iter_mut().find(|r| r.check == signed.check) {
                    res.facts = signed.facts;
                }
            }
        }
    }
    Ok(())
}

/// Renders a report in a format.
pub fn render(
    format: Format,
    report: &FleetReport,
    catalog: &Catalog,
    opts: &Options,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    match format {
        Format::Html => html::write(report, opts, out),
        Format::Csv => csv::write(report, out),
        Format::Json => json::write(report, out),
        Format::Oscal => oscal::write(report, catalog, out),
    }
}

/// Makes a report into a file (written to a temporary name, then renamed).
pub async fn to_file(
    stores: &Stores,
    catalog: &Catalog,
    format: Format,
    opts: &Options,
    path: &Path,
    progress: &Progress,
) -> Result<FleetReport, ReportError> {
    let started = std::time::Instant::now();
    let gathered = gather(stores, catalog, opts, progress).await?;
    progress.step("evaluating", gathered.latest.len());
    let report = build(catalog, &gathered, opts, &|i| progress.set(i));
    tracing::debug!(ms = started.elapsed().as_millis(), "evaluated");
    drop(gathered);
    progress.step("writing", 0);
    write_file(path, |out| render(format, &report, catalog, opts, out))?;
    tracing::debug!(ms = started.elapsed().as_millis(), "written");
    progress.finish();
    Ok(report)
}

/// Writes a file through a buffer, to a temporary name renamed into place.
pub fn write_file(
    path: &Path,
    body: impl FnOnce(&mut dyn Write) -> Result<(), ReportError>,
) -> Result<(), ReportError> {
    let io = |source: std::io::Error| ReportError::Io {
        path: path.display().to_string(),
        source,
    };
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("out")
    ));
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let result = body(&mut w);
    let result = result.and_then(|()| w.flush().map_err(ReportError::Write));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    drop(w);
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod bundle_tests;

#[cfg(test)]
mod v2_tests;

#[cfg(test)]
mod rules_tests;
