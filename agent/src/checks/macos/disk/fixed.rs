//! `disk.fixed_volumes_encrypted` on macOS: every Data or user-made volume of every
//! internal APFS container has FileVault on and complete.

use attest_proto::{CheckResult, Status};
use serde_json::{Value, json};

use super::{
    ApfsContainer, apfs_list, parse_disk_info, parse_internal_plain_volumes, read_command,
};
use crate::checks::{Check, Context, command_evidence, unknown};
use crate::host::sources::{MACOS_DISKUTIL_INFO_DISK0, MACOS_DISKUTIL_LIST_INTERNAL};

/// Roles whose volumes are judged: none (a user-made volume) or exactly `Data`.
/// Everything else is left out: `System` (sealed and signed, covered with its Data
/// volume), `Preboot`, `Recovery`, `VM`, `Update`, `xART`, `Hardware`, ….
fn judged(roles: &[String]) -> bool {
    roles.is_empty() || (roles.len() == 1 && roles[0] == "Data")
}

/// The whole disk of a store: `disk0s2` → `disk0`.
fn whole_disk(store: &str) -> &str {
    match store.strip_prefix("disk") {
        Some(rest) => {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            &store[..4 + digits]
        }
        None => store,
    }
}

/// - pass: every volume of every internal APFS container whose `Roles` is empty or
///   `["Data"]` has `FileVault` true and `CryptoMigrationOn` false (the volume's
///   "Encryption" flag never counts);
/// - fail: any such volume does not (names and device ids listed);
/// - unknown: no internal container seen, or a judged volume lacks a flag and none
///   fails; the APFS list or `diskutil info -plist disk0` cannot be read, or disk0's
///   plist has no `Internal` or `RemovableMedia` key.
///
/// Where the catalogue is silent: the source table runs `diskutil info -plist
/// disk0` only (argv is fixed, never built from host data), so a container is
/// internal when one of its physical stores is on disk0 (`disk0` or `disk0sN`) and
/// disk0 says `Internal` true and `RemovableMedia` false. Containers on other disks
/// are left out, recorded in `excluded` ("not on disk0"). Internal containers with
/// no judged volume at all give `unknown` (an empty pass proves nothing). HFS+,
/// FAT, exFAT and NTFS volumes on internal disks (`diskutil list -plist internal`,
/// partition types in [`super::PLAIN_FILESYSTEMS`]) have no FileVault: each fails
/// the check. A replay whose captures lack that list is judged on the APFS list
/// alone (`facts.non_apfs` says it was not read); live, a failed list gives
/// `unknown` unless another volume fails.
pub struct FixedVolumesEncrypted;

const ID: &str = "disk.fixed_volumes_encrypted";

impl Check for FixedVolumesEncrypted {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let memo = apfs_list(ctx);
        let apfs = match &memo.0 {
            Ok(a) => a,
            Err(e) => return unknown(ID, &e.why).evidences(e.evidence.clone()),
        };
        let disk0 = match read_command(ctx, &MACOS_DISKUTIL_INFO_DISK0, |s| {
            parse_disk_info(s.as_bytes())
        }) {
            Ok(d) => d,
            Err(e) => return unknown(ID, e.why).evidences(e.evidence),
        };
        let b = |v: Option<bool>| v.map_or("(missing)".to_owned(), |v| v.to_string());
        let disk0_evidence = command_evidence(
            &disk0.output,
            format!(
                "DeviceIdentifier = {}, Internal = {}, RemovableMedia = {}",
                disk0.value.device,
                b(disk0.value.internal),
                b(disk0.value.removable)
            ),
        );
        let disk0_facts = json!({
            "device": disk0.value.device,
            "internal": disk0.value.internal,
            "removable_media": disk0.value.removable,
            "ejectable": disk0.value.ejectable,
        });
        let (Some(internal), Some(removable)) = (disk0.value.internal, disk0.value.removable)
        else {
            return unknown(
                ID,
                "diskutil info -plist disk0 gives no Internal or RemovableMedia key",
            )
            .fact("disk0", disk0_facts)
            .evidence(disk0_evidence);
        };
        let disk0_fixed = internal && !removable;

