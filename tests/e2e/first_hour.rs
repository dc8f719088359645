//! The first hour of a new user, as the first-hour issue found it: each message
//! through the real binary, with its exact first line and exit code.

use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Output};

use crate::collector::Collector;
use crate::support::bin;

fn collector(args: &[&str]) -> Output {
    Command::new(bin("attest-collector"))
        .args(args)
        .env("ATTEST_LOG", "warn")
        .output()
        .unwrap()
}

fn first_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn admin_commands_refuse_a_data_dir_without_a_collector() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("nothing-here");
    let dir = empty.to_str().unwrap();
    for args in [
        vec!["--data-dir", dir, "token", "create"],
        vec!["--data-dir", dir, "agents", "list"],
        vec!["--data-dir", dir, "apitoken", "create", "--role", "auditor"],
        vec!["--data-dir", dir, "fsck"],
        vec![
            "--data-dir",
            dir,
            "report",
            "--format",
            "html",
            "--out",
            "/dev/null",
        ],
        vec!["--data-dir", dir, "waiver", "list"],
    ] {
        let out = collector(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            first_line(&out),
            format!(
                "attest-collector: no collector in {dir} ({dir}/collector.db does not exist): \
                 pass the --data-dir (or --database) of a collector, or start one with \
                 `attest-collector serve --data-dir DIR`"
            ),
            "{args:?}"
        );
        assert!(
            out.stdout.is_empty(),
            "{args:?}: no token or report printed"
        );
        assert!(!empty.exists(), "{args:?} created {dir}");
    }
}

#[test]
fn a_port_in_use_is_said_once_before_anything_else() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let data = tmp.path().join("data");
    let out = collector(&[
        "--data-dir",
        data.to_str().unwrap(),
        "serve",
        "--listen",
        &addr,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!("attest-collector: listening on {addr}: Address already in use (os error 98)"),
        "one line, the OS error once, no fingerprint first"
    );
}

#[test]
fn data_directories_and_databases_are_private_even_when_found_loose() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut c = Collector::start(&data);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("collector.db")), 0o600);
    assert_eq!(mode(&data.join("tls")), 0o700);
    c.stop();
    // Loosened while stopped: tightened again at the next start.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(
        data.join("collector.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let _c = Collector::start(&data);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("collector.db")), 0o600);
}

#[test]
fn today_as_a_date_and_unknown_waiver_hosts() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let c = Collector::start(&data);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let out_file = tmp.path().join("r.json");
    let out = c.cli(&[
        "report",
        "--format",
        "json",
        "--period",
        &format!("2026-01-01..{today}"),
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", first_line(&out));
    let bundle = tmp.path().join("e.tar.gz");
    let out = c.cli(&[
        "export",
        "--as-of",
        &today,
        "--out",
        bundle.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", first_line(&out));
    // A time later today is still in the future.
    let out = c.cli(&[
        "report",
        "--format",
        "json",
        "--as-of",
        "2999-01-01",
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        first_line(&out),
        "attest-collector: --as-of 2999-01-01T23:59:59Z is in the future"
    );
    let out = c.cli(&[
        "waiver",
        "add",
        "--check",
        "system.screen_lock",
        "--host",
        "NO-SUCH-HOST",
        "--justification",
        "x",
        "--approver",
        "y",
        "--expires",
        "1d",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        first_line(&out),
        "attest-collector: no enrolled host has the agent id or hostname \"NO-SUCH-HOST\": \
         `attest-collector agents list` shows them"
    );
    let list = c.cli(&["waiver", "list"]);
    assert!(!String::from_utf8_lossy(&list.stdout).contains("NO-SUCH-HOST"));
}
