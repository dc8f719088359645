//! How a report envelope is kept in `reports.envelope`: by difference, losslessly.
//!
//! The envelope an agent sent is kept byte-exact (its signature must verify years
//! later and the Merkle leaf is its hash), but consecutive reports of one agent differ
//! in a few fields, so most rows store only the difference from a *keyframe*:
//!
//! - `raw`: the envelope verbatim (every row written before migration 5).
//! - `zstd`: a keyframe, the envelope's [form](to_form) compressed by zstd alone.
//! - `zstd-delta`: the form compressed by zstd with the form of the row `base_index`
//!   (a `raw` or `zstd` row of the same agent) as a raw-content dictionary.
//!
//! The *form* of an envelope takes out the base64 of its DSSE payload and puts in the
//! decoded statement, so that zstd matches JSON against JSON (a change of length early
//! in a statement moves the 4-character base64 groups of everything after it, which
//! would defeat the dictionary). The base64 is canonical (the ingest refused anything
//! else), so encoding the statement again gives back the same bytes; an envelope that
//! does not split that way is kept whole in its form.
//!
//! A delta's base is the agent's latest keyframe, never another delta: reading any
//! envelope costs at most two decompressions, and a keyframe is written every
//! [`KEYFRAME_INTERVAL`] reports and on the first report, after a gap and for a late
//! report (see [`super::batch`]). Every envelope read back from a compressed row is
//! checked against the row's stored leaf hash: a missing or corrupt base is an
//! [`StoreError::Envelope`], never wrong bytes.

use std::cell::RefCell;
use std::collections::HashMap;

use zstd::zstd_safe::{CCtx, DCtx};

use super::StoreError;
use crate::log::{Hash, leaf_hash};

/// A keyframe every 64 reports of an agent. The deltas of one keyframe are all made
/// against it, so the longer the run, the more the statements drift from it (a
/// package upgraded, a verdict changed) and the larger each delta; the shorter, the
/// more often a whole compressed report (≈ 15–25 KB for a real host) is written. At
/// 64, hourly reports write a keyframe every 2.7 days: the keyframe adds well under
/// 1 KB per report on average while hour-to-hour drift stays small, and a lost or
/// damaged keyframe takes at most 64 envelopes with it.
pub const KEYFRAME_INTERVAL: i64 = 64;

/// The zstd level of keyframes and deltas. Level 1 stores the realistic stream in
/// the same bytes as the library's default (3): 244 B per report either way. It
/// encodes a report against its keyframe in 23 µs instead of 30, which the writer
/// pays once per report (`docs/benchmarks.md`).
pub const LEVEL: i32 = 1;

/// The largest form a stored row may decompress to: an envelope is at most the
/// ingest body limit (64 MiB at most, `config.rs`), its form at most 9 bytes longer.
const MAX_FORM: u64 = (64 << 20) + 64;

/// The codec of a stored envelope (`reports.codec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Raw,
    Zstd,
    ZstdDelta,
}

impl Codec {
    pub fn as_str(self) -> &'static str {
        match self {
            Codec::Raw => "raw",
            Codec::Zstd => "zstd",
            Codec::ZstdDelta => "zstd-delta",
        }
    }

    pub fn parse(s: &str) -> Option<Codec> {
        match s {
            "raw" => Some(Codec::Raw),
            "zstd" => Some(Codec::Zstd),
            "zstd-delta" => Some(Codec::ZstdDelta),
            _ => None,
        }
    }
}

/// An envelope as a row stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub codec: Codec,
    /// The log index of the keyframe a delta is made against.
    pub base_index: Option<i64>,
    pub bytes: Vec<u8>,
}

/// The form of an envelope (`attest_proto::form`, shared with the agent's delta
/// uploads). Lossless: [`from_form`] gives the envelope back.
pub use attest_proto::form::to_form;

/// The envelope a form holds.
pub fn from_form(form: &[u8]) -> Result<Vec<u8>, String> {
    attest_proto::form::from_form(form).map_err(|e| e.to_string())
}

