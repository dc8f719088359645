//! The Windows registry of a host: the live registry (64-bit view) on a live
//! Windows host, the hive files under the root otherwise.
//!
//! Keys are written below their hive's root as on a live host:
//! `SOFTWARE\Microsoft\Windows NT\CurrentVersion`, `SYSTEM\CurrentControlSet\…`,
//! `SAM\…`, `SECURITY\…` below `HKEY_LOCAL_MACHINE`, and any key of a user's hive
//! for [`Host::registry_user`]. Offline:
//!
//! - the first component picks the hive file `Windows/System32/config/<NAME>`
//!   (case-insensitively, as every Windows path); a user's hive is
//!   `Users/<profile>/NTUSER.DAT`;
//! - `SYSTEM\CurrentControlSet` is `SYSTEM\ControlSet00N`, N being the DWORD
//!   `SYSTEM\Select\Current` (there is no CurrentControlSet in a hive file);
//! - a dirty hive is read with its `.LOG1`/`.LOG2` applied, or not at all
//!   ("dirty hive without usable logs");
//! - each hive file is read and parsed once per [`Host`] (and its clones);
//! - `HARDWARE` is volatile (only in memory): it has no hive file.
//!
//! A key or value that does not exist is [`SourceError::NotInstalled`], live and
//! offline alike; anything else that fails is [`SourceError::Failed`] with the
//! reason.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::regf::{self, BaseBlock, Hive, HiveError};
use super::{Answers, Detected, Host, Platform, RegistryValue, SourceError};

/// Where the hive files of the machine's keys are.
pub const CONFIG_DIR: &str = "/Windows/System32/config";
/// The hives of `HKEY_LOCAL_MACHINE` that have a file.
pub const MACHINE_HIVES: [&str; 4] = ["SYSTEM", "SOFTWARE", "SAM", "SECURITY"];

/// Which hive a key is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hkey {
    /// `HKEY_LOCAL_MACHINE`.
    Machine,
    /// The hive of the user whose profile directory is `Users/<name>`.
    User(String),
}

impl Hkey {
    /// How keys of this hive are named in reasons and evidence.
    pub fn prefix(&self) -> String {
        match self {
            Hkey::Machine => "HKLM".to_owned(),
            Hkey::User(name) => format!("HKU\\{name}"),
        }
    }

    /// `HKLM\key` or `HKU\<profile>\key`.
    pub fn name(&self, key: &str) -> String {
        format!("{}\\{}", self.prefix(), key.trim_matches('\\'))
    }
}

/// What a registry read is evidence of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryOrigin {
    /// A call to the live registry.
    Live,
    /// A hive file under the root, and the SHA-256 (`sha256:<hex>`) of its bytes
    /// as read (before any log was applied).
    File { path: String, sha256: String },
}

/// A hive file read and parsed.
#[derive(Debug)]
pub(crate) struct LoadedHive {
    hive: Hive,
    path: String,
    sha256: String,
}

/// The hives of a host, each parsed once: by host path, the hive or why not.
#[derive(Debug, Default)]
pub(crate) struct HiveCache(Mutex<BTreeMap<String, Arc<Result<LoadedHive, String>>>>);

/// One way of reading the registry: live, hive files, or the tests' fake. `what`
/// in errors names the key (and value) as [`Hkey::name`] does.
pub(crate) trait RegistryRead: std::fmt::Debug + Send + Sync {
    fn value(&self, hkey: &Hkey, key: &str, value: &str) -> Result<RegistryValue, SourceError>;
    fn subkeys(&self, hkey: &Hkey, key: &str) -> Result<Vec<String>, SourceError>;
    fn values(&self, hkey: &Hkey, key: &str) -> Result<Vec<(String, RegistryValue)>, SourceError>;
    /// The type code of a value (`REG_DWORD` = 4, …, or any other number: the
    /// SAM stores a user's RID as the type of `Names\<name>`'s default value).
    fn kind(&self, hkey: &Hkey, key: &str, value: &str) -> Result<u32, SourceError>;
}

/// The live registry of this machine: `HKEY_LOCAL_MACHINE`, and a user's hive
/// (`HKEY_USERS\<SID>`) while that user's session has it loaded ([`live_user`]).
#[derive(Debug)]
struct LiveRegistry;

impl RegistryRead for LiveRegistry {
    fn value(&self, hkey: &Hkey, key: &str, value: &str) -> Result<RegistryValue, SourceError> {
        match hkey {
            Hkey::Machine => super::live::registry(key, value),
            Hkey::User(profile) => live_user::value(profile, key, value),
        }
    }

    fn subkeys(&self, hkey: &Hkey, key: &str) -> Result<Vec<String>, SourceError> {
        match hkey {
            Hkey::Machine => super::live::registry_subkeys(key),
            Hkey::User(profile) => live_user::subkeys(profile, key),
        }
    }

    fn values(&self, hkey: &Hkey, key: &str) -> Result<Vec<(String, RegistryValue)>, SourceError> {
        match hkey {
            Hkey::Machine => super::live::registry_values(key),
            Hkey::User(profile) => live_user::values(profile, key),
        }
    }

