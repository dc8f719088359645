//! `disk.root_encrypted` on macOS: FileVault is on and complete for the booted
//! Data volume.

use attest_proto::{CheckResult, Status};

use super::{
    FileVault, apfs_list, crypto_users_fact, fdesetup_status, parse_disk_info, read_command,
};
use crate::checks::{Check, Context, command_evidence, unknown};
use crate::host::sources::MACOS_DISKUTIL_INFO_DATA;

/// Two sources must agree, and a volume's "Encryption" flag never counts (T2 and
/// Apple silicon encrypt every internal volume in hardware, FileVault or not):
///
/// - pass: `fdesetup status` says exactly `FileVault is On.` with no progress line,
///   **and** the booted Data volume (the `DeviceIdentifier` of `diskutil info
///   -plist /System/Volumes/Data`, looked up in `diskutil apfs list -plist`) has
///   `FileVault` true and `CryptoMigrationOn` false;
/// - fail: FileVault is off (also "will be enabled after the next restart" and
///   deferred enablement, said in the summary) and the Data volume agrees
///   (`FileVault` false); encryption or decryption in progress (`facts.percent`
///   N, `null` for `Pending`), whatever the volume's flags say mid-conversion;
/// - unknown: the sources disagree (FileVault on but the volume's `FileVault` false
///   or `CryptoMigrationOn` true; FileVault off but the volume's `FileVault` true),
///   both recorded; a line outside the catalogue's list; a command failed or was
///   not run (offline without captures); the Data volume is not in the APFS list
///   or lacks a flag.
///
/// Where the catalogue is silent: every one of the three sources is needed even
/// for a fail, since the rule is that the two sources agree.
pub struct RootEncrypted;

const ID: &str = "disk.root_encrypted";

