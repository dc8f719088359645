//! Which units of a check's table are enabled, masked or merely installed, with
//! the symlinks that show it as evidence.
//!
//! A table entry ending in `@` (e.g. `clamd@`) names a template: every enabled
//! instance (`clamd@scan.service`) counts, unless the instance or the template
//! (`clamd@.service`) is masked.

use attest_proto::{CheckResult, Evidence};

use crate::checks::linux::common::systemd::{self, SYSTEM_DIR, UnitState, unit_name};
use crate::checks::{Context, file_evidence};
use crate::host::{Host, join_path};

/// An enabled unit and the link that enables it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enabled {
    pub unit: String,
    /// Host path of the symlink in a `.wants`/`.requires` directory.
    pub link: String,
}

/// What a scan of a table of units found.
#[derive(Debug, Default)]
pub struct UnitScan {
    /// The units looked for, with their suffix (`clamd@*.service` for templates).
    pub checked: Vec<String>,
    pub enabled: Vec<Enabled>,
    pub masked: Vec<String>,
    /// Installed (unit file in `/usr/lib/systemd/system` or `/lib/systemd/system`)
    /// but neither enabled nor masked.
    pub installed_not_enabled: Vec<String>,
    /// Why `/etc/systemd/system` could not be listed, when it could not.
    pub dir_error: Option<String>,
}

impl UnitScan {
    /// Adds `units_checked`, `units_enabled` and `units_masked` to a result.
    pub fn facts(&self, result: CheckResult) -> CheckResult {
        result
            .fact("units_checked", &self.checked)
            .fact(
                "units_enabled",
                self.enabled.iter().map(|e| &e.unit).collect::<Vec<_>>(),
            )
            .fact("units_masked", &self.masked)
    }

    /// Evidence: the enabling links, then the masking links.
    pub fn evidence(&self, host: &Host) -> Vec<Evidence> {
        let mut out: Vec<Evidence> = self
            .enabled
            .iter()
            .filter_map(|e| link_evidence(host, &e.link))
            .collect();
        out.extend(
            self.masked
                .iter()
                .filter_map(|u| link_evidence(host, &join_path(SYSTEM_DIR, u))),
        );
        out
    }

