//! Enrollment over TLS: valid, expired, used up, revoked and unknown tokens; the
//! admin CLI around tokens; the certificate fingerprint.

use attest_proto::EnrollResponse;

use super::{Collector, enroll, enroll_body, new_agent};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_tokens_valid_expired_used_up_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(&dir.path().join("data"));
    let client = c.client();

    // Valid: an agent id and the collector's log key.
    let (token, _) = c.token(&["--uses", "1"]);
    assert!(token.starts_with("et_"));
    let mut a = new_agent(1, 1);
    let resp = enroll(&client, &token, &mut a, 1).await;
    assert!(resp.agent_id.starts_with("agt_"));
    assert!(resp.collector_key.is_some());
    // The same key again (a retried enrollment): the same id, no use spent.
    let again = client
        .post("/v1/enroll", enroll_body(&token, &a.key, 1))
        .await
        .unwrap();
    assert_eq!(again.status, 200);
    assert_eq!(
        EnrollResponse::from_json(&again.body).unwrap().agent_id,
        resp.agent_id
    );

    // Used up: the one use is spent.
    let b = new_agent(1, 2);
    let used = client
        .post("/v1/enroll", enroll_body(&token, &b.key, 2))
        .await
        .unwrap();
    assert_eq!(used.status, 401);
    assert_eq!(used.error_code().as_deref(), Some("token_used_up"));

    // Expired.
    let (short, _) = c.token(&["--uses", "5", "--expires", "1s"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let expired = client
        .post("/v1/enroll", enroll_body(&short, &b.key, 2))
        .await
        .unwrap();
    assert_eq!(expired.status, 401);
    assert_eq!(expired.error_code().as_deref(), Some("token_expired"));

    // Revoked.
    let (revoked, id) = c.token(&["--uses", "5"]);
    let out = c.cli(&["token", "revoke", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resp = client
        .post("/v1/enroll", enroll_body(&revoked, &b.key, 2))
        .await
        .unwrap();
    assert_eq!(resp.status, 401);
    assert_eq!(resp.error_code().as_deref(), Some("bad_token"));

    // Unknown token; malformed request; a weak public key.
    let resp = client
        .post("/v1/enroll", enroll_body("et_nope", &b.key, 2))
        .await
        .unwrap();
    assert_eq!(resp.error_code().as_deref(), Some("bad_token"));
    let resp = client
        .post("/v1/enroll", b"{\"token\":1}".to_vec())
        .await
        .unwrap();
    assert_eq!(resp.status, 400);
    assert_eq!(resp.error_code().as_deref(), Some("malformed"));
    let mut weak: serde_json::Value =
        serde_json::from_slice(&enroll_body("et_x", &b.key, 2)).unwrap();
    weak["public_key"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    let resp = client
        .post("/v1/enroll", serde_json::to_vec(&weak).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.error_code().as_deref(), Some("malformed"));

    // An oversized string in an enrollment: over the 64 KiB limit.
    let mut big: serde_json::Value =
        serde_json::from_slice(&enroll_body(&revoked, &b.key, 2)).unwrap();
    big["host"]["hostname"] = "h".repeat(100_000).into();
    let resp = client
        .post("/v1/enroll", serde_json::to_vec(&big).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status, 413);
    assert_eq!(resp.error_code().as_deref(), Some("too_large"));

    // `token list` shows ids and uses, never the secrets; the audit log has it all.
    let out = c.cli(&["token", "list"]);
    let list = String::from_utf8(out.stdout).unwrap();
    assert!(list.contains(&id), "{list}");
    assert!(!list.contains(&token[3..]), "{list}");
    assert!(!list.contains("et_"), "{list}");
    let out = c.cli(&["agents", "list"]);
    let agents = String::from_utf8(out.stdout).unwrap();
    assert!(agents.contains(&a.agent_id), "{agents}");

    // Metrics count refusals by reason.
    let metrics = client.get("/metrics", None).await.unwrap();
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains("attest_enrollments_rejected_total{reason=\"token_used_up\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("attest_enrollments_rejected_total{reason=\"bad_token\"} 2"),
        "{text}"
    );
    assert!(text.contains("attest_agents_enrolled 1"), "{text}");
    // A log line for a refusal.
    assert!(c.log_text().contains("enrollment refused"));
}

#[test]
fn fingerprint_and_validate_commands() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut c = Collector::start(&data);
    let out = c.cli(&["fingerprint"]);
    assert!(out.status.success());
    // Only the fingerprint on stdout.
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{}\n", c.fingerprint)
    );
    // SIGTERM: a clean stop.
    let status = c.stop();
    assert!(status.success(), "{status}");
    assert!(c.log_text().contains("attest-collector: stopped"));

    // A restart keeps the certificate and the log key.
    let c2 = Collector::start(&data);
    assert_eq!(c2.fingerprint, c.fingerprint);
    drop(c2);

    let good = super::write_config(dir.path(), "version = 1\nlisten = \"127.0.0.1:9443\"\n");
    let out = c.cli(&["--config", good.to_str().unwrap(), "validate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = super::write_config(dir.path(), "version = 1\nlisten_address = \"x\"\n");
    let out = c.cli(&["--config", bad.to_str().unwrap(), "validate"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown field"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_key_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(Collector::start(&data));
    let key = data.join("log-signing.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = std::process::Command::new(crate::support::bin("attest-collector"))
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("log-signing.key") && stderr.contains("chmod 600"),
        "{stderr}"
    );
}
