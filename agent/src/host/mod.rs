//! The host-root reader: every probe reads the host through one [`HostRoot`].
//!
//! A root is `/` for a live host, or a directory holding a host's files (a mounted
//! disk image, a test fixture). Paths are always written as they are on the host
//! (`/etc/ssh/sshd_config`) and resolved inside the root as if chrooted:
//!
//! - symlinks are followed component by component by this module, never by the
//!   kernel, so an absolute target such as `/usr/share/x` resolves to
//!   `ROOT/usr/share/x`, never to the machine's own file;
//! - `..` never climbs above the root;
//! - at most [`MAX_LINK_HOPS`] links are followed per path (a loop is an error).
//!
//! Commands run only on a live host (root `/`), with no shell, a fixed `PATH`, the
//! C locale and a timeout; under any other root [`HostRoot::run`] refuses.

mod command;

pub use command::{CommandError, CommandOutput};

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// How many symlinks one path may pass through, as Linux's `MAXSYMLINKS`.
pub const MAX_LINK_HOPS: usize = 40;

/// The largest file a probe reads (decompressed package indexes stay below this).
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// Why a path under the root could not be read. Messages name the path as it is
/// on the host and say what to do where there is something to do.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: not found")]
    NotFound { path: String },
    #[error("{path}: permission denied; run as root")]
    PermissionDenied { path: String },
    #[error("{path}: too many levels of symbolic links")]
    LinkLoop { path: String },
    #[error("{path}: not a regular file")]
    NotAFile { path: String },
    #[error("{path}: larger than {limit} bytes")]
    TooLarge { path: String, limit: u64 },
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
}

impl ReadError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::NotFound { .. })
    }

    pub fn is_permission_denied(&self) -> bool {
        matches!(self, ReadError::PermissionDenied { .. })
    }

    fn from_io(path: &str, err: io::Error) -> Self {
        let path = path.to_owned();
        match err.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => ReadError::NotFound { path },
            io::ErrorKind::PermissionDenied => ReadError::PermissionDenied { path },
            _ if err.raw_os_error() == Some(20) => ReadError::NotFound { path }, // ENOTDIR
            _ if err.raw_os_error() == Some(40) => ReadError::LinkLoop { path }, // ELOOP
            _ => ReadError::Io { path, source: err },
        }
    }
}

/// Why a root could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    #[error("--root {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("--root {path}: not a directory")]
    NotADirectory { path: String },
}

/// Reads a host's files under a root directory, resolving symlinks inside it.
#[derive(Debug, Clone)]
pub struct HostRoot {
    root: PathBuf,
    live: bool,
}

