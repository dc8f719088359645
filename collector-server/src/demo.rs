//! `attest-collector demo`: the first run. A collector on loopback with SQLite in a
//! data directory, this machine enrolled as an agent through the real enrollment and
//! TLS path (the `attest-agent` program itself, run as a child process: its own
//! enrollment, state directory, spool and uploader), one report collected, signed and
//! delivered over HTTPS,
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
//!
//! The collector does not link the agent: the demo runs the `attest-agent` program
//! ([`agent_program`]). In a source checkout (the demo started by `cargo run`) it is
//! built first with the same profile, so it is never stale; installed, it is the
//! program next to this one or on the PATH.
//!
//! When `--listen` moves the demo to another address, its agents enroll again (their
//! enrollment names the old address) and the agents they were are revoked, so a
//! machine never counts twice.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt as _;

use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::config::{Config, Overrides};
use crate::evaluate::DEFAULT_WINDOW_MS;
use crate::report::{self, Format, Options, Progress, When};
use crate::store::{Role, reporting};

/// The default data directory of the demo (relative to the working directory).
pub const DEMO_DIR: &str = "attest-demo";
/// The demo's settings file in its data directory.
const SETTINGS_FILE: &str = "demo.json";
/// The dashboard user the demo makes (admin), with a one-time password per run.
pub const DEMO_ADMIN: &str = "admin";
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

/// The `attest-agent` program the demo runs. In a source checkout (this program is
/// `target/{debug,release}/attest-collector` of a workspace) it is built first with the
/// same profile (`cargo build -p attest-agent`, a no-op when up to date); else the
/// program next to this one; else `attest-agent` on the PATH.
// The rule against `std::process::Command` is the agent's (host commands go through
// its source table); the collector's demo runs cargo, a fixed program with fixed
// arguments and no shell, to build the agent it then runs.
#[allow(clippy::disallowed_methods)]
fn agent_program() -> anyhow::Result<PathBuf> {
    let name = format!("attest-agent{}", std::env::consts::EXE_SUFFIX);
    let exe = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .context("finding this program")?;
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let sibling = dir.join(&name);
    if let Some((root, profile)) = checkout_of(dir) {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = std::process::Command::new(&cargo);
        build
            .arg("build")
            .arg("-q")
            .arg("--manifest-path")
            .arg(root.join("Cargo.toml"))
            .args(["-p", "attest-agent", "--bin", "attest-agent"]);
        if profile == "release" {
            build.arg("--release");
        }
        println!("Building the agent: cargo build -p attest-agent ({profile})");
        let status = build
            .status()
            .with_context(|| format!("running {}", Path::new(&cargo).display()))?;
        if !status.success() {
            bail!("building attest-agent failed ({status}); see cargo's output above");
        }
        return Ok(sibling);
    }
    if sibling.is_file() {
        return Ok(sibling);
    }
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(&name))
                .find(|c| c.is_file())
        })
        .with_context(|| {
            format!(
                "the demo runs the agent, and no {name} is next to {} or on the PATH: \
                 install the attest-agent package, or build it (cargo build -p attest-agent)",
                exe.display()
            )
        })
}

/// The workspace root and profile when `dir` is `ROOT/target/PROFILE` of a checkout
/// holding the agent's sources.
fn checkout_of(dir: &Path) -> Option<(PathBuf, &str)> {
    let profile = dir.file_name()?.to_str()?;
    if !matches!(profile, "release" | "debug") {
        return None;
    }
    let target = dir.parent()?;
    if target.file_name()? != "target" {
        return None;
    }
    let root = target.parent()?;
    (root.join("Cargo.toml").is_file() && root.join("agent/Cargo.toml").is_file())
        .then(|| (root.to_path_buf(), profile))
}

/// What the demo reads of `attest-agent status --format json`.
#[derive(Debug, Deserialize)]
struct AgentStatus {
    enrollment: Option<AgentEnrollment>,
    last_upload: Option<AgentEvent>,
}

#[derive(Debug, Deserialize)]
struct AgentEnrollment {
    agent_id: String,
    server: String,
    trust: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct AgentEvent {
    seq: u64,
}

/// One of the demo's agents: the `attest-agent` program on its own state directory,
/// judging `/` or a fixture root replayed from its captures.
struct DemoAgent<'a> {
    program: &'a Path,
    state_dir: PathBuf,
    /// A fixture root and its captures (`--root`, `--replay`).
    replay: Option<(PathBuf, PathBuf)>,
}

