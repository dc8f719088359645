//! Transaction logs of the new format (Windows 8.1 and later): applying a dirty
//! hive's `.LOG1`/`.LOG2` in memory.
//!
//! A log starts with a 512-byte copy of the base block (file type 6) whose primary
//! sequence number is that of its first entry; entries follow from offset 512, each
//! a multiple of 512 bytes:
//!
//! | offset | field |
//! | --- | --- |
//! | 0 | `HvLE` |
//! | 4 | size of the entry |
//! | 8 | flags |
//! | 12 | sequence number |
//! | 16 | hive bins data size after the entry (a multiple of 4096) |
//! | 20 | dirty page count |
//! | 24 | Marvin32 of bytes 40..size (seed `0x82EF4D887A4E55C5`) |
//! | 32 | Marvin32 of bytes 0..32 |
//! | 40 | (offset, size) of each dirty page, then the pages, back to back |
//!
//! Recovery starts at the entry whose sequence number is the primary file's
//! secondary sequence number (the first write that did not reach the primary file)
//! and goes on with N + 1, N + 2, … across both logs, stopping at the first gap or
//! damaged entry. Entries older than that were already written to the primary
//! file and are skipped. After a partial reconcile (Windows wrote the data to the
//! primary file but not its base block, then rotated the logs twice) that entry is
//! gone: recovery then starts at the first entry of a log whose base block copy
//! names a later sequence number. When not even a first entry is found, the hive
//! is refused: its values would be stale.

use super::{BaseBlock, HiveError, u32_at};

/// The seed of the log entries' Marvin32 hashes.
pub const SEED: u64 = 0x82EF_4D88_7A4E_55C5;

/// Microsoft's Marvin32 hash.
pub fn marvin32(seed: u64, data: &[u8]) -> u64 {
    fn block(lo: &mut u32, hi: &mut u32) {
        *hi ^= *lo;
        *lo = lo.rotate_left(20);
        *lo = lo.wrapping_add(*hi);
        *hi = hi.rotate_left(9);
        *hi ^= *lo;
        *lo = lo.rotate_left(27);
        *lo = lo.wrapping_add(*hi);
        *hi = hi.rotate_left(19);
    }
    let mut lo = seed as u32;
    let mut hi = (seed >> 32) as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        lo = lo.wrapping_add(u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        block(&mut lo, &mut hi);
    }
    let rest = chunks.remainder();
    let mut last = [0u8; 4];
    last[..rest.len()].copy_from_slice(rest);
    last[rest.len()] = 0x80;
    lo = lo.wrapping_add(u32::from_le_bytes(last));
    block(&mut lo, &mut hi);
    block(&mut lo, &mut hi);
    (u64::from(hi) << 32) | u64::from(lo)
}

/// One log entry, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub sequence: u32,
    pub hive_bins_size: u32,
    /// (offset in the hive bins data, bytes)
    pub pages: Vec<(u32, &'a [u8])>,
}

/// The valid entries of a log, in file order, up to the first damaged one. A log
/// without a valid base block copy has none.
pub fn entries(log: &[u8]) -> Vec<Entry<'_>> {
    let mut out = Vec::new();
    let Ok(base) = BaseBlock::parse(log) else {
        return out;
    };
    if base.file_type != 6 {
        return out;
    }
    let mut at = 512usize;
    while let Some(entry) = log.get(at..).and_then(entry) {
        at = at.saturating_add(entry.1);
        out.push(entry.0);
    }
    out
}

