//! Mapping files: the built-in one and `--mapping FILE`.
//!
//! ```toml
//! version = 1
//! mode = "extend"              # or "replace": drop the built-in links first
//! framework = "ACME controls"  # optional: the name reports show for the control ids
//! catalogue = "iso27002-2022"  # or "none": only the controls defined below
//!
//! [[control]]                  # own controls (ids not in the catalogue)
//! id = "ACME-12"
//! title = "Laptops are encrypted"
//! theme = "technological"      # optional: organizational, people, physical, technological
//!
//! [[check]]                    # own checks, beyond the agent's
//! id = "custom.vpn_client"
//! title = "The VPN client is installed"
//!
//! [[link]]
//! check = "disk.*"             # a check id, or `area.*` for every known check of an area
//! control = "ACME-12"
//! rationale = "Why this check is evidence for this control, in one line."
//!
//! [[rule]]                     # how a result counts for one linked control
//! check = "malware.protection" # a linked check (no wildcard)
//! control = "8.7"
//! status = "pass"              # optional: pass, fail, info or not_applicable
//! fact = "basis"               # a path below the result's facts (keys joined by .)
//! equals = "xprotect"          # a string, boolean or integer
//! counts_as = "not_satisfied"  # satisfied, not_satisfied or not_assessed
//! rationale = "Why, in one line."
//! ```
//!
//! A rule never applies to an `unknown` result, to stale evidence or to a missing
//! result; when several rules of a link match, the worst `counts_as` decides. In
//! `extend` mode a rule with the same check, control, status, fact and value as a
//! built-in one replaces it (that is how a default decision is changed); `replace`
//! drops the built-in rules with the built-in links.
//!
//! Every mistake is an error that names the file, the entry and what to do: an unknown
//! field, a control or check that is neither known nor defined in the file, a wildcard
//! that matches nothing, a link given twice, an empty rationale, a rule on a link that
//! does not exist, a bad fact path, value, status or `counts_as`, a rule given twice.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use super::{
    Catalog, CheckInfo, Control, CountsAs, DEFAULT_MAPPING_TOML, FactValue, ISO27002_TOML, Link,
    MappingSource, Rule, Theme,
};

/// The mapping-file version this collector reads.
pub const MAPPING_VERSION: u32 = 1;

