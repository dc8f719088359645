//! The host: every check reads its host through one [`Host`], whatever the operating
//! system and wherever the host is.
//!
//! A host has four kinds of source (`docs/agent.md`, "The platform axis"):
//!
//! - **files** under a root: `/` for a live host, or a directory holding a host's
//!   files (a mounted disk image, a test fixture), resolved as if chrooted
//!   ([`files`]); under a Windows root, case-insensitively;
//! - **commands** with a fixed argv from the source table ([`sources`]), run without
//!   a shell on a live host only;
//! - **api** calls (WMI, COM, Win32, IOKit, sysctl), live only;
//! - **registry** values: live through the Win32 registry API, offline from the
//!   hive files under the root ([`regf`], [`registry`]).
//!
//! Offline, commands and api calls answer "not run on an offline root"; with
//! captures ([`replay`]) they answer what was recorded. The operating system under
//! the root is decided from its files ([`detect`]); on a live macOS or Windows host
//! the build target decides.

pub mod command;
#[cfg(test)]
pub mod fake;
pub mod files;
mod live;
pub mod regf;
mod registry;
pub mod replay;
pub mod sources;
mod win_api;
pub mod win_com;

pub use attest_proto::Platform;
pub use command::CommandOutput;
pub use files::{FileKind, MAX_LINK_HOPS, Meta};
pub use registry::{Hkey, RegistryOrigin};
pub use replay::{Captured, Captures, ReplayError};
pub use sources::{Source, UserSource};

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use files::{Backend, Case, DirBackend};

/// The largest file a probe reads (decompressed package indexes stay below this).
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// The files that decide which OS is under a root, in the order they are tried.
pub const MACOS_MARKER: &str = "/System/Library/CoreServices/SystemVersion.plist";
/// Matched case-insensitively, as every Windows path.
pub const WINDOWS_MARKER: &str = "/Windows/System32/config/SOFTWARE";
/// A Linux root has at least this directory.
pub const LINUX_MARKER: &str = "/etc";

/// Why a path under the root could not be read. Messages name the path as it is
/// on the host and say what to do where there is something to do.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: not found")]
    NotFound { path: String },
    #[error("{path}: permission denied; run as root")]
    PermissionDenied { path: String },
    #[error("{path}: too many levels of symbolic links")]
    LinkLoop { path: String },
    #[error("{path}: not a regular file")]
    NotAFile { path: String },
    #[error("{path}: larger than {limit} bytes")]
    TooLarge { path: String, limit: u64 },
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
}

impl ReadError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::NotFound { .. })
    }

    pub fn is_permission_denied(&self) -> bool {
        matches!(self, ReadError::PermissionDenied { .. })
    }

    pub(crate) fn from_io(path: &str, err: io::Error) -> Self {
        let path = path.to_owned();
        match err.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => ReadError::NotFound { path },
            io::ErrorKind::PermissionDenied => ReadError::PermissionDenied { path },
            _ => ReadError::Io { path, source: err },
        }
    }
}

/// Why a root could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    #[error("--root {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("--root {path}: not a directory")]
    NotADirectory { path: String },
}

/// Why a command or an api source gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Offline roots run nothing.
    #[error("{what}: live sources are not run on an offline root")]
    Offline { what: String },
    /// Replaying, and the source is not in the captures.
    #[error("{what}: not captured")]
    NotCaptured { what: String },
    /// Replaying a source that failed when it was captured.
    #[error("{what}: {error} (captured)")]
    Captured { what: String, error: String },
    /// The program is not on this host.
    #[error("{what}: not installed")]
    NotInstalled { what: String },
    #[error("{what}: killed after {seconds} s")]
    Timeout { what: String, seconds: u64 },
    #[error("{what}: {error}")]
    Failed { what: String, error: String },
    /// The source is of another operating system than the host's.
    #[error("{what}: a {source_os} source, and this host runs {host_os}")]
    WrongPlatform {
        what: String,
        source_os: Platform,
        host_os: String,
    },
    /// This build of the agent cannot call the source live.
    #[error("{what}: not available in this build of the agent")]
    Unsupported { what: String },
}

