//! Captures: recorded outputs of live sources, replayed in place of running them.
//!
//! The layout (`docs/agent.md`, "Captures and replay"):
//!
//! ```text
//! ROOT/_captures/manifest.json          what was captured, on which OS, with what argv
//! ROOT/_captures/<source-id>.stdout     raw bytes exactly as produced (commands)
//! ROOT/_captures/<source-id>.stderr     when the check reads standard error
//! ROOT/_captures/<source-id>.json       api sources: the fixed layout of the source table
//! ```
//!
//! Replay is explicit (`attest-agent collect --root DIR --replay DIR/_captures`): the
//! agent never looks for captures by itself, as a disk image under analysis could
//! carry forged ones. Every source of the manifest must be one of the agent's source
//! table ([`super::sources`]) with the same argv or name, else the whole capture set
//! is refused: a command that changed cannot go on replaying old output. A source
//! missing from the manifest answers "not captured"; one captured with
//! `status: error` answers that error.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use attest_proto::Platform;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::sources::{self, Source, SourceKind, UserSource};

/// The schema of `manifest.json`.
pub const CAPTURES_SCHEMA: &str = "attest.captures/v1";

/// The largest capture file read (the same bound as a live command's output).
pub const MAX_CAPTURE_BYTES: u64 = 64 * 1024 * 1024;

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema: String,
    pub os: Platform,
    /// When the capture was made (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The machine it was made on (build, edition, model…), free-form.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub captured_on: serde_json::Map<String, Value>,
    pub sources: BTreeMap<String, ManifestEntry>,
}

/// One captured source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    /// `command` or `api`.
    pub kind: String,
    /// Commands: the argv as run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    /// Api sources: what was called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Commands: the exit code (absent when killed by a signal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// `ok` (the default) or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// With `status: error`: the error as the source gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What one source answered when it was captured.
#[derive(Debug, Clone, PartialEq)]
pub enum Captured {
    Command {
        exit_code: Option<i32>,
        stdout: String,
        stderr: String,
    },
    Api(Value),
    /// The source failed; replayed as that failure.
    Error(String),
}

/// Why a capture set cannot be replayed. Each names the file or source and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("--replay {dir}: {source}")]
    Io { dir: String, source: std::io::Error },
    #[error("--replay {dir}: {file}: {why}")]
    Invalid {
        dir: String,
        file: String,
        why: String,
    },
    #[error(
        "--replay {dir}: source {id} was captured as {captured:?}, but the agent's source \
         table runs {table:?}: capture it again with this agent"
    )]
    Drift {
        dir: String,
        id: String,
        captured: String,
        table: String,
    },
    #[error("--replay {dir}: the captures are of a {captured} host, the root is {root}")]
    WrongOs {
        dir: String,
        captured: Platform,
        root: String,
    },
}

/// A capture set, read whole and checked against the source table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Captures {
    pub(crate) os: Option<Platform>,
    pub(crate) answers: BTreeMap<String, Captured>,
}

impl Captures {
    /// An in-memory capture set (the unit tests' fake host answers from one).
    pub fn new(os: Platform) -> Self {
        Captures {
            os: Some(os),
            answers: BTreeMap::new(),
        }
    }

    /// Records what `source` answered.
    pub fn insert(&mut self, source: &Source, captured: Captured) {
        self.answers.insert(source.id.to_owned(), captured);
    }

    /// The OS the captures were made on.
    pub fn os(&self) -> Option<Platform> {
        self.os
    }

    /// What `source` answered, or `None` when it was not captured.
    pub fn get(&self, source: &Source) -> Option<&Captured> {
        self.answers.get(source.id)
    }

    /// Records what the source with capture id `id` answered (a per-user source's
    /// id names its user).
    pub fn insert_id(&mut self, id: String, captured: Captured) {
        self.answers.insert(id, captured);
    }

    /// What the source with capture id `id` answered.
    pub fn get_id(&self, id: &str) -> Option<&Captured> {
        self.answers.get(id)
    }

