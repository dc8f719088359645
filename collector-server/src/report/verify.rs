//! `attest-collector verify FILE.tar.gz`: checks an evidence bundle ([`super::bundle`])
//! offline, with no database, and names every file that does not check out. It is safe
//! on any file from anyone: the archive is read once, entry by entry, in bounded memory
//! ([`archive`]), and `VERIFIED` is said only of a bundle signed by a collector key the
//! user trusts ([`trust`]).
//!
//! In order:
//!
//! 1. The archive is one gzip member holding one tar of regular files with plain
//!    relative paths, each once, within [`Limits`]; anything else is refused before
//!    anything is checked ([`ArchiveError`]).
//! 2. `manifest.json` and `manifest.sig`: the hash line of the signature file is the
//!    SHA-256 of the manifest, and the collector's Ed25519 signature over it verifies
//!    with the key the manifest names. The two checks tell which of the two files
//!    changed. When the manifest cannot be trusted, nothing else is reported: its digests
//!    would accuse the wrong files. That key is then compared with the trusted ones: the
//!    key given (another key fails), else the trust file's (another key is *unpinned*).
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
//!    index and payload SHA-256, and never a replay (`agent.replay`) as evidence.
//!    Replays in the bundle (a period's, kept as links of the chain) are noted.
//!
//! Files are checked as they come, in the order `export` writes them (keys before
//! envelopes, envelopes before proofs and report); files out of that order are held
//! until they can be checked, within [`Limits::max_pending`].

pub mod archive;
pub mod trust;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};

use attest_proto::{
    BASE64, Envelope, Statement, VerifyingKey, decode_public_key, genesis_prev, keyid, sha256_hex,
};
use base64::Engine as _;
use ed25519_dalek::Signature;
use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

pub use archive::{ArchiveError, FileDigest, Limits};
pub use trust::{Pin, Trust, TrustError};

use super::bundle::{AgentKeyFile, MANIFEST_CONTEXT, Manifest};
use crate::log::{Checkpoint, Hash, leaf_hash, verify_inclusion};

/// Problems recorded one by one; more are counted.
pub const MAX_PROBLEMS: usize = 1000;
/// Envelopes handed to a worker thread together.
const BATCH_BYTES: usize = 4 << 20;
const BATCH_LEN: usize = 256;
/// The longest audit path accepted (a tree of 2^64 leaves).
const MAX_AUDIT: usize = 64;

/// Something that does not check out, and the file it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub message: String,
}

/// Who signed the bundle, as far as the user's trust goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Signer {
    /// The manifest's signature was not established.
    #[default]
    Unknown,
    /// A trusted key, and where the trust comes from.
    Pinned(String),
    /// A key the user did not say they trust.
    Unpinned,
}

/// What a verdict amounts to; [`Outcome::exit_code`] is the command's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything checks out, signed by a trusted collector key.
    Verified,
    /// Something does not check out.
    Failed,
    /// Everything checks out, but the collector key is not one the user trusts.
    Unpinned,
}

impl Outcome {
    /// 0 verified, 1 problems found, 3 unpinned (2 is for a bundle not checked at all).
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Verified => 0,
            Outcome::Failed => 1,
            Outcome::Unpinned => 3,
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    pub problems: Vec<Problem>,
    /// Problems beyond [`MAX_PROBLEMS`], counted only.
    pub more_problems: usize,
    /// What was checked, for the summary.
    pub envelopes: usize,
    pub agents: usize,
    pub files: usize,
    pub collector_key_id: Option<String>,
    pub tree_size: Option<u64>,
    pub scope: Option<String>,
    pub signer: Signer,
    /// The trust file consulted and how many keys it holds, for the unpinned verdict.
    pub trust_file: Option<(String, usize)>,
    /// Facts worth knowing that are not failures (e.g. seqs not in the bundle).
    pub notes: Vec<String>,
}

impl Verdict {
    /// No problem found (the signer may still be unpinned: see [`Verdict::outcome`]).
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn outcome(&self) -> Outcome {
        match (&self.signer, self.ok()) {
            (_, false) => Outcome::Failed,
            (Signer::Pinned(_), true) => Outcome::Verified,
            _ => Outcome::Unpinned,
        }
    }

    /// The files named by problems.
    pub fn files_named(&self) -> BTreeSet<&str> {
        self.problems.iter().map(|p| p.file.as_str()).collect()
    }

    fn fail(&mut self, file: &str, message: impl Into<String>) {
        if self.problems.len() >= MAX_PROBLEMS {
            self.more_problems += 1;
            return;
        }
        self.problems.push(Problem {
            file: file.to_owned(),
            message: message.into(),
        });
    }