impl Check for RootEncrypted {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let fde_memo = fdesetup_status(ctx);
        let fde = match &fde_memo.0 {
            Ok(f) => f,
            Err(e) => return unknown(ID, &e.why).evidences(e.evidence.clone()),
        };
        let state = fde.value.state();
        let crypto_users = crypto_users_fact(ctx);
        let base = |r: CheckResult| {
            r.fact("filevault", state.label())
                .fact("percent", fde.value.percent())
                .fact("crypto_users", &crypto_users)
                .evidence(fde.evidence())
        };
        let info = match read_command(ctx, &MACOS_DISKUTIL_INFO_DATA, |s| {
            parse_disk_info(s.as_bytes())
        }) {
            Ok(i) => i,
            Err(e) => return base(unknown(ID, e.why)).evidences(e.evidence),
        };
        let info_evidence = command_evidence(
            &info.output,
            format!("DeviceIdentifier = {}", info.value.device),
        );
        let apfs_memo = apfs_list(ctx);
        let apfs = match &apfs_memo.0 {
            Ok(a) => a,
            Err(e) => {
                return base(unknown(ID, &e.why))
                    .evidence(info_evidence)
                    .evidences(e.evidence.clone());
            }
        };
        let device = &info.value.device;
        let Some(data) = apfs
            .value
            .iter()
            .flat_map(|c| &c.volumes)
            .find(|v| &v.device == device)
        else {
            return base(unknown(
                ID,
                format!(
                    "the booted Data volume {device} (diskutil info /System/Volumes/Data) is not \
                     in diskutil apfs list"
                ),
            ))
            .evidence(info_evidence)
            .evidence(command_evidence(&apfs.output, "(no such volume)"));
        };
        let with_volume = |r: CheckResult| {
            base(r)
                .fact("data_volume", data.facts())
                .evidence(info_evidence.clone())
                .evidence(command_evidence(&apfs.output, data.excerpt()))
        };
        let (Some(volume_fv), Some(migrating)) = (data.filevault, data.crypto_migration_on) else {
            return with_volume(unknown(
                ID,
                format!(
                    "diskutil apfs list gives no FileVault or CryptoMigrationOn flag for the Data \
                     volume {device}"
                ),
            ));
        };
        let said = fde.value.describe();
        let disagree = |volume: &str| {
            with_volume(unknown(
                ID,
                format!(
                    "fdesetup status and diskutil disagree: fdesetup says \"{}\", the Data volume \
                     {device} ({}) has {volume}",
                    fde.value.lines.join(" "),
                    data.name
                ),
            ))
        };
        match state {
            FileVault::On if !volume_fv => disagree("FileVault false"),
            FileVault::On if migrating => disagree("CryptoMigrationOn true"),
            FileVault::On => with_volume(CheckResult::new(
                ID,
                Status::Pass,
                format!(
                    "FileVault is on; the Data volume {device} ({}) is FileVault-encrypted",
                    data.name
                ),
            )),
            FileVault::Off | FileVault::PendingRestart if volume_fv => disagree("FileVault true"),
            FileVault::Off | FileVault::PendingRestart => with_volume(CheckResult::new(
                ID,
                Status::Fail,
                format!("{said}; the Data volume {device} is not FileVault-encrypted"),
            )),
            FileVault::Encrypting | FileVault::Decrypting => with_volume(CheckResult::new(
                ID,
                Status::Fail,
                format!("{said} on the Data volume {device}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::*;
    use crate::host::fake::FakeHost;
    use crate::host::sources::{MACOS_DISKUTIL_APFS_LIST, MACOS_FDESETUP_STATUS};
    use attest_proto::Evidence;
    use serde_json::json;

    fn command_excerpt<'a>(r: &'a CheckResult, program_arg: &str) -> Option<&'a str> {
        r.evidence.iter().find_map(|e| match e {
            Evidence::Command { argv, excerpt, .. } if argv.iter().any(|a| a == program_arg) => {
                Some(excerpt.as_str())
            }
            _ => None,
        })
    }

    #[test]
    fn filevault_on_and_the_data_volume_agreeing_passes() {
        let r = mac("FileVault is On.\n", true, false).run(&RootEncrypted);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(
            r.summary,
            "FileVault is on; the Data volume disk3s5 (Macintosh HD - Data) is FileVault-encrypted"
        );
        assert_eq!(r.facts["filevault"], "on");
        assert_eq!(r.facts["percent"], json!(null));
        assert_eq!(r.facts["data_volume"]["device"], "disk3s5");
        assert_eq!(r.facts["data_volume"]["roles"], json!(["Data"]));
        assert_eq!(r.facts["data_volume"]["filevault"], true);
        assert_eq!(r.facts["data_volume"]["crypto_migration_on"], false);
        assert_eq!(command_excerpt(&r, "status"), Some("FileVault is On."));
        assert_eq!(
            command_excerpt(&r, "/System/Volumes/Data"),
            Some("DeviceIdentifier = disk3s5")
        );
        assert_eq!(
            command_excerpt(&r, "apfs"),
            Some(
                "disk3s5 'Macintosh HD - Data' roles [Data] FileVault true CryptoMigrationOn false"
            )
        );
    }

    /// Pitfall 5.1: on T2 and Apple silicon every volume is hardware-encrypted
    /// (`Encryption` true in the list); with FileVault off that is a fail.
    #[test]
    fn a_hardware_encrypted_volume_without_filevault_fails() {
        let fake = mac("FileVault is Off.\n", false, false);
        let list = fake
            .host()
            .command(&MACOS_DISKUTIL_APFS_LIST)
            .unwrap()
            .stdout;
        assert!(list.contains("<key>Encryption</key>\n\t\t\t\t\t<true/>"));
        let r = fake.run(&RootEncrypted);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(
            r.summary,
            "FileVault is off; the Data volume disk3s5 is not FileVault-encrypted"
        );
        assert_eq!(r.facts["filevault"], "off");
        assert_eq!(r.facts["data_volume"]["filevault"], false);
    }

    #[test]
    fn enablement_after_restart_and_deferred_enablement_fail_saying_so() {
        let r = mac(
            "FileVault is Off, but will be enabled after the next restart.\n",
            false,
            false,
        )
        .run(&RootEncrypted);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.facts["filevault"], "pending_restart");
        assert!(r.summary.contains("will be enabled after the next restart"));
        let r = mac(
            "FileVault is Off.\nDeferred enablement appears to be active for user 'alice'.\n",
            false,
            false,
        )
        .run(&RootEncrypted);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.facts["filevault"], "pending_restart");
        assert!(r.summary.contains("deferred enablement"), "{}", r.summary);
    }

