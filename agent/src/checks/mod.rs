//! The checks: one [`Check`] per id of the catalogue ([`attest_proto::catalogue`]),
//! the same ids in the same order on every operating system.
//!
//! ```text
//! checks/
//!   mod.rs        the registry: catalogue order, OS dispatch, not_applicable
//!   linux/        the Linux checks, by area (disk, patch, accounts, system, inventory)
//!   macos/        the macOS checks
//!   windows/      the Windows checks
//! ```
//!
//! Each OS folder lists the checks it implements ([`linux::checks`],
//! [`macos::checks`], [`windows::checks`]). [`registry`] walks the catalogue: an id
//! the catalogue marks not applicable on the host's OS answers `not_applicable` with
//! the catalogue's reason; an id the OS folder implements runs; any other answers
//! `unknown` ("not yet implemented for …"). Inside a folder, parsing a host file is
//! a pure function from text to a value (tested on text); a check combines parsed
//! values into a verdict. Every source is read through the [`Context`]'s [`Host`].
//! A check never panics and never aborts the run: a failure to read becomes
//! `unknown` with the error in `reason`.

pub mod linux;
pub mod macos;
pub mod windows;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use attest_proto::catalogue::{self, CatalogueCheck};
use attest_proto::{CheckResult, Evidence, Platform, Status};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::host::{ApiOutput, Detected, Hkey, Host, RegistryOrigin, RegistryValue};

/// Thresholds the verdicts depend on. Defaults follow `checks.md`; the agent's
/// configuration can change them; the value used is recorded in `facts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// `accounts.password_max_age`: the longest allowed maximum password age, days.
    pub password_max_days: u32,
    /// `accounts.password_min_length`: the shortest allowed minimum length.
    pub password_min_length: u32,
    /// `accounts.lockout`: the largest allowed `deny`.
    pub lockout_max_deny: u32,
    /// `patch.index_fresh`: the oldest allowed package index, days.
    pub index_max_age_days: u32,
    /// `system.screen_lock`: the longest allowed idle delay, seconds.
    pub screen_lock_max_idle_secs: u32,
    /// `malware.protection` (macOS, XProtect basis): the oldest allowed XProtect
    /// data, days since its newest install in `InstallHistory.plist`.
    pub xprotect_max_age_days: u32,
    /// `malware.protection` (Windows, Defender basis): the oldest allowed
    /// antivirus signatures, days (`AntivirusSignatureAge`, or the age of
    /// `SignaturesLastUpdated` offline).
    pub av_signature_max_age_days: u32,
    /// `patch.os_supported` (Windows 10 22H2 past its last day): Extended
    /// Security Updates licences accepted besides those of the shipped support
    /// table, which lists none (their activation IDs are not published):
    /// `[[thresholds.windows_esu_licence]]` with `activation_id`, `name` and
    /// `through` (the licence's last day, a TOML date).
    pub windows_esu_licence: Vec<EsuLicenceSetting>,
}

/// One ESU licence of the agent's configuration (`Thresholds::windows_esu_licence`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EsuLicenceSetting {
    /// The activation ID (a GUID) of the ESU add-on's `SoftwareLicensingProduct`.
    pub activation_id: String,
    pub name: String,
    /// The last day the licence covers.
    pub through: toml::value::Datetime,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            password_max_days: 365,
            password_min_length: 12,
            lockout_max_deny: 10,
            index_max_age_days: 7,
            screen_lock_max_idle_secs: 900,
            xprotect_max_age_days: 30,
            av_signature_max_age_days: 7,
            windows_esu_licence: Vec::new(),
        }
    }
}

