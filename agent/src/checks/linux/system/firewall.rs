//! `system.firewall` — ISO/IEC 27002:2022 8.20 Networks security, 8.1 User
//! endpoint devices.

use attest_proto::{CheckResult, Evidence, Status};

use super::nftables::{self, IncludeFailure, NftError, Ruleset};
use super::units::{self, UnitScan};
use crate::checks::{Check, Context, file_evidence, unknown};
use crate::host::{Host, join_path};

pub const UFW_CONF: &str = "/etc/ufw/ufw.conf";
pub const NFTABLES_CONF: &str = "/etc/nftables.conf";
/// Where nft looks for an `include` with a relative path (its default include
/// directory, `DEFAULT_INCLUDE_PATH`).
pub const NFT_INCLUDE_DIR: &str = "/etc";

/// `ENABLED=` in `ufw.conf`: its value and the line that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UfwEnabled {
    pub enabled: bool,
    /// 1-based.
    pub line_no: usize,
    pub line: String,
}

/// Parses `/etc/ufw/ufw.conf` and returns the last assignment to `ENABLED`.
///
/// The file is a shell assignment file (ufw's boot script sources it), so it is
/// read as `sh` reads it (`checks.md` clarification 1.1): a line is split into
/// words at unquoted blanks; a word starting with `#` starts a comment; `;`
/// separates commands; `'…'`, `"…"` and `\` quote as in `sh` (`ENABLED="yes"`,
/// `ENABLED=y'es'` are `yes`). A command made only of assignment words
/// (`NAME=value`, the name unquoted; optionally after `export` or `readonly`)
/// assigns in the shell: `ENABLED=yes # comment` is enabled. `ENABLED = yes`
/// (blanks around `=`) runs a command named `ENABLED` and assigns nothing, and
/// `ENABLED=yes cmd` only sets the variable for `cmd`. A line with an unterminated
/// quote, a pipe, redirection, `&`, a subshell or a substitution is not read (its
/// meaning depends on more than this line). The value `yes` in any case is on, as
/// ufw's Python code lowercases it.
pub fn parse_ufw_conf(text: &str) -> Option<UfwEnabled> {
    let mut found = None;
    for (index, raw) in text.lines().enumerate() {
        let Some(commands) = sh_line(raw) else {
            continue;
        };
        for words in commands {
            let mut iter = words.iter().peekable();
            if iter.peek().is_some_and(|w| {
                w.assign.is_none() && matches!(w.text.as_str(), "export" | "readonly")
            }) {
                iter.next();
            }
            let rest: Vec<&ShWord> = iter.collect();
            if rest.is_empty() || rest.iter().any(|w| w.assign.is_none()) {
                continue; // a command: its prefix assignments do not stay in the shell
            }
            for w in rest {
                if let Some((name, value)) = &w.assign
                    && name == "ENABLED"
                {
                    found = Some(UfwEnabled {
                        enabled: value.eq_ignore_ascii_case("yes"),
                        line_no: index + 1,
                        line: raw.trim().to_owned(),
                    });
                }
            }
        }
    }
    found
}

/// One shell word: its text with quotes removed, and `(name, value)` when it is
/// an assignment word.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ShWord {
    text: String,
    assign: Option<(String, String)>,
}

