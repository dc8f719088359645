//! `inventory.host` and `inventory.software` on Windows (catalogue 3.6) — ISO/IEC
//! 27002:2022 5.9 Inventory of information and other associated assets, 8.1 User
//! endpoint devices, 8.19 Installation of software on operational systems — and
//! the report's `host` block, which shares the identity (read once per run).

use std::sync::Arc;

use attest_proto::{CheckResult, Evidence, HostInfo, OsInfo, Status};
use serde_json::{Value, json};

use super::smbios::{self, Smbios};
use super::support::{Identity, read_identity};
use super::{Reg, RegRead, clip, instances, read_reg};
use crate::checks::linux::inventory::host::{Hardware as HostHardware, machine_facts, summary};
use crate::checks::linux::inventory::software::{Package, digest, sort};
use crate::checks::{Check, Context, api_evidence, unknown};
use crate::host::sources::{WIN_DEVICEGUARD, WIN_SMBIOS_RSMB, WIN_TPM};
use crate::host::{ApiOutput, Hkey, RegistryValue, SourceError};

const COMPUTER_NAME: &str = "SYSTEM\\CurrentControlSet\\Control\\ComputerName\\ComputerName";
const CRYPTOGRAPHY: &str = "SOFTWARE\\Microsoft\\Cryptography";
const SYSTEM_INFORMATION: &str = "SYSTEM\\CurrentControlSet\\Control\\SystemInformation";
const LSA: &str = "SYSTEM\\CurrentControlSet\\Control\\Lsa";
/// The profiles of the machine, one subkey per SID.
pub const PROFILE_LIST: &str = "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList";
/// The uninstall entries of 64-bit (or, on 32-bit Windows, all) programs.
pub const UNINSTALL: &str = "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall";
/// The uninstall entries of 32-bit programs on 64-bit Windows.
pub const UNINSTALL_WOW64: &str =
    "SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall";
/// A user's own uninstall entries (in the user's hive).
pub const UNINSTALL_USER: &str = "Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall";
/// Exists on 64-bit Windows only.
const WOW64_NODE: &str = "SOFTWARE\\WOW6432Node";

/// Who the machine is, read once per run.
pub struct WinIdentity {
    pub hostname: RegRead,
    pub machine_guid: RegRead,
    pub os: Result<Identity, String>,
    pub os_reads: Vec<RegRead>,
}

