//! Property lists and the effective value of a device-level preference key.
//!
//! Plist *files* are XML or binary (`bplist00`) from their first byte; one parser
//! reads both ([`parse`]). The old NeXTSTEP text form (what `defaults read` prints)
//! is never parsed. Command output, which may begin with a text line, is read by
//! [`super::plist::parse`] instead.
//!
//! The effective value of a device-level key is the first found of:
//!
//! 1. `/Library/Managed Preferences/<domain>.plist` (MDM, device channel): `managed`;
//! 2. `/Library/Preferences/<domain>.plist`: `local`;
//! 3. the documented default for that key, which the caller gives: `default`.
//!
//! An absent file or an absent key falls through to the next; **an absent key means
//! the default, not "off"**. A file that exists but cannot be read or is not a plist
//! dictionary is an error: it might set the key, so nothing after it can decide.

use std::io::Cursor;

use attest_proto::Evidence;
use plist::Value;

use crate::checks::file_evidence;
use crate::host::{Host, ReadError};

/// Where managed (MDM) preferences of the device channel are written.
pub const MANAGED_DIR: &str = "/Library/Managed Preferences";
/// Where device-level preferences are kept.
pub const LOCAL_DIR: &str = "/Library/Preferences";

/// Which layer decided an effective value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefSource {
    Managed,
    Local,
    Default,
}

impl PrefSource {
    /// `managed`, `local` or `default`, as recorded in facts.
    pub fn as_str(self) -> &'static str {
        match self {
            PrefSource::Managed => "managed",
            PrefSource::Local => "local",
            PrefSource::Default => "default",
        }
    }
}

/// Why a plist could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PlistError {
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Not an XML or binary plist. The parser's message names a position, never
    /// the file's content.
    #[error("{path}: not a valid plist: {error}")]
    Parse { path: String, error: String },
    #[error("{path}: the top level is not a dictionary")]
    NotADictionary { path: String },
    #[error("{path}: {key} is {found}, not {expected}")]
    WrongType {
        path: String,
        key: String,
        found: &'static str,
        expected: &'static str,
    },
}

/// Parses an XML or binary plist (a preference file: the whole file, no text line
/// before it, unlike command output, which [`super::plist::parse`] reads).
pub fn parse(bytes: &[u8]) -> Result<Value, plist::Error> {
    if bytes.starts_with(b"bplist00") {
        Value::from_reader(Cursor::new(bytes))
    } else {
        Value::from_reader_xml(bytes)
    }
}

/// The name of a plist value's type, for messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "an array",
        Value::Dictionary(_) => "a dictionary",
        Value::Boolean(_) => "a boolean",
        Value::Data(_) => "data",
        Value::Date(_) => "a date",
        Value::Real(_) => "a real",
        Value::Integer(_) => "an integer",
        Value::String(_) => "a string",
        Value::Uid(_) => "a UID",
        _ => "an unknown type",
    }
}

/// A short rendering of a scalar value for excerpts (`true`, `1`, `"yes"`).
pub fn render(value: &Value) -> String {
    match value {
        Value::Boolean(b) => b.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => r.to_string(),
        Value::String(s) => format!("{s:?}"),
        other => format!("({})", type_name(other)),
    }
}

/// A boolean as CFPreferences reads one: a boolean, an integer (non-zero is true),
/// or the strings `true`/`false`/`yes`/`no` (any case). Anything else is `None`.
pub fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Boolean(b) => Some(*b),
        Value::Integer(i) => i.as_signed().map(|n| n != 0),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" => Some(true),
            "false" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// One key as found in one plist file.
#[derive(Debug, Clone)]
pub struct Found {
    pub path: String,
    pub value: Value,
    /// `file` evidence: the path, `key = value`, the SHA-256 of the file.
    pub evidence: Evidence,
}

/// A plist file read whole and parsed to its top-level dictionary, or `None`
/// when the file does not exist.
pub fn read_dict(
    host: &Host,
    path: &str,
) -> Result<Option<(Vec<u8>, plist::Dictionary)>, PlistError> {
    let bytes = match host.read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let value = parse(&bytes).map_err(|e| PlistError::Parse {
        path: path.to_owned(),
        error: e.to_string(),
    })?;
    match value.into_dictionary() {
        Some(dict) => Ok(Some((bytes, dict))),
        None => Err(PlistError::NotADictionary {
            path: path.to_owned(),
        }),
    }
}

