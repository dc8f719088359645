//! `system.uac` and `system.smb1_disabled` on Windows.

use attest_proto::CheckResult;
use serde_json::Value;

use super::{SERVICES, Service, Verdict, dword, service};
use crate::checks::windows::support::{Kind, read_identity};
use crate::checks::windows::{instances, read_reg};
use crate::checks::{Check, Context, api_evidence};
use crate::host::sources::WIN_OPTIONALFEATURE_SMB1;

const UAC: &str = "system.uac";
const SMB1: &str = "system.smb1_disabled";

/// UAC's settings.
pub const SYSTEM_POLICY: &str = "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System";
/// "Sudo for Windows".
pub const SUDO: &str = "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Sudo";

/// A DWORD with its default when absent: `(value, defaulted)`.
fn with_default(
    read: &crate::checks::windows::RegRead,
    default: u32,
) -> Result<(u32, bool), String> {
    dword(read).map(|v| v.map_or((default, true), |n| (n, false)))
}

/// `system.uac` on Windows, from
/// `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System`.
///
/// - pass: `EnableLUA` 1 (absent = 1, Windows's default) and
///   `ConsentPromptBehaviorAdmin` ≠ 0 (absent = 5, "prompt for consent for
///   non-Windows binaries");
/// - fail: `EnableLUA` 0 (UAC off), or `ConsentPromptBehaviorAdmin` 0
///   ("elevate without prompting");
/// - unknown: a value unread, or `EnableLUA` / `ConsentPromptBehaviorAdmin`
///   outside their documented values (0–1, 0–5).
///
/// Facts (CIS wants 1 or 2, the secure desktop: a stricter collector can read
/// them): `PromptOnSecureDesktop` (absent = 1), `FilterAdministratorToken`
/// (absent = 0), "Sudo for Windows" `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Sudo\Enabled`
/// (absent = 0, off; 1 new window, 2 input closed, 3 inline).
pub struct Uac;

impl Check for Uac {
    fn id(&self) -> &'static str {
        UAC
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let lua = read_reg(ctx, SYSTEM_POLICY, "EnableLUA");
        let consent = read_reg(ctx, SYSTEM_POLICY, "ConsentPromptBehaviorAdmin");
        let secure_desktop = read_reg(ctx, SYSTEM_POLICY, "PromptOnSecureDesktop");
        let filter = read_reg(ctx, SYSTEM_POLICY, "FilterAdministratorToken");
        let sudo = read_reg(ctx, SUDO, "Enabled");
        let mut v = Verdict::default();
        v.read(&[&lua, &consent, &secure_desktop, &filter, &sudo]);
        let lua_v = with_default(&lua, 1);
        let consent_v = with_default(&consent, 5);
        match &lua_v {
            Ok((1, d)) => v.pass(format!(
                "UAC is on (EnableLUA = 1{})",
                if *d { ", the default" } else { "" }
            )),
            Ok((0, _)) => v.fail("UAC is off (EnableLUA = 0): every administrator runs elevated"),
            Ok((n, _)) => v.unknown(format!("{}: {n} is neither 0 nor 1", lua.path())),
            Err(e) => v.unknown(e.clone()),
        }
        match &consent_v {
            Ok((0, _)) => v.fail(
                "administrators are elevated without prompting (ConsentPromptBehaviorAdmin = 0)",
            ),
            Ok((n @ 1..=5, d)) => v.pass(format!(
                "administrators are prompted (ConsentPromptBehaviorAdmin = {n}{})",
                if *d { ", the default" } else { "" }
            )),
            Ok((n, _)) => v.unknown(format!("{}: {n} is not one of 0 to 5", consent.path())),
            Err(e) => v.unknown(e.clone()),
        }
        let fact = |r: Result<(u32, bool), String>| {
            r.ok()
                .map(|(n, d)| serde_json::json!({"value": n, "default": d}))
        };
        v.finish(UAC)
            .fact("enable_lua", fact(lua_v))
            .fact("consent_prompt_behavior_admin", fact(consent_v))
            .fact(
                "prompt_on_secure_desktop",
                fact(with_default(&secure_desktop, 1)),
            )
            .fact("filter_administrator_token", fact(with_default(&filter, 0)))
            .fact("sudo_enabled", fact(with_default(&sudo, 0)))
    }
}

