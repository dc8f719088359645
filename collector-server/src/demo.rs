//! `attest-collector demo`: the first run. A collector on loopback with SQLite in a
//! data directory, this machine enrolled as an agent through the real enrollment and
//! TLS path (the agent's own enrollment, state directory, spool and uploader, from
//! `attest-agent`'s library), one report collected, signed and delivered over HTTPS,
//! the HTML report written — then it prints where everything is and the next steps,
//! each a command that works when pasted, and keeps serving until Ctrl-C.
//!
//! Everything stays in the data directory (default `./attest-demo`, mode 0700):
//!
//! - `demo.json`: the address the demo listens on, chosen once (a free port on
//!   127.0.0.1) and reused by every later run, so the agent enrolled by the first run
//!   keeps delivering to it;
//! - `agent/`: the demo agent's state directory, exactly as `attest-agent` keeps it
//!   (key 0600, enrollment, chain, spool). `attest-agent run --once --state-dir
//!   attest-demo/agent` sends another report of this machine as the same agent: the
//!   machine never counts twice;
//! - `agent-mac/`: a second demo agent that reports the fixture Mac
//!   `tests/fixtures/hosts/macos26-laptop` of the source tree, its files read under
//!   `--root` and its commands answered from the recorded outputs in its `_captures`
//!   (`attest-agent collect --replay`). Its report is marked `agent.replay`: the
//!   collector stores it and the report shows the host as a replay, never as evidence.
//!   When the source tree is not there (an installed binary), the demo says so and
//!   shows this machine only.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use attest_agent::config::Config as AgentConfig;
use attest_agent::enroll::{EnrollOptions, enroll};
use attest_agent::host::Host;
use attest_agent::host::replay::Captures;
use attest_agent::service::{Agent, Clock as _, SystemClock as AgentClock, run_once};
use attest_agent::state::StateDir;
use attest_agent::tls::{Pin, Trust};
use rand_core::{OsRng, RngCore as _};
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::config::{Config, Overrides};
use crate::evaluate::DEFAULT_WINDOW_MS;
use crate::report::{self, Format, Options, Progress, When};
use crate::store::reporting;

/// The default data directory of the demo (relative to the working directory).
pub const DEMO_DIR: &str = "attest-demo";
/// The demo's settings file in its data directory.
const SETTINGS_FILE: &str = "demo.json";
/// The demo agent's state directory in the data directory.
const AGENT_DIR: &str = "agent";
/// The state directory of the demo agent that reports the fixture Mac.
const MAC_AGENT_DIR: &str = "agent-mac";
/// The fixture Mac the demo shows beside this machine, in the source tree.
const DEMO_MAC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/hosts/macos26-laptop"
);

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    listen: SocketAddr,
}

