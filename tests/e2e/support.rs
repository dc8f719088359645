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
pub fn check_ids() -> Vec<&'static str> {
    attest_proto::catalogue::ids().collect()
}
