//! The spool: signed reports on disk until the collector has acknowledged them.
//!
//! # On-disk format (version 1)
//!
//! The spool is a directory (`<state dir>/spool/`, mode 0700) with **one file per
//! record**, named by the report's `seq`, zero-padded to 20 digits so that names sort
//! like numbers: `00000000000000000042.rec`. A record file is a fixed 56-byte header
//! followed by the body:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | magic `ATSR` (Attest Spool Record) |
//! | 4 | 2 | format version, little-endian `u16`: `1` |
//! | 6 | 2 | reserved, `0` |
//! | 8 | 8 | `seq`, little-endian `u64`: the same number as the file name |
//! | 16 | 8 | body length in bytes, little-endian `u64` |
//! | 24 | 32 | SHA-256 of the body |
//! | 56 | length | body: the exact DSSE envelope JSON that is sent to the collector |
//!
//! The body is opaque to the spool: it is the byte string that goes on the wire, never
//! re-serialized, so the format does not depend on any serializer's internals.
//!
//! # Rules
//!
//! - **Write**: a record is written to a hidden temporary file (`.<name>.tmp`, mode
//!   0600), `fsync`ed, renamed to its final name, and the directory is `fsync`ed. A
//!   record therefore exists whole or not at all. A write that fails (a full disk:
//!   `ENOSPC`) removes its temporary file and reports [`SpoolError::DiskFull`]; nothing
//!   partial is left, and the next collection tries again. Temporary files left by a
//!   crash are deleted when the spool is opened.
//! - **Read**: records are read in `seq` order. Every read checks the header (magic,
//!   version, reserved field, `seq` equal to the name's, length equal to the file's)
//!   and the body's SHA-256. A record that fails is **quarantined**: moved to
//!   `quarantine/` next to a `.reason` text file saying why, logged, and counted
//!   ([`Spool::quarantined`]); the records after it are still delivered.
//! - **Delete**: a record is deleted only once the collector's receipt for it has been
//!   checked (matching `seq` and payload SHA-256), or when it is quarantined.
//! - **Size bound** (`spool_max_size`, default 500 MB, counting whole files): when
//!   adding a record would exceed it, the **oldest** records are deleted first, each
//!   one logged, and their `seq`s returned so the caller counts them. The collector
//!   then sees a gap in the agent's chain, which it records: evidence was lost, and the
//!   loss is visible rather than silent.
//! - Only one process may use a spool at a time: the state directory's lock
//!   ([`crate::state::StateDir::lock`], taken by `Agent::open` and `enroll`) enforces it.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::durable;
use crate::state::{DIR_MODE, FILE_MODE};

/// The magic bytes at the start of every record.
pub const MAGIC: [u8; 4] = *b"ATSR";
/// The format version this agent writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// The header's size in bytes.
pub const HEADER_LEN: usize = 56;
/// The extension of record files.
pub const EXTENSION: &str = "rec";
/// The quarantine subdirectory.
pub const QUARANTINE_DIR: &str = "quarantine";

/// How bytes reach a record file; tests inject a disk that fills up.
pub trait Disk: Send + Sync + fmt::Debug {
    fn write(&self, file: &mut File, bytes: &[u8]) -> io::Result<()>;
}

/// The real disk.
#[derive(Debug, Default)]
pub struct RealDisk;

impl Disk for RealDisk {
    fn write(&self, file: &mut File, bytes: &[u8]) -> io::Result<()> {
        file.write_all(bytes)
    }
}

/// Errors of the spool, each one line saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error(
        "the disk holding the spool {dir} is full: report seq {seq} was not stored; free some space (the agent retries at its next collection)"
    )]
    DiskFull { dir: String, seq: u64 },
    #[error(
        "report seq {seq} is {size} bytes, more than the whole spool may hold ({max} bytes); raise spool_max_size"
    )]
    TooLarge { seq: u64, size: u64, max: u64 },
    #[error("spool {path}: {source}")]
    Io { path: String, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// One record file waiting in the spool (not yet read or checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub path: PathBuf,
    /// The file's size in bytes.
    pub size: u64,
}

/// A checked record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    /// The envelope JSON exactly as written.
    pub body: Vec<u8>,
}

