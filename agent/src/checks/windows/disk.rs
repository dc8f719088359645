//! The Windows disk checks over BitLocker's WMI methods (`bitlocker.rs`),
//! `Win32_Volume`, `%SystemDrive%` and the registry: `disk.root_encrypted`,
//! `disk.fixed_volumes_encrypted`, `disk.swap_encrypted`,
//! `disk.recovery_key_escrow`. Offline every one is `unknown`: BitLocker's state
//! lives in the volume's own metadata, not in a file a disk image shows.

use std::sync::Arc;

use attest_proto::{CheckResult, Evidence, Status};
use serde_json::{Value, json};

use super::bitlocker::{State, Volume, parse_volumes};
use super::directory::Directory;
use super::{Reg, RegRead, clip, drive_of, instances, read_reg, system_drive};
use crate::checks::{Check, Context, api_evidence, not_applicable, unknown};
use crate::host::sources::{WIN_ENCRYPTABLE_VOLUMES, WIN_VOLUMES};
use crate::host::{ApiOutput, RegistryValue};

/// `win.wmi.encryptable_volumes`, read and parsed once per run.
struct Encryptable(Result<(ApiOutput, Vec<Volume>), String>);

fn encryptable(ctx: &Context<'_>) -> Arc<Encryptable> {
    ctx.memo(|ctx| {
        Encryptable(
            ctx.host
                .api(&WIN_ENCRYPTABLE_VOLUMES)
                .map_err(|e| e.to_string())
                .and_then(|out| parse_volumes(&out.value).map(|v| (out, v))),
        )
    })
}

/// The deciding values of a volume, for an evidence excerpt.
fn excerpt(v: &Volume) -> String {
    let show = |r: &Result<u64, String>| r.as_ref().map_or_else(|e| e.clone(), u64::to_string);
    format!(
        "{}: GetConversionStatus.ConversionStatus = {}, GetProtectionStatus.ProtectionStatus = {}, \
         key protectors = {}",
        v.name(),
        show(&v.conversion_status),
        show(&v.protection_status),
        v.protectors.as_ref().map_or_else(
            |e| e.clone(),
            |p| p
                .iter()
                .map(|k| super::bitlocker::protector_name(*k))
                .collect::<Vec<_>>()
                .join(", ")
        )
    )
}

/// Known third-party full-disk encryption products, by the service (or driver)
/// key they install under `HKLM\SYSTEM\CurrentControlSet\Services`. A key that
/// exists means "installed", never "encrypting": the verdict is then unknown.
/// Sophos SafeGuard and Check Point Full Disk Encryption are not listed yet:
/// their service names are to be taken from a capture.
pub const THIRD_PARTY_FDE: &[(&str, &str)] = &[
    ("veracrypt", "VeraCrypt system encryption driver"),
    ("MfeEpePc", "Trellix (McAfee) Drive Encryption"),
    (
        "PGPwded",
        "Symantec Endpoint Encryption (PGP Whole Disk Encryption)",
    ),
];

/// Which of [`THIRD_PARTY_FDE`] are installed, and which lookups went unanswered.
fn third_party_fde(ctx: &Context<'_>) -> (Vec<&'static str>, Vec<String>) {
    let mut present = Vec::new();
    let mut unread = Vec::new();
    for (service, product) in THIRD_PARTY_FDE {
        let read = read_reg(
            ctx,
            &format!("SYSTEM\\CurrentControlSet\\Services\\{service}"),
            "Start",
        );
        match read.got {
            Reg::Set(_) => present.push(*product),
            Reg::Absent => {}
            Reg::Unread(why) => unread.push(why),
        }
    }
    (present, unread)
}

/// The volumes, the OS volume (by `%SystemDrive%`) and the evidence of both.
struct OsVolume<'a> {
    drive: String,
    volume: &'a Volume,
    evidence: Vec<Evidence>,
}

fn os_volume<'a>(ctx: &Context<'_>, enc: &'a Encryptable) -> Result<OsVolume<'a>, String> {
    let (output, volumes) = enc.0.as_ref().map_err(Clone::clone)?;
    let (drive, drive_evidence) = system_drive(ctx)?;
    let volume = volumes
        .iter()
        .find(|v| v.letter.as_deref() == Some(drive.as_str()))
        .ok_or_else(|| {
            format!(
                "no Win32_EncryptableVolume has the system drive's letter {drive} \
                 ({} volumes listed)",
                volumes.len()
            )
        })?;
    Ok(OsVolume {
        evidence: vec![api_evidence(output, excerpt(volume)), drive_evidence],
        drive,
        volume,
    })
}

