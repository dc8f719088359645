//! Command output as a Mac prints it, for the disk tests: XML plists in the layout
//! of `diskutil apfs list -plist` and `diskutil info -plist` (macOS 14–15, Apple
//! silicon), with the FileVault flags chosen by the test.

use crate::host::fake::FakeHost;
use crate::host::sources::{
    MACOS_DISKUTIL_APFS_LIST, MACOS_DISKUTIL_INFO_DATA, MACOS_DISKUTIL_INFO_DISK0,
    MACOS_FDESETUP_STATUS,
};

/// An XML plist whose top-level dictionary holds `body`.
pub fn plist_dict(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n<dict>\n{body}</dict>\n</plist>\n"
    )
}

fn b(v: bool) -> &'static str {
    if v { "<true/>" } else { "<false/>" }
}

/// One volume of a container's `Volumes` array. `encryption` is the hardware or
/// software "Encryption" flag, which never decides anything.
pub fn volume(
    device: &str,
    name: &str,
    roles: &[&str],
    filevault: bool,
    crypto_migration_on: bool,
    encryption: bool,
) -> String {
    let roles: String = roles
        .iter()
        .map(|r| format!("\t\t\t\t\t\t<string>{r}</string>\n"))
        .collect();
    format!(
        "\t\t\t\t<dict>\n\
         \t\t\t\t\t<key>APFSVolumeUUID</key>\n\t\t\t\t\t<string>6E1B0A63-9C1F-4E0B-8C55-{device:0>12}</string>\n\
         \t\t\t\t\t<key>CapacityInUse</key>\n\t\t\t\t\t<integer>412907339776</integer>\n\
         \t\t\t\t\t<key>CapacityQuota</key>\n\t\t\t\t\t<integer>0</integer>\n\
         \t\t\t\t\t<key>CapacityReserve</key>\n\t\t\t\t\t<integer>0</integer>\n\
         \t\t\t\t\t<key>CryptoMigrationOn</key>\n\t\t\t\t\t{}\n\
         \t\t\t\t\t<key>DeviceIdentifier</key>\n\t\t\t\t\t<string>{device}</string>\n\
         \t\t\t\t\t<key>Encryption</key>\n\t\t\t\t\t{}\n\
         \t\t\t\t\t<key>FileVault</key>\n\t\t\t\t\t{}\n\
         \t\t\t\t\t<key>Locked</key>\n\t\t\t\t\t<false/>\n\
         \t\t\t\t\t<key>Name</key>\n\t\t\t\t\t<string>{name}</string>\n\
         \t\t\t\t\t<key>Roles</key>\n\t\t\t\t\t<array>\n{roles}\t\t\t\t\t</array>\n\
         \t\t\t\t</dict>\n",
        b(crypto_migration_on),
        b(encryption),
        b(filevault),
    )
}

/// One container: its reference, physical stores and volumes (from [`volume`]).
pub fn container(reference: &str, stores: &[&str], volumes: &[String]) -> String {
    let stores: String = stores
        .iter()
        .map(|s| {
            format!(
                "\t\t\t\t<dict>\n\t\t\t\t\t<key>DeviceIdentifier</key>\n\t\t\t\t\t<string>{s}</string>\n\
                 \t\t\t\t\t<key>DiskUUID</key>\n\t\t\t\t\t<string>0B6B8E2A-77E4-4E11-9A0E-3C1F0D9B{s:0>4}</string>\n\
                 \t\t\t\t\t<key>Size</key>\n\t\t\t\t\t<integer>994662584320</integer>\n\t\t\t\t</dict>\n"
            )
        })
        .collect();
    format!(
        "\t\t<dict>\n\
         \t\t\t<key>APFSContainerUUID</key>\n\t\t\t<string>1C2D3E4F-0000-4000-8000-{reference:0>12}</string>\n\
         \t\t\t<key>CapacityCeiling</key>\n\t\t\t<integer>994662584320</integer>\n\
         \t\t\t<key>CapacityFree</key>\n\t\t\t<integer>561234567168</integer>\n\
         \t\t\t<key>ContainerReference</key>\n\t\t\t<string>{reference}</string>\n\
         \t\t\t<key>DesignatedPhysicalStore</key>\n\t\t\t<string>{}</string>\n\
         \t\t\t<key>Fusion</key>\n\t\t\t<false/>\n\
         \t\t\t<key>PhysicalStores</key>\n\t\t\t<array>\n{stores}\t\t\t</array>\n\
         \t\t\t<key>Volumes</key>\n\t\t\t<array>\n{}\t\t\t</array>\n\
         \t\t</dict>\n",
        stores_first(stores.as_str()),
        volumes.concat(),
    )
}

fn stores_first(stores: &str) -> String {
    stores
        .split("<string>")
        .nth(1)
        .and_then(|s| s.split("</string>").next())
        .unwrap_or_default()
        .to_owned()
}

