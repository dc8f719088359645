//! A small, read-only reader of Windows registry hive files (the "regf" format), for
//! offline roots: `Windows/System32/config/{SYSTEM,SOFTWARE,SAM,SECURITY}` and
//! `Users/<name>/NTUSER.DAT`.
//!
//! Layout (all numbers little-endian, offsets relative to the hive bins data, which
//! starts 4096 bytes into the file):
//!
//! - the **base block** (4096 bytes): `regf`, primary and secondary sequence
//!   numbers, minor version, file type 0, the root cell offset, the size of the hive
//!   bins data, and an XOR-32 checksum of its first 508 bytes;
//! - **hive bins** (`hbin`, multiples of 4096 bytes) holding **cells**: an `i32`
//!   size (negative when allocated, including the size field) and the cell's data;
//! - records in cells: `nk` key nodes (name in Latin-1 when flag 0x20 is set,
//!   else UTF-16LE), `vk` values (name Latin-1 when flag 1 is set; data of at most
//!   4 bytes inline when the size's top bit is set; above 16344 bytes in `db` big
//!   data segments), value lists (offsets), subkey lists `lf`/`lh` (offset and
//!   hint), `li` (offsets) and `ri` (offsets of other lists, one level).
//!
//! Every offset and length read from the file is checked against the bytes there
//! are: a corrupt or hostile hive is an [`HiveError`], never a panic, and nothing
//! is allocated beyond what the file itself holds.
//!
//! A hive whose base block's sequence numbers differ is **dirty**: its latest
//! writes are only in the transaction logs (`.LOG1`, `.LOG2`), which [`log`]
//! applies in memory. A primary base block with a wrong checksum (torn while
//! written) is replaced by the copy in the log holding the latest entries, then
//! that log is applied; without such a log it is an error. Files are never
//! written.

pub mod log;
#[cfg(any(test, feature = "hive-writer"))]
pub mod writer;

use std::collections::HashSet;

use crate::host::RegistryValue;

/// Size of the base block; the hive bins data starts here.
pub const BASE_BLOCK: usize = 4096;
/// Largest data segment of a big data (`db`) record, and the largest value whose
/// data sits in one cell when the hive's minor version is above 3.
pub const MAX_SEGMENT: usize = 16344;
/// "Doesn't point anywhere".
pub const NO_OFFSET: u32 = 0xFFFF_FFFF;
/// `nk` flag: the key's name is Latin-1 (else UTF-16LE).
const KEY_COMP_NAME: u16 = 0x0020;
/// `vk` flag: the value's name is Latin-1 (else UTF-16LE).
const VALUE_COMP_NAME: u16 = 0x0001;
/// How deep `ri` lists may nest (Windows writes one level).
const MAX_INDEX_DEPTH: u32 = 2;

/// The registry value types this reader decodes (`winnt.h`).
pub mod types {
    pub const REG_NONE: u32 = 0;
    pub const REG_SZ: u32 = 1;
    pub const REG_EXPAND_SZ: u32 = 2;
    pub const REG_BINARY: u32 = 3;
    pub const REG_DWORD: u32 = 4;
    pub const REG_DWORD_BIG_ENDIAN: u32 = 5;
    pub const REG_MULTI_SZ: u32 = 7;
    pub const REG_QWORD: u32 = 11;
}

/// Why a hive (or a part of it) cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HiveError {
    #[error("not a registry hive: {0}")]
    NotAHive(&'static str),
    #[error("base block checksum mismatch")]
    Checksum,
    #[error("corrupt hive: {what} at offset {offset:#x}")]
    Corrupt { what: &'static str, offset: u32 },
    #[error("dirty hive without usable logs: {0}")]
    Dirty(String),
    #[error("{name}: a {kind} of {len} bytes")]
    BadValue {
        name: String,
        kind: &'static str,
        len: usize,
    },
}

fn corrupt(what: &'static str, offset: u32) -> HiveError {
    HiveError::Corrupt { what, offset }
}

/// Reads a little-endian `u16` at `at`.
pub(crate) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

/// Reads a little-endian `u32` at `at`.
pub(crate) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// The XOR-32 checksum of a base block's first 508 bytes (never 0 or -1).
pub fn checksum(block: &[u8]) -> Option<u32> {
    let mut c = 0u32;
    for i in 0..127 {
        c ^= u32_at(block, i * 4)?;
    }
    Some(match c {
        0xFFFF_FFFF => 0xFFFF_FFFE,
        0 => 1,
        c => c,
    })
}

/// The fields of a base block this reader uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseBlock {
    pub primary_sequence: u32,
    pub secondary_sequence: u32,
    pub minor_version: u32,
    pub file_type: u32,
    pub root_cell: u32,
    pub hive_bins_size: u32,
}

