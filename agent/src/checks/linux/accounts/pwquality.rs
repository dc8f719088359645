//! The effective minimum password length and `accounts.password_min_length`.
//!
//! `checks.md`: where `pam_pwquality.so` is in the password stack, its `minlen=`
//! argument, else `minlen` from libpwquality's configuration, else its default 8;
//! values below 6 count as 6. Otherwise `pam_unix.so`'s `minlen=` argument, else 6.
//!
//! How each source is read, as the code that reads it does:
//!
//! - **pam_pwquality arguments**: the first `pam_pwquality.so` line of the stack
//!   decides; `minlen=N` (name case-insensitive) must be a whole decimal number
//!   or pam_pwquality ignores it; a later `minlen=` wins over an earlier one.
//! - **libpwquality configuration** (`pwquality_read_config`): the files of
//!   `/etc/security/pwquality.conf.d` whose name's first `.conf` ends it, in
//!   `strcmp` order, then `/etc/security/pwquality.conf`, later values winning.
//!   A line is `name = value` or `name value`; `#` starts a comment. An unknown
//!   name, a number that does not parse, or a line of 1023 bytes or more stops
//!   libpwquality: the rest of that file, and every file after it, is not read.
//!   Files it cannot open are skipped (as root nothing is unreadable; when this
//!   agent cannot read one it says so and does not guess).
//! - **pam_unix arguments**: the first `pam_unix.so` password line; `minlen=` is
//!   read with `atoi`, later ones winning; default 6.

use std::collections::BTreeMap;
use std::sync::Arc;

use attest_proto::{CheckResult, Evidence, Status};
use serde_json::json;

use super::pam::{self, Stack, StackLine};
use super::{FileRead, c_atoi, c_strict_long, numbered};
use crate::checks::{Check, Context, unknown};
use crate::host::{Host, join_path};

pub const PWQUALITY_CONF: &str = "/etc/security/pwquality.conf";
pub const PWQUALITY_CONF_D: &str = "/etc/security/pwquality.conf.d";
/// libpwquality's `PWQ_DEFAULT_MIN_LENGTH`.
pub const PWQUALITY_DEFAULT_MINLEN: i64 = 8;
/// libpwquality's `PWQ_BASE_MIN_LENGTH`: lower values count as this.
pub const PWQUALITY_BASE_MINLEN: i64 = 6;
/// pam_unix's default `minlen`.
pub const PAM_UNIX_DEFAULT_MINLEN: i64 = 6;

/// libpwquality's settings (`s_map`), with whether the value is an integer.
const SETTINGS: [(&str, bool); 20] = [
    ("difok", true),
    ("minlen", true),
    ("dcredit", true),
    ("ucredit", true),
    ("lcredit", true),
    ("ocredit", true),
    ("minclass", true),
    ("maxrepeat", true),
    ("maxclassrepeat", true),
    ("maxsequence", true),
    ("gecoscheck", true),
    ("dictcheck", true),
    ("usercheck", true),
    ("usersubstr", true),
    ("enforcing", true),
    ("badwords", false),
    ("dictpath", false),
    ("retry", true),
    ("enforce_for_root", false),
    ("local_users_only", false),
];

/// A libpwquality integer value: strict decimal, strictly inside `int`.
fn pwq_int(value: &str) -> Option<i64> {
    c_strict_long(value).filter(|v| *v < i64::from(i32::MAX) && *v > i64::from(i32::MIN))
}

/// Where a `minlen` came from in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfValue {
    /// As written (before values below 6 count as 6).
    pub value: i64,
    pub lineno: usize,
    pub text: String,
}

/// What one configuration file sets, as far as libpwquality reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfParse {
    /// The last `minlen` read.
    pub minlen: Option<ConfValue>,
    /// Where and why libpwquality stopped reading (nothing after it counts).
    pub error: Option<(usize, String)>,
}