/// The result of an api source: what was called and its JSON result.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiOutput {
    /// What was called (the source table's name).
    pub name: String,
    pub value: serde_json::Value,
}

/// Which OS a root holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    Os(Platform),
    /// None of the markers: an empty directory, or not a host's `/`.
    NotAHost,
}

impl Detected {
    pub fn platform(self) -> Option<Platform> {
        match self {
            Detected::Os(p) => Some(p),
            Detected::NotAHost => None,
        }
    }
}

/// How commands and api sources are answered.
#[derive(Debug, Clone)]
pub(crate) enum Answers {
    /// Run or called on this machine.
    Live,
    /// Not at all (an offline root).
    Offline,
    /// From captures.
    Replay(Arc<Captures>),
    /// The unit tests' live host: from recordings, and `is_live`.
    #[cfg(test)]
    FakeLive(Arc<Captures>),
}

/// A host: its files, its OS, and how its live sources are answered.
#[derive(Debug, Clone)]
pub struct Host {
    backend: Arc<dyn Backend>,
    /// The directory shown to people (`--root`), or `memory` for the fake.
    display: PathBuf,
    detected: Detected,
    case: Case,
    answers: Answers,
    /// The hive files read so far, each parsed once (shared by clones).
    hives: Arc<registry::HiveCache>,
    /// A registry that answers instead of hive files or the live one (the unit
    /// tests' fake).
    registry_override: Option<Arc<dyn registry::RegistryRead>>,
}

