//! Delivery to the collector over HTTPS (reqwest on rustls with the `ring` provider),
//! and the spool drain.
//!
//! # What happens to a record
//!
//! [`drain`] sends the spool's records oldest first, one at a time, and stops at the
//! first one that cannot be delivered now, so the collector receives every agent's
//! reports in `seq` order.
//!
//! | collector answer | the record | the drain |
//! | --- | --- | --- |
//! | 200 with a receipt for this `seq` and payload SHA-256 (also for a duplicate) | deleted | goes on |
//! | 200 with any other body or a receipt that does not match | kept | stops; retried with backoff |
//! | 429 `rate_limited` | kept | stops; retried after `Retry-After` (backoff when absent) |
//! | 5xx, no answer, connection or TLS failure | kept | stops; retried with backoff |
//! | 401 / 403 / 404 (`unknown_agent`, `unknown_key`, `wrong_key`, `revoked`, …) | kept | stops; retried with backoff: the problem is the agent's enrollment, not the report, and deleting evidence would not fix it |
//! | 409 `inventory_list_unknown` (a v3 report) | kept | the inventory list is sent and the report sent again at once ([`crate::lists`]); quarantined only when the agent has no intact copy of the list |
//! | 409 `chain_conflict`, other 4xx (`malformed`, `not_a_statement`, `too_large`, …) | **quarantined** with the collector's code and message | goes on |
//!
//! A report sent by difference ([`crate::delta`]) that the collector refuses with a
//! 4xx that would quarantine it (412 `delta_base_unknown`: the collector does not
//! have the base; 400 `malformed` from a collector that does not take deltas) is sent
//! again in full at once, and the table applies to the answer to that.
//!
//! A permanently rejected record is quarantined rather than kept, so that one bad
//! record can never block the queue; it stays on disk (`spool/quarantine/`) for an
//! administrator to look at. A record whose body is not a DSSE envelope is quarantined
//! before it is sent. A record is deleted only after its receipt is checked, so a crash
//! or a `kill -9` mid-upload means that record is sent again, which the collector
//! answers with the same receipt (`duplicate: true`): delivered once.

use std::fmt::Write as _;
use std::time::Duration;

use attest_proto::enroll::MAX_RESPONSE_BYTES;
use attest_proto::{
    EnrollRequest, EnrollResponse, Envelope, ErrorBody, ErrorCode, Receipt, SigningKey,
};
use chrono::{DateTime, Utc};

use crate::backoff;
use crate::delta::DeltaSender;
use crate::lists::{self, Lists};
use crate::spool::{Record, Spool, SpoolError};
use crate::tls::{self, PinMismatch, Trust};

/// How long to wait for a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one request may take in all.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("proxy {proxy:?} is not usable: {detail}")]
    Proxy { proxy: String, detail: String },
    #[error("HTTPS client setup failed: {0}")]
    Build(String),
}

/// An HTTPS client for one collector.
#[derive(Debug, Clone)]
pub struct CollectorClient {
    client: reqwest::Client,
    base: reqwest::Url,
}

/// What the collector (or the network) answered to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 2xx and the body.
    Ok(Vec<u8>),
    /// A non-2xx status, the error body when it decoded, and `Retry-After` if sent.
    Error {
        status: u16,
        body: Option<ErrorBody>,
        retry_after: Option<String>,
    },
    /// No HTTP answer: the message says why, in one line.
    Unreachable(String),
}

