//! `attest-loadgen`: the collector's ingest benchmark.
//!
//! `attest-loadgen run` enrolls N agents (default 10,000) over HTTPS and posts real
//! signed reports of every catalogue check from them concurrently, each agent's
//! reports in chain order, then prints reports/s, p50/p99 latency, errors and the
//! collector's peak RSS.
//! Reports are signed before the clock starts, so the generator's own signing does not
//! compete with the collector for the CPU during the measurement.
//! With `--warm-up N` each agent's first N reports are sent before the clock starts
//! and not counted: `1` measures an enrolled fleet's steady state (every agent's
//! first, full report and its inventory list already sent).
//!
//! `attest-loadgen prefill` stores many reports directly through the store (the same
//! batch write path the server uses, without HTTP), so throughput can be measured with
//! a million reports already stored.
//!
//! `attest-loadgen soak` (scripts/soak.sh) has honest agents upload for a while from
//! 127.0.0.1 while hostile clients from other loopback addresses stall, flood,
//! replay and send garbage, then checks that every honest report was stored exactly
//! once, nothing hostile was, and the collector's memory stayed under a bound.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use attest_agent::delta::DeltaSender;
use attest_collector::ingest::pending_report;
use attest_collector::store::{
    self, EnrollOutcome, NewAgent, NewEnrollToken, NewInventoryList, PendingReport,
};
use attest_proto::form::{DELTA_ACCEPT_HEADER, DELTA_BASE_HEADER, DELTA_CONTENT_TYPE};
use attest_proto::{EnrollRequest, EnrollResponse, Statement, encode_public_key, keyid};
use attest_sim::client::{Client, Conn};
use attest_sim::synth::{Stream, SynthAgent, agent_key, history_start, host};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use hyper::Method;

#[derive(Debug, Parser)]
#[command(name = "attest-loadgen", about = "Load generator for attest-collector")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Enroll agents and post signed reports over HTTPS; print throughput and latency.
    Run {
        /// The collector's address
        #[arg(long, default_value = "127.0.0.1:8443")]
        server: SocketAddr,
        /// The certificate fingerprint (`attest-collector fingerprint`)
        #[arg(long)]
        pin: String,
        /// An enrollment token with at least --agents uses
        #[arg(long)]
        token: String,
        #[arg(long, default_value_t = 10_000)]
        agents: u64,
        /// Reports of each agent sent before the clock starts and not counted (its
        /// first: the full report and its inventory list; an enrolled fleet's steady
        /// state is measured after them)
        #[arg(long, default_value_t = 0)]
        warm_up: usize,
        /// Reports each agent sends while the clock runs (signed in advance, after
        /// its --warm-up reports)
        #[arg(long, default_value_t = 5)]
        reports_per_agent: usize,
        /// Concurrent connections (each sends one report at a time)
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// The collector's process id, to report its peak RSS and CPU time
        #[arg(long)]
        collector_pid: Option<u32>,
        /// Distinguishes the agents' keys between runs
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// `synthetic`: the same full 25-check report again and again; `realistic`:
        /// each agent's hourly history (software inventory, a package upgraded every
        /// 168 reports, a verdict changed every 720), sent by difference after the
        /// first report, as the agent does
        #[arg(long, default_value = "synthetic")]
        stream: Stream,
    },
    /// Honest agents upload while hostile clients stall, flood, replay and send
    /// garbage (loopback only); exits 1 unless every honest report was stored exactly
    /// once, nothing else was, and the collector's RSS stayed under --max-rss-mb.
    Soak {
        /// The collector's address (loopback only)
        #[arg(long)]
        server: SocketAddr,
        #[arg(long)]
        pin: String,
        /// An enrollment token with at least --agents uses
        #[arg(long)]
        token: String,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Honest agents, each sending a report every 250 ms
        #[arg(long, default_value_t = 20)]
        agents: u64,
        /// The collector's process id: its RSS is sampled and bounded
        #[arg(long)]
        collector_pid: Option<u32>,
        #[arg(long, default_value_t = 400)]
        max_rss_mb: u64,
        #[arg(long, default_value_t = 9)]
        seed: u64,
    },
    /// Post the hostile 4 MB body (`{"z":[0,0,…]}`) --parallel at a time from
    /// as many loopback addresses, --rounds times; print the answers and the
    /// collector's memory before and at its peak.
    HostileBody {
        #[arg(long)]
        server: SocketAddr,
        #[arg(long)]
        pin: String,
        #[arg(long, default_value_t = 8)]
        parallel: u8,
        #[arg(long, default_value_t = 3)]
        rounds: u32,
        /// The collector's process id (its VmRSS and VmHWM are read from /proc)
        #[arg(long)]
        collector_pid: u32,
    },
    /// Time the collector's per-report CPU work in this process, one core: decoding
    /// the envelope, verifying the signature, parsing the statement, hashing.
    Cpu {
        #[arg(long, default_value_t = 5000)]
        reports: usize,
        /// `synthetic` (the same full report again and again) or `realistic` (one
        /// agent's hourly history as it sends it: each report after the first a delta
        /// against the one before; adds the delta's rebuild and the store's encoding
        /// against its keyframe)
        #[arg(long, default_value = "synthetic")]
        stream: Stream,
    },
    /// Store reports directly through the store (no HTTP).
    Prefill {
        /// sqlite://PATH or postgres://…
        #[arg(long)]
        database: String,
        #[arg(long, default_value_t = 1_000_000)]
        reports: u64,
        #[arg(long, default_value_t = 10_000)]
        agents: u64,
        /// Reports per transaction
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        #[arg(long, default_value_t = 1_000_000)]
        seed: u64,
        /// `synthetic` or `realistic` (each agent's hourly history), as for `run`
        #[arg(long, default_value = "synthetic")]
        stream: Stream,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("attest-loadgen: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Run {
            server,
            pin,
            token,
            agents,
            warm_up,
            reports_per_agent,
            concurrency,
            collector_pid,
            seed,
            stream,
        } => runtime.block_on(run(
            server,
            &pin,
            &token,
            agents,
            warm_up,
            reports_per_agent,
            concurrency.max(1),
            collector_pid,
            seed,
            stream,
        )),
        Command::Soak {
            server,
            pin,
            token,
            seconds,
            agents,
            collector_pid,
            max_rss_mb,
            seed,
        } => runtime.block_on(soak::run(soak::Options {
            server,
            pin,
            token,
            span: Duration::from_secs(seconds.clamp(1, 3600)),
            agents: agents.clamp(1, 1000),
            collector_pid,
            max_rss_mb,
            seed,
        })),
        Command::HostileBody {
            server,
            pin,
            parallel,
            rounds,
            collector_pid,
        } => runtime.block_on(hostile_body(
            server,
            &pin,
            parallel.clamp(1, 200),
            rounds.max(1),
            collector_pid,
        )),
        Command::Cpu { reports, stream } => match stream {
            Stream::Realistic => cpu_realistic(reports.max(2)),
            _ => cpu(reports.max(1)),
        },
        Command::Prefill {
            database,
            reports,
            agents,
            batch,
            seed,
            stream,
        } => runtime.block_on(prefill(
            &database,
            reports,
            agents.max(1),
            batch.max(1),
            seed,
            stream,
        )),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("attest-loadgen: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[allow(clippy::disallowed_methods)] // The benchmark's edge: report times are the wall clock.
fn wall_clock() -> DateTime<Utc> {
    Utc::now()
}

/// `(VmHWM, VmRSS)` in kB and CPU seconds (user + system) of a process.
fn proc_stats(pid: u32) -> Option<(u64, u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |key: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(key))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Clock ticks are 100 per second on Linux.
    Some((kb("VmHWM:")?, kb("VmRSS:")?, (utime + stime) / 100.0))
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted.get(i).copied().unwrap_or_default()) / 1000.0
}