    fn kind(&self, hkey: &Hkey, key: &str, value: &str) -> Result<u32, SourceError> {
        match hkey {
            Hkey::Machine => super::live::registry_kind(key, value),
            Hkey::User(profile) => live_user::kind(profile, key, value),
        }
    }
}

/// Where Windows lists the profiles: one subkey per SID, its `ProfileImagePath`
/// the profile directory (`%SystemDrive%\Users\alice`, `C:\Users\alice`).
#[cfg_attr(not(windows), allow(dead_code))]
pub const PROFILE_LIST: &str = "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList";

/// The last component of a profile path, whatever the separator.
#[cfg_attr(not(windows), allow(dead_code))]
fn profile_dir_name(path: &str) -> &str {
    path.trim_end_matches(['\\', '/'])
        .rsplit(['\\', '/'])
        .next()
        .unwrap_or_default()
}

/// The SIDs of `ProfileList` (`(SID, ProfileImagePath)` in the key's order) whose
/// profile directory is named `profile`, compared as Windows compares file names
/// (case-insensitively). A `<SID>.bak` subkey is the profile service's backup of a
/// damaged entry, never a loaded hive: skipped. Several SIDs may share a name
/// (`D:\Users\alice` and `C:\Users\alice`, or an old account's leftover): all
/// are returned and the first whose hive is loaded answers.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn profile_sids<'a>(profiles: &'a [(String, String)], profile: &str) -> Vec<&'a str> {
    profiles
        .iter()
        .filter(|(sid, _)| !sid.to_ascii_lowercase().ends_with(".bak"))
        .filter(|(_, path)| regf::same_name(profile_dir_name(path), profile))
        .map(|(sid, _)| sid.as_str())
        .collect()
}

/// A user's hive on a live host: `HKEY_USERS\<SID>`, the SID found in
/// [`PROFILE_LIST`] by the profile directory's name ([`profile_sids`]).
///
/// Windows loads a user's hive while the user has a session (or a service runs as
/// that user). When it is not loaded the read is [`SourceError::Failed`] "hive of
/// <profile> not loaded (no session)". The profile's `NTUSER.DAT` is not read
/// instead: on a running system the file is held open with exclusive access by the
/// profile service whenever the hive is loaded, and reading it while unloaded
/// races a logon — a known gap (`docs/agent.md`, "Windows registry").
#[cfg(windows)]
mod live_user {
    use super::super::live::{decoded, registry_failed};
    use super::*;

    /// `ERROR_FILE_NOT_FOUND` as an HRESULT: the key does not exist.
    const NOT_FOUND: u32 = 0x8007_0002;

    fn failed(what: &str, error: String) -> SourceError {
        SourceError::Failed {
            what: what.to_owned(),
            error,
        }
    }

    /// Every `(SID, ProfileImagePath)` of `ProfileList`; a subkey without a
    /// readable path is left out.
    fn profiles(what: &str) -> Result<Vec<(String, String)>, SourceError> {
        let sids = super::super::live::registry_subkeys(PROFILE_LIST)
            .map_err(|e| failed(what, format!("the profile list: {e}")))?;
        Ok(sids
            .into_iter()
            .filter_map(|sid| {
                let key = format!("{PROFILE_LIST}\\{sid}");
                match super::super::live::registry(&key, "ProfileImagePath") {
                    Ok(RegistryValue::String(path)) => Some((sid, path)),
                    _ => None,
                }
            })
            .collect())
    }

    /// Opens `key` of the hive of `profile`.
    fn open(profile: &str, key: &str, what: &str) -> Result<windows_registry::Key, SourceError> {
        let profiles = profiles(what)?;
        let sids = profile_sids(&profiles, profile);
        if sids.is_empty() {
            return Err(failed(
                what,
                format!("no profile directory {profile:?} in HKLM\\{PROFILE_LIST}"),
            ));
        }
        for sid in sids {
            let root = match windows_registry::USERS.options().read().open(sid) {
                Ok(root) => root,
                Err(e) if e.code().0 as u32 == NOT_FOUND => continue,
                Err(e) => {
                    return Err(failed(
                        what,
                        format!("HKU\\{sid}: {} (0x{:08X})", e.message(), e.code().0),
                    ));
                }
            };
            let key = key.trim_matches('\\');
            if key.is_empty() {
                return Ok(root);
            }
            return root
                .options()
                .read()
                .open(key)
                .map_err(|e| registry_failed(what, &e));
        }
        Err(failed(
            what,
            format!("hive of {profile} not loaded (no session)"),
        ))
    }

    pub(super) fn value(
        profile: &str,
        key: &str,
        value: &str,
    ) -> Result<RegistryValue, SourceError> {
        let hkey = Hkey::User(profile.to_owned());
        let what = format!("{}\\{value}", hkey.name(key));
        let opened = open(profile, key, &what)?;
        let v = opened
            .get_value(value)
            .map_err(|e| registry_failed(&what, &e))?;
        decoded(&what, value, &v)
    }

