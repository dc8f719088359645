//! System checks (`checks.md`, "System"): time synchronisation, audit logging,
//! host firewall, screen lock, UEFI Secure Boot and anti-malware.
//!
//! Services are judged from files as `checks.md` defines it, through
//! [`common::systemd`](super::common::systemd): a unit is *enabled* when a symlink of
//! its name sits in a `/etc/systemd/system/*.wants/` or `*.requires/` directory and
//! `/etc/systemd/system/UNIT` is not a link to `/dev/null`.
//!
//! One rule common to the service checks, where `checks.md` is silent: a check
//! passes on any evidence it finds, but it only *fails* when it could read
//! `/etc/systemd/system`. When that directory is missing (not a systemd host, or a
//! root that is not a system) or unreadable, the state of the services cannot be
//! known and the verdict is `unknown` with the reason.
//!
//! Each check lives in its own module; the parsers of the files they read
//! (`journald.conf`, `nftables.conf`, dconf key files, EFI variables) are pure
//! functions in their own modules, tested on text.

mod audit_logging;
mod dconf;
mod firewall;
mod journald;
mod malware;
mod nftables;
mod screen_lock;
mod secure_boot;
mod time_sync;
mod units;

use super::Check;

/// The system checks, in report order.
pub fn checks() -> Vec<Box<dyn Check>> {
    vec![
        Box::new(time_sync::TimeSync),
        Box::new(audit_logging::AuditLogging),
        Box::new(firewall::Firewall),
        Box::new(screen_lock::ScreenLock),
        Box::new(secure_boot::SecureBoot),
        Box::new(malware::MalwareProtection),
    ]
}

#[cfg(test)]
pub(crate) mod testing {
    //! Small host trees for the check-level tests.

    use std::fs;
    use std::os::unix::fs::symlink;
    use std::path::Path;

    use attest_proto::{CheckResult, Status};

    use crate::checks::{Check, Context, Thresholds};
    use crate::host::Host;

    /// A temporary host root.
    pub struct Tree {
        pub dir: tempfile::TempDir,
    }

    impl Tree {
        /// An empty root with `/etc/systemd/system` (a systemd host).
        pub fn systemd() -> Self {
            let t = Tree::empty();
            t.mkdir("/etc/systemd/system/multi-user.target.wants");
            t
        }

        pub fn empty() -> Self {
            Tree {
                dir: tempfile::tempdir().unwrap(),
            }
        }

        fn p(&self, host_path: &str) -> std::path::PathBuf {
            self.dir.path().join(host_path.trim_start_matches('/'))
        }

        pub fn mkdir(&self, host_path: &str) {
            fs::create_dir_all(self.p(host_path)).unwrap();
        }

        pub fn write(&self, host_path: &str, content: impl AsRef<[u8]>) {
            let p = self.p(host_path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, content).unwrap();
        }

        pub fn link(&self, target: &str, host_path: &str) {
            let p = self.p(host_path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            symlink(target, p).unwrap();
        }

        /// Enables `unit` the way `systemctl enable` does for `WantedBy=multi-user.target`.
        pub fn enable(&self, unit: &str) {
            self.write(&format!("/lib/systemd/system/{unit}"), "[Unit]\n");
            self.link(
                &format!("/lib/systemd/system/{unit}"),
                &format!("/etc/systemd/system/multi-user.target.wants/{unit}"),
            );
        }

        pub fn mask(&self, unit: &str) {
            self.link("/dev/null", &format!("/etc/systemd/system/{unit}"));
        }

        /// Masks `unit` with a relative link, `../../../dev/null`.
        pub fn mask_relative(&self, unit: &str) {
            self.link("../../../dev/null", &format!("/etc/systemd/system/{unit}"));
        }

        pub fn root(&self) -> &Path {
            self.dir.path()
        }

        pub fn run(&self, check: &dyn Check) -> CheckResult {
            self.run_with(check, &Thresholds::default())
        }

        pub fn run_with(&self, check: &dyn Check, t: &Thresholds) -> CheckResult {
            let host = Host::open(self.root()).unwrap();
            let ctx = Context::new(&host, chrono::DateTime::UNIX_EPOCH, t);
            let r = check.run(&ctx);
            assert_eq!(r.check, check.id());
            assert!(!r.summary.is_empty());
            if matches!(r.status, Status::Unknown | Status::NotApplicable) {
                assert!(r.reason.is_some(), "{r:?}");
            }
            r
        }
    }
}
