//! `patch.os_supported`: the end of free security support of each release, as
//! data, and the check that compares it with the collection date.
//!
//! Releases are matched on the os-release `ID` (never `ID_LIKE`: a derivative has
//! its own releases and dates) and on `VERSION_ID`, either its major version (the
//! part before the first `.`) or the exact string. The end date itself still
//! counts as supported; the collection date is `ctx.now` in UTC.

use attest_proto::{CheckResult, Status};
use chrono::NaiveDate;

use crate::checks::linux::common::osrelease::{self, OsRelease};
use crate::checks::{Check, Context, file_evidence, unknown};

/// How `VERSION_ID` is matched against a table row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// The part of `VERSION_ID` before the first `.` equals the row's version
    /// (`12`, `12.7` → `12`; `9.4` → `9`).
    Major,
    /// `VERSION_ID` equals the row's version exactly (`22.04`).
    Exact,
}

/// One row of the support table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    /// os-release `ID` values this row applies to.
    pub ids: &'static [&'static str],
    pub version: &'static str,
    pub matching: Match,
    /// The last day of free security support (year, month, day).
    pub end: (i32, u32, u32),
    /// What the support covers, for the summary.
    pub note: &'static str,
}

impl Release {
    /// The end date; `None` only if the table held an impossible date (a test
    /// proves it does not).
    pub fn end_date(&self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(self.end.0, self.end.1, self.end.2)
    }

    fn matches(&self, id: &str, version_id: &str) -> bool {
        if !self.ids.contains(&id) {
            return false;
        }
        match self.matching {
            Match::Exact => version_id == self.version,
            Match::Major => version_id.split('.').next() == Some(self.version),
        }
    }
}

const DEBIAN: &[&str] = &["debian"];
const UBUNTU: &[&str] = &["ubuntu"];
const EL: &[&str] = &["rhel", "rocky", "almalinux", "ol"];
const RHEL: &[&str] = &["rhel"];
const CENTOS: &[&str] = &["centos"];

const DEBIAN_LTS: &str = "Debian security support including LTS";
const UBUNTU_STANDARD: &str = "Ubuntu LTS standard support";
const EL_MAINTENANCE: &str = "Enterprise Linux maintenance support";

/// The support table (`checks.md`, Patch level). Rows beyond the ones `checks.md`
/// requires are only those whose end lies in the past and is certain: Debian 8 and
/// 9 (end of LTS), RHEL 7 (end of Maintenance Support 2) and CentOS Linux 7.
/// CentOS 8 and 9 are left out on purpose: CentOS Linux and CentOS Stream share
/// `ID=centos` and a `VERSION_ID` but not their end dates.
pub const TABLE: &[Release] = &[
    row(DEBIAN, "8", Match::Major, (2020, 6, 30), DEBIAN_LTS),
    row(DEBIAN, "9", Match::Major, (2022, 6, 30), DEBIAN_LTS),
    row(DEBIAN, "10", Match::Major, (2024, 6, 30), DEBIAN_LTS),
    row(DEBIAN, "11", Match::Major, (2026, 8, 31), DEBIAN_LTS),
    row(DEBIAN, "12", Match::Major, (2028, 6, 30), DEBIAN_LTS),
    row(DEBIAN, "13", Match::Major, (2030, 6, 30), DEBIAN_LTS),
    row(
        UBUNTU,
        "18.04",
        Match::Exact,
        (2023, 5, 31),
        UBUNTU_STANDARD,
    ),
    row(
        UBUNTU,
        "20.04",
        Match::Exact,
        (2025, 5, 31),
        UBUNTU_STANDARD,
    ),
    row(
        UBUNTU,
        "22.04",
        Match::Exact,
        (2027, 5, 31),
        UBUNTU_STANDARD,
    ),
    row(
        UBUNTU,
        "24.04",
        Match::Exact,
        (2029, 5, 31),
        UBUNTU_STANDARD,
    ),
    row(RHEL, "7", Match::Major, (2024, 6, 30), EL_MAINTENANCE),
    row(CENTOS, "7", Match::Major, (2024, 6, 30), EL_MAINTENANCE),
    row(EL, "8", Match::Major, (2029, 5, 31), EL_MAINTENANCE),
    row(EL, "9", Match::Major, (2032, 5, 31), EL_MAINTENANCE),
];

