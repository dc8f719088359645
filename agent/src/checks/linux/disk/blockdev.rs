//! Block devices as sysfs exposes them, and whether one is encrypted.
//!
//! The kernel's layout, read through the host root:
//!
//! - `/sys/dev/block/MAJ:MIN` is a symlink to the device's directory under
//!   `/sys/devices/...` (`.../nvme0n1/nvme0n1p3`, `.../virtual/block/dm-0`);
//!   `/sys/class/block/NAME` is another link to the same directory.
//! - A partition's directory sits inside its disk's directory and holds a
//!   `partition` file (its number); a whole disk holds `removable` (`1` for
//!   removable media: USB sticks, SD cards, optical drives).
//! - A device-mapper device holds `dm/name` (its `/dev/mapper` name) and `dm/uuid`
//!   (`CRYPT-LUKS2-<uuid>-<name>` for LUKS2 opened by cryptsetup,
//!   `LVM-<vg><lv>` for LVM, empty when none was set).
//! - A stacked device (dm, md RAID) lists what it is built on in `slaves/`, each a
//!   symlink to that device's directory.
//!
//! A device is **encrypted** (checks.md) when its `dm/uuid` starts with `CRYPT-`, or
//! when it has slaves and every slave is encrypted, recursively. A partition is
//! judged by itself, never by its disk. Choices where checks.md is silent:
//!
//! - cryptsetup also names devices that encrypt nothing `CRYPT-…`: dm-verity
//!   (`CRYPT-VERITY-`), standalone dm-integrity (`CRYPT-INTEGRITY-`) and the
//!   integrity device under an authenticated LUKS2 volume (`CRYPT-SUBDEV-`). Their
//!   target is not dm-crypt, so they are judged like any other stacked device, by
//!   their slaves (a verity device on a plain partition is not encrypted; a
//!   dm-integrity device on dm-crypt is).
//! - A partition of a stacked device (`md0p1`) has no slaves of its own and so, by
//!   the rule above, is not encrypted even when the array's members are.
//! - A loop device is judged as a device (it has no slaves); the file behind it is
//!   not followed.

use std::collections::BTreeSet;

use attest_proto::Evidence;
use serde_json::{Value, json};

use crate::checks::{file_evidence, sha256};
use crate::host::{Host, ReadError, join_path};

/// The deepest device stack followed (dm on md on dm …); a deeper one is refused.
pub const MAX_DEPTH: usize = 16;

/// The most devices read to resolve one device (its whole stack); more is refused.
pub const MAX_DEVICES: usize = 256;

/// cryptsetup device types whose dm target does not encrypt (see the module docs).
const NOT_ENCRYPTING: [&str; 3] = ["VERITY", "INTEGRITY", "SUBDEV"];

/// One block device and, for a stacked device, the devices it is built on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockDevice {
    /// The kernel name: `nvme0n1p3`, `dm-0`, `md0`.
    pub name: String,
    /// The device directory, e.g. `/sys/devices/virtual/block/dm-0`.
    pub sys_path: String,
    /// A `partition` file is present.
    pub partition: bool,
    /// The whole disk: the device itself, or for a partition its parent directory.
    pub disk: String,
    /// The whole disk's `removable` is `1` (`None`: no such file).
    pub removable: Option<bool>,
    pub dm_name: Option<String>,
    pub dm_uuid: Option<String>,
    pub slaves: Vec<BlockDevice>,
}

/// Why a device could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{path}: not a device path under /dev")]
    NotADevicePath { path: String },
    #[error("{path}: no device-mapper device named {name:?} in /sys/class/block")]
    NoSuchDmName { path: String, name: String },
    #[error("{path}: link does not resolve inside the root")]
    UnresolvedLink { path: String },
    #[error("{path}: device stack deeper than {MAX_DEPTH}")]
    TooDeep { path: String },
    #[error("{path}: device stack of more than {MAX_DEVICES} devices")]
    TooMany { path: String },
}

/// A device excluded from `disk.fixed_volumes_encrypted`, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    Loop,
    Zram,
    Ram,
    Removable,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Loop => "loop device",
            Class::Zram => "zram device",
            Class::Ram => "ram disk",
            Class::Removable => "removable disk",
        }
    }
}