    /// The names of the enabled units, comma-separated, for summaries.
    pub fn enabled_names(&self) -> String {
        self.enabled
            .iter()
            .map(|e| e.unit.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Why the state of services cannot be read, when `/etc/systemd/system` is
/// unreadable. A missing directory is not an error: checks.md defines "enabled" by
/// the links in it, so without it no unit is enabled (a container without systemd,
/// a host with another init) and the service checks fail, as its table says.
pub fn systemd_dir_error(host: &Host) -> Option<String> {
    match host.list_dir(SYSTEM_DIR) {
        Ok(_) => None,
        Err(e) if e.is_not_found() => None,
        Err(e) => Some(format!("{e}: the state of services cannot be read")),
    }
}

/// Looks up every unit of `table` (plain names get `.service`; names ending in
/// `@` are templates).
pub fn scan(ctx: &Context<'_>, table: &[&str]) -> UnitScan {
    let mut out = UnitScan {
        dir_error: systemd_dir_error(ctx.host),
        ..UnitScan::default()
    };
    for name in table {
        if let Some(prefix) = name.strip_suffix('@') {
            scan_template(ctx, prefix, &mut out);
            continue;
        }
        let unit = unit_name(name);
        match systemd::state(ctx, &unit) {
            UnitState::Enabled { link } => out.enabled.push(Enabled {
                unit: unit.clone(),
                link,
            }),
            UnitState::Masked => out.masked.push(unit.clone()),
            UnitState::Disabled => {
                if systemd::unit_file_exists(ctx.host, &unit) {
                    out.installed_not_enabled.push(unit.clone());
                }
            }
        }
        out.checked.push(unit);
    }
    out
}

/// Enabled instances `PREFIX@INSTANCE.service` of a template.
fn scan_template(ctx: &Context<'_>, prefix: &str, out: &mut UnitScan) {
    let template = format!("{prefix}@.service");
    out.checked.push(format!("{prefix}@*.service"));
    let template_masked = systemd::is_masked(ctx.host, &template);
    if template_masked {
        out.masked.push(template.clone());
    }
    let mut instances: Vec<String> = Vec::new();
    for (dir, names) in wants_dirs(ctx.host) {
        for name in names {
            let is_instance = name
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('@'))
                .and_then(|rest| rest.strip_suffix(".service"))
                .is_some_and(|instance| !instance.is_empty());
            if is_instance && ctx.host.is_symlink(&join_path(&dir, &name)) {
                instances.push(name);
            }
        }
    }
    instances.sort();
    instances.dedup();
    let mut found = false;
    for unit in instances {
        if template_masked {
            continue;
        }
        match systemd::state(ctx, &unit) {
            UnitState::Enabled { link } => {
                found = true;
                out.enabled.push(Enabled { unit, link });
            }
            UnitState::Masked => out.masked.push(unit),
            UnitState::Disabled => {}
        }
    }
    if !found && !template_masked && systemd::unit_file_exists(ctx.host, &template) {
        out.installed_not_enabled.push(template);
    }
}

/// The `*.wants`/`*.requires` directories of `/etc/systemd/system` and their entries.
fn wants_dirs(host: &Host) -> Vec<(String, Vec<String>)> {
    let Ok(names) = host.list_dir(SYSTEM_DIR) else {
        return Vec::new();
    };
    names
        .into_iter()
        .filter(|n| n.ends_with(".wants") || n.ends_with(".requires"))
        .filter_map(|n| {
            let dir = join_path(SYSTEM_DIR, &n);
            let entries = host.list_dir(&dir).ok()?;
            Some((dir, entries))
        })
        .collect()
}

/// Evidence that a symlink exists: its path, `path -> target`, and the SHA-256
/// of the target as written in the link (a link has no content of its own).
pub fn link_evidence(host: &Host, path: &str) -> Option<Evidence> {
    let target = host.read_link(path).ok()?;
    Some(file_evidence(
        path,
        target.as_bytes(),
        format!("{path} -> {target}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Thresholds;
    use crate::checks::linux::system::testing::{Units, systemd};
    use crate::host::fake::FakeHost;

    fn scan_tree(t: &FakeHost, table: &[&str]) -> UnitScan {
        let host = t.host();
        let th = Thresholds::default();
        let ctx = Context::new(&host, chrono::DateTime::UNIX_EPOCH, &th);
        scan(&ctx, table)
    }

    #[test]
    fn template_instances_count_unless_masked() {
        let mut t = systemd();
        t.add_file("/usr/lib/systemd/system/clamd@.service", "[Unit]\n");
        t.add_link(
            "/etc/systemd/system/multi-user.target.wants/clamd@scan.service",
            "/usr/lib/systemd/system/clamd@.service",
        );
        let s = scan_tree(&t, &["clamd@"]);
        assert_eq!(s.checked, vec!["clamd@*.service"]);
        assert_eq!(s.enabled.len(), 1);
        assert_eq!(s.enabled[0].unit, "clamd@scan.service");

        t.mask("clamd@.service");
        let s = scan_tree(&t, &["clamd@"]);
        assert!(s.enabled.is_empty());
        assert_eq!(s.masked, vec!["clamd@.service"]);
    }

    #[test]
    fn a_bare_template_link_is_not_an_instance() {
        let mut t = systemd();
        t.add_link(
            "/etc/systemd/system/multi-user.target.wants/clamd@.service",
            "/usr/lib/systemd/system/clamd@.service",
        );
        t.add_link(
            "/etc/systemd/system/multi-user.target.wants/clamdx@a.service",
            "/usr/lib/systemd/system/clamd-x.service",
        );
        assert!(scan_tree(&t, &["clamd@"]).enabled.is_empty());
    }

    #[test]
    fn missing_systemd_dir_means_nothing_enabled() {
        let t = FakeHost::linux();
        let s = scan_tree(&t, &["chrony"]);
        assert!(s.dir_error.is_none());
        assert!(s.enabled.is_empty());
        assert_eq!(s.checked, vec!["chrony.service"]);
    }

    #[test]
    fn installed_but_disabled_units_are_listed() {
        let mut t = systemd();
        t.add_file("/lib/systemd/system/mdatp.service", "[Unit]\n");
        let s = scan_tree(&t, &["mdatp", "eea"]);
        assert!(s.enabled.is_empty());
        assert_eq!(s.installed_not_enabled, vec!["mdatp.service"]);
    }

    #[test]
    fn link_evidence_hashes_the_target() {
        let mut t = systemd();
        t.enable("chrony.service");
        let host = t.host();
        let ev = link_evidence(
            &host,
            "/etc/systemd/system/multi-user.target.wants/chrony.service",
        )
        .unwrap();
        match ev {
            Evidence::File {
                excerpt, sha256, ..
            } => {
                assert!(excerpt.ends_with("-> /lib/systemd/system/chrony.service"));
                assert_eq!(
                    sha256,
                    crate::checks::sha256(b"/lib/systemd/system/chrony.service")
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
