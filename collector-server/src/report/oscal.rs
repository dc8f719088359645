//! The OSCAL report: an assessment-results document (OSCAL 1.1, JSON).
//!
//! - One `result` for the evaluation time (a period's result runs from its start to its
//!   end). `reviewed-controls` lists the controls Attest evidences, by their OSCAL ids
//!   (`a.8.24`: OSCAL ids start with a letter).
//! - `local-definitions.inventory-items`: one per host in scope (agent id, hostname, OS,
//!   hardware).
//! - `observations`: one per host × check result, `methods: ["TEST"]`, its subject the
//!   host's inventory item, `collected` the collection time, Attest's props (check,
//!   status, state, waiver) in the `urn:attest:oscal` namespace, and
//!   `relevant-evidence` pointing at the back-matter resource of the signed report
//!   (with, for results that did not pass, the first source — `file`, `command` or
//!   `api` and its path, command line or call — and its excerpt as remarks). Where a
//!   mapping rule decides how the result counts for a control, a `counts-as` prop
//!   (`8.7:not_satisfied`) and the rule's note in the description.
//! - `findings`: one per assessed control, target `objective-id` `a.8.24_obj`, status
//!   `satisfied` when every host in scope is satisfied or waived, else `not-satisfied`,
//!   with the counts and the related observations; its description states the mapping
//!   rules of its checks with their rationale.
//! - `back-matter.resources`: one per cited signed report (seq, log index, payload
//!   SHA-256, signature status), linking to its path in the evidence bundle.
//!
//! UUIDs are version 5 (name-based), so a report of the same data yields the same ids.
//! Observations, inventory items, back-matter resources and the related observations
//! of findings are streamed, not held in memory; each observation's UUID is computed
//! once (on all cores) and written from that table twice.

use std::borrow::Cow;
use std::io::Write;

use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};
use serde_json::value::RawValue;
use uuid::Uuid;

use super::ReportError;
use super::model::{FleetReport, HostEntry};
use crate::catalog::Catalog;
use crate::evaluate::State;

/// The OSCAL version written.
pub const OSCAL_VERSION: &str = "1.1.2";
/// The namespace of Attest's props.
pub const NS: &str = "urn:attest:oscal";

/// Attest's UUID namespace (itself a v5 UUID of the project URL in the URL namespace).
fn namespace() -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        b"https://github.com/attest-dev/attest",
    )
}

fn uuid_of(ns: &Uuid, parts: &[&str]) -> Uuid {
    Uuid::new_v5(ns, parts.join("\u{1f}").as_bytes())
}

fn id(parts: &[&str]) -> String {
    uuid_of(&namespace(), parts).hyphenated().to_string()
}

/// The id of a report made at `generated_at` of the state at `as_of` (RFC 3339): the
/// OSCAL document's UUID, shown on every format.
pub fn report_id(generated_at: &str, as_of: &str) -> String {
    id(&["assessment-results", generated_at, as_of])
}

/// A UUID written as its hyphenated text, without an intermediate `String`.
#[derive(Clone, Copy)]
struct UuidText(Uuid);

impl Serialize for UuidText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = Uuid::encode_buffer();
        s.serialize_str(self.0.hyphenated().encode_lower(&mut buf))
    }
}

/// Whether a string is already an OSCAL string.
fn is_clean(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(char::is_whitespace)
        && !s.ends_with(char::is_whitespace)
        && !s
            .as_bytes()
            .windows(2)
            .any(|w| w[0].is_ascii_whitespace() && w[1].is_ascii_whitespace())
        && !s.contains(|c: char| c.is_whitespace() && c != ' ')
}

/// An OSCAL string: non-empty, single spaces, no leading or trailing whitespace.
fn clean(s: &str) -> Cow<'_, str> {
    if is_clean(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_empty() {
        Cow::Borrowed("-")
    } else {
        Cow::Owned(out)
    }
}

#[derive(Serialize)]
struct Prop<'a> {
    name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ns: Option<&'static str>,
    value: Cow<'a, str>,
}

fn ours<'a>(name: &'static str, value: &'a str) -> Prop<'a> {
    Prop {
        name,
        ns: Some(NS),
        value: clean(value),
    }
}

