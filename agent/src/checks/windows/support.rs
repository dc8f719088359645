//! stub
use crate::checks::{Check, Context, unknown};
use attest_proto::CheckResult;
pub struct OsSupported;
impl Check for OsSupported {
    fn id(&self) -> &'static str {
        "patch.os_supported"
    }
    fn run(&self, _ctx: &Context<'_>) -> CheckResult {
        unknown("patch.os_supported", "x")
    }
}
