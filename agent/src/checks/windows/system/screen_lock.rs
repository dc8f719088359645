//! `system.screen_lock` on Windows: the machine inactivity limit, else every
//! human user's secure screen saver.

use attest_proto::{CheckResult, Evidence, Status};
use serde::Serialize;

use super::{Effective, Origin, Verdict, dword, string};
use crate::checks::windows::{clip, read_reg};
use crate::checks::{Check, Context, not_applicable, registry_evidence};
use crate::host::{Hkey, RegistryValue, SourceError};

const ID: &str = "system.screen_lock";

/// `InactivityTimeoutSecs` ("Interactive logon: Machine inactivity limit").
pub const SYSTEM_POLICY: &str = "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System";
pub const PROFILE_LIST: &str = "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList";
const CURRENT_VERSION: &str = "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion";
/// In a user's hive: the screen saver policy (wins) and the user's own settings.
pub const USER_POLICY: &str = "Software\\Policies\\Microsoft\\Windows\\Control Panel\\Desktop";
pub const USER_DESKTOP: &str = "Control Panel\\Desktop";
/// The power setting "Require a password on wakeup" (`CONSOLELOCK`), as policy.
pub const CONSOLE_LOCK_POLICY: &str =
    "SOFTWARE\\Policies\\Microsoft\\Power\\PowerSettings\\0e796bdb-100d-47d6-a2d5-f7d2daa51f51";

/// Windows's idle time before the screen saver when `ScreenSaveTimeOut` is set
/// nowhere: 900 seconds (15 minutes).
pub const DEFAULT_TIMEOUT: u32 = 900;

/// Whether a `ProfileList` subkey is a human user's: a local or domain account
/// (`S-1-5-21-…`) or an Entra ID account (`S-1-12-1-…`). The `.bak` copies
/// Windows keeps of a profile it could not load are skipped.
pub fn is_human_sid(sid: &str) -> bool {
    let upper = sid.to_ascii_uppercase();
    (upper.starts_with("S-1-5-21-") || upper.starts_with("S-1-12-1-")) && !upper.ends_with(".BAK")
}

/// The profile directory's name from `ProfileImagePath`
/// (`C:\Users\alice` or `%SystemDrive%\Users\alice` → `alice`).
pub fn profile_dir(image_path: &str) -> Option<String> {
    image_path
        .trim()
        .trim_end_matches(['\\', '/'])
        .rsplit(['\\', '/'])
        .next()
        .filter(|s| !s.is_empty() && !s.starts_with('%'))
        .map(str::to_owned)
}

