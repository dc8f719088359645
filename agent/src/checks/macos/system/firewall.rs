//! `system.firewall` on macOS — the Application Firewall (ISO/IEC 27002:2022 8.20
//! Networks security, 8.1 User endpoint devices).

use attest_proto::{CheckResult, Evidence, Status};

use crate::checks::macos::prefs::{self, PrefSource};
use crate::checks::macos::version;
use crate::checks::{Check, Context, command_evidence, unknown};
use crate::host::sources::MACOS_ALF_STATE;

use super::{lines, quote};

/// The managed domain of the Firewall profile payload, and its keys.
pub const MANAGED_DOMAIN: &str = "com.apple.security.firewall";
pub const ENABLE_FIREWALL: &str = "EnableFirewall";
pub const BLOCK_ALL_INCOMING: &str = "BlockAllIncoming";
pub const ENABLE_STEALTH_MODE: &str = "EnableStealthMode";
/// The firewall's own domain (`/Library/Preferences/com.apple.alf.plist`), which
/// holds the state up to macOS 14.
pub const ALF_DOMAIN: &str = "com.apple.alf";
pub const GLOBALSTATE: &str = "globalstate";
pub const STEALTHENABLED: &str = "stealthenabled";

/// What `socketfilterfw --getglobalstate --getblockall --getstealthmode` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlfStatus {
    /// 0 off, 1 on, 2 on and blocking all but essential services.
    pub state: u8,
    pub block_all: bool,
    pub stealth: bool,
}

/// Output the parser does not accept; a line is the tool's own output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlfError {
    #[error("unexpected line {}", quote(.0))]
    Unexpected(String),
    #[error("no {0} line")]
    Missing(&'static str),
}

fn global_state(line: &str) -> Option<u8> {
    let (on, rest) = if let Some(r) = line.strip_prefix("Firewall is enabled. (State = ") {
        (true, r)
    } else {
        (false, line.strip_prefix("Firewall is disabled. (State = ")?)
    };
    match (on, rest) {
        (true, "1)") => Some(1),
        (true, "2)") => Some(2),
        (false, "0)") => Some(0),
        _ => None,
    }
}

fn block_all(line: &str) -> Option<bool> {
    match line {
        "Firewall has block all state set to enabled." => Some(true),
        "Firewall is blocking all non-essential incoming connections." => Some(true),
        "Firewall has block all state set to disabled." => Some(false),
        _ => None,
    }
}

fn stealth(line: &str) -> Option<bool> {
    match line {
        "Firewall stealth mode is on" | "Stealth mode enabled" => Some(true),
        "Firewall stealth mode is off" | "Stealth mode disabled" => Some(false),
        _ => None,
    }
}

/// Parses the three lines, in any order, each exactly once:
///
/// - `Firewall is enabled. (State = 1)` or `(State = 2)`; `Firewall is disabled.
///   (State = 0)`;
/// - `Firewall has block all state set to enabled.` or `… disabled.`, or
///   `Firewall is blocking all non-essential incoming connections.` (enabled);
/// - `Firewall stealth mode is on`/`off`, or `Stealth mode enabled`/`disabled`.
///
/// Blank lines and trailing blanks are ignored; any other line is an error.
pub fn parse_status(stdout: &str) -> Result<AlfStatus, AlfError> {
    let (mut state, mut block, mut stealth_mode) = (None, None, None);
    for line in lines(stdout) {
        let unexpected = || AlfError::Unexpected(line.to_owned());
        if let Some(s) = global_state(line) {
            if state.replace(s).is_some() {
                return Err(unexpected());
            }
        } else if let Some(b) = block_all(line) {
            if block.replace(b).is_some() {
                return Err(unexpected());
            }
        } else if let Some(s) = stealth(line) {
            if stealth_mode.replace(s).is_some() {
                return Err(unexpected());
            }
        } else {
            return Err(unexpected());
        }
    }
    Ok(AlfStatus {
        state: state.ok_or(AlfError::Missing("global state"))?,
        block_all: block.ok_or(AlfError::Missing("block-all"))?,
        stealth: stealth_mode.ok_or(AlfError::Missing("stealth mode"))?,
    })
}

/// What decided, and the facts that go with it.
struct Answer {
    state: i64,
    block_all: Option<bool>,
    stealth: Option<bool>,
    basis: &'static str,
    managed: bool,
    evidence: Vec<Evidence>,
    describe: String,
}