impl CollectorClient {
    /// A client for the collector at `base` trusting `trust`, through `proxy` if set.
    pub fn new(
        base: &reqwest::Url,
        trust: &Trust,
        proxy: Option<&str>,
    ) -> Result<Self, ClientError> {
        let tls = tls::client_config(trust)?;
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(true)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("attest-agent/", env!("CARGO_PKG_VERSION")));
        builder = match proxy {
            Some(p) => builder.proxy(reqwest::Proxy::https(p).map_err(|e| ClientError::Proxy {
                proxy: p.to_owned(),
                detail: e.to_string(),
            })?),
            None => builder.no_proxy(),
        };
        let client = builder.build().map_err(|e| ClientError::Build(chain(&e)))?;
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(CollectorClient { client, base })
    }

    pub fn base(&self) -> &reqwest::Url {
        &self.base
    }

    /// POSTs a JSON body to `path` (relative to the base URL).
    pub async fn post(&self, path: &str, body: Vec<u8>) -> Answer {
        self.send(path, body, None).await.0
    }

    /// POSTs `body` to `path`: JSON, or a delta naming its base (`Some(header value)`).
    /// Also says whether the answer carried the header by which the collector says it
    /// takes deltas.
    async fn send(&self, path: &str, body: Vec<u8>, delta_base: Option<&str>) -> (Answer, bool) {
        use attest_proto::form::{
            DELTA_ACCEPT_HEADER, DELTA_ACCEPT_VALUE, DELTA_BASE_HEADER, DELTA_CONTENT_TYPE,
        };
        let url = match self.base.join(path) {
            Ok(url) => url,
            Err(e) => {
                let why = format!("bad URL {}{path}: {e}", self.base);
                return (Answer::Unreachable(why), false);
            }
        };
        let mut request = self
            .client
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json");
        request = match delta_base {
            Some(base) => request
                .header(reqwest::header::CONTENT_TYPE, DELTA_CONTENT_TYPE)
                .header(DELTA_BASE_HEADER, base),
            None => request.header(reqwest::header::CONTENT_TYPE, "application/json"),
        };
        let mut response = match request.body(body).send().await {
            Ok(r) => r,
            Err(e) => return (Answer::Unreachable(describe(&e, &self.base)), false),
        };
        let takes_deltas = response
            .headers()
            .get(DELTA_ACCEPT_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim() == DELTA_ACCEPT_VALUE));
        (self.answer(&mut response).await, takes_deltas)
    }

    async fn answer(&self, response: &mut reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                        return Answer::Unreachable(format!(
                            "the collector at {} sent an answer over {MAX_RESPONSE_BYTES} bytes",
                            self.base
                        ));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Answer::Unreachable(describe(&e, &self.base)),
            }
        }
        if (200..300).contains(&status) {
            Answer::Ok(bytes)
        } else {
            Answer::Error {
                status,
                body: ErrorBody::from_json(&bytes).ok(),
                retry_after,
            }
        }
    }

    /// `POST /v1/enroll`.
    pub async fn enroll(&self, request: &EnrollRequest) -> Result<EnrollResponse, EnrollFailure> {
        let body = serde_json::to_vec(request)
            .map_err(|e| EnrollFailure::Other(format!("encoding the enrollment request: {e}")))?;
        match self.post("v1/enroll", body).await {
            Answer::Ok(bytes) => EnrollResponse::from_json(&bytes).map_err(|e| {
                EnrollFailure::Other(format!(
                    "the collector at {} answered the enrollment with something else than an enrollment response ({e})",
                    self.base
                ))
            }),
            Answer::Error { status, body, .. } => Err(EnrollFailure::Refused {
                status,
                code: body.as_ref().map(|b| b.error),
                message: body.map(|b| b.message).unwrap_or_default(),
            }),
            Answer::Unreachable(why) => Err(EnrollFailure::Unreachable(why)),
        }
    }

    /// `POST /v1/reports` with one spool record in full, and what to do with it.
    pub async fn send_report(&self, agent_id: &str, record: &Record) -> Delivery {
        self.send_report_with(agent_id, record, &DeltaSender::off())
            .await
            .delivery
    }

    /// `POST /v1/reports` with one spool record: as a delta against `delta`'s base
    /// when there is one, in full when not or when the delta is refused (see the
    /// module docs).
    pub async fn send_report_with(
        &self,
        agent_id: &str,
        record: &Record,
        delta: &DeltaSender,
    ) -> Sent {
        let envelope = match Envelope::from_json(&record.body) {
            Ok(envelope) => envelope,
            Err(e) => {
                return Sent {
                    delivery: Delivery::Reject(format!("not a DSSE envelope, never sent ({e})")),
                    takes_deltas: false,
                    as_delta: false,
                    wire_bytes: 0,
                };
            }
        };
        let payload_sha256 = attest_proto::sha256_hex(&envelope.payload);
        if let Some((base, body)) = delta.encode(&record.body) {
            let wire_bytes = body.len();
            let (answer, takes_deltas) = self.send("v1/reports", body, Some(&base)).await;
            match judge(answer, agent_id, record.seq, &payload_sha256) {
                Delivery::Reject(reason) => {
                    tracing::info!(seq = record.seq, reason = %reason, "report sent by difference refused; sending it in full");
                }
                delivery => {
                    return Sent {
                        delivery,
                        takes_deltas,
                        as_delta: true,
                        wire_bytes,
                    };
                }
            }
        }
        let wire_bytes = record.body.len();
        let (answer, takes_deltas) = self.send("v1/reports", record.body.clone(), None).await;
        Sent {
            delivery: judge(answer, agent_id, record.seq, &payload_sha256),
            takes_deltas,
            as_delta: false,
            wire_bytes,
        }
    }
}

/// One upload of a report and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub delivery: Delivery,
    /// The answer said the collector takes reports sent by difference.
    pub takes_deltas: bool,
    /// The request that got `delivery` carried a delta.
    pub as_delta: bool,
    /// Bytes of that request's body.
    pub wire_bytes: usize,
}

/// What an answer to `POST /v1/reports` means for the record `seq` whose payload
/// has `payload_sha256`.
fn judge(answer: Answer, agent_id: &str, record_seq: u64, payload_sha256: &str) -> Delivery {
    match answer {
        Answer::Ok(bytes) => match Receipt::from_json(&bytes) {
            Ok(receipt)
                if receipt.seq == record_seq
                    && receipt.payload_sha256 == payload_sha256
                    && receipt.agent_id == agent_id =>
            {
                Delivery::Delivered(receipt)
            }
            Ok(receipt) => Delivery::Retry(format!(
                "the collector's receipt does not match report seq {record_seq} (it names seq {}, payload {})",
                receipt.seq, receipt.payload_sha256
            )),
            Err(e) => Delivery::Retry(format!(
                "the collector answered report seq {record_seq} without a valid receipt ({e})"
            )),
        },
        Answer::Error {
            status,
            body,
            retry_after,
        } => classify_error(status, body.as_ref(), retry_after),
        Answer::Unreachable(why) => Delivery::Retry(why),
    }
}

/// What to do with a record after one delivery attempt; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Acknowledged: delete it.
    Delivered(Receipt),
    /// Rejected for good: quarantine it with this reason, go on.
    Reject(String),
    /// Rate limited: keep it, retry after the `Retry-After` value (raw header) if any.
    RateLimited { retry_after: Option<String> },
    /// Keep it and retry later with backoff; the reason, one line.
    Retry(String),
    /// `inventory_list_unknown`: the collector needs the report's inventory list
    /// first ([`crate::lists`]); the collector's answer, one line.
    ListUnknown(String),
}

fn error_text(status: u16, body: Option<&ErrorBody>) -> String {
    match body {
        Some(b) => format!("{status} {}: {}", b.error, b.message),
        None => format!("HTTP {status}"),
    }
}

