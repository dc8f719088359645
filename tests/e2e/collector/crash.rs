//! `kill -9` the collector during a burst of ingest: after a restart every report
//! acknowledged before the kill is stored and verifies, and nothing is half-stored.
//! And SIGTERM: the request in flight is finished before the process exits.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attest_collector::log::{Checkpoint, leaf_hash, verify_inclusion};
use attest_proto::{Envelope, Receipt, sha256_hex};
use attest_sim::client::Client;
use attest_sim::synth::SynthAgent;
use hyper::Method;

use super::{Collector, enroll, fresh_postgres, new_agent, now};

/// An acknowledged report: what was sent and the receipt.
struct Acked {
    agent: usize,
    envelope: Vec<u8>,
    receipt: Receipt,
}

async fn burst(
    client: Client,
    agent: usize,
    mut a: SynthAgent,
    acked: Arc<Mutex<Vec<Acked>>>,
) -> SynthAgent {
    let Ok(mut conn) = client.connect().await else {
        return a;
    };
    loop {
        let before = a.clone();
        let Ok(envelope) = a.next_envelope(now()) else {
            return a;
        };
        match conn
            .send(
                Method::POST,
                "/v1/reports",
                None,
                Some(envelope.clone().into()),
            )
            .await
        {
            Ok(resp) if resp.status == 200 => {
                let receipt = Receipt::from_json(&resp.body).unwrap();
                acked.lock().unwrap().push(Acked {
                    agent,
                    envelope,
                    receipt,
                });
            }
            Ok(resp) => panic!(
                "unexpected {}: {}",
                resp.status,
                String::from_utf8_lossy(&resp.body)
            ),
            // The collector died: this report's fate is unknown; the agent keeps it.
            Err(_) => return before,
        }
    }
}

async fn crash_test(database: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut c = Collector::start_with(&data, database.as_deref(), None);
    let client = c.client();
    let (token, _) = c.token(&["--uses", "50"]);
    let mut agents = Vec::new();
    for i in 0..16 {
        let mut a = new_agent(6, i);
        enroll(&client, &token, &mut a, i).await;
        agents.push(a);
    }
    let acked = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = agents
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, a)| tokio::spawn(burst(client.clone(), i, a, Arc::clone(&acked))))
        .collect();
    // Let the burst run, then kill -9 in the middle of it.
    let start = Instant::now();
    while acked.lock().unwrap().len() < 300 && start.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.kill9();
    let mut survivors = Vec::new();
    for t in tasks {
        survivors.push(t.await.unwrap());
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        acked.len() >= 300,
        "only {} reports acknowledged",
        acked.len()
    );

    let c = Collector::start_with(&data, database.as_deref(), None);
    let client = c.client();
    // Nothing half-stored: every report whole, the log consistent.
    let out = c.cli(&["fsck"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Every acknowledged report is stored, verbatim, verifies, and is in the log.
    let auditor = c.apitoken("auditor");
    let cp: Checkpoint =
        serde_json::from_slice(&client.get("/v1/log/checkpoint", None).await.unwrap().body)
            .unwrap();
    assert!(cp.tree_size >= acked.len() as u64);
    let mut conn = client.connect().await.unwrap();
    for (n, ack) in acked.iter().enumerate() {
        let r = &ack.receipt;
        let resp = conn
            .send(
                Method::GET,
                &format!("/v1/agents/{}/reports/{}", r.agent_id, r.seq),
                Some(&auditor),
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            resp.status, 200,
            "acknowledged report {} seq {} lost",
            r.agent_id, r.seq
        );
        assert_eq!(resp.body.as_ref(), ack.envelope.as_slice());
        assert_eq!(
            resp.headers["x-attest-log-index"],
            r.log_index.to_string().as_str()
        );
        let env = Envelope::from_json(&resp.body).unwrap();
        let payload = env.verify(&agents[ack.agent].key.verifying_key()).unwrap();
        assert_eq!(sha256_hex(&payload), r.payload_sha256);
        if n % 50 == 0 {
            let proof = client
                .get(&format!("/v1/log/proof/{}", r.log_index), None)
                .await
                .unwrap()
                .json();
            let cp: Checkpoint = serde_json::from_value(proof["checkpoint"].clone()).unwrap();
            let root = cp.root().unwrap();
            let path: Vec<[u8; 32]> = proof["audit_path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    hex::decode(h.as_str().unwrap())
                        .unwrap()
                        .try_into()
                        .unwrap()
                })
                .collect();
            assert!(verify_inclusion(
                r.log_index,
                cp.tree_size,
                &leaf_hash(&ack.envelope),
                &path,
                &root
            ));
        }
    }
    // The agents resend what they were sending at the kill: stored once, chains go on.
    for mut a in survivors {
        for _ in 0..2 {
            let resp = client
                .post("/v1/reports", a.next_envelope(now()).unwrap())
                .await
                .unwrap();
            assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
        }
    }
    let out = c.cli(&["fsck"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_ingest_loses_nothing_acknowledged_sqlite() {
    crash_test(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(attest_postgres),
    ignore = "needs PostgreSQL: set ATTEST_TEST_POSTGRES_URL when building and running the tests"
)]
async fn kill_9_during_ingest_loses_nothing_acknowledged_postgres() {
    let url = fresh_postgres("crash").await;
    crash_test(Some(url)).await;
}

/// SIGTERM while a report is in flight (its body half sent): the collector stops
/// accepting connections at once, finishes that request (the receipt arrives, the
/// report is stored), then exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_request_in_flight() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut c = Collector::start(&data);
    let client = c.client();
    let (token, _) = c.token(&["--uses", "1"]);
    let mut a = new_agent(31, 1);
    enroll(&client, &token, &mut a, 1).await;
    let envelope = a.next_envelope(now()).unwrap();

    let mut stream = client.stream().await.unwrap();
    let head = format!(
        "POST /v1/reports HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        envelope.len()
    );
    let (first, rest) = envelope.split_at(envelope.len() / 2);
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    c.terminate();
    // The listener closes; the process waits for the request.
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.connect().await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(c.running(), "exited with a request in flight");

    stream.write_all(rest).await.unwrap();
    stream.flush().await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer))
        .await
        .expect("no answer to the request in flight")
        .ok();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let receipt = Receipt::from_json(body.as_bytes()).unwrap();
    assert_eq!((receipt.seq, receipt.log_index), (1, 0));

    let status = c.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status}\n{}", c.log_text());
    assert!(c.log_text().contains("attest-collector: stopped"));

    // Stored: after a restart the raw envelope reads back verbatim.
    let c = Collector::start(&data);
    let auditor = c.apitoken("auditor");
    let resp = c
        .client()
        .get(
            &format!("/v1/agents/{}/reports/1", a.agent_id),
            Some(&auditor),
        )
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.as_ref(), envelope.as_slice());
}
