//! One supervisor process per live job: waits for capacity, prepares the image, launches,
//! follows the output into the log file, and records how the job ended. It may be killed at
//! any moment; a new one (see [`super::reconcile`]) picks up where the store and the log file
//! say the job is.

use std::time::Duration;

use super::output::JobOutput;
use super::reconcile::acquire_supervisor_lock;
use super::{Engine, job_labels};
use crate::domain::JobState;
use crate::runtime::{Exit, LaunchSpec, Runtime};
use crate::store::JobRecord;
use crate::store::logfile::{self, LogWriter};
use crate::{Error, Result};

const QUEUE_POLL: Duration = Duration::from_millis(300);

/// Supervises `job` to its end. Returns at once when another supervisor has it, unless it is
/// the `handover` from a launch, which waits for the launcher to let go.
pub async fn supervise<R: Runtime + ImagePreparer>(
    engine: &Engine,
    runtime: &R,
    job: i64,
    handover: bool,
) -> Result<()> {
    let Some(_lock) = acquire_supervisor_lock(&engine.home, job, handover)? else {
        return Ok(());
    };
    engine.store.set_supervisor(job, std::process::id())?;
    let mut start = Start::default();
    loop {
        match start.advance(engine, runtime, job).await? {
            Step::Waiting => tokio::time::sleep(QUEUE_POLL).await,
            Step::Running(handle) => return follow_to_end(engine, runtime, job, &handle).await,
            Step::Ended => return Ok(()),
        }
    }
}

/// Where [`Start::advance`] left a job.
pub(crate) enum Step {
    /// Queued behind other jobs or for capacity.
    Waiting,
    Running(String),
    Ended,
}

/// Takes a job from the queue to running. Whoever calls it holds the job's supervisor lock.
#[derive(Default)]
pub(crate) struct Start {
    /// The image was checked a moment ago by the submit that is starting the job.
    image_checked: bool,
    waiting_said: bool,
    /// A job taken from the queue here cannot have a container yet.
    claimed_here: bool,
}

impl Start {
    /// For the submit that has just checked the job's image.
    pub(crate) fn after_image_check() -> Start {
        Start {
            image_checked: true,
            ..Start::default()
        }
    }

    pub(crate) async fn advance<R: Runtime + ImagePreparer>(
        &mut self,
        engine: &Engine,
        runtime: &R,
        job: i64,
    ) -> Result<Step> {
        loop {
            let record = engine.store.job(job)?;
            match record.state {
                JobState::Queued => {
                    if record.stop_requested {
                        engine.store.finish(
                            job,
                            JobState::Stopped,
                            None,
                            Some("stopped before it started"),
                        )?;
                        return Ok(Step::Ended);
                    }
                    let machine = match engine.config.machine(&record.spec.machine) {
                        Ok(m) => m.clone(),
                        Err(err) => {
                            engine
                                .store
                                .finish(job, JobState::Failed, None, Some(&err.to_string()))?;
                            return Ok(Step::Ended);
                        }
                    };
                    let host = runtime.capacity().await?;
                    self.claimed_here =
                        engine
                            .store
                            .try_claim(job, &machine, &host, &engine.config.machines)?;
                    if !self.claimed_here {
                        if !self.waiting_said {
                            let why = "waiting for capacity: earlier or running jobs hold the host";
                            engine.store.set_detail(job, Some(why))?;
                            self.waiting_said = true;
                        }
                        return Ok(Step::Waiting);
                    }
                }
                JobState::Preparing => {
                    // An earlier supervisor may have died between launching and recording it.
                    let labels = job_labels(&engine.home, job);
                    let found = if self.claimed_here {
                        None
                    } else {
                        runtime.find(job, &labels).await?
                    };
                    let handle = match found {
                        Some(handle) => handle,
                        None => {
                            match prepare_and_launch(engine, runtime, &record, self.image_checked).await {
                                Ok(handle) => handle,
                                Err(err) => {
                                    let message = err.to_string();
                                    note(
                                        engine,
                                        job,
                                        &format!("job failed before its command ran: {message}"),
                                    );
                                    engine.store.finish(job, JobState::Failed, None, Some(&message))?;
                                    return Ok(Step::Ended);
                                }
                            }
                        }
                    };
                    engine.store.mark_running(job, &handle)?;
                    if engine.store.job(job)?.stop_requested {
                        runtime
                            .stop(&handle, Duration::from_secs(engine.config.stop_grace_secs))
                            .await?;
                    }
                }
                JobState::Running => {
                    let handle = record
                        .handle
                        .clone()
                        .ok_or_else(|| Error::Other(format!("job {job} runs without a handle")))?;
                    return Ok(Step::Running(handle));
                }
                _ => return Ok(Step::Ended),
            }
        }
    }
}

fn note(engine: &Engine, job: i64, text: &str) {
    if let Ok(mut log) = LogWriter::open(&engine.home.job_log(job)) {
        let _ = log.note(text);
    }
}

