//! `/proc/swaps`, as the kernel's `swap_show()` writes it:
//!
//! ```text
//! Filename                                Type            Size            Used            Priority
//! /dev/nvme0n1p2                          partition       16777212        0               -2
//! /swap\040file                           file            2097148         0               -3
//! ```
//!
//! A header line, then one line per active swap area: the path (escaped like
//! mountinfo, `\040` for a space, padded with spaces), then type, size and used in
//! KiB, and priority, separated by tabs (shown here as spaces). The type is
//! `partition` for any block device (a disk partition, dm-crypt, zram) and `file`
//! for a swap file. A swap file that was deleted while active keeps working and is
//! shown with ` (deleted)` appended to its path (escaped as `\040(deleted)` or not,
//! both are accepted).
//!
//! The four last fields are taken from the right, so a path is read whole whatever
//! it holds. As with mountinfo, a line the kernel could not have written rejects
//! the file.

use super::mountinfo::unescape;

/// What kind of swap area the kernel reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwapKind {
    /// A block device.
    Partition,
    File,
    /// A type this parser does not know (the kernel writes only the two above).
    Other(String),
}

impl SwapKind {
    pub fn as_str(&self) -> &str {
        match self {
            SwapKind::Partition => "partition",
            SwapKind::File => "file",
            SwapKind::Other(s) => s,
        }
    }
}

/// One active swap area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwapEntry {
    /// The path, unescaped, without a ` (deleted)` suffix.
    pub path: String,
    /// The path carried ` (deleted)`: a swap file removed while in use.
    pub deleted: bool,
    pub kind: SwapKind,
    pub size_kib: u64,
    pub used_kib: u64,
    pub priority: i64,
    /// The line as read, for evidence.
    pub line: String,
}

/// Why `/proc/swaps` text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    pub what: &'static str,
}

const DELETED: &str = " (deleted)";

/// Parses `/proc/swaps`: the active swap areas in file order. The header line
/// (first field `Filename`) and blank lines are skipped.
pub fn parse(text: &str) -> Result<Vec<SwapEntry>, ParseError> {
    let mut entries = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.split_whitespace().next() == Some("Filename") {
            continue;
        }
        let entry = parse_line(line).map_err(|what| ParseError {
            line: index + 1,
            what,
        })?;
        entries.push(entry);
    }
    Ok(entries)
}

fn parse_line(line: &str) -> Result<SwapEntry, &'static str> {
    let mut rest = line.trim_end();
    let mut last = [""; 4];
    for slot in last.iter_mut().rev() {
        let cut = rest
            .rfind(|c: char| c.is_ascii_whitespace())
            .ok_or("fewer than five fields")?;
        *slot = rest.get(cut + 1..).unwrap_or("");
        rest = rest.get(..cut).unwrap_or("").trim_end();
    }
    let [kind, size, used, priority] = last;
    let raw_path = rest.trim_start();
    if raw_path.is_empty() {
        return Err("no path");
    }
    let mut path = unescape(raw_path);
    let deleted = path.ends_with(DELETED);
    if deleted {
        path.truncate(path.len() - DELETED.len());
    }
    let kind = match kind {
        "partition" => SwapKind::Partition,
        "file" => SwapKind::File,
        other => SwapKind::Other(other.to_owned()),
    };
    Ok(SwapEntry {
        path,
        deleted,
        kind,
        size_kib: size.parse().map_err(|_| "size is not a number")?,
        used_kib: used.parse().map_err(|_| "used is not a number")?,
        priority: priority.parse().map_err(|_| "priority is not a number")?,
        line: line.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEADER: &str = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";

    #[test]
    fn header_only_means_no_swap() {
        assert!(parse(HEADER).unwrap().is_empty());
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn parses_partitions_files_and_zram() {
        let text = format!(
            "{HEADER}/dev/nvme0n1p2                          partition\t16777212\t0\t\t-2\n\
             /swapfile                               file\t\t2097148\t\t512\t\t-3\n\
             /dev/zram0                              partition\t8388604\t\t0\t\t100\n"
        );
        let swaps = parse(&text).unwrap();
        assert_eq!(swaps.len(), 3);
        assert_eq!(swaps[0].path, "/dev/nvme0n1p2");
        assert_eq!(swaps[0].kind, SwapKind::Partition);
        assert_eq!(swaps[0].size_kib, 16777212);
        assert_eq!(swaps[0].priority, -2);
        assert_eq!(swaps[1].path, "/swapfile");
        assert_eq!(swaps[1].kind, SwapKind::File);
        assert_eq!(swaps[1].used_kib, 512);
        assert!(!swaps[1].deleted);
        assert_eq!(swaps[2].priority, 100);
    }

    #[test]
    fn escapes_in_paths() {
        let swaps = parse(&format!(
            "{HEADER}/var/swap\\040area/file\\134x            file\t\t1024\t\t0\t\t-2\n"
        ))
        .unwrap();
        assert_eq!(swaps[0].path, "/var/swap area/file\\x");
    }

    #[test]
    fn deleted_suffix_escaped_or_not() {
        let swaps = parse(&format!(
            "{HEADER}/swapfile\\040(deleted)                    file\t\t1024\t\t0\t\t-2\n\
             /old swap (deleted)                     file\t\t1024\t\t0\t\t-3\n"
        ))
        .unwrap();
        assert_eq!(swaps[0].path, "/swapfile");
        assert!(swaps[0].deleted);
        assert_eq!(swaps[1].path, "/old swap");
        assert!(swaps[1].deleted);
    }

    #[test]
    fn unknown_types_are_kept() {
        let swaps = parse("/dev/x   weird\t1\t0\t-1\n").unwrap();
        assert_eq!(swaps[0].kind, SwapKind::Other("weird".into()));
        assert_eq!(swaps[0].kind.as_str(), "weird");
    }

    #[test]
    fn malformed_lines_reject_the_file() {
        let err = parse(&format!("{HEADER}/dev/sda2 partition 10 0\n")).unwrap_err();
        assert_eq!(err.line, 2);
        assert_eq!(err.what, "fewer than five fields");
        assert_eq!(
            parse("/dev/sda2 partition ten 0 -2").unwrap_err().what,
            "size is not a number"
        );
        assert!(parse("/dev/sda2 partition 10 0 high").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(text in ".*") {
            let _ = parse(&text);
        }

        #[test]
        fn never_panics_on_near_miss_lines(
            fields in proptest::collection::vec("[0-9/\\\\a-z() \t-]{0,10}", 0..7)
        ) {
            let _ = parse(&fields.join("\t"));
        }
    }
}
