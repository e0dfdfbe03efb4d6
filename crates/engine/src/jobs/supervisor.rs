//! One supervisor process per live job: waits for capacity, prepares the image, launches,
//! follows the output into the log file, and records how the job ended. It may be killed at
//! any moment; a new one (see [`crate::reconcile`]) picks up where the store and the log file
//! say the job is.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use mlbench_config::RunAs;
use mlbench_domain::{FromIo, JobState};
use mlbench_runtime::remote::{CodeSent, VolumeNames};
use mlbench_runtime::{Exit, LaunchSpec, Runtime, Storage, Workspace};
use mlbench_store::logfile::{self, LogWriter};
use mlbench_store::{Claim, JobRecord};

use crate::jobs::output::JobOutput;
use crate::jobs::reconcile::acquire_supervisor_lock;
use crate::{AnyRuntime, Engine, Error, Result, home_labels, job_labels};

const QUEUE_POLL: Duration = Duration::from_millis(300);

/// Supervises `job` to its end on the runtime it was started on: what `mlbench __supervise`
/// runs. Returns at once when another supervisor has it, unless it is the `handover` from a
/// launch, which waits for the launcher to let go. The runtime is picked here, so the
/// supervisor's code for each runtime is made once, in this crate, not in every caller's.
pub fn supervise<'a>(engine: &'a Engine, job: i64, handover: bool) -> LocalBoxFuture<'a, Result<()>> {
    Box::pin(async move {
        let Some(_lock) = acquire_supervisor_lock(&engine.home, job, handover)? else {
            return Ok(());
        };
        engine.store.set_supervisor(job, std::process::id())?;
        let runtime = connect_waiting(engine, job).await?;
        crate::with_runtime!(&runtime, rt => supervise_on(engine, rt, job).await)
    })
}

/// How often a supervisor asks an engine that does not answer whether it is back.
const ENGINE_RETRY: Duration = Duration::from_secs(3);

