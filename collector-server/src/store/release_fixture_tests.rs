//! A database written by the previous release's own binaries (commit `a787b93`,
//! schema 4: envelopes raw, `results` one row per check per report) is upgraded in
//! place by opening it, on both backends: `tests/fixtures/databases/`, made by
//! `scripts/make-release-fixture.sh` with real agents and a real collector.
//!
//! What the old database held is read with plain SQL before it is opened; after the
//! upgrade every envelope reads back byte-identical and verifies with its agent's
//! enrolled key, the log's head is the one the old collector signed and every
//! inclusion proof checks, the latest results, chain events, waivers, API tokens and
//! audit entries are what they were, `integrity_check` is clean, and the agent's next
//! report continues its chain.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use attest_proto::{ChainState, Envelope, Statement, public_key_from_bytes, sha256_hex};

use super::reporting::{self, Stores};
use super::*;
use crate::log::{Checkpoint, leaf_hash, verify_inclusion};
use crate::testkit::Pending as _;
use crate::testkit::SimAgent;

/// The fixtures' directory.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/databases")
}

fn gunzip(path: &Path) -> Vec<u8> {
    let gz = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// One stored report: agent, seq, log index, envelope, payload SHA-256, replay.
type OldReport = (String, i64, i64, Vec<u8>, String, i64);
/// One result row: log index, position, check, status, summary, reason.
type OldResult = (i64, i64, String, String, String, Option<String>);

/// What the old database held, read with plain SQL.
#[derive(Debug)]
struct Old {
    version: i64,
    reports: Vec<OldReport>,
    results: Vec<OldResult>,
    /// Agent id, public key.
    agents: Vec<(String, Vec<u8>)>,
    /// Tree size, root.
    head: (i64, Vec<u8>),
    /// Agent, kind, seq, detail.
    events: Vec<(String, String, i64, String)>,
    /// Id, role, note.
    api_tokens: Vec<(String, String, String)>,
    /// At, actor, action, target, detail.
    audit: Vec<(i64, String, String, String, String)>,
    /// Id, scope kind, scope id, hosts (JSON), approver, expires at.
    waivers: Vec<(String, String, String, String, String, i64)>,
}

/// The same statements on either backend (integers cast to BIGINT, which SQLite
/// reads as INTEGER).
macro_rules! read_old {
    ($pool:expr) => {{
        let pool = $pool;
        Old {
            version: sqlx::query_scalar(
                "SELECT CAST(max(version) AS BIGINT) FROM _sqlx_migrations",
            )
            .fetch_one(&pool)
            .await
            .unwrap(),
            reports: sqlx::query_as(
                "SELECT agent_id, CAST(seq AS BIGINT), CAST(log_index AS BIGINT), envelope, \
                 payload_sha256, CAST(CASE WHEN replay THEN 1 ELSE 0 END AS BIGINT) FROM reports \
                 ORDER BY log_index",
            )
            .fetch_all(&pool)
            .await
            .unwrap(),
            results: sqlx::query_as(
                "SELECT CAST(log_index AS BIGINT), CAST(position AS BIGINT), check_id, status, \
                 summary, reason FROM results ORDER BY log_index, position",
            )
            .fetch_all(&pool)
            .await
            .unwrap(),
            agents: sqlx::query_as("SELECT id, public_key FROM agents ORDER BY id")
                .fetch_all(&pool)
                .await
                .unwrap(),
            head: sqlx::query_as("SELECT CAST(tree_size AS BIGINT), root FROM log_state")
                .fetch_one(&pool)
                .await
                .unwrap(),
            events: sqlx::query_as(
                "SELECT agent_id, kind, CAST(seq AS BIGINT), detail FROM chain_events \
                 ORDER BY agent_id, seq",
            )
            .fetch_all(&pool)
            .await
            .unwrap(),
            api_tokens: sqlx::query_as("SELECT id, role, note FROM api_tokens ORDER BY id")
                .fetch_all(&pool)
                .await
                .unwrap(),
            audit: sqlx::query_as(
                "SELECT CAST(at AS BIGINT), actor, action, target, detail FROM audit_log \
                 ORDER BY id",
            )
            .fetch_all(&pool)
            .await
            .unwrap(),
            waivers: sqlx::query_as(
                "SELECT id, scope_kind, scope_id, hosts, approver, CAST(expires_at AS BIGINT) \
                 FROM waivers ORDER BY id",
            )
            .fetch_all(&pool)
            .await
            .unwrap(),
        }
    }};
}

/// The schema version of today's migrations (one file each).
fn current_version() -> i64 {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count() as i64
}

/// The old database as the fixture says it is: the release's schema, three agents,
/// reports with a replay and a gap, a waiver, an API token, audit entries.
fn check_fixture(old: &Old) {
    assert_eq!(old.version, 4, "the fixture is a schema-4 database");
    assert_eq!(old.agents.len(), 3);
    assert_eq!(old.reports.len(), 11);
    assert!(old.reports.iter().any(|r| r.5 == 1), "a replay");
    assert_eq!(old.head.0, 11);
    assert!(old.events.iter().any(|e| e.1 == "gap"), "{:?}", old.events);
    assert!(!old.results.is_empty());
    assert_eq!(old.api_tokens.len(), 1);
    assert_eq!(old.waivers.len(), 1);
    assert!(old.audit.len() >= 3, "{:?}", old.audit);
}

/// Opens the old database at `url` with today's code and checks everything against
/// `old`; then the fixture agent (`agent_dir`) sends its next report.
async fn upgrade_and_check(url: &str, old: &Old, checkpoint: &Path, agent_dir: &Path) {
    check_fixture(old);
    let stores: Stores = reporting::open(url, 4).await.unwrap();
    let store = stores.store.as_ref();

    // Every envelope byte-identical, where it was, verifying with its agent's key.
    for (agent, seq, index, envelope, sha, replay) in &old.reports {
        let got = store
            .report_envelope(agent, *seq)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{agent} seq {seq} is gone"));
        assert_eq!(&got.envelope, envelope, "{agent} seq {seq}");
        assert_eq!(got.log_index, *index, "{agent} seq {seq}");
        assert_eq!(&got.payload_sha256, sha, "{agent} seq {seq}");
        assert_eq!(got.replay, *replay == 1, "{agent} seq {seq}");
        let key_bytes = &old.agents.iter().find(|a| &a.0 == agent).unwrap().1;
        let key = public_key_from_bytes(&key_bytes[..].try_into().unwrap()).unwrap();
        let payload = Envelope::from_json(&got.envelope)
            .unwrap()
            .verify(&key)
            .unwrap();
        assert_eq!(&sha256_hex(&payload), sha, "{agent} seq {seq}");
        let statement = Statement::from_slice(&payload).unwrap();
        assert_eq!(statement.predicate.seq as i64, *seq);
        assert_eq!(&statement.predicate.agent_id, agent);
        let enrolled = store
            .agent_key(&attest_proto::keyid(&key))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&enrolled.agent_id, agent);
        assert_eq!(enrolled.public_key, key.to_bytes());
    }

    // The log: the head the old collector signed, every leaf proved in it.
    let cp: Checkpoint = serde_json::from_slice(&std::fs::read(checkpoint).unwrap()).unwrap();
    let log_key = attest_proto::decode_public_key(&cp.public_key).unwrap();
    let signed_root = cp.verify(&log_key).unwrap();
    let head = store.log_head().await.unwrap();
    assert_eq!(head.tree_size, old.head.0 as u64);
    assert_eq!(head.root.to_vec(), old.head.1);
    assert_eq!((cp.tree_size, signed_root), (head.tree_size, head.root));
    for (_, _, index, envelope, _, _) in &old.reports {
        let proof = inclusion_proof(store, *index as u64, head.tree_size)
            .await
            .unwrap();
        assert!(
            verify_inclusion(
                *index as u64,
                head.tree_size,
                &leaf_hash(envelope),
                &proof,
                &head.root
            ),
            "leaf {index}"
        );
    }

    // Each agent's latest counted report with the results the old table held; its
    // reports and chain events as they were.
    for (agent, _) in &old.agents {
        let mine: Vec<&OldReport> = old.reports.iter().filter(|r| &r.0 == agent).collect();
        let listed = store.list_reports(agent, None, 100).await.unwrap();
        assert_eq!(
            listed
                .iter()
                .map(|r| (r.seq, r.log_index, r.replay))
                .collect::<Vec<_>>(),
            mine.iter()
                .map(|r| (r.1, r.2, r.5 == 1))
                .collect::<Vec<_>>(),
            "{agent}"
        );
        let latest = store.latest_results(agent).await.unwrap();
        match mine.iter().filter(|r| r.5 == 0).max_by_key(|r| r.1) {
            None => assert_eq!(latest, None, "{agent}: only replays"),
            Some(want) => {
                let latest = latest.unwrap_or_else(|| panic!("{agent}: no latest results"));
                assert_eq!((latest.seq, latest.log_index), (want.1, want.2), "{agent}");
                let rows: Vec<(String, String, String, Option<String>)> = old
                    .results
                    .iter()
                    .filter(|r| r.0 == want.2)
                    .map(|r| (r.2.clone(), r.3.clone(), r.4.clone(), r.5.clone()))
                    .collect();
                assert!(!rows.is_empty(), "{agent}");
                let got: Vec<(String, String, String, Option<String>)> = latest
                    .results
                    .into_iter()
                    .map(|r| (r.check, r.status, r.summary, r.reason))
                    .collect();
                assert_eq!(got, rows, "{agent}");
            }
        }
        let events: Vec<(String, String, i64, String)> = store
            .chain_events(agent)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.agent_id, e.kind, e.seq, e.detail))
            .collect();
        let want: Vec<_> = old
            .events
            .iter()
            .filter(|e| &e.0 == agent)
            .cloned()
            .collect();
        assert_eq!(events, want, "{agent}");
    }

    // Waivers, API tokens and audit entries survive.
    let waivers: Vec<_> = stores
        .reports
        .waivers()
        .await
        .unwrap()
        .into_iter()
        .map(|w| {
            (
                w.id,
                w.scope.kind().to_owned(),
                w.scope.id().to_owned(),
                serde_json::to_string(&w.hosts).unwrap(),
                w.approver,
                w.expires_at,
            )
        })
        .collect();
    assert_eq!(waivers, old.waivers);
    let tokens: Vec<_> = store
        .list_api_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.id, t.role.as_str().to_owned(), t.note))
        .collect();
    assert_eq!(tokens, old.api_tokens);
    let mut audit: Vec<_> = store
        .audit_log(1000)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.at, a.actor, a.action, a.target, a.detail))
        .collect();
    audit.sort();
    let mut want = old.audit.clone();
    want.sort();
    assert_eq!(audit, want);

    let fsck = store.integrity_check().await.unwrap();
    assert_eq!(fsck.problems, Vec::<String>::new());
    assert_eq!(
        (fsck.reports, fsck.tree_size),
        (old.reports.len() as u64, head.tree_size)
    );

    // The enrolled debian agent's next report continues its chain.
    let enrollment: serde_json::Value =
        serde_json::from_slice(&std::fs::read(agent_dir.join("enrollment.json")).unwrap()).unwrap();
    let agent_id = enrollment["agent_id"].as_str().unwrap().to_owned();
    let chain: ChainState =
        serde_json::from_slice(&std::fs::read(agent_dir.join("chain.json")).unwrap()).unwrap();
    let secret = {
        use base64::Engine as _;
        let text = std::fs::read_to_string(agent_dir.join("agent.key")).unwrap();
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .unwrap()
    };
    let key = attest_proto::SigningKey::from_bytes(&secret[..].try_into().unwrap());
    let (last_seq, last_envelope) = old
        .reports
        .iter()
        .filter(|r| r.0 == agent_id)
        .max_by_key(|r| r.1)
        .map(|r| (r.1, r.3.clone()))
        .unwrap();
    assert_eq!(chain.next_seq as i64, last_seq + 1);
    let payload = Envelope::from_json(&last_envelope)
        .unwrap()
        .verify(&key.verifying_key())
        .unwrap();
    let mut report = Statement::from_slice(&payload).unwrap().predicate;
    // An hour after its last report, as the fixture's clock goes on.
    report.collected_at += chrono::TimeDelta::hours(1);
    let mut agent = SimAgent {
        index: 0,
        key,
        agent_id: agent_id.clone(),
        host: report.host.clone(),
        chain,
    };
    let json = agent.sign_next(&mut report).unwrap();
    let pending = agent.pending(json.clone()).unwrap();
    let now = report.collected_at.timestamp_millis();
    let out = store.ingest_batch(&[pending], now).await.unwrap();
    let IngestOutcome::Stored(receipt) = &out[0] else {
        panic!("the next report is refused: {out:?}")
    };
    assert_eq!(receipt.seq as i64, last_seq + 1);
    assert_eq!(receipt.log_index, head.tree_size);
    let stored = store
        .report_envelope(&agent_id, last_seq + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.envelope, json);
    let latest = store.latest_results(&agent_id).await.unwrap().unwrap();
    assert_eq!(latest.seq, last_seq + 1);
    // The old leaves are still in the grown log.
    let grown = store.log_head().await.unwrap();
    assert_eq!(grown.tree_size, head.tree_size + 1);
    for (_, _, index, envelope, _, _) in &old.reports {
        let proof = inclusion_proof(store, *index as u64, grown.tree_size)
            .await
            .unwrap();
        assert!(verify_inclusion(
            *index as u64,
            grown.tree_size,
            &leaf_hash(envelope),
            &proof,
            &grown.root
        ));
    }
    let fsck = store.integrity_check().await.unwrap();
    assert_eq!(fsck.problems, Vec::<String>::new());
    assert_eq!(fsck.reports, old.reports.len() as u64 + 1);
    store.close().await;

    // The schema is today's (read after the store let go of the database).
    let version = schema_version(url).await;
    assert_eq!(version, current_version());
}