    /// The users a per-user source was captured for, sorted.
    pub fn users(&self, source: &UserSource) -> Vec<String> {
        self.answers
            .keys()
            .filter_map(|id| source.user_of(id))
            .map(str::to_owned)
            .collect()
    }

    /// Reads and checks `dir/manifest.json` and every file it names.
    pub fn open(dir: &Path) -> Result<Captures, ReplayError> {
        let shown = dir.display().to_string();
        let invalid = |file: &str, why: String| ReplayError::Invalid {
            dir: shown.clone(),
            file: file.to_owned(),
            why,
        };
        let manifest_bytes =
            read_regular(&dir.join("manifest.json"), 1024 * 1024).map_err(|e| match e {
                FileError::Io(source) => ReplayError::Io {
                    dir: shown.clone(),
                    source,
                },
                FileError::Invalid(why) => invalid("manifest.json", why),
            })?;
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| invalid("manifest.json", e.to_string()))?;
        if manifest.schema != CAPTURES_SCHEMA {
            return Err(invalid(
                "manifest.json",
                format!(
                    "schema is {:?}, expected {CAPTURES_SCHEMA:?}",
                    manifest.schema
                ),
            ));
        }
        let mut answers = BTreeMap::new();
        for (id, entry) in &manifest.sources {
            let (platform, kind) = if let Some(source) = sources::by_id(id) {
                (source.platform, source.kind)
            } else if let Some((family, _user)) = sources::user_source_of(id) {
                (family.platform, family.kind())
            } else {
                return Err(invalid(
                    "manifest.json",
                    format!("source {id:?} is not in the agent's source table"),
                ));
            };
            if platform != manifest.os {
                return Err(invalid(
                    "manifest.json",
                    format!(
                        "source {id} is a {platform} source in a {} capture",
                        manifest.os
                    ),
                ));
            }
            let captured = check_entry(dir, &shown, id, kind, entry)?;
            answers.insert(id.clone(), captured);
        }
        Ok(Captures {
            os: Some(manifest.os),
            answers,
        })
    }
}

/// Checks one manifest entry against the table and reads its files.
fn check_entry(
    dir: &Path,
    shown: &str,
    id: &str,
    kind: SourceKind,
    entry: &ManifestEntry,
) -> Result<Captured, ReplayError> {
    let invalid = |file: String, why: String| ReplayError::Invalid {
        dir: shown.to_owned(),
        file,
        why,
    };
    let read = |name: String, required: bool| -> Result<Option<Vec<u8>>, ReplayError> {
        match read_regular(&dir.join(&name), MAX_CAPTURE_BYTES) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(FileError::Io(e)) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                Ok(None)
            }
            Err(FileError::Io(e)) => Err(invalid(name, e.to_string())),
            Err(FileError::Invalid(why)) => Err(invalid(name, why)),
        }
    };
    match (kind, entry.kind.as_str()) {
        (SourceKind::Command { argv, .. }, "command") => {
            let table: Vec<String> = argv.iter().map(|a| (*a).to_owned()).collect();
            if entry.argv.as_ref() != Some(&table) {
                return Err(ReplayError::Drift {
                    dir: shown.to_owned(),
                    id: id.to_owned(),
                    captured: entry.argv.clone().unwrap_or_default().join(" "),
                    table: table.join(" "),
                });
            }
        }
        (SourceKind::Api { name }, "api") => {
            if let Some(captured) = &entry.name
                && captured != name
            {
                return Err(ReplayError::Drift {
                    dir: shown.to_owned(),
                    id: id.to_owned(),
                    captured: captured.clone(),
                    table: name.to_owned(),
                });
            }
        }
        (_, kind) => {
            return Err(invalid(
                "manifest.json".to_owned(),
                format!("source {id} is captured as kind {kind:?}"),
            ));
        }
    }
    match entry.status.as_deref() {
        None | Some("ok") => {}
        Some("error") => {
            return Ok(Captured::Error(
                entry
                    .error
                    .clone()
                    .unwrap_or_else(|| "failed (no error recorded)".to_owned()),
            ));
        }
        Some(other) => {
            return Err(invalid(
                "manifest.json".to_owned(),
                format!("source {id}: status {other:?} is neither ok nor error"),
            ));
        }
    }
    let text = |bytes: Vec<u8>| match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    match kind {
        SourceKind::Command { .. } => {
            let stdout = read(format!("{}.stdout", id), true)?.unwrap_or_default();
            let stderr = read(format!("{}.stderr", id), false)?.unwrap_or_default();
            Ok(Captured::Command {
                exit_code: entry.exit_code,
                stdout: text(stdout),
                stderr: text(stderr),
            })
        }
        SourceKind::Api { .. } => {
            let name = format!("{}.json", id);
            let bytes = read(name.clone(), true)?.unwrap_or_default();
            let value: Value =
                serde_json::from_slice(&bytes).map_err(|e| invalid(name, e.to_string()))?;
            Ok(Captured::Api(value))
        }
    }
}

