//! A test-only hive writer: `.reg` text (as `regedit` exports it) to a hive file,
//! clean, or dirty with a `.LOG1` carrying the latest changes. The fixtures' hives
//! are made from reviewable text with it, so that none carries real secrets.
//!
//! Accepted text: the `Windows Registry Editor Version 5.00` header, `;` comments,
//! `[KEY]` sections (`[-KEY]` deletes a key and its subkeys), and values
//! `"Name"=…` or `@=…` (the default value) as `"string"`, `dword:0000001a`,
//! `hex:01,02` (REG_BINARY), `hex(N):…` (type N in hex: `hex(2)` expand string,
//! `hex(7)` multi string, `hex(b)` qword, `hex(0)` none, …), or `-` (delete); a
//! line ending in `\` continues on the next. Keys are written below a prefix
//! naming the hive's root (`HKEY_LOCAL_MACHINE\SOFTWARE`).

use std::collections::BTreeMap;

use super::log::{SEED, marvin32};
use super::{BASE_BLOCK, MAX_SEGMENT, NO_OFFSET, RawValue, checksum, types, upcase};

/// What is wrong with a line of `.reg` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct RegTextError {
    pub line: usize,
    pub message: String,
}

/// A key and everything below it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    pub name: String,
    /// By upcased name.
    pub values: BTreeMap<String, RawValue>,
    /// By upcased name: the order Windows keeps subkey lists in.
    pub subkeys: BTreeMap<String, Tree>,
}

impl Tree {
    /// Every key and value of a hive read by the reader (`super::Hive`), with the
    /// logs it was given applied: what the writer would need to write it again.
    pub fn read(hive: &super::Hive) -> Result<Tree, super::HiveError> {
        fn walk(k: super::Key<'_>) -> Result<Tree, super::HiveError> {
            let mut t = Tree::new(&k.name()?);
            for v in k.values()? {
                t.values.insert(super::upcase(&v.name), v);
            }
            for c in k.subkeys()? {
                let sub = walk(c)?;
                t.subkeys.insert(super::upcase(&sub.name), sub);
            }
            Ok(t)
        }
        walk(hive.root())
    }

    /// An empty root key called `name`.
    pub fn new(name: &str) -> Tree {
        Tree {
            name: name.to_owned(),
            ..Tree::default()
        }
    }

    /// Parses `.reg` text whose keys are all below `prefix`.
    pub fn from_reg(text: &str, prefix: &str) -> Result<Tree, RegTextError> {
        let root = prefix.rsplit('\\').next().unwrap_or(prefix);
        let mut tree = Tree::new(root);
        tree.apply(text, prefix)?;
        Ok(tree)
    }

    fn key_mut(&mut self, path: &[String]) -> &mut Tree {
        let mut key = self;
        for part in path {
            key = key
                .subkeys
                .entry(upcase(part))
                .or_insert_with(|| Tree::new(part));
        }
        key
    }

    /// Applies `.reg` text (adds, changes and deletes) to the tree.
    pub fn apply(&mut self, text: &str, prefix: &str) -> Result<(), RegTextError> {
        let mut current: Option<Vec<String>> = None;
        for (line, content) in logical_lines(text) {
            let err = |message: String| RegTextError { line, message };
            let content = content.trim();
            if content.is_empty()
                || content.starts_with(';')
                || content == "Windows Registry Editor Version 5.00"
            {
                continue;
            }
            if let Some(section) = content.strip_prefix('[') {
                let section = section
                    .strip_suffix(']')
                    .ok_or_else(|| err("a section without ]".to_owned()))?;
                let (delete, section) = match section.strip_prefix('-') {
                    Some(s) => (true, s),
                    None => (false, section),
                };
                let path = below(section, prefix)
                    .ok_or_else(|| err(format!("{section} is not below {prefix}")))?;
                if delete {
                    if let Some((last, parent)) = path.split_last() {
                        self.key_mut(parent).subkeys.remove(&upcase(last));
                    }
                    current = None;
                } else {
                    self.key_mut(&path);
                    current = Some(path);
                }
                continue;
            }
            let path = current
                .as_ref()
                .ok_or_else(|| err("a value outside a section".to_owned()))?;
            let (name, rest) =
                value_name(content).ok_or_else(|| err("no value name".to_owned()))?;
            let data = rest
                .trim_start()
                .strip_prefix('=')
                .ok_or_else(|| err("no = after the value name".to_owned()))?
                .trim();
            let key = self.key_mut(path);
            if data == "-" {
                key.values.remove(&upcase(&name));
                continue;
            }
            let (kind, bytes) = value_data(data).map_err(err)?;
            key.values.insert(
                upcase(&name),
                RawValue {
                    name,
                    kind,
                    data: bytes,
                },
            );
        }
        Ok(())
    }
}

