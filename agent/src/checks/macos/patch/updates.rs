//! `patch.security_updates_pending` on a Mac: softwareupdated's last scan, as
//! `RecommendedUpdates` in `/Library/Preferences/com.apple.SoftwareUpdate.plist`
//! and as `softwareupdate --list --no-scan` prints it.

use attest_proto::{CheckResult, Evidence, Status};
use plist::{Dictionary, Value};

use crate::checks::linux::patch::MAX_LISTED;
use crate::checks::macos::plist as cmdplist;
use crate::checks::macos::prefs::render;
use crate::checks::macos::system::{lines, quote};
use crate::checks::macos::version;
use crate::checks::{Check, Context, command_evidence, file_evidence, unknown};
use crate::host::sources::MACOS_SOFTWAREUPDATE_LIST;

use super::{SOFTWARE_UPDATE_PLIST, software_update_plist};

/// The lines of `softwareupdate --list` that carry no update.
const HEADER: &str = "Software Update Tool";
const FINDING: &str = "Finding available software";
const FOUND: &str = "Software Update found the following new or updated software:";
const NONE: &str = "No new software available.";
const LABEL: &str = "* Label: ";
const SCAN_ERROR: &str = "Scan finished with error";
/// How many product keys or labels an evidence excerpt names (the facts list up to
/// [`MAX_LISTED`]).
const EXCERPT_KEYS: usize = 10;

/// One update as `softwareupdate --list` prints it (two lines):
/// `* Label: LABEL` then `\tTitle: T, Version: V, Size: S, Recommended: YES|NO,
/// Action: restart|none,` (Size, Recommended and Action may be missing: Command
/// Line Tools have no Action).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub label: String,
    pub title: String,
    pub version: String,
    pub recommended: Option<bool>,
    pub action: Option<String>,
}

/// Why `softwareupdate --list` output cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error("the scan failed: {0}")]
    ScanError(String),
    #[error("unexpected line {}", quote(.0))]
    Unexpected(String),
    #[error("no update list and no \"{NONE}\" line")]
    Incomplete,
    #[error("label {} has no Title line after it", quote(.0))]
    MissingDetails(String),
    #[error("malformed update line {}", quote(.0))]
    BadDetails(String),
}

/// The fields of a `Title:` line, split where a known key begins (a title may hold
/// a comma).
fn parse_details(label: &str, line: &str) -> Result<Listed, ListError> {
    const KEYS: [&str; 5] = ["Title", "Version", "Size", "Recommended", "Action"];
    let bad = || ListError::BadDetails(line.to_owned());
    let body = line.trim().trim_end_matches(',').trim_end();
    let mut fields: Vec<(String, String)> = Vec::new();
    for part in body.split(", ") {
        let known = part
            .split_once(": ")
            .filter(|(k, _)| KEYS.contains(k))
            .or_else(|| {
                part.strip_suffix(':')
                    .map(|k| (k, ""))
                    .filter(|(k, _)| KEYS.contains(k))
            });
        match (known, fields.last_mut()) {
            (Some((k, v)), _) => fields.push((k.to_owned(), v.trim().to_owned())),
            (None, Some((_, value))) => {
                value.push_str(", ");
                value.push_str(part);
            }
            (None, None) => return Err(bad()),
        }
    }
    let get = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let title = get("Title").ok_or_else(bad)?;
    let version = get("Version").ok_or_else(bad)?;
    let recommended = match get("Recommended").as_deref() {
        None => None,
        Some("YES") => Some(true),
        Some("NO") => Some(false),
        Some(_) => return Err(bad()),
    };
    Ok(Listed {
        label: label.to_owned(),
        title,
        version,
        recommended,
        action: get("Action"),
    })
}

