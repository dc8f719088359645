//! disk checks (see `checks.md`).

use super::Check;

/// The disk checks, in report order.
pub fn checks() -> Vec<Box<dyn Check>> {
    Vec::new()
}
