//! The HTTP API: `fn app(state) -> Router`, so tests drive the router in-process and
//! the server serves the same router over TLS.
//!
//! | route | who | what |
//! | --- | --- | --- |
//! | `POST /v1/enroll` | an agent with a token | enroll a public key, get the agent id |
//! | `POST /v1/reports` | an enrolled agent (its signature) | store a signed report, get a receipt; the body is the envelope or a delta against an acknowledged report ([`delta`]) |
//! | `POST /v1/inventory-lists` | an enrolled agent (its signature) | store a signed inventory list once by address |
//! | `GET /v1/inventory-lists/{address}` | auditor | an inventory list document, verbatim |
//! | `GET /v1/log/checkpoint` | anyone | the signed log head |
//! | `GET /v1/log/proof/{index}` | anyone | an inclusion proof (`?tree_size=N`) |
//! | `GET /healthz`, `GET /metrics` | anyone | liveness (with the database), Prometheus |
//! | `GET /v1/agents` | auditor | enrolled agents (`?after=ID&limit=N`) |
//! | `GET /v1/agents/{id}/results` | auditor | the latest counted report's results (never a replay) |
//! | `GET /v1/agents/{id}/reports` | auditor | the stored reports, with `replay` (`?after=SEQ&limit=N`) |
//! | `GET /v1/agents/{id}/reports/{seq}` | auditor | the raw envelope, verbatim (`x-attest-replay`) |
//! | `GET /v1/agents/{id}/chain-events` | auditor | gaps, late reports, forks |
//! | `POST /v1/agents/{id}/revoke` | admin | revoke an agent |
//! | `POST /v1/enroll-tokens` | admin | create an enrollment token |
//! | `GET /v1/audit` | admin | the audit log of admin actions |

mod delta;
mod error;
mod ingest;
mod inventory;
mod log;
mod ops;
mod read;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use attest_proto::{ErrorCode, SigningKey, VerifyingKey};
use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};

pub use delta::{BaseCache, Encoding, MAX_CACHED_BASE_BYTES};
pub use error::ApiError;

use crate::clock::Clock;
use crate::guard::{ConnState, Guard};
use crate::ingest::Writer;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::store::DynStore;

/// Keys cached before the cache is cleared.
const MAX_CACHED_KEYS: usize = 200_000;

/// Everything the handlers share.
pub struct AppState {
    pub store: DynStore,
    pub writer: Writer,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    /// Signs log checkpoints.
    pub log_key: SigningKey,
    pub limiter: RateLimiter,
    /// Largest `POST /v1/reports` body.
    pub body_limit: usize,
    /// The connection limits and the body-memory budget (absent in-process).
    guard: Option<Arc<Guard>>,
    /// key id → (agent id, key): immutable once enrolled, so safe to cache;
    /// revocation is checked by the writer against the database.
    keys: Mutex<HashMap<String, (String, VerifyingKey)>>,
    /// Each agent's last acknowledged report: the base of its next delta upload.
    bases: BaseCache,
}

impl AppState {
    pub fn new(
        store: DynStore,
        writer: Writer,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
        log_key: SigningKey,
        limiter: RateLimiter,
        body_limit: usize,
    ) -> Self {
        AppState {
            store,
            writer,
            metrics,
            clock,
            log_key,
            limiter,
            body_limit,
            guard: None,
            keys: Mutex::new(HashMap::new()),
            bases: BaseCache::default(),
        }
    }

    /// Bodies count against the guard's memory budget.
    pub fn with_guard(mut self, guard: Arc<Guard>) -> Self {
        self.guard = Some(guard);
        self
    }

    fn cached_key(&self, keyid: &str) -> Option<(String, VerifyingKey)> {
        self.keys.lock().ok()?.get(keyid).cloned()
    }