/// The commands of one line, each a list of words; `None` when the line uses
/// something beyond words, quotes, comments and `;` (see [`parse_ufw_conf`]).
fn sh_line(line: &str) -> Option<Vec<Vec<ShWord>>> {
    let chars: Vec<char> = line.chars().collect();
    let mut commands: Vec<Vec<ShWord>> = vec![Vec::new()];
    let mut i = 0;
    while i < chars.len() {
        let c = chars.get(i).copied().unwrap_or(' ');
        if c == ' ' || c == '\t' || c == '\r' {
            i += 1;
            continue;
        }
        if c == '#' {
            break;
        }
        if c == ';' {
            commands.push(Vec::new());
            i += 1;
            continue;
        }
        // One word.
        let mut text = String::new();
        // Where the first unquoted `=` was, when every character before it was an
        // unquoted name character.
        let mut name_end: Option<usize> = None;
        let mut name_ok = true;
        while let Some(&c) = chars.get(i) {
            match c {
                ' ' | '\t' | '\r' | ';' => break,
                '|' | '&' | '<' | '>' | '(' | ')' | '`' => return None,
                '$' if chars.get(i + 1) == Some(&'(') => return None,
                '\'' => {
                    name_ok = false;
                    let close = chars.iter().skip(i + 1).position(|&q| q == '\'')?;
                    text.extend(chars.iter().skip(i + 1).take(close));
                    i += close + 2;
                    continue;
                }
                '"' => {
                    name_ok = false;
                    i += 1;
                    loop {
                        let q = *chars.get(i)?;
                        i += 1;
                        match q {
                            '"' => break,
                            '`' => return None,
                            '$' if chars.get(i) == Some(&'(') => return None,
                            '\\' => {
                                let n = *chars.get(i)?;
                                if !matches!(n, '$' | '`' | '"' | '\\') {
                                    text.push('\\');
                                }
                                text.push(n);
                                i += 1;
                            }
                            other => text.push(other),
                        }
                    }
                    continue;
                }
                '\\' => {
                    name_ok = false;
                    // A trailing backslash continues the line: not read here.
                    let n = *chars.get(i + 1)?;
                    text.push(n);
                    i += 2;
                    continue;
                }
                '=' if name_end.is_none() && name_ok => {
                    name_end = Some(text.len());
                    text.push('=');
                }
                c => {
                    if name_end.is_none() && !(c == '_' || c.is_ascii_alphanumeric()) {
                        name_ok = false;
                    }
                    text.push(c);
                }
            }
            i += 1;
        }
        let assign = name_end.and_then(|end| {
            let name = text.get(..end)?;
            let valid = name
                .chars()
                .next()
                .is_some_and(|f| f == '_' || f.is_ascii_alphabetic());
            valid.then(|| {
                (
                    name.to_owned(),
                    text.get(end + 1..).unwrap_or("").to_owned(),
                )
            })
        });
        if let Some(cmd) = commands.last_mut() {
            cmd.push(ShWord { text, assign });
        }
    }
    Some(commands)
}

/// Passes when one of these is on:
///
/// - ufw: the last `ENABLED=` in `/etc/ufw/ufw.conf` is `yes` (ufw's boot script
///   loads the rules on that alone, whatever the state of `ufw.service`);
/// - firewalld: `firewalld.service` is enabled;
/// - nftables: `nftables.service` is enabled and `/etc/nftables.conf` declares a base
///   chain on the `input` hook of an `ip`, `ip6` or `inet` table whose policy is
///   `drop` (see [`nftables`] for the language read). `include` directives are
///   followed: absolute patterns as written, relative ones under `/etc` (nft's
///   default include directory), `*` and `?` globs in the last path component. A
///   file nft would reject (unbalanced braces, a missing non-glob include) loads
///   nothing and so declares no chain. A chain whose policy is `accept` but whose
///   last rule drops does not count: `checks.md` asks for the policy.
///
/// Fails otherwise. `unknown` when it would fail but a file that could turn it into
/// a pass (`ufw.conf`, `nftables.conf` or an include while nftables is enabled)
/// exists and cannot be read, or `/etc/systemd/system` cannot be listed. RHEL's
/// `/etc/sysconfig/nftables.conf` and iptables rule files are not read.
///
/// Facts: `units_checked`, `units_enabled`, `units_masked`, `ufw_enabled` (null when
/// there is no `ufw.conf`), `firewalld_enabled`, `nftables_enabled`,
/// `nftables_input_chains` (each `family table chain` with its policy),
/// `nftables_input_drop_chains`, `nftables_files_read`, `nftables_error`.
pub struct Firewall;

/// What `/etc/nftables.conf` declares, or why it could not be read.
struct NftState {
    ruleset: Option<Ruleset>,
    /// The text of each file read, for evidence.
    raw: Vec<(String, Vec<u8>)>,
    /// A file nft would reject (the ruleset then loads nothing).
    rejected: Option<String>,
    /// A file that exists but could not be read.
    unreadable: Option<String>,
}

fn read_nftables(host: &Host) -> NftState {
    let mut state = NftState {
        ruleset: None,
        raw: Vec::new(),
        rejected: None,
        unreadable: None,
    };
    let raw = match host.read(NFTABLES_CONF) {
        Ok(raw) => raw,
        Err(e) if e.is_not_found() => return state,
        Err(e) => {
            state.unreadable = Some(e.to_string());
            return state;
        }
    };
    let text = String::from_utf8_lossy(&raw).into_owned();
    state.raw.push((NFTABLES_CONF.to_owned(), raw));
    let mut included: Vec<(String, Vec<u8>)> = Vec::new();
    let mut ruleset = Ruleset::new();
    let result = ruleset.load(NFTABLES_CONF, &text, &mut |pattern| {
        let files = resolve_include(host, pattern)?;
        Ok(files
            .into_iter()
            .map(|(path, raw)| {
                let text = String::from_utf8_lossy(&raw).into_owned();
                included.push((path.clone(), raw));
                (path, text)
            })
            .collect())
    });
    state.raw.extend(included);
    match result {
        Ok(()) => state.ruleset = Some(ruleset),
        Err(
            e @ NftError::Include {
                unreadable: true, ..
            },
        ) => state.unreadable = Some(e.to_string()),
        Err(e) => state.rejected = Some(e.to_string()),
    }
    state
}

