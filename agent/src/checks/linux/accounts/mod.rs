//! Accounts and authentication checks (`checks.md`, "Accounts and authentication";
//! ISO/IEC 27002:2022 5.15, 5.16, 5.17, 5.18, 8.2, 8.5).
//!
//! Each host file has its own parser module (text → value, tested on text):
//! [`passwd`], [`group`], [`shadow`], [`login_defs`], [`pam`], [`pwquality`],
//! [`faillock`], [`sshd`] (with [`glob`] for `Include`), [`sudoers`], and the
//! display managers' files in [`autologin`]. Files that pull in other files (PAM
//! stacks, `sshd_config`, sudoers) are read through the [`Host`] like every file;
//! their tests give it the in-memory fake (`crate::host::fake::FakeHost`).
//!
//! Secrets: the shadow parser returns an account's name and the *kind* of its
//! password field (`empty`, `locked`, `hash`), never the field; no value that
//! leaves it holds a hash. Evidence for `/etc/shadow` lists `name:kind`.

pub mod autologin;
pub mod faillock;
pub mod glob;
pub mod group;
pub mod login_defs;
pub mod pam;
pub mod passwd;
pub mod privileged;
pub mod pwquality;
pub mod shadow;
pub mod sshd;
pub mod sudoers;

use attest_proto::Evidence;

use super::Check;
use crate::host::{Host, ReadError};

/// The accounts checks, in report order.
pub fn checks() -> Vec<Box<dyn Check>> {
    vec![
        Box::new(shadow::NoEmptyPasswords),
        Box::new(passwd::Uid0OnlyRoot),
        Box::new(login_defs::PasswordMaxAge),
        Box::new(pwquality::PasswordMinLength),
        Box::new(faillock::Lockout),
        Box::new(sshd::SshRootLogin),
        Box::new(sshd::SshPasswordAuth),
        Box::new(sudoers::SudoNopasswd),
        Box::new(privileged::PrivilegedUsers),
        Box::new(autologin::AutoLoginDisabled),
    ]
}

/// A file that was read: its host path and the SHA-256 of its bytes, for evidence.
/// The bytes themselves are not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRead {
    pub path: String,
    pub sha256: String,
}

impl FileRead {
    pub fn new(path: &str, bytes: &[u8]) -> Self {
        FileRead {
            path: path.to_owned(),
            sha256: super::sha256(bytes),
        }
    }

    /// File evidence for this file with the given deciding lines.
    pub fn evidence(&self, excerpt: impl Into<String>) -> Evidence {
        Evidence::File {
            path: self.path.clone(),
            excerpt: excerpt.into(),
            sha256: self.sha256.clone(),
        }
    }
}

/// A parsed file: what was read and the value parsed from it.
#[derive(Debug)]
pub struct Parsed<T> {
    pub file: FileRead,
    pub value: T,
}

/// Reads `path` and parses it as text (invalid UTF-8 replaced). The bytes are
/// dropped once parsed and hashed.
pub fn load<T>(
    src: &Host,
    path: &str,
    parse: impl FnOnce(&str) -> T,
) -> Result<Parsed<T>, ReadError> {
    let bytes = src.read(path)?;
    let file = FileRead::new(path, &bytes);
    let value = parse(&String::from_utf8_lossy(&bytes));
    Ok(Parsed { file, value })
}

/// One excerpt line: `LINE: text`.
pub fn numbered(lineno: usize, text: &str) -> String {
    format!("{lineno}: {text}")
}

/// Joins a host directory and a name, or returns `name` when it is absolute.
pub fn resolve_relative(dir: &str, name: &str) -> String {
    if name.starts_with('/') {
        name.to_owned()
    } else {
        crate::host::join_path(dir, name)
    }
}

/// The directory part of a host path (`/etc/sudoers.d/x` → `/etc/sudoers.d`).
pub fn parent_dir(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => path.get(..i).unwrap_or("/"),
        None => ".",
    }
}

/// C's `isspace` in the C locale.
pub(crate) fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{0b}' | '\u{0c}')
}

/// Skips white space and at most one `=` (none when `seen_eq`), as the
/// `name = value` readers of libpwquality and pam_faillock do.
pub(crate) fn skip_eq(mut value: &str, mut seen_eq: bool) -> &str {
    while let Some(c) = value.chars().next() {
        if c == '=' && !seen_eq {
            seen_eq = true;
        } else if !is_c_space(c) {
            break;
        }
        value = value.get(c.len_utf8()..).unwrap_or("");
    }
    value
}

/// glibc's `strtoul(s, &end, 10)`: leading white space, an optional sign, then at
/// least one digit; overflow saturates (`ULONG_MAX`) and a `-` negates modulo
/// 2^64. Returns the value and the unparsed rest, or `None` without digits.
pub(crate) fn c_strtoul(s: &str) -> Option<(u64, &str)> {
    let t = s.trim_start_matches(is_c_space);
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, t.get(1..).unwrap_or("")),
        Some(b'+') => (false, t.get(1..).unwrap_or("")),
        _ => (false, t),
    };
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let mut value: u64 = 0;
    let mut overflow = false;
    for b in t.bytes().take(digits) {
        match value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
        {
            Some(v) => value = v,
            None => overflow = true,
        }
    }
    if overflow {
        value = u64::MAX;
    } else if negative {
        value = value.wrapping_neg();
    }
    Some((value, t.get(digits..).unwrap_or("")))
}

