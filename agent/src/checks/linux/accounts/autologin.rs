//! `accounts.auto_login_disabled` — ISO/IEC 27002:2022 5.15 Access control,
//! 5.17 Authentication information, 8.5 Secure authentication.
//!
//! The catalogue's rule (`docs/checks.md`), with the display managers' own
//! reading of their files where the rule is silent:
//!
//! - **not_applicable** when no display manager is installed, decided exactly as
//!   for `system.screen_lock` ([`display_manager::installed`]).
//! - **fail** when an installed display manager is set to log a user in
//!   automatically:
//!   - gdm (`gdm` or `gdm3` installed): `[daemon] AutomaticLoginEnable` is true in
//!     `/etc/gdm3/custom.conf` (Ubuntu), `/etc/gdm3/daemon.conf` (Debian's gdm3 is
//!     built to read this name: manpages.debian.org/unstable/gdm3/gdm3.8) or
//!     `/etc/gdm/custom.conf` (upstream, Fedora, RHEL). A build reads one of them;
//!     each that exists is judged, and any one that enables autologin fails.
//!     Within a file the last assignment wins. "True" is what gdm reads as true
//!     (`GNOME/gdm:common/gdm-settings-utils.c`,
//!     `gdm_settings_parse_value_as_boolean`): `true` in any case, or `1`. GKeyFile
//!     keeps trailing white space in a value, so `true ` is no boolean to gdm, which
//!     then keeps its default, off. The rule fails on the switch alone, whether or
//!     not `AutomaticLogin` names a user (gdm logs no one in without one; the user
//!     is reported when there is one).
//!   - lightdm: the `autologin-user` that applies to a seat is non-empty. lightdm
//!     (`canonical/lightdm:common/configuration.c`,
//!     `config_load_from_standard_locations`) loads `lightdm/lightdm.conf.d/*.conf`
//!     from `/usr/share`, `/usr/local/share` and `/etc/xdg` (the XDG defaults, the
//!     less preferred first), then `/etc/lightdm/lightdm.conf.d/*.conf`, then
//!     `/etc/lightdm/lightdm.conf`; in a directory only names ending in `.conf`, in
//!     `strcmp` order. A later file replaces an earlier one's value key by key;
//!     `[SeatDefaults]` is read as `[Seat:*]`. For a seat, lightdm applies `[Seat:*]`
//!     and then every `[Seat:GLOB]` whose glob (`*`, `?`) matches the seat's name, in
//!     the order the sections first appeared, the last one setting the key winning
//!     (`src/lightdm.c`, `get_config_sections`). So `[Seat:seat0]` applies, to the
//!     local seat every systemd host has. The seats judged are `seat0` and every
//!     seat a section names without a glob (`[Seat:seat1]`): seats that exist only
//!     at run time cannot be known from files.
//!   - sddm: the `[Autologin] User=` that sddm ends up with is non-empty. sddm
//!     (`sddm/sddm:src/common/ConfigReader.cpp`, `ConfigBase::load`) reads every
//!     file of `/usr/lib/sddm/sddm.conf.d`, then of `/etc/sddm.conf.d` (regular
//!     files not starting with `.`, whatever their extension; sorted, taken here
//!     bytewise), then `/etc/sddm.conf`; a later value wins. Its reader is its own:
//!     each line is trimmed and cut at the first `#`; a line with `=` is an
//!     assignment (name and value trimmed), else `[NAME]` opens a section; each file
//!     starts in `[General]`; nothing is an error. Names are case-sensitive.
//! - **unknown** when it would pass but a file that could decide exists and cannot
//!   be read (or its directory cannot be listed): the display manager, which runs
//!   as root, reads it.
//! - **pass** otherwise.
//!
//! gdm's and lightdm's files are GKeyFiles, parsed here as glib parses them
//! ([`parse_keyfile`]): leading white space is dropped, `#` starts a comment line,
//! `[GROUP]` (white space after `]` allowed) opens a group, `key=value` with white
//! space around `=` dropped; group and key names are case-sensitive; a later value of
//! a key in the same group wins. A line that is none of these, or a key before the
//! first group, makes glib stop with an error at that line; gdm then keeps what it
//! read before the line, and lightdm ignores the whole file (for
//! `/etc/lightdm/lightdm.conf` it refuses to start, so it logs no one in either).
//! Such lines are reported by file and line number in `unparsed_lines`, never
//! quoted.
//!
//! Not covered, as the catalogue's rule does not name them: gdm's timed login
//! (`TimedLoginEnable`), lightdm's `autologin-guest`, gdm's run-time file
//! `/run/gdm/custom.conf`, and display managers other than these three.
//!
//! Facts: `display_managers`, `autologin` (each setting that logs a user in: display
//! manager, `source` as `path:line`, the setting, the user, and for lightdm the
//! seats and section), `unparsed_lines`, `unreadable`. Evidence: every file read,
//! with its deciding lines as `LINE: key=value` (comments never included).

use std::collections::BTreeMap;

use attest_proto::{CheckResult, Evidence, Status};
use serde_json::{Value, json};

use super::{FileRead, is_c_space, numbered};
use crate::checks::linux::common::display_manager;
use crate::checks::{Check, Context, not_applicable, unknown};
use crate::host::{Host, ReadError, join_path};

