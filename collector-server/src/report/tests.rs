//! Reports end to end over a simulated fleet in SQLite: every format, from the same
//! data, and the OSCAL document validated against NIST's schema.

use std::sync::LazyLock;

use super::*;
use crate::catalog::Catalog;
use crate::evaluate::{DEFAULT_WINDOW_MS, State};
use crate::fleet::{Waiver, WaiverScope};
use crate::store::reporting::open;
use crate::testkit::Pending as _;
use crate::testkit::{enroll, report_round, sim_report};

const T0: Millis = 1_795_564_800_000;
const HOUR: Millis = 3_600_000;

/// Results per report: every check of the catalogue (the default mapping's checks).
fn checks() -> usize {
    attest_proto::catalogue::CHECKS.len()
}

static SCHEMA: LazyLock<serde_json::Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!(
        "../../testdata/oscal_assessment-results_schema.json"
    ))
    .unwrap()
});

/// Validates an OSCAL document against NIST's schema; the errors as text.
pub fn oscal_errors(doc: &serde_json::Value) -> Vec<String> {
    let validator = jsonschema::validator_for(&SCHEMA).unwrap();
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .take(20)
        .collect()
}

/// A fleet of 6 hosts: two rounds of reports, a waiver, a gap on host 1, a fork on
/// host 2, host 5 without reports, host 4 stale.
pub async fn fleet(dir: &std::path::Path) -> (Stores, Catalog) {
    let url = format!("sqlite://{}", dir.join("collector.db").display());
    let stores = open(&url, 4).await.unwrap();
    let s = stores.store.as_ref();
    let catalog = Catalog::builtin().unwrap();
    let mut agents = enroll(s, 9, 6, T0 - 30 * 24 * HOUR).await.unwrap();
    let (old, rest) = agents.split_at_mut(5);
    // Host 4: one report, 10 days before T0.
    report_round(
        s,
        &catalog,
        &mut old[4..5],
        9,
        0,
        T0 - 240 * HOUR,
        T0 - 240 * HOUR + 1000,
    )
    .await
    .unwrap();
    let _ = rest; // host 5 never reports
    report_round(
        s,
        &catalog,
        &mut old[..4],
        9,
        1,
        T0 - 48 * HOUR,
        T0 - 48 * HOUR + 1000,
    )
    .await
    .unwrap();
    report_round(
        s,
        &catalog,
        &mut old[..4],
        9,
        2,
        T0 - 2 * HOUR,
        T0 - 2 * HOUR + 1000,
    )
    .await
    .unwrap();
    // Host 1: seq 3 lost, seq 4 stored: a gap.
    let at = chrono::DateTime::from_timestamp_millis(T0 - HOUR).unwrap();
    let a = &mut agents[1];
    let mut lost = sim_report(&catalog, a, 9, 3, at);
    a.sign_next(&mut lost).unwrap();
    let mut next = sim_report(&catalog, a, 9, 4, at);
    let json = a.sign_next(&mut next).unwrap();
    s.ingest_batch(&[a.pending(json).unwrap()], T0 - HOUR + 1000)
        .await
        .unwrap();
    // Host 2: a second, different report with seq 2: a fork.
    let b = &mut agents[2];
    let mut fork = sim_report(&catalog, b, 9, 7, at);
    fork.seq = 2;
    let mut replay = b.clone();
    replay.chain.next_seq = 2;
    replay.chain.prev = {
        // The link of seq 1 is what seq 2's prev was; reuse the stored one.
        let env = stores
            .reports
            .latest_reports(T0 - 40 * HOUR)
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.agent_id == b.agent_id)
            .unwrap();
        format!("sha256:{}", env.payload_sha256)
    };
    let json = replay.sign_next(&mut fork).unwrap();
    s.ingest_batch(&[replay.pending(json).unwrap()], T0 - HOUR + 2000)
        .await
        .unwrap();
    // A waiver of the screen lock on every host, and an expired one.
    let waiver = |id: &str, scope: WaiverScope, expires_at: Millis| Waiver {
        id: id.into(),
        scope,
        hosts: vec![],
        justification: "Kiosk and server builds have no screen lock; compensated by locked racks."
            .into(),
        approver: "J. Doe, CISO".into(),
        created_at: T0 - 100 * HOUR,
        created_by: "cli:admin".into(),
        expires_at,
        revoked_at: None,
        revoked_by: None,
    };
    stores
        .reports
        .add_waiver(&waiver(
            "wvr_lock",
            WaiverScope::Check("system.screen_lock".into()),
            T0 + 1000 * HOUR,
        ))
        .await
        .unwrap();
    stores
        .reports
        .add_waiver(&waiver(
            "wvr_old",
            WaiverScope::Control("8.8".into()),
            T0 - 50 * HOUR,
        ))
        .await
        .unwrap();
    (stores, catalog)
}

