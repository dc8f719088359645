//! The raw SMBIOS table as `GetSystemFirmwareTable('RSMB', 0)` returns it (source
//! `win.api.smbios_rsmb`, `{"base64": "…"}`): a pure, bounds-checked parser of
//! the BIOS (type 0) and System (type 1) structures for `inventory.host`.
//!
//! Layout (`RawSMBIOSData`, then DMTF DSP0134):
//!
//! ```text
//! u8 Used20CallingMethod, u8 SMBIOSMajorVersion, u8 SMBIOSMinorVersion,
//! u8 DmiRevision, u32 Length (LE), then Length bytes of structures.
//! structure: u8 type, u8 length (of the formatted area, header included, ≥ 4),
//!            u16 handle, the rest of the formatted area, then its strings:
//!            each NUL-terminated, the set ended by one more NUL ("\0\0" when
//!            the structure has no strings). A string field is a 1-based index
//!            into the set; 0 means "no string".
//! ```
//!
//! The bytes come from firmware, or from a capture that could be forged: every
//! offset is checked, a structure that runs past the table stops the walk (what
//! was found before it is kept, the problem is reported), and nothing here can
//! panic or loop forever (each step advances by at least the 4-byte header).

use base64::Engine as _;
use serde_json::Value;

/// Structure types read.
const TYPE_BIOS: u8 = 0;
const TYPE_SYSTEM: u8 = 1;
/// End-of-table structure.
const TYPE_END: u8 = 127;
/// `RawSMBIOSData`'s header before the table.
const RAW_HEADER: usize = 8;
/// The largest table accepted (a real one is a few KiB; SMBIOS 3 allows 4 GiB
/// in principle, the capture's JSON must not).
pub const MAX_TABLE_BYTES: usize = 16 * 1024 * 1024;

/// BIOS information (type 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bios {
    pub vendor: Option<String>,
    pub version: Option<String>,
    pub release_date: Option<String>,
}

/// System information (type 1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct System {
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    pub version: Option<String>,
    pub serial: Option<String>,
}

/// What the table says: the SMBIOS version of the header, the first type 0 and
/// type 1 structures, and why the walk stopped early, if it did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Smbios {
    pub major: u8,
    pub minor: u8,
    pub bios: Option<Bios>,
    pub system: Option<System>,
    /// A structure that could not be read (the walk stopped there).
    pub problem: Option<String>,
}

/// Why the table could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmbiosError {
    #[error("RawSMBIOSData: {0} bytes, shorter than its 8-byte header")]
    Short(usize),
    #[error("RawSMBIOSData: the header says {declared} bytes of table, {present} are present")]
    Length { declared: u64, present: usize },
    #[error("RawSMBIOSData: a table of {0} bytes is larger than {MAX_TABLE_BYTES}")]
    TooLarge(u64),
}

/// Parses `RawSMBIOSData` bytes.
pub fn parse(raw: &[u8]) -> Result<Smbios, SmbiosError> {
    let header = raw.get(..RAW_HEADER).ok_or(SmbiosError::Short(raw.len()))?;
    let (major, minor) = (header[1], header[2]);
    let declared = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let declared64 = u64::from(declared);
    let len = usize::try_from(declared).map_err(|_| SmbiosError::TooLarge(declared64))?;
    if len > MAX_TABLE_BYTES {
        return Err(SmbiosError::TooLarge(declared64));
    }
    let table = raw
        .get(RAW_HEADER..)
        .and_then(|rest| rest.get(..len))
        .ok_or(SmbiosError::Length {
            declared: declared64,
            present: raw.len().saturating_sub(RAW_HEADER),
        })?;
    let mut out = Smbios {
        major,
        minor,
        ..Smbios::default()
    };
    let mut at = 0usize;
    // At least 4 bytes of header per structure: the walk ends.
    while at < table.len() {
        let s = match structure(table, at) {
            Ok(s) => s,
            Err(why) => {
                out.problem = Some(format!("structure at offset {at}: {why}"));
                break;
            }
        };
        match s.kind {
            TYPE_BIOS if out.bios.is_none() => {
                out.bios = Some(Bios {
                    vendor: s.string_at(4),
                    version: s.string_at(5),
                    release_date: s.string_at(8),
                });
            }
            TYPE_SYSTEM if out.system.is_none() => {
                out.system = Some(System {
                    manufacturer: s.string_at(4),
                    product: s.string_at(5),
                    version: s.string_at(6),
                    serial: s.string_at(7),
                });
            }
            TYPE_END => break,
            _ => {}
        }
        if out.bios.is_some() && out.system.is_some() {
            break;
        }
        at = s.next;
    }
    Ok(out)
}

