//! Inventory lists: the package list of `inventory.software` as a document of its
//! own, kept next to the spool and sent to the collector only when it changes.
//!
//! # What the agent signs
//!
//! Once the collector is known to take inventory lists (a `POST
//! /v1/inventory-lists` succeeded: [`ListState::accepted`], saved in
//! `<state dir>/inventory-lists.json`), each report is signed as `attest.report/v3`:
//! [`attest_proto::inventory::split`] moves the `packages` fact out into the list
//! document and puts the list's address (`sha256:<hex>` of the document) in its place,
//! so the signed statement still commits to the whole list. Until then, and when the
//! collector answered 404 (a collector that predates lists), reports keep the list
//! inline (v1/v2) and the agent asks again a day later ([`PROBE_AGAIN`]).
//!
//! # On disk
//!
//! Every list collected is written to `<spool>/lists/<hex>.json` (the document's exact
//! bytes, named by the hex of its address) **before** the report that names it enters
//! the spool, with a durable write (temporary file, fsync, rename, directory fsync).
//! Reading one checks its address again; a damaged file is deleted and counts as
//! missing. When the spool is empty after a drain, every list but the latest (kept to
//! ask the collector whether it takes lists) is deleted: no pending record needs them.
//!
//! # Delivery
//!
//! Before sending a v3 record, the agent sends its list when the address differs from
//! the last one the collector acknowledged ([`ListState::acknowledged`]), so the
//! normal path is one request per report. If the collector still answers
//! `inventory_list_unknown` (it lost the list, or another collector behind the same
//! name answered), the list is sent and the report sent again at once.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use attest_proto::inventory::{self, INVENTORY_LIST_PAYLOAD_TYPE, ListReceipt};
use attest_proto::{Envelope, SigningKey, Statement};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::durable;
use crate::spool::SpoolError;
use crate::state::{DIR_MODE, FILE_MODE};
use crate::upload::{Answer, CollectorClient};

/// The directory of list documents inside the spool directory.
pub const LISTS_DIR: &str = "lists";
/// The file in the state directory that says what the collector takes.
pub const STATE_FILE: &str = "inventory-lists.json";
/// How long after a collector answered 404 the agent asks again.
pub const PROBE_AGAIN: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// What the agent knows about the collector and inventory lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListState {
    /// The collector (its base URL) the rest is about; another one starts afresh.
    pub server: String,
    /// The collector took a list: reports are signed as v3.
    pub accepted: bool,
    /// When the collector last answered 404 to a list (it predates lists).
    pub refused_at: Option<DateTime<Utc>>,
    /// The address of the last list the collector acknowledged.
    pub acknowledged: Option<String>,
    /// The address of the latest list collected.
    pub latest: Option<String>,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The list documents next to the spool, and the state file.
#[derive(Debug, Clone)]
pub struct Lists {
    dir: PathBuf,
    state_path: PathBuf,
    server: String,
}

/// The file name of the list with `address`: its hex and `.json`.
pub fn file_name(address: &str) -> Option<String> {
    inventory::is_address(address)
        .then(|| format!("{}.json", address.trim_start_matches("sha256:")))
}

