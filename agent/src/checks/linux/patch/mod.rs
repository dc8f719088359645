//! Patch level (`checks.md`, "Patch level — 8.8, 8.19").
//!
//! Debian-family hosts are decided from files only: dpkg's status file, apt's
//! package indexes in `/var/lib/apt/lists/`, apt's configuration, stamps and
//! caches. RPM-family hosts are decided from files where the check allows it and
//! from `dnf`/`zypper` on a live host only. The family comes from os-release
//! (`common::osrelease`): `debian` as `ID` or a word of `ID_LIKE`; `rhel`, `fedora`,
//! `centos` or `suse` likewise.
//!
//! - [`version`] — Debian version order (epoch, upstream, revision; `~` first).
//! - [`support`] — the support table and `patch.os_supported`.
//! - [`lists`] — package-index names, decompression and a fast stanza scanner.
//! - [`security`] — `patch.security_updates_pending`.
//! - [`freshness`] — `patch.index_fresh`.
//! - [`apt_conf`] — apt's configuration as apt reads it.
//! - [`auto_updates`] — `patch.auto_updates` (apt and dnf-automatic).
//! - [`reboot`] — `patch.reboot_pending`.
//! - [`rpm`] — dnf/zypper/rpm output parsers and rpm's version order.

pub mod apt_conf;
pub mod auto_updates;
pub mod freshness;
pub mod lists;
pub mod reboot;
pub mod rpm;
pub mod security;
pub mod support;
pub mod version;

use super::Check;
use super::Context;
use super::common::osrelease::{self, Family, OsRelease};

/// How many pending updates a result lists (the count is always complete).
pub const MAX_LISTED: usize = 50;

/// The patch checks, in report order.
pub fn checks() -> Vec<Box<dyn Check>> {
    vec![
        Box::new(support::OsSupported),
        Box::new(security::SecurityUpdatesPending),
        Box::new(freshness::IndexFresh),
        Box::new(auto_updates::AutoUpdates),
        Box::new(reboot::RebootPending),
    ]
}

/// The host's package family and os-release, or why os-release cannot be read.
fn family(ctx: &Context<'_>) -> Result<(Family, OsRelease), String> {
    let memo = osrelease::get(ctx);
    match &memo.0 {
        Ok(os) => Ok((os.family(), os.clone())),
        Err(e) => Err(e.clone()),
    }
}

/// True for SUSE-family hosts (zypper rather than dnf).
fn is_suse(os: &OsRelease) -> bool {
    let suse = |w: &str| w == "suse" || w.starts_with("opensuse") || w == "sles" || w == "sled";
    suse(&os.id) || os.id_like.iter().any(|w| suse(w))
}

/// "ID VERSION_ID" for reasons.
fn os_label(os: &OsRelease) -> String {
    if os.id.is_empty() {
        "this host (no ID in os-release)".to_owned()
    } else if os.version_id.is_empty() {
        format!("ID={}", os.id)
    } else {
        format!("ID={} VERSION_ID={}", os.id, os.version_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_are_listed_in_catalogue_order() {
        let ids: Vec<_> = checks().iter().map(|c| c.id()).collect();
        assert_eq!(
            ids,
            [
                "patch.os_supported",
                "patch.security_updates_pending",
                "patch.index_fresh",
                "patch.auto_updates",
                "patch.reboot_pending",
            ]
        );
    }

    #[test]
    fn suse_detection() {
        let os = osrelease::parse("ID=\"opensuse-leap\"\nID_LIKE=\"suse opensuse\"\n");
        assert!(is_suse(&os));
        assert!(is_suse(&osrelease::parse("ID=sles\n")));
        assert!(!is_suse(&osrelease::parse(
            "ID=rocky\nID_LIKE=\"rhel centos fedora\"\n"
        )));
    }
}
