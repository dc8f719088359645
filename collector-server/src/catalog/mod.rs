//! The control catalogue and the check → control mapping, as data.
//!
//! Two TOML files ship inside the binary:
//!
//! - `data/iso27002-2022.toml`: the 93 controls of ISO/IEC 27002:2022 (5.1–5.37,
//!   6.1–6.8, 7.1–7.14, 8.1–8.34), each with its id, its theme and the control's name
//!   as the standard gives it (so an auditor maps nothing back by hand);
//! - `data/mapping-default.toml`: the agent's checks (the catalogue of
//!   `attest_proto::catalogue`, tested equal) and the default mapping of `checks.md`
//!   ("Mapping to controls"), one link per check and control, each with a one-line
//!   rationale, and the mapping rules ([`Rule`]): how a linked result counts for one
//!   control when one of its facts has a given value (the collector's decisions for
//!   macOS: XProtect-only for 8.7, no OpenBSM auditing for 8.15, Reduced Security for
//!   8.1).
//!
//! `--mapping FILE` replaces or extends the default mapping with a file of the same
//! shape ([`mapping`]): an organisation's own control ids, or another framework that
//! shares the numbering (ISO/IEC 27001:2022 Annex A). Everything downstream
//! (evaluation, every report format) reads a [`Catalog`] and never the files.

pub mod mapping;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

pub use mapping::MappingError;

/// The built-in control catalogue.
pub const ISO27002_TOML: &str = include_str!("../../data/iso27002-2022.toml");
/// The built-in default mapping (also the agent's check list).
pub const DEFAULT_MAPPING_TOML: &str = include_str!("../../data/mapping-default.toml");

/// The theme of a control (the four of ISO/IEC 27002:2022, or none for an
/// organisation's own controls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    Organizational,
    People,
    Physical,
    Technological,
    /// An organisation's own control without one of the four themes.
    Other,
}

impl Theme {
    pub fn as_str(self) -> &'static str {
        match self {
            Theme::Organizational => "organizational",
            Theme::People => "people",
            Theme::Physical => "physical",
            Theme::Technological => "technological",
            Theme::Other => "other",
        }
    }

    /// How a person reads it.
    pub fn label(self) -> &'static str {
        match self {
            Theme::Organizational => "Organizational",
            Theme::People => "People",
            Theme::Physical => "Physical",
            Theme::Technological => "Technological",
            Theme::Other => "Other",
        }
    }
}

/// One control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Control {
    /// As the framework writes it, e.g. `8.24`.
    pub id: String,
    pub title: String,
    pub theme: Theme,
}

impl Control {
    /// The id in OSCAL, which must start with a letter: `8.24` → `a.8.24`; ids that
    /// start with a letter are lowercased, and characters outside OSCAL tokens become
    /// `-`.
    pub fn oscal_id(&self) -> String {
        oscal_control_id(&self.id)
    }
}

/// See [`Control::oscal_id`].
pub fn oscal_control_id(id: &str) -> String {
    let clean: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if clean.starts_with(|c: char| c.is_ascii_alphabetic()) {
        clean
    } else {
        format!("a.{clean}")
    }
}

/// One check the agent (or an organisation) reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckInfo {
    pub id: String,
    pub title: String,
}

/// A link: this check is evidence for this control, because…
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    pub check: String,
    pub control: String,
    pub rationale: String,
}

/// What a result counts as for a control when a [`Rule`] matches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CountsAs {
    Satisfied,
    NotSatisfied,
    NotAssessed,
}

impl CountsAs {
    pub fn parse(s: &str) -> Option<CountsAs> {
        match s {
            "satisfied" => Some(CountsAs::Satisfied),
            "not_satisfied" => Some(CountsAs::NotSatisfied),
            "not_assessed" => Some(CountsAs::NotAssessed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CountsAs::Satisfied => "satisfied",
            CountsAs::NotSatisfied => "not_satisfied",
            CountsAs::NotAssessed => "not_assessed",
        }
    }
}

/// The value a fact must equal for a [`Rule`] to match: a string, a boolean or an
/// integer (compared with the JSON value the agent wrote, type and all).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum FactValue {
    Bool(bool),
    Integer(i64),
    Text(String),
}

impl FactValue {
    /// Whether the agent's JSON value is this value (`"1"` is not `1`).
    pub fn matches(&self, v: &serde_json::Value) -> bool {
        match (self, v) {
            (FactValue::Bool(a), serde_json::Value::Bool(b)) => a == b,
            (FactValue::Integer(a), serde_json::Value::Number(n)) => n.as_i64() == Some(*a),
            (FactValue::Text(a), serde_json::Value::String(b)) => a == b,
            _ => false,
        }
    }
}

