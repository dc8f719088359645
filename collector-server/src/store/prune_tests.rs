//! Retention ([`super::prune`], [`crate::retention::prune`]) on both backends: kept
//! envelopes read back byte-identical (deltas whose keyframe was pruned too), inclusion
//! proofs of kept and pruned leaves still verify against the unchanged log head,
//! pruned reports read as pruned everywhere, an agent's newest and newest counted
//! reports are kept, waivers, audit log and chain events are untouched, `fsck` is
//! clean, ingest goes on against the new keyframes, and a second prune is a no-op.

use std::collections::BTreeMap;

use super::reporting::{self, Stores, Waiver, WaiverScope};
use super::*;
use crate::catalog::Catalog;
use crate::log::verify_inclusion;
use crate::testkit::Pending as _;
use crate::testkit::{SimAgent, enroll, sim_report};

const T0: Millis = 1_790_000_000_000;
const HOUR: Millis = 3_600_000;

struct Fleet {
    agents: Vec<SimAgent>,
    catalog: Catalog,
    clock: Millis,
    /// (agent, seq) → (log index, envelope, received at).
    stored: BTreeMap<(String, i64), (i64, Vec<u8>, Millis)>,
}

impl Fleet {
    /// Signs the next report of agent `a` and stores it an hour after the last one;
    /// `deliver: false` signs it and throws it away (a gap in the chain).
    async fn report(&mut self, store: &dyn Store, a: usize, replay: bool, deliver: bool) {
        self.clock += HOUR;
        let at = DateTime::from_timestamp_millis(self.clock - 60_000).unwrap();
        let round = (self.clock / (24 * HOUR)) as u64;
        let mut report = sim_report(&self.catalog, &self.agents[a], 3, round, at);
        report.agent.replay = replay;
        let json = self.agents[a].sign_next(&mut report).unwrap();
        if !deliver {
            return;
        }
        let p = self.agents[a].pending(json.clone()).unwrap();
        let key = (p.agent_id.clone(), p.seq);
        let out = store.ingest_batch(&[p], self.clock).await.unwrap();
        let IngestOutcome::Stored(r) = &out[0] else {
            panic!("not stored: {out:?}");
        };
        self.stored
            .insert(key, (r.log_index as i64, json, self.clock));
    }
}

use chrono::DateTime;

fn waiver() -> Waiver {
    Waiver {
        id: "wvr_keep".into(),
        scope: WaiverScope::Check("system.screen_lock".into()),
        hosts: vec![],
        justification: "kiosk".into(),
        approver: "ciso".into(),
        created_at: T0,
        created_by: "cli:root".into(),
        expires_at: T0 + 1000 * HOUR,
        revoked_at: None,
        revoked_by: None,
    }
}

/// Every leaf's inclusion proof in the tree of `size` verifies against `root`.
async fn proofs_verify(store: &dyn Store, size: u64, root: &crate::log::Hash) {
    let leaves = store.log_nodes(0, 0, size).await.unwrap();
    assert_eq!(leaves.len() as u64, size);
    for (i, leaf) in leaves.iter().enumerate() {
        let path = inclusion_proof(store, i as u64, size).await.unwrap();
        assert!(
            verify_inclusion(i as u64, size, leaf, &path, root),
            "leaf {i} of {size}"
        );
    }
    assert_eq!(crate::log::root_of(&leaves), *root);
}