enum FileError {
    Io(std::io::Error),
    Invalid(String),
}

/// A regular file (never followed through a symlink), at most `limit` bytes.
fn read_regular(path: &PathBuf, limit: u64) -> Result<Vec<u8>, FileError> {
    let meta = fs::symlink_metadata(path).map_err(FileError::Io)?;
    if !meta.file_type().is_file() {
        return Err(FileError::Invalid("not a regular file".to_owned()));
    }
    if meta.len() > limit {
        return Err(FileError::Invalid(format!("larger than {limit} bytes")));
    }
    let mut buf = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut buf))
        .map_err(FileError::Io)?;
    if buf.len() as u64 > limit {
        return Err(FileError::Invalid(format!("larger than {limit} bytes")));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::sources::MACOS_SYSADMINCTL_SCREENLOCK;

    fn write(dir: &Path, name: &str, content: &str) {
        fs::write(dir.join(name), content).unwrap();
    }

    #[test]
    fn per_user_captures_are_accepted_with_the_family_argv_only() {
        let d = tempfile::tempdir().unwrap();
        let manifest = |argv: &str| {
            format!(
                r#"{{"schema": "attest.captures/v1", "os": "macos", "sources": {{
                "macos.sysadminctl.screenlock.alice": {{"kind": "command", "argv": {argv}, "exit_code": 0}},
                "macos.sysadminctl.screenlock.bob": {{"kind": "command", "argv": {argv}, "status": "error", "error": "no session"}}}}}}"#
            )
        };
        write(
            d.path(),
            "manifest.json",
            &manifest(r#"["/usr/sbin/sysadminctl", "-screenLock", "status"]"#),
        );
        write(d.path(), "macos.sysadminctl.screenlock.alice.stdout", "");
        write(
            d.path(),
            "macos.sysadminctl.screenlock.alice.stderr",
            "screenLock delay is immediate\n",
        );
        let c = Captures::open(d.path()).unwrap();
        assert_eq!(c.users(&MACOS_SYSADMINCTL_SCREENLOCK), ["alice", "bob"]);
        assert!(matches!(
            c.get_id("macos.sysadminctl.screenlock.alice"),
            Some(Captured::Command { stderr, .. }) if stderr.contains("immediate")
        ));
        assert!(matches!(
            c.get_id("macos.sysadminctl.screenlock.bob"),
            Some(Captured::Error(_))
        ));
        // The user in argv is drift.
        write(
            d.path(),
            "manifest.json",
            &manifest(r#"["/usr/sbin/sysadminctl", "-screenLock", "status", "alice"]"#),
        );
        assert!(matches!(
            Captures::open(d.path()),
            Err(ReplayError::Drift { .. })
        ));
        // A name that cannot be a user of the family is not in the table.
        write(
            d.path(),
            "manifest.json",
            r#"{"schema": "attest.captures/v1", "os": "macos", "sources": {
            "macos.sysadminctl.screenlock.Alice": {"kind": "command", "argv": ["/usr/sbin/sysadminctl", "-screenLock", "status"]}}}"#,
        );
        let err = Captures::open(d.path()).unwrap_err();
        assert!(
            err.to_string().contains("not in the agent's source table"),
            "{err}"
        );
    }
}
