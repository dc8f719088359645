//! The command line of reports, waivers, evidence bundles and the demo:
//! `attest-collector report|waiver|export|verify|log-key|demo`. `main.rs` flattens
//! [`ReportsCommand`] into its commands and hands it to [`run`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use clap::{Args, Subcommand};

use crate::catalog::Catalog;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Overrides, parse_duration};
use crate::evaluate::DEFAULT_WINDOW_MS;
use crate::fleet::WaiverScope;
use crate::report::{self, Format, Options, Progress, When, rfc3339};
use crate::store::Millis;
use crate::store::reporting::{self, Stores};
use crate::waivers::{self, WaiverRequest};

/// Reports, waivers, bundles and the demo.
#[derive(Debug, Subcommand)]
pub enum ReportsCommand {
    /// Write a fleet report: HTML, CSV, JSON or OSCAL assessment results.
    Report(ReportArgs),
    /// Waivers: accepted exceptions to a check or a control.
    #[command(subcommand)]
    Waiver(WaiverCommand),
    /// Write an evidence bundle (tar.gz): the cited signed envelopes, agent keys, a
    /// signed log checkpoint with inclusion proofs, and the report in HTML and JSON.
    Export(ExportArgs),
    /// Verify an evidence bundle offline (no database), safely whoever made it.
    ///
    /// Prints VERIFIED only when everything checks out and the collector key that signed it is
    /// one you trust (--collector-key, or a line of the trust file); FAILED names every
    /// altered, added or removed file; UNPINNED when all checks out but the signer is not
    /// trusted. Exit status: 0 verified, 1 problems found, 2 not checked (the file cannot
    /// be read, is not a bundle as `export` writes it, or exceeds a limit; bad
    /// arguments), 3 unpinned.
    Verify(VerifyArgs),
    /// Print this collector's log-signing key id, as `verify --collector-key` takes it.
    ///
    /// The log-signing key is the collector key that signs log checkpoints and evidence
    /// bundles. Prints its key id alone on stdout, in the form `verify --collector-key`
    /// and trust files take (--pem: the public key as PEM instead); its file and base64
    /// public key on stderr. Never creates a key.
    LogKey(LogKeyArgs),
    /// Retention: drop the envelopes of the reports received before a time, keeping
    /// the Merkle log verifiable; the evidence bundle of the pruned period is written
    /// and checked first.
    ///
    /// A pruned report keeps its row (log index, agent, seq, payload SHA-256, leaf hash,
    /// times): checkpoints and inclusion proofs, of pruned leaves too, still verify, and
    /// every read of its envelope answers that it was pruned. An agent's newest report
    /// and newest counted report are never pruned; waivers, the audit log, chain events
    /// and agents are kept. Refused for a time in the future, or inside the current audit
    /// period ([retention] audit_period_start) without --force. Runs in bounded
    /// transactions while the collector serves; run it again to finish one that was
    /// interrupted.
    Prune(PruneArgs),
    /// First run: a collector on loopback (data in ./attest-demo), this machine
    /// enrolled and reporting over TLS, the HTML report written; serves until Ctrl-C.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address to listen on [default: a free port on 127.0.0.1]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The bundle to write (.tar.gz)
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub eval: EvalArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The bundle (.tar.gz, as `export` writes it)
    pub bundle: PathBuf,
    /// The collector log key you trust, and no other: its key id (64 hex digits, as
    /// `attest-collector log-key` prints it), its base64 public key, or a file holding
    /// either or a PEM public key
    #[arg(long, value_name = "KEY|FILE")]
    pub collector_key: Option<String>,
    /// The trust file, used when --collector-key is not given: one trusted collector key
    /// a line (key id or base64 public key, then a comment); `#` starts a comment line
    /// [default: $XDG_CONFIG_HOME/attest/trusted-collectors or
    /// ~/.config/attest/trusted-collectors, if it exists]
    #[arg(long, value_name = "FILE", env = "ATTEST_TRUST_FILE")]
    pub trust: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("bundle").args(["export", "no_export"]))]