/// gdm's configuration files, whichever the build reads.
pub const GDM_FILES: [&str; 3] = [
    "/etc/gdm3/custom.conf",
    "/etc/gdm3/daemon.conf",
    "/etc/gdm/custom.conf",
];
/// lightdm's drop-in directories, in the order lightdm loads them.
pub const LIGHTDM_DIRS: [&str; 4] = [
    "/usr/share/lightdm/lightdm.conf.d",
    "/usr/local/share/lightdm/lightdm.conf.d",
    "/etc/xdg/lightdm/lightdm.conf.d",
    "/etc/lightdm/lightdm.conf.d",
];
/// lightdm's main file, loaded last.
pub const LIGHTDM_CONF: &str = "/etc/lightdm/lightdm.conf";
/// The seat of the local console under systemd-logind.
pub const DEFAULT_SEAT: &str = "seat0";
/// sddm's drop-in directories, in the order sddm loads them.
pub const SDDM_DIRS: [&str; 2] = ["/usr/lib/sddm/sddm.conf.d", "/etc/sddm.conf.d"];
/// sddm's main file, loaded last.
pub const SDDM_CONF: &str = "/etc/sddm.conf";

pub struct AutoLoginDisabled;

// ---------------------------------------------------------------- GKeyFile

/// One `key=value` of a GKeyFile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    pub group: String,
    pub key: String,
    /// As GKeyFile keeps it: leading white space dropped, trailing kept, escapes
    /// not expanded.
    pub value: String,
    /// 1-based.
    pub line_no: usize,
}

impl KeyEntry {
    /// `key=value`, as the evidence shows it.
    pub fn text(&self) -> String {
        format!("{}={}", self.key, self.value)
    }
}

/// A GKeyFile as glib reads it: everything before the first line it rejects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFile {
    /// In file order.
    pub entries: Vec<KeyEntry>,
    /// Group names in the order their first header appears.
    pub groups: Vec<String>,
    /// The first line glib rejects (1-based); nothing after it was read.
    pub bad_line: Option<usize>,
}

impl KeyFile {
    /// The value of `key` in `group`: the last assignment.
    pub fn get(&self, group: &str, key: &str) -> Option<&KeyEntry> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.group == group && e.key == key)
    }
}

/// A group header (`[NAME]`, spaces or tabs after `]` allowed): `None` when the
/// line is not one, `Some(None)` when glib rejects the name (empty, or holding `[`
/// or a control character).
fn group_header(line: &str) -> Option<Option<&str>> {
    let inner = line.strip_prefix('[')?;
    let close = inner.find(']')?;
    let (name, rest) = inner.split_at(close);
    if !rest[1..].chars().all(|c| c == ' ' || c == '\t') {
        return None;
    }
    let valid = !name.is_empty() && !name.chars().any(|c| c == '[' || c.is_ascii_control());
    Some(valid.then_some(name))
}

/// glib's `g_key_file_is_key_name`: a non-empty name without `[`, `]` or `=`, not
/// starting or ending with a space, optionally followed by `[LOCALE]`.
fn is_key_name(key: &str) -> bool {
    let base_end = key.find(['[', ']']).unwrap_or(key.len());
    let base = &key[..base_end];
    if base.is_empty() || base.starts_with(' ') || base.ends_with(' ') {
        return false;
    }
    let rest = &key[base_end..];
    if rest.is_empty() {
        return true;
    }
    rest.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .is_some_and(|locale| {
            locale
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
        })
}

/// Parses GKeyFile text as glib's `g_key_file_load_from_file` does, stopping at
/// the first line it rejects.
pub fn parse_keyfile(text: &str) -> KeyFile {
    let mut kf = KeyFile::default();
    let mut group: Option<String> = None;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim_start_matches(is_c_space);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(header) = group_header(line) {
            let Some(name) = header else {
                kf.bad_line = Some(line_no);
                break;
            };
            if !kf.groups.iter().any(|g| g == name) {
                kf.groups.push(name.to_owned());
            }
            group = Some(name.to_owned());
            continue;
        }
        let pair = line.find('=').filter(|&eq| eq > 0).and_then(|eq| {
            let key = line[..eq].trim_end_matches(is_c_space);
            let value = line[eq + 1..].trim_start_matches(is_c_space);
            is_key_name(key).then_some((key, value))
        });
        match (pair, &group) {
            (Some((key, value)), Some(group)) => kf.entries.push(KeyEntry {
                group: group.clone(),
                key: key.to_owned(),
                value: value.to_owned(),
                line_no,
            }),
            // Not a comment, group or pair; or a pair before the first group.
            _ => {
                kf.bad_line = Some(line_no);
                break;
            }
        }
    }
    kf
}

// --------------------------------------------------------------------- gdm

/// A value as gdm reads a boolean: `true` in any case or `1` is true, `false` in
/// any case or `0` is false; anything else is no boolean (gdm keeps its default).
pub fn gdm_bool(value: &str) -> Option<bool> {
    if value.eq_ignore_ascii_case("true") || value == "1" {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") || value == "0" {
        Some(false)
    } else {
        None
    }
}

/// What one gdm file says: the last `[daemon] AutomaticLoginEnable` and
/// `AutomaticLogin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GdmSettings {
    pub enable: Option<KeyEntry>,
    pub user: Option<KeyEntry>,
}

impl GdmSettings {
    pub fn from_keyfile(kf: &KeyFile) -> Self {
        GdmSettings {
            enable: kf.get("daemon", "AutomaticLoginEnable").cloned(),
            user: kf.get("daemon", "AutomaticLogin").cloned(),
        }
    }

    /// True when the file turns automatic login on.
    pub fn enabled(&self) -> bool {
        self.enable
            .as_ref()
            .is_some_and(|e| gdm_bool(&e.value) == Some(true))
    }

    /// The user named, when there is one.
    pub fn user_name(&self) -> Option<&str> {
        self.user
            .as_ref()
            .map(|u| u.value.as_str())
            .filter(|u| !u.is_empty())
    }
}

// ----------------------------------------------------------------- lightdm

/// A value of lightdm's merged configuration and where it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub path: String,
    /// The section as written in the file (`SeatDefaults` stays so).
    pub section: String,
    pub entry: KeyEntry,
}

