//! Waivers (exceptions): admin actions shared by the CLI (`attest-collector waiver
//! add|list|revoke`) and any future API. Each one is checked against the catalogue and
//! written to the audit log.
//!
//! A waiver names a check or a control, every host or a list of hosts (agent ids or
//! hostnames), a justification, an approver and an expiry. Reports show waived results
//! as waived, with the state underneath, never hide them; a waiver stops applying when
//! it expires or is revoked, and "as of" reports apply the waivers as they were then.

use crate::catalog::Catalog;
use crate::fleet::{Millis, Waiver, WaiverScope};
use crate::store::reporting::ReportStore;
use crate::store::{AuditEntry, Store, StoreError};

/// The longest justification or approver text kept.
pub const MAX_TEXT: usize = 2000;

/// A waiver that cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum WaiverError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0:?} is not a check known to the catalogue (e.g. system.screen_lock)")]
    UnknownCheck(String),
    #[error("{id:?} is not a control of {framework} (e.g. 8.24)")]
    UnknownControl { id: String, framework: String },
    #[error("a waiver needs a justification saying why the exception is accepted")]
    NoJustification,
    #[error("a waiver needs an approver: who accepted the risk")]
    NoApprover,
    #[error("{0} is longer than {MAX_TEXT} characters")]
    TooLong(&'static str),
    #[error("the expiry must be in the future")]
    ExpiryPassed,
    #[error("host {0:?} is empty or has spaces")]
    BadHost(String),
    #[error(
        "no enrolled host has the agent id or hostname {0:?}: `attest-collector agents list` \
         shows them"
    )]
    UnknownHost(String),
}

/// What `waiver add` asks for.
#[derive(Debug, Clone)]
pub struct WaiverRequest {
    pub scope: WaiverScope,
    /// Agent ids or hostnames; empty means every host.
    pub hosts: Vec<String>,
    pub justification: String,
    pub approver: String,
    pub expires_at: Millis,
}

/// Checks a request against the catalogue and makes the waiver (not stored).
pub fn make(
    catalog: &Catalog,
    now: Millis,
    actor: &str,
    id: String,
    req: WaiverRequest,
) -> Result<Waiver, WaiverError> {
    match &req.scope {
        WaiverScope::Check(c) if catalog.check(c).is_none() => {
            return Err(WaiverError::UnknownCheck(c.clone()));
        }
        WaiverScope::Control(c) if catalog.control(c).is_none() => {
            return Err(WaiverError::UnknownControl {
                id: c.clone(),
                framework: catalog.framework.clone(),
            });
        }
        _ => {}
    }
    let justification = req.justification.trim().to_owned();
    let approver = req.approver.trim().to_owned();
    if justification.is_empty() {
        return Err(WaiverError::NoJustification);
    }
    if approver.is_empty() {
        return Err(WaiverError::NoApprover);
    }
    if justification.chars().count() > MAX_TEXT {
        return Err(WaiverError::TooLong("the justification"));
    }
    if approver.chars().count() > MAX_TEXT {
        return Err(WaiverError::TooLong("the approver"));
    }
    if req.expires_at <= now {
        return Err(WaiverError::ExpiryPassed);
    }
    let mut hosts = Vec::new();
    for h in req.hosts {
        let h = h.trim().to_owned();
        if h.is_empty() || h.chars().any(char::is_whitespace) {
            return Err(WaiverError::BadHost(h));
        }
        if !hosts.contains(&h) {
            hosts.push(h);
        }
    }
    Ok(Waiver {
        id,
        scope: req.scope,
        hosts,
        justification,
        approver,
        created_at: now,
        created_by: actor.to_owned(),
        expires_at: req.expires_at,
        revoked_at: None,
        revoked_by: None,
    })
}

/// Adds a waiver and writes the audit log.
pub async fn add(
    store: &dyn Store,
    reports: &dyn ReportStore,
    catalog: &Catalog,
    now: Millis,
    actor: &str,
    req: WaiverRequest,
) -> Result<Waiver, WaiverError> {
    let id = format!("wvr_{}", crate::auth::random_hex(6));
    let w = make(catalog, now, actor, id, req)?;
    if !w.hosts.is_empty() {
        let known = reports.hosts().await?;
        if let Some(h) = w
            .hosts
            .iter()
            .find(|h| !known.iter().any(|k| &k.agent_id == *h || &k.hostname == *h))
        {
            return Err(WaiverError::UnknownHost(h.clone()));
        }
    }
    reports.add_waiver(&w).await?;
    store
        .audit(&AuditEntry {
            at: now,
            actor: actor.to_owned(),
            action: "waiver.add".into(),
            target: w.id.clone(),
            detail: format!(
                "{}={} hosts={} approver={:?} expires_at={} justification={:?}",
                w.scope.kind(),
                w.scope.id(),
                if w.hosts.is_empty() {
                    "all".to_owned()
                } else {
                    w.hosts.join(",")
                },
                w.approver,
                w.expires_at,
                w.justification
            ),
        })
        .await?;
    Ok(w)
}

