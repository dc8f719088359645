//! `attest-agent capture --out DIR`: records a live Mac or Windows host as a fixture
//! root that a Linux machine can judge (`collect --root DIR --replay DIR/_captures`).
//!
//! It runs every live source of the source table for the host's OS once (a
//! per-user source for the human user at the console, as that user) and writes
//! the captures layout ([`crate::host::replay`]), and copies the files the checks
//! read into `DIR` at their host paths. What must never leave a host is never
//! copied: [`is_secret`] names it (SAM and SECURITY hives, `kcpassword`,
//! `FileVaultPRK.dat`, the local directory's user records with their
//! `ShadowHashData`). A capture still goes through a person before it becomes a
//! fixture; those files are replaced there by generated ones.
//!
//! The writer is portable and tested on Linux over the in-memory host; only the
//! `capture` subcommand is limited to macOS and Windows builds.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use attest_proto::Platform;
use chrono::{DateTime, Utc};

use crate::checks::macos::accounts::dslocal;
use crate::checks::macos::system::screen_lock::{console_user, human_users};
use crate::host::replay::{CAPTURES_SCHEMA, Manifest, ManifestEntry};
use crate::host::sources::{SOURCES, SourceKind, USER_SOURCES};
use crate::host::{Host, SourceError};

/// The files the checks read on a Mac, copied as they are.
pub const MACOS_FILES: &[&str] = &[
    "/System/Library/CoreServices/SystemVersion.plist",
    "/Library/Preferences/com.apple.loginwindow.plist",
    "/Library/Preferences/com.apple.SoftwareUpdate.plist",
    "/Library/Preferences/com.apple.alf.plist",
    "/Library/Preferences/com.apple.timed.plist",
    "/Library/Preferences/com.apple.PowerManagement.plist",
    "/Library/Preferences/com.apple.screensaver.plist",
    "/Library/Managed Preferences/com.apple.screensaver.plist",
    "/Library/Preferences/SystemConfiguration/preferences.plist",
    "/Library/Receipts/InstallHistory.plist",
    "/Library/SystemExtensions/db.plist",
    "/System/Library/LaunchDaemons/com.apple.auditd.plist",
    "/etc/security/audit_control",
    "/etc/ssh/sshd_config",
    "/etc/sudoers",
    "/var/db/SystemPolicyConfiguration/SystemPolicy-prefs.plist",
    "/var/db/com.apple.xpc.launchd/disabled.plist",
    "/var/db/softwareupdate/SoftwareUpdateDDMStatePersistence.plist",
];

/// The files the checks read on Windows, copied as they are. The registry hives
/// are saved separately ([`WINDOWS_HIVES`]).
pub const WINDOWS_FILES: &[&str] = &["/ProgramData/ssh/sshd_config"];

/// The machine hives a Windows capture saves, through `RegSaveKeyExW` (a
/// consistent copy without logs; a locked hive file is never copied): `SAM` and
/// `SECURITY` never (they hold password hashes and LSA secrets; the account checks
/// replay the captured account APIs instead).
pub const WINDOWS_HIVES: &[&str] = &["SYSTEM", "SOFTWARE"];

/// The value whose presence keeps `SOFTWARE` out of a capture: auto-logon's
/// plaintext password.
const DEFAULT_PASSWORD: (&str, &str) = (
    "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon",
    "DefaultPassword",
);

/// Why a hive is not saved, if it must not be: `SOFTWARE` while it holds a
/// `DefaultPassword` (or while that cannot be ruled out).
pub fn hive_withheld(host: &Host, hive: &str) -> Option<String> {
    if !hive.eq_ignore_ascii_case("SOFTWARE") {
        return None;
    }
    match host.registry(DEFAULT_PASSWORD.0, DEFAULT_PASSWORD.1) {
        Err(SourceError::NotInstalled { .. }) => None,
        Ok(_) => Some(format!(
            "not saved: HKLM\\{}\\{} holds a plaintext password; remove it (or replace \
             this hive by .reg text of the keys the checks read) and capture again",
            DEFAULT_PASSWORD.0, DEFAULT_PASSWORD.1
        )),
        Err(e) => Some(format!(
            "not saved: whether it holds Winlogon\\DefaultPassword could not be read ({e})"
        )),
    }
}