/// Parses one libpwquality configuration file (`read_config_file`).
pub fn parse_conf(text: &str) -> ConfParse {
    let mut out = ConfParse::default();
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let lineno = i + 1;
        let content = raw.strip_suffix('\n').unwrap_or(raw);
        if content.len() >= 1023 {
            out.error = Some((lineno, "line too long".to_owned()));
            break;
        }
        let line = content.split('#').next().unwrap_or("");
        let line = line.trim_matches(super::is_c_space);
        if line.is_empty() {
            continue;
        }
        let (name, rest, eq) = match line.find(|c: char| super::is_c_space(c) || c == '=') {
            Some(i) => (
                line.get(..i).unwrap_or(""),
                line.get(i + 1..).unwrap_or(""),
                line.get(i..).is_some_and(|s| s.starts_with('=')),
            ),
            None => (line, "", false),
        };
        // Skip blanks and at most one '=' (none when the name ended at '=').
        let value = super::skip_eq(rest, eq);
        let Some((known, is_int)) = SETTINGS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .copied()
        else {
            // Named by line number only: the line is never quoted.
            out.error = Some((lineno, "unknown setting".to_owned()));
            break;
        };
        if is_int {
            let Some(v) = pwq_int(value) else {
                out.error = Some((lineno, format!("{known}: not an integer")));
                break;
            };
            if known == "minlen" {
                out.minlen = Some(ConfValue {
                    value: v,
                    lineno,
                    text: content.trim_end_matches('\r').to_owned(),
                });
            }
        }
    }
    out
}

/// libpwquality's `filter_conf`: the first `.conf` in the name ends it.
pub fn is_conf_d_name(name: &str) -> bool {
    name.find(".conf").is_some_and(|i| i + 5 == name.len())
}

/// The configuration as libpwquality would read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conf {
    /// The winning `minlen` and the file it is in.
    pub minlen: Option<(FileRead, ConfValue)>,
    /// The files read, in order.
    pub files: Vec<FileRead>,
    /// Where libpwquality stopped reading: `path:line: reason`.
    pub stopped: Option<String>,
    /// Files this agent could not read (libpwquality, as root, would).
    pub unreadable: Vec<String>,
}

/// Reads libpwquality's configuration from `src`.
pub fn load_conf(src: &Host) -> Conf {
    let mut conf = Conf::default();
    let mut paths = Vec::new();
    match src.list_dir(PWQUALITY_CONF_D) {
        Ok(names) => {
            let mut names: Vec<String> = names.into_iter().filter(|n| is_conf_d_name(n)).collect();
            names.sort();
            paths.extend(names.iter().map(|n| join_path(PWQUALITY_CONF_D, n)));
        }
        Err(e) if e.is_not_found() => {}
        Err(e) => conf.unreadable.push(e.to_string()),
    }
    paths.push(PWQUALITY_CONF.to_owned());
    for path in paths {
        let bytes = match src.read(&path) {
            Ok(b) => b,
            Err(e) if e.is_not_found() || matches!(e, crate::host::ReadError::NotAFile { .. }) => {
                continue;
            }
            Err(e) => {
                conf.unreadable.push(e.to_string());
                continue;
            }
        };
        let file = FileRead::new(&path, &bytes);
        let parsed = parse_conf(&String::from_utf8_lossy(&bytes));
        if let Some(v) = parsed.minlen {
            conf.minlen = Some((file.clone(), v));
        }
        conf.files.push(file);
        if let Some((lineno, why)) = parsed.error {
            conf.stopped = Some(format!("{path}:{lineno}: {why}"));
            break;
        }
    }
    conf
}

/// The host's libpwquality configuration, read once per run.
pub struct ConfMemo(pub Conf);

pub fn conf(ctx: &Context<'_>) -> Arc<ConfMemo> {
    ctx.memo(|ctx| ConfMemo(load_conf(ctx.host)))
}

/// Where an effective minimum length came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    PwqualityArg(StackLine),
    PwqualityConf(StackLine, FileRead, ConfValue),
    PwqualityDefault(StackLine),
    UnixArg(StackLine),
    UnixDefault(Option<StackLine>),
}

/// The effective minimum length of one password stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinLength {
    /// What the system enforces.
    pub value: i64,
    /// As configured (before pwquality's floor of 6).
    pub configured: i64,
    pub origin: Origin,
}