impl std::fmt::Display for FactValue {
    /// As JSON writes it: `"xprotect"`, `false`, `30`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FactValue::Bool(b) => write!(f, "{b}"),
            FactValue::Integer(i) => write!(f, "{i}"),
            FactValue::Text(t) => write!(f, "{t:?}"),
        }
    }
}

/// A mapping decision on a link: when a result of `check` (with `status`, if given)
/// has `facts.<fact>` equal to `equals`, it counts as `counts_as` for `control`
/// instead of what its status says (`[[rule]]` in a mapping file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub check: String,
    pub control: String,
    /// The OS the rule is about, as the host reports it (`host.os.id`: `macos`…);
    /// every OS when `None`. A rule scoped to an OS never makes the collector read
    /// the facts of another OS's reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// The agent's status the rule applies to; any decided status (not `unknown`)
    /// when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<attest_proto::Status>,
    /// A path below the result's `facts`: keys joined with `.`.
    pub fact: String,
    pub equals: FactValue,
    pub counts_as: CountsAs,
    pub rationale: String,
    /// `built-in`, or the mapping file that set it.
    pub origin: String,
}

impl Rule {
    /// Whether the rule can apply to a result with this status (never to `unknown`:
    /// a rule does not decide what the agent could not) of a host whose `host.os.id`
    /// is `os_id`.
    pub fn applies_to(&self, status: attest_proto::Status, os_id: &str) -> bool {
        status != attest_proto::Status::Unknown
            && self.status.is_none_or(|s| s == status)
            && self.os.as_deref().is_none_or(|os| os == os_id)
    }

    /// The condition as people read it: `pass on macos with facts.basis = "xprotect"`.
    pub fn condition(&self) -> String {
        let status = self.status.map_or("a result", |s| s.as_str());
        let os = self
            .os
            .as_deref()
            .map_or_else(String::new, |os| format!(" on {os}"));
        format!("{status}{os} with facts.{} = {}", self.fact, self.equals)
    }

    /// Whether these facts (the values read at the rules' paths) match.
    pub fn matches(&self, facts: &[(String, serde_json::Value)]) -> bool {
        facts
            .iter()
            .any(|(path, v)| *path == self.fact && self.equals.matches(v))
    }
}

/// The value at a dotted path below a result's facts.
pub fn fact_at<'a>(facts: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(facts, |v, key| v.get(key))
}

/// Where the mapping in use came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappingSource {
    /// `built-in`, or the file's path.
    pub origin: String,
    /// `replace` or `extend` (of the built-in mapping).
    pub mode: String,
    /// Lowercase hex SHA-256 of the mapping file (of the built-in one for the default).
    pub sha256: String,
}

/// Per check id, the fact paths mapping rules read ([`Catalog::rule_facts`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FactWants(pub HashMap<String, Vec<String>>);

impl FactWants {
    /// The paths wanted of a check's facts (none: its facts are not read).
    pub fn of(&self, check: &str) -> Option<&[String]> {
        self.0.get(check).map(Vec::as_slice)
    }

    /// Picks the wanted values out of a result's facts (JSON text); a path that is
    /// absent is left out. `None` when nothing is wanted of this check.
    pub fn pick(
        &self,
        check: &str,
        facts: Option<&str>,
    ) -> Option<Vec<(String, serde_json::Value)>> {
        let paths = self.of(check)?;
        let value: serde_json::Value = facts
            .and_then(|f| serde_json::from_str(f).ok())
            .unwrap_or(serde_json::Value::Null);
        Some(
            paths
                .iter()
                .filter_map(|p| fact_at(&value, p).map(|v| (p.clone(), v.clone())))
                .collect(),
        )
    }
}

/// The controls, the checks and the links between them.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// The name of the framework the control ids belong to.
    pub framework: String,
    controls: Vec<Control>,
    control_index: HashMap<String, usize>,
    checks: Vec<CheckInfo>,
    check_index: HashMap<String, usize>,
    links: Vec<Link>,
    by_check: HashMap<String, Vec<usize>>,
    by_control: HashMap<String, Vec<usize>>,
    rules: Vec<Rule>,
    pub source: MappingSource,
}

impl Catalog {
    /// The built-in catalogue with the default mapping.
    pub fn builtin() -> Result<Catalog, MappingError> {
        mapping::builtin()
    }

