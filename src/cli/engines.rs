//! `mlbench engines`: the Docker Engines jobs run on (the local one and those the config names),
//! what each says of itself and holds of this home's jobs; `engines add|rm` write the config.

use mlbench_domain::numfmt::{compact, human_bytes};
use mlbench_engine::Engine;
use mlbench_engine::engines::{self, Answer};

use super::table;
use crate::Result;

pub(crate) async fn list(engine: &Engine, json: bool) -> Result<()> {
    let engines = engines::list(engine).await?;
    if json {
        return table::print_json(&engines);
    }
    let rows: Vec<Vec<String>> = engines
        .iter()
        .map(|e| {
            let jobs = format!("{} running, {} queued", e.running_jobs, e.queued_jobs);
            match &e.answer {
                Answer::Facts(facts) => vec![
                    e.name.clone(),
                    e.address.clone(),
                    format!("answers (Docker {})", facts.docker_version),
                    compact(facts.cpus),
                    human_bytes(facts.memory_bytes),
                    facts.gpus.to_string(),
                    format!(
                        "{} vCPU, {}{}",
                        compact(facts.free.cpus),
                        human_bytes(facts.free.memory_bytes),
                        if facts.gpus > 0 {
                            format!(", {} GPU", facts.free.gpus)
                        } else {
                            String::new()
                        }
                    ),
                    jobs,
                ],
                Answer::Error { error } => vec![
                    e.name.clone(),
                    e.address.clone(),
                    // The row names the engine and its address already: from "does not
                    // answer" on is what this column adds.
                    super::shown::err(
                        error
                            .find("does not answer")
                            .map_or(error.as_str(), |at| &error[at..]),
                    )
                    .into_owned(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    jobs,
                ],
            }
        })
        .collect();
    table::print(
        &[
            "ENGINE", "ADDRESS", "STATE", "VCPU", "MEMORY", "GPUS", "FREE", "JOBS",
        ],
        &rows,
    );
    Ok(())
}

pub(crate) fn add(name: &str, host: &str, ssh_config: Option<&std::path::Path>) -> Result<()> {
    let path = engines::add(name, host, ssh_config)?;
    println!(
        "engine {name} ({host}) added to {}: `mlbench engines` asks it",
        path.display()
    );
    Ok(())
}

pub(crate) fn remove(engine: &Engine, name: &str) -> Result<()> {
    let path = engines::remove(engine, name)?;
    println!("engine {name} removed from {}", path.display());
    Ok(())
}
