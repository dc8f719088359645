//! The macOS login window: `accounts.guest_disabled` and
//! `accounts.auto_login_disabled` (ISO/IEC 27002:2022 5.15 Access control, 5.17
//! Authentication information, 8.5 Secure authentication).
//!
//! Both read preference files only ([`super::prefs`]): what the login window does
//! is decided by managed (MDM) preferences first, then the local
//! `/Library/Preferences/com.apple.loginwindow.plist`, then macOS's default. An
//! absent key means the default, not "off".

use attest_proto::{CheckResult, Evidence, Status};
use serde_json::{Value as Json, json};

use crate::checks::macos::prefs::{self, PrefSource};
use crate::checks::{Check, Context, unknown};

/// The login window's domain (local and managed).
pub const LOGINWINDOW: &str = "com.apple.loginwindow";
/// The managed domain of the MCX guest keys.
pub const MCX: &str = "com.apple.MCX";
pub const DISABLE_GUEST_ACCOUNT: &str = "DisableGuestAccount";
pub const ENABLE_GUEST_ACCOUNT: &str = "EnableGuestAccount";
/// The login window's guest switch; absent means disabled.
pub const GUEST_ENABLED: &str = "GuestEnabled";
/// The guest user's record in the local directory (root only).
pub const GUEST_RECORD: &str = "/var/db/dslocal/nodes/Default/users/Guest.plist";
/// SMB file sharing's settings: `AllowGuestAccess` is recorded, not judged.
pub const SMB_SERVER: &str = "/Library/Preferences/SystemConfiguration/com.apple.smb.server.plist";
pub const ALLOW_GUEST_ACCESS: &str = "AllowGuestAccess";
/// The user logged in automatically, in the local login window plist.
pub const AUTO_LOGIN_USER: &str = "autoLoginUser";
/// The managed key that turns automatic login off.
pub const DISABLE_AUTO_LOGIN: &str = "com.apple.login.mcx.DisableAutoLoginClient";
/// The obfuscated password of the auto-login user. Its bytes are never read:
/// presence and size only.
pub const KCPASSWORD: &str = "/etc/kcpassword";

fn evidence_of(found: &Option<prefs::Found>) -> Vec<Evidence> {
    found.iter().map(|f| f.evidence.clone()).collect()
}

/// A managed boolean of `domain` `key`: `Ok(None)` when not set.
fn managed_bool(
    ctx: &Context<'_>,
    domain: &str,
    key: &str,
) -> Result<Option<(bool, prefs::Found)>, String> {
    let Some(found) = prefs::managed(ctx.host, domain, key).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    match prefs::as_bool(&found.value) {
        Some(b) => Ok(Some((b, found))),
        None => Err(format!(
            "{}: {key} is {}, not a boolean",
            found.path,
            prefs::type_name(&found.value)
        )),
    }
}

/// Whether the guest user's record exists: `null` when it cannot be told (the
/// directory is root only).
fn guest_record(ctx: &Context<'_>) -> Json {
    match ctx.host.metadata(GUEST_RECORD) {
        Ok(_) => json!(true),
        Err(e) if e.is_not_found() => json!(false),
        Err(_) => Json::Null,
    }
}

/// SMB `AllowGuestAccess` as set in its file, or `null` (not set, or unreadable).
fn smb_guest_access(ctx: &Context<'_>) -> Json {
    match prefs::read_key(ctx.host, SMB_SERVER, ALLOW_GUEST_ACCESS) {
        Ok(Some(found)) => prefs::as_bool(&found.value).map_or(Json::Null, Json::Bool),
        _ => Json::Null,
    }
}

/// `accounts.guest_disabled`: the guest account cannot log in.
///
/// - managed `com.apple.MCX` `DisableGuestAccount` true wins: pass;
/// - else managed `com.apple.MCX` `EnableGuestAccount` true: fail;
/// - else the effective `com.apple.loginwindow` `GuestEnabled` (managed, then
///   `/Library/Preferences/com.apple.loginwindow.plist`, default false): false
///   passes, true fails.
///
/// Unknown when a plist that might decide cannot be read or holds a non-boolean.
/// Facts: `guest_enabled`, `source` (`managed`/`local`/`default`), `decided_by`
/// (the key), `guest_record` (whether `users/Guest.plist` exists; null when the
/// local directory cannot be read), `smb_allow_guest_access` (SMB file sharing's
/// `AllowGuestAccess`, null when not set), recorded and not judged.
pub struct GuestDisabled;