/// The files an nft `include "PATTERN"` reads, in order.
fn resolve_include(host: &Host, pattern: &str) -> Result<Vec<(String, Vec<u8>)>, IncludeFailure> {
    let path = if pattern.starts_with('/') {
        pattern.to_owned()
    } else {
        join_path(NFT_INCLUDE_DIR, pattern)
    };
    let (dir, last) = match path.rsplit_once('/') {
        Some(("", last)) => ("/", last),
        Some((dir, last)) => (dir, last),
        None => ("/", path.as_str()),
    };
    let failure = |e: crate::host::ReadError| IncludeFailure {
        unreadable: !e.is_not_found(),
        reason: e.to_string(),
    };
    if !last.contains(['*', '?']) {
        return host
            .read(&path)
            .map(|raw| vec![(path.clone(), raw)])
            .map_err(failure);
    }
    let names = match host.list_dir(dir) {
        Ok(names) => names,
        Err(e) if e.is_not_found() => return Ok(Vec::new()),
        Err(e) => return Err(failure(e)),
    };
    let mut out = Vec::new();
    for name in names {
        let file = join_path(dir, &name);
        if nftables::glob_match(last, &name) && host.is_file(&file) {
            out.push((file.clone(), host.read(&file).map_err(failure)?));
        }
    }
    Ok(out)
}

impl Check for Firewall {
    fn id(&self) -> &'static str {
        "system.firewall"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let host = ctx.host;
        let scan: UnitScan = units::scan(ctx, &["ufw", "firewalld", "nftables"]);
        let is_enabled = |unit: &str| scan.enabled.iter().any(|e| e.unit == unit);
        let firewalld = is_enabled("firewalld.service");
        let nft_enabled = is_enabled("nftables.service");

        let mut evidence: Vec<Evidence> = scan.evidence(host);
        let mut errors: Vec<String> = Vec::new();

        let ufw = match host.read(UFW_CONF) {
            Ok(raw) => {
                let parsed = parse_ufw_conf(&String::from_utf8_lossy(&raw));
                let excerpt = parsed
                    .as_ref()
                    .map_or_else(|| "no ENABLED= line".to_owned(), |u| u.line.clone());
                evidence.push(file_evidence(UFW_CONF, &raw, excerpt));
                Some(parsed.is_some_and(|u| u.enabled))
            }
            Err(e) if e.is_not_found() => None,
            Err(e) => {
                errors.push(e.to_string());
                None
            }
        };

