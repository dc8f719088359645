//! Shell-style patterns as glob(3) expands them for sshd's `Include`, matched one
//! path component at a time, inside the host root.
//!
//! - `*` matches any run of characters, `?` one character, `[...]` one of a set
//!   (`[!...]` or `[^...]` negated, `a-z` ranges, a `]` first in the set is a
//!   member, a `[` without its `]` is literal); `\` makes the next character
//!   literal. POSIX classes such as `[[:digit:]]` are not supported.
//! - A name starting with `.` is matched only by a pattern starting with a
//!   literal `.` (glob without `GLOB_PERIOD`).
//! - Results are sorted bytewise (glob sorts them; sshd runs in the C locale).

use crate::host::{Host, ReadError, join_path};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    Any,
    Star,
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
}

/// Parses a `[...]` set starting after its `[`; `None` when it has no `]`.
fn class(chars: &[char]) -> Option<(Token, usize)> {
    let mut i = 0;
    let negated = matches!(chars.first(), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut items = Vec::new();
    let mut first = true;
    loop {
        let mut c = *chars.get(i)?;
        if c == ']' && !first {
            return Some((Token::Class { negated, items }, i + 1));
        }
        first = false;
        if c == '\\' {
            i += 1;
            c = *chars.get(i)?;
        }
        i += 1;
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|n| *n != ']') {
            let mut hi = *chars.get(i + 1)?;
            i += 2;
            if hi == '\\' {
                hi = *chars.get(i)?;
                i += 1;
            }
            items.push((c, hi));
        } else {
            items.push((c, c));
        }
    }
}

fn compile(pattern: &str) -> Vec<Token> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            '*' => {
                out.push(Token::Star);
                i += 1;
            }
            '?' => {
                out.push(Token::Any);
                i += 1;
            }
            '[' => match chars.get(i + 1..).and_then(class) {
                Some((token, used)) => {
                    out.push(token);
                    i += 1 + used;
                }
                None => {
                    out.push(Token::Literal('['));
                    i += 1;
                }
            },
            '\\' => {
                match chars.get(i + 1) {
                    Some(&next) => out.push(Token::Literal(next)),
                    None => out.push(Token::Literal('\\')),
                }
                i += 2;
            }
            _ => {
                out.push(Token::Literal(c));
                i += 1;
            }
        }
    }
    out
}

/// True when the component has a wildcard that glob would expand.
pub fn has_magic(component: &str) -> bool {
    compile(component)
        .iter()
        .any(|t| !matches!(t, Token::Literal(_)))
}

fn one(token: &Token, c: char) -> bool {
    match token {
        Token::Literal(l) => *l == c,
        Token::Any => true,
        Token::Star => false,
        Token::Class { negated, items } => {
            let hit = items.iter().any(|(lo, hi)| *lo <= c && c <= *hi);
            hit != *negated
        }
    }
}

