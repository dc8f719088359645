//! `system.screen_lock` — ISO/IEC 27002:2022 7.7 Clear desk and clear screen,
//! 8.1 User endpoint devices.

use std::collections::BTreeMap;

use attest_proto::{CheckResult, Evidence, Status};
use serde_json::json;

use super::dconf::{self, Entry};
use crate::checks::linux::common::display_manager;
use crate::checks::{Check, Context, file_evidence, not_applicable, unknown};
use crate::host::{Host, join_path};

pub const DCONF_DB_DIR: &str = "/etc/dconf/db";
pub const SCHEMA_DIR: &str = "/usr/share/glib-2.0/schemas";
pub const LOCK_KEY: &str = "/org/gnome/desktop/screensaver/lock-enabled";
pub const IDLE_KEY: &str = "/org/gnome/desktop/session/idle-delay";
/// GNOME's schema defaults (`org.gnome.desktop.screensaver lock-enabled`,
/// `org.gnome.desktop.session idle-delay`).
pub const GNOME_LOCK_DEFAULT: bool = true;
pub const GNOME_IDLE_DEFAULT: u32 = 300;

/// `not_applicable` when no display manager (gdm, gdm3, lightdm, sddm) is
/// installed ([`display_manager::installed`]): neither the package database
/// (dpkg's status file, or `rpm -qa` on a live RPM host) lists it nor its unit
/// file exists in `/usr/lib/systemd/system` or `/lib/systemd/system`.
///
/// Otherwise reads every system dconf database's key files,
/// `/etc/dconf/db/NAME.d/*` (regular files only, names starting with `.` skipped
/// and the `locks` directory left out, as `dconf update` does; within one
/// database the lexically later file wins, as `dconf update` merges them), and
/// takes from each database its value of
/// `[org/gnome/desktop/screensaver] lock-enabled` and
/// `[org/gnome/desktop/session] idle-delay`. Which databases a user session reads
/// depends on the dconf profile; every system database is judged, and a setting in
/// any one of them that turns the lock off is a finding. Where no database sets a
/// key, the GNOME default applies, as changed by vendor overrides
/// (`/usr/share/glib-2.0/schemas/*.gschema.override`, lexical order, later wins):
/// `lock-enabled` true, `idle-delay` 300 s.
///
/// - pass: no `lock-enabled=false` and every idle delay is between 1 and
///   `thresholds.screen_lock_max_idle_secs` (900 s by default);
/// - fail: `lock-enabled=false`, an idle delay of 0 (never idle) or above the
///   threshold;
/// - unknown: it would pass but a value cannot be parsed as GVariant (`idle-delay`
///   must be a uint32; an untyped `300` is taken at face value, although GSettings
///   reads only the typed `uint32 300`) or a key file cannot be read.
///
/// Facts: `display_managers`, `screen_lock_max_idle_secs`, `lock_enabled`,
/// `idle_delay_secs`, `settings` (each value found with its source),
/// `databases_read`.
pub struct ScreenLock;

/// A value of one of the two keys, and where it was found.
#[derive(Debug, Clone)]
struct Found {
    /// The database name (`local`), or `default` for a vendor override.
    db: String,
    path: String,
    entry: Entry,
}

impl Found {
    fn source(&self) -> String {
        format!("{}:{}", self.path, self.entry.line_no)
    }
}

#[derive(Default)]
struct Settings {
    /// db name → (lock, idle), the lexically last file winning.
    dbs: BTreeMap<String, (Option<Found>, Option<Found>)>,
    /// Vendor overrides of the defaults.
    default_lock: Option<Found>,
    default_idle: Option<Found>,
    /// Files whose entries decided something, for evidence.
    raw: BTreeMap<String, Vec<u8>>,
    errors: Vec<String>,
}

