//! The Windows accounts checks over the fake host: the SAM offline (registry
//! values as the hive gives them) and the api captures.

use attest_proto::{CheckResult, Status};
use serde_json::json;

use super::sam::SAM_NEVER;
use super::sam::testdata::{alias_c, days, domain_f, sid, user_f};
use super::*;
use crate::checks::Thresholds;
use crate::host::fake::FakeHost;
use crate::host::sources::WIN_JOIN_INFORMATION;

/// The Winlogon password planted in tests: it must appear in no result.
const PLANTED_PASSWORD: &str = "Hunter2-Planted-Secret!";

/// ACB bits: normal account; disabled normal account.
const NORMAL: u16 = 0x0010;
const DISABLED: u16 = 0x0011;

fn with_user(fake: FakeHost, rid: u32, name: &str, acb: u16) -> FakeHost {
    fake.reg_value(
        &format!("{SAM_USERS}\\{rid:08X}"),
        "F",
        RegistryValue::Binary(user_f(rid, acb)),
    )
    .reg_typed(&format!("{SAM_NAMES}\\{name}"), "", rid, &[])
}

/// An offline Windows host whose SAM has the built-ins (all disabled), `alice`
/// (RID 1001, enabled) and the given domain policy.
fn sam_host(f: Vec<u8>) -> FakeHost {
    let fake = FakeHost::windows().reg_value(SAM_ACCOUNT, "F", RegistryValue::Binary(f));
    let fake = with_user(fake, 500, "Administrator", DISABLED);
    let fake = with_user(fake, 501, "Guest", DISABLED);
    let fake = with_user(fake, 503, "DefaultAccount", DISABLED);
    let fake = with_user(fake, 504, "WDAGUtilityAccount", DISABLED);
    let fake = with_user(fake, 1001, "alice", NORMAL);
    fake.reg_value(
        &format!("{SAM_ALIASES}\\00000220"),
        "C",
        RegistryValue::Binary(alias_c(
            0x220,
            "Administrators",
            &[
                sid(5, &[21, 1, 2, 3, 500]),
                sid(5, &[21, 1, 2, 3, 1001]),
                sid(5, &[21, 9, 8, 7, 512]),
            ],
        )),
    )
    .reg_value(
        &format!("{SAM_ALIASES}\\0000022B"),
        "C",
        RegistryValue::Binary(alias_c(0x22B, "Remote Desktop Users", &[])),
    )
    .reg_value(
        POL_ACCOUNT_DOMAIN_SID,
        "",
        RegistryValue::Binary(sid(5, &[21, 1, 2, 3])),
    )
}

/// The usual policy: 42 days, length 14, lockout after 5, history 24.
fn good() -> FakeHost {
    sam_host(domain_f(days(42), 14, 5, 24, true))
}

fn modals(min_len: u64, max_age: u64, threshold: u64) -> serde_json::Value {
    json!({"level0": {"min_passwd_len": min_len, "max_passwd_age": max_age, "min_passwd_age": 0,
        "password_hist_len": 0, "force_logoff": 4_294_967_295u64},
        "level3": {"lockout_duration": 1800, "lockout_observation_window": 1800,
        "lockout_threshold": threshold}})
}

/// A host answering from api captures (no SAM at all).
fn api_host(min_len: u64, max_age: u64, threshold: u64, alice_flags: u64) -> FakeHost {
    FakeHost::windows()
        .api(&WIN_NETUSERMODALS, modals(min_len, max_age, threshold))
        .api(
            &WIN_NETUSERENUM,
            json!({"users": [
                {"name": "Administrator", "rid": 500, "flags": 0x0203},
                {"name": "Invité", "rid": 501, "flags": 0x0203},
                {"name": "alice", "rid": 1001, "flags": alice_flags}]}),
        )
        .reg_key("SOFTWARE")
}

fn status(fake: &FakeHost, check: &dyn Check) -> (Status, CheckResult) {
    let r = fake.run(check);
    (r.status, r)
}

