//! PAM configuration (pam.conf(5), `/etc/pam.d`) and the stacks the accounts
//! checks read.
//!
//! Lines are read as Linux-PAM reads them (`_pam_line_assemble`,
//! `_pam_tokenize`): a physical line ending in `\` (trailing blanks allowed)
//! continues on the next one, unless the line holds a `#`; everything from the
//! first `#` is a comment; tokens are separated by blanks, and a token that
//! starts with `[` runs to the first `]` not written `\]` (so
//! `[success=1 default=ignore]` is one control). A line is
//! `type control module args…`:
//!
//! - the type is `auth`, `account`, `password` or `session`, case-insensitive; a
//!   leading `-` (do not log a missing module) still counts;
//! - the control `include` or `substack` pulls in the lines of that type from
//!   another file (absolute, or relative to `/etc/pam.d`, then `/usr/lib/pam.d`
//!   as Linux-PAM falls back to it); Debian's `@include FILE` pulls in every line
//!   of FILE of the type being read;
//! - more than 16 levels of includes abort the stack in Linux-PAM; here the
//!   include is skipped and noted, and an include of a file already being read
//!   (a loop) is skipped and noted.
//!
//! The stacks (`checks.md`): Debian family `/etc/pam.d/common-password` and
//! `common-auth`; RPM family `/etc/pam.d/system-auth` and `password-auth` (each
//! of those that exists is a stack; the checks let the weaker decide); any other
//! family: whichever of these files exist.

use std::sync::Arc;

use super::FileRead;
use crate::checks::Context;
use crate::checks::linux::common::osrelease::{self, Family};
use crate::host::{Host, ReadError, join_path};

pub const PAM_DIR: &str = "/etc/pam.d";
/// Where Linux-PAM looks for a relative include that is not in `/etc/pam.d`.
pub const PAM_DIST_DIR: &str = "/usr/lib/pam.d";
/// Linux-PAM's `PAM_SUBSTACK_MAX_LEVEL`.
pub const MAX_INCLUDE_LEVEL: usize = 16;
/// The most file reads for one stack (a guard against include fan-out).
pub const MAX_READS: usize = 1000;

/// The four management groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Auth,
    Account,
    Password,
    Session,
}

impl Kind {
    fn parse(token: &str) -> Option<Kind> {
        let t = token.to_ascii_lowercase();
        match t.as_str() {
            "auth" => Some(Kind::Auth),
            "account" => Some(Kind::Account),
            "password" => Some(Kind::Password),
            "session" => Some(Kind::Session),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Auth => "auth",
            Kind::Account => "account",
            Kind::Password => "password",
            Kind::Session => "session",
        }
    }
}

/// A module line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleLine {
    pub lineno: usize,
    /// The assembled line (continuations joined, comment removed), for evidence.
    pub text: String,
    pub kind: Kind,
    /// The type was written with a leading `-`.
    pub silent: bool,
    /// The control as written (`required`, `[success=1 default=ignore]`, …).
    pub control: String,
    /// The module as written (`pam_unix.so`, `/lib/security/pam_unix.so`).
    pub module: String,
    pub args: Vec<String>,
}

impl ModuleLine {
    /// The module's file name without its directory (`pam_unix.so`).
    pub fn module_name(&self) -> &str {
        self.module.rsplit('/').next().unwrap_or(&self.module)
    }
}

/// One configuration line of a PAM file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Module(ModuleLine),
    /// `TYPE include FILE` or `TYPE substack FILE`.
    Include {
        lineno: usize,
        text: String,
        kind: Kind,
        file: String,
        substack: bool,
    },
    /// Debian's `@include FILE`: the lines of FILE of whichever type is read.
    IncludeAll {
        lineno: usize,
        text: String,
        file: String,
    },
    /// A line Linux-PAM cannot use (unknown type, missing control or module);
    /// it installs such a line as a module that always fails.
    Invalid {
        lineno: usize,
        text: String,
        reason: String,
    },
}

