//! The Windows accounts checks (catalogue 3.4; ISO/IEC 27002:2022 5.15, 5.17,
//! 5.18, 8.2, 8.5): `accounts.password_min_length`, `accounts.lockout`,
//! `accounts.password_max_age`, `accounts.no_empty_passwords`,
//! `accounts.ssh_password_auth`, `accounts.privileged_users`,
//! `accounts.guest_disabled`, `accounts.auto_login_disabled`, `accounts.laps`.
//! (`uid0_only_root`, `ssh_root_login` and `sudo_nopasswd` are `not_applicable`
//! on Windows from the catalogue.)
//!
//! Sources, each read once per run: the account policy from
//! `NetUserModalsGet` (`win.api.netusermodals`), the local users from
//! `NetUserEnum` (`win.api.netuserenum`), the members of Administrators and Remote
//! Desktop Users from `NetLocalGroupGetMembers`; where the api does not answer
//! (an offline root, a source not captured, a build without the call) the SAM
//! hive instead ([`sam`] has the layouts). Any other api failure (denied, an error
//! recorded in the capture) is `unknown` with its reason: the SAM is not a second
//! opinion.
//!
//! Accounts are identified by RID, never by name (names are localised and
//! renamed). **Judged accounts** are the enabled local accounts other than RID 501
//! (Guest), 503 (`DefaultAccount`) and 504 (`WDAGUtilityAccount`); the RID 500
//! Administrator is judged when enabled. With no judged account the three policy
//! checks are `not_applicable`: domain accounts follow the domain's policy, which
//! the host does not show.
//!
//! Secrets: no password, hash, `V` value, Winlogon `DefaultPassword` value or LSA
//! secret is ever read into a result. `DefaultPassword` is seen only by its type
//! (its presence), the LSA secret only by its key's existence.

pub mod sam;

use std::sync::Arc;

use attest_proto::{CheckResult, Evidence, Status};
use serde_json::{Value, json};

use self::sam::{Interval, Policy, SamError, User, judged};
use super::directory::{Directory, directory, use_files};
use super::{Reg, clip, read_reg};
use crate::checks::linux::accounts::sshd;
use crate::checks::{Check, Context, api_evidence, not_applicable, sha256, unknown};
use crate::host::sources::{
    WIN_LOCALGROUP_ADMINS, WIN_LOCALGROUP_REMOTE_DESKTOP, WIN_NETUSERENUM, WIN_NETUSERMODALS,
};
use crate::host::{Hkey, RegistryOrigin, RegistryValue, Source, SourceError};

/// The account domain of the SAM (local users and their policy).
pub const SAM_ACCOUNT: &str = "SAM\\SAM\\Domains\\Account";
/// The local users, one subkey per RID (8 hex digits) and `Names`.
pub const SAM_USERS: &str = "SAM\\SAM\\Domains\\Account\\Users";
/// The name → RID links.
pub const SAM_NAMES: &str = "SAM\\SAM\\Domains\\Account\\Users\\Names";
/// The built-in local groups.
pub const SAM_ALIASES: &str = "SAM\\SAM\\Domains\\Builtin\\Aliases";
/// RID of Administrators (S-1-5-32-544).
pub const ALIAS_ADMINS: u32 = 0x220;
/// RID of Remote Desktop Users (S-1-5-32-555).
pub const ALIAS_REMOTE_DESKTOP: u32 = 0x22B;
/// The machine's own (account domain) SID, to name local members offline.
pub const POL_ACCOUNT_DOMAIN_SID: &str = "SECURITY\\Policy\\PolAcDmS";
/// Winlogon's settings.
pub const WINLOGON: &str = "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon";
/// The LSA secret auto-logon's password may be kept in (only its key's presence
/// is read).
pub const LSA_DEFAULT_PASSWORD: &str = "SECURITY\\Policy\\Secrets\\DefaultPassword";
/// `RelaxMinimumPasswordLengthLimits` lives here.
pub const SAM_CONTROL: &str = "SYSTEM\\CurrentControlSet\\Control\\SAM";
/// Windows caps the minimum length at 14 unless limits are relaxed.
pub const LEGACY_MAX_MIN_LENGTH: u32 = 14;
/// The OpenSSH server's configuration (`%ProgramData%\ssh\sshd_config`).
pub const SSHD_CONFIG: &str = "/ProgramData/ssh/sshd_config";
/// `%ProgramData%\ssh`: where its relative `Include`s start.
pub const SSH_DIR: &str = "/ProgramData/ssh";
/// The OpenSSH server's service key.
pub const SSHD_SERVICE: &str = "SYSTEM\\CurrentControlSet\\Services\\sshd";

/// The reason of the three policy checks when no account is judged.
pub const NO_JUDGED: &str = "no enabled local accounts; directory accounts follow the \
                             directory's policy, not visible on the host";

/// Evidence of a registry key that was read, with an excerpt written by the
/// caller (never a secret): the hive file and its SHA-256 offline; live, the key
/// as an api call whose SHA-256 is over the excerpt.
pub fn key_evidence(ctx: &Context<'_>, key: &str, excerpt: String) -> Evidence {
    match ctx.host.registry_origin(&Hkey::Machine, key) {
        Some(RegistryOrigin::File { path, sha256 }) => Evidence::File {
            path,
            excerpt,
            sha256,
        },
        Some(RegistryOrigin::Live) => Evidence::Api {
            name: Hkey::Machine.name(key),
            sha256: sha256(excerpt.as_bytes()),
            excerpt,
        },
        None => Evidence::File {
            path: Hkey::Machine.name(key),
            excerpt,
            sha256: sha256(b""),
        },
    }
}

