//! Pure parsers of the small files the inventory reads.

use std::collections::BTreeSet;

/// `/etc/hostname` (hostname(5)): the first line that is neither empty nor a
/// `#` comment, trimmed. Also fits `/proc/sys/kernel/hostname`.
pub fn hostname(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
}

/// `/etc/machine-id` (machine-id(5)): 32 lowercase hexadecimal characters and a
/// newline. Anything else (empty, `uninitialized` in images awaiting first boot)
/// is no id.
pub fn machine_id(text: &str) -> Option<String> {
    let id = text.trim();
    (id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then(|| id.to_owned())
}

/// A one-value file (`/proc/sys/kernel/osrelease`, `/sys/class/dmi/id/*`):
/// trimmed, `None` when empty.
pub fn single_value(text: &str) -> Option<String> {
    let v = text.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// What `/proc/cpuinfo` says about the processors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuInfo {
    /// Logical CPUs: the number of `processor` entries.
    pub logical: usize,
    /// `model name` (x86), else `Model` (some ARM boards), else `cpu` (POWER).
    pub model: Option<String>,
    /// Distinct (`physical id`, `core id`) pairs, where the kernel gives them.
    pub physical_cores: Option<usize>,
    /// The line numbers (1-based) of the model line, for evidence.
    pub model_line: Option<usize>,
}

/// Parses `/proc/cpuinfo`.
pub fn cpuinfo(text: &str) -> CpuInfo {
    let mut info = CpuInfo::default();
    let mut model_rank = usize::MAX;
    let mut cores: BTreeSet<(String, String)> = BTreeSet::new();
    let mut physical_id: Option<String> = None;
    for (index, line) in text.lines().enumerate() {
        let Some((key, value)) = line.split_once(':') else {
            if line.trim().is_empty() {
                physical_id = None;
            }
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        match key {
            "processor" => info.logical += 1,
            "physical id" => physical_id = Some(value.to_owned()),
            "core id" => {
                if let Some(p) = &physical_id {
                    cores.insert((p.clone(), value.to_owned()));
                }
            }
            _ => {}
        }
        let rank = match key {
            "model name" => 0,
            "Model" => 1,
            "cpu" => 2,
            _ => continue,
        };
        if rank < model_rank && !value.is_empty() {
            model_rank = rank;
            info.model = Some(value.to_owned());
            info.model_line = Some(index + 1);
        }
    }
    info.physical_cores = (!cores.is_empty()).then_some(cores.len());
    info
}

/// `MemTotal:` of `/proc/meminfo`, in bytes (the file counts kibibytes), and its
/// line.
pub fn mem_total(text: &str) -> Option<(u64, String)> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix("MemTotal:")?;
        let mut words = rest.split_whitespace();
        let n: u64 = words.next()?.parse().ok()?;
        let factor = match words.next() {
            Some("kB") | None => 1024,
            Some(_) => return None,
        };
        Some((n.checked_mul(factor)?, line.trim().to_owned()))
    })
}

/// A link-layer address as `/sys/class/net/*/address` writes it: colon-separated
/// pairs of hexadecimal digits (6 for Ethernet, 20 for InfiniBand); lowercased.
pub fn mac(text: &str) -> Option<String> {
    let v = text.trim().to_ascii_lowercase();
    let ok = !v.is_empty()
        && v.split(':')
            .all(|pair| pair.len() == 2 && pair.bytes().all(|b| b.is_ascii_hexdigit()));
    ok.then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hostnames() {
        assert_eq!(hostname("web-01\n"), Some("web-01".to_owned()));
        assert_eq!(
            hostname("# set by installer\n\n  db.example.org  \nignored\n"),
            Some("db.example.org".to_owned())
        );
        assert_eq!(hostname("# only a comment\n"), None);
        assert_eq!(hostname(""), None);
    }

    #[test]
    fn machine_ids() {
        assert_eq!(
            machine_id("4c4c4544004d3510804ac4c04f4d3232\n"),
            Some("4c4c4544004d3510804ac4c04f4d3232".to_owned())
        );
        assert_eq!(machine_id("uninitialized\n"), None);
        assert_eq!(machine_id(""), None);
        assert_eq!(machine_id("4C4C4544004D3510804AC4C04F4D3232"), None);
        assert_eq!(machine_id("4c4c4544004d3510804ac4c04f4d323"), None);
    }

    #[test]
    fn x86_cpuinfo() {
        let text = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz\nphysical id\t: 0\ncore id\t\t: 0\n\n\
                    processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz\nphysical id\t: 0\ncore id\t\t: 0\n\n\
                    processor\t: 2\nmodel name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz\nphysical id\t: 0\ncore id\t\t: 1\n\n";
        let c = cpuinfo(text);
        assert_eq!(c.logical, 3);
        assert_eq!(c.physical_cores, Some(2));
        assert_eq!(
            c.model.as_deref(),
            Some("Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz")
        );
        assert_eq!(c.model_line, Some(3));
    }

    #[test]
    fn arm_and_power_cpuinfo() {
        let arm = "processor\t: 0\nBogoMIPS\t: 108.00\nCPU implementer\t: 0x41\n\nprocessor\t: 1\n\nHardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n";
        let c = cpuinfo(arm);
        assert_eq!(c.logical, 2);
        assert_eq!(c.physical_cores, None);
        assert_eq!(c.model.as_deref(), Some("Raspberry Pi 4 Model B Rev 1.4"));
        let power = "processor\t: 0\ncpu\t\t: POWER9 (raw), altivec supported\n";
        assert_eq!(
            cpuinfo(power).model.as_deref(),
            Some("POWER9 (raw), altivec supported")
        );
    }

    #[test]
    fn meminfo() {
        let text = "MemTotal:       16318508 kB\nMemFree:         1234 kB\n";
        assert_eq!(mem_total(text).unwrap().0, 16318508 * 1024);
        assert_eq!(mem_total(text).unwrap().1, "MemTotal:       16318508 kB");
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total("MemTotal: lots kB\n"), None);
        assert_eq!(mem_total("MemTotal: 18446744073709551615 kB\n"), None);
    }

    #[test]
    fn macs() {
        assert_eq!(
            mac("52:54:00:AB:cd:ef\n"),
            Some("52:54:00:ab:cd:ef".to_owned())
        );
        assert_eq!(
            mac("00:00:00:00:00:00"),
            Some("00:00:00:00:00:00".to_owned())
        );
        assert_eq!(mac(""), None);
        assert_eq!(mac("52:54:00:ab:cd"), Some("52:54:00:ab:cd".to_owned()));
        assert_eq!(mac("5:54:00:ab:cd:ef"), None);
        assert_eq!(mac("zz:54:00:ab:cd:ef"), None);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in "(\\PC|\n|\t|:)*") {
            let _ = hostname(&text);
            let _ = machine_id(&text);
            let _ = single_value(&text);
            let c = cpuinfo(&text);
            prop_assert!(c.physical_cores.unwrap_or(0) <= c.logical.max(text.len()));
            let _ = mem_total(&text);
            let _ = mac(&text);
        }
    }
}