impl Host {
    /// Opens `root`; it must be an existing directory. The host is *live* when the
    /// root is the machine's own `/` (on Windows, the system drive): commands and api
    /// sources are then run. The OS is detected from the root's files, except on a
    /// live macOS or Windows host, where the build target decides.
    pub fn open(root: &Path) -> Result<Self, RootError> {
        // On Windows `/` names the current drive's root; the machine's own root is
        // the system drive's, wherever the agent was started from.
        let system = system_root();
        let root = if root == Path::new("/") {
            system.as_path()
        } else {
            root
        };
        let display = root.display().to_string();
        let canonical = std::fs::canonicalize(root).map_err(|source| RootError::Io {
            path: display.clone(),
            source,
        })?;
        let meta = std::fs::metadata(&canonical).map_err(|source| RootError::Io {
            path: display.clone(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(RootError::NotADirectory { path: display });
        }
        let live = is_system_root(&canonical);
        let backend: Arc<dyn Backend> = Arc::new(DirBackend {
            root: canonical.clone(),
        });
        let detected = if live {
            live::platform().map_or_else(|| detect(backend.as_ref()), Detected::Os)
        } else {
            detect(backend.as_ref())
        };
        Ok(Host::assemble(
            backend,
            canonical,
            detected,
            if live {
                Answers::Live
            } else {
                Answers::Offline
            },
        ))
    }

    pub(crate) fn assemble(
        backend: Arc<dyn Backend>,
        display: PathBuf,
        detected: Detected,
        answers: Answers,
    ) -> Host {
        let case = if detected == Detected::Os(Platform::Windows) {
            Case::Insensitive
        } else {
            Case::Sensitive
        };
        Host {
            backend,
            display,
            detected,
            case,
            answers,
            hives: Arc::default(),
            registry_override: None,
        }
    }

    /// Answers commands and api sources from `captures` instead of running them.
    /// Refused when the captures are of another OS than the root's.
    pub fn with_captures(mut self, captures: Captures, dir: &Path) -> Result<Host, ReplayError> {
        if let Some(os) = captures.os()
            && self.detected != Detected::Os(os)
        {
            return Err(ReplayError::WrongOs {
                dir: dir.display().to_string(),
                captured: os,
                root: match self.detected {
                    Detected::Os(p) => p.label().to_owned(),
                    Detected::NotAHost => "not a host's root".to_owned(),
                },
            });
        }
        self.answers = Answers::Replay(Arc::new(captures));
        Ok(self)
    }

    /// True when the root is the machine's own `/`: commands may run.
    pub fn is_live(&self) -> bool {
        match self.answers {
            Answers::Live => true,
            #[cfg(test)]
            Answers::FakeLive(_) => true,
            Answers::Offline | Answers::Replay(_) => false,
        }
    }

    /// The recordings that answer sources instead of running them.
    fn recorded(&self) -> Option<&Captures> {
        match &self.answers {
            Answers::Replay(c) => Some(c),
            #[cfg(test)]
            Answers::FakeLive(c) => Some(c),
            Answers::Live | Answers::Offline => None,
        }
    }

    /// True when commands and api sources are answered from captures.
    pub fn is_replay(&self) -> bool {
        matches!(self.answers, Answers::Replay(_))
    }

    /// True when commands and api sources give answers (live, or replayed).
    pub fn answers_sources(&self) -> bool {
        !matches!(self.answers, Answers::Offline)
    }

    /// The OS under the root.
    pub fn detected(&self) -> Detected {
        self.detected
    }

    /// The OS under the root, when there is one.
    pub fn platform(&self) -> Option<Platform> {
        self.detected.platform()
    }

    /// The root directory, as shown to people.
    pub fn root(&self) -> &Path {
        &self.display
    }

    fn resolve(
        &self,
        path: &str,
        follow_last: bool,
        missing_ok: bool,
    ) -> Result<Vec<String>, ReadError> {
        files::resolve(
            self.backend.as_ref(),
            self.case,
            path,
            follow_last,
            missing_ok,
        )
    }

    /// The canonical host path of `path`: every symlink followed inside the root.
    pub fn canonical(&self, path: &str) -> Result<String, ReadError> {
        Ok(files::join(&self.resolve(path, true, false)?))
    }

    /// The host path that `path` resolves to, every symlink followed inside the
    /// root, even when the final target does not exist under the root (a unit
    /// masked by a link to `/dev/null` in a disk image without `/dev`). `Err` for
    /// a link loop or an unreadable directory on the way.
    pub fn resolve_target(&self, path: &str) -> Result<String, ReadError> {
        Ok(files::join(&self.resolve(path, true, true)?))
    }

    /// The resolved components and metadata of `path`, which must be a regular
    /// file.
    fn regular_file(&self, path: &str) -> Result<(Vec<String>, Meta), ReadError> {
        let resolved = self.resolve(path, true, false)?;
        let meta = self
            .backend
            .lstat(&resolved)
            .map_err(|e| ReadError::from_io(path, e))?;
        if !meta.is_file() {
            return Err(ReadError::NotAFile {
                path: path.to_owned(),
            });
        }
        Ok((resolved, meta))
    }

    /// Reads a regular file whole.
    pub fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        let (resolved, meta) = self.regular_file(path)?;
        let too_large = || ReadError::TooLarge {
            path: path.to_owned(),
            limit: MAX_FILE_BYTES,
        };
        if meta.len() > MAX_FILE_BYTES {
            return Err(too_large());
        }
        let buf = self
            .backend
            .read(&resolved, MAX_FILE_BYTES + 1)
            .map_err(|e| ReadError::from_io(path, e))?;
        if buf.len() as u64 > MAX_FILE_BYTES {
            return Err(too_large());
        }
        Ok(buf)
    }

    /// Reads at most the first `limit` bytes of a regular file (a header).
    pub fn read_head(&self, path: &str, limit: u64) -> Result<Vec<u8>, ReadError> {
        let (resolved, _) = self.regular_file(path)?;
        self.backend
            .read(&resolved, limit)
            .map_err(|e| ReadError::from_io(path, e))
    }

    /// Reads a file as text; invalid UTF-8 is replaced, never an error.
    pub fn read_string(&self, path: &str) -> Result<String, ReadError> {
        let bytes = self.read(path)?;
        Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// The names in a directory, sorted bytewise (as `LC_ALL=C ls`).
    pub fn list_dir(&self, path: &str) -> Result<Vec<String>, ReadError> {
        let resolved = self.resolve(path, true, false)?;
        let mut names = self
            .backend
            .list(&resolved)
            .map_err(|e| ReadError::from_io(path, e))?;
        names.sort();
        Ok(names)
    }

    /// Metadata of what `path` resolves to (links followed).
    pub fn metadata(&self, path: &str) -> Result<Meta, ReadError> {
        let resolved = self.resolve(path, true, false)?;
        self.backend
            .lstat(&resolved)
            .map_err(|e| ReadError::from_io(path, e))
    }

    /// Metadata of `path` itself: a final symlink is not followed.
    pub fn symlink_metadata(&self, path: &str) -> Result<Meta, ReadError> {
        let resolved = self.resolve(path, false, false)?;
        self.backend
            .lstat(&resolved)
            .map_err(|e| ReadError::from_io(path, e))
    }

    /// The target of the symlink at `path`, as written in the link (not resolved).
    pub fn read_link(&self, path: &str) -> Result<String, ReadError> {
        let resolved = self.resolve(path, false, false)?;
        self.backend
            .read_link(&resolved)
            .map_err(|e| ReadError::from_io(path, e))
    }

    /// True when `path` resolves to something that exists.
    pub fn exists(&self, path: &str) -> bool {
        self.metadata(path).is_ok()
    }

    /// True when `path` resolves to a directory.
    pub fn is_dir(&self, path: &str) -> bool {
        self.metadata(path).map(|m| m.is_dir()).unwrap_or(false)
    }

    /// True when `path` resolves to a regular file.
    pub fn is_file(&self, path: &str) -> bool {
        self.metadata(path).map(|m| m.is_file()).unwrap_or(false)
    }

    /// True when `path` itself is a symlink.
    pub fn is_symlink(&self, path: &str) -> bool {
        self.symlink_metadata(path)
            .map(|m| m.is_symlink())
            .unwrap_or(false)
    }

    fn check_platform(&self, source: &Source) -> Result<(), SourceError> {
        match self.detected {
            Detected::Os(p) if p == source.platform => Ok(()),
            other => Err(SourceError::WrongPlatform {
                what: source.describe(),
                source_os: source.platform,
                host_os: match other {
                    Detected::Os(p) => p.label().to_owned(),
                    Detected::NotAHost => "no known OS".to_owned(),
                },
            }),
        }
    }

    /// Runs the command `source` (live), or answers it from the captures.
    pub fn command(&self, source: &Source) -> Result<CommandOutput, SourceError> {
        self.check_platform(source)?;
        let Some(argv) = source.argv() else {
            return Err(SourceError::Failed {
                what: source.describe(),
                error: "not a command source".to_owned(),
            });
        };
        if let Some(captures) = self.recorded() {
            return replayed(captures.get(source), source.describe(), argv);
        }
        if self.is_live() {
            command::run(argv)
        } else {
            Err(SourceError::Offline {
                what: argv[0].to_owned(),
            })
        }
    }

    /// Runs the per-user command `source` as `user` (live: uid and gid set at
    /// spawn), or answers it from the capture `<prefix>.<user>`.
    pub fn user_command(
        &self,
        source: &UserSource,
        user: &SessionUser,
    ) -> Result<CommandOutput, SourceError> {
        let what = format!("{} (as {})", source.describe(), user.name);
        if self.detected != Detected::Os(source.platform) {
            return Err(SourceError::WrongPlatform {
                what,
                source_os: source.platform,
                host_os: self
                    .platform()
                    .map_or_else(|| "no known OS".to_owned(), |p| p.label().to_owned()),
            });
        }
        if let Some(captures) = self.recorded() {
            let found = source
                .id_for(&user.name)
                .and_then(|id| captures.get_id(&id));
            return replayed(found, what, source.argv);
        }
        if self.is_live() {
            command::run_as(source.argv, Some((user.uid, user.gid)))
        } else {
            Err(SourceError::Offline {
                what: source.argv[0].to_owned(),
            })
        }
    }

    /// The users a per-user source was captured for (none unless replaying).
    pub fn captured_users(&self, source: &UserSource) -> Vec<String> {
        match &self.answers {
            Answers::Replay(c) => c.users(source),
            _ => Vec::new(),
        }
    }

    /// Calls the api source `source` (live), or answers it from the captures.
    pub fn api(&self, source: &Source) -> Result<ApiOutput, SourceError> {
        self.check_platform(source)?;
        let sources::SourceKind::Api { name } = source.kind else {
            return Err(SourceError::Failed {
                what: source.describe(),
                error: "not an api source".to_owned(),
            });
        };
        let value = match self.recorded() {
            None if self.is_live() => live::api(source)?,
            None => {
                return Err(SourceError::Offline {
                    what: name.to_owned(),
                });
            }
            Some(captures) => match captures.get(source) {
                None => {
                    return Err(SourceError::NotCaptured {
                        what: name.to_owned(),
                    });
                }
                Some(Captured::Error(error)) => {
                    return Err(SourceError::Captured {
                        what: name.to_owned(),
                        error: error.clone(),
                    });
                }
                Some(Captured::Api(value)) => value.clone(),
                Some(Captured::Command { .. }) => {
                    return Err(SourceError::Failed {
                        what: name.to_owned(),
                        error: "captured as a command".to_owned(),
                    });
                }
            },
        };
        Ok(ApiOutput {
            name: name.to_owned(),
            value,
        })
    }
}

/// A command answered from a recording (`None`: not captured).
fn replayed(
    found: Option<&Captured>,
    what: String,
    argv: &[&str],
) -> Result<CommandOutput, SourceError> {
    match found {
        None => Err(SourceError::NotCaptured { what }),
        Some(Captured::Error(error)) => Err(SourceError::Captured {
            what,
            error: error.clone(),
        }),
        Some(Captured::Command {
            exit_code,
            stdout,
            stderr,
        }) => Ok(CommandOutput {
            argv: argv.iter().map(|a| (*a).to_owned()).collect(),
            exit_code: *exit_code,
            stdout: stdout.clone(),
            stderr: stderr.clone(),
        }),
        Some(Captured::Api(_)) => Err(SourceError::Failed {
            what,
            error: "captured as an api source".to_owned(),
        }),
    }
}

/// A user a per-user source runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// A registry value, by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryValue {
    Dword(u32),
    Qword(u64),
    String(String),
    MultiString(Vec<String>),
    Binary(Vec<u8>),
}

impl fmt::Display for RegistryValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryValue::Dword(v) => write!(f, "{v} (REG_DWORD)"),
            RegistryValue::Qword(v) => write!(f, "{v} (REG_QWORD)"),
            RegistryValue::String(s) => write!(f, "{s:?} (REG_SZ)"),
            RegistryValue::MultiString(v) => write!(f, "{v:?} (REG_MULTI_SZ)"),
            RegistryValue::Binary(b) => write!(f, "{} bytes (REG_BINARY)", b.len()),
        }
    }
}

