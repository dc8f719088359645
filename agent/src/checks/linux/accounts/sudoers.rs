//! sudoers (sudoers(5)) and `accounts.sudo_nopasswd`.
//!
//! Read as sudo's lexer reads it:
//!
//! - `#` starts a comment, except `#include` / `#includedir` at the very start of
//!   a line (followed by a blank) and `#` followed by a digit or `-digit` (a UID or
//!   GID such as `#0`, `%#1000`). A `#` inside double quotes or after a backslash
//!   is literal. A comment runs to the end of the physical line; a trailing `\`
//!   on it does not continue it.
//! - A trailing `\` (blanks allowed after it) continues a line on the next one.
//! - `@include FILE` / `#include FILE` read FILE at that point; `@includedir DIR`
//!   / `#includedir DIR` read the files of DIR in bytewise order, skipping names
//!   that end in `~` or contain a `.`, and anything that is not a regular file
//!   once links are followed (directories, FIFOs, dangling links, link loops: none
//!   of them makes the result unknown); a missing directory is ignored. Relative paths are relative to the directory
//!   of the including file (sudo ≥ 1.9.1); the path may be quoted. `%h` (the
//!   host name) is **not supported**: such an include is reported as not
//!   followed. Including a file that is already being read (a loop) is skipped
//!   and noted; sudo stops at 128 levels. sudo's check that an include directory
//!   is owned by root and not writable by others is not repeated here.
//! - `Defaults`, `Defaults:users`, `Defaults@hosts`, `Defaults>runas` and
//!   `Defaults!commands` lines carry comma-separated parameters; `!authenticate`
//!   (an odd number of `!`) turns authentication off.
//! - A user specification is `users hosts = [(runas)] [OPTION=value…] [TAG:…]
//!   command, … [: hosts = …]`; a rule carries `NOPASSWD:` when that tag appears
//!   before any of its commands (tags inside command arguments are arguments).
//!   A line this parser cannot read is kept, and counts as carrying `NOPASSWD:`
//!   when the text `NOPASSWD:` appears in it outside a comment.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use attest_proto::{CheckResult, Status};
use serde_json::json;

use super::{FileRead, numbered, parent_dir, resolve_relative};
use crate::checks::{Check, Context, not_applicable, unknown};
use crate::host::{Host, ReadError, join_path};

pub const SUDOERS_PATH: &str = "/etc/sudoers";
/// sudo's `MAX_SUDOERS_DEPTH`.
pub const MAX_DEPTH: usize = 128;
/// The most files read for one sudoers (a guard against include fan-out).
pub const MAX_FILES: usize = 1000;

const TAGS: [&str; 16] = [
    "NOPASSWD",
    "PASSWD",
    "NOEXEC",
    "EXEC",
    "INTERCEPT",
    "NOINTERCEPT",
    "SETENV",
    "NOSETENV",
    "LOG_OUTPUT",
    "NOLOG_OUTPUT",
    "LOG_INPUT",
    "NOLOG_INPUT",
    "MAIL",
    "NOMAIL",
    "FOLLOW",
    "NOFOLLOW",
];

const OPTIONS: [&str; 10] = [
    "ROLE",
    "TYPE",
    "CWD",
    "CHROOT",
    "TIMEOUT",
    "NOTBEFORE",
    "NOTAFTER",
    "APPARMOR_PROFILE",
    "PRIVS",
    "LIMITPRIVS",
];

const DIGESTS: [&str; 4] = ["sha224", "sha256", "sha384", "sha512"];

/// A logical line: where it starts, its text without comment, and whether it is
/// a `#include`/`#includedir` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalLine {
    pub lineno: usize,
    pub text: String,
}

fn hash_include(line: &str) -> Option<(bool, &str)> {
    for (prefix, dir) in [("#includedir", true), ("#include", false)] {
        if let Some(rest) = line.strip_prefix(prefix)
            && rest.starts_with([' ', '\t'])
        {
            return Some((dir, rest));
        }
    }
    None
}

/// Joins continuations and removes comments (see the module doc).
pub fn logical_lines(text: &str) -> Vec<LogicalLine> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, physical) in text.split('\n').enumerate() {
        let physical = physical.strip_suffix('\r').unwrap_or(physical);
        if pending.is_none() && hash_include(physical).is_some() {
            out.push(LogicalLine {
                lineno: i + 1,
                text: physical.trim_end().to_owned(),
            });
            continue;
        }
        let chars: Vec<char> = physical.chars().collect();
        let mut kept = String::new();
        let mut in_quote = false;
        let mut commented = false;
        let mut continues = false;
        let mut j = 0;
        while let Some(&c) = chars.get(j) {
            match c {
                '\\' => {
                    let rest_blank = chars
                        .get(j + 1..)
                        .is_some_and(|r| r.iter().all(|c| *c == ' ' || *c == '\t'));
                    if rest_blank {
                        continues = true;
                        break;
                    }
                    kept.push(c);
                    if let Some(&n) = chars.get(j + 1) {
                        kept.push(n);
                    }
                    j += 2;
                    continue;
                }
                '"' => in_quote = !in_quote,
                '#' if !in_quote => {
                    let next = chars.get(j + 1).copied();
                    let after = chars.get(j + 2).copied();
                    let is_id = next.is_some_and(|n| n.is_ascii_digit())
                        || (next == Some('-') && after.is_some_and(|a| a.is_ascii_digit()));
                    if !is_id {
                        commented = true;
                        break;
                    }
                }
                _ => {}
            }
            kept.push(c);
            j += 1;
        }
        let continues = continues && !commented;
        match pending.as_mut() {
            Some((_, acc)) => {
                acc.push(' ');
                acc.push_str(&kept);
            }
            None => pending = Some((i + 1, kept)),
        }
        if !continues && let Some((lineno, acc)) = pending.take() {
            let t = acc.trim();
            if !t.is_empty() {
                out.push(LogicalLine {
                    lineno,
                    text: t.to_owned(),
                });
            }
        }
    }
    if let Some((lineno, acc)) = pending.take() {
        let t = acc.trim();
        if !t.is_empty() {
            out.push(LogicalLine {
                lineno,
                text: t.to_owned(),
            });
        }
    }
    out
}

/// The kinds of alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasKind {
    User,
    Runas,
    Host,
    Cmnd,
}

/// A member of a list, possibly negated (`!bob`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub negated: bool,
    pub name: String,
}

