//! Running jobs' CPU and memory against their machine types' limits: readings from each job's
//! runtime, turned into rates against the reading before.

use std::collections::HashMap;

use futures_util::future::{LocalBoxFuture, join_all};
use mlbench_domain::{JobState, RuntimeKind};
use mlbench_runtime::usage::Usage;
use mlbench_runtime::{DockerRuntime, LocalRuntime, Runtime};
use mlbench_store::JobRecord;
use serde::Serialize;

use crate::Engine;

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

/// Reads running jobs again and again, each rate against that job's reading before.
#[derive(Default)]
pub struct UsageWatch {
    before: HashMap<i64, Usage>,
}

impl UsageWatch {
    /// Reads every running job (Docker ones through `docker`, when there is an engine).
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
            let local = LocalRuntime::default();
            let readings = join_all(running.iter().map(|job| async {
                let handle = job.handle.as_deref().unwrap_or_default();
                match (job.runtime, docker) {
                    (RuntimeKind::Docker, Some(docker)) => docker.usage(handle).await.ok().flatten(),
                    (RuntimeKind::Docker, None) => None,
                    (RuntimeKind::Local, _) => local.usage(handle).await.ok().flatten(),
                    // The manager cannot read a container on another node.
                    (RuntimeKind::Swarm, _) => None,
                }
            }))
            .await;
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
}
