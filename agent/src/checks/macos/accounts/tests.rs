use attest_proto::Status;
use plist::{Dictionary, Value};

use super::dslocal::{self, GROUPS_DIR, USERS_DIR};
use super::pwpolicy::{self, re_min_length};
use super::*;
use crate::checks::Thresholds;
use crate::host::fake::FakeHost;
use crate::host::sources::MACOS_PWPOLICY;

const MARKER: &[u8] = b"SHADOW-MARKER-5f1c9e";

fn arr(values: &[&str]) -> Value {
    Value::Array(
        values
            .iter()
            .map(|v| Value::String((*v).to_owned()))
            .collect(),
    )
}

fn to_bytes(dict: Dictionary, binary: bool) -> Vec<u8> {
    let mut buf = Vec::new();
    let value = Value::Dictionary(dict);
    if binary {
        value.to_writer_binary(&mut buf).unwrap();
    } else {
        value.to_writer_xml(&mut buf).unwrap();
    }
    buf
}

struct U<'a> {
    name: &'a str,
    uid: &'a str,
    guid: &'a str,
    shell: &'a str,
    shadow: bool,
}

fn user(u: &U<'_>, binary: bool) -> Vec<u8> {
    let mut d = Dictionary::new();
    d.insert("name".into(), arr(&[u.name]));
    d.insert("uid".into(), arr(&[u.uid]));
    d.insert("generateduid".into(), arr(&[u.guid]));
    d.insert("shell".into(), arr(&[u.shell]));
    if u.shadow {
        d.insert(
            "authentication_authority".into(),
            arr(&[";ShadowHash;HASHLIST:<SALTED-SHA512-PBKDF2,SRP-RFC5054-4096-SHA512-PBKDF2>"]),
        );
        d.insert(
            "ShadowHashData".into(),
            Value::Array(vec![Value::Data(MARKER.to_vec())]),
        );
    } else {
        d.insert("authentication_authority".into(), arr(&[";DisabledUser;"]));
    }
    to_bytes(d, binary)
}

fn group(name: &str, guid: &str, users: &[&str], members: &[&str], nested: &[&str]) -> Vec<u8> {
    let mut d = Dictionary::new();
    d.insert("name".into(), arr(&[name]));
    d.insert("generateduid".into(), arr(&[guid]));
    d.insert("users".into(), arr(users));
    d.insert("groupmembers".into(), arr(members));
    d.insert("nestedgroups".into(), arr(nested));
    to_bytes(d, false)
}

const ROOT: U<'static> = U {
    name: "root",
    uid: "0",
    guid: "FFFFEEEE-DDDD-CCCC-BBBB-AAAA00000000",
    shell: "/bin/sh",
    shadow: false,
};
const ALICE: U<'static> = U {
    name: "alice",
    uid: "501",
    guid: "11111111-0000-0000-0000-000000000501",
    shell: "/bin/zsh",
    shadow: true,
};
const DAEMON: U<'static> = U {
    name: "_www",
    uid: "70",
    guid: "FFFFEEEE-DDDD-CCCC-BBBB-AAAA00000046",
    shell: "/usr/bin/false",
    shadow: false,
};

fn users_path(name: &str) -> String {
    format!("{USERS_DIR}/{name}.plist")
}

/// A Mac with root, a daemon and alice (binary plist), admin = root + alice by GUID.
fn mac() -> FakeHost {
    FakeHost::macos()
        .file(&users_path("root"), user(&ROOT, false))
        .file(&users_path("_www"), user(&DAEMON, false))
        .file(&users_path("alice"), user(&ALICE, true))
        .file(
            &format!("{GROUPS_DIR}/admin.plist"),
            group(
                "admin",
                "ABCDEFAB-CDEF-ABCD-EFAB-CDEF00000050",
                &["root"],
                &[ALICE.guid],
                &[],
            ),
        )
}