/// Sorts an error answer to `POST /v1/reports` (see the table in the module docs).
pub fn classify_error(
    status: u16,
    body: Option<&ErrorBody>,
    retry_after: Option<String>,
) -> Delivery {
    let code = body.map(|b| b.error);
    if status == 429 || code == Some(ErrorCode::RateLimited) {
        return Delivery::RateLimited { retry_after };
    }
    let text = error_text(status, body);
    if code == Some(ErrorCode::InventoryListUnknown) {
        return Delivery::ListUnknown(text);
    }
    match status {
        409 => Delivery::Reject(format!("rejected by the collector: {text}")),
        401 | 403 | 404 | 407 | 408 => Delivery::Retry(format!(
            "the collector refused the agent: {text}; check the enrollment (`attest-agent status`)"
        )),
        400..=499 => Delivery::Reject(format!("rejected by the collector: {text}")),
        _ => Delivery::Retry(format!("the collector failed: {text}")),
    }
}

/// Enrollment did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum EnrollFailure {
    #[error("{0}")]
    Unreachable(String),
    #[error("{}", refused_text(*.status, *.code, .message))]
    Refused {
        status: u16,
        code: Option<ErrorCode>,
        message: String,
    },
    #[error("{0}")]
    Other(String),
}

fn refused_text(status: u16, code: Option<ErrorCode>, message: &str) -> String {
    let what = match code {
        Some(ErrorCode::TokenExpired) => {
            "the enrollment token has expired; ask for a new one (`attest-collector token create`)"
        }
        Some(ErrorCode::TokenUsedUp) => {
            "the enrollment token has no uses left; ask for a new one (`attest-collector token create`)"
        }
        Some(ErrorCode::BadToken) => {
            "the collector does not know this enrollment token; check --token"
        }
        Some(ErrorCode::RateLimited) => {
            "the collector is busy (rate limited); try again in a minute"
        }
        _ => "the collector refused the enrollment",
    };
    let code = code.map_or_else(|| format!("HTTP {status}"), |c| format!("{status} {c}"));
    if message.is_empty() {
        format!("{what} ({code})")
    } else {
        format!("{what} ({code}: {message})")
    }
}

/// One line for a failed request: unreachable, untrusted certificate, timeout, …
pub fn describe(err: &reqwest::Error, base: &reqwest::Url) -> String {
    let detail = chain(err);
    if let Some(rustls::Error::InvalidCertificate(cert)) = find_rustls_error(err) {
        let pin = match cert {
            rustls::CertificateError::Other(other) => other.0.downcast_ref::<PinMismatch>(),
            _ => None,
        };
        if let Some(pin) = pin {
            return format!(
                "the collector at {base} presented a certificate that does not match the pinned fingerprint (it presented sha256:{}); check --pin against `attest-collector fingerprint`",
                pin.got
            );
        }
        return format!(
            "the collector at {base} presented a certificate this agent does not trust ({cert:?}); check --ca-cert, or use --pin"
        );
    }
    if err.is_timeout() {
        return format!("the collector at {base} did not answer in time");
    }
    if err.is_connect() {
        return format!(
            "cannot reach the collector at {base}: {}; check the server address and that the collector is running",
            last_part(&detail)
        );
    }
    format!("request to the collector at {base} failed: {detail}")
}

/// The rustls error behind a request failure, if there is one: it sits inside an
/// `io::Error` somewhere in the source chain.
fn find_rustls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|inner| find_rustls_error(inner));
        if inner.is_some() {
            return inner;
        }
        current = e.source();
    }
    None
}

/// An error and its sources, joined with ": ", without repeats.
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            let _ = write!(out, ": {text}");
        }
        source = s.source();
    }
    out
}

fn last_part(detail: &str) -> &str {
    detail.rsplit(": ").next().unwrap_or(detail)
}

/// Why a drain stopped before the spool was empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// Retry after this long (the collector's `Retry-After`).
    RetryAfter(Duration),
    /// Retry with backoff; the reason.
    Backoff(String),
}

/// What one [`drain`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drained {
    /// Receipts of the delivered reports, in order.
    pub receipts: Vec<Receipt>,
    /// `seq` and reason of each record quarantined.
    pub quarantined: Vec<(u64, String)>,
    /// `None` when the spool is empty.
    pub stopped: Option<Stopped>,
}

/// Sends the spool's records oldest first until it is empty or one cannot be
/// delivered now (see the module docs). `now` is used for `Retry-After` dates only.
pub async fn drain(
    spool: &Spool,
    client: &CollectorClient,
    agent_id: &str,
    now: DateTime<Utc>,
) -> Result<Drained, SpoolError> {
    drain_with(spool, None, client, agent_id, now, &mut DeltaSender::off()).await
}

/// The inventory lists of a drain and the key that signs them.
#[derive(Debug, Clone, Copy)]
pub struct ListSender<'a> {
    pub lists: &'a Lists,
    pub key: &'a SigningKey,
}

