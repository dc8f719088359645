//! The Windows checks (`docs/checks.md`, "Windows"). A check for Windows goes in
//! this folder: a module per area, its parsers pure functions over registry values,
//! hive files and captured api results, listed in [`checks`]. Windows runs no
//! commands: every source is a registry read, a Win32 call, WMI or COM.
//!
//! Until a check is here, the registry answers its id `unknown` ("not yet
//! implemented for Windows"); the ids that never apply on Windows answer
//! `not_applicable` from the catalogue.
//!
//! ```text
//! windows/
//!   mod.rs        registry reads, %SystemDrive%, the list of checks
//!   bitlocker.rs  Win32_EncryptableVolume as captured: parser and volume states
//!   disk.rs       disk.root_encrypted, disk.fixed_volumes_encrypted,
//!                 disk.swap_encrypted, disk.recovery_key_escrow
//!   wua.rs        the Windows Update Agent snapshot: security_updates_pending,
//!                 index_fresh, reboot_pending
//!   support.rs    patch.os_supported and agent/data/windows-support.toml
//!   accounts/     the accounts checks (mod.rs) and the SAM's binary values (sam.rs)
//!   directory.rs  the directory join state (none, ad, entra, hybrid)
//!   autoupdate.rs patch.auto_updates
//!   system/       system.time_sync, audit_logging, firewall, screen_lock,
//!                 secure_boot, uac, smb1_disabled
//!   malware.rs    malware.protection: Security Center, Defender, EDR services
//!   inventory.rs  inventory.host, inventory.software and the report's host block
//!   smbios.rs     the raw SMBIOS table (GetSystemFirmwareTable 'RSMB'): parser
//! ```

pub mod accounts;
pub mod autoupdate;
pub mod bitlocker;
pub mod directory;
pub mod disk;
pub mod inventory;
pub mod malware;
pub mod smbios;
pub mod support;
pub mod system;
pub mod wua;

use attest_proto::Evidence;
use serde_json::Value;

use super::{Check, Context, api_evidence, registry_evidence};
use crate::host::Hkey;
use crate::host::sources::WIN_SYSTEM_DRIVE;
use crate::host::{RegistryValue, SourceError};

/// Every Windows check.
pub fn checks() -> Vec<Box<dyn Check>> {
    vec![
        Box::new(disk::RootEncrypted),
        Box::new(disk::FixedVolumesEncrypted),
        Box::new(disk::SwapEncrypted),
        Box::new(disk::RecoveryKeyEscrow),
        Box::new(support::OsSupported),
        Box::new(wua::SecurityUpdatesPending),
        Box::new(wua::IndexFresh),
        Box::new(autoupdate::AutoUpdates),
        Box::new(wua::RebootPending),
        Box::new(accounts::NoEmptyPasswords),
        Box::new(accounts::PasswordMaxAge),
        Box::new(accounts::PasswordMinLength),
        Box::new(accounts::Lockout),
        Box::new(accounts::SshPasswordAuth),
        Box::new(accounts::PrivilegedUsers),
        Box::new(accounts::GuestDisabled),
        Box::new(accounts::AutoLoginDisabled),
        Box::new(accounts::Laps),
        Box::new(system::time::TimeSync),
        Box::new(system::audit::AuditLogging),
        Box::new(system::firewall::Firewall),
        Box::new(system::screen_lock::ScreenLock),
        Box::new(system::boot::SecureBoot),
        Box::new(system::hardening::Uac),
        Box::new(system::hardening::Smb1Disabled),
        Box::new(malware::MalwareProtection),
        Box::new(inventory::WinInventoryHost),
        Box::new(inventory::WinInventorySoftware),
    ]
}

/// The longest piece of host text (a title, a value) quoted in a summary or
/// reason.
const MAX_QUOTE: usize = 200;

/// Host text for a summary or reason: cut at [`MAX_QUOTE`] characters, control
/// characters escaped.
pub(crate) fn clip(text: &str) -> String {
    let cut: String = text.chars().take(MAX_QUOTE).collect();
    let escaped: String = cut
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect();
    if text.chars().count() > MAX_QUOTE {
        format!("{escaped}…")
    } else {
        escaped
    }
}

/// What a registry read gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reg {
    Set(RegistryValue),
    /// The key or the value does not exist.
    Absent,
    /// Could not be read (offline for now, denied, failed): why.
    Unread(String),
}

