//! Reports over `attest.report/v2`: a replayed report (`agent.replay`) is stored but
//! never evidence, at a time or over a period, in any format or bundle; `api` evidence
//! is shown with its call as the source in every format; checks that never apply on a
//! host's OS (`not_applicable`) do not turn its controls into failures.

use attest_proto::{CheckResult, Evidence, Report, Status};

use super::bundle::export;
use super::tests::oscal_errors;
use super::verify::{Outcome, Trust, read_entries, verify_bytes};
use super::*;
use crate::catalog::Catalog;
use crate::evaluate::{DEFAULT_WINDOW_MS, State};
use crate::store::IngestOutcome;
use crate::store::reporting::open;
use crate::testkit::Pending as _;
use crate::testkit::{SimAgent, enroll, sim_report};

const T0: Millis = 1_795_564_800_000;
const HOUR: Millis = 3_600_000;

pub(super) fn options(when: When) -> Options {
    Options {
        when,
        window: DEFAULT_WINDOW_MS,
        generated_at: T0 + 60_000,
        html_host_limit: 500,
        organization: None,
    }
}

pub(super) async fn report_of(stores: &Stores, catalog: &Catalog, when: When) -> FleetReport {
    let opts = options(when);
    let g = gather(stores, catalog, &opts, &Progress::quiet())
        .await
        .unwrap();
    build(catalog, &g, &opts, &|_| {})
}

pub(super) fn render_all(r: &FleetReport, catalog: &Catalog, when: When) -> [(Format, String); 4] {
    [Format::Json, Format::Html, Format::Csv, Format::Oscal].map(|f| {
        let mut out = Vec::new();
        render(f, r, catalog, &options(when), &mut out).unwrap();
        (f, String::from_utf8(out).unwrap())
    })
}

/// Signs `report` as the agent's next and stores it, received at `received`; its
/// payload SHA-256.
pub(super) async fn store(
    stores: &Stores,
    a: &mut SimAgent,
    mut report: Report,
    received: Millis,
) -> String {
    let json = a.sign_next(&mut report).unwrap();
    let pending = a.pending(json).unwrap();
    let sha = pending.payload_sha256.clone();
    let out = stores
        .store
        .ingest_batch(&[pending], received)
        .await
        .unwrap();
    assert!(matches!(out[0], IngestOutcome::Stored(_)), "{out:?}");
    sha
}

/// Every result of `report` set to `status`.
fn all(mut report: Report, status: Status) -> Report {
    for r in &mut report.results {
        r.status = status;
        r.summary = format!("replayed: {}", r.check);
        r.reason = None;
    }
    report
}

/// Host 0: a counted report (round 0) 3 hours before T0, then a replay 1 hour before
/// T0 that fails everything. Host 1: replays only. Host 2: a counted report only.
async fn replay_fleet(dir: &std::path::Path) -> (Stores, Catalog, Vec<SimAgent>, Vec<String>) {
    let url = format!("sqlite://{}", dir.join("collector.db").display());
    let stores = open(&url, 4).await.unwrap();
    let catalog = Catalog::builtin().unwrap();
    let mut agents = enroll(stores.store.as_ref(), 21, 3, T0 - 48 * HOUR)
        .await
        .unwrap();
    let at = |ms: Millis| chrono::DateTime::from_timestamp_millis(ms).unwrap();
    let mut shas = Vec::new();
    let r = sim_report(&catalog, &agents[0], 21, 0, at(T0 - 3 * HOUR));
    shas.push(store(&stores, &mut agents[0], r, T0 - 3 * HOUR + 1000).await);
    let mut r = all(
        sim_report(&catalog, &agents[0], 21, 1, at(T0 - HOUR)),
        Status::Fail,
    );
    r.agent.replay = true;
    shas.push(store(&stores, &mut agents[0], r, T0 - HOUR + 1000).await);
    for (round, hours) in [(0, 2), (1, 1)] {
        let mut r = all(
            sim_report(&catalog, &agents[1], 21, round, at(T0 - hours * HOUR)),
            Status::Pass,
        );
        r.agent.replay = true;
        shas.push(store(&stores, &mut agents[1], r, T0 - hours * HOUR + 1000).await);
    }
    let r = sim_report(&catalog, &agents[2], 21, 0, at(T0 - 2 * HOUR));
    shas.push(store(&stores, &mut agents[2], r, T0 - 2 * HOUR + 1000).await);
    (stores, catalog, agents, shas)
}

