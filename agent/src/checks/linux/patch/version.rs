//! Debian version ordering, as deb-version(7) defines it and dpkg implements it
//! (`parseversion` and `verrevcmp` in lib/dpkg).
//!
//! A version is `[epoch:]upstream[-revision]`: the epoch is the number before the
//! first `:`, the revision is what follows the last `-`. Two versions compare by
//! epoch (numerically), then upstream, then revision. Upstream and revision compare
//! left to right in alternating runs: a run of non-digits compares character by
//! character, where `~` sorts before everything (even the end of the string),
//! the end of the string before letters, and letters before every other character;
//! then a run of digits compares numerically (leading zeros do not count). A
//! missing revision equals the revision `0`.
//!
//! The same order is used for kernel release strings (`6.1.0-27-amd64` <
//! `6.1.0-28-amd64`): `checks.md` decides `patch.reboot_pending` by it.

use std::cmp::Ordering;

/// Why a string is not a Debian version. Only what dpkg itself rejects is an
/// error; what dpkg merely warns about (a first character that is not a digit, odd
/// characters) still parses, as it does for dpkg.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("version string is empty")]
    Empty,
    #[error("version string has embedded spaces")]
    EmbeddedSpace,
    #[error("epoch in version is empty")]
    EmptyEpoch,
    #[error("epoch in version is not a number")]
    EpochNotANumber,
    #[error("epoch in version is too big")]
    EpochTooBig,
    #[error("nothing after colon in version number")]
    NothingAfterColon,
    #[error("revision number is empty")]
    EmptyRevision,
    #[error("version number is empty")]
    EmptyUpstream,
}

/// A parsed Debian version, borrowing from the string it came from.
///
/// Equality and order are dpkg's (`1.0` equals `1.00` and `1.0-0`), not those of
/// the text.
#[derive(Debug, Clone, Copy)]
pub struct Version<'a> {
    pub epoch: u32,
    pub upstream: &'a str,
    /// Empty when the version has no `-`.
    pub revision: &'a str,
}

impl<'a> Version<'a> {
    /// Parses `[epoch:]upstream[-revision]` as dpkg's `parseversion` does
    /// (surrounding whitespace is ignored).
    pub fn parse(text: &'a str) -> Result<Self, VersionError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(VersionError::Empty);
        }
        if text.chars().any(char::is_whitespace) {
            return Err(VersionError::EmbeddedSpace);
        }
        let (epoch, rest) = match text.split_once(':') {
            Some((epoch, rest)) => {
                if epoch.is_empty() {
                    return Err(VersionError::EmptyEpoch);
                }
                if !epoch.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(VersionError::EpochNotANumber);
                }
                let epoch: u32 = match epoch.parse() {
                    Ok(n) if n <= i32::MAX as u32 => n,
                    _ => return Err(VersionError::EpochTooBig),
                };
                if rest.is_empty() {
                    return Err(VersionError::NothingAfterColon);
                }
                (epoch, rest)
            }
            None => (0, text),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((_, "")) => return Err(VersionError::EmptyRevision),
            Some((upstream, revision)) => (upstream, revision),
            None => (rest, ""),
        };
        if upstream.is_empty() {
            return Err(VersionError::EmptyUpstream);
        }
        Ok(Version {
            epoch,
            upstream,
            revision,
        })
    }

    /// dpkg's order: epoch, then upstream, then revision.
    pub fn compare(&self, other: &Version<'_>) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream.as_bytes(), other.upstream.as_bytes()))
            .then_with(|| verrevcmp(self.revision.as_bytes(), other.revision.as_bytes()))
    }
}

impl PartialEq for Version<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.compare(other) == Ordering::Equal
    }
}

impl Eq for Version<'_> {}

impl PartialOrd for Version<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.compare(other)
    }
}

impl std::fmt::Display for Version<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.epoch != 0 {
            write!(f, "{}:", self.epoch)?;
        }
        f.write_str(self.upstream)?;
        if !self.revision.is_empty() {
            write!(f, "-{}", self.revision)?;
        }
        Ok(())
    }
}

/// Compares two version strings in Debian order; an error names the first one that
/// does not parse.
pub fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    Ok(Version::parse(a)?.compare(&Version::parse(b)?))
}

