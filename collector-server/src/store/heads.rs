//! What the ingest writer remembers of each agent's head between batches.
//!
//! To store a report that extends an agent's chain, a batch needs two things of the
//! agent's current head: its results (the change rows are the difference from them,
//! [`super::changes`]) and its keyframe (the report is stored as a delta against it,
//! [`super::codec`]). Read from the database that is two queries per report inside
//! the write transaction, while every other writer waits. After a batch commits, the
//! store keeps both for each agent it wrote (a [`HeadEntry`]), and the agent's next
//! batch takes them from here instead.
//!
//! An entry is only a hint. The batch uses it only when the agent's locked row still
//! shows the same head (`head_seq` and `head_link`) and the head's row the same
//! keyframe (`head_base`), so another collector on the same database, a prune that
//! stored the head again against a new keyframe, or a batch that failed after the
//! entry was taken all make the batch read the database as before. An entry is taken
//! out for the batch and put back only after its commit.
//!
//! Memory is bounded by [`HEAD_CACHE_BYTES`]: entries live in two generations; when
//! the newer one fills half the budget, the older one is dropped and the newer one
//! becomes it. An agent's entry moves to the newer generation each time it is used,
//! so agents that report keep theirs. The keyframe is kept as its form once the
//! writer has it (≈ 16 KB for a laptop's report), so that an agent's next batch
//! compresses against it without decompressing it first; else as stored (zstd).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::batch::{KeyContent, KeyRow, PendingReport};
use super::changes::ResultState;

/// The most bytes the entries of one store may hold. A laptop's entry is ≈ 27 KB
/// (on the realistic stream: the keyframe's 16 KB form, where a 3.3 KB compressed
/// keyframe was kept before, and 33 results, as [`HeadEntry::bytes`] counts them), and an agent keeps its
/// entry between two of its reports when the newer generation (half the budget) can
/// hold the whole fleet: about 19,000 agents. At 128 MiB a 10,000-agent fleet lost
/// every entry before its next report and each report read its head back
/// (2026-12-04, docs/benchmarks.md). Memory is only taken as agents report.
pub const HEAD_CACHE_BYTES: usize = 1 << 30;

/// An agent's head after a committed batch.
#[derive(Debug, Clone)]
pub struct HeadEntry {
    pub head_seq: i64,
    pub head_link: String,
    /// The head's keyframe row (the head itself when it is one).
    pub key: KeyRow,
    /// The head's results (shared with the batch that wrote them, and with the next
    /// report's when it changes nothing).
    pub results: Arc<ResultState>,
}

impl HeadEntry {
    /// About what the entry holds in memory.
    pub fn bytes(&self) -> usize {
        let results: usize = self
            .results
            .iter()
            .map(|((check, _), s)| {
                check.len()
                    + s.status.len()
                    + s.summary.len()
                    + s.reason.as_ref().map_or(0, String::len)
                    + s.facts_sha256.as_ref().map_or(0, Vec::len)
                    + 160
            })
            .sum();
        let key = match &self.key.content {
            KeyContent::Stored { codec, bytes } => codec.len() + bytes.len(),
            KeyContent::Form(form) => form.len(),
        };
        self.head_link.len() + key + results + 160
    }

    /// Whether the entry still describes the locked agent row: the same head, whose
    /// row has the same keyframe.
    pub fn matches(
        &self,
        head_seq: Option<i64>,
        head_link: Option<&str>,
        head_base: Option<i64>,
    ) -> bool {
        head_seq == Some(self.head_seq)
            && head_link == Some(self.head_link.as_str())
            && head_base == Some(self.key.log_index)
    }
}

/// The entries a batch works with, by agent id.
pub type KnownHeads = HashMap<String, HeadEntry>;

/// A store's [`HeadCache`], shared by its batches.
#[derive(Debug, Default)]
pub struct Heads(Mutex<HeadCache>);

impl Heads {
    /// The entries of a batch's agents, taken out for the batch.
    pub fn take(&self, batch: &[PendingReport]) -> KnownHeads {
        self.0
            .lock()
            .map(|mut h| h.take(batch.iter().map(|r| r.agent_id.as_str())))
            .unwrap_or_default()
    }

    /// Keeps what a committed batch knows.
    pub fn keep(&self, heads: KnownHeads) {
        if let Ok(mut h) = self.0.lock() {
            h.put(heads);
        }
    }
}

/// The entries of one store (see the module docs).
#[derive(Debug)]
pub struct HeadCache {
    budget: usize,
    current: HashMap<String, HeadEntry>,
    current_bytes: usize,
    previous: HashMap<String, HeadEntry>,
}

impl Default for HeadCache {
    fn default() -> Self {
        HeadCache::new(HEAD_CACHE_BYTES)
    }
}

impl HeadCache {
    pub fn new(budget: usize) -> Self {
        HeadCache {
            budget,
            current: HashMap::new(),
            current_bytes: 0,
            previous: HashMap::new(),
        }
    }