fn pwpolicy_output(
    content: &[(&str, &str, Option<i64>)],
    auth: Option<i64>,
    days: Option<i64>,
) -> String {
    let mut d = Dictionary::new();
    let rules: Vec<Value> = content
        .iter()
        .map(|(id, re, min)| {
            let mut p = Dictionary::new();
            p.insert("policyIdentifier".into(), Value::String((*id).to_owned()));
            p.insert(
                "policyContent".into(),
                Value::String(format!("policyAttributePassword matches '{re}'")),
            );
            let mut params = Dictionary::new();
            if let Some(m) = min {
                params.insert("minimumLength".into(), Value::Integer((*m).into()));
            }
            p.insert("policyParameters".into(), Value::Dictionary(params));
            Value::Dictionary(p)
        })
        .collect();
    d.insert(pwpolicy::CONTENT.into(), Value::Array(rules));
    if let Some(n) = auth {
        let mut params = Dictionary::new();
        params.insert(pwpolicy::MAX_FAILED.into(), Value::Integer(n.into()));
        let mut p = Dictionary::new();
        p.insert(
            "policyIdentifier".into(),
            Value::String("com.apple.maximumFailedLoginAttempts".into()),
        );
        p.insert(
            "policyContent".into(),
            Value::String(
                "policyAttributeFailedAuthentications < policyAttributeMaximumFailedAuthentications"
                    .into(),
            ),
        );
        p.insert("policyParameters".into(), Value::Dictionary(params));
        d.insert(
            pwpolicy::AUTHENTICATION.into(),
            Value::Array(vec![Value::Dictionary(p)]),
        );
    }
    if let Some(n) = days {
        let mut params = Dictionary::new();
        params.insert(pwpolicy::EXPIRES_DAYS.into(), Value::Integer(n.into()));
        let mut p = Dictionary::new();
        p.insert(
            "policyIdentifier".into(),
            Value::String("ProfilePayload:0F7A:maxPINAgeInDays".into()),
        );
        p.insert("policyContent".into(), Value::String("policyAttributeCurrentTime > policyAttributeLastPasswordChangeTime + policyAttributeExpiresEveryNDays * 24 * 60 * 60".into()));
        p.insert("policyParameters".into(), Value::Dictionary(params));
        d.insert(
            pwpolicy::CHANGE.into(),
            Value::Array(vec![Value::Dictionary(p)]),
        );
    }
    let xml = String::from_utf8(to_bytes(d, false)).unwrap();
    format!("Getting global account policies\n{xml}")
}

// ---- dslocal ----

#[test]
fn user_plists_are_read_binary_or_xml_and_shadow_hash_data_is_not_kept() {
    for binary in [false, true] {
        let u = dslocal::parse_user(&user(&ALICE, binary), "/x/alice.plist").unwrap();
        assert_eq!(u.name, "alice");
        assert_eq!(u.uid, Some(501));
        assert!(u.has_shadow_hash());
        assert!(!u.disabled());
        let dump = format!("{u:?}");
        assert!(!dump.contains("SHADOW-MARKER"), "{dump}");
    }
}

#[test]
fn disabled_needs_no_shadow_hash_and_the_false_shell() {
    let d = dslocal::parse_user(&user(&DAEMON, false), "/x").unwrap();
    assert!(d.disabled());
    let no_hash_but_shell = U {
        shell: "/bin/zsh",
        ..DAEMON
    };
    assert!(
        !dslocal::parse_user(&user(&no_hash_but_shell, false), "/x")
            .unwrap()
            .disabled()
    );
    let hash_and_false = U {
        shell: "/usr/bin/false",
        ..ALICE
    };
    assert!(
        !dslocal::parse_user(&user(&hash_and_false, false), "/x")
            .unwrap()
            .disabled()
    );
}

#[test]
fn a_non_integer_uid_is_an_error() {
    let bad = U {
        uid: "five",
        ..ALICE
    };
    assert!(matches!(
        dslocal::parse_user(&user(&bad, false), "/x"),
        Err(dslocal::RecordError::BadUid { .. })
    ));
}

#[test]
fn admin_members_follow_guids_and_nested_groups_and_stop_at_cycles() {
    let host = mac()
        .file(
            &users_path("bob"),
            user(
                &U {
                    name: "bob",
                    uid: "502",
                    guid: "B0B",
                    shell: "/bin/zsh",
                    shadow: true,
                },
                false,
            ),
        )
        // admin nests "ops", which nests admin back (a cycle) and holds bob by GUID.
        .file(
            &format!("{GROUPS_DIR}/admin.plist"),
            group(
                "admin",
                "ADM",
                &["root"],
                &[ALICE.guid, "DEAD-BEEF"],
                &["OPS"],
            ),
        )
        .file(
            &format!("{GROUPS_DIR}/ops.plist"),
            group("ops", "OPS", &[], &["b0b"], &["ADM"]),
        )
        .host();
    let dir = dslocal::read(&host).unwrap();
    let m = dir.members("admin");
    let names: Vec<&str> = m.names.iter().map(String::as_str).collect();
    assert_eq!(names, vec!["alice", "bob", "root"]);
    assert_eq!(m.groups, vec!["admin", "ops"]);
    assert!(m.unresolved.contains("DEAD-BEEF"));
}