/// The macOS Application Firewall.
///
/// - live: `socketfilterfw --getglobalstate --getblockall --getstealthmode`
///   ([`parse_status`]); block-all is read from its own line, never inferred from
///   state 2. When it answers, it decides;
/// - files, when the live source gives no answer (an offline root): managed
///   `com.apple.security.firewall` `EnableFirewall` (true is state 1, false 0)
///   decides on every version; else on macOS 14 and earlier `com.apple.alf`
///   `globalstate` (managed, then `/Library/Preferences/com.apple.alf.plist`;
///   absent: 0, the firewall is off by default); on macOS 15 and later the plist
///   no longer holds the state, so without a managed value the verdict is unknown,
///   as it is when the version cannot be read.
///
/// pass: state 1 (on) or 2 (block all); fail: 0; unknown: any other value or line
/// (quoted), or no source decides. Third-party firewalls are not recognised.
///
/// Facts: `state`, `enabled`, `block_all` and `stealth_mode` (null when no
/// source says: offline, block-all comes only from a managed `BlockAllIncoming`,
/// stealth mode from managed `EnableStealthMode` or, up to macOS 14,
/// `stealthenabled`), `basis` (`socketfilterfw`, `managed`, `local`, `default`),
/// `managed` (a managed preference decided the state), `macos_version`,
/// `live_error` (why the live source gave no answer, when files were read).
pub struct Firewall;

impl Firewall {
    fn live(&self, ctx: &Context<'_>) -> Result<Answer, String> {
        let out = ctx
            .host
            .command(&MACOS_ALF_STATE)
            .map_err(|e| e.to_string())?;
        let status = parse_status(&out.stdout)
            .map_err(|e| format!("{}: {e}", MACOS_ALF_STATE.describe()))?;
        let excerpt = lines(&out.stdout).collect::<Vec<_>>().join("\n");
        Ok(Answer {
            state: i64::from(status.state),
            block_all: Some(status.block_all),
            stealth: Some(status.stealth),
            basis: "socketfilterfw",
            managed: false,
            evidence: vec![command_evidence(&out, excerpt)],
            describe: format!("socketfilterfw: State = {}", status.state),
        })
    }

    fn files(&self, ctx: &Context<'_>) -> Result<Answer, String> {
        let err = |e: prefs::PlistError| e.to_string();
        let managed_bool = |key: &str| -> Result<Option<(bool, Evidence)>, String> {
            match prefs::managed(ctx.host, MANAGED_DOMAIN, key).map_err(err)? {
                None => Ok(None),
                Some(f) => match prefs::as_bool(&f.value) {
                    Some(b) => Ok(Some((b, f.evidence))),
                    None => Err(format!(
                        "{}: {key} is {}, not a boolean",
                        f.path,
                        prefs::type_name(&f.value)
                    )),
                },
            }
        };
        let block = managed_bool(BLOCK_ALL_INCOMING)?;
        let managed_stealth = managed_bool(ENABLE_STEALTH_MODE)?;
        let mut evidence: Vec<Evidence> = Vec::new();
        let block_all = block.map(|(b, e)| {
            evidence.push(e);
            b
        });
        if let Some((on, e)) = managed_bool(ENABLE_FIREWALL)? {
            evidence.insert(0, e);
            let stealth = managed_stealth.map(|(s, e)| {
                evidence.push(e);
                s
            });
            return Ok(Answer {
                state: i64::from(on),
                block_all,
                stealth,
                basis: "managed",
                managed: true,
                evidence,
                describe: format!(
                    "{}: {ENABLE_FIREWALL} = {on}",
                    prefs::managed_path(MANAGED_DOMAIN)
                ),
            });
        }
        let v = version::get(ctx).map_err(|e| {
            format!("the macOS version decides where the firewall state is kept: {e}")
        })?;
        if v.major >= 15 {
            return Err(format!(
                "macOS {v} keeps the firewall state outside com.apple.alf.plist, and no \
                 managed {MANAGED_DOMAIN} {ENABLE_FIREWALL} is set: only the live \
                 socketfilterfw can tell"
            ));
        }
        let state = prefs::effective_int(ctx.host, ALF_DOMAIN, GLOBALSTATE, 0).map_err(err)?;
        let stealth = match managed_stealth {
            Some((s, e)) => {
                evidence.push(e);
                Some(s)
            }
            None => {
                let s =
                    prefs::effective_int(ctx.host, ALF_DOMAIN, STEALTHENABLED, 0).map_err(err)?;
                evidence.extend(s.evidence);
                Some(s.value != 0)
            }
        };
        evidence.splice(0..0, state.evidence.clone());
        let describe = match &state.path {
            Some(p) => format!("{p}: {GLOBALSTATE} = {}", state.value),
            None => format!("{GLOBALSTATE} is not set: macOS's default 0"),
        };
        Ok(Answer {
            state: state.value,
            block_all,
            stealth,
            basis: match state.source {
                PrefSource::Managed => "managed",
                PrefSource::Local => "local",
                PrefSource::Default => "default",
            },
            managed: state.source == PrefSource::Managed,
            evidence,
            describe,
        })
    }
}

