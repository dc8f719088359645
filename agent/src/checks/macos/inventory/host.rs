//! `inventory.host` on macOS — ISO/IEC 27002:2022 5.9 Inventory of information and
//! other associated assets, 8.1 User endpoint devices — and the report's `host`
//! block, which share the Mac's identity (read once per run).

use std::sync::Arc;

use attest_proto::{CheckResult, Evidence, HostInfo, OsInfo, Status};
use serde::Serialize;
use serde_json::json;

use crate::checks::linux::inventory::host::{
    Cpu, Hardware as HostHardware, machine_facts, summary,
};
use crate::checks::macos::disk::fdesetup_status;
use crate::checks::macos::ioreg::{self, PlatformDevice};
use crate::checks::macos::plist as pl;
use crate::checks::macos::system::secure_boot::{IbridgeInfo, parse_ibridge};
use crate::checks::macos::system::sip::{parse_status, run_parsed};
use crate::checks::macos::{command_once, prefs};
use crate::checks::{Check, Context, api_evidence, command_evidence, file_evidence};
use crate::host::MACOS_MARKER;
use crate::host::sources::{
    MACOS_CSRUTIL_STATUS, MACOS_IBRIDGE, MACOS_PROFILES, MACOS_SYSCTL_HARDWARE,
};

/// The payload of an MDM enrollment profile.
pub const PROFILES_MDM_PAYLOAD: &str = "com.apple.mdm";

/// The system configuration: computer name, host name, local host name.
pub const SYSTEM_PREFERENCES: &str = "/Library/Preferences/SystemConfiguration/preferences.plist";

/// The names of the Mac in `preferences.plist`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Names {
    /// `System.System.ComputerName` (the name people see).
    pub computer_name: Option<String>,
    /// `System.System.HostName` (set only when an administrator set one).
    pub host_name: Option<String>,
    /// `System.Network.HostNames.LocalHostName` (the Bonjour name, without
    /// `.local`).
    pub local_host_name: Option<String>,
}

impl Names {
    /// The host name: `HostName`, else `LocalHostName`, else `ComputerName` (as
    /// `scutil` answers), with the key it came from.
    pub fn hostname(&self) -> Option<(&str, &'static str)> {
        self.host_name
            .as_deref()
            .map(|h| (h, "HostName"))
            .or_else(|| {
                self.local_host_name
                    .as_deref()
                    .map(|h| (h, "LocalHostName"))
            })
            .or_else(|| self.computer_name.as_deref().map(|h| (h, "ComputerName")))
    }
}

/// A non-empty string at `path` (keys) of `dict`.
fn string_at(dict: &plist::Dictionary, path: &[&str]) -> Option<String> {
    let (last, parents) = path.split_last()?;
    let mut d = dict;
    for key in parents {
        d = d.get(key)?.as_dictionary()?;
    }
    pl::string(d, last)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The names in the top-level dictionary of `preferences.plist`.
pub fn parse_names(dict: &plist::Dictionary) -> Names {
    Names {
        computer_name: string_at(dict, &["System", "System", "ComputerName"]),
        host_name: string_at(dict, &["System", "System", "HostName"]),
        local_host_name: string_at(dict, &["System", "Network", "HostNames", "LocalHostName"]),
    }
}

/// `SystemVersion.plist`: product name, version and build.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OsVersion {
    pub name: Option<String>,
    pub version: Option<String>,
    pub build: Option<String>,
}

impl OsVersion {
    /// `macOS 15.1 (24B83)`.
    pub fn pretty(&self) -> String {
        let mut s = self.name.clone().unwrap_or_else(|| "macOS".to_owned());
        if let Some(v) = &self.version {
            s.push(' ');
            s.push_str(v);
        }
        if let Some(b) = &self.build {
            s.push_str(&format!(" ({b})"));
        }
        s
    }
}

/// The kernel, CPU and memory of `macos.sysctl.hardware`; a missing or mistyped
/// name is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sysctl {
    pub kernel: Option<String>,
    pub kernel_version: Option<String>,
    pub cpu_model: Option<String>,
    pub memory_bytes: Option<u64>,
    pub ncpu: Option<u64>,
}

