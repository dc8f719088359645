//! The agent's service commands (`validate`, `status`, `enroll`, `run`) as an
//! administrator meets them, without a collector: every problem is one line on
//! standard error and a non-zero exit. Delivery to a collector is tested in-process in
//! the agent crate (`agent/src/service.rs`, `upload.rs`, against a fake collector) and,
//! with the real collector, end to end once it is in the workspace.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::support::agent;

fn write_config(dir: &Path, text: &str, mode: u32) -> String {
    let path = dir.join("agent.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path.display().to_string()
}

fn one_line_error(out: &std::process::Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

#[test]
fn validate_accepts_a_good_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "version = 1\ninterval = \"2h\"\n", 0o640);
    let state = dir.path().join("state").display().to_string();
    let out = agent(&["validate", "--config", &config, "--state-dir", &state]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("OK (interval 7200s"), "{stdout}");
}

#[test]
fn validate_refuses_a_loose_config_unknown_keys_and_bad_versions() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "version = 1\n", 0o644);
    let line = one_line_error(&agent(&["validate", "--config", &config]), 2);
    assert!(
        line.contains("mode 0644") && line.contains("chmod 0640"),
        "{line}"
    );

    let config = write_config(dir.path(), "version = 1\n\nintervall = \"1h\"\n", 0o600);
    let line = one_line_error(&agent(&["validate", "--config", &config]), 2);
    assert!(
        line.contains(&format!("{config}:3: unknown field `intervall`")),
        "{line}"
    );

    let config = write_config(dir.path(), "version = 7\n", 0o600);
    let line = one_line_error(&agent(&["validate", "--config", &config]), 2);
    assert!(line.contains(":1: version 7 is not supported"), "{line}");

    let missing = dir.path().join("none.toml").display().to_string();
    let line = one_line_error(&agent(&["validate", "--config", &missing]), 2);
    assert!(line.contains("no such file"), "{line}");
}

#[test]
fn validate_refuses_a_key_others_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "version = 1\n", 0o600);
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let key = state.join("agent.key");
    std::fs::write(&key, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let state = state.display().to_string();
    let line = one_line_error(
        &agent(&["validate", "--config", &config, "--state-dir", &state]),
        2,
    );
    assert!(
        line.contains("agent.key has mode 0644") && line.contains("chmod 0600"),
        "{line}"
    );
}

#[test]
fn status_of_a_new_agent_and_run_before_enrollment() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "version = 1\n", 0o600);
    let state = dir.path().join("state").display().to_string();
    let out = agent(&["status", "--config", &config, "--state-dir", &state]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("enrolled:        no"), "{stdout}");
    assert!(stdout.contains("0 report(s) waiting"), "{stdout}");

    let line = one_line_error(
        &agent(&["run", "--once", "--config", &config, "--state-dir", &state]),
        2,
    );
    assert!(
        line.contains("not enrolled") && line.contains("attest-agent enroll"),
        "{line}"
    );
}

#[test]
fn enrolling_with_an_unreachable_collector_or_a_bad_pin_fails_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "version = 1\n", 0o600);
    let state = dir.path().join("state").display().to_string();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = format!("https://127.0.0.1:{port}");
    let pin = "ab".repeat(32);
    let base = ["--config", &config, "--state-dir", &state];
    let mut args = vec!["enroll", "--server", &server, "--token", "t", "--pin", &pin];
    args.extend(base);
    let out = agent(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.contains("cannot reach the collector at"), "{stderr}");
    // The key was created, private, for the next attempt.
    let mode = std::fs::metadata(Path::new(&state).join("agent.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let mut args = vec![
        "enroll", "--server", &server, "--token", "t", "--pin", "abc",
    ];
    args.extend(base);
    let line = one_line_error(&agent(&args), 2);
    assert!(
        line.contains("--pin") && line.contains("64 hex digits"),
        "{line}"
    );

    let mut args = vec!["enroll", "--server", "http://plain.example", "--token", "t"];
    args.extend(base);
    let line = one_line_error(&agent(&args), 2);
    assert!(line.contains("https://"), "{line}");
}

/// `--server` without `https://` says what is wrong and what to write, not the URL
/// parser's "relative URL without a base".
#[test]
fn enroll_with_a_server_that_is_not_an_https_url_says_what_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "version = 1\n", 0o600);
    let state = dir.path().join("state").display().to_string();
    for (server, want) in [
        (
            "collector.example:8443",
            "attest-agent: --server must be an https:// URL, e.g. https://collector.example:8443 (got \"collector.example:8443\")",
        ),
        (
            "10.0.0.5:8443",
            "attest-agent: --server must be an https:// URL, e.g. https://10.0.0.5:8443 (got \"10.0.0.5:8443\")",
        ),
        (
            "http://collector.example:8443",
            "attest-agent: --server must be an https:// URL, e.g. https://collector.example:8443 (got \"http://collector.example:8443\")",
        ),
    ] {
        let out = agent(&[
            "enroll",
            "--server",
            server,
            "--token",
            "t",
            "--config",
            &config,
            "--state-dir",
            &state,
        ]);
        let line = one_line_error(&out, 2);
        assert_eq!(line.trim_end(), want);
    }
    assert!(!Path::new(&state).join("agent.key").exists());
}

/// The binary in a directory `nobody` can reach.
fn reachable_binary(dir: &Path) -> std::path::PathBuf {
    let bin = dir.join("attest-agent");
    std::fs::copy(crate::support::bin("attest-agent"), &bin).unwrap();
    bin
}

