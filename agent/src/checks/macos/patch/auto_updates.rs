//! `patch.auto_updates` on a Mac: the five automatic-update settings, each from the
//! first layer that sets it: the declarative (DDM) state softwareupdated persists,
//! the managed preferences (macOS 15 and earlier), the local preferences, Apple's
//! documented default (on).

use attest_proto::{CheckResult, Evidence, Status};
use plist::{Dictionary, Value};

use crate::checks::macos::prefs::{self, as_bool, render};
use crate::checks::macos::version;
use crate::checks::{Check, Context, file_evidence, unknown};

use super::{SOFTWARE_UPDATE_DOMAIN, software_update_plist};

/// Where softwareupdated persists the applied software-update declarations
/// (undocumented; a host path: `/var` is a link to `private/var` on a Mac).
pub const DDM_STATE: &str = "/var/db/softwareupdate/SoftwareUpdateDDMStatePersistence.plist";
/// The top-level dictionary of [`DDM_STATE`].
pub const DDM_FIELDS: &str = "SUCorePersistedStatePolicyFields";
/// The applied `com.apple.configuration.softwareupdate.settings`, inside [`DDM_FIELDS`].
pub const DDM_GLOBAL: &str = "SUCoreDDMDeclarationGlobalSettings";
/// The applied enforcement declarations, inside [`DDM_FIELDS`].
pub const DDM_DECLARATIONS: &str = "Declarations";
/// The App Store's automatic app updates: recorded, never required.
pub const COMMERCE_DOMAIN: &str = "com.apple.commerce";
pub const COMMERCE_KEY: &str = "AutoUpdate";
/// From this major on, the `com.apple.SoftwareUpdate` profile payload is gone and
/// managed preferences of that domain are ignored by macOS.
pub const DDM_ONLY_FROM: u32 = 26;

/// The five settings: the preference key, and the key of [`DDM_GLOBAL`] that
/// softwareupdated persists for the declaration's `AutomaticActions`
/// (`Download` → `automaticallyDownload`, `InstallOSUpdates` →
/// `automaticallyInstallOSUpdates`, `InstallSecurityUpdate` (security updates and
/// system data files) → `automaticallyInstallSystemAndSecurityUpdates`; the check for
/// updates → `automaticallyCheck`).
pub const KEYS: [(&str, &str); 5] = [
    ("AutomaticCheckEnabled", "automaticallyCheck"),
    ("AutomaticDownload", "automaticallyDownload"),
    (
        "AutomaticallyInstallMacOSUpdates",
        "automaticallyInstallOSUpdates",
    ),
    (
        "CriticalUpdateInstall",
        "automaticallyInstallSystemAndSecurityUpdates",
    ),
    (
        "ConfigDataInstall",
        "automaticallyInstallSystemAndSecurityUpdates",
    ),
];

/// What the DDM state says of one setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DdmSetting {
    /// `AlwaysOn` (persisted as 1 or true).
    AlwaysOn,
    /// `AlwaysOff` (persisted as 0 or false).
    AlwaysOff,
    /// `Allowed` or absent: the user decides; the next layer is read.
    Allowed,
}

/// The parts of the DDM state the check reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DdmState {
    /// Each persisted key of [`DDM_GLOBAL`] that is set, and its rendering.
    pub global: Dictionary,
    /// The first enforcement declaration with a target: `TargetOSVersion`,
    /// `TargetBuildVersion`, `TargetLocalDateTime` as found.
    pub enforcement: Option<Dictionary>,
}

impl DdmState {
    /// The setting of the persisted key `key`; an unreadable value is an error.
    pub fn setting(&self, key: &str) -> Result<DdmSetting, String> {
        let Some(value) = self.global.get(key) else {
            return Ok(DdmSetting::Allowed);
        };
        if let Some(word) = value.as_string() {
            return match word {
                "AlwaysOn" => Ok(DdmSetting::AlwaysOn),
                "AlwaysOff" => Ok(DdmSetting::AlwaysOff),
                "Allowed" => Ok(DdmSetting::Allowed),
                _ => Err(format!(
                    "{DDM_STATE}: {DDM_GLOBAL}.{key} is {}",
                    render(value)
                )),
            };
        }
        match as_bool(value) {
            Some(true) => Ok(DdmSetting::AlwaysOn),
            Some(false) => Ok(DdmSetting::AlwaysOff),
            None => Err(format!(
                "{DDM_STATE}: {DDM_GLOBAL}.{key} is {}, not a boolean",
                render(value)
            )),
        }
    }
}

