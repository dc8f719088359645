//! `patch.index_fresh`.

use attest_proto::{CheckResult, Evidence, Status};
use chrono::{DateTime, Duration, SecondsFormat, Utc};

use crate::checks::linux::common::osrelease::Family;
use crate::checks::{Check, Context, file_evidence, unknown};
use crate::host::{ReadError, join_path};

use super::lists::{self, LISTS_DIR};
use super::{family, os_label};

pub const PERIODIC_DIR: &str = "/var/lib/apt/periodic";
pub const PKGCACHE: &str = "/var/cache/apt/pkgcache.bin";

/// Files up to this size are read for the evidence digest; larger ones
/// (`pkgcache.bin` is tens of MB) are judged by their modification time only.
const EVIDENCE_READ_LIMIT: u64 = 1 << 20;

/// `patch.index_fresh`: the newest of apt's package-index files
/// (`/var/lib/apt/lists/*InRelease`, `/var/lib/apt/lists/*_Release`), the stamps in
/// `/var/lib/apt/periodic/` and `/var/cache/apt/pkgcache.bin` was modified within
/// `index_max_age_days` (default 7) of collection: pass when its age is at most
/// that many days (a modification time after the collection time also counts as
/// fresh), fail when older.
///
/// Unknown when none of these files exists, when a location could not be read and
/// the files that could were all too old (the unreadable one might be newer), and
/// always on an RPM-family host read offline (`checks.md`). Only regular files
/// count (links are followed inside the root). The newest file, its modification
/// time and its age are recorded; the evidence digests the newest file when it is
/// small, and otherwise also the newest small one (usually an `InRelease`, whose
/// `Date:` line is quoted).
pub struct IndexFresh;

const ID: &str = "patch.index_fresh";

/// A candidate file and its modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub path: String,
    pub modified: DateTime<Utc>,
    pub size: u64,
}

/// True when the newest stamp is at most `max_age_days` old at `now` (inclusive).
pub fn is_fresh(newest: &Stamp, now: DateTime<Utc>, max_age_days: u32) -> bool {
    now - newest.modified <= Duration::days(i64::from(max_age_days))
}

/// True for list files that count: `*InRelease` and `*_Release`.
pub fn is_release_file(name: &str) -> bool {
    name.ends_with("InRelease") || name.ends_with("_Release")
}

impl Check for IndexFresh {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let max_days = ctx.thresholds.index_max_age_days;
        if let Ok((Family::Rpm, os)) = family(ctx)
            && !ctx.host.is_live()
        {
            return unknown(
                    ID,
                    format!(
                        "not decidable offline on an RPM-family host ({}); the package-index files checked are apt's",
                        os_label(&os)
                    ),
                )
                .fact("max_age_days", max_days);
        }

