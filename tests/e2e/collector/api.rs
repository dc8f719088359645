//! The authenticated read API: roles, the audit log, health and metrics.

use hyper::Method;

use super::{Collector, enroll, new_agent, now, post_report};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_on_the_read_api() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(&dir.path().join("data"));
    let client = c.client();
    let (token, _) = c.token(&["--uses", "3"]);
    let mut a = new_agent(5, 1);
    enroll(&client, &token, &mut a, 1).await;
    let sent = a.next_envelope(now()).unwrap();
    assert_eq!(post_report(&client, sent.clone()).await.status, 200);

    let auditor = c.apitoken("auditor");
    let admin = c.apitoken("admin");
    assert!(auditor.starts_with("at_"));

    // No token, a malformed header, an unknown token: 401.
    let resp = client.get("/v1/agents", None).await.unwrap();
    assert_eq!(
        (resp.status.as_u16(), resp.error_code().as_deref()),
        (401, Some("unauthorized"))
    );
    let resp = client.get("/v1/agents", Some("at_unknown")).await.unwrap();
    assert_eq!(
        (resp.status.as_u16(), resp.error_code().as_deref()),
        (401, Some("unauthorized"))
    );

    // Auditors read.
    let resp = client.get("/v1/agents", Some(&auditor)).await.unwrap();
    assert_eq!(resp.status, 200);
    let agents = resp.json();
    assert_eq!(agents["agents"][0]["agent_id"], a.agent_id.as_str());
    assert_eq!(agents["agents"][0]["head_seq"], 1);
    assert_eq!(agents["agents"][0]["hostname"], "host-000001");
    // Times are RFC 3339 UTC, as the CLI and the reports write them.
    for field in ["enrolled_at", "last_report_at"] {
        let t = agents["agents"][0][field].as_str().unwrap_or_default();
        assert!(
            chrono::DateTime::parse_from_rfc3339(t).is_ok() && t.ends_with('Z'),
            "{field}: {:?}",
            agents["agents"][0][field]
        );
    }
    let resp = client
        .get(
            &format!("/v1/agents/{}/results", a.agent_id),
            Some(&auditor),
        )
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let results = resp.json();
    assert_eq!(results["seq"], 1);
    // Every check of the catalogue, in its order.
    assert_eq!(
        results["results"].as_array().unwrap().len(),
        attest_proto::catalogue::CHECKS.len()
    );
    assert_eq!(
        results["results"][0]["check"],
        attest_proto::catalogue::CHECKS[0].id
    );
    assert_eq!(results["results"][0]["status"], "pass");
    let resp = client
        .get(
            &format!("/v1/agents/{}/reports/1", a.agent_id),
            Some(&auditor),
        )
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.as_ref(), sent.as_slice(), "stored verbatim");
    assert_eq!(resp.headers["x-attest-log-index"], "0");
    assert_eq!(resp.headers["x-attest-replay"], "false");
    // The listing of the agent's reports says which are replays (none here).
    let resp = client
        .get(
            &format!("/v1/agents/{}/reports", a.agent_id),
            Some(&auditor),
        )
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let listed = resp.json();
    assert_eq!(listed["reports"].as_array().unwrap().len(), 1);
    assert_eq!(listed["reports"][0]["seq"], 1);
    assert_eq!(listed["reports"][0]["replay"], false);
    let resp = client
        .get(
            &format!("/v1/agents/{}/reports/2", a.agent_id),
            Some(&auditor),
        )
        .await
        .unwrap();
    assert_eq!(
        (resp.status.as_u16(), resp.error_code().as_deref()),
        (404, Some("not_found"))
    );
    let resp = client
        .get("/v1/agents/agt_nope/results", Some(&auditor))
        .await
        .unwrap();
    assert_eq!(resp.status, 404);

    // Auditors do not act: 403.
    let revoke = format!("/v1/agents/{}/revoke", a.agent_id);
    let resp = client
        .request(Method::POST, &revoke, Some(&auditor), Some(Vec::new()))
        .await
        .unwrap();
    assert_eq!(
        (resp.status.as_u16(), resp.error_code().as_deref()),
        (403, Some("forbidden"))
    );
    let resp = client
        .request(
            Method::POST,
            "/v1/enroll-tokens",
            Some(&auditor),
            Some(b"{\"uses\":1}".to_vec()),
        )
        .await
        .unwrap();
    assert_eq!(resp.status, 403);
    let resp = client.get("/v1/audit", Some(&auditor)).await.unwrap();
    assert_eq!(resp.status, 403);

    // Admins do, and it is in the audit log.
    let resp = client
        .request(
            Method::POST,
            "/v1/enroll-tokens",
            Some(&admin),
            Some(b"{\"uses\":2,\"expires_in\":3600}".to_vec()),
        )
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let new_token = resp.json()["token"].as_str().unwrap().to_owned();
    let mut b = new_agent(5, 2);
    enroll(&client, &new_token, &mut b, 2).await;
    let resp = client
        .request(Method::POST, &revoke, Some(&admin), Some(Vec::new()))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let resp = client.get("/v1/audit", Some(&admin)).await.unwrap();
    let entries = resp.json()["entries"].as_array().unwrap().clone();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"agent.revoke"), "{actions:?}");
    assert!(actions.contains(&"enroll_token.create"));
    assert!(actions.contains(&"api_token.create"));
    let revoked = entries
        .iter()
        .find(|e| e["action"] == "agent.revoke")
        .unwrap();
    assert_eq!(revoked["target"], a.agent_id.as_str());
    assert!(
        revoked["actor"]
            .as_str()
            .unwrap()
            .starts_with("apitoken:key_")
    );
    // The secret never appears in the audit log.
    assert!(
        !resp
            .body
            .windows(new_token.len())
            .any(|w| w == new_token.as_bytes())
    );

    // Health and an unknown route.
    let resp = client.get("/healthz", None).await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["status"], "ok");
    let resp = client.get("/v1/nope", None).await.unwrap();
    assert_eq!(
        (resp.status.as_u16(), resp.error_code().as_deref()),
        (404, Some("not_found"))
    );
}
