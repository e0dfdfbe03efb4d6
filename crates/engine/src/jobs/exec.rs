//! Entering a running job: its shell (or a command) with the user's terminal attached, in the
//! job's container or, for a local job, its workspace.

use futures_util::future::LocalBoxFuture;
use mlbench_domain::{EnvVar, JobState};
use mlbench_runtime::Runtime;
use mlbench_runtime::exec::ExecSpec;

use crate::{AnyRuntime, Engine, Error, Result};

/// Runs `command` (default: the configured shell) in the running job; with `tty`, as a
/// terminal of `size` (columns, rows). Returns the command's exit code.
pub fn exec<'a>(
    engine: &'a Engine,
    job: i64,
    command: Option<Vec<String>>,
    tty: bool,
    size: Option<(u16, u16)>,
) -> LocalBoxFuture<'a, Result<i64>> {
    Box::pin(async move {
        let record = engine.store.job(job)?;
        if record.state != JobState::Running {
            return Err(Error::Invalid(format!(
                "job {job} is {}: only a running job can be entered",
                record.state
            )));
        }
        let handle = record
            .handle
            .clone()
            .ok_or_else(|| Error::Other(format!("job {job} runs but has no handle yet: try again")))?;
        let runtime = AnyRuntime::of_job(&record, engine).await?;
        let storage = engine.home.storage_dir(&record.spec.project);
        let mut env = record.spec.env.clone();
        env.push(EnvVar {
            name: "MLBENCH_STORAGE".into(),
            value: storage.display().to_string(),
        });
        let spec = ExecSpec {
            command: command
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| engine.config.shell.clone()),
            tty,
            size,
            workdir: engine.home.job_workspace(job),
            env,
        };
        Ok(crate::with_runtime!(&runtime, rt => rt.exec(&handle, &spec).await)?)
    })
}