#[test]
fn min_length_passes_fails_and_is_not_applicable_from_the_sam() {
    let (s, r) = status(&good(), &PasswordMinLength);
    assert_eq!(s, Status::Pass, "{r:?}");
    assert_eq!(r.facts["min_password_length"], json!(14));
    assert_eq!(r.facts["threshold"], json!(12));
    assert_eq!(r.facts["basis"], json!("sam"));
    assert_eq!(
        r.facts["judged_accounts"],
        json!([{"name": "alice", "rid": 1001}])
    );
    let short = sam_host(domain_f(days(42), 8, 5, 24, true));
    let (s, r) = status(&short, &PasswordMinLength);
    assert_eq!(s, Status::Fail, "{r:?}");
    assert!(r.summary.contains("is 8, below 12"), "{}", r.summary);
    // Only the built-ins, all disabled or never judged: not applicable.
    let nobody = with_user(
        FakeHost::windows().reg_value(
            SAM_ACCOUNT,
            "F",
            RegistryValue::Binary(domain_f(days(42), 0, 0, 0, false)),
        ),
        501,
        "Guest",
        NORMAL,
    );
    let (s, r) = status(&nobody, &PasswordMinLength);
    assert_eq!(s, Status::NotApplicable, "{r:?}");
    assert_eq!(r.reason.as_deref(), Some(NO_JUDGED));
    // An enabled RID 500 is judged.
    let admin = with_user(nobody.clone(), 500, "Administrateur", NORMAL);
    assert_eq!(admin.run(&PasswordMinLength).status, Status::Fail);
    // The SAM unreadable: unknown, both reasons given.
    let denied = FakeHost::windows().reg_error(SAM_USERS, "access denied");
    let (s, r) = status(&denied, &PasswordMinLength);
    assert_eq!(s, Status::Unknown);
    let reason = r.reason.unwrap();
    assert!(
        reason.contains("live sources are not run on an offline root"),
        "{reason}"
    );
    assert!(reason.contains("access denied"), "{reason}");
    // Live, a denied SAM says who can read it.
    let live = FakeHost::windows()
        .live()
        .reg_error(SAM_USERS, "Access is denied.");
    let reason = live.run(&PasswordMinLength).reason.unwrap();
    assert!(
        reason.ends_with("Access is denied.; run as LocalSystem"),
        "{reason}"
    );
    // Users readable, the domain F too short.
    let short_f = sam_host(domain_f(days(42), 14, 5, 24, true)[..0x40].to_vec());
    let (s, r) = status(&short_f, &PasswordMinLength);
    assert_eq!(s, Status::Unknown);
    assert!(r.reason.unwrap().contains("shorter than the 86 bytes"));
}

#[test]
fn lengths_above_14_count_only_with_relaxed_limits() {
    let long = sam_host(domain_f(days(42), 20, 5, 24, true));
    let strict = Thresholds {
        password_min_length: 16,
        ..Thresholds::default()
    };
    // Without the relax value: 14 is what Windows enforces.
    let r = long.run_with(&PasswordMinLength, &strict);
    assert_eq!(r.status, Status::Fail, "{r:?}");
    assert_eq!(r.facts["min_password_length"], json!(14));
    assert_eq!(r.facts["min_password_length_stored"], json!(20));
    let relaxed = long.clone().reg_value(
        SAM_CONTROL,
        "RelaxMinimumPasswordLengthLimits",
        RegistryValue::Dword(1),
    );
    let r = relaxed.run_with(&PasswordMinLength, &strict);
    assert_eq!(r.status, Status::Pass, "{r:?}");
    assert_eq!(r.facts["relax_minimum_password_length_limits"], json!(1));
    // The relax value unreadable: 14 still decides a threshold of 12 ...
    let unread = long.clone().reg_error(SAM_CONTROL, "damaged hive");
    let r = unread.run(&PasswordMinLength);
    assert_eq!(r.status, Status::Pass, "{r:?}");
    assert!(
        r.facts["unanswered"][0]
            .as_str()
            .unwrap()
            .contains("damaged hive")
    );
    assert!(r.reason.is_none());
    // ... but not one of 16.
    assert_eq!(
        unread.run_with(&PasswordMinLength, &strict).status,
        Status::Unknown
    );
}

