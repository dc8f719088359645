//! `attest-collector`: the command line. Everything it does is in the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use attest_collector::clock::{Clock, SystemClock};
use attest_collector::config::{Config, Overrides, parse_duration};
use attest_collector::store::Role;
use attest_collector::{accounts, admin, server, tls};
use clap::{Args, Parser, Subcommand};

/// mimalloc: the parse of every report allocates many small values; glibc's malloc
/// spent about an eighth of the collector's CPU on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "attest-collector",
    version,
    about = "Attest collector: enrollment, signed-evidence ingest, storage and the Merkle log"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
struct Common {
    /// Config file (TOML) [default: /etc/attest/collector.toml when it exists]
    #[arg(
        long,
        global = true,
        env = "ATTEST_COLLECTOR_CONFIG",
        value_name = "FILE"
    )]
    config: Option<PathBuf>,
    /// Data directory: SQLite database, keys, self-signed certificate
    #[arg(
        long,
        global = true,
        env = "ATTEST_COLLECTOR_DATA_DIR",
        value_name = "DIR"
    )]
    data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB [default: SQLite in the data dir]
    #[arg(
        long,
        global = true,
        env = "ATTEST_COLLECTOR_DATABASE",
        value_name = "URL"
    )]
    database: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API over HTTPS.
    Serve(ServeArgs),
    /// Enrollment tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Enrolled agents.
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// API tokens for the authenticated API.
    #[command(subcommand)]
    Apitoken(ApiTokenCommand),
    /// Dashboard users (sign-in at /ui/).
    #[command(subcommand)]
    User(UserCommand),
    /// Print the SHA-256 fingerprint of the TLS certificate (for agents to pin).
    Fingerprint,
    /// Check the configuration without starting.
    Validate,
    /// Check the stored data: every report whole, the Merkle log consistent.
    Fsck,
    #[command(flatten)]
    Reports(attest_collector::cli::ReportsCommand),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on [default: 0.0.0.0:8443]
    #[arg(long, env = "ATTEST_COLLECTOR_LISTEN", value_name = "ADDR")]
    listen: Option<String>,
    /// TLS certificate chain (PEM) instead of the self-signed one
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM), mode 0600 or 0640
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP (tests only)
    #[arg(long)]
    insecure_http: bool,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an enrollment token; prints only the token on stdout.
    Create {
        /// How many agents may enroll with it
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// Validity, e.g. 30m, 24h, 7d [default: no expiry]
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        expires: Option<std::time::Duration>,
    },
    /// List enrollment tokens (never the secrets).
    List,
    /// Revoke an enrollment token by id.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
