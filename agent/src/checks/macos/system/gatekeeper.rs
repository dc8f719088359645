//! `system.gatekeeper` — Gatekeeper assessments (ISO/IEC 27002:2022 8.7 Protection
//! against malware, 8.9 Configuration management, 8.1 User endpoint devices).

use attest_proto::{CheckResult, Evidence, Status};

use crate::checks::macos::prefs::{self, PrefSource};
use crate::checks::macos::version;
use crate::checks::{Check, Context, command_evidence, file_evidence, unknown};
use crate::host::sources::MACOS_SPCTL_STATUS;

use super::lines;
use super::sip::{LineError, on_or_off};

pub const ENABLED: &str = "assessments enabled";
pub const DISABLED: &str = "assessments disabled";
/// The managed domain and keys of the Gatekeeper profile payload.
pub const MANAGED_DOMAIN: &str = "com.apple.systempolicy.control";
pub const ENABLE_ASSESSMENT: &str = "EnableAssessment";
pub const ALLOW_IDENTIFIED_DEVELOPERS: &str = "AllowIdentifiedDevelopers";
/// Gatekeeper's own settings on macOS 15 and later.
pub const PREFS_15: &str = "/var/db/SystemPolicyConfiguration/SystemPolicy-prefs.plist";
/// Gatekeeper's own settings before macOS 15 (read after [`PREFS_15`] on 15+).
pub const PREFS_LEGACY: &str = "/var/db/SystemPolicy-prefs.plist";
/// The key of the settings files: `yes` or `no`.
pub const ENABLED_KEY: &str = "enabled";

/// Parses `spctl --status`: exactly [`ENABLED`] or [`DISABLED`].
pub fn parse_status(text: &str) -> Result<bool, LineError> {
    on_or_off(text, ENABLED, DISABLED)
}

/// What the files say.
struct FileAnswer {
    enabled: bool,
    source: PrefSource,
    path: Option<String>,
    evidence: Option<Evidence>,
}

fn word(on: bool) -> &'static str {
    if on { "enabled" } else { "disabled" }
}

/// The settings files in the order they are read for `major` (`None`: unknown).
pub fn prefs_paths(major: Option<u32>) -> &'static [&'static str] {
    match major {
        Some(m) if m < 15 => &[PREFS_LEGACY],
        _ => &[PREFS_15, PREFS_LEGACY],
    }
}

fn from_files(ctx: &Context<'_>, major: Option<u32>) -> Result<FileAnswer, String> {
    if let Some(found) =
        prefs::managed(ctx.host, MANAGED_DOMAIN, ENABLE_ASSESSMENT).map_err(|e| e.to_string())?
    {
        let enabled = prefs::as_bool(&found.value).ok_or_else(|| {
            format!(
                "{}: {ENABLE_ASSESSMENT} is {}, not a boolean",
                found.path,
                prefs::type_name(&found.value)
            )
        })?;
        return Ok(FileAnswer {
            enabled,
            source: PrefSource::Managed,
            path: Some(found.path),
            evidence: Some(found.evidence),
        });
    }
    for path in prefs_paths(major) {
        let Some((bytes, dict)) = prefs::read_dict(ctx.host, path).map_err(|e| e.to_string())?
        else {
            continue;
        };
        let Some(value) = dict.get(ENABLED_KEY) else {
            // A settings file without the key: the default.
            return Ok(FileAnswer {
                enabled: true,
                source: PrefSource::Default,
                path: Some((*path).to_owned()),
                evidence: None,
            });
        };
        let enabled = match value.as_string() {
            Some("yes") => true,
            Some("no") => false,
            _ => {
                return Err(format!(
                    "{path}: {ENABLED_KEY} is {}, neither \"yes\" nor \"no\"",
                    prefs::render(value)
                ));
            }
        };
        return Ok(FileAnswer {
            enabled,
            source: PrefSource::Local,
            path: Some((*path).to_owned()),
            evidence: Some(file_evidence(
                path,
                &bytes,
                format!("{ENABLED_KEY} = {}", prefs::render(value)),
            )),
        });
    }
    Ok(FileAnswer {
        enabled: true,
        source: PrefSource::Default,
        path: None,
        evidence: None,
    })
}

fn decided(id: &str, on: bool, basis: &str) -> CheckResult {
    CheckResult::new(
        id,
        if on { Status::Pass } else { Status::Fail },
        format!("Gatekeeper assessments are {} ({basis})", word(on)),
    )
}

/// Gatekeeper's assessments.
///
/// - live: `spctl --status` prints exactly `assessments enabled` or
///   `assessments disabled` (on standard output, or on standard error when
///   standard output is empty; its exit code is not read, as spctl exits 1 when
///   assessments are disabled);
/// - files: managed `com.apple.systempolicy.control` `EnableAssessment` wins; else
///   on macOS 15 and later (or an unknown version)
///   `/var/db/SystemPolicyConfiguration/SystemPolicy-prefs.plist`, then
///   `/var/db/SystemPolicy-prefs.plist` (the only one read on macOS 14 and
///   earlier), key `enabled` (`yes`/`no`). No file, or a file without the key:
///   enabled (macOS's default).
///
/// pass: enabled; fail: disabled; unknown: live and a file that sets the value
/// disagree (a default never contradicts the live answer: the live answer then
/// decides), or neither source answers, or a source prints or holds anything else.
///
/// Facts: `assessments` (`enabled`/`disabled`/null), `live` (the live answer or
/// null), `file_value`, `file_source` (`managed`/`local`/`default`), `file_path`,
/// `managed` (whether an MDM profile sets `EnableAssessment`),
/// `allow_identified_developers` (managed `AllowIdentifiedDevelopers`, or null),
/// `macos_version`.
pub struct Gatekeeper;