/// `InstallState` of `SMB1Protocol` in `win.wmi.optionalfeature_smb1`
/// (1 enabled, 2 disabled, 3 absent).
pub fn smb1_install_state(value: &Value) -> Result<u64, String> {
    let what = WIN_OPTIONALFEATURE_SMB1.describe();
    let list = instances(value, &what)?;
    list.iter()
        .find(|i| {
            i.get("Name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case("SMB1Protocol"))
        })
        .and_then(|i| i.get("InstallState"))
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("{what}: SMB1Protocol's InstallState not captured"))
}

/// One side (client or server) of SMB 1.0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    Off(String),
    On(String),
    Unknown(String),
}

/// The SMB 1.0 client offline: the `mrxsmb10` driver absent or disabled is off.
pub fn client_side(mrxsmb10: &Service) -> Side {
    match mrxsmb10 {
        Service::Absent => Side::Off("the SMB 1.0 client driver mrxsmb10 is not installed".into()),
        Service::Disabled => Side::Off("the SMB 1.0 client driver mrxsmb10 is disabled".into()),
        Service::Enabled(_) => Side::On("the SMB 1.0 client driver mrxsmb10 is enabled".into()),
        Service::Unread(e) => Side::Unknown(e.clone()),
    }
}

/// The SMB 1.0 server offline, from `LanmanServer\Parameters\SMB1` and the SMB
/// 1.0 server driver `srv` (`srv.sys`; the SMB 2/3 server is `srv2`).
///
/// Decision for open question 8: `SMB1` = 0 is off; the `srv` service absent
/// (the driver was removed with the feature) or disabled is off whatever `SMB1`
/// says; `SMB1` set non-zero with `srv` present is on; `SMB1` absent with `srv`
/// present is unknown: Windows's default for the value is "enabled", but
/// whether `srv`'s key stays behind when the feature is removed is not
/// confirmed.
pub fn server_side(smb1: &Result<Option<u32>, String>, srv: &Service) -> Side {
    match (smb1, srv) {
        (Ok(Some(0)), _) => Side::Off("the SMB 1.0 server is off (LanmanServer SMB1 = 0)".into()),
        (_, Service::Absent) => Side::Off("the SMB 1.0 server driver srv is not installed".into()),
        (_, Service::Disabled) => Side::Off("the SMB 1.0 server driver srv is disabled".into()),
        (Err(e), _) | (_, Service::Unread(e)) => Side::Unknown(e.clone()),
        (Ok(Some(n)), Service::Enabled(_)) => Side::On(format!(
            "the SMB 1.0 server is on (LanmanServer SMB1 = {n}, driver srv installed)"
        )),
        (Ok(None), Service::Enabled(_)) => Side::Unknown(
            "LanmanServer SMB1 is not set and the SMB 1.0 server driver srv is installed: whether \
             the SMB 1.0 server runs is not decided offline (catalogue open question 8)"
                .into(),
        ),
    }
}

/// `system.smb1_disabled` on Windows.
///
/// Live or captured: `Win32_OptionalFeature` `SMB1Protocol` `InstallState`
/// (`win.wmi.optionalfeature_smb1`): 1 enabled fails; 2 disabled or 3 absent
/// passes (the feature carries both the client and the server). On a server,
/// `HKLM\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters\SMB1` = 1
/// with the feature enabled is recorded.
///
/// When that source gives no answer (offline, not captured): the client is off
/// when `HKLM\SYSTEM\CurrentControlSet\Services\mrxsmb10` is absent or has
/// `Start` 4; the server as [`server_side`] decides (open question 8).
///
/// - pass: client and server off;
/// - fail: either on;
/// - unknown: either not decided and neither on.
pub struct Smb1Disabled;