/// Reads the fixed JSON layout of `macos.sysctl.hardware`.
pub fn parse_sysctl(value: &serde_json::Value) -> Sysctl {
    let text = |k: &str| {
        value
            .get(k)
            .and_then(serde_json::Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let int = |k: &str| value.get(k).and_then(serde_json::Value::as_u64);
    Sysctl {
        kernel: text("kern.osrelease"),
        kernel_version: text("kern.version"),
        cpu_model: text("machdep.cpu.brand_string"),
        memory_bytes: int("hw.memsize"),
        ncpu: int("hw.ncpu"),
    }
}

/// A value from one source, its evidence, or why it could not be read.
struct Part<T> {
    value: Option<T>,
    evidence: Option<Evidence>,
    problem: Option<String>,
}

impl<T> Part<T> {
    fn none(problem: Option<String>) -> Self {
        Part {
            value: None,
            evidence: None,
            problem,
        }
    }
}

/// Who the Mac is: read once per run, shared by `inventory.host` and the
/// report's `host` block.
pub struct Identity {
    names: Part<Names>,
    os: Part<OsVersion>,
    device: Part<PlatformDevice>,
    sysctl: Part<Sysctl>,
}

fn read_names(ctx: &Context<'_>) -> Part<Names> {
    match prefs::read_dict(ctx.host, SYSTEM_PREFERENCES) {
        Ok(Some((bytes, dict))) => {
            let names = parse_names(&dict);
            let excerpt = [
                ("ComputerName", &names.computer_name),
                ("HostName", &names.host_name),
                ("LocalHostName", &names.local_host_name),
            ]
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} = {v:?}")))
            .collect::<Vec<_>>()
            .join("\n");
            Part {
                value: Some(names),
                evidence: Some(file_evidence(SYSTEM_PREFERENCES, &bytes, excerpt)),
                problem: None,
            }
        }
        Ok(None) => Part::none(None),
        Err(e) => Part::none(Some(e.to_string())),
    }
}

fn read_os(ctx: &Context<'_>) -> Part<OsVersion> {
    match prefs::read_dict(ctx.host, MACOS_MARKER) {
        Ok(Some((bytes, dict))) => {
            let os = OsVersion {
                name: pl::string(&dict, "ProductName"),
                version: pl::string(&dict, "ProductVersion"),
                build: pl::string(&dict, "ProductBuildVersion"),
            };
            let excerpt = os.pretty();
            Part {
                value: Some(os),
                evidence: Some(file_evidence(MACOS_MARKER, &bytes, excerpt)),
                problem: None,
            }
        }
        Ok(None) => Part::none(None),
        Err(e) => Part::none(Some(e.to_string())),
    }
}

fn read_device(ctx: &Context<'_>) -> Part<PlatformDevice> {
    let memo = ioreg::platform_device(ctx);
    match &memo.0 {
        Ok(read) => {
            let d = &read.value;
            let excerpt = [
                ("IOPlatformUUID", &d.uuid),
                ("IOPlatformSerialNumber", &d.serial),
                ("model", &d.model),
                ("manufacturer", &d.manufacturer),
            ]
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} = {v:?}")))
            .collect::<Vec<_>>()
            .join("\n");
            Part {
                value: Some(d.clone()),
                evidence: Some(command_evidence(&read.output, excerpt)),
                problem: None,
            }
        }
        Err(f) => Part::none(ctx.host.answers_sources().then(|| f.why.clone())),
    }
}

fn read_sysctl(ctx: &Context<'_>) -> Part<Sysctl> {
    match ctx.host.api(&MACOS_SYSCTL_HARDWARE) {
        Ok(out) => {
            let s = parse_sysctl(&out.value);
            let excerpt = format!(
                "kern.osrelease = {:?}\nmachdep.cpu.brand_string = {:?}\nhw.memsize = {:?}\nhw.ncpu = {:?}",
                s.kernel, s.cpu_model, s.memory_bytes, s.ncpu
            );
            Part {
                evidence: Some(api_evidence(&out, excerpt)),
                value: Some(s),
                problem: None,
            }
        }
        Err(e) => Part::none(ctx.host.answers_sources().then(|| e.to_string())),
    }
}

