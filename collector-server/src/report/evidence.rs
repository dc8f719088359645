//! What reports take from the stored envelopes themselves: the signature status (each
//! envelope is verified again against the agent's enrolled key, and its payload
//! against the stored SHA-256), the results (check, status, summary, reason) of a
//! verified payload, the sources of every result (path, command line or API call, and
//! SHA-256) with the evidence excerpts of results that did not pass, the hardware facts
//! of `inventory.host` and the package count of `inventory.software` for the asset
//! inventory (read with [`attest_proto::facts`], the agent's own definitions), and
//! whether the signed report is a replay (`agent.replay`, never evidence).
//!
//! Each envelope is verified once and its payload decoded once, on all cores; only
//! the extracts are kept.

use std::collections::HashMap;

use attest_proto::{
    BASE64, Envelope, Evidence, PAYLOAD_TYPE, facts, pae, public_key_from_bytes, sha256_hex,
};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::catalog::FactWants;
use crate::fleet::{HostRecord, ResultRecord};

/// The longest excerpt a report shows (characters); the bundle has them whole.
pub const MAX_EXCERPT: usize = 1200;

/// Whether a stored envelope still verifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "detail")]
pub enum Signature {
    /// Ed25519 over the DSSE PAE verifies with the enrolled key, and the payload's
    /// SHA-256 is the stored one.
    Verified,
    Failed(String),
}

impl Signature {
    pub fn is_verified(&self) -> bool {
        matches!(self, Signature::Verified)
    }

    pub fn text(&self) -> String {
        match self {
            Signature::Verified => "verified".to_owned(),
            Signature::Failed(why) => format!("FAILED: {why}"),
        }
    }
}

/// One source read, as reports show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Excerpt {
    /// `file`, `command` or `api`.
    pub kind: &'static str,
    /// The path, the command line (with its exit status), or what an `api` source
    /// called (`NetUserModalsGet(3)`, `sysctl vm.swapusage`, a registry key).
    pub source: String,
    /// `sha256:<hex>` of the file, of the command's output, or of the canonical JSON
    /// of the call's result.
    pub sha256: String,
    /// The deciding lines (cut at [`MAX_EXCERPT`] characters).
    pub excerpt: String,
}

/// Hardware facts of a host, as reports show them (absent values left out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Hardware {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

impl Hardware {
    pub fn is_empty(&self) -> bool {
        self.vendor.is_none() && self.model.is_none() && self.serial.is_none()
    }
}

impl From<facts::Hardware> for Hardware {
    fn from(hw: facts::Hardware) -> Self {
        Hardware {
            vendor: hw.vendor,
            model: hw.model,
            serial: hw.serial,
        }
    }
}

/// What a report takes from one envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeFacts {
    pub signature: Signature,
    /// The results of the payload, in its order, when the signature is
    /// [`Signature::Verified`] (the same rows ingest stored from it); `None` otherwise,
    /// and the caller reads the stored rows.
    pub results: Option<Vec<ResultRecord>>,
    /// The sources of every result, by check; with their excerpts for results whose
    /// status is not `pass`, `info` or `not_applicable` (empty for those).
    pub excerpts: HashMap<String, Vec<Excerpt>>,
    pub hardware: Hardware,
    /// `inventory.software`'s package count.
    pub packages: Option<u64>,
    /// The signed report says `agent.replay`: decided from recorded captures, never
    /// evidence (the store never cites one as evidence; this catches one stored
    /// unmarked).
    pub replay: bool,
}

#[derive(Deserialize)]
struct MinStatement<'a> {
    #[serde(borrow)]
    predicate: MinReport<'a>,
}

#[derive(Deserialize)]
struct MinReport<'a> {
    #[serde(default)]
    agent: MinAgent,
    #[serde(borrow)]
    results: Vec<MinResult<'a>>,
}

#[derive(Default, Deserialize)]
struct MinAgent {
    #[serde(default)]
    replay: bool,
}