/// Assembles logical lines: `(first physical line number, text)`, comments
/// removed, continuations joined, leading blanks skipped, empty lines dropped.
pub fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, physical) in text.split('\n').enumerate() {
        let mut line = physical.to_owned();
        // A trailing backslash (blanks and CR allowed after it) continues the
        // line, unless the line holds a comment.
        let trimmed = line.trim_end_matches([' ', '\t', '\r']);
        let continues = trimmed.ends_with('\\');
        if continues {
            let cut = trimmed.len().saturating_sub(1);
            line.truncate(cut);
            line.push(' ');
        }
        let eol = !continues || line.contains('#');
        let start = line.trim_start_matches([' ', '\t']);
        let content = start.split('#').next().unwrap_or("");
        match pending.as_mut() {
            Some((_, acc)) => acc.push_str(content),
            None if !content.is_empty() => pending = Some((i + 1, content.to_owned())),
            None => {}
        }
        if eol && let Some((lineno, acc)) = pending.take() {
            let acc = acc.trim_end_matches(['\r', ' ', '\t']).to_owned();
            if !acc.trim().is_empty() {
                out.push((lineno, acc));
            }
        }
    }
    if let Some((lineno, acc)) = pending.take()
        && !acc.trim().is_empty()
    {
        out.push((lineno, acc.trim_end().to_owned()));
    }
    out
}

/// Splits a logical line into tokens as `_pam_tokenize` does: blanks separate
/// tokens; a token starting with `[` runs to the first `]` (with `\]` meaning
/// `]`) and is returned with its brackets.
pub fn tokenize(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| matches!(c, ' ' | '\t' | '\n')) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut token = String::new();
        if first == '[' {
            chars.next();
            token.push('[');
            while let Some(c) = chars.next() {
                if c == '\\' && chars.peek() == Some(&']') {
                    chars.next();
                    token.push(']');
                } else if c == ']' {
                    break;
                } else {
                    token.push(c);
                }
            }
            token.push(']');
        } else {
            while let Some(&c) = chars.peek() {
                if matches!(c, ' ' | '\t' | '\n') {
                    break;
                }
                token.push(c);
                chars.next();
            }
        }
        out.push(token);
    }
    out
}

/// Parses a file of `/etc/pam.d` (no service field) into entries.
pub fn parse(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for (lineno, text) in logical_lines(text) {
        let tokens = tokenize(&text);
        let mut it = tokens.into_iter();
        let Some(type_token) = it.next() else {
            continue;
        };
        if type_token == "@include" {
            match it.next() {
                Some(file) => out.push(Entry::IncludeAll { lineno, text, file }),
                None => out.push(Entry::Invalid {
                    lineno,
                    text,
                    reason: "@include without a file".to_owned(),
                }),
            }
            continue;
        }
        let (silent, bare) = match type_token.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, type_token.as_str()),
        };
        let Some(kind) = Kind::parse(bare) else {
            out.push(Entry::Invalid {
                reason: "illegal module type".to_owned(),
                lineno,
                text,
            });
            continue;
        };
        let Some(control) = it.next() else {
            out.push(Entry::Invalid {
                lineno,
                text,
                reason: "no control flag supplied".to_owned(),
            });
            continue;
        };
        let lower = control.to_ascii_lowercase();
        let Some(module) = it.next() else {
            out.push(Entry::Invalid {
                lineno,
                text,
                reason: "no module name supplied".to_owned(),
            });
            continue;
        };
        if lower == "include" || lower == "substack" {
            out.push(Entry::Include {
                lineno,
                text,
                kind,
                file: module,
                substack: lower == "substack",
            });
            continue;
        }
        out.push(Entry::Module(ModuleLine {
            lineno,
            text,
            kind,
            silent,
            control,
            module,
            args: it.collect(),
        }));
    }
    out
}

/// A module line of a stack and the file it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackLine {
    pub file: String,
    pub line: ModuleLine,
}

/// The module lines of one type, starting from one file, includes followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    /// The file the stack starts from.
    pub root: String,
    pub kind: Kind,
    pub lines: Vec<StackLine>,
    /// Every file read, in order, once each.
    pub files: Vec<FileRead>,
    /// Includes not followed and lines PAM cannot use (for facts).
    pub notes: Vec<String>,
    /// Included files that exist but could not be read: the stack is incomplete.
    pub unreadable: Vec<String>,
    /// How many includes were opened.
    pub reads: usize,
}

impl Stack {
    /// The lines whose module file name is `name` (`pam_unix.so`).
    pub fn module_lines<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a StackLine> + 'a {
        self.lines
            .iter()
            .filter(move |l| l.line.module_name() == name)
    }

    /// The digest of a file of this stack.
    pub fn file(&self, path: &str) -> Option<&FileRead> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// Reads the `kind` stack starting at `root`. `Err` when `root` itself cannot be
