//! The agent's state directory (default `/var/lib/attest`, `--state-dir`), mode 0700:
//!
//! | file | what | written |
//! | --- | --- | --- |
//! | `agent.key` | the Ed25519 secret key: standard base64 of its 32 bytes and a newline; mode 0600, refused when looser | once, at enrollment (`create_new`, mode set at creation, fsynced) |
//! | `enrollment.json` | agent id, server, trust, public key, time of enrollment | at enrollment |
//! | `chain.json` | the hash chain position ([`ChainState`]): `next_seq` and `prev` of the next report | before each signed report enters the spool |
//! | `status.json` | last collection, last upload, last error, reports dropped by the spool bound | after each collection and delivery |
//! | `delta-base.json` | the envelope of the last report a collector that takes deltas acknowledged: the base of the next upload ([`crate::delta`]); absent otherwise | after each receipt |
//! | `lock` | the pid of the process holding the state directory's lock ([`StateDir::lock`]) | when a command that writes the state starts |
//! | `spool/` | signed reports awaiting delivery ([`crate::spool`]) | |
//!
//! Every file but the key is replaced atomically (temp file, fsync, rename, directory
//! fsync), so a crash leaves the old or the new version. A restart therefore continues
//! `seq`/`prev` where the last signed report left them.
//!
//! # One writer at a time
//!
//! Every command that writes the state (`enroll`, `run`, `run --once`, the Windows
//! service) first takes an exclusive advisory lock on `lock` ([`StateDir::lock`]:
//! `flock(2)` on Unix, `LockFileEx` on Windows, through `std::fs::File::try_lock`) and
//! holds it until it exits; the kernel releases it when the process dies, even by
//! `kill -9`. Two agents on one state directory could otherwise sign two reports with
//! the same `seq`. The second one is refused at once with one line naming the state
//! directory and the holder's pid ([`StateError::Locked`]). Read-only commands
//! (`status`, `validate`) take no lock and work while the service runs.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use attest_proto::{BASE64, ChainState, SigningKey};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::durable::{self, PRIVATE_FORBIDDEN};
use crate::tls::Trust;

/// The default state directory.
#[cfg(not(windows))]
pub const DEFAULT_DIR: &str = "/var/lib/attest";
/// The default state directory.
#[cfg(windows)]
pub const DEFAULT_DIR: &str = r"C:\ProgramData\Attest\state";

/// Mode of the files the agent writes in its state directory.
pub const FILE_MODE: u32 = 0o600;
/// Mode of the state directory and its subdirectories.
pub const DIR_MODE: u32 = 0o700;

/// The result of enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrollment {
    pub agent_id: String,
    /// The collector's base URL.
    pub server: String,
    pub trust: Trust,
    /// The agent's public key (wire form).
    pub public_key: String,
    pub enrolled_at: DateTime<Utc>,
    /// The collector's checkpoint key, when it offered one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collector_key: Option<String>,
}

/// What `attest-agent status` shows besides enrollment and the spool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Status {
    /// When the last report was collected, and its `seq`.
    pub last_collection: Option<Event>,
    /// When the collector last acknowledged a report, and its `seq`.
    pub last_upload: Option<Event>,
    /// The last thing that went wrong (cleared by nothing: it has its own time).
    pub last_error: Option<ErrorEvent>,
    /// Reports dropped by the spool's size bound, ever.
    pub dropped_reports: u64,
}

/// A timed event about one report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub seq: u64,
}

/// A timed error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorEvent {
    pub at: DateTime<Utc>,
    pub message: String,
}

