//! `/etc/login.defs` (login.defs(5)) and `accounts.password_max_age`.
//!
//! Read as shadow-utils reads it (`def_load`): a line is `NAME value`; leading
//! blanks are skipped; lines starting with `#` and lines with only one field are
//! ignored; the value starts after the blanks and double quotes that follow the
//! name and ends at the next `"` (trailing white space trimmed). A `#` after the
//! value is **not** a comment: `PASS_MAX_DAYS 90 # days` has the value
//! `90 # days`. The last definition of a name wins.
//!
//! Numbers are read as shadow-utils reads them, `strtol(value, &end, 0)` with the
//! whole value consumed (`checks.md` clarification 1.1): `0400` is octal (256),
//! `0x16D` hex (365). A `PASS_MAX_DAYS` whose value is not such a number (trailing
//! garbage such as `90 # days`, `08`, an empty value, or a value above `INT_MAX`,
//! which shadow-utils' `getdef_num` rejects) is ignored like an absent line: the
//! previous readable definition applies, else the default 99999. Any negative
//! value means no maximum.

use std::collections::BTreeMap;

use attest_proto::{CheckResult, Status};
use serde_json::json;

use super::shadow::{self, MaxAge, ShadowEntry};
use super::{c_strtol0, numbered};
use crate::checks::{Check, Context, unknown};

pub const LOGIN_DEFS_PATH: &str = "/etc/login.defs";

/// `PASS_MAX_DAYS` when login.defs does not set it (`checks.md`).
pub const DEFAULT_PASS_MAX_DAYS: i64 = 99999;

/// One definition: its value and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub value: String,
    pub lineno: usize,
    pub text: String,
}

/// Every definition of each name, in file order (the last one is the effective
/// value of a string setting).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginDefs {
    pub defs: BTreeMap<String, Vec<Definition>>,
}

impl LoginDefs {
    /// The last definition of `name`.
    pub fn get(&self, name: &str) -> Option<&Definition> {
        self.defs.get(name).and_then(|d| d.last())
    }

    /// Every definition of `name`, in file order.
    pub fn all(&self, name: &str) -> &[Definition] {
        self.defs.get(name).map_or(&[], Vec::as_slice)
    }
}

/// Parses login.defs (see the module doc).
pub fn parse(text: &str) -> LoginDefs {
    let mut defs: BTreeMap<String, Vec<Definition>> = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches(super::is_c_space);
        let name_start = line.trim_start_matches([' ', '\t']);
        if name_start.is_empty() || name_start.starts_with('#') {
            continue;
        }
        let Some(end) = name_start.find([' ', '\t']) else {
            continue; // only one field
        };
        let (name, rest) = name_start.split_at(end);
        let value = rest.trim_start_matches([' ', '\t', '"']);
        let value = value.split('"').next().unwrap_or("");
        defs.entry(name.to_owned()).or_default().push(Definition {
            value: value.to_owned(),
            lineno: i + 1,
            text: line.to_owned(),
        });
    }
    LoginDefs { defs }
}

/// The effective `PASS_MAX_DAYS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassMaxDays {
    /// No readable definition: 99999.
    Default,
    /// A number of days (negative means no maximum) and the line that set it.
    Days(i64, Definition),
}

impl PassMaxDays {
    /// The last `PASS_MAX_DAYS` whose value is a number (see the module doc).
    pub fn of(defs: &LoginDefs) -> Self {
        defs.all("PASS_MAX_DAYS")
            .iter()
            .rev()
            .find_map(|d| read_number(&d.value).map(|n| PassMaxDays::Days(n, d.clone())))
            .unwrap_or(PassMaxDays::Default)
    }

    /// The `PASS_MAX_DAYS` lines ignored because their value is not a number
    /// (only those after the one that applies: earlier ones would be overridden).
    pub fn ignored(defs: &LoginDefs) -> Vec<&Definition> {
        defs.all("PASS_MAX_DAYS")
            .iter()
            .rev()
            .take_while(|d| read_number(&d.value).is_none())
            .collect()
    }

    /// The limit in days, `None` when there is none.
    pub fn days(&self) -> Option<i64> {
        match self {
            PassMaxDays::Default => Some(DEFAULT_PASS_MAX_DAYS),
            PassMaxDays::Days(n, _) if *n >= 0 => Some(*n),
            PassMaxDays::Days(..) => None,
        }
    }
}

/// A login.defs number: `strtol(…, 0)`, whole value, not above `INT_MAX`.
fn read_number(value: &str) -> Option<i64> {
    c_strtol0(value).filter(|n| *n <= i64::from(i32::MAX))
}

