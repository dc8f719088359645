//! Evaluation: from stored evidence to the state of every control on every host.
//!
//! Pure functions over data the store has already read ([`crate::fleet`] values);
//! time is a parameter. For a host at time `T`:
//!
//! 1. The host is in scope when it was enrolled by `T` and not revoked by `T`.
//! 2. Its evidence is its latest report received by `T` (highest `seq`) that is not a
//!    replay: a report decided from recorded captures (`agent.replay`) is stored but
//!    never evidence. With none, every check is **not assessed**. When the report was
//!    collected more than the freshness window before `T` (default 7 days), every
//!    check is **stale**.
//! 3. Otherwise each check's result decides: `pass`, `info` and `not_applicable` →
//!    **satisfied** (`not_applicable`: the thing checked is absent, so nothing on the
//!    host falls short); `fail` → **not satisfied**; `unknown` or a check missing from
//!    the report → **not assessed**. A check that *never applies on the host's OS*
//!    (`not_applicable` with the catalogue's reason for it, e.g.
//!    `disk.recovery_key_escrow` on Linux) is no evidence at all: it is **not
//!    assessed**, and step 6 leaves it out of its controls.
//!    A mapping rule ([`crate::catalog::Rule`], `[[rule]]` in the mapping file) may
//!    then decide how a fresh, decided result (not `unknown`) counts for one of its
//!    controls from the result's facts — e.g. a `malware.protection` pass with
//!    `facts.basis = "xprotect"` counts as **not satisfied** for 8.7 by default. The
//!    worst `counts_as` of the matching rules of a link decides; a rule that needs
//!    facts that could not be read (no verified envelope) makes the result **not
//!    assessed** for that control. The check's own state is unchanged; the control
//!    uses what the rule says, with the rule's rationale kept for reports.
//! 4. Chain conflicts: when a fork or a broken link has been recorded for the agent by
//!    `T`, its key has signed two different histories (a leaked key, or a cloned or
//!    restored agent), so a result from it can no longer be attributed to one machine:
//!    **satisfied** becomes **not assessed** (failures stay failures). Gaps (reports
//!    that never arrived) are reported with the host but change no state: every stored
//!    report is authentic, and the latest one decides.
//! 5. A waiver of a check, active at `T` and naming the host (or all hosts), turns a
//!    check that is not satisfied, stale or not assessed into **waived**; the state
//!    underneath is kept and shown.
//! 6. A control's state on a host combines the states of its checks that can apply
//!    on the host's OS, the worst first: not satisfied, stale, not assessed, waived,
//!    satisfied. A control none of whose checks applies on the host's OS is **not
//!    assessed** there: Attest holds no evidence for it on that OS. A waiver of the control,
//!    active at `T` and naming the host, turns anything but satisfied into waived.
//! 7. The fleet: per control, the number of hosts in scope in each state.
//!
//! [`evaluate_period`] replays the same rules over a period: the state of each
//! control on each host at every moment something could change it (a report
//! received, evidence turning stale, a waiver starting, expiring or revoked, a chain
//! conflict, enrollment or revocation), which yields every change of state, and the
//! share of hosts satisfied at the end of each day.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use attest_proto::Status;
use chrono::{DateTime, Days, NaiveTime, Utc};
use serde::Serialize;

use crate::catalog::{Catalog, CountsAs, Rule};
use crate::fleet::{ChainCount, ChainEvent, HostRecord, Millis, ReportRecord, Waiver, WaiverScope};

/// The default freshness window: 7 days.
pub const DEFAULT_WINDOW_MS: Millis = 7 * 24 * 3600 * 1000;

/// The state of a check or control on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Satisfied,
    Waived,
    NotAssessed,
    Stale,
    NotSatisfied,
}

impl State {
    /// In the order reports show them.
    pub const ALL: [State; 5] = [
        State::Satisfied,
        State::Waived,
        State::NotSatisfied,
        State::Stale,
        State::NotAssessed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Satisfied => "satisfied",
            State::Waived => "waived",
            State::NotAssessed => "not_assessed",
            State::Stale => "stale",
            State::NotSatisfied => "not_satisfied",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            State::Satisfied => "Satisfied",
            State::Waived => "Waived",
            State::NotAssessed => "Not assessed",
            State::Stale => "Stale",
            State::NotSatisfied => "Not satisfied",
        }
    }

    /// The worse of two states (the order of the enum).
    pub fn worst(self, other: State) -> State {
        self.max(other)
    }
}

/// Parses a stored status.
pub fn parse_status(s: &str) -> Option<Status> {
    Status::ALL.into_iter().find(|st| st.as_str() == s)
}

/// The integrity of a host's chain at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainStatus {
    /// Every report from 1 to the latest is stored; no conflict recorded.
    Intact,
    /// Some reports never arrived; no conflict.
    Gaps,
    /// A fork or broken link was recorded.
    Conflict,
    /// No report yet.
    Empty,
}

impl ChainStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChainStatus::Intact => "intact",
            ChainStatus::Gaps => "gaps",
            ChainStatus::Conflict => "conflict",
            ChainStatus::Empty => "empty",
        }
    }
}

/// Whether a chain event is a conflict (fork or broken link).
pub fn is_conflict(e: &ChainEvent) -> bool {
    e.kind == "fork" || e.kind == "broken_link"
}

/// The checks and the controls they evidence, fixed for one evaluation.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Known checks, in catalogue order.
    pub checks: Vec<String>,
    /// Per known check, the controls it is evidence for.
    pub check_controls: Vec<Vec<String>>,
    /// Assessed controls in catalogue order, with the indexes of their checks.
    pub controls: Vec<(String, Vec<usize>)>,
    /// Per known check, its mapping rules (any control), in mapping order.
    pub rules: Vec<Vec<Arc<Rule>>>,
}

impl Plan {
    pub fn new(catalog: &Catalog) -> Plan {
        let checks: Vec<String> = catalog.checks().iter().map(|c| c.id.clone()).collect();
        let index: HashMap<&str, usize> = checks
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let check_controls = checks
            .iter()
            .map(|c| catalog.controls_of_check(c).map(str::to_owned).collect())
            .collect();
        let controls = catalog
            .assessed_controls()
            .map(|c| {
                let idx = catalog
                    .checks_of_control(&c.id)
                    .filter_map(|k| index.get(k).copied())
                    .collect();
                (c.id.clone(), idx)
            })
            .collect();
        let rules = checks
            .iter()
            .map(|c| {
                catalog
                    .rules()
                    .iter()
                    .filter(|r| r.check == *c)
                    .map(|r| Arc::new(r.clone()))
                    .collect()
            })
            .collect();
        Plan {
            checks,
            check_controls,
            controls,
            rules,
        }
    }

    /// The position of an assessed control.
    pub fn control_index(&self, id: &str) -> Option<usize> {
        self.controls.iter().position(|(c, _)| c == id)
    }
}

/// One check on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckState {
    pub check: String,
    /// The result's status; `None` when the check is not in the evidence.
    pub status: Option<Status>,
    pub state: State,
    /// The state without waivers.
    pub unwaived: State,
    /// The waiver that applies, when the state is waived.
    pub waiver: Option<String>,
    /// Why the state is what it is, when the result alone does not say.
    pub note: Option<String>,
    /// The index of the result in the report.
    pub result: Option<usize>,
    /// False when the result says the check never applies on the host's OS (the
    /// catalogue's `not_applicable` reason): it is then no evidence for its controls.
    pub applies: bool,
    /// Controls for which a mapping rule decides how the result counts.
    pub counted: Vec<Counted>,
}

impl CheckState {
    /// How the result counts for a control: `(state, unwaived, waiver)`.
    pub fn for_control(&self, control: &str) -> (State, State, Option<&String>) {
        match self.counted.iter().find(|k| k.control == control) {
            Some(k) => (k.state, k.unwaived, k.waiver.as_ref()),
            None => (self.state, self.unwaived, self.waiver.as_ref()),
        }
    }
}

/// How a result counts for one of its controls because of mapping rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counted {
    pub control: String,
    pub state: State,
    /// The state without waivers.
    pub unwaived: State,
    pub waiver: Option<String>,
    /// The rules that matched (the worst decides), or that could not be applied.
    pub rules: Vec<Arc<Rule>>,
    /// Why, in one line: the rule's condition, where it comes from and its rationale.
    pub note: String,
}

impl CountsAs {
    pub fn state(self) -> State {
        match self {
            CountsAs::Satisfied => State::Satisfied,
            CountsAs::NotSatisfied => State::NotSatisfied,
            CountsAs::NotAssessed => State::NotAssessed,
        }
    }
}