async fn scenario(stores: &Stores) {
    let store = stores.store.as_ref();
    let agents = enroll(store, 5, 3, T0).await.unwrap();
    let mut f = Fleet {
        agents,
        catalog: Catalog::builtin().unwrap(),
        clock: T0,
        stored: BTreeMap::new(),
    };
    // Agent 0: 100 reports; seq 50 never arrives (a gap: a chain event, and seq 51 a
    // keyframe whose deltas run past the cut-off). Agent 1: 10 early reports, then
    // silent. Agent 2: 5 early reports, then a replay as its newest.
    for _ in 0..10 {
        f.report(store, 1, false, true).await;
    }
    for _ in 0..5 {
        f.report(store, 2, false, true).await;
    }
    f.report(store, 2, true, true).await;
    for seq in 1..=100 {
        f.report(store, 0, false, seq != 50).await;
    }
    let cut = f.stored[&("agt_sim_5_00000".to_owned(), 60)].2;
    stores.reports.add_waiver(&waiver()).await.unwrap();
    store
        .audit(&AuditEntry {
            at: T0,
            actor: "cli:test".into(),
            action: "test".into(),
            target: "t".into(),
            detail: String::new(),
        })
        .await
        .unwrap();
    let head = store.log_head().await.unwrap();
    let events: Vec<Vec<ChainEvent>> = {
        let mut v = Vec::new();
        for a in &f.agents {
            v.push(store.chain_events(&a.agent_id).await.unwrap());
        }
        v
    };
    assert!(events[0].iter().any(|e| e.kind == "gap"), "{events:?}");
    let audit = store.audit_log(100).await.unwrap();

    // What would go: agent 0's seqs 1..=59 but 50; agent 1's but its newest; agent 2's
    // seqs 1..=4 (5 is its newest counted report, 6 its newest).
    let prunable = store.prunable(cut).await.unwrap();
    let expect: Vec<(String, i64)> = f
        .stored
        .iter()
        .filter(|((agent, seq), _)| match agent.as_str() {
            "agt_sim_5_00000" => *seq < 60,
            "agt_sim_5_00001" => *seq < 10,
            _ => *seq < 5,
        })
        .map(|(k, _)| k.clone())
        .collect();
    let got: Vec<(String, i64)> = prunable
        .iter()
        .map(|p| (p.agent_id.clone(), p.seq))
        .collect();
    assert_eq!(got, expect);

    let now = f.clock + HOUR;
    let mut steps = 0;
    let totals = crate::retention::prune(store, cut, now, 7, |_| steps += 1)
        .await
        .unwrap();
    assert_eq!(totals.pruned, expect.len() as u64);
    assert_eq!(totals.steps, steps);
    assert!(totals.steps > 1);
    // Stored again: agent 0's seqs 60..=100 (deltas of the keyframe at 51), agent 1's
    // seq 10 and agent 2's seqs 5 and 6 (deltas of their keyframes at seq 1).
    assert_eq!(totals.rebased, 41 + 1 + 2);

    // The log is untouched; every proof, of pruned leaves too, verifies.
    assert_eq!(store.log_head().await.unwrap(), head);
    proofs_verify(store, head.tree_size, &head.root).await;
    let integrity = store.integrity_check().await.unwrap();
    assert!(integrity.problems.is_empty(), "{:?}", integrity.problems);
    assert_eq!(integrity.reports, head.tree_size);

    // Kept envelopes read back byte-identical (read API and reporting reads); pruned
    // ones answer that they were pruned.
    let pruned: std::collections::BTreeSet<(String, i64)> = expect.iter().cloned().collect();
    let mut kept_indexes = Vec::new();
    for ((agent, seq), (index, json, _)) in &f.stored {
        let read = store.report_envelope(agent, *seq).await;
        if pruned.contains(&(agent.clone(), *seq)) {
            match read {
                Err(StoreError::Pruned { index: i, at }) => {
                    assert_eq!((i, at), (*index, now));
                }
                other => panic!("{agent} {seq}: {other:?}"),
            }
            let e = stores.reports.envelopes(&[*index]).await.unwrap_err();
            assert!(e.to_string().contains("was pruned on"), "{e}");
        } else {
            assert_eq!(&read.unwrap().unwrap().envelope, json, "{agent} {seq}");
            kept_indexes.push(*index);
        }
    }
    let back = stores.reports.envelopes(&kept_indexes).await.unwrap();
    assert_eq!(back.len(), kept_indexes.len());
    for e in &back {
        let (_, json, _) = f.stored.values().find(|v| v.0 == e.log_index).unwrap();
        assert_eq!(&e.envelope, json);
    }
    // Listed with the day they were pruned.
    let listed = store
        .list_reports("agt_sim_5_00000", None, 1000)
        .await
        .unwrap();
    assert_eq!(listed.len(), 99);
    for r in &listed {
        assert_eq!(r.pruned_at.is_some(), r.seq < 60, "seq {}", r.seq);
    }

    // The latest state of every agent stays answerable.
    for (a, seq) in [(0, 100), (1, 10), (2, 5)] {
        let latest = store
            .latest_results(&f.agents[a].agent_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(latest.seq, seq);
        assert!(!latest.results.is_empty());
    }
    // Waivers, the audit log and chain events are kept.
    assert_eq!(stores.reports.waivers().await.unwrap(), vec![waiver()]);
    assert_eq!(store.audit_log(100).await.unwrap(), audit);
    for (a, ev) in f.agents.iter().zip(&events) {
        assert_eq!(&store.chain_events(&a.agent_id).await.unwrap(), ev);
    }
    // A report of a time before the cut-off is refused; one after it is not.
    let before = crate::retention::check_not_pruned(store, &crate::report::When::AsOf(cut - 1))
        .await
        .unwrap_err();
    assert!(before.to_string().contains("were pruned"), "{before}");
    crate::retention::check_not_pruned(store, &crate::report::When::AsOf(cut))
        .await
        .unwrap();

    // Again: nothing left, nothing changes.
    assert!(store.prunable(cut).await.unwrap().is_empty());
    let again = crate::retention::prune(store, cut, now + HOUR, 7, |_| {})
        .await
        .unwrap();
    assert_eq!(again, crate::retention::PruneTotals::default());

    // Ingest goes on: agent 0's next report is a delta of the new keyframe and reads
    // back, and so does everything after a restart of the reads.
    f.report(store, 0, false, true).await;
    let (_, json, _) = &f.stored[&("agt_sim_5_00000".to_owned(), 101)];
    let read = store
        .report_envelope("agt_sim_5_00000", 101)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&read.envelope, json);
    let head = store.log_head().await.unwrap();
    proofs_verify(store, head.tree_size, &head.root).await;
    let integrity = store.integrity_check().await.unwrap();
    assert!(integrity.problems.is_empty(), "{:?}", integrity.problems);
}

