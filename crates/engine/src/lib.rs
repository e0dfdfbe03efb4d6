//! The engine: every use case once, for both faces (the CLI and the workbench), grouped in rooms
//! by what the user is doing: `jobs` (submit, supervise, reconcile, stop, exec, output, usage,
//! workspaces), `serving` (deploy, pins, the model-server client, traffic), `experiments`
//! (sweeps, compare, curves, fits, models, demos), `upkeep` (doctor, gc) and `projects` (their
//! lifecycle and /storage), with `disk` under all of them. Here: [`Engine`], what every use
//! case works with, and [`AnyRuntime`], the runtime a job runs on.

mod beneath;
pub mod disk;
pub mod engines;
mod error;
pub mod experiments;
pub mod jobs;
pub mod projects;
pub mod serving;
pub mod upkeep;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use error::{Error, Result};
pub use jobs::reconcile::{ensure_supervised, reconcile};
pub use jobs::stop::stop;
pub use jobs::submit::{Submitted, submit, submit_sized};

use futures_util::future::LocalBoxFuture;
use mlbench_config::Config;
use mlbench_domain::{Capacity, FromIo, RuntimeKind};
use mlbench_runtime::docker::{HOME_LABEL, JOB_LABEL};
use mlbench_runtime::{DockerRuntime, LocalRuntime, Runtime, SwarmRuntime};
use mlbench_store::Store;
use mlbench_store::home::Home;

/// What every engine operation works with.
pub struct Engine {
    pub home: Home,
    pub config: Config,
    pub store: Store,
}

impl Engine {
    pub fn open() -> Result<Engine> {
        let config = Config::load()?;
        let home = Home::discover()?.sharing(config.storage_root.as_deref())?;
        let store = Store::open(&home)?;
        Ok(Engine { home, config, store })
    }

    /// Where an export named `name` goes: the config's `exports` folder (default: the home's
    /// `exports/`), made when missing, as an absolute path. A relative `name` lands there,
    /// never in the folder mlbench was started in (often a repository); an absolute one stays.
    pub fn export_path(&self, name: &Path) -> Result<PathBuf> {
        if name.is_absolute() {
            return Ok(name.to_path_buf());
        }
        let dir = match &self.config.exports {
            Some(dir) => dir.clone(),
            None => self.home.root().join("exports"),
        };
        std::fs::create_dir_all(&dir).map_err(Error::at(&dir, "cannot create the exports folder"))?;
        let dir = std::fs::canonicalize(&dir).map_err(Error::at(&dir, "cannot find"))?;
        Ok(dir.join(name))
    }
}

/// One of the runtimes; engine code is generic over [`mlbench_runtime::Runtime`] and this picks
/// the instance.
pub enum AnyRuntime {
    Docker(DockerRuntime),
    Local(LocalRuntime),
    Swarm(SwarmRuntime),
}

/// Runs `$body` with `$rt` bound to the concrete runtime inside an [`AnyRuntime`].
#[macro_export]
macro_rules! with_runtime {
    ($any:expr, $rt:ident => $body:expr) => {
        match $any {
            $crate::AnyRuntime::Docker($rt) => $body,
            $crate::AnyRuntime::Local($rt) => $body,
            $crate::AnyRuntime::Swarm($rt) => $body,
        }
    };
}

