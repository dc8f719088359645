//! The macOS accounts checks read from the local directory ([`dslocal`]) and
//! `pwpolicy -getaccountpolicies` ([`pwpolicy`]) (`docs/checks.md`, "macOS:
//! accounts").
//!
//! - `accounts.no_empty_passwords`, `accounts.uid0_only_root`,
//!   `accounts.privileged_users`: the user and group
//!   plists of `/var/db/dslocal/nodes/Default` (root only: unreadable is `unknown`,
//!   "run as root").
//! - `accounts.password_min_length`, `accounts.lockout`,
//!   `accounts.password_max_age`: the global policy of `pwpolicy` (live only: the
//!   user plists hold per-user state, not the global policy, so offline is
//!   `unknown`); `not_applicable` when the local directory has no enabled human
//!   account.

mod derive;
pub mod dslocal;
pub mod pwpolicy;

use attest_proto::{CheckResult, Evidence, Status};

use self::dslocal::{ADMIN_GROUP, Directory, PasswordKind, USERS_DIR, directory};
use self::pwpolicy::Policies;
use super::disk::{Read, read_command};
use crate::checks::linux::accounts::privileged::sudoers_all;
use crate::checks::{Check, Context, Thresholds, command_evidence, not_applicable, unknown};
use crate::host::sources::MACOS_PWPOLICY;

/// `accounts.uid0_only_root`: pass when `root` is the only user with uid 0; fail
/// with the names of the others; unknown when the local directory is unreadable.
/// Fact `root_enabled` (root has `;ShadowHash;`), recorded, not judged.
///
/// Where the catalogue is silent: no user with uid 0 at all (a damaged
/// directory) passes, as nothing but root could be uid 0; `root_enabled` is
/// `null` when there is no `root` plist.
pub struct Uid0OnlyRoot;

impl Check for Uid0OnlyRoot {
    fn id(&self) -> &'static str {
        "accounts.uid0_only_root"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let memo = directory(ctx);
        let dir = match &memo.0 {
            Ok(d) => d,
            Err(why) => return unknown(self.id(), why),
        };
        let uid0 = dir.uid0();
        let others: Vec<&str> = uid0
            .iter()
            .map(|u| u.name.as_str())
            .filter(|n| *n != "root")
            .collect();
        let root_enabled = dir.user("root").map(dslocal::User::has_shadow_hash);
        let (status, summary) = if others.is_empty() {
            (Status::Pass, "Only root has uid 0".to_owned())
        } else {
            (
                Status::Fail,
                format!("Accounts other than root have uid 0: {}", others.join(", ")),
            )
        };
        let names: Vec<&str> = uid0.iter().map(|u| u.name.as_str()).collect();
        CheckResult::new(self.id(), status, summary)
            .fact("uid0_accounts", &names)
            .fact("root_enabled", root_enabled)
            .evidences(uid0.iter().map(|u| u.evidence(u.describe())))
    }
}

/// `accounts.privileged_users` (info): uid-0 accounts, the members of `admin`
/// (`users`, plus `groupmembers` resolved through `generateduid`, nested groups
/// followed, cycles cut), and the sudoers rules that grant `ALL` commands (the
/// Linux sudoers reader over `/etc/sudoers` and what it includes). Unknown when
/// the local directory is unreadable; sudoers that cannot be read are listed in
/// `unavailable` and the result stays `info`.
pub struct PrivilegedUsers;

impl Check for PrivilegedUsers {
    fn id(&self) -> &'static str {
        "accounts.privileged_users"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let memo = directory(ctx);
        let dir = match &memo.0 {
            Ok(d) => d,
            Err(why) => return unknown(self.id(), why),
        };
        let uid0: Vec<&str> = dir.uid0().iter().map(|u| u.name.as_str()).collect();
        let admins = dir.members(ADMIN_GROUP);
        let sudo = sudoers_all(ctx);
        let mut summary = format!(
            "{} uid-0 account(s) ({}); {} admin member(s) ({})",
            uid0.len(),
            uid0.join(", "),
            admins.names.len(),
            admins.names.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        for part in sudo.part.iter().cloned().chain(
            (!sudo.unavailable.is_empty())
                .then(|| format!("not read: {}", sudo.unavailable.join("; "))),
        ) {
            summary.push_str("; ");
            summary.push_str(&part);
        }
        let mut result = CheckResult::new(self.id(), Status::Info, summary)
            .fact("uid0_accounts", &uid0)
            .fact("admin_members", &admins.names)
            .fact("admin_groups_walked", &admins.groups)
            .fact("unresolved_members", &admins.unresolved)
            .fact("sudoers_all", sudo.grants)
            .fact("unavailable", &sudo.unavailable);
        for name in &admins.groups {
            if let Some(g) = dir.group(name) {
                result = result.evidence(g.evidence.clone());
            }
        }
        result.evidences(sudo.evidence)
    }
}

