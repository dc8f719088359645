//! `system.screen_lock` on macOS — the screen locks with a password soon enough
//! after the user leaves (ISO/IEC 27002:2022 7.7 Clear desk and clear screen, 8.1
//! User endpoint devices).

use std::collections::BTreeMap;

use attest_proto::{CheckResult, Evidence, Status};
use plist::Value;
use serde::Serialize;

use super::{lines, quote};
use crate::checks::macos::accounts::dslocal::{self, Directory, FIRST_HUMAN_UID};
use crate::checks::macos::ioreg;
use crate::checks::macos::prefs::{self, MANAGED_DIR, PlistError, as_bool, type_name};
use crate::checks::{Check, Context, command_evidence, file_evidence, unknown};
use crate::host::sources::{MACOS_PMSET_CUSTOM, MACOS_SYSADMINCTL_SCREENLOCK};
use crate::host::{Host, SessionUser, join_path};

/// The screen saver's preference domain.
pub const DOMAIN: &str = "com.apple.screensaver";
pub const ASK_FOR_PASSWORD: &str = "askForPassword";
pub const ASK_FOR_PASSWORD_DELAY: &str = "askForPasswordDelay";
pub const IDLE_TIME: &str = "idleTime";
/// Power management settings, per power source.
pub const POWER_PLIST: &str = "/Library/Preferences/com.apple.PowerManagement.plist";
/// The key of the display sleep timer (minutes; 0 = never).
pub const DISPLAY_SLEEP_TIMER: &str = "Display Sleep Timer";
/// The console device: its owner is the user logged in at the screen.
pub const CONSOLE: &str = "/dev/console";
/// The power sources of the plist, by the names `pmset -g custom` prints.
const POWER_SOURCES: [&str; 3] = ["AC Power", "Battery Power", "UPS Power"];

pub const LOCK_IMMEDIATE: &str = "screenLock delay is immediate";
pub const LOCK_OFF: &str = "screenLock is off";

/// What `sysadminctl -screenLock status` says for one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockState {
    /// A password is asked this many seconds after the screen saver starts or the
    /// display sleeps (`immediate` is 0).
    After(u64),
    Off,
}

/// Output `sysadminctl` prints that the parser does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockLineError {
    #[error("no output")]
    Empty,
    #[error("unexpected line {}", quote(.0))]
    Unexpected(String),
}

/// The message of a line, without the `DATE TIME sysadminctl[PID:TID] ` prefix
/// that sysadminctl's logging adds.
fn message(line: &str) -> &str {
    let t = line.trim();
    match t.find("sysadminctl[").and_then(|at| {
        let rest = &t[at..];
        rest.find("] ").map(|end| &rest[end + 2..])
    }) {
        Some(m) if t.starts_with(|c: char| c.is_ascii_digit()) => m.trim(),
        _ => t,
    }
}

/// Parses the output of `sysadminctl -screenLock status`: exactly one of
/// `screenLock delay is immediate`, `screenLock delay is N seconds` or
/// `screenLock is off` (after sysadminctl's optional log prefix); any other line
/// is an error quoting it.
pub fn parse_screenlock(text: &str) -> Result<LockState, LockLineError> {
    let mut found = None;
    for line in lines(text) {
        let m = message(line);
        let state = if m == LOCK_IMMEDIATE {
            LockState::After(0)
        } else if m == LOCK_OFF {
            LockState::Off
        } else if let Some(n) = m
            .strip_prefix("screenLock delay is ")
            .and_then(|r| r.strip_suffix(" seconds"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            LockState::After(n)
        } else {
            return Err(LockLineError::Unexpected(line.to_owned()));
        };
        if found.replace(state).is_some() {
            return Err(LockLineError::Unexpected(line.to_owned()));
        }
    }
    found.ok_or(LockLineError::Empty)
}

/// Display sleep in minutes per power source (`AC Power`, `Battery Power`, …).
pub type DisplaySleep = BTreeMap<String, u64>;

/// Why power settings could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PowerError {
    #[error("no power source with a display sleep value")]
    NoValue,
    #[error("displaysleep of {source_name} is {}, not minutes", quote(.value))]
    NotMinutes { source_name: String, value: String },
}

/// Parses `pmset -g custom`: sections headed `NAME Power:`, lines `key value`;
/// the first word after `displaysleep` is the display sleep in minutes (0 =
/// never). Other keys are not read.
pub fn parse_pmset_custom(text: &str) -> Result<DisplaySleep, PowerError> {
    let mut out = DisplaySleep::new();
    let mut section: Option<String> = None;
    for line in lines(text) {
        if !line.starts_with([' ', '\t']) {
            section = line.strip_suffix(':').map(|s| s.trim().to_owned());
            continue;
        }
        let mut words = line.split_whitespace();
        if words.next() != Some("displaysleep") {
            continue;
        }
        let Some(name) = &section else { continue };
        let value = words.next().unwrap_or_default();
        let minutes = value.parse::<u64>().map_err(|_| PowerError::NotMinutes {
            source_name: name.clone(),
            value: value.to_owned(),
        })?;
        out.insert(name.clone(), minutes);
    }
    if out.is_empty() {
        Err(PowerError::NoValue)
    } else {
        Ok(out)
    }
}