impl Check for Gatekeeper {
    fn id(&self) -> &'static str {
        "system.gatekeeper"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let version = version::get(ctx);
        let major = version.as_ref().ok().map(|v| v.major);
        let mut evidence = Vec::new();
        let mut problems = Vec::new();

        let live = match ctx.host.command(&MACOS_SPCTL_STATUS) {
            Ok(out) => {
                let text = if lines(&out.stdout).next().is_some() {
                    &out.stdout
                } else {
                    &out.stderr
                };
                match parse_status(text) {
                    Ok(on) => {
                        evidence.push(command_evidence(&out, if on { ENABLED } else { DISABLED }));
                        Some(on)
                    }
                    Err(e) => {
                        problems.push(format!("{}: {e}", MACOS_SPCTL_STATUS.describe()));
                        None
                    }
                }
            }
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        };
        let file = match from_files(ctx, major) {
            Ok(f) => {
                evidence.extend(f.evidence.clone());
                Some(f)
            }
            Err(e) => {
                problems.push(e);
                None
            }
        };
        let allow_dev = prefs::managed(ctx.host, MANAGED_DOMAIN, ALLOW_IDENTIFIED_DEVELOPERS)
            .ok()
            .flatten()
            .and_then(|f| prefs::as_bool(&f.value));

        let file_decides = file
            .as_ref()
            .filter(|f| f.source != PrefSource::Default || live.is_none());
        let result = match (live, file_decides) {
            (Some(l), Some(f)) if l != f.enabled => unknown(
                self.id(),
                format!(
                    "live and file disagree: spctl says assessments {}, {} says {}",
                    word(l),
                    f.path.as_deref().unwrap_or("the default"),
                    word(f.enabled)
                ),
            ),
            (Some(on), f) => {
                let basis = match f {
                    Some(f) => format!("spctl, and {}", f.path.as_deref().unwrap_or("the default")),
                    None => "spctl".to_owned(),
                };
                decided(self.id(), on, &basis)
            }
            (None, Some(f)) => {
                let basis = match (&f.path, f.source) {
                    (Some(p), PrefSource::Managed | PrefSource::Local) => p.clone(),
                    (Some(p), PrefSource::Default) => {
                        format!("{p} does not set {ENABLED_KEY}: macOS's default")
                    }
                    (None, _) => "no settings file: macOS's default".to_owned(),
                };
                decided(self.id(), f.enabled, &basis)
            }
            (None, None) => unknown(self.id(), problems.join("; ")),
        };
        // `reason` is for unknown and not_applicable only: a source that gave no
        // answer beside a decided verdict is a fact.
        let result = result.fact("unanswered", &problems);
        let assessments = match result.status {
            Status::Pass => Some("enabled"),
            Status::Fail => Some("disabled"),
            _ => None,
        };
        result
            .fact("assessments", assessments)
            .fact("live", live.map(word))
            .fact("file_value", file.as_ref().map(|f| word(f.enabled)))
            .fact("file_source", file.as_ref().map(|f| f.source.as_str()))
            .fact("file_path", file.as_ref().and_then(|f| f.path.clone()))
            .fact(
                "managed",
                file.as_ref().map(|f| f.source == PrefSource::Managed),
            )
            .fact("allow_identified_developers", allow_dev)
            .fact("macos_version", version.ok().map(|v| v.to_string()))
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

    fn yes_no(v: &str) -> Vec<u8> {
        binary(&[(ENABLED_KEY, Value::String(v.into()))])
    }

    fn managed(on: bool) -> (String, Vec<u8>) {
        (
            prefs::managed_path(MANAGED_DOMAIN),
            xml(&[
                (ENABLE_ASSESSMENT, Value::Boolean(on)),
                (ALLOW_IDENTIFIED_DEVELOPERS, Value::Boolean(true)),
            ]),
        )
    }

    #[test]
    fn spctl_lines_parse_exactly() {
        assert_eq!(parse_status("assessments enabled\n"), Ok(true));
        assert_eq!(parse_status(DISABLED), Ok(false));
        assert_eq!(parse_status("  \n"), Err(LineError::Empty));
        assert!(parse_status("assessments enabled (developer id)").is_err());
        assert!(parse_status("assessments enabled\nassessments disabled").is_err());
    }

