//! The live WMI and COM sources of the Windows agent: what `ctx.host.api(&S)` calls
//! on a live Windows host for the `WIN_*` sources of [`super::sources`] that are
//! WMI queries and methods, Security Center, Windows Firewall and the Windows
//! Update Agent, each answering exactly the JSON layout on its constant.
//!
//! This file holds what every target compiles and Linux tests: the property lists,
//! the mapping of values already turned into JSON into each layout, HRESULT text,
//! the OLE date conversion and the helper child's timeout. The calls themselves are
//! in the Windows-only submodules: `com` (one COM apartment per call, on its own
//! thread, with a timeout), `wmi_sources`, `com_sources` (IWSCProductList,
//! INetFwPolicy2) and `wua` (the `attest-agent wua-snapshot` child and its parent).
//!
//! A call that fails becomes [`SourceError::Failed`] whose error starts with the
//! HRESULT in hex (`0x8004100E invalid namespace`), so that a host without the
//! namespace or the COM class (Windows Server without Security Center, Wine)
//! answers `unknown` with the HRESULT instead of crashing or hanging.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::SourceError;
use super::command::MAX_OUTPUT_BYTES;

#[cfg(windows)]
mod com;
#[cfg(windows)]
mod com_sources;
#[cfg(windows)]
mod wmi_sources;
#[cfg(windows)]
mod wua;

#[cfg(windows)]
pub use wua::snapshot_json as wua_snapshot_child;

/// How long one WMI or COM source may take before the agent stops waiting for it
/// (the thread making the call is abandoned; COM gives no way to cancel a call).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the `wua-snapshot` child may run before it is killed: catalogue 0.3
/// (offline searches of a large datastore have been seen to take minutes).
pub const WUA_TIMEOUT: Duration = Duration::from_secs(300);

/// The hidden subcommand of `attest-agent` that prints `win.wua.snapshot`.
pub const WUA_SUBCOMMAND: &str = "wua-snapshot";

/// The WUA search criteria of `win.wua.snapshot` (as in its source name).
pub const WUA_CRITERIA: &str = "IsInstalled=0 and Type='Software' and IsHidden=0";

/// The properties of `win.wmi.encryptable_volumes`, before `methods`.
pub const ENCRYPTABLE_VOLUME_PROPERTIES: &[&str] = &[
    "DeviceID",
    "DriveLetter",
    "VolumeType",
    "PersistentVolumeID",
    "ProtectionStatus",
    "ConversionStatus",
    "EncryptionMethod",
    "IsVolumeInitializedForProtection",
];

/// The properties of `win.wmi.volumes`.
pub const VOLUME_PROPERTIES: &[&str] = &[
    "DeviceID",
    "DriveLetter",
    "DriveType",
    "FileSystem",
    "Label",
    "Name",
    "Capacity",
    "FreeSpace",
    "BootVolume",
    "SystemVolume",
];

/// The properties of `win.wmi.licensing_esu`.
pub const LICENSING_PROPERTIES: &[&str] = &["Name", "Description", "LicenseStatus", "ID"];

/// The properties of `win.wmi.defender_status`.
pub const DEFENDER_PROPERTIES: &[&str] = &[
    "AMServiceEnabled",
    "AntivirusEnabled",
    "RealTimeProtectionEnabled",
    "AMRunningMode",
    "AntivirusSignatureAge",
    "AntivirusSignatureLastUpdated",
    "AMProductVersion",
    "IsTamperProtected",
];

/// The properties of `win.wmi.optionalfeature_smb1`.
pub const SMB1_PROPERTIES: &[&str] = &["Name", "InstallState"];

/// The properties of `win.wmi.deviceguard`.
pub const DEVICEGUARD_PROPERTIES: &[&str] = &[
    "SecurityServicesRunning",
    "VirtualizationBasedSecurityStatus",
];

/// The properties of `win.wmi.tpm`.
pub const TPM_PROPERTIES: &[&str] = &[
    "IsEnabled_InitialValue",
    "IsActivated_InitialValue",
    "SpecVersion",
    "ManufacturerIdTxt",
];

/// The `Win32_EncryptableVolume` methods called with no input, in call order
/// (`GetConversionStatus` takes `PrecisionFactor`, `GetKeyProtectorType` a
/// protector ID: called apart). Never `GetKeyProtectorNumericalPassword`,
/// `GetExternalKeyFromFile` or anything else that returns key material.
pub const VOLUME_METHODS_NO_INPUT: &[&str] = &[
    "GetProtectionStatus",
    "GetEncryptionMethod",
    "GetKeyProtectors",
    "GetLockStatus",
];

