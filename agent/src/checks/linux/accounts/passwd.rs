//! `/etc/passwd` (passwd(5)) and `accounts.uid0_only_root`.
//!
//! Lines are read as glibc's `files` NSS module reads them: leading white space is
//! skipped, empty lines and lines starting with `#` are ignored, and so are NIS
//! compat entries (`+…`, `-…`), which only mean something with `passwd: compat`.
//! The UID is read with `strtoul` and stored in a 32-bit `uid_t`, as glibc does:
//! `4294967296` is UID 0 to the system, and so it is here. A line whose UID or GID
//! field is not a number, or that has too few fields, is skipped, as glibc skips
//! it. Skipped lines (NIS entries included) are listed by line number in the
//! facts as `skipped_lines`, never by content (`checks.md` clarification 1.1).

use std::sync::Arc;

use attest_proto::{CheckResult, Status};

use super::{Parsed, c_strtoul, numbered};
use crate::checks::{Check, Context, unknown};
use crate::host::ReadError;

pub const PASSWD_PATH: &str = "/etc/passwd";

/// One account of `/etc/passwd`. The password field is not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// 1-based line number.
    pub lineno: usize,
}

/// A numeric passwd/group field as glibc reads it: `strtoul`, the whole field
/// consumed, truncated to 32 bits.
pub(crate) fn id_field(field: &str) -> Option<u32> {
    match c_strtoul(field) {
        Some((value, "")) => Some(value as u32),
        _ => None,
    }
}

/// The lines of an NSS `files` database that are not comments or empty:
/// `(line number, line, is a NIS compat entry)`, leading white space removed.
pub(crate) fn nss_lines(text: &str) -> impl Iterator<Item = (usize, &str, bool)> {
    text.lines().enumerate().filter_map(|(i, line)| {
        let line = line.trim_start_matches(super::is_c_space);
        if line.is_empty() || line.starts_with('#') {
            None
        } else {
            Some((i + 1, line, line.starts_with('+') || line.starts_with('-')))
        }
    })
}

/// The data lines of an NSS `files` database: `(line number, line)` with leading
/// white space removed, without comments, empty lines and NIS compat entries.
pub(crate) fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    nss_lines(text).filter_map(|(lineno, line, nis)| (!nis).then_some((lineno, line)))
}

/// `/etc/passwd` as read: the accounts, and the line numbers of the lines glibc
/// skips (malformed lines and NIS compat entries; no content is kept).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Passwd {
    pub accounts: Vec<Account>,
    pub skipped: Vec<usize>,
}

/// One passwd line as glibc reads it, or `None` when glibc skips it.
fn parse_line(line: &str, lineno: usize) -> Option<Account> {
    let mut fields = line.split(':');
    let name = fields.next().unwrap_or("");
    let _password = fields.next();
    let (uid, gid) = (fields.next()?, fields.next()?);
    let (uid, gid) = (id_field(uid)?, id_field(gid)?);
    if name.is_empty() {
        return None;
    }
    Some(Account {
        name: name.to_owned(),
        uid,
        gid,
        lineno,
    })
}

/// Parses `/etc/passwd`: `name:password:uid:gid:gecos:home:shell`.
pub fn parse_all(text: &str) -> Passwd {
    let mut out = Passwd::default();
    for (lineno, line, nis) in nss_lines(text) {
        match parse_line(line, lineno).filter(|_| !nis) {
            Some(account) => out.accounts.push(account),
            None => out.skipped.push(lineno),
        }
    }
    out
}

/// The accounts of `/etc/passwd` (see [`parse_all`]).
pub fn parse(text: &str) -> Vec<Account> {
    parse_all(text).accounts
}

/// The host's `/etc/passwd`, read once per run.
pub struct Memo(pub Result<Parsed<Passwd>, ReadError>);

pub fn get(ctx: &Context<'_>) -> Arc<Memo> {
    ctx.memo(|ctx| Memo(super::load(ctx.host, PASSWD_PATH, parse_all)))
}

/// The accounts with UID 0, in file order.
pub fn uid0(accounts: &[Account]) -> Vec<&Account> {
    accounts.iter().filter(|a| a.uid == 0).collect()
}

/// `accounts.uid0_only_root`: `root` is the only UID 0 account in `/etc/passwd`.
///
/// Passes when every UID 0 account is named `root` (a system where no account has
/// UID 0 has no other UID 0 account, so it passes too; the facts show it). Fails
/// listing the other names. Unknown when `/etc/passwd` cannot be read.
pub struct Uid0OnlyRoot;