/// Why a record failed its checks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    #[error("shorter than the {HEADER_LEN}-byte header ({0} bytes)")]
    Truncated(u64),
    #[error("bad magic (not a spool record)")]
    BadMagic,
    #[error("unsupported format version {0}")]
    BadVersion(u16),
    #[error("reserved header field is not zero")]
    BadReserved,
    #[error("header seq {header} does not match the file name's seq {name}")]
    SeqMismatch { header: u64, name: u64 },
    #[error("header says {header} body bytes, the file holds {actual}")]
    LengthMismatch { header: u64, actual: u64 },
    #[error("body SHA-256 does not match the header's")]
    BadChecksum,
}

/// What [`Spool::append`] did besides writing the record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Appended {
    /// The `seq`s of the oldest records deleted to stay under the size bound.
    pub dropped: Vec<u64>,
}

/// The spool directory.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    disk: Arc<dyn Disk>,
}

/// The file name of a record.
pub fn file_name(seq: u64) -> String {
    format!("{seq:020}.{EXTENSION}")
}

/// The `seq` of a record file name, `None` for any other name.
pub fn seq_of(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(EXTENSION)?.strip_suffix('.')?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A record's bytes: header and body.
pub fn encode(seq: u64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&Sha256::digest(body));
    out.extend_from_slice(body);
    out
}

/// Checks a record's bytes against its name's `seq` and returns the body.
pub fn decode(name_seq: u64, bytes: &[u8]) -> Result<Vec<u8>, Corruption> {
    let (header, body) = bytes
        .split_first_chunk::<HEADER_LEN>()
        .ok_or(Corruption::Truncated(bytes.len() as u64))?;
    let u16_at = |at: usize| u16::from_le_bytes(array(header, at));
    let u64_at = |at: usize| u64::from_le_bytes(array(header, at));
    if array::<4>(header, 0) != MAGIC {
        return Err(Corruption::BadMagic);
    }
    let version = u16_at(4);
    if version != FORMAT_VERSION {
        return Err(Corruption::BadVersion(version));
    }
    if u16_at(6) != 0 {
        return Err(Corruption::BadReserved);
    }
    let seq = u64_at(8);
    if seq != name_seq {
        return Err(Corruption::SeqMismatch {
            header: seq,
            name: name_seq,
        });
    }
    let length = u64_at(16);
    if length != body.len() as u64 {
        return Err(Corruption::LengthMismatch {
            header: length,
            actual: body.len() as u64,
        });
    }
    if Sha256::digest(body).as_slice() != array::<32>(header, 24) {
        return Err(Corruption::BadChecksum);
    }
    Ok(body.to_vec())
}

/// `N` header bytes from `at` (all fields lie inside the fixed header).
fn array<const N: usize>(header: &[u8; HEADER_LEN], at: usize) -> [u8; N] {
    header
        .get(at..at.saturating_add(N))
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0; N])
}

impl Spool {
    /// Opens (creating) the spool in `dir` with a size bound of `max_bytes`, deleting
    /// temporary files left by a crash.
    pub fn open(dir: impl Into<PathBuf>, max_bytes: u64) -> Result<Spool, SpoolError> {
        Spool::open_with_disk(dir, max_bytes, Arc::new(RealDisk))
    }