fn options(when: When) -> Options {
    Options {
        when,
        window: DEFAULT_WINDOW_MS,
        generated_at: T0 + 60_000,
        html_host_limit: 500,
        organization: None,
    }
}

async fn report_of(stores: &Stores, catalog: &Catalog, when: When) -> FleetReport {
    let opts = options(when);
    let g = gather(stores, catalog, &opts, &Progress::quiet())
        .await
        .unwrap();
    build(catalog, &g, &opts, &|_| {})
}

fn render_to_string(format: Format, r: &FleetReport, c: &Catalog, when: When) -> String {
    let mut out = Vec::new();
    render(format, r, c, &options(when), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn every_format_renders_the_same_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    let (stores, catalog) = fleet(dir.path()).await;
    let when = When::AsOf(T0);
    let r = report_of(&stores, &catalog, when).await;

    assert_eq!(r.summary.hosts_in_scope, 6);
    assert_eq!(r.summary.hosts_fresh, 4);
    assert_eq!(r.summary.hosts_stale, 1);
    assert_eq!(r.summary.hosts_without_evidence, 1);
    assert_eq!(r.summary.hosts_with_chain_gaps, 1);
    assert_eq!(r.summary.hosts_with_chain_conflicts, 1);
    assert_eq!(r.summary.signatures_failed, 0);
    assert_eq!(r.controls.len(), 93);
    assert_eq!(
        r.summary.controls_assessed,
        catalog.assessed_controls().count()
    );
    assert_eq!(r.summary.controls_assessed, 18);
    let gap = &r.hosts[1];
    assert_eq!(gap.evidence.as_ref().unwrap().seq, 4);
    assert_eq!(gap.chain.missing, 1);
    let forked = &r.hosts[2];
    assert!(forked.chain.events.iter().any(|e| e.kind == "fork"));
    assert!(
        forked.results.iter().all(|x| x.state != State::Satisfied),
        "a fork withdraws satisfied"
    );
    // The waiver shows as waived with the state underneath, never hidden.
    let lock_waived = r
        .hosts
        .iter()
        .flat_map(|h| &h.results)
        .filter(|x| x.check == "system.screen_lock" && x.state == State::Waived)
        .count();
    let w = r.waivers.iter().find(|w| w.id == "wvr_lock").unwrap();
    assert_eq!(w.status, "active");
    assert!(w.applied >= 1);
    assert!(lock_waived >= 1);
    assert_eq!(
        r.waivers.iter().find(|w| w.id == "wvr_old").unwrap().status,
        "expired"
    );
    // Evidence excerpts come from the envelopes, for results that did not pass.
    let failing = r
        .hosts
        .iter()
        .flat_map(|h| &h.results)
        .find(|x| x.status == Some("fail"))
        .unwrap();
    assert!(!failing.evidence.is_empty());
    assert!(
        r.hosts[0].hardware.vendor.is_some(),
        "hardware from inventory.host"
    );

    // JSON is the model.
    let json = render_to_string(Format::Json, &r, &catalog, when);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["schema"], "attest.fleet-report/v1");
    assert_eq!(v["hosts"].as_array().unwrap().len(), 6);
    assert_eq!(v["scope"]["as_of"], "2026-11-25T00:00:00Z");

    // CSV: one row per host × check (every check of the catalogue).
    let csv = render_to_string(Format::Csv, &r, &catalog, when);
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1 + 6 * checks());
    assert!(lines[0].starts_with("agent_id,hostname,check,controls,status,state"));
    assert!(
        lines
            .iter()
            .any(|l| l.contains(",system.screen_lock,7.7 8.1,") && l.contains(",waived,")),
        "{}",
        lines[1]
    );

    // HTML: self-contained, every section.
    let html = render_to_string(Format::Html, &r, &catalog, when);
    for needle in [
        "Scope and method",
        "Statement of applicability",
        "Not assessed by Attest",
        "8.24 Use of cryptography",
        "Report id",
        "Contents",
        "Appendix A. Asset inventory (5.9)",
        "Appendix B. Waivers",
        "wvr_lock",
        "Appendix C. Evidence chain integrity",
        "How to verify this report",
        "@page",
        "<svg",
    ] {
        assert!(html.contains(needle), "the HTML lacks {needle:?}");
    }
    for external in [
        "<script",
        "src=\"http",
        "href=\"http",
        "url(http",
        "@import",
    ] {
        assert!(
            !html.contains(external),
            "the HTML makes a request: {external}"
        );
    }

    // OSCAL validates against NIST's schema.
    let oscal = render_to_string(Format::Oscal, &r, &catalog, when);
    let doc: serde_json::Value = serde_json::from_str(&oscal).unwrap();
    let errors = oscal_errors(&doc);
    assert!(errors.is_empty(), "{errors:#?}");
    let result = &doc["assessment-results"]["results"][0];
    let controls: Vec<&str> =
        result["reviewed-controls"]["control-selections"][0]["include-controls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["control-id"].as_str().unwrap())
            .collect();
    assert!(controls.contains(&"a.8.24"));
    assert!(controls.iter().all(|c| c.starts_with("a.")));
    // The validator does catch what is wrong: a control id starting with a digit.
    let mut broken = doc.clone();
    broken["assessment-results"]["results"][0]["reviewed-controls"]["control-selections"][0]["include-controls"]
        [0]["control-id"] = serde_json::json!("8.24");
    assert!(!oscal_errors(&broken).is_empty());
    // Observations per result (5 hosts with reports × every check), findings per
    // control.
    assert_eq!(
        result["observations"].as_array().unwrap().len(),
        5 * checks()
    );
    assert_eq!(
        result["findings"].as_array().unwrap().len(),
        r.summary.controls_assessed
    );
    stores.store.close().await;
}