impl Check for Firewall {
    fn id(&self) -> &'static str {
        "system.firewall"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let version = version::get(ctx).ok().map(|v| v.to_string());
        let mut live_error = None;
        let answer = match self.live(ctx) {
            Ok(a) => Ok(a),
            Err(live_err) => {
                let files = self.files(ctx).map_err(|e| format!("{live_err}; {e}"));
                live_error = Some(live_err);
                files
            }
        };
        let a = match answer {
            Ok(a) => a,
            Err(e) => {
                return unknown(self.id(), e)
                    .fact("macos_version", version)
                    .fact("live_error", live_error);
            }
        };
        let result = match a.state {
            1 | 2 => CheckResult::new(
                self.id(),
                Status::Pass,
                if a.block_all == Some(true) {
                    format!(
                        "The Application Firewall is on and blocks all incoming connections ({})",
                        a.describe
                    )
                } else {
                    format!("The Application Firewall is on ({})", a.describe)
                },
            ),
            0 => CheckResult::new(
                self.id(),
                Status::Fail,
                format!("The Application Firewall is off ({})", a.describe),
            ),
            other => unknown(
                self.id(),
                format!(
                    "the firewall state is {other}, none of 0, 1 or 2 ({})",
                    a.describe
                ),
            ),
        };
        result
            .fact("state", a.state)
            .fact(
                "enabled",
                match a.state {
                    0 => Some(false),
                    1 | 2 => Some(true),
                    _ => None,
                },
            )
            .fact("block_all", a.block_all)
            .fact("stealth_mode", a.stealth)
            .fact("basis", a.basis)
            .fact("managed", a.managed)
            .fact("macos_version", version)
            .fact("live_error", live_error)
            .evidences(a.evidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::macos::prefs::tests::{binary, xml};
    use crate::checks::macos::system::testmac::mac;
    use plist::Value;
    use serde_json::json;

    const ON: &str = "Firewall is enabled. (State = 1)\nFirewall has block all state set to disabled.\nFirewall stealth mode is off\n";
    /// Kolide's capture: state 2 with block-all off.
    const STATE2_BLOCKALL_OFF: &str = "Firewall is enabled. (State = 2)\nFirewall has block all state set to disabled.\nStealth mode enabled\n";
    const OFF: &str = "Firewall is disabled. (State = 0)\nFirewall has block all state set to disabled.\nFirewall stealth mode is off\n";

    fn alf(state: i64, stealth: i64) -> Vec<u8> {
        binary(&[
            (GLOBALSTATE, Value::Integer(state.into())),
            (STEALTHENABLED, Value::Integer(stealth.into())),
        ])
    }

    fn managed(entries: &[(&str, Value)]) -> (String, Vec<u8>) {
        (prefs::managed_path(MANAGED_DOMAIN), xml(entries))
    }

    #[test]
    fn socketfilterfw_lines_parse_exactly() {
        assert_eq!(
            parse_status(ON),
            Ok(AlfStatus {
                state: 1,
                block_all: false,
                stealth: false
            })
        );
        let s = parse_status(STATE2_BLOCKALL_OFF).unwrap();
        assert_eq!((s.state, s.block_all, s.stealth), (2, false, true));
        let s = parse_status(
            "Firewall stealth mode is on\nFirewall is blocking all non-essential incoming connections.\nFirewall is enabled. (State = 1)",
        )
        .unwrap();
        assert!(s.block_all && s.stealth);
        assert_eq!(
            parse_status("Firewall is enabled. (State = 0)\n"),
            Err(AlfError::Unexpected(
                "Firewall is enabled. (State = 0)".into()
            ))
        );
        assert_eq!(
            parse_status("Firewall is enabled. (State = 1)\nFirewall stealth mode is on"),
            Err(AlfError::Missing("block-all"))
        );
        assert!(parse_status(&format!("{ON}Firewall is enabled. (State = 1)")).is_err());
        assert!(parse_status(&format!("{ON}Log mode is on")).is_err());
        assert_eq!(parse_status(""), Err(AlfError::Missing("global state")));
    }

    #[test]
    fn live_on_passes_and_off_fails() {
        let r = mac("15.1").command(&MACOS_ALF_STATE, 0, ON).run(&Firewall);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["basis"], json!("socketfilterfw"));
        assert_eq!(r.facts["stealth_mode"], json!(false));
        let r = mac("15.1")
            .command(&MACOS_ALF_STATE, 0, STATE2_BLOCKALL_OFF)
            .run(&Firewall);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["state"], json!(2));
        assert_eq!(
            r.facts["block_all"],
            json!(false),
            "block-all is its own line, never state 2"
        );
        assert_eq!(r.facts["stealth_mode"], json!(true));
        let r = mac("15.1").command(&MACOS_ALF_STATE, 0, OFF).run(&Firewall);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["enabled"], json!(false));
    }

    #[test]
    fn live_decides_over_the_plist() {
        let r = mac("14.2")
            .command(&MACOS_ALF_STATE, 0, OFF)
            .file(&prefs::local_path(ALF_DOMAIN), alf(1, 0))
            .run(&Firewall);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["basis"], json!("socketfilterfw"));
    }

    #[test]
    fn other_lines_fall_back_to_files_and_are_quoted_when_they_cannot_decide() {
        let odd = "Firewall is sort of on";
        let r = mac("15.1").command(&MACOS_ALF_STATE, 0, odd).run(&Firewall);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.as_deref().unwrap().contains(&quote(odd)), "{r:?}");
        // On macOS 14 the plist decides instead.
        let r = mac("14.1")
            .command(&MACOS_ALF_STATE, 0, odd)
            .file(&prefs::local_path(ALF_DOMAIN), alf(1, 1))
            .run(&Firewall);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["basis"], json!("local"));
        assert!(
            r.facts["live_error"]
                .as_str()
                .unwrap()
                .contains(&quote(odd))
        );
    }

    #[test]
    fn offline_macos_14_reads_globalstate() {
        let path = prefs::local_path(ALF_DOMAIN);
        let r = mac("14.6.1").file(&path, alf(1, 1)).run(&Firewall);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["basis"], json!("local"));
        assert_eq!(r.facts["stealth_mode"], json!(true));
        assert_eq!(r.facts["block_all"], json!(null));
        assert_eq!(r.facts["macos_version"], json!("14.6.1"));
        let r = mac("14.6.1").file(&path, alf(2, 0)).run(&Firewall);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        let r = mac("14.6.1").file(&path, alf(0, 0)).run(&Firewall);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.evidence.len(), 2);
        // Absent: macOS's default, off.
        let r = mac("14.0").run(&Firewall);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["basis"], json!("default"));
        // Any other value: unknown.
        let r = mac("14.0").file(&path, alf(7, 0)).run(&Firewall);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert_eq!(r.facts["enabled"], json!(null));
    }

    #[test]
    fn offline_macos_15_needs_a_managed_value() {
        // The plist no longer holds the state on 15: it is not read.
        let path = prefs::local_path(ALF_DOMAIN);
        let r = mac("15.0").file(&path, alf(1, 0)).run(&Firewall);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.as_deref().unwrap().contains("managed"), "{r:?}");
        let (p, b) = managed(&[
            (ENABLE_FIREWALL, Value::Boolean(true)),
            (BLOCK_ALL_INCOMING, Value::Boolean(true)),
            (ENABLE_STEALTH_MODE, Value::Boolean(true)),
        ]);
        let r = mac("15.0").file(&p, b).run(&Firewall);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["managed"], json!(true));
        assert_eq!(r.facts["basis"], json!("managed"));
        assert_eq!(r.facts["block_all"], json!(true));
        assert_eq!(r.facts["stealth_mode"], json!(true));
        assert_eq!(r.evidence.len(), 3);
        let (p, b) = managed(&[(ENABLE_FIREWALL, Value::Boolean(false))]);
        let r = mac("26.1").file(&p, b).run(&Firewall);
        assert_eq!(r.status, Status::Fail, "{r:?}");
    }

    #[test]
    fn a_managed_value_wins_on_macos_14_too() {
        let (p, b) = managed(&[(ENABLE_FIREWALL, Value::Boolean(true))]);
        let r = mac("14.3")
            .file(&p, b)
            .file(&prefs::local_path(ALF_DOMAIN), alf(0, 0))
            .run(&Firewall);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["basis"], json!("managed"));
    }

    #[test]
    fn an_unknown_version_or_unreadable_plist_is_unknown_offline() {
        let r = crate::host::fake::FakeHost::macos().run(&Firewall);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.as_deref().unwrap().contains("macOS version"));
        let path = prefs::local_path(ALF_DOMAIN);
        let r = mac("14.0")
            .file(&path, alf(1, 0))
            .deny(&path)
            .run(&Firewall);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.as_deref().unwrap().contains("permission denied"));
        let (p, b) = managed(&[(ENABLE_FIREWALL, Value::String("sure".into()))]);
        let r = mac("15.0").file(&p, b).run(&Firewall);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
    }
}
