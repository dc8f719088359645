//! `inventory.software` — ISO/IEC 27002:2022 5.9 Inventory of information and
//! other associated assets, 8.19 Installation of software on operational systems.

use std::sync::Arc;

use attest_proto::{CheckResult, Evidence, Status};
use serde::Serialize;

use crate::checks::linux::common::dpkg;
use crate::checks::{Check, Context, command_evidence, file_evidence, sha256, unknown};

/// Where an RPM database lives (the newer path first).
pub const RPM_DB_DIRS: [&str; 2] = ["/usr/lib/sysimage/rpm", "/var/lib/rpm"];

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub architecture: String,
}

impl Package {
    /// The package's line in the digest: `NAME TAB VERSION TAB ARCHITECTURE LF`.
    pub fn digest_line(&self) -> String {
        format!("{}\t{}\t{}\n", self.name, self.version, self.architecture)
    }
}

/// The installed packages of a host, in digest order (see [`digest`]).
#[derive(Debug, Clone)]
pub struct PackageList {
    /// `dpkg` or `rpm`.
    pub source: &'static str,
    pub packages: Vec<Package>,
    pub evidence: Evidence,
}

impl PackageList {
    pub fn has(&self, name: &str) -> bool {
        self.packages.iter().any(|p| p.name == name)
    }
}

/// The host's package list, read once per run; `Err` says why there is none.
pub struct Memo(pub Result<PackageList, String>);

/// Sorts packages into digest order: by their digest lines, bytewise.
pub fn sort(packages: &mut [Package]) {
    packages.sort_by_cached_key(Package::digest_line);
}

/// The SHA-256 of a package list, independent of the order the database keeps:
/// every package becomes the UTF-8 line `NAME TAB VERSION TAB ARCHITECTURE LF`,
/// the lines are sorted bytewise in ascending order (duplicates kept), and the
/// digest is taken over their concatenation, written `sha256:<64 hex digits>`.
/// An empty list hashes the empty string.
pub fn digest(packages: &[Package]) -> String {
    let mut lines: Vec<String> = packages.iter().map(Package::digest_line).collect();
    lines.sort();
    sha256(lines.concat().as_bytes())
}

/// Parses the output of `sources::LINUX_RPM_PACKAGES` (`rpm -qa --qf`): one package per
/// line, three tab-separated fields; other lines are skipped.
pub fn parse_rpm_qa(text: &str) -> Vec<Package> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let name = fields.next()?.trim();
            let version = fields.next()?.trim();
            let architecture = fields.next()?.trim();
            if name.is_empty() || fields.next().is_some() {
                return None;
            }
            Some(Package {
                name: name.to_owned(),
                version: version.to_owned(),
                architecture: architecture.to_owned(),
            })
        })
        .collect()
}

/// True when dpkg's status says the package is on disk: the third word of
/// `Status` (the package state) is `installed`, whatever the selection (`install`,
/// `hold`, `deinstall`, `purge`) and the error flag. A held package
/// (`hold ok installed`) is installed software, which `dpkg -l` shows as `hi`;
/// `config-files`, `half-installed`, `unpacked` and `not-installed` are not.
pub fn is_on_disk(p: &dpkg::Package) -> bool {
    p.status.split_whitespace().nth(2) == Some("installed")
}

/// The host's installed packages: dpkg's status file when there is one (stanzas
/// whose package state is `installed`, see [`is_on_disk`]), else `rpm -qa` on a
/// live host with an RPM database.
pub fn get(ctx: &Context<'_>) -> Arc<Memo> {
    ctx.memo(|ctx| Memo(read(ctx)))
}