        let mut volumes: Vec<Value> = Vec::new();
        let mut excluded: Vec<Value> = Vec::new();
        let mut failing: Vec<String> = Vec::new();
        let mut incomplete: Vec<String> = Vec::new();
        let mut excerpt: Vec<String> = Vec::new();
        let mut internal_containers = 0usize;
        for c in &apfs.value {
            if let Some(why) = container_left_out(c, disk0_fixed) {
                for v in &c.volumes {
                    excluded.push(json!({"device": v.device, "name": v.name, "roles": v.roles, "container": c.reference, "why": why}));
                }
                continue;
            }
            internal_containers += 1;
            for v in &c.volumes {
                if !judged(&v.roles) {
                    excluded.push(json!({"device": v.device, "name": v.name, "roles": v.roles, "container": c.reference, "why": format!("role {}", v.roles.join(", "))}));
                    continue;
                }
                excerpt.push(v.excerpt());
                let mut f = v.facts();
                f["container"] = json!(c.reference);
                volumes.push(f);
                match v.filevault_complete() {
                    Some(true) => {}
                    Some(false) => failing.push(format!("{} ({})", v.name, v.device)),
                    None => incomplete.push(format!("{} ({})", v.name, v.device)),
                }
            }
        }
        // HFS+, FAT, exFAT and NTFS volumes of the internal disks: no FileVault,
        // judged unencrypted. Not in the captures being replayed: judged from the
        // APFS list alone, and the facts say so.
        let mut plain_count = 0usize;
        let mut plain_facts = json!([]);
        let mut plain_evidence = None;
        let mut plain_unread = None;
        match read_command(ctx, &MACOS_DISKUTIL_LIST_INTERNAL, |s| {
            parse_internal_plain_volumes(s.as_bytes())
        }) {
            Ok(read) => {
                let lines: Vec<String> = read
                    .value
                    .iter()
                    .map(|v| {
                        format!(
                            "{} {} '{}'",
                            v.device,
                            v.content,
                            v.name.as_deref().unwrap_or("")
                        )
                    })
                    .collect();
                for v in &read.value {
                    failing.push(format!(
                        "{} ({}, {}: not APFS, no FileVault)",
                        v.name.as_deref().unwrap_or("unnamed"),
                        v.device,
                        v.content
                    ));
                }
                plain_count = read.value.len();
                plain_facts = json!(read.value);
                plain_evidence = Some(command_evidence(
                    &read.output,
                    if lines.is_empty() {
                        "(no HFS+, FAT, exFAT or NTFS volume on an internal disk)".to_owned()
                    } else {
                        lines.join("\n")
                    },
                ));
            }
            Err(f) if f.not_captured => {
                plain_facts = json!({"not_read": f.why});
            }
            Err(f) => {
                plain_evidence = f.evidence.clone();
                plain_unread = Some(f.why);
            }
        }
        let excerpt = if excerpt.is_empty() {
            "(no Data or user volume on an internal container)".to_owned()
        } else {
            excerpt.join("\n")
        };
        let finish = |r: CheckResult| {
            r.fact("volumes", &volumes)
                .fact("excluded", &excluded)
                .fact("unencrypted", &failing)
                .fact("disk0", &disk0_facts)
                .fact("non_apfs", &plain_facts)
                .evidence(command_evidence(&apfs.output, excerpt.clone()))
                .evidence(disk0_evidence.clone())
                .evidences(plain_evidence.clone())
        };
        if !failing.is_empty() {
            return finish(CheckResult::new(
                ID,
                Status::Fail,
                format!(
                    "{} of {} internal volumes without FileVault complete: {}",
                    failing.len(),
                    volumes.len() + plain_count,
                    failing.join(", ")
                ),
            ));
        }
        if internal_containers == 0 {
            return finish(unknown(
                ID,
                "no internal APFS container seen (only containers on disk0 are judged, and disk0 \
                 must be internal and not removable)",
            ));
        }
        if volumes.is_empty() {
            return finish(unknown(
                ID,
                "no Data or user-made volume on the internal APFS containers",
            ));
        }
        if let Some(why) = &plain_unread {
            return finish(unknown(
                ID,
                format!("the internal disks' other volumes could not be listed: {why}"),
            ));
        }
        if !incomplete.is_empty() {
            return finish(unknown(
                ID,
                format!(
                    "diskutil apfs list gives no FileVault or CryptoMigrationOn flag for {}",
                    incomplete.join(", ")
                ),
            ));
        }
        finish(CheckResult::new(
            ID,
            Status::Pass,
            format!(
                "FileVault is on and complete for all {} internal Data and user volumes",
                volumes.len()
            ),
        ))
    }
}