/// lightdm's configuration, merged file by file as `config_load_from_file` does.
#[derive(Debug, Clone, Default)]
pub struct LightdmConfig {
    /// Group names in the order they were created (`[SeatDefaults]` as `[Seat:*]`).
    groups: Vec<String>,
    values: BTreeMap<(String, String), Setting>,
}

impl LightdmConfig {
    /// Loads one file over the configuration. A file glib rejects is skipped whole,
    /// as lightdm skips it: returns false.
    pub fn load(&mut self, path: &str, kf: &KeyFile) -> bool {
        if kf.bad_line.is_some() {
            return false;
        }
        for section in &kf.groups {
            let group = if section == "SeatDefaults" {
                "Seat:*"
            } else {
                section.as_str()
            };
            for entry in kf.entries.iter().filter(|e| &e.group == section) {
                if !self.groups.iter().any(|g| g == group) {
                    self.groups.push(group.to_owned());
                }
                self.values.insert(
                    (group.to_owned(), entry.key.clone()),
                    Setting {
                        path: path.to_owned(),
                        section: section.clone(),
                        entry: entry.clone(),
                    },
                );
            }
        }
        true
    }

    /// The seats judged: [`DEFAULT_SEAT`] and every seat named by a section
    /// without a glob, in that order.
    pub fn seats(&self) -> Vec<String> {
        let mut seats = vec![DEFAULT_SEAT.to_owned()];
        for group in &self.groups {
            if let Some(name) = group.strip_prefix("Seat:")
                && !name.contains(['*', '?'])
                && !seats.iter().any(|s| s == name)
            {
                seats.push(name.to_owned());
            }
        }
        seats
    }

    /// The value of `key` for `seat`: `[Seat:*]`, then each `[Seat:GLOB]` matching
    /// the seat in creation order, the last that sets the key winning.
    pub fn seat_value(&self, seat: &str, key: &str) -> Option<&Setting> {
        let sections = std::iter::once("Seat:*").chain(
            self.groups
                .iter()
                .map(String::as_str)
                .filter(|g| *g != "Seat:*")
                .filter(|g| {
                    g.strip_prefix("Seat:")
                        .is_some_and(|glob| pattern_match_simple(glob, seat))
                }),
        );
        let found: Vec<&Setting> = sections
            .filter_map(|g| self.values.get(&(g.to_owned(), key.to_owned())))
            .collect();
        found.last().copied()
    }
}

/// glib's `g_pattern_match_simple`: `*` matches any run of characters, `?` one.
pub fn pattern_match_simple(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // matched[j]: the pattern so far matches t[..j].
    let mut matched = vec![false; t.len() + 1];
    matched[0] = true;
    for c in p {
        let mut next = vec![false; t.len() + 1];
        for j in 0..=t.len() {
            next[j] = match c {
                '*' => matched[j] || (j > 0 && next[j - 1]),
                '?' => j > 0 && matched[j - 1],
                c => j > 0 && matched[j - 1] && t[j - 1] == c,
            };
        }
        matched = next;
    }
    matched[t.len()]
}

// -------------------------------------------------------------------- sddm

/// One assignment of an sddm configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SddmEntry {
    pub section: String,
    pub key: String,
    pub value: String,
    /// 1-based.
    pub line_no: usize,
}

impl SddmEntry {
    pub fn text(&self) -> String {
        format!("{}={}", self.key, self.value)
    }
}

/// Parses a file as sddm's `ConfigBase::loadInternal` reads it: each line trimmed
/// and cut at its first `#`; a line with `=` assigns (name and value trimmed);
/// otherwise `[NAME]` opens a section; every other line is ignored. The file
/// starts in section `General`.
pub fn parse_sddm(text: &str) -> Vec<SddmEntry> {
    let mut section = "General".to_owned();
    let mut out = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let line = line.find('#').map_or(line, |hash| &line[..hash]).trim();
        if let Some((key, value)) = line.split_once('=') {
            out.push(SddmEntry {
                section: section.clone(),
                key: key.trim().to_owned(),
                value: value.trim().to_owned(),
                line_no: index + 1,
            });
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
        }
    }
    out
}

// ------------------------------------------------------------------- check

/// A setting that logs a user in automatically.
#[derive(Debug, Clone)]
struct Finding {
    display_manager: &'static str,
    path: String,
    line_no: usize,
    setting: String,
    user: Option<String>,
    /// lightdm: the seats it applies to, and its section.
    seats: Vec<String>,
    section: Option<String>,
}

impl Finding {
    fn source(&self) -> String {
        format!("{}:{}", self.path, self.line_no)
    }

    /// `gdm: AutomaticLoginEnable=true at /etc/gdm3/daemon.conf:10 (user alice)`.
    fn describe(&self) -> String {
        let mut s = format!(
            "{}: {} at {}",
            self.display_manager,
            self.setting,
            self.source()
        );
        if !self.seats.is_empty() {
            s.push_str(&format!(" for {}", self.seats.join(", ")));
        }
        // lightdm's and sddm's settings name the user themselves.
        if self.display_manager == "gdm" {
            match &self.user {
                Some(user) => s.push_str(&format!(" (user {user})")),
                None => s.push_str(" (no AutomaticLogin user)"),
            }
        }
        s
    }

    fn fact(&self) -> Value {
        let mut v = json!({
            "display_manager": self.display_manager,
            "source": self.source(),
            "setting": self.setting,
            "user": self.user,
        });
        if let Some(obj) = v.as_object_mut()
            && let Some(section) = &self.section
        {
            obj.insert("section".to_owned(), json!(section));
            obj.insert("seats".to_owned(), json!(self.seats));
        }
        v
    }
}