/// What the mapping rules of a check make of a fresh, decided result for each of its
/// controls: `(control, unwaived state, rules, note)`; links no rule decides are left
/// out.
fn counted_by_rules(
    plan: &Plan,
    check: usize,
    os_id: &str,
    status: Status,
    facts: Option<&[(String, serde_json::Value)]>,
    conflict: Option<&ChainEvent>,
) -> Vec<(String, State, Vec<Arc<Rule>>, String)> {
    let (Some(rules), Some(controls)) = (plan.rules.get(check), plan.check_controls.get(check))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for control in controls {
        let applicable: Vec<&Arc<Rule>> = rules
            .iter()
            .filter(|r| r.control == *control && r.applies_to(status, os_id))
            .collect();
        if applicable.is_empty() {
            continue;
        }
        let Some(facts) = facts else {
            let paths: Vec<String> = applicable
                .iter()
                .map(|r| format!("facts.{}", r.fact))
                .collect();
            out.push((
                control.clone(),
                State::NotAssessed,
                applicable.into_iter().cloned().collect(),
                format!(
                    "not assessed for {control}: the mapping decides from {}, which could not \
                     be read (no verified envelope)",
                    paths.join(", ")
                ),
            ));
            continue;
        };
        let matched: Vec<Arc<Rule>> = applicable
            .into_iter()
            .filter(|r| r.matches(facts))
            .cloned()
            .collect();
        let Some(state) = matched
            .iter()
            .map(|r| r.counts_as.state())
            .reduce(State::worst)
        else {
            continue;
        };
        let why: Vec<String> = matched
            .iter()
            .filter(|r| r.counts_as.state() == state)
            .map(|r| {
                format!(
                    "{} ({} mapping rule): {}",
                    r.condition(),
                    r.origin,
                    r.rationale
                )
            })
            .collect();
        let (state, note) = match (state, conflict) {
            (State::Satisfied, Some(c)) => (
                State::NotAssessed,
                format!(
                    "would count as satisfied for {control} by {}, but a chain conflict is \
                     recorded ({} at seq {})",
                    why.join("; "),
                    c.kind,
                    c.seq
                ),
            ),
            _ => (
                state,
                format!(
                    "counts as {} for {control}: {}",
                    state.label().to_lowercase(),
                    why.join("; ")
                ),
            ),
        };
        out.push((control.clone(), state, matched, note));
    }
    out
}

/// True when `status`/`reason` is the catalogue's "never applies on this OS" for
/// `check` (the agent writes the catalogue's reason word for word).
pub fn never_applies(check: &str, status: Option<Status>, reason: Option<&str>) -> bool {
    status == Some(Status::NotApplicable)
        && reason.is_some_and(|why| {
            attest_proto::catalogue::check(check)
                .is_some_and(|c| c.not_applicable.iter().any(|(_, r)| *r == why))
        })
}

/// One control on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlState {
    pub control: String,
    pub state: State,
    pub unwaived: State,
    /// The waivers that apply (of the control or of its checks).
    pub waivers: Vec<String>,
    /// Indexes into [`HostEval::checks`].
    pub checks: Vec<usize>,
}

/// How old the evidence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Freshness {
    None,
    Fresh { age_ms: Millis },
    Stale { age_ms: Millis },
}

/// A host evaluated at a time.
#[derive(Debug, Clone)]
pub struct HostEval<'a> {
    pub host: &'a HostRecord,
    pub report: Option<&'a ReportRecord>,
    pub freshness: Freshness,
    pub chain: ChainStatus,
    /// Reports below the latest `seq` that never arrived.
    pub missing: i64,
    /// Replayed reports stored for the agent by the time (never evidence).
    pub replayed: i64,
    /// The chain events recorded for the agent by the time.
    pub events: Vec<&'a ChainEvent>,
    /// Known checks in catalogue order, then checks only the report has.
    pub checks: Vec<CheckState>,
    /// Assessed controls, in [`Plan::controls`] order.
    pub controls: Vec<ControlState>,
}

impl HostEval<'_> {
    /// The controls a check of this host is evidence for (none for unknown checks).
    pub fn check_state(&self, check: &str) -> Option<&CheckState> {
        self.checks.iter().find(|c| c.check == check)
    }
}

/// Hosts per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Counts {
    pub satisfied: usize,
    pub waived: usize,
    pub not_satisfied: usize,
    pub stale: usize,
    pub not_assessed: usize,
}

impl Counts {
    pub fn add(&mut self, s: State) {
        *self.slot(s) += 1;
    }

    fn slot(&mut self, s: State) -> &mut usize {
        match s {
            State::Satisfied => &mut self.satisfied,
            State::Waived => &mut self.waived,
            State::NotSatisfied => &mut self.not_satisfied,
            State::Stale => &mut self.stale,
            State::NotAssessed => &mut self.not_assessed,
        }
    }

    /// Adds another count to this one.
    pub fn merge(&mut self, other: &Counts) {
        for s in State::ALL {
            *self.slot(s) += other.get(s);
        }
    }

    pub fn get(&self, s: State) -> usize {
        match s {
            State::Satisfied => self.satisfied,
            State::Waived => self.waived,
            State::NotSatisfied => self.not_satisfied,
            State::Stale => self.stale,
            State::NotAssessed => self.not_assessed,
        }
    }

    pub fn total(&self) -> usize {
        self.satisfied + self.waived + self.not_satisfied + self.stale + self.not_assessed
    }

    /// Satisfied hosts over hosts in scope (0 with none).
    pub fn share_satisfied(&self) -> f64 {
        match self.total() {
            0 => 0.0,
            n => self.satisfied as f64 / n as f64,
        }
    }

    /// The fleet's verdict on a control: the worst host state. Satisfied when every
    /// host in scope satisfies it (and there is at least one); waived when every host
    /// satisfies it or is waived, and some host is waived — an accepted exception is
    /// never shown as satisfied.
    pub fn verdict(&self) -> State {
        if self.total() == 0 {
            return State::NotAssessed;
        }
        State::ALL
            .into_iter()
            .filter(|s| self.get(*s) > 0)
            .fold(State::Satisfied, State::worst)
    }
}

/// A control across the fleet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ControlSummary {
    pub control: String,
    pub counts: Counts,
}

/// The fleet at a time.
#[derive(Debug, Clone)]
pub struct FleetEval<'a> {
    pub at: Millis,
    pub window: Millis,
    pub plan: Plan,
    /// Hosts in scope, by agent id.
    pub hosts: Vec<HostEval<'a>>,
    /// Assessed controls, in [`Plan::controls`] order.
    pub controls: Vec<ControlSummary>,
    /// Waivers active at the time.
    pub active_waivers: Vec<&'a Waiver>,
}

/// The data for one host at one time.
#[derive(Debug, Clone, Copy)]
pub struct HostInput<'a, 'b> {
    pub host: &'a HostRecord,
    pub report: Option<&'a ReportRecord>,
    pub missing: i64,
    /// Replayed reports stored by the time (they are never evidence; said in notes).
    pub replayed: i64,
    /// The agent's chain events (any time; those after `at` are ignored).
    pub events: &'b [&'a ChainEvent],
}

fn age_text(ms: Millis) -> String {
    let hours = ms / 3_600_000;
    if hours >= 48 {
        format!("{} days", hours / 24)
    } else {
        format!("{hours} hours")
    }
}

