//! The authenticated API: reads for auditors, actions for admins.

use std::sync::Arc;

use attest_proto::ErrorCode;
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState, read_body};
use crate::admin;
use crate::auth::{allows, bearer, hash_token};
use crate::store::{AgentInfo, AuditEntry, ChainEvent, LatestResults, ReportInfo, Role};

/// The caller, from `Authorization: Bearer <API token>`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: String,
    pub role: Role,
}

impl Caller {
    pub(super) fn require(&self, needed: Role) -> Result<(), ApiError> {
        if allows(self.role, needed) {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("this needs the {} role", needed.as_str()),
            ))
        }
    }

    fn actor(&self) -> String {
        format!("apitoken:{}", self.token_id)
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized = || {
            ApiError::new(
                ErrorCode::Unauthorized,
                "send Authorization: Bearer <API token>",
            )
        };
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(unauthorized)?;
        let token = bearer(header).ok_or_else(unauthorized)?;
        // Read from the database on every request (no cache): a revoked or expired
        // token is refused at once, on every collector.
        let now = state.clock.now_millis();
        match state.store.api_token(&hash_token(token), now).await? {
            Some((token_id, role)) => Ok(Caller { token_id, role }),
            None => {
                tracing::info!("API request with an unknown, revoked or expired token");
                Err(ApiError::new(
                    ErrorCode::Unauthorized,
                    "unknown, revoked or expired API token",
                ))
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    after: Option<String>,
    limit: Option<i64>,
}

pub async fn agents(
    caller: Caller,
    State(state): State<Arc<AppState>>,
    page: Result<Query<Page>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Auditor)?;
    let Query(page) = page.map_err(super::bad_query)?;
    let limit = page.limit.unwrap_or(1000).clamp(1, 10_000);
    let agents: Vec<AgentInfo> = state
        .store
        .list_agents(page.after.as_deref(), limit)
        .await?;
    Ok(Json(json!({ "agents": agents })))
}

pub async fn results(
    caller: Caller,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<LatestResults>, ApiError> {
    caller.require(Role::Auditor)?;
    if state.store.agent(&id).await?.is_none() {
        return Err(ApiError::not_found("agent"));
    }
    state
        .store
        .latest_results(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("report"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeqPage {
    after: Option<i64>,
    limit: Option<i64>,
}

/// The agent's stored reports, replays too (`replay: true`: stored and chained, never
/// evidence), by `seq`.
pub async fn reports(
    caller: Caller,
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    page: Result<Query<SeqPage>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Auditor)?;
    let Path(id) = path.map_err(super::bad_path)?;
    let Query(page) = page.map_err(super::bad_query)?;
    if state.store.agent(&id).await?.is_none() {
        return Err(ApiError::not_found("agent"));
    }
    let limit = page.limit.unwrap_or(1000).clamp(1, 10_000);
    let reports: Vec<ReportInfo> = state.store.list_reports(&id, page.after, limit).await?;
    Ok(Json(json!({ "agent_id": id, "reports": reports })))
}

pub async fn report(
    caller: Caller,
    State(state): State<Arc<AppState>>,
    path: Result<Path<(String, i64)>, PathRejection>,
) -> Result<Response, ApiError> {
    caller.require(Role::Auditor)?;
    let Path((id, seq)) = path.map_err(super::bad_path)?;
    let stored = state
        .store
        .report_envelope(&id, seq)
        .await?
        .ok_or_else(|| ApiError::not_found("report"))?;
    let mut response = (
        [(header::CONTENT_TYPE, "application/json")],
        stored.envelope,
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&stored.log_index.to_string()) {
        headers.insert("x-attest-log-index", v);
    }
    if let Ok(v) = HeaderValue::from_str(&stored.payload_sha256) {
        headers.insert("x-attest-payload-sha256", v);
    }
    headers.insert(
        "x-attest-replay",
        HeaderValue::from_static(if stored.replay { "true" } else { "false" }),
    );
    Ok(response)
}

pub async fn chain_events(
    caller: Caller,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Auditor)?;
    let events: Vec<ChainEvent> = state.store.chain_events(&id).await?;
    Ok(Json(json!({ "events": events })))
}

pub async fn revoke_agent(
    caller: Caller,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    let now = state.clock.now_millis();
    if admin::revoke_agent(state.store.as_ref(), now, &caller.actor(), &id).await? {
        tracing::info!(
            agent_id = %crate::logsafe::esc(&id),
            actor = %crate::logsafe::esc(&caller.actor()),
            "agent revoked"
        );
        Ok(Json(json!({ "agent_id": id, "revoked": true })))
    } else {
        Err(ApiError::not_found("agent (or it is already revoked)"))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    uses: u32,
    /// Seconds until it expires.
    expires_in: Option<u64>,
}

pub async fn create_enroll_token(
    caller: Caller,
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    let (parts, body) = request.into_parts();
    let incoming = super::Incoming {
        body,
        headers: &parts.headers,
        conn: parts.extensions.get(),
    };
    let bytes = read_body(&state, incoming, 4096).await?;
    let req: NewToken = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::Malformed,
            format!("expected {{\"uses\": N, \"expires_in\": SECONDS}}: {e}"),
        )
    })?;
    if req.uses == 0 {
        return Err(ApiError::new(
            ErrorCode::Malformed,
            "uses must be at least 1",
        ));
    }
    let now = state.clock.now_millis();
    let created = admin::create_enroll_token(
        state.store.as_ref(),
        now,
        &caller.actor(),
        req.uses,
        req.expires_in.map(std::time::Duration::from_secs),
    )
    .await?;
    Ok(Json(json!({
        "id": created.id,
        "token": created.token,
        "expires_at": created.expires_at.map(crate::store::rfc3339::text),
    })))
}

pub async fn audit(
    caller: Caller,
    State(state): State<Arc<AppState>>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    let entries: Vec<AuditEntry> = state.store.audit_log(1000).await?;
    Ok(Json(json!({ "entries": entries })))
}
