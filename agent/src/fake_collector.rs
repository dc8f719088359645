//! An in-process fake collector for the agent's tests: HTTPS on `127.0.0.1:0` with a
//! self-signed rcgen certificate, `POST /v1/enroll` and `POST /v1/reports` as
//! `docs/proto.md` defines them. Reports are verified against the enrolled key and
//! classified with the real chain rules (`attest_proto::classify`), so duplicates,
//! gaps and conflicts behave as they will with the real collector. Modes make it fail
//! on purpose.
#![allow(dead_code)] // a test helper: not every test uses every method

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use attest_proto::{
    AgentInfo, ChainState, ChainVerdict, EnrollRequest, EnrollResponse, Envelope, ErrorBody,
    ErrorCode, Head, HostInfo, Incoming, REPORT_SCHEMA_V1, Receipt, Report, SigningKey, Statement,
    StoredView, VerifyingKey, classify, genesis_prev, keyid, link_of,
};
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::tls::Pin;

/// How the fake behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Up,
    /// Accepts TCP connections and closes them at once, as a dead service behind a
    /// load balancer does.
    Down,
    /// 429 with `Retry-After: <retry_after>` to every report.
    RateLimited {
        retry_after: u64,
    },
    /// Stores reports but answers with a receipt for another payload.
    WrongReceipt,
    /// Stores reports but answers `{}`.
    GarbageReceipt,
}

struct Stored {
    schema: String,
    prev: String,
    link: String,
    receipt: Receipt,
    /// The envelope as stored (rebuilt from a delta when it came as one).
    envelope: Vec<u8>,
}

struct Inner {
    mode: Mode,
    agents: HashMap<String, (String, VerifyingKey)>, // keyid → (agent id, key)
    stored: BTreeMap<u64, Stored>,
    /// Every accepted report's seq, in arrival order (duplicates not repeated).
    arrivals: Vec<u64>,
    next_log_index: u64,
    tokens: HashMap<String, Option<ErrorCode>>,
    /// Whether it takes reports sent by difference (and says so); `false` is an
    /// older collector: no header, a delta body is not JSON (`malformed`).
    takes_deltas: bool,
    /// Refuse every delta with `delta_base_unknown` (a collector that lost its bases).
    forget_bases: bool,
    /// How each `POST /v1/reports` came: `full`, `delta`, or `delta refused`.
    uploads: Vec<&'static str>,
    /// False: a collector that predates inventory lists (404 to them, v3 refused).
    takes_lists: bool,
    /// Inventory lists held, by address.
    lists: HashMap<String, Vec<u8>>,
    /// The address of every inventory list sent, in order (repeats too).
    list_posts: Vec<String>,
    /// Every report answer's error code, in order (`None` for a receipt).
    report_answers: Vec<Option<ErrorCode>>,
}

pub(crate) struct FakeCollector {
    addr: SocketAddr,
    cert: rcgen::Certificate,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeCollector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) const AGENT_ID: &str = "agt_test";

impl FakeCollector {
    pub(crate) async fn start() -> FakeCollector {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        FakeCollector::start_on(listener).await
    }