impl Check for Smb1Disabled {
    fn id(&self) -> &'static str {
        SMB1
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let mut v = Verdict::default();
        let smb1 = read_reg(
            ctx,
            &format!("{SERVICES}\\LanmanServer\\Parameters"),
            "SMB1",
        );
        let smb1_value = dword(&smb1);
        let (kind, _) = read_identity(ctx);
        let kind = kind.and_then(|i| i.kind()).ok();
        let state = match ctx.host.api(&WIN_OPTIONALFEATURE_SMB1) {
            Ok(out) => {
                let s = smb1_install_state(&out.value);
                v.evidence.push(api_evidence(
                    &out,
                    s.as_ref().map_or(String::new(), |n| {
                        format!("SMB1Protocol InstallState = {n}")
                    }),
                ));
                s
            }
            Err(e) => Err(e.to_string()),
        };
        let install_state = state.as_ref().ok().copied();
        let mut client_fact = None;
        let mut server_fact = None;
        match state {
            Ok(1) => v.fail("the SMB 1.0 feature (SMB1Protocol) is enabled"),
            Ok(n @ (2 | 3)) => v.pass(format!(
                "the SMB 1.0 feature (SMB1Protocol) is {}",
                if n == 2 { "disabled" } else { "not installed" }
            )),
            Ok(n) => v.unknown(format!("SMB1Protocol InstallState {n} is none of 1, 2, 3")),
            Err(api_error) => {
                v.unanswered(api_error);
                let (client, client_read) = service(ctx, "mrxsmb10");
                let (srv, srv_read) = service(ctx, "srv");
                v.read(&[&client_read, &smb1, &srv_read]);
                client_fact = client.fact();
                server_fact = srv.fact();
                for side in [client_side(&client), server_side(&smb1_value, &srv)] {
                    match side {
                        Side::Off(s) => v.pass(s),
                        Side::On(s) => v.fail(s),
                        Side::Unknown(s) => v.unknown(s),
                    }
                }
            }
        }
        v.finish(SMB1)
            .fact("install_state", install_state)
            .fact("lanmanserver_smb1", smb1_value.ok().flatten())
            .fact(
                "lanmanserver_smb1_default",
                "absent means enabled when the SMB 1.0 server is installed",
            )
            .fact("mrxsmb10_start", client_fact)
            .fact("srv_start", server_fact)
            .fact(
                "product_kind",
                kind.map(|k| {
                    if k == Kind::Server {
                        "server"
                    } else {
                        "client"
                    }
                }),
            )
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

    fn uac(values: &[(&str, u32)]) -> CheckResult {
        let mut h = FakeHost::windows().reg_key(SYSTEM_POLICY);
        for (name, n) in values {
            h = h.reg_value(SYSTEM_POLICY, name, RegistryValue::Dword(*n));
        }
        let r = h.run(&Uac);
        well_formed(&r);
        r
    }

