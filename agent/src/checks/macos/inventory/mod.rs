//! Inventory on macOS (`docs/checks.md`, "Inventory: macOS"): what the Mac is
//! ([`host`]) and what is installed on it ([`software`]). Status `info`, no
//! verdict; the facts have the Linux shape so the collector shows a Mac as it
//! shows a Linux host.

pub mod host;
pub mod software;

pub use host::host_info;