const fn row(
    ids: &'static [&'static str],
    version: &'static str,
    matching: Match,
    end: (i32, u32, u32),
    note: &'static str,
) -> Release {
    Release {
        ids,
        version,
        matching,
        end,
        note,
    }
}

/// The table row for an os-release `ID` and `VERSION_ID`, if any.
pub fn lookup(id: &str, version_id: &str) -> Option<&'static Release> {
    TABLE.iter().find(|r| r.matches(id, version_id.trim()))
}

/// The verdict for a release on a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    /// Supported through `end` (inclusive).
    Supported {
        release: &'static Release,
        end: NaiveDate,
    },
    /// Support ended on `end`.
    Ended {
        release: &'static Release,
        end: NaiveDate,
    },
    /// Not in the table.
    NotInTable,
}

/// Decides support of `id`/`version_id` on `date`: the end date itself is still
/// supported.
pub fn decide(id: &str, version_id: &str, date: NaiveDate) -> Support {
    let Some(release) = lookup(id, version_id) else {
        return Support::NotInTable;
    };
    let Some(end) = release.end_date() else {
        return Support::NotInTable;
    };
    if date <= end {
        Support::Supported { release, end }
    } else {
        Support::Ended { release, end }
    }
}

/// `patch.os_supported`: `/etc/os-release` (else `/usr/lib/os-release`) names a
/// release whose free security support has not ended on the collection date (UTC).
/// Pass on the end date itself; fail from the day after; unknown when the release
/// is not in [`TABLE`] (including releases without `VERSION_ID`, such as Debian
/// testing) or os-release cannot be read.
pub struct OsSupported;

impl Check for OsSupported {
    fn id(&self) -> &'static str {
        "patch.os_supported"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let memo = osrelease::get(ctx);
        let os = match &memo.0 {
            Ok(os) => os,
            Err(e) => return unknown(self.id(), e.clone()),
        };
        let date = ctx.now.date_naive();
        let name = display_name(os);
        let evidence = file_evidence(&os.path, &os.raw, os.excerpt());
        let base = |result: CheckResult| {
            result
                .fact("id", &os.id)
                .fact("version_id", &os.version_id)
                .fact("pretty_name", &os.pretty_name)
                .fact("collection_date", date.to_string())
                .evidence(evidence.clone())
        };
        match decide(&os.id, &os.version_id, date) {
            Support::NotInTable => base(unknown(
                self.id(),
                format!("{name} is not in the agent's support table"),
            )),
            Support::Supported { release, end } => base(CheckResult::new(
                self.id(),
                Status::Pass,
                format!(
                    "{name} is supported until {end} ({}), {} days after collection",
                    release.note,
                    (end - date).num_days()
                ),
            ))
            .fact("support_ends", end.to_string())
            .fact("days_left", (end - date).num_days()),
            Support::Ended { release, end } => base(CheckResult::new(
                self.id(),
                Status::Fail,
                format!(
                    "{name} has been out of support since {end} ({}), {} days before collection",
                    release.note,
                    (date - end).num_days()
                ),
            ))
            .fact("support_ends", end.to_string())
            .fact("days_left", (end - date).num_days()),
        }
    }
}

