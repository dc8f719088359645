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
//! parent directories are made as files are added. The builder methods
//! (`file`, `link`, …) have `add_…` twins that change a fake already built, and
//! [`FakeHost::remove`] takes a path away. As with a directory on disk, a
//! [`Host`] already made from the fake sees such changes; a clone of the fake is
//! a separate copy.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime};

use attest_proto::{CheckResult, Platform, Status};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::files::{Backend, FileKind, Meta, split};
use super::registry::{Hkey, RegistryRead};
use super::replay::{Captured, Captures};
use super::sources::{Source, UserSource};
use super::{Answers, Detected, Host, RegistryValue, SourceError};
use crate::checks::{Check, Context, Thresholds};

/// A fixed modification time for files added without one: 2026-11-25T12:00:00Z.
pub fn default_mtime() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_608_000)
}

/// The collection time of [`FakeHost::run`]: the same instant as
/// [`default_mtime`], 2026-11-25T12:00:00Z.
pub fn default_now() -> DateTime<Utc> {
    DateTime::<Utc>::from(default_mtime())
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
    /// Owners other than root (uid 0, the default).
    owners: BTreeMap<Vec<String>, u32>,
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

    /// Takes away `path` and everything under it (not what a link there points to).
    fn remove(&mut self, path: &str) {
        let components: Vec<String> = split(path).collect();
        self.nodes.retain(|k, _| !k.starts_with(&components));
        self.denied.retain(|k| !k.starts_with(&components));
    }
}

/// The files of a fake, shared by the fake and every host made from it.
#[derive(Debug, Default)]
struct SharedFs(RwLock<MemFs>);

