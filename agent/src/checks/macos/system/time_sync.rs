//! `system.time_sync` — automatic time on macOS (ISO/IEC 27002:2022 8.17 Clock
//! synchronization).

use attest_proto::{CheckResult, Evidence, Status};

use crate::checks::macos::prefs::{self, PrefSource, as_bool, type_name};
use crate::checks::macos::remote::LAUNCHD_DISABLED;
use crate::checks::{Check, Context, command_evidence, unknown};
use crate::host::sources::MACOS_SYSTEMSETUP_NETWORKTIME;

use super::sip::{LineError, on_or_off};

pub const NETWORK_TIME_ON: &str = "Network Time: On";
pub const NETWORK_TIME_OFF: &str = "Network Time: Off";
/// The domain and key of automatic time (managed first, then local; default true).
pub const TIMED_DOMAIN: &str = "com.apple.timed";
pub const AUTOMATIC_KEY: &str = "TMAutomaticTimeOnlyEnabled";
/// The launchd label of the time daemon.
pub const TIMED_LABEL: &str = "com.apple.timed";

/// Parses `systemsetup -getusingnetworktime`: exactly [`NETWORK_TIME_ON`] or
/// [`NETWORK_TIME_OFF`].
pub fn parse_network_time(text: &str) -> Result<bool, LineError> {
    on_or_off(text, NETWORK_TIME_ON, NETWORK_TIME_OFF)
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// Whether launchd's overrides disable `timed`: `(disabled, evidence)`.
fn timed_disabled(ctx: &Context<'_>) -> Result<(bool, Option<Evidence>), String> {
    let Some(found) =
        prefs::read_key(ctx.host, LAUNCHD_DISABLED, TIMED_LABEL).map_err(|e| e.to_string())?
    else {
        return Ok((false, None));
    };
    let disabled = as_bool(&found.value).ok_or_else(|| {
        format!(
            "{LAUNCHD_DISABLED}: {TIMED_LABEL} is {}, not a boolean",
            type_name(&found.value)
        )
    })?;
    Ok((disabled, Some(found.evidence)))
}

/// Automatic time.
///
/// - live: `systemsetup -getusingnetworktime` prints exactly `Network Time: On` or
///   `Network Time: Off` (any other output is not an answer);
/// - files: `com.apple.timed` `TMAutomaticTimeOnlyEnabled`, managed first, then
///   `/Library/Preferences/com.apple.timed.plist`, default true; and `com.apple.timed`
///   not set true in launchd's `disabled.plist`.
///
/// pass: automatic time on and `timed` not disabled; fail: off, or `timed`
/// disabled; unknown: live and a file that sets the key disagree (a default never
/// contradicts the live answer), or automatic time or `timed`'s state cannot be read.
///
/// Facts: `automatic_time` (`on`/`off`/null), `decided_by` (`systemsetup`,
/// `managed`, `local`, `default` or null), `live`, `file_value`, `file_source`,
/// `file_path`, `managed`, `timed_disabled`.
pub struct TimeSync;

impl Check for TimeSync {
    fn id(&self) -> &'static str {
        "system.time_sync"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let mut evidence = Vec::new();
        let mut problems = Vec::new();

        let live = match ctx.host.command(&MACOS_SYSTEMSETUP_NETWORKTIME) {
            Ok(out) => match parse_network_time(&out.stdout) {
                Ok(on) => {
                    evidence.push(command_evidence(
                        &out,
                        if on {
                            NETWORK_TIME_ON
                        } else {
                            NETWORK_TIME_OFF
                        },
                    ));
                    Some(on)
                }
                Err(e) => {
                    problems.push(format!("{}: {e}", MACOS_SYSTEMSETUP_NETWORKTIME.describe()));
                    None
                }
            },
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        };
        let file = match prefs::effective_bool(ctx.host, TIMED_DOMAIN, AUTOMATIC_KEY, true) {
            Ok(f) => {
                evidence.extend(f.evidence.clone());
                Some(f)
            }
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        };
        let timed = match timed_disabled(ctx) {
            Ok((d, ev)) => {
                evidence.extend(ev);
                Some(d)
            }
            Err(e) => {
                problems.push(e);
                None
            }
        };

        let file_decides = file
            .as_ref()
            .filter(|f| f.source != PrefSource::Default || live.is_none());
        let automatic: Result<(bool, &'static str), String> = match (live, file_decides) {
            (Some(l), Some(f)) if l != f.value => Err(format!(
                "live and file disagree: systemsetup says network time is {}, {} sets {AUTOMATIC_KEY} = {}",
                on_off(l),
                f.path.as_deref().unwrap_or("the default"),
                f.value
            )),
            (Some(l), _) => Ok((l, "systemsetup")),
            (None, Some(f)) => Ok((f.value, f.source.as_str())),
            (None, None) => Err(problems.join("; ")),
        };

        let result = match (&automatic, timed) {
            (Err(why), _) => unknown(self.id(), why.clone()),
            (Ok((false, by)), _) => CheckResult::new(
                self.id(),
                Status::Fail,
                format!("automatic time is off ({by})"),
            ),
            (Ok((true, _)), Some(true)) => CheckResult::new(
                self.id(),
                Status::Fail,
                format!(
                    "{TIMED_LABEL} is disabled in {LAUNCHD_DISABLED}: the clock is not synchronised"
                ),
            ),
            (Ok((true, by)), Some(false)) => CheckResult::new(
                self.id(),
                Status::Pass,
                format!("automatic time is on ({by}) and {TIMED_LABEL} is not disabled"),
            ),
            (Ok((true, _)), None) => unknown(self.id(), problems.join("; ")),
        };
        // `reason` is for unknown and not_applicable only: a source that gave no
        // answer beside a decided verdict is a fact.
        let result = result.fact("unanswered", &problems);
        let (automatic_time, decided_by) = match automatic {
            Ok((on, by)) => (Some(on_off(on)), Some(by)),
            Err(_) => (None, None),
        };
        result
            .fact("automatic_time", automatic_time)
            .fact("decided_by", decided_by)
            .fact("live", live.map(on_off))
            .fact("file_value", file.as_ref().map(|f| f.value))
            .fact("file_source", file.as_ref().map(|f| f.source.as_str()))
            .fact("file_path", file.as_ref().and_then(|f| f.path.clone()))
            .fact(
                "managed",
                file.as_ref().map(|f| f.source == PrefSource::Managed),
            )
            .fact("timed_disabled", timed)
            .evidences(evidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::macos::prefs::tests::{binary, xml};
    use crate::checks::macos::system::testmac::mac;
    use plist::Value;
    use serde_json::json;

    fn automatic(on: bool) -> Vec<u8> {
        binary(&[(AUTOMATIC_KEY, Value::Boolean(on))])
    }

    fn launchd(timed_disabled: bool) -> Vec<u8> {
        binary(&[
            ("com.apple.ftpd", Value::Boolean(true)),
            (TIMED_LABEL, Value::Boolean(timed_disabled)),
        ])
    }

    #[test]
    fn systemsetup_lines_parse_exactly() {
        assert_eq!(parse_network_time("Network Time: On\n"), Ok(true));
        assert_eq!(parse_network_time(NETWORK_TIME_OFF), Ok(false));
        assert_eq!(parse_network_time(" \n"), Err(LineError::Empty));
        assert!(
            parse_network_time("You need administrator access to run this tool... exiting!")
                .is_err()
        );
        assert!(parse_network_time("Network Time: on").is_err());
        assert!(parse_network_time("Network Time: On\nNetwork Time: Off").is_err());
    }

    #[test]
    fn live_on_passes_and_off_fails() {
        let r = mac("15.1")
            .command(&MACOS_SYSTEMSETUP_NETWORKTIME, 0, "Network Time: On\n")
            .run(&TimeSync);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["decided_by"], json!("systemsetup"));
        assert_eq!(r.facts["file_source"], json!("default"));
        assert_eq!(r.facts["unanswered"], json!([]));
        // Without the live answer the files decide; the missing source is a fact,
        // never a reason on a decided verdict.
        let r = mac("15.1").run(&TimeSync);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.reason, None, "{r:?}");
        assert!(
            r.facts["unanswered"][0]
                .as_str()
                .unwrap()
                .contains("systemsetup"),
            "{r:?}"
        );
        let r = mac("15.1")
            .command(&MACOS_SYSTEMSETUP_NETWORKTIME, 0, "Network Time: Off\n")
            .run(&TimeSync);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["automatic_time"], json!("off"));
    }

    #[test]
    fn live_and_file_disagreeing_is_unknown() {
        let r = mac("15.1")
            .command(&MACOS_SYSTEMSETUP_NETWORKTIME, 0, "Network Time: On\n")
            .file(&prefs::local_path(TIMED_DOMAIN), automatic(false))
            .run(&TimeSync);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.as_deref().unwrap().contains("disagree"), "{r:?}");
    }

    #[test]
    fn offline_default_is_on_and_passes() {
        let r = mac("14.5").run(&TimeSync);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["decided_by"], json!("default"));
        assert_eq!(r.facts["timed_disabled"], json!(false));
    }

    #[test]
    fn offline_local_off_fails_and_managed_wins() {
        let r = mac("14.5")
            .file(&prefs::local_path(TIMED_DOMAIN), automatic(false))
            .run(&TimeSync);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["decided_by"], json!("local"));
        assert_eq!(r.evidence.len(), 1);
        let r = mac("14.5")
            .file(&prefs::local_path(TIMED_DOMAIN), automatic(false))
            .file(
                &prefs::managed_path(TIMED_DOMAIN),
                xml(&[(AUTOMATIC_KEY, Value::Boolean(true))]),
            )
            .run(&TimeSync);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["managed"], json!(true));
        assert_eq!(r.facts["decided_by"], json!("managed"));
    }

    #[test]
    fn timed_disabled_in_launchd_fails_even_when_automatic_time_is_on() {
        let r = mac("15.1")
            .link("/var", "private/var")
            .command(&MACOS_SYSTEMSETUP_NETWORKTIME, 0, "Network Time: On\n")
            .file(&format!("/private{LAUNCHD_DISABLED}"), launchd(true))
            .run(&TimeSync);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["timed_disabled"], json!(true));
        // Set false: not disabled.
        let r = mac("15.1")
            .link("/var", "private/var")
            .file(&format!("/private{LAUNCHD_DISABLED}"), launchd(false))
            .run(&TimeSync);
        assert_eq!(r.status, Status::Pass, "{r:?}");
    }

    #[test]
    fn unreadable_files_without_a_live_answer_are_unknown() {
        let r = mac("15.1")
            .file(&prefs::local_path(TIMED_DOMAIN), automatic(true))
            .deny(&prefs::local_path(TIMED_DOMAIN))
            .run(&TimeSync);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert_eq!(r.facts["automatic_time"], json!(null));
        // Automatic time known but timed's state unreadable: unknown too.
        let r = mac("15.1")
            .command(&MACOS_SYSTEMSETUP_NETWORKTIME, 0, "Network Time: On\n")
            .file(LAUNCHD_DISABLED, "garbage")
            .run(&TimeSync);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(
            r.reason.as_deref().unwrap().contains("not a valid plist"),
            "{r:?}"
        );
    }
}
