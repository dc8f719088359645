//! Enrollment: `attest-agent enroll --server URL --token TOKEN [--ca-cert FILE | --pin SHA256]`.
//!
//! 0. Take the state directory's lock ([`StateDir::lock`]): refused while the service
//!    or another command that writes the state runs.
//! 1. Refuse when already enrolled (unless `force`).
//! 2. Ensure the key: a key file left by an earlier failed attempt is reused (it was
//!    never registered); otherwise a new one is created, mode 0600 from the start.
//! 3. `POST /v1/enroll` with the token, the public key and the host facts.
//! 4. Store the enrollment (agent id, server, trust) and the chain's genesis.
//!
//! `force` forgets the old enrollment first: pending spool records, signed by the old
//! key, are quarantined (the collector would refuse them for the new agent), and the
//! chain starts again.

use attest_proto::{ChainState, EnrollRequest, HostInfo, encode_public_key};
use chrono::{DateTime, Utc};

use crate::spool::{Spool, SpoolError};
use crate::state::{Enrollment, StateDir, StateError};
use crate::tls::Trust;
use crate::upload::{ClientError, CollectorClient, EnrollFailure};

/// What enrollment needs.
#[derive(Debug, Clone)]
pub struct EnrollOptions {
    pub server: reqwest::Url,
    pub token: String,
    pub trust: Trust,
    pub proxy: Option<String>,
    pub force: bool,
}

/// Enrollment failed; one line each.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error(
        "already enrolled as {agent_id} with {server}; pass --force to enroll again (reports still waiting in the spool are quarantined)"
    )]
    AlreadyEnrolled { agent_id: String, server: String },
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Failed(#[from] EnrollFailure),
}

/// Enrolls the agent whose state is in `state` (see the module docs). `seed` is the
/// new key's 32 random bytes (used only when a new key is needed).
pub async fn enroll(
    state: &StateDir,
    options: &EnrollOptions,
    host: HostInfo,
    now: DateTime<Utc>,
    seed: [u8; 32],
) -> Result<Enrollment, EnrollError> {
    state.create()?;
    // Just made (0700) or found: in both cases it must be private and ours.
    state.ensure_private_logged()?;
    // Held until enrollment is stored: no agent may sign with a key being replaced.
    let _lock = state.lock()?;
    if let Some(old) = state.load_enrollment()? {
        if !options.force {
            return Err(EnrollError::AlreadyEnrolled {
                agent_id: old.agent_id,
                server: old.server,
            });
        }
        forget(state, &old)?;
    }
    let key = if state.has_key() && !options.force {
        state.load_key()?
    } else {
        state.create_key(seed, options.force)?
    };
    let client = CollectorClient::new(&options.server, &options.trust, options.proxy.as_deref())?;
    let request = EnrollRequest {
        token: options.token.clone(),
        public_key: encode_public_key(&key.verifying_key()),
        host,
    };
    let response = client.enroll(&request).await?;
    let enrollment = Enrollment {
        agent_id: response.agent_id,
        server: client.base().to_string(),
        trust: options.trust.clone(),
        public_key: request.public_key,
        enrolled_at: now,
        collector_key: response.collector_key,
    };
    state.save_chain(&ChainState::genesis(&key.verifying_key()))?;
    state.save_enrollment(&enrollment)?;
    tracing::info!(agent_id = %enrollment.agent_id, server = %enrollment.server, "enrolled");
    Ok(enrollment)
}

