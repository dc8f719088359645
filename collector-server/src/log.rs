//! The collector's append-only Merkle log of accepted envelopes (RFC 6962 / 9162
//! hashing), its inclusion proofs and its signed checkpoints.
//!
//! - Leaf `i` is the i-th accepted envelope, exactly as stored:
//!   `leaf_hash = SHA-256(0x00 ‖ envelope bytes)`.
//! - An interior node is `SHA-256(0x01 ‖ left ‖ right)`; the root of the empty tree is
//!   `SHA-256("")`; a tree of `n` leaves splits at the largest power of two below `n`
//!   (RFC 6962 §2.1).
//!
//! Storage: the leaf hash sits next to each stored report; complete subtrees whose
//! height is a multiple of [`NODE_STRIDE`] are stored as they complete (about one row
//! per 15 leaves), so any complete subtree hash costs at most 2^(stride−1) stored
//! hashes, and an inclusion proof `O(log n)` small reads. The log head (tree size, root
//! and the *frontier*, the roots of the complete subtrees that make up the tree) is one
//! row that every appending batch locks, so several collectors on one database append
//! in one order decided by the database.
//!
//! Checkpoints are signed with the collector's Ed25519 log key over this text:
//!
//! ```text
//! attest.checkpoint/v1
//! <origin>
//! <tree size, decimal>
//! <root hash, standard base64>
//! <timestamp, RFC 3339 UTC, seconds>
//! ```
//!
//! (each line ends with `\n`).

use std::future::Future;

use attest_proto::{BASE64, SigningKey, VerifyingKey, keyid};
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// Heights of the stored subtrees are multiples of this.
pub const NODE_STRIDE: u32 = 4;

/// The checkpoint origin line.
pub const CHECKPOINT_ORIGIN: &str = "attest-collector";

/// The first line of a checkpoint's signed text.
pub const CHECKPOINT_HEADER: &str = "attest.checkpoint/v1";

/// The hash of a leaf: `SHA-256(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an interior node: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest(b"").into()
}

/// The root of a whole list of leaf hashes, computed directly (RFC 6962 §2.1).
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = largest_power_of_two_below(n as u64) as usize;
            let (l, r) = leaves.split_at(k);
            node_hash(&root_of(l), &root_of(r))
        }
    }
}

/// The largest power of two strictly below `n` (`n` ≥ 2).
fn largest_power_of_two_below(n: u64) -> u64 {
    if n <= 1 {
        return 0;
    }
    1u64 << (63 - (n - 1).leading_zeros())
}

/// A complete subtree that an append finished and that must be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewNode {
    pub level: u32,
    pub index: u64,
    pub hash: Hash,
}

/// The roots of the complete subtrees making up a tree of `size` leaves, highest
/// first: one per set bit of `size`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontier {
    pub size: u64,
    pub hashes: Vec<Hash>,
}

/// The stored frontier does not match its tree size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored log frontier holds {got} bytes; a tree of {size} leaves needs {want}")]
pub struct FrontierError {
    pub size: u64,
    pub got: usize,
    pub want: usize,
}

impl Frontier {
    pub fn empty() -> Self {
        Frontier {
            size: 0,
            hashes: Vec::new(),
        }
    }

