//! The evidence bundle: `attest-collector export --out FILE.tar.gz`, checked offline by
//! `attest-collector verify FILE.tar.gz` ([`super::verify`]).
//!
//! A gzip-compressed tar archive of regular files:
//!
//! | path | what |
//! | --- | --- |
//! | `README.txt` | what the bundle is and how to verify it |
//! | `collector.pub` | the collector's log-signing public key (base64 of 32 bytes) |
//! | `checkpoint.json` | a checkpoint of the collector's Merkle log, signed with that key |
//! | `keys/<agent_id>.json` | each cited agent's enrolled Ed25519 public key and host |
//! | `envelopes/<agent_id>/<seq>.json` | every envelope the report cites, byte for byte as stored (for a period, with its replays: links of the chain, never evidence) |
//! | `inventory-lists/<hex>.json` | every inventory list a cited v3 report names, byte for byte (its SHA-256 is `<hex>`, the address the signed report gives) |
//! | `proofs.json` | per envelope, its log index and inclusion proof in the checkpoint's tree |
//! | `report.json`, `report.html` | the report of the same time or period |
//! | `manifest.json` | the SHA-256 and size of every file above, the scope, the collector key |
//! | `manifest.sig` | the collector's signature over `manifest.json` |
//!
//! `manifest.sig` is two lines: `sha256:<hex of manifest.json>` and `ed25519:<base64
//! signature>`, the signature over `attest.bundle/v1\n` followed by the bytes of
//! `manifest.json`. The hash line lets `verify` tell which of the two files changed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use attest_proto::{BASE64, SigningKey, encode_public_key, keyid, sha256_hex};
use base64::Engine as _;
use ed25519_dalek::Signer as _;
use serde::{Deserialize, Serialize};

use super::{Format, Gathered, Options, Progress, ReportError, When, build, gather, render};
use crate::catalog::Catalog;
use crate::fleet::{Millis, ReportRecord};
use crate::log::{CachedNodes, Checkpoint, leaf_hash};
use crate::store::StoreNodes;
use crate::store::reporting::Stores;

/// The bundle format.
pub const BUNDLE_FORMAT: &str = "attest.bundle/v1";
/// What the manifest signature covers, before the manifest bytes.
pub const MANIFEST_CONTEXT: &[u8] = b"attest.bundle/v1\n";

/// One file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    /// Lowercase hex.
    pub sha256: String,
    pub size: u64,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema: String,
    pub created_at: String,
    /// `as_of` or `period`.
    pub scope: String,
    pub as_of: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_from: Option<String>,
    /// The collector's log-signing public key, base64 of its 32 bytes.
    pub collector_key: String,
    pub collector_key_id: String,
    pub envelopes: usize,
    pub agents: usize,
    pub files: Vec<FileEntry>,
}

/// `keys/<agent_id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentKeyFile {
    pub agent_id: String,
    pub keyid: String,
    /// Base64 of the 32-byte Ed25519 public key.
    pub public_key: String,
    pub hostname: String,
    pub machine_id: String,
    pub enrolled_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// One inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofEntry {
    /// The envelope's path in the bundle.
    pub path: String,
    pub log_index: u64,
    /// Lowercase hex of `SHA-256(0x00 ‖ envelope)`.
    pub leaf_hash: String,
    /// From the leaf up, lowercase hex.
    pub audit_path: Vec<String>,
}

/// `proofs.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proofs {
    pub tree_size: u64,
    pub proofs: Vec<ProofEntry>,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    pub envelopes: usize,
    pub agents: usize,
    pub files: usize,
    pub tree_size: u64,
    pub collector_key_id: String,
}

/// The text of `manifest.sig`.
pub fn manifest_sig_text(manifest: &[u8], key: &SigningKey) -> String {
    let mut msg = MANIFEST_CONTEXT.to_vec();
    msg.extend_from_slice(manifest);
    let sig = key.sign(&msg);
    format!(
        "sha256:{}\ned25519:{}\n",
        sha256_hex(manifest),
        BASE64.encode(sig.to_bytes())
    )
}

const README: &str = "Attest evidence bundle (attest.bundle/v1)\n\
\n\
Signed evidence from an Attest collector, with the report made from it.\n\
Check it offline, without the collector or its database:\n\
\n\
    attest-collector verify THIS_FILE.tar.gz --collector-key KEY_ID\n\
\n\
KEY_ID is the collector's log key id: ask its operator, who prints it with\n\
`attest-collector log-key` on the collector (or put it in your trust file,\n\
~/.config/attest/trusted-collectors, one key id a line). verify says VERIFIED only\n\
for a bundle signed by a key you trust this way; signed by another key, it says\n\
UNPINNED (or FAILED when you gave the key). It checks the SHA-256 of every file\n\
against manifest.json and the collector's signature over it (manifest.sig); every\n\
envelope's Ed25519 signature (DSSE) with its agent's key (keys/); that each envelope\n\
is the report its path names; the chain links between an agent's reports; each\n\
envelope's inclusion proof (proofs.json) in the Merkle tree of checkpoint.json; that\n\
each inventory list a report names is in inventory-lists/ with that SHA-256; the\n\
checkpoint's signature; and that report.json cites exactly these envelopes.\n\
\n\
The envelopes are DSSE envelopes of in-toto statements: standard in-toto tooling\n\
verifies them too.\n";