#[test]
fn humans_are_uid_501_and_up_or_admins() {
    let dir = dslocal::read(&mac().host()).unwrap();
    let humans: Vec<&str> = dir.humans().iter().map(|u| u.name.as_str()).collect();
    // root is an admin member; _www is neither.
    assert_eq!(humans, vec!["alice", "root"]);
    let enabled: Vec<&str> = dir
        .enabled_humans()
        .iter()
        .map(|u| u.name.as_str())
        .collect();
    assert_eq!(enabled, vec!["alice", "root"]);
}

// ---- uid0 and privileged ----

#[test]
fn uid0_only_root_passes_and_records_root_enabled() {
    let r = mac().run(&Uid0OnlyRoot);
    assert_eq!(r.status, Status::Pass, "{r:?}");
    assert_eq!(r.facts["root_enabled"], serde_json::json!(false));
    let enabled_root = U {
        shadow: true,
        ..ROOT
    };
    let r = mac()
        .file(&users_path("root"), user(&enabled_root, false))
        .run(&Uid0OnlyRoot);
    assert_eq!(r.facts["root_enabled"], serde_json::json!(true));
}

#[test]
fn a_second_uid0_account_fails_by_name() {
    let toor = U {
        name: "toor",
        uid: "0",
        guid: "7007",
        ..ALICE
    };
    let r = mac()
        .file(&users_path("toor"), user(&toor, true))
        .run(&Uid0OnlyRoot);
    assert_eq!(r.status, Status::Fail, "{r:?}");
    assert!(r.summary.contains("toor"), "{r:?}");
}

#[test]
fn an_unreadable_directory_is_unknown_run_as_root() {
    let r = mac().deny(USERS_DIR).run(&Uid0OnlyRoot);
    assert_eq!(r.status, Status::Unknown, "{r:?}");
    assert!(
        r.reason.as_deref().unwrap().contains("run as root"),
        "{r:?}"
    );
    let r = mac().deny(USERS_DIR).run(&PrivilegedUsers);
    assert_eq!(r.status, Status::Unknown, "{r:?}");
}

#[test]
fn privileged_users_lists_uid0_and_admin_members() {
    let r = mac().run(&PrivilegedUsers);
    assert_eq!(r.status, Status::Info, "{r:?}");
    assert_eq!(r.facts["uid0_accounts"], serde_json::json!(["root"]));
    assert_eq!(
        r.facts["admin_members"],
        serde_json::json!(["alice", "root"])
    );
}

#[test]
fn privileged_users_lists_sudoers_all_grants_on_a_mac() {
    let r = mac()
        .link("/etc", "private/etc")
        .file(
            "/private/etc/sudoers",
            "root\tALL = (ALL) ALL\n%admin\tALL = (ALL) ALL\n#includedir /private/etc/sudoers.d\n",
        )
        .file(
            "/private/etc/sudoers.d/ops",
            "User_Alias OPS = carol, dave\nOPS ALL = (ALL) ALL\nerin ALL = /usr/bin/true\n",
        )
        .run(&PrivilegedUsers);
    assert_eq!(r.status, Status::Info, "{r:?}");
    let principals: Vec<&str> = r.facts["sudoers_all"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["principal"].as_str().unwrap())
        .collect();
    assert_eq!(principals, ["root", "%admin", "carol", "dave"]);
    assert_eq!(r.facts["sudoers_all"][2]["via"], "OPS");
    assert!(
        r.summary
            .ends_with("sudoers grants ALL to root, %admin, carol, dave"),
        "{}",
        r.summary
    );
    let text = serde_json::to_string(&r.evidence).unwrap();
    assert!(text.contains("/etc/sudoers.d/ops"), "{text}");

    // Unreadable sudoers: still info, and said.
    let r = mac()
        .file("/etc/sudoers", "root ALL = (ALL) ALL\n")
        .deny("/etc/sudoers")
        .run(&PrivilegedUsers);
    assert_eq!(r.status, Status::Info, "{r:?}");
    assert!(
        r.summary.contains("not read: /etc/sudoers"),
        "{}",
        r.summary
    );
    assert_eq!(r.facts["sudoers_all"], serde_json::json!([]));
    // No sudoers at all.
    let r = mac().run(&PrivilegedUsers);
    assert!(r.summary.ends_with("no /etc/sudoers"), "{}", r.summary);
}

