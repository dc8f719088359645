//! BitLocker volumes as `win.wmi.encryptable_volumes` records them (the fixed
//! layout of that source: each `Win32_EncryptableVolume` instance with the results
//! of the methods the checks call), and the state of a volume.
//!
//! The **methods** decide, never the instance's cached `ProtectionStatus`
//! property (it stays 1 on fully decrypted drives on Windows 11 26100). A volume
//! is protected when `GetConversionStatus` says 1 (fully encrypted),
//! `GetProtectionStatus` says 1 and `GetKeyProtectors` returns at least one
//! protector. `EncryptionPercentage` never decides alone: `ConversionStatus` does.
//! Fully encrypted with protection off is *suspended* when key protectors exist
//! (they are disabled, the key is on disk in the clear) and *waiting for
//! activation* when there is none (Device Encryption before the key is backed up).
//! Only protector *types* are kept: protector IDs and any key material a capture
//! might carry are never copied into a result.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{drive_of, instances};
use crate::host::sources::WIN_ENCRYPTABLE_VOLUMES;

/// `KeyProtectorType` 3: a numerical (48-digit recovery) password.
pub const NUMERICAL_PASSWORD: u64 = 3;

/// `EncryptionMethod` 5: hardware encryption (a self-encrypting drive).
pub const HARDWARE_ENCRYPTION: u64 = 5;

/// One `Win32_EncryptableVolume`, as far as the checks read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    pub device_id: String,
    /// `C:` (upper case), or `None` for a volume without a drive letter.
    pub letter: Option<String>,
    /// 0 OS, 1 fixed data, 2 removable data.
    pub volume_type: Option<u64>,
    /// `GetConversionStatus.ConversionStatus`, or why it is not known.
    pub conversion_status: Result<u64, String>,
    /// `GetConversionStatus.EncryptionPercentage`.
    pub percent: Option<f64>,
    /// `GetConversionStatus.EncryptionFlags` bit 0.
    pub used_space_only: Option<bool>,
    /// `GetProtectionStatus.ProtectionStatus`, or why it is not known.
    pub protection_status: Result<u64, String>,
    /// The cached property: recorded, never deciding.
    pub cached_protection_status: Option<u64>,
    /// `GetEncryptionMethod.EncryptionMethod`.
    pub method: Option<u64>,
    /// The type of each key protector (`None`: its type was not read), or why
    /// the protectors are not known.
    pub protectors: Result<Vec<Option<u64>>, String>,
    /// `GetLockStatus.LockStatus`: 0 unlocked, 1 locked.
    pub lock_status: Option<u64>,
}

/// What a volume's methods say.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Fully encrypted, protection on, at least one key protector.
    Protected,
    /// `ConversionStatus` 0.
    Decrypted,
    /// `ConversionStatus` 2 (in progress) or 4 (paused).
    Encrypting { percent: Option<f64>, paused: bool },
    /// `ConversionStatus` 3 (in progress) or 5 (paused).
    Decrypting { percent: Option<f64>, paused: bool },
    /// Fully encrypted, protection off, key protectors present (disabled).
    Suspended { protectors: usize },
    /// Fully encrypted, no key protector at all.
    WaitingForActivation,
    /// Not decidable: why.
    Unknown(String),
}

impl State {
    /// A few words for a summary.
    pub fn describe(&self) -> String {
        let pct = |p: &Option<f64>| p.map(|p| format!(" ({p}%)")).unwrap_or_default();
        match self {
            State::Protected => "protected by BitLocker".to_owned(),
            State::Decrypted => "not encrypted (BitLocker fully decrypted)".to_owned(),
            State::Encrypting { percent, paused } => format!(
                "encryption {}{}",
                if *paused { "paused" } else { "in progress" },
                pct(percent)
            ),
            State::Decrypting { percent, paused } => format!(
                "decryption {}{}",
                if *paused { "paused" } else { "in progress" },
                pct(percent)
            ),
            State::Suspended { protectors } => format!(
                "fully encrypted but protection is suspended ({protectors} key protector(s) \
                 disabled, the key is available in the clear)"
            ),
            State::WaitingForActivation => {
                "fully encrypted but waiting for activation (no key protector)".to_owned()
            }
            State::Unknown(why) => format!("state unknown: {why}"),
        }
    }

