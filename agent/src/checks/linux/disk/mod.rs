//! Disk encryption checks (checks.md, "Disk encryption"; ISO/IEC 27002:2022 8.24,
//! 8.1, 7.10).
//!
//! Every check reads the mounts from `/proc/self/mountinfo` (parsed once per run
//! through [`Context::memo`]) and resolves block devices through sysfs
//! ([`blockdev`]). A mount's device is found from its `MAJ:MIN`
//! (`/sys/dev/block/MAJ:MIN`); a filesystem with an anonymous device (major 0, as
//! btrfs subvolumes) through its source path instead (`/dev/mapper/NAME`,
//! `/dev/NAME`, a `/dev/disk/by-*` link).

mod blockdev;
mod fixed;
mod mountinfo;
mod root;
mod swap;
mod swaps;
#[cfg(test)]
mod testtree;

use std::sync::Arc;

use attest_proto::Evidence;

use super::{Check, Context, file_evidence};
use blockdev::{BlockDevice, ResolveError, Sysfs};
use mountinfo::MountEntry;

/// Where the mounts are read from (on a live host `/proc/self` is the agent's own
/// process, which [`crate::host::Host`] follows like any link).
pub const MOUNTINFO: &str = "/proc/self/mountinfo";

/// The disk checks, in report order.
pub fn checks() -> Vec<Box<dyn Check>> {
    vec![
        Box::new(root::RootEncrypted),
        Box::new(fixed::FixedVolumesEncrypted),
        Box::new(swap::SwapEncrypted),
    ]
}

/// The parsed mountinfo and the bytes it came from.
struct Mounts {
    raw: Vec<u8>,
    entries: Vec<MountEntry>,
}

impl Mounts {
    /// Evidence: mountinfo with the given lines as excerpt.
    fn evidence<'a>(&self, lines: impl IntoIterator<Item = &'a MountEntry>) -> Evidence {
        let excerpt: Vec<&str> = lines.into_iter().map(|e| e.line.as_str()).collect();
        file_evidence(MOUNTINFO, &self.raw, excerpt.join("\n"))
    }

    /// The mount that contains `path`: the longest mount point that is `path` or a
    /// directory above it; among equal mount points the last one, which hides the
    /// others (the same rule that picks `/`).
    fn containing(&self, path: &str) -> Option<&MountEntry> {
        let mut best: Option<&MountEntry> = None;
        for entry in &self.entries {
            if !is_under(path, &entry.mount_point) {
                continue;
            }
            if best.is_none_or(|b| entry.mount_point.len() >= b.mount_point.len()) {
                best = Some(entry);
            }
        }
        best
    }
}

/// `path` is `dir` or below it, component by component (`/swapfile` is not under
/// `/swap`).
fn is_under(path: &str, dir: &str) -> bool {
    if dir == "/" {
        return path.starts_with('/');
    }
    let dir = dir.trim_end_matches('/');
    match path.strip_prefix(dir) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Mountinfo for this run; `Err` holds why it could not be read or parsed.
struct MountsMemo(Result<Mounts, String>);

fn mounts(ctx: &Context<'_>) -> Arc<MountsMemo> {
    ctx.memo(|ctx| {
        MountsMemo(match ctx.host.read(MOUNTINFO) {
            Err(e) => Err(e.to_string()),
            Ok(raw) => match mountinfo::parse(&String::from_utf8_lossy(&raw)) {
                Ok(entries) => Ok(Mounts { raw, entries }),
                Err(e) => Err(format!("{MOUNTINFO}: {e}")),
            },
        })
    })
}

/// Why a filesystem type has no block device of its own to judge, or `None` when it
/// may have one. The tables:
///
/// - union: `overlay`, `aufs`, `unionfs`;
/// - memory: `tmpfs`, `ramfs`, `rootfs` (the initramfs);
/// - network or shared from a hypervisor: `nfs`, `nfs4`, `cifs`, `smb3`, `smbfs`,
///   `9p`, `ceph`, `glusterfs`, `lustre`, `afs`, `ncpfs`, `coda`, `orangefs`,
///   `beegfs`, `gpfs`, `virtiofs`, `davfs`;
/// - FUSE: `fuse`, `fuseblk`, `fuse.*`;
/// - ZFS: `zfs` (pools are not block-device filesystems; their encryption is ZFS's
///   own and is not read here).
fn not_block_reason(fstype: &str) -> Option<&'static str> {
    const NETWORK: [&str; 17] = [
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "9p",
        "ceph",
        "glusterfs",
        "lustre",
        "afs",
        "ncpfs",
        "coda",
        "orangefs",
        "beegfs",
        "gpfs",
        "virtiofs",
        "davfs",
    ];
    match fstype {
        "overlay" | "aufs" | "unionfs" => Some("a union filesystem"),
        "tmpfs" | "ramfs" | "rootfs" => Some("a memory filesystem"),
        "zfs" => Some("a ZFS dataset"),
        "fuse" | "fuseblk" => Some("a FUSE filesystem"),
        t if t.starts_with("fuse.") => Some("a FUSE filesystem"),
        t if NETWORK.contains(&t) => Some("a network filesystem"),
        _ => None,
    }
}