    pub(super) fn kind(profile: &str, key: &str, value: &str) -> Result<u32, SourceError> {
        let hkey = Hkey::User(profile.to_owned());
        let what = format!("{}\\{value}", hkey.name(key));
        let opened = open(profile, key, &what)?;
        let v = opened
            .get_value(value)
            .map_err(|e| registry_failed(&what, &e))?;
        Ok(super::super::live::type_code(v.ty()))
    }

    pub(super) fn subkeys(profile: &str, key: &str) -> Result<Vec<String>, SourceError> {
        let what = Hkey::User(profile.to_owned()).name(key);
        let opened = open(profile, key, &what)?;
        Ok(opened
            .keys()
            .map_err(|e| registry_failed(&what, &e))?
            .collect())
    }

    pub(super) fn values(
        profile: &str,
        key: &str,
    ) -> Result<Vec<(String, RegistryValue)>, SourceError> {
        let what = Hkey::User(profile.to_owned()).name(key);
        let opened = open(profile, key, &what)?;
        opened
            .values()
            .map_err(|e| registry_failed(&what, &e))?
            .map(|(name, v)| Ok((name.clone(), decoded(&what, &name, &v)?)))
            .collect()
    }
}

/// A user's hive on a live host: Windows builds only.
#[cfg(not(windows))]
mod live_user {
    use super::*;

    pub(super) fn value(
        profile: &str,
        key: &str,
        value: &str,
    ) -> Result<RegistryValue, SourceError> {
        let hkey = Hkey::User(profile.to_owned());
        Err(unsupported_live(format!("{}\\{value}", hkey.name(key))))
    }

    pub(super) fn kind(profile: &str, key: &str, value: &str) -> Result<u32, SourceError> {
        let hkey = Hkey::User(profile.to_owned());
        Err(unsupported_live(format!("{}\\{value}", hkey.name(key))))
    }

    pub(super) fn subkeys(profile: &str, key: &str) -> Result<Vec<String>, SourceError> {
        Err(unsupported_live(Hkey::User(profile.to_owned()).name(key)))
    }

    pub(super) fn values(
        profile: &str,
        key: &str,
    ) -> Result<Vec<(String, RegistryValue)>, SourceError> {
        Err(unsupported_live(Hkey::User(profile.to_owned()).name(key)))
    }
}

/// The hive files under a host's root.
#[derive(Debug)]
struct HiveFiles<'h>(&'h Host);

impl RegistryRead for HiveFiles<'_> {
    fn value(&self, hkey: &Hkey, key: &str, value: &str) -> Result<RegistryValue, SourceError> {
        let what = format!("{}\\{value}", hkey.name(key));
        let failed = |e: HiveError| hive_failed(what.clone(), &e);
        self.0.with_key(hkey, key, &what, |k| {
            let raw = k
                .value(value)
                .map_err(failed)?
                .ok_or_else(|| SourceError::NotInstalled { what: what.clone() })?;
            raw.decode().map_err(failed)
        })
    }

    fn subkeys(&self, hkey: &Hkey, key: &str) -> Result<Vec<String>, SourceError> {
        let what = hkey.name(key);
        self.0.with_key(hkey, key, &what, |k| {
            k.subkey_names().map_err(|e| hive_failed(what.clone(), &e))
        })
    }

    fn values(&self, hkey: &Hkey, key: &str) -> Result<Vec<(String, RegistryValue)>, SourceError> {
        let what = hkey.name(key);
        self.0.with_key(hkey, key, &what, |k| {
            let failed = |e: HiveError| hive_failed(what.clone(), &e);
            k.values()
                .map_err(failed)?
                .into_iter()
                .map(|v| Ok((v.name.clone(), v.decode().map_err(failed)?)))
                .collect()
        })
    }

    fn kind(&self, hkey: &Hkey, key: &str, value: &str) -> Result<u32, SourceError> {
        let what = format!("{}\\{value}", hkey.name(key));
        self.0.with_key(hkey, key, &what, |k| {
            k.value(value)
                .map_err(|e| hive_failed(what.clone(), &e))?
                .map(|raw| raw.kind)
                .ok_or_else(|| SourceError::NotInstalled { what: what.clone() })
        })
    }
}

/// A key's path in its hive file: the file's host path and the components below
/// its root.
struct Located {
    file: String,
    path: Vec<String>,
}

impl Host {
    /// A value of the registry below `HKEY_LOCAL_MACHINE`, e.g. `key`
    /// `SOFTWARE\Microsoft\Windows NT\CurrentVersion`, `value` `UBR`.
    pub fn registry(&self, key: &str, value: &str) -> Result<RegistryValue, SourceError> {
        self.registry_value(&Hkey::Machine, key, value)
    }

    /// The names of the subkeys of an `HKEY_LOCAL_MACHINE` key, in the hive's order
    /// (sorted case-insensitively).
    pub fn registry_subkeys(&self, key: &str) -> Result<Vec<String>, SourceError> {
        self.registry_subkeys_of(&Hkey::Machine, key)
    }

    /// Every value of an `HKEY_LOCAL_MACHINE` key, with its name (empty for the
    /// default value). A value that cannot be decoded (a DWORD that is not 4
    /// bytes) fails the whole read.
    pub fn registry_values(&self, key: &str) -> Result<Vec<(String, RegistryValue)>, SourceError> {
        self.registry_values_of(&Hkey::Machine, key)
    }