impl Lists {
    /// Opens (creating) `<spool_dir>/lists` and deletes temporary files left by a
    /// crash. `state_path` is the state file, `server` the collector's base URL.
    pub fn open(spool_dir: &Path, state_path: PathBuf, server: &str) -> Result<Lists, SpoolError> {
        let dir = spool_dir.join(LISTS_DIR);
        durable::create_dir(&dir, DIR_MODE).map_err(io_err(&dir))?;
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.ends_with(".tmp") {
                fs::remove_file(entry.path()).map_err(io_err(&entry.path()))?;
            }
        }
        Ok(Lists {
            dir,
            state_path,
            server: server.to_owned(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The state; a fresh one when none was saved, it names another collector, or it
    /// does not read (it is only a cache of what the collector said).
    pub fn state(&self) -> ListState {
        let fresh = ListState {
            server: self.server.clone(),
            ..ListState::default()
        };
        match fs::read(&self.state_path) {
            Ok(bytes) => match serde_json::from_slice::<ListState>(&bytes) {
                Ok(state) if state.server == self.server => state,
                Ok(_) => fresh,
                Err(e) => {
                    tracing::warn!(path = %self.state_path.display(), error = %e, "inventory list state unreadable; starting afresh");
                    fresh
                }
            },
            Err(_) => fresh,
        }
    }

    pub fn save_state(&self, state: &ListState) -> Result<(), SpoolError> {
        let mut bytes = serde_json::to_vec_pretty(state)
            .map_err(|e| io_err(&self.state_path)(io::Error::other(e)))?;
        bytes.push(b'\n');
        durable::write_atomic(&self.state_path, &bytes, FILE_MODE).map_err(io_err(&self.state_path))
    }

    /// Changes the state with `change` (load, change, save).
    pub fn update_state(&self, change: impl FnOnce(&mut ListState)) -> Result<(), SpoolError> {
        let mut state = self.state();
        change(&mut state);
        self.save_state(&state)
    }

    /// Keeps a list document (durably; nothing is written when it is already kept)
    /// and returns its address.
    pub fn put(&self, document: &[u8]) -> Result<String, SpoolError> {
        let address = inventory::address(document);
        let path = self
            .path(&address)
            .ok_or_else(|| io_err(&self.dir)(io::Error::other("address is not sha256:<hex>")))?;
        if self.get(&address)?.is_some() {
            return Ok(address);
        }
        durable::write_atomic(&path, document, FILE_MODE).map_err(io_err(&path))?;
        Ok(address)
    }

    fn path(&self, address: &str) -> Option<PathBuf> {
        file_name(address).map(|name| self.dir.join(name))
    }

    /// The document with `address`, if kept and intact (a damaged one is deleted).
    pub fn get(&self, address: &str) -> Result<Option<Vec<u8>>, SpoolError> {
        let Some(path) = self.path(address) else {
            return Ok(None);
        };
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path)(e)),
        };
        if inventory::address(&bytes) != address {
            tracing::error!(path = %path.display(), "inventory list damaged on disk: deleted");
            fs::remove_file(&path).map_err(io_err(&path))?;
            return Ok(None);
        }
        Ok(Some(bytes))
    }

