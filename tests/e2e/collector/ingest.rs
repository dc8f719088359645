//! Ingest over TLS: the chain rules and every bad input of quality.md, each with its
//! status and stable code, a metric, and nothing stored.

use attest_collector::log::{Checkpoint, leaf_hash, verify_inclusion};
use attest_proto::{BASE64, Envelope, Receipt, Statement, decode_public_key, link_of, sha256_hex};
use attest_sim::client::Client;
use attest_sim::synth::SynthAgent;
use base64::Engine as _;

use super::{Collector, enroll, new_agent, now, post_report, write_config};

async fn tree_size(client: &Client) -> u64 {
    let cp: Checkpoint =
        serde_json::from_slice(&client.get("/v1/log/checkpoint", None).await.unwrap().body)
            .unwrap();
    cp.tree_size
}

/// Re-signs `statement` bytes with the agent's key.
fn sign(agent: &SynthAgent, statement: &[u8]) -> Vec<u8> {
    Envelope::sign(statement, &agent.key).to_json().unwrap()
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
async fn chain_rules_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(&dir.path().join("data"));
    let client = c.client();
    let (token, _) = c.token(&["--uses", "5"]);
    let mut a = new_agent(2, 1);
    let enrolled = enroll(&client, &token, &mut a, 1).await;

    // Valid.
    let first = a.next_envelope(now()).unwrap();
    let resp = post_report(&client, first.clone()).await;
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let receipt = Receipt::from_json(&resp.body).unwrap();
    let payload = Envelope::from_json(&first).unwrap().payload;
    assert_eq!(
        receipt,
        Receipt {
            agent_id: a.agent_id.clone(),
            seq: 1,
            payload_sha256: sha256_hex(&payload),
            log_index: 0,
            duplicate: false,
        }
    );
    // Duplicate: the same receipt.
    let resp = post_report(&client, first.clone()).await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        Receipt::from_json(&resp.body).unwrap(),
        Receipt {
            duplicate: true,
            ..receipt.clone()
        }
    );
    // A fork: another report with seq 1.
    let mut forker = a.clone();
    forker.chain = attest_proto::ChainState::genesis(&a.key.verifying_key());
    let fork = forker
        .next_envelope(now() + chrono::Duration::seconds(1))
        .unwrap();
    expect(&client, fork, 409, "chain_conflict").await;
    // A gap: seq 2 never arrives, seq 3 does.
    let _lost = a.next_envelope(now()).unwrap();
    let third = a.next_envelope(now()).unwrap();
    let resp = post_report(&client, third.clone()).await;
    assert_eq!(resp.status, 200);
    let r3 = Receipt::from_json(&resp.body).unwrap();
    assert_eq!((r3.seq, r3.log_index), (3, 1));

    // Auditors see the fork and the gap.
    let auditor = c.apitoken("auditor");
    let events = client
        .get(
            &format!("/v1/agents/{}/chain-events", a.agent_id),
            Some(&auditor),
        )
        .await
        .unwrap()
        .json();
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["fork", "gap"]);

    // The log: the checkpoint verifies with the key given at enrollment, and the
    // receipt's leaf is in it.
    let log_key = decode_public_key(enrolled.collector_key.as_deref().unwrap()).unwrap();
    let proof = client
        .get(&format!("/v1/log/proof/{}", r3.log_index), None)
        .await
        .unwrap()
        .json();
    let cp: Checkpoint = serde_json::from_value(proof["checkpoint"].clone()).unwrap();
    let root = cp.verify(&log_key).unwrap();
    assert_eq!(cp.tree_size, 2);
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
    assert!(verify_inclusion(1, 2, &leaf_hash(&third), &path, &root));
    assert_eq!(proof["leaf_hash"], hex::encode(leaf_hash(&third)));
    let resp = client.get("/v1/log/proof/2", None).await.unwrap();
    assert_eq!(resp.status, 404);
    let resp = client.get("/v1/log/proof/x", None).await.unwrap();
    assert_eq!(resp.error_code().as_deref(), Some("malformed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(&dir.path().join("data"));
    let client = c.client();
    let (token, _) = c.token(&["--uses", "5"]);
    let mut a = new_agent(3, 1);
    enroll(&client, &token, &mut a, 1).await;
    let mut b = new_agent(3, 2);
    enroll(&client, &token, &mut b, 2).await;

    let good = a.next_envelope(now()).unwrap();
    let env = Envelope::from_json(&good).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&good).unwrap();

    // Tampered payload: one byte of the statement changed, signature kept.
    let mut payload = env.payload.clone();
    let at = payload.windows(6).position(|w| w == b"debian").unwrap();
    payload[at + 5] = b'm';
    let mut t = v.clone();
    t["payload"] = BASE64.encode(&payload).into();
    expect(
        &client,
        serde_json::to_vec(&t).unwrap(),
        401,
        "bad_signature",
    )
    .await;

    // Tampered signature.
    let mut sig = env.signatures[0].sig;
    sig[5] ^= 1;
    let mut t = v.clone();
    t["signatures"][0]["sig"] = BASE64.encode(sig).into();
    expect(
        &client,
        serde_json::to_vec(&t).unwrap(),
        401,
        "bad_signature",
    )
    .await;

    // A signature over other bytes (the raw payload, not the PAE).
    let mut t = v.clone();
    let raw_sig = ed25519_dalek::Signer::sign(&a.key, &env.payload).to_bytes();
    t["signatures"][0]["sig"] = BASE64.encode(raw_sig).into();
    expect(
        &client,
        serde_json::to_vec(&t).unwrap(),
        401,
        "bad_signature",
    )
    .await;

    // Wrong key: a's report signed by b (an enrolled key of another agent).
    expect(&client, sign(&b, &env.payload), 401, "wrong_key").await;

    // Unknown agent: b's key, an agent id nobody enrolled.
    let mut ghost = b.clone();
    ghost.agent_id = "agt_nobody".into();
    expect(
        &client,
        ghost.next_envelope(now()).unwrap(),
        401,
        "unknown_agent",
    )
    .await;

    // Unknown key: never enrolled.
    let mut stranger = new_agent(3, 9);
    stranger.agent_id = a.agent_id.clone();
    expect(
        &client,
        stranger.next_envelope(now()).unwrap(),
        401,
        "unknown_key",
    )
    .await;

    // Malformed base64; truncated; not JSON; unknown field.
    let mut t = v.clone();
    t["payload"] = "not base64!".into();
    expect(&client, serde_json::to_vec(&t).unwrap(), 400, "malformed").await;
    let mut t = v.clone();
    let p = t["payload"].as_str().unwrap().to_owned();
    t["payload"] = p[..p.len() - 3].into();
    expect(&client, serde_json::to_vec(&t).unwrap(), 400, "malformed").await;
    expect(&client, good[..good.len() / 2].to_vec(), 400, "malformed").await;
    let mut t = v.clone();
    t["extra"] = 1.into();
    expect(&client, serde_json::to_vec(&t).unwrap(), 400, "malformed").await;

    // Signed, but not a statement.
    expect(
        &client,
        sign(&a, br#"{"hello":"world"}"#),
        400,
        "not_a_statement",
    )
    .await;
    // A statement with an unknown field, signed.
    let mut st: serde_json::Value = serde_json::from_slice(&env.payload).unwrap();
    st["predicate"]["surprise"] = true.into();
    expect(
        &client,
        sign(&a, &serde_json::to_vec(&st).unwrap()),
        400,
        "not_a_statement",
    )
    .await;
    // An unknown payloadType.
    let mut t = v.clone();
    t["payloadType"] = "application/json".into();
    expect(
        &client,
        serde_json::to_vec(&t).unwrap(),
        400,
        "unsupported_payload_type",
    )
    .await;

    // Deeply nested JSON: in the envelope, and inside a signed payload.
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    expect(&client, deep.clone().into_bytes(), 400, "too_deeply_nested").await;
    let nested = format!("{{\"_type\":\"https://in-toto.io/Statement/v1\",\"x\":{deep}}}");
    expect(
        &client,
        sign(&a, nested.as_bytes()),
        400,
        "too_deeply_nested",
    )
    .await;

    // Oversized body: 413 before anything else.
    let big = vec![b' '; 5 * 1024 * 1024];
    expect(&client, big, 413, "too_large").await;
    // An oversized string: a signed statement over its 3,000,000-byte limit inside an
    // envelope under the body limit.
    let mut huge: serde_json::Value = serde_json::from_slice(&env.payload).unwrap();
    huge["predicate"]["results"][0]["summary"] = "x".repeat(3_000_000).into();
    expect(
        &client,
        sign(&a, &serde_json::to_vec(&huge).unwrap()),
        413,
        "too_large",
    )
    .await;

    // Nothing of it was stored.
    assert_eq!(tree_size(&client).await, 0);

    // A revoked agent: refused.
    let out = c.cli(&["agents", "revoke", &a.agent_id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    expect(&client, good.clone(), 403, "revoked").await;
    assert_eq!(tree_size(&client).await, 0);

    // The good report of the other agent still goes in.
    let resp = post_report(&client, b.next_envelope(now()).unwrap()).await;
    assert_eq!(resp.status, 200);
    assert_eq!(tree_size(&client).await, 1);

    // Metrics by reason, and log lines.
    let text =
        String::from_utf8(client.get("/metrics", None).await.unwrap().body.to_vec()).unwrap();
    for (reason, n) in [
        ("bad_signature", 3),
        ("wrong_key", 1),
        ("unknown_agent", 1),
        ("unknown_key", 1),
        ("malformed", 4),
        ("not_a_statement", 2),
        ("unsupported_payload_type", 1),
        ("too_deeply_nested", 2),
        ("too_large", 2),
        ("revoked", 1),
    ] {
        let line = format!("attest_reports_rejected_total{{reason=\"{reason}\"}} {n}\n");
        assert!(text.contains(&line), "{line} missing in\n{text}");
    }
    assert!(text.contains("attest_reports_accepted_total 1\n"));
    let log = c.log_text();
    assert!(
        log.contains("report refused") && log.contains("bad_signature"),
        "{log}"
    );
    // Nothing internal leaks: no error mentions the database.
    assert!(!log.contains("database error"), "{log}");

    // The statement the store kept is the one sent, byte for byte.
    let auditor = c.apitoken("auditor");
    let resp = client
        .get(
            &format!("/v1/agents/{}/reports/1", b.agent_id),
            Some(&auditor),
        )
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let env_b = Envelope::from_json(&resp.body).unwrap();
    let st = Statement::from_slice(&env_b.verify(&b.key.verifying_key()).unwrap()).unwrap();
    assert_eq!(st.predicate.seq, 1);
    assert_eq!(link_of(&env_b.payload), b.chain.prev);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_agent_gets_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "version = 1\n[limits]\nrate_per_second = 1.0\nrate_burst = 3\n",
    );
    let c = Collector::start_with(&dir.path().join("data"), None, Some(&config));
    let client = c.client();
    let (token, _) = c.token(&["--uses", "2"]);
    let mut a = new_agent(4, 1);
    enroll(&client, &token, &mut a, 1).await;
    let mut b = new_agent(4, 2);
    enroll(&client, &token, &mut b, 2).await;
    let mut conn = client.connect().await.unwrap();
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..10 {
        let body = a.next_envelope(now()).unwrap();
        let resp = conn
            .send(hyper::Method::POST, "/v1/reports", None, Some(body.into()))
            .await
            .unwrap();
        if resp.status == 429 {
            assert_eq!(resp.error_code().as_deref(), Some("rate_limited"));
            retry_after = resp.headers.get("retry-after").cloned();
        }
        statuses.push(resp.status.as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(retry_after.unwrap(), "1");
    // Another agent is not affected.
    let resp = post_report(&client, b.next_envelope(now()).unwrap()).await;
    assert_eq!(resp.status, 200);
    assert_eq!(tree_size(&client).await, 4);
}