/// True when `root` (canonical) is this machine's own root: `/`, or on Windows
/// the root of the system drive ([`system_root`]); another drive's root is a
/// mounted disk like any directory.
fn is_system_root(root: &Path) -> bool {
    if cfg!(windows) {
        std::fs::canonicalize(system_root()).is_ok_and(|system| system == root)
    } else {
        root == Path::new("/")
    }
}

/// The machine's own root: `/`; on Windows the root of the drive that holds the
/// system directory (`%SystemDrive%\`, from `GetSystemDirectoryW`, never assumed
/// `C:`).
pub fn system_root() -> PathBuf {
    #[cfg(windows)]
    if let Some(drive) = windows_system_drive() {
        return PathBuf::from(format!("{drive}\\"));
    }
    PathBuf::from("/")
}

/// `X:`, the drive of `GetSystemDirectoryW`.
#[cfg(windows)]
#[allow(unsafe_code)]
pub(crate) fn windows_system_drive() -> Option<String> {
    use windows_sys::Win32::System::SystemInformation::GetSystemDirectoryW;
    let mut buf = [0u16; 512];
    // SAFETY: the buffer is valid for writes of `buf.len()` UTF-16 units, the size
    // given; the call writes at most that many and returns the length.
    let n = unsafe { GetSystemDirectoryW(buf.as_mut_ptr(), buf.len() as u32) } as usize;
    let dir = String::from_utf16_lossy(buf.get(..n)?);
    let mut chars = dir.chars();
    let letter = chars.next().filter(char::is_ascii_alphabetic)?;
    (chars.next() == Some(':')).then(|| format!("{}:", letter.to_ascii_uppercase()))
}