    /// The verdict as people read it. The first line is `VERIFIED: …`, `FAILED: …` or
    /// `UNPINNED: …`.
    pub fn text(&self) -> String {
        let key = self.collector_key_id.as_deref().unwrap_or("?");
        let mut out = String::new();
        match self.outcome() {
            Outcome::Verified => {
                let by = match &self.signer {
                    Signer::Pinned(s) => s.as_str(),
                    _ => "?",
                };
                out.push_str(&format!(
                    "VERIFIED: {} files, {} envelopes from {} agents, signed by collector key \
                     {key} (trusted: {by}), included in its log of {} entries.\n",
                    self.files,
                    self.envelopes,
                    self.agents,
                    self.tree_size.unwrap_or(0)
                ));
                if let Some(s) = &self.scope {
                    out.push_str(&format!("Scope: {s}.\n"));
                }
            }
            Outcome::Unpinned => {
                out.push_str(&format!(
                    "UNPINNED: the bundle is intact, but it is signed by collector key {key}, \
                     which you have not said you trust: nothing shows it comes from your \
                     collector.\n"
                ));
                out.push_str(&format!(
                    "Checked: {} files against manifest.json and its signature by that key; \
                     {} envelopes from {} agents, each signed by its agent's key, their chains, \
                     and their inclusion in the log of {} entries that checkpoint.json (signed \
                     by that key) commits to; report.json cites exactly these envelopes.\n",
                    self.files,
                    self.envelopes,
                    self.agents,
                    self.tree_size.unwrap_or(0)
                ));
                if let Some(s) = &self.scope {
                    out.push_str(&format!("Scope: {s}.\n"));
                }
                match &self.trust_file {
                    Some((path, n)) if *n > 0 => {
                        out.push_str(&format!("The key is not among the {n} key(s) of {path}.\n"))
                    }
                    _ => {}
                }
                out.push_str(&format!(
                    "To trust it: ask the collector's operator for its log key id \
                     (`attest-collector log-key` on the collector); if it is {key}, verify \
                     again with --collector-key {key}, or add the line \"{key}  <whose key>\" \
                     to {}.\n",
                    self.trust_file
                        .as_ref()
                        .map_or("your trust file (--trust)", |(p, _)| p.as_str())
                ));
            }
            Outcome::Failed => {
                let files = self.files_named();
                let mut shown: Vec<&str> = files.iter().copied().take(20).collect();
                if files.len() > 20 {
                    shown.push("…");
                }
                out.push_str(&format!(
                    "FAILED: {} problem(s) in {} file(s): {}\n",
                    self.problems.len() + self.more_problems,
                    files.len(),
                    shown.join(", ")
                ));
                for p in &self.problems {
                    out.push_str(&format!("  {}: {}\n", p.file, p.message));
                }
                if self.more_problems > 0 {
                    out.push_str(&format!("  … and {} more problem(s)\n", self.more_problems));
                }
                if self.signer == Signer::Unpinned {
                    out.push_str(&format!(
                        "note: collector key {key} is not one you trust either\n"
                    ));
                }
            }
        }
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        out
    }
}

/// Why a bundle was not checked at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The file cannot be opened or read.
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    /// It is not a bundle `verify` checks.
    #[error("cannot check {path}: {source}")]
    Archive { path: String, source: ArchiveError },
}

/// Reads a tar.gz into (path, bytes) in archive order, strictly and within the default
/// [`Limits`] (tests take bundles apart with it).
pub fn read_entries(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ArchiveError> {
    let limits = Limits::default();
    let mut out = Vec::new();
    archive::read_archive(bytes, &limits, |path, size, data| {
        out.push((path.to_owned(), data.hold(path, size, limits.max_manifest)?));
        Ok(())
    })?;
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

fn hash_from_hex(s: &str) -> Option<Hash> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
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
pub fn verify_file(path: &Path, trust: &Trust, limits: &Limits) -> Result<Verdict, VerifyError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| VerifyError::Read {
        path: shown.clone(),
        message: trust::io_message(&e),
    })?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(VerifyError::Read {
            path: shown,
            message: "it is a directory".into(),
        });
    }
    verify_reader(file, trust, limits).map_err(|source| match source {
        ArchiveError::Read(e) => VerifyError::Read {
            path: shown,
            message: trust::io_message(&e),
        },
        source => VerifyError::Archive {
            path: shown,
            source,
        },
    })
}

/// Verifies a bundle held in memory.
pub fn verify_bytes(bytes: &[u8], trust: &Trust) -> Result<Verdict, ArchiveError> {
    verify_reader(bytes, trust, &Limits::default())
}

