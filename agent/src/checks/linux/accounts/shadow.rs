//! `/etc/shadow` (shadow(5)) and `accounts.no_empty_passwords`.
//!
//! The parser returns, for each account, its name, the **kind** of its password
//! field and its maximum password age — never the field itself. Nothing that
//! leaves this module holds a password hash; evidence lists `name:kind`.
//!
//! Lines are accepted as glibc's shadow parser accepts them (`sgetspent`): leading
//! white space skipped, `#` comments, empty lines and NIS compat entries (`+…`,
//! `-…`) ignored; the last-change, minimum and maximum fields must be present
//! (`name:pw:1:0:99999` is the old 5-field form; with more fields, warn, inactive
//! and expire must be present too), and a numeric field is empty or a number —
//! otherwise glibc ignores the whole line, and so do we. The line numbers of the
//! lines skipped (NIS entries included) are kept in [`Shadow::skipped`] and listed
//! in the facts as `skipped_lines` — numbers only, never content. Numbers are read with `strtoul` and stored as a C
//! `int`, as glibc does.

use std::sync::Arc;

use attest_proto::{CheckResult, Status};
use serde::Serialize;

use super::{Parsed, c_strtoul, numbered};
use crate::checks::{Check, Context, unknown};
use crate::host::ReadError;

pub const SHADOW_PATH: &str = "/etc/shadow";

/// What the password field holds, without what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordKind {
    /// Empty: no password is needed to log in.
    Empty,
    /// Starts with `!` or `*`: no password can match.
    Locked,
    /// Anything else: a password hash, usable to log in.
    Hash,
}

impl PasswordKind {
    pub fn of(field: &str) -> Self {
        if field.is_empty() {
            PasswordKind::Empty
        } else if field.starts_with('!') || field.starts_with('*') {
            PasswordKind::Locked
        } else {
            PasswordKind::Hash
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PasswordKind::Empty => "empty",
            PasswordKind::Locked => "locked",
            PasswordKind::Hash => "hash",
        }
    }

    /// A usable password: neither empty nor locked (`checks.md`).
    pub fn is_usable(self) -> bool {
        self == PasswordKind::Hash
    }
}

/// The maximum password age field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxAge {
    /// Empty, `-1` or any negative value: the password never has to change.
    NoMaximum,
    Days(i64),
}

impl MaxAge {
    /// The value for facts: a number of days, or `null` for no maximum.
    pub fn days(self) -> Option<i64> {
        match self {
            MaxAge::NoMaximum => None,
            MaxAge::Days(d) => Some(d),
        }
    }
}

/// One account of `/etc/shadow`: name and kind of password, never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowEntry {
    pub name: String,
    pub kind: PasswordKind,
    pub max_age: MaxAge,
    pub lineno: usize,
}