impl Settings {
    fn read(host: &Host) -> Self {
        let mut s = Settings::default();
        match host.list_dir(DCONF_DB_DIR) {
            Ok(names) => {
                for name in names {
                    let Some(db) = name.strip_suffix(".d") else {
                        continue;
                    };
                    let dir = join_path(DCONF_DB_DIR, &name);
                    if !host.is_dir(&dir) {
                        continue;
                    }
                    s.read_db(host, db, &dir);
                }
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => s.errors.push(e.to_string()),
        }
        s.read_overrides(host);
        s
    }

    fn read_db(&mut self, host: &Host, db: &str, dir: &str) {
        let names = match host.list_dir(dir) {
            Ok(names) => names,
            Err(e) => {
                self.errors.push(e.to_string());
                return;
            }
        };
        let mut lock = None;
        let mut idle = None;
        for name in names {
            let path = join_path(dir, &name);
            if name.starts_with('.') || !host.is_file(&path) {
                continue; // dotfiles, the locks directory, subdirectories
            }
            let raw = match host.read(&path) {
                Ok(raw) => raw,
                Err(e) => {
                    self.errors.push(e.to_string());
                    continue;
                }
            };
            for entry in dconf::parse_keyfile(&String::from_utf8_lossy(&raw)) {
                let key = entry.dconf_path();
                let found = Found {
                    db: db.to_owned(),
                    path: path.clone(),
                    entry,
                };
                if key == LOCK_KEY {
                    lock = Some(found);
                } else if key == IDLE_KEY {
                    idle = Some(found);
                }
            }
            self.raw.insert(path, raw);
        }
        self.dbs.insert(db.to_owned(), (lock, idle));
    }

    fn read_overrides(&mut self, host: &Host) {
        let Ok(names) = host.list_dir(SCHEMA_DIR) else {
            return;
        };
        for name in names.iter().filter(|n| n.ends_with(".gschema.override")) {
            let path = join_path(SCHEMA_DIR, name);
            let Ok(raw) = host.read(&path) else {
                continue;
            };
            let mut used = false;
            for entry in dconf::parse_keyfile(&String::from_utf8_lossy(&raw)) {
                let slot = match (entry.group.as_str(), entry.key.as_str()) {
                    ("org.gnome.desktop.screensaver", "lock-enabled") => &mut self.default_lock,
                    ("org.gnome.desktop.session", "idle-delay") => &mut self.default_idle,
                    _ => continue,
                };
                used = true;
                *slot = Some(Found {
                    db: "default".to_owned(),
                    path: path.clone(),
                    entry,
                });
            }
            if used {
                self.raw.insert(path, raw);
            }
        }
    }
}

/// The verdict on the values found, before facts and evidence.
#[derive(Debug)]
enum Verdict {
    Pass,
    Fail(String),
    Unknown(String),
}

impl Check for ScreenLock {
    fn id(&self) -> &'static str {
        "system.screen_lock"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let threshold = ctx.thresholds.screen_lock_max_idle_secs;
        let dms = display_manager::installed(ctx);
        if dms.is_empty() {
            return not_applicable(
                self.id(),
                format!(
                    "{}: no local graphical sessions to lock.",
                    display_manager::NONE_INSTALLED
                ),
            )
            .fact("display_managers", dms)
            .fact("screen_lock_max_idle_secs", threshold);
        }

        let settings = Settings::read(ctx.host);
        let mut locks: Vec<Found> = settings
            .dbs
            .values()
            .filter_map(|(lock, _)| lock.clone())
            .collect();
        if locks.is_empty() {
            locks.extend(settings.default_lock.clone());
        }
        let mut idles: Vec<Found> = settings
            .dbs
            .values()
            .filter_map(|(_, idle)| idle.clone())
            .collect();
        if idles.is_empty() {
            idles.extend(settings.default_idle.clone());
        }

        let mut fails: Vec<String> = Vec::new();
        let mut bad: Vec<String> = Vec::new();
        let mut lock_enabled = if locks.is_empty() {
            Some(GNOME_LOCK_DEFAULT)
        } else {
            Some(true)
        };
        for f in &locks {
            match dconf::parse_bool(&f.entry.value) {
                Ok(false) => {
                    lock_enabled = Some(false);
                    fails.push(format!(
                        "the screen lock is disabled ({} in {})",
                        f.entry.line,
                        f.source()
                    ));
                }
                Ok(true) => {}
                Err(e) => {
                    if lock_enabled == Some(true) {
                        lock_enabled = None;
                    }
                    bad.push(format!("{}: {e}", f.source()));
                }
            }
        }
        let mut idle_values: Vec<u32> = Vec::new();
        if idles.is_empty() {
            idle_values.push(GNOME_IDLE_DEFAULT);
            if GNOME_IDLE_DEFAULT > threshold {
                fails.push(format!(
                    "the default idle delay of {GNOME_IDLE_DEFAULT} s exceeds {threshold} s"
                ));
            }
        }
        for f in &idles {
            match dconf::parse_u32(&f.entry.value) {
                Ok(0) => {
                    idle_values.push(0);
                    fails.push(format!(
                        "the idle delay is 0, so the session never goes idle ({} in {})",
                        f.entry.line,
                        f.source()
                    ));
                }
                Ok(n) if n > threshold => {
                    idle_values.push(n);
                    fails.push(format!(
                        "the idle delay of {n} s exceeds {threshold} s ({} in {})",
                        f.entry.line,
                        f.source()
                    ));
                }
                Ok(n) => idle_values.push(n),
                Err(e) => bad.push(format!("{}: {e}", f.source())),
            }
        }
        // The deciding idle delay: 0 if any, else the longest.
        let idle_delay = if idle_values.contains(&0) {
            Some(0)
        } else {
            idle_values.iter().copied().max()
        };