impl WinIdentity {
    fn hostname(&self) -> Option<&str> {
        self.hostname
            .string()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    fn machine_id(&self) -> Option<&str> {
        self.machine_guid
            .string()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

/// The identity, memoised per run.
pub fn identity(ctx: &Context<'_>) -> Arc<WinIdentity> {
    ctx.memo(|ctx| {
        let (os, os_reads) = read_identity(ctx);
        WinIdentity {
            hostname: read_reg(ctx, COMPUTER_NAME, "ComputerName"),
            machine_guid: read_reg(ctx, CRYPTOGRAPHY, "MachineGuid"),
            os,
            os_reads,
        }
    })
}

/// `10.0.<CurrentBuild>.<UBR>` (without `.UBR` when it is absent).
pub fn kernel(id: &Identity) -> String {
    format!("10.0.{}", id.full_build())
}

/// `Windows 11 24H2 (build 26100.4460, Enterprise)`: the family from
/// `ProductType` and `CurrentBuild`, never `ProductName`.
pub fn pretty_name(id: &Identity) -> String {
    let family = id.family().unwrap_or("Windows");
    match &id.display_version {
        Some(v) => format!(
            "{family} {v} (build {}, {})",
            id.full_build(),
            id.edition_id
        ),
        None => format!("{family} (build {}, {})", id.full_build(), id.edition_id),
    }
}

/// The report's `host` block of a Windows host: `ComputerName`, `MachineGuid`,
/// `windows`, the build (`26100.4460`) as `version_id`, [`pretty_name`], and
/// [`kernel`]; empty strings for what cannot be read.
pub fn host_info(ctx: &Context<'_>) -> HostInfo {
    let id = identity(ctx);
    let os = id.os.as_ref().ok();
    HostInfo {
        hostname: id.hostname().unwrap_or_default().to_owned(),
        machine_id: id.machine_id().unwrap_or_default().to_owned(),
        os: OsInfo {
            id: "windows".to_owned(),
            version_id: os.map(Identity::full_build).unwrap_or_default(),
            pretty_name: os.map_or_else(|| "Windows".to_owned(), pretty_name),
        },
        kernel: os.map(kernel).unwrap_or_default(),
    }
}

/// The hardware facts: from the raw SMBIOS table (live or captured), else from
/// `SystemInformation` in the registry. Returns the facts, their source
/// (`smbios`, `registry`, or `none`), evidence, and what could not be read.
fn hardware(
    ctx: &Context<'_>,
) -> (
    attest_proto::facts::Hardware,
    &'static str,
    Vec<Evidence>,
    Vec<String>,
) {
    let mut problems = Vec::new();
    let table = ctx
        .host
        .api(&WIN_SMBIOS_RSMB)
        .map_err(|e| (ctx.host.answers_sources(), e.to_string()))
        .and_then(|out| {
            let bytes = smbios::decode_capture(&out.value, &out.name).map_err(|e| (true, e))?;
            let parsed = smbios::parse(&bytes).map_err(|e| (true, e.to_string()))?;
            Ok((out, parsed))
        });
    match table {
        Ok((out, t)) => {
            if let Some(p) = &t.problem {
                problems.push(format!("{}: {p}", out.name));
            }
            let hw = from_smbios(&t);
            let excerpt = format!(
                "SMBIOS {}.{}: type 1 manufacturer {:?}, product {:?}, version {:?}, serial {:?}; \
                 type 0 vendor {:?}, version {:?}",
                t.major,
                t.minor,
                hw.vendor,
                hw.model,
                hw.version,
                hw.serial,
                hw.bios_vendor,
                hw.bios_version
            );
            if hw.is_empty() && hw.bios_vendor.is_none() && hw.bios_version.is_none() {
                problems.push(format!("{}: no BIOS or System structure", out.name));
            }
            return (hw, "smbios", vec![api_evidence(&out, excerpt)], problems);
        }
        Err((report, why)) => {
            if report {
                problems.push(why);
            }
        }
    }
    let reads = [
        (
            "vendor",
            read_reg(ctx, SYSTEM_INFORMATION, "SystemManufacturer"),
        ),
        (
            "model",
            read_reg(ctx, SYSTEM_INFORMATION, "SystemProductName"),
        ),
        (
            "bios_version",
            read_reg(ctx, SYSTEM_INFORMATION, "BIOSVersion"),
        ),
    ];
    let mut hw = attest_proto::facts::Hardware::default();
    let mut evidence = Vec::new();
    for (field, read) in &reads {
        if let Some(why) = read.unread() {
            problems.push(why);
        }
        evidence.extend(read.evidence());
        if let Some(slot) = hw.field_mut(field) {
            *slot = read
                .string()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(clip);
        }
    }
    let source = if evidence.is_empty() {
        "none"
    } else {
        "registry"
    };
    (hw, source, evidence, problems)
}

/// The `hardware` facts of a parsed SMBIOS table.
pub fn from_smbios(t: &Smbios) -> attest_proto::facts::Hardware {
    let system = t.system.clone().unwrap_or_default();
    let bios = t.bios.clone().unwrap_or_default();
    attest_proto::facts::Hardware {
        vendor: system.manufacturer.map(|s| clip(&s)),
        model: system.product.map(|s| clip(&s)),
        version: system.version.map(|s| clip(&s)),
        serial: system.serial.map(|s| clip(&s)),
        bios_vendor: bios.vendor.map(|s| clip(&s)),
        bios_version: bios.version.map(|s| clip(&s)),
    }
}

/// The first instance of an api source, its output; `None` with the problem
/// (reported only when the host answers sources) otherwise.
fn first_instance(
    ctx: &Context<'_>,
    source: &crate::host::sources::Source,
    problems: &mut Vec<String>,
) -> Option<(ApiOutput, Option<Value>)> {
    match ctx.host.api(source) {
        Ok(out) => match instances(&out.value, &out.name) {
            Ok(list) => {
                let first = list.first().cloned();
                Some((out, first))
            }
            Err(e) => {
                problems.push(e);
                None
            }
        },
        Err(e) => {
            if ctx.host.answers_sources() {
                problems.push(e.to_string());
            }
            None
        }
    }
}

/// `security_features`: VBS and Credential Guard (`Win32_DeviceGuard`), LSA
/// protection (`RunAsPPL`), the TPM (`Win32_Tpm`); null for what is not known.
fn security_features(ctx: &Context<'_>, problems: &mut Vec<String>) -> (Value, Vec<Evidence>) {
    let mut evidence = Vec::new();
    let (mut vbs, mut credential_guard) = (Value::Null, Value::Null);
    if let Some((out, instance)) = first_instance(ctx, &WIN_DEVICEGUARD, problems) {
        if let Some(i) = instance {
            vbs = match i
                .get("VirtualizationBasedSecurityStatus")
                .and_then(Value::as_u64)
            {
                Some(0) => json!("off"),
                Some(1) => json!("enabled"),
                Some(2) => json!("running"),
                _ => Value::Null,
            };
            credential_guard = i
                .get("SecurityServicesRunning")
                .and_then(Value::as_array)
                .map_or(Value::Null, |a| {
                    json!(a.iter().any(|s| s.as_u64() == Some(1)))
                });
        }
        evidence.push(api_evidence(
            &out,
            format!("VirtualizationBasedSecurityStatus {vbs}, Credential Guard running {credential_guard}"),
        ));
    }
    let ppl = read_reg(ctx, LSA, "RunAsPPL");
    let (run_as_ppl, lsa_protection) = match &ppl.got {
        Reg::Set(RegistryValue::Dword(v)) => (json!(v), json!(*v == 1 || *v == 2)),
        Reg::Absent => (Value::Null, json!(false)),
        Reg::Set(_) => (Value::Null, Value::Null),
        Reg::Unread(why) => {
            problems.push(why.clone());
            (Value::Null, Value::Null)
        }
    };
    evidence.extend(ppl.evidence());
    let (mut tpm, mut tpm_version) = (Value::Null, Value::Null);
    if let Some((out, instance)) = first_instance(ctx, &WIN_TPM, problems) {
        tpm = json!(instance.is_some());
        tpm_version = instance
            .as_ref()
            .and_then(|i| i.get("SpecVersion"))
            .and_then(Value::as_str)
            .map_or(Value::Null, |s| json!(clip(s)));
        evidence.push(api_evidence(&out, format!("TPM present {tpm}")));
    }
    let directory = match super::directory::directory(ctx) {
        Ok(m) => {
            evidence.extend(m.evidence);
            json!(m.directory.as_str())
        }
        Err(why) => {
            problems.push(why);
            Value::Null
        }
    };
    (
        json!({
            "vbs": vbs,
            "credential_guard": credential_guard,
            "lsa_protection": lsa_protection,
            "run_as_ppl": run_as_ppl,
            "tpm": tpm,
            "tpm_spec_version": tpm_version,
            "directory": directory,
        }),
        evidence,
    )
}

/// Records who and what the Windows host is (status `info`), in the shape of the
/// Linux and macOS results:
///
/// - `hostname`: `HKLM\SYSTEM\CurrentControlSet\Control\ComputerName\ComputerName\ComputerName`
///   (the configured name; `ActiveComputerName` is volatile);
/// - `os`: `id` `windows`, `name` (the family from `ProductType` and
///   `CurrentBuild`: Windows 11 is a client of build 22000 or later; never
///   `ProductName`), `version_id` (`26100.4460`), `build`, `ubr`,
///   `display_version`, `edition_id`, `installation_type`, `product_type`,
///   `pretty_name`;
/// - `kernel`: `10.0.<CurrentBuild>.<UBR>`; `machine_id`:
///   `HKLM\SOFTWARE\Microsoft\Cryptography\MachineGuid`;
/// - `hardware`: the raw SMBIOS table (`win.api.smbios_rsmb`, live or captured;
///   type 1 manufacturer, product, version, serial; type 0 vendor and version),
///   else `HKLM\SYSTEM\CurrentControlSet\Control\SystemInformation`
///   (`SystemManufacturer`, `SystemProductName`, `BIOSVersion`; serial null);
///   `hardware_source` says `smbios` or `registry`;
/// - `cpu`, `memory_bytes`, `interfaces` through `sysinfo` on a live host, null
///   otherwise (`HARDWARE\DESCRIPTION` is volatile);
/// - `security_features`: `vbs` (`off`, `enabled`, `running`) and
///   `credential_guard` (`SecurityServicesRunning` contains 1) from
///   `Win32_DeviceGuard`; `lsa_protection` (`RunAsPPL` 1 or 2; absent is false)
///   and `run_as_ppl`; `tpm` (a `Win32_Tpm` instance exists) and
///   `tpm_spec_version`; `directory` (`none`, `ad`, `entra`, `hybrid`:
///   [`super::directory`]).
///
/// A source that exists but could not be read is listed in `unreadable`.
pub struct WinInventoryHost;

impl Check for WinInventoryHost {
    fn id(&self) -> &'static str {
        "inventory.host"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let id = identity(ctx);
        let mut unreadable: Vec<String> = Vec::new();
        let mut evidence: Vec<Evidence> = Vec::new();
        for read in [&id.hostname, &id.machine_guid]
            .into_iter()
            .chain(id.os_reads.iter())
        {
            unreadable.extend(read.unread());
            evidence.extend(read.evidence());
        }
        let os = id.os.as_ref().ok();
        if let Err(e) = &id.os
            && !unreadable.contains(e)
        {
            unreadable.push(e.clone());
        }
        let (hardware, source, hw_evidence, hw_problems) = hardware(ctx);
        evidence.extend(hw_evidence);
        unreadable.extend(hw_problems);
        let (features, feature_evidence) = security_features(ctx, &mut unreadable);
        evidence.extend(feature_evidence);

        let mut hw = if ctx.host.is_live() && !ctx.host.is_replay() {
            crate::checks::linux::inventory::live::hardware()
        } else {
            HostHardware {
                source,
                cpu: None,
                memory_bytes: None,
                interfaces: None,
                evidence: Vec::new(),
            }
        };
        hw.source = source;
        let kernel = os.map(kernel);
        let pretty = os.map(pretty_name);
        let hostname = id.hostname();
        let summary = summary(
            hostname,
            pretty.as_deref(),
            kernel.as_deref(),
            hardware.vendor.as_deref(),
            hardware.model.as_deref(),
            &hw,
        );
        machine_facts(
            CheckResult::new(self.id(), Status::Info, summary),
            kernel.as_deref(),
            id.machine_id(),
            &hardware,
            &hw,
        )
        .fact("hostname", hostname)
        .fact(
            "hostname_source",
            hostname.map(|_| format!("HKLM\\{COMPUTER_NAME}\\ComputerName")),
        )
        .fact(
            "os",
            os.map(|o| {
                json!({
                    "id": "windows",
                    "name": o.family(),
                    "version_id": o.full_build(),
                    "build": o.build,
                    "ubr": o.ubr,
                    "display_version": o.display_version,
                    "edition_id": o.edition_id,
                    "installation_type": o.installation_type,
                    "product_type": o.product_type,
                    "pretty_name": pretty_name(o),
                })
            }),
        )
        .fact("security_features", features)
        .fact("unreadable", unreadable)
        .evidences(evidence)
    }
}

/// The most uninstall entries listed; past it the list is cut and `capped` says
/// so (the macOS inventory's bound).
pub const MAX_ITEMS: usize = 20_000;

/// Why an uninstall entry is left out (what Settings' "Installed apps" hides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeftOut {
    NoDisplayName,
    SystemComponent,
    ParentKeyName,
    Update,
}

impl LeftOut {
    fn key(self) -> &'static str {
        match self {
            LeftOut::NoDisplayName => "no_display_name",
            LeftOut::SystemComponent => "system_component",
            LeftOut::ParentKeyName => "parent_key_name",
            LeftOut::Update => "update",
        }
    }
}

