//! apt's package indexes in `/var/lib/apt/lists/`.
//!
//! apt names each downloaded file after its URI, with `/` turned into `_` (and a
//! literal `_` escaped as `%5f`), e.g.
//! `deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages.lz4`.
//! A **package index** is a file whose name ends in `_Packages`, optionally
//! compressed (`.gz`, `.xz`, `.lz4`, as apt keeps them with `Acquire::GzipIndexes`).
//! It belongs to a **security suite** when the path segment after `_dists_` (up to
//! the next `_`) ends in `-security` (`checks.md`). When a name holds `_dists_`
//! more than once, the last one is taken: the suite follows the archive URI, which
//! may itself contain anything.

use std::io::Read;
use std::sync::Arc;

use crate::checks::Context;
use crate::host::{Host, MAX_FILE_BYTES, ReadError, join_path};

/// Where apt keeps its lists.
pub const LISTS_DIR: &str = "/var/lib/apt/lists";

/// The names in [`LISTS_DIR`], listed once per run (several checks need them).
pub struct Listing(pub Result<Vec<String>, ReadError>);

pub fn listing(ctx: &Context<'_>) -> Arc<Listing> {
    ctx.memo(|ctx| Listing(ctx.host.list_dir(LISTS_DIR)))
}

/// How a package index is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gz,
    Xz,
    Lz4,
}

/// The compression of a package index, or `None` when `name` is not one.
pub fn package_index(name: &str) -> Option<Compression> {
    let (stem, compression) = if let Some(stem) = name.strip_suffix(".gz") {
        (stem, Compression::Gz)
    } else if let Some(stem) = name.strip_suffix(".xz") {
        (stem, Compression::Xz)
    } else if let Some(stem) = name.strip_suffix(".lz4") {
        (stem, Compression::Lz4)
    } else {
        (name, Compression::None)
    };
    stem.ends_with("_Packages").then_some(compression)
}

/// The suite of a list file: the segment after the last `_dists_`, up to the next
/// `_` (`bookworm-security`); `None` for flat repositories.
pub fn suite(name: &str) -> Option<&str> {
    let (_, after) = name.rsplit_once("_dists_")?;
    Some(after.split('_').next().unwrap_or(after))
}

/// True when the list file belongs to a security suite.
pub fn is_security(name: &str) -> bool {
    suite(name).is_some_and(|s| s.ends_with("-security"))
}

/// Why a package index could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{path}: cannot decompress: {source}")]
    Decompress {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: larger than {limit} bytes once decompressed")]
    TooLarge { path: String, limit: u64 },
}

/// A package index as read: the bytes on disk (for the evidence digest) and the
/// decompressed text.
pub struct IndexFile {
    pub path: String,
    pub raw: Vec<u8>,
    pub text: Vec<u8>,
}

/// Reads and decompresses the index `name` in [`LISTS_DIR`].
pub fn read_index(host: &Host, name: &str) -> Result<IndexFile, IndexError> {
    let path = join_path(LISTS_DIR, name);
    let raw = host.read(&path)?;
    let compression = package_index(name).unwrap_or(Compression::None);
    let text = decompress(&raw, compression).map_err(|e| match e {
        DecompressError::Io(source) => IndexError::Decompress {
            path: path.clone(),
            source,
        },
        DecompressError::TooLarge => IndexError::TooLarge {
            path: path.clone(),
            limit: MAX_FILE_BYTES,
        },
    })?;
    Ok(IndexFile { path, raw, text })
}

/// Why bytes could not be decompressed.
#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("larger than the read limit once decompressed")]
    TooLarge,
}

/// Decompresses a whole index, bounded by [`MAX_FILE_BYTES`]. Uncompressed data is
/// returned as is. Concatenated gzip members and xz streams are read to the end, as
/// apt does; lz4 is the frame format.
pub fn decompress(raw: &[u8], compression: Compression) -> Result<Vec<u8>, DecompressError> {
    let limit = MAX_FILE_BYTES + 1;
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(64 << 20));
    match compression {
        Compression::None => return Ok(raw.to_vec()),
        Compression::Gz => {
            flate2::read::MultiGzDecoder::new(raw)
                .take(limit)
                .read_to_end(&mut out)?;
        }
        Compression::Xz => {
            // Pure Rust (no liblzma): the agent cross-compiles without a C toolchain.
            lzma_rust2::XzReader::new(raw, true)
                .take(limit)
                .read_to_end(&mut out)?;
        }
        Compression::Lz4 => {
            lz4_flex::frame::FrameDecoder::new(raw)
                .take(limit)
                .read_to_end(&mut out)?;
        }
    }
    if out.len() as u64 > MAX_FILE_BYTES {
        return Err(DecompressError::TooLarge);
    }
    Ok(out)
}