    pub fn is_protected(&self) -> bool {
        matches!(self, State::Protected)
    }
}

/// A key protector type's name (`GetKeyProtectorType`).
pub fn protector_name(kind: Option<u64>) -> String {
    match kind {
        Some(0) => "unknown or other",
        Some(1) => "TPM",
        Some(2) => "external key",
        Some(3) => "numerical password",
        Some(4) => "TPM and PIN",
        Some(5) => "TPM and startup key",
        Some(6) => "TPM, PIN and startup key",
        Some(7) => "public key",
        Some(8) => "passphrase",
        Some(9) => "TPM certificate",
        Some(10) => "CNG protector (SID)",
        Some(n) => return format!("type {n}"),
        None => "type not read",
    }
    .to_owned()
}

impl Volume {
    /// The state its methods decide.
    pub fn state(&self) -> State {
        let conversion = match &self.conversion_status {
            Ok(c) => *c,
            Err(why) => return State::Unknown(why.clone()),
        };
        let percent = self.percent;
        match conversion {
            0 => return State::Decrypted,
            2 | 4 => {
                return State::Encrypting {
                    percent,
                    paused: conversion == 4,
                };
            }
            3 | 5 => {
                return State::Decrypting {
                    percent,
                    paused: conversion == 5,
                };
            }
            1 => {}
            n => return State::Unknown(format!("ConversionStatus {n} is not a known value")),
        }
        let protection = match &self.protection_status {
            Ok(p) => *p,
            Err(why) => return State::Unknown(why.clone()),
        };
        let protectors = match &self.protectors {
            Ok(p) => p.len(),
            Err(why) => return State::Unknown(why.clone()),
        };
        match (protection, protectors) {
            (0 | 1, 0) => State::WaitingForActivation,
            (1, _) => State::Protected,
            (0, n) => State::Suspended { protectors: n },
            (2, _) => State::Unknown(
                "GetProtectionStatus says 2 (unknown: the volume is locked)".to_owned(),
            ),
            (n, _) => State::Unknown(format!("ProtectionStatus {n} is not a known value")),
        }
    }

    /// True when a numerical-password protector exists.
    pub fn has_numerical_password(&self) -> bool {
        self.protectors
            .as_ref()
            .is_ok_and(|p| p.contains(&Some(NUMERICAL_PASSWORD)))
    }

    /// The volume's name for a person: its letter, else its device id.
    pub fn name(&self) -> String {
        self.letter
            .clone()
            .unwrap_or_else(|| self.device_id.clone())
    }

    /// The per-volume facts: letter, types and states, never protector IDs.
    pub fn facts(&self) -> Value {
        json!({
            "letter": self.letter,
            "volume_type": self.volume_type,
            "conversion_status": self.conversion_status.as_ref().ok(),
            "protection_status": self.protection_status.as_ref().ok(),
            "cached_protection_status": self.cached_protection_status,
            "percent": self.percent,
            "method": self.method,
            "hardware_encryption": self.method == Some(HARDWARE_ENCRYPTION),
            "used_space_only": self.used_space_only,
            "protectors": self.protectors.as_ref().ok().map(|p| {
                p.iter().map(|k| protector_name(*k)).collect::<Vec<_>>()
            }),
            "lock_status": self.lock_status,
            "state": StateFact::of(&self.state()),
        })
    }
}

/// The state as a fact word.
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum StateFact {
    Protected,
    Decrypted,
    Encrypting,
    Decrypting,
    Suspended,
    WaitingForActivation,
    Unknown,
}

