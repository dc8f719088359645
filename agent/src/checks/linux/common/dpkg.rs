//! dpkg's database of installed packages, `/var/lib/dpkg/status`.

use std::sync::Arc;

use crate::checks::Context;

/// The dpkg status file.
pub const STATUS_PATH: &str = "/var/lib/dpkg/status";

/// One stanza of the status file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub architecture: String,
    pub version: String,
    /// The `Status` field, e.g. `install ok installed`.
    pub status: String,
}

impl Package {
    /// dpkg counts a package as installed when its status is `install ok installed`
    /// (`checks.md`: only those stanzas are installed packages).
    pub fn is_installed(&self) -> bool {
        self.status.split_whitespace().collect::<Vec<_>>() == ["install", "ok", "installed"]
    }
}

/// Parses a dpkg status (or `Packages`) file into its stanzas, keeping `Package`,
/// `Architecture`, `Version` and `Status`. Continuation lines are skipped; a stanza
/// without `Package` is dropped.
pub fn parse_stanzas(text: &str) -> Vec<Package> {
    let mut out = Vec::new();
    let mut cur = Package {
        name: String::new(),
        architecture: String::new(),
        version: String::new(),
        status: String::new(),
    };
    let flush = |cur: &mut Package, out: &mut Vec<Package>| {
        if !cur.name.is_empty() {
            out.push(cur.clone());
        }
        cur.name.clear();
        cur.architecture.clear();
        cur.version.clear();
        cur.status.clear();
    };
    for line in text.lines() {
        if line.trim().is_empty() {
            flush(&mut cur, &mut out);
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "Package" => cur.name = value.to_owned(),
            "Architecture" => cur.architecture = value.to_owned(),
            "Version" => cur.version = value.to_owned(),
            "Status" => cur.status = value.to_owned(),
            _ => {}
        }
    }
    flush(&mut cur, &mut out);
    out
}

/// The installed packages of the host, read once per run.
pub struct Installed {
    /// `install ok installed` stanzas, in file order.
    pub packages: Vec<Package>,
    /// The raw file, for evidence digests.
    pub raw: Vec<u8>,
}

impl Installed {
    pub fn has(&self, name: &str) -> bool {
        self.packages.iter().any(|p| p.name == name)
    }
}

/// The host's dpkg database; `Err` holds why it could not be read (not found:
/// this is not a dpkg host).
pub struct Memo(pub Result<Installed, crate::host::ReadError>);

pub fn get(ctx: &Context<'_>) -> Arc<Memo> {
    ctx.memo(|ctx| {
        Memo(ctx.host.read(STATUS_PATH).map(|raw| {
            let packages = parse_stanzas(&String::from_utf8_lossy(&raw))
                .into_iter()
                .filter(Package::is_installed)
                .collect();
            Installed { packages, raw }
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_installed_stanzas_only() {
        let text = "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\nDescription: x\n continuation Package: no\n\n\
                    Package: b\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 2\n\n\
                    Package: c\nStatus: install ok installed\nArchitecture: all\nVersion: 1:3~rc1\n";
        let all = parse_stanzas(text);
        assert_eq!(all.len(), 3);
        let installed: Vec<_> = all.into_iter().filter(Package::is_installed).collect();
        assert_eq!(installed.len(), 2);
        assert_eq!(installed[1].name, "c");
        assert_eq!(installed[1].architecture, "all");
        assert_eq!(installed[1].version, "1:3~rc1");
    }
}
