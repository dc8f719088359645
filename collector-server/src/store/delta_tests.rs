//! Envelopes stored by difference ([`super::codec`]): every stored envelope reads back
//! byte-identical through every read path, on both backends, over random report
//! streams (keyframes, gaps, late reports, forks, restarts); a missing or corrupt base
//! is an error; a version-4 database is upgraded in place.

use std::collections::BTreeMap;
use std::io::Read as _;

use attest_proto::ChainState;
use chrono::DateTime;
use proptest::prelude::*;

use super::reporting::{self, Stores};
use super::*;
use crate::catalog::Catalog;
use crate::testkit::Pending as _;
use crate::testkit::{SimAgent, enroll, sim_host, sim_key, sim_report};

const T0: Millis = 1_790_000_000_000;
const HOUR: Millis = 3_600_000;

/// What a stream does next, for one agent.
#[derive(Debug, Clone)]
enum Op {
    /// The next `n` reports, in order; `change` moves the simulated verdicts on.
    Run { n: usize, change: bool },
    /// Signs `n` reports and holds them back: the next one delivered is after a gap.
    Gap { n: usize },
    /// Delivers the oldest report held back (a late report, below the head).
    Late,
    /// Another report at a `seq` already used (refused, recorded as a conflict).
    Fork,
    /// Commits the batch so far.
    Flush,
    /// Commits, closes the store and opens it again.
    Restart,
}

fn op() -> impl Strategy<Value = (usize, Op)> {
    let kind = prop_oneof![
        6 => (1usize..10, proptest::bool::weighted(0.1))
            .prop_map(|(n, change)| Op::Run { n, change }),
        1 => (1usize..3).prop_map(|n| Op::Gap { n }),
        1 => Just(Op::Late),
        1 => Just(Op::Fork),
        2 => Just(Op::Flush),
        1 => Just(Op::Restart),
    ];
    (0usize..3, kind)
}

struct Sim {
    agents: Vec<SimAgent>,
    /// Per agent: reports signed but held back.
    held: Vec<Vec<Vec<u8>>>,
    /// Per agent: a chain state of the past, to sign a fork from.
    past: Vec<Option<ChainState>>,
    round: Vec<u64>,
    clock: Millis,
    catalog: Catalog,
}

impl Sim {
    fn sign(&mut self, a: usize) -> Vec<u8> {
        self.clock += HOUR;
        let at = DateTime::from_timestamp_millis(self.clock).unwrap();
        let mut report = sim_report(&self.catalog, &self.agents[a], 1, self.round[a], at);
        if self.agents[a].chain.next_seq.is_multiple_of(5) {
            self.past[a] = Some(self.agents[a].chain.clone());
        }
        self.agents[a].sign_next(&mut report).unwrap()
    }
}

async fn open_stores(url: &str) -> Stores {
    reporting::open(url, 4).await.unwrap()
}

/// Runs one stream against the database at `url`; checks every stored envelope.
async fn run_stream(url: &str, ops: &[(usize, Op)]) {
    let mut stores = open_stores(url).await;
    let agents = enroll(stores.store.as_ref(), 1, 3, T0).await.unwrap();
    let mut sim = Sim {
        held: vec![Vec::new(); agents.len()],
        past: vec![None; agents.len()],
        round: vec![0; agents.len()],
        agents,
        clock: T0,
        catalog: Catalog::builtin().unwrap(),
    };
    // (agent, seq) → the envelope stored.
    let mut stored: BTreeMap<(String, i64), (i64, Vec<u8>)> = BTreeMap::new();
    let mut batch: Vec<(PendingReport, Vec<u8>)> = Vec::new();
    async fn flush(
        stores: &Stores,
        batch: &mut Vec<(PendingReport, Vec<u8>)>,
        stored: &mut BTreeMap<(String, i64), (i64, Vec<u8>)>,
        now: Millis,
    ) {
        let pending: Vec<PendingReport> = batch.iter().map(|(p, _)| p.clone()).collect();
        let outcomes = stores.store.ingest_batch(&pending, now).await.unwrap();
        for ((p, json), o) in batch.drain(..).zip(outcomes) {
            if let IngestOutcome::Stored(r) = o {
                let prior = stored.insert((p.agent_id.clone(), p.seq), (r.log_index as i64, json));
                assert!(prior.is_none(), "seq {} stored twice", p.seq);
            }
        }
    }
    for (a, op) in ops {
        let a = *a;
        match op {
            Op::Run { n, change } => {
                if *change {
                    sim.round[a] += 1;
                }
                for _ in 0..*n {
                    let json = sim.sign(a);
                    batch.push((sim.agents[a].pending(json.clone()).unwrap(), json));
                }
            }
            Op::Gap { n } => {
                for _ in 0..*n {
                    let json = sim.sign(a);
                    sim.held[a].push(json);
                }
            }
            Op::Late => {
                if !sim.held[a].is_empty() {
                    let json = sim.held[a].remove(0);
                    batch.push((sim.agents[a].pending(json.clone()).unwrap(), json));
                }
            }
            Op::Fork => {
                if let Some(past) = sim.past[a].clone() {
                    let mut forked = sim.agents[a].clone();
                    forked.chain = past;
                    sim.clock += HOUR;
                    let at = DateTime::from_timestamp_millis(sim.clock).unwrap();
                    let mut report = sim_report(&sim.catalog, &forked, 1, 999, at);
                    let json = forked.sign_next(&mut report).unwrap();
                    batch.push((forked.pending(json.clone()).unwrap(), json));
                }
            }
            Op::Flush => flush(&stores, &mut batch, &mut stored, sim.clock).await,
            Op::Restart => {
                flush(&stores, &mut batch, &mut stored, sim.clock).await;
                stores.store.close().await;
                stores = open_stores(url).await;
            }
        }
    }
    flush(&stores, &mut batch, &mut stored, sim.clock).await;
    check_all(&stores, &stored).await;
    stores.store.close().await;
}

