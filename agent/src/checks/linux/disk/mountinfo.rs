//! `/proc/self/mountinfo`, as proc(5) and the kernel's `show_mountinfo()` write it:
//!
//! ```text
//! 36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//! (1)(2)(3)   (4)   (5)         (6)       (7)      (8) (9)  (10)      (11)
//! ```
//!
//! mount id, parent id, `MAJ:MIN` of `st_dev`, root of the mount within its
//! filesystem, mount point, per-mount options, zero or more optional fields ended by
//! a lone `-`, filesystem type, source, per-superblock options. Fields are separated
//! by one space; the kernel escapes space, tab, newline and backslash in paths as
//! `\ooo` octal (`\040`, `\011`, `\012`, `\134`), which [`unescape`] undoes.
//!
//! The kernel never writes a malformed line, so a line that cannot be parsed means
//! the file is not the kernel's: [`parse`] rejects the whole file (naming the line)
//! rather than decide a verdict on part of it.

/// One mount, one line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub mount_id: u32,
    pub parent_id: u32,
    pub major: u32,
    pub minor: u32,
    /// The root of the mount within its filesystem (`/` unless a bind or subvolume).
    pub root: String,
    pub mount_point: String,
    pub mount_options: String,
    /// `shared:N`, `master:N`, `propagate_from:N`, `unbindable`.
    pub optional: Vec<String>,
    pub fstype: String,
    /// The mount source (`/dev/nvme0n1p2`, `tmpfs`, `server:/export`), unescaped.
    pub source: String,
    pub super_options: String,
    /// The line as read, for evidence.
    pub line: String,
}

impl MountEntry {
    /// `MAJ:MIN` as the kernel writes it.
    pub fn dev(&self) -> String {
        format!("{}:{}", self.major, self.minor)
    }
}

/// Why mountinfo text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    pub what: &'static str,
}

/// Parses mountinfo text into its entries, in file order. Empty lines are skipped.
pub fn parse(text: &str) -> Result<Vec<MountEntry>, ParseError> {
    let mut entries = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
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

fn parse_line(line: &str) -> Result<MountEntry, &'static str> {
    let mut fields = line.split(' ');
    let mut next = |what: &'static str| fields.next().ok_or(what);
    let mount_id = next("no mount id")?
        .parse()
        .map_err(|_| "mount id is not a number")?;
    let parent_id = next("no parent id")?
        .parse()
        .map_err(|_| "parent id is not a number")?;
    let (major, minor) = parse_dev(next("no MAJ:MIN")?).ok_or("MAJ:MIN is not two numbers")?;
    let root = unescape(next("no root")?);
    let mount_point = unescape(next("no mount point")?);
    let mount_options = next("no mount options")?.to_owned();
    let mut optional = Vec::new();
    loop {
        let field = next("no `-` separator")?;
        if field == "-" {
            break;
        }
        optional.push(field.to_owned());
    }
    let fstype = unescape(next("no filesystem type")?);
    if fstype.is_empty() {
        return Err("empty filesystem type");
    }
    let source = unescape(next("no mount source")?);
    // Super options end the line; a kernel never writes more, but an escaped field
    // cannot hold a space, so anything further is joined rather than lost.
    let rest: Vec<&str> = fields.collect();
    let super_options = rest.join(" ");
    Ok(MountEntry {
        mount_id,
        parent_id,
        major,
        minor,
        root,
        mount_point,
        mount_options,
        optional,
        fstype,
        source,
        super_options,
        line: line.to_owned(),
    })
}