/// One uninstall entry from its values: the package (`DisplayName`,
/// `DisplayVersion`, the given architecture), or why it is left out: no
/// non-blank `DisplayName`, `SystemComponent` = 1, a `ParentKeyName` (a patch or
/// component of another entry), `ReleaseType` `Update`, `Hotfix` or `Security
/// Update` (compared case-insensitively).
pub fn uninstall_entry(
    values: &[(String, RegistryValue)],
    architecture: &str,
) -> Result<Package, LeftOut> {
    let get = |name: &str| {
        values
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let text = |name: &str| match get(name) {
        Some(RegistryValue::String(s)) => Some(s.trim().to_owned()),
        _ => None,
    };
    if matches!(get("SystemComponent"), Some(RegistryValue::Dword(1))) {
        return Err(LeftOut::SystemComponent);
    }
    if get("ParentKeyName").is_some() {
        return Err(LeftOut::ParentKeyName);
    }
    if let Some(kind) = text("ReleaseType")
        && ["Update", "Hotfix", "Security Update"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(&kind))
    {
        return Err(LeftOut::Update);
    }
    let name = text("DisplayName")
        .filter(|n| !n.is_empty())
        .ok_or(LeftOut::NoDisplayName)?;
    Ok(Package {
        name: clip(&name),
        version: clip(&text("DisplayVersion").unwrap_or_default()),
        architecture: architecture.to_owned(),
    })
}

/// The profile directory of a `ProfileImagePath` (`C:\Users\alice` → `alice`).
pub fn profile_dir(path: &str) -> Option<String> {
    let name = path
        .trim()
        .trim_end_matches(['\\', '/'])
        .rsplit(['\\', '/'])
        .next()?;
    (!name.is_empty() && name != "." && name != ".." && !name.contains(':'))
        .then(|| name.to_owned())
}

/// The profile directories of the people who have a profile (SIDs `S-1-5-21-…`,
/// and `S-1-12-1-…` for Entra ID), in `ProfileList` order, without repeats.
fn user_profiles(ctx: &Context<'_>, unreadable: &mut Vec<String>) -> Vec<String> {
    let sids = match ctx.host.registry_subkeys(PROFILE_LIST) {
        Ok(s) => s,
        Err(SourceError::NotInstalled { .. }) => return Vec::new(),
        Err(e) => {
            unreadable.push(e.to_string());
            return Vec::new();
        }
    };
    let mut dirs: Vec<String> = Vec::new();
    for sid in sids {
        let upper = sid.to_ascii_uppercase();
        if !(upper.starts_with("S-1-5-21-") || upper.starts_with("S-1-12-1-")) {
            continue;
        }
        let read = read_reg(ctx, &format!("{PROFILE_LIST}\\{sid}"), "ProfileImagePath");
        if let Some(why) = read.unread() {
            unreadable.push(why);
        }
        if let Some(dir) = read.string().and_then(profile_dir)
            && !dirs.iter().any(|d| d.eq_ignore_ascii_case(&dir))
        {
            dirs.push(dir);
        }
    }
    dirs
}

/// The list being built.
struct Listing {
    max_items: usize,
    packages: Vec<Package>,
    left_out: [usize; 4],
    by_source: Vec<(String, usize)>,
    capped: Option<String>,
    unreadable: Vec<String>,
}

impl Listing {
    /// The entries of one uninstall key; `Err` when the key exists but cannot be
    /// listed (a missing key is no entries).
    fn key(
        &mut self,
        ctx: &Context<'_>,
        hkey: &Hkey,
        key: &str,
        architecture: &str,
    ) -> Result<(), SourceError> {
        let names = match ctx.host.registry_subkeys_of(hkey, key) {
            Ok(n) => n,
            Err(SourceError::NotInstalled { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut listed = 0usize;
        for name in names {
            if self.packages.len() >= self.max_items {
                self.capped = Some(format!(
                    "the cap of {} uninstall entries was reached",
                    self.max_items
                ));
                break;
            }
            let sub = format!("{key}\\{name}");
            match ctx.host.registry_values_of(hkey, &sub) {
                Ok(values) => match uninstall_entry(&values, architecture) {
                    Ok(p) => {
                        self.packages.push(p);
                        listed += 1;
                    }
                    Err(why) => self.left_out[why as usize] += 1,
                },
                Err(SourceError::NotInstalled { .. }) => {}
                Err(e) => self.unreadable.push(e.to_string()),
            }
        }
        self.by_source.push((hkey.name(key), listed));
        Ok(())
    }
}

/// Lists installed programs (status `info`), `source: windows`, as "Installed
/// apps" shows them:
///
/// - `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\*`, architecture
///   `x64` on 64-bit Windows, else `x86`. 64-bit is decided by
///   `HKLM\SOFTWARE\WOW6432Node` existing (it exists only where 32-bit programs
///   run beside native ones; the catalogue's rule, so an ARM64 machine's native
///   entries are labelled `x64` too);
/// - `HKLM\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\*`
///   (`x86`);
/// - each person's `Software\Microsoft\Windows\CurrentVersion\Uninstall\*`
///   (`user`): the profiles of `ProfileList` with SIDs `S-1-5-21-…` or
///   `S-1-12-1-…`, their hive `Users/<profile directory>/NTUSER.DAT` offline.
///   Live, other users' hives are not read yet: they are in `unreadable`.
///
/// NAME = `DisplayName`, VERSION = `DisplayVersion`; left out ([`uninstall_entry`]):
/// no `DisplayName`, `SystemComponent` = 1, a `ParentKeyName`, `ReleaseType`
/// `Update`/`Hotfix`/`Security Update` (counted in `left_out`). Installed KBs and
/// MSIX/Store packages are not listed. At most [`MAX_ITEMS`] entries (`capped`).
/// The SHA-256 is the Linux inventory's. unknown: neither machine uninstall key
/// can be read.
///
/// Facts: `source`, `count`, `sha256`, `packages`, `entries` (listed per key),
/// `left_out` (per reason), `users` (profiles read), `capped`, `unreadable`.
pub struct WinInventorySoftware;

impl Check for WinInventorySoftware {
    fn id(&self) -> &'static str {
        "inventory.software"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        self.list(ctx, MAX_ITEMS)
    }
}

impl WinInventorySoftware {
    fn list(&self, ctx: &Context<'_>, max_items: usize) -> CheckResult {
        let mut list = Listing {
            max_items,
            packages: Vec::new(),
            left_out: [0; 4],
            by_source: Vec::new(),
            capped: None,
            unreadable: Vec::new(),
        };
        let wow64 = match ctx.host.registry_subkeys(WOW64_NODE) {
            Ok(_) => Some(true),
            Err(SourceError::NotInstalled { .. }) => Some(false),
            Err(e) => {
                list.unreadable.push(e.to_string());
                None
            }
        };
        let native = match wow64 {
            Some(true) => "x64",
            Some(false) => "x86",
            None => "",
        };
        let machine = list.key(ctx, &Hkey::Machine, UNINSTALL, native);
        let wow = if wow64 == Some(false) {
            Ok(())
        } else {
            list.key(ctx, &Hkey::Machine, UNINSTALL_WOW64, "x86")
        };
        match (&machine, &wow) {
            (Err(a), Err(b)) => {
                return unknown(self.id(), format!("no uninstall key can be read: {a}; {b}"));
            }
            (Err(e), _) | (_, Err(e)) => list.unreadable.push(e.to_string()),
            _ => {}
        }
        let users = user_profiles(ctx, &mut list.unreadable);
        for user in &users {
            if list.capped.is_some() {
                break;
            }
            if let Err(e) = list.key(ctx, &Hkey::User(user.clone()), UNINSTALL_USER, "user") {
                list.unreadable.push(e.to_string());
            }
        }
        sort(&mut list.packages);
        let digest = digest(&list.packages);
        let left: usize = list.left_out.iter().sum();
        let mut summary = format!(
            "{} programs are installed ({} uninstall entries left out as components, updates \
             or unnamed); the sorted list hashes to {digest}",
            list.packages.len(),
            left
        );
        if let Some(why) = &list.capped {
            summary.push_str(&format!("; the list is cut: {why}"));
        }
        let keys: Vec<&str> = list.by_source.iter().map(|(k, _)| k.as_str()).collect();
        let listing = ApiOutput {
            name: format!("registry uninstall entries: {}", keys.join(", ")),
            value: json!(list.packages),
        };
        let evidence = api_evidence(
            &listing,
            list.by_source
                .iter()
                .map(|(k, n)| format!("{k}: {n} listed"))
                .collect::<Vec<_>>()
                .join("\n"),
        );
        let left_out: serde_json::Map<String, Value> = [
            LeftOut::NoDisplayName,
            LeftOut::SystemComponent,
            LeftOut::ParentKeyName,
            LeftOut::Update,
        ]
        .iter()
        .map(|w| (w.key().to_owned(), json!(list.left_out[*w as usize])))
        .collect();
        let entries: serde_json::Map<String, Value> = list
            .by_source
            .iter()
            .map(|(k, n)| (k.clone(), json!(n)))
            .collect();
        CheckResult::new(self.id(), Status::Info, summary)
            .fact("source", "windows")
            .fact(attest_proto::facts::SOFTWARE_COUNT, list.packages.len())
            .fact("sha256", &digest)
            .fact("packages", &list.packages)
            .fact("entries", entries)
            .fact("left_out", left_out)
            .fact("users", &users)
            .fact("capped", &list.capped)
            .fact("unreadable", &list.unreadable)
            .evidence(evidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Thresholds;
    use crate::checks::windows::malware::tests::windows;
    use crate::checks::windows::smbios::testdata;
    use crate::host::fake::{FakeHost, default_now};
    use base64::Engine as _;

    const GUID: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";

    fn sz(s: &str) -> RegistryValue {
        RegistryValue::String(s.to_owned())
    }

    /// Windows 11 24H2 Enterprise as its registry shows it offline (and a
    /// `ProductName` that says Windows 10, as on every Windows 11).
    fn win11() -> FakeHost {
        windows("WinNT", "26100", "Enterprise")
            .reg_value(
                "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion",
                "ProductName",
                sz("Windows 10 Enterprise"),
            )
            .reg_value(COMPUTER_NAME, "ComputerName", sz("LAPTOP-7Q2"))
            .reg_value(CRYPTOGRAPHY, "MachineGuid", sz(GUID))
            .reg_value(SYSTEM_INFORMATION, "SystemManufacturer", sz("LENOVO"))
            .reg_value(SYSTEM_INFORMATION, "SystemProductName", sz("20XWCTO1WW"))
            .reg_value(SYSTEM_INFORMATION, "BIOSVersion", sz("N32ET86W (1.62 )"))
            .reg_value(LSA, "RunAsPPL", RegistryValue::Dword(2))
    }

    fn rsmb(bytes: &[u8]) -> Value {
        json!({"base64": base64::engine::general_purpose::STANDARD.encode(bytes)})
    }

    #[test]
    fn offline_windows_host_facts_from_the_registry() {
        let r = win11().run(&WinInventoryHost);
        assert_eq!(r.status, Status::Info, "{r:?}");
        let f = &r.facts;
        assert_eq!(f["hostname"], json!("LAPTOP-7Q2"));
        assert_eq!(
            f["hostname_source"],
            json!(
                "HKLM\\SYSTEM\\CurrentControlSet\\Control\\ComputerName\\ComputerName\\ComputerName"
            )
        );
        assert_eq!(f["machine_id"], json!(GUID));
        assert_eq!(f["kernel"], json!("10.0.26100.4460"));
        assert_eq!(f["os"]["id"], json!("windows"));
        // ProductName says Windows 10; the build decides.
        assert_eq!(f["os"]["name"], json!("Windows 11"));
        assert_eq!(f["os"]["version_id"], json!("26100.4460"));
        assert_eq!(f["os"]["edition_id"], json!("Enterprise"));
        assert_eq!(f["os"]["product_type"], json!("WinNT"));
        assert_eq!(
            f["os"]["pretty_name"],
            json!("Windows 11 24H2 (build 26100.4460, Enterprise)")
        );
        assert_eq!(
            f["hardware"],
            json!({"vendor": "LENOVO", "model": "20XWCTO1WW", "version": null, "serial": null,
                "bios_vendor": null, "bios_version": "N32ET86W (1.62 )"})
        );
        assert_eq!(f["hardware_source"], json!("registry"));
        assert_eq!(f["cpu"], Value::Null);
        assert_eq!(f["memory_bytes"], Value::Null);
        assert_eq!(f["interfaces"], Value::Null);
        assert_eq!(
            f["security_features"],
            json!({"vbs": null, "credential_guard": null, "lsa_protection": true,
                "run_as_ppl": 2, "tpm": null, "tpm_spec_version": null, "directory": "none"})
        );
        // Offline, the live-only sources are not "unreadable".
        assert_eq!(f["unreadable"], json!([]));
        assert!(
            r.summary.starts_with("LAPTOP-7Q2: Windows 11 24H2"),
            "{}",
            r.summary
        );
        assert!(
            r.summary.contains("kernel 10.0.26100.4460"),
            "{}",
            r.summary
        );
        // The same keys as on Linux and macOS.
        for key in [
            "hostname",
            "hostname_source",
            "os",
            "kernel",
            "machine_id",
            "hardware",
            "cpu",
            "memory_bytes",
            "interfaces",
            "hardware_source",
            "unreadable",
            "security_features",
        ] {
            assert!(f.get(key).is_some(), "{key} missing: {f:?}");
        }
    }

    #[test]
    fn captured_smbios_device_guard_and_tpm_decide_hardware_and_features() {
        let r = win11()
            .api(&WIN_SMBIOS_RSMB, rsmb(&testdata::laptop()))
            .api(
                &WIN_DEVICEGUARD,
                json!({"instances": [{"SecurityServicesRunning": [1, 2],
                    "VirtualizationBasedSecurityStatus": 2}]}),
            )
            .api(
                &WIN_TPM,
                json!({"instances": [{"IsEnabled_InitialValue": true, "SpecVersion": "2.0, 0, 1.59"}]}),
            )
            .run(&WinInventoryHost);
        let f = &r.facts;
        assert_eq!(
            f["hardware"],
            json!({"vendor": "LENOVO", "model": "20XWCTO1WW", "version": "ThinkPad X1 Carbon Gen 9",
                "serial": "PF2ABCDE", "bios_vendor": "LENOVO", "bios_version": "N32ET86W (1.62 )"})
        );
        assert_eq!(f["hardware_source"], json!("smbios"));
        assert_eq!(f["security_features"]["vbs"], json!("running"));
        assert_eq!(f["security_features"]["credential_guard"], json!(true));
        assert_eq!(f["security_features"]["tpm"], json!(true));
        // No join state on this host: not read, and said so.
        assert!(f["security_features"].get("directory").is_some());
        assert_eq!(
            f["security_features"]["tpm_spec_version"],
            json!("2.0, 0, 1.59")
        );
        // Replaying, an uncaptured source is named.
        assert_eq!(f["unreadable"], json!([]));
        let text = serde_json::to_string(&r.evidence).unwrap();
        assert!(text.contains("GetSystemFirmwareTable"), "{text}");

        // No TPM instance, VBS off, RunAsPPL absent.
        let r = windows("WinNT", "19045", "Professional")
            .api(
                &WIN_DEVICEGUARD,
                json!({"instances": [{"SecurityServicesRunning": [0],
                "VirtualizationBasedSecurityStatus": 0}]}),
            )
            .api(&WIN_TPM, json!({"instances": []}))
            .run(&WinInventoryHost);
        let s = &r.facts["security_features"];
        assert_eq!(s["vbs"], json!("off"));
        assert_eq!(s["credential_guard"], json!(false));
        assert_eq!(s["tpm"], json!(false));
        assert_eq!(s["lsa_protection"], json!(false));
        assert_eq!(s["run_as_ppl"], Value::Null);
        assert_eq!(r.facts["os"]["name"], json!("Windows 10"));
        // Replaying without an SMBIOS capture: named, and the registry is used.
        assert!(r.facts["unreadable"].to_string().contains("not captured"));
    }

    #[test]
    fn a_broken_smbios_capture_falls_back_to_the_registry() {
        let r = win11()
            .api(&WIN_SMBIOS_RSMB, json!({"base64": "not base64!"}))
            .run(&WinInventoryHost);
        assert_eq!(r.facts["hardware_source"], json!("registry"));
        assert_eq!(r.facts["hardware"]["vendor"], json!("LENOVO"));
        assert!(r.facts["unreadable"].to_string().contains("not base64"));
        // A table cut short keeps what came before.
        let mut cut = testdata::raw(3, 0, &[testdata::bios("AMI", "1.0", "2024")]);
        cut.extend([1, 0x30, 0, 0]);
        let n = u32::try_from(cut.len() - 8).unwrap();
        cut[4..8].copy_from_slice(&n.to_le_bytes());
        let r = win11()
            .api(&WIN_SMBIOS_RSMB, rsmb(&cut))
            .run(&WinInventoryHost);
        assert_eq!(r.facts["hardware_source"], json!("smbios"));
        assert_eq!(r.facts["hardware"]["bios_vendor"], json!("AMI"));
        assert!(r.facts["unreadable"].to_string().contains("runs past"));
    }

    #[test]
    fn an_unreadable_registry_is_recorded_not_fatal() {
        let r = FakeHost::windows()
            .reg_error(COMPUTER_NAME, "access denied")
            .run(&WinInventoryHost);
        assert_eq!(r.status, Status::Info, "{r:?}");
        assert_eq!(r.facts["hostname"], Value::Null);
        assert_eq!(r.facts["os"], Value::Null);
        assert_eq!(r.facts["hardware_source"], json!("none"));
        assert!(r.facts["unreadable"].to_string().contains("access denied"));
        assert!(r.summary.starts_with("Unnamed host"), "{}", r.summary);
    }

    #[test]
    fn the_host_block_comes_from_the_same_identity() {
        let t = win11();
        let host = t.host();
        let th = Thresholds::default();
        let ctx = Context::new(&host, default_now(), &th);
        let info = host_info(&ctx);
        assert_eq!(info.hostname, "LAPTOP-7Q2");
        assert_eq!(info.machine_id, GUID);
        assert_eq!(info.os.id, "windows");
        assert_eq!(info.os.version_id, "26100.4460");
        assert_eq!(
            info.os.pretty_name,
            "Windows 11 24H2 (build 26100.4460, Enterprise)"
        );
        assert_eq!(info.kernel, "10.0.26100.4460");
        let info = host_info(&Context::new(
            &FakeHost::windows().host(),
            default_now(),
            &th,
        ));
        assert_eq!(info.hostname, "");
        assert_eq!(info.os.pretty_name, "Windows");
        let server = windows("ServerNT", "17763", "ServerStandard").reg_value(
            "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion",
            "UBR",
            RegistryValue::Dword(6414),
        );
        let host = server.host();
        let info = host_info(&Context::new(&host, default_now(), &th));
        assert_eq!(info.kernel, "10.0.17763.6414");
        assert!(info.os.pretty_name.starts_with("Windows Server"));
    }

    fn entry(host: FakeHost, key: &str, sub: &str, values: &[(&str, RegistryValue)]) -> FakeHost {
        let mut host = host.reg_key(&format!("{key}\\{sub}"));
        for (n, v) in values {
            host = host.reg_value(&format!("{key}\\{sub}"), n, v.clone());
        }
        host
    }

    fn user_entry(host: FakeHost, profile: &str, sub: &str, name: &str, version: &str) -> FakeHost {
        let key = format!("{UNINSTALL_USER}\\{sub}");
        host.reg_user_value(profile, &key, "DisplayName", sz(name))
            .reg_user_value(profile, &key, "DisplayVersion", sz(version))
    }

    fn profile(host: FakeHost, sid: &str, path: &str) -> FakeHost {
        host.reg_value(
            &format!("{PROFILE_LIST}\\{sid}"),
            "ProfileImagePath",
            sz(path),
        )
    }

    fn machine() -> FakeHost {
        let h = FakeHost::windows();
        let h = entry(
            h,
            UNINSTALL,
            "{7-ZIP}",
            &[
                ("DisplayName", sz("7-Zip 24.08 (x64)")),
                ("DisplayVersion", sz("24.08")),
            ],
        );
        let h = entry(h, UNINSTALL, "NoName", &[("DisplayVersion", sz("1.0"))]);
        let h = entry(h, UNINSTALL, "Blank", &[("DisplayName", sz("   "))]);
        let h = entry(
            h,
            UNINSTALL,
            "Component",
            &[
                ("DisplayName", sz("VC Runtime Minimum")),
                ("SystemComponent", RegistryValue::Dword(1)),
            ],
        );
        let h = entry(
            h,
            UNINSTALL,
            "Visible",
            &[
                ("DisplayName", sz("Visible Tool")),
                ("SystemComponent", RegistryValue::Dword(0)),
            ],
        );
        let h = entry(
            h,
            UNINSTALL,
            "Patch",
            &[
                ("DisplayName", sz("Office Patch")),
                ("ParentKeyName", sz("Office16")),
            ],
        );
        let h = entry(
            h,
            UNINSTALL,
            "KB1",
            &[
                ("DisplayName", sz("Update for X (KB5046617)")),
                ("ReleaseType", sz("Update")),
            ],
        );
        let h = entry(
            h,
            UNINSTALL,
            "KB2",
            &[
                ("DisplayName", sz("Hotfix for X")),
                ("ReleaseType", sz("hotfix")),
            ],
        );
        let h = entry(
            h,
            UNINSTALL,
            "KB3",
            &[
                ("DisplayName", sz("Security Update for X (KB5046613)")),
                ("ReleaseType", sz("Security Update")),
            ],
        );
        let h = entry(
            h,
            UNINSTALL,
            "SP",
            &[
                ("DisplayName", sz("Service Pack 1")),
                ("ReleaseType", sz("ServicePack")),
            ],
        );
        let h = entry(
            h,
            UNINSTALL_WOW64,
            "Chrome",
            &[
                ("DisplayName", sz("Google Chrome")),
                ("DisplayVersion", sz("131.0.6778.86")),
            ],
        );
        let h = profile(
            h,
            "S-1-5-18",
            "%systemroot%\\system32\\config\\systemprofile",
        );
        let h = profile(h, "S-1-5-21-1-2-3-1001", "C:\\Users\\alice");
        let h = profile(h, "S-1-12-1-11-22-33-44", "C:\\Users\\bob.CONTOSO\\");
        let h = user_entry(h, "alice", "Zoom", "Zoom Workplace", "6.3.0");
        user_entry(
            h,
            "bob.CONTOSO",
            "Code",
            "Microsoft Visual Studio Code (User)",
            "1.95.3",
        )
    }

    #[test]
    fn installed_apps_from_three_keys_without_components_or_updates() {
        let r = machine().run(&WinInventorySoftware);
        assert_eq!(r.status, Status::Info, "{r:?}");
        let f = &r.facts;
        assert_eq!(f["source"], json!("windows"));
        assert_eq!(
            f["packages"],
            json!([
                {"name": "7-Zip 24.08 (x64)", "version": "24.08", "architecture": "x64"},
                {"name": "Google Chrome", "version": "131.0.6778.86", "architecture": "x86"},
                {"name": "Microsoft Visual Studio Code (User)", "version": "1.95.3", "architecture": "user"},
                {"name": "Service Pack 1", "version": "", "architecture": "x64"},
                {"name": "Visible Tool", "version": "", "architecture": "x64"},
                {"name": "Zoom Workplace", "version": "6.3.0", "architecture": "user"},
            ])
        );
        assert_eq!(f["count"], json!(6));
        assert_eq!(
            f["left_out"],
            json!({"no_display_name": 2, "system_component": 1, "parent_key_name": 1, "update": 3})
        );
        // ProfileList order (the hive's: by SID); S-1-5-18 is no person.
        assert_eq!(f["users"], json!(["bob.CONTOSO", "alice"]));
        assert_eq!(f["entries"][format!("HKLM\\{UNINSTALL}")], json!(3));
        assert_eq!(f["entries"][format!("HKLM\\{UNINSTALL_WOW64}")], json!(1));
        assert_eq!(
            f["entries"][format!("HKU\\alice\\{UNINSTALL_USER}")],
            json!(1)
        );
        let packages: Vec<Package> = serde_json::from_value::<Vec<Value>>(f["packages"].clone())
            .unwrap()
            .iter()
            .map(|p| Package {
                name: p["name"].as_str().unwrap().into(),
                version: p["version"].as_str().unwrap().into(),
                architecture: p["architecture"].as_str().unwrap().into(),
            })
            .collect();
        assert_eq!(f["sha256"], json!(digest(&packages)));
        assert_eq!(f["capped"], Value::Null);
        assert_eq!(f["unreadable"], json!([]));
        let listed = serde_json::to_string(&f["packages"]).unwrap();
        assert!(!listed.contains("KB50"), "no KBs: {listed}");
    }

    /// Only `DisplayName` and `DisplayVersion` are recorded: an uninstall
    /// command line that carries a password never reaches a result.
    #[test]
    fn no_other_uninstall_value_reaches_the_result() {
        let secret = "Pa55w0rd-hunter2";
        let h = entry(
            machine(),
            UNINSTALL,
            "Agent",
            &[
                ("DisplayName", sz("Some Agent")),
                (
                    "UninstallString",
                    sz(&format!("msiexec /x {{GUID}} UNINSTALL_PASSWORD={secret}")),
                ),
                ("QuietUninstallString", sz(secret)),
            ],
        );
        let r = h.run(&WinInventorySoftware);
        assert_eq!(r.facts["count"], json!(7));
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains(secret), "{text}");
    }

    #[test]
    fn each_exclusion_alone() {
        let one = |values: &[(&str, RegistryValue)]| {
            let owned: Vec<(String, RegistryValue)> = values
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.clone()))
                .collect();
            uninstall_entry(&owned, "x64")
        };
        let name = ("DisplayName", sz("App"));
        assert_eq!(
            one(std::slice::from_ref(&name)).map(|p| p.name),
            Ok("App".into())
        );
        assert_eq!(one(&[]), Err(LeftOut::NoDisplayName));
        assert_eq!(
            one(&[("DisplayName", RegistryValue::Dword(1))]),
            Err(LeftOut::NoDisplayName)
        );
        assert_eq!(
            one(&[name.clone(), ("SystemComponent", RegistryValue::Dword(1))]),
            Err(LeftOut::SystemComponent)
        );
        assert!(one(&[name.clone(), ("SystemComponent", RegistryValue::Dword(0))]).is_ok());
        assert_eq!(
            one(&[name.clone(), ("ParentKeyName", sz("OperatingSystem"))]),
            Err(LeftOut::ParentKeyName)
        );
        for kind in ["Update", "Hotfix", "Security Update", "security update"] {
            assert_eq!(
                one(&[name.clone(), ("ReleaseType", sz(kind))]),
                Err(LeftOut::Update),
                "{kind}"
            );
        }
        assert!(one(&[name.clone(), ("ReleaseType", sz("Service Pack"))]).is_ok());
        // Value names compare case-insensitively, as the registry's do.
        assert_eq!(
            one(&[
                ("displayname", sz("x")),
                ("systemcomponent", RegistryValue::Dword(1))
            ]),
            Err(LeftOut::SystemComponent)
        );
    }

    #[test]
    fn profile_directories_from_profile_image_paths() {
        assert_eq!(profile_dir("C:\\Users\\alice").as_deref(), Some("alice"));
        assert_eq!(profile_dir("C:\\Users\\bob\\").as_deref(), Some("bob"));
        assert_eq!(profile_dir("D:/Profiles/carol").as_deref(), Some("carol"));
        assert_eq!(profile_dir("C:"), None);
        assert_eq!(profile_dir("C:\\Users\\.."), None);
        assert_eq!(profile_dir(""), None);
    }

    #[test]
    fn thirty_two_bit_windows_labels_its_entries_x86() {
        let h = entry(
            FakeHost::windows(),
            UNINSTALL,
            "A",
            &[("DisplayName", sz("A"))],
        );
        let r = h.run(&WinInventorySoftware);
        assert_eq!(r.facts["packages"][0]["architecture"], json!("x86"));
        assert!(
            r.facts["entries"]
                .get(format!("HKLM\\{UNINSTALL_WOW64}"))
                .is_none()
        );
    }

    #[test]
    fn the_list_is_capped_and_unreadable_keys_are_named() {
        let t = machine();
        let host = t.host();
        let th = Thresholds::default();
        let ctx = Context::new(&host, default_now(), &th);
        let r = WinInventorySoftware.list(&ctx, 2);
        assert_eq!(r.facts["count"], json!(2));
        assert!(r.facts["capped"].as_str().unwrap().contains("cap of 2"));
        assert!(r.summary.contains("the list is cut"));

        let r = machine()
            .reg_error(UNINSTALL_WOW64, "access denied")
            .run(&WinInventorySoftware);
        assert_eq!(r.status, Status::Info);
        assert!(r.facts["unreadable"].to_string().contains("access denied"));

        let r = machine()
            .reg_error(UNINSTALL_WOW64, "access denied")
            .reg_error(UNINSTALL, "access denied")
            .run(&WinInventorySoftware);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.unwrap().contains("no uninstall key"));
    }

    /// A live host reads the same keys (the fake's registry stands in for the
    /// live one).
    #[test]
    fn a_live_host_lists_the_same_entries() {
        let r = machine().live().run(&WinInventorySoftware);
        assert_eq!(r.status, Status::Info);
        assert_eq!(
            r.facts["count"],
            json!(6),
            "the fake's registry answers live too"
        );
    }
}