/// The weight of one character in a non-digit run (dpkg's `order`): `~` below the
/// end of the string, the end (and digits) at 0, letters by their code, everything
/// else above all letters.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

fn is_digit(c: Option<u8>) -> bool {
    c.is_some_and(|c| c.is_ascii_digit())
}

/// dpkg's `verrevcmp` on one part (upstream or revision).
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0usize, 0usize);
    while i < a.len() || j < b.len() {
        // A run of non-digits, character by character.
        while (i < a.len() && !is_digit(a.get(i).copied()))
            || (j < b.len() && !is_digit(b.get(j).copied()))
        {
            let ac = order(a.get(i).copied());
            let bc = order(b.get(j).copied());
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        // A run of digits, numerically: skip leading zeros, then the longer run
        // wins, else the first differing digit decides.
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while is_digit(a.get(i).copied()) && is_digit(b.get(j).copied()) {
            if first_diff == Ordering::Equal {
                first_diff = a.get(i).cmp(&b.get(j));
            }
            i += 1;
            j += 1;
        }
        if is_digit(a.get(i).copied()) {
            return Ordering::Greater;
        }
        if is_digit(b.get(j).copied()) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};
    use proptest::prelude::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        compare(a, b).unwrap()
    }

    #[test]
    fn ordering_table() {
        let table: &[(&str, Ordering, &str)] = &[
            // Tilde sorts before everything, even the end of the string.
            ("1.0~rc1", Less, "1.0"),
            ("1.0~rc1", Less, "1.0~rc2"),
            ("1.0~~", Less, "1.0~"),
            ("1.0~~a", Less, "1.0~"),
            ("1.0~", Less, "1.0"),
            ("1.0", Less, "1.0a"),
            ("1.0", Less, "1.0+"),
            ("1.0", Less, "1.0.1"),
            // Epoch first.
            ("1:0.1", Greater, "2.0"),
            ("0:2.0", Equal, "2.0"),
            ("2:1.0", Greater, "1:9.9"),
            ("10:1", Greater, "9:1"),
            // Revision.
            ("1.0-1", Less, "1.0-1+deb12u1"),
            ("1.0-1", Less, "1.0-2"),
            ("1.0-10", Greater, "1.0-9"),
            ("1.0", Equal, "1.0-0"),
            ("2.30-0ubuntu1~22.04", Less, "2.30-0ubuntu1"),
            ("3.0.11-1~deb12u2", Less, "3.0.11-1"),
            ("3.0.11-1~deb12u2", Greater, "3.0.11-1~deb12u1"),
            // Letters sort before non-letters.
            ("1.0a", Less, "1.0+"),
            ("1.0a", Less, "1.0."),
            ("1.0+", Less, "1.0."),
            ("1.0Z", Less, "1.0a"),
            // Digit runs numerically, leading zeros ignored.
            ("1.10", Greater, "1.9"),
            ("1.010", Equal, "1.10"),
            ("1.0", Equal, "1.00"),
            ("1.002", Less, "1.10"),
            ("20240101", Greater, "2023.12"),
            // Real package versions.
            ("2.36-9+deb12u9", Greater, "2.36-9+deb12u8"),
            ("1:9.18.28-1~deb12u2", Greater, "1:9.18.24-1"),
            ("22.01+really26.02+dfsg-0+deb12u1", Greater, "22.01+dfsg-8"),
            // Kernel release strings.
            ("6.1.0-27-amd64", Less, "6.1.0-28-amd64"),
            ("6.1.0-9-amd64", Less, "6.1.0-10-amd64"),
            ("5.15.0-91-generic", Less, "5.15.0-101-generic"),
            ("6.1.0-28-amd64", Equal, "6.1.0-28-amd64"),
            (
                "5.14.0-427.13.1.el9_4.x86_64",
                Less,
                "5.14.0-503.11.1.el9_5.x86_64",
            ),
            ("6.8.0-45-generic", Greater, "6.5.0-44-generic"),
        ];
        for (a, want, b) in table {
            assert_eq!(cmp(a, b), *want, "{a} vs {b}");
            assert_eq!(cmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn parts_are_split_as_dpkg_does() {
        let v = Version::parse(" 1:2.30-0ubuntu1~22.04 ").unwrap();
        assert_eq!(v.epoch, 1);
        assert_eq!(v.upstream, "2.30");
        assert_eq!(v.revision, "0ubuntu1~22.04");
        // The revision follows the last hyphen; upstream may contain hyphens and colons.
        let v = Version::parse("6.1.0-27-amd64").unwrap();
        assert_eq!((v.upstream, v.revision), ("6.1.0-27", "amd64"));
        let v = Version::parse("1:2:3-4").unwrap();
        assert_eq!((v.epoch, v.upstream, v.revision), (1, "2:3", "4"));
        assert_eq!(v.to_string(), "1:2:3-4");
        assert_eq!(Version::parse("0:1.0").unwrap().to_string(), "1.0");
    }

    #[test]
    fn what_dpkg_rejects_is_an_error() {
        assert_eq!(Version::parse("   "), Err(VersionError::Empty));
        assert_eq!(Version::parse("1 .0"), Err(VersionError::EmbeddedSpace));
        assert_eq!(Version::parse(":1.0"), Err(VersionError::EmptyEpoch));
        assert_eq!(Version::parse("a:1.0"), Err(VersionError::EpochNotANumber));
        assert_eq!(Version::parse("-1:1.0"), Err(VersionError::EpochNotANumber));
        assert_eq!(
            Version::parse("99999999999:1.0"),
            Err(VersionError::EpochTooBig)
        );
        assert_eq!(
            Version::parse("2147483648:1.0"),
            Err(VersionError::EpochTooBig)
        );
        assert!(Version::parse("2147483647:1.0").is_ok());
        assert_eq!(Version::parse("1:"), Err(VersionError::NothingAfterColon));
        assert_eq!(Version::parse("1.0-"), Err(VersionError::EmptyRevision));
        assert_eq!(Version::parse("-1"), Err(VersionError::EmptyUpstream));
        assert_eq!(Version::parse("1:-1"), Err(VersionError::EmptyUpstream));
        // dpkg only warns about these: they still compare.
        assert!(Version::parse("abc").is_ok());
        assert!(Version::parse("1.0_x").is_ok());
        assert!(compare("1.0", "1:").is_err());
    }

    fn version_strategy() -> impl Strategy<Value = String> {
        "([0-9]{1,2}:)?[0-9a-z~+.]{1,6}(-[0-9a-z~+.]{1,4})?"
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = Version::parse(&s);
        }

        #[test]
        fn compare_never_panics_on_bytes(a in "[ -~]{0,12}", b in "[ -~]{0,12}") {
            let _ = compare(&a, &b);
        }

        #[test]
        fn antisymmetric(a in version_strategy(), b in version_strategy()) {
            let (Ok(x), Ok(y)) = (Version::parse(&a), Version::parse(&b)) else {
                return Ok(());
            };
            prop_assert_eq!(x.compare(&y), y.compare(&x).reverse());
            prop_assert_eq!(x.compare(&x), Equal);
        }

        #[test]
        fn transitive(a in version_strategy(), b in version_strategy(), c in version_strategy()) {
            let (Ok(x), Ok(y), Ok(z)) = (Version::parse(&a), Version::parse(&b), Version::parse(&c)) else {
                return Ok(());
            };
            let mut v = [x, y, z];
            v.sort();
            prop_assert!(v[0] <= v[1] && v[1] <= v[2] && v[0] <= v[2]);
            if x <= y && y <= z {
                prop_assert!(x <= z);
            }
            if x == y && y == z {
                prop_assert!(x == z);
            }
        }

        #[test]
        fn a_tilde_suffix_sorts_below_and_a_plus_suffix_above(v in "[0-9]{1,3}(\\.[0-9]{1,3}){0,2}", s in "[a-z0-9]{0,3}") {
            let base = Version::parse(&v).unwrap();
            let tilde = format!("{v}~{s}");
            let plus = format!("{v}+{s}");
            prop_assert_eq!(Version::parse(&tilde).unwrap().compare(&base), Less);
            prop_assert_eq!(Version::parse(&plus).unwrap().compare(&base), Greater);
        }
    }
}
