//! `patch.index_fresh` on a Mac: when softwareupdated last scanned successfully.

use attest_proto::{CheckResult, Status};
use chrono::{DateTime, Duration, NaiveDateTime, SecondsFormat, Utc};
use plist::{Dictionary, Value};

use crate::checks::linux::patch::freshness::describe_age;
use crate::checks::macos::prefs::render;
use crate::checks::{Check, Context, file_evidence, unknown};

use super::{SOFTWARE_UPDATE_PLIST, software_update_plist};

/// The keys whose newest date counts, in the order they are listed.
pub const DATE_KEYS: [&str; 3] = [
    "LastSuccessfulDate",
    "LastBackgroundSuccessfulDate",
    "LastFullSuccessfulDate",
];

/// A date as softwareupdated writes it: a plist date; tolerated too, a string in
/// RFC 3339 (`2026-11-24T09:12:03Z`) or as `defaults read` prints dates
/// (`2026-11-24 09:12:03 +0000`). Anything else is `None`.
pub fn as_date(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::Date(d) => Some(DateTime::<Utc>::from(std::time::SystemTime::from(*d))),
        Value::String(s) => {
            let s = s.trim();
            DateTime::parse_from_rfc3339(s)
                .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S %z"))
                .map(|d| d.with_timezone(&Utc))
                .ok()
                .or_else(|| {
                    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                        .ok()
                        .map(|n| n.and_utc())
                })
        }
        _ => None,
    }
}