/// How a mount's block device is found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Backing {
    /// A real device number: `/sys/dev/block/MAJ:MIN`.
    Number(u32, u32),
    /// An anonymous device (major 0) of a filesystem that is not virtual, network,
    /// FUSE or ZFS, whose source is a `/dev` path.
    Source(String),
    /// No block device: proc, sysfs, tmpfs, overlay, NFS, ZFS…
    None,
}

fn backing(entry: &MountEntry) -> Backing {
    if entry.major != 0 {
        Backing::Number(entry.major, entry.minor)
    } else if not_block_reason(&entry.fstype).is_none() && entry.source.starts_with("/dev/") {
        Backing::Source(entry.source.clone())
    } else {
        Backing::None
    }
}

/// Resolves a mount's device; `None` when it has no block device.
fn resolve(sysfs: &mut Sysfs<'_>, entry: &MountEntry) -> Option<Result<BlockDevice, ResolveError>> {
    match backing(entry) {
        Backing::Number(major, minor) => Some(sysfs.by_number(major, minor)),
        Backing::Source(source) => Some(sysfs.by_path(&source)),
        Backing::None => None,
    }
}

/// A short description of a resolved device for facts: chain, encryption, types.
fn device_facts(device: &BlockDevice) -> serde_json::Value {
    serde_json::json!({
        "device": device.name,
        "chain": device.chain(),
        "encrypted": device.encrypted(),
        "crypt_types": device.crypt_types(),
        "tree": device.to_json(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(mount_point: &str, fstype: &str) -> MountEntry {
        MountEntry {
            mount_id: 1,
            parent_id: 0,
            major: 8,
            minor: 1,
            root: "/".into(),
            mount_point: mount_point.into(),
            mount_options: "rw".into(),
            optional: vec![],
            fstype: fstype.into(),
            source: "/dev/sda1".into(),
            super_options: "rw".into(),
            line: String::new(),
        }
    }

    #[test]
    fn is_under_respects_components() {
        assert!(is_under("/swapfile", "/"));
        assert!(is_under("/swap/file", "/swap"));
        assert!(is_under("/swap", "/swap"));
        assert!(!is_under("/swapfile", "/swap"));
        assert!(is_under("/var/swap", "/var/"));
        assert!(!is_under("relative", "/"));
    }

    #[test]
    fn containing_takes_the_longest_then_the_last() {
        let mut a = entry("/", "ext4");
        a.mount_id = 1;
        let mut b = entry("/var", "ext4");
        b.mount_id = 2;
        let mut c = entry("/var", "xfs");
        c.mount_id = 3;
        let d = entry("/var/lib", "ext4");
        let mounts = Mounts {
            raw: vec![],
            entries: vec![a, b, c, d],
        };
        assert_eq!(mounts.containing("/var/swap").unwrap().mount_id, 3);
        assert_eq!(mounts.containing("/swapfile").unwrap().mount_id, 1);
        assert_eq!(
            mounts.containing("/var/lib/x").unwrap().mount_point,
            "/var/lib"
        );
    }

    #[test]
    fn backing_by_number_source_or_none() {
        assert_eq!(backing(&entry("/", "ext4")), Backing::Number(8, 1));
        let mut btrfs = entry("/home", "btrfs");
        btrfs.major = 0;
        btrfs.source = "/dev/mapper/luks-1".into();
        assert_eq!(
            backing(&btrfs),
            Backing::Source("/dev/mapper/luks-1".into())
        );
        let mut nfs = entry("/srv", "nfs4");
        nfs.major = 0;
        nfs.source = "/dev/fake".into();
        assert_eq!(backing(&nfs), Backing::None);
        let mut proc = entry("/proc", "proc");
        proc.major = 0;
        proc.source = "proc".into();
        assert_eq!(backing(&proc), Backing::None);
    }

    #[test]
    fn fs_tables() {
        assert_eq!(not_block_reason("overlay"), Some("a union filesystem"));
        assert_eq!(not_block_reason("fuse.sshfs"), Some("a FUSE filesystem"));
        assert_eq!(not_block_reason("nfs4"), Some("a network filesystem"));
        assert_eq!(not_block_reason("zfs"), Some("a ZFS dataset"));
        assert_eq!(not_block_reason("rootfs"), Some("a memory filesystem"));
        assert_eq!(not_block_reason("ext4"), None);
        assert_eq!(not_block_reason("btrfs"), None);
    }
}