#[test]
fn lockout_verdicts() {
    let (s, r) = status(&good(), &Lockout);
    assert_eq!(s, Status::Pass, "{r:?}");
    assert_eq!(r.facts["lockout_threshold"], json!(5));
    assert_eq!(r.facts["lockout_duration"], json!(1800));
    assert_eq!(r.facts["threshold"], json!(10));
    let never = sam_host(domain_f(days(42), 14, 0, 24, true));
    let (s, r) = status(&never, &Lockout);
    assert_eq!(s, Status::Fail);
    assert!(r.summary.contains("never locked"), "{}", r.summary);
    let lax = sam_host(domain_f(days(42), 14, 11, 24, true));
    assert_eq!(lax.run(&Lockout).status, Status::Fail);
    let ten = sam_host(domain_f(days(42), 14, 10, 24, true));
    assert_eq!(ten.run(&Lockout).status, Status::Pass);
    assert_eq!(
        FakeHost::windows()
            .reg_error(SAM_USERS, "x")
            .run(&Lockout)
            .status,
        Status::Unknown
    );
    // From the api.
    assert_eq!(
        api_host(14, 3_628_800, 3, 0x0201).run(&Lockout).status,
        Status::Pass
    );
    assert_eq!(
        api_host(14, 3_628_800, 0, 0x0201).run(&Lockout).status,
        Status::Fail
    );
    assert_eq!(
        api_host(14, 3_628_800, 3, 0x0203).run(&Lockout).status,
        Status::NotApplicable,
        "alice disabled: no judged account"
    );
}

#[test]
fn max_age_verdicts() {
    let (s, r) = status(&good(), &PasswordMaxAge);
    assert_eq!(s, Status::Pass, "{r:?}");
    assert_eq!(r.facts["max_password_age"], json!(42 * 86_400));
    assert_eq!(r.facts["threshold_days"], json!(365));
    for (f, why) in [
        (domain_f(SAM_NEVER, 14, 5, 24, true), "never expire"),
        (domain_f(0, 14, 5, 24, true), "never expire"),
        (
            domain_f(days(366), 14, 5, 24, true),
            "366 days, above 365 days",
        ),
    ] {
        let (s, r) = status(&sam_host(f), &PasswordMaxAge);
        assert_eq!(s, Status::Fail, "{r:?}");
        assert!(r.summary.contains(why), "{}", r.summary);
    }
    assert_eq!(
        sam_host(domain_f(days(365), 14, 5, 24, true))
            .run(&PasswordMaxAge)
            .status,
        Status::Pass
    );
    // An account exempt from expiry fails, named.
    let exempt = with_user(good(), 1002, "svc-backup", NORMAL | 0x0200);
    let (s, r) = status(&exempt, &PasswordMaxAge);
    assert_eq!(s, Status::Fail);
    assert_eq!(
        r.facts["password_never_expires"],
        json!(["svc-backup (RID 1002)"])
    );
    // A disabled exempt account is not judged.
    let disabled = with_user(good(), 1002, "old", DISABLED | 0x0200);
    assert_eq!(disabled.run(&PasswordMaxAge).status, Status::Pass);
    // From the api: TIMEQ_FOREVER is never; alice exempt.
    assert_eq!(
        api_host(14, 0xFFFF_FFFF, 3, 0x0201)
            .run(&PasswordMaxAge)
            .status,
        Status::Fail
    );
    assert_eq!(
        api_host(14, 3_628_800, 3, 0x1_0201)
            .run(&PasswordMaxAge)
            .status,
        Status::Fail
    );
    let r = api_host(14, 3_628_800, 3, 0x0201).run(&PasswordMaxAge);
    assert_eq!(r.status, Status::Pass, "{r:?}");
    assert_eq!(r.facts["basis"], json!("api"));
    assert!(matches!(r.evidence[0], Evidence::Api { .. }));
}