impl MinLength {
    /// Where the value came from, in words.
    pub fn source(&self) -> String {
        match &self.origin {
            Origin::PwqualityArg(l) => {
                format!("pam_pwquality.so minlen= in {}:{}", l.file, l.line.lineno)
            }
            Origin::PwqualityConf(_, f, v) => format!("minlen in {}:{}", f.path, v.lineno),
            Origin::PwqualityDefault(l) => format!(
                "pwquality default, no minlen on pam_pwquality.so in {}:{} nor in its configuration",
                l.file, l.line.lineno
            ),
            Origin::UnixArg(l) => format!("pam_unix.so minlen= in {}:{}", l.file, l.line.lineno),
            Origin::UnixDefault(Some(l)) => format!(
                "pam_unix default, no minlen= on pam_unix.so in {}:{}",
                l.file, l.line.lineno
            ),
            Origin::UnixDefault(None) => {
                "pam_unix default, neither pam_pwquality.so nor pam_unix.so in the stack".to_owned()
            }
        }
    }
}

/// The `minlen=` value of a pam_pwquality line, as pam_pwquality parses its
/// arguments (invalid values ignored, the last valid one wins).
pub fn pwquality_arg(line: &pam::ModuleLine) -> Option<i64> {
    let mut found = None;
    for arg in &line.args {
        let (name, value) = arg.split_once('=').unwrap_or((arg.as_str(), ""));
        if name.eq_ignore_ascii_case("minlen")
            && let Some(v) = pwq_int(value)
        {
            found = Some(v);
        }
    }
    found
}

/// The `minlen=` value of a pam_unix line (`atoi`, the last one wins).
pub fn unix_arg(line: &pam::ModuleLine) -> Option<i64> {
    line.args
        .iter()
        .filter_map(|a| a.strip_prefix("minlen="))
        .map(c_atoi)
        .next_back()
}

/// The effective minimum length of a password stack. `conf` is only read when
/// pam_pwquality is in the stack without a usable `minlen=`; `Err` holds why the
/// value cannot be known (a configuration file this agent could not read).
pub fn evaluate(stack: &Stack, conf: impl FnOnce() -> Arc<ConfMemo>) -> Result<MinLength, String> {
    if let Some(line) = stack.module_lines("pam_pwquality.so").next() {
        if let Some(v) = pwquality_arg(&line.line) {
            return Ok(MinLength {
                value: v.max(PWQUALITY_BASE_MINLEN),
                configured: v,
                origin: Origin::PwqualityArg(line.clone()),
            });
        }
        let conf = conf();
        let conf = &conf.0;
        if let Some(why) = conf.unreadable.first() {
            return Err(why.clone());
        }
        if let Some((file, v)) = &conf.minlen {
            return Ok(MinLength {
                value: v.value.max(PWQUALITY_BASE_MINLEN),
                configured: v.value,
                origin: Origin::PwqualityConf(line.clone(), file.clone(), v.clone()),
            });
        }
        return Ok(MinLength {
            value: PWQUALITY_DEFAULT_MINLEN,
            configured: PWQUALITY_DEFAULT_MINLEN,
            origin: Origin::PwqualityDefault(line.clone()),
        });
    }
    let unix = stack.module_lines("pam_unix.so").next();
    match unix.and_then(|l| unix_arg(&l.line).map(|v| (l, v))) {
        Some((line, v)) => Ok(MinLength {
            value: v.max(0),
            configured: v,
            origin: Origin::UnixArg(line.clone()),
        }),
        None => Ok(MinLength {
            value: PAM_UNIX_DEFAULT_MINLEN,
            configured: PAM_UNIX_DEFAULT_MINLEN,
            origin: Origin::UnixDefault(unix.cloned()),
        }),
    }
}

/// Collects evidence lines per file, in first-seen order.
#[derive(Default)]
pub(crate) struct EvidenceSet {
    order: Vec<FileRead>,
    lines: BTreeMap<String, Vec<String>>,
}

impl EvidenceSet {
    pub fn add(&mut self, file: &FileRead, line: String) {
        if !self.order.iter().any(|f| f.path == file.path) {
            self.order.push(file.clone());
        }
        let lines = self.lines.entry(file.path.clone()).or_default();
        if !lines.contains(&line) {
            lines.push(line);
        }
    }

    pub fn add_stack_line(&mut self, stack: &Stack, line: &StackLine) {
        if let Some(f) = stack.file(&line.file) {
            self.add(f, numbered(line.line.lineno, &line.line.text));
        }
    }

