//! The Windows Update Agent checks over `win.wua.snapshot` (what the helper
//! child prints: an offline search of the last scan's results, plus the
//! automatic-update results and `RebootRequired`): `patch.security_updates_pending`,
//! `patch.index_fresh`, `patch.reboot_pending`. Offline every one is `unknown`:
//! the WUA datastore is an undocumented database and the reboot flags are
//! volatile keys.

use std::sync::Arc;

use attest_proto::{CheckResult, Evidence, Status};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Reg, RegRead, clip, read_reg};
use crate::checks::{Check, Context, api_evidence, unknown};
use crate::host::sources::WIN_WUA_SNAPSHOT;
use crate::host::{ApiOutput, RegistryValue, SourceError};

/// `win.wua.snapshot`, called once per run and shared.
pub(crate) struct Snapshot(pub(crate) Result<ApiOutput, String>);

pub(crate) fn snapshot(ctx: &Context<'_>) -> Arc<Snapshot> {
    ctx.memo(|ctx| Snapshot(ctx.host.api(&WIN_WUA_SNAPSHOT).map_err(|e| e.to_string())))
}

/// Security Updates (WSUS classification GUID).
pub const SECURITY_UPDATES: &str = "0FA1201D-4330-4FA8-8AE9-B877473B6441";
/// Critical Updates.
pub const CRITICAL_UPDATES: &str = "E6CF1350-C01B-414D-A61F-263D14D133B4";

/// The classifications this agent names (GUID, English name for facts only:
/// WUA's own `name` is localised and never used).
pub const CLASSIFICATIONS: &[(&str, &str)] = &[
    (SECURITY_UPDATES, "Security Updates"),
    (CRITICAL_UPDATES, "Critical Updates"),
    ("E0789628-CE08-4437-BE74-2495B842F43B", "Definition Updates"),
    ("3689BDC8-B205-4AF4-8D4A-A63924C5E9D5", "Upgrades"),
    ("EBFC1FC5-71A4-4F7B-9ACA-3B9A503104A0", "Drivers"),
    ("CD5FFD1E-E932-4E3A-BF74-18BF0B1BBD83", "Updates"),
    ("B54E7D24-7ADD-428F-8B75-90A396FA584F", "Feature Packs"),
    ("28BC880E-0592-4CBF-8F95-C79B17911D5F", "Update Rollups"),
    ("68C5B0A3-D1A6-4553-AE49-01D3A7827828", "Service Packs"),
    ("B4832BD8-E735-4761-8DAF-37F882276DAB", "Tools"),
];

/// The most pending updates listed.
pub const MAX_LISTED: usize = 50;

/// A GUID as compared: braces and white space removed, upper case.
pub fn normalise_guid(guid: &str) -> String {
    guid.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .to_ascii_uppercase()
}

/// One update of the search result, as far as the checks read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub title: String,
    pub kbs: Vec<String>,
    pub severity: Option<String>,
    /// Classification GUIDs (`type` `UpdateClassification`), normalised.
    pub classifications: Vec<String>,
}

impl Update {
    /// Counts for `patch.security_updates_pending`: classified Security Updates
    /// or Critical Updates, by GUID.
    pub fn is_security(&self) -> bool {
        self.classifications
            .iter()
            .any(|c| c == SECURITY_UPDATES || c == CRITICAL_UPDATES)
    }

    /// `KBnnnnnnn TITLE (MsrcSeverity)`.
    pub fn line(&self) -> String {
        let kbs = if self.kbs.is_empty() {
            "no KB".to_owned()
        } else {
            self.kbs
                .iter()
                .map(|k| format!("KB{k}"))
                .collect::<Vec<_>>()
                .join("/")
        };
        let severity = self.severity.as_deref().unwrap_or("no MSRC severity");
        format!("{kbs} {} ({})", clip(&self.title), clip(severity))
    }

