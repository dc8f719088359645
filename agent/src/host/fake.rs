//! The one in-memory host of the unit tests: files, directories, symlinks,
//! unreadable paths and modification times, plus recorded answers of commands and
//! api sources, on any of the three operating systems.
//!
//! ```ignore
//! let host = FakeHost::linux()
//!     .file("/etc/ssh/sshd_config", "PermitRootLogin no\n")
//!     .link("/etc/systemd/system/ntp.service", "/dev/null")
//!     .deny("/etc/shadow")
//!     .host();
//! ```
//!
//! Paths resolve exactly as on a real root (the same [`super::files::resolve`]);
//! parent directories are made as files are added.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use attest_proto::Platform;
use serde_json::Value;

use super::files::{Backend, FileKind, Meta, split};
use super::replay::{Captured, Captures};
use super::sources::Source;
use super::{Answers, Detected, Host};

/// A fixed modification time for files added without one: 2026-11-25T12:00:00Z.
pub fn default_mtime() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_608_000)
}

#[derive(Debug, Clone)]
enum Node {
    File {
        bytes: Vec<u8>,
        modified: SystemTime,
    },
    Dir,
    Link(String),
    /// A device, socket or pipe.
    Other,
}

/// Files in memory, by component path.
#[derive(Debug, Clone, Default)]
pub(crate) struct MemFs {
    nodes: BTreeMap<Vec<String>, Node>,
    denied: BTreeSet<Vec<String>>,
}

impl MemFs {
    fn denied(&self, path: &[String], inclusive: bool) -> bool {
        let upto = if inclusive {
            path.len()
        } else {
            path.len().saturating_sub(1)
        };
        (0..=upto).any(|n| n > 0 && self.denied.contains(&path[..n]))
    }

    fn put(&mut self, path: &str, node: Node) {
        let components: Vec<String> = split(path).collect();
        for n in 1..components.len() {
            self.nodes
                .entry(components[..n].to_vec())
                .or_insert(Node::Dir);
        }
        self.nodes.insert(components, node);
    }
}

fn denied_error() -> io::Error {
    io::Error::from(io::ErrorKind::PermissionDenied)
}

fn not_found() -> io::Error {
    io::Error::from(io::ErrorKind::NotFound)
}

impl Backend for MemFs {
    fn lstat(&self, path: &[String]) -> io::Result<Meta> {
        if path.is_empty() {
            return Ok(Meta {
                kind: FileKind::Dir,
                len: 0,
                modified: None,
            });
        }
        // Like a directory without search permission: its entries cannot be
        // examined, but the directory itself can.
        if self.denied(path, false) {
            return Err(denied_error());
        }
        let node = self.nodes.get(path).ok_or_else(not_found)?;
        Ok(match node {
            Node::File { bytes, modified } => Meta {
                kind: FileKind::File,
                len: bytes.len() as u64,
                modified: Some(*modified),
            },
            Node::Dir => Meta {
                kind: FileKind::Dir,
                len: 0,
                modified: Some(default_mtime()),
            },
            Node::Link(target) => Meta {
                kind: FileKind::Symlink,
                len: target.len() as u64,
                modified: Some(default_mtime()),
            },
            Node::Other => Meta {
                kind: FileKind::Other,
                len: 0,
                modified: Some(default_mtime()),
            },
        })
    }

    fn read_link(&self, path: &[String]) -> io::Result<String> {
        if self.denied(path, false) {
            return Err(denied_error());
        }
        match self.nodes.get(path) {
            Some(Node::Link(target)) => Ok(target.clone()),
            Some(_) => Err(io::Error::from(io::ErrorKind::InvalidInput)),
            None => Err(not_found()),
        }
    }

    fn read(&self, path: &[String], limit: u64) -> io::Result<Vec<u8>> {
        if self.denied(path, true) {
            return Err(denied_error());
        }
        match self.nodes.get(path) {
            Some(Node::File { bytes, .. }) => Ok(bytes[..bytes.len().min(limit as usize)].to_vec()),
            Some(Node::Dir) => Err(io::Error::from(io::ErrorKind::IsADirectory)),
            Some(_) => Err(io::Error::from(io::ErrorKind::InvalidInput)),
            None => Err(not_found()),
        }
    }

    fn list(&self, path: &[String]) -> io::Result<Vec<String>> {
        if self.denied(path, true) {
            return Err(denied_error());
        }
        if !path.is_empty() && !matches!(self.nodes.get(path), Some(Node::Dir)) {
            return Err(if self.nodes.contains_key(path) {
                io::Error::from(io::ErrorKind::NotADirectory)
            } else {
                not_found()
            });
        }
        Ok(self
            .nodes
            .keys()
            .filter(|k| k.len() == path.len() + 1 && k.starts_with(path))
            .filter_map(|k| k.last().cloned())
            .collect())
    }
}

/// Builds a [`Host`] in memory.
#[derive(Debug, Clone)]
pub struct FakeHost {
    fs: MemFs,
    /// `None`: detected from the files, as for a real root.
    platform: Option<Platform>,
    live: bool,
    captures: Option<Captures>,
}

