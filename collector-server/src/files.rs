//! The modes of what the collector keeps on disk: its data directory (and every
//! directory it makes) is 0700, its database and key files 0600. They are enforced
//! whether the collector made them or found them: a directory or database file that
//! others may read is tightened when the collector may change it, and refused with
//! one line saying what to run when it may not.

use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// A directory or file whose mode cannot be made private.
#[derive(Debug, thiserror::Error)]
pub enum ModeError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a directory")]
    NotADirectory { path: PathBuf },
    #[error(
        "{path} may be read by others (mode {mode:o}) and cannot be made {want:o}: {source} \
         (run: chmod {want:o} {path})"
    )]
    Loose {
        path: PathBuf,
        mode: u32,
        want: u32,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ModeError + '_ {
    move |source| ModeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Makes an existing file or directory `want` when group or others have any right on
/// it. Returns whether it changed it.
fn tighten(path: &Path, meta: &std::fs::Metadata, want: u32) -> Result<bool, ModeError> {
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return Ok(false);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(want)).map_err(|source| {
        ModeError::Loose {
            path: path.to_path_buf(),
            mode,
            want,
            source,
        }
    })?;
    tracing::warn!(
        path = %path.display(),
        was = format_args!("{mode:o}"),
        now = format_args!("{want:o}"),
        "tightened the mode of a collector file"
    );
    Ok(true)
}

/// Creates a directory (and its missing parents) with mode 0700, or makes an existing
/// one 0700.
pub fn private_dir(dir: &Path) -> Result<(), ModeError> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => tighten(dir, &meta, 0o700).map(|_| ()),
        Ok(_) => Err(ModeError::NotADirectory {
            path: dir.to_path_buf(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir)),
        Err(e) => Err(io(dir)(e)),
    }
}

/// A SQLite database file and its companions (`-wal`, `-shm`, `-journal`), 0600: the
/// file is created empty with that mode when it does not exist (SQLite gives its
/// companions the mode of the database file), and existing ones are tightened.
pub fn private_database(path: &Path) -> Result<(), ModeError> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(path)(e)),
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let p = PathBuf::from(p);
        match std::fs::metadata(&p) {
            Ok(meta) => {
                tighten(&p, &meta, 0o600)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&p)(e)),
        }
    }
    Ok(())
}

/// Writes `bytes` to `tmp` (mode 0600, replacing a stale one) and renames it over
/// `path`, so `path` is always whole.
pub fn write_private_atomic(tmp: &Path, path: &Path, bytes: &[u8]) -> Result<(), ModeError> {
    use std::io::Write as _;
    match std::fs::remove_file(tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(tmp)(e)),
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(io(tmp))?;
    f.write_all(bytes).map_err(io(tmp))?;
    f.sync_all().map_err(io(tmp))?;
    std::fs::rename(tmp, path).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn directories_are_made_and_kept_0700() {
        let tmp = tempfile::tempdir().unwrap();
        let new = tmp.path().join("a/b");
        private_dir(&new).unwrap();
        assert_eq!(mode(&new), 0o700);
        let found = tmp.path().join("found");
        std::fs::create_dir(&found).unwrap();
        std::fs::set_permissions(&found, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&found).unwrap();
        assert_eq!(mode(&found), 0o700);
        let file = tmp.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(matches!(
            private_dir(&file),
            Err(ModeError::NotADirectory { .. })
        ));
    }

    #[test]
    fn database_files_are_made_and_kept_0600() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("collector.db");
        private_database(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(std::fs::metadata(&db).unwrap().len(), 0);
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        let wal = tmp.path().join("collector.db-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o666)).unwrap();
        private_database(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&wal), 0o600);
    }
}