    /// The built-in catalogue with the mapping file applied (`None`: the default).
    pub fn load(mapping_file: Option<&std::path::Path>) -> Result<Catalog, MappingError> {
        match mapping_file {
            None => Catalog::builtin(),
            Some(path) => mapping::from_file(path),
        }
    }

    fn assemble(
        framework: String,
        controls: Vec<Control>,
        checks: Vec<CheckInfo>,
        links: Vec<Link>,
        rules: Vec<Rule>,
        source: MappingSource,
    ) -> Catalog {
        let control_index = controls
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        let check_index = checks
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        let mut by_check: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_control: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, l) in links.iter().enumerate() {
            by_check.entry(l.check.clone()).or_default().push(i);
            by_control.entry(l.control.clone()).or_default().push(i);
        }
        Catalog {
            framework,
            controls,
            control_index,
            checks,
            check_index,
            links,
            by_check,
            by_control,
            rules,
            source,
        }
    }

    /// Every control, in catalogue order (5.1 … 8.34, then own controls).
    pub fn controls(&self) -> &[Control] {
        &self.controls
    }

    pub fn control(&self, id: &str) -> Option<&Control> {
        self.control_index
            .get(id)
            .and_then(|&i| self.controls.get(i))
    }

    /// Every known check, in catalogue order.
    pub fn checks(&self) -> &[CheckInfo] {
        &self.checks
    }

    pub fn check(&self, id: &str) -> Option<&CheckInfo> {
        self.check_index.get(id).and_then(|&i| self.checks.get(i))
    }

    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// The links of a check, in mapping order.
    pub fn links_of_check<'a>(&'a self, check: &str) -> impl Iterator<Item = &'a Link> + 'a {
        self.by_check
            .get(check)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.links.get(i))
    }

    /// The controls a check is evidence for, in mapping order.
    pub fn controls_of_check<'a>(&'a self, check: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.links_of_check(check).map(|l| l.control.as_str())
    }

    /// The links of a control, in mapping order.
    pub fn links_of_control<'a>(&'a self, control: &str) -> impl Iterator<Item = &'a Link> + 'a {
        self.by_control
            .get(control)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.links.get(i))
    }

    /// The checks that are evidence for a control, in mapping order.
    pub fn checks_of_control<'a>(&'a self, control: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.links_of_control(control).map(|l| l.check.as_str())
    }

    /// Every mapping rule, in mapping order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rules of one link, in mapping order.
    pub fn rules_of_link<'a>(
        &'a self,
        check: &'a str,
        control: &'a str,
    ) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules
            .iter()
            .filter(move |r| r.check == check && r.control == control)
    }

    /// Per check, the fact paths its rules read (what evaluation needs of each
    /// result's facts; the rest of the facts is never kept).
    pub fn rule_facts(&self) -> FactWants {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for r in &self.rules {
            let paths = out.entry(r.check.clone()).or_default();
            if !paths.contains(&r.fact) {
                paths.push(r.fact.clone());
            }
        }
        FactWants(out)
    }

    /// Whether any check is evidence for this control.
    pub fn is_assessed(&self, control: &str) -> bool {
        self.by_control.contains_key(control)
    }

    /// The controls some check is evidence for, in catalogue order.
    pub fn assessed_controls(&self) -> impl Iterator<Item = &Control> {
        self.controls.iter().filter(|c| self.is_assessed(&c.id))
    }

    /// Controls per theme, in catalogue order.
    pub fn by_theme(&self) -> BTreeMap<Theme, Vec<&Control>> {
        let mut out: BTreeMap<Theme, Vec<&Control>> = BTreeMap::new();
        for c in &self.controls {
            out.entry(c.theme).or_default().push(c);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_has_the_93_controls_with_unique_ids_in_order() {
        let c = Catalog::builtin().unwrap();
        assert_eq!(c.controls().len(), 93);
        let mut expected = Vec::new();
        for (chapter, n) in [(5, 37), (6, 8), (7, 14), (8, 34)] {
            for i in 1..=n {
                expected.push(format!("{chapter}.{i}"));
            }
        }
        let ids: Vec<&str> = c.controls().iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, expected);
        let themes = c.by_theme();
        assert_eq!(themes[&Theme::Organizational].len(), 37);
        assert_eq!(themes[&Theme::People].len(), 8);
        assert_eq!(themes[&Theme::Physical].len(), 14);
        assert_eq!(themes[&Theme::Technological].len(), 34);
        assert!(c.controls().iter().all(|c| !c.title.trim().is_empty()));
        assert_eq!(c.framework, "ISO/IEC 27002:2022");
    }

    /// The catalogue (`attest_proto::catalogue`, from `proto/data/catalogue.toml`) is
    /// the one list of check ids: the default mapping names exactly its checks, in its
    /// order, with its titles, and links every one to some control.
    #[test]
    fn the_default_mapping_is_the_catalogue_and_links_every_check() {
        let c = Catalog::builtin().unwrap();
        let known: Vec<(&str, &str)> = c
            .checks()
            .iter()
            .map(|k| (k.id.as_str(), k.title.as_str()))
            .collect();
        let catalogue: Vec<(&str, &str)> = attest_proto::catalogue::CHECKS
            .iter()
            .map(|k| (k.id, k.title))
            .collect();
        assert_eq!(known, catalogue);
        for check in attest_proto::catalogue::CHECKS {
            assert!(
                c.controls_of_check(check.id).next().is_some(),
                "{} is not mapped",
                check.id
            );
        }
        for l in c.links() {
            assert!(c.control(&l.control).is_some(), "{l:?}");
            assert!(c.check(&l.check).is_some(), "{l:?}");
            assert!(!l.rationale.trim().is_empty(), "{l:?}");
        }
    }

    #[test]
    fn the_default_mapping_is_the_one_of_checks_md() {
        let c = Catalog::builtin().unwrap();
        let of = |check: &str| c.controls_of_check(check).collect::<Vec<_>>();
        for d in [
            "disk.root_encrypted",
            "disk.fixed_volumes_encrypted",
            "disk.swap_encrypted",
        ] {
            assert_eq!(of(d), ["8.24", "8.1", "7.10"]);
        }
        assert_eq!(of("patch.os_supported"), ["8.8"]);
        assert_eq!(of("patch.auto_updates"), ["8.8", "8.19"]);
        assert_eq!(of("accounts.password_min_length"), ["5.17", "8.5"]);
        assert_eq!(of("accounts.lockout"), ["8.5"]);
        assert_eq!(of("accounts.ssh_password_auth"), ["8.5"]);
        assert_eq!(of("accounts.sudo_nopasswd"), ["8.2", "5.15", "5.18"]);
        assert_eq!(of("system.time_sync"), ["8.17"]);
        assert_eq!(of("system.audit_logging"), ["8.15"]);
        assert_eq!(of("system.firewall"), ["8.20", "8.1"]);
        assert_eq!(of("system.screen_lock"), ["7.7", "8.1"]);
        assert_eq!(of("system.secure_boot"), ["8.1", "8.9"]);
        assert_eq!(of("malware.protection"), ["8.7"]);
        assert_eq!(of("inventory.host"), ["5.9", "8.1"]);
        assert_eq!(of("inventory.software"), ["5.9", "8.19"]);
        // The ids of macOS and Windows (catalogue version 2).
        assert_eq!(of("disk.recovery_key_escrow"), ["8.24", "8.13"]);
        assert_eq!(of("accounts.guest_disabled"), ["5.15", "8.5"]);
        assert_eq!(of("accounts.auto_login_disabled"), ["5.15", "8.5", "5.17"]);
        assert_eq!(of("accounts.laps"), ["8.2", "5.17"]);
        assert_eq!(of("system.sip"), ["8.9", "8.1"]);
        assert_eq!(of("system.gatekeeper"), ["8.7", "8.9", "8.1"]);
        assert_eq!(of("system.uac"), ["8.2", "8.9", "8.1"]);
        assert_eq!(of("system.smb1_disabled"), ["8.20", "8.9"]);
        assert_eq!(c.links().len(), 67);
        let assessed: Vec<&str> = c.assessed_controls().map(|c| c.id.as_str()).collect();
        assert_eq!(
            assessed,
            [
                "5.9", "5.15", "5.17", "5.18", "7.7", "7.10", "8.1", "8.2", "8.5", "8.7", "8.8",
                "8.9", "8.13", "8.15", "8.17", "8.19", "8.20", "8.24"
            ]
        );
        assert!(!c.is_assessed("5.1"));
        assert_eq!(c.source.origin, "built-in");
    }

    #[test]
    fn oscal_ids_start_with_a_letter() {
        assert_eq!(oscal_control_id("8.24"), "a.8.24");
        assert_eq!(oscal_control_id("ACME-12"), "acme-12");
        assert_eq!(oscal_control_id("A.5 15"), "a.5-15");
        assert_eq!(oscal_control_id("12/b"), "a.12-b");
    }
}