    fn cache_key(&self, keyid: &str, agent_id: &str, key: VerifyingKey) {
        if let Ok(mut keys) = self.keys.lock() {
            if keys.len() >= MAX_CACHED_KEYS {
                keys.clear();
            }
            keys.insert(keyid.to_owned(), (agent_id.to_owned(), key));
        }
    }
}

/// The enrolled agent whose key signed `envelope`, by key id: from the key cache, else
/// the database (a revoked agent found there is `revoked`). A revocation after the key
/// was cached is caught by the writer, against the agent's locked row, before anything
/// of the request is stored.
async fn signer(
    state: &AppState,
    envelope: &attest_proto::Envelope,
) -> Result<(String, VerifyingKey), ApiError> {
    for kid in envelope.keyids() {
        if let Some(found) = state.cached_key(kid) {
            return Ok(found);
        }
        if let Some(found) = state.store.agent_key(kid).await? {
            if found.revoked {
                return Err(ApiError::new(
                    ErrorCode::Revoked,
                    "the agent has been revoked",
                ));
            }
            let key = attest_proto::public_key_from_bytes(&found.public_key).map_err(|e| {
                tracing::error!(error = %e, agent_id = %found.agent_id, "stored public key is invalid");
                ApiError::new(ErrorCode::Internal, "internal error")
            })?;
            state.cache_key(kid, &found.agent_id, key);
            return Ok((found.agent_id, key));
        }
    }
    Err(ApiError::new(
        ErrorCode::UnknownKey,
        "no enrolled agent has the key id of this envelope's signature",
    ))
}

/// The router.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/enroll", post(ingest::enroll))
        .route("/v1/reports", post(ingest::report))
        .route("/v1/inventory-lists", post(inventory::post))
        .route("/v1/inventory-lists/{address}", get(inventory::get))
        .route("/v1/log/checkpoint", get(log::checkpoint))
        .route("/v1/log/proof/{index}", get(log::proof))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/v1/agents", get(read::agents))
        .route("/v1/agents/{id}/results", get(read::results))
        .route("/v1/agents/{id}/reports", get(read::reports))
        .route("/v1/agents/{id}/reports/{seq}", get(read::report))
        .route("/v1/agents/{id}/chain-events", get(read::chain_events))
        .route("/v1/agents/{id}/revoke", post(read::revoke_agent))
        .route("/v1/enroll-tokens", post(read::create_enroll_token))
        .route("/v1/audit", get(read::audit))
        .fallback(|uri: axum::http::Uri| async move {
            use axum::response::IntoResponse as _;
            if uri.path().starts_with("/ui/") {
                crate::ui::not_found()
            } else {
                ApiError::not_found("route").into_response()
            }
        })
        .with_state(state)
}

/// How much of an oversized body is read and thrown away before answering 413, so
/// that a client still writing its body gets to read the answer (at the connection's
/// minimum rate and within its deadline, `crate::guard`).
const DRAIN_CAP: usize = 64 * 1024 * 1024;

/// A request body as it arrives, with what it needs to be read within bounds.
pub(crate) struct Incoming<'a> {
    pub body: Body,
    pub headers: &'a axum::http::HeaderMap,
    pub conn: Option<&'a Arc<ConnState>>,
}