/// The display sleep timers of `com.apple.PowerManagement.plist`: per power source
/// (`AC Power`, `Battery Power`, `UPS Power`) a dictionary with
/// `Display Sleep Timer` (minutes), at the top level or (older macOS) under
/// `Custom Profile`.
pub fn power_plist_display_sleep(dict: &plist::Dictionary) -> DisplaySleep {
    let mut out = DisplaySleep::new();
    let profiles = [
        Some(dict),
        dict.get("Custom Profile").and_then(Value::as_dictionary),
    ];
    for profile in profiles.into_iter().flatten() {
        for name in POWER_SOURCES {
            let minutes = profile
                .get(name)
                .and_then(Value::as_dictionary)
                .and_then(|d| d.get(DISPLAY_SLEEP_TIMER))
                .and_then(|v| v.as_unsigned_integer());
            if let Some(m) = minutes {
                out.entry(name.to_owned()).or_insert(m);
            }
        }
    }
    out
}

/// A value as judged, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sourced<T> {
    pub value: T,
    /// `sysadminctl`, `pmset`, or the plist path.
    pub source: String,
}

/// The display sleep timers of the Mac, and their evidence.
#[derive(Debug, Clone)]
struct Power {
    sleep: Option<Sourced<DisplaySleep>>,
    evidence: Option<Evidence>,
    problem: Option<String>,
}

fn power(ctx: &Context<'_>) -> Power {
    let mut problems = Vec::new();
    match ctx.host.command(&MACOS_PMSET_CUSTOM) {
        Ok(out) if out.exit_code == Some(0) => match parse_pmset_custom(&out.stdout) {
            Ok(sleep) => {
                let excerpt = sleep
                    .iter()
                    .map(|(k, v)| format!("{k}: displaysleep {v}"))
                    .collect::<Vec<_>>()
                    .join("\n");
                return Power {
                    sleep: Some(Sourced {
                        value: sleep,
                        source: "pmset".to_owned(),
                    }),
                    evidence: Some(command_evidence(&out, excerpt)),
                    problem: None,
                };
            }
            Err(e) => problems.push(format!("{}: {e}", MACOS_PMSET_CUSTOM.describe())),
        },
        Ok(out) => problems.push(format!(
            "{}: exit code {:?}",
            MACOS_PMSET_CUSTOM.describe(),
            out.exit_code
        )),
        Err(e) if ctx.host.answers_sources() => problems.push(e.to_string()),
        Err(_) => {}
    }
    match prefs::read_dict(ctx.host, POWER_PLIST) {
        Ok(Some((bytes, dict))) => {
            let sleep = power_plist_display_sleep(&dict);
            if sleep.is_empty() {
                problems.push(format!("{POWER_PLIST}: no {DISPLAY_SLEEP_TIMER}"));
            } else {
                let excerpt = sleep
                    .iter()
                    .map(|(k, v)| format!("{k}: {DISPLAY_SLEEP_TIMER} = {v}"))
                    .collect::<Vec<_>>()
                    .join("\n");
                return Power {
                    sleep: Some(Sourced {
                        value: sleep,
                        source: POWER_PLIST.to_owned(),
                    }),
                    evidence: Some(file_evidence(POWER_PLIST, &bytes, excerpt)),
                    problem: None,
                };
            }
        }
        Ok(None) => problems.push(format!("{POWER_PLIST}: not found")),
        Err(e) => problems.push(e.to_string()),
    }
    Power {
        sleep: None,
        evidence: None,
        problem: Some(problems.join("; ")),
    }
}

/// The managed plists of `user`: the user channel first, then the device channel.
fn managed_paths(user: &str) -> [String; 2] {
    [
        format!("{MANAGED_DIR}/{user}/{DOMAIN}.plist"),
        prefs::managed_path(DOMAIN),
    ]
}

/// An integer as CFPreferences reads one (an integer, or a string of digits).
fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => i.as_signed(),
        Value::Real(r) if r.fract() == 0.0 => Some(*r as i64),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The first of `paths` that sets `key`, converted; `Err` when a file that could
/// set it cannot be used or holds another type.
fn first_set<T>(
    ctx: &Context<'_>,
    paths: &[String],
    key: &str,
    expected: &'static str,
    convert: impl Fn(&Value) -> Option<T>,
) -> Result<Option<(T, prefs::Found)>, String> {
    for path in paths {
        let found = prefs::read_key(ctx.host, path, key).map_err(|e| match e {
            PlistError::Read(r) if r.is_permission_denied() && path.starts_with("/Users/") => {
                format!("{r} (user preferences need Full Disk Access for attest-agent)")
            }
            other => other.to_string(),
        })?;
        if let Some(found) = found {
            return match convert(&found.value) {
                Some(v) => Ok(Some((v, found))),
                None => Err(format!(
                    "{path}: {key} is {}, not {expected}",
                    type_name(&found.value)
                )),
            };
        }
    }
    Ok(None)
}