/// `accounts.password_max_age`: `PASS_MAX_DAYS` ≤ the threshold **and** every
/// account with a usable password (field neither empty nor starting with `!` or
/// `*`) has a maximum age ≤ the threshold in `/etc/shadow`.
///
/// `PASS_MAX_DAYS` absent means 99999; a value that is not a number (e.g.
/// `90 # days`) is ignored like an absent line; a negative value means no maximum
/// and fails. A
/// shadow max-age field that is empty or negative (`-1`) means no maximum and
/// fails. Unknown when login.defs or shadow is missing or unreadable.
pub struct PasswordMaxAge;

impl Check for PasswordMaxAge {
    fn id(&self) -> &'static str {
        "accounts.password_max_age"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let threshold = i64::from(ctx.thresholds.password_max_days);
        let defs = match super::load(ctx.host, LOGIN_DEFS_PATH, parse) {
            Ok(d) => d,
            Err(e) => return unknown(self.id(), e.to_string()).fact("threshold", threshold),
        };
        let memo = shadow::get(ctx);
        let shadow = match &memo.0 {
            Ok(s) => s,
            Err(e) => return unknown(self.id(), e.to_string()).fact("threshold", threshold),
        };

        let max_days = PassMaxDays::of(&defs.value);
        let defs_ok = max_days.days().is_some_and(|d| d <= threshold);
        let (defs_value, defs_source, defs_excerpt) = match &max_days {
            PassMaxDays::Default => (
                json!(DEFAULT_PASS_MAX_DAYS),
                "default (no PASS_MAX_DAYS line with a number)".to_owned(),
                "(no PASS_MAX_DAYS line with a number: 99999)".to_owned(),
            ),
            PassMaxDays::Days(n, d) => (
                if *n >= 0 { json!(n) } else { json!(null) },
                format!("{LOGIN_DEFS_PATH}:{}", d.lineno),
                numbered(d.lineno, &d.text),
            ),
        };
        // Lines that did not parse are named by number only, never quoted.
        let ignored = PassMaxDays::ignored(&defs.value);
        let defs_excerpt = ignored.iter().rev().fold(defs_excerpt, |acc, d| {
            format!(
                "{acc}\n{}",
                numbered(d.lineno, "(PASS_MAX_DAYS value not a number: ignored)")
            )
        });

        let usable: Vec<&ShadowEntry> = shadow
            .value
            .entries
            .iter()
            .filter(|e| e.kind.is_usable())
            .collect();
        let over: Vec<&ShadowEntry> = usable
            .iter()
            .copied()
            .filter(|e| match e.max_age {
                MaxAge::NoMaximum => true,
                MaxAge::Days(d) => d > threshold,
            })
            .collect();

        let describe = |e: &ShadowEntry| match e.max_age {
            MaxAge::NoMaximum => format!("{} (no maximum)", e.name),
            MaxAge::Days(d) => format!("{} ({d} days)", e.name),
        };
        let mut problems = Vec::new();
        if !defs_ok {
            problems.push(match &max_days {
                PassMaxDays::Days(n, _) if *n < 0 => {
                    format!("PASS_MAX_DAYS is {n} (no maximum), above {threshold}")
                }
                _ => format!(
                    "PASS_MAX_DAYS is {}, above {threshold}",
                    max_days.days().unwrap_or(DEFAULT_PASS_MAX_DAYS)
                ),
            });
        }
        if !over.is_empty() {
            problems.push(format!(
                "{} account{} with a usable password ha{} no maximum age or one above {threshold} days: {}",
                over.len(),
                if over.len() == 1 { "" } else { "s" },
                if over.len() == 1 { "s" } else { "ve" },
                over.iter().map(|e| describe(e)).collect::<Vec<_>>().join(", ")
            ));
        }
        let (status, summary) = if problems.is_empty() {
            (
                Status::Pass,
                format!(
                    "PASS_MAX_DAYS is {} and all {} accounts with a usable password must change it within {threshold} days",
                    max_days.days().unwrap_or(DEFAULT_PASS_MAX_DAYS),
                    usable.len()
                ),
            )
        } else {
            (Status::Fail, problems.join("; "))
        };

