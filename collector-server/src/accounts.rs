//! Dashboard accounts: adding users, changing passwords, disabling users, signing in
//! and out, and finding the session of a request. Shared by the CLI (`user add`,
//! `user passwd`, `user disable`) and the dashboard (`crate::ui`); every change writes
//! the audit log, as `crate::admin` does.
//!
//! Password hashing and checking (argon2id, tens of milliseconds of CPU) run on
//! tokio's blocking threads, never on the threads that serve requests.

use crate::admin::audit;
use crate::auth::hash_token;
use crate::session::{self, SessionPolicy, SessionState};
use crate::store::{Millis, NewSessionRecord, NewUser, Role, Store, StoreError, UserInfo};
use crate::users::{self, UserError};

/// Why an account action did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    User(#[from] UserError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a user named {0:?} exists")]
    Exists(String),
    #[error("no enabled user named {0:?}")]
    NoSuchUser(String),
    #[error("password hashing did not finish: {0}")]
    Join(String),
}

/// The actor of the audit entries of a dashboard user.
pub fn ui_actor(name: &str) -> String {
    format!("ui:{name}")
}

/// Runs password work on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AccountError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AccountError::Join(e.to_string()))
}

/// The argon2id hash of a new password for `name`, after the password rules.
async fn new_hash(name: &str, password: &str) -> Result<String, AccountError> {
    users::check_password(name, password)?;
    let password = password.to_owned();
    Ok(blocking(move || users::hash_password(&password)).await??)
}

/// Adds a user.
pub async fn add_user(
    store: &dyn Store,
    now: Millis,
    actor: &str,
    name: &str,
    role: Role,
    password: &str,
) -> Result<(), AccountError> {
    users::check_name(name)?;
    let password_hash = new_hash(name, password).await?;
    let created = store
        .create_user(&NewUser {
            name: name.to_owned(),
            role,
            password_hash,
            created_at: now,
        })
        .await?;
    if !created {
        return Err(AccountError::Exists(name.to_owned()));
    }
    audit(
        store,
        now,
        actor,
        "user.add",
        name,
        format!("role={}", role.as_str()),
    )
    .await?;
    Ok(())
}

/// Sets a user's password; their sessions end.
pub async fn set_password(
    store: &dyn Store,
    now: Millis,
    actor: &str,
    name: &str,
    password: &str,
) -> Result<(), AccountError> {
    users::check_name(name)?;
    let hash = new_hash(name, password).await?;
    if !store.set_password(name, &hash, now).await? {
        return Err(AccountError::NoSuchUser(name.to_owned()));
    }
    audit(store, now, actor, "user.passwd", name, String::new()).await?;
    Ok(())
}

/// Disables a user: they cannot sign in, and their sessions end at once.
pub async fn disable_user(
    store: &dyn Store,
    now: Millis,
    actor: &str,
    name: &str,
) -> Result<(), AccountError> {
    if !store.disable_user(name, now).await? {
        return Err(AccountError::NoSuchUser(name.to_owned()));
    }
    audit(store, now, actor, "user.disable", name, String::new()).await?;
    Ok(())
}

/// Every user, by name.
pub async fn list_users(store: &dyn Store) -> Result<Vec<UserInfo>, StoreError> {
    store.list_users().await
}

/// A session just signed in: the token goes into the cookie and is not kept.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub token: String,
    pub user: String,
    pub role: Role,
}

