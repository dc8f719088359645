//! Inventory (`checks.md`, "System" table): what the host is and what is
//! installed on it. These checks record facts (status `info`), no verdict.
//!
//! [`host_info`] builds the report's `host` block from the same identity that
//! `inventory.host` records, read once per run.

pub(crate) mod host;
pub(crate) mod live;
mod parse;
pub mod software;

pub use host::host_info;

use super::Check;

/// The inventory checks, in report order.
pub fn checks() -> Vec<Box<dyn Check>> {
    vec![
        Box::new(host::InventoryHost),
        Box::new(software::InventorySoftware),
    ]
}
