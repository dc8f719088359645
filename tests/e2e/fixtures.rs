//! The host fixtures (`tests/fixtures/hosts/<name>/`, see its README): the real
//! `attest-agent collect --root` against each host root, held to the verdicts in the
//! host's `expected.json`, which were derived by hand from `checks.md`.
//!
//! A *variant* is a directory whose `expected.json` names a `base` host: its root is
//! the base host's files with the variant's own files laid over them (files and
//! symlinks replace what the base has at that path), built afresh in the target
//! directory before the first collection.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_json::Value;

use crate::support::{agent, check_ids, hosts_dir};

const PASS: &str = "pass";
const FAIL: &str = "fail";
const UNKNOWN: &str = "unknown";
const NA: &str = "not_applicable";
const INFO: &str = "info";

/// The verdicts `checks.md` defines for each check on Linux: the Linux hosts as a
/// whole must reach every one of them somewhere.
const LINUX_VERDICTS: [(&str, &[&str]); 33] = [
    ("disk.root_encrypted", &[PASS, FAIL, UNKNOWN]),
    ("disk.fixed_volumes_encrypted", &[PASS, FAIL, UNKNOWN]),
    ("disk.swap_encrypted", &[PASS, FAIL, UNKNOWN]),
    ("disk.recovery_key_escrow", &[NA]),
    ("patch.os_supported", &[PASS, FAIL, UNKNOWN]),
    ("patch.security_updates_pending", &[PASS, FAIL, UNKNOWN]),
    ("patch.index_fresh", &[PASS, FAIL, UNKNOWN]),
    ("patch.auto_updates", &[PASS, FAIL, UNKNOWN]),
    ("patch.reboot_pending", &[PASS, FAIL, UNKNOWN]),
    ("accounts.no_empty_passwords", &[PASS, FAIL, UNKNOWN]),
    ("accounts.uid0_only_root", &[PASS, FAIL, UNKNOWN]),
    ("accounts.password_max_age", &[PASS, FAIL, UNKNOWN]),
    ("accounts.password_min_length", &[PASS, FAIL, UNKNOWN]),
    ("accounts.lockout", &[PASS, FAIL, UNKNOWN]),
    ("accounts.ssh_root_login", &[PASS, FAIL, NA]),
    ("accounts.ssh_password_auth", &[PASS, FAIL, NA]),
    ("accounts.sudo_nopasswd", &[PASS, FAIL, NA]),
    ("accounts.privileged_users", &[INFO]),
    ("accounts.guest_disabled", &[NA]),
    ("accounts.auto_login_disabled", &[PASS, FAIL, NA]),
    ("accounts.laps", &[NA]),
    ("system.time_sync", &[PASS, FAIL]),
    ("system.audit_logging", &[PASS, FAIL]),
    ("system.firewall", &[PASS, FAIL]),
    ("system.screen_lock", &[PASS, FAIL, NA]),
    ("system.secure_boot", &[PASS, FAIL, UNKNOWN]),
    ("system.sip", &[NA]),
    ("system.gatekeeper", &[NA]),
    ("system.uac", &[NA]),
    ("system.smb1_disabled", &[NA]),
    ("malware.protection", &[PASS, FAIL]),
    ("inventory.host", &[INFO]),
    ("inventory.software", &[INFO, UNKNOWN]),
];

/// The verdicts the macOS/Windows catalogue (parts 1 and 2) defines for each check
/// on macOS: the macOS hosts as a whole must reach every one of them somewhere.
/// `unknown` is listed where the catalogue names a case (offline, a source that
/// cannot be read, two sources that disagree); `accounts.privileged_users` reads
/// the root-only local directory, which can be unreadable like every dslocal check.
/// The password policy checks' `not_applicable` ("no enabled local human account")
/// is left out: by the catalogue's own rule every Mac has one, `root`, which is in
/// `admin` and whose shell is `/bin/sh`, so no real local directory reaches it.
const MACOS_VERDICTS: [(&str, &[&str]); 33] = [
    ("disk.root_encrypted", &[PASS, FAIL, UNKNOWN]),
    ("disk.fixed_volumes_encrypted", &[PASS, FAIL, UNKNOWN]),
    ("disk.swap_encrypted", &[PASS, FAIL, UNKNOWN]),
    ("disk.recovery_key_escrow", &[PASS, FAIL, UNKNOWN, NA]),
    ("patch.os_supported", &[PASS, FAIL, UNKNOWN]),
    ("patch.security_updates_pending", &[PASS, FAIL, UNKNOWN]),
    ("patch.index_fresh", &[PASS, FAIL, UNKNOWN]),
    ("patch.auto_updates", &[PASS, FAIL]),
    ("patch.reboot_pending", &[NA]),
    ("accounts.no_empty_passwords", &[PASS, FAIL, UNKNOWN]),
    ("accounts.uid0_only_root", &[PASS, FAIL, UNKNOWN]),
    ("accounts.password_max_age", &[PASS, FAIL, UNKNOWN]),
    ("accounts.password_min_length", &[PASS, FAIL, UNKNOWN]),
    ("accounts.lockout", &[PASS, FAIL, UNKNOWN]),
    ("accounts.ssh_root_login", &[PASS, FAIL, NA]),
    ("accounts.ssh_password_auth", &[PASS, FAIL, NA]),
    ("accounts.sudo_nopasswd", &[PASS, FAIL]),
    ("accounts.privileged_users", &[INFO, UNKNOWN]),
    ("accounts.guest_disabled", &[PASS, FAIL]),
    ("accounts.auto_login_disabled", &[PASS, FAIL, UNKNOWN]),
    ("accounts.laps", &[NA]),
    ("system.time_sync", &[PASS, FAIL, UNKNOWN]),
    ("system.audit_logging", &[PASS, FAIL, UNKNOWN]),
    ("system.firewall", &[PASS, FAIL, UNKNOWN]),
    ("system.screen_lock", &[PASS, FAIL, UNKNOWN]),
    ("system.secure_boot", &[PASS, FAIL, UNKNOWN]),
    ("system.sip", &[PASS, FAIL, UNKNOWN]),
    ("system.gatekeeper", &[PASS, FAIL, UNKNOWN]),
    ("system.uac", &[NA]),
    ("system.smb1_disabled", &[NA]),
    ("malware.protection", &[PASS, FAIL, UNKNOWN]),
    ("inventory.host", &[INFO]),
    ("inventory.software", &[INFO, UNKNOWN]),
];