/// Where a value came from: the api or the SAM hive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Basis {
    Api,
    Sam,
}

impl Basis {
    fn as_str(self) -> &'static str {
        match self {
            Basis::Api => "api",
            Basis::Sam => "sam",
        }
    }
}

/// Something read from the api or the SAM, with its evidence.
#[derive(Debug, Clone)]
struct Read<T> {
    value: T,
    basis: Basis,
    evidence: Vec<Evidence>,
}

/// Asks the api; where it does not answer, `offline`. `Err` is the reason.
fn api_or_sam<T>(
    ctx: &Context<'_>,
    source: &Source,
    parse: impl FnOnce(&Value) -> Result<T, SamError>,
    excerpt: impl FnOnce(&T) -> String,
    offline: impl FnOnce(&Context<'_>) -> Result<Read<T>, String>,
) -> Result<Read<T>, String> {
    match ctx.host.api(source) {
        Ok(out) => {
            let value = parse(&out.value).map_err(|e| format!("{}: {e}", source.describe()))?;
            let evidence = vec![api_evidence(&out, excerpt(&value))];
            Ok(Read {
                value,
                basis: Basis::Api,
                evidence,
            })
        }
        Err(e) if use_files(&e) => offline(ctx).map_err(|why| {
            // Catalogue 0.5: the SAM is readable by LocalSystem only.
            let hint = if ctx.host.is_live() && why.to_ascii_lowercase().contains("denied") {
                "; run as LocalSystem"
            } else {
                ""
            };
            format!("{e}; {why}{hint}")
        }),
        Err(e) => Err(e.to_string()),
    }
}

/// A binary value of the SAM, or why not.
fn binary(ctx: &Context<'_>, key: &str, value: &str) -> Result<Vec<u8>, String> {
    match ctx.host.registry(key, value) {
        Ok(RegistryValue::Binary(b)) => Ok(b),
        Ok(other) => Err(format!(
            "HKLM\\{key}\\{value}: {} where REG_BINARY was expected",
            match other {
                RegistryValue::Dword(_) => "REG_DWORD",
                RegistryValue::Qword(_) => "REG_QWORD",
                RegistryValue::String(_) => "REG_SZ",
                RegistryValue::MultiString(_) => "REG_MULTI_SZ",
                RegistryValue::Binary(_) => "REG_BINARY",
            }
        )),
        Err(e) => Err(e.to_string()),
    }
}

// The account policy ---------------------------------------------------------

fn policy_excerpt(p: &Policy) -> String {
    format!(
        "MinPasswordLength = {}, MaxPasswordAge = {}, LockoutThreshold = {}, \
         LockoutDuration = {}, LockoutObservationWindow = {}, PasswordHistoryLength = {}",
        p.min_password_length,
        p.max_password_age.show(),
        p.lockout_threshold,
        p.lockout_duration.show(),
        p.lockout_observation_window.show(),
        p.password_history_length
    )
}

struct PolicyMemo(Result<Read<Policy>, String>);

fn policy(ctx: &Context<'_>) -> Arc<PolicyMemo> {
    ctx.memo(|ctx| {
        PolicyMemo(api_or_sam(
            ctx,
            &WIN_NETUSERMODALS,
            sam::parse_modals,
            policy_excerpt,
            |ctx| {
                let f = binary(ctx, SAM_ACCOUNT, "F")?;
                let p = sam::parse_domain_f(&f).map_err(|e| e.to_string())?;
                let excerpt = format!("HKLM\\{SAM_ACCOUNT}\\F: {}", policy_excerpt(&p));
                Ok(Read {
                    evidence: vec![key_evidence(ctx, SAM_ACCOUNT, excerpt)],
                    value: p,
                    basis: Basis::Sam,
                })
            },
        ))
    })
}

// The local users -------------------------------------------------------------

fn users_excerpt(users: &[User]) -> String {
    users
        .iter()
        .map(|u| {
            format!(
                "{}: disabled={}, password_not_required={}, password_never_expires={}",
                u.label(),
                u.flags.disabled,
                u.flags.password_not_required,
                u.flags.password_never_expires
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The local users from the SAM: every `Users\<RID>` key's `F`, named through
/// `Users\Names` (a name whose RID has no key is ignored; a RID no name links to
/// is shown by RID). A user `F` that cannot be read or parsed fails the whole
/// read: the user might be one that is judged.
fn sam_users(ctx: &Context<'_>) -> Result<Read<Vec<User>>, String> {
    let keys = ctx
        .host
        .registry_subkeys(SAM_USERS)
        .map_err(|e| e.to_string())?;
    let mut names: Vec<(u32, String)> = Vec::new();
    if let Ok(links) = ctx.host.registry_subkeys(SAM_NAMES) {
        for name in links {
            let key = format!("{SAM_NAMES}\\{name}");
            if let Ok(rid) = ctx.host.registry_value_kind(&Hkey::Machine, &key, "") {
                names.push((rid, name));
            }
        }
    }
    let mut users = Vec::new();
    for key in keys {
        let Ok(rid) = u32::from_str_radix(&key, 16) else {
            continue;
        };
        if key.len() != 8 {
            continue;
        }
        let f = binary(ctx, &format!("{SAM_USERS}\\{key}"), "F")?;
        let (_, flags) =
            sam::parse_user_f(&f).map_err(|e| format!("HKLM\\{SAM_USERS}\\{key}\\F: {e}"))?;
        users.push(User {
            name: names
                .iter()
                .find(|(r, _)| *r == rid)
                .map(|(_, n)| n.clone()),
            rid,
            flags,
        });
    }
    let excerpt = format!("HKLM\\{SAM_USERS}\\<RID>\\F:\n{}", users_excerpt(&users));
    Ok(Read {
        evidence: vec![key_evidence(ctx, SAM_USERS, excerpt)],
        value: users,
        basis: Basis::Sam,
    })
}

struct UsersMemo(Result<Read<Vec<User>>, String>);

fn users(ctx: &Context<'_>) -> Arc<UsersMemo> {
    ctx.memo(|ctx| {
        UsersMemo(api_or_sam(
            ctx,
            &WIN_NETUSERENUM,
            sam::parse_user_enum,
            |u| users_excerpt(u),
            sam_users,
        ))
    })
}

fn labels(users: &[&User]) -> Vec<String> {
    users.iter().map(|u| u.label()).collect()
}

/// The judged accounts as a fact: name (or null) and RID.
fn judged_fact(users: &[&User]) -> Value {
    Value::Array(
        users
            .iter()
            .map(|u| json!({"name": u.name, "rid": u.rid}))
            .collect(),
    )
}

/// The users and policy for the three policy checks, or the result to return
/// (unknown when unread, not applicable when no account is judged).
fn policy_inputs(
    ctx: &Context<'_>,
    id: &str,
) -> Result<(Arc<UsersMemo>, Arc<PolicyMemo>), Box<CheckResult>> {
    let users = users(ctx);
    match &users.0 {
        Err(why) => return Err(Box::new(unknown(id, why.clone()))),
        Ok(read) if judged(&read.value).is_empty() => {
            return Err(Box::new(
                not_applicable(id, NO_JUDGED)
                    .fact("users_basis", read.basis.as_str())
                    .evidences(read.evidence.clone()),
            ));
        }
        Ok(_) => {}
    }
    let policy = policy(ctx);
    if let Err(why) = &policy.0 {
        return Err(Box::new(unknown(id, why.clone())));
    }
    Ok((users, policy))
}

/// `accounts.password_min_length` on Windows: the local minimum password length
/// (`NetUserModalsGet` level 0, else the SAM's `MinPasswordLength`) is at least
/// `thresholds.password_min_length` (12).
///
/// A length above 14 counts only when
/// `HKLM\SYSTEM\CurrentControlSet\Control\SAM\RelaxMinimumPasswordLengthLimits`
/// is 1 (Windows enforces at most 14 otherwise); when that value cannot be read
/// and the length is above 14, 14 is used if it decides, else unknown.
/// Not applicable with no judged account; unknown when the SAM cannot be read.
pub struct PasswordMinLength;

impl Check for PasswordMinLength {
    fn id(&self) -> &'static str {
        "accounts.password_min_length"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let (users, policy) = match policy_inputs(ctx, self.id()) {
            Ok(v) => v,
            Err(r) => return *r,
        };
        let (Ok(users), Ok(policy)) = (&users.0, &policy.0) else {
            return unknown(self.id(), "the account policy was not read");
        };
        let threshold = ctx.thresholds.password_min_length;
        let stored = policy.value.min_password_length;
        let mut unanswered = Vec::new();
        let mut evidence = policy.evidence.clone();
        let (effective, relax) = if stored > LEGACY_MAX_MIN_LENGTH {
            let relax = read_reg(ctx, SAM_CONTROL, "RelaxMinimumPasswordLengthLimits");
            evidence.extend(relax.evidence());
            match &relax.got {
                Reg::Unread(why) => {
                    if threshold > LEGACY_MAX_MIN_LENGTH {
                        return unknown(
                            self.id(),
                            format!(
                                "minimum password length {stored} counts above 14 only with \
                                 RelaxMinimumPasswordLengthLimits = 1, which was not read: {why}"
                            ),
                        )
                        .fact("min_password_length", stored)
                        .fact("threshold", threshold);
                    }
                    unanswered.push(why.clone());
                    (LEGACY_MAX_MIN_LENGTH, Value::Null)
                }
                _ if relax.dword() == Some(1) => (stored, json!(1)),
                _ => (
                    LEGACY_MAX_MIN_LENGTH,
                    relax.dword().map_or(Value::Null, Value::from),
                ),
            }
        } else {
            (stored, Value::Null)
        };
        let status = if effective >= threshold {
            Status::Pass
        } else {
            Status::Fail
        };
        let shown = if effective == stored {
            format!("{stored}")
        } else {
            format!(
                "{effective} ({stored} stored, above 14 without RelaxMinimumPasswordLengthLimits)"
            )
        };
        let summary = match status {
            Status::Pass => {
                format!("The local minimum password length is {shown}, at least {threshold}")
            }
            _ => format!("The local minimum password length is {shown}, below {threshold}"),
        };
        let mut r = CheckResult::new(self.id(), status, summary)
            .fact("min_password_length", effective)
            .fact("min_password_length_stored", stored)
            .fact("relax_minimum_password_length_limits", relax)
            .fact("threshold", threshold)
            .fact("basis", policy.basis.as_str())
            .fact("judged_accounts", judged_fact(&judged(&users.value)))
            .evidences(evidence)
            .evidences(users.evidence.clone());
        if !unanswered.is_empty() {
            r = r.fact("unanswered", unanswered);
        }
        r
    }
}

/// `accounts.lockout` on Windows: the lockout threshold (`NetUserModalsGet`
/// level 3, else the SAM's `LockoutThreshold`) is from 1 to
/// `thresholds.lockout_max_deny` (10); 0 (never locks) or above fails. The
/// duration and observation window are facts. Not applicable with no judged
/// account; unknown when the SAM cannot be read.
pub struct Lockout;

impl Check for Lockout {
    fn id(&self) -> &'static str {
        "accounts.lockout"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let (users, policy) = match policy_inputs(ctx, self.id()) {
            Ok(v) => v,
            Err(r) => return *r,
        };
        let (Ok(users), Ok(policy)) = (&users.0, &policy.0) else {
            return unknown(self.id(), "the account policy was not read");
        };
        let max = ctx.thresholds.lockout_max_deny;
        let p = &policy.value;
        let t = p.lockout_threshold;
        let (status, summary) = match t {
            0 => (
                Status::Fail,
                "Local accounts are never locked out (lockout threshold 0)".to_owned(),
            ),
            t if t <= max => (
                Status::Pass,
                format!(
                    "Local accounts lock after {t} failed logons (at most {max}) for {}",
                    p.lockout_duration.show()
                ),
            ),
            t => (
                Status::Fail,
                format!("Local accounts lock only after {t} failed logons, above {max}"),
            ),
        };
        CheckResult::new(self.id(), status, summary)
            .fact("lockout_threshold", t)
            .fact("lockout_duration", p.lockout_duration.fact())
            .fact(
                "lockout_observation_window",
                p.lockout_observation_window.fact(),
            )
            .fact("threshold", max)
            .fact("basis", policy.basis.as_str())
            .fact("judged_accounts", judged_fact(&judged(&users.value)))
            .evidences(policy.evidence.clone())
            .evidences(users.evidence.clone())
    }
}

/// `accounts.password_max_age` on Windows: the maximum password age
/// (`NetUserModalsGet` level 0, else the SAM's `MaxPasswordAge`) is at most
/// `thresholds.password_max_days` (365) and not never, and no judged account has
/// "password never expires". A maximum age of 0 means never, as in Windows's own
/// policy ("0: passwords never expire"). Not applicable with no judged account;
/// unknown when the SAM cannot be read.
pub struct PasswordMaxAge;

impl Check for PasswordMaxAge {
    fn id(&self) -> &'static str {
        "accounts.password_max_age"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let (users, policy) = match policy_inputs(ctx, self.id()) {
            Ok(v) => v,
            Err(r) => return *r,
        };
        let (Ok(users), Ok(policy)) = (&users.0, &policy.0) else {
            return unknown(self.id(), "the account policy was not read");
        };
        let max_days = ctx.thresholds.password_max_days;
        let age = match policy.value.max_password_age {
            Interval::Seconds(0) => Interval::Never,
            a => a,
        };
        let judged = judged(&users.value);
        let never: Vec<&User> = judged
            .iter()
            .copied()
            .filter(|u| u.flags.password_never_expires)
            .collect();
        let mut problems = Vec::new();
        match age {
            Interval::Never => problems.push("local passwords never expire".to_owned()),
            Interval::Seconds(s) if s > u64::from(max_days) * 86_400 => problems.push(format!(
                "the maximum password age is {}, above {max_days} days",
                age.show()
            )),
            Interval::Seconds(_) => {}
        }
        if !never.is_empty() {
            problems.push(format!(
                "password never expires for {}",
                labels(&never).join(", ")
            ));
        }
        let (status, summary) = if problems.is_empty() {
            (
                Status::Pass,
                format!(
                    "Local passwords expire after {} (at most {max_days} days) and no enabled \
                     account is exempt",
                    age.show()
                ),
            )
        } else {
            (Status::Fail, capitalised(&problems.join("; ")))
        };
        CheckResult::new(self.id(), status, summary)
            .fact("max_password_age", age.fact())
            .fact("threshold_days", max_days)
            .fact("password_never_expires", labels(&never))
            .fact("basis", policy.basis.as_str())
            .fact("users_basis", users.basis.as_str())
            .fact("judged_accounts", judged_fact(&judged))
            .evidences(policy.evidence.clone())
            .evidences(users.evidence.clone())
    }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `accounts.no_empty_passwords` on Windows: no judged account has "password not
/// required" (`UF_PASSWD_NOTREQD`, SAM bit 0x0004), the flag that lets its
/// password be empty. The hash is never read or compared. With no judged account
/// it passes (no enabled local account can log on with an empty password).
/// `LimitBlankPasswordUse` (`HKLM\SYSTEM\CurrentControlSet\Control\Lsa`, default 1
/// when absent) is a fact. Unknown when the users cannot be read.
pub struct NoEmptyPasswords;

impl Check for NoEmptyPasswords {
    fn id(&self) -> &'static str {
        "accounts.no_empty_passwords"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let users = users(ctx);
        let users = match &users.0 {
            Ok(u) => u,
            Err(why) => return unknown(self.id(), why.clone()),
        };
        let judged = judged(&users.value);
        let open: Vec<&User> = judged
            .iter()
            .copied()
            .filter(|u| u.flags.password_not_required)
            .collect();
        let limit = read_reg(
            ctx,
            "SYSTEM\\CurrentControlSet\\Control\\Lsa",
            "LimitBlankPasswordUse",
        );
        let limit_fact = match &limit.got {
            Reg::Absent => json!({"value": null, "effective": 1}),
            Reg::Set(_) => json!({"value": limit.dword(), "effective": limit.dword()}),
            Reg::Unread(_) => Value::Null,
        };
        let (status, summary) = if open.is_empty() {
            (
                Status::Pass,
                format!(
                    "No enabled local account may have an empty password ({} judged)",
                    judged.len()
                ),
            )
        } else {
            (
                Status::Fail,
                format!(
                    "Password not required (an empty password is allowed) for {}",
                    labels(&open).join(", ")
                ),
            )
        };
        let mut r = CheckResult::new(self.id(), status, summary)
            .fact(
                "accounts",
                open.iter()
                    .map(|u| json!({"name": u.name, "rid": u.rid, "kind": "password_not_required"}))
                    .collect::<Vec<_>>(),
            )
            .fact("judged_accounts", judged_fact(&judged))
            .fact("limit_blank_password_use", limit_fact)
            .fact("basis", users.basis.as_str())
            .evidences(users.evidence.clone())
            .evidences(limit.evidence());
        if let Some(why) = limit.unread() {
            r = r.fact("unanswered", vec![why]);
        }
        r
    }
}

/// `accounts.guest_disabled` on Windows: the RID 501 account (Guest, whatever
/// its name) is disabled. No RID 501 account at all passes (there is no guest
/// to use). Unknown when the users cannot be read.
pub struct GuestDisabled;

impl Check for GuestDisabled {
    fn id(&self) -> &'static str {
        "accounts.guest_disabled"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let users = users(ctx);
        let users = match &users.0 {
            Ok(u) => u,
            Err(why) => return unknown(self.id(), why.clone()),
        };
        let guest = users.value.iter().find(|u| u.rid == 501);
        let (status, summary) = match guest {
            Some(g) if g.flags.disabled => (
                Status::Pass,
                format!("The guest account {} is disabled", g.label()),
            ),
            Some(g) => (
                Status::Fail,
                format!("The guest account {} is enabled", g.label()),
            ),
            None => (
                Status::Pass,
                "There is no guest account (no local account has RID 501)".to_owned(),
            ),
        };
        CheckResult::new(self.id(), status, summary)
            .fact("guest_name", guest.and_then(|g| g.name.clone()))
            .fact("guest_present", guest.is_some())
            .fact("guest_enabled", guest.map(|g| !g.flags.disabled))
            .fact("basis", users.basis.as_str())
            .evidences(users.evidence.clone())
    }
}

/// Presence of a value read by its type only (its data never leaves the reader).
fn present(ctx: &Context<'_>, key: &str, value: &str) -> Result<bool, String> {
    match ctx.host.registry_value_kind(&Hkey::Machine, key, value) {
        Ok(_) => Ok(true),
        Err(SourceError::NotInstalled { .. }) => Ok(false),
        Err(e) => Err(e.to_string()),
    }
}

/// Presence of a key.
fn key_present(ctx: &Context<'_>, key: &str) -> Result<bool, String> {
    match ctx.host.registry_subkeys(key) {
        Ok(_) => Ok(true),
        Err(SourceError::NotInstalled { .. }) => Ok(false),
        Err(e) => Err(e.to_string()),
    }
}

/// `accounts.auto_login_disabled` on Windows: Winlogon's `AutoAdminLogon`
/// (`HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Winlogon`) is not the
/// string `"1"` (absent passes; Winlogon reads only REG_SZ "1" as on). Fail
/// records `DefaultUserName`, and only the *presence* of `DefaultPassword` (the
/// plaintext password in the hive; read by type, never by value) and of the LSA
/// secret key `HKLM\SECURITY\Policy\Secrets\DefaultPassword` (its key only).
/// Unknown when the SOFTWARE hive cannot be read.
pub struct AutoLoginDisabled;

impl Check for AutoLoginDisabled {
    fn id(&self) -> &'static str {
        "accounts.auto_login_disabled"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let auto = read_reg(ctx, WINLOGON, "AutoAdminLogon");
        if let Some(why) = auto.unread() {
            return unknown(self.id(), why);
        }
        let user = read_reg(ctx, WINLOGON, "DefaultUserName");
        let mut unanswered = Vec::new();
        let mut presence = |r: Result<bool, String>| match r {
            Ok(p) => Some(p),
            Err(why) => {
                unanswered.push(why);
                None
            }
        };
        let password = presence(present(ctx, WINLOGON, "DefaultPassword"));
        let secret = presence(key_present(ctx, LSA_DEFAULT_PASSWORD));
        if let Some(why) = user.unread() {
            unanswered.push(why);
        }
        let on = auto.string() == Some("1");
        let name = user.string().map(clip);
        let (status, summary) = if on {
            let stored = match (password, secret) {
                (Some(true), _) => {
                    "; its password is in the registry in plain text (DefaultPassword)"
                }
                (_, Some(true)) => "; its password is an LSA secret",
                _ => "",
            };
            (
                Status::Fail,
                format!(
                    "Windows logs on automatically as {}{stored}",
                    name.clone()
                        .unwrap_or_else(|| "(no DefaultUserName)".to_owned())
                ),
            )
        } else {
            (
                Status::Pass,
                match auto.string() {
                    Some(v) => format!(
                        "AutoAdminLogon is {:?}: Windows does not log on automatically",
                        clip(v)
                    ),
                    None => "AutoAdminLogon is not set: Windows does not log on automatically"
                        .to_owned(),
                },
            )
        };
        let mut evidence: Vec<Evidence> = auto.evidence().into_iter().collect();
        evidence.extend(user.evidence());
        if password == Some(true) {
            evidence.push(key_evidence(
                ctx,
                WINLOGON,
                format!("HKLM\\{WINLOGON}\\DefaultPassword present (value not recorded)"),
            ));
        }
        let mut r = CheckResult::new(self.id(), status, summary)
            .fact(
                "auto_admin_logon",
                match &auto.got {
                    Reg::Set(v) => json!(v.to_string()),
                    _ => Value::Null,
                },
            )
            .fact("default_user_name", name)
            .fact("default_password_present", password)
            .fact("lsa_secret_present", secret)
            .evidences(evidence);
        if !unanswered.is_empty() {
            r = r.fact("unanswered", unanswered);
        }
        r
    }
}