/// A BitLocker `EncryptionMethod`'s name.
fn method_name(method: Option<u64>) -> String {
    match method {
        Some(0) => "no encryption method".into(),
        Some(1) => "AES-128 with diffuser".into(),
        Some(2) => "AES-256 with diffuser".into(),
        Some(3) => "AES-128".into(),
        Some(4) => "AES-256".into(),
        Some(5) => "hardware encryption (self-encrypting drive; flagged)".into(),
        Some(6) => "XTS-AES-128".into(),
        Some(7) => "XTS-AES-256".into(),
        Some(n) => format!("encryption method {n}"),
        None => "encryption method not read".into(),
    }
}

const ROOT: &str = "disk.root_encrypted";

/// `disk.root_encrypted` on Windows: BitLocker on the volume whose drive letter
/// is `%SystemDrive%` (from `GetSystemDirectoryW`; never assumed `C:`).
///
/// - pass: that volume is protected (fully encrypted, `GetProtectionStatus` 1, at
///   least one key protector); a hardware-encrypted volume passes, flagged in the
///   summary and `facts.volume.hardware_encryption`;
/// - fail: fully decrypted; encryption or decryption in progress or paused (with
///   `facts.percent`); fully encrypted with protection suspended, or waiting for
///   activation (the summary says which);
/// - unknown: WMI not answered (not an administrator, offline, not captured),
///   `%SystemDrive%` not known, no volume with that letter, a method failed or
///   says 2 (locked); and when BitLocker says decrypted but a known third-party
///   full-disk encryption product is installed ("present, not verified").
///
/// Where the catalogue is silent: when the third-party lookups cannot be made
/// (the registry is not readable on this root yet) a decrypted volume still
/// fails, and the unanswered lookups are in `facts.unanswered`.
pub struct RootEncrypted;

impl Check for RootEncrypted {
    fn id(&self) -> &'static str {
        ROOT
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let enc = encryptable(ctx);
        let os = match os_volume(ctx, &enc) {
            Ok(os) => os,
            Err(e) => return unknown(ROOT, e),
        };
        let v = os.volume;
        let drive = &os.drive;
        let base = |r: CheckResult| {
            r.fact("system_drive", drive)
                .fact("volume", v.facts())
                .fact("percent", v.percent)
                .evidences(os.evidence.clone())
        };
        let state = v.state();
        match &state {
            State::Protected => base(CheckResult::new(
                ROOT,
                Status::Pass,
                format!(
                    "the system drive {drive} is protected by BitLocker ({})",
                    method_name(v.method)
                ),
            )),
            State::Unknown(why) => base(unknown(ROOT, format!("system drive {drive}: {why}"))),
            State::Decrypted => {
                let (present, unread) = third_party_fde(ctx);
                let r = if present.is_empty() {
                    CheckResult::new(
                        ROOT,
                        Status::Fail,
                        format!(
                            "the system drive {drive} is not encrypted (BitLocker fully decrypted)"
                        ),
                    )
                } else {
                    unknown(
                        ROOT,
                        format!(
                            "BitLocker says the system drive {drive} is fully decrypted; \
                             third-party full-disk encryption {} present, not verified",
                            present.join(", ")
                        ),
                    )
                };
                let r = base(r).fact("third_party_fde", &present);
                if unread.is_empty() {
                    r
                } else {
                    r.fact("unanswered", unread)
                }
            }
            other => base(CheckResult::new(
                ROOT,
                Status::Fail,
                format!(
                    "the system drive {drive} is not protected: {}",
                    other.describe()
                ),
            )),
        }
    }
}

/// One `Win32_Volume`, as far as `disk.fixed_volumes_encrypted` reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlainVolume {
    pub device_id: String,
    pub letter: Option<String>,
    pub drive_type: Option<u64>,
    pub file_system: Option<String>,
    /// The mount path (`C:\`, `D:\data\`), or the volume GUID path when unmounted.
    pub name: Option<String>,
}

impl PlainVolume {
    /// A local disk (`DriveType` 3) with NTFS or ReFS and a letter or mount point.
    pub fn is_judged(&self) -> bool {
        let fs_ok = self
            .file_system
            .as_deref()
            .is_some_and(|f| f.eq_ignore_ascii_case("NTFS") || f.eq_ignore_ascii_case("ReFS"));
        let mounted = self.letter.is_some()
            || self
                .name
                .as_deref()
                .is_some_and(|n| !n.is_empty() && !n.starts_with("\\\\?\\"));
        self.drive_type == Some(3) && fs_ok && mounted
    }

    /// A person's name for it: letter, else mount path.
    pub fn shown(&self) -> String {
        self.letter
            .clone()
            .or_else(|| self.name.clone())
            .unwrap_or_else(|| self.device_id.clone())
    }
}