    /// For `facts.other_updates`: the line with its classifications named.
    pub fn other_line(&self) -> String {
        let names: Vec<String> = self
            .classifications
            .iter()
            .map(|c| {
                CLASSIFICATIONS
                    .iter()
                    .find(|(g, _)| g == c)
                    .map_or_else(|| c.clone(), |(_, n)| (*n).to_owned())
            })
            .collect();
        let kbs: Vec<String> = self.kbs.iter().map(|k| format!("KB{k}")).collect();
        format!(
            "{} {} [{}]",
            if kbs.is_empty() {
                "no KB".to_owned()
            } else {
                kbs.join("/")
            },
            clip(&self.title),
            if names.is_empty() {
                "unclassified".to_owned()
            } else {
                names.join(", ")
            }
        )
    }
}

/// The search result of a snapshot: its updates, or why it did not succeed.
/// `complete` is false for `result_code` 3 (succeeded with errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    pub updates: Vec<Update>,
    pub complete: bool,
}

/// The search part of a snapshot.
pub fn parse_search(value: &Value) -> Result<Search, String> {
    let what = WIN_WUA_SNAPSHOT.describe();
    let code = value
        .get("result_code")
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("{what}: result_code not captured"))?;
    let hresult = value.get("hresult").and_then(Value::as_i64).unwrap_or(0);
    let complete = match code {
        2 => true,
        3 => false,
        _ => {
            return Err(format!(
                "{what}: the search did not succeed (result_code {code}, HRESULT 0x{:08X})",
                hresult as u32
            ));
        }
    };
    let updates = value
        .get("updates")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{what}: updates not captured"))?;
    let updates = updates
        .iter()
        .map(|u| {
            let text = |k: &str| u.get(k).and_then(Value::as_str).map(str::to_owned);
            Update {
                title: text("title").unwrap_or_default(),
                kbs: u
                    .get("kb_article_ids")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
                severity: text("msrc_severity").filter(|s| !s.trim().is_empty()),
                classifications: u
                    .get("categories")
                    .and_then(Value::as_array)
                    .map(|cats| {
                        cats.iter()
                            .filter(|c| {
                                c.get("type").and_then(Value::as_str)
                                    == Some("UpdateClassification")
                            })
                            .filter_map(|c| c.get("category_id").and_then(Value::as_str))
                            .map(normalise_guid)
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    Ok(Search { updates, complete })
}

/// `facts.server_selection` (`wsus` or `default`; `None` when unread) and the
/// WSUS server, from `UseWUServer` and `WUServer`.
pub fn server_selection(
    use_wu_server: &RegRead,
    wu_server: &RegRead,
) -> (Option<&'static str>, Option<String>) {
    let server = wu_server.string().map(str::to_owned);
    match &use_wu_server.got {
        Reg::Set(RegistryValue::Dword(1))
            if server.as_deref().is_some_and(|s| !s.trim().is_empty()) =>
        {
            (Some("wsus"), server)
        }
        Reg::Unread(_) => (None, server),
        _ => (Some("default"), server),
    }
}

const WU_POLICY: &str = "SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate";

const PENDING: &str = "patch.security_updates_pending";

/// `patch.security_updates_pending` on Windows.
///
/// An update counts when one of its categories of type `UpdateClassification`
/// has the GUID of Security Updates or Critical Updates (compared
/// case-insensitively, braces ignored; category names are localised and never
/// read). Monthly cumulative updates are Security Updates.
/// - pass: none counts;
/// - fail: the count, and up to 50 in `facts.security_updates` as
///   `KBnnnnnnn TITLE (MsrcSeverity)`;
/// - unknown: the search failed or was not answered (the HRESULT is in the
///   reason), offline.
///
/// Other updates are listed in `facts.other_updates` with their classification.
/// `facts.server_selection` is `wsus` when `UseWUServer` = 1 and `WUServer` is set
/// (then "pending" means approved by WSUS), `default` otherwise, `null` when the
/// policy cannot be read. Where the catalogue is silent: a search that "succeeded
/// with errors" (result code 3) fails when it lists a security update and is
/// unknown otherwise.
pub struct SecurityUpdatesPending;

impl Check for SecurityUpdatesPending {
    fn id(&self) -> &'static str {
        PENDING
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let snap = snapshot(ctx);
        let out = match &snap.0 {
            Ok(o) => o,
            Err(e) => return unknown(PENDING, e.clone()),
        };
        let search = match parse_search(&out.value) {
            Ok(s) => s,
            Err(e) => return unknown(PENDING, e).evidence(api_evidence(out, "")),
        };
        let use_wu = read_reg(ctx, &format!("{WU_POLICY}\\AU"), "UseWUServer");
        let server = read_reg(ctx, WU_POLICY, "WUServer");
        let (selection, wsus) = server_selection(&use_wu, &server);
        let (security, other): (Vec<&Update>, Vec<&Update>) =
            search.updates.iter().partition(|u| u.is_security());
        let listed: Vec<String> = security.iter().take(MAX_LISTED).map(|u| u.line()).collect();
        let excerpt = if listed.is_empty() {
            format!(
                "{} updates, none classified Security or Critical",
                search.updates.len()
            )
        } else {
            listed.join("; ")
        };
        let via = if selection == Some("wsus") {
            " (from WSUS: approved updates only)"
        } else {
            ""
        };
        let r = if !security.is_empty() {
            CheckResult::new(
                PENDING,
                Status::Fail,
                format!(
                    "{} security update(s) pending{via}: {}{}",
                    security.len(),
                    listed
                        .iter()
                        .take(3)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("; "),
                    if security.len() > 3 { "; …" } else { "" }
                ),
            )
        } else if !search.complete {
            unknown(
                PENDING,
                "the Windows Update search succeeded with errors (result_code 3) and listed no \
                 security update: the list may be incomplete",
            )
        } else {
            CheckResult::new(
                PENDING,
                Status::Pass,
                format!(
                    "no security or critical update is pending{via} ({} other update(s))",
                    other.len()
                ),
            )
        };
        let unanswered: Vec<String> = [&use_wu, &server]
            .iter()
            .filter_map(|r| r.unread())
            .collect();
        let r = r
            .fact("security_update_count", security.len())
            .fact("security_updates", &listed)
            .fact("security_updates_truncated", security.len() > MAX_LISTED)
            .fact(
                "other_updates",
                other.iter().map(|u| u.other_line()).collect::<Vec<_>>(),
            )
            .fact("server_selection", selection)
            .fact("wsus_server", wsus.map(|s| clip(&s)))
            .evidence(api_evidence(out, excerpt))
            .evidences(use_wu.evidence())
            .evidences(server.evidence());
        if unanswered.is_empty() {
            r
        } else {
            r.fact("unanswered", unanswered)
        }
    }
}

/// `last_search_success_date`: `Ok(None)` when WUA recorded none (null).
pub fn last_search(value: &Value) -> Result<Option<DateTime<Utc>>, String> {
    let what = WIN_WUA_SNAPSHOT.describe();
    match value.get("last_search_success_date") {
        None => Err(format!("{what}: last_search_success_date not captured")),
        Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|d| Some(d.with_timezone(&Utc)))
            .map_err(|_| {
                format!(
                    "{what}: last_search_success_date {:?} is not a date",
                    clip(s)
                )
            }),
        Some(other) => Err(format!(
            "{what}: last_search_success_date is {other}, not a date"
        )),
    }
}

const FRESH: &str = "patch.index_fresh";

/// `patch.index_fresh` on Windows: WUA's last successful search
/// (`IAutomaticUpdates2.Results.LastSearchSuccessDate`, UTC) is at most
/// `index_max_age_days` (default 7) before the collection.
///
/// Where the catalogue is silent: no successful search recorded fails; a date
/// more than a day after the collection time is unknown (clock problem).
pub struct IndexFresh;

impl Check for IndexFresh {
    fn id(&self) -> &'static str {
        FRESH
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let snap = snapshot(ctx);
        let out = match &snap.0 {
            Ok(o) => o,
            Err(e) => return unknown(FRESH, e.clone()),
        };
        let max_days = ctx.thresholds.index_max_age_days;
        let last = match last_search(&out.value) {
            Ok(l) => l,
            Err(e) => return unknown(FRESH, e),
        };
        let shown = last.map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let r = match last {
            None => CheckResult::new(
                FRESH,
                Status::Fail,
                "Windows Update has no successful search recorded",
            ),
            Some(d) => {
                let age = ctx.now.signed_duration_since(d);
                if age < -chrono::Duration::days(1) {
                    unknown(
                        FRESH,
                        format!(
                            "the last successful Windows Update search is dated {}, after the collection time",
                            d.to_rfc3339()
                        ),
                    )
                } else if age > chrono::Duration::days(i64::from(max_days)) {
                    CheckResult::new(
                        FRESH,
                        Status::Fail,
                        format!(
                            "the last successful Windows Update search was {} days ago (more than {max_days})",
                            age.num_days()
                        ),
                    )
                } else {
                    CheckResult::new(
                        FRESH,
                        Status::Pass,
                        format!(
                            "the last successful Windows Update search was {} days ago (at most {max_days})",
                            age.num_days().max(0)
                        ),
                    )
                }
            }
        };
        r.fact("last_search_success_date", &shown)
            .fact(
                "age_days",
                last.map(|d| ctx.now.signed_duration_since(d).num_days()),
            )
            .fact("index_max_age_days", max_days)
            .evidence(api_evidence(
                out,
                format!(
                    "last_search_success_date = {}",
                    shown.as_deref().unwrap_or("null")
                ),
            ))
    }
}

/// Whether a registry key exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    Present,
    Absent,
    Unread(String),
}