/// One registry value as read for a check: where, and what it gave.
#[derive(Debug, Clone, PartialEq)]
pub struct RegRead {
    pub key: String,
    pub value: String,
    pub got: Reg,
    /// What the read is evidence of ([`registry_evidence`]: the hive file and its
    /// SHA-256 offline, the api call live), when a value was read.
    pub evidence: Option<Evidence>,
}

impl RegRead {
    /// `HKLM\key\value`.
    pub fn path(&self) -> String {
        format!("HKLM\\{}\\{}", self.key, self.value)
    }

    /// A DWORD value; `None` when absent, unread or of another type.
    pub fn dword(&self) -> Option<u32> {
        match &self.got {
            Reg::Set(RegistryValue::Dword(v)) => Some(*v),
            _ => None,
        }
    }

    /// A REG_SZ value; `None` when absent, unread or of another type.
    pub fn string(&self) -> Option<&str> {
        match &self.got {
            Reg::Set(RegistryValue::String(s)) => Some(s),
            _ => None,
        }
    }

    /// Why it could not be read.
    pub fn unread(&self) -> Option<String> {
        match &self.got {
            Reg::Unread(why) => Some(why.clone()),
            _ => None,
        }
    }

    /// Evidence of the value that was read: the hive file (path, SHA-256 of its
    /// bytes) offline, the registry call live.
    pub fn evidence(&self) -> Option<Evidence> {
        self.evidence.clone()
    }
}

/// Reads `HKLM\key\value` through the host.
pub fn read_reg(ctx: &Context<'_>, key: &str, value: &str) -> RegRead {
    let (got, evidence) = match ctx.host.registry(key, value) {
        Ok(v) => {
            let evidence = registry_evidence(ctx.host, &Hkey::Machine, key, value, &v);
            (Reg::Set(v), Some(evidence))
        }
        Err(SourceError::NotInstalled { .. }) => (Reg::Absent, None),
        Err(e) => (Reg::Unread(e.to_string()), None),
    };
    RegRead {
        key: key.to_owned(),
        value: value.to_owned(),
        got,
        evidence,
    }
}

/// The `instances` array of a WMI capture (`{"instances": [...]}`), or why not;
/// `what` names the source.
pub fn instances<'a>(value: &'a Value, what: &str) -> Result<&'a [Value], String> {
    value
        .get("instances")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| format!("{what}: no instances array"))
}

/// `X:` (upper case) from a path or drive that starts with a drive letter and a
/// colon: `C:\Windows\system32` → `C:`.
pub fn drive_of(path: &str) -> Option<String> {
    let mut chars = path.chars();
    let letter = chars.next().filter(char::is_ascii_alphabetic)?;
    (chars.next() == Some(':')).then(|| format!("{}:", letter.to_ascii_uppercase()))
}

/// `%SystemDrive%`: `win.api.system_drive`, live (the drive of
/// `GetSystemDirectoryW`) or recorded. Never assumed `C:`.
pub fn system_drive(ctx: &Context<'_>) -> Result<(String, Evidence), String> {
    let out = ctx.host.api(&WIN_SYSTEM_DRIVE).map_err(|e| e.to_string())?;
    let drive = parse_system_drive(&out.value)?;
    let evidence = api_evidence(&out, format!("SystemDrive = {drive}"));
    Ok((drive, evidence))
}