/// Host paths whose content is a secret, on any OS: never copied, whatever a file
/// list says. Matched case-insensitively, as a path or a directory above it.
pub const SECRETS: &[&str] = &[
    "/etc/kcpassword",
    "/private/etc/kcpassword",
    "/var/db/FileVaultPRK.dat",
    "/private/var/db/FileVaultPRK.dat",
    "/var/db/dslocal/nodes/Default/users",
    "/private/var/db/dslocal/nodes/Default/users",
    "/Windows/System32/config/SAM",
    "/Windows/System32/config/SECURITY",
    "/etc/shadow",
];

/// True when `path` is, or is under, one of [`SECRETS`].
pub fn is_secret(path: &str) -> bool {
    let path = path.to_lowercase();
    SECRETS.iter().any(|s| {
        let s = s.to_lowercase();
        path == s || path.starts_with(&format!("{s}/"))
    })
}

/// Why a capture could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("--out {path}: exists and is not empty; give a new directory")]
    NotEmpty { path: String },
    #[error("capture runs on macOS and Windows hosts; this host is {os}")]
    WrongOs { os: String },
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: refusing to copy a secret")]
    Secret { path: String },
}

/// What a capture wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureSummary {
    /// Source id → `ok` or the error.
    pub sources: BTreeMap<String, String>,
    /// Host paths copied.
    pub files: Vec<String>,
    /// Host paths in the file list that were absent or unreadable, with why.
    pub skipped: Vec<(String, String)>,
}