/// One structure: its type, formatted area, strings, and where the next begins.
struct Structure<'a> {
    kind: u8,
    formatted: &'a [u8],
    strings: Vec<&'a [u8]>,
    next: usize,
}

impl Structure<'_> {
    /// The string whose 1-based index is the byte at `offset` of the formatted
    /// area: trimmed, NULs and control characters dropped, `None` when the field
    /// is beyond the structure (an older SMBIOS version), 0, out of range, or
    /// blank.
    fn string_at(&self, offset: usize) -> Option<String> {
        let index = usize::from(*self.formatted.get(offset)?);
        let bytes = self.strings.get(index.checked_sub(1)?)?;
        let text: String = String::from_utf8_lossy(bytes)
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }
}

/// Reads the structure that starts at `at` of `table`.
fn structure(table: &[u8], at: usize) -> Result<Structure<'_>, String> {
    let head = table
        .get(at..at.saturating_add(4))
        .ok_or("its 4-byte header runs past the table")?;
    let (kind, length) = (head[0], usize::from(head[1]));
    if length < 4 {
        return Err(format!(
            "type {kind}: length {length} is shorter than its header"
        ));
    }
    let formatted = table.get(at..at.saturating_add(length)).ok_or_else(|| {
        format!("type {kind}: its {length}-byte formatted area runs past the table")
    })?;
    let rest = table.get(at + length..).unwrap_or_default();
    // The string set: strings up to an empty one; "\0\0" when there are none.
    let mut strings = Vec::new();
    let mut pos = 0usize;
    loop {
        let tail = rest.get(pos..).unwrap_or_default();
        let Some(nul) = tail.iter().position(|b| *b == 0) else {
            return Err(format!(
                "type {kind}: its strings have no end before the table's end"
            ));
        };
        if nul == 0 {
            // The empty string ends the set; with no strings at all, a second
            // NUL follows the first.
            pos += if strings.is_empty() { 2 } else { 1 };
            break;
        }
        strings.push(&tail[..nul]);
        pos += nul + 1;
    }
    if strings.is_empty() && rest.get(1) != Some(&0) {
        return Err(format!(
            "type {kind}: no double NUL after the formatted area"
        ));
    }
    Ok(Structure {
        kind,
        formatted,
        strings,
        next: at + length + pos,
    })
}

/// The bytes of a `win.api.smbios_rsmb` capture, `{"base64": "…"}` (standard
/// alphabet, padded).
pub fn decode_capture(value: &Value, what: &str) -> Result<Vec<u8>, String> {
    let text = value
        .get("base64")
        .ok_or_else(|| format!("{what}: base64 not captured"))?
        .as_str()
        .ok_or_else(|| format!("{what}: base64 is not a string"))?;
    if text.len() > MAX_TABLE_BYTES / 3 * 4 + 16 {
        return Err(format!("{what}: more than {MAX_TABLE_BYTES} bytes"));
    }
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("{what}: not base64: {e}"))
}

/// Test helpers: SMBIOS tables built by hand.
#[cfg(test)]
pub mod testdata {
    /// One structure: type, formatted area after the 4-byte header, strings
    /// (non-empty: an empty string would end the set).
    pub fn make(kind: u8, body: &[u8], strings: &[&str]) -> Vec<u8> {
        let mut s = vec![kind, u8::try_from(body.len() + 4).unwrap(), 0x00, 0x01];
        s.extend_from_slice(body);
        if strings.is_empty() {
            s.extend_from_slice(&[0, 0]);
        } else {
            for t in strings {
                s.extend_from_slice(t.as_bytes());
                s.push(0);
            }
            s.push(0);
        }
        s
    }

    /// `RawSMBIOSData` around the structures.
    pub fn raw(major: u8, minor: u8, structures: &[Vec<u8>]) -> Vec<u8> {
        let table: Vec<u8> = structures.concat();
        let mut r = vec![0, major, minor, 0];
        r.extend_from_slice(&u32::try_from(table.len()).unwrap().to_le_bytes());
        r.extend(table);
        r
    }