#[derive(Deserialize)]
struct MinResult<'a> {
    check: String,
    status: String,
    summary: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default, borrow)]
    facts: Option<&'a RawValue>,
    #[serde(default, borrow)]
    evidence: Option<&'a RawValue>,
}

fn cut(s: &str) -> String {
    if s.chars().count() <= MAX_EXCERPT {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(MAX_EXCERPT).collect();
    out.push_str("\n… (cut; the bundle has the whole excerpt)");
    out
}

/// Reports' view of one evidence item.
pub fn excerpt_of(e: &Evidence) -> Excerpt {
    match e {
        Evidence::File {
            path,
            excerpt,
            sha256,
        } => Excerpt {
            kind: "file",
            source: path.clone(),
            sha256: sha256.clone(),
            excerpt: cut(excerpt),
        },
        Evidence::Command {
            argv,
            exit_code,
            excerpt,
            sha256,
        } => Excerpt {
            kind: "command",
            source: match exit_code {
                Some(c) => format!("{} (exit {c})", argv.join(" ")),
                None => argv.join(" "),
            },
            sha256: sha256.clone(),
            excerpt: cut(excerpt),
        },
        Evidence::Api {
            name,
            excerpt,
            sha256,
        } => Excerpt {
            kind: "api",
            source: name.clone(),
            sha256: sha256.clone(),
            excerpt: cut(excerpt),
        },
    }
}

/// The hardware facts of an `inventory.host` result: exactly
/// `facts.hardware.{vendor,model,serial}`, as the agent writes them
/// ([`facts::HostFacts`]: a value that is null, blank or not a string is absent).
fn hardware_of(raw: &RawValue) -> Hardware {
    serde_json::from_str::<facts::HostFacts>(raw.get())
        .ok()
        .and_then(|f| f.hardware)
        .map(Hardware::from)
        .unwrap_or_default()
}

/// The package count of an `inventory.software` result: exactly `facts.count`
/// ([`facts::SoftwareFacts`]).
fn packages_of(raw: &RawValue) -> Option<u64> {
    serde_json::from_str::<facts::SoftwareFacts>(raw.get())
        .ok()
        .and_then(|f| f.count)
}

#[derive(Deserialize)]
struct FastEnvelope<'a> {
    #[serde(rename = "payloadType")]
    payload_type: &'a str,
    payload: &'a str,
    signatures: Vec<FastSignature<'a>>,
}

#[derive(Deserialize)]
struct FastSignature<'a> {
    keyid: &'a str,
    sig: &'a str,
}

/// Verifies a stored envelope with the host's key and returns its payload. The fast
/// path reads the envelope without copying it (stored envelopes passed the strict
/// decoder at ingest); anything unusual goes through [`Envelope::from_json`].
fn verified_payload(host: &HostRecord, envelope: &[u8]) -> Result<Vec<u8>, String> {
    let key = public_key_from_bytes(&host.public_key)
        .map_err(|e| format!("the enrolled key is unusable: {e}"))?;
    if let Ok(fast) = serde_json::from_slice::<FastEnvelope<'_>>(envelope) {
        if fast.payload_type != PAYLOAD_TYPE {
            return Err(format!("payload type {:?}", fast.payload_type));
        }
        let payload = BASE64
            .decode(fast.payload)
            .map_err(|e| format!("the payload is not base64: {e}"))?;
        let message = pae(PAYLOAD_TYPE, &payload);
        let mut signed_by_host = false;
        for s in fast.signatures.iter().filter(|s| s.keyid == host.keyid) {
            signed_by_host = true;
            let Ok(raw) = BASE64.decode(s.sig) else {
                continue;
            };
            let Ok(sig) = <[u8; 64]>::try_from(raw.as_slice()) else {
                continue;
            };
            if key
                .verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&sig))
                .is_ok()
            {
                return Ok(payload);
            }
        }
        return Err(if signed_by_host {
            "the signature does not verify".to_owned()
        } else {
            format!("not signed by the enrolled key {}", host.keyid)
        });
    }
    let env = Envelope::from_json(envelope)
        .map_err(|e| format!("the stored envelope does not decode: {e}"))?;
    env.verify(&key).map_err(|e| e.to_string())
}

