//! Evidence bundles: one verifies; any altered byte, removed file or swapped pair of
//! envelopes fails verification and names the file.

use super::bundle::export;
use super::tests::fleet;
use super::verify::{Outcome, Trust, read_entries, verify_bytes, write_entries};
use super::*;
use crate::evaluate::DEFAULT_WINDOW_MS;
use crate::testkit::Pending as _;

const T0: Millis = 1_795_564_800_000;
const HOUR: Millis = 3_600_000;

async fn bundle(when: When) -> (Vec<u8>, attest_proto::SigningKey) {
    let dir = tempfile::tempdir().unwrap();
    let (stores, catalog) = fleet(dir.path()).await;
    let key = attest_proto::SigningKey::from_bytes(&[42; 32]);
    let opts = Options {
        when,
        window: DEFAULT_WINDOW_MS,
        generated_at: T0 + 60_000,
        html_host_limit: 100,
        organization: None,
    };
    let path = dir.path().join("evidence.tar.gz");
    let summary = export(&stores, &catalog, &opts, &key, &path, &Progress::quiet())
        .await
        .unwrap();
    assert!(summary.envelopes >= 5);
    stores.store.close().await;
    (std::fs::read(&path).unwrap(), key)
}

fn named(bytes: &[u8]) -> Vec<String> {
    let v = verify_bytes(bytes, &Trust::default()).unwrap();
    assert!(!v.ok(), "an altered bundle verified");
    assert_eq!(v.outcome(), Outcome::Failed);
    v.files_named().into_iter().map(str::to_owned).collect()
}

#[tokio::test]
async fn a_bundle_verifies_and_every_alteration_is_named() {
    let (bytes, key) = bundle(When::AsOf(T0)).await;
    let v = verify_bytes(&bytes, &Trust::key(&key.verifying_key())).unwrap();
    assert!(v.ok(), "{}", v.text());
    assert_eq!(v.outcome(), Outcome::Verified);
    assert_eq!(v.envelopes, 5);
    assert_eq!(v.agents, 5);
    assert!(v.text().starts_with("VERIFIED: "), "{}", v.text());
    let entries = read_entries(&bytes).unwrap();
    let paths: Vec<&str> = entries.iter().map(|(p, _)| p.as_str()).collect();
    for needed in [
        "README.txt",
        "collector.pub",
        "checkpoint.json",
        "proofs.json",
        "report.json",
        "report.html",
        "manifest.json",
        "manifest.sig",
    ] {
        assert!(paths.contains(&needed), "{needed} missing from {paths:?}");
    }
    assert_eq!(paths.iter().filter(|p| p.starts_with("keys/")).count(), 5);

    // Another collector's key: refused.
    let other = attest_proto::SigningKey::from_bytes(&[43; 32]);
    let v = verify_bytes(&bytes, &Trust::key(&other.verifying_key())).unwrap();
    assert_eq!(v.outcome(), Outcome::Failed);
    assert!(v.text().contains("not by the key given"), "{}", v.text());

    // Flip bytes of every file at spread positions: verify fails and names that file.
    for (i, (path, data)) in entries.iter().enumerate() {
        let n = data.len();
        let mut positions: Vec<usize> = (0..12).map(|k| k * n / 12).collect();
        positions.push(n - 1);
        positions.dedup();
        for at in positions {
            let mut altered = entries.clone();
            altered[i].1[at] ^= 0x01;
            let files = named(&write_entries(&altered).unwrap());
            assert!(
                files.contains(path),
                "flipping byte {at} of {path} was blamed on {files:?}"
            );
            if path == "manifest.json" || path == "manifest.sig" {
                assert_eq!(files, std::slice::from_ref(path), "byte {at}");
            }
        }
        // Removing it.
        let mut removed = entries.clone();
        removed.remove(i);
        let files = named(&write_entries(&removed).unwrap());
        assert!(
            files.contains(path),
            "removing {path} was blamed on {files:?}"
        );
    }

    // An added file.
    let mut added = entries.clone();
    added.push(("envelopes/extra/1.json".into(), b"{}".to_vec()));
    assert!(named(&write_entries(&added).unwrap()).contains(&"envelopes/extra/1.json".to_owned()));

    // Swapping two envelopes (their contents trade places).
    let envs: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, (p, _))| p.starts_with("envelopes/"))
        .map(|(i, _)| i)
        .collect();
    let (a, b) = (envs[0], envs[1]);
    let mut swapped = entries.clone();
    let tmp = swapped[a].1.clone();
    swapped[a].1 = swapped[b].1.clone();
    swapped[b].1 = tmp;
    let files = named(&write_entries(&swapped).unwrap());
    assert!(
        files.contains(&entries[a].0) && files.contains(&entries[b].0),
        "{files:?}"
    );
    let v = verify_bytes(&write_entries(&swapped).unwrap(), &Trust::default()).unwrap();
    assert!(v.text().contains("swapped or misplaced"), "{}", v.text());
}

#[tokio::test]
async fn a_period_bundle_holds_the_period_and_checks_chains() {
    let (bytes, _) = bundle(When::Period {
        from: T0 - 72 * HOUR,
        to: T0,
    })
    .await;
    // No key trusted: everything checks out, but it does not say VERIFIED.
    let v = verify_bytes(&bytes, &Trust::default()).unwrap();
    assert!(v.ok(), "{}", v.text());
    assert_eq!(v.outcome(), Outcome::Unpinned);
    assert!(v.text().starts_with("UNPINNED: "), "{}", v.text());
    // Hosts 0–3: seq 1 and 2 (host 1 also seq 4), host 4's one report is before the
    // period but is the state at its start.
    assert!(v.envelopes >= 9, "{}", v.envelopes);
    assert!(
        v.text().contains("seq 3..3 are not in the bundle"),
        "{}",
        v.text()
    );
}

