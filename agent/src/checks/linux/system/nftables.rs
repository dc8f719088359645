//! Enough of nft's input language (nft(8), "INPUT FILE FORMATS", "TABLES",
//! "CHAINS") to find the base chains a ruleset file declares, their hook and
//! their policy.
//!
//! Lexical rules, as nft's scanner: `#` starts a comment to the end of the line
//! (outside a quoted string); statements end at a newline or `;`; a `\` before a
//! newline joins two lines; `{`/`}` open and close blocks; `"…"` is one word.
//! Unbalanced braces make nft reject the whole file, and so does this parser.
//!
//! Commands understood, at the top level, each with or without `add`/`create`:
//! `table [FAMILY] NAME { … }`, `chain [FAMILY] TABLE NAME { … }`, and
//! `flush ruleset` (forgets everything before it), `delete|destroy table …`,
//! `delete|destroy chain …`, `define NAME = VALUE` / `redefine` / `undefine`
//! (used to resolve `policy $NAME`), and `include "PATTERN"` (the caller reads
//! the files; see [`Ruleset::load`]). Inside a table: `chain NAME { … }`. Inside a
//! chain: `type T hook H …` and `policy P`. A chain declared twice merges, the
//! later `hook`/`policy` winning, as nft applies the commands in order. A table
//! without a family is `ip`, as in nft. Everything else (rules, sets, maps,
//! flowtables) is skipped.

use std::collections::HashMap;

/// nft refuses to nest includes deeper than this (`MAX_INCLUDE_DEPTH`).
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// Nesting of blocks beyond this is refused (nft's grammar nests four deep).
pub const MAX_BLOCK_DEPTH: usize = 32;

/// The address families a table may name.
pub const FAMILIES: [&str; 6] = ["ip", "ip6", "inet", "arp", "bridge", "netdev"];

/// The families whose `input` hook sees the packets addressed to the host.
pub const IP_FAMILIES: [&str; 3] = ["ip", "ip6", "inet"];

/// Why a ruleset file would not load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NftError {
    #[error("{path}:{line}: unbalanced braces; nft would reject the file")]
    Unbalanced { path: String, line: usize },
    #[error("{path}:{line}: blocks nested deeper than {MAX_BLOCK_DEPTH}")]
    TooDeep { path: String, line: usize },
    #[error("{path}: include \"{pattern}\": {reason}")]
    Include {
        path: String,
        pattern: String,
        reason: String,
        /// True when the file exists but could not be read (so the verdict is
        /// unknown, not fail).
        unreadable: bool,
    },
    #[error("{path}: includes nested deeper than {MAX_INCLUDE_DEPTH}")]
    IncludeDepth { path: String },
}

/// Why an include could not be resolved; returned by the caller's resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncludeFailure {
    pub reason: String,
    pub unreadable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word { text: String, line: usize },
    Open { line: usize },
    Close { line: usize },
    Sep,
}

/// Splits ruleset text into tokens.
fn tokenize(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut line = 1usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                out.push(Token::Sep);
                line += 1;
            }
            ';' => out.push(Token::Sep),
            '{' => out.push(Token::Open { line }),
            '}' => out.push(Token::Close { line }),
            '#' => {
                while chars.peek().is_some_and(|&n| n != '\n') {
                    chars.next();
                }
            }
            '\\' if chars.peek() == Some(&'\n') => {
                chars.next();
                line += 1;
            }
            '"' => {
                let start = line;
                let mut text = String::new();
                let mut newline = false;
                for n in chars.by_ref() {
                    match n {
                        '"' => break,
                        '\n' => {
                            newline = true;
                            break;
                        }
                        _ => text.push(n),
                    }
                }
                out.push(Token::Word { text, line: start });
                if newline {
                    out.push(Token::Sep);
                    line += 1;
                }
            }
            c if c.is_whitespace() => {}
            c => {
                let mut text = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || matches!(n, ';' | '{' | '}' | '#' | '"') {
                        break;
                    }
                    text.push(n);
                    chars.next();
                }
                out.push(Token::Word { text, line });
            }
        }
    }
    out
}