/// Every stored envelope, byte-identical, by `report_envelope` and by the reporting
/// reads; `fsck` finds nothing.
async fn check_all(stores: &Stores, stored: &BTreeMap<(String, i64), (i64, Vec<u8>)>) {
    for ((agent, seq), (index, json)) in stored {
        let got = stores
            .store
            .report_envelope(agent, *seq)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.log_index, *index);
        assert!(got.envelope == *json, "{agent} seq {seq}: envelope differs");
    }
    let indexes: Vec<i64> = stored.values().map(|(i, _)| *i).collect();
    let envs = stores.reports.envelopes(&indexes).await.unwrap();
    assert_eq!(envs.len(), stored.len());
    let by_index: BTreeMap<i64, &Vec<u8>> = stored.values().map(|(i, j)| (*i, j)).collect();
    for e in &envs {
        assert!(
            by_index[&e.log_index] == &e.envelope,
            "report {}",
            e.log_index
        );
    }
    let fsck = stores.store.integrity_check().await.unwrap();
    assert!(fsck.problems.is_empty(), "{:?}", fsck.problems);
    assert_eq!(fsck.reports as usize, stored.len());
}

/// A report's results as `(log_index, position, check, status, summary, reason)`.
type ResultRow = (i64, i64, String, String, String, Option<String>);

/// The results of these reports as the reporting read gives them, numbered by
/// position within each report.
async fn read_results(stores: &Stores, indexes: &[i64]) -> Vec<ResultRow> {
    let mut out: Vec<ResultRow> = Vec::new();
    for (index, r) in stores.reports.results(indexes).await.unwrap() {
        let pos = out.iter().filter(|x| x.0 == index).count() as i64;
        out.push((index, pos, r.check, r.status, r.summary, r.reason));
    }
    out
}

/// The latest results of each agent (the read API's read) as `(agent, seq, rows)`.
async fn read_latest(stores: &Stores, agents: &[String]) -> Vec<(String, i64, Vec<String>)> {
    let mut out = Vec::new();
    for a in agents {
        if let Some(l) = stores.store.latest_results(a).await.unwrap() {
            let rows = l
                .results
                .iter()
                .map(|r| format!("{}|{}|{}|{:?}", r.check, r.status, r.summary, r.reason))
                .collect();
            out.push((a.clone(), l.seq, rows));
        }
    }
    out
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn sqlite_every_envelope_reads_back(ops in proptest::collection::vec(op(), 1..80)) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("collector.db").display());
        block_on(run_stream(&url, &ops));
    }
}

#[test]
#[cfg_attr(
    not(attest_postgres),
    ignore = "needs PostgreSQL: set ATTEST_TEST_POSTGRES_URL when building and running the tests"
)]
fn postgres_every_envelope_reads_back() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 6,
        ..ProptestConfig::default()
    });
    runner
        .run(&proptest::collection::vec(op(), 1..80), |ops| {
            block_on(async {
                let url = postgres::create_test_database(&super::suite::postgres_url(), "delta")
                    .await
                    .unwrap();
                run_stream(&url, &ops).await;
            });
            Ok(())
        })
        .unwrap();
}

/// A long straight stream crosses keyframes: the codecs are as designed.
#[tokio::test]
async fn sqlite_keyframe_every_interval_and_after_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("collector.db").display());
    let mut ops = vec![
        (
            0,
            Op::Run {
                n: 9,
                change: false
            }
        );
        15
    ];
    ops.push((0, Op::Gap { n: 1 }));
    ops.push((
        0,
        Op::Run {
            n: 2,
            change: false,
        },
    ));
    ops.push((0, Op::Late));
    run_stream(&url, &ops).await;
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let rows: Vec<(i64, i64, String, Option<i64>)> =
        sqlx::query_as("SELECT seq, log_index, codec, base_index FROM reports ORDER BY seq")
            .fetch_all(&pool)
            .await
            .unwrap();
    let index_of: BTreeMap<i64, i64> = rows.iter().map(|(s, i, _, _)| (*s, *i)).collect();
    let keyframes: Vec<i64> = rows
        .iter()
        .filter(|(_, _, c, _)| c == "zstd")
        .map(|(s, _, _, _)| *s)
        .collect();
    // 135 straight, 136 held back, 137 after the gap, 138 next, 136 late.
    assert_eq!(keyframes, [1, 65, 129, 136, 137]);
    for (seq, _, codec, base) in &rows {
        if codec == "zstd-delta" {
            let key = keyframes.iter().rev().find(|k| *k < seq).unwrap();
            assert_eq!(*base, Some(index_of[key]), "seq {seq}");
        }
    }
    assert_eq!(rows.len(), 138);
    assert!(rows.iter().all(|(_, _, c, _)| c != "raw"));
}

/// The store's checkpointer copies what the ingest writer commits into the database
/// file beside it: the writer's own checkpoint comes only every 10,000 pages of WAL,
/// so after a small batch the file grows only if the checkpointer ran.
#[tokio::test]
async fn sqlite_a_batch_reaches_the_database_file_beside_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.db");
    let url = format!("sqlite://{}", path.display());
    let stores = open_stores(&url).await;
    let mut agents = enroll(stores.store.as_ref(), 1, 3, T0).await.unwrap();
    let catalog = Catalog::builtin().unwrap();
    // The migrations and the enrollment are still in the WAL too: nothing has
    // checkpointed yet.
    let mut pending = Vec::new();
    let mut at = T0;
    for _ in 0..20 {
        for agent in agents.iter_mut() {
            at += HOUR;
            let when = DateTime::from_timestamp_millis(at).unwrap();
            let mut report = sim_report(&catalog, agent, 1, 0, when);
            let json = agent.sign_next(&mut report).unwrap();
            pending.push(agent.pending(json).unwrap());
        }
    }
    let size = || std::fs::metadata(&path).unwrap().len();
    let wal = dir.path().join("collector.db-wal");
    let before = size();
    let outcomes = stores.store.ingest_batch(&pending, at).await.unwrap();
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, IngestOutcome::Stored(_)))
    );
    let wal_size = std::fs::metadata(&wal).unwrap().len();
    assert!(wal_size > 0, "the batch is in the WAL");
    let mut after = size();
    for _ in 0..100 {
        if after > before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        after = size();
    }
    assert!(
        after > before,
        "the database file stayed at {before} bytes with {wal_size} bytes of WAL"
    );
    stores.store.close().await;
}