#[tokio::test]
async fn files_out_of_export_order_are_held_and_checked() {
    let (bytes, key) = bundle(When::AsOf(T0)).await;
    let trust = Trust::key(&key.verifying_key());
    let mut entries = read_entries(&bytes).unwrap();
    // Reversed: the manifest first, envelopes before their keys, proofs and the report
    // before the envelopes, the checkpoint last.
    entries.reverse();
    let v = verify_bytes(&write_entries(&entries).unwrap(), &trust).unwrap();
    assert_eq!(v.outcome(), Outcome::Verified, "{}", v.text());
    assert_eq!((v.envelopes, v.agents), (5, 5));
    // And still every alteration is found: a flipped byte in an envelope read before
    // its key.
    let i = entries
        .iter()
        .position(|(p, _)| p.starts_with("envelopes/"))
        .unwrap();
    let at = entries[i].1.len() / 2;
    entries[i].1[at] ^= 1;
    let v = verify_bytes(&write_entries(&entries).unwrap(), &trust).unwrap();
    assert!(
        v.files_named().contains(entries[i].0.as_str()),
        "{}",
        v.text()
    );
    // With too little room to hold them, refused rather than held without bound.
    let tight = super::verify::Limits {
        max_pending: 1000,
        ..Default::default()
    };
    let e =
        super::verify::verify_reader(write_entries(&entries).unwrap().as_slice(), &trust, &tight)
            .unwrap_err();
    assert!(e.to_string().contains("more than 1000 bytes held"), "{e}");
}

/// A cited v3 report's inventory list travels in the bundle under its address; the
/// bundle verifies, and an altered or missing list fails verification and is named.
#[tokio::test]
async fn a_bundle_carries_the_inventory_lists_its_reports_name() {
    use attest_proto::inventory::{self, Package};
    use attest_proto::{CheckResult, Status};
    let dir = tempfile::tempdir().unwrap();
    let (stores, catalog) = super::tests::fleet(dir.path()).await;
    let s = stores.store.as_ref();
    let mut agents = crate::testkit::enroll(s, 77, 1, T0 - 30 * 24 * HOUR)
        .await
        .unwrap();
    let a = &mut agents[0];
    let at = chrono::DateTime::from_timestamp_millis(T0 - HOUR).unwrap();
    let mut report = crate::testkit::sim_report(&catalog, a, 77, 0, at);
    report
        .results
        .retain(|r| r.check != inventory::SOFTWARE_CHECK);
    let packages: Vec<Package> = (0..200)
        .map(|i| Package {
            name: format!("pkg-{i}"),
            version: "1.0".into(),
            architecture: "amd64".into(),
        })
        .collect();
    report.results.push(
        CheckResult::new(inventory::SOFTWARE_CHECK, Status::Info, "200 packages")
            .fact("count", 200)
            .fact(inventory::PACKAGES_FACT, &packages),
    );
    let (_, document) = inventory::split(&mut report).unwrap().unwrap();
    let address = inventory::address(&document);
    let json = a.sign_next(&mut report).unwrap();
    assert_eq!(report.schema, attest_proto::REPORT_SCHEMA_V3);
    s.put_inventory_list(&crate::store::NewInventoryList {
        address: address.clone(),
        agent_id: a.agent_id.clone(),
        document: document.clone(),
        received_at: T0 - HOUR,
    })
    .await
    .unwrap();
    let out = s
        .ingest_batch(&[a.pending(json).unwrap()], T0 - HOUR + 1000)
        .await
        .unwrap();
    assert!(
        matches!(out[0], crate::store::IngestOutcome::Stored(_)),
        "{out:?}"
    );

    let key = attest_proto::SigningKey::from_bytes(&[42; 32]);
    let opts = Options {
        when: When::AsOf(T0),
        window: DEFAULT_WINDOW_MS,
        generated_at: T0 + 60_000,
        html_host_limit: 100,
        organization: None,
    };
    let path = dir.path().join("evidence.tar.gz");
    export(&stores, &catalog, &opts, &key, &path, &Progress::quiet())
        .await
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let v = verify_bytes(&bytes, &Trust::key(&key.verifying_key())).unwrap();
    assert!(v.ok(), "{}", v.text());
    let entries = read_entries(&bytes).unwrap();
    let list_path = format!(
        "inventory-lists/{}.json",
        address.trim_start_matches("sha256:")
    );
    let i = entries.iter().position(|(p, _)| *p == list_path).unwrap();
    assert_eq!(entries[i].1, document);
    let envelope_path = format!("envelopes/{}/1.json", a.agent_id);
    assert!(entries.iter().any(|(p, _)| *p == envelope_path));

    // One package changed: the list no longer has the address the report signed.
    let mut altered = entries.clone();
    let text = String::from_utf8(altered[i].1.clone()).unwrap();
    altered[i].1 = text.replacen("\"1.0\"", "\"1.1\"", 1).into_bytes();
    let files = named(&write_entries(&altered).unwrap());
    assert!(files.contains(&list_path), "{files:?}");
    let v = verify_bytes(&write_entries(&altered).unwrap(), &Trust::default()).unwrap();
    assert!(
        v.text().contains("not the address its name gives"),
        "{}",
        v.text()
    );
    // Missing: the report that names it is blamed.
    let mut removed = entries.clone();
    removed.remove(i);
    let files = named(&write_entries(&removed).unwrap());
    assert!(files.contains(&envelope_path), "{files:?}");
    stores.store.close().await;
}
