//! The Docker Swarm runtime: each job a one-replica service (see [`spec`]) on the swarm whose
//! manager `DOCKER_HOST` names. Images reach the nodes through a registry; the job's workspace
//! and storage are bind mounts of a folder every node mounts at the same path. Output comes from
//! the task's logs on its node (stdout and stderr apart), copied into mlbench's own log file,
//! which outlives the service.

pub(crate) mod nodes;
pub(crate) mod spec;

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{Task, TaskState};
use bollard::query_parameters::{
    ListServicesOptionsBuilder, ListTasksOptionsBuilder, LogsOptionsBuilder, PushImageOptionsBuilder,
    TagImageOptionsBuilder, UpdateServiceOptionsBuilder,
};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use mlbench_domain::output::{OutputSink, Placement, ResumeFilter, ResumePoint, Stream, TS_LEN};
use mlbench_domain::{Capacity, FromIo, MachineType};

use super::docker::{JOB_LABEL, LineAssembler, copy_frames, is_not_found};
use super::{DockerRuntime, Exit, LaunchSpec, Runtime};
use crate::{Error, Result};

/// How often a task's state is looked at while it waits or runs. A dead node is seen once the
/// manager marks it down (its heartbeat is missed: about 15 s on Swarm's defaults) plus this.
const TASK_POLL: Duration = Duration::from_millis(250);
/// How often a task on its way to a node is looked at: its first line waits on this.
const PLACEMENT_POLL: Duration = Duration::from_millis(50);
/// How long an ended task's log stream must be quiet before mlbench checks its end.
const QUIET_AFTER_END: Duration = Duration::from_millis(150);
/// How many of a stream's last lines are read back to find where the follow left it.
const TAIL_LOOK: usize = 64;

pub struct SwarmRuntime {
    /// The manager's engine: it builds images and holds them before they are pushed.
    manager: DockerRuntime,
    registry: Option<String>,
}

/// Whether a task in this state is done with: it will not run (again).
pub(crate) fn task_ended(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::COMPLETE
            | TaskState::SHUTDOWN
            | TaskState::FAILED
            | TaskState::REJECTED
            | TaskState::REMOVE
            | TaskState::ORPHANED
    )
}

/// Where a service's task stands, as far as mlbench cares.
enum TaskView {
    /// The service is gone.
    Gone,
    /// The service was scaled to 0 (stopped) and Swarm has removed its task, exit code and all.
    Reaped,
    /// No node has taken it yet; the scheduler's reason, when it gives one.
    Waiting(Option<String>),
    /// On a node (running, or past it): the task, and the node's name, address and whether it
    /// is up.
    Placed {
        task: Box<Task>,
        node: String,
        address: String,
        node_up: bool,
    },
}

