//! `system.audit_logging` — OpenBSM auditing on macOS (ISO/IEC 27002:2022 8.15
//! Logging).

use attest_proto::{CheckResult, Evidence, Status};

use crate::checks::macos::prefs::{self, as_bool, type_name};
use crate::checks::macos::remote::LAUNCHD_DISABLED;
use crate::checks::{Check, Context, command_evidence, file_evidence, unknown};
use crate::host::sources::MACOS_LAUNCHCTL_AUDITD;

use super::{lines, quote};

/// The audit configuration; auditing needs it.
pub const AUDIT_CONTROL: &str = "/etc/security/audit_control";
/// The launchd label of the audit daemon.
pub const AUDITD_LABEL: &str = "com.apple.auditd";
/// The audit daemon's launchd job.
pub const AUDITD_PLIST: &str = "/System/Library/LaunchDaemons/com.apple.auditd.plist";
/// The key of [`AUDITD_PLIST`] that disables the job.
pub const DISABLED_KEY: &str = "Disabled";
/// The line of `launchctl print` for a running job.
pub const RUNNING: &str = "state = running";

const NOT_COUNTED: &str = "the unified log is always kept and is not counted";

/// Reads the `state = …` line of `launchctl print`: `Some(true)` for
/// [`RUNNING`], `Some(false)` for another state, `None` without a state line.
pub fn parse_state(text: &str) -> Option<bool> {
    lines(text)
        .map(str::trim)
        .find(|l| l.starts_with("state = "))
        .map(|l| l == RUNNING)
}

/// Whether launchd would start auditd: `(enabled, basis, evidence)`.
fn auditd_enabled(ctx: &Context<'_>) -> Result<(bool, String, Evidence), String> {
    if let Some(found) =
        prefs::read_key(ctx.host, LAUNCHD_DISABLED, AUDITD_LABEL).map_err(|e| e.to_string())?
    {
        let disabled = as_bool(&found.value).ok_or_else(|| {
            format!(
                "{LAUNCHD_DISABLED}: {AUDITD_LABEL} is {}, not a boolean",
                type_name(&found.value)
            )
        })?;
        return Ok((
            !disabled,
            format!("{AUDITD_LABEL} = {disabled} in {LAUNCHD_DISABLED}"),
            found.evidence,
        ));
    }
    let Some((bytes, dict)) =
        prefs::read_dict(ctx.host, AUDITD_PLIST).map_err(|e| e.to_string())?
    else {
        return Err(format!(
            "{AUDITD_PLIST} does not exist and {LAUNCHD_DISABLED} does not set {AUDITD_LABEL}"
        ));
    };
    let disabled = match dict.get(DISABLED_KEY) {
        None => false,
        Some(v) => as_bool(v).ok_or_else(|| {
            format!(
                "{AUDITD_PLIST}: {DISABLED_KEY} is {}, not a boolean",
                type_name(v)
            )
        })?,
    };
    let basis = if disabled {
        format!("{AUDITD_PLIST} sets {DISABLED_KEY} true and no override enables it")
    } else {
        format!("{AUDITD_PLIST} does not set {DISABLED_KEY} true and no override disables it")
    };
    let excerpt = format!("{DISABLED_KEY} = {disabled}");
    Ok((
        !disabled,
        basis,
        file_evidence(AUDITD_PLIST, &bytes, excerpt),
    ))
}

/// OpenBSM auditing.
///
/// - files: `/etc/security/audit_control` exists, and `com.apple.auditd` is
///   enabled: launchd's `disabled.plist` sets it false, or does not set it and
///   `/System/Library/LaunchDaemons/com.apple.auditd.plist` has no `Disabled` true;
/// - live, when answered: `launchctl print system/com.apple.auditd` shows
///   `state = running` (a non-zero exit, launchctl's "could not find service", or
///   another state is not running).
///
/// pass: both file conditions and, when live answers, running; fail otherwise
/// (auditing is off by default on macOS 14–26); unknown: the files cannot be read
/// and live does not show auditd stopped. The unified log is not counted.
///
/// Facts: `audit_control` (exists), `auditd_enabled`, `auditd_running` (null
/// offline or unanswered), and `openbsm`: the verdict on OpenBSM auditing as one
/// value (true on pass, false on fail, null when unknown) so that the collector's
/// mapping can name "a Mac without OpenBSM auditing" in one rule.
pub struct AuditLogging;

