//! Reading a bundle archive once, entry by entry, in bounded memory, whoever made it.
//!
//! The archive must be what `export` writes: one gzip member holding one tar archive of
//! regular files with plain relative paths, each once, and nothing after it but the
//! tar's zero padding. Everything else is refused as it is met — links, directories,
//! devices, GNU long names and PAX headers, absolute or `..` paths, a name twice, data
//! after the tar's end marker or after the gzip member. Limits on the number of entries,
//! the length of paths, the total inflated size and the inflation ratio are checked on
//! the bytes as they are inflated, never trusted from headers; entries are handed to a
//! visitor as readers and what it does not read is hashed and skipped, so nothing is held
//! that the visitor does not keep.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::rc::Rc;

use sha2::{Digest as _, Sha256};

/// What `verify` accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Entries in the archive.
    pub max_entries: usize,
    /// Bytes of a path.
    pub max_path: usize,
    /// Inflated bytes in all (the tar, headers and padding included).
    pub max_total: u64,
    /// Inflated bytes per compressed byte, checked once `ratio_floor` bytes are inflated.
    pub max_ratio: u64,
    pub ratio_floor: u64,
    /// Bytes of a file that `verify` holds in memory (an envelope, a key, the checkpoint,
    /// the signature), and of `manifest.json`.
    pub max_held: u64,
    pub max_manifest: u64,
    /// Bytes of work held for files that come out of the order `export` writes them in
    /// (envelopes before their agent's key, proofs before their envelope) and of the
    /// report's citations.
    pub max_pending: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 250_000,
            max_path: 200,
            max_total: 4 << 30,
            max_ratio: 100,
            ratio_floor: 64 << 20,
            max_held: 16 << 20,
            max_manifest: 64 << 20,
            max_pending: 64 << 20,
        }
    }
}

/// Why an archive was not checked.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The file itself could not be read.
    #[error("{0}")]
    Read(std::io::Error),
    #[error("not a gzip file ({0})")]
    NotGzip(String),
    #[error("not a readable tar.gz: {0}")]
    Corrupt(String),
    #[error("not in the layout `export` writes: {0}")]
    Layout(String),
    #[error("refused: {0}")]
    Limit(String),
}

/// The SHA-256 and size of a file of the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileDigest {
    pub sha256: [u8; 32],
    pub size: u64,
}

/// Errors raised inside the reader chain, told apart from the decoders' own.
#[derive(Debug)]
enum Raised {
    Read(std::io::Error),
    Limit(String),
}

impl std::fmt::Display for Raised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Raised::Read(e) => write!(f, "{e}"),
            Raised::Limit(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Raised {}

fn raised(e: Raised) -> std::io::Error {
    std::io::Error::other(e)
}

fn describe(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "it ends too early (truncated?)".into(),
        _ => e.to_string(),
    }
}

/// Maps an io error of the reader chain: ours (the file's, a limit) or a decoder's.
fn chain_error(e: std::io::Error, what: fn(String) -> ArchiveError) -> ArchiveError {
    if !e.get_ref().is_some_and(|i| i.is::<Raised>()) {
        return what(describe(&e));
    }
    match e.into_inner().map(|i| i.downcast::<Raised>()) {
        Some(Ok(r)) => match *r {
            Raised::Read(e) => ArchiveError::Read(e),
            Raised::Limit(m) => ArchiveError::Limit(m),
        },
        _ => what("unreadable".into()),
    }
}

/// The file: counts the compressed bytes read, and marks its errors as the file's.
struct Source<R> {
    inner: R,
    read: Rc<Cell<u64>>,
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf).map_err(|e| raised(Raised::Read(e)))?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

/// The inflated stream: enforces the total and the ratio as bytes come out.
struct Inflated<R> {
    inner: R,
    total: u64,
    compressed: Rc<Cell<u64>>,
    max_total: u64,
    max_ratio: u64,
    ratio_floor: u64,
}

impl<R: Read> Read for Inflated<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.total += n as u64;
        if self.total > self.max_total {
            return Err(raised(Raised::Limit(format!(
                "it inflates to more than {} bytes",
                self.max_total
            ))));
        }
        let compressed = self.compressed.get();
        if self.total > self.ratio_floor && self.total > compressed.saturating_mul(self.max_ratio) {
            return Err(raised(Raised::Limit(format!(
                "it inflates to more than {} times its compressed size ({} bytes from {}): \
                 a compression bomb",
                self.max_ratio, self.total, compressed
            ))));
        }
        Ok(n)
    }
}

