//! The macOS patch checks (`docs/checks.md`, "macOS: patch level"):
//!
//! - [`support`] — `patch.os_supported`, with the support table as data;
//! - [`updates`] — `patch.security_updates_pending`: softwareupdated's
//!   `RecommendedUpdates` and `softwareupdate --list --no-scan`;
//! - [`freshness`] — `patch.index_fresh`: the dates of softwareupdated's last scans;
//! - [`auto_updates`] — `patch.auto_updates`: the five automatic-update keys through
//!   the DDM state, managed and local preferences and Apple's defaults.
//!
//! `patch.reboot_pending` is not applicable on a Mac (the catalogue's reason).

pub mod auto_updates;
pub mod freshness;
pub mod support;
pub mod updates;

use std::sync::Arc;

use plist::Dictionary;

use super::Check;
use super::prefs;
use crate::checks::Context;

/// softwareupdated's own preferences: the last scan's results and dates, and the
/// local automatic-update settings.
pub const SOFTWARE_UPDATE_PLIST: &str = "/Library/Preferences/com.apple.SoftwareUpdate.plist";
/// The preference domain of [`SOFTWARE_UPDATE_PLIST`].
pub const SOFTWARE_UPDATE_DOMAIN: &str = "com.apple.SoftwareUpdate";

/// The macOS patch checks, in catalogue order.
pub fn checks() -> Vec<Box<dyn Check>> {
    vec![
        Box::new(support::OsSupported),
        Box::new(updates::SecurityUpdatesPending),
        Box::new(freshness::IndexFresh),
        Box::new(auto_updates::AutoUpdates),
    ]
}

/// [`SOFTWARE_UPDATE_PLIST`] as read once per run: its bytes and top-level
/// dictionary, `None` when it does not exist, or why it cannot be used.
pub struct SoftwareUpdatePlist(pub Result<Option<(Vec<u8>, Dictionary)>, String>);

/// [`SOFTWARE_UPDATE_PLIST`], read and parsed once per run.
pub fn software_update_plist(ctx: &Context<'_>) -> Arc<SoftwareUpdatePlist> {
    ctx.memo(|ctx| {
        SoftwareUpdatePlist(
            prefs::read_dict(ctx.host, SOFTWARE_UPDATE_PLIST).map_err(|e| e.to_string()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::macos::prefs::tests::xml;
    use crate::checks::macos::system::testmac::mac;
    use crate::checks::{Thresholds, run};
    use crate::host::sources::MACOS_SOFTWAREUPDATE_LIST;
    use attest_proto::Status;
    use plist::Value;

    /// The registry runs the four patch checks on a Mac root: they are no longer
    /// "not yet implemented", and `patch.reboot_pending` keeps its catalogue reason.
    #[test]
    fn the_registry_runs_the_patch_checks_on_a_mac() {
        let recent = plist::Date::from(crate::host::fake::default_mtime());
        let host = mac("15.1")
            .file(
                SOFTWARE_UPDATE_PLIST,
                xml(&[
                    ("RecommendedUpdates", Value::Array(vec![])),
                    ("LastSuccessfulDate", Value::Date(recent)),
                ]),
            )
            .command(
                &MACOS_SOFTWAREUPDATE_LIST,
                0,
                "Software Update Tool\n\nNo new software available.\n",
            )
            .host();
        let thresholds = Thresholds::default();
        let ctx = Context::new(&host, crate::host::fake::default_now(), &thresholds);
        let got: Vec<(String, Status)> = run(&ctx, &[])
            .into_iter()
            .filter(|r| r.check.starts_with("patch."))
            .map(|r| (r.check, r.status))
            .collect();
        let want = [
            ("patch.os_supported", Status::Pass),
            ("patch.security_updates_pending", Status::Pass),
            ("patch.index_fresh", Status::Pass),
            ("patch.auto_updates", Status::Pass),
            ("patch.reboot_pending", Status::NotApplicable),
        ];
        assert_eq!(
            got,
            want.iter()
                .map(|(id, s)| ((*id).to_owned(), *s))
                .collect::<Vec<_>>()
        );
    }
}