/// `MAJ:MIN` → (major, minor).
pub fn parse_dev(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Undoes the kernel's `\ooo` octal escapes (`\040` space, `\011` tab, `\012`
/// newline, `\134` backslash, and any other byte written that way). A backslash not
/// followed by three octal digits, or whose value exceeds a byte, stays as it is.
/// Bytes that are not UTF-8 are replaced.
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'\\'
            && let Some(value) = octal3(bytes.get(i + 1..i + 4))
        {
            out.push(value);
            i += 4;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn octal3(digits: Option<&[u8]>) -> Option<u8> {
    let digits = digits?;
    let mut value: u32 = 0;
    for &d in digits {
        if !(b'0'..=b'7').contains(&d) {
            return None;
        }
        value = value * 8 + u32::from(d - b'0');
    }
    u8::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SAMPLE: &str = "\
22 1 259:3 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p3 rw,errors=remount-ro
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 propagate_from:2 - ext3 /dev/root rw,errors=continue
40 22 8:17 / /media/user/My\\040Disk rw,nosuid,nodev,relatime shared:100 - vfat /dev/sdb1 rw,fmask=0022
41 22 0:45 / /mnt/tab\\011and\\134back rw - tmpfs none rw
";

    #[test]
    fn parses_all_fields() {
        let entries = parse(SAMPLE).unwrap();
        assert_eq!(entries.len(), 5);
        let root = &entries[0];
        assert_eq!(root.mount_id, 22);
        assert_eq!(root.parent_id, 1);
        assert_eq!((root.major, root.minor), (259, 3));
        assert_eq!(root.dev(), "259:3");
        assert_eq!(root.root, "/");
        assert_eq!(root.mount_point, "/");
        assert_eq!(root.mount_options, "rw,relatime");
        assert_eq!(root.optional, vec!["shared:1"]);
        assert_eq!(root.fstype, "ext4");
        assert_eq!(root.source, "/dev/nvme0n1p3");
        assert_eq!(root.super_options, "rw,errors=remount-ro");
        assert_eq!(root.line, SAMPLE.lines().next().unwrap());
    }

    #[test]
    fn optional_fields_run_until_the_dash() {
        let entries = parse(SAMPLE).unwrap();
        assert_eq!(entries[2].optional, vec!["master:1", "propagate_from:2"]);
        assert_eq!(entries[2].root, "/mnt1");
        assert_eq!(entries[2].fstype, "ext3");
        // No optional fields at all.
        let none = parse("50 1 8:1 / /x rw - ext4 /dev/sda1 rw").unwrap();
        assert!(none[0].optional.is_empty());
        assert_eq!(none[0].fstype, "ext4");
    }

    #[test]
    fn octal_escapes_are_undone() {
        let entries = parse(SAMPLE).unwrap();
        assert_eq!(entries[3].mount_point, "/media/user/My Disk");
        assert_eq!(entries[4].mount_point, "/mnt/tab\tand\\back");
        assert_eq!(unescape("a\\012b"), "a\nb");
        // Not an escape: kept as written.
        assert_eq!(unescape("a\\09b"), "a\\09b");
        assert_eq!(unescape("end\\04"), "end\\04");
        assert_eq!(unescape("\\777"), "\\777");
    }

    #[test]
    fn every_entry_for_slash_is_kept_in_order() {
        let text = "\
1 0 0:2 / / rw - rootfs rootfs rw
22 1 8:2 / / rw,relatime - ext4 /dev/sda2 rw
90 22 0:50 / / rw - overlay overlay rw,lowerdir=/a
";
        let entries = parse(text).unwrap();
        let slash: Vec<_> = entries.iter().filter(|e| e.mount_point == "/").collect();
        assert_eq!(slash.len(), 3);
        assert_eq!(slash.last().unwrap().fstype, "overlay");
    }

    #[test]
    fn empty_source_is_kept_positionally() {
        // Older kernels wrote an empty source as nothing between two spaces.
        let entries = parse("60 22 0:60 / /mnt rw - tmpfs  rw,size=10k").unwrap();
        assert_eq!(entries[0].source, "");
        assert_eq!(entries[0].super_options, "rw,size=10k");
    }

    #[test]
    fn malformed_lines_reject_the_file_naming_the_line() {
        let err = parse("22 1 8:2 / / rw - ext4 /dev/sda2 rw\n23 22 8:x / /a rw - ext4 s o\n")
            .unwrap_err();
        assert_eq!(err.line, 2);
        assert_eq!(err.to_string(), "line 2: MAJ:MIN is not two numbers");
        assert_eq!(
            parse("22 1 8:2 / / rw shared:1 ext4 /dev/sda2")
                .unwrap_err()
                .what,
            "no `-` separator"
        );
        assert!(parse("x 1 8:2 / / rw - ext4 /dev/sda2 rw").is_err());
        assert!(parse("1 1 8:2 / / rw -").is_err());
    }

    #[test]
    fn blank_lines_are_skipped() {
        assert_eq!(parse("").unwrap().len(), 0);
        assert_eq!(
            parse("\n\n22 1 8:2 / / rw - ext4 a b\n\n").unwrap().len(),
            1
        );
    }

    proptest! {
        #[test]
        fn never_panics(text in ".*") {
            let _ = parse(&text);
        }

        #[test]
        fn never_panics_on_near_miss_lines(
            fields in proptest::collection::vec("[0-9:/\\\\a-z -]{0,12}", 0..14)
        ) {
            let _ = parse(&fields.join(" "));
        }

        #[test]
        fn unescape_never_grows(text in "[\\\\0-9a-z]{0,40}") {
            prop_assert!(unescape(&text).len() <= text.len());
        }
    }
}
