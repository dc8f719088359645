//! The macOS checks (`docs/checks.md`, "macOS"). A check for a Mac goes in this
//! folder: a module per area, its parsers pure functions over the plist, file or
//! captured command output they read, listed in [`checks`].
//!
//! Until a check is here, the registry answers its id `unknown` ("not yet
//! implemented for macOS"); the ids that never apply on a Mac answer
//! `not_applicable` from the catalogue.
//!
//! Shared readers: [`plist`] (plists in command output), [`prefs`] (plist files,
//! and the effective value of a device-level preference key: managed, then local,
//! then the documented default) and [`version`] (the macOS version under the root).

pub mod accounts;
pub mod disk;
pub mod inventory;
pub mod ioreg;
pub mod login;
pub mod patch;
pub mod plist;
pub mod prefs;
pub mod remote;
pub mod sudo;
pub mod system;
pub mod version;

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Check, Context};
use crate::host::{CommandOutput, Source, SourceError};

/// Outputs of commands several checks read, by source id, for one run.
#[derive(Default)]
struct CommandMemo(Mutex<HashMap<&'static str, Result<CommandOutput, SourceError>>>);

/// Runs (or replays) the command `source` once per run: a second check that reads
/// it (`inventory.host` reads what `system.sip` and `system.secure_boot` ran) gets
/// the same output.
pub fn command_once(ctx: &Context<'_>, source: &Source) -> Result<CommandOutput, SourceError> {
    let memo = ctx.memo(|_| CommandMemo::default());
    if let Ok(seen) = memo.0.lock()
        && let Some(found) = seen.get(source.id)
    {
        return found.clone();
    }
    let out = ctx.host.command(source);
    if let Ok(mut seen) = memo.0.lock() {
        seen.insert(source.id, out.clone());
    }
    out
}

/// Every macOS check.
pub fn checks() -> Vec<Box<dyn Check>> {
    let mut checks: Vec<Box<dyn Check>> = vec![
        Box::new(disk::RootEncrypted),
        Box::new(disk::FixedVolumesEncrypted),
        Box::new(disk::SwapEncrypted),
        Box::new(disk::RecoveryKeyEscrow),
        Box::new(login::GuestDisabled),
        Box::new(login::AutoLoginDisabled),
        Box::new(remote::MacSshRootLogin),
        Box::new(remote::MacSshPasswordAuth),
        Box::new(sudo::SudoNopasswd),
        Box::new(inventory::host::MacInventoryHost),
        Box::new(inventory::software::MacInventorySoftware),
    ];
    checks.extend(patch::checks());
    checks.extend(accounts::checks());
    checks.extend(system::checks());
    checks
}

#[cfg(test)]
mod tests {
    use super::disk::testdata::mac;
    use crate::checks::{Context, Thresholds, run};
    use crate::host::sources::MACOS_SYSCTL_SWAPUSAGE;
    use attest_proto::Status;

    /// The registry runs the macOS disk checks on a Mac root: they are no longer
    /// "not yet implemented".
    #[test]
    fn the_registry_runs_the_disk_checks_on_a_mac() {
        let host = mac("FileVault is On.\n", true, false)
            .api(
                &MACOS_SYSCTL_SWAPUSAGE,
                serde_json::json!({"xsu_total": 0, "xsu_avail": 0, "xsu_used": 0,
                    "xsu_pagesize": 16384, "xsu_encrypted": 1}),
            )
            .host();
        let thresholds = Thresholds::default();
        let ctx = Context::new(&host, "2026-11-25T12:00:00Z".parse().unwrap(), &thresholds);
        let ids = [
            "disk.root_encrypted",
            "disk.fixed_volumes_encrypted",
            "disk.swap_encrypted",
            "disk.recovery_key_escrow",
        ];
        let only: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
        let results = run(&ctx, &only);
        let got: Vec<(&str, Status)> = results
            .iter()
            .map(|r| (r.check.as_str(), r.status))
            .collect();
        assert_eq!(
            got,
            vec![
                ("disk.root_encrypted", Status::Pass),
                ("disk.fixed_volumes_encrypted", Status::Pass),
                ("disk.swap_encrypted", Status::Pass),
                // No haspersonalrecoverykey capture: unknown, not "not implemented".
                ("disk.recovery_key_escrow", Status::Unknown),
            ]
        );
        let escrow = &results[3];
        assert!(
            escrow.reason.as_deref().unwrap().contains("not captured"),
            "{escrow:?}"
        );
        for r in &results {
            assert!(
                !r.reason
                    .as_deref()
                    .unwrap_or_default()
                    .contains("not yet implemented"),
                "{r:?}"
            );
        }
    }
}