/// What the run gathered over the display managers' files.
#[derive(Default)]
struct Gathered {
    autologin: Vec<Finding>,
    evidence: Vec<Evidence>,
    /// `path:line` of lines glib rejected.
    unparsed: Vec<String>,
    /// Files or directories that exist and could not be read.
    unreadable: Vec<String>,
}

impl Gathered {
    /// A file of the display manager: `None` when it does not exist or is not a
    /// regular file once links are followed (a dangling link, a loop, a
    /// directory), which the display managers skip too.
    fn read(&mut self, host: &Host, path: &str) -> Option<(FileRead, String)> {
        match host.read(path) {
            Ok(bytes) => Some((
                FileRead::new(path, &bytes),
                String::from_utf8_lossy(&bytes).into_owned(),
            )),
            Err(
                ReadError::NotFound { .. }
                | ReadError::NotAFile { .. }
                | ReadError::LinkLoop { .. },
            ) => None,
            Err(e) => {
                self.unreadable.push(e.to_string());
                None
            }
        }
    }

    /// The names in a drop-in directory, sorted bytewise; none when it is absent
    /// or a link loop (the display managers cannot open it either).
    fn list(&mut self, host: &Host, dir: &str) -> Vec<String> {
        match host.list_dir(dir) {
            Ok(names) => names,
            Err(ReadError::NotFound { .. } | ReadError::LinkLoop { .. }) => Vec::new(),
            Err(e) => {
                self.unreadable.push(e.to_string());
                Vec::new()
            }
        }
    }

    /// Evidence for a file: its deciding lines, else `none`.
    fn evidence(&mut self, file: &FileRead, lines: &BTreeMap<usize, String>, none: &str) {
        let excerpt = if lines.is_empty() {
            none.to_owned()
        } else {
            lines
                .iter()
                .map(|(n, text)| numbered(*n, text))
                .collect::<Vec<_>>()
                .join("\n")
        };
        self.evidence.push(file.evidence(excerpt));
    }

    fn gdm(&mut self, host: &Host) {
        for path in GDM_FILES {
            let Some((file, text)) = self.read(host, path) else {
                continue;
            };
            let kf = parse_keyfile(&text);
            let settings = GdmSettings::from_keyfile(&kf);
            let mut lines = BTreeMap::new();
            for e in settings.enable.iter().chain(settings.user.iter()) {
                lines.insert(e.line_no, e.text());
            }
            let none = match kf.bad_line {
                Some(n) => {
                    self.unparsed.push(format!("{path}:{n}"));
                    format!(
                        "(no [daemon] AutomaticLoginEnable before line {n}, where gdm stops reading)"
                    )
                }
                None => "(no [daemon] AutomaticLoginEnable)".to_owned(),
            };
            self.evidence(&file, &lines, &none);
            if let Some(enable) = settings.enable.as_ref().filter(|_| settings.enabled()) {
                self.autologin.push(Finding {
                    display_manager: "gdm",
                    path: path.to_owned(),
                    line_no: enable.line_no,
                    setting: enable.text(),
                    user: settings.user_name().map(str::to_owned),
                    seats: Vec::new(),
                    section: None,
                });
            }
        }
    }

    fn lightdm(&mut self, host: &Host) {
        let mut paths = Vec::new();
        for dir in LIGHTDM_DIRS {
            for name in self.list(host, dir) {
                if name.ends_with(".conf") {
                    paths.push(join_path(dir, &name));
                }
            }
        }
        paths.push(LIGHTDM_CONF.to_owned());

        let mut config = LightdmConfig::default();
        let mut files = Vec::new();
        for path in paths {
            let Some((file, text)) = self.read(host, &path) else {
                continue;
            };
            let kf = parse_keyfile(&text);
            if let Some(n) = kf.bad_line {
                self.unparsed.push(format!("{path}:{n}"));
            }
            config.load(&path, &kf);
            files.push((file, kf.bad_line));
        }

        // The deciding line of each seat, and the seats each line decides.
        let mut deciding: BTreeMap<(String, usize), (Setting, Vec<String>)> = BTreeMap::new();
        for seat in config.seats() {
            if let Some(s) = config.seat_value(&seat, "autologin-user") {
                deciding
                    .entry((s.path.clone(), s.entry.line_no))
                    .or_insert_with(|| (s.clone(), Vec::new()))
                    .1
                    .push(seat);
            }
        }
        for (file, bad_line) in &files {
            let lines: BTreeMap<usize, String> = deciding
                .values()
                .filter(|(s, _)| s.path == file.path)
                .map(|(s, _)| (s.entry.line_no, s.entry.text()))
                .collect();
            let none = match bad_line {
                Some(n) if file.path == LIGHTDM_CONF => {
                    format!("(line {n} not understood: lightdm refuses to start with this file)")
                }
                Some(n) => format!("(line {n} not understood: lightdm ignores this file)"),
                None => "(no autologin-user that applies)".to_owned(),
            };
            self.evidence(file, &lines, &none);
        }
        for (setting, seats) in deciding.into_values() {
            if setting.entry.value.is_empty() {
                continue;
            }
            self.autologin.push(Finding {
                display_manager: "lightdm",
                path: setting.path.clone(),
                line_no: setting.entry.line_no,
                setting: setting.entry.text(),
                user: Some(setting.entry.value.clone()),
                seats,
                section: Some(setting.section.clone()),
            });
        }
    }

