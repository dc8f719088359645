//! apt's configuration, read as apt reads it (`ReadConfigFile` and `ReadConfigDir`
//! in apt-pkg/contrib/configuration.cc).
//!
//! Files: `/etc/apt/apt.conf.d/*` in lexical (bytewise) order, then
//! `/etc/apt/apt.conf`; a later value overrides an earlier one; keys are
//! case-insensitive. In `apt.conf.d` apt skips hidden files, names with characters
//! other than ASCII letters, digits, `_`, `-` and `.`, names whose extension is
//! neither absent nor `conf`, names ending in `.`, and anything that is not a
//! regular file.
//!
//! Syntax, line by line as apt does it: tabs become spaces and the line is
//! trimmed; a `/* */` comment left open on an earlier line is closed first; then
//! `//` and `#` start a comment outside quotes (a quote is "open" when an odd number
//! of `"` precede) except for the directives `#clear`, `#include` and
//! `#x-apt-configure-index`; then `/* … */` are cut out. What remains is split at
//! `{`, `;` and `}` outside quotes into statements (which may span lines):
//! `Tag Value;`, `Tag { … };` (the tag becomes a prefix `Tag::` for what is inside),
//! `Value;` (a list item), and the directives. A value is either a sequence of
//! quoted strings (joined by a space) or one unquoted word; in both, `%XX` escapes
//! in unquoted words are decoded. `#clear A::B;` removes `A::B` and everything under
//! it. `#include` and `#x-apt-configure-index` are recognised and ignored (the agent
//! reads only the two standard locations).
//!
//! A syntax error stops the reading of that file, as in apt (the values before it
//! stay set), and is reported: apt itself then refuses to run.

use std::collections::BTreeMap;

use crate::host::{Host, ReadError, join_path};

pub const CONF_DIR: &str = "/etc/apt/apt.conf.d";
pub const CONF_FILE: &str = "/etc/apt/apt.conf";

/// One value set by a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The full key as written (`APT::Periodic::Unattended-Upgrade`).
    pub key: String,
    pub value: String,
    /// 1-based line where the statement ended.
    pub line: usize,
}

/// What one statement does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directive {
    Set(Assignment),
    /// `#clear KEY`: remove KEY and everything under it.
    Clear {
        key: String,
        line: usize,
    },
}

/// A syntax error, as apt reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error at line {line}: {message}")]
pub struct SyntaxError {
    pub line: usize,
    pub message: &'static str,
}

/// The statements of one file, up to the first syntax error.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    pub directives: Vec<Directive>,
    pub error: Option<SyntaxError>,
}

const MAGIC_COMMENTS: [&str; 3] = ["clear", "include", "x-apt-configure-index"];

/// C's `isspace` in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn trim_space(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && is_space(c as u8))
}

/// True when an odd number of `"` precede byte `at` of `s`.
fn in_quote(s: &str, at: usize) -> bool {
    s.as_bytes()
        .get(..at)
        .unwrap_or_default()
        .iter()
        .filter(|&&b| b == b'"')
        .count()
        % 2
        != 0
}

fn tail(s: &str, from: usize) -> &str {
    s.get(from..).unwrap_or("")
}

fn head(s: &str, to: usize) -> &str {
    s.get(..to).unwrap_or(s)
}

