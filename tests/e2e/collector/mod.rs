//! The collector as a process: `attest-collector serve` on a free loopback port with a
//! temp data directory, over real TLS (the client pins the printed fingerprint).

mod api;
mod apitokens;
mod conflicts;
mod crash;
mod enroll;
mod ingest;
mod limits;
mod multi;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use attest_proto::{EnrollRequest, EnrollResponse, SigningKey, encode_public_key};
use attest_sim::client::{Client, Response};
use attest_sim::synth::{SynthAgent, agent_key, host};
use chrono::{DateTime, Utc};

use crate::support::bin;

/// A running collector.
pub struct Collector {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub fingerprint: String,
    pub data_dir: PathBuf,
    pub database: Option<String>,
    log: PathBuf,
}

/// The PostgreSQL server of the tests that need one: they are built as ignored
/// (counted as skipped, with the reason) unless `ATTEST_TEST_POSTGRES_URL` was set
/// when they were built (`tests/build.rs`).
pub fn postgres_url() -> String {
    std::env::var("ATTEST_TEST_POSTGRES_URL")
        .expect("ATTEST_TEST_POSTGRES_URL is not set: this test needs PostgreSQL")
}

/// A fresh PostgreSQL database for one test.
pub async fn fresh_postgres(label: &str) -> String {
    attest_collector::store::postgres::create_test_database(&postgres_url(), label)
        .await
        .unwrap()
}

fn common_args(data_dir: &Path, database: Option<&str>, config: Option<&Path>) -> Vec<String> {
    let mut args = vec!["--data-dir".to_owned(), data_dir.display().to_string()];
    if let Some(db) = database {
        args.extend(["--database".to_owned(), db.to_owned()]);
    }
    if let Some(c) = config {
        args.extend(["--config".to_owned(), c.display().to_string()]);
    }
    args
}

/// Writes a private config file (0600) into `dir`.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join("collector.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

impl Collector {
    pub fn start(data_dir: &Path) -> Collector {
        Collector::start_with(data_dir, None, None)
    }

    pub fn start_with(data_dir: &Path, database: Option<&str>, config: Option<&Path>) -> Collector {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, Ordering::SeqCst);
        let log = data_dir.with_file_name(format!(
            "{}.collector{n}.log",
            data_dir.file_name().unwrap().to_string_lossy()
        ));
        let log_file = std::fs::File::create(&log).unwrap();
        let mut args = common_args(data_dir, database, config);
        args.extend(["serve".into(), "--listen".into(), "127.0.0.1:0".into()]);
        let child = Command::new(bin("attest-collector"))
            .args(&args)
            .env("ATTEST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let mut collector = Collector {
            child: Some(child),
            addr: "127.0.0.1:1".parse().unwrap(),
            fingerprint: String::new(),
            data_dir: data_dir.to_path_buf(),
            database: database.map(str::to_owned),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = std::fs::read_to_string(&collector.log).unwrap_or_default();
            // Only whole lines: the collector may be writing the one read last (a
            // half-written "listening on https://127.0.0.1:3" parses as another port).
            for line in text
                .split_inclusive('\n')
                .filter_map(|l| l.strip_suffix('\n'))
            {
                if let Some(fp) =
                    line.strip_prefix("attest-collector: certificate SHA-256 fingerprint: ")
                {
                    collector.fingerprint = fp.trim().to_owned();
                }
                if let Some(addr) = line.strip_prefix("attest-collector: listening on https://") {
                    collector.addr = addr.trim().parse().unwrap();
                    assert_eq!(collector.fingerprint.len(), 64, "{text}");
                    return collector;
                }
            }
            if let Some(status) = collector.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("the collector exited ({status}) before listening:\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "the collector did not start:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// The server's stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn client(&self) -> Client {
        Client::pinned(self.addr, &self.fingerprint).unwrap()
    }

    /// Runs an admin command against the same data dir and database.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut all = common_args(&self.data_dir, self.database.as_deref(), None);
        all.extend(args.iter().map(|s| (*s).to_owned()));
        Command::new(bin("attest-collector"))
            .args(&all)
            .output()
            .unwrap()
    }

    /// `token create`: the token (stdout) and its id (from stderr).
    pub fn token(&self, args: &[&str]) -> (String, String) {
        let mut all = vec!["token", "create"];
        all.extend(args);
        let out = self.cli(&all);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let id = stderr
            .split_whitespace()
            .find(|w| w.starts_with("tok_"))
            .unwrap()
            .to_owned();
        (token, id)
    }

    pub fn apitoken(&self, role: &str) -> String {
        let out = self.cli(&["apitoken", "create", "--role", role]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// SIGTERM and wait; returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.terminate();
        self.child.take().unwrap().wait().unwrap()
    }

    /// Sends SIGTERM without waiting.
    pub fn terminate(&self) {
        let child = self.child.as_ref().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.as_mut().unwrap().try_wait().unwrap().is_none()
    }

    /// Waits for the process to exit (up to `limit`); its status.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(Instant::now() < deadline, "the collector did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A test agent with a deterministic key.
pub fn new_agent(seed: u64, i: u64) -> SynthAgent {
    SynthAgent::new(agent_key(seed, i), String::new(), host(i))
}

pub fn enroll_body(token: &str, key: &SigningKey, i: u64) -> Vec<u8> {
    serde_json::to_vec(&EnrollRequest {
        token: token.to_owned(),
        public_key: encode_public_key(&key.verifying_key()),
        host: host(i),
    })
    .unwrap()
}

/// Enrolls an agent and fills in its id.
pub async fn enroll(
    client: &Client,
    token: &str,
    agent: &mut SynthAgent,
    i: u64,
) -> EnrollResponse {
    let resp = client
        .post("/v1/enroll", enroll_body(token, &agent.key, i))
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let r = EnrollResponse::from_json(&resp.body).unwrap();
    agent.agent_id = r.agent_id.clone();
    r
}

pub fn now() -> DateTime<Utc> {
    "2026-11-25T14:00:00Z".parse().unwrap()
}

pub async fn post_report(client: &Client, envelope: Vec<u8>) -> Response {
    client.post("/v1/reports", envelope).await.unwrap()
}