/// Reads the DDM state from the top-level dictionary of [`DDM_STATE`]:
/// `SUCorePersistedStatePolicyFields` → `SUCoreDDMDeclarationGlobalSettings` (the
/// settings) and `Declarations` (an enforcement declaration is one with a
/// `TargetOSVersion` or `TargetBuildVersion`). Missing parts are empty.
pub fn parse_ddm(top: &Dictionary) -> Result<DdmState, String> {
    let dict_at = |d: &Dictionary, key: &str, path: &str| -> Result<Option<Dictionary>, String> {
        match d.get(key) {
            None => Ok(None),
            Some(Value::Dictionary(inner)) => Ok(Some(inner.clone())),
            Some(other) => Err(format!(
                "{DDM_STATE}: {path} is {}, not a dictionary",
                render(other)
            )),
        }
    };
    let Some(fields) = dict_at(top, DDM_FIELDS, DDM_FIELDS)? else {
        return Ok(DdmState::default());
    };
    let global =
        dict_at(&fields, DDM_GLOBAL, &format!("{DDM_FIELDS}.{DDM_GLOBAL}"))?.unwrap_or_default();
    let declarations = dict_at(
        &fields,
        DDM_DECLARATIONS,
        &format!("{DDM_FIELDS}.{DDM_DECLARATIONS}"),
    )?
    .unwrap_or_default();
    let enforcement = declarations
        .values()
        .filter_map(Value::as_dictionary)
        .find(|d| {
            ["TargetOSVersion", "TargetBuildVersion"].iter().any(|k| {
                d.get(k)
                    .and_then(Value::as_string)
                    .is_some_and(|s| !s.trim().is_empty())
            })
        })
        .map(|d| {
            let mut kept = Dictionary::new();
            for k in [
                "TargetOSVersion",
                "TargetBuildVersion",
                "TargetLocalDateTime",
            ] {
                if let Some(v) = d.get(k) {
                    kept.insert(k.to_owned(), v.clone());
                }
            }
            kept
        });
    Ok(DdmState {
        global,
        enforcement,
    })
}

/// Which layer decided a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Ddm,
    Managed,
    Local,
    Default,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Ddm => "ddm",
            Layer::Managed => "managed",
            Layer::Local => "local",
            Layer::Default => "default",
        }
    }
}

/// One setting's effective value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    pub key: &'static str,
    pub value: bool,
    pub layer: Layer,
    /// `key = value` as found, for the excerpt of the deciding file.
    pub found: Option<String>,
}

/// A preference file's host path and top-level dictionary.
pub type Layered<'a> = (&'a str, &'a Dictionary);

/// The layers as read, pure: decides each of [`KEYS`]. `managed` is `None` when
/// managed preferences do not apply (macOS 26 and later) or there is no managed file.
pub fn decide(
    ddm: &DdmState,
    managed: Option<Layered<'_>>,
    local: Option<Layered<'_>>,
) -> Result<Vec<Decided>, String> {
    let mut out = Vec::with_capacity(KEYS.len());
    for (key, ddm_key) in KEYS {
        let setting = ddm.setting(ddm_key)?;
        let decided = match setting {
            DdmSetting::AlwaysOn | DdmSetting::AlwaysOff => Decided {
                key,
                value: setting == DdmSetting::AlwaysOn,
                layer: Layer::Ddm,
                found: ddm
                    .global
                    .get(ddm_key)
                    .map(|v| format!("{DDM_GLOBAL}.{ddm_key} = {}", render(v))),
            },
            DdmSetting::Allowed => {
                let from = |file: Option<Layered<'_>>,
                            layer: Layer|
                 -> Result<Option<Decided>, String> {
                    let Some((path, v)) = file.and_then(|(p, d)| d.get(key).map(|v| (p, v))) else {
                        return Ok(None);
                    };
                    let value = as_bool(v)
                        .ok_or_else(|| format!("{path}: {key} is {}, not a boolean", render(v)))?;
                    Ok(Some(Decided {
                        key,
                        value,
                        layer,
                        found: Some(format!("{key} = {}", render(v))),
                    }))
                };
                match from(managed, Layer::Managed)? {
                    Some(d) => d,
                    None => from(local, Layer::Local)?.unwrap_or(Decided {
                        key,
                        value: true,
                        layer: Layer::Default,
                        found: None,
                    }),
                }
            }
        };
        out.push(decided);
    }
    Ok(out)
}