    /// A value of the registry of the user whose profile directory is
    /// `Users/<profile>`: offline its `NTUSER.DAT`; live `HKU\<SID>` while the
    /// user's session has it loaded, else [`SourceError::Failed`] "hive of
    /// <profile> not loaded (no session)".
    pub fn registry_user(
        &self,
        profile: &str,
        key: &str,
        value: &str,
    ) -> Result<RegistryValue, SourceError> {
        self.registry_value(&Hkey::User(profile.to_owned()), key, value)
    }

    /// A value of any hive.
    pub fn registry_value(
        &self,
        hkey: &Hkey,
        key: &str,
        value: &str,
    ) -> Result<RegistryValue, SourceError> {
        let what = format!("{}\\{value}", hkey.name(key));
        self.registry_read(&what, |r| r.value(hkey, key, value))
    }

    /// The type code of a value of any hive, whatever its data: `REG_SZ` = 1,
    /// `REG_DWORD` = 4, … or any other number a writer chose. Windows itself
    /// stores data in types: the SAM's `Users\Names\<name>` key has a default
    /// value whose *type* is the user's RID.
    pub fn registry_value_kind(
        &self,
        hkey: &Hkey,
        key: &str,
        value: &str,
    ) -> Result<u32, SourceError> {
        let what = format!("{}\\{value}", hkey.name(key));
        self.registry_read(&what, |r| r.kind(hkey, key, value))
    }

    /// The subkey names of a key of any hive.
    pub fn registry_subkeys_of(&self, hkey: &Hkey, key: &str) -> Result<Vec<String>, SourceError> {
        self.registry_read(&hkey.name(key), |r| r.subkeys(hkey, key))
    }

    /// The values of a key of any hive.
    pub fn registry_values_of(
        &self,
        hkey: &Hkey,
        key: &str,
    ) -> Result<Vec<(String, RegistryValue)>, SourceError> {
        self.registry_read(&hkey.name(key), |r| r.values(hkey, key))
    }

    /// Runs `f` on the registry that answers this host: the fake's when set, the
    /// live one on a live host, the hive files otherwise. Windows only.
    fn registry_read<T>(
        &self,
        what: &str,
        f: impl FnOnce(&dyn RegistryRead) -> Result<T, SourceError>,
    ) -> Result<T, SourceError> {
        self.windows_only(what)?;
        if let Some(fake) = &self.registry_override {
            f(fake.as_ref())
        } else if matches!(self.answers, Answers::Live) {
            f(&LiveRegistry)
        } else {
            f(&HiveFiles(self))
        }
    }

    /// What a read of `key` is evidence of: the live registry, or the hive file
    /// (read and hashed once). `None` when the hive file cannot be read (the read
    /// itself failed, and its reason says why).
    pub fn registry_origin(&self, hkey: &Hkey, key: &str) -> Option<RegistryOrigin> {
        if self.registry_override.is_some() {
            return Some(if self.is_live() {
                RegistryOrigin::Live
            } else {
                RegistryOrigin::File {
                    path: locate(self, hkey, key, "").ok()?.file,
                    sha256: crate::checks::sha256(b""),
                }
            });
        }
        if matches!(self.answers, Answers::Live) {
            return Some(RegistryOrigin::Live);
        }
        let located = locate(self, hkey, key, "").ok()?;
        let loaded = self.hive(&located.file);
        let loaded = loaded.as_ref().as_ref().ok()?;
        Some(RegistryOrigin::File {
            path: loaded.path.clone(),
            sha256: loaded.sha256.clone(),
        })
    }

    fn windows_only(&self, what: &str) -> Result<(), SourceError> {
        if self.detected == Detected::Os(Platform::Windows) {
            return Ok(());
        }
        Err(SourceError::WrongPlatform {
            what: what.to_owned(),
            source_os: Platform::Windows,
            host_os: self
                .platform()
                .map_or_else(|| "no known OS".to_owned(), |p| p.label().to_owned()),
        })
    }

