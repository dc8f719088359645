//! Assembles one report: every check run once against one host root.

use attest_proto::{AgentInfo, HostInfo, Platform, Report};
use chrono::{DateTime, SubsecRound, Utc};

use crate::checks::{self, Context, Thresholds};
use crate::host::Host;

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
/// and returns the unsigned report (`agent_id` empty, `seq` 0, `prev` empty), in
/// the lowest schema that carries it; a report decided from captures is marked
/// `agent.replay`.
pub fn collect(
    host: &Host,
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
    let host_info = match host.platform() {
        Some(Platform::Linux) => checks::linux::inventory::host_info(&ctx),
        Some(Platform::Macos) => checks::macos::inventory::host_info(&ctx),
        Some(Platform::Windows) => checks::windows::inventory::host_info(&ctx),
        None => HostInfo::default(),
    };
    let mut report = Report {
        schema: String::new(),
        agent_id: String::new(),
        seq: 0,
        prev: String::new(),
        collected_at: now,
        agent: AgentInfo {
            version: AGENT_VERSION.to_owned(),
            replay: host.is_replay(),
        },
        host: host_info,
        results,
    };
    report.schema = report.required_schema().to_owned();
    Ok(report)
}