/// Reads a body up to `limit` bytes: `too_large` (413) beyond, decided from
/// `Content-Length` before anything is buffered when the client declares one. Memory
/// grows only with the bytes that arrived (a declared length reserves nothing), and
/// counts against the collector's body-memory budget (`unavailable`, 503, when full).
/// A body that arrives as one frame is passed on as it is.
async fn read_body(
    state: &AppState,
    incoming: Incoming<'_>,
    limit: usize,
) -> Result<bytes::Bytes, ApiError> {
    use axum::body::HttpBody as _;
    use http_body_util::BodyExt as _;
    let Incoming {
        mut body,
        headers,
        conn,
    } = incoming;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .or_else(|| body.size_hint().exact());
    let too_large = |size: String| {
        ApiError::new(
            attest_proto::ErrorCode::TooLarge,
            format!("the body is {size}, over the limit of {limit} bytes"),
        )
    };
    if let Some(len) = declared
        && len > limit as u64
    {
        if len > DRAIN_CAP as u64 {
            return Err(too_large(format!("{len} bytes")));
        }
        drain(&mut body).await;
        return Err(too_large(format!("{len} bytes")));
    }
    let busy = || {
        ApiError::new(
            attest_proto::ErrorCode::Unavailable,
            "the collector is reading too many request bodies; retry later",
        )
    };
    let mut permits = Vec::new();
    let mut reserved = 0usize;
    let mut first: Option<bytes::Bytes> = None;
    let mut buf = bytes::BytesMut::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| {
            ApiError::new(
                attest_proto::ErrorCode::Malformed,
                "the body could not be read",
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len());
        if total > limit {
            drop((first, buf, permits));
            drain(&mut body).await;
            return Err(too_large("longer".to_owned()));
        }
        if let Some(guard) = &state.guard
            && total > reserved
        {
            // Reserve in steps of at least 64 KiB, as the bytes arrive.
            let step = (total - reserved).max(64 * 1024);
            permits.push(guard.reserve_body(step).ok_or_else(busy)?);
            reserved += step;
        }
        if let Some(earlier) = first.take() {
            buf.extend_from_slice(&earlier);
            buf.extend_from_slice(&data);
        } else if buf.is_empty() {
            first = Some(data);
        } else {
            buf.extend_from_slice(&data);
        }
    }
    if let Some(conn) = conn {
        conn.received();
    }
    Ok(first.unwrap_or_else(|| buf.freeze()))
}

/// Reads and throws away up to [`DRAIN_CAP`] bytes of a body that is refused.
async fn drain(body: &mut Body) {
    use http_body_util::BodyExt as _;
    let mut seen = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            seen = seen.saturating_add(data.len());
            if seen > DRAIN_CAP {
                break;
            }
        }
    }
}

fn bad_path(e: axum::extract::rejection::PathRejection) -> ApiError {
    ApiError::new(attest_proto::ErrorCode::Malformed, e.body_text())
}

fn bad_query(e: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::new(attest_proto::ErrorCode::Malformed, e.body_text())
}