async fn schema_version(url: &str) -> i64 {
    let q = "SELECT CAST(max(version) AS BIGINT) FROM _sqlx_migrations";
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let v = sqlx::query_scalar(q).fetch_one(&pool).await.unwrap();
        pool.close().await;
        v
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let v = sqlx::query_scalar(q).fetch_one(&pool).await.unwrap();
        pool.close().await;
        v
    }
}

#[tokio::test]
async fn sqlite_upgrades_a_database_written_by_the_previous_release() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.db");
    std::fs::write(&path, gunzip(&fixtures().join("collector-v4.db.gz"))).unwrap();
    let url = format!("sqlite://{}", path.display());
    let old = {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let old = read_old!(pool.clone());
        pool.close().await;
        old
    };
    upgrade_and_check(
        &url,
        &old,
        &fixtures().join("sqlite-checkpoint.txt"),
        &fixtures().join("sqlite-agent"),
    )
    .await;
}

#[tokio::test]
#[cfg_attr(
    not(attest_postgres),
    ignore = "needs PostgreSQL: set ATTEST_TEST_POSTGRES_URL when building and running the tests"
)]
async fn postgres_upgrades_a_database_written_by_the_previous_release() {
    use sqlx::Connection as _;
    let base = super::suite::postgres_url();
    let url = postgres::create_test_database(&base, "release")
        .await
        .unwrap();
    let dump = String::from_utf8(gunzip(&fixtures().join("collector-v4.pg.sql.gz"))).unwrap();
    let old = {
        // The dump sets an empty search_path for its session: its own connection.
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(&dump).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        let old = read_old!(pool.clone());
        pool.close().await;
        old
    };
    upgrade_and_check(
        &url,
        &old,
        &fixtures().join("postgres-checkpoint.txt"),
        &fixtures().join("postgres-agent"),
    )
    .await;
    let name = url.rsplit('/').next().unwrap().to_owned();
    let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
    sqlx::raw_sql(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}