impl HostRoot {
    /// Opens `root`; it must be an existing directory. The host is *live* when the
    /// root is the machine's own `/`.
    pub fn open(root: &Path) -> Result<Self, RootError> {
        let display = root.display().to_string();
        let canonical = fs::canonicalize(root).map_err(|source| RootError::Io {
            path: display.clone(),
            source,
        })?;
        let meta = fs::metadata(&canonical).map_err(|source| RootError::Io {
            path: display.clone(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(RootError::NotADirectory { path: display });
        }
        let live = canonical == Path::new("/");
        Ok(HostRoot {
            root: canonical,
            live,
        })
    }

    /// True when the root is the machine's own `/`: commands may run.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// The root directory on the machine.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The machine path of a host path that has already been resolved.
    fn real(&self, components: &[String]) -> PathBuf {
        let mut p = self.root.clone();
        for c in components {
            p.push(c);
        }
        p
    }

    /// Resolves `path` inside the root and returns its canonical host path
    /// (absolute, no links, no `..`). With `follow_last` false the last component
    /// is not followed when it is a symlink (like `lstat`).
    fn resolve_components(&self, path: &str, follow_last: bool) -> Result<Vec<String>, ReadError> {
        self.resolve_inner(path, follow_last, false)
    }

    /// The resolution behind [`Self::resolve_components`]. With `missing_ok`, a
    /// component that does not exist ends the walk: it and the rest are appended
    /// as written (`..` still never climbing above the root), as `realpath -m` does.
    fn resolve_inner(
        &self,
        path: &str,
        follow_last: bool,
        missing_ok: bool,
    ) -> Result<Vec<String>, ReadError> {
        let mut pending: VecDeque<String> = split(path).collect();
        let mut resolved: Vec<String> = Vec::new();
        let mut hops = 0usize;
        while let Some(component) = pending.pop_front() {
            if component == ".." {
                resolved.pop();
                continue;
            }
            resolved.push(component);
            if pending.is_empty() && !follow_last {
                break;
            }
            let real = self.real(&resolved);
            let meta = match fs::symlink_metadata(&real) {
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
                Err(e) => return Err(ReadError::from_io(path, e)),
            };
            if meta.file_type().is_symlink() {
                hops += 1;
                if hops > MAX_LINK_HOPS {
                    return Err(ReadError::LinkLoop {
                        path: path.to_owned(),
                    });
                }
                let target = fs::read_link(&real).map_err(|e| ReadError::from_io(path, e))?;
                let target = target.to_string_lossy().into_owned();
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

    /// The canonical host path of `path`: every symlink followed inside the root.
    pub fn canonical(&self, path: &str) -> Result<String, ReadError> {
        let components = self.resolve_components(path, true)?;
        Ok(join(&components))
    }

    /// The host path that `path` resolves to, every symlink followed inside the
    /// root, even when the final target does not exist under the root (a unit
    /// masked by a link to `/dev/null` in a disk image without `/dev`). `Err` for
    /// a link loop or an unreadable directory on the way.
    pub fn resolve_target(&self, path: &str) -> Result<String, ReadError> {
        let components = self.resolve_inner(path, true, true)?;
        Ok(join(&components))
    }

    /// The machine path that `path` resolves to (for `std::fs` calls made here only).
    fn real_path(&self, path: &str) -> Result<PathBuf, ReadError> {
        let components = self.resolve_components(path, true)?;
        Ok(self.real(&components))
    }

    /// Reads a regular file whole.
    pub fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        let real = self.real_path(path)?;
        let meta = fs::metadata(&real).map_err(|e| ReadError::from_io(path, e))?;
        if !meta.is_file() {
            return Err(ReadError::NotAFile {
                path: path.to_owned(),
            });
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(ReadError::TooLarge {
                path: path.to_owned(),
                limit: MAX_FILE_BYTES,
            });
        }
        let file = fs::File::open(&real).map_err(|e| ReadError::from_io(path, e))?;
        // sysfs and procfs report a size of 4096 or 0: read to the end, bounded.
        let mut buf = Vec::with_capacity(meta.len().min(1 << 20) as usize);
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut buf)
            .map_err(|e| ReadError::from_io(path, e))?;
        if buf.len() as u64 > MAX_FILE_BYTES {
            return Err(ReadError::TooLarge {
                path: path.to_owned(),
                limit: MAX_FILE_BYTES,
            });
        }
        Ok(buf)
    }

    /// Reads a file as text; invalid UTF-8 is replaced, never an error.
    pub fn read_string(&self, path: &str) -> Result<String, ReadError> {
        let bytes = self.read(path)?;
        Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// The names in a directory, sorted bytewise (as `LC_ALL=C ls`).
    pub fn list_dir(&self, path: &str) -> Result<Vec<String>, ReadError> {
        let real = self.real_path(path)?;
        let entries = fs::read_dir(&real).map_err(|e| ReadError::from_io(path, e))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| ReadError::from_io(path, e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    /// Metadata of what `path` resolves to (links followed).
    pub fn metadata(&self, path: &str) -> Result<fs::Metadata, ReadError> {
        let real = self.real_path(path)?;
        fs::metadata(&real).map_err(|e| ReadError::from_io(path, e))
    }

    /// Metadata of `path` itself: a final symlink is not followed.
    pub fn symlink_metadata(&self, path: &str) -> Result<fs::Metadata, ReadError> {
        let components = self.resolve_components(path, false)?;
        fs::symlink_metadata(self.real(&components)).map_err(|e| ReadError::from_io(path, e))
    }

    /// The target of the symlink at `path`, as written in the link (not resolved).
    pub fn read_link(&self, path: &str) -> Result<String, ReadError> {
        let components = self.resolve_components(path, false)?;
        let target =
            fs::read_link(self.real(&components)).map_err(|e| ReadError::from_io(path, e))?;
        Ok(target.to_string_lossy().into_owned())
    }

    /// True when `path` resolves to something that exists.
    pub fn exists(&self, path: &str) -> bool {
        self.metadata(path).is_ok()
    }

    /// True when `path` resolves to a directory.
    pub fn is_dir(&self, path: &str) -> bool {
        self.metadata(path).map(|m| m.is_dir()).unwrap_or(false)
    }

    /// True when `path` resolves to a regular file.
    pub fn is_file(&self, path: &str) -> bool {
        self.metadata(path).map(|m| m.is_file()).unwrap_or(false)
    }

    /// True when `path` itself is a symlink.
    pub fn is_symlink(&self, path: &str) -> bool {
        self.symlink_metadata(path)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false)
    }

    /// Runs a program on a live host: no shell, `PATH=/usr/sbin:/usr/bin:/sbin:/bin`,
    /// `LC_ALL=C`, standard input closed, a timeout. Refused under any other root.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<CommandOutput, CommandError> {
        if !self.live {
            return Err(CommandError::Offline {
                program: program.to_owned(),
            });
        }
        command::run(program, args)
    }
}

fn split(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_owned)
}

fn join(components: &[String]) -> String {
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

/// Joins a host directory path and a name.
pub fn join_path(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn fixture() -> (tempfile::TempDir, HostRoot) {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        fs::create_dir_all(r.join("etc/ssh")).unwrap();
        fs::create_dir_all(r.join("usr/share/x")).unwrap();
        fs::write(r.join("usr/share/x/file"), "inside").unwrap();
        fs::write(r.join("etc/ssh/sshd_config"), "PermitRootLogin no\n").unwrap();
        symlink("/usr/share/x", r.join("etc/abs")).unwrap();
        symlink("../usr/share/x/file", r.join("etc/rel")).unwrap();
        symlink("../../../../../../etc/passwd", r.join("etc/climb")).unwrap();
        symlink("loop2", r.join("etc/loop1")).unwrap();
        symlink("loop1", r.join("etc/loop2")).unwrap();
        let host = HostRoot::open(r).unwrap();
        (dir, host)
    }

    #[test]
    fn absolute_link_targets_stay_inside_the_root() {
        let (_d, host) = fixture();
        assert_eq!(host.read_string("/etc/abs/file").unwrap(), "inside");
        assert_eq!(
            host.canonical("/etc/abs/file").unwrap(),
            "/usr/share/x/file"
        );
    }

    #[test]
    fn relative_links_resolve() {
        let (_d, host) = fixture();
        assert_eq!(host.read_string("/etc/rel").unwrap(), "inside");
        assert_eq!(host.read_link("/etc/rel").unwrap(), "../usr/share/x/file");
        assert!(host.is_symlink("/etc/rel"));
    }

    #[test]
    fn dotdot_never_climbs_above_the_root() {
        let (_d, host) = fixture();
        // The link climbs far above the root: it must land on ROOT/etc/passwd,
        // which does not exist, never on the machine's /etc/passwd.
        let err = host.read_string("/etc/climb").unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert!(host.read_string("/../../etc/ssh/sshd_config").is_ok());
    }

    #[test]
    fn targets_resolve_even_when_missing_under_the_root() {
        let (d, host) = fixture();
        let r = d.path();
        fs::create_dir_all(r.join("etc/systemd/system")).unwrap();
        symlink("/dev/null", r.join("etc/systemd/system/a.service")).unwrap();
        symlink("../../../dev/null", r.join("etc/systemd/system/b.service")).unwrap();
        symlink(
            "../../../../../../dev/null",
            r.join("etc/systemd/system/c.service"),
        )
        .unwrap();
        symlink(
            "/etc/abs/../../../dev/null",
            r.join("etc/systemd/system/d.service"),
        )
        .unwrap();
        symlink("b.service", r.join("etc/systemd/system/e.service")).unwrap();
        symlink("../dev/null", r.join("etc/systemd/system/f.service")).unwrap();
        for unit in ["a", "b", "c", "d", "e"] {
            let path = format!("/etc/systemd/system/{unit}.service");
            assert_eq!(host.resolve_target(&path).unwrap(), "/dev/null", "{unit}");
        }
        assert_eq!(
            host.resolve_target("/etc/systemd/system/f.service")
                .unwrap(),
            "/etc/systemd/dev/null"
        );
        assert_eq!(
            host.resolve_target("/etc/rel").unwrap(),
            "/usr/share/x/file"
        );
        assert!(matches!(
            host.resolve_target("/etc/loop1"),
            Err(ReadError::LinkLoop { .. })
        ));
    }

    #[test]
    fn link_loops_are_an_error() {
        let (_d, host) = fixture();
        let err = host.read_string("/etc/loop1").unwrap_err();
        assert!(matches!(err, ReadError::LinkLoop { .. }), "{err}");
    }

    #[test]
    fn directories_list_sorted_and_are_not_files() {
        let (_d, host) = fixture();
        assert_eq!(
            host.list_dir("/etc").unwrap(),
            vec!["abs", "climb", "loop1", "loop2", "rel", "ssh"]
        );
        assert!(matches!(host.read("/etc"), Err(ReadError::NotAFile { .. })));
        assert!(host.is_dir("/etc/abs"));
    }

    #[test]
    fn commands_are_refused_offline() {
        let (_d, host) = fixture();
        assert!(!host.is_live());
        assert!(matches!(
            host.run("true", &[]),
            Err(CommandError::Offline { .. })
        ));
    }

    #[test]
    fn errors_name_the_host_path() {
        let (_d, host) = fixture();
        let err = host.read("/etc/shadow").unwrap_err();
        assert_eq!(err.to_string(), "/etc/shadow: not found");
    }

    #[test]
    fn a_root_that_is_not_a_directory_is_refused() {
        let (d, _host) = fixture();
        assert!(matches!(
            HostRoot::open(&d.path().join("etc/ssh/sshd_config")),
            Err(RootError::NotADirectory { .. })
        ));
        assert!(HostRoot::open(&d.path().join("nope")).is_err());
    }
}