/// The output parameters kept from each method (besides `ReturnValue`).
pub fn method_outputs(method: &str) -> &'static [&'static str] {
    match method {
        "GetProtectionStatus" => &["ProtectionStatus"],
        "GetConversionStatus" => &[
            "ConversionStatus",
            "EncryptionPercentage",
            "EncryptionFlags",
            "WipingStatus",
            "WipingPercentage",
        ],
        "GetEncryptionMethod" => &["EncryptionMethod", "SelfEncryptionDriveEncryptionMethod"],
        "GetKeyProtectors" => &["VolumeKeyProtectorID"],
        "GetKeyProtectorType" => &["KeyProtectorType"],
        "GetLockStatus" => &["LockStatus"],
        _ => &[],
    }
}

/// The name of the HRESULTs these sources meet, for errors and captures.
fn hresult_name(code: u32) -> Option<&'static str> {
    Some(match code {
        0x8004_1001 => "generic failure",
        0x8004_1002 => "not found",
        0x8004_1003 => "access denied",
        0x8004_100C => "not supported",
        0x8004_100E => "invalid namespace",
        0x8004_1010 => "invalid class",
        0x8004_1013 => "provider load failure",
        0x8004_1017 => "invalid query",
        0x8004_1032 => "call cancelled",
        0x8004_1033 => "shutting down",
        0x8004_0154 => "class not registered",
        0x8000_4002 => "no such interface",
        0x8000_4001 => "not implemented",
        0x8007_0005 => "access denied",
        0x8007_0422 => "the service is disabled",
        0x8007_06BA => "RPC server unavailable",
        0x8001_0106 => "COM already initialised in another mode",
        0x8001_0119 => "COM security already initialised",
        0x8024_002E => "Windows Update access disabled by policy",
        0x8024_0032 => "invalid search criteria",
        0x8024_001E => "Windows Update service is shutting down",
        0x8024_402C => "Windows Update server not found",
        _ => return None,
    })
}

/// `0x8004100E invalid namespace`: the HRESULT in hex, then its name (or `fallback`,
/// the system's message, when this table does not know it).
pub fn hresult_text(code: u32, fallback: &str) -> String {
    let name = hresult_name(code).unwrap_or(fallback).trim();
    if name.is_empty() {
        format!("0x{code:08X}")
    } else {
        format!("0x{code:08X} {name}")
    }
}

/// One instance in a source's layout: every name of `names` with
/// `get`'s value or null (a property this build of Windows does not have).
pub fn instance_json(names: &[&str], get: impl Fn(&str) -> Option<Value>) -> Value {
    let mut map = Map::new();
    for name in names {
        map.insert((*name).to_owned(), get(name).unwrap_or(Value::Null));
    }
    Value::Object(map)
}

/// `{"instances": [...]}`.
pub fn instances_json(instances: Vec<Value>) -> Value {
    json!({ "instances": instances })
}

/// A method's result in the layout: `ReturnValue` and its outputs (null where the
/// output object lacks one).
pub fn method_result_json(method: &str, get: impl Fn(&str) -> Option<Value>) -> Value {
    let mut names = vec!["ReturnValue"];
    names.extend_from_slice(method_outputs(method));
    instance_json(&names, get)
}

/// A method whose call itself failed (ExecMethod's HRESULT, no output object):
/// recorded as its `ReturnValue` (the BitLocker methods return HRESULTs too, so a
/// check reads both as "returned 0x…") with the text in `error`.
pub fn method_failed_json(code: u32, fallback: &str) -> Value {
    json!({ "ReturnValue": code, "error": hresult_text(code, fallback) })
}

/// The protector IDs of a `GetKeyProtectors` result: none when the method did not
/// return 0 or WMI gave null for the empty array.
pub fn protector_ids(get_key_protectors: &Value) -> Vec<String> {
    if get_key_protectors
        .get("ReturnValue")
        .and_then(Value::as_u64)
        != Some(0)
    {
        return Vec::new();
    }
    match get_key_protectors.get("VolumeKeyProtectorID") {
        Some(Value::Array(ids)) => ids
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

/// One `Win32_EncryptableVolume` in the layout: its properties (an object from
/// [`instance_json`]) with `methods` added.
pub fn encryptable_volume_json(mut properties: Value, methods: Map<String, Value>) -> Value {
    if let Value::Object(map) = &mut properties {
        map.insert("methods".to_owned(), Value::Object(methods));
    }
    properties
}

/// The name of an `INetFwPolicy2` profile type.
pub fn firewall_profile_name(profile_type: i32) -> &'static str {
    match profile_type {
        1 => "Domain",
        2 => "Private",
        4 => "Public",
        _ => "Unknown",
    }
}

/// The three profile types of `win.api.firewall_profiles`, in order.
pub const FIREWALL_PROFILE_TYPES: [i32; 3] = [1, 2, 4];

/// `win.api.firewall_profiles` from `FirewallEnabled` of each profile type and
/// `CurrentProfileTypes`.
pub fn firewall_json(enabled: &[(i32, bool)], current_profile_types: i32) -> Value {
    let profiles: Vec<Value> = enabled
        .iter()
        .map(|(ty, on)| json!({ "profile": firewall_profile_name(*ty), "type": ty, "enabled": on }))
        .collect();
    json!({ "profiles": profiles, "current_profile_types": current_profile_types })
}

/// One Security Center product as `IWscProduct` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WscProduct {
    pub name: String,
    /// `WSC_SECURITY_PRODUCT_STATE`.
    pub product_state: i32,
    /// `WSC_SECURITY_SIGNATURE_STATUS` (antivirus only).
    pub signature_status: Option<i32>,
}