/// Errors of the state directory; each one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error(transparent)]
    Loose(durable::LoosePermissions),
    #[error("{path} is damaged ({detail}); restore it from a backup or enroll again with --force")]
    Damaged { path: String, detail: String },
    #[error(
        "this agent is not enrolled (no {path}); run `attest-agent enroll --server URL --token TOKEN` first"
    )]
    NotEnrolled { path: String },
    #[error(
        "another attest-agent is running on {dir} ({holder}); stop it first (`systemctl stop attest-agent`) or give this one its own --state-dir"
    )]
    Locked { dir: String, holder: String },
    #[error(
        "the disk holding {path} is full ({source}); the file was left as it was: free some space and try again (the service retries at its next collection)"
    )]
    DiskFull { path: String, source: io::Error },
    #[error(
        "{path}: permission denied; run as root (sudo attest-agent …), or give this agent a state directory of its own with --state-dir DIR (and --config FILE)"
    )]
    PermissionDenied { path: String },
    #[error(
        "the state directory {dir} belongs to uid {owner}, not to this user (uid {me}); run as root (sudo attest-agent …), or give this agent a state directory of its own with --state-dir DIR"
    )]
    NotOurs { dir: String, owner: u32, me: u32 },
    #[error(
        "the state directory {dir} belongs to uid {owner}, who could replace the enrollment or the key in it; make it root's (chown root: {dir}) or give this agent another --state-dir"
    )]
    ForeignOwner { dir: String, owner: u32 },
    #[error("the state directory {dir} is not a directory; remove it or pass another --state-dir")]
    NotADirectory { dir: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| {
        let path = path.display().to_string();
        if crate::spool::is_disk_full(&source) {
            StateError::DiskFull { path, source }
        } else if source.kind() == io::ErrorKind::PermissionDenied {
            StateError::PermissionDenied { path }
        } else {
            StateError::Io { path, source }
        }
    }
}

/// What [`StateDir::ensure_private`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privacy {
    /// There is no state directory yet.
    Absent,
    /// It was already 0700 (or stricter) and ours.
    Private,
    /// It was ours but open to others: its mode (shown) was set to 0700.
    Fixed { was: u32 },
}

/// The effective uid of this process.
#[cfg(unix)]
fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The exclusive lock on a state directory ([`StateDir::lock`]); released when
/// dropped, or by the kernel when the process ends.
#[derive(Debug)]
pub struct StateLock {
    /// Kept open while the lock is held: closing it releases the lock.
    _file: File,
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        StateDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn key_path(&self) -> PathBuf {
        self.root.join("agent.key")
    }

    pub fn enrollment_path(&self) -> PathBuf {
        self.root.join("enrollment.json")
    }

    pub fn chain_path(&self) -> PathBuf {
        self.root.join("chain.json")
    }

    pub fn status_path(&self) -> PathBuf {
        self.root.join("status.json")
    }

    pub fn delta_base_path(&self) -> PathBuf {
        self.root.join("delta-base.json")
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.root.join("spool")
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// Takes the exclusive lock on the state directory without waiting (see the module
    /// docs), and writes this process's pid into the lock file for the one refused.
    /// The directory must exist. [`StateError::Locked`] when another process holds it.
    pub fn lock(&self) -> Result<StateLock, StateError> {
        let path = self.lock_path();
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(FILE_MODE);
        }
        let mut file = options.open(&path).map_err(io_err(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                // Windows forbids reading a locked file: the pid is then unknown.
                let mut text = String::new();
                let holder = match file.read_to_string(&mut text) {
                    Ok(_) => match text.trim().parse::<u32>() {
                        Ok(pid) => format!("pid {pid}"),
                        Err(_) => "pid unknown".to_owned(),
                    },
                    Err(_) => "pid unknown".to_owned(),
                };
                return Err(StateError::Locked {
                    dir: self.root.display().to_string(),
                    holder,
                });
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(io_err(&path)(source)),
        }
        // The pid is for the message of the one refused; the lock itself is what
        // counts, so a pid that cannot be written (a full disk) is not an error.
        let pid = format!("{}\n", std::process::id());
        let written = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(pid.as_bytes()));
        if let Err(err) = written {
            tracing::warn!(path = %path.display(), error = %err, "could not write the pid into the lock file");
        }
        Ok(StateLock { _file: file })
    }

    /// Creates the directory (mode 0700) when it does not exist.
    pub fn create(&self) -> Result<(), StateError> {
        durable::create_dir(&self.root, DIR_MODE).map_err(io_err(&self.root))
    }