/// Parses one apt configuration file.
pub fn parse(text: &str) -> Parsed {
    let mut out = Parsed::default();
    let mut in_comment = false;
    let mut buffer = String::new();
    let mut stack: Vec<String> = Vec::new();
    let mut parent = String::new();
    let mut lineno = 0usize;

    for raw in text.split('\n') {
        lineno += 1;
        let expanded = raw.replace('\t', "        ");
        let mut line: &str = trim_space(&expanded);

        // A multi-line comment still open.
        if in_comment {
            match line.find("*/") {
                Some(end) => {
                    line = tail(line, end + 2);
                    in_comment = false;
                }
                None => continue,
            }
        }

        // `//` outside quotes.
        let mut start = 0;
        while let Some(found) = tail(line, start).find("//") {
            let at = start + found;
            if in_quote(line, at) {
                start = at + 1;
                continue;
            }
            line = head(line, at);
            break;
        }
        // `#` outside quotes, except the magic directives.
        start = 0;
        while let Some(found) = tail(line, start).find('#') {
            let at = start + found;
            let after = tail(line, at + 1);
            if in_quote(line, at) || MAGIC_COMMENTS.iter().any(|m| after.starts_with(m)) {
                start = at + 1;
                continue;
            }
            line = head(line, at);
            break;
        }
        // `/* … */`, possibly left open.
        let mut fragment = String::with_capacity(line.len());
        start = 0;
        while let Some(found) = tail(line, start).find("/*") {
            let at = start + found;
            if in_quote(line, at) {
                start = at + 2;
                continue;
            }
            fragment.push_str(head(line, at));
            match tail(line, at + 2).find("*/") {
                None => {
                    line = "";
                    in_comment = true;
                    break;
                }
                Some(end) => line = tail(line, at + 2 + end + 2),
            }
            start = 0;
        }
        fragment.push_str(line);
        if fragment.is_empty() {
            continue;
        }

        // Statements.
        let mut quoted = false;
        let mut seg_start = 0;
        for (i, c) in fragment.char_indices() {
            if c == '"' {
                quoted = !quoted;
            }
            if quoted || !matches!(c, '{' | ';' | '}') {
                continue;
            }
            let piece = trim_space(fragment.get(seg_start..i).unwrap_or(""));
            if !buffer.is_empty() && !piece.is_empty() {
                buffer.push(' ');
            }
            buffer.push_str(piece);
            seg_start = i + 1;
            if let Err(message) = statement(
                &mut buffer,
                c,
                &mut stack,
                &mut parent,
                lineno,
                &mut out.directives,
            ) {
                out.error = Some(SyntaxError {
                    line: lineno,
                    message,
                });
                return out;
            }
        }
        let rest = trim_space(tail(&fragment, seg_start));
        if !rest.is_empty() {
            if !buffer.is_empty() {
                buffer.push(' ');
            }
            buffer.push_str(rest);
        }
    }
    if !buffer.is_empty() {
        out.error = Some(SyntaxError {
            line: lineno,
            message: "extra junk at end of file",
        });
    }
    out
}

/// Handles one statement ended by `term` (`{`, `;` or `}`), as apt does.
fn statement(
    buffer: &mut String,
    term: char,
    stack: &mut Vec<String>,
    parent: &mut String,
    line: usize,
    out: &mut Vec<Directive>,
) -> Result<(), &'static str> {
    let leave = |stack: &mut Vec<String>, parent: &mut String| {
        *parent = stack.pop().unwrap_or_default();
    };
    if term == '{' && buffer.is_empty() {
        return Err("block starts with no name");
    }
    if buffer.is_empty() {
        if term == '}' {
            leave(stack, parent);
        }
        return Ok(());
    }
    let mut pos: &str = buffer;
    let Some(mut tag) = parse_quote_word(&mut pos) else {
        return Err("malformed tag");
    };
    let mut no_word = false;
    let word = match parse_c_word(&mut pos).or_else(|| parse_quote_word(&mut pos)) {
        Some(word) => word,
        None if term != '{' => std::mem::take(&mut tag),
        None => {
            no_word = true;
            String::new()
        }
    };
    if !pos.is_empty() {
        return Err("extra junk after value");
    }
    if term == '{' {
        stack.push(parent.clone());
        if parent.is_empty() {
            *parent = std::mem::take(&mut tag);
        } else {
            parent.push_str("::");
            parent.push_str(&std::mem::take(&mut tag));
        }
    }
    let item = if parent.is_empty() {
        tag.clone()
    } else if term != '{' || !tag.is_empty() {
        format!("{parent}::{tag}")
    } else {
        parent.clone()
    };
    if let Some(directive) = tag.strip_prefix('#') {
        if !parent.is_empty() {
            return Err("directives can only be done at the top level");
        }
        match directive {
            "clear" => out.push(Directive::Clear { key: word, line }),
            "include" | "x-apt-configure-index" => {}
            _ => return Err("unsupported directive"),
        }
    } else if tag.is_empty() && !no_word && word == "#clear" {
        return Err("clear directive requires an option tree as argument");
    } else if !no_word {
        out.push(Directive::Set(Assignment {
            key: item,
            value: word,
            line,
        }));
    }
    buffer.clear();
    if term == '}' {
        leave(stack, parent);
    }
    Ok(())
}