    /// Runs `f` on the key `key` of a hive file under the root; `what` names the
    /// read in errors.
    fn with_key<T>(
        &self,
        hkey: &Hkey,
        key: &str,
        what: &str,
        f: impl FnOnce(regf::Key<'_>) -> Result<T, SourceError>,
    ) -> Result<T, SourceError> {
        let what = what.to_owned();
        let located = locate(self, hkey, key, &what)?;
        let loaded = self.hive(&located.file);
        let loaded = match loaded.as_ref() {
            Ok(l) => l,
            Err(error) => {
                return Err(SourceError::Failed {
                    what,
                    error: error.clone(),
                });
            }
        };
        let found = loaded
            .hive
            .root()
            .subkey_path(&located.path)
            .map_err(|e| hive_failed(what.clone(), &e))?;
        match found {
            Some(k) => f(k),
            None => Err(SourceError::NotInstalled { what }),
        }
    }

    /// The hive file at `path`, read and parsed once.
    fn hive(&self, path: &str) -> Arc<Result<LoadedHive, String>> {
        let mut cache = self.hives.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = cache.get(path) {
            return found.clone();
        }
        let loaded = Arc::new(self.load_hive(path));
        cache.insert(path.to_owned(), loaded.clone());
        loaded
    }

    fn load_hive(&self, path: &str) -> Result<LoadedHive, String> {
        let bytes = self.read(path).map_err(|e| e.to_string())?;
        let sha256 = crate::checks::sha256(&bytes);
        let canonical = self.canonical(path).unwrap_or_else(|_| path.to_owned());
        // The logs are read only for a dirty hive; a missing or unreadable log is
        // one fewer log.
        // A torn base block (wrong checksum) needs the logs too.
        let dirty =
            BaseBlock::parse(&bytes).map_or_else(|e| e == HiveError::Checksum, |b| b.is_dirty());
        let logs: Vec<Vec<u8>> = if dirty {
            ["LOG1", "LOG2"]
                .iter()
                .filter_map(|ext| self.read(&format!("{path}.{ext}")).ok())
                .collect()
        } else {
            Vec::new()
        };
        let logs: Vec<&[u8]> = logs.iter().map(Vec::as_slice).collect();
        let hive = Hive::from_vec(bytes, &logs).map_err(|e| format!("{canonical}: {e}"))?;
        Ok(LoadedHive {
            hive,
            path: canonical,
            sha256,
        })
    }
}

#[cfg(not(windows))]
fn unsupported_live(what: String) -> SourceError {
    SourceError::Unsupported {
        what: format!("{what} (a user's hive on a live host)"),
    }
}

fn hive_failed(what: String, e: &HiveError) -> SourceError {
    SourceError::Failed {
        what,
        error: e.to_string(),
    }
}

/// The components of a key path.
fn components(key: &str) -> Vec<String> {
    key.split('\\')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The hive file holding `key` and its path below the hive's root, with
/// `SYSTEM\CurrentControlSet` resolved.
fn locate(host: &Host, hkey: &Hkey, key: &str, what: &str) -> Result<Located, SourceError> {
    let failed = |error: String| SourceError::Failed {
        what: what.to_owned(),
        error,
    };
    let mut parts = components(key);
    match hkey {
        Hkey::User(profile) => {
            if profile.is_empty()
                || profile.contains(['/', '\\'])
                || profile == "."
                || profile == ".."
            {
                return Err(failed(format!(
                    "{profile:?} is not a profile directory name"
                )));
            }
            Ok(Located {
                file: format!("/Users/{profile}/NTUSER.DAT"),
                path: parts,
            })
        }
        Hkey::Machine => {
            if parts.is_empty() {
                return Err(failed("HKLM itself has no hive file".to_owned()));
            }
            let first = parts.remove(0);
            if regf::same_name(&first, "HARDWARE") {
                return Err(failed(
                    "HKLM\\HARDWARE is volatile: it exists only in memory, not in hive files"
                        .to_owned(),
                ));
            }
            let Some(hive) = MACHINE_HIVES.iter().find(|h| regf::same_name(h, &first)) else {
                return Err(failed(format!("no hive file holds HKLM\\{first}")));
            };
            let file = format!("{CONFIG_DIR}/{hive}");
            if *hive == "SYSTEM"
                && parts
                    .first()
                    .is_some_and(|p| regf::same_name(p, "CurrentControlSet"))
            {
                let set = current_control_set(host, &file).map_err(|e| failed(e.to_string()))?;
                parts[0] = set;
            }
            Ok(Located { file, path: parts })
        }
    }
}

/// `ControlSet00N` from `SYSTEM\Select\Current`.
fn current_control_set(host: &Host, file: &str) -> Result<String, SourceError> {
    let what = "HKLM\\SYSTEM\\Select\\Current".to_owned();
    let loaded = host.hive(file);
    let loaded = loaded
        .as_ref()
        .as_ref()
        .map_err(|error| SourceError::Failed {
            what: what.clone(),
            error: error.clone(),
        })?;
    let failed = |e: HiveError| hive_failed(what.clone(), &e);
    let current = loaded
        .hive
        .key("Select")
        .map_err(failed)?
        .map(|k| k.value("Current"))
        .transpose()
        .map_err(failed)?
        .flatten()
        .ok_or_else(|| SourceError::NotInstalled { what: what.clone() })?;
    match current.decode().map_err(failed)? {
        RegistryValue::Dword(n) if (1..=999).contains(&n) => Ok(format!("ControlSet{n:03}")),
        other => Err(SourceError::Failed {
            what,
            error: format!("not a control set number: {other}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::FakeHost;
    use super::super::regf::writer::{self, Tree};
    use super::*;
    use crate::checks::{registry_evidence, sha256};
    use attest_proto::Evidence;

    fn hive(text: &str, prefix: &str) -> Vec<u8> {
        writer::hive(&Tree::from_reg(text, prefix).unwrap())
    }

    const SOFTWARE: &str = r#"Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion]
"CurrentBuild"="26100"
"UBR"=dword:0000116c
"EditionID"="Enterprise"

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Winlogon]

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Fonts]
"#;

    const SYSTEM: &str = r#"Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\SYSTEM\Select]
"Current"=dword:00000002
"LastKnownGood"=dword:00000001

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\ProductOptions]
"ProductType"="ServerNT"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Control\ProductOptions]
"ProductType"="WinNT"
"#;

    const CURRENT_VERSION: &str = "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion";

    fn windows() -> FakeHost {
        FakeHost::windows()
            .file(
                "/Windows/System32/config/SOFTWARE",
                hive(SOFTWARE, "HKEY_LOCAL_MACHINE\\SOFTWARE"),
            )
            .file(
                "/Windows/System32/config/SYSTEM",
                hive(SYSTEM, "HKEY_LOCAL_MACHINE\\SYSTEM"),
            )
    }

    #[test]
    fn offline_values_come_from_the_hive_files_case_insensitively() {
        let host = windows().host();
        assert_eq!(
            host.registry(CURRENT_VERSION, "UBR").unwrap(),
            RegistryValue::Dword(4460)
        );
        assert_eq!(
            host.registry(
                "software\\MICROSOFT\\windows nt\\currentVERSION",
                "currentbuild"
            )
            .unwrap(),
            RegistryValue::String("26100".into())
        );
        assert_eq!(
            host.registry_subkeys(CURRENT_VERSION).unwrap(),
            ["Fonts", "Winlogon"]
        );
        assert_eq!(
            host.registry_values(CURRENT_VERSION).unwrap(),
            [
                (
                    "CurrentBuild".to_owned(),
                    RegistryValue::String("26100".into())
                ),
                (
                    "EditionID".to_owned(),
                    RegistryValue::String("Enterprise".into())
                ),
                ("UBR".to_owned(), RegistryValue::Dword(4460)),
            ]
        );
        let missing = host
            .registry(CURRENT_VERSION, "DisplayVersion")
            .unwrap_err();
        assert_eq!(
            missing,
            SourceError::NotInstalled {
                what: format!("HKLM\\{CURRENT_VERSION}\\DisplayVersion")
            }
        );
        assert!(matches!(
            host.registry_subkeys("SOFTWARE\\Nope"),
            Err(SourceError::NotInstalled { .. })
        ));
    }

    #[test]
    fn current_control_set_is_the_one_select_current_names() {
        let host = windows().host();
        let key = "SYSTEM\\CurrentControlSet\\Control\\ProductOptions";
        assert_eq!(
            host.registry(key, "ProductType").unwrap(),
            RegistryValue::String("WinNT".into()),
            "Select\\Current = 2: ControlSet002, not ControlSet001"
        );
        assert_eq!(
            host.registry(
                "SYSTEM\\ControlSet001\\Control\\ProductOptions",
                "ProductType"
            )
            .unwrap(),
            RegistryValue::String("ServerNT".into())
        );
        // Without Select\Current there is no current control set.
        let no_select = FakeHost::windows()
            .file(
                "/Windows/System32/config/SYSTEM",
                hive(
                    "[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001]\n",
                    "HKEY_LOCAL_MACHINE\\SYSTEM",
                ),
            )
            .host();
        let err = no_select.registry(key, "ProductType").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("HKLM\\{key}\\ProductType: HKLM\\SYSTEM\\Select\\Current: not installed")
        );
    }

    #[test]
    fn user_hives_are_read_from_the_profile_directory() {
        let ntuser = hive(
            "[HKEY_CURRENT_USER\\Control Panel\\Desktop]\n\"ScreenSaveTimeOut\"=\"600\"\n",
            "HKEY_CURRENT_USER",
        );
        let fake = windows().file("/Users/Alice/ntuser.dat", ntuser);
        let host = fake.host();
        assert_eq!(
            host.registry_user("alice", "Control Panel\\Desktop", "ScreenSaveTimeOut")
                .unwrap(),
            RegistryValue::String("600".into())
        );
        assert_eq!(
            host.registry_values_of(&Hkey::User("Alice".into()), "CONTROL PANEL\\desktop")
                .unwrap()
                .len(),
            1
        );
        let err = host.registry_user("bob", "Control Panel", "x").unwrap_err();
        assert!(
            err.to_string().contains("/Users/bob/NTUSER.DAT: not found"),
            "{err}"
        );
        assert!(matches!(
            host.registry_user("..", "Control Panel", "x"),
            Err(SourceError::Failed { .. })
        ));
    }

    /// Live, a profile directory name finds its SID in ProfileList: the last
    /// component of `ProfileImagePath`, case-insensitively, whatever the drive or
    /// `%SystemDrive%`; `.bak` entries and other directories are not it.
    #[test]
    fn a_profile_directory_names_its_sids_in_the_profile_list() {
        let list: Vec<(String, String)> = [
            ("S-1-5-18", "%systemroot%\\system32\\config\\systemprofile"),
            ("S-1-5-21-1-2-3-1001", "C:\\Users\\Alice"),
            ("S-1-5-21-1-2-3-1001.bak", "C:\\Users\\Alice"),
            ("S-1-5-21-1-2-3-1002", "%SystemDrive%\\Users\\bob\\"),
            ("S-1-12-1-4-5-6-7", "D:\\Users\\alice"),
            ("S-1-5-21-1-2-3-1003", "C:\\Users\\alice.CORP"),
        ]
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
        assert_eq!(
            profile_sids(&list, "alice"),
            ["S-1-5-21-1-2-3-1001", "S-1-12-1-4-5-6-7"]
        );
        assert_eq!(profile_sids(&list, "BOB"), ["S-1-5-21-1-2-3-1002"]);
        assert_eq!(profile_sids(&list, "alice.corp"), ["S-1-5-21-1-2-3-1003"]);
        assert_eq!(profile_sids(&list, "systemprofile"), ["S-1-5-18"]);
        assert!(profile_sids(&list, "Users").is_empty());
        assert!(profile_sids(&list, "carol").is_empty());
        assert_eq!(profile_dir_name("C:/Users/x/"), "x");
        assert_eq!(profile_dir_name(""), "");
    }

    /// A build for another OS has no live user hive: it says so, it does not
    /// read a file instead.
    #[cfg(not(windows))]
    #[test]
    fn a_live_user_hive_is_unsupported_off_windows() {
        let err = LiveRegistry
            .value(&Hkey::User("alice".into()), "Control Panel\\Desktop", "x")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "HKU\\alice\\Control Panel\\Desktop\\x (a user's hive on a live host): not available in this build of the agent"
        );
    }