/// One upload of `run`, prepared before the clock starts: the envelope and, on the
/// realistic stream, the delta against the agent's report before it (the header
/// value naming the base, and the body), made by the agent's own encoder.
struct Upload {
    full: Bytes,
    delta: Option<(String, Bytes)>,
    /// The signed inventory list to post before the report (v3: the first report of
    /// the agent, and each one whose package list changed).
    list: Option<Bytes>,
}

/// What a lane of `run` measured.
#[derive(Default)]
struct Tally {
    latencies: Vec<u32>,
    errors: Vec<(u16, String)>,
    wire: Vec<u32>,
    deltas: u64,
    fallbacks: u64,
    lists: u64,
}

impl Tally {
    fn absorb(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.wire.extend(other.wire);
        self.errors.extend(other.errors);
        self.deltas += other.deltas;
        self.fallbacks += other.fallbacks;
        self.lists += other.lists;
    }
}

/// One connection of `run`: the uploads of its agents, whether each agent's last
/// report was acknowledged, and whether the collector takes deltas.
#[derive(Default)]
struct Lane {
    uploads: Vec<Vec<Upload>>,
    acked: Vec<bool>,
    takes_deltas: bool,
    conn: Option<Conn>,
}

/// Sends `rounds` of every lane's agents, a task per lane; gives the lanes back
/// (connections and acknowledgements kept for the next call) with what was measured.
async fn drive(
    lanes: Vec<Lane>,
    client: &Client,
    rounds: std::ops::Range<usize>,
) -> anyhow::Result<(Vec<Lane>, Tally)> {
    let mut workers = Vec::new();
    for lane in lanes {
        let client = client.clone();
        let rounds = rounds.clone();
        workers.push(tokio::spawn(lane.send(client, rounds)));
    }
    let mut back = Vec::with_capacity(workers.len());
    let mut all = Tally::default();
    for w in workers {
        let (lane, tally) = w.await??;
        back.push(lane);
        all.absorb(tally);
    }
    Ok((back, all))
}

impl Lane {
    async fn send(
        mut self,
        client: Client,
        rounds: std::ops::Range<usize>,
    ) -> anyhow::Result<(Lane, Tally)> {
        let n = self.uploads.len() * rounds.len();
        let mut tally = Tally {
            latencies: Vec::with_capacity(n),
            wire: Vec::with_capacity(n),
            ..Tally::default()
        };
        let mut conn = match self.conn.take() {
            Some(c) if !c.is_closed() => c,
            _ => client.connect().await?,
        };
        for round in rounds {
            for (a, reports) in self.uploads.iter().enumerate() {
                let Some(upload) = reports.get(round) else {
                    continue;
                };
                let previous_acked = self.acked.get(a).copied().unwrap_or(false);
                if let Some(flag) = self.acked.get_mut(a) {
                    *flag = false;
                }
                let t = Instant::now();
                if conn.is_closed() {
                    conn = client.connect().await?;
                }
                let delta = upload
                    .delta
                    .as_ref()
                    .filter(|_| self.takes_deltas && previous_acked);
                let mut wire = 0usize;
                if let Some(list) = &upload.list {
                    // As the agent does: the list first, then the report naming it.
                    tally.lists += 1;
                    wire += list.len();
                    match conn
                        .send(
                            Method::POST,
                            "/v1/inventory-lists",
                            None,
                            Some(list.clone()),
                        )
                        .await
                    {
                        Ok(resp) if resp.status == 200 => {}
                        Ok(resp) => tally.errors.push((
                            resp.status.as_u16(),
                            format!("list: {}", resp.error_code().unwrap_or_default()),
                        )),
                        Err(e) => {
                            tally.errors.push((0, format!("list: {e}")));
                            conn = client.connect().await?;
                        }
                    }
                }
                let mut answer = match delta {
                    Some((base, body)) => {
                        tally.deltas += 1;
                        wire += body.len();
                        conn.send_with(
                            Method::POST,
                            "/v1/reports",
                            None,
                            DELTA_CONTENT_TYPE,
                            &[(DELTA_BASE_HEADER, base.as_str())],
                            Some(body.clone()),
                        )
                        .await
                    }
                    None => {
                        wire += upload.full.len();
                        conn.send(Method::POST, "/v1/reports", None, Some(upload.full.clone()))
                            .await
                    }
                };
                if delta.is_some()
                    && matches!(&answer, Ok(r) if r.status == 412
                        && r.error_code().as_deref() == Some(attest_proto::ErrorCode::DeltaBaseUnknown.as_str()))
                {
                    tally.fallbacks += 1;
                    wire += upload.full.len();
                    answer = conn
                        .send(Method::POST, "/v1/reports", None, Some(upload.full.clone()))
                        .await;
                }
                match answer {
                    Ok(resp) if resp.status == 200 => {
                        tally
                            .latencies
                            .push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                        tally.wire.push(u32::try_from(wire).unwrap_or(u32::MAX));
                        self.takes_deltas = resp.headers.contains_key(DELTA_ACCEPT_HEADER);
                        if let Some(flag) = self.acked.get_mut(a) {
                            *flag = true;
                        }
                    }
                    Ok(resp) => tally
                        .errors
                        .push((resp.status.as_u16(), resp.error_code().unwrap_or_default())),
                    Err(e) => {
                        tally.errors.push((0, e.to_string()));
                        conn = client.connect().await?;
                    }
                }
            }
        }
        self.conn = Some(conn);
        Ok((self, tally))
    }
}