pub fn identity(ctx: &Context<'_>) -> Arc<Identity> {
    ctx.memo(|ctx| Identity {
        names: read_names(ctx),
        os: read_os(ctx),
        device: read_device(ctx),
        sysctl: read_sysctl(ctx),
    })
}

/// The report's `host` block of a Mac: host name, hardware UUID, `macos` and its
/// version, kernel release; empty strings for what cannot be read.
pub fn host_info(ctx: &Context<'_>) -> HostInfo {
    let id = identity(ctx);
    let os = id.os.value.clone().unwrap_or_default();
    HostInfo {
        hostname: id
            .names
            .value
            .as_ref()
            .and_then(|n| n.hostname())
            .map(|(h, _)| h.to_owned())
            .unwrap_or_default(),
        machine_id: id
            .device
            .value
            .as_ref()
            .and_then(|d| d.uuid.clone())
            .unwrap_or_default(),
        os: OsInfo {
            id: "macos".to_owned(),
            version_id: os.version.clone().unwrap_or_default(),
            pretty_name: os.pretty(),
        },
        kernel: id
            .sysctl
            .value
            .as_ref()
            .and_then(|s| s.kernel.clone())
            .unwrap_or_default(),
    }
}

/// The security features other checks' sources give, each null when not known.
fn security_features(ctx: &Context<'_>) -> (serde_json::Value, Vec<Evidence>) {
    let mut evidence = Vec::new();
    let sip = run_parsed(ctx, &MACOS_CSRUTIL_STATUS, parse_status, true)
        .ok()
        .map(|(s, out)| {
            evidence.push(command_evidence(&out, format!("SIP {}", s.as_str())));
            s.as_str()
        });
    let fde = fdesetup_status(ctx);
    let filevault = fde.0.as_ref().ok().map(|r| {
        evidence.push(r.evidence());
        r.value.state().label()
    });
    let secure_boot = command_once(ctx, &MACOS_IBRIDGE)
        .ok()
        .filter(|out| out.exit_code == Some(0))
        .and_then(|out| {
            let level = match parse_ibridge(&out.stdout).ok()? {
                IbridgeInfo::NoItem => "none".to_owned(),
                IbridgeInfo::Level { level, .. } => level,
            };
            evidence.push(command_evidence(&out, format!("secure boot: {level}")));
            Some(level)
        });
    let mdm = command_once(ctx, &MACOS_PROFILES)
        .ok()
        .filter(|out| out.exit_code == Some(0))
        .and_then(|out| {
            let value = pl::parse(out.stdout.as_bytes()).ok()?;
            let found = pl::all_dicts(&value)
                .into_iter()
                .any(|d| pl::string(d, "PayloadType").as_deref() == Some(PROFILES_MDM_PAYLOAD));
            found.then(|| {
                evidence.push(command_evidence(
                    &out,
                    format!("PayloadType {PROFILES_MDM_PAYLOAD}"),
                ));
                true
            })
        });
    (
        json!({
            "sip": sip,
            "filevault": filevault,
            "secure_boot": secure_boot,
            "mdm_enrolled": mdm,
        }),
        evidence,
    )
}