    pub fn into_evidence(self) -> Vec<Evidence> {
        let mut lines = self.lines;
        self.order
            .iter()
            .map(|f| f.evidence(lines.remove(&f.path).unwrap_or_default().join("\n")))
            .collect()
    }
}

/// The reason a set of stacks cannot be evaluated, if any.
pub(crate) fn stacks_problem(stacks: &pam::Stacks) -> Option<String> {
    if stacks.stacks.is_empty() {
        return Some(format!(
            "no PAM {} stack found (looked for {})",
            stacks.kind.as_str(),
            stacks.roots_tried.join(", ")
        ));
    }
    for s in &stacks.stacks {
        match s {
            Err(e) => return Some(e.to_string()),
            Ok(stack) => {
                if let Some(why) = stack.unreadable.first() {
                    return Some(why.clone());
                }
            }
        }
    }
    None
}

/// `accounts.password_min_length`: the effective minimum password length (see
/// the module doc) is at least the threshold.
///
/// Where two stacks exist (RPM family: `system-auth` and `password-auth`), the
/// weaker — the smaller length — decides. Unknown when no PAM password stack is
/// found, or when a file that decides cannot be read.
pub struct PasswordMinLength;

impl Check for PasswordMinLength {
    fn id(&self) -> &'static str {
        "accounts.password_min_length"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let threshold = i64::from(ctx.thresholds.password_min_length);
        let memo = pam::password_stacks(ctx);
        let stacks = &memo.0;
        if let Some(why) = stacks_problem(stacks) {
            return unknown(self.id(), why).fact("threshold", threshold);
        }
        let mut results = Vec::new();
        for stack in stacks.stacks.iter().flatten() {
            match evaluate(stack, || conf(ctx)) {
                Ok(m) => results.push((stack, m)),
                Err(why) => return unknown(self.id(), why).fact("threshold", threshold),
            }
        }
        let Some((weakest_stack, weakest)) = results
            .iter()
            .min_by_key(|(_, m)| m.value)
            .map(|(s, m)| (*s, m.clone()))
        else {
            return unknown(self.id(), "no PAM password stack found").fact("threshold", threshold);
        };

        let mut evidence = EvidenceSet::default();
        let mut per_stack = Vec::new();
        for (stack, m) in &results {
            match &m.origin {
                Origin::PwqualityArg(l)
                | Origin::PwqualityDefault(l)
                | Origin::UnixArg(l)
                | Origin::UnixDefault(Some(l)) => evidence.add_stack_line(stack, l),
                Origin::PwqualityConf(l, f, v) => {
                    evidence.add_stack_line(stack, l);
                    evidence.add(f, numbered(v.lineno, &v.text));
                }
                Origin::UnixDefault(None) => {
                    if let Some(root) = stack.file(&stack.root) {
                        evidence.add(
                            root,
                            "(no pam_pwquality.so or pam_unix.so password line)".to_owned(),
                        );
                    }
                }
            }
            per_stack.push(json!({
                "file": stack.root,
                "minimum_length": m.value,
                "configured": m.configured,
                "source": m.source(),
                "notes": stack.notes,
            }));
        }
        let uses_conf = results.iter().any(|(_, m)| {
            matches!(
                m.origin,
                Origin::PwqualityConf(..) | Origin::PwqualityDefault(_)
            )
        });
        let stopped = if uses_conf {
            conf(ctx).0.stopped.clone()
        } else {
            None
        };

        let weaker = if results.len() > 1 {
            format!(
                ", the weaker of {} stacks ({})",
                results.len(),
                weakest_stack.root
            )
        } else {
            String::new()
        };
        let clamp = if weakest.configured != weakest.value {
            format!(", configured {}", weakest.configured)
        } else {
            String::new()
        };
        let (status, summary) = if weakest.value >= threshold {
            (
                Status::Pass,
                format!(
                    "Minimum password length is {} ({}{clamp}{weaker}), at least {threshold}",
                    weakest.value,
                    weakest.source()
                ),
            )
        } else {
            (
                Status::Fail,
                format!(
                    "Minimum password length is {} ({}{clamp}{weaker}), below {threshold}",
                    weakest.value,
                    weakest.source()
                ),
            )
        };
        CheckResult::new(self.id(), status, summary)
            .fact("threshold", threshold)
            .fact("minimum_length", weakest.value)
            .fact("source", weakest.source())
            .fact("stacks", per_stack)
            .fact("pwquality_config_stopped_at", stopped)
            .evidences(evidence.into_evidence())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Thresholds;
    use crate::checks::linux::accounts::pam::tests::{DEBIAN_COMMON_PASSWORD, RHEL9_SYSTEM_AUTH};
    use crate::checks::linux::accounts::pam::{Kind, load_stack};
    use crate::checks::linux::accounts::testutil::{DEBIAN_OS_RELEASE, RHEL_OS_RELEASE};
    use crate::host::fake::FakeHost;
    use proptest::prelude::*;