/// The verdicts the macOS/Windows catalogue (parts 1 and 3) defines for each check
/// on Windows: the Windows hosts as a whole must reach every one of them.
/// `patch.reboot_pending` decides only from volatile keys, which exist on the live
/// host alone (never in a hive file or a capture): every fixture answers it
/// `unknown`, and its pass and fail are the unit tests' (`checks::windows::wua`).
const WINDOWS_VERDICTS: [(&str, &[&str]); 33] = [
    ("disk.root_encrypted", &[PASS, FAIL, UNKNOWN]),
    ("disk.fixed_volumes_encrypted", &[PASS, FAIL, UNKNOWN]),
    ("disk.swap_encrypted", &[PASS, FAIL, UNKNOWN]),
    ("disk.recovery_key_escrow", &[PASS, FAIL, UNKNOWN, NA]),
    ("patch.os_supported", &[PASS, FAIL]),
    ("patch.security_updates_pending", &[PASS, FAIL, UNKNOWN]),
    ("patch.index_fresh", &[PASS, FAIL, UNKNOWN]),
    ("patch.auto_updates", &[PASS, FAIL, UNKNOWN]),
    ("patch.reboot_pending", &[UNKNOWN]),
    ("accounts.no_empty_passwords", &[PASS, FAIL, UNKNOWN]),
    ("accounts.uid0_only_root", &[NA]),
    ("accounts.password_max_age", &[PASS, FAIL, UNKNOWN, NA]),
    ("accounts.password_min_length", &[PASS, FAIL, UNKNOWN, NA]),
    ("accounts.lockout", &[PASS, FAIL, UNKNOWN, NA]),
    ("accounts.ssh_root_login", &[NA]),
    ("accounts.ssh_password_auth", &[PASS, FAIL, NA]),
    ("accounts.sudo_nopasswd", &[NA]),
    ("accounts.privileged_users", &[INFO]),
    ("accounts.guest_disabled", &[PASS, FAIL, UNKNOWN]),
    ("accounts.auto_login_disabled", &[PASS, FAIL]),
    ("accounts.laps", &[PASS, FAIL, NA]),
    ("system.time_sync", &[PASS, FAIL]),
    ("system.audit_logging", &[PASS, FAIL, UNKNOWN]),
    ("system.firewall", &[PASS, FAIL, UNKNOWN]),
    ("system.screen_lock", &[PASS, FAIL, NA]),
    ("system.secure_boot", &[PASS, FAIL]),
    ("system.sip", &[NA]),
    ("system.gatekeeper", &[NA]),
    ("system.uac", &[PASS, FAIL]),
    ("system.smb1_disabled", &[PASS, FAIL]),
    ("malware.protection", &[PASS, FAIL]),
    ("inventory.host", &[INFO]),
    ("inventory.software", &[INFO]),
];

/// The operating system of a host root, decided as the agent decides it: a
/// `SystemVersion.plist` makes it macOS, a `SOFTWARE` hive Windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Os {
    Linux,
    Macos,
    Windows,
}

impl Os {
    fn of(root: &Path) -> Os {
        if root
            .join("System/Library/CoreServices/SystemVersion.plist")
            .exists()
        {
            Os::Macos
        } else if root.join("Windows/System32/config/SOFTWARE").exists() {
            Os::Windows
        } else {
            Os::Linux
        }
    }

    fn verdicts(self) -> &'static [(&'static str, &'static [&'static str]); 33] {
        match self {
            Os::Linux => &LINUX_VERDICTS,
            Os::Macos => &MACOS_VERDICTS,
            Os::Windows => &WINDOWS_VERDICTS,
        }
    }

    /// Where the table comes from, for messages.
    fn catalogue(self) -> &'static str {
        match self {
            Os::Linux => "checks.md",
            Os::Macos => "the macOS catalogue",
            Os::Windows => "the Windows catalogue",
        }
    }
}