/// SQLite's writer sends a batch's statements as one text, with the `COMMIT` at its
/// end (`SqliteBatch`): a statement that fails inside it leaves nothing of the batch
/// (the reports and heads written before it are not committed), and the next batch
/// stores the same reports on a new connection.
#[tokio::test]
async fn sqlite_a_batch_that_fails_midway_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("collector.db").display());
    let stores = open_stores(&url).await;
    let mut agents = enroll(stores.store.as_ref(), 2, 2, T0).await.unwrap();
    let catalog = Catalog::builtin().unwrap();
    let mut at = T0;
    let mut sign = |agents: &mut Vec<SimAgent>, round: u64| {
        let mut pending = Vec::new();
        for agent in agents.iter_mut() {
            at += HOUR;
            let when = DateTime::from_timestamp_millis(at).unwrap();
            let mut report = sim_report(&catalog, agent, 1, round, when);
            let json = agent.sign_next(&mut report).unwrap();
            pending.push(agent.pending(json).unwrap());
        }
        (pending, at)
    };
    let (first, now) = sign(&mut agents, 0);
    let stored = stores.store.ingest_batch(&first, now).await.unwrap();
    assert!(stored.iter().all(|o| matches!(o, IngestOutcome::Stored(_))));
    let heads: Vec<_> =
        futures_util::future::join_all(agents.iter().map(|a| stores.store.agent(&a.agent_id)))
            .await;
    let heads: Vec<Option<i64>> = heads
        .into_iter()
        .map(|a| a.unwrap().unwrap().head_seq)
        .collect();

    // The log head is the last statement of the write: make it fail.
    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query(
        "CREATE TRIGGER fail_log BEFORE UPDATE ON log_state \
         BEGIN SELECT RAISE(ABORT, 'injected'); END",
    )
    .execute(&raw)
    .await
    .unwrap();
    // Changed verdicts (round 1), so the batch writes result changes too.
    let (second, now) = sign(&mut agents, 1);
    let err = stores.store.ingest_batch(&second, now).await.unwrap_err();
    assert!(err.to_string().contains("injected"), "{err}");
    let count = |raw: sqlx::SqlitePool| async move {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM reports")
            .fetch_one(&raw)
            .await
            .unwrap();
        let changes: i64 = sqlx::query_scalar("SELECT count(*) FROM result_changes")
            .fetch_one(&raw)
            .await
            .unwrap();
        (n, changes)
    };
    let (reports, changes_before) = count(raw.clone()).await;
    assert_eq!(reports, 2, "the failed batch's reports were not committed");
    assert_eq!(stores.store.log_head().await.unwrap().tree_size, 2);
    for (agent, head) in agents.iter().zip(&heads) {
        let now_head = stores.store.agent(&agent.agent_id).await.unwrap().unwrap();
        assert_eq!(now_head.head_seq, *head, "a head moved by the failed batch");
    }

    sqlx::query("DROP TRIGGER fail_log")
        .execute(&raw)
        .await
        .unwrap();
    let again = stores.store.ingest_batch(&second, now).await.unwrap();
    assert!(
        again.iter().all(|o| matches!(o, IngestOutcome::Stored(_))),
        "{again:?}"
    );
    let (reports, changes_after) = count(raw.clone()).await;
    assert_eq!(reports, 4);
    assert!(
        changes_after > changes_before,
        "the changed verdicts are stored"
    );
    assert_eq!(stores.store.log_head().await.unwrap().tree_size, 4);
    for (agent, head) in agents.iter().zip(&heads) {
        let latest = stores.store.latest_results(&agent.agent_id).await.unwrap();
        assert_eq!(Some(latest.unwrap().seq), head.map(|h| h + 1));
    }
    raw.close().await;
    stores.store.close().await;
}

