//! The check catalogue (`../shared/design/checks.md`): one [`Check`] per id, listed
//! explicitly and in order by [`registry`].
//!
//! Each area is a module. Inside it, parsing a host file is a pure function from
//! text to a value (tested on text); a check combines parsed values into a verdict.
//! Every file is read through the [`Context`]'s [`HostRoot`]. A check never panics
//! and never aborts the run: a failure to read becomes `unknown` with the error in
//! `reason`.

pub mod accounts;
pub mod common;
pub mod disk;
pub mod inventory;
pub mod patch;
pub mod system;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use attest_proto::{CheckResult, Evidence, Status};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::host::HostRoot;

/// Thresholds the verdicts depend on. Defaults follow `checks.md`; the agent's
/// configuration can change them; the value used is recorded in `facts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// `accounts.password_max_age`: the longest allowed maximum password age, days.
    pub password_max_days: u32,
    /// `accounts.password_min_length`: the shortest allowed minimum length.
    pub password_min_length: u32,
    /// `accounts.lockout`: the largest allowed `deny`.
    pub lockout_max_deny: u32,
    /// `patch.index_fresh`: the oldest allowed package index, days.
    pub index_max_age_days: u32,
    /// `system.screen_lock`: the longest allowed idle delay, seconds.
    pub screen_lock_max_idle_secs: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            password_max_days: 365,
            password_min_length: 12,
            lockout_max_deny: 10,
            index_max_age_days: 7,
            screen_lock_max_idle_secs: 900,
        }
    }
}

/// What a check gets: the host, the collection time, the thresholds, and a memo
/// so that files several checks need (mountinfo, dpkg status, os-release) are read
/// and parsed once per run.
pub struct Context<'a> {
    pub host: &'a HostRoot,
    pub now: DateTime<Utc>,
    pub thresholds: &'a Thresholds,
    memo: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl<'a> Context<'a> {
    pub fn new(host: &'a HostRoot, now: DateTime<Utc>, thresholds: &'a Thresholds) -> Self {
        Context {
            host,
            now,
            thresholds,
            memo: Mutex::new(HashMap::new()),
        }
    }

    /// The value of type `T` for this run, computed by `make` the first time only.
    /// One value per type: wrap a parsed file in its own type to memoise it.
    pub fn memo<T: Any + Send + Sync>(&self, make: impl FnOnce(&Context<'a>) -> T) -> Arc<T> {
        let key = TypeId::of::<T>();
        if let Some(found) = self.lookup::<T>(key) {
            return found;
        }
        let value = Arc::new(make(self));
        if let Ok(mut memo) = self.memo.lock() {
            memo.insert(key, value.clone());
        }
        value
    }

    fn lookup<T: Any + Send + Sync>(&self, key: TypeId) -> Option<Arc<T>> {
        let memo = self.memo.lock().ok()?;
        memo.get(&key).cloned()?.downcast::<T>().ok()
    }
}

/// One check of the catalogue.
pub trait Check: Send + Sync {
    /// The stable id, e.g. `disk.root_encrypted`.
    fn id(&self) -> &'static str;
    /// Runs the check. Never panics: what cannot be read becomes `unknown`.
    fn run(&self, ctx: &Context<'_>) -> CheckResult;
}

/// Every check, in report order: disk, patch, accounts, system, inventory.
pub fn registry() -> Vec<Box<dyn Check>> {
    let mut checks = Vec::new();
    checks.extend(disk::checks());
    checks.extend(patch::checks());
    checks.extend(accounts::checks());
    checks.extend(system::checks());
    checks.extend(inventory::checks());
    checks
}

/// The ids of every check, in report order.
pub fn ids() -> Vec<&'static str> {
    registry().iter().map(|c| c.id()).collect()
}

/// Runs the checks whose id is in `only` (all when `only` is empty), in order.
pub fn run(ctx: &Context<'_>, only: &[String]) -> Vec<CheckResult> {
    registry()
        .iter()
        .filter(|c| only.is_empty() || only.iter().any(|id| id == c.id()))
        .map(|c| {
            let mut result = c.run(ctx);
            result.check = c.id().to_owned();
            result.summary = sentence(&result.summary);
            result
        })
        .collect()
}

/// One summary style for every check: one line, no closing full stop (as in
/// `checks.md`'s example "/ is on LUKS2 (nvme0n1p3 → luks-3f2a → vg-root)").
fn sentence(summary: &str) -> String {
    let one_line = summary.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.strip_suffix('.') {
        Some(rest) if !rest.ends_with('.') => rest.to_owned(),
        _ => one_line,
    }
}

/// `sha256:<hex>` of some bytes.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Evidence that a file was read: its host path, the lines that decided the
/// verdict, and the SHA-256 of the whole file as read.
pub fn file_evidence(path: &str, content: &[u8], excerpt: impl Into<String>) -> Evidence {
    Evidence::File {
        path: path.to_owned(),
        excerpt: excerpt.into(),
        sha256: sha256(content),
    }
}

/// Evidence that a command ran: argv, exit code, the deciding lines of its output,
/// and the SHA-256 of its whole standard output.
pub fn command_evidence(
    output: &crate::host::CommandOutput,
    excerpt: impl Into<String>,
) -> Evidence {
    Evidence::Command {
        argv: output.argv.clone(),
        exit_code: output.exit_code,
        excerpt: excerpt.into(),
        sha256: sha256(output.stdout.as_bytes()),
    }
}

/// An `unknown` result whose reason is `why`.
pub fn unknown(id: &str, why: impl Into<String>) -> CheckResult {
    CheckResult::undecided(id, Status::Unknown, why)
}

/// A `not_applicable` result whose reason is `why`.
pub fn not_applicable(id: &str, why: impl Into<String>) -> CheckResult {
    CheckResult::undecided(id, Status::NotApplicable, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_are_one_line_without_a_full_stop() {
        assert_eq!(sentence("No swap is active."), "No swap is active");
        assert_eq!(sentence("a\n  b"), "a b");
        assert_eq!(sentence("ends with..."), "ends with...");
        assert_eq!(sentence("/ is on LUKS2"), "/ is on LUKS2");
    }

    #[test]
    fn the_registry_lists_every_check_once() {
        let ids = ids();
        assert_eq!(ids.len(), 25);
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
    }
}