/// Which OS the files under a root belong to: macOS's `SystemVersion.plist`, else
/// Windows's `SOFTWARE` hive (matched case-insensitively), else Linux when `/etc`
/// exists, else none.
pub(crate) fn detect(backend: &dyn Backend) -> Detected {
    let exists = |path: &str, case: Case| {
        files::resolve(backend, case, path, true, false)
            .and_then(|p| backend.lstat(&p).map_err(|e| ReadError::from_io(path, e)))
            .is_ok()
    };
    if exists(MACOS_MARKER, Case::Sensitive) {
        Detected::Os(Platform::Macos)
    } else if exists(WINDOWS_MARKER, Case::Insensitive) {
        Detected::Os(Platform::Windows)
    } else if exists(LINUX_MARKER, Case::Sensitive) {
        Detected::Os(Platform::Linux)
    } else {
        Detected::NotAHost
    }
}

/// Joins a host directory path and a name.
pub fn join_path(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeHost;
    use super::sources::{LINUX_DNF_SECURITY, MACOS_FDESETUP_STATUS, WIN_VOLUMES};
    use super::*;

    /// The same tree, in memory and (on Unix) in a directory: every resolution
    /// test runs on both, so the fake resolves exactly as a real root does.
    fn trees() -> Vec<(Option<tempfile::TempDir>, Host)> {
        let entries: [(&str, Option<&str>, &str); 11] = [
            ("/etc/ssh/sshd_config", None, "PermitRootLogin no\n"),
            ("/usr/share/x/file", None, "inside"),
            ("/etc/abs", Some("/usr/share/x"), ""),
            ("/etc/rel", Some("../usr/share/x/file"), ""),
            ("/etc/climb", Some("../../../../../../etc/passwd"), ""),
            ("/etc/loop1", Some("loop2"), ""),
            ("/etc/loop2", Some("loop1"), ""),
            ("/etc/systemd/system/a.service", Some("/dev/null"), ""),
            (
                "/etc/systemd/system/b.service",
                Some("../../../dev/null"),
                "",
            ),
            ("/etc/systemd/system/e.service", Some("b.service"), ""),
            ("/etc/systemd/system/f.service", Some("../dev/null"), ""),
        ];
        let mut fake = FakeHost::empty();
        for (path, link, content) in entries {
            match link {
                Some(target) => fake.add_link(path, target),
                None => fake.add_file(path, content),
            }
        }
        let mut out = vec![(None, fake.host())];
        out.extend(on_disk(&entries));
        out
    }

    /// The tree in a directory, with real symlinks (Unix only).
    #[cfg(unix)]
    fn on_disk(
        entries: &[(&str, Option<&str>, &str)],
    ) -> Option<(Option<tempfile::TempDir>, Host)> {
        let dir = tempfile::tempdir().unwrap();
        for (path, link, content) in entries {
            let real = dir.path().join(path.trim_start_matches('/'));
            std::fs::create_dir_all(real.parent().unwrap()).unwrap();
            match link {
                Some(target) => std::os::unix::fs::symlink(target, &real).unwrap(),
                None => std::fs::write(&real, content).unwrap(),
            }
        }
        let host = Host::open(dir.path()).unwrap();
        Some((Some(dir), host))
    }

    #[cfg(not(unix))]
    fn on_disk(_: &[(&str, Option<&str>, &str)]) -> Option<(Option<tempfile::TempDir>, Host)> {
        None
    }

    #[test]
    fn absolute_link_targets_stay_inside_the_root() {
        for (_d, host) in trees() {
            assert_eq!(host.read_string("/etc/abs/file").unwrap(), "inside");
            assert_eq!(
                host.canonical("/etc/abs/file").unwrap(),
                "/usr/share/x/file"
            );
        }
    }

    #[test]
    fn relative_links_resolve() {
        for (_d, host) in trees() {
            assert_eq!(host.read_string("/etc/rel").unwrap(), "inside");
            assert_eq!(host.read_link("/etc/rel").unwrap(), "../usr/share/x/file");
            assert!(host.is_symlink("/etc/rel"));
            assert!(!host.is_symlink("/etc/ssh/sshd_config"));
        }
    }

    #[test]
    fn dotdot_never_climbs_above_the_root() {
        for (_d, host) in trees() {
            // The link climbs far above the root: it must land on ROOT/etc/passwd,
            // which does not exist, never on the machine's /etc/passwd.
            let err = host.read_string("/etc/climb").unwrap_err();
            assert!(err.is_not_found(), "{err}");
            assert!(host.read_string("/../../etc/ssh/sshd_config").is_ok());
        }
    }

    #[test]
    fn targets_resolve_even_when_missing_under_the_root() {
        for (_d, host) in trees() {
            for unit in ["a", "b", "e"] {
                let path = format!("/etc/systemd/system/{unit}.service");
                assert_eq!(host.resolve_target(&path).unwrap(), "/dev/null", "{unit}");
            }
            assert_eq!(
                host.resolve_target("/etc/systemd/system/f.service")
                    .unwrap(),
                "/etc/systemd/dev/null"
            );
            assert_eq!(
                host.resolve_target("/etc/rel").unwrap(),
                "/usr/share/x/file"
            );
            assert!(matches!(
                host.resolve_target("/etc/loop1"),
                Err(ReadError::LinkLoop { .. })
            ));
        }
    }

    #[test]
    fn link_loops_are_an_error_without_an_errno() {
        for (_d, host) in trees() {
            let err = host.read_string("/etc/loop1").unwrap_err();
            assert!(matches!(err, ReadError::LinkLoop { .. }), "{err}");
            assert_eq!(
                err.to_string(),
                "/etc/loop1: too many levels of symbolic links"
            );
        }
    }

    #[test]
    fn directories_list_sorted_and_are_not_files() {
        for (_d, host) in trees() {
            assert_eq!(
                host.list_dir("/etc").unwrap(),
                vec!["abs", "climb", "loop1", "loop2", "rel", "ssh", "systemd"]
            );
            assert!(matches!(host.read("/etc"), Err(ReadError::NotAFile { .. })));
            assert!(host.is_dir("/etc/abs"));
            assert!(!host.is_file("/etc/abs"));
        }
    }

    #[test]
    fn errors_name_the_host_path() {
        for (_d, host) in trees() {
            let err = host.read("/etc/shadow").unwrap_err();
            assert_eq!(err.to_string(), "/etc/shadow: not found");
            let err = host.read("/etc/ssh/sshd_config/x").unwrap_err();
            assert!(err.is_not_found(), "{err}");
        }
    }

    #[test]
    fn denied_paths_are_permission_denied_in_the_fake() {
        let host = FakeHost::linux()
            .file("/etc/shadow", "root:x:")
            .file("/root/.ssh/id", "k")
            .deny("/etc/shadow")
            .deny("/root")
            .host();
        assert!(host.read("/etc/shadow").unwrap_err().is_permission_denied());
        assert!(
            host.exists("/etc/shadow"),
            "the name stays visible, as with mode 000"
        );
        assert!(host.list_dir("/root").unwrap_err().is_permission_denied());
        assert!(
            host.read("/root/.ssh/id")
                .unwrap_err()
                .is_permission_denied()
        );
    }

    #[test]
    fn a_root_that_is_not_a_directory_is_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("file"), "x").unwrap();
        assert!(matches!(
            Host::open(&d.path().join("file")),
            Err(RootError::NotADirectory { .. })
        ));
        assert!(Host::open(&d.path().join("nope")).is_err());
    }

    #[test]
    fn the_os_is_decided_by_marker_files_in_order() {
        assert_eq!(FakeHost::empty().host().detected(), Detected::NotAHost);
        assert_eq!(
            FakeHost::empty().dir("/etc").host().detected(),
            Detected::Os(Platform::Linux)
        );
        assert_eq!(
            FakeHost::empty()
                .file("/windows/system32/CONFIG/software", "regf")
                .host()
                .detected(),
            Detected::Os(Platform::Windows),
            "the Windows marker is matched case-insensitively"
        );
        // A Mac has /etc too (a link to private/etc): the plist decides first.
        assert_eq!(
            FakeHost::empty()
                .link("/etc", "private/etc")
                .file(MACOS_MARKER, "<plist/>")
                .file(WINDOWS_MARKER, "")
                .host()
                .detected(),
            Detected::Os(Platform::Macos)
        );
        // A Linux file that happens to be named like the markers' directories.
        assert_eq!(
            FakeHost::empty()
                .dir("/etc")
                .file("/System/Library/CoreServices/SystemVersion.plist.bak", "")
                .host()
                .detected(),
            Detected::Os(Platform::Linux)
        );
    }

    #[test]
    fn windows_paths_resolve_case_insensitively_and_others_do_not() {
        let win = FakeHost::windows()
            .file("/Windows/System32/drivers/etc/hosts", "127.0.0.1 localhost")
            .host();
        assert_eq!(
            win.read_string("/WINDOWS/system32/Drivers/ETC/HOSTS")
                .unwrap(),
            "127.0.0.1 localhost"
        );
        assert_eq!(
            win.canonical("/windows/system32/drivers/etc/hosts")
                .unwrap(),
            "/Windows/System32/drivers/etc/hosts"
        );
        assert!(win.is_dir("/windows/SYSTEM32"));
        let linux = FakeHost::linux().file("/etc/Hosts", "x").host();
        assert!(linux.read("/etc/hosts").unwrap_err().is_not_found());
    }

    #[test]
    fn sources_answer_live_offline_and_from_captures() {
        // Offline: nothing runs.
        let offline = FakeHost::linux().host();
        assert!(!offline.is_live() && !offline.answers_sources());
        assert_eq!(
            offline
                .command(&LINUX_DNF_SECURITY)
                .unwrap_err()
                .to_string(),
            "/usr/bin/dnf: live sources are not run on an offline root"
        );
        // Captured: the recorded output, with the table's argv.
        let replay = FakeHost::linux()
            .command(
                &LINUX_DNF_SECURITY,
                0,
                "FEDORA-2026-1 Important/Sec. curl-8.6.0-1.fc40.x86_64\n",
            )
            .host();
        assert!(replay.is_replay() && !replay.is_live());
        let out = replay.command(&LINUX_DNF_SECURITY).unwrap();
        assert_eq!(out.argv[0], "/usr/bin/dnf");
        assert!(out.stdout.contains("curl"));
        // Another OS's source is refused before anything runs.
        assert!(matches!(
            replay.command(&MACOS_FDESETUP_STATUS),
            Err(SourceError::WrongPlatform { .. })
        ));
        // Not captured, and captured as an error.
        let mac = FakeHost::macos()
            .source_error(&MACOS_FDESETUP_STATUS, "operation not permitted")
            .host();
        assert_eq!(
            mac.command(&MACOS_FDESETUP_STATUS).unwrap_err().to_string(),
            "/usr/bin/fdesetup status: operation not permitted (captured)"
        );
        let win = FakeHost::windows()
            .api(&WIN_VOLUMES, serde_json::json!({"instances": []}))
            .host();
        assert_eq!(
            win.api(&WIN_VOLUMES).unwrap().value["instances"],
            serde_json::json!([])
        );
        assert!(matches!(
            win.api(&sources::WIN_ENCRYPTABLE_VOLUMES),
            Err(SourceError::NotCaptured { .. })
        ));
    }

    #[test]
    fn the_registry_is_windows_only_and_read_from_hive_files_offline() {
        let linux = FakeHost::linux().host();
        assert!(matches!(
            linux.registry("SOFTWARE\\Microsoft", "x"),
            Err(SourceError::WrongPlatform { .. })
        ));
        // The fake's SOFTWARE marker is an empty file: not a hive.
        let win = FakeHost::windows().host();
        let err = win.registry("SOFTWARE\\Microsoft", "x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "HKLM\\SOFTWARE\\Microsoft\\x: /Windows/System32/config/SOFTWARE: not a registry hive: shorter than a base block"
        );
    }
}