/// Every instance of `win.wmi.volumes`.
pub fn parse_plain_volumes(value: &Value) -> Result<Vec<PlainVolume>, String> {
    let what = WIN_VOLUMES.describe();
    instances(value, &what)?
        .iter()
        .map(|i| {
            let text = |k: &str| i.get(k).and_then(Value::as_str).map(str::to_owned);
            Ok(PlainVolume {
                device_id: text("DeviceID")
                    .ok_or_else(|| format!("{what}: an instance without DeviceID"))?,
                letter: text("DriveLetter").as_deref().and_then(drive_of),
                drive_type: i.get("DriveType").and_then(Value::as_u64),
                file_system: text("FileSystem"),
                name: text("Name"),
            })
        })
        .collect()
}

/// A judged volume's verdict: `Some(true)` protected, `Some(false)` not,
/// `None` unknown; with the words for the summary. `None` overall when the
/// volume is BitLocker's removable-data class (left out).
fn judge(plain: &PlainVolume, encryptable: &[Volume]) -> Option<(Option<bool>, String)> {
    let found = encryptable
        .iter()
        .find(|e| e.device_id.eq_ignore_ascii_case(&plain.device_id));
    match found {
        Some(e) if e.volume_type == Some(2) => None,
        Some(e) => {
            let state = e.state();
            let verdict = match &state {
                State::Protected => Some(true),
                State::Unknown(_) => None,
                _ => Some(false),
            };
            Some((verdict, state.describe()))
        }
        None => Some((
            Some(false),
            "not a BitLocker volume (no Win32_EncryptableVolume)".to_owned(),
        )),
    }
}

const FIXED: &str = "disk.fixed_volumes_encrypted";

/// `disk.fixed_volumes_encrypted` on Windows: every `Win32_Volume` with
/// `DriveType` 3, NTFS or ReFS, and a drive letter or mount point is a protected
/// `Win32_EncryptableVolume` (matched by `DeviceID`, case-insensitively).
///
/// Left out: BitLocker's removable-data class (`VolumeType` 2), other drive
/// types, volumes with neither letter nor mount point (EFI system, recovery,
/// MSR partitions). VHD(X)-backed volumes are judged like any other.
/// - pass: every judged volume is protected;
/// - fail: any is not (the volumes listed with their state); a fixed volume
///   that BitLocker does not list cannot be BitLocker-protected and fails;
/// - unknown: a source unanswered, none judged, or (with no failure) a volume's
///   state unknown.
pub struct FixedVolumesEncrypted;

impl Check for FixedVolumesEncrypted {
    fn id(&self) -> &'static str {
        FIXED
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let enc = encryptable(ctx);
        let (enc_out, enc_volumes) = match &enc.0 {
            Ok(x) => x,
            Err(e) => return unknown(FIXED, e.clone()),
        };
        let plain_out = match ctx.host.api(&WIN_VOLUMES) {
            Ok(o) => o,
            Err(e) => return unknown(FIXED, e.to_string()),
        };
        let plain = match parse_plain_volumes(&plain_out.value) {
            Ok(p) => p,
            Err(e) => return unknown(FIXED, e),
        };
        let judged: Vec<(&PlainVolume, Option<bool>, String)> = plain
            .iter()
            .filter(|p| p.is_judged())
            .filter_map(|p| judge(p, enc_volumes).map(|(v, why)| (p, v, why)))
            .collect();
        let list = |want: Option<bool>| -> Vec<String> {
            judged
                .iter()
                .filter(|(_, v, _)| *v == want)
                .map(|(p, _, why)| format!("{} ({why})", p.shown()))
                .collect()
        };
        let facts: Vec<Value> = judged
            .iter()
            .map(|(p, v, why)| json!({"volume": p.shown(), "protected": v, "state": why}))
            .collect();
        let excerpts: Vec<String> = judged
            .iter()
            .map(|(p, _, why)| format!("{}: {why}", p.shown()))
            .collect();
        let base = |r: CheckResult| {
            r.fact("volumes", &facts)
                .evidence(api_evidence(&plain_out, excerpts.join("; ")))
                .evidence(api_evidence(
                    enc_out,
                    enc_volumes
                        .iter()
                        .map(excerpt)
                        .collect::<Vec<_>>()
                        .join("; "),
                ))
        };
        if judged.is_empty() {
            return base(unknown(
                FIXED,
                "no fixed NTFS or ReFS volume with a drive letter or mount point was seen",
            ));
        }
        let failed = list(Some(false));
        let unsure = list(None);
        if !failed.is_empty() {
            base(CheckResult::new(
                FIXED,
                Status::Fail,
                format!(
                    "{} of {} fixed volumes are not protected by BitLocker: {}",
                    failed.len(),
                    judged.len(),
                    failed.join("; ")
                ),
            ))
        } else if !unsure.is_empty() {
            base(unknown(FIXED, unsure.join("; ")))
        } else {
            let names: Vec<String> = judged.iter().map(|(p, _, _)| p.shown()).collect();
            base(CheckResult::new(
                FIXED,
                Status::Pass,
                format!(
                    "all {} fixed volumes are protected by BitLocker: {}",
                    judged.len(),
                    names.join(", ")
                ),
            ))
        }
    }
}