/// A keyframe of `form` (zstd alone).
pub fn keyframe(form: &[u8]) -> Result<Encoded, StoreError> {
    let bytes =
        compress(form, None).map_err(|e| StoreError::Corrupt(format!("zstd keyframe: {e}")))?;
    Ok(Encoded {
        codec: Codec::Zstd,
        base_index: None,
        bytes,
    })
}

/// A delta of `form` against the form of the keyframe at `base_index`. The base is
/// loaded into the thread's compression context for this one frame (no dictionary
/// object is kept: hourly reports rarely bring two of one agent into a batch, and a
/// loaded dictionary holds ≈ 1 MB).
pub fn delta(base_index: i64, base_form: &[u8], form: &[u8]) -> Result<Encoded, StoreError> {
    let bytes = compress(form, Some(base_form))
        .map_err(|e| StoreError::Corrupt(format!("zstd delta: {e}")))?;
    Ok(Encoded {
        codec: Codec::ZstdDelta,
        base_index: Some(base_index),
        bytes,
    })
}

thread_local! {
    /// Each thread's zstd contexts, made on first use and kept: making one per frame
    /// allocated (and zeroed) a few MB for every report the writer stored and every
    /// delta it read.
    static CCTX: RefCell<Option<CCtx<'static>>> = const { RefCell::new(None) };
    static DCTX: RefCell<Option<DCtx<'static>>> = const { RefCell::new(None) };
}

/// One zstd frame of `src` (its content size in the header), against `dictionary`
/// as raw content when given, at [`LEVEL`].
fn compress(src: &[u8], dictionary: Option<&[u8]>) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(src.len()));
    CCTX.with(|cell| {
        let mut slot = cell.try_borrow_mut().map_err(|_| "zstd context in use")?;
        if slot.is_none() {
            *slot = CCtx::try_create();
        }
        let c = slot.as_mut().ok_or("no memory for a zstd context")?;
        match dictionary {
            Some(dict) => c.compress_using_dict(&mut out, src, dict, LEVEL),
            None => c.compress(&mut out, src, LEVEL),
        }
        .map_err(zstd::zstd_safe::get_error_name)
    })?;
    Ok(out)
}

fn decompress(bytes: &[u8], dictionary: Option<&[u8]>) -> Result<Vec<u8>, String> {
    decompress_bounded(bytes, dictionary, MAX_FORM).map_err(|e| e.to_string())
}

/// Why [`decompress_bounded`] gave nothing back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecompressError {
    /// The frame says it holds more than the cap: refused before anything is
    /// allocated for it.
    #[error("frame claims {size} bytes, over the limit of {max}")]
    TooLarge { size: u64, max: u64 },
    #[error("{0}")]
    Bad(String),
}

/// Decompresses one zstd frame (optionally against a raw-content dictionary) that
/// declares its content size, refusing a frame that declares more than `max` bytes
/// before allocating anything, and one that holds more or less than it declares.
/// Used for stored rows and for reports sent by difference (`crate::api`): a small
/// body claiming or holding more than the limit is refused with at most `max`
/// bytes allocated.
pub fn decompress_bounded(
    bytes: &[u8],
    dictionary: Option<&[u8]>,
    max: u64,
) -> Result<Vec<u8>, DecompressError> {
    use DecompressError::Bad;
    let size = match zstd::zstd_safe::get_frame_content_size(bytes) {
        Ok(Some(n)) if n <= max => n,
        Ok(Some(n)) => return Err(DecompressError::TooLarge { size: n, max }),
        Ok(None) => return Err(Bad("frame without a content size".into())),
        Err(_) => return Err(Bad("not a zstd frame".into())),
    };
    let capacity = usize::try_from(size).map_err(|e| Bad(e.to_string()))?;
    let mut out = Vec::with_capacity(capacity);
    DCTX.with(|cell| {
        let mut slot = cell.try_borrow_mut().map_err(|_| "zstd context in use")?;
        if slot.is_none() {
            *slot = DCtx::try_create();
        }
        let d = slot.as_mut().ok_or("no memory for a zstd context")?;
        match dictionary {
            Some(dict) => d.decompress_using_dict(&mut out, bytes, dict),
            None => d.decompress(&mut out, bytes),
        }
        .map_err(zstd::zstd_safe::get_error_name)
    })
    .map_err(|e| Bad(e.to_string()))?;
    if out.len() as u64 != size {
        return Err(Bad(format!(
            "{} bytes where the frame says {size}",
            out.len()
        )));
    }
    Ok(out)
}