/// [`drain`], sending each v3 record's inventory list first when the collector has
/// not acknowledged it (see [`crate::lists`]; first asks the collector whether it
/// takes lists when that is not known), and each record as a delta against the last
/// one acknowledged when the collector takes deltas (`delta` keeps that base, see
/// [`crate::delta`]). Once the spool is empty, the lists no record needs any more are
/// deleted (the latest is kept).
pub async fn drain_with(
    spool: &Spool,
    lists: Option<ListSender<'_>>,
    client: &CollectorClient,
    agent_id: &str,
    now: DateTime<Utc>,
    delta: &mut DeltaSender,
) -> Result<Drained, SpoolError> {
    if let Some(l) = lists {
        crate::lists::probe(l.lists, client, l.key, now).await?;
    }
    let mut drained = Drained::default();
    while let Some(record) = spool.oldest()? {
        let sent = match lists {
            Some(l) => send_with_list(l, client, agent_id, &record, now, delta).await?,
            None => client.send_report_with(agent_id, &record, delta).await,
        };
        match sent.delivery {
            Delivery::Delivered(receipt) => {
                spool.remove(record.seq)?;
                delta.acknowledged(&record.body, sent.takes_deltas);
                tracing::info!(
                    seq = record.seq,
                    log_index = receipt.log_index,
                    duplicate = receipt.duplicate,
                    encoding = if sent.as_delta { "delta" } else { "full" },
                    wire_bytes = sent.wire_bytes,
                    "report delivered"
                );
                drained.receipts.push(receipt);
            }
            Delivery::Reject(reason) => {
                tracing::error!(seq = record.seq, reason = %reason, "report quarantined");
                spool.quarantine(record.seq, &reason)?;
                drained.quarantined.push((record.seq, reason));
            }
            Delivery::RateLimited { retry_after } => {
                let wait = retry_after
                    .as_deref()
                    .and_then(|v| backoff::retry_after(v, now));
                tracing::warn!(seq = record.seq, retry_after = ?wait, "collector rate limited the agent");
                drained.stopped = Some(match wait {
                    Some(wait) => Stopped::RetryAfter(wait),
                    None => Stopped::Backoff("the collector is rate limiting the agent".into()),
                });
                return Ok(drained);
            }
            Delivery::Retry(reason) | Delivery::ListUnknown(reason) => {
                tracing::warn!(seq = record.seq, reason = %reason, "report not delivered; will retry");
                drained.stopped = Some(Stopped::Backoff(reason));
                return Ok(drained);
            }
        }
    }
    if let Some(l) = lists {
        // The spool is empty here: what is kept is the latest list (the next report
        // names it unless the packages change) and the lists the quarantined reports
        // name, so that a quarantined v3 report can still be inspected and sent whole.
        let latest = l.lists.state().latest;
        let quarantined: Vec<String> = spool
            .quarantined_bodies()?
            .iter()
            .filter_map(|body| crate::lists::named_by(body))
            .collect();
        let keep: Vec<&str> = latest
            .as_deref()
            .into_iter()
            .chain(quarantined.iter().map(String::as_str))
            .collect();
        let deleted = l.lists.retain(&keep)?;
        if deleted > 0 {
            tracing::debug!(deleted, "inventory lists no report needs any more deleted");
        }
    }
    Ok(drained)
}

/// Sends a record, its inventory list first when the collector has not acknowledged
/// it, and once more after sending the list when the collector answers
/// `inventory_list_unknown`. Never returns [`Delivery::ListUnknown`].
async fn send_with_list(
    l: ListSender<'_>,
    client: &CollectorClient,
    agent_id: &str,
    record: &Record,
    now: DateTime<Utc>,
    delta: &DeltaSender,
) -> Result<Sent, SpoolError> {
    // An answer that stops the record before the report itself went.
    let stopped = |delivery| Sent {
        delivery,
        takes_deltas: false,
        as_delta: false,
        wire_bytes: 0,
    };
    let named = crate::lists::named_by(&record.body);
    if let Some(address) = &named
        && l.lists.state().acknowledged.as_deref() != Some(address.as_str())
        && let Some(stop) = send_list(l, client, address, now).await?
    {
        return Ok(stopped(stop));
    }
    let sent = client.send_report_with(agent_id, record, delta).await;
    let Delivery::ListUnknown(text) = &sent.delivery else {
        return Ok(sent);
    };
    let Some(address) = named else {
        return Ok(Sent {
            delivery: Delivery::Retry(text.clone()),
            ..sent
        });
    };
    if l.lists.get(&address)?.is_none() {
        return Ok(Sent {
            delivery: Delivery::Reject(format!(
                "the collector does not hold inventory list {address} and this agent has no intact \
                 copy of it ({text})"
            )),
            ..sent
        });
    }
    if let Some(stop) = send_list(l, client, &address, now).await? {
        return Ok(stopped(stop));
    }
    let sent = client.send_report_with(agent_id, record, delta).await;
    Ok(match sent.delivery {
        Delivery::ListUnknown(text) => Sent {
            delivery: Delivery::Retry(format!(
                "the collector took inventory list {address} but still does not hold it: {text}"
            )),
            ..sent
        },
        delivery => Sent { delivery, ..sent },
    })
}

