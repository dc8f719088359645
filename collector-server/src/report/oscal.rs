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
//!   (with the excerpt of results that did not pass as remarks).
//! - `findings`: one per assessed control, target `objective-id` `a.8.24_obj`, status
//!   `satisfied` when every host in scope is satisfied or waived, else `not-satisfied`,
//!   with the counts and the related observations.
//! - `back-matter.resources`: one per cited signed report (seq, log index, payload
//!   SHA-256, signature status), linking to its path in the evidence bundle.
//!
//! UUIDs are version 5 (name-based), so a report of the same data yields the same ids.
//! Observations are streamed, not held in memory.

use std::io::Write;

use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};
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

fn id(parts: &[&str]) -> String {
    Uuid::new_v5(&namespace(), parts.join("\u{1f}").as_bytes())
        .hyphenated()
        .to_string()
}

/// An OSCAL string: non-empty, single spaces, no leading or trailing whitespace.
fn clean(s: &str) -> String {
    let out = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.is_empty() { "-".to_owned() } else { out }
}

#[derive(Serialize)]
struct Prop {
    name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ns: Option<&'static str>,
    value: String,
}

fn ours(name: &'static str, value: &str) -> Prop {
    Prop {
        name,
        ns: Some(NS),
        value: clean(value),
    }
}

fn standard(name: &'static str, value: &str) -> Prop {
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
    metadata: Metadata,
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
struct Resource {
    uuid: String,
    title: String,
    props: Vec<Prop>,
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
                let mut seq = s.serialize_seq(None)?;
                for h in self.0 {
                    let Some(ev) = &h.evidence else { continue };
                    seq.serialize_element(&Resource {
                        uuid: report_uuid(h, ev.log_index),
                        title: clean(&format!(
                            "Signed Attest report seq {} of {} ({})",
                            ev.seq, h.hostname, h.agent_id
                        )),
                        props: vec![
                            ours("report-seq", &ev.seq.to_string()),
                            ours("log-index", &ev.log_index.to_string()),
                            ours("payload-sha256", &ev.payload_sha256),
                            ours("collected-at", &ev.collected_at),
                            ours("signature", &ev.signature.text()),
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
struct Metadata {
    title: String,
    #[serde(rename = "last-modified")]
    last_modified: String,
    version: String,
    #[serde(rename = "oscal-version")]
    oscal_version: &'static str,
    props: Vec<Prop>,
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
    props: Vec<Prop>,
    #[serde(rename = "local-definitions", skip_serializing_if = "Option::is_none")]
    local_definitions: Option<LocalDefinitions<'a>>,
    #[serde(rename = "reviewed-controls")]
    reviewed_controls: ReviewedControls,
    #[serde(skip_serializing_if = "Observations::is_empty")]
    observations: Observations<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    findings: Vec<Finding>,
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
struct Finding {
    uuid: String,
    title: String,
    description: String,
    props: Vec<Prop>,
    target: Target,
    #[serde(rename = "related-observations", skip_serializing_if = "Vec::is_empty")]
    related_observations: Vec<RelatedObservation>,
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
    observation_uuid: String,
}

#[derive(Serialize)]
struct InventoryItem {
    uuid: String,
    description: String,
    props: Vec<Prop>,
}

#[derive(Serialize)]
struct Observation<'a> {
    uuid: String,
    title: String,
    description: String,
    props: Vec<Prop>,
    methods: [&'static str; 1],
    subjects: [Subject<'a>; 1],
    #[serde(rename = "relevant-evidence")]
    relevant_evidence: [Evidence<'a>; 1],
    collected: &'a str,
}

#[derive(Serialize)]
struct Subject<'a> {
    #[serde(rename = "subject-uuid")]
    subject_uuid: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Evidence<'a> {
    href: String,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    remarks: Option<&'a str>,
}

fn host_uuid(h: &HostEntry) -> String {
    id(&["host", &h.agent_id])
}

fn report_uuid(h: &HostEntry, log_index: i64) -> String {
    id(&["report", &h.agent_id, &log_index.to_string()])
}

fn observation_uuid(h: &HostEntry, log_index: i64, check: &str) -> String {
    id(&["observation", &h.agent_id, &log_index.to_string(), check])
}

/// The hosts, streamed.
struct InventoryItems<'a>(&'a [HostEntry]);

impl Serialize for InventoryItems<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
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
            seq.serialize_element(&InventoryItem {
                uuid: host_uuid(h),
                description: clean(&format!(
                    "{} ({}), Attest agent {}",
                    h.hostname, h.os.pretty_name, h.agent_id
                )),
                props,
            })?;
        }
        seq.end()
    }
}

/// Every host × check result with evidence, streamed.
struct Observations<'a>(&'a [HostEntry]);

impl Observations<'_> {
    fn is_empty(&self) -> bool {
        !self.0.iter().any(|h| h.evidence.is_some())
    }
}

impl Serialize for Observations<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for h in self.0 {
            let Some(ev) = &h.evidence else { continue };
            let host = host_uuid(h);
            let report = format!("#{}", report_uuid(h, ev.log_index));
            let evidence = clean(&format!("Attest report seq {} of {}", ev.seq, h.hostname));
            for r in &h.results {
                let Some(status) = r.status else { continue };
                let mut props = vec![
                    ours("check", &r.check),
                    ours("status", status),
                    ours("state", r.state.as_str()),
                ];
                if let Some(u) = r.unwaived {
                    props.push(ours("unwaived-state", u.as_str()));
                }
                if let Some(w) = &r.waiver {
                    props.push(ours("waiver", w));
                }
                let mut description = r.summary.clone().unwrap_or_default();
                if let Some(reason) = &r.reason {
                    if *reason != description {
                        description = format!("{description} Reason: {reason}");
                    }
                }
                if let Some(note) = &r.note {
                    description = format!("{description} ({note})");
                }
                seq.serialize_element(&Observation {
                    uuid: observation_uuid(h, ev.log_index, &r.check),
                    title: clean(&format!("{} on {}: {}", r.check, h.hostname, status)),
                    description: clean(&description),
                    props,
                    methods: ["TEST"],
                    subjects: [Subject {
                        subject_uuid: &host,
                        kind: "inventory-item",
                    }],
                    relevant_evidence: [Evidence {
                        href: report.clone(),
                        description: evidence.clone(),
                        remarks: r.evidence.first().map(|e| e.excerpt.as_str()),
                    }],
                    collected: &ev.collected_at,
                })?;
            }
        }
        seq.end()
    }
}