impl AnyRuntime {
    /// CPUs, memory and GPUs that jobs may share where this runtime runs them.
    pub fn capacity(&self) -> LocalBoxFuture<'_, Result<Capacity>> {
        Box::pin(async move { Ok(with_runtime!(self, rt => rt.capacity().await)?) })
    }

    pub fn kind(&self) -> RuntimeKind {
        match self {
            AnyRuntime::Docker(_) => RuntimeKind::Docker,
            AnyRuntime::Local(_) => RuntimeKind::Local,
            AnyRuntime::Swarm(_) => RuntimeKind::Swarm,
        }
    }

    /// The engine jobs run on: a named remote one, or `local` (this machine, its Docker Engine
    /// or a swarm whose manager `DOCKER_HOST` names).
    pub fn engine_name(&self) -> &str {
        match self {
            AnyRuntime::Docker(docker) => docker.engine_name(),
            AnyRuntime::Local(_) | AnyRuntime::Swarm(_) => mlbench_domain::LOCAL_ENGINE,
        }
    }

    /// A Docker Engine that sees none of this machine's files: a job's code, image and
    /// storage reach it through the Engine API.
    pub fn remote(&self) -> Option<&DockerRuntime> {
        match self {
            AnyRuntime::Docker(docker) if docker.is_remote() => Some(docker),
            _ => None,
        }
    }

    /// One line for a status bar: where jobs run.
    pub fn describe(&self, engine: &Engine) -> String {
        match self {
            AnyRuntime::Docker(docker) if docker.is_remote() => format!(
                "Docker Engine {} at {}",
                docker.engine_name(),
                docker.where_reached()
            ),
            AnyRuntime::Docker(_) => format!("Docker Engine at {}", DockerRuntime::address()),
            AnyRuntime::Swarm(_) => format!("Docker Swarm, manager at {}", DockerRuntime::address()),
            AnyRuntime::Local(_) if engine.config.chosen_runtime().is_ok_and(|r| r.is_some()) => {
                "jobs run as local processes (chosen by MLBENCH_RUNTIME or the config)".into()
            }
            AnyRuntime::Local(_) => "no Docker Engine found: jobs run as local processes".into(),
        }
    }

    /// The runtime for new jobs: `MLBENCH_RUNTIME` or the config's `runtime` picks one;
    /// otherwise Docker when an engine answers, else local processes, and `notice` is told why.
    /// An engine asked for by name (`DOCKER_HOST`) that does not answer is an error: jobs never
    /// fall back to running unisolated on the host behind the user's back.
    pub fn choose<'a>(
        engine: &'a Engine,
        notice: &'a mut dyn FnMut(&str),
    ) -> LocalBoxFuture<'a, Result<AnyRuntime>> {
        Box::pin(async move {
            let home = &engine.home;
            match engine.config.chosen_runtime()? {
                Some(kind) => AnyRuntime::of(kind, engine).await,
                None => match DockerRuntime::connect(Some(home.capacity_cache())).await {
                    Ok(docker) => Ok(AnyRuntime::Docker(docker)),
                    Err(err) if std::env::var_os("DOCKER_HOST").is_some_and(|v| !v.is_empty()) => {
                        Err(Error::DockerUnavailable {
                            address: DockerRuntime::address(),
                            reason: mlbench_domain::error::brief(&err.to_string()),
                        })
                    }
                    Err(err) => {
                        notice(&format!(
                            "no Docker Engine answered at {} ({}): jobs run as local processes",
                            DockerRuntime::address(),
                            mlbench_domain::error::brief(&err.to_string())
                        ));
                        Ok(AnyRuntime::Local(LocalRuntime::default()))
                    }
                },
            }
        })
    }

    /// The runtime a stored job was started on, on its engine.
    pub fn of_job<'a>(
        job: &'a mlbench_store::JobRecord,
        engine: &'a Engine,
    ) -> LocalBoxFuture<'a, Result<AnyRuntime>> {
        Box::pin(async move {
            if job.engine == mlbench_domain::LOCAL_ENGINE {
                return AnyRuntime::of(job.runtime, engine).await;
            }
            Ok(AnyRuntime::Docker(engines::connect(engine, &job.engine).await?))
        })
    }

    /// The runtime for new jobs on the engine called `name`: a named engine's Docker, or for
    /// `local` what [`AnyRuntime::choose`] picks.
    pub fn on_engine<'a>(
        engine: &'a Engine,
        name: &'a str,
        notice: &'a mut dyn FnMut(&str),
    ) -> LocalBoxFuture<'a, Result<AnyRuntime>> {
        Box::pin(async move {
            if name == mlbench_domain::LOCAL_ENGINE {
                return AnyRuntime::choose(engine, notice).await;
            }
            Ok(AnyRuntime::Docker(engines::connect(engine, name).await?))
        })
    }

    /// The runtime a stored job of kind `kind` was started on, on the local engine.
    pub fn of<'a>(kind: RuntimeKind, engine: &'a Engine) -> LocalBoxFuture<'a, Result<AnyRuntime>> {
        Box::pin(async move {
            let unavailable = |err: &dyn std::fmt::Display| Error::DockerUnavailable {
                address: DockerRuntime::address(),
                reason: mlbench_domain::error::brief(&err.to_string()),
            };
            match kind {
                RuntimeKind::Local => Ok(AnyRuntime::Local(LocalRuntime::default())),
                RuntimeKind::Docker => DockerRuntime::connect(Some(engine.home.capacity_cache()))
                    .await
                    .map(AnyRuntime::Docker)
                    .map_err(|err| unavailable(&err)),
                RuntimeKind::Swarm => match connect_swarm(engine).await {
                    Ok(swarm) => Ok(AnyRuntime::Swarm(swarm)),
                    Err(err @ (Error::Invalid(_) | Error::Runtime(mlbench_runtime::Error::Invalid(_)))) => {
                        Err(err)
                    }
                    Err(err) => Err(unavailable(&err)),
                },
            }
        })
    }
}

/// The swarm whose manager `DOCKER_HOST` names, with the config's registry; refused without a
/// shared `storage_root`, since a job's files must be the same on every node.
pub fn connect_swarm<'a>(engine: &'a Engine) -> LocalBoxFuture<'a, Result<SwarmRuntime>> {
    Box::pin(async move {
        if engine.config.storage_root.is_none() {
            return Err(Error::Invalid(
                "the swarm runtime needs storage_root in the config: a folder every node mounts at the same path (NFS, a shared disk), where jobs' files live; see the README's Swarm section".into(),
            ));
        }
        Ok(SwarmRuntime::connect(engine.config.registry.clone()).await?)
    })
}

/// The user and group ids of this process (the owner of `/proc/self`): whose files a job of
/// mlbench's own image writes, here or on a remote engine.
pub(crate) fn invoking_ids() -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map_or((0, 0), |me| (me.uid(), me.gid()))
}

/// The label that marks a container as this home's (test homes never see each other's).
pub fn home_labels(home: &Home) -> HashMap<String, String> {
    HashMap::from([(HOME_LABEL.to_string(), home.label())])
}

/// Labels that mark a job's container as this home's.
pub(crate) fn job_labels(home: &Home, job: i64) -> HashMap<String, String> {
    let mut labels = home_labels(home);
    labels.insert(JOB_LABEL.to_string(), job.to_string());
    labels
}
