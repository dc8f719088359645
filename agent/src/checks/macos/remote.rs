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
//!
//! Where commands answer (live, or replayed), `launchctl print-disabled system`
//! cross-checks the file: launchd's own view of the override. A label it lists as
//! `enabled` (or `false`, the older form) is on, `disabled` (or `true`) is off, and
//! a label it does not list has no override: off, as the file without the key.
//! When the two disagree both checks are unknown. When the command gives no usable
//! answer the file decides alone and `launchctl` is null in the facts.

use attest_proto::{CheckResult, Evidence, Status};
use std::sync::Arc;

use crate::checks::linux::accounts::sshd::{SshPasswordAuth, SshRootLogin};
use crate::checks::macos::prefs::{self, as_bool, render, type_name};
use crate::checks::macos::system::{lines, quote};
use crate::checks::{Check, Context, command_evidence, not_applicable, unknown};
use crate::host::sources::MACOS_LAUNCHCTL_PRINT_DISABLED;

/// launchd's overrides of the system domain: which daemons are disabled.
pub const LAUNCHD_DISABLED: &str = "/var/db/com.apple.xpc.launchd/disabled.plist";
/// The label of the OpenSSH server (Remote Login).
pub const SSHD_LABEL: &str = "com.openssh.sshd";

/// Whether Remote Login is on, as read from [`LAUNCHD_DISABLED`] (and launchd).
#[derive(Debug, Clone)]
pub struct RemoteLogin {
    pub on: bool,
    /// Why, for summaries and reasons.
    pub basis: String,
    pub evidence: Vec<Evidence>,
    /// What `launchctl print-disabled system` says (`None`: not asked or no
    /// usable answer).
    pub launchctl: Option<bool>,
}

/// The heading of the block of `launchctl print-disabled` that lists overrides.
pub const DISABLED_BLOCK: &str = "disabled services = {";

/// Why `launchctl print-disabled` output was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrintDisabledError {
    #[error("no \"{DISABLED_BLOCK}\" block")]
    NoBlock,
    #[error("unexpected line {}", quote(.0))]
    Unexpected(String),
}