fn ours_owned(name: &'static str, value: String) -> Prop<'static> {
    Prop {
        name,
        ns: Some(NS),
        value: Cow::Owned(clean(&value).into_owned()),
    }
}

fn standard<'a>(name: &'static str, value: &'a str) -> Prop<'a> {
    Prop {
        name,
        ns: None,
        value: clean(value),
    }
}

#[derive(Serialize)]
struct Document<'a> {
    #[serde(rename = "assessment-results")]
    assessment_results: AssessmentResults<'a>,
}

#[derive(Serialize)]
struct AssessmentResults<'a> {
    uuid: String,
    metadata: Metadata<'a>,
    #[serde(rename = "import-ap")]
    import_ap: ImportAp,
    results: [OscalResult<'a>; 1],
    #[serde(rename = "back-matter", skip_serializing_if = "Resources::is_empty")]
    back_matter: Resources<'a>,
}

/// One back-matter resource per signed report cited, streamed.
struct Resources<'a>(&'a [HostEntry]);

impl Resources<'_> {
    fn is_empty(&self) -> bool {
        !self.0.iter().any(|h| h.evidence.is_some())
    }
}

#[derive(Serialize)]
struct Resource<'a> {
    uuid: UuidText,
    title: Cow<'a, str>,
    props: [Prop<'a>; 5],
    rlinks: [Rlink; 1],
}

#[derive(Serialize)]
struct Rlink {
    href: String,
    #[serde(rename = "media-type")]
    media_type: &'static str,
}

impl Serialize for Resources<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct BackMatter<'b> {
            resources: ResourceList<'b>,
        }
        struct ResourceList<'b>(&'b [HostEntry]);
        impl Serialize for ResourceList<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let ns = namespace();
                let mut seq = s.serialize_seq(None)?;
                for h in self.0 {
                    let Some(ev) = &h.evidence else { continue };
                    let title = format!(
                        "Signed Attest report seq {} of {} ({})",
                        ev.seq, h.hostname, h.agent_id
                    );
                    seq.serialize_element(&Resource {
                        uuid: UuidText(report_uuid(&ns, h, ev.log_index)),
                        title: clean(&title),
                        props: [
                            ours_owned("report-seq", ev.seq.to_string()),
                            ours_owned("log-index", ev.log_index.to_string()),
                            ours("payload-sha256", &ev.payload_sha256),
                            ours("collected-at", &ev.collected_at),
                            ours_owned("signature", ev.signature.text()),
                        ],
                        rlinks: [Rlink {
                            href: format!("envelopes/{}/{}.json", h.agent_id, ev.seq),
                            media_type: "application/json",
                        }],
                    })?;
                }
                seq.end()
            }
        }
        BackMatter {
            resources: ResourceList(self.0),
        }
        .serialize(s)
    }
}

#[derive(Serialize)]
struct Metadata<'a> {
    title: String,
    #[serde(rename = "last-modified")]
    last_modified: String,
    version: String,
    #[serde(rename = "oscal-version")]
    oscal_version: &'static str,
    props: Vec<Prop<'a>>,
}

#[derive(Serialize)]
struct ImportAp {
    href: &'static str,
    remarks: &'static str,
}

#[derive(Serialize)]
struct OscalResult<'a> {
    uuid: String,
    title: String,
    description: String,
    start: String,
    end: String,
    props: Vec<Prop<'a>>,
    #[serde(rename = "local-definitions", skip_serializing_if = "Option::is_none")]
    local_definitions: Option<LocalDefinitions<'a>>,
    #[serde(rename = "reviewed-controls")]
    reviewed_controls: ReviewedControls,
    #[serde(skip_serializing_if = "Observations::is_empty")]
    observations: Observations<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    findings: Vec<Finding<'a>>,
}

#[derive(Serialize)]
struct LocalDefinitions<'a> {
    #[serde(rename = "inventory-items")]
    inventory_items: InventoryItems<'a>,
}

#[derive(Serialize)]
struct ReviewedControls {
    description: String,
    #[serde(rename = "control-selections")]
    control_selections: [ControlSelection; 1],
}

#[derive(Serialize)]
struct ControlSelection {
    description: String,
    /// OSCAL needs at least one control here; with none assessed, `include-all`.
    #[serde(rename = "include-controls", skip_serializing_if = "Vec::is_empty")]
    include_controls: Vec<ControlId>,
    #[serde(rename = "include-all", skip_serializing_if = "Option::is_none")]
    include_all: Option<IncludeAll>,
}

