//! `system.time_sync` on Windows: the Windows Time service's configuration.

use attest_proto::CheckResult;

use super::{Effective, Origin, SERVICES, Service, Verdict, policy_dword, service, string};
use crate::checks::windows::{RegRead, clip, read_reg};
use crate::checks::{Check, Context};

const ID: &str = "system.time_sync";

/// The service's local configuration.
pub const W32TIME: &str = "SYSTEM\\CurrentControlSet\\Services\\W32Time";
/// Group policy for W32Time (wins over the local values).
pub const W32TIME_POLICY: &str = "SOFTWARE\\Policies\\Microsoft\\W32Time";

/// What a `Type` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncType {
    /// `NTP`, `NT5DS` (the domain hierarchy) or `AllSync`.
    Syncs(String),
    /// `NoSync`.
    NoSync,
    /// Anything else: the text.
    Other(String),
}

/// Reads a `Type` value as W32Time does (case-insensitive).
pub fn parse_type(text: &str) -> SyncType {
    let t = text.trim();
    if ["NTP", "NT5DS", "AllSync"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(t))
    {
        SyncType::Syncs(t.to_owned())
    } else if t.eq_ignore_ascii_case("NoSync") {
        SyncType::NoSync
    } else {
        SyncType::Other(t.to_owned())
    }
}

/// The effective `Type`: policy, else local; `Ok(None)` when neither is set.
fn effective_type(policy: &RegRead, local: &RegRead) -> Result<Option<Effective<String>>, String> {
    if let Some(v) = string(policy)? {
        return Ok(Some(Effective {
            value: v,
            origin: Origin::Policy,
        }));
    }
    Ok(string(local)?.map(|v| Effective {
        value: v,
        origin: Origin::Local,
    }))
}

/// `system.time_sync` on Windows.
///
/// Reads `HKLM\SYSTEM\CurrentControlSet\Services\W32Time\Parameters\Type`,
/// `…\W32Time\TimeProviders\NtpClient\Enabled` (absent = 1, W32Time's default)
/// and the service's `Start`; the group-policy values
/// `HKLM\SOFTWARE\Policies\Microsoft\W32Time\Parameters\Type` and
/// `…\W32Time\TimeProviders\NtpClient\Enabled` win over the local ones.
///
/// - pass: `Type` is `NTP`, `NT5DS` or `AllSync`, NtpClient is enabled, and the
///   service is not disabled (`Start` ≠ 4; a manual `Start` 3 is fine: W32Time
///   is trigger-started on workgroup machines and a scheduled task syncs);
/// - fail: `NoSync`, NtpClient 0, the service disabled or not installed;
/// - unknown: a value unread, or `Type` set to another word or set nowhere
///   (Windows writes it when it registers the service, so its absence is not a
///   documented state).
///
/// Facts: the effective values and where each came from, `ntp_server`, and
/// Hyper-V's `VMICTimeProvider` `Enabled` (recorded, never deciding: a guest
/// synced from its host).
pub struct TimeSync;

impl Check for TimeSync {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let policy_type = read_reg(ctx, &format!("{W32TIME_POLICY}\\Parameters"), "Type");
        let local_type = read_reg(ctx, &format!("{W32TIME}\\Parameters"), "Type");
        let policy_ntp = read_reg(
            ctx,
            &format!("{W32TIME_POLICY}\\TimeProviders\\NtpClient"),
            "Enabled",
        );
        let local_ntp = read_reg(
            ctx,
            &format!("{W32TIME}\\TimeProviders\\NtpClient"),
            "Enabled",
        );
        let policy_server = read_reg(ctx, &format!("{W32TIME_POLICY}\\Parameters"), "NtpServer");
        let local_server = read_reg(ctx, &format!("{W32TIME}\\Parameters"), "NtpServer");
        let vmic = read_reg(
            ctx,
            &format!("{W32TIME}\\TimeProviders\\VMICTimeProvider"),
            "Enabled",
        );
        let (svc, svc_read) = service(ctx, "W32Time");
        let mut v = Verdict::default();
        v.read(&[
            &policy_type,
            &local_type,
            &policy_ntp,
            &local_ntp,
            &svc_read,
        ]);