impl ShadowEntry {
    /// `name:kind`, the only form in which an entry appears in evidence.
    pub fn label(&self) -> String {
        format!("{}:{}", self.name, self.kind.as_str())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shadow {
    pub entries: Vec<ShadowEntry>,
    /// Line numbers of lines glibc skips: malformed lines and NIS compat entries
    /// (no content is kept).
    pub skipped: Vec<usize>,
}

/// glibc's `INT_FIELD_MAYBE_NULL`: the rest of the line must not be empty; an
/// empty field gives `None`; a number must be followed by `:` or the end.
fn int_field(line: &str) -> Result<(Option<i64>, &str), ()> {
    if line.is_empty() {
        return Err(());
    }
    let (value, rest) = match c_strtoul(line) {
        Some((v, rest)) => (Some(i64::from(v as u32 as i32)), rest),
        None => (None, line),
    };
    if let Some(after) = rest.strip_prefix(':') {
        Ok((value, after))
    } else if rest.is_empty() {
        Ok((value, rest))
    } else {
        Err(())
    }
}

/// `name`, password kind and max age of one data line, or `None` when glibc would
/// reject it. The password field is inspected here and dropped.
fn parse_line(line: &str) -> Option<(String, PasswordKind, MaxAge)> {
    let (name, rest) = line.split_once(':').unwrap_or((line, ""));
    let (password, rest) = rest.split_once(':').unwrap_or((rest, ""));
    let kind = PasswordKind::of(password);
    let (_last_change, rest) = int_field(rest).ok()?;
    let (_min, rest) = int_field(rest).ok()?;
    let (max, rest) = int_field(rest).ok()?;
    let rest = rest.trim_start_matches(super::is_c_space);
    if !rest.is_empty() {
        let (_warn, rest) = int_field(rest).ok()?;
        let (_inactive, rest) = int_field(rest).ok()?;
        let (_expire, rest) = int_field(rest).ok()?;
        if !rest.is_empty() {
            int_field(rest).ok()?;
        }
    }
    if name.is_empty() {
        return None;
    }
    let max_age = match max {
        Some(d) if d >= 0 => MaxAge::Days(d),
        _ => MaxAge::NoMaximum,
    };
    Some((name.to_owned(), kind, max_age))
}

/// Parses `/etc/shadow` into names, password kinds and max ages.
pub fn parse(text: &str) -> Shadow {
    let mut shadow = Shadow::default();
    for (lineno, line, nis) in super::passwd::nss_lines(text) {
        match parse_line(line).filter(|_| !nis) {
            Some((name, kind, max_age)) => shadow.entries.push(ShadowEntry {
                name,
                kind,
                max_age,
                lineno,
            }),
            None => shadow.skipped.push(lineno),
        }
    }
    shadow
}

/// The host's `/etc/shadow`, read once per run. Only the parsed value and the
/// file's digest are kept, never its bytes.
pub struct Memo(pub Result<Parsed<Shadow>, ReadError>);

pub fn get(ctx: &Context<'_>) -> Arc<Memo> {
    ctx.memo(|ctx| Memo(super::load(ctx.host, SHADOW_PATH, parse)))
}

/// `accounts.no_empty_passwords`: no `/etc/shadow` entry has an empty password
/// field.
///
/// Fails listing the accounts whose field is empty. Unknown when `/etc/shadow`
/// is missing or cannot be read (as a normal user: "permission denied; run as
/// root"). Lines glibc ignores are not accounts and are only counted in facts.
pub struct NoEmptyPasswords;

impl Check for NoEmptyPasswords {
    fn id(&self) -> &'static str {
        "accounts.no_empty_passwords"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        self.judge(&get(ctx).0)
    }
}

impl NoEmptyPasswords {
    /// The verdict on `/etc/shadow` as read.
    pub fn judge(&self, read: &Result<Parsed<Shadow>, ReadError>) -> CheckResult {
        let parsed = match read {
            Ok(p) => p,
            Err(e) => return unknown(self.id(), e.to_string()),
        };
        let shadow = &parsed.value;
        let empty: Vec<&ShadowEntry> = shadow
            .entries
            .iter()
            .filter(|e| e.kind == PasswordKind::Empty)
            .collect();
        let names: Vec<&str> = empty.iter().map(|e| e.name.as_str()).collect();
        let shown: Vec<&ShadowEntry> = if empty.is_empty() {
            shadow.entries.iter().collect()
        } else {
            empty.clone()
        };
        let excerpt = if shown.is_empty() {
            "(no entries)".to_owned()
        } else {
            shown
                .iter()
                .map(|e| numbered(e.lineno, &e.label()))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let (status, summary) = if empty.is_empty() {
            (
                Status::Pass,
                format!(
                    "No /etc/shadow entry has an empty password field ({} accounts)",
                    shadow.entries.len()
                ),
            )
        } else {
            (
                Status::Fail,
                format!(
                    "{} account{} with an empty password field: {}",
                    names.len(),
                    if names.len() == 1 { "" } else { "s" },
                    names.join(", ")
                ),
            )
        };
        CheckResult::new(self.id(), status, summary)
            .fact("empty_password_accounts", &names)
            .fact("accounts_checked", shadow.entries.len())
            .fact("skipped_lines", &shadow.skipped)
            .evidence(parsed.file.evidence(excerpt))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::checks::linux::accounts::testutil::json;
    use crate::host::fake::FakeHost;
    use proptest::prelude::*;

    /// A Debian 12 style shadow file; the hashes are made up but shaped like real ones.
    pub const DEBIAN_SHADOW: &str = "root:$y$j9T$Qm4bHc1Xv0bNw5sV7dZ9E.$kq3n0GgZ8yLwz1mJcV2tRrD5sX9uP6hQyA7bC4eF0i1:19700:0:99999:7:::
daemon:*:19700:0:99999:7:::
bin:*:19700:0:99999:7:::
sshd:!:19700::::::
alice:$6$rounds=5000$saltsaltsalt$Zx9yW8vU7tS6rQ5pO4nM3lK2jI1hG0fE9dC8bA7zY6xW5vU4tS3rQ2pO1nM0lK9jI8hG7fE6dC5bA4zY3xW2v:19701:0:99999:7:::
guest::19702:0:99999:7:::
";

    pub const HASHES: [&str; 2] = [
        "$y$j9T$Qm4bHc1Xv0bNw5sV7dZ9E.$kq3n0GgZ8yLwz1mJcV2tRrD5sX9uP6hQyA7bC4eF0i1",
        "$6$rounds=5000$saltsaltsalt$Zx9yW8vU7tS6rQ5pO4nM3lK2jI1hG0fE9dC8bA7zY6xW5vU4tS3rQ2pO1nM0lK9jI8hG7fE6dC5bA4zY3xW2v",
    ];

    #[test]
    fn kinds_of_password_fields() {
        let s = parse(DEBIAN_SHADOW);
        let labels: Vec<_> = s.entries.iter().map(ShadowEntry::label).collect();
        assert_eq!(
            labels,
            [
                "root:hash",
                "daemon:locked",
                "bin:locked",
                "sshd:locked",
                "alice:hash",
                "guest:empty"
            ]
        );
        assert_eq!(s.entries[0].max_age, MaxAge::Days(99999));
        assert_eq!(s.entries[3].max_age, MaxAge::NoMaximum);
        assert_eq!(PasswordKind::of("!$6$x"), PasswordKind::Locked);
        assert_eq!(PasswordKind::of("!!"), PasswordKind::Locked);
        assert_eq!(PasswordKind::of("x"), PasswordKind::Hash);
    }

    #[test]
    fn max_age_minus_one_and_negative_mean_no_maximum() {
        let s = parse("a:h:1:0:-1:7:::\nb:h:1:0:90\nc:h:1:0:-5:7:::\nd:h:1:0:4294967295:7:::\n");
        let ages: Vec<_> = s.entries.iter().map(|e| e.max_age).collect();
        assert_eq!(
            ages,
            [
                MaxAge::NoMaximum,
                MaxAge::Days(90),
                MaxAge::NoMaximum,
                MaxAge::NoMaximum
            ]
        );
    }

    #[test]
    fn lines_glibc_rejects_are_not_accounts() {
        // 6 fields (warn present, inactive missing), a non-numeric max, a name
        // and password only.
        let s = parse("a:h:1:0:90:7\nb:h:1:0:abc:7:::\nc:h\nd:h:1:0:\nok:h:1:0:90:7:::\n");
        let names: Vec<_> = s.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["ok"]);
        assert_eq!(s.skipped, [1, 2, 3, 4]);
        // NIS compat entries are skipped and listed too.
        let s = parse("+::::::::\n-x:h:1:0:90:7:::\nok:h:1:0:90:7:::\n");
        assert_eq!(s.entries.len(), 1);
        assert_eq!(s.skipped, [1, 2]);
    }

    #[test]
    fn parsed_values_never_hold_a_hash() {
        let s = parse(DEBIAN_SHADOW);
        let debug = format!("{s:?}");
        for h in HASHES {
            assert!(!debug.contains(h));
        }
        assert!(!debug.contains("$y$"));
        assert!(!debug.contains("$6$"));
    }

    #[test]
    fn check_fails_on_an_empty_field_and_never_shows_a_hash() {
        let h = FakeHost::linux().files(&[("/etc/shadow", DEBIAN_SHADOW)]);
        let r = h.run(&NoEmptyPasswords);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.facts["empty_password_accounts"],
            serde_json::json!(["guest"])
        );
        let s = json(&r);
        assert!(s.contains("6: guest:empty"), "{s}");
        for h in HASHES {
            assert!(!s.contains(h), "{s}");
        }
        assert!(!s.contains("$y$") && !s.contains("$6$"));
    }