#[tokio::test]
async fn a_replay_is_never_evidence_at_a_time_over_a_period_or_in_a_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let (stores, catalog, agents, shas) = replay_fleet(dir.path()).await;
    let (counted, replay_0, replays_1) = (&shas[0], &shas[1], &shas[2..4]);
    let before = report_of(&stores, &catalog, When::AsOf(T0 - 2 * HOUR)).await;

    for when in [
        When::AsOf(T0),
        When::AsOf(T0 - HOUR + 5000),
        When::Period {
            from: T0 - 24 * HOUR,
            to: T0,
        },
    ] {
        let r = report_of(&stores, &catalog, when).await;
        // Host 0 keeps the verdicts of its counted report.
        let h0 = &r.hosts[0];
        let ev = h0.evidence.as_ref().unwrap();
        assert_eq!((ev.seq, ev.payload_sha256.as_str()), (1, counted.as_str()));
        assert_eq!(h0.freshness, "fresh");
        assert!(ev.signature.is_verified());
        let states = |h: &model::HostEntry| {
            h.controls
                .iter()
                .map(|c| (c.control.clone(), c.state))
                .collect::<Vec<_>>()
        };
        assert_eq!(states(h0), states(&before.hosts[0]), "{when:?}");
        assert!(
            h0.results.iter().all(|x| x
                .summary
                .as_deref()
                .is_none_or(|s| !s.starts_with("replayed"))),
            "no result of the replay is shown"
        );
        assert!(h0.controls.iter().any(|c| c.state == State::Satisfied));
        assert_eq!((h0.chain.replayed, h0.chain.missing), (1, 0));
        // Host 1 has no evidence at all, and says why.
        let h1 = &r.hosts[1];
        assert_eq!(h1.freshness, "none");
        assert!(h1.evidence.is_none());
        assert!(h1.controls.iter().all(|c| c.state == State::NotAssessed));
        assert_eq!(
            h1.results[0].note.as_deref(),
            Some(
                "no report received but 2 replayed reports (agent.replay), which are never evidence"
            )
        );
        assert_eq!(h1.chain.replayed, 2);
        assert_eq!(r.summary.hosts_without_evidence, 1);
        // No format cites a replay.
        for (format, text) in render_all(&r, &catalog, when) {
            for sha in std::iter::once(replay_0).chain(replays_1) {
                assert!(!text.contains(sha.as_str()), "{format:?} cites a replay");
            }
            assert!(
                !text.contains("replayed: "),
                "{format:?} shows a replayed result"
            );
            if format == Format::Html {
                assert!(text.contains("2 replayed</b>"), "appendix C counts them");
            }
        }
        if let When::Period { .. } = when {
            // The period's changes never name a replay as their cause.
            let p = r.period.as_ref().unwrap();
            assert!(
                p.changes
                    .iter()
                    .filter(|c| c.agent_id == agents[0].agent_id)
                    .all(|c| c.causes.iter().all(|k| !k.contains("seq 2"))),
                "{:?}",
                p.changes
            );
            assert!(
                p.changes
                    .iter()
                    .filter(|c| c.agent_id == agents[1].agent_id)
                    .all(|c| c.to == Some(State::NotAssessed)),
            );
        }
    }

    // A period bundle keeps the replays whole (links of the chains), and verify says
    // they are replays; the report cites none of them.
    let key = attest_proto::SigningKey::from_bytes(&[42; 32]);
    let path = dir.path().join("evidence.tar.gz");
    let opts = options(When::Period {
        from: T0 - 24 * HOUR,
        to: T0,
    });
    export(&stores, &catalog, &opts, &key, &path, &Progress::quiet())
        .await
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let v = verify_bytes(&bytes, &Trust::key(&key.verifying_key())).unwrap();
    assert_eq!(v.outcome(), Outcome::Verified, "{}", v.text());
    assert_eq!(v.envelopes, 5);
    let paths: Vec<String> = read_entries(&bytes)
        .unwrap()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    for (agent, seq) in [(0, 2), (1, 1), (1, 2)] {
        let p = format!("envelopes/{}/{seq}.json", agents[agent].agent_id);
        assert!(paths.contains(&p), "{p} missing from {paths:?}");
    }
    let text = v.text();
    assert!(
        text.contains(&format!(
            "note: agent {}: 1 report is a replay (agent.replay: decided from recorded \
             captures, never evidence): seq 2",
            agents[0].agent_id
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "note: agent {}: 2 reports are a replay",
            agents[1].agent_id
        )),
        "{text}"
    );
    // An as-of bundle holds the counted reports only.
    let opts = options(When::AsOf(T0));
    export(&stores, &catalog, &opts, &key, &path, &Progress::quiet())
        .await
        .unwrap();
    let v = verify_bytes(&std::fs::read(&path).unwrap(), &Trust::default()).unwrap();
    assert_eq!(v.envelopes, 2, "{}", v.text());
    assert!(!v.text().contains("replay"), "{}", v.text());
    stores.store.close().await;
}