/// The keys whose existence means a reboot is pending.
pub const REBOOT_KEYS: [&str; 2] = [
    "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\RebootRequired",
    "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending",
];

/// Decides `patch.reboot_pending` from WUA's `RebootRequired` and the keys: any
/// set fails; otherwise anything unread is unknown; otherwise pass.
pub fn decide_reboot(wua: &Result<bool, String>, keys: &[(&str, KeyState)]) -> (Status, String) {
    let mut set = Vec::new();
    let mut unread = Vec::new();
    match wua {
        Ok(true) => set.push("Windows Update says a restart is required".to_owned()),
        Ok(false) => {}
        Err(e) => unread.push(e.clone()),
    }
    for (key, state) in keys {
        match state {
            KeyState::Present => set.push(format!("HKLM\\{key} exists")),
            KeyState::Absent => {}
            KeyState::Unread(why) => unread.push(why.clone()),
        }
    }
    if !set.is_empty() {
        (
            Status::Fail,
            format!("a restart is pending: {}", set.join("; ")),
        )
    } else if !unread.is_empty() {
        (Status::Unknown, unread.join("; "))
    } else {
        (
            Status::Pass,
            "no restart is pending (Windows Update and servicing flags clear)".to_owned(),
        )
    }
}

/// Whether a key exists. Live: the key's values read (`NotInstalled` = absent).
/// Offline and in replay the answer is unread: these keys are volatile, kept in
/// memory only and never in the hive files (catalogue open question 6), so a hive
/// without them proves nothing.
fn key_state(ctx: &Context<'_>, key: &str) -> KeyState {
    if !ctx.host.is_live() {
        return KeyState::Unread(format!(
            "HKLM\\{key}: a volatile key, never in hive files: read on the live host only"
        ));
    }
    match ctx.host.registry_values(key) {
        Ok(_) => KeyState::Present,
        Err(SourceError::NotInstalled { .. }) => KeyState::Absent,
        Err(e) => KeyState::Unread(e.to_string()),
    }
}