#[allow(clippy::too_many_arguments)]
async fn run(
    server: SocketAddr,
    pin: &str,
    token: &str,
    n_agents: u64,
    warm_up: usize,
    per_agent: usize,
    concurrency: usize,
    collector_pid: Option<u32>,
    seed: u64,
    stream: Stream,
) -> anyhow::Result<()> {
    // Each agent sends its warm-up reports, then the measured ones.
    let sends = warm_up + per_agent;
    let client = Client::pinned(server, pin)?;

    // 1. Enroll.
    let t = Instant::now();
    let mut agents: Vec<(u64, SynthAgent)> = Vec::with_capacity(n_agents as usize);
    let mut tasks = Vec::new();
    let per_task = (n_agents as usize).div_ceil(concurrency.min(32));
    let ids: Vec<u64> = (0..n_agents).collect();
    for chunk in ids.chunks(per_task.max(1)) {
        let client = client.clone();
        let token = token.to_owned();
        let chunk = chunk.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut conn = client.connect().await?;
            let mut out = Vec::new();
            for i in chunk {
                let key = agent_key(seed, i);
                let body = serde_json::to_vec(&EnrollRequest {
                    token: token.clone(),
                    public_key: encode_public_key(&key.verifying_key()),
                    host: host(i),
                })?;
                let resp = conn
                    .send(Method::POST, "/v1/enroll", None, Some(body.into()))
                    .await?;
                if resp.status != 200 {
                    bail!(
                        "enrollment failed: {} {}",
                        resp.status,
                        String::from_utf8_lossy(&resp.body)
                    );
                }
                let r = EnrollResponse::from_json(&resp.body)?;
                out.push((i, SynthAgent::new(key, r.agent_id, host(i))));
            }
            Ok(out)
        }));
    }
    for task in tasks {
        agents.extend(task.await??);
    }
    eprintln!(
        "enrolled {} agents in {:.1} s",
        agents.len(),
        t.elapsed().as_secs_f64()
    );

    // 2. Sign every report in advance, on all cores (and, on the realistic stream,
    // make each report's delta against the one before it, as the agent would at send
    // time).
    let t = Instant::now();
    let at = wall_clock();
    // A realistic history ends now: report k of n was collected n - k hours ago.
    let history_at =
        move |k: usize| at - chrono::Duration::hours(i64::try_from(sends - k).unwrap_or(0));
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = agents.len().div_ceil(threads).max(1);
    let mut handles = Vec::new();
    let mut rest = agents;
    while !rest.is_empty() {
        let tail = rest.split_off(chunk.min(rest.len()));
        let mut mine = std::mem::replace(&mut rest, tail);
        handles.push(std::thread::spawn(
            move || -> anyhow::Result<Vec<Vec<Upload>>> {
                let mut out = Vec::with_capacity(mine.len());
                for (i, a) in mine.iter_mut() {
                    let mut reports = Vec::with_capacity(sends);
                    match stream {
                        Stream::Synthetic => {
                            for _ in 0..sends {
                                reports.push(Upload {
                                    full: Bytes::from(a.next_envelope(at)?),
                                    delta: None,
                                    list: None,
                                });
                            }
                        }
                        Stream::Realistic | Stream::RealisticInline => {
                            let start = history_start(seed, *i);
                            let mut sender = DeltaSender::in_memory(&a.agent_id);
                            let mut last_list: Option<Vec<u8>> = None;
                            for k in 0..sends {
                                let hour = start + k as u64;
                                let (envelope, list) = if stream == Stream::Realistic {
                                    let (envelope, document) =
                                        a.next_realistic_v3(hour, history_at(k))?;
                                    let list = if last_list.as_ref() == Some(&document) {
                                        None
                                    } else {
                                        let signed = Bytes::from(a.sign_list(&document)?);
                                        last_list = Some(document);
                                        Some(signed)
                                    };
                                    (envelope, list)
                                } else {
                                    (a.next_realistic(hour, history_at(k))?, None)
                                };
                                let delta = sender
                                    .encode(&envelope)
                                    .map(|(base, body)| (base, Bytes::from(body)));
                                sender.acknowledged(&envelope, true);
                                reports.push(Upload {
                                    full: Bytes::from(envelope),
                                    delta,
                                    list,
                                });
                            }
                        }
                    }
                    out.push(reports);
                }
                Ok(out)
            },
        ));
    }
    let mut signed: Vec<Vec<Upload>> = Vec::new();
    for h in handles {
        signed.extend(
            h.join()
                .map_err(|_| anyhow::anyhow!("a signing thread failed"))??,
        );
    }
    let total: usize = signed.iter().map(Vec::len).sum();
    let bytes: usize = signed.iter().flatten().map(|u| u.full.len()).sum();
    let delta_bytes: Vec<usize> = signed
        .iter()
        .flatten()
        .filter_map(|u| u.delta.as_ref().map(|d| d.1.len()))
        .collect();
    eprintln!(
        "signed {total} reports ({} bytes each on average) in {:.1} s",
        bytes / total.max(1),
        t.elapsed().as_secs_f64()
    );
    if !delta_bytes.is_empty() {
        eprintln!(
            "prepared {} deltas ({} bytes each on average)",
            delta_bytes.len(),
            delta_bytes.iter().sum::<usize>() / delta_bytes.len()
        );
    }

    // 3. Post them: worker w sends the reports of agents w, w+C, w+2C, … round by round,
    // so each agent's chain arrives in order. A report goes as a delta when the
    // collector said it takes them and the report before it was acknowledged; a
    // delta refused with `delta_base_unknown` is sent again in full at once. The
    // warm-up rounds (each agent's first reports) go before the clock starts.
    let mut lanes: Vec<Lane> = (0..concurrency).map(|_| Lane::default()).collect();
    for (i, reports) in signed.into_iter().enumerate() {
        if let Some(lane) = lanes.get_mut(i % concurrency) {
            lane.acked.push(false);
            lane.uploads.push(reports);
        }
    }
    if warm_up > 0 {
        let t = Instant::now();
        let (back, tally) = drive(lanes, &client, 0..warm_up).await?;
        lanes = back;
        eprintln!(
            "warm-up: {} reports accepted, {} errors, {} inventory lists in {:.1} s (not counted below)",
            tally.latencies.len(),
            tally.errors.len(),
            tally.lists,
            t.elapsed().as_secs_f64()
        );
    }
    let measured: usize = lanes
        .iter()
        .flat_map(|l| &l.uploads)
        .map(|r| r.len().saturating_sub(warm_up))
        .sum();
    let before = collector_pid.and_then(proc_stats);
    let own_before = proc_stats(std::process::id());
    let start = Instant::now();
    let (_, tally) = drive(lanes, &client, warm_up..sends).await?;
    let Tally {
        mut latencies,
        mut wire,
        errors,
        deltas,
        fallbacks,
        lists,
    } = tally;
    let elapsed = start.elapsed().as_secs_f64();
    let after = collector_pid.and_then(proc_stats);
    let own_after = proc_stats(std::process::id());
    latencies.sort_unstable();

    println!("reports sent        {measured}");
    println!("accepted            {}", latencies.len());
    println!("errors              {}", errors.len());
    if !errors.is_empty() {
        let mut kinds: std::collections::BTreeMap<(u16, String), usize> = Default::default();
        for e in errors {
            *kinds.entry(e).or_default() += 1;
        }
        for ((status, code), n) in kinds.iter().take(10) {
            println!("  {status} {code}: {n}");
        }
    }
    println!("elapsed             {elapsed:.2} s");
    println!(
        "throughput          {:.0} reports/s",
        latencies.len() as f64 / elapsed
    );
    println!("latency p50         {:.1} ms", percentile(&latencies, 0.50));
    println!("latency p90         {:.1} ms", percentile(&latencies, 0.90));
    println!("latency p99         {:.1} ms", percentile(&latencies, 0.99));
    println!("latency max         {:.1} ms", percentile(&latencies, 1.0));
    println!("concurrency         {concurrency}");
    wire.sort_unstable();
    let wire_mean =
        wire.iter().map(|&b| u64::from(b)).sum::<u64>() as f64 / wire.len().max(1) as f64;
    let wire_pct = |p: f64| percentile(&wire, p) * 1000.0;
    println!(
        "wire bytes/upload   mean {wire_mean:.0} B, p50 {:.0} B, p99 {:.0} B (body of accepted uploads, a fallback counted in full, an inventory list posted before counted with its report)",
        wire_pct(0.5),
        wire_pct(0.99)
    );
    if stream.is_history() {
        println!(
            "deltas sent         {deltas} ({fallbacks} sent again in full after delta_base_unknown)"
        );
    }
    if stream == Stream::Realistic {
        println!("inventory lists     {lists} posted (before the report naming each)");
    }
    if let (Some((hwm, rss, cpu0)), Some((_, _, cpu1))) = (before, after) {
        println!(
            "collector peak RSS  {:.1} MB (now {:.1} MB)",
            hwm as f64 / 1024.0,
            rss as f64 / 1024.0
        );
        println!(
            "collector CPU       {:.1} s ({:.2} cores)",
            cpu1 - cpu0,
            (cpu1 - cpu0) / elapsed
        );
    }
    // On one machine the load's own CPU is taken from the collector's cores.
    if let (Some((_, _, cpu0)), Some((_, _, cpu1))) = (own_before, own_after) {
        println!(
            "load generator CPU  {:.1} s ({:.2} cores, this process: TLS and HTTP client)",
            cpu1 - cpu0,
            (cpu1 - cpu0) / elapsed
        );
    }
    Ok(())
}

