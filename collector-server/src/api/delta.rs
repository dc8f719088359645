//! Reports sent by difference (`POST /v1/reports` with
//! `Content-Type: application/vnd.attest.envelope-delta+zstd`, `docs/proto.md`).
//!
//! The agent compresses the [form](attest_proto::form) of its envelope with zstd,
//! using the form of a report the collector acknowledged as a raw-content
//! dictionary, and names that base in `x-attest-delta-base`. Here the base is
//! resolved ([`BaseCache`] of each agent's last acknowledged report, then the store:
//! several collectors share one database), the frame is decompressed with a hard cap
//! (the body limit: a small body claiming or holding more is refused with
//! `too_large` before anything beyond the cap is allocated) and the exact envelope is
//! rebuilt; from there ingest is the same as for a full upload. A base that is not a
//! stored report of the named agent with the named payload, or a delta that does not
//! rebuild from it, is `delta_base_unknown` (412): the agent sends the report in full.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use attest_proto::form::{
    DELTA_BASE_HEADER, DELTA_CONTENT_TYPE, DeltaBase, FORM_OVERHEAD, open_form, to_form,
};
use attest_proto::{Envelope, ErrorCode, ProtoError};
use axum::http::HeaderMap;
use tokio::sync::OwnedSemaphorePermit;

use super::{ApiError, AppState};
use crate::logsafe::esc;
use crate::store::StoreError;
use crate::store::codec::{DecompressError, decompress_bounded};

/// How many bytes of base forms the cache holds at most (one per agent, the oldest
/// entry goes first). With ≈ 100 KB per laptop report that is the last report of
/// about 2,500 agents; the others are read from the store.
pub const MAX_CACHED_BASE_BYTES: usize = 256 << 20;

/// How a report body arrived, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Full,
    Delta,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Full => "full",
            Encoding::Delta => "delta",
        }
    }
}

struct Entry {
    seq: u64,
    payload_sha256: String,
    form: Arc<Vec<u8>>,
}

#[derive(Default)]
struct Inner {
    by_agent: HashMap<String, Entry>,
    /// Agents in the order they entered the cache.
    order: VecDeque<String>,
    bytes: usize,
}

/// Each agent's last acknowledged report, as a form, within a byte budget.
pub struct BaseCache {
    budget: usize,
    inner: Mutex<Inner>,
}

impl Default for BaseCache {
    fn default() -> Self {
        BaseCache::with_budget(MAX_CACHED_BASE_BYTES)
    }
}

impl BaseCache {
    pub fn with_budget(budget: usize) -> Self {
        BaseCache {
            budget,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Keeps the envelope whose [form](to_form) is `form` (acknowledged as the
    /// agent's `seq`) as the agent's base.
    pub fn remember(&self, agent_id: &str, seq: u64, payload_sha256: &str, form: Arc<Vec<u8>>) {
        if form.len() > self.budget {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let entry = Entry {
            seq,
            payload_sha256: payload_sha256.to_owned(),
            form,
        };
        let added = entry.form.len();
        match inner.by_agent.insert(agent_id.to_owned(), entry) {
            Some(old) => inner.bytes = inner.bytes.saturating_sub(old.form.len()),
            None => inner.order.push_back(agent_id.to_owned()),
        }
        inner.bytes += added;
        while inner.bytes > self.budget {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(gone) = inner.by_agent.remove(&oldest) {
                inner.bytes = inner.bytes.saturating_sub(gone.form.len());
            }
        }
    }

    fn get(&self, base: &DeltaBase) -> Option<Arc<Vec<u8>>> {
        let inner = self.inner.lock().ok()?;
        let entry = inner.by_agent.get(&base.agent_id)?;
        (entry.seq == base.seq && entry.payload_sha256 == base.payload_sha256)
            .then(|| Arc::clone(&entry.form))
    }

    /// Bytes of forms held now.
    pub fn bytes(&self) -> usize {
        self.inner.lock().map(|i| i.bytes).unwrap_or(0)
    }
}

fn unknown(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::DeltaBaseUnknown, message)
}

/// Whether the request says its body is a delta.
pub fn is_delta(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(DELTA_CONTENT_TYPE))
}

/// The base a delta names (`malformed` when the header is missing or bad).
pub fn named_base(headers: &HeaderMap) -> Result<DeltaBase, ApiError> {
    headers
        .get(DELTA_BASE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(DeltaBase::parse)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Malformed,
                format!(
                    "a report sent by difference needs the header {DELTA_BASE_HEADER}: \
                     <agent_id> <seq> <payload sha256 hex>"
                ),
            )
        })
}