#[test]
fn no_empty_passwords_verdicts() {
    let (s, r) = status(&good(), &NoEmptyPasswords);
    assert_eq!(s, Status::Pass, "{r:?}");
    assert_eq!(
        r.facts["limit_blank_password_use"],
        json!({"value": null, "effective": 1})
    );
    let open = with_user(good(), 1002, "kiosk", NORMAL | 0x0004);
    let (s, r) = status(&open, &NoEmptyPasswords);
    assert_eq!(s, Status::Fail);
    assert_eq!(
        r.facts["accounts"],
        json!([{"name": "kiosk", "rid": 1002, "kind": "password_not_required"}])
    );
    // The flag on a disabled Guest is not judged.
    let guest = with_user(good(), 501, "Guest", DISABLED | 0x0004);
    assert_eq!(guest.run(&NoEmptyPasswords).status, Status::Pass);
    // A user F too short: unknown, the user might be judged.
    let broken = good().reg_value(
        &format!("{SAM_USERS}\\000003EA"),
        "F",
        RegistryValue::Binary(vec![0; 10]),
    );
    let (s, r) = status(&broken, &NoEmptyPasswords);
    assert_eq!(s, Status::Unknown);
    assert!(r.reason.unwrap().contains("000003EA"));
    assert_eq!(
        api_host(14, 0, 3, 0x0221).run(&NoEmptyPasswords).status,
        Status::Fail
    );
    // A recorded api error is unknown, not a fall back to the SAM.
    let failed = good().source_error(&WIN_NETUSERENUM, "access denied");
    let (s, r) = status(&failed, &NoEmptyPasswords);
    assert_eq!(s, Status::Unknown);
    assert!(r.reason.unwrap().contains("access denied (captured)"));
}

#[test]
fn guest_verdicts_go_by_rid_not_name() {
    let (s, r) = status(&good(), &GuestDisabled);
    assert_eq!(s, Status::Pass, "{r:?}");
    assert_eq!(r.facts["guest_name"], json!("Guest"));
    let on = with_user(good(), 501, "Guest", NORMAL);
    let (s, r) = status(&on, &GuestDisabled);
    assert_eq!(s, Status::Fail);
    assert!(
        r.summary.contains("Guest (RID 501) is enabled"),
        "{}",
        r.summary
    );
    // A "Guest" by name with another RID is not the guest.
    let named = with_user(
        sam_host(domain_f(days(42), 14, 5, 24, true)),
        501,
        "Gast",
        DISABLED,
    );
    let named = with_user(named, 1005, "Guest", NORMAL);
    assert_eq!(named.run(&GuestDisabled).status, Status::Pass);
    assert_eq!(
        FakeHost::windows()
            .reg_error(SAM_USERS, "x")
            .run(&GuestDisabled)
            .status,
        Status::Unknown
    );
    let (s, r) = status(&api_host(14, 0, 3, 0), &GuestDisabled);
    assert_eq!(s, Status::Pass);
    assert_eq!(r.facts["guest_name"], json!("Invité"));
    // A RID whose Names link is missing is shown by RID.
    let nameless = FakeHost::windows()
        .reg_value(
            &format!("{SAM_USERS}\\000001F5"),
            "F",
            RegistryValue::Binary(user_f(501, NORMAL)),
        )
        .reg_key(SAM_NAMES);
    let r = nameless.run(&GuestDisabled);
    assert_eq!(r.status, Status::Fail);
    assert!(r.summary.contains("RID 501"), "{}", r.summary);
}