async fn hostile_body(
    server: SocketAddr,
    pin: &str,
    parallel: u8,
    rounds: u32,
    pid: u32,
) -> anyhow::Result<()> {
    if !server.ip().is_loopback() {
        bail!("hostile-body targets a loopback address only, not {server}");
    }
    let mut body = b"{\"z\":[0".to_vec();
    while body.len() < attest_proto::MAX_ENVELOPE_BYTES - 4 {
        body.extend_from_slice(b",0");
    }
    body.extend_from_slice(b"]}");
    let body = Bytes::from(body);
    let (_, rss_before, _) = proc_stats(pid).context("reading the collector's /proc status")?;
    let mut answers: std::collections::BTreeMap<String, u32> = Default::default();
    let start = Instant::now();
    for _ in 0..rounds {
        let mut tasks = Vec::new();
        for n in 0..parallel {
            let client = Client::pinned(server, pin)?.from_ip(std::net::IpAddr::from([
                127,
                0,
                1,
                n.wrapping_add(1),
            ]));
            let body = body.clone();
            tasks.push(tokio::spawn(async move {
                let mut conn = client.connect().await?;
                let resp = conn
                    .send(Method::POST, "/v1/reports", None, Some(body))
                    .await?;
                anyhow::Ok(format!(
                    "{} {}",
                    resp.status.as_u16(),
                    resp.error_code().unwrap_or_default()
                ))
            }));
        }
        for t in tasks {
            let answer = t.await?.unwrap_or_else(|e| format!("error: {e}"));
            *answers.entry(answer).or_default() += 1;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let (hwm, rss_after, _) = proc_stats(pid).context("reading the collector's /proc status")?;
    println!(
        "bodies              {} x {} bytes ({parallel} at a time, {rounds} rounds) in {elapsed:.1} s",
        u32::from(parallel) * rounds,
        body.len()
    );
    for (answer, n) in &answers {
        println!("answer              {n} x {answer}");
    }
    println!(
        "collector RSS       {:.1} MB before",
        rss_before as f64 / 1024.0
    );
    println!(
        "collector peak RSS  {:.1} MB (+{:.1} MB); {:.1} MB after",
        hwm as f64 / 1024.0,
        hwm.saturating_sub(rss_before) as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );
    Ok(())
}

fn cpu(n: usize) -> anyhow::Result<()> {
    let key = agent_key(7, 7);
    let vk = key.verifying_key();
    let mut agent = SynthAgent::new(key, "agt_cpu".into(), host(7));
    let at = wall_clock();
    let envelopes: Vec<Bytes> = (0..n)
        .map(|_| agent.next_envelope(at).map(Bytes::from))
        .collect::<Result<_, _>>()?;
    let per = |t: Instant| t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let t = Instant::now();
    let decoded: Vec<attest_proto::Envelope> = envelopes
        .iter()
        .map(|e| attest_collector::ingest::decode(e))
        .collect::<Result<_, _>>()?;
    let decode_us = per(t);
    let t = Instant::now();
    for d in &decoded {
        d.verified_payload(&vk)?;
    }
    let verify_us = per(t);
    let t = Instant::now();
    for d in &decoded {
        Statement::from_slice(&d.payload)?;
    }
    let parse_us = per(t);
    let t = Instant::now();
    for (e, d) in envelopes.iter().zip(&decoded) {
        attest_collector::ingest::prepare(e.clone(), d, "agt_cpu", &vk)?;
    }
    let prepare_us = per(t);
    println!("envelope decode     {decode_us:.0} µs/report");
    println!("signature verify    {verify_us:.0} µs/report");
    println!("statement parse     {parse_us:.0} µs/report");
    println!(
        "verify+parse+hash   {prepare_us:.0} µs/report (what the handler does after decoding)"
    );
    println!(
        "total               {:.0} µs/report, one core",
        decode_us + prepare_us
    );
    Ok(())
}

/// [`cpu`] on the realistic stream: one agent's hourly history (v3), each report
/// after the first sent as a delta against the one before it (the agent's encoder),
/// rebuilt as the handler does (zstd against the base's form), then verified and
/// parsed, and encoded as the store's writer keeps it (a delta against the agent's
/// keyframe, read back from its stored zstd each time; a keyframe every
/// `KEYFRAME_INTERVAL`).
fn cpu_realistic(n: usize) -> anyhow::Result<()> {
    use attest_collector::store::codec;
    let key = agent_key(7, 7);
    let vk = key.verifying_key();
    let mut agent = SynthAgent::new(key, "agt_cpu".into(), host(7));
    let at = wall_clock();
    let mut sender = DeltaSender::in_memory("agt_cpu");
    let mut envelopes = Vec::with_capacity(n);
    let mut deltas = Vec::with_capacity(n);
    let mut list = None;
    for k in 0..n {
        let when = at - chrono::Duration::hours(i64::try_from(n - k).unwrap_or(0));
        let (envelope, document) = agent.next_realistic_v3(k as u64, when)?;
        if list.is_none() {
            list = Some(agent.sign_list(&document)?);
        }
        deltas.push(sender.encode(&envelope).map(|(_, body)| body));
        sender.acknowledged(&envelope, true);
        envelopes.push(envelope);
    }
    let bases: Vec<Vec<u8>> = envelopes.iter().map(|e| codec::to_form(e)).collect();
    let m = n - 1;
    let per = |t: Instant, count: usize| t.elapsed().as_secs_f64() * 1e6 / count as f64;
    let t = Instant::now();
    let mut forms = Vec::with_capacity(m);
    let mut decoded = Vec::with_capacity(m);
    for k in 1..n {
        let body = deltas[k].as_deref().context("no delta made")?;
        let form = codec::decompress_bounded(body, Some(&bases[k - 1]), 64 << 20)?;
        // As the handler does: the envelope put back together, then decoded without
        // decoding again the base64 just encoded.
        let opened = attest_proto::form::open_form(&form).map_err(|e| anyhow::anyhow!(e))?;
        decoded.push(opened.decode()?);
        anyhow::ensure!(
            opened.envelope == envelopes[k],
            "delta {k} does not rebuild"
        );
        forms.push((Bytes::from(opened.envelope), Arc::new(form)));
    }
    let expand_us = per(t, m);
    let t = Instant::now();
    for ((e, form), d) in forms.iter().zip(&decoded) {
        attest_collector::ingest::prepare_with_form(
            e.clone(),
            Some(Arc::clone(form)),
            d,
            "agt_cpu",
            &vk,
        )?;
    }
    let prepare_us = per(t, m);
    let t = Instant::now();
    let mut keyframe: Option<Vec<u8>> = None;
    let mut stored = 0usize;
    for (k, (_, form)) in forms.iter().enumerate() {
        let due = k as i64 % codec::KEYFRAME_INTERVAL == 0;
        let encoded = match &keyframe {
            Some(bytes) if !due => {
                let base = codec::base_form("zstd", bytes).map_err(|e| anyhow::anyhow!(e))?;
                codec::delta(0, &base, form)?
            }
            _ => {
                let encoded = codec::keyframe(form)?;
                keyframe = Some(encoded.bytes.clone());
                encoded
            }
        };
        stored += encoded.bytes.len();
    }
    let encode_us = per(t, m);
    // The inventory list's handler (`POST /v1/inventory-lists`), on the first list.
    let list = list.context("no list made")?;
    let rounds = 200;
    let t = Instant::now();
    for _ in 0..rounds {
        let envelope = attest_proto::Envelope::from_json(&list)?;
        let document = envelope
            .verified_payload_of_type(attest_proto::inventory::INVENTORY_LIST_PAYLOAD_TYPE, &vk)?;
        attest_proto::inventory::InventoryList::from_slice(document)?;
        attest_collector::store::PendingList::new(&attest_collector::store::NewInventoryList {
            address: attest_proto::inventory::address(document),
            agent_id: "agt_cpu".into(),
            document: document.to_vec(),
            received_at: 0,
        })?;
    }
    let list_us = per(t, rounds);
    let wire: usize = deltas.iter().flatten().map(Vec::len).sum();
    println!(
        "{m} deltas of one realistic history: {:.0} B on the wire, {:.0} B stored, envelopes of {:.0} B (means)",
        wire as f64 / m as f64,
        stored as f64 / m as f64,
        forms.iter().map(|(e, _)| e.len()).sum::<usize>() as f64 / m as f64
    );
    println!(
        "delta rebuild       {expand_us:.0} µs/report (zstd against the base's form, then the envelope, decoded)"
    );
    println!("verify+parse+hash   {prepare_us:.0} µs/report");
    println!(
        "store encode        {encode_us:.0} µs/report (the writer: keyframe read back, delta made)"
    );
    println!(
        "inventory list      {list_us:.0} µs/list of {} B (decode, verify, parse, address, compress)",
        list.len()
    );
    println!(
        "total               {:.0} µs/report, one core ({:.0} of it in the writer)",
        expand_us + prepare_us + encode_us,
        encode_us
    );
    Ok(())
}

async fn prefill(
    database: &str,
    n_reports: u64,
    n_agents: u64,
    batch: usize,
    seed: u64,
    stream: Stream,
) -> anyhow::Result<()> {
    let store = store::open(database, 4)
        .await
        .context("opening the store")?;
    let now = wall_clock().timestamp_millis();
    let token_id = format!("tok_prefill_{seed}");
    store
        .create_enroll_token(&NewEnrollToken {
            id: token_id.clone(),
            token_hash: format!("prefill-{seed}"),
            uses: i64::try_from(n_agents).unwrap_or(i64::MAX),
            expires_at: None,
            created_at: now,
        })
        .await?;
    let t = Instant::now();
    let mut agents = Vec::with_capacity(n_agents as usize);
    for i in 0..n_agents {
        let key = agent_key(seed, i);
        let h = host(seed.wrapping_add(i));
        let agent = NewAgent {
            id: format!("agt_prefill_{seed}_{i:07}"),
            keyid: keyid(&key.verifying_key()),
            public_key: key.verifying_key().to_bytes(),
            hostname: h.hostname.clone(),
            machine_id: h.machine_id.clone(),
            os_id: h.os.id.clone(),
            os_version_id: h.os.version_id.clone(),
            os_pretty_name: h.os.pretty_name.clone(),
            kernel: h.kernel.clone(),
            enrolled_at: now,
        };
        match store
            .enroll(&format!("prefill-{seed}"), &agent, now)
            .await?
        {
            EnrollOutcome::Enrolled { agent_id } => {
                agents.push((history_start(seed, i), SynthAgent::new(key, agent_id, h)));
            }
            other => bail!("prefill enrollment: {other:?}"),
        }
    }
    eprintln!(
        "enrolled {n_agents} agents in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // A generator thread signs batches while the store writes the previous one.
    // Each batch goes with the inventory lists its reports name that no batch before
    // it carried (stored first, as the collector holds a list before a report names it).
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Vec<NewInventoryList>, Vec<PendingReport>)>(4);
    let at = wall_clock();
    let per_agent = n_reports.div_ceil(n_agents);
    let history_at = at - chrono::Duration::hours(i64::try_from(per_agent).unwrap_or(0) + 1);
    let agents = Arc::new(std::sync::Mutex::new(agents));
    let gen_agents = Arc::clone(&agents);
    let generator = std::thread::spawn(move || -> anyhow::Result<()> {
        let mut sent = 0u64;
        let mut next = 0usize;
        let mut lists_seen = std::collections::HashSet::new();
        let mut lists = Vec::new();
        while sent < n_reports {
            let want = batch.min(usize::try_from(n_reports - sent).unwrap_or(batch));
            let mut out = Vec::with_capacity(want);
            {
                let mut agents = gen_agents.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                let n = agents.len();
                for _ in 0..want {
                    let Some((start, a)) = agents.get_mut(next % n) else {
                        break;
                    };
                    next += 1;
                    // Report k of the agent's history, collected k hours after the
                    // history's first (which is `per_agent` hours ago).
                    let k = a.chain.next_seq.saturating_sub(1);
                    let when = history_at + chrono::Duration::hours(i64::try_from(k).unwrap_or(0));
                    let mut report = match stream {
                        Stream::Synthetic => attest_sim::synth::report(&a.agent_id, &a.host, at),
                        Stream::RealisticInline => attest_sim::synth::realistic_report(
                            &a.agent_id,
                            &a.host,
                            *start + k,
                            when,
                        ),
                        Stream::Realistic => {
                            let (report, document) = attest_sim::synth::realistic_report_v3(
                                &a.agent_id,
                                &a.host,
                                *start + k,
                                when,
                            )?;
                            let address = attest_proto::inventory::address(&document);
                            if lists_seen.insert(address.clone()) {
                                lists.push(NewInventoryList {
                                    address,
                                    agent_id: a.agent_id.clone(),
                                    document,
                                    received_at: when.timestamp_millis(),
                                });
                            }
                            report
                        }
                    };
                    a.chain.stamp(&mut report);
                    let signed = Statement::for_report(report);
                    let statement = signed.to_bytes()?;
                    let json = attest_proto::Envelope::sign(&statement, &a.key).to_json()?;
                    a.chain.advance(&statement);
                    // Straight from the signed envelope, without verification (prefill
                    // only: it was signed a moment ago).
                    out.push(
                        pending_report(Bytes::from(json), &statement, signed.predicate)
                            .map_err(|e| anyhow::anyhow!("{e}"))?,
                    );
                }
            }
            sent += out.len() as u64;
            if tx.blocking_send((std::mem::take(&mut lists), out)).is_err() {
                break;
            }
        }
        Ok(())
    });
    let t = Instant::now();
    let mut stored = 0u64;
    let mut last = Instant::now();
    while let Some((lists, reports)) = rx.recv().await {
        for list in &lists {
            store.put_inventory_list(list).await?;
        }
        let outcomes = store
            .ingest_batch(&reports, wall_clock().timestamp_millis())
            .await?;
        stored += outcomes
            .iter()
            .filter(|o| matches!(o, store::IngestOutcome::Stored(_)))
            .count() as u64;
        if last.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "{stored} reports stored, {:.0}/s",
                stored as f64 / t.elapsed().as_secs_f64()
            );
            last = Instant::now();
        }
    }
    generator
        .join()
        .map_err(|_| anyhow::anyhow!("the generator thread failed"))??;
    let head = store.log_head().await?;
    println!(
        "prefilled {stored} reports in {:.0} s ({:.0}/s); log size {}",
        t.elapsed().as_secs_f64(),
        stored as f64 / t.elapsed().as_secs_f64(),
        head.tree_size
    );
    store.close().await;
    Ok(())
}