    /// [`Spool::open`] writing through `disk`.
    pub fn open_with_disk(
        dir: impl Into<PathBuf>,
        max_bytes: u64,
        disk: Arc<dyn Disk>,
    ) -> Result<Spool, SpoolError> {
        let spool = Spool {
            dir: dir.into(),
            max_bytes,
            disk,
        };
        durable::create_dir(&spool.dir, DIR_MODE).map_err(io_err(&spool.dir))?;
        let quarantine = spool.quarantine_dir();
        durable::create_dir(&quarantine, DIR_MODE).map_err(io_err(&quarantine))?;
        for entry in fs::read_dir(&spool.dir).map_err(io_err(&spool.dir))? {
            let entry = entry.map_err(io_err(&spool.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.ends_with(".tmp") {
                fs::remove_file(entry.path()).map_err(io_err(&entry.path()))?;
                tracing::info!(path = %entry.path().display(), "removed a spool record left half-written by a crash");
            }
        }
        Ok(spool)
    }

    /// Opens an existing spool read-only for `status`: creates and deletes nothing.
    pub fn inspect(dir: impl Into<PathBuf>) -> Spool {
        Spool {
            dir: dir.into(),
            max_bytes: u64::MAX,
            disk: Arc::new(RealDisk),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn quarantine_dir(&self) -> PathBuf {
        self.dir.join(QUARANTINE_DIR)
    }

    /// The records waiting, in `seq` order (nothing is read or checked yet). A missing
    /// directory is an empty spool.
    pub fn entries(&self) -> Result<Vec<Entry>, SpoolError> {
        let listing = match fs::read_dir(&self.dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&self.dir)(e)),
        };
        let mut entries = Vec::new();
        for entry in listing {
            let entry = entry.map_err(io_err(&self.dir))?;
            let Some(seq) = seq_of(&entry.file_name().to_string_lossy()) else {
                continue;
            };
            let meta = entry.metadata().map_err(io_err(&entry.path()))?;
            if !meta.is_file() {
                continue;
            }
            entries.push(Entry {
                seq,
                path: entry.path(),
                size: meta.len(),
            });
        }
        entries.sort_by_key(|e| e.seq);
        Ok(entries)
    }

    /// How many records wait and how many bytes they take.
    pub fn depth(&self) -> Result<(usize, u64), SpoolError> {
        let entries = self.entries()?;
        Ok((entries.len(), entries.iter().map(|e| e.size).sum()))
    }

    /// The envelopes of the quarantined records that still read back whole (a
    /// corrupt one is skipped): what they name must stay available to inspect or send
    /// them again (their inventory lists, `lists::named_by`).
    pub fn quarantined_bodies(&self) -> Result<Vec<Vec<u8>>, SpoolError> {
        let dir = self.quarantine_dir();
        let listing = match fs::read_dir(&dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&dir)(e)),
        };
        let mut bodies = Vec::new();
        for entry in listing {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(&format!(".{EXTENSION}")) else {
                continue;
            };
            // `<seq:020>` or `<seq:020>-<n>` (quarantined twice).
            let Some(seq) = stem.split('-').next().and_then(|s| s.parse::<u64>().ok()) else {
                continue;
            };
            let path = entry.path();
            let bytes = match fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&path)(e)),
            };
            if let Ok(body) = decode(seq, &bytes) {
                bodies.push(body);
            }
        }
        Ok(bodies)
    }

    /// How many records have been quarantined (ever, while `quarantine/` is kept).
    pub fn quarantined(&self) -> Result<usize, SpoolError> {
        let dir = self.quarantine_dir();
        let listing = match fs::read_dir(&dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_err(&dir)(e)),
        };
        let mut count = 0;
        for entry in listing {
            let entry = entry.map_err(io_err(&dir))?;
            if entry
                .file_name()
                .to_string_lossy()
                .ends_with(&format!(".{EXTENSION}"))
            {
                count += 1;
            }
        }
        Ok(count)
    }

    /// Adds the record for `seq` (see the module docs: size bound first, then a
    /// durable write).
    pub fn append(&self, seq: u64, body: &[u8]) -> Result<Appended, SpoolError> {
        let bytes = encode(seq, body);
        let size = bytes.len() as u64;
        if size > self.max_bytes {
            return Err(SpoolError::TooLarge {
                seq,
                size,
                max: self.max_bytes,
            });
        }
        let mut appended = Appended::default();
        let entries = self.entries()?;
        let mut total: u64 = entries
            .iter()
            .filter(|e| e.seq != seq)
            .map(|e| e.size)
            .sum();
        for oldest in entries.iter().filter(|e| e.seq != seq) {
            if total.saturating_add(size) <= self.max_bytes {
                break;
            }
            fs::remove_file(&oldest.path).map_err(io_err(&oldest.path))?;
            total = total.saturating_sub(oldest.size);
            appended.dropped.push(oldest.seq);
            tracing::warn!(
                seq = oldest.seq,
                max_bytes = self.max_bytes,
                "spool full: dropped the oldest report; the collector will see a gap in the chain"
            );
        }
        if !appended.dropped.is_empty() {
            durable::sync_dir(&self.dir).map_err(io_err(&self.dir))?;
        }
        let path = self.dir.join(file_name(seq));
        durable::write_atomic_with(&path, FILE_MODE, |file| self.disk.write(file, &bytes))
            .map_err(|e| {
                if is_disk_full(&e) {
                    SpoolError::DiskFull {
                        dir: self.dir.display().to_string(),
                        seq,
                    }
                } else {
                    io_err(&path)(e)
                }
            })?;
        Ok(appended)
    }

    /// Reads and checks one record; a corrupt one is quarantined and `Ok(None)`
    /// returned.
    pub fn read(&self, entry: &Entry) -> Result<Option<Record>, SpoolError> {
        let bytes = match fs::read(&entry.path) {
            Ok(bytes) => bytes,
            // Deleted meanwhile (dropped by the size bound): nothing to deliver.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&entry.path)(e)),
        };
        match decode(entry.seq, &bytes) {
            Ok(body) => Ok(Some(Record {
                seq: entry.seq,
                body,
            })),
            Err(corruption) => {
                tracing::error!(
                    seq = entry.seq,
                    path = %entry.path.display(),
                    reason = %corruption,
                    "spool record corrupted: quarantined; the records after it are still delivered"
                );
                self.quarantine(entry.seq, &format!("corrupted: {corruption}"))?;
                Ok(None)
            }
        }
    }

    /// The oldest intact record; corrupt records met on the way are quarantined.
    pub fn oldest(&self) -> Result<Option<Record>, SpoolError> {
        for entry in self.entries()? {
            if let Some(record) = self.read(&entry)? {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }

    /// Deletes the record for `seq` (its receipt has been checked).
    pub fn remove(&self, seq: u64) -> Result<(), SpoolError> {
        let path = self.dir.join(file_name(seq));
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err(&path)(e)),
        }
        durable::sync_dir(&self.dir).map_err(io_err(&self.dir))
    }

    /// Moves the record for `seq` to `quarantine/`, with `reason` in a `.reason` file
    /// beside it. A name already taken there gets a numeric suffix.
    pub fn quarantine(&self, seq: u64, reason: &str) -> Result<(), SpoolError> {
        let from = self.dir.join(file_name(seq));
        let qdir = self.quarantine_dir();
        durable::create_dir(&qdir, DIR_MODE).map_err(io_err(&qdir))?;
        let mut stem = format!("{seq:020}");
        let mut n = 1;
        while qdir.join(format!("{stem}.{EXTENSION}")).exists() {
            n += 1;
            stem = format!("{seq:020}-{n}");
        }
        let reason_path = qdir.join(format!("{stem}.reason"));
        durable::write_atomic(&reason_path, format!("{reason}\n").as_bytes(), FILE_MODE)
            .map_err(io_err(&reason_path))?;
        let to = qdir.join(format!("{stem}.{EXTENSION}"));
        match fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&from)(e)),
        }
        durable::sync_dir(&qdir).map_err(io_err(&qdir))?;
        durable::sync_dir(&self.dir).map_err(io_err(&self.dir))
    }
}