enum AgentsCommand {
    /// List enrolled agents.
    List,
    /// Revoke an agent: its reports are refused from now on.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
enum ApiTokenCommand {
    /// Create an API token; prints only the token on stdout.
    Create {
        #[arg(long, value_parser = ["admin", "auditor"])]
        role: String,
        /// A note saying who or what the token is for
        #[arg(long, default_value = "")]
        note: String,
        /// Validity, e.g. 30m, 24h, 90d [default: until revoked]
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        expires: Option<std::time::Duration>,
    },
    /// List API tokens: id, role, created, expiry, last use, revocation, note (never
    /// the secret).
    List,
    /// Revoke an API token by id: refused from the next request on, by every collector.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a dashboard user. Without --password-stdin a one-time password is made and
    /// printed on stdout (only there).
    Add {
        name: String,
        #[arg(long, value_parser = ["admin", "auditor"])]
        role: String,
        /// Read the password from the first line of stdin
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password; their sessions end. Without --password-stdin a one-time
    /// password is made and printed on stdout.
    Passwd {
        name: String,
        /// Read the password from the first line of stdin
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: sign-in refused, sessions ended at once.
    Disable { name: String },
    /// List users: name, role, created, password changed, disabled.
    List,
}

/// The password of `user add` / `user passwd`: stdin's first line, or a new one-time
/// password (`true`: made here, so printed).
fn password_of(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if !from_stdin {
        return Ok((attest_collector::users::one_time_password(), true));
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!("no password on stdin");
    }
    Ok((password, false))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("attest-collector: {}", error_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error as one line: its causes joined by `: `, each once (a message that already
/// quotes its cause, like `listening on ADDR: Address in use`, is not followed by the
/// cause again).
fn error_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ATTEST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .fmt_fields(attest_collector::logsafe::fields())
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

fn overrides(common: &Common, serve: Option<&ServeArgs>) -> Overrides {
    Overrides {
        config: common.config.clone(),
        listen: serve.and_then(|s| s.listen.clone()),
        data_dir: common.data_dir.clone(),
        database: common.database.clone(),
        tls_cert: serve.and_then(|s| s.tls_cert.clone()),
        tls_key: serve.and_then(|s| s.tls_key.clone()),
        insecure_http: serve.is_some_and(|s| s.insecure_http),
    }
}

/// Who runs an admin command, for the audit log.
fn cli_actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

/// A note on one line of a table (control characters shown as spaces).
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn millis_to_text(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| "-".into())
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Reports(command) = cli.command {
        return attest_collector::cli::run(command, &overrides(&cli.common, None));
    }
    let serve_args = match &cli.command {
        Command::Serve(a) => Some(a),
        _ => None,
    };
    let config = Config::load(&overrides(&cli.common, serve_args)).context("configuration")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command {
        Command::Serve(_) => runtime.block_on(async {
            let shutdown = server::shutdown_signal().await?;
            server::serve(config, clock, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }),
        Command::Validate => {
            match &config.source {
                Some(path) => eprintln!("attest-collector: {} is valid", path.display()),
                None => eprintln!("attest-collector: no config file; the defaults are valid"),
            }
            eprintln!(
                "listen {}  data_dir {}  database {}  tls {}",
                config.listen,
                config.data_dir.display(),
                redact_url(&config.database),
                match (&config.tls, config.insecure_http) {
                    (_, true) => "off (--insecure-http)".to_owned(),
                    (Some((c, _)), _) => c.display().to_string(),
                    (None, _) => "self-signed in the data dir".to_owned(),
                }
            );
            let n = &config.net;
            eprintln!(
                "limits: body_bytes {}  max_connections {}  max_connections_per_ip {}  \
                 request_timeout_seconds {}  min_body_rate {}  ip_failures_per_minute {}  \
                 ip_failure_burst {}  body_memory_bytes {}  rate_per_second {}  rate_burst {}",
                config.body_limit,
                n.max_connections,
                n.max_connections_per_ip,
                n.request_timeout.as_secs(),
                n.min_body_rate,
                n.ip_failures_per_minute,
                n.ip_failure_burst,
                n.body_memory,
                config.rate_per_second,
                config.rate_burst
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Fingerprint => {
            let cert = match &config.tls {
                Some((c, _)) => c.clone(),
                None => tls::self_signed_paths(&config.data_dir).0,
            };
            if !cert.exists() {
                bail!(
                    "{} does not exist yet: `attest-collector serve` creates it on first start",
                    cert.display()
                );
            }
            println!("{}", tls::fingerprint_of(&cert)?);
            Ok(ExitCode::SUCCESS)
        }
        command => runtime.block_on(admin_command(config, clock, command)),
    }
}

/// Hides a password in a database URL.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

async fn admin_command(
    config: Config,
    clock: Arc<dyn Clock>,
    command: Command,
) -> anyhow::Result<ExitCode> {
    let store = server::open_existing_store(&config).await?;
    let now = clock.now_millis();
    let actor = cli_actor();
    let s = store.as_ref();
    let code = match command {
        Command::Token(TokenCommand::Create { uses, expires }) => {
            if uses == 0 {
                bail!("--uses must be at least 1");
            }
            let t = admin::create_enroll_token(s, now, &actor, uses, expires).await?;
            eprintln!(
                "attest-collector: enrollment token {} created: {uses} use(s), expires {}",
                t.id,
                millis_to_text(t.expires_at)
            );
            println!("{}", t.token);
            ExitCode::SUCCESS
        }
        Command::Token(TokenCommand::List) => {
            println!(
                "{:<18} {:>5} {:>5}  {:<20}  {:<20}  REVOKED",
                "ID", "USES", "LEFT", "CREATED", "EXPIRES"
            );
            for t in s.list_enroll_tokens().await? {
                println!(
                    "{:<18} {:>5} {:>5}  {:<20}  {:<20}  {}",
                    t.id,
                    t.uses_total,
                    t.uses_left,
                    millis_to_text(Some(t.created_at)),
                    millis_to_text(t.expires_at),
                    millis_to_text(t.revoked_at)
                );
            }
            ExitCode::SUCCESS
        }
        Command::Token(TokenCommand::Revoke { id }) => {
            if !admin::revoke_enroll_token(s, now, &actor, &id).await? {
                bail!("no live enrollment token {id:?}");
            }
            eprintln!("attest-collector: enrollment token {id} revoked");
            ExitCode::SUCCESS
        }
        Command::Agents(AgentsCommand::List) => {
            println!(
                "{:<36} {:<24} {:>8}  {:<20}  REVOKED",
                "AGENT", "HOSTNAME", "HEAD", "LAST REPORT"
            );
            let mut after: Option<String> = None;
            loop {
                let page = s.list_agents(after.as_deref(), 1000).await?;
                for a in &page {
                    println!(
                        "{:<36} {:<24} {:>8}  {:<20}  {}",
                        a.agent_id,
                        a.hostname,
                        a.head_seq.map_or("-".into(), |h| h.to_string()),
                        millis_to_text(a.last_report_at),
                        millis_to_text(a.revoked_at)
                    );
                }
                match page.last() {
                    Some(last) if page.len() == 1000 => after = Some(last.agent_id.clone()),
                    _ => break,
                }
            }
            ExitCode::SUCCESS
        }
        Command::Agents(AgentsCommand::Revoke { id }) => {
            if !admin::revoke_agent(s, now, &actor, &id).await? {
                bail!("no enrolled, unrevoked agent {id:?}");
            }
            eprintln!("attest-collector: agent {id} revoked");
            ExitCode::SUCCESS
        }
        Command::Apitoken(ApiTokenCommand::Create {
            role,
            note,
            expires,
        }) => {
            let role = Role::parse(&role).context("role must be admin or auditor")?;
            let t = admin::create_api_token(s, now, &actor, role, &note, expires).await?;
            eprintln!(
                "attest-collector: API token {} created with role {}, expires {}",
                t.id,
                role.as_str(),
                millis_to_text(t.expires_at)
            );
            println!("{}", t.token);
            ExitCode::SUCCESS
        }
        Command::Apitoken(ApiTokenCommand::List) => {
            println!(
                "{:<16}  {:<7}  {:<20}  {:<20}  {:<20}  {:<20}  NOTE",
                "ID", "ROLE", "CREATED", "EXPIRES", "LAST USED", "REVOKED"
            );
            for t in s.list_api_tokens().await? {
                println!(
                    "{:<16}  {:<7}  {:<20}  {:<20}  {:<20}  {:<20}  {}",
                    t.id,
                    t.role.as_str(),
                    millis_to_text(Some(t.created_at)),
                    millis_to_text(t.expires_at),
                    millis_to_text(t.last_used_at),
                    millis_to_text(t.revoked_at),
                    one_line(&t.note)
                );
            }
            ExitCode::SUCCESS
        }
        Command::Apitoken(ApiTokenCommand::Revoke { id }) => {
            if !admin::revoke_api_token(s, now, &actor, &id).await? {
                bail!("no live API token {id:?}");
            }
            eprintln!("attest-collector: API token {id} revoked");
            ExitCode::SUCCESS
        }
        Command::User(UserCommand::Add {
            name,
            role,
            password_stdin,
        }) => {
            let role = Role::parse(&role).context("role must be admin or auditor")?;
            let (password, made) = password_of(password_stdin)?;
            accounts::add_user(s, now, &actor, &name, role, &password).await?;
            eprintln!(
                "attest-collector: user {name} added with role {}",
                role.as_str()
            );
            if made {
                println!("{password}");
            }
            ExitCode::SUCCESS
        }
        Command::User(UserCommand::Passwd {
            name,
            password_stdin,
        }) => {
            let (password, made) = password_of(password_stdin)?;
            accounts::set_password(s, now, &actor, &name, &password).await?;
            eprintln!("attest-collector: password of {name} set; their sessions ended");
            if made {
                println!("{password}");
            }
            ExitCode::SUCCESS
        }
        Command::User(UserCommand::Disable { name }) => {
            accounts::disable_user(s, now, &actor, &name).await?;
            eprintln!("attest-collector: user {name} disabled; their sessions ended");
            ExitCode::SUCCESS
        }
        Command::User(UserCommand::List) => {
            println!(
                "{:<24}  {:<7}  {:<20}  {:<20}  DISABLED",
                "NAME", "ROLE", "CREATED", "PASSWORD SET"
            );
            for u in accounts::list_users(s).await? {
                println!(
                    "{:<24}  {:<7}  {:<20}  {:<20}  {}",
                    u.name,
                    u.role.as_str(),
                    millis_to_text(Some(u.created_at)),
                    millis_to_text(Some(u.password_changed_at)),
                    millis_to_text(u.disabled_at)
                );
            }
            ExitCode::SUCCESS
        }
        Command::Fsck => {
            let report = s.integrity_check().await?;
            eprintln!(
                "attest-collector: {} reports, log of {} leaves, {} inventory lists ({} damaged)",
                report.reports,
                report.tree_size,
                report.inventory_lists,
                report.damaged_lists.len()
            );
            for p in &report.problems {
                println!("{p}");
            }
            if report.problems.is_empty() {
                eprintln!("attest-collector: no problems found");
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Serve(_) | Command::Validate | Command::Fingerprint | Command::Reports(_) => {
            ExitCode::SUCCESS
        }
    };
    store.close().await;
    Ok(code)
}
