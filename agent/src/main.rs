//! `attest-agent`: the command line. Everything it does lives in the library.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use attest_agent::backoff::{Backoff, SplitMix64};
use attest_agent::checks::Thresholds;
use attest_agent::config::{self, Config};
use attest_agent::host::{Captures, Host};
use attest_agent::service::{self, Agent, Clock as _, SystemClock};
use attest_agent::spool::Spool;
use attest_agent::state::{self, StateDir};
use attest_agent::tls::{Pin, Trust};
use attest_agent::{collect, enroll, output};
use clap::{Args, Parser, Subcommand, ValueEnum};

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
        /// The agent's configuration file whose thresholds apply (default: the
        /// thresholds of /etc/attest/agent.toml when it exists, as `run` uses them).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Answer commands and api calls from these captures instead of running them
        /// (`DIR/_captures` of a captured root; needs `--root`). The report is marked
        /// `agent.replay` and a collector never counts it as evidence.
        #[arg(long, value_name = "DIR")]
        replay: Option<PathBuf>,
    },
    /// Record this Mac or Windows host as a fixture root: every live source of the
    /// source table once, and the files the checks read, never a secret.
    #[cfg(any(target_os = "macos", windows))]
    Capture {
        /// A new or empty directory.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Enroll this agent with a collector: create its key, register it, store the
    /// agent id, server and trust.
    Enroll {
        /// The collector's URL, e.g. https://collector.example:8443 (default: `server`
        /// from the config file).
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// The enrollment token from `attest-collector token create`; `-` reads it
        /// from standard input. Prefer `--token-file` or `-`: a token on the command
        /// line is visible to every local user in the process list.
        #[arg(
            long,
            value_name = "TOKEN",
            required_unless_present = "token_file",
            conflicts_with = "token_file"
        )]
        token: Option<String>,
        /// Read the enrollment token from this file (its first line).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Trust the collector's certificate if it chains to a CA in this PEM file.
        #[arg(long, value_name = "FILE", conflicts_with = "pin")]
        ca_cert: Option<PathBuf>,
        /// Trust exactly the certificate with this SHA-256 fingerprint (what
        /// `attest-collector fingerprint` prints).
        #[arg(long, value_name = "SHA256")]
        pin: Option<String>,
        /// Enroll again although already enrolled (waiting reports are quarantined).
        #[arg(long)]
        force: bool,
        /// Take the host's identity from the files under this directory instead of
        /// / (for a lab agent that reports a captured root with `run --once --root`).
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        /// With `--root`: answer commands and api calls from these captures, as `run
        /// --once --root DIR --replay CAPTURES` will (the identity then matches the
        /// replayed reports).
        #[arg(long, value_name = "DIR")]
        replay: Option<PathBuf>,
        #[command(flatten)]
        paths: Paths,
    },
    /// Run the service: collect on a schedule, sign, spool, deliver; stops on SIGTERM
    /// or Ctrl-C.
    Run {
        /// Collect once, deliver everything in the spool, and exit (non-zero if
        /// anything stayed undelivered).
        #[arg(long)]
        once: bool,
        /// With `--once`: judge the host under this directory instead of / (a lab
        /// agent enrolled with the same `--root`).
        #[arg(long, value_name = "DIR", requires = "once")]
        root: Option<PathBuf>,
        /// With `--once --root`: answer commands and api calls from these captures;
        /// the report is marked `agent.replay` and never counted as evidence.
        #[arg(long, value_name = "DIR", requires_all = ["once", "root"])]
        replay: Option<PathBuf>,
        #[command(flatten)]
        paths: Paths,
    },
    /// Show enrollment, last collection, last upload, spool depth and the last error.
    Status {
        /// `text` for people, `json` for programs (one object; the fields are
        /// documented in docs/agent.md)
        #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
        format: StatusFormat,
        #[command(flatten)]
        paths: Paths,
    },
    /// Check the configuration file (and the key's permissions) without starting.
    Validate {
        #[command(flatten)]
        paths: Paths,
    },
    /// The Windows Update Agent's offline search, printed as JSON: the helper child
    /// the agent runs for `win.wua.snapshot` (not for people).
    #[cfg(windows)]
    #[command(name = "wua-snapshot", hide = true)]
    WuaSnapshot,
    /// Install or remove the Windows service.
    #[cfg(windows)]
    Service {
        #[command(subcommand)]
        action: attest_agent::winservice::Action,
    },
}

#[derive(Args, Clone)]
struct Paths {
    /// The configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The state directory (key, enrollment, spool).
    #[arg(long, value_name = "DIR", default_value = state::DEFAULT_DIR)]
    state_dir: PathBuf,
}