#[derive(Serialize)]
struct IncludeAll {}

#[derive(Serialize)]
struct ControlId {
    #[serde(rename = "control-id")]
    control_id: String,
}

#[derive(Serialize)]
struct Finding<'a> {
    uuid: String,
    title: String,
    description: String,
    props: Vec<Prop<'a>>,
    target: Target,
    #[serde(
        rename = "related-observations",
        skip_serializing_if = "Related::is_empty"
    )]
    related_observations: Related<'a>,
}

#[derive(Serialize)]
struct Target {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "target-id")]
    target_id: String,
    status: Status,
}

#[derive(Serialize)]
struct Status {
    state: &'static str,
    reason: &'static str,
}

#[derive(Serialize)]
struct RelatedObservation {
    #[serde(rename = "observation-uuid")]
    observation_uuid: UuidText,
}

/// The observations of a finding's checks on every host, streamed.
struct Related<'a> {
    hosts: &'a [HostEntry],
    ids: &'a ObservationIds,
    checks: Vec<&'a str>,
}

impl Related<'_> {
    fn matching(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.hosts.iter().enumerate().flat_map(move |(i, h)| {
            h.results
                .iter()
                .enumerate()
                .filter(move |(_, r)| {
                    h.evidence.is_some()
                        && r.status.is_some()
                        && self.checks.contains(&r.check.as_str())
                })
                .filter_map(move |(j, _)| self.ids.get(i, j))
        })
    }

    fn is_empty(&self) -> bool {
        self.matching().next().is_none()
    }
}

impl Serialize for Related<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.matching().map(|u| RelatedObservation {
            observation_uuid: UuidText(u),
        }))
    }
}

#[derive(Serialize)]
struct InventoryItem<'a> {
    uuid: UuidText,
    description: Cow<'a, str>,
    props: Vec<Prop<'a>>,
}

#[derive(Serialize)]
struct Observation<'a> {
    uuid: UuidText,
    title: Cow<'a, str>,
    description: Cow<'a, str>,
    props: Vec<Prop<'a>>,
    methods: [&'static str; 1],
    subjects: [Subject; 1],
    #[serde(rename = "relevant-evidence")]
    relevant_evidence: [Evidence<'a>; 1],
    collected: &'a str,
}

#[derive(Serialize)]
struct Subject {
    #[serde(rename = "subject-uuid")]
    subject_uuid: UuidText,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Evidence<'a> {
    href: &'a str,
    description: &'a str,
    /// For a result that did not pass: its first source (`<kind> <source>:`) and the
    /// deciding lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    remarks: Option<String>,
}

fn host_uuid(ns: &Uuid, h: &HostEntry) -> Uuid {
    uuid_of(ns, &["host", &h.agent_id])
}

fn report_uuid(ns: &Uuid, h: &HostEntry, log_index: i64) -> Uuid {
    uuid_of(ns, &["report", &h.agent_id, &log_index.to_string()])
}

fn observation_uuid(ns: &Uuid, h: &HostEntry, log_index: i64, check: &str) -> Uuid {
    uuid_of(
        ns,
        &["observation", &h.agent_id, &log_index.to_string(), check],
    )
}

/// The UUID of every observation (host × result with a status, of hosts with
/// evidence), computed once: observations and findings both cite them.
struct ObservationIds {
    /// Per host, where its results start in `ids`.
    start: Vec<usize>,
    /// Per host × result; the nil UUID for results that are no observation.
    ids: Vec<Uuid>,
}

impl ObservationIds {
    fn new(hosts: &[HostEntry]) -> ObservationIds {
        let ns = namespace();
        let of_host = |h: &HostEntry| -> Vec<Uuid> {
            let Some(ev) = &h.evidence else {
                return Vec::new();
            };
            h.results
                .iter()
                .map(|r| match r.status {
                    Some(_) => observation_uuid(&ns, h, ev.log_index, &r.check),
                    None => Uuid::nil(),
                })
                .collect()
        };
        let threads = std::thread::available_parallelism()
            .map(std::num::NonZero::get)
            .unwrap_or(1)
            .clamp(1, 16);
        let chunk = hosts.len().div_ceil(threads).max(1);
        let parts: Vec<Vec<Vec<Uuid>>> = std::thread::scope(|s| {
            let handles: Vec<_> = hosts
                .chunks(chunk)
                .map(|part| s.spawn(move || part.iter().map(of_host).collect::<Vec<_>>()))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        let mut start = Vec::with_capacity(hosts.len() + 1);
        let mut ids = Vec::with_capacity(hosts.iter().map(|h| h.results.len()).sum());
        for per_host in parts.into_iter().flatten() {
            start.push(ids.len());
            ids.extend(per_host);
        }
        start.push(ids.len());
        ObservationIds { start, ids }
    }

    /// The observation of result `j` of host `i`.
    fn get(&self, i: usize, j: usize) -> Option<Uuid> {
        let from = *self.start.get(i)?;
        let to = *self.start.get(i + 1)?;
        let at = from.checked_add(j).filter(|at| *at < to)?;
        self.ids.get(at).copied().filter(|u| !u.is_nil())
    }
}

/// The hosts, streamed.
struct InventoryItems<'a>(&'a [HostEntry]);

impl Serialize for InventoryItems<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ns = namespace();
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for h in self.0 {
            let mut props = vec![
                standard("asset-id", &h.agent_id),
                ours("hostname", &h.hostname),
                ours("machine-id", &h.machine_id),
                standard("os-name", &h.os.pretty_name),
                standard("os-version", &h.os.version_id),
            ];
            if let Some(v) = &h.hardware.vendor {
                props.push(standard("vendor-name", v));
            }
            if let Some(m) = &h.hardware.model {
                props.push(standard("model", m));
            }
            if let Some(sn) = &h.hardware.serial {
                props.push(standard("serial-number", sn));
            }
            let description = format!(
                "{} ({}), Attest agent {}",
                h.hostname, h.os.pretty_name, h.agent_id
            );
            seq.serialize_element(&InventoryItem {
                uuid: UuidText(host_uuid(&ns, h)),
                description: Cow::Owned(clean(&description).into_owned()),
                props,
            })?;
        }
        seq.end()
    }
}