#[tokio::test]
async fn as_of_shows_the_past_after_newer_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (stores, catalog) = fleet(dir.path()).await;
    let past = report_of(&stores, &catalog, When::AsOf(T0 - 24 * HOUR)).await;
    let now = report_of(&stores, &catalog, When::AsOf(T0)).await;
    assert_eq!(past.hosts[0].evidence.as_ref().unwrap().seq, 1);
    assert_eq!(now.hosts[0].evidence.as_ref().unwrap().seq, 2);
    // Before the fork was recorded, host 2's chain was intact.
    assert!(past.hosts[2].chain.events.is_empty());
    // The expired waiver of 8.8 still applied 24 hours earlier? It expired at T0-50h: no.
    assert_eq!(
        past.waivers
            .iter()
            .find(|w| w.id == "wvr_old")
            .unwrap()
            .status,
        "expired"
    );
    let older = report_of(&stores, &catalog, When::AsOf(T0 - 60 * HOUR)).await;
    assert_eq!(
        older
            .waivers
            .iter()
            .find(|w| w.id == "wvr_old")
            .unwrap()
            .status,
        "active"
    );
    // 60 hours back, hosts 0–3 had no report yet.
    assert!(older.hosts[0].evidence.is_none());
    stores.store.close().await;
}

#[tokio::test]
async fn a_period_report_validates_and_shows_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (stores, catalog) = fleet(dir.path()).await;
    let when = When::Period {
        from: T0 - 72 * HOUR,
        to: T0,
    };
    let r = report_of(&stores, &catalog, when).await;
    let p = r.period.as_ref().unwrap();
    assert_eq!(p.days.len(), 4);
    assert!(!p.changes.is_empty());
    // Hosts 0–3 got their first report 48 hours before T0.
    assert!(
        p.changes
            .iter()
            .any(|c| c.agent_id == r.hosts[0].agent_id && c.from == Some(State::NotAssessed))
    );
    let html = render_to_string(Format::Html, &r, &catalog, when);
    assert!(html.contains("4. Over the period"));
    assert!(html.contains("Changes of state"));
    let oscal = render_to_string(Format::Oscal, &r, &catalog, when);
    let doc: serde_json::Value = serde_json::from_str(&oscal).unwrap();
    let errors = oscal_errors(&doc);
    assert!(errors.is_empty(), "{errors:#?}");
    stores.store.close().await;
}

