//! Mapping rules end to end: reports stored as signed envelopes, the facts a rule reads
//! taken from them (at a time and over a period), and every format showing how a rule
//! made a result count for a control, with its rationale.

use attest_proto::{Report, Status};

use super::v2_tests::{render_all, report_of, store};
use super::*;
use crate::catalog::Catalog;
use crate::catalog::mapping::from_text;
use crate::evaluate::State;
use crate::store::reporting::open;
use crate::testkit::{SimAgent, enroll_hosts, sim_mac, sim_report};

const T0: Millis = 1_795_564_800_000;
const HOUR: Millis = 3_600_000;

/// Every result passes; `malware.protection` with `facts.basis = basis`.
fn mac(catalog: &Catalog, a: &SimAgent, round: u64, at: Millis, basis: &str) -> Report {
    let when = chrono::DateTime::from_timestamp_millis(at).unwrap();
    let mut r = sim_report(catalog, a, 31, round, when);
    for res in &mut r.results {
        res.status = Status::Pass;
        res.reason = None;
        if res.check == "malware.protection" {
            res.summary = "XProtect is on and its data is current".into();
            res.facts.insert("basis".into(), serde_json::json!(basis));
        }
    }
    r
}

/// Host 0: XProtect only; host 1: an EDR product. One report each, 2 hours before T0.
async fn fleet(dir: &std::path::Path) -> (Stores, Catalog, Vec<SimAgent>) {
    let url = format!("sqlite://{}", dir.join("collector.db").display());
    let stores = open(&url, 4).await.unwrap();
    let catalog = Catalog::builtin().unwrap();
    let mut agents = enroll_hosts(stores.store.as_ref(), 31, 2, T0 - 48 * HOUR, sim_mac)
        .await
        .unwrap();
    for (i, basis) in [(0, "xprotect"), (1, "edr")] {
        let r = mac(&catalog, &agents[i], 0, T0 - 2 * HOUR, basis);
        store(&stores, &mut agents[i], r, T0 - 2 * HOUR + 1000).await;
    }
    (stores, catalog, agents)
}

fn state_of(h: &model::HostEntry, control: &str) -> State {
    h.controls
        .iter()
        .find(|c| c.control == control)
        .unwrap()
        .state
}

const PERIOD: When = When::Period {
    from: T0 - 24 * HOUR,
    to: T0,
};

