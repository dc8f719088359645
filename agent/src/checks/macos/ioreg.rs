//! The platform expert device of `ioreg -a -rd1 -c IOPlatformExpertDevice`: the
//! Mac's hardware UUID, serial number, model and manufacturer. The output is an
//! XML plist: an array holding one dictionary, whose `model` and `manufacturer`
//! are data (NUL-terminated ASCII) and `IOPlatformUUID` and
//! `IOPlatformSerialNumber` strings. Read once per run.

use std::sync::Arc;

use plist::Value;

use super::disk::{Failure, Read, read_command};
use super::plist::{self as pl, PlistError};
use crate::checks::Context;
use crate::host::sources::MACOS_IOREG_PLATFORM;

/// What the platform expert device says; an absent or mistyped key is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformDevice {
    /// `IOPlatformUUID`: the hardware UUID (the ByHost preference files' suffix).
    pub uuid: Option<String>,
    /// `IOPlatformSerialNumber`.
    pub serial: Option<String>,
    /// `model`, e.g. `Mac15,3`.
    pub model: Option<String>,
    /// `manufacturer`, e.g. `Apple Inc.`.
    pub manufacturer: Option<String>,
}

/// Data or a string as text: data loses its trailing NULs and must be UTF-8.
fn text(value: Option<&Value>) -> Option<String> {
    let s = match value? {
        Value::String(s) => s.clone(),
        Value::Data(d) => String::from_utf8(d.clone()).ok()?,
        _ => return None,
    };
    let s = s.trim_end_matches('\0').trim().to_owned();
    (!s.is_empty()).then_some(s)
}

/// Parses the output: the first dictionary (of the top-level array, or the
/// top-level dictionary itself) that has `IOPlatformUUID` or
/// `IOPlatformSerialNumber`.
pub fn parse_ioreg(bytes: &[u8]) -> Result<PlatformDevice, PlistError> {
    let value = pl::parse(bytes)?;
    let candidates: Vec<&plist::Dictionary> = match &value {
        Value::Array(items) => items.iter().filter_map(Value::as_dictionary).collect(),
        Value::Dictionary(d) => vec![d],
        _ => Vec::new(),
    };
    let Some(d) = candidates
        .into_iter()
        .find(|d| d.contains_key("IOPlatformUUID") || d.contains_key("IOPlatformSerialNumber"))
    else {
        return Err(PlistError::Malformed(
            "no dictionary with IOPlatformUUID or IOPlatformSerialNumber".to_owned(),
        ));
    };
    Ok(PlatformDevice {
        uuid: text(d.get("IOPlatformUUID")),
        serial: text(d.get("IOPlatformSerialNumber")),
        model: text(d.get("model")),
        manufacturer: text(d.get("manufacturer")),
    })
}

/// `ioreg`'s platform expert device, read once per run.
pub struct IoregMemo(pub Result<Read<PlatformDevice>, Failure>);

pub fn platform_device(ctx: &Context<'_>) -> Arc<IoregMemo> {
    ctx.memo(|ctx| {
        IoregMemo(read_command(ctx, &MACOS_IOREG_PLATFORM, |s| {
            parse_ioreg(s.as_bytes())
        }))
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub const UUID: &str = "6F1C2D3E-4A5B-4C6D-8E9F-0A1B2C3D4E5F";

    /// `ioreg -a -rd1 -c IOPlatformExpertDevice` as an Apple silicon Mac prints it
    /// (abridged; the serial number is made up).
    pub fn ioreg_output(serial: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<array>
	<dict>
		<key>IOBusyInterest</key>
		<string>IOCommand is not serializable</string>
		<key>IOObjectClass</key>
		<string>IOPlatformExpertDevice</string>
		<key>IOPlatformSerialNumber</key>
		<string>{serial}</string>
		<key>IOPlatformUUID</key>
		<string>{UUID}</string>
		<key>compatible</key>
		<data>TWFjMTUsMwBBUk0AAA==</data>
		<key>manufacturer</key>
		<data>QXBwbGUgSW5jLgA=</data>
		<key>model</key>
		<data>TWFjMTUsMwA=</data>
		<key>platform-name</key>
		<data>dDgxMjIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=</data>
	</dict>
</array>
</plist>
"#
        )
    }

    #[test]
    fn ioreg_gives_uuid_serial_and_the_nul_terminated_data() {
        let d = parse_ioreg(ioreg_output("C02XK0ABCDEF").as_bytes()).unwrap();
        assert_eq!(d.uuid.as_deref(), Some(UUID));
        assert_eq!(d.serial.as_deref(), Some("C02XK0ABCDEF"));
        assert_eq!(d.model.as_deref(), Some("Mac15,3"));
        assert_eq!(d.manufacturer.as_deref(), Some("Apple Inc."));
        // The same in a binary plist.
        let v = pl::parse(ioreg_output("X").as_bytes()).unwrap();
        let mut bin = Vec::new();
        v.to_writer_binary(&mut bin).unwrap();
        assert_eq!(parse_ioreg(&bin).unwrap().serial.as_deref(), Some("X"));
    }

    #[test]
    fn ioreg_without_the_device_or_not_a_plist_is_an_error() {
        assert!(
            parse_ioreg(b"<?xml version=\"1.0\"?><plist version=\"1.0\"><array/></plist>").is_err()
        );
        assert!(parse_ioreg(b"ioreg: no such class\n").is_err());
        let d = parse_ioreg(
            b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>IOPlatformUUID</key><string>U</string><key>model</key><data>/w==</data></dict></plist>",
        )
        .unwrap();
        assert_eq!(d.uuid.as_deref(), Some("U"));
        assert_eq!(d.model, None, "data that is not UTF-8 is no model");
    }
}
