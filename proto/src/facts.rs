//! The facts of a result that the collector reads, with one definition for the agent
//! that writes them and the collector that reads them.
//!
//! Most facts are for people (and for the bundle) and stay free-form JSON
//! (`CheckResult::facts`). These are the exceptions: the asset inventory reads
//! `inventory.host`'s `hardware` and `inventory.software`'s `count`. Reading is
//! lenient, as for anything an older or newer agent may write: a value of the wrong
//! JSON type counts as absent rather than making the other facts unreadable, and
//! other keys are ignored.

use serde::{Deserialize, Deserializer, Serialize};

/// The fact key of [`Hardware`] in `inventory.host`.
pub const HARDWARE: &str = "hardware";
/// The fact key of the package count in `inventory.software`.
pub const SOFTWARE_COUNT: &str = "count";

/// `inventory.host`'s `facts.hardware`: the machine's vendor, model, version and
/// serial number and its firmware (DMI on Linux, `IOPlatformExpertDevice` on macOS,
/// `Win32_ComputerSystem` and `Win32_BIOS` on Windows). Written with every key
/// present (`null` when unknown); a blank or non-string value reads as `None`. The
/// collector's asset inventory shows vendor, model and serial.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hardware {
    #[serde(default, deserialize_with = "text")]
    pub vendor: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub model: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub version: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub serial: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub bios_vendor: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub bios_version: Option<String>,
}

impl Hardware {
    /// True when none of vendor, model and serial is known.
    pub fn is_empty(&self) -> bool {
        self.vendor.is_none() && self.model.is_none() && self.serial.is_none()
    }

    /// The field named `name` (`vendor`, `model`, `version`, `serial`,
    /// `bios_vendor`, `bios_version`), for writers that fill it by name.
    pub fn field_mut(&mut self, name: &str) -> Option<&mut Option<String>> {
        match name {
            "vendor" => Some(&mut self.vendor),
            "model" => Some(&mut self.model),
            "version" => Some(&mut self.version),
            "serial" => Some(&mut self.serial),
            "bios_vendor" => Some(&mut self.bios_vendor),
            "bios_version" => Some(&mut self.bios_version),
            _ => None,
        }
    }
}

/// The facts of `inventory.host` that the collector reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct HostFacts {
    #[serde(default, deserialize_with = "lenient")]
    pub hardware: Option<Hardware>,
}

/// The facts of `inventory.software` that the collector reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SoftwareFacts {
    /// The number of installed packages.
    #[serde(default, deserialize_with = "lenient")]
    pub count: Option<u64>,
}

/// A string, trimmed; blank or another JSON type reads as `None`.
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Any {
        Text(String),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Any::deserialize(d)? {
        Any::Text(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Any::Other(_) => None,
    })
}

/// A `T`, or `None` when the value has another shape.
fn lenient<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either<T> {
        Value(T),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Either::<T>::deserialize(d)? {
        Either::Value(v) => Some(v),
        Either::Other(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardware_reads_what_the_agent_writes() {
        let hw = Hardware {
            vendor: Some("Dell Inc.".into()),
            model: Some("PowerEdge R650".into()),
            serial: None,
            ..Hardware::default()
        };
        let written = serde_json::json!({ HARDWARE: hw, "kernel": "6.1.0" });
        assert_eq!(written[HARDWARE]["serial"], serde_json::Value::Null);
        let read: HostFacts = serde_json::from_value(written).unwrap();
        assert_eq!(read.hardware, Some(hw));
    }

    #[test]
    fn wrong_types_read_as_absent_without_hiding_the_rest() {
        let read: HostFacts = serde_json::from_str(
            r#"{"hardware": {"vendor": 7, "model": "  ", "serial": " ABC123 "}}"#,
        )
        .unwrap();
        assert_eq!(
            read.hardware,
            Some(Hardware {
                serial: Some("ABC123".into()),
                ..Hardware::default()
            })
        );
        let read: HostFacts = serde_json::from_str(r#"{"hardware": "Dell"}"#).unwrap();
        assert_eq!(read.hardware, None);
        let read: SoftwareFacts = serde_json::from_str(r#"{"count": "many"}"#).unwrap();
        assert_eq!(read.count, None);
        let read: SoftwareFacts = serde_json::from_str(r#"{"count": 771, "x": 1}"#).unwrap();
        assert_eq!(read.count, Some(771));
    }
}