/// Whether an I/O error means the disk (or the user's quota) is full.
pub fn is_disk_full(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A disk with `room` bytes left: writes past it fail with ENOSPC after writing
    /// what fits, as a real full disk does.
    #[derive(Debug)]
    pub(crate) struct FullDisk {
        pub(crate) room: AtomicU64,
    }

    impl Disk for FullDisk {
        fn write(&self, file: &mut File, bytes: &[u8]) -> io::Result<()> {
            let room = self.room.load(Ordering::SeqCst);
            let fits = usize::try_from(room).unwrap().min(bytes.len());
            file.write_all(&bytes[..fits])?;
            self.room.fetch_sub(fits as u64, Ordering::SeqCst);
            if fits < bytes.len() {
                return Err(io::Error::from(io::ErrorKind::StorageFull));
            }
            Ok(())
        }
    }

    fn spool(dir: &Path) -> Spool {
        Spool::open(dir.join("spool"), 1 << 20).unwrap()
    }

    fn body(seq: u64) -> Vec<u8> {
        format!("{{\"payloadType\":\"x\",\"payload\":\"report {seq}\"}}").into_bytes()
    }

    fn seqs(spool: &Spool) -> Vec<u64> {
        spool.entries().unwrap().iter().map(|e| e.seq).collect()
    }

    /// Drains the spool like the uploader, returning what it would deliver.
    fn drain(spool: &Spool) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(record) = spool.oldest().unwrap() {
            spool.remove(record.seq).unwrap();
            out.push((record.seq, record.body));
        }
        out
    }

    #[test]
    fn names_sort_like_numbers() {
        assert_eq!(file_name(42), "00000000000000000042.rec");
        assert_eq!(seq_of(&file_name(42)), Some(42));
        assert_eq!(seq_of(&file_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(seq_of("42.rec"), None);
        assert_eq!(seq_of(".00000000000000000042.rec.tmp"), None);
        assert_eq!(seq_of("0000000000000000004x.rec"), None);
        assert_eq!(seq_of("99999999999999999999.rec"), None);
    }

    #[test]
    fn header_layout_is_exact() {
        let bytes = encode(7, b"abc");
        assert_eq!(bytes.len(), HEADER_LEN + 3);
        assert_eq!(&bytes[..4], b"ATSR");
        assert_eq!(&bytes[4..8], &[1, 0, 0, 0]);
        assert_eq!(&bytes[8..16], &7u64.to_le_bytes());
        assert_eq!(&bytes[16..24], &3u64.to_le_bytes());
        assert_eq!(
            hex::encode(&bytes[24..56]),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(&bytes[56..], b"abc");
        assert_eq!(decode(7, &bytes).unwrap(), b"abc");
    }

    #[test]
    fn records_come_back_in_seq_order() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool(dir.path());
        // Written out of order, across a digit boundary.
        for seq in [10, 2, 9, 100, 1] {
            spool.append(seq, &body(seq)).unwrap();
        }
        assert_eq!(seqs(&spool), vec![1, 2, 9, 10, 100]);
        let delivered = drain(&spool);
        assert_eq!(
            delivered.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            vec![1, 2, 9, 10, 100]
        );
        assert_eq!(delivered[3].1, body(10));
        assert_eq!(spool.depth().unwrap(), (0, 0));
    }

    #[test]
    fn records_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        spool(dir.path()).append(1, &body(1)).unwrap();
        let again = spool(dir.path());
        assert_eq!(again.oldest().unwrap().unwrap().body, body(1));
    }

    /// Every kind of damage is detected, quarantined with its reason, and the other
    /// records are still delivered in order.
    #[test]
    fn corrupted_records_are_quarantined_and_the_rest_delivered() {
        type Damage = fn(&mut Vec<u8>);
        let damages: [(&str, Damage, &str); 6] = [
            (
                "flipped body byte",
                |b| b[HEADER_LEN + 3] ^= 0x01,
                "SHA-256",
            ),
            ("truncated body", |b| b.truncate(b.len() - 5), "body bytes"),
            ("truncated header", |b| b.truncate(20), "shorter than"),
            (
                "garbage header",
                |b| b[..4].copy_from_slice(b"GARB"),
                "bad magic",
            ),
            ("future version", |b| b[4] = 9, "version 9"),
            (
                "seq rewritten",
                |b| b[8] ^= 0x40,
                "does not match the file name",
            ),
        ];
        for (what, damage, reason) in damages {
            let dir = tempfile::tempdir().unwrap();
            let spool = spool(dir.path());
            for seq in 1..=3 {
                spool.append(seq, &body(seq)).unwrap();
            }
            let path = spool.dir().join(file_name(2));
            let mut bytes = fs::read(&path).unwrap();
            damage(&mut bytes);
            fs::write(&path, &bytes).unwrap();

            let delivered = drain(&spool);
            assert_eq!(
                delivered.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
                vec![1, 3],
                "{what}"
            );
            assert_eq!(spool.quarantined().unwrap(), 1, "{what}");
            let q = spool.quarantine_dir();
            assert_eq!(fs::read(q.join(file_name(2))).unwrap(), bytes, "{what}");
            let why = fs::read_to_string(q.join("00000000000000000002.reason")).unwrap();
            assert!(why.contains(reason), "{what}: {why}");
        }
    }

    #[test]
    fn a_record_quarantined_twice_keeps_both() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool(dir.path());
        spool.append(5, &body(5)).unwrap();
        spool.quarantine(5, "rejected: chain_conflict").unwrap();
        spool.append(5, &body(6)).unwrap();
        spool.quarantine(5, "rejected again").unwrap();
        assert_eq!(spool.quarantined().unwrap(), 2);
        assert!(
            spool
                .quarantine_dir()
                .join("00000000000000000005-2.rec")
                .exists()
        );
        assert!(seqs(&spool).is_empty());
    }

    #[test]
    fn the_size_bound_drops_the_oldest_records() {
        let dir = tempfile::tempdir().unwrap();
        let one = encode(1, &body(1)).len() as u64;
        // Room for exactly three records.
        let spool = Spool::open(dir.path().join("spool"), one * 3 + one / 2).unwrap();
        for seq in 1..=3 {
            assert!(spool.append(seq, &body(seq)).unwrap().dropped.is_empty());
        }
        assert_eq!(spool.append(4, &body(4)).unwrap().dropped, vec![1]);
        assert_eq!(seqs(&spool), vec![2, 3, 4]);
        // A bigger record pushes out two.
        let big = vec![b'x'; one as usize];
        assert_eq!(spool.append(5, &big).unwrap().dropped, vec![2, 3]);
        assert_eq!(seqs(&spool), vec![4, 5]);
        assert!(spool.depth().unwrap().1 <= one * 3 + one / 2);
        // A record larger than the whole bound is refused, nothing dropped.
        let huge = vec![b'x'; (one * 4) as usize];
        let err = spool.append(6, &huge).unwrap_err();
        assert!(matches!(err, SpoolError::TooLarge { seq: 6, .. }), "{err}");
        assert_eq!(seqs(&spool), vec![4, 5]);
    }

    #[test]
    fn a_full_disk_leaves_no_partial_record() {
        let dir = tempfile::tempdir().unwrap();
        let disk = Arc::new(FullDisk {
            room: AtomicU64::new(u64::MAX),
        });
        let spool = Spool::open_with_disk(dir.path().join("spool"), 1 << 20, disk.clone()).unwrap();
        spool.append(1, &body(1)).unwrap();
        disk.room.store(30, Ordering::SeqCst);
        let err = spool.append(2, &body(2)).unwrap_err();
        assert!(matches!(err, SpoolError::DiskFull { seq: 2, .. }), "{err}");
        let line = err.to_string();
        assert!(
            line.contains("is full") && line.contains("free some space"),
            "{line}"
        );
        // Nothing of record 2 is left, not even its temporary file.
        let names: Vec<String> = fs::read_dir(spool.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}"); // record 1 and quarantine/
        assert!(names.contains(&file_name(1)));
        assert_eq!(seqs(&spool), vec![1]);
        // Space comes back: the next append works and everything is intact.
        disk.room.store(u64::MAX, Ordering::SeqCst);
        spool.append(2, &body(2)).unwrap();
        assert_eq!(drain(&spool).len(), 2);
        assert_eq!(spool.quarantined().unwrap(), 0);
    }

    #[test]
    fn crash_leftovers_are_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool(dir.path());
        spool.append(1, &body(1)).unwrap();
        let temp = spool.dir().join(".00000000000000000002.rec.tmp");
        fs::write(&temp, b"half a rec").unwrap();
        fs::write(spool.dir().join("README"), b"not a record").unwrap();
        let spool = Spool::open(spool.dir(), 1 << 20).unwrap();
        assert!(!temp.exists());
        assert_eq!(seqs(&spool), vec![1]);
    }

    #[test]
    fn inspecting_a_missing_spool_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::inspect(dir.path().join("none"));
        assert_eq!(spool.depth().unwrap(), (0, 0));
        assert_eq!(spool.quarantined().unwrap(), 0);
        assert!(!dir.path().join("none").exists());
    }

    proptest! {
        #[test]
        fn decode_never_panics(seq in any::<u64>(), bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(seq, &bytes);
        }

        #[test]
        fn any_single_byte_flip_is_detected(body in proptest::collection::vec(any::<u8>(), 1..100), at in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut bytes = encode(3, &body);
            let i = at.index(bytes.len());
            bytes[i] ^= 1 << bit;
            prop_assert!(decode(3, &bytes).is_err());
        }
    }
}