impl StateFact {
    fn of(state: &State) -> StateFact {
        match state {
            State::Protected => StateFact::Protected,
            State::Decrypted => StateFact::Decrypted,
            State::Encrypting { .. } => StateFact::Encrypting,
            State::Decrypting { .. } => StateFact::Decrypting,
            State::Suspended { .. } => StateFact::Suspended,
            State::WaitingForActivation => StateFact::WaitingForActivation,
            State::Unknown(_) => StateFact::Unknown,
        }
    }
}

/// A method's result object, when it was captured and returned 0.
fn method<'a>(methods: Option<&'a Map<String, Value>>, name: &str) -> Result<&'a Value, String> {
    let result = methods
        .and_then(|m| m.get(name))
        .ok_or_else(|| format!("{name} not captured"))?;
    match result.get("ReturnValue").and_then(Value::as_u64) {
        Some(0) => Ok(result),
        Some(code) => Err(format!("{name} returned 0x{code:08X}")),
        None => Err(format!("{name}: no ReturnValue")),
    }
}

/// An unsigned field of a method's result.
fn field(result: &Value, method: &str, name: &str) -> Result<u64, String> {
    result
        .get(name)
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("{method}: {name} not captured"))
}

/// Every instance of a `win.wmi.encryptable_volumes` result.
pub fn parse_volumes(value: &Value) -> Result<Vec<Volume>, String> {
    let what = WIN_ENCRYPTABLE_VOLUMES.describe();
    instances(value, &what)?
        .iter()
        .map(|i| parse_volume(i).map_err(|e| format!("{what}: {e}")))
        .collect()
}

fn parse_volume(inst: &Value) -> Result<Volume, String> {
    let device_id = inst
        .get("DeviceID")
        .and_then(Value::as_str)
        .ok_or("an instance without DeviceID")?
        .to_owned();
    let letter = inst
        .get("DriveLetter")
        .and_then(Value::as_str)
        .and_then(drive_of);
    let methods = inst.get("methods").and_then(Value::as_object);
    let conversion = method(methods, "GetConversionStatus");
    let conversion_status = conversion
        .clone()
        .and_then(|r| field(r, "GetConversionStatus", "ConversionStatus"));
    let percent = conversion
        .as_ref()
        .ok()
        .and_then(|r| r.get("EncryptionPercentage"))
        .and_then(Value::as_f64);
    let used_space_only = conversion
        .as_ref()
        .ok()
        .and_then(|r| r.get("EncryptionFlags"))
        .and_then(Value::as_u64)
        .map(|f| f & 1 == 1);
    let protection_status = method(methods, "GetProtectionStatus")
        .and_then(|r| field(r, "GetProtectionStatus", "ProtectionStatus"));
    let method_used = method(methods, "GetEncryptionMethod")
        .ok()
        .and_then(|r| r.get("EncryptionMethod"))
        .and_then(Value::as_u64);
    // One result per protector ID, each with its own ReturnValue.
    let types = methods
        .and_then(|m| m.get("GetKeyProtectorType"))
        .and_then(Value::as_object);
    let protectors = method(methods, "GetKeyProtectors").and_then(|r| {
        let ids = match r.get("VolumeKeyProtectorID") {
            Some(Value::Array(ids)) => ids.as_slice(),
            // WMI gives null for an empty array.
            Some(Value::Null) => &[],
            _ => return Err("GetKeyProtectors: VolumeKeyProtectorID not captured".to_owned()),
        };
        Ok(ids
            .iter()
            .map(|id| {
                let id = id.as_str()?;
                let found = types?.iter().find(|(k, _)| k.eq_ignore_ascii_case(id))?.1;
                (found.get("ReturnValue").and_then(Value::as_u64) == Some(0))
                    .then(|| found.get("KeyProtectorType").and_then(Value::as_u64))
                    .flatten()
            })
            .collect())
    });
    let lock_status = method(methods, "GetLockStatus")
        .ok()
        .and_then(|r| r.get("LockStatus"))
        .and_then(Value::as_u64);
    Ok(Volume {
        device_id,
        letter,
        volume_type: inst.get("VolumeType").and_then(Value::as_u64),
        conversion_status,
        percent,
        used_space_only,
        protection_status,
        cached_protection_status: inst.get("ProtectionStatus").and_then(Value::as_u64),
        method: method_used,
        protectors,
        lock_status,
    })
}

