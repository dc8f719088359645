//! `inventory.software` on macOS — ISO/IEC 27002:2022 5.9 Inventory of
//! information and other associated assets, 8.19 Installation of software on
//! operational systems.

use attest_proto::{CheckResult, Status};
use serde_json::json;

use crate::checks::linux::inventory::software::{Package, digest, sort};
use crate::checks::macos::plist as pl;
use crate::checks::macos::prefs;
use crate::checks::{Check, Context, api_evidence, unknown};
use crate::host::{ApiOutput, Host, ReadError, join_path};

/// Installer receipts: one plist per package installed with `installer`.
pub const RECEIPTS_DIR: &str = "/var/db/receipts";
/// Where apps are installed for every user.
pub const APPLICATIONS: &str = "/Applications";
/// The users' home folders (each may have its own `Applications`).
pub const USERS_DIR: &str = "/Users";

/// The most receipts and app bundles listed; past it the list is cut and
/// `capped` says so.
pub const MAX_ITEMS: usize = 20_000;
/// The largest receipt or `Info.plist` read.
pub const MAX_PLIST_BYTES: u64 = 1024 * 1024;
/// The most plist bytes read in one run; past it the list is cut.
pub const MAX_TOTAL_BYTES: u64 = 256 * 1024 * 1024;
/// The bytes of a main executable read for its Mach-O header.
pub const MACHO_HEAD_BYTES: u64 = 8;

/// `PackageIdentifier` and `PackageVersion` of a receipt plist.
pub fn parse_receipt(dict: &plist::Dictionary) -> Option<Package> {
    let name = pl::string(dict, "PackageIdentifier").filter(|s| !s.trim().is_empty())?;
    Some(Package {
        name,
        version: pl::string(dict, "PackageVersion").unwrap_or_default(),
        architecture: String::new(),
    })
}

/// What an app bundle's `Contents/Info.plist` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleInfo {
    /// `CFBundleIdentifier`.
    pub identifier: String,
    /// `CFBundleShortVersionString`, else `CFBundleVersion`, else empty.
    pub version: String,
    /// `CFBundleExecutable`.
    pub executable: Option<String>,
}

pub fn parse_info_plist(dict: &plist::Dictionary) -> Option<BundleInfo> {
    let identifier = pl::string(dict, "CFBundleIdentifier").filter(|s| !s.trim().is_empty())?;
    let version = pl::string(dict, "CFBundleShortVersionString")
        .filter(|s| !s.trim().is_empty())
        .or_else(|| pl::string(dict, "CFBundleVersion"))
        .unwrap_or_default();
    Some(BundleInfo {
        identifier,
        version,
        executable: pl::string(dict, "CFBundleExecutable")
            .filter(|e| !e.is_empty() && !e.contains('/') && e != ".."),
    })
}

const CPU_TYPE_X86_64: u32 = 0x0100_0007;
const CPU_TYPE_ARM64: u32 = 0x0100_000c;
/// The most architectures a fat header may list to be taken for one (Java class
/// files share the magic, with a version number in its place).
const MAX_FAT_ARCHS: u32 = 30;

/// The architecture of a Mach-O file from its first 8 bytes: a thin 64-bit
/// `arm64` or `x86_64`, a fat (universal) binary `universal`, anything else
/// (32-bit, another CPU, not Mach-O, too short) empty.
pub fn macho_arch(head: &[u8]) -> &'static str {
    let (Some(magic), Some(next)) = (
        head.get(0..4),
        head.get(4..8).and_then(|b| <[u8; 4]>::try_from(b).ok()),
    ) else {
        return "";
    };
    let cpu = match magic {
        [0xca, 0xfe, 0xba, 0xbe | 0xbf] => {
            let n = u32::from_be_bytes(next);
            return if (1..=MAX_FAT_ARCHS).contains(&n) {
                "universal"
            } else {
                ""
            };
        }
        // MH_MAGIC_64 as written by a little-endian or a big-endian machine.
        [0xcf, 0xfa, 0xed, 0xfe] => u32::from_le_bytes(next),
        [0xfe, 0xed, 0xfa, 0xcf] => u32::from_be_bytes(next),
        _ => return "",
    };
    match cpu {
        CPU_TYPE_ARM64 => "arm64",
        CPU_TYPE_X86_64 => "x86_64",
        _ => "",
    }
}