/// `key` of the plist at `path`: `None` when the file or the key is absent.
pub fn read_key(host: &Host, path: &str, key: &str) -> Result<Option<Found>, PlistError> {
    let Some((bytes, dict)) = read_dict(host, path)? else {
        return Ok(None);
    };
    Ok(dict.get(key).map(|value| Found {
        path: path.to_owned(),
        value: value.clone(),
        evidence: file_evidence(path, &bytes, format!("{key} = {}", render(value))),
    }))
}

/// The managed plist of `domain`.
pub fn managed_path(domain: &str) -> String {
    format!("{MANAGED_DIR}/{domain}.plist")
}

/// The local plist of `domain`.
pub fn local_path(domain: &str) -> String {
    format!("{LOCAL_DIR}/{domain}.plist")
}

/// `key` of the managed plist of `domain` only.
pub fn managed(host: &Host, domain: &str, key: &str) -> Result<Option<Found>, PlistError> {
    read_key(host, &managed_path(domain), key)
}

/// An effective value and where it came from.
#[derive(Debug, Clone)]
pub struct Effective<T> {
    pub value: T,
    pub source: PrefSource,
    /// The file that set it; `None` for the default.
    pub path: Option<String>,
    pub evidence: Option<Evidence>,
}

/// The raw effective value of `domain` `key`: managed, then local; `None` when
/// neither sets it (the caller's default applies).
pub fn lookup(
    host: &Host,
    domain: &str,
    key: &str,
) -> Result<Option<(PrefSource, Found)>, PlistError> {
    if let Some(found) = read_key(host, &managed_path(domain), key)? {
        return Ok(Some((PrefSource::Managed, found)));
    }
    Ok(read_key(host, &local_path(domain), key)?.map(|f| (PrefSource::Local, f)))
}

/// The effective value of `domain` `key` converted by `convert`; `default` when no
/// layer sets it. A value `convert` refuses is [`PlistError::WrongType`].
pub fn effective<T>(
    host: &Host,
    domain: &str,
    key: &str,
    default: T,
    expected: &'static str,
    convert: impl Fn(&Value) -> Option<T>,
) -> Result<Effective<T>, PlistError> {
    match lookup(host, domain, key)? {
        None => Ok(Effective {
            value: default,
            source: PrefSource::Default,
            path: None,
            evidence: None,
        }),
        Some((source, found)) => match convert(&found.value) {
            Some(value) => Ok(Effective {
                value,
                source,
                path: Some(found.path),
                evidence: Some(found.evidence),
            }),
            None => Err(PlistError::WrongType {
                path: found.path,
                key: key.to_owned(),
                found: type_name(&found.value),
                expected,
            }),
        },
    }
}

/// The effective boolean of `domain` `key` ([`as_bool`]).
pub fn effective_bool(
    host: &Host,
    domain: &str,
    key: &str,
    default: bool,
) -> Result<Effective<bool>, PlistError> {
    effective(host, domain, key, default, "a boolean", as_bool)
}

