//! The effective global `sshd_config` (sshd_config(5)) and the checks
//! `accounts.ssh_root_login` and `accounts.ssh_password_auth`.
//!
//! The configuration is read as OpenSSH's `servconf.c` reads it for `sshd -T`
//! without `-C` (no connection to match):
//!
//! - a line is `Keyword value…` or `Keyword=value…` (one `=`, blanks around it
//!   allowed); keywords are case-insensitive; leading and trailing white space is
//!   ignored; a line whose first word starts with `#` is a comment, and so is the
//!   rest of a line from a word starting with `#`; values may be quoted (`"…"`,
//!   `'…'`, with `\"`, `\'` and `\\` escapes);
//! - for each keyword the **first** value obtained wins;
//! - `Include` takes one or more globs, relative to `/etc/ssh` unless absolute;
//!   the matching files are read in lexical order at the point of the directive,
//!   inside the root (see [`super::glob`]); more than 16 levels of includes make
//!   sshd refuse to start, and the value is then unknown; `~` paths are not
//!   supported (unknown);
//! - after `Match`, lines apply only to matching connections and are ignored here,
//!   until the next `Match` or the end of the file that opened the block (an
//!   included file cannot change its includer's state). An `Include` inside a
//!   block that is ignored contributes nothing.
//! - `Match all` is the one block that applies to every connection. sshd applies
//!   the values of matching blocks over the global ones, so a value under
//!   `Match all` (the first one, if several) is the effective value even when a
//!   global line set the keyword earlier — this is what `sshd -T` prints.
//!
//! A file this agent cannot read stops the search at that point: a value found in
//! a `Match all` block before it is known; otherwise the value is unknown (the
//! file might set it, or override it under `Match all`).

use std::sync::Arc;

use attest_proto::{CheckResult, Evidence, Status};

use super::{FileRead, numbered};
use crate::checks::{Check, Context, not_applicable, unknown};
use crate::host::{Host, ReadError, join_path};

pub const SSHD_CONFIG: &str = "/etc/ssh/sshd_config";
/// `SSHDIR`: where relative `Include` patterns start.
pub const SSH_DIR: &str = "/etc/ssh";
/// OpenSSH's `SERVCONF_MAX_DEPTH`.
pub const MAX_DEPTH: usize = 16;
/// The most files read for one configuration (a guard against include fan-out).
pub const MAX_FILES: usize = 1000;

const WHITESPACE: [char; 4] = [' ', '\t', '\r', '\n'];

/// OpenSSH's `strdelim`: the next word, split at white space or one `=`, with
/// `"…"` quoting. `None` on an unterminated quote.
fn strdelim(s: &str) -> Option<(String, &str)> {
    let Some(i) = s.find(|c: char| WHITESPACE.contains(&c) || c == '"' || c == '=') else {
        return Some((s.to_owned(), ""));
    };
    let word = s.get(..i).unwrap_or("");
    let rest = s.get(i..).unwrap_or("");
    if let Some(after) = rest.strip_prefix('"') {
        let j = after.find('"')?;
        let token = format!("{word}{}", after.get(..j).unwrap_or(""));
        let rest = after.get(j + 1..).unwrap_or("");
        return Some((token, rest.trim_start_matches(WHITESPACE)));
    }
    let was_eq = rest.starts_with('=');
    let mut rest = rest.get(1..).unwrap_or("").trim_start_matches(WHITESPACE);
    if !was_eq && let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start_matches(WHITESPACE);
    }
    Some((word.to_owned(), rest))
}

/// OpenSSH's `argv_split` with comments ending the line.
fn argv_split(s: &str) -> Result<Vec<String>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars.get(i).copied().unwrap_or(' ');
        if c == ' ' || c == '\t' {
            i += 1;
            continue;
        }
        if c == '#' {
            break;
        }
        let mut quote: Option<char> = None;
        let mut arg = String::new();
        while let Some(&c) = chars.get(i) {
            let next = chars.get(i + 1).copied();
            if c == '\\' {
                if matches!(next, Some('\'' | '"' | '\\')) || (quote.is_none() && next == Some(' '))
                {
                    i += 1;
                    arg.push(next.unwrap_or('\\'));
                } else {
                    arg.push(c);
                }
            } else if quote.is_none() && (c == ' ' || c == '\t') {
                break;
            } else if quote.is_none() && (c == '"' || c == '\'') {
                quote = Some(c);
            } else if quote == Some(c) {
                quote = None;
            } else {
                arg.push(c);
            }
            i += 1;
        }
        if quote.is_some() {
            return Err("invalid quotes".to_owned());
        }
        out.push(arg);
    }
    Ok(out)
}