impl BaseBlock {
    /// Parses the first 512 bytes of a primary file or a transaction log; the
    /// checksum must match.
    pub fn parse(b: &[u8]) -> Result<BaseBlock, HiveError> {
        if b.len() < 512 {
            return Err(HiveError::NotAHive("shorter than a base block"));
        }
        if b.get(0..4) != Some(b"regf") {
            return Err(HiveError::NotAHive("no regf signature"));
        }
        let field = |at| u32_at(b, at).ok_or(HiveError::NotAHive("truncated base block"));
        if checksum(b) != Some(field(508)?) {
            return Err(HiveError::Checksum);
        }
        let block = BaseBlock {
            primary_sequence: field(4)?,
            secondary_sequence: field(8)?,
            minor_version: field(24)?,
            file_type: field(28)?,
            root_cell: field(36)?,
            hive_bins_size: field(40)?,
        };
        if field(20)? != 1 {
            return Err(HiveError::NotAHive("major version is not 1"));
        }
        Ok(block)
    }

    /// True when the last write to the primary file did not finish: its latest
    /// state is in the transaction logs.
    pub fn is_dirty(&self) -> bool {
        self.primary_sequence != self.secondary_sequence
    }
}

/// A parsed hive: its hive bins data (logs applied) and where its root key is.
#[derive(Debug, Clone)]
pub struct Hive {
    data: Vec<u8>,
    root: u32,
    minor: u32,
    /// True when transaction log entries were applied.
    recovered: bool,
}

/// A key of a [`Hive`].
#[derive(Debug, Clone, Copy)]
pub struct Key<'h> {
    hive: &'h Hive,
    offset: u32,
}

/// A value as stored: its name, type and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawValue {
    /// Empty for the key's default value (`@` in `.reg` files).
    pub name: String,
    pub kind: u32,
    pub data: Vec<u8>,
}

impl Hive {
    /// Parses a primary file. A dirty one is recovered from `logs` (the contents of
    /// `.LOG1` and `.LOG2`, those that exist), or refused with
    /// [`HiveError::Dirty`].
    pub fn parse(primary: &[u8], logs: &[&[u8]]) -> Result<Hive, HiveError> {
        Hive::from_vec(primary.to_vec(), logs)
    }

    /// [`Hive::parse`] of a primary file read whole, without copying it (a
    /// SOFTWARE hive can be a hundred megabytes).
    pub fn from_vec(primary: Vec<u8>, logs: &[&[u8]]) -> Result<Hive, HiveError> {
        let (base, logs) = match BaseBlock::parse(&primary) {
            Ok(base) => (base, logs.to_vec()),
            // A torn base block: its copy in the log with the latest entries
            // stands in for it, and only that log is applied (as Windows does).
            Err(HiveError::Checksum) => {
                let (base, log) = log::base_from_logs(logs).ok_or(HiveError::Checksum)?;
                (base, vec![log])
            }
            Err(e) => return Err(e),
        };
        let logs = &logs[..];
        if base.file_type != 0 {
            return Err(HiveError::NotAHive("not a primary hive file"));
        }
        let size = base.hive_bins_size as usize;
        if !size.is_multiple_of(4096) {
            return Err(HiveError::NotAHive(
                "hive bins data size not a multiple of 4096",
            ));
        }
        // A dirty primary file may be shorter than its base block says (the logs
        // grow it); a clean one must hold all of it.
        if primary.len() < BASE_BLOCK.saturating_add(size) && !base.is_dirty() {
            return Err(HiveError::NotAHive("shorter than its hive bins data"));
        }
        let mut data = primary;
        data.drain(..BASE_BLOCK.min(data.len()));
        data.truncate(size);
        let mut recovered = false;
        if base.is_dirty() {
            data = log::recover(&base, data, logs)?;
            recovered = true;
        }
        let hive = Hive {
            data,
            root: base.root_cell,
            minor: base.minor_version,
            recovered,
        };
        let root = hive.root();
        root.node()?;
        Ok(hive)
    }

