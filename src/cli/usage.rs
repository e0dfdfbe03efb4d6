//! `mlbench top`: running jobs' CPU and memory against their machine types' limits.

use std::io::IsTerminal;
use std::time::Duration;

use mlbench_domain::RuntimeKind;
use mlbench_domain::machine::{fmt_cpus, format_bytes};
use mlbench_engine::jobs::usage::{JobUsage, UsageWatch};
use mlbench_engine::{AnyRuntime, Engine};
use mlbench_runtime::DockerRuntime;

use super::table;
use crate::Result;

/// Docker, when a live job runs there: its readings come from the engine.
async fn docker_if_needed(engine: &Engine) -> Result<Option<DockerRuntime>> {
    let any_docker = engine
        .store
        .live_jobs()?
        .iter()
        .any(|j| j.runtime == RuntimeKind::Docker);
    if !any_docker {
        return Ok(None);
    }
    Ok(match AnyRuntime::of(RuntimeKind::Docker, engine).await? {
        AnyRuntime::Docker(docker) => Some(docker),
        AnyRuntime::Local(_) | AnyRuntime::Swarm(_) => None,
    })
}

/// Readings a second apart: CPU is the average over that second. Once, or with `watch` until
/// interrupted.
pub(crate) async fn top(engine: &Engine, json: bool, watch: bool) -> Result<()> {
    let mut docker = docker_if_needed(engine).await?;
    let mut readings = UsageWatch::default();
    readings.read(engine, docker.as_ref()).await?;
    let redraw = watch && std::io::stdout().is_terminal();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if docker.is_none() {
            // A Docker job may have started since.
            docker = docker_if_needed(engine).await?;
        }
        let usages = readings.read(engine, docker.as_ref()).await?;
        if redraw {
            // Home and clear, as `docker stats` redraws.
            print!("\x1b[H\x1b[2J");
        }
        if json && watch {
            println!(
                "{}",
                serde_json::to_string(&usages).map_err(|e| crate::Error::Other(e.to_string()))?
            );
        } else if json {
            return table::print_json(&usages);
        } else {
            print_usages(&usages);
        }
        if !watch {
            return Ok(());
        }
        if !redraw {
            println!();
        }
    }
}

fn print_usages(usages: &[JobUsage]) {
    if usages.is_empty() {
        println!("no job is running");
        return;
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
}