    pub(crate) async fn start_on(listener: tokio::net::TcpListener) -> FakeCollector {
        let addr = listener.local_addr().unwrap();
        let certified =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
                .unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let config = rustls::ServerConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let tokens = HashMap::from([
            ("good".to_owned(), None),
            ("expired".to_owned(), Some(ErrorCode::TokenExpired)),
            ("used".to_owned(), Some(ErrorCode::TokenUsedUp)),
        ]);
        let inner = Arc::new(Mutex::new(Inner {
            mode: Mode::Up,
            agents: HashMap::new(),
            stored: BTreeMap::new(),
            arrivals: Vec::new(),
            next_log_index: 0,
            tokens,
            takes_deltas: true,
            forget_bases: false,
            uploads: Vec::new(),
            takes_lists: true,
            lists: HashMap::new(),
            list_posts: Vec::new(),
            report_answers: Vec::new(),
        }));
        let shared = inner.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                if shared.lock().unwrap().mode == Mode::Down {
                    drop(tcp);
                    continue;
                }
                let acceptor = acceptor.clone();
                let shared = shared.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move {
                            // Down: drop the connection without an answer.
                            if shared.lock().unwrap().mode == Mode::Down {
                                return Err(std::io::Error::other("down"));
                            }
                            Ok(handle(&shared, req).await)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        FakeCollector {
            addr,
            cert: certified.cert,
            inner,
            task,
        }
    }

    pub(crate) fn url(&self) -> reqwest::Url {
        reqwest::Url::parse(&format!("https://{}/", self.addr)).unwrap()
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn pin(&self) -> Pin {
        Pin::of_der(self.cert.der())
    }

    pub(crate) fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    pub(crate) fn unrelated_cert_pem() -> String {
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()])
            .unwrap()
            .cert
            .pem()
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        "2026-11-25T14:00:00Z".parse().unwrap()
    }

    pub(crate) fn set_mode(&self, mode: Mode) {
        self.inner.lock().unwrap().mode = mode;
    }

    pub(crate) fn agent_id(&self) -> String {
        AGENT_ID.to_owned()
    }

    /// Enrolls a fixed key without HTTP.
    pub(crate) fn enroll_direct(&self) -> (SigningKey, String) {
        let key = SigningKey::from_bytes(&[42; 32]);
        self.inner.lock().unwrap().agents.insert(
            keyid(&key.verifying_key()),
            (AGENT_ID.to_owned(), key.verifying_key()),
        );
        (key, AGENT_ID.to_owned())
    }

    /// Whether the fake takes deltas (an older collector when `false`).
    pub(crate) fn set_takes_deltas(&self, on: bool) {
        self.inner.lock().unwrap().takes_deltas = on;
    }

    /// Refuse every delta as if the base were unknown.
    pub(crate) fn set_forget_bases(&self, on: bool) {
        self.inner.lock().unwrap().forget_bases = on;
    }

    /// How each report upload came, in order: `full`, `delta`, `delta refused`.
    pub(crate) fn uploads(&self) -> Vec<&'static str> {
        self.inner.lock().unwrap().uploads.clone()
    }

    /// The envelope stored for `seq`.
    pub(crate) fn stored_envelope(&self, seq: u64) -> Option<Vec<u8>> {
        self.inner
            .lock()
            .unwrap()
            .stored
            .get(&seq)
            .map(|s| s.envelope.clone())
    }

    /// Makes the fake a collector that predates inventory lists (or not).
    pub(crate) fn set_takes_lists(&self, takes: bool) {
        self.inner.lock().unwrap().takes_lists = takes;
    }

    /// Forgets the inventory lists held (a collector that lost them).
    pub(crate) fn forget_lists(&self) {
        self.inner.lock().unwrap().lists.clear();
    }

    /// The addresses of the inventory lists sent, in order (repeats too).
    pub(crate) fn list_posts(&self) -> Vec<String> {
        self.inner.lock().unwrap().list_posts.clone()
    }

    /// The inventory list held under `address`.
    pub(crate) fn list(&self, address: &str) -> Option<Vec<u8>> {
        self.inner.lock().unwrap().lists.get(address).cloned()
    }

    /// The error code of every answer to a report, in order (`None`: a receipt).
    pub(crate) fn report_answers(&self) -> Vec<Option<ErrorCode>> {
        self.inner.lock().unwrap().report_answers.clone()
    }

    /// The schema of each stored report, by seq.
    pub(crate) fn stored_schemas(&self) -> Vec<String> {
        self.inner
            .lock()
            .unwrap()
            .stored
            .values()
            .map(|s| s.schema.clone())
            .collect()
    }

    /// The seqs stored, in seq order.
    pub(crate) fn stored_seqs(&self) -> Vec<u64> {
        self.inner.lock().unwrap().stored.keys().copied().collect()
    }

    /// The seqs accepted, in the order they arrived.
    pub(crate) fn arrivals(&self) -> Vec<u64> {
        self.inner.lock().unwrap().arrivals.clone()
    }

    /// Whether the stored reports form one unbroken chain from the genesis.
    pub(crate) fn chain_unbroken(&self, key: &VerifyingKey) -> bool {
        let inner = self.inner.lock().unwrap();
        let mut prev = genesis_prev(key);
        for (i, (seq, stored)) in inner.stored.iter().enumerate() {
            if *seq != i as u64 + 1 || stored.prev != prev {
                return false;
            }
            prev = stored.link.clone();
        }
        true
    }
}