/// read; problems with included files are recorded in the stack.
pub fn load_stack(src: &Host, root: &str, kind: Kind) -> Result<Stack, ReadError> {
    let bytes = src.read(root)?;
    let mut stack = Stack {
        root: root.to_owned(),
        kind,
        lines: Vec::new(),
        files: Vec::new(),
        notes: Vec::new(),
        unreadable: Vec::new(),
        reads: 0,
    };
    let mut chain = vec![root.to_owned()];
    walk(src, root, &bytes, kind, 0, &mut chain, &mut stack);
    Ok(stack)
}

/// Resolves an include target as Linux-PAM opens it.
fn open_include(src: &Host, file: &str) -> Result<(String, Vec<u8>), ReadError> {
    if file.starts_with('/') {
        return src.read(file).map(|b| (file.to_owned(), b));
    }
    let first = join_path(PAM_DIR, file);
    match src.read(&first) {
        Err(e) if e.is_not_found() => {
            let second = join_path(PAM_DIST_DIR, file);
            match src.read(&second) {
                Ok(b) => Ok((second, b)),
                Err(e2) if e2.is_not_found() => Err(e),
                Err(e2) => Err(e2),
            }
        }
        other => other.map(|b| (first, b)),
    }
}

fn walk(
    src: &Host,
    path: &str,
    bytes: &[u8],
    kind: Kind,
    level: usize,
    chain: &mut Vec<String>,
    stack: &mut Stack,
) {
    if !stack.files.iter().any(|f| f.path == path) {
        stack.files.push(FileRead::new(path, bytes));
    }
    for entry in parse(&String::from_utf8_lossy(bytes)) {
        let (lineno, file) = match entry {
            Entry::Module(m) => {
                if m.kind == kind {
                    stack.lines.push(StackLine {
                        file: path.to_owned(),
                        line: m,
                    });
                }
                continue;
            }
            Entry::Invalid { lineno, reason, .. } => {
                stack.notes.push(format!("{path}:{lineno}: {reason}"));
                continue;
            }
            Entry::Include {
                lineno,
                kind: k,
                file,
                ..
            } => {
                if k != kind {
                    continue;
                }
                (lineno, file)
            }
            Entry::IncludeAll { lineno, file, .. } => (lineno, file),
        };
        if stack.reads >= MAX_READS {
            stack.unreadable.push(format!(
                "{path}:{lineno}: more than {MAX_READS} included files"
            ));
            return;
        }
        if level + 1 >= MAX_INCLUDE_LEVEL {
            stack.notes.push(format!(
                "{path}:{lineno}: include {file} not followed: more than {MAX_INCLUDE_LEVEL} levels"
            ));
            continue;
        }
        stack.reads += 1;
        match open_include(src, &file) {
            Ok((included, bytes)) => {
                if chain.contains(&included) {
                    stack.notes.push(format!(
                        "{path}:{lineno}: include {included} not followed: include loop"
                    ));
                    continue;
                }
                chain.push(included.clone());
                walk(src, &included, &bytes, kind, level + 1, chain, stack);
                chain.pop();
            }
            Err(e) if e.is_not_found() => stack.notes.push(format!(
                "{path}:{lineno}: include {file} not found (PAM fails this line)"
            )),
            Err(e) => stack.unreadable.push(e.to_string()),
        }
    }
}

/// The files a stack of `kind` starts from for a family (`checks.md`).
pub fn stack_roots(family: Family, kind: Kind) -> Vec<&'static str> {
    match (family, kind) {
        (Family::Debian, Kind::Password) => vec!["/etc/pam.d/common-password"],
        (Family::Debian, _) => vec!["/etc/pam.d/common-auth"],
        (Family::Rpm, _) => vec!["/etc/pam.d/system-auth", "/etc/pam.d/password-auth"],
        (Family::Other, Kind::Password) => vec![
            "/etc/pam.d/common-password",
            "/etc/pam.d/system-auth",
            "/etc/pam.d/password-auth",
        ],
        (Family::Other, _) => vec![
            "/etc/pam.d/common-auth",
            "/etc/pam.d/system-auth",
            "/etc/pam.d/password-auth",
        ],
    }
}

/// The stacks of one kind on a host: one per root file that exists. A root that
/// exists but cannot be read is an `Err` in the list.
#[derive(Debug)]
pub struct Stacks {
    pub kind: Kind,
    pub family: Family,
    pub roots_tried: Vec<&'static str>,
    pub stacks: Vec<Result<Stack, ReadError>>,
}

