//! Files under a root, resolved as if chrooted.
//!
//! Paths are written as they are on the host (`/etc/ssh/sshd_config`,
//! `/Windows/System32/config/SOFTWARE`) and resolved inside the root by
//! [`resolve`], the same code whatever holds the files (a directory on this machine,
//! or the in-memory fake of the unit tests):
//!
//! - symlinks are followed component by component here, never by the kernel, so an
//!   absolute target such as `/usr/share/x` resolves to `ROOT/usr/share/x`, never to
//!   the machine's own file;
//! - `..` never climbs above the root;
//! - at most [`MAX_LINK_HOPS`] links are followed per path (a loop is an error);
//! - under a Windows root a component that does not exist as written is matched
//!   case-insensitively against its directory, as NTFS does.

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::SystemTime;

use super::ReadError;

/// How many symlinks one path may pass through, as Linux's `MAXSYMLINKS`.
pub const MAX_LINK_HOPS: usize = 40;

/// What a path is, without following a final symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    /// A device, socket or pipe.
    Other,
}

/// What the checks know of a file: its kind, size and modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub kind: FileKind,
    pub len: u64,
    pub modified: Option<SystemTime>,
    /// The owner's uid, where the file system keeps one (Unix).
    pub owner: Option<u32>,
}

impl Meta {
    pub fn is_file(&self) -> bool {
        self.kind == FileKind::File
    }

    pub fn is_dir(&self) -> bool {
        self.kind == FileKind::Dir
    }

    pub fn is_symlink(&self) -> bool {
        self.kind == FileKind::Symlink
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for a file of no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The modification time, when the file system keeps one.
    pub fn modified(&self) -> io::Result<SystemTime> {
        self.modified.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "no modification time on this file system",
            )
        })
    }

    fn of(meta: &fs::Metadata) -> Meta {
        let t = meta.file_type();
        let kind = if t.is_symlink() {
            FileKind::Symlink
        } else if t.is_dir() {
            FileKind::Dir
        } else if t.is_file() {
            FileKind::File
        } else {
            FileKind::Other
        };
        #[cfg(unix)]
        let owner = Some(std::os::unix::fs::MetadataExt::uid(meta));
        #[cfg(not(unix))]
        let owner = None;
        Meta {
            kind,
            len: meta.len(),
            modified: meta.modified().ok(),
            owner,
        }
    }
}

/// Where the files are. Every operation takes a path already resolved by
/// [`resolve`] (components, no links, no `..`), except that `lstat` is also asked
/// about each component on the way.
pub(crate) trait Backend: Send + Sync + fmt::Debug {
    /// Metadata of the path itself (a final symlink is not followed).
    fn lstat(&self, path: &[String]) -> io::Result<Meta>;
    /// The target of the symlink at `path`, as written in the link.
    fn read_link(&self, path: &[String]) -> io::Result<String>;
    /// At most `limit` bytes of the regular file at `path`.
    fn read(&self, path: &[String], limit: u64) -> io::Result<Vec<u8>>;
    /// The names in the directory at `path`, in any order.
    fn list(&self, path: &[String]) -> io::Result<Vec<String>>;
}

/// A directory of this machine holding a host's files.
#[derive(Debug)]
pub(crate) struct DirBackend {
    pub root: PathBuf,
}

impl DirBackend {
    fn real(&self, path: &[String]) -> PathBuf {
        let mut p = self.root.clone();
        for c in path {
            p.push(c);
        }
        p
    }
}

impl Backend for DirBackend {
    fn lstat(&self, path: &[String]) -> io::Result<Meta> {
        fs::symlink_metadata(self.real(path)).map(|m| Meta::of(&m))
    }

    fn read_link(&self, path: &[String]) -> io::Result<String> {
        fs::read_link(self.real(path)).map(|t| t.to_string_lossy().into_owned())
    }

    fn read(&self, path: &[String], limit: u64) -> io::Result<Vec<u8>> {
        let file = fs::File::open(self.real(path))?;
        let hint = file.metadata().map(|m| m.len()).unwrap_or(0);
        // sysfs and procfs report a size of 4096 or 0: read to the end, bounded.
        let mut buf = Vec::with_capacity(hint.min(1 << 20) as usize);
        file.take(limit).read_to_end(&mut buf)?;
        Ok(buf)
    }

