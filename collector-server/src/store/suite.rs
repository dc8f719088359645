//! The storage test suite, run against both backends: SQLite in a temp dir always,
//! PostgreSQL when `ATTEST_TEST_POSTGRES_URL` names a server (a fresh database per
//! test; a SKIP line otherwise).

use std::sync::Arc;

use attest_proto::{Envelope, ErrorCode, keyid};
use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::*;
use crate::ingest::{Prepared, decode, prepare};
use crate::log::{root_of, verify_inclusion};
use crate::synth::{SynthAgent, agent_key, host};

const T0: Millis = 1_790_000_000_000;

fn at(ms: Millis) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap()
}

async fn sqlite() -> (DynStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("collector.db").display());
    // Opening twice runs the migrations twice: the second run is a no-op.
    open(&url, 4).await.unwrap().close().await;
    (open(&url, 4).await.unwrap(), dir)
}

/// The PostgreSQL server of the tests marked as needing it (see `build.rs`).
pub(crate) fn postgres_url() -> String {
    std::env::var("ATTEST_TEST_POSTGRES_URL")
        .expect("ATTEST_TEST_POSTGRES_URL is not set: this test needs PostgreSQL")
}

async fn postgres() -> DynStore {
    let url = postgres::create_test_database(&postgres_url(), "store")
        .await
        .unwrap();
    open(&url, 4).await.unwrap().close().await;
    open(&url, 4).await.unwrap()
}

fn new_agent(i: u64, id: &str) -> (NewAgent, SynthAgent) {
    let key = agent_key(7, i);
    let h = host(i);
    let agent = NewAgent {
        id: id.to_owned(),
        keyid: keyid(&key.verifying_key()),
        public_key: key.verifying_key().to_bytes(),
        hostname: h.hostname.clone(),
        machine_id: h.machine_id.clone(),
        os_id: h.os.id.clone(),
        os_version_id: h.os.version_id.clone(),
        os_pretty_name: h.os.pretty_name.clone(),
        kernel: h.kernel.clone(),
        enrolled_at: T0,
    };
    (agent, SynthAgent::new(key, id.to_owned(), h))
}

fn token(id: &str, uses: i64, expires_at: Option<Millis>) -> NewEnrollToken {
    NewEnrollToken {
        id: id.to_owned(),
        token_hash: format!("hash-{id}"),
        uses,
        expires_at,
        created_at: T0,
    }
}

/// A signed report of `agent` made ready for the store, as the handler does.
fn pending(agent: &mut SynthAgent, ms: Millis) -> PendingReport {
    let json = agent.next_envelope(at(ms)).unwrap();
    pending_from(agent, json)
}

fn pending_from(agent: &SynthAgent, json: Vec<u8>) -> PendingReport {
    let env: Envelope = decode(&json).unwrap();
    match prepare(
        Bytes::from(json),
        &env,
        &agent.agent_id,
        &agent.key.verifying_key(),
    )
    .unwrap()
    {
        Prepared::Ready(p) => *p,
        Prepared::OtherAgent { claimed } => panic!("claims {claimed}"),
    }
}

fn stored(o: &IngestOutcome) -> &attest_proto::Receipt {
    match o {
        IngestOutcome::Stored(r) => r,
        other => panic!("expected stored, got {other:?}"),
    }
}