    /// Makes sure no other local user can change the state: the directory must
    /// belong to this process's user, and a mode open to group or others is set to
    /// 0700 ([`Privacy::Fixed`], for the caller to report). A directory owned by
    /// someone else is refused, never changed: its owner could still replace
    /// `enrollment.json` or the key whatever mode it had ([`StateError::NotOurs`]
    /// for a normal user, with what to do; [`StateError::ForeignOwner`] for root).
    /// Called at the start of every command that writes the state.
    #[cfg(unix)]
    pub fn ensure_private(&self) -> Result<Privacy, StateError> {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        let dir = self.root.display().to_string();
        let meta = match std::fs::metadata(&self.root) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Privacy::Absent),
            Err(e) => return Err(io_err(&self.root)(e)),
        };
        if !meta.is_dir() {
            return Err(StateError::NotADirectory { dir });
        }
        let me = effective_uid();
        if meta.uid() != me {
            return Err(if me == 0 {
                StateError::ForeignOwner {
                    dir,
                    owner: meta.uid(),
                }
            } else {
                StateError::NotOurs {
                    dir,
                    owner: meta.uid(),
                    me,
                }
            });
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 == 0 {
            return Ok(Privacy::Private);
        }
        std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(DIR_MODE))
            .map_err(io_err(&self.root))?;
        Ok(Privacy::Fixed { was: mode })
    }

    /// Windows: the directory's ACLs (set by the installer) protect it.
    #[cfg(not(unix))]
    pub fn ensure_private(&self) -> Result<Privacy, StateError> {
        Ok(if self.root.exists() {
            Privacy::Private
        } else {
            Privacy::Absent
        })
    }

    /// [`Self::ensure_private`], logging a fix as one warning line.
    pub fn ensure_private_logged(&self) -> Result<Privacy, StateError> {
        let privacy = self.ensure_private()?;
        if let Privacy::Fixed { was } = privacy {
            tracing::warn!(
                dir = %self.root.display(),
                was = format!("{was:04o}"),
                "the state directory was open to other users; its mode is now 0700"
            );
        }
        Ok(privacy)
    }

    /// Creates a new key file with a key from `seed` (32 random bytes): mode 0600 from
    /// the start, written and fsynced; fails if the file exists unless `replace`.
    pub fn create_key(&self, seed: [u8; 32], replace: bool) -> Result<SigningKey, StateError> {
        let path = self.key_path();
        let text = format!("{}\n", BASE64.encode(seed));
        if replace {
            durable::write_atomic(&path, text.as_bytes(), FILE_MODE).map_err(io_err(&path))?;
        } else {
            let result = (|| {
                use std::io::Write as _;
                let mut file = durable::create_with_mode(&path, FILE_MODE, true)?;
                file.write_all(text.as_bytes())?;
                file.sync_all()?;
                durable::sync_dir(&self.root)
            })();
            if let Err(err) = result {
                if err.kind() != io::ErrorKind::AlreadyExists {
                    let _ = std::fs::remove_file(&path);
                }
                return Err(io_err(&path)(err));
            }
        }
        Ok(SigningKey::from_bytes(&seed))
    }

    /// Loads the key; refuses a key file that group or others may read or write.
    pub fn load_key(&self) -> Result<SigningKey, StateError> {
        let path = self.key_path();
        durable::check_mode(&path, PRIVATE_FORBIDDEN).map_err(|e| match e {
            durable::CheckModeError::Loose(l) => StateError::Loose(l),
            durable::CheckModeError::Io { source, .. } => io_err(&path)(source),
        })?;
        let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
        let damaged = |detail: &str| StateError::Damaged {
            path: path.display().to_string(),
            detail: detail.to_owned(),
        };
        let raw = BASE64
            .decode(text.trim_end_matches('\n'))
            .map_err(|_| damaged("not base64"))?;
        let seed: [u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| damaged("not 32 bytes"))?;
        Ok(SigningKey::from_bytes(&seed))
    }

    /// Whether a key file exists.
    pub fn has_key(&self) -> bool {
        self.key_path().exists()
    }

    pub fn save_enrollment(&self, enrollment: &Enrollment) -> Result<(), StateError> {
        self.save_json(&self.enrollment_path(), enrollment)
    }

    /// The enrollment, `None` when the agent is not enrolled.
    pub fn load_enrollment(&self) -> Result<Option<Enrollment>, StateError> {
        self.load_json(&self.enrollment_path())
    }

    /// The enrollment, or an error saying how to enroll.
    pub fn require_enrollment(&self) -> Result<Enrollment, StateError> {
        self.load_enrollment()?
            .ok_or_else(|| StateError::NotEnrolled {
                path: self.enrollment_path().display().to_string(),
            })
    }

    pub fn save_chain(&self, chain: &ChainState) -> Result<(), StateError> {
        self.save_json(&self.chain_path(), chain)
    }

    /// The chain position; `None` before the first signed report.
    pub fn load_chain(&self) -> Result<Option<ChainState>, StateError> {
        let chain: Option<ChainState> = self.load_json(&self.chain_path())?;
        match chain {
            Some(c) if !c.is_valid() => Err(StateError::Damaged {
                path: self.chain_path().display().to_string(),
                detail: "next_seq is 0 or prev is not a sha256: link".into(),
            }),
            other => Ok(other),
        }
    }

    pub fn save_status(&self, status: &Status) -> Result<(), StateError> {
        self.save_json(&self.status_path(), status)
    }

    /// The status; empty when none was written yet.
    pub fn load_status(&self) -> Result<Status, StateError> {
        Ok(self.load_json(&self.status_path())?.unwrap_or_default())
    }

    /// Changes the status file with `change` (load, change, save).
    pub fn update_status(&self, change: impl FnOnce(&mut Status)) -> Result<Status, StateError> {
        let mut status = self.load_status()?;
        change(&mut status);
        self.save_status(&status)?;
        Ok(status)
    }

    fn save_json<T: Serialize>(&self, path: &Path, value: &T) -> Result<(), StateError> {
        let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| StateError::Io {
            path: path.display().to_string(),
            source: io::Error::other(e),
        })?;
        bytes.push(b'\n');
        durable::write_atomic(path, &bytes, FILE_MODE).map_err(io_err(path))
    }

    fn load_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &Path,
    ) -> Result<Option<T>, StateError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(path)(e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StateError::Damaged {
                path: path.display().to_string(),
                detail: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::Pin;

    #[cfg(unix)]
    #[test]
    fn regression_a_loose_state_directory_is_made_private_or_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("state"));
        assert_eq!(state.ensure_private().unwrap(), Privacy::Absent);
        state.create().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(state.root()), 0o700);
        assert_eq!(state.ensure_private().unwrap(), Privacy::Private);
        // Found open to everyone: fixed.
        std::fs::set_permissions(state.root(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(
            state.ensure_private().unwrap(),
            Privacy::Fixed { was: 0o777 }
        );
        assert_eq!(mode(state.root()), 0o700);
        std::fs::set_permissions(state.root(), std::fs::Permissions::from_mode(0o750)).unwrap();
        assert_eq!(
            state.ensure_private().unwrap(),
            Privacy::Fixed { was: 0o750 }
        );
        // A file where the directory should be.
        let file = StateDir::new(dir.path().join("file"));
        std::fs::write(file.root(), "").unwrap();
        assert!(matches!(
            file.ensure_private(),
            Err(StateError::NotADirectory { .. })
        ));
        // Owned by someone else (only root can arrange that here): refused, unchanged.
        if effective_uid() == 0 {
            std::fs::set_permissions(state.root(), std::fs::Permissions::from_mode(0o777)).unwrap();
            std::os::unix::fs::chown(state.root(), Some(65534), Some(65534)).unwrap();
            let err = state.ensure_private().unwrap_err();
            assert!(
                matches!(err, StateError::ForeignOwner { owner: 65534, .. }),
                "{err}"
            );
            assert!(err.to_string().contains("belongs to uid 65534"), "{err}");
            assert_eq!(mode(state.root()), 0o777);
        }
    }

    #[test]
    fn permission_denied_names_the_path_and_the_fix() {
        let err = io_err(Path::new("/var/lib/attest/enrollment.json"))(io::Error::from(
            io::ErrorKind::PermissionDenied,
        ));
        assert_eq!(
            err.to_string(),
            "/var/lib/attest/enrollment.json: permission denied; run as root (sudo attest-agent …), or give this agent a state directory of its own with --state-dir DIR (and --config FILE)"
        );
    }

    fn enrollment() -> Enrollment {
        Enrollment {
            agent_id: "agt_1".into(),
            server: "https://collector.example:8443/".into(),
            trust: Trust::Pin(Pin([7; 32])),
            public_key: "AAAA".into(),
            enrolled_at: "2026-11-25T14:00:00Z".parse().unwrap(),
            collector_key: None,
        }
    }

    #[test]
    fn key_is_created_private_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("state"));
        state.create().unwrap();
        let key = state.create_key([9; 32], false).unwrap();
        assert_eq!(state.load_key().unwrap().to_bytes(), key.to_bytes());
        // A second create without replace refuses and keeps the first key.
        assert!(state.create_key([1; 32], false).is_err());
        assert_eq!(state.load_key().unwrap().to_bytes(), [9; 32]);
        let replaced = state.create_key([1; 32], true).unwrap();
        assert_eq!(state.load_key().unwrap().to_bytes(), replaced.to_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&state.key_path()), 0o600);
            assert_eq!(mode(state.root()), 0o700);
            std::fs::set_permissions(state.key_path(), std::fs::Permissions::from_mode(0o644))
                .unwrap();
            let err = state.load_key().unwrap_err().to_string();
            assert!(err.contains("agent.key has mode 0644"), "{err}");
            assert!(err.contains("chmod 0600"), "{err}");
        }
    }

    #[test]
    fn the_state_lock_is_exclusive_names_its_holder_and_is_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let first = state.lock().unwrap();
        let pid = std::process::id();
        assert_eq!(
            std::fs::read_to_string(state.lock_path()).unwrap(),
            format!("{pid}\n")
        );
        // A second lock (another open file description, as another process has) is
        // refused at once, naming the directory and the holder.
        let err = state.lock().unwrap_err();
        assert!(matches!(err, StateError::Locked { .. }), "{err}");
        let line = err.to_string();
        assert!(
            line.starts_with(&format!(
                "another attest-agent is running on {} (pid {pid})",
                dir.path().display()
            )),
            "{line}"
        );
        assert_eq!(line.lines().count(), 1);
        drop(first);
        // Released: taken again, and a stale pid from an earlier holder is replaced.
        std::fs::write(state.lock_path(), "4194303999\n").unwrap();
        let again = state.lock().unwrap();
        assert_eq!(
            std::fs::read_to_string(state.lock_path()).unwrap(),
            format!("{pid}\n")
        );
        drop(again);
    }

    #[test]
    fn locking_a_missing_state_directory_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("absent"));
        let err = state.lock().unwrap_err().to_string();
        assert!(err.contains("absent/lock"), "{err}");
    }

    #[test]
    fn damaged_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        durable::write_atomic(&state.key_path(), b"short\n", FILE_MODE).unwrap();
        let err = state.load_key().unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
    }

    #[test]
    fn enrollment_chain_and_status_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        assert_eq!(state.load_enrollment().unwrap(), None);
        let err = state.require_enrollment().unwrap_err().to_string();
        assert!(err.contains("attest-agent enroll"), "{err}");
        state.save_enrollment(&enrollment()).unwrap();
        assert_eq!(state.require_enrollment().unwrap(), enrollment());

        assert_eq!(state.load_chain().unwrap(), None);
        let key = SigningKey::from_bytes(&[3; 32]);
        let mut chain = ChainState::genesis(&key.verifying_key());
        chain.advance(b"statement one");
        state.save_chain(&chain).unwrap();
        assert_eq!(state.load_chain().unwrap(), Some(chain.clone()));
        // A restart (a new StateDir on the same path) continues the chain.
        assert_eq!(
            StateDir::new(dir.path())
                .load_chain()
                .unwrap()
                .unwrap()
                .next_seq,
            2
        );

        assert_eq!(state.load_status().unwrap(), Status::default());
        let at: DateTime<Utc> = "2026-11-25T15:00:00Z".parse().unwrap();
        state
            .update_status(|s| {
                s.last_collection = Some(Event { at, seq: 1 });
                s.dropped_reports += 2;
            })
            .unwrap();
        let status = state.load_status().unwrap();
        assert_eq!(status.last_collection, Some(Event { at, seq: 1 }));
        assert_eq!(status.dropped_reports, 2);
    }

    #[test]
    fn damaged_state_files_are_refused_not_reset() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        std::fs::write(state.chain_path(), "{\"next_seq\": 3").unwrap();
        let err = state.load_chain().unwrap_err().to_string();
        assert!(err.contains("chain.json is damaged"), "{err}");
        std::fs::write(state.chain_path(), "{\"next_seq\":0,\"prev\":\"x\"}").unwrap();
        assert!(state.load_chain().is_err());
        std::fs::write(state.enrollment_path(), "{\"agent_id\":\"a\",\"extra\":1}").unwrap();
        assert!(state.load_enrollment().is_err());
    }

    #[cfg(unix)]
    #[test]
    fn state_files_are_written_0600_atomically() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        state.save_enrollment(&enrollment()).unwrap();
        state.save_status(&Status::default()).unwrap();
        for path in [state.enrollment_path(), state.status_path()] {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
            assert!(!durable::temp_path(&path).exists());
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }
}
