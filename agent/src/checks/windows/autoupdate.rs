//! `patch.auto_updates` on Windows: update policy (group policy and MDM),
//! Windows Update Agent's effective `NotificationLevel`, the two update
//! services, and a pause of quality updates.

use attest_proto::CheckResult;
#[cfg(test)]
use attest_proto::Status;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

use super::support::{Kind, read_identity};
use super::system::{Service, Verdict, dword, service, string};
use super::wua::snapshot;
use super::{RegRead, clip, read_reg};
use crate::checks::{Check, Context, api_evidence};

const ID: &str = "patch.auto_updates";

/// Group policy "Configure Automatic Updates".
pub const AU_POLICY: &str = "SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate\\AU";
/// MDM (Update CSP) policy.
pub const MDM_UPDATE: &str = "SOFTWARE\\Microsoft\\PolicyManager\\current\\device\\Update";
/// The Settings app's pause.
pub const UX_SETTINGS: &str = "SOFTWARE\\Microsoft\\WindowsUpdate\\UX\\Settings";

/// What update policy says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// Updates installed automatically (`AUOptions` 4, MDM `AllowAutoUpdate` 1–4).
    Auto(String),
    /// Off (`NoAutoUpdate` 1, MDM `AllowAutoUpdate` 5): level 1.
    Off(String),
    /// Only notifies: level 2 or 3 (`AUOptions` 2, 3, 7; MDM 0).
    Notify(u32, String),
    /// `AUOptions` 5: the local administrator chooses (open question 9).
    LocalChoice,
    /// No update policy.
    NotConfigured,
    /// A value unread or outside the documented ones.
    Unknown(String),
}

impl Policy {
    /// The `NotificationLevel` the policy amounts to (`None`: no single level).
    pub fn level(&self) -> Option<u32> {
        match self {
            Policy::Auto(_) => Some(4),
            Policy::Off(_) => Some(1),
            Policy::Notify(n, _) => Some(*n),
            Policy::NotConfigured => Some(0),
            Policy::LocalChoice | Policy::Unknown(_) => None,
        }
    }
}

/// Decides the policy from `NoAutoUpdate`, `AUOptions` and MDM
/// `AllowAutoUpdate` (`Ok(None)`: absent). Any source that turns updates off
/// or to notify-only decides first (whichever of group policy and MDM Windows
/// applies, an administrator chose that); then one that sets automatic
/// installation; then `AUOptions` 5; else not configured. An unread value
/// decides nothing and makes the rest unknown.
pub fn decide_policy(
    no_auto: &Result<Option<u32>, String>,
    au_options: &Result<Option<u32>, String>,
    mdm: &Result<Option<u32>, String>,
) -> Policy {
    if no_auto == &Ok(Some(1)) {
        return Policy::Off("NoAutoUpdate = 1".into());
    }
    match mdm {
        Ok(Some(5)) => return Policy::Off("MDM AllowAutoUpdate = 5".into()),
        Ok(Some(0)) => {
            return Policy::Notify(2, "MDM AllowAutoUpdate = 0 (notify before download)".into());
        }
        _ => {}
    }
    match au_options {
        Ok(Some(2)) => return Policy::Notify(2, "AUOptions = 2 (notify before download)".into()),
        Ok(Some(3)) => {
            return Policy::Notify(3, "AUOptions = 3 (download, notify before install)".into());
        }
        Ok(Some(7)) => {
            return Policy::Notify(
                3,
                "AUOptions = 7 (download, notify before install and restart)".into(),
            );
        }
        _ => {}
    }
    for r in [no_auto, au_options, mdm] {
        if let Err(e) = r {
            return Policy::Unknown(e.clone());
        }
    }
    if let Ok(Some(n)) = mdm {
        if (1..=4).contains(n) {
            return Policy::Auto(format!("MDM AllowAutoUpdate = {n}"));
        }
        return Policy::Unknown(format!(
            "MDM AllowAutoUpdate = {n} is not a documented value"
        ));
    }
    match au_options {
        Ok(Some(4)) => Policy::Auto("AUOptions = 4 (scheduled install)".into()),
        Ok(Some(5)) => Policy::LocalChoice,
        Ok(Some(n)) => Policy::Unknown(format!("AUOptions = {n} is not a documented value")),
        _ => match no_auto {
            Ok(Some(0) | None) => Policy::NotConfigured,
            Ok(Some(n)) => Policy::Unknown(format!("NoAutoUpdate = {n} is neither 0 nor 1")),
            Err(e) => Policy::Unknown(e.clone()),
        },
    }
}

