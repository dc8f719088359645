//! A host tree for the disk checks' tests, laid out as the kernel lays out procfs
//! and sysfs, symlinks included:
//!
//! ```text
//! proc/self -> 4242                        proc/4242/mountinfo   proc/swaps
//! sys/dev/block/259:3 -> ../../devices/pci0000:00/…/nvme0n1/nvme0n1p3
//! sys/class/block/dm-0 -> ../../devices/virtual/block/dm-0
//! sys/devices/virtual/block/dm-0/slaves/nvme0n1p3 -> ../../../../pci0000:00/…/nvme0n1/nvme0n1p3
//! ```
//!
//! Device paths are given relative to `sys/devices`.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use chrono::{TimeZone, Utc};

use crate::checks::{Check, Context, Thresholds};
use crate::host::Host;
use attest_proto::CheckResult;

/// The NVMe controller of the examples.
pub const NVME: &str = "pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1";
/// A SATA disk.
pub const SDA: &str = "pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda";
/// A second SATA disk.
pub const SDB: &str = "pci0000:00/0000:00:17.0/ata2/host1/target1:0:0/1:0:0:0/block/sdb";
/// A USB stick.
pub const USB: &str =
    "pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host4/target4:0:0/4:0:0:0/block/sdc";

pub struct Tree {
    pub dir: tempfile::TempDir,
}

impl Tree {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for d in [
            "proc/4242",
            "sys/dev/block",
            "sys/class/block",
            "sys/block",
            "dev",
        ] {
            fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        symlink("4242", dir.path().join("proc/self")).unwrap();
        Tree { dir }
    }

    fn path(&self, p: &str) -> std::path::PathBuf {
        self.dir.path().join(p)
    }