/// Evaluates one host at `at`. Of `waivers`, those active at `at` and naming the host
/// apply.
pub fn evaluate_host<'a>(
    plan: &Plan,
    at: Millis,
    window: Millis,
    input: HostInput<'a, '_>,
    waivers: &[&'a Waiver],
) -> HostEval<'a> {
    // A replay is never evidence, whoever hands it over.
    let report = input.report.filter(|r| r.received_at <= at && !r.replay);
    let events: Vec<&ChainEvent> = input
        .events
        .iter()
        .copied()
        .filter(|e| e.at <= at)
        .collect();
    let conflict = events.iter().find(|e| is_conflict(e));
    let chain = match (report, conflict) {
        (_, Some(_)) => ChainStatus::Conflict,
        (None, None) => ChainStatus::Empty,
        (Some(_), None) if input.missing > 0 => ChainStatus::Gaps,
        (Some(_), None) => ChainStatus::Intact,
    };
    let freshness = match report {
        None => Freshness::None,
        Some(r) => {
            let age_ms = at - r.collected_at;
            if age_ms > window {
                Freshness::Stale { age_ms }
            } else {
                Freshness::Fresh { age_ms }
            }
        }
    };
    let active: Vec<&Waiver> = waivers
        .iter()
        .copied()
        .filter(|w| w.active_at(at) && w.covers_host(&input.host.agent_id, &input.host.hostname))
        .collect();
    let check_waiver = |check: &str| {
        active
            .iter()
            .find(|w| matches!(&w.scope, WaiverScope::Check(c) if c == check))
            .map(|w| w.id.clone())
    };

    let results: HashMap<&str, usize> = report
        .map(|r| {
            r.results
                .iter()
                .enumerate()
                .map(|(i, res)| (res.check.as_str(), i))
                .collect()
        })
        .unwrap_or_default();
    let mut names: Vec<&str> = plan.checks.iter().map(String::as_str).collect();
    if let Some(r) = report {
        for res in &r.results {
            if !plan.checks.contains(&res.check) && !names.contains(&res.check.as_str()) {
                names.push(&res.check);
            }
        }
    }

    let checks: Vec<CheckState> = names
        .iter()
        .enumerate()
        .map(|(position, &check)| {
            let idx = results.get(check).copied();
            let result = idx.and_then(|i| report.and_then(|r| r.results.get(i)));
            let status = result.and_then(|r| parse_status(&r.status));
            let applies = !never_applies(check, status, result.and_then(|r| r.reason.as_deref()));
            let (unwaived, note) = match (report, freshness, result) {
                (Some(_), _, Some(res)) if !applies => (
                    State::NotAssessed,
                    Some(format!(
                        "never applies on this host's operating system ({}): no evidence for \
                         its controls",
                        res.reason.as_deref().unwrap_or_default()
                    )),
                ),
                (None, _, _) => (
                    State::NotAssessed,
                    Some(match input.replayed {
                        0 => "no report received".to_owned(),
                        n => format!(
                            "no report received but {}, which {} never evidence",
                            crate::report::plural(
                                usize::try_from(n).unwrap_or(usize::MAX),
                                "replayed report (agent.replay)",
                                "replayed reports (agent.replay)"
                            ),
                            if n == 1 { "is" } else { "are" }
                        ),
                    }),
                ),
                (Some(_), Freshness::Stale { age_ms }, _) => (
                    State::Stale,
                    Some(format!(
                        "the latest report is {} old, beyond the {} window",
                        age_text(age_ms),
                        age_text(window)
                    )),
                ),
                (Some(_), _, None) => (
                    State::NotAssessed,
                    Some("the check is not in the report".to_owned()),
                ),
                (Some(_), _, Some(res)) => match status {
                    Some(Status::Pass | Status::Info | Status::NotApplicable) => {
                        if let Some(c) = conflict {
                            (
                                State::NotAssessed,
                                Some(format!(
                                    "chain conflict recorded ({} at seq {}): results from this \
                                     agent's key are not trusted to show satisfaction",
                                    c.kind, c.seq
                                )),
                            )
                        } else {
                            (State::Satisfied, None)
                        }
                    }
                    Some(Status::Fail) => (State::NotSatisfied, None),
                    Some(Status::Unknown) => (
                        State::NotAssessed,
                        Some(
                            res.reason
                                .clone()
                                .unwrap_or_else(|| "the check could not decide".to_owned()),
                        ),
                    ),
                    None => (
                        State::NotAssessed,
                        Some(format!("unrecognised status {:?}", res.status)),
                    ),
                },
            };
            let waiver = if unwaived == State::Satisfied {
                None
            } else {
                check_waiver(check)
            };
            let fresh = matches!(freshness, Freshness::Fresh { .. });
            let counted = match (status, result) {
                (Some(st), Some(res)) if fresh && applies => counted_by_rules(
                    plan,
                    position,
                    &input.host.os_id,
                    st,
                    res.facts.as_deref(),
                    conflict.copied(),
                ),
                _ => Vec::new(),
            };
            let counted = counted
                .into_iter()
                .map(|(control, unwaived, rules, note)| {
                    let waiver = if unwaived == State::Satisfied {
                        None
                    } else {
                        check_waiver(check)
                    };
                    Counted {
                        control,
                        state: if waiver.is_some() {
                            State::Waived
                        } else {
                            unwaived
                        },
                        unwaived,
                        waiver,
                        rules,
                        note,
                    }
                })
                .collect();
            CheckState {
                check: check.to_owned(),
                status,
                state: if waiver.is_some() {
                    State::Waived
                } else {
                    unwaived
                },
                unwaived,
                waiver,
                note,
                result: idx,
                applies,
                counted,
            }
        })
        .collect();

    let controls = plan
        .controls
        .iter()
        .map(|(control, idx)| {
            let mut state = State::Satisfied;
            let mut unwaived = State::Satisfied;
            let mut used = Vec::new();
            let applying: Vec<&CheckState> = idx
                .iter()
                .filter_map(|&i| checks.get(i))
                .filter(|c| c.applies)
                .collect();
            if applying.is_empty() && idx.iter().any(|&i| checks.get(i).is_some()) {
                // Every check of the control never applies on this OS.
                state = State::NotAssessed;
                unwaived = State::NotAssessed;
            }
            for &i in idx {
                if let Some(c) = checks.get(i).filter(|c| c.applies) {
                    let (s, u, waiver) = c.for_control(control);
                    state = state.worst(s);
                    unwaived = unwaived.worst(u);
                    if let Some(w) = waiver
                        && !used.contains(w)
                    {
                        used.push(w.clone());
                    }
                }
            }
            if state != State::Satisfied
                && let Some(w) = active
                    .iter()
                    .find(|w| matches!(&w.scope, WaiverScope::Control(c) if c == control))
            {
                state = State::Waived;
                if !used.contains(&w.id) {
                    used.push(w.id.clone());
                }
            }
            if state != State::Waived {
                used.clear();
            }
            ControlState {
                control: control.clone(),
                state,
                unwaived,
                waivers: used,
                checks: idx.clone(),
            }
        })
        .collect();

    HostEval {
        host: input.host,
        report,
        freshness,
        chain,
        missing: if report.is_some() { input.missing } else { 0 },
        replayed: input.replayed,
        events,
        checks,
        controls,
    }
}

/// Groups chain events by agent.
pub fn events_by_agent(events: &[ChainEvent]) -> HashMap<&str, Vec<&ChainEvent>> {
    let mut out: HashMap<&str, Vec<&ChainEvent>> = HashMap::new();
    for e in events {
        out.entry(e.agent_id.as_str()).or_default().push(e);
    }
    out
}

/// Waivers naming each host.
fn waivers_for<'a>(waivers: &'a [Waiver], host: &HostRecord) -> Vec<&'a Waiver> {
    waivers
        .iter()
        .filter(|w| w.covers_host(&host.agent_id, &host.hostname))
        .collect()
}

/// What the store read for an evaluation.
#[derive(Debug, Clone, Copy)]
pub struct FleetData<'a> {
    pub hosts: &'a [HostRecord],
    /// For a time: the latest report per agent
    /// ([`crate::store::reporting::ReportStore::latest_reports`]); for a period: every
    /// report of it ([`crate::store::reporting::ReportStore::reports_between`]).
    pub reports: &'a [ReportRecord],
    /// Chain counts at the time (empty for a period).
    pub counts: &'a HashMap<String, ChainCount>,
    /// Chain events recorded by the time (or the end of the period).
    pub events: &'a [ChainEvent],
    /// Every waiver.
    pub waivers: &'a [Waiver],
}

/// Evaluates the fleet at `at`.
pub fn evaluate_fleet<'a>(
    catalog: &Catalog,
    at: Millis,
    window: Millis,
    data: FleetData<'a>,
) -> FleetEval<'a> {
    let plan = Plan::new(catalog);
    let (hosts, controls) = evaluate_fleet_map(&plan, at, window, data, |h| h);
    FleetEval {
        at,
        window,
        plan,
        hosts,
        controls,
        active_waivers: data.waivers.iter().filter(|w| w.active_at(at)).collect(),
    }
}

/// Evaluates the hosts in scope at `at`, by agent id, on all cores, turning each into
/// what the caller keeps (`map`) as soon as it is evaluated, and counts the hosts in
/// each state per assessed control ([`Plan::controls`] order).
pub fn evaluate_fleet_map<'a, T: Send>(
    plan: &Plan,
    at: Millis,
    window: Millis,
    data: FleetData<'a>,
    map: impl Fn(HostEval<'a>) -> T + Sync,
) -> (Vec<T>, Vec<ControlSummary>) {
    let FleetData {
        hosts,
        reports: latest,
        counts,
        events,
        waivers,
    } = data;
    let reports: HashMap<&str, &ReportRecord> =
        latest.iter().map(|r| (r.agent_id.as_str(), r)).collect();
    let events = events_by_agent(events);
    let mut sorted: Vec<&HostRecord> = hosts.iter().filter(|h| h.in_scope_at(at)).collect();
    sorted.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
    let empty = || -> Vec<ControlSummary> {
        plan.controls
            .iter()
            .map(|(c, _)| ControlSummary {
                control: c.clone(),
                counts: Counts::default(),
            })
            .collect()
    };
    let part = |part: &[&'a HostRecord]| -> (Vec<T>, Vec<ControlSummary>) {
        let none: Vec<&ChainEvent> = Vec::new();
        let mut summaries = empty();
        let mut out = Vec::with_capacity(part.len());
        for &host in part {
            let id = host.agent_id.as_str();
            let eval = evaluate_host(
                plan,
                at,
                window,
                HostInput {
                    host,
                    report: reports.get(id).copied(),
                    missing: counts.get(id).map_or(0, ChainCount::missing),
                    replayed: counts.get(id).map_or(0, |c| c.replayed),
                    events: events.get(id).unwrap_or(&none),
                },
                &waivers_for(waivers, host),
            );
            for (sum, c) in summaries.iter_mut().zip(&eval.controls) {
                sum.counts.add(c.state);
            }
            out.push(map(eval));
        }
        (out, summaries)
    };
    // Small fleets are not worth a thread: one chunk runs on this one.
    let chunk = if sorted.len() < 512 {
        sorted.len()
    } else {
        sorted.len().div_ceil(crate::par::threads())
    };
    let mut summaries = empty();
    let mut out = Vec::with_capacity(sorted.len());
    let merged = crate::par::for_each_ordered(&sorted, chunk, part, |(hosts, sums)| {
        out.extend(hosts);
        for (total, s) in summaries.iter_mut().zip(sums) {
            total.counts.merge(&s.counts);
        }
        Ok::<(), std::convert::Infallible>(())
    });
    if let Err(never) = merged {
        match never {}
    }
    (out, summaries)
}