/// Verifies a bundle read from `input`, once, in bounded memory.
pub fn verify_reader(
    input: impl Read,
    trust: &Trust,
    limits: &Limits,
) -> Result<Verdict, ArchiveError> {
    let threads = crate::par::threads();
    let (jobs, job_rx) = sync_channel::<Job>(threads);
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done) = channel::<Done>();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (job_rx, done_tx) = (&job_rx, done_tx.clone());
            scope.spawn(move || {
                loop {
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    // The reader is gone: nothing more to do.
                    let Ok((id, batch)) = job else { return };
                    let out = batch
                        .into_iter()
                        .map(|(e, key)| {
                            let r = check_envelope(&e, &key);
                            (e.path, e.agent, r)
                        })
                        .collect();
                    if done_tx.send((id, out)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        // Dropping `check` (on an error too) closes the job channel and ends the workers.
        let mut check = Check::new(
            limits,
            Workers {
                jobs: Some(jobs),
                done,
                sent: 0,
                applied: 0,
                early: BTreeMap::new(),
            },
        );
        let files = archive::read_archive(input, limits, |path, size, data| {
            check.entry(path, size, data)
        })?;
        check.sync();
        check.workers.jobs = None;
        Ok(check.finish(&files, trust))
    })
}

/// What a verified envelope leaves for the checks that need all of them.
#[derive(Debug)]
struct Record {
    agent: String,
    seq: u64,
    leaf: Hash,
    /// Hex SHA-256 of the payload (its link is `sha256:` and this).
    payload_sha: String,
    prev: String,
    /// The signed report says `agent.replay`: never evidence.
    replay: bool,
    /// The inventory list the signed report names (v3), by address.
    inventory_list: Option<String>,
    /// Its log index and whether the proof leads to the checkpoint's root.
    proof: Option<(u64, bool)>,
}

/// An envelope read, to check.
#[derive(Debug)]
struct EnvelopeFile {
    path: String,
    agent: String,
    seq: u64,
    bytes: Vec<u8>,
}

/// One proof of `proofs.json`, as read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofIn {
    path: String,
    log_index: u64,
    leaf_hash: HexHash,
    audit_path: AuditPath,
}

#[derive(Debug)]
struct HexHash(Hash);

impl<'de> Deserialize<'de> for HexHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HexHash;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("64 hex digits")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<HexHash, E> {
                hash_from_hex(s)
                    .map(HexHash)
                    .ok_or_else(|| E::custom("not 64 hex digits"))
            }
        }
        d.deserialize_str(V)
    }
}

#[derive(Debug)]
struct AuditPath(Vec<Hash>);

impl<'de> Deserialize<'de> for AuditPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AuditPath;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an audit path of at most 64 hashes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AuditPath, A::Error> {
                let mut out = Vec::new();
                while let Some(HexHash(h)) = seq.next_element()? {
                    if out.len() == MAX_AUDIT {
                        return Err(serde::de::Error::custom(
                            "an audit path of more than 64 hashes",
                        ));
                    }
                    out.push(h);
                }
                Ok(AuditPath(out))
            }
        }
        d.deserialize_seq(V)
    }
}

/// `{"tree_size": N, "proofs": [...]}`, each proof handed over as it is read.
struct ProofsSeed<'a> {
    tree_size: &'a mut Option<u64>,
    each: &'a mut dyn FnMut(ProofIn) -> Result<(), String>,
}

impl<'de> DeserializeSeed<'de> for ProofsSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ProofsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the proofs file")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (mut proofs, mut size) = (false, false);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "tree_size" if !size => {
                    *self.tree_size = Some(map.next_value()?);
                    size = true;
                }
                "proofs" if !proofs => {
                    map.next_value_seed(EachSeed(&mut *self.each))?;
                    proofs = true;
                }
                other => {
                    return Err(serde::de::Error::custom(format!(
                        "unexpected or repeated field {other:?}"
                    )));
                }
            }
        }
        if !(proofs && size) {
            return Err(serde::de::Error::custom("tree_size or proofs missing"));
        }
        Ok(())
    }
}

/// A JSON array whose elements are handed over one by one.
struct EachSeed<'a, T>(&'a mut dyn FnMut(T) -> Result<(), String>);

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for EachSeed<'_, T> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for EachSeed<'_, T> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<T>()? {
            (self.0)(item).map_err(serde::de::Error::custom)?;
        }
        Ok(())
    }
}

/// What `report.json` says of a host's evidence.
#[derive(Debug, Deserialize)]
struct HostCite {
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    evidence: Option<EvidenceCite>,
}

#[derive(Debug, Deserialize)]
struct EvidenceCite {
    #[serde(default)]
    seq: Option<i64>,
    #[serde(default)]
    log_index: Option<i64>,
    #[serde(default)]
    payload_sha256: Option<String>,
}

/// `report.json`: only `hosts`, each handed over as it is read.
struct ReportSeed<'a>(&'a mut dyn FnMut(HostCite) -> Result<(), String>);