    pub fn file(&self, p: &str, content: &str) -> &Self {
        let path = self.path(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
        self
    }

    pub fn link(&self, p: &str, target: &str) -> &Self {
        let path = self.path(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        symlink(target, path).unwrap();
        self
    }

    pub fn mountinfo(&self, text: &str) -> &Self {
        self.file("proc/4242/mountinfo", text)
    }

    pub fn swaps(&self, lines: &[&str]) -> &Self {
        let mut text = String::from("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        self.file("proc/swaps", &text)
    }

    /// The links every block device has: `sys/dev/block/MAJ:MIN` and
    /// `sys/class/block/NAME`.
    fn device_links(&self, devpath: &str, dev: &str) {
        let name = Path::new(devpath).file_name().unwrap().to_str().unwrap();
        self.link(
            &format!("sys/dev/block/{dev}"),
            &format!("../../devices/{devpath}"),
        );
        self.link(
            &format!("sys/class/block/{name}"),
            &format!("../../devices/{devpath}"),
        );
        let dir = format!("sys/devices/{devpath}");
        self.file(&format!("{dir}/dev"), &format!("{dev}\n"));
    }

    /// A whole disk at `sys/devices/<devpath>`.
    pub fn disk(&self, devpath: &str, dev: &str, removable: bool) -> &Self {
        self.device_links(devpath, dev);
        let name = Path::new(devpath).file_name().unwrap().to_str().unwrap();
        self.link(
            &format!("sys/block/{name}"),
            &format!("../devices/{devpath}"),
        );
        let dir = format!("sys/devices/{devpath}");
        self.file(
            &format!("{dir}/removable"),
            if removable { "1\n" } else { "0\n" },
        );
        fs::create_dir_all(self.path(&format!("{dir}/slaves"))).unwrap();
        fs::create_dir_all(self.path(&format!("{dir}/holders"))).unwrap();
        self
    }

    /// Partition `name` of the disk at `disk`; returns its devpath.
    pub fn part(&self, disk: &str, name: &str, dev: &str, number: u32) -> String {
        let devpath = format!("{disk}/{name}");
        self.device_links(&devpath, dev);
        self.file(
            &format!("sys/devices/{devpath}/partition"),
            &format!("{number}\n"),
        );
        fs::create_dir_all(self.path(&format!("sys/devices/{devpath}/holders"))).unwrap();
        devpath
    }

    /// A virtual block device (`dm-N`, `mdN`, `loopN`, `zramN`) built on `slaves`
    /// (devpaths); `dm` is `(name, uuid)` for device-mapper. Returns its devpath.
    pub fn virtual_dev(
        &self,
        name: &str,
        dev: &str,
        dm: Option<(&str, &str)>,
        slaves: &[&str],
    ) -> String {
        let devpath = format!("virtual/block/{name}");
        self.device_links(&devpath, dev);
        self.link(
            &format!("sys/block/{name}"),
            &format!("../devices/{devpath}"),
        );
        let dir = format!("sys/devices/{devpath}");
        self.file(&format!("{dir}/removable"), "0\n");
        fs::create_dir_all(self.path(&format!("{dir}/slaves"))).unwrap();
        if let Some((dm_name, uuid)) = dm {
            self.file(&format!("{dir}/dm/name"), &format!("{dm_name}\n"));
            self.file(&format!("{dir}/dm/uuid"), &format!("{uuid}\n"));
        }
        for slave in slaves {
            let slave_name = Path::new(slave).file_name().unwrap().to_str().unwrap();
            self.link(
                &format!("{dir}/slaves/{slave_name}"),
                &format!("../../../../{slave}"),
            );
        }
        devpath
    }

    pub fn host(&self) -> Host {
        Host::open(self.dir.path()).unwrap()
    }

    /// Runs one check against this tree.
    pub fn run(&self, check: &dyn Check) -> CheckResult {
        let host = self.host();
        let thresholds = Thresholds::default();
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let ctx = Context::new(&host, now, &thresholds);
        check.run(&ctx)
    }
}

/// The usual laptop: NVMe with an EFI partition, /boot, and LUKS2 holding LVM
/// (`/` and swap). `p1` 259:1 /boot/efi, `p2` 259:2 /boot, `p3` 259:3 → dm-0
/// (luks) → dm-1 vg-root, dm-2 vg-swap.
pub fn laptop() -> Tree {
    let t = Tree::new();
    t.disk(NVME, "259:0", false);
    t.part(NVME, "nvme0n1p1", "259:1", 1);
    t.part(NVME, "nvme0n1p2", "259:2", 2);
    let p3 = t.part(NVME, "nvme0n1p3", "259:3", 3);
    let luks = t.virtual_dev(
        "dm-0",
        "253:0",
        Some((
            "luks-3f2a",
            "CRYPT-LUKS2-3f2a9c1e0b7d4c2a8e6f1d2c3b4a5968-luks-3f2a",
        )),
        &[&p3],
    );
    t.virtual_dev(
        "dm-1",
        "253:1",
        Some((
            "vg-root",
            "LVM-Kq3YwzA5rJtYQvB1c2d3e4f5g6h7i8j9Xk1l2m3n4o5p6q7r8s9t0u1v2w3x4y5",
        )),
        &[&luks],
    );
    t.virtual_dev(
        "dm-2",
        "253:2",
        Some((
            "vg-swap",
            "LVM-Kq3YwzA5rJtYQvB1c2d3e4f5g6h7i8j9Zz1l2m3n4o5p6q7r8s9t0u1v2w3x4y5",
        )),
        &[&luks],
    );
    t.mountinfo(
        "\
22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/mapper/vg-root rw,errors=remount-ro
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
24 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
25 22 0:5 / /dev rw,nosuid,relatime shared:3 - devtmpfs udev rw,size=8000000k
26 25 0:24 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=1600000k,mode=755
40 22 259:2 / /boot rw,relatime shared:30 - ext4 /dev/nvme0n1p2 rw
41 40 259:1 / /boot/efi rw,relatime shared:31 - vfat /dev/nvme0n1p1 rw,fmask=0077,dmask=0077
",
    );
    t
}
