//! The source table: every live source a check may use, by id, with exactly what is
//! run or called.
//!
//! A command's argv is fixed here (an absolute program path, never built from host
//! data); an `api` source names the query or call. A capture (`_captures/`, see
//! [`super::replay`]) names its source by id and records the argv or name it was made
//! with: replay refuses a capture whose argv or name differs from this table, so a
//! change of command cannot silently go on replaying old output.
//!
//! To add a source: add a constant here, add it to [`SOURCES`], and (for `api`
//! sources) write the layout of its JSON in the constant's doc comment, as captures
//! outlive builds.

use attest_proto::Platform;

/// How a source is read live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A program run without a shell: `argv[0]` is an absolute path.
    Command {
        argv: &'static [&'static str],
        /// True when a check reads its standard error too (captured as
        /// `<id>.stderr`).
        reads_stderr: bool,
    },
    /// A call made in-process or in a helper child (WMI, COM, Win32, IOKit,
    /// sysctl); its result is JSON.
    Api { name: &'static str },
}

/// One live source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// `<platform>.<tool>.<what>`, e.g. `macos.fdesetup.status`.
    pub id: &'static str,
    pub platform: Platform,
    pub kind: SourceKind,
}

impl Source {
    /// The argv of a command source.
    pub fn argv(&self) -> Option<&'static [&'static str]> {
        match self.kind {
            SourceKind::Command { argv, .. } => Some(argv),
            SourceKind::Api { .. } => None,
        }
    }

    /// What a person reads: the command line, or the call's name.
    pub fn describe(&self) -> String {
        match self.kind {
            SourceKind::Command { argv, .. } => argv.join(" "),
            SourceKind::Api { name } => name.to_owned(),
        }
    }
}

const fn command(id: &'static str, platform: Platform, argv: &'static [&'static str]) -> Source {
    Source {
        id,
        platform,
        kind: SourceKind::Command {
            argv,
            reads_stderr: false,
        },
    }
}

const fn command_stderr(
    id: &'static str,
    platform: Platform,
    argv: &'static [&'static str],
) -> Source {
    Source {
        id,
        platform,
        kind: SourceKind::Command {
            argv,
            reads_stderr: true,
        },
    }
}

const fn api(id: &'static str, platform: Platform, name: &'static str) -> Source {
    Source {
        id,
        platform,
        kind: SourceKind::Api { name },
    }
}

// Linux ------------------------------------------------------------------------

/// dnf's security advisories for installed packages (RHEL family, live only).
pub const LINUX_DNF_SECURITY: Source = command_stderr(
    "linux.dnf.updateinfo_security",
    Platform::Linux,
    &[
        "/usr/bin/dnf",
        "-q",
        "updateinfo",
        "list",
        "--security",
        "--available",
    ],
);

/// zypper's needed security patches, as XML (SUSE, live only).
pub const LINUX_ZYPPER_SECURITY: Source = command_stderr(
    "linux.zypper.security_patches",
    Platform::Linux,
    &[
        "/usr/bin/zypper",
        "--non-interactive",
        "--xmlout",
        "list-patches",
        "--category",
        "security",
    ],
);

/// Installed RPM packages: name, arch, epoch:version-release, tab-separated.
pub const LINUX_RPM_EVR: Source = command_stderr(
    "linux.rpm.installed_evr",
    Platform::Linux,
    &[
        "/usr/bin/rpm",
        "-qa",
        "--qf",
        "%{NAME}\\t%{ARCH}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n",
    ],
);

/// Installed RPM packages for the software inventory (rpm expands `\t` and `\n`
/// itself; `EPOCHNUM` is 0 when a package has no epoch, so every version reads
/// `EPOCH:VERSION-RELEASE`).
pub const LINUX_RPM_PACKAGES: Source = command_stderr(
    "linux.rpm.packages",
    Platform::Linux,
    &[
        "/usr/bin/rpm",
        "-qa",
        "--qf",
        "%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\t%{ARCH}\\n",
    ],
);

// macOS ------------------------------------------------------------------------
// Text output is parsed only where no plist/JSON form exists, and only the exact
// lines the catalogue lists are accepted (commands run with LC_ALL=C).