/// A report that says it is a replay is never evidence, even when the database row
/// was not marked as one (a collector without this check stored it, or the row was
/// rewritten): the signed statement decides.
#[tokio::test]
async fn a_replay_stored_unmarked_is_still_not_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let (stores, catalog, _agents, shas) = replay_fleet(dir.path()).await;
    let url = format!("sqlite://{}", dir.path().join("collector.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let n = sqlx::query("UPDATE reports SET replay = 0 WHERE replay = 1")
        .execute(&pool)
        .await
        .unwrap()
        .rows_affected();
    pool.close().await;
    assert_eq!(n, 3);
    let problems = stores.store.integrity_check().await.unwrap().problems;
    assert_eq!(problems.len(), 3, "{problems:?}");
    let r = report_of(&stores, &catalog, When::AsOf(T0)).await;
    // Host 0's latest row is now the replay: its statement keeps it from counting.
    assert!(r.hosts[0].evidence.is_none());
    assert!(
        r.hosts[0]
            .controls
            .iter()
            .all(|c| c.state == State::NotAssessed)
    );
    assert!(r.hosts[1].evidence.is_none());
    for (format, text) in render_all(&r, &catalog, When::AsOf(T0)) {
        assert!(!text.contains("replayed: "), "{format:?}");
        assert!(!text.contains(shas[1].as_str()), "{format:?}");
    }
    stores.store.close().await;
}

/// `api` evidence (schema v2) is shown in every format with its call as the source.
#[tokio::test]
async fn api_evidence_is_shown_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("collector.db").display());
    let stores = open(&url, 4).await.unwrap();
    let catalog = Catalog::builtin().unwrap();
    let mut agents = enroll(stores.store.as_ref(), 22, 1, T0 - 48 * HOUR)
        .await
        .unwrap();
    let at = chrono::DateTime::from_timestamp_millis(T0 - HOUR).unwrap();
    let mut report = sim_report(&catalog, &agents[0], 22, 0, at);
    let failing = "NetUserModalsGet(0)";
    let passing = r"HKLM\SYSTEM\CurrentControlSet\Services\W32Time\Parameters";
    for r in &mut report.results {
        if r.check == "accounts.password_max_age" {
            *r = CheckResult::new(r.check.clone(), Status::Fail, "Passwords never expire.")
                .evidence(Evidence::Api {
                    name: failing.into(),
                    excerpt: "usrmod0_max_passwd_age = 4294967295 (TIMEQ_FOREVER)".into(),
                    sha256: format!("sha256:{}", "a1".repeat(32)),
                });
        }
        if r.check == "system.time_sync" {
            *r = CheckResult::new(
                r.check.clone(),
                Status::Pass,
                "W32Time synchronises with the domain hierarchy.",
            )
            .evidence(Evidence::Api {
                name: passing.into(),
                excerpt: "Type = NT5DS (REG_SZ)".into(),
                sha256: format!("sha256:{}", "b2".repeat(32)),
            });
        }
    }
    let json = agents[0].sign_next(&mut report).unwrap();
    assert_eq!(report.schema, attest_proto::REPORT_SCHEMA_V2);
    let pending = agents[0].pending(json).unwrap();
    let out = stores
        .store
        .ingest_batch(&[pending], T0 - HOUR + 1000)
        .await
        .unwrap();
    assert!(matches!(out[0], IngestOutcome::Stored(_)), "{out:?}");

    let when = When::AsOf(T0);
    let r = report_of(&stores, &catalog, when).await;
    let result = |check: &str| {
        r.hosts[0]
            .results
            .iter()
            .find(|x| x.check == check)
            .unwrap()
    };
    let fail = &result("accounts.password_max_age").evidence[0];
    assert_eq!(
        (fail.kind, fail.source.as_str(), fail.excerpt.as_str()),
        (
            "api",
            failing,
            "usrmod0_max_passwd_age = 4294967295 (TIMEQ_FOREVER)"
        )
    );
    let pass = &result("system.time_sync").evidence[0];
    assert_eq!(
        (pass.kind, pass.source.as_str(), pass.excerpt.as_str()),
        ("api", passing, "")
    );
    let [(_, json), (_, html), (_, csv), (_, oscal)] = render_all(&r, &catalog, when);
    // JSON: the model, kind and source.
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let results = v["hosts"][0]["results"].as_array().unwrap();
    let ev = results
        .iter()
        .find(|x| x["check"] == "system.time_sync")
        .unwrap()["evidence"][0]
        .clone();
    assert_eq!(ev["kind"], "api");
    assert_eq!(ev["source"], passing);
    // HTML: the kind, the call and its digest, and the excerpt of the failure.
    assert!(
        html.contains(&format!(r#"<span class="kind">api</span> {failing} "#)),
        "{failing} not in the HTML"
    );
    assert!(html.contains(&format!(r#"<span class="kind">api</span> {passing} "#)));
    assert!(html.contains(&"a1".repeat(32)));
    assert!(html.contains("usrmod0_max_passwd_age = 4294967295"));
    assert!(html.contains(r#"<span class="kind">file</span> "#));
    // CSV: the sources column.
    let header = csv.lines().next().unwrap();
    assert!(
        header.ends_with(",signature,sources,mapping_rules"),
        "{header}"
    );
    assert!(csv.contains(&format!("api {failing} sha256:{}", "a1".repeat(32))));
    assert!(csv.contains(&format!("api {passing} sha256:{}", "b2".repeat(32))));
    // OSCAL: the failing result's remarks name the call; the document validates.
    let doc: serde_json::Value = serde_json::from_str(&oscal).unwrap();
    let errors = oscal_errors(&doc);
    assert!(errors.is_empty(), "{errors:#?}");
    let remarks: Vec<&str> = doc["assessment-results"]["results"][0]["observations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["relevant-evidence"][0]["remarks"].as_str())
        .collect();
    assert!(
        remarks.contains(
            &format!("api {failing}:\nusrmod0_max_passwd_age = 4294967295 (TIMEQ_FOREVER)")
                .as_str()
        ),
        "{remarks:?}"
    );
    stores.store.close().await;
}

/// On Linux hosts the ids of macOS and Windows answer `not_applicable`: a control they
/// alone evidence (8.13, by `disk.recovery_key_escrow`) is satisfied because the check
/// does not apply — said so — and never a failure; a control they share keeps the
/// verdicts of the checks that do apply.
#[tokio::test]
async fn checks_that_never_apply_do_not_fail_their_controls() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("collector.db").display());
    let stores = open(&url, 4).await.unwrap();
    let catalog = Catalog::builtin().unwrap();
    let mut agents = enroll(stores.store.as_ref(), 23, 40, T0 - 48 * HOUR)
        .await
        .unwrap();
    crate::testkit::report_round(
        stores.store.as_ref(),
        &catalog,
        &mut agents,
        23,
        0,
        T0 - HOUR,
        T0 - HOUR + 1000,
    )
    .await
    .unwrap();
    let when = When::AsOf(T0);
    let r = report_of(&stores, &catalog, when).await;
    let linux_na: Vec<&str> = attest_proto::catalogue::CHECKS
        .iter()
        .filter(|c| !c.applies_on(attest_proto::Platform::Linux))
        .map(|c| c.id)
        .collect();
    assert_eq!(linux_na.len(), 7);
    for h in &r.hosts {
        for id in &linux_na {
            let x = h.results.iter().find(|x| x.check == *id).unwrap();
            assert_eq!(
                (x.status, x.state),
                (Some("not_applicable"), State::NotAssessed),
                "{id}: never applying on Linux is no evidence"
            );
            assert!(x.reason.is_some(), "{id}: the catalogue's reason");
        }
        // 8.13's only check never applies on Linux: no evidence, not "satisfied".
        let c813 = h.controls.iter().find(|c| c.control == "8.13").unwrap();
        assert_eq!(c813.state, State::NotAssessed);
        // 8.24 keeps the disk checks' state: the escrow check is left out.
        let disk = h
            .results
            .iter()
            .filter(|x| x.check.starts_with("disk.") && x.check != "disk.recovery_key_escrow")
            .map(|x| x.state)
            .fold(State::Satisfied, State::worst);
        let c824 = h.controls.iter().find(|c| c.control == "8.24").unwrap();
        assert_eq!(c824.state, disk, "{}", h.hostname);
    }
    let c = r.controls.iter().find(|c| c.id == "8.13").unwrap();
    assert_eq!(c.verdict, Some(State::NotAssessed));
    // 8.9 shares sip, gatekeeper, uac and smb1 with secure boot: on every host its
    // state is the one of secure boot, the one of its checks that applies.
    for h in &r.hosts {
        let boot = h
            .results
            .iter()
            .find(|x| x.check == "system.secure_boot")
            .unwrap();
        let c89 = h.controls.iter().find(|c| c.control == "8.9").unwrap();
        assert_eq!(c89.state, boot.state, "{}", h.hostname);
    }
    let [_, (_, html), _, _] = render_all(&r, &catalog, when);
    let start = html.find("id=\"control-8.13\"").unwrap();
    let rest = &html[start..];
    let section = &rest[..rest[1..]
        .find("<div class=\"control\"")
        .map_or(rest.len(), |e| e + 1)];
    assert!(
        section.contains("never applies on this host&#39;s operating system")
            || section.contains("never applies on this host's operating system"),
        "the 8.13 section says why it is not assessed: {section}"
    );
    stores.store.close().await;
}
