//! `system.secure_boot` on macOS — Apple's secure boot policy (ISO/IEC 27002:2022
//! 8.1 User endpoint devices, 8.9 Configuration management).

use attest_proto::{CheckResult, Status};
use serde_json::Value;

use crate::checks::{Check, Context, command_evidence, unknown};
use crate::host::sources::MACOS_IBRIDGE;

use super::quote;

/// The data type of `system_profiler SPiBridgeDataType -json`.
pub const DATA_TYPE: &str = "SPiBridgeDataType";
/// The key of an item that holds the secure boot policy.
pub const SECURE_BOOT_KEY: &str = "ibridge_secure_boot";
/// The key of an item that names the chip.
pub const MODEL_KEY: &str = "ibridge_model_name";

/// What the iBridge data say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IbridgeInfo {
    /// No iBridge item: no Secure Boot hardware (an Intel Mac without T2).
    NoItem,
    /// The first item's secure boot policy and chip name.
    Level {
        level: String,
        model: Option<String>,
    },
}

/// Why the JSON could not be used. Never quotes the output but a level string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IbridgeError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("no {DATA_TYPE} array")]
    NoArray,
    #[error("an iBridge item without a string {SECURE_BOOT_KEY}")]
    NoLevel,
}

/// Parses the JSON: `{"SPiBridgeDataType": [ {"ibridge_secure_boot": "Full
/// Security", "ibridge_model_name": …}, … ]}`. An empty array is
/// [`IbridgeInfo::NoItem`]; otherwise the first item with a secure boot key
/// decides.
pub fn parse_ibridge(stdout: &str) -> Result<IbridgeInfo, IbridgeError> {
    let value: Value =
        serde_json::from_str(stdout).map_err(|e| IbridgeError::NotJson(e.to_string()))?;
    let items = value
        .get(DATA_TYPE)
        .and_then(Value::as_array)
        .ok_or(IbridgeError::NoArray)?;
    if items.is_empty() {
        return Ok(IbridgeInfo::NoItem);
    }
    items
        .iter()
        .find_map(|item| {
            let level = item.get(SECURE_BOOT_KEY)?.as_str()?;
            Some(IbridgeInfo::Level {
                level: level.to_owned(),
                model: item
                    .get(MODEL_KEY)
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            })
        })
        .ok_or(IbridgeError::NoLevel)
}

/// Apple's secure boot policy, from `system_profiler SPiBridgeDataType -json`.
/// Live only (an offline root has no source).
///
/// - pass: `Full Security` or `Reduced Security` (Reduced still verifies an
///   Apple-signed OS; a collector wanting Full tightens on `facts.level`);
/// - fail: `Permissive Security`, `No Security`, or no iBridge item (no Secure Boot
///   hardware: an Intel Mac without T2), as Linux fails a machine not booted through
///   UEFI;
/// - unknown: any other string, quoted (T2's `Medium Security` included, as the
///   catalogue lists it under neither; the strings might also be localised), output
///   that is not the expected JSON, a non-zero exit, or no answer (offline).
///
/// Facts: `level` (the string, or null), `model` (`ibridge_model_name`), `hardware`
/// (false when there is no iBridge item).
pub struct SecureBoot;