        let shown = if over.is_empty() { &usable } else { &over };
        let shadow_excerpt = if shown.is_empty() {
            "(no account with a usable password)".to_owned()
        } else {
            shown
                .iter()
                .map(|e| {
                    let max = e
                        .max_age
                        .days()
                        .map_or_else(|| "none".to_owned(), |d| d.to_string());
                    numbered(e.lineno, &format!("{} max={max}", e.label()))
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let over_facts: Vec<_> = over
            .iter()
            .map(|e| json!({ "name": e.name, "max_days": e.max_age.days() }))
            .collect();
        CheckResult::new(self.id(), status, summary)
            .fact("threshold", threshold)
            .fact("pass_max_days", defs_value)
            .fact("pass_max_days_source", defs_source)
            .fact("login_defs_ok", defs_ok)
            .fact(
                "pass_max_days_ignored_lines",
                ignored.iter().rev().map(|d| d.lineno).collect::<Vec<_>>(),
            )
            .fact("accounts_with_usable_password", usable.len())
            .fact("skipped_lines", &shadow.value.skipped)
            .fact("accounts_over_threshold", over_facts)
            .evidence(defs.file.evidence(defs_excerpt))
            .evidence(shadow.file.evidence(shadow_excerpt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Thresholds;
    use crate::checks::linux::accounts::shadow::tests::{DEBIAN_SHADOW, HASHES};
    use crate::checks::linux::accounts::testutil::json;
    use crate::host::fake::FakeHost;
    use proptest::prelude::*;

    /// The relevant part of Debian 12's login.defs.
    const DEBIAN_LOGIN_DEFS: &str = "#
# /etc/login.defs - Configuration control definitions for the login package.
#
MAIL_DIR        /var/mail
#
# Password aging controls:
#
#\tPASS_MAX_DAYS\tMaximum number of days a password may be used.
#\tPASS_MIN_DAYS\tMinimum number of days allowed between password changes.
#\tPASS_WARN_AGE\tNumber of days warning given before a password expires.
#
PASS_MAX_DAYS\t99999
PASS_MIN_DAYS\t0
PASS_WARN_AGE\t7
ENV_PATH\tPATH=/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games
";

    #[test]
    fn last_definition_wins() {
        let d = parse("PASS_MAX_DAYS 99999\n  PASS_MAX_DAYS\t90\n");
        let def = d.get("PASS_MAX_DAYS").unwrap();
        assert_eq!(def.value, "90");
        assert_eq!(def.lineno, 2);
        assert_eq!(PassMaxDays::of(&d).days(), Some(90));
    }

    #[test]
    fn values_follow_shadow_utils() {
        let d = parse(
            "A \"quoted value\"\nB\nC 90 # days\n# PASS_MAX_DAYS 1\nENV_PATH PATH=/bin:/usr/bin  \n",
        );
        assert_eq!(d.get("A").unwrap().value, "quoted value");
        assert!(d.get("B").is_none());
        assert_eq!(d.get("C").unwrap().value, "90 # days");
        assert!(d.get("PASS_MAX_DAYS").is_none());
        assert_eq!(d.get("ENV_PATH").unwrap().value, "PATH=/bin:/usr/bin");
    }

    #[test]
    fn pass_max_days_forms() {
        assert_eq!(PassMaxDays::of(&parse("")).days(), Some(99999));
        assert_eq!(PassMaxDays::of(&parse("PASS_MAX_DAYS -1")).days(), None);
        assert_eq!(
            PassMaxDays::of(&parse("PASS_MAX_DAYS \"60\"")).days(),
            Some(60)
        );
    }

    #[test]
    fn regression_login_defs_numbers_are_strtol_base_0() {
        let days = |t: &str| PassMaxDays::of(&parse(t)).days();
        // Octal and hex (checks.md clarification 1.1).
        assert_eq!(days("PASS_MAX_DAYS 0400\n"), Some(256));
        assert_eq!(days("PASS_MAX_DAYS 0x16D\n"), Some(365));
        assert_eq!(days("PASS_MAX_DAYS\t0X16d\n"), Some(365));
        assert_eq!(days("PASS_MAX_DAYS 0\n"), Some(0));
        // Trailing garbage: ignored like an absent line.
        assert_eq!(days("PASS_MAX_DAYS 90 # days\n"), Some(99999));
        assert_eq!(days("PASS_MAX_DAYS 08\n"), Some(99999));
        assert_eq!(days("PASS_MAX_DAYS 90d\n"), Some(99999));
        assert_eq!(days("PASS_MAX_DAYS \"\"\n"), Some(99999));
        assert_eq!(days("PASS_MAX_DAYS 2147483648\n"), Some(99999));
        let d = parse("PASS_MAX_DAYS 90\nPASS_MAX_DAYS 30 # days\nPASS_MAX_DAYS x\n");
        assert_eq!(PassMaxDays::of(&d).days(), Some(90));
        let ignored: Vec<usize> = PassMaxDays::ignored(&d).iter().map(|d| d.lineno).collect();
        assert_eq!(ignored, [3, 2]);
        // A readable definition after garbage wins as usual.
        assert_eq!(days("PASS_MAX_DAYS x\nPASS_MAX_DAYS 60\n"), Some(60));
        // Negative: no maximum.
        assert_eq!(days("PASS_MAX_DAYS -5\n"), None);
        assert_eq!(days("PASS_MAX_DAYS -0x1\n"), None);
    }

    #[test]
    fn regression_login_defs_verdicts() {
        let t = Thresholds::default();
        let shadow = "root:$6$x$y:19700:0:90:7:::\n";
        let r = run(Some("PASS_MAX_DAYS 0x16D\n"), Some(shadow), &t);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["pass_max_days"], 365);
        let r = run(Some("PASS_MAX_DAYS 0400\n"), Some(shadow), &t);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["pass_max_days"], 256);
        let r = run(Some("PASS_MAX_DAYS -1\n"), Some(shadow), &t);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["pass_max_days"], serde_json::Value::Null);
        let r = run(Some("PASS_MAX_DAYS 90 # days\n"), Some(shadow), &t);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["pass_max_days"], 99999);
        assert_eq!(
            r.facts["pass_max_days_ignored_lines"],
            serde_json::json!([1])
        );
        let r = run(
            Some("PASS_MAX_DAYS 60\nPASS_MAX_DAYS 90 # days\n"),
            Some(shadow),
            &t,
        );
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["pass_max_days"], 60);
    }