/// The root of a Windows fixture: its files, with the hive files made from its
/// `hives/*.reg` text by the agent's test-only writer (a `.LOG1.reg` makes the
/// hive dirty, its changes only in the `.LOG1`), in
/// `CARGO_TARGET_TMPDIR/fixture-windows/NAME` (rebuilt from scratch). The `.reg`
/// text stays out of the root.
fn build_windows(name: &str, source: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fixture-windows")
        .join(name);
    if root.exists() {
        fs::remove_dir_all(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    }
    copy_tree(source, &root);
    fs::remove_dir_all(root.join("hives")).unwrap();
    let _ = fs::remove_file(root.join("expected.json"));
    let written = attest_agent::host::regf::writer::materialise(&source.join("hives"), &root)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        written.contains(&"/Windows/System32/config/SOFTWARE".to_owned()),
        "{name}: a Windows fixture needs hives/SOFTWARE.reg, wrote {written:?}"
    );
    root
}

/// A host's `expected.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    description: String,
    /// For a variant: the host whose files it starts from.
    #[serde(default)]
    base: Option<String>,
    /// Passed to `collect --at`.
    at: String,
    /// Host path → modification time (RFC 3339, UTC), set before the run because
    /// git keeps no mtimes. A variant adds to its base's.
    #[serde(default)]
    mtimes: BTreeMap<String, String>,
    /// Check id → status.
    checks: BTreeMap<String, String>,
    /// Collect with `--replay ROOT/_captures` (a captured host); the report must
    /// then be marked `agent.replay`.
    #[serde(default)]
    replay: bool,
    /// Collect with `--config ROOT/<this>` (the agent's configuration: its
    /// thresholds apply), made 0600 first as the agent requires.
    #[serde(default)]
    config: Option<String>,
}

struct Host {
    name: String,
    root: PathBuf,
    expected: Expected,
}

/// One host and what the agent printed for it.
struct Collected {
    host: &'static Host,
    json: Output,
    table: Output,
}

/// Copies a host tree, symlinks as symlinks (their targets unchanged).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().unwrap();
        if let Ok(meta) = fs::symlink_metadata(&dst)
            && (kind.is_symlink() || kind.is_file() || !meta.is_dir())
        {
            if meta.is_dir() {
                fs::remove_dir_all(&dst).unwrap();
            } else {
                fs::remove_file(&dst).unwrap();
            }
        }
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src).unwrap(), &dst)
                .unwrap_or_else(|e| panic!("{}: {e}", dst.display()));
        } else if kind.is_dir() {
            copy_tree(&src, &dst);
        } else {
            fs::copy(&src, &dst).unwrap_or_else(|e| panic!("{}: {e}", dst.display()));
        }
    }
}

/// The root of a variant: its base host's files, then its own over them, in
/// `CARGO_TARGET_TMPDIR/fixture-variants/NAME` (rebuilt from scratch).
fn build_variant(name: &str, base: &Path, overlay: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fixture-variants")
        .join(name);
    if root.exists() {
        fs::remove_dir_all(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    }
    copy_tree(base, &root);
    copy_tree(overlay, &root);
    let _ = fs::remove_file(root.join("expected.json"));
    root
}

/// The root of the fixture host `name` (a variant built first), for other tests.
pub fn root_of(name: &str) -> PathBuf {
    hosts()
        .iter()
        .find(|h| h.name == name)
        .unwrap_or_else(|| panic!("no fixture host {name}"))
        .root
        .clone()
}

/// Every fixture host (each directory of `tests/fixtures/hosts` has an
/// `expected.json`), variants built, once per test binary.
fn hosts() -> &'static [Host] {
    static ALL: OnceLock<Vec<Host>> = OnceLock::new();
    ALL.get_or_init(load_hosts)
}

fn load_hosts() -> Vec<Host> {
    let dir = hosts_dir();
    let mut hosts = Vec::new();
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let root = entry.unwrap().path();
        if !root.is_dir() {
            continue; // README.md
        }
        let expected_path = root.join("expected.json");
        assert!(
            expected_path.is_file(),
            "{}: every fixture host needs an expected.json",
            root.display()
        );
        let text = fs::read_to_string(&expected_path).unwrap();
        let expected: Expected = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        assert!(
            !expected.description.trim().is_empty(),
            "{}: empty description",
            expected_path.display()
        );
        let name = root.file_name().unwrap().to_string_lossy().into_owned();
        hosts.push(Host {
            name,
            root,
            expected,
        });
    }
    hosts.sort_by(|a, b| a.name.cmp(&b.name));
    // Variants: the base's root with the variant's files over it, and the base's
    // mtimes under the variant's own.
    let bases: BTreeMap<String, (PathBuf, BTreeMap<String, String>)> = hosts
        .iter()
        .filter(|h| h.expected.base.is_none())
        .map(|h| (h.name.clone(), (h.root.clone(), h.expected.mtimes.clone())))
        .collect();
    for host in &mut hosts {
        let Some(base) = host.expected.base.clone() else {
            continue;
        };
        let (base_root, base_mtimes) = bases.get(&base).unwrap_or_else(|| {
            panic!(
                "{}: base {base:?} is not a fixture host (variants of variants are not supported)",
                host.name
            )
        });
        host.root = build_variant(&host.name, base_root, &host.root);
        for (path, time) in base_mtimes {
            host.expected
                .mtimes
                .entry(path.clone())
                .or_insert_with(|| time.clone());
        }
    }
    for host in &mut hosts {
        if host.root.join("hives").is_dir() {
            host.root = build_windows(&host.name, &host.root);
        }
    }
    assert!(
        hosts.len() >= 6,
        "expected at least six fixture hosts in {}, found {}",
        dir.display(),
        hosts.len()
    );
    hosts
}