    /// True when the hive was dirty and its logs were applied.
    pub fn recovered(&self) -> bool {
        self.recovered
    }

    /// The root key.
    pub fn root(&self) -> Key<'_> {
        Key {
            hive: self,
            offset: self.root,
        }
    }

    /// The key at `path` (components separated by `\`, matched
    /// case-insensitively), `None` when absent. An empty path is the root.
    pub fn key(&self, path: &str) -> Result<Option<Key<'_>>, HiveError> {
        let parts: Vec<&str> = path.split('\\').filter(|p| !p.is_empty()).collect();
        self.root().subkey_path(&parts)
    }

    /// The data of the allocated cell at `offset`.
    fn cell(&self, offset: u32) -> Result<&[u8], HiveError> {
        let at = offset as usize;
        let size = u32_at(&self.data, at).ok_or(corrupt("cell outside the hive", offset))? as i32;
        if size >= 0 {
            return Err(corrupt("unallocated cell referenced", offset));
        }
        let len = size.unsigned_abs() as usize;
        if len < 8 {
            return Err(corrupt("cell too small", offset));
        }
        self.data
            .get(at.saturating_add(4)..at.saturating_add(len))
            .ok_or(corrupt("cell beyond the hive", offset))
    }
}

/// Decodes a Latin-1 or UTF-16LE name.
fn name(bytes: &[u8], latin1: bool) -> String {
    if latin1 {
        bytes.iter().map(|&b| char::from(b)).collect()
    } else {
        utf16(bytes)
    }
}