/// `fdesetup status`: FileVault on or off, and conversion in progress.
pub const MACOS_FDESETUP_STATUS: Source = command(
    "macos.fdesetup.status",
    Platform::Macos,
    &["/usr/bin/fdesetup", "status"],
);

/// Whether a personal recovery key is set (root only).
pub const MACOS_FDESETUP_PRK: Source = command(
    "macos.fdesetup.haspersonalrecoverykey",
    Platform::Macos,
    &["/usr/bin/fdesetup", "haspersonalrecoverykey"],
);

/// Whether an institutional recovery key (a FileVaultMaster keychain) is set:
/// recorded, never counted.
pub const MACOS_FDESETUP_INSTITUTIONAL: Source = command(
    "macos.fdesetup.hasinstitutionalrecoverykey",
    Platform::Macos,
    &["/usr/bin/fdesetup", "hasinstitutionalrecoverykey"],
);

/// The users that can unlock the booted volume (`Users[]`: `APFSCryptoUserUUID`,
/// `APFSCryptoUserType`), as a plist: recorded, never gating.
pub const MACOS_DISKUTIL_CRYPTO_USERS: Source = command(
    "macos.diskutil.apfs.cryptousers",
    Platform::Macos,
    &[
        "/usr/sbin/diskutil",
        "apfs",
        "listCryptoUsers",
        "-plist",
        "/",
    ],
);

/// The partitions of the internal disks (`AllDisksAndPartitions`), as a plist: for
/// the HFS+, FAT, exFAT and NTFS volumes beside the APFS containers.
pub const MACOS_DISKUTIL_LIST_INTERNAL: Source = command(
    "macos.diskutil.list.internal",
    Platform::Macos,
    &["/usr/sbin/diskutil", "list", "-plist", "internal"],
);

/// The APFS containers and volumes, as a plist.
pub const MACOS_DISKUTIL_APFS_LIST: Source = command(
    "macos.diskutil.apfs.list",
    Platform::Macos,
    &["/usr/sbin/diskutil", "apfs", "list", "-plist"],
);

/// The booted Data volume, as a plist.
pub const MACOS_DISKUTIL_INFO_DATA: Source = command(
    "macos.diskutil.info.data",
    Platform::Macos,
    &[
        "/usr/sbin/diskutil",
        "info",
        "-plist",
        "/System/Volumes/Data",
    ],
);

/// The internal disk, as a plist.
pub const MACOS_DISKUTIL_INFO_DISK0: Source = command(
    "macos.diskutil.info.disk0",
    Platform::Macos,
    &["/usr/sbin/diskutil", "info", "-plist", "disk0"],
);

/// Software updates already found, without a new scan.
pub const MACOS_SOFTWAREUPDATE_LIST: Source = command_stderr(
    "macos.softwareupdate.list.noscan",
    Platform::Macos,
    &["/usr/sbin/softwareupdate", "--list", "--no-scan"],
);

/// The account policies of the local directory, as a plist after one text line.
pub const MACOS_PWPOLICY: Source = command(
    "macos.pwpolicy.accountpolicies",
    Platform::Macos,
    &["/usr/bin/pwpolicy", "-getaccountpolicies"],
);

/// The Application Firewall's global state, block-all and stealth mode.
pub const MACOS_ALF_STATE: Source = command(
    "macos.socketfilterfw.state",
    Platform::Macos,
    &[
        "/usr/libexec/ApplicationFirewall/socketfilterfw",
        "--getglobalstate",
        "--getblockall",
        "--getstealthmode",
    ],
);

/// Gatekeeper's assessments.
pub const MACOS_SPCTL_STATUS: Source = command_stderr(
    "macos.spctl.status",
    Platform::Macos,
    &["/usr/sbin/spctl", "--status"],
);

/// System Integrity Protection.
pub const MACOS_CSRUTIL_STATUS: Source = command(
    "macos.csrutil.status",
    Platform::Macos,
    &["/usr/bin/csrutil", "status"],
);

/// The authenticated root volume.
pub const MACOS_CSRUTIL_AUTHROOT: Source = command(
    "macos.csrutil.authroot",
    Platform::Macos,
    &["/usr/bin/csrutil", "authenticated-root", "status"],
);