fn read(ctx: &Context<'_>) -> Result<PackageList, String> {
    let memo = dpkg::get(ctx);
    match &memo.0 {
        Ok(installed) => {
            let mut packages: Vec<Package> =
                dpkg::parse_stanzas(&String::from_utf8_lossy(&installed.raw))
                    .into_iter()
                    .filter(is_on_disk)
                    .map(|p| Package {
                        name: p.name,
                        version: p.version,
                        architecture: p.architecture,
                    })
                    .collect();
            sort(&mut packages);
            let evidence = file_evidence(
                dpkg::STATUS_PATH,
                &installed.raw,
                format!(
                    "{} stanzas whose Status ends in \"installed\"",
                    packages.len()
                ),
            );
            return Ok(PackageList {
                source: "dpkg",
                packages,
                evidence,
            });
        }
        Err(e) if !e.is_not_found() => return Err(e.to_string()),
        Err(_) => {}
    }
    let rpm_db = RPM_DB_DIRS.iter().any(|d| ctx.host.is_dir(d));
    if !rpm_db {
        return Err(format!(
            "no package database: no {} and no RPM database",
            dpkg::STATUS_PATH
        ));
    }
    if !ctx.host.answers_sources() {
        return Err(
            "the RPM database is read only through rpm, which runs on a live host only".to_owned(),
        );
    }
    let out = ctx
        .host
        .command(&crate::host::sources::LINUX_RPM_PACKAGES)
        .map_err(|e| e.to_string())?;
    if out.exit_code != Some(0) {
        let first = out.stderr.lines().next().unwrap_or("").trim().to_owned();
        return Err(format!("rpm -qa exited with {:?}: {first}", out.exit_code));
    }
    let mut packages = parse_rpm_qa(&out.stdout);
    sort(&mut packages);
    let evidence = command_evidence(&out, format!("{} packages listed", packages.len()));
    Ok(PackageList {
        source: "rpm",
        packages,
        evidence,
    })
}

/// Lists every installed package (status `info`). See [`get`] for the sources and
/// [`digest`] for the SHA-256.
///
/// `unknown` when no package database can be read: neither dpkg's status file nor
/// (on a live host) `rpm -qa`; an offline RPM root is unknown, as its database is
/// only readable through `rpm`.
///
/// Facts: `source` (`dpkg` or `rpm`), `count`, `sha256`, `packages` (each `name`,
/// `version`, `architecture`, in digest order).
pub struct InventorySoftware;

