//! `system.sip` — System Integrity Protection and the authenticated root volume
//! (ISO/IEC 27002:2022 8.9 Configuration management, 8.1 User endpoint devices).

use attest_proto::{CheckResult, Evidence, Status};

use crate::checks::{Check, Context, command_evidence, unknown};
use crate::host::sources::{MACOS_CSRUTIL_AUTHROOT, MACOS_CSRUTIL_STATUS};
use crate::host::{CommandOutput, Source};

use super::{lines, quote};

pub const SIP_ENABLED: &str = "System Integrity Protection status: enabled.";
pub const SIP_DISABLED: &str = "System Integrity Protection status: disabled.";
pub const SIP_CUSTOM: &str = "System Integrity Protection status: enabled (Custom Configuration).";
/// The heading of the items of a custom configuration.
pub const CONFIGURATION: &str = "Configuration:";
/// The warning csrutil prints after a custom configuration.
pub const UNSUPPORTED: &str = "This is an unsupported configuration, likely to break in the future and leave your machine in an unknown state.";
pub const AUTHROOT_ENABLED: &str = "Authenticated Root status: enabled";
pub const AUTHROOT_DISABLED: &str = "Authenticated Root status: disabled";

/// What `csrutil status` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipStatus {
    Enabled,
    Disabled,
    /// Enabled with some protections turned off: the items and their state.
    Custom {
        items: Vec<(String, bool)>,
    },
}