impl<'de> DeserializeSeed<'de> for ReportSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ReportSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a report")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "hosts" {
                map.next_value_seed(EachSeed(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// A citation of `report.json`.
#[derive(Debug)]
struct Citation {
    agent: String,
    seq: u64,
    log_index: Option<u64>,
    sha: Option<String>,
}

/// Parses a streamed JSON file with `seed`; io errors of the archive stay archive errors,
/// anything else is the file's problem.
fn parse_streamed<'de, S: DeserializeSeed<'de, Value = ()>>(
    path: &str,
    data: &mut archive::EntryData<'_>,
    seed: S,
) -> Result<Result<(), String>, ArchiveError> {
    let reader = BufReader::with_capacity(64 << 10, archive::JsonGuard::new(data, path));
    let mut de = serde_json::Deserializer::from_reader(reader);
    let result = seed.deserialize(&mut de).and_then(|()| de.end());
    match result {
        Ok(()) => Ok(Ok(())),
        Err(e) if e.is_io() => Err(archive::entry_error(std::io::Error::from(e))),
        Err(e) => Ok(Err(e.to_string())),
    }
}

fn envelope_path(path: &str) -> Option<(String, u64)> {
    let (agent, seq) = path
        .strip_prefix("envelopes/")?
        .strip_suffix(".json")?
        .split_once('/')?;
    let n: u64 = seq.parse().ok()?;
    (!agent.is_empty() && n.to_string() == seq).then(|| (agent.to_owned(), n))
}

/// Why an envelope did not check out; a bad signature also says which keys signed it,
/// to tell a swapped envelope.
#[derive(Debug)]
enum EnvelopeFail {
    Message(String),
    Signature { error: String, keyids: Vec<String> },
}

/// Checks one envelope with its agent's key.
fn check_envelope(e: &EnvelopeFile, key: &VerifyingKey) -> Result<Record, EnvelopeFail> {
    let env = Envelope::from_json(&e.bytes)
        .map_err(|err| EnvelopeFail::Message(format!("not a DSSE envelope: {err}")))?;
    let payload = env
        .verified_payload(key)
        .map_err(|err| EnvelopeFail::Signature {
            error: err.to_string(),
            keyids: env.keyids().map(str::to_owned).collect(),
        })?;
    let statement = Statement::from_slice(payload).map_err(|err| {
        EnvelopeFail::Message(format!("signed, but not an Attest statement: {err}"))
    })?;
    let report = statement.predicate;
    let inventory_list = attest_proto::inventory::address_of(&report).map(str::to_owned);
    if report.agent_id != e.agent || report.seq != e.seq {
        return Err(EnvelopeFail::Message(format!(
            "holds report seq {} of agent {}, not seq {} of {} (swapped or misplaced)",
            report.seq, report.agent_id, e.seq, e.agent
        )));
    }
    Ok(Record {
        agent: e.agent.clone(),
        seq: e.seq,
        leaf: leaf_hash(&e.bytes),
        payload_sha: sha256_hex(payload),
        prev: report.prev,
        replay: report.agent.replay,
        inventory_list,
        proof: None,
    })
}

/// A batch of envelopes with their agents' keys, by sequence number.
type Job = (u64, Vec<(EnvelopeFile, VerifyingKey)>);
/// Per envelope of a batch: its path, its agent, and its record or failure.
type Outcomes = Vec<(String, String, Result<Record, EnvelopeFail>)>;
/// A batch done.
type Done = (u64, Outcomes);

/// The worker threads checking envelopes while the archive is read on.
struct Workers {
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Done>,
    sent: u64,
    applied: u64,
    /// Outcomes that came before earlier ones, applied in order.
    early: BTreeMap<u64, Outcomes>,
}

/// The state of a verification while the archive is read.
struct Check<'l> {
    limits: &'l Limits,
    workers: Workers,
    v: Verdict,
    manifest: Option<Vec<u8>>,
    sig: Option<Vec<u8>>,
    /// `checkpoint.json` as parsed, and its claimed size and root (verified at the end).
    checkpoint: Option<Result<Checkpoint, String>>,
    claimed: Option<(u64, Hash)>,
    collector_pub: Option<Vec<u8>>,
    keys: HashMap<String, VerifyingKey>,
    owners: HashMap<String, String>,
    records: HashMap<String, Record>,
    /// Envelopes read whose agent's key has not come yet.
    waiting: HashMap<String, Vec<EnvelopeFile>>,
    batch: Vec<EnvelopeFile>,
    batch_bytes: usize,
    /// Work held for files out of order, and citations: bytes, bounded.
    pending: u64,
    proofs_read: bool,
    proofs_tree_size: Option<u64>,
    proof_paths: HashSet<String>,
    waiting_proofs: Vec<ProofIn>,
    citations: Option<Vec<Citation>>,
    /// The inventory lists of `inventory-lists/<hex>.json` whose bytes match the
    /// address their name gives.
    lists: HashSet<String>,
}

impl<'l> Check<'l> {
    fn new(limits: &'l Limits, workers: Workers) -> Self {
        Check {
            limits,
            workers,
            v: Verdict::default(),
            manifest: None,
            sig: None,
            checkpoint: None,
            claimed: None,
            collector_pub: None,
            keys: HashMap::new(),
            owners: HashMap::new(),
            records: HashMap::new(),
            waiting: HashMap::new(),
            batch: Vec::new(),
            batch_bytes: 0,
            pending: 0,
            proofs_read: false,
            proofs_tree_size: None,
            proof_paths: HashSet::new(),
            waiting_proofs: Vec::new(),
            citations: None,
            lists: HashSet::new(),
        }
    }

    fn hold(&mut self, bytes: u64, what: &str) -> Result<(), ArchiveError> {
        self.pending += bytes;
        if self.pending > self.limits.max_pending {
            return Err(ArchiveError::Limit(format!(
                "more than {} bytes held for {what}",
                self.limits.max_pending
            )));
        }
        Ok(())
    }

    fn entry(
        &mut self,
        path: &str,
        size: u64,
        data: &mut archive::EntryData<'_>,
    ) -> Result<(), ArchiveError> {
        let held = self.limits.max_held;
        if path.starts_with("envelopes/") {
            self.v.envelopes += 1;
            let Some((agent, seq)) = envelope_path(path) else {
                self.v.fail(path, "not envelopes/<agent_id>/<seq>.json");
                return Ok(());
            };
            let bytes = data.hold(path, size, held)?;
            let e = EnvelopeFile {
                path: path.to_owned(),
                agent,
                seq,
                bytes,
            };
            if self.keys.contains_key(&e.agent) {
                self.batch_bytes += e.bytes.len();
                self.batch.push(e);
                if self.batch_bytes >= BATCH_BYTES || self.batch.len() >= BATCH_LEN {
                    self.flush();
                }
            } else {
                self.hold(
                    e.bytes.len() as u64 + 64,
                    "envelopes before their agent's key",
                )?;
                self.waiting.entry(e.agent.clone()).or_default().push(e);
            }
            return Ok(());
        }
        self.sync();
        match path {
            "manifest.json" => {
                self.manifest = Some(data.hold(path, size, self.limits.max_manifest)?);
            }
            "manifest.sig" => self.sig = Some(data.hold(path, size, held)?),
            "collector.pub" => self.collector_pub = Some(data.hold(path, size, held)?),
            "checkpoint.json" => {
                let bytes = data.hold(path, size, held)?;
                let cp = serde_json::from_slice::<Checkpoint>(&bytes)
                    .map_err(|e| format!("not a checkpoint ({e})"))
                    .and_then(|cp| match cp.root() {
                        Ok(root) => {
                            self.claimed = Some((cp.tree_size, root));
                            Ok(cp)
                        }
                        Err(e) => Err(e.to_string()),
                    });
                self.checkpoint = Some(cp);
            }
            "proofs.json" => self.proofs(path, data)?,
            "report.json" => self.report(path, data)?,
            _ => {
                if let Some(name) = path
                    .strip_prefix("keys/")
                    .and_then(|n| n.strip_suffix(".json"))
                {
                    let bytes = data.hold(path, size, held)?;
                    self.key(path, name, &bytes);
                } else if let Some(hex) = path
                    .strip_prefix("inventory-lists/")
                    .and_then(|n| n.strip_suffix(".json"))
                {
                    let address = format!("sha256:{hex}");
                    let bytes = data.hold(path, size, held)?;
                    if !attest_proto::inventory::is_address(&address) {
                        self.v.fail(path, "not inventory-lists/<hex SHA-256>.json");
                    } else if attest_proto::inventory::address(&bytes) != address {
                        self.v.fail(
                            path,
                            "altered: its SHA-256 is not the address its name gives",
                        );
                    } else {
                        self.lists.insert(address);
                    }
                }
            }
        }
        Ok(())
    }

    fn key(&mut self, path: &str, name: &str, bytes: &[u8]) {
        match serde_json::from_slice::<AgentKeyFile>(bytes) {
            Ok(k) if k.agent_id == name => match decode_public_key(&k.public_key) {
                Ok(key) if keyid(&key) == k.keyid => {
                    self.owners.insert(k.keyid.clone(), k.agent_id.clone());
                    self.keys.insert(k.agent_id.clone(), key);
                    if let Some(waiting) = self.waiting.remove(name) {
                        for e in waiting {
                            self.pending = self.pending.saturating_sub(e.bytes.len() as u64 + 64);
                            self.batch.push(e);
                        }
                        self.flush();
                    }
                }
                _ => self
                    .v
                    .fail(path, "the public key or its key id is malformed"),
            },
            Ok(_) => self.v.fail(path, "names another agent than its file name"),
            Err(e) => self.v.fail(path, format!("not an agent key file ({e})")),
        }
    }

    /// Hands the envelopes read so far to the workers, and takes what they have done.
    fn flush(&mut self) {
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            self.batch_bytes = 0;
            let mut job = Vec::with_capacity(batch.len());
            for e in batch {
                match self.keys.get(&e.agent) {
                    Some(k) => job.push((e, *k)),
                    None => {
                        let m = format!("no key for agent {} in keys/", e.agent);
                        self.v.fail(&e.path, m);
                    }
                }
            }
            let id = self.workers.sent;
            let sent = match &self.workers.jobs {
                Some(tx) => tx.send((id, job)).is_ok(),
                None => false,
            };
            if sent {
                self.workers.sent += 1;
            }
        }
        while let Ok(d) = self.workers.done.try_recv() {
            self.accept(d);
        }
    }

    /// Waits for every envelope handed over to be checked.
    fn sync(&mut self) {
        self.flush();
        while self.workers.applied < self.workers.sent {
            match self.workers.done.recv() {
                Ok(d) => self.accept(d),
                Err(_) => break,
            }
        }
    }

    /// Applies outcomes in the order the envelopes were read.
    fn accept(&mut self, (id, out): Done) {
        self.workers.early.insert(id, out);
        while let Some(out) = self.workers.early.remove(&self.workers.applied) {
            self.workers.applied += 1;
            for (path, agent, r) in out {
                match r {
                    Ok(rec) => {
                        self.records.insert(path, rec);
                    }
                    Err(EnvelopeFail::Message(m)) => self.v.fail(&path, m),
                    Err(EnvelopeFail::Signature { error, keyids }) => {
                        let signer = keyids.iter().find_map(|id| self.owners.get(id));
                        let m = match signer {
                            Some(other) if *other != agent => {
                                format!(
                                    "signed by agent {other}, not {agent}: swapped or misplaced"
                                )
                            }
                            _ => format!(
                                "the signature does not verify with agent {agent}'s key: {error}"
                            ),
                        };
                        self.v.fail(&path, m);
                    }
                }
            }
        }
    }

    /// Checks one proof against its envelope and the checkpoint's claimed root (verified
    /// at the end); `false` when either has not come yet.
    fn apply_proof(&mut self, p: &ProofIn) -> bool {
        let (Some(rec), Some((size, root))) = (self.records.get_mut(&p.path), self.claimed) else {
            return false;
        };
        let included = p.leaf_hash.0 == rec.leaf
            && verify_inclusion(p.log_index, size, &rec.leaf, &p.audit_path.0, &root);
        rec.proof = Some((p.log_index, included));
        true
    }

    fn proofs(
        &mut self,
        path: &str,
        data: &mut archive::EntryData<'_>,
    ) -> Result<(), ArchiveError> {
        let mut tree_size = None;
        let mut over: Option<ArchiveError> = None;
        let parsed = {
            let mut each = |p: ProofIn| -> Result<(), String> {
                if !self.proof_paths.insert(p.path.clone()) {
                    self.v
                        .fail("proofs.json", format!("has two proofs for {}", p.path));
                    return Ok(());
                }
                if self.apply_proof(&p) {
                    return Ok(());
                }
                let bytes = 32 * (p.audit_path.0.len() as u64 + 1) + p.path.len() as u64 + 64;
                if let Err(e) = self.hold(bytes, "proofs before their envelopes") {
                    over = Some(e);
                    return Err("too much held".into());
                }
                self.waiting_proofs.push(p);
                Ok(())
            };
            parse_streamed(
                path,
                data,
                ProofsSeed {
                    tree_size: &mut tree_size,
                    each: &mut each,
                },
            )?
        };
        if let Some(e) = over {
            return Err(e);
        }
        self.proofs_read = true;
        match parsed {
            Ok(()) => self.proofs_tree_size = tree_size,
            Err(e) => self
                .v
                .fail("proofs.json", format!("not the proofs file ({e})")),
        }
        Ok(())
    }

    fn report(
        &mut self,
        path: &str,
        data: &mut archive::EntryData<'_>,
    ) -> Result<(), ArchiveError> {
        let mut citations = Vec::new();
        let mut over: Option<ArchiveError> = None;
        let parsed = {
            let mut each = |h: HostCite| -> Result<(), String> {
                let Some(ev) = h.evidence else {
                    return Ok(());
                };
                let agent = h.agent_id.unwrap_or_default();
                let bytes = agent.len() as u64 + 160;
                if let Err(e) = self.hold(bytes, "the report's citations") {
                    over = Some(e);
                    return Err("too much held".into());
                }
                citations.push(Citation {
                    agent,
                    seq: ev
                        .seq
                        .and_then(|s| u64::try_from(s).ok())
                        .unwrap_or_default(),
                    log_index: ev.log_index.and_then(|i| u64::try_from(i).ok()),
                    sha: ev.payload_sha256,
                });
                Ok(())
            };
            parse_streamed(path, data, ReportSeed(&mut each))?
        };
        if let Some(e) = over {
            return Err(e);
        }
        match parsed {
            Ok(()) => self.citations = Some(citations),
            Err(e) => self.v.fail("report.json", format!("not a report ({e})")),
        }
        Ok(())
    }

    /// The checks that need every file, once the archive is read.
    fn finish(mut self, files: &BTreeMap<String, FileDigest>, trust: &Trust) -> Verdict {
        let mut v = Verdict {
            files: files.len(),
            envelopes: self.v.envelopes,
            trust_file: trust
                .file
                .as_ref()
                .map(|p| (p.display().to_string(), trust.pins.len())),
            ..Verdict::default()
        };
        // 2. The manifest and its signature.
        let Some(manifest_bytes) = self.manifest.as_deref() else {
            v.fail(
                "manifest.json",
                "missing: nothing in the bundle can be trusted",
            );
            return v;
        };
        let Some(sig_bytes) = self.sig.as_deref() else {
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
        drop(msg);
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
        let id = keyid(&key);
        match trust.pin_of(&id) {
            Some(pin) => v.signer = Signer::Pinned(pin.source.clone()),
            None if trust.given => {
                let given = trust.pins.first().map_or("?", |p| p.keyid.as_str());
                v.collector_key_id = Some(id.clone());
                v.fail(
                    "manifest.sig",
                    format!("signed by collector key {id}, not by the key given ({given})"),
                );
                return v;
            }
            None => v.signer = Signer::Unpinned,
        }
        // From here on, the problems found while reading count.
        let mut found = std::mem::take(&mut self.v);
        v.problems = std::mem::take(&mut found.problems);
        v.more_problems = found.more_problems;
        if manifest.collector_key_id != id {
            v.fail(
                "manifest.json",
                "the collector key id does not match its key",
            );
        }
        v.collector_key_id = Some(id);
        v.scope = Some(match &manifest.period_from {
            Some(from) => format!("period {from} to {}", manifest.as_of),
            None => format!("as of {}", manifest.as_of),
        });

        // 3. Digests.
        let mut listed: BTreeSet<&str> = BTreeSet::new();
        let mut altered: BTreeSet<&str> = BTreeSet::new();
        for f in &manifest.files {
            if !listed.insert(f.path.as_str()) {
                v.fail("manifest.json", format!("lists {} twice", f.path));
                continue;
            }
            match files.get(&f.path) {
                None => {
                    v.fail(&f.path, "missing (removed from the bundle)");
                    altered.insert(&f.path);
                }
                Some(d) => {
                    let sha = hex::encode(d.sha256);
                    if d.size != f.size || sha != f.sha256 {
                        v.fail(
                            &f.path,
                            format!(
                                "altered: SHA-256 {sha} ({} bytes), the manifest says {} ({} \
                                 bytes)",
                                d.size, f.sha256, f.size
                            ),
                        );
                        altered.insert(&f.path);
                    }
                }
            }
        }
        for path in files.keys() {
            if path != "manifest.json" && path != "manifest.sig" && !listed.contains(path.as_str())
            {
                v.fail(path, "not in the manifest (added to the bundle)");
            }
        }
        if listed.contains("collector.pub")
            && !altered.contains("collector.pub")
            && let Some(pubfile) = &self.collector_pub
            && String::from_utf8_lossy(pubfile).trim() != manifest.collector_key
        {
            v.fail("collector.pub", "is not the collector key of the manifest");
        }

        // 4. The checkpoint.
        let root = match self.checkpoint.take() {
            None => {
                v.fail("checkpoint.json", "missing");
                None
            }
            Some(Err(e)) => {
                v.fail("checkpoint.json", e);
                None
            }
            Some(Ok(cp)) => match cp.verify(&key) {
                Ok(root) => {
                    v.tree_size = Some(cp.tree_size);
                    Some((cp.tree_size, root))
                }
                Err(e) => {
                    v.fail("checkpoint.json", format!("{e}"));
                    None
                }
            },
        };

        // 5. Envelopes, keys, proofs: what could not be checked while reading.
        for p in std::mem::take(&mut self.waiting_proofs) {
            if self.apply_proof(&p) {
                continue;
            }
            match self.records.get_mut(&p.path) {
                // No checkpoint to check it against.
                Some(rec) => rec.proof = Some((p.log_index, false)),
                None if !files.contains_key(&p.path) => v.fail(
                    "proofs.json",
                    format!("has a proof for {}, which is not in the bundle", p.path),
                ),
                None => {}
            }
        }
        for (agent, waiting) in std::mem::take(&mut self.waiting) {
            for e in waiting {
                v.fail(&e.path, format!("no key for agent {agent} in keys/"));
            }
        }
        if let (Some(size), Some((cp_size, _))) = (self.proofs_tree_size, root)
            && size != cp_size
        {
            v.fail(
                "proofs.json",
                format!("proofs for a tree of {size} entries, the checkpoint has {cp_size}"),
            );
        }
        let mut records: Vec<(&String, &Record)> = self.records.iter().collect();
        records.sort_by(|a, b| (&a.1.agent, a.1.seq).cmp(&(&b.1.agent, b.1.seq)));
        let mut by_index: HashMap<u64, &str> = HashMap::new();
        for (path, rec) in &records {
            match rec.proof {
                None => v.fail(path, "no inclusion proof in proofs.json"),
                // Inclusion means something only in a tree whose checkpoint verified.
                Some(_) if root.is_none() => {}
                Some((index, false)) => v.fail(
                    path,
                    format!(
                        "its inclusion proof (log index {index}) does not lead to the \
                         checkpoint's root"
                    ),
                ),
                Some((index, true)) => {
                    if let Some(other) = by_index.insert(index, path) {
                        v.fail(path, format!("shares log index {index} with {other}"));
                    }
                }
            }
        }

        // The inventory lists the signed reports name (v3): in the bundle, intact.
        for (path, rec) in &records {
            if let Some(address) = &rec.inventory_list
                && !self.lists.contains(address)
            {
                v.fail(
                    path,
                    format!(
                        "names inventory list {address}, which the bundle does not hold \
                         intact (inventory-lists/{}.json)",
                        address.trim_start_matches("sha256:")
                    ),
                );
            }
        }

        // 6. Chain continuity.
        let mut agents: BTreeSet<&str> = BTreeSet::new();
        let mut before: Option<&Record> = None;
        let mut replays: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for (path, rec) in &records {
            agents.insert(&rec.agent);
            if rec.replay {
                replays.entry(&rec.agent).or_default().push(rec.seq);
            }
            let prior = before.filter(|b| b.agent == rec.agent);
            if rec.seq == 1
                && let Some(k) = self.keys.get(&rec.agent)
                && rec.prev != genesis_prev(k)
            {
                v.fail(path, "seq 1 does not link to the agent's enrolled key");
            }
            match prior {
                Some(b)
                    if b.seq + 1 == rec.seq && rec.prev != format!("sha256:{}", b.payload_sha) =>
                {
                    v.fail(
                        path,
                        format!(
                            "its prev does not link to seq {} of the same agent: the chain is \
                             broken",
                            b.seq
                        ),
                    );
                }
                Some(b) if b.seq + 1 == rec.seq => {}
                Some(b) => v.notes.push(format!(
                    "agent {}: seq {}..{} are not in the bundle",
                    rec.agent,
                    b.seq + 1,
                    rec.seq - 1
                )),
                None => {}
            }
            before = Some(rec);
        }
        for (agent, seqs) in &replays {
            let mut list: Vec<String> = seqs.iter().take(5).map(u64::to_string).collect();
            if seqs.len() > 5 {
                list.push("…".to_owned());
            }
            v.notes.push(format!(
                "agent {agent}: {} a replay (agent.replay: decided from recorded captures, \
                 never evidence): seq {}",
                if seqs.len() == 1 {
                    "1 report is".to_owned()
                } else {
                    format!("{} reports are", seqs.len())
                },
                list.join(", ")
            ));
        }
        v.agents = agents.len();

        // 7. The report cites the envelopes.
        if !altered.contains("report.json")
            && let Some(citations) = &self.citations
        {
            for c in citations {
                let path = format!("envelopes/{}/{}.json", c.agent, c.seq);
                if self.records.get(&path).is_some_and(|r| r.replay) {
                    v.fail(
                        "report.json",
                        format!(
                            "cites seq {} of agent {} as evidence, which is a replay \
                             (agent.replay): never evidence",
                            c.seq, c.agent
                        ),
                    );
                }
                let proof = self.records.get(&path).and_then(|r| {
                    root.and(r.proof)
                        .map(|(index, _)| (index, r.payload_sha.as_str()))
                });
                match proof {
                    None if files.contains_key(&path) => {}
                    None => v.fail(
                        "report.json",
                        format!(
                            "cites seq {} of agent {}, which is not in the bundle",
                            c.seq, c.agent
                        ),
                    ),
                    Some((index, sha)) => {
                        if c.log_index != Some(index) || c.sha.as_deref() != Some(sha) {
                            v.fail(
                                "report.json",
                                format!(
                                    "cites seq {} of agent {} with another log index or payload \
                                     SHA-256 than the bundle's envelope",
                                    c.seq, c.agent
                                ),
                            );
                        }
                    }
                }
            }
        }
        v
    }
}

#[cfg(test)]
mod tests;