    #[test]
    fn live_enabled_passes_and_disabled_fails() {
        let r = mac("15.1")
            .command(&MACOS_SPCTL_STATUS, 0, "assessments enabled\n")
            .run(&Gatekeeper);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["live"], json!("enabled"));
        assert_eq!(r.facts["file_source"], json!("default"));
        // spctl exits 1 when assessments are disabled: the line decides.
        let r = mac("15.1")
            .command(&MACOS_SPCTL_STATUS, 1, "assessments disabled\n")
            .run(&Gatekeeper);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["assessments"], json!("disabled"));
    }

    #[test]
    fn spctl_on_standard_error_is_read() {
        let mut fake = mac("14.5");
        fake.answer(
            &MACOS_SPCTL_STATUS,
            crate::host::Captured::Command {
                exit_code: Some(1),
                stdout: String::new(),
                stderr: "assessments disabled\n".into(),
            },
        );
        assert_eq!(fake.run(&Gatekeeper).status, Status::Fail);
    }

    #[test]
    fn live_and_file_disagreeing_is_unknown() {
        let r = mac("15.1")
            .command(&MACOS_SPCTL_STATUS, 0, "assessments enabled")
            .file(PREFS_15, yes_no("no"))
            .run(&Gatekeeper);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.as_deref().unwrap().contains("disagree"), "{r:?}");
        // A managed value disagreeing with spctl: unknown too.
        let (p, b) = managed(false);
        let r = mac("14.1")
            .command(&MACOS_SPCTL_STATUS, 0, "assessments enabled")
            .file(&p, b)
            .run(&Gatekeeper);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
    }

    #[test]
    fn other_spctl_lines_are_unknown_quoting_the_line_when_files_cannot_decide() {
        let r = mac("15.1")
            .command(&MACOS_SPCTL_STATUS, 0, "assessments enabled (sort of)")
            .file(PREFS_15, "garbage")
            .run(&Gatekeeper);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        let reason = r.reason.unwrap();
        assert!(
            reason.contains("\"assessments enabled (sort of)\""),
            "{reason}"
        );
        assert!(reason.contains("not a valid plist"), "{reason}");
    }

    #[test]
    fn offline_macos_15_reads_the_new_path_before_the_old() {
        let r = mac("15.0")
            .file(PREFS_15, yes_no("no"))
            .file(PREFS_LEGACY, yes_no("yes"))
            .run(&Gatekeeper);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["file_path"], json!(PREFS_15));
        assert_eq!(r.facts["file_source"], json!("local"));
        assert_eq!(r.evidence.len(), 1);
        // Only the old path: it decides.
        let r = mac("15.0")
            .file(PREFS_LEGACY, yes_no("no"))
            .run(&Gatekeeper);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["file_path"], json!(PREFS_LEGACY));
    }

    #[test]
    fn offline_macos_14_reads_only_the_old_path() {
        let r = mac("14.6.1")
            .file(PREFS_15, yes_no("no"))
            .file(PREFS_LEGACY, yes_no("yes"))
            .run(&Gatekeeper);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["file_path"], json!(PREFS_LEGACY));
        assert_eq!(r.facts["macos_version"], json!("14.6.1"));
    }

    #[test]
    fn offline_absent_file_or_key_means_enabled() {
        let r = mac("15.2").run(&Gatekeeper);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["file_source"], json!("default"));
        let r = mac("15.2")
            .file(PREFS_15, xml(&[("other", Value::Boolean(false))]))
            .run(&Gatekeeper);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["file_source"], json!("default"));
        assert_eq!(r.facts["file_path"], json!(PREFS_15));
    }

    #[test]
    fn managed_enable_assessment_wins_and_is_recorded() {
        let (p, b) = managed(false);
        let r = mac("15.2")
            .file(&p, b)
            .file(PREFS_15, yes_no("yes"))
            .run(&Gatekeeper);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["managed"], json!(true));
        assert_eq!(r.facts["file_source"], json!("managed"));
        assert_eq!(r.facts["allow_identified_developers"], json!(true));
        let (p, b) = managed(true);
        let r = mac("15.2")
            .file(&p, b)
            .file(PREFS_15, yes_no("no"))
            .run(&Gatekeeper);
        assert_eq!(r.status, Status::Pass, "{r:?}");
    }

    #[test]
    fn unreadable_or_odd_settings_offline_are_unknown() {
        let r = mac("15.2").file(PREFS_15, yes_no("maybe")).run(&Gatekeeper);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.as_deref().unwrap().contains("neither"), "{r:?}");
        let r = mac("15.2")
            .file(PREFS_15, yes_no("yes"))
            .deny("/var/db/SystemPolicyConfiguration")
            .run(&Gatekeeper);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.as_deref().unwrap().contains("permission denied"));
        // The live answer decides when the file cannot be read, and says so.
        let r = FakeHost::macos()
            .command(&MACOS_SPCTL_STATUS, 0, "assessments enabled")
            .file(PREFS_LEGACY, yes_no("yes"))
            .deny(PREFS_LEGACY)
            .run(&Gatekeeper);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.reason, None, "{r:?}");
        assert!(
            r.facts["unanswered"][0]
                .as_str()
                .unwrap()
                .contains("permission denied"),
            "{r:?}"
        );
        assert_eq!(r.facts["macos_version"], json!(null));
    }
}
