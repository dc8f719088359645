//! Reports, waivers and evidence bundles with the real binaries: agents enroll and
//! deliver signed reports over HTTPS, then `waiver`, `report` (every format, `--as-of`),
//! `export` and `verify` (also of a tampered bundle) run as an admin would.

use std::process::{Command, Output};
use std::time::Duration;

use attest_collector::catalog::Catalog;
use attest_collector::report::verify::{read_entries, write_entries};
use attest_sim::fleetsim::{SimAgent, sim_report};

use crate::collector::{Collector, enroll, new_agent, post_report};
use crate::support::bin;

fn run(data_dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(bin("attest-collector"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_export_and_verify_over_real_ingest() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let collector = Collector::start(&data);
    let client = collector.client();
    let (token, _) = collector.token(&["--uses", "3"]);
    let catalog = Catalog::builtin().unwrap();

    // Three agents, two rounds of signed reports each, over HTTPS.
    let mut agents = Vec::new();
    for i in 0..3u64 {
        let mut a = new_agent(77, i);
        enroll(&client, &token, &mut a, i).await;
        agents.push(SimAgent {
            index: i,
            key: a.key.clone(),
            agent_id: a.agent_id.clone(),
            host: a.host.clone(),
            chain: a.chain.clone(),
        });
    }
    let round = |agents: &mut Vec<SimAgent>, r: u64| {
        let at = chrono::Utc::now() - chrono::Duration::minutes(10 - r as i64);
        let at = chrono::DateTime::from_timestamp(at.timestamp(), 0).unwrap();
        agents
            .iter_mut()
            .map(|a| {
                let mut report =
                    sim_report(catalog.checks().iter().map(|c| c.id.as_str()), a, 77, r, at);
                a.sign_next(&mut report).unwrap()
            })
            .collect::<Vec<_>>()
    };
    for env in round(&mut agents, 0) {
        assert_eq!(post_report(&client, env).await.status, 200);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let between = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for env in round(&mut agents, 1) {
        assert_eq!(post_report(&client, env).await.status, 200);
    }

    // A waiver, audited.
    let out = run(
        &data,
        &[
            "waiver",
            "add",
            "--check",
            "system.screen_lock",
            "--host",
            "host-000000",
            "--justification",
            "Rack server without a local display.",
            "--approver",
            "CISO",
            "--expires",
            "30d",
        ],
    );
    let waiver = ok(&out).trim().to_owned();
    assert!(waiver.starts_with("wvr_"), "{waiver}");
    assert!(ok(&run(&data, &["waiver", "list"])).contains(&waiver));
    let bad = run(
        &data,
        &[
            "waiver",
            "add",
            "--check",
            "system.nope",
            "--justification",
            "x",
            "--approver",
            "y",
            "--expires",
            "1d",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a check known"));

    // Every format.
    for format in ["html", "csv", "json", "oscal"] {
        let file = tmp.path().join(format!("report.{format}"));
        ok(&run(
            &data,
            &[
                "report",
                "--format",
                format,
                "--out",
                file.to_str().unwrap(),
            ],
        ));
        assert!(std::fs::metadata(&file).unwrap().len() > 1000, "{format}");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(json["summary"]["hosts_in_scope"], 3);
    assert_eq!(json["summary"]["hosts_fresh"], 3);
    assert!(
        json["hosts"].as_array().unwrap().iter().all(
            |h| h["evidence"]["seq"] == 2 && h["evidence"]["signature"]["status"] == "verified"
        )
    );
    let html = std::fs::read_to_string(tmp.path().join("report.html")).unwrap();
    assert!(html.contains("Statement of applicability") && html.contains(&waiver));

    // As of a time between the rounds: the first reports, though newer ones arrived.
    let past = tmp.path().join("past.json");
    ok(&run(
        &data,
        &[
            "report",
            "--format",
            "json",
            "--as-of",
            &between,
            "--out",
            past.to_str().unwrap(),
        ],
    ));
    let past: serde_json::Value = serde_json::from_slice(&std::fs::read(&past).unwrap()).unwrap();
    assert!(
        past["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["evidence"]["seq"] == 1)
    );

    // The bundle verifies offline, pinned to the collector key export printed.
    let bundle = tmp.path().join("evidence.tar.gz");
    let out = run(&data, &["export", "--out", bundle.to_str().unwrap()]);
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let key_id = stderr
        .split("--collector-key ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let verify = |path: &std::path::Path, key: &str| {
        Command::new(bin("attest-collector"))
            .args(["verify", path.to_str().unwrap(), "--collector-key", key])
            .output()
            .unwrap()
    };
    let out = verify(&bundle, &key_id);
    assert!(ok(&out).starts_with("VERIFIED: "), "{}", ok(&out));

    // One flipped byte in one envelope: FAILED, and the file is named.
    let mut entries = read_entries(&std::fs::read(&bundle).unwrap()).unwrap();
    let (path, data_bytes) = entries
        .iter_mut()
        .find(|(p, _)| p.starts_with("envelopes/"))
        .unwrap();
    let at = data_bytes.len() / 2;
    data_bytes[at] ^= 0x20;
    let path = path.clone();
    let tampered = tmp.path().join("tampered.tar.gz");
    std::fs::write(&tampered, write_entries(&entries).unwrap()).unwrap();
    let out = verify(&tampered, &key_id);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("FAILED: ") && text.contains(&path),
        "{text}"
    );
}

/// `attest-collector demo`: this machine enrolled and reporting over TLS, the HTML report
/// written, then serving until interrupted; a second run adds seq 2 of the same agent.
#[test]
fn the_demo_enrolls_this_machine_and_writes_the_report() {
    use std::io::{BufRead as _, BufReader};
    use std::process::Stdio;

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("demo");
    let mut addresses = Vec::new();
    let mut agent_ids = Vec::new();
    let mut passwords: Vec<String> = Vec::new();
    // A free port for the third run, which moves the demo (`--listen`).
    let moved = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    for (run, seq) in [(1, 1), (2, 2), (3, 1)] {
        let mut cmd = Command::new(bin("attest-collector"));
        cmd.arg("--data-dir").arg(&data).arg("demo");
        if run == 3 {
            cmd.args(["--listen", &moved]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = Vec::new();
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            let done = line.starts_with("Ctrl-C stops the collector");
            lines.push(line);
            if done {
                break;
            }
        }
        let text = lines.join("\n");
        assert!(
            text.contains("a collector is running on https://127.0.0.1:"),
            "{text}"
        );
        addresses.push(
            text.lines()
                .find_map(|l| l.strip_prefix("Attest demo: a collector is running on "))
                .unwrap()
                .to_owned(),
        );
        assert!(
            text.contains(&format!(": report seq {seq} delivered")),
            "{text}"
        );
        agent_ids.push(
            text.lines()
                .find_map(|l| l.strip_prefix("  this machine is agent "))
                .and_then(|rest| rest.split(':').next())
                .unwrap_or_else(|| panic!("no agent line: {text}"))
                .to_owned(),
        );
        // The next step sends a report as the same agent, from its state directory
        // inside the demo's data directory (never /var/lib/attest).
        assert!(
            text.contains(&format!(
                "run --once --state-dir {}",
                data.join("agent").display()
            )),
            "{text}"
        );
        // The dashboard's address and a new one-time password for `admin` each run.
        let port = addresses
            .last()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .to_owned();
        assert!(
            text.contains(&format!("The dashboard: https://localhost:{port}/ui/")),
            "{text}"
        );
        let password = text
            .lines()
            .find_map(|l| l.strip_prefix("  sign in as admin with the one-time password "))
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("no password line: {text}"))
            .to_owned();
        assert_eq!(password.chars().count(), 24, "{password}");
        assert!(!passwords.contains(&password), "the same password twice");
        passwords.push(password);
        let html = std::fs::read_to_string(data.join("report.html")).unwrap();
        assert!(html.contains("Statement of applicability"));
        // The fixture Mac beside this machine: delivered as its own agent, a replay,
        // shown in the report as such and never evidence.
        let mac_id = text
            .lines()
            .find_map(|l| l.strip_prefix("  the fixture Mac macos26-laptop is agent "))
            .and_then(|rest| rest.split(':').next())
            .unwrap_or_else(|| panic!("no fixture Mac line: {text}"));
        assert!(
            text.contains(&format!("{mac_id}: report seq {seq}, a replay")),
            "{text}"
        );
        assert!(text.contains("  2 hosts, "), "{text}");
        assert!(html.contains(mac_id), "the report does not show the Mac");
        assert!(
            html.contains(&format!(
                "{} (agent.replay), which {} never evidence",
                if run == 2 {
                    "2 replayed reports"
                } else {
                    // The third run's Mac is a new agent; the one it was is revoked.
                    "1 replayed report"
                },
                if run == 2 { "are" } else { "is" }
            )),
            "the report does not say the Mac's reports are replays"
        );
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(child.wait().unwrap().success());
    }
    // The second run listens where the first did: the agent it enrolled still reaches it.
    assert_eq!(addresses[0], addresses[1]);
    assert_eq!(agent_ids[0], agent_ids[1]);
    // The third moved: this machine enrolled again (a new agent, seq 1) and the agent it
    // was is revoked, so the report still counts 2 hosts (asserted above), not 3.
    assert_eq!(addresses[2], format!("https://{moved}"));
    assert_ne!(agent_ids[2], agent_ids[0]);
}

/// The report side reads what the agent writes: `inventory.host` and
/// `inventory.software` collected by the real agent from a host tree, signed, and read
/// back by the collector's envelope reader (the collector's own crate does not depend
/// on the agent's).
#[test]
fn hardware_is_read_from_what_the_agent_writes() {
    use attest_collector::catalog::FactWants;
    use attest_collector::fleet::HostRecord;
    use attest_collector::report::evidence::{Hardware, Signature, envelope_facts};
    use attest_proto::{Envelope, Report, SigningKey, Statement, sha256_hex};

    let root = tempfile::tempdir().unwrap();
    let put = |path: &str, text: &str| {
        let p = root.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    put("etc/hostname", "web-01\n");
    put(
        "etc/os-release",
        "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian 12\"\n",
    );
    put("sys/class/dmi/id/sys_vendor", "Dell Inc.\n");
    put("sys/class/dmi/id/product_name", "PowerEdge R650\n");
    put("sys/class/dmi/id/product_serial", "  7XK2Q93  \n");
    put("sys/class/dmi/id/bios_version", "1.9.2\n");
    put(
        "var/lib/dpkg/status",
        "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2\n\n\
         Package: zsh\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.9\n\n",
    );
    let out = Command::new(bin("attest-agent"))
        .arg("collect")
        .arg("--root")
        .arg(root.path())
        .args(["--format", "json", "--at", "2026-11-25T14:00:00Z"])
        .args(["--check", "inventory.host", "inventory.software"])
        .output()
        .unwrap();
    let mut report: Report = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(report.results.len(), 2, "{:?}", report.results);
    report.agent_id = "agt_1".into();
    report.seq = 1;
    report.prev = format!("sha256:{}", "0".repeat(64));
    let inventory = report
        .results
        .iter()
        .find(|r| r.check == "inventory.host")
        .unwrap();
    // The agent's shape: facts.hardware with its six DMI values, null when absent.
    assert_eq!(
        inventory.facts["hardware"]["version"],
        serde_json::Value::Null
    );
    let key = SigningKey::from_bytes(&[6; 32]);
    let bytes = Statement::for_report(report).to_bytes().unwrap();
    let sha = sha256_hex(&bytes);
    let env = Envelope::sign(&bytes, &key).to_json().unwrap();
    let host = HostRecord {
        agent_id: "agt_1".into(),
        keyid: attest_proto::keyid(&key.verifying_key()),
        public_key: key.verifying_key().to_bytes(),
        hostname: "h".into(),
        machine_id: "m".into(),
        os_id: "debian".into(),
        os_version_id: "12".into(),
        os_pretty_name: "Debian".into(),
        kernel: "6.1".into(),
        enrolled_at: 0,
        revoked_at: None,
    };
    let f = envelope_facts(&host, &sha, &env, &FactWants::default());
    assert_eq!(f.signature, Signature::Verified);
    assert_eq!(
        f.hardware,
        Hardware {
            vendor: Some("Dell Inc.".into()),
            model: Some("PowerEdge R650".into()),
            serial: Some("7XK2Q93".into()),
        }
    );
    assert_eq!(f.packages, Some(2));
}