/// Where a page file lies: a drive letter (`C:`), or `?:`, the system drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageDrive {
    Letter(String),
    System,
}

/// The page files of `PagingFiles` (`X:\pagefile.sys MIN MAX`, sizes optional;
/// `?:` the system drive; empty entries skipped) or `ExistingPageFiles`
/// (`\??\X:\pagefile.sys`).
pub fn parse_page_files(entries: &[String]) -> Result<Vec<PageDrive>, String> {
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.trim();
        if path.is_empty() {
            continue;
        }
        let path = path.strip_prefix("\\??\\").unwrap_or(path);
        let drive = if path.starts_with("?:") {
            PageDrive::System
        } else {
            match drive_of(path) {
                Some(d) => PageDrive::Letter(d),
                None => return Err(format!("page file {:?} names no drive", clip(entry))),
            }
        };
        if !out.contains(&drive) {
            out.push(drive);
        }
    }
    Ok(out)
}

/// The `swap_encrypted` verdict over registry values and volume states.
#[derive(Debug, Clone, PartialEq)]
pub enum SwapVerdict {
    Pass(String),
    Fail(String),
    Unknown(String),
}

/// Decides `disk.swap_encrypted` from the page-file drives (letters already
/// resolved, `?:` replaced by the system drive), whether EFS encrypts the page
/// file, and each drive's BitLocker state (`None`: no BitLocker volume has the
/// letter; `Err`: the states are not known).
pub fn decide_swap(
    drives: &[String],
    efs: bool,
    state_of: &dyn Fn(&str) -> Result<Option<State>, String>,
) -> SwapVerdict {
    if efs {
        return SwapVerdict::Pass(
            "the page file is encrypted by EFS (NtfsEncryptPagingFile = 1)".to_owned(),
        );
    }
    if drives.is_empty() {
        return SwapVerdict::Pass("no page file is configured".to_owned());
    }
    let mut bad = Vec::new();
    let mut unsure = Vec::new();
    for d in drives {
        match state_of(d) {
            Err(e) => unsure.push(format!("{d}: {e}")),
            Ok(None) => bad.push(format!("{d} (not a BitLocker volume)")),
            Ok(Some(State::Protected)) => {}
            Ok(Some(State::Unknown(why))) => unsure.push(format!("{d}: {why}")),
            Ok(Some(other)) => bad.push(format!("{d} ({})", other.describe())),
        }
    }
    if !bad.is_empty() {
        SwapVerdict::Fail(format!(
            "page files lie on volumes not protected by BitLocker: {}",
            bad.join("; ")
        ))
    } else if !unsure.is_empty() {
        SwapVerdict::Unknown(format!(
            "a page-file volume's state is unknown: {}",
            unsure.join("; ")
        ))
    } else {
        SwapVerdict::Pass(format!(
            "every page file lies on a protected volume: {}",
            drives.join(", ")
        ))
    }
}

const MEMORY_MANAGEMENT: &str =
    "SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Memory Management";
const FILE_SYSTEM: &str = "SYSTEM\\CurrentControlSet\\Control\\FileSystem";

/// A REG_MULTI_SZ value: `Ok(None)` when absent.
fn multi(read: &RegRead) -> Result<Option<&[String]>, String> {
    match &read.got {
        Reg::Set(RegistryValue::MultiString(v)) => Ok(Some(v)),
        Reg::Set(other) => Err(format!("{} is {other}, not REG_MULTI_SZ", read.path())),
        Reg::Absent => Ok(None),
        Reg::Unread(why) => Err(why.clone()),
    }
}

const SWAP: &str = "disk.swap_encrypted";

/// `disk.swap_encrypted` on Windows: the page files of `PagingFiles` and
/// `ExistingPageFiles` (Memory Management key) lie on protected BitLocker
/// volumes, or `NtfsEncryptPagingFile` = 1 (EFS), or there is no page file.
///
/// `?:` in `PagingFiles` means the system drive (`%SystemDrive%`). An absent
/// `PagingFiles` means no page file is configured; an absent
/// `ExistingPageFiles` adds nothing. Where the catalogue is silent: a page file
/// on a letter BitLocker does not list fails (it cannot be BitLocker-protected).
/// Unknown: a registry value unread (offline for now), a volume state unknown.
pub struct SwapEncrypted;