/// Records who and what the Mac is (status `info`):
///
/// - names from `/Library/Preferences/SystemConfiguration/preferences.plist`
///   (`System.System.ComputerName`, `HostName`,
///   `System.Network.HostNames.LocalHostName`); `hostname` is `HostName`, else
///   `LocalHostName`, else `ComputerName` (`hostname_source` names the key);
/// - OS from `SystemVersion.plist` (`ProductName`, `ProductVersion`,
///   `ProductBuildVersion`);
/// - `machine_id` (`IOPlatformUUID`) and `hardware` (`vendor` = `manufacturer`,
///   `model`, `serial` = `IOPlatformSerialNumber`; `version` and the BIOS keys
///   null) from `ioreg -a -rd1 -c IOPlatformExpertDevice`: live or replayed only,
///   so null offline;
/// - `kernel`, `kernel_version`, `cpu` (`logical` = `hw.ncpu`, `model` =
///   `machdep.cpu.brand_string`; `physical_cores` null) and `memory_bytes`
///   (`hw.memsize`) from the api source `macos.sysctl.hardware`;
/// - `security_features`: `sip` (`enabled`/`disabled`/`custom`, from `csrutil
///   status`), `filevault` (`fdesetup status`), `secure_boot` (the iBridge level,
///   `none` without Secure Boot hardware), `mdm_enrolled` (true when the installed
///   profiles hold a `com.apple.mdm` payload). Each is null when its source gives
///   no usable answer; `mdm_enrolled` is never false, as the absence of the payload
///   from `profiles show -type configuration` is not proof of no enrollment.
///   Lockdown Mode is not read.
///
/// `system_profiler SPHardwareDataType` is never run (slow). `interfaces` is null
/// (not read on macOS). A source that exists but cannot be read is in
/// `unreadable`.
pub struct MacInventoryHost;

impl Check for MacInventoryHost {
    fn id(&self) -> &'static str {
        "inventory.host"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let id = identity(ctx);
        let mut evidence: Vec<Evidence> = Vec::new();
        let mut unreadable: Vec<String> = Vec::new();
        evidence.extend(id.names.evidence.clone());
        evidence.extend(id.os.evidence.clone());
        evidence.extend(id.device.evidence.clone());
        evidence.extend(id.sysctl.evidence.clone());
        for p in [
            &id.names.problem,
            &id.os.problem,
            &id.device.problem,
            &id.sysctl.problem,
        ] {
            unreadable.extend(p.clone());
        }
        let names = id.names.value.clone().unwrap_or_default();
        let device = id.device.value.clone().unwrap_or_default();
        let sysctl = id.sysctl.value.clone().unwrap_or_default();
        let os = id.os.value.clone();
        let hardware = attest_proto::facts::Hardware {
            vendor: device.manufacturer.clone(),
            model: device.model.clone(),
            serial: device.serial.clone(),
            ..Default::default()
        };
        let (features, feature_evidence) = security_features(ctx);
        evidence.extend(feature_evidence);