        let verdict = if !fails.is_empty() {
            Verdict::Fail(fails.join("; "))
        } else if let Some(b) = bad.first() {
            Verdict::Unknown(format!("a screen-lock setting cannot be parsed: {b}"))
        } else if let Some(e) = settings.errors.first() {
            Verdict::Unknown(format!("dconf settings could not be read: {e}"))
        } else {
            Verdict::Pass
        };

        let result = match verdict {
            Verdict::Pass => CheckResult::new(
                self.id(),
                Status::Pass,
                format!(
                    "The screen locks after {} s idle (at most {threshold} s allowed).",
                    idle_delay.unwrap_or(GNOME_IDLE_DEFAULT)
                ),
            ),
            Verdict::Fail(why) => {
                CheckResult::new(self.id(), Status::Fail, format!("{}.", capitalise(&why)))
            }
            Verdict::Unknown(why) => unknown(self.id(), why),
        };

        let all: Vec<&Found> = locks.iter().chain(idles.iter()).collect();
        let evidence: Vec<Evidence> = evidence_for(&all, &settings.raw);
        let settings_fact: Vec<serde_json::Value> = all
            .iter()
            .map(|f| {
                json!({
                    "database": f.db,
                    "key": f.entry.dconf_path(),
                    "value": f.entry.value,
                    "source": f.source(),
                })
            })
            .collect();
        result
            .fact("display_managers", dms)
            .fact("screen_lock_max_idle_secs", threshold)
            .fact("lock_enabled", lock_enabled)
            .fact("idle_delay_secs", idle_delay)
            .fact("settings", settings_fact)
            .fact("databases_read", settings.dbs.keys().collect::<Vec<_>>())
            .evidences(evidence)
    }
}