/// The ByHost screen saver plist of `user`: the one named with the hardware UUID
/// when it is known; without it (offline), the only `com.apple.screensaver.*.plist`
/// of the folder, if there is exactly one.
fn byhost_path(ctx: &Context<'_>, user: &str, uuid: Option<&str>) -> Option<String> {
    let dir = format!("/Users/{user}/Library/Preferences/ByHost");
    if let Some(uuid) = uuid {
        return Some(join_path(&dir, &format!("{DOMAIN}.{uuid}.plist")));
    }
    let prefix = format!("{DOMAIN}.");
    let names: Vec<String> = ctx
        .host
        .list_dir(&dir)
        .ok()?
        .into_iter()
        .filter(|n| n.starts_with(&prefix) && n.ends_with(".plist"))
        .collect();
    match names.as_slice() {
        [one] => Some(join_path(&dir, one)),
        _ => None,
    }
}

/// One user, judged.
#[derive(Debug, Clone, Serialize)]
pub struct UserLock {
    pub user: String,
    /// True when `sysadminctl` answered for the user's session.
    pub session: bool,
    pub password_required: Option<Sourced<bool>>,
    pub lock_delay_secs: Option<Sourced<u64>>,
    /// Screen saver start, seconds (0 = never); null when no layer sets it.
    pub screensaver_idle_secs: Option<Sourced<u64>>,
    /// Seconds from the last input to the password prompt, at worst over the
    /// power sources; null when it cannot be told.
    pub total_secs: Option<u64>,
    pub status: Status,
    /// Why, for the summary or the reason.
    pub why: String,
    #[serde(skip)]
    evidence: Vec<Evidence>,
}

/// When the screen goes dark on one power source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dark {
    /// Cannot be told.
    Unknown,
    Never,
    /// After `secs`; `exact` false when only an upper bound is known (the screen
    /// saver's idle time is not known).
    After {
        secs: u64,
        exact: bool,
    },
}

/// The screen saver or the display sleep, whichever comes first (0 = never).
fn dark_after(screensaver: Option<u64>, display_min: u64) -> Dark {
    let display = display_min.saturating_mul(60);
    match screensaver {
        Some(ss) => match [ss, display].into_iter().filter(|t| *t > 0).min() {
            Some(secs) => Dark::After { secs, exact: true },
            None => Dark::Never,
        },
        None if display > 0 => Dark::After {
            secs: display,
            exact: false,
        },
        None => Dark::Unknown,
    }
}

/// Judges one user from what is known: password, delay, screen saver and the
/// display sleep per power source.
pub fn judge(
    password: Option<bool>,
    delay: Option<u64>,
    screensaver: Option<u64>,
    display: Option<&DisplaySleep>,
    threshold: u64,
) -> (Status, Option<u64>, String) {
    match password {
        Some(false) => return (Status::Fail, None, "no password is asked".to_owned()),
        None => {
            return (
                Status::Unknown,
                None,
                "whether a password is asked is not known: no managed askForPassword and no \
                 user session to ask"
                    .to_owned(),
            );
        }
        Some(true) => {}
    }
    let Some(delay) = delay else {
        return (
            Status::Unknown,
            None,
            "a password is asked, but after what delay is not known (askForPasswordDelay is \
             not managed)"
                .to_owned(),
        );
    };
    let per_source: Vec<(String, Dark)> = match display {
        Some(d) if !d.is_empty() => d
            .iter()
            .map(|(name, min)| (name.clone(), dark_after(screensaver, *min)))
            .collect(),
        _ => vec![(
            "any power source".to_owned(),
            match screensaver {
                Some(ss) if ss > 0 => Dark::After {
                    secs: ss,
                    exact: false,
                },
                _ => Dark::Unknown,
            },
        )],
    };
    if let Some((name, _)) = per_source.iter().find(|(_, t)| *t == Dark::Never) {
        return (
            Status::Fail,
            None,
            format!("on {name} neither the screen saver nor display sleep ever starts"),
        );
    }
    if let Some((name, _)) = per_source.iter().find(|(_, t)| *t == Dark::Unknown) {
        let why = if display.is_some_and(|d| !d.is_empty()) {
            format!(
                "on {name} the display never sleeps and the screen saver's idle time is not known"
            )
        } else {
            "display sleep is not known and the screen saver alone cannot decide".to_owned()
        };
        return (Status::Unknown, None, why);
    }
    let (worst, exact) = per_source
        .iter()
        .filter_map(|(_, t)| match t {
            Dark::After { secs, exact } => Some((*secs, *exact)),
            _ => None,
        })
        .fold((0, true), |(w, e), (t, ex)| (w.max(t), e && ex));
    let total = worst.saturating_add(delay);
    if total <= threshold {
        (
            Status::Pass,
            Some(total),
            format!("locks with a password at most {total} s after the last input"),
        )
    } else if exact {
        (
            Status::Fail,
            Some(total),
            format!("locks with a password only {total} s after the last input"),
        )
    } else {
        (
            Status::Unknown,
            None,
            format!(
                "display sleep and delay give up to {total} s and the screen saver's idle \
                 time is not known"
            ),
        )
    }
}