    #[test]
    fn a_conversion_in_progress_fails_with_its_percent() {
        let r = mac(
            "FileVault is On.\nEncryption in progress: Percent completed = 37.5\n",
            true,
            true,
        )
        .run(&RootEncrypted);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["filevault"], "encrypting");
        assert_eq!(r.facts["percent"], json!(37.5));
        assert_eq!(
            r.summary,
            "FileVault encryption is in progress (37.5% done) on the Data volume disk3s5"
        );
        let r = mac(
            "FileVault is On.\nEncryption in progress: Pending\n",
            false,
            false,
        )
        .run(&RootEncrypted);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.facts["percent"], json!(null));
        assert!(r.facts.contains_key("percent"));
        let r = mac(
            "FileVault is On.\nDecryption in progress: Percent completed = 12\n",
            true,
            true,
        )
        .run(&RootEncrypted);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.facts["filevault"], "decrypting");
        assert_eq!(r.facts["percent"], json!(12.0));
    }

    #[test]
    fn sources_that_disagree_are_unknown_with_both_recorded() {
        for (status, fv, cmo, has, state) in [
            ("FileVault is On.\n", false, false, "FileVault false", "on"),
            (
                "FileVault is On.\n",
                true,
                true,
                "CryptoMigrationOn true",
                "on",
            ),
            ("FileVault is Off.\n", true, false, "FileVault true", "off"),
        ] {
            let r = mac(status, fv, cmo).run(&RootEncrypted);
            assert_eq!(r.status, Status::Unknown, "{status} {fv} {cmo}");
            let reason = r.reason.as_deref().unwrap();
            assert!(reason.contains("disagree"), "{reason}");
            assert!(reason.contains(status.trim()), "{reason}");
            assert!(reason.contains(has), "{reason}");
            assert_eq!(r.facts["filevault"], state);
            assert_eq!(r.facts["data_volume"]["filevault"], fv);
            assert!(command_excerpt(&r, "status").is_some());
            assert!(command_excerpt(&r, "apfs").is_some());
        }
    }

    #[test]
    fn a_line_outside_the_list_is_unknown_and_quoted() {
        let r = mac("FileVault ist aktiviert.\n", true, false).run(&RootEncrypted);
        assert_eq!(r.status, Status::Unknown);
        let reason = r.reason.as_deref().unwrap();
        assert!(reason.contains("\"FileVault ist aktiviert.\""), "{reason}");
        assert_eq!(command_excerpt(&r, "status"), Some("(not understood)"));
    }

    #[test]
    fn offline_without_captures_is_unknown() {
        let r = FakeHost::macos().run(&RootEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert_eq!(
            r.reason.as_deref(),
            Some("/usr/bin/fdesetup: live sources are not run on an offline root")
        );
    }

    #[test]
    fn a_failed_or_missing_source_is_unknown() {
        let r = FakeHost::macos()
            .command(&MACOS_FDESETUP_STATUS, 0, "FileVault is On.\n")
            .source_error(&MACOS_DISKUTIL_INFO_DATA, "timed out")
            .run(&RootEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.as_deref().unwrap().contains("timed out"));
        assert_eq!(r.facts["filevault"], "on");

        let r = FakeHost::macos()
            .command(&MACOS_FDESETUP_STATUS, 1, "")
            .run(&RootEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert!(
            r.reason.as_deref().unwrap().contains("exit code 1"),
            "{r:?}"
        );

        // The Data volume is not in the list.
        let r = mac("FileVault is On.\n", true, false)
            .command(&MACOS_DISKUTIL_INFO_DATA, 0, &data_volume_info("disk9s9"))
            .run(&RootEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.as_deref().unwrap().contains("disk9s9"), "{r:?}");

        // The APFS list is not captured.
        let r = FakeHost::macos()
            .command(&MACOS_FDESETUP_STATUS, 0, "FileVault is On.\n")
            .command(&MACOS_DISKUTIL_INFO_DATA, 0, &data_volume_info("disk3s5"))
            .run(&RootEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert!(
            r.reason.as_deref().unwrap().contains("not captured"),
            "{r:?}"
        );
    }

    /// The users that can unlock the volume are recorded, and never decide: the
    /// verdict is the same with them, without them, and when their list fails.
    #[test]
    fn crypto_users_are_recorded_never_gating() {
        use crate::host::sources::MACOS_DISKUTIL_CRYPTO_USERS;
        let with = mac("FileVault is On.\n", true, false)
            .command(&MACOS_DISKUTIL_CRYPTO_USERS, 0, &crypto_users_plist())
            .run(&RootEncrypted);
        assert_eq!(with.status, Status::Pass, "{with:?}");
        assert_eq!(
            with.facts["crypto_users"],
            json!([
                {"uuid": "5B0E1F3A-8C1D-4D47-9E2B-0A1B2C3D4E5F", "type": "LocalOpenDirectory"},
                {"uuid": "EBC6C064-1111-4222-8333-00306543ECAC", "type": "PersonalRecovery"}
            ])
        );
        // FileVault off with crypto users present: still a fail (pitfall 5.1's
        // mirror: a crypto user is not FileVault).
        let off = mac("FileVault is Off.\n", false, false)
            .command(&MACOS_DISKUTIL_CRYPTO_USERS, 0, &crypto_users_plist())
            .run(&RootEncrypted);
        assert_eq!(off.status, Status::Fail, "{off:?}");
        let failed = mac("FileVault is On.\n", true, false)
            .command(&MACOS_DISKUTIL_CRYPTO_USERS, 1, "")
            .run(&RootEncrypted);
        assert_eq!(failed.status, Status::Pass, "{failed:?}");
        assert!(
            failed.facts["crypto_users"]["not_read"]
                .as_str()
                .unwrap()
                .contains("exit code 1"),
            "{failed:?}"
        );
    }
}