#[test]
fn shadow_hash_data_never_reaches_a_result() {
    let host = mac().command(
        &MACOS_PWPOLICY,
        0,
        &pwpolicy_output(&[("x", ".{12,}+", None)], Some(5), Some(90)),
    );
    let hex = hex::encode(MARKER);
    for check in checks() {
        let r = host.run(check.as_ref());
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains("SHADOW-MARKER"), "{json}");
        assert!(!json.to_lowercase().contains(&hex), "{json}");
    }
}

// ---- pwpolicy ----

#[test]
fn re_minimum_is_the_largest_dot_repeat_and_zero_with_an_empty_alternative() {
    assert_eq!(re_min_length(".{4,}+"), Some(4));
    assert_eq!(re_min_length("^(?=.*[0-9]).{8,}$|.{15,}"), Some(15));
    assert_eq!(re_min_length("^$|.{4,}+"), Some(0));
    assert_eq!(re_min_length(".{12,}|"), Some(0));
    assert_eq!(re_min_length("[|].{12,}"), Some(12));
    assert_eq!(re_min_length("[0-9]+"), None);
    assert_eq!(re_min_length(".{x,}"), None);
}

#[test]
fn pwpolicy_output_is_read_after_its_text_line() {
    let text = pwpolicy_output(
        &[
            ("a", ".{4,}+", None),
            ("ProfilePayload:1:minLength", ".{6,}", Some(14)),
        ],
        Some(5),
        Some(60),
    );
    let p = pwpolicy::parse(&text).unwrap();
    let m = p.min_length().unwrap();
    assert_eq!(
        (m.value, m.identifier.as_str()),
        (14, "ProfilePayload:1:minLength")
    );
    assert_eq!(p.max_failed().map(|x| x.0), Some(5));
    assert_eq!(p.expires_days().map(|x| x.0), Some(60));
    assert!(pwpolicy::parse("Getting global account policies\nnot xml").is_err());
}

#[test]
fn min_length_passes_at_the_threshold_and_fails_below() {
    let at = mac().command(
        &MACOS_PWPOLICY,
        0,
        &pwpolicy_output(&[("a", ".{12,}+", None)], None, None),
    );
    let r = at.run(&PasswordMinLength);
    assert_eq!(r.status, Status::Pass, "{r:?}");
    assert_eq!(r.facts["minimum_length"], serde_json::json!(12));
    assert_eq!(r.facts["threshold"], serde_json::json!(12));
    let strict = Thresholds {
        password_min_length: 13,
        ..Thresholds::default()
    };
    let r = at.run_with(&PasswordMinLength, &strict);
    assert_eq!(r.status, Status::Fail, "{r:?}");
    assert_eq!(r.facts["threshold"], serde_json::json!(13));
}

#[test]
fn the_sequoia_empty_alternative_fails_min_length() {
    let host = mac().command(
        &MACOS_PWPOLICY,
        0,
        &pwpolicy_output(
            &[("com.apple.defaultpasswordpolicy.fde", "^$|.{4,}+", None)],
            None,
            None,
        ),
    );
    let r = host.run(&PasswordMinLength);
    assert_eq!(r.status, Status::Fail, "{r:?}");
    assert_eq!(r.facts["minimum_length"], serde_json::json!(0));
}

#[test]
fn lockout_and_max_age_judge_against_thresholds() {
    let ok = mac().command(
        &MACOS_PWPOLICY,
        0,
        &pwpolicy_output(&[], Some(10), Some(365)),
    );
    assert_eq!(ok.run(&Lockout).status, Status::Pass);
    assert_eq!(ok.run(&PasswordMaxAge).status, Status::Pass);
    let lax = mac().command(
        &MACOS_PWPOLICY,
        0,
        &pwpolicy_output(&[], Some(11), Some(366)),
    );
    assert_eq!(lax.run(&Lockout).status, Status::Fail);
    assert_eq!(lax.run(&PasswordMaxAge).status, Status::Fail);
    let none = mac().command(&MACOS_PWPOLICY, 0, &pwpolicy_output(&[], None, None));
    let r = none.run(&Lockout);
    assert_eq!(r.status, Status::Fail, "{r:?}");
    assert_eq!(none.run(&PasswordMaxAge).status, Status::Fail);
    let r = none.run(&PasswordMinLength);
    assert_eq!(r.status, Status::Fail, "{r:?}");
    assert!(r.summary.contains("No password length rule"), "{r:?}");
}

