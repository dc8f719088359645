//! `patch.auto_updates`.

use attest_proto::{CheckResult, Evidence, Status};

use crate::checks::linux::common::dpkg;
use crate::checks::linux::common::osrelease::Family;
use crate::checks::linux::common::systemd::{self, UnitState};
use crate::checks::{Check, Context, file_evidence, unknown};

use super::apt_conf::{self, AptConfig};
use super::{family, os_label};

pub const UNATTENDED_KEY: &str = "APT::Periodic::Unattended-Upgrade";
pub const UNATTENDED_PACKAGE: &str = "unattended-upgrades";
pub const DNF_AUTOMATIC_CONF: &str = "/etc/dnf/automatic.conf";
pub const DNF_AUTOMATIC_TIMER: &str = "dnf-automatic.timer";
pub const DNF_AUTOMATIC_INSTALL_TIMER: &str = "dnf-automatic-install.timer";

/// `patch.auto_updates`: automatic security updates are on.
///
/// Debian family: the package `unattended-upgrades` is installed (dpkg) and the
/// effective `APT::Periodic::Unattended-Upgrade` (apt's configuration, see
/// [`apt_conf`]) is set and not `"0"`. Unset means off, as in apt; an empty value
/// also means off, because `apt-config shell` (which `apt.systemd.daily` reads it
/// with) skips empty values. When apt's configuration has a syntax error apt refuses
/// to run at all, so the updates are off: fail, naming the error.
///
/// RPM family: `dnf-automatic-install.timer` is enabled, or `dnf-automatic.timer` is
/// enabled and `apply_updates` in the `[commands]` section of
/// `/etc/dnf/automatic.conf` is true. "Enabled" is `checks.md`'s rule (a link in a
/// `.wants`/`.requires` directory of `/etc/systemd/system`, not masked). The value is
/// read as libdnf's boolean options are: `1`, `yes`, `true`, `on` are true and `0`,
/// `no`, `false`, `off` false, case-insensitively; anything else is rejected by dnf,
/// which keeps the default, `no`. A missing file also leaves the default.
///
/// Unknown when the family is neither, or a file that decides cannot be read.
pub struct AutoUpdates;

const ID: &str = "patch.auto_updates";

impl Check for AutoUpdates {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let (family, os) = match family(ctx) {
            Ok(f) => f,
            Err(why) => return unknown(ID, why),
        };
        match family {
            Family::Debian => apt(ctx),
            Family::Rpm => dnf(ctx),
            Family::Other => unknown(
                ID,
                format!(
                    "neither Debian nor RPM family recognised: {}",
                    os_label(&os)
                ),
            ),
        }
    }
}

/// True when an effective `APT::Periodic::Unattended-Upgrade` value turns the
/// upgrades on: set, not empty and not `0`.
pub fn unattended_on(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        let v = v.trim();
        !v.is_empty() && v != "0"
    })
}