/// `PauseQualityUpdatesEndTime` (ISO 8601, UTC: `2026-12-01T10:00:00Z`; a time
/// without an offset is UTC).
pub fn parse_pause(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
}

/// WUA's `NotificationLevel` in the snapshot (`Err`: no snapshot or not captured).
fn notification_level(ctx: &Context<'_>, v: &mut Verdict) -> Result<u32, String> {
    let snap = snapshot(ctx);
    let out = snap.0.as_ref().map_err(Clone::clone)?;
    let level = out
        .value
        .get("notification_level")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("{}: notification_level not captured", out.name));
    if let Ok(n) = &level {
        v.evidence
            .push(api_evidence(out, format!("notification_level = {n}")));
    }
    level
}

/// `patch.auto_updates` on Windows.
///
/// The policy: group policy `HKLM\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate\AU`
/// `NoAutoUpdate`, `AUOptions`, and MDM
/// `HKLM\SOFTWARE\Microsoft\PolicyManager\current\device\Update\AllowAutoUpdate`
/// ([`decide_policy`]). WUA's `NotificationLevel` (from the `win.wua.snapshot`
/// helper) is recorded; where it and the registry disagree the registry decides
/// and both are in the facts; it decides only when the policy cannot be read.
///
/// - pass: the policy installs automatically, or there is none on a **client**
///   (the client default installs automatically); and `wuauserv` and `UsoSvc`
///   are not disabled (`Start` ≠ 4); and quality updates are not paused past the
///   collection time (`HKLM\SOFTWARE\Microsoft\WindowsUpdate\UX\Settings\PauseQualityUpdatesEndTime`);
/// - fail: `NoAutoUpdate` 1, `AUOptions` 2, 3 or 7, MDM `AllowAutoUpdate` 5 or 0,
///   a disabled service (or `wuauserv` not installed), an active pause;
/// - unknown: a server with no policy, `AUOptions` 5 (open question 9), a value
///   unread or undocumented, a pause date that is not a date.
///
/// `UsoSvc` absent is recorded, not failed (older builds lack it). Security
/// Center's `autoupdate` health is never used: it reports Good with the update
/// services disabled.
pub struct AutoUpdates;

impl Check for AutoUpdates {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let mut v = Verdict::default();
        let no_auto = read_reg(ctx, AU_POLICY, "NoAutoUpdate");
        let au_options = read_reg(ctx, AU_POLICY, "AUOptions");
        let mdm = read_reg(ctx, MDM_UPDATE, "AllowAutoUpdate");
        let pause = read_reg(ctx, UX_SETTINGS, "PauseQualityUpdatesEndTime");
        let (wuauserv, wuauserv_read) = service(ctx, "wuauserv");
        let (usosvc, usosvc_read) = service(ctx, "UsoSvc");
        v.read(&[
            &no_auto,
            &au_options,
            &mdm,
            &pause,
            &wuauserv_read,
            &usosvc_read,
        ]);
        let (identity, identity_reads) = read_identity(ctx);
        let kind = identity.and_then(|i| i.kind());
        // Client or server decides when there is no policy: its read is evidence.
        v.read(&product_type_read(&identity_reads));
        let level = notification_level(ctx, &mut v);