impl Check for AuditLogging {
    fn id(&self) -> &'static str {
        "system.audit_logging"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let mut evidence = Vec::new();
        let mut problems = Vec::new();

        let control = match ctx.host.read(AUDIT_CONTROL) {
            Ok(bytes) => {
                evidence.push(file_evidence(AUDIT_CONTROL, &bytes, "exists"));
                Some(true)
            }
            Err(e) if e.is_not_found() => Some(false),
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        };
        let enabled = match auditd_enabled(ctx) {
            Ok((on, basis, ev)) => {
                evidence.push(ev);
                Some((on, basis))
            }
            Err(e) => {
                problems.push(e);
                None
            }
        };
        let running = match ctx.host.command(&MACOS_LAUNCHCTL_AUDITD) {
            Ok(out) if out.exit_code == Some(0) => match parse_state(&out.stdout) {
                Some(r) => {
                    evidence.push(command_evidence(
                        &out,
                        if r { RUNNING } else { "state is not running" },
                    ));
                    Some(r)
                }
                None => {
                    problems.push(format!(
                        "{}: no state line",
                        MACOS_LAUNCHCTL_AUDITD.describe()
                    ));
                    None
                }
            },
            Ok(out) => {
                let first = lines(&out.stderr)
                    .chain(lines(&out.stdout))
                    .next()
                    .map(quote)
                    .unwrap_or_default();
                evidence.push(command_evidence(
                    &out,
                    format!("exit {:?}: not loaded {first}", out.exit_code),
                ));
                Some(false)
            }
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        };

