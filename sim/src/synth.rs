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
        let report = report(&self.agent_id, &self.host, at);
        self.sign_next(report)
    }

    /// The next report of a realistic history ([`realistic_report`] of `hour`),
    /// signed. Advances the chain.
    pub fn next_realistic(&mut self, hour: u64, at: DateTime<Utc>) -> Result<Vec<u8>, ProtoError> {
        let report = realistic_report(&self.agent_id, &self.host, hour, at);
        self.sign_next(report)
    }

    /// The next report of a realistic history as the agent sends it
    /// (`attest.report/v3`): [`realistic_report`] of `hour` with its package list
    /// moved out into an inventory list ([`attest_proto::inventory::split`]), signed.
    /// Returns the envelope JSON and the list's canonical document. Advances the
    /// chain.
    pub fn next_realistic_v3(
        &mut self,
        hour: u64,
        at: DateTime<Utc>,
    ) -> Result<(Vec<u8>, Vec<u8>), ProtoError> {
        let (report, list) = realistic_report_v3(&self.agent_id, &self.host, hour, at)?;
        Ok((self.sign_next(report)?, list))
    }

    /// The signed envelope of an inventory list document, as the agent posts it to
    /// `/v1/inventory-lists`.
    pub fn sign_list(&self, document: &[u8]) -> Result<Vec<u8>, ProtoError> {
        Envelope::sign_payload(
            attest_proto::inventory::INVENTORY_LIST_PAYLOAD_TYPE,
            document,
            &self.key,
        )
        .to_json()
    }

    /// `report` stamped with the chain's `seq`/`prev` and signed: the envelope JSON.
    /// Advances the chain.
    pub fn sign_next(&mut self, mut report: Report) -> Result<Vec<u8>, ProtoError> {
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
    // The catalogue is the one list of check ids (the agent's registry is tested
    // against it).
    let mut applicable = 0usize;
    let results = attest_proto::catalogue::ids()
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

/// Which reports a synthetic agent sends one after another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stream {
    /// The same 25-check [`report`] again and again (only `seq`/`prev` change).
    #[default]
    Synthetic,
    /// An hourly history ([`realistic_report`]): the 25-check report with a software
    /// inventory of [`HISTORY_PACKAGES`] packages, its time moving every hour, a
    /// package upgraded every [`PACKAGE_EVERY`] reports, a verdict changed every
    /// [`VERDICT_EVERY`] (the rates of `scripts/bench-history.sh`), sent as the agent
    /// sends it: `attest.report/v3`, the package list apart as an inventory list
    /// ([`realistic_report_v3`]), posted when it changes.
    Realistic,
    /// The same history with the package list inline in every report
    /// (`attest.report/v1`, as agents before inventory lists sent it).
    RealisticInline,
}

impl Stream {
    /// Whether the stream is an hourly history (sent by difference).
    pub fn is_history(self) -> bool {
        matches!(self, Stream::Realistic | Stream::RealisticInline)
    }
}

impl std::str::FromStr for Stream {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "synthetic" => Ok(Stream::Synthetic),
            "realistic" => Ok(Stream::Realistic),
            "realistic-inline" => Ok(Stream::RealisticInline),
            other => Err(format!(
                "unknown stream {other:?}: synthetic, realistic or realistic-inline"
            )),
        }
    }
}

/// Packages in the software inventory of a realistic report.
pub const HISTORY_PACKAGES: usize = 400;
/// A package is upgraded every this many hours of a realistic history (a week).
pub const PACKAGE_EVERY: u64 = 168;
/// A verdict changes every this many hours of a realistic history (a month).
pub const VERDICT_EVERY: u64 = 720;

/// The hour at which the history of synthetic agent `i` starts, spread over a year,
/// so that a short run of many agents meets the history's changes at their rates.
pub fn history_start(seed: u64, i: u64) -> u64 {
    (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ seed.rotate_left(17)) % 8760
}

const PACKAGE_NAMES: [&str; 20] = [
    "lib",
    "python3",
    "gir1.2",
    "fonts",
    "node",
    "perl",
    "gnome",
    "x11",
    "ruby",
    "golang",
    "texlive",
    "firmware",
    "linux",
    "openssh",
    "systemd",
    "gstreamer1.0",
    "qt5",
    "mesa",
    "libreoffice",
    "php8.2",
];

