//! Reads one value of a user's registry hive through the agent's `Host`, as a
//! check does: `registry-user PROFILE KEY VALUE` prints `ok <value>`,
//! `absent` (the key or value does not exist) or `error <why>`, and exits 0.
//!
//! For `scripts/wine-collect.sh`, which runs the Windows build under Wine: no check
//! of this agent version reads a user's hive yet, so the live `HKEY_USERS\<SID>`
//! path (`host/registry.rs`) is exercised through this small program. On Linux it
//! answers that the host is not Windows.

use std::path::Path;
use std::process::ExitCode;

use attest_agent::host::{Host, SourceError};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [profile, key, value] = args.as_slice() else {
        eprintln!("usage: registry-user PROFILE KEY VALUE");
        return ExitCode::from(2);
    };
    let host = match Host::open(Path::new("/")) {
        Ok(host) => host,
        Err(err) => {
            eprintln!("registry-user: {err}");
            return ExitCode::FAILURE;
        }
    };
    match host.registry_user(profile, key, value) {
        Ok(v) => println!("ok {v}"),
        Err(SourceError::NotInstalled { what }) => println!("absent {what}"),
        Err(err) => println!("error {err}"),
    }
    ExitCode::SUCCESS
}
