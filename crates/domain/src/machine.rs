//! Machine types: the CPU, memory and GPU limits a job runs with, modelled on Gradient's.

use serde::Serialize;

use crate::Error;

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MachineType {
    pub name: String,
    pub cpus: f64,
    pub memory_bytes: u64,
    pub gpus: u32,
    /// Processes and threads a job may have at once: a fork bomb stops here, not at the host.
    pub pids: u32,
}

/// The PIDs limit of a machine type that names none: far above what training code starts,
/// far below what would take the host down.
pub const DEFAULT_PIDS: u32 = 2048;

/// What a host offers, or what running jobs hold of it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Capacity {
    pub cpus: f64,
    pub memory_bytes: u64,
    pub gpus: u32,
}

impl Capacity {
    pub(crate) fn plus(self, machine: &MachineType) -> Capacity {
        Capacity {
            cpus: self.cpus + machine.cpus,
            memory_bytes: self.memory_bytes + machine.memory_bytes,
            gpus: self.gpus + machine.gpus,
        }
    }
}

fn builtin(name: &str, cpus: f64, memory_bytes: u64, gpus: u32) -> MachineType {
    MachineType {
        name: name.to_string(),
        cpus,
        memory_bytes,
        gpus,
        pids: DEFAULT_PIDS,
    }
}

/// The built-in catalogue; users add their own types in the config file.
pub fn builtin_catalogue() -> Vec<MachineType> {
    vec![
        builtin("G1", 1.0, 1741 * MIB, 0),
        builtin("C3", 2.0, 2 * GIB, 0),
        builtin("C4", 2.0, 4 * GIB, 0),
        builtin("C5", 4.0, 8 * GIB, 0),
        builtin("C6", 8.0, 16 * GIB, 0),
        builtin("C7", 12.0, 30 * GIB, 0),
        builtin("P4000", 8.0, 30 * GIB, 1),
        builtin("P5000", 8.0, 30 * GIB, 1),
        builtin("RTX4000", 8.0, 30 * GIB, 1),
        builtin("V100", 8.0, 30 * GIB, 1),
        builtin("A100", 12.0, 90 * GIB, 1),
    ]
}

impl MachineType {
    /// Says what the host lacks to run this type at all, or `None` when it fits.
    pub fn shortfall(&self, host: &Capacity) -> Option<String> {
        let mut missing = Vec::new();
        if self.cpus > host.cpus + 1e-9 {
            missing.push(format!(
                "{} vCPU (host has {})",
                fmt_cpus(self.cpus),
                fmt_cpus(host.cpus)
            ));
        }
        if self.memory_bytes > host.memory_bytes {
            missing.push(format!(
                "{} memory (host has {})",
                format_bytes(self.memory_bytes),
                format_bytes(host.memory_bytes)
            ));
        }
        if self.gpus > host.gpus {
            missing.push(format!("{} GPU (host has {})", self.gpus, host.gpus));
        }
        (!missing.is_empty()).then(|| format!("needs {}", missing.join(", ")))
    }
}

impl MachineType {
    /// Why this type does not fit beside the jobs holding capacity (job id, its type), naming
    /// what it waits for, what is free, and who holds the rest; `None` when it fits.
    pub fn waits_for(&self, holders: &[(i64, &MachineType)], host: &Capacity) -> Option<String> {
        let held = holders.iter().fold(Capacity::default(), |c, (_, m)| c.plus(m));
        let holding = |amount: &dyn Fn(&MachineType) -> String, has: &dyn Fn(&MachineType) -> bool| {
            let named: Vec<String> = holders
                .iter()
                .filter(|(_, m)| has(m))
                .map(|(id, m)| format!("job {id} holds {}", amount(m)))
                .collect();
            if named.is_empty() {
                String::new()
            } else {
                format!(", {}", named.join(", "))
            }
        };
        if self.cpus > host.cpus - held.cpus + 1e-9 {
            return Some(format!(
                "waits for {} vCPU: {} free{}",
                fmt_cpus(self.cpus),
                fmt_cpus((host.cpus - held.cpus).max(0.0)),
                holding(&|m| fmt_cpus(m.cpus), &|m| m.cpus > 0.0)
            ));
        }
        if self.memory_bytes > host.memory_bytes.saturating_sub(held.memory_bytes) {
            return Some(format!(
                "waits for {} memory: {} free{}",
                format_bytes(self.memory_bytes),
                format_bytes(host.memory_bytes.saturating_sub(held.memory_bytes)),
                holding(&|m| format_bytes(m.memory_bytes), &|m| m.memory_bytes > 0)
            ));
        }
        if self.gpus > host.gpus.saturating_sub(held.gpus) {
            return Some(format!(
                "waits for {} GPU: {} free{}",
                self.gpus,
                host.gpus.saturating_sub(held.gpus),
                holding(&|m| m.gpus.to_string(), &|m| m.gpus > 0)
            ));
        }
        None
    }
}