/// The address to listen on: `--listen`, else the one an earlier run chose, else a
/// free port on 127.0.0.1 (then saved).
fn listen_address(data_dir: &Path, given: Option<SocketAddr>) -> anyhow::Result<SocketAddr> {
    let path = data_dir.join(SETTINGS_FILE);
    let saved = match std::fs::read(&path) {
        Ok(bytes) => Some(
            serde_json::from_slice::<Settings>(&bytes)
                .with_context(|| format!("{}: not the demo's settings", path.display()))?
                .listen,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let addr = match (given, saved) {
        (Some(a), _) => a,
        (None, Some(a)) => {
            if let Err(e) = TcpListener::bind(a) {
                bail!(
                    "{a}, where this demo listens, is not free ({e}): is the demo already \
                     running? Stop it, or pass --listen ADDR"
                );
            }
            a
        }
        (None, None) => TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port on 127.0.0.1")?,
    };
    if saved != Some(addr) {
        let tmp = data_dir.join(format!("{SETTINGS_FILE}.tmp"));
        crate::files::write_private_atomic(
            &tmp,
            &path,
            &serde_json::to_vec_pretty(&Settings { listen: addr })?,
        )?;
    }
    Ok(addr)
}

async fn wait_for(addr: SocketAddr, cert: &Path) -> anyhow::Result<()> {
    for _ in 0..300 {
        if cert.exists() && tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the collector did not start listening on {addr}")
}

/// Enrolls the demo agent (first run), or points its enrollment at this run's
/// address (when `--listen` moved it).
async fn enroll_demo_agent(
    state: &StateDir,
    stores: &reporting::Stores,
    clock: &dyn Clock,
    server: &url::Url,
    pin: &Pin,
    host: &Host,
) -> anyhow::Result<()> {
    let trust = Trust::Pin(*pin);
    if let Some(mut enrollment) = state.load_enrollment()? {
        if enrollment.server != server.as_str() || enrollment.trust != trust {
            enrollment.server = server.to_string();
            enrollment.trust = trust;
            state.save_enrollment(&enrollment)?;
        }
        return Ok(());
    }
    let token = crate::admin::create_enroll_token(
        stores.store.as_ref(),
        clock.now_millis(),
        "demo",
        1,
        Some(Duration::from_secs(600)),
    )
    .await?;
    let now = AgentClock.now();
    let thresholds = attest_agent::checks::Thresholds::default();
    let host_info = attest_agent::collect::collect(host, now, &thresholds, &[])?.host;
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    let options = EnrollOptions {
        server: server.clone(),
        token: token.token,
        trust,
        proxy: None,
        force: false,
    };
    enroll(state, &options, host_info, now, seed)
        .await
        .context("enrolling this machine")?;
    Ok(())
}

/// The fixture Mac of the source tree, its commands answered from its captures;
/// `None` when the source tree is not where this binary was built from.
fn demo_mac() -> anyhow::Result<Option<Host>> {
    let root = Path::new(DEMO_MAC);
    if !root.is_dir() {
        return Ok(None);
    }
    let captures_dir = root.join("_captures");
    let host = Host::open(root)?;
    let captures = Captures::open(&captures_dir)?;
    Ok(Some(host.with_captures(captures, &captures_dir)?))
}

/// Enrolls the agent whose state directory is `state_dir` (first run) and delivers
/// one report of `host` as `attest-agent run --once` does. Returns the agent id and
/// the report's sequence number.
async fn deliver(
    state_dir: &Path,
    host: Host,
    stores: &reporting::Stores,
    clock: &dyn Clock,
    server: &url::Url,
    pin: &Pin,
) -> anyhow::Result<(String, u64)> {
    let state = StateDir::new(state_dir);
    enroll_demo_agent(&state, stores, clock, server, pin, &host).await?;
    let agent = Agent::open(state, AgentConfig::defaults(&|_| None), host)?;
    let outcome = run_once(&agent, &AgentClock).await?;
    let Some(seq) = outcome.collected.filter(|_| outcome.left == 0) else {
        let why = [outcome.collect_error, outcome.stopped]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ");
        bail!("the report was not delivered: {why}");
    };
    Ok((agent.enrollment.agent_id.clone(), seq))
}

/// How a person runs one of the workspace's programs from a shell: through cargo in
/// a checkout (the demo was started by `cargo run`), else by its path next to this
/// program, else by its name (installed on the PATH).
fn program(name: &str) -> String {
    let Ok(exe) = std::env::current_exe().and_then(std::fs::canonicalize) else {
        return name.to_owned();
    };
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let profile = dir.file_name().and_then(|p| p.to_str()).unwrap_or("");
    let target = dir.parent();
    if let Some(root) = target
        .filter(|t| t.file_name().is_some_and(|n| n == "target"))
        .and_then(Path::parent)
        .filter(|r| r.join("Cargo.toml").is_file())
        && matches!(profile, "release" | "debug")
    {
        let release = if profile == "release" {
            " --release"
        } else {
            ""
        };
        let here = std::env::current_dir()
            .and_then(std::fs::canonicalize)
            .is_ok_and(|d| d == root);
        return if here {
            format!("cargo run -q{release} -p {name} --")
        } else {
            format!(
                "cargo run -q{release} --manifest-path {} -p {name} --",
                root.join("Cargo.toml").display()
            )
        };
    }
    let sibling = dir.join(name);
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name) == sibling));
    if sibling.is_file() && !on_path {
        sibling.display().to_string()
    } else {
        name.to_owned()
    }
}

