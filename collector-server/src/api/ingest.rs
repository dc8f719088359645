//! `POST /v1/enroll` and `POST /v1/reports`.

use std::sync::Arc;
use std::time::Instant;

use attest_proto::{
    EnrollRequest, EnrollResponse, ErrorCode, MAX_ENROLL_BYTES, Receipt, encode_public_key, keyid,
};
use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};

use super::delta::{self, Encoding};
use super::{ApiError, AppState, Incoming, read_body};
use crate::auth::{hash_token, random_hex};
use crate::guard::ConnState;
use crate::ingest::{Prepared, Rejection, decode, prepare_with_form};
use crate::logsafe::esc;
use crate::store::{EnrollOutcome, IngestOutcome, NewAgent};

/// The connection the request came on (absent when the router runs in-process).
fn conn(parts: &axum::http::request::Parts) -> Option<&Arc<ConnState>> {
    parts.extensions.get::<Arc<ConnState>>()
}

pub async fn enroll(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = Incoming {
        body,
        headers: &parts.headers,
        conn: conn(&parts),
    };
    let response = match do_enroll(&state, body).await {
        Ok(resp) => {
            state.metrics.enrolled();
            Json(resp).into_response()
        }
        Err(e) => {
            state.metrics.enroll_rejected(e.code);
            tracing::info!(code = %e.code, message = %esc(&e.message), "enrollment refused");
            e.into_response()
        }
    };
    accepts_delta(response)
}

/// Says on the answer that this collector takes reports sent by difference
/// (`attest_proto::form`): the agent learns it from its enrollment and each receipt.
fn accepts_delta(mut response: Response) -> Response {
    response.headers_mut().insert(
        attest_proto::form::DELTA_ACCEPT_HEADER,
        axum::http::HeaderValue::from_static(attest_proto::form::DELTA_ACCEPT_VALUE),
    );
    response
}

async fn do_enroll(state: &AppState, body: Incoming<'_>) -> Result<EnrollResponse, ApiError> {
    let bytes = read_body(state, body, MAX_ENROLL_BYTES).await?;
    let (request, key) = EnrollRequest::from_json(&bytes)?;
    let now = state.clock.now_millis();
    let agent = NewAgent {
        id: format!("agt_{}", random_hex(16)),
        keyid: keyid(&key),
        public_key: key.to_bytes(),
        hostname: request.host.hostname,
        machine_id: request.host.machine_id,
        os_id: request.host.os.id,
        os_version_id: request.host.os.version_id,
        os_pretty_name: request.host.os.pretty_name,
        kernel: request.host.kernel,
        enrolled_at: now,
    };
    let agent_id = match state
        .store
        .enroll(&hash_token(&request.token), &agent, now)
        .await?
    {
        EnrollOutcome::Enrolled { agent_id } => {
            tracing::info!(agent_id = %agent_id, hostname = %esc(&agent.hostname), "agent enrolled");
            agent_id
        }
        EnrollOutcome::AlreadyEnrolled { agent_id } => {
            tracing::info!(agent_id = %agent_id, "enrollment repeated for an enrolled key");
            agent_id
        }
        EnrollOutcome::Refused(r) => return Err(ApiError::new(r.code(), r.message())),
    };
    Ok(EnrollResponse {
        agent_id,
        collector_key: Some(encode_public_key(&state.log_key.verifying_key())),
    })
}

pub async fn report(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let start = Instant::now();
    let (parts, body) = request.into_parts();
    let body = Incoming {
        body,
        headers: &parts.headers,
        conn: conn(&parts),
    };
    let response = match do_report(&state, body).await {
        Ok(receipt) => {
            if receipt.duplicate {
                state.metrics.duplicate(start.elapsed());
            } else {
                state.metrics.accepted(start.elapsed());
            }
            Json(receipt).into_response()
        }
        Err(e) => {
            state.metrics.rejected(e.code);
            match e.code {
                ErrorCode::Internal | ErrorCode::Unavailable => {
                    tracing::warn!(code = %e.code, message = %esc(&e.message), "report not stored")
                }
                _ => tracing::info!(code = %e.code, message = %esc(&e.message), "report refused"),
            }
            e.into_response()
        }
    };
    accepts_delta(response)
}

async fn do_report(state: &AppState, body: Incoming<'_>) -> Result<Receipt, ApiError> {
    let headers = body.headers;
    let bytes = read_body(state, body, state.body_limit).await?;
    // A report sent by difference becomes the exact envelope first; from there on
    // ingest is the same.
    let (bytes, form, base, decoded, _room) = if delta::is_delta(headers) {
        state.metrics.upload(Encoding::Delta, bytes.len());
        let base = delta::named_base(headers)?;
        let x = delta::expand(state, &base, &bytes, state.body_limit).await?;
        let envelope = bytes::Bytes::from(x.envelope);
        (envelope, Some(x.form), Some(base), Some(x.decoded), x.room)
    } else {
        state.metrics.upload(Encoding::Full, bytes.len());
        (bytes, None, None, None, None)
    };
    let envelope = match decoded {
        Some(decoded) => decoded.map_err(Rejection::from)?,
        None => decode(&bytes)?,
    };

    // The signer's enrolled key, by key id (before anything looks inside the payload).
    let (agent_id, key) = super::signer(state, &envelope).await?;
    if let Some(base) = &base
        && base.agent_id != agent_id
    {
        return Err(ApiError::new(
            ErrorCode::DeltaBaseUnknown,
            "the base of this delta is a report of another agent than the signer",
        ));
    }
    if let Err(wait) = state.limiter.check(&agent_id) {
        let mut e = ApiError::new(
            ErrorCode::RateLimited,
            format!("too many reports from this agent; retry in {wait} s"),
        );
        e.retry_after = Some(wait);
        return Err(e);
    }

    // A report naming an inventory list the collector does not hold is refused by the
    // writer, in the transaction that would store it.
    let pending = match prepare_with_form(bytes, form, &envelope, &agent_id, &key)? {
        Prepared::Ready(p) => *p,
        Prepared::OtherAgent { claimed } => {
            return Err(if state.store.agent(&claimed).await?.is_some() {
                ApiError::new(
                    ErrorCode::WrongKey,
                    "the report names another agent than the one its key is enrolled for",
                )
            } else {
                ApiError::new(
                    ErrorCode::UnknownAgent,
                    "the report names an agent id that is not enrolled",
                )
            });
        }
    };
    let seq = pending.seq;
    let form = Arc::clone(&pending.form);
    let receipt = match state.writer.submit(pending).await? {
        IngestOutcome::Stored(r) => {
            tracing::debug!(agent_id = %r.agent_id, seq, log_index = r.log_index, "report stored");
            r
        }
        IngestOutcome::Duplicate(r) => r,
        IngestOutcome::Rejected { code, message } => return Err(ApiError::new(code, message)),
    };
    // The agent keeps the report it holds a receipt for as the base of its next one.
    state.bases.remember(
        &receipt.agent_id,
        receipt.seq,
        &receipt.payload_sha256,
        form,
    );
    Ok(receipt)
}