    fn run(login_defs: Option<&str>, shadow: Option<&str>, t: &Thresholds) -> CheckResult {
        let mut files = Vec::new();
        if let Some(l) = login_defs {
            files.push(("/etc/login.defs", l));
        }
        if let Some(s) = shadow {
            files.push(("/etc/shadow", s));
        }
        FakeHost::linux().files(&files).run_with(&PasswordMaxAge, t)
    }

    #[test]
    fn debian_defaults_fail_on_both_parts() {
        let t = Thresholds::default();
        let r = run(Some(DEBIAN_LOGIN_DEFS), Some(DEBIAN_SHADOW), &t);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.summary.contains("PASS_MAX_DAYS is 99999"),
            "{}",
            r.summary
        );
        assert!(r.summary.contains("root (99999 days)"), "{}", r.summary);
        assert!(r.summary.contains("alice (99999 days)"), "{}", r.summary);
        // Locked and empty fields are not usable passwords.
        assert!(!r.summary.contains("daemon") && !r.summary.contains("guest"));
        assert_eq!(r.facts["threshold"], 365);
        assert_eq!(r.facts["pass_max_days"], 99999);
        assert_eq!(r.facts["pass_max_days_source"], "/etc/login.defs:12");
        let s = json(&r);
        for h in HASHES {
            assert!(!s.contains(h));
        }
        assert!(s.contains("root:hash max=99999"), "{s}");
    }

    #[test]
    fn passes_when_both_parts_are_within_the_threshold() {
        let t = Thresholds::default();
        let shadow =
            "root:$6$x$y:19700:0:365:7:::\nalice:$6$a$b:19700:1:90:7:::\nnobody:*:19700:0:::::\n";
        let r = run(Some("PASS_MAX_DAYS 365\n"), Some(shadow), &t);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["accounts_with_usable_password"], 2);
        assert!(!json(&r).contains("$6$x$y"));
    }

    #[test]
    fn names_the_part_that_fails() {
        let t = Thresholds::default();
        let shadow = "root:$6$x$y:19700:0:365:7:::\nbob:$6$a$b:19700:0::7:::\ncarol:$6$a$b:19700:0:-1:7:::\n";
        let r = run(Some("PASS_MAX_DAYS 90\n"), Some(shadow), &t);
        assert_eq!(r.status, Status::Fail);
        assert!(!r.summary.contains("PASS_MAX_DAYS"), "{}", r.summary);
        assert!(r.summary.contains("bob (no maximum)"));
        assert!(r.summary.contains("carol (no maximum)"));
        assert_eq!(r.facts["login_defs_ok"], true);

        let r = run(
            Some("PASS_MAX_DAYS 400\n"),
            Some("root:$6$x:1:0:30:7:::\n"),
            &t,
        );
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.summary.starts_with("PASS_MAX_DAYS is 400"),
            "{}",
            r.summary
        );
        assert_eq!(r.facts["accounts_over_threshold"], serde_json::json!([]));
    }

    #[test]
    fn threshold_comes_from_context() {
        let t = Thresholds {
            password_max_days: 90,
            ..Thresholds::default()
        };
        let r = run(
            Some("PASS_MAX_DAYS 180\n"),
            Some("root:$6$x:1:0:30:7:::\n"),
            &t,
        );
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.facts["threshold"], 90);
    }

    #[test]
    fn missing_files_are_unknown() {
        let t = Thresholds::default();
        let r = run(None, Some(DEBIAN_SHADOW), &t);
        assert_eq!(r.status, Status::Unknown);
        assert_eq!(r.reason.as_deref(), Some("/etc/login.defs: not found"));
        let r = run(Some(DEBIAN_LOGIN_DEFS), None, &t);
        assert_eq!(r.status, Status::Unknown);
        assert_eq!(r.reason.as_deref(), Some("/etc/shadow: not found"));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let d = parse(&s);
            let _ = PassMaxDays::of(&d).days();
        }
    }
}
