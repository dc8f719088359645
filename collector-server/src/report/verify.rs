//! `attest-collector verify FILE.tar.gz`: checks an evidence bundle ([`super::bundle`])
//! offline, with no database, and names every file that does not check out.
//!
//! In order:
//!
//! 1. The archive reads, holds only regular files with plain relative paths, each once.
//! 2. `manifest.json` and `manifest.sig`: the hash line of the signature file is the
//!    SHA-256 of the manifest, and the collector's Ed25519 signature over it verifies
//!    with the key the manifest names (and, with `--collector-key`, that key is the one
//!    given). The two checks tell which of the two files changed. When the manifest
//!    cannot be trusted, nothing else is checked: its digests would accuse the wrong
//!    files.
//! 3. Every file the manifest lists is present with its SHA-256 and size; no other
//!    file is present.
//! 4. `checkpoint.json` is signed by the collector key.
//! 5. Every envelope verifies (DSSE, Ed25519) with the key of the agent its path names,
//!    is a statement of that agent with the `seq` its path names, and its leaf hash has
//!    an inclusion proof in the checkpoint's tree.
//! 6. Chain continuity: between consecutive `seq`s of an agent in the bundle, `prev` is
//!    the link of the previous statement (for `seq` 1, of the agent's key). `seq`s the
//!    bundle does not hold are noted, not failed.
//! 7. `report.json` cites exactly envelopes of the bundle: per host, its `seq`, log
//!    index and payload SHA-256.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read as _;
use std::path::Path;

use attest_proto::{
    BASE64, Envelope, Statement, VerifyingKey, decode_public_key, genesis_prev, keyid, link_of,
    sha256_hex,
};
use base64::Engine as _;
use ed25519_dalek::Signature;

use super::bundle::{AgentKeyFile, MANIFEST_CONTEXT, Manifest, Proofs};
use crate::log::{Checkpoint, Hash, leaf_hash, verify_inclusion};

/// The largest bundle `verify` reads (uncompressed).
pub const MAX_TOTAL: u64 = 8 << 30;

/// Something that does not check out, and the file it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub message: String,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    pub problems: Vec<Problem>,
    /// What was checked, for the summary.
    pub envelopes: usize,
    pub agents: usize,
    pub files: usize,
    pub collector_key_id: Option<String>,
    pub tree_size: Option<u64>,
    pub scope: Option<String>,
    /// Facts worth knowing that are not failures (e.g. seqs not in the bundle).
    pub notes: Vec<String>,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The files named by problems.
    pub fn files_named(&self) -> BTreeSet<&str> {
        self.problems.iter().map(|p| p.file.as_str()).collect()
    }

    fn fail(&mut self, file: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            file: file.to_owned(),
            message: message.into(),
        });
    }

    /// The verdict as people read it.
    pub fn text(&self) -> String {
        let mut out = String::new();
        if self.ok() {
            out.push_str(&format!(
                "VERIFIED: {} files, {} envelopes from {} agents, signed by collector key {}, \
                 included in its log of {} entries.\n",
                self.files,
                self.envelopes,
                self.agents,
                self.collector_key_id.as_deref().unwrap_or("?"),
                self.tree_size.unwrap_or(0)
            ));
            if let Some(s) = &self.scope {
                out.push_str(&format!("Scope: {s}.\n"));
            }
        } else {
            let files = self.files_named();
            out.push_str(&format!(
                "FAILED: {} problem(s) in {} file(s): {}\n",
                self.problems.len(),
                files.len(),
                files.into_iter().collect::<Vec<_>>().join(", ")
            ));
            for p in &self.problems {
                out.push_str(&format!("  {}: {}\n", p.file, p.message));
            }
        }
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        out
    }
}