fn apt(ctx: &Context<'_>) -> CheckResult {
    let memo = dpkg::get(ctx);
    let installed = match &memo.0 {
        Ok(installed) => installed,
        Err(e) => return unknown(ID, e.to_string()),
    };
    let package = installed
        .packages
        .iter()
        .find(|p| p.name == UNATTENDED_PACKAGE);
    let config = match apt_conf::load(ctx.host) {
        Ok(config) => config,
        Err(e) => return unknown(ID, e.to_string()),
    };
    let setting = config.get(UNATTENDED_KEY);
    let on = unattended_on(setting.map(|s| s.value.as_str()));

    let mut evidence = vec![file_evidence(
        dpkg::STATUS_PATH,
        &installed.raw,
        package.map_or_else(String::new, |p| {
            format!(
                "Package: {}\nStatus: {}\nArchitecture: {}\nVersion: {}",
                p.name, p.status, p.architecture, p.version
            )
        }),
    )];
    evidence.extend(apt_evidence(&config));

    let value_text = setting.map_or_else(|| "unset".to_owned(), |s| format!("\"{}\"", s.value));
    let where_set = setting.map(|s| format!("{}:{}", s.file, s.line));
    let (status, summary) = if !config.errors.is_empty() {
        (
            Status::Fail,
            format!(
                "apt refuses its configuration, so no automatic update runs: {}",
                config.errors.join("; ")
            ),
        )
    } else if package.is_none() {
        (
            Status::Fail,
            format!(
                "Package {UNATTENDED_PACKAGE} is not installed ({UNATTENDED_KEY} is {value_text})"
            ),
        )
    } else if !on {
        (
            Status::Fail,
            format!(
                "{UNATTENDED_PACKAGE} is installed but {UNATTENDED_KEY} is {value_text}, so it never runs"
            ),
        )
    } else {
        (
            Status::Pass,
            format!(
                "{UNATTENDED_PACKAGE} is installed and {UNATTENDED_KEY} is {value_text} ({})",
                where_set.as_deref().unwrap_or("")
            ),
        )
    };
    CheckResult::new(ID, status, summary)
        .fact("unattended_upgrades_installed", package.is_some())
        .fact(
            "unattended_upgrades_version",
            package.map(|p| p.version.clone()),
        )
        .fact("unattended_upgrade", setting.map(|s| s.value.clone()))
        .fact("unattended_upgrade_set_in", where_set)
        .fact(
            "update_package_lists",
            config
                .get("APT::Periodic::Update-Package-Lists")
                .map(|s| s.value.clone()),
        )
        .fact(
            "apt_config_files",
            config
                .files
                .iter()
                .map(|f| f.path.clone())
                .collect::<Vec<_>>(),
        )
        .fact("apt_config_skipped", &config.skipped)
        .fact("apt_config_errors", &config.errors)
        .evidences(evidence)
}

/// Evidence from apt's configuration: the file and line that set the key, or, when
/// nothing sets it, every file read (nothing in them decided).
fn apt_evidence(config: &AptConfig) -> Vec<Evidence> {
    match config.get(UNATTENDED_KEY) {
        Some(s) => config
            .files
            .iter()
            .filter(|f| f.path == s.file)
            .map(|f| {
                let text = String::from_utf8_lossy(&f.raw);
                let line = text
                    .split('\n')
                    .nth(s.line.saturating_sub(1))
                    .unwrap_or("")
                    .trim();
                file_evidence(
                    &f.path,
                    &f.raw,
                    format!("{}: {line}\n(effective: {} \"{}\")", s.line, s.key, s.value),
                )
            })
            .collect(),
        None => config
            .files
            .iter()
            .map(|f| file_evidence(&f.path, &f.raw, String::new()))
            .collect(),
    }
}

/// libdnf's boolean: `Some(true/false)` for the words it accepts, `None` otherwise.
pub fn dnf_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// One `key = value` of an INI file with the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniValue {
    pub value: String,
    pub line: usize,
    pub text: String,
}

/// The last value of `key` in `[section]` of an INI text (libdnf's parser: `#` and
/// `;` start comment lines, `key = value` (only `=` separates), a line starting with
/// whitespace continues the previous value, a later value wins, sections of the
/// same name merge).
pub fn ini_value(text: &str, section: &str, key: &str) -> Option<IniValue> {
    let mut current = String::new();
    let mut found: Option<IniValue> = None;
    let mut last_was_key = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            last_was_key = false;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if last_was_key && let Some(f) = found.as_mut() {
                if !f.value.is_empty() {
                    f.value.push(' ');
                }
                f.value.push_str(trimmed);
            }
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            current = rest.split(']').next().unwrap_or("").trim().to_owned();
            last_was_key = false;
            continue;
        }
        let Some(sep) = trimmed.find('=') else {
            last_was_key = false;
            continue;
        };
        let k = trimmed.get(..sep).unwrap_or("").trim();
        let v = trimmed.get(sep + 1..).unwrap_or("").trim();
        last_was_key = current == section && k == key;
        if last_was_key {
            found = Some(IniValue {
                value: v.to_owned(),
                line: i + 1,
                text: trimmed.to_owned(),
            });
        }
    }
    found
}

