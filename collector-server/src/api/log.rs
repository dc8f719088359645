//! `GET /v1/log/checkpoint` and `GET /v1/log/proof/{index}`.

use std::sync::Arc;

use attest_proto::ErrorCode;
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};

use super::{ApiError, AppState};
use crate::log::{Checkpoint, ProofError, root_at};
use crate::store::{StoreError, StoreNodes, inclusion_proof};

pub async fn checkpoint(State(state): State<Arc<AppState>>) -> Result<Json<Checkpoint>, ApiError> {
    let head = state.store.log_head().await?;
    Ok(Json(Checkpoint::sign(
        &state.log_key,
        head.tree_size,
        &head.root,
        state.clock.now(),
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofQuery {
    tree_size: Option<u64>,
}

/// An inclusion proof with the checkpoint it leads to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    /// Lowercase hex.
    pub leaf_hash: String,
    /// From the leaf up; lowercase hex.
    pub audit_path: Vec<String>,
    pub checkpoint: Checkpoint,
}

fn proof_error(e: ProofError<StoreError>) -> ApiError {
    match e {
        ProofError::OutOfRange { index, size } => ApiError::new(
            ErrorCode::NotFound,
            format!("leaf {index} is not in a tree of {size} leaves"),
        ),
        ProofError::Missing { level, from } => {
            tracing::error!(level, from, "the log is missing stored hashes");
            ApiError::new(ErrorCode::Internal, "internal error")
        }
        ProofError::Source(e) => e.into(),
    }
}

pub async fn proof(
    State(state): State<Arc<AppState>>,
    index: Result<Path<u64>, PathRejection>,
    q: Result<Query<ProofQuery>, QueryRejection>,
) -> Result<Json<InclusionProof>, ApiError> {
    let Path(index) = index.map_err(super::bad_path)?;
    let Query(q) = q.map_err(super::bad_query)?;
    let head = state.store.log_head().await?;
    let size = q.tree_size.unwrap_or(head.tree_size);
    if size > head.tree_size {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("the log has {} leaves, not {size}", head.tree_size),
        ));
    }
    if index >= size {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("leaf {index} is not in a tree of {size} leaves"),
        ));
    }
    let store = state.store.as_ref();
    let path = inclusion_proof(store, index, size)
        .await
        .map_err(proof_error)?;
    let root = if size == head.tree_size {
        head.root
    } else {
        root_at(&StoreNodes(store), size)
            .await
            .map_err(proof_error)?
    };
    let leaf = store
        .log_nodes(0, index, 1)
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found("leaf"))?;
    Ok(Json(InclusionProof {
        leaf_index: index,
        tree_size: size,
        leaf_hash: hex::encode(leaf),
        audit_path: path.iter().map(hex::encode).collect(),
        checkpoint: Checkpoint::sign(&state.log_key, size, &root, state.clock.now()),
    }))
}
