//! `system.audit_logging` — ISO/IEC 27002:2022 8.15 Logging.

use attest_proto::{CheckResult, Evidence, Status};

use super::journald::{self, DROPIN_DIRS, MAIN_PATHS, Storage, StorageLine};
use super::units;
use crate::checks::{Check, Context, file_evidence, unknown};
use crate::host::{Host, join_path};

/// The logging services that count on their own.
pub const LOGGING_UNITS: [&str; 2] = ["auditd", "rsyslog"];

/// Where journald keeps a persistent journal when `Storage=auto`.
pub const JOURNAL_DIR: &str = "/var/log/journal";

/// Passes when `auditd` or `rsyslog` is enabled, or when journald keeps its journal
/// on disk: the effective `Storage=` is `persistent`, or it is `auto` (explicitly or
/// by default) and `/var/log/journal` is a directory. journald's files are read as
/// journald reads them (see [`journald`]): the main file, then the drop-ins of
/// `/etc`, `/run`, `/usr/local/lib` and `/usr/lib` sorted by name, the last
/// assignment winning. `checks.md` names `/etc/systemd/journald.conf` and
/// `journald.conf.d/*.conf`; the vendor and runtime directories are read too
/// because journald itself reads them, so a vendor drop-in that sets
/// `Storage=volatile` is not missed.
///
/// Fails otherwise. `unknown` when it would fail but a journald file could not be
/// read, or `/etc/systemd/system` cannot be listed.
///
/// Facts: `units_checked`, `units_enabled`, `units_masked`, `journald_storage`,
/// `journald_storage_source` (`path:line` or `default`), `journald_files_read`,
/// `var_log_journal_is_dir`.
pub struct AuditLogging;

/// The effective journald storage and where it came from.
struct JournaldConfig {
    /// (host path, its last `Storage=`), in the order read.
    files: Vec<(String, Option<StorageLine>, Vec<u8>)>,
    errors: Vec<String>,
}

impl JournaldConfig {
    fn read(host: &Host) -> Self {
        let mut cfg = JournaldConfig {
            files: Vec::new(),
            errors: Vec::new(),
        };
        for path in MAIN_PATHS {
            match host.read(path) {
                Ok(raw) => {
                    cfg.push(path.to_owned(), raw);
                    break;
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    cfg.errors.push(e.to_string());
                    break;
                }
            }
        }
        let mut found = Vec::new();
        for (index, dir) in DROPIN_DIRS.iter().enumerate() {
            match host.list_dir(dir) {
                Ok(names) => found.extend(names.into_iter().map(|n| (index, n))),
                Err(e) if e.is_not_found() => {}
                Err(e) => cfg.errors.push(e.to_string()),
            }
        }
        for (index, name) in journald::order_dropins(&found) {
            let Some(dir) = DROPIN_DIRS.get(index) else {
                continue;
            };
            let path = join_path(dir, &name);
            if crate::checks::linux::common::systemd::links_to_dev_null(host, &path) {
                continue; // masked
            }
            match host.read(&path) {
                Ok(raw) => cfg.push(path, raw),
                Err(e) if e.is_not_found() => {}
                Err(e) => cfg.errors.push(e.to_string()),
            }
        }
        cfg
    }

    fn push(&mut self, path: String, raw: Vec<u8>) {
        let storage = journald::parse_storage(&String::from_utf8_lossy(&raw));
        self.files.push((path, storage, raw));
    }

    /// The last file that sets `Storage=`, with its setting.
    fn effective(&self) -> Option<(&str, &StorageLine, &[u8])> {
        self.files
            .iter()
            .rev()
            .find_map(|(path, s, raw)| s.as_ref().map(|s| (path.as_str(), s, raw.as_slice())))
    }
}

impl Check for AuditLogging {
    fn id(&self) -> &'static str {
        "system.audit_logging"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let scan = units::scan(ctx, &LOGGING_UNITS);
        let cfg = JournaldConfig::read(ctx.host);
        let effective = cfg.effective();
        let storage = effective.map_or(Storage::Auto, |(_, s, _)| s.storage);
        let source = effective.map_or_else(
            || "default".to_owned(),
            |(path, s, _)| format!("{path}:{}", s.line_no),
        );
        let journal_dir = ctx.host.is_dir(JOURNAL_DIR);
        let journald_keeps = match storage {
            Storage::Persistent => true,
            Storage::Auto => journal_dir,
            Storage::Volatile | Storage::None => false,
        };

        let mut evidence: Vec<Evidence> = scan.evidence(ctx.host);
        match effective {
            Some((path, s, raw)) => evidence.push(file_evidence(path, raw, s.line.clone())),
            None => {
                if let Some((path, _, raw)) = cfg.files.first() {
                    evidence.push(file_evidence(
                        path,
                        raw,
                        "no Storage= in [Journal] (journald's default is auto)",
                    ));
                }
            }
        }