/// Signs `name` in when `password` is theirs and they are enabled; `None` otherwise,
/// after the same work whichever part was wrong. Both outcomes are audited (a failed
/// sign-in with the name as typed, made log-safe).
pub async fn sign_in(
    store: &dyn Store,
    now: Millis,
    name: &str,
    password: &str,
    client: &str,
) -> Result<Option<SignedIn>, AccountError> {
    let found = if users::check_name(name).is_ok() {
        store.user(name).await?
    } else {
        None
    };
    let pw = password.to_owned();
    let ok = match &found {
        Some((info, hash)) if info.disabled_at.is_none() => {
            let hash = hash.clone();
            blocking(move || users::verify_password(&hash, &pw)).await?
        }
        _ => blocking(move || users::verify_unknown(&pw)).await?,
    };
    let shown = crate::logsafe::esc(name).to_string();
    let (info, stored_hash) = match found {
        Some((info, hash)) if ok => (info, hash),
        _ => {
            audit(
                store,
                now,
                &ui_actor(&shown),
                "session.sign_in_refused",
                &shown,
                format!("client={client}"),
            )
            .await?;
            return Ok(None);
        }
    };
    if users::needs_rehash(&stored_hash) {
        let pw = password.to_owned();
        if let Ok(new) = blocking(move || users::hash_password(&pw)).await? {
            // A concurrent password change wins: the rehash applies over the old hash only.
            store
                .rehash_password(&info.name, &stored_hash, &new)
                .await?;
        }
    }
    let fresh = session::new_session();
    store
        .create_session(&NewSessionRecord {
            token_hash: fresh.token_hash,
            user_name: info.name.clone(),
            csrf: fresh.csrf,
            created_at: now,
            client: client.to_owned(),
        })
        .await?;
    audit(
        store,
        now,
        &ui_actor(&info.name),
        "session.sign_in",
        &info.name,
        format!("client={client}"),
    )
    .await?;
    Ok(Some(SignedIn {
        token: fresh.token,
        user: info.name,
        role: info.role,
    }))
}

/// The signed-in user of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub user: String,
    pub role: Role,
    /// The session's CSRF token, for the forms of the page.
    pub csrf: String,
    /// What is stored of the session token (to sign out).
    pub token_hash: String,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn actor(&self) -> String {
        ui_actor(&self.user)
    }
}

/// The live session of a cookie's token: `None` when it is unknown, signed out,
/// idle, expired or its user disabled. Records the request (to the minute).
pub async fn current(
    store: &dyn Store,
    policy: &SessionPolicy,
    token: &str,
    now: Millis,
) -> Result<Option<Viewer>, StoreError> {
    let token_hash = hash_token(token);
    let Some(s) = store.session(&token_hash).await? else {
        return Ok(None);
    };
    let state = session::state_at(policy, s.created_at, s.last_seen_at, s.ended_at, now);
    if state != SessionState::Live || s.user_disabled_at.is_some() {
        return Ok(None);
    }
    // Written at most once a minute, and often enough for a short idle time.
    let granularity = crate::store::SESSION_SEEN_GRANULARITY.min(policy.idle / 4);
    store.touch_session(&token_hash, now, granularity).await?;
    Ok(Some(Viewer {
        user: s.user_name,
        role: s.role,
        csrf: s.csrf,
        token_hash,
    }))
}

