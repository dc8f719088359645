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
    #[cfg(target_os = "macos")]
    if source.id == super::sources::MACOS_SYSCTL_SWAPUSAGE.id {
        return macos_swapusage(source);
    }
    Err(SourceError::Unsupported {
        what: source.describe(),
    })
}

/// `sysctl vm.swapusage`, the `xsw_usage` struct by field name.
#[cfg(target_os = "macos")]
fn macos_swapusage(source: &Source) -> Result<Value, SourceError> {
    use sysctl::Sysctl as _;
    let failed = |error: String| SourceError::Failed {
        what: source.describe(),
        error,
    };
    let ctl = sysctl::Ctl::new("vm.swapusage").map_err(|e| failed(e.to_string()))?;
    match ctl.value().map_err(|e| failed(e.to_string()))? {
        sysctl::CtlValue::Struct(bytes) | sysctl::CtlValue::Node(bytes) => xsw_usage(&bytes)
            .ok_or_else(|| failed(format!("{} bytes, not an xsw_usage", bytes.len()))),
        other => Err(failed(format!("unexpected value {other:?}"))),
    }
}

/// Decodes macOS's `struct xsw_usage` (`<sys/sysctl.h>`): three `u64` (total,
/// available, used bytes), the page size (`u32`) and `xsu_encrypted`
/// (`boolean_t`, a `u32`), native endian, 32 bytes. The JSON is the capture
/// layout of `macos.sysctl.swapusage`.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(crate) fn xsw_usage(bytes: &[u8]) -> Option<Value> {
    let u64_at = |at: usize| -> Option<u64> {
        Some(u64::from_ne_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
    };
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    if bytes.len() != 32 {
        return None;
    }
    Some(serde_json::json!({
        "xsu_total": u64_at(0)?,
        "xsu_avail": u64_at(8)?,
        "xsu_used": u64_at(16)?,
        "xsu_pagesize": u32_at(24)?,
        "xsu_encrypted": u32_at(28)?,
    }))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xsw_usage_decodes_the_struct_by_field() {
        let mut bytes = Vec::new();
        bytes.extend(3_221_225_472u64.to_ne_bytes());
        bytes.extend(1_815_609_344u64.to_ne_bytes());
        bytes.extend(1_405_616_128u64.to_ne_bytes());
        bytes.extend(16_384u32.to_ne_bytes());
        bytes.extend(1u32.to_ne_bytes());
        assert_eq!(
            xsw_usage(&bytes),
            Some(
                serde_json::json!({"xsu_total": 3221225472u64, "xsu_avail": 1815609344u64,
                "xsu_used": 1405616128u64, "xsu_pagesize": 16384, "xsu_encrypted": 1})
            )
        );
        assert_eq!(xsw_usage(&bytes[..31]), None);
        assert_eq!(xsw_usage(&[bytes.clone(), vec![0]].concat()), None);
    }
}
