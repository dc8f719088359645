//! `attest-agent collect` as a user runs it.

use crate::support::{agent, check_ids};

#[test]
fn a_bad_root_is_one_line_and_exit_2() {
    let out = agent(&["collect", "--root", "/nonexistent/attest-root"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/nonexistent/attest-root"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_bad_flag_exits_2() {
    let out = agent(&["collect", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_unknown_check_id_exits_2() {
    let out = agent(&["collect", "--check", "disk.nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("disk.nope"));
}

fn report_of(out: &std::process::Output) -> attest_proto::Report {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("collect --format json prints a report")
}

#[test]
fn a_live_collect_runs_every_check_in_order() {
    let report = report_of(&agent(&["collect", "--format", "json"]));
    let ids: Vec<&str> = report.results.iter().map(|r| r.check.as_str()).collect();
    assert_eq!(ids, check_ids());
    assert_eq!(report.schema, attest_proto::REPORT_SCHEMA_V1);
    assert!(
        !report.host.kernel.is_empty(),
        "the live kernel release is read"
    );
    for r in &report.results {
        assert!(!r.summary.trim().is_empty(), "{} has no summary", r.check);
        if matches!(
            r.status,
            attest_proto::Status::Unknown | attest_proto::Status::NotApplicable
        ) {
            assert!(
                r.reason.is_some(),
                "{} is {} without a reason",
                r.check,
                r.status
            );
        }
    }
}

#[test]
fn check_filter_runs_only_the_named_checks() {
    let report = report_of(&agent(&[
        "collect",
        "--format",
        "json",
        "--check",
        "patch.os_supported",
        "system.time_sync",
    ]));
    let ids: Vec<&str> = report.results.iter().map(|r| r.check.as_str()).collect();
    assert_eq!(ids, ["patch.os_supported", "system.time_sync"]);
}

#[test]
fn the_table_groups_by_area_and_counts_statuses() {
    let out = agent(&["collect", "--format", "table"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for area in [
        "disk",
        "patch",
        "accounts",
        "system",
        "malware",
        "inventory",
    ] {
        assert!(
            text.lines().any(|l| l == area),
            "no {area} heading in:\n{text}"
        );
    }
    assert!(
        !text.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    let last = text.lines().last().unwrap_or_default();
    assert!(last.starts_with("33 checks: "), "{last}");
}

/// A normal user cannot read /etc/shadow: the check is `unknown` and says why,
/// and the run still succeeds. As root, the agent is re-run as `nobody`.
#[test]
fn a_live_run_as_a_normal_user_reports_what_it_cannot_read() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0);
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("attest-agent");
    std::fs::copy(crate::support::bin("attest-agent"), &bin).unwrap();
    let args = [
        "collect",
        "--format",
        "json",
        "--check",
        "accounts.no_empty_passwords",
    ];
    let out = if uid == 0 {
        let Ok(out) = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&bin)
            .args(args)
            .output()
        else {
            eprintln!("SKIP: setpriv is not installed, cannot drop to nobody");
            return;
        };
        out
    } else {
        std::process::Command::new(&bin)
            .args(args)
            .output()
            .unwrap()
    };
    let report = report_of(&out);
    let r = &report.results[0];
    assert_eq!(r.status, attest_proto::Status::Unknown, "{r:?}");
    assert_eq!(
        r.reason.as_deref(),
        Some("/etc/shadow: permission denied; run as root")
    );
}

/// `collect` judges with the thresholds `run` would use: those of `--config`, and
/// says which on standard error; the value used is in the facts.
#[test]
fn regression_collect_applies_the_config_files_thresholds() {
    use std::os::unix::fs::PermissionsExt as _;
    let root = crate::support::hosts_dir().join("rocky9-server");
    let root = root.to_str().unwrap();
    let args = [
        "collect",
        "--root",
        root,
        "--at",
        "2026-11-25T12:00:00Z",
        "--format",
        "json",
        "--check",
        "accounts.password_max_age",
    ];
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        "version = 1\n\n[thresholds]\npassword_max_days = 90\n",
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = config.display().to_string();
    let mut with_config = args.to_vec();
    with_config.extend(["--config", &config]);
    let out = agent(&with_config);
    let report = report_of(&out);
    let r = &report.results[0];
    // rocky9-server: PASS_MAX_DAYS 365 and root's 365 are within the default 365,
    // not within 90.
    assert_eq!(r.status, attest_proto::Status::Fail, "{r:?}");
    assert_eq!(r.facts["threshold"], 90);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [format!(
            "attest-agent: thresholds from {config}: password_max_days 90, password_min_length 12, lockout_max_deny 10, index_max_age_days 7, screen_lock_max_idle_secs 900, xprotect_max_age_days 30, av_signature_max_age_days 7"
        )]
    );

    // Without --config: the default file's thresholds when it exists, else the
    // defaults, and the line says which.
    let out = agent(&args);
    let report = report_of(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if std::path::Path::new("/etc/attest/agent.toml").exists() {
        assert!(stderr.contains("/etc/attest/agent.toml"), "{stderr}");
    } else {
        assert_eq!(report.results[0].status, attest_proto::Status::Pass);
        assert_eq!(report.results[0].facts["threshold"], 365);
        assert_eq!(
            stderr.trim_end(),
            "attest-agent: default thresholds (no /etc/attest/agent.toml): password_max_days 365, password_min_length 12, lockout_max_deny 10, index_max_age_days 7, screen_lock_max_idle_secs 900, xprotect_max_age_days 30, av_signature_max_age_days 7"
        );
    }

    // A --config that does not exist is a usage error, as for `run`.
    let missing = dir.path().join("none.toml").display().to_string();
    let mut bad = args.to_vec();
    bad.extend(["--config", &missing]);
    let out = agent(&bad);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no such file"), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// An empty directory is no host: nothing is failed with confidence, every check
/// says what is missing (it used to fail four checks).
#[test]
fn an_empty_root_decides_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = agent(&[
        "collect",
        "--root",
        dir.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), check_ids().len());
    for r in results {
        assert_eq!(r["status"], "unknown", "{r}");
        assert!(
            r["reason"]
                .as_str()
                .unwrap()
                .contains("holds no operating system"),
            "{r}"
        );
    }
    // A directory with only /etc is a (bare) Linux root: judged as Linux.
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    let out = agent(&[
        "collect",
        "--root",
        dir.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sip = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["check"] == "system.sip")
        .unwrap();
    assert_eq!(sip["status"], "not_applicable");
    assert_eq!(sip["reason"], "macOS only");
}

/// A captured Mac (a skeleton root and one captured command) replays on Linux: the
/// report is marked as a replay in schema v2; a capture whose argv is not the
/// agent's is refused whole, with exit 2; `--replay` without `--root` is refused.
#[test]
fn captures_replay_only_when_asked_and_only_as_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |path: &str, text: &str| {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "System/Library/CoreServices/SystemVersion.plist",
        "<plist><dict><key>ProductVersion</key><string>15.1</string></dict></plist>",
    );
    let manifest = |argv: &str| {
        format!(
            r#"{{"schema": "attest.captures/v1", "os": "macos", "captured_at": "2026-11-25T11:58:02Z",
               "sources": {{"macos.fdesetup.status": {{"kind": "command", "argv": {argv}, "exit_code": 0}}}}}}"#
        )
    };
    write(
        "_captures/manifest.json",
        &manifest(r#"["/usr/bin/fdesetup", "status"]"#),
    );
    write(
        "_captures/macos.fdesetup.status.stdout",
        "FileVault is On.\n",
    );
    let root_s = root.to_str().unwrap();
    let captures = root.join("_captures");
    let captures_s = captures.to_str().unwrap();

    // Without --replay the captures are never read: a plain offline Mac root.
    let out = agent(&["collect", "--root", root_s, "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plain: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plain["schema"], "attest.report/v1");
    assert!(plain["agent"].get("replay").is_none());
    assert_eq!(plain["host"]["os"]["id"], "macos");

    let out = agent(&[
        "collect", "--root", root_s, "--replay", captures_s, "--format", "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replayed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(replayed["schema"], "attest.report/v2");
    assert_eq!(replayed["agent"]["replay"], true);
    let results = replayed["results"].as_array().unwrap();
    assert_eq!(results.len(), check_ids().len());
    let reboot = results
        .iter()
        .find(|r| r["check"] == "patch.reboot_pending")
        .unwrap();
    assert_eq!(reboot["status"], "not_applicable");
    assert_eq!(
        reboot["reason"],
        "macOS installs updates during the restart; a downloaded update is pending, see patch.security_updates_pending"
    );

    // argv drift: the capture ran something else than the source table says.
    write(
        "_captures/manifest.json",
        &manifest(r#"["/usr/bin/fdesetup", "status", "-extended"]"#),
    );
    let out = agent(&["collect", "--root", root_s, "--replay", captures_s]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("macos.fdesetup.status"), "{err}");
    assert!(err.contains("capture it again"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // A capture of another OS than the root's.
    write(
        "_captures/manifest.json",
        &manifest(r#"["/usr/bin/fdesetup", "status"]"#)
            .replace(r#""os": "macos""#, r#""os": "windows""#),
    );
    let out = agent(&["collect", "--root", root_s, "--replay", captures_s]);
    assert_eq!(out.status.code(), Some(2));

    // --replay on the live host.
    let out = agent(&["collect", "--replay", captures_s]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--replay needs --root"));
}