/// Drops the old enrollment: quarantines its pending reports and removes its files.
fn forget(state: &StateDir, old: &Enrollment) -> Result<(), EnrollError> {
    let spool = Spool::open(state.spool_dir(), u64::MAX)?;
    for entry in spool.entries()? {
        spool.quarantine(
            entry.seq,
            &format!(
                "signed under the previous enrollment ({}); never delivered",
                old.agent_id
            ),
        )?;
    }
    for path in [state.enrollment_path(), state.chain_path()] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(StateError::Io {
                    path: path.display().to_string(),
                    source,
                }
                .into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_collector::FakeCollector;
    use crate::tls::Pin;

    fn options(fake: &FakeCollector, token: &str, trust: Trust) -> EnrollOptions {
        EnrollOptions {
            server: fake.url(),
            token: token.into(),
            trust,
            proxy: None,
            force: false,
        }
    }

    fn host() -> HostInfo {
        HostInfo {
            hostname: "web-1".into(),
            machine_id: "m".into(),
            ..HostInfo::default()
        }
    }

    #[tokio::test]
    async fn enrolls_with_the_pin_and_stores_everything() {
        let fake = FakeCollector::start().await;
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("attest"));
        let opts = options(&fake, "good", Trust::Pin(fake.pin()));
        let enrollment = enroll(&state, &opts, host(), fake.now(), [8; 32])
            .await
            .unwrap();
        assert_eq!(enrollment.agent_id, "agt_test");
        assert_eq!(state.require_enrollment().unwrap(), enrollment);
        assert_eq!(enrollment.trust, Trust::Pin(fake.pin()));
        let key = state.load_key().unwrap();
        assert_eq!(key.to_bytes(), [8; 32]);
        assert_eq!(
            state.load_chain().unwrap(),
            Some(ChainState::genesis(&key.verifying_key()))
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(state.key_path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Again: refused without --force.
        let err = enroll(&state, &opts, host(), fake.now(), [9; 32])
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("already enrolled as agt_test"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn refusals_are_one_clear_line_and_the_key_is_kept_for_a_retry() {
        let fake = FakeCollector::start().await;
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        for (token, trust, needle) in [
            (
                "good",
                Trust::Pin(Pin([1; 32])),
                "does not match the pinned fingerprint",
            ),
            ("expired", Trust::Pin(fake.pin()), "has expired"),
            ("used", Trust::Pin(fake.pin()), "no uses left"),
            (
                "nope",
                Trust::Pin(fake.pin()),
                "does not know this enrollment token",
            ),
        ] {
            let err = enroll(
                &state,
                &options(&fake, token, trust),
                host(),
                fake.now(),
                [3; 32],
            )
            .await
            .unwrap_err()
            .to_string();
            assert!(err.contains(needle), "{token}: {err}");
            assert!(!err.contains('\n'), "{err}");
            assert!(state.load_enrollment().unwrap().is_none());
        }
        // The key created by the first attempt is reused.
        let opts = options(&fake, "good", Trust::Pin(fake.pin()));
        enroll(&state, &opts, host(), fake.now(), [4; 32])
            .await
            .unwrap();
        assert_eq!(state.load_key().unwrap().to_bytes(), [3; 32]);
    }

    #[tokio::test]
    async fn force_quarantines_the_old_spool_and_restarts_the_chain() {
        let fake = FakeCollector::start().await;
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let mut opts = options(&fake, "good", Trust::Pin(fake.pin()));
        enroll(&state, &opts, host(), fake.now(), [1; 32])
            .await
            .unwrap();
        let spool = Spool::open(state.spool_dir(), 1 << 20).unwrap();
        spool.append(1, b"old report").unwrap();
        opts.force = true;
        enroll(&state, &opts, host(), fake.now(), [2; 32])
            .await
            .unwrap();
        assert_eq!(state.load_key().unwrap().to_bytes(), [2; 32]);
        assert_eq!(spool.depth().unwrap().0, 0);
        assert_eq!(spool.quarantined().unwrap(), 1);
        assert_eq!(state.load_chain().unwrap().unwrap().next_seq, 1);
    }

    #[tokio::test]
    async fn enrollment_is_refused_while_the_state_is_locked() {
        let fake = FakeCollector::start().await;
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let opts = options(&fake, "good", Trust::Pin(fake.pin()));
        enroll(&state, &opts, host(), fake.now(), [1; 32])
            .await
            .unwrap();
        let running = state.lock().unwrap();
        let forced = EnrollOptions {
            force: true,
            ..opts.clone()
        };
        let err = enroll(&state, &forced, host(), fake.now(), [2; 32])
            .await
            .unwrap_err();
        assert!(
            matches!(err, EnrollError::State(StateError::Locked { .. })),
            "{err}"
        );
        // Nothing changed: the running agent's key and chain are intact.
        assert_eq!(state.load_key().unwrap().to_bytes(), [1; 32]);
        assert!(state.load_enrollment().unwrap().is_some());
        drop(running);
        enroll(&state, &forced, host(), fake.now(), [2; 32])
            .await
            .unwrap();
        assert_eq!(state.load_key().unwrap().to_bytes(), [2; 32]);
    }
}