        let nft = read_nftables(host);
        let drop_chains: Vec<String> = nft
            .ruleset
            .as_ref()
            .map(|rs| rs.input_drop_chains().iter().map(|c| c.label()).collect())
            .unwrap_or_default();
        let input_chains: Vec<serde_json::Value> = nft
            .ruleset
            .as_ref()
            .map(|rs| {
                rs.input_chains()
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "chain": c.label(),
                            "policy": c.policy.as_ref().map_or("accept", |p| p.value.as_str()),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        if let Some(rs) = &nft.ruleset {
            evidence.extend(nft_evidence(rs, &nft.raw));
        } else if let (Some(why), Some((path, raw))) = (&nft.rejected, nft.raw.first()) {
            evidence.push(file_evidence(path, raw, why.clone()));
        }
        if nft_enabled && let Some(e) = &nft.unreadable {
            errors.push(e.clone());
        }
        let nft_on = nft_enabled && !drop_chains.is_empty();

        let result = if ufw == Some(true) || firewalld || nft_on {
            let mut on = Vec::new();
            if ufw == Some(true) {
                on.push(format!("ufw (ENABLED=yes in {UFW_CONF})"));
            }
            if firewalld {
                on.push("firewalld (enabled at boot)".to_owned());
            }
            if nft_on {
                on.push(format!(
                    "nftables (enabled at boot; input policy drop in {})",
                    drop_chains.join(", ")
                ));
            }
            CheckResult::new(
                self.id(),
                Status::Pass,
                format!("A host firewall is on: {}.", on.join("; ")),
            )
        } else if let Some(err) = errors.first() {
            unknown(
                self.id(),
                format!("firewall configuration could not be read: {err}"),
            )
        } else if let Some(why) = &scan.dir_error {
            unknown(self.id(), why.clone())
        } else {
            let ufw_part = match ufw {
                Some(_) => "ufw is not enabled",
                None => "ufw is not configured",
            };
            let nft_part = match (nft_enabled, &nft.rejected) {
                (false, _) => "nftables.service is not enabled".to_owned(),
                (true, Some(why)) => format!("nftables.service is enabled but {why}"),
                (true, None) => format!(
                    "nftables.service is enabled but no input chain in {NFTABLES_CONF} has policy drop"
                ),
            };
            CheckResult::new(
                self.id(),
                Status::Fail,
                format!(
                    "No host firewall is on: {ufw_part}, firewalld is not enabled, {nft_part}."
                ),
            )
        };
        scan.facts(result)
            .fact("ufw_enabled", ufw)
            .fact("firewalld_enabled", firewalld)
            .fact("nftables_enabled", nft_enabled)
            .fact("nftables_input_chains", input_chains)
            .fact("nftables_input_drop_chains", drop_chains)
            .fact(
                "nftables_files_read",
                nft.raw.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            )
            .fact(
                "nftables_error",
                nft.rejected.as_ref().or(nft.unreadable.as_ref()),
            )
            .evidences(evidence)
    }
}

/// Evidence for the input chains: per file, the `hook` and `policy` lines.
fn nft_evidence(rs: &Ruleset, raw: &[(String, Vec<u8>)]) -> Vec<Evidence> {
    let mut out = Vec::new();
    for (path, bytes) in raw {
        let text = String::from_utf8_lossy(bytes);
        let lines: Vec<&str> = text.lines().collect();
        let mut wanted: Vec<usize> = rs
            .input_chains()
            .iter()
            .flat_map(|c| [c.hook.as_ref(), c.policy.as_ref()])
            .flatten()
            .filter(|l| &l.path == path)
            .map(|l| l.line)
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            continue;
        }
        let excerpt = wanted
            .iter()
            .filter_map(|n| {
                lines
                    .get(n.saturating_sub(1))
                    .map(|l| format!("{n}: {}", l.trim()))
            })
            .collect::<Vec<_>>()
            .join("\n");
        out.push(file_evidence(path, bytes, excerpt));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::linux::system::testing::{Units, systemd};
    use crate::host::fake::FakeHost;
    use proptest::prelude::*;
    use serde_json::json;

    const DROP: &str = "#!/usr/sbin/nft -f\nflush ruleset\ntable inet filter {\n  chain input {\n    type filter hook input priority filter; policy drop;\n    iif lo accept\n  }\n}\n";

    #[test]
    fn ufw_conf_parsing() {
        let text = "# /etc/ufw/ufw.conf\n#\n\n# Set to yes to start on boot.\nENABLED=no\nENABLED=\"yes\"\nLOGLEVEL=low\n";
        let u = parse_ufw_conf(text).unwrap();
        assert!(u.enabled);
        assert_eq!(u.line_no, 6);
        assert!(!parse_ufw_conf("ENABLED=no\n").unwrap().enabled);
        assert!(parse_ufw_conf("ENABLED='YES'\n").unwrap().enabled);
        assert!(!parse_ufw_conf("ENABLED=yess\n").unwrap().enabled);
        assert_eq!(parse_ufw_conf("#ENABLED=yes\nLOGLEVEL=low\n"), None);
        assert_eq!(parse_ufw_conf("MY_ENABLED=yes\n"), None);
    }

    #[test]
    fn regression_ufw_conf_is_read_as_sh_assignments() {
        let on = |t: &str| parse_ufw_conf(t).is_some_and(|u| u.enabled);
        // Enabled (checks.md clarification 1.1).
        assert!(on("ENABLED=yes # comment\n"));
        assert!(on("ENABLED=yes\t# comment\n"));
        assert!(on("ENABLED=\"yes\"\n"));
        assert!(on("  ENABLED=yes  \n"));
        assert!(on("ENABLED=y'es'\n"));
        assert!(on("export ENABLED=yes\n"));
        assert!(on("LOGLEVEL=low ENABLED=yes\n"));
        assert!(on("ENABLED=no; ENABLED=yes\n"));
        // Not an assignment, or not a value of yes.
        assert_eq!(parse_ufw_conf("ENABLED = yes\n"), None);
        assert_eq!(parse_ufw_conf("ENABLED =yes\n"), None);
        assert_eq!(parse_ufw_conf("ENABLED= yes\n").map(|u| u.enabled), None);
        assert_eq!(parse_ufw_conf("\"ENABLED\"=yes\n"), None);
        assert!(!on("ENABLED=yes#x\n"));
        assert!(!on("ENABLED=\"yes # no\"\n"));
        assert!(!on("ENABLED=yes true\n"));
        assert!(!on("ENABLED=yes | cat\n"));
        assert!(!on("ENABLED=\"yes\n"));
        // The last assignment wins; a later non-assignment changes nothing.
        assert!(on("ENABLED=no\nENABLED=yes # on\nENABLED = no\n"));
        assert!(!on("ENABLED=yes\nENABLED=no # off\n"));
        let u = parse_ufw_conf("ENABLED=yes # on boot\n").unwrap();
        assert_eq!((u.line_no, u.line.as_str()), (1, "ENABLED=yes # on boot"));
    }

    #[test]
    fn ufw_enabled_passes() {
        let mut t = systemd();
        t.add_file(UFW_CONF, "ENABLED=yes\nLOGLEVEL=low\n");
        let r = t.run(&Firewall);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["ufw_enabled"], json!(true));
        assert!(r.evidence.iter().any(|e| matches!(e,
            Evidence::File { path, excerpt, .. } if path == UFW_CONF && excerpt == "ENABLED=yes")));
    }