/// A plist's dictionary and its bytes, `None` when it does not exist.
type Read = Option<(Vec<u8>, Dictionary)>;

fn read(ctx: &Context<'_>, path: &str) -> Result<Read, String> {
    prefs::read_dict(ctx.host, path).map_err(|e| e.to_string())
}

/// `patch.auto_updates` on a Mac.
///
/// Pass when all five are effectively on: `AutomaticCheckEnabled`,
/// `AutomaticDownload`, `AutomaticallyInstallMacOSUpdates`, `CriticalUpdateInstall`
/// (Security Responses and system files) and `ConfigDataInstall` (XProtect and
/// Gatekeeper data). Each is taken from the first layer that sets it:
///
/// 1. the DDM state `/var/db/softwareupdate/SoftwareUpdateDDMStatePersistence.plist`,
///    `SUCorePersistedStatePolicyFields` → `SUCoreDDMDeclarationGlobalSettings`, where
///    softwareupdated persists the declaration's `AutomaticActions` as
///    `automaticallyCheck`, `automaticallyDownload`, `automaticallyInstallOSUpdates`
///    and `automaticallyInstallSystemAndSecurityUpdates` (the last for both
///    `CriticalUpdateInstall` and `ConfigDataInstall`, as the declaration's
///    `InstallSecurityUpdate` covers security updates and system data files):
///    1/true (`AlwaysOn`) on, 0/false (`AlwaysOff`) off, absent or `Allowed` falls
///    through (key names as mscp reads them; the file is undocumented);
/// 2. managed `com.apple.SoftwareUpdate` — macOS 15 and earlier only: macOS 26
///    removed that payload, so a managed file there is ignored and recorded in
///    `facts.managed_ignored`;
/// 3. `/Library/Preferences/com.apple.SoftwareUpdate.plist`;
/// 4. Apple's documented default: on, for all five (an unset key on an unmanaged
///    Mac counts as on; the layer is recorded as `default`).
///
/// A key present with false (or 0) decides off; presence alone decides nothing. A
/// DDM enforcement declaration with a target version (`TargetOSVersion` or
/// `TargetBuildVersion` in the persisted `Declarations`) passes too: the update is
/// enforced whatever the settings. fail: any setting off (the summary names them);
/// unknown: a file that exists but cannot be read or holds a value of another type,
/// or managed preferences set a key and the macOS version (which decides whether they
/// apply) cannot be read.
///
/// Facts: `settings` (per key: `value`, `source` = `ddm`/`managed`/`local`/`default`),
/// `off`, `ddm_enforcement` (the target, or null), `managed_ignored`,
/// `app_store_auto_update` (`com.apple.commerce` `AutoUpdate` and its layer; recorded,
/// not required), `macos_version`.
pub struct AutoUpdates;

const ID: &str = "patch.auto_updates";

impl Check for AutoUpdates {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let version = version::get(ctx);
        let major = version.as_ref().ok().map(|v| v.major);
        let with_version = |r: CheckResult| {
            r.fact(
                "macos_version",
                version.as_ref().ok().map(ToString::to_string),
            )
        };

