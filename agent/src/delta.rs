//! Reports sent by difference.
//!
//! An hourly report of a laptop is 50–150 KB, but it differs from the previous one in
//! a few fields. When the collector says it takes deltas (the `x-attest-accept-delta`
//! header on its answers), the agent keeps the envelope of the last report it holds a
//! receipt for (`delta-base.json` in the state directory, replaced atomically, so a
//! restart keeps it) and sends the next report as zstd of its
//! [form](attest_proto::form) with the base's form as a raw-content dictionary,
//! naming the base in `x-attest-delta-base` (`docs/proto.md`). The spool keeps full
//! envelopes; compression happens at send time, and a refused delta is sent again in
//! full at once ([`crate::upload`]). A collector that does not say it takes deltas
//! gets full envelopes, and the base is dropped.

use std::path::PathBuf;

use attest_proto::form::{DeltaBase, to_form};
use attest_proto::{Envelope, Statement, sha256_hex};

use crate::durable;
use crate::state::FILE_MODE;

/// The zstd level of deltas: the library's default, as the collector's store.
pub const LEVEL: i32 = 3;

struct Base {
    named: DeltaBase,
    form: Vec<u8>,
}

/// The base of the next delta upload, kept in the state directory.
pub struct DeltaSender {
    /// Off: every report goes in full, nothing is kept.
    on: bool,
    /// Where the base is kept (`None`: in memory only).
    path: Option<PathBuf>,
    agent_id: String,
    base: Option<Base>,
}

impl std::fmt::Debug for DeltaSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaSender")
            .field("path", &self.path)
            .field("base", &self.base.as_ref().map(|b| &b.named))
            .finish()
    }
}

/// The base an envelope makes for `agent_id`; `None` when it is not one of its
/// reports.
fn base_of(envelope: &[u8], agent_id: &str) -> Option<Base> {
    let parsed = Envelope::from_json(envelope).ok()?;
    let statement = Statement::from_slice(&parsed.payload).ok()?;
    if statement.predicate.agent_id != agent_id {
        return None;
    }
    Some(Base {
        named: DeltaBase {
            agent_id: agent_id.to_owned(),
            seq: statement.predicate.seq,
            payload_sha256: sha256_hex(&parsed.payload),
        },
        form: to_form(envelope),
    })
}

impl DeltaSender {
    /// Deltas off: every report goes in full.
    pub fn off() -> Self {
        DeltaSender {
            on: false,
            path: None,
            agent_id: String::new(),
            base: None,
        }
    }

    /// The base kept at `path` for `agent_id`. A missing, unreadable or foreign file
    /// (another agent id after a new enrollment) means no base: the next report goes
    /// in full and its receipt makes the new base.
    pub fn open(path: PathBuf, agent_id: &str) -> Self {
        let base = match std::fs::read(&path) {
            Ok(bytes) => {
                let base = base_of(&bytes, agent_id);
                if base.is_none() {
                    tracing::warn!(path = %path.display(), "delta base is not a report of this agent; the next report goes in full");
                }
                base
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "delta base cannot be read; the next report goes in full");
                None
            }
        };
        DeltaSender {
            on: true,
            path: Some(path),
            agent_id: agent_id.to_owned(),
            base,
        }
    }

    /// A base kept in memory only (benchmarks, tools): nothing is written.
    pub fn in_memory(agent_id: &str) -> Self {
        DeltaSender {
            on: true,
            path: None,
            agent_id: agent_id.to_owned(),
            base: None,
        }
    }

    /// The base the next delta is made against, if any.
    pub fn base(&self) -> Option<&DeltaBase> {
        self.base.as_ref().map(|b| &b.named)
    }

    /// `envelope` as a delta against the base: the header value naming the base and
    /// the body. `None` without a base, or when the delta would not be smaller.
    pub fn encode(&self, envelope: &[u8]) -> Option<(String, Vec<u8>)> {
        let base = self.base.as_ref()?;
        let compressed =
            zstd::bulk::Compressor::with_dictionary(LEVEL, &base.form).and_then(|mut c| {
                // A checksum, so that a delta damaged on the way is refused as one.
                c.include_checksum(true)?;
                c.compress(&to_form(envelope))
            });
        match compressed {
            Ok(body) if body.len() < envelope.len() => Some((base.named.to_header(), body)),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "delta compression failed; the report goes in full");
                None
            }
        }
    }

    /// The collector acknowledged `envelope`. When it takes deltas, the envelope
    /// becomes the base (kept on disk); otherwise the base is dropped.
    pub fn acknowledged(&mut self, envelope: &[u8], takes_deltas: bool) {
        if !self.on {
            return;
        }
        if takes_deltas {
            let Some(base) = base_of(envelope, &self.agent_id) else {
                return;
            };
            if let Some(path) = &self.path
                && let Err(e) = durable::write_atomic(path, envelope, FILE_MODE)
            {
                tracing::warn!(path = %path.display(), error = %e, "could not keep the delta base; the next report goes in full after a restart");
            }
            self.base = Some(base);
            return;
        }
        self.base = None;
        let Some(path) = &self.path else {
            return;
        };
        if let Err(e) = std::fs::remove_file(path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %e, "could not remove the delta base");
        }
    }
}
