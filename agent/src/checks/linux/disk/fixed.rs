//! `disk.fixed_volumes_encrypted`: every mounted block-device filesystem that is
//! not removable, loop, zram/ram or the boot partition is encrypted.

use std::collections::BTreeSet;

use attest_proto::{CheckResult, Evidence, Status};
use serde_json::json;

use super::blockdev::{BlockDevice, Class, Sysfs};
use super::mountinfo::MountEntry;
use super::{Backing, backing, device_facts, mounts};
use crate::checks::{Check, Context, unknown};

/// Mount points left out: the boot partition and the EFI system partition, which
/// the firmware must read unencrypted.
pub const BOOT_MOUNTS: [&str; 3] = ["/boot", "/boot/efi", "/efi"];

/// Every mounted block-device filesystem must be encrypted.
///
/// A mount is a block-device filesystem when its `MAJ:MIN` has a major other than
/// 0, or when its device is anonymous (major 0) and its source is a `/dev` path of a
/// filesystem that is not union, memory, network, FUSE or ZFS (btrfs subvolumes).
/// Mounts are grouped by the device they resolve to (a btrfs filesystem mounted as
/// `/` and `/home`, a bind mount): each device is judged once, with all its mount
/// points listed.
///
/// Left out, as checks.md says: mounts at `/boot`, `/boot/efi` and `/efi` (the mount
/// only: the same device mounted elsewhere is judged there); loop, zram and ram
/// devices (by name); devices whose whole disk has `removable` = 1. Where checks.md
/// is silent:
///
/// - a stacked device (dm, md) is left out when every device at the bottom of its
///   stack is (LVM on a USB stick is on the stick);
/// - when nothing is left to judge after leaving these out, the verdict is unknown,
///   as when no block-device filesystem is visible: an empty pass is no evidence;
/// - a device that cannot be resolved makes the verdict unknown, unless another one
///   is known not to be encrypted (then fail: the answer is already no).
pub struct FixedVolumesEncrypted;

const ID: &str = "disk.fixed_volumes_encrypted";

/// The mounts of one device (or of one unresolvable device number or source).
struct Group<'a> {
    device: Result<BlockDevice, String>,
    mounts: Vec<&'a MountEntry>,
    evidence: Vec<Evidence>,
}

impl Group<'_> {
    fn mount_points(&self) -> Vec<String> {
        let mut seen = Vec::new();
        for m in &self.mounts {
            if !seen.contains(&m.mount_point) {
                seen.push(m.mount_point.clone());
            }
        }
        seen
    }

    fn fstypes(&self) -> BTreeSet<&str> {
        self.mounts.iter().map(|m| m.fstype.as_str()).collect()
    }
}

impl Check for FixedVolumesEncrypted {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let memo = mounts(ctx);
        let mounts = match &memo.0 {
            Ok(m) => m,
            Err(e) => return unknown(ID, e.clone()),
        };

        let mut boot: Vec<&MountEntry> = Vec::new();
        // Each way of finding a device seen so far, and the group it led to.
        let mut index: Vec<(Backing, usize)> = Vec::new();
        let mut groups: Vec<Group<'_>> = Vec::new();
        for entry in &mounts.entries {
            let how = backing(entry);
            if how == Backing::None {
                continue;
            }
            if BOOT_MOUNTS.contains(&entry.mount_point.as_str()) {
                boot.push(entry);
                continue;
            }
            if let Some(&(_, i)) = index.iter().find(|(k, _)| *k == how) {
                if let Some(g) = groups.get_mut(i) {
                    g.mounts.push(entry);
                }
                continue;
            }
            let mut sysfs = Sysfs::new(ctx.host);
            let device = match &how {
                Backing::Number(major, minor) => sysfs.by_number(*major, *minor),
                Backing::Source(source) => sysfs.by_path(source),
                Backing::None => continue,
            }
            .map_err(|e| e.to_string());
            // Different numbers or sources can name one device (btrfs subvolumes).
            let same = device.as_ref().ok().and_then(|d| {
                groups.iter().position(|g| {
                    g.device
                        .as_ref()
                        .is_ok_and(|other| other.sys_path == d.sys_path)
                })
            });
            let i = match same {
                Some(i) => {
                    if let Some(g) = groups.get_mut(i) {
                        g.mounts.push(entry);
                        g.evidence.extend(sysfs.evidence);
                    }
                    i
                }
                None => {
                    groups.push(Group {
                        device,
                        mounts: vec![entry],
                        evidence: sysfs.evidence,
                    });
                    groups.len() - 1
                }
            };
            index.push((how, i));
        }
        verdict(mounts, &boot, &groups)
    }
}

