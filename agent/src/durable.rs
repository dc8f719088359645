//! Durable file writes and permission checks for the agent's own files (config, key,
//! state, spool) — never for host files, which only [`crate::host`] reads.
//!
//! A durable write is: a temporary file in the same directory, created with the final
//! mode, written, `fsync`ed, renamed over the target, and the directory `fsync`ed, so a
//! crash leaves either the old file or the new one, never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Mode bits that must be clear on a private file (key, state): group and others.
pub const PRIVATE_FORBIDDEN: u32 = 0o077;
/// Mode bits that must be clear on the config file: at most `0640`.
pub const CONFIG_FORBIDDEN: u32 = 0o137;

/// A file whose permissions are looser than allowed.
#[derive(Debug, thiserror::Error)]
#[error(
    "{path} has mode {mode:04o}: group or others may read or write it; run `chmod {wanted:04o} {path}`"
)]
pub struct LoosePermissions {
    pub path: String,
    pub mode: u32,
    pub wanted: u32,
}

/// Refuses `path` when any of the `forbidden` mode bits is set. On systems without
/// Unix modes (Windows) the check passes: the service's ACLs protect the files there.
pub fn check_mode(path: &Path, forbidden: u32) -> Result<(), CheckModeError> {
    let meta = fs::metadata(path).map_err(|source| CheckModeError::Io {
        path: path.display().to_string(),
        source,
    })?;
    check_meta_mode(path, &meta, forbidden).map_err(CheckModeError::Loose)
}

#[cfg(unix)]
fn check_meta_mode(
    path: &Path,
    meta: &fs::Metadata,
    forbidden: u32,
) -> Result<(), LoosePermissions> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & forbidden != 0 {
        return Err(LoosePermissions {
            path: path.display().to_string(),
            mode,
            wanted: mode & 0o777 & !forbidden,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_meta_mode(_: &Path, _: &fs::Metadata, _: u32) -> Result<(), LoosePermissions> {
    Ok(())
}

/// [`check_mode`] failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckModeError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error(transparent)]
    Loose(LoosePermissions),
}

/// Opens a new file for writing with `mode` (on Unix) — the mode is set at creation,
/// so the file is never readable by others, not even for a moment.
pub fn create_with_mode(path: &Path, mode: u32, create_new: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true);
    if create_new {
        options.create_new(true);
    } else {
        options.create(true).truncate(true);
    }
    set_mode(&mut options, mode);
    options.open(path)
}

#[cfg(unix)]
fn set_mode(options: &mut OpenOptions, mode: u32) {
    use std::os::unix::fs::OpenOptionsExt as _;
    options.mode(mode);
}

#[cfg(not(unix))]
fn set_mode(_: &mut OpenOptions, _: u32) {}

/// `fsync`s a directory so that a rename or a new file in it survives a crash. A no-op
/// where directories cannot be opened (Windows).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// The temporary name used while `path` is written: `.<name>.tmp` in the same
/// directory (hidden, so directory listings skip it).
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Writes `bytes` to `path` atomically and durably (see the module docs), the new file
/// having `mode`. The temporary file is removed when anything fails.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    write_atomic_with(path, mode, |file| file.write_all(bytes))
}

/// [`write_atomic`] with the writing done by `write` (tests inject failures through it).
pub fn write_atomic_with(
    path: &Path,
    mode: u32,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let temp = temp_path(path);
    let result = (|| {
        let mut file = create_with_mode(&temp, mode, false)?;
        write(&mut file)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)
    })();
    if let Err(err) = result {
        let _ = fs::remove_file(&temp);
        return Err(err);
    }
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Creates a directory (and its parents) with `mode` for the last component when it
/// does not exist yet; an existing directory is left as it is.
pub fn create_dir(path: &Path, mode: u32) -> io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    builder.create(path)
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn atomic_write_replaces_and_keeps_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"one", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        assert_eq!(mode_of(&path), 0o600);
        write_atomic(&path, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert!(!temp_path(&path).exists());
    }

    #[test]
    fn failed_atomic_write_keeps_the_old_file_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"old", 0o600).unwrap();
        let err = write_atomic_with(&path, 0o600, |f| {
            f.write_all(b"half")?;
            Err(io::Error::from(io::ErrorKind::StorageFull))
        })
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert!(!temp_path(&path).exists());
    }

    #[test]
    fn modes_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.key");
        create_with_mode(&path, 0o600, true).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        check_mode(&path, PRIVATE_FORBIDDEN).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let err = check_mode(&path, PRIVATE_FORBIDDEN).unwrap_err();
        assert!(err.to_string().contains("mode 0640"), "{err}");
        assert!(err.to_string().contains("chmod 0600"), "{err}");
        // 0640 is fine for a config file, 0644 and 0660 are not.
        check_mode(&path, CONFIG_FORBIDDEN).unwrap();
        for loose in [0o644, 0o660, 0o642] {
            fs::set_permissions(&path, fs::Permissions::from_mode(loose)).unwrap();
            assert!(check_mode(&path, CONFIG_FORBIDDEN).is_err(), "{loose:o}");
        }
        // create_new refuses an existing file.
        assert!(create_with_mode(&path, 0o600, true).is_err());
    }
}
