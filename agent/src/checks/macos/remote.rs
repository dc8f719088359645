//! SSH on macOS: `accounts.ssh_root_login` and `accounts.ssh_password_auth`
//! (ISO/IEC 27002:2022 8.2 Privileged access rights, 5.15 Access control,
//! 5.18 Access rights; 8.5 Secure authentication).
//!
//! The OpenSSH server runs only when Remote Login is on. Remote Login is off
//! unless `/var/db/com.apple.xpc.launchd/disabled.plist` sets `com.openssh.sshd`
//! to false: the key true, the key absent or the file absent is off, and both
//! checks are then not applicable. When it is on, the Linux checks decide with the
//! same sshd parser over `/etc/ssh/sshd_config` and the files it `Include`s
//! (`/etc/ssh/sshd_config.d/*` on a Mac; `/etc` is a link to `private/etc`, which
//! the host resolves).

use attest_proto::{CheckResult, Evidence, Status};
use std::sync::Arc;

use crate::checks::linux::accounts::sshd::{SshPasswordAuth, SshRootLogin};
use crate::checks::macos::prefs::{self, as_bool, render, type_name};
use crate::checks::{Check, Context, not_applicable, unknown};

/// launchd's overrides of the system domain: which daemons are disabled.
pub const LAUNCHD_DISABLED: &str = "/var/db/com.apple.xpc.launchd/disabled.plist";
/// The label of the OpenSSH server (Remote Login).
pub const SSHD_LABEL: &str = "com.openssh.sshd";

/// Whether Remote Login is on, as read from [`LAUNCHD_DISABLED`].
#[derive(Debug, Clone)]
pub struct RemoteLogin {
    pub on: bool,
    /// Why, for summaries and reasons.
    pub basis: String,
    pub evidence: Option<Evidence>,
}

/// Reads Remote Login's state: `Err` with the reason when it cannot be told.
pub fn remote_login(ctx: &Context<'_>) -> Result<RemoteLogin, String> {
    let found =
        prefs::read_key(ctx.host, LAUNCHD_DISABLED, SSHD_LABEL).map_err(|e| e.to_string())?;
    let Some(found) = found else {
        return Ok(RemoteLogin {
            on: false,
            basis: format!(
                "{LAUNCHD_DISABLED} does not set {SSHD_LABEL}: Remote Login is off by default"
            ),
            evidence: None,
        });
    };
    let disabled = as_bool(&found.value).ok_or_else(|| {
        format!(
            "{LAUNCHD_DISABLED}: {SSHD_LABEL} is {}, not a boolean",
            type_name(&found.value)
        )
    })?;
    Ok(RemoteLogin {
        on: !disabled,
        basis: format!(
            "{SSHD_LABEL} = {} in {LAUNCHD_DISABLED}: Remote Login is {}",
            render(&found.value),
            if disabled { "off" } else { "on" }
        ),
        evidence: Some(found.evidence),
    })
}

/// Remote Login's state, read once per run.
struct Memo(Result<RemoteLogin, String>);

fn get(ctx: &Context<'_>) -> Arc<Memo> {
    ctx.memo(|ctx| Memo(remote_login(ctx)))
}

/// A Linux sshd check behind the Remote Login gate.
fn gated(ctx: &Context<'_>, inner: &dyn Check) -> CheckResult {
    let id = inner.id();
    let memo = get(ctx);
    let state = match &memo.0 {
        Ok(s) => s,
        Err(why) => return unknown(id, why.clone()),
    };
    let with_state = |r: CheckResult| {
        r.fact("remote_login", state.on)
            .evidences(state.evidence.clone())
    };
    if !state.on {
        return with_state(not_applicable(id, state.basis.clone()));
    }
    let r = inner.run(ctx);
    if r.status == Status::NotApplicable {
        // The Linux check says "not installed" without sshd_config; on a Mac the
        // file always exists, so a root without it is incomplete.
        return with_state(unknown(
            id,
            format!(
                "Remote Login is on but the sshd configuration cannot be used: {}",
                r.reason.as_deref().unwrap_or(&r.summary)
            ),
        ));
    }
    with_state(r)
}

/// `accounts.ssh_root_login` on a Mac: n/a when Remote Login is off, else as on
/// Linux.
pub struct MacSshRootLogin;

impl Check for MacSshRootLogin {
    fn id(&self) -> &'static str {
        SshRootLogin.id()
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        gated(ctx, &SshRootLogin)
    }
}

/// `accounts.ssh_password_auth` on a Mac: n/a when Remote Login is off, else as
/// on Linux.
pub struct MacSshPasswordAuth;