mod soak {
    //! `attest-loadgen soak`: honest agents and hostile clients at once.

    use std::collections::BTreeMap;
    use std::net::{IpAddr, SocketAddr};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use anyhow::{Context as _, bail};
    use attest_proto::{EnrollRequest, EnrollResponse, Receipt, encode_public_key};
    use attest_sim::client::{Client, Conn};
    use attest_sim::synth::{SynthAgent, agent_key, host};
    use bytes::Bytes;
    use hyper::Method;
    use tokio::io::AsyncWriteExt as _;

    use super::{proc_stats, wall_clock};

    pub struct Options {
        pub server: SocketAddr,
        pub pin: String,
        pub token: String,
        pub span: Duration,
        pub agents: u64,
        pub collector_pid: Option<u32>,
        pub max_rss_mb: u64,
        pub seed: u64,
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    /// What the hostile clients saw, by kind and answer.
    #[derive(Default)]
    struct Tally(Mutex<BTreeMap<(&'static str, String), u64>>);

    impl Tally {
        fn add(&self, kind: &'static str, what: impl Into<String>) {
            if let Ok(mut m) = self.0.lock() {
                *m.entry((kind, what.into())).or_insert(0) += 1;
            }
        }
    }

    /// Receipts of accepted honest reports, replayable by the hostile side.
    #[derive(Default)]
    struct Pool(Mutex<Vec<Bytes>>);

    pub async fn run(o: Options) -> anyhow::Result<()> {
        if !o.server.ip().is_loopback() {
            bail!(
                "soak runs against a loopback address only, not {}",
                o.server
            );
        }
        let client = Client::pinned(o.server, &o.pin)?.from_ip(ip(1));
        let mut agents = Vec::new();
        for i in 0..o.agents {
            let key = agent_key(o.seed, i);
            let body = serde_json::to_vec(&EnrollRequest {
                token: o.token.clone(),
                public_key: encode_public_key(&key.verifying_key()),
                host: host(i),
            })?;
            let resp = client.post("/v1/enroll", body).await?;
            if resp.status != 200 {
                bail!(
                    "enrollment failed: {} {}",
                    resp.status,
                    String::from_utf8_lossy(&resp.body)
                );
            }
            let r = EnrollResponse::from_json(&resp.body)?;
            agents.push(SynthAgent::new(key, r.agent_id, host(i)));
        }
        eprintln!(
            "enrolled {} honest agents; soaking for {} s",
            agents.len(),
            o.span.as_secs()
        );

        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Tally::default());
        let pool = Arc::new(Pool::default());
        let peak_rss = Arc::new(AtomicU64::new(0));
        let mut hostile = Vec::new();
        let target = o.server;
        let pinned = Client::pinned(o.server, &o.pin)?;
        // Stall: 40 connections that send half a body, reopened when closed.
        for n in 0..40u8 {
            let (client, stop, tally) =
                (pinned.clone().from_ip(ip(2)), stop.clone(), tally.clone());
            hostile.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(u64::from(n) * 25)).await;
                while !stop.load(Ordering::Relaxed) {
                    match stall(&client).await {
                        Ok(took) => {
                            tally.add("stall", format!("closed after {}s", took.as_secs().min(10)))
                        }
                        Err(e) => {
                            tally.add("stall", format!("connect: {}", short(&e.to_string())));
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
            }));
        }
        // Flood: eight addresses each keep opening TCP connections that never start
        // TLS (up to 50 held each, 25 new a second each).
        for a in 0..8u8 {
            let (stop, tally) = (stop.clone(), tally.clone());
            hostile.push(tokio::spawn(async move {
                let mut held = std::collections::VecDeque::new();
                while !stop.load(Ordering::Relaxed) {
                    let socket = tokio::net::TcpSocket::new_v4();
                    let conn = match socket {
                        Ok(s) => match s.bind(SocketAddr::new(ip(3 + a), 0)) {
                            Ok(()) => s.connect(target).await,
                            Err(e) => Err(e),
                        },
                        Err(e) => Err(e),
                    };
                    match conn {
                        Ok(c) => {
                            tally.add("flood", "connected");
                            held.push_back(c);
                            if held.len() > 50 {
                                held.pop_front();
                            }
                        }
                        Err(e) => tally.add("flood", format!("connect: {}", short(&e.to_string()))),
                    }
                    tokio::time::sleep(Duration::from_millis(40)).await;
                }
            }));
        }
        // Replay: accepted honest reports posted again from another address.
        {
            let (client, stop, tally, pool) = (
                pinned.clone().from_ip(ip(11)),
                stop.clone(),
                tally.clone(),
                pool.clone(),
            );
            hostile.push(tokio::spawn(async move {
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let body = pool
                        .0
                        .lock()
                        .ok()
                        .and_then(|p| p.get(i % p.len().max(1)).cloned());
                    let Some(body) = body else { continue };
                    i = i.wrapping_mul(7).wrapping_add(13);
                    match client.post("/v1/reports", body.to_vec()).await {
                        Ok(r) if r.status == 200 => {
                            let dup = Receipt::from_json(&r.body)
                                .map(|r| r.duplicate)
                                .unwrap_or(false);
                            tally.add("replay", if dup { "200 duplicate" } else { "200 STORED" });
                        }
                        Ok(r) => tally.add(
                            "replay",
                            format!(
                                "{} {}",
                                r.status.as_u16(),
                                r.error_code().unwrap_or_default()
                            ),
                        ),
                        Err(e) => tally.add("replay", format!("error: {}", short(&e.to_string()))),
                    }
                }
            }));
        }
        // Garbage: bad JSON, a 4 MB hostile body, a forged signature, an unknown
        // route, from nine addresses (each soon over its failure budget: 429).
        for a in 0..9u8 {
            let (client, stop, tally, pool) = (
                pinned.clone().from_ip(ip(12 + a)),
                stop.clone(),
                tally.clone(),
                pool.clone(),
            );
            hostile.push(tokio::spawn(async move {
                let mut zeros = b"{\"z\":[0".to_vec();
                while zeros.len() < attest_proto::MAX_ENVELOPE_BYTES - 4 {
                    zeros.extend_from_slice(b",0");
                }
                zeros.extend_from_slice(b"]}");
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let (path, body) = match n % 5 {
                        0 => ("/v1/reports", b"{\"payloadType\":".to_vec()),
                        1 if a == 0 => ("/v1/reports", zeros.clone()),
                        2 => {
                            let good = pool.0.lock().ok().and_then(|p| p.last().cloned());
                            let mut forged = good.map(|b| b.to_vec()).unwrap_or_default();
                            // Change one base64 character of the signature.
                            if let Some(at) = forged
                                .iter()
                                .rposition(|&b| b == b'"')
                                .and_then(|i| i.checked_sub(5))
                            {
                                forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
                            }
                            ("/v1/reports", forged)
                        }
                        3 => (
                            "/v1/enroll",
                            b"{\"token\":\"x\",\"public_key\":\"y\"}".to_vec(),
                        ),
                        _ => ("/v1/nope", Vec::new()),
                    };
                    match client.post(path, body).await {
                        Ok(r) => tally.add(
                            "garbage",
                            format!(
                                "{} {}",
                                r.status.as_u16(),
                                r.error_code().unwrap_or_default()
                            ),
                        ),
                        Err(e) => tally.add("garbage", format!("error: {}", short(&e.to_string()))),
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }));
        }
        // Memory: sample the collector's RSS.
        let sampler = o.collector_pid.map(|pid| {
            let (stop, peak) = (stop.clone(), peak_rss.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Some((_, rss, _)) = proc_stats(pid) {
                        peak.fetch_max(rss, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        });

        // Honest agents: one report every 250 ms each, retried until stored.
        let deadline = Instant::now() + o.span;
        let mut honest = Vec::new();
        for agent in agents {
            let (client, pool) = (client.clone(), pool.clone());
            honest.push(tokio::spawn(async move {
                upload(client, agent, deadline, pool).await
            }));
        }
        let mut stored = 0u64;
        let mut retries = BTreeMap::<String, u64>::new();
        let mut worst = Duration::ZERO;
        let mut failed = Vec::new();
        for h in honest {
            match h.await? {
                Ok(u) => {
                    stored += u.stored;
                    worst = worst.max(u.worst);
                    for (k, v) in u.retries {
                        *retries.entry(k).or_insert(0) += v;
                    }
                }
                Err(e) => failed.push(format!("{e:#}")),
            }
        }
        stop.store(true, Ordering::Relaxed);
        for h in hostile {
            h.abort();
        }
        if let Some(s) = sampler {
            let _ = s.await;
        }
        let tree_size = {
            let body = client.get("/v1/log/checkpoint", None).await?.body;
            serde_json::from_slice::<serde_json::Value>(&body)?["tree_size"]
                .as_u64()
                .context("no tree_size in the checkpoint")?
        };
        let metrics =
            String::from_utf8_lossy(&client.get("/metrics", None).await?.body).into_owned();

        println!("honest reports stored   {stored} (tree size {tree_size})");
        println!(
            "honest slowest report   {:.0} ms (retries included)",
            worst.as_secs_f64() * 1000.0
        );
        for (why, n) in &retries {
            println!("honest retries          {n} × {why}");
        }
        if let Ok(t) = tally.0.lock() {
            for ((kind, what), n) in t.iter() {
                println!("hostile {kind:<8}        {n} × {what}");
            }
        }
        for line in metrics.lines().filter(|l| {
            l.starts_with("attest_connections_")
                || l.starts_with("attest_requests_refused")
                || l.starts_with("attest_accept_errors")
        }) {
            println!("metric                  {line}");
        }
        let peak_mb = peak_rss.load(Ordering::Relaxed) / 1024;
        if o.collector_pid.is_some() {
            println!(
                "collector peak RSS      {peak_mb} MB (bound {} MB)",
                o.max_rss_mb
            );
        }
        let mut problems = failed;
        if tree_size != stored {
            problems.push(format!(
                "the log holds {tree_size} reports, the honest agents stored {stored}"
            ));
        }
        if stored == 0 {
            problems.push("no honest report was stored".into());
        }
        let replay_stored = tally
            .0
            .lock()
            .map(|t| {
                t.get(&("replay", "200 STORED".to_owned()))
                    .copied()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        if replay_stored > 0 {
            problems.push(format!("{replay_stored} replays were stored as new"));
        }
        if o.collector_pid.is_some() && peak_mb > o.max_rss_mb {
            problems.push(format!("the collector's RSS reached {peak_mb} MB"));
        }
        if !problems.is_empty() {
            bail!("soak failed: {}", problems.join("; "));
        }
        println!("soak passed");
        Ok(())
    }

    fn short(s: &str) -> String {
        s.chars().take(60).collect()
    }

    /// Opens a TLS connection, sends half of a 4 MB report request and waits for the
    /// collector to close it; how long that took.
    async fn stall(client: &Client) -> anyhow::Result<Duration> {
        use tokio::io::AsyncReadExt as _;
        let mut s = client.stream().await?;
        let head =
            "POST /v1/reports HTTP/1.1\r\nhost: localhost\r\ncontent-length: 4000000\r\n\r\n";
        s.write_all(head.as_bytes()).await?;
        s.write_all(&vec![b' '; 1_000_000]).await?;
        s.flush().await?;
        let t = Instant::now();
        let mut buf = [0u8; 1024];
        loop {
            match tokio::time::timeout(Duration::from_secs(120), s.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => return Ok(t.elapsed()),
                Ok(Ok(_)) => {}
                Err(_) => bail!("not closed in 120 s"),
            }
        }
    }

    struct Uploaded {
        stored: u64,
        worst: Duration,
        retries: BTreeMap<String, u64>,
    }

    /// One honest agent: reports in chain order, each retried (as the agent's spool
    /// does) until the collector answers it with a receipt.
    async fn upload(
        client: Client,
        mut agent: SynthAgent,
        deadline: Instant,
        pool: Arc<Pool>,
    ) -> anyhow::Result<Uploaded> {
        let mut out = Uploaded {
            stored: 0,
            worst: Duration::ZERO,
            retries: BTreeMap::new(),
        };
        let mut conn: Option<Conn> = None;
        while Instant::now() < deadline {
            let body = Bytes::from(agent.next_envelope(wall_clock())?);
            let started = Instant::now();
            loop {
                if started.elapsed() > Duration::from_secs(60) {
                    bail!("{}: a report was not accepted within 60 s", agent.agent_id);
                }
                let c = match conn.as_mut().filter(|c| !c.is_closed()) {
                    Some(c) => c,
                    None => conn.insert(client.connect().await?),
                };
                let why = match c
                    .send(Method::POST, "/v1/reports", None, Some(body.clone()))
                    .await
                {
                    Ok(r) if r.status == 200 => {
                        // A duplicate answer is the first delivery's receipt after a
                        // retry whose answer was lost: stored once either way (the
                        // log's size is checked against the count at the end).
                        let receipt = Receipt::from_json(&r.body)?;
                        if receipt.agent_id != agent.agent_id {
                            bail!("a receipt for another agent: {}", receipt.agent_id);
                        }
                        out.stored += 1;
                        break;
                    }
                    Ok(r)
                        if r.error_code().is_some_and(|c| {
                            c.parse::<attest_proto::ErrorCode>()
                                .is_ok_and(|c| c.is_retryable())
                        }) =>
                    {
                        format!(
                            "{} {}",
                            r.status.as_u16(),
                            r.error_code().unwrap_or_default()
                        )
                    }
                    Ok(r) => bail!(
                        "{}: refused: {} {}",
                        agent.agent_id,
                        r.status,
                        String::from_utf8_lossy(&r.body)
                    ),
                    Err(e) => {
                        conn = None;
                        format!("connection: {}", short(&e.to_string()))
                    }
                };
                *out.retries.entry(why).or_insert(0) += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            out.worst = out.worst.max(started.elapsed());
            if let Ok(mut p) = pool.0.lock()
                && p.len() < 2000
            {
                p.push(body);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Ok(out)
    }
}