/// Image work that only some runtimes do before a launch.
#[allow(async_fn_in_trait)]
pub trait ImagePreparer {
    /// Makes sure the job's image exists, building it when the job asks to; build output goes
    /// to the job's log.
    async fn prepare_image(&self, engine: &Engine, job: &JobRecord) -> Result<()>;
}

impl ImagePreparer for crate::runtime::LocalRuntime {
    async fn prepare_image(&self, engine: &Engine, job: &JobRecord) -> Result<()> {
        note(
            engine,
            job.id,
            &format!(
                "local runtime: image {} is not used, the command runs on this machine",
                job.spec.image
            ),
        );
        Ok(())
    }
}

impl ImagePreparer for crate::runtime::DockerRuntime {
    async fn prepare_image(&self, engine: &Engine, job: &JobRecord) -> Result<()> {
        let spec = &job.spec;
        let mut log = LogWriter::open(&engine.home.job_log(job.id))
            .map_err(Error::at(&engine.home.job_log(job.id), "cannot open"))?;
        let mut write = |line: &str| {
            let _ = log.note(line);
        };
        if let Some(dockerfile) = &spec.build_dockerfile {
            write(&format!("building image {} from {dockerfile}", spec.image));
            let labels = job_labels(&engine.home, job.id);
            self.build(
                &engine.home.job_workspace(job.id),
                dockerfile,
                &spec.image,
                &labels,
                &mut write,
            )
            .await
        } else if spec.image == crate::runtime::images::runtime_tag() {
            self.ensure_runtime_image(false, &mut write).await.map(|_| ())
        } else if self.image_exists(&spec.image).await? {
            Ok(())
        } else {
            Err(Error::ImageMissing {
                image: spec.image.clone(),
            })
        }
    }
}

async fn prepare_and_launch<R: Runtime + ImagePreparer>(
    engine: &Engine,
    runtime: &R,
    job: &JobRecord,
    image_checked: bool,
) -> Result<String> {
    if !image_checked {
        runtime.prepare_image(engine, job).await?;
    }
    let machine = engine.config.machine(&job.spec.machine)?.clone();
    let storage = engine.home.storage_dir(&job.spec.project);
    std::fs::create_dir_all(&storage).map_err(Error::at(&storage, "cannot create"))?;
    let spec = LaunchSpec {
        name: engine.home.container_name(job.id),
        image: job.spec.image.clone(),
        command: job.spec.command.clone(),
        env: job.spec.env.clone(),
        workspace: engine.home.job_workspace(job.id),
        storage,
        storage_read_only: job.spec.storage_read_only,
        machine,
        ports: job.spec.ports.clone(),
        labels: job_labels(&engine.home, job.id),
    };
    runtime.launch(&spec).await
}

/// Follows the job's output until its process ends, then records the end and frees the
/// container. A follow that ends while the job still runs (the engine restarted, a network
/// hiccup) is resumed from the log file.
async fn follow_to_end<R: Runtime>(engine: &Engine, runtime: &R, job: i64, handle: &str) -> Result<()> {
    let mut failures = 0u32;
    loop {
        if let Err(err) = append_output(engine, runtime, job, handle, true).await {
            failures += 1;
            eprintln!("job {job}: following its output failed ({err}); trying again");
            if failures > 30 {
                return Err(err);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // The end is recorded after the container is removed, so a job seen as ended holds
        // nothing any more (as `docker run --rm` returns after the removal).
        let (state, code, detail) = match runtime.exit_status(handle).await? {
            None => continue,
            Some(Exit::Vanished) => (JobState::Lost, None, Some("its container or process vanished")),
            Some(Exit::Code { code, oom_killed }) => {
                // A live follow can end before it has read everything the container wrote
                // (seen with Docker 20.10's json-file driver on a fast burst): read the rest.
                append_output(engine, runtime, job, handle, false).await?;
                let stop_requested = engine.store.job(job)?.stop_requested;
                let state = JobState::from_exit(code, oom_killed, stop_requested);
                let detail = (state == JobState::OomKilled)
                    .then_some("killed for using more memory than its machine type has");
                (state, Some(code), detail)
            }
        };
        if let Err(err) = runtime.remove(handle).await {
            eprintln!("job {job}: cannot remove its container: {err}");
        }
        engine.store.finish(job, state, code, detail)?;
        return Ok(());
    }
}

/// Appends the job's output after what the log file already holds, recording its metrics.
async fn append_output<R: Runtime>(
    engine: &Engine,
    runtime: &R,
    job: i64,
    handle: &str,
    live: bool,
) -> Result<()> {
    let path = engine.home.job_log(job);
    let resume = logfile::prepare_resume(&path).map_err(Error::at(&path, "cannot read"))?;
    let log = LogWriter::open(&path).map_err(Error::at(&path, "cannot open"))?;
    let mut output = JobOutput::new(log, &engine.store, job)?;
    runtime.follow(handle, resume, &mut output, live).await
}