/// Combines the groups into the verdict.
fn verdict(mounts: &super::Mounts, boot: &[&MountEntry], groups: &[Group<'_>]) -> CheckResult {
    let mut excluded = Vec::new();
    for m in boot {
        excluded.push(json!({
            "mount_points": [m.mount_point],
            "device": m.dev(),
            "why": format!("mount at {} is left out (boot partition)", m.mount_point),
        }));
    }
    let mut judged: Vec<&Group<'_>> = Vec::new();
    let mut unresolved: Vec<&Group<'_>> = Vec::new();
    let mut evidence: Vec<Evidence> = Vec::new();
    for g in groups {
        match &g.device {
            Ok(device) => match device.exclusion() {
                Some(classes) => {
                    let why: Vec<&str> = classes.iter().map(|c| c.as_str()).collect();
                    excluded.push(json!({
                        "mount_points": g.mount_points(),
                        "device": device.name,
                        "chain": device.chain(),
                        "why": why.join(", "),
                    }));
                    if classes.contains(&Class::Removable) {
                        evidence.extend(g.evidence.iter().cloned());
                    }
                }
                None => judged.push(g),
            },
            Err(_) => unresolved.push(g),
        }
    }

    let mut volumes = Vec::new();
    let mut unencrypted: Vec<String> = Vec::new();
    let mut unencrypted_desc: Vec<String> = Vec::new();
    for g in &judged {
        if let Ok(device) = &g.device {
            let mut facts = device_facts(device);
            if let serde_json::Value::Object(map) = &mut facts {
                map.insert("mount_points".into(), json!(g.mount_points()));
                map.insert("fstypes".into(), json!(g.fstypes()));
            }
            volumes.push(facts);
            if !device.encrypted() {
                unencrypted.extend(g.mount_points());
                unencrypted_desc.push(format!(
                    "{} ({})",
                    g.mount_points().join(", "),
                    device.chain()
                ));
            }
        }
    }
    let unresolved_facts: Vec<serde_json::Value> = unresolved
        .iter()
        .map(|g| {
            json!({
                "mount_points": g.mount_points(),
                "why": g.device.as_ref().err(),
            })
        })
        .collect();

    let deciding = judged
        .iter()
        .chain(unresolved.iter())
        .flat_map(|g| g.mounts.iter().copied());
    let mut mountinfo_lines: Vec<&MountEntry> = deciding.collect();
    mountinfo_lines.sort_by_key(|m| m.mount_id);
    let mut all_evidence = vec![mounts.evidence(mountinfo_lines)];
    for g in judged.iter().chain(unresolved.iter()) {
        evidence.extend(g.evidence.iter().cloned());
    }
    for e in evidence {
        if !all_evidence.contains(&e) {
            all_evidence.push(e);
        }
    }

    let add_facts = |r: CheckResult| {
        r.fact("volumes", &volumes)
            .fact("unencrypted_mount_points", &unencrypted)
            .fact("excluded", &excluded)
            .fact("unresolved", &unresolved_facts)
            .fact("left_out_mount_points", BOOT_MOUNTS)
            .evidences(all_evidence.clone())
    };

    if judged.is_empty() && unresolved.is_empty() {
        let why = if excluded.is_empty() {
            "no block-device filesystem is visible in /proc/self/mountinfo".to_owned()
        } else {
            format!(
                "no block-device filesystem is left to judge: all {} are left out (boot, loop, zram/ram or removable)",
                excluded.len()
            )
        };
        return add_facts(unknown(ID, why));
    }
    let total = judged.len() + unresolved.len();
    if !unencrypted.is_empty() {
        let summary = format!(
            "{} of {total} fixed volume{} {} not encrypted: {}",
            unencrypted_desc.len(),
            if total == 1 { "" } else { "s" },
            if unencrypted_desc.len() == 1 {
                "is"
            } else {
                "are"
            },
            unencrypted_desc.join("; ")
        );
        return add_facts(CheckResult::new(ID, Status::Fail, summary));
    }
    if !unresolved.is_empty() {
        let why: Vec<String> = unresolved
            .iter()
            .map(|g| {
                format!(
                    "{}: {}",
                    g.mount_points().join(", "),
                    g.device
                        .as_ref()
                        .err()
                        .map(String::as_str)
                        .unwrap_or_default()
                )
            })
            .collect();
        return add_facts(unknown(
            ID,
            format!("cannot resolve the device of {}", why.join("; ")),
        ));
    }
    let points: Vec<String> = judged.iter().flat_map(|g| g.mount_points()).collect();
    let summary = if total == 1 {
        format!("The one fixed volume is encrypted ({})", points.join(", "))
    } else {
        format!(
            "All {total} fixed volumes are encrypted ({})",
            points.join(", ")
        )
    };
    add_facts(CheckResult::new(ID, Status::Pass, summary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::linux::disk::testtree::{DiskLayout, NVME, SDA, SDB, USB, laptop, sysfs};
    use serde_json::Value;

    const LAPTOP_MOUNTS: &str = "\
22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/mapper/vg-root rw
23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw
26 22 0:24 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,mode=755
40 22 259:2 / /boot rw,relatime shared:30 - ext4 /dev/nvme0n1p2 rw
41 40 259:1 / /boot/efi rw,relatime shared:31 - vfat /dev/nvme0n1p1 rw
";

    fn points(v: &Value) -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn encrypted_root_passes_and_boot_is_left_out() {
        let t = laptop();
        let r = t.run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.summary, "The one fixed volume is encrypted (/)");
        let excluded = r.facts["excluded"].as_array().unwrap();
        assert_eq!(excluded.len(), 2);
        assert_eq!(excluded[0]["mount_points"][0], "/boot");
        assert_eq!(excluded[1]["mount_points"][0], "/boot/efi");
        assert_eq!(r.facts["volumes"][0]["crypt_types"][0], "LUKS2");
    }

    #[test]
    fn removable_usb_and_loop_are_left_out() {
        let mut t = laptop();
        t.disk(USB, "8:32", true);
        t.part(USB, "sdc1", "8:33", 1);
        t.virtual_dev("loop0", "7:0", None, &[]);
        t.mountinfo(&format!(
            "{LAPTOP_MOUNTS}\
60 22 7:0 / /snap/core22/1380 ro,nodev,relatime shared:40 - squashfs /dev/loop0 ro
61 22 8:33 / /media/me/STICK\\040A rw,nosuid,nodev shared:41 - vfat /dev/sdc1 rw
"
        ));
        let r = t.run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        let excluded = r.facts["excluded"].as_array().unwrap();
        let why: Vec<(&str, &str)> = excluded
            .iter()
            .map(|e| {
                (
                    e["mount_points"][0].as_str().unwrap(),
                    e["why"].as_str().unwrap(),
                )
            })
            .collect();
        assert!(
            why.contains(&("/snap/core22/1380", "loop device")),
            "{why:?}"
        );
        assert!(
            why.contains(&("/media/me/STICK A", "removable disk")),
            "{why:?}"
        );
        // The removable flag that decided is evidence.
        assert!(r.evidence.iter().any(|e| matches!(e,
            attest_proto::Evidence::File { path, excerpt, .. }
                if path == &format!("/sys/devices/{USB}/removable") && excerpt == "1")));
    }

    #[test]
    fn an_unencrypted_data_partition_fails_with_its_mount_points() {
        let mut t = laptop();
        t.disk(SDA, "8:0", false);
        t.part(SDA, "sda1", "8:1", 1);
        t.mountinfo(&format!(
            "{LAPTOP_MOUNTS}\
70 22 8:1 / /data rw,relatime - xfs /dev/sda1 rw
71 22 8:1 /exports /srv/exports rw,relatime - xfs /dev/sda1 rw
"
        ));
        let r = t.run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.summary,
            "1 of 2 fixed volumes is not encrypted: /data, /srv/exports (sda1)"
        );
        assert_eq!(
            points(&r.facts["unencrypted_mount_points"]),
            vec!["/data", "/srv/exports"]
        );
    }

    #[test]
    fn md_raid1_with_one_unencrypted_member_fails() {
        let mut t = sysfs();
        t.disk(SDA, "8:0", false);
        t.disk(SDB, "8:16", false);
        let a = t.part(SDA, "sda2", "8:2", 2);
        let b = t.part(SDB, "sdb2", "8:18", 2);
        let crypt_a = t.virtual_dev(
            "dm-0",
            "253:0",
            Some(("crypt-a", "CRYPT-LUKS2-aa-crypt-a")),
            &[&a],
        );
        t.virtual_dev("md0", "9:0", None, &[&crypt_a, &b]);
        t.mountinfo("22 1 9:0 / / rw - ext4 /dev/md0 rw\n");
        let r = t.run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(
            r.summary,
            "1 of 1 fixed volume is not encrypted: / ([sda2 → dm-0 crypt-a (CRYPT-LUKS2), sdb2] → md0)"
        );
        assert_eq!(
            r.facts["volumes"][0]["tree"]["slaves"][0]["encrypted"],
            true
        );
        assert_eq!(
            r.facts["volumes"][0]["tree"]["slaves"][1]["encrypted"],
            false
        );

        // Both members encrypted: pass.
        let crypt_b = t.virtual_dev(
            "dm-1",
            "253:1",
            Some(("crypt-b", "CRYPT-LUKS2-bb-crypt-b")),
            &[&b],
        );
        t.remove("sys/devices/virtual/block/md0/slaves/sdb2");
        t.add_link(
            "sys/devices/virtual/block/md0/slaves/dm-1",
            &format!("../../../../{crypt_b}"),
        );
        assert_eq!(t.run(&FixedVolumesEncrypted).status, Status::Pass);
    }

    #[test]
    fn btrfs_subvolumes_are_one_device_with_several_mount_points() {
        let mut t = sysfs();
        t.disk(NVME, "259:0", false);
        let p2 = t.part(NVME, "nvme0n1p2", "259:2", 2);
        t.virtual_dev(
            "dm-0",
            "253:0",
            Some(("luks-1", "CRYPT-LUKS2-11-luks-1")),
            &[&p2],
        );
        t.add_link("dev/mapper/luks-1", "../dm-0");
        t.mountinfo(
            "28 1 0:26 /@ / rw - btrfs /dev/mapper/luks-1 rw,subvol=/@\n\
             29 28 0:27 /@home /home rw - btrfs /dev/dm-0 rw,subvol=/@home\n\
             30 28 0:28 /@log /var/log rw - btrfs /dev/mapper/luks-1 rw,subvol=/@log\n",
        );
        let r = t.run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        let volumes = r.facts["volumes"].as_array().unwrap();
        assert_eq!(volumes.len(), 1);
        assert_eq!(
            points(&volumes[0]["mount_points"]),
            vec!["/", "/home", "/var/log"]
        );
        assert_eq!(
            r.summary,
            "The one fixed volume is encrypted (/, /home, /var/log)"
        );
    }

    #[test]
    fn nothing_to_judge_is_unknown() {
        let mut t = sysfs();
        t.mountinfo("1 0 0:2 / / rw - overlay overlay rw\n2 1 0:3 / /proc rw - proc proc rw\n");
        let r = t.run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert_eq!(
            r.reason.as_deref(),
            Some("no block-device filesystem is visible in /proc/self/mountinfo")
        );

        let mut t = laptop();
        t.virtual_dev("loop0", "7:0", None, &[]);
        t.mountinfo(
            "1 0 0:2 / / rw - zfs rpool/ROOT rw\n\
             40 1 259:2 / /boot rw - ext4 /dev/nvme0n1p2 rw\n\
             41 1 7:0 / /snap/x ro - squashfs /dev/loop0 ro\n",
        );
        let r = t.run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.unwrap().contains("all 2 are left out"));
    }

    #[test]
    fn unresolved_is_unknown_unless_another_fails() {
        let mut t = laptop();
        t.mountinfo(&format!(
            "{LAPTOP_MOUNTS}80 22 8:48 / /mnt/x rw - ext4 /dev/sdd rw\n"
        ));
        let r = t.run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert_eq!(
            r.reason.as_deref(),
            Some("cannot resolve the device of /mnt/x: /sys/dev/block/8:48: not found")
        );
        assert_eq!(r.facts["unresolved"][0]["mount_points"][0], "/mnt/x");

        t.disk(SDA, "8:0", false);
        t.part(SDA, "sda1", "8:1", 1);
        t.mountinfo(&format!(
            "{LAPTOP_MOUNTS}80 22 8:48 / /mnt/x rw - ext4 /dev/sdd rw\n81 22 8:1 / /data rw - ext4 /dev/sda1 rw\n"
        ));
        let r = t.run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(points(&r.facts["unencrypted_mount_points"]), vec!["/data"]);
    }

    #[test]
    fn mountinfo_errors_are_unknown() {
        let t = sysfs();
        let r = t.run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert_eq!(r.reason.as_deref(), Some("/proc/self/mountinfo: not found"));
    }
}