pub struct PruneArgs {
    /// Prune the reports received before TIME (RFC 3339, or YYYY-MM-DD for the start of
    /// that day, UTC) [default: [retention] keep_days days ago]
    #[arg(long, value_name = "TIME", value_parser = parse_start)]
    pub before: Option<Millis>,
    /// Write the evidence bundle of the pruned period to FILE (.tar.gz) first and check
    /// it; nothing is pruned unless it verifies and holds every report to prune
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// Prune without writing the bundle first
    #[arg(long)]
    pub no_export: bool,
    /// Prune inside the current audit period ([retention] audit_period_start)
    #[arg(long)]
    pub force: bool,
    /// Print what would be pruned and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// SQLite: VACUUM the database afterwards to give the freed space back to the file
    /// system (blocks ingest while it runs; PostgreSQL: autovacuum reuses the space)
    #[arg(long)]
    pub vacuum: bool,
    /// Reports per transaction
    #[arg(long, value_name = "N", default_value_t = crate::retention::DEFAULT_STEP)]
    pub step: i64,
}

#[derive(Debug, Args)]
pub struct LogKeyArgs {
    /// Print the public key as PEM (SubjectPublicKeyInfo) instead of the key id
    #[arg(long)]
    pub pem: bool,
}

/// Which time a report shows and how it maps checks to controls.
#[derive(Debug, Args, Clone)]
pub struct EvalArgs {
    /// The state as it was at TIME (RFC 3339, or YYYY-MM-DD for the end of that day,
    /// UTC) [default: now]
    #[arg(long, value_name = "TIME", value_parser = parse_time, conflicts_with = "period")]
    pub as_of: Option<Millis>,
    /// A period FROM..TO (times or dates; a date as FROM is its start, as TO its end):
    /// the share satisfied per day and every change of state
    #[arg(long, value_name = "FROM..TO", value_parser = parse_period)]
    pub period: Option<(Millis, Millis)>,
    /// Evidence older than this is stale, e.g. 24h, 7d
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "7d")]
    pub window: std::time::Duration,
    /// A mapping file replacing or extending the built-in check → control mapping
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// The organisation whose fleet this is, named on the report
    #[arg(long, value_name = "NAME")]
    pub organization: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[arg(long, value_parser = ["html", "csv", "json", "oscal"])]
    pub format: String,
    /// The file to write
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub eval: EvalArgs,
    /// Per control, how many hosts not satisfying it the HTML report details (the CSV
    /// and JSON reports always list all)
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub html_hosts: usize,
}

#[derive(Debug, Subcommand)]
pub enum WaiverCommand {
    /// Accept an exception: a check or a control, on every host or the ones named.
    Add(WaiverAddArgs),
    /// List waivers with their status now.
    List,
    /// Revoke a waiver: it stops applying now (reports of earlier times still show it).
    Revoke { id: String },
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("scope").required(true).args(["check", "control"]))]
#[command(group = clap::ArgGroup::new("until_when").required(true).args(["expires", "until"]))]
pub struct WaiverAddArgs {
    /// The check waived, e.g. system.screen_lock
    #[arg(long, value_name = "ID")]
    pub check: Option<String>,
    /// The control waived, e.g. 7.7
    #[arg(long, value_name = "ID")]
    pub control: Option<String>,
    /// A host it applies to (agent id or hostname; repeat for several) [default: every host]
    #[arg(long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// Why the exception is accepted
    #[arg(long, value_name = "TEXT")]
    pub justification: String,
    /// Who accepted the risk
    #[arg(long, value_name = "NAME")]
    pub approver: String,
    /// How long it applies, e.g. 90d
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub expires: Option<std::time::Duration>,
    /// Until when it applies (RFC 3339, or YYYY-MM-DD for the end of that day, UTC)
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<Millis>,
    /// The mapping whose checks and controls may be waived
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
}

fn end_of_day(d: NaiveDate) -> Millis {
    d.and_time(NaiveTime::MIN).and_utc().timestamp_millis() + 86_400_000 - 1
}

fn start_of_day(d: NaiveDate) -> Millis {
    d.and_time(NaiveTime::MIN).and_utc().timestamp_millis()
}