/// `diskutil apfs list -plist` with these containers.
pub fn apfs_list_plist(containers: &[String]) -> String {
    plist_dict(&format!(
        "\t<key>Containers</key>\n\t<array>\n{}\t</array>\n",
        containers.concat()
    ))
}

/// The two system containers of an Apple-silicon Mac on disk0 (iBoot system and
/// recoveryOS), which hold only excluded roles.
pub fn apple_silicon_system_containers() -> Vec<String> {
    vec![
        container(
            "disk1",
            &["disk0s1"],
            &[
                volume("disk1s1", "iSCPreboot", &["Preboot"], false, false, true),
                volume("disk1s2", "xART", &["xART"], false, false, true),
                volume("disk1s3", "Hardware", &["Hardware"], false, false, true),
            ],
        ),
        container(
            "disk2",
            &["disk0s3"],
            &[
                volume("disk2s1", "Recovery", &["Recovery"], false, false, true),
                volume("disk2s2", "Update", &["Update"], false, false, true),
            ],
        ),
    ]
}

/// The main container disk3 (store disk0s2): System, Preboot, Recovery, Update, the
/// Data volume disk3s5, VM, and a user-made volume "Projects" (disk3s7, no roles).
/// Every volume is hardware-encrypted (`Encryption` true), as on every T2 and
/// Apple-silicon Mac.
pub fn main_container(data: (bool, bool), projects: (bool, bool)) -> String {
    container(
        "disk3",
        &["disk0s2"],
        &[
            volume("disk3s1", "Macintosh HD", &["System"], false, false, true),
            volume("disk3s2", "Preboot", &["Preboot"], false, false, true),
            volume("disk3s3", "Recovery", &["Recovery"], false, false, true),
            volume("disk3s4", "Update", &["Update"], false, false, true),
            volume(
                "disk3s5",
                "Macintosh HD - Data",
                &["Data"],
                data.0,
                data.1,
                true,
            ),
            volume("disk3s6", "VM", &["VM"], false, false, true),
            volume("disk3s7", "Projects", &[], projects.0, projects.1, true),
        ],
    )
}

/// A whole Apple-silicon `diskutil apfs list -plist`; the Data and user volumes
/// share `filevault` and `crypto_migration_on`.
pub fn apple_silicon_apfs_list(filevault: bool, crypto_migration_on: bool) -> String {
    let mut containers = apple_silicon_system_containers();
    containers.push(main_container(
        (filevault, crypto_migration_on),
        (filevault, crypto_migration_on),
    ));
    apfs_list_plist(&containers)
}

/// A USB disk (disk4, store disk4s2) with one unencrypted volume "Backup" (disk5s1).
pub fn external_container() -> String {
    container(
        "disk5",
        &["disk4s2"],
        &[volume("disk5s1", "Backup", &[], false, false, false)],
    )
}

/// `diskutil info -plist /System/Volumes/Data`.
pub fn data_volume_info(device: &str) -> String {
    plist_dict(&format!(
        "\t<key>APFSContainerReference</key>\n\t<string>disk3</string>\n\
         \t<key>APFSPhysicalStores</key>\n\t<array>\n\t\t<dict>\n\t\t\t<key>APFSPhysicalStore</key>\n\t\t\t<string>disk0s2</string>\n\t\t</dict>\n\t</array>\n\
         \t<key>DeviceIdentifier</key>\n\t<string>{device}</string>\n\
         \t<key>DeviceNode</key>\n\t<string>/dev/{device}</string>\n\
         \t<key>Ejectable</key>\n\t<false/>\n\
         \t<key>Encryption</key>\n\t<true/>\n\
         \t<key>FileVault</key>\n\t<true/>\n\
         \t<key>FilesystemType</key>\n\t<string>apfs</string>\n\
         \t<key>Internal</key>\n\t<true/>\n\
         \t<key>MountPoint</key>\n\t<string>/System/Volumes/Data</string>\n\
         \t<key>RemovableMedia</key>\n\t<false/>\n\
         \t<key>VolumeName</key>\n\t<string>Macintosh HD - Data</string>\n"
    ))
}

/// `diskutil info -plist disk0`.
pub fn disk0_info(internal: bool, removable: bool) -> String {
    plist_dict(&format!(
        "\t<key>BusProtocol</key>\n\t<string>Apple Fabric</string>\n\
         \t<key>DeviceIdentifier</key>\n\t<string>disk0</string>\n\
         \t<key>DeviceNode</key>\n\t<string>/dev/disk0</string>\n\
         \t<key>Ejectable</key>\n\t{}\n\
         \t<key>Internal</key>\n\t{}\n\
         \t<key>MediaName</key>\n\t<string>APPLE SSD AP1024Z</string>\n\
         \t<key>RemovableMedia</key>\n\t{}\n\
         \t<key>SolidState</key>\n\t<true/>\n\
         \t<key>WholeDisk</key>\n\t<true/>\n",
        b(removable),
        b(internal),
        b(removable),
    ))
}

