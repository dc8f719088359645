//! `disk.root_encrypted`: the filesystem mounted at `/` is on an encrypted device.

use attest_proto::{CheckResult, Status};

use super::blockdev::Sysfs;
use super::{device_facts, mounts, not_block_reason, resolve};
use crate::checks::{Check, Context, unknown};

/// The filesystem at `/` — the **last** mountinfo entry whose mount point is `/`,
/// the one that hides the others — must be on an encrypted block device.
///
/// - pass: its device is encrypted (`dm/uuid` `CRYPT-…`, or every slave is);
/// - fail: its device is a block device that is not encrypted (a loop device or a
///   removable disk too: checks.md leaves nothing out for `/`);
/// - unknown: `/` is a union (overlay), memory (tmpfs, ramfs, rootfs), network,
///   FUSE (also `fuseblk`) or ZFS filesystem; mountinfo cannot be read, has no `/`,
///   or the device (or its source, for an anonymous device) cannot be resolved.
pub struct RootEncrypted;

const ID: &str = "disk.root_encrypted";

impl Check for RootEncrypted {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let memo = mounts(ctx);
        let mounts = match &memo.0 {
            Ok(m) => m,
            Err(e) => return unknown(ID, e.clone()),
        };
        let Some(root) = mounts.entries.iter().rev().find(|e| e.mount_point == "/") else {
            return unknown(ID, "no filesystem is mounted at / in /proc/self/mountinfo")
                .evidence(mounts.evidence([]));
        };
        let undecided = |why: String| {
            unknown(ID, why)
                .fact("mount_point", "/")
                .fact("fstype", &root.fstype)
                .fact("source", &root.source)
                .fact("device_number", root.dev())
                .evidence(mounts.evidence([root]))
        };
        if let Some(what) = not_block_reason(&root.fstype) {
            return undecided(format!(
                "/ is {what} ({} from {}), not a block device that can be judged",
                root.fstype, root.source
            ));
        }
        let mut sysfs = Sysfs::new(ctx.host);
        let device = match resolve(&mut sysfs, root) {
            None => {
                return undecided(format!(
                    "/ ({} from {}) has an anonymous device {} and a source that is not a /dev path",
                    root.fstype,
                    root.source,
                    root.dev()
                ));
            }
            Some(Err(e)) => {
                return undecided(format!("cannot resolve the device of /: {e}"))
                    .evidences(sysfs.evidence);
            }
            Some(Ok(d)) => d,
        };
        let (status, summary) = if device.encrypted() {
            (
                Status::Pass,
                format!("/ is on an encrypted device ({})", device.chain()),
            )
        } else {
            (
                Status::Fail,
                format!(
                    "/ is on a device that is not encrypted ({})",
                    device.chain()
                ),
            )
        };
        CheckResult::new(ID, status, summary)
            .fact("mount_point", "/")
            .fact("fstype", &root.fstype)
            .fact("source", &root.source)
            .fact("device_number", root.dev())
            .fact("encrypted", device.encrypted())
            .fact("crypt_types", device.crypt_types())
            .fact("device_chain", device_facts(&device))
            .evidence(mounts.evidence([root]))
            .evidences(sysfs.evidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::linux::disk::testtree::{DiskLayout, NVME, SDA, laptop, sysfs};
    use attest_proto::Evidence;

    fn excerpt_of<'a>(r: &'a CheckResult, path: &str) -> Option<&'a str> {
        r.evidence.iter().find_map(|e| match e {
            Evidence::File {
                path: p, excerpt, ..
            } if p == path => Some(excerpt.as_str()),
            _ => None,
        })
    }

    #[test]
    fn luks2_with_lvm_passes_and_shows_the_chain() {
        let t = laptop();
        let r = t.run(&RootEncrypted);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(
            r.summary,
            "/ is on an encrypted device (nvme0n1p3 → dm-0 luks-3f2a (CRYPT-LUKS2) → dm-1 vg-root)"
        );
        assert_eq!(r.facts["crypt_types"], serde_json::json!(["LUKS2"]));
        assert_eq!(r.facts["fstype"], "ext4");
        assert_eq!(r.facts["device_number"], "253:1");
        assert_eq!(
            r.facts["device_chain"]["tree"]["slaves"][0]["crypt_type"],
            "LUKS2"
        );
        assert!(
            excerpt_of(&r, "/sys/devices/virtual/block/dm-0/dm/uuid")
                .unwrap()
                .starts_with("CRYPT-LUKS2-")
        );
        assert_eq!(
            excerpt_of(&r, "/proc/self/mountinfo").unwrap(),
            "22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/mapper/vg-root rw,errors=remount-ro"
        );
        assert_eq!(
            excerpt_of(&r, "/sys/dev/block/253:1").unwrap(),
            "-> ../../devices/virtual/block/dm-1 (/sys/devices/virtual/block/dm-1)"
        );
        // The partition's evidence is under the NVMe controller, reached by the
        // relative slave link.
        assert!(excerpt_of(&r, "/sys/devices/virtual/block/dm-0/slaves/nvme0n1p3").is_some());
        assert_eq!(
            excerpt_of(&r, "/sys/devices/virtual/block/dm-0/slaves").unwrap(),
            "nvme0n1p3"
        );
    }

    #[test]
    fn a_plain_partition_fails() {
        let mut t = sysfs();
        t.disk(SDA, "8:0", false);
        t.part(SDA, "sda2", "8:2", 2);
        t.mountinfo("22 1 8:2 / / rw,relatime - ext4 /dev/sda2 rw\n");
        let r = t.run(&RootEncrypted);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.summary, "/ is on a device that is not encrypted (sda2)");
        assert_eq!(r.facts["encrypted"], false);
        assert_eq!(r.facts["device_chain"]["tree"]["partition_of"], "sda");
    }

    #[test]
    fn a_partition_is_judged_by_itself_never_by_its_disk() {
        let mut t = sysfs();
        t.disk(SDA, "8:0", false);
        // Contrived: the whole disk claims dm-crypt; its partition does not.
        t.add_file(
            &format!("sys/devices/{SDA}/dm/uuid"),
            "CRYPT-LUKS2-0000-whole\n",
        );
        t.part(SDA, "sda1", "8:1", 1);
        t.mountinfo("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n");
        assert_eq!(t.run(&RootEncrypted).status, Status::Fail);
    }

    #[test]
    fn btrfs_with_an_anonymous_device_resolves_through_dev_mapper() {
        let mut t = sysfs();
        t.disk(NVME, "259:0", false);
        let p2 = t.part(NVME, "nvme0n1p2", "259:2", 2);
        t.virtual_dev(
            "dm-0",
            "253:0",
            Some(("luks-77aa", "CRYPT-LUKS1-77aa00-luks-77aa")),
            &[&p2],
        );
        t.mountinfo(
            "28 1 0:26 /@ / rw,relatime shared:1 - btrfs /dev/mapper/luks-77aa rw,ssd,subvolid=256,subvol=/@\n\
             29 28 0:26 /@home /home rw,relatime shared:2 - btrfs /dev/mapper/luks-77aa rw,subvolid=257,subvol=/@home\n",
        );
        let r = t.run(&RootEncrypted);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(
            r.summary,
            "/ is on an encrypted device (nvme0n1p2 → dm-0 luks-77aa (CRYPT-LUKS1))"
        );
        assert_eq!(r.facts["crypt_types"], serde_json::json!(["LUKS1"]));
        assert_eq!(
            excerpt_of(&r, "/sys/devices/virtual/block/dm-0/dm/name"),
            Some("luks-77aa")
        );
    }

    #[test]
    fn btrfs_source_as_dev_name_and_by_uuid_link() {
        let mut t = sysfs();
        t.disk(SDA, "8:0", false);
        t.part(SDA, "sda3", "8:3", 3);
        t.mountinfo("28 1 0:26 /@ / rw - btrfs /dev/sda3 rw\n");
        let r = t.run(&RootEncrypted);
        assert_eq!(r.status, Status::Fail, "{r:?}");

        let mut t = sysfs();
        t.disk(SDA, "8:0", false);
        t.part(SDA, "sda3", "8:3", 3);
        t.add_link("dev/disk/by-uuid/1234-abcd", "../../sda3");
        t.mountinfo("28 1 0:26 /@ / rw - btrfs /dev/disk/by-uuid/1234-abcd rw\n");
        let r = t.run(&RootEncrypted);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(excerpt_of(&r, "/dev/disk/by-uuid/1234-abcd").is_some());

        // Without /dev in the root the link cannot be followed: unknown.
        let mut t = sysfs();
        t.disk(SDA, "8:0", false);
        t.mountinfo("28 1 0:26 /@ / rw - btrfs /dev/disk/by-uuid/1234-abcd rw\n");
        let r = t.run(&RootEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.unwrap().contains("/dev/disk/by-uuid/1234-abcd"));
    }

    #[test]
    fn lvm_vg_lv_source_maps_to_the_dm_name() {
        let mut t = sysfs();
        t.disk(SDA, "8:0", false);
        let p = t.part(SDA, "sda2", "8:2", 2);
        let luks = t.virtual_dev("dm-0", "253:0", Some(("cr", "CRYPT-LUKS2-1-cr")), &[&p]);
        t.virtual_dev("dm-1", "253:1", Some(("my--vg-root", "LVM-x")), &[&luks]);
        t.mountinfo("28 1 0:26 / / rw - btrfs /dev/my-vg/root rw\n");
        let r = t.run(&RootEncrypted);
        assert_eq!(r.status, Status::Pass, "{r:?}");
    }

    #[test]
    fn the_last_entry_for_slash_decides() {
        let mut t = laptop();
        t.disk(SDA, "8:0", false);
        t.part(SDA, "sda1", "8:1", 1);
        t.mountinfo(
            "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n\
             22 1 253:1 / / rw - ext4 /dev/mapper/vg-root rw\n",
        );
        assert_eq!(t.run(&RootEncrypted).status, Status::Pass);
        t.mountinfo(
            "22 1 253:1 / / rw - ext4 /dev/mapper/vg-root rw\n\
             90 22 0:50 / / rw - overlay overlay rw,lowerdir=/a,upperdir=/b\n",
        );
        let r = t.run(&RootEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert_eq!(
            r.reason.as_deref(),
            Some(
                "/ is a union filesystem (overlay from overlay), not a block device that can be judged"
            )
        );
        assert_eq!(r.facts["fstype"], "overlay");
    }

    #[test]
    fn tmpfs_network_fuse_and_zfs_roots_are_unknown() {
        for (fstype, source) in [
            ("tmpfs", "tmpfs"),
            ("rootfs", "rootfs"),
            ("nfs4", "server:/export"),
            ("fuse.sshfs", "user@host:"),
            ("zfs", "rpool/ROOT/ubuntu"),
            ("9p", "/dev/root"),
        ] {
            let mut t = sysfs();
            t.mountinfo(&format!("1 0 0:30 / / rw - {fstype} {source} rw\n"));
            let r = t.run(&RootEncrypted);
            assert_eq!(r.status, Status::Unknown, "{fstype}");
            assert!(r.reason.unwrap().contains(fstype));
        }
    }

    #[test]
    fn unresolvable_devices_and_missing_files_are_unknown() {
        let mut t = sysfs();
        let r = t.run(&RootEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert_eq!(r.reason.as_deref(), Some("/proc/self/mountinfo: not found"));

        t.mountinfo("22 1 8:2 / / rw - ext4 /dev/sda2 rw\n");
        let r = t.run(&RootEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert_eq!(
            r.reason.as_deref(),
            Some("cannot resolve the device of /: /sys/dev/block/8:2: not found")
        );

        t.mountinfo("22 1 8:2 / /home rw - ext4 /dev/sda2 rw\n");
        assert!(
            t.run(&RootEncrypted)
                .reason
                .unwrap()
                .contains("no filesystem is mounted at /")
        );

        t.mountinfo("22 1 0:40 / / rw - ubifs ubi0:rootfs rw\n");
        let r = t.run(&RootEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.unwrap().contains("anonymous device 0:40"));

        t.mountinfo("garbage\n");
        let r = t.run(&RootEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert!(
            r.reason
                .unwrap()
                .starts_with("/proc/self/mountinfo: line 1")
        );
    }
}
