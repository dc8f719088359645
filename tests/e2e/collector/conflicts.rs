//! What an enrolled (say, stolen) agent key can do to the collector: forks beyond the
//! agent's quota are refused without filling the disk, and reports about another
//! machine are refused with `host_mismatch` (a rename of the same machine is not).

use std::path::Path;

use attest_collector::log::Checkpoint;
use attest_proto::{EnrollRequest, Envelope, Statement, encode_public_key};
use attest_sim::client::Client;
use attest_sim::synth::{SynthAgent, host, report};

use super::{Collector, enroll, new_agent, now, post_report, write_config};

async fn tree_size(client: &Client) -> u64 {
    let cp: Checkpoint =
        serde_json::from_slice(&client.get("/v1/log/checkpoint", None).await.unwrap().body)
            .unwrap();
    cp.tree_size
}

/// A report of `agent` at `seq` other than the stored one (`k` makes it unique),
/// with a summary of `pad` bytes: signed, chain-correct, a fork.
fn fork(agent: &SynthAgent, seq: u64, prev: &str, k: i64, pad: usize) -> Vec<u8> {
    let mut r = report(
        &agent.agent_id,
        &agent.host,
        now() + chrono::Duration::seconds(k),
    );
    r.results[0].summary = "x".repeat(pad);
    r.seq = seq;
    r.prev = prev.to_owned();
    let bytes = Statement::for_report(r).to_bytes().unwrap();
    Envelope::sign(&bytes, &agent.key).to_json().unwrap()
}

/// The SQLite database and its write-ahead log, in bytes.
fn db_bytes(data: &Path) -> u64 {
    ["collector.db", "collector.db-wal"]
        .iter()
        .map(|f| std::fs::metadata(data.join(f)).map_or(0, |m| m.len()))
        .sum()
}

async fn chain_events(c: &Collector, agent_id: &str, token: &str) -> Vec<serde_json::Value> {
    let resp = c
        .client()
        .get(&format!("/v1/agents/{agent_id}/chain-events"), Some(token))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    resp.json()["events"].as_array().unwrap().clone()
}

