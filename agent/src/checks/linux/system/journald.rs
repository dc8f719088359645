//! journald's configuration, as systemd-journald reads it (journald.conf(5),
//! systemd's `conf-parser.c`):
//!
//! - the main file is the first that exists of `/etc/systemd/journald.conf`,
//!   `/run/systemd/journald.conf`, `/usr/local/lib/systemd/journald.conf`,
//!   `/usr/lib/systemd/journald.conf`;
//! - then the drop-ins `*.conf` of `/etc/systemd/journald.conf.d/`,
//!   `/run/systemd/journald.conf.d/`, `/usr/local/lib/systemd/journald.conf.d/` and
//!   `/usr/lib/systemd/journald.conf.d/`, all sorted together by file name; of two
//!   drop-ins with the same name only the one in the earlier directory is read (so
//!   `/etc` overrides a vendor file, and a link to `/dev/null` there masks it);
//! - later assignments win.
//!
//! Text rules: lines are trimmed; empty lines and lines starting with `#` or `;`
//! are comments; a line ending in `\` continues on the next; `[Journal]` is the
//! only section read, assignments outside a section are ignored (systemd warns);
//! keys are case-sensitive; a value journald does not know (`Storage=disk`) is
//! ignored and the previous value stays, as journald does after its warning.

/// The `Storage=` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    Volatile,
    Persistent,
    Auto,
    None,
}

impl Storage {
    pub fn parse(value: &str) -> Option<Storage> {
        match value {
            "volatile" => Some(Storage::Volatile),
            "persistent" => Some(Storage::Persistent),
            "auto" => Some(Storage::Auto),
            "none" => Some(Storage::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Storage::Volatile => "volatile",
            Storage::Persistent => "persistent",
            Storage::Auto => "auto",
            Storage::None => "none",
        }
    }
}

/// The last valid `Storage=` of one file, with the (first) line number it is on
/// (1-based) and the line as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageLine {
    pub storage: Storage,
    pub line_no: usize,
    pub line: String,
}

/// The main file's candidate paths, in order of precedence.
pub const MAIN_PATHS: [&str; 4] = [
    "/etc/systemd/journald.conf",
    "/run/systemd/journald.conf",
    "/usr/local/lib/systemd/journald.conf",
    "/usr/lib/systemd/journald.conf",
];

/// The drop-in directories, in order of precedence.
pub const DROPIN_DIRS: [&str; 4] = [
    "/etc/systemd/journald.conf.d",
    "/run/systemd/journald.conf.d",
    "/usr/local/lib/systemd/journald.conf.d",
    "/usr/lib/systemd/journald.conf.d",
];

/// Parses one file in journald.conf format and returns its last valid `Storage=`
/// in the `[Journal]` section.
pub fn parse_storage(text: &str) -> Option<StorageLine> {
    let mut section: Option<String> = None;
    let mut found = None;
    let mut lines = text.lines().enumerate();
    while let Some((index, first)) = lines.next() {
        let mut logical = first.trim().to_owned();
        if logical.starts_with('#') || logical.starts_with(';') {
            continue;
        }
        // Continuation lines: "a\" + "b" is "a b".
        while logical.ends_with('\\') {
            logical.pop();
            logical.push(' ');
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim()),
                None => break,
            }
        }
        let logical = logical.trim();
        if logical.is_empty() {
            continue;
        }
        if let Some(rest) = logical.strip_prefix('[') {
            section = rest.strip_suffix(']').map(str::to_owned);
            continue;
        }
        if section.as_deref() != Some("Journal") {
            continue;
        }
        let Some((key, value)) = logical.split_once('=') else {
            continue;
        };
        if key.trim() != "Storage" {
            continue;
        }
        if let Some(storage) = Storage::parse(value.trim()) {
            found = Some(StorageLine {
                storage,
                line_no: index + 1,
                line: first.trim().to_owned(),
            });
        }
    }
    found
}

/// Orders drop-ins the way systemd does: `found` holds (directory index in
/// [`DROPIN_DIRS`], file name); returns the file names with the directory that
/// wins for each, sorted by file name. Only names ending in `.conf` count.
pub fn order_dropins(found: &[(usize, String)]) -> Vec<(usize, String)> {
    let mut winners: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for (dir, name) in found {
        if !name.ends_with(".conf") {
            continue;
        }
        let entry = winners.entry(name.as_str()).or_insert(*dir);
        if *dir < *entry {
            *entry = *dir;
        }
    }
    winners
        .into_iter()
        .map(|(name, dir)| (dir, name.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn debian_default_file_sets_nothing() {
        let text = "#  This file is part of systemd.\n[Journal]\n#Storage=auto\n#Compress=yes\n";
        assert_eq!(parse_storage(text), None);
    }

    #[test]
    fn last_valid_assignment_in_journal_wins() {
        let text = "[Journal]\nStorage=volatile\nStorage=persistent\nStorage=disk\n";
        let s = parse_storage(text).unwrap();
        assert_eq!(s.storage, Storage::Persistent);
        assert_eq!(s.line_no, 3);
        assert_eq!(s.line, "Storage=persistent");
    }

    #[test]
    fn other_sections_and_outside_assignments_are_ignored() {
        let text = "Storage=persistent\n[Upload]\nStorage=persistent\n[Journal]\n";
        assert_eq!(parse_storage(text), None);
        let text = "[Journal]\nStorage=persistent\n[Remote]\nStorage=none\n";
        assert_eq!(parse_storage(text).unwrap().storage, Storage::Persistent);
    }

    #[test]
    fn whitespace_comments_case_and_continuations() {
        let text = "  [Journal]  \n ; Storage=none\n  Storage = persistent  \n";
        assert_eq!(parse_storage(text).unwrap().storage, Storage::Persistent);
        // Keys and values are case-sensitive in systemd.
        assert_eq!(parse_storage("[Journal]\nstorage=persistent\n"), None);
        assert_eq!(parse_storage("[Journal]\nStorage=Persistent\n"), None);
        let s = parse_storage("[Journal]\nStorage=\\\nvolatile\n").unwrap();
        assert_eq!(s.storage, Storage::Volatile);
        assert_eq!(s.line_no, 2);
    }

    #[test]
    fn dropins_sort_by_name_and_etc_wins_a_name() {
        let found = vec![
            (3, "10-vendor.conf".to_owned()),
            (0, "20-local.conf".to_owned()),
            (3, "20-local.conf".to_owned()),
            (0, "README".to_owned()),
            (1, "05-run.conf".to_owned()),
        ];
        assert_eq!(
            order_dropins(&found),
            vec![
                (1, "05-run.conf".to_owned()),
                (3, "10-vendor.conf".to_owned()),
                (0, "20-local.conf".to_owned()),
            ]
        );
    }

    proptest! {
        #[test]
        fn parse_storage_never_panics(text in "(\\PC|\n|\\\\|\\[|\\]|=)*") {
            let _ = parse_storage(&text);
        }

        #[test]
        fn order_dropins_never_panics(found in proptest::collection::vec((0usize..4, "\\PC*"), 0..8)) {
            let out = order_dropins(&found);
            prop_assert!(out.len() <= found.len());
        }
    }
}