/// Parses `softwareupdate --list --no-scan` (standard output and error together).
/// Only the lines of Kolide's captures are accepted: the tool's header, "Finding
/// available software", "Software Update found the following new or updated
/// software:", "No new software available.", and `* Label:` / `Title:` pairs. A line
/// starting `Scan finished with error` makes the output unusable.
pub fn parse_list(text: &str) -> Result<Vec<Listed>, ListError> {
    let mut out = Vec::new();
    let mut none = false;
    let mut found = false;
    let mut it = lines(text);
    while let Some(line) = it.next() {
        let trimmed = line.trim();
        if trimmed.starts_with(SCAN_ERROR) {
            return Err(ListError::ScanError(quote(trimmed)));
        }
        match trimmed {
            HEADER | FINDING => {}
            FOUND => found = true,
            NONE => none = true,
            _ => {
                let Some(label) = trimmed.strip_prefix(LABEL.trim_end()) else {
                    return Err(ListError::Unexpected(trimmed.to_owned()));
                };
                let label = label.trim();
                let details = it
                    .next()
                    .filter(|l| l.trim_start().starts_with("Title:"))
                    .ok_or_else(|| ListError::MissingDetails(label.to_owned()))?;
                out.push(parse_details(label, details)?);
            }
        }
    }
    match (none, found, out.is_empty()) {
        (true, false, true) => Ok(out),
        (false, true, false) => Ok(out),
        (true, _, false) => Err(ListError::Unexpected(NONE.to_owned())),
        _ => Err(ListError::Incomplete),
    }
}

/// One entry of `RecommendedUpdates`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recommended {
    pub name: String,
    pub version: String,
    pub product_key: String,
    pub identifier: String,
}

/// The entries of `RecommendedUpdates`; `Ok(None)` when the key is absent. Entries
/// that are not dictionaries, or hold no name and no key, are an error.
pub fn parse_recommended(dict: &Dictionary) -> Result<Option<Vec<Recommended>>, String> {
    let Some(value) = dict.get("RecommendedUpdates") else {
        return Ok(None);
    };
    let items = value
        .as_array()
        .ok_or_else(|| format!("RecommendedUpdates is {}, not an array", render(value)))?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let d = item.as_dictionary().ok_or_else(|| {
            format!(
                "RecommendedUpdates[{i}] is {}, not a dictionary",
                render(item)
            )
        })?;
        let s = |k: &str| cmdplist::string(d, k).unwrap_or_default();
        let entry = Recommended {
            name: s("Display Name"),
            version: s("Display Version"),
            product_key: s("Product Key"),
            identifier: s("Identifier"),
        };
        if entry.name.is_empty() && entry.product_key.is_empty() && entry.identifier.is_empty() {
            return Err(format!(
                "RecommendedUpdates[{i}] has no Display Name, Product Key or Identifier"
            ));
        }
        out.push(entry);
    }
    Ok(Some(out))
}

/// An update seen by either source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub title: String,
    pub version: String,
    /// The product key (plist), else the label (`softwareupdate --list` only).
    pub key: String,
    pub recommended: Option<bool>,
    pub in_plist: bool,
    pub in_list: bool,
}

impl Update {
    /// `TITLE VERSION (product key)`.
    pub fn line(&self) -> String {
        format!("{} {} ({})", self.title, self.version, self.key)
    }
}

fn same(plist: &Recommended, listed: &Listed) -> bool {
    let eq = |a: &str, b: &str| !a.is_empty() && a.trim().eq_ignore_ascii_case(b.trim());
    (eq(&plist.name, &listed.title) && eq(&plist.version, &listed.version))
        || eq(&plist.identifier, &listed.label)
        || eq(&plist.product_key, &listed.label)
}

/// The union of both views of the last scan: an update in both is one entry.
pub fn union(plist: &[Recommended], listed: &[Listed]) -> Vec<Update> {
    let mut out: Vec<Update> = plist
        .iter()
        .map(|p| Update {
            title: if p.name.is_empty() {
                p.identifier.clone()
            } else {
                p.name.clone()
            },
            version: p.version.clone(),
            key: if p.product_key.is_empty() {
                p.identifier.clone()
            } else {
                p.product_key.clone()
            },
            recommended: None,
            in_plist: true,
            in_list: false,
        })
        .collect();
    for l in listed {
        match plist.iter().position(|p| same(p, l)) {
            Some(i) if !out[i].in_list => {
                out[i].in_list = true;
                out[i].recommended = l.recommended;
            }
            _ => out.push(Update {
                title: l.title.clone(),
                version: l.version.clone(),
                key: l.label.clone(),
                recommended: l.recommended,
                in_plist: false,
                in_list: true,
            }),
        }
    }
    out
}