fn parse_instant(s: &str, date_as_end: bool) -> Result<Millis, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc).timestamp_millis());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(if date_as_end {
            end_of_day(d)
        } else {
            start_of_day(d)
        });
    }
    Err(format!(
        "{s:?} is not a time: use RFC 3339 (2026-11-25T14:00:00Z) or a date (2026-11-25)"
    ))
}

/// A time: RFC 3339, or a date meaning the start of that day (UTC).
pub fn parse_start(s: &str) -> Result<Millis, String> {
    parse_instant(s, false)
}

/// A time: RFC 3339, or a date meaning the end of that day (UTC).
pub fn parse_time(s: &str) -> Result<Millis, String> {
    parse_instant(s, true)
}

/// `FROM..TO`: a date as FROM is its start, as TO its end.
pub fn parse_period(s: &str) -> Result<(Millis, Millis), String> {
    let (from, to) = s.split_once("..").ok_or_else(|| {
        format!("{s:?} is not a period: use FROM..TO, e.g. 2026-10-01..2026-10-31")
    })?;
    let from = parse_instant(from, false)?;
    let to = parse_instant(to, true)?;
    if to <= from {
        return Err(format!("the period {s:?} ends before it starts"));
    }
    Ok((from, to))
}

/// A date given for today means "up to now": the end of today, which is still to
/// come, becomes `now`. Any other time after `now` stays as it is (and is refused).
fn today_is_now(t: Millis, now: Millis) -> Millis {
    let today = DateTime::from_timestamp_millis(now).map(|d| end_of_day(d.date_naive()));
    if t > now && Some(t) == today { now } else { t }
}

impl EvalArgs {
    /// The time or period asked for; `now` when neither. A date that is today means
    /// now.
    pub fn when(&self, now: Millis) -> anyhow::Result<When> {
        Ok(match (self.as_of, self.period) {
            (_, Some((from, to))) => {
                let to = today_is_now(to, now);
                if from >= to {
                    bail!("the period starts at {}, in the future", rfc3339(from));
                }
                if to > now {
                    bail!(
                        "the period ends at {}, in the future: end it at {} or earlier",
                        rfc3339(to),
                        rfc3339(now)
                    );
                }
                When::Period { from, to }
            }
            (Some(t), None) => {
                let t = today_is_now(t, now);
                if t > now {
                    bail!("--as-of {} is in the future", rfc3339(t));
                }
                When::AsOf(t)
            }
            (None, None) => When::AsOf(now),
        })
    }

    pub fn window_ms(&self) -> Millis {
        i64::try_from(self.window.as_millis()).unwrap_or(DEFAULT_WINDOW_MS)
    }

    pub fn catalog(&self) -> anyhow::Result<Catalog> {
        Ok(Catalog::load(self.mapping.as_deref())?)
    }
}

/// Who runs an admin command, for the audit log.
fn cli_actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

/// Opens the database of an existing collector (refusing one that holds none).
async fn open_stores(config: &Config) -> anyhow::Result<Stores> {
    crate::server::require_sqlite_file(config)?;
    // Reports read with one or two connections at a time, most pages once.
    let stores = reporting::open_one_shot(&config.database, config.db_max_connections.min(2))
        .await
        .context("opening the database")?;
    if let Err(e) = crate::server::require_served(config, stores.store.as_ref()).await {
        stores.store.close().await;
        return Err(e.into());
    }
    Ok(stores)
}