/// Sends the inventory list `address`; `None` when the report should go now (the
/// collector took the list, or the agent has no copy, or the collector does not take
/// lists at all: the report then gets the collector's own answer), else what to do
/// with the record.
async fn send_list(
    l: ListSender<'_>,
    client: &CollectorClient,
    address: &str,
    now: DateTime<Utc>,
) -> Result<Option<Delivery>, SpoolError> {
    let Some(document) = l.lists.get(address)? else {
        tracing::warn!(
            address,
            "inventory list of a spooled report is missing; sending the report alone"
        );
        return Ok(None);
    };
    match crate::lists::send(client, l.key, &document).await {
        lists::Sent::Taken => {
            tracing::info!(address, "inventory list delivered");
            l.lists.update_state(|s| {
                s.accepted = true;
                s.refused_at = None;
                s.acknowledged = Some(address.to_owned());
            })?;
            Ok(None)
        }
        lists::Sent::NotTaken => {
            tracing::warn!(
                "the collector no longer takes inventory lists; reports keep their package list from now on"
            );
            l.lists.update_state(|s| {
                s.accepted = false;
                s.refused_at = Some(now);
            })?;
            Ok(None)
        }
        lists::Sent::Failed {
            rate_limited: Some(retry_after),
            ..
        } => Ok(Some(Delivery::RateLimited { retry_after })),
        lists::Sent::Failed { why, .. } => Ok(Some(Delivery::Retry(why))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_collector::{FakeCollector, Mode, signed_report, signed_reports};
    use crate::tls::Pin;

    #[test]
    fn error_answers_are_sorted() {
        let body = |code| ErrorBody::new(code, "m");
        assert!(matches!(
            classify_error(409, Some(&body(ErrorCode::ChainConflict)), None),
            Delivery::Reject(r) if r.contains("409 chain_conflict: m")
        ));
        assert!(matches!(
            classify_error(400, Some(&body(ErrorCode::NotAStatement)), None),
            Delivery::Reject(_)
        ));
        assert!(matches!(
            classify_error(413, None, None),
            Delivery::Reject(_)
        ));
        for status in [401, 403, 404, 500, 502, 503] {
            assert!(
                matches!(classify_error(status, None, None), Delivery::Retry(_)),
                "{status}"
            );
        }
        assert_eq!(
            classify_error(429, None, Some("7".into())),
            Delivery::RateLimited {
                retry_after: Some("7".into())
            }
        );
    }

    #[test]
    fn enrollment_refusals_say_what_to_do() {
        let line = refused_text(401, Some(ErrorCode::TokenExpired), "token expired");
        assert!(
            line.contains("has expired") && line.contains("token create"),
            "{line}"
        );
        let line = refused_text(401, Some(ErrorCode::TokenUsedUp), "");
        assert!(line.contains("no uses left"), "{line}");
        assert_eq!(
            refused_text(500, None, ""),
            "the collector refused the enrollment (HTTP 500)"
        );
    }

    async fn client_for(fake: &FakeCollector, pin: Pin) -> CollectorClient {
        CollectorClient::new(&fake.url(), &Trust::Pin(pin), None).unwrap()
    }

    #[tokio::test]
    async fn right_pin_is_accepted_wrong_pin_refused() {
        let fake = FakeCollector::start().await;
        let (key, _) = fake.enroll_direct();
        let reports = signed_reports(&key, &fake.agent_id(), 1);
        let spool_dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(spool_dir.path(), 1 << 20).unwrap();
        spool.append(1, &reports[0]).unwrap();

        let wrong = client_for(&fake, Pin([0x11; 32])).await;
        let drained = drain(&spool, &wrong, &fake.agent_id(), fake.now())
            .await
            .unwrap();
        let Some(Stopped::Backoff(why)) = drained.stopped else {
            panic!("{drained:?}")
        };
        assert!(
            why.contains("does not match the pinned fingerprint"),
            "{why}"
        );
        assert!(why.contains(&fake.pin().to_string()), "{why}");
        assert_eq!(fake.stored_seqs(), Vec::<u64>::new());

        let right = client_for(&fake, fake.pin()).await;
        let drained = drain(&spool, &right, &fake.agent_id(), fake.now())
            .await
            .unwrap();
        assert_eq!(drained.stopped, None);
        assert_eq!(drained.receipts.len(), 1);
        assert_eq!(fake.stored_seqs(), vec![1]);
        assert_eq!(spool.depth().unwrap().0, 0);
    }

    #[tokio::test]
    async fn a_ca_file_is_trusted_and_an_unrelated_one_is_not() {
        let fake = FakeCollector::start().await;
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, fake.cert_pem()).unwrap();
        let other = dir.path().join("other.pem");
        std::fs::write(&other, FakeCollector::unrelated_cert_pem()).unwrap();
        let req = EnrollRequest {
            token: "nope".into(),
            public_key: "x".into(),
            host: attest_proto::HostInfo::default(),
        };
        let client = CollectorClient::new(&fake.url(), &Trust::CaCert(good), None).unwrap();
        // Trusted: the collector answers (here: a refusal of the bad request).
        let err = client.enroll(&req).await.unwrap_err();
        assert!(
            matches!(err, EnrollFailure::Refused { status: 400, .. }),
            "{err}"
        );
        let client = CollectorClient::new(&fake.url(), &Trust::CaCert(other), None).unwrap();
        let err = client.enroll(&req).await.unwrap_err().to_string();
        assert!(err.contains("does not trust"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_collector_is_one_clear_line() {
        let fake = FakeCollector::start().await;
        let url = fake.url();
        let pin = fake.pin();
        drop(fake);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let client = CollectorClient::new(&url, &Trust::Pin(pin), None).unwrap();
        let record = Record {
            seq: 1,
            body: b"{}".to_vec(),
        };
        // Not an envelope: refused before sending.
        assert!(matches!(
            client.send_report("a", &record).await,
            Delivery::Reject(r) if r.contains("not a DSSE envelope")
        ));
        let req = EnrollRequest {
            token: "t".into(),
            public_key: "x".into(),
            host: attest_proto::HostInfo::default(),
        };
        let err = client.enroll(&req).await.unwrap_err().to_string();
        assert!(
            err.starts_with("cannot reach the collector at https://127.0.0.1:"),
            "{err}"
        );
        assert!(err.contains("collector is running"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[tokio::test]
    async fn rate_limiting_keeps_the_record_and_honours_retry_after() {
        let fake = FakeCollector::start().await;
        let (key, _) = fake.enroll_direct();
        let reports = signed_reports(&key, &fake.agent_id(), 2);
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        spool.append(1, &reports[0]).unwrap();
        spool.append(2, &reports[1]).unwrap();
        fake.set_mode(Mode::RateLimited { retry_after: 7 });
        let client = client_for(&fake, fake.pin()).await;
        let drained = drain(&spool, &client, &fake.agent_id(), fake.now())
            .await
            .unwrap();
        assert_eq!(
            drained.stopped,
            Some(Stopped::RetryAfter(Duration::from_secs(7)))
        );
        assert_eq!(spool.depth().unwrap().0, 2);
        fake.set_mode(Mode::Up);
        let drained = drain(&spool, &client, &fake.agent_id(), fake.now())
            .await
            .unwrap();
        assert_eq!(drained.receipts.len(), 2);
        assert_eq!(fake.stored_seqs(), vec![1, 2]);
    }

    #[tokio::test]
    async fn a_record_leaves_only_with_its_receipt() {
        let fake = FakeCollector::start().await;
        let (key, _) = fake.enroll_direct();
        let reports = signed_reports(&key, &fake.agent_id(), 2);
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        spool.append(1, &reports[0]).unwrap();
        spool.append(2, &reports[1]).unwrap();
        let client = client_for(&fake, fake.pin()).await;
        // The collector stores the report but answers with a receipt for another
        // payload, then with garbage: the record stays both times.
        for mode in [Mode::WrongReceipt, Mode::GarbageReceipt, Mode::Down] {
            fake.set_mode(mode);
            let drained = drain(&spool, &client, &fake.agent_id(), fake.now())
                .await
                .unwrap();
            assert!(
                matches!(drained.stopped, Some(Stopped::Backoff(_))),
                "{mode:?}"
            );
            assert!(drained.receipts.is_empty());
            assert_eq!(spool.depth().unwrap().0, 2, "{mode:?}");
        }
        fake.set_mode(Mode::Up);
        let drained = drain(&spool, &client, &fake.agent_id(), fake.now())
            .await
            .unwrap();
        // Seq 1 was stored by the first attempts: it comes back as a duplicate.
        assert_eq!(drained.receipts.len(), 2);
        assert!(drained.receipts[0].duplicate);
        assert!(!drained.receipts[1].duplicate);
        assert_eq!(fake.stored_seqs(), vec![1, 2]);
    }

    #[tokio::test]
    async fn conflicts_and_corruption_are_quarantined_and_the_rest_delivered() {
        let fake = FakeCollector::start().await;
        let (key, _) = fake.enroll_direct();
        let reports = signed_reports(&key, &fake.agent_id(), 4);
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        for (i, r) in reports.iter().enumerate() {
            spool.append(i as u64 + 1, r).unwrap();
        }
        // Seq 2 replaced by a report that does not link to seq 1 (the collector
        // answers 409 chain_conflict); seq 3 damaged on disk.
        let (broken, _) = signed_report(&key, &fake.agent_id(), 2, &link_of(b"elsewhere"));
        spool.remove(2).unwrap();
        spool.append(2, &broken).unwrap();
        let p3 = spool.dir().join(crate::spool::file_name(3));
        let mut bytes = std::fs::read(&p3).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 0x20;
        std::fs::write(&p3, bytes).unwrap();

        let client = client_for(&fake, fake.pin()).await;
        let drained = drain(&spool, &client, &fake.agent_id(), fake.now())
            .await
            .unwrap();
        assert_eq!(drained.stopped, None);
        assert_eq!(
            drained.receipts.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![1, 4]
        );
        assert_eq!(drained.quarantined.len(), 1);
        assert_eq!(drained.quarantined[0].0, 2);
        assert!(
            drained.quarantined[0].1.contains("409 chain_conflict"),
            "{:?}",
            drained.quarantined
        );
        assert_eq!(spool.quarantined().unwrap(), 2);
        let reason =
            std::fs::read_to_string(spool.quarantine_dir().join("00000000000000000002.reason"))
                .unwrap();
        assert!(reason.contains("chain_conflict"), "{reason}");
        assert_eq!(fake.stored_seqs(), vec![1, 4]);
        assert_eq!(spool.depth().unwrap().0, 0);
    }

    #[tokio::test]
    async fn a_revoked_or_unknown_agent_keeps_its_records() {
        let fake = FakeCollector::start().await;
        // Never enrolled with this collector: 401 unknown_key.
        let key = SigningKey::from_bytes(&[5; 32]);
        let reports = signed_reports(&key, "agt_other", 1);
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        spool.append(1, &reports[0]).unwrap();
        let client = client_for(&fake, fake.pin()).await;
        let drained = drain(&spool, &client, "agt_other", fake.now())
            .await
            .unwrap();
        let Some(Stopped::Backoff(why)) = drained.stopped else {
            panic!("{drained:?}")
        };
        assert!(
            why.contains("unknown_key") && why.contains("enrollment"),
            "{why}"
        );
        assert_eq!(spool.depth().unwrap().0, 1);
        assert_eq!(spool.quarantined().unwrap(), 0);
    }

    /// A spool of `n` chained reports of the fake's agent, with a state directory for
    /// the delta base.
    fn spool_of(fake: &FakeCollector, n: usize) -> (tempfile::TempDir, Spool, Vec<Vec<u8>>) {
        let (key, _) = fake.enroll_direct();
        let reports = signed_reports(&key, &fake.agent_id(), n);
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path().join("spool"), 1 << 20).unwrap();
        for (i, r) in reports.iter().enumerate() {
            spool.append(i as u64 + 1, r).unwrap();
        }
        (dir, spool, reports)
    }

    /// After the first receipt from a collector that takes deltas, each report goes
    /// as a delta against the last one acknowledged, smaller than the envelope, and
    /// the collector rebuilds exactly the envelope signed. The base is kept on disk:
    /// after a restart (a new sender from the same file) the next report goes as a
    /// delta too.
    #[tokio::test]
    async fn reports_go_as_deltas_against_the_last_acknowledged_and_the_base_survives_a_restart() {
        let fake = FakeCollector::start().await;
        let (dir, spool, reports) = spool_of(&fake, 4);
        let path = dir.path().join("delta-base.json");
        let client = client_for(&fake, fake.pin()).await;
        // Three now, the fourth after a "restart".
        let record4 = Record {
            seq: 4,
            body: reports[3].clone(),
        };
        spool.remove(4).unwrap();
        let mut delta = DeltaSender::open(path.clone(), &fake.agent_id());
        assert!(delta.base().is_none());
        let drained = drain_with(
            &spool,
            None,
            &client,
            &fake.agent_id(),
            fake.now(),
            &mut delta,
        )
        .await
        .unwrap();
        assert_eq!(drained.stopped, None);
        assert_eq!(drained.receipts.len(), 3);
        assert_eq!(fake.uploads(), ["full", "delta", "delta"]);
        for seq in 1..=3 {
            assert_eq!(
                fake.stored_envelope(seq).as_deref(),
                Some(reports[seq as usize - 1].as_slice()),
                "seq {seq} arrives as signed"
            );
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            reports[2],
            "the base on disk"
        );
        drop(delta);

        let delta = DeltaSender::open(path.clone(), &fake.agent_id());
        assert_eq!(delta.base().map(|b| b.seq), Some(3));
        let sent = client
            .send_report_with(&fake.agent_id(), &record4, &delta)
            .await;
        assert!(
            matches!(sent.delivery, Delivery::Delivered(ref r) if r.seq == 4),
            "{sent:?}"
        );
        assert!(sent.as_delta && sent.takes_deltas);
        assert!(
            sent.wire_bytes < reports[3].len(),
            "{} bytes for a {}-byte envelope",
            sent.wire_bytes,
            reports[3].len()
        );
        assert_eq!(
            fake.stored_envelope(4).as_deref(),
            Some(reports[3].as_slice())
        );
        // A base file of another agent (a new enrollment) is no base.
        assert!(DeltaSender::open(path, "agt_someone_else").base().is_none());
    }

    /// A collector that does not have the base answers 412 `delta_base_unknown`: the
    /// report goes again in full at once (no backoff, nothing quarantined), and every
    /// report is delivered in order.
    #[tokio::test]
    async fn a_delta_refused_for_its_base_is_sent_again_in_full_at_once() {
        let fake = FakeCollector::start().await;
        let (dir, spool, _) = spool_of(&fake, 3);
        let client = client_for(&fake, fake.pin()).await;
        let mut delta = DeltaSender::open(dir.path().join("delta-base.json"), &fake.agent_id());
        fake.set_forget_bases(true);
        let drained = drain_with(
            &spool,
            None,
            &client,
            &fake.agent_id(),
            fake.now(),
            &mut delta,
        )
        .await
        .unwrap();
        assert_eq!(drained.stopped, None);
        assert!(drained.quarantined.is_empty());
        assert_eq!(drained.receipts.len(), 3);
        assert_eq!(
            fake.uploads(),
            ["full", "delta refused", "full", "delta refused", "full"]
        );
        assert_eq!(fake.stored_seqs(), vec![1, 2, 3]);
        assert_eq!(spool.depth().unwrap().0, 0);
    }

    /// An older collector (no header saying it takes deltas) gets full envelopes and
    /// no base is kept; a base left from before (the collector was downgraded) is
    /// tried once, refused as `malformed`, the report resent in full, and the base
    /// dropped.
    #[tokio::test]
    async fn an_older_collector_gets_full_envelopes() {
        let fake = FakeCollector::start().await;
        let (dir, spool, reports) = spool_of(&fake, 3);
        let path = dir.path().join("delta-base.json");
        let client = client_for(&fake, fake.pin()).await;
        fake.set_takes_deltas(false);
        let mut delta = DeltaSender::open(path.clone(), &fake.agent_id());
        spool.remove(3).unwrap();
        let drained = drain_with(
            &spool,
            None,
            &client,
            &fake.agent_id(),
            fake.now(),
            &mut delta,
        )
        .await
        .unwrap();
        assert_eq!(drained.receipts.len(), 2);
        assert_eq!(fake.uploads(), ["full", "full"]);
        assert!(!path.exists());
        assert!(delta.base().is_none());

        // A base from when the collector took deltas.
        std::fs::write(&path, &reports[1]).unwrap();
        let mut delta = DeltaSender::open(path.clone(), &fake.agent_id());
        assert_eq!(delta.base().map(|b| b.seq), Some(2));
        spool.append(3, &reports[2]).unwrap();
        let drained = drain_with(
            &spool,
            None,
            &client,
            &fake.agent_id(),
            fake.now(),
            &mut delta,
        )
        .await
        .unwrap();
        assert_eq!(drained.stopped, None);
        assert!(drained.quarantined.is_empty());
        assert_eq!(drained.receipts.len(), 1);
        assert_eq!(fake.uploads(), ["full", "full", "delta refused", "full"]);
        assert_eq!(
            fake.stored_envelope(3).as_deref(),
            Some(reports[2].as_slice())
        );
        assert!(!path.exists(), "the base is dropped");
    }

    use attest_proto::{SigningKey, link_of};
    /// A spooled v3 report and its list: the list goes first (one report request);
    /// a v3 report whose list neither the collector nor the agent holds is
    /// quarantined, and the next report is delivered.
    #[tokio::test]
    async fn v3_records_send_their_list_first_or_are_quarantined_without_one() {
        use attest_proto::inventory::{self, Package};
        use attest_proto::{ChainState, CheckResult, Statement, Status};
        let fake = FakeCollector::start().await;
        let (key, agent_id) = fake.enroll_direct();
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        let lists = Lists::open(
            dir.path(),
            dir.path().join("lists.json"),
            fake.url().as_str(),
        )
        .unwrap();
        let mut chain = ChainState::genesis(&key.verifying_key());
        let mut documents = Vec::new();
        for seq in 1..=3u64 {
            let mut report = crate::fake_collector::report_at(&agent_id, 0, "");
            let packages = vec![Package {
                name: format!("p{seq}"),
                version: "1".into(),
                architecture: "all".into(),
            }];
            report.results.push(
                CheckResult::new(inventory::SOFTWARE_CHECK, Status::Info, "1 package")
                    .fact(inventory::PACKAGES_FACT, &packages),
            );
            let (_, document) = inventory::split(&mut report).unwrap().unwrap();
            chain.stamp(&mut report);
            let statement = Statement::for_report(report).to_bytes().unwrap();
            chain.advance(&statement);
            spool
                .append(seq, &Envelope::sign(&statement, &key).to_json().unwrap())
                .unwrap();
            documents.push(document);
        }
        // The agent keeps the lists of seq 1 and 3; the one of seq 2 is lost.
        lists.put(&documents[0]).unwrap();
        lists.put(&documents[2]).unwrap();
        let client = client_for(&fake, fake.pin()).await;
        let sender = ListSender {
            lists: &lists,
            key: &key,
        };
        let drained = drain_with(
            &spool,
            Some(sender),
            &client,
            &agent_id,
            fake.now(),
            &mut DeltaSender::off(),
        )
        .await
        .unwrap();
        assert_eq!(drained.stopped, None);
        assert_eq!(
            drained.receipts.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [1, 3]
        );
        assert_eq!(drained.quarantined.len(), 1);
        assert_eq!(drained.quarantined[0].0, 2);
        assert!(
            drained.quarantined[0].1.contains("no intact copy"),
            "{:?}",
            drained.quarantined
        );
        let sent = |d: &[u8]| inventory::address(d);
        assert_eq!(
            fake.list_posts(),
            [sent(&documents[0]), sent(&documents[2])]
        );
        assert_eq!(
            fake.report_answers(),
            [None, Some(ErrorCode::InventoryListUnknown), None]
        );
        assert_eq!(lists.state().acknowledged, Some(sent(&documents[2])));
        // The spool is empty: only the latest list (none recorded here) is kept.
        assert!(lists.addresses().unwrap().is_empty());
    }

    /// A quarantined v3 report keeps its inventory list once the spool is empty (it
    /// can be inspected or sent again whole); a list no spooled or quarantined report
    /// names is deleted, and so is the quarantined report's once it is cleared away.
    #[tokio::test]
    async fn a_quarantined_report_keeps_its_list_until_it_is_cleared() {
        use attest_proto::inventory::{self, Package};
        use attest_proto::{ChainState, CheckResult, Statement, Status};
        let fake = FakeCollector::start().await;
        let (key, agent_id) = fake.enroll_direct();
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        let lists = Lists::open(
            dir.path(),
            dir.path().join("lists.json"),
            fake.url().as_str(),
        )
        .unwrap();
        let mut chain = ChainState::genesis(&key.verifying_key());
        let mut documents = Vec::new();
        for seq in 1..=2u64 {
            let mut report = crate::fake_collector::report_at(&agent_id, 0, "");
            let packages = vec![Package {
                name: format!("q{seq}"),
                version: "1".into(),
                architecture: "all".into(),
            }];
            report.results.push(
                CheckResult::new(inventory::SOFTWARE_CHECK, Status::Info, "1 package")
                    .fact(inventory::PACKAGES_FACT, &packages),
            );
            let (_, document) = inventory::split(&mut report).unwrap().unwrap();
            chain.stamp(&mut report);
            let statement = Statement::for_report(report).to_bytes().unwrap();
            chain.advance(&statement);
            spool
                .append(seq, &Envelope::sign(&statement, &key).to_json().unwrap())
                .unwrap();
            lists.put(&document).unwrap();
            documents.push(document);
        }
        let unrelated = lists.put(b"nobody\t1\tall\n").unwrap();
        // Seq 1 is quarantined (as a rejected report would be); seq 2 is delivered.
        spool.quarantine(1, "rejected: test").unwrap();
        let client = client_for(&fake, fake.pin()).await;
        let drain = || async {
            drain_with(
                &spool,
                Some(ListSender {
                    lists: &lists,
                    key: &key,
                }),
                &client,
                &agent_id,
                fake.now(),
                &mut DeltaSender::off(),
            )
            .await
            .unwrap()
        };
        let drained = drain().await;
        assert_eq!(drained.stopped, None);
        assert!(spool.entries().unwrap().is_empty());
        let quarantined = inventory::address(&documents[0]);
        let mut expect = vec![quarantined.clone()];
        expect.extend(lists.state().latest);
        expect.sort();
        expect.dedup();
        let held = lists.addresses().unwrap();
        assert!(held.contains(&quarantined), "{held:?}");
        assert!(!held.contains(&unrelated), "{held:?}");
        assert_eq!(held, expect);
        assert_eq!(lists.get(&quarantined).unwrap(), Some(documents[0].clone()));
        // The operator clears the quarantine: the list goes with the next drain.
        std::fs::remove_dir_all(spool.quarantine_dir()).unwrap();
        drain().await;
        assert!(!lists.addresses().unwrap().contains(&quarantined));
    }
}