impl SwarmRuntime {
    /// Connects to the manager `DOCKER_HOST` names; `Err` says why it is not one.
    pub fn connect(registry: Option<String>) -> LocalBoxFuture<'static, Result<SwarmRuntime>> {
        Box::pin(async move {
            let manager = DockerRuntime::connect(None).await?;
            // Only a manager answers this (503 elsewhere), and far quicker than the engine's /info.
            match manager.docker.inspect_swarm().await {
                Ok(_) => Ok(SwarmRuntime { manager, registry }),
                Err(bollard::errors::Error::DockerResponseServerError { status_code: 503, .. }) => {
                    Err(Error::Invalid(format!(
                        "the Docker Engine at {} is not a Swarm manager: point DOCKER_HOST at a manager of your swarm (or run `docker swarm init` there)",
                        DockerRuntime::address()
                    )))
                }
                Err(err) => Err(err.into()),
            }
        })
    }

    /// The manager's engine, for what only it does: images and builds.
    pub fn manager(&self) -> &DockerRuntime {
        &self.manager
    }

    fn docker(&self) -> &Docker {
        &self.manager.docker
    }

    /// Every node, with the jobs of the home `home_labels` names on each (none: no jobs).
    pub fn nodes<'a>(
        &'a self,
        home_labels: Option<&'a HashMap<String, String>>,
    ) -> LocalBoxFuture<'a, Result<Vec<nodes::NodeRow>>> {
        Box::pin(async move { nodes::list(self.docker(), home_labels).await })
    }

    /// Refuses a machine type no node that takes jobs could ever hold.
    pub fn check_fits<'a>(&'a self, machine: &'a MachineType) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let nodes = self.nodes(None).await?;
            let open: Vec<_> = nodes.iter().filter(|n| n.takes_jobs()).collect();
            let fits = |n: &&nodes::NodeRow| {
                n.cpus >= machine.cpus
                    && n.memory_bytes >= machine.memory_bytes
                    && n.gpus >= i64::from(machine.gpus)
            };
            if open.iter().any(fits) {
                return Ok(());
            }
            let largest = open.iter().max_by(|a, b| a.cpus.total_cmp(&b.cpus)).map_or_else(
                || "no node is ready and active".into(),
                |n| {
                    format!(
                        "the largest ready node, {}, has {} vCPU, {} and {} GPU",
                        n.name,
                        n.cpus,
                        mlbench_domain::numfmt::human_bytes(n.memory_bytes),
                        n.gpus
                    )
                },
            );
            Err(Error::Invalid(format!(
                "machine type {} ({} vCPU, {}, {} GPU) fits no node of the swarm: {largest}; `mlbench nodes` lists them",
                machine.name,
                machine.cpus,
                mlbench_domain::numfmt::human_bytes(machine.memory_bytes),
                machine.gpus
            )))
        })
    }

    /// The reference every node pulls `image` by. An image only the manager has is pushed to
    /// the registry first (its progress to `progress`) and named by digest, so every task of a
    /// job runs the very same image even if the tag moves.
    pub fn distribute<'a>(
        &'a self,
        image: &'a str,
        progress: &'a mut dyn FnMut(&str),
    ) -> LocalBoxFuture<'a, Result<String>> {
        Box::pin(async move {
            if image.contains('@') {
                return Ok(image.to_string());
            }
            let local = match self.docker().inspect_image(image).await {
                Ok(found) => found,
                Err(err) if is_not_found(&err) && names_registry(image) => return Ok(image.to_string()),
                Err(err) if is_not_found(&err) => {
                    return Err(Error::ImageMissing {
                        image: image.to_string(),
                    });
                }
                Err(err) => return Err(err.into()),
            };
            let (repo, tag) = split_tag(image);
            let target_repo = match (&self.registry, names_registry(image)) {
                (_, true) => repo.to_string(),
                (Some(registry), false) => format!("{registry}/{repo}"),
                (None, false) => {
                    return Err(Error::Invalid(format!(
                        "image {image} is only on the manager, and the swarm's nodes cannot pull it: set registry = \"HOST:PORT\" in the config (see `mlbench config`) so mlbench pushes it there"
                    )));
                }
            };
            let pushed = |digests: &Option<Vec<String>>| {
                digests
                    .iter()
                    .flatten()
                    .find(|d| {
                        d.strip_prefix(&target_repo)
                            .is_some_and(|rest| rest.starts_with('@'))
                    })
                    .cloned()
            };
            if let Some(reference) = pushed(&local.repo_digests) {
                return Ok(reference);
            }
            if target_repo != repo {
                let options = TagImageOptionsBuilder::default()
                    .repo(&target_repo)
                    .tag(tag)
                    .build();
                self.docker().tag_image(image, Some(options)).await?;
            }
            progress(&format!("pushing {target_repo}:{tag} so every node can pull it"));
            let options = PushImageOptionsBuilder::default().tag(tag).build();
            let mut stream = self.docker().push_image(&target_repo, Some(options), None);
            let mut said = String::new();
            while let Some(info) = stream.next().await {
                let info = info?;
                if let Some(error) = info.error_detail.and_then(|e| e.message) {
                    return Err(Error::Docker(format!("pushing {target_repo}:{tag}: {error}")));
                }
                // One line per layer and step, not per progress tick.
                if let Some(status) = info.status
                    && status != said
                {
                    progress(&status);
                    said = status;
                }
            }
            let after = self.docker().inspect_image(image).await?;
            pushed(&after.repo_digests).ok_or_else(|| {
                Error::Docker(format!(
                    "pushed {target_repo}:{tag}, but the engine names no digest for it"
                ))
            })
        })
    }

    /// The newest task of a service, and where it stands.
    async fn task_view(&self, service: &str) -> Result<TaskView> {
        let filters = HashMap::from([("service".to_string(), vec![service.to_string()])]);
        let options = ListTasksOptionsBuilder::default().filters(&filters).build();
        let tasks = match self.docker().list_tasks(Some(options)).await {
            Ok(tasks) => tasks,
            Err(err) if is_not_found(&err) => return Ok(TaskView::Gone),
            Err(err) => return Err(err.into()),
        };
        let newest = tasks
            .into_iter()
            .max_by_key(|t| t.version.as_ref().and_then(|v| v.index).unwrap_or(0));
        let Some(task) = newest else {
            // A task is made as the service is: none means the service is gone (a filter on an
            // unknown service lists nothing) or was just made.
            return match self.docker().inspect_service(service, None).await {
                Err(err) if is_not_found(&err) => Ok(TaskView::Gone),
                Err(err) => Err(err.into()),
                Ok(found) => {
                    let replicas = found
                        .spec
                        .and_then(|s| s.mode)
                        .and_then(|m| m.replicated)
                        .and_then(|r| r.replicas);
                    Ok(if replicas == Some(0) {
                        TaskView::Reaped
                    } else {
                        TaskView::Waiting(None)
                    })
                }
            };
        };
        let Some(node_id) = task.node_id.clone().filter(|n| !n.is_empty()) else {
            let status = task.status.unwrap_or_default();
            // Its message ("pending task scheduling") comes with every start; only an error
            // ("no suitable node …") says why it waits.
            return Ok(TaskView::Waiting(status.err));
        };
        let (node, address, node_up) = match self.docker().inspect_node(&node_id).await {
            Ok(node) => {
                let status = node.status.unwrap_or_default();
                (
                    node.description.and_then(|d| d.hostname).unwrap_or(node_id),
                    status.addr.unwrap_or_default(),
                    status.state == Some(bollard::models::NodeState::READY),
                )
            }
            // A node removed from the swarm is as gone as a dead one.
            Err(err) if is_not_found(&err) => (node_id, String::new(), false),
            Err(err) => return Err(err.into()),
        };
        Ok(TaskView::Placed {
            task: Box::new(task),
            node,
            address,
            node_up,
        })
    }

    /// Waits until a node has the service's task, saying why while it waits and where it went.
    /// Returns the task's id once it has a container, or `None` when it never will.
    async fn placed_task(&self, service: &str, log: &mut impl OutputSink) -> Result<Option<String>> {
        let mut said: Option<String> = None;
        loop {
            match self.task_view(service).await? {
                TaskView::Gone | TaskView::Reaped => return Ok(None),
                TaskView::Waiting(why) => {
                    if let Some(why) = why.filter(|w| said.as_ref() != Some(w)) {
                        log.placement(Placement::Waiting(&why))
                            .map_err(|e| Error::io("cannot write the job log", e))?;
                        said = Some(why);
                    }
                }
                TaskView::Placed {
                    task, node, address, ..
                } => {
                    let status = task.status.clone().unwrap_or_default();
                    let state = status.state.unwrap_or(TaskState::NEW);
                    let has_container = status.container_status.and_then(|c| c.container_id).is_some();
                    if state >= TaskState::RUNNING || task_ended(state) {
                        log.placement(Placement::OnNode {
                            name: &node,
                            address: &address,
                        })
                        .map_err(|e| Error::io("cannot write the job log", e))?;
                        return Ok(has_container.then(|| task.id.unwrap_or_default()));
                    }
                }
            }
            tokio::time::sleep(PLACEMENT_POLL).await;
        }
    }

    /// Returns once the task has ended, or its node is gone.
    async fn until_ended(&self, service: &str) -> Result<()> {
        loop {
            match self.task_view(service).await? {
                TaskView::Gone | TaskView::Reaped => return Ok(()),
                TaskView::Placed { task, node_up, .. } => {
                    let state = task.status.and_then(|s| s.state).unwrap_or(TaskState::NEW);
                    if task_ended(state) || !node_up {
                        return Ok(());
                    }
                }
                TaskView::Waiting(_) => {}
            }
            tokio::time::sleep(TASK_POLL).await;
        }
    }

    /// Adds to `log` what one stream of the ended task has after what the follow passed. Its
    /// last [`TAIL_LOOK`] lines are read (with their times, to the nanosecond) and the follow's
    /// last line is looked for among them: what comes after it is what was missing, usually
    /// nothing. When it is not among them (more is missing, or a resume was cut short), the
    /// stream is read again from the second of the last line passed: `since` takes whole
    /// seconds, so the lines of that second already passed are skipped.
    async fn complete_stream(
        &self,
        task: &str,
        stream: Stream,
        passed: &Passed,
        log: &mut impl OutputSink,
    ) -> Result<()> {
        let options = |since: i32, tail: &str| {
            LogsOptionsBuilder::default()
                .stdout(stream == Stream::Stdout)
                .stderr(stream == Stream::Stderr)
                .timestamps(true)
                .since(since)
                .tail(tail)
                .build()
        };
        let write = |e| Error::io("cannot write the job log", e);
        if let (Some((at, _)), 0) = (passed.at, passed.unread) {
            let mut end = Collected::default();
            let mut lines = LineAssembler::new(ResumeFilter::new(None));
            let frames = self
                .docker()
                .task_logs(task, Some(options(0, &TAIL_LOOK.to_string())));
            copy_frames(frames, &mut end, |stream, message, sink| {
                lines.push(stream, message, sink)
            })
            .await?;
            lines.finish(&mut end).map_err(write)?;
            if let Some(found) = end
                .0
                .iter()
                .rposition(|(ts, text, _)| *ts == at && *text == passed.last)
            {
                for (ts, text, cut) in &end.0[found + 1..] {
                    if *cut {
                        log.cut(ts, stream, text).map_err(write)?;
                    } else {
                        log.line(ts, stream, text).map_err(write)?;
                    }
                }
                return Ok(());
            }
        }
        let (since, in_last_second) = match passed.at {
            Some((at, count)) => (unix_seconds(&at), count),
            None => (0, 0),
        };
        let slot = usize::from(stream == Stream::Stderr);
        let mut point = ResumePoint::default();
        point.seen[slot] = in_last_second + passed.unread;
        point.last[slot].clone_from(&passed.last);
        let mut rest = LineAssembler::new(ResumeFilter::new(Some(&point)));
        let frames = self.docker().task_logs(task, Some(options(since, "all")));
        copy_frames(frames, log, |stream, message, log| {
            rest.push(stream, message, log)
        })
        .await?;
        rest.finish(log).map_err(write)
    }

    /// Services of this home carrying all of `labels`, as (labels, id).
    async fn services_labelled(&self, labels: Vec<String>) -> Result<Vec<(HashMap<String, String>, String)>> {
        let filters = HashMap::from([("label".to_string(), labels)]);
        let options = ListServicesOptionsBuilder::default().filters(&filters).build();
        Ok(self
            .docker()
            .list_services(Some(options))
            .await?
            .into_iter()
            .filter_map(|s| Some((s.spec.and_then(|s| s.labels).unwrap_or_default(), s.id?)))
            .collect())
    }
}