/// One stanza of a `Packages` file, reduced to what matching needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stanza<'a> {
    pub package: &'a str,
    pub architecture: &'a str,
    pub version: &'a str,
}

/// Calls `each` for every stanza of a `Packages` (deb822) text that has a
/// `Package` field, with its `Package`, `Architecture` and `Version` (empty when
/// absent). Every other field, continuation lines and non-UTF-8 values are
/// skipped. This is the fast path of [`crate::checks::linux::common::dpkg::parse_stanzas`]:
/// it allocates nothing and finds line ends a word at a time.
pub fn scan_stanzas<'a>(text: &'a [u8], mut each: impl FnMut(Stanza<'a>)) {
    let mut cur = Stanza {
        package: "",
        architecture: "",
        version: "",
    };
    let mut flush = |cur: &mut Stanza<'a>| {
        if !cur.package.is_empty() {
            each(*cur);
        }
        *cur = Stanza {
            package: "",
            architecture: "",
            version: "",
        };
    };
    let mut rest = text;
    while !rest.is_empty() {
        let (line, next) = match find_newline(rest) {
            Some(i) => (rest.get(..i).unwrap_or_default(), rest.get(i + 1..)),
            None => (rest, None),
        };
        rest = next.unwrap_or_default();
        match line.first() {
            Some(b'P') => {
                if let Some(v) = field(line, b"Package:") {
                    cur.package = v;
                }
            }
            Some(b'A') => {
                if let Some(v) = field(line, b"Architecture:") {
                    cur.architecture = v;
                }
            }
            Some(b'V') => {
                if let Some(v) = field(line, b"Version:") {
                    cur.version = v;
                }
            }
            None => flush(&mut cur),
            Some(b' ' | b'\t' | b'\r' | 0x0b | 0x0c) if line.iter().all(|&b| is_blank(b)) => {
                flush(&mut cur)
            }
            _ => {}
        }
    }
    flush(&mut cur);
}

/// Whitespace as `str::trim` sees it, in ASCII.
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The trimmed value of `line` when it is the field `key` (`key` includes `:`).
fn field<'a>(line: &'a [u8], key: &[u8]) -> Option<&'a str> {
    let value = line.strip_prefix(key)?;
    std::str::from_utf8(value).ok().map(str::trim)
}