/// The list, and what limited it.
#[derive(Debug)]
struct Listing {
    /// [`MAX_ITEMS`], smaller in tests.
    max_items: usize,
    packages: Vec<Package>,
    receipts: usize,
    bundles: usize,
    capped: Option<String>,
    unreadable: Vec<String>,
    /// Bytes of plists read so far.
    bytes: u64,
}

impl Listing {
    fn new(max_items: usize) -> Self {
        Listing {
            max_items,
            packages: Vec::new(),
            receipts: 0,
            bundles: 0,
            capped: None,
            unreadable: Vec::new(),
            bytes: 0,
        }
    }

    fn full(&mut self) -> bool {
        if self.capped.is_some() {
            return true;
        }
        if self.packages.len() >= self.max_items {
            self.capped = Some(format!(
                "the cap of {} receipts and app bundles was reached",
                self.max_items
            ));
        } else if self.bytes >= MAX_TOTAL_BYTES {
            self.capped = Some(format!(
                "the cap of {MAX_TOTAL_BYTES} bytes of plists was reached"
            ));
        }
        self.capped.is_some()
    }

    /// A plist's top dictionary, bounded; problems are recorded.
    fn plist(&mut self, host: &Host, path: &str) -> Option<plist::Dictionary> {
        match host.metadata(path) {
            Ok(m) if m.len() > MAX_PLIST_BYTES => {
                self.unreadable
                    .push(format!("{path}: larger than {MAX_PLIST_BYTES} bytes"));
                return None;
            }
            Ok(_) => {}
            Err(e) => {
                self.unreadable.push(e.to_string());
                return None;
            }
        }
        match prefs::read_dict(host, path) {
            Ok(Some((bytes, dict))) => {
                self.bytes += bytes.len() as u64;
                Some(dict)
            }
            Ok(None) => None,
            Err(e) => {
                self.unreadable.push(e.to_string());
                None
            }
        }
    }

    fn receipts(&mut self, host: &Host) -> Result<(), ReadError> {
        for name in host.list_dir(RECEIPTS_DIR)? {
            if self.full() {
                return Ok(());
            }
            if !name.ends_with(".plist") {
                continue;
            }
            let path = join_path(RECEIPTS_DIR, &name);
            if let Some(p) = self.plist(host, &path).as_ref().and_then(parse_receipt) {
                self.packages.push(p);
                self.receipts += 1;
            }
        }
        Ok(())
    }

    fn bundle(&mut self, host: &Host, app: &str) {
        let info = join_path(app, "Contents/Info.plist");
        let Some(bundle) = self.plist(host, &info).as_ref().and_then(parse_info_plist) else {
            return;
        };
        let architecture = bundle
            .executable
            .as_ref()
            .map(|exe| join_path(app, &format!("Contents/MacOS/{exe}")))
            .and_then(|path| host.read_head(&path, MACHO_HEAD_BYTES).ok())
            .map_or("", |head| macho_arch(&head));
        self.packages.push(Package {
            name: bundle.identifier,
            version: bundle.version,
            architecture: architecture.to_owned(),
        });
        self.bundles += 1;
    }

    /// The `.app` bundles of `dir` and of its folders (depth ≤ 2); a bundle is not
    /// looked into for more.
    fn applications(&mut self, host: &Host, dir: &str) -> Result<(), ReadError> {
        for name in host.list_dir(dir)? {
            if self.full() {
                return Ok(());
            }
            let path = join_path(dir, &name);
            if !host.is_dir(&path) {
                continue;
            }
            if name.ends_with(".app") {
                self.bundle(host, &path);
                continue;
            }
            let Ok(inner) = host.list_dir(&path) else {
                continue;
            };
            for name in inner {
                if self.full() {
                    return Ok(());
                }
                let app = join_path(&path, &name);
                if name.ends_with(".app") && host.is_dir(&app) {
                    self.bundle(host, &app);
                }
            }
        }
        Ok(())
    }
}

