//! The Windows system checks of catalogue 3.5 (all but `malware.protection`):
//! time synchronisation, audit logging, the firewall, the screen lock, Secure
//! Boot, UAC and SMB 1.0. Each reads registry values through [`read_reg`] (the
//! hive files offline, the live registry on a live host) and, where the
//! catalogue names one, an api source (live or captured) that decides before the
//! registry does.
//!
//! ```text
//! system/
//!   mod.rs          the shared pieces: a service's Start, DWORDs with their
//!                   documented default, the verdict accumulator
//!   time.rs         system.time_sync (W32Time)
//!   audit.rs        system.audit_logging (EventLog, Logon auditing)
//!   firewall.rs     system.firewall (three profiles, Security Center)
//!   screen_lock.rs  system.screen_lock (machine limit, per-user screen saver)
//!   boot.rs         system.secure_boot
//!   hardening.rs    system.uac, system.smb1_disabled
//! ```
//!
//! Rule for every value (catalogue part 5, pitfall 3): a value that is absent
//! takes the default Windows documents, the default is written in the check's
//! doc comment, and the result records both the value used and where it came
//! from (`policy`, `local`, `default`).

pub mod audit;
pub mod boot;
pub mod firewall;
pub mod hardening;
pub mod screen_lock;
pub mod time;

use attest_proto::{CheckResult, Evidence, Status};
use serde::Serialize;

use super::{Reg, RegRead, read_reg};
use crate::checks::{Context, unknown};
use crate::host::RegistryValue;

/// `HKLM\SYSTEM\CurrentControlSet\Services`.
pub const SERVICES: &str = "SYSTEM\\CurrentControlSet\\Services";

/// The words of a service's `Start`: 0 boot, 1 system, 2 automatic, 3 manual
/// (demand or trigger start), 4 disabled.
pub fn start_word(start: u32) -> &'static str {
    match start {
        0 => "boot",
        1 => "system",
        2 => "automatic",
        3 => "manual",
        4 => "disabled",
        _ => "unknown start type",
    }
}

/// What a service's `Start` value says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    /// `Start` 0 to 3 (or another value that is not 4): the service can run.
    Enabled(u32),
    /// `Start` = 4.
    Disabled,
    /// The service's key (or its `Start`) does not exist: not installed.
    Absent,
    /// Could not be read, or `Start` is not a DWORD: why.
    Unread(String),
}

impl Service {
    /// For facts: `automatic`, `manual`, `disabled`, `absent`, or `null` when unread.
    pub fn fact(&self) -> Option<String> {
        match self {
            Service::Enabled(n) => Some(start_word(*n).to_owned()),
            Service::Disabled => Some("disabled".to_owned()),
            Service::Absent => Some("absent".to_owned()),
            Service::Unread(_) => None,
        }
    }
}

/// The `Start` of service `name`, and its read (for evidence).
pub fn service(ctx: &Context<'_>, name: &str) -> (Service, RegRead) {
    let read = read_reg(ctx, &format!("{SERVICES}\\{name}"), "Start");
    (service_of(&read), read)
}

/// What a read `Start` value says.
pub fn service_of(read: &RegRead) -> Service {
    match dword(read) {
        Ok(Some(4)) => Service::Disabled,
        Ok(Some(n)) => Service::Enabled(n),
        Ok(None) => Service::Absent,
        Err(e) => Service::Unread(e),
    }
}

/// A DWORD: `Ok(None)` when absent; an error when unread or of another type.
pub fn dword(read: &RegRead) -> Result<Option<u32>, String> {
    match &read.got {
        Reg::Set(RegistryValue::Dword(v)) => Ok(Some(*v)),
        Reg::Set(other) => Err(format!("{}: {other}, not a REG_DWORD", read.path())),
        Reg::Absent => Ok(None),
        Reg::Unread(why) => Err(why.clone()),
    }
}

/// A REG_SZ (or REG_EXPAND_SZ): `Ok(None)` when absent; an error when unread or
/// of another type.
pub fn string(read: &RegRead) -> Result<Option<String>, String> {
    match &read.got {
        Reg::Set(RegistryValue::String(s)) => Ok(Some(s.clone())),
        Reg::Set(other) => Err(format!("{}: {other}, not a string", read.path())),
        Reg::Absent => Ok(None),
        Reg::Unread(why) => Err(why.clone()),
    }
}

/// Where an effective value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A policy key (group policy or MDM).
    Policy,
    /// The local (non-policy) key.
    Local,
    /// Neither is set: Windows's documented default.
    Default,
    /// An api source (live or captured).
    Api,
}

/// An effective setting: its value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Effective<T> {
    pub value: T,
    pub origin: Origin,
}

