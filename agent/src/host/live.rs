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
    #[cfg(target_os = "macos")]
    if source.id == super::sources::MACOS_SYSCTL_HARDWARE.id {
        return Ok(macos_hardware());
    }
    #[cfg(windows)]
    if source.id == super::sources::WIN_SYSTEM_DRIVE.id {
        return super::windows_system_drive()
            .map(|drive| serde_json::json!({ "SystemDrive": drive }))
            .ok_or_else(|| SourceError::Failed {
                what: source.describe(),
                error: std::io::Error::last_os_error().to_string(),
            });
    }
    #[cfg(windows)]
    if let Some(answer) = super::win_com::api(source) {
        return answer;
    }
    #[cfg(windows)]
    if let Some(answer) = super::win_api::api(source) {
        return answer;
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

/// The names of `macos.sysctl.hardware`: strings, then integers.
pub(crate) const HARDWARE_TEXT: [&str; 3] =
    ["kern.osrelease", "kern.version", "machdep.cpu.brand_string"];
pub(crate) const HARDWARE_INTEGERS: [&str; 2] = ["hw.memsize", "hw.ncpu"];

/// `sysctlbyname` of every name of `macos.sysctl.hardware`; a name the kernel
/// does not have (or of another type) is null.
#[cfg(target_os = "macos")]
fn macos_hardware() -> Value {
    use sysctl::{CtlValue, Sysctl as _};
    let read = |name: &str| sysctl::Ctl::new(name).ok().and_then(|c| c.value().ok());
    hardware_json(
        |name| match read(name) {
            Some(CtlValue::String(s)) => Some(s),
            _ => None,
        },
        |name| match read(name)? {
            CtlValue::Int(n) | CtlValue::S32(n) => u64::try_from(n).ok(),
            CtlValue::Long(n) | CtlValue::S64(n) => u64::try_from(n).ok(),
            CtlValue::Uint(n) | CtlValue::U32(n) => Some(u64::from(n)),
            CtlValue::Ulong(n) | CtlValue::U64(n) => Some(n),
            _ => None,
        },
    )
}

/// The capture layout of `macos.sysctl.hardware` from two readers: every name
/// present, null where the reader has no value; strings lose trailing NULs and
/// white space.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(crate) fn hardware_json(
    text: impl Fn(&str) -> Option<String>,
    integer: impl Fn(&str) -> Option<u64>,
) -> Value {
    let mut map = serde_json::Map::new();
    for name in HARDWARE_TEXT {
        let v = text(name).map(|s| s.trim_end_matches(['\0', ' ', '\n']).to_owned());
        map.insert(name.to_owned(), v.map_or(Value::Null, Value::String));
    }
    for name in HARDWARE_INTEGERS {
        map.insert(
            name.to_owned(),
            integer(name).map_or(Value::Null, Value::from),
        );
    }
    Value::Object(map)
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

/// The type code of a live registry value (`winnt.h`).
#[cfg(windows)]
pub(super) fn type_code(ty: windows_registry::Type) -> u32 {
    use windows_registry::Type;
    match ty {
        Type::U32 => super::regf::types::REG_DWORD,
        Type::U64 => super::regf::types::REG_QWORD,
        Type::String => super::regf::types::REG_SZ,
        Type::ExpandString => super::regf::types::REG_EXPAND_SZ,
        Type::MultiString => super::regf::types::REG_MULTI_SZ,
        Type::Bytes => super::regf::types::REG_BINARY,
        Type::Other(n) => n,
    }
}

/// Opens `HKLM\key` for reading, 64-bit view; `what` names the read in errors.
#[cfg(windows)]
fn open_key(key: &str, what: &str) -> Result<windows_registry::Key, SourceError> {
    /// The 64-bit view, whatever the agent's own bitness (`winreg.h`).
    const KEY_WOW64_64KEY: u32 = 0x0100;
    windows_registry::LOCAL_MACHINE
        .options()
        .read()
        .access(KEY_WOW64_64KEY)
        .open(key)
        .map_err(|e| registry_failed(what, &e))
}

/// ERROR_FILE_NOT_FOUND (the key or the value does not exist) is
/// [`SourceError::NotInstalled`], as offline.
#[cfg(windows)]
pub(super) fn registry_failed(what: &str, e: &windows_result::Error) -> SourceError {
    if e.code().0 as u32 == 0x8007_0002 {
        SourceError::NotInstalled {
            what: what.to_owned(),
        }
    } else {
        SourceError::Failed {
            what: what.to_owned(),
            error: e.message(),
        }
    }
}

/// Decodes a live value exactly as a hive file's ([`super::regf::decode`]).
#[cfg(windows)]
pub(super) fn decoded(
    what: &str,
    name: &str,
    value: &windows_registry::Value,
) -> Result<RegistryValue, SourceError> {
    super::regf::decode(name, type_code(value.ty()), value).map_err(|e| SourceError::Failed {
        what: what.to_owned(),
        error: e.to_string(),
    })
}

/// Reads `HKLM\key\value` from the live registry, 64-bit view.
#[cfg(windows)]
pub(super) fn registry(key: &str, value: &str) -> Result<RegistryValue, SourceError> {
    let what = format!("HKLM\\{key}\\{value}");
    let opened = open_key(key, &what)?;
    let v = opened
        .get_value(value)
        .map_err(|e| registry_failed(&what, &e))?;
    decoded(&what, value, &v)
}

/// The type code of `HKLM\key\value`, 64-bit view.
#[cfg(windows)]
pub(super) fn registry_kind(key: &str, value: &str) -> Result<u32, SourceError> {
    let what = format!("HKLM\\{key}\\{value}");
    let opened = open_key(key, &what)?;
    let v = opened
        .get_value(value)
        .map_err(|e| registry_failed(&what, &e))?;
    Ok(type_code(v.ty()))
}

/// The subkey names of `HKLM\key`, 64-bit view.
#[cfg(windows)]
pub(super) fn registry_subkeys(key: &str) -> Result<Vec<String>, SourceError> {
    let what = format!("HKLM\\{key}");
    let opened = open_key(key, &what)?;
    Ok(opened
        .keys()
        .map_err(|e| registry_failed(&what, &e))?
        .collect())
}

/// The values of `HKLM\key`, 64-bit view.
#[cfg(windows)]
pub(super) fn registry_values(key: &str) -> Result<Vec<(String, RegistryValue)>, SourceError> {
    let what = format!("HKLM\\{key}");
    let opened = open_key(key, &what)?;
    opened
        .values()
        .map_err(|e| registry_failed(&what, &e))?
        .map(|(name, v)| Ok((name.clone(), decoded(&what, &name, &v)?)))
        .collect()
}

/// Reads `HKLM\key\value` from the live registry: Windows only.
#[cfg(not(windows))]
pub(super) fn registry(key: &str, value: &str) -> Result<RegistryValue, SourceError> {
    Err(SourceError::Unsupported {
        what: format!("HKLM\\{key}\\{value}"),
    })
}

/// The type code of `HKLM\key\value`: Windows only.
#[cfg(not(windows))]
pub(super) fn registry_kind(key: &str, value: &str) -> Result<u32, SourceError> {
    Err(SourceError::Unsupported {
        what: format!("HKLM\\{key}\\{value}"),
    })
}

/// The subkey names of `HKLM\key`: Windows only.
#[cfg(not(windows))]
pub(super) fn registry_subkeys(key: &str) -> Result<Vec<String>, SourceError> {
    Err(SourceError::Unsupported {
        what: format!("HKLM\\{key}"),
    })
}

/// The values of `HKLM\key`: Windows only.
#[cfg(not(windows))]
pub(super) fn registry_values(key: &str) -> Result<Vec<(String, RegistryValue)>, SourceError> {
    Err(SourceError::Unsupported {
        what: format!("HKLM\\{key}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardware_json_has_every_name_and_null_for_the_missing() {
        let v = hardware_json(
            |n| match n {
                "kern.osrelease" => Some("24.1.0\0".to_owned()),
                "machdep.cpu.brand_string" => Some("Apple M3".to_owned()),
                _ => None,
            },
            |n| (n == "hw.memsize").then_some(17_179_869_184),
        );
        assert_eq!(
            v,
            serde_json::json!({"kern.osrelease": "24.1.0", "kern.version": null,
                "machdep.cpu.brand_string": "Apple M3", "hw.memsize": 17179869184u64,
                "hw.ncpu": null})
        );
    }

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