impl FakeHost {
    /// An empty root whose OS is detected from its files, as for a real root.
    pub fn empty() -> Self {
        FakeHost {
            fs: MemFs::default(),
            platform: None,
            live: false,
            captures: None,
        }
    }

    /// A Linux root (`/etc` exists).
    pub fn linux() -> Self {
        FakeHost::empty().dir("/etc").os(Platform::Linux)
    }

    /// A macOS root (its `SystemVersion.plist` exists).
    pub fn macos() -> Self {
        FakeHost::empty()
            .file(super::MACOS_MARKER, "")
            .os(Platform::Macos)
    }

    /// A Windows root (its `SOFTWARE` hive exists).
    pub fn windows() -> Self {
        FakeHost::empty()
            .file(super::WINDOWS_MARKER, "")
            .os(Platform::Windows)
    }

    /// Decides the OS instead of detecting it.
    pub fn os(mut self, platform: Platform) -> Self {
        self.platform = Some(platform);
        self
    }

    /// A live host: commands and api sources answer from what was recorded with
    /// [`FakeHost::command`] and [`FakeHost::api`], and `is_live` is true.
    pub fn live(mut self) -> Self {
        self.live = true;
        self
    }

    /// A regular file.
    pub fn file(mut self, path: &str, content: impl AsRef<[u8]>) -> Self {
        self.add_file(path, content);
        self
    }

    /// A regular file with a modification time.
    pub fn file_at(mut self, path: &str, content: impl AsRef<[u8]>, modified: SystemTime) -> Self {
        self.fs.put(
            path,
            Node::File {
                bytes: content.as_ref().to_vec(),
                modified,
            },
        );
        self
    }

    /// A directory.
    pub fn dir(mut self, path: &str) -> Self {
        self.add_dir(path);
        self
    }

    /// A symlink at `path` whose target is `target`, written as in the link.
    pub fn link(mut self, path: &str, target: &str) -> Self {
        self.add_link(path, target);
        self
    }

    /// A device, socket or pipe.
    pub fn special(mut self, path: &str) -> Self {
        self.fs.put(path, Node::Other);
        self
    }

    /// Reading `path` (and anything under it) fails with permission denied.
    pub fn deny(mut self, path: &str) -> Self {
        self.add_deny(path);
        self
    }

    /// A command's recorded output.
    pub fn command(mut self, source: &Source, exit_code: i32, stdout: &str) -> Self {
        self.answer(
            source,
            Captured::Command {
                exit_code: Some(exit_code),
                stdout: stdout.to_owned(),
                stderr: String::new(),
            },
        );
        self
    }

    /// An api source's recorded result.
    pub fn api(mut self, source: &Source, value: Value) -> Self {
        self.answer(source, Captured::Api(value));
        self
    }

    /// A source that failed.
    pub fn source_error(mut self, source: &Source, error: &str) -> Self {
        self.answer(source, Captured::Error(error.to_owned()));
        self
    }

    /// Records what a source answers (and answers sources from recordings).
    pub fn answer(&mut self, source: &Source, captured: Captured) {
        let os = self.platform.unwrap_or(source.platform);
        self.captures
            .get_or_insert_with(|| Captures::new(os))
            .insert(source, captured);
    }

    pub fn add_file(&mut self, path: &str, content: impl AsRef<[u8]>) {
        self.fs.put(
            path,
            Node::File {
                bytes: content.as_ref().to_vec(),
                modified: default_mtime(),
            },
        );
    }

    pub fn add_dir(&mut self, path: &str) {
        self.fs.put(path, Node::Dir);
    }

    pub fn add_link(&mut self, path: &str, target: &str) {
        self.fs.put(path, Node::Link(target.to_owned()));
    }

    pub fn add_deny(&mut self, path: &str) {
        self.fs.denied.insert(split(path).collect());
    }

    /// Sets the modification time of an existing file.
    pub fn set_mtime(&mut self, path: &str, modified: SystemTime) {
        let key: Vec<String> = split(path).collect();
        if let Some(Node::File { modified: m, .. }) = self.fs.nodes.get_mut(&key) {
            *m = modified;
        }
    }

    /// The host. Commands and api sources: answered from the recordings when the
    /// host is live or any were recorded, else refused as on an offline root.
    pub fn host(&self) -> Host {
        let backend: Arc<MemFs> = Arc::new(self.fs.clone());
        let detected = match self.platform {
            Some(p) => Detected::Os(p),
            None => super::detect(backend.as_ref()),
        };
        let answers = match (&self.captures, self.live) {
            (Some(c), true) => Answers::FakeLive(Arc::new(c.clone())),
            (None, true) => Answers::FakeLive(Arc::new(Captures::default())),
            (Some(c), false) => Answers::Replay(Arc::new(c.clone())),
            (None, false) => Answers::Offline,
        };
        Host::assemble(backend, PathBuf::from("memory"), detected, answers)
    }
}