fn display_name(os: &OsRelease) -> String {
    if !os.pretty_name.is_empty() {
        os.pretty_name.clone()
    } else if os.version_id.is_empty() {
        format!("{} (no VERSION_ID)", os.id)
    } else {
        format!("{} {}", os.id, os.version_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Thresholds;
    use crate::host::fake::FakeHost;
    use chrono::{DateTime, TimeZone, Utc};

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn every_table_date_is_a_real_date() {
        for r in TABLE {
            assert!(r.end_date().is_some(), "{r:?}");
        }
    }

    #[test]
    fn the_end_date_itself_passes_and_the_day_after_fails() {
        let cases = [
            ("debian", "11", day(2026, 8, 31)),
            ("debian", "12", day(2028, 6, 30)),
            ("debian", "13", day(2030, 6, 30)),
            ("debian", "10", day(2024, 6, 30)),
            ("ubuntu", "20.04", day(2025, 5, 31)),
            ("ubuntu", "22.04", day(2027, 5, 31)),
            ("ubuntu", "24.04", day(2029, 5, 31)),
            ("ubuntu", "18.04", day(2023, 5, 31)),
            ("rhel", "9.4", day(2032, 5, 31)),
            ("rocky", "8.10", day(2029, 5, 31)),
            ("almalinux", "9.5", day(2032, 5, 31)),
            ("ol", "8.9", day(2029, 5, 31)),
        ];
        for (id, v, end) in cases {
            assert!(
                matches!(decide(id, v, end), Support::Supported { end: e, .. } if e == end),
                "{id} {v} on {end}"
            );
            let after = end.succ_opt().unwrap();
            assert!(
                matches!(decide(id, v, after), Support::Ended { .. }),
                "{id} {v} on {after}"
            );
        }
    }

    #[test]
    fn unlisted_releases_are_not_in_the_table() {
        let d = day(2025, 1, 1);
        assert_eq!(decide("ubuntu", "23.10", d), Support::NotInTable);
        assert_eq!(decide("ubuntu", "22.10", d), Support::NotInTable);
        // Ubuntu matches exactly, not by major version.
        assert_eq!(decide("ubuntu", "22", d), Support::NotInTable);
        assert_eq!(decide("debian", "", d), Support::NotInTable);
        assert_eq!(decide("fedora", "40", d), Support::NotInTable);
        assert_eq!(decide("centos", "9", d), Support::NotInTable);
        // A derivative is matched by its own ID, not by ID_LIKE.
        assert_eq!(decide("linuxmint", "21.3", d), Support::NotInTable);
        assert_eq!(decide("rhel", "10.0", d), Support::NotInTable);
        // Debian matches the major version: 12.7 is 12.
        assert!(matches!(
            decide("debian", "12.7", d),
            Support::Supported { .. }
        ));
        assert!(matches!(decide("debian", "9", d), Support::Ended { .. }));
        assert!(matches!(decide("centos", "7", d), Support::Ended { .. }));
    }

    fn run_on(os_release: Option<&str>, now: DateTime<Utc>) -> CheckResult {
        let mut host = FakeHost::linux();
        if let Some(text) = os_release {
            host.add_file("/usr/lib/os-release", text);
        }
        host.run_at(&OsSupported, now, &Thresholds::default())
    }

    #[test]
    fn check_uses_the_utc_collection_date() {
        let text = "PRETTY_NAME=\"Debian GNU/Linux 11 (bullseye)\"\nID=debian\nVERSION_ID=\"11\"\n";
        let last = Utc.with_ymd_and_hms(2026, 8, 31, 23, 59, 59).unwrap();
        let r = run_on(Some(text), last);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["support_ends"], "2026-08-31");
        assert_eq!(r.facts["days_left"], 0);
        assert_eq!(r.evidence.len(), 1);
        let next = Utc.with_ymd_and_hms(2026, 9, 1, 0, 0, 0).unwrap();
        let r = run_on(Some(text), next);
        assert_eq!(r.status, Status::Fail);
        assert!(r.summary.contains("since 2026-08-31"), "{}", r.summary);
        assert_eq!(r.facts["collection_date"], "2026-09-01");
    }

    #[test]
    fn check_is_unknown_outside_the_table_or_without_os_release() {
        let now = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        let r = run_on(Some("ID=ubuntu\nVERSION_ID=\"23.10\"\n"), now);
        assert_eq!(r.status, Status::Unknown);
        assert!(
            r.reason
                .unwrap()
                .contains("not in the agent's support table")
        );
        let r = run_on(None, now);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.unwrap().contains("os-release"));
    }
}