/// One entry as the visitor sees it: its data, hashed as it is read.
pub struct EntryData<'a> {
    inner: &'a mut dyn Read,
    hasher: Sha256,
    read: u64,
}

impl Read for EntryData<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(b) = buf.get(..n) {
            self.hasher.update(b);
        }
        self.read += n as u64;
        Ok(n)
    }
}

impl EntryData<'_> {
    /// Reads the rest into memory, refusing more than `limit` bytes (counted as read).
    pub fn hold(&mut self, path: &str, size: u64, limit: u64) -> Result<Vec<u8>, ArchiveError> {
        if size > limit {
            return Err(ArchiveError::Limit(format!(
                "{path} is {size} bytes, more than the {limit} verify holds in memory"
            )));
        }
        let cap = usize::try_from(size.min(1 << 20)).unwrap_or(0);
        let mut v = Vec::with_capacity(cap);
        self.take(limit + 1)
            .read_to_end(&mut v)
            .map_err(|e| chain_error(e, ArchiveError::Corrupt))?;
        if v.len() as u64 > limit {
            return Err(ArchiveError::Limit(format!(
                "{path} is more than the {limit} bytes verify holds in memory"
            )));
        }
        Ok(v)
    }
}

/// Maps an error met while the visitor read an entry.
pub fn entry_error(e: std::io::Error) -> ArchiveError {
    chain_error(e, ArchiveError::Corrupt)
}

fn plain_path(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && p.split('/').all(|c| {
            !c.is_empty() && c != "." && c != ".." && !c.contains('\\') && !c.contains('\0')
        })
}

fn entry_kind(t: tar::EntryType) -> &'static str {
    match t {
        tar::EntryType::Directory => "a directory entry",
        tar::EntryType::Symlink => "a symbolic link",
        tar::EntryType::Link => "a hard link",
        tar::EntryType::Char => "a character device",
        tar::EntryType::Block => "a block device",
        tar::EntryType::Fifo => "a FIFO",
        tar::EntryType::GNULongName => "a GNU long-name header",
        tar::EntryType::GNULongLink => "a GNU long-link header",
        tar::EntryType::XHeader | tar::EntryType::XGlobalHeader => "a PAX extended header",
        tar::EntryType::GNUSparse => "a sparse file",
        _ => "an entry that is not a regular file",
    }
}