fn rejected(o: &IngestOutcome) -> ErrorCode {
    match o {
        IngestOutcome::Rejected { code, .. } => *code,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

async fn enrollment(store: &dyn Store) {
    store
        .create_enroll_token(&token("t1", 2, None))
        .await
        .unwrap();
    store
        .create_enroll_token(&token("t-old", 5, Some(T0 - 1)))
        .await
        .unwrap();
    store
        .create_enroll_token(&token("t-rev", 5, None))
        .await
        .unwrap();
    assert!(store.revoke_enroll_token("t-rev", T0).await.unwrap());
    assert!(!store.revoke_enroll_token("t-rev", T0).await.unwrap());
    assert!(!store.revoke_enroll_token("nope", T0).await.unwrap());

    let (a, _) = new_agent(1, "agt_a");
    let (b, _) = new_agent(2, "agt_b");
    let (c, _) = new_agent(3, "agt_c");
    let refused = |r| EnrollOutcome::Refused(r);
    assert_eq!(
        store.enroll("hash-none", &a, T0).await.unwrap(),
        refused(EnrollRefusal::UnknownToken)
    );
    assert_eq!(
        store.enroll("hash-t-old", &a, T0).await.unwrap(),
        refused(EnrollRefusal::TokenExpired)
    );
    assert_eq!(
        store.enroll("hash-t-rev", &a, T0).await.unwrap(),
        refused(EnrollRefusal::TokenRevoked)
    );
    assert_eq!(
        store.enroll("hash-t1", &a, T0).await.unwrap(),
        EnrollOutcome::Enrolled {
            agent_id: "agt_a".into()
        }
    );
    // The same key again: its id, no use spent.
    let (mut a2, _) = new_agent(1, "agt_a2");
    a2.enrolled_at = T0 + 1;
    assert_eq!(
        store.enroll("hash-t1", &a2, T0).await.unwrap(),
        EnrollOutcome::AlreadyEnrolled {
            agent_id: "agt_a".into()
        }
    );
    assert_eq!(
        store.enroll("hash-t1", &b, T0).await.unwrap(),
        EnrollOutcome::Enrolled {
            agent_id: "agt_b".into()
        }
    );
    assert_eq!(
        store.enroll("hash-t1", &c, T0).await.unwrap(),
        refused(EnrollRefusal::TokenUsedUp)
    );
    let tokens = store.list_enroll_tokens().await.unwrap();
    let t1 = tokens.iter().find(|t| t.id == "t1").unwrap();
    assert_eq!((t1.uses_total, t1.uses_left), (2, 0));
    assert!(
        tokens
            .iter()
            .find(|t| t.id == "t-rev")
            .unwrap()
            .revoked_at
            .is_some()
    );

    let key = store.agent_key(&a.keyid).await.unwrap().unwrap();
    assert_eq!(key.agent_id, "agt_a");
    assert_eq!(key.public_key, a.public_key);
    assert!(!key.revoked);
    assert!(store.agent_key("ff").await.unwrap().is_none());
    let listed = store.list_agents(None, 10).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|a| a.agent_id.as_str())
            .collect::<Vec<_>>(),
        ["agt_a", "agt_b"]
    );
    assert_eq!(store.list_agents(Some("agt_a"), 10).await.unwrap().len(), 1);
    assert_eq!(store.count_agents().await.unwrap(), 2);
    assert!(store.revoke_agent("agt_b", T0).await.unwrap());
    assert!(!store.revoke_agent("agt_b", T0).await.unwrap());
    assert_eq!(store.count_agents().await.unwrap(), 1);
    assert!(store.agent_key(&b.keyid).await.unwrap().unwrap().revoked);
    store
        .create_enroll_token(&token("t2", 5, None))
        .await
        .unwrap();
    assert_eq!(
        store.enroll("hash-t2", &b, T0).await.unwrap(),
        refused(EnrollRefusal::AgentRevoked)
    );
}