    /// Decodes the stored form: the hashes concatenated.
    pub fn from_bytes(size: u64, bytes: &[u8]) -> Result<Self, FrontierError> {
        let want = size.count_ones() as usize * 32;
        if bytes.len() != want {
            return Err(FrontierError {
                size,
                got: bytes.len(),
                want,
            });
        }
        let hashes = bytes
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                h
            })
            .collect();
        Ok(Frontier { size, hashes })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.hashes.concat()
    }

    /// Appends a leaf; returns the stored subtrees it completed (heights that are
    /// non-zero multiples of [`NODE_STRIDE`]).
    pub fn push(&mut self, leaf: Hash, out: &mut Vec<NewNode>) {
        let index = self.size;
        self.size += 1;
        let mut hash = leaf;
        let mut level = 0u32;
        // Merge while the lowest complete subtree has the same height as the new one:
        // that is while the corresponding bit of the old size was set.
        while (index >> level) & 1 == 1 {
            let Some(left) = self.hashes.pop() else {
                break;
            };
            hash = node_hash(&left, &hash);
            level += 1;
            if level.is_multiple_of(NODE_STRIDE) {
                out.push(NewNode {
                    level,
                    index: (self.size >> level) - 1,
                    hash,
                });
            }
        }
        self.hashes.push(hash);
    }

    /// The root of the tree.
    pub fn root(&self) -> Hash {
        let mut iter = self.hashes.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// Where proofs read stored hashes from.
pub trait NodeSource: Sync {
    type Error;
    /// `count` hashes of complete subtrees at `level` (0: leaves) starting at `from`.
    /// Returns fewer when fewer are stored.
    fn nodes(
        &self,
        level: u32,
        from: u64,
        count: u64,
    ) -> impl Future<Output = Result<Vec<Hash>, Self::Error>> + Send;
}

/// Proof computation failed.
#[derive(Debug, thiserror::Error)]
pub enum ProofError<E> {
    #[error("leaf {index} is not in a tree of {size} leaves")]
    OutOfRange { index: u64, size: u64 },
    #[error("the log is missing stored hashes at level {level} from {from}")]
    Missing { level: u32, from: u64 },
    #[error(transparent)]
    Source(E),
}

/// The hash of the complete subtree of height `level` at position `index`.
async fn subtree<S: NodeSource>(
    src: &S,
    level: u32,
    index: u64,
) -> Result<Hash, ProofError<S::Error>> {
    let base = level - level % NODE_STRIDE;
    let up = level - base;
    let count = 1u64 << up;
    let from = index << up;
    let mut row = src
        .nodes(base, from, count)
        .await
        .map_err(ProofError::Source)?;
    if row.len() as u64 != count {
        return Err(ProofError::Missing { level: base, from });
    }
    while row.len() > 1 {
        row = row
            .chunks_exact(2)
            .map(|p| node_hash(&p[0], &p[1]))
            .collect();
    }
    row.pop().ok_or(ProofError::Missing { level: base, from })
}

/// The root of the leaves `[lo, hi)` (`hi > lo`), from stored hashes.
async fn range_root<S: NodeSource>(
    src: &S,
    lo: u64,
    hi: u64,
) -> Result<Hash, ProofError<S::Error>> {
    // Split into complete aligned subtrees, left to right, then fold from the right.
    let mut parts = Vec::new();
    let mut at = lo;
    while at < hi {
        let n = hi - at;
        // The largest aligned complete subtree starting at `at` that fits.
        let mut level = 63 - n.leading_zeros();
        if at != 0 {
            level = level.min(at.trailing_zeros());
        }
        parts.push(subtree(src, level, at >> level).await?);
        at += 1u64 << level;
    }
    let mut iter = parts.into_iter().rev();
    let Some(last) = iter.next() else {
        return Err(ProofError::OutOfRange {
            index: lo,
            size: hi,
        });
    };
    Ok(iter.fold(last, |acc, left| node_hash(&left, &acc)))
}

/// The root of the first `size` leaves, from stored hashes.
pub async fn root_at<S: NodeSource>(src: &S, size: u64) -> Result<Hash, ProofError<S::Error>> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_root(src, 0, size).await
}

/// The RFC 6962 audit path of leaf `index` in the tree of the first `size` leaves,
/// from the leaf up.
pub async fn inclusion_proof<S: NodeSource>(
    src: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if index >= size {
        return Err(ProofError::OutOfRange { index, size });
    }
    // Walk down from the root, collecting siblings, then reverse.
    let mut path = Vec::new();
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let k = largest_power_of_two_below(hi - lo);
        if index - lo < k {
            path.push(range_root(src, lo + k, hi).await?);
            hi = lo + k;
        } else {
            path.push(range_root(src, lo, lo + k).await?);
            lo += k;
        }
    }
    path.reverse();
    Ok(path)
}

/// Hashes per block of a [`CachedNodes`].
const CACHE_BLOCK: u64 = 1024;

/// Hashes of one aligned block, shared between the cache and its readers.
type Block = std::sync::Arc<Vec<Hash>>;

/// A [`NodeSource`] that reads aligned blocks of hashes and keeps them,
/// for computing many proofs against one tree (the evidence bundle): neighbouring
/// leaves share most of their audit paths, so ten thousand proofs cost a few dozen
/// reads instead of tens of thousands. Memory: 32 bytes per hash read, at most the
/// stored hashes of the levels the proofs touch.
pub struct CachedNodes<S> {
    src: S,
    blocks: std::sync::Mutex<std::collections::HashMap<(u32, u64), Block>>,
}