    /// Takes out the entries of these agents (they are the batch's until it commits).
    pub fn take<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) -> KnownHeads {
        let mut out = KnownHeads::new();
        for id in ids {
            if out.contains_key(id) {
                continue;
            }
            let found = match self.current.remove(id) {
                Some(e) => {
                    self.current_bytes = self.current_bytes.saturating_sub(e.bytes());
                    Some(e)
                }
                None => self.previous.remove(id),
            };
            if let Some(e) = found {
                out.insert(id.to_owned(), e);
            }
        }
        out
    }

    /// Puts back what a committed batch knows (newer than anything kept).
    pub fn put(&mut self, heads: KnownHeads) {
        for (id, e) in heads {
            let size = e.bytes();
            if size > self.budget / 2 {
                continue;
            }
            if self.current_bytes + size > self.budget / 2 {
                self.previous = std::mem::take(&mut self.current);
                self.current_bytes = 0;
            }
            self.previous.remove(&id);
            self.current_bytes += size;
            if let Some(old) = self.current.insert(id, e) {
                self.current_bytes = self.current_bytes.saturating_sub(old.bytes());
            }
        }
    }

    /// Entries held now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held now (about).
    #[cfg(test)]
    pub fn held_bytes(&self) -> usize {
        self.current_bytes + self.previous.values().map(HeadEntry::bytes).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::changes::CheckState;

    fn entry(seq: i64, key_bytes: usize) -> HeadEntry {
        let mut results = ResultState::new();
        results.insert(
            ("fw.enabled".into(), 0),
            CheckState {
                position: 0,
                status: "pass".into(),
                summary: "on".into(),
                reason: None,
                facts_sha256: Some(vec![0; 32]),
            },
        );
        HeadEntry {
            head_seq: seq,
            head_link: format!("sha256:{seq:064x}"),
            key: KeyRow {
                log_index: seq * 10,
                seq,
                content: KeyContent::Stored {
                    codec: "zstd".into(),
                    bytes: vec![7; key_bytes],
                },
            },
            results: Arc::new(results),
        }
    }

    #[test]
    fn an_entry_matches_only_the_same_head_and_keyframe() {
        let e = entry(5, 10);
        let link = e.head_link.clone();
        assert!(e.matches(Some(5), Some(&link), Some(50)));
        assert!(
            !e.matches(Some(6), Some(&link), Some(50)),
            "another head seq"
        );
        assert!(
            !e.matches(Some(5), Some("sha256:00"), Some(50)),
            "another link"
        );
        assert!(
            !e.matches(Some(5), Some(&link), Some(51)),
            "rebased by a prune"
        );
        assert!(!e.matches(None, None, None), "no head");
    }

    #[test]
    fn take_removes_and_put_returns() {
        let mut c = HeadCache::new(1 << 20);
        let mut k = KnownHeads::new();
        k.insert("a".into(), entry(1, 100));
        k.insert("b".into(), entry(2, 100));
        c.put(k);
        assert_eq!(c.len(), 2);
        let taken = c.take(["a", "a", "zz"]);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken["a"].head_seq, 1);
        assert_eq!(c.len(), 1, "a batch holds what it took");
        assert!(c.take(["a"]).is_empty(), "taken once only");
        c.put(taken);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn memory_stays_within_the_budget_and_used_entries_survive() {
        let budget = 64 * 1024;
        let mut c = HeadCache::new(budget);
        let size = entry(0, 1000).bytes();
        // Agent "keep" reports every round; 200 others once each.
        for i in 0..200 {
            let mut k = c.take(["keep"]);
            k.insert("keep".into(), entry(i, 1000));
            k.insert(format!("other{i}"), entry(i, 1000));
            c.put(k);
            assert!(c.held_bytes() <= budget + size, "held {}", c.held_bytes());
        }
        assert!(c.len() < 200, "old entries dropped: {}", c.len());
        let keep = c.take(["keep"]);
        assert_eq!(
            keep["keep"].head_seq, 199,
            "the newest entry of a reporting agent"
        );
        assert!(
            c.take(["other0"]).is_empty(),
            "a long-silent agent's entry is gone"
        );
    }

    #[test]
    fn a_kept_keyframe_form_counts_against_the_budget() {
        let plain = entry(1, 1000);
        let mut with_form = entry(1, 1000);
        with_form.key.content = KeyContent::Form(Arc::new(vec![0; 17_004]));
        // The form takes the place of the compressed bytes (1,000) and codec ("zstd").
        assert_eq!(with_form.bytes(), plain.bytes() + 16_000);
        // Half of this budget holds the plain entry but not the one with its form.
        let budget = 2 * (plain.bytes() + 8_000);
        let mut c = HeadCache::new(budget);
        let mut k = KnownHeads::new();
        k.insert("plain".into(), plain);
        k.insert("formed".into(), with_form);
        c.put(k);
        assert_eq!(c.len(), 1);
        assert!(c.take(["formed"]).is_empty());
        assert!(c.held_bytes() <= budget);
    }

    #[test]
    fn an_entry_larger_than_half_the_budget_is_not_kept() {
        let mut c = HeadCache::new(4096);
        let mut k = KnownHeads::new();
        k.insert("big".into(), entry(1, 10_000));
        c.put(k);
        assert!(c.is_empty());
    }
}