        let mut stamps: Vec<Stamp> = Vec::new();
        let mut errors: Vec<String> = Vec::new();
        let note = |e: ReadError, errors: &mut Vec<String>| {
            if !e.is_not_found() {
                errors.push(e.to_string());
            }
        };
        let listing = lists::listing(ctx);
        match &listing.0 {
            Ok(names) => {
                for name in names.iter().filter(|n| is_release_file(n)) {
                    match stamp(ctx, &join_path(LISTS_DIR, name)) {
                        Ok(Some(s)) => stamps.push(s),
                        Ok(None) => {}
                        Err(e) => note(e, &mut errors),
                    }
                }
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => errors.push(e.to_string()),
        }
        match ctx.host.list_dir(PERIODIC_DIR) {
            Ok(names) => {
                for name in names {
                    match stamp(ctx, &join_path(PERIODIC_DIR, &name)) {
                        Ok(Some(s)) => stamps.push(s),
                        Ok(None) => {}
                        Err(e) => note(e, &mut errors),
                    }
                }
            }
            Err(e) => note(e, &mut errors),
        }
        match stamp(ctx, PKGCACHE) {
            Ok(Some(s)) => stamps.push(s),
            Ok(None) => {}
            Err(e) => note(e, &mut errors),
        }

        let considered = stamps.len();
        // Newest first; ties by path for a stable choice.
        stamps.sort_by(|a, b| {
            b.modified
                .cmp(&a.modified)
                .then_with(|| a.path.cmp(&b.path))
        });
        let Some(newest) = stamps.first() else {
            let why = if errors.is_empty() {
                format!(
                    "no package-index file exists (*InRelease or *_Release in {LISTS_DIR}, stamps in {PERIODIC_DIR}, {PKGCACHE})"
                )
            } else {
                errors.join("; ")
            };
            return unknown(ID, why).fact("max_age_days", max_days);
        };
        let fresh = is_fresh(newest, ctx.now, max_days);
        let age = ctx.now - newest.modified;
        let age_days = age.num_seconds() as f64 / 86_400.0;
        let modified = newest.modified.to_rfc3339_opts(SecondsFormat::Secs, true);

        let mut evidence: Vec<Evidence> = Vec::new();
        if let Some(e) = stamp_evidence(ctx, newest) {
            evidence.push(e);
        }
        if newest.size > EVIDENCE_READ_LIMIT
            && let Some(small) = stamps.iter().find(|s| s.size <= EVIDENCE_READ_LIMIT)
            && let Some(e) = stamp_evidence(ctx, small)
        {
            evidence.push(e);
        }

        let result = if fresh {
            CheckResult::new(
                ID,
                Status::Pass,
                format!(
                    "apt's package index was last updated {} ({}), within {max_days} days of collection",
                    describe_age(age),
                    newest.path
                ),
            )
        } else if !errors.is_empty() {
            return unknown(
                ID,
                format!(
                    "the newest readable package-index file ({}) is {} old, but some could not be read: {}",
                    newest.path,
                    describe_age(age),
                    errors.join("; ")
                ),
            )
            .fact("max_age_days", max_days)
            .fact("newest_path", &newest.path)
            .fact("newest_modified", &modified)
            .evidences(evidence);
        } else {
            CheckResult::new(
                ID,
                Status::Fail,
                format!(
                    "apt's package index was last updated {} ({}), more than {max_days} days before collection",
                    describe_age(age),
                    newest.path
                ),
            )
        };
        result
            .fact("max_age_days", max_days)
            .fact("newest_path", &newest.path)
            .fact("newest_modified", &modified)
            .fact("age_seconds", age.num_seconds())
            .fact("age_days", (age_days * 10.0).round() / 10.0)
            .fact("files_considered", considered)
            .evidences(evidence)
    }
}

/// "3 days ago", "5 hours ago", "in the future".
pub(crate) fn describe_age(age: Duration) -> String {
    let s = age.num_seconds();
    if s < 0 {
        "after the collection time".to_owned()
    } else if s < 3_600 {
        format!("{} minutes ago", s / 60)
    } else if s < 2 * 86_400 {
        format!("{} hours ago", s / 3_600)
    } else {
        format!("{} days ago", s / 86_400)
    }
}