impl Check for GuestDisabled {
    fn id(&self) -> &'static str {
        "accounts.guest_disabled"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let id = self.id();
        let facts = |r: CheckResult| {
            r.fact("guest_record", guest_record(ctx))
                .fact("smb_allow_guest_access", smb_guest_access(ctx))
        };
        let decided = |enabled: bool, source: PrefSource, key: &str, how: String| {
            let status = if enabled { Status::Fail } else { Status::Pass };
            let summary = if enabled {
                format!("the guest account is enabled ({how})")
            } else {
                format!("the guest account is disabled ({how})")
            };
            facts(
                CheckResult::new(id, status, summary)
                    .fact("guest_enabled", enabled)
                    .fact("source", source.as_str())
                    .fact("decided_by", key),
            )
        };
        match managed_bool(ctx, MCX, DISABLE_GUEST_ACCOUNT) {
            Err(why) => return facts(unknown(id, why)),
            Ok(Some((true, found))) => {
                let how = format!("{DISABLE_GUEST_ACCOUNT} is true in {}", found.path);
                return decided(false, PrefSource::Managed, DISABLE_GUEST_ACCOUNT, how)
                    .evidence(found.evidence);
            }
            Ok(_) => {}
        }
        match managed_bool(ctx, MCX, ENABLE_GUEST_ACCOUNT) {
            Err(why) => return facts(unknown(id, why)),
            Ok(Some((true, found))) => {
                let how = format!("{ENABLE_GUEST_ACCOUNT} is true in {}", found.path);
                return decided(true, PrefSource::Managed, ENABLE_GUEST_ACCOUNT, how)
                    .evidence(found.evidence);
            }
            Ok(_) => {}
        }
        match prefs::effective_bool(ctx.host, LOGINWINDOW, GUEST_ENABLED, false) {
            Err(e) => facts(unknown(id, e.to_string())),
            Ok(eff) => {
                let how = match &eff.path {
                    Some(path) => format!("{GUEST_ENABLED} is {} in {path}", eff.value),
                    None => format!("{GUEST_ENABLED} is not set: macOS's default is false"),
                };
                decided(eff.value, eff.source, GUEST_ENABLED, how).evidences(eff.evidence)
            }
        }
    }
}

/// `accounts.auto_login_disabled`: no user is logged in without a password.
///
/// - managed `com.apple.loginwindow` `com.apple.login.mcx.DisableAutoLoginClient`
///   true: pass (whatever the local plist says);
/// - `/Library/Preferences/com.apple.loginwindow.plist` without `autoLoginUser`
///   (or with an empty one): pass;
/// - `autoLoginUser` set **and** `/etc/kcpassword` exists: fail. Only the
///   presence and size of `kcpassword` are recorded, never its bytes;
/// - `autoLoginUser` set but no `/etc/kcpassword`: pass, noted (no password is on
///   disk, so the login window asks for one).
///
/// Unknown when a plist cannot be read or holds the wrong type, or when
/// `kcpassword`'s presence cannot be told. Facts: `auto_login_user` (or null),
/// `managed_disable` (the managed key's value, or null), `kcpassword`
/// (`{path, present, size}`).
pub struct AutoLoginDisabled;