/// `win.wsc.products`: antivirus products with their signature status, firewall
/// products without.
pub fn wsc_json(antivirus: &[WscProduct], firewall: &[WscProduct]) -> Value {
    let av: Vec<Value> = antivirus
        .iter()
        .map(|p| {
            json!({ "name": p.name, "product_state": p.product_state,
                "signature_status": p.signature_status })
        })
        .collect();
    let fw: Vec<Value> = firewall
        .iter()
        .map(|p| json!({ "name": p.name, "product_state": p.product_state }))
        .collect();
    json!({ "antivirus": av, "firewall": fw })
}

/// An OLE Automation date (days since 1899-12-30 00:00, the fraction the time of
/// day; before the epoch the fraction counts forward, as `VariantTimeToSystemTime`
/// reads it) as RFC 3339 UTC, to the second. WUA's dates are UTC. `None` for
/// NaN, infinities and dates outside years 100–9999 (what `DATE` allows).
pub fn ole_date_rfc3339(date: f64) -> Option<String> {
    if !date.is_finite() || !(-657_434.0..=2_958_466.0).contains(&date) {
        return None;
    }
    let days = date.trunc();
    let fraction = (date - days).abs();
    let seconds = (days * 86_400.0 + (fraction * 86_400.0).round()) as i64;
    let epoch = DateTime::parse_from_rfc3339("1899-12-30T00:00:00Z")
        .ok()?
        .with_timezone(&Utc);
    let at = epoch.checked_add_signed(chrono::TimeDelta::try_seconds(seconds)?)?;
    Some(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// One category of an update (`ICategory`), as recorded: `category_id` as WUA gives
/// it (GUIDs compare case-insensitively), `type` (`UpdateClassification`,
/// `Product`, `ProductFamily`, `Company`), `name` (localised, never decides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WuaCategory {
    pub category_id: String,
    pub kind: String,
    pub name: String,
}

/// One update of the search result (`IUpdate`).
#[derive(Debug, Clone, PartialEq)]
pub struct WuaUpdate {
    pub update_id: String,
    pub revision_number: i32,
    pub title: String,
    pub kb_article_ids: Vec<String>,
    /// `MsrcSeverity`; WUA gives an empty string for none, recorded as null.
    pub msrc_severity: Option<String>,
    pub is_downloaded: bool,
    pub is_mandatory: bool,
    /// `InstallationBehavior.RebootBehavior` (0 never, 1 always, 2 can request).
    pub reboot_behavior: Option<i32>,
    /// `LastDeploymentChangeTime`, an OLE date.
    pub last_deployment_change_time: Option<f64>,
    pub categories: Vec<WuaCategory>,
}

impl WuaUpdate {
    fn json(&self) -> Value {
        let categories: Vec<Value> = self
            .categories
            .iter()
            .map(|c| json!({ "category_id": c.category_id, "type": c.kind, "name": c.name }))
            .collect();
        json!({
            "update_id": self.update_id,
            "revision_number": self.revision_number,
            "title": self.title,
            "kb_article_ids": self.kb_article_ids,
            "msrc_severity": self.msrc_severity.as_deref().map(str::trim).filter(|s| !s.is_empty()),
            "is_downloaded": self.is_downloaded,
            "is_mandatory": self.is_mandatory,
            "reboot_behavior": self.reboot_behavior,
            "last_deployment_change_time": self.last_deployment_change_time.and_then(ole_date_rfc3339),
            "categories": categories,
        })
    }
}

/// The search part of a snapshot: the search's `ResultCode` and its updates, or
/// the HRESULT that made the search (or the session) fail.
#[derive(Debug, Clone, PartialEq)]
pub enum WuaSearch {
    Done {
        /// `OperationResultCode` (2 succeeded, 3 succeeded with errors, 4 failed,
        /// 5 aborted).
        result_code: i32,
        updates: Vec<WuaUpdate>,
    },
    Failed {
        hresult: u32,
        error: String,
    },
}

/// One value of the automatic-update part: `Ok(None)` is WUA's "never"
/// (`VT_EMPTY`), `Err` the call's error (the key is then left out: "not
/// captured" for the check, the error in `errors`).
pub type WuaField<T> = Result<Option<T>, String>;

/// Everything the helper child read.
#[derive(Debug, Clone, PartialEq)]
pub struct WuaSnapshot {
    pub search: WuaSearch,
    /// `IAutomaticUpdates2.Results.LastSearchSuccessDate`, an OLE date.
    pub last_search_success_date: WuaField<f64>,
    /// `IAutomaticUpdates2.Results.LastInstallationSuccessDate`.
    pub last_installation_success_date: WuaField<f64>,
    /// `IAutomaticUpdates.Settings.NotificationLevel` (0 not configured, 1
    /// disabled, 2 notify before download, 3 notify before installation, 4
    /// scheduled installation).
    pub notification_level: WuaField<i32>,
    /// `ISystemInformation.RebootRequired`.
    pub reboot_required: WuaField<bool>,
}

/// The layout of `win.wua.snapshot` (catalogue 4.1). A failed search is
/// `result_code` 4 with its `hresult` and no updates; a failed automatic-update
/// read leaves its key out and names the error under `errors`.
pub fn wua_snapshot_json(snapshot: &WuaSnapshot) -> Value {
    let mut map = Map::new();
    map.insert("criteria".into(), WUA_CRITERIA.into());
    map.insert("online".into(), false.into());
    map.insert(
        "include_potentially_superseded_updates".into(),
        false.into(),
    );
    let mut errors = Map::new();
    match &snapshot.search {
        WuaSearch::Done {
            result_code,
            updates,
        } => {
            map.insert("result_code".into(), (*result_code).into());
            map.insert("hresult".into(), 0.into());
            map.insert(
                "updates".into(),
                Value::Array(updates.iter().map(WuaUpdate::json).collect()),
            );
        }
        WuaSearch::Failed { hresult, error } => {
            map.insert("result_code".into(), 4.into());
            map.insert("hresult".into(), (*hresult).into());
            map.insert("updates".into(), Value::Array(Vec::new()));
            errors.insert("search".into(), error.clone().into());
        }
    }
    let mut field = |key: &str, value: Result<Option<Value>, String>| match value {
        Ok(v) => {
            map.insert(key.to_owned(), v.unwrap_or(Value::Null));
        }
        Err(e) => {
            errors.insert(key.to_owned(), e.into());
        }
    };
    let date = |d: &WuaField<f64>| -> Result<Option<Value>, String> {
        match d {
            Ok(Some(d)) => ole_date_rfc3339(*d)
                .map(|s| Some(Value::String(s)))
                .ok_or_else(|| format!("{d} is not a date")),
            Ok(None) => Ok(None),
            Err(e) => Err(e.clone()),
        }
    };
    field(
        "last_search_success_date",
        date(&snapshot.last_search_success_date),
    );
    field(
        "last_installation_success_date",
        date(&snapshot.last_installation_success_date),
    );
    field(
        "notification_level",
        snapshot
            .notification_level
            .clone()
            .map(|v| v.map(Value::from)),
    );
    field(
        "reboot_required",
        snapshot.reboot_required.clone().map(|v| v.map(Value::from)),
    );
    if !errors.is_empty() {
        map.insert("errors".into(), Value::Object(errors));
    }
    Value::Object(map)
}

/// How a helper child ended, before its output is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildEnd {
    Exited(Option<i32>),
    TimedOut,
}