/// Revokes a live waiver and writes the audit log; `false` when there is none.
pub async fn revoke(
    store: &dyn Store,
    reports: &dyn ReportStore,
    now: Millis,
    actor: &str,
    id: &str,
) -> Result<bool, StoreError> {
    let done = reports.revoke_waiver(id, now, actor).await?;
    if done {
        store
            .audit(&AuditEntry {
                at: now,
                actor: actor.to_owned(),
                action: "waiver.revoke".into(),
                target: id.to_owned(),
                detail: String::new(),
            })
            .await?;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_795_564_800_000;

    fn req(scope: WaiverScope) -> WaiverRequest {
        WaiverRequest {
            scope,
            hosts: vec!["lap-1".into(), " lap-1 ".into(), "agt_x".into()],
            justification: " kiosk machines ".into(),
            approver: "CISO".into(),
            expires_at: T0 + 1000,
        }
    }

    #[test]
    fn requests_are_checked_against_the_catalogue() {
        let c = Catalog::builtin().unwrap();
        let w = make(
            &c,
            T0,
            "cli:root",
            "wvr_1".into(),
            req(WaiverScope::Check("system.screen_lock".into())),
        )
        .unwrap();
        assert_eq!(w.hosts, ["lap-1", "agt_x"]);
        assert_eq!(w.justification, "kiosk machines");
        assert_eq!(w.created_by, "cli:root");
        let e = make(
            &c,
            T0,
            "a",
            "w".into(),
            req(WaiverScope::Check("system.screenlock".into())),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("\"system.screenlock\" is not a check"),
            "{e}"
        );
        let e = make(
            &c,
            T0,
            "a",
            "w".into(),
            req(WaiverScope::Control("9.9".into())),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("\"9.9\" is not a control of ISO/IEC 27002:2022"),
            "{e}"
        );
        let mut r = req(WaiverScope::Control("7.7".into()));
        r.justification = "  ".into();
        assert!(matches!(
            make(&c, T0, "a", "w".into(), r),
            Err(WaiverError::NoJustification)
        ));
        let mut r = req(WaiverScope::Control("7.7".into()));
        r.approver = String::new();
        assert!(matches!(
            make(&c, T0, "a", "w".into(), r),
            Err(WaiverError::NoApprover)
        ));
        let mut r = req(WaiverScope::Control("7.7".into()));
        r.expires_at = T0;
        assert!(matches!(
            make(&c, T0, "a", "w".into(), r),
            Err(WaiverError::ExpiryPassed)
        ));
        let mut r = req(WaiverScope::Control("7.7".into()));
        r.hosts = vec!["a b".into()];
        assert!(matches!(
            make(&c, T0, "a", "w".into(), r),
            Err(WaiverError::BadHost(_))
        ));
    }

    #[tokio::test]
    async fn add_and_revoke_are_audited() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("c.db").display());
        let s = crate::store::reporting::open(&url, 2).await.unwrap();
        let c = Catalog::builtin().unwrap();
        // Hosts are named by hostname or agent id, and must be enrolled.
        let mut request = req(WaiverScope::Control("7.7".into()));
        let err = add(
            s.store.as_ref(),
            s.reports.as_ref(),
            &c,
            T0,
            "cli:alice",
            request.clone(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no enrolled host has the agent id or hostname \"lap-1\": `attest-collector agents \
             list` shows them"
        );
        assert!(s.reports.waivers().await.unwrap().is_empty());
        let agents = crate::testkit::enroll(s.store.as_ref(), 3, 2, T0 - 1000)
            .await
            .unwrap();
        request.hosts = vec![agents[0].host.hostname.clone(), agents[1].agent_id.clone()];
        let w = add(
            s.store.as_ref(),
            s.reports.as_ref(),
            &c,
            T0,
            "cli:alice",
            request,
        )
        .await
        .unwrap();
        assert!(w.id.starts_with("wvr_"));
        assert_eq!(s.reports.waivers().await.unwrap(), vec![w.clone()]);
        assert!(
            revoke(
                s.store.as_ref(),
                s.reports.as_ref(),
                T0 + 1,
                "cli:bob",
                &w.id
            )
            .await
            .unwrap()
        );
        assert!(
            !revoke(
                s.store.as_ref(),
                s.reports.as_ref(),
                T0 + 2,
                "cli:bob",
                &w.id
            )
            .await
            .unwrap()
        );
        let log = s.store.audit_log(10).await.unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(
            (log[0].action.as_str(), log[0].actor.as_str()),
            ("waiver.revoke", "cli:bob")
        );
        assert_eq!(log[1].action, "waiver.add");
        assert!(log[1].detail.contains("control=7.7"), "{}", log[1].detail);
        assert!(
            log[1].detail.contains("approver=\"CISO\""),
            "{}",
            log[1].detail
        );
    }
}