/// Empties a kept row's envelope without marking it pruned: `fsck` still names it.
async fn unmarked_empty_row_is_a_problem(url: &str, stores: &Stores) {
    let sql = "UPDATE reports SET envelope = '', codec = 'raw', base_index = NULL \
               WHERE log_index = (SELECT max(log_index) FROM reports)";
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(&sql.replace("''", "''::bytea"))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(&sql.replace("''", "X''"))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let problems = stores.store.integrity_check().await.unwrap().problems;
    assert!(
        problems.iter().any(|p| p.contains("leaf hash")),
        "{problems:?}"
    );
}

#[tokio::test]
async fn sqlite_prune() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("collector.db").display());
    let stores = reporting::open(&url, 4).await.unwrap();
    scenario(&stores).await;
    unmarked_empty_row_is_a_problem(&url, &stores).await;
    stores.store.reclaim_space().await.unwrap();
    stores.store.close().await;
}

#[tokio::test]
#[cfg_attr(
    not(attest_postgres),
    ignore = "needs PostgreSQL: set ATTEST_TEST_POSTGRES_URL when building and running the tests"
)]
async fn postgres_prune() {
    let url = postgres::create_test_database(&super::suite::postgres_url(), "prune")
        .await
        .unwrap();
    let stores = reporting::open(&url, 4).await.unwrap();
    scenario(&stores).await;
    unmarked_empty_row_is_a_problem(&url, &stores).await;
    stores.store.close().await;
}

