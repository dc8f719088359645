//! `patch.os_supported` on a Mac: the support table by major version (data, in
//! `agent/data/macos-support.toml`) and the check that compares it with the
//! collection date.

use std::sync::OnceLock;

use attest_proto::{CheckResult, Status};
use chrono::NaiveDate;
use serde::Deserialize;

use crate::checks::macos::prefs::{self, render};
use crate::checks::macos::version::{self, MacosVersion};
use crate::checks::{Check, Context, file_evidence, unknown};
use crate::host::MACOS_MARKER;

/// The table as shipped in the agent's source.
const TABLE_TOML: &str = include_str!("../../../../data/macos-support.toml");

/// Where a Rapid Security Response / Background Security Improvement records its
/// letter (`ProductVersionExtra`, e.g. `(a)`).
pub const RSR_VERSION_PLIST: &str =
    "/System/Cryptexes/OS/System/Library/CoreServices/SystemVersion.plist";

/// One row of the support table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub major: u32,
    pub name: String,
    pub released: NaiveDate,
    /// The last day of security updates; `None` while no end is known.
    pub last_supported: Option<NaiveDate>,
    /// A date of the row is not confirmed.
    pub approximate: bool,
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    release: Vec<RawRelease>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelease {
    major: u32,
    name: String,
    released: toml::value::Datetime,
    last_supported: Option<toml::value::Datetime>,
    approximate: bool,
    source: String,
}

/// Why the table could not be read (only a broken build can hit this; a test reads
/// the shipped table).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("the macOS support table is not valid TOML: {0}")]
    Toml(String),
    #[error("the macOS support table: major {major}: {field} is not a plain date")]
    Date { major: u32, field: &'static str },
    #[error("the macOS support table lists major {0} twice")]
    Duplicate(u32),
}