    fn sddm(&mut self, host: &Host) {
        let mut paths = Vec::new();
        for dir in SDDM_DIRS {
            for name in self.list(host, dir) {
                if !name.starts_with('.') {
                    paths.push(join_path(dir, &name));
                }
            }
        }
        paths.push(SDDM_CONF.to_owned());

        let mut user: Option<(String, SddmEntry)> = None;
        let mut files = Vec::new();
        for path in paths {
            let Some((file, text)) = self.read(host, &path) else {
                continue;
            };
            for e in parse_sddm(&text) {
                if e.section == "Autologin" && e.key == "User" {
                    user = Some((path.clone(), e));
                }
            }
            files.push(file);
        }
        for file in &files {
            let lines: BTreeMap<usize, String> = user
                .iter()
                .filter(|(path, _)| *path == file.path)
                .map(|(_, e)| (e.line_no, e.text()))
                .collect();
            self.evidence(file, &lines, "(no [Autologin] User= that applies)");
        }
        if let Some((path, e)) = user.filter(|(_, e)| !e.value.is_empty()) {
            self.autologin.push(Finding {
                display_manager: "sddm",
                path,
                line_no: e.line_no,
                setting: format!("[Autologin] {}", e.text()),
                user: Some(e.value.clone()),
                seats: Vec::new(),
                section: None,
            });
        }
    }
}

impl Check for AutoLoginDisabled {
    fn id(&self) -> &'static str {
        "accounts.auto_login_disabled"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let dms = display_manager::installed(ctx);
        if dms.is_empty() {
            return not_applicable(
                self.id(),
                format!(
                    "{}: no graphical login that could log a user in automatically.",
                    display_manager::NONE_INSTALLED
                ),
            )
            .fact("display_managers", dms);
        }

        let mut g = Gathered::default();
        if dms.iter().any(|dm| dm.starts_with("gdm")) {
            g.gdm(ctx.host);
        }
        if dms.contains(&"lightdm") {
            g.lightdm(ctx.host);
        }
        if dms.contains(&"sddm") {
            g.sddm(ctx.host);
        }