/// Runs the agent as `nobody` (65534) when this test runs as root; `None` (the test
/// then skips) when it cannot.
fn as_nobody(bin: &Path, args: &[&str]) -> Option<std::process::Output> {
    use std::os::unix::fs::MetadataExt as _;
    if std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
        != 0
    {
        eprintln!("SKIP: not root, cannot drop to nobody");
        return None;
    }
    let Ok(out) = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(bin)
        .args(args)
        .output()
    else {
        eprintln!("SKIP: setpriv is not installed, cannot drop to nobody");
        return None;
    };
    Some(out)
}

/// A normal user running `run --once` against root's state directory is told which
/// path and what to do, not just "Permission denied".
#[test]
fn run_once_as_a_normal_user_names_the_path_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = reachable_binary(dir.path());
    // nobody's own configuration, so that the state directory is what fails.
    let config = write_config(dir.path(), "version = 1\n", 0o600);
    std::os::unix::fs::chown(&config, Some(65534), Some(65534)).ok();
    // root's state directory, as the packages make it: 0700, enrolled.
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(state.join("enrollment.json"), "{}").unwrap();
    let state_s = state.display().to_string();
    let Some(out) = as_nobody(
        &bin,
        &[
            "run",
            "--once",
            "--config",
            &config,
            "--state-dir",
            &state_s,
        ],
    ) else {
        return;
    };
    let line = one_line_error(&out, 2);
    assert_eq!(
        line.trim_end(),
        format!(
            "attest-agent: the state directory {state_s} belongs to uid 0, not to this user (uid 65534); run as root (sudo attest-agent …), or give this agent a state directory of its own with --state-dir DIR"
        )
    );

    // A state directory inside one nobody cannot enter: permission denied, with
    // the path and the fix.
    let closed = dir.path().join("closed");
    std::fs::create_dir(&closed).unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
    let inner = closed.join("state").display().to_string();
    let out = as_nobody(
        &bin,
        &["run", "--once", "--config", &config, "--state-dir", &inner],
    )
    .unwrap();
    let line = one_line_error(&out, 2);
    assert_eq!(
        line.trim_end(),
        format!(
            "attest-agent: {inner}: permission denied; run as root (sudo attest-agent …), or give this agent a state directory of its own with --state-dir DIR (and --config FILE)"
        )
    );

    // And a configuration nobody cannot read: the path and the fix.
    let root_config = dir.path().join("root.toml");
    std::fs::write(&root_config, "version = 1\n").unwrap();
    std::fs::set_permissions(&root_config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let root_config = root_config.display().to_string();
    let out = as_nobody(
        &bin,
        &[
            "run",
            "--once",
            "--config",
            &root_config,
            "--state-dir",
            &state_s,
        ],
    )
    .unwrap();
    let line = one_line_error(&out, 2);
    assert_eq!(
        line.trim_end(),
        format!(
            "attest-agent: {root_config}: permission denied; run as root (sudo attest-agent …), or pass --config FILE naming a configuration you can read"
        )
    );
}

/// The state directory must be private: found open to everyone, `enroll` makes it
/// 0700 (saying so in one line); owned by another user, it refuses it, changing
/// nothing.
#[test]
fn regression_a_state_directory_open_to_others_is_fixed_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "version = 1\n", 0o600);
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    let state_s = state.display().to_string();
    // A port nothing listens on: enrollment itself fails after the check.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = format!("https://127.0.0.1:{port}");
    let pin = "ab".repeat(32);
    let args = [
        "enroll",
        "--server",
        &server,
        "--token",
        "t",
        "--pin",
        &pin,
        "--config",
        &config,
        "--state-dir",
        &state_s,
    ];
    let out = agent(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let fixed: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("the state directory was open to other users; its mode is now 0700"))
        .collect();
    assert_eq!(fixed.len(), 1, "{stderr}");
    assert!(
        fixed[0].contains(&state_s) && fixed[0].contains("0777"),
        "{stderr}"
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&state), 0o700);

    // Owned by someone else (only root can arrange that): refused, untouched.
    use std::os::unix::fs::MetadataExt as _;
    if std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
        != 0
    {
        eprintln!("SKIP: not root, cannot give the directory to another user");
        return;
    }
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::os::unix::fs::chown(&other, Some(65534), Some(65534)).unwrap();
    let other_s = other.display().to_string();
    let mut args = args;
    args[10] = &other_s;
    let out = agent(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [format!(
            "attest-agent: the state directory {other_s} belongs to uid 65534, who could replace the enrollment or the key in it; make it root's (chown root: {other_s}) or give this agent another --state-dir"
        )]
    );
    assert_eq!(mode(&other), 0o777);
    assert!(
        std::fs::read_dir(&other).unwrap().next().is_none(),
        "nothing written"
    );
}

/// `run` checks the state directory at its start too, before anything else: found
/// at 0777, it is 0700 afterwards, even when the run then stops (not enrolled).
#[test]
fn run_makes_a_loose_state_directory_private_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "version = 1\n", 0o600);
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    let state_s = state.display().to_string();
    let out = agent(&[
        "run",
        "--once",
        "--config",
        &config,
        "--state-dir",
        &state_s,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].contains("the state directory was open to other users; its mode is now 0700"),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with("attest-agent: this agent is not enrolled"),
        "{stderr}"
    );
    let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o700);
}
