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
    //! The service layout of the check-level tests, on the one fake host.

    use crate::host::fake::FakeHost;

    /// A Linux host with `/etc/systemd/system` (a systemd host).
    pub fn systemd() -> FakeHost {
        FakeHost::linux().dir("/etc/systemd/system/multi-user.target.wants")
    }

    /// Units enabled and masked as `systemctl` does it.
    pub trait Units {
        /// Enables `unit` the way `systemctl enable` does for
        /// `WantedBy=multi-user.target`.
        fn enable(&mut self, unit: &str);
        /// Masks `unit`: a link to `/dev/null`.
        fn mask(&mut self, unit: &str);
        /// Masks `unit` with a relative link, `../../../dev/null`.
        fn mask_relative(&mut self, unit: &str);
    }

    impl Units for FakeHost {
        fn enable(&mut self, unit: &str) {
            self.add_file(&format!("/lib/systemd/system/{unit}"), "[Unit]\n");
            self.add_link(
                &format!("/etc/systemd/system/multi-user.target.wants/{unit}"),
                &format!("/lib/systemd/system/{unit}"),
            );
        }

        fn mask(&mut self, unit: &str) {
            self.add_link(&format!("/etc/systemd/system/{unit}"), "/dev/null");
        }

        fn mask_relative(&mut self, unit: &str) {
            self.add_link(&format!("/etc/systemd/system/{unit}"), "../../../dev/null");
        }
    }
}
