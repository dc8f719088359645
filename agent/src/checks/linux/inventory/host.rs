//! `inventory.host` — ISO/IEC 27002:2022 5.9 Inventory of information and other
//! associated assets, 8.1 User endpoint devices — and the report's `host` block,
//! which share the host's identity (read once per run).

use std::sync::Arc;

use attest_proto::{CheckResult, Evidence, HostInfo, OsInfo, Status};
use serde::Serialize;
use serde_json::json;

use super::{live, parse};
use crate::checks::linux::common::osrelease;
use crate::checks::{Check, Context, file_evidence};
use crate::host::{Host, join_path};

pub const PROC_HOSTNAME: &str = "/proc/sys/kernel/hostname";
pub const ETC_HOSTNAME: &str = "/etc/hostname";
pub const MACHINE_ID: &str = "/etc/machine-id";
pub const PROC_OSRELEASE: &str = "/proc/sys/kernel/osrelease";
pub const DMI_DIR: &str = "/sys/class/dmi/id";
pub const PROC_CPUINFO: &str = "/proc/cpuinfo";
pub const PROC_MEMINFO: &str = "/proc/meminfo";
pub const SYS_CLASS_NET: &str = "/sys/class/net";

/// A value read from one file, or why it could not be.
#[derive(Debug)]
pub struct FileValue {
    pub path: &'static str,
    /// The parsed value and the file's bytes.
    pub read: Result<(Option<String>, Vec<u8>), crate::host::ReadError>,
}

impl FileValue {
    fn read(host: &Host, path: &'static str, parse: fn(&str) -> Option<String>) -> Self {
        FileValue {
            path,
            read: host
                .read(path)
                .map(|raw| (parse(&String::from_utf8_lossy(&raw)), raw)),
        }
    }

    pub fn value(&self) -> Option<&str> {
        self.read.as_ref().ok().and_then(|(v, _)| v.as_deref())
    }

    /// Why the file could not be read, unless it simply does not exist.
    pub fn problem(&self) -> Option<String> {
        match &self.read {
            Err(e) if !e.is_not_found() => Some(e.to_string()),
            _ => None,
        }
    }

    fn evidence(&self) -> Option<Evidence> {
        let (value, raw) = self.read.as_ref().ok()?;
        Some(file_evidence(
            self.path,
            raw,
            value.clone().unwrap_or_default(),
        ))
    }
}

/// Who the host is: read once per run, shared by `inventory.host` and the report's
/// `host` block.
#[derive(Debug)]
pub struct Identity {
    /// Live: `/proc/sys/kernel/hostname` (the running name), falling back to
    /// `/etc/hostname`; offline: `/etc/hostname`.
    pub hostname: FileValue,
    pub machine_id: FileValue,
    /// `/proc/sys/kernel/osrelease`: the running kernel (offline roots have none,
    /// unless the root holds a copy of `/proc`).
    pub kernel: FileValue,
}

pub fn identity(ctx: &Context<'_>) -> Arc<Identity> {
    ctx.memo(|ctx| {
        let host = ctx.host;
        let hostname = if host.is_live() {
            let proc = FileValue::read(host, PROC_HOSTNAME, parse::hostname);
            if proc.value().is_some() {
                proc
            } else {
                FileValue::read(host, ETC_HOSTNAME, parse::hostname)
            }
        } else {
            FileValue::read(host, ETC_HOSTNAME, parse::hostname)
        };
        Identity {
            hostname,
            machine_id: FileValue::read(host, MACHINE_ID, parse::machine_id),
            kernel: FileValue::read(host, PROC_OSRELEASE, parse::single_value),
        }
    })
}