/// Whether an update counts for `patch.security_updates_pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A security-relevant update for the running system.
    Counts,
    /// Listed in `facts.other_updates`, with why.
    Other(&'static str),
    /// The running major is unknown and the update's own major decides.
    Undecided,
}

/// The first number of a version (`14` of `14.6.1 (a)`).
fn major_of(version: &str) -> Option<u32> {
    let digits: String = version
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// True for a Rapid Security Response or Background Security Improvement: a
/// product key ending `_rsr`, a version or title with a letter in brackets
/// (`13.4.1 (a)`), or a title naming one.
fn is_rsr(u: &Update) -> bool {
    let lettered = |s: &str| {
        s.split('(').skip(1).any(|rest| {
            let mut c = rest.chars();
            matches!((c.next(), c.next()), (Some(l), Some(')')) if l.is_ascii_lowercase())
        })
    };
    u.key.to_ascii_lowercase().ends_with("_rsr")
        || lettered(&u.version)
        || lettered(&u.title)
        || u.title.contains("Security Response")
        || u.title.contains("Background Security Improvement")
}

/// Classifies an update against the running major (the rule of `docs/checks.md`):
/// not counted are betas, updates marked `Recommended: NO`, Command Line Tools and
/// Xcode, and major upgrades (a product key ending `_major`, or another major);
/// counted are RSR/BSI, Safari, and updates of the running major (`…_minor` keys).
pub fn classify(u: &Update, running_major: Option<u32>) -> Verdict {
    let key = u.key.to_ascii_lowercase();
    if u.title.contains("Beta") || u.key.contains("Beta") {
        return Verdict::Other("beta");
    }
    if u.recommended == Some(false) {
        return Verdict::Other("not recommended");
    }
    if u.title.starts_with("Command Line Tools") || u.key.starts_with("Command Line Tools") {
        return Verdict::Other("Command Line Tools");
    }
    if u.title.contains("Xcode") {
        return Verdict::Other("Xcode");
    }
    if key.ends_with("_major") {
        return Verdict::Other("major upgrade");
    }
    if is_rsr(u) {
        return Verdict::Counts;
    }
    if u.title.starts_with("Safari") || u.key.starts_with("Safari") {
        return Verdict::Counts;
    }
    match (major_of(&u.version), running_major) {
        (Some(m), Some(r)) if m == r => Verdict::Counts,
        (Some(m), Some(r)) if m > r && m >= 10 => Verdict::Other("major upgrade"),
        (_, Some(_)) => Verdict::Other("not for the running macOS"),
        (_, None) => Verdict::Undecided,
    }
}

/// `patch.security_updates_pending` on a Mac.
///
/// Sources: `RecommendedUpdates` of `/Library/Preferences/com.apple.SoftwareUpdate.plist`
/// (written by softwareupdated's last scan; offline and live), and, live or
/// replayed, `softwareupdate --list --no-scan` (the cached result of that scan; no
/// network). When both answer, an update found by either counts (they are two views
/// of one scan) and the differences are recorded. Offline, the plist alone decides.
/// The command's output is unusable on a `Scan finished with error` line or any line
/// outside the accepted set; the plist then decides alone, and the reason says why.
///
/// Counted: an update of the running major (its version's first number equals
/// `ProductVersion`'s; `MSU_UPDATE_…_minor` keys are such), a Safari update, an
/// RSR/BSI (`…_rsr` key, a lettered version such as `13.4.1 (a)`). Not counted but
/// listed in `facts.other_updates`: betas (title says `Beta`), `Recommended: NO`,
/// Command Line Tools, Xcode, major upgrades (`…_major` key, or a higher major), and
/// anything else of another version. An update known only to the command is listed
/// by its label, as it has no product key there.
///
/// pass: nothing counts; fail: the count, and up to 50 as `TITLE VERSION (product
/// key)` in `facts.pending`; unknown: neither source usable (the plist missing or
/// without `RecommendedUpdates`, and no usable command output), or updates are listed
/// and the running version cannot be read.
///
/// Facts: `pending_count`, `pending`, `pending_truncated`, `other_updates`
/// (`{update, why}`), `sources` (which answered), `only_in_plist`,
/// `only_in_softwareupdate`, `last_recommended_updates_available`, `macos_version`.
pub struct SecurityUpdatesPending;

const ID: &str = "patch.security_updates_pending";

impl Check for SecurityUpdatesPending {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let mut problems: Vec<String> = Vec::new();
        let mut evidence: Vec<Evidence> = Vec::new();
        let mut sources: Vec<&str> = Vec::new();

        let memo = software_update_plist(ctx);
        let mut last_available = None;
        let from_plist = match &memo.0 {
            Ok(Some((bytes, dict))) => {
                last_available = dict
                    .get("LastRecommendedUpdatesAvailable")
                    .and_then(Value::as_signed_integer);
                match parse_recommended(dict) {
                    Ok(Some(items)) => {
                        let keys: Vec<String> = items
                            .iter()
                            .take(EXCERPT_KEYS)
                            .map(|r| r.product_key.clone())
                            .collect();
                        evidence.push(file_evidence(
                            SOFTWARE_UPDATE_PLIST,
                            bytes,
                            format!(
                                "RecommendedUpdates: {} entr{} {keys:?}",
                                items.len(),
                                if items.len() == 1 { "y" } else { "ies" }
                            ),
                        ));
                        sources.push("plist");
                        Some(items)
                    }
                    Ok(None) => {
                        problems.push(format!("{SOFTWARE_UPDATE_PLIST}: no RecommendedUpdates"));
                        None
                    }
                    Err(e) => {
                        problems.push(format!("{SOFTWARE_UPDATE_PLIST}: {e}"));
                        None
                    }
                }
            }
            Ok(None) => {
                problems.push(format!("{SOFTWARE_UPDATE_PLIST}: not found"));
                None
            }
            Err(e) => {
                problems.push(e.clone());
                None
            }
        };

        let from_list = match ctx.host.command(&MACOS_SOFTWAREUPDATE_LIST) {
            Ok(out) => {
                let text = format!("{}\n{}", out.stdout, out.stderr);
                match parse_list(&text) {
                    Ok(items) => {
                        let excerpt = if items.is_empty() {
                            NONE.to_owned()
                        } else {
                            items
                                .iter()
                                .take(EXCERPT_KEYS)
                                .map(|l| format!("{LABEL}{}", l.label))
                                .collect::<Vec<_>>()
                                .join("\n")
                        };
                        evidence.push(command_evidence(&out, excerpt));
                        sources.push("softwareupdate");
                        Some(items)
                    }
                    Err(e) => {
                        problems.push(format!("{}: {e}", MACOS_SOFTWAREUPDATE_LIST.describe()));
                        None
                    }
                }
            }
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        };

        let version = version::get(ctx);
        let base = |r: CheckResult| {
            r.fact("sources", &sources)
                .fact("last_recommended_updates_available", last_available)
                .fact(
                    "macos_version",
                    version.as_ref().ok().map(ToString::to_string),
                )
        };
        if from_plist.is_none() && from_list.is_none() {
            return base(unknown(ID, problems.join("; "))).evidences(evidence);
        }
        let plist_items = from_plist.unwrap_or_default();
        let list_items = from_list.as_deref().unwrap_or_default();
        let all = union(&plist_items, list_items);
        let both = sources.len() == 2;
        let only_in = |plist_side: bool| -> Vec<String> {
            all.iter()
                .filter(|u| both && u.in_plist == plist_side && u.in_list != plist_side)
                .map(Update::line)
                .collect()
        };
        let (only_plist, only_list) = (only_in(true), only_in(false));

        let running = version.as_ref().ok().map(|v| v.major);
        let mut pending: Vec<&Update> = Vec::new();
        let mut other: Vec<serde_json::Value> = Vec::new();
        let mut undecided: Vec<&Update> = Vec::new();
        for u in &all {
            match classify(u, running) {
                Verdict::Counts => pending.push(u),
                Verdict::Other(why) => {
                    other.push(serde_json::json!({"update": u.line(), "why": why}));
                }
                Verdict::Undecided => undecided.push(u),
            }
        }
        let listed: Vec<String> = pending.iter().take(MAX_LISTED).map(|u| u.line()).collect();
        let result = if !undecided.is_empty() && pending.is_empty() {
            unknown(
                ID,
                format!(
                    "{} update{} listed ({}) and the running macOS version cannot be read: {}",
                    undecided.len(),
                    if undecided.len() == 1 { " is" } else { "s are" },
                    undecided[0].line(),
                    version.as_ref().err().cloned().unwrap_or_default()
                ),
            )
        } else if pending.is_empty() {
            let summary = if other.is_empty() {
                "no software update is pending".to_owned()
            } else {
                format!(
                    "no security update is pending for the running macOS ({} other update{} not counted)",
                    other.len(),
                    if other.len() == 1 { "" } else { "s" }
                )
            };
            CheckResult::new(ID, Status::Pass, summary)
        } else {
            CheckResult::new(
                ID,
                Status::Fail,
                format!(
                    "{} security update{} pending, e.g. {}",
                    pending.len(),
                    if pending.len() == 1 { " is" } else { "s are" },
                    listed[0]
                ),
            )
        };
        // `reason` is for unknown and not_applicable only: a source that gave no
        // answer beside a decided verdict is a fact.
        let result = if problems.is_empty() {
            result
        } else if result.status == Status::Unknown && result.reason.is_none() {
            result.with_reason(problems.join("; "))
        } else {
            result.fact("unanswered", &problems)
        };
        base(result)
            .fact("pending_count", pending.len())
            .fact("pending", &listed)
            .fact("pending_truncated", pending.len() > MAX_LISTED)
            .fact(
                "other_updates",
                other.into_iter().take(MAX_LISTED).collect::<Vec<_>>(),
            )
            .fact("only_in_plist", only_plist)
            .fact("only_in_softwareupdate", only_list)
            .evidences(evidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::macos::prefs::tests::{binary, xml};
    use crate::checks::macos::system::testmac::mac;
    use crate::host::fake::FakeHost;
    use serde_json::json;

    // Kolide's captures (kolide/launcher, ee/tables/execparsers/softwareupdate/test-data).
    const NO_UPDATES: &str = "Software Update Tool\n\nNo new software available.\n";
    const ONE_UPDATE: &str = "Software Update Tool\n\nSoftware Update found the following new or updated software:\n* Label: macOS Ventura 13.3.1-22E261\n\tTitle: macOS Ventura 13.3.1, Version: 13.3.1, Size: 868648KiB, Recommended: YES, Action: restart, \n";
    const SCANNED: &str = "\nSoftware Update Tool\n\nFinding available software\nSoftware Update found the following new or updated software:\n* Label: macOS Ventura 13.3.1-22E261\n\tTitle: macOS Ventura 13.3.1, Version: 13.3.1, Size: 868648KiB, Recommended: YES, Action: restart,\n";
    const CLT_AND_BETA: &str = "Software Update Tool\n\nSoftware Update found the following new or updated software:\n* Label: Command Line Tools for Xcode-14.3\n\tTitle: Command Line Tools for Xcode, Version: 14.3, Size: 711888KiB, Recommended: YES, \n* Label: macOS Ventura 13.4 Beta-22F5027f\n\tTitle: macOS Ventura 13.4 Beta, Version: 13.4, Size: 11487824K, Recommended: YES, Action: restart, \n";
    const SCAN_FAILED: &str = "Software Update Tool\n\nScan finished with error: Error Domain=NSURLErrorDomain Code=-1005 \"The network connection was lost.\" UserInfo={NSLocalizedDescription=The network connection was lost.}\n";

    #[test]
    fn kolides_captures_parse() {
        assert_eq!(parse_list(NO_UPDATES), Ok(vec![]));
        assert_eq!(
            parse_list(
                "Software Update Tool\n\nFinding available software\nNo new software available.\n"
            ),
            Ok(vec![])
        );
        let one = parse_list(ONE_UPDATE).unwrap();
        assert_eq!(
            one,
            vec![Listed {
                label: "macOS Ventura 13.3.1-22E261".into(),
                title: "macOS Ventura 13.3.1".into(),
                version: "13.3.1".into(),
                recommended: Some(true),
                action: Some("restart".into()),
            }]
        );
        assert_eq!(parse_list(SCANNED).unwrap(), one);
        let two = parse_list(CLT_AND_BETA).unwrap();
        assert_eq!(two.len(), 2);
        assert_eq!(two[0].title, "Command Line Tools for Xcode");
        assert_eq!(two[0].action, None);
        assert_eq!(two[1].version, "13.4");
    }

    #[test]
    fn a_failed_scan_or_unknown_lines_are_errors() {
        let err = parse_list(SCAN_FAILED).unwrap_err();
        assert!(matches!(err, ListError::ScanError(_)), "{err}");
        assert!(matches!(
            parse_list("Software Update Tool\nAktualisierungen gefunden:\n"),
            Err(ListError::Unexpected(_))
        ));
        assert_eq!(
            parse_list("Software Update Tool\n"),
            Err(ListError::Incomplete)
        );
        assert_eq!(parse_list(""), Err(ListError::Incomplete));
        assert!(matches!(
            parse_list(
                "Software Update found the following new or updated software:\n* Label: x\n"
            ),
            Err(ListError::MissingDetails(_))
        ));
        assert!(matches!(
            parse_list(
                "Software Update found the following new or updated software:\n* Label: x\n\tTitle: x, Recommended: MAYBE,\n"
            ),
            Err(ListError::BadDetails(_))
        ));
        // A title with a comma stays one title.
        let l = parse_list("Software Update found the following new or updated software:\n* Label: A-1\n\tTitle: Printer, Scanner Update, Version: 5.2, Size: 1K, Recommended: YES,\n").unwrap();
        assert_eq!(l[0].title, "Printer, Scanner Update");
        assert_eq!(l[0].version, "5.2");
    }

    fn entry(name: &str, version: &str, key: &str) -> Value {
        let mut d = Dictionary::new();
        d.insert("Display Name".into(), Value::String(name.into()));
        d.insert("Display Version".into(), Value::String(version.into()));
        d.insert("Identifier".into(), Value::String(key.into()));
        d.insert("Product Key".into(), Value::String(key.into()));
        d.insert("MobileSoftwareUpdate".into(), Value::Boolean(true));
        Value::Dictionary(d)
    }

    fn su_plist(entries: Vec<Value>, as_binary: bool) -> Vec<u8> {
        let n = entries.len() as i64;
        let fields = [
            ("RecommendedUpdates", Value::Array(entries)),
            ("LastRecommendedUpdatesAvailable", Value::Integer(n.into())),
        ];
        if as_binary {
            binary(&fields)
        } else {
            xml(&fields)
        }
    }

    /// The check offline on a Mac of `version` whose plist lists `entries`.
    fn offline(version: &str, entries: Vec<Value>, as_binary: bool) -> CheckResult {
        mac(version)
            .file(SOFTWARE_UPDATE_PLIST, su_plist(entries, as_binary))
            .run(&SecurityUpdatesPending)
    }

    /// The check live on a Mac of 13.3 with an empty plist and `softwareupdate`
    /// printing `out` with exit code `code`.
    fn live_133(code: i32, out: &str) -> CheckResult {
        mac("13.3")
            .live()
            .file(SOFTWARE_UPDATE_PLIST, su_plist(vec![], false))
            .command(&MACOS_SOFTWAREUPDATE_LIST, code, out)
            .run(&SecurityUpdatesPending)
    }

    fn update(title: &str, version: &str, key: &str) -> Update {
        Update {
            title: title.into(),
            version: version.into(),
            key: key.into(),
            recommended: None,
            in_plist: true,
            in_list: false,
        }
    }

    #[test]
    fn what_counts_follows_the_running_major() {
        let c = |t: &str, v: &str, k: &str| classify(&update(t, v, k), Some(14));
        assert_eq!(
            c(
                "macOS Sonoma 14.7.1",
                "14.7.1",
                "MSU_UPDATE_23H222_patch_14.7.1_minor"
            ),
            Verdict::Counts
        );
        assert_eq!(
            c(
                "macOS Sequoia 15.1",
                "15.1",
                "MSU_UPDATE_24B83_patch_15.1_major"
            ),
            Verdict::Other("major upgrade")
        );
        // A higher major without the suffix is an upgrade too.
        assert_eq!(
            c("macOS Sequoia 15.1", "15.1", "x"),
            Verdict::Other("major upgrade")
        );
        // RSR: by key, by lettered version; counted.
        assert_eq!(
            c(
                "macOS Sonoma 14.1.1 (a)",
                "14.1.1 (a)",
                "MSU_UPDATE_23B81020a_patch_14.1.1_rsr"
            ),
            Verdict::Counts
        );
        assert_eq!(
            c("Background Security Improvement", "26.1 (a)", "x"),
            Verdict::Counts
        );
        assert_eq!(c("Safari", "18.1", "052-12345"), Verdict::Counts);
        assert_eq!(
            c("macOS Sonoma 14.8 Beta", "14.8", "MSU_UPDATE_x_minor"),
            Verdict::Other("beta")
        );
        assert_eq!(
            c(
                "Command Line Tools for Xcode",
                "16.1",
                "Command Line Tools for Xcode-16.1"
            ),
            Verdict::Other("Command Line Tools")
        );
        assert_eq!(c("Xcode", "16.1", "x"), Verdict::Other("Xcode"));
        assert_eq!(
            c("Printer driver", "5.2", "x"),
            Verdict::Other("not for the running macOS")
        );
        let mut no = update("macOS Sonoma 14.7.1", "14.7.1", "k");
        no.recommended = Some(false);
        assert_eq!(classify(&no, Some(14)), Verdict::Other("not recommended"));
        assert_eq!(
            classify(&update("macOS Sonoma 14.7.1", "14.7.1", "k"), None),
            Verdict::Undecided
        );
    }

    #[test]
    fn the_union_merges_the_same_update_from_both_sources() {
        let plist = [Recommended {
            name: "macOS Ventura 13.3.1".into(),
            version: "13.3.1".into(),
            product_key: "MSU_UPDATE_22E261_patch_13.3.1_minor".into(),
            identifier: "MSU_UPDATE_22E261_patch_13.3.1_minor".into(),
        }];
        let listed = parse_list(CLT_AND_BETA).unwrap();
        let mut both = parse_list(ONE_UPDATE).unwrap();
        both.extend(listed);
        let u = union(&plist, &both);
        assert_eq!(u.len(), 3);
        assert!(u[0].in_plist && u[0].in_list);
        assert_eq!(u[0].key, "MSU_UPDATE_22E261_patch_13.3.1_minor");
        assert_eq!(u[0].recommended, Some(true));
        assert!(!u[1].in_plist && u[1].in_list);
        assert_eq!(
            u[2].line(),
            "macOS Ventura 13.4 Beta 13.4 (macOS Ventura 13.4 Beta-22F5027f)"
        );
    }

    #[test]
    fn offline_the_plist_decides_xml_or_binary() {
        let sonoma = "MSU_UPDATE_23H222_patch_14.7.1_minor";
        let sequoia = "MSU_UPDATE_24B83_patch_15.1_major";
        for as_binary in [false, true] {
            let entries = vec![
                entry("macOS Sonoma 14.7.1", "14.7.1", sonoma),
                entry("macOS Sequoia 15.1", "15.1", sequoia),
            ];
            let r = offline("14.6", entries, as_binary);
            assert_eq!(r.status, Status::Fail, "{r:?}");
            assert_eq!(r.facts["pending_count"], 1);
            assert_eq!(
                r.facts["pending"],
                json!([format!("macOS Sonoma 14.7.1 14.7.1 ({sonoma})")])
            );
            assert_eq!(
                r.facts["other_updates"],
                json!([{"update": format!("macOS Sequoia 15.1 15.1 ({sequoia})"), "why": "major upgrade"}])
            );
            assert_eq!(r.facts["sources"], json!(["plist"]));
            assert_eq!(r.facts["last_recommended_updates_available"], 2);
            // The command is not run offline: said in a fact, not deciding.
            assert_eq!(r.reason, None, "{r:?}");
            assert!(
                r.facts["unanswered"][0]
                    .as_str()
                    .unwrap()
                    .contains("offline"),
                "{r:?}"
            );
        }
    }

    #[test]
    fn a_major_upgrade_alone_passes_and_an_rsr_fails() {
        let upgrade = entry(
            "macOS Sequoia 15.1",
            "15.1",
            "MSU_UPDATE_24B83_patch_15.1_major",
        );
        let r = offline("14.6", vec![upgrade], false);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.summary.contains("1 other update not counted"),
            "{}",
            r.summary
        );
        let rsr = entry(
            "macOS Ventura 13.4.1 (a)",
            "13.4.1 (a)",
            "MSU_UPDATE_22F770820d_patch_13.4.1_rsr",
        );
        let r = offline("13.4.1", vec![rsr], true);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(
            r.summary.contains("1 security update is pending"),
            "{}",
            r.summary
        );
    }

    #[test]
    fn live_the_union_decides_and_differences_are_recorded() {
        // The plist is empty, the command lists an update of the running major.
        let r = live_133(0, ONE_UPDATE);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["sources"], json!(["plist", "softwareupdate"]));
        assert_eq!(
            r.facts["only_in_softwareupdate"],
            json!(["macOS Ventura 13.3.1 13.3.1 (macOS Ventura 13.3.1-22E261)"])
        );
        assert_eq!(r.facts["only_in_plist"], json!([]));
        assert_eq!(r.evidence.len(), 2);
        assert!(matches!(r.evidence[1], Evidence::Command { .. }));
        // Betas and Command Line Tools only: pass, both listed as other updates.
        let r = live_133(0, CLT_AND_BETA);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["other_updates"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_failed_scan_leaves_the_plist_to_decide_and_says_so() {
        let r = live_133(1, SCAN_FAILED);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.reason, None, "{r:?}");
        let unanswered = r.facts["unanswered"][0].as_str().unwrap();
        assert!(unanswered.contains("the scan failed"), "{unanswered}");
        assert_eq!(r.facts["sources"], json!(["plist"]));
        // Without the plist: unknown.
        let r = mac("13.3")
            .live()
            .command(&MACOS_SOFTWAREUPDATE_LIST, 1, SCAN_FAILED)
            .run(&SecurityUpdatesPending);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        let reason = r.reason.unwrap();
        assert!(
            reason.contains("not found") && reason.contains("Scan finished with error"),
            "{reason}"
        );
    }

    #[test]
    fn no_new_software_passes_live_without_the_plist() {
        let r = mac("15.1")
            .live()
            .command(&MACOS_SOFTWAREUPDATE_LIST, 0, NO_UPDATES)
            .run(&SecurityUpdatesPending);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.summary, "no software update is pending");
        assert_eq!(r.facts["sources"], json!(["softwareupdate"]));
    }

    #[test]
    fn unknown_without_a_usable_source_or_version() {
        let r = mac("15.1").run(&SecurityUpdatesPending);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        let r = mac("15.1")
            .file(
                SOFTWARE_UPDATE_PLIST,
                xml(&[("LastSuccessfulDate", Value::Boolean(true))]),
            )
            .run(&SecurityUpdatesPending);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(
            r.reason
                .as_deref()
                .unwrap()
                .contains("no RecommendedUpdates")
        );
        let r = mac("15.1")
            .file(
                SOFTWARE_UPDATE_PLIST,
                xml(&[("RecommendedUpdates", Value::String("x".into()))]),
            )
            .run(&SecurityUpdatesPending);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        // Updates listed and no readable version: unknown, naming the update.
        let r = FakeHost::macos()
            .file(
                SOFTWARE_UPDATE_PLIST,
                su_plist(
                    vec![entry("macOS Sonoma 14.7.1", "14.7.1", "k_minor")],
                    false,
                ),
            )
            .run(&SecurityUpdatesPending);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.as_deref().unwrap().contains("k_minor"), "{r:?}");
    }

    #[test]
    fn at_most_fifty_are_listed() {
        let entries = (0..60)
            .map(|i| entry(&format!("Safari {i}"), "18.1", &format!("k{i}")))
            .collect();
        let r = offline("15.1", entries, true);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.facts["pending_count"], 60);
        assert_eq!(r.facts["pending"].as_array().unwrap().len(), 50);
        assert_eq!(r.facts["pending_truncated"], true);
        // The evidence excerpt stays short: the count and the first keys only.
        let Evidence::File { excerpt, .. } = &r.evidence[0] else {
            panic!("file evidence");
        };
        assert!(
            excerpt.starts_with("RecommendedUpdates: 60 entries"),
            "{excerpt}"
        );
        assert!(
            excerpt.contains("\"k9\"") && !excerpt.contains("\"k10\""),
            "{excerpt}"
        );
    }

    proptest::proptest! {
        #[test]
        fn softwareupdate_output_never_panics(text in "[ -~\t\n]{0,300}") {
            let _ = parse_list(&text);
        }
    }
}