        let sync_type = effective_type(&policy_type, &local_type);
        match &sync_type {
            Err(e) => v.unknown(e.clone()),
            Ok(None) => v.unknown(format!(
                "W32Time's Type is set neither by policy ({}) nor locally ({})",
                policy_type.path(),
                local_type.path()
            )),
            Ok(Some(t)) => match parse_type(&t.value) {
                SyncType::Syncs(word) => v.pass(format!("W32Time syncs ({word})")),
                SyncType::NoSync => {
                    v.fail("W32Time's Type is NoSync: the clock is not synchronised")
                }
                SyncType::Other(word) => v.unknown(format!(
                    "W32Time's Type {:?} is none of NTP, NT5DS, AllSync, NoSync",
                    clip(&word)
                )),
            },
        }
        let ntp = policy_dword(&policy_ntp, &local_ntp, 1);
        match &ntp {
            Err(e) => v.unknown(e.clone()),
            Ok(e) if e.value == 0 => v.fail(format!(
                "the NtpClient time provider is disabled ({} Enabled = 0)",
                if e.origin == Origin::Policy {
                    "policy"
                } else {
                    "local"
                }
            )),
            Ok(_) => v.pass("NtpClient enabled"),
        }
        match &svc {
            Service::Disabled => v.fail("the W32Time service is disabled (Start = 4)"),
            Service::Absent => v.fail(format!(
                "the W32Time service is not installed ({SERVICES}\\W32Time)"
            )),
            Service::Unread(e) => v.unknown(e.clone()),
            Service::Enabled(_) => v.pass(format!("service {}", svc.fact().unwrap_or_default())),
        }
        let server = string(&policy_server)
            .ok()
            .flatten()
            .or_else(|| string(&local_server).ok().flatten())
            .map(|s| clip(&s));
        let vmic_enabled = super::dword(&vmic).ok().flatten();
        v.finish(ID)
            .fact("type", sync_type.as_ref().ok().and_then(|t| t.as_ref()))
            .fact("ntp_client_enabled", ntp.as_ref().ok())
            .fact("ntp_client_default", "absent means 1 (enabled)")
            .fact("w32time_start", svc.fact())
            .fact("ntp_server", server)
            .fact("vmic_time_provider_enabled", vmic_enabled)
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

    fn sz(s: &str) -> RegistryValue {
        RegistryValue::String(s.into())
    }

    fn host(local_type: &str) -> FakeHost {
        FakeHost::windows()
            .reg_value(&format!("{W32TIME}\\Parameters"), "Type", sz(local_type))
            .reg_value(W32TIME, "Start", RegistryValue::Dword(3))
    }

    fn run(h: &FakeHost) -> CheckResult {
        let r = h.run(&TimeSync);
        well_formed(&r);
        r
    }

    #[test]
    fn ntp_with_the_default_client_and_a_manual_service_passes() {
        let r = run(&host("NTP"));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["type"], json!({"value": "NTP", "origin": "local"}));
        assert_eq!(
            r.facts["ntp_client_enabled"],
            json!({"value": 1, "origin": "default"})
        );
        assert_eq!(r.facts["w32time_start"], "manual");
        let r = run(&host("nt5ds"));
        assert_eq!(r.status, Status::Pass, "{r:?}");
    }

    #[test]
    fn nosync_a_disabled_client_or_service_fails() {
        assert_eq!(run(&host("NoSync")).status, Status::Fail);
        let h = host("NTP").reg_value(
            &format!("{W32TIME}\\TimeProviders\\NtpClient"),
            "Enabled",
            RegistryValue::Dword(0),
        );
        let r = run(&h);
        assert_eq!(r.status, Status::Fail);
        assert!(r.summary.contains("NtpClient"), "{}", r.summary);
        let h = host("NTP").reg_value(W32TIME, "Start", RegistryValue::Dword(4));
        assert!(run(&h).summary.contains("disabled"));
        let h = FakeHost::windows().reg_value(&format!("{W32TIME}\\Parameters"), "Type", sz("NTP"));
        assert!(run(&h).summary.contains("not installed"));
    }

    #[test]
    fn policy_beats_the_local_values() {
        // Local NoSync, policy NTP: passes.
        let h =
            host("NoSync").reg_value(&format!("{W32TIME_POLICY}\\Parameters"), "Type", sz("NTP"));
        let r = run(&h);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["type"]["origin"], "policy");
        // Local client on, policy client off: fails.
        let h = host("NTP")
            .reg_value(
                &format!("{W32TIME}\\TimeProviders\\NtpClient"),
                "Enabled",
                RegistryValue::Dword(1),
            )
            .reg_value(
                &format!("{W32TIME_POLICY}\\TimeProviders\\NtpClient"),
                "Enabled",
                RegistryValue::Dword(0),
            );
        let r = run(&h);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(r.summary.contains("policy Enabled = 0"), "{}", r.summary);
    }

    #[test]
    fn unread_or_odd_values_are_unknown_and_hyperv_is_a_fact() {
        // Offline with no readable hive.
        let r = run(&FakeHost::windows());
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.unwrap().contains("not a registry hive"));
        assert_eq!(run(&host("Sometimes")).status, Status::Unknown);
        let r = run(&FakeHost::windows().reg_value(W32TIME, "Start", RegistryValue::Dword(2)));
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.unwrap().contains("set neither by policy"));
        let h = host("NTP").reg_value(
            &format!("{W32TIME}\\TimeProviders\\VMICTimeProvider"),
            "Enabled",
            RegistryValue::Dword(1),
        );
        assert_eq!(run(&h).facts["vmic_time_provider_enabled"], 1);
    }

    #[test]
    fn offline_evidence_names_the_hive() {
        let r = run(&host("NoSync").reg_value(
            &format!("{W32TIME_POLICY}\\Parameters"),
            "Type",
            sz("NTP"),
        ));
        assert!(
            r.evidence.iter().any(|e| matches!(e,
                attest_proto::Evidence::File { path, excerpt, .. }
                    if path.ends_with("config/SOFTWARE") && excerpt.contains("Type = \"NTP\""))),
            "{:?}",
            r.evidence
        );
    }
}