        let policy = decide_policy(&dword(&no_auto), &dword(&au_options), &dword(&mdm));
        let registry_unread = matches!(policy, Policy::Unknown(_))
            && [&no_auto, &au_options, &mdm]
                .iter()
                .all(|r| r.unread().is_some());
        if registry_unread {
            // The policy cannot be read at all: WUA's level stands in.
            let why = policy_unread(&[&no_auto, &au_options, &mdm]);
            match &level {
                Ok(4) => {
                    v.unanswered(why);
                    v.pass("Windows Update installs automatically (NotificationLevel 4)")
                }
                Ok(n @ 1..=3) => {
                    v.unanswered(why);
                    v.fail(format!(
                        "Windows Update does not install automatically (NotificationLevel {n})"
                    ))
                }
                Ok(0) => not_configured(&mut v, &kind, "NotificationLevel 0"),
                Ok(n) => v.unknown(format!(
                    "{why}; NotificationLevel {n} is not a documented value"
                )),
                Err(e) => v.unknown(format!("{why}; {e}")),
            }
        } else {
            match &policy {
                Policy::Auto(s) => v.pass(format!("update policy installs automatically ({s})")),
                Policy::Off(s) => v.fail(format!("automatic updates are turned off by policy ({s})")),
                Policy::Notify(_, s) => v.fail(format!("update policy only notifies ({s})")),
                Policy::LocalChoice => v.unknown(
                    "AUOptions = 5 lets the local administrator choose, a choice Windows 10 and 11 no \
                     longer show: its effect is not confirmed (catalogue open question 9)",
                ),
                Policy::NotConfigured => not_configured(&mut v, &kind, "no update policy"),
                Policy::Unknown(s) => v.unknown(s.clone()),
            }
            if let Err(e) = &level {
                v.unanswered(e.clone());
            }
        }
        match &wuauserv {
            Service::Disabled => {
                v.fail("the Windows Update service wuauserv is disabled (Start = 4)")
            }
            Service::Absent => v.fail("the Windows Update service wuauserv is not installed"),
            Service::Unread(e) => v.unknown(e.clone()),
            Service::Enabled(_) => v.pass("wuauserv enabled"),
        }
        match &usosvc {
            Service::Disabled => {
                v.fail("the Update Orchestrator service UsoSvc is disabled (Start = 4)")
            }
            Service::Unread(e) => v.unknown(e.clone()),
            Service::Absent => v.pass("UsoSvc not installed"),
            Service::Enabled(_) => v.pass("UsoSvc enabled"),
        }
        let pause_text = string(&pause);
        let pause_until = match &pause_text {
            Ok(None) => None,
            Ok(Some(t)) => match parse_pause(t) {
                Some(d) if d > ctx.now => {
                    v.fail(format!(
                        "quality updates are paused until {}",
                        d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ));
                    Some(d)
                }
                Some(d) => Some(d),
                None => {
                    v.unknown(format!("{}: {:?} is not a date", pause.path(), clip(t)));
                    None
                }
            },
            Err(e) => {
                v.unknown(e.clone());
                None
            }
        };
        let registry_level = policy.level();
        let disagree = match (&level, registry_level) {
            (Ok(l), Some(r)) => Some(*l != r),
            _ => None,
        };
        let kind_fact = kind.as_ref().ok().map(|k| {
            if *k == Kind::Server {
                "server"
            } else {
                "client"
            }
        });
        match pause_until {
            Some(d) if d <= ctx.now => v.pass("a past pause of quality updates has ended"),
            None if pause_text == Ok(None) => v.pass("quality updates not paused"),
            _ => {}
        }
        v.finish(ID)
            .fact("product_kind", kind_fact)
            .fact("no_auto_update", dword(&no_auto).ok().flatten())
            .fact("au_options", dword(&au_options).ok().flatten())
            .fact("mdm_allow_auto_update", dword(&mdm).ok().flatten())
            .fact("policy_level", registry_level)
            .fact("notification_level", level.as_ref().ok())
            .fact("levels_disagree", disagree)
            .fact("wuauserv_start", wuauserv.fact())
            .fact("usosvc_start", usosvc.fact())
            .fact(
                "pause_quality_updates_end",
                pause_until.map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            )
            .fact(
                "defaults",
                "no policy: a client installs automatically, a server is unknown (open question 9); \
                 no pause value: not paused",
            )
    }
}

/// The `ProductType` read among the identity's reads (client or server).
pub(crate) fn product_type_read(reads: &[RegRead]) -> Vec<&RegRead> {
    reads.iter().filter(|r| r.value == "ProductType").collect()
}

