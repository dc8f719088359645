//! The simulated fleet of [`crate::fleetsim`] written straight into a collector store:
//! agents enrolled with a token, rounds of signed reports stored through the same batch
//! ingest the API uses (`attest-fleetgen`). The collector's unit tests carry the same
//! helpers over their own crate's types (`collector-server/src/testkit.rs`).

use attest_collector::auth::random_hex;
use attest_collector::catalog::Catalog;
use attest_collector::ingest::{Prepared, prepare};
use attest_collector::store::{
    EnrollOutcome, IngestOutcome, Millis, NewAgent, NewEnrollToken, PendingReport, Store,
    StoreError,
};
use attest_proto::{Envelope, HostInfo, ProtoError, Report, keyid};
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::fleetsim::{SimAgent, sim_host};

/// Simulation failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Proto(#[from] ProtoError),
    #[error("{0}")]
    Other(String),
}

/// A verified, parsed envelope of `agent` ready for [`Store::ingest_batch`].
pub fn pending(agent: &SimAgent, json: Vec<u8>) -> Result<PendingReport, SimError> {
    let env = Envelope::from_json(&json)?;
    match prepare(
        Bytes::from(json),
        &env,
        &agent.agent_id,
        &agent.key.verifying_key(),
    ) {
        Ok(Prepared::Ready(p)) => Ok(*p),
        Ok(Prepared::OtherAgent { claimed }) => {
            Err(SimError::Other(format!("report claims agent {claimed}")))
        }
        Err(e) => Err(SimError::Other(e.message)),
    }
}

/// Enrolls `count` simulated agents (ids `agt_sim_<seed>_<i>`) at `at`.
pub async fn enroll(
    store: &dyn Store,
    seed: u64,
    count: u64,
    at: Millis,
) -> Result<Vec<SimAgent>, SimError> {
    enroll_hosts(store, seed, count, at, sim_host).await
}

/// [`enroll`], host `i` described by `host(i)`.
pub async fn enroll_hosts(
    store: &dyn Store,
    seed: u64,
    count: u64,
    at: Millis,
    host_of: impl Fn(u64) -> HostInfo,
) -> Result<Vec<SimAgent>, SimError> {
    let token_id = format!("tok_sim_{seed}");
    let token_hash = format!("sim-{seed}-{}", random_hex(8));
    store
        .create_enroll_token(&NewEnrollToken {
            id: token_id,
            token_hash: token_hash.clone(),
            uses: i64::try_from(count).unwrap_or(i64::MAX),
            expires_at: None,
            created_at: at,
        })
        .await?;
    let mut out = Vec::new();
    for i in 0..count {
        let agent = SimAgent::new(seed, i, host_of(i));
        let (key, host) = (&agent.key, &agent.host);
        let outcome = store
            .enroll(
                &token_hash,
                &NewAgent {
                    id: agent.agent_id.clone(),
                    keyid: keyid(&key.verifying_key()),
                    public_key: key.verifying_key().to_bytes(),
                    hostname: host.hostname.clone(),
                    machine_id: host.machine_id.clone(),
                    os_id: host.os.id.clone(),
                    os_version_id: host.os.version_id.clone(),
                    os_pretty_name: host.os.pretty_name.clone(),
                    kernel: host.kernel.clone(),
                    enrolled_at: at,
                },
                at,
            )
            .await?;
        if !matches!(outcome, EnrollOutcome::Enrolled { .. }) {
            return Err(SimError::Other(format!(
                "enrolling {}: {outcome:?}",
                agent.agent_id
            )));
        }
        out.push(agent);
    }
    Ok(out)
}

/// Stores one round of reports of `agents`, collected at `collected`, received at
/// `received`, in batches of 512. Returns how many were stored.
pub async fn report_round(
    store: &dyn Store,
    catalog: &Catalog,
    agents: &mut [SimAgent],
    seed: u64,
    round: u64,
    collected: Millis,
    received: Millis,
) -> Result<usize, SimError> {
    let at = DateTime::from_timestamp_millis(collected)
        .ok_or_else(|| SimError::Other(format!("time {collected} out of range")))?;
    let mut stored = 0;
    for chunk in agents.chunks_mut(512) {
        let mut batch = Vec::with_capacity(chunk.len());
        for a in chunk.iter_mut() {
            let mut report = sim_report(catalog, a, seed, round, at);
            let json = a.sign_next(&mut report)?;
            batch.push(pending(a, json)?);
        }
        for o in store.ingest_batch(&batch, received).await? {
            match o {
                IngestOutcome::Stored(_) => stored += 1,
                other => return Err(SimError::Other(format!("not stored: {other:?}"))),
            }
        }
    }
    Ok(stored)
}

/// The report of simulated agent `agent` in `round`, one result per check of `catalog`
/// ([`fleetsim::sim_report`](crate::fleetsim::sim_report)).
pub fn sim_report(
    catalog: &Catalog,
    agent: &SimAgent,
    seed: u64,
    round: u64,
    at: DateTime<Utc>,
) -> Report {
    crate::fleetsim::sim_report(
        catalog.checks().iter().map(|c| c.id.as_str()),
        agent,
        seed,
        round,
        at,
    )
}