        let result = if !scan.enabled.is_empty() {
            CheckResult::new(
                self.id(),
                Status::Pass,
                format!("Logging service enabled at boot: {}.", scan.enabled_names()),
            )
        } else if journald_keeps {
            let why = match storage {
                Storage::Persistent => format!("Storage=persistent, {source}"),
                _ => format!("Storage=auto ({source}) and {JOURNAL_DIR} exists"),
            };
            CheckResult::new(
                self.id(),
                Status::Pass,
                format!("journald keeps its journal on disk ({why})."),
            )
        } else if let Some(err) = cfg.errors.first() {
            unknown(
                self.id(),
                format!("journald's configuration could not be read: {err}"),
            )
        } else if let Some(why) = &scan.dir_error {
            unknown(self.id(), why.clone())
        } else {
            let why = match storage {
                Storage::Auto => format!("Storage=auto ({source}) and no {JOURNAL_DIR}"),
                other => format!("Storage={} ({source})", other.as_str()),
            };
            CheckResult::new(
                self.id(),
                Status::Fail,
                format!(
                    "Neither auditd nor rsyslog is enabled and journald keeps no journal on disk ({why})."
                ),
            )
        };
        scan.facts(result)
            .fact("journald_storage", storage.as_str())
            .fact("journald_storage_source", source)
            .fact(
                "journald_files_read",
                cfg.files.iter().map(|(p, _, _)| p).collect::<Vec<_>>(),
            )
            .fact("var_log_journal_is_dir", journal_dir)
            .evidences(evidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::linux::system::testing::{Units, systemd};
    use crate::host::fake::FakeHost;
    use serde_json::json;

    #[test]
    fn enabled_auditd_passes() {
        let mut t = systemd();
        t.enable("auditd.service");
        let r = t.run(&AuditLogging);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["units_enabled"], json!(["auditd.service"]));
    }

    #[test]
    fn masked_rsyslog_and_volatile_journal_fail() {
        let mut t = systemd();
        t.enable("rsyslog.service");
        t.mask("rsyslog.service");
        t.add_file(
            "/etc/systemd/journald.conf",
            "[Journal]\nStorage=volatile\n",
        );
        t.add_dir("/var/log/journal");
        let r = t.run(&AuditLogging);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["journald_storage"], json!("volatile"));
        assert_eq!(
            r.facts["journald_storage_source"],
            json!("/etc/systemd/journald.conf:2")
        );
    }

    #[test]
    fn persistent_dropin_passes_and_last_wins() {
        let mut t = systemd();
        t.add_file(
            "/etc/systemd/journald.conf",
            "[Journal]\nStorage=volatile\n",
        );
        t.add_file(
            "/usr/lib/systemd/journald.conf.d/10-vendor.conf",
            "[Journal]\nStorage=none\n",
        );
        t.add_file(
            "/etc/systemd/journald.conf.d/50-keep.conf",
            "[Journal]\nStorage=persistent\n",
        );
        let r = t.run(&AuditLogging);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(
            r.facts["journald_storage_source"],
            json!("/etc/systemd/journald.conf.d/50-keep.conf:2")
        );
        assert_eq!(r.facts["journald_files_read"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn regression_units_and_dropins_masked_by_relative_links() {
        let mut t = systemd();
        t.enable("rsyslog.service");
        t.mask_relative("rsyslog.service");
        t.add_file(
            "/usr/lib/systemd/journald.conf.d/90-persistent.conf",
            "[Journal]\nStorage=persistent\n",
        );
        t.add_link(
            "/etc/systemd/journald.conf.d/90-persistent.conf",
            "../../../dev/null",
        );
        let r = t.run(&AuditLogging);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["units_masked"], json!(["rsyslog.service"]));
    }

    #[test]
    fn vendor_dropin_masked_in_etc_is_not_read() {
        let mut t = systemd();
        t.add_dir("/var/log/journal");
        t.add_file(
            "/usr/lib/systemd/journald.conf.d/90-volatile.conf",
            "[Journal]\nStorage=volatile\n",
        );
        t.add_link("/etc/systemd/journald.conf.d/90-volatile.conf", "/dev/null");
        let r = t.run(&AuditLogging);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["journald_storage"], json!("auto"));
    }

    #[test]
    fn auto_needs_the_journal_directory() {
        let mut t = systemd();
        t.add_file("/etc/systemd/journald.conf", "[Journal]\n#Storage=auto\n");
        let r = t.run(&AuditLogging);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["journald_storage_source"], json!("default"));
        assert_eq!(r.facts["var_log_journal_is_dir"], json!(false));

        // A file named journal is not the directory.
        t.add_file("/var/log/journal", "");
        assert_eq!(t.run(&AuditLogging).status, Status::Fail);

        let mut t = systemd();
        t.add_dir("/var/log/journal");
        let r = t.run(&AuditLogging);
        assert_eq!(r.status, Status::Pass, "{r:?}");
    }

    #[test]
    fn no_systemd_dir_means_nothing_enabled() {
        let t = FakeHost::linux();
        let r = t.run(&AuditLogging);
        assert_eq!(r.status, Status::Fail, "{r:?}");
    }
}