/// No policy: the client default installs automatically; a server's default
/// is not confirmed (open question 9).
fn not_configured(v: &mut Verdict, kind: &Result<Kind, String>, what: &str) {
    match kind {
        Ok(Kind::Client) => v.pass(format!(
            "{what}: a Windows client installs updates automatically by default"
        )),
        Ok(Kind::Server) => v.unknown(format!(
            "{what} on Windows Server, whose default (believed download only) is not confirmed \
             (catalogue open question 9)"
        )),
        Err(e) => v.unknown(format!(
            "{what}, and whether this is a client or a server is not known: {e}"
        )),
    }
}

fn policy_unread(reads: &[&RegRead]) -> String {
    reads
        .iter()
        .filter_map(|r| r.unread())
        .next()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::windows::system::SERVICES;
    use crate::host::RegistryValue;
    use crate::host::fake::FakeHost;
    use crate::host::sources::WIN_WUA_SNAPSHOT;
    use serde_json::json;

    const PT: &str = "SYSTEM\\CurrentControlSet\\Control\\ProductOptions";
    const CV: &str = "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion";

    fn d(n: u32) -> RegistryValue {
        RegistryValue::Dword(n)
    }

    fn host(product_type: &str) -> FakeHost {
        let sz = |s: &str| RegistryValue::String(s.into());
        FakeHost::windows()
            .reg_value(PT, "ProductType", sz(product_type))
            .reg_value(CV, "CurrentBuild", sz("26100"))
            .reg_value(CV, "EditionID", sz("Enterprise"))
            .reg_value(&format!("{SERVICES}\\wuauserv"), "Start", d(3))
            .reg_value(&format!("{SERVICES}\\UsoSvc"), "Start", d(2))
    }

    fn run(h: &FakeHost) -> CheckResult {
        let r = h.run(&AutoUpdates);
        super::super::system::testing::well_formed(&r);
        r
    }

    fn level(n: u32) -> serde_json::Value {
        json!({"result_code": 2, "updates": [], "notification_level": n})
    }

    #[test]
    fn a_client_without_policy_passes_by_default() {
        let r = run(&host("WinNT"));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["policy_level"], 0);
        assert!(
            r.summary
                .contains("installs updates automatically by default"),
            "{}",
            r.summary
        );
        assert!(
            r.facts["unanswered"][0]
                .as_str()
                .unwrap()
                .contains("offline root")
        );
    }

    #[test]
    fn policy_values_decide() {
        assert_eq!(
            run(&host("ServerNT").reg_value(AU_POLICY, "AUOptions", d(4))).status,
            Status::Pass
        );
        for (name, n) in [
            ("NoAutoUpdate", 1),
            ("AUOptions", 2),
            ("AUOptions", 3),
            ("AUOptions", 7),
        ] {
            let r = run(&host("WinNT").reg_value(AU_POLICY, name, d(n)));
            assert_eq!(r.status, Status::Fail, "{name} {n}: {r:?}");
        }
        let r = run(&host("WinNT").reg_value(MDM_UPDATE, "AllowAutoUpdate", d(5)));
        assert_eq!(r.status, Status::Fail);
        assert!(r.summary.contains("MDM"));
        assert_eq!(
            run(&host("ServerNT").reg_value(MDM_UPDATE, "AllowAutoUpdate", d(2))).status,
            Status::Pass
        );
        // Off anywhere wins over automatic elsewhere.
        let h = host("WinNT")
            .reg_value(AU_POLICY, "AUOptions", d(4))
            .reg_value(MDM_UPDATE, "AllowAutoUpdate", d(5));
        assert_eq!(run(&h).status, Status::Fail);
    }

    #[test]
    fn open_question_9_is_unknown() {
        let r = run(&host("ServerNT"));
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.unwrap().contains("open question 9"));
        let r = run(&host("WinNT").reg_value(AU_POLICY, "AUOptions", d(5)));
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.unwrap().contains("AUOptions = 5"));
    }

    /// Pitfall 4: Security Center's auto-update health says Good with the
    /// update services disabled; it is never read, the services decide.
    #[test]
    fn security_center_never_vouches_for_updates() {
        use crate::host::sources::WIN_WSC_PRODUCTS;
        let r = run(&host("WinNT")
            .reg_value(&format!("{SERVICES}\\wuauserv"), "Start", d(4))
            .reg_value(&format!("{SERVICES}\\UsoSvc"), "Start", d(4))
            .api(
                &WIN_WSC_PRODUCTS,
                json!({"antivirus": [], "firewall": [], "autoupdate": "good"}),
            ));
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(
            !serde_json::to_string(&r)
                .unwrap()
                .contains("IWSCProductList")
        );
    }

    #[test]
    fn disabled_services_fail() {
        let r = run(&host("WinNT").reg_value(&format!("{SERVICES}\\wuauserv"), "Start", d(4)));
        assert_eq!(r.status, Status::Fail);
        assert!(r.summary.contains("wuauserv"));
        let r = run(&host("WinNT").reg_value(&format!("{SERVICES}\\UsoSvc"), "Start", d(4)));
        assert_eq!(r.status, Status::Fail);
        assert!(r.summary.contains("UsoSvc"));
    }

    #[test]
    fn a_pause_fails_only_while_it_lasts() {
        // default_now is 2026-11-25T12:00:00Z.
        let paused = |end: &str| {
            host("WinNT").reg_value(
                UX_SETTINGS,
                "PauseQualityUpdatesEndTime",
                RegistryValue::String(end.into()),
            )
        };
        let r = run(&paused("2026-12-01T10:00:00Z"));
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.summary.contains("paused until 2026-12-01T10:00:00Z"),
            "{}",
            r.summary
        );
        let r = run(&paused("2026-11-20T10:00:00Z"));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(r.summary.contains("past pause"), "{}", r.summary);
        assert_eq!(run(&paused("2026-11-30T00:00:00")).status, Status::Fail);
        assert_eq!(run(&paused("next week")).status, Status::Unknown);
        assert_eq!(
            parse_pause("2026-11-30T00:00:00.5Z").map(|d| d.timestamp()),
            Some(1_795_996_800)
        );
    }

    /// The registry decides where it and WUA disagree; both are recorded.
    #[test]
    fn the_registry_wins_over_notification_level() {
        let r = run(&host("WinNT")
            .reg_value(AU_POLICY, "AUOptions", d(4))
            .api(&WIN_WUA_SNAPSHOT, level(2)));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["notification_level"], 2);
        assert_eq!(r.facts["policy_level"], 4);
        assert_eq!(r.facts["levels_disagree"], true);
        let r = run(&host("WinNT")
            .reg_value(AU_POLICY, "AUOptions", d(3))
            .live()
            .api(&WIN_WUA_SNAPSHOT, level(4)));
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.facts["levels_disagree"], true);
    }

    /// With the policy unreadable, WUA's level stands in.
    #[test]
    fn notification_level_decides_when_the_policy_is_unread() {
        let h = |n| {
            host("WinNT")
                .reg_error(AU_POLICY, "access denied")
                .reg_error(MDM_UPDATE, "access denied")
                .api(&WIN_WUA_SNAPSHOT, level(n))
        };
        let r = run(&h(4));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.facts["unanswered"][0]
                .as_str()
                .unwrap()
                .contains("access denied")
        );
        assert_eq!(run(&h(1)).status, Status::Fail);
        assert_eq!(run(&h(0)).status, Status::Pass);
        assert_eq!(run(&h(9)).status, Status::Unknown);
        let r = run(&host("WinNT")
            .reg_error(AU_POLICY, "access denied")
            .reg_error(MDM_UPDATE, "access denied"));
        assert_eq!(r.status, Status::Unknown);
        // Nothing readable at all.
        assert_eq!(run(&FakeHost::windows()).status, Status::Unknown);
    }

    #[test]
    fn decide_policy_rules() {
        let none = Ok(None);
        assert_eq!(
            decide_policy(&Ok(Some(0)), &none, &none),
            Policy::NotConfigured
        );
        assert_eq!(
            decide_policy(&Ok(Some(1)), &Ok(Some(4)), &none).level(),
            Some(1)
        );
        assert!(matches!(
            decide_policy(&Err("x".into()), &Ok(Some(2)), &none),
            Policy::Notify(2, _)
        ));
        assert!(matches!(
            decide_policy(&Err("x".into()), &Ok(Some(4)), &none),
            Policy::Unknown(_)
        ));
        assert!(matches!(
            decide_policy(&none, &Ok(Some(6)), &none),
            Policy::Unknown(_)
        ));
    }
}