    fn list(&self, path: &[String]) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(self.real(path))? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }
}

/// How a path is matched against the names in a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    /// Exactly (Linux, and macOS images as mounted here).
    Sensitive,
    /// A name that does not exist as written matches one that differs in case only
    /// (NTFS: `windows/system32` is `Windows/System32`).
    Insensitive,
}

/// The name in `dir` that `name` means: itself when it exists, else (under
/// [`Case::Insensitive`]) the first name, in sorted order, equal ignoring case.
fn find_name(
    backend: &dyn Backend,
    dir: &[String],
    name: &str,
    case: Case,
) -> io::Result<Option<String>> {
    if case == Case::Sensitive {
        return Ok(None);
    }
    let wanted = name.to_lowercase();
    let mut names = backend.list(dir)?;
    names.sort();
    Ok(names.into_iter().find(|n| n.to_lowercase() == wanted))
}

/// Resolves `path` inside the root: its components with every symlink followed
/// (the last one only with `follow_last`). With `missing_ok`, a component that does
/// not exist ends the walk: it and the rest are appended as written (`..` still
/// never climbing above the root), as `realpath -m` does.
pub(crate) fn resolve(
    backend: &dyn Backend,
    case: Case,
    path: &str,
    follow_last: bool,
    missing_ok: bool,
) -> Result<Vec<String>, ReadError> {
    let mut pending: std::collections::VecDeque<String> = split(path).collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut hops = 0usize;
    while let Some(component) = pending.pop_front() {
        if component == ".." {
            resolved.pop();
            continue;
        }
        resolved.push(component);
        if pending.is_empty() && !follow_last && case == Case::Sensitive {
            break;
        }
        let meta = match lstat_matching(backend, case, &mut resolved) {
            Ok(meta) => meta,
            Err(e) if missing_ok && e.kind() == io::ErrorKind::NotFound => {
                for c in pending.drain(..) {
                    if c == ".." {
                        resolved.pop();
                    } else {
                        resolved.push(c);
                    }
                }
                break;
            }
            Err(e) if pending.is_empty() && !follow_last => {
                // lstat of a final component that is absent: the caller says so.
                if e.kind() == io::ErrorKind::NotFound {
                    break;
                }
                return Err(ReadError::from_io(path, e));
            }
            Err(e) => return Err(ReadError::from_io(path, e)),
        };
        if pending.is_empty() && !follow_last {
            break;
        }
        if meta.is_symlink() {
            hops += 1;
            if hops > MAX_LINK_HOPS {
                return Err(ReadError::LinkLoop {
                    path: path.to_owned(),
                });
            }
            let target = backend
                .read_link(&resolved)
                .map_err(|e| ReadError::from_io(path, e))?;
            resolved.pop();
            if target.starts_with('/') {
                resolved.clear();
            }
            for (i, c) in split(&target).enumerate() {
                pending.insert(i, c);
            }
        } else if !pending.is_empty() && !meta.is_dir() {
            return Err(ReadError::NotFound {
                path: path.to_owned(),
            });
        }
    }
    Ok(resolved)
}

/// `lstat` of the last component of `resolved`; under [`Case::Insensitive`] a
/// component missing as written is replaced by the name that matches it.
fn lstat_matching(backend: &dyn Backend, case: Case, resolved: &mut [String]) -> io::Result<Meta> {
    match backend.lstat(resolved) {
        Err(e) if e.kind() == io::ErrorKind::NotFound && case == Case::Insensitive => {
            let Some((last, dir)) = resolved.split_last_mut() else {
                return Err(e);
            };
            match find_name(backend, dir, last, case) {
                Ok(Some(name)) => {
                    *last = name;
                    backend.lstat(resolved)
                }
                _ => Err(e),
            }
        }
        other => other,
    }
}

pub(crate) fn split(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_owned)
}

pub(crate) fn join(components: &[String]) -> String {
    if components.is_empty() {
        "/".to_owned()
    } else {
        let mut s = String::new();
        for c in components {
            s.push('/');
            s.push_str(c);
        }
        s
    }
}