const REBOOT: &str = "patch.reboot_pending";

/// `patch.reboot_pending` on Windows: WUA's `RebootRequired` (from the snapshot)
/// and the existence of the `WindowsUpdate\Auto Update\RebootRequired` and
/// `Component Based Servicing\RebootPending` keys.
///
/// - fail: any is set;
/// - pass: none is set;
/// - unknown: a source unanswered, offline (the keys are volatile).
///
/// `PendingFileRenameOperations` (Session Manager) is recorded as a count of
/// rename operations in `facts.pending_file_rename_operations` and never decides:
/// installers and anti-virus set it all the time; its paths are not copied.
/// The keys are volatile (never in hive files): offline and in replay they are
/// unanswered, so there the check fails on WUA's flag or is `unknown`, never
/// passes.
pub struct RebootPending;

impl Check for RebootPending {
    fn id(&self) -> &'static str {
        REBOOT
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let snap = snapshot(ctx);
        let out = match &snap.0 {
            Ok(o) => o,
            Err(e) => return unknown(REBOOT, e.clone()),
        };
        let wua = match out.value.get("reboot_required") {
            Some(Value::Bool(b)) => Ok(*b),
            _ => Err(format!("{}: reboot_required not captured", out.name)),
        };
        let mut evidence = vec![api_evidence(
            out,
            format!(
                "reboot_required = {}",
                wua.as_ref()
                    .map_or("not captured".to_owned(), bool::to_string)
            ),
        )];
        let mut keys = Vec::new();
        for key in REBOOT_KEYS {
            let state = key_state(ctx, key);
            // A live key read: api evidence over the canonical JSON of the answer.
            let (exists, excerpt) = match &state {
                KeyState::Present => (Some(true), "the key exists".to_owned()),
                KeyState::Absent => (Some(false), "no such key".to_owned()),
                KeyState::Unread(why) => (None, format!("not read: {why}")),
            };
            let answer = serde_json::json!({ "exists": exists });
            evidence.push(Evidence::Api {
                name: format!("HKLM\\{key}"),
                excerpt,
                sha256: crate::checks::sha256(crate::checks::canonical_json(&answer).as_bytes()),
            });
            keys.push((key, state));
        }
        let (status, text) = decide_reboot(&wua, &keys);
        let renames = read_reg(
            ctx,
            "SYSTEM\\CurrentControlSet\\Control\\Session Manager",
            "PendingFileRenameOperations",
        );
        let rename_count = match &renames.got {
            Reg::Set(RegistryValue::MultiString(v)) => Some(v.len().div_ceil(2)),
            Reg::Absent => Some(0),
            _ => None,
        };
        let r = if status == Status::Unknown {
            unknown(REBOOT, text)
        } else {
            CheckResult::new(REBOOT, status, text)
        };
        let unanswered: Vec<String> = keys
            .iter()
            .filter_map(|(_, s)| match s {
                KeyState::Unread(w) => Some(w.clone()),
                _ => None,
            })
            .collect();
        let r = r
            .fact("wua_reboot_required", wua.as_ref().ok())
            .fact("pending_file_rename_operations", rename_count)
            .evidences(evidence);
        if status == Status::Fail && !unanswered.is_empty() {
            r.fact("unanswered", unanswered)
        } else {
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use serde_json::json;

    fn update(kb: &str, title: &str, severity: &str, class: &str) -> Value {
        json!({"update_id": "5f8b0000-0000-4000-8000-000000000001", "revision_number": 200,
            "title": title, "kb_article_ids": [kb], "msrc_severity": severity,
            "is_downloaded": false, "is_mandatory": false, "reboot_behavior": 1,
            "last_deployment_change_time": "2026-11-12T00:00:00Z",
            "categories": [
                {"category_id": class, "type": "UpdateClassification", "name": "Mises à jour"},
                {"category_id": "A3C2375D-0C8A-42F9-BCE0-28333E198407", "type": "Product",
                 "name": "Windows 10"}]})
    }

    fn snap(updates: Vec<Value>) -> Value {
        json!({"criteria": "IsInstalled=0 and Type='Software' and IsHidden=0", "online": false,
            "include_potentially_superseded_updates": false, "result_code": 2, "hresult": 0,
            "updates": updates, "last_search_success_date": "2026-11-30T09:00:00Z",
            "last_installation_success_date": "2026-11-24T09:00:00Z",
            "notification_level": 4, "reboot_required": false})
    }

    fn run(value: Value, check: &dyn Check) -> CheckResult {
        FakeHost::windows().api(&WIN_WUA_SNAPSHOT, value).run(check)
    }

    #[test]
    fn classification_guids_decide_in_any_case_never_names() {
        let v = snap(vec![
            update(
                "5046617",
                "2026-11 Cumulative Update",
                "Critical",
                &SECURITY_UPDATES.to_lowercase(),
            ),
            update(
                "5046700",
                "Critical fix",
                "",
                &format!("{{{CRITICAL_UPDATES}}}"),
            ),
            // Named "Security Updates" in the session locale, classified Drivers.
            json!({"title": "Intel driver", "kb_article_ids": [], "categories": [
                {"category_id": "ebfc1fc5-71a4-4f7b-9aca-3b9a503104a0",
                 "type": "UpdateClassification", "name": "Security Updates"}]}),
            // The Security GUID as a Product category does not count.
            json!({"title": "odd", "kb_article_ids": ["1"], "categories": [
                {"category_id": SECURITY_UPDATES, "type": "Product", "name": "x"}]}),
        ]);
        let r = run(v, &SecurityUpdatesPending);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["security_update_count"], 2);
        assert_eq!(
            r.facts["security_updates"],
            json!([
                "KB5046617 2026-11 Cumulative Update (Critical)",
                "KB5046700 Critical fix (no MSRC severity)"
            ])
        );
        assert_eq!(
            r.facts["other_updates"],
            json!(["no KB Intel driver [Drivers]", "KB1 odd [unclassified]"])
        );
        assert!(
            r.summary
                .starts_with("2 security update(s) pending: KB5046617")
        );
        // Offline: the policy was not read, so no server selection.
        assert_eq!(r.facts["server_selection"], Value::Null);
    }