    #[test]
    fn ufw_disabled_fails() {
        let mut t = systemd();
        t.add_file(UFW_CONF, "ENABLED=no\n");
        let r = t.run(&Firewall);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["ufw_enabled"], json!(false));
    }

    #[test]
    fn regression_firewalld_masked_by_a_relative_link_does_not_count() {
        let mut t = systemd();
        t.enable("firewalld.service");
        t.mask_relative("firewalld.service");
        let r = t.run(&Firewall);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["units_masked"], json!(["firewalld.service"]));
    }

    #[test]
    fn firewalld_enabled_passes_masked_does_not() {
        let mut t = systemd();
        t.enable("firewalld.service");
        assert_eq!(t.run(&Firewall).status, Status::Pass);
        t.mask("firewalld.service");
        let r = t.run(&Firewall);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["units_masked"], json!(["firewalld.service"]));
    }

    #[test]
    fn nftables_needs_both_the_unit_and_a_drop_policy() {
        let mut t = systemd();
        t.add_file(NFTABLES_CONF, DROP);
        let r = t.run(&Firewall);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(
            r.facts["nftables_input_drop_chains"],
            json!(["inet filter input"])
        );

        t.enable("nftables.service");
        let r = t.run(&Firewall);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        let nft_ev = r
            .evidence
            .iter()
            .find_map(|e| match e {
                Evidence::File { path, excerpt, .. } if path == NFTABLES_CONF => Some(excerpt),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            nft_ev,
            "5: type filter hook input priority filter; policy drop;"
        );
    }

    #[test]
    fn nftables_accept_policy_fails() {
        let mut t = systemd();
        t.enable("nftables.service");
        t.add_file(NFTABLES_CONF, DROP.replace("policy drop", "policy accept"));
        let r = t.run(&Firewall);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(
            r.facts["nftables_input_chains"],
            json!([{"chain": "inet filter input", "policy": "accept"}])
        );
    }

    #[test]
    fn nftables_include_is_followed() {
        let mut t = systemd();
        t.enable("nftables.service");
        t.add_file(
            NFTABLES_CONF,
            "flush ruleset\ninclude \"nftables.d/*.nft\"\n",
        );
        t.add_file("/etc/nftables.d/10-filter.nft", DROP);
        t.add_file("/etc/nftables.d/README", "table inet x { }\n");
        let r = t.run(&Firewall);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(
            r.facts["nftables_files_read"],
            json!([NFTABLES_CONF, "/etc/nftables.d/10-filter.nft"])
        );
    }

    #[test]
    fn nftables_missing_include_rejects_the_file() {
        let mut t = systemd();
        t.enable("nftables.service");
        t.add_file(
            NFTABLES_CONF,
            format!("{DROP}include \"/etc/missing.nft\"\n"),
        );
        let r = t.run(&Firewall);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(
            r.facts["nftables_error"]
                .as_str()
                .unwrap()
                .contains("missing.nft")
        );
    }

    #[test]
    fn no_systemd_and_no_ufw_is_fail() {
        let t = FakeHost::linux();
        let r = t.run(&Firewall);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["ufw_enabled"], json!(null));
    }

    proptest! {
        #[test]
        fn parse_ufw_never_panics(text in "(\\PC|\n|=|\"|')*") {
            let _ = parse_ufw_conf(&text);
        }
    }
}