/// The human accounts (uid ≥ 501) of the local directory, as users a command can
/// run as (the primary group `gid`, else `staff`, 20).
pub fn human_users(dir: &Directory) -> Vec<SessionUser> {
    dir.users
        .iter()
        .filter_map(|u| {
            let uid = u.uid.filter(|uid| *uid >= FIRST_HUMAN_UID)?;
            Some(SessionUser {
                name: u.name.clone(),
                uid: u32::try_from(uid).ok()?,
                gid: u.gid.and_then(|g| u32::try_from(g).ok()).unwrap_or(20),
            })
        })
        .collect()
}

/// The human user logged in at the screen: the owner of `/dev/console`, when it
/// is one of `humans`.
pub fn console_user(host: &Host, humans: &[SessionUser]) -> Option<SessionUser> {
    let uid = host.metadata(CONSOLE).ok()?.owner?;
    humans.iter().find(|u| u.uid == uid).cloned()
}

/// Who is judged, and whether their session answers.
enum Who {
    /// Users with a session to ask (live: the console user; replay: the captured).
    Sessions(Vec<SessionUser>),
    /// No session: the human accounts, from managed values only.
    Accounts(Vec<SessionUser>),
}

/// The screen lock of every human user with a session.
///
/// Users: human accounts (uid ≥ 501 in the local directory; `unknown` when there
/// is none: no session to ask). Live, the user logged in at the screen (the owner of
/// `/dev/console`, when that is a human account); in replay, each user with a
/// captured `macos.sysadminctl.screenlock.<user>`; otherwise (offline, or nobody
/// logged in) every human account, judged from managed values only.
///
/// Per user:
///
/// - password and delay: `sysadminctl -screenLock status` run as the user (uid
///   and gid set at spawn; catalogue open question 16: whether it answers without
///   the user's launchd bootstrap is unconfirmed, so a failed run falls back to
///   managed values); else managed `askForPassword` / `askForPasswordDelay`
///   (user channel `/Library/Managed Preferences/<user>/`, then the device
///   channel). Since macOS 10.13 the user's own choice lives in the keybag, not in
///   a plist, so without both the verdict is unknown.
/// - screen saver `idleTime` (seconds, 0 = never): managed (user, then device
///   channel), then the user's ByHost `com.apple.screensaver.<HardwareUUID>.plist`
///   (the UUID from `ioreg`; offline, the folder's only such file), then
///   `~/Library/Preferences/com.apple.screensaver.plist`, then
///   `/Library/Preferences/com.apple.screensaver.plist`. Unset: not known (no
///   documented default is relied on).
/// - display sleep (minutes, 0 = never) per power source: `pmset -g custom`, else
///   `/Library/Preferences/com.apple.PowerManagement.plist`.
///
/// The screen goes dark on a power source after min(idleTime if > 0, display
/// sleep if > 0); the worst power source counts. pass: a password is asked and
/// that time plus the delay is ≤ `screen_lock_max_idle_secs`; fail: no password,
/// neither timer ever fires on some power source, or the sum is above; unknown:
/// what decides is not known (an unknown idle time only when display sleep alone
/// cannot decide). Any user failing fails the Mac; else any unknown is unknown.
///
/// Facts: `threshold`, `users` (per user: `session`, `password_required`,
/// `lock_delay_secs`, `screensaver_idle_secs` with their sources, `total_secs`,
/// `status`, `why`), `display_sleep_minutes` with `display_sleep_source`,
/// `who` (`console`, `captured` or `accounts`).
pub struct MacScreenLock;

impl Check for MacScreenLock {
    fn id(&self) -> &'static str {
        "system.screen_lock"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let id = self.id();
        let threshold = u64::from(ctx.thresholds.screen_lock_max_idle_secs);
        let dir_memo = dslocal::directory(ctx);
        let humans: Option<Vec<SessionUser>> = dir_memo.0.as_ref().ok().map(human_users);
        if humans.as_ref().is_some_and(Vec::is_empty) {
            // The catalogue has no not_applicable for a Mac: with no user there is no
            // session to ask and no user channel to read.
            return unknown(
                id,
                "no human account (uid ≥ 501) in the local directory: no user session to ask",
            );
        }
        let accounts = || Who::Accounts(humans.clone().unwrap_or_default());
        let (who, label) = if ctx.host.is_live() {
            let user = humans.as_deref().and_then(|h| console_user(ctx.host, h));
            match user {
                Some(u) => (Who::Sessions(vec![u]), "console"),
                None => (accounts(), "accounts"),
            }
        } else {
            let captured: Vec<SessionUser> = ctx
                .host
                .captured_users(&MACOS_SYSADMINCTL_SCREENLOCK)
                .into_iter()
                .filter_map(|name| match &humans {
                    Some(h) => h.iter().find(|u| u.name == name).cloned(),
                    None => Some(SessionUser {
                        name,
                        uid: 0,
                        gid: 0,
                    }),
                })
                .collect();
            if captured.is_empty() {
                (accounts(), "accounts")
            } else {
                (Who::Sessions(captured), "captured")
            }
        };
        let users: Vec<(SessionUser, bool)> = match who {
            Who::Sessions(s) => s.into_iter().map(|u| (u, true)).collect(),
            Who::Accounts(users) => users.into_iter().map(|u| (u, false)).collect(),
        };
        if users.is_empty() {
            let why = match &dir_memo.0 {
                Err(e) => format!("the human accounts cannot be told: {e}"),
                Ok(_) => "no user to judge".to_owned(),
            };
            return unknown(id, why);
        }

