//! `system.secure_boot` on Windows.

use attest_proto::CheckResult;
use serde_json::Value;

use super::{Verdict, dword};
use crate::checks::windows::read_reg;
use crate::checks::{Check, Context, api_evidence};
use crate::host::sources::WIN_FIRMWARE_TYPE;

const ID: &str = "system.secure_boot";

pub const SECURE_BOOT_STATE: &str = "SYSTEM\\CurrentControlSet\\Control\\SecureBoot\\State";
pub const CONTROL: &str = "SYSTEM\\CurrentControlSet\\Control";

/// The firmware type of `GetFirmwareType` and of setup's `PEFirmwareType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    Bios,
    Uefi,
    Other(u64),
}

impl Firmware {
    pub fn of(n: u64) -> Firmware {
        match n {
            1 => Firmware::Bios,
            2 => Firmware::Uefi,
            n => Firmware::Other(n),
        }
    }

    pub fn word(self) -> String {
        match self {
            Firmware::Bios => "BIOS".to_owned(),
            Firmware::Uefi => "UEFI".to_owned(),
            Firmware::Other(n) => format!("unknown ({n})"),
        }
    }
}

/// `{"FirmwareType": n}` of `win.api.firmware_type`.
pub fn parse_firmware(value: &Value) -> Result<Firmware, String> {
    value
        .get("FirmwareType")
        .and_then(Value::as_u64)
        .map(Firmware::of)
        .ok_or_else(|| {
            format!(
                "{}: FirmwareType not captured",
                WIN_FIRMWARE_TYPE.describe()
            )
        })
}

/// `system.secure_boot` on Windows.
///
/// `HKLM\SYSTEM\CurrentControlSet\Control\SecureBoot\State\UEFISecureBootEnabled`
/// (written at each boot: offline it is the image's last boot), cross-checked
/// with `GetFirmwareType` (live or captured `win.api.firmware_type`).
///
/// - pass: `UEFISecureBootEnabled` = 1 and the firmware is not BIOS;
/// - fail: 0; or the firmware is BIOS (legacy boot, as on Linux): from
///   `GetFirmwareType` = 1, or offline, with the `State` value absent, from
///   `HKLM\SYSTEM\CurrentControlSet\Control\PEFirmwareType` = 1 (set by setup:
///   1 BIOS, 2 UEFI);
/// - unknown: neither readable; UEFI firmware without a recorded state.
pub struct SecureBoot;

impl Check for SecureBoot {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let mut v = Verdict::default();
        let state = read_reg(ctx, SECURE_BOOT_STATE, "UEFISecureBootEnabled");
        let pe = read_reg(ctx, CONTROL, "PEFirmwareType");
        v.read(&[&state]);
        let firmware = match ctx.host.api(&WIN_FIRMWARE_TYPE) {
            Ok(out) => match parse_firmware(&out.value) {
                Ok(f) => {
                    v.evidence
                        .push(api_evidence(&out, format!("FirmwareType = {}", f.word())));
                    Some(f)
                }
                Err(e) => {
                    v.unanswered(e);
                    None
                }
            },
            Err(e) => {
                v.unanswered(e.to_string());
                None
            }
        };
        let enabled = dword(&state);
        let pe_type = dword(&pe)
            .ok()
            .flatten()
            .map(|n| Firmware::of(u64::from(n)));
        match (&enabled, firmware) {
            (_, Some(Firmware::Bios)) => {
                v.fail("the firmware is legacy BIOS (GetFirmwareType): no UEFI Secure Boot")
            }
            (Ok(Some(1)), _) => v.pass("UEFI Secure Boot is on (UEFISecureBootEnabled = 1)"),
            (Ok(Some(0)), _) => v.fail("UEFI Secure Boot is off (UEFISecureBootEnabled = 0)"),
            (Ok(Some(n)), _) => v.unknown(format!("{}: {n} is neither 0 nor 1", state.path())),
            (Ok(None), _) if pe_type == Some(Firmware::Bios) && firmware.is_none() => {
                v.read(&[&pe]);
                v.fail("the firmware is legacy BIOS (PEFirmwareType = 1, no Secure Boot state): no UEFI Secure Boot")
            }
            (Ok(None), _) => {
                v.read(&[&pe]);
                v.unknown(format!(
                    "{} is absent and the firmware type ({}) does not decide",
                    state.path(),
                    firmware
                        .or(pe_type)
                        .map_or("not known".to_owned(), Firmware::word)
                ))
            }
            (Err(e), _) => v.unknown(e.clone()),
        }
        v.finish(ID)
            .fact("uefi_secure_boot_enabled", enabled.ok().flatten())
            .fact("firmware_type", firmware.map(Firmware::word))
            .fact("pe_firmware_type", pe_type.map(Firmware::word))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::well_formed;
    use super::*;
    use crate::host::RegistryValue;
    use crate::host::fake::FakeHost;
    use attest_proto::Status;
    use serde_json::json;

    fn state(n: u32) -> FakeHost {
        FakeHost::windows().reg_value(
            SECURE_BOOT_STATE,
            "UEFISecureBootEnabled",
            RegistryValue::Dword(n),
        )
    }

    fn run(h: &FakeHost) -> CheckResult {
        let r = h.run(&SecureBoot);
        well_formed(&r);
        r
    }

    #[test]
    fn the_state_decides_and_bios_fails() {
        let r = run(&state(1));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.facts["unanswered"][0]
                .as_str()
                .unwrap()
                .contains("GetFirmwareType")
        );
        assert_eq!(run(&state(0)).status, Status::Fail);
        assert_eq!(run(&state(7)).status, Status::Unknown);
        let r = run(&state(1)
            .live()
            .api(&WIN_FIRMWARE_TYPE, json!({"FirmwareType": 2})));
        assert_eq!(r.status, Status::Pass);
        assert_eq!(r.facts["firmware_type"], "UEFI");
        assert!(r.facts.get("unanswered").is_none());
        let r = run(&FakeHost::windows().api(&WIN_FIRMWARE_TYPE, json!({"FirmwareType": 1})));
        assert_eq!(r.status, Status::Fail);
        assert!(r.summary.contains("legacy BIOS"));
    }

    #[test]
    fn offline_pe_firmware_type_stands_in_for_an_absent_state() {
        let pe =
            |n| FakeHost::windows().reg_value(CONTROL, "PEFirmwareType", RegistryValue::Dword(n));
        let r = run(&pe(1));
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["pe_firmware_type"], "BIOS");
        let r = run(&pe(2));
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.unwrap().contains("UEFI"));
        // With the state present, PEFirmwareType does not decide.
        assert_eq!(
            run(&state(1).reg_value(CONTROL, "PEFirmwareType", RegistryValue::Dword(1))).status,
            Status::Pass
        );
    }

    #[test]
    fn nothing_readable_is_unknown() {
        assert_eq!(run(&FakeHost::windows()).status, Status::Unknown);
        let r = run(&state(1).api(&WIN_FIRMWARE_TYPE, json!({})));
        assert_eq!(r.status, Status::Pass);
        assert!(
            r.facts["unanswered"][0]
                .as_str()
                .unwrap()
                .contains("not captured")
        );
    }
}