#[test]
fn auto_login_records_presence_never_the_password() {
    let off = FakeHost::windows().reg_key(WINLOGON);
    let (s, r) = status(&off, &AutoLoginDisabled);
    assert_eq!(s, Status::Pass, "{r:?}");
    let zero = FakeHost::windows().reg_value(
        WINLOGON,
        "AutoAdminLogon",
        RegistryValue::String("0".into()),
    );
    assert_eq!(zero.run(&AutoLoginDisabled).status, Status::Pass);
    let on = FakeHost::windows()
        .reg_value(
            WINLOGON,
            "AutoAdminLogon",
            RegistryValue::String("1".into()),
        )
        .reg_value(
            WINLOGON,
            "DefaultUserName",
            RegistryValue::String("kiosk".into()),
        )
        .reg_value(
            WINLOGON,
            "DefaultPassword",
            RegistryValue::String(PLANTED_PASSWORD.into()),
        )
        .reg_key(&format!("{LSA_DEFAULT_PASSWORD}\\CurrVal"));
    let (s, r) = status(&on, &AutoLoginDisabled);
    assert_eq!(s, Status::Fail, "{r:?}");
    assert_eq!(r.facts["default_user_name"], json!("kiosk"));
    assert_eq!(r.facts["default_password_present"], json!(true));
    assert_eq!(r.facts["lsa_secret_present"], json!(true));
    assert!(r.summary.contains("plain text"), "{}", r.summary);
    let text = serde_json::to_string(&r).unwrap();
    assert!(!text.contains(PLANTED_PASSWORD), "{text}");
    // Live too (the evidence is then an api call over the values).
    let live = live_run(&on);
    let text = serde_json::to_string(&live).unwrap();
    assert_eq!(live.status, Status::Fail);
    assert!(!text.contains(PLANTED_PASSWORD), "{text}");
    // Only the LSA secret; SECURITY unreadable is unanswered, not a guess.
    let lsa = FakeHost::windows()
        .reg_value(
            WINLOGON,
            "AutoAdminLogon",
            RegistryValue::String("1".into()),
        )
        .reg_error(LSA_DEFAULT_PASSWORD, "access denied");
    let r = lsa.run(&AutoLoginDisabled);
    assert_eq!(r.status, Status::Fail);
    assert_eq!(r.facts["lsa_secret_present"], json!(null));
    assert!(r.facts["unanswered"].to_string().contains("access denied"));
    let unread = FakeHost::windows().reg_error(WINLOGON, "damaged hive");
    assert_eq!(unread.run(&AutoLoginDisabled).status, Status::Unknown);
}

fn live_run(fake: &FakeHost) -> CheckResult {
    fake.clone().live().run(&AutoLoginDisabled)
}

const WINDOWS_SSHD: &str = "# stock Windows sshd_config
#PasswordAuthentication yes
PasswordAuthentication no

Match Group administrators
       AuthorizedKeysFile __PROGRAMDATA__/ssh/administrators_authorized_keys
       PasswordAuthentication yes
";

#[test]
fn ssh_password_auth_uses_the_sshd_parser_on_programdata() {
    let none = FakeHost::windows().reg_key("SYSTEM\\CurrentControlSet\\Services");
    let (s, r) = status(&none, &SshPasswordAuth);
    assert_eq!(s, Status::NotApplicable, "{r:?}");
    assert!(r.reason.unwrap().contains("Services\\sshd"));
    let installed = FakeHost::windows().reg_key(SSHD_SERVICE);
    // The paths are case-insensitive under a Windows root.
    let hardened = installed
        .clone()
        .file("/programdata/SSH/sshd_config", WINDOWS_SSHD);
    let (s, r) = status(&hardened, &SshPasswordAuth);
    assert_eq!(s, Status::Pass, "{r:?}");
    assert_eq!(r.facts["password_authentication"], json!("no"));
    let stock = installed.clone().file(
        "/ProgramData/ssh/sshd_config",
        "#PasswordAuthentication yes\n",
    );
    let (s, r) = status(&stock, &SshPasswordAuth);
    assert_eq!(s, Status::Fail, "{r:?}");
    assert_eq!(r.facts["password_authentication_source"], json!("default"));
    // Relative includes start at %ProgramData%\ssh.
    let included = installed
        .clone()
        .file("/ProgramData/ssh/sshd_config", "Include conf.d/*.conf\n")
        .file(
            "/ProgramData/ssh/conf.d/10-no.conf",
            "PasswordAuthentication no\n",
        );
    assert_eq!(included.run(&SshPasswordAuth).status, Status::Pass);
    let drive = installed.clone().file(
        "/ProgramData/ssh/sshd_config",
        "Include C:/ssh/*.conf\nPasswordAuthentication no\n",
    );
    assert_eq!(drive.run(&SshPasswordAuth).status, Status::Unknown);
    let (s, r) = status(&installed, &SshPasswordAuth);
    assert_eq!(s, Status::Unknown);
    assert!(r.reason.unwrap().contains("sshd_config_default"));
    let denied = FakeHost::windows().reg_error(SSHD_SERVICE, "access denied");
    assert_eq!(denied.run(&SshPasswordAuth).status, Status::Unknown);
}

