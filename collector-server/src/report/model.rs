//! The fleet report as data: what every format renders, and, serialized, the JSON
//! format itself (`attest.fleet-report/v1`, documented in `docs/report-format.md`).

use std::collections::HashMap;

use serde::Serialize;

use super::evidence::{EnvelopeFacts, Excerpt, Hardware, Signature};
use super::{Gathered, Options, When};
use crate::catalog::{Catalog, CountsAs, FactValue, MappingSource, Rule, Theme};
use crate::evaluate::{
    ChainStatus, Counts, FleetData, Freshness, PeriodEval, Plan, State, evaluate_fleet_map,
    evaluate_period,
};
use crate::fleet::{Millis, Waiver, WaiverScope};

/// The JSON report's schema id.
pub const REPORT_FORMAT: &str = "attest.fleet-report/v1";

/// RFC 3339, UTC, whole seconds.
pub fn rfc3339(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| format!("@{ms}ms"))
}

#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    pub schema: &'static str,
    /// The report's id (a name-based UUID of its generation and evaluation times; the
    /// OSCAL document's UUID).
    pub report_id: String,
    pub generated_at: String,
    pub scope: Scope,
    pub summary: Summary,
    /// Every control of the catalogue, assessed by Attest or not.
    pub controls: Vec<ControlEntry>,
    /// Hosts in scope, by agent id.
    #[serde(serialize_with = "hosts_on_all_cores")]
    pub hosts: Vec<HostEntry>,
    /// Every waiver on record, with its status at the evaluation time.
    pub waivers: Vec<WaiverEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<PeriodEntry>,
}

/// Serializes the hosts as a sequence whose elements workers render to JSON text on
/// all cores, in chunks, written in order as they are.
fn hosts_on_all_cores<S: serde::Serializer>(hosts: &[HostEntry], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::{Error as _, SerializeSeq as _};
    let mut seq = s.serialize_seq(Some(hosts.len()))?;
    crate::par::for_each_ordered(
        hosts,
        64,
        |chunk| {
            chunk
                .iter()
                .map(serde_json::value::to_raw_value)
                .collect::<Result<Vec<_>, _>>()
        },
        |rendered| {
            for host in rendered.map_err(S::Error::custom)? {
                seq.serialize_element(&host)?;
            }
            Ok(())
        },
    )?;
    seq.end()
}

#[derive(Debug, Clone, Serialize)]
pub struct Scope {
    /// `as_of` or `period`.
    pub kind: &'static str,
    /// The moment evaluated: the `--as-of` time, or the end of the period.
    pub as_of: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<PeriodBounds>,
    pub freshness_window_hours: i64,
    pub framework: String,
    /// The organisation named with `--organization`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    pub mapping: MappingSource,
    pub log: LogEntry,
    pub hosts_in_scope: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeriodBounds {
    pub from: String,
    pub to: String,
}

/// The collector's Merkle log when the report was made.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub tree_size: u64,
    /// Lowercase hex.
    pub root_hash: String,
    /// The key id of the log-signing key (`None` before the first `serve`).
    pub key_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub controls: usize,
    pub controls_assessed: usize,
    /// Assessed controls per fleet verdict.
    pub controls_by_verdict: Counts,
    pub hosts_in_scope: usize,
    pub hosts_fresh: usize,
    pub hosts_stale: usize,
    pub hosts_without_evidence: usize,
    pub hosts_with_chain_gaps: usize,
    pub hosts_with_chain_conflicts: usize,
    pub signatures_failed: usize,
    /// Host × check states.
    pub results: Counts,
}