/// Every host × check result with evidence, streamed.
struct Observations<'a> {
    hosts: &'a [HostEntry],
    ids: &'a ObservationIds,
}

impl Observations<'_> {
    fn is_empty(&self) -> bool {
        !self.hosts.iter().any(|h| h.evidence.is_some())
    }
}

impl Observations<'_> {
    /// The observations of some hosts (`(index, host)`), each rendered to JSON text.
    fn render(
        &self,
        hosts: &[(usize, &HostEntry)],
    ) -> Result<Vec<Box<RawValue>>, serde_json::Error> {
        let ns = namespace();
        let mut out = Vec::with_capacity(hosts.len() * 25);
        for &(i, h) in hosts {
            let Some(ev) = &h.evidence else { continue };
            let host = UuidText(host_uuid(&ns, h));
            let mut report = String::with_capacity(37);
            report.push('#');
            report.push_str(
                report_uuid(&ns, h, ev.log_index)
                    .hyphenated()
                    .encode_lower(&mut Uuid::encode_buffer()),
            );
            let evidence =
                clean(&format!("Attest report seq {} of {}", ev.seq, h.hostname)).into_owned();
            for (j, r) in h.results.iter().enumerate() {
                let Some(status) = r.status else { continue };
                let Some(uuid) = self.ids.get(i, j) else {
                    continue;
                };
                let mut props = Vec::with_capacity(5);
                props.push(ours("check", &r.check));
                props.push(ours("status", status));
                props.push(ours("state", r.state.as_str()));
                if let Some(u) = r.unwaived {
                    props.push(ours("unwaived-state", u.as_str()));
                }
                if let Some(w) = &r.waiver {
                    props.push(ours("waiver", w));
                }
                for k in &r.counted {
                    props.push(ours_owned(
                        "counts-as",
                        format!("{}:{}", k.control, k.state.as_str()),
                    ));
                }
                let summary = r.summary.as_deref().unwrap_or_default();
                let reason = r.reason.as_deref().filter(|reason| *reason != summary);
                let description = match (reason, &r.note) {
                    (None, None) if r.counted.is_empty() => clean(summary),
                    (reason, note) => {
                        let mut d = summary.to_owned();
                        if let Some(reason) = reason {
                            d.push_str(" Reason: ");
                            d.push_str(reason);
                        }
                        if let Some(note) = note {
                            d.push_str(" (");
                            d.push_str(note);
                            d.push(')');
                        }
                        for k in &r.counted {
                            d.push_str(" Mapping: ");
                            d.push_str(&k.note);
                            d.push('.');
                        }
                        Cow::Owned(clean(&d).into_owned())
                    }
                };
                let title = format!("{} on {}: {}", r.check, h.hostname, status);
                out.push(serde_json::value::to_raw_value(&Observation {
                    uuid: UuidText(uuid),
                    title: Cow::Owned(clean(&title).into_owned()),
                    description,
                    props,
                    methods: ["TEST"],
                    subjects: [Subject {
                        subject_uuid: host,
                        kind: "inventory-item",
                    }],
                    relevant_evidence: [Evidence {
                        href: &report,
                        description: &evidence,
                        remarks: r
                            .evidence
                            .first()
                            .filter(|e| !e.excerpt.is_empty())
                            .map(|e| format!("{} {}:\n{}", e.kind, e.source, e.excerpt)),
                    }],
                    collected: &ev.collected_at,
                })?);
            }
        }
        Ok(out)
    }
}

