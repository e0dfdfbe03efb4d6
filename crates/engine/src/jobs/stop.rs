//! Stopping a job: SIGTERM, then SIGKILL after the grace period; its supervisor records the end.

use std::time::{Duration, Instant};

use futures_util::future::LocalBoxFuture;
use mlbench_domain::JobState;
use mlbench_runtime::Runtime;

use crate::{AnyRuntime, Engine, Error, Result, reconcile};

/// Stops the job and waits until its end is recorded; returns the final state. `known` is a
/// runtime client the caller already has, used when the job runs on it.
pub fn stop<'a>(
    engine: &'a Engine,
    known: Option<&'a AnyRuntime>,
    job: i64,
    grace: Duration,
) -> LocalBoxFuture<'a, Result<JobState>> {
    Box::pin(async move {
        let record = engine.store.job(job)?;
        if record.state.is_final() {
            return Ok(record.state);
        }
        engine.store.request_stop(job).map_err(|err| {
            let err = Error::from(err);
            let full = err.is_disk_full().then(|| {
                crate::disk::full(
                    &engine.home.job_dir(job),
                    &format!("the stop of job {job} cannot be recorded"),
                )
            });
            full.flatten().unwrap_or(err)
        })?;
        if record.state == JobState::Running
            && let Some(handle) = &record.handle
        {
            let connected;
            let runtime =
                match known.filter(|r| r.kind() == record.runtime && r.engine_name() == record.engine) {
                    Some(runtime) => runtime,
                    None => {
                        connected = AnyRuntime::of_job(&record, engine).await?;
                        &connected
                    }
                };
            crate::with_runtime!(runtime, rt => rt.stop(handle, grace).await)?;
        }
        // The supervisor sees the stop (or the process end) and records it; make sure there is one.
        reconcile(&engine.home, &engine.store)?;
        let deadline = Instant::now() + grace + Duration::from_secs(30);
        loop {
            let state = engine.store.job(job)?.state;
            if state.is_final() {
                return Ok(state);
            }
            // The supervisor cannot record the end without room: say so now, not at the deadline.
            if let Some(full) = crate::disk::full(
                &engine.home.job_dir(job),
                &format!("job {job} was sent the stop, and its end is recorded once there is room"),
            ) {
                return Err(full);
            }
            if Instant::now() > deadline {
                return Err(Error::Other(format!(
                    "job {job} did not stop in time: it is still {state}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}