/// One configuration line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub lineno: usize,
    /// The keyword as written.
    pub keyword: String,
    pub args: Vec<String>,
    /// The line without surrounding white space, for evidence.
    pub text: String,
}

/// Parses one line: `Ok(None)` for blank lines and comments, `Err` for a line
/// sshd rejects.
pub fn parse_line(line: &str) -> Result<Option<(String, Vec<String>)>, String> {
    let line = line.trim_start_matches([' ', '\t', '\r']);
    let line = line.trim_end_matches([' ', '\t', '\r', '\n', '\u{0c}']);
    if line.is_empty() {
        return Ok(None);
    }
    let Some((mut keyword, mut rest)) = strdelim(line) else {
        return Err("invalid quotes".to_owned());
    };
    if keyword.is_empty() {
        match strdelim(rest) {
            Some((k, r)) => {
                keyword = k;
                rest = r;
            }
            None => return Err("invalid quotes".to_owned()),
        }
    }
    if keyword.is_empty() || keyword.starts_with('#') {
        return Ok(None);
    }
    let args = argv_split(rest)?;
    if args.is_empty() {
        // The reason never quotes the line: an Include can point at any file.
        return Err("a keyword without an argument".to_owned());
    }
    Ok(Some((keyword, args)))
}

/// Parses a whole file: directives, and the lines sshd rejects with why.
pub fn parse(text: &str) -> Vec<Result<Directive, (usize, String)>> {
    let mut out = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        match parse_line(line) {
            Ok(Some((keyword, args))) => out.push(Ok(Directive {
                lineno: i + 1,
                keyword,
                args,
                text: line.trim_matches(super::is_c_space).to_owned(),
            })),
            Ok(None) => {}
            Err(why) => out.push(Err((i + 1, why))),
        }
    }
    out
}

/// A global setting as sshd obtains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// Lowercase keyword.
    pub keyword: String,
    /// Set under `Match all`: overrides the lines outside Match blocks.
    pub match_all: bool,
    /// The first argument.
    pub value: String,
    pub file: String,
    pub lineno: usize,
    pub text: String,
}

/// What sshd meets while reading its configuration, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A line that applies globally.
    Setting(Setting),
    /// Something this agent cannot read or follow: nothing after it is known.
    Blocked(String),
}

/// The configuration as read: global settings in order, files read, notes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub events: Vec<Event>,
    pub files: Vec<FileRead>,
    /// Lines sshd rejects, files matched that are not regular files.
    pub notes: Vec<String>,
}

/// The effective value of a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    Found(&'a Setting),
    /// Not set: sshd's default applies.
    Default,
    /// Not set before something that could not be read.
    Blocked(&'a str),
}

impl Config {
    /// The effective value of `keyword` (any case): the first under `Match all`,
    /// else the first outside Match blocks, else the default.
    pub fn lookup(&self, keyword: &str) -> Lookup<'_> {
        let keyword = keyword.to_ascii_lowercase();
        let mut global = None;
        for event in &self.events {
            match event {
                Event::Blocked(why) => return Lookup::Blocked(why),
                Event::Setting(s) if s.keyword == keyword && s.match_all => {
                    return Lookup::Found(s);
                }
                Event::Setting(s) if s.keyword == keyword && global.is_none() => {
                    global = Some(s);
                }
                Event::Setting(_) => {}
            }
        }
        global.map_or(Lookup::Default, Lookup::Found)
    }

    pub fn file(&self, path: &str) -> Option<&FileRead> {
        self.files.iter().find(|f| f.path == path)
    }
}

struct Loader<'a> {
    src: &'a Host,
    /// Where relative `Include` patterns start ([`SSH_DIR`] on Linux and macOS).
    ssh_dir: &'a str,
    config: Config,
}

