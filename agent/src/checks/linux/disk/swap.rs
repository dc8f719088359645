//! `disk.swap_encrypted`: every active swap area is encrypted.

use std::collections::BTreeSet;

use attest_proto::{CheckResult, Evidence, Status};
use serde_json::{Value, json};

use super::blockdev::{BlockDevice, Sysfs};
use super::mountinfo::MountEntry;
use super::swaps::{self, SwapEntry, SwapKind};
use super::{mounts, not_block_reason, resolve};
use crate::checks::{Check, Context, file_evidence, unknown};

/// Where the active swap areas are read from.
pub const SWAPS: &str = "/proc/swaps";

/// Every active swap area in `/proc/swaps` must be encrypted:
///
/// - a `partition` (any block device): `zram*` passes (it lives in RAM); any other
///   is resolved from its path (`/dev/NAME`, `/dev/dm-N`, `/dev/mapper/NAME`, a
///   `/dev/disk/by-*` link) and must be an encrypted device;
/// - a `file`: the filesystem containing it — the mount whose mount point is the
///   longest prefix of the path, component by component, the last such mount when
///   several share it — must be on an encrypted device. A deleted swap file
///   (` (deleted)`) is judged by the path it had.
///
/// pass also when no swap is active (only the header line). fail when any area is
/// not encrypted, even if another cannot be resolved. unknown when an area cannot
/// be resolved (its device is missing from sysfs, its file is on a filesystem
/// without a block device such as NFS, or mountinfo cannot be read), or when
/// `/proc/swaps` cannot be read (an offline image has no `/proc`). Where checks.md
/// is silent: a zram device's optional writeback `backing_dev` is not examined; a
/// loop device is judged as a device, not by the file behind it; a type other than
/// `partition` or `file` cannot be resolved.
pub struct SwapEncrypted;

const ID: &str = "disk.swap_encrypted";

/// What one swap area turned out to be.
enum Outcome {
    Zram,
    Device(BlockDevice),
    Unresolved(String),
}

impl Check for SwapEncrypted {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let raw = match ctx.host.read(SWAPS) {
            Ok(raw) => raw,
            Err(e) => return unknown(ID, e.to_string()),
        };
        let text = String::from_utf8_lossy(&raw);
        let areas = match swaps::parse(&text) {
            Ok(a) => a,
            Err(e) => return unknown(ID, format!("{SWAPS}: {e}")),
        };
        if areas.is_empty() {
            return CheckResult::new(ID, Status::Pass, "No swap is active")
                .fact("active_count", 0)
                .fact("swaps", Vec::<Value>::new())
                .evidence(file_evidence(SWAPS, &raw, text.trim_end()));
        }

        let mut sysfs = Sysfs::new(ctx.host);
        let memo = mounts(ctx);
        let mut containing: Vec<&MountEntry> = Vec::new();
        let mut facts = Vec::new();
        let mut bad = Vec::new();
        let mut unresolved = Vec::new();
        let mut good = Vec::new();
        for area in &areas {
            let (outcome, mount) = judge(area, &mut sysfs, &memo.0);
            if let Some(m) = mount {
                containing.push(m);
            }
            let mut fact = json!({
                "path": area.path,
                "type": area.kind.as_str(),
                "deleted": area.deleted,
                "size_kib": area.size_kib,
                "priority": area.priority,
            });
            let desc;
            if let Value::Object(map) = &mut fact {
                if let Some(m) = mount {
                    map.insert("containing_mount".into(), json!(m.mount_point));
                    map.insert("containing_fstype".into(), json!(m.fstype));
                }
                match &outcome {
                    Outcome::Zram => {
                        map.insert("verdict".into(), json!("zram"));
                        desc = format!("{} (zram)", area.path);
                        good.push(desc.clone());
                    }
                    Outcome::Device(d) => {
                        map.insert("chain".into(), json!(d.chain()));
                        map.insert("crypt_types".into(), json!(d.crypt_types()));
                        map.insert("tree".into(), d.to_json());
                        let on = match mount {
                            Some(m) => format!("{} on {}", area.path, m.mount_point),
                            None => area.path.clone(),
                        };
                        desc = format!("{on} ({})", d.chain());
                        if d.encrypted() {
                            map.insert("verdict".into(), json!("encrypted"));
                            good.push(desc.clone());
                        } else {
                            map.insert("verdict".into(), json!("not_encrypted"));
                            bad.push(desc.clone());
                        }
                    }
                    Outcome::Unresolved(why) => {
                        map.insert("verdict".into(), json!("unresolved"));
                        map.insert("why".into(), json!(why));
                        unresolved.push(format!("{}: {why}", area.path));
                    }
                }
            }
            facts.push(fact);
        }