impl<S: NodeSource> CachedNodes<S> {
    pub fn new(src: S) -> Self {
        CachedNodes {
            src,
            blocks: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Block `block` of `level` holding at least `need` hashes when that many are
    /// stored: from the cache when the cached copy has them, else read again (the
    /// block at the log's tail may have grown since it was read).
    async fn block(&self, level: u32, block: u64, need: usize) -> Result<Block, S::Error> {
        let cached = self
            .blocks
            .lock()
            .ok()
            .and_then(|m| m.get(&(level, block)).cloned());
        if let Some(hashes) = cached
            && hashes.len() >= need
        {
            return Ok(hashes);
        }
        let hashes = std::sync::Arc::new(
            self.src
                .nodes(level, block * CACHE_BLOCK, CACHE_BLOCK)
                .await?,
        );
        if let Ok(mut m) = self.blocks.lock() {
            m.insert((level, block), std::sync::Arc::clone(&hashes));
        }
        Ok(hashes)
    }
}

impl<S: NodeSource> NodeSource for CachedNodes<S> {
    type Error = S::Error;

    async fn nodes(&self, level: u32, from: u64, count: u64) -> Result<Vec<Hash>, S::Error> {
        let end = from.saturating_add(count);
        let mut out = Vec::with_capacity(usize::try_from(count.min(CACHE_BLOCK)).unwrap_or(0));
        let mut at = from;
        while at < end {
            let block = at / CACHE_BLOCK;
            let offset = (at - block * CACHE_BLOCK) as usize;
            let want = (end - at).min(CACHE_BLOCK - offset as u64) as usize;
            let hashes = self.block(level, block, offset + want).await?;
            let have = hashes.get(offset..).map_or(0, |rest| rest.len().min(want));
            out.extend_from_slice(&hashes[offset..offset + have]);
            if have < want {
                break; // fewer are stored
            }
            at += want as u64;
        }
        Ok(out)
    }
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// A signed checkpoint, as `GET /v1/log/checkpoint` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub origin: String,
    pub tree_size: u64,
    /// Lowercase hex.
    pub root_hash: String,
    /// RFC 3339, UTC, whole seconds.
    pub timestamp: String,
    /// The log key's id ([`attest_proto::keyid`]).
    pub key_id: String,
    /// The log public key, standard base64 of its 32 bytes.
    pub public_key: String,
    /// Ed25519 over [`Checkpoint::signed_text`], standard base64.
    pub signature: String,
}

/// A checkpoint that does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint field {0} is malformed")]
    Malformed(&'static str),
    #[error("checkpoint is signed by another key")]
    OtherKey,
    #[error("checkpoint signature does not verify")]
    BadSignature,
}

impl Checkpoint {
    /// The text that is signed.
    pub fn signed_text(origin: &str, tree_size: u64, root: &Hash, timestamp: &str) -> String {
        format!(
            "{CHECKPOINT_HEADER}\n{origin}\n{tree_size}\n{}\n{timestamp}\n",
            BASE64.encode(root)
        )
    }

    /// Signs a checkpoint for a tree.
    pub fn sign(
        key: &SigningKey,
        tree_size: u64,
        root: &Hash,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Checkpoint {
        let timestamp = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let text = Self::signed_text(CHECKPOINT_ORIGIN, tree_size, root, &timestamp);
        let sig: Signature = key.sign(text.as_bytes());
        let public = key.verifying_key();
        Checkpoint {
            origin: CHECKPOINT_ORIGIN.to_owned(),
            tree_size,
            root_hash: hex::encode(root),
            timestamp,
            key_id: keyid(&public),
            public_key: BASE64.encode(public.as_bytes()),
            signature: BASE64.encode(sig.to_bytes()),
        }
    }

    /// The root hash as bytes.
    pub fn root(&self) -> Result<Hash, CheckpointError> {
        let raw =
            hex::decode(&self.root_hash).map_err(|_| CheckpointError::Malformed("root_hash"))?;
        raw.try_into()
            .map_err(|_| CheckpointError::Malformed("root_hash"))
    }

    /// Verifies the signature with a trusted log key.
    pub fn verify(&self, key: &VerifyingKey) -> Result<Hash, CheckpointError> {
        if self.key_id != keyid(key) {
            return Err(CheckpointError::OtherKey);
        }
        let root = self.root()?;
        let raw = BASE64
            .decode(&self.signature)
            .map_err(|_| CheckpointError::Malformed("signature"))?;
        let sig: [u8; 64] = raw
            .try_into()
            .map_err(|_| CheckpointError::Malformed("signature"))?;
        let text = Self::signed_text(&self.origin, self.tree_size, &root, &self.timestamp);
        key.verify_strict(text.as_bytes(), &Signature::from_bytes(&sig))
            .map_err(|_| CheckpointError::BadSignature)?;
        Ok(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// An in-memory log: leaves plus the nodes a frontier reports.
    #[derive(Default)]
    struct Mem {
        leaves: Vec<Hash>,
        nodes: HashMap<(u32, u64), Hash>,
        frontier: Option<Frontier>,
    }

    impl Mem {
        fn with(n: usize) -> Mem {
            let mut m = Mem {
                frontier: Some(Frontier::empty()),
                ..Mem::default()
            };
            for i in 0..n {
                m.push(leaf_hash(format!("leaf {i}").as_bytes()));
            }
            m
        }
        fn push(&mut self, leaf: Hash) {
            let mut out = Vec::new();
            self.frontier.as_mut().unwrap().push(leaf, &mut out);
            self.leaves.push(leaf);
            for n in out {
                assert!(self.nodes.insert((n.level, n.index), n.hash).is_none());
            }
        }
    }

    impl NodeSource for Mem {
        type Error = std::convert::Infallible;
        async fn nodes(&self, level: u32, from: u64, count: u64) -> Result<Vec<Hash>, Self::Error> {
            Ok((from..from + count)
                .map_while(|i| {
                    if level == 0 {
                        self.leaves.get(i as usize).copied()
                    } else {
                        self.nodes.get(&(level, i)).copied()
                    }
                })
                .collect())
        }
    }

    fn block<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// Counts the reads that reach the source.
    struct Counting<'a>(&'a Mem, std::sync::atomic::AtomicUsize);

    impl NodeSource for Counting<'_> {
        type Error = std::convert::Infallible;
        async fn nodes(&self, level: u32, from: u64, count: u64) -> Result<Vec<Hash>, Self::Error> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.0.nodes(level, from, count).await
        }
    }

    #[test]
    fn cached_nodes_give_the_same_proofs_from_far_fewer_reads() {
        let m = Mem::with(2_600);
        let direct = Counting(&m, Default::default());
        let cached = CachedNodes::new(Counting(&m, Default::default()));
        for size in [1u64, 17, 1_024, 1_025, 2_048, 2_600] {
            let root = root_of(&m.leaves[..size as usize]);
            for index in (0..size).step_by(7).chain([size - 1]) {
                let a = block(inclusion_proof(&direct, index, size)).unwrap();
                let b = block(inclusion_proof(&cached, index, size)).unwrap();
                assert_eq!(a, b, "size {size} index {index}");
                assert!(verify_inclusion(
                    index,
                    size,
                    &m.leaves[index as usize],
                    &b,
                    &root
                ));
            }
        }
        let reads_direct = direct.1.load(std::sync::atomic::Ordering::Relaxed);
        let reads_cached = cached.src.1.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            reads_cached * 20 < reads_direct,
            "cached {reads_cached} reads, direct {reads_direct}"
        );
        // Past the stored hashes: fewer come back, as from the source itself.
        let past = block(cached.nodes(0, 2_590, 20)).unwrap();
        assert_eq!(past, m.leaves[2_590..].to_vec());
    }

    #[test]
    fn rfc6962_hashing_known_answers() {
        // Empty tree root: SHA-256 of nothing.
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // Leaf of the empty string: SHA-256(0x00).
        assert_eq!(
            hex::encode(leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        // RFC 6962 test vectors (certificate-transparency-go merkletree tests).
        let leaves: Vec<Hash> = [
            &b""[..],
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ]
        .iter()
        .map(|d| leaf_hash(d))
        .collect();
        assert_eq!(
            hex::encode(root_of(&leaves[..2])),
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
        );
        assert_eq!(
            hex::encode(root_of(&leaves)),
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
        );
    }

    #[test]
    fn frontier_root_matches_direct_root_at_every_size() {
        let mut m = Mem::with(0);
        for i in 0..300u32 {
            assert_eq!(
                m.frontier.as_ref().unwrap().root(),
                root_of(&m.leaves),
                "size {i}"
            );
            m.push(leaf_hash(&i.to_be_bytes()));
        }
        let f = m.frontier.clone().unwrap();
        assert_eq!(f.hashes.len(), 300u32.count_ones() as usize);
        assert_eq!(Frontier::from_bytes(f.size, &f.to_bytes()).unwrap(), f);
        assert!(Frontier::from_bytes(f.size + 1, &f.to_bytes()).is_err());
        // Level-4 nodes are the roots of aligned 16-leaf blocks.
        assert_eq!(m.nodes[&(4, 2)], root_of(&m.leaves[32..48]));
        assert_eq!(m.nodes[&(8, 0)], root_of(&m.leaves[0..256]));
        assert_eq!(m.nodes.len(), 300 / 16 + 1);
    }

    #[test]
    fn proofs_from_stored_nodes_verify_and_match_direct_roots() {
        for size in [1usize, 2, 3, 5, 7, 8, 16, 17, 31, 100, 257, 300] {
            let m = Mem::with(size);
            let root = block(root_at(&m, size as u64)).unwrap();
            assert_eq!(root, root_of(&m.leaves), "size {size}");
            for index in 0..size as u64 {
                let path = block(inclusion_proof(&m, index, size as u64)).unwrap();
                let leaf = m.leaves[index as usize];
                assert!(
                    verify_inclusion(index, size as u64, &leaf, &path, &root),
                    "{index}/{size}"
                );
                // Any other leaf, index or root fails.
                assert!(!verify_inclusion(
                    index,
                    size as u64,
                    &leaf_hash(b"x"),
                    &path,
                    &root
                ));
                if size > 1 {
                    let other = (index + 1) % size as u64;
                    assert!(!verify_inclusion(other, size as u64, &leaf, &path, &root));
                }
                assert!(!verify_inclusion(
                    index,
                    size as u64,
                    &leaf,
                    &path,
                    &empty_root()
                ));
            }
            // Proofs in a smaller tree (an older checkpoint).
            if size > 3 {
                let old = size as u64 - 2;
                let old_root = root_of(&m.leaves[..old as usize]);
                let path = block(inclusion_proof(&m, 1, old)).unwrap();
                assert!(verify_inclusion(1, old, &m.leaves[1], &path, &old_root));
            }
        }
        let m = Mem::with(3);
        assert!(matches!(
            block(inclusion_proof(&m, 3, 3)),
            Err(ProofError::OutOfRange { .. })
        ));
        assert!(!verify_inclusion(0, 0, &empty_root(), &[], &empty_root()));
    }

    #[test]
    fn missing_nodes_are_an_error_not_a_wrong_proof() {
        let mut m = Mem::with(40);
        m.nodes.clear();
        assert!(matches!(
            block(inclusion_proof(&m, 0, 40)),
            Err(ProofError::Missing { level: 4, .. })
        ));
    }

    #[test]
    fn checkpoints_sign_and_verify() {
        let key = SigningKey::from_bytes(&[3u8; 32]);
        let at = "2026-11-25T14:00:00Z".parse().unwrap();
        let cp = Checkpoint::sign(&key, 7, &leaf_hash(b"r"), at);
        assert_eq!(cp.timestamp, "2026-11-25T14:00:00Z");
        assert_eq!(cp.verify(&key.verifying_key()).unwrap(), leaf_hash(b"r"));
        let mut bad = cp.clone();
        bad.tree_size = 8;
        assert_eq!(
            bad.verify(&key.verifying_key()),
            Err(CheckpointError::BadSignature)
        );
        let other = SigningKey::from_bytes(&[4u8; 32]);
        assert_eq!(
            cp.verify(&other.verifying_key()),
            Err(CheckpointError::OtherKey)
        );
        let json = serde_json::to_string(&cp).unwrap();
        assert_eq!(serde_json::from_str::<Checkpoint>(&json).unwrap(), cp);
    }
}
