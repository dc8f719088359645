//! `attest-collector prune` with the real binaries, while the collector serves:
//! refusals (a time in the future, inside the audit period without `--force`, no
//! bundle choice, a bundle that cannot be written) change nothing; the prune writes a
//! bundle that `verify` accepts, pruned reports answer as pruned through the API while
//! their inclusion proofs are still served, kept ones are byte-identical, `fsck` is
//! clean, the prune is audited and a second one is a no-op.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use attest_collector::catalog::Catalog;
use attest_sim::fleetsim::{SimAgent, sim_report};

use crate::collector::{Collector, enroll, new_agent, post_report, write_config};
use crate::support::bin;

fn run(data: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new(bin("attest-collector"))
        .arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(config)
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

fn refused(out: &Output, says: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(says), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_while_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let collector = Collector::start(&data);
    let client = collector.client();
    let (token, _) = collector.token(&["--uses", "2"]);
    let catalog = Catalog::builtin().unwrap();
    let mut agents = Vec::new();
    for i in 0..2u64 {
        let mut a = new_agent(78, i);
        enroll(&client, &token, &mut a, i).await;
        agents.push(SimAgent {
            index: i,
            key: a.key.clone(),
            agent_id: a.agent_id.clone(),
            host: a.host.clone(),
            chain: a.chain.clone(),
        });
    }
    // (agent, seq) → envelope, in the order sent (log order).
    let mut sent: Vec<(String, u64, Vec<u8>)> = Vec::new();
    let mut send_round = async |agents: &mut Vec<SimAgent>, r: u64| {
        let at = chrono::Utc::now() - chrono::Duration::minutes(10 - r as i64);
        let at = chrono::DateTime::from_timestamp(at.timestamp(), 0).unwrap();
        for a in agents.iter_mut() {
            let mut report =
                sim_report(catalog.checks().iter().map(|c| c.id.as_str()), a, 78, r, at);
            let env = a.sign_next(&mut report).unwrap();
            assert_eq!(post_report(&client, env.clone()).await.status, 200);
            sent.push((a.agent_id.clone(), r + 1, env));
        }
    };
    send_round(&mut agents, 0).await;
    send_round(&mut agents, 1).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let cut = chrono::Utc::now();
    let before = cut.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    send_round(&mut agents, 2).await;

    // The audit period started an hour ago (or earlier): the cut-off is inside it.
    let start = (chrono::Utc::now() - chrono::Duration::hours(1)).format("%Y-%m-%d");
    let config = write_config(
        tmp.path(),
        &format!("version = 1\n[retention]\naudit_period_start = \"{start}\"\n"),
    );
    let auditor = collector.apitoken("auditor");
    let admin = collector.apitoken("admin");
    let envelope = |agent: &str, seq: u64| {
        let client = &client;
        let auditor = &auditor;
        let path = format!("/v1/agents/{agent}/reports/{seq}");
        async move { client.get(&path, Some(auditor)).await.unwrap() }
    };
    let a0 = agents[0].agent_id.clone();

    // Refusals change nothing.
    refused(
        &run(
            &data,
            &config,
            &["prune", "--before", "2999-01-01", "--no-export"],
        ),
        "in the future",
    );
    refused(
        &run(
            &data,
            &config,
            &["prune", "--before", &before, "--no-export"],
        ),
        "inside the current audit period",
    );
    refused(
        &run(&data, &config, &["prune", "--before", &before, "--force"]),
        "--export FILE",
    );
    let unwritable = tmp.path().join("no-such-dir").join("b.tar.gz");
    refused(
        &run(
            &data,
            &config,
            &[
                "prune",
                "--before",
                &before,
                "--force",
                "--export",
                unwritable.to_str().unwrap(),
            ],
        ),
        "nothing was pruned",
    );
    let dry = ok(&run(
        &data,
        &config,
        &["prune", "--before", &before, "--force", "--dry-run"],
    ));
    assert!(dry.contains("4 reports of 2 agents"), "{dry}");
    for (agent, seq, env) in &sent {
        let resp = envelope(agent, *seq).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body.as_ref(), env.as_slice());
    }

    // The prune: the bundle first, checked; then seqs 1 and 2 of both agents.
    let bundle = tmp.path().join("pruned.tar.gz");
    let out = ok(&run(
        &data,
        &config,
        &[
            "prune",
            "--before",
            &before,
            "--force",
            "--export",
            bundle.to_str().unwrap(),
        ],
    ));
    assert!(out.contains("pruned 4 reports"), "{out}");
    let key_id = String::from_utf8(run(&data, &config, &["log-key"]).stdout)
        .unwrap()
        .trim()
        .to_owned();
    let verify = Command::new(bin("attest-collector"))
        .args([
            "verify",
            bundle.to_str().unwrap(),
            "--collector-key",
            &key_id,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && text.starts_with("VERIFIED: "),
        "{text}"
    );
    let entries =
        attest_collector::report::verify::read_entries(&std::fs::read(&bundle).unwrap()).unwrap();
    for (agent, seq, env) in sent.iter().filter(|(_, s, _)| *s <= 2) {
        let path = format!("envelopes/{agent}/{seq}.json");
        let held = entries.iter().find(|(p, _)| *p == path);
        assert_eq!(
            held.map(|(_, b)| b.as_slice()),
            Some(env.as_slice()),
            "{path}"
        );
    }

    // Pruned: 404 saying so; its inclusion proof is still served. Kept: verbatim.
    for (index, (agent, seq, env)) in sent.iter().enumerate() {
        let resp = envelope(agent, *seq).await;
        if *seq <= 2 {
            assert_eq!(resp.status, 404);
            let message = resp.json()["message"].as_str().unwrap_or("").to_owned();
            assert!(message.contains("was pruned on"), "{message}");
        } else {
            assert_eq!(resp.status, 200);
            assert_eq!(resp.body.as_ref(), env.as_slice());
        }
        let proof = client
            .get(&format!("/v1/log/proof/{index}"), None)
            .await
            .unwrap();
        assert_eq!(proof.status, 200);
        assert_eq!(
            proof.json()["leaf_hash"],
            hex::encode(attest_collector::log::leaf_hash(env))
        );
    }
    ok(&run(&data, &config, &["fsck"]));
    // A report of a time before the cut-off is refused, naming it.
    let earlier = (cut - chrono::Duration::milliseconds(500))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let out_file = tmp.path().join("r.json");
    refused(
        &run(
            &data,
            &config,
            &[
                "report",
                "--format",
                "json",
                "--as-of",
                &earlier,
                "--out",
                out_file.to_str().unwrap(),
            ],
        ),
        "were pruned",
    );
    // Now is fine: every agent's newest report is kept.
    ok(&run(
        &data,
        &config,
        &[
            "report",
            "--format",
            "json",
            "--out",
            out_file.to_str().unwrap(),
        ],
    ));

    // Audited; a second prune is a no-op.
    let audit = client.get("/v1/audit", Some(&admin)).await.unwrap().json();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .or(audit.as_array())
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"reports.prune"), "{audit}");
    let again = ok(&run(
        &data,
        &config,
        &["prune", "--before", &before, "--force", "--no-export"],
    ));
    assert!(again.contains("nothing to prune"), "{again}");
    let resp = envelope(&a0, 3).await;
    assert_eq!(resp.status, 200);
}
