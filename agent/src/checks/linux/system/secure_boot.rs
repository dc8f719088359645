//! `system.secure_boot` — ISO/IEC 27002:2022 8.1 User endpoint devices, 8.9
//! Configuration management.

use attest_proto::{CheckResult, Status};

use crate::checks::{Check, Context, file_evidence, unknown};

pub const SYS_FIRMWARE: &str = "/sys/firmware";
pub const SYS_FIRMWARE_EFI: &str = "/sys/firmware/efi";
/// The UEFI global variable `SecureBoot` (EFI_GLOBAL_VARIABLE GUID) in efivarfs.
pub const SECURE_BOOT_VAR: &str =
    "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c";

/// A `UINT8` EFI variable as efivarfs shows it: four bytes of attributes
/// (little-endian), then the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EfiU8 {
    pub attributes: u32,
    pub value: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EfiVarError {
    #[error("{0} bytes; a UINT8 variable is 4 attribute bytes and 1 data byte")]
    Length(usize),
}

/// Parses a `UINT8` variable read from efivarfs: exactly 5 bytes.
pub fn parse_efivar_u8(bytes: &[u8]) -> Result<EfiU8, EfiVarError> {
    match bytes {
        [a, b, c, d, value] => Ok(EfiU8 {
            attributes: u32::from_le_bytes([*a, *b, *c, *d]),
            value: *value,
        }),
        _ => Err(EfiVarError::Length(bytes.len())),
    }
}

/// Reads the `SecureBoot` UEFI variable from efivarfs.
///
/// - pass: its value (the fifth byte, after four attribute bytes) is 1;
/// - fail: its value is 0, or `/sys/firmware` exists without `efi` (the machine
///   did not boot through UEFI, so nothing verified the boot chain);
/// - unknown: no `/sys/firmware` at all (sysfs hidden, as in containers, or an
///   offline root), or the variable cannot be read or is not one byte (any value
///   but 0 or 1 is unknown too).
///
/// Facts: `uefi` (bool), `secure_boot` (the byte, or null), `attributes` (hex).
pub struct SecureBoot;

impl Check for SecureBoot {
    fn id(&self) -> &'static str {
        "system.secure_boot"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let host = ctx.host;
        if !host.is_dir(SYS_FIRMWARE) {
            return unknown(
                self.id(),
                format!(
                    "{SYS_FIRMWARE} is not visible (a container or an offline root): the boot mode cannot be read"
                ),
            );
        }
        if !host.is_dir(SYS_FIRMWARE_EFI) {
            return CheckResult::new(
                self.id(),
                Status::Fail,
                "The machine did not boot through UEFI (no /sys/firmware/efi), so Secure Boot is off.",
            )
            .fact("uefi", false)
            .fact("secure_boot", None::<u8>);
        }
        let raw = match host.read(SECURE_BOOT_VAR) {
            Ok(raw) => raw,
            Err(e) => {
                return unknown(
                    self.id(),
                    format!("the SecureBoot variable cannot be read: {e}"),
                )
                .fact("uefi", true);
            }
        };
        let hex = raw
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ");
        let var = match parse_efivar_u8(&raw) {
            Ok(var) => var,
            Err(e) => {
                return unknown(
                    self.id(),
                    format!("the SecureBoot variable is malformed: {e}"),
                )
                .fact("uefi", true)
                .evidence(file_evidence(
                    SECURE_BOOT_VAR,
                    &raw,
                    format!("bytes: {hex}"),
                ));
            }
        };
        let result = match var.value {
            1 => CheckResult::new(
                self.id(),
                Status::Pass,
                "UEFI Secure Boot is enabled (SecureBoot = 1).",
            ),
            0 => CheckResult::new(
                self.id(),
                Status::Fail,
                "UEFI Secure Boot is disabled (SecureBoot = 0).",
            ),
            other => unknown(
                self.id(),
                format!("the SecureBoot variable holds {other}, neither 0 nor 1"),
            ),
        };
        result
            .fact("uefi", true)
            .fact("secure_boot", var.value)
            .fact("attributes", format!("0x{:08x}", var.attributes))
            .evidence(file_evidence(
                SECURE_BOOT_VAR,
                &raw,
                format!("bytes: {hex} (value {})", var.value),
            ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn efivar_bytes() {
        assert_eq!(
            parse_efivar_u8(&[0x06, 0, 0, 0, 1]),
            Ok(EfiU8 {
                attributes: 6,
                value: 1
            })
        );
        assert_eq!(parse_efivar_u8(&[0x06, 0, 0, 0, 0]).unwrap().value, 0);
        assert_eq!(
            parse_efivar_u8(&[0x06, 0, 0, 0]),
            Err(EfiVarError::Length(4))
        );
        assert_eq!(parse_efivar_u8(&[]), Err(EfiVarError::Length(0)));
        assert!(parse_efivar_u8(&[6, 0, 0, 0, 1, 0]).is_err());
    }

    #[test]
    fn enabled_passes() {
        let mut t = FakeHost::linux();
        t.add_file(SECURE_BOOT_VAR, [0x06, 0, 0, 0, 1]);
        let r = t.run(&SecureBoot);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["secure_boot"], json!(1));
        assert_eq!(r.facts["attributes"], json!("0x00000006"));
        assert_eq!(r.evidence.len(), 1);
    }

    #[test]
    fn disabled_fails() {
        let mut t = FakeHost::linux();
        t.add_file(SECURE_BOOT_VAR, [0x06, 0, 0, 0, 0]);
        assert_eq!(t.run(&SecureBoot).status, Status::Fail);
    }

    #[test]
    fn legacy_bios_boot_fails() {
        let mut t = FakeHost::linux();
        t.add_dir("/sys/firmware/acpi");
        let r = t.run(&SecureBoot);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["uefi"], json!(false));
    }

    #[test]
    fn no_sys_firmware_is_unknown() {
        let mut t = FakeHost::linux();
        t.add_dir("/sys");
        let r = t.run(&SecureBoot);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
    }

    #[test]
    fn missing_or_malformed_variable_is_unknown() {
        let mut t = FakeHost::linux();
        t.add_dir("/sys/firmware/efi/efivars");
        assert_eq!(t.run(&SecureBoot).status, Status::Unknown);
        t.add_file(SECURE_BOOT_VAR, [0x06, 0, 0]);
        assert_eq!(t.run(&SecureBoot).status, Status::Unknown);
        t.add_file(SECURE_BOOT_VAR, [0x06, 0, 0, 0, 2]);
        assert_eq!(t.run(&SecureBoot).status, Status::Unknown);
    }

    proptest! {
        #[test]
        fn efivar_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            let r = parse_efivar_u8(&bytes);
            prop_assert_eq!(r.is_ok(), bytes.len() == 5);
        }
    }
}