impl Check for MacSshPasswordAuth {
    fn id(&self) -> &'static str {
        SshPasswordAuth.id()
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        gated(ctx, &SshPasswordAuth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::macos::prefs::tests::{binary, xml};
    use crate::checks::{Thresholds, run};
    use crate::host::fake::FakeHost;
    use plist::Value;

    /// macOS 15's `/etc/ssh/sshd_config`, its active lines.
    const MAC_SSHD_CONFIG: &str = "\
# This is the sshd server system-wide configuration file.
Include /etc/ssh/sshd_config.d/*
#PermitRootLogin prohibit-password
AuthorizedKeysFile\t.ssh/authorized_keys
#PasswordAuthentication yes
#PermitEmptyPasswords no
KbdInteractiveAuthentication no
UsePAM yes
Subsystem\tsftp\t/usr/libexec/sftp-server
";

    const MAC_SSHD_D: &str = "\
# This file is a workaround for the macOS default being to allow passwords.
PasswordAuthentication no
KbdInteractiveAuthentication no
";

    fn mac(sshd_disabled: Option<bool>) -> FakeHost {
        let mut f = FakeHost::macos()
            .link("/etc", "private/etc")
            .link("/var", "private/var")
            .file("/private/etc/ssh/sshd_config", MAC_SSHD_CONFIG);
        if let Some(d) = sshd_disabled {
            f = f.file(
                &format!("/private{LAUNCHD_DISABLED}"),
                binary(&[
                    ("com.apple.ftpd", Value::Boolean(true)),
                    (SSHD_LABEL, Value::Boolean(d)),
                ]),
            );
        }
        f
    }

    #[test]
    fn remote_login_off_is_not_applicable_whether_by_default_or_by_the_key() {
        for fake in [mac(None), mac(Some(true))] {
            for r in [fake.run(&MacSshRootLogin), fake.run(&MacSshPasswordAuth)] {
                assert_eq!(r.status, Status::NotApplicable, "{r:?}");
                assert!(
                    r.reason.as_deref().unwrap().contains("Remote Login is off"),
                    "{r:?}"
                );
                assert_eq!(r.facts["remote_login"], false);
            }
        }
        // The file exists but lacks the key: off by default.
        let r = FakeHost::macos()
            .file(
                LAUNCHD_DISABLED,
                xml(&[("com.apple.ftpd", Value::Boolean(true))]),
            )
            .run(&MacSshRootLogin);
        assert_eq!(r.status, Status::NotApplicable, "{r:?}");
    }

    #[test]
    fn remote_login_on_judges_the_mac_defaults_with_the_linux_rules() {
        let fake = mac(Some(false));
        let r = fake.run(&MacSshRootLogin);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["remote_login"], true);
        assert_eq!(r.facts["permit_root_login"], "prohibit-password");
        // No sshd_config.d file: PasswordAuthentication defaults to yes.
        let r = fake.run(&MacSshPasswordAuth);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        // The included drop-in turns passwords off.
        let r = mac(Some(false))
            .file("/private/etc/ssh/sshd_config.d/100-macos.conf", MAC_SSHD_D)
            .run(&MacSshPasswordAuth);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            r.evidence.iter().any(|e| serde_json::to_string(e)
                .unwrap()
                .contains("sshd_config.d/100-macos.conf")),
            "{r:?}"
        );
    }

    #[test]
    fn remote_login_on_with_root_login_yes_fails() {
        let r = mac(Some(false))
            .file(
                "/private/etc/ssh/sshd_config.d/200-root.conf",
                "PermitRootLogin yes\n",
            )
            .run(&MacSshRootLogin);
        assert_eq!(r.status, Status::Fail, "{r:?}");
    }

    #[test]
    fn unreadable_or_mistyped_launchd_state_is_unknown() {
        let path = format!("/private{LAUNCHD_DISABLED}");
        let r = mac(Some(false)).deny(&path).run(&MacSshRootLogin);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        let r = mac(None)
            .file(&path, xml(&[(SSHD_LABEL, Value::Real(1.5))]))
            .run(&MacSshPasswordAuth);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(
            r.reason.as_deref().unwrap().contains("not a boolean"),
            "{r:?}"
        );
    }

    #[test]
    fn remote_login_on_without_sshd_config_is_unknown_not_not_installed() {
        let mut fake = mac(Some(false));
        fake.remove("/private/etc/ssh/sshd_config");
        let r = fake.run(&MacSshRootLogin);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(
            r.reason.as_deref().unwrap().contains("Remote Login is on"),
            "{r:?}"
        );
    }

    /// Through the registry both ids answer from these checks on a Mac root.
    #[test]
    fn the_registry_gates_ssh_on_remote_login() {
        let host = mac(None).host();
        let thresholds = Thresholds::default();
        let ctx = Context::new(&host, crate::host::fake::default_now(), &thresholds);
        let only = vec![
            "accounts.ssh_root_login".to_owned(),
            "accounts.ssh_password_auth".to_owned(),
        ];
        let results = run(&ctx, &only);
        assert_eq!(results.len(), 2);
        for r in &results {
            assert_eq!(r.status, Status::NotApplicable, "{r:?}");
            assert_eq!(r.facts["remote_login"], false, "{r:?}");
        }
    }
}