impl BlockDevice {
    /// The cryptsetup type this device itself encrypts with (`LUKS2`, `LUKS1`,
    /// `PLAIN`, `TCRYPT`, `BITLK`…), from `dm/uuid`; `dm-crypt` when the uuid is
    /// `CRYPT-` with no type. `None` when the device is not a dm-crypt device.
    pub fn crypt_type(&self) -> Option<String> {
        let rest = self.dm_uuid.as_deref()?.strip_prefix("CRYPT-")?;
        let kind = rest.split('-').next().unwrap_or_default();
        if NOT_ENCRYPTING.contains(&kind) {
            None
        } else if kind.is_empty() {
            Some("dm-crypt".to_owned())
        } else {
            Some(kind.to_owned())
        }
    }

    /// Encrypted itself, or built only on encrypted devices.
    pub fn encrypted(&self) -> bool {
        self.crypt_type().is_some()
            || (!self.slaves.is_empty() && self.slaves.iter().all(BlockDevice::encrypted))
    }

    /// The crypt types that make this device encrypted (empty when it is not).
    pub fn crypt_types(&self) -> BTreeSet<String> {
        let mut types = BTreeSet::new();
        if !self.encrypted() {
            return types;
        }
        if let Some(t) = self.crypt_type() {
            types.insert(t);
        } else {
            for slave in &self.slaves {
                types.extend(slave.crypt_types());
            }
        }
        types
    }

    /// What this device itself is, when it is one the fixed-volume check leaves
    /// out: by name `loop*`, `zram*`, `ram*`; or a whole disk (or a partition of
    /// one) whose `removable` is 1.
    pub fn own_class(&self) -> Option<Class> {
        if self.name.starts_with("loop") {
            Some(Class::Loop)
        } else if self.name.starts_with("zram") {
            Some(Class::Zram)
        } else if self.name.starts_with("ram") {
            Some(Class::Ram)
        } else if self.removable == Some(true) {
            Some(Class::Removable)
        } else {
            None
        }
    }

    /// Why the fixed-volume check leaves this device out: its own class, or — for a
    /// stacked device — when every device it is built on is left out (LVM on a USB
    /// stick is on the stick). The classes found, sorted.
    pub fn exclusion(&self) -> Option<BTreeSet<Class>> {
        if let Some(class) = self.own_class() {
            return Some(BTreeSet::from([class]));
        }
        if self.slaves.is_empty() {
            return None;
        }
        let mut classes = BTreeSet::new();
        for slave in &self.slaves {
            classes.extend(slave.exclusion()?);
        }
        Some(classes)
    }

    /// The stack from the bottom up, e.g.
    /// `nvme0n1p3 → dm-0 luks-3f2a (CRYPT-LUKS2) → dm-1 vg-root`; several slaves
    /// are bracketed: `[sda1, sdb1] → md0`.
    pub fn chain(&self) -> String {
        let label = self.label();
        match self.slaves.as_slice() {
            [] => label,
            [one] => format!("{} → {label}", one.chain()),
            many => {
                let inner: Vec<String> = many.iter().map(BlockDevice::chain).collect();
                format!("[{}] → {label}", inner.join(", "))
            }
        }
    }

    /// `dm-0 luks-3f2a (CRYPT-LUKS2)`, `nvme0n1p3`.
    pub fn label(&self) -> String {
        let mut label = self.name.clone();
        if let Some(name) = &self.dm_name {
            label.push(' ');
            label.push_str(name);
        }
        if let Some(kind) = self.crypt_type() {
            label.push_str(&format!(" (CRYPT-{kind})"));
        }
        label
    }

    /// The device tree as facts.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "sys_path": self.sys_path,
            "encrypted": self.encrypted(),
        });
        if let Value::Object(map) = &mut v {
            if self.partition {
                map.insert("partition_of".into(), json!(self.disk));
            }
            if let Some(r) = self.removable {
                map.insert("removable".into(), json!(r));
            }
            if let Some(n) = &self.dm_name {
                map.insert("dm_name".into(), json!(n));
            }
            if let Some(u) = &self.dm_uuid {
                map.insert("dm_uuid".into(), json!(u));
            }
            if let Some(t) = self.crypt_type() {
                map.insert("crypt_type".into(), json!(t));
            }
            if !self.slaves.is_empty() {
                let slaves: Vec<Value> = self.slaves.iter().map(BlockDevice::to_json).collect();
                map.insert("slaves".into(), Value::Array(slaves));
            }
        }
        v
    }
}

