//! `attest-fleetgen`: fills a collector database with a simulated fleet (enrolled
//! agents and signed, realistic reports of every catalogue check, stored through the
//! batch ingest), for the fleet-report benchmark and for trying reports out.
//!
//! ```sh
//! attest-fleetgen --data-dir /tmp/fleet --hosts 10000 --rounds 2
//! attest-collector --data-dir /tmp/fleet report --format html --out fleet.html
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use attest_collector::catalog::Catalog;
use attest_collector::clock::{Clock, SystemClock};
use attest_collector::report::LOG_KEY_META;
use attest_collector::server::load_or_create_log_key;
use attest_collector::store::reporting;
use attest_proto::encode_public_key;
use attest_sim::fill::{enroll, report_round};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "attest-fleetgen",
    about = "Fill a collector database with a simulated fleet"
)]
struct Cli {
    /// The collector's data directory (its SQLite database and log key)
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// A database URL instead of SQLite in the data dir
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// How many hosts
    #[arg(long, default_value_t = 1000)]
    hosts: u64,
    /// Reports per host, `--interval-hours` apart, the last one that long ago
    #[arg(long, default_value_t = 1)]
    rounds: u64,
    /// Hours between a host's reports (24 with 30 rounds: a month of daily reports)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=720))]
    interval_hours: u64,
    /// Seed of the simulation (agent keys and verdicts)
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("attest-fleetgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cli.data_dir)
        .with_context(|| format!("creating {}", cli.data_dir.display()))?;
    let url = cli
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", cli.data_dir.join("collector.db").display()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let stores = reporting::open(&url, 4).await?;
        let s = stores.store.as_ref();
        let (key, _) = load_or_create_log_key(&cli.data_dir)?;
        s.meta_init(LOG_KEY_META, &encode_public_key(&key.verifying_key()))
            .await?;
        let catalog = Catalog::builtin()?;
        let now = SystemClock.now_millis();
        let hour = 3_600_000 * cli.interval_hours as i64;
        let start = Instant::now();
        let mut agents =
            enroll(s, cli.seed, cli.hosts, now - (cli.rounds as i64 + 2) * hour).await?;
        eprintln!(
            "attest-fleetgen: enrolled {} agents in {:.1} s",
            agents.len(),
            start.elapsed().as_secs_f64()
        );
        for round in 0..cli.rounds {
            let at = now - (cli.rounds - round) as i64 * hour;
            let t = Instant::now();
            let n = report_round(s, &catalog, &mut agents, cli.seed, round, at, at + 5_000).await?;
            eprintln!(
                "attest-fleetgen: round {}: {n} reports stored in {:.1} s",
                round + 1,
                t.elapsed().as_secs_f64()
            );
        }
        stores.store.close().await;
        anyhow::Ok(())
    })
}