/// Lists installed software (status `info`), `source: macos`:
///
/// - installer receipts `/var/db/receipts/*.plist`: `PackageIdentifier` as the
///   name, `PackageVersion`, no architecture;
/// - app bundles at depth 1 or 2 of `/Applications` and `/Users/*/Applications`
///   (`X.app`, `Folder/X.app`; a bundle is not looked into):
///   `Contents/Info.plist` `CFBundleIdentifier` as the name,
///   `CFBundleShortVersionString` else `CFBundleVersion`, and the architecture of
///   `Contents/MacOS/<CFBundleExecutable>` from its first 8 bytes ([`macho_arch`]).
///   Apple's own apps on the sealed system volume (`/System/Applications`) are
///   left out.
///
/// Bounded: at most [`MAX_ITEMS`] entries, plists of at most [`MAX_PLIST_BYTES`]
/// each and [`MAX_TOTAL_BYTES`] in all; when cut, `capped` says why and the summary
/// says so. The SHA-256 is the Linux inventory's (sorted `NAME TAB VERSION TAB
/// ARCHITECTURE LF` lines). A plist that cannot be read or parsed is listed in
/// `unreadable` and left out; unknown when neither the receipts nor
/// `/Applications` can be listed.
///
/// Facts: `source`, `count`, `sha256`, `packages`, `receipts`, `bundles`,
/// `capped` (null or why), `unreadable`.
pub struct MacInventorySoftware;

impl Check for MacInventorySoftware {
    fn id(&self) -> &'static str {
        "inventory.software"
    }

    fn run(&self, ctx: &Context<'_>) -> CheckResult {
        self.list(ctx, MAX_ITEMS)
    }
}