/// Lines with `\` continuations joined, numbered from 1 by their first line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let raw = raw.trim_end_matches('\r');
        let (n, mut acc) = pending.take().unwrap_or_else(|| (i + 1, String::new()));
        let trimmed = raw.trim_end();
        if let Some(head) = trimmed
            .strip_suffix('\\')
            .filter(|_| !trimmed.starts_with('['))
        {
            acc.push_str(head.trim());
            pending = Some((n, acc));
        } else {
            acc.push_str(if acc.is_empty() { raw } else { raw.trim() });
            out.push((n, acc));
        }
    }
    out.extend(pending);
    out
}

/// The components of `section` below `prefix` (compared case-insensitively).
fn below(section: &str, prefix: &str) -> Option<Vec<String>> {
    let parts: Vec<&str> = section.split('\\').filter(|p| !p.is_empty()).collect();
    let pre: Vec<&str> = prefix.split('\\').filter(|p| !p.is_empty()).collect();
    if parts.len() < pre.len() || !parts.iter().zip(&pre).all(|(a, b)| upcase(a) == upcase(b)) {
        return None;
    }
    Some(parts[pre.len()..].iter().map(|s| (*s).to_owned()).collect())
}

/// A quoted string with `\\` and `\"` escapes at the start of `s`, and what follows.
fn quoted(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &body[i + 1..])),
            '\\' => out.push(chars.next()?.1),
            c => out.push(c),
        }
    }
    None
}

fn value_name(line: &str) -> Option<(String, &str)> {
    match line.strip_prefix('@') {
        Some(rest) => Some((String::new(), rest)),
        None => quoted(line),
    }
}

fn utf16z(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain([0])
        .flat_map(u16::to_le_bytes)
        .collect()
}

fn value_data(data: &str) -> Result<(u32, Vec<u8>), String> {
    if data.starts_with('"') {
        let (s, rest) = quoted(data).ok_or("an unterminated string")?;
        if !rest.trim().is_empty() {
            return Err(format!("text after a string: {rest}"));
        }
        return Ok((types::REG_SZ, utf16z(&s)));
    }
    if let Some(hex) = data.strip_prefix("dword:") {
        let v = u32::from_str_radix(hex.trim(), 16).map_err(|e| format!("dword:{hex}: {e}"))?;
        return Ok((types::REG_DWORD, v.to_le_bytes().to_vec()));
    }
    let (kind, list) = if let Some(list) = data.strip_prefix("hex:") {
        (types::REG_BINARY, list)
    } else if let Some(rest) = data.strip_prefix("hex(") {
        let (n, list) = rest.split_once("):").ok_or("hex( without ):")?;
        let kind = u32::from_str_radix(n, 16).map_err(|e| format!("hex({n}): {e}"))?;
        (kind, list)
    } else {
        return Err(format!("unknown value data {data}"));
    };
    let bytes = list
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(|b| u8::from_str_radix(b, 16).map_err(|e| format!("hex byte {b}: {e}")))
        .collect::<Result<Vec<u8>, String>>()?;
    Ok((kind, bytes))
}

/// Hive bins data being laid out, one cell after another.
struct Bins {
    data: Vec<u8>,
    /// Start of the current hive bin.
    bin: usize,
    /// Start of the free cell at the end of the current bin.
    free: usize,
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

/// A name as stored: Latin-1 when every character fits, else UTF-16LE.
fn stored_name(name: &str) -> (Vec<u8>, bool) {
    if name.chars().all(|c| (c as u32) < 0x100) {
        (name.chars().map(|c| c as u8).collect(), true)
    } else {
        (
            name.encode_utf16().flat_map(u16::to_le_bytes).collect(),
            false,
        )
    }
}

/// The hash of an `lh` list entry: the upcased name, base 37.
fn name_hash(name: &str) -> u32 {
    upcase(name)
        .chars()
        .fold(0u32, |h, c| h.wrapping_mul(37).wrapping_add(c as u32))
}

impl Bins {
    fn new() -> Bins {
        let mut b = Bins {
            data: Vec::new(),
            bin: 0,
            free: 0,
        };
        b.open_bin(4096);
        b
    }