/// The names of the enabled local human accounts, or why the directory could
/// not be read.
fn enabled_humans(dir: &Directory) -> Vec<String> {
    dir.enabled_humans()
        .into_iter()
        .map(|u| u.name.clone())
        .collect()
}

/// The shared frame of the three policy checks: n/a without an enabled local
/// human account; unknown when `pwpolicy` is unavailable (offline, not root,
/// failed, not understood); else `judge`.
///
/// Where the catalogue is silent: an unreadable local directory does not stop
/// the verdict when `pwpolicy` answers (the fact `human_accounts` is then `null`).
fn policy_check(
    ctx: &Context<'_>,
    id: &str,
    threshold: u32,
    judge: impl FnOnce(
        &Policies,
        &Thresholds,
    ) -> (Status, String, Vec<(&'static str, serde_json::Value)>),
) -> CheckResult {
    let memo = directory(ctx);
    let humans = memo.0.as_ref().ok().map(enabled_humans);
    if humans.as_ref().is_some_and(Vec::is_empty) {
        return not_applicable(id, format!("no enabled local human account in {USERS_DIR}"))
            .fact("threshold", threshold)
            .fact("human_accounts", &humans);
    }
    let read: Read<Policies> = match read_command(ctx, &MACOS_PWPOLICY, pwpolicy::parse) {
        Ok(r) => r,
        Err(e) => {
            return unknown(
                id,
                format!(
                    "the global password policy is read from pwpolicy only (root, live): {}",
                    e.why
                ),
            )
            .fact("threshold", threshold)
            .fact("human_accounts", &humans)
            .evidences(e.evidence);
        }
    };
    let (status, summary, facts) = judge(&read.value, ctx.thresholds);
    let excerpt = facts
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut result = CheckResult::new(id, status, summary)
        .fact("threshold", threshold)
        .fact("human_accounts", &humans);
    for (k, v) in facts {
        result = result.fact(k, v);
    }
    result.evidence(command_evidence(&read.output, excerpt))
}

/// `accounts.password_min_length`: pass when the effective minimum length (the
/// largest `N` of `.{N,` over the content policies' REs, 0 for an RE with an empty
/// alternative, and `minimumLength` parameters) is ≥ `password_min_length`; fail
/// below, or with no length rule.
pub struct PasswordMinLength;

impl Check for PasswordMinLength {
    fn id(&self) -> &'static str {
        "accounts.password_min_length"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let threshold = ctx.thresholds.password_min_length;
        policy_check(ctx, self.id(), threshold, |p, _| match p.min_length() {
            None => (
                Status::Fail,
                "No password length rule in the account policies".to_owned(),
                vec![("minimum_length", serde_json::Value::Null)],
            ),
            Some(m) => {
                let status = if m.value >= u64::from(threshold) {
                    Status::Pass
                } else {
                    Status::Fail
                };
                (
                    status,
                    format!(
                        "Minimum password length is {} (at least {threshold} required), set by {}",
                        m.value, m.identifier
                    ),
                    vec![
                        ("minimum_length", m.value.into()),
                        ("policy_identifier", m.identifier.into()),
                        ("rule", m.rule.into()),
                    ],
                )
            }
        })
    }
}

/// `accounts.lockout`: pass when an authentication policy has
/// `policyAttributeMaximumFailedAuthentications` from 1 to `lockout_max_deny`
/// (the smallest such value decides); fail with none or above.
pub struct Lockout;

impl Check for Lockout {
    fn id(&self) -> &'static str {
        "accounts.lockout"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let threshold = ctx.thresholds.lockout_max_deny;
        policy_check(ctx, self.id(), threshold, |p, _| match p.max_failed() {
            None => (
                Status::Fail,
                "No account lockout after failed authentications".to_owned(),
                vec![("max_failed_authentications", serde_json::Value::Null)],
            ),
            Some((n, identifier)) => {
                let status = if n <= i64::from(threshold) {
                    Status::Pass
                } else {
                    Status::Fail
                };
                (
                    status,
                    format!(
                        "Accounts lock after {n} failed authentications (at most {threshold} \
                         allowed), set by {identifier}"
                    ),
                    vec![
                        ("max_failed_authentications", n.into()),
                        ("policy_identifier", identifier.into()),
                    ],
                )
            }
        })
    }
}