impl SharedFs {
    fn get(&self) -> RwLockReadGuard<'_, MemFs> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn get_mut(&self) -> RwLockWriteGuard<'_, MemFs> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Backend for SharedFs {
    fn lstat(&self, path: &[String]) -> io::Result<Meta> {
        self.get().lstat(path)
    }

    fn read_link(&self, path: &[String]) -> io::Result<String> {
        self.get().read_link(path)
    }

    fn read(&self, path: &[String], limit: u64) -> io::Result<Vec<u8>> {
        self.get().read(path, limit)
    }

    fn list(&self, path: &[String]) -> io::Result<Vec<String>> {
        self.get().list(path)
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
                owner: Some(0),
            });
        }
        // Like a directory without search permission: its entries cannot be
        // examined, but the directory itself can.
        if self.denied(path, false) {
            return Err(denied_error());
        }
        let node = self.nodes.get(path).ok_or_else(not_found)?;
        let owner = Some(self.owners.get(path).copied().unwrap_or(0));
        Ok(match node {
            Node::File { bytes, modified } => Meta {
                kind: FileKind::File,
                len: bytes.len() as u64,
                modified: Some(*modified),
                owner,
            },
            Node::Dir => Meta {
                kind: FileKind::Dir,
                len: 0,
                modified: Some(default_mtime()),
                owner,
            },
            Node::Link(target) => Meta {
                kind: FileKind::Symlink,
                len: target.len() as u64,
                modified: Some(default_mtime()),
                owner,
            },
            Node::Other => Meta {
                kind: FileKind::Other,
                len: 0,
                modified: Some(default_mtime()),
                owner,
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
#[derive(Debug)]
pub struct FakeHost {
    fs: Arc<SharedFs>,
    /// `None`: detected from the files, as for a real root.
    platform: Option<Platform>,
    live: bool,
    captures: Option<Captures>,
    /// Registry keys and values set with `reg_value`/`reg_key`: when any are, the
    /// host's registry is this, not hive files.
    registry: Option<FakeRegistry>,
}

/// A key of the fake registry.
#[derive(Debug, Clone, Default)]
struct FakeKey {
    /// By upcased name: the name as set, and the value.
    values: BTreeMap<String, (String, RegistryValue)>,
    /// By upcased name: the type code of a value set with `reg_typed` (other
    /// values have the type of their [`RegistryValue`]).
    kinds: BTreeMap<String, u32>,
    /// Set with `reg_error`: every read of the key fails with this.
    error: Option<String>,
}

/// The registry of a fake host: keys by upcased path, the hive's prefix (`HKLM`,
/// `HKU\<profile>`) first; the name as set is the last component of the key.
#[derive(Debug, Clone, Default)]
pub(crate) struct FakeRegistry {
    keys: BTreeMap<Vec<String>, (String, FakeKey)>,
}

fn upcased(hkey: &Hkey, key: &str) -> Vec<String> {
    std::iter::once(hkey.prefix())
        .chain(key.split('\\').filter(|p| !p.is_empty()).map(str::to_owned))
        .map(|p| super::regf::upcase(&p))
        .collect()
}

impl FakeRegistry {
    fn key_mut(&mut self, hkey: &Hkey, key: &str) -> &mut FakeKey {
        let path = upcased(hkey, key);
        let names: Vec<&str> = key.split('\\').filter(|p| !p.is_empty()).collect();
        for n in 1..path.len() {
            // path[0] is the hive's prefix: path[..n] ends with names[n - 2].
            let name = n
                .checked_sub(2)
                .and_then(|i| names.get(i))
                .copied()
                .unwrap_or_default();
            self.keys
                .entry(path[..n].to_vec())
                .or_insert_with(|| (name.to_owned(), FakeKey::default()));
        }
        let name = names.last().copied().unwrap_or_default().to_owned();
        &mut self
            .keys
            .entry(path)
            .or_insert_with(|| (name, FakeKey::default()))
            .1
    }

    /// The key; `what` names the read in errors.
    fn key(&self, hkey: &Hkey, key: &str, what: &str) -> Result<&FakeKey, SourceError> {
        let what = what.to_owned();
        let found = self
            .keys
            .get(&upcased(hkey, key))
            .ok_or(SourceError::NotInstalled { what: what.clone() })?;
        match &found.1.error {
            Some(error) => Err(SourceError::Failed {
                what,
                error: error.clone(),
            }),
            None => Ok(&found.1),
        }
    }
}

impl RegistryRead for FakeRegistry {
    fn value(&self, hkey: &Hkey, key: &str, value: &str) -> Result<RegistryValue, SourceError> {
        let upper = super::regf::upcase(value);
        let what = format!("{}\\{value}", hkey.name(key));
        self.key(hkey, key, &what)?
            .values
            .get(&upper)
            .map(|(_, v)| v.clone())
            .ok_or(SourceError::NotInstalled { what })
    }

    fn subkeys(&self, hkey: &Hkey, key: &str) -> Result<Vec<String>, SourceError> {
        self.key(hkey, key, &hkey.name(key))?;
        let path = upcased(hkey, key);
        Ok(self
            .keys
            .iter()
            .filter(|(k, _)| k.len() == path.len() + 1 && k.starts_with(&path))
            .map(|(_, (name, _))| name.clone())
            .collect())
    }

    fn values(&self, hkey: &Hkey, key: &str) -> Result<Vec<(String, RegistryValue)>, SourceError> {
        Ok(self
            .key(hkey, key, &hkey.name(key))?
            .values
            .values()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect())
    }

    fn kind(&self, hkey: &Hkey, key: &str, value: &str) -> Result<u32, SourceError> {
        use super::regf::types;
        let upper = super::regf::upcase(value);
        let what = format!("{}\\{value}", hkey.name(key));
        let found = self.key(hkey, key, &what)?;
        if let Some(kind) = found.kinds.get(&upper) {
            return Ok(*kind);
        }
        let (_, v) = found
            .values
            .get(&upper)
            .ok_or(SourceError::NotInstalled { what })?;
        Ok(match v {
            RegistryValue::Dword(_) => types::REG_DWORD,
            RegistryValue::Qword(_) => types::REG_QWORD,
            RegistryValue::String(_) => types::REG_SZ,
            RegistryValue::MultiString(_) => types::REG_MULTI_SZ,
            RegistryValue::Binary(_) => types::REG_BINARY,
        })
    }
}

/// A separate copy: changes to the clone are not seen by the original.
impl Clone for FakeHost {
    fn clone(&self) -> Self {
        FakeHost {
            fs: Arc::new(SharedFs(RwLock::new(self.fs.get().clone()))),
            platform: self.platform,
            live: self.live,
            captures: self.captures.clone(),
            registry: self.registry.clone(),
        }
    }
}

impl FakeHost {
    /// An empty root whose OS is detected from its files, as for a real root.
    pub fn empty() -> Self {
        FakeHost {
            fs: Arc::default(),
            platform: None,
            live: false,
            captures: None,
            registry: None,
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
        self.add_file_at(path, content, modified);
        self
    }

    /// Regular files, as `(path, content)` pairs.
    pub fn files(mut self, files: &[(&str, &str)]) -> Self {
        for (path, content) in files {
            self.add_file(path, content);
        }
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
        self.add_special(path);
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

    /// A command's recorded standard output and standard error.
    pub fn command_stderr(
        mut self,
        source: &Source,
        exit_code: i32,
        stdout: &str,
        stderr: &str,
    ) -> Self {
        self.answer(
            source,
            Captured::Command {
                exit_code: Some(exit_code),
                stdout: stdout.to_owned(),
                stderr: stderr.to_owned(),
            },
        );
        self
    }

    /// A per-user command's recorded output for `user` (its capture id names the
    /// user).
    pub fn user_command(
        mut self,
        source: &UserSource,
        user: &str,
        exit_code: i32,
        stderr: &str,
    ) -> Self {
        let id = source
            .id_for(user)
            .unwrap_or_else(|| panic!("{user:?} cannot be named in a capture id"));
        let os = self.platform.unwrap_or(source.platform);
        self.captures
            .get_or_insert_with(|| Captures::new(os))
            .insert_id(
                id,
                Captured::Command {
                    exit_code: Some(exit_code),
                    stdout: String::new(),
                    stderr: stderr.to_owned(),
                },
            );
        self
    }

    /// The file at `path` is owned by `uid` (root otherwise).
    pub fn owner(self, path: &str, uid: u32) -> Self {
        self.fs.get_mut().owners.insert(split(path).collect(), uid);
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

    /// A registry value below `HKEY_LOCAL_MACHINE` (`key` as
    /// [`Host::registry`] takes it, e.g. `SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion`;
    /// the fake resolves no `CurrentControlSet`: set the key the check reads). The
    /// key and its parents exist from then on. Once any registry state is set, the
    /// host's registry is the fake's, live or offline, never hive files.
    pub fn reg_value(mut self, key: &str, value: &str, v: RegistryValue) -> Self {
        self.set_reg_value(&Hkey::Machine, key, value, v);
        self
    }

    /// A registry value below `HKEY_LOCAL_MACHINE` of any type code `kind` (as a
    /// `.reg` file's `hex(kind):…`), read as the hive reader decodes it. The SAM
    /// keeps a user's RID as the type of `Users\Names\<name>`'s default value.
    pub fn reg_typed(mut self, key: &str, value: &str, kind: u32, data: &[u8]) -> Self {
        let decoded = super::regf::decode(value, kind, data)
            .unwrap_or_else(|_| RegistryValue::Binary(data.to_vec()));
        self.set_reg_value(&Hkey::Machine, key, value, decoded);
        self.registry
            .get_or_insert_with(FakeRegistry::default)
            .key_mut(&Hkey::Machine, key)
            .kinds
            .insert(super::regf::upcase(value), kind);
        self
    }

    /// A registry value of the user hive of profile `profile`.
    pub fn reg_user_value(
        mut self,
        profile: &str,
        key: &str,
        value: &str,
        v: RegistryValue,
    ) -> Self {
        self.set_reg_value(&Hkey::User(profile.to_owned()), key, value, v);
        self
    }

    /// A registry key below `HKEY_LOCAL_MACHINE`, with its parents, and no values.
    pub fn reg_key(mut self, key: &str) -> Self {
        self.registry
            .get_or_insert_with(FakeRegistry::default)
            .key_mut(&Hkey::Machine, key);
        self
    }

    /// Every read of the `HKEY_LOCAL_MACHINE` key `key` fails with `error` (access
    /// denied, a damaged hive).
    pub fn reg_error(mut self, key: &str, error: &str) -> Self {
        self.registry
            .get_or_insert_with(FakeRegistry::default)
            .key_mut(&Hkey::Machine, key)
            .error = Some(error.to_owned());
        self
    }

    /// Every read of the key `key` of profile `profile`'s hive fails with `error`
    /// (a locked or damaged `NTUSER.DAT`, a hive the live agent cannot read).
    pub fn reg_user_error(mut self, profile: &str, key: &str, error: &str) -> Self {
        self.registry
            .get_or_insert_with(FakeRegistry::default)
            .key_mut(&Hkey::User(profile.to_owned()), key)
            .error = Some(error.to_owned());
        self
    }

    fn set_reg_value(&mut self, hkey: &Hkey, key: &str, value: &str, v: RegistryValue) {
        let upper = super::regf::upcase(value);
        let fake = self
            .registry
            .get_or_insert_with(FakeRegistry::default)
            .key_mut(hkey, key);
        fake.kinds.remove(&upper);
        fake.values.insert(upper, (value.to_owned(), v));
    }

    /// Records what a source answers (and answers sources from recordings).
    pub fn answer(&mut self, source: &Source, captured: Captured) {
        let os = self.platform.unwrap_or(source.platform);
        self.captures
            .get_or_insert_with(|| Captures::new(os))
            .insert(source, captured);
    }

    pub fn add_file(&mut self, path: &str, content: impl AsRef<[u8]>) {
        self.add_file_at(path, content, default_mtime());
    }

    /// A regular file with a modification time, on a fake already built (an
    /// existing file is replaced).
    pub fn add_file_at(&mut self, path: &str, content: impl AsRef<[u8]>, modified: SystemTime) {
        self.fs.get_mut().put(
            path,
            Node::File {
                bytes: content.as_ref().to_vec(),
                modified,
            },
        );
    }

    pub fn add_dir(&mut self, path: &str) {
        self.fs.get_mut().put(path, Node::Dir);
    }

    pub fn add_link(&mut self, path: &str, target: &str) {
        self.fs.get_mut().put(path, Node::Link(target.to_owned()));
    }

    pub fn add_deny(&mut self, path: &str) {
        self.fs.get_mut().denied.insert(split(path).collect());
    }

    /// A device, socket or pipe, on a fake already built.
    pub fn add_special(&mut self, path: &str) {
        self.fs.get_mut().put(path, Node::Other);
    }

    /// Takes away `path` and everything under it, as `rm -rf` would (a symlink
    /// goes, never what it points to). Nothing happens when it does not exist.
    pub fn remove(&mut self, path: &str) {
        self.fs.get_mut().remove(path);
    }

    /// Sets the modification time of an existing file.
    pub fn set_mtime(&mut self, path: &str, modified: SystemTime) {
        let key: Vec<String> = split(path).collect();
        if let Some(Node::File { modified: m, .. }) = self.fs.get_mut().nodes.get_mut(&key) {
            *m = modified;
        }
    }

    /// The host. Commands and api sources: answered from the recordings when the
    /// host is live or any were recorded, else refused as on an offline root. Its
    /// files are the fake's: later changes to the fake are seen, as on a disk.
    pub fn host(&self) -> Host {
        let backend = self.fs.clone();
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
        let mut host = Host::assemble(backend, PathBuf::from("memory"), detected, answers);
        host.registry_override = self
            .registry
            .clone()
            .map(|r| Arc::new(r) as Arc<dyn RegistryRead>);
        host
    }

    /// Runs one check on this host at [`default_now`] with the default thresholds.
    pub fn run(&self, check: &dyn Check) -> CheckResult {
        self.run_at(check, default_now(), &Thresholds::default())
    }

    /// Runs one check on this host at [`default_now`] with `thresholds`.
    pub fn run_with(&self, check: &dyn Check, thresholds: &Thresholds) -> CheckResult {
        self.run_at(check, default_now(), thresholds)
    }

    /// Runs one check on this host at `now` with `thresholds`, and asserts what
    /// every result owes its reader: the check's own id, a summary, and a reason
    /// when the verdict is `unknown` or `not_applicable`.
    pub fn run_at(
        &self,
        check: &dyn Check,
        now: DateTime<Utc>,
        thresholds: &Thresholds,
    ) -> CheckResult {
        let host = self.host();
        let ctx = Context::new(&host, now, thresholds);
        let result = check.run(&ctx);
        assert_eq!(result.check, check.id(), "{result:?}");
        assert!(!result.summary.is_empty(), "{result:?}");
        if matches!(result.status, Status::Unknown | Status::NotApplicable) {
            assert!(result.reason.is_some(), "{result:?}");
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_sees_later_changes_and_a_clone_does_not() {
        let mut fake = FakeHost::linux().file("/etc/a", "1");
        let host = fake.host();
        let copy = fake.clone();
        fake.add_file("/etc/a", "2");
        fake.add_file("/etc/b", "new");
        assert_eq!(host.read_string("/etc/a").unwrap(), "2");
        assert_eq!(host.list_dir("/etc").unwrap(), vec!["a", "b"]);
        assert_eq!(copy.host().read_string("/etc/a").unwrap(), "1");
        assert!(!copy.host().exists("/etc/b"));
    }

    #[test]
    fn remove_takes_a_path_and_everything_under_it_but_not_a_link_target() {
        let mut fake = FakeHost::linux()
            .file("/sys/class/block/sda/dev", "8:0\n")
            .file("/sys/classic", "kept")
            .file("/data/x", "target")
            .link("/etc/x", "/data/x")
            .deny("/sys/class/block");
        fake.remove("/sys/class");
        fake.remove("/etc/x");
        fake.remove("/not/there");
        let host = fake.host();
        assert!(!host.exists("/sys/class"));
        assert_eq!(host.list_dir("/sys").unwrap(), vec!["classic"]);
        assert!(!host.is_symlink("/etc/x"));
        assert_eq!(host.read_string("/data/x").unwrap(), "target");
        // A path made again after removal is not denied any more.
        fake.add_file("/sys/class/block/sdb/dev", "8:16\n");
        assert_eq!(
            host.read_string("/sys/class/block/sdb/dev").unwrap(),
            "8:16\n"
        );
    }

    #[test]
    fn files_and_mtimes_are_set_and_replaced() {
        let then = default_mtime() - Duration::from_secs(86_400);
        let mut fake = FakeHost::linux().files(&[("/etc/a", "1"), ("/var/b", "2")]);
        fake.add_file_at("/var/b", "22", then);
        fake.add_special("/dev/null");
        let host = fake.host();
        assert_eq!(host.read_string("/etc/a").unwrap(), "1");
        assert_eq!(
            host.metadata("/etc/a").unwrap().modified().unwrap(),
            default_mtime()
        );
        assert_eq!(host.read_string("/var/b").unwrap(), "22");
        assert_eq!(host.metadata("/var/b").unwrap().modified().unwrap(), then);
        fake.set_mtime("/etc/a", then);
        assert_eq!(host.metadata("/etc/a").unwrap().modified().unwrap(), then);
        assert!(matches!(
            host.read("/dev/null"),
            Err(super::super::ReadError::NotAFile { .. })
        ));
    }

    /// Reports what it was given: the time, a threshold and one file.
    struct Echo;

    impl Check for Echo {
        fn id(&self) -> &'static str {
            "test.echo"
        }

        fn run(&self, ctx: &Context<'_>) -> CheckResult {
            let content = ctx.host.read_string("/etc/echo").unwrap_or_default();
            CheckResult::undecided(self.id(), Status::Unknown, "echo")
                .fact("now", ctx.now.to_rfc3339())
                .fact("max_days", ctx.thresholds.password_max_days)
                .fact("content", content)
        }
    }

    #[test]
    fn run_gives_the_check_the_fake_a_fixed_time_and_the_thresholds() {
        let fake = FakeHost::linux().file("/etc/echo", "hi");
        let r = fake.run(&Echo);
        assert_eq!(r.facts["now"], "2026-11-25T12:00:00+00:00");
        assert_eq!(r.facts["max_days"], 365);
        assert_eq!(r.facts["content"], "hi");
        let t = Thresholds {
            password_max_days: 90,
            ..Thresholds::default()
        };
        assert_eq!(fake.run_with(&Echo, &t).facts["max_days"], 90);
        let r = fake.run_at(&Echo, DateTime::UNIX_EPOCH, &t);
        assert_eq!(r.facts["now"], "1970-01-01T00:00:00+00:00");
    }
}