/// The position of the first `\n`, eight bytes at a time (the classic
/// "has a zero byte" word trick; the lowest flagged byte is always a real match).
fn find_newline(hay: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const PAT: u64 = LO * b'\n' as u64;
    let mut chunks = hay.chunks_exact(8);
    let mut offset = 0usize;
    for chunk in &mut chunks {
        let Ok(bytes) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let x = u64::from_le_bytes(bytes) ^ PAT;
        let found = x.wrapping_sub(LO) & !x & HI;
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|p| offset + p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::linux::common::dpkg::parse_stanzas;
    use proptest::prelude::*;
    use std::io::Write;

    #[test]
    fn package_indexes_and_their_compression() {
        let n = "deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages";
        assert_eq!(package_index(n), Some(Compression::None));
        assert_eq!(package_index(&format!("{n}.lz4")), Some(Compression::Lz4));
        assert_eq!(package_index(&format!("{n}.gz")), Some(Compression::Gz));
        assert_eq!(package_index(&format!("{n}.xz")), Some(Compression::Xz));
        assert_eq!(package_index(&format!("{n}.bz2")), None);
        assert_eq!(package_index(&format!("{n}.diff_Index")), None);
        assert_eq!(
            package_index("deb.debian.org_debian_dists_bookworm_InRelease"),
            None
        );
        assert_eq!(
            package_index("deb.debian.org_debian_dists_bookworm_main_i18n_Translation-en"),
            None
        );
        assert_eq!(package_index("Packages"), None);
        assert_eq!(
            package_index("_var_local_._Packages"),
            Some(Compression::None)
        );
    }

    #[test]
    fn security_suites_are_detected_from_the_name() {
        assert!(is_security(
            "deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages.lz4"
        ));
        assert!(is_security(
            "security.ubuntu.com_ubuntu_dists_noble-security_universe_binary-amd64_Packages"
        ));
        assert!(is_security(
            "archive.ubuntu.com_ubuntu_dists_jammy-security_main_binary-i386_Packages.xz"
        ));
        // The archive host is not the suite.
        assert!(!is_security(
            "deb.debian.org_debian-security_dists_bookworm_main_binary-amd64_Packages"
        ));
        assert!(!is_security(
            "deb.debian.org_debian_dists_bookworm-updates_main_binary-amd64_Packages"
        ));
        // Debian 10 and older named the suite buster/updates: not `-security`.
        assert!(!is_security(
            "security.debian.org_debian-security_dists_buster_updates_main_binary-amd64_Packages"
        ));
        assert!(!is_security("security.example_repo_._Packages"));
        // The segment must end in -security, not merely contain it.
        assert!(!is_security(
            "x_dists_bookworm-security-staging_main_binary-amd64_Packages"
        ));
        // The last _dists_ decides.
        assert!(is_security(
            "mirror_dists_x_dists_bookworm-security_main_binary-amd64_Packages"
        ));
        assert_eq!(suite("a_dists_stable"), Some("stable"));
        assert_eq!(suite("a_b_Packages"), None);
    }

    #[test]
    fn scanner_agrees_with_the_dpkg_parser() {
        let text = "Package: a\nVersion: 1.0-1\nArchitecture: amd64\nDescription: x\n Package: not-this\n\n\
                    Package: b\r\nArchitecture: all\r\nVersion: 2\r\n \t\n\
                    Version: 3\nArchitecture: amd64\n\n\n\
                    Package: c\nPackages: no\nVersionX: no\nArchitecture:i386\n";
        let mut seen = Vec::new();
        scan_stanzas(text.as_bytes(), |s| {
            seen.push((s.package, s.architecture, s.version))
        });
        assert_eq!(
            seen,
            vec![
                ("a", "amd64", "1.0-1"),
                ("b", "all", "2"),
                ("c", "i386", "")
            ]
        );
        let reference: Vec<_> = parse_stanzas(text)
            .into_iter()
            .map(|p| (p.name, p.architecture, p.version))
            .collect();
        let seen: Vec<_> = seen
            .into_iter()
            .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
            .collect();
        // The dpkg parser keeps `Packages: no` out too but reads `VersionX` as a
        // key it ignores; both agree on every stanza.
        assert_eq!(seen, reference);
    }

    #[test]
    fn newline_search_finds_the_first_newline_at_every_offset() {
        for len in 0..40 {
            for pos in 0..len {
                let mut buf = vec![b'x'; len];
                buf[pos] = b'\n';
                if pos + 3 < len {
                    buf[pos + 3] = b'\n';
                }
                assert_eq!(find_newline(&buf), Some(pos), "len {len} pos {pos}");
            }
            assert_eq!(find_newline(&vec![0x8a; len]), None);
            assert_eq!(find_newline(&vec![0x0b; len]), None);
        }
    }

    #[test]
    fn every_compression_round_trips() {
        let text = b"Package: a\nVersion: 1\nArchitecture: all\n".repeat(50);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&text).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(decompress(&gz, Compression::Gz).unwrap(), text);
        let mut xz =
            lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1)).unwrap();
        xz.write_all(&text).unwrap();
        let xz = xz.finish().unwrap();
        assert_eq!(decompress(&xz, Compression::Xz).unwrap(), text);
        // Concatenated xz streams are read to the end, as xz(1) does.
        let two = [xz.clone(), xz].concat();
        assert_eq!(
            decompress(&two, Compression::Xz).unwrap(),
            [text.clone(), text.clone()].concat()
        );
        let mut lz = lz4_flex::frame::FrameEncoder::new(Vec::new());
        lz.write_all(&text).unwrap();
        let lz = lz.finish().unwrap();
        assert_eq!(decompress(&lz, Compression::Lz4).unwrap(), text);
        assert_eq!(decompress(&text, Compression::None).unwrap(), text);
        assert!(decompress(b"not gzip", Compression::Gz).is_err());
        assert!(decompress(b"not xz", Compression::Xz).is_err());
        assert!(decompress(b"not lz4", Compression::Lz4).is_err());
    }

    proptest! {
        #[test]
        fn scanner_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut n = 0;
            scan_stanzas(&bytes, |s| { n += 1; assert!(!s.package.is_empty()); });
            prop_assert!(n <= bytes.len());
        }

        #[test]
        fn scanner_matches_dpkg_parser_on_field_soup(
            lines in proptest::collection::vec(
                "(Package|Version|Architecture|Status|Description): ?[a-z0-9.~+-]{0,6}|  cont|",
                0..30)
        ) {
            let text = lines.join("\n");
            let mut seen = Vec::new();
            scan_stanzas(text.as_bytes(), |s| seen.push((s.package.to_owned(), s.architecture.to_owned(), s.version.to_owned())));
            let reference: Vec<_> = parse_stanzas(&text)
                .into_iter()
                .map(|p| (p.name, p.architecture, p.version))
                .collect();
            prop_assert_eq!(seen, reference);
        }

        #[test]
        fn decompress_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            for c in [Compression::Gz, Compression::Xz, Compression::Lz4] {
                let _ = decompress(&bytes, c);
            }
        }

        #[test]
        fn name_classifiers_never_panic(name in any::<String>()) {
            let _ = package_index(&name);
            let _ = suite(&name);
            let _ = is_security(&name);
        }
    }
}