impl Loader<'_> {
    fn file(&mut self, path: &str, bytes: &[u8], depth: usize, in_match_all: bool) {
        self.config.files.push(FileRead::new(path, bytes));
        let mut active = true;
        let mut match_all = in_match_all;
        for line in parse(&String::from_utf8_lossy(bytes)) {
            let d = match line {
                Ok(d) => d,
                Err((lineno, why)) => {
                    self.config.notes.push(format!("{path}:{lineno}: {why}"));
                    continue;
                }
            };
            let keyword = d.keyword.to_ascii_lowercase();
            match keyword.as_str() {
                "match" => {
                    active = d.args.len() == 1
                        && d.args
                            .first()
                            .is_some_and(|a| a.eq_ignore_ascii_case("all"));
                    match_all = active;
                }
                "include" if active => self.include(path, &d, depth, match_all),
                "include" => {}
                _ if active => self.config.events.push(Event::Setting(Setting {
                    keyword,
                    match_all,
                    value: d.args.first().cloned().unwrap_or_default(),
                    file: path.to_owned(),
                    lineno: d.lineno,
                    text: d.text.clone(),
                })),
                _ => {}
            }
        }
    }

    fn include(&mut self, path: &str, d: &Directive, depth: usize, match_all: bool) {
        for pattern in &d.args {
            let at = format!("{path}:{}", d.lineno);
            if depth + 1 > MAX_DEPTH {
                self.config.events.push(Event::Blocked(format!(
                    "{at}: Include {pattern}: more than {MAX_DEPTH} levels of includes (sshd refuses this configuration)"
                )));
                return;
            }
            if pattern.starts_with('~') {
                self.config.events.push(Event::Blocked(format!(
                    "{at}: Include {pattern}: paths starting with ~ are not supported"
                )));
                return;
            }
            // Windows (`ssh_dir` is not /etc/ssh): drive-letter and
            // `__PROGRAMDATA__` paths are not followed, so they block rather than
            // silently match nothing.
            if self.ssh_dir != SSH_DIR
                && (pattern.get(1..2) == Some(":") || pattern.contains("__PROGRAMDATA__"))
            {
                self.config.events.push(Event::Blocked(format!(
                    "{at}: Include {pattern}: drive-letter and __PROGRAMDATA__ paths are not supported"
                )));
                return;
            }
            let full = if pattern.starts_with('/') {
                pattern.clone()
            } else {
                join_path(self.ssh_dir, pattern)
            };
            let paths = match super::glob::expand(self.src, &full) {
                Ok(p) => p,
                Err(e) => {
                    self.config
                        .events
                        .push(Event::Blocked(format!("{at}: Include {pattern}: {e}")));
                    return;
                }
            };
            for included in paths {
                if self.config.files.len() >= MAX_FILES {
                    self.config.events.push(Event::Blocked(format!(
                        "{at}: more than {MAX_FILES} files included"
                    )));
                    return;
                }
                match self.src.read(&included) {
                    Ok(bytes) => self.file(&included, &bytes, depth + 1, match_all),
                    Err(e) if e.is_not_found() => {}
                    Err(ReadError::NotAFile { .. }) => self
                        .config
                        .notes
                        .push(format!("{at}: {included} is not a regular file")),
                    Err(e) => {
                        self.config.events.push(Event::Blocked(e.to_string()));
                        return;
                    }
                }
            }
        }
    }
}

/// Reads the configuration starting at `path`; `Err` when `path` itself cannot
/// be read.
pub fn load(src: &Host, path: &str) -> Result<Config, ReadError> {
    load_in(src, path, SSH_DIR)
}

/// [`load`] with relative `Include` patterns starting at `ssh_dir` (Windows:
/// `/ProgramData/ssh`, OpenSSH's `__PROGRAMDATA__\ssh`).
pub fn load_in(src: &Host, path: &str, ssh_dir: &str) -> Result<Config, ReadError> {
    let bytes = src.read(path)?;
    let mut loader = Loader {
        src,
        ssh_dir,
        config: Config::default(),
    };
    loader.file(path, &bytes, 0, false);
    Ok(loader.config)
}

/// The host's sshd configuration, read once per run.
pub struct Memo(pub Result<Config, ReadError>);

pub fn get(ctx: &Context<'_>) -> Arc<Memo> {
    ctx.memo(|ctx| Memo(load(ctx.host, SSHD_CONFIG)))
}

/// The configuration, or the result to return when there is none.
fn config_or<'a>(id: &str, memo: &'a Memo) -> Result<&'a Config, Box<CheckResult>> {
    match &memo.0 {
        Ok(c) => Ok(c),
        Err(e) if e.is_not_found() => Err(Box::new(not_applicable(
            id,
            "no /etc/ssh/sshd_config: the OpenSSH server is not installed",
        ))),
        Err(e) => Err(Box::new(unknown(id, e.to_string()))),
    }
}

/// A keyword's effective value (lowercased) and where it came from; `Err` with
/// the reason when it cannot be known.
fn effective(
    config: &Config,
    keyword: &str,
    default: &str,
) -> Result<(String, Option<Setting>), String> {
    match config.lookup(keyword) {
        Lookup::Found(s) => Ok((s.value.to_ascii_lowercase(), Some(s.clone()))),
        Lookup::Default => Ok((default.to_owned(), None)),
        Lookup::Blocked(why) => Err(format!("{keyword} cannot be determined: {why}")),
    }
}