/// Waits for `child` until `timeout`, polling `try_wait`; on expiry kills it and
/// reaps it. `poll` is the pause between polls.
pub fn wait_or_kill(
    child: &mut Child,
    timeout: Duration,
    poll: Duration,
) -> std::io::Result<ChildEnd> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(ChildEnd::Exited(status.code()));
        }
        if started.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(ChildEnd::TimedOut);
        }
        std::thread::sleep(poll);
    }
}

/// Runs a helper child that prints one JSON value on standard output (the agent's
/// own executable with a hidden subcommand; `command` is built by the caller, with
/// no shell): no standard input, output read to [`MAX_OUTPUT_BYTES`], killed after
/// `timeout`. `what` names the source in errors.
pub fn run_json_child(
    mut command: Command,
    what: &str,
    timeout: Duration,
) -> Result<Value, SourceError> {
    let failed = |error: String| SourceError::Failed {
        what: what.to_owned(),
        error,
    };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot start the helper: {e}")))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out_reader = std::thread::spawn(move || read_bounded(stdout));
    let err_reader = std::thread::spawn(move || read_bounded(stderr));
    let end = wait_or_kill(&mut child, timeout, Duration::from_millis(20))
        .map_err(|e| failed(format!("waiting for the helper: {e}")))?;
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    match end {
        ChildEnd::TimedOut => Err(SourceError::Timeout {
            what: what.to_owned(),
            seconds: timeout.as_secs(),
        }),
        ChildEnd::Exited(code) => child_json(code, &stdout, &stderr).map_err(failed),
    }
}