/// What a follow passed of one stream: where a read of that stream's end picks up.
struct Passed {
    /// The time of the last line passed, and how many passed lines were in its second.
    at: Option<([u8; TS_LEN], usize)>,
    /// The text of the last line passed (or, when `unread` is not 0, the file's last line).
    last: Vec<u8>,
    /// Lines the file has that the read did not get to.
    unread: usize,
}

/// Lines kept in memory, for a look at a stream's end.
#[derive(Default)]
struct Collected(Vec<([u8; TS_LEN], Vec<u8>, bool)>);

impl Collected {
    fn keep(&mut self, ts: &[u8], text: &[u8], cut: bool) -> std::io::Result<()> {
        let ts = ts
            .try_into()
            .map_err(|_| std::io::Error::other("a log time of the wrong width"))?;
        self.0.push((ts, text.to_vec(), cut));
        Ok(())
    }
}

impl OutputSink for Collected {
    fn line(&mut self, ts: &[u8], _stream: Stream, text: &[u8]) -> std::io::Result<()> {
        self.keep(ts, text, false)
    }

    fn cut(&mut self, ts: &[u8], _stream: Stream, text: &[u8]) -> std::io::Result<()> {
        self.keep(ts, text, true)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `frames` until `ended` is done and no frame has come for [`QUIET_AFTER_END`]: a task's log
/// stream never ends by itself.
fn until_quiet_after<S, E>(frames: S, ended: E) -> impl futures_util::Stream<Item = S::Item>
where
    S: futures_util::Stream,
    E: std::future::Future,
{
    let state = (Box::pin(frames), Some(Box::pin(ended)));
    futures_util::stream::unfold(state, |(mut frames, mut ended)| async move {
        if let Some(watch) = ended.as_mut() {
            tokio::select! {
                biased;
                item = frames.next() => return item.map(|item| (item, (frames, ended))),
                _ = watch => ended = None,
            }
        }
        match tokio::time::timeout(QUIET_AFTER_END, frames.next()).await {
            Ok(Some(item)) => Some((item, (frames, ended))),
            _ => None,
        }
    })
}

/// The second of a fixed-width log time (UTC) as a Unix time, for a log read's `since`; 0 (from the start)
/// when it cannot be read or does not fit.
fn unix_seconds(ts: &[u8; TS_LEN]) -> i32 {
    std::str::from_utf8(&ts[..19])
        .ok()
        .and_then(|s| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").ok())
        .and_then(|t| i32::try_from(t.and_utc().timestamp()).ok())
        .unwrap_or(0)
}

/// Whether an image reference starts with a registry (`host.domain/…`, `host:port/…`,
/// `localhost/…`) rather than a Docker Hub name.
fn names_registry(image: &str) -> bool {
    image
        .split_once('/')
        .is_some_and(|(first, _)| first.contains('.') || first.contains(':') || first == "localhost")
}

/// `repo:tag` split at the tag's colon (not a registry's port); no tag is `latest`.
fn split_tag(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (image, "latest"),
    }
}

impl Runtime for SwarmRuntime {
    /// What the nodes that take jobs have together: mlbench's queue lets jobs go while the
    /// swarm as a whole has room, and Swarm puts each where it fits.
    async fn capacity(&self) -> Result<Capacity> {
        let nodes = self.nodes(None).await?;
        let open = nodes.iter().filter(|n| n.takes_jobs());
        Ok(open.fold(Capacity::default(), |sum, n| Capacity {
            cpus: sum.cpus + n.cpus,
            memory_bytes: sum.memory_bytes + n.memory_bytes,
            gpus: sum.gpus + u32::try_from(n.gpus).unwrap_or(0),
        }))
    }

    /// Makes the job's service; Swarm starts its task as soon as a node takes it.
    async fn create(&self, spec: &LaunchSpec) -> Result<String> {
        let image = self.distribute(&spec.image, &mut |_| {}).await?;
        match self
            .docker()
            .create_service(spec::service_spec(spec, &image)?, None)
            .await
        {
            Ok(created) => created
                .id
                .ok_or_else(|| Error::Docker("the manager made a service but gave no id".into())),
            // The name is taken: a launch of this same job was cut short after the create.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) => {
                let mut wanted: Vec<String> = spec.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                wanted.sort();
                let found = self.services_labelled(wanted).await?.into_iter().next();
                found.map(|(_, id)| id).ok_or_else(|| {
                    Error::Docker(format!(
                        "a service called {} exists and is not this job's: remove it (docker service rm)",
                        spec.name
                    ))
                })
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Nothing to do: the task's logs are read from their start, so none of its output is missed.
    async fn start(&self, _handle: &str) -> Result<()> {
        Ok(())
    }

    async fn find(&self, job: i64, labels: &HashMap<String, String>) -> Result<Option<String>> {
        let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        wanted.push(format!("{JOB_LABEL}={job}"));
        Ok(self
            .services_labelled(wanted)
            .await?
            .into_iter()
            .next()
            .map(|(_, id)| id))
    }

    async fn leftovers(&self, labels: &HashMap<String, String>) -> Result<Vec<(i64, String)>> {
        let wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Ok(self
            .services_labelled(wanted)
            .await?
            .into_iter()
            .filter_map(|(labels, id)| Some((labels.get(JOB_LABEL)?.parse().ok()?, id)))
            .collect())
    }

    /// Follows the task's logs while it runs. A task's log stream does not end with the task,
    /// so its state is watched beside it; once the task has ended, the stream is read until it
    /// has been quiet for `QUIET_AFTER_END`. Then the end of each stream is read back
    /// (`complete_stream`) to check that nothing is missing, and to add what is.
    async fn follow(
        &self,
        handle: &str,
        resume: Option<ResumePoint>,
        log: &mut impl OutputSink,
    ) -> Result<()> {
        let Some(task) = self.placed_task(handle, log).await? else {
            return Ok(());
        };
        let mut live = LineAssembler::new(ResumeFilter::new(resume.as_ref()));
        let options = LogsOptionsBuilder::default()
            .follow(true)
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .build();
        let frames = until_quiet_after(
            self.docker().task_logs(&task, Some(options)),
            self.until_ended(handle),
        );
        copy_frames(frames, log, |stream, message, log| {
            live.push(stream, message, log)
        })
        .await?;
        let resumed = resume.unwrap_or_default();
        // Lines the file has that the live read did not get to (it was cut short); the read
        // below skips them, and checks that its last is the file's.
        let unread = |slot: usize| resumed.seen[slot].saturating_sub(live.passed.seen[slot]);
        if unread(0) == 0 && unread(1) == 0 {
            live.say_mismatch(log)
                .map_err(|e| Error::io("cannot write the job log", e))?;
        }
        for stream in [Stream::Stdout, Stream::Stderr] {
            let slot = usize::from(stream == Stream::Stderr);
            let passed = Passed {
                at: live.last_at[slot],
                last: if unread(slot) > 0 {
                    resumed.last[slot].clone()
                } else {
                    std::mem::take(&mut live.passed.last[slot])
                },
                unread: unread(slot),
            };
            match self.complete_stream(&task, stream, &passed, log).await {
                // A dead node's logs cannot be read: what was copied is what there is.
                Err(_)
                    if self
                        .exit_status(handle)
                        .await
                        .is_ok_and(|e| matches!(e, Some(Exit::Lost(_)))) =>
                {
                    break;
                }
                other => other?,
            }
        }
        log.flush().map_err(|e| Error::io("cannot write the job log", e))
    }

    async fn exit_status(&self, handle: &str) -> Result<Option<Exit>> {
        let (task, node, node_up) = match self.task_view(handle).await? {
            TaskView::Gone => return Ok(Some(Exit::Vanished)),
            TaskView::Reaped => {
                return Ok(Some(Exit::NoCode(
                    "it was stopped, and Swarm removed its task before its exit code was read".into(),
                )));
            }
            TaskView::Waiting(_) => return Ok(None),
            TaskView::Placed {
                task, node, node_up, ..
            } => (task, node, node_up),
        };
        let desired = task.desired_state;
        let status = task.status.unwrap_or_default();
        let state = status.state.unwrap_or(TaskState::NEW);
        let why = status
            .err
            .or(status.message)
            .unwrap_or_else(|| format!("{state}"));
        if !task_ended(state) {
            return Ok((!node_up).then(|| {
                Exit::Lost(format!(
                    "node {node} went down while the job ran there: nothing reports how it ends (it may still run on {node})"
                ))
            }));
        }
        if state == TaskState::ORPHANED {
            return Ok(Some(Exit::Lost(format!(
                "node {node} was down too long: Swarm gave its task up"
            ))));
        }
        let code = status.container_status.and_then(|c| c.exit_code);
        Ok(Some(match (state, code) {
            (TaskState::COMPLETE, _) => Exit::Code {
                code: 0,
                oom_killed: false,
                finished_at: status.timestamp.clone(),
            },
            (TaskState::FAILED | TaskState::SHUTDOWN, Some(code)) => Exit::Code {
                code,
                // Swarm reports no OOM kill: a SIGKILL nobody asked for under a memory limit
                // is taken as one (see the supervisor's note).
                oom_killed: code == 137 && desired != Some(TaskState::SHUTDOWN),
                finished_at: status.timestamp.clone(),
            },
            _ => Exit::NoCode(format!("on node {node}: {why}")),
        }))
    }

    /// Scales the service to 0: Swarm sends SIGTERM, then SIGKILL after `grace`, and keeps the
    /// ended task (its exit code, its logs) until the service is removed.
    async fn stop(&self, handle: &str, grace: Duration) -> Result<()> {
        let service = match self.docker().inspect_service(handle, None).await {
            Ok(service) => service,
            Err(err) if is_not_found(&err) => return Ok(()),
            Err(err) => return Err(err.into()),
        };
        let version = service.version.and_then(|v| v.index).unwrap_or(0);
        let mut spec = service.spec.unwrap_or_default();
        if let Some(mode) = spec.mode.as_mut().and_then(|m| m.replicated.as_mut()) {
            mode.replicas = Some(0);
        }
        if let Some(container) = spec
            .task_template
            .as_mut()
            .and_then(|t| t.container_spec.as_mut())
        {
            container.stop_grace_period = Some(i64::try_from(grace.as_nanos()).unwrap_or(i64::MAX));
        }
        let options = UpdateServiceOptionsBuilder::default()
            .version(i32::try_from(version).unwrap_or(i32::MAX))
            .build();
        match self.docker().update_service(handle, spec, options, None).await {
            Err(err) if !is_not_found(&err) => Err(err.into()),
            _ => Ok(()),
        }
    }

    async fn remove(&self, handle: &str) -> Result<()> {
        match self.docker().delete_service(handle).await {
            Err(err) if !is_not_found(&err) => Err(err.into()),
            _ => Ok(()),
        }
    }

    /// The manager cannot read a task's container on another node: no live figures on Swarm.
    async fn usage(&self, _handle: &str) -> Result<Option<super::usage::Usage>> {
        Ok(None)
    }

    async fn exec(&self, handle: &str, _spec: &super::exec::ExecSpec) -> Result<i64> {
        let node = match self.task_view(handle).await? {
            TaskView::Placed { node, .. } => node,
            _ => "its node".into(),
        };
        Err(Error::Invalid(format!(
            "a Swarm task cannot be entered through the manager: run `docker exec` on {node}'s engine"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_and_tags_are_told_apart() {
        assert!(names_registry("10.78.0.2:5000/bb"));
        assert!(names_registry("registry.example.com/team/model:1"));
        assert!(names_registry("localhost/x"));
        assert!(!names_registry("mlbench/runtime:0.2.0"));
        assert!(!names_registry("python:3.11"));
        assert_eq!(split_tag("mlbench/runtime:0.2.0"), ("mlbench/runtime", "0.2.0"));
        assert_eq!(split_tag("10.78.0.2:5000/bb"), ("10.78.0.2:5000/bb", "latest"));
        assert_eq!(split_tag("10.78.0.2:5000/bb:v1"), ("10.78.0.2:5000/bb", "v1"));
        assert_eq!(split_tag("iris"), ("iris", "latest"));
    }

    #[test]
    fn a_log_second_is_read_as_unix_time() {
        assert_eq!(unix_seconds(b"2026-11-24T18:30:05.123456789Z"), 1_795_545_005);
        assert_eq!(unix_seconds(b"not a time at all, not at all!"), 0);
    }
}