        let excerpt: Vec<&str> = areas.iter().map(|a| a.line.as_str()).collect();
        let mut evidence: Vec<Evidence> = vec![file_evidence(SWAPS, &raw, excerpt.join("\n"))];
        if let (Ok(mounts), false) = (&memo.0, containing.is_empty()) {
            containing.sort_by_key(|m| m.mount_id);
            containing.dedup_by_key(|m| m.mount_id);
            evidence.push(mounts.evidence(containing));
        }
        evidence.extend(sysfs.evidence);

        let total = areas.len();
        let crypt_types: BTreeSet<String> = facts
            .iter()
            .filter_map(|f| f.get("crypt_types").and_then(Value::as_array))
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect();
        let result = if !bad.is_empty() {
            CheckResult::new(
                ID,
                Status::Fail,
                format!(
                    "{} of {total} active swap area{} {} not encrypted: {}",
                    bad.len(),
                    if total == 1 { "" } else { "s" },
                    if bad.len() == 1 { "is" } else { "are" },
                    bad.join("; ")
                ),
            )
        } else if !unresolved.is_empty() {
            unknown(ID, format!("cannot resolve swap {}", unresolved.join("; ")))
        } else {
            CheckResult::new(
                ID,
                Status::Pass,
                if total == 1 {
                    format!("The one active swap area is encrypted: {}", good.join("; "))
                } else {
                    format!(
                        "All {total} active swap areas are encrypted: {}",
                        good.join("; ")
                    )
                },
            )
        };
        result
            .fact("active_count", total)
            .fact("swaps", facts)
            .fact("crypt_types", crypt_types)
            .evidences(evidence)
    }
}