/// The modification time of a regular file; `Ok(None)` for anything else.
fn stamp(ctx: &Context<'_>, path: &str) -> Result<Option<Stamp>, ReadError> {
    let meta = ctx.host.metadata(path)?;
    if !meta.is_file() {
        return Ok(None);
    }
    let modified = meta.modified().map_err(|source| ReadError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(Some(Stamp {
        path: path.to_owned(),
        modified: DateTime::<Utc>::from(modified),
        size: meta.len(),
    }))
}

/// Evidence for a small stamp: its digest, modification time and, for a Release
/// file, its `Date:` line.
fn stamp_evidence(ctx: &Context<'_>, s: &Stamp) -> Option<Evidence> {
    if s.size > EVIDENCE_READ_LIMIT {
        return None;
    }
    let raw = ctx.host.read(&s.path).ok()?;
    let mut excerpt = format!(
        "modified {}",
        s.modified.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    if let Some(date) = String::from_utf8_lossy(&raw)
        .lines()
        .take(40)
        .find(|l| l.starts_with("Date:"))
    {
        excerpt.push('\n');
        excerpt.push_str(date);
    }
    Some(file_evidence(&s.path, &raw, excerpt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Thresholds;
    use crate::host::fake::FakeHost;
    use chrono::TimeZone;
    use std::time::SystemTime;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 15, 12, 0, 0).unwrap()
    }

    fn touch(root: &mut FakeHost, path: &str, content: &[u8], at: DateTime<Utc>) {
        root.add_file_at(path, content, SystemTime::from(at));
    }

    fn run(root: &FakeHost, thresholds: &Thresholds) -> CheckResult {
        root.run_at(&IndexFresh, now(), thresholds)
    }

    #[test]
    fn boundary_is_inclusive() {
        let stamp = |secs_ago: i64| Stamp {
            path: "/x".into(),
            modified: now() - Duration::seconds(secs_ago),
            size: 0,
        };
        assert!(is_fresh(&stamp(7 * 86_400), now(), 7));
        assert!(!is_fresh(&stamp(7 * 86_400 + 1), now(), 7));
        assert!(is_fresh(&stamp(-3600), now(), 7));
        assert!(!is_fresh(&stamp(1), now(), 0));
        assert!(is_fresh(&stamp(0), now(), 0));
    }

    #[test]
    fn release_file_names() {
        assert!(is_release_file(
            "deb.debian.org_debian_dists_bookworm_InRelease"
        ));
        assert!(is_release_file("ppa.example_dists_jammy_Release"));
        assert!(!is_release_file("ppa.example_dists_jammy_Release.gpg"));
        assert!(!is_release_file(
            "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"
        ));
    }

    #[test]
    fn the_newest_file_decides() {
        let mut r = FakeHost::linux();
        let lists = "/var/lib/apt/lists";
        touch(
            &mut r,
            &format!("{lists}/deb.debian.org_debian_dists_bookworm_InRelease"),
            b"-----BEGIN PGP SIGNED MESSAGE-----\nOrigin: Debian\nDate: Sat, 07 Jun 2025 09:00:00 UTC\n",
            now() - Duration::days(8),
        );
        // Packages files do not count, however new.
        touch(
            &mut r,
            &format!("{lists}/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"),
            b"",
            now(),
        );
        let t = Thresholds::default();
        let res = run(&r, &t);
        assert_eq!(res.status, Status::Fail, "{res:?}");
        assert_eq!(res.facts["max_age_days"], 7);
        assert_eq!(res.facts["age_days"], 8.0);
        let Evidence::File { excerpt, .. } = &res.evidence[0] else {
            panic!()
        };
        assert!(excerpt.contains("Date: Sat, 07 Jun 2025"), "{excerpt}");

        // A periodic stamp within the window makes it fresh.
        touch(
            &mut r,
            "/var/lib/apt/periodic/update-success-stamp",
            b"",
            now() - Duration::days(7),
        );
        let res = run(&r, &t);
        assert_eq!(res.status, Status::Pass, "{res:?}");
        assert_eq!(
            res.facts["newest_path"],
            "/var/lib/apt/periodic/update-success-stamp"
        );
        assert_eq!(res.facts["files_considered"], 2);

        // pkgcache.bin newer still; the threshold comes from the configuration.
        touch(
            &mut r,
            "/var/cache/apt/pkgcache.bin",
            b"cache",
            now() - Duration::hours(30),
        );
        let t = Thresholds {
            index_max_age_days: 1,
            ..Thresholds::default()
        };
        let res = run(&r, &t);
        assert_eq!(res.status, Status::Fail);
        assert_eq!(res.facts["newest_path"], PKGCACHE);
        assert_eq!(res.facts["max_age_days"], 1);
        assert!(res.summary.contains("30 hours ago"), "{}", res.summary);
    }

    #[test]
    fn unknown_when_nothing_exists_or_offline_rpm() {
        let mut r = FakeHost::linux();
        let res = run(&r, &Thresholds::default());
        assert_eq!(res.status, Status::Unknown);
        assert_eq!(res.facts["max_age_days"], 7);

        r.add_file("/etc/os-release", "ID=fedora\nVERSION_ID=40\n");
        touch(&mut r, "/var/cache/apt/pkgcache.bin", b"", now());
        let res = run(&r, &Thresholds::default());
        assert_eq!(res.status, Status::Unknown);
        assert!(res.reason.unwrap().contains("RPM-family"));
    }
}