#[test]
fn policy_checks_are_unknown_offline_and_na_without_a_human() {
    let r = mac().run(&Lockout);
    assert_eq!(r.status, Status::Unknown, "{r:?}");
    assert!(r.reason.as_deref().unwrap().contains("pwpolicy"), "{r:?}");
    let failed = mac().command(&MACOS_PWPOLICY, 1, "");
    assert_eq!(failed.run(&PasswordMaxAge).status, Status::Unknown);
    // Only root (not an admin here) and a daemon: no human account.
    let host = FakeHost::macos()
        .file(&users_path("root"), user(&ROOT, false))
        .file(&users_path("_www"), user(&DAEMON, false))
        .file(
            &format!("{GROUPS_DIR}/admin.plist"),
            group("admin", "ADM", &[], &[], &[]),
        )
        .command(&MACOS_PWPOLICY, 0, &pwpolicy_output(&[], Some(5), None));
    let r = host.run(&Lockout);
    assert_eq!(r.status, Status::NotApplicable, "{r:?}");
}

// ---- no_empty_passwords ----

const SALT: [u8; 32] = [7; 32];
const ITERATIONS: u32 = 1000;

/// The inner binary plist of ShadowHashData for `password`, computed with the
/// same PBKDF2 function the check uses.
fn shadow_inner(password: &[u8], salt: &[u8], iterations: u64) -> Vec<u8> {
    let mut entropy = vec![0u8; dslocal::ENTROPY_BYTES];
    // Above the cap the entropy is never looked at: don't spend a million rounds.
    let rounds = u32::try_from(iterations.min(u64::from(ITERATIONS))).unwrap();
    pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, rounds, &mut entropy);
    let mut entry = Dictionary::new();
    entry.insert("entropy".into(), Value::Data(entropy));
    entry.insert("iterations".into(), Value::Integer(iterations.into()));
    entry.insert("salt".into(), Value::Data(salt.to_vec()));
    let mut d = Dictionary::new();
    d.insert(dslocal::PBKDF2_ENTRY.into(), Value::Dictionary(entry));
    to_bytes(d, true)
}

fn user_with_shadow(name: &str, uid: &str, inner: &[u8], binary: bool) -> Vec<u8> {
    let mut d = Dictionary::new();
    d.insert("name".into(), arr(&[name]));
    d.insert("uid".into(), arr(&[uid]));
    d.insert("generateduid".into(), arr(&[&format!("GUID-{name}")]));
    d.insert("shell".into(), arr(&["/bin/zsh"]));
    d.insert(
        "authentication_authority".into(),
        arr(&[";ShadowHash;HASHLIST:<SALTED-SHA512-PBKDF2>"]),
    );
    d.insert(
        "ShadowHashData".into(),
        Value::Array(vec![Value::Data(inner.to_vec())]),
    );
    to_bytes(d, binary)
}

#[test]
fn verify_empty_tells_the_empty_password_from_a_set_one() {
    let empty = shadow_inner(b"", &SALT, u64::from(ITERATIONS));
    let set = shadow_inner(b"hunter2", &SALT, u64::from(ITERATIONS));
    assert_eq!(dslocal::verify_empty(&empty), dslocal::PasswordKind::Empty);
    assert_eq!(dslocal::verify_empty(&set), dslocal::PasswordKind::Set);
    assert_eq!(
        dslocal::verify_empty(b"not a plist"),
        dslocal::PasswordKind::Unverifiable
    );
    let too_many = shadow_inner(b"", &SALT, u64::from(dslocal::MAX_ITERATIONS) + 1);
    assert_eq!(
        dslocal::verify_empty(&too_many),
        dslocal::PasswordKind::Unverifiable
    );
}

/// The first 64-byte block decides a set password alone; a matching first block
/// is confirmed over all 128 bytes, so a record whose second half was altered is
/// not the empty password (macOS compares all of it at login).
#[test]
fn verify_empty_confirms_a_first_block_match_over_the_whole_entropy() {
    let mut entropy = vec![0u8; dslocal::ENTROPY_BYTES];
    pbkdf2::pbkdf2_hmac::<sha2::Sha512>(b"", &SALT, ITERATIONS, &mut entropy);
    let inner = |entropy: Vec<u8>| {
        let mut entry = Dictionary::new();
        entry.insert("entropy".into(), Value::Data(entropy));
        entry.insert("iterations".into(), Value::Integer(ITERATIONS.into()));
        entry.insert("salt".into(), Value::Data(SALT.to_vec()));
        let mut d = Dictionary::new();
        d.insert(dslocal::PBKDF2_ENTRY.into(), Value::Dictionary(entry));
        to_bytes(d, true)
    };
    assert_eq!(
        dslocal::verify_empty(&inner(entropy.clone())),
        dslocal::PasswordKind::Empty
    );
    let mut second_half_altered = entropy.clone();
    second_half_altered[100] ^= 1;
    assert_eq!(
        dslocal::verify_empty(&inner(second_half_altered)),
        dslocal::PasswordKind::Set
    );
    let mut first_half_altered = entropy;
    first_half_altered[3] ^= 1;
    assert_eq!(
        dslocal::verify_empty(&inner(first_half_altered)),
        dslocal::PasswordKind::Set
    );
}