/// Whether the clock is set automatically (`Network Time: On`/`Off`; root).
pub const MACOS_SYSTEMSETUP_NETWORKTIME: Source = command(
    "macos.systemsetup.networktime",
    Platform::Macos,
    &["/usr/sbin/systemsetup", "-getusingnetworktime"],
);

/// The audit daemon's launchd job (`state = running` when it runs).
pub const MACOS_LAUNCHCTL_AUDITD: Source = command(
    "macos.launchctl.auditd",
    Platform::Macos,
    &["/bin/launchctl", "print", "system/com.apple.auditd"],
);

/// The secure boot policy of Intel Macs with a T2 chip, as JSON.
pub const MACOS_IBRIDGE: Source = command(
    "macos.system_profiler.ibridge",
    Platform::Macos,
    &["/usr/sbin/system_profiler", "SPiBridgeDataType", "-json"],
);

/// XProtect's version and last update (macOS 15 and later).
pub const MACOS_XPROTECT_STATUS: Source = command(
    "macos.xprotect.status",
    Platform::Macos,
    &["/usr/bin/xprotect", "status"],
);

/// Power settings: display sleep per power source.
pub const MACOS_PMSET_CUSTOM: Source = command(
    "macos.pmset.custom",
    Platform::Macos,
    &["/usr/bin/pmset", "-g", "custom"],
);

/// The platform expert device (vendor, model, serial number), as a plist.
pub const MACOS_IOREG_PLATFORM: Source = command(
    "macos.ioreg.platform",
    Platform::Macos,
    &[
        "/usr/sbin/ioreg",
        "-a",
        "-rd1",
        "-c",
        "IOPlatformExpertDevice",
    ],
);

/// Installed configuration profiles, as XML.
pub const MACOS_PROFILES: Source = command(
    "macos.profiles.configuration",
    Platform::Macos,
    &[
        "/usr/bin/profiles",
        "show",
        "-type",
        "configuration",
        "-output",
        "stdout-xml",
    ],
);

/// The `xsw_usage` struct of `sysctl vm.swapusage`, by field name:
/// `{"xsu_total": u64, "xsu_avail": u64, "xsu_used": u64, "xsu_pagesize": u32,
/// "xsu_encrypted": 0|1}`.
pub const MACOS_SYSCTL_SWAPUSAGE: Source = api(
    "macos.sysctl.swapusage",
    Platform::Macos,
    "sysctl vm.swapusage",
);

/// The kernel, CPU and memory, by sysctl name: exactly
/// `{"kern.osrelease": "24.1.0", "kern.version": "Darwin Kernel Version …",
/// "machdep.cpu.brand_string": "Apple M3", "hw.memsize": 17179869184,
/// "hw.ncpu": 8}` (strings for the first three, integers for the last two; a name
/// the kernel does not have is `null`).
pub const MACOS_SYSCTL_HARDWARE: Source = api(
    "macos.sysctl.hardware",
    Platform::Macos,
    "sysctl kern.osrelease kern.version machdep.cpu.brand_string hw.memsize hw.ncpu",
);

/// launchd's enabled/disabled overrides of the system domain (text: a
/// `disabled services = {` block of `"LABEL" => enabled|disabled` lines).
pub const MACOS_LAUNCHCTL_PRINT_DISABLED: Source = command(
    "macos.launchctl.print_disabled",
    Platform::Macos,
    &["/bin/launchctl", "print-disabled", "system"],
);

/// The screen lock of one user's session (`screenLock delay is immediate`,
/// `screenLock delay is N seconds` or `screenLock is off`, on standard error). Run
/// live as that user (uid and gid set when the process is spawned); the user is
/// named only in the capture id, `macos.sysadminctl.screenlock.<user>`.
pub const MACOS_SYSADMINCTL_SCREENLOCK: UserSource = UserSource {
    prefix: "macos.sysadminctl.screenlock",
    platform: Platform::Macos,
    argv: &["/usr/sbin/sysadminctl", "-screenLock", "status"],
    reads_stderr: true,
};

// Windows ----------------------------------------------------------------------