/// `YYYY-MM-DDTHH:MM:SSZ` as a `SystemTime` (no dependency for one format).
fn parse_utc(s: &str) -> SystemTime {
    fn fail(s: &str) -> ! {
        panic!("{s:?}: expected YYYY-MM-DDTHH:MM:SSZ")
    }
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        fail(s);
    }
    let num = |r: std::ops::Range<usize>| -> i64 { s[r].parse().unwrap_or_else(|_| fail(s)) };
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    let (hh, mm, ss) = (num(11..13), num(14..16), num(17..19));
    // Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or_else(|_| fail(s)))
}

/// Sets the modification times that `expected.json` lists (host paths).
fn set_mtimes(host: &Host) {
    for (path, time) in &host.expected.mtimes {
        let file = host.root.join(path.trim_start_matches('/'));
        let f = fs::File::options()
            .write(true)
            .open(&file)
            .unwrap_or_else(|e| panic!("{}: {}: {e}", host.name, file.display()));
        f.set_modified(parse_utc(time))
            .unwrap_or_else(|e| panic!("{}: {}: {e}", host.name, file.display()));
    }
}

fn collect(host: &Host, format: &str) -> Output {
    let root = host.root.to_str().unwrap();
    let captures = host.root.join("_captures");
    let mut args = vec![
        "collect",
        "--root",
        root,
        "--format",
        format,
        "--at",
        &host.expected.at,
    ];
    if host.expected.replay {
        args.extend(["--replay", captures.to_str().unwrap()]);
    }
    let config = host.expected.config.as_ref().map(|c| host.root.join(c));
    if let Some(path) = &config {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        args.extend(["--config", path.to_str().unwrap()]);
    }
    agent(&args)
}

/// Every host collected once per test binary, as JSON and as a table.
fn collected() -> &'static [Collected] {
    static ALL: OnceLock<Vec<Collected>> = OnceLock::new();
    ALL.get_or_init(|| {
        hosts()
            .iter()
            .map(|host| {
                set_mtimes(host);
                let json = collect(host, "json");
                let table = collect(host, "table");
                Collected { host, json, table }
            })
            .collect()
    })
}

/// The JSON report of a collection, or why there is none.
fn report(c: &Collected) -> Result<Value, String> {
    if !c.json.status.success() {
        return Err(format!(
            "attest-agent exited with {}: {}",
            c.json.status,
            String::from_utf8_lossy(&c.json.stderr).trim()
        ));
    }
    serde_json::from_slice(&c.json.stdout).map_err(|e| format!("the report is not JSON: {e}"))
}

fn text(v: Option<&Value>) -> &str {
    v.and_then(Value::as_str).unwrap_or("")
}