impl Check for AutoLoginDisabled {
    fn id(&self) -> &'static str {
        "accounts.auto_login_disabled"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let id = self.id();
        let managed = match managed_bool(ctx, LOGINWINDOW, DISABLE_AUTO_LOGIN) {
            Ok(m) => m,
            Err(why) => return unknown(id, why),
        };
        let managed_value = managed.as_ref().map(|(b, _)| *b);
        let local = prefs::local_path(LOGINWINDOW);
        let user = match prefs::read_key(ctx.host, &local, AUTO_LOGIN_USER) {
            Ok(found) => found,
            Err(e) => return unknown(id, e.to_string()).fact("managed_disable", managed_value),
        };
        let user_name = match &user {
            None => None,
            Some(found) => match found.value.as_string() {
                Some("") => None,
                Some(name) => Some(name.to_owned()),
                None => {
                    return unknown(
                        id,
                        format!(
                            "{local}: {AUTO_LOGIN_USER} is {}, not a string",
                            prefs::type_name(&found.value)
                        ),
                    )
                    .fact("managed_disable", managed_value);
                }
            },
        };
        let base = |r: CheckResult| {
            r.fact("auto_login_user", &user_name)
                .fact("managed_disable", managed_value)
        };
        if let Some((true, found)) = managed {
            return base(CheckResult::new(
                id,
                Status::Pass,
                format!(
                    "automatic login is turned off by {DISABLE_AUTO_LOGIN} in {}",
                    found.path
                ),
            ))
            .evidence(found.evidence)
            .evidences(evidence_of(&user));
        }
        let Some(name) = user_name.clone() else {
            return base(CheckResult::new(
                id,
                Status::Pass,
                format!("no {AUTO_LOGIN_USER} is set in {local}: automatic login is off"),
            ))
            .evidences(evidence_of(&user));
        };
        // Presence and size only: the file's bytes are never read.
        let kcpassword = match ctx.host.metadata(KCPASSWORD) {
            Ok(meta) => json!({"path": KCPASSWORD, "present": true, "size": meta.len()}),
            Err(e) if e.is_not_found() => json!({"path": KCPASSWORD, "present": false}),
            Err(e) => return base(unknown(id, e.to_string())).evidences(evidence_of(&user)),
        };
        let r = if kcpassword["present"] == true {
            CheckResult::new(
                id,
                Status::Fail,
                format!(
                    "automatic login is on: {AUTO_LOGIN_USER} is {name:?} in {local} and \
                     {KCPASSWORD} holds the user's obfuscated password"
                ),
            )
        } else {
            CheckResult::new(
                id,
                Status::Pass,
                format!(
                    "{AUTO_LOGIN_USER} is {name:?} in {local} but {KCPASSWORD} does not exist: \
                     no password is stored, the login window asks for it"
                ),
            )
        };
        base(r)
            .fact("kcpassword", kcpassword)
            .evidences(evidence_of(&user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::macos::prefs::tests::{binary, xml};
    use crate::host::fake::FakeHost;
    use base64::Engine;
    use plist::Value;
    use sha2::{Digest, Sha256};

    fn mac() -> FakeHost {
        FakeHost::macos()
            .link("/etc", "private/etc")
            .link("/var", "private/var")
    }

    fn mcx(entries: &[(&str, Value)]) -> (String, Vec<u8>) {
        (prefs::managed_path(MCX), xml(entries))
    }

    fn loginwindow(entries: &[(&str, Value)]) -> (String, Vec<u8>) {
        (prefs::local_path(LOGINWINDOW), xml(entries))
    }

    // ---- accounts.guest_disabled ----

    #[test]
    fn guest_absent_everywhere_is_the_default_disabled() {
        let r = mac().run(&GuestDisabled);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["source"], "default");
        assert_eq!(r.facts["guest_enabled"], false);
        assert_eq!(r.facts["guest_record"], false);
        assert!(r.facts["smb_allow_guest_access"].is_null());
        assert!(r.evidence.is_empty());
    }

    #[test]
    fn guest_enabled_in_the_local_plist_fails_and_false_passes() {
        let (p, b) = loginwindow(&[(GUEST_ENABLED, Value::Boolean(true))]);
        let r = mac()
            .file(&p, b)
            .file(
                "/private/var/db/dslocal/nodes/Default/users/Guest.plist",
                "x",
            )
            .run(&GuestDisabled);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["source"], "local");
        assert_eq!(r.facts["guest_record"], true);
        assert_eq!(r.evidence.len(), 1);

        let (p, b) = (
            prefs::local_path(LOGINWINDOW),
            binary(&[(GUEST_ENABLED, Value::Boolean(false))]),
        );
        let r = mac().file(&p, b).run(&GuestDisabled);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["source"], "local");
    }

    #[test]
    fn managed_disable_guest_account_wins_over_everything() {
        let (m, mb) = mcx(&[
            (DISABLE_GUEST_ACCOUNT, Value::Boolean(true)),
            (ENABLE_GUEST_ACCOUNT, Value::Boolean(true)),
        ]);
        let (l, lb) = loginwindow(&[(GUEST_ENABLED, Value::Boolean(true))]);
        let r = mac().file(&m, mb).file(&l, lb).run(&GuestDisabled);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["source"], "managed");
        assert_eq!(r.facts["decided_by"], DISABLE_GUEST_ACCOUNT);
    }

    #[test]
    fn managed_enable_guest_account_fails() {
        let (m, mb) = mcx(&[
            (DISABLE_GUEST_ACCOUNT, Value::Boolean(false)),
            (ENABLE_GUEST_ACCOUNT, Value::Boolean(true)),
        ]);
        let (l, lb) = loginwindow(&[(GUEST_ENABLED, Value::Boolean(false))]);
        let r = mac().file(&m, mb).file(&l, lb).run(&GuestDisabled);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["decided_by"], ENABLE_GUEST_ACCOUNT);
    }

    #[test]
    fn managed_guest_enabled_wins_over_local() {
        let m = prefs::managed_path(LOGINWINDOW);
        let mb = xml(&[(GUEST_ENABLED, Value::Boolean(false))]);
        let (l, lb) = loginwindow(&[(GUEST_ENABLED, Value::Boolean(true))]);
        let r = mac().file(&m, mb).file(&l, lb).run(&GuestDisabled);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["source"], "managed");
    }

    #[test]
    fn guest_unreadable_or_mistyped_plists_are_unknown() {
        let (l, _) = loginwindow(&[]);
        let r = mac().file(&l, "x").deny(&l).run(&GuestDisabled);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        let r = mac().file(&l, "not a plist").run(&GuestDisabled);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        let (m, mb) = mcx(&[(DISABLE_GUEST_ACCOUNT, Value::Real(0.5))]);
        let r = mac().file(&m, mb).run(&GuestDisabled);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(
            r.reason.as_deref().unwrap().contains("not a boolean"),
            "{r:?}"
        );
    }

    #[test]
    fn smb_guest_access_and_an_unreadable_directory_are_facts_not_verdicts() {
        let r = mac()
            .file(
                SMB_SERVER,
                xml(&[(ALLOW_GUEST_ACCESS, Value::Boolean(true))]),
            )
            .dir("/private/var/db/dslocal")
            .deny("/private/var/db/dslocal")
            .run(&GuestDisabled);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["smb_allow_guest_access"], true);
        assert!(r.facts["guest_record"].is_null(), "{r:?}");
    }

    // ---- accounts.auto_login_disabled ----

    const KC_BYTES: &[u8] =
        b"\x7d\x89\x52\x23\xd2\xbc\xdd\xea\xa3\xb9\x1f-kc-secret-never-in-a-report";

    fn auto_login(user: &str) -> FakeHost {
        let (l, lb) = loginwindow(&[(AUTO_LOGIN_USER, Value::String(user.into()))]);
        mac().file(&l, lb)
    }

    #[test]
    fn no_auto_login_user_passes() {
        let r = mac().run(&AutoLoginDisabled);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(r.facts["auto_login_user"].is_null());
        let (l, lb) = loginwindow(&[("lastUserName", Value::String("ann".into()))]);
        let r = mac().file(&l, lb).run(&AutoLoginDisabled);
        assert_eq!(r.status, Status::Pass, "{r:?}");
    }

    #[test]
    fn auto_login_user_with_kcpassword_fails_recording_its_size_only() {
        let r = auto_login("ann")
            .file("/private/etc/kcpassword", KC_BYTES)
            .run(&AutoLoginDisabled);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["auto_login_user"], "ann");
        assert_eq!(r.facts["kcpassword"]["present"], true);
        assert_eq!(r.facts["kcpassword"]["size"], KC_BYTES.len());
        let text = serde_json::to_string(&r).unwrap();
        let lossy = String::from_utf8_lossy(KC_BYTES);
        for needle in [
            "kc-secret-never-in-a-report".to_owned(),
            lossy.into_owned(),
            hex::encode(KC_BYTES),
            base64::engine::general_purpose::STANDARD.encode(KC_BYTES),
            hex::encode(Sha256::digest(KC_BYTES)),
        ] {
            assert!(!text.contains(&needle), "{needle} in {text}");
        }
        // The loginwindow plist is evidence; the kcpassword file is not (file
        // evidence would carry its hash).
        assert_eq!(r.evidence.len(), 1, "{r:?}");
        for e in &r.evidence {
            let Evidence::File { path, .. } = e else {
                panic!("{e:?}")
            };
            assert_eq!(path, &prefs::local_path(LOGINWINDOW));
        }
    }

    #[test]
    fn auto_login_user_without_kcpassword_passes_with_a_note() {
        let r = auto_login("ann").run(&AutoLoginDisabled);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["kcpassword"]["present"], false);
        assert!(r.summary.contains("does not exist"), "{r:?}");
    }

    #[test]
    fn managed_disable_auto_login_passes_even_with_a_user_and_kcpassword() {
        let m = prefs::managed_path(LOGINWINDOW);
        let mb = xml(&[(DISABLE_AUTO_LOGIN, Value::Boolean(true))]);
        let r = auto_login("ann")
            .file("/private/etc/kcpassword", KC_BYTES)
            .file(&m, mb)
            .run(&AutoLoginDisabled);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["managed_disable"], true);
        // Managed false does not turn it off: the local state decides.
        let mb = xml(&[(DISABLE_AUTO_LOGIN, Value::Boolean(false))]);
        let r = auto_login("ann")
            .file("/private/etc/kcpassword", KC_BYTES)
            .file(&m, mb)
            .run(&AutoLoginDisabled);
        assert_eq!(r.status, Status::Fail, "{r:?}");
    }

    #[test]
    fn auto_login_unreadable_plist_or_kcpassword_is_unknown() {
        let l = prefs::local_path(LOGINWINDOW);
        let r = mac().file(&l, "x").deny(&l).run(&AutoLoginDisabled);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        let r = mac().file(&l, "<plist>broken").run(&AutoLoginDisabled);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        let (l2, lb) = loginwindow(&[(AUTO_LOGIN_USER, Value::Integer(3.into()))]);
        let r = mac().file(&l2, lb).run(&AutoLoginDisabled);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        let r = auto_login("ann")
            .dir("/private/etc")
            .deny("/private/etc")
            .run(&AutoLoginDisabled);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
    }
}
