//! The macOS disk checks (`docs/checks.md`, "macOS: disk"): FileVault on the booted
//! Data volume, every internal APFS volume, swap, and the recovery key's escrow.
//!
//! FileVault state comes from `fdesetup status` and the `FileVault` flag of
//! `diskutil apfs list -plist`, **never** from a volume's "encrypted" flag: on T2
//! and Apple-silicon Macs every internal volume is hardware-encrypted whether or
//! not FileVault is on, and such a volume opens without a password from recoveryOS
//! or target disk mode.
//!
//! The parsers here are pure functions over command output; the checks read the
//! sources through the [`Context`]'s host (live, replayed, or refused offline).

mod escrow;
mod fixed;
mod root;
mod swap;
#[cfg(test)]
pub(crate) mod testdata;

pub use escrow::RecoveryKeyEscrow;
pub use fixed::FixedVolumesEncrypted;
pub use root::RootEncrypted;
pub use swap::SwapEncrypted;

use std::sync::Arc;

use attest_proto::Evidence;
use plist::Dictionary;
use serde::Serialize;

use super::plist::{self as pl, PlistError};
use crate::checks::{Context, command_evidence};
use crate::host::sources::MACOS_DISKUTIL_CRYPTO_USERS;
use crate::host::sources::{MACOS_DISKUTIL_APFS_LIST, MACOS_FDESETUP_STATUS};
use crate::host::{CommandOutput, Source, SourceError};

// fdesetup status ---------------------------------------------------------------

/// Which way a conversion runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Encrypting,
    Decrypting,
}

/// A conversion line of `fdesetup status`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub direction: Direction,
    /// `None` for `Encryption in progress: Pending`.
    pub percent: Option<f64>,
}

/// What `fdesetup status` said, from the exact lines the catalogue lists.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FdeStatus {
    /// `FileVault is On.` (true) or `FileVault is Off[.|, but …]` (false).
    pub on: Option<bool>,
    pub progress: Option<Progress>,
    /// `FileVault is Off, but will be enabled after the next restart.`
    pub pending_restart: bool,
    /// `Deferred enablement appears to be active for user 'NAME'.`
    pub deferred_user: Option<String>,
    /// The lines read, in order, for evidence.
    pub lines: Vec<String>,
}

/// The FileVault state, as recorded in `facts.filevault`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileVault {
    On,
    Off,
    Encrypting,
    Decrypting,
    PendingRestart,
}

impl FileVault {
    pub fn label(self) -> &'static str {
        match self {
            FileVault::On => "on",
            FileVault::Off => "off",
            FileVault::Encrypting => "encrypting",
            FileVault::Decrypting => "decrypting",
            FileVault::PendingRestart => "pending_restart",
        }
    }
}

/// Why `fdesetup status` output was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FdeError {
    #[error("fdesetup status printed nothing")]
    Empty,
    /// fdesetup's own output (never a secret), quoted so a new wording is seen.
    #[error("fdesetup status printed a line this agent does not know: {0:?}")]
    Line(String),
    #[error("fdesetup status contradicts itself: {0}")]
    Contradictory(String),
}

const ON: &str = "FileVault is On.";
const OFF: &str = "FileVault is Off.";
const OFF_UNTIL_RESTART: &str = "FileVault is Off, but will be enabled after the next restart.";
const ENCRYPTING: &str = "Encryption in progress: Percent completed = ";
const ENCRYPTING_PENDING: &str = "Encryption in progress: Pending";
const DECRYPTING: &str = "Decryption in progress: Percent completed = ";
const DEFERRED: (&str, &str) = ("Deferred enablement appears to be active for user '", "'.");

/// A line of a tool's output as quoted in a reason: at most 200 characters.
pub fn clip(line: &str) -> String {
    const MAX: usize = 200;
    match line.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_owned(),
    }
}

