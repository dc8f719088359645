//! Two collector processes on one PostgreSQL, ingesting at once: every report stored
//! once, one dense Merkle log, the same root from both, proofs from either.

use attest_collector::log::{Checkpoint, leaf_hash, verify_inclusion};
use attest_proto::Receipt;
use attest_sim::client::Client;
use attest_sim::synth::SynthAgent;
use hyper::Method;

use super::{Collector, enroll, fresh_postgres, new_agent, now};

/// Sends an agent's reports alternately to the two collectors; every fourth report
/// goes to both at once (a retry that reached the other instance).
async fn agent_run(
    a: Client,
    b: Client,
    mut agent: SynthAgent,
    n: usize,
) -> Vec<(Vec<u8>, Receipt)> {
    let mut ca = a.connect().await.unwrap();
    let mut cb = b.connect().await.unwrap();
    let mut out = Vec::new();
    for k in 0..n {
        let body = agent.next_envelope(now()).unwrap();
        let receipt = if k % 4 == 3 {
            let (ra, rb) = tokio::join!(
                ca.send(Method::POST, "/v1/reports", None, Some(body.clone().into())),
                cb.send(Method::POST, "/v1/reports", None, Some(body.clone().into())),
            );
            let (ra, rb) = (ra.unwrap(), rb.unwrap());
            assert_eq!(
                (ra.status.as_u16(), rb.status.as_u16()),
                (200, 200),
                "{}",
                String::from_utf8_lossy(&rb.body)
            );
            let (ra, rb) = (
                Receipt::from_json(&ra.body).unwrap(),
                Receipt::from_json(&rb.body).unwrap(),
            );
            // One stored it, the other answered with the same receipt.
            assert_eq!(ra.log_index, rb.log_index);
            assert!(ra.duplicate != rb.duplicate, "{ra:?} {rb:?}");
            ra
        } else {
            let conn = if k % 2 == 0 { &mut ca } else { &mut cb };
            let resp = conn
                .send(Method::POST, "/v1/reports", None, Some(body.clone().into()))
                .await
                .unwrap();
            assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
            Receipt::from_json(&resp.body).unwrap()
        };
        out.push((body, receipt));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(attest_postgres),
    ignore = "needs PostgreSQL: set ATTEST_TEST_POSTGRES_URL when building and running the tests"
)]
async fn two_collectors_on_one_postgres() {
    let url = fresh_postgres("multi").await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The second instance shares the first one's keys (the log key, the certificate),
    // as a deployment copies them.
    let first = Collector::start_with(&data, Some(&url), None);
    let second = Collector::start_with(&data, Some(&url), None);
    assert_eq!(first.fingerprint, second.fingerprint);
    let (ca, cb) = (first.client(), second.client());
    let (token, _) = first.token(&["--uses", "20"]);
    let mut tasks = Vec::new();
    for i in 0..12 {
        let mut agent = new_agent(8, i);
        let via = if i % 2 == 0 { &ca } else { &cb };
        enroll(via, &token, &mut agent, i).await;
        tasks.push(tokio::spawn(agent_run(ca.clone(), cb.clone(), agent, 16)));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    assert_eq!(all.len(), 12 * 16);

    // One dense log: every index used once.
    let mut indexes: Vec<u64> = all.iter().map(|(_, r)| r.log_index).collect();
    indexes.sort_unstable();
    assert_eq!(indexes, (0..all.len() as u64).collect::<Vec<_>>());

    // Both instances sign the same head.
    let cp = |c: Client| async move {
        serde_json::from_slice::<Checkpoint>(&c.get("/v1/log/checkpoint", None).await.unwrap().body)
            .unwrap()
    };
    let (pa, pb) = (cp(ca.clone()).await, cp(cb.clone()).await);
    assert_eq!(pa.tree_size, all.len() as u64);
    assert_eq!((pa.tree_size, &pa.root_hash), (pb.tree_size, &pb.root_hash));
    assert_eq!(pa.key_id, pb.key_id);

    // Proofs from either instance verify for reports stored by either.
    for (n, (body, r)) in all.iter().enumerate().step_by(17) {
        let via = if n % 2 == 0 { &ca } else { &cb };
        let proof = via
            .get(&format!("/v1/log/proof/{}", r.log_index), None)
            .await
            .unwrap()
            .json();
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
        let root = pa.root().unwrap();
        assert!(verify_inclusion(
            r.log_index,
            pa.tree_size,
            &leaf_hash(body),
            &path,
            &root
        ));
    }
    let out = first.cli(&["fsck"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A collector with another log key is refused on this database.
    let other = dir.path().join("other");
    let out = std::process::Command::new(crate::support::bin("attest-collector"))
        .args([
            "--data-dir",
            other.to_str().unwrap(),
            "--database",
            &url,
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("copy the log-signing key"));
}