/// The drive of `{"SystemDrive": "C:"}` (4.1-style layout of `win.api.system_drive`).
pub fn parse_system_drive(value: &Value) -> Result<String, String> {
    let what = WIN_SYSTEM_DRIVE.describe();
    let text = value
        .get("SystemDrive")
        .ok_or_else(|| format!("{what}: SystemDrive not captured"))?
        .as_str()
        .ok_or_else(|| format!("{what}: SystemDrive is not a string"))?;
    match drive_of(text) {
        Some(d) if text.trim_end_matches('\\').len() == 2 => Ok(d),
        _ => Err(format!(
            "{what}: SystemDrive {:?} is not a drive letter",
            clip(text)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{Thresholds, run};
    use crate::host::fake::FakeHost;
    use crate::host::sources::{WIN_ENCRYPTABLE_VOLUMES, WIN_VOLUMES, WIN_WUA_SNAPSHOT};
    use attest_proto::Status;
    use serde_json::json;

    /// The registry runs the Windows checks of this folder on a Windows root (no
    /// longer "not yet implemented"), and nothing of the planted recovery
    /// password or protector IDs reaches any result.
    #[test]
    fn the_registry_runs_the_windows_checks_and_leaks_no_key_material() {
        use bitlocker::testdata::{SECRETS, protected};
        let host = FakeHost::windows()
            .api(
                &WIN_ENCRYPTABLE_VOLUMES,
                json!({"instances": [protected("C:", "c")]}),
            )
            .api(&WIN_SYSTEM_DRIVE, json!({"SystemDrive": "C:"}))
            .api(
                &WIN_VOLUMES,
                json!({"instances": [{"DeviceID": "\\\\?\\Volume{c}\\", "DriveLetter": "C:",
                    "DriveType": 3, "FileSystem": "NTFS", "Name": "C:\\"}]}),
            )
            .api(
                &WIN_WUA_SNAPSHOT,
                json!({"result_code": 2, "hresult": 0, "updates": [],
                    "last_search_success_date": "2026-11-24T09:00:00Z", "reboot_required": false}),
            )
            .host();
        let thresholds = Thresholds::default();
        let ctx = Context::new(&host, "2026-11-25T12:00:00Z".parse().unwrap(), &thresholds);
        let ids: Vec<String> = checks().iter().map(|c| c.id().to_owned()).collect();
        assert_eq!(ids.len(), 28);
        let results = run(&ctx, &ids);
        let got: Vec<(&str, Status)> = results
            .iter()
            .map(|r| (r.check.as_str(), r.status))
            .collect();
        assert_eq!(
            got,
            vec![
                ("disk.root_encrypted", Status::Pass),
                ("disk.fixed_volumes_encrypted", Status::Pass),
                // The registry is not readable on this root yet.
                ("disk.swap_encrypted", Status::Unknown),
                ("disk.recovery_key_escrow", Status::Unknown),
                ("patch.os_supported", Status::Unknown),
                ("patch.security_updates_pending", Status::Pass),
                ("patch.index_fresh", Status::Pass),
                ("patch.auto_updates", Status::Unknown),
                ("patch.reboot_pending", Status::Unknown),
                // No SAM, SYSTEM or SOFTWARE hive on this root.
                ("accounts.no_empty_passwords", Status::Unknown),
                ("accounts.password_max_age", Status::Unknown),
                ("accounts.password_min_length", Status::Unknown),
                ("accounts.lockout", Status::Unknown),
                ("accounts.ssh_password_auth", Status::Unknown),
                ("accounts.privileged_users", Status::Unknown),
                ("accounts.guest_disabled", Status::Unknown),
                ("accounts.auto_login_disabled", Status::Unknown),
                ("accounts.laps", Status::Unknown),
                ("system.time_sync", Status::Unknown),
                ("system.audit_logging", Status::Unknown),
                ("system.firewall", Status::Unknown),
                ("system.screen_lock", Status::Unknown),
                ("system.secure_boot", Status::Unknown),
                ("system.uac", Status::Unknown),
                ("system.smb1_disabled", Status::Unknown),
                // Defender's registry unread, the service table unread.
                ("malware.protection", Status::Unknown),
                ("inventory.host", Status::Info),
                // Neither uninstall key readable.
                ("inventory.software", Status::Unknown),
            ]
        );
        let text = serde_json::to_string(&results).unwrap();
        for secret in SECRETS {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(!text.contains("not yet implemented"), "{text}");
    }

    #[test]
    fn the_system_drive_is_a_letter_and_a_colon() {
        assert_eq!(
            parse_system_drive(&json!({"SystemDrive": "D:"})),
            Ok("D:".into())
        );
        assert_eq!(
            parse_system_drive(&json!({"SystemDrive": "e:\\"})),
            Ok("E:".into())
        );
        for bad in [
            json!({"SystemDrive": "C"}),
            json!({"SystemDrive": "CD:"}),
            json!({"SystemDrive": 3}),
            json!({}),
        ] {
            assert!(parse_system_drive(&bad).is_err(), "{bad}");
        }
        assert_eq!(drive_of("c:\\Windows\\system32"), Some("C:".into()));
        assert_eq!(drive_of("\\\\?\\Volume{x}"), None);
    }

    #[test]
    fn clipped_text_is_bounded_and_escaped() {
        assert_eq!(clip("a\nb"), "a\\nb");
        let long = "x".repeat(300);
        assert_eq!(clip(&long).chars().count(), MAX_QUOTE + 1);
    }
}