fn source_of(s: &Option<Setting>) -> String {
    match s {
        Some(s) if s.match_all => format!("{}:{}, under Match all", s.file, s.lineno),
        Some(s) => format!("{}:{}", s.file, s.lineno),
        None => "default".to_owned(),
    }
}

/// Evidence for the settings that decided: each deciding line in its file, or
/// for defaults every file read with a note that it does not set the keyword.
fn evidence(config: &Config, decided: &[(&str, &Option<Setting>)]) -> Vec<Evidence> {
    let mut per_file: Vec<(String, Vec<String>)> = Vec::new();
    let mut push = |path: &str, line: String| match per_file.iter_mut().find(|(p, _)| p == path) {
        Some((_, lines)) => lines.push(line),
        None => per_file.push((path.to_owned(), vec![line])),
    };
    for (keyword, setting) in decided {
        match setting {
            Some(s) => push(&s.file, numbered(s.lineno, &s.text)),
            None => {
                for f in &config.files {
                    push(&f.path, format!("(no global {keyword} line)"));
                }
            }
        }
    }
    per_file
        .into_iter()
        .filter_map(|(path, lines)| config.file(&path).map(|f| f.evidence(lines.join("\n"))))
        .collect()
}

fn files_read(config: &Config) -> Vec<&str> {
    config.files.iter().map(|f| f.path.as_str()).collect()
}

/// `accounts.ssh_root_login`: the effective `PermitRootLogin` is `no`,
/// `prohibit-password`, `without-password` or `forced-commands-only` (default
/// `prohibit-password`); fails on `yes`.
///
/// Values are compared case-insensitively, as sshd does. A value sshd does not
/// accept (it then refuses to start) is unknown. Not applicable without
/// `/etc/ssh/sshd_config`.
pub struct SshRootLogin;

impl Check for SshRootLogin {
    fn id(&self) -> &'static str {
        "accounts.ssh_root_login"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let memo = get(ctx);
        let config = match config_or(self.id(), &memo) {
            Ok(c) => c,
            Err(r) => return *r,
        };
        let (value, setting) = match effective(config, "PermitRootLogin", "prohibit-password") {
            Ok(v) => v,
            Err(why) => return unknown(self.id(), why).fact("files_read", files_read(config)),
        };
        let source = source_of(&setting);
        let status = match value.as_str() {
            "no" | "prohibit-password" | "without-password" | "forced-commands-only" => {
                Status::Pass
            }
            "yes" => Status::Fail,
            other => {
                return unknown(
                    self.id(),
                    format!("PermitRootLogin {other} ({source}) is not a value sshd accepts"),
                )
                .fact("files_read", files_read(config));
            }
        };
        let summary = match status {
            Status::Pass => {
                format!("PermitRootLogin is {value} ({source}): root cannot log in with a password")
            }
            _ => format!(
                "PermitRootLogin is yes ({source}): root can log in over SSH with a password"
            ),
        };
        CheckResult::new(self.id(), status, summary)
            .fact("permit_root_login", &value)
            .fact("source", &source)
            .fact("files_read", files_read(config))
            .fact("notes", &config.notes)
            .evidences(evidence(config, &[("PermitRootLogin", &setting)]))
    }
}

/// `accounts.ssh_password_auth`: the effective `PasswordAuthentication` is `no`
/// (default `yes`) and `PermitEmptyPasswords` is not `yes` (default `no`).
///
/// Not applicable without `/etc/ssh/sshd_config`; unknown when a value cannot be
/// determined or is not one sshd accepts (`yes`/`no`, any case).
pub struct SshPasswordAuth;

impl Check for SshPasswordAuth {
    fn id(&self) -> &'static str {
        "accounts.ssh_password_auth"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let memo = get(ctx);
        match config_or(self.id(), &memo) {
            Ok(config) => judge_password_auth(self.id(), config),
            Err(r) => *r,
        }
    }
}