/// Writes a capture of `host` into `out` (made if missing; refused when not
/// empty): `out/<host path>` for each file, `out/_captures/` for the sources.
pub fn capture(
    host: &Host,
    out: &Path,
    now: DateTime<Utc>,
    captured_on: serde_json::Map<String, serde_json::Value>,
) -> Result<CaptureSummary, CaptureError> {
    let platform = match host.platform() {
        Some(p @ (Platform::Macos | Platform::Windows)) => p,
        other => {
            return Err(CaptureError::WrongOs {
                os: other.map_or_else(|| "not a known OS".to_owned(), |p| p.label().to_owned()),
            });
        }
    };
    let io_err = |path: &Path| {
        let path = path.display().to_string();
        move |source: io::Error| CaptureError::Io { path, source }
    };
    if out.exists() {
        let mut entries = fs::read_dir(out).map_err(io_err(out))?;
        if entries.next().is_some() {
            return Err(CaptureError::NotEmpty {
                path: out.display().to_string(),
            });
        }
    }
    let captures = out.join("_captures");
    fs::create_dir_all(&captures).map_err(io_err(&captures))?;

    let mut summary = CaptureSummary {
        sources: BTreeMap::new(),
        files: Vec::new(),
        skipped: Vec::new(),
    };
    let files = match platform {
        Platform::Macos => MACOS_FILES,
        _ => WINDOWS_FILES,
    };
    for path in files {
        if is_secret(path) {
            return Err(CaptureError::Secret {
                path: (*path).to_owned(),
            });
        }
        match host.read(path) {
            Ok(bytes) => {
                let dest = out.join(path.trim_start_matches('/'));
                if let Some(parent) = dest.parent() {
                    fs::create_dir_all(parent).map_err(io_err(parent))?;
                }
                fs::write(&dest, bytes).map_err(io_err(&dest))?;
                summary.files.push((*path).to_owned());
            }
            Err(e) => summary.skipped.push(((*path).to_owned(), e.to_string())),
        }
    }

    if platform == Platform::Windows {
        for hive in WINDOWS_HIVES {
            let path = format!("/Windows/System32/config/{hive}");
            if let Some(why) = hive_withheld(host, hive) {
                summary.skipped.push((path, why));
                continue;
            }
            let dest = out.join(path.trim_start_matches('/'));
            if let Some(parent) = dest.parent() {
                fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            match save_hive(hive, &dest) {
                Ok(()) => summary.files.push(path),
                Err(e) => summary.skipped.push((path, e)),
            }
        }
    }

    let mut manifest = Manifest {
        schema: CAPTURES_SCHEMA.to_owned(),
        os: platform,
        captured_at: Some(now),
        captured_on,
        sources: BTreeMap::new(),
    };
    let write = |name: String, bytes: &[u8]| -> Result<(), CaptureError> {
        let dest: PathBuf = captures.join(name);
        fs::write(&dest, bytes).map_err(io_err(&dest))
    };
    let mut record = |id: &str, entry: ManifestEntry, outcome: Result<(), SourceError>| {
        let mut entry = entry;
        let said = match outcome {
            Ok(()) => {
                entry.status = Some("ok".to_owned());
                "ok".to_owned()
            }
            Err(e) => {
                entry.status = Some("error".to_owned());
                entry.error = Some(e.to_string());
                e.to_string()
            }
        };
        summary.sources.insert(id.to_owned(), said);
        manifest.sources.insert(id.to_owned(), entry);
    };
    // A command's output: stdout, and stderr where a check reads it.
    let command_files = |id: &str,
                         reads_stderr: bool,
                         entry: &mut ManifestEntry,
                         run: Result<crate::host::CommandOutput, SourceError>|
     -> Result<Result<(), SourceError>, CaptureError> {
        let output = match run {
            Ok(o) => o,
            Err(e) => return Ok(Err(e)),
        };
        entry.exit_code = output.exit_code;
        write(format!("{id}.stdout"), output.stdout.as_bytes())?;
        if reads_stderr {
            write(format!("{id}.stderr"), output.stderr.as_bytes())?;
        }
        Ok(Ok(()))
    };
    let empty_entry = |kind: &str| ManifestEntry {
        kind: kind.to_owned(),
        argv: None,
        name: None,
        exit_code: None,
        status: None,
        error: None,
    };
    for source in SOURCES.iter().filter(|s| s.platform == platform) {
        let outcome = match source.kind {
            SourceKind::Command { argv, reads_stderr } => {
                let mut entry = empty_entry("command");
                entry.argv = Some(argv.iter().map(|a| (*a).to_owned()).collect());
                let outcome =
                    command_files(source.id, reads_stderr, &mut entry, host.command(source))?;
                (entry, outcome)
            }
            SourceKind::Api { name } => {
                let mut entry = empty_entry("api");
                entry.name = Some(name.to_owned());
                let outcome = match host.api(source) {
                    Ok(output) => {
                        let text = serde_json::to_vec_pretty(&output.value)
                            .map_err(|e| io::Error::other(e.to_string()))
                            .map_err(io_err(&captures))?;
                        write(format!("{}.json", source.id), &text)?;
                        Ok(())
                    }
                    Err(e) => Err(e),
                };
                (entry, outcome)
            }
        };
        record(source.id, outcome.0, outcome.1);
    }
    // Per-user commands: for the human user logged in at the screen, as that user.
    let humans = dslocal::read(host)
        .map(|d| human_users(&d))
        .unwrap_or_default();
    let mut not_run = Vec::new();
    for source in USER_SOURCES.iter().filter(|s| s.platform == platform) {
        let Some((user, id)) =
            console_user(host, &humans).and_then(|u| source.id_for(&u.name).map(|id| (u, id)))
        else {
            not_run.push(format!("{}.*", source.prefix));
            continue;
        };
        let mut entry = empty_entry("command");
        entry.argv = Some(source.argv.iter().map(|a| (*a).to_owned()).collect());
        let outcome = command_files(
            &id,
            source.reads_stderr,
            &mut entry,
            host.user_command(source, &user),
        )?;
        record(&id, entry, outcome);
    }
    for id in not_run {
        summary.sources.insert(
            id,
            "not run: no human user at the console (or a name a capture id cannot carry)"
                .to_owned(),
        );
    }
    let manifest_path = captures.join("manifest.json");
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| io::Error::other(e.to_string()))
        .map_err(io_err(&manifest_path))?;
    fs::write(&manifest_path, text).map_err(io_err(&manifest_path))?;
    Ok(summary)
}