/// The scan dates found, in [`DATE_KEYS`] order, and the keys present with a value
/// that is not a date.
pub fn scan_dates(dict: &Dictionary) -> (Vec<(&'static str, DateTime<Utc>)>, Vec<String>) {
    let mut found = Vec::new();
    let mut odd = Vec::new();
    for key in DATE_KEYS {
        if let Some(value) = dict.get(key) {
            match as_date(value) {
                Some(d) => found.push((key, d)),
                None => odd.push(format!("{key} is {}, not a date", render(value))),
            }
        }
    }
    (found, odd)
}

/// `patch.index_fresh` on a Mac.
///
/// The newest of `LastSuccessfulDate`, `LastBackgroundSuccessfulDate` and
/// `LastFullSuccessfulDate` in `/Library/Preferences/com.apple.SoftwareUpdate.plist`
/// (background scans refresh the list of recommended updates too, so the newest
/// counts) is at most `index_max_age_days` (default 7) old at collection: pass
/// (a date after the collection time counts as fresh, as on Linux); older: fail.
/// Dates are plist dates; strings in RFC 3339 or `YYYY-MM-DD HH:MM:SS +0000` form are
/// read too. unknown: the plist is missing or unreadable, or holds none of the three
/// as a date.
///
/// Facts: `max_age_days`, `newest_key`, `newest`, `age_seconds`, `age_days`, `dates`
/// (every key found and its date).
pub struct IndexFresh;

const ID: &str = "patch.index_fresh";

impl Check for IndexFresh {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let max_days = ctx.thresholds.index_max_age_days;
        let memo = software_update_plist(ctx);
        let (bytes, dict) = match &memo.0 {
            Ok(Some((bytes, dict))) => (bytes, dict),
            Ok(None) => {
                return unknown(
                    ID,
                    format!(
                        "{SOFTWARE_UPDATE_PLIST}: not found (softwareupdated has never scanned)"
                    ),
                )
                .fact("max_age_days", max_days);
            }
            Err(e) => return unknown(ID, e.clone()).fact("max_age_days", max_days),
        };
        let (found, odd) = scan_dates(dict);
        let rfc = |d: &DateTime<Utc>| d.to_rfc3339_opts(SecondsFormat::Secs, true);
        let Some(&(newest_key, newest)) = found.iter().max_by_key(|(_, d)| *d) else {
            let mut why = format!(
                "{SOFTWARE_UPDATE_PLIST}: none of {} is set",
                DATE_KEYS.join(", ")
            );
            if !odd.is_empty() {
                why = format!("{SOFTWARE_UPDATE_PLIST}: {}", odd.join("; "));
            }
            return unknown(ID, why).fact("max_age_days", max_days);
        };
        let age = ctx.now - newest;
        let fresh = age <= Duration::days(i64::from(max_days));
        let excerpt = found
            .iter()
            .map(|(k, d)| format!("{k} = {}", rfc(d)))
            .collect::<Vec<_>>()
            .join("; ");
        let summary = format!(
            "softwareupdated last scanned successfully {} ({newest_key}), {} {max_days} days of collection",
            describe_age(age),
            if fresh { "within" } else { "more than" },
        );
        let result = CheckResult::new(ID, if fresh { Status::Pass } else { Status::Fail }, summary);
        let result = if odd.is_empty() {
            result
        } else {
            // `reason` is for unknown and not_applicable only.
            result.fact(
                "unanswered",
                [format!("{SOFTWARE_UPDATE_PLIST}: {}", odd.join("; "))],
            )
        };
        let dates: serde_json::Map<String, serde_json::Value> = found
            .iter()
            .map(|(k, d)| ((*k).to_owned(), serde_json::Value::String(rfc(d))))
            .collect();
        result
            .fact("max_age_days", max_days)
            .fact("newest_key", newest_key)
            .fact("newest", rfc(&newest))
            .fact("age_seconds", age.num_seconds())
            .fact(
                "age_days",
                (age.num_seconds() as f64 / 86_400.0 * 10.0).round() / 10.0,
            )
            .fact("dates", dates)
            .evidence(file_evidence(SOFTWARE_UPDATE_PLIST, bytes, excerpt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Thresholds;
    use crate::checks::macos::prefs::tests::{binary, xml};
    use crate::checks::macos::system::testmac::mac;
    use crate::host::fake::default_now;
    use attest_proto::Evidence;

    fn days_ago(n: i64) -> Value {
        let t = default_now() - Duration::days(n);
        Value::Date(plist::Date::from(std::time::SystemTime::from(t)))
    }

    #[test]
    fn plist_and_string_dates_are_read() {
        let apple = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>LastSuccessfulDate</key>
	<date>2023-05-04T21:40:12Z</date>
	<key>LastFullSuccessfulDate</key>
	<string>2023-05-03 08:00:00 +0000</string>
	<key>LastBackgroundSuccessfulDate</key>
	<integer>5</integer>
</dict>
</plist>"#;
        let dict = crate::checks::macos::prefs::parse(apple.as_bytes())
            .unwrap()
            .into_dictionary()
            .unwrap();
        let (found, odd) = scan_dates(&dict);
        let want: DateTime<Utc> = "2023-05-04T21:40:12Z".parse().unwrap();
        assert_eq!(found[0], ("LastSuccessfulDate", want));
        let full: DateTime<Utc> = "2023-05-03T08:00:00Z".parse().unwrap();
        assert_eq!(found[1], ("LastFullSuccessfulDate", full));
        assert_eq!(odd, vec!["LastBackgroundSuccessfulDate is 5, not a date"]);
        assert_eq!(
            as_date(&Value::String("2026-11-24T09:12:03+01:00".into())),
            Some("2026-11-24T08:12:03Z".parse().unwrap())
        );
        assert_eq!(as_date(&Value::String("yesterday".into())), None);
    }

    #[test]
    fn the_newest_of_the_three_decides() {
        let fake = mac("15.1").file(
            SOFTWARE_UPDATE_PLIST,
            binary(&[
                ("LastFullSuccessfulDate", days_ago(40)),
                ("LastBackgroundSuccessfulDate", days_ago(2)),
                ("LastSuccessfulDate", days_ago(9)),
            ]),
        );
        let r = fake.run(&IndexFresh);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["newest_key"], "LastBackgroundSuccessfulDate");
        assert_eq!(r.facts["max_age_days"], 7);
        assert_eq!(r.facts["dates"].as_object().unwrap().len(), 3);
        let Evidence::File { path, excerpt, .. } = &r.evidence[0] else {
            panic!("file evidence");
        };
        assert_eq!(path, SOFTWARE_UPDATE_PLIST);
        assert!(
            excerpt.contains("LastBackgroundSuccessfulDate = "),
            "{excerpt}"
        );
        // A threshold below the age fails.
        let t = Thresholds {
            index_max_age_days: 1,
            ..Thresholds::default()
        };
        let r = fake.run_with(&IndexFresh, &t);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(r.summary.contains("more than 1 days"), "{}", r.summary);
    }

    #[test]
    fn exactly_the_threshold_passes_and_a_second_more_fails() {
        let at = |secs: i64| {
            let t = default_now() - Duration::days(7) - Duration::seconds(secs);
            mac("15.1")
                .file(
                    SOFTWARE_UPDATE_PLIST,
                    xml(&[(
                        "LastFullSuccessfulDate",
                        Value::Date(plist::Date::from(std::time::SystemTime::from(t))),
                    )]),
                )
                .run(&IndexFresh)
                .status
        };
        assert_eq!(at(0), Status::Pass);
        assert_eq!(at(1), Status::Fail);
    }

    #[test]
    fn unknown_without_the_plist_or_any_date() {
        let r = mac("15.1").run(&IndexFresh);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.as_deref().unwrap().contains("not found"));
        let r = mac("15.1")
            .file(
                SOFTWARE_UPDATE_PLIST,
                xml(&[("AutomaticCheckEnabled", Value::Boolean(true))]),
            )
            .run(&IndexFresh);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.as_deref().unwrap().contains("none of"), "{r:?}");
        let r = mac("15.1")
            .file(
                SOFTWARE_UPDATE_PLIST,
                xml(&[("LastSuccessfulDate", Value::String("soon".into()))]),
            )
            .run(&IndexFresh);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.as_deref().unwrap().contains("not a date"), "{r:?}");
        let r = mac("15.1")
            .file(SOFTWARE_UPDATE_PLIST, "garbage")
            .run(&IndexFresh);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(!r.reason.as_deref().unwrap().contains("garbage"), "{r:?}");
    }
}