async fn expect(client: &Client, body: Vec<u8>, status: u16, code: &str) {
    let resp = post_report(client, body).await;
    assert_eq!(
        (resp.status.as_u16(), resp.error_code().as_deref()),
        (status, Some(code)),
        "{}",
        String::from_utf8_lossy(&resp.body)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forks_beyond_the_quota_are_refused_unrecorded() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(
        dir.path(),
        "version = 1\n[limits]\nrate_per_second = 1000.0\nrate_burst = 1000\n\
         [chain_conflicts]\nrecorded_per_agent = 24\nenvelopes_per_agent = 2\n",
    );
    let c = Collector::start_with(&data, None, Some(&config));
    let client = c.client();
    let (token, _) = c.token(&["--uses", "1"]);
    let mut a = new_agent(20, 1);
    enroll(&client, &token, &mut a, 1).await;
    let genesis = a.chain.prev.clone();
    let mut links = vec![genesis];
    for _ in 0..3 {
        let body = a.next_envelope(now()).unwrap();
        assert_eq!(post_report(&client, body).await.status, 200);
        links.push(a.chain.prev.clone());
    }
    // links[k] is the prev of seq k + 1.

    // The finding: 20 forks of 1 MB at one seq. Only the first is kept whole.
    let before = db_bytes(&data);
    for k in 0..20 {
        expect(
            &client,
            fork(&a, 1, &links[0], k, 1_000_000),
            409,
            "chain_conflict",
        )
        .await;
    }
    let grown = db_bytes(&data) - before;
    assert!(
        grown < 4_000_000,
        "20 forks of 1 MB grew the database by {grown} bytes"
    );
    // Seq 2: whole (the second envelope); seq 3: a hash (no envelope left); two more
    // at seq 2 use up the quota of 24.
    for (seq, k) in [(2u64, 100), (3, 101), (2, 102), (2, 103)] {
        let prev = &links[usize::try_from(seq).unwrap() - 1];
        expect(&client, fork(&a, seq, prev, k, 10), 409, "chain_conflict").await;
    }
    // Beyond the quota: still refused, not recorded.
    for k in [200, 201] {
        expect(
            &client,
            fork(&a, 3, &links[2], k, 10),
            409,
            "chain_conflict",
        )
        .await;
    }

    let admin = c.apitoken("admin");
    let events = chain_events(&c, &a.agent_id, &admin).await;
    let forks: Vec<(u64, bool)> = events
        .iter()
        .filter(|e| e["kind"] == "fork")
        .map(|e| {
            (
                e["seq"].as_u64().unwrap(),
                e["envelope_stored"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(forks.len(), 24);
    assert_eq!(forks[0], (1, true), "the first fork of seq 1 is whole");
    assert!(forks[1..20].iter().all(|f| *f == (1, false)), "{forks:?}");
    assert_eq!(
        &forks[20..],
        [(2, true), (3, false), (2, false), (2, false)]
    );
    assert!(events.iter().all(|e| e["payload_sha256"].is_string()));
    let last = events.last().unwrap();
    assert_eq!(last["kind"], "conflict_quota_reached");
    assert_eq!(
        events.len(),
        25,
        "one marker, the refusals after it unrecorded"
    );

    // The metrics and the audit log say so.
    let text =
        String::from_utf8(client.get("/metrics", None).await.unwrap().body.to_vec()).unwrap();
    for line in [
        "attest_chain_conflicts_unrecorded_total 2\n",
        "attest_chain_conflict_quota_reached_total 1\n",
        "attest_reports_rejected_total{reason=\"chain_conflict\"} 26\n",
    ] {
        assert!(text.contains(line), "{line} missing in\n{text}");
    }
    let audit = client.get("/v1/audit", Some(&admin)).await.unwrap().json();
    let hits: Vec<&serde_json::Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "chain_conflicts.quota_reached")
        .collect();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["target"], a.agent_id.as_str());
    assert_eq!(hits[0]["actor"], "collector");
    assert!(c.log_text().contains("chain conflict quota reached"));

    // The honest chain is not affected.
    assert_eq!(tree_size(&client).await, 3);
    let resp = post_report(&client, a.next_envelope(now()).unwrap()).await;
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    assert_eq!(tree_size(&client).await, 4);
    let out = c.cli(&["fsck"]);
    assert!(out.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_about_another_machine_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(&dir.path().join("data"));
    let client = c.client();
    let (token, _) = c.token(&["--uses", "3"]);
    let mut laptop = new_agent(21, 1);
    enroll(&client, &token, &mut laptop, 1).await;
    let mut server = new_agent(21, 2);
    enroll(&client, &token, &mut server, 2).await;
    // The domain controller, enrolled under its name.
    let mut dc = new_agent(21, 3);
    dc.host.hostname = "dc01.corp".into();
    let body = serde_json::to_vec(&EnrollRequest {
        token: token.clone(),
        public_key: encode_public_key(&dc.key.verifying_key()),
        host: dc.host.clone(),
    })
    .unwrap();
    assert_eq!(client.post("/v1/enroll", body).await.unwrap().status, 200);

    // The laptop's key signs reports about other machines: the enrolled server's,
    // and a domain controller nobody enrolled. Both chain-correct (seq 1).
    let mut as_server = laptop.clone();
    as_server.host = host(2);
    expect(
        &client,
        as_server.next_envelope(now()).unwrap(),
        403,
        "host_mismatch",
    )
    .await;
    let mut as_dc = laptop.clone();
    as_dc.host = host(99);
    as_dc.host.hostname = "dc01.corp".into();
    let resp = post_report(&client, as_dc.next_envelope(now()).unwrap()).await;
    assert_eq!(
        (resp.status.as_u16(), resp.error_code().as_deref()),
        (403, Some("host_mismatch"))
    );
    assert!(
        resp.json()["message"]
            .as_str()
            .unwrap()
            .contains("host/dc01.corp")
    );
    // The laptop's own machine id under the domain controller's name: not a rename.
    let mut named_dc = laptop.clone();
    named_dc.host.hostname = "dc01.corp".into();
    expect(
        &client,
        named_dc.next_envelope(now()).unwrap(),
        403,
        "host_mismatch",
    )
    .await;
    // Nothing stored: no report, no event.
    assert_eq!(tree_size(&client).await, 0);
    let auditor = c.apitoken("auditor");
    assert!(
        chain_events(&c, &laptop.agent_id, &auditor)
            .await
            .is_empty()
    );

    // The laptop's own report is accepted (seq 1: the refused ones took nothing).
    let resp = post_report(&client, laptop.next_envelope(now()).unwrap()).await;
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    // Renamed, same machine id: accepted, and recorded.
    laptop.host.hostname = "laptop-renamed".into();
    let resp = post_report(&client, laptop.next_envelope(now()).unwrap()).await;
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let agents = client
        .get("/v1/agents", Some(&auditor))
        .await
        .unwrap()
        .json();
    let row = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["agent_id"] == laptop.agent_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["hostname"], "laptop-renamed");
    let events = chain_events(&c, &laptop.agent_id, &auditor).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["kind"], "host_renamed");
    assert_eq!(events[0]["seq"], 2);
    // The server's reports are not affected.
    let resp = post_report(&client, server.next_envelope(now()).unwrap()).await;
    assert_eq!(resp.status, 200);
    assert_eq!(tree_size(&client).await, 3);

    let text =
        String::from_utf8(client.get("/metrics", None).await.unwrap().body.to_vec()).unwrap();
    assert!(
        text.contains("attest_reports_rejected_total{reason=\"host_mismatch\"} 3\n"),
        "{text}"
    );
}
