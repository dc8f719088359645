//! The macOS system checks: `system.firewall`, `system.secure_boot`, `system.sip`,
//! `system.gatekeeper`, `system.time_sync`, `system.audit_logging`, `malware.protection`
//! (`docs/checks.md`, "macOS: system checks").
//!
//! Text-only tools (`csrutil`, `spctl`, `socketfilterfw`) run with `LC_ALL=C`; their
//! parsers accept only the exact lines listed in each check and answer `unknown`
//! quoting any other line (the tool's own output, never a file's content).

pub mod audit_logging;
pub mod firewall;
pub mod gatekeeper;
pub mod malware;
pub mod screen_lock;
pub mod secure_boot;
pub mod sip;
pub mod time_sync;

use super::Check;

/// The longest piece of a tool's output quoted in a reason.
const MAX_QUOTE: usize = 200;

/// A line of a tool's output for a reason: escaped, and cut at [`MAX_QUOTE`]
/// characters.
pub(crate) fn quote(line: &str) -> String {
    if line.chars().count() > MAX_QUOTE {
        let cut: String = line.chars().take(MAX_QUOTE).collect();
        format!("{cut:?}…")
    } else {
        format!("{line:?}")
    }
}

/// The non-blank lines of a tool's output, trailing white space removed.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
}

/// The macOS system checks.
pub fn checks() -> Vec<Box<dyn Check>> {
    vec![
        Box::new(firewall::Firewall),
        Box::new(secure_boot::SecureBoot),
        Box::new(sip::Sip),
        Box::new(gatekeeper::Gatekeeper),
        Box::new(time_sync::TimeSync),
        Box::new(audit_logging::AuditLogging),
        Box::new(screen_lock::MacScreenLock),
        Box::new(malware::MacMalwareProtection),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_escaped_and_bounded() {
        assert_eq!(quote("a \"b\""), "\"a \\\"b\\\"\"");
        let long = "x".repeat(500);
        let q = quote(&long);
        assert!(q.ends_with('…') && q.chars().count() < 210, "{q}");
        assert_eq!(lines("a  \n\n  \nb\n").collect::<Vec<_>>(), vec!["a", "b"]);
    }

    /// The registry runs the four system checks on a Mac root, in catalogue order:
    /// they are no longer "not yet implemented".
    #[test]
    fn the_registry_runs_the_system_checks_on_a_mac() {
        use crate::checks::{Context, Thresholds, run};
        use crate::host::sources::{
            MACOS_ALF_STATE, MACOS_CSRUTIL_AUTHROOT, MACOS_CSRUTIL_STATUS, MACOS_IBRIDGE,
            MACOS_SPCTL_STATUS,
        };
        use attest_proto::Status;

        let host = testmac::mac("15.1")
            .command(
                &MACOS_ALF_STATE,
                0,
                "Firewall is disabled. (State = 0)\nFirewall has block all state set to disabled.\nFirewall stealth mode is off\n",
            )
            .command(
                &MACOS_IBRIDGE,
                0,
                r#"{"SPiBridgeDataType": [{"ibridge_secure_boot": "Reduced Security"}]}"#,
            )
            .command(&MACOS_CSRUTIL_STATUS, 0, sip::SIP_ENABLED)
            .command(&MACOS_CSRUTIL_AUTHROOT, 0, sip::AUTHROOT_ENABLED)
            .command(&MACOS_SPCTL_STATUS, 0, "assessments enabled\n")
            .host();
        let thresholds = Thresholds::default();
        let ctx = Context::new(&host, crate::host::fake::default_now(), &thresholds);
        let only: Vec<String> = [
            "system.gatekeeper",
            "system.sip",
            "system.secure_boot",
            "system.firewall",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let got: Vec<(String, Status)> = run(&ctx, &only)
            .into_iter()
            .map(|r| (r.check, r.status))
            .collect();
        let want = [
            ("system.firewall", Status::Fail),
            ("system.secure_boot", Status::Pass),
            ("system.sip", Status::Pass),
            ("system.gatekeeper", Status::Pass),
        ];
        assert_eq!(
            got,
            want.iter()
                .map(|(id, s)| ((*id).to_owned(), *s))
                .collect::<Vec<_>>()
        );
    }

    proptest::proptest! {
        /// Whatever a tool prints, the parsers answer without panicking, and accept
        /// nothing that is not made of their exact lines.
        #[test]
        fn tool_output_never_panics(text in "[ -~\t\n]{0,300}") {
            let sip = sip::parse_status(&text);
            let _ = sip::parse_authroot(&text);
            let gk = gatekeeper::parse_status(&text);
            let fw = firewall::parse_status(&text);
            let _ = secure_boot::parse_ibridge(&text);
            let _ = screen_lock::parse_pmset_custom(&text);
            let _ = crate::checks::macos::remote::parse_print_disabled(&text);
            let _ = crate::checks::macos::inventory::software::macho_arch(text.as_bytes());
            if let Ok(state) = screen_lock::parse_screenlock(&text) {
                proptest::prop_assert_eq!(lines(&text).count(), 1, "{:?}", state);
            }
            if gk.is_ok() {
                proptest::prop_assert!(lines(&text).all(|l| l == gatekeeper::ENABLED || l == gatekeeper::DISABLED));
            }
            if fw.is_ok() {
                proptest::prop_assert_eq!(lines(&text).count(), 3);
            }
            if let Ok(sip::SipStatus::Enabled) = sip {
                proptest::prop_assert!(lines(&text).all(|l| l == sip::SIP_ENABLED));
            }
        }
    }
}

/// Fake Macs for the checks' tests.
#[cfg(test)]
pub(crate) mod testmac {
    use crate::checks::macos::prefs::tests::xml;
    use crate::host::MACOS_MARKER;
    use crate::host::fake::FakeHost;
    use plist::Value;

    /// A Mac root whose `SystemVersion.plist` says `version`.
    pub fn mac(version: &str) -> FakeHost {
        FakeHost::macos().file(
            MACOS_MARKER,
            xml(&[
                ("ProductName", Value::String("macOS".into())),
                ("ProductVersion", Value::String(version.into())),
            ]),
        )
    }
}