/// The shares of one day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayPoint {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// The moment evaluated: the end of the day, or the end of the period.
    pub at: Millis,
    /// Per assessed control (in [`PeriodEval::controls`] order).
    pub counts: Vec<Counts>,
}

/// A control changing state on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateChange {
    pub at: Millis,
    pub agent_id: String,
    pub hostname: String,
    pub control: String,
    /// `None`: the host was not in scope.
    pub from: Option<State>,
    pub to: Option<State>,
    /// What happened then, e.g. `report seq 42`, `waiver wvr_1 expired`.
    pub causes: Vec<String>,
}

/// A period evaluated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodEval {
    pub from: Millis,
    pub to: Millis,
    pub window: Millis,
    /// Assessed control ids.
    pub controls: Vec<String>,
    pub days: Vec<DayPoint>,
    /// Every change of state, by time, then host, then control.
    pub changes: Vec<StateChange>,
}

/// The end of each UTC day touching `[from, to]`, capped at `to`.
pub fn day_ends(from: Millis, to: Millis) -> Vec<(String, Millis)> {
    let mut out = Vec::new();
    let Some(start) = DateTime::<Utc>::from_timestamp_millis(from) else {
        return out;
    };
    let mut day = start.date_naive();
    while let Some(next) = day.checked_add_days(Days::new(1)) {
        let end = next.and_time(NaiveTime::MIN).and_utc().timestamp_millis() - 1;
        out.push((day.format("%Y-%m-%d").to_string(), end.min(to)));
        if end >= to {
            break;
        }
        day = next;
    }
    out
}