impl Check for InventorySoftware {
    fn id(&self) -> &'static str {
        "inventory.software"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let memo = get(ctx);
        let list = match &memo.0 {
            Ok(list) => list,
            Err(why) => return unknown(self.id(), why.clone()),
        };
        let digest = digest(&list.packages);
        CheckResult::new(
            self.id(),
            Status::Info,
            format!(
                "{} packages are installed (from {}); the sorted list hashes to {}.",
                list.packages.len(),
                list.source,
                digest
            ),
        )
        .fact("source", list.source)
        .fact(attest_proto::facts::SOFTWARE_COUNT, list.packages.len())
        .fact("sha256", &digest)
        .fact("packages", &list.packages)
        .evidence(list.evidence.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use proptest::prelude::*;
    use serde_json::json;

    const STATUS: &str = "Package: bash\nStatus: install ok installed\nPriority: required\nArchitecture: amd64\nVersion: 5.2.15-2+b7\nDescription: GNU Bourne Again SHell\n multi-line\n\n\
        Package: openssl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.0.15-1~deb12u1\n\n\
        Package: old-thing\nStatus: deinstall ok config-files\nArchitecture: all\nVersion: 1.0\n\n\
        Package: zfs-dkms\nStatus: hold ok installed\nArchitecture: all\nVersion: 2.1.11-1\n\n\
        Package: half\nStatus: install reinstreq half-installed\nArchitecture: amd64\nVersion: 1\n\n\
        Package: libc6\nStatus: install ok installed\nArchitecture: i386\nVersion: 2.36-9+deb12u9\n\n\
        Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u9\n";

    fn reorder(status: &str) -> String {
        let mut stanzas: Vec<&str> = status.split("\n\n").collect();
        stanzas.reverse();
        stanzas
            .iter()
            .map(|s| s.trim_end_matches('\n'))
            .collect::<Vec<_>>()
            .join("\n\n")
            + "\n"
    }

    #[test]
    fn dpkg_inventory_lists_installed_packages_in_digest_order() {
        let mut t = FakeHost::linux();
        t.add_file(dpkg::STATUS_PATH, STATUS);
        let r = t.run(&InventorySoftware);
        assert_eq!(r.status, Status::Info, "{r:?}");
        assert_eq!(r.facts["source"], json!("dpkg"));
        assert_eq!(r.facts["count"], json!(5));
        assert_eq!(
            r.facts["packages"],
            json!([
                {"name": "bash", "version": "5.2.15-2+b7", "architecture": "amd64"},
                {"name": "libc6", "version": "2.36-9+deb12u9", "architecture": "amd64"},
                {"name": "libc6", "version": "2.36-9+deb12u9", "architecture": "i386"},
                {"name": "openssl", "version": "3.0.15-1~deb12u1", "architecture": "amd64"},
                {"name": "zfs-dkms", "version": "2.1.11-1", "architecture": "all"},
            ])
        );
        let expected = sha256(
            b"bash\t5.2.15-2+b7\tamd64\nlibc6\t2.36-9+deb12u9\tamd64\nlibc6\t2.36-9+deb12u9\ti386\nopenssl\t3.0.15-1~deb12u1\tamd64\nzfs-dkms\t2.1.11-1\tall\n",
        );
        assert_eq!(r.facts["sha256"], json!(expected));
    }

    #[test]
    fn digest_is_stable_under_reordering_of_the_status_file() {
        let mut a = FakeHost::linux();
        a.add_file(dpkg::STATUS_PATH, STATUS);
        let mut b = FakeHost::linux();
        let reordered = reorder(STATUS);
        assert_ne!(reordered, STATUS);
        b.add_file(dpkg::STATUS_PATH, &reordered);
        let ra = a.run(&InventorySoftware);
        let rb = b.run(&InventorySoftware);
        assert_eq!(ra.facts["sha256"], rb.facts["sha256"]);
        assert_eq!(ra.facts["packages"], rb.facts["packages"]);
        // ... and changes when a version changes.
        let mut c = FakeHost::linux();
        c.add_file(
            dpkg::STATUS_PATH,
            STATUS.replace("3.0.15-1~deb12u1", "3.0.16-1~deb12u1"),
        );
        assert_ne!(
            ra.facts["sha256"],
            c.run(&InventorySoftware).facts["sha256"]
        );
    }

    #[test]
    fn no_database_is_unknown() {
        let mut t = FakeHost::linux();
        let r = t.run(&InventorySoftware);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        // An offline RPM root cannot be read without rpm.
        t.add_dir("/var/lib/rpm");
        let r = t.run(&InventorySoftware);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert!(r.reason.unwrap().contains("live host"));
    }

    #[test]
    fn rpm_output_parsing() {
        let out = "bash\t0:5.2.26-3.fc40\tx86_64\ngpg-pubkey\t0:a15b79cc-63d04c2c\t(none)\nbroken line\n\tno-name\tx\nopenssl-libs\t1:3.2.2-3.fc40\tx86_64\n";
        let p = parse_rpm_qa(out);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].version, "0:5.2.26-3.fc40");
        assert_eq!(p[2].name, "openssl-libs");
        assert_eq!(p[2].architecture, "x86_64");
    }

    #[test]
    fn digest_of_nothing_is_the_empty_hash() {
        assert_eq!(
            digest(&[]),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    proptest! {
        #[test]
        fn rpm_parser_never_panics(text in "(\\PC|\t|\n)*") {
            for p in parse_rpm_qa(&text) {
                prop_assert!(!p.name.is_empty());
            }
        }

        #[test]
        fn digest_ignores_order(mut names in proptest::collection::vec("[a-z0-9+.-]{1,12}", 0..20)) {
            let pkgs = |names: &[String]| names.iter().map(|n| Package {
                name: n.clone(), version: "1".to_owned(), architecture: "all".to_owned(),
            }).collect::<Vec<_>>();
            let a = digest(&pkgs(&names));
            names.reverse();
            prop_assert_eq!(a, digest(&pkgs(&names)));
        }
    }
}