/// The package list of hour `hour`: name, version, architecture, sorted by name; the
/// package `(j / PACKAGE_EVERY) % n` upgraded at every hour `j` that is a positive
/// multiple of [`PACKAGE_EVERY`] up to `hour`.
fn packages(hour: u64) -> Vec<(String, String, &'static str)> {
    let mut pkgs: Vec<(String, String, &'static str)> = (0..HISTORY_PACKAGES)
        .map(|k| {
            let family = PACKAGE_NAMES[k % PACKAGE_NAMES.len()];
            let arch = if k % 9 == 0 { "all" } else { "amd64" };
            (
                format!("{family}-component{k:03}"),
                format!(
                    "{}.{}.{}-{}+deb12u{}",
                    1 + k % 5,
                    k % 17,
                    k % 31,
                    1 + k % 3,
                    k % 4
                ),
                arch,
            )
        })
        .collect();
    pkgs.sort();
    let n = pkgs.len() as u64;
    let mut j = PACKAGE_EVERY;
    while j <= hour {
        let k = usize::try_from((j / PACKAGE_EVERY) % n).unwrap_or(0);
        if let Some(p) = pkgs.get_mut(k) {
            let base = p.1.split("+u").next().unwrap_or_default().to_owned();
            p.1 = format!("{base}+u{j}");
        }
        j += PACKAGE_EVERY;
    }
    pkgs
}

/// The report of hour `hour` of a realistic history, collected `at` (without
/// `seq`/`prev`): [`report`] with `inventory.software` carrying the package list of
/// that hour ([`HISTORY_PACKAGES`] packages, its digest in the summary and facts, as
/// the agent writes it), and the verdict of result `(j / VERDICT_EVERY) % n` flipped
/// between pass and fail at every hour `j` that is a positive multiple of
/// [`VERDICT_EVERY`] up to `hour`. Two consecutive hours differ in the time only,
/// except at those multiples.
pub fn realistic_report(agent_id: &str, host: &HostInfo, hour: u64, at: DateTime<Utc>) -> Report {
    let mut report = report(agent_id, host, at);
    let pkgs = packages(hour);
    let mut listing = String::new();
    for (name, version, arch) in &pkgs {
        listing.push_str(&format!("{name}\t{version}\t{arch}\n"));
    }
    let digest = format!("sha256:{}", attest_proto::sha256_hex(listing.as_bytes()));
    if let Some(sw) = report
        .results
        .iter_mut()
        .find(|r| r.check == "inventory.software")
    {
        let mut r = CheckResult::new(
            "inventory.software",
            Status::Info,
            format!(
                "{} packages are installed (from dpkg); the sorted list hashes to {digest}.",
                pkgs.len()
            ),
        );
        r.facts.insert("source".into(), json!("dpkg"));
        r.facts.insert("count".into(), json!(pkgs.len()));
        r.facts.insert("sha256".into(), json!(digest));
        r.facts.insert(
            "packages".into(),
            pkgs.iter()
                .map(|(name, version, arch)| {
                    json!({"name": name, "version": version, "architecture": arch})
                })
                .collect(),
        );
        r.evidence.push(Evidence::File {
            path: "/var/lib/dpkg/status".into(),
            excerpt: String::new(),
            sha256: digest.clone(),
        });
        *sw = r;
    }
    let n = report.results.len() as u64;
    let mut j = VERDICT_EVERY;
    while j <= hour && n > 0 {
        let k = usize::try_from((j / VERDICT_EVERY) % n).unwrap_or(0);
        if let Some(r) = report.results.get_mut(k) {
            let now = match r.status {
                Status::Pass => Some(Status::Fail),
                Status::Fail => Some(Status::Pass),
                _ => None,
            };
            if let Some(now) = now {
                r.status = now;
                r.summary = format!("{}: changed to {} at hour {j}", r.check, now.as_str());
            }
        }
        j += VERDICT_EVERY;
    }
    report
}

/// [`realistic_report`] as the agent sends it: `attest.report/v3`, its package list
/// moved out into an inventory list. Returns the report and the list's canonical
/// document (whose address the report names).
pub fn realistic_report_v3(
    agent_id: &str,
    host: &HostInfo,
    hour: u64,
    at: DateTime<Utc>,
) -> Result<(Report, Vec<u8>), ProtoError> {
    let mut report = realistic_report(agent_id, host, hour, at);
    let (_, document) = attest_proto::inventory::split(&mut report)?.ok_or_else(|| {
        ProtoError::Internal("the realistic report has no package list to split".into())
    })?;
    Ok((report, document))
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

    /// The facts of a report that change along a realistic history.
    fn shape(r: &Report) -> (String, Vec<(String, Status)>) {
        let sw = r
            .results
            .iter()
            .find(|r| r.check == "inventory.software")
            .unwrap();
        (
            sw.facts["sha256"].as_str().unwrap().to_owned(),
            r.results
                .iter()
                .map(|r| (r.check.clone(), r.status))
                .collect(),
        )
    }

    /// The v3 stream is what the agent sends: the list moved out, its address in the
    /// signed report, the statement valid, the list changing only with an upgrade,
    /// and the envelope a fraction of the inline one.
    #[test]
    fn realistic_v3_names_its_list_and_changes_it_only_with_an_upgrade() {
        let host = host(4);
        let at: DateTime<Utc> = "2026-11-25T14:00:00Z".parse().unwrap();
        let key = agent_key(9, 1);
        let mut agent = SynthAgent::new(key.clone(), "agt_v3".into(), host.clone());
        let mut inline = SynthAgent::new(key, "agt_v3".into(), host);
        let mut documents = Vec::new();
        for h in (PACKAGE_EVERY - 2)..(PACKAGE_EVERY + 2) {
            let (json, document) = agent.next_realistic_v3(h, at).unwrap();
            let envelope = Envelope::from_json(&json).unwrap();
            let payload = envelope
                .verified_payload(&agent.key.verifying_key())
                .unwrap();
            let statement = Statement::from_slice(payload).unwrap();
            assert_eq!(statement.predicate.schema, attest_proto::REPORT_SCHEMA_V3);
            assert_eq!(
                attest_proto::inventory::address_of(&statement.predicate),
                Some(attest_proto::inventory::address(&document).as_str())
            );
            let full = inline.next_realistic(h, at).unwrap();
            assert!(
                json.len() * 2 < full.len(),
                "{} vs {}",
                json.len(),
                full.len()
            );
            documents.push(document);
        }
        assert_eq!(documents[0], documents[1]);
        assert_ne!(
            documents[1], documents[2],
            "the upgrade at hour {PACKAGE_EVERY}"
        );
        assert_eq!(documents[2], documents[3]);
        let list = attest_proto::inventory::InventoryList::from_slice(&documents[0]).unwrap();
        assert_eq!(list.packages.len(), HISTORY_PACKAGES);
    }

    #[test]
    fn realistic_history_changes_at_its_rates() {
        let host = host(3);
        let at: DateTime<Utc> = "2026-11-25T14:00:00Z".parse().unwrap();
        let first = realistic_report("agt_x", &host, 0, at);
        let sw = first
            .results
            .iter()
            .find(|r| r.check == "inventory.software")
            .unwrap();
        assert_eq!(
            sw.facts["packages"].as_array().unwrap().len(),
            HISTORY_PACKAGES
        );
        let (mut upgrades, mut verdicts) = (Vec::new(), Vec::new());
        let mut prev = shape(&first);
        let hours = 3 * VERDICT_EVERY;
        for h in 1..=hours {
            let now = shape(&realistic_report("agt_x", &host, h, at));
            if now.0 != prev.0 {
                upgrades.push(h);
            }
            if now.1 != prev.1 {
                verdicts.push(h);
            }
            prev = now;
        }
        let every = |n: u64| (1..=hours / n).map(|k| k * n).collect::<Vec<_>>();
        assert_eq!(upgrades, every(PACKAGE_EVERY));
        // A verdict flips at a multiple of 720 when the chosen result is pass or fail.
        assert!(!verdicts.is_empty());
        assert!(
            verdicts.iter().all(|h| h % VERDICT_EVERY == 0),
            "{verdicts:?}"
        );
        // Starts are spread: 1,000 agents do not all start at one hour.
        let starts: std::collections::BTreeSet<u64> =
            (0..1000).map(|i| history_start(1, i)).collect();
        assert!(starts.len() > 900 && starts.iter().all(|&s| s < 8760));
    }

    #[test]
    fn realistic_deltas_rebuild_byte_for_byte() {
        use attest_agent::delta::DeltaSender;
        let key = agent_key(4, 5);
        let mut agent = SynthAgent::new(key.clone(), "agt_delta".into(), host(5));
        let mut sender = DeltaSender::in_memory("agt_delta");
        let t0: DateTime<Utc> = "2026-11-25T14:00:00Z".parse().unwrap();
        let start = PACKAGE_EVERY * 4 - 3;
        let mut previous: Option<Vec<u8>> = None;
        let mut delta_bytes = 0usize;
        let mut full_bytes = 0usize;
        for k in 0..8u32 {
            let at = t0 + chrono::Duration::hours(i64::from(k));
            let envelope = agent.next_realistic(start + u64::from(k), at).unwrap();
            let payload = Envelope::from_json(&envelope)
                .unwrap()
                .verify(&key.verifying_key())
                .unwrap();
            assert!(payload.len() > 30_000, "{}", payload.len());
            match (&previous, sender.encode(&envelope)) {
                (None, None) => {}
                (Some(prev), Some((named, body))) => {
                    assert!(named.starts_with("agt_delta "));
                    let dict = attest_proto::form::to_form(prev);
                    let form = attest_collector::store::codec::decompress_bounded(
                        &body,
                        Some(&dict),
                        8 << 20,
                    )
                    .unwrap();
                    assert!(attest_proto::form::from_form(&form).unwrap() == envelope);
                    delta_bytes += body.len();
                    full_bytes += envelope.len();
                }
                (p, e) => panic!("report {k}: base {} delta {}", p.is_some(), e.is_some()),
            }
            sender.acknowledged(&envelope, true);
            previous = Some(envelope);
        }
        // The upgrade at hour 4 × 168 is among them; deltas stay far smaller.
        assert!(
            delta_bytes * 20 < full_bytes,
            "{delta_bytes} vs {full_bytes}"
        );
    }
}
