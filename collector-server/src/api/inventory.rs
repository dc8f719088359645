//! `POST /v1/inventory-lists` (an agent sends a signed inventory list) and
//! `GET /v1/inventory-lists/{address}` (a reader fetches one).
//!
//! An `attest.report/v3` report names its package list by address
//! (`attest_proto::inventory`); ingest refuses one whose list the collector does not
//! hold (`inventory_list_unknown`), and the agent sends the list here, then the
//! report again. A list is accepted only in a DSSE envelope of payload type
//! [`INVENTORY_LIST_PAYLOAD_TYPE`] signed by the key of an enrolled, unrevoked agent,
//! within the envelope size limit and in its canonical form; it is stored once by the
//! address computed here from its bytes.

use std::sync::Arc;

use attest_proto::inventory::{self, INVENTORY_LIST_PAYLOAD_TYPE, InventoryList, ListReceipt};
use attest_proto::{Envelope, ErrorCode, MAX_ENVELOPE_BYTES};
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::read::Caller;
use super::{ApiError, AppState, Incoming, read_body};
use crate::logsafe::esc;
use crate::store::{ListOutcome, NewInventoryList, PendingList, Role};

pub async fn post(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = Incoming {
        body,
        headers: &parts.headers,
        conn: parts.extensions.get(),
    };
    match do_post(&state, body).await {
        Ok(receipt) => Json(receipt).into_response(),
        Err(e) => {
            tracing::info!(code = %e.code, message = %esc(&e.message), "inventory list refused");
            e.into_response()
        }
    }
}

async fn do_post(state: &AppState, body: Incoming<'_>) -> Result<ListReceipt, ApiError> {
    let bytes = read_body(state, body, MAX_ENVELOPE_BYTES).await?;
    let envelope = Envelope::from_json(&bytes)?;
    if envelope.payload_type != INVENTORY_LIST_PAYLOAD_TYPE {
        return Err(ApiError::new(
            ErrorCode::UnsupportedPayloadType,
            format!("the payloadType of an inventory list is {INVENTORY_LIST_PAYLOAD_TYPE:?}"),
        ));
    }
    let (agent_id, key) = super::signer(state, &envelope).await?;
    if let Err(wait) = state.limiter.check(&agent_id) {
        let mut e = ApiError::new(
            ErrorCode::RateLimited,
            format!("too many requests from this agent; retry in {wait} s"),
        );
        e.retry_after = Some(wait);
        return Err(e);
    }
    let document = envelope.verified_payload_of_type(INVENTORY_LIST_PAYLOAD_TYPE, &key)?;
    let list = InventoryList::from_slice(document)?;
    let address = inventory::address(document);
    // Compressed here, stored by the group-commit writer in its next transaction.
    let pending = PendingList::new(&NewInventoryList {
        address: address.clone(),
        agent_id: agent_id.clone(),
        document: document.to_vec(),
        received_at: state.clock.now_millis(),
    })?;
    let stored = match state.writer.submit_list(pending).await? {
        ListOutcome::New => true,
        ListOutcome::Held => false,
        ListOutcome::Refused { code, message } => return Err(ApiError::new(code, message)),
    };
    tracing::info!(
        agent_id = %agent_id,
        address = %address,
        packages = list.packages.len(),
        new = stored,
        "inventory list received"
    );
    Ok(ListReceipt {
        address,
        duplicate: !stored,
    })
}

pub async fn get(
    caller: Caller,
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    caller.require(Role::Auditor)?;
    let Path(address) = path.map_err(super::bad_path)?;
    if !inventory::is_address(&address) {
        return Err(ApiError::new(
            ErrorCode::Malformed,
            "an inventory list address is \"sha256:\" and 64 lowercase hex digits",
        ));
    }
    let document = state
        .store
        .inventory_list(&address)
        .await?
        .ok_or_else(|| ApiError::not_found("inventory list"))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], document).into_response())
}