/// The effective integer of `domain` `key`.
pub fn effective_int(
    host: &Host,
    domain: &str,
    key: &str,
    default: i64,
) -> Result<Effective<i64>, PlistError> {
    effective(host, domain, key, default, "an integer", |v| match v {
        Value::Integer(i) => i.as_signed(),
        _ => None,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use plist::Dictionary;

    /// An XML plist of one dictionary.
    pub fn xml(entries: &[(&str, Value)]) -> Vec<u8> {
        let mut out = Vec::new();
        dict(entries).to_writer_xml(&mut out).unwrap();
        out
    }

    /// A binary plist of one dictionary, written by the plist crate.
    pub fn binary(entries: &[(&str, Value)]) -> Vec<u8> {
        let mut out = Vec::new();
        dict(entries).to_writer_binary(&mut out).unwrap();
        out
    }

    fn dict(entries: &[(&str, Value)]) -> Value {
        let mut d = Dictionary::new();
        for (k, v) in entries {
            d.insert((*k).to_owned(), v.clone());
        }
        Value::Dictionary(d)
    }

    #[test]
    fn xml_and_binary_plists_parse_alike() {
        let entries = [
            ("globalstate", Value::Integer(1.into())),
            ("enabled", Value::String("yes".into())),
            ("EnableAssessment", Value::Boolean(false)),
        ];
        let x = xml(&entries);
        let b = binary(&entries);
        assert!(b.starts_with(b"bplist00") && x.starts_with(b"<?xml"));
        let (px, pb) = (parse(&x).unwrap(), parse(&b).unwrap());
        assert_eq!(px, pb);
        let d = px.as_dictionary().unwrap();
        assert_eq!(d.get("globalstate").unwrap().as_signed_integer(), Some(1));
        assert_eq!(d.get("enabled").unwrap().as_string(), Some("yes"));
    }

    #[test]
    fn text_plists_and_garbage_are_refused() {
        // `defaults read` output (NeXTSTEP text) is not read.
        assert!(parse(b"{\n    globalstate = 1;\n}\n").is_err());
        assert!(parse(b"bplist00garbage").is_err());
        assert!(parse(b"").is_err());
    }

    #[test]
    fn booleans_read_as_cfpreferences_reads_them() {
        assert_eq!(as_bool(&Value::Boolean(true)), Some(true));
        assert_eq!(as_bool(&Value::Integer(0.into())), Some(false));
        assert_eq!(as_bool(&Value::Integer(2.into())), Some(true));
        assert_eq!(as_bool(&Value::String("YES".into())), Some(true));
        assert_eq!(as_bool(&Value::String("no".into())), Some(false));
        assert_eq!(as_bool(&Value::String("on".into())), None);
        assert_eq!(as_bool(&Value::Real(1.0)), None);
    }

    const DOMAIN: &str = "com.example.test";

    #[test]
    fn managed_wins_over_local_and_local_over_the_default() {
        let managed = managed_path(DOMAIN);
        let local = local_path(DOMAIN);
        let mut fake = FakeHost::macos();
        // Nothing set: the default.
        let e = effective_bool(&fake.host(), DOMAIN, "Flag", true).unwrap();
        assert_eq!((e.value, e.source), (true, PrefSource::Default));
        assert!(e.path.is_none() && e.evidence.is_none());
        // Local (binary) only.
        fake.add_file(&local, binary(&[("Flag", Value::Boolean(false))]));
        let e = effective_bool(&fake.host(), DOMAIN, "Flag", true).unwrap();
        assert_eq!((e.value, e.source), (false, PrefSource::Local));
        assert_eq!(e.path.as_deref(), Some(local.as_str()));
        // A managed file without the key falls through to local.
        fake.add_file(&managed, xml(&[("Other", Value::Boolean(true))]));
        let e = effective_bool(&fake.host(), DOMAIN, "Flag", true).unwrap();
        assert_eq!(e.source, PrefSource::Local);
        // A managed value wins.
        fake.add_file(&managed, xml(&[("Flag", Value::Boolean(true))]));
        let e = effective_bool(&fake.host(), DOMAIN, "Flag", false).unwrap();
        assert_eq!((e.value, e.source), (true, PrefSource::Managed));
        let Some(Evidence::File { path, excerpt, .. }) = e.evidence else {
            panic!("file evidence");
        };
        assert_eq!(path, managed);
        assert_eq!(excerpt, "Flag = true");
    }

    #[test]
    fn unreadable_malformed_or_mistyped_files_are_errors() {
        let local = local_path(DOMAIN);
        let host = FakeHost::macos().file(&local, "SECRET-CONTENT").host();
        let err = effective_int(&host, DOMAIN, "n", 0).unwrap_err();
        assert!(matches!(err, PlistError::Parse { .. }), "{err}");
        assert!(!err.to_string().contains("SECRET"), "{err}");

        let host = FakeHost::macos()
            .file(&managed_path(DOMAIN), "")
            .deny(&managed_path(DOMAIN))
            .file(&local, xml(&[("n", Value::Integer(1.into()))]))
            .host();
        let err = effective_int(&host, DOMAIN, "n", 0).unwrap_err();
        assert!(matches!(err, PlistError::Read(ref e) if e.is_permission_denied()));

        let host = FakeHost::macos()
            .file(&local, xml(&[("n", Value::String("1".into()))]))
            .host();
        let err = effective_int(&host, DOMAIN, "n", 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{local}: n is a string, not an integer")
        );

        let mut top_array = Vec::new();
        Value::Array(vec![])
            .to_writer_binary(&mut top_array)
            .unwrap();
        let host = FakeHost::macos().file(&local, top_array).host();
        assert!(matches!(
            effective_int(&host, DOMAIN, "n", 0),
            Err(PlistError::NotADictionary { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn plists_from_the_host_never_panic(
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            binary_magic in proptest::prelude::any::<bool>(),
        ) {
            let mut bytes = if binary_magic { b"bplist00".to_vec() } else { Vec::new() };
            bytes.extend(tail);
            let _ = parse(&bytes);
        }
    }
}