        let ddm_file = match read(ctx, DDM_STATE) {
            Ok(f) => f,
            Err(e) => return with_version(unknown(ID, e)),
        };
        let ddm = match ddm_file.as_ref().map(|(_, d)| parse_ddm(d)).transpose() {
            Ok(d) => d.unwrap_or_default(),
            Err(e) => return with_version(unknown(ID, e)),
        };
        let managed_path = prefs::managed_path(SOFTWARE_UPDATE_DOMAIN);
        let managed_file = match read(ctx, &managed_path) {
            Ok(f) => f,
            Err(e) => return with_version(unknown(ID, e)),
        };
        let managed_keys: Vec<&str> = KEYS
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| {
                managed_file
                    .as_ref()
                    .is_some_and(|(_, d)| d.contains_key(k))
            })
            .collect();
        let managed_applies = match major {
            Some(m) => m < DDM_ONLY_FROM,
            None if managed_keys.is_empty() => true,
            None => {
                return with_version(unknown(
                    ID,
                    format!(
                        "{managed_path} sets {}, and whether macOS honours it depends on the macOS version, which cannot be read: {}",
                        managed_keys.join(", "),
                        version.as_ref().err().cloned().unwrap_or_default()
                    ),
                ));
            }
        };
        let memo = software_update_plist(ctx);
        let local = match &memo.0 {
            Ok(f) => f.as_ref(),
            Err(e) => return with_version(unknown(ID, e.clone())),
        };
        let managed_layer = managed_file
            .as_ref()
            .filter(|_| managed_applies)
            .map(|(_, d)| (managed_path.as_str(), d));
        let local_layer = local.map(|(_, d)| (super::SOFTWARE_UPDATE_PLIST, d));
        let decided = match decide(&ddm, managed_layer, local_layer) {
            Ok(d) => d,
            Err(e) => return with_version(unknown(ID, e)),
        };

        // One file evidence per deciding file, its deciding keys as the excerpt.
        let mut evidence: Vec<Evidence> = Vec::new();
        for (layer, path, file) in [
            (Layer::Ddm, DDM_STATE.to_owned(), ddm_file.as_ref()),
            (Layer::Managed, managed_path.clone(), managed_file.as_ref()),
            (Layer::Local, super::SOFTWARE_UPDATE_PLIST.to_owned(), local),
        ] {
            let mut parts: Vec<String> = decided
                .iter()
                .filter(|d| d.layer == layer)
                .filter_map(|d| d.found.clone())
                .collect();
            parts.dedup();
            if layer == Layer::Ddm
                && let Some(e) = &ddm.enforcement
            {
                parts.extend(
                    e.iter()
                        .map(|(k, v)| format!("{DDM_DECLARATIONS}: {k} = {}", render(v))),
                );
            }
            if let (false, Some((bytes, _))) = (parts.is_empty(), file) {
                evidence.push(file_evidence(&path, bytes, parts.join("; ")));
            }
        }

        let commerce = prefs::lookup(ctx.host, COMMERCE_DOMAIN, COMMERCE_KEY);
        let app_store = match &commerce {
            Ok(Some((source, found))) => serde_json::json!({
                "value": as_bool(&found.value),
                "source": source.as_str(),
            }),
            Ok(None) => serde_json::json!({"value": null, "source": "default"}),
            Err(e) => serde_json::json!({"value": null, "error": e.to_string()}),
        };

        let off: Vec<&str> = decided.iter().filter(|d| !d.value).map(|d| d.key).collect();
        let target = ddm
            .enforcement
            .as_ref()
            .and_then(|e| {
                e.get("TargetOSVersion")
                    .or_else(|| e.get("TargetBuildVersion"))
            })
            .and_then(Value::as_string)
            .map(str::to_owned);
        let defaults = decided.iter().filter(|d| d.layer == Layer::Default).count();
        let result = match (&target, off.is_empty()) {
            (_, true) => CheckResult::new(
                ID,
                Status::Pass,
                format!(
                    "all five automatic-update settings are on{}",
                    if defaults > 0 {
                        format!(" ({defaults} by Apple's default)")
                    } else {
                        String::new()
                    }
                ),
            ),
            (Some(t), false) => CheckResult::new(
                ID,
                Status::Pass,
                format!(
                    "a declarative enforcement installs macOS {t} whatever the settings ({} off)",
                    off.join(", ")
                ),
            ),
            (None, false) => CheckResult::new(
                ID,
                Status::Fail,
                format!("automatic updates are off: {}", off.join(", ")),
            ),
        };
        let settings: serde_json::Map<String, serde_json::Value> = decided
            .iter()
            .map(|d| {
                (
                    d.key.to_owned(),
                    serde_json::json!({"value": d.value, "source": d.layer.as_str()}),
                )
            })
            .collect();
        let enforcement = ddm.enforcement.as_ref().map(|e| {
            e.iter()
                .map(|(k, v)| {
                    let shown = v.as_string().map_or_else(|| render(v), str::to_owned);
                    (k.clone(), shown)
                })
                .collect::<std::collections::BTreeMap<_, _>>()
        });
        let ignored: Vec<&str> = if managed_applies {
            Vec::new()
        } else {
            managed_keys
        };
        with_version(result)
            .fact("settings", settings)
            .fact("off", &off)
            .fact("ddm_enforcement", enforcement)
            .fact("managed_ignored", ignored)
            .fact("app_store_auto_update", app_store)
            .evidences(evidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::macos::patch::SOFTWARE_UPDATE_PLIST;
    use crate::checks::macos::prefs::tests::{binary, xml};
    use crate::checks::macos::system::testmac::mac;
    use crate::host::fake::FakeHost;
    use serde_json::json;

    fn dict(entries: &[(&str, Value)]) -> Dictionary {
        let mut d = Dictionary::new();
        for (k, v) in entries {
            d.insert((*k).to_owned(), v.clone());
        }
        d
    }

    /// A DDM state file whose global settings are `global` and, with `target`, an
    /// enforcement declaration.
    fn ddm_file(global: &[(&str, Value)], target: Option<&str>) -> Vec<u8> {
        let mut fields = dict(&[(DDM_GLOBAL, Value::Dictionary(dict(global)))]);
        if let Some(t) = target {
            let decl = dict(&[
                ("TargetOSVersion", Value::String(t.into())),
                (
                    "TargetLocalDateTime",
                    Value::String("2026-12-10T18:00:00".into()),
                ),
            ]);
            fields.insert(
                DDM_DECLARATIONS.into(),
                Value::Dictionary(dict(&[("com.example.enforce", Value::Dictionary(decl))])),
            );
        }
        binary(&[(DDM_FIELDS, Value::Dictionary(fields))])
    }

    fn int(n: i64) -> Value {
        Value::Integer(n.into())
    }

    #[test]
    fn absent_keys_mean_the_default_and_false_or_zero_decides_off() {
        let none = DdmState::default();
        let d = decide(&none, None, None).unwrap();
        assert!(
            d.iter().all(|d| d.value && d.layer == Layer::Default),
            "{d:?}"
        );
        // Drata counted rows: here a key set to 0 or false is off.
        let local = dict(&[
            ("CriticalUpdateInstall", int(0)),
            ("AutomaticDownload", Value::Boolean(false)),
            ("AutomaticCheckEnabled", int(1)),
        ]);
        let d = decide(&none, None, Some(("local", &local))).unwrap();
        let off: Vec<&str> = d.iter().filter(|d| !d.value).map(|d| d.key).collect();
        assert_eq!(off, ["AutomaticDownload", "CriticalUpdateInstall"]);
        assert_eq!(d[0].layer, Layer::Local);
        assert_eq!(d[4].layer, Layer::Default);
        let bad = dict(&[("ConfigDataInstall", Value::Real(1.0))]);
        assert!(
            decide(&none, None, Some(("local", &bad)))
                .unwrap_err()
                .contains("not a boolean")
        );
    }

    #[test]
    fn ddm_decides_before_managed_and_local_and_allowed_falls_through() {
        let top = prefs::parse(&ddm_file(
            &[
                ("automaticallyDownload", int(1)),
                ("automaticallyInstallSystemAndSecurityUpdates", int(0)),
                (
                    "automaticallyInstallOSUpdates",
                    Value::String("Allowed".into()),
                ),
            ],
            None,
        ))
        .unwrap()
        .into_dictionary()
        .unwrap();
        let ddm = parse_ddm(&top).unwrap();
        let local = dict(&[
            ("AutomaticDownload", Value::Boolean(false)),
            ("CriticalUpdateInstall", Value::Boolean(true)),
            ("AutomaticallyInstallMacOSUpdates", Value::Boolean(false)),
        ]);
        let d = decide(&ddm, None, Some(("local", &local))).unwrap();
        let get = |k: &str| d.iter().find(|d| d.key == k).unwrap().clone();
        assert_eq!(
            (
                get("AutomaticDownload").value,
                get("AutomaticDownload").layer
            ),
            (true, Layer::Ddm)
        );
        assert_eq!(
            (
                get("CriticalUpdateInstall").value,
                get("CriticalUpdateInstall").layer
            ),
            (false, Layer::Ddm)
        );
        assert_eq!(get("ConfigDataInstall").layer, Layer::Ddm);
        assert_eq!(
            (
                get("AutomaticallyInstallMacOSUpdates").value,
                get("AutomaticallyInstallMacOSUpdates").layer
            ),
            (false, Layer::Local)
        );
        assert_eq!(get("AutomaticCheckEnabled").layer, Layer::Default);
        // Odd DDM values are errors, not guesses.
        let odd = DdmState {
            global: dict(&[("automaticallyCheck", Value::String("Sometimes".into()))]),
            enforcement: None,
        };
        assert!(decide(&odd, None, None).is_err());
    }

    #[test]
    fn an_enforcement_declaration_is_found_by_its_target() {
        let top = prefs::parse(&ddm_file(&[], Some("26.2")))
            .unwrap()
            .into_dictionary()
            .unwrap();
        let ddm = parse_ddm(&top).unwrap();
        let e = ddm.enforcement.unwrap();
        assert_eq!(
            e.get("TargetOSVersion").and_then(Value::as_string),
            Some("26.2")
        );
        assert!(parse_ddm(&Dictionary::new()).unwrap().enforcement.is_none());
        let wrong = dict(&[(DDM_FIELDS, Value::String("x".into()))]);
        assert!(parse_ddm(&wrong).unwrap_err().contains("not a dictionary"));
    }

    #[test]
    fn an_unmanaged_mac_with_nothing_set_passes_by_default() {
        let r = mac("15.1").run(&AutoUpdates);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(r.summary.contains("5 by Apple's default"), "{}", r.summary);
        assert_eq!(
            r.facts["settings"]["AutomaticDownload"],
            json!({"value": true, "source": "default"})
        );
        assert!(r.evidence.is_empty());
    }

    #[test]
    fn a_local_zero_fails_naming_the_key_with_an_excerpt() {
        let r = mac("14.6")
            .file(
                SOFTWARE_UPDATE_PLIST,
                xml(&[
                    ("CriticalUpdateInstall", int(0)),
                    ("AutomaticDownload", int(1)),
                ]),
            )
            .run(&AutoUpdates);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(
            r.summary,
            "automatic updates are off: CriticalUpdateInstall"
        );
        assert_eq!(r.facts["off"], json!(["CriticalUpdateInstall"]));
        assert_eq!(
            r.facts["settings"]["CriticalUpdateInstall"]["source"],
            "local"
        );
        let Evidence::File { path, excerpt, .. } = &r.evidence[0] else {
            panic!("file evidence");
        };
        assert_eq!(path, SOFTWARE_UPDATE_PLIST);
        assert_eq!(excerpt, "AutomaticDownload = 1; CriticalUpdateInstall = 0");
    }

    #[test]
    fn managed_wins_on_15_and_is_ignored_on_26() {
        let managed = prefs::managed_path(SOFTWARE_UPDATE_DOMAIN);
        let fake = |v: &str| {
            mac(v)
                .file(
                    &managed,
                    xml(&[("AutomaticallyInstallMacOSUpdates", Value::Boolean(true))]),
                )
                .file(
                    SOFTWARE_UPDATE_PLIST,
                    binary(&[("AutomaticallyInstallMacOSUpdates", Value::Boolean(false))]),
                )
        };
        let r = fake("15.4").run(&AutoUpdates);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(
            r.facts["settings"]["AutomaticallyInstallMacOSUpdates"]["source"],
            "managed"
        );
        assert_eq!(r.facts["managed_ignored"], json!([]));
        let r = fake("26.1").run(&AutoUpdates);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(
            r.facts["settings"]["AutomaticallyInstallMacOSUpdates"]["source"],
            "local"
        );
        assert_eq!(
            r.facts["managed_ignored"],
            json!(["AutomaticallyInstallMacOSUpdates"])
        );
        // No readable version and a managed key: unknown.
        let r = FakeHost::macos()
            .file(
                &managed,
                xml(&[("AutomaticDownload", Value::Boolean(true))]),
            )
            .run(&AutoUpdates);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(
            r.reason.as_deref().unwrap().contains("macOS version"),
            "{r:?}"
        );
    }

    #[test]
    fn on_26_ddm_overrides_local() {
        // DDM state is read through /var, a link to private/var on a Mac root.
        let r = mac("26.1")
            .link("/var", "private/var")
            .file(
                "/private/var/db/softwareupdate/SoftwareUpdateDDMStatePersistence.plist",
                ddm_file(
                    &[
                        ("automaticallyCheck", int(1)),
                        ("automaticallyDownload", int(1)),
                        ("automaticallyInstallOSUpdates", int(1)),
                        ("automaticallyInstallSystemAndSecurityUpdates", int(1)),
                    ],
                    None,
                ),
            )
            .file(
                SOFTWARE_UPDATE_PLIST,
                xml(&[
                    ("AutomaticDownload", Value::Boolean(false)),
                    ("ConfigDataInstall", int(0)),
                ]),
            )
            .run(&AutoUpdates);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["settings"]["ConfigDataInstall"]["source"], "ddm");
        let Evidence::File { path, excerpt, .. } = &r.evidence[0] else {
            panic!("file evidence");
        };
        assert_eq!(path, DDM_STATE);
        assert!(
            excerpt.contains("SUCoreDDMDeclarationGlobalSettings.automaticallyDownload = 1"),
            "{excerpt}"
        );
        assert_eq!(r.evidence.len(), 1, "{:?}", r.evidence);
        // AlwaysOff decides off.
        let r = mac("26.1")
            .file(
                DDM_STATE,
                ddm_file(&[("automaticallyDownload", int(0))], None),
            )
            .run(&AutoUpdates);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["settings"]["AutomaticDownload"]["source"], "ddm");
    }

    #[test]
    fn an_enforced_target_version_passes_with_settings_off() {
        let r = mac("26.1")
            .file(DDM_STATE, ddm_file(&[], Some("26.2")))
            .file(
                SOFTWARE_UPDATE_PLIST,
                xml(&[("AutomaticDownload", Value::Boolean(false))]),
            )
            .run(&AutoUpdates);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.summary.contains("26.2") && r.summary.contains("AutomaticDownload off"),
            "{}",
            r.summary
        );
        assert_eq!(r.facts["ddm_enforcement"]["TargetOSVersion"], "26.2");
    }

    #[test]
    fn the_app_store_setting_is_recorded_not_required() {
        let r = mac("15.1")
            .file(
                &prefs::local_path(COMMERCE_DOMAIN),
                xml(&[(COMMERCE_KEY, Value::Boolean(false))]),
            )
            .run(&AutoUpdates);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(
            r.facts["app_store_auto_update"],
            json!({"value": false, "source": "local"})
        );
    }

    #[test]
    fn unreadable_files_are_unknown() {
        let r = mac("15.1")
            .file(DDM_STATE, "x")
            .deny("/var/db/softwareupdate")
            .run(&AutoUpdates);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.as_deref().unwrap().contains("permission denied"));
        let r = mac("15.1")
            .file(SOFTWARE_UPDATE_PLIST, "not a plist")
            .run(&AutoUpdates);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        let r = mac("15.1")
            .file(
                SOFTWARE_UPDATE_PLIST,
                xml(&[("AutomaticDownload", Value::String("maybe".into()))]),
            )
            .run(&AutoUpdates);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(
            r.reason
                .as_deref()
                .unwrap()
                .starts_with(SOFTWARE_UPDATE_PLIST),
            "{r:?}"
        );
    }
}
