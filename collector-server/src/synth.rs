//! Synthetic agents and realistic signed reports, for the load generator, the
//! pre-fill of a benchmark database and tests. A report here has every check of the
//! catalogue as a Linux agent writes it, with summaries, facts and evidence excerpts,
//! about 12 KB of statement like a real host's.

use attest_proto::{
    AgentInfo, ChainState, CheckResult, Envelope, Evidence, HostInfo, OsInfo, ProtoError,
    REPORT_SCHEMA_V1, Report, SigningKey, Statement, Status,
};
use chrono::{DateTime, Utc};
use serde_json::json;

/// A synthetic enrolled agent: its key, id and chain position.
#[derive(Debug, Clone)]
pub struct SynthAgent {
    pub key: SigningKey,
    pub agent_id: String,
    pub host: HostInfo,
    pub chain: ChainState,
}

/// A deterministic key for agent number `i` of a run `seed`.
pub fn agent_key(seed: u64, i: u64) -> SigningKey {
    let mut secret = [0u8; 32];
    secret[..8].copy_from_slice(&seed.to_le_bytes());
    secret[8..16].copy_from_slice(&i.to_le_bytes());
    secret[16] = 0xa7;
    SigningKey::from_bytes(&secret)
}

/// The host facts of synthetic host `i`.
pub fn host(i: u64) -> HostInfo {
    HostInfo {
        hostname: format!("host-{i:06}"),
        machine_id: format!("{:032x}", u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        os: OsInfo {
            id: "debian".into(),
            version_id: "12".into(),
            pretty_name: "Debian GNU/Linux 12 (bookworm)".into(),
        },
        kernel: "6.1.0-18-amd64".into(),
    }
}

impl SynthAgent {
    pub fn new(key: SigningKey, agent_id: String, host: HostInfo) -> Self {
        let chain = ChainState::genesis(&key.verifying_key());
        SynthAgent {
            key,
            agent_id,
            host,
            chain,
        }
    }

    /// The next report of the chain, signed: the envelope JSON and the statement bytes.
    /// Advances the chain.
    pub fn next_envelope(&mut self, at: DateTime<Utc>) -> Result<Vec<u8>, ProtoError> {
        let mut report = report(&self.agent_id, &self.host, at);
        self.chain.stamp(&mut report);
        let bytes = Statement::for_report(report).to_bytes()?;
        let json = Envelope::sign(&bytes, &self.key).to_json()?;
        self.chain.advance(&bytes);
        Ok(json)
    }
}

/// A report of every check of the catalogue as a Linux agent writes it (without
/// `seq`/`prev`): the ids that never apply on Linux are `not_applicable` with the
/// catalogue's reason; the others get statuses, facts and evidence.
pub fn report(agent_id: &str, host: &HostInfo, at: DateTime<Utc>) -> Report {
    // The agent's own registry is the one list of check ids.
    let mut applicable = 0usize;
    let results = attest_agent::checks::ids()
        .into_iter()
        .map(|check| {
            if let Some(reason) = attest_proto::catalogue::check(check)
                .and_then(|c| c.not_applicable_on(attest_proto::Platform::Linux))
            {
                return CheckResult::undecided(check, Status::NotApplicable, reason);
            }
            let i = applicable;
            applicable += 1;
            let status = match i % 7 {
                0 | 2 | 3 | 5 => Status::Pass,
                1 => Status::Fail,
                4 => Status::Info,
                _ => Status::Unknown,
            };
            let mut r = CheckResult::new(
                check,
                status,
                format!(
                    "{check}: the setting was read from the host configuration and compared \
                     with the threshold of the catalogue."
                ),
            );
            if status == Status::Unknown {
                r.reason = Some("/etc/shadow: permission denied; run as root".into());
            }
            r.facts.insert("threshold".into(), json!(90));
            r.facts.insert("observed".into(), json!(i * 7));
            r.facts
                .insert("source".into(), json!(format!("/etc/attest/{check}.conf")));
            r.evidence.push(Evidence::File {
                path: format!("/etc/{check}/config"),
                excerpt: format!(
                    "setting_one = enabled\nsetting_two = 42\nstate = /var/lib/{check}\n"
                ),
                sha256: format!("sha256:{}", attest_proto::sha256_hex(check.as_bytes())),
            });
            r
        })
        .collect();
    Report {
        schema: REPORT_SCHEMA_V1.into(),
        agent_id: agent_id.to_owned(),
        seq: 0,
        prev: String::new(),
        collected_at: at,
        agent: AgentInfo {
            version: "0.1.0".into(),
            replay: false,
        },
        host: host.clone(),
        results,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_about_twelve_kilobytes_and_verify() {
        let key = agent_key(1, 2);
        let mut agent = SynthAgent::new(key.clone(), "agt_x".into(), host(2));
        let at = "2026-11-25T14:00:00Z".parse().unwrap();
        let json = agent.next_envelope(at).unwrap();
        let env = Envelope::from_json(&json).unwrap();
        let payload = env.verify(&key.verifying_key()).unwrap();
        assert!(
            (9_000..16_000).contains(&payload.len()),
            "{}",
            payload.len()
        );
        let st = Statement::from_slice(&payload).unwrap();
        assert_eq!(
            st.predicate.results.len(),
            attest_proto::catalogue::CHECKS.len()
        );
        assert_eq!(st.predicate.seq, 1);
        assert_eq!(agent.chain.next_seq, 2);
    }
}