/// Writes files into a tar.gz, recording their digests.
struct Writer<W: Write> {
    tar: tar::Builder<flate2::write::GzEncoder<W>>,
    files: Vec<FileEntry>,
    mtime: u64,
}

impl<W: Write> Writer<W> {
    fn add(&mut self, path: &str, data: &[u8]) -> Result<(), ReportError> {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(self.mtime);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        self.tar.append_data(&mut header, path, data)?;
        self.files.push(FileEntry {
            path: path.to_owned(),
            sha256: sha256_hex(data),
            size: data.len() as u64,
        });
        Ok(())
    }
}

/// The reports a bundle cites: the latest per host at the time, or for a period every
/// report of the hosts in scope in it, with the period's replays (`replays`: links of
/// the chains the bundle holds, kept whole so that an auditor sees them; never
/// evidence, and not cited by the report).
fn cited<'a>(g: &'a Gathered, replays: &'a [ReportRecord], when: &When) -> Vec<&'a ReportRecord> {
    let at = when.at();
    let in_scope = |agent: &str, from: Millis| {
        g.hosts.iter().any(|h| {
            h.agent_id == agent && h.enrolled_at <= at && h.revoked_at.is_none_or(|r| r > from)
        })
    };
    let mut out: Vec<&ReportRecord> = match (when, &g.period_reports) {
        (When::Period { from, .. }, Some(reports)) => reports
            .iter()
            .chain(replays)
            .filter(|r| in_scope(&r.agent_id, *from))
            .chain(g.latest.iter().filter(|r| in_scope(&r.agent_id, at)))
            .collect(),
        _ => g
            .latest
            .iter()
            .filter(|r| in_scope(&r.agent_id, at))
            .collect(),
    };
    out.sort_by_key(|r| r.log_index);
    out.dedup_by_key(|r| r.log_index);
    out
}

/// The inventory list a stored envelope's report names (v3), read without verifying
/// the signature (the collector did at ingest; `verify` does again).
fn inventory_list_of(envelope: &[u8]) -> Option<String> {
    let env = attest_proto::Envelope::from_json(envelope).ok()?;
    let statement = attest_proto::Statement::from_slice(&env.payload).ok()?;
    attest_proto::inventory::address_of(&statement.predicate).map(str::to_owned)
}

