//! The per-agent hash chain.
//!
//! Every report an agent signs carries `seq` and `prev`:
//!
//! - `seq` counts up from 1, by one per signed report, for the life of the enrollment.
//! - `prev` is a *link*: `sha256:<64 lowercase hex>`. For `seq` 1 it is the SHA-256 of
//!   the 32 raw bytes of the agent's enrolled public key ([`genesis_prev`]); for every
//!   later report it is the SHA-256 of the exact statement bytes of the report before
//!   it ([`link_of`]), i.e. of the previous envelope's payload.
//!
//! The agent keeps a [`ChainState`] (`next_seq`, `prev`) on disk and advances it with
//! the statement bytes it has just signed, before that report is handed to the spool.
//!
//! The collector classifies every verified report against what it has stored for the
//! agent with [`classify`], a pure function. The rules, in order:
//!
//! | incoming `seq` | condition | verdict | collector |
//! | --- | --- | --- | --- |
//! | 0 | — | [`Invalid`](ChainVerdict::Invalid) | reject, `not_a_statement` (400) |
//! | already stored | same payload digest | [`Duplicate`](ChainVerdict::Duplicate) | idempotent success: the stored receipt, nothing written |
//! | already stored | other payload digest | [`Fork`](ChainVerdict::Fork) | reject, `chain_conflict` (409), record the fork |
//! | head + 1 (or 1 with nothing stored) | `prev` = link of head (genesis for 1) | [`Next`](ChainVerdict::Next) | accept |
//! | head + 1 (or 1 with nothing stored) | `prev` differs | [`BrokenLink`](ChainVerdict::BrokenLink) | reject, `chain_conflict` (409), record it |
//! | > head + 1 | — (`prev` cannot be checked) | [`Gap`](ChainVerdict::Gap) | accept, record the missing range |
//! | < head, not stored | `prev` = link of the stored `seq`−1 (genesis for 1) when stored, and the stored `seq`+1's `prev` = its link when stored | [`Late`](ChainVerdict::Late) | accept, shrink the recorded gap |
//! | < head, not stored | one of those links differs | [`BrokenLink`](ChainVerdict::BrokenLink) | reject, `chain_conflict` (409), record it |
//!
//! "head" is the highest `seq` stored for the agent. The digest compared for
//! duplicates is the link of the payload, so a replay of any old report, however old,
//! is a duplicate.
//!
//! Late reports: every `seq` below the head is either stored or inside a gap the
//! collector recorded when it accepted the report after the gap. A late report is
//! authentic (its signature verified) and claims a position nobody else holds, so it is
//! accepted and narrows the gap; it is checked against whichever neighbours are
//! stored. Rejecting it would lose evidence without protecting anything.
//!
//! Races: several collector instances may classify two reports of one agent at once.
//! The store's unique key on (agent, `seq`) is the last guard: when an insert conflicts,
//! re-read the stored view and classify again (the loser becomes `Duplicate` or `Fork`).

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::keys::sha256_hex;
use crate::report::Report;

use ed25519_dalek::VerifyingKey;

/// The prefix of every link.
pub const LINK_PREFIX: &str = "sha256:";

/// `sha256:<hex>` of `bytes`: the link to a statement (pass its exact bytes).
pub fn link_of(bytes: &[u8]) -> String {
    format!("{LINK_PREFIX}{}", sha256_hex(bytes))
}

/// The `prev` of `seq` 1: the link of the enrolled public key's 32 raw bytes.
pub fn genesis_prev(key: &VerifyingKey) -> String {
    link_of(key.as_bytes())
}

/// Whether `s` is a well-formed link: `sha256:` and 64 lowercase hex digits.
pub fn is_link(s: &str) -> bool {
    s.strip_prefix(LINK_PREFIX).is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Where an agent is in its chain: the `seq` and `prev` of the next report it signs.
/// The agent persists it (as JSON) next to its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainState {
    pub next_seq: u64,
    pub prev: String,
}

impl ChainState {
    /// The state right after enrollment: `seq` 1, `prev` the genesis link.
    pub fn genesis(key: &VerifyingKey) -> Self {
        ChainState {
            next_seq: 1,
            prev: genesis_prev(key),
        }
    }

    /// Writes this state's `seq` and `prev` into a report about to be signed.
    pub fn stamp(&self, report: &mut Report) {
        report.seq = self.next_seq;
        report.prev = self.prev.clone();
    }

    /// Whether a loaded state can be used: `next_seq` ≥ 1 and `prev` a link.
    pub fn is_valid(&self) -> bool {
        self.next_seq >= 1 && is_link(&self.prev)
    }

    /// Moves past the report whose statement bytes were just signed.
    pub fn advance(&mut self, statement_bytes: &[u8]) {
        self.next_seq = self.next_seq.saturating_add(1);
        self.prev = link_of(statement_bytes);
    }
}

