//! A simulated fleet: agents with realistic, signed reports of every check of the
//! mapping (the catalogue's, by default). [`crate::fill`] writes it straight into a
//! store through the same batch ingest the API uses. For the report tests, the bundle
//! tests and the fleet-report benchmark (`attest-fleetgen`).
//!
//! The hosts are Linux: a check the catalogue says never applies there (`system.sip`,
//! …) is `not_applicable` with the catalogue's reason and no evidence, as the agent
//! writes it. Other verdicts are deterministic in (seed, host, round, check): most
//! hosts pass most checks, a few fail some, inventory checks are `info`, and now and
//! then a check is `unknown` or `not_applicable`, each with a summary and a file
//! evidence excerpt.

use attest_proto::{
    AgentInfo, ChainState, CheckResult, Envelope, Evidence, HostInfo, OsInfo, ProtoError,
    REPORT_SCHEMA_V1, Report, SigningKey, Statement, Status,
};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// One simulated agent.
#[derive(Debug, Clone)]
pub struct SimAgent {
    pub index: u64,
    pub key: SigningKey,
    pub agent_id: String,
    pub host: HostInfo,
    pub chain: ChainState,
}

/// A deterministic number in `0..1000` for (seed, host, round, what).
fn roll(seed: u64, host: u64, round: u64, what: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(host.to_le_bytes());
    h.update(round.to_le_bytes());
    h.update(what.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_le_bytes(b) % 1000
}

/// The host facts of simulated host `i`.
pub fn sim_host(i: u64) -> HostInfo {
    let (id, version, pretty) = match i % 4 {
        0 | 1 => ("debian", "12", "Debian GNU/Linux 12 (bookworm)"),
        2 => ("ubuntu", "24.04", "Ubuntu 24.04.1 LTS"),
        _ => ("rocky", "9.4", "Rocky Linux 9.4 (Blue Onyx)"),
    };
    HostInfo {
        hostname: if i.is_multiple_of(3) {
            format!("srv-{i:05}")
        } else {
            format!("lap-{i:05}")
        },
        machine_id: format!(
            "{:032x}",
            u128::from(i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ),
        os: OsInfo {
            id: id.into(),
            version_id: version.into(),
            pretty_name: pretty.into(),
        },
        kernel: "6.1.0-28-amd64".into(),
    }
}

/// A deterministic key for agent `i` of run `seed`.
pub fn sim_key(seed: u64, i: u64) -> SigningKey {
    let mut secret = [0u8; 32];
    secret[..8].copy_from_slice(&seed.to_le_bytes());
    secret[8..16].copy_from_slice(&i.to_le_bytes());
    secret[16] = 0x5e;
    SigningKey::from_bytes(&secret)
}

/// Fail rate per check, in ‰.
fn fail_rate(check: &str) -> u64 {
    match check {
        "patch.security_updates_pending" => 180,
        "patch.reboot_pending" => 120,
        "system.screen_lock" | "accounts.password_min_length" => 90,
        "accounts.sudo_nopasswd" | "accounts.ssh_password_auth" => 60,
        "disk.swap_encrypted" | "patch.index_fresh" => 40,
        _ => 15,
    }
}

/// One result of a simulated host.
fn result(check: &str, seed: u64, host: u64, round: u64) -> CheckResult {
    if let Some(reason) = attest_proto::catalogue::check(check)
        .and_then(|c| c.not_applicable_on(attest_proto::Platform::Linux))
    {
        return CheckResult::undecided(check, Status::NotApplicable, reason);
    }
    let r = roll(seed, host, round, check);
    let (status, summary, excerpt, path) = match check {
        "inventory.host" | "inventory.software" | "accounts.privileged_users" => (
            Status::Info,
            format!("{check}: inventory recorded."),
            "recorded\n".to_owned(),
            "/etc/os-release",
        ),
        "accounts.ssh_root_login" | "accounts.ssh_password_auth" if r >= 900 => (
            Status::NotApplicable,
            "No /etc/ssh/sshd_config: no SSH server.".to_owned(),
            String::new(),
            "/etc/ssh/sshd_config",
        ),
        "system.secure_boot" if r >= 970 => (
            Status::Unknown,
            "/sys/firmware is not visible (container?).".to_owned(),
            String::new(),
            "/sys/firmware",
        ),
        _ if r < fail_rate(check) => fail_of(check),
        _ => pass_of(check),
    };
    let mut out = CheckResult::new(check, status, summary);
    if matches!(status, Status::Unknown | Status::NotApplicable) {
        out.reason = Some(out.summary.clone());
    }
    out.facts.insert("observed".into(), serde_json::json!(r));
    match check {
        "inventory.host" => {
            // The agent's shape (`docs/checks.md`): the six DMI values, null when absent.
            let (vendor, model, version, bios_vendor) = match host % 3 {
                0 => ("Dell Inc.", "PowerEdge R650", None, "Dell Inc."),
                1 => (
                    "LENOVO",
                    "20XWCTO1WW",
                    Some("ThinkPad X1 Carbon Gen 9"),
                    "LENOVO",
                ),
                _ => ("HP", "HP EliteBook 840 G8", None, "HP"),
            };
            out.facts.insert(
                "hardware".into(),
                serde_json::json!({
                    "vendor": vendor,
                    "model": model,
                    "version": version,
                    "serial": format!("SN{:08X}", host.wrapping_mul(2_654_435_761) & 0xffff_ffff),
                    "bios_vendor": bios_vendor,
                    "bios_version": format!("1.{}.0", host % 20),
                }),
            );
        }
        "inventory.software" => {
            out.facts
                .insert("count".into(), serde_json::json!(1200 + (r % 400)));
        }
        _ => {}
    }
    if !excerpt.is_empty() {
        out.evidence.push(Evidence::File {
            path: path.to_owned(),
            excerpt: excerpt.clone(),
            sha256: format!(
                "sha256:{}",
                attest_proto::sha256_hex(format!("{path}\n{excerpt}").as_bytes())
            ),
        });
    }
    out
}

fn fail_of(check: &str) -> (Status, String, String, &'static str) {
    let (summary, excerpt, path) = match check {
        "disk.root_encrypted" => (
            "/ is on nvme0n1p2, which is not encrypted.",
            "27 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw",
            "/proc/self/mountinfo",
        ),
        "disk.fixed_volumes_encrypted" => (
            "1 fixed volume is not encrypted: /srv.",
            "41 27 8:17 / /srv rw,relatime - xfs /dev/sdb1 rw",
            "/proc/self/mountinfo",
        ),
        "disk.swap_encrypted" => (
            "Swap /dev/sda3 is not encrypted.",
            "/dev/sda3 partition 8388604 0 -2",
            "/proc/swaps",
        ),
        "patch.security_updates_pending" => (
            "3 packages have security updates pending.",
            "openssl amd64 3.0.14-1~deb12u1 → 3.0.15-1~deb12u1",
            "/var/lib/apt/lists/deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages",
        ),
        "patch.reboot_pending" => (
            "A reboot is pending: /run/reboot-required exists.",
            "*** System restart required ***",
            "/run/reboot-required",
        ),
        "system.screen_lock" => (
            "The screen locks after 1800 s idle, above 900 s.",
            "idle-delay=uint32 1800",
            "/etc/dconf/db/local.d/00-screensaver",
        ),
        "accounts.password_min_length" => (
            "Minimum password length is 8 (pam_pwquality default), below 12.",
            "password requisite pam_pwquality.so retry=3",
            "/etc/pam.d/common-password",
        ),
        "accounts.sudo_nopasswd" => (
            "1 sudoers rule has NOPASSWD.",
            "deploy ALL=(ALL) NOPASSWD: ALL",
            "/etc/sudoers.d/deploy",
        ),
        "accounts.ssh_password_auth" => (
            "sshd accepts passwords: PasswordAuthentication yes.",
            "PasswordAuthentication yes",
            "/etc/ssh/sshd_config",
        ),
        "patch.index_fresh" => (
            "The package index is 23 days old, above 7.",
            "bookworm InRelease mtime 2026-11-02",
            "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
        ),
        "system.firewall" => (
            "No host firewall is enabled.",
            "ENABLED=no",
            "/etc/ufw/ufw.conf",
        ),
        "malware.protection" => (
            "No anti-malware or EDR service is enabled.",
            "(no enabled unit of the known list)",
            "/etc/systemd/system/multi-user.target.wants",
        ),
        _ => (
            "The setting falls short of the catalogue's rule.",
            "setting = off",
            "/etc/attest-sim.conf",
        ),
    };
    (
        Status::Fail,
        summary.to_owned(),
        format!("{excerpt}\n"),
        path,
    )
}

fn pass_of(check: &str) -> (Status, String, String, &'static str) {
    (
        Status::Pass,
        format!("{check}: meets the catalogue's rule."),
        "setting = on\n".to_owned(),
        "/etc/attest-sim.conf",
    )
}

/// The report of simulated host `i` in `round` (without `seq`/`prev`): one result per
/// id of `checks`, in that order (the collector's catalogue, `Catalog::checks`).
pub fn sim_report<S: AsRef<str>>(
    checks: impl IntoIterator<Item = S>,
    agent: &SimAgent,
    seed: u64,
    round: u64,
    at: DateTime<Utc>,
) -> Report {
    Report {
        schema: REPORT_SCHEMA_V1.into(),
        agent_id: agent.agent_id.clone(),
        seq: 0,
        prev: String::new(),
        collected_at: at,
        agent: AgentInfo {
            version: "0.1.0".into(),
            replay: false,
        },
        host: agent.host.clone(),
        results: checks
            .into_iter()
            .map(|c| result(c.as_ref(), seed, agent.index, round))
            .collect(),
    }
}

impl SimAgent {
    /// Simulated agent `index` of run `seed` (id `agt_sim_<seed>_<index>`, key
    /// [`sim_key`]) on `host`, at the start of its chain.
    pub fn new(seed: u64, index: u64, host: HostInfo) -> Self {
        let key = sim_key(seed, index);
        let chain = ChainState::genesis(&key.verifying_key());
        SimAgent {
            index,
            key,
            agent_id: format!("agt_sim_{seed}_{index:05}"),
            host,
            chain,
        }
    }

    /// Signs the next report of the chain under the lowest schema that carries it, as
    /// the agent does (v2 for a replay or `api` evidence); returns the envelope JSON.
    pub fn sign_next(&mut self, report: &mut Report) -> Result<Vec<u8>, ProtoError> {
        self.chain.stamp(report);
        report.schema = report.required_schema().to_owned();
        let bytes = Statement::for_report(report.clone()).to_bytes()?;
        let json = Envelope::sign(&bytes, &self.key).to_json()?;
        self.chain.advance(&bytes);
        Ok(json)
    }
}

/// The host facts of simulated Mac `i` (macOS 26.1 on Apple silicon).
pub fn sim_mac(i: u64) -> HostInfo {
    HostInfo {
        os: OsInfo {
            id: "macos".into(),
            version_id: "26.1".into(),
            pretty_name: "macOS 26.1 (25B78)".into(),
        },
        kernel: "25.1.0".into(),
        ..sim_host(i)
    }
}