/// The form of a keyframe row (`raw` or `zstd`), to make or read deltas against.
pub fn base_form(codec: &str, bytes: &[u8]) -> Result<Vec<u8>, String> {
    match Codec::parse(codec) {
        Some(Codec::Raw) => Ok(to_form(bytes)),
        Some(Codec::Zstd) => decompress(bytes, None),
        Some(Codec::ZstdDelta) => Err("a delta cannot be a base".into()),
        None => Err(format!("unknown codec {codec:?}")),
    }
}

/// A stored row, as the read paths select it (the base joined by `base_index`).
#[derive(Debug, Clone)]
pub struct StoredRow {
    pub log_index: i64,
    pub codec: String,
    pub bytes: Vec<u8>,
    pub leaf_hash: Vec<u8>,
    pub base_index: Option<i64>,
    /// The base row's codec and bytes; `None` when it is not stored (for this agent).
    pub base: Option<(String, Vec<u8>)>,
    /// When the report was pruned (`attest-collector prune`): its envelope is no
    /// longer stored.
    pub pruned_at: Option<super::Millis>,
}

/// How many keyframe forms a [`Reader`] keeps (a walk over the whole table, `fsck`,
/// starts over past it).
const READER_BASES: usize = 256;

/// Decodes stored rows into envelopes, decompressing each keyframe once.
#[derive(Default)]
pub struct Reader {
    bases: HashMap<i64, Vec<u8>>,
}

impl Reader {
    /// The envelope of a row. A `raw` row is returned as stored (as before migration
    /// 5; `fsck` compares it with its leaf hash); a compressed one only when it hashes
    /// to the row's leaf hash.
    pub fn envelope(&mut self, row: StoredRow) -> Result<Vec<u8>, StoreError> {
        let index = row.log_index;
        if let Some(at) = row.pruned_at {
            return Err(StoreError::Pruned { index, at });
        }
        let fail = |reason: String| StoreError::Envelope { index, reason };
        let form = match Codec::parse(&row.codec) {
            Some(Codec::Raw) => return Ok(row.bytes),
            Some(Codec::Zstd) => decompress(&row.bytes, None).map_err(fail)?,
            Some(Codec::ZstdDelta) => {
                let base = row
                    .base_index
                    .ok_or_else(|| fail("a delta without a base_index".into()))?;
                if !self.bases.contains_key(&base) {
                    if self.bases.len() >= READER_BASES {
                        self.bases.clear();
                    }
                    let (codec, bytes) = row
                        .base
                        .as_ref()
                        .ok_or_else(|| fail(format!("its base, report {base}, is missing")))?;
                    let form = base_form(codec, bytes)
                        .map_err(|e| fail(format!("its base, report {base}: {e}")))?;
                    self.bases.insert(base, form);
                }
                let dict = self.bases.get(&base).map(Vec::as_slice);
                decompress(&row.bytes, dict)
                    .map_err(|e| fail(format!("delta against report {base}: {e}")))?
            }
            None => return Err(fail(format!("unknown codec {:?}", row.codec))),
        };
        let envelope = from_form(&form).map_err(fail)?;
        let stored: Hash = row
            .leaf_hash
            .as_slice()
            .try_into()
            .map_err(|_| fail("leaf hash is not 32 bytes".into()))?;
        if leaf_hash(&envelope) != stored {
            return Err(fail(match row.base_index {
                Some(base) => format!(
                    "decoded against report {base}, it does not match its leaf hash \
                     (base or delta corrupt)"
                ),
                None => "decoded, it does not match its leaf hash".into(),
            }));
        }
        Ok(envelope)
    }
}