/// Every `Win32_EncryptableVolume` instance, its cached properties and the results
/// of the methods the checks call: `{"instances": [{"DeviceID", "DriveLetter",
/// "VolumeType", "PersistentVolumeID", "ProtectionStatus", "ConversionStatus",
/// "EncryptionMethod", "IsVolumeInitializedForProtection", "methods":
/// {"GetProtectionStatus": {"ReturnValue", "ProtectionStatus"}, "GetConversionStatus":
/// {…}, "GetEncryptionMethod": {…}, "GetKeyProtectors": {…}, "GetKeyProtectorType":
/// {"{id}": {…}}, "GetLockStatus": {…}}}]}`.
pub const WIN_ENCRYPTABLE_VOLUMES: Source = api(
    "win.wmi.encryptable_volumes",
    Platform::Windows,
    "WMI ROOT\\CIMV2\\Security\\MicrosoftVolumeEncryption: Win32_EncryptableVolume",
);

/// Every `Win32_Volume`: `{"instances": [{"DeviceID", "DriveLetter" (or null),
/// "DriveType", "FileSystem", "Label", "Name", "Capacity", "FreeSpace", "BootVolume",
/// "SystemVolume"}]}`.
pub const WIN_VOLUMES: Source = api(
    "win.wmi.volumes",
    Platform::Windows,
    "WMI ROOT\\CIMV2: Win32_Volume",
);

/// What `attest-agent wua-snapshot` prints: the offline Windows Update Agent search
/// (`{"criteria", "online", "result_code", "hresult", "updates": [{"update_id",
/// "title", "kb_article_ids", "msrc_severity", "categories": [{"category_id",
/// "type", "name"}], …}], "last_search_success_date", …}`).
pub const WIN_WUA_SNAPSHOT: Source = api(
    "win.wua.snapshot",
    Platform::Windows,
    "WUA IUpdateSearcher.Search(IsInstalled=0 and Type='Software' and IsHidden=0) Online=false",
);

/// The drive of the Windows directory, from `GetSystemDirectoryW` (what
/// `%SystemDrive%` names): `{"SystemDrive": "C:"}`, a letter and a colon.
pub const WIN_SYSTEM_DRIVE: Source = api(
    "win.api.system_drive",
    Platform::Windows,
    "GetSystemDirectoryW",
);

/// Active licences with a product key, for Windows 10 ESU: `{"instances": [{"Name",
/// "Description", "LicenseStatus", "ID"}]}` (`ID` is the activation ID, a GUID).
pub const WIN_LICENSING_ESU: Source = api(
    "win.wmi.licensing_esu",
    Platform::Windows,
    "WMI ROOT\\CIMV2: SELECT Name, Description, LicenseStatus, ID FROM SoftwareLicensingProduct WHERE LicenseStatus = 1 AND PartialProductKey IS NOT NULL",
);

/// `NetUserModalsGet(NULL, 0)` and `(NULL, 3)`, the integers as the API returns
/// them: `{"level0": {"min_passwd_len", "max_passwd_age", "min_passwd_age",
/// "password_hist_len", "force_logoff"}, "level3": {"lockout_duration",
/// "lockout_observation_window", "lockout_threshold"}}`. Ages and durations are
/// seconds; `4294967295` is `TIMEQ_FOREVER` (never).
pub const WIN_NETUSERMODALS: Source = api(
    "win.api.netusermodals",
    Platform::Windows,
    "NetUserModalsGet(NULL, 0) and NetUserModalsGet(NULL, 3)",
);

/// The local users, `NetUserEnum(NULL, 3, FILTER_NORMAL_ACCOUNT)`: `{"users":
/// [{"name", "rid", "flags"}]}` (`rid` is `usri3_user_id`, `flags` `usri3_flags`:
/// 0x0002 `UF_ACCOUNTDISABLE`, 0x0020 `UF_PASSWD_NOTREQD`, 0x10000
/// `UF_DONT_EXPIRE_PASSWD`). No password field is ever recorded.
pub const WIN_NETUSERENUM: Source = api(
    "win.api.netuserenum",
    Platform::Windows,
    "NetUserEnum(NULL, 3, FILTER_NORMAL_ACCOUNT)",
);