#[tokio::test]
async fn an_empty_collector_still_makes_valid_reports() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let stores = open(&url, 2).await.unwrap();
    let catalog = Catalog::builtin().unwrap();
    let when = When::AsOf(T0);
    let r = report_of(&stores, &catalog, when).await;
    assert_eq!(r.summary.hosts_in_scope, 0);
    let oscal = render_to_string(Format::Oscal, &r, &catalog, when);
    let errors = oscal_errors(&serde_json::from_str(&oscal).unwrap());
    assert!(errors.is_empty(), "{errors:#?}");
    let html = render_to_string(Format::Html, &r, &catalog, when);
    assert!(html.contains("No host in scope."));
    assert!(!html.contains("Hosts that satisfy"));
    stores.store.close().await;
}

/// The HTML section of one control.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"control-{id}\""))
        .unwrap_or_else(|| panic!("no section for {id}"));
    let rest = &html[start..];
    let end = rest[1..]
        .find("<div class=\"control\"")
        .map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

#[tokio::test]
async fn the_html_report_answers_an_auditor() {
    let dir = tempfile::tempdir().unwrap();
    let (stores, catalog) = fleet(dir.path()).await;
    let when = When::AsOf(T0);
    let mut opts = options(when);
    opts.organization = Some("Example & Co".into());
    let g = gather(&stores, &catalog, &opts, &Progress::quiet())
        .await
        .unwrap();
    let r = build(&catalog, &g, &opts, &|_| {});
    let mut out = Vec::new();
    super::render(Format::Html, &r, &catalog, &opts, &mut out).unwrap();
    let html = String::from_utf8(out).unwrap();
    assert!(html.contains("Example &#38; Co") || html.contains("Example &amp; Co"));
    assert!(html.contains(&r.report_id));
    // One way of writing times: no RFC 3339 `T…Z` text outside the machine-readable
    // parts (ids and digests have no `T`).
    assert!(html.contains(&html::human_time(&r.generated_at)));
    assert!(!html.contains(&r.generated_at));
    let mut satisfied_seen = 0;
    let mut na_seen = 0;
    for c in r.controls.iter().filter(|c| c.assessed) {
        let counts = c.counts.unwrap();
        let verdict = c.verdict.unwrap();
        // A waived host never leaves its control badged satisfied.
        if counts.waived > 0 {
            assert_ne!(verdict, State::Satisfied, "{}", c.id);
        }
        let sec = section(&html, &c.id);
        let h3 = &sec[..sec.find("</h3>").unwrap()];
        assert!(
            h3.contains(&format!("\">{}</span>", verdict.label())),
            "{}: {h3}",
            c.id
        );
        let ok_hosts: Vec<&model::HostEntry> = r
            .hosts
            .iter()
            .filter(|h| {
                h.controls
                    .iter()
                    .any(|hc| hc.control == c.id && hc.state == State::Satisfied)
            })
            .collect();
        if ok_hosts.is_empty() {
            assert!(!sec.contains("Hosts that satisfy"), "{}", c.id);
            continue;
        }
        satisfied_seen += 1;
        // Every satisfied host is named with the results that decide it: status,
        // source and SHA-256, and the signed report.
        assert!(sec.contains(&format!("Hosts that satisfy {}, and the evidence", c.id)));
        for h in &ok_hosts {
            assert!(sec.contains(&format!("<b>{}</b>", h.hostname)), "{}", c.id);
            let ev = h.evidence.as_ref().unwrap();
            assert!(sec.contains(&ev.payload_sha256), "{} {}", c.id, h.hostname);
            for res in h
                .results
                .iter()
                .filter(|x| c.checks.iter().any(|k| k.check == x.check))
            {
                for e in &res.evidence {
                    assert!(
                        sec.contains(&e.sha256),
                        "{} {} {}",
                        c.id,
                        h.hostname,
                        res.check
                    );
                }
            }
        }
        // Hosts satisfied only because a check does not apply are said to be.
        let na = ok_hosts
            .iter()
            .filter(|h| {
                h.results.iter().any(|x| {
                    x.status == Some("not_applicable")
                        && c.checks.iter().any(|k| k.check == x.check)
                })
            })
            .count();
        if na > 0 {
            na_seen += 1;
            assert!(
                sec.contains("because a check does not apply there"),
                "{}",
                c.id
            );
            assert!(sec.contains("<b>not applicable</b>"), "{}", c.id);
        } else {
            assert!(
                !sec.contains("because a check does not apply there"),
                "{}",
                c.id
            );
        }
    }
    assert!(
        satisfied_seen > 0 && na_seen > 0,
        "the fleet exercises both"
    );
    // Plurals.
    assert!(!html.contains(" 1 hosts"));
    // Long excerpts are capped in HTML, and say where the rest is.
    let long = r
        .hosts
        .iter()
        .flat_map(|h| &h.results)
        .flat_map(|x| &x.evidence)
        .any(|e| e.excerpt.lines().count() > html::EXCERPT_LINES);
    if long {
        assert!(html.contains("(cut: the JSON report and the evidence bundle have it whole)"));
    }
    stores.store.close().await;
}