    /// The addresses of the documents kept.
    pub fn addresses(&self) -> Result<Vec<String>, SpoolError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let entry = entry.map_err(io_err(&self.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(hex) = name.strip_suffix(".json") {
                let address = format!("sha256:{hex}");
                if inventory::is_address(&address) {
                    out.push(address);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Deletes every document but those in `keep`; returns how many were deleted.
    pub fn retain(&self, keep: &[&str]) -> Result<usize, SpoolError> {
        let mut deleted = 0;
        for address in self.addresses()? {
            if keep.contains(&address.as_str()) {
                continue;
            }
            if let Some(path) = self.path(&address) {
                match fs::remove_file(&path) {
                    Ok(()) => deleted += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&path)(e)),
                }
            }
        }
        if deleted > 0 {
            durable::sync_dir(&self.dir).map_err(io_err(&self.dir))?;
        }
        Ok(deleted)
    }
}

/// The address of the inventory list a spooled envelope's report names (v3), if
/// any. Not verified: the collector does that.
pub fn named_by(envelope_json: &[u8]) -> Option<String> {
    let envelope = Envelope::from_json(envelope_json).ok()?;
    let statement = Statement::from_slice(&envelope.payload).ok()?;
    inventory::address_of(&statement.predicate).map(str::to_owned)
}

/// What the collector said to one list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Stored (or held already) under this address.
    Taken,
    /// 404: the collector predates inventory lists.
    NotTaken,
    /// Anything else: the answer, one line, and whether it was a rate limit (with the
    /// `Retry-After` value).
    Failed {
        why: String,
        rate_limited: Option<Option<String>>,
    },
}

/// `POST /v1/inventory-lists` with `document` signed by `key`.
pub async fn send(client: &CollectorClient, key: &SigningKey, document: &[u8]) -> Sent {
    let address = inventory::address(document);
    let body = match Envelope::sign_payload(INVENTORY_LIST_PAYLOAD_TYPE, document, key).to_json() {
        Ok(body) => body,
        Err(e) => {
            return Sent::Failed {
                why: format!("cannot encode the inventory list: {e}"),
                rate_limited: None,
            };
        }
    };
    match client.post("v1/inventory-lists", body).await {
        Answer::Ok(bytes) => match ListReceipt::from_json(&bytes) {
            Ok(r) if r.address == address => Sent::Taken,
            Ok(r) => Sent::Failed {
                why: format!(
                    "the collector acknowledged inventory list {} instead of {address}",
                    r.address
                ),
                rate_limited: None,
            },
            Err(e) => Sent::Failed {
                why: format!("the collector answered an inventory list without a receipt ({e})"),
                rate_limited: None,
            },
        },
        Answer::Error { status: 404, .. } => Sent::NotTaken,
        Answer::Error {
            status,
            body,
            retry_after,
        } => {
            let rate_limited = (status == 429
                || body.as_ref().map(|b| b.error) == Some(attest_proto::ErrorCode::RateLimited))
            .then(|| retry_after.clone());
            let why = match body {
                Some(b) => format!(
                    "inventory list refused: {status} {}: {}",
                    b.error, b.message
                ),
                None => format!("inventory list refused: HTTP {status}"),
            };
            Sent::Failed { why, rate_limited }
        }
        Answer::Unreachable(why) => Sent::Failed {
            why,
            rate_limited: None,
        },
    }
}

/// Sends the latest list when the agent does not know yet whether the collector
/// takes lists (or it refused a day ago or more), and records the answer.
pub async fn probe(
    lists: &Lists,
    client: &CollectorClient,
    key: &SigningKey,
    now: DateTime<Utc>,
) -> Result<(), SpoolError> {
    let state = lists.state();
    if state.accepted || state.refused_at.is_some_and(|at| now - at < PROBE_AGAIN) {
        return Ok(());
    }
    let Some(latest) = state.latest.clone() else {
        return Ok(());
    };
    let Some(document) = lists.get(&latest)? else {
        return Ok(());
    };
    match send(client, key, &document).await {
        Sent::Taken => {
            tracing::info!(address = %latest, "the collector takes inventory lists: reports are signed as attest.report/v3 from now on");
            lists.update_state(|s| {
                s.accepted = true;
                s.refused_at = None;
                s.acknowledged = Some(latest);
            })
        }
        Sent::NotTaken => {
            tracing::info!(
                "the collector does not take inventory lists (404): reports keep their package list"
            );
            lists.update_state(|s| {
                s.accepted = false;
                s.refused_at = Some(now);
            })
        }
        Sent::Failed { why, .. } => {
            tracing::debug!(reason = %why, "asking the collector about inventory lists failed; asked again later");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(n: usize) -> Vec<u8> {
        inventory::InventoryList::new(
            (0..n)
                .map(|i| inventory::Package {
                    name: format!("p{i}"),
                    version: "1".into(),
                    architecture: "all".into(),
                })
                .collect(),
        )
        .to_bytes()
        .unwrap()
    }

    #[test]
    fn lists_are_kept_by_address_survive_reopening_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(STATE_FILE);
        let lists = Lists::open(dir.path(), state.clone(), "https://c/").unwrap();
        let (a, b) = (doc(2), doc(3));
        let addr_a = lists.put(&a).unwrap();
        assert_eq!(addr_a, inventory::address(&a));
        assert_eq!(lists.put(&a).unwrap(), addr_a);
        let addr_b = lists.put(&b).unwrap();
        std::fs::write(lists.dir().join(".x.json.tmp"), b"half").unwrap();
        drop(lists);
        let lists = Lists::open(dir.path(), state, "https://c/").unwrap();
        assert!(!lists.dir().join(".x.json.tmp").exists());
        assert_eq!(lists.get(&addr_a).unwrap(), Some(a.clone()));
        let mut both = vec![addr_a.clone(), addr_b.clone()];
        both.sort();
        assert_eq!(lists.addresses().unwrap(), both);
        // Damaged on disk: deleted, reads as missing.
        let path = lists.dir().join(file_name(&addr_b).unwrap());
        std::fs::write(&path, b"{}").unwrap();
        assert_eq!(lists.get(&addr_b).unwrap(), None);
        assert!(!path.exists());
        // Retain keeps only what is named.
        lists.put(&b).unwrap();
        assert_eq!(lists.retain(&[addr_b.as_str()]).unwrap(), 1);
        assert_eq!(lists.addresses().unwrap(), vec![addr_b]);
    }

    #[test]
    fn the_state_belongs_to_one_collector() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(STATE_FILE);
        let lists = Lists::open(dir.path(), state.clone(), "https://c/").unwrap();
        assert!(!lists.state().accepted);
        lists.update_state(|s| s.accepted = true).unwrap();
        assert!(lists.state().accepted);
        let other = Lists::open(dir.path(), state.clone(), "https://d/").unwrap();
        assert!(!other.state().accepted);
        std::fs::write(&state, b"not json").unwrap();
        assert!(!lists.state().accepted);
    }
}