/// The verdict of `accounts.ssh_password_auth` on a configuration as read
/// (shared with Windows, whose file is `%ProgramData%\ssh\sshd_config`).
pub fn judge_password_auth(id: &str, config: &Config) -> CheckResult {
    // Err holds why the value cannot be known.
    let get = |keyword: &str, default: &str| match effective(config, keyword, default) {
        Ok((v, s)) if v == "yes" || v == "no" => Ok((v, s)),
        Ok((v, s)) => Err(format!(
            "{keyword} {v} ({}) is not a value sshd accepts",
            source_of(&s)
        )),
        Err(why) => Err(why),
    };
    let values = get("PasswordAuthentication", "yes")
        .and_then(|pa| get("PermitEmptyPasswords", "no").map(|pe| (pa, pe)));
    let ((pa, pa_s), (pe, pe_s)) = match values {
        Ok(v) => v,
        Err(why) => return unknown(id, why).fact("files_read", files_read(config)),
    };
    let mut problems = Vec::new();
    if pa != "no" {
        problems.push(format!(
            "PasswordAuthentication is {pa} ({})",
            source_of(&pa_s)
        ));
    }
    if pe == "yes" {
        problems.push(format!(
            "PermitEmptyPasswords is yes ({})",
            source_of(&pe_s)
        ));
    }
    let (status, summary) = if problems.is_empty() {
        (
            Status::Pass,
            format!(
                "PasswordAuthentication is no ({}) and PermitEmptyPasswords is {pe} ({})",
                source_of(&pa_s),
                source_of(&pe_s)
            ),
        )
    } else {
        (
            Status::Fail,
            format!("{}: SSH accepts passwords", problems.join("; ")),
        )
    };
    CheckResult::new(id, status, summary)
        .fact("password_authentication", &pa)
        .fact("password_authentication_source", source_of(&pa_s))
        .fact("permit_empty_passwords", &pe)
        .fact("permit_empty_passwords_source", source_of(&pe_s))
        .fact("files_read", files_read(config))
        .fact("notes", &config.notes)
        .evidences(evidence(
            config,
            &[
                ("PasswordAuthentication", &pa_s),
                ("PermitEmptyPasswords", &pe_s),
            ],
        ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Thresholds;
    use crate::checks::linux::accounts::testutil::json;
    use crate::host::fake::{FakeHost, default_now};
    use proptest::prelude::*;

    /// Debian 12's `/etc/ssh/sshd_config` as shipped (abridged comments).
    const DEBIAN_SSHD_CONFIG: &str = "
# This is the sshd server system-wide configuration file.  See
# sshd_config(5) for more information.

# This sshd was compiled with PATH=/usr/local/bin:/usr/bin:/bin:/usr/games

# The strategy used for options in the default sshd_config shipped with
# OpenSSH is to specify options with their default value where
# possible, but leave them commented.  Uncommented options override the
# default value.

Include /etc/ssh/sshd_config.d/*.conf

#Port 22
#AddressFamily any
#ListenAddress 0.0.0.0
#ListenAddress ::

# Authentication:

#LoginGraceTime 2m
#PermitRootLogin prohibit-password
#StrictModes yes
#MaxAuthTries 6
#MaxSessions 10

#PubkeyAuthentication yes

# To disable tunneled clear text passwords, change to no here!
#PasswordAuthentication yes
#PermitEmptyPasswords no

# Change to yes to enable challenge-response passwords (beware issues with
# some PAM modules and threads)
KbdInteractiveAuthentication no

UsePAM yes

X11Forwarding yes
PrintMotd no

# Allow client to pass locale environment variables
AcceptEnv LANG LC_*

# override default of no subsystems
Subsystem\tsftp\t/usr/lib/openssh/sftp-server

# Example of overriding settings on a per-user basis
#Match User anoncvs
#\tX11Forwarding no
#\tAllowTcpForwarding no
#\tPermitTTY no
#\tForceCommand cvs server
";

    fn value<'a>(c: &'a Config, k: &str) -> Option<&'a str> {
        match c.lookup(k) {
            Lookup::Found(s) => Some(s.value.as_str()),
            _ => None,
        }
    }

    #[test]
    fn line_forms() {
        assert_eq!(
            parse_line("PermitRootLogin no").unwrap(),
            Some(("PermitRootLogin".into(), vec!["no".into()]))
        );
        assert_eq!(
            parse_line("  PasswordAuthentication=no").unwrap(),
            Some(("PasswordAuthentication".into(), vec!["no".into()]))
        );
        assert_eq!(
            parse_line("PasswordAuthentication = no # trailing comment").unwrap(),
            Some(("PasswordAuthentication".into(), vec!["no".into()]))
        );
        assert_eq!(
            parse_line("Banner \"/etc/my banner\"").unwrap(),
            Some(("Banner".into(), vec!["/etc/my banner".into()]))
        );
        assert_eq!(parse_line("   # PermitRootLogin yes").unwrap(), None);
        assert_eq!(parse_line("\t").unwrap(), None);
        assert!(parse_line("PermitRootLogin").is_err());
        assert!(parse_line("Banner \"unterminated").is_err());
    }

    #[test]
    fn first_value_wins_and_keywords_are_case_insensitive() {
        let src = FakeHost::linux()
            .files(&[(
                "/etc/ssh/sshd_config",
                "permitrootlogin no\nPermitRootLogin yes\nPERMITROOTLOGIN=yes\n",
            )])
            .host();
        let c = load(&src, "/etc/ssh/sshd_config").unwrap();
        let Lookup::Found(s) = c.lookup("PermitRootLogin") else {
            panic!()
        };
        assert_eq!((s.value.as_str(), s.lineno), ("no", 1));
    }

    #[test]
    fn include_is_read_at_the_point_of_the_directive_in_lexical_order() {
        let src = FakeHost::linux()
            .files(&[
                (
                    "/etc/ssh/sshd_config",
                    DEBIAN_SSHD_CONFIG
                        .replace("#PasswordAuthentication yes", "PasswordAuthentication yes")
                        .as_str(),
                ),
                (
                    "/etc/ssh/sshd_config.d/50-cloud-init.conf",
                    "PasswordAuthentication no\n",
                ),
                (
                    "/etc/ssh/sshd_config.d/10-first.conf",
                    "PermitRootLogin no\n",
                ),
                (
                    "/etc/ssh/sshd_config.d/60-later.conf",
                    "PermitRootLogin yes\nPasswordAuthentication yes\n",
                ),
            ])
            .host();
        let c = load(&src, "/etc/ssh/sshd_config").unwrap();
        // The include comes before the main file's own line: its value wins.
        assert_eq!(value(&c, "PasswordAuthentication"), Some("no"));
        assert_eq!(value(&c, "PermitRootLogin"), Some("no"));
        let files: Vec<_> = c.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            files,
            [
                "/etc/ssh/sshd_config",
                "/etc/ssh/sshd_config.d/10-first.conf",
                "/etc/ssh/sshd_config.d/50-cloud-init.conf",
                "/etc/ssh/sshd_config.d/60-later.conf"
            ]
        );
    }

    #[test]
    fn include_after_a_setting_does_not_override_it() {
        let src = FakeHost::linux()
            .files(&[
                (
                    "/etc/ssh/sshd_config",
                    "PermitRootLogin yes\nInclude sshd_config.d/*.conf\n",
                ),
                ("/etc/ssh/sshd_config.d/a.conf", "PermitRootLogin no\n"),
            ])
            .host();
        let c = load(&src, "/etc/ssh/sshd_config").unwrap();
        assert_eq!(value(&c, "permitrootlogin"), Some("yes"));
        assert_eq!(c.files.len(), 2, "relative patterns start at /etc/ssh");
    }

    #[test]
    fn match_blocks_are_ignored_until_the_next_match_or_end_of_file() {
        let src = FakeHost::linux()
            .files(&[
                (
                    "/etc/ssh/sshd_config",
                    "Include /etc/ssh/sshd_config.d/*.conf\nMatch User admin\n  PasswordAuthentication yes\nMatch all\nPermitEmptyPasswords yes\n",
                ),
                (
                    "/etc/ssh/sshd_config.d/a.conf",
                    "Match Address 10.0.0.0/8\nPermitRootLogin yes\n",
                ),
                ("/etc/ssh/sshd_config.d/b.conf", "PermitRootLogin no\n"),
            ])
            .host();
        let c = load(&src, "/etc/ssh/sshd_config").unwrap();
        // a.conf's Match ends with a.conf: b.conf's line is global.
        assert_eq!(value(&c, "PermitRootLogin"), Some("no"));
        assert_eq!(c.lookup("PasswordAuthentication"), Lookup::Default);
        // `Match all` makes lines global again.
        assert_eq!(value(&c, "PermitEmptyPasswords"), Some("yes"));
    }

    #[test]
    fn a_match_block_in_the_main_file_covers_a_later_include() {
        let src = FakeHost::linux()
            .files(&[
                (
                    "/etc/ssh/sshd_config",
                    "Match User x\nInclude /etc/ssh/inc.conf\n",
                ),
                ("/etc/ssh/inc.conf", "Match all\nPermitRootLogin yes\n"),
            ])
            .host();
        let c = load(&src, "/etc/ssh/sshd_config").unwrap();
        assert_eq!(c.lookup("PermitRootLogin"), Lookup::Default);
    }

    #[test]
    fn match_all_overrides_global_lines_as_sshd_t_shows() {
        let src = FakeHost::linux()
            .files(&[(
                "/etc/ssh/sshd_config",
                "PermitRootLogin no\nPasswordAuthentication no\nMatch all\nPermitRootLogin yes\nPermitRootLogin no\nMatch User x\nPasswordAuthentication yes\n",
            )])
            .host();
        let c = load(&src, "/etc/ssh/sshd_config").unwrap();
        let Lookup::Found(s) = c.lookup("PermitRootLogin") else {
            panic!()
        };
        assert_eq!((s.value.as_str(), s.lineno, s.match_all), ("yes", 4, true));
        assert_eq!(value(&c, "PasswordAuthentication"), Some("no"));
    }

    #[test]
    fn unreadable_includes_make_what_they_might_set_unknown() {
        let denied = "/etc/ssh/sshd_config.d/50-cloud-init.conf";
        let load_with = |main: &str| {
            let src = FakeHost::linux()
                .files(&[
                    ("/etc/ssh/sshd_config", main),
                    (denied, "PasswordAuthentication no\n"),
                ])
                .deny(denied)
                .host();
            load(&src, "/etc/ssh/sshd_config").unwrap()
        };
        // A global value before the unreadable file could still be overridden
        // there under `Match all`.
        let c = load_with("PermitRootLogin no\nInclude /etc/ssh/sshd_config.d/*.conf\n");
        assert_eq!(
            c.lookup("PermitRootLogin"),
            Lookup::Blocked(
                "/etc/ssh/sshd_config.d/50-cloud-init.conf: permission denied; run as root"
            )
        );
        // A `Match all` value before it cannot be.
        let c = load_with("Match all\nPermitRootLogin no\nInclude /etc/ssh/sshd_config.d/*.conf\n");
        assert_eq!(value(&c, "PermitRootLogin"), Some("no"));
        assert!(matches!(
            c.lookup("PasswordAuthentication"),
            Lookup::Blocked(_)
        ));
    }

    #[test]
    fn include_loops_stop_at_sixteen_levels() {
        let src = FakeHost::linux()
            .files(&[("/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config\n")])
            .host();
        let c = load(&src, "/etc/ssh/sshd_config").unwrap();
        assert_eq!(c.files.len(), 17);
        assert!(
            matches!(c.lookup("PermitRootLogin"), Lookup::Blocked(w) if w.contains("more than 16 levels"))
        );
    }

    fn run_checks(files: &[(&str, &str)]) -> (CheckResult, CheckResult) {
        // Both checks on one run, as the agent runs them.
        let h = FakeHost::linux().files(files).host();
        let t = Thresholds::default();
        let c = Context::new(&h, default_now(), &t);
        (SshRootLogin.run(&c), SshPasswordAuth.run(&c))
    }

    #[test]
    fn debian_defaults() {
        let (root, pw) = run_checks(&[("/etc/ssh/sshd_config", DEBIAN_SSHD_CONFIG)]);
        assert_eq!(root.status, Status::Pass, "{root:?}");
        assert_eq!(root.facts["permit_root_login"], "prohibit-password");
        assert_eq!(root.facts["source"], "default");
        assert_eq!(pw.status, Status::Fail);
        assert_eq!(pw.facts["password_authentication"], "yes");
        assert!(
            pw.summary
                .starts_with("PasswordAuthentication is yes (default)"),
            "{}",
            pw.summary
        );
    }

    #[test]
    fn cloud_init_drop_in_turns_passwords_off() {
        let (root, pw) = run_checks(&[
            ("/etc/ssh/sshd_config", DEBIAN_SSHD_CONFIG),
            (
                "/etc/ssh/sshd_config.d/50-cloud-init.conf",
                "PasswordAuthentication no\n",
            ),
        ]);
        assert_eq!(root.status, Status::Pass);
        assert_eq!(pw.status, Status::Pass, "{pw:?}");
        assert_eq!(
            pw.facts["password_authentication_source"],
            "/etc/ssh/sshd_config.d/50-cloud-init.conf:1"
        );
        let Evidence::File { path, excerpt, .. } = &pw.evidence[0] else {
            panic!()
        };
        assert_eq!(path, "/etc/ssh/sshd_config.d/50-cloud-init.conf");
        assert!(
            excerpt.starts_with("1: PasswordAuthentication no\n"),
            "{excerpt}"
        );
    }

    #[test]
    fn root_login_yes_and_empty_passwords_fail() {
        let (root, pw) = run_checks(&[(
            "/etc/ssh/sshd_config",
            "PermitRootLogin=YES\nPasswordAuthentication no\nPermitEmptyPasswords yes\n",
        )]);
        assert_eq!(root.status, Status::Fail);
        assert_eq!(root.facts["permit_root_login"], "yes");
        assert_eq!(pw.status, Status::Fail);
        assert!(
            pw.summary
                .contains("PermitEmptyPasswords is yes (/etc/ssh/sshd_config:3)")
        );
    }

    /// A shadow-style hash line and an OpenSSH private key, as an `Include`
    /// pointed at the wrong file would bring them in.
    pub(crate) const SECRET_FILE: &str = "root:$6$rounds=5000$Xq1v9Lr2$Zz0mYpQ8aT4nV6cW2bE7hJ1kL3sD5fG9uI0oP.aS/dF4gH6jK8lZ0xC2vB4nM6qW8eR0tY2uI4oP6aS8dF0gH:19700:0:99999:7:::
-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACBkZXRlc3RzZWNyZXRrZXlsaW5lZm9ydGhlYWdlbnR0ZXN0AAAAoH5q2w1+
-----END OPENSSH PRIVATE KEY-----
alice:$y$j9T$Qm4bHc1Xv0bNw5sV7dZ9E.$kq3n0GgZ8yLwz1mJcV2tRrD5sX9uP6hQyA7bC4eF0i1:19700:0:99999:7:::
";

    #[test]
    fn regression_included_secrets_never_reach_the_result() {
        let (root, pw) = run_checks(&[
            (
                "/etc/ssh/sshd_config",
                "PermitRootLogin no\nPasswordAuthentication no\nInclude /etc/ssh/leak\n",
            ),
            ("/etc/ssh/leak", SECRET_FILE),
        ]);
        assert_eq!(root.status, Status::Pass, "{root:?}");
        assert_eq!(pw.status, Status::Pass, "{pw:?}");
        for r in [&root, &pw] {
            let out = json(r);
            for line in SECRET_FILE.lines() {
                for piece in line.split([':', ' ']).filter(|p| p.len() >= 8) {
                    assert!(!out.contains(piece), "{piece} in {out}");
                }
            }
            assert!(!out.contains("$6$") && !out.contains("$y$"), "{out}");
            assert!(!out.contains("PRIVATE KEY"), "{out}");
            // The lines sshd rejects are named by file and number.
            let notes = r.facts["notes"].to_string();
            assert!(notes.contains("/etc/ssh/leak:3: "), "{notes}");
            assert!(notes.contains("/etc/ssh/leak:6: "), "{notes}");
        }
    }

    #[test]
    fn regression_match_all_applies_to_the_global_value() {
        let src = FakeHost::linux()
            .files(&[(
                "/etc/ssh/sshd_config",
                "PasswordAuthentication no\nMatch Address 10.0.0.0/8\nPermitRootLogin no\nMatch ALL # everyone\nPasswordAuthentication yes\nMatch User root\nPermitRootLogin no\n",
            )])
            .host();
        let c = load(&src, "/etc/ssh/sshd_config").unwrap();
        assert_eq!(value(&c, "PasswordAuthentication"), Some("yes"));
        assert_eq!(c.lookup("PermitRootLogin"), Lookup::Default);
    }

    #[test]
    fn bad_values_are_unknown_and_missing_config_not_applicable() {
        let (root, _) = run_checks(&[("/etc/ssh/sshd_config", "PermitRootLogin maybe\n")]);
        assert_eq!(root.status, Status::Unknown);
        let (root, pw) = run_checks(&[]);
        assert_eq!(root.status, Status::NotApplicable);
        assert_eq!(pw.status, Status::NotApplicable);
        assert!(root.reason.unwrap().contains("/etc/ssh/sshd_config"));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = parse(&s);
        }

        #[test]
        fn parse_never_panics_on_config_like_text(s in "([A-Za-z=\"'#\\\\ \t]{0,30}\n){0,8}") {
            for d in parse(&s).into_iter().flatten() {
                prop_assert!(!d.args.is_empty());
            }
        }

        #[test]
        fn loading_never_panics(main in "\\PC{0,120}", inc in "\\PC{0,120}") {
            let main = format!("Include /etc/ssh/d/*.conf\n{main}");
            let src = FakeHost::linux().files(&[("/etc/ssh/sshd_config", main.as_str()), ("/etc/ssh/d/a.conf", inc.as_str())]).host();
            let _ = load(&src, "/etc/ssh/sshd_config");
        }
    }
}