/// Runs SQL on the fleet's database file directly, as someone with write access to
/// the database (and not to the agents' keys) could; returns the rows changed.
async fn tamper(dir: &std::path::Path, sql: &str, blob: Option<Vec<u8>>) -> u64 {
    let url = format!("sqlite://{}", dir.join("collector.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let mut q = sqlx::query(sql);
    if let Some(b) = blob {
        q = q.bind(b);
    }
    let n = q.execute(&pool).await.unwrap().rows_affected();
    pool.close().await;
    n
}

fn results_of(h: &model::HostEntry) -> Vec<(String, Option<&'static str>, Option<String>)> {
    h.results
        .iter()
        .map(|r| (r.check.clone(), r.status, r.summary.clone()))
        .collect()
}

/// The results of a report whose envelope verifies are those of the signed payload:
/// rewriting the stored result (change) rows changes nothing in the report.
#[tokio::test]
async fn a_tampered_results_table_does_not_change_a_verified_report() {
    let dir = tempfile::tempdir().unwrap();
    let (stores, catalog) = fleet(dir.path()).await;
    let before = report_of(&stores, &catalog, When::AsOf(T0)).await;
    // A host with fresh evidence and a failure to forge into a pass.
    let i = before
        .hosts
        .iter()
        .position(|h| h.freshness == "fresh" && h.results.iter().any(|r| r.status == Some("fail")))
        .unwrap();
    let host = &before.hosts[i];
    let index = host.evidence.as_ref().unwrap().log_index;
    let changed = tamper(
        dir.path(),
        &format!(
            // The change rows that give that report its results (store::changes).
            "UPDATE result_changes AS c SET status = 'pass', summary = 'forged' \
             FROM reports r WHERE r.log_index = {index} AND c.agent_id = r.agent_id \
             AND c.seq_from <= r.seq AND c.seq_to > r.seq AND c.position IS NOT NULL"
        ),
        None,
    )
    .await;
    assert_eq!(changed, checks() as u64);
    // The stored rows did change.
    let stored = stores.reports.latest_reports(T0).await.unwrap();
    let row = stored.iter().find(|r| r.log_index == index).unwrap();
    assert!(row.results.iter().all(|r| r.summary == "forged"));

    let after = report_of(&stores, &catalog, When::AsOf(T0)).await;
    assert_eq!(results_of(&after.hosts[i]), results_of(host));
    assert!(
        after.hosts[i]
            .evidence
            .as_ref()
            .unwrap()
            .signature
            .is_verified()
    );
    assert_eq!(after.summary.results, before.summary.results);
    stores.store.close().await;
}

/// An envelope altered in the database fails its signature in the report, which then
/// shows the stored result rows (and says the signature failed).
#[tokio::test]
async fn a_tampered_envelope_shows_a_failed_signature_and_the_stored_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (stores, catalog) = fleet(dir.path()).await;
    let before = report_of(&stores, &catalog, When::AsOf(T0)).await;
    let host = &before.hosts[0];
    let index = host.evidence.as_ref().unwrap().log_index;
    let env = stores.reports.envelopes(&[index]).await.unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&env[0].envelope).unwrap();
    let payload = v["payload"].as_str().unwrap().to_owned();
    // Change one base64 character in the middle of the payload.
    let mut chars: Vec<char> = payload.chars().collect();
    let mid = chars.len() / 2;
    chars[mid] = if chars[mid] == 'A' { 'B' } else { 'A' };
    v["payload"] = serde_json::Value::String(chars.into_iter().collect());
    let changed = tamper(
        dir.path(),
        // Stored whole (`raw`), as one who rewrites the row would store it.
        &format!("UPDATE reports SET envelope = ?, codec = 'raw' WHERE log_index = {index}"),
        Some(serde_json::to_vec(&v).unwrap()),
    )
    .await;
    assert_eq!(changed, 1);

    let after = report_of(&stores, &catalog, When::AsOf(T0)).await;
    let sig = &after.hosts[0].evidence.as_ref().unwrap().signature;
    assert_eq!(sig.text(), "FAILED: the signature does not verify");
    assert_eq!(after.summary.signatures_failed, 1);
    assert_eq!(results_of(&after.hosts[0]), results_of(host));
    let csv = render_to_string(Format::Csv, &after, &catalog, When::AsOf(T0));
    assert!(csv.contains("FAILED: the signature does not verify"));
    stores.store.close().await;
}

