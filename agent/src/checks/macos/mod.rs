//! The macOS checks (`docs/checks.md`, "macOS"). A check for a Mac goes in this
//! folder: a module per area, its parsers pure functions over the plist, file or
//! captured command output they read, listed in [`checks`].
//!
//! Until a check is here, the registry answers its id `unknown` ("not yet
//! implemented for macOS"); the ids that never apply on a Mac answer
//! `not_applicable` from the catalogue.

pub mod disk;
pub mod plist;

use super::Check;

/// Every macOS check.
pub fn checks() -> Vec<Box<dyn Check>> {
    vec![
        Box::new(disk::RootEncrypted),
        Box::new(disk::FixedVolumesEncrypted),
        Box::new(disk::SwapEncrypted),
        Box::new(disk::RecoveryKeyEscrow),
    ]
}