/// The members of the local group S-1-5-32-544 (Administrators, under whatever
/// name `LookupAccountSidW` gives): `{"group_sid", "group_name", "members":
/// [{"sid", "name" (DOMAIN\\user, or null when unresolved), "sid_usage"}]}` from
/// `NetLocalGroupGetMembers` level 2.
pub const WIN_LOCALGROUP_ADMINS: Source = api(
    "win.api.localgroup_admins",
    Platform::Windows,
    "NetLocalGroupGetMembers(NULL, <name of S-1-5-32-544>, 2)",
);

/// The members of S-1-5-32-555 (Remote Desktop Users), the layout of
/// [`WIN_LOCALGROUP_ADMINS`].
pub const WIN_LOCALGROUP_REMOTE_DESKTOP: Source = api(
    "win.api.localgroup_remote_desktop",
    Platform::Windows,
    "NetLocalGroupGetMembers(NULL, <name of S-1-5-32-555>, 2)",
);

/// `AuditQuerySystemPolicy` for the subcategories the checks read:
/// `{"subcategories": [{"guid": "0CCE9215-69AE-11D9-BED3-505054503030",
/// "auditing_information": 3}]}` (bit 1 success, bit 2 failure).
pub const WIN_AUDITPOLICY: Source = api(
    "win.api.auditpolicy",
    Platform::Windows,
    "AuditQuerySystemPolicy({0CCE9215-69AE-11D9-BED3-505054503030})",
);

/// `INetFwPolicy2`: the effective state of each profile, policy applied:
/// `{"profiles": [{"profile": "Domain"|"Private"|"Public", "type": 1|2|4,
/// "enabled": bool}], "current_profile_types": n}`.
pub const WIN_FIREWALL_PROFILES: Source = api(
    "win.api.firewall_profiles",
    Platform::Windows,
    "INetFwPolicy2.FirewallEnabled(NET_FW_PROFILE2_DOMAIN, _PRIVATE, _PUBLIC)",
);

/// Security Center's products through `IWSCProductList` (clients only):
/// `{"antivirus": [{"name", "product_state", "signature_status"}], "firewall":
/// [{"name", "product_state"}]}`, the enum values as the API returns them
/// (`WSC_SECURITY_PRODUCT_STATE`: 0 on, 1 off, 2 snoozed, 3 expired;
/// `WSC_SECURITY_SIGNATURE_STATUS`: 0 out of date, 1 up to date).
pub const WIN_WSC_PRODUCTS: Source = api(
    "win.wsc.products",
    Platform::Windows,
    "IWSCProductList.Initialize(WSC_SECURITY_PROVIDER_ANTIVIRUS, WSC_SECURITY_PROVIDER_FIREWALL)",
);

/// Defender's status: `{"instances": [{"AMServiceEnabled", "AntivirusEnabled",
/// "RealTimeProtectionEnabled", "AMRunningMode", "AntivirusSignatureAge",
/// "AntivirusSignatureLastUpdated", "AMProductVersion", "IsTamperProtected"}]}`.
pub const WIN_DEFENDER_STATUS: Source = api(
    "win.wmi.defender_status",
    Platform::Windows,
    "WMI ROOT\\Microsoft\\Windows\\Defender: MSFT_MpComputerStatus",
);

/// The SMB 1.0 optional feature: `{"instances": [{"Name": "SMB1Protocol",
/// "InstallState": n}]}` (1 enabled, 2 disabled, 3 absent).
pub const WIN_OPTIONALFEATURE_SMB1: Source = api(
    "win.wmi.optionalfeature_smb1",
    Platform::Windows,
    "WMI ROOT\\CIMV2: SELECT Name, InstallState FROM Win32_OptionalFeature WHERE Name = 'SMB1Protocol'",
);

/// The raw SMBIOS table, `GetSystemFirmwareTable('RSMB', 0)`: `{"base64": "…"}`,
/// the bytes as returned (the `RawSMBIOSData` header — calling method, major,
/// minor, DMI revision, u32 length — then the structures).
pub const WIN_SMBIOS_RSMB: Source = api(
    "win.api.smbios_rsmb",
    Platform::Windows,
    "GetSystemFirmwareTable('RSMB', 0)",
);

/// `GetFirmwareType`: `{"FirmwareType": n}` (0 unknown, 1 BIOS, 2 UEFI).
pub const WIN_FIRMWARE_TYPE: Source = api(
    "win.api.firmware_type",
    Platform::Windows,
    "GetFirmwareType",
);

