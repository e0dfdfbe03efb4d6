//! What a live job uses right now, read from its runtime: the CPU time it has had so far and
//! the memory it holds. Rates come from two readings (the engine's `usage` module).

use std::time::Instant;

use bollard::Docker;
use bollard::query_parameters::StatsOptionsBuilder;
use futures_util::StreamExt;

use crate::Result;

/// One reading of a job's use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// CPU time used since the job started, in nanoseconds.
    pub cpu_ns: u64,
    /// Memory held, without the page cache the kernel can drop (what counts toward an OOM kill).
    pub memory_bytes: u64,
    pub at: Instant,
}

/// One reading from the engine's stats API (`one-shot`: no second sample waited for).
pub(crate) async fn of_container(docker: &Docker, container: &str) -> Result<Option<Usage>> {
    let options = StatsOptionsBuilder::default()
        .stream(false)
        .one_shot(true)
        .build();
    let Some(stats) = docker.stats(container, Some(options)).next().await else {
        return Ok(None);
    };
    let stats = match stats {
        Ok(stats) => stats,
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let cpu_ns = stats
        .cpu_stats
        .and_then(|c| c.cpu_usage)
        .and_then(|u| u.total_usage)
        .unwrap_or(0);
    let memory = stats.memory_stats.unwrap_or_default();
    // As `docker stats` counts it: usage less the inactive page cache (cgroup v2 and v1 names).
    let cache = memory
        .stats
        .as_ref()
        .and_then(|s| {
            s.get("inactive_file")
                .or_else(|| s.get("total_inactive_file"))
                .copied()
        })
        .unwrap_or(0);
    Ok(Some(Usage {
        cpu_ns,
        memory_bytes: memory.usage.unwrap_or(0).saturating_sub(cache),
        at: Instant::now(),
    }))
}

/// One reading of a local job: the processes of its group (the job leads it), from /proc.
pub(crate) fn of_process_group(leader: i32) -> Option<Usage> {
    let ticks = clock_ticks_per_second();
    let page = page_size();
    let mut found = false;
    let (mut cpu_ticks, mut rss_pages) = (0u64, 0u64);
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After the command name (which may hold spaces): state is field 3, pgrp 5, utime
        // 14, stime 15, rss 24.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        // A zombie has ended: what it used is no longer held.
        let zombie = fields.first().is_some_and(|state| matches!(*state, "Z" | "X"));
        if zombie || fields.get(2).and_then(|f| f.parse::<i32>().ok()) != Some(leader) {
            continue;
        }
        found = true;
        cpu_ticks += field(14) + field(15);
        rss_pages += field(24);
    }
    found.then(|| Usage {
        cpu_ns: cpu_ticks * 1_000_000_000 / ticks.max(1),
        memory_bytes: rss_pages * page,
        at: Instant::now(),
    })
}

#[allow(unsafe_code)] // sysconf has no safe wrapper in std
fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf takes a constant and reads no memory of ours.
    u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap_or(100)
}

#[allow(unsafe_code)] // sysconf has no safe wrapper in std
fn page_size() -> u64 {
    // SAFETY: as above.
    u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_group_is_read_from_proc() {
        use std::os::unix::process::CommandExt;
        // A child leading a group of its own, busy for a moment.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 5"])
            .process_group(0)
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(400));
        let pid = i32::try_from(child.id()).unwrap();
        let usage = of_process_group(pid).unwrap();
        assert!(pid > 1);
        // SAFETY: kill(2) with plain integers; the group is the child's own.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(-pid, libc::SIGKILL)
        };
        child.wait().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(usage.cpu_ns > 0 && usage.memory_bytes > 0, "{usage:?}");
        assert_eq!(of_process_group(pid), None, "a gone group has no use");
    }
}