impl MacInventorySoftware {
    fn list(&self, ctx: &Context<'_>, max_items: usize) -> CheckResult {
        let host = ctx.host;
        let mut list = Listing::new(max_items);
        let receipts = list.receipts(host);
        let apps = list.applications(host, APPLICATIONS);
        if let (Err(r), Err(a)) = (&receipts, &apps) {
            return unknown(self.id(), format!("nothing can be listed: {r}; {a}"));
        }
        for e in [receipts.err(), apps.err()].into_iter().flatten() {
            if !e.is_not_found() {
                list.unreadable.push(e.to_string());
            }
        }
        match host.list_dir(USERS_DIR) {
            Ok(users) => {
                for user in users {
                    let dir = format!("{USERS_DIR}/{user}/Applications");
                    if host.is_dir(&dir)
                        && let Err(e) = list.applications(host, &dir)
                    {
                        list.unreadable.push(e.to_string());
                    }
                }
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => list.unreadable.push(e.to_string()),
        }
        sort(&mut list.packages);
        let digest = digest(&list.packages);
        let mut summary = format!(
            "{} items are installed ({} installer receipts, {} app bundles); the sorted list \
             hashes to {digest}",
            list.packages.len(),
            list.receipts,
            list.bundles
        );
        if let Some(why) = &list.capped {
            summary.push_str(&format!("; the list is cut: {why}"));
        }
        let listing = ApiOutput {
            name: format!(
                "{RECEIPTS_DIR}/*.plist and {APPLICATIONS}, {USERS_DIR}/*/Applications app \
                 bundles (Contents/Info.plist)"
            ),
            value: json!(list.packages),
        };
        let evidence = api_evidence(
            &listing,
            format!("{} receipts, {} app bundles", list.receipts, list.bundles),
        );
        CheckResult::new(self.id(), Status::Info, summary)
            .fact("source", "macos")
            .fact(attest_proto::facts::SOFTWARE_COUNT, list.packages.len())
            .fact("sha256", &digest)
            .fact("packages", &list.packages)
            .fact("receipts", list.receipts)
            .fact("bundles", list.bundles)
            .fact("capped", &list.capped)
            .fact("unreadable", &list.unreadable)
            .evidence(evidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::macos::prefs::tests::{binary, xml};
    use crate::host::fake::FakeHost;
    use plist::Value;

    fn s(v: &str) -> Value {
        Value::String(v.to_owned())
    }

    /// A thin 64-bit Mach-O header (little-endian, as Apple's toolchains write).
    fn thin(cpu: u32) -> Vec<u8> {
        let mut b = vec![0xcf, 0xfa, 0xed, 0xfe];
        b.extend(cpu.to_le_bytes());
        b.extend(3u32.to_le_bytes()); // cpusubtype
        b.extend([0u8; 64]);
        b
    }

    /// A fat header with `n` architectures (big-endian).
    fn fat(n: u32) -> Vec<u8> {
        let mut b = vec![0xca, 0xfe, 0xba, 0xbe];
        b.extend(n.to_be_bytes());
        b.extend(CPU_TYPE_X86_64.to_be_bytes());
        b.extend([0u8; 64]);
        b
    }

    #[test]
    fn mach_o_headers_give_the_architecture() {
        assert_eq!(macho_arch(&thin(CPU_TYPE_ARM64)), "arm64");
        assert_eq!(macho_arch(&thin(CPU_TYPE_X86_64)), "x86_64");
        assert_eq!(macho_arch(&fat(2)), "universal");
        let mut fat64 = fat(2);
        fat64[3] = 0xbf;
        assert_eq!(macho_arch(&fat64), "universal");
        // Big-endian thin header.
        let mut be = vec![0xfe, 0xed, 0xfa, 0xcf];
        be.extend(CPU_TYPE_ARM64.to_be_bytes());
        assert_eq!(macho_arch(&be), "arm64");
        // 32-bit i386, a PowerPC 64, a Java class file (major 52), a script, too short.
        let mut i386 = vec![0xce, 0xfa, 0xed, 0xfe];
        i386.extend(7u32.to_le_bytes());
        assert_eq!(macho_arch(&i386), "");
        assert_eq!(macho_arch(&thin(0x0100_0012)), "");
        assert_eq!(macho_arch(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52 + 100]), "");
        assert_eq!(macho_arch(b"#!/bin/sh\nexec x\n"), "");
        assert_eq!(macho_arch(&[0xcf, 0xfa, 0xed]), "");
    }

    fn info(id: &str, short: Option<&str>, version: &str, exe: &str) -> Vec<u8> {
        let mut e = vec![
            ("CFBundleIdentifier", s(id)),
            ("CFBundleVersion", s(version)),
            ("CFBundleExecutable", s(exe)),
            ("CFBundleName", s("Some App")),
        ];
        if let Some(v) = short {
            e.push(("CFBundleShortVersionString", s(v)));
        }
        xml(&e)
    }

    fn mac() -> FakeHost {
        FakeHost::macos()
            .link("/var", "private/var")
            .file(
                "/private/var/db/receipts/com.apple.pkg.CLTools_Executables.plist",
                binary(&[
                    ("PackageIdentifier", s("com.apple.pkg.CLTools_Executables")),
                    ("PackageVersion", s("16.0.0.0.1.1724870825")),
                    ("InstallPrefixPath", s("/")),
                ]),
            )
            .file(
                "/private/var/db/receipts/com.apple.pkg.CLTools_Executables.bom",
                "BOMStore",
            )
            .file(
                "/Applications/Firefox.app/Contents/Info.plist",
                info(
                    "org.mozilla.firefox",
                    Some("133.0"),
                    "13324.11.25",
                    "firefox",
                ),
            )
            .file("/Applications/Firefox.app/Contents/MacOS/firefox", fat(2))
            .file(
                "/Applications/Utilities/Tool.app/Contents/Info.plist",
                binary(&[
                    ("CFBundleIdentifier", s("com.example.tool")),
                    ("CFBundleVersion", s("42")),
                    ("CFBundleExecutable", s("Tool")),
                ]),
            )
            .file(
                "/Applications/Utilities/Tool.app/Contents/MacOS/Tool",
                thin(CPU_TYPE_ARM64),
            )
            .file(
                "/Users/alice/Applications/Old.app/Contents/Info.plist",
                info("com.example.old", None, "1.2", "Old"),
            )
            .file(
                "/Users/alice/Applications/Old.app/Contents/MacOS/Old",
                thin(CPU_TYPE_X86_64),
            )
            // Depth 3 is not looked at, nor bundles inside a bundle.
            .file(
                "/Applications/A/B/Deep.app/Contents/Info.plist",
                info("com.example.deep", Some("1"), "1", "Deep"),
            )
            .file(
                "/Applications/Firefox.app/Contents/Helpers/Inner.app/Contents/Info.plist",
                info("com.example.inner", Some("1"), "1", "Inner"),
            )
            .dir("/Users/bob")
    }

    #[test]
    fn receipts_and_bundles_are_listed_with_the_linux_digest() {
        let r = mac().run(&MacInventorySoftware);
        assert_eq!(r.status, Status::Info, "{r:?}");
        assert_eq!(r.facts["source"], "macos");
        assert_eq!(r.facts["count"], 4);
        assert_eq!(r.facts["receipts"], 1);
        assert_eq!(r.facts["bundles"], 3);
        assert_eq!(
            r.facts["packages"],
            json!([
                {"name": "com.apple.pkg.CLTools_Executables", "version": "16.0.0.0.1.1724870825", "architecture": ""},
                {"name": "com.example.old", "version": "1.2", "architecture": "x86_64"},
                {"name": "com.example.tool", "version": "42", "architecture": "arm64"},
                {"name": "org.mozilla.firefox", "version": "133.0", "architecture": "universal"},
            ])
        );
        let lines = "com.apple.pkg.CLTools_Executables\t16.0.0.0.1.1724870825\t\n\
                     com.example.old\t1.2\tx86_64\n\
                     com.example.tool\t42\tarm64\n\
                     org.mozilla.firefox\t133.0\tuniversal\n";
        assert_eq!(r.facts["sha256"], crate::checks::sha256(lines.as_bytes()));
        assert!(r.facts["capped"].is_null());
        assert_eq!(r.facts["unreadable"], json!([]));
    }

    #[test]
    fn unreadable_plists_are_listed_and_left_out() {
        let r = mac()
            .file(
                "/Applications/Broken.app/Contents/Info.plist",
                "not a plist",
            )
            .deny("/Users/alice/Applications/Old.app/Contents/Info.plist")
            .run(&MacInventorySoftware);
        assert_eq!(r.facts["count"], 3);
        let u = r.facts["unreadable"].to_string();
        assert!(
            u.contains("Broken.app/Contents/Info.plist: not a valid plist"),
            "{u}"
        );
        assert!(
            u.contains("Old.app/Contents/Info.plist: permission denied"),
            "{u}"
        );
        assert!(!u.contains("not a plist\""), "content is never quoted: {u}");
    }

    #[test]
    fn nothing_listable_is_unknown_and_a_big_plist_is_skipped() {
        let r = FakeHost::macos()
            .file(RECEIPTS_DIR, "not a dir")
            .file(APPLICATIONS, "not a dir")
            .run(&MacInventorySoftware);
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        let r = mac()
            .file(
                "/Applications/Huge.app/Contents/Info.plist",
                vec![b' '; MAX_PLIST_BYTES as usize + 1],
            )
            .run(&MacInventorySoftware);
        assert_eq!(r.facts["count"], 4);
        assert!(
            r.facts["unreadable"].to_string().contains("larger than"),
            "{r:?}"
        );
    }

    #[test]
    fn the_list_is_capped_and_says_so() {
        let mut list = Listing {
            bytes: MAX_TOTAL_BYTES,
            ..Listing::new(MAX_ITEMS)
        };
        assert!(list.full());
        assert!(list.capped.as_deref().unwrap().contains("bytes of plists"));
        // Through the check, with a cap of 2: the receipt and one bundle.
        let host = mac().host();
        let thresholds = crate::checks::Thresholds::default();
        let ctx = Context::new(&host, crate::host::fake::default_now(), &thresholds);
        let r = MacInventorySoftware.list(&ctx, 2);
        assert_eq!(r.facts["count"], 2, "{r:?}");
        assert_eq!(
            r.facts["capped"], "the cap of 2 receipts and app bundles was reached",
            "{r:?}"
        );
        assert!(r.summary.contains("the list is cut"), "{}", r.summary);
    }
}