#[test]
fn every_host_meets_its_expected_verdicts() {
    let mut mismatches = Vec::new();
    for c in collected() {
        let host = &c.host;
        for id in check_ids() {
            if !host.expected.checks.contains_key(id) {
                mismatches.push(format!("{}: expected.json lacks {id}", host.name));
            }
        }
        for id in host.expected.checks.keys() {
            if !check_ids().contains(&id.as_str()) {
                mismatches.push(format!(
                    "{}: expected.json names an unknown check {id}",
                    host.name
                ));
            }
        }
        let report = match report(c) {
            Ok(r) => r,
            Err(why) => {
                mismatches.push(format!("{}: {why}", host.name));
                continue;
            }
        };
        let replay = report["agent"]["replay"].as_bool().unwrap_or(false);
        let schema = text(report.get("schema")).to_owned();
        if replay != host.expected.replay {
            mismatches.push(format!(
                "{}: agent.replay is {replay}, expected {}",
                host.name, host.expected.replay
            ));
        }
        // The lowest schema that carries the report: v2 for a replay or `api`
        // evidence (a Mac's sysctl and local directory records), else v1.
        let api = report["results"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["evidence"].as_array().into_iter().flatten())
            .any(|e| e["kind"] == "api");
        let want_schema = if replay || api {
            "attest.report/v2"
        } else {
            "attest.report/v1"
        };
        if schema != want_schema {
            mismatches.push(format!(
                "{}: schema {schema}, expected {want_schema}",
                host.name
            ));
        }
        let Some(results) = report.get("results").and_then(Value::as_array) else {
            mismatches.push(format!("{}: the report has no results array", host.name));
            continue;
        };
        let mut seen = BTreeSet::new();
        for r in results {
            let id = text(r.get("check"));
            let got = text(r.get("status"));
            if !seen.insert(id.to_owned()) {
                mismatches.push(format!("{}: {id} reported twice", host.name));
            }
            match host.expected.checks.get(id) {
                None => mismatches.push(format!(
                    "{}: the report has {id} ({got}), which expected.json lacks",
                    host.name
                )),
                Some(want) if want != got => mismatches.push(format!(
                    "{}: {id}: expected {want}, got {got}\n    summary: {}\n    reason: {}",
                    host.name,
                    text(r.get("summary")),
                    text(r.get("reason")),
                )),
                Some(_) => {}
            }
        }
        for id in host.expected.checks.keys() {
            if !seen.contains(id) {
                mismatches.push(format!("{}: {id} is missing from the report", host.name));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatch(es) between the reports and expected.json:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn the_hosts_of_each_os_together_reach_every_verdict_its_catalogue_defines() {
    let hosts = hosts();
    let known: BTreeSet<&str> = [PASS, FAIL, UNKNOWN, NA, INFO].into_iter().collect();
    let mut problems = Vec::new();
    for os in [Os::Linux, Os::Macos, Os::Windows] {
        let table = os.verdicts();
        let of_os: Vec<&Host> = hosts.iter().filter(|h| Os::of(&h.root) == os).collect();
        if of_os.is_empty() {
            problems.push(format!("no {os:?} fixture host"));
        }
        let mut reached: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for host in &of_os {
            let ids: BTreeSet<&str> = host.expected.checks.keys().map(String::as_str).collect();
            if ids != check_ids().into_iter().collect() {
                problems.push(format!(
                    "{}: expected.json does not list exactly the catalogue's checks",
                    host.name
                ));
            }
            for (id, status) in &host.expected.checks {
                if !known.contains(status.as_str()) {
                    problems.push(format!("{}: {id}: {status:?} is not a status", host.name));
                }
                let allowed = table.iter().find(|(v, _)| v == id).map(|(_, s)| *s);
                if let Some(allowed) = allowed
                    && !allowed.contains(&status.as_str())
                {
                    problems.push(format!(
                        "{}: {id}: {} defines no {status} for this check",
                        host.name,
                        os.catalogue()
                    ));
                }
                reached.entry(id).or_default().insert(status.clone());
            }
        }
        for (id, statuses) in table {
            for status in *statuses {
                if !reached.get(id).is_some_and(|r| r.contains(*status)) {
                    problems.push(format!(
                        "no {os:?} fixture host expects {id} to be {status}"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn fixture_hosts_are_told_apart_as_the_agent_does() {
    let os = |name: &str| Os::of(&root_of(name));
    assert_eq!(os("macos26-laptop"), Os::Macos);
    // A variant's root is built from its base: the base's SystemVersion.plist decides.
    assert_eq!(os("macos15-encrypting+offline"), Os::Macos);
    assert_eq!(os("debian12-laptop"), Os::Linux);
    assert_eq!(os("scratch-container"), Os::Linux);
    // A Windows root's hives are made from its .reg text first.
    assert_eq!(os("win11-24h2-enterprise"), Os::Windows);
    // A dirty variant: the base's hives, SOFTWARE written with a .LOG1.
    assert_eq!(os("win11-dirty-hive"), Os::Windows);
    assert!(
        root_of("win11-dirty-hive")
            .join("Windows/System32/config/SOFTWARE.LOG1")
            .is_file()
    );
}

/// What no output may carry from a Windows fixture: every value named
/// `DefaultPassword` in its `.reg` text (auto-logon's plaintext password).
fn windows_secrets(name: &str) -> Vec<String> {
    let dir = hosts_dir().join(name).join("hives");
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(&dir) else {
        return found;
    };
    for entry in entries {
        let text = fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines() {
            if let Some(value) = line.strip_prefix("\"DefaultPassword\"=\"") {
                found.push(value.trim_end_matches('"').to_owned());
            }
        }
    }
    found
}

#[test]
fn no_windows_default_password_appears_in_any_output() {
    let mut checked = 0;
    for c in collected() {
        let secrets = windows_secrets(&c.host.name);
        for secret in &secrets {
            checked += 1;
            for (what, out) in [("json", &c.json), ("table", &c.table)] {
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                assert!(
                    !text.contains(secret.as_str()),
                    "{}: DefaultPassword in the {what} output",
                    c.host.name
                );
            }
        }
    }
    assert!(checked > 0, "no Windows fixture plants a DefaultPassword");
}

/// The secrets in one host's files: password hashes from `/etc/shadow` and the body
/// lines of private keys in `/etc/ssh/*_key`.
fn secrets(root: &Path) -> (Vec<String>, Vec<String>) {
    let mut hashes = Vec::new();
    if let Ok(shadow) = fs::read_to_string(root.join("etc/shadow")) {
        for line in shadow.lines() {
            let field = line.split(':').nth(1).unwrap_or("");
            let hash = field.trim_start_matches('!');
            if !hash.is_empty() && !field.chars().all(|c| c == '!' || c == '*') {
                hashes.push(hash.to_owned());
            }
        }
    }
    let mut key_lines = Vec::new();
    if let Ok(entries) = fs::read_dir(root.join("etc/ssh")) {
        for entry in entries {
            let path = entry.unwrap().path();
            if !path.to_string_lossy().ends_with("_key") {
                continue;
            }
            let key = fs::read_to_string(&path).unwrap();
            // Lines shorter than 16 characters could occur by chance; a key's body
            // lines are 70 characters but the last.
            key_lines.extend(
                key.lines()
                    .filter(|l| !l.starts_with("-----") && l.trim().len() >= 16)
                    .map(|l| l.trim().to_owned()),
            );
        }
    }
    (hashes, key_lines)
}

#[test]
fn no_fixture_secret_appears_in_any_output() {
    let mut leaks = Vec::new();
    let (mut n_hashes, mut n_key_lines) = (0, 0);
    for c in collected() {
        let (hashes, key_lines) = secrets(&c.host.root);
        n_hashes += hashes.len();
        n_key_lines += key_lines.len();
        for (format, out) in [("json", &c.json), ("table", &c.table)] {
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            for secret in hashes.iter().chain(&key_lines) {
                if stdout.contains(secret.as_str()) || stderr.contains(secret.as_str()) {
                    leaks.push(format!(
                        "{}: --format {format} prints {secret}",
                        c.host.name
                    ));
                }
            }
            // Nor a key's armour line, which an Include of a key file would bring.
            if stdout.contains("PRIVATE KEY-----") || stderr.contains("PRIVATE KEY-----") {
                leaks.push(format!(
                    "{}: --format {format} prints a private key's armour line",
                    c.host.name
                ));
            }
        }
    }
    // The fixtures must carry secrets for this test to mean anything.
    assert!(
        n_hashes >= 8,
        "only {n_hashes} password hashes in the fixtures"
    );
    assert!(
        n_key_lines >= 10,
        "only {n_key_lines} private key lines in the fixtures"
    );
    assert!(
        leaks.is_empty(),
        "secrets in the output:\n{}",
        leaks.join("\n")
    );
}

/// The secrets in a Mac host's files: each user record's `ShadowHashData` (the
/// whole value, and every data value of the plist inside it: salt, entropy, SRP
/// verifier), `/etc/kcpassword` and `/var/db/FileVaultPRK.dat`. Each is returned as
/// lowercase hex, uppercase hex and base64, whole and its first 16 bytes (a
/// shortened copy is a leak too). Returns the strings and how many secrets of each
/// kind were found: (shadow hash values, kcpassword files, recovery key files).
fn mac_secrets(root: &Path) -> (Vec<String>, [usize; 3]) {
    use base64::Engine as _;
    let mut blobs: Vec<Vec<u8>> = Vec::new();
    let mut counts = [0usize; 3];
    let users = root.join("private/var/db/dslocal/nodes/Default/users");
    for entry in fs::read_dir(&users).into_iter().flatten() {
        let path = entry.unwrap().path();
        // A damaged record (a variant's) is not a plist: its base host covers it.
        let Ok(record) = plist::Value::from_file(&path) else {
            continue;
        };
        let shadows = record
            .as_dictionary()
            .and_then(|d| d.get("ShadowHashData"))
            .and_then(plist::Value::as_array)
            .cloned()
            .unwrap_or_default();
        for shadow in shadows.iter().filter_map(plist::Value::as_data) {
            counts[0] += 1;
            blobs.push(shadow.to_vec());
            let inner = plist::Value::from_reader(std::io::Cursor::new(shadow))
                .unwrap_or_else(|e| panic!("{}: ShadowHashData: {e}", path.display()));
            for entry in inner.as_dictionary().into_iter().flat_map(|d| d.values()) {
                for value in entry.as_dictionary().into_iter().flat_map(|d| d.values()) {
                    if let Some(bytes) = value.as_data() {
                        blobs.push(bytes.to_vec());
                    }
                }
            }
        }
    }
    for (i, file) in ["private/etc/kcpassword", "private/var/db/FileVaultPRK.dat"]
        .into_iter()
        .enumerate()
    {
        if let Ok(bytes) = fs::read(root.join(file)) {
            counts[i + 1] += 1;
            blobs.push(bytes);
        }
    }
    let mut out = Vec::new();
    for blob in &blobs {
        for part in [&blob[..], &blob[..blob.len().min(16)]] {
            out.push(hex::encode(part));
            out.push(hex::encode_upper(part));
            out.push(base64::engine::general_purpose::STANDARD.encode(part));
        }
    }
    // Short values (a 12-byte kcpassword's base64 prefix) could occur by chance.
    out.retain(|s| s.len() >= 16);
    out.sort();
    out.dedup();
    (out, counts)
}

#[test]
fn no_mac_password_hash_kcpassword_or_recovery_key_appears_in_any_output() {
    let mut leaks = Vec::new();
    let mut totals = [0usize; 3];
    for c in collected() {
        if Os::of(&c.host.root) != Os::Macos {
            continue;
        }
        let (secrets, counts) = mac_secrets(&c.host.root);
        for (t, n) in totals.iter_mut().zip(counts) {
            *t += n;
        }
        for (format, out) in [("json", &c.json), ("table", &c.table)] {
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            for secret in &secrets {
                if stdout.contains(secret.as_str()) || stderr.contains(secret.as_str()) {
                    leaks.push(format!(
                        "{}: --format {format} prints {secret}",
                        c.host.name
                    ));
                }
            }
            for word in [
                "ShadowHashData\":",
                "SALTED-SHA512-PBKDF2\":",
                "\"entropy\"",
            ] {
                if stdout.contains(word) {
                    leaks.push(format!("{}: --format {format} prints {word}", c.host.name));
                }
            }
        }
    }
    // The fixtures must carry secrets for this test to mean anything.
    assert!(totals[0] >= 10, "only {} ShadowHashData values", totals[0]);
    assert!(totals[1] >= 1, "no kcpassword in the Mac fixtures");
    assert!(totals[2] >= 1, "no FileVaultPRK.dat in the Mac fixtures");
    assert!(
        leaks.is_empty(),
        "secrets in the output:\n{}",
        leaks.join("\n")
    );
}

/// Checks one result object's keys and value types; returns what is wrong.
fn shape_problems(r: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(obj) = r.as_object() else {
        return vec![format!("not an object: {r}")];
    };
    let status = text(obj.get("status"));
    let mut want: BTreeSet<&str> = ["check", "status", "summary", "facts", "evidence"]
        .into_iter()
        .collect();
    if status == UNKNOWN || status == NA {
        want.insert("reason");
    }
    let keys: BTreeSet<&str> = obj.keys().map(String::as_str).collect();
    if keys != want {
        problems.push(format!("keys {keys:?}, want {want:?}"));
    }
    if ![PASS, FAIL, UNKNOWN, NA, INFO].contains(&status) {
        problems.push(format!("status {status:?}"));
    }
    for k in ["check", "summary"] {
        if obj
            .get(k)
            .and_then(Value::as_str)
            .is_none_or(|s| s.trim().is_empty())
        {
            problems.push(format!("{k} is not a non-empty string"));
        }
    }
    if let Some(reason) = obj.get("reason")
        && reason.as_str().is_none_or(|s| s.trim().is_empty())
    {
        problems.push("reason is not a non-empty string".to_owned());
    }
    if !obj.get("facts").is_some_and(Value::is_object) {
        problems.push("facts is not an object".to_owned());
    }
    match obj.get("evidence").and_then(Value::as_array) {
        None => problems.push("evidence is not an array".to_owned()),
        Some(evidence) => {
            for e in evidence {
                let keys: BTreeSet<&str> = e
                    .as_object()
                    .map(|o| o.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                let want: BTreeSet<&str> = match text(e.get("kind")) {
                    "file" => ["kind", "path", "excerpt", "sha256"].into_iter().collect(),
                    "command" => ["kind", "argv", "exit_code", "excerpt", "sha256"]
                        .into_iter()
                        .collect(),
                    "api" => ["kind", "name", "excerpt", "sha256"].into_iter().collect(),
                    other => {
                        problems.push(format!("evidence kind {other:?}"));
                        continue;
                    }
                };
                if keys != want {
                    problems.push(format!("evidence keys {keys:?}, want {want:?}"));
                }
                if !text(e.get("sha256")).starts_with("sha256:") {
                    problems.push(format!("evidence sha256 {:?}", e.get("sha256")));
                }
            }
        }
    }
    problems
}

#[test]
fn every_result_has_the_wire_shape() {
    let mut problems = Vec::new();
    for c in collected() {
        let report = match report(c) {
            Ok(r) => r,
            Err(why) => {
                problems.push(format!("{}: {why}", c.host.name));
                continue;
            }
        };
        match report.get("results").and_then(Value::as_array) {
            None => problems.push(format!("{}: no results array", c.host.name)),
            Some(results) => {
                if results.is_empty() {
                    problems.push(format!("{}: results is empty", c.host.name));
                }
                for r in results {
                    for p in shape_problems(r) {
                        problems.push(format!("{}: {}: {p}", c.host.name, text(r.get("check"))));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn utc_times_parse() {
    assert_eq!(parse_utc("1970-01-01T00:00:00Z"), SystemTime::UNIX_EPOCH);
    assert_eq!(
        parse_utc("2026-11-25T12:00:00Z"),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_608_000)
    );
    assert_eq!(
        parse_utc("2024-02-29T23:59:59Z"),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_251_199)
    );
}

#[test]
fn result_shapes_are_judged() {
    let good: Value = serde_json::json!({"check": "a.b", "status": "pass", "summary": "s", "facts": {},
        "evidence": [{"kind": "file", "path": "/etc/x", "excerpt": "", "sha256": "sha256:00"}]});
    assert!(
        shape_problems(&good).is_empty(),
        "{:?}",
        shape_problems(&good)
    );
    let undecided: Value = serde_json::json!({"check": "a.b", "status": "unknown", "summary": "s",
        "reason": "why", "facts": {}, "evidence": []});
    assert!(shape_problems(&undecided).is_empty());
    let no_reason: Value = serde_json::json!({"check": "a.b", "status": "not_applicable", "summary": "s",
        "facts": {}, "evidence": []});
    assert!(!shape_problems(&no_reason).is_empty());
    let extra: Value = serde_json::json!({"check": "a.b", "status": "fail", "summary": "s", "reason": "r",
        "facts": {}, "evidence": []});
    assert!(!shape_problems(&extra).is_empty());
    let api: Value = serde_json::json!({"check": "a.b", "status": "pass", "summary": "s", "facts": {},
        "evidence": [{"kind": "api", "name": "sysctl vm.swapusage", "excerpt": "", "sha256": "sha256:00"}]});
    assert!(
        shape_problems(&api).is_empty(),
        "{:?}",
        shape_problems(&api)
    );
    let api_with_path: Value = serde_json::json!({"check": "a.b", "status": "pass", "summary": "s",
        "facts": {}, "evidence": [{"kind": "api", "path": "/x", "excerpt": "", "sha256": "sha256:00"}]});
    assert!(!shape_problems(&api_with_path).is_empty());
    let bad_evidence: Value = serde_json::json!({"check": "a.b", "status": "fail", "summary": "s",
        "facts": {}, "evidence": [{"kind": "file", "path": "/x", "excerpt": ""}]});
    assert!(!shape_problems(&bad_evidence).is_empty());
}

/// Each Windows fixture's hives, as its `.reg` text says (a `.LOG1.reg` applied
/// over its base), read back by the agent's reader (logs applied) and, for the
/// clean ones, exported by Debian's `hivexregedit`: the writer, the reader and an
/// independent implementation agree on the whole corpus.
#[test]
#[allow(clippy::disallowed_methods)] // hivexregedit is a test tool, not a host source
fn fixtures_hives_read_the_same_in_hivex_and_the_reader() {
    use attest_agent::host::regf::Hive;
    use attest_agent::host::regf::writer::Tree;
    let hivex = std::process::Command::new("hivexregedit")
        .arg("--help")
        .output()
        .is_ok();
    if !hivex {
        println!(
            "SKIP (hivex part): hivexregedit is not installed (apt-get install libwin-hivex-perl)"
        );
    }
    let mut compared = 0;
    for host in hosts() {
        let source = if host.expected.base.is_some() {
            let base = host.expected.base.as_deref().unwrap();
            vec![
                hosts_dir().join(base).join("hives"),
                hosts_dir().join(&host.name).join("hives"),
            ]
        } else {
            vec![hosts_dir().join(&host.name).join("hives")]
        };
        if !source[0].is_dir() {
            continue;
        }
        for entry in fs::read_dir(&source[0]).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let Some(stem) = name.strip_suffix(".reg") else {
                continue;
            };
            let (prefix, file) = match stem.strip_prefix("NTUSER.") {
                Some(profile) => (
                    "HKEY_CURRENT_USER".to_owned(),
                    format!("Users/{profile}/NTUSER.DAT"),
                ),
                None => (
                    format!("HKEY_LOCAL_MACHINE\\{stem}"),
                    format!("Windows/System32/config/{stem}"),
                ),
            };
            let mut want =
                Tree::from_reg(&fs::read_to_string(source[0].join(&name)).unwrap(), &prefix)
                    .unwrap_or_else(|e| panic!("{}: {name}: {e}", host.name));
            let mut dirty = false;
            for dir in &source {
                let log = dir.join(format!("{stem}.LOG1.reg"));
                if log.is_file() {
                    want.apply(&fs::read_to_string(&log).unwrap(), &prefix)
                        .unwrap();
                    dirty = true;
                }
            }
            let path = host.root.join(&file);
            let primary = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let log = fs::read(host.root.join(format!("{file}.LOG1"))).ok();
            assert_eq!(log.is_some(), dirty, "{}: {file}", host.name);
            let logs: Vec<&[u8]> = log.iter().map(Vec::as_slice).collect();
            let hive = Hive::parse(&primary, &logs)
                .unwrap_or_else(|e| panic!("{}: {file}: {e}", host.name));
            let mut read = Tree::read(&hive).unwrap();
            read.name = want.name.clone();
            assert!(
                read == want,
                "{}: {file}: the reader disagrees with the text",
                host.name
            );
            compared += 1;
            if hivex && !dirty {
                let out = std::process::Command::new("hivexregedit")
                    .args(["--export", "--prefix", &prefix])
                    .arg(&path)
                    .arg("\\")
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let mut exported = Tree::from_reg(&String::from_utf8(out.stdout).unwrap(), &prefix)
                    .unwrap_or_else(|e| panic!("{}: {file}: hivex export: {e}", host.name));
                exported.name = want.name.clone();
                assert!(
                    exported == want,
                    "{}: {file}: hivex disagrees with the text",
                    host.name
                );
            }
        }
    }
    assert!(
        compared >= 25,
        "only {compared} Windows fixture hives compared"
    );
}
