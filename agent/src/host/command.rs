//! Running a program on a live host: no shell, an absolute program path and a fixed
//! argv from the source table, an empty environment but `PATH` and the C locale, no
//! standard input, a timeout.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::SourceError;

/// How long a command may run before it is killed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The most standard output kept from one command.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct CommandOutput {
    /// The program and its arguments, as run.
    pub argv: Vec<String>,
    /// `None` when the program was killed by a signal.
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

pub(super) fn run(argv: &[&str]) -> Result<CommandOutput, SourceError> {
    run_as(argv, None)
}

/// Runs `argv` as [`run`] does; with `as_user` = (uid, gid), the child runs as that
/// user and group (set when the process is spawned: the user is never in argv).
/// Only macOS builds change the user; elsewhere `as_user` is refused.
pub(super) fn run_as(
    argv: &[&str],
    as_user: Option<(u32, u32)>,
) -> Result<CommandOutput, SourceError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(SourceError::Failed {
            what: String::new(),
            error: "empty argv".to_owned(),
        });
    };
    let program = *program;
    let io_err = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::NotFound {
            SourceError::NotInstalled {
                what: program.to_owned(),
            }
        } else {
            SourceError::Failed {
                what: program.to_owned(),
                error: source.to_string(),
            }
        }
    };
    #[allow(clippy::disallowed_methods)] // this is the one place commands are started
    let mut command = Command::new(program);
    if let Some((uid, gid)) = as_user {
        #[cfg(target_os = "macos")]
        {
            use std::os::unix::process::CommandExt as _;
            command.uid(uid).gid(gid);
        }
        #[cfg(not(target_os = "macos"))]
        return Err(SourceError::Unsupported {
            what: format!("{program} as uid {uid} gid {gid}"),
        });
    }
    let mut child = command
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C")
        .env("LANG", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_err)?;

    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out_reader = std::thread::spawn(move || read_bounded(stdout));
    let err_reader = std::thread::spawn(move || read_bounded(stderr));

    let started = Instant::now();
    let status = loop {
        match child.try_wait().map_err(io_err)? {
            Some(status) => break status,
            None if started.elapsed() > COMMAND_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(SourceError::Timeout {
                    what: program.to_owned(),
                    seconds: COMMAND_TIMEOUT.as_secs(),
                });
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Ok(CommandOutput {
        argv: argv.iter().map(|a| (*a).to_owned()).collect(),
        exit_code: status.code(),
        stdout,
        stderr,
    })
}

fn read_bounded(pipe: Option<impl Read>) -> String {
    let mut buf = Vec::new();
    if let Some(pipe) = pipe {
        let _ = pipe.take(MAX_OUTPUT_BYTES as u64).read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}