/// The entry at the start of `b` and its size, when whole and its hashes match.
fn entry(b: &[u8]) -> Option<(Entry<'_>, usize)> {
    if b.get(0..4)? != b"HvLE" {
        return None;
    }
    let size = u32_at(b, 4)? as usize;
    if size < 40 || !size.is_multiple_of(512) {
        return None;
    }
    let e = b.get(..size)?;
    let hash1 = u64::from(u32_at(e, 24)?) | u64::from(u32_at(e, 28)?) << 32;
    let hash2 = u64::from(u32_at(e, 32)?) | u64::from(u32_at(e, 36)?) << 32;
    if marvin32(SEED, e.get(40..)?) != hash1 || marvin32(SEED, e.get(..32)?) != hash2 {
        return None;
    }
    let hive_bins_size = u32_at(e, 16)?;
    if !hive_bins_size.is_multiple_of(4096) {
        return None;
    }
    let count = u32_at(e, 20)? as usize;
    let mut pages = Vec::new();
    let mut data_at = 40usize.checked_add(count.checked_mul(8)?)?;
    for i in 0..count {
        let offset = u32_at(e, 40 + i * 8)?;
        let len = u32_at(e, 44 + i * 8)? as usize;
        let page = e.get(data_at..data_at.checked_add(len)?)?;
        data_at += len;
        pages.push((offset, page));
    }
    Some((
        Entry {
            sequence: u32_at(e, 12)?,
            hive_bins_size,
            pages,
        },
        size,
    ))
}

/// The base block copy of the log holding the latest entries, as a primary
/// file's (type 0, dirty from the copy's sequence number on), and that log: what
/// stands in for a primary base block whose checksum is wrong.
pub fn base_from_logs<'a>(logs: &[&'a [u8]]) -> Option<(BaseBlock, &'a [u8])> {
    logs.iter()
        .filter_map(|l| {
            let base = BaseBlock::parse(l).ok().filter(|b| b.file_type == 6)?;
            let last = entries(l).iter().map(|e| e.sequence).max()?;
            Some((last, base, *l))
        })
        .max_by_key(|(last, _, _)| *last)
        .map(|(_, base, log)| {
            let primary = BaseBlock {
                file_type: 0,
                primary_sequence: base.primary_sequence.wrapping_add(1),
                secondary_sequence: base.primary_sequence,
                ..base
            };
            (primary, log)
        })
}

/// Applies the logs' entries to the hive bins data of a dirty primary file whose
/// base block is `base`.
pub fn recover(base: &BaseBlock, mut data: Vec<u8>, logs: &[&[u8]]) -> Result<Vec<u8>, HiveError> {
    let all: Vec<Entry<'_>> = logs.iter().flat_map(|l| entries(l)).collect();
    // The data can only grow by pages the logs carry.
    let limit = data
        .len()
        .saturating_add(logs.iter().map(|l| l.len()).sum::<usize>());
    // The first entry carries the primary file's secondary sequence number; after
    // a partial reconcile (the primary file written, its base block not, and the
    // logs rotated twice) the numbers before a log's first entry are gone, and
    // recovery starts at that log's first entry (its base block copy's primary
    // sequence number).
    let mut starts: Vec<u32> = logs
        .iter()
        .filter_map(|l| BaseBlock::parse(l).ok())
        .map(|b| b.primary_sequence)
        .filter(|s| *s > base.secondary_sequence)
        .collect();
    starts.sort_unstable();
    starts.insert(0, base.secondary_sequence);
    let mut next = starts
        .into_iter()
        .find(|s| all.iter().any(|e| e.sequence == *s))
        .unwrap_or(base.secondary_sequence);
    let mut applied = 0usize;
    while let Some(e) = all.iter().find(|e| e.sequence == next) {
        let size = e.hive_bins_size as usize;
        if size > limit {
            break;
        }
        let fits = e.pages.iter().all(|(o, p)| {
            (*o as usize)
                .checked_add(p.len())
                .is_some_and(|end| end <= size)
        });
        if !fits {
            break;
        }
        data.resize(size, 0);
        for (offset, page) in &e.pages {
            let o = *offset as usize;
            if let Some(dst) = data.get_mut(o..o + page.len()) {
                dst.copy_from_slice(page);
            }
        }
        applied += 1;
        next = next.wrapping_add(1);
    }
    if applied == 0 {
        let found = if all.is_empty() {
            "no valid log entries".to_owned()
        } else {
            format!(
                "no log entry continues sequence number {}",
                base.secondary_sequence
            )
        };
        return Err(HiveError::Dirty(found));
    }
    Ok(data)
}