/// The effective DWORD of a policy value that wins over a local one, else the
/// default (`Err`: one that decides could not be read).
pub fn policy_dword(
    policy: &RegRead,
    local: &RegRead,
    default: u32,
) -> Result<Effective<u32>, String> {
    if let Some(v) = dword(policy)? {
        return Ok(Effective {
            value: v,
            origin: Origin::Policy,
        });
    }
    Ok(match dword(local)? {
        Some(v) => Effective {
            value: v,
            origin: Origin::Local,
        },
        None => Effective {
            value: default,
            origin: Origin::Default,
        },
    })
}

/// Builds a verdict from what each part of a check found: any failure fails
/// (what could not be read is then `facts.unanswered`); else anything unknown
/// makes the verdict unknown; else it passes.
#[derive(Debug, Default)]
pub struct Verdict {
    fails: Vec<String>,
    unknowns: Vec<String>,
    passes: Vec<String>,
    unanswered: Vec<String>,
    pub evidence: Vec<Evidence>,
}

impl Verdict {
    pub fn fail(&mut self, why: impl Into<String>) {
        self.fails.push(why.into());
    }

    pub fn unknown(&mut self, why: impl Into<String>) {
        self.unknowns.push(why.into());
    }

    pub fn pass(&mut self, what: impl Into<String>) {
        self.passes.push(what.into());
    }

    /// A source that gave no answer but did not decide (a cross-check, an api
    /// source the registry stood in for): recorded whatever the verdict.
    pub fn unanswered(&mut self, why: impl Into<String>) {
        self.unanswered.push(why.into());
    }

    /// Keeps the evidence of registry reads that gave a value.
    pub fn read(&mut self, reads: &[&RegRead]) {
        self.evidence
            .extend(reads.iter().filter_map(|r| r.evidence()));
    }

    /// A pass that overrides what failed or was unknown so far (a third-party
    /// product standing in): the failures are dropped (the facts keep the state),
    /// the unknowns become unanswered.
    pub fn overrule(&mut self, pass: impl Into<String>) {
        self.fails.clear();
        self.unanswered.append(&mut self.unknowns);
        self.passes = vec![pass.into()];
    }

    /// A failure that another unread source could have overruled: it becomes
    /// unknown, saying what failed and why the rest is not known.
    pub fn fail_undecided(&mut self, why: &str) {
        if self.fails.is_empty() {
            return;
        }
        let failed = self.fails.join("; ");
        self.fails.clear();
        self.unknowns.push(format!("{failed}; {why}"));
    }

    pub fn status(&self) -> Status {
        if !self.fails.is_empty() {
            Status::Fail
        } else if !self.unknowns.is_empty() {
            Status::Unknown
        } else {
            Status::Pass
        }
    }