#[cfg(test)]
mod inventory_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::ingest::WriterConfig;
    use attest_proto::{EnrollRequest, Receipt, encode_public_key};
    use attest_sim::synth::{SynthAgent, agent_key, host};
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt as _;

    pub(super) async fn state(dir: &std::path::Path) -> Arc<AppState> {
        let url = format!("sqlite://{}", dir.join("c.db").display());
        let store = crate::store::open(&url, 4).await.unwrap();
        let clock: Arc<dyn Clock> = Arc::new(FixedClock::at(1_790_000_000_000));
        let metrics = Arc::new(Metrics::default());
        let (writer, _task) = Writer::start(
            Arc::clone(&store),
            Arc::clone(&clock),
            Arc::clone(&metrics),
            WriterConfig {
                max_batch: 16,
                queue: 64,
            },
        )
        .unwrap();
        Arc::new(AppState::new(
            store,
            writer,
            metrics,
            clock,
            SigningKey::from_bytes(&[9u8; 32]),
            RateLimiter::new(100.0, 100),
            attest_proto::MAX_ENVELOPE_BYTES,
        ))
    }

    pub(super) async fn call(
        state: &Arc<AppState>,
        method: &str,
        uri: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Vec<u8>) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body))
            .unwrap();
        let resp = app(Arc::clone(state)).oneshot(req).await.unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, body.to_vec())
    }

    pub(super) fn code(body: &[u8]) -> String {
        serde_json::from_slice::<serde_json::Value>(body).unwrap()["error"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A GET with an API token: status, headers, body.
    pub(super) async fn get_as(
        state: &Arc<AppState>,
        uri: &str,
        token: &str,
    ) -> (
        StatusCode,
        axum::http::HeaderMap,
        serde_json::Value,
        Vec<u8>,
    ) {
        let req = Request::builder()
            .method("GET")
            .uri(uri)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let resp = app(Arc::clone(state)).oneshot(req).await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        (status, headers, json, body)
    }

    /// Signs `statement` (JSON, as given: it may be one an agent would never sign) as
    /// the agent's next report, without advancing its chain.
    fn signed(agent: &SynthAgent, statement: &serde_json::Value) -> Vec<u8> {
        let bytes = serde_json::to_vec(statement).unwrap();
        attest_proto::Envelope::sign(&bytes, &agent.key)
            .to_json()
            .unwrap()
    }

    /// The collector reads both report schemas: `attest.report/v1` (file and command
    /// evidence) and `attest.report/v2` (adds `api` evidence and `agent.replay`). A v1
    /// report carrying v2 features, and any other schema, is refused whole with the
    /// stable code `not_a_statement` and nothing stored. A replay is stored, listed
    /// with `replay: true`, and never the latest results.
    #[tokio::test]
    async fn report_schemas_v1_and_v2_are_read_and_others_refused() {
        use attest_proto::{REPORT_SCHEMA_V1, REPORT_SCHEMA_V2, Statement};
        let dir = tempfile::tempdir().unwrap();
        let st = state(dir.path()).await;
        let token = crate::admin::create_enroll_token(st.store.as_ref(), 0, "test", 1, None)
            .await
            .unwrap();
        let key = agent_key(4, 4);
        let req = EnrollRequest {
            token: token.token,
            public_key: encode_public_key(&key.verifying_key()),
            host: host(4),
        };
        let (status, body) =
            call(&st, "POST", "/v1/enroll", serde_json::to_vec(&req).unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        let agent_id = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["agent_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut agent = SynthAgent::new(key, agent_id.clone(), host(4));
        let now = st.clock.now();

        // v1: the agent's own report.
        let (status, body) = call(
            &st,
            "POST",
            "/v1/reports",
            agent.next_envelope(now).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));

        // The next report carries api evidence: v2 as the agent writes it.
        let mut report = attest_sim::synth::report(&agent_id, &host(4), now);
        report.results[0]
            .evidence
            .push(attest_proto::Evidence::Api {
                name: "sysctl vm.swapusage".into(),
                excerpt: "xsu_encrypted = 1".into(),
                sha256: format!("sha256:{}", "c3".repeat(32)),
            });
        agent.chain.stamp(&mut report);
        report.schema = report.required_schema().to_owned();
        assert_eq!(report.schema, REPORT_SCHEMA_V2);
        let v2 = serde_json::from_slice::<serde_json::Value>(
            &Statement::for_report(report.clone()).to_bytes().unwrap(),
        )
        .unwrap();
        // Refused: the same report labelled v1 (a v1 report cannot carry api
        // evidence), and labelled with a schema this collector does not know.
        for (schema, says) in [
            (REPORT_SCHEMA_V1, "carries api evidence or agent.replay"),
            (
                "attest.report/v4",
                "predicate schema is \"attest.report/v4\"",
            ),
        ] {
            let mut wrong = v2.clone();
            wrong["predicate"]["schema"] = serde_json::json!(schema);
            let (status, body) = call(&st, "POST", "/v1/reports", signed(&agent, &wrong)).await;
            assert_eq!(
                (status, code(&body).as_str()),
                (StatusCode::BAD_REQUEST, "not_a_statement"),
                "{schema}"
            );
            let message = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["message"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(message.contains(says), "{schema}: {message}");
        }
        // A v1 report that says it is a replay: refused too.
        let mut replay_v1 = v2.clone();
        replay_v1["predicate"]["schema"] = serde_json::json!(REPORT_SCHEMA_V1);
        replay_v1["predicate"]["agent"]["replay"] = serde_json::json!(true);
        let (status, body) = call(&st, "POST", "/v1/reports", signed(&agent, &replay_v1)).await;
        assert_eq!(
            (status, code(&body).as_str()),
            (StatusCode::BAD_REQUEST, "not_a_statement")
        );
        // Nothing of them was stored: the v2 report still takes seq 2.
        let bytes = serde_json::to_vec(&v2).unwrap();
        let (status, body) = call(
            &st,
            "POST",
            "/v1/reports",
            attest_proto::Envelope::sign(&bytes, &agent.key)
                .to_json()
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        assert_eq!(Receipt::from_json(&body).unwrap().seq, 2);
        agent.chain.advance(&bytes);

        // A replay (v2): stored and chained as seq 3, never the latest results.
        let mut replay = attest_sim::synth::report(&agent_id, &host(4), now);
        replay.agent.replay = true;
        agent.chain.stamp(&mut replay);
        replay.schema = replay.required_schema().to_owned();
        let bytes = Statement::for_report(replay).to_bytes().unwrap();
        let (status, body) = call(
            &st,
            "POST",
            "/v1/reports",
            attest_proto::Envelope::sign(&bytes, &agent.key)
                .to_json()
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        assert_eq!(Receipt::from_json(&body).unwrap().seq, 3);

        st.store
            .create_api_token(&crate::store::NewApiToken {
                id: "key_t".into(),
                token_hash: crate::auth::hash_token("at_test"),
                role: crate::store::Role::Auditor,
                note: String::new(),
                created_at: 0,
                expires_at: None,
            })
            .await
            .unwrap();
        let (status, _, listed, _) =
            get_as(&st, &format!("/v1/agents/{agent_id}/reports"), "at_test").await;
        assert_eq!(status, StatusCode::OK);
        let flags: Vec<(u64, bool)> = listed["reports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["seq"].as_u64().unwrap(), r["replay"].as_bool().unwrap()))
            .collect();
        assert_eq!(flags, [(1, false), (2, false), (3, true)]);
        let (_, _, page, _) = get_as(
            &st,
            &format!("/v1/agents/{agent_id}/reports?after=1&limit=1"),
            "at_test",
        )
        .await;
        assert_eq!(page["reports"][0]["seq"], 2);
        let (_, _, latest, _) =
            get_as(&st, &format!("/v1/agents/{agent_id}/results"), "at_test").await;
        assert_eq!(latest["seq"], 2, "a replay is never the latest results");
        let (status, headers, _, body) =
            get_as(&st, &format!("/v1/agents/{agent_id}/reports/3"), "at_test").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["x-attest-replay"], "true");
        let env = attest_proto::Envelope::from_json(&body).unwrap();
        assert_eq!(env.payload, bytes, "the replay's envelope is kept verbatim");
        let (_, headers, _, _) =
            get_as(&st, &format!("/v1/agents/{agent_id}/reports/2"), "at_test").await;
        assert_eq!(headers["x-attest-replay"], "false");
        let (status, _, body, _) = get_as(&st, "/v1/agents/agt_nope/reports", "at_test").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );
    }

    /// A POST of a report sent by difference against `base` (an envelope), naming
    /// `named` as its base.
    async fn post_delta(
        state: &Arc<AppState>,
        named: &attest_proto::form::DeltaBase,
        body: Vec<u8>,
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let req = Request::builder()
            .method("POST")
            .uri("/v1/reports")
            .header("content-type", attest_proto::form::DELTA_CONTENT_TYPE)
            .header(attest_proto::form::DELTA_BASE_HEADER, named.to_header())
            .body(Body::from(body))
            .unwrap();
        let resp = app(Arc::clone(state)).oneshot(req).await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, headers, body.to_vec())
    }

    /// zstd of the form of `envelope` against the form of `base`, as the agent sends it.
    fn delta_of(base: &[u8], envelope: &[u8]) -> Vec<u8> {
        use attest_proto::form::to_form;
        let mut c = zstd::bulk::Compressor::with_dictionary(3, &to_form(base)).unwrap();
        c.include_checksum(true).unwrap();
        c.compress(&to_form(envelope)).unwrap()
    }

    fn named(agent_id: &str, seq: u64, envelope: &[u8]) -> attest_proto::form::DeltaBase {
        let payload = attest_proto::Envelope::from_json(envelope).unwrap().payload;
        attest_proto::form::DeltaBase {
            agent_id: agent_id.to_owned(),
            seq,
            payload_sha256: attest_proto::sha256_hex(&payload),
        }
    }

    async fn enroll_agent(st: &Arc<AppState>, i: u64) -> SynthAgent {
        let token = crate::admin::create_enroll_token(st.store.as_ref(), 0, "test", 1, None)
            .await
            .unwrap();
        let key = agent_key(7, i);
        let req = EnrollRequest {
            token: token.token,
            public_key: encode_public_key(&key.verifying_key()),
            host: host(i),
        };
        let (status, body) =
            call(st, "POST", "/v1/enroll", serde_json::to_vec(&req).unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        let agent_id = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["agent_id"]
            .as_str()
            .unwrap()
            .to_owned();
        SynthAgent::new(key, agent_id, host(i))
    }

    /// A report sent by difference against an acknowledged one is stored as the
    /// exact envelope the agent signed (the read API gives it back byte for byte);
    /// the base comes from the cache or, when not cached, from the store, and a
    /// stored base damaged on disk is `delta_base_unknown`. Every answer says the
    /// collector takes deltas, and the metrics count both kinds.
    #[tokio::test]
    async fn a_report_sent_by_difference_is_stored_byte_identically() {
        let dir = tempfile::tempdir().unwrap();
        let st = state(dir.path()).await;
        let mut agent = enroll_agent(&st, 1).await;
        let id = agent.agent_id.clone();
        let now = st.clock.now();
        let first = agent.next_envelope(now).unwrap();
        let req = Request::builder()
            .method("POST")
            .uri("/v1/reports")
            .body(Body::from(first.clone()))
            .unwrap();
        let resp = app(Arc::clone(&st)).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()[attest_proto::form::DELTA_ACCEPT_HEADER],
            attest_proto::form::DELTA_ACCEPT_VALUE
        );

        // Against the cached base (seq 1).
        let second = agent.next_envelope(now).unwrap();
        let body = delta_of(&first, &second);
        assert!(
            body.len() * 4 < second.len(),
            "{} vs {}",
            body.len(),
            second.len()
        );
        let (status, headers, answer) = post_delta(&st, &named(&id, 1, &first), body).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&answer)
        );
        assert!(headers.contains_key(attest_proto::form::DELTA_ACCEPT_HEADER));
        let receipt = Receipt::from_json(&answer).unwrap();
        assert_eq!((receipt.seq, receipt.duplicate), (2, false));
        // Seq 2 is now the cached base; seq 1 has to come from the store.
        assert!(delta::cache_holds(&st.bases, &named(&id, 2, &second)));
        assert!(!delta::cache_holds(&st.bases, &named(&id, 1, &first)));
        let third = agent.next_envelope(now).unwrap();
        let (status, _, answer) =
            post_delta(&st, &named(&id, 1, &first), delta_of(&first, &third)).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&answer)
        );
        assert_eq!(Receipt::from_json(&answer).unwrap().seq, 3);
        // Sent again by difference: the same receipt, a duplicate.
        let (status, _, answer) =
            post_delta(&st, &named(&id, 2, &second), delta_of(&second, &third)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(Receipt::from_json(&answer).unwrap().duplicate);

        st.store
            .create_api_token(&crate::store::NewApiToken {
                id: "key_t".into(),
                token_hash: crate::auth::hash_token("at_test"),
                role: crate::store::Role::Auditor,
                note: String::new(),
                created_at: 0,
                expires_at: None,
            })
            .await
            .unwrap();
        for (seq, sent) in [(2, &second), (3, &third)] {
            let (status, _, _, stored) =
                get_as(&st, &format!("/v1/agents/{id}/reports/{seq}"), "at_test").await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(&stored, sent, "seq {seq} is stored as signed");
        }
        let (_, metrics) = call(&st, "GET", "/metrics", Vec::new()).await;
        let metrics = String::from_utf8(metrics).unwrap();
        assert!(
            metrics.contains("attest_report_uploads_total{encoding=\"delta\"} 3"),
            "{metrics}"
        );
        assert!(
            metrics.contains("attest_report_uploads_total{encoding=\"full\"} 1"),
            "{metrics}"
        );
        let full_bytes = format!(
            "attest_report_upload_bytes_total{{encoding=\"full\"}} {}",
            first.len()
        );
        assert!(metrics.contains(&full_bytes), "{metrics}");
        // A stored base damaged on disk (not in the cache: seq 3 is): refused as
        // unknown, never decoded into other bytes.
        let pool =
            sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.path().join("c.db").display()))
                .await
                .unwrap();
        let changed = sqlx::query("UPDATE reports SET envelope = x'28b52ffd0000' WHERE seq = 1")
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(changed.rows_affected(), 1);
        pool.close().await;
        let fourth = agent.next_envelope(now).unwrap();
        let (status, _, answer) =
            post_delta(&st, &named(&id, 1, &first), delta_of(&first, &fourth)).await;
        assert_eq!(
            (status, code(&answer).as_str()),
            (StatusCode::PRECONDITION_FAILED, "delta_base_unknown")
        );
    }

    /// A delta whose base is unknown, another payload, another agent's report or that
    /// does not rebuild from it is refused with `delta_base_unknown` (412) and nothing
    /// is stored: the full envelope then goes in as seq 2. A delta that decompresses
    /// beyond the body limit is `too_large`; a delta without its base header is
    /// `malformed`.
    #[tokio::test]
    async fn a_delta_against_a_base_not_here_is_refused_with_its_own_code() {
        let dir = tempfile::tempdir().unwrap();
        let st = state(dir.path()).await;
        let mut agent = enroll_agent(&st, 1).await;
        let mut other = enroll_agent(&st, 2).await;
        let id = agent.agent_id.clone();
        let now = st.clock.now();
        let first = agent.next_envelope(now).unwrap();
        assert_eq!(
            call(&st, "POST", "/v1/reports", first.clone()).await.0,
            StatusCode::OK
        );
        let theirs = other.next_envelope(now).unwrap();
        assert_eq!(
            call(&st, "POST", "/v1/reports", theirs.clone()).await.0,
            StatusCode::OK
        );
        let second = agent.next_envelope(now).unwrap();

        let mut wrong_payload = named(&id, 1, &first);
        wrong_payload.payload_sha256 = "00".repeat(32);
        let mut corrupt = delta_of(&first, &second);
        let mid = corrupt.len() / 2;
        corrupt[mid] ^= 0x5a;
        let cases = [
            (
                "unknown seq",
                named(&id, 9, &first),
                delta_of(&first, &second),
            ),
            (
                "unknown agent",
                named("agt_nobody", 1, &first),
                delta_of(&first, &second),
            ),
            ("another payload", wrong_payload, delta_of(&first, &second)),
            // The other agent's report as base: it decompresses, but the signer is
            // not the agent whose report it is.
            (
                "another agent's base",
                named(&other.agent_id, 1, &theirs),
                delta_of(&theirs, &second),
            ),
            ("corrupt delta", named(&id, 1, &first), corrupt),
            ("not zstd", named(&id, 1, &first), second.clone()),
        ];
        for (what, base, body) in cases {
            let (status, _, answer) = post_delta(&st, &base, body).await;
            assert_eq!(
                (status, code(&answer).as_str()),
                (StatusCode::PRECONDITION_FAILED, "delta_base_unknown"),
                "{what}"
            );
        }
        // Without the header naming the base.
        let req = Request::builder()
            .method("POST")
            .uri("/v1/reports")
            .header("content-type", attest_proto::form::DELTA_CONTENT_TYPE)
            .body(Body::from(delta_of(&first, &second)))
            .unwrap();
        let resp = app(Arc::clone(&st)).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

        // A zip bomb: a few hundred bytes that would decompress to 64 MiB.
        let bomb = zstd::bulk::Compressor::with_dictionary(3, &attest_proto::form::to_form(&first))
            .unwrap()
            .compress(&vec![b' '; 64 << 20])
            .unwrap();
        assert!(bomb.len() < 64 << 10, "{}", bomb.len());
        let (status, _, answer) = post_delta(&st, &named(&id, 1, &first), bomb).await;
        assert_eq!(
            (status, code(&answer).as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
        );

        // Nothing of it was stored: the full envelope takes seq 2.
        let (status, answer) = call(&st, "POST", "/v1/reports", second).await;
        assert_eq!(status, StatusCode::OK);
        let receipt = Receipt::from_json(&answer).unwrap();
        assert_eq!((receipt.seq, receipt.duplicate), (2, false));
        let (_, metrics) = call(&st, "GET", "/metrics", Vec::new()).await;
        let metrics = String::from_utf8(metrics).unwrap();
        assert!(
            metrics.contains("attest_reports_rejected_total{reason=\"delta_base_unknown\"} 6"),
            "{metrics}"
        );
    }

    #[tokio::test]
    async fn router_in_process() {
        let dir = tempfile::tempdir().unwrap();
        let st = state(dir.path()).await;
        let (status, _) = call(&st, "GET", "/healthz", Vec::new()).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = call(&st, "GET", "/nope", Vec::new()).await;
        assert_eq!(
            (status, code(&body).as_str()),
            (StatusCode::NOT_FOUND, "not_found")
        );
        let (status, body) = call(&st, "GET", "/v1/agents", Vec::new()).await;
        assert_eq!(
            (status, code(&body).as_str()),
            (StatusCode::UNAUTHORIZED, "unauthorized")
        );
        let (status, body) = call(&st, "POST", "/v1/reports", b"[".to_vec()).await;
        assert_eq!(
            (status, code(&body).as_str()),
            (StatusCode::BAD_REQUEST, "malformed")
        );

        // Enroll and report through the router.
        let token = crate::admin::create_enroll_token(st.store.as_ref(), 0, "test", 1, None)
            .await
            .unwrap();
        let key = agent_key(3, 3);
        let req = EnrollRequest {
            token: token.token,
            public_key: encode_public_key(&key.verifying_key()),
            host: host(3),
        };
        let (status, body) =
            call(&st, "POST", "/v1/enroll", serde_json::to_vec(&req).unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        let agent_id = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["agent_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut agent = SynthAgent::new(key, agent_id, host(3));
        let envelope = agent.next_envelope(st.clock.now()).unwrap();
        let (status, body) = call(&st, "POST", "/v1/reports", envelope.clone()).await;
        assert_eq!(status, StatusCode::OK);
        let receipt = Receipt::from_json(&body).unwrap();
        assert_eq!(
            (receipt.seq, receipt.log_index, receipt.duplicate),
            (1, 0, false)
        );
        let (_, body) = call(&st, "POST", "/v1/reports", envelope).await;
        assert!(Receipt::from_json(&body).unwrap().duplicate);
        let (status, body) = call(&st, "GET", "/v1/log/checkpoint", Vec::new()).await;
        assert_eq!(status, StatusCode::OK);
        let cp: crate::log::Checkpoint = serde_json::from_slice(&body).unwrap();
        assert_eq!(cp.tree_size, 1);
        assert_eq!(cp.timestamp, "2026-09-21T14:13:20Z");
        cp.verify(&st.log_key.verifying_key()).unwrap();
    }
}