/// The report's `host` block: hostname, machine id, OS (`ID`, `VERSION_ID`,
/// `PRETTY_NAME` of os-release) and kernel release; empty strings for what
/// cannot be read.
pub fn host_info(ctx: &Context<'_>) -> HostInfo {
    let id = identity(ctx);
    let os = osrelease::get(ctx);
    let os = match &os.0 {
        Ok(os) => OsInfo {
            id: os.id.clone(),
            version_id: os.version_id.clone(),
            pretty_name: os.pretty_name.clone(),
        },
        Err(_) => OsInfo::default(),
    };
    let text = |v: &FileValue| v.value().unwrap_or_default().to_owned();
    HostInfo {
        hostname: text(&id.hostname),
        machine_id: text(&id.machine_id),
        os,
        kernel: text(&id.kernel),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cpu {
    pub logical: usize,
    pub physical_cores: Option<usize>,
    pub model: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interface {
    pub name: String,
    pub mac: Option<String>,
}

/// CPUs, memory and network interfaces, from `sysinfo` (live) or files (offline).
#[derive(Debug, Clone)]
pub struct Hardware {
    /// `sysinfo` or `files`.
    pub source: &'static str,
    pub cpu: Option<Cpu>,
    pub memory_bytes: Option<u64>,
    /// `None` when `/sys/class/net` cannot be listed.
    pub interfaces: Option<Vec<Interface>>,
    pub evidence: Vec<Evidence>,
}

/// The hardware of an offline root, from `/proc/cpuinfo`, `/proc/meminfo` and
/// `/sys/class/net/*/address` under it (usually absent in a disk image).
pub fn offline_hardware(host: &Host) -> Hardware {
    let mut evidence = Vec::new();
    let cpu = host.read(PROC_CPUINFO).ok().and_then(|raw| {
        let text = String::from_utf8_lossy(&raw);
        let info = parse::cpuinfo(&text);
        let model_line = info
            .model_line
            .and_then(|n| text.lines().nth(n.saturating_sub(1)))
            .unwrap_or("");
        evidence.push(file_evidence(
            PROC_CPUINFO,
            &raw,
            format!("{} processor entries\n{}", info.logical, model_line.trim()),
        ));
        (info.logical > 0).then_some(Cpu {
            logical: info.logical,
            physical_cores: info.physical_cores,
            model: info.model,
        })
    });
    let memory_bytes = host.read(PROC_MEMINFO).ok().and_then(|raw| {
        let (bytes, line) = parse::mem_total(&String::from_utf8_lossy(&raw))?;
        evidence.push(file_evidence(PROC_MEMINFO, &raw, line));
        Some(bytes)
    });
    let interfaces = host.list_dir(SYS_CLASS_NET).ok().map(|names| {
        names
            .into_iter()
            .map(|name| {
                let mac = host
                    .read_string(&join_path(&join_path(SYS_CLASS_NET, &name), "address"))
                    .ok()
                    .and_then(|t| parse::mac(&t));
                Interface { name, mac }
            })
            .collect()
    });
    Hardware {
        source: "files",
        cpu,
        memory_bytes,
        interfaces,
        evidence,
    }
}

/// The DMI files read, as (fact name, file name).
pub const DMI_FIELDS: [(&str, &str); 6] = [
    ("vendor", "sys_vendor"),
    ("model", "product_name"),
    ("version", "product_version"),
    ("serial", "product_serial"),
    ("bios_vendor", "bios_vendor"),
    ("bios_version", "bios_version"),
];

/// Records who and what the host is (status `info`): hostname, OS, kernel, machine
/// id ([`identity`]); hardware vendor, model and serial from `/sys/class/dmi/id`
/// (`sys_vendor`, `product_name`, `product_version`, `product_serial`,
/// `bios_vendor`, `bios_version`; the serial is readable by root only, and every
/// file that exists but cannot be read is listed in `unreadable`); CPUs, memory
/// and network interfaces with their MAC addresses, through `sysinfo` on a live
/// host and from `/proc/cpuinfo`, `/proc/meminfo` and `/sys/class/net/*/address`
/// under an offline root.
///
/// Facts: `hostname`, `hostname_source`, `os` (`id`, `id_like`, `version_id`,
/// `pretty_name`), `kernel`, `machine_id`, `hardware` (the DMI fields above),
/// `cpu` (`logical`, `physical_cores`, `model`), `memory_bytes`, `interfaces`
/// (`name`, `mac`), `hardware_source` (`sysinfo` or `files`), `unreadable`. A value
/// that could not be found is null.
pub struct InventoryHost;

impl Check for InventoryHost {
    fn id(&self) -> &'static str {
        "inventory.host"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let host = ctx.host;
        let id = identity(ctx);
        let os_memo = osrelease::get(ctx);
        let os = os_memo.0.as_ref().ok();
        let mut unreadable: Vec<String> = Vec::new();
        let mut evidence: Vec<Evidence> = Vec::new();

        for v in [&id.hostname, &id.machine_id, &id.kernel] {
            unreadable.extend(v.problem());
            evidence.extend(v.evidence());
        }
        if let Some(os) = os {
            evidence.push(file_evidence(&os.path, &os.raw, os.excerpt()));
        } else if let Err(e) = &os_memo.0 {
            unreadable.push(e.clone());
        }

        let mut hardware = attest_proto::facts::Hardware::default();
        for (fact, file) in DMI_FIELDS {
            let path = join_path(DMI_DIR, file);
            let value = match host.read(&path) {
                Ok(raw) => {
                    let v = parse::single_value(&String::from_utf8_lossy(&raw));
                    evidence.push(file_evidence(&path, &raw, v.clone().unwrap_or_default()));
                    v
                }
                Err(e) => {
                    if !e.is_not_found() {
                        unreadable.push(e.to_string());
                    }
                    None
                }
            };
            if let Some(field) = hardware.field_mut(fact) {
                *field = value;
            }
        }

        let hw = if host.is_live() {
            live::hardware()
        } else {
            offline_hardware(host)
        };
        evidence.extend(hw.evidence.iter().cloned());

        let hostname = id.hostname.value();
        let summary = summary(
            hostname,
            os.map(|o| o.pretty_name.as_str()),
            id.kernel.value(),
            hardware.vendor.as_deref(),
            hardware.model.as_deref(),
            &hw,
        );
        let result = machine_facts(
            CheckResult::new(self.id(), Status::Info, summary),
            id.kernel.value(),
            id.machine_id.value(),
            &hardware,
            &hw,
        );
        result
            .fact("hostname", hostname)
            .fact("hostname_source", id.hostname.path)
            .fact(
                "os",
                os.map(|o| {
                    json!({
                        "id": o.id,
                        "id_like": o.id_like,
                        "version_id": o.version_id,
                        "pretty_name": o.pretty_name,
                    })
                }),
            )
            .fact("unreadable", unreadable)
            .evidences(evidence)
    }
}

/// The machine facts `inventory.host` records alike on every OS: `kernel`,
/// `machine_id`, `hardware`, `cpu`, `memory_bytes`, `interfaces`,
/// `hardware_source`.
pub(crate) fn machine_facts(
    result: CheckResult,
    kernel: Option<&str>,
    machine_id: Option<&str>,
    hardware: &attest_proto::facts::Hardware,
    hw: &Hardware,
) -> CheckResult {
    result
        .fact("kernel", kernel)
        .fact("machine_id", machine_id)
        .fact(attest_proto::facts::HARDWARE, hardware)
        .fact("cpu", &hw.cpu)
        .fact("memory_bytes", hw.memory_bytes)
        .fact("interfaces", &hw.interfaces)
        .fact("hardware_source", hw.source)
}

/// "web-01: Debian GNU/Linux 12 (bookworm), kernel 6.1.0-28-amd64, Dell Inc.
/// PowerEdge R650, 4 CPUs, 7.6 GiB memory, 2 network interfaces."
pub(crate) fn summary(
    hostname: Option<&str>,
    os: Option<&str>,
    kernel: Option<&str>,
    vendor: Option<&str>,
    model: Option<&str>,
    hw: &Hardware,
) -> String {
    let mut parts: Vec<String> = Vec::new();
    parts.extend(os.filter(|o| !o.is_empty()).map(str::to_owned));
    parts.extend(kernel.map(|k| format!("kernel {k}")));
    let machine: Vec<&str> = [vendor, model].into_iter().flatten().collect();
    if !machine.is_empty() {
        parts.push(machine.join(" "));
    }
    parts.extend(hw.cpu.as_ref().map(|c| format!("{} CPUs", c.logical)));
    parts.extend(
        hw.memory_bytes
            .map(|b| format!("{:.1} GiB memory", b as f64 / (1u64 << 30) as f64)),
    );
    parts.extend(
        hw.interfaces
            .as_ref()
            .map(|i| format!("{} network interfaces", i.len())),
    );
    let name = hostname.unwrap_or("Unnamed host");
    if parts.is_empty() {
        format!("{name}: nothing more could be read.")
    } else {
        format!("{name}: {}.", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Thresholds;
    use crate::host::fake::FakeHost;

    const MID: &str = "0123456789abcdef0123456789abcdef";

    fn server() -> FakeHost {
        let mut t = FakeHost::linux();
        t.add_file("/etc/hostname", "web-01\n");
        t.add_file("/etc/machine-id", format!("{MID}\n"));
        t.add_file(
            "/etc/os-release",
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
        );
        t.add_file("/proc/sys/kernel/osrelease", "6.1.0-28-amd64\n");
        t.add_file("/proc/sys/kernel/hostname", "not-used-offline\n");
        t.add_file(
            "/proc/cpuinfo",
            "processor\t: 0\nmodel name\t: AMD EPYC 7763\nphysical id\t: 0\ncore id\t: 0\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7763\nphysical id\t: 0\ncore id\t: 1\n",
        );
        t.add_file(
            "/proc/meminfo",
            "MemTotal:        8000000 kB\nMemFree: 1 kB\n",
        );
        t.add_file("/sys/devices/virtual/dmi/id/sys_vendor", "Dell Inc.\n");
        t.add_file(
            "/sys/devices/virtual/dmi/id/product_name",
            "PowerEdge R650\n",
        );
        t.add_link("/sys/class/dmi/id", "../../devices/virtual/dmi/id");
        t.add_file(
            "/sys/devices/pci0000:00/net/eno1/address",
            "B0:7B:25:00:00:01\n",
        );
        t.add_file("/sys/devices/virtual/net/lo/address", "00:00:00:00:00:00\n");
        t.add_link("/sys/class/net/eno1", "../../devices/pci0000:00/net/eno1");
        t.add_link("/sys/class/net/lo", "../../devices/virtual/net/lo");
        t
    }

    #[test]
    fn offline_host_facts_from_files() {
        let t = server();
        let r = t.run(&InventoryHost);
        assert_eq!(r.status, Status::Info, "{r:?}");
        let f = &r.facts;
        assert_eq!(f["hostname"], json!("web-01"));
        assert_eq!(f["hostname_source"], json!("/etc/hostname"));
        assert_eq!(f["machine_id"], json!(MID));
        assert_eq!(f["kernel"], json!("6.1.0-28-amd64"));
        assert_eq!(f["os"]["id"], json!("debian"));
        assert_eq!(f["hardware"]["vendor"], json!("Dell Inc."));
        assert_eq!(f["hardware"]["model"], json!("PowerEdge R650"));
        assert_eq!(f["hardware"]["serial"], json!(null));
        assert_eq!(
            f["cpu"],
            json!({"logical": 2, "physical_cores": 2, "model": "AMD EPYC 7763"})
        );
        assert_eq!(f["memory_bytes"], json!(8_000_000u64 * 1024));
        assert_eq!(
            f["interfaces"],
            json!([
                {"name": "eno1", "mac": "b0:7b:25:00:00:01"},
                {"name": "lo", "mac": "00:00:00:00:00:00"},
            ])
        );
        assert_eq!(f["hardware_source"], json!("files"));
        assert_eq!(f["unreadable"], json!([]));
        assert_eq!(
            r.summary,
            "web-01: Debian GNU/Linux 12 (bookworm), kernel 6.1.0-28-amd64, Dell Inc. PowerEdge R650, 2 CPUs, 7.6 GiB memory, 2 network interfaces."
        );
        assert!(r.evidence.iter().any(|e| matches!(e,
            Evidence::File { path, excerpt, .. } if path == "/proc/meminfo" && excerpt.starts_with("MemTotal:"))));
    }

    #[test]
    fn unreadable_serial_is_recorded() {
        // Readable (as by root): the serial is a fact.
        let mut t = server();
        t.add_file("/sys/devices/virtual/dmi/id/product_serial", "ABC123\n");
        let r = t.run(&InventoryHost);
        assert_eq!(r.facts["hardware"]["serial"], json!("ABC123"));
        // Mode 0400 read by another user: recorded as unreadable.
        t.add_deny("/sys/devices/virtual/dmi/id/product_serial");
        let r = t.run(&InventoryHost);
        assert_eq!(r.facts["hardware"]["serial"], json!(null));
        let unreadable = r.facts["unreadable"].as_array().unwrap();
        assert!(unreadable[0].as_str().unwrap().contains("product_serial"));
    }

    #[test]
    fn bare_root_has_nulls_not_errors() {
        let t = FakeHost::linux();
        let r = t.run(&InventoryHost);
        assert_eq!(r.status, Status::Info);
        assert_eq!(r.facts["hostname"], json!(null));
        assert_eq!(r.facts["cpu"], json!(null));
        assert_eq!(r.facts["interfaces"], json!(null));
        assert_eq!(r.summary, "Unnamed host: nothing more could be read.");
    }

    #[test]
    fn host_block_shares_the_identity() {
        let t = server();
        let host = t.host();
        let th = Thresholds::default();
        let ctx = Context::new(&host, chrono::DateTime::UNIX_EPOCH, &th);
        let info = host_info(&ctx);
        assert_eq!(info.hostname, "web-01");
        assert_eq!(info.machine_id, MID);
        assert_eq!(info.kernel, "6.1.0-28-amd64");
        assert_eq!(info.os.id, "debian");
        assert_eq!(info.os.version_id, "12");
        assert_eq!(info.os.pretty_name, "Debian GNU/Linux 12 (bookworm)");
        // An uninitialised machine id is no id.
        let mut t = FakeHost::linux();
        t.add_file("/etc/machine-id", "uninitialized\n");
        let host = t.host();
        let ctx = Context::new(&host, chrono::DateTime::UNIX_EPOCH, &th);
        assert_eq!(host_info(&ctx), HostInfo::default());
    }

    #[test]
    fn live_host_uses_proc_and_sysinfo() {
        let host = Host::open(std::path::Path::new("/")).unwrap();
        let th = Thresholds::default();
        let ctx = Context::new(&host, chrono::DateTime::UNIX_EPOCH, &th);
        let r = InventoryHost.run(&ctx);
        assert_eq!(r.facts["hardware_source"], json!("sysinfo"));
        assert_eq!(r.facts["hostname_source"], json!(PROC_HOSTNAME));
        assert!(r.facts["cpu"]["logical"].as_u64().unwrap() >= 1);
    }
}
