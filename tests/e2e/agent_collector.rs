//! The agent and the collector together, both real binaries, over TLS with the
//! collector's self-signed certificate pinned: enrollment and its failures, reports
//! waiting in the spool while the collector is down, `kill -9` during upload, and a
//! corrupted spool record. The collector's read API (auditor token) is the judge:
//! every report stored once, in order, each linking to the one before.
//!
//! The agent collects the live host (`run` has no `--root`); the tests look only at
//! the chain, never at the verdicts.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use attest_collector::log::Checkpoint;
use attest_proto::{Envelope, Statement, decode_public_key, genesis_prev, link_of};
use attest_sim::client::Client;

use crate::collector::Collector;
use crate::support::bin;

/// One agent: its config file and state directory in a temp dir.
struct Agent {
    dir: PathBuf,
    config: PathBuf,
    state: PathBuf,
}

impl Agent {
    fn new(dir: &Path, name: &str) -> Agent {
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let agent = Agent {
            config: dir.join("agent.toml"),
            state: dir.join("state"),
            dir,
        };
        agent.write_config(None);
        agent
    }

    /// `version = 1`, and `server` when given (the collector moved to another port).
    fn write_config(&self, server: Option<&str>) {
        let mut text = "version = 1\n".to_owned();
        if let Some(s) = server {
            text.push_str(&format!("server = \"{s}\"\n"));
        }
        std::fs::write(&self.config, text).unwrap();
        std::fs::set_permissions(&self.config, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn args(&self, args: &[&str]) -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        all.extend([
            "--config".to_owned(),
            self.config.display().to_string(),
            "--state-dir".to_owned(),
            self.state.display().to_string(),
        ]);
        all
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(bin("attest-agent"))
            .args(self.args(args))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn enroll(&self, server: &str, token: &str, pin: &str) -> Output {
        self.run(&["enroll", "--server", server, "--token", token, "--pin", pin])
    }

    fn status(&self) -> String {
        let out = self.run(&["status"]);
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    fn enrollment(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.state.join("enrollment.json")).unwrap()).unwrap()
    }

    fn spool(&self) -> PathBuf {
        self.state.join("spool")
    }

    /// The `.rec` files waiting in the spool, sorted.
    fn records(&self) -> Vec<PathBuf> {
        let mut recs: Vec<PathBuf> = std::fs::read_dir(self.spool())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "rec"))
            .collect();
        recs.sort();
        recs
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The lines of standard error that are not tracing log lines (which start with a
/// timestamp): what a person is told.
fn told(out: &Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| l.starts_with("attest-agent: "))
        .map(str::to_owned)
        .collect()
}

/// A failed command: non-zero exit and exactly one line saying why.
fn one_clear_line(out: &Output) -> String {
    let all = stderr(out);
    assert!(!out.status.success(), "must fail: {all}");
    assert_ne!(out.status.code(), Some(0), "{all}");
    let lines = told(out);
    assert_eq!(lines.len(), 1, "one line: {all}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    lines.into_iter().next().unwrap()
}

fn url(c: &Collector) -> String {
    format!("https://{}", c.addr)
}

/// `attest-collector fingerprint`, standard output only.
fn fingerprint(c: &Collector) -> String {
    let out = c.cli(&["fingerprint"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let fp = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(fp.len(), 64, "{fp}");
    assert!(fp.bytes().all(|b| b.is_ascii_hexdigit()), "{fp}");
    fp
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A started collector with an enrolled agent (pinned fingerprint).
fn enrolled(dir: &Path) -> (Collector, Agent) {
    let c = Collector::start(&dir.join("data"));
    let pin = fingerprint(&c);
    assert_eq!(pin, c.fingerprint);
    let (token, _) = c.token(&[]);
    let agent = Agent::new(dir, "agent");
    let out = agent.enroll(&url(&c), &token, &pin);
    assert!(out.status.success(), "{}", stderr(&out));
    (c, agent)
}

/// `run --once` with the collector down: exit non-zero, one more report waiting.
fn once_while_down(agent: &Agent, expect_waiting: usize) {
    let out = agent.run(&["run", "--once"]);
    let all = stderr(&out);
    assert!(!out.status.success(), "nothing could be delivered: {all}");
    assert!(all.contains("cannot reach the collector"), "{all}");
    assert_eq!(agent.records().len(), expect_waiting, "{all}");
    let status = agent.status();
    assert!(
        status.contains(&format!(
            "spool:           {expect_waiting} report(s) waiting"
        )),
        "{status}"
    );
    assert!(
        status.contains("last collection: ") && status.contains(&format!("(seq {expect_waiting})")),
        "{status}"
    );
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("last error:") && l.contains("cannot reach the collector")),
        "{status}"
    );
    // The same, for programs.
    let out = agent.run(&["status", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["spool"]["waiting"], expect_waiting, "{json}");
    assert_eq!(json["last_collection"]["seq"], expect_waiting, "{json}");
    assert_eq!(
        json["enrollment"]["agent_id"],
        agent.enrollment()["agent_id"],
        "{json}"
    );
    assert!(
        json["last_error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("cannot reach the collector")),
        "{json}"
    );
}

/// The collector's view of the agent: reports `1..=n` except `missing` (quarantined
/// by the agent) stored exactly once, each signed by the enrolled key, naming the
/// agent and its `seq`, each `prev` the link of the one before (the first the genesis
/// link of the enrolled key); nothing at `n + 1`; the head at `n`; log indexes
/// `0..stored` in `seq` order and a Merkle log of exactly that size (nothing stored
/// twice); no chain event but one gap when something is missing.
fn assert_chain(c: &Collector, agent: &Agent, n: u64, missing: &[u64]) {
    let enrollment = agent.enrollment();
    let id = enrollment["agent_id"].as_str().unwrap().to_owned();
    let key = decode_public_key(enrollment["public_key"].as_str().unwrap()).unwrap();
    let auditor = c.apitoken("auditor");
    block_on(async {
        let client: Client = c.client();
        let mut prev = genesis_prev(&key);
        let mut log_indexes = Vec::new();
        for seq in 1..=n {
            let resp = client
                .get(&format!("/v1/agents/{id}/reports/{seq}"), Some(&auditor))
                .await
                .unwrap();
            if missing.contains(&seq) {
                assert_eq!(resp.status, 404, "seq {seq} must not be stored");
                continue;
            }
            assert_eq!(
                resp.status,
                200,
                "seq {seq}: {}",
                String::from_utf8_lossy(&resp.body)
            );
            log_indexes.push(
                resp.headers["x-attest-log-index"]
                    .to_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap(),
            );
            let envelope = Envelope::from_json(&resp.body).unwrap();
            let payload = envelope.verify(&key).unwrap();
            let statement = Statement::from_slice(&payload).unwrap();
            assert_eq!(statement.predicate.seq, seq);
            assert_eq!(statement.predicate.agent_id, id);
            if !missing.contains(&(seq - 1)) {
                assert_eq!(statement.predicate.prev, prev, "seq {seq} links up");
            }
            prev = link_of(&payload);
        }
        let resp = client
            .get(
                &format!("/v1/agents/{id}/reports/{}", n + 1),
                Some(&auditor),
            )
            .await
            .unwrap();
        assert_eq!(resp.status, 404, "nothing past seq {n}");

        // In order: each report entered the log after the one before.
        let mut sorted = log_indexes.clone();
        sorted.sort_unstable();
        assert_eq!(log_indexes, sorted, "stored in seq order");
        let stored = n - missing.len() as u64;
        let expected: Vec<u64> = (0..stored).collect();
        assert_eq!(log_indexes, expected, "one leaf per report, none twice");

        let cp: Checkpoint =
            serde_json::from_slice(&client.get("/v1/log/checkpoint", None).await.unwrap().body)
                .unwrap();
        assert_eq!(cp.tree_size, stored, "the log holds each report once");

        let agents = client
            .get("/v1/agents", Some(&auditor))
            .await
            .unwrap()
            .json();
        let agents = agents["agents"].as_array().unwrap();
        assert_eq!(agents.len(), 1, "{agents:?}");
        assert_eq!(agents[0]["agent_id"], id.as_str());
        assert_eq!(agents[0]["head_seq"], n);

        let events = client
            .get(&format!("/v1/agents/{id}/chain-events"), Some(&auditor))
            .await
            .unwrap()
            .json();
        let kinds: Vec<&str> = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        let gaps = if missing.is_empty() {
            vec![]
        } else {
            vec!["gap"; 1]
        };
        assert_eq!(kinds, gaps, "{events}");
    });
}

#[test]
fn enrollment_with_the_pinned_fingerprint_and_its_failures() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(&dir.path().join("data"));
    let pin = fingerprint(&c);
    assert_eq!(
        pin, c.fingerprint,
        "the CLI prints the served certificate's"
    );
    let server = url(&c);
    let (token, _) = c.token(&["--uses", "1"]);

    // A wrong pin: refused, nothing enrolled, the token not used.
    let agent = Agent::new(dir.path(), "a");
    let mut wrong = pin.clone().into_bytes();
    wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
    let wrong = String::from_utf8(wrong).unwrap();
    let line = one_clear_line(&agent.enroll(&server, &token, &wrong));
    assert!(
        line.contains("does not match the pinned fingerprint")
            && line.contains(&format!("sha256:{pin}")),
        "{line}"
    );
    assert!(!agent.state.join("enrollment.json").exists());
    assert!(agent.status().contains("enrolled:        no"));

    // The right pin: enrolled, with the id the collector knows.
    let out = agent.enroll(&server, &token, &pin);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let id = agent.enrollment()["agent_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("agt_"), "{id}");
    assert!(
        stdout.contains(&format!("enrolled as {id}")) && stdout.contains(&pin),
        "{stdout}"
    );
    let status = agent.status();
    assert!(
        status.contains(&format!("enrolled:        yes, agent {id}")),
        "{status}"
    );
    let listed = c.cli(&["agents", "list"]);
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains(&id),
        "{}",
        String::from_utf8_lossy(&listed.stdout)
    );

    // The same token again: used up.
    let b = Agent::new(dir.path(), "b");
    let line = one_clear_line(&b.enroll(&server, &token, &pin));
    assert!(
        line.contains("the enrollment token has no uses left") && line.contains("token_used_up"),
        "{line}"
    );
    assert!(!b.state.join("enrollment.json").exists());

    // An expired token.
    let (short, _) = c.token(&["--uses", "5", "--expires", "1s"]);
    std::thread::sleep(Duration::from_millis(2100));
    let line = one_clear_line(&b.enroll(&server, &short, &pin));
    assert!(
        line.contains("the enrollment token has expired") && line.contains("token_expired"),
        "{line}"
    );
    assert!(!b.state.join("enrollment.json").exists());

    // An unreachable server: a closed port on 127.0.0.1.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (fresh, _) = c.token(&[]);
    let closed = format!("https://127.0.0.1:{port}");
    let line = one_clear_line(&b.enroll(&closed, &fresh, &pin));
    assert!(
        line.contains(&format!("cannot reach the collector at {closed}/"))
            && line.contains("Connection refused"),
        "{line}"
    );
    assert!(!b.state.join("enrollment.json").exists());

    // The failures used nothing: the fresh token still enrolls b.
    let out = b.enroll(&server, &fresh, &pin);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_ne!(b.enrollment()["agent_id"], id.as_str());
}

#[test]
fn reports_wait_while_the_collector_is_down_and_arrive_once_in_order() {
    const N: usize = 3;
    let dir = tempfile::tempdir().unwrap();
    let (mut c, agent) = enrolled(dir.path());
    assert_eq!(c.stop().code(), Some(0));

    for i in 1..=N {
        once_while_down(&agent, i);
    }

    // The collector returns on the same data dir (same certificate, new port).
    let c = Collector::start(&dir.path().join("data"));
    agent.write_config(Some(&url(&c)));
    let out = agent.run(&["run", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = told(&out).join("\n") + &String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!(
            "delivered {}, quarantined 0, waiting in the spool 0",
            N + 1
        )),
        "{said}"
    );
    assert!(agent.records().is_empty());
    let status = agent.status();
    assert!(
        status.contains("spool:           0 report(s) waiting")
            && status.contains("last upload:     ")
            && status.contains(&format!("(seq {})", N + 1)),
        "{status}"
    );
    assert_chain(&c, &agent, N as u64 + 1, &[]);
}

#[test]
fn kill_9_during_upload_loses_nothing_and_stores_nothing_twice() {
    const N: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let (mut c, agent) = enrolled(dir.path());
    assert_eq!(c.stop().code(), Some(0));
    for i in 1..=N {
        once_while_down(&agent, i);
    }
    // A copy of seq 1's record, to put back after its receipt: the state of a crash
    // after the collector stored it and before the agent deleted it.
    let first = agent.records()[0].clone();
    let saved = std::fs::read(&first).unwrap();

    let c = Collector::start(&dir.path().join("data"));
    agent.write_config(Some(&url(&c)));

    // The service: collects seq N+1 at start, then drains the spool. Killed with
    // SIGKILL as soon as the first receipt is logged.
    let log = agent.dir.join("run.log");
    let mut child = Command::new(bin("attest-agent"))
        .args(agent.args(&["run"]))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("report delivered") {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the service exited:\n{text}"
        );
        assert!(Instant::now() < deadline, "no delivery:\n{text}");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("seq=1"), "{text}");
    let left = agent.records().len();
    assert!(left <= N, "seq 1 was delivered: {left} left\n{text}");

    // Seq 1's record comes back, as if the kill had landed before its deletion.
    std::fs::write(&first, &saved).unwrap();

    let out = agent.run(&["run", "--once"]);
    let all = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.lines().any(|l| l.contains("report delivered")
            && l.contains("seq=1 ")
            && l.contains("duplicate=true")),
        "seq 1 answered with its first receipt:\n{all}"
    );
    assert!(agent.records().is_empty(), "{all}");
    let status = agent.status();
    assert!(
        status.contains("spool:           0 report(s) waiting (0 bytes), 0 quarantined"),
        "{status}"
    );
    // N while down, one at the service's start, one by --once.
    assert_chain(&c, &agent, N as u64 + 2, &[]);
}

#[test]
fn a_corrupted_spool_record_is_quarantined_and_the_others_delivered() {
    const N: usize = 3;
    let dir = tempfile::tempdir().unwrap();
    let (mut c, agent) = enrolled(dir.path());
    assert_eq!(c.stop().code(), Some(0));
    for i in 1..=N {
        once_while_down(&agent, i);
    }
    // Flip one byte of seq 2's body (after the 56-byte header).
    let recs = agent.records();
    let damaged = recs[1].clone();
    assert!(
        damaged
            .file_name()
            .unwrap()
            .to_string_lossy()
            .ends_with("00002.rec"),
        "{damaged:?}"
    );
    let mut bytes = std::fs::read(&damaged).unwrap();
    assert!(bytes.len() > 200);
    bytes[150] ^= 0x01;
    std::fs::write(&damaged, &bytes).unwrap();

    let c = Collector::start(&dir.path().join("data"));
    agent.write_config(Some(&url(&c)));
    let out = agent.run(&["run", "--once"]);
    let all = stderr(&out);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        format!("{all}{stdout}").contains(&format!(
            "delivered {}, quarantined 1, waiting in the spool 0",
            N
        )),
        "{all}{stdout}"
    );
    assert!(all.contains("quarantine"), "{all}");
    assert!(agent.records().is_empty(), "{all}");

    // The damaged record sits in the quarantine with a reason beside it.
    let quarantine = agent.spool().join("quarantine");
    let names: Vec<String> = std::fs::read_dir(&quarantine)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.ends_with("00002.rec")), "{names:?}");
    let reason_file = names
        .iter()
        .find(|n| n.contains("00002") && n.ends_with(".reason"))
        .unwrap_or_else(|| panic!("no reason file: {names:?}"));
    let reason = std::fs::read_to_string(quarantine.join(reason_file)).unwrap();
    assert!(!reason.trim().is_empty());

    let status = agent.status();
    assert!(
        status.contains("spool:           0 report(s) waiting") && status.contains("1 quarantined"),
        "{status}"
    );
    // 1, 3 and 4 stored; 2 never reached the collector, which records the gap.
    assert_chain(&c, &agent, N as u64 + 1, &[2]);
}

