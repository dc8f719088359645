//! The Windows checks (`docs/checks.md`, "Windows"). A check for Windows goes in
//! this folder: a module per area, its parsers pure functions over registry values,
//! hive files and captured api results, listed in [`checks`]. Windows runs no
//! commands: every source is a registry read, a Win32 call, WMI or COM.
//!
//! Until a check is here, the registry answers its id `unknown` ("not yet
//! implemented for Windows"); the ids that never apply on Windows answer
//! `not_applicable` from the catalogue.

use super::Check;

/// Every Windows check.
pub fn checks() -> Vec<Box<dyn Check>> {
    Vec::new()
}
