//! The job engine: submitting jobs, one supervisor process per live job (launch, follow, wait),
//! stopping, and reconciling the store with what runs after mlbench was away.

pub(crate) mod choices;
pub mod client;
pub(crate) mod compare;
pub(crate) mod curves;
pub(crate) mod demo;
pub(crate) mod deploy;
pub(crate) mod exec;
pub(crate) mod fit;
pub(crate) mod jobs;
pub(crate) mod models;
mod output;
pub(crate) mod pins;
pub(crate) mod projects;
mod reconcile;
pub(crate) mod serving_stats;
mod stop;
pub(crate) mod storage;
mod submit;
pub(crate) mod supervisor;
pub(crate) mod sweeps;
pub(crate) mod usage;

use std::collections::HashMap;

pub use reconcile::{ensure_supervised, reconcile};
pub use stop::stop;
pub use submit::{Submitted, submit, submit_sized};

use crate::config::Config;
use crate::domain::RuntimeKind;
use crate::home::Home;
use crate::runtime::docker::{HOME_LABEL, JOB_LABEL};
use crate::runtime::{DockerRuntime, LocalRuntime};
use crate::store::Store;
use crate::{Error, Result};

/// What every engine operation works with.
pub struct Engine {
    pub home: Home,
    pub config: Config,
    pub store: Store,
}

impl Engine {
    pub fn open() -> Result<Engine> {
        let home = Home::discover()?;
        let store = Store::open(&home)?;
        Ok(Engine {
            home,
            config: Config::load()?,
            store,
        })
    }
}

/// One of the runtimes; engine code is generic over [`crate::runtime::Runtime`] and this picks
/// the instance.
pub enum AnyRuntime {
    Docker(DockerRuntime),
    Local(LocalRuntime),
}

/// Runs `$body` with `$rt` bound to the concrete runtime inside an [`AnyRuntime`].
#[macro_export]
macro_rules! with_runtime {
    ($any:expr, $rt:ident => $body:expr) => {
        match $any {
            $crate::engine::AnyRuntime::Docker($rt) => $body,
            $crate::engine::AnyRuntime::Local($rt) => $body,
        }
    };
}

impl AnyRuntime {
    pub fn kind(&self) -> RuntimeKind {
        match self {
            AnyRuntime::Docker(_) => RuntimeKind::Docker,
            AnyRuntime::Local(_) => RuntimeKind::Local,
        }
    }

    /// One line for a status bar: where jobs run.
    pub fn describe(&self) -> String {
        match self {
            AnyRuntime::Docker(_) => format!("Docker Engine at {}", DockerRuntime::address()),
            AnyRuntime::Local(_) if forced_runtime().is_some() => {
                "jobs run as local processes (MLBENCH_RUNTIME=local)".into()
            }
            AnyRuntime::Local(_) => "no Docker Engine found: jobs run as local processes".into(),
        }
    }

    /// The runtime for new jobs: `MLBENCH_RUNTIME=docker|local` forces one; otherwise Docker
    /// when an engine answers, else local processes, and `notice` is told why. An engine asked
    /// for by name (`DOCKER_HOST`) that does not answer is an error: jobs never fall back to
    /// running unisolated on the host behind the user's back.
    pub async fn choose(home: &Home, notice: impl FnOnce(&str)) -> Result<AnyRuntime> {
        match forced_runtime() {
            Some(name) => AnyRuntime::of(name.parse()?, home).await,
            None => match DockerRuntime::connect(Some(home.capacity_cache())).await {
                Ok(docker) => Ok(AnyRuntime::Docker(docker)),
                Err(err) if std::env::var_os("DOCKER_HOST").is_some_and(|v| !v.is_empty()) => {
                    Err(Error::DockerUnavailable {
                        address: DockerRuntime::address(),
                        reason: crate::error::brief(&err.to_string()),
                    })
                }
                Err(err) => {
                    notice(&format!(
                        "no Docker Engine answered at {} ({}): jobs run as local processes",
                        DockerRuntime::address(),
                        crate::error::brief(&err.to_string())
                    ));
                    Ok(AnyRuntime::Local(LocalRuntime::default()))
                }
            },
        }
    }

    /// The runtime a stored job was started on.
    pub async fn of(kind: RuntimeKind, home: &Home) -> Result<AnyRuntime> {
        match kind {
            RuntimeKind::Local => Ok(AnyRuntime::Local(LocalRuntime::default())),
            RuntimeKind::Docker => DockerRuntime::connect(Some(home.capacity_cache()))
                .await
                .map(AnyRuntime::Docker)
                .map_err(|err| Error::DockerUnavailable {
                    address: DockerRuntime::address(),
                    reason: crate::error::brief(&err.to_string()),
                }),
        }
    }
}

/// The runtime `MLBENCH_RUNTIME` names, unless it is unset, empty or `auto`.
fn forced_runtime() -> Option<String> {
    std::env::var("MLBENCH_RUNTIME")
        .ok()
        .filter(|v| !v.is_empty() && v != "auto")
}

/// The label that marks a container as this home's (test homes never see each other's).
pub fn home_labels(home: &Home) -> HashMap<String, String> {
    HashMap::from([(HOME_LABEL.to_string(), home.label())])
}

/// Labels that mark a job's container as this home's.
pub fn job_labels(home: &Home, job: i64) -> HashMap<String, String> {
    let mut labels = home_labels(home);
    labels.insert(JOB_LABEL.to_string(), job.to_string());
    labels
}
