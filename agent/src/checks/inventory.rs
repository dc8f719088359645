//! inventory checks (see `checks.md`).

use attest_proto::HostInfo;

use super::{Check, Context};

/// The inventory checks, in report order.
pub fn checks() -> Vec<Box<dyn Check>> {
    Vec::new()
}

/// The report's `host` block.
pub fn host_info(_ctx: &Context<'_>) -> HostInfo {
    HostInfo::default()
}