    #[test]
    fn uac_absent_means_on_with_a_prompt() {
        let r = uac(&[]);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["enable_lua"], json!({"value": 1, "default": true}));
        assert_eq!(
            r.facts["consent_prompt_behavior_admin"],
            json!({"value": 5, "default": true})
        );
        assert_eq!(
            r.facts["prompt_on_secure_desktop"],
            json!({"value": 1, "default": true})
        );
        assert_eq!(
            r.facts["sudo_enabled"],
            json!({"value": 0, "default": true})
        );
        let r = uac(&[
            ("EnableLUA", 1),
            ("ConsentPromptBehaviorAdmin", 2),
            ("PromptOnSecureDesktop", 0),
        ]);
        assert_eq!(r.status, Status::Pass);
        assert_eq!(r.facts["prompt_on_secure_desktop"]["value"], 0);
    }

    #[test]
    fn uac_off_or_no_prompt_fails() {
        let r = uac(&[("EnableLUA", 0)]);
        assert_eq!(r.status, Status::Fail);
        assert!(r.summary.contains("UAC is off"));
        let r = uac(&[("ConsentPromptBehaviorAdmin", 0)]);
        assert_eq!(r.status, Status::Fail);
        assert!(r.summary.contains("without prompting"));
    }

    #[test]
    fn uac_unread_or_odd_is_unknown() {
        assert_eq!(uac(&[("EnableLUA", 2)]).status, Status::Unknown);
        assert_eq!(
            uac(&[("ConsentPromptBehaviorAdmin", 9)]).status,
            Status::Unknown
        );
        let r = FakeHost::windows()
            .reg_error(SYSTEM_POLICY, "access denied")
            .run(&Uac);
        assert_eq!(r.status, Status::Unknown);
        // A string where a DWORD belongs is not read as one.
        let r = FakeHost::windows()
            .reg_value(
                SYSTEM_POLICY,
                "EnableLUA",
                RegistryValue::String("0".into()),
            )
            .run(&Uac);
        assert_eq!(r.status, Status::Unknown);
    }

    fn offline(client: Option<u32>, srv: Option<u32>, smb1: Option<u32>) -> FakeHost {
        let mut h = FakeHost::windows().reg_key(SERVICES);
        if let Some(n) = client {
            h = h.reg_value(
                &format!("{SERVICES}\\mrxsmb10"),
                "Start",
                RegistryValue::Dword(n),
            );
        }
        if let Some(n) = srv {
            h = h.reg_value(
                &format!("{SERVICES}\\srv"),
                "Start",
                RegistryValue::Dword(n),
            );
        }
        if let Some(n) = smb1 {
            h = h.reg_value(
                &format!("{SERVICES}\\LanmanServer\\Parameters"),
                "SMB1",
                RegistryValue::Dword(n),
            );
        }
        h
    }

    fn smb(h: &FakeHost) -> CheckResult {
        let r = h.run(&Smb1Disabled);
        well_formed(&r);
        r
    }

    #[test]
    fn the_optional_feature_decides_when_answered() {
        let feature = |n: u64| json!({"instances": [{"Name": "SMB1Protocol", "InstallState": n}]});
        // The registry says on; the feature's state decides.
        let h = offline(Some(3), Some(3), Some(1));
        assert_eq!(
            smb(&h.clone().live().api(&WIN_OPTIONALFEATURE_SMB1, feature(2))).status,
            Status::Pass
        );
        let r = smb(&h.clone().api(&WIN_OPTIONALFEATURE_SMB1, feature(3)));
        assert_eq!(r.status, Status::Pass);
        assert_eq!(r.facts["install_state"], 3);
        assert_eq!(
            smb(&offline(None, None, None).api(&WIN_OPTIONALFEATURE_SMB1, feature(1))).status,
            Status::Fail
        );
        assert_eq!(
            smb(&h.clone().api(&WIN_OPTIONALFEATURE_SMB1, feature(7))).status,
            Status::Unknown
        );
        // A capture without the feature: the registry stands in.
        let r = smb(
            &offline(None, None, None).api(&WIN_OPTIONALFEATURE_SMB1, json!({"instances": []}))
        );
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.facts["unanswered"][0]
                .as_str()
                .unwrap()
                .contains("not captured")
        );
    }

    #[test]
    fn offline_drivers_and_the_server_value_decide() {
        // Neither driver installed (a clean Windows 11): off.
        let r = smb(&offline(None, None, None));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["mrxsmb10_start"], "absent");
        // Client driver disabled, server value 0 with srv present: off.
        assert_eq!(
            smb(&offline(Some(4), Some(3), Some(0))).status,
            Status::Pass
        );
        // Client driver enabled: on.
        let r = smb(&offline(Some(2), None, None));
        assert_eq!(r.status, Status::Fail);
        assert!(r.summary.contains("mrxsmb10"));
        // Server value 1 with srv installed: on.
        let r = smb(&offline(None, Some(3), Some(1)));
        assert_eq!(r.status, Status::Fail);
        assert!(r.summary.contains("SMB1 = 1"));
        // Server value absent, srv installed: open question 8.
        let r = smb(&offline(None, Some(3), None));
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.unwrap().contains("open question 8"));
        // srv absent or disabled: off whatever SMB1 says.
        assert_eq!(smb(&offline(None, Some(4), Some(1))).status, Status::Pass);
    }

    #[test]
    fn smb1_unread_is_unknown() {
        assert_eq!(smb(&FakeHost::windows()).status, Status::Unknown);
        assert_eq!(
            server_side(&Err("x".into()), &Service::Enabled(3)),
            Side::Unknown("x".into())
        );
    }
}
