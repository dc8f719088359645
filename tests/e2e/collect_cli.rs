//! `attest-agent collect` as a user runs it.

use crate::support::agent;

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
