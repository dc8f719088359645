//! Which display managers are installed: the one detection that decides whether
//! a host has local graphical logins (`system.screen_lock`,
//! `accounts.auto_login_disabled`).
//!
//! `checks.md` ("System"): a display manager is *installed* when the package
//! database lists it (dpkg's status file, or `rpm -qa` on a live RPM host; see
//! [`software::get`]) or its unit file exists in `/usr/lib/systemd/system` or
//! `/lib/systemd/system`.

use super::systemd;
use crate::checks::Context;
use crate::checks::linux::inventory::software;

/// The display managers whose presence makes a host a desktop, in report order.
pub const DISPLAY_MANAGERS: [&str; 4] = ["gdm", "gdm3", "lightdm", "sddm"];

/// The start of the `not_applicable` reason when none is installed; each check
/// adds why that makes it not applicable.
pub const NONE_INSTALLED: &str = "No display manager (gdm, gdm3, lightdm, sddm) is installed";

/// The installed display managers, read once per run.
struct Installed(Vec<&'static str>);

/// The installed display managers, in the order of [`DISPLAY_MANAGERS`].
pub fn installed(ctx: &Context<'_>) -> Vec<&'static str> {
    ctx.memo(|ctx| {
        let packages = software::get(ctx);
        Installed(
            DISPLAY_MANAGERS
                .iter()
                .copied()
                .filter(|dm| {
                    packages.0.as_ref().is_ok_and(|p| p.has(dm))
                        || systemd::unit_file_exists(ctx.host, dm)
                })
                .collect(),
        )
    })
    .0
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Thresholds;
    use crate::host::fake::FakeHost;

    fn installed_on(host: FakeHost) -> Vec<&'static str> {
        let host = host.host();
        let thresholds = Thresholds::default();
        let ctx = Context::new(&host, chrono::DateTime::UNIX_EPOCH, &thresholds);
        installed(&ctx)
    }

    #[test]
    fn the_package_database_or_a_unit_file_marks_a_display_manager() {
        let dpkg = FakeHost::linux().file(
            "/var/lib/dpkg/status",
            "Package: gdm3\nStatus: install ok installed\nArchitecture: amd64\nVersion: 43.0-3\n\n\
             Package: lightdm\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1.26.0-8\n",
        );
        // lightdm's configuration files are left, but it is not on disk.
        assert_eq!(installed_on(dpkg), ["gdm3"]);
        let units = FakeHost::linux()
            .file("/lib/systemd/system/sddm.service", "[Unit]\n")
            .file("/usr/lib/systemd/system/gdm.service", "[Unit]\n");
        assert_eq!(installed_on(units), ["gdm", "sddm"]);
        assert!(installed_on(FakeHost::linux()).is_empty());
    }
}