/// Where the link at `link` points, `..` and `.` folded without touching the
/// filesystem (`/dev/disk/by-uuid/x` → `../../sda3` is `/dev/sda3`).
fn lexical_target(link: &str, target: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if !target.starts_with('/') {
        parts.extend(link.split('/').filter(|p| !p.is_empty()));
        parts.pop();
    }
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Reads devices from sysfs under a host root, keeping the files read as evidence.
pub struct Sysfs<'h> {
    host: &'h Host,
    /// Devices read for the current resolution, bounded by [`MAX_DEVICES`].
    loaded: usize,
    /// The sysfs files and links read, in order, each once.
    pub evidence: Vec<Evidence>,
}

impl<'h> Sysfs<'h> {
    pub fn new(host: &'h Host) -> Self {
        Sysfs {
            host,
            loaded: 0,
            evidence: Vec::new(),
        }
    }

    /// The device `MAJ:MIN`, through `/sys/dev/block/MAJ:MIN`.
    pub fn by_number(&mut self, major: u32, minor: u32) -> Result<BlockDevice, ResolveError> {
        self.loaded = 0;
        let link = format!("/sys/dev/block/{major}:{minor}");
        let dir = self.follow(&link)?;
        self.load(&dir, 0)
    }

    /// The device a `/dev` path names, as checks.md resolves a mount source:
    ///
    /// - `/dev/mapper/NAME`: the `dm-N` in `/sys/class/block` whose `dm/name` is
    ///   NAME;
    /// - `/dev/NAME` (also `/dev/dm-N`): `/sys/class/block/NAME`;
    /// - any other path (`/dev/disk/by-uuid/…`, `/dev/VG/LV`, `/dev/md/NAME`), or a
    ///   `/dev/NAME` that sysfs does not know (`/dev/cdrom`): when the root's `/dev`
    ///   holds it as a link, the path the link names (`..` folded; the node itself
    ///   need not exist in the root) is resolved as above; otherwise a two-part
    ///   `/dev/VG/LV` is looked up as the device-mapper name LVM gives it (`VG-LV`,
    ///   each `-` inside VG or LV doubled), and anything else cannot be resolved.
    ///
    /// `/sys/block` stands in for `/sys/class/block` on a tree without the latter.
    pub fn by_path(&mut self, path: &str) -> Result<BlockDevice, ResolveError> {
        self.loaded = 0;
        self.by_path_inner(path, 0)
    }

    fn by_path_inner(&mut self, path: &str, hops: usize) -> Result<BlockDevice, ResolveError> {
        let not_dev = || ResolveError::NotADevicePath {
            path: path.to_owned(),
        };
        let rest = path.strip_prefix("/dev/").ok_or_else(not_dev)?;
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        match parts.as_slice() {
            ["mapper", name] => self.by_dm_name(path, name),
            [name] if *name != "." && *name != ".." => {
                match self.follow(&format!("{}/{name}", self.class_dir())) {
                    Ok(dir) => self.load(&dir, 0),
                    Err(ResolveError::Read(e)) if e.is_not_found() => {
                        match self.follow_dev_link(path, hops) {
                            Some(found) => found,
                            None => Err(e.into()),
                        }
                    }
                    Err(e) => Err(e),
                }
            }
            _ => {
                if let Some(found) = self.follow_dev_link(path, hops) {
                    return found;
                }
                match parts.as_slice() {
                    [vg, lv] if !matches!(*vg, "disk" | "md" | "mapper") => {
                        let name = format!("{}-{}", vg.replace('-', "--"), lv.replace('-', "--"));
                        self.by_dm_name(path, &name)
                    }
                    _ => Err(ResolveError::UnresolvedLink {
                        path: path.to_owned(),
                    }),
                }
            }
        }
    }

    /// When `path` is a link in the root's `/dev`, the device of the path it names.
    /// Links are followed one hop at a time and lexically: the target is a device
    /// node, which a root taken from an image need not hold.
    fn follow_dev_link(
        &mut self,
        path: &str,
        hops: usize,
    ) -> Option<Result<BlockDevice, ResolveError>> {
        if hops >= MAX_DEPTH {
            return None;
        }
        let written = self.host.read_link(path).ok()?;
        let target = lexical_target(path, &written);
        self.link_evidence(path, &written, &target);
        Some(self.by_path_inner(&target, hops + 1))
    }