/// A screen saver value of a user (REG_SZ as Windows writes it; a REG_DWORD as
/// old policies did is read too): `Ok(None)` absent.
fn user_number(
    ctx: &Context<'_>,
    profile: &str,
    key: &str,
    value: &str,
    evidence: &mut Vec<Evidence>,
) -> Result<Option<u32>, String> {
    let hkey = Hkey::User(profile.to_owned());
    let name = format!("{}\\{value}", hkey.name(key));
    match ctx.host.registry_value(&hkey, key, value) {
        Ok(v) => {
            evidence.push(registry_evidence(ctx.host, &hkey, key, value, &v));
            match v {
                RegistryValue::Dword(n) => Ok(Some(n)),
                RegistryValue::String(s) => s
                    .trim()
                    .parse::<u32>()
                    .map(Some)
                    .map_err(|_| format!("{name}: {:?} is not a number", clip(&s))),
                other => Err(format!("{name}: {other}, not a string")),
            }
        }
        Err(SourceError::NotInstalled { .. }) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// The effective value of a user: policy, else the user's own, else `default`.
fn user_setting(
    ctx: &Context<'_>,
    profile: &str,
    value: &str,
    default: u32,
    evidence: &mut Vec<Evidence>,
) -> Result<Effective<u32>, String> {
    if let Some(v) = user_number(ctx, profile, USER_POLICY, value, evidence)? {
        return Ok(Effective {
            value: v,
            origin: Origin::Policy,
        });
    }
    Ok(
        match user_number(ctx, profile, USER_DESKTOP, value, evidence)? {
            Some(v) => Effective {
                value: v,
                origin: Origin::Local,
            },
            None => Effective {
                value: default,
                origin: Origin::Default,
            },
        },
    )
}

/// One user's screen saver as judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub sid: String,
    pub profile: Option<String>,
    pub screen_save_active: Option<Effective<u32>>,
    pub screen_saver_is_secure: Option<Effective<u32>>,
    pub screen_save_timeout: Option<Effective<u32>>,
    /// `true` locks in time; `false` does not; `null` unknown.
    pub locks: Option<bool>,
    /// What is wrong, or why it is not known.
    pub note: Option<String>,
}

/// What is wrong with a user's effective settings (empty: it locks in time).
pub fn problems(active: u32, secure: u32, timeout: u32, max: u32) -> Vec<String> {
    let mut p = Vec::new();
    if active != 1 {
        p.push("screen saver off".to_owned());
    }
    if secure != 1 {
        p.push("no password on resume".to_owned());
    }
    if timeout == 0 || timeout > max {
        p.push(format!("timeout {timeout} s"));
    }
    p
}

fn judge_user(ctx: &Context<'_>, sid: &str, evidence: &mut Vec<Evidence>) -> User {
    let max = ctx.thresholds.screen_lock_max_idle_secs;
    let mut user = User {
        sid: sid.to_owned(),
        profile: None,
        screen_save_active: None,
        screen_saver_is_secure: None,
        screen_save_timeout: None,
        locks: None,
        note: None,
    };
    let path = read_reg(ctx, &format!("{PROFILE_LIST}\\{sid}"), "ProfileImagePath");
    evidence.extend(path.evidence());
    let profile = match string(&path) {
        Ok(Some(p)) => match profile_dir(&p) {
            Some(d) => d,
            None => {
                user.note = Some(format!(
                    "{}: {:?} names no profile directory",
                    path.path(),
                    clip(&p)
                ));
                return user;
            }
        },
        Ok(None) => {
            user.note = Some(format!("{}: absent", path.path()));
            return user;
        }
        Err(e) => {
            user.note = Some(e);
            return user;
        }
    };
    user.profile = Some(profile.clone());
    let read = |value: &str, default: u32, evidence: &mut Vec<Evidence>| {
        user_setting(ctx, &profile, value, default, evidence)
    };
    let settings = (|| {
        Ok::<_, String>((
            read("ScreenSaveActive", 0, evidence)?,
            read("ScreenSaverIsSecure", 0, evidence)?,
            read("ScreenSaveTimeOut", DEFAULT_TIMEOUT, evidence)?,
        ))
    })();
    match settings {
        Err(e) => user.note = Some(e),
        Ok((active, secure, timeout)) => {
            let p = problems(active.value, secure.value, timeout.value, max);
            user.locks = Some(p.is_empty());
            if !p.is_empty() {
                user.note = Some(p.join(", "));
            }
            user.screen_save_active = Some(active);
            user.screen_saver_is_secure = Some(secure);
            user.screen_save_timeout = Some(timeout);
        }
    }
    user
}

/// `system.screen_lock` on Windows.
///
/// - not_applicable: `InstallationType` is `Server Core` (no desktop);
/// - pass: the machine inactivity limit
///   (`HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System\InactivityTimeoutSecs`)
///   is from 1 to `screen_lock_max_idle_secs` (900); else every human profile of
///   `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList` (SIDs
///   `S-1-5-21-…` and `S-1-12-1-…`, `.bak` copies skipped), read from its hive
///   (`Users/<dir>/NTUSER.DAT` offline, `<dir>` the last component of
///   `ProfileImagePath`), has `ScreenSaveActive` 1, `ScreenSaverIsSecure` 1 and
///   `ScreenSaveTimeOut` from 1 to the threshold. Each value is read from
///   `Software\Policies\Microsoft\Windows\Control Panel\Desktop` (policy, wins),
///   else `Control Panel\Desktop`; absent in both it is Windows's default:
///   `ScreenSaveActive` 0 (no screen saver runs), `ScreenSaverIsSecure` 0
///   (Microsoft: "the system behaves as though the value is 0"),
///   `ScreenSaveTimeOut` 900;
/// - fail: neither holds: the machine value and the users whose screen saver is
///   off, insecure or too long;
/// - unknown: a user's hive unreadable (on a live host this agent version may
///   not read other users' hives yet), a value not a number, no human profile
///   to judge, the profile list unread.
///
/// The power setting "Require a password on wakeup" (`CONSOLELOCK`, policy
/// `ACSettingIndex`/`DCSettingIndex`) is recorded, not counted (open question 11).
pub struct ScreenLock;

impl Check for ScreenLock {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let max = ctx.thresholds.screen_lock_max_idle_secs;
        let install = read_reg(ctx, CURRENT_VERSION, "InstallationType");
        if install
            .string()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("Server Core"))
        {
            return not_applicable(ID, "Server Core has no desktop to lock")
                .fact("installation_type", "Server Core")
                .evidences(install.evidence());
        }
        let mut v = Verdict::default();
        v.read(&[&install]);
        if let Some(why) = install.unread() {
            v.unanswered(why);
        }
        let machine = read_reg(ctx, SYSTEM_POLICY, "InactivityTimeoutSecs");
        v.read(&[&machine]);
        let machine_value = dword(&machine);
        let machine_passes = matches!(machine_value, Ok(Some(n)) if (1..=max).contains(&n));
        let ac = read_reg(ctx, CONSOLE_LOCK_POLICY, "ACSettingIndex");
        let dc = read_reg(ctx, CONSOLE_LOCK_POLICY, "DCSettingIndex");
        let console_lock =
            serde_json::json!({"ac_setting_index": ac.dword(), "dc_setting_index": dc.dword()});
        let mut users: Vec<User> = Vec::new();
        if machine_passes {
            v.pass(format!(
                "the machine inactivity limit is {} s (at most {max})",
                machine_value.clone().ok().flatten().unwrap_or_default()
            ));
        } else {
            let machine_text = match &machine_value {
                Ok(Some(0)) => "the machine inactivity limit is 0 (off)".to_owned(),
                Ok(Some(n)) => format!("the machine inactivity limit is {n} s (more than {max})"),
                Ok(None) => "no machine inactivity limit".to_owned(),
                Err(e) => e.clone(),
            };
            match ctx.host.registry_subkeys(PROFILE_LIST) {
                Err(e) => v.unknown(format!("{machine_text}; {e}")),
                Ok(sids) => {
                    let mut evidence = Vec::new();
                    users = sids
                        .iter()
                        .filter(|s| is_human_sid(s))
                        .map(|sid| judge_user(ctx, sid, &mut evidence))
                        .collect();
                    v.evidence.extend(evidence);
                    let name = |u: &User| u.profile.clone().unwrap_or_else(|| u.sid.clone());
                    let bad: Vec<String> = users
                        .iter()
                        .filter(|u| u.locks == Some(false))
                        .map(|u| format!("{} ({})", name(u), u.note.clone().unwrap_or_default()))
                        .collect();
                    let unread: Vec<String> = users
                        .iter()
                        .filter(|u| u.locks.is_none())
                        .map(|u| u.note.clone().unwrap_or_default())
                        .collect();
                    if users.is_empty() {
                        v.unknown(format!("{machine_text}, and no user profile to judge"));
                    } else if !bad.is_empty() {
                        v.fail(format!(
                            "{machine_text}, and the screen saver does not lock in time for {}",
                            bad.join("; ")
                        ));
                        for u in &unread {
                            v.unanswered(u.clone());
                        }
                    } else if !unread.is_empty() {
                        v.unknown(format!("{machine_text}; {}", unread.join("; ")));
                    } else {
                        if let Err(e) = &machine_value {
                            v.unanswered(e.clone());
                        }
                        v.pass(format!(
                            "every user's screen saver locks within {max} s ({})",
                            users.iter().map(name).collect::<Vec<_>>().join(", ")
                        ));
                    }
                }
            }
        }
        // A failure with the machine value unread is not a failure.
        if machine_value.is_err() && v.status() == Status::Fail {
            v.fail_undecided("the machine inactivity limit could not be read");
        }
        v.finish(ID)
            .fact("installation_type", install.string())
            .fact("inactivity_timeout_secs", machine_value.clone().ok().flatten())
            .fact("screen_lock_max_idle_secs", max)
            .fact(
                "defaults",
                "absent in policy and user keys: ScreenSaveActive 0, ScreenSaverIsSecure 0, ScreenSaveTimeOut 900",
            )
            .fact("users", &users)
            .fact("console_lock_policy", console_lock)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::well_formed;
    use super::*;
    use crate::checks::Thresholds;
    use crate::host::fake::{FakeHost, default_now};
    use serde_json::json;

    const ALICE: &str = "S-1-5-21-1-2-3-1001";
    const BOB: &str = "S-1-12-1-4-5-6-7";

    fn sz(s: &str) -> RegistryValue {
        RegistryValue::String(s.into())
    }

    fn profiles() -> FakeHost {
        FakeHost::windows()
            .reg_value(CURRENT_VERSION, "InstallationType", sz("Client"))
            .reg_value(
                &format!("{PROFILE_LIST}\\{ALICE}"),
                "ProfileImagePath",
                sz("C:\\Users\\alice"),
            )
            .reg_value(
                &format!("{PROFILE_LIST}\\{BOB}"),
                "ProfileImagePath",
                sz("%SystemDrive%\\Users\\bob"),
            )
            // Not human: services and a .bak copy.
            .reg_value(
                &format!("{PROFILE_LIST}\\S-1-5-18"),
                "ProfileImagePath",
                sz("%systemroot%\\system32\\config\\systemprofile"),
            )
            .reg_value(
                &format!("{PROFILE_LIST}\\{ALICE}.bak"),
                "ProfileImagePath",
                sz("C:\\Users\\TEMP"),
            )
    }

    fn secure(h: FakeHost, profile: &str, key: &str, timeout: &str) -> FakeHost {
        h.reg_user_value(profile, key, "ScreenSaveActive", sz("1"))
            .reg_user_value(profile, key, "ScreenSaverIsSecure", sz("1"))
            .reg_user_value(profile, key, "ScreenSaveTimeOut", sz(timeout))
    }

    fn run(h: &FakeHost) -> CheckResult {
        let r = h.run(&ScreenLock);
        well_formed(&r);
        r
    }

    /// The facts of the user whose profile directory is `profile`.
    fn user<'a>(r: &'a CheckResult, profile: &str) -> &'a serde_json::Value {
        r.facts["users"]
            .as_array()
            .and_then(|a| a.iter().find(|u| u["profile"] == profile))
            .unwrap_or_else(|| panic!("no user {profile} in {r:?}"))
    }

    #[test]
    fn sids_and_profile_directories() {
        assert!(is_human_sid(ALICE));
        assert!(is_human_sid(BOB));
        assert!(!is_human_sid("S-1-5-18"));
        assert!(!is_human_sid("S-1-5-21-1-2-3-1001.bak"));
        assert_eq!(profile_dir("C:\\Users\\alice").as_deref(), Some("alice"));
        assert_eq!(
            profile_dir("%SystemDrive%\\Users\\bob\\").as_deref(),
            Some("bob")
        );
        assert_eq!(profile_dir("%USERPROFILE%"), None);
        assert_eq!(profile_dir(""), None);
        assert_eq!(problems(1, 1, 900, 900), Vec::<String>::new());
        assert_eq!(problems(1, 1, 0, 900), vec!["timeout 0 s"]);
        assert_eq!(problems(0, 0, 901, 900).len(), 3);
    }

    #[test]
    fn the_machine_limit_passes_alone_and_is_checked_against_the_threshold() {
        let h = FakeHost::windows().reg_value(
            SYSTEM_POLICY,
            "InactivityTimeoutSecs",
            RegistryValue::Dword(600),
        );
        let r = run(&h);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["screen_lock_max_idle_secs"], 900);
        let strict = Thresholds {
            screen_lock_max_idle_secs: 300,
            ..Thresholds::default()
        };
        let r = h.run_at(&ScreenLock, default_now(), &strict);
        assert_ne!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["screen_lock_max_idle_secs"], 300);
    }

    #[test]
    fn every_user_locking_in_time_passes() {
        let h = secure(
            secure(profiles(), "alice", USER_DESKTOP, "600"),
            "bob",
            USER_DESKTOP,
            "900",
        );
        let r = run(&h);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["users"].as_array().unwrap().len(), 2);
        assert_eq!(
            user(&r, "alice")["screen_save_timeout"],
            json!({"value": 600, "origin": "local"})
        );
    }

    #[test]
    fn one_user_without_a_secure_screen_saver_fails_absent_meaning_off() {
        // Bob's ScreenSaverIsSecure is absent: 0.
        let h = secure(profiles(), "alice", USER_DESKTOP, "600")
            .reg_user_value("bob", USER_DESKTOP, "ScreenSaveActive", sz("1"))
            .reg_user_value("bob", USER_DESKTOP, "ScreenSaveTimeOut", sz("300"));
        let r = run(&h);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(
            r.summary.contains("bob (no password on resume)"),
            "{}",
            r.summary
        );
        assert_eq!(
            user(&r, "bob")["screen_saver_is_secure"],
            json!({"value": 0, "origin": "default"})
        );
        // An absent timeout is Windows's 900 s: passes at 900, fails at 600.
        let h = secure(profiles(), "alice", USER_DESKTOP, "600")
            .reg_user_value("bob", USER_DESKTOP, "ScreenSaveActive", sz("1"))
            .reg_user_value("bob", USER_DESKTOP, "ScreenSaverIsSecure", sz("1"));
        assert_eq!(run(&h).status, Status::Pass);
        let strict = Thresholds {
            screen_lock_max_idle_secs: 600,
            ..Thresholds::default()
        };
        assert_eq!(
            h.run_at(&ScreenLock, default_now(), &strict).status,
            Status::Fail
        );
    }

    #[test]
    fn user_policy_beats_the_users_own_settings() {
        let h = secure(
            secure(profiles(), "alice", USER_DESKTOP, "600"),
            "bob",
            USER_DESKTOP,
            "600",
        )
        .reg_user_value("bob", USER_POLICY, "ScreenSaverIsSecure", sz("0"));
        let r = run(&h);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(
            user(&r, "bob")["screen_saver_is_secure"]["origin"],
            "policy"
        );
        // And the other way: policy on, local off.
        let h = secure(profiles(), "alice", USER_DESKTOP, "600")
            .reg_user_value("bob", USER_DESKTOP, "ScreenSaveActive", sz("0"))
            .reg_user_value("bob", USER_DESKTOP, "ScreenSaveTimeOut", sz("3600"))
            .reg_user_value("bob", USER_POLICY, "ScreenSaveActive", sz("1"))
            .reg_user_value("bob", USER_POLICY, "ScreenSaverIsSecure", sz("1"))
            .reg_user_value(
                "bob",
                USER_POLICY,
                "ScreenSaveTimeOut",
                RegistryValue::Dword(300),
            );
        assert_eq!(run(&h).status, Status::Pass);
    }

    #[test]
    fn server_core_is_not_applicable() {
        let h =
            FakeHost::windows().reg_value(CURRENT_VERSION, "InstallationType", sz("Server Core"));
        let r = run(&h);
        assert_eq!(r.status, Status::NotApplicable);
    }

    #[test]
    fn unreadable_user_hives_are_unknown() {
        // Alice locks; Bob's hive cannot be read: unknown, naming why.
        let h = secure(profiles(), "alice", USER_DESKTOP, "600").reg_user_error(
            "bob",
            USER_POLICY,
            "NTUSER.DAT: the process cannot access the file",
        );
        let r = run(&h);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.as_deref().unwrap().contains("cannot access"));
        assert_eq!(user(&r, "bob")["locks"], serde_json::Value::Null);
        // A user who fails decides even when another is unreadable.
        let h = profiles()
            .reg_user_value("alice", USER_DESKTOP, "ScreenSaveActive", sz("0"))
            .reg_user_error("bob", USER_POLICY, "locked");
        let r = run(&h);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert!(
            r.facts["unanswered"][0]
                .as_str()
                .unwrap()
                .contains("locked")
        );
        // On a live host whose agent does not read other users' hives yet.
        let unsupported = SourceError::Unsupported {
            what: "HKU\\bob\\Software (a user's hive on a live host)".into(),
        }
        .to_string();
        let h = secure(profiles(), "alice", USER_DESKTOP, "600")
            .reg_user_error("bob", USER_POLICY, &unsupported)
            .live();
        let r = run(&h);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.unwrap().contains("not available in this build"));
        // The machine value unreadable: a failing user does not decide.
        let h = profiles()
            .reg_user_value("alice", USER_DESKTOP, "ScreenSaveActive", sz("0"))
            .reg_error(SYSTEM_POLICY, "access denied");
        assert_eq!(run(&h).status, Status::Unknown);
    }

    #[test]
    fn nothing_readable_is_unknown() {
        let r = run(&FakeHost::windows());
        assert_eq!(r.status, Status::Unknown);
        let r =
            run(&FakeHost::windows().reg_value(CURRENT_VERSION, "InstallationType", sz("Client")));
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.unwrap().contains(PROFILE_LIST));
        // Profiles but none human.
        let h = FakeHost::windows().reg_value(
            &format!("{PROFILE_LIST}\\S-1-5-18"),
            "ProfileImagePath",
            sz("x"),
        );
        let r = run(&h);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.unwrap().contains("no user profile"));
    }
}