/// Whether one path component `name` matches the pattern component `pattern`.
pub fn matches(pattern: &str, name: &str) -> bool {
    let tokens = compile(pattern);
    let name: Vec<char> = name.chars().collect();
    if name.first() == Some(&'.') && tokens.first() != Some(&Token::Literal('.')) {
        return false;
    }
    let (mut p, mut n) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match (tokens.get(p), name.get(n)) {
            (Some(Token::Star), _) => {
                star = Some((p, n));
                p += 1;
            }
            (Some(t), Some(&c)) if one(t, c) => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    while tokens.get(p) == Some(&Token::Star) {
        p += 1;
    }
    p == tokens.len()
}

/// Removes the escapes of a component without wildcards.
fn unescape(component: &str) -> String {
    compile(component)
        .into_iter()
        .filter_map(|t| match t {
            Token::Literal(c) => Some(c),
            _ => None,
        })
        .collect()
}

/// Expands an absolute pattern against the directories of `src`. Components
/// without wildcards before the first wildcard are taken as written (the caller
/// finds out whether the result exists when it reads it); after a wildcard only
/// existing names are kept. A directory that does not exist matches
/// nothing; any other listing error is returned.
pub fn expand(src: &Host, pattern: &str) -> Result<Vec<String>, ReadError> {
    let mut current = vec!["/".to_owned()];
    let mut after_magic = false;
    for component in pattern.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        if has_magic(component) {
            after_magic = true;
            for dir in &current {
                match src.list_dir(dir) {
                    Ok(names) => next.extend(
                        names
                            .iter()
                            .filter(|n| matches(component, n))
                            .map(|n| join_path(dir, n)),
                    ),
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
            }
        } else {
            let literal = unescape(component);
            for dir in &current {
                // After a wildcard, keep only what exists, as glob does.
                let exists = !after_magic
                    || src
                        .list_dir(dir)
                        .is_ok_and(|names| names.contains(&literal));
                if exists {
                    next.push(join_path(dir, &literal));
                }
            }
        }
        current = next;
    }
    current.sort();
    current.dedup();
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use proptest::prelude::*;

    #[test]
    fn stars_and_question_marks() {
        assert!(matches("*.conf", "50-cloud-init.conf"));
        assert!(!matches("*.conf", "50-cloud-init.conf.bak"));
        assert!(matches("*", "x"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
        assert!(matches("??.conf", "10.conf"));
        assert!(!matches("??.conf", "100.conf"));
        assert!(matches("**", ""));
    }

    #[test]
    fn classes() {
        assert!(matches("[0-9]*.conf", "5x.conf"));
        assert!(!matches("[0-9]*.conf", "x.conf"));
        assert!(matches("[!a]", "b"));
        assert!(!matches("[^ab]", "a"));
        assert!(matches("[]]", "]"));
        assert!(matches("[a-]", "-"));
        assert!(matches("[", "["), "an unclosed [ is literal");
        assert!(matches("\\*", "*"));
        assert!(!matches("\\*", "x"));
    }

    #[test]
    fn leading_dot_needs_a_literal_dot() {
        assert!(!matches("*.conf", ".hidden.conf"));
        assert!(!matches("?x", ".x"));
        assert!(matches(".*", ".hidden"));
    }

    #[test]
    fn expansion_is_sorted_and_per_component() {
        let src = FakeHost::linux()
            .files(&[
                ("/etc/ssh/sshd_config.d/20-b.conf", ""),
                ("/etc/ssh/sshd_config.d/10-a.conf", ""),
                ("/etc/ssh/sshd_config.d/Z.conf", ""),
                ("/etc/ssh/sshd_config.d/.hidden.conf", ""),
                ("/etc/ssh/sshd_config.d/notes.txt", ""),
                ("/etc/ssh/a/x.conf", ""),
                ("/etc/ssh/b/x.conf", ""),
            ])
            .host();
        assert_eq!(
            expand(&src, "/etc/ssh/sshd_config.d/*.conf").unwrap(),
            [
                "/etc/ssh/sshd_config.d/10-a.conf",
                "/etc/ssh/sshd_config.d/20-b.conf",
                "/etc/ssh/sshd_config.d/Z.conf"
            ]
        );
        assert_eq!(
            expand(&src, "/etc/ssh/*/x.conf").unwrap(),
            ["/etc/ssh/a/x.conf", "/etc/ssh/b/x.conf"]
        );
        assert!(expand(&src, "/etc/nope/*.conf").unwrap().is_empty());
        assert_eq!(expand(&src, "/etc/ssh/plain").unwrap(), ["/etc/ssh/plain"]);
    }

    #[test]
    fn unreadable_directories_are_errors() {
        let src = FakeHost::linux()
            .files(&[("/etc/ssh/d/a.conf", "")])
            .deny("/etc/ssh/d")
            .host();
        assert!(
            expand(&src, "/etc/ssh/d/*.conf")
                .unwrap_err()
                .is_permission_denied()
        );
    }

    proptest! {
        #[test]
        fn matching_never_panics(p in "\\PC{0,12}", n in "\\PC{0,12}") {
            let _ = matches(&p, &n);
            let _ = has_magic(&p);
        }

        #[test]
        fn literal_patterns_match_themselves(n in "[a-z0-9_-]{1,12}") {
            prop_assert!(matches(&n, &n));
        }

        #[test]
        fn star_matches_everything_not_hidden(n in "[a-z0-9_.-]{1,12}") {
            prop_assert_eq!(matches("*", &n), !n.starts_with('.'));
        }
    }
}