/// Waits until `log` holds `needle`; panics when `child` exits first or after a minute.
fn wait_for_log(child: &mut std::process::Child, log: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the agent exited:\n{text}"
        );
        assert!(Instant::now() < deadline, "no {needle:?}:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process killed when dropped (a failed assertion must not leave it running).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn a_second_agent_on_one_state_directory_is_refused_while_the_service_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (c, agent) = enrolled(dir.path());
    let log = agent.dir.join("run.log");
    let mut service = Running(
        Command::new(bin("attest-agent"))
            .args(agent.args(&["run"]))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let pid = service.0.id();
    wait_for_log(&mut service.0, &log, "service started");
    let state = agent.state.display().to_string();
    let expected = format!("attest-agent: another attest-agent is running on {state} (pid {pid})");

    // `run --once`: refused at once, exit 1, one line naming the directory and pid.
    let out = agent.run(&["run", "--once"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let line = one_clear_line(&out);
    assert!(line.starts_with(&expected), "{line}");
    // `enroll --force` would replace the key under the service: refused the same way,
    // before the collector is asked.
    let server = url(&c);
    let out = agent.run(&[
        "enroll",
        "--server",
        &server,
        "--token",
        "unused",
        "--pin",
        &c.fingerprint,
        "--force",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(one_clear_line(&out).starts_with(&expected));

    // The service runs on, and the read-only commands work beside it.
    assert!(
        service.0.try_wait().unwrap().is_none(),
        "the service stopped"
    );
    let status = agent.status();
    assert!(status.contains("enrolled:        yes"), "{status}");
    let out = agent.run(&["validate"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // SIGTERM, most likely during the first collection or delivery: the service
    // stops cleanly (exit 0; it once died of the signal when it came before the
    // first wait) and its lock goes with it.
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let exit = service.0.wait().unwrap();
    assert_eq!(
        exit.code(),
        Some(0),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let out = agent.run(&["run", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Seq 1 by the service, seq 2 by `--once`: the refused commands signed nothing.
    assert_chain(&c, &agent, 2, &[]);
}

/// A tmpfs of `size` mounted on `path` for the test's life (needs root).
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` (and a SKIP line) where mounting is not allowed.
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(path.to_path_buf())),
            Ok(o) => {
                eprintln!(
                    "SKIP: cannot mount a tmpfs (root needed): {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIP: cannot run mount: {e}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros into `path` until the file system refuses: a full disk.
fn fill(path: &Path) -> u64 {
    use std::io::Write as _;
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    let _ = file.sync_all();
    written
}

/// The files under `dir` (recursively) with their bytes, sorted by path.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_full_disk_gives_one_clear_line_and_loses_nothing() {
    const N: usize = 2;
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&dir.path().join("fs"), "16m") else {
        return;
    };
    let c = Collector::start(&dir.path().join("data"));
    let (token, _) = c.token(&[]);
    let mut agent = Agent::new(dir.path(), "agent");
    agent.state = fs.0.join("state");
    let out = agent.enroll(&url(&c), &token, &c.fingerprint);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut c = c;
    assert_eq!(c.stop().code(), Some(0));
    for i in 1..=N {
        once_while_down(&agent, i);
    }

    // The disk fills up; everything the agent wrote is as it was.
    let filler = fs.0.join("filler");
    assert!(fill(&filler) > 0);
    let before: Vec<_> = snapshot(&agent.state)
        .into_iter()
        .filter(|(p, _)| !p.ends_with("lock") && !p.ends_with("status.json"))
        .collect();
    assert!(before.iter().any(|(p, _)| p.ends_with("chain.json")));
    assert_eq!(agent.records().len(), N);

    let out = agent.run(&["run", "--once"]);
    let all = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let full: Vec<String> = told(&out)
        .into_iter()
        .filter(|l| l.contains("No space left on device"))
        .collect();
    assert_eq!(full.len(), 1, "one line about the full disk: {all}");
    let line = &full[0];
    let state = agent.state.display().to_string();
    assert!(
        line.starts_with(&format!("attest-agent: the disk holding {state}/"))
            && line.contains(" is full (")
            && line.contains("free some space"),
        "{line}"
    );
    assert!(
        told(&out)
            .iter()
            .any(|l| l.contains(&format!("waiting in the spool {N}"))),
        "{all}"
    );
    // Nothing lost, nothing half-written, no temporary file left behind.
    let after: Vec<_> = snapshot(&agent.state)
        .into_iter()
        .filter(|(p, _)| !p.ends_with("lock") && !p.ends_with("status.json"))
        .collect();
    assert_eq!(
        before.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        after.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    assert!(before == after, "the state changed on a full disk");
    // The status can still be read.
    assert!(agent.status().contains(&format!("{N} report(s) waiting")));

    // Space comes back, and so does the collector: everything arrives, and the refused
    // collection used no seq (no gap).
    std::fs::remove_file(&filler).unwrap();
    let c = Collector::start(&dir.path().join("data"));
    agent.write_config(Some(&url(&c)));
    let out = agent.run(&["run", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        told(&out).iter().any(|l| l.contains(&format!(
            "delivered {}, quarantined 0, waiting in the spool 0",
            N + 1
        ))),
        "{}",
        stderr(&out)
    );
    assert_chain(&c, &agent, N as u64 + 1, &[]);
    drop(fs);
}

/// The enrollment token need not appear in the process list: `--token-file FILE`
/// and `--token -` (standard input) enroll as `--token` does; an empty or missing
/// token is one line and exit status 2, with nothing enrolled.
#[test]
fn the_enrollment_token_from_a_file_or_standard_input() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(&dir.path().join("data"));
    let (token, _) = c.token(&["--uses", "2"]);
    let server = url(&c);
    let pin = c.fingerprint.clone();

    // From a file (a trailing newline, as `token create > FILE` writes it).
    let file_agent = Agent::new(dir.path(), "from-file");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let token_path = token_file.display().to_string();
    let out = file_agent.run(&[
        "enroll",
        "--server",
        &server,
        "--token-file",
        &token_path,
        "--pin",
        &pin,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        file_agent.enrollment()["agent_id"]
            .as_str()
            .unwrap()
            .starts_with("agt_")
    );

    // From standard input.
    let stdin_agent = Agent::new(dir.path(), "from-stdin");
    let mut child = Command::new(bin("attest-agent"))
        .args(stdin_agent.args(&["enroll", "--server", &server, "--token", "-", "--pin", &pin]))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{token}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let a = file_agent.enrollment()["agent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = stdin_agent.enrollment()["agent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(a, b, "two agents enrolled");

    // Bad token sources: one line, exit 2, nothing enrolled.
    let bad = Agent::new(dir.path(), "bad");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let empty = empty.display().to_string();
    let out = bad.run(&[
        "enroll",
        "--server",
        &server,
        "--token-file",
        &empty,
        "--pin",
        &pin,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        one_clear_line(&out),
        format!(
            "attest-agent: --token-file {empty}: the enrollment token is empty; get one with `attest-collector token create`"
        )
    );
    let missing = dir.path().join("missing").display().to_string();
    let out = bad.run(&[
        "enroll",
        "--server",
        &server,
        "--token-file",
        &missing,
        "--pin",
        &pin,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let line = one_clear_line(&out);
    assert!(
        line.starts_with(&format!(
            "attest-agent: --token-file {missing}: cannot read: "
        )),
        "{line}"
    );
    // `--token -` with nothing on standard input (Agent::run gives it /dev/null).
    let out = bad.run(&["enroll", "--server", &server, "--token", "-", "--pin", &pin]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        one_clear_line(&out),
        "attest-agent: --token - (standard input): the enrollment token is empty; get one with `attest-collector token create`"
    );
    assert!(!bad.state.join("enrollment.json").exists());
}

/// A lab agent enrolled for a captured root reports it with `--replay`: the
/// collector stores the report (signature, chain and log as any other) but never
/// counts it as evidence: the agent has no latest results.
#[test]
fn a_replayed_report_is_stored_but_never_counted() {
    let dir = tempfile::tempdir().unwrap();
    let root = crate::fixtures::root_of("rocky9-server+captured");
    let root_s = root.to_str().unwrap();
    let captures = root.join("_captures");
    let c = Collector::start(&dir.path().join("data"));
    let (token, _) = c.token(&[]);
    let agent = Agent::new(dir.path(), "lab");
    let out = agent.run(&[
        "enroll",
        "--server",
        &url(&c),
        "--token",
        &token,
        "--pin",
        &c.fingerprint,
        "--root",
        root_s,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = agent.run(&[
        "run",
        "--once",
        "--root",
        root_s,
        "--replay",
        captures.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("delivered 1"), "{}", stderr(&out));

    let enrollment = agent.enrollment();
    let id = enrollment["agent_id"].as_str().unwrap().to_owned();
    let key = decode_public_key(enrollment["public_key"].as_str().unwrap()).unwrap();
    let auditor = c.apitoken("auditor");
    block_on(async {
        let client: Client = c.client();
        let resp = client
            .get(&format!("/v1/agents/{id}/reports/1"), Some(&auditor))
            .await
            .unwrap();
        assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
        let payload = Envelope::from_json(&resp.body)
            .unwrap()
            .verify(&key)
            .unwrap();
        let statement = Statement::from_slice(&payload).unwrap();
        assert!(statement.predicate.agent.replay);
        assert_eq!(statement.predicate.schema, "attest.report/v2");
        assert_eq!(statement.predicate.host.hostname, "db01.corp.example.com");
        let cp: Checkpoint =
            serde_json::from_slice(&client.get("/v1/log/checkpoint", None).await.unwrap().body)
                .unwrap();
        assert_eq!(cp.tree_size, 1, "in the log like any report");
        assert_eq!(resp.headers["x-attest-replay"], "true");
        // Listed as a replay; never the agent's latest results.
        let resp = client
            .get(&format!("/v1/agents/{id}/reports"), Some(&auditor))
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
        let listed = resp.json();
        assert_eq!(listed["reports"][0]["seq"], 1);
        assert_eq!(listed["reports"][0]["replay"], true);
        let resp = client
            .get(&format!("/v1/agents/{id}/results"), Some(&auditor))
            .await
            .unwrap();
        assert_eq!(
            (resp.status.as_u16(), resp.error_code().as_deref()),
            (404, Some("not_found"))
        );
    });
}

/// One series of the collector's `/metrics` (`name{labels}`), 0 when absent.
async fn metric(client: &Client, series: &str) -> u64 {
    let body = client.get("/metrics", None).await.unwrap().body;
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Issue 14: the first report goes in full and its receipt tells the agent that the
/// collector takes deltas; the second `run --once` sends its report as a delta
/// against the first (the collector's metrics count one of each, the delta much the
/// smaller), and the collector stores exactly the envelope the agent signed, which
/// the agent keeps as the base of the next one.
#[test]
fn the_second_upload_goes_as_a_delta_and_is_stored_as_signed() {
    let dir = tempfile::tempdir().unwrap();
    let (c, agent) = enrolled(dir.path());
    let base = agent.state.join("delta-base.json");
    for seq in 1..=2 {
        let out = agent.run(&["run", "--once"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(base.exists(), "the base is kept after seq {seq}");
    }
    let id = agent.enrollment()["agent_id"].as_str().unwrap().to_owned();
    let auditor = c.apitoken("auditor");
    let signed = std::fs::read(&base).unwrap();
    block_on(async {
        let client: Client = c.client();
        let full = r#"attest_report_uploads_total{encoding="full"}"#;
        let delta = r#"attest_report_uploads_total{encoding="delta"}"#;
        assert_eq!(metric(&client, full).await, 1);
        assert_eq!(metric(&client, delta).await, 1);
        let full_bytes = metric(
            &client,
            r#"attest_report_upload_bytes_total{encoding="full"}"#,
        )
        .await;
        let delta_bytes = metric(
            &client,
            r#"attest_report_upload_bytes_total{encoding="delta"}"#,
        )
        .await;
        assert!(
            delta_bytes > 0 && delta_bytes * 4 < full_bytes,
            "delta {delta_bytes} B, full {full_bytes} B"
        );
        let resp = client
            .get(&format!("/v1/agents/{id}/reports/2"), Some(&auditor))
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
        assert!(resp.body[..] == signed[..], "stored as signed");
    });
    assert_chain(&c, &agent, 2, &[]);
}

/// The live host's package list travels once, against the real collector: the first
/// report carries it inline while the agent learns that the collector takes
/// inventory lists; the next ones are `attest.report/v3`, name the list by address
/// and carry no packages; a reader gets the list back with exactly that address, and
/// the agent keeps only the latest list once its spool is empty.
#[test]
fn an_unchanged_package_list_travels_once() {
    use attest_proto::inventory::{self, InventoryList};
    let dir = tempfile::tempdir().unwrap();
    let (c, agent) = enrolled(dir.path());
    for _ in 0..3 {
        let out = agent.run(&["run", "--once"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    assert_chain(&c, &agent, 3, &[]);
    let id = agent.enrollment()["agent_id"].as_str().unwrap().to_owned();
    let auditor = c.apitoken("auditor");
    block_on(async {
        let client: Client = c.client();
        let mut reports = Vec::new();
        for seq in 1..=3 {
            let resp = client
                .get(&format!("/v1/agents/{id}/reports/{seq}"), Some(&auditor))
                .await
                .unwrap();
            assert_eq!(resp.status, 200);
            let env = Envelope::from_json(&resp.body).unwrap();
            reports.push(Statement::from_slice(&env.payload).unwrap().predicate);
        }
        let software = |r: &attest_proto::Report| {
            r.results
                .iter()
                .find(|x| x.check == inventory::SOFTWARE_CHECK)
                .unwrap()
                .clone()
        };
        if software(&reports[0]).status != attest_proto::Status::Info {
            // No package database on this machine: nothing to move.
            return;
        }
        assert_ne!(reports[0].schema, attest_proto::REPORT_SCHEMA_V3);
        assert!(software(&reports[0]).facts.contains_key("packages"));
        let address = inventory::address_of(&reports[1]).unwrap().to_owned();
        for r in &reports[1..] {
            assert_eq!(r.schema, attest_proto::REPORT_SCHEMA_V3);
            assert!(!software(r).facts.contains_key("packages"));
            assert_eq!(inventory::address_of(r), Some(address.as_str()));
        }
        let resp = client
            .get(&format!("/v1/inventory-lists/{address}"), Some(&auditor))
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(inventory::address(&resp.body), address);
        let list = InventoryList::from_slice(&resp.body).unwrap();
        assert_eq!(
            software(&reports[1]).facts["count"],
            serde_json::json!(list.packages.len())
        );
        assert_eq!(
            software(&reports[1]).facts["sha256"],
            list.digest().as_str()
        );
        // The inline list of the first report is the same packages.
        assert_eq!(
            software(&reports[0]).facts["packages"],
            serde_json::to_value(&list.packages).unwrap()
        );
    });
    let kept: Vec<_> = std::fs::read_dir(agent.spool().join("lists"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
}