/// A Mac with FileVault `status` text, the Data volume disk3s5 with these flags,
/// and an internal disk0.
pub fn mac(status: &str, filevault: bool, crypto_migration_on: bool) -> FakeHost {
    FakeHost::macos()
        .command(&MACOS_FDESETUP_STATUS, 0, status)
        .command(
            &MACOS_DISKUTIL_APFS_LIST,
            0,
            &apple_silicon_apfs_list(filevault, crypto_migration_on),
        )
        .command(&MACOS_DISKUTIL_INFO_DATA, 0, &data_volume_info("disk3s5"))
        .command(&MACOS_DISKUTIL_INFO_DISK0, 0, &disk0_info(true, false))
}

/// `diskutil list -plist internal` of an Intel Mac with a T2 chip: disk0 holds
/// the EFI partition, the APFS container's store and, with `bootcamp`, a Boot Camp
/// NTFS partition ("Microsoft Basic Data"); disk1 is the synthesized APFS
/// container.
pub fn list_internal(bootcamp: bool) -> String {
    let part = |content: &str, device: &str, name: Option<&str>| {
        let name = name.map_or_else(String::new, |n| {
            format!("\t\t\t\t\t<key>VolumeName</key>\n\t\t\t\t\t<string>{n}</string>\n")
        });
        format!(
            "\t\t\t\t<dict>\n\
             \t\t\t\t\t<key>Content</key>\n\t\t\t\t\t<string>{content}</string>\n\
             \t\t\t\t\t<key>DeviceIdentifier</key>\n\t\t\t\t\t<string>{device}</string>\n\
             \t\t\t\t\t<key>Size</key>\n\t\t\t\t\t<integer>209715200</integer>\n{name}\
             \t\t\t\t</dict>\n"
        )
    };
    let mut partitions = part("EFI", "disk0s1", Some("EFI"));
    partitions.push_str(&part("Apple_APFS", "disk0s2", None));
    if bootcamp {
        partitions.push_str(&part("Microsoft Basic Data", "disk0s3", Some("BOOTCAMP")));
    }
    plist_dict(&format!(
        "\t<key>AllDisks</key>\n\t<array>\n\t\t<string>disk0</string>\n\t</array>\n\
         \t<key>AllDisksAndPartitions</key>\n\t<array>\n\
         \t\t<dict>\n\
         \t\t\t<key>Content</key>\n\t\t\t<string>GUID_partition_scheme</string>\n\
         \t\t\t<key>DeviceIdentifier</key>\n\t\t\t<string>disk0</string>\n\
         \t\t\t<key>OSInternal</key>\n\t\t\t<false/>\n\
         \t\t\t<key>Partitions</key>\n\t\t\t<array>\n{partitions}\t\t\t</array>\n\
         \t\t\t<key>Size</key>\n\t\t\t<integer>500277790720</integer>\n\
         \t\t</dict>\n\
         \t\t<dict>\n\
         \t\t\t<key>APFSPhysicalStores</key>\n\t\t\t<array>\n\t\t\t\t<dict>\n\
         \t\t\t\t\t<key>DeviceIdentifier</key>\n\t\t\t\t\t<string>disk0s2</string>\n\
         \t\t\t\t</dict>\n\t\t\t</array>\n\
         \t\t\t<key>APFSVolumes</key>\n\t\t\t<array>\n\t\t\t\t<dict>\n\
         \t\t\t\t\t<key>DeviceIdentifier</key>\n\t\t\t\t\t<string>disk1s1</string>\n\
         \t\t\t\t\t<key>VolumeName</key>\n\t\t\t\t\t<string>Macintosh HD - Data</string>\n\
         \t\t\t\t</dict>\n\t\t\t</array>\n\
         \t\t\t<key>Content</key>\n\t\t\t<string>Apple_HFS</string>\n\
         \t\t\t<key>DeviceIdentifier</key>\n\t\t\t<string>disk1</string>\n\
         \t\t</dict>\n\
         \t</array>\n"
    ))
}

/// `diskutil apfs listCryptoUsers -plist /`: one local user and the personal
/// recovery key.
pub fn crypto_users_plist() -> String {
    plist_dict(
        "\t<key>Users</key>\n\t<array>\n\
         \t\t<dict>\n\t\t\t<key>APFSCryptoUserType</key>\n\t\t\t<string>LocalOpenDirectory</string>\n\
         \t\t\t<key>APFSCryptoUserUUID</key>\n\t\t\t<string>5B0E1F3A-8C1D-4D47-9E2B-0A1B2C3D4E5F</string>\n\t\t</dict>\n\
         \t\t<dict>\n\t\t\t<key>APFSCryptoUserType</key>\n\t\t\t<string>PersonalRecovery</string>\n\
         \t\t\t<key>APFSCryptoUserUUID</key>\n\t\t\t<string>EBC6C064-1111-4222-8333-00306543ECAC</string>\n\t\t</dict>\n\
         \t</array>\n",
    )
}