/// `N` or `N.N`, decimal digits only, 0 to 100.
fn percent(text: &str) -> Option<f64> {
    let (int, frac) = text.split_once('.').unwrap_or((text, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !digits(frac) {
        return None;
    }
    let value: f64 = text.parse().ok()?;
    (0.0..=100.0).contains(&value).then_some(value)
}

/// Parses `fdesetup status` (run with `LC_ALL=C`). Only the lines the catalogue
/// lists are accepted (surrounding white space and blank lines aside); anything
/// else is an error that quotes the line.
pub fn parse_fdesetup_status(text: &str) -> Result<FdeStatus, FdeError> {
    let mut st = FdeStatus::default();
    let set_on = |st: &mut FdeStatus, on: bool, line: &str| {
        if st.on.is_some_and(|was| was != on) {
            return Err(FdeError::Contradictory(format!(
                "{line:?} after an earlier line said the opposite"
            )));
        }
        st.on = Some(on);
        Ok(())
    };
    let set_progress = |st: &mut FdeStatus, p: Progress, line: &str| {
        if st.progress.is_some() {
            return Err(FdeError::Contradictory(format!(
                "a second progress line {line:?}"
            )));
        }
        st.progress = Some(p);
        Ok(())
    };
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if line == ON {
            set_on(&mut st, true, line)?;
        } else if line == OFF {
            set_on(&mut st, false, line)?;
        } else if line == OFF_UNTIL_RESTART {
            set_on(&mut st, false, line)?;
            st.pending_restart = true;
        } else if line == ENCRYPTING_PENDING {
            let p = Progress {
                direction: Direction::Encrypting,
                percent: None,
            };
            set_progress(&mut st, p, line)?;
        } else if let Some(n) = line.strip_prefix(ENCRYPTING) {
            let Some(n) = percent(n) else {
                return Err(FdeError::Line(clip(line)));
            };
            let p = Progress {
                direction: Direction::Encrypting,
                percent: Some(n),
            };
            set_progress(&mut st, p, line)?;
        } else if let Some(n) = line.strip_prefix(DECRYPTING) {
            let Some(n) = percent(n) else {
                return Err(FdeError::Line(clip(line)));
            };
            let p = Progress {
                direction: Direction::Decrypting,
                percent: Some(n),
            };
            set_progress(&mut st, p, line)?;
        } else if let Some(user) = line
            .strip_prefix(DEFERRED.0)
            .and_then(|rest| rest.strip_suffix(DEFERRED.1))
            .filter(|u| !u.is_empty() && !u.contains('\''))
        {
            st.deferred_user = Some(user.to_owned());
        } else {
            return Err(FdeError::Line(clip(line)));
        }
        st.lines.push(line.to_owned());
    }
    if st.lines.is_empty() {
        return Err(FdeError::Empty);
    }
    if st.on == Some(true) && st.deferred_user.is_some() {
        return Err(FdeError::Contradictory(
            "FileVault is On and deferred enablement is active".to_owned(),
        ));
    }
    if st.on.is_none() && st.progress.is_none() {
        return Err(FdeError::Contradictory(
            "neither \"FileVault is On.\" nor \"FileVault is Off.\" nor a progress line".to_owned(),
        ));
    }
    Ok(st)
}

impl FdeStatus {
    /// The state: a conversion line decides first, then a pending enablement, then
    /// On/Off.
    pub fn state(&self) -> FileVault {
        match self.progress {
            Some(Progress {
                direction: Direction::Encrypting,
                ..
            }) => FileVault::Encrypting,
            Some(Progress {
                direction: Direction::Decrypting,
                ..
            }) => FileVault::Decrypting,
            None if self.pending_restart || self.deferred_user.is_some() => {
                FileVault::PendingRestart
            }
            None if self.on == Some(true) => FileVault::On,
            None => FileVault::Off,
        }
    }

    /// `facts.percent`: N while converting, `null` otherwise (and for `Pending`).
    pub fn percent(&self) -> Option<f64> {
        self.progress.and_then(|p| p.percent)
    }

    /// One sentence on the state.
    pub fn describe(&self) -> String {
        let pct = |p: Option<f64>| p.map_or_else(String::new, |n| format!(" ({n}% done)"));
        match (self.progress, &self.deferred_user) {
            (
                Some(Progress {
                    direction: Direction::Encrypting,
                    percent: None,
                }),
                _,
            ) => "FileVault encryption is pending".to_owned(),
            (
                Some(Progress {
                    direction: Direction::Encrypting,
                    percent,
                }),
                _,
            ) => format!("FileVault encryption is in progress{}", pct(percent)),
            (
                Some(Progress {
                    direction: Direction::Decrypting,
                    percent,
                }),
                _,
            ) => format!("FileVault decryption is in progress{}", pct(percent)),
            (None, Some(user)) => {
                format!("FileVault is off; deferred enablement is active for user '{user}'")
            }
            (None, None) if self.pending_restart => {
                "FileVault is off, but will be enabled after the next restart".to_owned()
            }
            (None, None) if self.on == Some(true) => "FileVault is on".to_owned(),
            (None, None) => "FileVault is off".to_owned(),
        }
    }
}

// diskutil ----------------------------------------------------------------------

/// Why diskutil output was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiskutilError {
    #[error(transparent)]
    Plist(#[from] PlistError),
    #[error("no {0} in the plist")]
    Missing(&'static str),
}

/// One APFS volume of `diskutil apfs list -plist`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApfsVolume {
    pub device: String,
    pub name: String,
    pub roles: Vec<String>,
    /// `None` when the key is missing.
    pub filevault: Option<bool>,
    pub crypto_migration_on: Option<bool>,
    pub locked: Option<bool>,
}

impl ApfsVolume {
    fn from_plist(d: &Dictionary) -> Self {
        ApfsVolume {
            device: pl::string(d, "DeviceIdentifier").unwrap_or_default(),
            name: pl::string(d, "Name").unwrap_or_default(),
            roles: pl::strings(d, "Roles"),
            filevault: pl::boolean(d, "FileVault"),
            crypto_migration_on: pl::boolean(d, "CryptoMigrationOn"),
            locked: pl::boolean(d, "Locked"),
        }
    }

    /// FileVault on and no conversion running; `None` when a key is missing.
    pub fn filevault_complete(&self) -> Option<bool> {
        match (self.filevault?, self.crypto_migration_on?) {
            (true, false) => Some(true),
            _ => Some(false),
        }
    }

    /// `disk3s5 'Macintosh HD - Data' roles [Data] FileVault true CryptoMigrationOn false`.
    pub fn excerpt(&self) -> String {
        let b = |v: Option<bool>| v.map_or("(missing)".to_owned(), |v| v.to_string());
        format!(
            "{} '{}' roles [{}] FileVault {} CryptoMigrationOn {}",
            self.device,
            self.name,
            self.roles.join(", "),
            b(self.filevault),
            b(self.crypto_migration_on)
        )
    }

    /// `facts.data_volume` and the entries of `facts.volumes`.
    pub fn facts(&self) -> serde_json::Value {
        serde_json::json!({
            "device": self.device,
            "name": self.name,
            "roles": self.roles,
            "filevault": self.filevault,
            "crypto_migration_on": self.crypto_migration_on,
            "locked": self.locked,
        })
    }
}

/// One APFS container.
#[derive(Debug, Clone, PartialEq)]
pub struct ApfsContainer {
    /// `ContainerReference`, e.g. `disk3`.
    pub reference: String,
    /// `PhysicalStores[].DeviceIdentifier`, e.g. `disk0s2`.
    pub stores: Vec<String>,
    pub volumes: Vec<ApfsVolume>,
}

/// Parses `diskutil apfs list -plist`.
pub fn parse_apfs_list(bytes: &[u8]) -> Result<Vec<ApfsContainer>, DiskutilError> {
    let top = pl::parse_dict(bytes)?;
    if !top.contains_key("Containers") {
        return Err(DiskutilError::Missing("Containers"));
    }
    Ok(pl::dicts(&top, "Containers")
        .into_iter()
        .map(|c| ApfsContainer {
            reference: pl::string(c, "ContainerReference").unwrap_or_default(),
            stores: pl::dicts(c, "PhysicalStores")
                .into_iter()
                .filter_map(|s| pl::string(s, "DeviceIdentifier"))
                .collect(),
            volumes: pl::dicts(c, "Volumes")
                .into_iter()
                .map(ApfsVolume::from_plist)
                .collect(),
        })
        .collect())
}

/// What `diskutil info -plist` says of a disk or volume (key names to pin from
/// captures: catalogue open question 4).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiskInfo {
    pub device: String,
    pub internal: Option<bool>,
    pub removable: Option<bool>,
    pub ejectable: Option<bool>,
}