/// `accounts.ssh_password_auth` on Windows: not applicable without the OpenSSH
/// server's service (`HKLM\SYSTEM\CurrentControlSet\Services\sshd` absent); else
/// the Linux rule (`PasswordAuthentication` no, `PermitEmptyPasswords` not yes)
/// with the same parser on `%ProgramData%\ssh\sshd_config` (relative `Include`s
/// from `%ProgramData%\ssh`). `Match` blocks — the stock `Match Group
/// administrators` among them — are ignored for the global value. The service
/// without the file is unknown: the service writes it from `sshd_config_default`
/// on its first start, so nothing is decided yet.
pub struct SshPasswordAuth;

impl Check for SshPasswordAuth {
    fn id(&self) -> &'static str {
        "accounts.ssh_password_auth"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        match key_present(ctx, SSHD_SERVICE) {
            Ok(true) => {}
            Ok(false) => {
                return not_applicable(
                    self.id(),
                    format!("no OpenSSH server: HKLM\\{SSHD_SERVICE} does not exist"),
                );
            }
            Err(why) => return unknown(self.id(), why),
        }
        match sshd::load_in(ctx.host, SSHD_CONFIG, SSH_DIR) {
            Ok(config) => sshd::judge_password_auth(self.id(), &config).evidence(key_evidence(
                ctx,
                SSHD_SERVICE,
                format!("HKLM\\{SSHD_SERVICE} exists (OpenSSH server installed)"),
            )),
            Err(e) if e.is_not_found() => unknown(
                self.id(),
                format!(
                    "the sshd service is installed but {SSHD_CONFIG} does not exist: it is \
                     written from sshd_config_default when the service first starts"
                ),
            ),
            Err(e) => unknown(self.id(), e.to_string()),
        }
    }
}