/// A path as the next steps print it: relative to the working directory when inside
/// it (shorter, and what the user typed), else absolute.
fn shown(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

/// Runs the demo. `overrides.data_dir` defaults to `./attest-demo`; `listen` to the
/// saved address, else a free port on 127.0.0.1.
pub async fn run(
    overrides: &Overrides,
    listen: Option<SocketAddr>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    // Ctrl-C and SIGTERM stop the demo from the start, cleanly.
    let signal = crate::server::shutdown_signal().await?;
    let data_dir = overrides
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEMO_DIR));
    crate::files::private_dir(&data_dir)?;
    let data_dir = std::fs::canonicalize(&data_dir)?;
    let listen = listen_address(&data_dir, listen)?;
    let config = Config::load(&Overrides {
        config: overrides.config.clone(),
        listen: Some(listen.to_string()),
        data_dir: Some(data_dir.clone()),
        database: overrides.database.clone(),
        tls_cert: None,
        tls_key: None,
        insecure_http: false,
    })
    .context("configuration")?;

    // The collector, in this process, on loopback over TLS.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(crate::server::serve(
        config.clone(),
        Arc::clone(&clock),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let (cert, _) = crate::tls::self_signed_paths(&data_dir);
    tokio::select! {
        up = wait_for(listen, &cert) => up?,
        // The collector stopped before it listened: its error says why.
        ended = &mut server => {
            ended.map_err(|e| anyhow::anyhow!("the collector task failed: {e}"))??;
            bail!("the collector stopped before it listened on {listen}");
        }
    }
    let fingerprint = crate::tls::fingerprint_of(&cert)?;
    let pin: Pin = fingerprint
        .parse()
        .map_err(|e| anyhow::anyhow!("the certificate's fingerprint: {e}"))?;
    let stores = reporting::open(&config.database, 2).await?;

    // This machine as an agent, exactly as `attest-agent` runs: enroll (first run),
    // collect, sign, spool, deliver over pinned TLS.
    let server_url = url::Url::parse(&format!("https://{listen}"))?;
    let state_dir = data_dir.join(AGENT_DIR);
    let host = Host::open(Path::new("/"))?;
    let (agent_id, seq) = deliver(
        &data_dir.join(AGENT_DIR),
        host,
        &stores,
        clock.as_ref(),
        &server_url,
        &pin,
    )
    .await
    .context("this machine")?;
    // The fixture Mac, replayed from its captures (never evidence).
    let mac = match demo_mac() {
        Ok(Some(host)) => Some(
            deliver(
                &data_dir.join(MAC_AGENT_DIR),
                host,
                &stores,
                clock.as_ref(),
                &server_url,
                &pin,
            )
            .await
            .context("the fixture Mac")?,
        ),
        Ok(None) => None,
        Err(why) => {
            println!("The fixture Mac is not shown: {why}");
            None
        }
    };

    // The report.
    let html = data_dir.join("report.html");
    let catalog = Catalog::builtin()?;
    let opts = Options {
        when: When::AsOf(clock.now_millis()),
        window: DEFAULT_WINDOW_MS,
        generated_at: clock.now_millis(),
        html_host_limit: 500,
        organization: None,
    };
    let r = report::to_file(
        &stores,
        &catalog,
        Format::Html,
        &opts,
        &html,
        &Progress::quiet(),
    )
    .await?;
    stores.store.close().await;

    let (log_key, _) = crate::server::load_or_create_log_key(&data_dir)?;
    let log_key_id = attest_proto::keyid(&log_key.verifying_key());
    let dd = shown(&data_dir);
    let collector = format!("{} --data-dir {dd}", program("attest-collector"));
    let agent = program("attest-agent");
    let hosts = r.summary.hosts_in_scope;
    println!();
    println!("Attest demo: a collector is running on https://{listen}");
    println!("  certificate SHA-256 fingerprint: {fingerprint}");
    println!("  this machine is agent {agent_id}: report seq {seq} delivered");
    if let Some((mac_id, mac_seq)) = &mac {
        println!(
            "  the fixture Mac macos26-laptop is agent {mac_id}: report seq {mac_seq}, a replay \
             of recorded outputs, shown in the report and never counted as evidence"
        );
    }
    println!();
    println!("The report: {}", shown(&html));
    println!(
        "  {hosts} {}, {} of {} controls evidenced; open it in a browser or print it.",
        if hosts == 1 { "host" } else { "hosts" },
        r.summary.controls_assessed,
        r.summary.controls
    );
    println!();
    println!("Next steps (in another terminal, from this directory, while this one runs):");
    println!("  send another report of this machine, as the agent service does:");
    println!("    {agent} run --once --state-dir {}", shown(&state_dir));
    println!("  write the report again, and the evidence bundle an auditor verifies offline:");
    println!("    {collector} report --format html --out {dd}/report.html");
    println!("    {collector} export --out {dd}/evidence.tar.gz");
    println!("    {collector} verify {dd}/evidence.tar.gz --collector-key {log_key_id}");
    println!("  the read API, with a token for an auditor:");
    println!("    TOKEN=$({collector} apitoken create --role auditor)");
    println!(
        "    curl --fail --cacert {} -H \"Authorization: Bearer $TOKEN\" https://localhost:{}/v1/agents",
        shown(&cert),
        listen.port()
    );
    println!();
    println!(
        "Other machines enroll with a collector they can reach: `attest-collector serve` \
         (docs/collector.md), then `attest-agent enroll` on each (docs/agent.md)."
    );
    println!("Ctrl-C stops the collector; run the demo again to add a report of this machine.");

    signal.await;
    let _ = stop_tx.send(());
    server
        .await
        .map_err(|e| anyhow::anyhow!("the collector task failed: {e}"))??;
    Ok(())
}