#[test]
fn privileged_users_lists_admins_by_sid_rid_500_and_remote_desktop_users() {
    let (s, r) = status(&good(), &PrivilegedUsers);
    assert_eq!(s, Status::Info, "{r:?}");
    assert_eq!(
        r.facts["administrators"],
        json!([
            {"sid": "S-1-5-21-1-2-3-500", "name": "Administrator"},
            {"sid": "S-1-5-21-1-2-3-1001", "name": "alice"},
            {"sid": "S-1-5-21-9-8-7-512", "name": null}
        ])
    );
    assert_eq!(
        r.facts["builtin_administrator"],
        json!({"name": "Administrator", "rid": 500, "enabled": false})
    );
    assert_eq!(r.facts["remote_desktop_users"], json!([]));
    assert_eq!(r.facts["unavailable"], json!([]));
    assert!(r.summary.contains("S-1-5-21-9-8-7-512"), "{}", r.summary);
    // Remote Desktop Users unreadable: still info, listed as unavailable.
    let no_rdp = good().reg_error(&format!("{SAM_ALIASES}\\0000022B"), "damaged hive");
    let r = no_rdp.run(&PrivilegedUsers);
    assert_eq!(r.status, Status::Info);
    assert!(r.facts["unavailable"].to_string().contains("damaged hive"));
    // Administrators unreadable: unknown.
    let no_admins = good().reg_error(&format!("{SAM_ALIASES}\\00000220"), "damaged hive");
    assert_eq!(no_admins.run(&PrivilegedUsers).status, Status::Unknown);
    // From the api.
    let api = api_host(14, 0, 3, 0)
        .api(
            &WIN_LOCALGROUP_ADMINS,
            json!({"group_sid": "S-1-5-32-544", "group_name": "Administratoren", "members": [
                {"sid": "S-1-5-21-1-2-3-500", "name": "PC\\Administrator", "sid_usage": 1},
                {"sid": "S-1-5-21-7-7-7-1105", "name": null, "sid_usage": 8}]}),
        )
        .api(
            &WIN_LOCALGROUP_REMOTE_DESKTOP,
            json!({"group_sid": "S-1-5-32-555", "group_name": "Remotedesktopbenutzer",
                "members": [{"sid": "S-1-5-21-1-2-3-1001", "name": "PC\\alice", "sid_usage": 1}]}),
        );
    let r = api.run(&PrivilegedUsers);
    assert_eq!(r.status, Status::Info, "{r:?}");
    assert_eq!(
        r.facts["administrators"][1],
        json!({"sid": "S-1-5-21-7-7-7-1105", "name": null})
    );
    assert_eq!(
        r.facts["remote_desktop_users"][0]["name"],
        json!("PC\\alice")
    );
    assert_eq!(r.facts["administrators_basis"], json!("api"));
}

const TCPIP: &str = "SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters";
const PRODUCT: &str = "SYSTEM\\CurrentControlSet\\Control\\ProductOptions";

fn joined() -> FakeHost {
    FakeHost::windows()
        .api(&WIN_JOIN_INFORMATION, json!({"name": "CORP", "status": 3}))
        .reg_value(
            PRODUCT,
            "ProductType",
            RegistryValue::String("WinNT".into()),
        )
}