#[tokio::test]
async fn an_xprotect_only_mac_does_not_satisfy_8_7_in_any_format() {
    let dir = tempfile::tempdir().unwrap();
    let (stores, catalog, agents) = fleet(dir.path()).await;
    let xprotect = agents[0].agent_id.as_str();
    for when in [When::AsOf(T0), PERIOD] {
        let r = report_of(&stores, &catalog, when).await;
        let h0 = r.hosts.iter().find(|h| h.agent_id == xprotect).unwrap();
        let h1 = r.hosts.iter().find(|h| h.agent_id != xprotect).unwrap();
        assert_eq!(state_of(h0, "8.7"), State::NotSatisfied, "{when:?}");
        assert_eq!(state_of(h1, "8.7"), State::Satisfied, "{when:?}");
        let res = h0
            .results
            .iter()
            .find(|x| x.check == "malware.protection")
            .unwrap();
        // The check passed; for 8.7 it counts as not satisfied, and says why.
        assert_eq!((res.status, res.state), (Some("pass"), State::Satisfied));
        assert_eq!(res.counted.len(), 1);
        assert_eq!(res.counted[0].control, "8.7");
        assert_eq!(res.counted[0].state, State::NotSatisfied);
        let note = &res.counted[0].note;
        assert!(note.contains("built-in mapping rule"), "{note}");
        let c87 = r.controls.iter().find(|c| c.id == "8.7").unwrap();
        assert_eq!(c87.verdict, Some(State::NotSatisfied));
        let link = c87
            .checks
            .iter()
            .find(|k| k.check == "malware.protection")
            .unwrap();
        assert_eq!(link.rules.len(), 1);

        for (format, text) in render_all(&r, &catalog, when) {
            assert!(
                text.contains("XProtect alone is signature scanning"),
                "{format:?} does not give the rationale"
            );
            match format {
                Format::Json => {
                    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
                    let host = doc["hosts"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|h| h["agent_id"] == xprotect)
                        .unwrap();
                    let c = host["controls"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|c| c["control"] == "8.7")
                        .unwrap();
                    assert_eq!(c["state"], "not_satisfied");
                    assert!(
                        c["rules"][0]
                            .as_str()
                            .unwrap()
                            .starts_with("malware.protection: counts as not satisfied for 8.7")
                    );
                    let links = &doc["controls"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|c| c["id"] == "8.7")
                        .unwrap()["checks"];
                    let rule = &links
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|k| k["check"] == "malware.protection")
                        .unwrap()["rules"][0];
                    assert_eq!(rule["fact"], "basis");
                    assert_eq!(rule["equals"], "xprotect");
                    assert_eq!(rule["counts_as"], "not_satisfied");
                    assert_eq!(rule["origin"], "built-in");
                }
                Format::Html => {
                    assert!(text.contains("Mapping rule (built-in): pass with facts.basis"));
                    assert!(text.contains("Mapping rule: counts as not satisfied for 8.7"));
                }
                Format::Csv => {
                    let header = text.lines().next().unwrap();
                    assert!(header.ends_with(",sources,mapping_rules"), "{header}");
                    let row = text
                        .split("\r\n")
                        .find(|l| l.starts_with(xprotect) && l.contains(",malware.protection,"))
                        .unwrap();
                    assert!(row.contains("counts as not satisfied for 8.7"), "{row}");
                }
                Format::Oscal => {
                    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
                    let errors = super::tests::oscal_errors(&doc);
                    assert!(errors.is_empty(), "{errors:#?}");
                    let result = &doc["assessment-results"]["results"][0];
                    let props: Vec<&serde_json::Value> = result["observations"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .flat_map(|o| o["props"].as_array().unwrap())
                        .filter(|p| p["name"] == "counts-as")
                        .collect();
                    assert_eq!(props.len(), 1, "{props:?}");
                    assert_eq!(props[0]["value"], "8.7:not_satisfied");
                    let finding = result["findings"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|f| f["target"]["target-id"] == "a.8.7_obj")
                        .unwrap();
                    assert!(
                        finding["description"]
                            .as_str()
                            .unwrap()
                            .contains("Mapping rule (built-in): malware.protection pass"),
                        "{finding}"
                    );
                }
            }
        }
        if let Some(p) = &r.period {
            // The period's daily counts read the facts from the envelopes too.
            let last = p.days.last().unwrap();
            let k = last.controls.iter().find(|c| c.control == "8.7").unwrap();
            assert_eq!((k.counts.satisfied, k.counts.not_satisfied), (1, 1));
        }
    }
}

/// A mapping file that accepts XProtect (and changes the other defaults): both hosts
/// satisfy 8.7, at a time and over
/// the period, and the reports name the file's rule.
#[tokio::test]
async fn an_overriding_mapping_counts_xprotect_as_satisfied() {
    let dir = tempfile::tempdir().unwrap();
    let (stores, _, _) = fleet(dir.path()).await;
    let catalog = from_text(
        "flipped.toml",
        include_str!("../../testdata/mapping-macos-flipped.toml"),
    )
    .unwrap();
    for when in [When::AsOf(T0), PERIOD] {
        let r = report_of(&stores, &catalog, when).await;
        assert!(
            r.hosts
                .iter()
                .all(|h| state_of(h, "8.7") == State::Satisfied)
        );
        let c87 = r.controls.iter().find(|c| c.id == "8.7").unwrap();
        assert_eq!(c87.verdict, Some(State::Satisfied));
        let [_, (_, html), ..] = render_all(&r, &catalog, when);
        assert!(html.contains("Mapping rule (flipped.toml)"));
        assert!(html.contains("Our risk assessment accepts XProtect on Macs."));
        if let Some(p) = &r.period {
            let last = p.days.last().unwrap();
            let k = last.controls.iter().find(|c| c.control == "8.7").unwrap();
            assert_eq!((k.counts.satisfied, k.counts.not_satisfied), (2, 0));
        }
    }
}