/// UTF-16LE to a string (an odd last byte is dropped, bad surrogates replaced).
fn utf16(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// A character upcased as Windows does it: one character for one (`ß` stays `ß`).
fn upcase_char(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// A name upcased as Windows compares registry names.
pub fn upcase(s: &str) -> String {
    s.chars().map(upcase_char).collect()
}

/// Registry names compare case-insensitively (Windows upcases both sides,
/// character by character).
pub fn same_name(a: &str, b: &str) -> bool {
    a.chars().map(upcase_char).eq(b.chars().map(upcase_char))
}

/// The `nk` fields this reader uses.
struct Node<'h> {
    subkeys: u32,
    subkey_list: u32,
    values: u32,
    value_list: u32,
    name: &'h [u8],
    latin1: bool,
}

impl<'h> Key<'h> {
    fn node(&self) -> Result<Node<'h>, HiveError> {
        let c = self.hive.cell(self.offset)?;
        let bad = || corrupt("truncated key node", self.offset);
        if c.get(0..2) != Some(b"nk") {
            return Err(corrupt("not a key node", self.offset));
        }
        let name_len = u16_at(c, 72).ok_or_else(bad)? as usize;
        Ok(Node {
            subkeys: u32_at(c, 20).ok_or_else(bad)?,
            subkey_list: u32_at(c, 28).ok_or_else(bad)?,
            values: u32_at(c, 36).ok_or_else(bad)?,
            value_list: u32_at(c, 40).ok_or_else(bad)?,
            name: c.get(76..76 + name_len).ok_or_else(bad)?,
            latin1: u16_at(c, 2).ok_or_else(bad)? & KEY_COMP_NAME != 0,
        })
    }

    /// The key's own name (the root's is whatever the writer put there).
    pub fn name(&self) -> Result<String, HiveError> {
        let n = self.node()?;
        Ok(name(n.name, n.latin1))
    }

    /// The subkeys, in the hive's order (sorted by upcased name by Windows).
    pub fn subkeys(&self) -> Result<Vec<Key<'h>>, HiveError> {
        let n = self.node()?;
        let mut out = Vec::new();
        if n.subkeys == 0 || n.subkey_list == NO_OFFSET {
            return Ok(out);
        }
        self.collect_list(n.subkey_list, 0, &mut out, &mut HashSet::new())?;
        if out.len() != n.subkeys as usize {
            return Err(corrupt("subkey count differs from its list", self.offset));
        }
        Ok(out)
    }

    /// Appends the keys of the subkey list at `list` to `out`. A key listed twice
    /// is an error: lists that point at the same keys again and again would
    /// otherwise make a few bytes into millions of keys.
    fn collect_list(
        &self,
        list: u32,
        depth: u32,
        out: &mut Vec<Key<'h>>,
        seen: &mut HashSet<u32>,
    ) -> Result<(), HiveError> {
        let c = self.hive.cell(list)?;
        let count = u16_at(c, 2).ok_or(corrupt("truncated subkey list", list))? as usize;
        let (stride, nested) = match c.get(0..2) {
            Some(b"lf" | b"lh") => (8, false),
            Some(b"li") => (4, false),
            Some(b"ri") => (4, true),
            _ => return Err(corrupt("not a subkey list", list)),
        };
        if nested && depth >= MAX_INDEX_DEPTH {
            return Err(corrupt("index root nested too deep", list));
        }
        for i in 0..count {
            let at = 4 + i * stride;
            let offset = u32_at(c, at).ok_or(corrupt("subkey list beyond its cell", list))?;
            if nested {
                self.collect_list(offset, depth + 1, out, seen)?;
            } else {
                if !seen.insert(offset) {
                    return Err(corrupt("subkey listed twice", list));
                }
                out.push(Key {
                    hive: self.hive,
                    offset,
                });
            }
        }
        Ok(())
    }

    /// The subkey called `name` (case-insensitively).
    pub fn subkey(&self, wanted: &str) -> Result<Option<Key<'h>>, HiveError> {
        for k in self.subkeys()? {
            if same_name(&k.name()?, wanted) {
                return Ok(Some(k));
            }
        }
        Ok(None)
    }

    /// The key below this one at `path`, one name per level.
    pub fn subkey_path<S: AsRef<str>>(&self, path: &[S]) -> Result<Option<Key<'h>>, HiveError> {
        let mut key = *self;
        for part in path {
            match key.subkey(part.as_ref())? {
                Some(k) => key = k,
                None => return Ok(None),
            }
        }
        Ok(Some(key))
    }

    /// The names of the subkeys.
    pub fn subkey_names(&self) -> Result<Vec<String>, HiveError> {
        self.subkeys()?.iter().map(Key::name).collect()
    }

    /// Every value of the key, in the hive's order.
    pub fn values(&self) -> Result<Vec<RawValue>, HiveError> {
        let n = self.node()?;
        if n.values == 0 || n.value_list == NO_OFFSET {
            return Ok(Vec::new());
        }
        let list = self.hive.cell(n.value_list)?;
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        // Every value's data is somewhere in the hive: more than the hive's size in
        // all is values naming the same data again and again.
        let mut budget = self.hive.data.len();
        for i in 0..n.values as usize {
            let at =
                u32_at(list, i * 4).ok_or(corrupt("value list beyond its cell", n.value_list))?;
            if !seen.insert(at) {
                return Err(corrupt("value listed twice", n.value_list));
            }
            let v = self.hive.value(at)?;
            budget = budget
                .checked_sub(v.data.len())
                .ok_or(corrupt("value data repeats", n.value_list))?;
            out.push(v);
        }
        Ok(out)
    }

    /// The value called `name` (case-insensitively; empty for the default value).
    pub fn value(&self, wanted: &str) -> Result<Option<RawValue>, HiveError> {
        Ok(self
            .values()?
            .into_iter()
            .find(|v| same_name(&v.name, wanted)))
    }
}

impl Hive {
    /// The `vk` record at `offset`, its data read.
    fn value(&self, offset: u32) -> Result<RawValue, HiveError> {
        let c = self.cell(offset)?;
        let bad = || corrupt("truncated value", offset);
        if c.get(0..2) != Some(b"vk") {
            return Err(corrupt("not a value", offset));
        }
        let name_len = u16_at(c, 2).ok_or_else(bad)? as usize;
        let size = u32_at(c, 4).ok_or_else(bad)?;
        let data_at = u32_at(c, 8).ok_or_else(bad)?;
        let kind = u32_at(c, 12).ok_or_else(bad)?;
        let flags = u16_at(c, 16).ok_or_else(bad)?;
        let raw_name = c.get(20..20 + name_len).ok_or_else(bad)?;
        let len = (size & 0x7FFF_FFFF) as usize;
        let data = if size & 0x8000_0000 != 0 {
            if len > 4 {
                return Err(corrupt("inline data longer than 4 bytes", offset));
            }
            data_at.to_le_bytes()[..len].to_vec()
        } else if len == 0 {
            Vec::new()
        } else if len > MAX_SEGMENT && self.minor > 3 {
            self.big_data(data_at, len)?
        } else {
            self.cell(data_at)?
                .get(..len)
                .ok_or(corrupt("value data beyond its cell", data_at))?
                .to_vec()
        };
        Ok(RawValue {
            name: name(raw_name, flags & VALUE_COMP_NAME != 0),
            kind,
            data,
        })
    }

