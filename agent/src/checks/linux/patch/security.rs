//! `patch.security_updates_pending`.

use std::collections::{BTreeMap, HashMap};

use attest_proto::{CheckResult, Evidence, Status};

use crate::checks::linux::common::dpkg::{self, Package};
use crate::checks::linux::common::osrelease::Family;
use crate::checks::{Check, Context, file_evidence, unknown};

use super::lists::{self, Stanza};
use super::version::Version;
use super::{MAX_LISTED, family, is_suse, os_label, rpm};

/// `patch.security_updates_pending`: no installed package has a newer version in a
/// security suite.
///
/// Debian family, from files: the installed packages are dpkg's `install ok
/// installed` stanzas; the candidates are the stanzas of every package index in
/// `/var/lib/apt/lists/` whose suite ends in `-security` (only those indexes are
/// read). A candidate matches an installed package with the same `Package` and the
/// same `Architecture` (`all` matches only `all`, so each multi-arch instance is
/// judged on its own), and counts when its version is greater in Debian order; per
/// package the highest such candidate is listed. Versions that dpkg itself would
/// reject are skipped. Unknown when there is no package index at all (no
/// `*_Packages*` file), when the dpkg database or a security index cannot be read.
/// With package indexes but none from a security suite, nothing can be pending
/// from one: pass, with `security_indexes` empty in the facts.
///
/// RPM family: `dnf`/`zypper` on a live host (see [`rpm`]); offline it is unknown.
/// Any other family is unknown.
pub struct SecurityUpdatesPending;

const ID: &str = "patch.security_updates_pending";

impl Check for SecurityUpdatesPending {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        let (family, os) = match family(ctx) {
            Ok(f) => f,
            Err(why) => return unknown(ID, why),
        };
        match family {
            Family::Debian => debian(ctx),
            Family::Rpm if ctx.host.answers_sources() => {
                rpm::security_updates(ctx, ID, is_suse(&os))
            }
            Family::Rpm => unknown(
                ID,
                format!(
                    "not decidable for this family offline: {} is an RPM-family host and dnf/zypper run only on a live host",
                    os_label(&os)
                ),
            ),
            Family::Other => unknown(
                ID,
                format!(
                    "not decidable for this family: {} is neither Debian nor RPM family",
                    os_label(&os)
                ),
            ),
        }
    }
}

/// The highest newer candidate found for one installed package.
struct Candidate {
    version: String,
    /// Index into the list of security indexes read.
    index: usize,
}

