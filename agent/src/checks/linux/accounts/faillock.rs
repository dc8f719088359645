//! Account lockout after failed logins (`pam_faillock`, `pam_tally2`) and
//! `accounts.lockout`.
//!
//! How a `pam_faillock.so` line of the auth stack is read, as pam_faillock's
//! `args_parse` reads it:
//!
//! - its mode is the last of `preauth`, `authfail`, `authsucc` among its
//!   arguments, and `preauth` when there is none (the module's default);
//! - its `deny` starts at 3, is replaced by `deny` from the configuration file
//!   (`conf=FILE` when given, else `/etc/security/faillock.conf`, else the vendor
//!   file `/usr/etc/security/faillock.conf`), then by `deny=` arguments on the
//!   line, later ones winning. Values are read as `sscanf("%hu")` reads them
//!   (leading number, 16 bits); a value that does not parse is ignored.
//!
//! The configuration file is `name = value` or `name value` lines, `#` starting a
//! comment; lines of 1023 bytes or more are skipped; the last valid `deny` wins.
//!
//! **Which deny decides** (`checks.md` clarification 1.1). With preauth deny `P`
//! and authfail deny `A`, pam_faillock stops *recording* failures once the tally
//! reaches `A` (its authfail path checks the tally first), and only the preauth
//! line refuses a locked account. So accounts lock iff `1 ≤ P` and (`A = 0` or
//! `A ≥ P`), at `P` failures; the check passes iff that holds and `P` is at most
//! the threshold (`P=5, A=4` never locks; `P=3, A=12` locks at 3). Where a stack
//! has several preauth or authfail lines, the first of each mode in stack order
//! (includes followed) decides; the others are not read.
//!
//! **pam_tally2** has no configuration file; its `deny=` comes from the line and
//! its default is 0 (never lock), so a `pam_tally2.so` line without `deny=` fails.
//! An unparsable `deny=` makes pam_tally2 fail every call; it counts as 0 here.

use std::collections::BTreeMap;

use attest_proto::{CheckResult, Status};
use serde_json::json;

use super::pam::{self, Stack, StackLine};
use super::pwquality::{EvidenceSet, stacks_problem};
use super::{FileRead, c_strtoul, numbered};
use crate::checks::{Check, Context, unknown};
use crate::host::{Host, ReadError};

pub const FAILLOCK_CONF: &str = "/etc/security/faillock.conf";
/// Where pam_faillock looks when `/etc/security/faillock.conf` does not exist
/// (built with a vendor directory).
pub const FAILLOCK_VENDOR_CONF: &str = "/usr/etc/security/faillock.conf";
pub const FAILLOCK_DEFAULT_DENY: u16 = 3;
pub const TALLY2_DEFAULT_DENY: u16 = 0;

/// `sscanf(s, "%hu")`: the leading number of `s` (white space and a sign
/// allowed), truncated to 16 bits; `None` without digits.
pub fn scan_hu(s: &str) -> Option<u16> {
    c_strtoul(s).map(|(v, _)| v as u16)
}

/// A `deny` set in a faillock configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfDeny {
    pub value: u16,
    pub lineno: usize,
    pub text: String,
}

/// Parses a faillock.conf: the last valid `deny`, if any.
pub fn parse_conf(text: &str) -> Option<ConfDeny> {
    let mut deny = None;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let content = raw.strip_suffix('\n').unwrap_or(raw);
        if content.len() >= 1023 {
            continue;
        }
        let line = content.split('#').next().unwrap_or("");
        let line = line.trim_matches(super::is_c_space);
        if line.is_empty() {
            continue;
        }
        let end = line
            .find(|c: char| super::is_c_space(c) || c == '=')
            .unwrap_or(line.len());
        let name = line.get(..end).unwrap_or("");
        let rest = line.get(end..).unwrap_or("");
        let value = match rest.strip_prefix('=') {
            Some(after) => super::skip_eq(after, true),
            None => super::skip_eq(rest.get(1..).unwrap_or(""), false),
        };
        if name == "deny"
            && let Some(v) = scan_hu(value)
        {
            deny = Some(ConfDeny {
                value: v,
                lineno: i + 1,
                text: content.trim_end_matches('\r').to_owned(),
            });
        }
    }
    deny
}