async fn ingest(store: &dyn Store) {
    store
        .create_enroll_token(&token("t", 10, None))
        .await
        .unwrap();
    let (na, mut a) = new_agent(11, "agt_1");
    let (nb, mut b) = new_agent(12, "agt_2");
    let (nr, mut r) = new_agent(13, "agt_r");
    for n in [&na, &nb, &nr] {
        store.enroll("hash-t", n, T0).await.unwrap();
    }
    // A batch: two reports of a, one of b, the first of a again in the same batch.
    let a1 = pending(&mut a, T0);
    let a2 = pending(&mut a, T0 + 1000);
    let b1 = pending(&mut b, T0);
    let out = store
        .ingest_batch(&[a1.clone(), a2.clone(), b1.clone(), a1.clone()], T0)
        .await
        .unwrap();
    assert_eq!(stored(&out[0]).log_index, 0);
    assert_eq!(stored(&out[1]).log_index, 1);
    assert_eq!(stored(&out[2]).log_index, 2);
    assert_eq!(stored(&out[0]).payload_sha256, a1.payload_sha256);
    assert_eq!(
        out[3],
        IngestOutcome::Duplicate(attest_proto::Receipt {
            duplicate: true,
            ..stored(&out[0]).clone()
        })
    );
    // Duplicate in a later batch: the same receipt.
    let out = store
        .ingest_batch(std::slice::from_ref(&a2), T0)
        .await
        .unwrap();
    assert_eq!(
        out[0],
        IngestOutcome::Duplicate(attest_proto::Receipt {
            agent_id: "agt_1".into(),
            seq: 2,
            payload_sha256: a2.payload_sha256.clone(),
            log_index: 1,
            duplicate: true,
        })
    );
    // A fork: another report with seq 2.
    let mut fork_agent = a.clone();
    fork_agent.chain.next_seq = 2;
    fork_agent.chain.prev = a1.link.clone();
    let fork = pending(&mut fork_agent, T0 + 5000);
    assert_eq!(fork.seq, 2);
    let out = store
        .ingest_batch(std::slice::from_ref(&fork), T0)
        .await
        .unwrap();
    assert_eq!(rejected(&out[0]), ErrorCode::ChainConflict);
    // A broken link: seq 3 whose prev is not seq 2's link.
    let mut broken = a.clone();
    broken.chain.prev = a1.link.clone();
    let out = store
        .ingest_batch(&[pending(&mut broken, T0)], T0)
        .await
        .unwrap();
    assert_eq!(rejected(&out[0]), ErrorCode::ChainConflict);
    // A gap: a skips 3 and 4.
    let a3 = pending(&mut a, T0 + 3000);
    let a4 = pending(&mut a, T0 + 4000);
    let a5 = pending(&mut a, T0 + 5000);
    let out = store
        .ingest_batch(std::slice::from_ref(&a5), T0)
        .await
        .unwrap();
    assert_eq!(stored(&out[0]).log_index, 3);
    // Late: 4 then 3 arrive; both link up.
    let out = store.ingest_batch(&[a4, a3], T0).await.unwrap();
    assert_eq!(stored(&out[0]).log_index, 4);
    assert_eq!(stored(&out[1]).log_index, 5);
    // Unknown and revoked agents.
    let (_, mut ghost) = new_agent(14, "agt_ghost");
    let out = store
        .ingest_batch(&[pending(&mut ghost, T0)], T0)
        .await
        .unwrap();
    assert_eq!(rejected(&out[0]), ErrorCode::UnknownAgent);
    store.revoke_agent("agt_r", T0).await.unwrap();
    let out = store
        .ingest_batch(&[pending(&mut r, T0)], T0)
        .await
        .unwrap();
    assert_eq!(rejected(&out[0]), ErrorCode::Revoked);

    // Chain events: fork, broken link, gap, two late reports.
    let kinds: Vec<String> = store
        .chain_events("agt_1")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["fork", "broken_link", "gap", "late", "late"]);

    // Read API.
    let info = store.agent("agt_1").await.unwrap().unwrap();
    assert_eq!(info.head_seq, Some(5));
    assert_eq!(info.last_report_at, Some(T0));
    let latest = store.latest_results("agt_1").await.unwrap().unwrap();
    assert_eq!(latest.seq, 5);
    assert_eq!(latest.log_index, 3);
    assert_eq!(latest.results.len(), 25);
    assert_eq!(latest.results[0].check, "disk.root_encrypted");
    assert_eq!(latest.results[6].status, "unknown");
    assert!(latest.results[6].reason.is_some());
    assert!(store.latest_results("agt_r").await.unwrap().is_none());
    let env = store.report_envelope("agt_1", 5).await.unwrap().unwrap();
    assert_eq!(env.envelope, a5.envelope.to_vec());
    assert_eq!(env.payload_sha256, a5.payload_sha256);
    assert!(store.report_envelope("agt_1", 99).await.unwrap().is_none());

    // The log: 6 leaves, root and proofs from stored nodes.
    let head = store.log_head().await.unwrap();
    assert_eq!(head.tree_size, 6);
    let leaves = store.log_nodes(0, 0, 100).await.unwrap();
    assert_eq!(leaves.len(), 6);
    assert_eq!(head.root, root_of(&leaves));
    assert_eq!(leaves[3], crate::log::leaf_hash(&a5.envelope));
    for i in 0..6 {
        let path = inclusion_proof(store, i, 6).await.unwrap();
        assert!(verify_inclusion(
            i,
            6,
            &leaves[i as usize],
            &path,
            &head.root
        ));
    }
    let report = store.integrity_check().await.unwrap();
    assert_eq!(report.problems, Vec::<String>::new());
    assert_eq!((report.reports, report.tree_size), (6, 6));
}