/// Two collectors on one database, taking turns with one agent: each remembers the
/// head it wrote (`store::heads`) and uses it on its next batch, but a head the other
/// collector moved on is read again. The turns go round-0, round-1, round-0 results,
/// so a collector that diffed against its own stale head would store no change rows
/// for the checks the other one changed, and read back the other one's results.
async fn two_collectors_take_turns(url: &str) {
    let a = open_stores(url).await;
    let b = open_stores(url).await;
    let catalog = Catalog::builtin().unwrap();
    let mut agents = enroll(a.store.as_ref(), 7, 1, T0).await.unwrap();
    let agent = &mut agents[0];
    let at = |n: i64| DateTime::from_timestamp_millis(T0 + n * HOUR).unwrap();
    let results_of = |r: &attest_proto::Report| -> Vec<String> {
        r.results
            .iter()
            .map(|x| {
                format!(
                    "{}|{}|{}|{:?}",
                    x.check,
                    x.status.as_str(),
                    x.summary,
                    x.reason
                )
            })
            .collect()
    };
    assert_ne!(
        results_of(&sim_report(&catalog, agent, 1, 0, at(0))),
        results_of(&sim_report(&catalog, agent, 1, 1, at(0))),
        "the two rounds must differ for this test to mean anything"
    );
    // (which store, round) per turn: three reports each.
    let turns = [(0, 0), (1, 1), (0, 0), (0, 1), (1, 0), (1, 1)];
    let mut stored: BTreeMap<(String, i64), (i64, Vec<u8>)> = BTreeMap::new();
    let mut expected: Vec<(i64, Vec<String>)> = Vec::new();
    let mut n = 0;
    let mut hits = Vec::new();
    for (turn, (which, round)) in turns.into_iter().enumerate() {
        let stores = if which == 0 { &a } else { &b };
        for k in 0..3 {
            n += 1;
            let mut report = sim_report(&catalog, agent, 1, round, at(n));
            let json = agent.sign_next(&mut report).unwrap();
            let p = agent.pending(json.clone()).unwrap();
            let got = stores
                .store
                .ingest_batch_with(
                    std::slice::from_ref(&p),
                    T0 + n * HOUR,
                    ConflictQuota::DEFAULT,
                )
                .await
                .unwrap();
            let IngestOutcome::Stored(r) = &got.outcomes[0] else {
                panic!("turn {turn}: not stored: {:?}", got.outcomes);
            };
            stored.insert((p.agent_id.clone(), p.seq), (r.log_index as i64, json));
            expected.push((r.log_index as i64, results_of(&report)));
            hits.push((turn, k, got.head_hits));
        }
    }
    // A store's first batch after the other one wrote reads the head; the rest of its
    // turn uses what it remembered.
    for (turn, k, h) in &hits {
        let want = u64::from(*k > 0 || *turn == 3 || *turn == 5);
        assert_eq!(*h, want, "turn {turn}, report {k}: head hits");
    }
    check_all(&a, &stored).await;
    for (index, want) in &expected {
        let got: Vec<String> = read_results(&a, &[*index])
            .await
            .into_iter()
            .map(|(_, _, c, st, su, re)| format!("{c}|{st}|{su}|{re:?}"))
            .collect();
        assert_eq!(&got, want, "report {index}: the results read back");
    }
    let latest = read_latest(&b, std::slice::from_ref(&agent.agent_id)).await;
    assert_eq!(latest[0].1, n, "the head");
    assert_eq!(latest[0].2, expected.last().unwrap().1);
}

#[tokio::test]
async fn sqlite_two_collectors_never_use_a_head_the_other_moved_on() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("collector.db").display());
    two_collectors_take_turns(&url).await;
}

#[tokio::test]
#[cfg_attr(
    not(attest_postgres),
    ignore = "needs PostgreSQL: set ATTEST_TEST_POSTGRES_URL when building and running the tests"
)]
async fn postgres_two_collectors_never_use_a_head_the_other_moved_on() {
    let url = postgres::create_test_database(&super::suite::postgres_url(), "heads")
        .await
        .unwrap();
    two_collectors_take_turns(&url).await;
}

/// A delta whose base is missing, or whose base or own bytes are corrupt, is refused
/// with [`StoreError::Envelope`] by every read path, and `fsck` names it.
#[tokio::test]
async fn sqlite_missing_or_corrupt_base_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("collector.db").display());
    run_stream(
        &url,
        &[(
            0,
            Op::Run {
                n: 4,
                change: false,
            },
        )],
    )
    .await;
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let agent = "agt_sim_1_00000";
    let check = |what: &'static str| {
        let url = url.clone();
        async move {
            let stores = open_stores(&url).await;
            let e = match stores.store.report_envelope(agent, 3).await {
                Ok(_) => panic!("{what}: read back"),
                Err(e) => e,
            };
            assert!(
                matches!(e, StoreError::Envelope { index: 2, .. }),
                "{what}: {e}"
            );
            let Err(e) = stores.reports.envelopes(&[2]).await else {
                panic!("{what}: read back")
            };
            assert!(matches!(e, StoreError::Envelope { .. }), "{what}: {e}");
            let fsck = stores.store.integrity_check().await.unwrap();
            assert!(
                fsck.problems.iter().any(|p| p.starts_with("report 2:")),
                "{what}: {:?}",
                fsck.problems
            );
            stores.store.close().await;
        }
    };
    let exec = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query(sql).execute(&pool).await.unwrap() }
    };
    // The keyframe's bytes flipped in the middle.
    let good: Vec<u8> = sqlx::query_scalar("SELECT envelope FROM reports WHERE log_index = 0")
        .fetch_one(&pool)
        .await
        .unwrap();
    // A bit flipped in the keyframe: the keyframe itself no longer reads back (its
    // deltas may, when they do not use the bytes changed: they are checked too).
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x20;
    sqlx::query("UPDATE reports SET envelope = ? WHERE log_index = 0")
        .bind(&bad)
        .execute(&pool)
        .await
        .unwrap();
    {
        let stores = open_stores(&url).await;
        let e = stores.store.report_envelope(agent, 1).await.unwrap_err();
        assert!(matches!(e, StoreError::Envelope { index: 0, .. }), "{e}");
        stores.store.close().await;
    }
    // The keyframe cut short.
    sqlx::query("UPDATE reports SET envelope = ? WHERE log_index = 0")
        .bind(&good[..good.len() - 7])
        .execute(&pool)
        .await
        .unwrap();
    check("corrupt keyframe").await;
    // Another agent's keyframe, or none at all: missing.
    sqlx::query("UPDATE reports SET envelope = ? WHERE log_index = 0")
        .bind(&good)
        .execute(&pool)
        .await
        .unwrap();
    exec("UPDATE reports SET base_index = 99 WHERE log_index = 2").await;
    check("missing base").await;
    // The keyframe replaced by a raw envelope of other bytes (decodes, wrong bytes).
    exec("UPDATE reports SET base_index = 0 WHERE log_index = 2").await;
    exec("UPDATE reports SET codec = 'raw', envelope = CAST('{}' AS BLOB) WHERE log_index = 0")
        .await;
    check("wrong base").await;
    sqlx::query("UPDATE reports SET codec = 'zstd', envelope = ? WHERE log_index = 0")
        .bind(&good)
        .execute(&pool)
        .await
        .unwrap();
    // The delta itself cut short.
    exec("UPDATE reports SET envelope = substr(envelope, 1, length(envelope) - 3) WHERE log_index = 2")
        .await;
    check("truncated delta").await;
    pool.close().await;
}