/// What a check gets: the host, the collection time, the thresholds, and a memo
/// so that files several checks need (mountinfo, dpkg status, os-release) are read
/// and parsed once per run.
pub struct Context<'a> {
    pub host: &'a Host,
    pub now: DateTime<Utc>,
    pub thresholds: &'a Thresholds,
    memo: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl<'a> Context<'a> {
    pub fn new(host: &'a Host, now: DateTime<Utc>, thresholds: &'a Thresholds) -> Self {
        Context {
            host,
            now,
            thresholds,
            memo: Mutex::new(HashMap::new()),
        }
    }

    /// The value of type `T` for this run, computed by `make` the first time only.
    /// One value per type: wrap a parsed file in its own type to memoise it.
    pub fn memo<T: Any + Send + Sync>(&self, make: impl FnOnce(&Context<'a>) -> T) -> Arc<T> {
        let key = TypeId::of::<T>();
        if let Some(found) = self.lookup::<T>(key) {
            return found;
        }
        let value = Arc::new(make(self));
        if let Ok(mut memo) = self.memo.lock() {
            memo.insert(key, value.clone());
        }
        value
    }

    fn lookup<T: Any + Send + Sync>(&self, key: TypeId) -> Option<Arc<T>> {
        let memo = self.memo.lock().ok()?;
        memo.get(&key).cloned()?.downcast::<T>().ok()
    }
}

/// One check of the catalogue.
pub trait Check: Send + Sync {
    /// The stable id, e.g. `disk.root_encrypted`.
    fn id(&self) -> &'static str;
    /// Runs the check. Never panics: what cannot be read becomes `unknown`.
    fn run(&self, ctx: &Context<'_>) -> CheckResult;
}

/// The checks an OS folder implements.
fn implemented(platform: Platform) -> Vec<Box<dyn Check>> {
    match platform {
        Platform::Linux => linux::checks(),
        Platform::Macos => macos::checks(),
        Platform::Windows => windows::checks(),
    }
}

/// An id that never applies on the host's OS: the catalogue's reason.
struct NotApplicable {
    entry: &'static CatalogueCheck,
    reason: &'static str,
}

impl Check for NotApplicable {
    fn id(&self) -> &'static str {
        self.entry.id
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let os = ctx.host.platform().map_or("", Platform::label);
        not_applicable(self.entry.id, self.reason).fact("platform", os)
    }
}

/// An id that applies on the host's OS but has no implementation in this agent.
struct NotImplemented {
    entry: &'static CatalogueCheck,
    platform: Platform,
}

impl Check for NotImplemented {
    fn id(&self) -> &'static str {
        self.entry.id
    }

    fn run(&self, _ctx: &Context<'_>) -> CheckResult {
        unknown(
            self.entry.id,
            format!(
                "not yet implemented for {} in this agent version",
                self.platform.label()
            ),
        )
    }
}

/// Every id, when the root holds no operating system: nothing can be decided.
struct NotAHost {
    entry: &'static CatalogueCheck,
}

impl Check for NotAHost {
    fn id(&self) -> &'static str {
        self.entry.id
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        unknown(
            self.entry.id,
            format!(
                "{} holds no operating system: none of {} (macOS), {} (Windows) or {} \
                 (Linux) exists under it",
                ctx.host.root().display(),
                crate::host::MACOS_MARKER,
                crate::host::WINDOWS_MARKER,
                crate::host::LINUX_MARKER
            ),
        )
    }
}

/// Every check for a host whose OS is `detected`, in catalogue order.
pub fn registry(detected: Detected) -> Vec<Box<dyn Check>> {
    let Detected::Os(platform) = detected else {
        return catalogue::CHECKS
            .iter()
            .map(|entry| Box::new(NotAHost { entry }) as Box<dyn Check>)
            .collect();
    };
    let mut by_id: HashMap<&'static str, Box<dyn Check>> = implemented(platform)
        .into_iter()
        .map(|c| (c.id(), c))
        .collect();
    catalogue::CHECKS
        .iter()
        .map(|entry| match entry.not_applicable_on(platform) {
            Some(reason) => Box::new(NotApplicable { entry, reason }) as Box<dyn Check>,
            None => by_id
                .remove(entry.id)
                .unwrap_or_else(|| Box::new(NotImplemented { entry, platform })),
        })
        .collect()
}

/// The ids of every check, in report order (the catalogue's).
pub fn ids() -> Vec<&'static str> {
    catalogue::ids().collect()
}

/// Runs the checks whose id is in `only` (all when `only` is empty), in order.
pub fn run(ctx: &Context<'_>, only: &[String]) -> Vec<CheckResult> {
    registry(ctx.host.detected())
        .iter()
        .filter(|c| only.is_empty() || only.iter().any(|id| id == c.id()))
        .map(|c| {
            let mut result = c.run(ctx);
            result.check = c.id().to_owned();
            result.summary = sentence(&result.summary);
            result
        })
        .collect()
}

/// One summary style for every check: one line, no closing full stop (as in
/// `checks.md`'s example "/ is on LUKS2 (nvme0n1p3 → luks-3f2a → vg-root)").
fn sentence(summary: &str) -> String {
    let one_line = summary.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.strip_suffix('.') {
        Some(rest) if !rest.ends_with('.') => rest.to_owned(),
        _ => one_line,
    }
}