#[test]
fn laps_verdicts() {
    let workgroup = FakeHost::windows().reg_key(TCPIP);
    let (s, r) = status(&workgroup, &Laps);
    assert_eq!(s, Status::NotApplicable, "{r:?}");
    assert_eq!(r.facts["directory"], json!("none"));
    let dc = joined().reg_value(
        PRODUCT,
        "ProductType",
        RegistryValue::String("LanmanNT".into()),
    );
    let (s, r) = status(&dc, &Laps);
    assert_eq!(s, Status::NotApplicable);
    assert!(r.reason.unwrap().contains("LanmanNT"));
    let (s, r) = status(&joined(), &Laps);
    assert_eq!(s, Status::Fail, "{r:?}");
    assert_eq!(r.facts["kind"], json!("none"));
    let (csp, gpo, local) = (LAPS_ROOTS[0].0, LAPS_ROOTS[1].0, LAPS_ROOTS[2].0);
    for (root, value, want) in [
        (gpo, 2, Status::Pass),
        (csp, 1, Status::Pass),
        (local, 0, Status::Fail),
    ] {
        let fake = joined().reg_value(root, "BackupDirectory", RegistryValue::Dword(value));
        let (s, r) = status(&fake, &Laps);
        assert_eq!(s, want, "{root} {value}: {r:?}");
        assert_eq!(r.facts["backup_directory"], json!(value));
    }
    // The CSP root comes first, even when the GPO root would pass.
    let both = joined()
        .reg_value(csp, "BackupDirectory", RegistryValue::Dword(0))
        .reg_value(gpo, "BackupDirectory", RegistryValue::Dword(2));
    let r = both.run(&Laps);
    assert_eq!(r.status, Status::Fail);
    assert_eq!(r.facts["policy_source"], json!("CSP"));
    // A root with settings but no BackupDirectory: Windows LAPS's default, disabled.
    let no_backup = joined()
        .reg_value(gpo, "PasswordLength", RegistryValue::Dword(14))
        .reg_value(local, "BackupDirectory", RegistryValue::Dword(2));
    assert_eq!(no_backup.run(&Laps).status, Status::Fail);
    // An empty root key is no settings: the next one decides.
    let empty = joined()
        .reg_key(csp)
        .reg_value(local, "BackupDirectory", RegistryValue::Dword(2));
    assert_eq!(empty.run(&Laps).status, Status::Pass);
    let odd = joined().reg_value(gpo, "BackupDirectory", RegistryValue::Dword(7));
    assert_eq!(odd.run(&Laps).status, Status::Unknown);
    // Legacy LAPS needs its extension.
    let legacy = joined().reg_value(LEGACY_LAPS, "AdmPwdEnabled", RegistryValue::Dword(1));
    let (s, r) = status(&legacy, &Laps);
    assert_eq!(s, Status::Fail, "{r:?}");
    assert_eq!(r.facts["legacy_extension_registered"], json!(false));
    let with_cse = legacy.clone().reg_key(LEGACY_LAPS_CSE);
    let (s, r) = status(&with_cse, &Laps);
    assert_eq!(s, Status::Pass, "{r:?}");
    assert_eq!(r.facts["kind"], json!("legacy_laps"));
    // Entra-only joined (no AD): judged, ProductType not needed.
    let entra = FakeHost::windows()
        .reg_key(TCPIP)
        .reg_key("SYSTEM\\CurrentControlSet\\Control\\CloudDomainJoin\\JoinInfo\\0123ABCD")
        .reg_value(csp, "BackupDirectory", RegistryValue::Dword(1));
    let (s, r) = status(&entra, &Laps);
    assert_eq!(s, Status::Pass, "{r:?}");
    assert_eq!(r.facts["directory"], json!("entra"));
    // The directory cannot be told: unknown.
    let unknown_dir =
        FakeHost::windows().source_error(&WIN_JOIN_INFORMATION, "RPC server unavailable");
    assert_eq!(unknown_dir.run(&Laps).status, Status::Unknown);
    let denied = joined().reg_error(gpo, "access denied");
    assert_eq!(denied.run(&Laps).status, Status::Unknown);
}

