//! The Linux checks (`docs/checks.md`), by area. Each area module lists its checks;
//! [`checks`] gathers them for the registry, which puts them in catalogue order.

pub mod accounts;
pub mod common;
pub mod disk;
pub mod inventory;
pub mod patch;
pub mod system;

// The area modules name these as `super::…`.
use super::{Check, Context, file_evidence, sha256};

/// Every Linux check.
pub fn checks() -> Vec<Box<dyn Check>> {
    let mut checks = Vec::new();
    checks.extend(disk::checks());
    checks.extend(patch::checks());
    checks.extend(accounts::checks());
    checks.extend(system::checks());
    checks.extend(inventory::checks());
    checks
}