fn json(status: u16, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// The fake's own header naming an error answer's code (for [`Inner::report_answers`]).
const ERROR_CODE_HEADER: &str = "x-fake-error-code";

fn error(code: ErrorCode, message: &str) -> Response<Full<Bytes>> {
    let body = ErrorBody::new(code, message);
    let mut response = json(body.http_status(), serde_json::to_vec(&body).unwrap());
    response.headers_mut().insert(
        ERROR_CODE_HEADER,
        hyper::header::HeaderValue::from_static(code.as_str()),
    );
    response
}

async fn handle(
    shared: &Arc<Mutex<Inner>>,
    req: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    use attest_proto::form::{
        DELTA_ACCEPT_HEADER, DELTA_ACCEPT_VALUE, DELTA_BASE_HEADER, DELTA_CONTENT_TYPE,
    };
    let path = req.uri().path().to_owned();
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &hyper::header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let is_delta =
        header(hyper::header::CONTENT_TYPE.as_str()).as_deref() == Some(DELTA_CONTENT_TYPE);
    let base = header(DELTA_BASE_HEADER);
    let Ok(body) = req.into_body().collect().await else {
        return error(ErrorCode::Malformed, "unreadable body");
    };
    let body = body.to_bytes();
    let mut inner = shared.lock().unwrap();
    let mut response = match path.as_str() {
        "/v1/enroll" => enroll(&mut inner, &body),
        "/v1/reports" => {
            let answer = if is_delta && inner.takes_deltas {
                match expand(&inner, base.as_deref(), &body) {
                    Ok(envelope) => {
                        inner.uploads.push("delta");
                        report(&mut inner, &envelope)
                    }
                    Err(refused) => {
                        inner.uploads.push("delta refused");
                        refused
                    }
                }
            } else {
                inner
                    .uploads
                    .push(if is_delta { "delta refused" } else { "full" });
                report(&mut inner, &body)
            };
            let code = answer
                .headers()
                .get(ERROR_CODE_HEADER)
                .and_then(|v| v.to_str().ok()?.parse::<ErrorCode>().ok());
            inner.report_answers.push(code);
            answer
        }
        "/v1/inventory-lists" if inner.takes_lists => inventory_list(&mut inner, &body),
        _ => error(ErrorCode::NotFound, "no such endpoint"),
    };
    if inner.takes_deltas {
        response.headers_mut().insert(
            DELTA_ACCEPT_HEADER,
            hyper::header::HeaderValue::from_static(DELTA_ACCEPT_VALUE),
        );
    }
    response
}

/// The envelope a delta rebuilds to against the stored report its header names.
#[allow(clippy::result_large_err)]
fn expand(
    inner: &Inner,
    base: Option<&str>,
    body: &[u8],
) -> Result<Vec<u8>, Response<Full<Bytes>>> {
    let unknown = || error(ErrorCode::DeltaBaseUnknown, "base unknown");
    let Some(base) = base.and_then(attest_proto::form::DeltaBase::parse) else {
        return Err(error(ErrorCode::Malformed, "no base named"));
    };
    if inner.forget_bases || base.agent_id != AGENT_ID {
        return Err(unknown());
    }
    let Some(stored) = inner.stored.get(&base.seq) else {
        return Err(unknown());
    };
    if stored.receipt.payload_sha256 != base.payload_sha256 {
        return Err(unknown());
    }
    let dict = attest_proto::form::to_form(&stored.envelope);
    let form = zstd::bulk::Decompressor::with_dictionary(&dict)
        .and_then(|mut d| d.decompress(body, attest_proto::MAX_ENVELOPE_BYTES + 16))
        .map_err(|_| unknown())?;
    attest_proto::form::from_form(&form).map_err(|_| unknown())
}

fn enroll(inner: &mut Inner, body: &[u8]) -> Response<Full<Bytes>> {
    let (request, key) = match EnrollRequest::from_json(body) {
        Ok(ok) => ok,
        Err(e) => return error(e.code(), &e.to_string()),
    };
    match inner.tokens.get(&request.token) {
        None => error(ErrorCode::BadToken, "unknown token"),
        Some(Some(code)) => error(*code, "token not usable"),
        Some(None) => {
            inner.agents.insert(keyid(&key), (AGENT_ID.to_owned(), key));
            let response = EnrollResponse {
                agent_id: AGENT_ID.to_owned(),
                collector_key: None,
            };
            json(200, serde_json::to_vec(&response).unwrap())
        }
    }
}

fn report(inner: &mut Inner, body: &[u8]) -> Response<Full<Bytes>> {
    if let Mode::RateLimited { retry_after } = inner.mode {
        let mut response = error(ErrorCode::RateLimited, "slow down");
        response.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from_str(&retry_after.to_string()).unwrap(),
        );
        return response;
    }
    let envelope = match Envelope::from_json(body) {
        Ok(e) => e,
        Err(e) => return error(e.code(), &e.to_string()),
    };
    let Some((agent_id, key)) = envelope
        .keyids()
        .find_map(|id| inner.agents.get(id).cloned())
    else {
        return error(ErrorCode::UnknownKey, "no agent has this key");
    };
    let payload = match envelope.verify(&key) {
        Ok(p) => p,
        Err(e) => return error(e.code(), &e.to_string()),
    };
    let statement = match Statement::from_slice(&payload) {
        Ok(s) => s,
        Err(e) => return error(e.code(), &e.to_string()),
    };
    let report = &statement.predicate;
    if report.agent_id != agent_id {
        return error(ErrorCode::WrongKey, "signed by another agent's key");
    }
    if let Some(address) = attest_proto::inventory::address_of(report) {
        if !inner.takes_lists {
            return error(ErrorCode::NotAStatement, "predicate schema is not known");
        }
        if !inner.lists.contains_key(address) {
            return error(ErrorCode::InventoryListUnknown, "send the list first");
        }
    }
    let link = link_of(&payload);
    let genesis = genesis_prev(&key);
    let seq = report.seq;
    let head = inner.stored.last_key_value().map(|(s, st)| Head {
        seq: *s,
        link: st.link.as_str(),
    });
    let view = StoredView {
        genesis: &genesis,
        head,
        at_seq: inner.stored.get(&seq).map(|s| s.link.as_str()),
        before: seq
            .checked_sub(1)
            .and_then(|s| inner.stored.get(&s))
            .map(|s| s.link.as_str()),
        after_prev: seq
            .checked_add(1)
            .and_then(|s| inner.stored.get(&s))
            .map(|s| s.prev.as_str()),
    };
    let verdict = classify(
        &view,
        &Incoming {
            seq,
            prev: &report.prev,
            link: &link,
        },
    );
    let mode = inner.mode;
    let receipt = match verdict {
        ChainVerdict::Duplicate => {
            let Some(stored) = inner.stored.get(&seq) else {
                return error(ErrorCode::Internal, "lost");
            };
            Receipt {
                duplicate: true,
                ..stored.receipt.clone()
            }
        }
        v if v.is_accepted() => {
            let receipt = Receipt {
                agent_id: agent_id.clone(),
                seq,
                payload_sha256: attest_proto::sha256_hex(&payload),
                log_index: inner.next_log_index,
                duplicate: false,
            };
            inner.next_log_index += 1;
            inner.stored.insert(
                seq,
                Stored {
                    schema: report.schema.clone(),
                    prev: report.prev.clone(),
                    link,
                    receipt: receipt.clone(),
                    envelope: body.to_vec(),
                },
            );
            inner.arrivals.push(seq);
            receipt
        }
        other => {
            let code = other.error_code().unwrap_or(ErrorCode::ChainConflict);
            return error(code, &format!("{other:?} at seq {seq}"));
        }
    };
    match mode {
        Mode::WrongReceipt => {
            let wrong = Receipt {
                payload_sha256: "00".repeat(32),
                ..receipt
            };
            json(200, serde_json::to_vec(&wrong).unwrap())
        }
        Mode::GarbageReceipt => json(200, b"{}".to_vec()),
        _ => json(200, serde_json::to_vec(&receipt).unwrap()),
    }
}