/// The JSON a helper printed, or why there is none: a non-zero exit names its
/// code and the last line of standard error.
pub fn child_json(exit_code: Option<i32>, stdout: &str, stderr: &str) -> Result<Value, String> {
    let last = stderr
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    match exit_code {
        Some(0) => serde_json::from_str(stdout.trim())
            .map_err(|e| format!("the helper printed no JSON ({e})")),
        Some(code) => Err(format!("the helper exited with {code}: {last}")),
        None => Err(format!("the helper was killed: {last}")),
    }
}

fn read_bounded(pipe: Option<impl Read>) -> String {
    let mut buf = Vec::new();
    if let Some(pipe) = pipe {
        let _ = pipe.take(MAX_OUTPUT_BYTES as u64).read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Calls one of this module's sources; `None` for a source that is not one.
#[cfg(windows)]
pub(super) fn api(source: &super::sources::Source) -> Option<Result<Value, SourceError>> {
    use super::sources as s;
    let what = source.describe();
    let id = source.id;
    let query = |namespace: &'static str, query: &'static str, names: &'static [&'static str]| {
        com::on_com_thread(&what, CALL_TIMEOUT, move |what| {
            wmi_sources::instances(what, namespace, query, names)
        })
    };
    Some(if id == s::WIN_ENCRYPTABLE_VOLUMES.id {
        com::on_com_thread(&what, CALL_TIMEOUT, wmi_sources::encryptable_volumes)
    } else if id == s::WIN_VOLUMES.id {
        query(
            "ROOT\\CIMV2",
            "SELECT * FROM Win32_Volume",
            VOLUME_PROPERTIES,
        )
    } else if id == s::WIN_LICENSING_ESU.id {
        query(
            "ROOT\\CIMV2",
            "SELECT Name, Description, LicenseStatus, ID FROM SoftwareLicensingProduct \
             WHERE LicenseStatus = 1 AND PartialProductKey IS NOT NULL",
            LICENSING_PROPERTIES,
        )
    } else if id == s::WIN_DEFENDER_STATUS.id {
        query(
            "ROOT\\Microsoft\\Windows\\Defender",
            "SELECT * FROM MSFT_MpComputerStatus",
            DEFENDER_PROPERTIES,
        )
    } else if id == s::WIN_OPTIONALFEATURE_SMB1.id {
        query(
            "ROOT\\CIMV2",
            "SELECT Name, InstallState FROM Win32_OptionalFeature WHERE Name = 'SMB1Protocol'",
            SMB1_PROPERTIES,
        )
    } else if id == s::WIN_DEVICEGUARD.id {
        query(
            "ROOT\\Microsoft\\Windows\\DeviceGuard",
            "SELECT * FROM Win32_DeviceGuard",
            DEVICEGUARD_PROPERTIES,
        )
    } else if id == s::WIN_TPM.id {
        query(
            "ROOT\\CIMV2\\Security\\MicrosoftTpm",
            "SELECT * FROM Win32_Tpm",
            TPM_PROPERTIES,
        )
    } else if id == s::WIN_WSC_PRODUCTS.id {
        com::on_com_thread(&what, CALL_TIMEOUT, com_sources::wsc_products)
    } else if id == s::WIN_FIREWALL_PROFILES.id {
        com::on_com_thread(&what, CALL_TIMEOUT, com_sources::firewall_profiles)
    } else if id == s::WIN_WUA_SNAPSHOT.id {
        wua::snapshot_via_child(&what)
    } else {
        return None;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hresult_text_names_known_codes_and_falls_back_to_the_message() {
        assert_eq!(
            hresult_text(0x8004_100E, "x"),
            "0x8004100E invalid namespace"
        );
        assert_eq!(hresult_text(0x8004_1003, ""), "0x80041003 access denied");
        assert_eq!(
            hresult_text(0x8007_0002, "The system cannot find the file specified."),
            "0x80070002 The system cannot find the file specified."
        );
        assert_eq!(hresult_text(0x8000_FFFF, "  "), "0x8000FFFF");
    }

    #[test]
    fn instance_json_keeps_every_layout_name_null_when_missing() {
        let v = instance_json(VOLUME_PROPERTIES, |n| match n {
            "DriveLetter" => Some(json!("C:")),
            "Capacity" => Some(json!(511_000_000_000u64)),
            // A property outside the layout is never recorded.
            "SerialNumber" => Some(json!(1234)),
            _ => None,
        });
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = VOLUME_PROPERTIES.to_vec();
        keys.sort_unstable();
        want.sort_unstable();
        assert_eq!(keys, want);
        assert_eq!(v["DriveLetter"], "C:");
        assert_eq!(v["DeviceID"], Value::Null);
        assert!(v.get("SerialNumber").is_none());
    }

    #[test]
    fn method_results_keep_return_value_and_the_documented_outputs_only() {
        let r = method_result_json("GetConversionStatus", |n| match n {
            "ReturnValue" => Some(json!(0)),
            "ConversionStatus" => Some(json!(1)),
            "EncryptionPercentage" => Some(json!(100)),
            "EncryptionFlags" => Some(json!(0)),
            _ => None,
        });
        assert_eq!(
            r,
            json!({"ReturnValue": 0, "ConversionStatus": 1, "EncryptionPercentage": 100,
                "EncryptionFlags": 0, "WipingStatus": null, "WipingPercentage": null})
        );
        // A method not in the table keeps only its ReturnValue: nothing returning
        // key material can be recorded by accident.
        let secret = method_result_json("GetKeyProtectorNumericalPassword", |n| match n {
            "ReturnValue" => Some(json!(0)),
            "NumericalPassword" => Some(json!("111111-222222-333333-444444")),
            _ => None,
        });
        assert_eq!(secret, json!({"ReturnValue": 0}));
        assert!(
            !VOLUME_METHODS_NO_INPUT
                .iter()
                .any(|m| m.contains("Password"))
        );
    }

    #[test]
    fn a_failed_method_call_is_its_return_value_with_the_text() {
        let r = method_failed_json(0x8004_1003, "");
        assert_eq!(r["ReturnValue"], 0x8004_1003u32);
        assert_eq!(r["error"], "0x80041003 access denied");
    }

    #[test]
    fn protector_ids_read_the_array_and_treat_null_and_failure_as_none() {
        let ok = json!({"ReturnValue": 0, "VolumeKeyProtectorID": ["{A}", "{B}"]});
        assert_eq!(protector_ids(&ok), vec!["{A}", "{B}"]);
        let empty = json!({"ReturnValue": 0, "VolumeKeyProtectorID": null});
        assert!(protector_ids(&empty).is_empty());
        let failed = json!({"ReturnValue": 0x8031_0000u32, "VolumeKeyProtectorID": ["{A}"]});
        assert!(protector_ids(&failed).is_empty());
    }

    /// The live mapping produces what the BitLocker parser reads: the suspended
    /// example of catalogue 4.1 (cached ProtectionStatus 1, method 0).
    #[test]
    fn an_encryptable_volume_in_the_layout_parses_as_suspended() {
        let props = instance_json(ENCRYPTABLE_VOLUME_PROPERTIES, |n| {
            Some(match n {
                "DeviceID" => json!("\\\\?\\Volume{1}\\"),
                "DriveLetter" => json!("C:"),
                "VolumeType" => json!(0),
                "PersistentVolumeID" => json!("{P}"),
                "ProtectionStatus" => json!(1),
                "ConversionStatus" => json!(1),
                "EncryptionMethod" => json!(7),
                "IsVolumeInitializedForProtection" => json!(true),
                _ => return None,
            })
        });
        let mut methods = Map::new();
        let ret0 = |m: &str, kv: &[(&str, Value)]| {
            method_result_json(m, |n| {
                if n == "ReturnValue" {
                    return Some(json!(0));
                }
                kv.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone())
            })
        };
        methods.insert(
            "GetProtectionStatus".into(),
            ret0("GetProtectionStatus", &[("ProtectionStatus", json!(0))]),
        );
        methods.insert(
            "GetConversionStatus".into(),
            ret0(
                "GetConversionStatus",
                &[
                    ("ConversionStatus", json!(1)),
                    ("EncryptionPercentage", json!(100)),
                    ("EncryptionFlags", json!(0)),
                    ("WipingStatus", json!(0)),
                    ("WipingPercentage", json!(0)),
                ],
            ),
        );
        let protectors = ret0(
            "GetKeyProtectors",
            &[("VolumeKeyProtectorID", json!(["{K1}"]))],
        );
        let mut types = Map::new();
        for id in protector_ids(&protectors) {
            types.insert(
                id,
                ret0("GetKeyProtectorType", &[("KeyProtectorType", json!(1))]),
            );
        }
        methods.insert("GetKeyProtectors".into(), protectors);
        methods.insert("GetKeyProtectorType".into(), Value::Object(types));
        methods.insert(
            "GetLockStatus".into(),
            ret0("GetLockStatus", &[("LockStatus", json!(0))]),
        );
        methods.insert(
            "GetEncryptionMethod".into(),
            ret0("GetEncryptionMethod", &[("EncryptionMethod", json!(7))]),
        );
        let value = instances_json(vec![encryptable_volume_json(props, methods)]);
        let volumes = crate::checks::windows::bitlocker::parse_volumes(&value).unwrap();
        assert_eq!(volumes.len(), 1);
        let v = &volumes[0];
        assert_eq!(v.letter.as_deref(), Some("C:"));
        assert_eq!(v.protection_status, Ok(0));
        assert_eq!(v.cached_protection_status, Some(1));
        assert_eq!(v.conversion_status, Ok(1));
        assert_eq!(v.protectors, Ok(vec![Some(1)]));
        assert_eq!(v.method, Some(7));
    }

    #[test]
    fn firewall_profiles_are_named_by_type() {
        let v = firewall_json(&[(1, true), (2, true), (4, false)], 4);
        assert_eq!(
            v,
            json!({"profiles": [
                {"profile": "Domain", "type": 1, "enabled": true},
                {"profile": "Private", "type": 2, "enabled": true},
                {"profile": "Public", "type": 4, "enabled": false}],
                "current_profile_types": 4})
        );
    }

    #[test]
    fn wsc_products_keep_the_api_enums_and_no_signature_for_firewalls() {
        let av = WscProduct {
            name: "Contoso AV".into(),
            product_state: 0,
            signature_status: Some(1),
        };
        let fw = WscProduct {
            name: "Windows Firewall".into(),
            product_state: 1,
            signature_status: None,
        };
        assert_eq!(
            wsc_json(&[av], &[fw]),
            json!({"antivirus": [{"name": "Contoso AV", "product_state": 0, "signature_status": 1}],
                "firewall": [{"name": "Windows Firewall", "product_state": 1}]})
        );
        assert_eq!(wsc_json(&[], &[]), json!({"antivirus": [], "firewall": []}));
    }

    #[test]
    fn ole_dates_convert_to_utc_seconds() {
        assert_eq!(
            ole_date_rfc3339(0.0).as_deref(),
            Some("1899-12-30T00:00:00Z")
        );
        // 2026-11-30 09:00 UTC: 46 356 days after the epoch, and 0.375 of a day.
        assert_eq!(
            ole_date_rfc3339(46_356.375).as_deref(),
            Some("2026-11-30T09:00:00Z")
        );
        // Before the epoch the fraction counts forward: -1.25 is 1899-12-29 06:00.
        assert_eq!(
            ole_date_rfc3339(-1.25).as_deref(),
            Some("1899-12-29T06:00:00Z")
        );
        assert_eq!(ole_date_rfc3339(f64::NAN), None);
        assert_eq!(ole_date_rfc3339(1e12), None);
    }

    fn update(classification: &str) -> WuaUpdate {
        WuaUpdate {
            update_id: "6f3c…".into(),
            revision_number: 200,
            title: "2026-11 Cumulative Update for Windows 11 Version 24H2".into(),
            kb_article_ids: vec!["5046617".into()],
            msrc_severity: Some("Critical".into()),
            is_downloaded: false,
            is_mandatory: false,
            reboot_behavior: Some(1),
            last_deployment_change_time: Some(46_338.0),
            categories: vec![
                WuaCategory {
                    category_id: classification.into(),
                    kind: "UpdateClassification".into(),
                    name: "Sicherheitsupdates".into(),
                },
                WuaCategory {
                    category_id: "a3c2375d-0c8a-42f9-bce0-28333e198407".into(),
                    kind: "Product".into(),
                    name: "Windows 10".into(),
                },
            ],
        }
    }

    /// The snapshot the child prints parses in the WUA checks; classifications
    /// decide by GUID whatever their case or localised name.
    #[test]
    fn a_snapshot_in_the_layout_parses_and_classifies_by_guid() {
        let snap = WuaSnapshot {
            search: WuaSearch::Done {
                result_code: 2,
                updates: vec![update("0fa1201d-4330-4fa8-8ae9-b877473b6441")],
            },
            last_search_success_date: Ok(Some(46_356.375)),
            last_installation_success_date: Ok(None),
            notification_level: Ok(Some(4)),
            reboot_required: Ok(Some(false)),
        };
        let v = wua_snapshot_json(&snap);
        assert_eq!(v["criteria"], WUA_CRITERIA);
        assert_eq!(v["online"], false);
        assert_eq!(v["result_code"], 2);
        assert_eq!(v["hresult"], 0);
        assert_eq!(v["last_search_success_date"], "2026-11-30T09:00:00Z");
        assert_eq!(v["last_installation_success_date"], Value::Null);
        assert_eq!(v["notification_level"], 4);
        assert_eq!(v["reboot_required"], false);
        assert!(v.get("errors").is_none());
        let u = &v["updates"][0];
        assert_eq!(u["kb_article_ids"], json!(["5046617"]));
        assert_eq!(u["categories"][0]["type"], "UpdateClassification");
        assert_eq!(u["last_deployment_change_time"], "2026-11-12T00:00:00Z");
        let search = crate::checks::windows::wua::parse_search(&v).unwrap();
        assert!(search.complete);
        assert!(search.updates[0].is_security());
        assert_eq!(
            crate::checks::windows::wua::last_search(&v)
                .unwrap()
                .map(|d| d.to_rfc3339()),
            Some("2026-11-30T09:00:00+00:00".to_owned())
        );
    }

    #[test]
    fn an_empty_msrc_severity_is_null() {
        let mut u = update("E6CF1350-C01B-414D-A61F-263D14D133B4");
        u.msrc_severity = Some(String::new());
        assert_eq!(u.json()["msrc_severity"], Value::Null);
    }

    /// A failed search is result_code 4 with its HRESULT (the check says the search
    /// did not succeed); a failed automatic-update read leaves its key out, so the
    /// check says "not captured" rather than "never searched".
    #[test]
    fn failures_are_recorded_without_pretending_a_value() {
        let snap = WuaSnapshot {
            search: WuaSearch::Failed {
                hresult: 0x8007_0422,
                error: hresult_text(0x8007_0422, ""),
            },
            last_search_success_date: Err("0x80040154 class not registered".into()),
            last_installation_success_date: Err("0x80040154 class not registered".into()),
            notification_level: Ok(Some(1)),
            reboot_required: Err("0x80004002 no such interface".into()),
        };
        let v = wua_snapshot_json(&snap);
        assert_eq!(v["result_code"], 4);
        assert_eq!(v["hresult"], 0x8007_0422u32);
        assert_eq!(v["updates"], json!([]));
        assert!(v.get("last_search_success_date").is_none());
        assert!(v.get("reboot_required").is_none());
        assert_eq!(v["errors"]["search"], "0x80070422 the service is disabled");
        let err = crate::checks::windows::wua::parse_search(&v).unwrap_err();
        assert!(err.contains("0x80070422"), "{err}");
        let err = crate::checks::windows::wua::last_search(&v).unwrap_err();
        assert!(err.contains("not captured"), "{err}");
    }

    #[test]
    fn child_json_reads_stdout_and_explains_failures() {
        assert_eq!(child_json(Some(0), "{\"a\":1}\n", ""), Ok(json!({"a": 1})));
        assert!(child_json(Some(0), "", "").unwrap_err().contains("no JSON"));
        assert_eq!(
            child_json(Some(1), "", "attest-agent: 0x80070005 access denied\n\n"),
            Err("the helper exited with 1: attest-agent: 0x80070005 access denied".into())
        );
        assert!(child_json(None, "", "").unwrap_err().contains("killed"));
    }

    #[cfg(unix)]
    fn sh(script: &str) -> Command {
        #[allow(clippy::disallowed_methods)] // a test child, fixed argv
        let mut c = Command::new("/bin/sh");
        c.args(["-c", script]);
        c
    }

    #[cfg(unix)]
    #[test]
    fn a_child_that_answers_in_time_is_read() {
        let v = run_json_child(sh("echo '{\"ok\": true}'"), "t", Duration::from_secs(20));
        assert_eq!(v.unwrap(), json!({"ok": true}));
        let e = run_json_child(sh("echo boom >&2; exit 3"), "t", Duration::from_secs(20));
        assert_eq!(
            e.unwrap_err().to_string(),
            "t: the helper exited with 3: boom"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_child_past_its_timeout_is_killed_and_reported() {
        let started = Instant::now();
        let e = run_json_child(
            sh("exec sleep 30"),
            "WUA search",
            Duration::from_millis(200),
        );
        assert!(
            matches!(e, Err(SourceError::Timeout { ref what, seconds: 0 }) if what == "WUA search"),
            "{e:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn the_sources_here_are_the_tables_api_sources() {
        use crate::host::sources as s;
        for src in [
            s::WIN_ENCRYPTABLE_VOLUMES,
            s::WIN_VOLUMES,
            s::WIN_LICENSING_ESU,
            s::WIN_DEFENDER_STATUS,
            s::WIN_OPTIONALFEATURE_SMB1,
            s::WIN_DEVICEGUARD,
            s::WIN_TPM,
            s::WIN_WSC_PRODUCTS,
            s::WIN_FIREWALL_PROFILES,
            s::WIN_WUA_SNAPSHOT,
        ] {
            assert!(src.argv().is_none(), "{}", src.id);
        }
        assert!(s::WIN_WUA_SNAPSHOT.describe().contains(WUA_CRITERIA));
    }
}