/// A user specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub users: Vec<Member>,
    /// Every command of every host section.
    pub commands: Vec<Member>,
    /// A `NOPASSWD:` tag appears in the rule.
    pub nopasswd: bool,
}

/// What a logical line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Include {
        path: String,
        dir: bool,
    },
    Defaults {
        /// `:users`, `@hosts`, `>runas`, `!commands`, or empty.
        binding: String,
        params: Vec<String>,
        /// `!authenticate` is among the parameters.
        disables_authenticate: bool,
    },
    Alias {
        kind: AliasKind,
        defs: Vec<(String, Vec<Member>)>,
    },
    Rule(Rule),
    /// Not understood by this parser.
    Unparsed {
        reason: String,
        nopasswd: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub lineno: usize,
    pub text: String,
    pub item: Item,
}

/// Splits at `sep` outside double quotes, keeping backslash escapes.
fn split_top(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            cur.push(c);
            if let Some(n) = chars.next() {
                cur.push(n);
            }
            continue;
        }
        if c == '"' {
            in_quote = !in_quote;
        }
        if c == sep && !in_quote {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

/// Removes quotes and backslash escapes from an include path.
fn include_path(rest: &str) -> Option<String> {
    let rest = rest.trim_start_matches([' ', '\t']);
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    if rest.starts_with('"') {
        chars.next();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.extend(chars.next()),
                '"' => return Some(out),
                _ => out.push(c),
            }
        }
        return None;
    }
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            ' ' | '\t' => break,
            _ => out.push(c),
        }
    }
    (!out.is_empty()).then_some(out)
}

fn keyword_rest<'a>(text: &'a str, keyword: &str) -> Option<&'a str> {
    let rest = text.strip_prefix(keyword)?;
    (rest.is_empty() || rest.starts_with([' ', '\t'])).then_some(rest)
}

/// The binding and parameters of a Defaults line (the text after `Defaults`),
/// and whether a parameter is `!authenticate`.
fn defaults(after: &str) -> (String, Vec<String>, bool) {
    let mut binding = String::new();
    let mut params_text = after;
    if let Some(c) = after
        .chars()
        .next()
        .filter(|c| matches!(c, ':' | '@' | '>' | '!'))
    {
        binding.push(c);
        let rest = after
            .get(c.len_utf8()..)
            .unwrap_or("")
            .trim_start_matches([' ', '\t']);
        // The binding list: items joined by commas (blanks allowed around them),
        // ended by a blank that is not next to a comma.
        let chars: Vec<(usize, char)> = rest.char_indices().collect();
        let mut end = rest.len();
        let mut j = 0;
        let mut in_quote = false;
        while let Some(&(at, ch)) = chars.get(j) {
            if ch == '\\' {
                binding.push(ch);
                binding.extend(chars.get(j + 1).map(|(_, n)| *n));
                j += 2;
                continue;
            }
            if ch == '"' {
                in_quote = !in_quote;
            }
            if !in_quote && (ch == ' ' || ch == '\t') {
                let mut k = j;
                while chars.get(k).is_some_and(|(_, c)| *c == ' ' || *c == '\t') {
                    k += 1;
                }
                let next_comma = chars.get(k).is_some_and(|(_, c)| *c == ',');
                if next_comma || binding.ends_with(',') {
                    j = k;
                    continue;
                }
                end = at;
                break;
            }
            binding.push(ch);
            j += 1;
        }
        params_text = rest.get(end..).unwrap_or("");
    }
    let params: Vec<String> = split_top(params_text, ',')
        .into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    let off = params.iter().any(|p| negates_authenticate(p));
    (binding, params, off)
}

/// `!authenticate`, `!!!authenticate`, `! authenticate`.
fn negates_authenticate(param: &str) -> bool {
    let mut bangs = 0;
    let mut rest = param.trim_start();
    while let Some(r) = rest.strip_prefix('!') {
        bangs += 1;
        rest = r.trim_start();
    }
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
        .collect();
    name == "authenticate" && bangs % 2 == 1 && rest.len() == name.len()
}

fn members(list: &str) -> Vec<Member> {
    split_top(list, ',')
        .into_iter()
        .filter_map(|m| {
            let m = m.trim();
            let mut bangs = 0;
            let mut rest = m;
            while let Some(r) = rest.strip_prefix('!') {
                bangs += 1;
                rest = r.trim_start();
            }
            let rest = rest.trim_matches('"');
            (!rest.is_empty()).then(|| Member {
                negated: bangs % 2 == 1,
                name: rest.to_owned(),
            })
        })
        .collect()
}

fn alias(kind: AliasKind, rest: &str) -> Item {
    let mut defs = Vec::new();
    for part in split_top(rest, ':') {
        let Some((name, list)) = part.split_once('=') else {
            return Item::Unparsed {
                reason: "alias without '='".to_owned(),
                nopasswd: false,
            };
        };
        defs.push((name.trim().to_owned(), members(list)));
    }
    Item::Alias { kind, defs }
}

/// Tokens of a user specification.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Command(String),
    LParen,
    RParen,
    Comma,
    Eq,
    Colon,
    Not,
    Tag(String),
}

impl Tok {
    /// What kind of token this is, without its text: reasons for lines not
    /// understood never quote the line (it could be anything an include points
    /// at, a password hash included).
    fn kind(&self) -> &'static str {
        match self {
            Tok::Word(_) => "a word",
            Tok::Command(_) => "a command",
            Tok::LParen => "'('",
            Tok::RParen => "')'",
            Tok::Comma => "','",
            Tok::Eq => "'='",
            Tok::Colon => "':'",
            Tok::Not => "'!'",
            Tok::Tag(_) => "a tag",
        }
    }
}

fn is_word_char(c: char) -> bool {
    !matches!(
        c,
        '#' | '>' | '!' | '=' | ':' | ',' | '(' | ')' | ' ' | '\t' | '\r' | '\n' | '\\' | '"'
    )
}

