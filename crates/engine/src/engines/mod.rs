//! Engines: the Docker Engines jobs run on. `local` is the one `DOCKER_HOST` names, beside this
//! machine's files; the others are named in the config (`[engines.NAME]`) and are remote: a
//! job's image, code and storage reach them through the Engine API. Here: connecting to one by
//! name, what each has and holds (`mlbench engines`), and where a new job goes (`placement`).

pub mod placement;

use futures_util::future::LocalBoxFuture;
use mlbench_config::EngineEntry;
use mlbench_domain::{Capacity, EngineAddress, FromIo, LOCAL_ENGINE};
use mlbench_runtime::ssh::SshLink;
use mlbench_runtime::{DockerRuntime, NamedEngine, Runtime};
use serde::Serialize;

use crate::{AnyRuntime, Engine, Error, Result};

/// How mlbench reaches the engine the config names `entry`.
pub(crate) fn named(engine: &Engine, entry: &EngineEntry) -> NamedEngine {
    let link = matches!(entry.address, EngineAddress::Ssh { .. }).then(|| {
        SshLink::new(
            &entry.name,
            entry.address.clone(),
            entry.ssh_config.clone(),
            &entry.socket,
            &engine.home.engine_dir(&entry.name),
        )
    });
    NamedEngine {
        name: entry.name.clone(),
        address: entry.address.clone(),
        link,
        tls: entry
            .tls
            .as_ref()
            .map(|tls| [tls.ca.clone(), tls.cert.clone(), tls.key.clone()]),
    }
}

/// A client of the engine called `name`: `local`, or one the config names.
pub fn connect<'a>(engine: &'a Engine, name: &'a str) -> LocalBoxFuture<'a, Result<DockerRuntime>> {
    Box::pin(async move {
        let cache = Some(engine.home.engine_capacity_cache(name));
        match engine.config.engine(name)? {
            None => DockerRuntime::connect(cache)
                .await
                .map_err(|err| Error::DockerUnavailable {
                    address: DockerRuntime::address(),
                    reason: mlbench_domain::error::brief(&err.to_string()),
                }),
            Some(entry) => Ok(DockerRuntime::connect_named(named(engine, entry), cache).await?),
        }
    })
}

/// The runtime a new job asking for `request` (`--engine`: a name, `auto`, or names with
/// commas) runs on, placed for its machine type (`None`: the config's default). `local` is what
/// [`AnyRuntime::choose`] picks: the local Docker Engine, a swarm, or local processes.
pub fn runtime_for<'a>(
    engine: &'a Engine,
    request: &'a str,
    machine: Option<&'a str>,
    notice: &'a mut dyn FnMut(&str),
) -> LocalBoxFuture<'a, Result<AnyRuntime>> {
    Box::pin(async move {
        let choice = placement::Choice::parse(engine, request).map_err(|e| Error::field("engine", e))?;
        let machine = engine
            .config
            .machine(machine.unwrap_or(&engine.config.default_machine))
            .map_err(|e| Error::field("machine", e))?;
        let name = placement::place(engine, &choice, machine)
            .await
            .map_err(|e| Error::field("engine", e))?;
        AnyRuntime::on_engine(engine, &name, notice).await
    })
}

/// The config file mlbench reads, which `engines add|rm` write.
fn config_file() -> Result<std::path::PathBuf> {
    mlbench_config::Config::path().ok_or_else(|| {
        Error::Invalid(
            "there is no place for a config file (no MLBENCH_CONFIG, no config folder): set MLBENCH_CONFIG"
                .into(),
        )
    })
}

/// Names engine `name` at `host` in the config file (its own ssh config file: `ssh_config`);
/// returns the file's path.
pub fn add(name: &str, host: &str, ssh_config: Option<&std::path::Path>) -> Result<std::path::PathBuf> {
    let path = config_file()?;
    let ssh_config = ssh_config
        .map(|p| std::path::absolute(p).map_err(Error::at(p, "cannot find")))
        .transpose()?;
    mlbench_config::edit::add_engine(&path, name, host, ssh_config.as_deref())?;
    Ok(path)
}

/// Takes engine `name` out of the config file, once none of this home's jobs lives there; its
/// SSH link ends. Returns the file's path.
pub fn remove(engine: &Engine, name: &str) -> Result<std::path::PathBuf> {
    let entry = engine.config.engine(name)?.ok_or_else(|| {
        Error::Invalid("the local engine is not in the config: it cannot be removed".into())
    })?;
    let load = engine.store.engine_load(name)?;
    if !load.held.is_empty() || load.queued > 0 {
        return Err(Error::Invalid(format!(
            "{} of this home's jobs run or wait on engine {name}: stop them first (`mlbench jobs` lists them)",
            load.held.len() + load.queued
        )));
    }
    let path = config_file()?;
    mlbench_config::edit::remove_engine(&path, name)?;
    if let Some(link) = named(engine, entry).link {
        link.exit();
    }
    crate::disk::remove_folder(&engine.home.engine_dir(name))?;
    Ok(path)
}

/// The names of every engine: `local` first, then the config's.
pub fn names(engine: &Engine) -> Vec<String> {
    std::iter::once(LOCAL_ENGINE.to_string())
        .chain(engine.config.engines.iter().map(|e| e.name.clone()))
        .collect()
}

/// One engine as `mlbench engines` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EngineStatus {
    pub name: String,
    pub address: String,
    /// What it says of itself, or why it does not answer.
    #[serde(flatten)]
    pub answer: Answer,
    /// This home's jobs that run (or prepare to) there.
    pub running_jobs: usize,
    /// This home's jobs that wait in its queue.
    pub queued_jobs: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Facts(EngineFacts),
    Error { error: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct EngineFacts {
    pub docker_version: String,
    pub cpus: f64,
    pub memory_bytes: u64,
    pub gpus: u32,
    /// What this home's jobs leave of it.
    pub free: Capacity,
}

/// Every engine with what it says of itself and what this home's jobs hold of it, asked all at
/// once (an engine that does not answer costs its timeout once, not once per engine).
pub fn list(engine: &Engine) -> LocalBoxFuture<'_, Result<Vec<EngineStatus>>> {
    Box::pin(async move {
        let names = names(engine);
        let asked = names.iter().map(|name| status(engine, name));
        futures_util::future::join_all(asked).await.into_iter().collect()
    })
}

async fn status(engine: &Engine, name: &str) -> Result<EngineStatus> {
    let address = match engine.config.engine(name)? {
        Some(entry) => entry.address.to_string(),
        None => DockerRuntime::address(),
    };
    let load = engine.store.engine_load(name)?;
    let answer = match facts(engine, name, &load.held).await {
        Ok(facts) => Answer::Facts(facts),
        Err(err) => Answer::Error {
            error: mlbench_domain::error::one_line(&err.to_string()),
        },
    };
    Ok(EngineStatus {
        name: name.to_string(),
        address,
        answer,
        running_jobs: load.held.len(),
        queued_jobs: load.queued,
    })
}

async fn facts(engine: &Engine, name: &str, held: &[String]) -> Result<EngineFacts> {
    let docker = connect(engine, name).await?;
    let version = docker
        .version()
        .await
        .map_err(|e| Error::Other(format!("engine {name}: {e}")))?;
    let total = docker.capacity().await?;
    Ok(EngineFacts {
        docker_version: version,
        cpus: total.cpus,
        memory_bytes: total.memory_bytes,
        gpus: total.gpus,
        free: placement::free(engine, &total, held),
    })
}