    /// The result: summary (or reason) from the parts, evidence, and
    /// `facts.unanswered` when something gave no answer.
    pub fn finish(self, id: &str) -> CheckResult {
        let status = self.status();
        let mut unanswered = self.unanswered;
        let r = match status {
            Status::Fail => {
                unanswered.extend(self.unknowns);
                CheckResult::new(id, Status::Fail, self.fails.join("; "))
            }
            Status::Unknown => unknown(id, self.unknowns.join("; ")),
            _ => CheckResult::new(id, Status::Pass, self.passes.join("; ")),
        };
        let r = r.evidences(self.evidence);
        if unanswered.is_empty() {
            r
        } else {
            r.fact("unanswered", unanswered)
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! What the system checks' tests share.
    use attest_proto::CheckResult;

    /// No result carries a `reason` unless undecided, and every result
    /// serialises.
    pub fn well_formed(r: &CheckResult) {
        use attest_proto::Status;
        match r.status {
            Status::Unknown | Status::NotApplicable => {
                assert!(r.reason.is_some(), "{r:?}")
            }
            _ => assert!(r.reason.is_none(), "{r:?}"),
        }
        assert!(serde_json::to_string(r).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use attest_proto::Evidence;

    fn reg(got: Reg) -> RegRead {
        RegRead {
            key: "K".into(),
            value: "V".into(),
            got,
            evidence: None,
        }
    }

    #[test]
    fn a_policy_value_wins_and_absent_means_the_default() {
        let set = |v| reg(Reg::Set(RegistryValue::Dword(v)));
        let absent = || reg(Reg::Absent);
        assert_eq!(
            policy_dword(&set(0), &set(1), 1),
            Ok(Effective {
                value: 0,
                origin: Origin::Policy
            })
        );
        assert_eq!(
            policy_dword(&absent(), &set(0), 1),
            Ok(Effective {
                value: 0,
                origin: Origin::Local
            })
        );
        assert_eq!(
            policy_dword(&absent(), &absent(), 1),
            Ok(Effective {
                value: 1,
                origin: Origin::Default
            })
        );
        // A policy value decides even when the local one is unreadable; an
        // unreadable policy never lets the local value decide.
        assert!(policy_dword(&set(1), &reg(Reg::Unread("x".into())), 1).is_ok());
        assert!(policy_dword(&reg(Reg::Unread("x".into())), &set(1), 1).is_err());
        // A DWORD stored as a string is not silently read.
        let text = reg(Reg::Set(RegistryValue::String("1".into())));
        assert!(dword(&text).unwrap_err().contains("not a REG_DWORD"));
    }

    #[test]
    fn service_start_four_is_disabled_and_absence_is_not_installed() {
        let h = FakeHost::windows()
            .reg_value(&format!("{SERVICES}\\A"), "Start", RegistryValue::Dword(4))
            .reg_value(&format!("{SERVICES}\\B"), "Start", RegistryValue::Dword(3))
            .reg_error(&format!("{SERVICES}\\C"), "access denied")
            .host();
        let t = crate::checks::Thresholds::default();
        let ctx = Context::new(&h, crate::host::fake::default_now(), &t);
        assert_eq!(service(&ctx, "A").0, Service::Disabled);
        assert_eq!(service(&ctx, "B").0, Service::Enabled(3));
        assert_eq!(service(&ctx, "B").0.fact().as_deref(), Some("manual"));
        assert_eq!(service(&ctx, "D").0, Service::Absent);
        assert!(matches!(service(&ctx, "C").0, Service::Unread(w) if w.contains("access denied")));
    }

    /// Secrets in the hives these checks read from (Winlogon's plaintext
    /// `DefaultPassword`, an LSA secret, a value in a user's hive) never reach a
    /// result, whatever the verdicts.
    #[test]
    fn no_secret_of_the_hives_reaches_any_result() {
        const SECRET: &str = "Hunter2-DefaultPassword-7f3a";
        let sz = |s: &str| RegistryValue::String(s.into());
        let h = FakeHost::windows()
            .reg_value(
                "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon",
                "DefaultPassword",
                sz(SECRET),
            )
            .reg_value(
                "SECURITY\\Policy\\Secrets\\DefaultPassword\\CurrVal",
                "",
                RegistryValue::Binary(SECRET.as_bytes().to_vec()),
            )
            .reg_value(
                "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList\\S-1-5-21-1-2-3-1001",
                "ProfileImagePath",
                sz("C:\\Users\\alice"),
            )
            .reg_user_value("alice", "Control Panel\\Desktop", "Wallpaper", sz(SECRET))
            .reg_user_value(
                "alice",
                "Control Panel\\Desktop",
                "ScreenSaveActive",
                sz("1"),
            );
        let checks: Vec<Box<dyn crate::checks::Check>> = vec![
            Box::new(time::TimeSync),
            Box::new(audit::AuditLogging),
            Box::new(firewall::Firewall),
            Box::new(screen_lock::ScreenLock),
            Box::new(boot::SecureBoot),
            Box::new(hardening::Uac),
            Box::new(hardening::Smb1Disabled),
            Box::new(super::super::autoupdate::AutoUpdates),
        ];
        for c in &checks {
            let r = h.run(c.as_ref());
            let text = serde_json::to_string(&r).unwrap();
            assert!(!text.contains(SECRET), "{text}");
            assert!(!text.contains(&hex::encode(SECRET)), "{text}");
        }
    }

    /// The checks on a root made of real hive files (the test writer's):
    /// `CurrentControlSet` resolved through `Select\Current`, a user's
    /// `NTUSER.DAT` found from `ProfileImagePath`, the private profile read as
    /// `StandardProfile`, and evidence naming each hive file with its SHA-256.
    #[test]
    fn offline_hive_files_decide_the_system_checks() {
        use crate::host::regf::writer::{Tree, hive};
        const SYSTEM: &str = r#"Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\SYSTEM\Select]
"Current"=dword:00000002

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\W32Time\Parameters]
"Type"="NoSync"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Control\ProductOptions]
"ProductType"="WinNT"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Control\SecureBoot\State]
"UEFISecureBootEnabled"=dword:00000001

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\W32Time]
"Start"=dword:00000003

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\W32Time\Parameters]
"Type"="NT5DS"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\EventLog]
"Start"=dword:00000002

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\MpsSvc]
"Start"=dword:00000002

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\SharedAccess\Parameters\FirewallPolicy\StandardProfile]
"EnableFirewall"=dword:00000000

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\wuauserv]
"Start"=dword:00000003

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\UsoSvc]
"Start"=dword:00000002
"#;
        const SOFTWARE: &str = r#"Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion]