/// One part of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Word(String),
    Block(Vec<Stmt>),
}

/// A statement: words and blocks up to a newline or `;`, with its first line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stmt {
    pub items: Vec<Item>,
    pub line: usize,
}

impl Stmt {
    /// The words before the first block.
    fn head_words(&self) -> Vec<&str> {
        self.items
            .iter()
            .map_while(|i| match i {
                Item::Word(w) => Some(w.as_str()),
                Item::Block(_) => None,
            })
            .collect()
    }

    /// All the words, blocks left out.
    fn words(&self) -> Vec<&str> {
        self.items
            .iter()
            .filter_map(|i| match i {
                Item::Word(w) => Some(w.as_str()),
                Item::Block(_) => None,
            })
            .collect()
    }

    /// The first block.
    fn block(&self) -> Option<&[Stmt]> {
        self.items.iter().find_map(|i| match i {
            Item::Block(b) => Some(b.as_slice()),
            Item::Word(_) => None,
        })
    }
}

/// Parses ruleset text into statements; `path` is only for error messages.
pub fn parse(path: &str, text: &str) -> Result<Vec<Stmt>, NftError> {
    let tokens = tokenize(text);
    let mut pos = 0usize;
    parse_block(path, &tokens, &mut pos, 0, 1)
}

fn parse_block(
    path: &str,
    tokens: &[Token],
    pos: &mut usize,
    depth: usize,
    open_line: usize,
) -> Result<Vec<Stmt>, NftError> {
    let mut stmts = Vec::new();
    let mut cur = Stmt::default();
    let flush = |cur: &mut Stmt, stmts: &mut Vec<Stmt>| {
        if !cur.items.is_empty() {
            stmts.push(std::mem::take(cur));
        }
    };
    while let Some(token) = tokens.get(*pos) {
        *pos += 1;
        match token {
            Token::Sep => flush(&mut cur, &mut stmts),
            Token::Word { text, line } => {
                if cur.items.is_empty() {
                    cur.line = *line;
                }
                cur.items.push(Item::Word(text.clone()));
            }
            Token::Open { line } => {
                if depth + 1 > MAX_BLOCK_DEPTH {
                    return Err(NftError::TooDeep {
                        path: path.to_owned(),
                        line: *line,
                    });
                }
                if cur.items.is_empty() {
                    cur.line = *line;
                }
                let inner = parse_block(path, tokens, pos, depth + 1, *line)?;
                cur.items.push(Item::Block(inner));
            }
            Token::Close { line } => {
                if depth == 0 {
                    return Err(NftError::Unbalanced {
                        path: path.to_owned(),
                        line: *line,
                    });
                }
                flush(&mut cur, &mut stmts);
                return Ok(stmts);
            }
        }
    }
    if depth > 0 {
        return Err(NftError::Unbalanced {
            path: path.to_owned(),
            line: open_line,
        });
    }
    flush(&mut cur, &mut stmts);
    Ok(stmts)
}

/// Splits `table a { } table b { }` (one line) into two statements: a statement
/// ends after each of its blocks at the top level and in a table.
fn split_after_blocks(stmt: &Stmt) -> Vec<Stmt> {
    let mut out = Vec::new();
    let mut cur = Stmt {
        items: Vec::new(),
        line: stmt.line,
    };
    for item in &stmt.items {
        let is_block = matches!(item, Item::Block(_));
        cur.items.push(item.clone());
        if is_block {
            out.push(std::mem::replace(
                &mut cur,
                Stmt {
                    items: Vec::new(),
                    line: stmt.line,
                },
            ));
        }
    }
    if !cur.items.is_empty() {
        out.push(cur);
    }
    out
}

/// A value and the file line that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub value: String,
    pub path: String,
    pub line: usize,
}

/// A chain the ruleset declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub family: String,
    pub table: String,
    pub name: String,
    /// `hook H` of a base chain.
    pub hook: Option<Located>,
    /// `policy P` (a base chain without one accepts).
    pub policy: Option<Located>,
}

