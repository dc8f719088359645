//! Hostile clients over TLS against the real binary: stalled and dripping bodies, a
//! connection flood, failed requests from one address, log injection and a 4 MB
//! hostile body (docs/security.md). Every test also sends an honest agent's reports
//! from another loopback address and asserts they are stored, and that `/healthz`
//! answers within a second, while the hostile clients are at work.
//!
//! Hostile clients connect from 127.0.0.2 and up; on Linux the whole of 127/8 is the
//! loopback, so every address is a separate client for the collector's per-address
//! limits.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use attest_collector::log::Checkpoint;
use attest_sim::client::{Client, Stream};
use attest_sim::synth::SynthAgent;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use super::{Collector, enroll, new_agent, now, post_report, write_config};

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

/// A collector with these `[limits]`.
fn start(dir: &Path, limits: &str) -> Collector {
    let config = write_config(dir, &format!("version = 1\n[limits]\n{limits}\n"));
    Collector::start_with(&dir.join("data"), None, Some(&config))
}

/// One series of `/metrics` (`name{labels}`), 0 when absent.
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

async fn tree_size(client: &Client) -> u64 {
    let body = client.get("/v1/log/checkpoint", None).await.unwrap().body;
    serde_json::from_slice::<Checkpoint>(&body)
        .unwrap()
        .tree_size
}

/// An enrolled agent on 127.0.0.1 that sends one report at a time.
struct Honest {
    client: Client,
    agent: SynthAgent,
    stored: u64,
}

impl Honest {
    async fn enroll(c: &Collector) -> Honest {
        let client = c.client().from_ip(ip(1));
        let (token, _) = c.token(&[]);
        let mut agent = new_agent(40, 1);
        enroll(&client, &token, &mut agent, 1).await;
        Honest {
            client,
            agent,
            stored: 0,
        }
    }