fn findings(report: &FleetReport) -> Vec<Finding> {
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
            let related = report
                .hosts
                .iter()
                .filter_map(|h| h.evidence.as_ref().map(|e| (h, e.log_index)))
                .flat_map(|(h, index)| {
                    h.results
                        .iter()
                        .filter(|r| r.status.is_some() && checks.contains(&r.check.as_str()))
                        .map(move |r| RelatedObservation {
                            observation_uuid: observation_uuid(h, index, &r.check),
                        })
                })
                .collect();
            Some(Finding {
                uuid: id(&["finding", &report.scope.as_of, &c.id]),
                title: clean(&format!("{} {}", c.id, c.title)),
                description: format!(
                    "{} of {} hosts in scope satisfy {} {}; {} waived, {} not satisfied, {} \
                     stale, {} not assessed. Evidence: the checks {}.",
                    counts.satisfied,
                    counts.total(),
                    c.id,
                    c.title,
                    counts.waived,
                    counts.not_satisfied,
                    counts.stale,
                    counts.not_assessed,
                    checks.join(", ")
                ),
                props: vec![
                    ours("control-id", &c.oscal_id),
                    ours("hosts-in-scope", &counts.total().to_string()),
                    ours("hosts-satisfied", &counts.satisfied.to_string()),
                    ours("hosts-waived", &counts.waived.to_string()),
                    ours("hosts-not-satisfied", &counts.not_satisfied.to_string()),
                    ours("hosts-stale", &counts.stale.to_string()),
                    ours("hosts-not-assessed", &counts.not_assessed.to_string()),
                ],
                target: Target {
                    kind: "objective-id",
                    target_id: format!("{}_obj", c.oscal_id),
                    status: Status { state, reason },
                },
                related_observations: related,
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
    let doc = Document {
        assessment_results: AssessmentResults {
            uuid: id(&["assessment-results", &report.generated_at, &scope.as_of]),
            metadata: Metadata {
                title: clean(&format!("Attest evidence for {} {when}", catalog.framework)),
                last_modified: report.generated_at.clone(),
                version: report.generated_at.clone(),
                oscal_version: OSCAL_VERSION,
                props: vec![
                    ours(
                        "generator",
                        &format!("attest-collector {}", env!("CARGO_PKG_VERSION")),
                    ),
                    ours("mapping-sha256", &scope.mapping.sha256),
                    ours("log-tree-size", &scope.log.tree_size.to_string()),
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
                title: clean(&format!("Fleet state {when}")),
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
                    ours("hosts-in-scope", &scope.hosts_in_scope.to_string()),
                    ours(
                        "freshness-window-hours",
                        &scope.freshness_window_hours.to_string(),
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
                        )),
                        include_all: assessed.is_empty().then_some(IncludeAll {}),
                        include_controls: assessed,
                    }],
                },
                observations: Observations(&report.hosts),
                findings: findings(report),
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