/// Replays the period `[from, to]`.
pub fn evaluate_period(
    catalog: &Catalog,
    from: Millis,
    to: Millis,
    window: Millis,
    data: FleetData<'_>,
) -> PeriodEval {
    let FleetData {
        hosts,
        reports,
        events,
        waivers,
        ..
    } = data;
    let plan = Plan::new(catalog);
    let days = day_ends(from, to);
    let mut day_counts: Vec<Vec<Counts>> = days
        .iter()
        .map(|_| vec![Counts::default(); plan.controls.len()])
        .collect();
    let mut changes = Vec::new();
    let mut reports_of: HashMap<&str, Vec<&ReportRecord>> = HashMap::new();
    for r in reports {
        reports_of.entry(r.agent_id.as_str()).or_default().push(r);
    }
    let events = events_by_agent(events);
    let none_events: Vec<&ChainEvent> = Vec::new();
    let mut sorted: Vec<&HostRecord> = hosts.iter().collect();
    sorted.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));

    for host in sorted {
        let id = host.agent_id.as_str();
        let mut rs: Vec<&ReportRecord> = reports_of.remove(id).unwrap_or_default();
        // A replay is never evidence: it changes no state.
        rs.retain(|r| !r.replay);
        rs.sort_by_key(|r| (r.received_at, r.seq));
        let ev = events.get(id).unwrap_or(&none_events);
        let ws = waivers_for(waivers, host);

        // Every moment something may change, with what happened.
        let mut points: BTreeMap<Millis, Vec<String>> = BTreeMap::new();
        let mut mark = |t: Millis, cause: String| {
            if t > from && t <= to {
                points.entry(t).or_default().push(cause);
            }
        };
        for r in &rs {
            mark(r.received_at, format!("report seq {} received", r.seq));
            mark(
                r.collected_at.saturating_add(window).saturating_add(1),
                format!("report seq {} became stale", r.seq),
            );
        }
        for w in &ws {
            mark(w.created_at, format!("waiver {} created", w.id));
            mark(w.expires_at, format!("waiver {} expired", w.id));
            if let Some(r) = w.revoked_at {
                mark(r, format!("waiver {} revoked", w.id));
            }
        }
        for e in ev.iter().filter(|e| is_conflict(e)) {
            mark(e.at, format!("chain {} recorded at seq {}", e.kind, e.seq));
        }
        mark(host.enrolled_at, "enrolled".to_owned());
        if let Some(r) = host.revoked_at {
            mark(r, "revoked".to_owned());
        }
        for (_, end) in &days {
            points.entry(*end).or_default();
        }
        points.entry(from).or_default();

        let mut latest: Option<&ReportRecord> = None;
        let mut next = 0usize;
        let mut prev: Option<Vec<State>> = None;
        let mut day_at = 0usize;
        for (&t, causes) in &points {
            while let Some(r) = rs.get(next) {
                if r.received_at > t {
                    break;
                }
                if latest.is_none_or(|l| r.seq > l.seq) {
                    latest = Some(r);
                }
                next += 1;
            }
            let states: Option<Vec<State>> = host.in_scope_at(t).then(|| {
                evaluate_host(
                    &plan,
                    t,
                    window,
                    HostInput {
                        host,
                        report: latest,
                        missing: 0,
                        replayed: 0,
                        events: ev,
                    },
                    &ws,
                )
                .controls
                .iter()
                .map(|c| c.state)
                .collect()
            });
            if t > from {
                for (i, (control, _)) in plan.controls.iter().enumerate() {
                    let before = prev.as_ref().and_then(|p| p.get(i).copied());
                    let after = states.as_ref().and_then(|s| s.get(i).copied());
                    if before != after {
                        changes.push(StateChange {
                            at: t,
                            agent_id: host.agent_id.clone(),
                            hostname: host.hostname.clone(),
                            control: control.clone(),
                            from: before,
                            to: after,
                            causes: causes.clone(),
                        });
                    }
                }
            }
            while let Some((_, end)) = days.get(day_at) {
                if *end != t {
                    break;
                }
                if let (Some(s), Some(counts)) = (&states, day_counts.get_mut(day_at)) {
                    for (c, st) in counts.iter_mut().zip(s) {
                        c.add(*st);
                    }
                }
                day_at += 1;
            }
            prev = states;
        }
    }
    changes.sort_by(|a, b| {
        (a.at, &a.agent_id, plan.control_index(&a.control)).cmp(&(
            b.at,
            &b.agent_id,
            plan.control_index(&b.control),
        ))
    });
    PeriodEval {
        from,
        to,
        window,
        controls: plan.controls.iter().map(|(c, _)| c.clone()).collect(),
        days: days
            .into_iter()
            .zip(day_counts)
            .map(|((day, at), counts)| DayPoint { day, at, counts })
            .collect(),
        changes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::ResultRecord;

    const DAY: Millis = 24 * 3600 * 1000;
    /// 2026-11-25T00:00:00Z.
    const T0: Millis = 1_795_564_800_000;

    fn catalog() -> Catalog {
        Catalog::builtin().unwrap()
    }

    fn host(id: &str) -> HostRecord {
        HostRecord {
            agent_id: id.to_owned(),
            keyid: format!("key-{id}"),
            public_key: [7; 32],
            hostname: format!("{id}.example"),
            machine_id: "m".into(),
            os_id: "debian".into(),
            os_version_id: "12".into(),
            os_pretty_name: "Debian 12".into(),
            kernel: "6.1".into(),
            enrolled_at: T0 - 30 * DAY,
            revoked_at: None,
        }
    }

    /// A report where every catalogue check passes except the `(check, status)` given.
    fn report(agent: &str, seq: i64, at: Millis, overrides: &[(&str, &str)]) -> ReportRecord {
        let results = catalog()
            .checks()
            .iter()
            .map(|c| {
                let status = overrides
                    .iter()
                    .find(|(k, _)| *k == c.id)
                    .map_or("pass", |(_, s)| *s);
                ResultRecord {
                    check: c.id.clone(),
                    status: status.to_owned(),
                    summary: format!("{} is {status}", c.id),
                    reason: (status == "unknown").then(|| "permission denied".to_owned()),
                    facts: Some(Vec::new()),
                }
            })
            .filter(|r| r.status != "absent")
            .collect();
        ReportRecord {
            agent_id: agent.to_owned(),
            seq,
            log_index: seq,
            payload_sha256: "ab".repeat(32),
            collected_at: at,
            received_at: at + 1000,
            replay: false,
            results,
        }
    }

    fn waiver(id: &str, scope: WaiverScope, hosts: &[&str], expires_at: Millis) -> Waiver {
        Waiver {
            id: id.to_owned(),
            scope,
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            justification: "kiosk machines have no screen lock by design".into(),
            approver: "ciso@example".into(),
            created_at: T0 - 10 * DAY,
            created_by: "cli:admin".into(),
            expires_at,
            revoked_at: None,
            revoked_by: None,
        }
    }

    fn event(agent: &str, kind: &str, seq: i64, at: Millis) -> ChainEvent {
        ChainEvent {
            agent_id: agent.into(),
            kind: kind.into(),
            seq,
            detail: "detail".into(),
            payload_sha256: None,
            envelope_stored: false,
            at,
        }
    }

    fn one(
        at: Millis,
        h: &HostRecord,
        r: Option<&ReportRecord>,
        missing: i64,
        events: &[ChainEvent],
        waivers: &[Waiver],
    ) -> (Plan, Vec<(String, State)>, HostEval<'static>) {
        let plan = Plan::new(&catalog());
        // Leak for a 'static eval in tests: small and test-only.
        let h: &'static HostRecord = Box::leak(Box::new(h.clone()));
        let r: Option<&'static ReportRecord> = r.map(|r| &*Box::leak(Box::new(r.clone())));
        let events: &'static [ChainEvent] = Box::leak(events.to_vec().into_boxed_slice());
        let waivers: &'static [Waiver] = Box::leak(waivers.to_vec().into_boxed_slice());
        let evs: Vec<&ChainEvent> = events.iter().collect();
        let ws: Vec<&Waiver> = waivers.iter().collect();
        let eval = evaluate_host(
            &plan,
            at,
            DEFAULT_WINDOW_MS,
            HostInput {
                host: h,
                report: r,
                missing,
                replayed: 0,
                events: &evs,
            },
            &ws,
        );
        let states = eval
            .controls
            .iter()
            .map(|c| (c.control.clone(), c.state))
            .collect();
        (plan, states, eval)
    }

    fn data<'a>(
        hosts: &'a [HostRecord],
        reports: &'a [ReportRecord],
        waivers: &'a [Waiver],
    ) -> FleetData<'a> {
        static NO_COUNTS: std::sync::LazyLock<HashMap<String, ChainCount>> =
            std::sync::LazyLock::new(HashMap::new);
        FleetData {
            hosts,
            reports,
            counts: &NO_COUNTS,
            events: &[],
            waivers,
        }
    }

    fn state_of(states: &[(String, State)], control: &str) -> State {
        states.iter().find(|(c, _)| c == control).unwrap().1
    }

    #[test]
    fn fresh_evidence_decides_by_result() {
        let h = host("a");
        let r = report(
            "a",
            3,
            T0 - DAY,
            &[
                ("system.screen_lock", "fail"),
                ("malware.protection", "unknown"),
                ("accounts.ssh_root_login", "not_applicable"),
                ("system.time_sync", "absent"),
            ],
        );
        let (_, s, eval) = one(T0, &h, Some(&r), 0, &[], &[]);
        assert_eq!(eval.freshness, Freshness::Fresh { age_ms: DAY });
        assert_eq!(eval.chain, ChainStatus::Intact);
        assert_eq!(state_of(&s, "7.7"), State::NotSatisfied);
        assert_eq!(state_of(&s, "8.1"), State::NotSatisfied);
        assert_eq!(state_of(&s, "8.7"), State::NotAssessed);
        assert_eq!(
            eval.check_state("malware.protection")
                .unwrap()
                .note
                .as_deref(),
            Some("permission denied")
        );
        // Absent from the report: not assessed, and said why.
        assert_eq!(state_of(&s, "8.17"), State::NotAssessed);
        assert_eq!(
            eval.check_state("system.time_sync")
                .unwrap()
                .note
                .as_deref(),
            Some("the check is not in the report")
        );
        // not_applicable and info count as satisfied.
        assert_eq!(state_of(&s, "8.2"), State::Satisfied);
        assert_eq!(state_of(&s, "5.9"), State::Satisfied);
        assert_eq!(state_of(&s, "8.24"), State::Satisfied);
        // Every assessed control has a state.
        assert_eq!(s.len(), catalog().assessed_controls().count());
        assert!(s.iter().any(|(c, _)| c == "8.13"), "{s:?}");
    }

    /// A replay handed over as the latest report is no evidence: the host is not
    /// assessed, and the note says replays were stored.
    #[test]
    fn a_replay_is_never_evidence() {
        let plan = Plan::new(&catalog());
        let h = host("a");
        let mut r = report("a", 2, T0 - DAY, &[]);
        let counted = evaluate_host(
            &plan,
            T0,
            DEFAULT_WINDOW_MS,
            HostInput {
                host: &h,
                report: Some(&r),
                missing: 0,
                replayed: 0,
                events: &[],
            },
            &[],
        );
        assert!(counted.controls.iter().all(|c| c.state == State::Satisfied));
        r.replay = true;
        let eval = evaluate_host(
            &plan,
            T0,
            DEFAULT_WINDOW_MS,
            HostInput {
                host: &h,
                report: Some(&r),
                missing: 0,
                replayed: 1,
                events: &[],
            },
            &[],
        );
        assert!(eval.report.is_none());
        assert_eq!(eval.freshness, Freshness::None);
        assert_eq!(eval.replayed, 1);
        assert!(eval.controls.iter().all(|c| c.state == State::NotAssessed));
        assert_eq!(
            eval.checks[0].note.as_deref(),
            Some(
                "no report received but 1 replayed report (agent.replay), which is never \
                 evidence"
            )
        );
    }

    /// Over a period, a replay changes nothing: a host with a counted report and a later
    /// replay that fails everything keeps the counted verdicts; a host with replays
    /// only has no evidence throughout.
    #[test]
    fn a_period_skips_replays() {
        let c = catalog();
        let hosts = vec![host("a"), host("b")];
        let mut fails = report("a", 2, T0 + DAY, &[("system.firewall", "fail")]);
        fails.replay = true;
        let mut only = report("b", 1, T0 + DAY, &[]);
        only.replay = true;
        let reports = vec![report("a", 1, T0 - DAY, &[]), fails, only];
        let p = evaluate_period(
            &c,
            T0,
            T0 + 3 * DAY - 1,
            DEFAULT_WINDOW_MS,
            data(&hosts, &reports, &[]),
        );
        assert!(
            p.changes.iter().all(|ch| ch.agent_id != "a"),
            "{:?}",
            p.changes
        );
        let fw = p.controls.iter().position(|k| k == "8.20").unwrap();
        for d in &p.days {
            let k = d.counts[fw];
            assert_eq!((k.satisfied, k.not_satisfied, k.not_assessed), (1, 0, 1));
        }
        // Without the flag, the same reports do change the state.
        let mut unmarked = reports.clone();
        unmarked[1].replay = false;
        let p = evaluate_period(
            &c,
            T0,
            T0 + 3 * DAY - 1,
            DEFAULT_WINDOW_MS,
            data(&hosts, &unmarked, &[]),
        );
        assert!(p.changes.iter().any(|ch| ch.agent_id == "a"
            && ch.control == "8.20"
            && ch.to == Some(State::NotSatisfied)));
    }

    #[test]
    fn no_report_is_not_assessed() {
        let (_, s, eval) = one(T0, &host("a"), None, 0, &[], &[]);
        assert!(s.iter().all(|(_, st)| *st == State::NotAssessed));
        assert_eq!(eval.chain, ChainStatus::Empty);
        assert_eq!(eval.freshness, Freshness::None);
    }

    #[test]
    fn evidence_older_than_the_window_is_stale_and_the_window_edge_is_fresh() {
        let h = host("a");
        let r = report("a", 1, T0 - 8 * DAY, &[("system.firewall", "fail")]);
        let (_, s, eval) = one(T0, &h, Some(&r), 0, &[], &[]);
        assert!(s.iter().all(|(_, st)| *st == State::Stale), "{s:?}");
        assert!(matches!(eval.freshness, Freshness::Stale { .. }));
        let note = eval
            .check_state("system.firewall")
            .unwrap()
            .note
            .clone()
            .unwrap();
        assert!(note.contains("8 days old"), "{note}");
        let edge = report("a", 1, T0 - DEFAULT_WINDOW_MS, &[]);
        let (_, s, _) = one(T0, &h, Some(&edge), 0, &[], &[]);
        assert!(s.iter().all(|(_, st)| *st == State::Satisfied));
    }

    #[test]
    fn an_active_waiver_shows_waived_and_keeps_the_state_underneath() {
        let h = host("a");
        let r = report("a", 1, T0 - DAY, &[("system.screen_lock", "fail")]);
        let w = waiver(
            "wvr_1",
            WaiverScope::Check("system.screen_lock".into()),
            &["a.example"],
            T0 + DAY,
        );
        let (_, s, eval) = one(T0, &h, Some(&r), 0, &[], std::slice::from_ref(&w));
        assert_eq!(state_of(&s, "7.7"), State::Waived);
        assert_eq!(state_of(&s, "8.1"), State::Waived);
        let c = eval.check_state("system.screen_lock").unwrap();
        assert_eq!(c.state, State::Waived);
        assert_eq!(c.unwaived, State::NotSatisfied);
        assert_eq!(c.status, Some(Status::Fail));
        assert_eq!(c.waiver.as_deref(), Some("wvr_1"));
        let ctl = eval.controls.iter().find(|c| c.control == "7.7").unwrap();
        assert_eq!(ctl.unwaived, State::NotSatisfied);
        assert_eq!(ctl.waivers, ["wvr_1"]);
        // A waiver naming another host does not apply.
        let other = waiver(
            "wvr_2",
            WaiverScope::Check("system.screen_lock".into()),
            &["b"],
            T0 + DAY,
        );
        let (_, s, _) = one(T0, &h, Some(&r), 0, &[], &[other]);
        assert_eq!(state_of(&s, "7.7"), State::NotSatisfied);
        // A waiver does not touch what is satisfied.
        let pass = report("a", 2, T0 - DAY, &[]);
        let (_, _, eval) = one(T0, &h, Some(&pass), 0, &[], &[w]);
        let c = eval.check_state("system.screen_lock").unwrap();
        assert_eq!((c.state, c.waiver.as_deref()), (State::Satisfied, None));
    }

    #[test]
    fn expired_or_revoked_waivers_stop_applying() {
        let h = host("a");
        let r = report("a", 1, T0 - DAY, &[("system.screen_lock", "fail")]);
        let expired = waiver(
            "wvr_1",
            WaiverScope::Check("system.screen_lock".into()),
            &[],
            T0,
        );
        let (_, s, _) = one(T0, &h, Some(&r), 0, &[], std::slice::from_ref(&expired));
        assert_eq!(state_of(&s, "7.7"), State::NotSatisfied);
        // The moment before expiry it applied.
        let (_, s, _) = one(T0 - 1, &h, Some(&r), 0, &[], &[expired]);
        assert_eq!(state_of(&s, "7.7"), State::Waived);
        let mut revoked = waiver("wvr_2", WaiverScope::Control("7.7".into()), &[], T0 + DAY);
        revoked.revoked_at = Some(T0 - 60_000);
        let (_, s, _) = one(T0, &h, Some(&r), 0, &[], std::slice::from_ref(&revoked));
        assert_eq!(state_of(&s, "7.7"), State::NotSatisfied);
        let (_, s, _) = one(T0 - 120_000, &h, Some(&r), 0, &[], &[revoked]);
        assert_eq!(state_of(&s, "7.7"), State::Waived);
    }

    #[test]
    fn a_control_waiver_covers_stale_and_unassessed_hosts_but_only_that_control() {
        let h = host("a");
        let r = report("a", 1, T0 - 9 * DAY, &[]);
        let w = waiver(
            "wvr_1",
            WaiverScope::Control("7.7".into()),
            &["a"],
            T0 + DAY,
        );
        let (_, s, eval) = one(T0, &h, Some(&r), 0, &[], &[w]);
        assert_eq!(state_of(&s, "7.7"), State::Waived);
        assert_eq!(state_of(&s, "8.1"), State::Stale);
        let ctl = eval.controls.iter().find(|c| c.control == "7.7").unwrap();
        assert_eq!(ctl.unwaived, State::Stale);
    }

    #[test]
    fn gaps_are_reported_but_change_no_state() {
        let h = host("a");
        let r = report("a", 9, T0 - DAY, &[("system.firewall", "fail")]);
        let gap = event("a", "gap", 9, T0 - DAY);
        let (_, s, eval) = one(T0, &h, Some(&r), 3, &[gap], &[]);
        assert_eq!(eval.chain, ChainStatus::Gaps);
        assert_eq!(eval.missing, 3);
        assert_eq!(eval.events.len(), 1);
        assert_eq!(state_of(&s, "8.20"), State::NotSatisfied);
        assert_eq!(state_of(&s, "8.24"), State::Satisfied);
    }

    #[test]
    fn a_fork_withdraws_satisfied_but_keeps_failures() {
        let h = host("a");
        let r = report("a", 5, T0 - DAY, &[("system.firewall", "fail")]);
        let fork = event("a", "fork", 4, T0 - 2 * DAY);
        let (_, s, eval) = one(T0, &h, Some(&r), 0, std::slice::from_ref(&fork), &[]);
        assert_eq!(eval.chain, ChainStatus::Conflict);
        assert_eq!(state_of(&s, "8.20"), State::NotSatisfied);
        assert_eq!(state_of(&s, "8.24"), State::NotAssessed);
        let note = eval
            .check_state("disk.root_encrypted")
            .unwrap()
            .note
            .clone()
            .unwrap();
        assert!(note.contains("fork at seq 4"), "{note}");
        // Before the fork was recorded, the same evidence was satisfied.
        let (_, s, eval) = one(
            T0 - 3 * DAY + 2000,
            &h,
            Some(&report("a", 5, T0 - 3 * DAY, &[])),
            0,
            &[fork],
            &[],
        );
        assert_eq!(eval.chain, ChainStatus::Intact);
        assert_eq!(state_of(&s, "8.24"), State::Satisfied);
        // A broken link is a conflict too.
        let broken = event("a", "broken_link", 6, T0 - DAY);
        let (_, _, eval) = one(T0, &h, Some(&r), 0, &[broken], &[]);
        assert_eq!(eval.chain, ChainStatus::Conflict);
    }

    #[test]
    fn a_report_received_after_the_time_is_ignored() {
        let h = host("a");
        let r = report("a", 2, T0 - DAY, &[("system.firewall", "fail")]);
        // Received at T0 - DAY + 1 s: evaluated just before, there is no evidence.
        let (_, s, _) = one(T0 - DAY, &h, Some(&r), 0, &[], &[]);
        assert_eq!(state_of(&s, "8.20"), State::NotAssessed);
    }

    /// Fleets of 512 hosts and more are evaluated on several threads: the hosts come
    /// back in agent-id order and the counts are those of evaluating one host at a time.
    #[test]
    fn a_large_fleet_evaluated_on_threads_matches_one_host_at_a_time() {
        let c = catalog();
        let plan = Plan::new(&c);
        // Ids in reverse order of creation: the result must be sorted anyway.
        let hosts: Vec<HostRecord> = (0..1500).rev().map(|i| host(&format!("h{i:05}"))).collect();
        let latest: Vec<ReportRecord> = hosts
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 7 != 0)
            .map(|(i, h)| match i % 3 {
                0 => report(&h.agent_id, 1, T0 - DAY, &[("system.firewall", "fail")]),
                1 => report(&h.agent_id, 1, T0 - 9 * DAY, &[]),
                _ => report(
                    &h.agent_id,
                    1,
                    T0 - DAY,
                    &[("system.screen_lock", "unknown")],
                ),
            })
            .collect();
        let counts = HashMap::new();
        let data = FleetData {
            hosts: &hosts,
            reports: &latest,
            counts: &counts,
            events: &[],
            waivers: &[],
        };
        let (ids, summaries) = evaluate_fleet_map(&plan, T0, DEFAULT_WINDOW_MS, data, |h| {
            (
                h.host.agent_id.clone(),
                h.controls.iter().map(|c| c.state).collect::<Vec<_>>(),
            )
        });
        assert_eq!(ids.len(), 1500);
        assert!(ids.windows(2).all(|w| w[0].0 < w[1].0), "by agent id");
        let mut want: Vec<Counts> = vec![Counts::default(); plan.controls.len()];
        for (id, states) in &ids {
            let h = hosts.iter().find(|h| &h.agent_id == id).unwrap();
            let r = latest.iter().find(|r| &r.agent_id == id);
            let one = evaluate_host(
                &plan,
                T0,
                DEFAULT_WINDOW_MS,
                HostInput {
                    host: h,
                    report: r,
                    missing: 0,
                    replayed: 0,
                    events: &[],
                },
                &[],
            );
            let alone: Vec<State> = one.controls.iter().map(|c| c.state).collect();
            assert_eq!(&alone, states, "{id}");
            for (w, s) in want.iter_mut().zip(alone) {
                w.add(s);
            }
        }
        let got: Vec<Counts> = summaries.iter().map(|s| s.counts).collect();
        assert_eq!(got, want);
        // Every state occurs, so the merge of the threads' counts is exercised.
        let all = got.iter().fold(Counts::default(), |mut a, c| {
            a.merge(c);
            a
        });
        assert!(all.satisfied > 0 && all.not_satisfied > 0 && all.stale > 0);
        assert!(all.not_assessed > 0);
    }

    #[test]
    fn the_fleet_counts_hosts_in_scope_per_control() {
        let c = catalog();
        let mut revoked = host("d");
        revoked.revoked_at = Some(T0 - DAY);
        let mut later = host("e");
        later.enrolled_at = T0 + DAY;
        let hosts = vec![host("a"), host("b"), host("c"), revoked, later];
        let latest = vec![
            report("a", 1, T0 - DAY, &[]),
            report("b", 1, T0 - DAY, &[("system.firewall", "fail")]),
            report("d", 1, T0 - DAY, &[("system.firewall", "fail")]),
        ];
        let waivers = vec![waiver(
            "wvr_1",
            WaiverScope::Check("system.firewall".into()),
            &["b"],
            T0 + DAY,
        )];
        let counts = HashMap::from([(
            "a".to_owned(),
            ChainCount {
                stored: 1,
                max_seq: 1,
                replayed: 0,
            },
        )]);
        let f = evaluate_fleet(
            &c,
            T0,
            DEFAULT_WINDOW_MS,
            FleetData {
                hosts: &hosts,
                reports: &latest,
                counts: &counts,
                events: &[],
                waivers: &waivers,
            },
        );
        assert_eq!(
            f.hosts
                .iter()
                .map(|h| h.host.agent_id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        let fw = &f.controls[f.plan.control_index("8.20").unwrap()];
        assert_eq!(
            fw.counts,
            Counts {
                satisfied: 1,
                waived: 1,
                not_satisfied: 0,
                stale: 0,
                not_assessed: 1
            }
        );
        assert_eq!(fw.counts.verdict(), State::NotAssessed);
        assert!((fw.counts.share_satisfied() - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(f.active_waivers.len(), 1);
        let ok = Counts {
            satisfied: 2,
            waived: 1,
            ..Counts::default()
        };
        // An accepted exception is never shown as satisfied.
        assert_eq!(ok.verdict(), State::Waived);
        let all = Counts {
            satisfied: 3,
            ..Counts::default()
        };
        assert_eq!(all.verdict(), State::Satisfied);
        assert_eq!(Counts::default().verdict(), State::NotAssessed);
    }

    #[test]
    fn a_period_gives_daily_shares_and_every_change() {
        let c = catalog();
        let hosts = vec![host("a"), host("b")];
        // a: passes on day 1, fails the firewall from day 2 noon, passes again day 3 noon.
        // b: one report before the period, stale from day 1 noon (its 7 days run out).
        let reports = vec![
            report("a", 1, T0 - 3_600_000, &[]),
            report("a", 2, T0 + DAY + DAY / 2, &[("system.firewall", "fail")]),
            report("a", 3, T0 + 2 * DAY + DAY / 2, &[]),
            report("b", 7, T0 - 6 * DAY - DAY / 2, &[]),
        ];
        let p = evaluate_period(
            &c,
            T0,
            T0 + 3 * DAY - 1,
            DEFAULT_WINDOW_MS,
            data(&hosts, &reports, &[]),
        );
        assert_eq!(
            p.days.iter().map(|d| d.day.as_str()).collect::<Vec<_>>(),
            ["2026-11-25", "2026-11-26", "2026-11-27"]
        );
        let fw = p.controls.iter().position(|c| c == "8.20").unwrap();
        let shares: Vec<(usize, usize, usize)> = p
            .days
            .iter()
            .map(|d| {
                let k = d.counts[fw];
                (k.satisfied, k.not_satisfied, k.stale)
            })
            .collect();
        assert_eq!(shares, [(1, 0, 1), (0, 1, 1), (1, 0, 1)]);
        let fw_changes: Vec<(&str, Option<State>, Option<State>, Millis)> = p
            .changes
            .iter()
            .filter(|c| c.control == "8.20")
            .map(|c| (c.agent_id.as_str(), c.from, c.to, c.at))
            .collect();
        assert_eq!(
            fw_changes,
            [
                (
                    "b",
                    Some(State::Satisfied),
                    Some(State::Stale),
                    T0 - 6 * DAY - DAY / 2 + DEFAULT_WINDOW_MS + 1
                ),
                (
                    "a",
                    Some(State::Satisfied),
                    Some(State::NotSatisfied),
                    T0 + DAY + DAY / 2 + 1000
                ),
                (
                    "a",
                    Some(State::NotSatisfied),
                    Some(State::Satisfied),
                    T0 + 2 * DAY + DAY / 2 + 1000
                ),
            ]
        );
        let cause = &p.changes.iter().find(|c| c.agent_id == "a").unwrap().causes;
        assert_eq!(cause, &["report seq 2 received"]);
    }

    #[test]
    fn a_period_sees_waivers_expire_and_hosts_enroll() {
        let c = catalog();
        let mut late = host("b");
        late.enrolled_at = T0 + DAY / 2;
        let hosts = vec![host("a"), late];
        let reports = vec![
            report("a", 1, T0 - 3_600_000, &[("system.screen_lock", "fail")]),
            report("a", 2, T0 + DAY, &[("system.screen_lock", "fail")]),
        ];
        let w = waiver(
            "wvr_1",
            WaiverScope::Check("system.screen_lock".into()),
            &[],
            T0 + DAY / 4,
        );
        let p = evaluate_period(
            &c,
            T0,
            T0 + 2 * DAY - 1,
            DEFAULT_WINDOW_MS,
            data(&hosts, &reports, std::slice::from_ref(&w)),
        );
        let lock: Vec<&StateChange> = p.changes.iter().filter(|c| c.control == "7.7").collect();
        assert_eq!(lock.len(), 2, "{lock:?}");
        assert_eq!(
            (lock[0].agent_id.as_str(), lock[0].from, lock[0].to),
            ("a", Some(State::Waived), Some(State::NotSatisfied))
        );
        assert_eq!(lock[0].causes, ["waiver wvr_1 expired"]);
        assert_eq!(lock[1].agent_id, "b");
        assert_eq!((lock[1].from, lock[1].to), (None, Some(State::NotAssessed)));
    }

    /// Sets one result's status and the facts mapping rules read of it.
    fn set(r: &mut ReportRecord, check: &str, status: &str, facts: Option<serde_json::Value>) {
        let res = r.results.iter_mut().find(|x| x.check == check).unwrap();
        res.status = status.to_owned();
        res.facts = facts.map(|f| {
            f.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        });
    }

    /// `(check, status, facts)`: a result's status and the facts rules read of it.
    type Set<'a> = (&'a str, &'a str, Option<serde_json::Value>);

    /// A Mac's report: XProtect-only malware protection, OpenBSM off, Reduced
    /// Security; then `changes`.
    fn mac_report(changes: &[Set<'_>]) -> ReportRecord {
        use serde_json::json;
        let mut r = report("a", 1, T0 - DAY, &[]);
        let mac = [
            (
                "malware.protection",
                "pass",
                Some(json!({"basis": "xprotect"})),
            ),
            (
                "system.audit_logging",
                "fail",
                Some(json!({"openbsm": false})),
            ),
            (
                "system.secure_boot",
                "pass",
                Some(json!({"level": "Reduced Security"})),
            ),
        ];
        for (check, status, facts) in mac.iter().chain(changes) {
            set(&mut r, check, status, facts.clone());
        }
        r
    }

    /// Evaluates one host's report with a catalog at T0, with waivers and events.
    fn host_with(
        catalog: &Catalog,
        r: &ReportRecord,
        events: &[ChainEvent],
        waivers: &[Waiver],
    ) -> (HashMap<String, State>, Vec<CheckState>) {
        host_on("macos", catalog, r, events, waivers)
    }

    /// [`host_with`] for a host whose `host.os.id` is `os_id`.
    fn host_on(
        os_id: &str,
        catalog: &Catalog,
        r: &ReportRecord,
        events: &[ChainEvent],
        waivers: &[Waiver],
    ) -> (HashMap<String, State>, Vec<CheckState>) {
        let plan = Plan::new(catalog);
        let mut h = host("a");
        h.os_id = os_id.to_owned();
        let evs: Vec<&ChainEvent> = events.iter().collect();
        let ws: Vec<&Waiver> = waivers.iter().collect();
        let eval = evaluate_host(
            &plan,
            T0,
            DEFAULT_WINDOW_MS,
            HostInput {
                host: &h,
                report: Some(r),
                missing: 0,
                replayed: 0,
                events: &evs,
            },
            &ws,
        );
        (
            eval.controls
                .iter()
                .map(|c| (c.control.clone(), c.state))
                .collect(),
            eval.checks,
        )
    }

    fn counted<'a>(checks: &'a [CheckState], check: &str, control: &str) -> Option<&'a Counted> {
        checks
            .iter()
            .find(|c| c.check == check)
            .and_then(|c| c.counted.iter().find(|k| k.control == control))
    }

    /// Asserts that a rule decided how `check` counts for `control`, with a note
    /// holding `text`.
    fn assert_note(checks: &[CheckState], check: &str, control: &str, text: &str) {
        let note = &counted(checks, check, control).unwrap().note;
        assert!(note.contains(text), "{note}");
    }

    /// The three default decisions: XProtect-only does not satisfy 8.7, no OpenBSM
    /// does not satisfy 8.15, Reduced Security satisfies 8.1; the check's own state
    /// is unchanged and the note carries the rule's rationale.
    #[test]
    fn the_default_rules_decide_how_mac_results_count() {
        use serde_json::json;
        let c = catalog();
        let (s, checks) = host_with(&c, &mac_report(&[]), &[], &[]);
        assert_eq!(s["8.7"], State::NotSatisfied);
        let mal = checks
            .iter()
            .find(|k| k.check == "malware.protection")
            .unwrap();
        assert_eq!(mal.state, State::Satisfied);
        let k = counted(&checks, "malware.protection", "8.7").unwrap();
        assert_eq!(
            (k.state, k.unwaived),
            (State::NotSatisfied, State::NotSatisfied)
        );
        assert!(
            k.note.starts_with(
                "counts as not satisfied for 8.7: pass on macos with facts.basis = \
                 \"xprotect\" (built-in mapping rule): Apple's built-in XProtect alone"
            ),
            "{}",
            k.note
        );
        assert_eq!(s["8.15"], State::NotSatisfied);
        assert!(counted(&checks, "system.audit_logging", "8.15").is_some());
        assert_eq!(s["8.1"], State::Satisfied);
        assert_eq!(
            counted(&checks, "system.secure_boot", "8.1").unwrap().state,
            State::Satisfied
        );
        assert_note(
            &checks,
            "system.secure_boot",
            "8.1",
            "Reduced Security still boots",
        );
        // 8.9, also linked to secure_boot, has no rule: the result counts as it is.
        assert!(counted(&checks, "system.secure_boot", "8.9").is_none());
        assert_eq!(s["8.9"], State::Satisfied);

        // Without the facts the rules name, the results count as their status says.
        let other = mac_report(&[
            ("malware.protection", "pass", Some(json!({"basis": "edr"}))),
            ("system.audit_logging", "fail", Some(json!({}))),
            (
                "system.secure_boot",
                "pass",
                Some(json!({"level": "Full Security"})),
            ),
        ]);
        let (s, checks) = host_with(&c, &other, &[], &[]);
        assert_eq!(s["8.7"], State::Satisfied);
        assert_eq!(s["8.15"], State::NotSatisfied);
        assert_eq!(s["8.1"], State::Satisfied);
        assert!(checks.iter().all(|k| k.counted.is_empty()));
        // A rule names a status: an XProtect basis on a failing result changes nothing.
        let failing = mac_report(&[(
            "system.secure_boot",
            "fail",
            Some(json!({"level": "Reduced Security"})),
        )]);
        let (s, checks) = host_with(&c, &failing, &[], &[]);
        assert_eq!(s["8.1"], State::NotSatisfied);
        assert!(counted(&checks, "system.secure_boot", "8.1").is_none());
    }

    /// Without the rules (a mapping that replaces the defaults), the same Mac satisfies
    /// 8.7; an extending mapping flips each default decision.
    #[test]
    fn a_mapping_file_changes_each_default_decision() {
        use serde_json::json;
        let links = "version = 1\nmode = \"replace\"\n\
                     [[link]]\ncheck = \"malware.protection\"\ncontrol = \"8.7\"\nrationale = \"x\"\n";
        let bare = crate::catalog::mapping::from_text("bare.toml", links).unwrap();
        let (s, checks) = host_with(&bare, &mac_report(&[]), &[], &[]);
        assert_eq!(s["8.7"], State::Satisfied);
        assert!(checks.iter().all(|k| k.counted.is_empty()));

        let flip = crate::catalog::mapping::from_text(
            "flip.toml",
            include_str!("../testdata/mapping-macos-flipped.toml"),
        )
        .unwrap();
        let (s, checks) = host_with(&flip, &mac_report(&[]), &[], &[]);
        assert_eq!(s["8.7"], State::Satisfied);
        assert_eq!(s["8.15"], State::Satisfied);
        assert_eq!(s["8.1"], State::NotSatisfied);
        assert_note(
            &checks,
            "system.audit_logging",
            "8.15",
            "(flip.toml mapping rule): We accept the unified log",
        );
        // A Linux host failing audit logging has no openbsm fact: the rule does not
        // touch it.
        let linux = mac_report(&[(
            "system.audit_logging",
            "fail",
            Some(json!({"journald_storage": "volatile"})),
        )]);
        let (s, _) = host_with(&flip, &linux, &[], &[]);
        assert_eq!(s["8.15"], State::NotSatisfied);
    }

    /// The default rules are about Macs: on another OS they never apply, even to the
    /// same facts, and facts that could not be read do not matter there.
    #[test]
    fn rules_scoped_to_macos_leave_other_hosts_alone() {
        use serde_json::json;
        let c = catalog();
        let xprotect = mac_report(&[(
            "malware.protection",
            "pass",
            Some(json!({"basis": "xprotect"})),
        )]);
        let (s, checks) = host_on("debian", &c, &xprotect, &[], &[]);
        assert_eq!(s["8.7"], State::Satisfied);
        assert!(checks.iter().all(|k| k.counted.is_empty()));
        let (s, _) = host_on("macos", &c, &xprotect, &[], &[]);
        assert_eq!(s["8.7"], State::NotSatisfied);
        let unread = mac_report(&[("malware.protection", "pass", None)]);
        let (s, _) = host_on("windows", &c, &unread, &[], &[]);
        assert_eq!(s["8.7"], State::Satisfied);
    }

    /// Facts that could not be read leave a ruled result not assessed for the control;
    /// no rule touches an unknown result or stale evidence; a chain conflict withdraws
    /// a rule's satisfaction; a check waiver covers what a rule makes not satisfied.
    #[test]
    fn rules_keep_the_other_rules_of_evaluation() {
        use serde_json::json;
        let c = catalog();
        let unread = mac_report(&[("malware.protection", "pass", None)]);
        let (s, checks) = host_with(&c, &unread, &[], &[]);
        assert_eq!(s["8.7"], State::NotAssessed);
        assert_note(
            &checks,
            "malware.protection",
            "8.7",
            "facts.basis, which could not be read",
        );

        let unknown = mac_report(&[(
            "malware.protection",
            "unknown",
            Some(json!({"basis": "xprotect"})),
        )]);
        let (s, checks) = host_with(&c, &unknown, &[], &[]);
        assert_eq!(s["8.7"], State::NotAssessed);
        assert!(counted(&checks, "malware.protection", "8.7").is_none());

        let mut stale = mac_report(&[]);
        stale.collected_at = T0 - 9 * DAY;
        let (s, checks) = host_with(&c, &stale, &[], &[]);
        assert_eq!(s["8.7"], State::Stale);
        assert!(checks.iter().all(|k| k.counted.is_empty()));

        let fork = event("a", "fork", 1, T0 - 2 * DAY);
        let (s, checks) = host_with(&c, &mac_report(&[]), std::slice::from_ref(&fork), &[]);
        assert_eq!(s["8.1"], State::NotAssessed);
        assert_note(&checks, "system.secure_boot", "8.1", "chain conflict");
        assert_eq!(s["8.7"], State::NotSatisfied);

        let w = waiver(
            "wvr_1",
            WaiverScope::Check("malware.protection".into()),
            &[],
            T0 + DAY,
        );
        let (s, checks) = host_with(&c, &mac_report(&[]), &[], &[w]);
        assert_eq!(s["8.7"], State::Waived);
        let k = counted(&checks, "malware.protection", "8.7").unwrap();
        assert_eq!(
            (k.state, k.unwaived, k.waiver.as_deref()),
            (State::Waived, State::NotSatisfied, Some("wvr_1"))
        );
    }

    #[test]
    fn day_ends_cover_the_period() {
        let d = day_ends(T0 + 5, T0 + DAY + 10);
        assert_eq!(
            d,
            [
                ("2026-11-25".to_owned(), T0 + DAY - 1),
                ("2026-11-26".to_owned(), T0 + DAY + 10)
            ]
        );
    }
}