    fn open_bin(&mut self, size: usize) {
        self.bin = self.data.len();
        self.data.resize(self.bin + size, 0);
        let bin = self.bin;
        self.data[bin..bin + 4].copy_from_slice(b"hbin");
        put_u32(&mut self.data, bin + 4, bin as u32);
        put_u32(&mut self.data, bin + 8, size as u32);
        self.set_free(bin + 32);
    }

    /// Marks everything from `at` to the end of the current bin as one free cell.
    fn set_free(&mut self, at: usize) {
        self.free = at;
        let left = self.data.len() - at;
        if left > 0 {
            put_u32(&mut self.data, at, left as u32);
        }
    }

    /// Allocates a cell holding `payload`; its offset.
    fn alloc(&mut self, payload: &[u8]) -> u32 {
        let size = (payload.len() + 4).div_ceil(8) * 8;
        let mut at = self.free;
        if self.data.len() - at < size {
            let bin_size = (size + 32).div_ceil(4096) * 4096;
            self.open_bin(bin_size);
            at = self.bin + 32;
        }
        put_u32(&mut self.data, at, (-(size as i32)) as u32);
        self.data[at + 4..at + 4 + payload.len()].copy_from_slice(payload);
        self.set_free(at + size);
        at as u32
    }

    fn patch(&mut self, cell: u32, payload: &[u8]) {
        let at = cell as usize + 4;
        self.data[at..at + payload.len()].copy_from_slice(payload);
    }

    fn value(&mut self, v: &RawValue) -> u32 {
        let len = v.data.len();
        let (size, data_at) = if len <= 4 {
            let mut inline = [0u8; 4];
            inline[..len].copy_from_slice(&v.data);
            (len as u32 | 0x8000_0000, u32::from_le_bytes(inline))
        } else if len > MAX_SEGMENT {
            let segments: Vec<u32> = v.data.chunks(MAX_SEGMENT).map(|c| self.alloc(c)).collect();
            let list: Vec<u8> = segments.iter().flat_map(|s| s.to_le_bytes()).collect();
            let list_at = self.alloc(&list);
            let mut db = b"db".to_vec();
            db.extend((segments.len() as u16).to_le_bytes());
            db.extend(list_at.to_le_bytes());
            (len as u32, self.alloc(&db))
        } else {
            (len as u32, self.alloc(&v.data))
        };
        let (name, latin1) = stored_name(&v.name);
        let mut vk = vec![0u8; 20];
        vk[0..2].copy_from_slice(b"vk");
        put_u16(&mut vk, 2, name.len() as u16);
        put_u32(&mut vk, 4, size);
        put_u32(&mut vk, 8, data_at);
        put_u32(&mut vk, 12, v.kind);
        put_u16(&mut vk, 16, u16::from(latin1));
        vk.extend(name);
        self.alloc(&vk)
    }