/// Parses `diskutil info -plist …`.
pub fn parse_disk_info(bytes: &[u8]) -> Result<DiskInfo, DiskutilError> {
    let d = pl::parse_dict(bytes)?;
    Ok(DiskInfo {
        device: pl::string(&d, "DeviceIdentifier")
            .filter(|s| !s.is_empty())
            .ok_or(DiskutilError::Missing("DeviceIdentifier"))?,
        internal: pl::boolean(&d, "Internal"),
        removable: pl::boolean(&d, "RemovableMedia"),
        ejectable: pl::boolean(&d, "Ejectable"),
    })
}

/// One user that can unlock the booted volume (`diskutil apfs listCryptoUsers
/// -plist /`): recorded in `facts.crypto_users`, never gating (a crypto user says
/// who can unlock, not that FileVault is on: catalogue pitfall "encrypted is not
/// FileVault").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CryptoUser {
    /// `APFSCryptoUserUUID`: a user's GeneratedUID, or a recovery key's id.
    pub uuid: String,
    /// `APFSCryptoUserType` (`LocalOpenDirectory`, `PersonalRecovery`, …).
    #[serde(rename = "type")]
    pub kind: String,
}

/// Parses `diskutil apfs listCryptoUsers -plist /`.
pub fn parse_crypto_users(bytes: &[u8]) -> Result<Vec<CryptoUser>, DiskutilError> {
    let top = pl::parse_dict(bytes)?;
    if !top.contains_key("Users") {
        return Err(DiskutilError::Missing("Users"));
    }
    Ok(pl::dicts(&top, "Users")
        .into_iter()
        .map(|u| CryptoUser {
            uuid: pl::string(u, "APFSCryptoUserUUID").unwrap_or_default(),
            kind: pl::string(u, "APFSCryptoUserType").unwrap_or_default(),
        })
        .collect())
}