impl Check for SecureBoot {
    fn id(&self) -> &'static str {
        "system.secure_boot"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let out = match crate::checks::macos::command_once(ctx, &MACOS_IBRIDGE) {
            Ok(out) => out,
            Err(e) => return unknown(self.id(), e.to_string()),
        };
        if out.exit_code != Some(0) {
            return unknown(
                self.id(),
                format!(
                    "{}: exited with {}",
                    MACOS_IBRIDGE.describe(),
                    out.exit_code
                        .map_or_else(|| "a signal".to_owned(), |c| c.to_string())
                ),
            );
        }
        let info = match parse_ibridge(&out.stdout) {
            Ok(info) => info,
            Err(e) => {
                return unknown(self.id(), format!("{}: {e}", MACOS_IBRIDGE.describe()));
            }
        };
        match info {
            IbridgeInfo::NoItem => CheckResult::new(
                self.id(),
                Status::Fail,
                "This Mac has no Secure Boot hardware (no T2 or Apple silicon iBridge item)",
            )
            .fact("hardware", false)
            .fact("level", None::<String>)
            .fact("model", None::<String>)
            .evidence(command_evidence(&out, format!("{DATA_TYPE}: []"))),
            IbridgeInfo::Level { level, model } => {
                let status = match level.as_str() {
                    "Full Security" | "Reduced Security" => Status::Pass,
                    "Permissive Security" | "No Security" => Status::Fail,
                    _ => Status::Unknown,
                };
                let result = if status == Status::Unknown {
                    unknown(
                        self.id(),
                        format!(
                            "{SECURE_BOOT_KEY} is {}, none of Full, Reduced, Permissive or No Security",
                            quote(&level)
                        ),
                    )
                } else {
                    CheckResult::new(
                        self.id(),
                        status,
                        format!("The secure boot policy is {level}"),
                    )
                };
                result
                    .fact("hardware", true)
                    .fact("model", model)
                    .evidence(command_evidence(
                        &out,
                        format!("{SECURE_BOOT_KEY}: {}", quote(&level)),
                    ))
                    .fact("level", level)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use serde_json::json;

    fn ibridge(level: &str) -> String {
        json!({"SPiBridgeDataType": [{
            "ibridge_model_name": "Apple T2 Security Chip",
            "ibridge_secure_boot": level,
            "ibridge_sb_other_kext": "no"
        }]})
        .to_string()
    }

    fn run(stdout: &str) -> CheckResult {
        FakeHost::macos()
            .command(&MACOS_IBRIDGE, 0, stdout)
            .run(&SecureBoot)
    }

    #[test]
    fn the_json_parses() {
        assert_eq!(
            parse_ibridge(&ibridge("Full Security")),
            Ok(IbridgeInfo::Level {
                level: "Full Security".into(),
                model: Some("Apple T2 Security Chip".into())
            })
        );
        assert_eq!(
            parse_ibridge(r#"{"SPiBridgeDataType": []}"#),
            Ok(IbridgeInfo::NoItem)
        );
        assert_eq!(parse_ibridge("{}"), Err(IbridgeError::NoArray));
        assert_eq!(
            parse_ibridge(r#"{"SPiBridgeDataType": [{"x": 1}]}"#),
            Err(IbridgeError::NoLevel)
        );
        assert!(matches!(
            parse_ibridge("Secure Boot: Full"),
            Err(IbridgeError::NotJson(_))
        ));
    }

    #[test]
    fn full_and_reduced_pass_with_the_level() {
        for level in ["Full Security", "Reduced Security"] {
            let r = run(&ibridge(level));
            assert_eq!(r.status, Status::Pass, "{r:?}");
            assert_eq!(r.facts["level"], json!(level));
            assert_eq!(r.facts["model"], json!("Apple T2 Security Chip"));
            assert_eq!(r.evidence.len(), 1);
        }
    }

    #[test]
    fn permissive_no_security_and_no_hardware_fail() {
        for level in ["Permissive Security", "No Security"] {
            let r = run(&ibridge(level));
            assert_eq!(r.status, Status::Fail, "{r:?}");
            assert_eq!(r.facts["level"], json!(level));
        }
        let r = run(r#"{"SPiBridgeDataType": []}"#);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["hardware"], json!(false));
    }

    #[test]
    fn other_strings_bad_output_and_offline_are_unknown() {
        for level in ["Medium Security", "Sécurité complète", ""] {
            let r = run(&ibridge(level));
            assert_eq!(r.status, Status::Unknown, "{level}: {r:?}");
            assert!(r.reason.as_deref().unwrap().contains(&quote(level)));
        }
        let r = run("SECRETWORD trailing");
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(
            !r.reason.as_deref().unwrap().contains("SECRETWORD"),
            "{r:?}"
        );
        let r = FakeHost::macos()
            .command(&MACOS_IBRIDGE, 1, &ibridge("Full Security"))
            .run(&SecureBoot);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        let r = FakeHost::macos().run(&SecureBoot);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.as_deref().unwrap().contains("offline root"));
    }
}
