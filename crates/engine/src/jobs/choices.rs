//! What a new experiment can be made of on this host: machine types (with what the host lacks
//! for each), images, and the project's latest training job to start from.

use futures_util::future::LocalBoxFuture;
use mlbench_domain::machine::{fmt_cpus, format_bytes};
use mlbench_runtime::Runtime;

use crate::jobs::{self, Latest};
use crate::{AnyRuntime, Engine, Result, with_runtime};

#[derive(Debug, Clone, PartialEq)]
pub struct MachineChoice {
    pub name: String,
    /// "1 vCPU · 1.70 GiB · 0 GPU"
    pub label: String,
    /// Why this host cannot run it, if it cannot.
    pub unfit: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobChoices {
    pub machines: Vec<MachineChoice>,
    /// Where the job may run, each with what it has free: `local`, the config's engines and
    /// `auto`; none when the config names no engine (the field is not shown).
    pub engines: Vec<EngineChoice>,
    pub engine_row: usize,
    /// The default image first, then the engine's images.
    pub images: Vec<String>,
    /// The project's latest training job (or its sweep), if it has one.
    pub latest: Option<Latest>,
    /// The rows of `machines` and `images` to start on: the latest job's, else the defaults.
    pub machine_row: usize,
    pub image_row: usize,
}

/// An engine as the form offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineChoice {
    pub name: String,
    /// What it has free now, or why it does not answer.
    pub label: String,
}

/// How long the form waits for an engine to say what it has free.
const ENGINE_ANSWER: std::time::Duration = std::time::Duration::from_secs(3);

/// Every engine with what it has free (asked all at once, each for at most [`ENGINE_ANSWER`]),
/// and `auto`; none when the config names no engine.
async fn engine_choices(engine: &Engine) -> Result<Vec<EngineChoice>> {
    if engine.config.engines.is_empty() {
        return Ok(Vec::new());
    }
    let statuses = tokio::time::timeout(ENGINE_ANSWER, crate::engines::list(engine)).await;
    let mut choices: Vec<EngineChoice> = match statuses {
        Ok(statuses) => statuses?
            .into_iter()
            .map(|status| EngineChoice {
                label: match status.answer {
                    crate::engines::Answer::Facts(facts) => format!(
                        "{} vCPU · {} free",
                        fmt_cpus(facts.free.cpus),
                        format_bytes(facts.free.memory_bytes)
                    ),
                    crate::engines::Answer::Error { error } => mlbench_domain::error::brief(&error),
                },
                name: status.name,
            })
            .collect(),
        Err(_) => crate::engines::names(engine)
            .into_iter()
            .map(|name| EngineChoice {
                name,
                label: format!("did not say what it has within {} s", ENGINE_ANSWER.as_secs()),
            })
            .collect(),
    };
    choices.push(EngineChoice {
        name: mlbench_domain::engine::AUTO_ENGINE.into(),
        label: "where the machine type fits now".into(),
    });
    Ok(choices)
}

pub fn job_choices<'a>(
    engine: &'a Engine,
    runtime: &'a AnyRuntime,
    project: &'a str,
) -> LocalBoxFuture<'a, Result<JobChoices>> {
    Box::pin(async move {
        engine.store.require_project(project)?;
        let host = with_runtime!(runtime, rt => rt.capacity().await)?;
        let machines: Vec<MachineChoice> = engine
            .config
            .machines
            .iter()
            .map(|m| MachineChoice {
                name: m.name.clone(),
                label: format!(
                    "{} vCPU · {} · {} GPU",
                    fmt_cpus(m.cpus),
                    format_bytes(m.memory_bytes),
                    m.gpus
                ),
                unfit: m.shortfall(&host),
            })
            .collect();
        let mut images = vec![jobs::default_image(engine)];
        if let AnyRuntime::Docker(docker) = runtime {
            let mut tags: Vec<String> = docker
                .list_images()
                .await?
                .into_iter()
                .flat_map(|i| i.tags)
                .collect();
            // This home's images (its runtime image and the projects' builds) before the rest.
            tags.sort_by_key(|tag| !(tag.starts_with("mlbench/") || tag.starts_with("mlbench-build/")));
            for tag in tags {
                if !images.contains(&tag) {
                    images.push(tag);
                }
            }
        }
        let latest = jobs::latest_training(engine, project)?;
        let latest_spec = match &latest {
            Some(Latest::Job(spec)) => Some(spec),
            Some(Latest::Sweep(sweep)) => Some(&sweep.base),
            None => None,
        };
        let (machine, image) = match latest_spec {
            Some(spec) => {
                if !images.contains(&spec.image) {
                    images.push(spec.image.clone());
                }
                (spec.machine.clone(), spec.image.clone())
            }
            None => (engine.config.default_machine.clone(), images[0].clone()),
        };
        let engines = engine_choices(engine).await?;
        let asked = latest_spec.map_or(mlbench_domain::LOCAL_ENGINE, |spec| spec.engine.as_str());
        Ok(JobChoices {
            engine_row: engines.iter().position(|e| e.name == asked).unwrap_or(0),
            engines,
            machine_row: machines.iter().position(|m| m.name == machine).unwrap_or(0),
            image_row: images.iter().position(|i| *i == image).unwrap_or(0),
            machines,
            images,
            latest,
        })
    })
}