/// Each finding cites observations of the document, each observation is cited by the
/// finding of every control its check is evidence for, and ids are unique.
#[tokio::test]
async fn oscal_findings_cite_the_observations_of_their_checks() {
    let dir = tempfile::tempdir().unwrap();
    let (stores, catalog) = fleet(dir.path()).await;
    let when = When::AsOf(T0);
    let r = report_of(&stores, &catalog, when).await;
    let oscal = render_to_string(Format::Oscal, &r, &catalog, when);
    let doc: serde_json::Value = serde_json::from_str(&oscal).unwrap();
    let result = &doc["assessment-results"]["results"][0];
    let observations: std::collections::HashMap<&str, &str> = result["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let check = o["props"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == "check")
                .unwrap()["value"]
                .as_str()
                .unwrap();
            (o["uuid"].as_str().unwrap(), check)
        })
        .collect();
    assert_eq!(
        observations.len(),
        5 * checks(),
        "observation ids are unique"
    );
    let mut cited = 0;
    for f in result["findings"].as_array().unwrap() {
        let control = f["title"].as_str().unwrap().split(' ').next().unwrap();
        let checks: Vec<&str> = catalog.checks_of_control(control).collect();
        let related = f["related-observations"].as_array().unwrap();
        // Hosts with reports × the control's checks.
        assert_eq!(related.len(), 5 * checks.len(), "{control}");
        for o in related {
            let id = o["observation-uuid"].as_str().unwrap();
            let check = observations.get(id).expect("cites an observation");
            assert!(checks.contains(check), "{control} cites {check}");
            cited += 1;
        }
    }
    assert!(cited > observations.len());
    stores.store.close().await;
}

/// Past a few dozen hosts the writers render chunks of hosts on all cores: the
/// documents are complete, valid and in host order, and the JSON text is the model.
#[tokio::test]
async fn large_fleets_render_in_order_on_all_cores() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("collector.db").display());
    let stores = open(&url, 4).await.unwrap();
    let catalog = Catalog::builtin().unwrap();
    let n = 300;
    let mut agents = enroll(stores.store.as_ref(), 11, n, T0 - 24 * HOUR)
        .await
        .unwrap();
    report_round(
        stores.store.as_ref(),
        &catalog,
        &mut agents,
        11,
        0,
        T0 - HOUR,
        T0 - HOUR + 1000,
    )
    .await
    .unwrap();
    let when = When::AsOf(T0);
    let r = report_of(&stores, &catalog, when).await;
    let n = usize::try_from(n).unwrap();
    assert_eq!(r.hosts.len(), n);
    let ids: Vec<&str> = r.hosts.iter().map(|h| h.agent_id.as_str()).collect();

    let json = render_to_string(Format::Json, &r, &catalog, when);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let hosts = v["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), n);
    for (got, h) in hosts.iter().zip(&r.hosts) {
        assert_eq!(got, &serde_json::to_value(h).unwrap());
    }
    let json_ids: Vec<&str> = v["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["agent_id"].as_str().unwrap())
        .collect();
    assert_eq!(json_ids, ids);

    let csv = render_to_string(Format::Csv, &r, &catalog, when);
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1 + n * checks());
    let csv_ids: Vec<&str> = lines[1..]
        .iter()
        .step_by(checks())
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(csv_ids, ids);

    let oscal = render_to_string(Format::Oscal, &r, &catalog, when);
    let doc: serde_json::Value = serde_json::from_str(&oscal).unwrap();
    let result = &doc["assessment-results"]["results"][0];
    let observations = result["observations"].as_array().unwrap();
    assert_eq!(observations.len(), n * checks());
    let hostnames: Vec<&str> = r.hosts.iter().map(|h| h.hostname.as_str()).collect();
    let oscal_hosts: Vec<&str> = observations
        .iter()
        .step_by(checks())
        .map(|o| {
            let title = o["title"].as_str().unwrap();
            title
                .split(" on ")
                .nth(1)
                .unwrap()
                .split(':')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(oscal_hosts, hostnames);
    stores.store.close().await;
}