    #[test]
    fn a_dirty_hive_is_read_with_its_log_or_refused() {
        let prefix = "HKEY_LOCAL_MACHINE\\SOFTWARE";
        let old = Tree::from_reg(SOFTWARE, prefix).unwrap();
        let mut new = old.clone();
        new.apply(
            "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion]\n\"UBR\"=dword:00001200\n",
            prefix,
        )
        .unwrap();
        let (primary, log1) = writer::dirty_hive(&old, &new);
        let without = FakeHost::windows().file("/Windows/System32/config/SOFTWARE", &primary);
        let err = without.host().registry(CURRENT_VERSION, "UBR").unwrap_err();
        assert!(matches!(err, SourceError::Failed { .. }));
        assert!(
            err.to_string()
                .ends_with("SOFTWARE: dirty hive without usable logs: no valid log entries"),
            "{err}"
        );
        // The log's name is matched case-insensitively too.
        let with = without.file("/Windows/System32/config/software.log1", &log1);
        assert_eq!(
            with.host().registry(CURRENT_VERSION, "UBR").unwrap(),
            RegistryValue::Dword(0x1200)
        );
        // A torn base block: the logs are read too, and the log's copy stands in.
        let mut torn = primary.clone();
        torn[300] ^= 1;
        let torn = with.file("/Windows/System32/config/SOFTWARE", &torn);
        assert_eq!(
            torn.host().registry(CURRENT_VERSION, "UBR").unwrap(),
            RegistryValue::Dword(0x1200)
        );
    }