/// The overrides of `launchctl print-disabled system`: label → disabled. Only the
/// [`DISABLED_BLOCK`] block is read, up to its closing `}`; inside it every line
/// must be `"LABEL" => disabled|enabled` (or `true`|`false`, older macOS); other
/// blocks (login item associations) are skipped.
pub fn parse_print_disabled(
    text: &str,
) -> Result<std::collections::BTreeMap<String, bool>, PrintDisabledError> {
    let mut out = std::collections::BTreeMap::new();
    let mut it = lines(text);
    it.by_ref()
        .find(|l| l.trim() == DISABLED_BLOCK)
        .ok_or(PrintDisabledError::NoBlock)?;
    for line in it {
        let t = line.trim();
        if t == "}" {
            return Ok(out);
        }
        let entry = t.split_once(" => ").and_then(|(label, state)| {
            let label = label.strip_prefix('"')?.strip_suffix('"')?;
            let disabled = match state {
                "disabled" | "true" => true,
                "enabled" | "false" => false,
                _ => return None,
            };
            (!label.is_empty()).then(|| (label.to_owned(), disabled))
        });
        match entry {
            Some((label, disabled)) => {
                out.insert(label, disabled);
            }
            None => return Err(PrintDisabledError::Unexpected(line.to_owned())),
        }
    }
    Err(PrintDisabledError::Unexpected("(no closing })".to_owned()))
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// Reads Remote Login's state: `Err` with the reason when it cannot be told
/// (the file cannot be used, or launchd disagrees with it).
pub fn remote_login(ctx: &Context<'_>) -> Result<RemoteLogin, String> {
    let mut state = from_file(ctx)?;
    if !ctx.host.answers_sources() {
        return Ok(state);
    }
    let Ok(out) = ctx.host.command(&MACOS_LAUNCHCTL_PRINT_DISABLED) else {
        return Ok(state);
    };
    if out.exit_code != Some(0) {
        return Ok(state);
    }
    let Ok(overrides) = parse_print_disabled(&out.stdout) else {
        return Ok(state);
    };
    let live_on = overrides.get(SSHD_LABEL) == Some(&false);
    let excerpt = match overrides.get(SSHD_LABEL) {
        Some(d) => format!(
            "\"{SSHD_LABEL}\" => {}",
            if *d { "disabled" } else { "enabled" }
        ),
        None => format!("(no {SSHD_LABEL} override)"),
    };
    state.evidence.push(command_evidence(&out, excerpt));
    if live_on != state.on {
        return Err(format!(
            "launchd and the file disagree: launchctl print-disabled system says Remote \
             Login is {}, {}",
            on_off(live_on),
            state.basis
        ));
    }
    state.launchctl = Some(live_on);
    state.basis = format!("{}; launchctl print-disabled system agrees", state.basis);
    Ok(state)
}

fn from_file(ctx: &Context<'_>) -> Result<RemoteLogin, String> {
    let found =
        prefs::read_key(ctx.host, LAUNCHD_DISABLED, SSHD_LABEL).map_err(|e| e.to_string())?;
    let Some(found) = found else {
        return Ok(RemoteLogin {
            on: false,
            basis: format!(
                "{LAUNCHD_DISABLED} does not set {SSHD_LABEL}: Remote Login is off by default"
            ),
            evidence: Vec::new(),
            launchctl: None,
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
            on_off(!disabled)
        ),
        evidence: vec![found.evidence],
        launchctl: None,
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
            .fact("launchctl", state.launchctl.map(on_off))
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

    /// `launchctl print-disabled system` as macOS 15 prints it.
    fn print_disabled(sshd: Option<&str>) -> String {
        let mut out = String::from(
            "disabled services = {\n\t\"com.apple.ftpd\" => disabled\n\t\"com.apple.mdmclient.daemon.runatboot\" => disabled\n",
        );
        if let Some(state) = sshd {
            out.push_str(&format!("\t\"{SSHD_LABEL}\" => {state}\n"));
        }
        out.push_str(
            "}\n\nlogin item associations = {\n\t\"com.example.helper\" => (\"com.example.app\")\n}\n",
        );
        out
    }

    #[test]
    fn print_disabled_lists_the_overrides_block_only() {
        let got = parse_print_disabled(&print_disabled(Some("enabled"))).unwrap();
        assert_eq!(got.get(SSHD_LABEL), Some(&false));
        assert_eq!(got.get("com.apple.ftpd"), Some(&true));
        assert_eq!(got.len(), 3, "the login item block is not read: {got:?}");
        // The older true/false form.
        let got =
            parse_print_disabled("disabled services = {\n\t\"com.openssh.sshd\" => true\n}\n")
                .unwrap();
        assert_eq!(got.get(SSHD_LABEL), Some(&true));
        assert_eq!(
            parse_print_disabled("Unrecognized subcommand: print-disabled\n"),
            Err(PrintDisabledError::NoBlock)
        );
        let err = parse_print_disabled("disabled services = {\n\tcom.openssh.sshd = on\n}\n")
            .unwrap_err();
        assert!(err.to_string().contains("com.openssh.sshd = on"), "{err}");
        assert!(parse_print_disabled("disabled services = {\n").is_err());
    }

    #[test]
    fn launchctl_agreeing_with_the_file_decides_and_disagreeing_is_unknown() {
        // Agrees: on in both.
        let r = mac(Some(false))
            .command(
                &MACOS_LAUNCHCTL_PRINT_DISABLED,
                0,
                &print_disabled(Some("enabled")),
            )
            .run(&MacSshRootLogin);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["launchctl"], "on");
        assert!(
            r.evidence
                .iter()
                .any(|e| serde_json::to_string(e).unwrap().contains("print-disabled")),
            "{r:?}"
        );
        // Agrees: no override in either (off by default).
        let r = mac(None)
            .command(&MACOS_LAUNCHCTL_PRINT_DISABLED, 0, &print_disabled(None))
            .run(&MacSshPasswordAuth);
        assert_eq!(r.status, Status::NotApplicable, "{r:?}");
        assert_eq!(r.facts["launchctl"], "off");
        // The file says on, launchd says disabled: unknown.
        let r = mac(Some(false))
            .command(
                &MACOS_LAUNCHCTL_PRINT_DISABLED,
                0,
                &print_disabled(Some("disabled")),
            )
            .run(&MacSshRootLogin);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.as_deref().unwrap().contains("disagree"), "{r:?}");
        // The file says off (no key), launchd says enabled: unknown.
        let r = mac(None)
            .command(
                &MACOS_LAUNCHCTL_PRINT_DISABLED,
                0,
                &print_disabled(Some("enabled")),
            )
            .run(&MacSshPasswordAuth);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        // launchctl failed: the file decides alone.
        let r = mac(Some(false))
            .command(&MACOS_LAUNCHCTL_PRINT_DISABLED, 1, "")
            .run(&MacSshRootLogin);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(r.facts["launchctl"].is_null(), "{r:?}");
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