impl Paths {
    /// Loads the configuration; a missing default file means every default.
    fn config(&self) -> Result<Config, config::ConfigError> {
        let env = |k: &str| std::env::var(k).ok();
        match &self.config {
            Some(path) => config::load(path, true, &env),
            None => config::load(std::path::Path::new(config::DEFAULT_PATH), false, &env),
        }
    }

    fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH))
    }
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
            config,
            replay,
        } => {
            let host = match open_host(&root, replay.as_deref()) {
                Ok(host) => host,
                Err(err) => return Ok(usage_error(&err)),
            };
            let (thresholds, used) = match collect_thresholds(config.as_deref()) {
                Ok(found) => found,
                Err(err) => return Ok(usage_error(&err)),
            };
            #[allow(clippy::disallowed_methods)] // the one place the collection time is read
            let now = at.unwrap_or_else(chrono::Utc::now);
            let report = match collect::collect(&host, now, &thresholds, &checks) {
                Ok(report) => report,
                Err(err) => return Ok(usage_error(&err)),
            };
            // Which thresholds decided, so that a printed verdict can be compared with
            // what `run` signs (the values are in each result's facts too).
            eprintln!("attest-agent: {used}");
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
        Command::Enroll {
            server,
            token,
            token_file,
            ca_cert,
            pin,
            force,
            root,
            replay,
            paths,
        } => {
            let token = match read_token(token.as_deref(), token_file.as_deref()) {
                Ok(token) => token,
                Err(err) => return Ok(usage_error(&err)),
            };
            let config = match paths.config() {
                Ok(config) => config,
                Err(err) => return Ok(usage_error(&err)),
            };
            init_logging(&config);
            let server = match server.map(|s| config::parse_server_url(&s)) {
                Some(Ok(url)) => url,
                Some(Err(err)) => return Ok(usage_error(&format!("--server {err}"))),
                None => match config.server.clone() {
                    Some(url) => url,
                    None => {
                        return Ok(usage_error(
                            &"no collector given: pass --server URL (or set server in the config file)",
                        ));
                    }
                },
            };
            let trust = match (ca_cert, pin) {
                (Some(ca), _) => Trust::CaCert(ca),
                (None, Some(pin)) => match pin.parse::<Pin>() {
                    Ok(pin) => Trust::Pin(pin),
                    Err(err) => return Ok(usage_error(&format!("--pin: {err}"))),
                },
                (None, None) => config.trust.clone().unwrap_or(Trust::System),
            };
            let options = enroll::EnrollOptions {
                server,
                token,
                trust,
                proxy: config.proxy.clone(),
                force,
            };
            let host = match open_host(&root, replay.as_deref()) {
                Ok(host) => host,
                Err(err) => return Ok(usage_error(&err)),
            };
            let now = SystemClock.now();
            let host_info =
                collect::collect(&host, now, &config.thresholds, &["inventory.host".into()])
                    .map(|r| r.host)
                    .context("reading the host's facts")?;
            let seed = random_seed();
            let state = StateDir::new(&paths.state_dir);
            let runtime = runtime()?;
            match runtime.block_on(enroll::enroll(&state, &options, host_info, now, seed)) {
                Ok(enrollment) => {
                    println!(
                        "enrolled as {} with {} (trusting {})",
                        enrollment.agent_id, enrollment.server, enrollment.trust
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(err) => {
                    eprintln!("attest-agent: {err}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Run {
            once,
            root,
            replay,
            paths,
        } => {
            let config = match paths.config() {
                Ok(config) => config,
                Err(err) => return Ok(usage_error(&err)),
            };
            init_logging(&config);
            let root = root.unwrap_or_else(|| PathBuf::from("/"));
            let host = match open_host(&root, replay.as_deref()) {
                Ok(host) => host,
                Err(err) => return Ok(usage_error(&err)),
            };
            let agent = match Agent::open(StateDir::new(&paths.state_dir), config, host) {
                Ok(agent) => agent,
                // Another agent at work is no mistake in the command line.
                Err(err @ service::ServiceError::State(state::StateError::Locked { .. })) => {
                    eprintln!("attest-agent: {err}");
                    return Ok(ExitCode::FAILURE);
                }
                Err(err) => return Ok(usage_error(&err)),
            };
            let runtime = runtime()?;
            if once {
                let outcome = runtime.block_on(service::run_once(&agent, &SystemClock))?;
                if let Some(seq) = outcome.collected {
                    eprintln!("attest-agent: collected report seq {seq}");
                }
                eprintln!(
                    "attest-agent: delivered {}, quarantined {}, waiting in the spool {}",
                    outcome.delivered, outcome.quarantined, outcome.left
                );
                if outcome.collected.is_none() || outcome.left > 0 {
                    for why in [outcome.collect_error, outcome.stopped]
                        .into_iter()
                        .flatten()
                    {
                        eprintln!("attest-agent: {why}");
                    }
                    return Ok(ExitCode::FAILURE);
                }
                Ok(ExitCode::SUCCESS)
            } else {
                let mut rng = SplitMix64::from_entropy();
                runtime.block_on(async {
                    // Installed before the first collection (see `shutdown_signal`).
                    let shutdown = service::shutdown_signal();
                    service::run(&agent, &SystemClock, &mut rng, Backoff::default(), shutdown).await
                })?;
                Ok(ExitCode::SUCCESS)
            }
        }
        Command::Status { format, paths } => status(&paths, format),
        Command::Validate { paths } => {
            let path = paths.config_path();
            let config = match paths.config() {
                Ok(config) => config,
                Err(err) => return Ok(usage_error(&err)),
            };
            let state = StateDir::new(&paths.state_dir);
            if state.has_key()
                && let Err(err) = state.load_key()
            {
                return Ok(usage_error(&err));
            }
            let shown = if path.exists() {
                path.display().to_string()
            } else {
                format!("{} (absent: defaults)", path.display())
            };
            println!(
                "{shown}: OK (interval {}s, jitter {}s, spool bound {} bytes, {} checks disabled)",
                config.interval.as_secs(),
                config.jitter.as_secs(),
                config.spool_max_bytes,
                config.disabled_checks.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(any(target_os = "macos", windows))]
        Command::Capture { out } => {
            // `/` is the system drive's root on Windows (Host::open).
            let host = Host::open(std::path::Path::new("/")).context("opening the host root")?;
            let now = SystemClock.now();
            let mut captured_on = serde_json::Map::new();
            captured_on.insert("agent".into(), collect::AGENT_VERSION.into());
            if let Some(v) = sysinfo::System::long_os_version() {
                captured_on.insert("os".into(), v.into());
            }
            match attest_agent::capture::capture(&host, &out, now, captured_on) {
                Ok(summary) => {
                    for (id, outcome) in &summary.sources {
                        println!("{id}: {outcome}");
                    }
                    for path in &summary.files {
                        println!("copied {path}");
                    }
                    for (path, why) in &summary.skipped {
                        println!("skipped {path}: {why}");
                    }
                    println!(
                        "wrote {}: review it before it becomes a fixture (docs/agent.md, \"Captures and replay\")",
                        out.display()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(err) => Ok(usage_error(&err)),
            }
        }
        #[cfg(windows)]
        Command::WuaSnapshot => {
            let snapshot =
                attest_agent::host::win_com::wua_snapshot_child().map_err(anyhow::Error::msg)?;
            println!("{snapshot}");
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(windows)]
        Command::Service { action } => {
            attest_agent::winservice::main(action)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// How `status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StatusFormat {
    Text,
    Json,
}

fn status(paths: &Paths, format: StatusFormat) -> anyhow::Result<ExitCode> {
    let state = StateDir::new(&paths.state_dir);
    let enrollment = state.load_enrollment()?;
    let status = state.load_status()?;
    let spool = Spool::inspect(state.spool_dir());
    let (depth, bytes) = spool.depth()?;
    let quarantined = spool.quarantined()?;
    if format == StatusFormat::Json {
        let event = |e: &Option<state::Event>| {
            e.as_ref()
                .map(|e| serde_json::json!({"at": e.at.to_rfc3339(), "seq": e.seq}))
        };
        let doc = serde_json::json!({
            "enrollment": enrollment.as_ref().map(|e| serde_json::json!({
                "agent_id": e.agent_id,
                "server": e.server,
                "trust": &e.trust,
                "enrolled_at": e.enrolled_at.to_rfc3339(),
            })),
            "last_collection": event(&status.last_collection),
            "last_upload": event(&status.last_upload),
            "spool": {
                "waiting": depth,
                "bytes": bytes,
                "quarantined": quarantined,
                "dropped": status.dropped_reports,
            },
            "last_error": status.last_error.as_ref().map(|e| serde_json::json!({
                "at": e.at.to_rfc3339(),
                "message": e.message,
            })),
        });
        println!("{doc}");
        return Ok(ExitCode::SUCCESS);
    }
    match &enrollment {
        Some(e) => println!(
            "enrolled:        yes, agent {} with {} (trusting {}), since {}",
            e.agent_id,
            e.server,
            e.trust,
            e.enrolled_at.to_rfc3339()
        ),
        None => {
            println!("enrolled:        no (run `attest-agent enroll --server URL --token TOKEN`)")
        }
    }
    let event = |e: &Option<state::Event>| match e {
        Some(e) => format!("{} (seq {})", e.at.to_rfc3339(), e.seq),
        None => "never".to_owned(),
    };
    println!("last collection: {}", event(&status.last_collection));
    println!("last upload:     {}", event(&status.last_upload));
    println!(
        "spool:           {depth} report(s) waiting ({bytes} bytes), {quarantined} quarantined, {} dropped by the size bound",
        status.dropped_reports
    );
    match &status.last_error {
        Some(e) => println!("last error:      {} {}", e.at.to_rfc3339(), e.message),
        None => println!("last error:      none"),
    }
    Ok(ExitCode::SUCCESS)
}

/// A current-thread runtime: one thread is all the service needs.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// 32 bytes from the operating system's random source, for a new key.
fn random_seed() -> [u8; 32] {
    use rand_core::RngCore as _;
    let mut seed = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut seed);
    seed
}

/// Logs to standard error at the configured level, as text or JSON lines;
/// `RUST_LOG` overrides the level.
fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(config.log_level.as_str()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if config.log_json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// The thresholds `collect` applies, and a line saying where they come from: the
/// file given with `--config` (which must exist and be valid), else the default
/// configuration file when it exists, else the defaults. A default file that
/// exists but cannot be used (a normal user cannot read it) leaves the defaults,
/// and the line says why.
fn collect_thresholds(
    explicit: Option<&std::path::Path>,
) -> Result<(Thresholds, String), config::ConfigError> {
    let env = |k: &str| std::env::var(k).ok();
    let describe = |t: &Thresholds| {
        let esu = match t.windows_esu_licence.len() {
            0 => String::new(),
            n => format!(", windows_esu_licence {n}"),
        };
        format!(
            "password_max_days {}, password_min_length {}, lockout_max_deny {}, index_max_age_days {}, screen_lock_max_idle_secs {}, xprotect_max_age_days {}, av_signature_max_age_days {}{esu}",
            t.password_max_days,
            t.password_min_length,
            t.lockout_max_deny,
            t.index_max_age_days,
            t.screen_lock_max_idle_secs,
            t.xprotect_max_age_days,
            t.av_signature_max_age_days
        )
    };
    if let Some(path) = explicit {
        let config = config::load(path, true, &env)?;
        let line = format!(
            "thresholds from {}: {}",
            path.display(),
            describe(&config.thresholds)
        );
        return Ok((config.thresholds, line));
    }
    let path = std::path::Path::new(config::DEFAULT_PATH);
    let defaults = Thresholds::default();
    if !path.exists() {
        let line = format!(
            "default thresholds (no {}): {}",
            path.display(),
            describe(&defaults)
        );
        return Ok((defaults, line));
    }
    match config::load(path, false, &env) {
        Ok(config) => {
            let line = format!(
                "thresholds from {}: {}",
                path.display(),
                describe(&config.thresholds)
            );
            Ok((config.thresholds, line))
        }
        Err(err) => {
            let line = format!(
                "default thresholds ({err}; `run` may judge differently): {}",
                describe(&defaults)
            );
            Ok((defaults, line))
        }
    }
}

/// The enrollment token: `--token TOKEN`, `--token -` (standard input) or
/// `--token-file FILE`. From a file or standard input, the first line, white space
/// around it removed; an empty token is refused.
fn read_token(token: Option<&str>, file: Option<&std::path::Path>) -> Result<String, String> {
    use std::io::Read as _;
    let (text, from) = match (token, file) {
        (Some("-"), _) => {
            let mut text = String::new();
            std::io::stdin()
                .lock()
                .take(64 * 1024)
                .read_to_string(&mut text)
                .map_err(|e| format!("--token -: cannot read standard input: {e}"))?;
            (text, "--token - (standard input)".to_owned())
        }
        (Some(token), _) => (token.to_owned(), "--token".to_owned()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--token-file {}: cannot read: {e}", path.display()))?;
            (text, format!("--token-file {}", path.display()))
        }
        (None, None) => {
            return Err("no enrollment token: pass --token-file FILE, --token - (standard input) or --token TOKEN".to_owned());
        }
    };
    let first = text.lines().next().unwrap_or("").trim();
    if first.is_empty() {
        return Err(format!(
            "{from}: the enrollment token is empty; get one with `attest-collector token create`"
        ));
    }
    Ok(first.to_owned())
}

/// The host under `root`, its commands and api calls answered from the captures
/// in `replay` when given (which needs a root other than the live one).
fn open_host(root: &std::path::Path, replay: Option<&std::path::Path>) -> Result<Host, String> {
    let host = Host::open(root).map_err(|e| e.to_string())?;
    let Some(dir) = replay else {
        return Ok(host);
    };
    if host.is_live() {
        return Err(
            "--replay needs --root DIR: captures describe another host's files, not this one's"
                .to_owned(),
        );
    }
    let captures = Captures::open(dir).map_err(|e| e.to_string())?;
    host.with_captures(captures, dir).map_err(|e| e.to_string())
}

fn usage_error(err: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("attest-agent: {err}");
    ExitCode::from(EXIT_USAGE)
}