/// `facts.crypto_users`: the list, or `{"not_read": why}`. Read once per run.
pub fn crypto_users_fact(ctx: &Context<'_>) -> serde_json::Value {
    let memo = ctx.memo(|ctx| {
        CryptoUsersMemo(
            match read_command(ctx, &MACOS_DISKUTIL_CRYPTO_USERS, |s| {
                parse_crypto_users(s.as_bytes())
            }) {
                Ok(read) => serde_json::json!(read.value),
                Err(f) => serde_json::json!({"not_read": f.why}),
            },
        )
    });
    memo.0.clone()
}

struct CryptoUsersMemo(serde_json::Value);

/// Partition types (`Content` of `diskutil list -plist`) that hold a filesystem
/// other than APFS: HFS+, FAT, exFAT and NTFS (`Microsoft Basic Data` is FAT, exFAT
/// or NTFS). Partition maps, EFI, boot helpers and the APFS types are not volumes
/// of their own.
pub const PLAIN_FILESYSTEMS: &[&str] = &[
    "Apple_HFS",
    "Apple_HFSX",
    "Apple_UFS",
    "Microsoft Basic Data",
    "DOS_FAT_12",
    "DOS_FAT_16",
    "DOS_FAT_32",
    "Windows_FAT_16",
    "Windows_FAT_32",
    "Windows_NTFS",
];

/// A volume of an internal disk that is not on APFS: no FileVault, judged
/// unencrypted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlainVolume {
    pub device: String,
    /// The partition type (`Apple_HFS`, `Microsoft Basic Data`, …).
    pub content: String,
    pub name: Option<String>,
    pub mount_point: Option<String>,
}

/// The non-APFS volumes of `diskutil list -plist internal`: the partitions of each
/// internal disk whose `Content` is one of [`PLAIN_FILESYSTEMS`] (a disk formatted
/// without a partition map counts as its own partition). The synthesized disks of
/// APFS containers (`APFSVolumes`) hold APFS volumes, judged from the APFS list.
pub fn parse_internal_plain_volumes(bytes: &[u8]) -> Result<Vec<PlainVolume>, DiskutilError> {
    let top = pl::parse_dict(bytes)?;
    if !top.contains_key("AllDisksAndPartitions") {
        return Err(DiskutilError::Missing("AllDisksAndPartitions"));
    }
    let mut plain = Vec::new();
    for disk in pl::dicts(&top, "AllDisksAndPartitions") {
        if disk.contains_key("APFSVolumes") {
            continue;
        }
        let partitions = pl::dicts(disk, "Partitions");
        let candidates = if partitions.is_empty() {
            vec![disk]
        } else {
            partitions
        };
        for p in candidates {
            let content = pl::string(p, "Content").unwrap_or_default();
            if PLAIN_FILESYSTEMS.contains(&content.as_str()) {
                plain.push(PlainVolume {
                    device: pl::string(p, "DeviceIdentifier").unwrap_or_default(),
                    content,
                    name: pl::string(p, "VolumeName"),
                    mount_point: pl::string(p, "MountPoint"),
                });
            }
        }
    }
    Ok(plain)
}