    #[test]
    fn a_hive_is_parsed_once_per_host() {
        let mut fake = windows();
        let host = fake.host();
        let copy = host.clone();
        assert_eq!(
            host.registry(CURRENT_VERSION, "UBR").unwrap(),
            RegistryValue::Dword(4460)
        );
        fake.add_file(
            "/Windows/System32/config/SOFTWARE",
            hive(
                "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion]\n\"UBR\"=dword:1\n",
                "HKEY_LOCAL_MACHINE\\SOFTWARE",
            ),
        );
        // The host and its clones keep the hive they parsed; a new host reads the
        // file again.
        assert_eq!(
            copy.registry(CURRENT_VERSION, "UBR").unwrap(),
            RegistryValue::Dword(4460)
        );
        assert_eq!(
            fake.host().registry(CURRENT_VERSION, "UBR").unwrap(),
            RegistryValue::Dword(1)
        );
    }

    #[test]
    fn keys_without_a_hive_file_and_other_oses_are_refused() {
        let host = windows().host();
        let volatile = host
            .registry("HARDWARE\\DESCRIPTION\\System", "x")
            .unwrap_err();
        assert!(volatile.to_string().contains("volatile"), "{volatile}");
        let none = host.registry("BCD00000000\\Objects", "x").unwrap_err();
        assert!(
            none.to_string()
                .ends_with("no hive file holds HKLM\\BCD00000000"),
            "{none}"
        );
        let sam = host.registry("SAM\\SAM\\Domains", "F").unwrap_err();
        assert!(
            sam.to_string()
                .contains("/Windows/System32/config/SAM: not found"),
            "{sam}"
        );
        let empty = FakeHost::windows().host();
        let err = empty.registry(CURRENT_VERSION, "UBR").unwrap_err();
        assert!(err.to_string().contains("not a registry hive"), "{err}");
        let linux = FakeHost::linux().host();
        assert!(matches!(
            linux.registry_subkeys("SOFTWARE"),
            Err(SourceError::WrongPlatform { .. })
        ));
    }