/// The runtime of the job's engine. A remote engine that does not answer (the link dropped,
/// the laptop slept) is waited for while the job lives: the job goes on there, its row says
/// since when its engine is unreachable, and the log says so once it answers again.
async fn connect_waiting(engine: &Engine, job: i64) -> Result<AnyRuntime> {
    let mut since: Option<String> = None;
    loop {
        let record = engine.store.job(job)?;
        match AnyRuntime::of_job(&record, engine).await {
            Ok(runtime) => {
                if let Some(since) = since {
                    back_again(engine, job, &record.engine, &since);
                }
                return Ok(runtime);
            }
            Err(err) if record.engine != mlbench_domain::LOCAL_ENGINE && !record.state.is_final() => {
                if since.is_none() {
                    eprintln!("job {job}: {err}");
                    since = Some(unreachable_since(engine, job, &record.engine));
                }
                tokio::time::sleep(ENGINE_RETRY).await;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Says in the job's row that its engine does not answer; returns since when.
fn unreachable_since(engine: &Engine, job: i64, name: &str) -> String {
    let since = chrono::Local::now().format("%H:%M").to_string();
    let _ = engine
        .store
        .set_trouble(job, Some(&format!("{name} unreachable since {since}")));
    since
}

/// Says in the job's log that its engine answers again, and clears its row's trouble.
fn back_again(engine: &Engine, job: i64, name: &str, since: &str) {
    note(
        engine,
        job,
        &format!(
            "engine {name} was unreachable from {since} to {}: following again from Docker's copy of the output",
            chrono::Local::now().format("%H:%M")
        ),
    );
    let _ = engine.store.set_trouble(job, None);
}

/// Waits while the remote engine `runtime` talks to does not answer; true when it did not (the
/// caller follows again from Docker's log), false when it answers (or is not remote: the
/// caller's error is its own).
async fn waited_for_engine<R: LaunchPreparer>(engine: &Engine, runtime: &R, job: i64) -> bool {
    let Some(name) = runtime.remote_engine() else {
        return false;
    };
    if runtime.engine_answers().await {
        return false;
    }
    let since = unreachable_since(engine, job, name);
    while !runtime.engine_answers().await {
        tokio::time::sleep(ENGINE_RETRY).await;
    }
    back_again(engine, job, name, &since);
    if let Ok(record) = engine.store.job(job)
        && let Err(err) = runtime.reach_ports(&record).await
    {
        note(engine, job, &format!("its ports do not answer here: {err}"));
    }
    true
}

/// [`supervise`] on a runtime of the caller's, the job's lock held.
pub(crate) async fn supervise_on<R: Runtime + LaunchPreparer>(
    engine: &Engine,
    runtime: &R,
    job: i64,
) -> Result<()> {
    let mut start = Start::default();
    loop {
        match start.advance(engine, runtime, job).await? {
            Step::Waiting => tokio::time::sleep(QUEUE_POLL).await,
            // Only a launcher stops at a made container.
            Step::Created => continue,
            Step::Running(handle) => {
                // A remote job's ports, forwarded again after a restart of the link.
                if let Err(err) = runtime.reach_ports(&engine.store.job(job)?).await {
                    note(engine, job, &format!("its ports do not answer here: {err}"));
                }
                // Beside the follow, not before it: a submit may be waiting for the first line.
                let (followed, ()) = tokio::join!(
                    follow_to_end(engine, runtime, job, &handle),
                    sweep_leftovers(engine, runtime)
                );
                return followed;
            }
            Step::Ended => return Ok(()),
        }
    }
}

/// Removes the containers of jobs whose end is recorded: a supervisor killed after recording
/// the end and before removing the container leaves one behind. Best effort: a failure here
/// must not keep this job from being supervised.
async fn sweep_leftovers<R: Runtime>(engine: &Engine, runtime: &R) {
    let Ok(leftovers) = runtime.leftovers(&home_labels(&engine.home)).await else {
        return;
    };
    for (job, handle) in leftovers {
        if engine.store.job(job).is_ok_and(|j| j.state.is_final()) {
            let _ = runtime.remove(&handle).await;
        }
    }
}

/// Where [`Start::advance`] left a job.
pub(crate) enum Step {
    /// Queued behind other jobs or for capacity.
    Waiting,
    /// Its container is made; the supervisor starts it (see [`Start::for_launcher`]).
    Created,
    Running(String),
    Ended,
}

/// Takes a job from the queue to running. Whoever calls it holds the job's supervisor lock.
#[derive(Default)]
pub(crate) struct Start {
    /// The image was checked a moment ago by the submit that is starting the job.
    image_checked: bool,
    /// Stop once the container is made, for the supervisor to start it.
    creates_only: bool,
    /// What the job was last said to wait for.
    waiting_said: Option<String>,
    /// A job taken from the queue here cannot have a container yet.
    claimed_here: bool,
    /// A found container failed to start once already.
    looked_again: bool,
}

impl Start {
    /// For the submit that launches a job while its supervisor gets ready: it makes the
    /// container and hands over, and the supervisor starts it. Starting is the supervisor's
    /// because only the process that starts a container can be sure to see its first bytes:
    /// it listens (attaches) before the start.
    pub(crate) fn for_launcher(image_checked: bool) -> Start {
        Start {
            image_checked,
            creates_only: true,
            ..Start::default()
        }
    }

    pub(crate) async fn advance<R: Runtime + LaunchPreparer>(
        &mut self,
        engine: &Engine,
        runtime: &R,
        job: i64,
    ) -> Result<Step> {
        loop {
            let record = engine.store.job(job)?;
            match record.state {
                JobState::Queued => {
                    if let Some(end) = record.requested_end() {
                        engine
                            .store
                            .finish(job, end, None, Some("stopped before it started"))?;
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
                    match engine
                        .store
                        .try_claim(job, &machine, &host, &engine.config.machines)?
                    {
                        Claim::Claimed => self.claimed_here = true,
                        Claim::Waits(why) => {
                            // Said in the job's row and log each time the reason changes: the
                            // row holds what was last said, whichever process (the submit
                            // launching it, or its supervisor) said it.
                            if self.waiting_said.as_ref() != Some(&why)
                                && record.detail.as_ref() != Some(&why)
                            {
                                engine.store.set_detail(job, Some(&why))?;
                                note(engine, job, &format!("queued: {why}"));
                                self.waiting_said = Some(why);
                            }
                            return Ok(Step::Waiting);
                        }
                    }
                }
                JobState::Preparing => {
                    // An earlier supervisor, or the launcher, may have made it already.
                    let labels = job_labels(&engine.home, job);
                    let found = if self.claimed_here {
                        None
                    } else {
                        runtime.find(job, &labels).await?
                    };
                    let was_found = found.is_some();
                    let created = match found {
                        Some(handle) => Ok(handle),
                        None => prepare_and_create(engine, runtime, &record, self.image_checked).await,
                    };
                    let handle = match created {
                        Ok(_) if self.creates_only => return Ok(Step::Created),
                        Ok(handle) => handle,
                        Err(err) => return fail_before_command(engine, job, &err),
                    };
                    if let Err(err) = runtime.start(&handle).await {
                        // The engine undoes a create whose caller went away (a launch killed
                        // mid-create), so a container found here can vanish: once the removal
                        // is done, look once more, and make a new one if it is gone.
                        if was_found && !self.looked_again {
                            self.looked_again = true;
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue;
                        }
                        return fail_before_command(engine, job, &err);
                    }
                    // In the log, so `run -f` says it where it happened: after the image
                    // build, before the program's first line.
                    note(engine, job, &started_note(record.runtime, &handle));
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

/// Records a job that failed before its command could run, and why.
fn fail_before_command(engine: &Engine, job: i64, err: &dyn std::fmt::Display) -> Result<Step> {
    let message = err.to_string();
    note(
        engine,
        job,
        &format!("job failed before its command ran: {message}"),
    );
    engine.store.finish(job, JobState::Failed, None, Some(&message))?;
    Ok(Step::Ended)
}

/// Where a job was started, as its log says it.
fn started_note(runtime: mlbench_domain::RuntimeKind, handle: &str) -> String {
    match runtime {
        mlbench_domain::RuntimeKind::Docker => {
            format!("running in container {}", &handle[..handle.len().min(12)])
        }
        mlbench_domain::RuntimeKind::Local => format!("running as process {handle}"),
        mlbench_domain::RuntimeKind::Swarm => {
            format!("running as service {}", &handle[..handle.len().min(12)])
        }
    }
}

/// Writes one of mlbench's notes into the job's log, best effort.
pub(crate) fn note(engine: &Engine, job: i64, text: &str) {
    if let Ok(mut log) = LogWriter::open(&engine.home.job_log(job)) {
        let _ = log.note(text);
    }
}

/// What each runtime does before a launch, and after the end, besides the container.
#[allow(async_fn_in_trait)]
pub(crate) trait LaunchPreparer {
    /// Makes sure the job's image exists, building it when the job asks to; build output goes
    /// to the job's log.
    async fn prepare_image(&self, engine: &Engine, job: &JobRecord) -> Result<()>;

    /// The job's /workspace and its project's /storage where this runtime runs it: folders of
    /// this machine, or on a remote engine volumes filled through the Engine API.
    async fn job_files(&self, engine: &Engine, job: &JobRecord) -> Result<(Workspace, Storage)> {
        local_files(engine, job)
    }

    /// Makes the ports the running job publishes answer on this machine (a remote engine's
    /// through its SSH link).
    async fn reach_ports(&self, _job: &JobRecord) -> Result<()> {
        Ok(())
    }

    /// The remote engine this runtime talks to, if it is one: what may stop answering while
    /// its jobs run on.
    fn remote_engine(&self) -> Option<&str> {
        None
    }

    /// Whether the engine answers now (a remote one's link is started again if it ended).
    async fn engine_answers(&self) -> bool {
        true
    }
}

/// The job's workspace and its project's storage as folders of this machine.
fn local_files(engine: &Engine, job: &JobRecord) -> Result<(Workspace, Storage)> {
    let storage = engine.home.storage_dir(&job.spec.project);
    std::fs::create_dir_all(&storage).map_err(Error::at(&storage, "cannot create"))?;
    Ok((
        crate::jobs::workspaces::of_job(&engine.home, job),
        Storage::Folder(storage),
    ))
}

impl LaunchPreparer for mlbench_runtime::LocalRuntime {
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

/// What the manager's engine does for a Docker job, then a push to the swarm's registry so
/// every node can pull the image.
impl LaunchPreparer for mlbench_runtime::SwarmRuntime {
    async fn prepare_image(&self, engine: &Engine, job: &JobRecord) -> Result<()> {
        self.manager().prepare_image(engine, job).await?;
        let log_path = engine.home.job_log(job.id);
        let mut log = LogWriter::open(&log_path).map_err(Error::at(&log_path, "cannot open"))?;
        self.distribute(&job.spec.image, &mut |line| {
            let _ = log.note(line);
        })
        .await?;
        Ok(())
    }
}

impl LaunchPreparer for mlbench_runtime::DockerRuntime {
    async fn job_files(&self, engine: &Engine, job: &JobRecord) -> Result<(Workspace, Storage)> {
        if !self.is_remote() {
            return local_files(engine, job);
        }
        let key = job
            .snapshot
            .as_deref()
            .ok_or_else(|| Error::Other(format!("job {} has no snapshot of its code to send", job.id)))?;
        let names = VolumeNames::of_home(&engine.home.label());
        let labels = crate::home_labels(&engine.home);
        let owner = crate::invoking_ids();
        let code = names.code(key);
        let snapshot = crate::jobs::workspaces::snapshot_dir(&engine.home, key);
        if let CodeSent::Sent(bytes) = self.ensure_code(&code, &snapshot, owner, &labels).await? {
            note(
                engine,
                job.id,
                &format!(
                    "sent the code to engine {} ({}); its other jobs of the same code use it there",
                    self.engine_name(),
                    mlbench_domain::numfmt::human_bytes(bytes)
                ),
            );
        }
        self.make_layer(&names, job.id, owner, &labels).await?;
        let storage = names.storage(&job.spec.project);
        self.ensure_storage(&storage, Some(&format!("{}:{}", owner.0, owner.1)), &labels)
            .await?;
        Ok((
            Workspace::Volumes {
                code,
                layers: names.layers(),
                job: job.id,
            },
            Storage::Volume(storage),
        ))
    }

    async fn reach_ports(&self, job: &JobRecord) -> Result<()> {
        let ports: Vec<u16> = job.spec.ports.iter().map(|p| p.host_port).collect();
        Ok(mlbench_runtime::DockerRuntime::reach_ports(self, &ports).await?)
    }

    fn remote_engine(&self) -> Option<&str> {
        self.is_remote().then(|| self.engine_name())
    }

    async fn engine_answers(&self) -> bool {
        self.answers().await
    }

    async fn prepare_image(&self, engine: &Engine, job: &JobRecord) -> Result<()> {
        let spec = &job.spec;
        let mut log = LogWriter::open(&engine.home.job_log(job.id))
            .map_err(Error::at(&engine.home.job_log(job.id), "cannot open"))?;
        let mut write = |line: &str| {
            let _ = log.note(line);
        };
        if let Some(dockerfile) = &spec.build_dockerfile {
            write(&format!("building image {} from {dockerfile}", spec.image));
            // No labels: the classic builder turns each into a LABEL step of its own, slow and
            // left in the user's image; the job's container carries mlbench's labels.
            self.build(
                &crate::jobs::workspaces::code_of_job(&engine.home, job),
                dockerfile,
                &spec.image,
                &HashMap::new(),
                &mut write,
            )
            .await?;
        } else if spec.image == mlbench_runtime::images::runtime_tag() {
            self.ensure_runtime_image(false, &mut write).await?;
        } else if !self.image_exists(&spec.image).await?
            && !send_local_image(self, &spec.image, &mut write).await?
        {
            return Err(mlbench_runtime::Error::ImageMissing {
                image: spec.image.clone(),
            }
            .into());
        }
        Ok(())
    }
}

/// Sends `image` to the remote engine `docker` when this machine's engine has it (a remote
/// engine cannot pull what was built here); false when there is nothing to send it from.
pub(crate) async fn send_local_image(
    docker: &mlbench_runtime::DockerRuntime,
    image: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<bool> {
    if !docker.is_remote() {
        return Ok(false);
    }
    let Ok(local) = mlbench_runtime::DockerRuntime::connect(None).await else {
        return Ok(false);
    };
    if !local.image_exists(image).await? {
        return Ok(false);
    }
    let sent = docker.copy_image_from(&local, image, progress).await?;
    progress(&format!(
        "image {image} sent to engine {} ({})",
        docker.engine_name(),
        mlbench_domain::numfmt::human_bytes(sent)
    ));
    Ok(true)
}

async fn prepare_and_create<R: Runtime + LaunchPreparer>(
    engine: &Engine,
    runtime: &R,
    job: &JobRecord,
    image_checked: bool,
) -> Result<String> {
    if !image_checked {
        runtime.prepare_image(engine, job).await?;
    }
    let machine = engine.config.machine(&job.spec.machine)?.clone();
    let (workspace, storage) = runtime.job_files(engine, job).await?;
    // mlbench's runtime image runs as the user who runs mlbench, so files in /storage are
    // theirs; a user's image keeps its own user unless the config's run_as says otherwise.
    let own_image = job.spec.image == mlbench_runtime::images::runtime_tag();
    let spec = LaunchSpec {
        name: engine.home.container_name(job.id),
        image: job.spec.image.clone(),
        command: job.spec.command.clone(),
        env: job
            .spec
            .env
            .iter()
            .cloned()
            .chain([mlbench_domain::EnvVar {
                name: mlbench_ml::train::JOB_ID_VAR.into(),
                value: job.id.to_string(),
            }])
            .collect(),
        workspace,
        storage,
        storage_read_only: job.spec.storage_read_only,
        machine,
        ports: job.spec.ports.clone(),
        labels: job_labels(&engine.home, job.id),
        user: if own_image {
            invoking_user()
        } else {
            match &engine.config.run_as {
                Some(RunAs::Invoking) => invoking_user(),
                Some(RunAs::Id(id)) => Some(id.clone()),
                None => None,
            }
        },
        drop_capabilities: own_image,
        gpu_devices: job.devices.clone(),
        placement: job.spec.placement.clone(),
    };
    Ok(runtime.create(&spec).await?)
}

/// `uid:gid` of this process.
fn invoking_user() -> Option<String> {
    let (uid, gid) = crate::invoking_ids();
    Some(format!("{uid}:{gid}"))
}

/// Follows the job's output until its process ends, then records the end and frees the
/// container. A follow that ends while the job still runs (the engine restarted, a network
/// hiccup) is resumed from the log file.
async fn follow_to_end<R: Runtime + LaunchPreparer>(
    engine: &Engine,
    runtime: &R,
    job: i64,
    handle: &str,
) -> Result<()> {
    let mut failures = 0u32;
    loop {
        match append_output(engine, runtime, job, handle).await {
            Ok(()) => {}
            // The job goes on, and Docker keeps what it prints meanwhile: the follow waits for
            // room and resumes from Docker's copy, losing nothing.
            Err(err) if err.is_disk_full() => {
                wait_for_room(engine, job).await;
                continue;
            }
            Err(_) if waited_for_engine(engine, runtime, job).await => continue,
            Err(err) => {
                failures += 1;
                eprintln!("job {job}: following its output failed ({err}); trying again");
                if failures > 30 {
                    return Err(err);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        }
        // The end is recorded before the container is removed: a kill in between leaves a
        // container the next supervisor sweeps away, never a job that ended well shown as lost.
        let exit = match runtime.exit_status(handle).await {
            Ok(exit) => exit,
            Err(_) if waited_for_engine(engine, runtime, job).await => continue,
            Err(err) => return Err(err.into()),
        };
        let (state, code, detail, finished_at) = match exit {
            None => continue,
            Some(Exit::Vanished) => {
                let why = "its container or process vanished: removed outside mlbench (docker rm -f?) before its end was seen";
                note(engine, job, why);
                (JobState::Lost, None, Some(why.to_string()), None)
            }
            Some(Exit::Lost(why)) => {
                note(engine, job, &format!("lost: {why}"));
                (JobState::Lost, None, Some(why), None)
            }
            Some(Exit::NoCode(why)) => {
                note(engine, job, &format!("it ended without an exit code: {why}"));
                let state = engine.store.job(job)?.requested_end().unwrap_or(JobState::Failed);
                (state, None, Some(why), None)
            }
            Some(Exit::Code {
                code,
                oom_killed,
                finished_at,
            }) => {
                let record = engine.store.job(job)?;
                let state = JobState::from_exit(code, oom_killed, record.requested_end());
                let detail = match (state, code) {
                    // The sweep's driver said why when it pruned the trial.
                    (JobState::Pruned, _) => record.detail,
                    (JobState::OomKilled, _) if record.runtime == mlbench_domain::RuntimeKind::Swarm => {
                        let why = "SIGKILL (exit code 137) under its memory limit, not from mlbench: most likely killed for using more memory than its machine type has (Swarm does not report OOM kills)";
                        note(engine, job, why);
                        Some(why.to_string())
                    }
                    (JobState::OomKilled, _) => {
                        Some("killed for using more memory than its machine type has".to_string())
                    }
                    // Its own command ended well, but not everything in it did: say so.
                    (JobState::Succeeded, _) if oom_killed => {
                        let why = "a process in the job was killed for using more memory than its machine type has; the job's own command exited 0";
                        note(engine, job, why);
                        Some(why.to_string())
                    }
                    // SIGKILL or SIGTERM that mlbench did not send: say so, or the failure
                    // has no explanation.
                    (JobState::Failed, 137 | 143) => {
                        let signal = if code == 137 { "SIGKILL" } else { "SIGTERM" };
                        let why = format!(
                            "ended by {signal} from outside mlbench (docker stop or kill, or the engine) with exit code {code}"
                        );
                        note(engine, job, &why);
                        Some(why)
                    }
                    _ => None,
                };
                (state, Some(code), detail, finished_at)
            }
        };
        // The container (and Docker's copy of the output) goes only once the end is on record.
        loop {
            match engine
                .store
                .finish_at(job, state, code, detail.as_deref(), finished_at.as_deref())
            {
                Ok(_) => break,
                Err(err) => match Error::from(err) {
                    err if err.is_disk_full() => wait_for_room(engine, job).await,
                    err => return Err(err),
                },
            }
        }
        if let Err(err) = runtime.remove(handle).await {
            eprintln!("job {job}: cannot remove its container: {err}");
        }
        return Ok(());
    }
}

/// Waits until the disk holding the job's log has room again, saying so in the job's row while
/// it waits (if the store can still take that much) and in its log once it goes on.
async fn wait_for_room(engine: &Engine, job: i64) {
    let since = chrono::Local::now().format("%H:%M").to_string();
    let _ = engine
        .store
        .set_trouble(job, Some(&format!("disk full since {since}")));
    let dir = engine.home.job_dir(job);
    // At least a second each time: a disk can refuse writes while statvfs shows room (a quota,
    // no inodes left).
    tokio::time::sleep(Duration::from_secs(1)).await;
    while crate::disk::full(&dir, "").is_some() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The write that failed may have left half a record: cut it before the note goes after it.
    let _ = logfile::prepare_resume(&engine.home.job_log(job));
    note(
        engine,
        job,
        &format!(
            "the disk was full from {since} to {}: the log waited and goes on from Docker's copy of the output",
            chrono::Local::now().format("%H:%M")
        ),
    );
    let _ = engine.store.set_trouble(job, None);
}

/// Appends the job's output after what the log file already holds, recording its metrics.
async fn append_output<R: Runtime>(engine: &Engine, runtime: &R, job: i64, handle: &str) -> Result<()> {
    let path = engine.home.job_log(job);
    let resume = logfile::prepare_resume(&path).map_err(Error::at(&path, "cannot read"))?;
    let log = LogWriter::open(&path)
        .map_err(Error::at(&path, "cannot open"))?
        .with_max_line(engine.config.max_line_bytes);
    let mut output = JobOutput::new(log, &engine.store, job)?;
    Ok(runtime.follow(handle, resume, &mut output).await?)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use super::*;
    use mlbench_config::Config;
    use mlbench_domain::output::{OutputSink, ResumePoint};
    use mlbench_domain::{Capacity, JobKind, JobSpec, RuntimeKind, Source};
    use mlbench_runtime::Result;
    use mlbench_store::Store;
    use mlbench_store::home::Home;

    /// A runtime whose job has exited 0, that notes what the store said of each job it was
    /// asked to remove, at that moment.
    #[derive(Default)]
    struct Exited {
        leftovers: Vec<(i64, String)>,
        removed: RefCell<Vec<(String, JobState)>>,
        store_of: RefCell<Option<Store>>,
    }

    impl Runtime for Exited {
        async fn capacity(&self) -> Result<Capacity> {
            Ok(Capacity::default())
        }
        async fn create(&self, _spec: &LaunchSpec) -> Result<String> {
            Ok("c".into())
        }
        async fn start(&self, _handle: &str) -> Result<()> {
            Ok(())
        }
        async fn find(&self, _job: i64, _labels: &HashMap<String, String>) -> Result<Option<String>> {
            Ok(None)
        }
        async fn follow(
            &self,
            _handle: &str,
            _resume: Option<ResumePoint>,
            _log: &mut impl OutputSink,
        ) -> Result<()> {
            Ok(())
        }
        async fn exit_status(&self, _handle: &str) -> Result<Option<Exit>> {
            Ok(Some(Exit::Code {
                code: 0,
                oom_killed: false,
                finished_at: None,
            }))
        }
        async fn stop(&self, _handle: &str, _grace: Duration) -> Result<()> {
            Ok(())
        }
        async fn exec(&self, _handle: &str, _spec: &mlbench_runtime::exec::ExecSpec) -> Result<i64> {
            Ok(0)
        }
        async fn usage(&self, _handle: &str) -> Result<Option<mlbench_runtime::usage::Usage>> {
            Ok(None)
        }
        async fn remove(&self, handle: &str) -> Result<()> {
            let store = self.store_of.borrow();
            let job: i64 = handle.trim_start_matches('c').parse().unwrap_or(0);
            let state = store
                .as_ref()
                .map_or(JobState::Lost, |s| s.job(job).unwrap().state);
            self.removed.borrow_mut().push((handle.to_string(), state));
            Ok(())
        }
        async fn leftovers(&self, _labels: &HashMap<String, String>) -> Result<Vec<(i64, String)>> {
            Ok(self.leftovers.clone())
        }
    }

    impl LaunchPreparer for Exited {
        async fn prepare_image(&self, _engine: &Engine, _job: &JobRecord) -> crate::Result<()> {
            Ok(())
        }
    }

    fn engine(dir: &std::path::Path) -> Engine {
        let home = Home::at(dir.to_path_buf()).unwrap();
        let store = Store::open(&home).unwrap();
        store.create_project("p").unwrap();
        Engine {
            store,
            config: Config::parse("").unwrap(),
            home,
        }
    }

    fn running_job(engine: &Engine) -> i64 {
        let spec = JobSpec {
            kind: JobKind::Training,
            deployment: None,
            storage_read_only: false,
            project: "p".into(),
            machine: "G1".into(),
            image: "i".into(),
            build_dockerfile: None,
            source: Source::Folder { path: "/".into() },
            command: vec!["true".into()],
            env: vec![],
            ports: vec![],
            placement: Vec::new(),
            engine: mlbench_domain::LOCAL_ENGINE.into(),
        };
        let job = engine.store.insert_job(&spec, RuntimeKind::Docker, None).unwrap();
        let host = Capacity {
            cpus: 64.0,
            memory_bytes: 1 << 40,
            gpus: 0,
        };
        assert!(
            engine
                .store
                .try_claim(job, &engine.config.machines[0], &host, &engine.config.machines)
                .unwrap()
                .is_claimed()
        );
        engine.store.mark_running(job, &format!("c{job}")).unwrap();
        std::fs::create_dir_all(engine.home.job_dir(job)).unwrap();
        job
    }

    /// Regression: the container was removed before the end was recorded, so a kill in between
    /// turned a job that exited 0 into `lost`.
    #[tokio::test]
    async fn the_end_is_recorded_before_the_container_goes() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(dir.path());
        let job = running_job(&engine);
        let runtime = Exited::default();
        *runtime.store_of.borrow_mut() = Some(Store::open(&engine.home).unwrap());
        follow_to_end(&engine, &runtime, job, &format!("c{job}"))
            .await
            .unwrap();
        assert_eq!(
            runtime.removed.borrow().as_slice(),
            [(format!("c{job}"), JobState::Succeeded)]
        );
    }

    #[tokio::test]
    async fn containers_of_ended_jobs_are_swept_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(dir.path());
        let ended = running_job(&engine);
        engine
            .store
            .finish(ended, JobState::Succeeded, Some(0), None)
            .unwrap();
        let live = running_job(&engine);
        let runtime = Exited {
            leftovers: vec![(ended, format!("c{ended}")), (live, format!("c{live}"))],
            ..Exited::default()
        };
        *runtime.store_of.borrow_mut() = Some(Store::open(&engine.home).unwrap());
        sweep_leftovers(&engine, &runtime).await;
        let removed: Vec<String> = runtime.removed.borrow().iter().map(|(h, _)| h.clone()).collect();
        assert_eq!(removed, [format!("c{ended}")]);
    }
}