#[test]
fn an_empty_password_fails_by_name_and_kind_only() {
    // The salt carries a marker: it must not reach the result.
    let mut salt = MARKER.to_vec();
    salt.extend_from_slice(&SALT);
    let empty = shadow_inner(b"", &salt, u64::from(ITERATIONS));
    let set = shadow_inner(b"correct horse", &salt, u64::from(ITERATIONS));
    let host = mac()
        .file(
            &users_path("alice"),
            user_with_shadow("alice", "501", &set, true),
        )
        .file(
            &users_path("eve"),
            user_with_shadow("eve", "503", &empty, false),
        );
    let r = host.run(&NoEmptyPasswords);
    assert_eq!(r.status, Status::Fail, "{r:?}");
    assert!(
        r.summary.contains("eve") && !r.summary.contains("alice"),
        "{r:?}"
    );
    assert_eq!(
        r.facts["passwords"],
        serde_json::json!({"alice": "set", "eve": "empty"})
    );
    let json = serde_json::to_string(&r).unwrap();
    assert!(!json.contains("SHADOW-MARKER"), "{json}");
    assert!(
        !json.to_lowercase().contains(&hex::encode(MARKER)),
        "{json}"
    );
    assert!(
        !json.to_lowercase().contains(&hex::encode(&empty[..16])),
        "{json}"
    );
}

#[test]
fn set_passwords_pass_and_unverifiable_ones_are_unknown() {
    let set = shadow_inner(b"hunter2", &SALT, u64::from(ITERATIONS));
    let host = mac().file(
        &users_path("alice"),
        user_with_shadow("alice", "501", &set, true),
    );
    let r = host.run(&NoEmptyPasswords);
    assert_eq!(r.status, Status::Pass, "{r:?}");
    assert_eq!(r.facts["passwords"], serde_json::json!({"alice": "set"}));
    // The default fixture's ShadowHashData is a marker, not a plist.
    let r = mac().run(&NoEmptyPasswords);
    assert_eq!(r.status, Status::Unknown, "{r:?}");
    assert!(r.reason.as_deref().unwrap().contains("alice"), "{r:?}");
    let r = mac().deny(USERS_DIR).run(&NoEmptyPasswords);
    assert_eq!(r.status, Status::Unknown, "{r:?}");
}

#[test]
fn the_registry_runs_the_accounts_checks_on_a_mac() {
    let set = shadow_inner(b"hunter2", &SALT, u64::from(ITERATIONS));
    let fake = mac()
        .file(
            &users_path("alice"),
            user_with_shadow("alice", "501", &set, true),
        )
        .command(
            &MACOS_PWPOLICY,
            0,
            &pwpolicy_output(&[("a", ".{14,}", None)], Some(6), Some(400)),
        );
    let host = fake.host();
    let thresholds = Thresholds::default();
    let ctx = crate::checks::Context::new(&host, crate::host::fake::default_now(), &thresholds);
    let ids = [
        "accounts.no_empty_passwords",
        "accounts.uid0_only_root",
        "accounts.password_max_age",
        "accounts.password_min_length",
        "accounts.lockout",
        "accounts.privileged_users",
    ];
    let only: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    let results = crate::checks::run(&ctx, &only);
    let mut got: Vec<(&str, Status)> = results
        .iter()
        .map(|r| (r.check.as_str(), r.status))
        .collect();
    got.sort_by_key(|(id, _)| *id);
    assert_eq!(
        got,
        vec![
            ("accounts.lockout", Status::Pass),
            ("accounts.no_empty_passwords", Status::Pass),
            ("accounts.password_max_age", Status::Fail),
            ("accounts.password_min_length", Status::Pass),
            ("accounts.privileged_users", Status::Info),
            ("accounts.uid0_only_root", Status::Pass),
        ]
    );
}