/// Reads a tar.gz into (path, bytes) in archive order.
pub fn read_entries(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let gz = flate2::read::GzDecoder::new(bytes);
    let mut archive = tar::Archive::new(gz);
    let mut out = Vec::new();
    let mut total = 0u64;
    let entries = archive
        .entries()
        .map_err(|e| format!("not a readable tar.gz: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("not a readable tar.gz: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("an entry has an unreadable path: {e}"))?
            .to_string_lossy()
            .into_owned();
        if !entry.header().entry_type().is_file() {
            return Err(format!("{path}: not a regular file"));
        }
        total = total.saturating_add(entry.size());
        if total > MAX_TOTAL {
            return Err(format!("larger than {MAX_TOTAL} bytes uncompressed"));
        }
        let mut data = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        entry
            .read_to_end(&mut data)
            .map_err(|e| format!("{path}: unreadable: {e}"))?;
        out.push((path, data));
    }
    Ok(out)
}

/// Writes (path, bytes) as a tar.gz (tests build altered bundles with it).
pub fn write_entries(entries: &[(String, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (path, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path, data.as_slice())?;
    }
    tar.into_inner()?.finish()
}

fn plain_path(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && p.split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\\'))
}

fn hash_from_hex(s: &str) -> Option<Hash> {
    hex::decode(s).ok()?.try_into().ok()
}

/// Parses `manifest.sig` strictly: exactly the two lines.
fn parse_sig(text: &[u8]) -> Option<(String, [u8; 64])> {
    let text = std::str::from_utf8(text).ok()?;
    let mut lines = text.split('\n');
    let sha = lines.next()?.strip_prefix("sha256:")?;
    let sig = lines.next()?.strip_prefix("ed25519:")?;
    if lines.next() != Some("") || lines.next().is_some() {
        return None;
    }
    if sha.len() != 64 || !sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let raw = BASE64.decode(sig).ok()?;
    let sig: [u8; 64] = raw.try_into().ok()?;
    if format!("sha256:{sha}\ned25519:{}\n", BASE64.encode(sig)) != text {
        return None;
    }
    Some((sha.to_owned(), sig))
}

/// Verifies a bundle file.
pub fn verify_file(path: &Path, pin: Option<&VerifyingKey>) -> Verdict {
    match std::fs::read(path) {
        Ok(bytes) => verify_bytes(&bytes, pin),
        Err(e) => {
            let mut v = Verdict::default();
            v.fail(&path.display().to_string(), format!("cannot read it: {e}"));
            v
        }
    }
}

/// Verifies a bundle held in memory.
pub fn verify_bytes(bytes: &[u8], pin: Option<&VerifyingKey>) -> Verdict {
    let mut v = Verdict::default();
    let entries = match read_entries(bytes) {
        Ok(e) => e,
        Err(e) => {
            v.fail("(archive)", e);
            return v;
        }
    };
    // 1. The archive.
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (path, data) in entries {
        if !plain_path(&path) {
            v.fail(&path, "not a plain relative path");
            continue;
        }
        if files.contains_key(&path) {
            v.fail(&path, "present twice");
            continue;
        }
        files.insert(path, data);
    }
    v.files = files.len();

    // 2. The manifest and its signature.
    let Some(manifest_bytes) = files.get("manifest.json") else {
        v.fail(
            "manifest.json",
            "missing: nothing in the bundle can be trusted",
        );
        return v;
    };
    let Some(sig_bytes) = files.get("manifest.sig") else {
        v.fail("manifest.sig", "missing: the manifest cannot be trusted");
        return v;
    };
    let Some((sig_sha, sig)) = parse_sig(sig_bytes) else {
        v.fail(
            "manifest.sig",
            "altered: not the two lines sha256:… and ed25519:…",
        );
        return v;
    };
    let manifest: Manifest = match serde_json::from_slice(manifest_bytes) {
        Ok(m) => m,
        Err(e) => {
            v.fail(
                "manifest.json",
                format!("altered: not a bundle manifest ({e})"),
            );
            return v;
        }
    };
    let key = match decode_public_key(&manifest.collector_key) {
        Ok(k) => k,
        Err(_) => {
            v.fail(
                "manifest.json",
                "altered: the collector key is not a public key",
            );
            return v;
        }
    };
    let hash_ok = sha256_hex(manifest_bytes) == sig_sha;
    let mut msg = MANIFEST_CONTEXT.to_vec();
    msg.extend_from_slice(manifest_bytes);
    let sig_ok = key
        .verify_strict(&msg, &Signature::from_bytes(&sig))
        .is_ok();
    match (hash_ok, sig_ok) {
        (true, true) => {}
        (false, true) => {
            v.fail(
                "manifest.sig",
                "altered: its SHA-256 line is not the manifest's",
            );
            return v;
        }
        (true, false) => {
            v.fail("manifest.sig", "altered: the signature does not verify");
            return v;
        }
        (false, false) => {
            v.fail(
                "manifest.json",
                "altered: it does not match the SHA-256 and signature in manifest.sig",
            );
            return v;
        }
    }
    if manifest.schema != super::bundle::BUNDLE_FORMAT {
        v.fail(
            "manifest.json",
            format!(
                "schema {:?} is not {}",
                manifest.schema,
                super::bundle::BUNDLE_FORMAT
            ),
        );
        return v;
    }
    if manifest.collector_key_id != keyid(&key) {
        v.fail(
            "manifest.json",
            "the collector key id does not match its key",
        );
    }
    v.collector_key_id = Some(keyid(&key));
    v.scope = Some(match &manifest.period_from {
        Some(from) => format!("period {from} to {}", manifest.as_of),
        None => format!("as of {}", manifest.as_of),
    });
    if let Some(pinned) = pin
        && pinned != &key
    {
        v.fail(
            "manifest.sig",
            format!(
                "signed by collector key {}, not by the key given ({})",
                keyid(&key),
                keyid(pinned)
            ),
        );
        return v;
    }

    // 3. Digests.
    let mut listed: BTreeSet<&str> = BTreeSet::new();
    let mut altered: BTreeSet<String> = BTreeSet::new();
    for f in &manifest.files {
        if !listed.insert(f.path.as_str()) {
            v.fail("manifest.json", format!("lists {} twice", f.path));
            continue;
        }
        match files.get(&f.path) {
            None => {
                v.fail(&f.path, "missing (removed from the bundle)");
                altered.insert(f.path.clone());
            }
            Some(data) => {
                if data.len() as u64 != f.size || sha256_hex(data) != f.sha256 {
                    v.fail(
                        &f.path,
                        format!(
                            "altered: SHA-256 {} ({} bytes), the manifest says {} ({} bytes)",
                            sha256_hex(data),
                            data.len(),
                            f.sha256,
                            f.size
                        ),
                    );
                    altered.insert(f.path.clone());
                }
            }
        }
    }
    for path in files.keys() {
        if path != "manifest.json" && path != "manifest.sig" && !listed.contains(path.as_str()) {
            v.fail(path, "not in the manifest (added to the bundle)");
        }
    }
    if manifest.files.iter().any(|f| f.path == "collector.pub")
        && let Some(pubfile) = files.get("collector.pub")
        && !altered.contains("collector.pub")
        && String::from_utf8_lossy(pubfile).trim() != manifest.collector_key
    {
        v.fail("collector.pub", "is not the collector key of the manifest");
    }

    // 4. The checkpoint.
    let root = match files.get("checkpoint.json") {
        None => None,
        Some(bytes) => match serde_json::from_slice::<Checkpoint>(bytes) {
            Err(e) => {
                v.fail("checkpoint.json", format!("not a checkpoint ({e})"));
                None
            }
            Ok(cp) => match cp.verify(&key) {
                Ok(root) => {
                    v.tree_size = Some(cp.tree_size);
                    Some((cp.tree_size, root))
                }
                Err(e) => {
                    v.fail("checkpoint.json", format!("{e}"));
                    None
                }
            },
        },
    };
    if root.is_none() && !files.contains_key("checkpoint.json") {
        v.fail("checkpoint.json", "missing");
    }

    // 5. Envelopes, keys, proofs.
    let proofs: Option<Proofs> = files.get("proofs.json").and_then(|b| {
        serde_json::from_slice::<Proofs>(b)
            .map_err(|e| v.fail("proofs.json", format!("not the proofs file ({e})")))
            .ok()
    });
    let proof_of: HashMap<&str, &super::bundle::ProofEntry> = proofs
        .as_ref()
        .map(|p| p.proofs.iter().map(|e| (e.path.as_str(), e)).collect())
        .unwrap_or_default();
    if let (Some(p), Some((size, _))) = (&proofs, root)
        && p.tree_size != size
    {
        v.fail(
            "proofs.json",
            format!(
                "proofs for a tree of {} entries, the checkpoint has {size}",
                p.tree_size
            ),
        );
    }
    let mut keys: HashMap<String, VerifyingKey> = HashMap::new();
    for (path, bytes) in &files {
        let Some(name) = path
            .strip_prefix("keys/")
            .and_then(|n| n.strip_suffix(".json"))
        else {
            continue;
        };
        match serde_json::from_slice::<AgentKeyFile>(bytes) {
            Ok(k) if k.agent_id == name => match decode_public_key(&k.public_key) {
                Ok(key) if keyid(&key) == k.keyid => {
                    keys.insert(k.agent_id, key);
                }
                _ => v.fail(path, "the public key or its key id is malformed"),
            },
            Ok(_) => v.fail(path, "names another agent than its file name"),
            Err(e) => v.fail(path, format!("not an agent key file ({e})")),
        }
    }
    // agent → seq → (payload bytes, prev, log index, payload sha).
    let mut chains: BTreeMap<String, BTreeMap<u64, (Vec<u8>, String)>> = BTreeMap::new();
    let mut by_index: HashMap<u64, String> = HashMap::new();
    let mut cited: HashMap<(String, u64), (u64, String)> = HashMap::new();
    for (path, bytes) in &files {
        let Some(rest) = path.strip_prefix("envelopes/") else {
            continue;
        };
        v.envelopes += 1;
        let Some((agent, seq)) = rest
            .strip_suffix(".json")
            .and_then(|r| r.split_once('/'))
            .and_then(|(a, s)| Some((a.to_owned(), s.parse::<u64>().ok()?)))
        else {
            v.fail(path, "not envelopes/<agent_id>/<seq>.json");
            continue;
        };
        let Some(agent_key) = keys.get(&agent) else {
            v.fail(path, format!("no key for agent {agent} in keys/"));
            continue;
        };
        let env = match Envelope::from_json(bytes) {
            Ok(e) => e,
            Err(e) => {
                v.fail(path, format!("not a DSSE envelope: {e}"));
                continue;
            }
        };
        let payload = match env.verified_payload(agent_key) {
            Ok(p) => p,
            Err(e) => {
                let signer = keys
                    .iter()
                    .find(|(_, k)| env.keyids().any(|id| id == keyid(k)))
                    .map(|(a, _)| a.clone());
                match signer {
                    Some(other) if other != agent => v.fail(
                        path,
                        format!("signed by agent {other}, not {agent}: swapped or misplaced"),
                    ),
                    _ => v.fail(
                        path,
                        format!("the signature does not verify with agent {agent}'s key: {e}"),
                    ),
                }
                continue;
            }
        };
        let statement = match Statement::from_slice(payload) {
            Ok(s) => s,
            Err(e) => {
                v.fail(path, format!("signed, but not an Attest statement: {e}"));
                continue;
            }
        };
        let report = statement.predicate;
        if report.agent_id != agent || report.seq != seq {
            v.fail(
                path,
                format!(
                    "holds report seq {} of agent {}, not seq {seq} of {agent} (swapped or misplaced)",
                    report.seq, report.agent_id
                ),
            );
            continue;
        }
        // Inclusion.
        match (proof_of.get(path.as_str()), root) {
            (None, _) => v.fail(path, "no inclusion proof in proofs.json"),
            (Some(_), None) => {}
            (Some(p), Some((size, root))) => {
                let leaf = leaf_hash(bytes);
                let audit: Option<Vec<Hash>> =
                    p.audit_path.iter().map(|h| hash_from_hex(h)).collect();
                let included = hash_from_hex(&p.leaf_hash) == Some(leaf)
                    && audit.is_some_and(|a| verify_inclusion(p.log_index, size, &leaf, &a, &root));
                if !included {
                    v.fail(
                        path,
                        format!(
                            "its inclusion proof (log index {}) does not lead to the checkpoint's root",
                            p.log_index
                        ),
                    );
                } else if let Some(other) = by_index.insert(p.log_index, path.clone()) {
                    v.fail(
                        path,
                        format!("shares log index {} with {other}", p.log_index),
                    );
                }
                cited.insert((agent.clone(), seq), (p.log_index, sha256_hex(payload)));
            }
        }
        chains
            .entry(agent)
            .or_default()
            .insert(seq, (payload.to_vec(), report.prev));
    }
    for p in proof_of.keys() {
        if !files.contains_key(*p) {
            v.fail(
                "proofs.json",
                format!("has a proof for {p}, which is not in the bundle"),
            );
        }
    }
    v.agents = chains.len();

    // 6. Chain continuity.
    for (agent, seqs) in &chains {
        let mut before: Option<(u64, &Vec<u8>)> = None;
        for (seq, (payload, prev)) in seqs {
            let path = format!("envelopes/{agent}/{seq}.json");
            if *seq == 1
                && let Some(k) = keys.get(agent)
                && *prev != genesis_prev(k)
            {
                v.fail(&path, "seq 1 does not link to the agent's enrolled key");
            }
            match before {
                Some((b, bytes)) if b + 1 == *seq && *prev != link_of(bytes) => {
                    v.fail(
                        &path,
                        format!(
                            "its prev does not link to seq {b} of the same agent: the chain \
                             is broken"
                        ),
                    );
                }
                Some((b, _)) if b + 1 == *seq => {}
                Some((b, _)) => v.notes.push(format!(
                    "agent {agent}: seq {}..{} are not in the bundle",
                    b + 1,
                    seq - 1
                )),
                None => {}
            }
            before = Some((*seq, payload));
        }
    }

    // 7. The report cites the envelopes.
    if let Some(bytes) = files.get("report.json")
        && !altered.contains("report.json")
    {
        match serde_json::from_slice::<serde_json::Value>(bytes) {
            Err(e) => v.fail("report.json", format!("not JSON ({e})")),
            Ok(r) => {
                for h in r["hosts"].as_array().into_iter().flatten() {
                    let Some(ev) = h.get("evidence") else {
                        continue;
                    };
                    let agent = h["agent_id"].as_str().unwrap_or_default().to_owned();
                    let seq = ev["seq"].as_u64().unwrap_or_default();
                    let index = ev["log_index"].as_u64();
                    let sha = ev["payload_sha256"].as_str();
                    match cited.get(&(agent.clone(), seq)) {
                        None if files.contains_key(&format!("envelopes/{agent}/{seq}.json")) => {}
                        None => v.fail(
                            "report.json",
                            format!("cites seq {seq} of agent {agent}, which is not in the bundle"),
                        ),
                        Some((i, s)) => {
                            if index != Some(*i) || sha != Some(s.as_str()) {
                                v.fail(
                                    "report.json",
                                    format!(
                                        "cites seq {seq} of agent {agent} with another log \
                                             index or payload SHA-256 than the bundle's envelope"
                                    ),
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sig_files_parse_strictly() {
        let key = attest_proto::SigningKey::from_bytes(&[1; 32]);
        let text = super::super::bundle::manifest_sig_text(b"{}", &key);
        let (sha, _) = parse_sig(text.as_bytes()).unwrap();
        assert_eq!(sha, sha256_hex(b"{}"));
        assert!(parse_sig(text.trim_end().as_bytes()).is_none());
        assert!(parse_sig(format!("{text}\n").as_bytes()).is_none());
        assert!(parse_sig(text.replace("sha256:", "sha257:").as_bytes()).is_none());
        assert!(parse_sig(text.to_uppercase().as_bytes()).is_none());
    }

    #[test]
    fn paths_must_be_plain() {
        assert!(plain_path("envelopes/a/1.json"));
        assert!(!plain_path("/etc/passwd"));
        assert!(!plain_path("../x"));
        assert!(!plain_path("a//b"));
        assert!(!plain_path("a/./b"));
        assert!(!plain_path(""));
    }

    #[test]
    fn garbage_is_not_a_bundle() {
        let v = verify_bytes(b"not gzip at all", None);
        assert!(!v.ok());
        assert_eq!(
            v.files_named().into_iter().collect::<Vec<_>>(),
            ["(archive)"]
        );
        let empty = write_entries(&[]).unwrap();
        let v = verify_bytes(&empty, None);
        assert!(v.text().contains("manifest.json: missing"), "{}", v.text());
    }
}