    /// Sends a report (stored: 200, not a duplicate) and checks `/healthz` answers
    /// within a second.
    async fn round(&mut self) {
        let envelope = self.agent.next_envelope(now()).unwrap();
        let started = Instant::now();
        let resp = post_report(&self.client, envelope).await;
        assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
        assert_eq!(resp.json()["duplicate"], false);
        self.stored += 1;
        let health = self.client.get("/healthz", None).await.unwrap();
        assert_eq!(health.status, 200);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "report + /healthz took {took:?}"
        );
    }

    /// Rounds every 200 ms for `span`.
    async fn keep_going(&mut self, span: Duration) {
        let end = Instant::now() + span;
        while Instant::now() < end {
            self.round().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Whether the server closed `stream` within `within` (reading nothing else).
async fn closed_within(stream: &mut Stream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// A report request whose headers promise `len` body bytes, and the first `sent`.
fn stalled_request(len: usize, sent: usize) -> Vec<u8> {
    let mut req = format!(
        "POST /v1/reports HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         content-length: {len}\r\n\r\n"
    )
    .into_bytes();
    req.extend(std::iter::repeat_n(b' ', sent));
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_are_closed_by_the_request_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let c = start(dir.path(), "request_timeout_seconds = 2\nmin_body_rate = 0");
    let mut honest = Honest::enroll(&c).await;
    let hostile = c.client().from_ip(ip(2));

    // Ten connections that send half a 4 MB body, and one that sends half its
    // headers; then nothing.
    let opened = Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..10 {
        let mut s = hostile.stream().await.unwrap();
        s.write_all(&stalled_request(4_000_000, 2_000_000))
            .await
            .unwrap();
        s.flush().await.unwrap();
        stalled.push(s);
    }
    let mut s = hostile.stream().await.unwrap();
    s.write_all(b"POST /v1/reports HTTP/1.1\r\nhost: loc")
        .await
        .unwrap();
    s.flush().await.unwrap();
    stalled.push(s);

    // Kept: the honest agent's reports, while they stall.
    honest.keep_going(Duration::from_secs(1)).await;
    // Refused: every stalled connection is closed by the deadline (2 s, checked
    // every 250 ms), none answered.
    for s in &mut stalled {
        assert!(closed_within(s, Duration::from_secs(6)).await);
    }
    let took = opened.elapsed();
    assert!(took < Duration::from_secs(7), "{took:?}");
    honest.round().await;
    let client = c.client();
    assert!(
        metric(
            &client,
            "attest_connections_closed_total{reason=\"deadline\"}"
        )
        .await
            >= 10
    );
    assert_eq!(tree_size(&client).await, honest.stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_drip_below_the_minimum_rate_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    // The defaults: 30 s per request, at least 1024 bytes/s over each 5 s.
    let c = start(dir.path(), "");
    let mut honest = Honest::enroll(&c).await;
    let hostile = c.client().from_ip(ip(2));
    let mut drip = hostile.stream().await.unwrap();
    drip.write_all(&stalled_request(100_000, 16)).await.unwrap();
    drip.flush().await.unwrap();
    let opened = Instant::now();
    // 16 bytes every 250 ms: 64 bytes/s, until the collector closes the connection.
    let mut closed_after = None;
    while opened.elapsed() < Duration::from_secs(20) {
        if drip.write_all(&[b' '; 16]).await.is_err() || drip.flush().await.is_err() {
            closed_after = Some(opened.elapsed());
            break;
        }
        if closed_within(&mut drip, Duration::from_millis(250)).await {
            closed_after = Some(opened.elapsed());
            break;
        }
        if opened.elapsed().as_millis() % 1000 < 250 {
            honest.round().await;
        }
    }
    // Refused: within two rate windows (5 s each), long before the 30 s deadline.
    let closed_after = closed_after.expect("the drip was never closed");
    assert!(closed_after < Duration::from_secs(12), "{closed_after:?}");
    // Kept: honest reports, before and after.
    honest.round().await;
    let client = c.client();
    assert_eq!(
        metric(&client, "attest_connections_closed_total{reason=\"slow\"}").await,
        1
    );
    assert_eq!(tree_size(&client).await, honest.stored);
    assert!(honest.stored >= 2);
}

/// A raw TCP connection from `from` that never starts its TLS handshake.
async fn raw(from: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(to).await.unwrap()
}

async fn raw_closed(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(within, s.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_beyond_the_caps_does_not_starve_honest_agents() {
    let dir = tempfile::tempdir().unwrap();
    let c = start(
        dir.path(),
        "max_connections = 32\nmax_connections_per_ip = 16",
    );
    let mut honest = Honest::enroll(&c).await;

    // 100 connections from ten addresses (ten each), then 20 from one more: all
    // sit in their TLS handshake.
    let mut flood = Vec::new();
    for n in 0..100u8 {
        flood.push(raw(ip(2 + n / 10), c.addr).await);
        if n % 20 == 19 {
            honest.round().await;
        }
    }
    let mut one_address = Vec::new();
    for _ in 0..20 {
        one_address.push(raw(ip(20), c.addr).await);
    }
    honest.keep_going(Duration::from_secs(1)).await;

    // Refused: beyond 16 from one address at accept; beyond 32 in all, the oldest
    // connections not being served made room for new ones (the honest agent's).
    let client = c.client().from_ip(ip(1));
    assert!(
        metric(
            &client,
            "attest_connections_refused_total{reason=\"per_ip\"}"
        )
        .await
            >= 4
    );
    assert!(
        metric(
            &client,
            "attest_connections_closed_total{reason=\"evicted\"}"
        )
        .await
            >= 80
    );
    let open = metric(&client, "attest_connections_open").await;
    assert!((1..=32).contains(&open), "{open} connections open");
    let mut closed = 0;
    for s in flood.iter_mut().chain(one_address.iter_mut()) {
        if raw_closed(s, Duration::from_millis(50)).await {
            closed += 1;
        }
    }
    assert!(closed >= 120 - 32, "only {closed} of 120 closed");
    // Kept: every honest report, stored once; the warning was logged, not flooded.
    assert_eq!(tree_size(&client).await, honest.stored);
    assert!(honest.stored >= 6, "{}", honest.stored);
    let log = c.log_text();
    let warnings = log.matches("connection cap reached").count();
    assert!((1..=3).contains(&warnings), "{warnings} warnings:\n{log}");
    assert!(!log.contains("accept failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_requests_past_the_per_address_budget_get_429() {
    let dir = tempfile::tempdir().unwrap();
    let c = start(
        dir.path(),
        "ip_failure_burst = 5\nip_failures_per_minute = 1",
    );
    let mut honest = Honest::enroll(&c).await;
    let hostile = c.client().from_ip(ip(3));
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let resp = post_report(&hostile, b"{\"payloadType\":1}".to_vec()).await;
        statuses.push(resp.status.as_u16());
        if resp.status == 429 {
            assert_eq!(resp.error_code().as_deref(), Some("rate_limited"));
            let wait: u64 = resp.headers["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=60).contains(&wait), "{wait}");
        }
    }
    // Refused: five failures spend the burst, the sixth is over the budget, and from
    // then on the address gets 429 before its body is read.
    assert_eq!(statuses, [400, 400, 400, 400, 400, 400, 429, 429]);
    // Even a good request from that address waits; other addresses do not.
    assert_eq!(hostile.get("/healthz", None).await.unwrap().status, 429);
    honest.round().await;
    honest.round().await;
    let client = c.client();
    assert_eq!(
        metric(
            &client,
            "attest_requests_refused_total{reason=\"ip_failures\"}"
        )
        .await,
        3
    );
    assert_eq!(tree_size(&client).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_name_with_a_newline_is_escaped_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let c = start(dir.path(), "");
    let client = c.client().from_ip(ip(2));
    let forged = "INFO evil=1";
    let body = format!("{{\"z\\n{forged}\":1}}");
    for path in ["/v1/reports", "/v1/enroll"] {
        let resp = client.post(path, body.clone().into_bytes()).await.unwrap();
        assert_eq!(
            (resp.status.as_u16(), resp.error_code().as_deref()),
            (400, Some("malformed"))
        );
    }
    let mut honest = Honest::enroll(&c).await;
    honest.round().await;
    let log = c.log_text();
    // Kept: the refusals, with the field name escaped on one line each.
    let refusals: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("refused") && l.contains("unknown field"))
        .collect();
    assert_eq!(refusals.len(), 2, "{log}");
    for line in refusals {
        assert!(line.contains(&format!("z\\n{forged}")), "{line}");
    }
    // Refused: no forged line.
    assert!(!log.lines().any(|l| l.starts_with("INFO evil")), "{log}");
    assert_eq!(log.matches("evil=1").count(), 2);
}

/// The collector's peak resident memory (VmHWM) and current (VmRSS), in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .trim_end_matches(" kB")
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    (field("VmHWM:"), field("VmRSS:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_4_mb_bodies_are_refused_with_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let c = start(dir.path(), "");
    let mut honest = Honest::enroll(&c).await;
    honest.round().await;
    let (_, before) = memory_kib(c.pid());
    let mut body = b"{\"z\":[0".to_vec();
    while body.len() < attest_proto::MAX_ENVELOPE_BYTES - 4 {
        body.extend_from_slice(b",0");
    }
    body.extend_from_slice(b"]}");
    // Eight at once, from eight addresses (so the failure budget is not what stops
    // them), twice.
    for _ in 0..2 {
        let mut tasks = Vec::new();
        for n in 0..8u8 {
            let client = c.client().from_ip(ip(10 + n));
            let body = body.clone();
            tasks.push(tokio::spawn(async move {
                client.post("/v1/reports", body).await.unwrap()
            }));
        }
        for t in tasks {
            let resp = t.await.unwrap();
            assert_eq!(
                (resp.status.as_u16(), resp.error_code().as_deref()),
                (400, Some("malformed"))
            );
            assert!(
                resp.json()["message"]
                    .as_str()
                    .unwrap()
                    .contains("unknown field")
            );
        }
        honest.round().await;
    }
    // Before the streaming parser: +430-460 MB for two rounds of eight (the
    // generic tree, ~35x each body). Now the bodies themselves (8 x 4 MB) and
    // buffers: about +100 MB in a release build (docs/benchmarks.md).
    let (peak, _) = memory_kib(c.pid());
    let grew_mb = peak.saturating_sub(before) / 1024;
    assert!(grew_mb < 200, "peak grew by {grew_mb} MB");
    assert_eq!(tree_size(&c.client()).await, honest.stored);
}

#[test]
fn validate_shows_the_limits_and_refuses_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let validate = |text: &str| {
        let config = write_config(dir.path(), text);
        std::process::Command::new(crate::support::bin("attest-collector"))
            .args(["--data-dir", dir.path().to_str().unwrap()])
            .args(["--config", config.to_str().unwrap(), "validate"])
            .output()
            .unwrap()
    };
    let out =
        validate("version = 1\n[limits]\nmax_connections = 32\nrequest_timeout_seconds = 5\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // What was set, and the defaults of the rest (the per-address cap no more than
    // the whole cap).
    for shown in [
        "max_connections 32 ",
        "request_timeout_seconds 5 ",
        "max_connections_per_ip 32 ",
        "min_body_rate 1024 ",
        "ip_failure_burst 120 ",
        "body_memory_bytes 536870912 ",
    ] {
        assert!(stderr.contains(shown), "{shown}: {stderr}");
    }
    for (bad, says) in [
        (
            "max_connections = 8\nmax_connections_per_ip = 9",
            "max_connections_per_ip",
        ),
        ("request_timeout_seconds = 0", "request_timeout_seconds"),
        ("max_conections = 8", "unknown field"),
    ] {
        let out = validate(&format!("version = 1\n[limits]\n{bad}\n"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
}
