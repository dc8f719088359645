//! `GET /healthz` and `GET /metrics`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::metrics::Gauges;

/// 200 when the database answers, 503 otherwise.
pub async fn healthz(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let head = state.store.log_head().await.map_err(|e| {
        tracing::warn!(error = %e, "health check: database unavailable");
        ApiError::new(
            attest_proto::ErrorCode::Unavailable,
            "the database is unavailable",
        )
    })?;
    Ok(Json(json!({
        "status": "ok",
        "backend": state.store.backend(),
        "tree_size": head.tree_size,
    })))
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let gauges = match (
        state.store.count_agents().await,
        state.store.log_head().await,
    ) {
        (Ok(agents), Ok(head)) => Some(Gauges {
            agents,
            tree_size: head.tree_size,
            pool: state.store.pool_stats(),
        }),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "metrics: database gauges unavailable");
            None
        }
    };
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(gauges),
    )
}