/// PostgreSQL: a missing or damaged keyframe is detected by every read path.
#[tokio::test]
#[cfg_attr(
    not(attest_postgres),
    ignore = "needs PostgreSQL: set ATTEST_TEST_POSTGRES_URL when building and running the tests"
)]
async fn postgres_missing_or_corrupt_base_is_detected() {
    let url = postgres::create_test_database(&super::suite::postgres_url(), "delta_bad")
        .await
        .unwrap();
    run_stream(
        &url,
        &[(
            0,
            Op::Run {
                n: 4,
                change: false,
            },
        )],
    )
    .await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    for (what, sql) in [
        (
            "missing base",
            "UPDATE reports SET base_index = 99 WHERE log_index = 2",
        ),
        (
            "corrupt keyframe",
            // The base back, the keyframe cut short.
            "UPDATE reports SET \
             base_index = CASE WHEN log_index = 2 THEN 0 ELSE base_index END, \
             envelope = CASE WHEN log_index = 0 \
               THEN substring(envelope from 1 for octet_length(envelope) - 7) \
               ELSE envelope END \
             WHERE log_index IN (0, 2)",
        ),
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
        let stores = open_stores(&url).await;
        let Err(e) = stores.store.report_envelope("agt_sim_1_00000", 3).await else {
            panic!("{what}: read back")
        };
        assert!(
            matches!(e, StoreError::Envelope { index: 2, .. }),
            "{what}: {e}"
        );
        let Err(e) = stores.reports.envelopes(&[2]).await else {
            panic!("{what}: read back")
        };
        assert!(matches!(e, StoreError::Envelope { .. }), "{what}: {e}");
        let fsck = stores.store.integrity_check().await.unwrap();
        assert!(
            fsck.problems.iter().any(|p| p.starts_with("report 2:")),
            "{what}: {:?}",
            fsck.problems
        );
        stores.store.close().await;
    }
    pool.close().await;
}

/// A database written by the previous release (schema 4, envelopes raw) is migrated
/// in place: its envelopes read back as they were, and the chains go on with deltas
/// made against the old raw rows.
#[tokio::test]
async fn sqlite_upgrades_a_version_4_database_with_raw_envelopes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.db");
    let gz = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/collector-v4.db.gz"
    ))
    .unwrap();
    let mut db = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut db)
        .unwrap();
    std::fs::write(&path, db).unwrap();
    let url = format!("sqlite://{}", path.display());
    // The old rows, as the old version stored them: envelopes, and results one row
    // per check per report.
    type OldRow = (String, i64, i64, Vec<u8>);
    let (old, old_results): (Vec<OldRow>, Vec<ResultRow>) = {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let version: i64 = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(version, 4);
        let rows = sqlx::query_as(
            "SELECT agent_id, seq, log_index, envelope FROM reports ORDER BY log_index",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let results = sqlx::query_as(
            "SELECT log_index, position, check_id, status, summary, reason FROM results \
             ORDER BY log_index, position",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        pool.close().await;
        (rows, results)
    };
    assert_eq!(old.len(), 6);
    assert!(!old_results.is_empty());
    let stores = open_stores(&url).await;
    let mut stored = BTreeMap::new();
    for (agent, seq, index, env) in &old {
        stored.insert((agent.clone(), *seq), (*index, env.clone()));
    }
    check_all(&stores, &stored).await;
    // The results read as they were stored, and as the latest of each agent.
    let indexes: Vec<i64> = old.iter().map(|o| o.2).collect();
    assert_eq!(read_results(&stores, &indexes).await, old_results);
    let agents: Vec<String> = {
        let mut a: Vec<String> = old.iter().map(|o| o.0.clone()).collect();
        a.dedup();
        a
    };
    for (agent, seq, rows) in read_latest(&stores, &agents).await {
        let index = old.iter().find(|o| o.0 == agent && o.1 == seq).unwrap().2;
        let want: Vec<String> = old_results
            .iter()
            .filter(|r| r.0 == index)
            .map(|r| format!("{}|{}|{}|{:?}", r.2, r.3, r.4, r.5))
            .collect();
        assert_eq!(rows, want, "{agent}");
    }
    // Both chains go on.
    let catalog = Catalog::builtin().unwrap();
    for i in 0..2u64 {
        let agent_id = format!("agt_sim_1_{i:05}");
        let head = stores
            .store
            .report_envelope(&agent_id, 3)
            .await
            .unwrap()
            .unwrap();
        let mut sim = SimAgent {
            index: i,
            key: sim_key(1, i),
            agent_id: agent_id.clone(),
            host: sim_host(i),
            chain: ChainState {
                next_seq: 4,
                prev: format!("sha256:{}", head.payload_sha256),
            },
        };
        for round in 4..7 {
            let at = DateTime::from_timestamp_millis(T0 + round * HOUR).unwrap();
            let mut report = sim_report(&catalog, &sim, 1, 3, at);
            let json = sim.sign_next(&mut report).unwrap();
            let p = sim.pending(json.clone()).unwrap();
            let out = stores.store.ingest_batch(&[p], T0).await.unwrap();
            let IngestOutcome::Stored(r) = &out[0] else {
                panic!("{out:?}")
            };
            stored.insert((agent_id.clone(), round), (r.log_index as i64, json));
        }
    }
    check_all(&stores, &stored).await;
    stores.store.close().await;
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    // The flattened table is gone; its rows are fewer change rows.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'result%' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(tables, ["result_changes"]);
    let converted: i64 =
        sqlx::query_scalar("SELECT count(*) FROM result_changes WHERE log_index < 6")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        converted > 0 && (converted as usize) < old_results.len(),
        "{converted} change rows for {} results",
        old_results.len()
    );
    let rows: Vec<(i64, String, Option<i64>)> =
        sqlx::query_as("SELECT log_index, codec, base_index FROM reports ORDER BY log_index")
            .fetch_all(&pool)
            .await
            .unwrap();
    for (index, codec, base) in &rows {
        if *index < 6 {
            assert_eq!((codec.as_str(), *base), ("raw", None), "{index}");
        } else {
            // Deltas against each agent's last raw report (log index 4 or 5).
            assert_eq!(codec, "zstd-delta", "{index}");
            assert!(matches!(base, Some(4 | 5)), "{index}: {base:?}");
        }
    }
}