    fn key(&mut self, key: &Tree, parent: u32, sk: u32, root: bool, count: &mut u32) -> u32 {
        *count += 1;
        let (name, latin1) = stored_name(&key.name);
        let mut nk = vec![0u8; 76];
        nk.extend(&name);
        let at = self.alloc(&nk);
        let children: Vec<(u32, u32)> = key
            .subkeys
            .values()
            .map(|c| (self.key(c, at, sk, false, count), name_hash(&c.name)))
            .collect();
        let list = if children.is_empty() {
            NO_OFFSET
        } else {
            let mut lh = b"lh".to_vec();
            lh.extend((children.len() as u16).to_le_bytes());
            for (offset, hash) in &children {
                lh.extend(offset.to_le_bytes());
                lh.extend(hash.to_le_bytes());
            }
            self.alloc(&lh)
        };
        let values: Vec<u32> = key.values.values().map(|v| self.value(v)).collect();
        let value_list = if values.is_empty() {
            NO_OFFSET
        } else {
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            self.alloc(&bytes)
        };
        let flags: u16 = if root { 0x0C } else { 0 } | if latin1 { 0x20 } else { 0 };
        nk[0..2].copy_from_slice(b"nk");
        put_u16(&mut nk, 2, flags);
        put_u32(&mut nk, 16, if root { NO_OFFSET } else { parent });
        put_u32(&mut nk, 20, children.len() as u32);
        put_u32(&mut nk, 28, list);
        put_u32(&mut nk, 32, NO_OFFSET);
        put_u32(&mut nk, 36, values.len() as u32);
        put_u32(&mut nk, 40, value_list);
        put_u32(&mut nk, 44, sk);
        put_u32(&mut nk, 48, NO_OFFSET);
        let longest = |it: &mut dyn Iterator<Item = usize>| it.max().unwrap_or(0) as u32;
        put_u32(
            &mut nk,
            52,
            longest(&mut key.subkeys.values().map(|c| c.name.len() * 2)),
        );
        put_u32(
            &mut nk,
            60,
            longest(&mut key.values.values().map(|v| v.name.len() * 2)),
        );
        put_u32(
            &mut nk,
            64,
            longest(&mut key.values.values().map(|v| v.data.len())),
        );
        put_u16(&mut nk, 72, name.len() as u16);
        self.patch(at, &nk);
        at
    }
}

/// A base block for hive bins data of `size` bytes.
fn base_block(primary: u32, secondary: u32, file_type: u32, root: u32, size: u32) -> Vec<u8> {
    let mut b = vec![0u8; BASE_BLOCK];
    b[0..4].copy_from_slice(b"regf");
    put_u32(&mut b, 4, primary);
    put_u32(&mut b, 8, secondary);
    put_u32(&mut b, 20, 1);
    put_u32(&mut b, 24, 5);
    put_u32(&mut b, 28, file_type);
    put_u32(&mut b, 32, 1);
    put_u32(&mut b, 36, root);
    put_u32(&mut b, 40, size);
    put_u32(&mut b, 44, 1);
    let c = checksum(&b).unwrap_or(1);
    put_u32(&mut b, 508, c);
    b
}

/// The hive bins data of `tree` and its root cell's offset.
fn bins(tree: &Tree) -> (Vec<u8>, u32) {
    let mut bins = Bins::new();
    // One security record (a self-relative descriptor with no owner, group or
    // ACLs) shared by every key, its list pointing at itself.
    let mut sk = b"sk\0\0".to_vec();
    sk.extend([0u8; 12]);
    sk.extend(20u32.to_le_bytes());
    sk.extend([1, 0, 0x00, 0x80]);
    sk.extend([0u8; 16]);
    let sk_at = bins.alloc(&sk);
    let mut count = 0;
    let root = bins.key(tree, NO_OFFSET, sk_at, true, &mut count);
    let mut head = sk[..16].to_vec();
    head[4..8].copy_from_slice(&sk_at.to_le_bytes());
    head[8..12].copy_from_slice(&sk_at.to_le_bytes());
    head[12..16].copy_from_slice(&count.to_le_bytes());
    bins.patch(sk_at, &head);
    (bins.data, root)
}

/// A clean hive file holding `tree`.
pub fn hive(tree: &Tree) -> Vec<u8> {
    let (data, root) = bins(tree);
    let mut out = base_block(7, 7, 0, root, data.len() as u32);
    out.extend(data);
    out
}

/// A dirty hive: the primary file holds `old`, and its `.LOG1` one log entry
/// with every page that differs in `new`. The primary file's sequence numbers are
/// 8 and 7: sequence 7 is the entry in the log.
pub fn dirty_hive(old: &Tree, new: &Tree) -> (Vec<u8>, Vec<u8>) {
    let (old_data, old_root) = bins(old);
    let (new_data, new_root) = bins(new);
    let mut primary = base_block(8, 7, 0, old_root, old_data.len() as u32);
    primary.extend(&old_data);
    // The log entry's pages: every 4 KiB page of the new data that is not the same
    // in the old. The root may move: the log's base block copy has the new one.
    let pages: Vec<(u32, &[u8])> = new_data
        .chunks(4096)
        .enumerate()
        .filter(|(i, page)| old_data.get(i * 4096..(i + 1) * 4096) != Some(*page))
        .map(|(i, page)| ((i * 4096) as u32, page))
        .collect();
    let mut log = base_block(7, 7, 6, new_root, new_data.len() as u32)[..512].to_vec();
    log.extend(log_entry(7, new_data.len() as u32, &pages));
    // A recovered hive keeps the primary base block's root: make it the new one.
    if old_root != new_root {
        let mut fixed = base_block(8, 7, 0, new_root, old_data.len() as u32);
        fixed.extend(&old_data);
        primary = fixed;
    }
    (primary, log)
}

/// One `HvLE` log entry.
pub fn log_entry(sequence: u32, hive_bins_size: u32, pages: &[(u32, &[u8])]) -> Vec<u8> {
    let mut e = vec![0u8; 40];
    e[0..4].copy_from_slice(b"HvLE");
    put_u32(&mut e, 12, sequence);
    put_u32(&mut e, 16, hive_bins_size);
    put_u32(&mut e, 20, pages.len() as u32);
    for (offset, page) in pages {
        e.extend(offset.to_le_bytes());
        e.extend((page.len() as u32).to_le_bytes());
    }
    for (_, page) in pages {
        e.extend(*page);
    }
    e.resize(e.len().div_ceil(512) * 512, 0);
    let size = e.len() as u32;
    put_u32(&mut e, 4, size);
    let h1 = marvin32(SEED, &e[40..]);
    e[24..32].copy_from_slice(&h1.to_le_bytes());
    let h2 = marvin32(SEED, &e[..32]);
    e[32..40].copy_from_slice(&h2.to_le_bytes());
    e
}

/// Why fixture hives could not be made.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Text { path: String, source: RegTextError },
    #[error(
        "{path}: not a hive's .reg file (SYSTEM, SOFTWARE, SAM, SECURITY, NTUSER.<profile>, each optionally .LOG1)"
    )]
    Name { path: String },
}