/// The columns every read of `reports r` selects after its own, in this order, for a
/// [`StoredRow`]: codec, leaf hash, base index, the base's codec and bytes, when the
/// report was pruned.
pub const ROW_COLUMNS: &str =
    "r.codec, r.leaf_hash, r.base_index, b.codec, b.envelope, r.pruned_at";

/// A run of envelopes of one agent stored again after their keyframe was pruned
/// (`attest-collector prune`): the first (in log order) becomes a keyframe and the
/// others deltas against it, as the ingest writer would have stored them. Each
/// encoding is read back and compared with its envelope before it is returned, so a
/// row is never rewritten with bytes that do not give its envelope back.
pub fn rebase(run: &[(i64, Vec<u8>)]) -> Result<Vec<Encoded>, StoreError> {
    let Some((first_index, first)) = run.first() else {
        return Ok(Vec::new());
    };
    let key_form = to_form(first);
    let mut out = Vec::with_capacity(run.len());
    let key = keyframe(&key_form)?;
    let mut reader = Reader::default();
    for (i, (index, envelope)) in run.iter().enumerate() {
        let encoded = if i == 0 {
            key.clone()
        } else {
            delta(*first_index, &key_form, &to_form(envelope))?
        };
        let back = reader.envelope(StoredRow {
            log_index: *index,
            codec: encoded.codec.as_str().into(),
            bytes: encoded.bytes.clone(),
            leaf_hash: leaf_hash(envelope).to_vec(),
            base_index: encoded.base_index,
            base: Some((key.codec.as_str().into(), key.bytes.clone())),
            pruned_at: None,
        })?;
        if back != *envelope {
            return Err(StoreError::Envelope {
                index: *index,
                reason: "re-encoded, it does not read back".into(),
            });
        }
        out.push(encoded);
    }
    Ok(out)
}