// Privileged users -------------------------------------------------------------

/// A member of a local group.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
struct Member {
    sid: String,
    /// `DOMAIN\user` live; a local user's name offline; `None` when not resolved.
    name: Option<String>,
}

/// `{"members": [{"sid", "name"}]}` of `NetLocalGroupGetMembers`.
fn parse_members(v: &Value) -> Result<Vec<Member>, SamError> {
    v.get("members")
        .and_then(Value::as_array)
        .ok_or_else(|| SamError::Json("no members array".to_owned()))?
        .iter()
        .enumerate()
        .map(|(i, m)| {
            Ok(Member {
                sid: m
                    .get("sid")
                    .and_then(Value::as_str)
                    .ok_or_else(|| SamError::Json(format!("members[{i}].sid is not a string")))?
                    .to_owned(),
                name: m.get("name").and_then(Value::as_str).map(str::to_owned),
            })
        })
        .collect()
}

fn members_excerpt(m: &[Member]) -> String {
    if m.is_empty() {
        return "(no members)".to_owned();
    }
    m.iter()
        .map(|m| match &m.name {
            Some(n) => format!("{} ({})", m.sid, clip(n)),
            None => m.sid.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A local group's members from the SAM: the alias's `C` value, local members
/// named through the machine SID (`PolAcDmS`) and the users' RIDs; others stay
/// SIDs.
fn sam_members(ctx: &Context<'_>, alias: u32, local: &[User]) -> Result<Read<Vec<Member>>, String> {
    let key = format!("{SAM_ALIASES}\\{alias:08X}");
    let c = binary(ctx, &key, "C")?;
    let sids = sam::parse_alias_members(&c).map_err(|e| format!("HKLM\\{key}\\C: {e}"))?;
    let machine = match ctx.host.registry(POL_ACCOUNT_DOMAIN_SID, "") {
        Ok(RegistryValue::Binary(b)) => sam::parse_sid(&b).ok().map(|(s, _)| s),
        _ => None,
    };
    let members: Vec<Member> = sids
        .into_iter()
        .map(|sid| {
            let name = machine.as_ref().and_then(|m| {
                let rid: u32 = sid
                    .strip_prefix(m.as_str())?
                    .strip_prefix('-')?
                    .parse()
                    .ok()?;
                local.iter().find(|u| u.rid == rid)?.name.clone()
            });
            Member { sid, name }
        })
        .collect();
    let excerpt = format!("HKLM\\{key}\\C: {}", members_excerpt(&members));
    Ok(Read {
        evidence: vec![key_evidence(ctx, &key, excerpt)],
        value: members,
        basis: Basis::Sam,
    })
}

fn members(
    ctx: &Context<'_>,
    source: &Source,
    alias: u32,
    local: &[User],
) -> Result<Read<Vec<Member>>, String> {
    api_or_sam(
        ctx,
        source,
        parse_members,
        |m| members_excerpt(m),
        |ctx| sam_members(ctx, alias, local),
    )
}

/// `accounts.privileged_users` on Windows, info: the members of Administrators
/// (S-1-5-32-544; live `NetLocalGroupGetMembers` under the name Windows gives
/// the SID, else the SAM alias 00000220), with domain SIDs kept as SIDs when not
/// resolved; the RID 500 account's name and whether it is enabled; the members of
/// Remote Desktop Users (S-1-5-32-555, alias 0000022B). Unknown when
/// Administrators cannot be read; the other parts, when unread, are listed in
/// `facts.unavailable` (as on Linux and macOS).
pub struct PrivilegedUsers;

impl Check for PrivilegedUsers {
    fn id(&self) -> &'static str {
        "accounts.privileged_users"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let users = users(ctx);
        let mut unavailable = Vec::new();
        let local: &[User] = match &users.0 {
            Ok(u) => &u.value,
            Err(why) => {
                unavailable.push(why.clone());
                &[]
            }
        };
        let admins = match members(ctx, &WIN_LOCALGROUP_ADMINS, ALIAS_ADMINS, local) {
            Ok(a) => a,
            Err(why) => return unknown(self.id(), why),
        };
        let rdp = members(
            ctx,
            &WIN_LOCALGROUP_REMOTE_DESKTOP,
            ALIAS_REMOTE_DESKTOP,
            local,
        );
        let mut parts = vec![format!(
            "Administrators: {}",
            members_excerpt(&admins.value)
        )];
        let mut evidence = admins.evidence.clone();
        let builtin = local.iter().find(|u| u.rid == 500);
        if let Ok(u) = &users.0 {
            match builtin {
                Some(a) => parts.push(format!(
                    "built-in administrator {} {}",
                    a.label(),
                    if a.flags.disabled {
                        "disabled"
                    } else {
                        "enabled"
                    }
                )),
                None => parts.push("no RID 500 account".to_owned()),
            }
            evidence.extend(u.evidence.clone());
        }
        let rdp_members = match &rdp {
            Ok(r) => {
                parts.push(format!(
                    "Remote Desktop Users: {}",
                    members_excerpt(&r.value)
                ));
                evidence.extend(r.evidence.clone());
                Some(r.value.clone())
            }
            Err(why) => {
                unavailable.push(why.clone());
                None
            }
        };
        if !unavailable.is_empty() {
            parts.push(format!("not read: {}", unavailable.join("; ")));
        }
        CheckResult::new(self.id(), Status::Info, parts.join("; "))
            .fact("administrators", &admins.value)
            .fact("administrators_basis", admins.basis.as_str())
            .fact(
                "builtin_administrator",
                builtin.map(|a| json!({"name": a.name, "rid": 500, "enabled": !a.flags.disabled})),
            )
            .fact("remote_desktop_users", rdp_members)
            .fact("unavailable", &unavailable)
            .evidences(evidence)
    }
}

// LAPS ---------------------------------------------------------------------------

/// Windows LAPS policy roots, in Microsoft's order of precedence.
pub const LAPS_ROOTS: [(&str, &str); 3] = [
    ("SOFTWARE\\Microsoft\\Policies\\LAPS", "CSP"),
    (
        "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\LAPS",
        "GPO",
    ),
    (
        "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\LAPS\\Config",
        "local",
    ),
];
/// Legacy (Microsoft LAPS, AdmPwd) policy.
pub const LEGACY_LAPS: &str = "SOFTWARE\\Policies\\Microsoft Services\\AdmPwd";
/// Legacy LAPS's client-side extension.
pub const LEGACY_LAPS_CSE: &str = "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon\\GPExtensions\\{D76B9641-3288-4f75-942D-087DE603E3EA}";

/// `accounts.laps`: not applicable on a machine joined to no directory or on a
/// domain controller (`ProductType` `LanmanNT`). Otherwise pass when the first
/// Windows LAPS policy root that holds any value ([`LAPS_ROOTS`]: CSP, GPO,
/// local) has `BackupDirectory` 1 (Entra ID) or 2 (AD); fail when it has 0 or
/// none (Windows LAPS's default is disabled). With no Windows LAPS root, legacy
/// LAPS passes when `AdmPwdEnabled` = 1 and its client-side extension is
/// registered, and fails otherwise (the policy without the extension does
/// nothing). Another `BackupDirectory` number is unknown. The raw value is
/// always recorded.
pub struct Laps;

impl Check for Laps {
    fn id(&self) -> &'static str {
        "accounts.laps"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let membership = match directory(ctx) {
            Ok(m) => m,
            Err(why) => return unknown(self.id(), format!("directory membership: {why}")),
        };
        let dir = membership.directory;
        if dir == Directory::None {
            return not_applicable(
                self.id(),
                "joined to no directory (no AD domain, no Entra ID)",
            )
            .fact("directory", dir.as_str())
            .evidences(membership.evidence);
        }
        let product = read_reg(
            ctx,
            "SYSTEM\\CurrentControlSet\\Control\\ProductOptions",
            "ProductType",
        );
        if product.string() == Some("LanmanNT") {
            return not_applicable(
                self.id(),
                "a domain controller (ProductType LanmanNT): LAPS manages member machines",
            )
            .fact("directory", dir.as_str())
            .evidences(product.evidence());
        }
        if let Some(why) = product.unread()
            && matches!(dir, Directory::Ad | Directory::Hybrid)
        {
            return unknown(
                self.id(),
                format!("whether this is a domain controller: {why}"),
            );
        }
        let mut evidence = membership.evidence.clone();
        for (root, kind) in LAPS_ROOTS {
            let values = match ctx.host.registry_values(root) {
                Ok(v) => v,
                Err(SourceError::NotInstalled { .. }) => continue,
                Err(e) => return unknown(self.id(), e.to_string()),
            };
            if values.is_empty() {
                continue;
            }
            let backup = values
                .iter()
                .find(|(n, _)| crate::host::regf::same_name(n, "BackupDirectory"))
                .map(|(_, v)| v.clone());
            let raw = match &backup {
                Some(RegistryValue::Dword(d)) => Some(*d),
                _ => None,
            };
            let shown = backup
                .as_ref()
                .map_or_else(|| "not set".to_owned(), ToString::to_string);
            evidence.push(key_evidence(
                ctx,
                root,
                format!("HKLM\\{root}\\BackupDirectory = {}", clip(&shown)),
            ));
            let (status, summary) = match raw {
                Some(1) => (
                    Status::Pass,
                    format!(
                        "Windows LAPS ({kind} policy) backs the local administrator password up to Entra ID"
                    ),
                ),
                Some(2) => (
                    Status::Pass,
                    format!(
                        "Windows LAPS ({kind} policy) backs the local administrator password up to Active Directory"
                    ),
                ),
                Some(0) => (
                    Status::Fail,
                    format!("Windows LAPS is disabled ({kind} policy, BackupDirectory 0)"),
                ),
                None if backup.is_none() => (
                    Status::Fail,
                    format!("Windows LAPS is disabled ({kind} policy without BackupDirectory)"),
                ),
                _ => {
                    return unknown(
                        self.id(),
                        format!("HKLM\\{root}\\BackupDirectory = {} is not a value Windows LAPS defines", clip(&shown)),
                    )
                    .fact("directory", dir.as_str())
                    .evidences(evidence);
                }
            };
            return CheckResult::new(self.id(), status, summary)
                .fact("kind", "windows_laps")
                .fact("policy_root", format!("HKLM\\{root}"))
                .fact("policy_source", kind)
                .fact("backup_directory", raw)
                .fact("directory", dir.as_str())
                .evidences(evidence);
        }
        let enabled = read_reg(ctx, LEGACY_LAPS, "AdmPwdEnabled");
        if let Some(why) = enabled.unread() {
            return unknown(self.id(), why);
        }
        evidence.extend(enabled.evidence());
        let (status, summary, cse) = if enabled.dword() == Some(1) {
            match key_present(ctx, LEGACY_LAPS_CSE) {
                Err(why) => return unknown(self.id(), why),
                Ok(true) => {
                    evidence.push(key_evidence(
                        ctx,
                        LEGACY_LAPS_CSE,
                        format!("HKLM\\{LEGACY_LAPS_CSE} exists"),
                    ));
                    (Status::Pass, "Legacy LAPS is enabled and its client-side extension is registered".to_owned(), Some(true))
                }
                Ok(false) => (
                    Status::Fail,
                    "Legacy LAPS policy is set but its client-side extension is not registered: the policy does nothing".to_owned(),
                    Some(false),
                ),
            }
        } else {
            (
                Status::Fail,
                "No LAPS policy: the local administrator password is not managed".to_owned(),
                None,
            )
        };
        CheckResult::new(self.id(), status, summary)
            .fact(
                "kind",
                if enabled.dword() == Some(1) {
                    "legacy_laps"
                } else {
                    "none"
                },
            )
            .fact("adm_pwd_enabled", enabled.dword())
            .fact("legacy_extension_registered", cse)
            .fact("backup_directory", Value::Null)
            .fact("directory", dir.as_str())
            .evidences(evidence)
    }
}

#[cfg(test)]
mod tests;