/// apt's `ParseQuoteWord`: one word up to whitespace, where `"…"` and `[…]` may hold
/// spaces; quotes are removed and `%XX` decoded; trailing whitespace is skipped.
fn parse_quote_word(pos: &mut &str) -> Option<String> {
    let s = pos.trim_start_matches(' ');
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return None;
    }
    let mut end = 0;
    while let Some(&b) = bytes.get(end) {
        if is_space(b) {
            break;
        }
        if b == b'"' || b == b'[' {
            let close = if b == b'"' { b'"' } else { b']' };
            let rel = bytes.get(end + 1..)?.iter().position(|&c| c == close)?;
            end += 1 + rel;
        }
        end += 1;
    }
    let word = bytes.get(..end)?;
    let mut out = Vec::with_capacity(word.len());
    let mut i = 0;
    while let Some(&b) = word.get(i) {
        if b == b'%'
            && i + 2 < word.len()
            && let (Some(h), Some(l)) = (
                word.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                word.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        if b != b'"' {
            out.push(b);
        }
        i += 1;
    }
    let rest = bytes.get(end..).unwrap_or_default();
    let skip = rest.iter().take_while(|&&b| is_space(b)).count();
    *pos = s.get(end + skip..).unwrap_or("");
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// apt's `ParseCWord`: only quoted strings separated by whitespace, joined with one
/// space; `None` (and `pos` untouched) when anything else is there.
fn parse_c_word(pos: &mut &str) -> Option<String> {
    let original = *pos;
    let s = original.trim_start_matches(' ');
    if s.is_empty() || original.len() >= 1024 {
        return None;
    }
    let bytes = s.as_bytes();
    let lead = original.len() - s.len();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'"' {
            let rel = bytes.get(i + 1..)?.iter().position(|&c| c == b'"')?;
            out.extend_from_slice(bytes.get(i + 1..i + 1 + rel)?);
            i += rel + 2;
            continue;
        }
        let prev_is_space = if i == 0 {
            lead > 0
        } else {
            bytes.get(i - 1).is_some_and(|&p| is_space(p))
        };
        if is_space(b) && prev_is_space {
            i += 1;
            continue;
        }
        if !is_space(b) {
            return None;
        }
        out.push(b' ');
        i += 1;
    }
    *pos = "";
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// apt's rule for files in `apt.conf.d` (see the module doc).
pub fn conf_d_name_ok(name: &str) -> bool {
    if name.starts_with('.') || name.ends_with('.') || name.is_empty() {
        return false;
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return false;
    }
    match name.rsplit_once('.') {
        None => true,
        Some((_, ext)) => ext == "conf",
    }
}

/// The effective value of a key and where it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    pub value: String,
    pub file: String,
    pub line: usize,
}

/// A file that was read, for evidence.
#[derive(Debug, Clone)]
pub struct FileRead {
    pub path: String,
    pub raw: Vec<u8>,
}

/// apt's effective configuration from the standard files.
#[derive(Debug, Clone, Default)]
pub struct AptConfig {
    /// Lower-cased key → effective setting.
    values: BTreeMap<String, Setting>,
    /// The files read, in order.
    pub files: Vec<FileRead>,
    /// `path: syntax error …` for every file apt would reject.
    pub errors: Vec<String>,
    /// Files in `apt.conf.d` that apt skips by name.
    pub skipped: Vec<String>,
}