/// The highest stored report of an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head<'a> {
    pub seq: u64,
    /// The link of its payload (`sha256:<hex>` of its statement bytes).
    pub link: &'a str,
}

/// What the collector has stored for one agent, as far as one incoming report needs
/// it. All strings are links (`sha256:<hex>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredView<'a> {
    /// [`genesis_prev`] of the agent's enrolled key.
    pub genesis: &'a str,
    /// The highest stored report; `None` when nothing is stored yet.
    pub head: Option<Head<'a>>,
    /// The payload link of the report stored at the incoming `seq`, if any. Must be
    /// given whenever something is stored there (it can be only when `seq` ≤ head).
    pub at_seq: Option<&'a str>,
    /// For a late report: the payload link of the report stored at `seq` − 1, if any.
    pub before: Option<&'a str>,
    /// For a late report: the `prev` of the report stored at `seq` + 1, if any.
    pub after_prev: Option<&'a str>,
}

/// The chain position an incoming (verified) report claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incoming<'a> {
    pub seq: u64,
    pub prev: &'a str,
    /// [`link_of`] its statement bytes (the envelope payload).
    pub link: &'a str,
}

/// How an incoming report relates to an agent's stored chain; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainVerdict {
    /// This exact report is already stored: answer with its receipt, store nothing.
    Duplicate,
    /// Another report is stored at this `seq`: reject and record the fork.
    Fork,
    /// The next report, linked to the head (or the genesis link): accept.
    Next,
    /// Reports `missing_from..=missing_to` never arrived: accept and record the gap.
    Gap { missing_from: u64, missing_to: u64 },
    /// Fills a position inside a recorded gap, consistent with its stored neighbours:
    /// accept and narrow the gap.
    Late,
    /// Its `prev` (or a stored successor's `prev`) does not link up: reject and record.
    BrokenLink { expected_prev: Option<String> },
    /// `seq` 0 is no chain position.
    Invalid,
}

impl ChainVerdict {
    /// Whether the report is stored as a new report.
    pub fn is_accepted(&self) -> bool {
        matches!(
            self,
            ChainVerdict::Next | ChainVerdict::Gap { .. } | ChainVerdict::Late
        )
    }

    /// The error to answer with, or `None` for success (new or duplicate).
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            ChainVerdict::Duplicate
            | ChainVerdict::Next
            | ChainVerdict::Gap { .. }
            | ChainVerdict::Late => None,
            ChainVerdict::Fork | ChainVerdict::BrokenLink { .. } => Some(ErrorCode::ChainConflict),
            ChainVerdict::Invalid => Some(ErrorCode::NotAStatement),
        }
    }
}