/// Saves `HKLM\\<hive>` to `dest` with `RegSaveKeyExW` (latest format), with the
/// backup privilege enabled for the process (held by LocalSystem and
/// administrators).
#[cfg(windows)]
#[allow(unsafe_code)]
fn save_hive(hive: &str, dest: &Path) -> Result<(), String> {
    use std::os::windows::ffi::OsStrExt as _;
    type Handle = *mut core::ffi::c_void;
    #[repr(C)]
    struct Luid {
        low: u32,
        high: i32,
    }
    #[repr(C)]
    struct TokenPrivileges {
        count: u32,
        luid: Luid,
        attributes: u32,
    }
    #[link(name = "advapi32")]
    unsafe extern "system" {
        fn RegOpenKeyExW(
            key: isize,
            sub: *const u16,
            options: u32,
            sam: u32,
            out: *mut isize,
        ) -> i32;
        fn RegSaveKeyExW(
            key: isize,
            file: *const u16,
            security: *const core::ffi::c_void,
            flags: u32,
        ) -> i32;
        fn RegCloseKey(key: isize) -> i32;
        fn OpenProcessToken(process: Handle, access: u32, token: *mut Handle) -> i32;
        fn LookupPrivilegeValueW(system: *const u16, name: *const u16, luid: *mut Luid) -> i32;
        fn AdjustTokenPrivileges(
            token: Handle,
            disable_all: i32,
            new: *const TokenPrivileges,
            length: u32,
            previous: *mut core::ffi::c_void,
            returned: *mut u32,
        ) -> i32;
    }
    #[link(name = "kernel32")]
    unsafe extern "system" {
        fn GetCurrentProcess() -> Handle;
        fn CloseHandle(handle: Handle) -> i32;
    }
    const HKEY_LOCAL_MACHINE: isize = 0x8000_0002_u32 as i32 as isize;
    const KEY_READ: u32 = 0x20019;
    const TOKEN_ADJUST_PRIVILEGES: u32 = 0x0020;
    const SE_PRIVILEGE_ENABLED: u32 = 0x0002;
    const REG_LATEST_FORMAT: u32 = 2;
    let wide = |s: &std::ffi::OsStr| -> Vec<u16> { s.encode_wide().chain(Some(0)).collect() };
    let privilege = wide(std::ffi::OsStr::new("SeBackupPrivilege"));
    // SAFETY: every pointer passed is to a live local (NUL-terminated buffers,
    // initialised structs); the token handle is closed once, after use.
    unsafe {
        let mut token: Handle = std::ptr::null_mut();
        if OpenProcessToken(GetCurrentProcess(), TOKEN_ADJUST_PRIVILEGES, &mut token) != 0 {
            let mut luid = Luid { low: 0, high: 0 };
            if LookupPrivilegeValueW(std::ptr::null(), privilege.as_ptr(), &mut luid) != 0 {
                let tp = TokenPrivileges {
                    count: 1,
                    luid,
                    attributes: SE_PRIVILEGE_ENABLED,
                };
                AdjustTokenPrivileges(token, 0, &tp, 0, std::ptr::null_mut(), std::ptr::null_mut());
            }
            CloseHandle(token);
        }
    }
    let sub = wide(std::ffi::OsStr::new(hive));
    let file = wide(dest.as_os_str());
    let mut key: isize = 0;
    // SAFETY: `sub` and `file` are NUL-terminated wide strings that outlive the
    // calls; `key` is written by RegOpenKeyExW and closed once.
    let status = unsafe {
        let opened = RegOpenKeyExW(HKEY_LOCAL_MACHINE, sub.as_ptr(), 0, KEY_READ, &mut key);
        if opened != 0 {
            opened
        } else {
            let saved = RegSaveKeyExW(key, file.as_ptr(), std::ptr::null(), REG_LATEST_FORMAT);
            RegCloseKey(key);
            saved
        }
    };
    if status == 0 {
        Ok(())
    } else {
        Err(format!(
            "RegSaveKeyExW(HKLM\\{hive}): {}",
            std::io::Error::from_raw_os_error(status)
        ))
    }
}