/// Rendered on all cores, written in order.
impl Serialize for Observations<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let hosts: Vec<(usize, &HostEntry)> = self.hosts.iter().enumerate().collect();
        let mut seq = s.serialize_seq(None)?;
        crate::par::for_each_ordered(
            &hosts,
            32,
            |chunk| self.render(chunk),
            |rendered| {
                for o in rendered.map_err(S::Error::custom)? {
                    seq.serialize_element(&o)?;
                }
                Ok(())
            },
        )?;
        seq.end()
    }
}

fn findings<'a>(report: &'a FleetReport, ids: &'a ObservationIds) -> Vec<Finding<'a>> {
    report
        .controls
        .iter()
        .filter(|c| c.assessed)
        .filter_map(|c| {
            let counts = c.counts?;
            let verdict = c.verdict.unwrap_or(State::NotAssessed);
            let (state, reason) = match verdict {
                State::Satisfied | State::Waived => ("satisfied", "pass"),
                State::NotSatisfied => ("not-satisfied", "fail"),
                State::Stale | State::NotAssessed => ("not-satisfied", "other"),
            };
            let checks: Vec<&str> = c.checks.iter().map(|k| k.check.as_str()).collect();
            let rules: String = c
                .checks
                .iter()
                .flat_map(|k| {
                    k.rules.iter().map(move |r| {
                        format!(
                            " Mapping rule ({}): {} {} for {}: {}",
                            r.origin,
                            k.check,
                            r.text(),
                            c.id,
                            r.rationale
                        )
                    })
                })
                .collect();
            Some(Finding {
                uuid: id(&["finding", &report.scope.as_of, &c.id]),
                title: clean(&format!("{} {}", c.id, c.title)).into_owned(),
                description: format!(
                    "{} of {} hosts in scope satisfy {} {}; {} waived, {} not satisfied, {} \
                     stale, {} not assessed. Evidence: the checks {}.{}",
                    counts.satisfied,
                    counts.total(),
                    c.id,
                    c.title,
                    counts.waived,
                    counts.not_satisfied,
                    counts.stale,
                    counts.not_assessed,
                    checks.join(", "),
                    rules
                ),
                props: vec![
                    ours("control-id", &c.oscal_id),
                    ours_owned("hosts-in-scope", counts.total().to_string()),
                    ours_owned("hosts-satisfied", counts.satisfied.to_string()),
                    ours_owned("hosts-waived", counts.waived.to_string()),
                    ours_owned("hosts-not-satisfied", counts.not_satisfied.to_string()),
                    ours_owned("hosts-stale", counts.stale.to_string()),
                    ours_owned("hosts-not-assessed", counts.not_assessed.to_string()),
                ],
                target: Target {
                    kind: "objective-id",
                    target_id: format!("{}_obj", c.oscal_id),
                    status: Status { state, reason },
                },
                related_observations: Related {
                    hosts: &report.hosts,
                    ids,
                    checks,
                },
            })
        })
        .collect()
}

