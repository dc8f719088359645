//! Today's binaries on a copy of a data directory written by the previous release's
//! own binaries (`tests/fixtures/databases/`, commit `a787b93`, schema 4): `fsck` is
//! clean and `report --format json` shows what the old collector signed and the agent
//! last sent; `serve` upgrades it in place and the enrolled agent's next report (its
//! old state directory, today's `attest-agent`) continues the chain.

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::collector::Collector;
use crate::support::{bin, hosts_dir};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/databases")
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Copies `from` into `to` (made 0700), every file 0600: git keeps no modes, and the
/// collector and the agent refuse keys others may read.
fn copy_private(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_private(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
}

fn collector(data: &Path, args: &[&str]) -> Output {
    Command::new(bin("attest-collector"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

/// `report --format json` of the data directory.
fn fleet_report(dir: &Path, data: &Path, name: &str) -> serde_json::Value {
    let out_path = dir.join(name);
    ok(&collector(
        data,
        &[
            "report",
            "--format",
            "json",
            "--out",
            out_path.to_str().unwrap(),
        ],
    ));
    read_json(&out_path)
}

/// The fleet report's entry of host `agent_id`.
fn host<'a>(report: &'a serde_json::Value, agent_id: &str) -> &'a serde_json::Value {
    report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["agent_id"] == agent_id)
        .unwrap_or_else(|| panic!("no host {agent_id} in {}", report["hosts"]))
}

#[test]
fn a_data_directory_of_the_previous_release_is_upgraded_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_private(&fixtures().join("sqlite-data"), &data);
    let mut db = Vec::new();
    flate2::read::GzDecoder::new(
        &std::fs::read(fixtures().join("collector-v4.db.gz")).unwrap()[..],
    )
    .read_to_end(&mut db)
    .unwrap();
    let db_path = data.join("collector.db");
    std::fs::write(&db_path, db).unwrap();
    std::fs::set_permissions(&db_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    // What the old collector signed and the old agent kept.
    let checkpoint = read_json(&fixtures().join("sqlite-checkpoint.txt"));
    let fixture_agent = fixtures().join("sqlite-agent");
    let enrollment = read_json(&fixture_agent.join("enrollment.json"));
    let chain = read_json(&fixture_agent.join("chain.json"));
    let agent_id = enrollment["agent_id"].as_str().unwrap().to_owned();
    let next_seq = chain["next_seq"].as_u64().unwrap();
    let last_sha = chain["prev"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap()
        .to_owned();
    let old_size = checkpoint["tree_size"].as_u64().unwrap();
    assert_eq!(old_size, 11);

    // fsck on the copy (the upgrade runs as it opens): every report, no problem.
    let told = ok(&collector(&data, &["fsck"]));
    assert!(
        told.contains(&format!("{old_size} reports, log of {old_size} leaves")),
        "{told}"
    );
    assert!(told.contains("no problems found"), "{told}");

    // The report: the log the old collector signed, the agent's last report as its
    // evidence, the gap it left, the waiver.
    let report = fleet_report(tmp.path(), &data, "before.json");
    assert_eq!(report["scope"]["log"]["tree_size"], old_size);
    assert_eq!(
        report["scope"]["log"]["root_hash"], checkpoint["root_hash"],
        "{}",
        report["scope"]["log"]
    );
    assert_eq!(report["summary"]["hosts_in_scope"], 3);
    assert_eq!(report["summary"]["hosts_with_chain_gaps"], 1);
    let evidence = &host(&report, &agent_id)["evidence"];
    assert_eq!(evidence["seq"], next_seq - 1, "{evidence}");
    assert_eq!(evidence["payload_sha256"], last_sha.as_str(), "{evidence}");
    let waivers = report["waivers"].as_array().unwrap();
    assert_eq!(waivers.len(), 1, "{waivers:?}");
    assert_eq!(waivers[0]["scope"]["id"], "system.screen_lock");
    assert_eq!(waivers[0]["hosts"], serde_json::json!(["nb-alice"]));

    // Served, the certificate the agent pinned is the old one; the agent's next report
    // (its old state, today's agent) is delivered and continues the chain.
    let mut served = Collector::start(&data);
    assert_eq!(
        served.fingerprint,
        enrollment["trust"]["pin"].as_str().unwrap()
    );
    let agent_dir = tmp.path().join("agent");
    let state = agent_dir.join("state");
    copy_private(&fixture_agent, &state);
    let config = agent_dir.join("agent.toml");
    std::fs::write(
        &config,
        format!("version = 1\nserver = \"https://{}\"\n", served.addr),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = Command::new(bin("attest-agent"))
        .args(["run", "--once", "--root"])
        .arg(hosts_dir().join("debian12-laptop"))
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(&state)
        .output()
        .unwrap();
    let told = ok(&out);
    assert!(
        told.contains(&format!("collected report seq {next_seq}")),
        "{told}"
    );
    assert!(
        told.contains("delivered 1, quarantined 0, waiting in the spool 0"),
        "{told}"
    );
    assert!(served.stop().success(), "{}", served.log_text());

    let told = ok(&collector(&data, &["fsck"]));
    let size = old_size + 1;
    assert!(
        told.contains(&format!("{size} reports, log of {size} leaves")),
        "{told}"
    );
    assert!(told.contains("no problems found"), "{told}");
    let report = fleet_report(tmp.path(), &data, "after.json");
    assert_eq!(report["scope"]["log"]["tree_size"], size);
    let evidence = &host(&report, &agent_id)["evidence"];
    assert_eq!(evidence["seq"], next_seq, "{evidence}");
    assert_eq!(evidence["log_index"], old_size, "{evidence}");
}
