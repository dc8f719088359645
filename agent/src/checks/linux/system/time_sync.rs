//! `system.time_sync` — ISO/IEC 27002:2022 8.17 Clock synchronization.

use attest_proto::{CheckResult, Status};

use super::units;
use crate::checks::{Check, Context, unknown};

/// The time synchronisation services `checks.md` names, in that order.
pub const TIME_SYNC_UNITS: [&str; 7] = [
    "chrony",
    "chronyd",
    "systemd-timesyncd",
    "ntp",
    "ntpd",
    "ntpsec",
    "openntpd",
];

/// Passes when one of [`TIME_SYNC_UNITS`] is enabled (a symlink in a
/// `/etc/systemd/system/*.wants/` or `*.requires/` directory, not masked); fails
/// when none is. `unknown` when none is enabled and `/etc/systemd/system` cannot
/// be listed (see the module doc of `system`).
///
/// Facts: `units_checked`, `units_enabled`, `units_masked`.
pub struct TimeSync;

impl Check for TimeSync {
    fn id(&self) -> &'static str {
        "system.time_sync"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let scan = units::scan(ctx, &TIME_SYNC_UNITS);
        let result = if !scan.enabled.is_empty() {
            CheckResult::new(
                self.id(),
                Status::Pass,
                format!(
                    "Clock synchronisation is enabled at boot: {}.",
                    scan.enabled_names()
                ),
            )
        } else if let Some(why) = &scan.dir_error {
            unknown(self.id(), why.clone())
        } else {
            CheckResult::new(
                self.id(),
                Status::Fail,
                format!(
                    "No time synchronisation service is enabled (looked for {}).",
                    scan.checked.join(", ")
                ),
            )
        };
        scan.facts(result).evidences(scan.evidence(ctx.host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::linux::system::testing::{Units, systemd};
    use crate::host::fake::FakeHost;
    use serde_json::json;

    #[test]
    fn enabled_timesyncd_passes() {
        let mut t = systemd();
        t.add_file("/lib/systemd/system/systemd-timesyncd.service", "");
        t.add_link(
            "/etc/systemd/system/sysinit.target.wants/systemd-timesyncd.service",
            "/lib/systemd/system/systemd-timesyncd.service",
        );
        let r = t.run(&TimeSync);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(
            r.facts["units_enabled"],
            json!(["systemd-timesyncd.service"])
        );
        assert_eq!(r.facts["units_checked"].as_array().unwrap().len(), 7);
        assert_eq!(r.evidence.len(), 1);
    }

    #[test]
    fn regression_unit_masked_by_a_relative_link_does_not_count() {
        let mut t = systemd();
        t.enable("chrony.service");
        t.mask_relative("chrony.service");
        let r = t.run(&TimeSync);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["units_masked"], json!(["chrony.service"]));
    }

    #[test]
    fn masked_unit_does_not_count() {
        let mut t = systemd();
        t.enable("chrony.service");
        t.mask("chrony.service");
        let r = t.run(&TimeSync);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["units_masked"], json!(["chrony.service"]));
    }

    #[test]
    fn regular_file_in_wants_does_not_count() {
        let mut t = systemd();
        t.add_file(
            "/etc/systemd/system/multi-user.target.wants/ntpsec.service",
            "[Unit]\n",
        );
        let r = t.run(&TimeSync);
        assert_eq!(r.status, Status::Fail, "{r:?}");
    }

    #[test]
    fn no_systemd_dir_is_fail() {
        let t = FakeHost::linux();
        let r = t.run(&TimeSync);
        assert_eq!(r.status, Status::Fail, "{r:?}");
    }
}
