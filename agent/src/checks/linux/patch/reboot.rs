//! `patch.reboot_pending`.

use std::cmp::Ordering;

use attest_proto::{CheckResult, Evidence, Status};

use crate::checks::{Check, Context, file_evidence, unknown};
use crate::host::join_path;

use super::MAX_LISTED;
use super::version;

pub const OSRELEASE: &str = "/proc/sys/kernel/osrelease";
pub const FLAGS: [&str; 2] = ["/run/reboot-required", "/var/run/reboot-required"];
pub const FLAG_PKGS: [&str; 2] = ["/run/reboot-required.pkgs", "/var/run/reboot-required.pkgs"];
pub const MODULE_DIRS: [&str; 2] = ["/lib/modules", "/usr/lib/modules"];

/// `patch.reboot_pending`: the running kernel is the newest installed one and no
/// reboot flag is set.
///
/// Fail when `/run/reboot-required` or `/var/run/reboot-required` exists (the flag
/// Debian's and Ubuntu's packages set; `reboot-required.pkgs` names the packages
/// and is quoted in the evidence), or when a directory in `/lib/modules` or
/// `/usr/lib/modules` names a kernel release that sorts above the running one
/// (`/proc/sys/kernel/osrelease`) in Debian version order. Names that are not
/// valid Debian versions are left out and listed in the facts. Unknown when the
/// running release cannot be read (an offline root usually has an empty `/proc`),
/// or when a modules directory exists but cannot be listed and nothing else
/// already fails the check.
pub struct RebootPending;

const ID: &str = "patch.reboot_pending";

/// The installed kernel releases that sort above `running`, and those that could
/// not be compared.
pub fn newer_kernels<'a>(running: &str, installed: &'a [String]) -> (Vec<&'a str>, Vec<&'a str>) {
    let mut newer = Vec::new();
    let mut unparsable = Vec::new();
    for k in installed {
        match version::compare(k, running) {
            Ok(Ordering::Greater) => newer.push(k.as_str()),
            Ok(_) => {}
            Err(_) => unparsable.push(k.as_str()),
        }
    }
    (newer, unparsable)
}

impl Check for RebootPending {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let raw = match ctx.host.read(OSRELEASE) {
            Ok(raw) => raw,
            Err(e) => {
                return unknown(
                    ID,
                    format!("the running kernel release cannot be read: {e}"),
                );
            }
        };
        let running = String::from_utf8_lossy(&raw).trim().to_owned();
        if running.is_empty() {
            return unknown(
                ID,
                format!("the running kernel release cannot be read: {OSRELEASE} is empty"),
            );
        }
        if version::Version::parse(&running).is_err() {
            return unknown(
                ID,
                format!(
                    "the running kernel release {running:?} is not comparable in Debian version order"
                ),
            );
        }
        let mut evidence: Vec<Evidence> = vec![file_evidence(OSRELEASE, &raw, running.clone())];

        // Reboot flags (on merged /run, /var/run is a link to it: count each file once).
        let mut flags: Vec<(String, String)> = Vec::new();
        for path in FLAGS {
            if !ctx.host.exists(path) {
                continue;
            }
            let canonical = ctx.host.canonical(path).unwrap_or_else(|_| path.to_owned());
            if flags.iter().any(|(f, c)| f == path || *c == canonical) {
                continue;
            }
            if let Ok(content) = ctx.host.read(path) {
                let text = String::from_utf8_lossy(&content).trim().to_owned();
                evidence.push(file_evidence(path, &content, text));
            }
            flags.push((path.to_owned(), canonical));
        }
        let flags: Vec<String> = flags.into_iter().map(|(p, _)| p).collect();
        let mut flag_packages: Vec<String> = Vec::new();
        for path in FLAG_PKGS {
            if let Ok(content) = ctx.host.read(path) {
                let text = String::from_utf8_lossy(&content);
                flag_packages = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect();
                let excerpt: Vec<&str> = flag_packages
                    .iter()
                    .take(MAX_LISTED)
                    .map(String::as_str)
                    .collect();
                evidence.push(file_evidence(path, &content, excerpt.join("\n")));
                break;
            }
        }