        let mut failures = Vec::new();
        if control == Some(false) {
            failures.push(format!("{AUDIT_CONTROL} does not exist"));
        }
        if let Some((false, basis)) = &enabled {
            failures.push(format!("{AUDITD_LABEL} is disabled ({basis})"));
        }
        if running == Some(false) {
            failures.push(format!("{AUDITD_LABEL} is not running"));
        }
        let result = if !failures.is_empty() {
            CheckResult::new(
                self.id(),
                Status::Fail,
                format!(
                    "OpenBSM auditing is off: {} ({NOT_COUNTED})",
                    failures.join("; ")
                ),
            )
        } else if control.is_none() || enabled.is_none() {
            unknown(self.id(), problems.join("; "))
        } else {
            let how = if running == Some(true) {
                "auditd is enabled and running"
            } else {
                "auditd is enabled"
            };
            CheckResult::new(
                self.id(),
                Status::Pass,
                format!("OpenBSM auditing is on: {AUDIT_CONTROL} exists and {how}"),
            )
        };
        // `reason` is for unknown and not_applicable only: a source that gave no
        // answer beside a decided verdict is a fact.
        let result = result.fact("unanswered", &problems);
        let openbsm = match result.status {
            Status::Pass => Some(true),
            Status::Fail => Some(false),
            _ => None,
        };
        result
            .fact("openbsm", openbsm)
            .fact("audit_control", control)
            .fact("auditd_enabled", enabled.as_ref().map(|(on, _)| *on))
            .fact("auditd_running", running)
            .evidences(evidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::macos::prefs::tests::{binary, xml};
    use crate::checks::macos::system::testmac::mac;
    use crate::host::fake::FakeHost;
    use plist::Value;
    use serde_json::json;

    const CONTROL: &str = "dir:/var/audit\nflags:lo,aa\nminfree:5\n";
    const PRINT_RUNNING: &str =
        "system/com.apple.auditd = {\n\tactive count = 1\n\tstate = running\n\tpid = 312\n}\n";

    /// A Mac root with `/etc` and `/var` links, `audit_control` when `control`,
    /// and the launch daemon plist with `Disabled` = `plist_disabled` (absent key
    /// when `None`).
    fn audit_mac(control: bool, plist_disabled: Option<bool>) -> FakeHost {
        let mut f = mac("15.1")
            .link("/etc", "private/etc")
            .link("/var", "private/var");
        if control {
            f = f.file("/private/etc/security/audit_control", CONTROL);
        }
        let mut entries = vec![("Label", Value::String(AUDITD_LABEL.into()))];
        if let Some(d) = plist_disabled {
            entries.push((DISABLED_KEY, Value::Boolean(d)));
        }
        f.file(AUDITD_PLIST, xml(&entries))
    }

    fn override_(disabled: bool) -> (String, Vec<u8>) {
        (
            format!("/private{LAUNCHD_DISABLED}"),
            binary(&[(AUDITD_LABEL, Value::Boolean(disabled))]),
        )
    }

    #[test]
    fn state_line_parses() {
        assert_eq!(parse_state(PRINT_RUNNING), Some(true));
        assert_eq!(parse_state("x = {\n\tstate = not running\n}"), Some(false));
        assert_eq!(parse_state("nothing here"), None);
    }

    #[test]
    fn control_and_enabled_daemon_pass_offline() {
        let r = audit_mac(true, None).run(&AuditLogging);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["audit_control"], json!(true));
        assert_eq!(r.facts["auditd_running"], json!(null));
        assert_eq!(r.facts["openbsm"], json!(true));
        assert_eq!(r.evidence.len(), 2);
        // launchctl gave no answer: a fact, never a reason on a decided verdict.
        assert_eq!(r.reason, None, "{r:?}");
        assert_eq!(r.facts["unanswered"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn running_live_passes_and_not_loaded_fails() {
        let r = audit_mac(true, Some(false))
            .command(&MACOS_LAUNCHCTL_AUDITD, 0, PRINT_RUNNING)
            .run(&AuditLogging);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["auditd_running"], json!(true));
        let r = audit_mac(true, Some(false))
            .command(&MACOS_LAUNCHCTL_AUDITD, 113, "Could not find service")
            .run(&AuditLogging);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(r.summary.contains("not running"), "{r:?}");
    }

    #[test]
    fn default_disabled_daemon_fails_saying_the_unified_log_is_not_counted() {
        let r = audit_mac(true, Some(true)).run(&AuditLogging);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(r.summary.contains("unified log"), "{r:?}");
        assert_eq!(r.facts["auditd_enabled"], json!(false));
        assert_eq!(r.facts["openbsm"], json!(false));
    }

    #[test]
    fn launchd_override_wins_over_the_daemon_plist() {
        let (p, b) = override_(false);
        let r = audit_mac(true, Some(true)).file(&p, b).run(&AuditLogging);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        let (p, b) = override_(true);
        let r = audit_mac(true, None).file(&p, b).run(&AuditLogging);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(r.summary.contains(LAUNCHD_DISABLED), "{r:?}");
    }

    #[test]
    fn missing_audit_control_fails() {
        let r = audit_mac(false, None).run(&AuditLogging);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["audit_control"], json!(false));
        assert!(r.summary.contains(AUDIT_CONTROL), "{r:?}");
    }

    #[test]
    fn unreadable_files_are_unknown() {
        let r = audit_mac(true, None)
            .deny("/private/etc/security/audit_control")
            .run(&AuditLogging);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert_eq!(r.facts["openbsm"], json!(null));
        let r = audit_mac(true, None)
            .file(AUDITD_PLIST, "garbage")
            .run(&AuditLogging);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(
            r.reason.as_deref().unwrap().contains("not a valid plist"),
            "{r:?}"
        );
    }
}