/// PostgreSQL: a version-4 database with reports in it (made here by taking a
/// database back to schema 4: envelopes raw, the codec columns and migration 5
/// removed) is migrated in place; old envelopes read back, chains go on with deltas.
#[tokio::test]
#[cfg_attr(
    not(attest_postgres),
    ignore = "needs PostgreSQL: set ATTEST_TEST_POSTGRES_URL when building and running the tests"
)]
async fn postgres_upgrades_a_version_4_database_with_raw_envelopes() {
    let url = postgres::create_test_database(&super::suite::postgres_url(), "upgrade4")
        .await
        .unwrap();
    let catalog = Catalog::builtin().unwrap();
    let stores = open_stores(&url).await;
    let mut agents = enroll(stores.store.as_ref(), 1, 2, T0).await.unwrap();
    let mut stored = BTreeMap::new();
    let mut round = 0i64;
    let mut send = |stored: &mut BTreeMap<(String, i64), (i64, Vec<u8>)>,
                    agents: &mut Vec<SimAgent>| {
        round += 1;
        let at = DateTime::from_timestamp_millis(T0 + round * HOUR).unwrap();
        agents
            .iter_mut()
            .map(|a| {
                let mut report = sim_report(&catalog, a, 1, 0, at);
                let json = a.sign_next(&mut report).unwrap();
                stored.insert((a.agent_id.clone(), round), (-1, json.clone()));
                a.pending(json).unwrap()
            })
            .collect::<Vec<_>>()
    };
    for _ in 0..3 {
        let batch = send(&mut stored, &mut agents);
        stores.store.ingest_batch(&batch, T0).await.unwrap();
    }
    // The results as read now, to compare after the conversion.
    let indexes: Vec<i64> = {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        let v = sqlx::query_scalar("SELECT log_index FROM reports ORDER BY log_index")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        v
    };
    let agent_ids: Vec<String> = agents.iter().map(|a| a.agent_id.clone()).collect();
    let before = read_results(&stores, &indexes).await;
    let latest_before = read_latest(&stores, &agent_ids).await;
    assert_eq!(latest_before.len(), agent_ids.len());
    stores.store.close().await;
    // Back to schema 4, as the previous version left it.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    // Results one row per check per report, as schema 5 and before stored them.
    sqlx::query(
        "CREATE TABLE results (log_index BIGINT NOT NULL, position BIGINT NOT NULL, \
         agent_id TEXT NOT NULL, check_id TEXT NOT NULL, status TEXT NOT NULL, \
         summary TEXT NOT NULL, reason TEXT, PRIMARY KEY (log_index, position))",
    )
    .execute(&pool)
    .await
    .unwrap();
    for (index, pos, check, status, summary, reason) in &before {
        sqlx::query(
            "INSERT INTO results SELECT $1, $2, agent_id, $3, $4, $5, $6 FROM reports \
             WHERE log_index = $1",
        )
        .bind(index)
        .bind(pos)
        .bind(check)
        .bind(status)
        .bind(summary)
        .bind(reason)
        .execute(&pool)
        .await
        .unwrap();
    }
    for ((agent, seq), (index, json)) in stored.iter_mut() {
        *index = sqlx::query_scalar(
            "UPDATE reports SET envelope = $1 WHERE agent_id = $2 AND seq = $3 \
             RETURNING log_index",
        )
        .bind(&json[..])
        .bind(agent)
        .bind(*seq)
        .fetch_one(&pool)
        .await
        .unwrap();
    }
    for sql in [
        "ALTER TABLE reports DROP COLUMN codec, DROP COLUMN base_index",
        "ALTER TABLE reports ALTER COLUMN envelope SET STORAGE EXTENDED",
        "DROP TABLE result_changes",
        "DELETE FROM _sqlx_migrations WHERE version IN (5, 6)",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    let stores = open_stores(&url).await;
    check_all(&stores, &stored).await;
    assert!(!before.is_empty());
    assert_eq!(read_results(&stores, &indexes).await, before);
    assert_eq!(read_latest(&stores, &agent_ids).await, latest_before);
    let gone: bool = sqlx::query_scalar("SELECT to_regclass('results') IS NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(gone, "the flattened table is dropped after the conversion");
    let first_new = stored.len() as i64;
    for _ in 0..3 {
        let batch = send(&mut stored, &mut agents);
        let out = stores.store.ingest_batch(&batch, T0).await.unwrap();
        for (p, o) in batch.iter().zip(out) {
            let IngestOutcome::Stored(r) = o else {
                panic!("{o:?}")
            };
            stored.get_mut(&(p.agent_id.clone(), p.seq)).unwrap().0 = r.log_index as i64;
        }
    }
    check_all(&stores, &stored).await;
    stores.store.close().await;
    let rows: Vec<(i64, String, Option<i64>)> =
        sqlx::query_as("SELECT log_index, codec, base_index FROM reports ORDER BY log_index")
            .fetch_all(&pool)
            .await
            .unwrap();
    for (index, codec, base) in &rows {
        if *index < first_new {
            assert_eq!((codec.as_str(), *base), ("raw", None), "{index}");
        } else {
            assert_eq!(codec, "zstd-delta", "{index}");
            assert!(matches!(base, Some(4 | 5)), "{index}: {base:?}");
        }
    }
    pool.close().await;
}

/// The report the history benchmarks start from: the agent's report of a fixture
/// host (`ATTEST_BENCH_REPORT`, a file of `attest-agent collect --format json`), or a
/// simulated Linux host's.
fn history_base_report() -> serde_json::Value {
    match std::env::var("ATTEST_BENCH_REPORT") {
        Ok(path) => serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap(),
        Err(_) => {
            let catalog = Catalog::builtin().unwrap();
            let at = DateTime::from_timestamp_millis(T0).unwrap();
            attest_sim::history::sim_base_report(catalog.checks().iter().map(|c| c.id.as_str()), at)
        }
    }
}

/// Fills a schema-5 `results` table with `rows` (agent id from the report).
macro_rules! insert_flat {
    ($pool:expr, $rows:expr, $p:literal) => {
        for (index, pos, check, status, summary, reason) in $rows {
            sqlx::query(concat!(
                "INSERT INTO results SELECT ",
                $p,
                "1, ",
                $p,
                "2, agent_id, ",
                $p,
                "3, ",
                $p,
                "4, ",
                $p,
                "5, ",
                $p,
                "6 FROM reports WHERE log_index = ",
                $p,
                "1"
            ))
            .bind(*index)
            .bind(*pos)
            .bind(check)
            .bind(status)
            .bind(summary)
            .bind(reason)
            .execute($pool)
            .await
            .unwrap();
        }
    };
}

/// Stored bytes per report on a realistic stream (`scripts/bench-history.sh`, figures
/// in `docs/benchmarks.md`): one host's consecutive hourly reports, the report of
/// `ATTEST_BENCH_REPORT` (`attest-agent collect --format json` of a fixture host;
/// default: a simulated host) with its time moving every hour, a package upgraded
/// every 168 reports (a week) and a verdict changed every 720 (a month);
/// `ATTEST_BENCH_REPORTS` reports (default 1,000), SQLite and, when
/// `ATTEST_TEST_POSTGRES_URL` is set, PostgreSQL.
#[tokio::test]
#[ignore = "benchmark: scripts/bench-history.sh"]
async fn bench_history_bytes_per_report() {
    use std::time::Instant;
    let n: usize = std::env::var("ATTEST_BENCH_REPORTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let base = history_base_report();
    let host: attest_proto::HostInfo = serde_json::from_value(base["host"].clone()).unwrap();
    // The stream, signed once, stored on each backend.
    let mut urls = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let sqlite_path = dir.path().join("collector.db");
    urls.push(("sqlite", format!("sqlite://{}", sqlite_path.display())));
    if let Ok(pg) = std::env::var("ATTEST_TEST_POSTGRES_URL") {
        let url = postgres::create_test_database(&pg, "history")
            .await
            .unwrap();
        urls.push(("postgres", url));
    }
    for (backend, url) in urls {
        let stores = open_stores(&url).await;
        let mut agents =
            crate::testkit::enroll_hosts(stores.store.as_ref(), 1, 1, T0, |_| host.clone())
                .await
                .unwrap();
        let agent = &mut agents[0];
        let mut report = base.clone();
        report["agent_id"] = agent.agent_id.clone().into();
        let (mut raw, mut sign_s, mut ingest_s) = (0usize, 0f64, 0f64);
        let mut envelopes = Vec::with_capacity(n);
        for i in 0..n {
            let at = DateTime::from_timestamp_millis(T0 + i as i64 * HOUR).unwrap();
            report["collected_at"] = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into();
            attest_sim::history::step(&mut report, i);
            let mut r: attest_proto::Report = serde_json::from_value(report.clone()).unwrap();
            let t = Instant::now();
            let json = agent.sign_next(&mut r).unwrap();
            let p = agent.pending(json.clone()).unwrap();
            sign_s += t.elapsed().as_secs_f64();
            raw += json.len();
            let t = Instant::now();
            let out = stores
                .store
                .ingest_batch(&[p], T0 + i as i64 * HOUR)
                .await
                .unwrap();
            ingest_s += t.elapsed().as_secs_f64();
            assert!(matches!(out[0], IngestOutcome::Stored(_)), "{out:?}");
            envelopes.push((out[0].clone(), json));
        }
        let indexes: Vec<i64> = envelopes
            .iter()
            .filter_map(|(o, _)| match o {
                IngestOutcome::Stored(r) => Some(r.log_index as i64),
                _ => None,
            })
            .collect();
        let flat = read_results(&stores, &indexes).await;
        assert_eq!(flat.len() % n, 0, "every report has its results");
        stores.store.close().await;
        let envelopes: Vec<Vec<u8>> = envelopes.into_iter().map(|(_, j)| j).collect();
        // What the rows hold.
        let (stored, keyframes, key_bytes, deltas, delta_bytes, total): (
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
        ) = if backend == "sqlite" {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            let q = "SELECT sum(length(envelope)), \
                     sum(codec = 'zstd'), sum(CASE WHEN codec = 'zstd' THEN length(envelope) END), \
                     sum(codec = 'zstd-delta'), \
                     sum(CASE WHEN codec = 'zstd-delta' THEN length(envelope) END), 0 FROM reports";
            let row: (i64, i64, i64, i64, i64, i64) =
                sqlx::query_as(q).fetch_one(&pool).await.unwrap();
            sqlx::query("VACUUM").execute(&pool).await.unwrap();
            let file = std::fs::metadata(&sqlite_path).unwrap().len() as i64;
            let change_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM result_changes")
                .fetch_one(&pool)
                .await
                .unwrap();
            // Results: the change rows, then one row per check per report as schema 5
            // stored them (the database without either, then with the flattened table;
            // sizes from the page count, which the WAL cannot leave stale).
            let size = "SELECT p.page_count * s.page_size FROM pragma_page_count() p, \
                        pragma_page_size() s";
            let with_changes: i64 = sqlx::query_scalar(size).fetch_one(&pool).await.unwrap();
            sqlx::query("DROP TABLE result_changes")
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query("VACUUM").execute(&pool).await.unwrap();
            let bare: i64 = sqlx::query_scalar(size).fetch_one(&pool).await.unwrap();
            sqlx::query(
                "CREATE TABLE results (log_index INTEGER NOT NULL, position INTEGER NOT NULL, \
                 agent_id TEXT NOT NULL, check_id TEXT NOT NULL, status TEXT NOT NULL, \
                 summary TEXT NOT NULL, reason TEXT, PRIMARY KEY (log_index, position)) \
                 WITHOUT ROWID",
            )
            .execute(&pool)
            .await
            .unwrap();
            insert_flat!(&pool, &flat, "?");
            sqlx::query("VACUUM").execute(&pool).await.unwrap();
            let flat_file: i64 = sqlx::query_scalar(size).fetch_one(&pool).await.unwrap();
            println!(
                "history sqlite: results {:.0} B/report as {change_rows} change rows (pages \
                 after VACUUM); one row per check per report (schema 5, before): \
                 {:.0} B/report ({} rows)",
                (with_changes - bare) as f64 / n as f64,
                (flat_file - bare) as f64 / n as f64,
                flat.len()
            );
            // The same rows as the previous version stored them (envelopes raw).
            for (i, e) in envelopes.iter().enumerate() {
                sqlx::query("UPDATE reports SET envelope = ?, codec = 'raw', base_index = NULL WHERE seq = ?")
                    .bind(&e[..])
                    .bind(i as i64 + 1)
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            sqlx::query("VACUUM").execute(&pool).await.unwrap();
            pool.close().await;
            let before = std::fs::metadata(&sqlite_path).unwrap().len() as i64;
            println!(
                "history sqlite: database {:.0} B/report with the envelopes raw (before)",
                before as f64 / n as f64
            );
            (row.0, row.1, row.2, row.3, row.4, file)
        } else {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let q = "SELECT sum(octet_length(envelope))::bigint, \
                     count(*) FILTER (WHERE codec = 'zstd'), \
                     COALESCE(sum(octet_length(envelope)) FILTER (WHERE codec = 'zstd'), 0)::bigint, \
                     count(*) FILTER (WHERE codec = 'zstd-delta'), \
                     COALESCE(sum(octet_length(envelope)) FILTER (WHERE codec = 'zstd-delta'), 0)::bigint, \
                     pg_total_relation_size('reports') \
                     + pg_total_relation_size('result_changes') FROM reports";
            let row: (i64, i64, i64, i64, i64, i64) =
                sqlx::query_as(q).fetch_one(&pool).await.unwrap();
            let (changes, change_rows): (i64, i64) = sqlx::query_as(
                "SELECT pg_total_relation_size('result_changes'), \
                 (SELECT count(*) FROM result_changes)",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            sqlx::query(
                "CREATE TABLE results (log_index BIGINT NOT NULL, position BIGINT NOT NULL, \
                 agent_id TEXT NOT NULL, check_id TEXT NOT NULL, status TEXT NOT NULL, \
                 summary TEXT NOT NULL, reason TEXT, PRIMARY KEY (log_index, position))",
            )
            .execute(&pool)
            .await
            .unwrap();
            insert_flat!(&pool, &flat, "$");
            let flat_bytes: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('results')")
                .fetch_one(&pool)
                .await
                .unwrap();
            println!(
                "history postgres: results {:.0} B/report as {change_rows} change rows \
                 (relation with indexes); one row per check per report (schema 5, before): \
                 {:.0} B/report ({} rows)",
                changes as f64 / n as f64,
                flat_bytes as f64 / n as f64,
                flat.len()
            );
            pool.close().await;
            row
        };
        let per = |b: i64| b as f64 / n as f64;
        println!(
            "history {backend}: {n} reports, envelope {:.0} B/report raw -> {:.0} B/report \
             stored ({:.1}x); keyframes {keyframes} x {:.0} B, deltas {deltas} x {:.0} B; \
             database {:.0} B/report ({}); sign {:.2} ms/report, ingest {:.2} ms/report \
             (debug build)",
            per(raw as i64),
            per(stored),
            raw as f64 / stored.max(1) as f64,
            key_bytes as f64 / keyframes.max(1) as f64,
            delta_bytes as f64 / deltas.max(1) as f64,
            per(total),
            if backend == "sqlite" {
                "file after VACUUM"
            } else {
                "reports + result_changes relations"
            },
            sign_s * 1e3 / n as f64,
            ingest_s * 1e3 / n as f64,
        );
        // The codec's own cost, and every envelope read back.
        let forms: Vec<Vec<u8>> = envelopes.iter().map(|e| codec::to_form(e)).collect();
        let t = Instant::now();
        let mut encoded = Vec::with_capacity(n);
        for (i, f) in forms.iter().enumerate() {
            let key = i - i % codec::KEYFRAME_INTERVAL as usize;
            encoded.push(if key == i {
                codec::keyframe(f).unwrap()
            } else {
                codec::delta(key as i64, &forms[key], f).unwrap()
            });
        }
        let enc_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut reader = codec::Reader::default();
        for (i, e) in encoded.iter().enumerate() {
            let key = i - i % codec::KEYFRAME_INTERVAL as usize;
            let out = reader
                .envelope(codec::StoredRow {
                    log_index: i as i64,
                    codec: e.codec.as_str().into(),
                    bytes: e.bytes.clone(),
                    leaf_hash: crate::log::leaf_hash(&envelopes[i]).to_vec(),
                    base_index: e.base_index,
                    base: Some(("zstd".into(), encoded[key].bytes.clone())),
                    pruned_at: None,
                })
                .unwrap();
            assert!(out == envelopes[i]);
        }
        let dec_s = t.elapsed().as_secs_f64();
        println!(
            "history {backend}: codec alone: encode {:.3} ms/report, decode and check {:.3} \
             ms/report (zstd at -O3, the rest debug)",
            enc_s * 1e3 / n as f64,
            dec_s * 1e3 / n as f64
        );
    }
}