fn lex(text: &str) -> Vec<Tok> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<Tok> = Vec::new();
    let mut i = 0;
    let blank = |c: char| c == ' ' || c == '\t';
    while let Some(&c) = chars.get(i) {
        if blank(c) {
            i += 1;
            continue;
        }
        let single = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ',' => Some(Tok::Comma),
            '=' => Some(Tok::Eq),
            ':' => Some(Tok::Colon),
            _ => None,
        };
        if let Some(t) = single {
            out.push(t);
            i += 1;
            continue;
        }
        if c == '!' {
            let mut n = 0;
            while chars.get(i) == Some(&'!') {
                n += 1;
                i += 1;
            }
            if n % 2 == 1 {
                out.push(Tok::Not);
            }
            continue;
        }
        if c == '"' {
            let mut word = String::new();
            i += 1;
            while let Some(&d) = chars.get(i) {
                i += 1;
                match d {
                    '\\' => {
                        word.extend(chars.get(i));
                        i += 1;
                    }
                    '"' => break,
                    _ => word.push(d),
                }
            }
            out.push(Tok::Word(word));
            continue;
        }
        let after_option = matches!(
            out.as_slice(),
            [.., Tok::Word(w), Tok::Eq] if w == "CWD" || w == "CHROOT"
        );
        let starts_command = (c == '/' || c == '^') && !after_option;
        if starts_command {
            // The path (or regex), then the arguments up to , : = # or the end.
            let mut cmd = String::new();
            let stop_path = |d: char| matches!(d, ',' | ':' | '=' | ' ' | '\t' | '#');
            let regex = c == '^';
            while let Some(&d) = chars.get(i) {
                if d == '\\' {
                    cmd.push(d);
                    cmd.extend(chars.get(i + 1));
                    i += 2;
                    continue;
                }
                if regex {
                    cmd.push(d);
                    i += 1;
                    if d == '$' {
                        break;
                    }
                    continue;
                }
                if stop_path(d) {
                    break;
                }
                cmd.push(d);
                i += 1;
            }
            if !cmd.ends_with('/') {
                let mut args = String::new();
                while let Some(&d) = chars.get(i) {
                    if d == '\\' {
                        args.push(d);
                        args.extend(chars.get(i + 1));
                        i += 2;
                        continue;
                    }
                    if matches!(d, ',' | ':' | '=' | '#') {
                        break;
                    }
                    args.push(d);
                    i += 1;
                }
                let args = args.trim();
                if !args.is_empty() {
                    cmd.push(' ');
                    cmd.push_str(args);
                }
            }
            out.push(Tok::Command(cmd));
            continue;
        }
        // A word: %group, %:group, %#gid, #uid, +netgroup, names, aliases, ALL.
        let mut word = String::new();
        if matches!(c, '%' | '+' | '#') {
            word.push(c);
            i += 1;
            if c == '%' && chars.get(i) == Some(&':') {
                word.push(':');
                i += 1;
            }
            if chars.get(i) == Some(&'#') {
                word.push('#');
                i += 1;
            }
            if chars.get(i) == Some(&'-') {
                word.push('-');
                i += 1;
            }
        }
        while let Some(&d) = chars.get(i) {
            if d == '\\' {
                word.extend(chars.get(i + 1));
                i += 2;
                continue;
            }
            if !is_word_char(d) {
                break;
            }
            word.push(d);
            i += 1;
        }
        if word.is_empty() {
            // A character no rule takes: keep it so that parsing fails cleanly.
            word.push(c);
            i += 1;
        }
        if word == "sudoedit" {
            let mut args = String::new();
            while let Some(&d) = chars.get(i) {
                if matches!(d, ',' | ':' | '=' | '#') {
                    break;
                }
                args.push(d);
                i += 1;
            }
            let args = args.trim();
            out.push(Tok::Command(if args.is_empty() {
                word
            } else {
                format!("sudoedit {args}")
            }));
            continue;
        }
        // A tag is its word followed by ':' (blanks allowed).
        if TAGS.contains(&word.as_str()) {
            let mut k = i;
            while chars.get(k).is_some_and(|c| blank(*c)) {
                k += 1;
            }
            if chars.get(k) == Some(&':') {
                out.push(Tok::Tag(word));
                i = k + 1;
                continue;
            }
        }
        out.push(Tok::Word(word));
    }
    out
}

struct RuleParser {
    toks: Vec<Tok>,
    pos: usize,
}

impl RuleParser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    /// `[!]word (, [!]word)*`
    fn list(&mut self, what: &str) -> Result<Vec<Member>, String> {
        let mut out = Vec::new();
        loop {
            let mut negated = false;
            while self.peek() == Some(&Tok::Not) {
                negated = !negated;
                self.pos += 1;
            }
            match self.next() {
                Some(Tok::Word(w)) => out.push(Member { negated, name: w }),
                other => {
                    return Err(format!(
                        "expected a {what}, found {}",
                        other.map_or("the end of the line", |t| t.kind())
                    ));
                }
            }
            if self.peek() == Some(&Tok::Comma) {
                self.pos += 1;
            } else {
                return Ok(out);
            }
        }
    }

    fn rule(&mut self) -> Result<Rule, String> {
        let users = self.list("user")?;
        let mut commands = Vec::new();
        let mut nopasswd = false;
        loop {
            self.list("host")?;
            if self.next() != Some(Tok::Eq) {
                return Err("expected '='".to_owned());
            }
            loop {
                if self.peek() == Some(&Tok::LParen) {
                    while let Some(t) = self.next() {
                        if t == Tok::RParen {
                            break;
                        }
                    }
                }
                while let (Some(Tok::Word(w)), Some(Tok::Eq)) = (self.peek(), self.peek_at(1)) {
                    if !OPTIONS.contains(&w.as_str()) {
                        break;
                    }
                    self.pos += 3;
                }
                while let Some(Tok::Tag(t)) = self.peek() {
                    if t == "NOPASSWD" {
                        nopasswd = true;
                    }
                    self.pos += 1;
                }
                if let (Some(Tok::Word(w)), Some(Tok::Colon)) = (self.peek(), self.peek_at(1))
                    && DIGESTS.contains(&w.as_str())
                {
                    self.pos += 3;
                    while self.peek() == Some(&Tok::Comma)
                        && matches!(self.peek_at(1), Some(Tok::Word(_)))
                        && !matches!(self.peek_at(2), Some(Tok::Comma | Tok::Colon))
                    {
                        self.pos += 2;
                    }
                }
                let mut negated = false;
                while self.peek() == Some(&Tok::Not) {
                    negated = !negated;
                    self.pos += 1;
                }
                match self.next() {
                    Some(Tok::Word(w) | Tok::Command(w)) => {
                        commands.push(Member { negated, name: w })
                    }
                    other => {
                        return Err(format!(
                            "expected a command, found {}",
                            other.map_or("the end of the line", |t| t.kind())
                        ));
                    }
                }
                if self.peek() == Some(&Tok::Comma) {
                    self.pos += 1;
                } else {
                    break;
                }
            }
            match self.next() {
                None => {
                    return Ok(Rule {
                        users,
                        commands,
                        nopasswd,
                    });
                }
                Some(Tok::Colon) => continue,
                Some(other) => return Err(format!("unexpected {}", other.kind())),
            }
        }
    }
}