impl DemoAgent<'_> {
    /// Runs `attest-agent ARGS --state-dir DIR`, `stdin` written to its standard input;
    /// its standard output, or an error with what it printed.
    async fn run(&self, args: &[&std::ffi::OsStr], stdin: Option<&str>) -> anyhow::Result<String> {
        let mut cmd = tokio::process::Command::new(self.program);
        cmd.args(args)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .stdin(if stdin.is_some() {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
            input.write_all(text.as_bytes()).await?;
            input.write_all(b"\n").await?;
        }
        let out = child.wait_with_output().await?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let what = args
                .first()
                .map(|a| a.to_string_lossy().into_owned())
                .unwrap_or_default();
            bail!(
                "attest-agent {what} failed ({}): {}",
                out.status,
                stderr.trim()
            );
        }
        Ok(stdout)
    }

    async fn status(&self) -> anyhow::Result<AgentStatus> {
        let out = self
            .run(
                &["status".as_ref(), "--format".as_ref(), "json".as_ref()],
                None,
            )
            .await?;
        serde_json::from_str(&out).context("reading `attest-agent status --format json`")
    }

    /// Enrolls the agent (first run, or again when its enrollment names another
    /// address or certificate than this run's: the agent it was is then revoked).
    async fn enroll(
        &self,
        stores: &reporting::Stores,
        clock: &dyn Clock,
        server: &str,
        fingerprint: &str,
    ) -> anyhow::Result<()> {
        let current = self.status().await?.enrollment;
        let pin = fingerprint.replace(':', "").to_ascii_lowercase();
        let stale = match &current {
            None => None,
            Some(e)
                if e.server.trim_end_matches('/') == server.trim_end_matches('/')
                    && e.trust
                        .get("pin")
                        .and_then(|p| p.as_str())
                        .map(|p| p.replace(':', "").to_ascii_lowercase())
                        == Some(pin.clone()) =>
            {
                return Ok(());
            }
            Some(e) => Some(e.agent_id.clone()),
        };
        let token = crate::admin::create_enroll_token(
            stores.store.as_ref(),
            clock.now_millis(),
            "demo",
            1,
            Some(Duration::from_secs(600)),
        )
        .await?;
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "enroll".as_ref(),
            "--server".as_ref(),
            server.as_ref(),
            "--pin".as_ref(),
            pin.as_ref(),
            "--token".as_ref(),
            "-".as_ref(),
        ];
        if stale.is_some() {
            args.push("--force".as_ref());
        }
        if let Some((root, captures)) = &self.replay {
            args.extend([
                "--root".as_ref(),
                root.as_os_str(),
                "--replay".as_ref(),
                captures.as_os_str(),
            ]);
        }
        self.run(&args, Some(&token.token)).await?;
        if let Some(old) = stale {
            crate::admin::revoke_agent(stores.store.as_ref(), clock.now_millis(), "demo", &old)
                .await?;
        }
        Ok(())
    }

    /// Enrolls the agent when needed and delivers one report as `attest-agent run
    /// --once` does. Returns the agent id and the report's sequence number.
    async fn deliver(
        &self,
        stores: &reporting::Stores,
        clock: &dyn Clock,
        server: &str,
        fingerprint: &str,
    ) -> anyhow::Result<(String, u64)> {
        self.enroll(stores, clock, server, fingerprint).await?;
        let mut args: Vec<&std::ffi::OsStr> = vec!["run".as_ref(), "--once".as_ref()];
        if let Some((root, captures)) = &self.replay {
            args.extend([
                "--root".as_ref(),
                root.as_os_str(),
                "--replay".as_ref(),
                captures.as_os_str(),
            ]);
        }
        self.run(&args, None)
            .await
            .context("the report was not delivered")?;
        let status = self.status().await?;
        match (status.enrollment, status.last_upload) {
            (Some(e), Some(u)) => Ok((e.agent_id, u.seq)),
            _ => bail!("the agent says it is not enrolled or delivered nothing"),
        }
    }
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
    let stores = reporting::open(&config.database, 2).await?;

    // This machine as an agent, exactly as `attest-agent` runs: enroll (first run),
    // collect, sign, spool, deliver over pinned TLS.
    let agent_exe = agent_program()?;
    let server_url = format!("https://{listen}");
    let state_dir = data_dir.join(AGENT_DIR);
    let this = DemoAgent {
        program: &agent_exe,
        state_dir: state_dir.clone(),
        replay: None,
    };
    let (agent_id, seq) = this
        .deliver(&stores, clock.as_ref(), &server_url, &fingerprint)
        .await
        .context("this machine")?;
    // The fixture Mac, replayed from its captures (never evidence), when the source
    // tree is where this program was built from.
    let mac_root = Path::new(DEMO_MAC);
    let mac = if mac_root.is_dir() {
        let mac = DemoAgent {
            program: &agent_exe,
            state_dir: data_dir.join(MAC_AGENT_DIR),
            replay: Some((mac_root.to_path_buf(), mac_root.join("_captures"))),
        };
        Some(
            mac.deliver(&stores, clock.as_ref(), &server_url, &fingerprint)
                .await
                .context("the fixture Mac")?,
        )
    } else {
        println!(
            "The fixture Mac is not shown: {} is not here (an installed collector)",
            mac_root.display()
        );
        None
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
    // The dashboard's admin, with a password made for this run (a new one each run).
    let password = crate::users::one_time_password();
    let now = clock.now_millis();
    let s = stores.store.as_ref();
    if s.user(DEMO_ADMIN).await?.is_some() {
        crate::accounts::set_password(s, now, "demo", DEMO_ADMIN, &password).await?;
    } else {
        crate::accounts::add_user(s, now, "demo", DEMO_ADMIN, Role::Admin, &password).await?;
    }
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
    println!("The dashboard: https://localhost:{}/ui/", listen.port());
    println!(
        "  sign in as {DEMO_ADMIN} with the one-time password {password} (a new one each time \
         the demo starts); the browser asks to accept the demo's self-signed certificate"
    );
    println!(
        "  an auditor's account (its one-time password printed): {collector} user add auditor --role auditor"
    );
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