impl Check for Uid0OnlyRoot {
    fn id(&self) -> &'static str {
        "accounts.uid0_only_root"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let memo = get(ctx);
        let parsed = match &memo.0 {
            Ok(p) => p,
            Err(e) => return unknown(self.id(), e.to_string()),
        };
        let zero = uid0(&parsed.value.accounts);
        let names: Vec<&str> = zero.iter().map(|a| a.name.as_str()).collect();
        let others: Vec<&str> = names.iter().copied().filter(|n| *n != "root").collect();
        let excerpt = if zero.is_empty() {
            "(no account has UID 0)".to_owned()
        } else {
            zero.iter()
                .map(|a| numbered(a.lineno, &format!("{} uid={} gid={}", a.name, a.uid, a.gid)))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let (status, summary) = if others.is_empty() {
            let summary = if names.is_empty() {
                "No account in /etc/passwd has UID 0".to_owned()
            } else {
                "root is the only UID 0 account in /etc/passwd".to_owned()
            };
            (Status::Pass, summary)
        } else {
            (
                Status::Fail,
                format!(
                    "{} other account{} with UID 0: {}",
                    others.len(),
                    if others.len() == 1 { "" } else { "s" },
                    others.join(", ")
                ),
            )
        };
        CheckResult::new(self.id(), status, summary)
            .fact("uid0_accounts", &names)
            .fact("other_uid0_accounts", &others)
            .fact("accounts_checked", parsed.value.accounts.len())
            .fact("skipped_lines", &parsed.value.skipped)
            .evidence(parsed.file.evidence(excerpt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::linux::accounts::testutil::json;
    use crate::host::fake::FakeHost;
    use proptest::prelude::*;

    const DEBIAN_PASSWD: &str = "root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash
";

    #[test]
    fn parses_debian_passwd() {
        let accounts = parse(DEBIAN_PASSWD);
        assert_eq!(accounts.len(), 6);
        assert_eq!(accounts[5].name, "alice");
        assert_eq!(accounts[5].uid, 1000);
        assert_eq!(accounts[5].lineno, 6);
        assert_eq!(uid0(&accounts).len(), 1);
    }

    #[test]
    fn skips_comments_nis_and_bad_ids_like_glibc() {
        let text = "# comment\n\n  toor:x:0:0::/root:/bin/sh\n+::0:0:::\n-bob:::::: \nbad:x:abc:0::/:/bin/sh\nempty:x::0::/:/bin/sh\nshort:x:5\n";
        let accounts = parse(text);
        let names: Vec<_> = accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["toor"]);
        assert_eq!(accounts[0].lineno, 3);
    }

    #[test]
    fn regression_skipped_lines_are_listed_by_number_only() {
        let text = "root:x:0:0:root:/root:/bin/bash\n+::0:0:::\n-bob::::::\n# c\n\nbad:x:abc:0::/:/bin/sh\nshort:x:5\nnoname\n:x:0:0::/:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/bash\n";
        let p = parse_all(text);
        let names: Vec<_> = p.accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["root", "alice"]);
        assert_eq!(p.skipped, [2, 3, 6, 7, 8, 9]);
        let h = FakeHost::linux().files(&[("/etc/passwd", text)]);
        let r = h.run(&Uid0OnlyRoot);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(
            r.facts["skipped_lines"],
            serde_json::json!([2, 3, 6, 7, 8, 9])
        );
        assert!(!json(&r).contains("abc"));
    }

    #[test]
    fn uid_wraps_to_32_bits_as_glibc_stores_it() {
        let accounts = parse("sneaky:x:4294967296:0::/:/bin/sh\nplus:x:+0:0::/:/bin/sh\n");
        assert_eq!(accounts[0].uid, 0);
        assert_eq!(accounts[1].uid, 0);
        assert_eq!(id_field("12 "), None);
    }

    #[test]
    fn check_passes_with_root_only_and_fails_with_others() {
        let h = FakeHost::linux().files(&[("/etc/passwd", DEBIAN_PASSWD)]);
        let r = h.run(&Uid0OnlyRoot);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["uid0_accounts"], serde_json::json!(["root"]));

        let text = format!("{DEBIAN_PASSWD}toor:$6$abc$hashhash:0:0::/root:/bin/sh\n");
        let h = FakeHost::linux().files(&[("/etc/passwd", &text)]);
        let r = h.run(&Uid0OnlyRoot);
        assert_eq!(r.status, Status::Fail);
        assert!(r.summary.contains("toor"), "{}", r.summary);
        assert_eq!(r.facts["other_uid0_accounts"], serde_json::json!(["toor"]));
        // The password field of passwd never reaches the result.
        assert!(!json(&r).contains("$6$abc"));
        assert!(json(&r).contains("7: toor uid=0 gid=0"));
    }

    #[test]
    fn missing_passwd_is_unknown() {
        let h = FakeHost::linux().files(&[]);
        let r = h.run(&Uid0OnlyRoot);
        assert_eq!(r.status, Status::Unknown);
        assert_eq!(r.reason.as_deref(), Some("/etc/passwd: not found"));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = parse(&s);
        }

        #[test]
        fn parse_never_panics_on_colon_soup(s in "[a-z0-9:+# \n-]{0,200}") {
            for a in parse(&s) {
                prop_assert!(!a.name.is_empty());
            }
        }
    }
}
