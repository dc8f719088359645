//! Whether a systemd unit is enabled, masked or installed, decided from files as
//! `checks.md` defines it:
//!
//! - **enabled**: a symlink of that name exists in a `/etc/systemd/system/*.wants/`
//!   or `/etc/systemd/system/*.requires/` directory, and the unit is not masked;
//! - **masked**: `/etc/systemd/system/UNIT` *resolves* to `/dev/null`, links
//!   followed inside the root as if chrooted, relative ones included
//!   (`../../../dev/null` masks a unit as surely as `/dev/null`, and so does a
//!   chain of links ending there; `checks.md` clarification 1.1);
//! - **installed** (unit file present): `UNIT` exists in `/usr/lib/systemd/system`
//!   or `/lib/systemd/system`.
//!
//! A name without a suffix means `NAME.service`.

use std::sync::Arc;

use crate::checks::Context;
use crate::host::{Host, join_path};

pub const SYSTEM_DIR: &str = "/etc/systemd/system";

/// The `*.wants`/`*.requires` directories under `/etc/systemd/system` and the
/// names of the symlinks in each, read once per run.
pub struct Links {
    /// (directory host path, link names in it)
    pub dirs: Vec<(String, Vec<String>)>,
}

/// `NAME` → `NAME.service` when it has no unit suffix.
pub fn unit_name(name: &str) -> String {
    const SUFFIXES: [&str; 11] = [
        ".service",
        ".socket",
        ".timer",
        ".target",
        ".path",
        ".mount",
        ".automount",
        ".swap",
        ".slice",
        ".scope",
        ".device",
    ];
    if SUFFIXES.iter().any(|s| name.ends_with(s)) {
        name.to_owned()
    } else {
        format!("{name}.service")
    }
}

fn links(ctx: &Context<'_>) -> Arc<Links> {
    ctx.memo(|ctx| Links {
        dirs: read_links(ctx.host),
    })
}

fn read_links(host: &Host) -> Vec<(String, Vec<String>)> {
    let mut dirs = Vec::new();
    let Ok(names) = host.list_dir(SYSTEM_DIR) else {
        return dirs;
    };
    for name in names {
        if !(name.ends_with(".wants") || name.ends_with(".requires")) {
            continue;
        }
        let dir = join_path(SYSTEM_DIR, &name);
        let Ok(entries) = host.list_dir(&dir) else {
            continue;
        };
        let entries = entries
            .into_iter()
            .filter(|e| host.is_symlink(&join_path(&dir, e)))
            .collect();
        dirs.push((dir, entries));
    }
    dirs
}

/// Why a unit counts as enabled or not, for evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitState {
    /// Enabled through this link (host path).
    Enabled { link: String },
    /// `/etc/systemd/system/UNIT` links to `/dev/null`.
    Masked,
    /// No link in any `.wants`/`.requires` directory.
    Disabled,
}

/// The state of `unit` (see the module doc).
pub fn state(ctx: &Context<'_>, unit: &str) -> UnitState {
    let unit = unit_name(unit);
    if is_masked(ctx.host, &unit) {
        return UnitState::Masked;
    }
    for (dir, names) in &links(ctx).dirs {
        if names.contains(&unit) {
            return UnitState::Enabled {
                link: join_path(dir, &unit),
            };
        }
    }
    UnitState::Disabled
}

/// True when `unit` is enabled and not masked.
pub fn is_enabled(ctx: &Context<'_>, unit: &str) -> bool {
    matches!(state(ctx, unit), UnitState::Enabled { .. })
}

/// True when `/etc/systemd/system/UNIT` is a symlink that resolves to `/dev/null`.
pub fn is_masked(host: &Host, unit: &str) -> bool {
    links_to_dev_null(host, &join_path(SYSTEM_DIR, &unit_name(unit)))
}