impl Chain {
    /// `FAMILY TABLE CHAIN`, as nft lists it.
    pub fn label(&self) -> String {
        format!("{} {} {}", self.family, self.table, self.name)
    }

    /// A base chain on the `input` hook of an IP family whose policy is `drop`.
    pub fn is_input_drop(&self) -> bool {
        IP_FAMILIES.contains(&self.family.as_str())
            && self.hook.as_ref().is_some_and(|h| h.value == "input")
            && self.policy.as_ref().is_some_and(|p| p.value == "drop")
    }
}

/// What a ruleset file (and its includes) declares.
#[derive(Debug, Default)]
pub struct Ruleset {
    pub chains: Vec<Chain>,
    defines: HashMap<String, String>,
    /// The files loaded, in order (the main file first).
    pub files: Vec<String>,
}

/// Reads the files an `include "PATTERN"` names: (host path, text) in the order
/// nft reads them.
pub type Resolver<'r> = dyn FnMut(&str) -> Result<Vec<(String, String)>, IncludeFailure> + 'r;

impl Ruleset {
    pub fn new() -> Self {
        Ruleset::default()
    }

    /// Applies one ruleset file; includes are read through `resolve`.
    pub fn load(
        &mut self,
        path: &str,
        text: &str,
        resolve: &mut Resolver<'_>,
    ) -> Result<(), NftError> {
        self.load_at(path, text, resolve, 0)
    }

    fn load_at(
        &mut self,
        path: &str,
        text: &str,
        resolve: &mut Resolver<'_>,
        depth: usize,
    ) -> Result<(), NftError> {
        if depth > MAX_INCLUDE_DEPTH {
            return Err(NftError::IncludeDepth {
                path: path.to_owned(),
            });
        }
        self.files.push(path.to_owned());
        for stmt in parse(path, text)? {
            for stmt in split_after_blocks(&stmt) {
                self.top(path, &stmt, resolve, depth)?;
            }
        }
        Ok(())
    }

    /// The base chains on the `input` hook of an IP family with policy `drop`.
    pub fn input_drop_chains(&self) -> Vec<&Chain> {
        self.chains.iter().filter(|c| c.is_input_drop()).collect()
    }

    /// The base chains on the `input` hook of an IP family, whatever their policy.
    pub fn input_chains(&self) -> Vec<&Chain> {
        self.chains
            .iter()
            .filter(|c| {
                IP_FAMILIES.contains(&c.family.as_str())
                    && c.hook.as_ref().is_some_and(|h| h.value == "input")
            })
            .collect()
    }

    fn top(
        &mut self,
        path: &str,
        stmt: &Stmt,
        resolve: &mut Resolver<'_>,
        depth: usize,
    ) -> Result<(), NftError> {
        let words = stmt.head_words();
        let (verb, rest) = match words.split_first() {
            Some((&("add" | "create"), rest)) => ("add", rest),
            Some((&("delete" | "destroy"), rest)) => ("delete", rest),
            Some((first, _)) => (*first, &words[..]),
            None => return Ok(()),
        };
        match (verb, rest) {
            ("flush", [_, "ruleset", ..]) => self.chains.clear(),
            ("include", [_, pattern, ..]) => {
                let files = resolve(pattern).map_err(|f| NftError::Include {
                    path: path.to_owned(),
                    pattern: (*pattern).to_owned(),
                    reason: f.reason,
                    unreadable: f.unreadable,
                })?;
                for (inc_path, text) in files {
                    self.load_at(&inc_path, &text, resolve, depth + 1)?;
                }
            }
            ("define" | "redefine", [_, definition @ ..]) => {
                let joined = definition.join(" ");
                if let (None, Some((name, value))) = (stmt.block(), joined.split_once('=')) {
                    self.defines
                        .insert(name.trim().to_owned(), value.trim().to_owned());
                }
            }
            ("undefine", [_, name, ..]) => {
                self.defines.remove(*name);
            }
            ("add" | "table" | "chain", _) => {
                let (kind, spec) = match (verb, rest) {
                    ("add", [kind, spec @ ..]) => (*kind, spec),
                    (kind, [_, spec @ ..]) => (kind, spec),
                    _ => return Ok(()),
                };
                match kind {
                    "table" => {
                        if let Some((family, table)) = table_spec(spec)
                            && let Some(body) = stmt.block()
                        {
                            self.table_body(path, &family, &table, body);
                        }
                    }
                    "chain" => {
                        if let Some((family, table, name)) = chain_spec(spec) {
                            let index = self.chain_index(&family, &table, &name);
                            if let Some(body) = stmt.block() {
                                self.chain_body(path, index, body);
                            }
                        }
                    }
                    _ => {}
                }
            }
            ("delete", [kind, spec @ ..]) => match *kind {
                "table" => {
                    if let Some((family, table)) = table_spec(spec) {
                        self.chains
                            .retain(|c| !(c.family == family && c.table == table));
                    }
                }
                "chain" => {
                    if let Some((family, table, name)) = chain_spec(spec) {
                        self.chains.retain(|c| {
                            !(c.family == family && c.table == table && c.name == name)
                        });
                    }
                }
                _ => {}
            },
            _ => {}
        }
        Ok(())
    }