/// `sha256:<hex>` of some bytes.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Evidence that a file was read: its host path, the lines that decided the
/// verdict, and the SHA-256 of the whole file as read.
pub fn file_evidence(path: &str, content: &[u8], excerpt: impl Into<String>) -> Evidence {
    Evidence::File {
        path: path.to_owned(),
        excerpt: excerpt.into(),
        sha256: sha256(content),
    }
}

/// The longest registry value shown in an evidence excerpt, in characters.
const MAX_REGISTRY_EXCERPT: usize = 200;

/// Evidence of a registry read: `HKLM\…\UBR = 4460 (REG_DWORD)`. Offline it is
/// `file` evidence of the hive file (its SHA-256 as read); live it is `api`
/// evidence named after the key, whose SHA-256 is over the canonical JSON
/// `{"data": …, "type": "REG_DWORD", "value": "UBR"}` (strings and lists as
/// JSON, bytes in hex). The excerpt shows at most 200 characters of the value,
/// bytes only by their count: never pass a value that is a secret (Winlogon's
/// `DefaultPassword`, LSA secrets); record its presence instead.
pub fn registry_evidence(
    host: &Host,
    hkey: &Hkey,
    key: &str,
    value: &str,
    read: &RegistryValue,
) -> Evidence {
    let shown = read.to_string();
    let shown = if shown.chars().count() > MAX_REGISTRY_EXCERPT {
        format!(
            "{}…",
            shown.chars().take(MAX_REGISTRY_EXCERPT).collect::<String>()
        )
    } else {
        shown
    };
    let name = if value.is_empty() { "(Default)" } else { value };
    let excerpt = format!("{}\\{name} = {shown}", hkey.name(key));
    match host.registry_origin(hkey, key) {
        Some(RegistryOrigin::File { path, sha256 }) => Evidence::File {
            path,
            excerpt,
            sha256,
        },
        Some(RegistryOrigin::Live) => {
            let (kind, data) = match read {
                RegistryValue::Dword(v) => ("REG_DWORD", serde_json::json!(v)),
                RegistryValue::Qword(v) => ("REG_QWORD", serde_json::json!(v)),
                RegistryValue::String(v) => ("REG_SZ", serde_json::json!(v)),
                RegistryValue::MultiString(v) => ("REG_MULTI_SZ", serde_json::json!(v)),
                RegistryValue::Binary(v) => ("REG_BINARY", serde_json::json!(hex::encode(v))),
            };
            api_evidence(
                &ApiOutput {
                    name: hkey.name(key),
                    value: serde_json::json!({"value": value, "type": kind, "data": data}),
                },
                excerpt,
            )
        }
        // The hive could not be read, so nothing was: named, hashed as nothing.
        None => Evidence::File {
            path: hkey.name(key),
            excerpt,
            sha256: sha256(b""),
        },
    }
}

/// Evidence that a command ran: argv, exit code, the deciding lines of its output,
/// and the SHA-256 of its whole standard output.
pub fn command_evidence(
    output: &crate::host::CommandOutput,
    excerpt: impl Into<String>,
) -> Evidence {
    Evidence::Command {
        argv: output.argv.clone(),
        exit_code: output.exit_code,
        excerpt: excerpt.into(),
        sha256: sha256(output.stdout.as_bytes()),
    }
}

/// Evidence that an api source was called: what was called, the deciding part of
/// its result, and the SHA-256 of the canonical JSON of the whole result (keys
/// sorted, no insignificant white space).
pub fn api_evidence(output: &ApiOutput, excerpt: impl Into<String>) -> Evidence {
    Evidence::Api {
        name: output.name.clone(),
        excerpt: excerpt.into(),
        sha256: sha256(canonical_json(&output.value).as_bytes()),
    }
}