/// `NetGetJoinInformation(NULL)`: `{"name", "status"}` (`NETSETUP_JOIN_STATUS`:
/// 0 unknown, 1 unjoined, 2 workgroup, 3 domain).
pub const WIN_JOIN_INFORMATION: Source = api(
    "win.api.join_information",
    Platform::Windows,
    "NetGetJoinInformation(NULL)",
);

/// Virtualization-based security: `{"instances": [{"SecurityServicesRunning":
/// [n…], "VirtualizationBasedSecurityStatus": n}]}` (service 1 is Credential
/// Guard).
pub const WIN_DEVICEGUARD: Source = api(
    "win.wmi.deviceguard",
    Platform::Windows,
    "WMI ROOT\\Microsoft\\Windows\\DeviceGuard: Win32_DeviceGuard",
);

/// The TPM: `{"instances": [{"IsEnabled_InitialValue", "IsActivated_InitialValue",
/// "SpecVersion", "ManufacturerIdTxt"}]}` (no instance: no TPM).
pub const WIN_TPM: Source = api(
    "win.wmi.tpm",
    Platform::Windows,
    "WMI ROOT\\CIMV2\\Security\\MicrosoftTpm: Win32_Tpm",
);

/// Every source, for capture and for the table's own tests.
pub const SOURCES: &[Source] = &[
    LINUX_DNF_SECURITY,
    LINUX_ZYPPER_SECURITY,
    LINUX_RPM_EVR,
    LINUX_RPM_PACKAGES,
    MACOS_FDESETUP_STATUS,
    MACOS_FDESETUP_PRK,
    MACOS_FDESETUP_INSTITUTIONAL,
    MACOS_DISKUTIL_CRYPTO_USERS,
    MACOS_DISKUTIL_LIST_INTERNAL,
    MACOS_DISKUTIL_APFS_LIST,
    MACOS_DISKUTIL_INFO_DATA,
    MACOS_DISKUTIL_INFO_DISK0,
    MACOS_SYSCTL_SWAPUSAGE,
    MACOS_SOFTWAREUPDATE_LIST,
    MACOS_PWPOLICY,
    MACOS_ALF_STATE,
    MACOS_SPCTL_STATUS,
    MACOS_CSRUTIL_STATUS,
    MACOS_CSRUTIL_AUTHROOT,
    MACOS_SYSTEMSETUP_NETWORKTIME,
    MACOS_LAUNCHCTL_AUDITD,
    MACOS_IBRIDGE,
    MACOS_XPROTECT_STATUS,
    MACOS_PMSET_CUSTOM,
    MACOS_IOREG_PLATFORM,
    MACOS_PROFILES,
    MACOS_SYSCTL_HARDWARE,
    MACOS_LAUNCHCTL_PRINT_DISABLED,
    WIN_ENCRYPTABLE_VOLUMES,
    WIN_VOLUMES,
    WIN_WUA_SNAPSHOT,
    WIN_SYSTEM_DRIVE,
    WIN_LICENSING_ESU,
    WIN_NETUSERMODALS,
    WIN_NETUSERENUM,
    WIN_LOCALGROUP_ADMINS,
    WIN_LOCALGROUP_REMOTE_DESKTOP,
    WIN_AUDITPOLICY,
    WIN_FIREWALL_PROFILES,
    WIN_WSC_PRODUCTS,
    WIN_DEFENDER_STATUS,
    WIN_OPTIONALFEATURE_SMB1,
    WIN_SMBIOS_RSMB,
    WIN_FIRMWARE_TYPE,
    WIN_JOIN_INFORMATION,
    WIN_DEVICEGUARD,
    WIN_TPM,
];

/// The source with id `id`.
pub fn by_id(id: &str) -> Option<&'static Source> {
    SOURCES.iter().find(|s| s.id == id)
}

/// A command run once per user, as that user: one fixed argv for every user, the
/// user named only in the capture id `<prefix>.<user>` (never in argv).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserSource {
    /// `<platform>.<tool>.<what>`; a capture's id adds `.<user>`.
    pub prefix: &'static str,
    pub platform: Platform,
    pub argv: &'static [&'static str],
    /// True when a check reads its standard error (captured as `<id>.stderr`).
    pub reads_stderr: bool,
}