/// Runs a command. `overrides` are the global options (`--config`, `--data-dir`,
/// `--database`).
pub fn run(command: ReportsCommand, overrides: &Overrides) -> anyhow::Result<ExitCode> {
    let command = match command {
        ReportsCommand::Verify(args) => return Ok(verify_command(&args)),
        ReportsCommand::LogKey(args) => return log_key_command(overrides, &args),
        other => other,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match command {
        ReportsCommand::Report(args) => {
            let config = Config::load(overrides).context("configuration")?;
            runtime.block_on(report_command(&config, clock.as_ref(), args))
        }
        ReportsCommand::Waiver(cmd) => {
            let config = Config::load(overrides).context("configuration")?;
            runtime.block_on(waiver_command(&config, clock.as_ref(), cmd))
        }
        ReportsCommand::Export(args) => {
            let config = Config::load(overrides).context("configuration")?;
            runtime.block_on(export_command(&config, clock.as_ref(), args))
        }
        ReportsCommand::Prune(args) => {
            let config = Config::load(overrides).context("configuration")?;
            runtime.block_on(prune_command(&config, clock.as_ref(), args))
        }
        ReportsCommand::Verify(args) => Ok(verify_command(&args)),
        ReportsCommand::LogKey(args) => log_key_command(overrides, &args),
        ReportsCommand::Demo(args) => {
            runtime.block_on(crate::demo::run(overrides, args.listen, clock))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Loads the log-signing key of this collector's data directory, and checks that it is
/// the one its database knows.
async fn log_key(config: &Config, stores: &Stores) -> anyhow::Result<attest_proto::SigningKey> {
    let path = config.data_dir.join(crate::server::LOG_KEY_FILE);
    if !path.exists() {
        bail!(
            "{} does not exist: export runs on a collector's host with its data directory \
             (--data-dir), where `attest-collector serve` created the log-signing key",
            path.display()
        );
    }
    let (key, _) = crate::server::load_or_create_log_key(&config.data_dir)?;
    let ours = attest_proto::encode_public_key(&key.verifying_key());
    if let Some(stored) = stores.store.meta(report::LOG_KEY_META).await?
        && stored != ours
    {
        bail!(
            "{} is not the log key of this database ({stored}): use the data directory \
                 of a collector of this database",
            path.display()
        );
    }
    Ok(key)
}

async fn export_command(
    config: &Config,
    clock: &dyn Clock,
    args: ExportArgs,
) -> anyhow::Result<ExitCode> {
    let catalog = args.eval.catalog()?;
    let now = clock.now_millis();
    let opts = Options {
        when: args.eval.when(now)?,
        window: args.eval.window_ms(),
        generated_at: now,
        html_host_limit: 500,
        organization: args.eval.organization.clone(),
    };
    let stores = open_stores(config).await?;
    let result = async {
        crate::retention::check_not_pruned(stores.store.as_ref(), &opts.when).await?;
        let key = log_key(config, &stores).await?;
        let progress = Progress::on_terminal();
        Ok::<_, anyhow::Error>(
            report::bundle::export(&stores, &catalog, &opts, &key, &args.out, &progress).await?,
        )
    }
    .await;
    stores.store.close().await;
    let s = result?;
    eprintln!(
        "attest-collector: wrote {}: {} envelopes of {} agents, {} files, log of {} entries, \
         collector key {}",
        args.out.display(),
        s.envelopes,
        s.agents,
        s.files,
        s.tree_size,
        s.collector_key_id
    );
    eprintln!(
        "attest-collector: check it anywhere with: attest-collector verify {} --collector-key {}",
        args.out.display(),
        s.collector_key_id
    );
    Ok(ExitCode::SUCCESS)
}

/// `prune`: see [`ReportsCommand::Prune`] and [`crate::retention`].
async fn prune_command(
    config: &Config,
    clock: &dyn Clock,
    args: PruneArgs,
) -> anyhow::Result<ExitCode> {
    let now = clock.now_millis();
    let retention = config.retention;
    let before = retention.before(args.before, now)?;
    retention.check(before, now, args.force)?;
    if args.step < 1 {
        bail!("--step must be at least 1");
    }
    if args.export.is_none() && !args.no_export && !args.dry_run {
        bail!(
            "--export FILE: the evidence bundle of the pruned period, written and checked before \
             anything is pruned (or --no-export to prune without one)"
        );
    }
    let stores = open_stores(config).await?;
    let result = prune_run(config, &stores, now, before, &args).await;
    stores.store.close().await;
    result
}

async fn prune_run(
    config: &Config,
    stores: &Stores,
    now: Millis,
    before: Millis,
    args: &PruneArgs,
) -> anyhow::Result<ExitCode> {
    use crate::retention;
    let store = stores.store.as_ref();
    let prunable = store.prunable(before).await?;
    let Some(first) = prunable.iter().map(|p| p.received_at).min() else {
        eprintln!(
            "attest-collector: nothing to prune: every report received before {} is pruned \
             already or is its agent's newest (or newest counted) report",
            rfc3339(before)
        );
        return Ok(ExitCode::SUCCESS);
    };
    let mut agents: Vec<&str> = prunable.iter().map(|p| p.agent_id.as_str()).collect();
    agents.sort_unstable();
    agents.dedup();
    eprintln!(
        "attest-collector: {} reports of {} agents, received from {} to before {}, {}",
        prunable.len(),
        agents.len(),
        rfc3339(first),
        rfc3339(before),
        if args.dry_run {
            "would be pruned (--dry-run: nothing changed)"
        } else {
            "to prune"
        }
    );
    if args.dry_run {
        let pruning = prunable
            .iter()
            .map(|p| (p.agent_id.clone(), p.seq))
            .collect();
        let lists = crate::store::prune::unreferenced_lists(store, before, &pruning).await?;
        eprintln!(
            "attest-collector: {} inventory lists no kept report names would be deleted",
            lists.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let bundle = match &args.export {
        Some(path) => {
            // The reports of a period already pruned are not in this database: the
            // bundle covers what was received since the last prune's cut-off. A report
            // received before it was kept then as its agent's newest, the latest as of
            // that cut-off, which that prune's bundle holds.
            let earlier = retention::pruned_before(store).await?;
            let from = earlier.map_or(first, |e| e.max(first));
            let (inside, earlier_kept): (Vec<_>, Vec<_>) =
                prunable.iter().partition(|p| p.received_at >= from);
            // A period holds the reports *collected* from its start (received by its
            // end): it starts at the first collected of those to prune.
            let period_from = inside
                .iter()
                .map(|p| p.collected_at.min(p.received_at))
                .min();
            if let Some(period_from) = period_from {
                export_pruned(config, stores, now, period_from, before, path, &inside).await?;
            }
            if !earlier_kept.is_empty() {
                eprintln!(
                    "attest-collector: {} of them were received before {}, the cut-off of an \
                     earlier prune (kept then as their agents' newest reports) or of this one \
                     interrupted: the bundle written then holds them",
                    earlier_kept.len(),
                    rfc3339(from)
                );
            }
            format!("bundle {}", path.display())
        }
        None => "no bundle (--no-export)".to_owned(),
    };
    let actor = cli_actor();
    let target = format!("before {}", rfc3339(before));
    let entry = |action: &str, detail: String| crate::store::AuditEntry {
        at: now,
        actor: actor.clone(),
        action: action.to_owned(),
        target: target.clone(),
        detail,
    };
    store
        .audit(&entry(
            "reports.prune_started",
            format!(
                "{} reports of {} agents; {bundle}",
                prunable.len(),
                agents.len()
            ),
        ))
        .await?;
    let total = prunable.len();
    let progress = Progress::on_terminal();
    progress.step("pruning", total);
    let totals = retention::prune(store, before, now, args.step, |t| {
        progress.set(usize::try_from(t.pruned).unwrap_or(usize::MAX));
    })
    .await?;
    progress.finish();
    store
        .audit(&entry(
            "reports.prune",
            format!(
                "{} reports pruned, {} kept reports stored again against a new keyframe, {} \
                 inventory lists deleted, {} transactions; {bundle}",
                totals.pruned, totals.rebased, totals.lists, totals.steps
            ),
        ))
        .await?;
    eprintln!(
        "attest-collector: pruned {} reports received before {} ({} kept reports stored again \
         against a new keyframe) and {} inventory lists no kept report names; the Merkle log \
         is unchanged",
        totals.pruned,
        rfc3339(before),
        totals.rebased,
        totals.lists
    );
    if store.backend() == "sqlite" {
        if args.vacuum {
            eprintln!("attest-collector: VACUUM (ingest waits until it is done)");
            store.reclaim_space().await?;
        } else {
            eprintln!(
                "attest-collector: SQLite reuses the freed pages for new reports; to give the \
                 space back to the file system run prune again with --vacuum (or VACUUM) at a \
                 quiet time"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the evidence bundle of the period `from..to` to `path` and checks it: it
/// must verify against this collector's key and hold every report of `inside`.
async fn export_pruned(
    config: &Config,
    stores: &Stores,
    now: Millis,
    from: Millis,
    to: Millis,
    path: &std::path::Path,
    inside: &[&crate::store::prune::Prunable],
) -> anyhow::Result<()> {
    use report::verify::{Limits, Outcome, read_entries, trust};
    let key = log_key(config, stores).await?;
    let catalog = Catalog::load(None)?;
    let opts = Options {
        when: When::Period { from, to },
        window: DEFAULT_WINDOW_MS,
        generated_at: now,
        html_host_limit: 500,
        organization: None,
    };
    let progress = Progress::on_terminal();
    let s = report::bundle::export(stores, &catalog, &opts, &key, path, &progress)
        .await
        .context("writing the evidence bundle of the pruned period; nothing was pruned")?;
    let refuse = |why: String| {
        anyhow::anyhow!(
            "the evidence bundle {} {why}: nothing was pruned",
            path.display()
        )
    };
    let trust = trust::given_key(&s.collector_key_id).map_err(|e| refuse(e.to_string()))?;
    let verdict = report::verify::verify_file(path, &trust, &Limits::default())
        .map_err(|e| refuse(format!("cannot be checked: {e}")))?;
    if verdict.outcome() != Outcome::Verified {
        return Err(refuse(format!("does not verify:\n{}", verdict.text())));
    }
    let bytes = std::fs::read(path).map_err(|e| refuse(format!("cannot be read back: {e}")))?;
    let entries = read_entries(&bytes).map_err(|e| refuse(format!("cannot be read back: {e}")))?;
    let proofs: report::bundle::Proofs = entries
        .iter()
        .find(|(p, _)| p == "proofs.json")
        .map(|(_, b)| serde_json::from_slice(b))
        .transpose()
        .map_err(|e| refuse(format!("has an unreadable proofs.json: {e}")))?
        .ok_or_else(|| refuse("has no proofs.json".into()))?;
    let held: std::collections::HashSet<u64> = proofs.proofs.iter().map(|p| p.log_index).collect();
    let missing: Vec<i64> = inside
        .iter()
        .map(|p| p.log_index)
        .filter(|i| u64::try_from(*i).map_or(true, |i| !held.contains(&i)))
        .collect();
    if let Some(first) = missing.first() {
        return Err(refuse(format!(
            "does not hold {} of the reports to prune (the first: report {first}; a revoked \
             agent's reports are left out of a period's bundle): prune with --no-export after \
             exporting them another way",
            missing.len()
        )));
    }
    eprintln!(
        "attest-collector: wrote and verified {}: {} envelopes of {} agents, collector key {}",
        path.display(),
        s.envelopes,
        s.agents,
        s.collector_key_id
    );
    Ok(())
}

/// `verify`: exit 0 verified, 1 problems found, 2 not checked, 3 unpinned
/// ([`report::verify::Outcome`]).
fn verify_command(args: &VerifyArgs) -> ExitCode {
    use report::verify::{Limits, trust};
    let not_checked = |message: String| {
        eprintln!("attest-collector: {message}");
        ExitCode::from(2)
    };
    let trust = match &args.collector_key {
        Some(key) => trust::given_key(key),
        None => trust::trust_file(args.trust.as_deref()),
    };
    let trust = match trust {
        Ok(t) => t,
        Err(e) => return not_checked(e.to_string()),
    };
    match report::verify::verify_file(&args.bundle, &trust, &Limits::default()) {
        Ok(verdict) => {
            print!("{}", verdict.text());
            ExitCode::from(verdict.outcome().exit_code())
        }
        Err(e) => not_checked(e.to_string()),
    }
}

/// `log-key`: the key id (or PEM) of the data directory's log-signing key, never
/// creating one.
fn log_key_command(overrides: &Overrides, args: &LogKeyArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(overrides).context("configuration")?;
    let path = config.data_dir.join(crate::server::LOG_KEY_FILE);
    if !path.exists() {
        bail!(
            "{} does not exist: run log-key on the collector's host with its data directory \
             (--data-dir), where `attest-collector serve` creates the log-signing key",
            path.display()
        );
    }
    let (key, _) = crate::server::load_or_create_log_key(&config.data_dir)?;
    let public = key.verifying_key();
    let id = attest_proto::keyid(&public);
    if args.pem {
        print!("{}", report::verify::trust::to_pem(&public));
    } else {
        println!("{id}");
    }
    eprintln!(
        "attest-collector: log-signing key {}: key id {id}, public key {}; whoever checks \
         this collector's bundles runs `attest-collector verify BUNDLE --collector-key {id}` \
         or adds \"{id}  <this collector>\" to their trust file",
        path.display(),
        attest_proto::encode_public_key(&public)
    );
    Ok(ExitCode::SUCCESS)
}

async fn report_command(
    config: &Config,
    clock: &dyn Clock,
    args: ReportArgs,
) -> anyhow::Result<ExitCode> {
    let format = Format::parse(&args.format).context("unknown format")?;
    let catalog = args.eval.catalog()?;
    let now = clock.now_millis();
    let opts = Options {
        when: args.eval.when(now)?,
        window: args.eval.window_ms(),
        generated_at: now,
        html_host_limit: args.html_hosts,
        organization: args.eval.organization.clone(),
    };
    let stores = open_stores(config).await?;
    let progress = Progress::on_terminal();
    let result = async {
        crate::retention::check_not_pruned(stores.store.as_ref(), &opts.when).await?;
        Ok::<_, anyhow::Error>(
            report::to_file(&stores, &catalog, format, &opts, &args.out, &progress).await?,
        )
    }
    .await;
    stores.store.close().await;
    let r = result?;
    eprintln!(
        "attest-collector: wrote {} ({} report of {} {}, {} of {} controls evidenced)",
        args.out.display(),
        args.format,
        report::plural(r.summary.hosts_in_scope, "host", "hosts"),
        match &r.scope.period {
            Some(p) => format!("from {} to {}", p.from, p.to),
            None => format!("as of {}", r.scope.as_of),
        },
        r.summary.controls_assessed,
        r.summary.controls
    );
    Ok(ExitCode::SUCCESS)
}

async fn waiver_command(
    config: &Config,
    clock: &dyn Clock,
    cmd: WaiverCommand,
) -> anyhow::Result<ExitCode> {
    let stores = open_stores(config).await?;
    let now = clock.now_millis();
    let actor = cli_actor();
    let result = async {
        match cmd {
            WaiverCommand::Add(a) => {
                let catalog = Catalog::load(a.mapping.as_deref())?;
                let scope = match (a.check, a.control) {
                    (Some(c), _) => WaiverScope::Check(c),
                    (None, Some(c)) => WaiverScope::Control(c),
                    (None, None) => bail!("give --check or --control"),
                };
                let expires_at = match (a.expires, a.until) {
                    (Some(d), _) => {
                        now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                    }
                    (None, Some(t)) => t,
                    (None, None) => bail!("give --expires or --until"),
                };
                let w = waivers::add(
                    stores.store.as_ref(),
                    stores.reports.as_ref(),
                    &catalog,
                    now,
                    &actor,
                    WaiverRequest {
                        scope,
                        hosts: a.hosts,
                        justification: a.justification,
                        approver: a.approver,
                        expires_at,
                    },
                )
                .await?;
                eprintln!(
                    "attest-collector: waiver {} of {} {} on {} until {}",
                    w.id,
                    w.scope.kind(),
                    w.scope.id(),
                    if w.hosts.is_empty() {
                        "every host".to_owned()
                    } else {
                        w.hosts.join(", ")
                    },
                    rfc3339(w.expires_at)
                );
                println!("{}", w.id);
            }
            WaiverCommand::List => {
                println!(
                    "{:<17} {:<8} {:<30} {:<20} {:<20} {:<8} APPROVER",
                    "ID", "SCOPE", "CHECK/CONTROL", "HOSTS", "EXPIRES", "STATUS"
                );
                for w in stores.reports.waivers().await? {
                    let status = if w.revoked_at.is_some() {
                        "revoked"
                    } else if w.expires_at <= now {
                        "expired"
                    } else {
                        "active"
                    };
                    let hosts = if w.hosts.is_empty() {
                        "all".to_owned()
                    } else {
                        w.hosts.join(",")
                    };
                    println!(
                        "{:<17} {:<8} {:<30} {:<20} {:<20} {:<8} {}",
                        w.id,
                        w.scope.kind(),
                        w.scope.id(),
                        hosts,
                        rfc3339(w.expires_at),
                        status,
                        w.approver
                    );
                }
            }
            WaiverCommand::Revoke { id } => {
                if !waivers::revoke(
                    stores.store.as_ref(),
                    stores.reports.as_ref(),
                    now,
                    &actor,
                    &id,
                )
                .await?
                {
                    bail!("no live waiver {id:?} (unknown, expired or already revoked)");
                }
                eprintln!("attest-collector: waiver {id} revoked");
            }
        }
        Ok(ExitCode::SUCCESS)
    }
    .await;
    stores.store.close().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_periods_parse() {
        assert_eq!(
            parse_time("2026-11-25T00:00:00Z").unwrap(),
            1_795_564_800_000
        );
        assert_eq!(
            parse_time("2026-11-25T01:00:00+01:00").unwrap(),
            1_795_564_800_000
        );
        assert_eq!(parse_time("2026-11-24").unwrap(), 1_795_564_800_000 - 1);
        assert!(parse_time("yesterday").unwrap_err().contains("RFC 3339"));
        assert_eq!(
            parse_period("2026-11-24..2026-11-24").unwrap(),
            (1_795_564_800_000 - 86_400_000, 1_795_564_800_000 - 1)
        );
        assert!(
            parse_period("2026-11-25..2026-11-24")
                .unwrap_err()
                .contains("ends before")
        );
        assert!(parse_period("2026-11-25").unwrap_err().contains("FROM..TO"));
    }

    #[test]
    fn future_times_are_refused() {
        let args = EvalArgs {
            as_of: Some(2000),
            period: None,
            window: std::time::Duration::from_secs(60),
            mapping: None,
            organization: None,
        };
        assert!(args.when(1000).is_err());
        assert_eq!(args.when(3000).unwrap(), When::AsOf(2000));
        assert_eq!(args.window_ms(), 60_000);
    }

    #[test]
    fn today_as_a_date_means_now() {
        // 2026-11-25 12:00 UTC.
        let now = 1_795_564_800_000 + 12 * 3_600_000;
        let eval = |as_of: Option<&str>, period: Option<&str>| EvalArgs {
            as_of: as_of.map(|t| parse_time(t).unwrap()),
            period: period.map(|p| parse_period(p).unwrap()),
            window: std::time::Duration::from_secs(60),
            mapping: None,
            organization: None,
        };
        assert_eq!(
            eval(Some("2026-11-25"), None).when(now).unwrap(),
            When::AsOf(now)
        );
        assert_eq!(
            eval(None, Some("2026-11-01..2026-11-25"))
                .when(now)
                .unwrap(),
            When::Period {
                from: parse_time("2026-11-01T00:00:00Z").unwrap(),
                to: now
            }
        );
        // Tomorrow, and a time later today, are still in the future.
        let err = eval(Some("2026-11-26"), None).when(now).unwrap_err();
        assert!(err.to_string().contains("in the future"), "{err}");
        let err = eval(Some("2026-11-25T13:00:00Z"), None)
            .when(now)
            .unwrap_err();
        assert!(err.to_string().contains("in the future"), "{err}");
        let err = eval(None, Some("2026-11-26..2026-11-27"))
            .when(now)
            .unwrap_err();
        assert!(err.to_string().contains("in the future"), "{err}");
    }
}