async fn log_over_many_batches(store: &dyn Store) {
    store
        .create_enroll_token(&token("tl", 100, None))
        .await
        .unwrap();
    let mut agents = Vec::new();
    for i in 0..5 {
        let (n, a) = new_agent(100 + i, &format!("agt_l{i}"));
        store.enroll("hash-tl", &n, T0).await.unwrap();
        agents.push(a);
    }
    // 70 reports in batches of varying size: stored subtrees at level 4 appear.
    let base = store.log_head().await.unwrap().tree_size;
    let mut sent = 0;
    for size in [1usize, 16, 3, 30, 20] {
        let batch: Vec<PendingReport> = (0..size)
            .map(|k| pending(&mut agents[(sent + k) % 5], T0))
            .collect();
        sent += size;
        let out = store.ingest_batch(&batch, T0).await.unwrap();
        assert!(out.iter().all(|o| matches!(o, IngestOutcome::Stored(_))));
    }
    let head = store.log_head().await.unwrap();
    let size = base + 70;
    assert_eq!(head.tree_size, size);
    assert_eq!(
        store.log_nodes(4, 0, 10).await.unwrap().len(),
        size as usize / 16
    );
    let leaves = store.log_nodes(0, 0, size).await.unwrap();
    assert_eq!(root_of(&leaves), head.root);
    for i in [0u64, 15, 16, 33, 63, 64, size - 1] {
        let path = inclusion_proof(store, i, size).await.unwrap();
        assert!(verify_inclusion(
            i,
            size,
            &leaves[i as usize],
            &path,
            &head.root
        ));
    }
    assert_eq!(
        store.integrity_check().await.unwrap().problems,
        Vec::<String>::new()
    );
}

/// One batch larger than the bulk-insert chunks of both backends (regression: a
/// single 1,000-report statement on PostgreSQL stalled the connection).
async fn large_batch(store: &dyn Store) {
    store
        .create_enroll_token(&token("tb", 100, None))
        .await
        .unwrap();
    let mut agents = Vec::new();
    for i in 0..50 {
        let (n, a) = new_agent(300 + i, &format!("agt_b{i:02}"));
        store.enroll("hash-tb", &n, T0).await.unwrap();
        agents.push(a);
    }
    let base = store.log_head().await.unwrap().tree_size;
    let batch: Vec<PendingReport> = (0..300).map(|k| pending(&mut agents[k % 50], T0)).collect();
    let out = store.ingest_batch(&batch, T0).await.unwrap();
    assert_eq!(out.len(), 300);
    assert!(out.iter().all(|o| matches!(o, IngestOutcome::Stored(_))));
    assert_eq!(store.log_head().await.unwrap().tree_size, base + 300);
    let latest = store.latest_results("agt_b49").await.unwrap().unwrap();
    assert_eq!((latest.seq, latest.results.len()), (6, 25));
    assert_eq!(
        store.integrity_check().await.unwrap().problems,
        Vec::<String>::new()
    );
}