/// pam_faillock's mode for a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Preauth,
    Authfail,
    Authsucc,
}

/// What a `pam_faillock.so` line says, before the configuration file is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaillockArgs {
    pub mode: Mode,
    /// `conf=FILE`, the last one.
    pub conf: Option<String>,
    /// The last `deny=` that parses.
    pub deny: Option<u16>,
}

/// Reads a pam_faillock line's arguments as `args_parse` does.
pub fn faillock_args(args: &[String]) -> FaillockArgs {
    let conf_index = args.iter().rposition(|a| a.starts_with("conf="));
    let conf = conf_index
        .and_then(|i| args.get(i))
        .and_then(|a| a.strip_prefix("conf="))
        .map(str::to_owned);
    let mut mode = Mode::Preauth;
    let mut deny = None;
    for (i, arg) in args.iter().enumerate() {
        if Some(i) == conf_index {
            continue;
        }
        match arg.as_str() {
            "preauth" => mode = Mode::Preauth,
            "authfail" => mode = Mode::Authfail,
            "authsucc" => mode = Mode::Authsucc,
            _ => {
                let (name, value) = arg.split_once('=').unwrap_or((arg.as_str(), ""));
                if name == "deny"
                    && let Some(v) = scan_hu(value)
                {
                    deny = Some(v);
                }
            }
        }
    }
    FaillockArgs { mode, conf, deny }
}

/// The `deny=` of a pam_tally2 line: default 0; an unparsable value counts as 0.
pub fn tally2_deny(args: &[String]) -> u16 {
    let mut deny = TALLY2_DEFAULT_DENY;
    for arg in args {
        if let Some(v) = arg.strip_prefix("deny=") {
            deny = scan_hu(v).unwrap_or(0);
        }
    }
    deny
}

/// The effective `deny` of one line and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deny {
    pub value: u16,
    pub source: String,
    /// The configuration line that set it, when one did.
    pub conf: Option<(FileRead, ConfDeny)>,
}

/// A configuration file read (or not there), or why it cannot be used.
type ConfResult = Result<Option<(FileRead, Option<ConfDeny>)>, String>;

/// Reads faillock configuration files, each once.
struct ConfReader<'a> {
    src: &'a Host,
    cache: BTreeMap<String, ConfResult>,
}

impl<'a> ConfReader<'a> {
    fn new(src: &'a Host) -> Self {
        ConfReader {
            src,
            cache: BTreeMap::new(),
        }
    }