/// `NOPASSWD` followed by `:` as a word of its own, anywhere in `text`.
fn mentions_nopasswd(text: &str) -> bool {
    let mut search = text;
    while let Some(i) = search.find("NOPASSWD") {
        let before_ok = search
            .get(..i)
            .and_then(|b| b.chars().last())
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        let after = search.get(i + 8..).unwrap_or("");
        if before_ok && after.trim_start_matches([' ', '\t']).starts_with(':') {
            return true;
        }
        search = after;
    }
    false
}

fn classify(text: &str) -> Item {
    if let Some((dir, rest)) = hash_include(text) {
        return match include_path(rest) {
            Some(path) => Item::Include { path, dir },
            None => Item::Unparsed {
                reason: "include without a path".to_owned(),
                nopasswd: false,
            },
        };
    }
    for (keyword, dir) in [("@includedir", true), ("@include", false)] {
        if let Some(rest) = keyword_rest(text, keyword) {
            return match include_path(rest) {
                Some(path) => Item::Include { path, dir },
                None => Item::Unparsed {
                    reason: "include without a path".to_owned(),
                    nopasswd: false,
                },
            };
        }
    }
    if let Some(after) = text.strip_prefix("Defaults")
        && (after.is_empty() || after.starts_with([' ', '\t', ':', '@', '>', '!']))
    {
        let (binding, params, disables_authenticate) = defaults(after);
        return Item::Defaults {
            binding,
            params,
            disables_authenticate,
        };
    }
    for (keyword, kind) in [
        ("User_Alias", AliasKind::User),
        ("Runas_Alias", AliasKind::Runas),
        ("Host_Alias", AliasKind::Host),
        ("Cmnd_Alias", AliasKind::Cmnd),
        ("Cmd_Alias", AliasKind::Cmnd),
    ] {
        if let Some(rest) = keyword_rest(text, keyword) {
            return alias(kind, rest);
        }
    }
    let mut parser = RuleParser {
        toks: lex(text),
        pos: 0,
    };
    match parser.rule() {
        Ok(rule) => Item::Rule(rule),
        Err(reason) => Item::Unparsed {
            reason,
            nopasswd: mentions_nopasswd(text),
        },
    }
}

/// Parses one sudoers file into its lines.
pub fn parse(text: &str) -> Vec<Line> {
    logical_lines(text)
        .into_iter()
        .map(|l| Line {
            item: classify(&l.text),
            lineno: l.lineno,
            text: l.text,
        })
        .collect()
}

/// A line and the file it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLine {
    pub file: String,
    pub line: Line,
}

/// sudoers with its includes followed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sudoers {
    pub lines: Vec<FileLine>,
    pub files: Vec<FileRead>,
    /// Includes skipped (missing files, loops) and lines not understood.
    pub notes: Vec<String>,
    /// Includes that could not be followed: what they hold is unknown.
    pub not_followed: Vec<String>,
}

impl FileLine {
    /// The line as it may be shown in a result: its text when it was understood;
    /// a line not understood is named by file and number only, never quoted
    /// (`checks.md` clarification 1.1).
    pub fn shown(&self) -> &str {
        match &self.line.item {
            Item::Unparsed { nopasswd: true, .. } => "(line not understood; it mentions NOPASSWD:)",
            Item::Unparsed { .. } => "(line not understood)",
            _ => &self.line.text,
        }
    }
}

impl Sudoers {
    pub fn file(&self, path: &str) -> Option<&FileRead> {
        self.files.iter().find(|f| f.path == path)
    }

    /// Lines carrying `NOPASSWD:`.
    pub fn nopasswd(&self) -> impl Iterator<Item = &FileLine> {
        self.lines.iter().filter(|l| {
            matches!(
                &l.line.item,
                Item::Rule(Rule { nopasswd: true, .. }) | Item::Unparsed { nopasswd: true, .. }
            )
        })
    }

    /// `Defaults` lines turning `authenticate` off.
    pub fn authenticate_off(&self) -> impl Iterator<Item = &FileLine> {
        self.lines.iter().filter(|l| {
            matches!(
                &l.line.item,
                Item::Defaults {
                    disables_authenticate: true,
                    ..
                }
            )
        })
    }

    /// The definitions of aliases of one kind, by name.
    pub fn aliases(&self, kind: AliasKind) -> BTreeMap<String, Vec<Member>> {
        let mut out = BTreeMap::new();
        for l in &self.lines {
            if let Item::Alias { kind: k, defs } = &l.line.item
                && *k == kind
            {
                for (name, members) in defs {
                    out.insert(name.clone(), members.clone());
                }
            }
        }
        out
    }
}

struct Loader<'a> {
    src: &'a Host,
    out: Sudoers,
    chain: Vec<String>,
}