    #[test]
    fn offline_evidence_is_the_hive_file_and_live_evidence_an_api_call() {
        let software = hive(SOFTWARE, "HKEY_LOCAL_MACHINE\\SOFTWARE");
        let host = FakeHost::empty()
            .file("/windows/system32/config/software", &software)
            .host();
        let v = host.registry(CURRENT_VERSION, "UBR").unwrap();
        let excerpt = format!("HKLM\\{CURRENT_VERSION}\\UBR = 4460 (REG_DWORD)");
        assert_eq!(
            registry_evidence(&host, &Hkey::Machine, CURRENT_VERSION, "UBR", &v),
            Evidence::File {
                path: "/windows/system32/config/software".into(),
                excerpt: excerpt.clone(),
                sha256: sha256(&software),
            }
        );
        let live = FakeHost::windows()
            .live()
            .reg_value(CURRENT_VERSION, "UBR", RegistryValue::Dword(4460))
            .host();
        let v = live.registry(CURRENT_VERSION, "ubr").unwrap();
        let Evidence::Api {
            name,
            excerpt: got,
            sha256: hash,
        } = registry_evidence(&live, &Hkey::Machine, CURRENT_VERSION, "UBR", &v)
        else {
            panic!("not api evidence");
        };
        assert_eq!(name, format!("HKLM\\{CURRENT_VERSION}"));
        assert_eq!(got, excerpt);
        assert_eq!(
            hash,
            sha256(br#"{"data":4460,"type":"REG_DWORD","value":"UBR"}"#)
        );
        // Long values are cut in the excerpt.
        let long = RegistryValue::String("x".repeat(500));
        let e = registry_evidence(&live, &Hkey::Machine, CURRENT_VERSION, "Long", &long);
        let Evidence::Api { excerpt, .. } = e else {
            panic!("not api evidence");
        };
        assert!(
            excerpt.chars().count() < 300 && excerpt.ends_with('…'),
            "{excerpt}"
        );
    }

    /// The SAM keeps a user's RID as the type of `Names\<name>`'s default value:
    /// the type code is read whatever it is, from hive files and the fake alike.
    #[test]
    fn the_type_of_a_value_is_read_whatever_its_data() {
        let text = "[HKEY_LOCAL_MACHINE\\SAM\\SAM\\Domains\\Account\\Users\\Names\\alice]\n@=hex(3e9):\n\"F\"=hex:01,02\n";
        let sam = hive(text, "HKEY_LOCAL_MACHINE\\SAM");
        let names = "SAM\\SAM\\Domains\\Account\\Users\\Names\\alice";
        let file = FakeHost::windows().file("/Windows/System32/config/SAM", sam);
        let fake = FakeHost::windows()
            .reg_typed(names, "", 0x3e9, &[])
            .reg_value(names, "F", RegistryValue::Binary(vec![1, 2]));
        for host in [file.host(), fake.host()] {
            assert_eq!(
                host.registry_value_kind(&Hkey::Machine, names, "").unwrap(),
                0x3e9
            );
            assert_eq!(
                host.registry_value_kind(&Hkey::Machine, names, "f")
                    .unwrap(),
                3
            );
            // Its data: empty bytes, as the reader decodes an unknown type.
            assert_eq!(
                host.registry(names, "").unwrap(),
                RegistryValue::Binary(vec![])
            );
            assert!(matches!(
                host.registry_value_kind(&Hkey::Machine, names, "V"),
                Err(SourceError::NotInstalled { .. })
            ));
            assert!(matches!(
                host.registry_value_kind(&Hkey::Machine, "SAM\\SAM\\Nope", ""),
                Err(SourceError::NotInstalled { .. })
            ));
        }
    }

    #[test]
    fn the_fake_registry_answers_live_and_offline_alike() {
        for fake in [FakeHost::windows(), FakeHost::windows().live()] {
            let host = fake
                .reg_value(CURRENT_VERSION, "UBR", RegistryValue::Dword(4460))
                .reg_key("SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon")
                .reg_key("SOFTWARE\\Policies")
                .reg_error("SOFTWARE\\Secret", "access denied")
                .reg_user_value(
                    "alice",
                    "Control Panel\\Desktop",
                    "ScreenSaveActive",
                    RegistryValue::String("1".into()),
                )
                .host();
            assert_eq!(
                host.registry("software\\microsoft\\WINDOWS NT\\currentversion", "ubr")
                    .unwrap(),
                RegistryValue::Dword(4460)
            );
            assert_eq!(
                host.registry_subkeys("SOFTWARE").unwrap(),
                ["Microsoft", "Policies", "Secret"]
            );
            assert_eq!(
                host.registry_subkeys(CURRENT_VERSION).unwrap(),
                ["Winlogon"]
            );
            assert_eq!(host.registry_values("SOFTWARE\\Policies").unwrap(), []);
            assert!(matches!(
                host.registry(CURRENT_VERSION, "CurrentBuild"),
                Err(SourceError::NotInstalled { .. })
            ));
            assert!(matches!(
                host.registry_values("SOFTWARE\\Nope"),
                Err(SourceError::NotInstalled { .. })
            ));
            assert_eq!(
                host.registry("SOFTWARE\\Secret", "x")
                    .unwrap_err()
                    .to_string(),
                "HKLM\\SOFTWARE\\Secret\\x: access denied"
            );
            assert_eq!(
                host.registry_user("Alice", "control panel\\desktop", "screensaveactive")
                    .unwrap(),
                RegistryValue::String("1".into())
            );
        }
    }
}
