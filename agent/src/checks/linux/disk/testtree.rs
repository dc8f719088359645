//! The disk checks' tests build their hosts with [`FakeHost`], laid out as the
//! kernel lays out procfs and sysfs, symlinks included:
//!
//! ```text
//! proc/self -> 4242                        proc/4242/mountinfo   proc/swaps
//! sys/dev/block/259:3 -> ../../devices/pci0000:00/…/nvme0n1/nvme0n1p3
//! sys/class/block/dm-0 -> ../../devices/virtual/block/dm-0
//! sys/devices/virtual/block/dm-0/slaves/nvme0n1p3 -> ../../../../pci0000:00/…/nvme0n1/nvme0n1p3
//! ```
//!
//! [`sysfs`] makes the empty layout; [`DiskLayout`] adds devices, mounts and swaps to a
//! fake. Device paths are given relative to `sys/devices`.

use crate::host::fake::FakeHost;

/// The NVMe controller of the examples.
pub const NVME: &str = "pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1";
/// A SATA disk.
pub const SDA: &str = "pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda";
/// A second SATA disk.
pub const SDB: &str = "pci0000:00/0000:00:17.0/ata2/host1/target1:0:0/1:0:0:0/block/sdb";
/// A USB stick.
pub const USB: &str =
    "pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host4/target4:0:0/4:0:0:0/block/sdc";

/// A Linux host with empty `/proc` and `/sys` layouts and no mounts: `proc/self`
/// links to the agent's pid, 4242.
pub fn sysfs() -> FakeHost {
    FakeHost::linux()
        .dir("/proc/4242")
        .dir("/sys/dev/block")
        .dir("/sys/class/block")
        .dir("/sys/block")
        .dir("/dev")
        .link("/proc/self", "4242")
}

/// The last component of a device path: the kernel's name of the device.
fn name_of(devpath: &str) -> &str {
    devpath.rsplit('/').next().unwrap_or(devpath)
}

/// Block devices, mounts and swaps on a [`FakeHost`] laid out by [`sysfs`].
pub trait DiskLayout {
    /// `/proc/self/mountinfo`.
    fn mountinfo(&mut self, text: &str) -> &mut Self;
    /// `/proc/swaps`: its header and `lines`.
    fn swaps(&mut self, lines: &[&str]) -> &mut Self;
    /// A whole disk at `sys/devices/<devpath>`.
    fn disk(&mut self, devpath: &str, dev: &str, removable: bool) -> &mut Self;
    /// Partition `name` of the disk at `disk`; returns its devpath.
    fn part(&mut self, disk: &str, name: &str, dev: &str, number: u32) -> String;
    /// A virtual block device (`dm-N`, `mdN`, `loopN`, `zramN`) built on `slaves`
    /// (devpaths); `dm` is `(name, uuid)` for device-mapper. Returns its devpath.
    fn virtual_dev(
        &mut self,
        name: &str,
        dev: &str,
        dm: Option<(&str, &str)>,
        slaves: &[&str],
    ) -> String;
}

/// The links every block device has: `sys/dev/block/MAJ:MIN` and
/// `sys/class/block/NAME`, and its `dev` file.
fn device_links(t: &mut FakeHost, devpath: &str, dev: &str) {
    let name = name_of(devpath);
    t.add_link(
        &format!("/sys/dev/block/{dev}"),
        &format!("../../devices/{devpath}"),
    );
    t.add_link(
        &format!("/sys/class/block/{name}"),
        &format!("../../devices/{devpath}"),
    );
    t.add_file(&format!("/sys/devices/{devpath}/dev"), format!("{dev}\n"));
}

impl DiskLayout for FakeHost {
    fn mountinfo(&mut self, text: &str) -> &mut Self {
        self.add_file("/proc/4242/mountinfo", text);
        self
    }

    fn swaps(&mut self, lines: &[&str]) -> &mut Self {
        let mut text = String::from("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        self.add_file("/proc/swaps", text);
        self
    }

    fn disk(&mut self, devpath: &str, dev: &str, removable: bool) -> &mut Self {
        device_links(self, devpath, dev);
        let name = name_of(devpath);
        self.add_link(
            &format!("/sys/block/{name}"),
            &format!("../devices/{devpath}"),
        );
        let dir = format!("/sys/devices/{devpath}");
        self.add_file(
            &format!("{dir}/removable"),
            if removable { "1\n" } else { "0\n" },
        );
        self.add_dir(&format!("{dir}/slaves"));
        self.add_dir(&format!("{dir}/holders"));
        self
    }

    fn part(&mut self, disk: &str, name: &str, dev: &str, number: u32) -> String {
        let devpath = format!("{disk}/{name}");
        device_links(self, &devpath, dev);
        self.add_file(
            &format!("/sys/devices/{devpath}/partition"),
            format!("{number}\n"),
        );
        self.add_dir(&format!("/sys/devices/{devpath}/holders"));
        devpath
    }

    fn virtual_dev(
        &mut self,
        name: &str,
        dev: &str,
        dm: Option<(&str, &str)>,
        slaves: &[&str],
    ) -> String {
        let devpath = format!("virtual/block/{name}");
        device_links(self, &devpath, dev);
        self.add_link(
            &format!("/sys/block/{name}"),
            &format!("../devices/{devpath}"),
        );
        let dir = format!("/sys/devices/{devpath}");
        self.add_file(&format!("{dir}/removable"), "0\n");
        self.add_dir(&format!("{dir}/slaves"));
        if let Some((dm_name, uuid)) = dm {
            self.add_file(&format!("{dir}/dm/name"), format!("{dm_name}\n"));
            self.add_file(&format!("{dir}/dm/uuid"), format!("{uuid}\n"));
        }
        for slave in slaves {
            self.add_link(
                &format!("{dir}/slaves/{}", name_of(slave)),
                &format!("../../../../{slave}"),
            );
        }
        devpath
    }
}

/// The usual laptop: NVMe with an EFI partition, /boot, and LUKS2 holding LVM
/// (`/` and swap). `p1` 259:1 /boot/efi, `p2` 259:2 /boot, `p3` 259:3 → dm-0
/// (luks) → dm-1 vg-root, dm-2 vg-swap.
pub fn laptop() -> FakeHost {
    let mut t = sysfs();
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