impl Check for SwapEncrypted {
    fn id(&self) -> &'static str {
        SWAP
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let efs_read = read_reg(ctx, FILE_SYSTEM, "NtfsEncryptPagingFile");
        let paging_read = read_reg(ctx, MEMORY_MANAGEMENT, "PagingFiles");
        let existing_read = read_reg(ctx, MEMORY_MANAGEMENT, "ExistingPageFiles");
        let evidence: Vec<Evidence> = [&efs_read, &paging_read, &existing_read]
            .into_iter()
            .filter_map(RegRead::evidence)
            .collect();
        let efs = efs_read.dword() == Some(1);
        let mut drives: Vec<PageDrive> = Vec::new();
        if !efs {
            for read in [&paging_read, &existing_read] {
                let entries = match multi(read) {
                    Ok(e) => e.unwrap_or_default(),
                    Err(e) => return unknown(SWAP, e).evidences(evidence),
                };
                match parse_page_files(entries) {
                    Ok(found) => {
                        for d in found {
                            if !drives.contains(&d) {
                                drives.push(d);
                            }
                        }
                    }
                    Err(e) => return unknown(SWAP, e).evidences(evidence),
                }
            }
        }
        let mut evidence = evidence;
        let mut letters: Vec<String> = Vec::new();
        for d in &drives {
            let letter = match d {
                PageDrive::Letter(l) => l.clone(),
                PageDrive::System => match system_drive(ctx) {
                    Ok((sd, ev)) => {
                        evidence.push(ev);
                        sd
                    }
                    Err(e) => return unknown(SWAP, e).evidences(evidence),
                },
            };
            if !letters.contains(&letter) {
                letters.push(letter);
            }
        }
        let enc = if letters.is_empty() {
            None
        } else {
            Some(encryptable(ctx))
        };
        if let Some(Ok((out, vols))) = enc.as_ref().map(|e| &e.0) {
            let shown: Vec<String> = vols
                .iter()
                .filter(|v| v.letter.as_ref().is_some_and(|l| letters.contains(l)))
                .map(excerpt)
                .collect();
            evidence.push(api_evidence(out, shown.join("; ")));
        }
        let state_of = |letter: &str| -> Result<Option<State>, String> {
            let Some(enc) = &enc else {
                return Ok(None);
            };
            let (_, vols) = enc.0.as_ref().map_err(Clone::clone)?;
            Ok(vols
                .iter()
                .find(|v| v.letter.as_deref() == Some(letter))
                .map(Volume::state))
        };
        let r = match decide_swap(&letters, efs, &state_of) {
            SwapVerdict::Pass(s) => CheckResult::new(SWAP, Status::Pass, s),
            SwapVerdict::Fail(s) => CheckResult::new(SWAP, Status::Fail, s),
            SwapVerdict::Unknown(s) => unknown(SWAP, s),
        };
        r.fact("page_file_drives", &letters)
            .fact("ntfs_encrypt_paging_file", efs_read.dword())
            .evidences(evidence)
    }
}

/// `HKLM\SOFTWARE\Policies\Microsoft\FVE`: BitLocker's group policy.
const FVE_POLICY: &str = "SOFTWARE\\Policies\\Microsoft\\FVE";

/// The escrow verdict.
#[derive(Debug, Clone, PartialEq)]
pub enum Escrow {
    Pass(String),
    Fail(String),
    NotApplicable(String),
    Unknown(String),
}

/// Decides `disk.recovery_key_escrow` from the OS volume's state, whether it has
/// a numerical-password protector, and the policy values
/// `OSRequireActiveDirectoryBackup` and `OSActiveDirectoryBackup` (`Err`:
/// unread).
/// `directory` is the machine's directory membership (`None` when it could not
/// be read: the rest then decides).
pub fn decide_escrow(
    state: &State,
    has_numerical_password: bool,
    require: Result<Option<u32>, String>,
    backup: Result<Option<u32>, String>,
    directory: Option<Directory>,
) -> Escrow {
    match state {
        State::Protected => {}
        State::Unknown(why) => return Escrow::Unknown(format!("the OS volume: {why}")),
        _ => {
            return Escrow::NotApplicable(
                "the OS volume is not protected: see disk.root_encrypted".to_owned(),
            );
        }
    }
    if directory == Some(Directory::None) {
        return Escrow::NotApplicable(
            "no directory to escrow to: the machine is joined to no AD domain and no Entra ID"
                .to_owned(),
        );
    }
    if !has_numerical_password {
        return Escrow::Fail(
            "the OS volume has no numerical-password (recovery password) protector to escrow"
                .to_owned(),
        );
    }
    match (require, backup) {
        (Ok(Some(1)), Ok(Some(1))) => Escrow::Pass(
            "policy requires the recovery password to be backed up to Active Directory before \
             BitLocker can be enabled (OSRequireActiveDirectoryBackup = 1, \
             OSActiveDirectoryBackup = 1)"
                .to_owned(),
        ),
        (Err(e), _) | (_, Err(e)) => Escrow::Unknown(e),
        _ => Escrow::Unknown(
            "policy does not require directory backup of the recovery password, and the \
             BitLocker Management event log that records a backup is not read by this agent \
             version"
                .to_owned(),
        ),
    }
}

const ESCROW: &str = "disk.recovery_key_escrow";