/// Decodes and verifies one envelope; of each result's facts, keeps the values
/// mapping rules read (`wants`).
pub fn envelope_facts(
    host: &HostRecord,
    payload_sha256: &str,
    envelope: &[u8],
    wants: &FactWants,
) -> EnvelopeFacts {
    let mut out = EnvelopeFacts {
        signature: Signature::Verified,
        results: None,
        excerpts: HashMap::new(),
        hardware: Hardware::default(),
        packages: None,
        replay: false,
    };
    let payload = match verified_payload(host, envelope) {
        Ok(p) => p,
        Err(e) => {
            out.signature = Signature::Failed(e);
            return out;
        }
    };
    let payload = payload.as_slice();
    if sha256_hex(payload) != payload_sha256 {
        out.signature =
            Signature::Failed("the payload's SHA-256 is not the one stored at ingest".to_owned());
    }
    let Ok(st) = serde_json::from_slice::<MinStatement<'_>>(payload) else {
        out.signature = Signature::Failed("the payload is not a report".to_owned());
        return out;
    };
    out.replay = st.predicate.agent.replay;
    let mut results = Vec::with_capacity(st.predicate.results.len());
    for r in st.predicate.results {
        let decided = matches!(r.status.as_str(), "pass" | "info" | "not_applicable");
        if let Some(raw) = r.evidence
            && let Ok(list) = serde_json::from_str::<Vec<Evidence>>(raw.get())
        {
            // Every result names its sources (path or command, SHA-256); the deciding
            // lines are kept for those that did not pass, where a reader needs them.
            out.excerpts.insert(
                r.check.clone(),
                list.iter()
                    .map(|e| {
                        let mut x = excerpt_of(e);
                        if decided {
                            x.excerpt = String::new();
                        }
                        x
                    })
                    .collect(),
            );
        }
        match (r.check.as_str(), r.facts) {
            ("inventory.host", Some(raw)) => out.hardware = hardware_of(raw),
            ("inventory.software", Some(raw)) => out.packages = packages_of(raw),
            _ => {}
        }
        let facts = wants.pick(&r.check, r.facts.map(RawValue::get));
        results.push(ResultRecord {
            check: r.check,
            status: r.status,
            summary: r.summary,
            reason: r.reason,
            facts,
        });
    }
    if out.signature.is_verified() {
        out.results = Some(results);
    }
    out
}