/// C's `atoi`: the leading integer of `s`, 0 when there is none.
pub(crate) fn c_atoi(s: &str) -> i64 {
    let t = s.trim_start_matches(is_c_space);
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, t.get(1..).unwrap_or("")),
        Some(b'+') => (false, t.get(1..).unwrap_or("")),
        _ => (false, t),
    };
    let mut value: i64 = 0;
    for b in t.bytes().take_while(u8::is_ascii_digit) {
        value = value.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if negative { -value } else { value }
}

/// A strict decimal integer as `strtol(s, &end, 10)` with `*end == '\0'` checks it:
/// optional leading white space and sign, digits, nothing after.
pub(crate) fn c_strict_long(s: &str) -> Option<i64> {
    let t = s.trim_start_matches(is_c_space);
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, t.get(1..).unwrap_or("")),
        Some(b'+') => (false, t.get(1..).unwrap_or("")),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i64 = digits.parse().ok()?;
    Some(if negative { -value } else { value })
}

/// `strtol(s, &end, 0)` as shadow-utils' `getlong` uses it: leading white space
/// and a sign, then `0x`/`0X` and hex digits, or `0` and octal digits, or decimal
/// digits; the whole string consumed. `None` for an empty string, trailing
/// characters (`90 # days`, `08`, `0x`) or a value outside a C `long` (ERANGE).
pub(crate) fn c_strtol0(s: &str) -> Option<i64> {
    let t = s.trim_start_matches(is_c_space);
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, t.get(1..).unwrap_or("")),
        Some(b'+') => (false, t.get(1..).unwrap_or("")),
        _ => (false, t),
    };
    let hex = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .filter(|h| h.bytes().next().is_some_and(|b| b.is_ascii_hexdigit()));
    let (radix, digits) = match hex {
        Some(h) => (16, h),
        None if t.len() > 1 && t.starts_with('0') => (8, t.get(1..).unwrap_or("")),
        None => (10, t),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from(u64::from_str_radix(digits, radix).ok()?);
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

#[cfg(test)]
pub(crate) mod testutil {
    //! What the accounts tests share besides the fake host
    //! ([`crate::host::fake::FakeHost`]).

    /// The serialized result, for "never contains" assertions.
    pub fn json(result: &attest_proto::CheckResult) -> String {
        serde_json::to_string(result).unwrap()
    }

    pub const DEBIAN_OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";
    pub const RHEL_OS_RELEASE: &str = "NAME=\"Red Hat Enterprise Linux\"\nVERSION=\"9.4 (Plow)\"\nID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"9.4\"\nPRETTY_NAME=\"Red Hat Enterprise Linux 9.4 (Plow)\"\n";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtoul_follows_glibc() {
        assert_eq!(c_strtoul("  42:x"), Some((42, ":x")));
        assert_eq!(c_strtoul("+7"), Some((7, "")));
        assert_eq!(c_strtoul("-1"), Some((u64::MAX, "")));
        assert_eq!(c_strtoul("99999999999999999999999"), Some((u64::MAX, "")));
        assert_eq!(c_strtoul("x1"), None);
        assert_eq!(c_strtoul(""), None);
    }

    #[test]
    fn atoi_and_strict_long() {
        assert_eq!(c_atoi("12abc"), 12);
        assert_eq!(c_atoi("abc"), 0);
        assert_eq!(c_atoi(" -3"), -3);
        assert_eq!(c_strict_long("14"), Some(14));
        assert_eq!(c_strict_long("-1"), Some(-1));
        assert_eq!(c_strict_long("14 "), None);
        assert_eq!(c_strict_long(""), None);
        assert_eq!(c_strict_long("1x"), None);
    }

    #[test]
    fn strtol_base_0_follows_glibc() {
        assert_eq!(c_strtol0("365"), Some(365));
        assert_eq!(c_strtol0("0400"), Some(256));
        assert_eq!(c_strtol0("0x16D"), Some(365));
        assert_eq!(c_strtol0("0X16d"), Some(365));
        assert_eq!(c_strtol0("0"), Some(0));
        assert_eq!(c_strtol0("00"), Some(0));
        assert_eq!(c_strtol0("-1"), Some(-1));
        assert_eq!(c_strtol0("-0x10"), Some(-16));
        assert_eq!(c_strtol0(" +90"), Some(90));
        assert_eq!(c_strtol0("9223372036854775807"), Some(i64::MAX));
        assert_eq!(c_strtol0("-9223372036854775808"), Some(i64::MIN));
        for garbage in [
            "",
            " ",
            "-",
            "90 # days",
            "90 ",
            "08",
            "0x",
            "0xg",
            "1e3",
            "12abc",
            "9223372036854775808",
            "0x 1",
            "--1",
        ] {
            assert_eq!(c_strtol0(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn paths() {
        assert_eq!(parent_dir("/etc/sudoers"), "/etc");
        assert_eq!(parent_dir("/sudoers"), "/");
        assert_eq!(resolve_relative("/etc", "x"), "/etc/x");
        assert_eq!(resolve_relative("/etc", "/y"), "/y");
    }

    #[test]
    fn the_checks_are_listed_in_order() {
        let ids: Vec<_> = checks().iter().map(|c| c.id()).collect();
        assert_eq!(
            ids,
            [
                "accounts.no_empty_passwords",
                "accounts.uid0_only_root",
                "accounts.password_max_age",
                "accounts.password_min_length",
                "accounts.lockout",
                "accounts.ssh_root_login",
                "accounts.ssh_password_auth",
                "accounts.sudo_nopasswd",
                "accounts.privileged_users",
                "accounts.auto_login_disabled",
            ]
        );
    }
}