    fn table_body(&mut self, path: &str, family: &str, table: &str, body: &[Stmt]) {
        for stmt in body.iter().flat_map(split_after_blocks) {
            if let ["chain", name, ..] = stmt.head_words().as_slice() {
                let index = self.chain_index(family, table, name);
                if let Some(chain_body) = stmt.block() {
                    self.chain_body(path, index, chain_body);
                }
            }
        }
    }

    fn chain_body(&mut self, path: &str, index: usize, body: &[Stmt]) {
        for stmt in body {
            let words = stmt.words();
            match words.as_slice() {
                ["type", rest @ ..] => {
                    let hook = rest
                        .windows(2)
                        .find(|w| w.first() == Some(&"hook"))
                        .and_then(|w| w.get(1));
                    if let (Some(hook), Some(chain)) = (hook, self.chains.get_mut(index)) {
                        chain.hook = Some(Located {
                            value: (*hook).to_owned(),
                            path: path.to_owned(),
                            line: stmt.line,
                        });
                    }
                }
                ["policy", value, ..] => {
                    let value = match value.strip_prefix('$') {
                        Some(name) => self
                            .defines
                            .get(name)
                            .cloned()
                            .unwrap_or_else(|| (*value).to_owned()),
                        None => (*value).to_owned(),
                    };
                    if let Some(chain) = self.chains.get_mut(index) {
                        chain.policy = Some(Located {
                            value,
                            path: path.to_owned(),
                            line: stmt.line,
                        });
                    }
                }
                _ => {}
            }
        }
    }

    /// The index of a chain, created when new.
    fn chain_index(&mut self, family: &str, table: &str, name: &str) -> usize {
        if let Some(i) = self
            .chains
            .iter()
            .position(|c| c.family == family && c.table == table && c.name == name)
        {
            return i;
        }
        self.chains.push(Chain {
            family: family.to_owned(),
            table: table.to_owned(),
            name: name.to_owned(),
            hook: None,
            policy: None,
        });
        self.chains.len() - 1
    }
}

/// `[FAMILY] NAME` → (family, name); the family defaults to `ip`.
fn table_spec(words: &[&str]) -> Option<(String, String)> {
    match words {
        [family, name, ..] if FAMILIES.contains(family) => {
            Some(((*family).to_owned(), (*name).to_owned()))
        }
        [name, ..] => Some(("ip".to_owned(), (*name).to_owned())),
        [] => None,
    }
}

/// `[FAMILY] TABLE CHAIN` → (family, table, chain).
fn chain_spec(words: &[&str]) -> Option<(String, String, String)> {
    match words {
        [family, table, name, ..] if FAMILIES.contains(family) => Some((
            (*family).to_owned(),
            (*table).to_owned(),
            (*name).to_owned(),
        )),
        [table, name, ..] => Some(("ip".to_owned(), (*table).to_owned(), (*name).to_owned())),
        _ => None,
    }
}