impl Loader<'_> {
    fn file(&mut self, path: &str, bytes: &[u8]) {
        self.out.files.push(FileRead::new(path, bytes));
        self.chain.push(path.to_owned());
        for line in parse(&String::from_utf8_lossy(bytes)) {
            if let Item::Unparsed { reason, .. } = &line.item {
                self.out
                    .notes
                    .push(format!("{path}:{}: not understood: {reason}", line.lineno));
            }
            if let Item::Include { path: target, dir } = &line.item {
                let at = format!("{path}:{}", line.lineno);
                self.include(&at, path, target, *dir);
            }
            self.out.lines.push(FileLine {
                file: path.to_owned(),
                line,
            });
        }
        self.chain.pop();
    }

    fn open(&mut self, at: &str, target: &str, in_dir: bool) {
        if self.chain.iter().any(|p| p == target) {
            self.out
                .notes
                .push(format!("{at}: {target} not followed: include loop"));
            return;
        }
        if self.chain.len() > MAX_DEPTH || self.out.files.len() >= MAX_FILES {
            self.out
                .not_followed
                .push(format!("{at}: {target}: too many levels of includes"));
            return;
        }
        match self.src.read(target) {
            Ok(bytes) => self.file(target, &bytes),
            // sudo skips the entries of an include directory that are not regular
            // files once links are followed: directories, FIFOs, sockets, dangling
            // links and link loops (checks.md clarification 1.1).
            Err(ReadError::NotAFile { .. }) if in_dir => {}
            Err(ReadError::LinkLoop { .. }) if in_dir => self.out.notes.push(format!(
                "{at}: {target}: skipped: too many levels of symbolic links"
            )),
            Err(e) if e.is_not_found() => self.out.notes.push(format!("{at}: {target}: not found")),
            Err(e) => self.out.not_followed.push(format!("{at}: {e}")),
        }
    }

    fn include(&mut self, at: &str, current: &str, target: &str, dir: bool) {
        if target.contains("%h") {
            self.out.not_followed.push(format!(
                "{at}: {target}: %h (the host name) in include paths is not supported"
            ));
            return;
        }
        let full = resolve_relative(parent_dir(current), target);
        if !dir {
            self.open(at, &full, false);
            return;
        }
        let names = match self.src.list_dir(&full) {
            Ok(n) => n,
            Err(e) if e.is_not_found() => return,
            Err(e) => {
                self.out.not_followed.push(format!("{at}: {e}"));
                return;
            }
        };
        let mut names: Vec<String> = names
            .into_iter()
            .filter(|n| !n.is_empty() && !n.ends_with('~') && !n.contains('.'))
            .collect();
        names.sort();
        for name in names {
            self.open(at, &join_path(&full, &name), true);
        }
    }
}

/// Reads sudoers from `path` with its includes; `Err` when `path` itself cannot
/// be read.
pub fn load(src: &Host, path: &str) -> Result<Sudoers, ReadError> {
    let bytes = src.read(path)?;
    let mut loader = Loader {
        src,
        out: Sudoers::default(),
        chain: Vec::new(),
    };
    loader.file(path, &bytes);
    Ok(loader.out)
}

/// The host's sudoers, read once per run.
pub struct Memo(pub Result<Sudoers, ReadError>);

pub fn get(ctx: &Context<'_>) -> Arc<Memo> {
    ctx.memo(|ctx| Memo(load(ctx.host, SUDOERS_PATH)))
}

/// A principal granted `ALL` and the rule that grants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `alice`, `%sudo`, `#0`, `+netgroup`, `ALL`, or an alias name that is not
    /// defined.
    pub principal: String,
    /// The `User_Alias` it was found through.
    pub via: Option<String>,
    pub file: String,
    pub lineno: usize,
}

fn resolve_alias(
    name: &str,
    aliases: &BTreeMap<String, Vec<Member>>,
    seen: &mut BTreeSet<String>,
    out: &mut Vec<String>,
) {
    let Some(members) = aliases.get(name) else {
        return;
    };
    if !seen.insert(name.to_owned()) {
        return;
    }
    for m in members {
        if m.negated {
            continue;
        }
        if aliases.contains_key(&m.name) {
            resolve_alias(&m.name, aliases, seen, out);
        } else if !out.contains(&m.name) {
            out.push(m.name.clone());
        }
    }
}

fn cmnd_has_all(
    name: &str,
    aliases: &BTreeMap<String, Vec<Member>>,
    seen: &mut BTreeSet<String>,
) -> bool {
    if name == "ALL" {
        return true;
    }
    let Some(members) = aliases.get(name) else {
        return false;
    };
    if !seen.insert(name.to_owned()) {
        return false;
    }
    members
        .iter()
        .any(|m| !m.negated && cmnd_has_all(&m.name, aliases, seen))
}

/// The users and groups granted `ALL` commands, `User_Alias`es resolved.
pub fn all_grants(sudoers: &Sudoers) -> Vec<Grant> {
    let users = sudoers.aliases(AliasKind::User);
    let cmnds = sudoers.aliases(AliasKind::Cmnd);
    let mut out = Vec::new();
    for l in &sudoers.lines {
        let Item::Rule(rule) = &l.line.item else {
            continue;
        };
        let grants_all = rule
            .commands
            .iter()
            .any(|c| !c.negated && cmnd_has_all(&c.name, &cmnds, &mut BTreeSet::new()));
        if !grants_all {
            continue;
        }
        for u in rule.users.iter().filter(|u| !u.negated) {
            if users.contains_key(&u.name) {
                let mut names = Vec::new();
                resolve_alias(&u.name, &users, &mut BTreeSet::new(), &mut names);
                for n in names {
                    out.push(Grant {
                        principal: n,
                        via: Some(u.name.clone()),
                        file: l.file.clone(),
                        lineno: l.line.lineno,
                    });
                }
            } else {
                out.push(Grant {
                    principal: u.name.clone(),
                    via: None,
                    file: l.file.clone(),
                    lineno: l.line.lineno,
                });
            }
        }
    }
    out
}

/// `accounts.sudo_nopasswd`: no sudoers rule carries `NOPASSWD:` and no
/// `Defaults` (in any of its forms) turns `authenticate` off.
///
/// Fails listing file, line number and rule of each. When nothing is found but
/// an include could not be followed (unreadable, or `%h`), the result is unknown:
/// that file might hold such a rule. Not applicable without `/etc/sudoers`;
/// unknown when it cannot be read (as a normal user: "permission denied; run as
/// root").
pub struct SudoNopasswd;

impl Check for SudoNopasswd {
    fn id(&self) -> &'static str {
        "accounts.sudo_nopasswd"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        self.judge(&get(ctx).0)
    }
}