/// The form of the base: from the cache, else from the store.
async fn base_form(state: &AppState, base: &DeltaBase) -> Result<Arc<Vec<u8>>, ApiError> {
    if let Some(form) = state.bases.get(base) {
        return Ok(form);
    }
    let seq = i64::try_from(base.seq)
        .map_err(|_| unknown(format!("no stored report has seq {}", base.seq)))?;
    let stored = match state.store.report_envelope(&base.agent_id, seq).await {
        Ok(Some(stored)) => stored,
        Ok(None) => {
            return Err(unknown(format!(
                "the base, report {} of {}, is not stored here",
                base.seq,
                esc(&base.agent_id)
            )));
        }
        Err(e @ StoreError::Envelope { .. }) => {
            tracing::warn!(agent_id = %esc(&base.agent_id), seq = base.seq, error = %e, "delta base cannot be read back");
            return Err(unknown(format!(
                "the base, report {}, cannot be read back here",
                base.seq
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if stored.payload_sha256 != base.payload_sha256 {
        return Err(unknown(format!(
            "the stored report {} has another payload than the base named",
            base.seq
        )));
    }
    let form = Arc::new(to_form(&stored.envelope));
    Ok(form)
}

/// What a delta body rebuilds to ([`expand`]).
pub struct Expanded {
    /// The envelope, at most the body limit.
    pub envelope: Vec<u8>,
    /// Its form.
    pub form: Arc<Vec<u8>>,
    /// The envelope decoded strictly (as [`crate::ingest::decode`] would).
    pub decoded: Result<Envelope, ProtoError>,
    /// The room it takes in the collector's body-memory budget (held as long as the
    /// envelope is).
    pub room: Option<OwnedSemaphorePermit>,
}

/// The envelope a delta body rebuilds to, at most `limit` bytes: see [`Expanded`].
pub async fn expand(
    state: &AppState,
    base: &DeltaBase,
    body: &[u8],
    limit: usize,
) -> Result<Expanded, ApiError> {
    let dictionary = base_form(state, base).await?;
    let max = limit.saturating_add(FORM_OVERHEAD) as u64;
    // What the frame declares counts against the budget like a body of that size.
    let permit = match (&state.guard, zstd::zstd_safe::get_frame_content_size(body)) {
        (Some(guard), Ok(Some(size))) if size <= max => {
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            Some(guard.reserve_body(size).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unavailable,
                    "the collector is reading too many request bodies; retry later",
                )
            })?)
        }
        _ => None,
    };
    let form = match decompress_bounded(body, Some(&dictionary), max) {
        Ok(form) => form,
        Err(DecompressError::TooLarge { size, .. }) => {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!("the delta decompresses to {size} bytes, over the limit of {limit} bytes"),
            ));
        }
        Err(DecompressError::Bad(why)) => {
            return Err(unknown(format!(
                "the delta does not decompress against report {}: {why}",
                base.seq
            )));
        }
    };
    let opened = open_form(&form)
        .map_err(|e| unknown(format!("the delta against report {}: {e}", base.seq)))?;
    if opened.envelope.len() > limit {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!(
                "the envelope is {} bytes, over the limit of {limit} bytes",
                opened.envelope.len()
            ),
        ));
    }
    let decoded = opened.decode();
    let envelope = opened.envelope;
    Ok(Expanded {
        envelope,
        form: Arc::new(form),
        decoded,
        room: permit,
    })
}

/// Whether the cache holds `base` (for tests).
#[cfg(test)]
pub(crate) fn cache_holds(cache: &BaseCache, base: &DeltaBase) -> bool {
    cache.get(base).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(agent: &str, seq: u64) -> DeltaBase {
        DeltaBase {
            agent_id: agent.into(),
            seq,
            payload_sha256: "ab".repeat(32),
        }
    }

    #[test]
    fn the_cache_keeps_one_base_per_agent_within_its_budget() {
        let cache = BaseCache::with_budget(3_000);
        let sha = "ab".repeat(32);
        cache.remember("agt_a", 1, &sha, Arc::new(vec![b'x'; 1_001]));
        cache.remember("agt_a", 2, &sha, Arc::new(vec![b'y'; 1_001]));
        assert!(!cache_holds(&cache, &base("agt_a", 1)), "replaced by seq 2");
        assert!(cache_holds(&cache, &base("agt_a", 2)));
        assert!(!cache_holds(&cache, &base("agt_b", 2)));
        cache.remember("agt_b", 1, &sha, Arc::new(vec![b'z'; 1_001]));
        assert!(cache.bytes() <= 3_000);
        // A third agent pushes out the oldest one.
        cache.remember("agt_c", 1, &sha, Arc::new(vec![b'w'; 1_001]));
        assert!(cache.bytes() <= 3_000, "{}", cache.bytes());
        assert!(!cache_holds(&cache, &base("agt_a", 2)));
        assert!(cache_holds(&cache, &base("agt_b", 1)));
        assert!(cache_holds(&cache, &base("agt_c", 1)));
        // Another payload under the same seq is not the base.
        let mut other = base("agt_c", 1);
        other.payload_sha256 = "cd".repeat(32);
        assert!(!cache_holds(&cache, &other));
        // Larger than the whole budget: not kept.
        cache.remember("agt_d", 1, &sha, Arc::new(vec![b'v'; 4_000]));
        assert!(!cache_holds(&cache, &base("agt_d", 1)));
    }

    /// The cap holds whatever the frame says: one that declares more than the cap is
    /// refused before decompressing, and one that declares little but holds more (a
    /// second frame behind the first) is refused when the output would pass what
    /// was declared, never growing beyond it.
    #[test]
    fn decompression_is_capped_by_what_the_frame_declares() {
        let dict = b"{\"a\":1}".repeat(10);
        let big = vec![b'x'; 1 << 20];
        let frame = zstd::bulk::Compressor::with_dictionary(3, &dict)
            .unwrap()
            .compress(&big)
            .unwrap();
        assert!(matches!(
            decompress_bounded(&frame, Some(&dict), 1000),
            Err(DecompressError::TooLarge { size, max: 1000 }) if size == 1 << 20
        ));
        assert_eq!(
            decompress_bounded(&frame, Some(&dict), 1 << 20).unwrap(),
            big
        );
        let mut sneaky = zstd::bulk::compress(b"small", 3).unwrap();
        sneaky.extend_from_slice(&frame);
        assert!(matches!(
            decompress_bounded(&sneaky, None, 1 << 30),
            Err(DecompressError::Bad(_))
        ));
        // A frame without its content size (streamed) is refused too.
        let mut streamed = Vec::new();
        {
            use std::io::Write as _;
            let mut e = zstd::stream::write::Encoder::new(&mut streamed, 3).unwrap();
            e.write_all(b"hello").unwrap();
            e.finish().unwrap();
        }
        assert!(decompress_bounded(&streamed, None, 1 << 20).is_err());
    }
}
