//! `disk.swap_encrypted` on macOS: `sysctl vm.swapusage` reports encrypted swap.

use attest_proto::{CheckResult, Status};
use serde_json::Value;

use crate::checks::{Check, Context, api_evidence, unknown};
use crate::host::sources::MACOS_SYSCTL_SWAPUSAGE;

/// macOS has encrypted swap unconditionally since 10.7; the check proves it rather
/// than assuming it, from the `xsw_usage` struct of `sysctl vm.swapusage` (api
/// source `macos.sysctl.swapusage`: `{"xsu_total", "xsu_avail", "xsu_used",
/// "xsu_pagesize", "xsu_encrypted"}`).
///
/// - pass: `xsu_encrypted` is 1, or no swap in use (`xsu_total` 0);
/// - fail: `xsu_encrypted` is 0 and `xsu_total` is above 0;
/// - unknown: the call failed or was not made (offline), or a key the verdict
///   needs is missing or not an integer (a missing key is "not captured").
///
/// Where the catalogue is silent: "no swap in use" is `xsu_total` 0 (no swap file
/// at all); swap files that exist but hold nothing yet (`xsu_used` 0) are still
/// judged by `xsu_encrypted`, since pages written later go to them.
pub struct SwapEncrypted;

const ID: &str = "disk.swap_encrypted";

fn field(value: &Value, key: &str) -> Option<u64> {
    value.get(key).and_then(Value::as_u64)
}

impl Check for SwapEncrypted {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let out = match ctx.host.api(&MACOS_SYSCTL_SWAPUSAGE) {
            Ok(o) => o,
            Err(e) => return unknown(ID, e.to_string()),
        };
        let encrypted = field(&out.value, "xsu_encrypted");
        let total = field(&out.value, "xsu_total");
        let used = field(&out.value, "xsu_used");
        let show = |v: Option<u64>| v.map_or("(missing)".to_owned(), |v| v.to_string());
        let evidence = api_evidence(
            &out,
            format!(
                "xsu_encrypted = {}, xsu_total = {}, xsu_used = {}",
                show(encrypted),
                show(total),
                show(used)
            ),
        );
        let facts = |r: CheckResult| {
            r.fact("encrypted", encrypted)
                .fact("total_bytes", total)
                .fact("used_bytes", used)
                .evidence(evidence.clone())
        };
        match (encrypted, total) {
            (Some(1), _) => facts(CheckResult::new(
                ID,
                Status::Pass,
                format!(
                    "swap is encrypted ({} of {} bytes in use)",
                    show(used),
                    show(total)
                ),
            )),
            (Some(0), Some(0)) => facts(CheckResult::new(
                ID,
                Status::Pass,
                "no swap is in use (xsu_total 0)",
            )),
            (Some(0), Some(t)) => facts(CheckResult::new(
                ID,
                Status::Fail,
                format!("swap is not encrypted (xsu_encrypted 0, {t} bytes of swap)"),
            )),
            (Some(0), None) => facts(unknown(
                ID,
                "sysctl vm.swapusage: xsu_encrypted is 0 and xsu_total is not captured",
            )),
            (Some(other), _) => facts(unknown(
                ID,
                format!("sysctl vm.swapusage: xsu_encrypted is {other}, neither 0 nor 1"),
            )),
            (None, _) => facts(unknown(
                ID,
                "sysctl vm.swapusage: xsu_encrypted is not captured",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use attest_proto::Evidence;
    use serde_json::json;

    fn swap(value: Value) -> CheckResult {
        FakeHost::macos()
            .api(&MACOS_SYSCTL_SWAPUSAGE, value)
            .run(&SwapEncrypted)
    }

    #[test]
    fn encrypted_swap_passes_with_api_evidence() {
        let v = json!({"xsu_total": 3221225472u64, "xsu_avail": 1815609344u64,
            "xsu_used": 1405616128u64, "xsu_pagesize": 16384, "xsu_encrypted": 1});
        let r = swap(v.clone());
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(
            r.summary,
            "swap is encrypted (1405616128 of 3221225472 bytes in use)"
        );
        assert_eq!(r.facts["encrypted"], 1);
        assert_eq!(r.facts["total_bytes"], 3221225472u64);
        let [
            Evidence::Api {
                name,
                excerpt,
                sha256,
            },
        ] = r.evidence.as_slice()
        else {
            panic!("{:?}", r.evidence);
        };
        assert_eq!(name, "sysctl vm.swapusage");
        assert_eq!(
            excerpt,
            "xsu_encrypted = 1, xsu_total = 3221225472, xsu_used = 1405616128"
        );
        assert_eq!(
            sha256,
            &crate::checks::sha256(crate::checks::canonical_json(&v).as_bytes())
        );
    }

    #[test]
    fn no_swap_passes_and_unencrypted_swap_fails() {
        let r = swap(json!({"xsu_total": 0, "xsu_avail": 0, "xsu_used": 0,
            "xsu_pagesize": 16384, "xsu_encrypted": 0}));
        assert_eq!(r.status, Status::Pass);
        assert_eq!(r.summary, "no swap is in use (xsu_total 0)");
        let r = swap(json!({"xsu_total": 1073741824, "xsu_avail": 1073741824,
            "xsu_used": 0, "xsu_pagesize": 16384, "xsu_encrypted": 0}));
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.summary,
            "swap is not encrypted (xsu_encrypted 0, 1073741824 bytes of swap)"
        );
        assert_eq!(r.facts["encrypted"], 0);
    }

    #[test]
    fn missing_keys_errors_and_offline_are_unknown() {
        let r = swap(json!({"xsu_total": 1}));
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.as_deref().unwrap().contains("not captured"));
        let r = swap(json!({"xsu_encrypted": 0}));
        assert_eq!(r.status, Status::Unknown);
        let r = swap(json!({"xsu_encrypted": 2, "xsu_total": 5}));
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.as_deref().unwrap().contains("neither 0 nor 1"));
        let r = FakeHost::macos()
            .source_error(&MACOS_SYSCTL_SWAPUSAGE, "ENOMEM")
            .run(&SwapEncrypted);
        assert_eq!(r.status, Status::Unknown);
        assert_eq!(
            r.reason.as_deref(),
            Some("sysctl vm.swapusage: ENOMEM (captured)")
        );
        let r = FakeHost::macos().run(&SwapEncrypted);
        assert_eq!(
            r.reason.as_deref(),
            Some("sysctl vm.swapusage: live sources are not run on an offline root")
        );
    }
}
