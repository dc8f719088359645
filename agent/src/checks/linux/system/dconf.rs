//! dconf key files (`/etc/dconf/db/NAME.d/*`, dconf(7)) and GSettings vendor
//! override files (`*.gschema.override`), both GKeyFile text whose values are
//! GVariant text.
//!
//! GKeyFile rules kept here: leading whitespace is ignored; `#` starts a comment
//! line; `[GROUP]` opens a group; `key=value` with spaces around `=` ignored; a
//! later value of the same key wins; lines before the first group, or without
//! `=`, are skipped (GKeyFile would reject the file, and `dconf update` the
//! database: this is noted, not modelled). In a dconf key file the key's path is
//! `/GROUP/key` (`/key` for group `/`), as `dconf update` builds it.

/// One `key=value` of a key file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub group: String,
    pub key: String,
    /// The raw value (GVariant text), trimmed.
    pub value: String,
    /// 1-based.
    pub line_no: usize,
    pub line: String,
}

impl Entry {
    /// The dconf path of the key: `/GROUP/key`.
    pub fn dconf_path(&self) -> String {
        if self.group == "/" {
            format!("/{}", self.key)
        } else {
            format!("/{}/{}", self.group, self.key)
        }
    }
}

/// Parses a key file into its entries, in file order.
pub fn parse_keyfile(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut group: Option<String> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            group = rest.trim_end().strip_suffix(']').map(str::to_owned);
            continue;
        }
        let Some(group) = &group else {
            continue;
        };
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim_end();
        if key.is_empty() {
            continue;
        }
        out.push(Entry {
            group: group.clone(),
            key: key.to_owned(),
            value: value.trim().to_owned(),
            line_no: index + 1,
            line: line.trim_end().to_owned(),
        });
    }
    out
}

/// A GVariant value that is not of the type its key needs. The value itself is
/// not kept: messages name the file and line, never quote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GVariantError {
    #[error("the value is not a boolean")]
    NotBool,
    #[error("the value is not a uint32")]
    NotU32,
}

/// A GVariant boolean: `true`, `false`, optionally typed `boolean true`.
pub fn parse_bool(value: &str) -> Result<bool, GVariantError> {
    let v = value.trim();
    let v = strip_type(v, "boolean").unwrap_or(v);
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(GVariantError::NotBool),
    }
}

/// A GVariant unsigned 32-bit integer: `uint32 300`, `@u 300`, or an untyped
/// `300`. Decimal, or hexadecimal with `0x`.
pub fn parse_u32(value: &str) -> Result<u32, GVariantError> {
    let v = value.trim();
    let v = strip_type(v, "uint32")
        .or_else(|| strip_type(v, "@u"))
        .unwrap_or(v);
    let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None if v.bytes().all(|b| b.is_ascii_digit()) => v.parse::<u32>().ok(),
        None => None,
    };
    parsed.ok_or(GVariantError::NotU32)
}

/// `TYPE rest` → `rest`, when `v` starts with the type keyword and whitespace.
fn strip_type<'a>(v: &'a str, keyword: &str) -> Option<&'a str> {
    let rest = v.strip_prefix(keyword)?;
    if rest.starts_with(char::is_whitespace) {
        Some(rest.trim_start())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keyfile_groups_keys_and_paths() {
        let text = "# screen lock\n[org/gnome/desktop/screensaver]\nlock-enabled=true\n  lock-delay = uint32 0\n\n[org/gnome/desktop/session]\nidle-delay=uint32 300\nidle-delay=uint32 600\nno equals sign\n[/]\ntop=1\n";
        let e = parse_keyfile(text);
        assert_eq!(e.len(), 5);
        assert_eq!(
            e[0].dconf_path(),
            "/org/gnome/desktop/screensaver/lock-enabled"
        );
        assert_eq!(e[1].key, "lock-delay");
        assert_eq!(e[1].value, "uint32 0");
        assert_eq!(e[1].line_no, 4);
        assert_eq!(e[3].value, "uint32 600");
        assert_eq!(e[3].line, "idle-delay=uint32 600");
        assert_eq!(e[4].dconf_path(), "/top");
    }

    #[test]
    fn lines_before_a_group_are_skipped() {
        assert!(parse_keyfile("idle-delay=0\n[broken\nx=1\n").is_empty());
    }

    #[test]
    fn gvariant_booleans() {
        assert_eq!(parse_bool("true"), Ok(true));
        assert_eq!(parse_bool(" false "), Ok(false));
        assert_eq!(parse_bool("boolean false"), Ok(false));
        assert!(parse_bool("False").is_err());
        assert!(parse_bool("'false'").is_err());
        assert!(parse_bool("0").is_err());
    }

    #[test]
    fn gvariant_uint32() {
        assert_eq!(parse_u32("uint32 300"), Ok(300));
        assert_eq!(parse_u32("uint32   0"), Ok(0));
        assert_eq!(parse_u32("300"), Ok(300));
        assert_eq!(parse_u32("@u 600"), Ok(600));
        assert_eq!(parse_u32("0x12c"), Ok(300));
        assert_eq!(parse_u32("4294967295"), Ok(u32::MAX));
        assert!(parse_u32("4294967296").is_err());
        assert!(parse_u32("-1").is_err());
        assert!(parse_u32("uint32300").is_err());
        assert!(parse_u32("int32 300").is_err());
        assert!(parse_u32("'300'").is_err());
        assert!(parse_u32("").is_err());
        assert!(parse_u32("+5").is_err());
    }

    proptest! {
        #[test]
        fn keyfile_never_panics(text in "(\\PC|\n|\\[|\\]|=|#)*") {
            for e in parse_keyfile(&text) {
                let _ = e.dconf_path();
                let _ = parse_bool(&e.value);
                let _ = parse_u32(&e.value);
            }
        }

        #[test]
        fn gvariant_never_panics(v in "\\PC*") {
            let _ = parse_bool(&v);
            let _ = parse_u32(&v);
        }

        #[test]
        fn uint32_round_trips(n: u32) {
            prop_assert_eq!(parse_u32(&format!("uint32 {n}")), Ok(n));
            prop_assert_eq!(parse_u32(&n.to_string()), Ok(n));
        }
    }
}
