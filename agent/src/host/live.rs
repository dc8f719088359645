//! The live sources that are calls rather than files or commands, per build target.
//!
//! Each function is compiled on every target; what only one OS can call sits behind
//! `#[cfg(target_os = …)]` inside it, and the other targets answer
//! [`SourceError::Unsupported`].

use attest_proto::Platform;
use serde_json::Value;

use super::sources::Source;
use super::{RegistryValue, SourceError};

/// The OS a live host runs, decided by the build target where it is not Linux (a
/// Linux build decides from the files under `/`, as for any root).
pub(super) fn platform() -> Option<Platform> {
    if cfg!(target_os = "macos") {
        Some(Platform::Macos)
    } else if cfg!(windows) {
        Some(Platform::Windows)
    } else {
        None
    }
}

/// Calls an api source on this machine. The calls come with the checks that read
/// them (the macOS and Windows checks); until a source has one, it is
/// [`SourceError::Unsupported`] and its checks say so.
pub(super) fn api(source: &Source) -> Result<Value, SourceError> {
    Err(SourceError::Unsupported {
        what: source.describe(),
    })
}

/// Reads `HKLM\key\value` from the live registry, 64-bit view.
#[cfg(windows)]
pub(super) fn registry(key: &str, value: &str) -> Result<RegistryValue, SourceError> {
    use windows_registry::{LOCAL_MACHINE, Type};
    /// The 64-bit view, whatever the agent's own bitness (`winreg.h`).
    const KEY_WOW64_64KEY: u32 = 0x0100;
    let what = || format!("HKLM\\{key}\\{value}");
    let failed = |e: windows_result::Error| {
        // ERROR_FILE_NOT_FOUND (2): the key or the value does not exist.
        if e.code().0 as u32 == 0x8007_0002 {
            SourceError::NotInstalled { what: what() }
        } else {
            SourceError::Failed {
                what: what(),
                error: e.message(),
            }
        }
    };
    let opened = LOCAL_MACHINE
        .options()
        .read()
        .access(KEY_WOW64_64KEY)
        .open(key)
        .map_err(failed)?;
    let ty = opened.get_type(value).map_err(failed)?;
    Ok(match ty {
        Type::U32 => RegistryValue::Dword(opened.get_u32(value).map_err(failed)?),
        Type::U64 => RegistryValue::Qword(opened.get_u64(value).map_err(failed)?),
        Type::String | Type::ExpandString => {
            RegistryValue::String(opened.get_string(value).map_err(failed)?)
        }
        Type::MultiString => {
            RegistryValue::MultiString(opened.get_multi_string(value).map_err(failed)?)
        }
        _ => RegistryValue::Binary(opened.get_value(value).map_err(failed)?.to_vec()),
    })
}

/// Reads `HKLM\key\value` from the live registry: Windows only.
#[cfg(not(windows))]
pub(super) fn registry(key: &str, value: &str) -> Result<RegistryValue, SourceError> {
    Err(SourceError::Unsupported {
        what: format!("HKLM\\{key}\\{value}"),
    })
}