        let result = if !g.autologin.is_empty() {
            let what: Vec<String> = g.autologin.iter().map(Finding::describe).collect();
            CheckResult::new(
                self.id(),
                Status::Fail,
                format!("Automatic login is enabled: {}.", what.join("; ")),
            )
        } else if let Some(e) = g.unreadable.first() {
            unknown(
                self.id(),
                format!("{e}; it may enable automatic login for {}", dms.join(", ")),
            )
        } else {
            CheckResult::new(
                self.id(),
                Status::Pass,
                format!(
                    "No display manager logs a user in automatically ({} checked).",
                    dms.join(", ")
                ),
            )
        };
        let autologin: Vec<Value> = g.autologin.iter().map(Finding::fact).collect();
        result
            .fact("display_managers", dms)
            .fact("autologin", autologin)
            .fact("unparsed_lines", g.unparsed)
            .fact("unreadable", g.unreadable)
            .evidences(g.evidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Thresholds;
    use crate::host::fake::FakeHost;

    // ------------------------------------------------------------ GKeyFile

    #[test]
    fn keyfile_groups_pairs_and_comments() {
        let kf = parse_keyfile(
            "# GDM configuration storage\n\n[daemon]\n  # indented comment\n\
             \tAutomaticLoginEnable = True\nAutomaticLogin=alice\n[security]\n",
        );
        assert_eq!(kf.bad_line, None);
        assert_eq!(kf.groups, ["daemon", "security"]);
        assert_eq!(kf.entries.len(), 2);
        let e = kf.get("daemon", "AutomaticLoginEnable").unwrap();
        assert_eq!((e.value.as_str(), e.line_no), ("True", 5));
        assert_eq!(e.text(), "AutomaticLoginEnable=True");
        assert_eq!(kf.get("daemon", "AutomaticLogin").unwrap().value, "alice");
        assert!(kf.get("security", "AutomaticLogin").is_none());
    }

    #[test]
    fn keyfile_names_are_case_sensitive_and_the_last_value_wins() {
        let kf = parse_keyfile(
            "[daemon]\nAutomaticLoginEnable=true\n[Daemon]\nAutomaticLoginEnable=false\n\
             [daemon]\nautomaticloginenable=false\n",
        );
        // [Daemon] and the lower-case key are other names: true stands.
        assert_eq!(
            kf.get("daemon", "AutomaticLoginEnable").unwrap().value,
            "true"
        );
        let kf = parse_keyfile(
            "[daemon]\nAutomaticLoginEnable=true\n[xdmcp]\n[daemon]\nAutomaticLoginEnable=false\n",
        );
        // A group opened twice is one group; the later value wins.
        let e = kf.get("daemon", "AutomaticLoginEnable").unwrap();
        assert_eq!((e.value.as_str(), e.line_no), ("false", 5));
        assert_eq!(kf.groups, ["daemon", "xdmcp"]);
    }

    #[test]
    fn keyfile_values_keep_trailing_space_and_hashes() {
        let kf = parse_keyfile("[g]\na=  x # not a comment \r\nb=\n");
        assert_eq!(kf.get("g", "a").unwrap().value, "x # not a comment ");
        assert_eq!(kf.get("g", "b").unwrap().value, "");
    }

    #[test]
    fn keyfile_stops_at_the_first_line_glib_rejects() {
        for (text, bad) in [
            ("key=before a group\n[g]\n", 1),
            ("[g]\nno equals sign\nk=v\n", 2),
            ("[g]\n=value\n", 2),
            ("[g] trailing\n", 1),
            ("[]\n", 1),
            ("[a[b]\n", 1),
            ("[g]\n[bad]key=v\n", 2),
            ("[g]\nkey[de=v\n", 2),
            ("[g]\nkey[d e]=v\n", 2),
        ] {
            let kf = parse_keyfile(text);
            assert_eq!(kf.bad_line, Some(bad), "{text:?}");
        }
        // What came before the bad line is kept.
        let kf = parse_keyfile("[daemon]\nAutomaticLoginEnable=true\noops\nAutomaticLogin=x\n");
        assert_eq!(kf.bad_line, Some(3));
        assert!(kf.get("daemon", "AutomaticLoginEnable").is_some());
        assert!(kf.get("daemon", "AutomaticLogin").is_none());
        // Accepted: a header followed by blanks, a localised key, spaces inside a key.
        let kf = parse_keyfile("[g] \t\nName[de_DE@euro]=x\nsome key=y\n");
        assert_eq!(kf.bad_line, None);
        assert_eq!(kf.entries.len(), 2);
    }

    // ----------------------------------------------------------------- gdm

    #[test]
    fn gdm_reads_true_in_any_case_and_1() {
        for v in ["true", "True", "TRUE", "tRuE", "1"] {
            assert_eq!(gdm_bool(v), Some(true), "{v}");
        }
        for v in ["false", "False", "0"] {
            assert_eq!(gdm_bool(v), Some(false), "{v}");
        }
        for v in ["true ", "yes", "on", "", "01", "\"true\""] {
            assert_eq!(gdm_bool(v), None, "{v:?}");
        }
    }

    #[test]
    fn gdm_settings_from_the_daemon_group_only() {
        let s = GdmSettings::from_keyfile(&parse_keyfile(
            "[daemon]\n#  AutomaticLoginEnable = true\n#  AutomaticLogin = user1\n\
             [security]\nAutomaticLoginEnable=true\n",
        ));
        assert!(!s.enabled());
        assert_eq!(s.enable, None);
        let s = GdmSettings::from_keyfile(&parse_keyfile(
            "[daemon]\nAutomaticLoginEnable=True\nAutomaticLogin=\n",
        ));
        assert!(s.enabled());
        assert_eq!(s.user_name(), None);
        let s = GdmSettings::from_keyfile(&parse_keyfile(
            "[daemon]\nAutomaticLoginEnable=true\nAutomaticLogin=alice\nAutomaticLoginEnable=false\n",
        ));
        assert!(!s.enabled());
        assert_eq!(s.user_name(), Some("alice"));
    }

    // ------------------------------------------------------------- lightdm

    fn lightdm(files: &[(&str, &str)]) -> LightdmConfig {
        let mut c = LightdmConfig::default();
        for (path, text) in files {
            c.load(path, &parse_keyfile(text));
        }
        c
    }

    fn user_for<'a>(c: &'a LightdmConfig, seat: &str) -> Option<&'a str> {
        c.seat_value(seat, "autologin-user")
            .map(|s| s.entry.value.as_str())
    }

    #[test]
    fn lightdm_seat_sections_apply_in_order() {
        let c = lightdm(&[(
            "/etc/lightdm/lightdm.conf",
            "[LightDM]\nautologin-user=nobody-here\n[Seat:*]\nautologin-user=alice\n\
             [Seat:seat0]\nautologin-user=\n[Seat:seat1]\nautologin-user=kiosk\n",
        )]);
        // [LightDM] is no seat section.
        assert_eq!(c.seats(), ["seat0", "seat1"]);
        assert_eq!(user_for(&c, "seat0"), Some(""));
        assert_eq!(user_for(&c, "seat1"), Some("kiosk"));
        // A seat no section names gets [Seat:*].
        assert_eq!(user_for(&c, "seat7"), Some("alice"));
    }

    #[test]
    fn lightdm_globs_and_seat_defaults() {
        let c = lightdm(&[(
            "/etc/lightdm/lightdm.conf",
            "[SeatDefaults]\nautologin-user=alice\n[Seat:seat?]\nautologin-user=bob\n\
             [Seat:other*]\nautologin-user=carol\n",
        )]);
        // [SeatDefaults] is [Seat:*]; globs are no seat names.
        assert_eq!(c.seats(), ["seat0"]);
        assert_eq!(user_for(&c, "seat0"), Some("bob"));
        let s = c.seat_value("seat0", "autologin-user").unwrap();
        assert_eq!(s.section, "Seat:seat?");
        let c = lightdm(&[("/x.conf", "[SeatDefaults]\nautologin-user=alice\n")]);
        assert_eq!(user_for(&c, "seat0"), Some("alice"));
        assert_eq!(
            c.seat_value("seat0", "autologin-user").unwrap().section,
            "SeatDefaults"
        );
    }

    #[test]
    fn lightdm_later_files_win_key_by_key_and_rejected_files_count_for_nothing() {
        let c = lightdm(&[
            (
                "/etc/lightdm/lightdm.conf.d/10-a.conf",
                "[Seat:*]\nautologin-user=alice\n",
            ),
            (
                "/etc/lightdm/lightdm.conf.d/20-b.conf",
                "[Seat:*]\nuser-session=xfce\n",
            ),
        ]);
        assert_eq!(user_for(&c, "seat0"), Some("alice"));
        let c = lightdm(&[
            (
                "/etc/lightdm/lightdm.conf.d/10-a.conf",
                "[Seat:*]\nautologin-user=alice\n",
            ),
            ("/etc/lightdm/lightdm.conf", "[Seat:*]\nautologin-user=\n"),
        ]);
        assert_eq!(user_for(&c, "seat0"), Some(""));
        let mut c = LightdmConfig::default();
        assert!(c.load(
            "/a.conf",
            &parse_keyfile("[Seat:*]\nautologin-user=alice\n")
        ));
        assert!(!c.load(
            "/b.conf",
            &parse_keyfile("[Seat:*]\nautologin-user=\njunk\n")
        ));
        assert_eq!(user_for(&c, "seat0"), Some("alice"));
    }

    #[test]
    fn glob_matching_as_glib() {
        assert!(pattern_match_simple("*", ""));
        assert!(pattern_match_simple("seat*", "seat0"));
        assert!(pattern_match_simple("s?at0", "seat0"));
        assert!(pattern_match_simple("*0", "seat0"));
        assert!(!pattern_match_simple("seat?", "seat"));
        assert!(!pattern_match_simple("seat1", "seat0"));
        assert!(pattern_match_simple("a*b*c", "axxbyyc"));
        assert!(!pattern_match_simple("a*b*c", "axxbyy"));
    }

    // ---------------------------------------------------------------- sddm

    #[test]
    fn sddm_sections_comments_and_trimming() {
        let entries = parse_sddm(
            "Numlock=on\n[Autologin]\n  User = alice # kiosk\nSession=plasma\n#User=bob\n\
             [Theme]\nUser=carol\n[Autologin]\nRelogin=false\n",
        );
        let auto: Vec<(&str, &str, usize)> = entries
            .iter()
            .filter(|e| e.section == "Autologin")
            .map(|e| (e.key.as_str(), e.value.as_str(), e.line_no))
            .collect();
        assert_eq!(
            auto,
            [
                ("User", "alice", 3),
                ("Session", "plasma", 4),
                ("Relogin", "false", 9)
            ]
        );
        assert_eq!(entries[0].section, "General");
        assert_eq!(entries[0].key, "Numlock");
        // Case matters; a bare word is ignored, not an error.
        let entries = parse_sddm("[autologin]\nuser=x\nrandom words\n[Autologin]\nUser=\n");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].section, "autologin");
        assert_eq!(
            (entries[1].section.as_str(), entries[1].value.as_str()),
            ("Autologin", "")
        );
    }

    // --------------------------------------------------------------- check

    const DPKG: &str = "/var/lib/dpkg/status";

    fn dpkg(packages: &[&str]) -> String {
        packages
            .iter()
            .map(|p| {
                format!(
                    "Package: {p}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\n\n"
                )
            })
            .collect()
    }

    fn run(host: FakeHost) -> CheckResult {
        let host = host.host();
        let thresholds = Thresholds::default();
        let ctx = Context::new(&host, chrono::DateTime::UNIX_EPOCH, &thresholds);
        let r = AutoLoginDisabled.run(&ctx);
        assert_eq!(r.check, "accounts.auto_login_disabled");
        if matches!(r.status, Status::Unknown | Status::NotApplicable) {
            assert!(r.reason.is_some(), "{r:?}");
        }
        r
    }

    fn with(packages: &[&str]) -> FakeHost {
        FakeHost::linux().file(DPKG, dpkg(packages))
    }

    fn excerpts(r: &CheckResult) -> BTreeMap<String, String> {
        r.evidence
            .iter()
            .map(|e| match e {
                Evidence::File { path, excerpt, .. } => (path.clone(), excerpt.clone()),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn no_display_manager_is_not_applicable_even_with_autologin_files() {
        let r = run(with(&["openssh-server"])
            .file(
                "/etc/gdm3/custom.conf",
                "[daemon]\nAutomaticLoginEnable=true\n",
            )
            .file("/etc/sddm.conf", "[Autologin]\nUser=alice\n"));
        assert_eq!(r.status, Status::NotApplicable, "{r:?}");
        assert!(
            r.reason.as_deref().unwrap().contains("No display manager"),
            "{r:?}"
        );
        assert_eq!(r.facts["display_managers"], json!([]));
    }

    #[test]
    fn gdm_without_configuration_passes() {
        let r = run(with(&["gdm3"]));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["display_managers"], json!(["gdm3"]));
        assert_eq!(r.facts["autologin"], json!([]));
        assert!(r.evidence.is_empty());
    }

    #[test]
    fn gdm_autologin_fails_with_file_line_and_user() {
        let r = run(with(&["gdm3"]).file(
            "/etc/gdm3/custom.conf",
            "# GDM configuration storage\n\n[daemon]\nAutomaticLoginEnable=True\nAutomaticLogin=alice\n",
        ));
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(
            r.facts["autologin"],
            json!([{"display_manager": "gdm", "source": "/etc/gdm3/custom.conf:4",
                    "setting": "AutomaticLoginEnable=True", "user": "alice"}])
        );
        assert_eq!(
            r.summary,
            "Automatic login is enabled: gdm: AutomaticLoginEnable=True at \
             /etc/gdm3/custom.conf:4 (user alice)."
        );
        assert_eq!(
            excerpts(&r)["/etc/gdm3/custom.conf"],
            "4: AutomaticLoginEnable=True\n5: AutomaticLogin=alice"
        );
    }

    #[test]
    fn every_gdm_file_is_judged() {
        // Debian's gdm3 reads daemon.conf; a left-over custom.conf says false.
        let r = run(with(&["gdm3"])
            .file(
                "/etc/gdm3/custom.conf",
                "[daemon]\nAutomaticLoginEnable=false\n",
            )
            .file(
                "/etc/gdm3/daemon.conf",
                "[daemon]\nAutomaticLoginEnable=1\n",
            ));
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["autologin"][0]["source"], "/etc/gdm3/daemon.conf:2");
        assert_eq!(r.facts["autologin"][0]["user"], Value::Null);
        assert!(
            r.summary.contains("(no AutomaticLogin user)"),
            "{}",
            r.summary
        );
        let r = run(with(&["gdm"]).file(
            "/etc/gdm/custom.conf",
            "[daemon]\nAutomaticLoginEnable=true\n[daemon]\nAutomaticLoginEnable=false\n",
        ));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(
            excerpts(&r)["/etc/gdm/custom.conf"],
            "4: AutomaticLoginEnable=false"
        );
    }

    #[test]
    fn gdm_keeps_what_precedes_a_rejected_line_and_the_line_is_not_quoted() {
        let host = with(&["gdm3"]).file(
            "/etc/gdm3/custom.conf",
            "[daemon]\nAutomaticLoginEnable=true\nsecret-looking junk line\nAutomaticLoginEnable=false\n",
        );
        let r = run(host);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(
            r.facts["unparsed_lines"],
            json!(["/etc/gdm3/custom.conf:3"])
        );
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("secret-looking"), "{text}");
        let r = run(with(&["gdm3"]).file(
            "/etc/gdm3/custom.conf",
            "oops\n[daemon]\nAutomaticLoginEnable=true\n",
        ));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(
            excerpts(&r)["/etc/gdm3/custom.conf"].contains("before line 1"),
            "{r:?}"
        );
    }

    #[test]
    fn only_installed_display_managers_are_judged() {
        // lightdm's configuration is left behind, lightdm itself is gone.
        let r = run(with(&["gdm3"]).file(
            "/etc/lightdm/lightdm.conf",
            "[Seat:*]\nautologin-user=alice\n",
        ));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(!excerpts(&r).contains_key("/etc/lightdm/lightdm.conf"));
    }

    #[test]
    fn lightdm_autologin_fails_and_names_the_seats() {
        let r = run(with(&["lightdm"])
            .file(
                "/usr/share/lightdm/lightdm.conf.d/50-ubuntu.conf",
                "[Seat:*]\nuser-session=ubuntu\n",
            )
            .file(
                "/etc/lightdm/lightdm.conf.d/50-kiosk.conf",
                "[Seat:seat0]\nautologin-user=kiosk\nautologin-user-timeout=0\n",
            )
            .file(
                "/etc/lightdm/lightdm.conf.d/README",
                "[Seat:*]\nautologin-user=ignored\n",
            ));
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(
            r.facts["autologin"],
            json!([{"display_manager": "lightdm",
                    "source": "/etc/lightdm/lightdm.conf.d/50-kiosk.conf:2",
                    "setting": "autologin-user=kiosk", "user": "kiosk",
                    "section": "Seat:seat0", "seats": ["seat0"]}])
        );
        let ex = excerpts(&r);
        assert!(
            !ex.contains_key("/etc/lightdm/lightdm.conf.d/README"),
            "{ex:?}"
        );
        assert_eq!(
            ex["/usr/share/lightdm/lightdm.conf.d/50-ubuntu.conf"],
            "(no autologin-user that applies)"
        );
    }

    #[test]
    fn lightdm_empty_autologin_user_in_the_main_file_passes() {
        let r = run(with(&["lightdm"])
            .file(
                "/etc/lightdm/lightdm.conf.d/90-autologin.conf",
                "[SeatDefaults]\nautologin-user=alice\n",
            )
            .file(
                "/etc/lightdm/lightdm.conf",
                "[Seat:*]\n#autologin-user=\nautologin-user=\n",
            ));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(
            excerpts(&r)["/etc/lightdm/lightdm.conf"],
            "3: autologin-user="
        );
        // A drop-in glib rejects is ignored whole, as lightdm ignores it.
        let r = run(with(&["lightdm"]).file(
            "/etc/lightdm/lightdm.conf.d/90-autologin.conf",
            "autologin-user=alice\n[Seat:*]\nautologin-user=alice\n",
        ));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(
            r.facts["unparsed_lines"],
            json!(["/etc/lightdm/lightdm.conf.d/90-autologin.conf:1"])
        );
    }

    #[test]
    fn sddm_drop_ins_then_main_file_last_wins() {
        let host = with(&["sddm"])
            .file(
                "/usr/lib/sddm/sddm.conf.d/00-defaults",
                "[Autologin]\nUser=\n",
            )
            .file(
                "/etc/sddm.conf.d/kde_settings.conf",
                "[Autologin]\nRelogin=false\nSession=plasma\nUser=alice\n",
            )
            .file("/etc/sddm.conf.d/.hidden", "[Autologin]\nUser=\n");
        let r = run(host.clone());
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(
            r.facts["autologin"],
            json!([{"display_manager": "sddm",
                    "source": "/etc/sddm.conf.d/kde_settings.conf:4",
                    "setting": "[Autologin] User=alice", "user": "alice"}])
        );
        // /etc/sddm.conf is read last and clears it.
        let r = run(host.file("/etc/sddm.conf", "[Autologin]\nUser= # off\n"));
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(excerpts(&r)["/etc/sddm.conf"], "2: User=");
        assert_eq!(
            excerpts(&r)["/etc/sddm.conf.d/kde_settings.conf"],
            "(no [Autologin] User= that applies)"
        );
    }

    #[test]
    fn an_unreadable_file_is_unknown_unless_something_fails() {
        let host = with(&["gdm3", "sddm"]).file(
            "/etc/gdm3/custom.conf",
            "[daemon]\nAutomaticLoginEnable=false\n",
        );
        let denied = host
            .clone()
            .file("/etc/sddm.conf", "[Autologin]\nUser=x\n")
            .deny("/etc/sddm.conf");
        let r = run(denied.clone());
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(
            r.reason
                .as_deref()
                .unwrap()
                .contains("/etc/sddm.conf: permission denied"),
            "{r:?}"
        );
        assert_eq!(r.facts["unreadable"].as_array().unwrap().len(), 1);
        // An unreadable drop-in directory counts the same.
        let r = run(host
            .clone()
            .dir("/etc/sddm.conf.d")
            .deny("/etc/sddm.conf.d"));
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        // A fail found elsewhere stands.
        let r = run(denied.file(
            "/etc/gdm3/daemon.conf",
            "[daemon]\nAutomaticLoginEnable=true\n",
        ));
        assert_eq!(r.status, Status::Fail, "{r:?}");
        // Absent files, dangling links, link loops and directories are not errors.
        let r = run(host
            .link("/etc/sddm.conf", "/nowhere")
            .link("/etc/sddm.conf.d", "sddm.conf.d")
            .link("/etc/gdm3/daemon.conf", "daemon.conf")
            .dir("/etc/gdm/custom.conf"));
        assert_eq!(r.status, Status::Pass, "{r:?}");
    }
}
