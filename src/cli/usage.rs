//! `mlbench top`: running jobs' CPU and memory against their machine types' limits.

use std::time::Duration;

use mlbench_domain::RuntimeKind;
use mlbench_domain::machine::{fmt_cpus, format_bytes};
use mlbench_engine::jobs::usage::UsageWatch;
use mlbench_engine::{AnyRuntime, Engine};

use super::table;
use crate::Result;

/// Two readings a second apart: CPU is the average over that second.
pub(crate) async fn top(engine: &Engine, json: bool) -> Result<()> {
    let any_docker = engine
        .store
        .live_jobs()?
        .iter()
        .any(|j| j.runtime == RuntimeKind::Docker);
    let docker = if any_docker {
        match AnyRuntime::of(RuntimeKind::Docker, engine).await? {
            AnyRuntime::Docker(docker) => Some(docker),
            AnyRuntime::Local(_) | AnyRuntime::Swarm(_) => None,
        }
    } else {
        None
    };
    let mut watch = UsageWatch::default();
    watch.read(engine, docker.as_ref()).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let usages = watch.read(engine, docker.as_ref()).await?;
    if json {
        return table::print_json(&usages);
    }
    if usages.is_empty() {
        println!("no job is running");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = usages
        .iter()
        .map(|u| {
            vec![
                u.job.to_string(),
                u.project.clone(),
                u.machine.clone(),
                format!(
                    "{} / {}",
                    u.cpus.map_or_else(|| "-".to_string(), |c| format!("{c:.2}")),
                    fmt_cpus(u.cpu_limit)
                ),
                format!(
                    "{} / {}",
                    format_bytes(u.memory_bytes),
                    format_bytes(u.memory_limit)
                ),
                format!("{:.0}%", u.memory_share() * 100.0),
            ]
        })
        .collect();
    table::print(
        &["JOB", "PROJECT", "MACHINE", "VCPU USED", "MEMORY", "MEM%"],
        &rows,
    );
    Ok(())
}