    /// The data of a `db` record: its segments concatenated, cut at `len`.
    fn big_data(&self, offset: u32, len: usize) -> Result<Vec<u8>, HiveError> {
        let c = self.cell(offset)?;
        if c.get(0..2) != Some(b"db") {
            return Err(corrupt("not a big data record", offset));
        }
        let count = u16_at(c, 2).ok_or(corrupt("truncated big data", offset))? as usize;
        let list_at = u32_at(c, 4).ok_or(corrupt("truncated big data", offset))?;
        let list = self.cell(list_at)?;
        let mut out = Vec::new();
        for i in 0..count {
            let seg_at =
                u32_at(list, i * 4).ok_or(corrupt("segment list beyond its cell", list_at))?;
            let seg = self.cell(seg_at)?;
            let want = (len - out.len()).min(MAX_SEGMENT);
            out.extend_from_slice(
                seg.get(..want)
                    .ok_or(corrupt("short data segment", seg_at))?,
            );
            if out.len() == len {
                return Ok(out);
            }
        }
        Err(corrupt("big data shorter than its value", offset))
    }
}

/// The display name of a value type.
pub fn type_name(kind: u32) -> &'static str {
    match kind {
        types::REG_NONE => "REG_NONE",
        types::REG_SZ => "REG_SZ",
        types::REG_EXPAND_SZ => "REG_EXPAND_SZ",
        types::REG_BINARY => "REG_BINARY",
        types::REG_DWORD => "REG_DWORD",
        types::REG_DWORD_BIG_ENDIAN => "REG_DWORD_BIG_ENDIAN",
        types::REG_MULTI_SZ => "REG_MULTI_SZ",
        types::REG_QWORD => "REG_QWORD",
        _ => "another type",
    }
}

/// A string's UTF-16LE data, up to its first NUL.
fn sz(data: &[u8]) -> String {
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

impl RawValue {
    /// The value as the checks see it, decoded as the live registry API does:
    /// REG_SZ and REG_EXPAND_SZ are strings (not expanded), up to the first NUL;
    /// REG_MULTI_SZ stops at the empty string; REG_DWORD_BIG_ENDIAN is a DWORD;
    /// REG_NONE and every other type are bytes. A DWORD or QWORD of another size
    /// is an error.
    pub fn decode(&self) -> Result<RegistryValue, HiveError> {
        decode(&self.name, self.kind, &self.data)
    }
}

/// Decodes a value's type and bytes ([`RawValue::decode`]); shared with the live
/// registry, which gives the same type and bytes.
pub fn decode(name: &str, kind: u32, data: &[u8]) -> Result<RegistryValue, HiveError> {
    let wrong = |kind: &'static str| HiveError::BadValue {
        name: name.to_owned(),
        kind,
        len: data.len(),
    };
    Ok(match kind {
        types::REG_SZ | types::REG_EXPAND_SZ => RegistryValue::String(sz(data)),
        types::REG_MULTI_SZ => {
            let all = utf16(data);
            let mut out = Vec::new();
            for s in all.split('\0') {
                if s.is_empty() {
                    break;
                }
                out.push(s.to_owned());
            }
            RegistryValue::MultiString(out)
        }
        types::REG_DWORD => RegistryValue::Dword(u32::from_le_bytes(
            data.try_into().map_err(|_| wrong("REG_DWORD"))?,
        )),
        types::REG_DWORD_BIG_ENDIAN => RegistryValue::Dword(u32::from_be_bytes(
            data.try_into().map_err(|_| wrong("REG_DWORD_BIG_ENDIAN"))?,
        )),
        types::REG_QWORD => RegistryValue::Qword(u64::from_le_bytes(
            data.try_into().map_err(|_| wrong("REG_QWORD"))?,
        )),
        _ => RegistryValue::Binary(data.to_vec()),
    })
}

#[cfg(test)]
mod tests;