/// Every accounts id through the registry on one host holding a Winlogon
/// password and a planted LSA secret key: nothing of the password appears in
/// any result, and the three ids Windows has no meaning for stay not applicable.
#[test]
fn no_secret_reaches_any_result_and_the_unix_ids_stay_not_applicable() {
    let fake = good()
        .reg_value(
            WINLOGON,
            "AutoAdminLogon",
            RegistryValue::String("1".into()),
        )
        .reg_value(
            WINLOGON,
            "DefaultUserName",
            RegistryValue::String("alice".into()),
        )
        .reg_value(
            WINLOGON,
            "DefaultPassword",
            RegistryValue::String(PLANTED_PASSWORD.into()),
        )
        .reg_value(
            &format!("{LSA_DEFAULT_PASSWORD}\\CurrVal"),
            "",
            RegistryValue::Binary(PLANTED_PASSWORD.as_bytes().to_vec()),
        );
    for fake in [fake.clone(), fake.live()] {
        let host = fake.host();
        let thresholds = Thresholds::default();
        let ctx = Context::new(&host, crate::host::fake::default_now(), &thresholds);
        let results = crate::checks::run(&ctx, &[]);
        let text = serde_json::to_string(&results).unwrap();
        assert!(!text.contains(PLANTED_PASSWORD), "{text}");
        let hex_secret = hex::encode(PLANTED_PASSWORD.as_bytes());
        assert!(!text.contains(&hex_secret), "{text}");
        let by_id = |id: &str| {
            results
                .iter()
                .find(|r| r.check == id)
                .map(|r| r.status)
                .unwrap()
        };
        for id in [
            "accounts.uid0_only_root",
            "accounts.ssh_root_login",
            "accounts.sudo_nopasswd",
        ] {
            assert_eq!(by_id(id), Status::NotApplicable, "{id}");
        }
        assert_eq!(by_id("accounts.auto_login_disabled"), Status::Fail);
        assert_eq!(by_id("accounts.guest_disabled"), Status::Pass);
        for r in results.iter().filter(|r| r.check.starts_with("accounts.")) {
            assert!(!r.summary.contains("not yet implemented"), "{r:?}");
        }
    }
}

/// The SAM end to end: hive files written from `.reg` text by the independent
/// writer, the Names link a value *type* (`hex(3e9):`), read by the hive reader.
#[test]
fn a_sam_hive_file_is_read_end_to_end() {
    use crate::host::regf::writer::{self, Tree};
    let hex = |b: &[u8]| {
        b.iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let text = format!(
        "Windows Registry Editor Version 5.00\n\n\
         [HKEY_LOCAL_MACHINE\\SAM\\SAM\\Domains\\Account]\n\"F\"=hex:{}\n\n\
         [HKEY_LOCAL_MACHINE\\SAM\\SAM\\Domains\\Account\\Users\\000001F5]\n\"F\"=hex:{}\n\n\
         [HKEY_LOCAL_MACHINE\\SAM\\SAM\\Domains\\Account\\Users\\000003E9]\n\"F\"=hex:{}\n\n\
         [HKEY_LOCAL_MACHINE\\SAM\\SAM\\Domains\\Account\\Users\\Names\\Gäst]\n@=hex(1f5):\n\n\
         [HKEY_LOCAL_MACHINE\\SAM\\SAM\\Domains\\Account\\Users\\Names\\alice]\n@=hex(3e9):\n",
        hex(&domain_f(days(90), 8, 3, 24, true)),
        hex(&user_f(501, NORMAL)),
        hex(&user_f(1001, NORMAL)),
    );
    let sam = writer::hive(&Tree::from_reg(&text, "HKEY_LOCAL_MACHINE\\SAM").unwrap());
    let fake = FakeHost::windows().file("/Windows/System32/config/SAM", &sam);
    let host = fake.host();
    assert_eq!(
        host.registry_value_kind(&Hkey::Machine, &format!("{SAM_NAMES}\\alice"), "")
            .unwrap(),
        0x3e9
    );
    let r = fake.run(&GuestDisabled);
    assert_eq!(r.status, Status::Fail, "{r:?}");
    assert!(r.summary.contains("Gäst (RID 501)"), "{}", r.summary);
    let Evidence::File { path, sha256, .. } = &r.evidence[0] else {
        panic!("not file evidence: {r:?}");
    };
    assert_eq!(path, "/Windows/System32/config/SAM");
    assert_eq!(sha256, &crate::checks::sha256(&sam));
    assert_eq!(fake.run(&PasswordMinLength).status, Status::Fail);
    assert_eq!(fake.run(&Lockout).status, Status::Pass);
}