    #[test]
    fn at_most_fifty_are_listed_and_none_passes() {
        let many: Vec<Value> = (0..60)
            .map(|i| update(&format!("50{i:05}"), "LCU", "Important", SECURITY_UPDATES))
            .collect();
        let r = run(snap(many), &SecurityUpdatesPending);
        assert_eq!(r.facts["security_update_count"], 60);
        assert_eq!(
            r.facts["security_updates"].as_array().unwrap().len(),
            MAX_LISTED
        );
        assert_eq!(r.facts["security_updates_truncated"], true);
        let r = run(
            snap(vec![update(
                "1",
                "Defender",
                "",
                "E0789628-CE08-4437-BE74-2495B842F43B",
            )]),
            &SecurityUpdatesPending,
        );
        assert_eq!(r.status, Status::Pass);
        assert_eq!(
            r.facts["other_updates"],
            json!(["KB1 Defender [Definition Updates]"])
        );
    }

    #[test]
    fn a_failed_search_is_unknown_with_its_hresult() {
        let mut v = snap(vec![]);
        v["result_code"] = json!(4);
        v["hresult"] = json!(-2145107945i64);
        let r = run(v, &SecurityUpdatesPending);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.summary.contains("HRESULT 0x80244017"), "{}", r.summary);
        let mut v = snap(vec![]);
        v["result_code"] = json!(3);
        assert_eq!(
            run(v.clone(), &SecurityUpdatesPending).status,
            Status::Unknown
        );
        v["updates"] = json!([update("2", "LCU", "Critical", SECURITY_UPDATES)]);
        assert_eq!(run(v, &SecurityUpdatesPending).status, Status::Fail);
        let r = FakeHost::windows().run(&SecurityUpdatesPending);
        assert!(r.summary.contains("offline root"));
        let r = FakeHost::windows()
            .source_error(&WIN_WUA_SNAPSHOT, "timed out after 300 s")
            .run(&SecurityUpdatesPending);
        assert!(r.summary.contains("timed out"));
    }

    #[test]
    fn wsus_selection_needs_use_wu_server_and_a_server() {
        let read = |value: &str, got: Reg| RegRead {
            key: "k".into(),
            value: value.into(),
            got,
            evidence: None,
        };
        let server = read(
            "WUServer",
            Reg::Set(RegistryValue::String("https://wsus:8531".into())),
        );
        assert_eq!(
            server_selection(
                &read("UseWUServer", Reg::Set(RegistryValue::Dword(1))),
                &server
            ),
            (Some("wsus"), Some("https://wsus:8531".into()))
        );
        assert_eq!(
            server_selection(&read("UseWUServer", Reg::Absent), &server).0,
            Some("default")
        );
        assert_eq!(
            server_selection(
                &read("UseWUServer", Reg::Set(RegistryValue::Dword(1))),
                &read("WUServer", Reg::Absent)
            )
            .0,
            Some("default")
        );
        assert_eq!(
            server_selection(&read("UseWUServer", Reg::Unread("x".into())), &server).0,
            None
        );
    }

    #[test]
    fn the_index_is_fresh_within_the_threshold() {
        // default_now is 2026-11-25T12:00:00Z.
        let at = |date: Value| {
            let mut v = snap(vec![]);
            v["last_search_success_date"] = date;
            run(v, &IndexFresh)
        };
        let r = at(json!("2026-11-20T09:00:00Z"));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["age_days"], 5);
        let r = at(json!("2026-11-10T09:00:00Z"));
        assert_eq!(r.status, Status::Fail);
        assert!(r.summary.contains("15 days ago"));
        assert_eq!(at(Value::Null).status, Status::Fail);
        assert_eq!(at(json!("2026-12-10T00:00:00Z")).status, Status::Unknown);
        assert_eq!(at(json!("yesterday")).status, Status::Unknown);
        let mut v = snap(vec![]);
        v.as_object_mut()
            .unwrap()
            .remove("last_search_success_date");
        assert!(run(v, &IndexFresh).summary.contains("not captured"));
    }

    #[test]
    fn a_reboot_is_pending_when_any_flag_is_set() {
        let clear = [
            (REBOOT_KEYS[0], KeyState::Absent),
            (REBOOT_KEYS[1], KeyState::Absent),
        ];
        assert_eq!(decide_reboot(&Ok(false), &clear).0, Status::Pass);
        assert_eq!(decide_reboot(&Ok(true), &clear).0, Status::Fail);
        let cbs = [
            (REBOOT_KEYS[0], KeyState::Absent),
            (REBOOT_KEYS[1], KeyState::Present),
        ];
        let (status, text) = decide_reboot(&Ok(false), &cbs);
        assert_eq!(status, Status::Fail);
        assert!(text.contains("RebootPending exists"));
        let unread = [
            (REBOOT_KEYS[0], KeyState::Unread("offline".into())),
            (REBOOT_KEYS[1], KeyState::Absent),
        ];
        assert_eq!(
            decide_reboot(&Ok(false), &unread),
            (Status::Unknown, "offline".into())
        );
        assert_eq!(decide_reboot(&Ok(true), &unread).0, Status::Fail);
        assert_eq!(decide_reboot(&Err("x".into()), &clear).0, Status::Unknown);
        // Through the host: WUA decides a fail; the unread keys are recorded.
        let mut v = snap(vec![]);
        v["reboot_required"] = json!(true);
        let r = run(v, &RebootPending);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.facts["wua_reboot_required"], true);
        assert_eq!(r.facts["unanswered"].as_array().map(Vec::len), Some(2));
        let r = run(snap(vec![]), &RebootPending);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.as_deref().unwrap().contains("volatile"), "{r:?}");
        assert_eq!(
            FakeHost::windows().run(&RebootPending).status,
            Status::Unknown
        );
    }

    /// Live, the keys' existence is read: none there and WUA clear passes; the
    /// servicing key alone fails, by name. A key present offline proves nothing.
    #[test]
    fn live_the_reboot_keys_are_read_by_existence() {
        let live = || {
            FakeHost::windows()
                .live()
                .api(&WIN_WUA_SNAPSHOT, snap(vec![]))
                .reg_key("SOFTWARE\\Microsoft")
        };
        let r = live().run(&RebootPending);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.evidence.iter().any(|e| matches!(e,
                Evidence::Api { name, excerpt, .. }
                    if name.ends_with("RebootPending") && excerpt == "no such key")),
            "{r:?}"
        );
        let r = live().reg_key(REBOOT_KEYS[1]).run(&RebootPending);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(r.summary.contains("RebootPending exists"), "{}", r.summary);
        let offline = FakeHost::windows()
            .api(&WIN_WUA_SNAPSHOT, snap(vec![]))
            .reg_key(REBOOT_KEYS[1])
            .run(&RebootPending);
        assert_eq!(offline.status, Status::Unknown, "{offline:?}");
    }
}