        let uuid_memo = ioreg::platform_device(ctx);
        let uuid = uuid_memo.0.as_ref().ok().and_then(|r| r.value.uuid.clone());
        let power = power(ctx);
        let mut evidence: Vec<Evidence> = power.evidence.clone().into_iter().collect();
        let judged: Vec<UserLock> = users
            .iter()
            .map(|(u, ask)| judge_user(ctx, u, *ask, uuid.as_deref(), &power, threshold))
            .collect();
        for u in &judged {
            evidence.extend(u.evidence.iter().cloned());
        }
        let status = if judged.iter().any(|u| u.status == Status::Fail) {
            Status::Fail
        } else if judged.iter().any(|u| u.status == Status::Unknown) {
            Status::Unknown
        } else {
            Status::Pass
        };
        let describe = |u: &UserLock| format!("{}: {}", u.user, u.why);
        let picked: Vec<String> = judged
            .iter()
            .filter(|u| u.status == status)
            .map(describe)
            .collect();
        let mut result = match status {
            Status::Unknown => {
                let mut why = picked.join("; ");
                if let Some(p) = &power.problem {
                    why.push_str(&format!(" (display sleep: {p})"));
                }
                unknown(id, why)
            }
            _ => CheckResult::new(
                id,
                status,
                format!(
                    "Screen lock ({} s threshold): {}",
                    threshold,
                    picked.join("; ")
                ),
            ),
        };
        if status == Status::Pass
            && let Some(p) = &power.problem
        {
            // `reason` is for unknown and not_applicable only.
            result = result.fact("unanswered", [format!("display sleep not read: {p}")]);
        }
        result
            .fact("threshold", threshold)
            .fact("who", label)
            .fact("users", &judged)
            .fact(
                "display_sleep_minutes",
                power.sleep.as_ref().map(|s| &s.value),
            )
            .fact(
                "display_sleep_source",
                power.sleep.as_ref().map(|s| s.source.as_str()),
            )
            .evidences(evidence)
    }
}

/// Seconds: a non-negative integer.
fn seconds(v: &Value) -> Option<u64> {
    as_int(v).and_then(|n| u64::try_from(n).ok())
}

/// Where the values found leave their evidence and the problems met.
struct Found<'a> {
    evidence: &'a mut Vec<Evidence>,
    problems: &'a mut Vec<String>,
}

impl Found<'_> {
    /// [`first_set`], its evidence and problem recorded.
    fn first<T>(
        &mut self,
        ctx: &Context<'_>,
        paths: &[String],
        key: &str,
        expected: &'static str,
        convert: impl Fn(&Value) -> Option<T>,
    ) -> Option<Sourced<T>> {
        match first_set(ctx, paths, key, expected, convert) {
            Ok(Some((value, found))) => {
                self.evidence.push(found.evidence);
                Some(Sourced {
                    value,
                    source: found.path,
                })
            }
            Ok(None) => None,
            Err(e) => {
                self.problems.push(e);
                None
            }
        }
    }
}