/// A prune on one store while another (a second collector on the same database)
/// ingests the same agents: every envelope still reads back byte-identical or as
/// pruned (only those received before the cut-off), and `fsck` is clean.
async fn concurrent(a: Stores, b: Stores) {
    let agents = enroll(a.store.as_ref(), 6, 2, T0).await.unwrap();
    let mut f = Fleet {
        agents,
        catalog: Catalog::builtin().unwrap(),
        clock: T0,
        stored: BTreeMap::new(),
    };
    for _ in 0..70 {
        f.report(a.store.as_ref(), 0, false, true).await;
        f.report(a.store.as_ref(), 1, false, true).await;
    }
    let cut = f.clock - 20 * HOUR;
    let writer = b.store.clone();
    let ingest = tokio::spawn(async move {
        for _ in 0..60 {
            f.report(writer.as_ref(), 0, false, true).await;
            f.report(writer.as_ref(), 1, false, true).await;
            tokio::task::yield_now().await;
        }
        f
    });
    let now = T0 + 1000 * HOUR;
    let totals = crate::retention::prune(a.store.as_ref(), cut, now, 3, |_| {})
        .await
        .unwrap();
    let f = ingest.await.unwrap();
    assert!(totals.pruned > 0);
    for ((agent, seq), (_, json, received)) in &f.stored {
        match a.store.report_envelope(agent, *seq).await {
            Ok(Some(e)) => assert_eq!(&e.envelope, json, "{agent} {seq}"),
            Err(StoreError::Pruned { .. }) => assert!(*received < cut, "{agent} {seq}"),
            other => panic!("{agent} {seq}: {other:?}"),
        }
    }
    let integrity = a.store.integrity_check().await.unwrap();
    assert!(integrity.problems.is_empty(), "{:?}", integrity.problems);
    let head = a.store.log_head().await.unwrap();
    proofs_verify(a.store.as_ref(), head.tree_size, &head.root).await;
    a.store.close().await;
    b.store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_prune_while_another_collector_ingests() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("collector.db").display());
    let a = reporting::open(&url, 4).await.unwrap();
    let b = reporting::open(&url, 4).await.unwrap();
    concurrent(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(attest_postgres),
    ignore = "needs PostgreSQL: set ATTEST_TEST_POSTGRES_URL when building and running the tests"
)]
async fn postgres_prune_while_another_collector_ingests() {
    let url = postgres::create_test_database(&super::suite::postgres_url(), "prune")
        .await
        .unwrap();
    let a = reporting::open(&url, 4).await.unwrap();
    let b = reporting::open(&url, 4).await.unwrap();
    concurrent(a, b).await;
}

/// Signs the next v3 report of `a` naming the list of `packages`, stores the list
/// (received at `at`) and the report; returns the list's address.
async fn v3_report(
    store: &dyn Store,
    catalog: &Catalog,
    a: &mut SimAgent,
    names: &[&str],
    at: Millis,
) -> String {
    use attest_proto::inventory::{self, Package};
    use attest_proto::{CheckResult, Status};
    let when = DateTime::from_timestamp_millis(at - 60_000).unwrap();
    let mut report = sim_report(catalog, a, 3, 0, when);
    report
        .results
        .retain(|r| r.check != inventory::SOFTWARE_CHECK);
    let packages: Vec<Package> = names
        .iter()
        .map(|n| Package {
            name: (*n).to_owned(),
            version: "1.0".into(),
            architecture: "amd64".into(),
        })
        .collect();
    report.results.push(
        CheckResult::new(inventory::SOFTWARE_CHECK, Status::Info, "packages")
            .fact(inventory::PACKAGES_FACT, &packages),
    );
    let (_, document) = inventory::split(&mut report).unwrap().unwrap();
    let address = inventory::address(&document);
    let json = a.sign_next(&mut report).unwrap();
    store
        .put_inventory_list(&NewInventoryList {
            address: address.clone(),
            agent_id: a.agent_id.clone(),
            document,
            received_at: at,
        })
        .await
        .unwrap();
    let out = store
        .ingest_batch(&[a.pending(json).unwrap()], at)
        .await
        .unwrap();
    assert!(matches!(out[0], IngestOutcome::Stored(_)), "{out:?}");
    address
}

