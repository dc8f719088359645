//! The macOS version under the root: `ProductVersion` of
//! `/System/Library/CoreServices/SystemVersion.plist` (e.g. `14.6.1`, `15.0`, `26.1`).
//! Read once per run (memoised in the [`Context`]).

use std::fmt;

use crate::checks::Context;
use crate::host::MACOS_MARKER;

use super::prefs::{self, PlistError};

/// A macOS version: major, minor, patch (absent parts are 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MacosVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl fmt::Display for MacosVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Why the version could not be read.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error(transparent)]
    Plist(#[from] PlistError),
    #[error("{MACOS_MARKER}: no ProductVersion")]
    Missing,
    #[error("{MACOS_MARKER}: ProductVersion {0:?} is not a version")]
    Malformed(String),
}

/// Parses `14`, `14.6` or `14.6.1`; anything else is `None`.
pub fn parse_version(s: &str) -> Option<MacosVersion> {
    let mut parts = s.trim().split('.');
    let mut next = |required: bool| -> Option<u32> {
        match parts.next() {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok(),
            None if !required => Some(0),
            _ => None,
        }
    };
    let major = next(true)?;
    let minor = next(false)?;
    let patch = next(false)?;
    if parts.next().is_some() {
        return None;
    }
    Some(MacosVersion {
        major,
        minor,
        patch,
    })
}

/// The version of the Mac under the root, read from its files.
pub fn read(ctx: &Context<'_>) -> Result<MacosVersion, VersionError> {
    let found =
        prefs::read_key(ctx.host, MACOS_MARKER, "ProductVersion")?.ok_or(VersionError::Missing)?;
    let text = found
        .value
        .as_string()
        .ok_or_else(|| VersionError::Malformed(prefs::render(&found.value)))?;
    parse_version(text).ok_or_else(|| VersionError::Malformed(text.to_owned()))
}

/// The memoised result of [`read`], as text for errors (one read per run).
struct Memo(Result<MacosVersion, String>);

/// The version of the Mac under the root, read once per run; the error as text.
pub fn get(ctx: &Context<'_>) -> Result<MacosVersion, String> {
    ctx.memo(|ctx| Memo(read(ctx).map_err(|e| e.to_string())))
        .0
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Thresholds;
    use crate::checks::macos::prefs::tests::{binary, xml};
    use crate::host::fake::{FakeHost, default_now};
    use plist::Value;

    #[test]
    fn versions_parse() {
        let v = |a, b, c| MacosVersion {
            major: a,
            minor: b,
            patch: c,
        };
        assert_eq!(parse_version("14.6.1"), Some(v(14, 6, 1)));
        assert_eq!(parse_version("15.0"), Some(v(15, 0, 0)));
        assert_eq!(parse_version("26"), Some(v(26, 0, 0)));
        assert!(parse_version("15.0") > parse_version("14.7.2"));
        for bad in ["", "15.", "15.0.1.2", "x", "15.a", "-1", "15 .0"] {
            assert_eq!(parse_version(bad), None, "{bad}");
        }
    }

    fn version_of(content: Vec<u8>) -> Result<MacosVersion, String> {
        let host = FakeHost::macos().file(MACOS_MARKER, content).host();
        let t = Thresholds::default();
        let ctx = Context::new(&host, default_now(), &t);
        get(&ctx)
    }

    #[test]
    fn the_version_is_read_from_system_version_plist_xml_or_binary() {
        let entries = [
            ("ProductName", Value::String("macOS".into())),
            ("ProductVersion", Value::String("15.1.1".into())),
        ];
        assert_eq!(version_of(xml(&entries)).unwrap().to_string(), "15.1.1");
        assert_eq!(version_of(binary(&entries)).unwrap().major, 15);
        let err = version_of(xml(&[("ProductName", Value::String("macOS".into()))]));
        assert!(err.unwrap_err().contains("no ProductVersion"));
        let err = version_of(xml(&[("ProductVersion", Value::Integer(15.into()))]));
        assert!(err.unwrap_err().contains("is not a version"));
        assert!(version_of(Vec::new()).is_err());
    }

    #[test]
    fn apples_own_xml_layout_and_a_bare_plist_are_read() {
        let apple = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>BuildID</key>
	<string>7A5E6B0C-0000-11EF-0000-000000000000</string>
	<key>ProductBuildVersion</key>
	<string>23G93</string>
	<key>ProductName</key>
	<string>macOS</string>
	<key>ProductVersion</key>
	<string>14.6.1</string>
</dict>
</plist>
"#;
        assert_eq!(
            version_of(apple.as_bytes().to_vec()).unwrap().to_string(),
            "14.6.1"
        );
        let bare = "<plist><dict><key>ProductVersion</key><string>15.1</string></dict></plist>";
        assert_eq!(version_of(bare.as_bytes().to_vec()).unwrap().minor, 1);
    }
}