pub fn write(
    report: &FleetReport,
    catalog: &Catalog,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    let scope = &report.scope;
    let start = scope
        .period
        .as_ref()
        .map_or_else(|| scope.as_of.clone(), |p| p.from.clone());
    let when = match &scope.period {
        Some(p) => format!("from {} to {}", p.from, p.to),
        None => format!("as of {}", scope.as_of),
    };
    let assessed: Vec<ControlId> = report
        .controls
        .iter()
        .filter(|c| c.assessed)
        .map(|c| ControlId {
            control_id: c.oscal_id.clone(),
        })
        .collect();
    let not_assessed = report.controls.iter().filter(|c| !c.assessed).count();
    let n_assessed = assessed.len();
    let ids = ObservationIds::new(&report.hosts);
    let generator = format!("attest-collector {}", env!("CARGO_PKG_VERSION"));
    let doc = Document {
        assessment_results: AssessmentResults {
            uuid: report.report_id.clone(),
            metadata: Metadata {
                title: clean(&format!("Attest evidence for {} {when}", catalog.framework))
                    .into_owned(),
                last_modified: report.generated_at.clone(),
                version: report.generated_at.clone(),
                oscal_version: OSCAL_VERSION,
                props: vec![
                    ours("generator", &generator),
                    ours("mapping-sha256", &scope.mapping.sha256),
                    ours_owned("log-tree-size", scope.log.tree_size.to_string()),
                    ours("log-root-hash", &scope.log.root_hash),
                ],
            },
            import_ap: ImportAp {
                href: "#attest-continuous-collection",
                remarks: "Attest collects evidence continuously from enrolled hosts; there is \
                          no separate assessment plan document. The method is in the HTML \
                          report's Scope and method section.",
            },
            results: [OscalResult {
                uuid: id(&["result", &report.generated_at, &scope.as_of]),
                title: clean(&format!("Fleet state {when}")).into_owned(),
                description: format!(
                    "The state of {} hosts {when}, from their latest signed Attest report \
                     within a freshness window of {} hours. {} controls of {} are evidenced \
                     by Attest's checks; the other {not_assessed} are not assessed by Attest.",
                    scope.hosts_in_scope,
                    scope.freshness_window_hours,
                    n_assessed,
                    catalog.framework
                ),
                start,
                end: scope.as_of.clone(),
                props: vec![
                    ours_owned("hosts-in-scope", scope.hosts_in_scope.to_string()),
                    ours_owned(
                        "freshness-window-hours",
                        scope.freshness_window_hours.to_string(),
                    ),
                ],
                local_definitions: (!report.hosts.is_empty()).then_some(LocalDefinitions {
                    inventory_items: InventoryItems(&report.hosts),
                }),
                reviewed_controls: ReviewedControls {
                    description: format!(
                        "The controls of {} that Attest's checks are evidence for.",
                        catalog.framework
                    ),
                    control_selections: [ControlSelection {
                        description: clean(&format!(
                            "Mapping: {} ({}, SHA-256 {}).",
                            scope.mapping.origin, scope.mapping.mode, scope.mapping.sha256
                        ))
                        .into_owned(),
                        include_all: assessed.is_empty().then_some(IncludeAll {}),
                        include_controls: assessed,
                    }],
                },
                observations: Observations {
                    hosts: &report.hosts,
                    ids: &ids,
                },
                findings: findings(report, &ids),
            }],
            back_matter: Resources(&report.hosts),
        },
    };
    // A concrete buffered writer: serde_json writes many small pieces.
    let mut w = std::io::BufWriter::with_capacity(1 << 16, out);
    serde_json::to_writer(&mut w, &doc)?;
    w.write_all(b"\n")?;
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_collapses_whitespace_and_borrows_clean_text() {
        assert!(matches!(clean("a b"), Cow::Borrowed("a b")));
        assert_eq!(clean("  a \n\t b  "), "a b");
        assert_eq!(clean("a  b"), "a b");
        assert_eq!(clean("a\u{a0}b"), "a b");
        assert_eq!(clean(""), "-");
        assert_eq!(clean(" \n "), "-");
    }

    #[test]
    fn uuid_text_is_the_hyphenated_uuid() {
        let u = uuid_of(&namespace(), &["host", "agt_1"]);
        assert_eq!(
            serde_json::to_string(&UuidText(u)).unwrap(),
            format!("\"{}\"", u.hyphenated())
        );
        // Name-based: the same parts give the same id, other parts another.
        assert_eq!(u, uuid_of(&namespace(), &["host", "agt_1"]));
        assert_ne!(u, uuid_of(&namespace(), &["host", "agt_2"]));
    }
}