/// A prune deletes the inventory lists only pruned reports name (the dry run names
/// them first) and keeps those a kept report names (shared with pruned ones, or an
/// agent's newest); `fsck` is clean and the evidence bundle of the kept reports
/// verifies with its lists. Then a damaged list is named by `fsck`.
async fn lists_scenario(url: &str, stores: &Stores) {
    use crate::report::bundle::export;
    use crate::report::verify::{Trust, verify_bytes};
    use crate::report::{Options, Progress, When};
    let store = stores.store.as_ref();
    let catalog = Catalog::builtin().unwrap();
    let mut agents = enroll(store, 8, 2, T0).await.unwrap();
    let mut clock = T0;
    let mut named = Vec::new();
    // Agent 0: seq 1-3 name `old`, 4-10 `shared`; the cut-off is after seq 6.
    for seq in 1..=10 {
        clock += HOUR;
        let names: &[&str] = if seq <= 3 { &["a", "b"] } else { &["a", "c"] };
        named.push(v3_report(store, &catalog, &mut agents[0], names, clock).await);
        if seq == 1 {
            // Agent 1: one report only, its newest (never pruned).
            named.push(v3_report(store, &catalog, &mut agents[1], &["z"], clock).await);
        }
    }
    let old = named[0].clone();
    let newest = named[1].clone();
    let shared = named[5].clone();
    assert_ne!(old, shared);
    let cut = T0 + 6 * HOUR + 1;
    let prunable = store.prunable(cut).await.unwrap();
    assert_eq!(prunable.len(), 6, "{prunable:?}");
    let pruning = prunable
        .iter()
        .map(|p| (p.agent_id.clone(), p.seq))
        .collect();
    assert_eq!(
        prune::unreferenced_lists(store, cut, &pruning)
            .await
            .unwrap()
            .as_slice(),
        std::slice::from_ref(&old)
    );
    let now = T0 + 100 * HOUR;
    let totals = crate::retention::prune(store, cut, now, 2, |_| {})
        .await
        .unwrap();
    assert_eq!((totals.pruned, totals.lists), (6, 1));
    assert!(!store.has_inventory_list(&old).await.unwrap());
    assert!(store.has_inventory_list(&shared).await.unwrap());
    assert!(store.has_inventory_list(&newest).await.unwrap());
    let integrity = store.integrity_check().await.unwrap();
    assert!(integrity.problems.is_empty(), "{:?}", integrity.problems);
    assert_eq!(integrity.inventory_lists, 2);
    // A second prune deletes nothing more.
    let again = crate::retention::prune(store, cut, now, 2, |_| {})
        .await
        .unwrap();
    assert_eq!((again.pruned, again.lists), (0, 0));

    // The bundle of the kept reports verifies, with their lists.
    let key = attest_proto::SigningKey::from_bytes(&[7; 32]);
    let opts = Options {
        when: When::AsOf(clock + HOUR),
        window: crate::evaluate::DEFAULT_WINDOW_MS,
        generated_at: now,
        html_host_limit: 100,
        organization: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evidence.tar.gz");
    export(stores, &catalog, &opts, &key, &path, &Progress::quiet())
        .await
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let v = verify_bytes(&bytes, &Trust::key(&key.verifying_key())).unwrap();
    assert!(v.ok(), "{}", v.text());
    let entries = crate::report::verify::read_entries(&bytes).unwrap();
    for address in [&shared, &newest] {
        let p = format!(
            "inventory-lists/{}.json",
            address.trim_start_matches("sha256:")
        );
        assert!(entries.iter().any(|(e, _)| *e == p), "{p}");
    }

    // fsck reads every list: a damaged body is named, and is a problem.
    let sql =
        "UPDATE inventory_lists SET body = X'00' WHERE address = 'ADDR'".replace("ADDR", &shared);
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(&sql.replace("X'00'", "'\\x00'::bytea"))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(&sql).execute(&pool).await.unwrap();
        pool.close().await;
    }
    let integrity = store.integrity_check().await.unwrap();
    assert_eq!(integrity.inventory_lists, 2);
    assert_eq!(
        integrity.damaged_lists.as_slice(),
        std::slice::from_ref(&shared)
    );
    assert!(
        integrity.problems.iter().any(|p| p.contains(&shared)),
        "{:?}",
        integrity.problems
    );
}

#[tokio::test]
async fn sqlite_prune_deletes_the_lists_only_pruned_reports_name() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("collector.db").display());
    let stores = reporting::open(&url, 4).await.unwrap();
    lists_scenario(&url, &stores).await;
    stores.store.close().await;
}

#[tokio::test]
#[cfg_attr(
    not(attest_postgres),
    ignore = "needs PostgreSQL: set ATTEST_TEST_POSTGRES_URL when building and running the tests"
)]
async fn postgres_prune_deletes_the_lists_only_pruned_reports_name() {
    let url = postgres::create_test_database(&super::suite::postgres_url(), "prune")
        .await
        .unwrap();
    let stores = reporting::open(&url, 4).await.unwrap();
    lists_scenario(&url, &stores).await;
    stores.store.close().await;
}