fn judge_user(
    ctx: &Context<'_>,
    user: &SessionUser,
    ask: bool,
    uuid: Option<&str>,
    power: &Power,
    threshold: u64,
) -> UserLock {
    let mut evidence = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut password: Option<Sourced<bool>> = None;
    let mut delay: Option<Sourced<u64>> = None;
    let mut session = false;
    if ask {
        match ctx.host.user_command(&MACOS_SYSADMINCTL_SCREENLOCK, user) {
            Ok(out) => {
                let text = if lines(&out.stderr).next().is_some() {
                    &out.stderr
                } else {
                    &out.stdout
                };
                match parse_screenlock(text) {
                    Ok(state) => {
                        session = true;
                        let src = || "sysadminctl".to_owned();
                        let excerpt = match state {
                            LockState::Off => LOCK_OFF.to_owned(),
                            LockState::After(0) => LOCK_IMMEDIATE.to_owned(),
                            LockState::After(n) => format!("screenLock delay is {n} seconds"),
                        };
                        evidence.push(command_evidence(&out, excerpt));
                        password = Some(Sourced {
                            value: state != LockState::Off,
                            source: src(),
                        });
                        if let LockState::After(n) = state {
                            delay = Some(Sourced {
                                value: n,
                                source: src(),
                            });
                        }
                    }
                    Err(e) => {
                        problems.push(format!("{}: {e}", MACOS_SYSADMINCTL_SCREENLOCK.describe()))
                    }
                }
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    let managed = managed_paths(&user.name);
    let mut found = Found {
        evidence: &mut evidence,
        problems: &mut problems,
    };
    if password.is_none() {
        password = found.first(ctx, &managed, ASK_FOR_PASSWORD, "a boolean", as_bool);
    }
    if delay.is_none() && password.as_ref().is_some_and(|p| p.value) {
        delay = found.first(ctx, &managed, ASK_FOR_PASSWORD_DELAY, "seconds", seconds);
    }
    let mut idle_paths: Vec<String> = managed.to_vec();
    idle_paths.extend(byhost_path(ctx, &user.name, uuid));
    idle_paths.push(format!(
        "/Users/{}/Library/Preferences/{DOMAIN}.plist",
        user.name
    ));
    idle_paths.push(prefs::local_path(DOMAIN));
    let screensaver = found.first(ctx, &idle_paths, IDLE_TIME, "seconds", seconds);
    let (status, total, mut why) = judge(
        password.as_ref().map(|p| p.value),
        delay.as_ref().map(|d| d.value),
        screensaver.as_ref().map(|s| s.value),
        power.sleep.as_ref().map(|s| &s.value),
        threshold,
    );
    if status == Status::Unknown && !problems.is_empty() {
        why.push_str(&format!(" ({})", problems.join("; ")));
    }
    UserLock {
        user: user.name.clone(),
        session,
        password_required: password,
        lock_delay_secs: delay,
        screensaver_idle_secs: screensaver,
        total_secs: total,
        status,
        why,
        evidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Thresholds;
    use crate::checks::macos::accounts::dslocal::{GROUPS_DIR, USERS_DIR};
    use crate::checks::macos::ioreg::tests::{UUID, ioreg_output};
    use crate::checks::macos::prefs::tests::{binary, xml};
    use crate::host::fake::FakeHost;
    use crate::host::sources::MACOS_IOREG_PLATFORM;

    /// A dslocal user plist: `name`, `uid`, `gid` (arrays of strings).
    fn user_plist(name: &str, uid: u32) -> Vec<u8> {
        let arr = |v: String| Value::Array(vec![Value::String(v)]);
        xml(&[
            ("name", arr(name.to_owned())),
            ("uid", arr(uid.to_string())),
            ("gid", arr("20".to_owned())),
        ])
    }

    /// A Mac with root, a daemon account and `alice` (501).
    fn mac() -> FakeHost {
        FakeHost::macos()
            .dir(GROUPS_DIR)
            .file(&format!("{USERS_DIR}/root.plist"), user_plist("root", 0))
            .file(&format!("{USERS_DIR}/_www.plist"), user_plist("_www", 70))
            .file(
                &format!("{USERS_DIR}/alice.plist"),
                user_plist("alice", 501),
            )
    }

    const PMSET: &str = "Battery Power:\n Sleep On Power Button 1\n lowpowermode         0\n standby              1\n displaysleep         2\n sleep                1 (sleep prevented by coreaudiod)\nAC Power:\n Sleep On Power Button 1\n displaysleep         10\n sleep                1\n";

    fn byhost(user: &str) -> String {
        format!("/Users/{user}/Library/Preferences/ByHost/{DOMAIN}.{UUID}.plist")
    }

    fn int(n: i64) -> Value {
        Value::Integer(n.into())
    }

    #[test]
    fn sysadminctl_lines_are_read_exactly() {
        assert_eq!(parse_screenlock(LOCK_IMMEDIATE), Ok(LockState::After(0)));
        assert_eq!(
            parse_screenlock("screenLock delay is 300 seconds\n"),
            Ok(LockState::After(300))
        );
        assert_eq!(parse_screenlock("screenLock is off\n"), Ok(LockState::Off));
        assert_eq!(
            parse_screenlock(
                "2026-11-25 12:00:00.123 sysadminctl[4242:99001] screenLock delay is 5 seconds\n"
            ),
            Ok(LockState::After(5))
        );
        assert_eq!(parse_screenlock(" \n"), Err(LockLineError::Empty));
        let err = parse_screenlock("screenLock delay is soon\n").unwrap_err();
        assert!(err.to_string().contains("soon"), "{err}");
        assert!(parse_screenlock("screenLock is off\nscreenLock is off\n").is_err());
        assert!(parse_screenlock("Le verrouillage est désactivé\n").is_err());
    }

    #[test]
    fn pmset_and_the_power_plist_give_display_sleep_per_source() {
        let got = parse_pmset_custom(PMSET).unwrap();
        assert_eq!(got.get("AC Power"), Some(&10));
        assert_eq!(got.get("Battery Power"), Some(&2));
        assert_eq!(
            parse_pmset_custom("AC Power:\n sleep 1\n"),
            Err(PowerError::NoValue)
        );
        assert!(matches!(
            parse_pmset_custom("AC Power:\n displaysleep never\n"),
            Err(PowerError::NotMinutes { .. })
        ));
        let pm = |entries: &[(&str, Value)]| {
            prefs::parse(&binary(entries))
                .unwrap()
                .into_dictionary()
                .unwrap()
        };
        let timers = |n: i64| {
            let mut d = plist::Dictionary::new();
            d.insert(DISPLAY_SLEEP_TIMER.into(), int(n));
            d.insert("System Sleep Timer".into(), int(1));
            Value::Dictionary(d)
        };
        let top = pm(&[("AC Power", timers(10)), ("Battery Power", timers(2))]);
        let got = power_plist_display_sleep(&top);
        assert_eq!(got.get("AC Power"), Some(&10));
        assert_eq!(got.get("Battery Power"), Some(&2));
        let mut profile = plist::Dictionary::new();
        profile.insert("AC Power".into(), timers(0));
        let old = pm(&[("Custom Profile", Value::Dictionary(profile))]);
        assert_eq!(power_plist_display_sleep(&old).get("AC Power"), Some(&0));
    }

    #[test]
    fn the_verdict_takes_the_worst_power_source_and_adds_the_delay() {
        let d: DisplaySleep = [("AC Power".to_owned(), 10), ("Battery Power".to_owned(), 2)].into();
        // Screen saver at 5 min: AC dark at 300 s, battery at 120 s; worst 300 + 5.
        let (s, total, _) = judge(Some(true), Some(5), Some(300), Some(&d), 900);
        assert_eq!((s, total), (Status::Pass, Some(305)));
        // No screen saver (0): display sleep alone, AC 600 + 600 delay.
        let (s, total, _) = judge(Some(true), Some(600), Some(0), Some(&d), 900);
        assert_eq!((s, total), (Status::Fail, Some(1200)));
        // Never on AC.
        let never: DisplaySleep = [("AC Power".to_owned(), 0)].into();
        let (s, _, why) = judge(Some(true), Some(0), Some(0), Some(&never), 900);
        assert_eq!(s, Status::Fail, "{why}");
        // Screen saver unknown: display sleep alone may pass, never fail.
        let (s, _, _) = judge(Some(true), Some(0), None, Some(&d), 900);
        assert_eq!(s, Status::Pass);
        let long: DisplaySleep = [("AC Power".to_owned(), 30)].into();
        let (s, _, _) = judge(Some(true), Some(0), None, Some(&long), 900);
        assert_eq!(s, Status::Unknown);
        let (s, _, _) = judge(Some(true), Some(0), None, Some(&never), 900);
        assert_eq!(s, Status::Unknown);
        // No display sleep known: the screen saver is an upper bound.
        assert_eq!(
            judge(Some(true), Some(0), Some(600), None, 900).0,
            Status::Pass
        );
        assert_eq!(
            judge(Some(true), Some(0), Some(1200), None, 900).0,
            Status::Unknown
        );
        // Password.
        assert_eq!(
            judge(Some(false), Some(0), Some(60), Some(&d), 900).0,
            Status::Fail
        );
        assert_eq!(
            judge(None, None, Some(60), Some(&d), 900).0,
            Status::Unknown
        );
        assert_eq!(
            judge(Some(true), None, Some(60), Some(&d), 900).0,
            Status::Unknown
        );
        // The threshold is inclusive.
        assert_eq!(
            judge(Some(true), Some(300), Some(600), Some(&d), 900).0,
            Status::Pass
        );
        assert_eq!(
            judge(Some(true), Some(301), Some(600), Some(&d), 900).0,
            Status::Fail
        );
    }

    #[test]
    fn no_human_account_is_unknown() {
        let mut fake = mac();
        fake.remove(&format!("{USERS_DIR}/alice.plist"));
        let r = fake.run(&MacScreenLock);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.as_deref().unwrap().contains("no human account"));
    }

    #[test]
    fn a_captured_session_with_a_short_screen_saver_passes() {
        let r = mac()
            .user_command(
                &MACOS_SYSADMINCTL_SCREENLOCK,
                "alice",
                0,
                "screenLock delay is immediate\n",
            )
            .command(&MACOS_PMSET_CUSTOM, 0, PMSET)
            .command(&MACOS_IOREG_PLATFORM, 0, &ioreg_output("SERIAL"))
            .file(&byhost("alice"), binary(&[(IDLE_TIME, int(300))]))
            .run(&MacScreenLock);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["who"], "captured");
        let alice = &r.facts["users"][0];
        assert_eq!(alice["user"], "alice");
        assert_eq!(alice["session"], true);
        assert_eq!(alice["total_secs"], 300);
        assert_eq!(alice["screensaver_idle_secs"]["source"], byhost("alice"));
        assert_eq!(r.facts["display_sleep_source"], "pmset");
        let ev = serde_json::to_string(&r.evidence).unwrap();
        assert!(
            ev.contains("sysadminctl") && ev.contains(&byhost("alice")),
            "{ev}"
        );
    }

    #[test]
    fn a_session_without_a_password_or_with_a_long_delay_fails() {
        let base = || {
            mac()
                .command(&MACOS_PMSET_CUSTOM, 0, PMSET)
                .command(&MACOS_IOREG_PLATFORM, 0, &ioreg_output("SERIAL"))
                .file(&byhost("alice"), binary(&[(IDLE_TIME, int(600))]))
        };
        let r = base()
            .user_command(
                &MACOS_SYSADMINCTL_SCREENLOCK,
                "alice",
                0,
                "screenLock is off\n",
            )
            .run(&MacScreenLock);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(r.summary.contains("alice: no password is asked"), "{r:?}");
        let r = base()
            .user_command(
                &MACOS_SYSADMINCTL_SCREENLOCK,
                "alice",
                0,
                "screenLock delay is 3600 seconds\n",
            )
            .run(&MacScreenLock);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["users"][0]["total_secs"], 4200);
    }

    #[test]
    fn offline_without_managed_values_is_unknown_and_with_them_decides() {
        let r = mac().run(&MacScreenLock);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(
            r.reason.as_deref().unwrap().contains("askForPassword"),
            "{r:?}"
        );
        assert_eq!(r.facts["who"], "accounts");

        let power = binary(&[(
            "AC Power",
            Value::Dictionary(
                [(DISPLAY_SLEEP_TIMER.to_owned(), int(10))]
                    .into_iter()
                    .collect(),
            ),
        )]);
        let managed = |delay: i64| {
            mac().file(POWER_PLIST, power.clone()).file(
                &prefs::managed_path(DOMAIN),
                xml(&[
                    (ASK_FOR_PASSWORD, Value::Boolean(true)),
                    (ASK_FOR_PASSWORD_DELAY, int(delay)),
                    (IDLE_TIME, int(600)),
                ]),
            )
        };
        let r = managed(5).run(&MacScreenLock);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["users"][0]["total_secs"], 605);
        assert_eq!(r.facts["display_sleep_source"], POWER_PLIST);
        // The user channel wins over the device channel.
        let r = managed(5)
            .file(
                &format!("{MANAGED_DIR}/alice/{DOMAIN}.plist"),
                xml(&[(ASK_FOR_PASSWORD_DELAY, int(900))]),
            )
            .run(&MacScreenLock);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(
            r.facts["users"][0]["lock_delay_secs"]["source"],
            format!("{MANAGED_DIR}/alice/{DOMAIN}.plist")
        );
        // The threshold comes from the configuration.
        let t = Thresholds {
            screen_lock_max_idle_secs: 600,
            ..Thresholds::default()
        };
        assert_eq!(managed(5).run_with(&MacScreenLock, &t).status, Status::Fail);
        // A mistyped managed value is unknown, naming its type, never its content.
        let r = mac()
            .file(
                &prefs::managed_path(DOMAIN),
                xml(&[(ASK_FOR_PASSWORD, s_value("SECRET-ish text"))]),
            )
            .run(&MacScreenLock);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        let reason = r.reason.as_deref().unwrap();
        assert!(
            reason.contains("askForPassword is a string, not a boolean"),
            "{reason}"
        );
        assert!(!reason.contains("SECRET"), "{reason}");
    }

    fn s_value(v: &str) -> Value {
        Value::String(v.to_owned())
    }

    #[test]
    fn live_judges_the_console_user_and_names_full_disk_access() {
        let fake = mac()
            .live()
            .special(CONSOLE)
            .owner(CONSOLE, 501)
            .user_command(
                &MACOS_SYSADMINCTL_SCREENLOCK,
                "alice",
                0,
                "screenLock delay is immediate\n",
            )
            .command(&MACOS_PMSET_CUSTOM, 0, "AC Power:\n displaysleep 0\n")
            .command(&MACOS_IOREG_PLATFORM, 0, &ioreg_output("SERIAL"))
            .file(&byhost("alice"), binary(&[(IDLE_TIME, int(120))]));
        let r = fake.run(&MacScreenLock);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["who"], "console");
        // The ByHost file unreadable (no Full Disk Access): display sleep never, so
        // the screen saver would decide: unknown, saying why.
        let r = fake.deny(&byhost("alice")).run(&MacScreenLock);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(
            r.reason.as_deref().unwrap().contains("Full Disk Access"),
            "{r:?}"
        );
        // Nobody at the console (root owns it): the accounts, managed values only.
        let r = mac().live().special(CONSOLE).run(&MacScreenLock);
        assert_eq!(r.facts["who"], "accounts");
        assert_eq!(r.status, Status::Unknown, "{r:?}");
    }

    #[test]
    fn offline_byhost_is_found_without_the_uuid_when_it_is_alone() {
        let r = mac()
            .user_command(
                &MACOS_SYSADMINCTL_SCREENLOCK,
                "alice",
                0,
                "screenLock delay is immediate\n",
            )
            .file(&byhost("alice"), xml(&[(IDLE_TIME, int(0))]))
            .command(&MACOS_PMSET_CUSTOM, 0, "AC Power:\n displaysleep 0\n")
            .run(&MacScreenLock);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(r.summary.contains("ever starts"), "{r:?}");
    }
}