/// Decodes many envelopes on all cores: `(host, payload_sha256, envelope)` → facts,
/// keyed by the caller's key. `tick` is called after each one (progress).
pub fn decode_all<K: Send + Sync + Clone>(
    items: &[(K, &HostRecord, &str, &[u8])],
    wants: &FactWants,
    tick: &(dyn Fn() + Sync),
) -> Vec<(K, EnvelopeFacts)> {
    let threads = std::thread::available_parallelism()
        .map(std::num::NonZero::get)
        .unwrap_or(1)
        .clamp(1, 16);
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|(k, h, sha, env)| {
                            let f = envelope_facts(h, sha, env, wants);
                            tick();
                            (k.clone(), f)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use attest_proto::{
        AgentInfo, CheckResult, HostInfo, REPORT_SCHEMA_V1, Report, SigningKey, Statement, Status,
    };

    fn host(key: &SigningKey) -> HostRecord {
        HostRecord {
            agent_id: "agt_1".into(),
            keyid: attest_proto::keyid(&key.verifying_key()),
            public_key: key.verifying_key().to_bytes(),
            hostname: "h".into(),
            machine_id: "m".into(),
            os_id: "debian".into(),
            os_version_id: "12".into(),
            os_pretty_name: "Debian".into(),
            kernel: "6.1".into(),
            enrolled_at: 0,
            revoked_at: None,
        }
    }

    fn envelope(key: &SigningKey) -> (Vec<u8>, String) {
        let report = Report {
            schema: REPORT_SCHEMA_V1.into(),
            agent_id: "agt_1".into(),
            seq: 1,
            prev: format!("sha256:{}", "0".repeat(64)),
            collected_at: "2026-11-25T14:00:00Z".parse().unwrap(),
            agent: AgentInfo {
                version: "0.1.0".into(),
                replay: false,
            },
            host: HostInfo::default(),
            results: vec![
                CheckResult::new("system.firewall", Status::Fail, "No firewall.").evidence(
                    Evidence::File {
                        path: "/etc/ufw/ufw.conf".into(),
                        excerpt: "ENABLED=no\n".into(),
                        sha256: "sha256:ab".into(),
                    },
                ),
                CheckResult::new("disk.root_encrypted", Status::Pass, "LUKS").evidence(
                    Evidence::File {
                        path: "/proc/self/mountinfo".into(),
                        excerpt: "x".into(),
                        sha256: "sha256:cd".into(),
                    },
                ),
                CheckResult::new("inventory.host", Status::Info, "host").fact(
                    "hardware",
                    serde_json::json!({"vendor": "LENOVO", "model": "20XW", "serial": "PF2ABC"}),
                ),
                CheckResult::new("inventory.software", Status::Info, "sw").fact("count", 1234),
            ],
        };
        sign(report, key)
    }

    fn sign(report: Report, key: &SigningKey) -> (Vec<u8>, String) {
        let bytes = Statement::for_report(report).to_bytes().unwrap();
        let sha = sha256_hex(&bytes);
        (Envelope::sign(&bytes, key).to_json().unwrap(), sha)
    }

    fn facts_of(results: Vec<CheckResult>) -> EnvelopeFacts {
        let key = SigningKey::from_bytes(&[5; 32]);
        let report = Report {
            schema: REPORT_SCHEMA_V1.into(),
            agent_id: "agt_1".into(),
            seq: 1,
            prev: format!("sha256:{}", "0".repeat(64)),
            collected_at: "2026-11-25T14:00:00Z".parse().unwrap(),
            agent: AgentInfo {
                version: "0.1.0".into(),
                replay: false,
            },
            host: HostInfo::default(),
            results,
        };
        let (env, sha) = sign(report, &key);
        envelope_facts(&host(&key), &sha, &env, &FactWants::default())
    }

    #[test]
    fn hardware_is_only_facts_hardware_and_strings() {
        let hw = |facts: serde_json::Value| {
            let mut r = CheckResult::new("inventory.host", Status::Info, "host");
            if let serde_json::Value::Object(m) = facts {
                r.facts = m;
            }
            facts_of(vec![r]).hardware
        };
        // Other places and spellings are not read.
        assert!(hw(serde_json::json!({"vendor": "X", "sys_vendor": "X"})).is_empty());
        assert!(
            hw(serde_json::json!({"hardware": {"sys_vendor": "X", "product_name": "Y"}}))
                .is_empty()
        );
        // Null, empty and non-string values are absent; the others still count.
        assert_eq!(
            hw(serde_json::json!({"hardware": {"vendor": 42, "model": " ", "serial": "S1"}})),
            Hardware {
                vendor: None,
                model: None,
                serial: Some("S1".into()),
            }
        );
        assert!(hw(serde_json::json!({"hardware": null})).is_empty());
        assert!(hw(serde_json::json!({"hardware": "Dell"})).is_empty());
        // A package count elsewhere than `count` is not read.
        let mut sw = CheckResult::new("inventory.software", Status::Info, "sw");
        sw.facts
            .insert("packages_count".into(), serde_json::json!(7));
        assert_eq!(facts_of(vec![sw]).packages, None);
    }

    #[test]
    fn results_come_from_the_verified_payload() {
        let f = facts_of(vec![
            CheckResult::new("system.firewall", Status::Fail, "No firewall."),
            {
                let mut r = CheckResult::new("system.secure_boot", Status::Unknown, "?");
                r.reason = Some("no /sys/firmware".into());
                r
            },
        ]);
        assert_eq!(f.signature, Signature::Verified);
        assert_eq!(
            f.results.unwrap(),
            vec![
                ResultRecord {
                    check: "system.firewall".into(),
                    status: "fail".into(),
                    summary: "No firewall.".into(),
                    reason: None,
                    facts: None,
                },
                ResultRecord {
                    check: "system.secure_boot".into(),
                    status: "unknown".into(),
                    summary: "?".into(),
                    reason: Some("no /sys/firmware".into()),
                    facts: None,
                },
            ]
        );
    }

    #[test]
    fn facts_come_from_a_verified_envelope() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let (env, sha) = envelope(&key);
        let f = envelope_facts(&host(&key), &sha, &env, &FactWants::default());
        assert_eq!(f.signature, Signature::Verified);
        let ex = &f.excerpts["system.firewall"][0];
        assert_eq!(
            (ex.kind, ex.source.as_str(), ex.excerpt.as_str()),
            ("file", "/etc/ufw/ufw.conf", "ENABLED=no\n")
        );
        // A result that passed names its source and digest, without the lines.
        let ok = &f.excerpts["disk.root_encrypted"][0];
        assert_eq!(
            (ok.source.as_str(), ok.sha256.as_str(), ok.excerpt.as_str()),
            ("/proc/self/mountinfo", "sha256:cd", "")
        );
        assert_eq!(f.hardware.vendor.as_deref(), Some("LENOVO"));
        assert_eq!(f.hardware.serial.as_deref(), Some("PF2ABC"));
        assert_eq!(f.packages, Some(1234));
        let results = f.results.unwrap();
        assert_eq!(results.len(), 4);
        assert_eq!(
            (results[0].check.as_str(), results[0].status.as_str()),
            ("system.firewall", "fail")
        );
    }

    #[test]
    fn tampering_shows_as_a_failed_signature() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let (env, sha) = envelope(&key);
        let other = SigningKey::from_bytes(&[4; 32]);
        let f = envelope_facts(&host(&other), &sha, &env, &FactWants::default());
        assert!(!f.signature.is_verified());
        assert!(f.signature.text().starts_with("FAILED: "));
        assert_eq!(f.results, None, "no results from an envelope that fails");
        let f = envelope_facts(&host(&key), &"0".repeat(64), &env, &FactWants::default());
        assert!(
            f.signature.text().contains("not the one stored"),
            "{:?}",
            f.signature
        );
        assert_eq!(
            f.results, None,
            "no results from a payload of another digest"
        );
        let f = envelope_facts(&host(&key), &sha, b"{", &FactWants::default());
        assert!(f.signature.text().contains("does not decode"));
        // Signed by the right key id but another key: the signature does not verify.
        let mut liar = host(&other);
        liar.keyid = attest_proto::keyid(&key.verifying_key());
        let f = envelope_facts(&liar, &sha, &env, &FactWants::default());
        assert_eq!(f.signature.text(), "FAILED: the signature does not verify");
        let mut bad = env.clone();
        let at = bad.len() / 2;
        bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
        let f = envelope_facts(&host(&key), &sha, &bad, &FactWants::default());
        assert!(!f.signature.is_verified());
    }

    #[test]
    fn long_excerpts_are_cut() {
        let long = "x".repeat(MAX_EXCERPT + 10);
        let e = excerpt_of(&Evidence::Command {
            argv: vec!["rpm".into(), "-qa".into()],
            exit_code: Some(0),
            excerpt: long,
            sha256: "sha256:00".into(),
        });
        assert_eq!(e.source, "rpm -qa (exit 0)");
        assert!(e.excerpt.ends_with("the bundle has the whole excerpt)"));
        assert!(e.excerpt.chars().count() < MAX_EXCERPT + 60);
    }
}