#[derive(Debug, Clone, Serialize)]
pub struct ControlEntry {
    pub id: String,
    /// The id in OSCAL (`a.8.24`).
    pub oscal_id: String,
    pub title: String,
    pub theme: Theme,
    /// Whether some check is evidence for it.
    pub assessed: bool,
    /// The fleet's verdict: satisfied when every host in scope is satisfied or waived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<State>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<Counts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_satisfied: Option<f64>,
    pub checks: Vec<LinkEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LinkEntry {
    pub check: String,
    pub title: String,
    pub rationale: String,
    /// The mapping rules of the link: how a result counts for the control when its
    /// facts say so.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleEntry>,
}

/// A mapping rule as reports show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleEntry {
    /// `pass`, `fail`, `info` or `not_applicable`; absent: any decided status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    /// The path below the result's `facts`.
    pub fact: String,
    pub equals: FactValue,
    pub counts_as: CountsAs,
    pub rationale: String,
    /// `built-in`, or the mapping file that set it.
    pub origin: String,
}

impl RuleEntry {
    pub fn of(r: &Rule) -> RuleEntry {
        RuleEntry {
            status: r.status.map(|s| s.as_str()),
            fact: r.fact.clone(),
            equals: r.equals.clone(),
            counts_as: r.counts_as,
            rationale: r.rationale.clone(),
            origin: r.origin.clone(),
        }
    }

    /// `pass on macos with facts.basis = "xprotect" counts as not_satisfied`.
    pub fn text(&self) -> String {
        format!(
            "{} with facts.{} = {} counts as {}",
            self.status.unwrap_or("a result"),
            self.fact,
            self.equals,
            self.counts_as.as_str()
        )
    }
}

