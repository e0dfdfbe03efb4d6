//! Running jobs' CPU and memory against their machine types' limits: readings from each job's
//! runtime, turned into rates against the reading before.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::future::{LocalBoxFuture, join_all};
use mlbench_domain::{JobState, LOCAL_ENGINE, RuntimeKind};
use mlbench_runtime::usage::Usage;
use mlbench_runtime::{DockerRuntime, LocalRuntime, Runtime};
use mlbench_store::JobRecord;
use serde::Serialize;

use crate::{Engine, engines};

/// Memory use at or above this share of the limit is shown as a warning (an OOM kill is near).
pub const MEMORY_WARN: f64 = 0.8;

/// A running job's use against its machine type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobUsage {
    pub job: i64,
    pub project: String,
    pub machine: String,
    /// Cores used on average since the reading before (none on a job's first reading).
    pub cpus: Option<f64>,
    pub cpu_limit: f64,
    pub memory_bytes: u64,
    pub memory_limit: u64,
}

impl JobUsage {
    pub fn memory_share(&self) -> f64 {
        if self.memory_limit == 0 {
            0.0
        } else {
            self.memory_bytes as f64 / self.memory_limit as f64
        }
    }
}

/// How long an engine that did not answer is left alone before it is asked again, so one
/// unreachable engine does not hold every reading up for its connect timeout.
const UNANSWERED_PAUSE: Duration = Duration::from_secs(15);

/// Reads running jobs again and again, each rate against that job's reading before.
#[derive(Default)]
pub struct UsageWatch {
    before: HashMap<i64, Usage>,
    /// The named engines jobs run on, connected once.
    remote: HashMap<String, DockerRuntime>,
    /// Named engines that did not answer, and when.
    unanswered: HashMap<String, Instant>,
}

impl UsageWatch {
    /// Reads every running job (Docker ones on the local engine through `docker`, when there is
    /// one; those on a named engine through it).
    pub fn read<'a>(
        &'a mut self,
        engine: &'a Engine,
        docker: Option<&'a DockerRuntime>,
    ) -> LocalBoxFuture<'a, crate::Result<Vec<JobUsage>>> {
        Box::pin(async move {
            let running: Vec<JobRecord> = engine
                .store
                .live_jobs()?
                .into_iter()
                .filter(|j| j.state == JobState::Running && j.handle.is_some())
                .collect();
            self.connect_engines(engine, &running).await;
            let local = LocalRuntime::default();
            let remote = &self.remote;
            let readings = join_all(running.iter().map(|job| async {
                let handle = job.handle.as_deref().unwrap_or_default();
                if job.engine != LOCAL_ENGINE {
                    return match remote.get(&job.engine) {
                        Some(runtime) => runtime.usage(handle).await.map_err(|_| &job.engine),
                        None => Ok(None),
                    };
                }
                Ok(match (job.runtime, docker) {
                    (RuntimeKind::Docker, Some(docker)) => docker.usage(handle).await.ok().flatten(),
                    (RuntimeKind::Docker, None) => None,
                    (RuntimeKind::Local, _) => local.usage(handle).await.ok().flatten(),
                    // The manager cannot read a container on another node.
                    (RuntimeKind::Swarm, _) => None,
                })
            }))
            .await;
            // An engine that failed to answer is connected again (its link started again) on
            // a later reading.
            let failed: Vec<String> = readings
                .iter()
                .filter_map(|r| r.as_ref().err().map(ToString::to_string))
                .collect();
            for name in failed {
                self.remote.remove(&name);
            }
            let readings = readings.into_iter().map(|r| r.ok().flatten());
            let mut now = HashMap::new();
            let mut usages = Vec::new();
            for (job, reading) in running.iter().zip(readings) {
                let Some(reading) = reading else { continue };
                let machine = engine.config.machine(&job.spec.machine).ok();
                let cpus = self.before.get(&job.id).and_then(|before| {
                    let seconds = reading.at.duration_since(before.at).as_secs_f64();
                    (seconds > 0.0)
                        .then(|| reading.cpu_ns.saturating_sub(before.cpu_ns) as f64 / 1e9 / seconds)
                });
                usages.push(JobUsage {
                    job: job.id,
                    project: job.spec.project.clone(),
                    machine: job.spec.machine.clone(),
                    cpus,
                    cpu_limit: machine.map_or(0.0, |m| m.cpus),
                    memory_bytes: reading.memory_bytes,
                    memory_limit: machine.map_or(0, |m| m.memory_bytes),
                });
                now.insert(job.id, reading);
            }
            self.before = now;
            Ok(usages)
        })
    }

    /// Connects to the named engines `running` jobs are on that are not connected yet (an
    /// engine that did not answer: once its pause is over).
    async fn connect_engines(&mut self, engine: &Engine, running: &[JobRecord]) {
        let mut names: Vec<&str> = running
            .iter()
            .map(|job| job.engine.as_str())
            .filter(|name| *name != LOCAL_ENGINE && !self.remote.contains_key(*name))
            .filter(|name| {
                self.unanswered
                    .get(*name)
                    .is_none_or(|at| at.elapsed() >= UNANSWERED_PAUSE)
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        let connected = join_all(names.iter().map(|name| engines::connect(engine, name))).await;
        for (name, runtime) in names.into_iter().zip(connected) {
            match runtime {
                Ok(runtime) => {
                    self.unanswered.remove(name);
                    self.remote.insert(name.to_string(), runtime);
                }
                Err(_) => {
                    self.unanswered.insert(name.to_string(), Instant::now());
                }
            }
        }
    }
}