impl SudoNopasswd {
    /// The verdict on sudoers as read.
    pub fn judge(&self, read: &Result<Sudoers, ReadError>) -> CheckResult {
        let sudoers = match read {
            Ok(s) => s,
            Err(e) if e.is_not_found() => {
                return not_applicable(self.id(), "no /etc/sudoers: sudo is not installed");
            }
            Err(e) => return unknown(self.id(), e.to_string()),
        };
        let nopasswd: Vec<&FileLine> = sudoers.nopasswd().collect();
        let auth_off: Vec<&FileLine> = sudoers.authenticate_off().collect();
        let as_fact =
            |l: &&FileLine| json!({ "file": l.file, "line": l.line.lineno, "rule": l.shown() });
        let files: Vec<&str> = sudoers.files.iter().map(|f| f.path.as_str()).collect();

        let mut per_file: Vec<(String, Vec<String>)> = Vec::new();
        for l in nopasswd.iter().chain(auth_off.iter()) {
            let line = numbered(l.line.lineno, l.shown());
            match per_file.iter_mut().find(|(p, _)| *p == l.file) {
                Some((_, lines)) => lines.push(line),
                None => per_file.push((l.file.clone(), vec![line])),
            }
        }
        let describe = |l: &&FileLine| format!("{}:{}: {}", l.file, l.line.lineno, l.shown());
        let (status, summary) = if !nopasswd.is_empty() || !auth_off.is_empty() {
            let mut parts = Vec::new();
            if !nopasswd.is_empty() {
                parts.push(format!(
                    "{} rule{} with NOPASSWD: ({})",
                    nopasswd.len(),
                    if nopasswd.len() == 1 { "" } else { "s" },
                    nopasswd.iter().map(describe).collect::<Vec<_>>().join("; ")
                ));
            }
            if !auth_off.is_empty() {
                parts.push(format!(
                    "authentication turned off by {}",
                    auth_off.iter().map(describe).collect::<Vec<_>>().join("; ")
                ));
            }
            (
                Status::Fail,
                format!("sudo without a password: {}", parts.join("; ")),
            )
        } else if let Some(why) = sudoers.not_followed.first() {
            return unknown(
                self.id(),
                format!("an include could not be followed: {why}"),
            )
            .fact("files_read", &files)
            .fact("not_followed", &sudoers.not_followed);
        } else {
            for f in &sudoers.files {
                per_file.push((
                    f.path.clone(),
                    vec!["(no NOPASSWD: rule, authenticate not turned off)".to_owned()],
                ));
            }
            (
                Status::Pass,
                format!(
                    "No sudoers rule carries NOPASSWD: and authentication is not turned off ({} file{} read)",
                    files.len(),
                    if files.len() == 1 { "" } else { "s" }
                ),
            )
        };
        let evidence: Vec<_> = per_file
            .into_iter()
            .filter_map(|(p, lines)| sudoers.file(&p).map(|f| f.evidence(lines.join("\n"))))
            .collect();
        CheckResult::new(self.id(), status, summary)
            .fact(
                "nopasswd_rules",
                nopasswd.iter().map(as_fact).collect::<Vec<_>>(),
            )
            .fact(
                "authenticate_disabled",
                auth_off.iter().map(as_fact).collect::<Vec<_>>(),
            )
            .fact("files_read", &files)
            .fact("not_followed", &sudoers.not_followed)
            .fact("notes", &sudoers.notes)
            .evidences(evidence)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use proptest::prelude::*;

    /// Debian 12's `/etc/sudoers` as shipped.
    pub const DEBIAN_SUDOERS: &str = "#
# This file MUST be edited with the 'visudo' command as root.
#
# Please consider adding local content in /etc/sudoers.d/ instead of
# directly modifying this file.
#
# See the man page for details on how to write a sudoers file.
#
Defaults\tenv_reset
Defaults\tmail_badpass
Defaults\tsecure_path=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"

# This fixes CVE-2005-4890 and possibly breaks some versions of kdesu
# (#1011624, https://bugs.kali.org/view.php?id=5800)
Defaults\tuse_pty

# This preserves proxy settings from user environments of root
# equivalent users (group sudo)
#Defaults:%sudo env_keep += \"http_proxy https_proxy ftp_proxy all_proxy no_proxy\"

# This allows running arbitrary commands, but so does ALL, and it means
# different sudoers have their choice of editor respected.
#Defaults:%sudo env_keep += \"EDITOR\"

# Host alias specification

# User alias specification

# Cmnd alias specification

# User privilege specification
root\tALL=(ALL:ALL) ALL

# Allow members of group sudo to execute any command
%sudo\tALL=(ALL:ALL) ALL

# See sudoers(5) for more information on \"@include\" directives:

@includedir /etc/sudoers.d
";

    /// Debian's `/etc/sudoers.d/README` (read: its name has no dot).
    pub const DEBIAN_SUDOERS_D_README: &str = "#
# The default /etc/sudoers file created on installation of the
# sudo  package now includes the directive:
# 
# \t@includedir /etc/sudoers.d
# 
# This will cause sudo to read and parse any files in the /etc/sudoers.d 
# directory that do not end in '~' or contain a '.' character.
#
# Note that there must be at least one file in the sudoers.d directory.
";

    /// RHEL 9's `/etc/sudoers`, the lines that matter.
    const RHEL_SUDOERS: &str = "## Sudoers allows particular users to run various commands as
## the root user, without needing the root password.
Defaults   !visiblepw
Defaults    always_set_home
Defaults    match_group_by_gid
Defaults    always_query_group_plugin
Defaults    env_reset
Defaults    env_keep =  \"COLORS DISPLAY HOSTNAME HISTSIZE KDEDIR LS_COLORS\"
Defaults    env_keep += \"MAIL QTDIR USERNAME LANG LC_ADDRESS LC_CTYPE\"
Defaults    secure_path = /sbin:/bin:/usr/sbin:/usr/bin

## Allow root to run any commands anywhere
root\tALL=(ALL) \tALL

## Allows people in group wheel to run all commands
%wheel\tALL=(ALL)\tALL

## Same thing without a password
# %wheel\tALL=(ALL)\tNOPASSWD: ALL

## Read drop-in files from /etc/sudoers.d (the # here does not mean a comment)
#includedir /etc/sudoers.d
";

    fn rules(text: &str) -> Vec<Item> {
        parse(text).into_iter().map(|l| l.item).collect()
    }

    #[test]
    fn debian_sudoers() {
        let lines = parse(DEBIAN_SUDOERS);
        let items: Vec<&Item> = lines.iter().map(|l| &l.item).collect();
        assert_eq!(items.len(), 7, "{items:?}");
        assert!(matches!(items[4], Item::Rule(r) if r.users[0].name == "root" && !r.nopasswd));
        assert!(matches!(items[5], Item::Rule(r) if r.users[0].name == "%sudo"));
        assert_eq!(
            items[6],
            &Item::Include {
                path: "/etc/sudoers.d".into(),
                dir: true
            }
        );
        assert_eq!(lines[6].lineno, 39);
    }

    #[test]
    fn hash_include_versus_comment_versus_uid() {
        let items = rules(
            "#includedir /etc/sudoers.d\n#include /etc/sudoers.local\n  #include /not/at/start\n#includes x\n# %wheel ALL=(ALL) NOPASSWD: ALL\nbob ALL=(#0) /bin/ls # run as uid 0\n%#1000 ALL = ALL\n",
        );
        assert_eq!(items.len(), 4, "{items:?}");
        assert_eq!(
            items[0],
            Item::Include {
                path: "/etc/sudoers.d".into(),
                dir: true
            }
        );
        assert_eq!(
            items[1],
            Item::Include {
                path: "/etc/sudoers.local".into(),
                dir: false
            }
        );
        let Item::Rule(r) = &items[2] else {
            panic!("{items:?}")
        };
        assert_eq!(r.users[0].name, "bob");
        assert_eq!(r.commands[0].name, "/bin/ls");
        let Item::Rule(r) = &items[3] else { panic!() };
        assert_eq!(r.users[0].name, "%#1000");
    }

    #[test]
    fn continuation_lines() {
        let lines = parse(
            "alice ALL = \\\n    NOPASSWD: /usr/bin/apt, \\\t\n    /usr/bin/systemctl\n# comment \\\nbob ALL = ALL\n",
        );
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].lineno, 1);
        let Item::Rule(r) = &lines[0].item else {
            panic!()
        };
        assert!(r.nopasswd);
        assert_eq!(r.commands.len(), 2);
        assert_eq!(
            lines[1].lineno, 5,
            "a comment ending in \\ does not continue"
        );
    }

    #[test]
    fn nopasswd_tag_detection() {
        let tagged = [
            "alice ALL=(ALL) NOPASSWD: ALL",
            "alice ALL=(ALL:ALL) NOPASSWD:ALL",
            "alice ALL = NOPASSWD : /bin/ls",
            "alice ALL = /bin/ls, NOPASSWD: /bin/cat",
            "alice ALL = (root) NOEXEC: NOPASSWD: SETENV: /bin/ls",
            "alice ALL = CWD=/tmp NOPASSWD: /bin/ls",
            "alice host1 = /bin/ls : host2 = NOPASSWD: ALL",
            "%admin ALL=(ALL) NOPASSWD: sha256:0123abcd /usr/bin/x",
        ];
        for t in tagged {
            let Item::Rule(r) = &rules(t)[0] else {
                panic!("{t}: {:?}", rules(t))
            };
            assert!(r.nopasswd, "{t}");
        }
        let untagged = [
            "alice ALL = PASSWD: /bin/ls",
            "alice ALL = /usr/bin/echo NOPASSWD\\: x",
            "alice ALL = ALL # NOPASSWD: ALL",
            "XNOPASSWD ALL = ALL",
        ];
        for t in untagged {
            let Item::Rule(r) = &rules(t)[0] else {
                panic!("{t}: {:?}", rules(t))
            };
            assert!(!r.nopasswd, "{t}");
        }
    }

    #[test]
    fn unparsable_lines_fall_back_to_the_text() {
        let items = rules("alice ALL = NOPASSWD: (((\n");
        assert!(
            matches!(&items[0], Item::Unparsed { nopasswd: true, .. }),
            "{items:?}"
        );
        let items = rules("alice ALL (((\n");
        assert!(matches!(
            &items[0],
            Item::Unparsed {
                nopasswd: false,
                ..
            }
        ));
    }

    #[test]
    fn defaults_authenticate_forms() {
        let off = [
            "Defaults !authenticate",
            "Defaults:alice !authenticate",
            "Defaults:alice, bob  env_reset, !authenticate",
            "Defaults>root !authenticate",
            "Defaults!/usr/bin/su !authenticate",
            "Defaults@host1 ! authenticate",
            "Defaults !!!authenticate",
            "Defaults:%wheel\t!authenticate",
        ];
        for t in off {
            let Item::Defaults {
                disables_authenticate,
                ..
            } = &rules(t)[0]
            else {
                panic!("{t}")
            };
            assert!(disables_authenticate, "{t}");
        }
        let on = [
            "Defaults authenticate",
            "Defaults !!authenticate",
            "Defaults !authenticate_x",
            "Defaults env_keep += \"!authenticate\"",
            "Defaults:authenticate env_reset",
        ];
        for t in on {
            let Item::Defaults {
                disables_authenticate,
                ..
            } = &rules(t)[0]
            else {
                panic!("{t}")
            };
            assert!(!disables_authenticate, "{t}");
        }
        let Item::Defaults {
            binding, params, ..
        } = &rules("Defaults:alice, bob  env_reset, !authenticate")[0]
        else {
            panic!()
        };
        assert_eq!(binding, ":alice,bob");
        assert_eq!(params, &["env_reset", "!authenticate"]);
    }

    #[test]
    fn includedir_skips_names_with_dots_and_tildes() {
        let src = FakeHost::linux()
            .files(&[
                ("/etc/sudoers", "@includedir /etc/sudoers.d\n"),
                ("/etc/sudoers.d/README", DEBIAN_SUDOERS_D_README),
                ("/etc/sudoers.d/foo~", "foo ALL = NOPASSWD: ALL\n"),
                ("/etc/sudoers.d/a.conf", "a ALL = NOPASSWD: ALL\n"),
                ("/etc/sudoers.d/zz", "zz ALL = NOPASSWD: ALL\n"),
                ("/etc/sudoers.d/10-admins", "%admins ALL = ALL\n"),
            ])
            .dir("/etc/sudoers.d/subdir")
            .host();
        let s = load(&src, "/etc/sudoers").unwrap();
        let files: Vec<_> = s.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            files,
            [
                "/etc/sudoers",
                "/etc/sudoers.d/10-admins",
                "/etc/sudoers.d/README",
                "/etc/sudoers.d/zz"
            ]
        );
        let nopasswd: Vec<_> = s.nopasswd().map(|l| l.file.as_str()).collect();
        assert_eq!(nopasswd, ["/etc/sudoers.d/zz"]);
    }

    #[test]
    fn relative_includes_loops_and_percent_h() {
        let src = FakeHost::linux()
            .files(&[
                (
                    "/etc/sudoers",
                    "@include sudoers.local\n@include /etc/sudoers\n@include \"/etc/sudo %h\"\n#include missing\n",
                ),
                ("/etc/sudoers.local", "bob ALL = ALL\n@include sub/x\n"),
                ("/etc/sub/x", "carol ALL = NOPASSWD: /bin/ls\n"),
            ])
            .host();
        let s = load(&src, "/etc/sudoers").unwrap();
        let files: Vec<_> = s.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(files, ["/etc/sudoers", "/etc/sudoers.local", "/etc/sub/x"]);
        assert!(
            s.notes.iter().any(|n| n.contains("include loop")),
            "{:?}",
            s.notes
        );
        assert!(
            s.notes
                .iter()
                .any(|n| n.contains("/etc/missing: not found")),
            "{:?}",
            s.notes
        );
        assert_eq!(s.not_followed.len(), 1);
        assert!(s.not_followed[0].contains("%h"));
    }

    #[test]
    fn grants_of_all_resolve_user_aliases() {
        let src = FakeHost::linux()
            .files(&[(
                "/etc/sudoers",
                "User_Alias ADMINS = alice, OPS, !mallory\nUser_Alias OPS = bob, %ops\nCmnd_Alias EVERYTHING = ALL\nroot ALL=(ALL:ALL) ALL\nADMINS ALL = EVERYTHING\ncarol ALL = /bin/ls, !ALL\nUNDEFINED ALL = ALL\ndave ALL = (root) NOPASSWD: ALL\n",
            )])
            .host();
        let s = load(&src, "/etc/sudoers").unwrap();
        let grants: Vec<_> = all_grants(&s)
            .into_iter()
            .map(|g| (g.principal, g.via))
            .collect();
        assert_eq!(
            grants,
            [
                ("root".to_owned(), None),
                ("alice".to_owned(), Some("ADMINS".to_owned())),
                ("bob".to_owned(), Some("ADMINS".to_owned())),
                ("%ops".to_owned(), Some("ADMINS".to_owned())),
                ("UNDEFINED".to_owned(), None),
                ("dave".to_owned(), None),
            ]
        );
    }

    fn run(files: &[(&str, &str)]) -> CheckResult {
        let h = FakeHost::linux().files(files);
        h.run(&SudoNopasswd)
    }

    #[test]
    fn check_debian_default_passes() {
        let r = run(&[
            ("/etc/sudoers", DEBIAN_SUDOERS),
            ("/etc/sudoers.d/README", DEBIAN_SUDOERS_D_README),
        ]);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(
            r.facts["files_read"],
            serde_json::json!(["/etc/sudoers", "/etc/sudoers.d/README"])
        );
    }

    #[test]
    fn check_rhel_with_drop_in_fails_with_file_line_and_rule() {
        let r = run(&[
            ("/etc/sudoers", RHEL_SUDOERS),
            (
                "/etc/sudoers.d/90-cloud-init-users",
                "# Created by cloud-init v. 23.4\n\n# User rules for cloud-user\ncloud-user ALL=(ALL) NOPASSWD:ALL\n",
            ),
            ("/etc/sudoers.d/ci", "Defaults:ci !authenticate\n"),
        ]);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.facts["nopasswd_rules"],
            serde_json::json!([{
                "file": "/etc/sudoers.d/90-cloud-init-users",
                "line": 4,
                "rule": "cloud-user ALL=(ALL) NOPASSWD:ALL"
            }])
        );
        assert_eq!(
            r.facts["authenticate_disabled"][0]["file"],
            "/etc/sudoers.d/ci"
        );
        assert!(
            r.summary.contains(
                "/etc/sudoers.d/90-cloud-init-users:4: cloud-user ALL=(ALL) NOPASSWD:ALL"
            ),
            "{}",
            r.summary
        );
        assert_eq!(r.evidence.len(), 2);
    }

    #[test]
    fn regression_odd_sudoers_d_entries_are_skipped_not_unknown() {
        let h = FakeHost::linux()
            .files(&[
                (
                    "/etc/sudoers",
                    "root ALL=(ALL) ALL\n@includedir /etc/sudoers.d\n",
                ),
                ("/etc/sudoers.d/10-ok", "%admin ALL=(ALL) ALL\n"),
            ])
            .link("/etc/sudoers.d/loop-a", "loop-b")
            .link("/etc/sudoers.d/loop-b", "loop-a")
            .link("/etc/sudoers.d/dangling", "/etc/sudoers.d/nowhere")
            .link("/etc/sudoers.d/self", "self")
            .dir("/etc/sudoers.d/subdir")
            .link("/etc/sudoers.d/to-subdir", "subdir")
            .special("/etc/sudoers.d/socket");
        let r = h.run(&SudoNopasswd);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(
            r.facts["files_read"],
            serde_json::json!(["/etc/sudoers", "/etc/sudoers.d/10-ok"])
        );
        assert_eq!(r.facts["not_followed"], serde_json::json!([]));
        let notes = r.facts["notes"].to_string();
        assert!(notes.contains("/etc/sudoers.d/loop-a: skipped"), "{notes}");
    }

    #[test]
    fn check_not_applicable_and_unknown() {
        let r = run(&[]);
        assert_eq!(r.status, Status::NotApplicable);
        let r = run(&[(
            "/etc/sudoers",
            "@include \"/etc/sudoers.d/%h\"\nroot ALL=(ALL) ALL\n",
        )]);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.unwrap().contains("%h"));
    }

    #[test]
    fn unreadable_sudoers_says_run_as_root() {
        let r = SudoNopasswd.judge(&Err(ReadError::PermissionDenied {
            path: SUDOERS_PATH.to_owned(),
        }));
        assert_eq!(r.status, Status::Unknown);
        assert_eq!(
            r.reason.as_deref(),
            Some("/etc/sudoers: permission denied; run as root")
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = parse(&s);
        }

        #[test]
        fn parse_never_panics_on_sudoers_like_text(s in "([A-Za-z%#@!:=,()\"\\\\/ \t0-9_-]{0,40}\n){0,6}") {
            for l in parse(&s) {
                prop_assert!(l.lineno >= 1);
            }
        }

        #[test]
        fn loading_never_panics(main in "\\PC{0,200}", inc in "\\PC{0,200}") {
            let main = format!("@includedir /etc/sudoers.d\n@include sudoers\n{main}");
            let src = FakeHost::linux().files(&[("/etc/sudoers", main.as_str()), ("/etc/sudoers.d/a", inc.as_str())]).host();
            if let Ok(s) = load(&src, "/etc/sudoers") {
                let _ = all_grants(&s);
            }
        }
    }
}