"CurrentBuild"="26100"
"EditionID"="Enterprise"
"InstallationType"="Client"

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList\S-1-5-18]
"ProfileImagePath"="%systemroot%\\system32\\config\\systemprofile"

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList\S-1-5-21-1-2-3-1001]
"ProfileImagePath"="C:\\Users\\alice"

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System]
"ConsentPromptBehaviorAdmin"=dword:00000002
"#;
        const ALICE: &str = r#"Windows Registry Editor Version 5.00

[HKEY_CURRENT_USER\Control Panel\Desktop]
"ScreenSaveActive"="1"
"ScreenSaverIsSecure"="1"
"ScreenSaveTimeOut"="600"
"#;
        let make = |text: &str, prefix: &str| hive(&Tree::from_reg(text, prefix).unwrap());
        let software = make(SOFTWARE, "HKEY_LOCAL_MACHINE\\SOFTWARE");
        let h = FakeHost::windows()
            .file(
                "/Windows/System32/config/SYSTEM",
                make(SYSTEM, "HKEY_LOCAL_MACHINE\\SYSTEM"),
            )
            .file("/Windows/System32/config/SOFTWARE", &software)
            .file("/Users/alice/NTUSER.DAT", make(ALICE, "HKEY_CURRENT_USER"));
        let status = |c: &dyn crate::checks::Check| {
            let r = h.run(c);
            testing::well_formed(&r);
            r
        };
        // ControlSet002 (NT5DS), not ControlSet001 (NoSync).
        let r = status(&time::TimeSync);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.evidence.iter().any(|e| matches!(e,
                Evidence::File { path, excerpt, sha256 }
                    if path == "/Windows/System32/config/SYSTEM"
                        && excerpt.contains("NT5DS")
                        && sha256 != &crate::checks::sha256(b""))),
            "{:?}",
            r.evidence
        );
        // StandardProfile off: the private profile is off; a client whose
        // Security Center is not known offline.
        let r = status(&firewall::Firewall);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(
            r.reason
                .as_deref()
                .unwrap()
                .contains("off for the Private profile")
        );
        // Alice's screen saver, read from her NTUSER.DAT.
        let r = status(&screen_lock::ScreenLock);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.evidence.iter().any(|e| matches!(e,
                Evidence::File { path, .. } if path == "/Users/alice/NTUSER.DAT")),
            "{:?}",
            r.evidence
        );
        assert_eq!(status(&boot::SecureBoot).status, Status::Pass);
        let r = status(&hardening::Uac);
        assert_eq!(r.status, Status::Pass);
        assert_eq!(
            r.facts["enable_lua"],
            serde_json::json!({"value": 1, "default": true})
        );
        // Neither SMB 1.0 driver is installed.
        assert_eq!(status(&hardening::Smb1Disabled).status, Status::Pass);
        assert_eq!(status(&audit::AuditLogging).status, Status::Unknown);
        let r = status(&super::super::autoupdate::AutoUpdates);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["product_kind"], "client");
    }

    proptest::proptest! {
        /// Whatever text or JSON the host holds, the parsers answer without
        /// panicking; what they accept is what the rules say.
        #[test]
        fn host_text_never_panics(text in "\\PC{0,120}", n in proptest::prelude::any::<u64>()) {
            let _ = super::super::autoupdate::parse_pause(&text);
            if let Some(dir) = screen_lock::profile_dir(&text) {
                proptest::prop_assert!(!dir.contains(['\\', '/']) && !dir.is_empty());
            }
            let _ = screen_lock::is_human_sid(&text);
            if let time::SyncType::Syncs(w) = time::parse_type(&text) {
                proptest::prop_assert!(["NTP", "NT5DS", "ALLSYNC"].contains(&w.to_ascii_uppercase().as_str()));
            }
            let json = serde_json::json!({
                "subcategories": [{"guid": &text, "auditing_information": n}],
                "profiles": [{"profile": &text, "type": n, "enabled": n % 2 == 0}],
                "firewall": [{"name": &text, "product_state": n}],
                "instances": [{"Name": &text, "InstallState": n}],
                "FirmwareType": n,
            });
            let _ = audit::logon_bits(&json);
            let _ = firewall::parse_profiles(&json);
            let _ = firewall::parse_wsc_firewalls(&json);
            let _ = hardening::smb1_install_state(&json);
            let _ = boot::parse_firmware(&json);
        }
    }

    #[test]
    fn a_failure_decides_over_an_unknown_which_is_then_unanswered() {
        let mut v = Verdict::default();
        v.unknown("x unread");
        v.pass("y fine");
        assert_eq!(v.status(), Status::Unknown);
        v.fail("z off");
        let r = v.finish("system.uac");
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.summary, "z off");
        assert_eq!(r.facts["unanswered"], serde_json::json!(["x unread"]));
        assert!(r.reason.is_none());
    }
}