/// `disk.recovery_key_escrow` on Windows, as far as policy decides it.
///
/// - not_applicable: the OS volume is not protected ("see disk.root_encrypted");
/// - fail: the OS volume has no numerical-password protector (type 3);
/// - pass: it has one, and `HKLM\SOFTWARE\Policies\Microsoft\FVE`
///   `OSRequireActiveDirectoryBackup` = 1 with `OSActiveDirectoryBackup` = 1
///   (Windows refuses to enable BitLocker until the backup succeeded);
/// - unknown: the policy does not decide (the BitLocker Management event log's
///   backup events are not read yet: which event IDs prove a backup is an open
///   question), sources unanswered, offline.
///
/// - not_applicable also: the machine is joined to no directory ("no directory to
///   escrow to", [`super::directory`]); when the join state cannot be read, the
///   rest decides and the fact `directory` is null.
pub struct RecoveryKeyEscrow;

impl Check for RecoveryKeyEscrow {
    fn id(&self) -> &'static str {
        ESCROW
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let enc = encryptable(ctx);
        let os = match os_volume(ctx, &enc) {
            Ok(os) => os,
            Err(e) => return unknown(ESCROW, e),
        };
        let require = read_reg(ctx, FVE_POLICY, "OSRequireActiveDirectoryBackup");
        let backup = read_reg(ctx, FVE_POLICY, "OSActiveDirectoryBackup");
        let value = |r: &RegRead| match r.unread() {
            Some(why) => Err(why),
            None => Ok(r.dword()),
        };
        let membership = super::directory::directory(ctx);
        let verdict = decide_escrow(
            &os.volume.state(),
            os.volume.has_numerical_password(),
            value(&require),
            value(&backup),
            membership.as_ref().ok().map(|m| m.directory),
        );
        let r = match verdict {
            Escrow::Pass(s) => CheckResult::new(ESCROW, Status::Pass, s),
            Escrow::Fail(s) => CheckResult::new(ESCROW, Status::Fail, s),
            Escrow::NotApplicable(s) => not_applicable(ESCROW, s),
            Escrow::Unknown(s) => unknown(ESCROW, s),
        };
        r.fact("system_drive", &os.drive)
            .fact("volume", os.volume.facts())
            .fact("os_require_active_directory_backup", require.dword())
            .fact("os_active_directory_backup", backup.dword())
            .fact(
                "directory",
                membership.as_ref().ok().map(|m| m.directory.as_str()),
            )
            .evidences(os.evidence)
            .evidences(require.evidence())
            .evidences(backup.evidence())
    }
}

#[cfg(test)]
mod tests {
    use super::super::bitlocker::testdata::{SECRETS, instance, protected};
    use super::*;
    use crate::host::fake::FakeHost;
    use crate::host::sources::WIN_SYSTEM_DRIVE;

    fn host(instances: Vec<Value>, drive: &str) -> FakeHost {
        FakeHost::windows()
            .api(&WIN_ENCRYPTABLE_VOLUMES, json!({ "instances": instances }))
            .api(&WIN_SYSTEM_DRIVE, json!({ "SystemDrive": drive }))
    }

    fn no_secrets(r: &CheckResult) {
        let text = serde_json::to_string(r).unwrap();
        for s in SECRETS {
            assert!(!text.contains(s), "{text}");
        }
    }

    #[test]
    fn the_root_volume_is_the_system_drive_never_c() {
        // C: is a decrypted data volume, the system is on D: and protected.
        let h = host(
            vec![
                instance(Some("C:"), "c", 0, 0, 0, &[]),
                protected("D:", "d"),
            ],
            "D:",
        );
        let r = h.run(&RootEncrypted);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(
            r.summary,
            "the system drive D: is protected by BitLocker (XTS-AES-256)"
        );
        assert_eq!(r.facts["system_drive"], "D:");
        no_secrets(&r);
        let h = host(vec![protected("D:", "d")], "C:");
        let r = h.run(&RootEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.summary.contains("letter C:"), "{}", r.summary);
    }

