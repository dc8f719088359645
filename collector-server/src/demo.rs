//! `attest-collector demo`: the first run. A collector on loopback with SQLite in a
//! data directory, this machine enrolled as an agent through the real enrollment and
//! TLS path, one report collected (the agent's own checks, `attest-agent`'s library),
//! signed and delivered over HTTPS, the HTML report written — then it prints where
//! everything is and how to go on, and keeps serving until Ctrl-C.
//!
//! The demo agent's key and chain position are kept in `<data dir>/demo-agent/` (key
//! mode 0600), so running the demo again adds a report of the same host instead of a
//! new host.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use attest_proto::{
    BASE64, ChainState, EnrollRequest, EnrollResponse, Envelope, Receipt, SigningKey, Statement,
    encode_public_key,
};
use base64::Engine as _;
use rand_core::OsRng;
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::client::Client;
use crate::clock::Clock;
use crate::config::{Config, Overrides};
use crate::evaluate::DEFAULT_WINDOW_MS;
use crate::report::{self, Format, Options, Progress, When};
use crate::store::reporting;

/// The default data directory of the demo (relative to the working directory).
pub const DEMO_DIR: &str = "attest-demo";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoAgent {
    agent_id: String,
    chain: ChainState,
}

fn agent_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("demo-agent")
}

fn load_key(dir: &Path) -> anyhow::Result<Option<SigningKey>> {
    let path = dir.join("agent.key");
    if !path.exists() {
        return Ok(None);
    }
    let text = crate::tls::read_private(&path)?;
    let raw = BASE64
        .decode(String::from_utf8_lossy(&text).trim())
        .with_context(|| format!("{}: not base64", path.display()))?;
    let secret: [u8; 32] = raw
        .try_into()
        .map_err(|_| anyhow::anyhow!("{}: not a 32-byte key", path.display()))?;
    Ok(Some(SigningKey::from_bytes(&secret)))
}

/// A free port on loopback (the demo's default address).
fn free_loopback() -> anyhow::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").context("finding a free port on 127.0.0.1")?;
    Ok(l.local_addr()?)
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

/// Runs the demo. `overrides.data_dir` defaults to `./attest-demo`; `listen` to a free
/// port on 127.0.0.1.
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
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&data_dir)?;
    let listen = match listen {
        Some(a) => a,
        None => free_loopback()?,
    };
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
    let stores = reporting::open(&config.database, 2).await?;

    // The collector, in this process, on loopback over TLS.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::server::serve(
        config.clone(),
        Arc::clone(&clock),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let (cert, _) = crate::tls::self_signed_paths(&data_dir);
    wait_for(listen, &cert).await?;
    let fingerprint = crate::tls::fingerprint_of(&cert)?;
    let client = Client::pinned(listen, &fingerprint)?;

    // This machine as an agent: collect, enroll (first run), sign, deliver.
    let now = clock.now();
    let host = attest_agent::host::HostRoot::open(Path::new("/"))?;
    let thresholds = attest_agent::checks::Thresholds::default();
    let mut report = attest_agent::collect::collect(&host, now, &thresholds, &[])?;
    let dir = agent_dir(&data_dir);
    crate::tls::private_dir(&dir)?;
    let (key, mut state) = match (load_key(&dir)?, std::fs::read(dir.join("agent.json")).ok()) {
        (Some(key), Some(json)) => (key, serde_json::from_slice::<DemoAgent>(&json)?),
        _ => {
            let key = SigningKey::generate(&mut OsRng);
            crate::tls::write_private(
                &dir.join("agent.key"),
                format!("{}\n", BASE64.encode(key.to_bytes())).as_bytes(),
            )?;
            let token = crate::admin::create_enroll_token(
                stores.store.as_ref(),
                clock.now_millis(),
                "demo",
                1,
                Some(Duration::from_secs(600)),
            )
            .await?;
            let body = serde_json::to_vec(&EnrollRequest {
                token: token.token,
                public_key: encode_public_key(&key.verifying_key()),
                host: report.host.clone(),
            })?;
            let resp = client.post("/v1/enroll", body).await?;
            if resp.status != 200 {
                bail!(
                    "enrollment refused ({}): {}",
                    resp.status,
                    String::from_utf8_lossy(&resp.body)
                );
            }
            let enrolled = EnrollResponse::from_json(&resp.body)?;
            let chain = ChainState::genesis(&key.verifying_key());
            (
                key,
                DemoAgent {
                    agent_id: enrolled.agent_id,
                    chain,
                },
            )
        }
    };
    report.agent_id = state.agent_id.clone();
    state.chain.stamp(&mut report);
    let bytes = Statement::for_report(report).to_bytes()?;
    let envelope = Envelope::sign(&bytes, &key).to_json()?;
    state.chain.advance(&bytes);
    // The chain position, saved before delivery as the agent does (replaced
    // atomically, 0600): a report is never signed twice with one seq.
    let tmp = dir.join("agent.json.tmp");
    let _ = std::fs::remove_file(&tmp);
    crate::tls::write_private(&tmp, &serde_json::to_vec_pretty(&state)?)?;
    std::fs::rename(&tmp, dir.join("agent.json"))?;

    let resp = client.post("/v1/reports", envelope).await?;
    if resp.status != 200 {
        bail!(
            "the report was refused ({}): {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        );
    }
    let receipt = Receipt::from_json(&resp.body)?;
    // The report.
    let html = data_dir.join("report.html");
    let catalog = Catalog::builtin()?;
    let opts = Options {
        when: When::AsOf(clock.now_millis()),
        window: DEFAULT_WINDOW_MS,
        generated_at: clock.now_millis(),
        html_host_limit: 500,
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

    let dd = data_dir.display();
    println!();
    println!("Attest demo: a collector is running on https://{listen}");
    println!("  certificate SHA-256 fingerprint: {fingerprint}");
    println!(
        "  this machine is agent {} (report seq {} stored at log index {})",
        state.agent_id, receipt.seq, receipt.log_index
    );
    println!();
    println!("The report: {}", html.display());
    println!(
        "  {} host(s), {} of {} controls evidenced; open it in a browser or print it.",
        r.summary.hosts_in_scope, r.summary.controls_assessed, r.summary.controls
    );
    println!();
    println!("Go on (in another terminal, while this one runs):");
    println!("  enroll another machine:");
    println!("    attest-collector --data-dir {dd} token create --uses 1");
    println!(
        "    attest-agent enroll --server https://{listen} --token <TOKEN> --pin {fingerprint}"
    );
    println!("  the API:");
    println!("    attest-collector --data-dir {dd} apitoken create --role auditor");
    println!(
        "    curl --cacert {} -H 'Authorization: Bearer <TOKEN>' https://localhost:{}/v1/agents",
        cert.display(),
        listen.port()
    );
    println!("  reports and evidence:");
    println!("    attest-collector --data-dir {dd} report --format oscal --out report.json");
    println!("    attest-collector --data-dir {dd} export --out evidence.tar.gz");
    println!("    attest-collector verify evidence.tar.gz");
    println!();
    println!("Ctrl-C stops the collector; run the demo again to add a report of this machine.");

    signal.await;
    let _ = stop_tx.send(());
    server
        .await
        .map_err(|e| anyhow::anyhow!("the collector task failed: {e}"))??;
    Ok(())
}