/// How a result counts for one control because mapping rules say so.
#[derive(Debug, Clone, Serialize)]
pub struct CountedEntry {
    pub control: String,
    pub state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unwaived: Option<State>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiver: Option<String>,
    /// The rules that decided.
    pub rules: Vec<RuleEntry>,
    /// Why, in one line.
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct OsEntry {
    pub id: String,
    pub version_id: String,
    pub pretty_name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostEntry {
    pub agent_id: String,
    pub hostname: String,
    pub machine_id: String,
    pub os: OsEntry,
    pub kernel: String,
    pub enrolled_at: String,
    #[serde(skip_serializing_if = "Hardware::is_empty")]
    pub hardware: Hardware,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub software_packages: Option<u64>,
    /// The report the states come from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<EvidenceEntry>,
    /// `fresh`, `stale` or `none`.
    pub freshness: &'static str,
    pub chain: ChainEntry,
    pub controls: Vec<HostControl>,
    pub results: Vec<ResultEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvidenceEntry {
    pub seq: i64,
    pub log_index: i64,
    /// Lowercase hex SHA-256 of the signed statement (the DSSE payload).
    pub payload_sha256: String,
    pub collected_at: String,
    pub received_at: String,
    pub age_hours: i64,
    pub signature: Signature,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChainEntry {
    pub status: ChainStatus,
    /// Reports below the latest `seq` that never arrived.
    pub missing: i64,
    /// Replayed reports stored for the host by the time (`agent.replay`): links of
    /// its chain, never evidence.
    #[serde(skip_serializing_if = "is_zero")]
    pub replayed: i64,
    pub events: Vec<ChainEventEntry>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize)]
pub struct ChainEventEntry {
    /// `gap`, `late`, `fork`, `broken_link`, `host_renamed` or
    /// `conflict_quota_reached`.
    pub kind: String,
    pub seq: i64,
    pub detail: String,
    pub at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostControl {
    pub control: String,
    pub state: State,
    /// The state without waivers, when it differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unwaived: Option<State>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waivers: Vec<String>,
    /// Why a check's result counts as it does for this control, where a mapping rule
    /// decided (`check: note`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResultEntry {
    pub check: String,
    /// The agent's status; absent when the check is not in the report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    pub state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unwaived: Option<State>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why the state is what it is, when the result alone does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The controls this check is evidence for.
    pub controls: Controls,
    /// Controls for which a mapping rule decides how this result counts (instead of
    /// `state`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub counted: Vec<CountedEntry>,
    /// The sources the result was decided from (path or command, SHA-256), with the
    /// deciding lines (`excerpt`) for results that did not pass (empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Excerpt>,
}

impl ResultEntry {
    /// How the result counts for a control: the mapping rule's entry, if one decided.
    pub fn counted_for(&self, control: &str) -> Option<&CountedEntry> {
        self.counted.iter().find(|k| k.control == control)
    }

    /// The result's state for a control (a mapping rule's, where one decided).
    pub fn state_for(&self, control: &str) -> State {
        self.counted_for(control).map_or(self.state, |k| k.state)
    }
}

/// Control ids, shared between the results of one check on every host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Controls(pub std::sync::Arc<[String]>);

impl Controls {
    pub fn join(&self, sep: &str) -> String {
        self.0.join(sep)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.0.iter()
    }
}

impl Serialize for Controls {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct WaiverEntry {
    pub id: String,
    pub scope: WaiverScope,
    /// Agent ids or hostnames; empty means every host.
    pub hosts: Vec<String>,
    pub justification: String,
    pub approver: String,
    pub created_at: String,
    pub created_by: String,
    pub expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
    /// At the evaluation time: `active`, `expired`, `revoked` or `not_yet`.
    pub status: &'static str,
    /// Host × control states it turned into waived at the evaluation time.
    pub applied: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeriodEntry {
    pub from: String,
    pub to: String,
    pub days: Vec<DayEntry>,
    pub changes: Vec<ChangeEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DayEntry {
    pub day: String,
    pub at: String,
    pub controls: Vec<DayControl>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DayControl {
    pub control: String,
    pub counts: Counts,
    pub share_satisfied: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChangeEntry {
    pub at: String,
    pub agent_id: String,
    pub hostname: String,
    pub control: String,
    /// `None`: not in scope.
    pub from: Option<State>,
    pub to: Option<State>,
    pub causes: Vec<String>,
}

fn waiver_status(w: &Waiver, at: Millis) -> &'static str {
    if w.revoked_at.is_some_and(|r| r <= at) {
        "revoked"
    } else if w.expires_at <= at {
        "expired"
    } else if w.created_at > at {
        "not_yet"
    } else {
        "active"
    }
}

fn host_entry(
    eval: &crate::evaluate::HostEval<'_>,
    controls_of: &[Controls],
    facts: Option<&EnvelopeFacts>,
    at: Millis,
) -> HostEntry {
    let h = eval.host;
    let report = eval.report;
    let results = eval
        .checks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let res = c
                .result
                .and_then(|idx| report.and_then(|r| r.results.get(idx)));
            ResultEntry {
                check: c.check.clone(),
                status: c.status.map(|s| s.as_str()),
                state: c.state,
                unwaived: (c.unwaived != c.state).then_some(c.unwaived),
                waiver: c.waiver.clone(),
                summary: res.map(|r| r.summary.clone()),
                reason: res.and_then(|r| r.reason.clone()),
                note: c.note.clone(),
                controls: controls_of.get(i).cloned().unwrap_or_default(),
                counted: c
                    .counted
                    .iter()
                    .map(|k| CountedEntry {
                        control: k.control.clone(),
                        state: k.state,
                        unwaived: (k.unwaived != k.state).then_some(k.unwaived),
                        waiver: k.waiver.clone(),
                        rules: k.rules.iter().map(|r| RuleEntry::of(r)).collect(),
                        note: k.note.clone(),
                    })
                    .collect(),
                evidence: facts
                    .and_then(|f| f.excerpts.get(&c.check))
                    .cloned()
                    .unwrap_or_default(),
            }
        })
        .collect();
    HostEntry {
        agent_id: h.agent_id.clone(),
        hostname: h.hostname.clone(),
        machine_id: h.machine_id.clone(),
        os: OsEntry {
            id: h.os_id.clone(),
            version_id: h.os_version_id.clone(),
            pretty_name: h.os_pretty_name.clone(),
        },
        kernel: h.kernel.clone(),
        enrolled_at: rfc3339(h.enrolled_at),
        hardware: facts.map(|f| f.hardware.clone()).unwrap_or_default(),
        software_packages: facts.and_then(|f| f.packages),
        evidence: report.map(|r| EvidenceEntry {
            seq: r.seq,
            log_index: r.log_index,
            payload_sha256: r.payload_sha256.clone(),
            collected_at: rfc3339(r.collected_at),
            received_at: rfc3339(r.received_at),
            age_hours: (at - r.collected_at) / 3_600_000,
            signature: facts.map_or_else(
                || Signature::Failed("the stored envelope was not found".into()),
                |f| f.signature.clone(),
            ),
        }),
        freshness: match eval.freshness {
            Freshness::None => "none",
            Freshness::Fresh { .. } => "fresh",
            Freshness::Stale { .. } => "stale",
        },
        chain: ChainEntry {
            status: eval.chain,
            missing: eval.missing,
            replayed: eval.replayed,
            events: eval
                .events
                .iter()
                .map(|e| ChainEventEntry {
                    kind: e.kind.clone(),
                    seq: e.seq,
                    detail: e.detail.clone(),
                    at: rfc3339(e.at),
                })
                .collect(),
        },
        controls: eval
            .controls
            .iter()
            .map(|c| HostControl {
                control: c.control.clone(),
                state: c.state,
                unwaived: (c.unwaived != c.state).then_some(c.unwaived),
                waivers: c.waivers.clone(),
                rules: c
                    .checks
                    .iter()
                    .filter_map(|&i| eval.checks.get(i))
                    .filter(|k| k.applies)
                    .flat_map(|k| {
                        k.counted
                            .iter()
                            .filter(|n| n.control == c.control)
                            .map(|n| format!("{}: {}", k.check, n.note))
                    })
                    .collect(),
            })
            .collect(),
        results,
    }
}

/// Evaluates and assembles the report (hosts on all cores). `tick` gets the number of
/// hosts done now and then.
pub fn build(
    catalog: &Catalog,
    g: &Gathered,
    opts: &Options,
    tick: &(dyn Fn(usize) + Sync),
) -> FleetReport {
    let at = opts.when.at();
    let plan = Plan::new(catalog);
    let controls_of: Vec<Controls> = plan
        .check_controls
        .iter()
        .map(|c| Controls(c.clone().into()))
        .collect();
    let done = std::sync::atomic::AtomicUsize::new(0);
    // Each host's evaluation becomes its entry at once and is dropped.
    let (hosts, control_summaries) = evaluate_fleet_map(
        &plan,
        at,
        opts.window,
        FleetData {
            hosts: &g.hosts,
            reports: &g.latest,
            counts: &g.counts,
            events: &g.events,
            waivers: &g.waivers,
        },
        |h| {
            let facts = h.report.and_then(|r| g.facts.get(&r.log_index));
            let entry = host_entry(&h, &controls_of, facts, at);
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if n.is_multiple_of(256) {
                tick(n);
            }
            entry
        },
    );
    let mut results = Counts::default();
    let mut applied: HashMap<&str, usize> = HashMap::new();
    for h in &hosts {
        for r in &h.results {
            results.add(r.state);
        }
        for c in &h.controls {
            for w in &c.waivers {
                *applied.entry(w.as_str()).or_default() += 1;
            }
        }
    }
    let summaries: HashMap<&str, &crate::evaluate::ControlSummary> = control_summaries
        .iter()
        .map(|c| (c.control.as_str(), c))
        .collect();
    let mut verdicts = Counts::default();
    let controls: Vec<ControlEntry> = catalog
        .controls()
        .iter()
        .map(|c| {
            let sum = summaries.get(c.id.as_str());
            if let Some(s) = sum {
                verdicts.add(s.counts.verdict());
            }
            ControlEntry {
                id: c.id.clone(),
                oscal_id: c.oscal_id(),
                title: c.title.clone(),
                theme: c.theme,
                assessed: sum.is_some(),
                verdict: sum.map(|s| s.counts.verdict()),
                counts: sum.map(|s| s.counts),
                share_satisfied: sum.map(|s| s.counts.share_satisfied()),
                checks: catalog
                    .links_of_control(&c.id)
                    .map(|l| LinkEntry {
                        check: l.check.clone(),
                        title: catalog
                            .check(&l.check)
                            .map(|k| k.title.clone())
                            .unwrap_or_default(),
                        rationale: l.rationale.clone(),
                        rules: catalog
                            .rules_of_link(&l.check, &c.id)
                            .map(RuleEntry::of)
                            .collect(),
                    })
                    .collect(),
            }
        })
        .collect();
    let summary = Summary {
        controls: controls.len(),
        controls_assessed: summaries.len(),
        controls_by_verdict: verdicts,
        hosts_in_scope: hosts.len(),
        hosts_fresh: hosts.iter().filter(|h| h.freshness == "fresh").count(),
        hosts_stale: hosts.iter().filter(|h| h.freshness == "stale").count(),
        hosts_without_evidence: hosts.iter().filter(|h| h.freshness == "none").count(),
        hosts_with_chain_gaps: hosts
            .iter()
            .filter(|h| h.chain.status == ChainStatus::Gaps)
            .count(),
        hosts_with_chain_conflicts: hosts
            .iter()
            .filter(|h| h.chain.status == ChainStatus::Conflict)
            .count(),
        signatures_failed: hosts
            .iter()
            .filter(|h| {
                h.evidence
                    .as_ref()
                    .is_some_and(|e| !e.signature.is_verified())
            })
            .count(),
        results,
    };
    let waivers = g
        .waivers
        .iter()
        .map(|w| WaiverEntry {
            id: w.id.clone(),
            scope: w.scope.clone(),
            hosts: w.hosts.clone(),
            justification: w.justification.clone(),
            approver: w.approver.clone(),
            created_at: rfc3339(w.created_at),
            created_by: w.created_by.clone(),
            expires_at: rfc3339(w.expires_at),
            revoked_at: w.revoked_at.map(rfc3339),
            revoked_by: w.revoked_by.clone(),
            status: waiver_status(w, at),
            applied: applied.get(w.id.as_str()).copied().unwrap_or(0),
        })
        .collect();
    let period = match (&opts.when, &g.period_reports) {
        (When::Period { from, to }, Some(reports)) => Some(period_entry(evaluate_period(
            catalog,
            *from,
            *to,
            opts.window,
            FleetData {
                hosts: &g.hosts,
                reports,
                counts: &g.counts,
                events: &g.events,
                waivers: &g.waivers,
            },
        ))),
        _ => None,
    };
    FleetReport {
        schema: REPORT_FORMAT,
        report_id: super::oscal::report_id(&rfc3339(opts.generated_at), &rfc3339(at)),
        generated_at: rfc3339(opts.generated_at),
        scope: Scope {
            kind: match opts.when {
                When::AsOf(_) => "as_of",
                When::Period { .. } => "period",
            },
            as_of: rfc3339(at),
            period: match opts.when {
                When::Period { from, to } => Some(PeriodBounds {
                    from: rfc3339(from),
                    to: rfc3339(to),
                }),
                When::AsOf(_) => None,
            },
            freshness_window_hours: opts.window / 3_600_000,
            framework: catalog.framework.clone(),
            organization: opts.organization.clone(),
            mapping: catalog.source.clone(),
            log: g.log.clone(),
            hosts_in_scope: hosts.len(),
        },
        summary,
        controls,
        hosts,
        waivers,
        period,
    }
}

fn period_entry(p: PeriodEval) -> PeriodEntry {
    PeriodEntry {
        from: rfc3339(p.from),
        to: rfc3339(p.to),
        days: p
            .days
            .iter()
            .map(|d| DayEntry {
                day: d.day.clone(),
                at: rfc3339(d.at),
                controls: p
                    .controls
                    .iter()
                    .zip(&d.counts)
                    .map(|(c, k)| DayControl {
                        control: c.clone(),
                        counts: *k,
                        share_satisfied: k.share_satisfied(),
                    })
                    .collect(),
            })
            .collect(),
        // Moved, not copied: a period over a large fleet has hundreds of thousands.
        changes: p
            .changes
            .into_iter()
            .map(|c| ChangeEntry {
                at: rfc3339(c.at),
                agent_id: c.agent_id,
                hostname: c.hostname,
                control: c.control,
                from: c.from,
                to: c.to,
                causes: c.causes,
            })
            .collect(),
    }
}
