//! `POST /v1/inventory-lists`, `GET /v1/inventory-lists/{address}` and the ingest of
//! `attest.report/v3` reports that name an inventory list, through the router.

use std::sync::Arc;

use attest_proto::inventory::{self, INVENTORY_LIST_PAYLOAD_TYPE, ListReceipt, Package};
use attest_proto::{
    CheckResult, EnrollRequest, Envelope, Receipt, SigningKey, Statement, Status, encode_public_key,
};
use attest_sim::synth::{SynthAgent, agent_key, host};
use axum::http::StatusCode;

use super::AppState;
use super::tests::{call, code, get_as, state};

async fn enrolled(st: &Arc<AppState>, i: u64) -> SynthAgent {
    let token = crate::admin::create_enroll_token(st.store.as_ref(), 0, "test", 1, None)
        .await
        .unwrap();
    let key = agent_key(5, i);
    let req = EnrollRequest {
        token: token.token,
        public_key: encode_public_key(&key.verifying_key()),
        host: host(i),
    };
    let (status, body) = call(st, "POST", "/v1/enroll", serde_json::to_vec(&req).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let agent_id = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["agent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    SynthAgent::new(key, agent_id, host(i))
}

fn packages(n: usize, version: &str) -> Vec<Package> {
    (0..n)
        .map(|i| Package {
            name: format!("pkg-{i:04}"),
            version: version.into(),
            architecture: "amd64".into(),
        })
        .collect()
}

/// The agent's next report as v3 naming the list of `pkgs`: the report envelope (the
/// chain is not advanced: call [`advance`] once it is stored), its statement bytes,
/// the list document.
fn v3(agent: &SynthAgent, st: &AppState, pkgs: &[Package]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut report = attest_sim::synth::report(&agent.agent_id, &agent.host, st.clock.now());
    let sw = report
        .results
        .iter_mut()
        .find(|r| r.check == inventory::SOFTWARE_CHECK)
        .unwrap();
    *sw = CheckResult::new(inventory::SOFTWARE_CHECK, Status::Info, "packages")
        .fact("source", "dpkg")
        .fact("count", pkgs.len())
        .fact(inventory::PACKAGES_FACT, pkgs);
    agent.chain.stamp(&mut report);
    let (_, doc) = inventory::split(&mut report).unwrap().unwrap();
    let statement = Statement::for_report(report).to_bytes().unwrap();
    let env = Envelope::sign(&statement, &agent.key).to_json().unwrap();
    (env, statement, doc)
}

fn signed_list(key: &SigningKey, doc: &[u8]) -> Vec<u8> {
    Envelope::sign_payload(INVENTORY_LIST_PAYLOAD_TYPE, doc, key)
        .to_json()
        .unwrap()
}

async fn reports_of(st: &AppState, agent: &SynthAgent) -> usize {
    st.store
        .list_reports(&agent.agent_id, None, 100)
        .await
        .unwrap()
        .len()
}

/// A v3 report whose list the collector does not hold is refused with
/// `inventory_list_unknown` and nothing stored; once the agent sends the list, the
/// same report is stored. The list is stored once for many reports and agents, and a
/// reader gets it back byte for byte.
#[tokio::test]
async fn unknown_list_refused_then_posted_then_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path()).await;
    let mut a = enrolled(&st, 1).await;
    let b = enrolled(&st, 2).await;
    let pkgs = packages(400, "1.0");
    let (env, statement, doc) = v3(&a, &st, &pkgs);
    let address = inventory::address(&doc);

    let (status, body) = call(&st, "POST", "/v1/reports", env.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&body), "inventory_list_unknown");
    let message = String::from_utf8_lossy(&body).into_owned();
    assert!(message.contains(&address), "{message}");
    assert_eq!(reports_of(&st, &a).await, 0, "a refusal stores nothing");
    assert!(
        st.store
            .list_reports(&a.agent_id, None, 1)
            .await
            .unwrap()
            .is_empty()
    );

    let (status, body) = call(
        &st,
        "POST",
        "/v1/inventory-lists",
        signed_list(&a.key, &doc),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let receipt = ListReceipt::from_json(&body).unwrap();
    assert_eq!(receipt.address, address);
    assert!(!receipt.duplicate);

    let (status, body) = call(&st, "POST", "/v1/reports", env).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(Receipt::from_json(&body).unwrap().seq, 1);
    a.chain.advance(&statement);

    // The next report names the same list: no list sent, stored at once.
    let (env, statement, doc2) = v3(&a, &st, &pkgs);
    assert_eq!(doc2, doc);
    let (status, _) = call(&st, "POST", "/v1/reports", env).await;
    assert_eq!(status, StatusCode::OK);
    a.chain.advance(&statement);
    // Another agent with the same packages sends the same list: held already.
    let (status, body) = call(
        &st,
        "POST",
        "/v1/inventory-lists",
        signed_list(&b.key, &doc),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(ListReceipt::from_json(&body).unwrap().duplicate);
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM inventory_lists")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 1, "one list row for two reports and two agents");

    // Readers get the document back, exactly; agents without a token do not.
    st.store
        .create_api_token(&crate::store::NewApiToken {
            id: "key_r".into(),
            token_hash: crate::auth::hash_token("at_reader"),
            role: crate::store::Role::Auditor,
            note: String::new(),
            created_at: 0,
            expires_at: None,
        })
        .await
        .unwrap();
    let uri = format!("/v1/inventory-lists/{address}");
    let (status, _, _, raw) = get_as(&st, &uri, "at_reader").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(raw, doc);
    let (status, _) = call(&st, "GET", &uri, Vec::new()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let missing = inventory::address(b"nothing");
    let (status, _, json, _) =
        get_as(&st, &format!("/v1/inventory-lists/{missing}"), "at_reader").await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _, json, _) = get_as(&st, "/v1/inventory-lists/sha256:00", "at_reader").await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed"))
    );
}