/// True when `path` is a symlink that resolves (inside the root, relative links
/// and chains of links included) to `/dev/null`: systemd's way of masking a unit
/// or a drop-in. `/dev/null` need not exist under the root (a disk image).
pub fn links_to_dev_null(host: &Host, path: &str) -> bool {
    let Ok(target) = host.read_link(path) else {
        return false; // not a link
    };
    // The link's own target, taken from the directory it is in: `/dev/null`,
    // `../../../dev/null`. This holds even when the image's `/dev/null` is itself
    // a link (a fixture may make it one), which a full resolution would follow.
    let dir = match path.rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((dir, _)) => dir,
    };
    let named = match host.resolve_target(dir) {
        Ok(dir) if !target.starts_with('/') => normalize(&join_path(&dir, &target)),
        _ => normalize(&target),
    };
    // Or a chain of links that ends there.
    named == "/dev/null" || matches!(host.resolve_target(path), Ok(t) if t == "/dev/null")
}

/// `path` with `.` and `..` removed lexically (`..` stops at `/`).
fn normalize(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

/// True when the unit file exists in `/usr/lib/systemd/system` or `/lib/systemd/system`.
pub fn unit_file_exists(host: &Host, unit: &str) -> bool {
    let unit = unit_name(unit);
    ["/usr/lib/systemd/system", "/lib/systemd/system"]
        .iter()
        .any(|dir| host.symlink_metadata(&join_path(dir, &unit)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Thresholds;
    use crate::host::fake::FakeHost;

    #[test]
    fn enabled_masked_and_disabled() {
        let mut f = FakeHost::linux()
            .dir("/etc/systemd/system/multi-user.target.wants")
            .dir("/etc/systemd/system/timers.target.wants")
            .file("/lib/systemd/system/chrony.service", "[Unit]\n")
            .link(
                "/etc/systemd/system/multi-user.target.wants/chrony.service",
                "/lib/systemd/system/chrony.service",
            )
            .link(
                "/etc/systemd/system/multi-user.target.wants/auditd.service",
                "/lib/systemd/system/auditd.service",
            )
            .link("/etc/systemd/system/auditd.service", "/dev/null");
        // Masked by relative links (regression: these counted as enabled).
        for unit in ["rsyslog", "ntp"] {
            f.add_link(
                &format!("/etc/systemd/system/multi-user.target.wants/{unit}.service"),
                &format!("/lib/systemd/system/{unit}.service"),
            );
        }
        let host = f
            .link("/etc/systemd/system/rsyslog.service", "../../../dev/null")
            .link(
                "/etc/systemd/system/ntp.service",
                "../../../../../../../dev/null",
            )
            // An image whose /dev/null is itself a link (here a loop): still masked.
            .link("/dev/null", "/dev/null")
            .link("/etc/systemd/system/ntpsec.service", "../../../dev/null")
            // A link to something else is not a mask.
            .link("/etc/systemd/system/chrony.service", "../../../dev/zero")
            // A regular file in a wants directory is not a link: not enabled.
            .file(
                "/etc/systemd/system/timers.target.wants/apt-daily.timer",
                "",
            )
            .host();
        let t = Thresholds::default();
        let ctx = Context::new(&host, chrono::DateTime::UNIX_EPOCH, &t);
        assert!(is_enabled(&ctx, "chrony"));
        assert_eq!(state(&ctx, "auditd.service"), UnitState::Masked);
        assert!(!is_enabled(&ctx, "apt-daily.timer"));
        assert_eq!(state(&ctx, "rsyslog"), UnitState::Masked);
        assert_eq!(state(&ctx, "ntp"), UnitState::Masked);
        assert!(!is_enabled(&ctx, "rsyslog"));
        assert!(is_masked(&host, "ntpsec"));
        assert!(!is_masked(&host, "chrony"));
        assert_eq!(state(&ctx, "timesyncd"), UnitState::Disabled);
        assert!(unit_file_exists(&host, "chrony"));
        assert!(!unit_file_exists(&host, "ntp"));
    }
}