/// One evidence per file, with the deciding lines.
fn evidence_for(found: &[&Found], raw: &BTreeMap<String, Vec<u8>>) -> Vec<Evidence> {
    let mut per_file: BTreeMap<&str, BTreeMap<usize, &str>> = BTreeMap::new();
    for f in found {
        per_file
            .entry(f.path.as_str())
            .or_default()
            .insert(f.entry.line_no, f.entry.line.as_str());
    }
    per_file
        .into_iter()
        .filter_map(|(path, lines)| {
            let excerpt = lines
                .iter()
                .map(|(n, l)| format!("{n}: {l}"))
                .collect::<Vec<_>>()
                .join("\n");
            raw.get(path)
                .map(|bytes| file_evidence(path, bytes, excerpt))
        })
        .collect()
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Thresholds;
    use crate::checks::linux::system::testing::systemd;
    use crate::host::fake::FakeHost;

    const DPKG_GDM3: &str =
        "Package: gdm3\nStatus: install ok installed\nArchitecture: amd64\nVersion: 43.0-3\n";

    fn desktop() -> FakeHost {
        let mut t = systemd();
        t.add_file("/var/lib/dpkg/status", DPKG_GDM3);
        t
    }

    #[test]
    fn no_display_manager_is_not_applicable() {
        let mut t = systemd();
        t.add_file(
            "/var/lib/dpkg/status",
            "Package: gdm3\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\n",
        );
        t.add_file(
            "/etc/dconf/db/local.d/00-lock",
            "[org/gnome/desktop/screensaver]\nlock-enabled=false\n",
        );
        let r = t.run(&ScreenLock);
        assert_eq!(r.status, Status::NotApplicable, "{r:?}");
        assert_eq!(r.facts["screen_lock_max_idle_secs"], json!(900));
    }

    #[test]
    fn unit_file_alone_marks_a_display_manager() {
        let mut t = systemd();
        t.add_file("/usr/lib/systemd/system/sddm.service", "[Unit]\n");
        let r = t.run(&ScreenLock);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["display_managers"], json!(["sddm"]));
        // Nothing set: GNOME's defaults.
        assert_eq!(r.facts["idle_delay_secs"], json!(300));
        assert_eq!(r.facts["lock_enabled"], json!(true));
    }

    #[test]
    fn configured_lock_passes() {
        let mut t = desktop();
        t.add_file(
            "/etc/dconf/db/local.d/00-screensaver",
            "[org/gnome/desktop/session]\nidle-delay=uint32 600\n\n[org/gnome/desktop/screensaver]\nlock-enabled=true\nlock-delay=uint32 0\n",
        );
        t.add_file(
            "/etc/dconf/db/local.d/locks/screensaver",
            "/org/gnome/desktop/session/idle-delay\n",
        );
        let r = t.run(&ScreenLock);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["idle_delay_secs"], json!(600));
        assert_eq!(r.facts["databases_read"], json!(["local"]));
        assert_eq!(r.evidence.len(), 1);
        match &r.evidence[0] {
            Evidence::File { excerpt, .. } => {
                assert_eq!(excerpt, "2: idle-delay=uint32 600\n5: lock-enabled=true")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lock_disabled_fails() {
        let mut t = desktop();
        t.add_file(
            "/etc/dconf/db/local.d/00-lock",
            "[org/gnome/desktop/screensaver]\nlock-enabled=false\n",
        );
        let r = t.run(&ScreenLock);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["lock_enabled"], json!(false));
        assert!(r.summary.contains("lock-enabled=false"), "{}", r.summary);
    }

    #[test]
    fn idle_delay_zero_fails() {
        let mut t = desktop();
        t.add_file(
            "/etc/dconf/db/local.d/00-idle",
            "[org/gnome/desktop/session]\nidle-delay=uint32 0\n",
        );
        let r = t.run(&ScreenLock);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["idle_delay_secs"], json!(0));
    }

    #[test]
    fn idle_delay_above_threshold_fails_and_threshold_is_configurable() {
        let mut t = desktop();
        t.add_file(
            "/etc/dconf/db/local.d/00-idle",
            "[org/gnome/desktop/session]\nidle-delay=1200\n",
        );
        let r = t.run(&ScreenLock);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        let th = Thresholds {
            screen_lock_max_idle_secs: 1800,
            ..Thresholds::default()
        };
        let r = t.run_with(&ScreenLock, &th);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["screen_lock_max_idle_secs"], json!(1800));
        // A threshold below GNOME's default fails an unconfigured desktop.
        let t = desktop();
        let th = Thresholds {
            screen_lock_max_idle_secs: 120,
            ..Thresholds::default()
        };
        assert_eq!(t.run_with(&ScreenLock, &th).status, Status::Fail);
    }

    #[test]
    fn lexically_later_file_wins_within_a_database() {
        let mut t = desktop();
        t.add_file(
            "/etc/dconf/db/local.d/00-defaults",
            "[org/gnome/desktop/screensaver]\nlock-enabled=false\n",
        );
        t.add_file(
            "/etc/dconf/db/local.d/99-site",
            "[org/gnome/desktop/screensaver]\nlock-enabled=true\n",
        );
        // A dotfile and a directory are not key files.
        t.add_file(
            "/etc/dconf/db/local.d/.99-swap",
            "[org/gnome/desktop/screensaver]\nlock-enabled=false\n",
        );
        let r = t.run(&ScreenLock);
        assert_eq!(r.status, Status::Pass, "{r:?}");
    }

    #[test]
    fn any_database_disabling_the_lock_fails() {
        let mut t = desktop();
        t.add_file(
            "/etc/dconf/db/local.d/00-lock",
            "[org/gnome/desktop/screensaver]\nlock-enabled=true\n",
        );
        t.add_file(
            "/etc/dconf/db/site.d/00-lock",
            "[org/gnome/desktop/screensaver]\nlock-enabled=false\n",
        );
        let r = t.run(&ScreenLock);
        assert_eq!(r.status, Status::Fail, "{r:?}");
    }

    #[test]
    fn vendor_override_changes_the_default() {
        let mut t = desktop();
        t.add_file(
            "/usr/share/glib-2.0/schemas/90_vendor.gschema.override",
            "[org.gnome.desktop.session]\nidle-delay=uint32 3600\n",
        );
        let r = t.run(&ScreenLock);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        // A database setting replaces the vendor default.
        t.add_file(
            "/etc/dconf/db/local.d/00-idle",
            "[org/gnome/desktop/session]\nidle-delay=uint32 300\n",
        );
        assert_eq!(t.run(&ScreenLock).status, Status::Pass);
    }

    #[test]
    fn unparsable_value_is_unknown() {
        let mut t = desktop();
        t.add_file(
            "/etc/dconf/db/local.d/00-idle",
            "[org/gnome/desktop/session]\nidle-delay='five minutes'\n",
        );
        let r = t.run(&ScreenLock);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
    }
}