    /// Debian 12's common-password once libpam-pwquality is installed.
    const DEBIAN_COMMON_PASSWORD_PWQUALITY: &str =
        "# here are the per-package modules (the \"Primary\" block)
password\trequisite\t\t\tpam_pwquality.so retry=3
password\t[success=1 default=ignore]\tpam_unix.so obscure use_authtok try_first_pass yescrypt
# here's the fallback if no module succeeds
password\trequisite\t\t\tpam_deny.so
password\trequired\t\t\tpam_permit.so
";

    fn conf_of(src: &Host) -> impl FnOnce() -> Arc<ConfMemo> + '_ {
        move || Arc::new(ConfMemo(load_conf(src)))
    }

    fn eval(files: &[(&str, &str)]) -> MinLength {
        let src = FakeHost::linux().files(files).host();
        let stack = load_stack(&src, "/etc/pam.d/common-password", Kind::Password).unwrap();
        evaluate(&stack, conf_of(&src)).unwrap()
    }

    #[test]
    fn conf_forms_and_comments() {
        let c = parse_conf("# minlen = 20\n  minlen = 9 # nine\nminlen=10\n");
        assert_eq!(c.minlen.as_ref().unwrap().value, 10);
        assert_eq!(c.minlen.as_ref().unwrap().lineno, 3);
        assert!(c.error.is_none());
        let c = parse_conf("MinLen\t14\n");
        assert_eq!(c.minlen.unwrap().value, 14);
        let c = parse_conf("minlen ==14\n");
        assert!(c.error.is_some(), "only one '=' is skipped");
    }

    #[test]
    fn an_unknown_setting_stops_reading() {
        let c = parse_conf("minlen = 9\nnosuchthing = 1\nminlen = 15\n");
        assert_eq!(c.minlen.unwrap().value, 9);
        assert_eq!(c.error.unwrap().0, 2);
        let c = parse_conf("minlen = twelve\nminlen = 15\n");
        assert!(c.minlen.is_none());
        let c = parse_conf("enforce_for_root\nbadwords = foo bar\nminlen = 15\n");
        assert_eq!(c.minlen.unwrap().value, 15);
    }

    #[test]
    fn conf_d_names() {
        assert!(is_conf_d_name("50-local.conf"));
        assert!(is_conf_d_name(".conf"));
        assert!(!is_conf_d_name("a.conf.bak"));
        assert!(
            !is_conf_d_name("a.conf.conf"),
            "the first .conf must end the name"
        );
        assert!(!is_conf_d_name("README"));
    }

    #[test]
    fn conf_d_is_read_first_in_ascii_order_then_the_main_file() {
        let src = FakeHost::linux()
            .files(&[
                ("/etc/security/pwquality.conf.d/b.conf", "minlen = 11\n"),
                ("/etc/security/pwquality.conf.d/B.conf", "minlen = 10\n"),
                ("/etc/security/pwquality.conf.d/a.conf", "minlen = 9\n"),
                (
                    "/etc/security/pwquality.conf.d/z.conf.rpmsave",
                    "minlen = 30\n",
                ),
                ("/etc/security/pwquality.conf", "# minlen = 8\n"),
            ])
            .host();
        let conf = load_conf(&src);
        let (file, v) = conf.minlen.unwrap();
        // ASCII order: B.conf, a.conf, b.conf; the main file sets nothing.
        assert_eq!(file.path, "/etc/security/pwquality.conf.d/b.conf");
        assert_eq!(v.value, 11);
        assert_eq!(conf.files.len(), 4);

        let src = FakeHost::linux()
            .files(&[
                ("/etc/security/pwquality.conf.d/a.conf", "minlen = 14\n"),
                ("/etc/security/pwquality.conf", "minlen = 9\n"),
            ])
            .host();
        assert_eq!(
            load_conf(&src).minlen.unwrap().1.value,
            9,
            "the main file comes last"
        );
    }

    #[test]
    fn an_error_in_conf_d_stops_the_main_file_too() {
        let src = FakeHost::linux()
            .files(&[
                (
                    "/etc/security/pwquality.conf.d/a.conf",
                    "minlen = 14\nbogus = 1\n",
                ),
                ("/etc/security/pwquality.conf.d/b.conf", "minlen = 20\n"),
                ("/etc/security/pwquality.conf", "minlen = 9\n"),
            ])
            .host();
        let conf = load_conf(&src);
        assert_eq!(conf.minlen.unwrap().1.value, 14);
        assert!(
            conf.stopped
                .unwrap()
                .starts_with("/etc/security/pwquality.conf.d/a.conf:2")
        );
    }

    #[test]
    fn pwquality_argument_wins_over_config() {
        let m = eval(&[
            (
                "/etc/pam.d/common-password",
                "password requisite pam_pwquality.so retry=3 minlen=8 MINLEN=14\n",
            ),
            ("/etc/security/pwquality.conf", "minlen = 20\n"),
        ]);
        assert_eq!(m.value, 14);
        assert!(matches!(m.origin, Origin::PwqualityArg(_)));
        assert_eq!(
            m.source(),
            "pam_pwquality.so minlen= in /etc/pam.d/common-password:1"
        );
    }

    #[test]
    fn invalid_argument_falls_back_to_config_then_default() {
        let m = eval(&[
            (
                "/etc/pam.d/common-password",
                "password requisite pam_pwquality.so minlen=abc\n",
            ),
            ("/etc/security/pwquality.conf", "minlen = 13\n"),
        ]);
        assert_eq!(m.value, 13);
        assert!(matches!(m.origin, Origin::PwqualityConf(..)));
        let m = eval(&[(
            "/etc/pam.d/common-password",
            DEBIAN_COMMON_PASSWORD_PWQUALITY,
        )]);
        assert_eq!(m.value, 8);
        assert!(matches!(m.origin, Origin::PwqualityDefault(_)));
    }

    #[test]
    fn values_below_six_count_as_six() {
        let m = eval(&[
            (
                "/etc/pam.d/common-password",
                "password requisite pam_pwquality.so\n",
            ),
            ("/etc/security/pwquality.conf", "minlen = 4\n"),
        ]);
        assert_eq!((m.value, m.configured), (6, 4));
        let m = eval(&[(
            "/etc/pam.d/common-password",
            "password requisite pam_pwquality.so minlen=1\n",
        )]);
        assert_eq!(m.value, 6);
    }

    #[test]
    fn without_pwquality_pam_unix_decides() {
        let m = eval(&[("/etc/pam.d/common-password", DEBIAN_COMMON_PASSWORD)]);
        assert_eq!(m.value, 6);
        assert!(matches!(m.origin, Origin::UnixDefault(Some(_))));
        let m = eval(&[(
            "/etc/pam.d/common-password",
            "password [success=1 default=ignore] pam_unix.so minlen=4 obscure minlen=10\n",
        )]);
        assert_eq!(m.value, 10);
        let m = eval(&[(
            "/etc/pam.d/common-password",
            "password required pam_permit.so\n",
        )]);
        assert_eq!(m.value, 6);
        assert!(matches!(m.origin, Origin::UnixDefault(None)));
        // Config is not consulted without pam_pwquality.
        let m = eval(&[
            ("/etc/pam.d/common-password", DEBIAN_COMMON_PASSWORD),
            ("/etc/security/pwquality.conf", "minlen = 20\n"),
        ]);
        assert_eq!(m.value, 6);
    }

    #[test]
    fn unreadable_config_is_unknown_only_when_it_matters() {
        let src = FakeHost::linux()
            .files(&[
                (
                    "/etc/pam.d/common-password",
                    "password requisite pam_pwquality.so\n",
                ),
                ("/etc/security/pwquality.conf", "minlen = 14\n"),
            ])
            .deny("/etc/security/pwquality.conf")
            .host();
        let stack = load_stack(&src, "/etc/pam.d/common-password", Kind::Password).unwrap();
        let err = evaluate(&stack, conf_of(&src)).unwrap_err();
        assert_eq!(
            err,
            "/etc/security/pwquality.conf: permission denied; run as root"
        );

        let src = FakeHost::linux()
            .files(&[(
                "/etc/pam.d/common-password",
                "password requisite pam_pwquality.so minlen=14\n",
            )])
            .deny("/etc/security/pwquality.conf")
            .host();
        let stack = load_stack(&src, "/etc/pam.d/common-password", Kind::Password).unwrap();
        assert_eq!(evaluate(&stack, conf_of(&src)).unwrap().value, 14);
    }

    #[test]
    fn check_on_debian_fails_with_pam_unix_default() {
        let h = FakeHost::linux().files(&[
            ("/etc/os-release", DEBIAN_OS_RELEASE),
            ("/etc/pam.d/common-password", DEBIAN_COMMON_PASSWORD),
        ]);
        let r = h.run(&PasswordMinLength);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["minimum_length"], 6);
        assert_eq!(r.facts["threshold"], 12);
        assert!(r.summary.contains("pam_unix default"), "{}", r.summary);
        let Evidence::File { path, excerpt, .. } = &r.evidence[0] else {
            panic!()
        };
        assert_eq!(path, "/etc/pam.d/common-password");
        assert!(
            excerpt.contains("pam_unix.so obscure yescrypt"),
            "{excerpt}"
        );
    }

    #[test]
    fn check_passes_with_pwquality_conf_d() {
        let h = FakeHost::linux().files(&[
            ("/etc/os-release", DEBIAN_OS_RELEASE),
            (
                "/etc/pam.d/common-password",
                DEBIAN_COMMON_PASSWORD_PWQUALITY,
            ),
            ("/etc/security/pwquality.conf", "# minlen = 8\n"),
            (
                "/etc/security/pwquality.conf.d/50-policy.conf",
                "minlen = 14\n",
            ),
        ]);
        let r = h.run(&PasswordMinLength);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["minimum_length"], 14);
        assert_eq!(
            r.facts["source"],
            "minlen in /etc/security/pwquality.conf.d/50-policy.conf:1"
        );
        assert_eq!(r.evidence.len(), 2);
    }

    #[test]
    fn rhel_the_weaker_stack_decides() {
        let t = Thresholds {
            password_min_length: 10,
            ..Thresholds::default()
        };
        let password_auth = RHEL9_SYSTEM_AUTH.replace(
            "pam_pwquality.so local_users_only",
            "pam_pwquality.so local_users_only minlen=9",
        );
        let h = FakeHost::linux().files(&[
            ("/etc/os-release", RHEL_OS_RELEASE),
            ("/etc/pam.d/system-auth", RHEL9_SYSTEM_AUTH),
            ("/etc/pam.d/password-auth", &password_auth),
            ("/etc/security/pwquality.conf", "minlen = 15\n"),
        ]);
        let r = h.run_with(&PasswordMinLength, &t);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["minimum_length"], 9);
        assert_eq!(r.facts["threshold"], 10);
        assert!(
            r.summary
                .contains("the weaker of 2 stacks (/etc/pam.d/password-auth)"),
            "{}",
            r.summary
        );
        assert_eq!(r.facts["stacks"][0]["minimum_length"], 15);
    }

    #[test]
    fn no_stack_is_unknown() {
        let h = FakeHost::linux().files(&[("/etc/os-release", DEBIAN_OS_RELEASE)]);
        let r = h.run(&PasswordMinLength);
        assert_eq!(r.status, Status::Unknown);
        assert_eq!(
            r.reason.as_deref(),
            Some("no PAM password stack found (looked for /etc/pam.d/common-password)")
        );
        assert_eq!(r.facts["threshold"], 12);
    }

    proptest! {
        #[test]
        fn parse_conf_never_panics(s in "\\PC*") {
            let _ = parse_conf(&s);
        }

        #[test]
        fn parse_conf_never_panics_on_conf_like_text(s in "([a-z_= \t#0-9-]{0,30}\n){0,6}") {
            let c = parse_conf(&s);
            if let Some(v) = c.minlen {
                prop_assert!(v.lineno >= 1);
            }
        }
    }
}