fn inventory_list(inner: &mut Inner, body: &[u8]) -> Response<Full<Bytes>> {
    use attest_proto::inventory::{
        INVENTORY_LIST_PAYLOAD_TYPE, InventoryList, ListReceipt, address,
    };
    let envelope = match Envelope::from_json(body) {
        Ok(e) => e,
        Err(e) => return error(e.code(), &e.to_string()),
    };
    let Some((_, key)) = envelope
        .keyids()
        .find_map(|id| inner.agents.get(id).cloned())
    else {
        return error(ErrorCode::UnknownKey, "no agent has this key");
    };
    let document = match envelope.verified_payload_of_type(INVENTORY_LIST_PAYLOAD_TYPE, &key) {
        Ok(p) => p.to_vec(),
        Err(e) => return error(e.code(), &e.to_string()),
    };
    if let Err(e) = InventoryList::from_slice(&document) {
        return error(e.code(), &e.to_string());
    }
    let address = address(&document);
    inner.list_posts.push(address.clone());
    let duplicate = inner.lists.insert(address.clone(), document).is_some();
    json(
        200,
        serde_json::to_vec(&ListReceipt { address, duplicate }).unwrap(),
    )
}

/// A small report for `agent_id` at `seq` with `prev`.
pub(crate) fn report_at(agent_id: &str, seq: u64, prev: &str) -> Report {
    Report {
        schema: REPORT_SCHEMA_V1.into(),
        agent_id: agent_id.into(),
        seq,
        prev: prev.into(),
        collected_at: "2026-11-25T14:00:00Z".parse().unwrap(),
        agent: AgentInfo {
            version: "0.1.0".into(),
            replay: false,
        },
        host: HostInfo {
            hostname: "web-1".into(),
            machine_id: "0123456789abcdef".into(),
            ..HostInfo::default()
        },
        results: Vec::new(),
    }
}

/// A signed envelope (JSON) of a report at `seq` with `prev`, and its statement bytes.
pub(crate) fn signed_report(
    key: &SigningKey,
    agent_id: &str,
    seq: u64,
    prev: &str,
) -> (Vec<u8>, Vec<u8>) {
    let statement = Statement::for_report(report_at(agent_id, seq, prev))
        .to_bytes()
        .unwrap();
    let envelope = Envelope::sign(&statement, key).to_json().unwrap();
    (envelope, statement)
}

/// `n` signed envelopes forming a chain from the genesis of `key`.
pub(crate) fn signed_reports(key: &SigningKey, agent_id: &str, n: usize) -> Vec<Vec<u8>> {
    let mut chain = ChainState::genesis(&key.verifying_key());
    (0..n)
        .map(|_| {
            let (envelope, statement) = signed_report(key, agent_id, chain.next_seq, &chain.prev);
            chain.advance(&statement);
            envelope
        })
        .collect()
}