/// Makes a Windows root's hive files from a fixture's `.reg` files in `hives`:
///
/// - `SYSTEM.reg`, `SOFTWARE.reg`, `SAM.reg`, `SECURITY.reg` (keys below
///   `HKEY_LOCAL_MACHINE\<HIVE>`) → `root/Windows/System32/config/<HIVE>`;
/// - `NTUSER.<profile>.reg` (keys below `HKEY_CURRENT_USER`) →
///   `root/Users/<profile>/NTUSER.DAT`;
/// - `<name>.LOG1.reg` next to one of those: changes (adds, `-` deletions) that
///   are only in the transaction log: the hive is written dirty, with a `.LOG1`.
///
/// Returns the host paths written, sorted.
pub fn materialise(
    hives: &std::path::Path,
    root: &std::path::Path,
) -> Result<Vec<String>, FixtureError> {
    let io = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| FixtureError::Io { path, source }
    };
    let mut written = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(hives)
        .map_err(io(hives))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".reg") && !n.ends_with(".LOG1.reg"))
        .collect();
    names.sort();
    for name in names {
        let stem = name.trim_end_matches(".reg");
        let source = hives.join(&name);
        let (prefix, target) = if let Some(profile) = stem.strip_prefix("NTUSER.") {
            (
                "HKEY_CURRENT_USER".to_owned(),
                format!("Users/{profile}/NTUSER.DAT"),
            )
        } else if ["SYSTEM", "SOFTWARE", "SAM", "SECURITY"].contains(&stem) {
            (
                format!("HKEY_LOCAL_MACHINE\\{stem}"),
                format!("Windows/System32/config/{stem}"),
            )
        } else {
            return Err(FixtureError::Name {
                path: source.display().to_string(),
            });
        };
        let read = |path: &std::path::Path| -> Result<String, FixtureError> {
            std::fs::read_to_string(path).map_err(io(path))
        };
        let text_error = |path: &std::path::Path| {
            let path = path.display().to_string();
            move |source| FixtureError::Text { path, source }
        };
        let tree = Tree::from_reg(&read(&source)?, &prefix).map_err(text_error(&source))?;
        let out = root.join(&target);
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let log_source = hives.join(format!("{stem}.LOG1.reg"));
        if log_source.exists() {
            let mut new = tree.clone();
            new.apply(&read(&log_source)?, &prefix)
                .map_err(text_error(&log_source))?;
            let (primary, log) = dirty_hive(&tree, &new);
            std::fs::write(&out, primary).map_err(io(&out))?;
            let log_out = root.join(format!("{target}.LOG1"));
            std::fs::write(&log_out, log).map_err(io(&log_out))?;
            written.push(format!("/{target}.LOG1"));
        } else {
            std::fs::write(&out, hive(&tree)).map_err(io(&out))?;
        }
        written.push(format!("/{target}"));
    }
    written.sort();
    Ok(written)
}