    #[test]
    fn suspended_waiting_and_in_progress_fail_with_what_they_are() {
        let r = host(vec![instance(Some("C:"), "c", 1, 100, 0, &[1, 3])], "C:").run(&RootEncrypted);
        assert_eq!(r.status, Status::Fail);
        assert!(r.summary.contains("suspended"), "{}", r.summary);
        assert_eq!(r.facts["volume"]["cached_protection_status"], 1);
        no_secrets(&r);
        let r = host(vec![instance(Some("C:"), "c", 1, 100, 0, &[])], "C:").run(&RootEncrypted);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.summary.contains("waiting for activation"),
            "{}",
            r.summary
        );
        let r = host(vec![instance(Some("C:"), "c", 2, 57, 0, &[1])], "C:").run(&RootEncrypted);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.facts["percent"], 57.0);
        assert_eq!(
            r.summary,
            "the system drive C: is not protected: encryption in progress (57%)"
        );
        let r = host(vec![instance(Some("C:"), "c", 0, 0, 1, &[])], "C:").run(&RootEncrypted);
        assert_eq!(r.status, Status::Fail);
        assert!(r.summary.contains("not encrypted"));
        // The third-party lookups could not be made on this root: recorded.
        assert!(
            r.facts["unanswered"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        );
    }

    #[test]
    fn unanswered_sources_are_unknown() {
        let r = FakeHost::windows().run(&RootEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.summary.contains("offline root"), "{}", r.summary);
        let r = FakeHost::windows()
            .source_error(&WIN_ENCRYPTABLE_VOLUMES, "0x80041003 access denied")
            .run(&RootEncrypted);
        assert!(r.summary.contains("access denied"));
        let r = FakeHost::windows()
            .api(
                &WIN_ENCRYPTABLE_VOLUMES,
                json!({"instances": [protected("C:", "c")]}),
            )
            .run(&RootEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert!(
            r.summary.contains("GetSystemDirectoryW: not captured"),
            "{}",
            r.summary
        );
        let r = host(vec![instance(Some("C:"), "c", 1, 100, 2, &[1])], "C:").run(&RootEncrypted);
        assert_eq!(r.status, Status::Unknown);
    }

    fn plain(device: &str, letter: Option<&str>, name: &str, fs: &str, drive_type: u64) -> Value {
        json!({"DeviceID": format!("\\\\?\\Volume{{{device}}}\\"), "DriveLetter": letter,
            "DriveType": drive_type, "FileSystem": fs, "Label": "", "Name": name,
            "Capacity": 1, "FreeSpace": 1, "BootVolume": false, "SystemVolume": false})
    }

    #[test]
    fn fixed_volumes_are_judged_by_letter_or_mount_point() {
        let esp = plain("e", None, "\\\\?\\Volume{e}\\", "FAT32", 3);
        let usb = plain("u", Some("F:"), "F:\\", "NTFS", 2);
        let h = |data: Value| {
            host(vec![protected("C:", "c"), data], "C:").api(
                &WIN_VOLUMES,
                json!({"instances": [plain("c", Some("C:"), "C:\\", "NTFS", 3),
                    plain("d", None, "C:\\data\\", "ReFS", 3), esp.clone(), usb.clone()]}),
            )
        };
        let r = h(instance(None, "d", 1, 100, 1, &[1])).run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(
            r.summary,
            "all 2 fixed volumes are protected by BitLocker: C:, C:\\data\\"
        );
        let r = h(instance(None, "d", 1, 100, 0, &[1])).run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.summary.starts_with("1 of 2 fixed volumes"),
            "{}",
            r.summary
        );
        assert!(
            r.summary
                .contains("C:\\data\\ (fully encrypted but protection is suspended")
        );
        no_secrets(&r);
        // Not listed by BitLocker at all: fails.
        let r = h(instance(None, "x", 1, 100, 1, &[1])).run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Fail);
        assert!(r.summary.contains("not a BitLocker volume"));
        let r = h(instance(None, "d", 1, 100, 2, &[1])).run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Unknown);
        let r = host(vec![], "C:")
            .api(&WIN_VOLUMES, json!({"instances": [esp]}))
            .run(&FixedVolumesEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.summary.contains("no fixed NTFS or ReFS volume"));
    }

    #[test]
    fn page_files_parse_with_sizes_question_mark_and_nt_prefix() {
        let e = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            parse_page_files(&e(&[
                "C:\\pagefile.sys 0 0",
                "",
                "d:\\pagefile.sys",
                "?:\\pagefile.sys"
            ])),
            Ok(vec![
                PageDrive::Letter("C:".into()),
                PageDrive::Letter("D:".into()),
                PageDrive::System
            ])
        );
        assert_eq!(
            parse_page_files(&e(&["\\??\\C:\\pagefile.sys", "C:\\pagefile.sys 16 4096"])),
            Ok(vec![PageDrive::Letter("C:".into())])
        );
        assert!(parse_page_files(&e(&["pagefile.sys"])).is_err());
    }

    #[test]
    fn swap_is_decided_by_every_page_file_volume() {
        let states = |l: &str| -> Result<Option<State>, String> {
            Ok(match l {
                "C:" => Some(State::Protected),
                "D:" => Some(State::Decrypted),
                "E:" => Some(State::Unknown("locked".into())),
                _ => None,
            })
        };
        let v = |d: &[&str], efs| {
            decide_swap(
                &d.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
                efs,
                &states,
            )
        };
        assert!(matches!(v(&["C:"], false), SwapVerdict::Pass(_)));
        assert!(matches!(v(&[], false), SwapVerdict::Pass(s) if s.contains("no page file")));
        assert!(
            matches!(v(&["C:", "D:"], false), SwapVerdict::Fail(s) if s.contains("D: (not encrypted"))
        );
        assert!(
            matches!(v(&["C:", "Z:"], false), SwapVerdict::Fail(s) if s.contains("Z: (not a BitLocker"))
        );
        assert!(matches!(v(&["C:", "E:"], false), SwapVerdict::Unknown(_)));
        assert!(matches!(v(&["D:"], true), SwapVerdict::Pass(s) if s.contains("EFS")));
        let failing = |_: &str| -> Result<Option<State>, String> { Err("WMI denied".into()) };
        assert!(matches!(
            decide_swap(&["C:".to_owned()], false, &failing),
            SwapVerdict::Unknown(s) if s.contains("WMI denied")
        ));
    }

    /// Offline without usable hives under the root: unknown, naming the file.
    #[test]
    fn swap_and_escrow_are_unknown_without_the_hives() {
        let h = host(vec![protected("C:", "c")], "C:");
        let r = h.run(&SwapEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert!(
            r.summary
                .contains("/Windows/System32/config/SYSTEM: not found"),
            "{}",
            r.summary
        );
        // The fake's SOFTWARE is an empty marker file: not a hive.
        let r = h.run(&RecoveryKeyEscrow);
        assert_eq!(r.status, Status::Unknown);
        assert!(
            r.summary.contains("SOFTWARE: not a registry hive"),
            "{}",
            r.summary
        );
        no_secrets(&r);
    }

    /// With the registry read (the fake's values), the page files decide: on the
    /// protected system drive `?:` passes; one on an unprotected data volume fails.
    #[test]
    fn page_files_read_from_the_registry_decide() {
        use crate::host::RegistryValue;
        let h = host(vec![protected("C:", "c")], "C:")
            .reg_value(
                MEMORY_MANAGEMENT,
                "PagingFiles",
                RegistryValue::MultiString(vec!["?:\\pagefile.sys".to_owned()]),
            )
            .reg_key(FILE_SYSTEM);
        let r = h.run(&SwapEncrypted);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        let h = host(vec![protected("C:", "c")], "C:")
            .reg_value(
                MEMORY_MANAGEMENT,
                "PagingFiles",
                RegistryValue::MultiString(vec!["Z:\\pagefile.sys 1024 4096".to_owned()]),
            )
            .reg_key(FILE_SYSTEM);
        let r = h.run(&SwapEncrypted);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(r.summary.contains("Z:"), "{}", r.summary);
    }

    #[test]
    fn escrow_needs_a_protected_os_volume_a_recovery_password_and_policy() {
        let on = || Ok(Some(1));
        assert!(matches!(
            decide_escrow(&State::Protected, true, on(), on(), Some(Directory::Ad)),
            Escrow::Pass(_)
        ));
        assert!(matches!(
            decide_escrow(&State::Protected, false, on(), on(), Some(Directory::Ad)),
            Escrow::Fail(_)
        ));
        assert!(matches!(
            decide_escrow(&State::Suspended { protectors: 2 }, true, on(), on(), Some(Directory::Ad)),
            Escrow::NotApplicable(s) if s.contains("see disk.root_encrypted")
        ));
        assert!(matches!(
            decide_escrow(&State::Protected, true, Ok(None), on(), Some(Directory::Ad)),
            Escrow::Unknown(s) if s.contains("event log")
        ));
        assert!(matches!(
            decide_escrow(
                &State::Protected,
                true,
                on(),
                Ok(Some(2)),
                Some(Directory::Ad)
            ),
            Escrow::Unknown(_)
        ));
        assert!(matches!(
            decide_escrow(&State::Protected, true, Err("denied".into()), on(), Some(Directory::Ad)),
            Escrow::Unknown(s) if s == "denied"
        ));
        // No directory: nowhere to escrow to; a directory that cannot be read
        // leaves the rest to decide.
        assert!(matches!(
            decide_escrow(&State::Protected, false, on(), on(), Some(Directory::None)),
            Escrow::NotApplicable(s) if s.contains("no directory")
        ));
        assert!(matches!(
            decide_escrow(&State::Protected, true, on(), on(), None),
            Escrow::Pass(_)
        ));
        assert!(matches!(
            decide_escrow(&State::Suspended { protectors: 2 }, true, on(), on(), Some(Directory::None)),
            Escrow::NotApplicable(s) if s.contains("see disk.root_encrypted")
        ));
        // Through the host: a decrypted OS volume is not applicable, one without a
        // recovery password fails, before any registry read.
        let r = host(vec![instance(Some("C:"), "c", 0, 0, 0, &[])], "C:").run(&RecoveryKeyEscrow);
        assert_eq!(r.status, Status::NotApplicable);
        let r =
            host(vec![instance(Some("C:"), "c", 1, 100, 1, &[1])], "C:").run(&RecoveryKeyEscrow);
        assert_eq!(r.status, Status::Fail);
        assert!(r.summary.contains("numerical-password"));
    }
}