impl SipStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            SipStatus::Enabled => "enabled",
            SipStatus::Disabled => "disabled",
            SipStatus::Custom { .. } => "custom",
        }
    }

    /// The protections a custom configuration turns off.
    pub fn disabled_items(&self) -> Vec<String> {
        match self {
            SipStatus::Custom { items } => items
                .iter()
                .filter(|(_, on)| !on)
                .map(|(name, _)| name.clone())
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Output a parser does not accept. The line is the tool's own output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("no output")]
    Empty,
    #[error("unexpected line {}", quote(.0))]
    Unexpected(String),
}

/// Parses `csrutil status`: exactly [`SIP_ENABLED`] or [`SIP_DISABLED`], or
/// [`SIP_CUSTOM`] followed by [`CONFIGURATION`], items `NAME: enabled|disabled`
/// and [`UNSUPPORTED`]. Blank lines are ignored; any other line is an error.
pub fn parse_status(stdout: &str) -> Result<SipStatus, LineError> {
    let mut it = lines(stdout);
    let first = it.next().ok_or(LineError::Empty)?;
    let status = match first {
        SIP_ENABLED => SipStatus::Enabled,
        SIP_DISABLED => SipStatus::Disabled,
        SIP_CUSTOM => {
            let mut items = Vec::new();
            for line in it {
                let trimmed = line.trim();
                if trimmed == CONFIGURATION || trimmed == UNSUPPORTED {
                    continue;
                }
                let item = trimmed.rsplit_once(": ").and_then(|(name, state)| {
                    let on = match state {
                        "enabled" => true,
                        "disabled" => false,
                        _ => return None,
                    };
                    (!name.is_empty()).then(|| (name.to_owned(), on))
                });
                match item {
                    Some(item) => items.push(item),
                    None => return Err(LineError::Unexpected(line.to_owned())),
                }
            }
            return Ok(SipStatus::Custom { items });
        }
        other => return Err(LineError::Unexpected(other.to_owned())),
    };
    match it.next() {
        None => Ok(status),
        Some(extra) => Err(LineError::Unexpected(extra.to_owned())),
    }
}

/// A tool output of exactly one line, `on` (true) or `off` (false); anything else,
/// an extra line included, is an error quoting it.
pub(crate) fn on_or_off(text: &str, on: &str, off: &str) -> Result<bool, LineError> {
    let mut it = lines(text);
    let first = it.next().ok_or(LineError::Empty)?;
    let value = if first == on {
        true
    } else if first == off {
        false
    } else {
        return Err(LineError::Unexpected(first.to_owned()));
    };
    match it.next() {
        None => Ok(value),
        Some(extra) => Err(LineError::Unexpected(extra.to_owned())),
    }
}

/// Parses `csrutil authenticated-root status`: exactly [`AUTHROOT_ENABLED`] or
/// [`AUTHROOT_DISABLED`].
pub fn parse_authroot(stdout: &str) -> Result<bool, LineError> {
    on_or_off(stdout, AUTHROOT_ENABLED, AUTHROOT_DISABLED)
}

/// Runs `source` and parses its standard output; an error names the command.
pub(crate) fn run_parsed<T>(
    ctx: &Context<'_>,
    source: &Source,
    parse: impl Fn(&str) -> Result<T, LineError>,
    require_success: bool,
) -> Result<(T, CommandOutput), String> {
    let out = crate::checks::macos::command_once(ctx, source).map_err(|e| e.to_string())?;
    if require_success && out.exit_code != Some(0) {
        return Err(format!(
            "{}: exited with {}",
            source.describe(),
            out.exit_code
                .map_or_else(|| "a signal".to_owned(), |c| c.to_string())
        ));
    }
    let parsed = parse(&out.stdout).map_err(|e| format!("{}: {e}", source.describe()))?;
    Ok((parsed, out))
}

/// System Integrity Protection (`csrutil status`) and the authenticated root
/// volume (`csrutil authenticated-root status`). Live only: an offline root has no
/// source.
///
/// - pass: [`SIP_ENABLED`] and [`AUTHROOT_ENABLED`];
/// - fail: SIP disabled, or enabled with a custom configuration (the disabled
///   items are listed), or the authenticated root disabled — whichever source
///   answers, even when the other cannot;
/// - unknown: a source gives no answer (offline, not captured, a non-zero exit) or
///   prints any other line, which is quoted.
///
/// Facts: `sip` (`enabled`, `disabled`, `custom` or null), `sip_disabled_items`,
/// `authenticated_root` (bool or null).
pub struct Sip;

impl Check for Sip {
    fn id(&self) -> &'static str {
        "system.sip"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let sip = run_parsed(ctx, &MACOS_CSRUTIL_STATUS, parse_status, true);
        let auth = run_parsed(ctx, &MACOS_CSRUTIL_AUTHROOT, parse_authroot, true);
        let mut evidence: Vec<Evidence> = Vec::new();
        let mut problems: Vec<String> = Vec::new();
        let mut findings: Vec<String> = Vec::new();
        let sip_state = match &sip {
            Ok((status, out)) => {
                let first = lines(&out.stdout).next().unwrap_or_default();
                let excerpt = match status {
                    SipStatus::Custom { .. } => {
                        let mut l = vec![first.to_owned()];
                        l.extend(
                            status
                                .disabled_items()
                                .iter()
                                .map(|n| format!("{n}: disabled")),
                        );
                        l.join("\n")
                    }
                    _ => first.to_owned(),
                };
                evidence.push(command_evidence(out, excerpt));
                match status {
                    SipStatus::Enabled => {}
                    SipStatus::Disabled => {
                        findings.push("System Integrity Protection is disabled".to_owned())
                    }
                    SipStatus::Custom { .. } => findings.push(format!(
                        "System Integrity Protection runs a custom configuration with {} disabled",
                        status.disabled_items().join(", ")
                    )),
                }
                Some(status.clone())
            }
            Err(e) => {
                problems.push(e.clone());
                None
            }
        };
        let auth_state = match &auth {
            Ok((on, out)) => {
                let first = lines(&out.stdout).next().unwrap_or_default();
                evidence.push(command_evidence(out, first));
                if !on {
                    findings.push("the authenticated root volume is disabled".to_owned());
                }
                Some(*on)
            }
            Err(e) => {
                problems.push(e.clone());
                None
            }
        };
        let result = if !findings.is_empty() {
            let mut summary = findings.join("; ");
            if let Some(first) = summary.get(..1) {
                summary = first.to_uppercase() + &summary[1..];
            }
            CheckResult::new(self.id(), Status::Fail, summary)
        } else if !problems.is_empty() {
            unknown(self.id(), problems.join("; "))
        } else {
            CheckResult::new(
                self.id(),
                Status::Pass,
                "System Integrity Protection and the authenticated root volume are enabled",
            )
        };
        // `reason` is for unknown and not_applicable only: a source that gave no
        // answer beside a decided verdict is a fact.
        let result = result.fact("unanswered", &problems);
        result
            .fact("sip", sip_state.as_ref().map(SipStatus::as_str))
            .fact(
                "sip_disabled_items",
                sip_state
                    .as_ref()
                    .map(SipStatus::disabled_items)
                    .unwrap_or_default(),
            )
            .fact("authenticated_root", auth_state)
            .evidences(evidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use serde_json::json;

    const CUSTOM: &str = "System Integrity Protection status: enabled (Custom Configuration).

Configuration:
\tApple Internal: disabled
\tKext Signing: enabled
\tFilesystem Protections: disabled
\tDebugging Restrictions: enabled
\tDTrace Restrictions: enabled
\tNVRAM Protections: enabled
\tBaseSystem Verification: enabled

This is an unsupported configuration, likely to break in the future and leave your machine in an unknown state.
";

    fn mac(status: &str, authroot: &str) -> FakeHost {
        FakeHost::macos()
            .command(&MACOS_CSRUTIL_STATUS, 0, status)
            .command(&MACOS_CSRUTIL_AUTHROOT, 0, authroot)
    }

    #[test]
    fn status_lines_parse_exactly() {
        assert_eq!(
            parse_status(&format!("{SIP_ENABLED}\n")),
            Ok(SipStatus::Enabled)
        );
        assert_eq!(parse_status(SIP_DISABLED), Ok(SipStatus::Disabled));
        let custom = parse_status(CUSTOM).unwrap();
        assert_eq!(
            custom.disabled_items(),
            vec!["Apple Internal", "Filesystem Protections"]
        );
        assert_eq!(parse_status(""), Err(LineError::Empty));
        assert_eq!(
            parse_status("System Integrity Protection status: unknown (Custom Configuration)."),
            Err(LineError::Unexpected(
                "System Integrity Protection status: unknown (Custom Configuration).".into()
            ))
        );
        assert!(parse_status(&format!("{SIP_ENABLED}\nsomething else")).is_err());
        assert!(parse_status(&format!("{SIP_CUSTOM}\n\tKext Signing: maybe")).is_err());
        assert_eq!(parse_authroot(AUTHROOT_ENABLED), Ok(true));
        assert_eq!(parse_authroot(&format!("{AUTHROOT_DISABLED}\n")), Ok(false));
        assert!(parse_authroot("Authenticated Root status: enabled.").is_err());
    }

    #[test]
    fn enabled_passes() {
        let r = mac(SIP_ENABLED, AUTHROOT_ENABLED).run(&Sip);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["sip"], json!("enabled"));
        assert_eq!(r.facts["authenticated_root"], json!(true));
        assert_eq!(r.evidence.len(), 2);
    }

    #[test]
    fn disabled_or_custom_or_no_authenticated_root_fails() {
        let r = mac(SIP_DISABLED, AUTHROOT_ENABLED).run(&Sip);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["sip"], json!("disabled"));

        let r = mac(CUSTOM, AUTHROOT_ENABLED).run(&Sip);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["sip"], json!("custom"));
        assert_eq!(
            r.facts["sip_disabled_items"],
            json!(["Apple Internal", "Filesystem Protections"])
        );
        assert!(
            r.summary.contains("Filesystem Protections"),
            "{}",
            r.summary
        );

        let r = mac(SIP_ENABLED, AUTHROOT_DISABLED).run(&Sip);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["authenticated_root"], json!(false));
    }

    #[test]
    fn a_disabled_sip_fails_even_when_the_other_source_cannot_answer() {
        let r = FakeHost::macos()
            .command(&MACOS_CSRUTIL_STATUS, 0, SIP_DISABLED)
            .run(&Sip);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.reason, None, "{r:?}");
        let unanswered = r.facts["unanswered"].as_array().unwrap();
        assert!(
            unanswered.len() == 1 && unanswered[0].as_str().unwrap().contains("not captured"),
            "{r:?}"
        );
        assert_eq!(r.facts["authenticated_root"], json!(null));
    }

    #[test]
    fn other_lines_offline_and_errors_are_unknown() {
        let odd = "System Integrity Protection status: unknown (Custom Configuration).";
        let r = mac(odd, AUTHROOT_ENABLED).run(&Sip);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.as_deref().unwrap().contains(odd), "{r:?}");

        let r = FakeHost::macos().run(&Sip);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(
            r.reason.as_deref().unwrap().contains("offline root"),
            "{r:?}"
        );

        let r = FakeHost::macos()
            .command(&MACOS_CSRUTIL_STATUS, 1, "")
            .command(&MACOS_CSRUTIL_AUTHROOT, 0, AUTHROOT_ENABLED)
            .run(&Sip);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.as_deref().unwrap().contains("exited with 1"));

        let r = FakeHost::macos()
            .command(&MACOS_CSRUTIL_STATUS, 0, SIP_ENABLED)
            .source_error(&MACOS_CSRUTIL_AUTHROOT, "operation not permitted")
            .run(&Sip);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert_eq!(r.facts["sip"], json!("enabled"));
    }
}