#[cfg(test)]
pub(crate) mod testdata {
    use serde_json::{Value, json};

    /// One instance in the fixed layout: cached `ProtectionStatus` 1 whatever the
    /// method says, a protector per entry of `protectors` (its type), and planted
    /// key material that must never reach a result.
    pub fn instance(
        letter: Option<&str>,
        device: &str,
        conversion: u64,
        percent: u64,
        protection: u64,
        protectors: &[u64],
    ) -> Value {
        let ids: Vec<String> = (0..protectors.len())
            .map(|i| format!("{{9A3C1D4E-0000-4000-8000-00000000000{i}}}"))
            .collect();
        let types: serde_json::Map<String, Value> = ids
            .iter()
            .zip(protectors)
            .map(|(id, t)| (id.clone(), json!({"ReturnValue": 0, "KeyProtectorType": t})))
            .collect();
        json!({"DeviceID": format!("\\\\?\\Volume{{{device}}}\\"), "DriveLetter": letter,
            "VolumeType": if letter == Some("C:") { 0 } else { 1 },
            "PersistentVolumeID": "{5B1E0000-0000-4000-8000-000000000001}",
            "ProtectionStatus": 1, "ConversionStatus": 1, "EncryptionMethod": 7,
            "IsVolumeInitializedForProtection": true,
            "NumericalPassword": "123456-654321-111111-222222-333333-444444-555555-666666",
            "methods": {
                "GetProtectionStatus": {"ReturnValue": 0, "ProtectionStatus": protection},
                "GetConversionStatus": {"ReturnValue": 0, "ConversionStatus": conversion,
                    "EncryptionPercentage": percent, "EncryptionFlags": 0,
                    "WipingStatus": 0, "WipingPercentage": 0},
                "GetEncryptionMethod": {"ReturnValue": 0, "EncryptionMethod": 7,
                    "SelfEncryptionDriveEncryptionMethod": ""},
                "GetKeyProtectors": {"ReturnValue": 0, "VolumeKeyProtectorID": ids},
                "GetKeyProtectorType": types,
                "GetKeyProtectorNumericalPassword": {"ReturnValue": 0,
                    "NumericalPassword": "123456-654321-111111-222222-333333-444444-555555-666666"},
                "GetLockStatus": {"ReturnValue": 0, "LockStatus": 0}}})
    }

    /// A protected volume with a TPM and a numerical-password protector.
    pub fn protected(letter: &str, device: &str) -> Value {
        instance(Some(letter), device, 1, 100, 1, &[1, 3])
    }

    /// The planted secrets of [`instance`].
    pub const SECRETS: [&str; 2] = ["123456-654321", "9A3C1D4E"];
}

#[cfg(test)]
mod tests {
    use super::testdata::*;
    use super::*;

    fn one(v: Value) -> Volume {
        parse_volumes(&json!({ "instances": [v] }))
            .unwrap()
            .remove(0)
    }

    #[test]
    fn the_cached_protection_status_never_decides() {
        // Fully decrypted, cached property still 1 (Windows 11 26100).
        let v = one(instance(Some("C:"), "a", 0, 0, 0, &[]));
        assert_eq!(v.cached_protection_status, Some(1));
        assert_eq!(v.state(), State::Decrypted);
        // Protection off by the method, cached 1: suspended.
        let v = one(instance(Some("C:"), "a", 1, 100, 0, &[1, 3]));
        assert_eq!(v.state(), State::Suspended { protectors: 2 });
    }

