//! Finding the workspace's binaries and fixtures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The directory holding the workspace's built binaries (`target/debug`), found
/// from this test binary's own path (`target/debug/deps/e2e-…`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// A workspace binary; the test command builds them first (`cargo build --workspace`).
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (`cargo build --workspace`), as README's test command does",
        path.display()
    );
    path
}

/// `tests/fixtures/hosts`.
pub fn hosts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("hosts")
}

pub fn agent(args: &[&str]) -> Output {
    Command::new(bin("attest-agent"))
        .args(args)
        .output()
        .expect("run attest-agent")
}

/// Every check of the catalogue, in report order (`checks.md`).
pub const CHECK_IDS: [&str; 25] = [
    "disk.root_encrypted",
    "disk.fixed_volumes_encrypted",
    "disk.swap_encrypted",
    "patch.os_supported",
    "patch.security_updates_pending",
    "patch.index_fresh",
    "patch.auto_updates",
    "patch.reboot_pending",
    "accounts.no_empty_passwords",
    "accounts.uid0_only_root",
    "accounts.password_max_age",
    "accounts.password_min_length",
    "accounts.lockout",
    "accounts.ssh_root_login",
    "accounts.ssh_password_auth",
    "accounts.sudo_nopasswd",
    "accounts.privileged_users",
    "system.time_sync",
    "system.audit_logging",
    "system.firewall",
    "system.screen_lock",
    "system.secure_boot",
    "malware.protection",
    "inventory.host",
    "inventory.software",
];