/// Reads the archive from `input`, handing each file to `visit` with its path, its size
/// and its data. Returns the SHA-256 and size of every file, by path.
pub fn read_archive<R: Read>(
    input: R,
    limits: &Limits,
    mut visit: impl FnMut(&str, u64, &mut EntryData<'_>) -> Result<(), ArchiveError>,
) -> Result<BTreeMap<String, FileDigest>, ArchiveError> {
    let compressed = Rc::new(Cell::new(0u64));
    let source = BufReader::with_capacity(
        64 << 10,
        Source {
            inner: input,
            read: compressed.clone(),
        },
    );
    let mut source = source;
    let head = source
        .fill_buf()
        .map_err(|e| chain_error(e, ArchiveError::NotGzip))?;
    if head.is_empty() {
        return Err(ArchiveError::NotGzip("the file is empty".into()));
    }
    if !head.starts_with(&[0x1f, 0x8b]) {
        return Err(ArchiveError::NotGzip(
            "it does not start with the gzip bytes 1f 8b".into(),
        ));
    }
    let gz = flate2::bufread::GzDecoder::new(source);
    let inflated = Inflated {
        inner: gz,
        total: 0,
        compressed,
        max_total: limits.max_total,
        max_ratio: limits.max_ratio,
        ratio_floor: limits.ratio_floor,
    };
    let mut archive = tar::Archive::new(inflated);
    let mut files: BTreeMap<String, FileDigest> = BTreeMap::new();
    {
        let entries = archive
            .entries()
            .map_err(|e| chain_error(e, ArchiveError::Corrupt))?
            .raw(true);
        for entry in entries {
            let mut entry = entry.map_err(|e| chain_error(e, ArchiveError::Corrupt))?;
            if files.len() >= limits.max_entries {
                return Err(ArchiveError::Limit(format!(
                    "more than {} files",
                    limits.max_entries
                )));
            }
            let raw = entry.path_bytes();
            if raw.len() > limits.max_path {
                return Err(ArchiveError::Layout(format!(
                    "a path of {} bytes (at most {})",
                    raw.len(),
                    limits.max_path
                )));
            }
            let path = String::from_utf8_lossy(&raw).into_owned();
            let kind = entry.header().entry_type();
            if !kind.is_file() {
                let shown = match kind {
                    tar::EntryType::Symlink | tar::EntryType::Link => {
                        match entry.link_name_bytes() {
                            Some(to) => format!("'{path}' -> '{}'", String::from_utf8_lossy(&to)),
                            None => format!("'{path}'"),
                        }
                    }
                    _ => format!("'{path}'"),
                };
                return Err(ArchiveError::Layout(format!(
                    "{} {shown} (a bundle holds only regular files)",
                    entry_kind(kind)
                )));
            }
            if std::str::from_utf8(&raw).is_err() || !plain_path(&path) {
                return Err(ArchiveError::Layout(format!(
                    "the entry '{path}' is not a plain relative path"
                )));
            }
            if files.contains_key(&path) {
                return Err(ArchiveError::Layout(format!(
                    "'{path}' is in the archive twice"
                )));
            }
            let size = entry.size();
            let mut data = EntryData {
                inner: &mut entry,
                hasher: Sha256::new(),
                read: 0,
            };
            visit(&path, size, &mut data)?;
            std::io::copy(&mut data, &mut std::io::sink()).map_err(entry_error)?;
            if data.read != size {
                return Err(ArchiveError::Corrupt(format!(
                    "{path} ends after {} of its {size} bytes (truncated?)",
                    data.read
                )));
            }
            let sha256: [u8; 32] = data.hasher.finalize().into();
            files.insert(path, FileDigest { sha256, size });
        }
    }
    // The tar's end: only zero padding may follow, up to the end of the gzip member.
    let mut rest = archive.into_inner();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = rest
            .read(&mut buf)
            .map_err(|e| chain_error(e, ArchiveError::Corrupt))?;
        if n == 0 {
            break;
        }
        if buf.get(..n).is_some_and(|b| b.iter().any(|&x| x != 0)) {
            return Err(ArchiveError::Layout(
                "data after the end of the tar archive".into(),
            ));
        }
    }
    // And nothing after the gzip member.
    let mut source = rest.inner.into_inner();
    let after = source
        .fill_buf()
        .map_err(|e| chain_error(e, ArchiveError::Corrupt))?;
    if !after.is_empty() {
        return Err(ArchiveError::Layout(if after.starts_with(&[0x1f, 0x8b]) {
            "a second gzip member after the first".into()
        } else {
            "data after the end of the gzip stream".into()
        }));
    }
    Ok(files)
}

/// The longest JSON string, number or literal `verify` reads from a streamed file: longer
/// ones are refused before a parser would buffer them.
pub const MAX_JSON_TOKEN: usize = 1 << 20;

/// Refuses a JSON token (a string, key or number) longer than [`MAX_JSON_TOKEN`], so that
/// parsing a streamed file holds at most that much of it.
pub struct JsonGuard<R> {
    inner: R,
    name: String,
    in_string: bool,
    escape: bool,
    run: usize,
}

impl<R> JsonGuard<R> {
    pub fn new(inner: R, name: &str) -> Self {
        JsonGuard {
            inner,
            name: name.to_owned(),
            in_string: false,
            escape: false,
            run: 0,
        }
    }
}

impl<R: Read> Read for JsonGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in buf.get(..n).unwrap_or_default() {
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                    self.run = 0;
                    continue;
                }
                self.run += 1;
            } else if b == b'"' {
                self.in_string = true;
                self.run = 0;
            } else if matches!(
                b,
                b'{' | b'}' | b'[' | b']' | b',' | b':' | b' ' | b'\n' | b'\r' | b'\t'
            ) {
                self.run = 0;
            } else {
                self.run += 1;
            }
            if self.run > MAX_JSON_TOKEN {
                return Err(raised(Raised::Limit(format!(
                    "{} holds a JSON string or number longer than {MAX_JSON_TOKEN} bytes",
                    self.name
                ))));
            }
        }
        Ok(n)
    }
}