/// Loads the stacks of `kind` for `family` from `src`.
pub fn load_stacks(src: &Host, family: Family, kind: Kind) -> Stacks {
    let roots = stack_roots(family, kind);
    let mut stacks = Vec::new();
    for root in &roots {
        match load_stack(src, root, kind) {
            Err(e) if e.is_not_found() => {}
            other => stacks.push(other),
        }
    }
    Stacks {
        kind,
        family,
        roots_tried: roots,
        stacks,
    }
}

/// The host's package family (os-release), `Other` when it cannot be read.
pub fn family(ctx: &Context<'_>) -> Family {
    match &osrelease::get(ctx).0 {
        Ok(os) => os.family(),
        Err(_) => Family::Other,
    }
}

/// The host's password stacks, read once per run.
pub struct PasswordStacks(pub Stacks);
/// The host's auth stacks, read once per run.
pub struct AuthStacks(pub Stacks);

pub fn password_stacks(ctx: &Context<'_>) -> Arc<PasswordStacks> {
    ctx.memo(|ctx| PasswordStacks(load_stacks(ctx.host, family(ctx), Kind::Password)))
}

pub fn auth_stacks(ctx: &Context<'_>) -> Arc<AuthStacks> {
    ctx.memo(|ctx| AuthStacks(load_stacks(ctx.host, family(ctx), Kind::Auth)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use proptest::prelude::*;

    /// Debian 12's `/etc/pam.d/common-auth` as shipped (pam-auth-update).
    pub const DEBIAN_COMMON_AUTH: &str = "#
# /etc/pam.d/common-auth - authentication settings common to all services
#
# This file is included from other service-specific PAM config files,
# and should contain a list of the authentication modules that define
# the central authentication scheme for use on the system
# (e.g., /etc/shadow, LDAP, Kerberos, etc.).  The default is to use the
# traditional Unix authentication mechanisms.
#
# As of pam 1.0.1-6, this file is managed by pam-auth-update by default.
# To take advantage of this, it is recommended that you configure any
# local modules either before or after the default block, and use
# pam-auth-update to manage selection of other modules.  See
# pam-auth-update(8) for details.

# here are the per-package modules (the \"Primary\" block)
auth\t[success=1 default=ignore]\tpam_unix.so nullok
# here's the fallback if no module succeeds
auth\trequisite\t\t\tpam_deny.so
# prime the stack with a positive return value if there isn't one already;
# this avoids us returning an error just because nothing sets a success code
# since the modules above will each just jump around
auth\trequired\t\t\tpam_permit.so
# and here are more per-package modules (the \"Additional\" block)
# end of pam-auth-update config
";

    /// Debian 12's `/etc/pam.d/common-password` as shipped (no libpam-pwquality).
    pub const DEBIAN_COMMON_PASSWORD: &str = "#
# /etc/pam.d/common-password - password-related modules common to all services
#
# This file is included from other service-specific PAM config files,
# and should contain a list of modules that define the services to be
# used to change user passwords.  The default is pam_unix.

# Explanation of pam_unix options:
# The \"yescrypt\" option enables
#hashed passwords using the yescrypt algorithm, introduced in Debian
#11.  Without this option, the default is Unix crypt.  Prior releases
#used the option \"sha512\"; if a shadow password hash will be shared
#between Debian 11 and older releases replace \"yescrypt\" with \"sha512\"
#for compatibility .  The \"obscure\" option replaces the old
#`OBSCURE_CHECKS_ENAB' option in login.defs.  See the pam_unix manpage
#for other options.

# As of pam 1.0.1-6, this file is managed by pam-auth-update by default.
# To take advantage of this, it is recommended that you configure any
# local modules either before or after the default block, and use
# pam-auth-update to manage selection of other modules.  See
# pam-auth-update(8) for details.

# here are the per-package modules (the \"Primary\" block)
password\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt
# here's the fallback if no module succeeds
password\trequisite\t\t\tpam_deny.so
# prime the stack with a positive return value if there isn't one already;
# this avoids us returning an error just because nothing sets a success code
# since the modules above will each just jump around
password\trequired\t\t\tpam_permit.so
# and here are more per-package modules (the \"Additional\" block)
# end of pam-auth-update config
";

    /// RHEL 9's `/etc/pam.d/system-auth` from authselect's `sssd` profile with
    /// `with-faillock`.
    pub const RHEL9_SYSTEM_AUTH: &str = "# Generated by authselect on Tue Jan  9 10:21:44 2024
# Do not modify this file manually.

auth        required                                     pam_env.so
auth        required                                     pam_faildelay.so delay=2000000
auth        required                                     pam_faillock.so preauth silent
auth        [default=1 ignore=ignore success=ok]         pam_usertype.so isregular
auth        [default=1 ignore=ignore success=ok]         pam_localuser.so
auth        sufficient                                   pam_unix.so nullok
auth        [default=1 ignore=ignore success=ok]         pam_usertype.so isregular
auth        sufficient                                   pam_sss.so forward_pass
auth        required                                     pam_faillock.so authfail
auth        required                                     pam_deny.so

account     required                                     pam_access.so
account     required                                     pam_faillock.so
account     required                                     pam_unix.so
account     sufficient                                   pam_localuser.so
account     sufficient                                   pam_usertype.so issystem
account     [default=bad success=ok user_unknown=ignore] pam_sss.so
account     required                                     pam_permit.so

password    requisite                                    pam_pwquality.so local_users_only
password    sufficient                                   pam_unix.so sha512 shadow nullok use_authtok
password    [success=1 default=ignore]                   pam_localuser.so
password    sufficient                                   pam_sss.so use_authtok
password    required                                     pam_deny.so

session     optional                                     pam_keyinit.so revoke
session     required                                     pam_limits.so
-session    optional                                     pam_systemd.so
session     optional                                     pam_oddjob_mkhomedir.so umask=0077
session     [success=1 default=ignore]                   pam_succeed_if.so service in crond quiet use_uid
session     required                                     pam_unix.so
session     optional                                     pam_sss.so
";

    #[test]
    fn debian_common_auth() {
        let entries = parse(DEBIAN_COMMON_AUTH);
        assert_eq!(entries.len(), 3);
        let Entry::Module(m) = &entries[0] else {
            panic!("{entries:?}")
        };
        assert_eq!(m.kind, Kind::Auth);
        assert_eq!(m.control, "[success=1 default=ignore]");
        assert_eq!(m.module, "pam_unix.so");
        assert_eq!(m.args, ["nullok"]);
        assert_eq!(m.lineno, 17);
    }

    #[test]
    fn rhel_system_auth_types_and_silent_lines() {
        let entries = parse(RHEL9_SYSTEM_AUTH);
        let modules: Vec<&ModuleLine> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Module(m) => Some(m),
                _ => None,
            })
            .collect();
        assert_eq!(modules.len(), entries.len());
        let systemd = modules
            .iter()
            .find(|m| m.module == "pam_systemd.so")
            .unwrap();
        assert!(systemd.silent);
        assert_eq!(systemd.kind, Kind::Session);
        let password: Vec<_> = modules
            .iter()
            .filter(|m| m.kind == Kind::Password)
            .map(|m| m.module_name())
            .collect();
        assert_eq!(
            password,
            [
                "pam_pwquality.so",
                "pam_unix.so",
                "pam_localuser.so",
                "pam_sss.so",
                "pam_deny.so"
            ]
        );
    }

    #[test]
    fn bracket_controls_keep_spaces_and_escaped_brackets() {
        assert_eq!(
            tokenize("auth [success=ok  new_authtok_reqd=done default=die] pam_x.so [a b\\]c] d"),
            [
                "auth",
                "[success=ok  new_authtok_reqd=done default=die]",
                "pam_x.so",
                "[a b]c]",
                "d"
            ]
        );
    }

    #[test]
    fn comments_and_continuations() {
        let lines = logical_lines(
            "auth required \\\n   pam_a.so x=1 \\  \n  y=2\n# auth required pam_b.so\nauth required pam_c.so # trailing \\\nauth required pam_d.so\n",
        );
        assert_eq!(
            lines,
            vec![
                (1, "auth required  pam_a.so x=1  y=2".to_owned()),
                (5, "auth required pam_c.so".to_owned()),
                (6, "auth required pam_d.so".to_owned()),
            ]
        );
        // A continued line that holds a comment ends there.
        let lines = logical_lines("auth required pam_e.so # note \\\nauth required pam_f.so\n");
        assert_eq!(lines.len(), 2);
    }

    #[test]
    fn type_is_case_insensitive_and_dash_still_counts() {
        let entries = parse(
            "-AUTH Required pam_faillock.so preauth\nPassword include system-auth\nfoo required pam_x.so\nauth required\n",
        );
        assert!(matches!(&entries[0], Entry::Module(m) if m.kind == Kind::Auth && m.silent));
        assert!(
            matches!(&entries[1], Entry::Include { kind: Kind::Password, file, substack: false, .. } if file == "system-auth")
        );
        assert!(matches!(&entries[2], Entry::Invalid { .. }));
        assert!(matches!(&entries[3], Entry::Invalid { .. }));
    }

    #[test]
    fn includes_follow_type_and_at_include_takes_all() {
        let src = FakeHost::linux()
            .files(&[
                (
                    "/etc/pam.d/common-password",
                    "password requisite pam_pwquality.so retry=3\n@include extra\npassword substack sub\nauth include authonly\n",
                ),
                (
                    "/etc/pam.d/extra",
                    "password required pam_pwhistory.so\nauth required pam_should_not_appear.so\n",
                ),
                (
                    "/usr/lib/pam.d/sub",
                    "password [success=1 default=ignore] pam_unix.so minlen=10\n",
                ),
                ("/etc/pam.d/authonly", "password required pam_never.so\n"),
            ])
            .host();
        let stack = load_stack(&src, "/etc/pam.d/common-password", Kind::Password).unwrap();
        let mods: Vec<_> = stack
            .lines
            .iter()
            .map(|l| (l.file.as_str(), l.line.module_name()))
            .collect();
        assert_eq!(
            mods,
            [
                ("/etc/pam.d/common-password", "pam_pwquality.so"),
                ("/etc/pam.d/extra", "pam_pwhistory.so"),
                ("/usr/lib/pam.d/sub", "pam_unix.so"),
            ]
        );
        assert_eq!(stack.files.len(), 3);
        assert!(stack.notes.is_empty(), "{:?}", stack.notes);
    }

    #[test]
    fn include_loops_and_missing_files_are_noted() {
        let src = FakeHost::linux()
            .files(&[
                (
                    "/etc/pam.d/a",
                    "auth include b\nauth required pam_a.so\nauth include missing\n",
                ),
                ("/etc/pam.d/b", "auth required pam_b.so\n@include a\n"),
            ])
            .host();
        let stack = load_stack(&src, "/etc/pam.d/a", Kind::Auth).unwrap();
        let mods: Vec<_> = stack.lines.iter().map(|l| l.line.module_name()).collect();
        assert_eq!(mods, ["pam_b.so", "pam_a.so"]);
        assert_eq!(stack.notes.len(), 2, "{:?}", stack.notes);
        assert!(stack.notes[0].contains("include loop"));
        assert!(stack.notes[1].contains("missing not found"));
    }

    #[test]
    fn unreadable_includes_make_the_stack_incomplete() {
        let src = FakeHost::linux()
            .files(&[
                ("/etc/pam.d/a", "auth include b\n"),
                ("/etc/pam.d/b", "auth required pam_b.so\n"),
            ])
            .deny("/etc/pam.d/b")
            .host();
        let stack = load_stack(&src, "/etc/pam.d/a", Kind::Auth).unwrap();
        assert_eq!(
            stack.unreadable,
            ["/etc/pam.d/b: permission denied; run as root"]
        );
    }

    #[test]
    fn roots_by_family() {
        let src = FakeHost::linux()
            .files(&[
                ("/etc/pam.d/system-auth", RHEL9_SYSTEM_AUTH),
                ("/etc/pam.d/password-auth", RHEL9_SYSTEM_AUTH),
                ("/etc/pam.d/common-password", DEBIAN_COMMON_PASSWORD),
            ])
            .host();
        assert_eq!(
            load_stacks(&src, Family::Rpm, Kind::Password).stacks.len(),
            2
        );
        assert_eq!(
            load_stacks(&src, Family::Debian, Kind::Password)
                .stacks
                .len(),
            1
        );
        assert_eq!(
            load_stacks(&src, Family::Other, Kind::Password)
                .stacks
                .len(),
            3
        );
        assert_eq!(
            load_stacks(&src, Family::Debian, Kind::Auth).stacks.len(),
            0
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = parse(&s);
        }

        #[test]
        fn parse_never_panics_on_pam_like_text(s in "([-@a-z_.=\\[\\]\\\\# \t]{0,40}\n){0,8}") {
            for e in parse(&s) {
                if let Entry::Module(m) = e {
                    prop_assert!(!m.module.is_empty());
                }
            }
        }

        #[test]
        fn loading_never_panics(a in "\\PC{0,200}", b in "\\PC{0,200}") {
            let a = format!("auth include b\n@include a\n{a}");
            let src = FakeHost::linux().files(&[("/etc/pam.d/a", a.as_str()), ("/etc/pam.d/b", b.as_str())]).host();
            let _ = load_stack(&src, "/etc/pam.d/a", Kind::Auth);
        }
    }
}