        // Installed kernels.
        let mut installed: Vec<String> = Vec::new();
        let mut errors: Vec<String> = Vec::new();
        let mut seen_dirs: Vec<String> = Vec::new();
        for dir in MODULE_DIRS {
            let canonical = match ctx.host.canonical(dir) {
                Ok(c) => c,
                Err(e) if e.is_not_found() => continue,
                Err(e) => {
                    errors.push(e.to_string());
                    continue;
                }
            };
            if seen_dirs.contains(&canonical) {
                continue;
            }
            seen_dirs.push(canonical);
            match ctx.host.list_dir(dir) {
                Ok(names) => {
                    for name in names {
                        if ctx.host.is_dir(&join_path(dir, &name)) && !installed.contains(&name) {
                            installed.push(name);
                        }
                    }
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => errors.push(e.to_string()),
            }
        }
        installed.sort();
        let (newer, unparsable) = newer_kernels(&running, &installed);

        let result = if !flags.is_empty() || !newer.is_empty() {
            let mut why = Vec::new();
            if !flags.is_empty() {
                why.push(format!("{} exists", flags.join(" and ")));
            }
            if !newer.is_empty() {
                why.push(format!(
                    "newer kernel{} installed: {}",
                    if newer.len() == 1 { "" } else { "s" },
                    newer.join(", ")
                ));
            }
            CheckResult::new(
                ID,
                Status::Fail,
                format!(
                    "A reboot is pending (running {running}): {}",
                    why.join("; ")
                ),
            )
        } else if !errors.is_empty() {
            unknown(ID, errors.join("; "))
        } else {
            let kernels = match installed.len() {
                0 => format!("no kernel has modules in {}", MODULE_DIRS.join(" or ")),
                1 => "it is the only kernel installed".to_owned(),
                n => format!("it is the newest of {n} installed"),
            };
            CheckResult::new(
                ID,
                Status::Pass,
                format!(
                    "No reboot is pending: the running kernel is {running}, {kernels}, and no reboot flag is set"
                ),
            )
        };
        result
            .fact("running_kernel", &running)
            .fact("installed_kernels", &installed)
            .fact("newer_kernels", &newer)
            .fact("unparsable_kernel_dirs", &unparsable)
            .fact("reboot_required_files", &flags)
            .fact("reboot_required_packages", &flag_packages)
            .evidences(evidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;

    /// An installed kernel: its modules directory.
    fn kernel(root: &mut FakeHost, release: &str) {
        root.add_dir(&format!("/usr/lib/modules/{release}"));
    }

    #[test]
    fn newer_kernel_order() {
        let installed: Vec<String> = [
            "6.1.0-27-amd64",
            "6.1.0-28-amd64",
            "6.1.0-9-amd64",
            "bad dir",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (newer, bad) = newer_kernels("6.1.0-27-amd64", &installed);
        assert_eq!(newer, vec!["6.1.0-28-amd64"]);
        assert_eq!(bad, vec!["bad dir"]);
        let (newer, _) = newer_kernels("6.1.0-28-amd64", &installed);
        assert!(newer.is_empty());
    }

    #[test]
    fn passes_on_the_newest_kernel_with_merged_usr() {
        let mut r = FakeHost::linux();
        r.add_file(OSRELEASE, "6.1.0-28-amd64\n");
        kernel(&mut r, "6.1.0-27-amd64");
        kernel(&mut r, "6.1.0-28-amd64");
        // A stray file is not a kernel.
        r.add_file("/usr/lib/modules/9.9.9-1-amd64", "");
        r.add_link("/lib", "usr/lib");
        let res = r.run(&RebootPending);
        assert_eq!(res.status, Status::Pass, "{res:?}");
        assert_eq!(
            res.facts["installed_kernels"],
            serde_json::json!(["6.1.0-27-amd64", "6.1.0-28-amd64"])
        );
        assert_eq!(res.facts["running_kernel"], "6.1.0-28-amd64");
    }

    #[test]
    fn a_newer_kernel_fails() {
        let mut r = FakeHost::linux();
        r.add_file(OSRELEASE, "6.1.0-27-amd64\n");
        kernel(&mut r, "6.1.0-27-amd64");
        r.add_dir("/lib/modules/6.1.0-28-amd64");
        let res = r.run(&RebootPending);
        assert_eq!(res.status, Status::Fail);
        assert_eq!(
            res.facts["newer_kernels"],
            serde_json::json!(["6.1.0-28-amd64"])
        );
        assert!(
            res.summary
                .contains("newer kernel installed: 6.1.0-28-amd64"),
            "{}",
            res.summary
        );
    }

    #[test]
    fn the_reboot_flag_fails_and_names_the_packages() {
        let mut r = FakeHost::linux();
        r.add_file(OSRELEASE, "6.8.0-45-generic\n");
        kernel(&mut r, "6.8.0-45-generic");
        r.add_file("/run/reboot-required", "*** System restart required ***\n");
        r.add_file("/run/reboot-required.pkgs", "libc6\nlinux-base\n");
        r.add_link("/var/run", "/run");
        let res = r.run(&RebootPending);
        assert_eq!(res.status, Status::Fail);
        assert_eq!(
            res.facts["reboot_required_files"],
            serde_json::json!(["/run/reboot-required"])
        );
        assert_eq!(
            res.facts["reboot_required_packages"],
            serde_json::json!(["libc6", "linux-base"])
        );
        // osrelease, the flag, the package list.
        assert_eq!(res.evidence.len(), 3);
        let Evidence::File { excerpt, .. } = &res.evidence[2] else {
            panic!()
        };
        assert_eq!(excerpt, "libc6\nlinux-base");
    }

    #[test]
    fn the_old_var_run_path_counts_too() {
        let r = FakeHost::linux()
            .file(OSRELEASE, "5.10.0-30-amd64")
            .file("/var/run/reboot-required", "");
        assert_eq!(r.run(&RebootPending).status, Status::Fail);
    }

    #[test]
    fn unknown_without_the_running_release() {
        let mut r = FakeHost::linux();
        let res = r.run(&RebootPending);
        assert_eq!(res.status, Status::Unknown);
        assert!(res.reason.unwrap().contains("/proc/sys/kernel/osrelease"));
        r.add_file(OSRELEASE, "\n");
        assert_eq!(r.run(&RebootPending).status, Status::Unknown);
    }
}