fn plain_date(
    value: &toml::value::Datetime,
    major: u32,
    field: &'static str,
) -> Result<NaiveDate, TableError> {
    let bad = || TableError::Date { major, field };
    match (value.date, value.time, value.offset) {
        (Some(d), None, None) => {
            NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
                .ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

/// Parses a support table.
pub fn parse_table(text: &str) -> Result<Vec<Release>, TableError> {
    let file: TableFile = toml::from_str(text).map_err(|e| TableError::Toml(e.to_string()))?;
    let mut rows: Vec<Release> = Vec::with_capacity(file.release.len());
    for raw in file.release {
        if rows.iter().any(|r| r.major == raw.major) {
            return Err(TableError::Duplicate(raw.major));
        }
        let last_supported = match &raw.last_supported {
            Some(d) => Some(plain_date(d, raw.major, "last_supported")?),
            None => None,
        };
        rows.push(Release {
            major: raw.major,
            released: plain_date(&raw.released, raw.major, "released")?,
            last_supported,
            name: raw.name,
            approximate: raw.approximate,
            source: raw.source,
        });
    }
    Ok(rows)
}

/// The shipped table, parsed once per process.
pub fn table() -> &'static Result<Vec<Release>, TableError> {
    static TABLE: OnceLock<Result<Vec<Release>, TableError>> = OnceLock::new();
    TABLE.get_or_init(|| parse_table(TABLE_TOML))
}

/// The verdict for a major on a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support<'a> {
    /// Supported through `end` (inclusive).
    Until {
        release: &'a Release,
        end: NaiveDate,
    },
    /// Supported, and no end is known yet.
    NoEndAnnounced { release: &'a Release },
    /// Support ended on `end`.
    Ended {
        release: &'a Release,
        end: NaiveDate,
    },
    /// Not in the table.
    NotInTable,
}

/// Decides support of `major` on `date` from `rows`: the last supported day itself
/// is still supported.
pub fn decide(rows: &[Release], major: u32, date: NaiveDate) -> Support<'_> {
    let Some(release) = rows.iter().find(|r| r.major == major) else {
        return Support::NotInTable;
    };
    match release.last_supported {
        None => Support::NoEndAnnounced { release },
        Some(end) if date <= end => Support::Until { release, end },
        Some(end) => Support::Ended { release, end },
    }
}

/// What `SystemVersion.plist` says.
struct SystemVersion {
    version: MacosVersion,
    text: String,
    build: Option<String>,
    evidence: attest_proto::Evidence,
}

fn read_system_version(ctx: &Context<'_>) -> Result<SystemVersion, String> {
    let (bytes, dict) = prefs::read_dict(ctx.host, MACOS_MARKER)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{MACOS_MARKER}: not found"))?;
    let value = dict
        .get("ProductVersion")
        .ok_or_else(|| format!("{MACOS_MARKER}: no ProductVersion"))?;
    let text = value
        .as_string()
        .ok_or_else(|| format!("{MACOS_MARKER}: ProductVersion is {}", render(value)))?;
    let version = version::parse_version(text)
        .ok_or_else(|| format!("{MACOS_MARKER}: ProductVersion {text:?} is not a version"))?;
    let build = dict
        .get("ProductBuildVersion")
        .and_then(plist::Value::as_string)
        .map(str::to_owned);
    let mut excerpt = format!("ProductVersion = {}", render(value));
    if let Some(b) = &build {
        excerpt.push_str(&format!("; ProductBuildVersion = {b:?}"));
    }
    Ok(SystemVersion {
        version,
        text: text.to_owned(),
        build,
        evidence: file_evidence(MACOS_MARKER, &bytes, excerpt),
    })
}

/// `ProductVersionExtra` of the cryptex's `SystemVersion.plist` (a Rapid Security
/// Response or Background Security Improvement), with its evidence; `Ok(None)` when
/// none is installed.
fn read_rsr(ctx: &Context<'_>) -> Result<Option<(String, attest_proto::Evidence)>, String> {
    let Some((bytes, dict)) =
        prefs::read_dict(ctx.host, RSR_VERSION_PLIST).map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    Ok(dict
        .get("ProductVersionExtra")
        .and_then(plist::Value::as_string)
        .filter(|s| !s.trim().is_empty())
        .map(|extra| {
            (
                extra.to_owned(),
                file_evidence(
                    RSR_VERSION_PLIST,
                    &bytes,
                    format!("ProductVersionExtra = {extra:?}"),
                ),
            )
        }))
}

/// `patch.os_supported` on a Mac.
///
/// Reads `ProductVersion` and `ProductBuildVersion` of
/// `/System/Library/CoreServices/SystemVersion.plist` (never
/// `SystemVersionCompat.plist`, which reports 10.16 to old programs) and looks its
/// major up in the support table (`agent/data/macos-support.toml`). Compared with
/// the collection date (`ctx.now`, UTC):
///
/// - pass: on or before the row's last supported day, or the row has no end yet
///   ("no end date announced": Sequoia 15, Tahoe 26, 27);
/// - fail: after the last supported day;
/// - unknown: the major is not in the table, or the plist cannot be read.
///
/// A verdict that depends on a row marked `approximate` (Sonoma 14's last day,
/// 2026-09-14) says so in its summary. `ProductVersionExtra` of the cryptex's
/// `SystemVersion.plist` (a Rapid Security Response, e.g. `(a)`) is recorded, never
/// judged: it patches a supported major and cannot revive an ended one.
///
/// Facts: `product_version`, `build`, `product_version_extra`, `major`,
/// `release_name`, `collection_date`, `support_ends` (or null), `days_left` (or
/// null), `approximate`, `table_source`.
pub struct OsSupported;

const ID: &str = "patch.os_supported";

impl Check for OsSupported {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let rows = match table() {
            Ok(rows) => rows,
            Err(e) => return unknown(ID, e.to_string()),
        };
        let sv = match read_system_version(ctx) {
            Ok(sv) => sv,
            Err(e) => return unknown(ID, e),
        };
        let (extra, rsr_evidence, rsr_problem) = match read_rsr(ctx) {
            Ok(Some((extra, ev))) => (Some(extra), Some(ev), None),
            Ok(None) => (None, None, None),
            Err(e) => (None, None, Some(e)),
        };
        let date = ctx.now.date_naive();
        let shown = match &extra {
            Some(x) => format!("macOS {} {x}", sv.text),
            None => format!("macOS {}", sv.text),
        };
        let base = |result: CheckResult| {
            let result = result
                .fact("product_version", &sv.text)
                .fact("build", &sv.build)
                .fact("product_version_extra", &extra)
                .fact("major", sv.version.major)
                .fact("collection_date", date.to_string())
                .evidence(sv.evidence.clone())
                .evidences(rsr_evidence.clone());
            match &rsr_problem {
                // `reason` is for unknown and not_applicable only.
                Some(p) if result.status != Status::Unknown => {
                    result.fact("unanswered", [p.clone()])
                }
                Some(p) if result.reason.is_none() => result.with_reason(p.clone()),
                _ => result,
            }
        };
        let with_row = |result: CheckResult, release: &Release, end: Option<NaiveDate>| {
            base(result)
                .fact("release_name", &release.name)
                .fact("support_ends", end.map(|d| d.to_string()))
                .fact("days_left", end.map(|e| (e - date).num_days()))
                .fact("approximate", release.approximate)
                .fact("table_source", &release.source)
        };
        let approx_note = |release: &Release| {
            if release.approximate {
                "; the end date is approximate (not confirmed by Apple)"
            } else {
                ""
            }
        };
        match decide(rows, sv.version.major, date) {
            Support::NotInTable => base(unknown(
                ID,
                format!(
                    "{shown}: major version {} is not in the agent's macOS support table",
                    sv.version.major
                ),
            )),
            Support::NoEndAnnounced { release } => with_row(
                CheckResult::new(
                    ID,
                    Status::Pass,
                    format!(
                        "{shown} ({}) is supported: no end date announced",
                        release.name
                    ),
                ),
                release,
                None,
            ),
            Support::Until { release, end } => with_row(
                CheckResult::new(
                    ID,
                    Status::Pass,
                    format!(
                        "{shown} ({}) is supported until {end}, {} days after collection{}",
                        release.name,
                        (end - date).num_days(),
                        approx_note(release)
                    ),
                ),
                release,
                Some(end),
            ),
            Support::Ended { release, end } => with_row(
                CheckResult::new(
                    ID,
                    Status::Fail,
                    format!(
                        "{shown} ({}) has been out of support since {end}, {} days before collection{}",
                        release.name,
                        (date - end).num_days(),
                        approx_note(release)
                    ),
                ),
                release,
                Some(end),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Thresholds;
    use crate::checks::macos::prefs::tests::{binary, xml};
    use crate::host::fake::FakeHost;
    use attest_proto::Evidence;
    use chrono::{TimeZone, Utc};
    use plist::Value;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn shipped() -> &'static [Release] {
        table().as_ref().expect("the shipped table parses")
    }

    #[test]
    fn the_shipped_table_parses_with_the_catalogue_rows() {
        let rows = shipped();
        let majors: Vec<u32> = rows.iter().map(|r| r.major).collect();
        assert_eq!(majors, [10, 11, 12, 13, 14, 15, 26, 27]);
        let sonoma = rows.iter().find(|r| r.major == 14).unwrap();
        assert_eq!(sonoma.last_supported, Some(day(2026, 9, 14)));
        assert!(sonoma.approximate);
        for open in [15, 26, 27] {
            let r = rows.iter().find(|r| r.major == open).unwrap();
            assert_eq!(r.last_supported, None, "{open}");
        }
        for r in rows {
            assert!(!r.source.is_empty() && !r.name.is_empty(), "{r:?}");
            if let Some(end) = r.last_supported {
                assert!(end > r.released, "{r:?}");
            }
        }
        // The rows with an end are in order and each ends before the next one.
        let ends: Vec<NaiveDate> = rows.iter().filter_map(|r| r.last_supported).collect();
        assert!(ends.windows(2).all(|w| w[0] < w[1]), "{ends:?}");
    }

    #[test]
    fn broken_tables_are_refused() {
        assert!(matches!(
            parse_table("[[release]]\nmajor = 1\n"),
            Err(TableError::Toml(_))
        ));
        let row = |major: u32, end: &str| {
            format!(
                "[[release]]\nmajor = {major}\nname = \"x\"\nreleased = 2020-01-01\n{end}approximate = false\nsource = \"s\"\n"
            )
        };
        let twice = format!("{}{}", row(14, ""), row(14, ""));
        assert_eq!(parse_table(&twice), Err(TableError::Duplicate(14)));
        let timed = row(14, "last_supported = 2026-09-14T00:00:00Z\n");
        assert_eq!(
            parse_table(&timed),
            Err(TableError::Date {
                major: 14,
                field: "last_supported"
            })
        );
        let unknown_field = row(14, "eol = true\n");
        assert!(matches!(
            parse_table(&unknown_field),
            Err(TableError::Toml(_))
        ));
        let ok = parse_table(&row(9, "last_supported = 2021-02-03\n")).unwrap();
        assert_eq!(ok[0].last_supported, Some(day(2021, 2, 3)));
    }

    #[test]
    fn the_last_supported_day_is_inclusive() {
        let rows = shipped();
        for (major, end) in [
            (11, day(2023, 9, 25)),
            (12, day(2024, 9, 15)),
            (13, day(2025, 9, 14)),
            (14, day(2026, 9, 14)),
        ] {
            assert!(
                matches!(decide(rows, major, end), Support::Until { end: e, .. } if e == end),
                "{major} on {end}"
            );
            let after = end.succ_opt().unwrap();
            assert!(
                matches!(decide(rows, major, after), Support::Ended { .. }),
                "{major} on {after}"
            );
        }
        assert!(matches!(
            decide(rows, 26, day(2030, 1, 1)),
            Support::NoEndAnnounced { .. }
        ));
        assert_eq!(decide(rows, 16, day(2026, 1, 1)), Support::NotInTable);
        assert_eq!(decide(rows, 28, day(2026, 1, 1)), Support::NotInTable);
    }

    fn mac(version: &str, build: &str) -> FakeHost {
        FakeHost::macos().file(
            MACOS_MARKER,
            xml(&[
                ("ProductName", Value::String("macOS".into())),
                ("ProductVersion", Value::String(version.into())),
                ("ProductBuildVersion", Value::String(build.into())),
            ]),
        )
    }

    fn at(fake: &FakeHost, y: i32, m: u32, d: u32) -> CheckResult {
        let now = Utc.with_ymd_and_hms(y, m, d, 23, 59, 59).unwrap();
        fake.run_at(&OsSupported, now, &Thresholds::default())
    }

    #[test]
    fn sonoma_passes_on_its_approximate_last_day_and_fails_after_saying_so() {
        let fake = mac("14.6.1", "23G93");
        let r = at(&fake, 2026, 9, 14);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(r.summary.contains("until 2026-09-14"), "{}", r.summary);
        assert!(r.summary.contains("approximate"), "{}", r.summary);
        assert_eq!(r.facts["days_left"], 0);
        assert_eq!(r.facts["approximate"], true);
        let r = at(&fake, 2026, 12, 1);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(r.summary.contains("since 2026-09-14"), "{}", r.summary);
        assert!(r.summary.contains("approximate"), "{}", r.summary);
        assert_eq!(r.facts["release_name"], "Sonoma");
        assert_eq!(r.facts["build"], "23G93");
        assert_eq!(r.facts["collection_date"], "2026-12-01");
        let Evidence::File { path, excerpt, .. } = &r.evidence[0] else {
            panic!("file evidence");
        };
        assert_eq!(path, MACOS_MARKER);
        assert_eq!(
            excerpt,
            "ProductVersion = \"14.6.1\"; ProductBuildVersion = \"23G93\""
        );
    }

    #[test]
    fn ventura_fails_without_an_approximate_note() {
        let r = at(&mac("13.7.8", "22H730"), 2026, 12, 1);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(!r.summary.contains("approximate"), "{}", r.summary);
        assert_eq!(r.facts["support_ends"], "2025-09-14");
    }

    #[test]
    fn sequoia_and_tahoe_pass_with_no_end_announced() {
        for (v, name) in [("15.7.2", "Sequoia"), ("26.1", "Tahoe")] {
            let r = at(&mac(v, "x"), 2026, 12, 1);
            assert_eq!(r.status, Status::Pass, "{r:?}");
            assert!(r.summary.contains("no end date announced"), "{}", r.summary);
            assert_eq!(r.facts["release_name"], name);
            assert_eq!(r.facts["support_ends"], serde_json::Value::Null);
        }
    }

    #[test]
    fn a_major_outside_the_table_or_an_unreadable_version_is_unknown() {
        let r = at(&mac("16.0", "x"), 2026, 12, 1);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(
            r.reason
                .as_deref()
                .unwrap()
                .contains("not in the agent's macOS support table")
        );
        assert_eq!(r.facts["major"], 16);
        let r = at(&FakeHost::macos(), 2026, 12, 1);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(
            r.reason.as_deref().unwrap().contains("not a valid plist"),
            "{r:?}"
        );
        let r = at(
            &FakeHost::macos().file(
                MACOS_MARKER,
                xml(&[("ProductVersion", Value::String("x".into()))]),
            ),
            2026,
            12,
            1,
        );
        assert_eq!(r.status, Status::Unknown, "{r:?}");
    }

    #[test]
    fn the_rsr_letter_is_recorded_from_the_cryptex_binary_plist() {
        let fake = mac("15.7.2", "24G325").file(
            RSR_VERSION_PLIST,
            binary(&[
                ("ProductVersion", Value::String("15.7.2".into())),
                ("ProductVersionExtra", Value::String("(a)".into())),
            ]),
        );
        let r = at(&fake, 2026, 12, 1);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["product_version_extra"], "(a)");
        assert!(r.summary.contains("macOS 15.7.2 (a)"), "{}", r.summary);
        assert_eq!(r.evidence.len(), 2);
        // An unreadable cryptex plist does not hide the verdict; a fact says so.
        let fake = mac("15.7.2", "24G325")
            .file(RSR_VERSION_PLIST, "x")
            .deny(RSR_VERSION_PLIST);
        let r = at(&fake, 2026, 12, 1);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.reason, None, "{r:?}");
        assert!(
            r.facts["unanswered"][0]
                .as_str()
                .unwrap()
                .contains("permission denied")
        );
        assert_eq!(r.facts["product_version_extra"], serde_json::Value::Null);
    }
}