/// A list is taken only signed by an enrolled, unrevoked agent's key, with the list
/// payload type, in canonical form; a report naming another address than the list
/// sent stays refused.
#[tokio::test]
async fn lists_are_authenticated_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let st = state(dir.path()).await;
    let a = enrolled(&st, 1).await;
    let b = enrolled(&st, 2).await;
    let doc = inventory::InventoryList::new(packages(3, "2.0"))
        .to_bytes()
        .unwrap();
    let address = inventory::address(&doc);
    let post = |body: Vec<u8>| {
        let st = Arc::clone(&st);
        async move {
            let (status, body) = call(&st, "POST", "/v1/inventory-lists", body).await;
            (status, code(&body))
        }
    };

    // Not enrolled.
    let stranger = SigningKey::from_bytes(&[3; 32]);
    assert_eq!(
        post(signed_list(&stranger, &doc)).await,
        (StatusCode::UNAUTHORIZED, "unknown_key".into())
    );
    // Another agent's key id with this agent's signature: the signature fails.
    let mut forged = Envelope::sign_payload(INVENTORY_LIST_PAYLOAD_TYPE, &doc, &a.key);
    forged.signatures[0].keyid = attest_proto::keyid(&b.key.verifying_key());
    assert_eq!(
        post(forged.to_json().unwrap()).await,
        (StatusCode::UNAUTHORIZED, "bad_signature".into())
    );
    // A statement's payload type.
    assert_eq!(
        post(Envelope::sign(&doc, &a.key).to_json().unwrap()).await,
        (StatusCode::BAD_REQUEST, "unsupported_payload_type".into())
    );
    // Not canonical (white space): another address for the same list; refused.
    let loose = String::from_utf8(doc.clone())
        .unwrap()
        .replacen(',', ", ", 1);
    assert_eq!(
        post(signed_list(&a.key, loose.as_bytes())).await,
        (StatusCode::BAD_REQUEST, "malformed".into())
    );
    assert!(!st.store.has_inventory_list(&address).await.unwrap());

    // A report naming a list other than the one sent: still refused.
    let (env, _, named) = v3(&a, &st, &packages(3, "2.1"));
    assert_ne!(inventory::address(&named), address);
    let (status, _) = call(
        &st,
        "POST",
        "/v1/inventory-lists",
        signed_list(&a.key, &doc),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(&st, "POST", "/v1/reports", env).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (StatusCode::CONFLICT, "inventory_list_unknown")
    );
    assert_eq!(reports_of(&st, &a).await, 0);

    // Revoked: refused, even though the key is known.
    assert!(st.store.revoke_agent(&b.agent_id, 1).await.unwrap());
    let other = inventory::InventoryList::new(packages(4, "2.0"))
        .to_bytes()
        .unwrap();
    assert_eq!(
        post(signed_list(&b.key, &other)).await,
        (StatusCode::FORBIDDEN, "revoked".into())
    );
    assert!(
        !st.store
            .has_inventory_list(&inventory::address(&other))
            .await
            .unwrap()
    );
}