/// Judges one swap area; also returns the mount containing a swap file.
fn judge<'m>(
    area: &SwapEntry,
    sysfs: &mut Sysfs<'_>,
    mounts: &'m Result<super::Mounts, String>,
) -> (Outcome, Option<&'m MountEntry>) {
    match &area.kind {
        SwapKind::Partition => {
            let base = area.path.rsplit('/').next().unwrap_or_default();
            if area.path.starts_with("/dev/") && base.starts_with("zram") {
                return (Outcome::Zram, None);
            }
            match sysfs.by_path(&area.path) {
                Ok(d) if d.name.starts_with("zram") => (Outcome::Zram, None),
                Ok(d) => (Outcome::Device(d), None),
                Err(e) => (Outcome::Unresolved(e.to_string()), None),
            }
        }
        SwapKind::File => {
            let mounts = match mounts {
                Ok(m) => m,
                Err(e) => return (Outcome::Unresolved(e.clone()), None),
            };
            let Some(mount) = mounts.containing(&area.path) else {
                return (Outcome::Unresolved("no mount contains it".to_owned()), None);
            };
            let outcome = match resolve(sysfs, mount) {
                Some(Ok(d)) => Outcome::Device(d),
                Some(Err(e)) => Outcome::Unresolved(e.to_string()),
                None => Outcome::Unresolved(format!(
                    "it is on {} ({} from {}), which has no block device to judge",
                    mount.mount_point,
                    not_block_reason(&mount.fstype).unwrap_or(mount.fstype.as_str()),
                    mount.source
                )),
            };
            (outcome, Some(mount))
        }
        SwapKind::Other(kind) => (
            Outcome::Unresolved(format!("unknown swap type {kind:?}")),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::linux::disk::testtree::{DiskLayout, SDA, laptop, sysfs};

    fn pad(path: &str) -> String {
        format!("{path:<40}")
    }

    #[test]
    fn no_active_swap_passes() {
        let mut t = laptop();
        t.swaps(&[]);
        let r = t.run(&SwapEncrypted);
        assert_eq!(r.status, Status::Pass);
        assert_eq!(r.summary, "No swap is active");
        assert_eq!(r.facts["active_count"], 0);
    }

    #[test]
    fn a_swap_file_on_an_encrypted_filesystem_passes() {
        let mut t = laptop();
        t.swaps(&[&format!("{}file\t\t4194300\t\t0\t\t-2", pad("/swapfile"))]);
        let r = t.run(&SwapEncrypted);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(
            r.summary,
            "The one active swap area is encrypted: /swapfile on / (nvme0n1p3 → dm-0 luks-3f2a (CRYPT-LUKS2) → dm-1 vg-root)"
        );
        assert_eq!(r.facts["swaps"][0]["containing_mount"], "/");
        assert_eq!(r.facts["crypt_types"], serde_json::json!(["LUKS2"]));
        // The containing mount's line is evidence.
        assert!(r.evidence.iter().any(|e| matches!(e,
            attest_proto::Evidence::File { path, excerpt, .. }
                if path == "/proc/self/mountinfo" && excerpt.contains(" / / "))));
    }

    #[test]
    fn a_swap_file_on_boot_is_judged_by_boot() {
        // /boot is left out of the fixed volumes, never out of swap: a swap file there
        // lands on the unencrypted partition.
        let mut t = laptop();
        t.swaps(&[&format!(
            "{}file\t\t1024\t\t0\t\t-2",
            pad("/boot/swap\\040file\\040(deleted)")
        )]);
        let r = t.run(&SwapEncrypted);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["swaps"][0]["path"], "/boot/swap file");
        assert_eq!(r.facts["swaps"][0]["deleted"], true);
        assert_eq!(r.facts["swaps"][0]["containing_mount"], "/boot");
    }

    #[test]
    fn zram_passes_without_sysfs() {
        let mut t = sysfs();
        t.swaps(&[&format!(
            "{}partition\t8388604\t\t0\t\t100",
            pad("/dev/zram0")
        )]);
        let r = t.run(&SwapEncrypted);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["swaps"][0]["verdict"], "zram");
    }

    #[test]
    fn encrypted_swap_devices_pass_by_every_name() {
        let mut t = laptop();
        // dm-2 is vg-swap on the LUKS2 volume; add a plain dm-crypt swap too.
        let p2 = format!("{}/nvme0n1p2", crate::checks::linux::disk::testtree::NVME);
        t.virtual_dev(
            "dm-3",
            "253:3",
            Some(("cryptswap", "CRYPT-PLAIN-cryptswap")),
            &[&p2],
        );
        t.swaps(&[
            &format!("{}partition\t4194300\t\t0\t\t-2", pad("/dev/dm-2")),
            &format!(
                "{}partition\t4194300\t\t0\t\t-3",
                pad("/dev/mapper/cryptswap")
            ),
            &format!("{}partition\t4194300\t\t0\t\t-4", pad("/dev/vg/swap")),
        ]);
        let r = t.run(&SwapEncrypted);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.summary
                .starts_with("All 3 active swap areas are encrypted")
        );
        assert_eq!(
            r.facts["crypt_types"],
            serde_json::json!(["LUKS2", "PLAIN"])
        );
        assert_eq!(
            r.facts["swaps"][2]["chain"],
            "nvme0n1p3 → dm-0 luks-3f2a (CRYPT-LUKS2) → dm-2 vg-swap"
        );
    }

    #[test]
    fn an_unencrypted_swap_partition_fails() {
        let mut t = laptop();
        t.disk(SDA, "8:0", false);
        t.part(SDA, "sda2", "8:2", 2);
        t.swaps(&[
            &format!("{}partition\t8388604\t\t0\t\t-2", pad("/dev/sda2")),
            &format!("{}partition\t8388604\t\t0\t\t100", pad("/dev/zram0")),
        ]);
        let r = t.run(&SwapEncrypted);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.summary,
            "1 of 2 active swap areas is not encrypted: /dev/sda2 (sda2)"
        );
        assert_eq!(r.facts["swaps"][0]["verdict"], "not_encrypted");
    }

    #[test]
    fn an_unresolvable_swap_is_unknown() {
        let mut t = laptop();
        t.swaps(&[&format!(
            "{}partition\t8388604\t\t0\t\t-2",
            pad("/dev/sdz9")
        )]);
        let r = t.run(&SwapEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert_eq!(
            r.reason.as_deref(),
            Some("cannot resolve swap /dev/sdz9: /sys/class/block/sdz9: not found")
        );

        // A swap file on NFS has no block device to judge.
        t.mountinfo("22 1 0:50 / / rw - nfs4 server:/root rw\n");
        t.swaps(&[&format!("{}file\t\t1024\t\t0\t\t-2", pad("/swapfile"))]);
        let r = t.run(&SwapEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.unwrap().contains("a network filesystem"));
    }

    #[test]
    fn unreadable_proc_swaps_is_unknown() {
        let t = laptop();
        let r = t.run(&SwapEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert_eq!(r.reason.as_deref(), Some("/proc/swaps: not found"));
    }

    #[test]
    fn the_three_checks_share_one_parsed_mountinfo() {
        let mut t = laptop();
        let host = t.host();
        let thresholds = crate::checks::Thresholds::default();
        let ctx = Context::new(&host, chrono::DateTime::UNIX_EPOCH, &thresholds);
        let first = mounts(&ctx);
        // Changing the file after the first read changes nothing within the run.
        t.mountinfo("1 0 0:2 / / rw - tmpfs tmpfs rw\n");
        let second = mounts(&ctx);
        assert!(std::sync::Arc::ptr_eq(&first, &second));
        assert_eq!(
            crate::checks::linux::disk::root::RootEncrypted
                .run(&ctx)
                .status,
            Status::Pass
        );
    }
}