impl AptConfig {
    /// Applies one file's statements in order.
    pub fn apply(&mut self, path: &str, parsed: &Parsed) {
        for d in &parsed.directives {
            match d {
                Directive::Set(a) => {
                    self.values.insert(
                        a.key.to_ascii_lowercase(),
                        Setting {
                            key: a.key.clone(),
                            value: a.value.clone(),
                            file: path.to_owned(),
                            line: a.line,
                        },
                    );
                }
                Directive::Clear { key, .. } => {
                    let key = key.to_ascii_lowercase();
                    let prefix = format!("{key}::");
                    self.values
                        .retain(|k, _| *k != key && !k.starts_with(&prefix));
                }
            }
        }
        if let Some(e) = &parsed.error {
            self.errors.push(format!("{path}: {e}"));
        }
    }

    /// The effective setting of `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.values.get(&key.to_ascii_lowercase())
    }
}

/// Reads apt's configuration from the host. A missing directory or file is simply
/// absent; any other read failure is an error (the configuration would be partial).
pub fn load(host: &Host) -> Result<AptConfig, ReadError> {
    let mut config = AptConfig::default();
    let names = match host.list_dir(CONF_DIR) {
        Ok(names) => names,
        Err(e) if e.is_not_found() => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut paths = Vec::new();
    for name in names {
        let path = join_path(CONF_DIR, &name);
        if !conf_d_name_ok(&name) {
            if !host.is_dir(&path) {
                config.skipped.push(path);
            }
            continue;
        }
        if host.is_file(&path) {
            paths.push(path);
        }
    }
    if host.is_file(CONF_FILE) {
        paths.push(CONF_FILE.to_owned());
    }
    for path in paths {
        let raw = host.read(&path)?;
        let parsed = parse(&String::from_utf8_lossy(&raw));
        config.apply(&path, &parsed);
        config.files.push(FileRead { path, raw });
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use proptest::prelude::*;

    fn sets(text: &str) -> Vec<(String, String)> {
        let parsed = parse(text);
        assert_eq!(parsed.error, None, "{text}");
        parsed
            .directives
            .into_iter()
            .filter_map(|d| match d {
                Directive::Set(a) => Some((a.key, a.value)),
                Directive::Clear { .. } => None,
            })
            .collect()
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn flat_and_nested_forms() {
        assert_eq!(
            sets("APT::Periodic::Unattended-Upgrade \"1\";\n"),
            vec![pair("APT::Periodic::Unattended-Upgrade", "1")]
        );
        assert_eq!(
            sets(
                "APT {\n  Periodic {\n    Unattended-Upgrade \"1\";\n    Update-Package-Lists 1;\n  };\n};\n"
            ),
            vec![
                pair("APT::Periodic::Unattended-Upgrade", "1"),
                pair("APT::Periodic::Update-Package-Lists", "1"),
            ]
        );
        assert_eq!(
            sets("APT::Periodic { Unattended-Upgrade \"0\"; }; APT { Periodic::Verbose 2; };"),
            vec![
                pair("APT::Periodic::Unattended-Upgrade", "0"),
                pair("APT::Periodic::Verbose", "2"),
            ]
        );
        // A statement may span lines; the last `;` before `}` may be missing.
        assert_eq!(
            sets("APT::Periodic::Unattended-Upgrade\n  \"1\"\n;\nA { B \"x\" };"),
            vec![
                pair("APT::Periodic::Unattended-Upgrade", "1"),
                pair("A::B", "x")
            ]
        );
        // Unquoted values and %XX escapes; several quoted strings join with a space.
        assert_eq!(
            sets("A::B always;\nA::C a%20b;\nA::D \"x\" \"y\";"),
            vec![
                pair("A::B", "always"),
                pair("A::C", "a b"),
                pair("A::D", "x y")
            ]
        );
        // List items: no tag.
        assert_eq!(
            sets(
                "Unattended-Upgrade::Origins-Pattern {\n \"origin=Debian,label=Debian-Security\";\n};"
            ),
            vec![pair(
                "Unattended-Upgrade::Origins-Pattern::",
                "origin=Debian,label=Debian-Security"
            )]
        );
        // A block with a value sets the block's key too.
        assert_eq!(
            sets("A \"v\" { B 1; };"),
            vec![pair("A", "v"), pair("A::B", "1")]
        );
    }

    #[test]
    fn comments() {
        let text = "// APT::Periodic::Unattended-Upgrade \"1\";\n\
                    # APT::Periodic::Unattended-Upgrade \"1\";\n\
                    /* APT::Periodic::Unattended-Upgrade \"1\";\n\
                    APT::Periodic::Unattended-Upgrade \"1\"; */\n\
                    A::B \"1\"; // trailing\n\
                    A::C \"x//y#z/*w*/\"; # trailing\n\
                    A::D /* inline */ \"2\";\n\
                    A::E \"3\"; /* open\n still comment \"\n */ A::F 4;\n";
        assert_eq!(
            sets(text),
            vec![
                pair("A::B", "1"),
                pair("A::C", "x//y#z/*w*/"),
                pair("A::D", "2"),
                pair("A::E", "3"),
                pair("A::F", "4"),
            ]
        );
    }

    #[test]
    fn clear_and_include_directives_parse() {
        let parsed = parse(
            "#clear APT::Periodic;\n#include \"/etc/apt/other.conf\";\n#x-apt-configure-index \"/x\";\nA::B 1;\n",
        );
        assert_eq!(parsed.error, None);
        assert_eq!(
            parsed.directives,
            vec![
                Directive::Clear {
                    key: "APT::Periodic".to_owned(),
                    line: 1
                },
                Directive::Set(Assignment {
                    key: "A::B".to_owned(),
                    value: "1".to_owned(),
                    line: 4
                }),
            ]
        );
        let mut config = AptConfig::default();
        config.apply(
            "a",
            &parse("APT::Periodic::Unattended-Upgrade 1; APT::Periodic::X 1; APT::PeriodicY 1;"),
        );
        config.apply("b", &parse("#clear APT::Periodic;"));
        assert!(config.get("APT::Periodic::Unattended-Upgrade").is_none());
        assert!(config.get("apt::periodic::x").is_none());
        assert!(config.get("APT::PeriodicY").is_some());
    }

    #[test]
    fn syntax_errors_stop_the_file_as_apt_does() {
        let parsed = parse("A::B 1;\nA::C 1 2;\nA::D 3;\n");
        assert_eq!(parsed.directives.len(), 1);
        assert_eq!(
            parsed.error,
            Some(SyntaxError {
                line: 2,
                message: "extra junk after value"
            })
        );
        assert_eq!(
            parse("{ A 1; };").error.unwrap().message,
            "block starts with no name"
        );
        assert_eq!(
            parse("A::B 1").error.unwrap().message,
            "extra junk at end of file"
        );
        assert_eq!(
            parse("A { #clear B; };").error.unwrap().message,
            "directives can only be done at the top level"
        );
        // `#foo` is a comment, but a word that merely starts like a directive is kept
        // and then rejected, as apt does.
        assert_eq!(parse("#foo bar;"), Parsed::default());
        assert_eq!(
            parse("#includes bar;").error.unwrap().message,
            "unsupported directive"
        );
        assert_eq!(
            parse("A::B \"1;\n").error.unwrap().message,
            "extra junk at end of file"
        );
        // Braces inside quotes are text.
        assert_eq!(sets("A::B \"{;}\";"), vec![pair("A::B", "{;}")]);
        // Extra closing braces are tolerated, as in apt.
        assert_eq!(sets("};\nA 1;"), vec![pair("A", "1")]);
    }

    #[test]
    fn later_files_override_and_keys_are_case_insensitive() {
        let mut config = AptConfig::default();
        config.apply(
            "/etc/apt/apt.conf.d/10periodic",
            &parse("APT::Periodic::Unattended-Upgrade \"0\";"),
        );
        config.apply(
            "/etc/apt/apt.conf.d/20auto-upgrades",
            &parse("apt::periodic::unattended-upgrade \"1\";"),
        );
        let s = config.get("APT::Periodic::Unattended-Upgrade").unwrap();
        assert_eq!(s.value, "1");
        assert_eq!(s.file, "/etc/apt/apt.conf.d/20auto-upgrades");
        config.apply(
            "/etc/apt/apt.conf",
            &parse("APT { PERIODIC { Unattended-Upgrade \"0\"; }; };"),
        );
        let s = config.get("apt::periodic::unattended-upgrade").unwrap();
        assert_eq!((s.value.as_str(), s.line), ("0", 1));
        assert_eq!(s.key, "APT::PERIODIC::Unattended-Upgrade");
    }

    #[test]
    fn file_names_apt_skips() {
        for ok in [
            "20auto-upgrades",
            "50unattended-upgrades",
            "99local.conf",
            "a_b-c",
            "x.y.conf",
            "01autoremove",
        ] {
            assert!(conf_d_name_ok(ok), "{ok}");
        }
        for bad in [
            "50unattended-upgrades.ucf-dist",
            "20auto-upgrades.dpkg-old",
            "20auto-upgrades~",
            "99local.conf.bak",
            ".hidden",
            ".conf",
            "trailing.",
            "with space",
            "colon:name",
            "",
            "x.CONF",
        ] {
            assert!(!conf_d_name_ok(bad), "{bad}");
        }
    }

    #[test]
    fn load_reads_files_in_apt_order() {
        let d = "/etc/apt/apt.conf.d";
        let mut fake = FakeHost::linux()
            .file(
                &format!("{d}/10periodic"),
                "APT::Periodic::Unattended-Upgrade \"0\";\n",
            )
            .file(
                &format!("{d}/20auto-upgrades"),
                "APT::Periodic::Unattended-Upgrade \"1\";\n",
            )
            // Skipped by name: would otherwise win.
            .file(
                &format!("{d}/99zz.bak"),
                "APT::Periodic::Unattended-Upgrade \"0\";\n",
            )
            .file(
                &format!("{d}/99zz~"),
                "APT::Periodic::Unattended-Upgrade \"0\";\n",
            )
            .dir(&format!("{d}/subdir"))
            // Uppercase sorts before lowercase, bytewise.
            .file(&format!("{d}/Zlast"), "A::Order \"Z\";\n")
            .file(&format!("{d}/alast"), "A::Order \"a\";\n");
        let host = fake.host();
        let config = load(&host).unwrap();
        assert_eq!(
            config
                .get("APT::Periodic::Unattended-Upgrade")
                .unwrap()
                .value,
            "1"
        );
        assert_eq!(config.get("A::Order").unwrap().value, "a");
        assert_eq!(config.files.len(), 4);
        assert_eq!(config.skipped.len(), 2);
        // apt.conf comes last and wins.
        fake.add_file(
            "/etc/apt/apt.conf",
            "APT::Periodic::Unattended-Upgrade \"0\";\n",
        );
        let config = load(&host).unwrap();
        let s = config.get("APT::Periodic::Unattended-Upgrade").unwrap();
        assert_eq!((s.value.as_str(), s.file.as_str()), ("0", CONF_FILE));
        assert!(config.errors.is_empty());
    }

    #[test]
    fn load_without_apt_is_empty() {
        let host = FakeHost::linux().host();
        let config = load(&host).unwrap();
        assert!(config.files.is_empty());
        assert!(config.get("APT::Periodic::Unattended-Upgrade").is_none());
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in any::<String>()) {
            let _ = parse(&text);
        }

        #[test]
        fn parse_never_panics_on_config_like_text(
            text in "([A-Za-z:\"{};#/* %0-9\t\n-]|#clear|#include|//|/\\*|\\*/){0,80}"
        ) {
            let parsed = parse(&text);
            if let Some(e) = parsed.error {
                prop_assert!(e.line >= 1);
            }
        }

        #[test]
        fn name_rule_never_panics(name in any::<String>()) {
            let _ = conf_d_name_ok(&name);
        }
    }
}