    #[test]
    fn fully_encrypted_with_protection_off_is_suspended_or_waiting() {
        let v = one(instance(Some("C:"), "a", 1, 100, 0, &[4]));
        assert_eq!(v.state(), State::Suspended { protectors: 1 });
        assert!(v.state().describe().contains("suspended"));
        let v = one(instance(Some("C:"), "a", 1, 100, 0, &[]));
        assert_eq!(v.state(), State::WaitingForActivation);
        assert!(v.state().describe().contains("waiting for activation"));
        // Protection on and no protector is not protected either.
        let v = one(instance(Some("C:"), "a", 1, 100, 1, &[]));
        assert_eq!(v.state(), State::WaitingForActivation);
        let v = one(protected("C:", "a"));
        assert_eq!(v.state(), State::Protected);
        assert!(v.has_numerical_password());
        assert_eq!(
            v.facts()["protectors"],
            json!(["TPM", "numerical password"])
        );
    }

    #[test]
    fn in_progress_and_paused_carry_the_percent() {
        let v = one(instance(Some("C:"), "a", 2, 43, 0, &[1]));
        assert_eq!(
            v.state(),
            State::Encrypting {
                percent: Some(43.0),
                paused: false
            }
        );
        assert_eq!(v.state().describe(), "encryption in progress (43%)");
        let v = one(instance(Some("C:"), "a", 4, 12, 0, &[1]));
        assert_eq!(v.state().describe(), "encryption paused (12%)");
        let v = one(instance(Some("C:"), "a", 3, 80, 0, &[1]));
        assert_eq!(v.state().describe(), "decryption in progress (80%)");
        let v = one(instance(Some("C:"), "a", 5, 80, 0, &[1]));
        assert!(matches!(v.state(), State::Decrypting { paused: true, .. }));
    }

    #[test]
    fn percent_100_alone_proves_nothing() {
        // 100 % but still converting: not protected.
        let v = one(instance(Some("C:"), "a", 2, 100, 1, &[1]));
        assert!(!v.state().is_protected());
        // 0 % with ConversionStatus 1 and protection on: protected.
        let v = one(instance(Some("C:"), "a", 1, 0, 1, &[1]));
        assert!(v.state().is_protected());
    }

    #[test]
    fn failed_or_missing_methods_and_locked_volumes_are_unknown() {
        let mut raw = protected("D:", "b");
        raw["methods"]["GetProtectionStatus"] = json!({"ReturnValue": 2150694912u64});
        let State::Unknown(why) = one(raw).state() else {
            panic!()
        };
        assert_eq!(why, "GetProtectionStatus returned 0x80310000");
        let mut raw = protected("D:", "b");
        raw["methods"]
            .as_object_mut()
            .unwrap()
            .remove("GetConversionStatus");
        assert_eq!(
            one(raw).state(),
            State::Unknown("GetConversionStatus not captured".into())
        );
        let v = one(instance(Some("D:"), "b", 1, 100, 2, &[1]));
        assert!(matches!(v.state(), State::Unknown(_)));
        let v = one(instance(Some("D:"), "b", 9, 100, 1, &[1]));
        assert!(matches!(v.state(), State::Unknown(_)));
        assert!(parse_volumes(&json!({"instances": [{"DriveLetter": "C:"}]})).is_err());
        assert!(parse_volumes(&json!({})).is_err());
    }

    #[test]
    fn facts_hold_types_never_ids_or_key_material() {
        let v = one(protected("c:", "a"));
        assert_eq!(v.letter.as_deref(), Some("C:"));
        let text = v.facts().to_string();
        for secret in SECRETS {
            assert!(!text.contains(secret), "{text}");
        }
        assert_eq!(v.facts()["state"], "protected");
        assert_eq!(v.facts()["method"], 7);
    }
}