/// `accounts.password_max_age`: pass when a password-change policy has
/// `policyAttributeExpiresEveryNDays` from 1 to `password_max_days` (the smallest
/// decides); fail with none (the macOS default: never) or above.
pub struct PasswordMaxAge;

impl Check for PasswordMaxAge {
    fn id(&self) -> &'static str {
        "accounts.password_max_age"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let threshold = ctx.thresholds.password_max_days;
        policy_check(ctx, self.id(), threshold, |p, _| match p.expires_days() {
            None => (
                Status::Fail,
                "Passwords never expire (no policyAttributeExpiresEveryNDays)".to_owned(),
                vec![("expires_every_n_days", serde_json::Value::Null)],
            ),
            Some((n, identifier)) => {
                let status = if n <= i64::from(threshold) {
                    Status::Pass
                } else {
                    Status::Fail
                };
                (
                    status,
                    format!(
                        "Passwords expire every {n} days (at most {threshold} allowed), set by \
                         {identifier}"
                    ),
                    vec![
                        ("expires_every_n_days", n.into()),
                        ("policy_identifier", identifier.into()),
                    ],
                )
            }
        })
    }
}

/// `accounts.no_empty_passwords`: pass when no enabled local account's
/// `ShadowHashData` verifies the empty password ([`dslocal::verify_empty`]); fail
/// with the names of those that do (kind `empty`); unknown when the local
/// directory is unreadable.
///
/// Where the catalogue is silent: an enabled account whose `ShadowHashData` cannot
/// be verified (no `SALTED-SHA512-PBKDF2`, malformed, or more than
/// [`dslocal::MAX_ITERATIONS`] iterations) makes the check unknown unless another
/// account already fails it. Accounts without `ShadowHashData` have no local
/// password to be empty and are not judged. Facts and evidence hold names and
/// kinds only.
pub struct NoEmptyPasswords;

impl Check for NoEmptyPasswords {
    fn id(&self) -> &'static str {
        "accounts.no_empty_passwords"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let memo = directory(ctx);
        let dir = match &memo.0 {
            Ok(d) => d,
            Err(why) => return unknown(self.id(), why),
        };
        let judged: Vec<(&dslocal::User, PasswordKind)> = dir
            .users
            .iter()
            .filter(|u| !u.disabled())
            .filter_map(|u| u.password.map(|k| (u, k)))
            .collect();
        let kinds: std::collections::BTreeMap<&str, &str> = judged
            .iter()
            .map(|(u, k)| (u.name.as_str(), k.as_str()))
            .collect();
        let named = |kind: PasswordKind| -> Vec<&dslocal::User> {
            judged
                .iter()
                .filter(|(_, k)| *k == kind)
                .map(|(u, _)| *u)
                .collect()
        };
        let evidence = |users: &[&dslocal::User]| -> Vec<Evidence> {
            users
                .iter()
                .map(|u| {
                    let kind = u.password.map_or("", PasswordKind::as_str);
                    u.evidence(format!("{}: {kind}", u.name))
                })
                .collect()
        };
        let list = |users: &[&dslocal::User]| -> String {
            users
                .iter()
                .map(|u| u.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let empty = named(PasswordKind::Empty);
        let unverifiable = named(PasswordKind::Unverifiable);
        if !empty.is_empty() {
            return CheckResult::new(
                self.id(),
                Status::Fail,
                format!("Accounts with an empty password: {}", list(&empty)),
            )
            .fact("passwords", &kinds)
            .evidences(evidence(&empty));
        }
        if !unverifiable.is_empty() {
            return unknown(
                self.id(),
                format!(
                    "ShadowHashData of {} has no verifiable SALTED-SHA512-PBKDF2 entry (salt, \
                     1 to {} iterations, 128-byte entropy)",
                    list(&unverifiable),
                    dslocal::MAX_ITERATIONS
                ),
            )
            .fact("passwords", &kinds)
            .evidences(evidence(&unverifiable));
        }
        let all: Vec<&dslocal::User> = judged.iter().map(|(u, _)| *u).collect();
        CheckResult::new(
            self.id(),
            Status::Pass,
            format!(
                "No enabled local account has an empty password ({} checked)",
                judged.len()
            ),
        )
        .fact("passwords", &kinds)
        .evidences(evidence(&all))
    }
}

/// The accounts checks of this module.
pub fn checks() -> Vec<Box<dyn Check>> {
    vec![
        Box::new(PasswordMinLength),
        Box::new(Lockout),
        Box::new(PasswordMaxAge),
        Box::new(NoEmptyPasswords),
        Box::new(Uid0OnlyRoot),
        Box::new(PrivilegedUsers),
    ]
}

#[cfg(test)]
mod tests;