/// Signs a session out: a copy of its cookie stops working at once, on every
/// collector.
pub async fn sign_out(store: &dyn Store, now: Millis, viewer: &Viewer) -> Result<(), StoreError> {
    if store.end_session(&viewer.token_hash, now).await? {
        audit(
            store,
            now,
            &viewer.actor(),
            "session.sign_out",
            &viewer.user,
            String::new(),
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AuditEntry, DynStore, open};

    const T0: Millis = 1_790_000_000_000;

    async fn store() -> (DynStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("c.db").display());
        (open(&url, 2).await.unwrap(), dir)
    }

    fn actions(log: &[AuditEntry]) -> Vec<(String, String, String)> {
        log.iter()
            .rev()
            .map(|e| (e.actor.clone(), e.action.clone(), e.target.clone()))
            .collect()
    }

    #[tokio::test]
    async fn users_sign_in_and_out_and_every_step_is_audited() {
        let (store, _dir) = store().await;
        let s = store.as_ref();
        let policy = SessionPolicy::default();
        add_user(s, T0, "cli:root", "ada", Role::Admin, "a long passphrase")
            .await
            .unwrap();
        // Bad names, weak passwords and a taken name change nothing.
        assert!(matches!(
            add_user(s, T0, "cli:root", "Ada", Role::Admin, "a long passphrase").await,
            Err(AccountError::User(UserError::BadName(_)))
        ));
        assert!(matches!(
            add_user(s, T0, "cli:root", "bob", Role::Auditor, "short").await,
            Err(AccountError::User(UserError::WeakPassword(_)))
        ));
        assert!(matches!(
            add_user(
                s,
                T0,
                "cli:root",
                "ada",
                Role::Auditor,
                "another passphrase"
            )
            .await,
            Err(AccountError::Exists(_))
        ));
        assert_eq!(list_users(s).await.unwrap().len(), 1);

        // A wrong password, an unknown name: no session.
        assert!(
            sign_in(s, T0, "ada", "a wrong passphrase", "10.0.0.1")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            sign_in(s, T0, "nobody", "a long passphrase", "10.0.0.1")
                .await
                .unwrap()
                .is_none()
        );
        let signed = sign_in(s, T0, "ada", "a long passphrase", "10.0.0.1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((signed.user.as_str(), signed.role), ("ada", Role::Admin));
        let viewer = current(s, &policy, &signed.token, T0 + 1000)
            .await
            .unwrap()
            .unwrap();
        assert!(viewer.is_admin());
        assert_eq!(viewer.csrf.len(), 64);
        // Idle past the limit, or past the absolute lifetime: gone.
        assert!(
            current(s, &policy, &signed.token, T0 + policy.idle + 1)
                .await
                .unwrap()
                .is_none()
        );
        // A token that is not a session's: none.
        assert!(
            current(s, &policy, "st_00", T0 + 1000)
                .await
                .unwrap()
                .is_none()
        );
        // Sign-out ends it at once.
        sign_out(s, T0 + 2000, &viewer).await.unwrap();
        assert!(
            current(s, &policy, &signed.token, T0 + 3000)
                .await
                .unwrap()
                .is_none()
        );

        // A password change ends the other sessions; the old password stops working.
        let again = sign_in(s, T0 + 10_000, "ada", "a long passphrase", "10.0.0.2")
            .await
            .unwrap()
            .unwrap();
        set_password(s, T0 + 20_000, "cli:root", "ada", "a new passphrase")
            .await
            .unwrap();
        assert!(
            current(s, &policy, &again.token, T0 + 21_000)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            sign_in(s, T0 + 22_000, "ada", "a long passphrase", "10.0.0.2")
                .await
                .unwrap()
                .is_none()
        );
        let third = sign_in(s, T0 + 23_000, "ada", "a new passphrase", "10.0.0.2")
            .await
            .unwrap()
            .unwrap();
        // Disabled: the live session ends and sign-in is refused.
        disable_user(s, T0 + 30_000, "cli:root", "ada")
            .await
            .unwrap();
        assert!(
            current(s, &policy, &third.token, T0 + 31_000)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            sign_in(s, T0 + 32_000, "ada", "a new passphrase", "10.0.0.2")
                .await
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            disable_user(s, T0, "cli:root", "ada").await,
            Err(AccountError::NoSuchUser(_))
        ));

        let log = s.audit_log(100).await.unwrap();
        let expected: Vec<(String, String, String)> = [
            ("cli:root", "user.add", "ada"),
            ("ui:ada", "session.sign_in_refused", "ada"),
            ("ui:nobody", "session.sign_in_refused", "nobody"),
            ("ui:ada", "session.sign_in", "ada"),
            ("ui:ada", "session.sign_out", "ada"),
            ("ui:ada", "session.sign_in", "ada"),
            ("cli:root", "user.passwd", "ada"),
            ("ui:ada", "session.sign_in_refused", "ada"),
            ("ui:ada", "session.sign_in", "ada"),
            ("cli:root", "user.disable", "ada"),
            ("ui:ada", "session.sign_in_refused", "ada"),
        ]
        .iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect();
        assert_eq!(actions(&log), expected);
        // A password never reaches the audit log.
        assert!(
            log.iter()
                .all(|e| !e.detail.contains("passphrase") && !e.target.contains("passphrase"))
        );
    }
}