/// Hives are saved on Windows only; another build captures no hive.
#[cfg(not(windows))]
fn save_hive(hive: &str, _dest: &Path) -> Result<(), String> {
    Err(format!(
        "HKLM\\{hive}: hives are saved by a Windows build of the agent only"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Thresholds;
    use crate::host::fake::FakeHost;
    use crate::host::replay::Captures;
    use crate::host::sources::{MACOS_FDESETUP_STATUS, MACOS_SYSCTL_SWAPUSAGE};

    fn now() -> DateTime<Utc> {
        "2026-11-25T11:58:02Z".parse().unwrap()
    }

    /// A live Mac with a secret beside every file the checks read.
    fn mac() -> FakeHost {
        FakeHost::macos()
            .live()
            .file(
                "/System/Library/CoreServices/SystemVersion.plist",
                "<plist><dict><key>ProductVersion</key><string>15.1</string></dict></plist>",
            )
            .file("/etc/ssh/sshd_config", "PasswordAuthentication no\n")
            .file("/etc/kcpassword", "SECRET-KCPASSWORD")
            .file("/var/db/FileVaultPRK.dat", "SECRET-PRK")
            .file(
                "/var/db/dslocal/nodes/Default/users/alice.plist",
                "<key>ShadowHashData</key>SECRET-HASH",
            )
            .command(&MACOS_FDESETUP_STATUS, 0, "FileVault is On.\n")
            .api(
                &MACOS_SYSCTL_SWAPUSAGE,
                serde_json::json!({"xsu_total": 3221225472u64, "xsu_encrypted": 1}),
            )
    }

    fn all_bytes(dir: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(all_bytes(&path));
            } else {
                out.extend(fs::read(&path).unwrap());
                out.extend(path.display().to_string().as_bytes());
            }
        }
        out
    }

    /// A Windows capture copies sshd_config, never SAM or SECURITY, and keeps
    /// SOFTWARE out while it holds auto-logon's plaintext password.
    #[test]
    fn a_windows_capture_withholds_a_software_hive_with_a_default_password() {
        use crate::host::RegistryValue;
        let winlogon = "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon";
        let fake = FakeHost::windows()
            .live()
            .file(
                "/ProgramData/ssh/sshd_config",
                "PasswordAuthentication no\n",
            )
            .file("/Windows/System32/config/SAM", "SECRET-SAM")
            .reg_value(
                winlogon,
                "AutoAdminLogon",
                RegistryValue::String("1".into()),
            )
            .reg_value(
                winlogon,
                "DefaultPassword",
                RegistryValue::String("SECRET-DEFAULT-PASSWORD".into()),
            );
        let host = fake.host();
        let why = hive_withheld(&host, "SOFTWARE").unwrap();
        assert!(why.contains("plaintext password"), "{why}");
        assert!(!why.contains("SECRET"), "{why}");
        assert_eq!(hive_withheld(&host, "SYSTEM"), None);

        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("win");
        let summary = capture(&host, &out, now(), serde_json::Map::new()).unwrap();
        assert_eq!(
            summary.files,
            vec!["/ProgramData/ssh/sshd_config".to_owned()]
        );
        let skipped: BTreeMap<_, _> = summary.skipped.iter().cloned().collect();
        assert!(skipped["/Windows/System32/config/SOFTWARE"].contains("plaintext password"));
        // This Linux build saves no hive, and says so.
        assert!(skipped["/Windows/System32/config/SYSTEM"].contains("Windows build"));
        let bytes = String::from_utf8_lossy(&all_bytes(&out)).into_owned();
        assert!(!bytes.contains("SECRET"), "{bytes}");

        // Without the password, SOFTWARE may be saved.
        let clean = FakeHost::windows()
            .live()
            .reg_value(
                winlogon,
                "AutoAdminLogon",
                RegistryValue::String("0".into()),
            )
            .host();
        assert_eq!(hive_withheld(&clean, "SOFTWARE"), None);
    }

    #[test]
    fn a_capture_replays_and_carries_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("mac");
        let summary = capture(&mac().host(), &out, now(), serde_json::Map::new()).unwrap();
        assert_eq!(summary.sources["macos.fdesetup.status"], "ok");
        assert!(summary.sources["macos.pwpolicy.accountpolicies"].contains("not captured"));
        assert!(summary.files.contains(&"/etc/ssh/sshd_config".to_owned()));

        // Nothing secret anywhere in the output, by content or by name.
        let bytes = String::from_utf8_lossy(&all_bytes(&out)).into_owned();
        for secret in ["SECRET", "kcpassword", "FileVaultPRK", "ShadowHashData"] {
            assert!(!bytes.contains(secret), "{secret} leaked into the capture");
        }

        // The output is a macOS root whose captures replay.
        let root = Host::open(&out).unwrap();
        assert_eq!(root.platform(), Some(Platform::Macos));
        let captures = Captures::open(&out.join("_captures")).unwrap();
        let host = root
            .with_captures(captures, &out.join("_captures"))
            .unwrap();
        let fde = host.command(&MACOS_FDESETUP_STATUS).unwrap();
        assert_eq!(fde.stdout, "FileVault is On.\n");
        assert_eq!(fde.exit_code, Some(0));
        let swap = host.api(&MACOS_SYSCTL_SWAPUSAGE).unwrap();
        assert_eq!(swap.value["xsu_encrypted"], 1);
        // A source that failed at capture time fails the same way on replay.
        let err = host
            .command(&crate::host::sources::MACOS_PWPOLICY)
            .unwrap_err()
            .to_string();
        assert!(err.contains("(captured)"), "{err}");

        let report = crate::collect::collect(&host, now(), &Thresholds::default(), &[]).unwrap();
        assert!(report.agent.replay);
        assert_eq!(report.schema, attest_proto::REPORT_SCHEMA_V2);
    }

    /// The human user at the console is captured as that user, under an id that
    /// names them, and replays; without one the summary says why.
    #[test]
    fn the_console_users_screen_lock_is_captured_and_replays() {
        use crate::host::sources::MACOS_SYSADMINCTL_SCREENLOCK;
        let user = |name: &str, uid: u32| {
            format!(
                "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>name</key><array><string>{name}</string></array><key>uid</key><array><string>{uid}</string></array><key>gid</key><array><string>20</string></array></dict></plist>"
            )
        };
        let fake = FakeHost::macos()
            .live()
            .file(
                "/var/db/dslocal/nodes/Default/users/bob.plist",
                user("bob", 502),
            )
            .dir("/var/db/dslocal/nodes/Default/groups")
            .special("/dev/console")
            .owner("/dev/console", 502)
            .user_command(
                &MACOS_SYSADMINCTL_SCREENLOCK,
                "bob",
                0,
                "screenLock delay is 5 seconds\n",
            );
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("mac");
        let summary = capture(&fake.host(), &out, now(), serde_json::Map::new()).unwrap();
        assert_eq!(summary.sources["macos.sysadminctl.screenlock.bob"], "ok");
        let captures = Captures::open(&out.join("_captures")).unwrap();
        assert_eq!(captures.users(&MACOS_SYSADMINCTL_SCREENLOCK), ["bob"]);
        assert_eq!(
            fs::read_to_string(out.join("_captures/macos.sysadminctl.screenlock.bob.stderr"))
                .unwrap(),
            "screenLock delay is 5 seconds\n"
        );

        // Nobody at the console: nothing run, and said.
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("mac");
        let summary = capture(&mac().host(), &out, now(), serde_json::Map::new()).unwrap();
        assert!(
            summary.sources["macos.sysadminctl.screenlock.*"].starts_with("not run"),
            "{summary:?}"
        );
        Captures::open(&out.join("_captures")).unwrap();
    }

    #[test]
    fn capture_refuses_a_non_empty_directory_and_linux() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("keep"), "x").unwrap();
        assert!(matches!(
            capture(&mac().host(), dir.path(), now(), serde_json::Map::new()),
            Err(CaptureError::NotEmpty { .. })
        ));
        assert_eq!(fs::read(dir.path().join("keep")).unwrap(), b"x");
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            capture(
                &FakeHost::linux().host(),
                empty.path(),
                now(),
                serde_json::Map::new()
            ),
            Err(CaptureError::WrongOs { .. })
        ));
    }

    #[test]
    fn secrets_are_recognised_case_insensitively_and_below_directories() {
        assert!(is_secret("/Windows/System32/config/SAM"));
        assert!(is_secret("/WINDOWS/system32/CONFIG/sam"));
        assert!(is_secret("/var/db/dslocal/nodes/Default/users/alice.plist"));
        assert!(!is_secret("/Windows/System32/config/SOFTWARE"));
        assert!(!is_secret("/etc/kcpassword.txt"));
        for path in MACOS_FILES.iter().chain(WINDOWS_FILES) {
            assert!(!is_secret(path), "{path} is in a file list");
        }
    }
}
