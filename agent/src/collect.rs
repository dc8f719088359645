//! Assembles one report: every check run once against one host root.

use attest_proto::{AgentInfo, REPORT_SCHEMA, Report};
use chrono::{DateTime, SubsecRound, Utc};

use crate::checks::{self, Context, Thresholds};
use crate::host::HostRoot;

/// The agent's version, as carried in every report.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A check id given on the command line that the catalogue does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown check id {id:?}; known ids: {known}")]
pub struct UnknownCheck {
    pub id: String,
    pub known: String,
}

/// Runs the checks named in `only` (all when empty) against `host` at time `now`
/// and returns the unsigned report (`agent_id` empty, `seq` 0, `prev` empty).
pub fn collect(
    host: &HostRoot,
    now: DateTime<Utc>,
    thresholds: &Thresholds,
    only: &[String],
) -> Result<Report, UnknownCheck> {
    let ids = checks::ids();
    if let Some(bad) = only.iter().find(|id| !ids.contains(&id.as_str())) {
        return Err(UnknownCheck {
            id: bad.clone(),
            known: ids.join(", "),
        });
    }
    let now = now.trunc_subsecs(0);
    let ctx = Context::new(host, now, thresholds);
    let results = checks::run(&ctx, only);
    let host_info = checks::inventory::host_info(&ctx);
    Ok(Report {
        schema: REPORT_SCHEMA.to_owned(),
        agent_id: String::new(),
        seq: 0,
        prev: String::new(),
        collected_at: now,
        agent: AgentInfo {
            version: AGENT_VERSION.to_owned(),
        },
        host: host_info,
        results,
    })
}