/// JSON with object keys sorted at every level and no white space.
pub fn canonical_json(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        Value::String(k.clone()),
                        canonical_json(&map[k.as_str()])
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

/// An `unknown` result whose reason is `why`.
pub fn unknown(id: &str, why: impl Into<String>) -> CheckResult {
    CheckResult::undecided(id, Status::Unknown, why)
}

/// A `not_applicable` result whose reason is `why`.
pub fn not_applicable(id: &str, why: impl Into<String>) -> CheckResult {
    CheckResult::undecided(id, Status::NotApplicable, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_are_one_line_without_a_full_stop() {
        assert_eq!(sentence("No swap is active."), "No swap is active");
        assert_eq!(sentence("a\n  b"), "a b");
        assert_eq!(sentence("ends with..."), "ends with...");
        assert_eq!(sentence("/ is on LUKS2"), "/ is on LUKS2");
    }

    use crate::host::fake::FakeHost;

    #[test]
    fn the_registry_lists_every_check_once_in_catalogue_order_on_every_os() {
        let catalogue: Vec<&str> = catalogue::ids().collect();
        assert_eq!(catalogue.len(), 33);
        for detected in [
            Detected::Os(Platform::Linux),
            Detected::Os(Platform::Macos),
            Detected::Os(Platform::Windows),
            Detected::NotAHost,
        ] {
            let ids: Vec<&str> = registry(detected).iter().map(|c| c.id()).collect();
            assert_eq!(ids, catalogue, "{detected:?}");
        }
    }

    #[test]
    fn os_folders_implement_only_catalogue_ids_that_apply_there() {
        for platform in Platform::ALL {
            let mut seen = std::collections::HashSet::new();
            for check in implemented(platform) {
                let entry = catalogue::check(check.id())
                    .unwrap_or_else(|| panic!("{} is not in the catalogue", check.id()));
                assert!(
                    entry.applies_on(platform),
                    "{} is implemented for {platform} where the catalogue says not_applicable",
                    check.id()
                );
                assert!(
                    seen.insert(check.id()),
                    "{} twice for {platform}",
                    check.id()
                );
            }
        }
    }

    #[test]
    fn linux_implements_every_id_that_applies_on_linux() {
        let implemented: Vec<&str> = implemented(Platform::Linux)
            .iter()
            .map(|c| c.id())
            .collect();
        for entry in catalogue::CHECKS {
            if entry.applies_on(Platform::Linux) {
                assert!(
                    implemented.contains(&entry.id),
                    "{} missing on Linux",
                    entry.id
                );
            }
        }
    }

    /// Every id answers on a skeleton root of each OS, and an id that never
    /// applies answers `not_applicable` with exactly the catalogue's reason.
    #[test]
    fn every_id_answers_on_linux_macos_and_windows_roots() {
        let thresholds = Thresholds::default();
        let now = "2026-11-25T12:00:00Z".parse().unwrap();
        for (platform, fake) in [
            (Platform::Linux, FakeHost::linux()),
            (Platform::Macos, FakeHost::macos()),
            (Platform::Windows, FakeHost::windows()),
        ] {
            let host = fake.host();
            assert_eq!(host.platform(), Some(platform));
            let ctx = Context::new(&host, now, &thresholds);
            let results = run(&ctx, &[]);
            assert_eq!(results.len(), 33, "{platform}");
            for (result, entry) in results.iter().zip(catalogue::CHECKS) {
                assert_eq!(result.check, entry.id);
                match entry.not_applicable_on(platform) {
                    Some(reason) => {
                        assert_eq!(
                            result.status,
                            Status::NotApplicable,
                            "{platform} {}",
                            entry.id
                        );
                        assert_eq!(
                            result.reason.as_deref(),
                            Some(reason),
                            "{platform} {}",
                            entry.id
                        );
                    }
                    // It may still be not applicable by the host's state (no SSH
                    // server), but never for the catalogue's reason.
                    None => assert!(
                        !entry
                            .not_applicable
                            .iter()
                            .any(|(_, r)| result.reason.as_deref() == Some(*r)),
                        "{platform} {}: {:?}",
                        entry.id,
                        result.reason
                    ),
                }
            }
        }
    }

    #[test]
    fn a_root_without_an_os_decides_nothing() {
        let host = FakeHost::empty().host();
        let thresholds = Thresholds::default();
        let ctx = Context::new(&host, "2026-11-25T12:00:00Z".parse().unwrap(), &thresholds);
        let results = run(&ctx, &[]);
        assert_eq!(results.len(), 33);
        for r in &results {
            assert_eq!(r.status, Status::Unknown, "{}", r.check);
            assert!(
                r.reason
                    .as_deref()
                    .unwrap()
                    .contains("holds no operating system")
            );
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v = serde_json::json!({"b": [{"z": 1, "a": "x\"y"}], "a": null});
        assert_eq!(canonical_json(&v), r#"{"a":null,"b":[{"a":"x\"y","z":1}]}"#);
        let out = ApiOutput {
            name: "sysctl vm.swapusage".into(),
            value: serde_json::json!({"xsu_encrypted": 1, "xsu_total": 2}),
        };
        let Evidence::Api {
            name,
            sha256: digest,
            ..
        } = api_evidence(&out, "xsu_encrypted = 1")
        else {
            panic!("api evidence");
        };
        assert_eq!(name, "sysctl vm.swapusage");
        assert_eq!(digest, sha256(br#"{"xsu_encrypted":1,"xsu_total":2}"#));
    }
}