    #[test]
    fn check_passes_without_empty_fields() {
        let text = DEBIAN_SHADOW.replace("guest::", "guest:!:");
        let h = FakeHost::linux().files(&[("/etc/shadow", &text)]);
        let r = h.run(&NoEmptyPasswords);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["accounts_checked"], 6);
        let s = json(&r);
        assert!(s.contains("root:hash") && s.contains("guest:locked"));
        for h in HASHES {
            assert!(!s.contains(h));
        }
    }

    #[test]
    fn missing_shadow_is_unknown() {
        let h = FakeHost::linux().files(&[]);
        let r = h.run(&NoEmptyPasswords);
        assert_eq!(r.status, Status::Unknown);
        assert_eq!(r.reason.as_deref(), Some("/etc/shadow: not found"));
    }

    #[test]
    fn permission_denied_says_run_as_root() {
        let denied = Err(ReadError::PermissionDenied {
            path: SHADOW_PATH.to_owned(),
        });
        let r = NoEmptyPasswords.judge(&denied);
        assert_eq!(r.status, Status::Unknown);
        assert_eq!(
            r.reason.as_deref(),
            Some("/etc/shadow: permission denied; run as root")
        );
    }

    #[test]
    fn unreadable_shadow_says_run_as_root() {
        // Mode 000, read by another user than root.
        let h = FakeHost::linux()
            .files(&[("/etc/shadow", DEBIAN_SHADOW)])
            .deny("/etc/shadow");
        let r = h.run(&NoEmptyPasswords);
        assert_eq!(r.status, Status::Unknown);
        assert_eq!(
            r.reason.as_deref(),
            Some("/etc/shadow: permission denied; run as root")
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = parse(&s);
        }

        #[test]
        fn parse_never_panics_on_shadow_like_lines(s in "[a-z$!*:0-9 -]{0,80}(\n[a-z$!*:0-9 -]{0,80}){0,5}") {
            let parsed = parse(&s);
            for e in &parsed.entries {
                prop_assert!(!e.name.is_empty());
            }
        }
    }
}