fn dnf(ctx: &Context<'_>) -> CheckResult {
    let install = systemd::state(ctx, DNF_AUTOMATIC_INSTALL_TIMER);
    let automatic = systemd::state(ctx, DNF_AUTOMATIC_TIMER);
    let link = |s: &UnitState| match s {
        UnitState::Enabled { link } => Some(link.clone()),
        _ => None,
    };
    let state_name = |s: &UnitState| match s {
        UnitState::Enabled { .. } => "enabled",
        UnitState::Masked => "masked",
        UnitState::Disabled => "disabled",
    };
    let base = |r: CheckResult| {
        r.fact(DNF_AUTOMATIC_INSTALL_TIMER, state_name(&install))
            .fact(DNF_AUTOMATIC_TIMER, state_name(&automatic))
            .fact("enabled_by", link(&install).or_else(|| link(&automatic)))
    };
    if matches!(install, UnitState::Enabled { .. }) {
        return base(CheckResult::new(
            ID,
            Status::Pass,
            format!("{DNF_AUTOMATIC_INSTALL_TIMER} is enabled: updates are downloaded and applied"),
        ));
    }
    if !matches!(automatic, UnitState::Enabled { .. }) {
        return base(CheckResult::new(
            ID,
            Status::Fail,
            format!("Neither {DNF_AUTOMATIC_TIMER} nor {DNF_AUTOMATIC_INSTALL_TIMER} is enabled"),
        ));
    }
    let (raw, value) = match ctx.host.read(DNF_AUTOMATIC_CONF) {
        Ok(raw) => {
            let value = ini_value(&String::from_utf8_lossy(&raw), "commands", "apply_updates");
            (Some(raw), value)
        }
        Err(e) if e.is_not_found() => (None, None),
        Err(e) => return base(unknown(ID, e.to_string())),
    };
    let apply = value
        .as_ref()
        .and_then(|v| dnf_bool(&v.value))
        .unwrap_or(false);
    let shown = value.as_ref().map_or_else(
        || "unset (default no)".to_owned(),
        |v| format!("\"{}\"", v.value),
    );
    let mut result = if apply {
        CheckResult::new(
            ID,
            Status::Pass,
            format!(
                "{DNF_AUTOMATIC_TIMER} is enabled and apply_updates is {shown} in {DNF_AUTOMATIC_CONF}"
            ),
        )
    } else {
        CheckResult::new(
            ID,
            Status::Fail,
            format!(
                "{DNF_AUTOMATIC_TIMER} is enabled but apply_updates is {shown}: updates are only downloaded or announced"
            ),
        )
    };
    if let Some(raw) = &raw {
        let excerpt = value
            .as_ref()
            .map_or_else(String::new, |v| format!("{}: {}", v.line, v.text));
        result = result.evidence(file_evidence(DNF_AUTOMATIC_CONF, raw, excerpt));
    }
    base(result).fact("apply_updates", value.map(|v| v.value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use proptest::prelude::*;

    const DEBIAN: &str = "ID=debian\nVERSION_ID=\"12\"\n";
    const ROCKY: &str = "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n";
    const UU: &str = "Package: unattended-upgrades\nStatus: install ok installed\nArchitecture: all\nVersion: 2.9.1+nmu3\n\n";

    #[test]
    fn unattended_value_rule() {
        assert!(!unattended_on(None));
        assert!(!unattended_on(Some("0")));
        assert!(!unattended_on(Some(" ")));
        assert!(unattended_on(Some("1")));
        assert!(unattended_on(Some("always")));
        assert!(unattended_on(Some("7")));
    }

    #[test]
    fn regression_an_empty_string_is_off_like_zero() {
        let mut r = FakeHost::linux();
        r.add_file("/etc/os-release", DEBIAN);
        r.add_file("/var/lib/dpkg/status", UU);
        r.add_file(
            "/etc/apt/apt.conf.d/20auto-upgrades",
            "APT::Periodic::Unattended-Upgrade \"1\";\n",
        );
        assert_eq!(r.run(&AutoUpdates).status, Status::Pass);
        for off in [
            "APT::Periodic::Unattended-Upgrade \"\";\n",
            "APT { Periodic { Unattended-Upgrade \"\"; }; };\n",
        ] {
            r.add_file("/etc/apt/apt.conf.d/99local", off);
            let res = r.run(&AutoUpdates);
            assert_eq!(res.status, Status::Fail, "{off}: {res:?}");
            assert_eq!(res.facts["unattended_upgrade"], "", "{off}");
        }
    }

    #[test]
    fn debian_needs_the_package_and_the_setting() {
        let mut r = FakeHost::linux();
        r.add_file("/etc/os-release", DEBIAN);
        r.add_file("/var/lib/dpkg/status", UU);
        r.add_file("/etc/apt/apt.conf.d/20auto-upgrades",
            "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n",
        );
        let res = r.run(&AutoUpdates);
        assert_eq!(res.status, Status::Pass, "{res:?}");
        assert_eq!(
            res.facts["unattended_upgrade_set_in"],
            "/etc/apt/apt.conf.d/20auto-upgrades:2"
        );
        assert_eq!(res.facts["update_package_lists"], "1");
        let Evidence::File { excerpt, path, .. } = &res.evidence[1] else {
            panic!()
        };
        assert_eq!(path, "/etc/apt/apt.conf.d/20auto-upgrades");
        assert!(
            excerpt.starts_with("2: APT::Periodic::Unattended-Upgrade \"1\";"),
            "{excerpt}"
        );

        // A later file turns it off.
        r.add_file(
            "/etc/apt/apt.conf.d/99local",
            "APT { Periodic { Unattended-Upgrade \"0\"; }; };\n",
        );
        let res = r.run(&AutoUpdates);
        assert_eq!(res.status, Status::Fail);
        assert!(res.summary.contains("never runs"), "{}", res.summary);

        // …unless its name makes apt skip it.
        r.remove("/etc/apt/apt.conf.d/99local");
        r.add_file(
            "/etc/apt/apt.conf.d/99local.disabled",
            "APT { Periodic { Unattended-Upgrade \"0\"; }; };\n",
        );
        assert_eq!(r.run(&AutoUpdates).status, Status::Pass);

        // A syntax error anywhere stops apt.
        r.add_file(
            "/etc/apt/apt.conf.d/50broken",
            "APT::Foo \"1\" \"2\" junk;\n",
        );
        let res = r.run(&AutoUpdates);
        assert_eq!(res.status, Status::Fail);
        assert!(res.summary.contains("50broken"), "{}", res.summary);
    }

    #[test]
    fn debian_without_the_package_fails_and_unset_is_off() {
        let mut r = FakeHost::linux();
        r.add_file("/etc/os-release", DEBIAN);
        r.add_file(
            "/var/lib/dpkg/status",
            "Package: apt\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.6.1\n",
        );
        r.add_file(
            "/etc/apt/apt.conf.d/20auto-upgrades",
            "APT::Periodic::Unattended-Upgrade \"1\";\n",
        );
        let res = r.run(&AutoUpdates);
        assert_eq!(res.status, Status::Fail);
        assert_eq!(res.facts["unattended_upgrades_installed"], false);

        r.add_file("/var/lib/dpkg/status", UU);
        r.remove("/etc/apt/apt.conf.d/20auto-upgrades");
        r.add_file(
            "/etc/apt/apt.conf.d/50unattended-upgrades",
            "// nothing here\n",
        );
        let res = r.run(&AutoUpdates);
        assert_eq!(res.status, Status::Fail);
        assert!(res.summary.contains("is unset"), "{}", res.summary);
        assert_eq!(res.facts["unattended_upgrade"], serde_json::Value::Null);
    }

    #[test]
    fn other_families_are_unknown() {
        let r = FakeHost::linux().file("/etc/os-release", "ID=alpine\nVERSION_ID=3.20.0\n");
        let res = r.run(&AutoUpdates);
        assert_eq!(res.status, Status::Unknown);
        assert!(res.reason.unwrap().contains("neither Debian nor RPM"));
    }

    /// Enables a timer as `systemctl enable` does for `WantedBy=timers.target`.
    fn enable(root: &mut FakeHost, unit: &str) {
        root.add_link(
            &format!("/etc/systemd/system/timers.target.wants/{unit}"),
            &format!("/usr/lib/systemd/system/{unit}"),
        );
    }

    #[test]
    fn dnf_automatic() {
        let mut r = FakeHost::linux();
        r.add_file("/etc/os-release", ROCKY);
        let res = r.run(&AutoUpdates);
        assert_eq!(res.status, Status::Fail, "{res:?}");

        enable(&mut r, DNF_AUTOMATIC_TIMER);
        // No automatic.conf: the default is no.
        assert_eq!(r.run(&AutoUpdates).status, Status::Fail);
        r.add_file(DNF_AUTOMATIC_CONF,
            "[commands]\nupgrade_type = security\napply_updates = no\n\n[emitters]\napply_updates = yes\n",
        );
        let res = r.run(&AutoUpdates);
        assert_eq!(res.status, Status::Fail);
        assert_eq!(res.facts["apply_updates"], "no");
        r.add_file(
            DNF_AUTOMATIC_CONF,
            "[commands]\n# apply_updates = no\napply_updates = True\n",
        );
        let res = r.run(&AutoUpdates);
        assert_eq!(res.status, Status::Pass, "{res:?}");
        let Evidence::File { excerpt, .. } = &res.evidence[0] else {
            panic!()
        };
        assert_eq!(excerpt, "3: apply_updates = True");

        // Masking the timer disables it.
        r.add_link(
            &format!("/etc/systemd/system/{DNF_AUTOMATIC_TIMER}"),
            "/dev/null",
        );
        assert_eq!(r.run(&AutoUpdates).status, Status::Fail);

        // The install timer applies updates whatever the file says.
        enable(&mut r, DNF_AUTOMATIC_INSTALL_TIMER);
        r.add_file(DNF_AUTOMATIC_CONF, "[commands]\napply_updates = no\n");
        let res = r.run(&AutoUpdates);
        assert_eq!(res.status, Status::Pass);
        assert_eq!(res.facts["dnf-automatic.timer"], "masked");

        // Regression: a relative link to /dev/null masks the install timer too.
        r.add_link(
            &format!("/etc/systemd/system/{DNF_AUTOMATIC_INSTALL_TIMER}"),
            "../../../dev/null",
        );
        let res = r.run(&AutoUpdates);
        assert_eq!(res.status, Status::Fail, "{res:?}");
        assert_eq!(res.facts["dnf-automatic-install.timer"], "masked");
    }

    #[test]
    fn dnf_booleans_and_ini() {
        for t in ["1", "yes", "TRUE", "On"] {
            assert_eq!(dnf_bool(t), Some(true), "{t}");
        }
        for f in ["0", "no", "False", "off"] {
            assert_eq!(dnf_bool(f), Some(false), "{f}");
        }
        assert_eq!(dnf_bool("y"), None);
        assert_eq!(dnf_bool(""), None);
        let text = "[commands]\napply_updates=yes\n[base]\napply_updates = no\n[commands]\n; apply_updates = no\napply_updates = on\n";
        let v = ini_value(text, "commands", "apply_updates").unwrap();
        assert_eq!((v.value.as_str(), v.line), ("on", 7));
        assert_eq!(ini_value(text, "emitters", "apply_updates"), None);
        let cont = "[commands]\napply_updates = \n  yes\n";
        assert_eq!(
            ini_value(cont, "commands", "apply_updates").unwrap().value,
            "yes"
        );
        // Only `=` separates a key from its value.
        assert_eq!(
            ini_value(
                "[commands]\napply_updates: yes\n",
                "commands",
                "apply_updates"
            ),
            None
        );
    }

    proptest! {
        #[test]
        fn ini_and_bool_never_panic(text in any::<String>(), key in "[a-z_]{0,8}") {
            let _ = ini_value(&text, "commands", &key);
            let _ = dnf_bool(&text);
        }
    }
}