        let hostname = names.hostname();
        let cpu = sysctl
            .ncpu
            .and_then(|n| usize::try_from(n).ok())
            .map(|logical| Cpu {
                logical,
                physical_cores: None,
                model: sysctl.cpu_model.clone(),
            });
        let hw = HostHardware {
            source: "ioreg",
            cpu,
            memory_bytes: sysctl.memory_bytes,
            interfaces: None,
            evidence: Vec::new(),
        };
        let pretty = os.as_ref().map(OsVersion::pretty);
        let summary = summary(
            hostname.map(|(h, _)| h),
            pretty.as_deref(),
            sysctl.kernel.as_deref(),
            hardware.vendor.as_deref(),
            hardware.model.as_deref(),
            &hw,
        );
        let result = machine_facts(
            CheckResult::new(self.id(), Status::Info, summary),
            sysctl.kernel.as_deref(),
            device.uuid.as_deref(),
            &hardware,
            &hw,
        );
        result
            .fact("hostname", hostname.map(|(h, _)| h))
            .fact("hostname_source", hostname.map(|(_, k)| k))
            .fact("computer_name", &names.computer_name)
            .fact("local_host_name", &names.local_host_name)
            .fact(
                "os",
                os.as_ref().map(|o| {
                    json!({
                        "id": "macos",
                        "name": o.name,
                        "version_id": o.version,
                        "build": o.build,
                        "pretty_name": o.pretty(),
                    })
                }),
            )
            .fact("kernel_version", &sysctl.kernel_version)
            .fact("security_features", features)
            .fact("unreadable", unreadable)
            .evidences(evidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::macos::ioreg::tests::{UUID, ioreg_output};
    use crate::checks::macos::prefs::tests::{binary, xml};
    use crate::checks::macos::system::sip::SIP_ENABLED;
    use crate::checks::{Thresholds, run};
    use crate::host::fake::FakeHost;
    use crate::host::sources::{MACOS_CSRUTIL_STATUS, MACOS_FDESETUP_STATUS, MACOS_IOREG_PLATFORM};
    use plist::{Dictionary, Value};

    fn dict(entries: &[(&str, Value)]) -> Value {
        Value::Dictionary(
            entries
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect::<Dictionary>(),
        )
    }

    fn s(v: &str) -> Value {
        Value::String(v.to_owned())
    }

    /// preferences.plist as macOS writes it (binary; abridged).
    fn preferences(host_name: Option<&str>) -> Vec<u8> {
        let mut system = vec![("ComputerName", s("Alice’s MacBook Pro"))];
        if let Some(h) = host_name {
            system.push(("HostName", s(h)));
        }
        binary(&[
            ("CurrentSet", s("/Sets/0A1B")),
            (
                "System",
                dict(&[
                    ("System", dict(&system)),
                    (
                        "Network",
                        dict(&[(
                            "HostNames",
                            dict(&[("LocalHostName", s("Alices-MacBook-Pro"))]),
                        )]),
                    ),
                ]),
            ),
        ])
    }

    fn offline_mac() -> FakeHost {
        FakeHost::macos()
            .file(
                MACOS_MARKER,
                xml(&[
                    ("ProductName", s("macOS")),
                    ("ProductVersion", s("15.1")),
                    ("ProductBuildVersion", s("24B83")),
                ]),
            )
            .file(SYSTEM_PREFERENCES, preferences(None))
    }

    fn sysctl_json() -> serde_json::Value {
        json!({"kern.osrelease": "24.1.0",
            "kern.version": "Darwin Kernel Version 24.1.0: Thu Oct 10 21:06:23 PDT 2024; root:xnu-11215.41.3~3/RELEASE_ARM64_T6031",
            "machdep.cpu.brand_string": "Apple M3", "hw.memsize": 17179869184u64, "hw.ncpu": 8})
    }

    #[test]
    fn names_come_from_the_system_configuration() {
        let d = prefs::parse(&preferences(Some("build-07.example.com")))
            .unwrap()
            .into_dictionary()
            .unwrap();
        let n = parse_names(&d);
        assert_eq!(n.computer_name.as_deref(), Some("Alice’s MacBook Pro"));
        assert_eq!(n.local_host_name.as_deref(), Some("Alices-MacBook-Pro"));
        assert_eq!(n.hostname(), Some(("build-07.example.com", "HostName")));
        let n = Names {
            host_name: None,
            ..n
        };
        assert_eq!(n.hostname(), Some(("Alices-MacBook-Pro", "LocalHostName")));
        assert_eq!(parse_names(&Dictionary::new()).hostname(), None);
    }

    #[test]
    fn sysctl_layout_reads_with_nulls_and_wrong_types_as_absent() {
        let got = parse_sysctl(&sysctl_json());
        assert_eq!(got.kernel.as_deref(), Some("24.1.0"));
        assert_eq!(got.cpu_model.as_deref(), Some("Apple M3"));
        assert_eq!(got.memory_bytes, Some(17_179_869_184));
        assert_eq!(got.ncpu, Some(8));
        let got = parse_sysctl(&json!({"kern.osrelease": null, "hw.ncpu": "8"}));
        assert_eq!(got, Sysctl::default());
    }

    #[test]
    fn offline_the_mac_has_names_and_os_but_no_machine_id_or_serial() {
        let r = offline_mac().run(&MacInventoryHost);
        assert_eq!(r.status, Status::Info, "{r:?}");
        assert_eq!(r.facts["hostname"], "Alices-MacBook-Pro");
        assert_eq!(r.facts["hostname_source"], "LocalHostName");
        assert_eq!(r.facts["os"]["version_id"], "15.1");
        assert_eq!(r.facts["os"]["pretty_name"], "macOS 15.1 (24B83)");
        assert!(r.facts["machine_id"].is_null());
        assert!(r.facts["hardware"]["serial"].is_null());
        assert_eq!(
            r.facts["security_features"],
            json!({"sip": null, "filevault": null, "secure_boot": null, "mdm_enrolled": null})
        );
        assert_eq!(r.facts["unreadable"], json!([]));
        assert_eq!(r.summary, "Alices-MacBook-Pro: macOS 15.1 (24B83).");
        // The collector reads the hardware as for Linux.
        let facts: attest_proto::facts::HostFacts =
            serde_json::from_value(serde_json::to_value(&r.facts).unwrap()).unwrap();
        assert_eq!(
            facts.hardware,
            Some(attest_proto::facts::Hardware::default())
        );
    }

    #[test]
    fn replayed_the_mac_has_hardware_cpu_memory_and_security_features() {
        let fake = offline_mac()
            .command(&MACOS_IOREG_PLATFORM, 0, &ioreg_output("C02ZX0AAMD6M"))
            .api(&MACOS_SYSCTL_HARDWARE, sysctl_json())
            .command(&MACOS_CSRUTIL_STATUS, 0, &format!("{SIP_ENABLED}\n"))
            .command(&MACOS_FDESETUP_STATUS, 0, "FileVault is On.\n")
            .command(
                &MACOS_IBRIDGE,
                0,
                r#"{"SPiBridgeDataType": [{"ibridge_secure_boot": "Full Security"}]}"#,
            )
            .command(
                &MACOS_PROFILES,
                0,
                "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>_computerlevel</key><array><dict><key>ProfileItems</key><array><dict><key>PayloadType</key><string>com.apple.mdm</string></dict></array></dict></array></dict></plist>",
            );
        let r = fake.run(&MacInventoryHost);
        assert_eq!(r.facts["machine_id"], UUID);
        assert_eq!(
            r.facts["hardware"],
            json!({"vendor": "Apple Inc.", "model": "Mac15,3", "version": null,
                "serial": "C02ZX0AAMD6M", "bios_vendor": null, "bios_version": null})
        );
        assert_eq!(r.facts["kernel"], "24.1.0");
        assert_eq!(
            r.facts["cpu"],
            json!({"logical": 8, "physical_cores": null, "model": "Apple M3"})
        );
        assert_eq!(r.facts["memory_bytes"], 17_179_869_184u64);
        assert_eq!(
            r.facts["security_features"],
            json!({"sip": "enabled", "filevault": "on", "secure_boot": "Full Security", "mdm_enrolled": true})
        );
        assert_eq!(
            r.summary,
            "Alices-MacBook-Pro: macOS 15.1 (24B83), kernel 24.1.0, Apple Inc. Mac15,3, 8 CPUs, 16.0 GiB memory."
        );
        // The report's host block has the same identity.
        let host = fake.host();
        let thresholds = Thresholds::default();
        let ctx = Context::new(&host, crate::host::fake::default_now(), &thresholds);
        let info = host_info(&ctx);
        assert_eq!(info.hostname, "Alices-MacBook-Pro");
        assert_eq!(info.machine_id, UUID);
        assert_eq!(info.kernel, "24.1.0");
        assert_eq!(info.os.id, "macos");
        assert_eq!(info.os.version_id, "15.1");
        // Through the registry, inventory.host runs on a Mac.
        let results = run(&ctx, &["inventory.host".to_owned()]);
        assert_eq!(results[0].status, Status::Info);
    }

    #[test]
    fn sources_that_fail_are_unreadable_and_the_rest_is_reported() {
        let r = offline_mac()
            .deny(SYSTEM_PREFERENCES)
            .source_error(&MACOS_SYSCTL_HARDWARE, "sysctl failed")
            .command(&MACOS_IOREG_PLATFORM, 1, "")
            .run(&MacInventoryHost);
        assert_eq!(r.status, Status::Info, "{r:?}");
        let unreadable = r.facts["unreadable"].to_string();
        assert!(
            unreadable.contains("preferences.plist: permission denied"),
            "{unreadable}"
        );
        assert!(unreadable.contains("sysctl failed"), "{unreadable}");
        assert!(unreadable.contains("ioreg"), "{unreadable}");
        assert!(r.facts["hostname"].is_null());
        assert!(
            r.summary.starts_with("Unnamed host: macOS 15.1"),
            "{}",
            r.summary
        );
    }
}