/// Shell-style matching of one file name against one pattern component: `*`
/// (any run) and `?` (one character); `[` is literal. As glob(3), a leading `.`
/// is only matched by a pattern that starts with `.`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || Some(&c) == n.get(ni) => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn load(text: &str) -> Result<Ruleset, NftError> {
        let mut rs = Ruleset::new();
        rs.load("/etc/nftables.conf", text, &mut |_| Ok(Vec::new()))?;
        Ok(rs)
    }

    fn drops(text: &str) -> Vec<String> {
        load(text)
            .unwrap()
            .input_drop_chains()
            .iter()
            .map(|c| c.label())
            .collect()
    }

    #[test]
    fn debian_default_accepts() {
        let text = "#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter;\n\t}\n\tchain forward {\n\t\ttype filter hook forward priority filter;\n\t}\n\tchain output {\n\t\ttype filter hook output priority filter;\n\t}\n}\n";
        let rs = load(text).unwrap();
        assert_eq!(rs.chains.len(), 3);
        assert!(rs.input_drop_chains().is_empty());
        assert_eq!(rs.input_chains().len(), 1);
    }

    #[test]
    fn one_line_input_drop() {
        let rs = load(
            "table inet filter { chain input { type filter hook input priority filter; policy drop; } }",
        )
        .unwrap();
        let chains = rs.input_drop_chains();
        assert_eq!(chains.len(), 1);
        assert_eq!(chains[0].label(), "inet filter input");
        assert_eq!(chains[0].policy.as_ref().unwrap().line, 1);
    }

    #[test]
    fn typical_server_ruleset_with_sets_and_comments() {
        let text = r#"#!/usr/sbin/nft -f
flush ruleset
define DROP = drop
table inet filter {
    set allowed { type ipv4_addr; elements = { 10.0.0.1, 10.0.0.2 } }
    chain input {
        type filter hook input priority 0 # comment; policy accept
        policy $DROP
        ct state { established, related } accept
        iif "lo" accept
        tcp dport { 22, 443 } accept comment "ssh; https"
    }
}
"#;
        let rs = load(text).unwrap();
        let chains = rs.input_drop_chains();
        assert_eq!(chains.len(), 1);
        let chain = chains[0];
        assert_eq!(chain.hook.as_ref().unwrap().line, 7);
        assert_eq!(chain.policy.as_ref().unwrap().line, 8);
        assert_eq!(chain.policy.as_ref().unwrap().value, "drop");
    }

    #[test]
    fn families_and_hooks_matter() {
        // No family means ip.
        assert_eq!(
            drops(
                "table filter {\nchain INPUT {\ntype filter hook input priority 0; policy drop;\n}\n}"
            ),
            vec!["ip filter INPUT"]
        );
        // Output and forward hooks, and the netdev/bridge families, do not count.
        assert!(
            drops("table inet f { chain o { type filter hook output priority 0; policy drop; } }")
                .is_empty()
        );
        assert!(
            drops("table bridge f { chain i { type filter hook input priority 0; policy drop; } }")
                .is_empty()
        );
        // A regular chain (no hook) with a policy is not a base chain.
        assert!(drops("table inet f { chain i { policy drop; } }").is_empty());
        // "hook" inside a comment is not a hook.
        assert!(
            drops("table inet f { chain i { type filter # hook input\n policy drop; } }")
                .is_empty()
        );
    }

    #[test]
    fn command_form_later_policy_and_flush() {
        let text = "add table inet fw\nadd chain inet fw in { type filter hook input priority 0 ; policy drop ; }\n";
        assert_eq!(drops(text), vec!["inet fw in"]);
        // A later declaration changes the policy.
        let later = format!("{text}chain inet fw in {{ policy accept; }}\n");
        assert!(drops(&later).is_empty());
        // flush ruleset forgets what came before it.
        let flushed = format!("{text}flush ruleset\n");
        assert!(drops(&flushed).is_empty());
        // delete table drops its chains.
        let deleted = format!("{text}delete table inet fw\n");
        assert!(drops(&deleted).is_empty());
        let deleted = format!("{text}destroy chain inet fw in\n");
        assert!(drops(&deleted).is_empty());
    }

    #[test]
    fn two_tables_on_one_line_and_continuations() {
        let text = "table ip a { chain x { type filter hook output priority 0; } } table ip6 b { chain y { type filter \\\n hook input priority 0; policy drop; } }";
        assert_eq!(drops(text), vec!["ip6 b y"]);
    }

    #[test]
    fn unbalanced_braces_are_rejected() {
        assert!(matches!(
            load("table inet f { chain i { policy drop; }"),
            Err(NftError::Unbalanced { line: 1, .. })
        ));
        assert!(matches!(
            load("table inet f { }\n}\n"),
            Err(NftError::Unbalanced { line: 2, .. })
        ));
        // A brace inside a string or a comment is not a brace.
        assert!(load("table inet f { comment \"}\" } # {\n").is_ok());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = "{".repeat(10_000);
        assert!(matches!(load(&text), Err(NftError::TooDeep { .. })));
    }

    #[test]
    fn includes_are_followed_in_order() {
        let mut rs = Ruleset::new();
        let mut seen = Vec::new();
        rs.load(
            "/etc/nftables.conf",
            "flush ruleset\ninclude \"/etc/nftables.d/*.nft\"\n",
            &mut |pattern| {
                seen.push(pattern.to_owned());
                Ok(vec![(
                    "/etc/nftables.d/10-filter.nft".to_owned(),
                    "table inet filter {\n chain input {\n  type filter hook input priority 0\n  policy drop\n }\n}\n".to_owned(),
                )])
            },
        )
        .unwrap();
        assert_eq!(seen, vec!["/etc/nftables.d/*.nft"]);
        let chains = rs.input_drop_chains();
        assert_eq!(chains.len(), 1);
        assert_eq!(
            chains[0].policy.as_ref().unwrap().path,
            "/etc/nftables.d/10-filter.nft"
        );
        assert_eq!(rs.files.len(), 2);
    }

    #[test]
    fn include_failures_and_loops() {
        let mut rs = Ruleset::new();
        let err = rs
            .load(
                "/etc/nftables.conf",
                "include \"missing.nft\"\n",
                &mut |_| {
                    Err(IncludeFailure {
                        reason: "not found".to_owned(),
                        unreadable: false,
                    })
                },
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                NftError::Include {
                    unreadable: false,
                    ..
                }
            ),
            "{err}"
        );

        let mut rs = Ruleset::new();
        let err = rs
            .load("/etc/nftables.conf", "include \"self.nft\"\n", &mut |_| {
                Ok(vec![(
                    "/etc/self.nft".to_owned(),
                    "include \"self.nft\"\n".to_owned(),
                )])
            })
            .unwrap_err();
        assert!(matches!(err, NftError::IncludeDepth { .. }), "{err}");
    }

    #[test]
    fn glob_matching() {
        assert!(glob_match("*.nft", "10-filter.nft"));
        assert!(!glob_match("*.nft", "10-filter.nft.bak"));
        assert!(!glob_match("*.nft", ".hidden.nft"));
        assert!(glob_match(".*", ".hidden"));
        assert!(glob_match("a?c*", "abcdef"));
        assert!(glob_match("*", "x"));
        assert!(!glob_match("a*b*c", "aXbY"));
        assert!(glob_match("a*b*c", "aXbYc"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
    }

    proptest! {
        #[test]
        fn load_never_panics(text in "(\\PC|\n|[{};#\"\\\\])*") {
            let _ = load(&text);
        }

        #[test]
        fn structured_input_never_panics(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("table"), Just("chain"), Just("add"), Just("delete"), Just("inet"),
                    Just("hook"), Just("input"), Just("policy"), Just("drop"), Just("define"),
                    Just("="), Just("$x"), Just("{"), Just("}"), Just(";"), Just("\n"),
                    Just("flush"), Just("ruleset"), Just("include"), Just("\"f\""), Just("type"),
                ],
                0..40,
            )
        ) {
            let _ = load(&parts.join(" "));
        }

        #[test]
        fn glob_never_panics(p in "[a*?.]{0,8}", n in "[a.b]{0,8}") {
            let _ = glob_match(&p, &n);
        }
    }
}