// Reading the sources -----------------------------------------------------------

/// A source that gave no usable answer: why, and the evidence of the run when it
/// ran.
#[derive(Debug, Clone)]
pub struct Failure {
    pub why: String,
    pub evidence: Option<Evidence>,
    /// The source is not in the captures being replayed (it was not recorded).
    pub not_captured: bool,
}

/// A command's output, understood.
#[derive(Debug, Clone)]
pub struct Read<T> {
    pub output: CommandOutput,
    pub value: T,
}

/// Runs (or replays) `source`, requires exit code 0, and parses its stdout.
pub fn read_command<T, E: std::fmt::Display>(
    ctx: &Context<'_>,
    source: &Source,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Read<T>, Failure> {
    let output = ctx.host.command(source).map_err(|e| Failure {
        not_captured: matches!(e, SourceError::NotCaptured { .. }),
        why: e.to_string(),
        evidence: None,
    })?;
    let what = source.describe();
    if output.exit_code != Some(0) {
        let code = output.exit_code.map_or_else(
            || "killed by a signal".to_owned(),
            |c| format!("exit code {c}"),
        );
        return Err(Failure {
            not_captured: false,
            why: format!("{what}: failed ({code})"),
            evidence: Some(command_evidence(&output, format!("({code})"))),
        });
    }
    match parse(&output.stdout) {
        Ok(value) => Ok(Read { output, value }),
        Err(e) => Err(Failure {
            not_captured: false,
            why: format!("{what}: {e}"),
            evidence: Some(command_evidence(&output, "(not understood)")),
        }),
    }
}

/// `fdesetup status`, read once per run.
pub struct FdeMemo(pub Result<Read<FdeStatus>, Failure>);

pub fn fdesetup_status(ctx: &Context<'_>) -> Arc<FdeMemo> {
    ctx.memo(|ctx| {
        FdeMemo(read_command(
            ctx,
            &MACOS_FDESETUP_STATUS,
            parse_fdesetup_status,
        ))
    })
}

/// `diskutil apfs list -plist`, read once per run.
pub struct ApfsMemo(pub Result<Read<Vec<ApfsContainer>>, Failure>);

pub fn apfs_list(ctx: &Context<'_>) -> Arc<ApfsMemo> {
    ctx.memo(|ctx| {
        ApfsMemo(read_command(ctx, &MACOS_DISKUTIL_APFS_LIST, |s| {
            parse_apfs_list(s.as_bytes())
        }))
    })
}

impl Read<FdeStatus> {
    pub fn evidence(&self) -> Evidence {
        command_evidence(&self.output, self.value.lines.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::testdata::*;
    use super::*;

    #[test]
    fn fdesetup_on_and_off() {
        let on = parse_fdesetup_status("FileVault is On.\n").unwrap();
        assert_eq!(on.state(), FileVault::On);
        assert_eq!(on.percent(), None);
        assert_eq!(on.lines, vec!["FileVault is On."]);
        assert_eq!(on.describe(), "FileVault is on");
        let off = parse_fdesetup_status("FileVault is Off.\n").unwrap();
        assert_eq!(off.state(), FileVault::Off);
        assert_eq!(off.describe(), "FileVault is off");
    }

    #[test]
    fn fdesetup_progress_lines_give_the_percent() {
        let s = parse_fdesetup_status(
            "FileVault is On.\nEncryption in progress: Percent completed = 42.5\n",
        )
        .unwrap();
        assert_eq!(s.state(), FileVault::Encrypting);
        assert_eq!(s.percent(), Some(42.5));
        assert_eq!(
            s.describe(),
            "FileVault encryption is in progress (42.5% done)"
        );
        let s = parse_fdesetup_status("Encryption in progress: Percent completed = 7\n").unwrap();
        assert_eq!(s.percent(), Some(7.0));
        let s =
            parse_fdesetup_status("FileVault is On.\nEncryption in progress: Pending\n").unwrap();
        assert_eq!(s.state(), FileVault::Encrypting);
        assert_eq!(s.percent(), None);
        assert_eq!(s.describe(), "FileVault encryption is pending");
        let s = parse_fdesetup_status(
            "FileVault is On.\nDecryption in progress: Percent completed = 88\n",
        )
        .unwrap();
        assert_eq!(s.state(), FileVault::Decrypting);
        assert_eq!(s.percent(), Some(88.0));
    }

    #[test]
    fn fdesetup_pending_enablement() {
        let s = parse_fdesetup_status(
            "FileVault is Off, but will be enabled after the next restart.\n",
        )
        .unwrap();
        assert_eq!(s.state(), FileVault::PendingRestart);
        assert_eq!(s.on, Some(false));
        let s = parse_fdesetup_status(
            "FileVault is Off.\nDeferred enablement appears to be active for user 'alice'.\n",
        )
        .unwrap();
        assert_eq!(s.state(), FileVault::PendingRestart);
        assert_eq!(s.deferred_user.as_deref(), Some("alice"));
        assert!(s.describe().contains("'alice'"), "{}", s.describe());
    }

    #[test]
    fn fdesetup_anything_else_is_quoted_and_refused() {
        for (text, line) in [
            ("FileVault is on.\n", "FileVault is on."),
            ("FileVault est activé.\n", "FileVault est activé."),
            (
                "FileVault is On.\nEncryption in progress: Percent completed = 1e2\n",
                "Encryption in progress: Percent completed = 1e2",
            ),
            (
                "Encryption in progress: Percent completed = 101\n",
                "Encryption in progress: Percent completed = 101",
            ),
            (
                "Decryption in progress: Percent completed = -3\n",
                "Decryption in progress: Percent completed = -3",
            ),
            (
                "Deferred enablement appears to be active for user ''.\n",
                "Deferred enablement appears to be active for user ''.",
            ),
        ] {
            assert_eq!(
                parse_fdesetup_status(text),
                Err(FdeError::Line(line.to_owned())),
                "{text:?}"
            );
        }
        assert_eq!(parse_fdesetup_status("\n \n"), Err(FdeError::Empty));
        assert!(matches!(
            parse_fdesetup_status("FileVault is On.\nFileVault is Off.\n"),
            Err(FdeError::Contradictory(_))
        ));
        assert!(matches!(
            parse_fdesetup_status(
                "FileVault is On.\nDeferred enablement appears to be active for user 'bob'.\n"
            ),
            Err(FdeError::Contradictory(_))
        ));
        assert!(matches!(
            parse_fdesetup_status(
                "Encryption in progress: Pending\nEncryption in progress: Percent completed = 3\n"
            ),
            Err(FdeError::Contradictory(_))
        ));
        assert!(matches!(
            parse_fdesetup_status("Deferred enablement appears to be active for user 'bob'.\n"),
            Err(FdeError::Contradictory(_))
        ));
        let long = format!("FileVault {}", "x".repeat(500));
        let Err(FdeError::Line(quoted)) = parse_fdesetup_status(&long) else {
            panic!("refused");
        };
        assert_eq!(quoted.chars().count(), 201);
        assert!(quoted.ends_with('…'));
        let e = FdeError::Line("FileVault is on.".into()).to_string();
        assert!(e.contains("\"FileVault is on.\""), "{e}");
    }

    #[test]
    fn apfs_list_of_an_apple_silicon_mac() {
        let containers = parse_apfs_list(apple_silicon_apfs_list(true, false).as_bytes()).unwrap();
        assert_eq!(containers.len(), 3);
        let main = containers.iter().find(|c| c.reference == "disk3").unwrap();
        assert_eq!(main.stores, vec!["disk0s2"]);
        let data = main.volumes.iter().find(|v| v.device == "disk3s5").unwrap();
        assert_eq!(data.name, "Macintosh HD - Data");
        assert_eq!(data.roles, vec!["Data"]);
        assert_eq!(data.filevault, Some(true));
        assert_eq!(data.crypto_migration_on, Some(false));
        assert_eq!(data.locked, Some(false));
        assert_eq!(data.filevault_complete(), Some(true));
        let sys = main.volumes.iter().find(|v| v.device == "disk3s1").unwrap();
        assert_eq!(sys.roles, vec!["System"]);
        let user = main.volumes.iter().find(|v| v.roles.is_empty()).unwrap();
        assert_eq!(user.name, "Projects");
        assert_eq!(
            data.excerpt(),
            "disk3s5 'Macintosh HD - Data' roles [Data] FileVault true CryptoMigrationOn false"
        );
    }

    #[test]
    fn apfs_list_in_binary_form_and_broken_forms() {
        let xml = apple_silicon_apfs_list(false, true);
        let mut bin = Vec::new();
        crate::checks::macos::plist::parse(xml.as_bytes())
            .unwrap()
            .to_writer_binary(&mut bin)
            .unwrap();
        let containers = parse_apfs_list(&bin).unwrap();
        let data = containers
            .iter()
            .flat_map(|c| &c.volumes)
            .find(|v| v.device == "disk3s5")
            .unwrap();
        assert_eq!(data.filevault, Some(false));
        assert_eq!(data.crypto_migration_on, Some(true));
        assert_eq!(data.filevault_complete(), Some(false));
        assert_eq!(
            parse_apfs_list(plist_dict("<key>Other</key><true/>").as_bytes()),
            Err(DiskutilError::Missing("Containers"))
        );
        assert!(matches!(
            parse_apfs_list(b"Error: -69808\n"),
            Err(DiskutilError::Plist(_))
        ));
        // A volume without its FileVault key: not judged complete either way.
        let v = ApfsVolume {
            device: "disk3s9".into(),
            name: "x".into(),
            roles: vec![],
            filevault: None,
            crypto_migration_on: Some(false),
            locked: None,
        };
        assert_eq!(v.filevault_complete(), None);
    }

    #[test]
    fn disk_info_keys() {
        let i = parse_disk_info(data_volume_info("disk3s5").as_bytes()).unwrap();
        assert_eq!(i.device, "disk3s5");
        assert_eq!(i.internal, Some(true));
        let i = parse_disk_info(disk0_info(true, false).as_bytes()).unwrap();
        assert_eq!(i.device, "disk0");
        assert_eq!(
            (i.internal, i.removable, i.ejectable),
            (Some(true), Some(false), Some(false))
        );
        let i = parse_disk_info(disk0_info(false, true).as_bytes()).unwrap();
        assert_eq!((i.internal, i.removable), (Some(false), Some(true)));
        assert_eq!(
            parse_disk_info(plist_dict("<key>Internal</key><true/>").as_bytes()),
            Err(DiskutilError::Missing("DeviceIdentifier"))
        );
    }

    #[test]
    fn crypto_users_and_non_apfs_volumes_parse() {
        let users = parse_crypto_users(crypto_users_plist().as_bytes()).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[1].kind, "PersonalRecovery");
        assert_eq!(
            parse_crypto_users(plist_dict("").as_bytes()),
            Err(DiskutilError::Missing("Users"))
        );
        let plain = parse_internal_plain_volumes(list_internal(true).as_bytes()).unwrap();
        assert_eq!(
            plain,
            vec![PlainVolume {
                device: "disk0s3".to_owned(),
                content: "Microsoft Basic Data".to_owned(),
                name: Some("BOOTCAMP".to_owned()),
                mount_point: None,
            }]
        );
        assert!(
            parse_internal_plain_volumes(list_internal(false).as_bytes())
                .unwrap()
                .is_empty()
        );
        // A whole disk formatted HFS+ without a partition map is its own volume.
        let whole = plist_dict(
            "\t<key>AllDisksAndPartitions</key>\n\t<array>\n\t\t<dict>\n\
             \t\t\t<key>Content</key>\n\t\t\t<string>Apple_HFS</string>\n\
             \t\t\t<key>DeviceIdentifier</key>\n\t\t\t<string>disk2</string>\n\
             \t\t\t<key>MountPoint</key>\n\t\t\t<string>/Volumes/Old</string>\n\
             \t\t\t<key>VolumeName</key>\n\t\t\t<string>Old</string>\n\
             \t\t</dict>\n\t</array>\n",
        );
        let plain = parse_internal_plain_volumes(whole.as_bytes()).unwrap();
        assert_eq!(plain[0].mount_point.as_deref(), Some("/Volumes/Old"));
        assert_eq!(
            parse_internal_plain_volumes(plist_dict("").as_bytes()),
            Err(DiskutilError::Missing("AllDisksAndPartitions"))
        );
    }
}
