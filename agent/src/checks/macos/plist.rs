//! Plists as macOS writes them: XML (`<?xml …><!DOCTYPE plist …><plist
//! version="1.0">…`) or binary (`bplist00`), read by one parser (the `plist` crate).
//! Pure functions over bytes, built on every OS so Linux CI tests them.

use plist::{Dictionary, Value};

/// Why some bytes are not a plist the checks can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlistError {
    #[error("empty output")]
    Empty,
    #[error("not a plist: {0}")]
    Malformed(String),
    #[error("the top level is not a dictionary")]
    NotADictionary,
}

/// Parses an XML or binary plist, and nothing else: the old NeXTSTEP text form
/// (what `defaults read` prints) is refused, as the catalogue asks. Command output
/// that begins with a text line before the XML (`pwpolicy` prints "Getting global
/// account policies" first) is read from its first `<?xml`.
pub fn parse(bytes: &[u8]) -> Result<Value, PlistError> {
    if bytes.starts_with(b"bplist00") {
        return Value::from_reader(std::io::Cursor::new(bytes))
            .map_err(|e| PlistError::Malformed(e.to_string()));
    }
    let start = find(bytes, b"<?xml").unwrap_or(0);
    let bytes = &bytes[start..];
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(PlistError::Empty);
    }
    Value::from_reader_xml(bytes).map_err(|e| PlistError::Malformed(e.to_string()))
}

/// Parses a plist whose top level is a dictionary (what `diskutil … -plist` prints).
pub fn parse_dict(bytes: &[u8]) -> Result<Dictionary, PlistError> {
    match parse(bytes)? {
        Value::Dictionary(d) => Ok(d),
        _ => Err(PlistError::NotADictionary),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A string value of `dict`, when present and a string.
pub fn string(dict: &Dictionary, key: &str) -> Option<String> {
    dict.get(key).and_then(Value::as_string).map(str::to_owned)
}

/// A boolean value of `dict`, when present and a boolean.
pub fn boolean(dict: &Dictionary, key: &str) -> Option<bool> {
    dict.get(key).and_then(Value::as_boolean)
}

/// The dictionaries of an array value of `dict` (missing: none).
pub fn dicts<'a>(dict: &'a Dictionary, key: &str) -> Vec<&'a Dictionary> {
    dict.get(key)
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_dictionary).collect())
        .unwrap_or_default()
}

/// The strings of an array value of `dict` (missing: none; non-strings skipped).
pub fn strings(dict: &Dictionary, key: &str) -> Vec<String> {
    dict.get(key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_string)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Every dictionary anywhere in `value` (itself included), depth first.
pub fn all_dicts(value: &Value) -> Vec<&Dictionary> {
    let mut out = Vec::new();
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Dictionary(d) => {
                out.push(d);
                stack.extend(d.values());
            }
            Value::Array(items) => stack.extend(items.iter()),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_nextstep_text_form_is_refused() {
        assert!(matches!(
            parse(b"{ GuestEnabled = 0; }"),
            Err(PlistError::Malformed(_))
        ));
    }

    use super::*;

    const XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>DeviceIdentifier</key>
	<string>disk3s5</string>
	<key>Internal</key>
	<true/>
	<key>Roles</key>
	<array>
		<string>Data</string>
	</array>
	<key>Size</key>
	<integer>994662584320</integer>
</dict>
</plist>
"#;

    #[test]
    fn xml_as_diskutil_prints_it() {
        let d = parse_dict(XML.as_bytes()).unwrap();
        assert_eq!(string(&d, "DeviceIdentifier").as_deref(), Some("disk3s5"));
        assert_eq!(boolean(&d, "Internal"), Some(true));
        assert_eq!(boolean(&d, "Missing"), None);
        assert_eq!(strings(&d, "Roles"), vec!["Data"]);
        // A key of another type is not read as this one.
        assert_eq!(string(&d, "Internal"), None);
        assert_eq!(boolean(&d, "Size"), None);
    }

    #[test]
    fn binary_plists_read_the_same() {
        let xml = parse(XML.as_bytes()).unwrap();
        let mut bin = Vec::new();
        xml.to_writer_binary(&mut bin).unwrap();
        assert!(bin.starts_with(b"bplist00"));
        assert_eq!(parse(&bin).unwrap(), xml);
        let d = parse_dict(&bin).unwrap();
        assert_eq!(string(&d, "DeviceIdentifier").as_deref(), Some("disk3s5"));
    }

    #[test]
    fn a_text_line_before_the_xml_is_skipped() {
        let out = format!("Getting global account policies\n{XML}");
        let d = parse_dict(out.as_bytes()).unwrap();
        assert_eq!(boolean(&d, "Internal"), Some(true));
    }

    #[test]
    fn not_a_plist_is_an_error() {
        assert_eq!(parse(b""), Err(PlistError::Empty));
        assert_eq!(parse(b"  \n"), Err(PlistError::Empty));
        assert!(matches!(
            parse(b"Could not find disk: /System/Volumes/Data\n"),
            Err(PlistError::Malformed(_))
        ));
        let array = r#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><array><string>x</string></array></plist>"#;
        assert!(parse(array.as_bytes()).is_ok());
        assert_eq!(
            parse_dict(array.as_bytes()),
            Err(PlistError::NotADictionary)
        );
    }

    #[test]
    fn all_dicts_walks_arrays_and_dictionaries() {
        let v = parse(
            br#"<?xml version="1.0"?><plist version="1.0"><dict><key>a</key><array><dict><key>t</key><string>x</string></dict><dict><key>b</key><dict><key>t</key><string>y</string></dict></dict></array></dict></plist>"#,
        )
        .unwrap();
        let mut ts: Vec<String> = all_dicts(&v)
            .iter()
            .filter_map(|d| string(d, "t"))
            .collect();
        ts.sort();
        assert_eq!(ts, vec!["x", "y"]);
        assert_eq!(all_dicts(&v).len(), 4);
    }
}