    /// Where the kernel lists every block device by name: `/sys/class/block`, or
    /// `/sys/block` on a tree without it.
    fn class_dir(&self) -> &'static str {
        if self.host.is_dir("/sys/class/block") {
            "/sys/class/block"
        } else {
            "/sys/block"
        }
    }

    /// The `dm-N` whose `dm/name` is `name`.
    fn by_dm_name(&mut self, path: &str, name: &str) -> Result<BlockDevice, ResolveError> {
        let class_dir = self.class_dir();
        for entry in self.host.list_dir(class_dir)? {
            if !entry.starts_with("dm-") {
                continue;
            }
            let Ok(raw) = self.host.read(&format!("{class_dir}/{entry}/dm/name")) else {
                continue;
            };
            if String::from_utf8_lossy(&raw).trim_end_matches('\n') == name {
                // `load` records `dm/name` under the device's own directory.
                let dir = self.follow(&format!("{class_dir}/{entry}"))?;
                return self.load(&dir, 0);
            }
        }
        Err(ResolveError::NoSuchDmName {
            path: path.to_owned(),
            name: name.to_owned(),
        })
    }

    /// Follows a sysfs link inside the root and records it.
    fn follow(&mut self, link: &str) -> Result<String, ResolveError> {
        let target = self.host.canonical(link)?;
        let written = self.host.read_link(link).unwrap_or_default();
        self.link_evidence(link, &written, &target);
        Ok(target)
    }

    fn link_evidence(&mut self, link: &str, written: &str, target: &str) {
        if written.is_empty() {
            return;
        }
        self.push(Evidence::File {
            path: link.to_owned(),
            excerpt: format!("-> {written} ({target})"),
            sha256: sha256(written.as_bytes()),
        });
    }

    fn push(&mut self, evidence: Evidence) {
        if !self.evidence.contains(&evidence) {
            self.evidence.push(evidence);
        }
    }

    /// Reads a small sysfs attribute; `None` when it does not exist. It is kept as
    /// evidence when `keep` says its value decided something.
    fn attr(
        &mut self,
        path: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Option<String>, ResolveError> {
        match self.host.read(path) {
            Ok(raw) => {
                let text = String::from_utf8_lossy(&raw).trim_end().to_owned();
                if keep(&text) {
                    self.push(file_evidence(path, &raw, text.clone()));
                }
                Ok(Some(text))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads the device whose directory is `dir` (a canonical host path), and the
    /// devices below it.
    fn load(&mut self, dir: &str, depth: usize) -> Result<BlockDevice, ResolveError> {
        if depth > MAX_DEPTH {
            return Err(ResolveError::TooDeep {
                path: dir.to_owned(),
            });
        }
        self.loaded += 1;
        if self.loaded > MAX_DEVICES {
            return Err(ResolveError::TooMany {
                path: dir.to_owned(),
            });
        }
        let (parent, name) = dir.rsplit_once('/').unwrap_or(("", dir));
        let partition = self
            .attr(&join_path(dir, "partition"), |_| false)?
            .is_some();
        let disk_dir = if partition { parent } else { dir };
        let disk = disk_dir.rsplit('/').next().unwrap_or(disk_dir).to_owned();
        let removable = self
            .attr(&join_path(disk_dir, "removable"), |v| v == "1")?
            .map(|v| v == "1");
        let dm_name = self.attr(&format!("{dir}/dm/name"), |_| true)?;
        let dm_uuid = self.attr(&format!("{dir}/dm/uuid"), |_| true)?;
        let slaves_dir = join_path(dir, "slaves");
        let names = match self.host.list_dir(&slaves_dir) {
            Ok(names) => names,
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        if !names.is_empty() {
            let listing = names.join("\n");
            self.push(file_evidence(
                &slaves_dir,
                listing.as_bytes(),
                listing.clone(),
            ));
        }
        let mut slaves = Vec::with_capacity(names.len());
        for slave in names {
            let target = self.follow(&join_path(&slaves_dir, &slave))?;
            slaves.push(self.load(&target, depth + 1)?);
        }
        Ok(BlockDevice {
            name: name.to_owned(),
            sys_path: dir.to_owned(),
            partition,
            disk,
            removable,
            dm_name,
            dm_uuid,
            slaves,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(name: &str, uuid: Option<&str>, slaves: Vec<BlockDevice>) -> BlockDevice {
        BlockDevice {
            name: name.into(),
            sys_path: format!("/sys/devices/virtual/block/{name}"),
            partition: false,
            disk: name.into(),
            removable: Some(false),
            dm_name: uuid.map(|_| format!("{name}-map")),
            dm_uuid: uuid.map(str::to_owned),
            slaves,
        }
    }

    #[test]
    fn link_targets_fold_lexically() {
        assert_eq!(
            lexical_target("/dev/disk/by-uuid/x", "../../sda3"),
            "/dev/sda3"
        );
        assert_eq!(lexical_target("/dev/mapper/cr", "../dm-0"), "/dev/dm-0");
        assert_eq!(lexical_target("/dev/vg/root", "/dev/./dm-1"), "/dev/dm-1");
        assert_eq!(lexical_target("/dev/a", "../../../../x"), "/x");
    }

    #[test]
    fn crypt_uuid_prefix_decides() {
        let luks = dev("dm-0", Some("CRYPT-LUKS2-3f2a00-luks-3f2a"), vec![]);
        assert!(luks.encrypted());
        assert_eq!(luks.crypt_type().as_deref(), Some("LUKS2"));
        assert_eq!(
            dev("dm-0", Some("CRYPT-PLAIN-cryptswap"), vec![])
                .crypt_type()
                .as_deref(),
            Some("PLAIN")
        );
        assert_eq!(
            dev("dm-0", Some("CRYPT-"), vec![]).crypt_type().as_deref(),
            Some("dm-crypt")
        );
        assert!(!dev("dm-0", Some("LVM-abc"), vec![]).encrypted());
        assert!(!dev("dm-0", Some(""), vec![]).encrypted());
        assert!(!dev("sda", None, vec![]).encrypted());
    }

    #[test]
    fn verity_and_integrity_are_judged_by_their_slaves() {
        let plain = dev("sda1", None, vec![]);
        let verity = dev("dm-0", Some("CRYPT-VERITY-abc-usr"), vec![plain.clone()]);
        assert!(!verity.encrypted());
        let crypt = dev("dm-1", Some("CRYPT-LUKS2-abc-x"), vec![plain]);
        let integrity = dev("dm-2", Some("CRYPT-INTEGRITY-y"), vec![crypt]);
        assert!(integrity.encrypted());
        assert_eq!(integrity.crypt_types(), BTreeSet::from(["LUKS2".into()]));
    }

    #[test]
    fn every_slave_must_be_encrypted() {
        let a = dev(
            "dm-0",
            Some("CRYPT-LUKS2-a-a"),
            vec![dev("sda1", None, vec![])],
        );
        let b = dev(
            "dm-1",
            Some("CRYPT-LUKS1-b-b"),
            vec![dev("sdb1", None, vec![])],
        );
        let md = dev("md0", None, vec![a.clone(), b]);
        assert!(md.encrypted());
        assert_eq!(
            md.crypt_types(),
            BTreeSet::from(["LUKS1".into(), "LUKS2".into()])
        );
        let half = dev("md1", None, vec![a, dev("sdc1", None, vec![])]);
        assert!(!half.encrypted());
        assert!(half.crypt_types().is_empty());
    }

    #[test]
    fn chain_reads_bottom_up() {
        let part = dev("nvme0n1p3", None, vec![]);
        let luks = dev("dm-0", Some("CRYPT-LUKS2-3f2a-luks"), vec![part]);
        let lv = dev("dm-1", Some("LVM-xyz"), vec![luks]);
        assert_eq!(
            lv.chain(),
            "nvme0n1p3 → dm-0 dm-0-map (CRYPT-LUKS2) → dm-1 dm-1-map"
        );
        let md = dev(
            "md0",
            None,
            vec![dev("sda1", None, vec![]), dev("sdb1", None, vec![])],
        );
        assert_eq!(md.chain(), "[sda1, sdb1] → md0");
    }

    #[test]
    fn exclusion_by_name_removable_and_stack() {
        assert_eq!(
            dev("loop3", None, vec![]).exclusion(),
            Some(BTreeSet::from([Class::Loop]))
        );
        assert_eq!(dev("zram0", None, vec![]).own_class(), Some(Class::Zram));
        assert_eq!(dev("ram0", None, vec![]).own_class(), Some(Class::Ram));
        let mut usb = dev("sdb1", None, vec![]);
        usb.removable = Some(true);
        assert_eq!(usb.own_class(), Some(Class::Removable));
        let lvm_on_usb = dev("dm-3", Some("LVM-x"), vec![usb.clone()]);
        assert_eq!(
            lvm_on_usb.exclusion(),
            Some(BTreeSet::from([Class::Removable]))
        );
        let mixed = dev("dm-4", Some("LVM-y"), vec![usb, dev("sda2", None, vec![])]);
        assert_eq!(mixed.exclusion(), None);
        assert_eq!(dev("sda2", None, vec![]).exclusion(), None);
    }

    mod on_a_tree {
        use super::super::*;
        use crate::checks::linux::disk::testtree::{DiskLayout, SDA, sysfs};

        #[test]
        fn a_slave_cycle_is_refused_not_followed_forever() {
            let mut t = sysfs();
            t.virtual_dev(
                "dm-0",
                "253:0",
                Some(("a", "LVM-a")),
                &["virtual/block/dm-1"],
            );
            t.virtual_dev(
                "dm-1",
                "253:1",
                Some(("b", "LVM-b")),
                &["virtual/block/dm-0"],
            );
            let host = t.host();
            let err = Sysfs::new(&host).by_number(253, 0).unwrap_err();
            assert!(matches!(err, ResolveError::TooDeep { .. }), "{err}");
        }

        #[test]
        fn a_wide_stack_is_bounded() {
            // Each level is built twice on the next: 2^16 paths through 17 devices.
            let mut t = sysfs();
            t.virtual_dev("dm-16", "253:16", Some(("l16", "LVM-16")), &[]);
            for i in (0..16).rev() {
                let next = format!("virtual/block/dm-{}", i + 1);
                t.virtual_dev(&format!("dm-{i}"), &format!("253:{i}"), None, &[&next]);
                // A second link to the same device under another name.
                t.add_link(
                    &format!("sys/devices/virtual/block/dm-{i}/slaves/again"),
                    &format!("../../../../{next}"),
                );
            }
            let host = t.host();
            let err = Sysfs::new(&host).by_number(253, 0).unwrap_err();
            assert!(matches!(err, ResolveError::TooMany { .. }), "{err}");
        }

        #[test]
        fn dev_links_and_the_old_sys_block_layout() {
            let mut t = sysfs();
            t.disk(
                "pci0000:00/0000:00:17.0/ata3/host2/target2:0:0/2:0:0:0/block/sr0",
                "11:0",
                true,
            );
            t.add_link("dev/cdrom", "sr0");
            let host = t.host();
            let mut sysfs = Sysfs::new(&host);
            let sr0 = sysfs.by_path("/dev/cdrom").unwrap();
            assert_eq!(sr0.name, "sr0");
            assert_eq!(sr0.own_class(), Some(Class::Removable));
            assert!(sysfs.evidence.iter().any(|e| matches!(e,
                Evidence::File { path, .. } if path == "/dev/cdrom")));

            // No /sys/class/block: /sys/block stands in.
            t.disk(SDA, "8:0", false);
            t.remove("/sys/class");
            let sda = Sysfs::new(&host).by_path("/dev/sda").unwrap();
            assert_eq!(sda.sys_path, format!("/sys/devices/{SDA}"));
            assert!(matches!(
                Sysfs::new(&host).by_path("/dev/mapper/nope"),
                Err(ResolveError::NoSuchDmName { .. })
            ));
            assert!(matches!(
                Sysfs::new(&host).by_path("tmpfs"),
                Err(ResolveError::NotADevicePath { .. })
            ));
        }

        #[test]
        fn verity_on_a_plain_partition_is_not_encrypted() {
            let mut t = sysfs();
            t.disk(SDA, "8:0", false);
            let usr = t.part(SDA, "sda3", "8:3", 3);
            let hash = t.part(SDA, "sda4", "8:4", 4);
            t.virtual_dev(
                "dm-0",
                "253:0",
                Some(("usr", "CRYPT-VERITY-9a8b-usr")),
                &[&usr, &hash],
            );
            let host = t.host();
            let usr = Sysfs::new(&host).by_number(253, 0).unwrap();
            assert!(!usr.encrypted());
            assert_eq!(usr.chain(), "[sda3, sda4] → dm-0 usr");
        }
    }
}