async fn tokens_audit_meta(store: &dyn Store) {
    store
        .create_api_token(&NewApiToken {
            id: "k1".into(),
            token_hash: "h1".into(),
            role: Role::Auditor,
            note: "test".into(),
            created_at: T0,
        })
        .await
        .unwrap();
    assert_eq!(
        store.api_token("h1").await.unwrap(),
        Some(("k1".into(), Role::Auditor))
    );
    assert_eq!(store.api_token("h2").await.unwrap(), None);
    for i in 0..3 {
        store
            .audit(&AuditEntry {
                at: T0 + i,
                actor: "cli:root".into(),
                action: "token.create".into(),
                target: format!("t{i}"),
                detail: String::new(),
            })
            .await
            .unwrap();
    }
    let log = store.audit_log(2).await.unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].target, "t2");
    assert_eq!(store.meta("log_key").await.unwrap(), None);
    assert_eq!(store.meta_init("log_key", "A").await.unwrap(), "A");
    assert_eq!(store.meta_init("log_key", "B").await.unwrap(), "A");
    let stats = store.pool_stats();
    assert!(stats.max >= 2);
}

async fn suite(store: DynStore) {
    let s: &dyn Store = store.as_ref();
    enrollment(s).await;
    ingest(s).await;
    log_over_many_batches(s).await;
    large_batch(s).await;
    tokens_audit_meta(s).await;
    store.close().await;
}

#[tokio::test]
async fn sqlite_suite() {
    let (store, _dir) = sqlite().await;
    assert_eq!(store.backend(), "sqlite");
    suite(store).await;
}

#[tokio::test]
#[cfg_attr(
    not(attest_postgres),
    ignore = "needs PostgreSQL: set ATTEST_TEST_POSTGRES_URL when building and running the tests"
)]
async fn postgres_suite() {
    let store = postgres().await;
    assert_eq!(store.backend(), "postgres");
    suite(store).await;
}

/// Two writers on one database at once (two collectors): every report stored once,
/// log indexes dense, the log consistent.
async fn concurrent_writers(a: DynStore, b: DynStore) {
    a.create_enroll_token(&token("tc", 100, None))
        .await
        .unwrap();
    let mut agents = Vec::new();
    for i in 0..8 {
        let (n, ag) = new_agent(200 + i, &format!("agt_c{i}"));
        a.enroll("hash-tc", &n, T0).await.unwrap();
        agents.push(ag);
    }
    // Each agent's 10 reports; both writers get every report (like a retry that
    // reached the other collector), in batches of mixed agents.
    let mut all = Vec::new();
    for _ in 0..10 {
        for ag in agents.iter_mut() {
            all.push(pending(ag, T0));
        }
    }
    let run = |store: DynStore, reports: Vec<PendingReport>| {
        tokio::spawn(async move {
            let mut receipts = Vec::new();
            for chunk in reports.chunks(7) {
                for o in store.ingest_batch(chunk, T0).await.unwrap() {
                    match o {
                        IngestOutcome::Stored(r) | IngestOutcome::Duplicate(r) => receipts.push(r),
                        other => panic!("{other:?}"),
                    }
                }
            }
            receipts
        })
    };
    let ra = run(Arc::clone(&a), all.clone());
    let rb = run(Arc::clone(&b), all.clone());
    let (ra, rb) = (ra.await.unwrap(), rb.await.unwrap());
    // Both saw the same receipt for each report (modulo the duplicate flag).
    let strip = |r: &attest_proto::Receipt| (r.agent_id.clone(), r.seq, r.log_index);
    assert_eq!(
        ra.iter().map(strip).collect::<Vec<_>>(),
        rb.iter().map(strip).collect::<Vec<_>>()
    );
    let head = a.log_head().await.unwrap();
    assert_eq!(head.tree_size, 80);
    let report = b.integrity_check().await.unwrap();
    assert_eq!(report.problems, Vec::<String>::new());
}

#[tokio::test]
async fn sqlite_concurrent_writers() {
    let (a, dir) = sqlite().await;
    let url = format!("sqlite://{}", dir.path().join("collector.db").display());
    let b = open(&url, 4).await.unwrap();
    concurrent_writers(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(attest_postgres),
    ignore = "needs PostgreSQL: set ATTEST_TEST_POSTGRES_URL when building and running the tests"
)]
async fn postgres_concurrent_writers() {
    let url = postgres::create_test_database(&postgres_url(), "concurrent")
        .await
        .unwrap();
    let a = open(&url, 4).await.unwrap();
    let b = open(&url, 4).await.unwrap();
    concurrent_writers(a, b).await;
}
