//! `attest-agent`: the command line. Everything it does lives in the library.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use attest_agent::checks::Thresholds;
use attest_agent::host::HostRoot;
use attest_agent::{collect, output};
use clap::{Parser, Subcommand, ValueEnum};

/// Exit status when the command line or its inputs are wrong.
const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "attest-agent",
    version,
    about = "Collects signed ISO/IEC 27002 evidence from this host"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the checks now and print the report (unsigned when not enrolled).
    Collect {
        /// Read the host under this directory instead of / (a mounted image, a fixture).
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Run only these checks (`--check A B` or `--check A --check B`; default all).
        #[arg(long = "check", value_name = "ID", num_args = 1..)]
        checks: Vec<String>,
        /// Collect as if at this time (RFC 3339, e.g. 2026-11-25T14:00:00Z) instead
        /// of now: for offline images and reproducible fixtures.
        #[arg(long, value_name = "TIME")]
        at: Option<chrono::DateTime<chrono::Utc>>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Table,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("attest-agent: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Collect {
            root,
            format,
            checks,
            at,
        } => {
            let host = match HostRoot::open(&root) {
                Ok(host) => host,
                Err(err) => return Ok(usage_error(&err)),
            };
            #[allow(clippy::disallowed_methods)] // the one place the collection time is read
            let now = at.unwrap_or_else(chrono::Utc::now);
            let report = match collect::collect(&host, now, &Thresholds::default(), &checks) {
                Ok(report) => report,
                Err(err) => return Ok(usage_error(&err)),
            };
            let text = match format {
                Format::Json => output::json(&report).context("encoding the report as JSON")?,
                Format::Table => output::table(&report, std::io::stdout().is_terminal()),
            };
            let mut stdout = std::io::stdout().lock();
            if let Err(err) = stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
            {
                // A closed pipe (`| head`) is not a failure of the agent.
                if err.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(err).context("writing the report");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn usage_error(err: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("attest-agent: {err}");
    ExitCode::from(EXIT_USAGE)
}