    /// Type 0: vendor 1, version 2, start segment, release date 3, ROM size.
    pub fn bios(vendor: &str, version: &str, date: &str) -> Vec<u8> {
        make(
            0,
            &[1, 2, 0x00, 0xE0, 3, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0],
            &[vendor, version, date],
        )
    }

    /// Type 1 of SMBIOS 2.1+ (27 bytes): manufacturer 1, product 2, version 3,
    /// serial 4, a UUID, wake-up type, SKU 5, family 6.
    pub fn system(manufacturer: &str, product: &str, version: &str, serial: &str) -> Vec<u8> {
        let mut body = vec![1, 2, 3, 4];
        body.extend_from_slice(&[0xAB; 16]);
        body.extend_from_slice(&[6, 5, 6]);
        make(
            1,
            &body,
            &[manufacturer, product, version, serial, "SKU", "Family"],
        )
    }

    /// A whole SMBIOS 3.x table of a laptop.
    pub fn laptop() -> Vec<u8> {
        raw(
            3,
            4,
            &[
                bios("LENOVO", "N32ET86W (1.62 )", "01/15/2024"),
                make(3, &[1, 0x0A], &["LENOVO"]),
                system(
                    "LENOVO",
                    "20XWCTO1WW",
                    "ThinkPad X1 Carbon Gen 9",
                    "PF2ABCDE",
                ),
                make(127, &[], &[]),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::testdata::*;
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn text(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn an_smbios_3_table_gives_bios_and_system() {
        let t = parse(&laptop()).unwrap();
        assert_eq!((t.major, t.minor), (3, 4));
        assert_eq!(
            t.bios,
            Some(Bios {
                vendor: text("LENOVO"),
                version: text("N32ET86W (1.62 )"),
                release_date: text("01/15/2024"),
            })
        );
        assert_eq!(
            t.system,
            Some(System {
                manufacturer: text("LENOVO"),
                product: text("20XWCTO1WW"),
                version: text("ThinkPad X1 Carbon Gen 9"),
                serial: text("PF2ABCDE"),
            })
        );
        assert_eq!(t.problem, None);
    }

    /// SMBIOS 2.0's type 1 is 8 bytes (no UUID); 2.x tables put the System
    /// structure before the BIOS one on some boards; fields beyond a short
    /// structure are absent, not read from the strings.
    #[test]
    fn an_smbios_2_0_table_with_short_structures() {
        let table = raw(
            2,
            0,
            &[
                make(1, &[1, 2, 0, 3], &["Dell Inc.", "OptiPlex 745", "  "]),
                // Type 0 of 2.0 cut after the version: no release date field.
                make(0, &[1, 2], &["Dell Inc.", "2.6.4"]),
            ],
        );
        let t = parse(&table).unwrap();
        assert_eq!((t.major, t.minor), (2, 0));
        let s = t.system.unwrap();
        assert_eq!(s.manufacturer, text("Dell Inc."));
        assert_eq!(s.product, text("OptiPlex 745"));
        // Index 0: no string.
        assert_eq!(s.version, None);
        // A blank string is none.
        assert_eq!(s.serial, None);
        let b = t.bios.unwrap();
        assert_eq!(b.version, text("2.6.4"));
        assert_eq!(b.release_date, None);
    }

    #[test]
    fn strings_out_of_range_or_absent_are_none() {
        // Index 9 of two strings; a structure without strings ends in "\0\0".
        let table = raw(
            2,
            8,
            &[
                make(4, &[1, 2, 3], &[]),
                make(1, &[9, 1, 0, 2], &["VMware, Inc.", "VMware-56 4d"]),
            ],
        );
        let s = parse(&table).unwrap().system.unwrap();
        assert_eq!(s.manufacturer, None);
        assert_eq!(s.product, text("VMware, Inc."));
        assert_eq!(s.serial, text("VMware-56 4d"));
    }

    /// SMBIOS 3's length is the table's maximum size: zero padding after the
    /// end-of-table structure is not read as structures.
    #[test]
    fn padding_after_the_end_structure_is_ignored() {
        let mut structures = vec![make(127, &[], &[]), bios("Never", "read", "x")];
        structures.insert(0, make(2, &[1], &["Board"]));
        let mut table = raw(3, 0, &structures);
        table.extend([0u8; 32]);
        let declared = u32::try_from(table.len() - 8).unwrap();
        table[4..8].copy_from_slice(&declared.to_le_bytes());
        let t = parse(&table).unwrap();
        assert_eq!(t.bios, None);
        assert_eq!(t.system, None);
        assert_eq!(t.problem, None);
    }

    #[test]
    fn broken_tables_keep_what_came_before_and_say_why() {
        // A structure whose formatted area runs past the table.
        let mut good = raw(3, 2, &[bios("AMI", "F.20", "2023")]);
        good.extend([1, 0x40, 0, 0, 1, 2]);
        let n = u32::try_from(good.len() - 8).unwrap();
        good[4..8].copy_from_slice(&n.to_le_bytes());
        let t = parse(&good).unwrap();
        assert_eq!(t.bios.as_ref().and_then(|b| b.vendor.clone()), text("AMI"));
        assert_eq!(t.system, None);
        assert!(t.problem.as_deref().unwrap().contains("runs past"), "{t:?}");

        // A length below 4 would never advance.
        let t = parse(&raw(3, 0, &[vec![1, 0, 0, 0, 0, 0]])).unwrap();
        assert!(t.problem.unwrap().contains("shorter than its header"));

        // Strings that never end.
        let t = parse(&raw(3, 0, &[vec![1, 5, 0, 0, 1, b'A', b'B']])).unwrap();
        assert!(t.problem.unwrap().contains("no end"));

        // The header.
        assert_eq!(parse(&[0, 3, 0]), Err(SmbiosError::Short(3)));
        assert_eq!(
            parse(&[0, 3, 0, 0, 100, 0, 0, 0, 1, 2]),
            Err(SmbiosError::Length {
                declared: 100,
                present: 2
            })
        );
        assert_eq!(
            parse(&[0, 3, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]),
            Err(SmbiosError::TooLarge(0xFFFF_FFFF))
        );
        // An empty table has nothing, and no problem.
        assert_eq!(
            parse(&[0, 2, 7, 0, 0, 0, 0, 0]),
            Ok(Smbios {
                major: 2,
                minor: 7,
                ..Smbios::default()
            })
        );
    }

    #[test]
    fn control_characters_and_invalid_utf8_are_dropped() {
        let mut s = make(1, &[1, 2, 0, 0], &["Acme\tCorp", "x"]);
        // Replace "x" with an invalid byte.
        let at = s.iter().position(|b| *b == b'x').unwrap();
        s[at] = 0xFF;
        let t = parse(&raw(3, 0, &[s])).unwrap().system.unwrap();
        assert_eq!(t.manufacturer, text("AcmeCorp"));
        assert_eq!(t.product, text("\u{FFFD}"));
    }

    #[test]
    fn captures_are_base64() {
        let bytes = laptop();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        assert_eq!(decode_capture(&json!({"base64": b64}), "rsmb"), Ok(bytes));
        assert!(decode_capture(&json!({"base64": "!!"}), "rsmb").is_err());
        assert!(decode_capture(&json!({"base64": 3}), "rsmb").is_err());
        assert!(decode_capture(&json!({}), "rsmb").is_err());
    }

    proptest! {
        /// Any bytes: a value or an error, never a panic.
        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes);
        }

        /// A valid header over any table bytes: never a panic, and the table
        /// length is honoured.
        #[test]
        fn any_table_never_panics(
            major in 2u8..4,
            table in proptest::collection::vec(any::<u8>(), 0..1024),
        ) {
            let mut raw = vec![0, major, 0, 0];
            raw.extend_from_slice(&u32::try_from(table.len()).unwrap().to_le_bytes());
            raw.extend_from_slice(&table);
            let parsed = parse(&raw);
            prop_assert!(parsed.is_ok());
        }

        /// Structures built from arbitrary strings read back what was written
        /// (trimmed, without control characters).
        #[test]
        fn strings_round_trip(
            manufacturer in "[ -~]{1,40}",
            product in "[ -~]{1,40}",
        ) {
            let t = parse(&raw(3, 0, &[system(&manufacturer, &product, "v", "s")])).unwrap();
            let s = t.system.unwrap();
            let want = |x: &str| Some(x.trim().to_owned()).filter(|x| !x.is_empty());
            prop_assert_eq!(s.manufacturer, want(&manufacturer));
            prop_assert_eq!(s.product, want(&product));
        }
    }
}