/// A mapping file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a valid mapping file: {message}")]
    Parse { path: String, message: String },
    #[error(
        "{path}: version {found} is not supported; this collector reads version {MAPPING_VERSION}"
    )]
    Version { path: String, found: u32 },
    #[error("{path}: mode {found:?} is not one of \"extend\" or \"replace\"")]
    Mode { path: String, found: String },
    #[error("{path}: catalogue {found:?} is not one of \"iso27002-2022\" or \"none\"")]
    CatalogueChoice { path: String, found: String },
    #[error("{path}: {what} {index}: {message}")]
    Entry {
        path: String,
        what: &'static str,
        index: usize,
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    version: u32,
    framework: String,
    #[serde(rename = "control")]
    controls: Vec<FileControl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    version: u32,
    mode: Option<String>,
    framework: Option<String>,
    catalogue: Option<String>,
    #[serde(default, rename = "control")]
    controls: Vec<FileControl>,
    #[serde(default, rename = "check")]
    checks: Vec<FileCheck>,
    #[serde(default, rename = "link")]
    links: Vec<FileLink>,
    #[serde(default, rename = "rule")]
    rules: Vec<FileRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRule {
    check: String,
    control: String,
    /// The OS the rule is about (`macos`, `windows`, `debian`…: the agent's
    /// `host.os.id`); any OS when absent.
    os: Option<String>,
    status: Option<String>,
    fact: String,
    equals: toml::Value,
    counts_as: String,
    rationale: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileControl {
    id: String,
    title: String,
    theme: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCheck {
    id: String,
    title: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLink {
    check: String,
    control: String,
    rationale: String,
}

fn parse_theme(s: &str) -> Option<Theme> {
    match s {
        "organizational" | "organisational" => Some(Theme::Organizational),
        "people" => Some(Theme::People),
        "physical" => Some(Theme::Physical),
        "technological" => Some(Theme::Technological),
        "other" => Some(Theme::Other),
        _ => None,
    }
}

/// A control id: non-empty, no whitespace, at most 64 characters.
fn valid_control_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && !id.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A fact path: keys of lowercase ASCII letters, digits and `_`, joined by `.`.
fn valid_fact_path(path: &str) -> bool {
    path.split('.').all(|k| {
        !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    })
}

/// A check id: `area.name`, lowercase ASCII letters, digits and `_`.
fn valid_check_id(id: &str) -> bool {
    let mut parts = id.split('.');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

struct Builder {
    path: String,
    framework: String,
    controls: Vec<Control>,
    checks: Vec<CheckInfo>,
    links: Vec<Link>,
    rules: Vec<Rule>,
}

impl Builder {
    fn entry(&self, what: &'static str, index: usize, message: String) -> MappingError {
        MappingError::Entry {
            path: self.path.clone(),
            what,
            index: index + 1,
            message,
        }
    }

    fn add_controls(&mut self, controls: Vec<FileControl>) -> Result<(), MappingError> {
        for (i, c) in controls.into_iter().enumerate() {
            if !valid_control_id(&c.id) {
                return Err(self.entry(
                    "control",
                    i,
                    format!("id {:?} must be 1 to 64 characters without spaces", c.id),
                ));
            }
            if self.controls.iter().any(|k| k.id == c.id) {
                return Err(self.entry(
                    "control",
                    i,
                    format!(
                        "control {} is already defined; link to it without defining it again",
                        c.id
                    ),
                ));
            }
            if c.title.trim().is_empty() {
                return Err(self.entry(
                    "control",
                    i,
                    format!("control {} has an empty title", c.id),
                ));
            }
            let theme = match c.theme.as_deref() {
                None => Theme::Other,
                Some(t) => parse_theme(t).ok_or_else(|| {
                    self.entry(
                        "control",
                        i,
                        format!(
                            "theme {t:?} is not one of organizational, people, physical, \
                             technological, other"
                        ),
                    )
                })?,
            };
            self.controls.push(Control {
                id: c.id,
                title: c.title.trim().to_owned(),
                theme,
            });
        }
        Ok(())
    }

    fn add_checks(&mut self, checks: Vec<FileCheck>) -> Result<(), MappingError> {
        for (i, c) in checks.into_iter().enumerate() {
            if !valid_check_id(&c.id) {
                return Err(self.entry(
                    "check",
                    i,
                    format!(
                        "id {:?} is not a check id (`area.name`: lowercase letters, digits, _)",
                        c.id
                    ),
                ));
            }
            if self.checks.iter().any(|k| k.id == c.id) {
                return Err(self.entry("check", i, format!("check {} is already known", c.id)));
            }
            self.checks.push(CheckInfo {
                id: c.id,
                title: c.title.trim().to_owned(),
            });
        }
        Ok(())
    }

    fn add_links(&mut self, links: Vec<FileLink>) -> Result<(), MappingError> {
        let mut seen: HashSet<(String, String)> = self
            .links
            .iter()
            .map(|l| (l.check.clone(), l.control.clone()))
            .collect();
        for (i, l) in links.into_iter().enumerate() {
            if !self.controls.iter().any(|c| c.id == l.control) {
                return Err(self.entry(
                    "link",
                    i,
                    format!(
                        "control {:?} is neither in {} nor defined in this file with [[control]]",
                        l.control, self.framework
                    ),
                ));
            }
            let rationale = l.rationale.trim();
            if rationale.is_empty() {
                return Err(self.entry(
                    "link",
                    i,
                    format!(
                        "{} → {}: the rationale is empty; say in one line why the check is \
                         evidence for the control",
                        l.check, l.control
                    ),
                ));
            }
            if rationale.contains('\n') {
                return Err(self.entry(
                    "link",
                    i,
                    format!(
                        "{} → {}: the rationale must be one line",
                        l.check, l.control
                    ),
                ));
            }
            let checks: Vec<String> = if let Some(area) = l.check.strip_suffix(".*") {
                let prefix = format!("{area}.");
                let matched: Vec<String> = self
                    .checks
                    .iter()
                    .filter(|c| c.id.starts_with(&prefix))
                    .map(|c| c.id.clone())
                    .collect();
                if matched.is_empty() {
                    return Err(self.entry(
                        "link",
                        i,
                        format!("{:?} matches no known check", l.check),
                    ));
                }
                matched
            } else {
                if !self.checks.iter().any(|c| c.id == l.check) {
                    return Err(self.entry(
                        "link",
                        i,
                        format!(
                            "check {:?} is not a check of the agent; declare your own checks \
                             with [[check]]",
                            l.check
                        ),
                    ));
                }
                vec![l.check.clone()]
            };
            for check in checks {
                if !seen.insert((check.clone(), l.control.clone())) {
                    return Err(self.entry(
                        "link",
                        i,
                        format!("{check} → {} is linked twice", l.control),
                    ));
                }
                self.links.push(Link {
                    check,
                    control: l.control.clone(),
                    rationale: rationale.to_owned(),
                });
            }
        }
        Ok(())
    }
}

impl Builder {
    fn add_rules(&mut self, rules: Vec<FileRule>, origin: &str) -> Result<(), MappingError> {
        let mut own: Vec<usize> = Vec::new();
        for (i, r) in rules.into_iter().enumerate() {
            let what = format!("{} → {}", r.check, r.control);
            if self.check_known(&r.check).is_none() {
                return Err(self.entry(
                    "rule",
                    i,
                    format!(
                        "check {:?} is not a check of the agent nor declared with [[check]] \
                         (a rule names one check, no wildcard)",
                        r.check
                    ),
                ));
            }
            if !self.controls.iter().any(|c| c.id == r.control) {
                return Err(self.entry(
                    "rule",
                    i,
                    format!(
                        "control {:?} is neither in {} nor defined in this file with [[control]]",
                        r.control, self.framework
                    ),
                ));
            }
            if !self
                .links
                .iter()
                .any(|l| l.check == r.check && l.control == r.control)
            {
                return Err(self.entry(
                    "rule",
                    i,
                    format!(
                        "{what} is not a link; a rule says how a linked result counts, so add \
                         the [[link]] first"
                    ),
                ));
            }
            let status = match r.status.as_deref() {
                None => None,
                Some("unknown") => {
                    return Err(self.entry(
                        "rule",
                        i,
                        format!(
                            "{what}: status \"unknown\" cannot be given: a rule does not decide \
                             what the agent could not"
                        ),
                    ));
                }
                Some(s) => Some(crate::evaluate::parse_status(s).ok_or_else(|| {
                    self.entry(
                        "rule",
                        i,
                        format!(
                            "{what}: status {s:?} is not one of pass, fail, info, not_applicable"
                        ),
                    )
                })?),
            };
            if !valid_fact_path(&r.fact) {
                return Err(self.entry(
                    "rule",
                    i,
                    format!(
                        "{what}: fact {:?} is not a fact path (keys of lowercase letters, digits \
                         and _, joined by dots, e.g. \"basis\" for facts.basis)",
                        r.fact
                    ),
                ));
            }
            if let Some(os) = &r.os
                && !valid_os_id(os)
            {
                return Err(self.entry(
                    "rule",
                    i,
                    format!(
                        "{what}: os {os:?} is not an OS id as the agent reports it in host.os.id                          (lowercase letters, digits, '.', '_' or '-', e.g. \"macos\")"
                    ),
                ));
            }
            let equals = match r.equals {
                toml::Value::String(s) => FactValue::Text(s),
                toml::Value::Boolean(b) => FactValue::Bool(b),
                toml::Value::Integer(n) => FactValue::Integer(n),
                other => {
                    return Err(self.entry(
                        "rule",
                        i,
                        format!(
                            "{what}: equals is a {}; it must be a string, a boolean or an integer",
                            other.type_str()
                        ),
                    ));
                }
            };
            let counts_as = CountsAs::parse(&r.counts_as).ok_or_else(|| {
                self.entry(
                    "rule",
                    i,
                    format!(
                        "{what}: counts_as {:?} is not one of satisfied, not_satisfied, \
                         not_assessed",
                        r.counts_as
                    ),
                )
            })?;
            let rationale = r.rationale.trim();
            if rationale.is_empty() || rationale.contains('\n') {
                return Err(self.entry(
                    "rule",
                    i,
                    format!(
                        "{what}: the rationale must be one line that says why the result counts \
                         so"
                    ),
                ));
            }
            let rule = Rule {
                check: r.check,
                control: r.control,
                os: r.os,
                status,
                fact: r.fact,
                equals,
                counts_as,
                rationale: rationale.to_owned(),
                origin: origin.to_owned(),
            };
            let same = |k: &Rule| {
                k.check == rule.check
                    && k.control == rule.control
                    && k.os == rule.os
                    && k.status == rule.status
                    && k.fact == rule.fact
                    && k.equals == rule.equals
            };
            match self.rules.iter().position(same) {
                Some(at) if own.contains(&at) => {
                    return Err(self.entry(
                        "rule",
                        i,
                        format!("{what}: the rule on {} is given twice", rule.condition()),
                    ));
                }
                // An earlier mapping's rule on the same condition: this one replaces it.
                Some(at) => {
                    if let Some(slot) = self.rules.get_mut(at) {
                        *slot = rule;
                    }
                    own.push(at);
                }
                None => {
                    own.push(self.rules.len());
                    self.rules.push(rule);
                }
            }
        }
        Ok(())
    }

    fn check_known(&self, id: &str) -> Option<&CheckInfo> {
        self.checks.iter().find(|c| c.id == id)
    }
}

/// An OS id as agents report it in `host.os.id` (`macos`, `windows`, `debian`,
/// `rhel`…): lowercase letters, digits, `.`, `_`, `-`, starting with a letter.
fn valid_os_id(id: &str) -> bool {
    id.len() <= 64
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

fn parse<T: for<'de> Deserialize<'de>>(path: &str, text: &str) -> Result<T, MappingError> {
    toml::from_str(text).map_err(|e| MappingError::Parse {
        path: path.to_owned(),
        message: e.to_string().trim_end().replace('\n', " "),
    })
}

fn sha256_hex(text: &str) -> String {
    attest_proto::sha256_hex(text.as_bytes())
}

/// The built-in controls.
fn builtin_controls() -> Result<(String, Vec<Control>), MappingError> {
    let path = "built-in iso27002-2022.toml";
    let file: CatalogueFile = parse(path, ISO27002_TOML)?;
    if file.version != MAPPING_VERSION {
        return Err(MappingError::Version {
            path: path.into(),
            found: file.version,
        });
    }
    let mut b = Builder {
        path: path.into(),
        framework: file.framework.clone(),
        controls: Vec::new(),
        checks: Vec::new(),
        links: Vec::new(),
        rules: Vec::new(),
    };
    b.add_controls(file.controls)?;
    Ok((file.framework, b.controls))
}

/// Applies one mapping file's text on top of `base` (`None`: on nothing, for the
/// built-in mapping itself).
fn apply(
    path: &str,
    text: &str,
    base: Option<Catalog>,
    origin: String,
) -> Result<Catalog, MappingError> {
    let file: MappingFile = parse(path, text)?;
    if file.version != MAPPING_VERSION {
        return Err(MappingError::Version {
            path: path.into(),
            found: file.version,
        });
    }
    let mode = file.mode.clone().unwrap_or_else(|| "extend".to_owned());
    if mode != "extend" && mode != "replace" {
        return Err(MappingError::Mode {
            path: path.into(),
            found: mode,
        });
    }
    let with_catalogue = match file.catalogue.as_deref() {
        None | Some("iso27002-2022") => true,
        Some("none") => false,
        Some(other) => {
            return Err(MappingError::CatalogueChoice {
                path: path.into(),
                found: other.to_owned(),
            });
        }
    };
    let (iso_framework, iso_controls) = builtin_controls()?;
    let (base_checks, base_links, base_rules) = match base {
        Some(b) => (b.checks, b.links, b.rules),
        None => (Vec::new(), Vec::new(), Vec::new()),
    };
    let mut b = Builder {
        path: path.into(),
        framework: file
            .framework
            .clone()
            .unwrap_or_else(|| iso_framework.clone()),
        controls: if with_catalogue {
            iso_controls
        } else {
            Vec::new()
        },
        checks: base_checks,
        links: Vec::new(),
        rules: Vec::new(),
    };
    // Links and rules kept from the base in extend mode, unless the controls they
    // point at are gone.
    if mode == "extend" && with_catalogue {
        b.links = base_links;
        b.rules = base_rules;
    }
    b.add_controls(file.controls)?;
    b.add_checks(file.checks)?;
    b.add_links(file.links)?;
    b.add_rules(file.rules, &origin)?;
    Ok(Catalog::assemble(
        b.framework,
        b.controls,
        b.checks,
        b.links,
        b.rules,
        MappingSource {
            origin,
            mode,
            sha256: sha256_hex(text),
        },
    ))
}

/// The built-in catalogue and mapping.
pub fn builtin() -> Result<Catalog, MappingError> {
    apply(
        "built-in mapping-default.toml",
        DEFAULT_MAPPING_TOML,
        None,
        "built-in".to_owned(),
    )
}

/// The built-in catalogue with a mapping file's text applied (for tests and files).
pub fn from_text(path: &str, text: &str) -> Result<Catalog, MappingError> {
    apply(path, text, Some(builtin()?), path.to_owned())
}

/// The built-in catalogue with a mapping file applied.
pub fn from_file(path: &Path) -> Result<Catalog, MappingError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| MappingError::Read {
        path: shown.clone(),
        source,
    })?;
    from_text(&shown, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        from_text("m.toml", text).unwrap_err().to_string()
    }

    #[test]
    fn extend_adds_own_controls_checks_and_links() {
        let c = from_text(
            "m.toml",
            r#"
version = 1
mode = "extend"
[[control]]
id = "ACME-12"
title = "Laptops are encrypted"
theme = "technological"
[[check]]
id = "custom.vpn_client"
title = "The VPN client is installed"
[[link]]
check = "disk.*"
control = "ACME-12"
rationale = "Encrypted disks are what ACME-12 asks for."
[[link]]
check = "custom.vpn_client"
control = "8.20"
rationale = "The VPN protects traffic on untrusted networks."
"#,
        )
        .unwrap();
        assert_eq!(c.controls().len(), 94);
        assert_eq!(
            c.checks_of_control("ACME-12").collect::<Vec<_>>(),
            [
                "disk.root_encrypted",
                "disk.fixed_volumes_encrypted",
                "disk.swap_encrypted",
                "disk.recovery_key_escrow"
            ]
        );
        // The default links are still there.
        assert_eq!(
            c.checks_of_control("8.20").collect::<Vec<_>>(),
            [
                "system.firewall",
                "system.smb1_disabled",
                "custom.vpn_client"
            ]
        );
        assert_eq!(c.source.mode, "extend");
        assert_eq!(c.source.origin, "m.toml");
        assert_eq!(c.source.sha256.len(), 64);
    }

    #[test]
    fn replace_drops_the_default_links_and_can_drop_the_catalogue() {
        let c = from_text(
            "annex-a.toml",
            r#"
version = 1
mode = "replace"
framework = "ISO/IEC 27001:2022 Annex A"
[[link]]
check = "system.firewall"
control = "8.20"
rationale = "A host firewall protects the host on its networks."
"#,
        )
        .unwrap();
        assert_eq!(c.framework, "ISO/IEC 27001:2022 Annex A");
        assert_eq!(c.links().len(), 1);
        assert!(!c.is_assessed("8.24"));
        assert_eq!(c.controls().len(), 93);

        let own = from_text(
            "own.toml",
            r#"
version = 1
mode = "replace"
catalogue = "none"
framework = "ACME"
[[control]]
id = "NET-1"
title = "Hosts filter inbound traffic"
[[link]]
check = "system.firewall"
control = "NET-1"
rationale = "The host firewall filters inbound traffic."
"#,
        )
        .unwrap();
        assert_eq!(own.controls().len(), 1);
        assert_eq!(own.controls()[0].theme, Theme::Other);
        assert_eq!(own.links().len(), 1);
    }

    #[test]
    fn mistakes_are_named_clearly() {
        let e = err(
            "version = 1\n[[link]]\ncheck = \"system.firewall\"\ncontrol = \"9.1\"\nrationale = \"x\"\n",
        );
        assert!(
            e.contains("m.toml: link 1: control \"9.1\" is neither in ISO/IEC 27002:2022"),
            "{e}"
        );

        let e = err(
            "version = 1\n[[link]]\ncheck = \"system.firwall\"\ncontrol = \"8.20\"\nrationale = \"x\"\n",
        );
        assert!(
            e.contains("link 1: check \"system.firwall\" is not a check of the agent"),
            "{e}"
        );

        let e = err(
            "version = 1\n[[link]]\ncheck = \"nope.*\"\ncontrol = \"8.20\"\nrationale = \"x\"\n",
        );
        assert!(e.contains("\"nope.*\" matches no known check"), "{e}");

        let e = err(
            "version = 1\n[[link]]\ncheck = \"system.firewall\"\ncontrol = \"8.20\"\nrationale = \"x\"\n",
        );
        assert!(e.contains("system.firewall → 8.20 is linked twice"), "{e}");

        let e = err(
            "version = 1\n[[link]]\ncheck = \"system.firewall\"\ncontrol = \"8.9\"\nrationale = \"  \"\n",
        );
        assert!(e.contains("rationale is empty"), "{e}");

        let e = err("version = 2\n");
        assert!(e.contains("version 2 is not supported"), "{e}");

        let e = err("version = 1\nmode = \"merge\"\n");
        assert!(e.contains("mode \"merge\""), "{e}");

        let e = err(
            "version = 1\n[[link]]\ncheck = \"system.firewall\"\ncontrl = \"8.9\"\nrationale = \"x\"\n",
        );
        assert!(e.starts_with("m.toml: not a valid mapping file:"), "{e}");
        assert!(e.contains("contrl"), "{e}");

        let e = err("version = 1\n[[control]]\nid = \"8.24\"\ntitle = \"again\"\n");
        assert!(
            e.contains("control 1: control 8.24 is already defined"),
            "{e}"
        );

        let e = err("version = 1\n[[control]]\nid = \"X 1\"\ntitle = \"t\"\n");
        assert!(e.contains("without spaces"), "{e}");

        let e = err("version = 1\n[[control]]\nid = \"X1\"\ntitle = \"t\"\ntheme = \"cyber\"\n");
        assert!(e.contains("theme \"cyber\""), "{e}");

        let e = err("version = 1\n[[check]]\nid = \"Custom\"\ntitle = \"t\"\n");
        assert!(e.contains("is not a check id"), "{e}");

        let e = err("version = 1\ncatalogue = \"nist\"\n");
        assert!(e.contains("catalogue \"nist\""), "{e}");

        let missing = from_file(Path::new("/nonexistent/mapping.toml")).unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("/nonexistent/mapping.toml: "),
            "{missing}"
        );
    }

    const RULE: &str = "version = 1\n[[rule]]\ncheck = \"malware.protection\"\n\
                        control = \"8.7\"\nfact = \"basis\"\nequals = \"xprotect\"\n\
                        counts_as = \"not_satisfied\"\nrationale = \"r\"\n";

    #[test]
    fn the_default_rules_are_the_three_decisions() {
        let c = builtin().unwrap();
        let rules: Vec<String> = c
            .rules()
            .iter()
            .map(|r| {
                format!(
                    "{} → {}: {} counts as {}",
                    r.check,
                    r.control,
                    r.condition(),
                    r.counts_as.as_str()
                )
            })
            .collect();
        assert_eq!(
            rules,
            [
                "malware.protection → 8.7: pass on macos with facts.basis = \"xprotect\" \
                 counts as not_satisfied",
                "system.audit_logging → 8.15: fail on macos with facts.openbsm = false counts \
                 as not_satisfied",
                "system.secure_boot → 8.1: pass on macos with facts.level = \"Reduced \
                 Security\" counts as satisfied",
            ]
        );
        assert!(c.rules().iter().all(|r| r.origin == "built-in"));
        assert!(c.rules().iter().all(|r| !r.rationale.is_empty()));
        let wants = c.rule_facts();
        assert_eq!(
            wants.of("malware.protection"),
            Some(&["basis".to_owned()][..])
        );
        assert_eq!(wants.of("system.firewall"), None);
    }

    /// In extend mode a rule on the same condition replaces the built-in one; a rule on
    /// another condition is added; replace mode drops the built-in rules.
    #[test]
    fn a_mapping_file_flips_or_adds_rules() {
        let c = from_text(
            "own.toml",
            r#"
version = 1
[[rule]]
check = "system.secure_boot"
control = "8.1"
os = "macos"
status = "pass"
fact = "level"
equals = "Reduced Security"
counts_as = "not_satisfied"
rationale = "We want Full Security on every Mac."
[[rule]]
check = "malware.protection"
control = "8.7"
fact = "xprotect_age_days"
equals = 0
counts_as = "not_assessed"
rationale = "An integer value is compared as a number."
"#,
        )
        .unwrap();
        assert_eq!(c.rules().len(), 4);
        let boot: Vec<&Rule> = c.rules_of_link("system.secure_boot", "8.1").collect();
        assert_eq!(boot.len(), 1);
        assert_eq!(boot[0].counts_as, CountsAs::NotSatisfied);
        assert_eq!(boot[0].origin, "own.toml");
        let malware: Vec<&Rule> = c.rules_of_link("malware.protection", "8.7").collect();
        assert_eq!(malware.len(), 2);
        assert_eq!(malware[1].equals, FactValue::Integer(0));
        assert_eq!(malware[1].status, None);
        assert_eq!(
            c.rule_facts().of("malware.protection"),
            Some(&["basis".to_owned(), "xprotect_age_days".to_owned()][..])
        );

        let replaced = from_text(
            "r.toml",
            "version = 1\nmode = \"replace\"\n[[link]]\ncheck = \"malware.protection\"\n\
             control = \"8.7\"\nrationale = \"x\"\n",
        )
        .unwrap();
        assert!(replaced.rules().is_empty());
    }

    #[test]
    fn rule_mistakes_are_named_clearly() {
        // No status: another condition than the built-in rule's (status pass), so added.
        assert_eq!(from_text("m.toml", RULE).unwrap().rules().len(), 4);
        let bad = |from: &str, to: &str| err(&RULE.replace(from, to));

        let e = bad("malware.protection", "malware.nope");
        assert!(
            e.contains("m.toml: rule 1: check \"malware.nope\" is not a check of the agent"),
            "{e}"
        );
        let e = bad("malware.protection", "malware.*");
        assert!(e.contains("no wildcard"), "{e}");
        let e = bad("\"8.7\"", "\"9.9\"");
        assert!(e.contains("rule 1: control \"9.9\" is neither in"), "{e}");
        let e = bad("\"8.7\"", "\"8.24\"");
        assert!(
            e.contains("malware.protection → 8.24 is not a link; a rule says how a linked"),
            "{e}"
        );
        for path in ["", "Basis", "basis.", "a..b", "basis[0]", "ba sis"] {
            let e = bad("fact = \"basis\"", &format!("fact = {path:?}"));
            assert!(
                e.contains(&format!("fact {path:?} is not a fact path")),
                "{e}"
            );
        }
        let e = bad("equals = \"xprotect\"", "equals = 1.5");
        assert!(
            e.contains("equals is a float; it must be a string, a boolean or an integer"),
            "{e}"
        );
        let e = bad("equals = \"xprotect\"", "equals = [\"a\"]");
        assert!(e.contains("equals is a array"), "{e}");
        let e = bad("\"not_satisfied\"", "\"fail\"");
        assert!(
            e.contains("counts_as \"fail\" is not one of satisfied, not_satisfied"),
            "{e}"
        );
        let e = bad("fact =", "status = \"unknown\"\nfact =");
        assert!(e.contains("status \"unknown\" cannot be given"), "{e}");
        let e = bad("fact =", "status = \"passed\"\nfact =");
        assert!(
            e.contains("status \"passed\" is not one of pass, fail"),
            "{e}"
        );
        let e = bad("rationale = \"r\"", "rationale = \" \"");
        assert!(e.contains("the rationale must be one line"), "{e}");
        let e = bad("counts_as", "count_as");
        assert!(e.starts_with("m.toml: not a valid mapping file:"), "{e}");
        let e = bad("fact = \"basis\"\n", "");
        assert!(e.contains("missing field `fact`"), "{e}");
        // The same condition twice in one file.
        let twice = format!("{RULE}{}", RULE.trim_start_matches("version = 1\n"));
        let e = err(&twice);
        assert!(
            e.contains(
                "rule 2: malware.protection → 8.7: the rule on a result with \
                        facts.basis = \"xprotect\" is given twice"
            ),
            "{e}"
        );
    }

    #[test]
    fn fact_paths_are_validated() {
        assert!(valid_fact_path("basis"));
        assert!(valid_fact_path("hardware.vendor_2"));
        assert!(!valid_fact_path("hardware..vendor"));
        assert!(!valid_fact_path(""));
        assert!(!valid_fact_path("Level"));
    }

    #[test]
    fn check_ids_are_validated() {
        assert!(valid_check_id("disk.root_encrypted"));
        assert!(valid_check_id("a1.b_2"));
        assert!(!valid_check_id("disk"));
        assert!(!valid_check_id("disk.root.x"));
        assert!(!valid_check_id("Disk.x"));
        assert!(!valid_check_id(".x"));
    }
}
