//! The API's one error type. It turns into `{"error": code, "message": …}` with the
//! status of the code ([`attest_proto::ErrorCode::http_status`]); a `Retry-After`
//! header for rate limits. Internal details never reach the client: store failures are
//! logged here and answered with a generic message.

use attest_proto::{ErrorBody, ErrorCode, ProtoError};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::ingest::Rejection;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::new(ErrorCode::NotFound, format!("{what} not found"))
    }
}

impl From<ProtoError> for ApiError {
    fn from(e: ProtoError) -> Self {
        let body = ErrorBody::from(&e);
        ApiError::new(body.error, body.message)
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        ApiError::new(r.code, r.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if let StoreError::Pruned { .. } = e {
            // Not a fault: the report's envelope was dropped by retention (the message
            // names the report and the day, nothing of the server).
            return ApiError::new(ErrorCode::NotFound, e.to_string());
        }
        tracing::error!(error = %e, "database error");
        if e.is_unavailable() {
            ApiError::new(
                ErrorCode::Unavailable,
                "the database is unavailable; retry later",
            )
        } else {
            ApiError::new(ErrorCode::Internal, "internal error")
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody::new(self.code, self.message);
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}