    fn read_one(&self, path: &str) -> Result<Option<(FileRead, Option<ConfDeny>)>, ReadError> {
        match self.src.read(path) {
            Ok(bytes) => {
                let file = FileRead::new(path, &bytes);
                Ok(Some((file, parse_conf(&String::from_utf8_lossy(&bytes)))))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The configuration for `conf=` (or the default): `Ok(None)` when the
    /// default files do not exist; `Err` when pam_faillock would fail (an
    /// explicit file that is missing) or this agent cannot read the file.
    fn get(
        &mut self,
        explicit: Option<&str>,
    ) -> Result<Option<(FileRead, Option<ConfDeny>)>, String> {
        let key = explicit.unwrap_or("").to_owned();
        if let Some(found) = self.cache.get(&key) {
            return found.clone();
        }
        let result = match explicit {
            Some(path) => match self.read_one(path) {
                Ok(Some(found)) => Ok(Some(found)),
                Ok(None) => Err(format!(
                    "pam_faillock conf={path}: not found (pam_faillock fails on every call)"
                )),
                Err(e) => Err(e.to_string()),
            },
            None => match self.read_one(FAILLOCK_CONF) {
                Ok(None) => self
                    .read_one(FAILLOCK_VENDOR_CONF)
                    .map_err(|e| e.to_string()),
                other => other.map_err(|e| e.to_string()),
            },
        };
        self.cache.insert(key, result.clone());
        result
    }
}

/// The effective deny of a pam_faillock line.
fn faillock_deny(
    line: &StackLine,
    args: &FaillockArgs,
    conf: &mut ConfReader<'_>,
) -> Result<Deny, String> {
    // An explicit conf= that is missing breaks the module whatever deny= says.
    let needs_conf = args.deny.is_none() || args.conf.is_some();
    let from_conf = if needs_conf {
        conf.get(args.conf.as_deref())?
    } else {
        None
    };
    if let Some(v) = args.deny {
        return Ok(Deny {
            value: v,
            source: format!("deny={v} on {}:{}", line.file, line.line.lineno),
            conf: None,
        });
    }
    match from_conf {
        Some((file, Some(d))) => Ok(Deny {
            value: d.value,
            source: format!("deny in {}:{}", file.path, d.lineno),
            conf: Some((file, d)),
        }),
        _ => Ok(Deny {
            value: FAILLOCK_DEFAULT_DENY,
            source: format!("pam_faillock default {FAILLOCK_DEFAULT_DENY}"),
            conf: None,
        }),
    }
}

/// The weaker of several deny values: 0 (never lock) if any is 0, else the
/// largest.
pub fn weakest(values: impl IntoIterator<Item = u16>) -> Option<u16> {
    let mut out: Option<u16> = None;
    for v in values {
        out = Some(match out {
            None => v,
            Some(0) => 0,
            Some(_) if v == 0 => 0,
            Some(o) => o.max(v),
        });
    }
    out
}

/// The lockout verdict for one auth stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackLockout {
    pub root: String,
    pub preauth: Vec<(StackLine, Deny)>,
    pub authfail: Vec<(StackLine, Deny)>,
    pub tally2: Vec<(StackLine, u16)>,
    /// `pam_faillock`, `pam_tally2` or `none`: the mechanism judged.
    pub mechanism: &'static str,
    /// The deciding deny, when a mechanism is complete.
    pub deny: Option<u16>,
    pub deny_source: Option<String>,
    pub ok: bool,
    /// Why it fails, or what passes, in words.
    pub reason: String,
}

/// Evaluates one auth stack against the largest allowed deny.
pub fn evaluate(stack: &Stack, src: &Host, max_deny: u16) -> Result<StackLockout, String> {
    let mut conf = ConfReader::new(src);
    let mut preauth = Vec::new();
    let mut authfail = Vec::new();
    // The first line of each mode in stack order decides.
    for line in stack.module_lines("pam_faillock.so") {
        let args = faillock_args(&line.line.args);
        match args.mode {
            Mode::Preauth if preauth.is_empty() => {
                preauth.push((line.clone(), faillock_deny(line, &args, &mut conf)?));
            }
            Mode::Authfail if authfail.is_empty() => {
                authfail.push((line.clone(), faillock_deny(line, &args, &mut conf)?));
            }
            _ => {}
        }
    }
    let tally2: Vec<(StackLine, u16)> = stack
        .module_lines("pam_tally2.so")
        .map(|l| (l.clone(), tally2_deny(&l.line.args)))
        .collect();

    let in_range = |d: u16| (1..=max_deny).contains(&d);
    let judge = |d: u16| {
        if d == 0 {
            "deny=0 never locks".to_owned()
        } else if d > max_deny {
            format!("deny={d} is above {max_deny}")
        } else {
            format!("deny={d}")
        }
    };
    let mut out = StackLockout {
        root: stack.root.clone(),
        preauth,
        authfail,
        tally2,
        mechanism: "none",
        deny: None,
        deny_source: None,
        ok: false,
        reason: String::new(),
    };
    let mut reasons = Vec::new();
    if let (Some((_, p)), Some((_, a))) = (out.preauth.first(), out.authfail.first()) {
        let (p, a) = (p.clone(), a.clone());
        out.mechanism = "pam_faillock";
        out.deny = Some(p.value);
        out.deny_source = Some(p.source.clone());
        if p.value != 0 && a.value != 0 && a.value < p.value {
            out.ok = false;
            reasons.push(format!(
                "pam_faillock authfail deny={} ({}) stops counting failures before preauth deny={} ({}) is reached: accounts never lock",
                a.value, a.source, p.value, p.source
            ));
        } else {
            out.ok = in_range(p.value);
            reasons.push(format!(
                "pam_faillock preauth and authfail, {} ({}; authfail deny={})",
                judge(p.value),
                p.source,
                a.value
            ));
        }
    } else if !out.preauth.is_empty() {
        reasons.push("pam_faillock only as preauth: no failure is counted".to_owned());
    } else if !out.authfail.is_empty() {
        reasons.push("pam_faillock only as authfail: no lock is enforced".to_owned());
    }
    if !out.ok && !out.tally2.is_empty() {
        let deny = weakest(out.tally2.iter().map(|(_, d)| *d)).unwrap_or(0);
        let source = out
            .tally2
            .iter()
            .find(|(_, d)| *d == deny)
            .map(|(l, _)| {
                if l.line.args.iter().any(|a| a.starts_with("deny=")) {
                    format!("deny= on {}:{}", l.file, l.line.lineno)
                } else {
                    format!("pam_tally2 default {TALLY2_DEFAULT_DENY}")
                }
            })
            .unwrap_or_default();
        if in_range(deny) || out.mechanism == "none" {
            out.mechanism = "pam_tally2";
            out.deny = Some(deny);
            out.deny_source = Some(source.clone());
            out.ok = in_range(deny);
        }
        reasons.push(format!("pam_tally2, {} ({source})", judge(deny)));
    }
    if reasons.is_empty() {
        reasons.push("no pam_faillock.so or pam_tally2.so in the auth stack".to_owned());
    }
    out.reason = reasons.join("; ");
    Ok(out)
}

/// `accounts.lockout`: failed logins are counted and lock the account.
///
/// Passes when, in every auth stack, `pam_faillock.so` appears both as
/// `preauth` and as `authfail` (or `pam_tally2.so` appears) with an effective
/// deny from 1 to the threshold (see the module doc for how deny is found and
/// which line's deny decides). Fails when absent, when only one of the two
/// faillock lines is there, on deny=0, or above the threshold. Where two stacks
/// exist (RPM family), both must pass: the weaker decides. Unknown when no PAM
/// auth stack is found or a deciding file cannot be read.
pub struct Lockout;

impl Check for Lockout {
    fn id(&self) -> &'static str {
        "accounts.lockout"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let max_deny = ctx.thresholds.lockout_max_deny;
        let max_deny16 = u16::try_from(max_deny).unwrap_or(u16::MAX);
        let memo = pam::auth_stacks(ctx);
        let stacks = &memo.0;
        if let Some(why) = stacks_problem(stacks) {
            return unknown(self.id(), why).fact("threshold", max_deny);
        }
        let mut results = Vec::new();
        for stack in stacks.stacks.iter().flatten() {
            match evaluate(stack, ctx.host, max_deny16) {
                Ok(r) => results.push((stack, r)),
                Err(why) => return unknown(self.id(), why).fact("threshold", max_deny),
            }
        }

        let mut evidence = EvidenceSet::default();
        let mut per_stack = Vec::new();
        for (stack, r) in &results {
            let mut any = false;
            for (line, deny) in r.preauth.iter().chain(r.authfail.iter()) {
                evidence.add_stack_line(stack, line);
                if let Some((file, d)) = &deny.conf {
                    evidence.add(file, numbered(d.lineno, &d.text));
                }
                any = true;
            }
            for (line, _) in &r.tally2 {
                evidence.add_stack_line(stack, line);
                any = true;
            }
            if !any && let Some(root) = stack.file(&stack.root) {
                evidence.add(
                    root,
                    "(no pam_faillock.so or pam_tally2.so auth line)".to_owned(),
                );
            }
            per_stack.push(json!({
                "file": r.root,
                "mechanism": r.mechanism,
                "preauth": !r.preauth.is_empty(),
                "authfail": !r.authfail.is_empty(),
                "deny": r.deny,
                "deny_source": r.deny_source,
                "ok": r.ok,
                "reason": r.reason,
                "notes": stack.notes,
            }));
        }
        let failing: Vec<&StackLockout> =
            results.iter().map(|(_, r)| r).filter(|r| !r.ok).collect();
        let (status, summary) = match failing.first() {
            None => (
                Status::Pass,
                format!(
                    "Failed logins lock the account: {}",
                    results
                        .iter()
                        .map(|(_, r)| format!("{} in {}", r.reason, r.root))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            ),
            Some(_) => (
                Status::Fail,
                format!(
                    "Failed logins do not lock the account: {}",
                    failing
                        .iter()
                        .map(|r| format!("{}: {}", r.root, r.reason))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            ),
        };
        let deciding = failing
            .first()
            .map(|r| r.deny)
            .unwrap_or_else(|| weakest(results.iter().filter_map(|(_, r)| r.deny)));
        CheckResult::new(self.id(), status, summary)
            .fact("threshold", max_deny)
            .fact("deny", deciding)
            .fact("stacks", per_stack)
            .evidences(evidence.into_evidence())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Thresholds;
    use crate::checks::linux::accounts::pam::tests::{DEBIAN_COMMON_AUTH, RHEL9_SYSTEM_AUTH};
    use crate::checks::linux::accounts::pam::{Kind, load_stack};
    use crate::checks::linux::accounts::testutil::{DEBIAN_OS_RELEASE, RHEL_OS_RELEASE};
    use crate::host::fake::FakeHost;
    use attest_proto::Evidence;
    use proptest::prelude::*;

    /// Debian 12's faillock.conf (everything commented out), abridged.
    const DEBIAN_FAILLOCK_CONF: &str = "# Configuration for locking the user after multiple failed
# authentication attempts.
#
# The directory where the user files with the failure records are kept.
# The default is /var/run/faillock.
# dir = /var/run/faillock
#
# Deny access if the number of consecutive authentication failures
# for this user during the recent interval exceeds n tries.
# The default is 3.
# deny = 3
#
# The length of the interval during which the consecutive
# authentication failures must happen for the user account
# lock out is <replaceable>n</replaceable> seconds.
# The default is 900 (15 minutes).
# fail_interval = 900
";

    /// common-auth with faillock as pam_faillock(8) shows it for Debian.
    const DEBIAN_COMMON_AUTH_FAILLOCK: &str = "auth\trequisite\t\t\tpam_faillock.so preauth
auth\t[success=1 default=ignore]\tpam_unix.so nullok
auth\t[default=die]\t\t\tpam_faillock.so authfail
auth\tsufficient\t\t\tpam_faillock.so authsucc
auth\trequisite\t\t\tpam_deny.so
auth\trequired\t\t\tpam_permit.so
";

    fn eval(stack_text: &str, extra: &[(&str, &str)], max: u16) -> StackLockout {
        let mut files = vec![("/etc/pam.d/common-auth", stack_text)];
        files.extend_from_slice(extra);
        let src = FakeHost::linux().files(&files).host();
        let stack = load_stack(&src, "/etc/pam.d/common-auth", Kind::Auth).unwrap();
        evaluate(&stack, &src, max).unwrap()
    }

    #[test]
    fn scan_hu_is_sscanf() {
        assert_eq!(scan_hu("5"), Some(5));
        assert_eq!(scan_hu(" 7x"), Some(7));
        assert_eq!(scan_hu("-1"), Some(65535));
        assert_eq!(scan_hu("65536"), Some(0));
        assert_eq!(scan_hu("abc"), None);
    }

    #[test]
    fn conf_last_deny_wins_and_comments() {
        assert_eq!(parse_conf(DEBIAN_FAILLOCK_CONF), None);
        let d = parse_conf("deny = 4\ndeny=6 # six\n  deny\t8\ndeny = x\n").unwrap();
        assert_eq!((d.value, d.lineno), (8, 3));
        let long = format!("deny = 2\ndeny = 9{}\n", " ".repeat(1100));
        assert_eq!(parse_conf(&long).unwrap().value, 2);
    }

    #[test]
    fn args_mode_default_and_conf() {
        let a = faillock_args(&["silent".into(), "deny=5".into(), "deny=bad".into()]);
        assert_eq!(a.mode, Mode::Preauth);
        assert_eq!(a.deny, Some(5));
        let a = faillock_args(&[
            "preauth".into(),
            "authfail".into(),
            "conf=/etc/x.conf".into(),
        ]);
        assert_eq!(a.mode, Mode::Authfail);
        assert_eq!(a.conf.as_deref(), Some("/etc/x.conf"));
        assert_eq!(tally2_deny(&[]), 0);
        assert_eq!(tally2_deny(&["deny=5".into(), "onerr=fail".into()]), 5);
    }

    #[test]
    fn weakest_deny() {
        assert_eq!(weakest([3, 5]), Some(5));
        assert_eq!(weakest([3, 0, 5]), Some(0));
        assert_eq!(weakest([]), None);
    }

    #[test]
    fn debian_default_has_no_lockout() {
        let r = eval(DEBIAN_COMMON_AUTH, &[], 10);
        assert!(!r.ok);
        assert_eq!(r.mechanism, "none");
        assert_eq!(
            r.reason,
            "no pam_faillock.so or pam_tally2.so in the auth stack"
        );
    }

    #[test]
    fn faillock_with_default_deny_passes() {
        let r = eval(
            DEBIAN_COMMON_AUTH_FAILLOCK,
            &[("/etc/security/faillock.conf", DEBIAN_FAILLOCK_CONF)],
            10,
        );
        assert!(r.ok, "{r:?}");
        assert_eq!(r.deny, Some(3));
        assert_eq!(r.deny_source.as_deref(), Some("pam_faillock default 3"));
    }

    #[test]
    fn line_deny_wins_over_conf() {
        let text = DEBIAN_COMMON_AUTH_FAILLOCK
            .replace("pam_faillock.so preauth", "pam_faillock.so preauth deny=4");
        let r = eval(&text, &[("/etc/security/faillock.conf", "deny = 20\n")], 10);
        // preauth has deny=4 from its line; authfail gets 20 from the file and
        // keeps counting past 4: accounts lock at 4.
        assert_eq!(r.deny, Some(4));
        assert!(r.ok, "{r:?}");
        assert_eq!(r.preauth[0].1.value, 4);
        assert_eq!(
            r.authfail[0].1.source,
            "deny in /etc/security/faillock.conf:1"
        );
    }

    #[test]
    fn deny_zero_and_above_threshold_fail() {
        let r = eval(
            DEBIAN_COMMON_AUTH_FAILLOCK,
            &[("/etc/security/faillock.conf", "deny = 0\n")],
            10,
        );
        assert!(!r.ok);
        assert!(r.reason.contains("deny=0 never locks"), "{}", r.reason);
        let r = eval(
            DEBIAN_COMMON_AUTH_FAILLOCK,
            &[("/etc/security/faillock.conf", "deny=11\n")],
            10,
        );
        assert!(!r.ok);
        assert!(r.reason.contains("deny=11 is above 10"), "{}", r.reason);
        let r = eval(
            DEBIAN_COMMON_AUTH_FAILLOCK,
            &[("/etc/security/faillock.conf", "deny=10\n")],
            10,
        );
        assert!(r.ok);
    }

    /// common-auth with the given faillock lines around pam_unix.
    fn stack_with(preauth: &str, authfail: &str) -> String {
        format!(
            "auth requisite pam_faillock.so preauth {preauth}\nauth [success=1 default=ignore] pam_unix.so nullok\nauth [default=die] pam_faillock.so authfail {authfail}\nauth requisite pam_deny.so\nauth required pam_permit.so\n"
        )
    }

    #[test]
    fn regression_effective_threshold_needs_authfail_to_count_up_to_preauth() {
        // checks.md clarification 1.1: lock iff 1 <= P and (A = 0 or A >= P).
        let cases: [(&str, &str, &str, bool, u16); 9] = [
            ("deny=5", "deny=4", "", false, 5),
            ("deny=3", "deny=12", "", true, 3),
            ("deny=4", "deny=4", "", true, 4),
            ("deny=5", "deny=0", "", true, 5),
            ("deny=0", "deny=5", "", false, 0),
            ("deny=11", "deny=12", "", false, 11),
            // From faillock.conf (4) for preauth; authfail's own 3 stops first.
            ("", "deny=3", "deny = 4\n", false, 4),
            // Both from the file.
            ("", "", "deny = 6\n", true, 6),
            // Default 3 for preauth, authfail 2: never locks.
            ("", "deny=2", "", false, 3),
        ];
        for (p, a, conf, ok, deny) in cases {
            let r = eval(
                &stack_with(p, a),
                &[("/etc/security/faillock.conf", conf)],
                10,
            );
            assert_eq!(
                (r.ok, r.deny),
                (ok, Some(deny)),
                "P {p:?} A {a:?} conf {conf:?}: {r:?}"
            );
        }
        let r = eval(&stack_with("deny=5", "deny=4"), &[], 10);
        assert!(r.reason.contains("never lock"), "{}", r.reason);
    }

    #[test]
    fn regression_first_line_of_each_mode_decides() {
        let text = "auth requisite pam_faillock.so preauth deny=4\nauth requisite pam_faillock.so preauth deny=50\nauth [success=1 default=ignore] pam_unix.so\nauth [default=die] pam_faillock.so authfail deny=4\nauth [default=die] pam_faillock.so authfail deny=1\n";
        let r = eval(text, &[], 10);
        assert!(r.ok, "{r:?}");
        assert_eq!(r.deny, Some(4));
        assert_eq!((r.preauth.len(), r.authfail.len()), (1, 1));
        // Order is stack order, includes followed.
        let r = eval(
            "auth include faillock-pre\nauth requisite pam_faillock.so preauth deny=2\nauth required pam_unix.so\nauth [default=die] pam_faillock.so authfail deny=9\n",
            &[(
                "/etc/pam.d/faillock-pre",
                "auth requisite pam_faillock.so preauth deny=8\n",
            )],
            10,
        );
        assert!(r.ok, "{r:?}");
        assert_eq!(r.deny, Some(8));
    }

    #[test]
    fn only_one_faillock_line_fails() {
        let r = eval(
            "auth required pam_faillock.so preauth\nauth required pam_unix.so\n",
            &[],
            10,
        );
        assert!(!r.ok);
        assert_eq!(
            r.reason,
            "pam_faillock only as preauth: no failure is counted"
        );
        let r = eval(
            "auth required pam_unix.so\nauth [default=die] pam_faillock.so authfail\n",
            &[],
            10,
        );
        assert!(!r.ok);
        assert_eq!(
            r.reason,
            "pam_faillock only as authfail: no lock is enforced"
        );
    }

    #[test]
    fn tally2() {
        let r = eval(
            "auth required pam_tally2.so onerr=fail deny=5\nauth required pam_unix.so\n",
            &[],
            10,
        );
        assert!(r.ok);
        assert_eq!(r.mechanism, "pam_tally2");
        let r = eval("auth required pam_tally2.so onerr=fail\n", &[], 10);
        assert!(!r.ok);
        assert_eq!(r.deny, Some(0));
        assert!(r.reason.contains("pam_tally2 default 0"), "{}", r.reason);
    }

    #[test]
    fn explicit_conf_and_vendor_conf() {
        let text = DEBIAN_COMMON_AUTH_FAILLOCK.replace(
            "pam_faillock.so authfail",
            "pam_faillock.so authfail conf=/etc/security/strict.conf",
        );
        let r = eval(
            &text,
            &[
                ("/etc/security/strict.conf", "deny = 2\n"),
                ("/usr/etc/security/faillock.conf", "deny = 7\n"),
            ],
            10,
        );
        assert_eq!(r.authfail[0].1.value, 2);
        assert_eq!(r.preauth[0].1.value, 7, "vendor file when /etc has none");
        assert_eq!(r.deny, Some(7));

        let src = FakeHost::linux()
            .files(&[("/etc/pam.d/common-auth", text.as_str())])
            .host();
        let stack = load_stack(&src, "/etc/pam.d/common-auth", Kind::Auth).unwrap();
        let err = evaluate(&stack, &src, 10).unwrap_err();
        assert!(
            err.contains("conf=/etc/security/strict.conf: not found"),
            "{err}"
        );
    }

    #[test]
    fn unreadable_conf_matters_only_without_line_deny() {
        let src = FakeHost::linux()
            .files(&[
                ("/etc/pam.d/common-auth", DEBIAN_COMMON_AUTH_FAILLOCK),
                ("/etc/security/faillock.conf", "deny = 4\n"),
            ])
            .deny("/etc/security/faillock.conf")
            .host();
        let stack = load_stack(&src, "/etc/pam.d/common-auth", Kind::Auth).unwrap();
        assert_eq!(
            evaluate(&stack, &src, 10).unwrap_err(),
            "/etc/security/faillock.conf: permission denied; run as root"
        );
        let text = DEBIAN_COMMON_AUTH_FAILLOCK
            .replace("preauth", "preauth deny=4")
            .replace("authfail", "authfail deny=4");
        let src = FakeHost::linux()
            .files(&[("/etc/pam.d/common-auth", text.as_str())])
            .deny("/etc/security/faillock.conf")
            .host();
        let stack = load_stack(&src, "/etc/pam.d/common-auth", Kind::Auth).unwrap();
        assert!(evaluate(&stack, &src, 10).unwrap().ok);
    }

    #[test]
    fn check_on_rhel9_authselect_with_faillock_passes() {
        let h = FakeHost::linux().files(&[
            ("/etc/os-release", RHEL_OS_RELEASE),
            ("/etc/pam.d/system-auth", RHEL9_SYSTEM_AUTH),
            ("/etc/pam.d/password-auth", RHEL9_SYSTEM_AUTH),
            ("/etc/security/faillock.conf", "# deny = 3\ndeny = 5\n"),
        ]);
        let r = h.run(&Lockout);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["deny"], 5);
        assert_eq!(r.facts["threshold"], 10);
        assert_eq!(r.facts["stacks"][1]["file"], "/etc/pam.d/password-auth");
        let excerpts: Vec<String> = r
            .evidence
            .iter()
            .map(|e| match e {
                Evidence::File { path, excerpt, .. } => format!("{path}\n{excerpt}"),
                Evidence::Command { .. } | Evidence::Api { .. } => String::new(),
            })
            .collect();
        assert!(
            excerpts
                .iter()
                .any(|e| e.contains("pam_faillock.so preauth silent"))
        );
        assert!(
            excerpts
                .iter()
                .any(|e| e.starts_with("/etc/security/faillock.conf\n2: deny = 5")),
            "{excerpts:?}"
        );
    }

    #[test]
    fn check_follows_authselect_symlinks_inside_the_root() {
        // RHEL: /etc/pam.d/system-auth -> /etc/authselect/system-auth (absolute).
        let mut h = FakeHost::linux().files(&[
            ("/etc/os-release", RHEL_OS_RELEASE),
            ("/etc/authselect/system-auth", RHEL9_SYSTEM_AUTH),
            (
                "/etc/authselect/password-auth",
                "auth required pam_env.so\nauth sufficient pam_unix.so\n",
            ),
        ]);
        for name in ["system-auth", "password-auth"] {
            h.add_link(
                &format!("/etc/pam.d/{name}"),
                &format!("/etc/authselect/{name}"),
            );
        }
        let r = h.run(&Lockout);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["stacks"][0]["ok"], true);
        assert_eq!(r.facts["stacks"][1]["ok"], false);
        assert!(
            r.summary
                .contains("/etc/pam.d/password-auth: no pam_faillock.so"),
            "{}",
            r.summary
        );
    }

    #[test]
    fn check_weaker_stack_decides() {
        let password_auth =
            RHEL9_SYSTEM_AUTH.replace("pam_faillock.so preauth", "pam_faillock.so preauth deny=0");
        let h = FakeHost::linux().files(&[
            ("/etc/os-release", RHEL_OS_RELEASE),
            ("/etc/pam.d/system-auth", RHEL9_SYSTEM_AUTH),
            ("/etc/pam.d/password-auth", &password_auth),
        ]);
        let r = h.run(&Lockout);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.summary.contains("/etc/pam.d/password-auth"),
            "{}",
            r.summary
        );
        assert!(
            !r.summary.contains("/etc/pam.d/system-auth:"),
            "{}",
            r.summary
        );
        assert_eq!(r.facts["deny"], 0);
    }

    #[test]
    fn check_debian_default_fails_and_missing_stack_is_unknown() {
        let t = Thresholds::default();
        let h = FakeHost::linux().files(&[
            ("/etc/os-release", DEBIAN_OS_RELEASE),
            ("/etc/pam.d/common-auth", DEBIAN_COMMON_AUTH),
        ]);
        let r = h.run_with(&Lockout, &t);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.summary,
            "Failed logins do not lock the account: /etc/pam.d/common-auth: no pam_faillock.so or pam_tally2.so in the auth stack"
        );
        let h = FakeHost::linux().files(&[("/etc/os-release", DEBIAN_OS_RELEASE)]);
        let r = h.run_with(&Lockout, &t);
        assert_eq!(r.status, Status::Unknown);
        assert_eq!(
            r.reason.as_deref(),
            Some("no PAM auth stack found (looked for /etc/pam.d/common-auth)")
        );
    }

    proptest! {
        #[test]
        fn parse_conf_never_panics(s in "\\PC*") {
            let _ = parse_conf(&s);
        }

        #[test]
        fn args_never_panic(args in proptest::collection::vec("\\PC{0,20}", 0..6)) {
            let _ = faillock_args(&args);
            let _ = tally2_deny(&args);
        }
    }
}