fn debian(ctx: &Context<'_>) -> CheckResult {
    let listing = lists::listing(ctx);
    let names = match &listing.0 {
        Ok(names) => names,
        Err(e) if e.is_not_found() => {
            return unknown(
                ID,
                format!(
                    "no package index on disk: {} does not exist",
                    lists::LISTS_DIR
                ),
            );
        }
        Err(e) => return unknown(ID, e.to_string()),
    };
    let indexes: Vec<&String> = names
        .iter()
        .filter(|n| lists::package_index(n).is_some())
        .collect();
    if indexes.is_empty() {
        return unknown(
            ID,
            format!(
                "no package index on disk: no *_Packages file in {}",
                lists::LISTS_DIR
            ),
        );
    }
    let security: Vec<&String> = indexes
        .iter()
        .copied()
        .filter(|n| lists::is_security(n))
        .collect();

    let memo = dpkg::get(ctx);
    let installed = match &memo.0 {
        Ok(installed) => installed,
        Err(e) => return unknown(ID, e.to_string()),
    };
    // name → [(package, parsed version)]
    let mut by_name: HashMap<&str, Vec<(&Package, Version<'_>)>> = HashMap::new();
    let mut unparsable = 0usize;
    for p in &installed.packages {
        match Version::parse(&p.version) {
            Ok(v) => by_name.entry(p.name.as_str()).or_default().push((p, v)),
            Err(_) => unparsable += 1,
        }
    }

    let mut best: BTreeMap<(&str, &str), (&Package, Candidate)> = BTreeMap::new();
    let mut read = Vec::with_capacity(security.len());
    for (i, name) in security.iter().enumerate() {
        let file = match lists::read_index(ctx.host, name) {
            Ok(file) => file,
            Err(e) => return unknown(ID, e.to_string()),
        };
        lists::scan_stanzas(&file.text, |s: Stanza<'_>| {
            let Some(list) = by_name.get(s.package) else {
                return;
            };
            for (pkg, have) in list {
                if pkg.architecture != s.architecture {
                    continue;
                }
                let Ok(cand) = Version::parse(s.version) else {
                    continue;
                };
                if cand <= *have {
                    continue;
                }
                let key = (pkg.name.as_str(), pkg.architecture.as_str());
                let better = match best.get(&key) {
                    Some((_, prev)) => {
                        Version::parse(&prev.version).map_or(true, |prev| cand > prev)
                    }
                    None => true,
                };
                if better {
                    best.insert(
                        key,
                        (
                            *pkg,
                            Candidate {
                                version: s.version.to_owned(),
                                index: i,
                            },
                        ),
                    );
                }
            }
        });
        read.push((file.path, file.raw));
    }

    let pending: Vec<(&Package, &Candidate)> = best.values().map(|(p, c)| (*p, c)).collect();
    let listed: Vec<String> = pending
        .iter()
        .take(MAX_LISTED)
        .map(|(p, c)| {
            format!(
                "{} {} {} → {}",
                p.name, p.architecture, p.version, c.version
            )
        })
        .collect();

    let mut evidence: Vec<Evidence> = Vec::new();
    let status_excerpt = pending
        .iter()
        .take(MAX_LISTED)
        .map(|(p, _)| {
            format!(
                "Package: {}\nArchitecture: {}\nVersion: {}",
                p.name, p.architecture, p.version
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n");
    evidence.push(file_evidence(
        dpkg::STATUS_PATH,
        &installed.raw,
        status_excerpt,
    ));
    for (i, (path, raw)) in read.iter().enumerate() {
        let excerpt = pending
            .iter()
            .take(MAX_LISTED)
            .filter(|(_, c)| c.index == i)
            .map(|(p, c)| {
                format!(
                    "Package: {}\nArchitecture: {}\nVersion: {}",
                    p.name, p.architecture, c.version
                )
            })
            .collect::<Vec<_>>()
            .join("\n\n");
        evidence.push(file_evidence(path, raw, excerpt));
    }

    let security_paths: Vec<&str> = read.iter().map(|(p, _)| p.as_str()).collect();
    let result = if pending.is_empty() {
        let summary = if security.is_empty() {
            format!(
                "No security suite is among apt's {} package indexes, so no installed package has a security update pending from one",
                indexes.len()
            )
        } else {
            format!(
                "No installed package has a newer version in the {} security-suite package indexes",
                security.len()
            )
        };
        CheckResult::new(ID, Status::Pass, summary)
    } else {
        CheckResult::new(
            ID,
            Status::Fail,
            format!(
                "{} installed package{} a newer version in a security suite, e.g. {}",
                pending.len(),
                if pending.len() == 1 { " has" } else { "s have" },
                listed.first().map_or("", String::as_str)
            ),
        )
    };
    result
        .fact("pending_count", pending.len())
        .fact("pending", &listed)
        .fact("pending_truncated", pending.len() > MAX_LISTED)
        .fact("installed_count", installed.packages.len())
        .fact("package_index_count", indexes.len())
        .fact("security_indexes", security_paths)
        .fact("unparsable_installed_versions", unparsable)
        .evidences(evidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use std::io::Write;

    const DEBIAN: &str =
        "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
    const SEC: &str =
        "deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages";
    const SEC_I386: &str =
        "deb.debian.org_debian-security_dists_bookworm-security_main_binary-i386_Packages";
    const MAIN: &str = "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages";

    fn stanza(name: &str, arch: &str, version: &str) -> String {
        format!(
            "Package: {name}\nStatus: install ok installed\nArchitecture: {arch}\nVersion: {version}\nDescription: x\n continued\n\n"
        )
    }

    fn index(entries: &[(&str, &str, &str)]) -> String {
        entries
            .iter()
            .map(|(n, a, v)| format!("Package: {n}\nVersion: {v}\nInstalled-Size: 1\nArchitecture: {a}\nDescription: d\n\n"))
            .collect()
    }

    /// A root with os-release, the dpkg status and package indexes (by file name
    /// under `/var/lib/apt/lists`).
    fn root(os: Option<&str>, status: Option<&str>, lists: &[(&str, Vec<u8>)]) -> FakeHost {
        let mut fake = FakeHost::linux();
        if let Some(os) = os {
            fake.add_file("/etc/os-release", os);
        }
        if let Some(status) = status {
            fake.add_file("/var/lib/dpkg/status", status);
        }
        for (name, bytes) in lists {
            fake.add_file(&format!("/var/lib/apt/lists/{name}"), bytes);
        }
        fake
    }

    fn lz4(text: &str) -> Vec<u8> {
        let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn candidates_match_by_name_and_architecture() {
        let status = [
            stanza("libc6", "amd64", "2.36-9+deb12u7"),
            stanza("libc6", "i386", "2.36-9+deb12u7"),
            stanza("tzdata", "all", "2024a-0+deb12u1"),
            stanza("openssl", "amd64", "3.0.15-1~deb12u1"),
            stanza("curl", "amd64", "7.88.1-10+deb12u8"),
            // Removed but config files remain: not installed.
            "Package: bind9\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1:9.18.24-1\n\n".to_owned(),
        ]
        .concat();
        let sec = index(&[
            ("libc6", "amd64", "2.36-9+deb12u9"),
            ("libc6", "amd64", "2.36-9+deb12u8"),
            ("libc6", "amd64", "2.36-9+deb12u10~pre"),
            // tzdata in the index as amd64 does not match the installed `all`.
            ("tzdata", "amd64", "2025a-0+deb12u1"),
            ("openssl", "amd64", "3.0.15-1~deb12u1"),
            ("curl", "amd64", "7.88.1-10+deb12u7"),
            ("bind9", "amd64", "1:9.18.33-1~deb12u2"),
        ]);
        let sec_i386 = index(&[
            ("libc6", "i386", "2.36-9+deb12u8"),
            ("tzdata", "all", "2025a-0+deb12u1"),
        ]);
        // A newer version outside a security suite does not count.
        let main = index(&[("curl", "amd64", "8.0-1")]);
        let fake = root(
            Some(DEBIAN),
            Some(&status),
            &[
                (SEC, sec.into_bytes()),
                (&format!("{SEC_I386}.lz4"), lz4(&sec_i386)),
                (MAIN, main.into_bytes()),
            ],
        );
        let r = fake.run(&SecurityUpdatesPending);
        assert_eq!(r.status, Status::Fail, "{r:?}");
        assert_eq!(r.facts["pending_count"], 3);
        assert_eq!(
            r.facts["pending"],
            serde_json::json!([
                "libc6 amd64 2.36-9+deb12u7 → 2.36-9+deb12u10~pre",
                "libc6 i386 2.36-9+deb12u7 → 2.36-9+deb12u8",
                "tzdata all 2024a-0+deb12u1 → 2025a-0+deb12u1",
            ])
        );
        assert_eq!(r.facts["installed_count"], 5);
        assert_eq!(r.facts["package_index_count"], 3);
        assert_eq!(r.facts["security_indexes"].as_array().unwrap().len(), 2);
        // dpkg status + two security indexes; the main index is not read.
        assert_eq!(r.evidence.len(), 3);
        let Evidence::File { excerpt, .. } = &r.evidence[1] else {
            panic!()
        };
        assert!(
            excerpt.contains("Version: 2.36-9+deb12u10~pre"),
            "{excerpt}"
        );
    }

    #[test]
    fn the_list_is_capped_at_50_but_the_count_is_complete() {
        let names: Vec<String> = (0..60).map(|i| format!("pkg{i:02}")).collect();
        let status: String = names.iter().map(|n| stanza(n, "amd64", "1.0-1")).collect();
        let entries: Vec<(&str, &str, &str)> = names
            .iter()
            .map(|n| (n.as_str(), "amd64", "1.0-1+deb12u1"))
            .collect();
        let fake = root(
            Some(DEBIAN),
            Some(&status),
            &[(SEC, index(&entries).into_bytes())],
        );
        let r = fake.run(&SecurityUpdatesPending);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.facts["pending_count"], 60);
        assert_eq!(r.facts["pending"].as_array().unwrap().len(), 50);
        assert_eq!(r.facts["pending_truncated"], true);
        assert_eq!(r.facts["pending"][49], "pkg49 amd64 1.0-1 → 1.0-1+deb12u1");
    }

    #[test]
    fn up_to_date_hosts_pass() {
        let status = stanza("openssl", "amd64", "3.0.15-1~deb12u1");
        let sec = index(&[
            ("openssl", "amd64", "3.0.15-1~deb12u1"),
            ("openssl", "amd64", "3.0.11-1~deb12u2"),
        ]);
        let fake = root(Some(DEBIAN), Some(&status), &[(SEC, sec.into_bytes())]);
        let r = fake.run(&SecurityUpdatesPending);
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert_eq!(r.facts["pending_count"], 0);
    }

    #[test]
    fn without_a_security_suite_nothing_is_pending_from_one() {
        let status = stanza("curl", "amd64", "1.0");
        let fake = root(
            Some(DEBIAN),
            Some(&status),
            &[(MAIN, index(&[("curl", "amd64", "2.0")]).into_bytes())],
        );
        let r = fake.run(&SecurityUpdatesPending);
        assert_eq!(r.status, Status::Pass);
        assert!(r.summary.contains("No security suite"), "{}", r.summary);
        assert_eq!(r.facts["security_indexes"], serde_json::json!([]));
    }

    #[test]
    fn unknown_without_indexes_or_family() {
        let fake = root(Some(DEBIAN), Some(&stanza("a", "all", "1")), &[]);
        let r = fake.run(&SecurityUpdatesPending);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.unwrap().contains("no package index on disk"));

        let fake = root(
            Some(DEBIAN),
            Some(&stanza("a", "all", "1")),
            &[(
                "deb.debian.org_debian_dists_bookworm_InRelease",
                b"x".to_vec(),
            )],
        );
        let r = fake.run(&SecurityUpdatesPending);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.unwrap().contains("no *_Packages file"));

        let fake = root(
            Some("ID=rocky\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=9.4\n"),
            None,
            &[],
        );
        let r = fake.run(&SecurityUpdatesPending);
        assert_eq!(r.status, Status::Unknown);
        assert!(
            r.reason
                .unwrap()
                .contains("not decidable for this family offline")
        );

        let fake = root(Some("ID=arch\n"), None, &[]);
        assert_eq!(fake.run(&SecurityUpdatesPending).status, Status::Unknown);
    }

    #[test]
    fn a_corrupt_security_index_is_unknown() {
        let fake = root(
            Some(DEBIAN),
            Some(&stanza("a", "all", "1")),
            &[(&format!("{SEC}.xz"), b"not xz".to_vec())],
        );
        let r = fake.run(&SecurityUpdatesPending);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.reason.unwrap().contains("cannot decompress"));
    }
}