/// The GPUs (by index) a job of `want` GPUs gets: the lowest that no other job holds, so two
/// trials of a sweep never share a device. `None` when too few are free.
pub fn pick_devices(held: &[u32], host_gpus: u32, want: u32) -> Option<Vec<u32>> {
    let free: Vec<u32> = (0..host_gpus)
        .filter(|d| !held.contains(d))
        .take(want as usize)
        .collect();
    (free.len() == want as usize).then_some(free)
}

pub fn fmt_cpus(cpus: f64) -> String {
    if cpus.fract() == 0.0 {
        format!("{cpus:.0}")
    } else {
        format!("{cpus}")
    }
}

pub fn format_bytes(bytes: u64) -> String {
    if bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else if bytes >= GIB {
        format!("{:.2} GiB", bytes as f64 / GIB as f64)
    } else {
        format!("{} MiB", bytes / MIB)
    }
}

/// Parses sizes such as `512MiB`, `1.7GiB`, `2G` or a plain byte count.
pub fn parse_bytes(text: &str) -> Result<u64, Error> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let value: f64 = number.parse().map_err(|_| {
        Error::Invalid(format!(
            "size {text:?} is not a number with a unit such as 512MiB or 2GiB"
        ))
    })?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1u64,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => MIB,
        "g" | "gb" | "gib" => GIB,
        other => {
            return Err(Error::Invalid(format!(
                "size unit {other:?} in {text:?} is unknown: use KiB, MiB or GiB"
            )));
        }
    };
    let bytes = (value * scale as f64).round();
    if bytes >= u64::MAX as f64 {
        return Err(Error::Invalid(format!("size {text:?} is too large")));
    }
    if bytes < 1.0 {
        return Err(Error::Invalid(format!("size {text:?} must be above zero")));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Capacity {
        Capacity {
            cpus: 2.0,
            memory_bytes: 8 * GIB,
            gpus: 0,
        }
    }

    #[test]
    fn shortfall_names_every_missing_resource() {
        let cat = builtin_catalogue();
        let find = |n: &str| cat.iter().find(|m| m.name == n).unwrap().clone();
        assert_eq!(find("G1").shortfall(&host()), None);
        assert_eq!(
            find("P4000").shortfall(&host()).unwrap(),
            "needs 8 vCPU (host has 2), 30 GiB memory (host has 8 GiB), 1 GPU (host has 0)"
        );
    }

    #[test]
    fn each_job_gets_gpus_no_other_holds() {
        assert_eq!(pick_devices(&[], 2, 1), Some(vec![0]));
        assert_eq!(pick_devices(&[0], 2, 1), Some(vec![1]));
        assert_eq!(pick_devices(&[1], 4, 2), Some(vec![0, 2]));
        assert_eq!(pick_devices(&[0, 1], 2, 1), None);
        assert_eq!(pick_devices(&[], 0, 0), Some(vec![]));
    }

    #[test]
    fn capacity_is_shared_by_running_jobs_and_a_wait_says_who_holds_it() {
        let cat = builtin_catalogue();
        let (g1, c3) = (&cat[0], cat.iter().find(|m| m.name == "C3").unwrap());
        let host = Capacity {
            cpus: 2.0,
            memory_bytes: 8 * GIB,
            gpus: 0,
        };
        assert_eq!(g1.waits_for(&[(1, g1)], &host), None);
        assert_eq!(
            g1.waits_for(&[(1, g1), (4, g1)], &host).as_deref(),
            Some("waits for 1 vCPU: 0 free, job 1 holds 1, job 4 holds 1")
        );
        assert_eq!(
            c3.waits_for(&[(2, g1)], &host).as_deref(),
            Some("waits for 2 vCPU: 1 free, job 2 holds 1")
        );
        let small = Capacity {
            cpus: 8.0,
            memory_bytes: 3 * GIB,
            gpus: 0,
        };
        assert_eq!(
            c3.waits_for(&[(2, g1)], &small).as_deref(),
            Some("waits for 2 GiB memory: 1.30 GiB free, job 2 holds 1.70 GiB")
        );
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_bytes("512MiB").unwrap(), 512 * MIB);
        assert_eq!(parse_bytes("2G").unwrap(), 2 * GIB);
        assert_eq!(parse_bytes("1.5 GiB").unwrap(), 3 * GIB / 2);
        assert!(
            parse_bytes("12 parsecs")
                .unwrap_err()
                .to_string()
                .contains("unknown")
        );
        assert!(parse_bytes("0MiB").is_err());
        assert_eq!(format_bytes(2 * GIB), "2 GiB");
        assert_eq!(format_bytes(1741 * MIB), "1.70 GiB");
    }
}
