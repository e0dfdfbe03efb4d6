//! `mlbench project`, `projects` and `machines`.

use mlbench_domain::machine::{fmt_cpus, format_bytes};
use mlbench_engine::{AnyRuntime, Engine, projects};
use serde::Serialize;

use super::table;
use crate::Result;

pub(crate) fn create(engine: &Engine, name: &str) -> Result<()> {
    let storage = projects::create(engine, name)?;
    println!("created project {name} (storage: {})", storage.display());
    Ok(())
}

/// Deletes a project with its jobs' logs and its /storage; `--yes` says the user means it.
pub(crate) async fn remove(engine: &Engine, name: &str, yes: bool) -> Result<()> {
    if !yes {
        let jobs = engine.store.projects()?.into_iter().find(|p| p.name == name);
        let Some(project) = jobs else {
            return Err(crate::Error::NotFound(format!(
                "no project {name}: `mlbench projects` lists them"
            )));
        };
        return Err(crate::Error::Invalid(format!(
            "this deletes project {name}, its {} job(s) with their logs, and its /storage: run `mlbench project rm {name} --yes`",
            project.jobs
        )));
    }
    let removed = projects::remove(engine, name).await?;
    println!(
        "deleted project {name}: {} job(s), {} freed",
        removed.jobs,
        format_bytes(removed.bytes)
    );
    Ok(())
}

pub(crate) fn list(engine: &Engine, json: bool) -> Result<()> {
    let projects = engine.store.projects()?;
    if json {
        return table::print_json(&projects);
    }
    let rows: Vec<Vec<String>> = projects
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.jobs.to_string(),
                p.running.to_string(),
                p.created_at.clone(),
            ]
        })
        .collect();
    table::print(&["NAME", "JOBS", "RUNNING", "CREATED"], &rows);
    Ok(())
}

#[derive(Serialize)]
struct MachineRow<'a> {
    #[serde(flatten)]
    machine: &'a mlbench_domain::MachineType,
    fits: bool,
    why_not: Option<String>,
}

pub(crate) async fn machines(engine: &Engine, json: bool) -> Result<()> {
    let runtime = AnyRuntime::choose(engine, &mut |notice| eprintln!("mlbench: {notice}")).await?;
    let host = runtime.capacity().await?;
    // On a swarm a job must fit one node, not the total.
    let places = match &runtime {
        AnyRuntime::Swarm(swarm) => swarm
            .nodes(None)
            .await?
            .iter()
            .filter(|n| n.takes_jobs())
            .map(|n| mlbench_domain::Capacity {
                cpus: n.cpus,
                memory_bytes: n.memory_bytes,
                gpus: u32::try_from(n.gpus).unwrap_or(0),
            })
            .collect(),
        _ => vec![host],
    };
    let rows: Vec<MachineRow> = engine
        .config
        .machines
        .iter()
        .map(|m| {
            // What the largest place lacks, when no place holds it.
            let why_not = if places.iter().any(|p| m.shortfall(p).is_none()) {
                None
            } else {
                places
                    .iter()
                    .max_by(|a, b| a.cpus.total_cmp(&b.cpus))
                    .map_or_else(|| Some("no node takes jobs".to_string()), |p| m.shortfall(p))
            };
            MachineRow {
                machine: m,
                fits: why_not.is_none(),
                why_not,
            }
        })
        .collect();
    if json {
        return table::print_json(&rows);
    }
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.machine.name.clone(),
                fmt_cpus(r.machine.cpus),
                format_bytes(r.machine.memory_bytes),
                r.machine.gpus.to_string(),
                r.why_not
                    .as_ref()
                    .map_or("yes".to_string(), |w| format!("no: {w}")),
            ]
        })
        .collect();
    let fits = if matches!(runtime, AnyRuntime::Swarm(_)) {
        "FITS A NODE"
    } else {
        "FITS THIS HOST"
    };
    table::print(&["NAME", "VCPU", "MEMORY", "GPU", fits], &table_rows);
    println!(
        "{}: {} vCPU, {}, {} GPU ({})",
        if matches!(runtime, AnyRuntime::Swarm(_)) {
            "swarm, all ready nodes"
        } else {
            "host"
        },
        fmt_cpus(host.cpus),
        format_bytes(host.memory_bytes),
        host.gpus,
        runtime.kind()
    );
    Ok(())
}
