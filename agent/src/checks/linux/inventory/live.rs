//! Hardware facts of the running machine through `sysinfo`, for a live host only.
//! Only what the inventory needs is refreshed (the CPU list, RAM, the network
//! interfaces): never processes or disks, which would cost far more than the
//! whole collection may take.

use sysinfo::{CpuRefreshKind, MemoryRefreshKind, Networks, System};

use super::host::{Cpu, Hardware, Interface};

/// CPUs, memory and network interfaces of this machine.
pub fn hardware() -> Hardware {
    let mut sys = System::new();
    sys.refresh_cpu_list(CpuRefreshKind::nothing());
    sys.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
    let cpus = sys.cpus();
    let cpu = (!cpus.is_empty()).then(|| Cpu {
        logical: cpus.len(),
        physical_cores: System::physical_core_count(),
        model: cpus
            .first()
            .map(|c| c.brand().trim().to_owned())
            .filter(|m| !m.is_empty()),
    });
    let memory = sys.total_memory();
    let networks = Networks::new_with_refreshed_list();
    let mut interfaces: Vec<Interface> = networks
        .iter()
        .map(|(name, data)| Interface {
            name: name.clone(),
            mac: Some(data.mac_address().to_string()),
        })
        .collect();
    interfaces.sort_by(|a, b| a.name.cmp(&b.name));
    Hardware {
        source: "sysinfo",
        cpu,
        memory_bytes: (memory > 0).then_some(memory),
        interfaces: Some(interfaces),
        evidence: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_has_cpus_and_memory() {
        let hw = hardware();
        let cpu = hw.cpu.unwrap();
        assert!(cpu.logical >= 1);
        assert!(hw.memory_bytes.unwrap() > 0);
        let names: Vec<_> = hw
            .interfaces
            .unwrap()
            .iter()
            .map(|i| i.name.clone())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }
}