/// The join that brings a delta's base (of the same agent) into a read of `reports r`.
pub const BASE_JOIN: &str =
    "LEFT JOIN reports b ON b.log_index = r.base_index AND b.agent_id = r.agent_id";

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn envelope(statement: &str, sig: &str) -> Vec<u8> {
        format!(
            r#"{{"payloadType":"application/vnd.in-toto+json","payload":"{}","signatures":[{{"keyid":"k","sig":"{sig}"}}]}}"#,
            attest_proto::BASE64.encode(statement)
        )
        .into_bytes()
    }

    #[test]
    fn forms_round_trip_split_and_whole() {
        let e = envelope(r#"{"a":1}"#, "c2ln");
        let f = to_form(&e);
        assert_eq!(f[0], attest_proto::form::FORM_SPLIT);
        assert_eq!(from_form(&f).unwrap(), e);
        for odd in [&b"not json"[..], b"", br#"{"payload":"not base64!"}"#] {
            let f = to_form(odd);
            assert_eq!(f[0], attest_proto::form::FORM_WHOLE);
            assert_eq!(from_form(&f).unwrap(), odd);
        }
        // Non-canonical base64 (trailing bits set) is kept whole, not normalised.
        let f = to_form(br#"{"payload":"YR=="}"#);
        assert_eq!(f[0], attest_proto::form::FORM_WHOLE);
        assert!(from_form(&[attest_proto::form::FORM_SPLIT, 9, 0, 0, 0, 1, 0, 0, 0]).is_err());
        assert!(from_form(&[7]).is_err());
    }

    fn row(index: i64, e: &Encoded, leaf: Hash, base: Option<(String, Vec<u8>)>) -> StoredRow {
        StoredRow {
            log_index: index,
            codec: e.codec.as_str().into(),
            bytes: e.bytes.clone(),
            leaf_hash: leaf.to_vec(),
            base_index: e.base_index,
            base,
            pruned_at: None,
        }
    }

    #[test]
    fn delta_reads_back_and_a_bad_base_is_an_error() {
        let k = envelope(r#"{"seq":1,"t":"2026-01-01T00:00:00Z"}"#, "AAAA");
        let d = envelope(r#"{"seq":2,"t":"2026-01-01T01:00:00Z"}"#, "BBBB");
        let key = keyframe(&to_form(&k)).unwrap();
        let delta = delta(7, &to_form(&k), &to_form(&d)).unwrap();
        let base = Some(("zstd".to_owned(), key.bytes.clone()));
        let mut r = Reader::default();
        assert_eq!(r.envelope(row(7, &key, leaf_hash(&k), None)).unwrap(), k);
        assert_eq!(
            r.envelope(row(8, &delta, leaf_hash(&d), base.clone()))
                .unwrap(),
            d
        );
        // A raw base (a row from before migration 5) works the same.
        let raw = Some(("raw".to_owned(), k.clone()));
        assert_eq!(
            Reader::default()
                .envelope(row(8, &delta, leaf_hash(&d), raw))
                .unwrap(),
            d
        );
        // Missing base.
        let e = Reader::default()
            .envelope(row(8, &delta, leaf_hash(&d), None))
            .unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
        // Another base (a raw row with other bytes): decodes to wrong bytes, refused.
        let other = Some(("raw".to_owned(), envelope(r#"{"seq":9}"#, "CCCC")));
        let e = Reader::default()
            .envelope(row(8, &delta, leaf_hash(&d), other))
            .unwrap_err();
        assert!(matches!(e, StoreError::Envelope { index: 8, .. }), "{e}");
        // A corrupt keyframe.
        let mut bad = key.bytes.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x55;
        let e = Reader::default()
            .envelope(row(8, &delta, leaf_hash(&d), Some(("zstd".into(), bad))))
            .unwrap_err();
        assert!(matches!(e, StoreError::Envelope { index: 8, .. }), "{e}");
    }
}

#[cfg(test)]
mod timing {
    use super::*;

    /// `cargo test -p attest-collector --lib codec_timing -- --ignored --nocapture`:
    /// a delta made with a dictionary object per frame against one made in the
    /// thread's reused context.
    #[test]
    #[ignore = "prints timings"]
    fn codec_timing() {
        let base: Vec<u8> = (0..60_000u32)
            .map(|i| {
                b"{\"name\":\"pkg\",\"version\":\"1.2.3\"}"[(i % 32) as usize]
                    ^ ((i / 997) % 7) as u8
            })
            .collect();
        let mut form = base.clone();
        form[100] ^= 1;
        form[30_000] ^= 1;
        let n = 300;
        let t = std::time::Instant::now();
        for _ in 0..n {
            let _ = zstd::bulk::Compressor::with_dictionary(LEVEL, &base)
                .and_then(|mut c| c.compress(&form))
                .unwrap();
        }
        let old = t.elapsed() / n;
        let t = std::time::Instant::now();
        for _ in 0..n {
            let _ = compress(&form, Some(&base)).unwrap();
        }
        let new = t.elapsed() / n;
        let t = std::time::Instant::now();
        for _ in 0..n {
            let _ = zstd::bulk::compress(&form, LEVEL).unwrap();
        }
        let old_k = t.elapsed() / n;
        let t = std::time::Instant::now();
        for _ in 0..n {
            let _ = compress(&form, None).unwrap();
        }
        let new_k = t.elapsed() / n;
        eprintln!(
            "delta: per-frame dictionary {old:?}, reused context {new:?}; \
             keyframe: {old_k:?} vs {new_k:?}"
        );
        // Both ways make frames that give the form back against the same base.
        let frame = compress(&form, Some(&base)).unwrap();
        assert_eq!(decompress(&frame, Some(&base)).unwrap(), form);
        let old_frame = zstd::bulk::Compressor::with_dictionary(LEVEL, &base)
            .and_then(|mut c| c.compress(&form))
            .unwrap();
        assert_eq!(decompress(&old_frame, Some(&base)).unwrap(), form);
    }
}