/// The longest user name a capture id carries.
pub const MAX_USER_IN_ID: usize = 64;

/// True when `user` can be named in a capture id (and so in a file name on every
/// OS): 1 to [`MAX_USER_IN_ID`] of `a-z 0-9 _ . -`, not starting with `.` or `-`.
pub fn user_in_id_ok(user: &str) -> bool {
    !user.is_empty()
        && user.len() <= MAX_USER_IN_ID
        && !user.starts_with(['.', '-'])
        && user
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
}

impl UserSource {
    /// The capture id for `user`; `None` when the name cannot be in an id.
    pub fn id_for(&self, user: &str) -> Option<String> {
        user_in_id_ok(user).then(|| format!("{}.{user}", self.prefix))
    }

    /// The user of a capture id of this family.
    pub fn user_of<'a>(&self, id: &'a str) -> Option<&'a str> {
        let user = id.strip_prefix(self.prefix)?.strip_prefix('.')?;
        user_in_id_ok(user).then_some(user)
    }

    /// The command line, as a person reads it.
    pub fn describe(&self) -> String {
        self.argv.join(" ")
    }

    /// How it is read: a command, with this family's argv.
    pub fn kind(&self) -> SourceKind {
        SourceKind::Command {
            argv: self.argv,
            reads_stderr: self.reads_stderr,
        }
    }
}

/// Every per-user source.
pub const USER_SOURCES: &[UserSource] = &[MACOS_SYSADMINCTL_SCREENLOCK];

/// The per-user source a capture id belongs to, and its user.
pub fn user_source_of(id: &str) -> Option<(&'static UserSource, &str)> {
    USER_SOURCES
        .iter()
        .find_map(|s| s.user_of(id).map(|user| (s, user)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_name_their_platform() {
        let mut ids: Vec<&str> = SOURCES.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), SOURCES.len());
        for s in SOURCES {
            let prefix = match s.platform {
                Platform::Linux => "linux.",
                Platform::Macos => "macos.",
                Platform::Windows => "win.",
            };
            assert!(s.id.starts_with(prefix), "{}", s.id);
            assert!(
                s.id.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._".contains(c)),
                "{} is usable as a file name on every OS",
                s.id
            );
        }
    }

    #[test]
    fn commands_are_absolute_and_windows_runs_none() {
        for s in SOURCES {
            if let Some(argv) = s.argv() {
                assert!(argv[0].starts_with('/'), "{}: {}", s.id, argv[0]);
                assert_ne!(
                    s.platform,
                    Platform::Windows,
                    "{}: no commands on Windows",
                    s.id
                );
            }
        }
        assert_eq!(by_id("macos.fdesetup.status"), Some(&MACOS_FDESETUP_STATUS));
        assert_eq!(by_id("nope"), None);
    }

    #[test]
    fn per_user_ids_name_the_user_only_in_the_id() {
        let s = MACOS_SYSADMINCTL_SCREENLOCK;
        assert_eq!(
            s.id_for("alice").as_deref(),
            Some("macos.sysadminctl.screenlock.alice")
        );
        assert_eq!(s.argv, ["/usr/sbin/sysadminctl", "-screenLock", "status"]);
        for bad in [
            "",
            "../x",
            "a/b",
            "Alice",
            ".hidden",
            "-x",
            "a b",
            &"a".repeat(65),
        ] {
            assert_eq!(s.id_for(bad), None, "{bad:?}");
        }
        assert_eq!(
            user_source_of("macos.sysadminctl.screenlock.bob_2"),
            Some((&MACOS_SYSADMINCTL_SCREENLOCK, "bob_2"))
        );
        assert_eq!(user_source_of("macos.sysadminctl.screenlock."), None);
        assert_eq!(user_source_of("macos.sysadminctl.screenlockbob"), None);
        assert_eq!(user_source_of("macos.sysadminctl.screenlock.a/b"), None);
        for u in USER_SOURCES {
            assert!(u.argv[0].starts_with('/'));
            assert!(by_id(u.prefix).is_none(), "a family is not also a source");
            assert!(!u.argv.iter().any(|a| a.contains('<')), "no user in argv");
        }
    }
}