/// Writes the evidence bundle of a time or a period to `path`.
pub async fn export(
    stores: &Stores,
    catalog: &Catalog,
    opts: &Options,
    log_key: &SigningKey,
    path: &Path,
    progress: &Progress,
) -> Result<ExportSummary, ReportError> {
    let g = gather(stores, catalog, opts, progress).await?;
    progress.step("evaluating", g.latest.len());
    let report = build(catalog, &g, opts, &|i| progress.set(i));
    let mut report_json = Vec::new();
    render(Format::Json, &report, catalog, opts, &mut report_json)?;
    let mut report_html = Vec::new();
    render(Format::Html, &report, catalog, opts, &mut report_html)?;
    drop(report);

    let head = stores.store.log_head().await?;
    let created = chrono::DateTime::from_timestamp_millis(opts.generated_at)
        .ok_or_else(|| ReportError::Invalid("the time is out of range".into()))?;
    let checkpoint = Checkpoint::sign(log_key, head.tree_size, &head.root, created);
    let collector_key = encode_public_key(&log_key.verifying_key());
    let collector_key_id = keyid(&log_key.verifying_key());

    let replays = match opts.when {
        When::Period { from, to } => stores.reports.replays_between(from, to).await?,
        When::AsOf(_) => Vec::new(),
    };
    let cited = cited(&g, &replays, &opts.when);
    let hosts: std::collections::HashMap<&str, &crate::fleet::HostRecord> =
        g.hosts.iter().map(|h| (h.agent_id.as_str(), h)).collect();
    let agents: BTreeMap<&str, &crate::fleet::HostRecord> = cited
        .iter()
        .filter_map(|r| {
            hosts
                .get(r.agent_id.as_str())
                .map(|h| (h.agent_id.as_str(), *h))
        })
        .collect();

    let io = |source: std::io::Error| ReportError::Io {
        path: path.display().to_string(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let gz = flate2::write::GzEncoder::new(
        std::io::BufWriter::with_capacity(1 << 20, file),
        flate2::Compression::fast(),
    );
    let mut w = Writer {
        tar: tar::Builder::new(gz),
        files: Vec::new(),
        mtime: u64::try_from(opts.generated_at / 1000).unwrap_or(0),
    };
    let result: Result<(usize, usize), ReportError> = async {
        w.add("README.txt", README.as_bytes())?;
        w.add("collector.pub", format!("{collector_key}\n").as_bytes())?;
        w.add("checkpoint.json", &serde_json::to_vec_pretty(&checkpoint)?)?;
        for (id, h) in &agents {
            let key = AgentKeyFile {
                agent_id: (*id).to_owned(),
                keyid: h.keyid.clone(),
                public_key: BASE64.encode(h.public_key),
                hostname: h.hostname.clone(),
                machine_id: h.machine_id.clone(),
                enrolled_at: super::rfc3339(h.enrolled_at),
                revoked_at: h.revoked_at.map(super::rfc3339),
            };
            w.add(
                &format!("keys/{id}.json"),
                &serde_json::to_vec_pretty(&key)?,
            )?;
        }
        progress.step("adding envelopes and inclusion proofs", cited.len());
        let mut proofs = Vec::with_capacity(cited.len());
        // One tree size for every proof: read the stored hashes once, in blocks.
        let nodes = CachedNodes::new(StoreNodes(stores.store.as_ref()));
        let indexes: Vec<i64> = cited.iter().map(|r| r.log_index).collect();
        let by_index: BTreeMap<i64, &ReportRecord> =
            cited.iter().map(|r| (r.log_index, *r)).collect();
        let mut lists: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        for chunk in indexes.chunks(1000) {
            for env in stores.reports.envelopes(chunk).await? {
                let Some(r) = by_index.get(&env.log_index) else {
                    continue;
                };
                let path = format!("envelopes/{}/{}.json", r.agent_id, r.seq);
                w.add(&path, &env.envelope)?;
                if let Some(address) = inventory_list_of(&env.envelope) {
                    lists.insert(address);
                }
                let index = u64::try_from(env.log_index).unwrap_or_default();
                let audit = crate::log::inclusion_proof(&nodes, index, head.tree_size)
                    .await
                    .map_err(|e| ReportError::Invalid(format!("inclusion proof: {e}")))?;
                proofs.push(ProofEntry {
                    path,
                    log_index: index,
                    leaf_hash: hex::encode(leaf_hash(&env.envelope)),
                    audit_path: audit.iter().map(hex::encode).collect(),
                });
                progress.tick();
            }
        }
        for address in &lists {
            let document = stores.store.inventory_list(address).await?.ok_or_else(|| {
                ReportError::Invalid(format!(
                    "inventory list {address}, named by a cited report, is not stored"
                ))
            })?;
            let hex = address.trim_start_matches("sha256:");
            w.add(&format!("inventory-lists/{hex}.json"), &document)?;
        }
        let n = proofs.len();
        w.add(
            "proofs.json",
            &serde_json::to_vec_pretty(&Proofs {
                tree_size: head.tree_size,
                proofs,
            })?,
        )?;
        w.add("report.json", &report_json)?;
        w.add("report.html", &report_html)?;
        let manifest = Manifest {
            schema: BUNDLE_FORMAT.to_owned(),
            created_at: super::rfc3339(opts.generated_at),
            scope: match opts.when {
                When::AsOf(_) => "as_of".into(),
                When::Period { .. } => "period".into(),
            },
            as_of: super::rfc3339(opts.when.at()),
            period_from: match opts.when {
                When::Period { from, .. } => Some(super::rfc3339(from)),
                When::AsOf(_) => None,
            },
            collector_key: collector_key.clone(),
            collector_key_id: collector_key_id.clone(),
            envelopes: n,
            agents: agents.len(),
            files: std::mem::take(&mut w.files),
        };
        let bytes = serde_json::to_vec_pretty(&manifest)?;
        let sig = manifest_sig_text(&bytes, log_key);
        w.add("manifest.json", &bytes)?;
        w.add("manifest.sig", sig.as_bytes())?;
        Ok((n, manifest.files.len() + 2))
    }
    .await;
    let finish = |w: Writer<std::io::BufWriter<std::fs::File>>| -> Result<(), ReportError> {
        let gz = w.tar.into_inner()?;
        let mut buf = gz.finish()?;
        buf.flush()?;
        Ok(())
    };
    match result.and_then(|r| finish(w).map(|()| r)) {
        Ok((envelopes, files)) => {
            std::fs::rename(&tmp, path).map_err(io)?;
            progress.finish();
            Ok(ExportSummary {
                envelopes,
                agents: agents.len(),
                files,
                tree_size: head.tree_size,
                collector_key_id,
            })
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}