/// Why a container is not judged, or `None` when it is internal.
fn container_left_out(c: &ApfsContainer, disk0_fixed: bool) -> Option<String> {
    let on_disk0 = c.stores.iter().any(|s| whole_disk(s) == "disk0");
    if !on_disk0 {
        return Some(format!(
            "not on disk0 (physical stores {}): external or not read",
            c.stores.join(", ")
        ));
    }
    (!disk0_fixed).then(|| "disk0 is not internal or is removable media".to_owned())
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::*;
    use crate::host::fake::FakeHost;
    use crate::host::sources::MACOS_DISKUTIL_APFS_LIST;

    fn mac_with(containers: &[String], disk0: (bool, bool)) -> FakeHost {
        FakeHost::macos()
            .command(&MACOS_DISKUTIL_APFS_LIST, 0, &apfs_list_plist(containers))
            .command(&MACOS_DISKUTIL_INFO_DISK0, 0, &disk0_info(disk0.0, disk0.1))
    }

    fn with_main(main: String, extra: Option<String>) -> Vec<String> {
        let mut cs = apple_silicon_system_containers();
        cs.push(main);
        cs.extend(extra);
        cs
    }

    #[test]
    fn whole_disks_of_stores() {
        assert_eq!(whole_disk("disk0s2"), "disk0");
        assert_eq!(whole_disk("disk0"), "disk0");
        assert_eq!(whole_disk("disk10s1"), "disk10");
        assert_eq!(whole_disk("disk1s2"), "disk1");
    }

    #[test]
    fn every_judged_volume_with_filevault_passes_and_externals_are_left_out() {
        let cs = with_main(
            main_container((true, false), (true, false)),
            Some(external_container()),
        );
        let r = mac_with(&cs, (true, false)).run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(
            r.summary,
            "FileVault is on and complete for all 2 internal Data and user volumes"
        );
        let judged: Vec<&str> = r.facts["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["device"].as_str().unwrap())
            .collect();
        assert_eq!(judged, vec!["disk3s5", "disk3s7"]);
        let excluded = r.facts["excluded"].as_array().unwrap();
        // 3 + 2 system-container volumes, 5 role-excluded in disk3, the USB volume.
        assert_eq!(excluded.len(), 11);
        let usb = excluded.iter().find(|e| e["device"] == "disk5s1").unwrap();
        assert!(usb["why"].as_str().unwrap().contains("not on disk0"));
        let sys = excluded.iter().find(|e| e["device"] == "disk3s1").unwrap();
        assert_eq!(sys["why"], "role System");
    }

    /// Pitfall 5.1: hardware encryption (`Encryption` true) does not pass.
    #[test]
    fn a_user_volume_without_filevault_fails_by_name() {
        let cs = with_main(main_container((true, false), (false, false)), None);
        let r = mac_with(&cs, (true, false)).run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(
            r.summary,
            "1 of 2 internal volumes without FileVault complete: Projects (disk3s7)"
        );
        assert_eq!(r.facts["unencrypted"], json!(["Projects (disk3s7)"]));
    }

    #[test]
    fn a_conversion_running_fails() {
        let cs = with_main(main_container((true, true), (true, false)), None);
        let r = mac_with(&cs, (true, false)).run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.summary.contains("Macintosh HD - Data (disk3s5)"),
            "{}",
            r.summary
        );
    }

    #[test]
    fn no_internal_container_is_unknown() {
        // disk0 says it is external (or removable): nothing internal is left.
        for disk0 in [(false, false), (true, true)] {
            let cs = with_main(main_container((false, false), (false, false)), None);
            let r = mac_with(&cs, disk0).run(&FixedVolumesEncrypted);
            assert_eq!(r.status, Status::Unknown, "{disk0:?}");
            assert!(
                r.reason
                    .as_deref()
                    .unwrap()
                    .contains("no internal APFS container")
            );
        }
        // Only an external container.
        let r = mac_with(&[external_container()], (true, false)).run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Unknown);
    }

    #[test]
    fn internal_containers_with_only_system_roles_are_unknown() {
        let r =
            mac_with(&apple_silicon_system_containers(), (true, false)).run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert!(
            r.reason
                .as_deref()
                .unwrap()
                .contains("no Data or user-made volume")
        );
    }

    #[test]
    fn missing_keys_and_sources_are_unknown() {
        let no_keys = plist_dict("\t<key>DeviceIdentifier</key>\n\t<string>disk0</string>\n");
        let r = FakeHost::macos()
            .command(
                &MACOS_DISKUTIL_APFS_LIST,
                0,
                &apple_silicon_apfs_list(true, false),
            )
            .command(&MACOS_DISKUTIL_INFO_DISK0, 0, &no_keys)
            .run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.as_deref().unwrap().contains("Internal"));

        let r = FakeHost::macos()
            .command(
                &MACOS_DISKUTIL_APFS_LIST,
                0,
                &apple_silicon_apfs_list(true, false),
            )
            .run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.as_deref().unwrap().contains("not captured"));

        let r = FakeHost::macos().run(&FixedVolumesEncrypted);
        assert_eq!(
            r.reason.as_deref(),
            Some("/usr/sbin/diskutil: live sources are not run on an offline root")
        );

        // A judged volume without its FileVault key, and none failing.
        let broken = main_container((true, false), (true, false)).replacen(
            "<key>FileVault</key>\n\t\t\t\t\t<true/>\n",
            "",
            1,
        );
        assert_ne!(broken, main_container((true, false), (true, false)));
        let r = mac_with(&with_main(broken, None), (true, false)).run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.as_deref().unwrap().contains("no FileVault"));
    }

    /// A Boot Camp NTFS partition on the internal disk has no FileVault: it fails
    /// by name, beside volumes that pass. The APFS container's synthesized disk
    /// (`Content` Apple_HFS but `APFSVolumes`) is not read as HFS+.
    #[test]
    fn a_non_apfs_internal_volume_fails() {
        let cs = with_main(main_container((true, false), (true, false)), None);
        let r = mac_with(&cs, (true, false))
            .command(&MACOS_DISKUTIL_LIST_INTERNAL, 0, &list_internal(true))
            .run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(
            r.summary,
            "1 of 3 internal volumes without FileVault complete: BOOTCAMP (disk0s3, Microsoft \
             Basic Data: not APFS, no FileVault)"
        );
        assert_eq!(r.facts["non_apfs"][0]["device"], "disk0s3");
        assert_eq!(r.facts["non_apfs"].as_array().unwrap().len(), 1);
        assert!(
            r.evidence.iter().any(|e| serde_json::to_string(e)
                .unwrap()
                .contains("disk0s3 Microsoft Basic Data 'BOOTCAMP'")),
            "{:?}",
            r.evidence
        );
    }

    /// The list read and nothing but APFS on it: the APFS verdict stands, and the
    /// facts show the list was read. Not captured: the same verdict, and the facts
    /// say it was not read. Read and failed: unknown.
    #[test]
    fn the_internal_list_read_missing_or_failed() {
        let cs = with_main(main_container((true, false), (true, false)), None);
        let r = mac_with(&cs, (true, false))
            .command(&MACOS_DISKUTIL_LIST_INTERNAL, 0, &list_internal(false))
            .run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["non_apfs"], json!([]));

        let r = mac_with(&cs, (true, false)).run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.facts["non_apfs"]["not_read"]
                .as_str()
                .unwrap()
                .contains("not captured"),
            "{r:?}"
        );

        let r = mac_with(&cs, (true, false))
            .command(&MACOS_DISKUTIL_LIST_INTERNAL, 1, "")
            .run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(
            r.reason.as_deref().unwrap().contains("could not be listed"),
            "{r:?}"
        );
    }
}
