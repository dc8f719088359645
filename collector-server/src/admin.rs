//! Admin actions, shared by the CLI and the admin API. Each one writes the audit log.

use std::time::Duration;

use crate::auth::{API_TOKEN_PREFIX, ENROLL_TOKEN_PREFIX, hash_token, new_token, random_hex};
use crate::store::{AuditEntry, Millis, NewApiToken, NewEnrollToken, Role, Store, StoreError};

/// A token just created: its public id and the secret (shown once).
#[derive(Debug, Clone)]
pub struct CreatedToken {
    pub id: String,
    pub token: String,
    pub expires_at: Option<Millis>,
}

/// Writes one entry of the audit log (every admin and account action).
pub(crate) async fn audit(
    store: &dyn Store,
    now: Millis,
    actor: &str,
    action: &str,
    target: &str,
    detail: String,
) -> Result<(), StoreError> {
    store
        .audit(&AuditEntry {
            at: now,
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            detail,
        })
        .await
}

pub async fn create_enroll_token(
    store: &dyn Store,
    now: Millis,
    actor: &str,
    uses: u32,
    expires: Option<Duration>,
) -> Result<CreatedToken, StoreError> {
    let token = new_token(ENROLL_TOKEN_PREFIX);
    let id = format!("tok_{}", random_hex(6));
    let expires_at =
        expires.map(|d| now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
    store
        .create_enroll_token(&NewEnrollToken {
            id: id.clone(),
            token_hash: hash_token(&token),
            uses: i64::from(uses),
            expires_at,
            created_at: now,
        })
        .await?;
    audit(
        store,
        now,
        actor,
        "enroll_token.create",
        &id,
        format!("uses={uses} expires_at={expires_at:?}"),
    )
    .await?;
    Ok(CreatedToken {
        id,
        token,
        expires_at,
    })
}

pub async fn revoke_enroll_token(
    store: &dyn Store,
    now: Millis,
    actor: &str,
    id: &str,
) -> Result<bool, StoreError> {
    let done = store.revoke_enroll_token(id, now).await?;
    if done {
        audit(store, now, actor, "enroll_token.revoke", id, String::new()).await?;
    }
    Ok(done)
}

pub async fn revoke_agent(
    store: &dyn Store,
    now: Millis,
    actor: &str,
    agent_id: &str,
) -> Result<bool, StoreError> {
    let done = store.revoke_agent(agent_id, now).await?;
    if done {
        audit(store, now, actor, "agent.revoke", agent_id, String::new()).await?;
    }
    Ok(done)
}

/// Creates an API token; `expires`: its validity (`None`: until revoked).
pub async fn create_api_token(
    store: &dyn Store,
    now: Millis,
    actor: &str,
    role: Role,
    note: &str,
    expires: Option<Duration>,
) -> Result<CreatedToken, StoreError> {
    let token = new_token(API_TOKEN_PREFIX);
    let id = format!("key_{}", random_hex(6));
    let expires_at =
        expires.map(|d| now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
    store
        .create_api_token(&NewApiToken {
            id: id.clone(),
            token_hash: hash_token(&token),
            role,
            note: note.to_owned(),
            created_at: now,
            expires_at,
        })
        .await?;
    audit(
        store,
        now,
        actor,
        "api_token.create",
        &id,
        format!("role={} expires_at={expires_at:?}", role.as_str()),
    )
    .await?;
    Ok(CreatedToken {
        id,
        token,
        expires_at,
    })
}

/// Revokes an API token: refused from the next request on, by every collector.
pub async fn revoke_api_token(
    store: &dyn Store,
    now: Millis,
    actor: &str,
    id: &str,
) -> Result<bool, StoreError> {
    let done = store.revoke_api_token(id, now).await?;
    if done {
        audit(store, now, actor, "api_token.revoke", id, String::new()).await?;
    }
    Ok(done)
}