/// Classifies an incoming report against an agent's stored chain (see the module
/// docs for the rules).
pub fn classify(stored: &StoredView<'_>, incoming: &Incoming<'_>) -> ChainVerdict {
    if incoming.seq == 0 {
        return ChainVerdict::Invalid;
    }
    if let Some(link) = stored.at_seq {
        return if link == incoming.link {
            ChainVerdict::Duplicate
        } else {
            ChainVerdict::Fork
        };
    }
    let (head_seq, head_link) = match stored.head {
        Some(head) => (head.seq, head.link),
        None => (0, stored.genesis),
    };
    if head_seq.checked_add(1) == Some(incoming.seq) {
        return if incoming.prev == head_link {
            ChainVerdict::Next
        } else {
            ChainVerdict::BrokenLink {
                expected_prev: Some(head_link.to_owned()),
            }
        };
    }
    if incoming.seq > head_seq {
        return ChainVerdict::Gap {
            missing_from: head_seq.saturating_add(1),
            missing_to: incoming.seq - 1,
        };
    }
    // Below (or, with an inconsistent view, at) the head and not stored: late.
    let expected_prev = if incoming.seq == 1 {
        Some(stored.genesis)
    } else {
        stored.before
    };
    if let Some(expected) = expected_prev
        && incoming.prev != expected
    {
        return ChainVerdict::BrokenLink {
            expected_prev: Some(expected.to_owned()),
        };
    }
    if let Some(after_prev) = stored.after_prev
        && after_prev != incoming.link
    {
        return ChainVerdict::BrokenLink {
            expected_prev: None,
        };
    }
    ChainVerdict::Late
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningKey;
    use proptest::prelude::*;

    fn l(n: u8) -> String {
        link_of(&[n])
    }

    #[test]
    fn links_have_the_documented_form() {
        // SHA-256 of the empty string.
        assert_eq!(
            link_of(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let key = SigningKey::from_bytes(&[7u8; 32]).verifying_key();
        assert_eq!(genesis_prev(&key), link_of(key.as_bytes()));
        assert!(is_link(&genesis_prev(&key)));
        assert!(!is_link("sha256:"));
        assert!(!is_link(&link_of(b"").to_uppercase()));
        assert!(!is_link(&link_of(b"").replace("sha256:", "sha512:")));
        assert!(!is_link(&format!("{}0", link_of(b""))));
    }

    #[test]
    fn chain_state_walks_the_chain() {
        let key = SigningKey::from_bytes(&[7u8; 32]).verifying_key();
        let mut state = ChainState::genesis(&key);
        assert_eq!(state.next_seq, 1);
        assert_eq!(state.prev, genesis_prev(&key));
        assert!(state.is_valid());
        assert!(
            !ChainState {
                next_seq: 0,
                prev: state.prev.clone()
            }
            .is_valid()
        );
        assert!(
            !ChainState {
                next_seq: 1,
                prev: "sha256:00".into()
            }
            .is_valid()
        );
        state.advance(b"statement one");
        assert_eq!(state.next_seq, 2);
        assert_eq!(state.prev, link_of(b"statement one"));
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(
            json,
            format!(
                "{{\"next_seq\":2,\"prev\":\"{}\"}}",
                link_of(b"statement one")
            )
        );
        assert_eq!(serde_json::from_str::<ChainState>(&json).unwrap(), state);
        assert!(serde_json::from_str::<ChainState>(r#"{"next_seq":2,"prev":"","x":1}"#).is_err());
        let mut report = crate::statement::tests::sample_report();
        state.stamp(&mut report);
        assert_eq!((report.seq, report.prev.as_str()), (2, state.prev.as_str()));
    }

    fn view<'a>(genesis: &'a str, head: Option<(u64, &'a str)>) -> StoredView<'a> {
        StoredView {
            genesis,
            head: head.map(|(seq, link)| Head { seq, link }),
            at_seq: None,
            before: None,
            after_prev: None,
        }
    }

    fn inc<'a>(seq: u64, prev: &'a str, link: &'a str) -> Incoming<'a> {
        Incoming { seq, prev, link }
    }

    #[test]
    fn first_report_links_to_genesis() {
        let (g, a) = (l(0), l(1));
        assert_eq!(
            classify(&view(&g, None), &inc(1, &g, &a)),
            ChainVerdict::Next
        );
        assert_eq!(
            classify(&view(&g, None), &inc(1, &a, &a)),
            ChainVerdict::BrokenLink {
                expected_prev: Some(g.clone())
            }
        );
        assert_eq!(
            classify(&view(&g, None), &inc(4, &a, &a)),
            ChainVerdict::Gap {
                missing_from: 1,
                missing_to: 3
            }
        );
    }

    #[test]
    fn next_broken_link_and_gap_after_a_head() {
        let (g, h, x, y) = (l(0), l(5), l(6), l(7));
        let v = view(&g, Some((5, &h)));
        assert_eq!(classify(&v, &inc(6, &h, &x)), ChainVerdict::Next);
        assert_eq!(
            classify(&v, &inc(6, &y, &x)),
            ChainVerdict::BrokenLink {
                expected_prev: Some(h.clone())
            }
        );
        assert_eq!(
            classify(&v, &inc(9, &y, &x)),
            ChainVerdict::Gap {
                missing_from: 6,
                missing_to: 8
            }
        );
        assert_eq!(classify(&v, &inc(0, &h, &x)), ChainVerdict::Invalid);
        assert_eq!(
            ChainVerdict::Invalid.error_code(),
            Some(ErrorCode::NotAStatement)
        );
    }

    #[test]
    fn same_seq_is_duplicate_or_fork() {
        let (g, h, x) = (l(0), l(5), l(6));
        let mut v = view(&g, Some((5, &h)));
        v.at_seq = Some(&h);
        let dup = classify(&v, &inc(5, &x, &h));
        assert_eq!(dup, ChainVerdict::Duplicate);
        assert_eq!(dup.error_code(), None);
        assert!(!dup.is_accepted());
        let fork = classify(&v, &inc(5, &x, &x));
        assert_eq!(fork, ChainVerdict::Fork);
        assert_eq!(fork.error_code(), Some(ErrorCode::ChainConflict));
        // A replay of an old report is a duplicate too.
        let (old, old_prev) = (l(2), l(1));
        v.at_seq = Some(&old);
        assert_eq!(
            classify(&v, &inc(2, &old_prev, &old)),
            ChainVerdict::Duplicate
        );
    }

    #[test]
    fn late_reports_fill_gaps_if_they_link_up() {
        let (g, h, p, me, after) = (l(0), l(9), l(3), l(4), l(5));
        let mut v = view(&g, Some((9, &h)));
        // Nothing stored around seq 4: accepted.
        assert_eq!(classify(&v, &inc(4, &p, &me)), ChainVerdict::Late);
        assert!(ChainVerdict::Late.is_accepted());
        // Stored predecessor whose link matches, successor whose prev matches.
        v.before = Some(&p);
        v.after_prev = Some(&me);
        assert_eq!(classify(&v, &inc(4, &p, &me)), ChainVerdict::Late);
        // Wrong prev.
        assert_eq!(
            classify(&v, &inc(4, &after, &me)),
            ChainVerdict::BrokenLink {
                expected_prev: Some(p.clone())
            }
        );
        // The stored successor points elsewhere.
        v.after_prev = Some(&after);
        assert_eq!(
            classify(&v, &inc(4, &p, &me)),
            ChainVerdict::BrokenLink {
                expected_prev: None
            }
        );
        // A late seq 1 must link to the genesis.
        let v = view(&g, Some((9, &h)));
        assert_eq!(classify(&v, &inc(1, &g, &me)), ChainVerdict::Late);
        assert!(matches!(
            classify(&v, &inc(1, &p, &me)),
            ChainVerdict::BrokenLink { .. }
        ));
    }

    #[test]
    fn extreme_sequence_numbers_do_not_overflow() {
        let (g, h, x) = (l(0), l(1), l(2));
        let v = view(&g, Some((u64::MAX, &h)));
        assert_eq!(classify(&v, &inc(u64::MAX - 1, &x, &x)), ChainVerdict::Late);
        let v = view(&g, Some((u64::MAX - 1, &h)));
        assert_eq!(classify(&v, &inc(u64::MAX, &h, &x)), ChainVerdict::Next);
        let v = view(&g, None);
        assert_eq!(
            classify(&v, &inc(u64::MAX, &h, &x)),
            ChainVerdict::Gap {
                missing_from: 1,
                missing_to: u64::MAX - 1
            }
        );
        let mut state = ChainState {
            next_seq: u64::MAX,
            prev: g.clone(),
        };
        state.advance(b"x");
        assert_eq!(state.next_seq, u64::MAX);
    }

    /// A simulated store: the classifier over a whole stream of reports.
    #[derive(Default)]
    struct Store {
        /// seq → (prev, link)
        reports: std::collections::BTreeMap<u64, (String, String)>,
    }

    impl Store {
        fn offer(&mut self, genesis: &str, seq: u64, prev: &str, link: &str) -> ChainVerdict {
            let head = self
                .reports
                .last_key_value()
                .map(|(s, (_, l))| Head { seq: *s, link: l });
            let get = |s: u64| self.reports.get(&s);
            let view = StoredView {
                genesis,
                head,
                at_seq: get(seq).map(|(_, l)| l.as_str()),
                before: seq.checked_sub(1).and_then(get).map(|(_, l)| l.as_str()),
                after_prev: seq.checked_add(1).and_then(get).map(|(p, _)| p.as_str()),
            };
            let verdict = classify(&view, &Incoming { seq, prev, link });
            if verdict.is_accepted() {
                self.reports.insert(seq, (prev.to_owned(), link.to_owned()));
            }
            verdict
        }
    }

    proptest! {
        /// An honest agent's chain, delivered with drops, duplicates and any order:
        /// nothing honest is ever a conflict, every delivered report ends up stored,
        /// and a forged report at a used seq is always a fork.
        #[test]
        fn honest_chains_never_conflict(
            len in 1usize..20,
            deliveries in proptest::collection::vec(any::<prop::sample::Index>(), 0..40),
            forged in any::<prop::sample::Index>(),
        ) {
            let genesis = l(255);
            let mut chain = Vec::new();
            let mut state = ChainState { next_seq: 1, prev: genesis.clone() };
            for i in 0..len {
                let bytes = format!("statement {i} after {}", state.prev);
                chain.push((state.next_seq, state.prev.clone(), link_of(bytes.as_bytes())));
                state.advance(bytes.as_bytes());
            }
            let mut store = Store::default();
            let mut delivered = std::collections::BTreeSet::new();
            for d in &deliveries {
                let (seq, prev, link) = &chain[d.index(len)];
                let verdict = store.offer(&genesis, *seq, prev, link);
                prop_assert_eq!(verdict.error_code(), None, "seq {}", seq);
                prop_assert_eq!(verdict == ChainVerdict::Duplicate, delivered.contains(seq));
                delivered.insert(*seq);
            }
            prop_assert_eq!(store.reports.len(), delivered.len());
            let (seq, prev, _) = &chain[forged.index(len)];
            if delivered.contains(seq) {
                prop_assert_eq!(store.offer(&genesis, *seq, prev, &l(254)), ChainVerdict::Fork);
            }
        }
    }
}
