//! The Docker Engine runtime, through bollard. Honours `DOCKER_HOST`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use bollard::container::{AttachContainerResults, LogOutput};
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerCreateBody, ContainerState, DeviceRequest, HostConfig, HostConfigLogConfig, Mount, MountType,
    MountVolumeOptions, MountVolumeOptionsDriverConfig, PortBinding,
};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, ListContainersOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::future::LocalBoxFuture;
use futures_util::{FutureExt, StreamExt};
use mlbench_domain::output::{
    HeldLine, OutputSink, Piece, ResumeFilter, ResumePoint, Stream, TS_LEN, normalize_docker_ts, now_ts,
};
use mlbench_domain::{Capacity, EngineAddress, FromIo};

use super::lines::{RawLines, without_cr};
use super::ssh::SshLink;
use super::{Exit, LaunchSpec, Runtime, Workspace};
use crate::{Error, Result};

pub const JOB_LABEL: &str = "mlbench.job";
pub const HOME_LABEL: &str = "mlbench.home";

/// How long the engine's CPU and memory totals are taken as known: asking costs ~45 ms (the
/// daemon gathers its whole `/info`), which would otherwise sit between submit and start.
const CAPACITY_TTL_SECS: i64 = 600;

#[derive(Clone)]
pub struct DockerRuntime {
    pub(crate) docker: Docker,
    capacity_cache: Option<PathBuf>,
    /// Output streams of the containers this process started, by id, until they are followed.
    attached: Arc<Mutex<HashMap<String, AttachContainerResults>>>,
    /// Which engine this is: the local one, or one the config names.
    pub(crate) engine: EngineRef,
}

/// A Docker Engine the config names, and how it is reached.
#[derive(Debug, Clone)]
pub struct NamedEngine {
    pub name: String,
    pub address: EngineAddress,
    /// Over SSH: the link that forwards its socket (and deployments' ports).
    pub link: Option<SshLink>,
    /// Over TCP with TLS: the CA, the client's certificate and its key.
    pub tls: Option<[PathBuf; 3]>,
}

/// Which engine a [`DockerRuntime`] talks to.
#[derive(Debug, Clone)]
pub enum EngineRef {
    /// The engine `DOCKER_HOST` names (or the default socket), beside this machine's files.
    Local,
    /// A named engine: remote, it sees none of this machine's files.
    Named(Box<NamedEngine>),
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CachedCapacity {
    address: String,
    fetched_unix: i64,
    cpus: f64,
    memory_bytes: u64,
    #[serde(default)]
    gpus: u32,
}

pub(super) fn is_not_found(err: &BollardError) -> bool {
    matches!(
        err,
        BollardError::DockerResponseServerError { status_code: 404, .. }
    )
}

impl DockerRuntime {
    /// What the engine says of itself (`docker info`), in its own words when it fails.
    pub fn info<'a>(&'a self) -> LocalBoxFuture<'a, Result<bollard::models::SystemInfo, BollardError>> {
        Box::pin(async move { self.docker.info().await })
    }

    /// The engine's Docker version (`docker version`'s server line).
    pub fn version<'a>(&'a self) -> LocalBoxFuture<'a, Result<String>> {
        Box::pin(async move {
            let version = self.docker.version().await?;
            Ok(version.version.unwrap_or_else(|| "unknown".into()))
        })
    }

    /// The API version agreed on with the engine.
    pub fn api_version(&self) -> bollard::ClientVersion {
        self.docker.client_version()
    }

    /// Connects to the local engine and agrees on an API version; `Err` says why no engine
    /// answered. `capacity_cache` is a file where the engine's totals are kept between
    /// processes.
    pub fn connect(capacity_cache: Option<PathBuf>) -> LocalBoxFuture<'static, Result<DockerRuntime>> {
        Box::pin(async move {
            let docker = Docker::connect_with_defaults()?;
            DockerRuntime::negotiate(docker, capacity_cache, EngineRef::Local).await
        })
    }

    /// Connects to a named engine: over SSH, the link's forwarded socket (started when no
    /// mlbench process keeps it yet); over TCP, with TLS when the engine's table names its files.
    pub fn connect_named(
        engine: NamedEngine,
        capacity_cache: Option<PathBuf>,
    ) -> LocalBoxFuture<'static, Result<DockerRuntime>> {
        Box::pin(async move {
            let docker = match (&engine.link, &engine.address) {
                (Some(link), _) => {
                    let link = link.clone();
                    // The first connection waits for ssh: not on the caller's async thread.
                    let socket = tokio::task::spawn_blocking(move || link.ensure())
                        .await
                        .map_err(|e| Error::Other(format!("the ssh link's thread failed: {e}")))??;
                    Docker::connect_with_unix(
                        &socket.display().to_string(),
                        DOCKER_TIMEOUT_SECS,
                        bollard::API_DEFAULT_VERSION,
                    )?
                }
                (None, EngineAddress::Unix(path)) => Docker::connect_with_unix(
                    &path.display().to_string(),
                    DOCKER_TIMEOUT_SECS,
                    bollard::API_DEFAULT_VERSION,
                )?,
                (None, EngineAddress::Tcp { host, port }) => {
                    super::tls::connect_tcp(host, *port, engine.tls.as_ref(), DOCKER_TIMEOUT_SECS)?
                }
                (None, EngineAddress::Ssh { .. }) => {
                    return Err(Error::Invalid(format!(
                        "engine {} is reached over ssh, and no link was given for it",
                        engine.name
                    )));
                }
            };
            let name = engine.name.clone();
            let address = engine.address.to_string();
            DockerRuntime::negotiate(docker, capacity_cache, EngineRef::Named(Box::new(engine)))
                .await
                .map_err(|err| {
                    let why = match err {
                        Error::Engine(err) => crate::error::engine_message(&err),
                        Error::Docker(why) => why,
                        other => other.to_string(),
                    };
                    Error::Docker(format!(
                        "engine {name} ({address}) does not answer: {}",
                        mlbench_domain::error::brief(&why)
                    ))
                })
        })
    }

    async fn negotiate(
        docker: Docker,
        capacity_cache: Option<PathBuf>,
        engine: EngineRef,
    ) -> Result<DockerRuntime> {
        let docker = tokio::time::timeout(Duration::from_secs(3), docker.negotiate_version())
            .await
            .map_err(|_| Error::Docker("no answer within 3 s".into()))??;
        Ok(DockerRuntime {
            docker,
            capacity_cache,
            attached: Arc::default(),
            engine,
        })
    }

    /// Where the local engine is reached, for messages.
    pub fn address() -> String {
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
    }

    /// The GPUs of the engine's machine: this one's device nodes, a remote one's asked over its
    /// SSH link; none known for an engine reached otherwise.
    async fn gpus(&self) -> u32 {
        match &self.engine {
            EngineRef::Local => super::host::gpus(),
            EngineRef::Named(named) if named.link.is_some() => {
                let Some(link) = named.link.as_ref() else { return 0 };
                let link = link.clone();
                tokio::task::spawn_blocking(move || link.gpus())
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or(0)
            }
            EngineRef::Named(_) => 0,
        }
    }

    /// The host a job's published ports answer on from here when they cannot be forwarded: a
    /// `tcp://` engine's (its machine's 127.0.0.1 is not this one's); none for the local engine,
    /// a `unix://` one (this machine) and an SSH one (its ports are forwarded here).
    pub fn ports_host(&self) -> Option<String> {
        match &self.engine {
            EngineRef::Named(named) if named.link.is_none() => match &named.address {
                EngineAddress::Tcp { host, .. } => Some(host.clone()),
                _ => None,
            },
            _ => None,
        }
    }

    /// Makes `ports` (host ports the engine publishes on its machine's 127.0.0.1) answer on
    /// this machine's 127.0.0.1 too: through the SSH link of a remote engine; nothing to do for
    /// the local one, or one reached otherwise (its ports are on its own host).
    pub fn reach_ports<'a>(&'a self, ports: &'a [u16]) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let EngineRef::Named(named) = &self.engine else {
                return Ok(());
            };
            let Some(link) = named.link.clone() else {
                return Ok(());
            };
            let ports = ports.to_vec();
            tokio::task::spawn_blocking(move || {
                for port in ports {
                    // A forward the link already carries answers here.
                    if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                        link.forward_port(port, port)?;
                    }
                }
                Ok(())
            })
            .await
            .map_err(|e| Error::Other(format!("the ssh link's thread failed: {e}")))?
        })
    }

    /// Whether the engine answers now; a remote engine's SSH link is started again first if it
    /// ended (the master was killed, the network came back).
    pub fn answers(&self) -> LocalBoxFuture<'_, bool> {
        Box::pin(async move {
            if let EngineRef::Named(named) = &self.engine
                && let Some(link) = named.link.clone()
            {
                let linked = tokio::task::spawn_blocking(move || link.ensure()).await;
                if !matches!(linked, Ok(Ok(_))) {
                    return false;
                }
            }
            tokio::time::timeout(Duration::from_secs(10), self.docker.ping())
                .await
                .is_ok_and(|pinged| pinged.is_ok())
        })
    }

    /// Which engine this is.
    pub fn engine(&self) -> &EngineRef {
        &self.engine
    }

    /// The engine's name: `local`, or its name in the config.
    pub fn engine_name(&self) -> &str {
        match &self.engine {
            EngineRef::Local => mlbench_domain::LOCAL_ENGINE,
            EngineRef::Named(named) => &named.name,
        }
    }

    /// Whether the engine sees none of this machine's files (a named engine).
    pub fn is_remote(&self) -> bool {
        matches!(self.engine, EngineRef::Named(_))
    }

    /// Where this engine is reached, for messages.
    pub fn where_reached(&self) -> String {
        match &self.engine {
            EngineRef::Local => DockerRuntime::address(),
            EngineRef::Named(named) => named.address.to_string(),
        }
    }
}

/// How long a request to a named engine may take (bollard's default is two minutes).
const DOCKER_TIMEOUT_SECS: u64 = 120;

impl DockerRuntime {
    /// Every container, running or not, that carries all of `labels` (`key=value` each).
    async fn containers_labelled(
        &self,
        labels: Vec<String>,
    ) -> Result<Vec<bollard::models::ContainerSummary>> {
        let filters = HashMap::from([("label".to_string(), labels)]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        Ok(self.docker.list_containers(Some(options)).await?)
    }

    /// Whether the container called `name` carries exactly these labels (home and job).
    async fn is_same_job(&self, name: &str, labels: &HashMap<String, String>) -> bool {
        let Ok(found) = self.docker.inspect_container(name, None).await else {
            return false;
        };
        let theirs = found.config.and_then(|c| c.labels).unwrap_or_default();
        labels.iter().all(|(k, v)| theirs.get(k) == Some(v))
    }

    /// Whether the container holding `name` turns out to be this job's. The daemon reserves a
    /// name before the container it creates can be inspected, so this waits a little for it.
    async fn becomes_same_job(&self, name: &str, labels: &HashMap<String, String>) -> bool {
        for _ in 0..30 {
            if self.is_same_job(name, labels).await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Copies the container's output from Docker's log, from its first line, skipping what
    /// `resume` says the file has; with `live`, until the container ends. Returns the point
    /// after every line it passed.
    async fn copy_logged(
        &self,
        handle: &str,
        resume: Option<&ResumePoint>,
        live: bool,
        log: &mut impl OutputSink,
    ) -> Result<ResumePoint> {
        let options = LogsOptionsBuilder::default()
            .follow(live)
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .build();
        let frames = self.docker.logs(handle, Some(options));
        let mut lines = LineAssembler::new(ResumeFilter::new(resume));
        copy_frames(frames, log, |stream, message, log| {
            lines.push(stream, message, log)
        })
        .await?;
        lines
            .finish(log)
            .map_err(|e| Error::io("cannot write the job log", e))?;
        log.flush()
            .map_err(|e| Error::io("cannot write the job log", e))?;
        Ok(lines.passed)
    }

    /// Whether the container has been started (it may have ended since).
    async fn has_started(&self, id: &str) -> Result<bool> {
        let inspected = self.docker.inspect_container(id, None).await?;
        Ok(ever_started(&inspected.state.unwrap_or_default()))
    }

    /// The id of the container called or with id `name_or_id`.
    async fn id_of(&self, name_or_id: &str) -> Result<String> {
        let found = self.docker.inspect_container(name_or_id, None).await?;
        Ok(found.id.unwrap_or_else(|| name_or_id.to_string()))
    }
}

impl Runtime for DockerRuntime {
    async fn capacity(&self) -> Result<Capacity> {
        let now = chrono::Utc::now().timestamp();
        let address = self.where_reached();
        let cached = self
            .capacity_cache
            .as_ref()
            .and_then(|path| std::fs::read(path).ok())
            .and_then(|bytes| serde_json::from_slice::<CachedCapacity>(&bytes).ok())
            .filter(|c| c.address == address && (0..CAPACITY_TTL_SECS).contains(&(now - c.fetched_unix)));
        let (cpus, memory_bytes, gpus) = match cached {
            Some(c) => (c.cpus, c.memory_bytes, c.gpus),
            None => {
                let info = self.docker.info().await?;
                let fresh = CachedCapacity {
                    address,
                    fetched_unix: now,
                    cpus: info.ncpu.unwrap_or(1) as f64,
                    memory_bytes: info.mem_total.unwrap_or(0).max(0) as u64,
                    gpus: self.gpus().await,
                };
                if let (Some(path), Ok(bytes)) = (&self.capacity_cache, serde_json::to_vec(&fresh)) {
                    // Written whole then renamed, so a reader never sees half a file.
                    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
                    if std::fs::write(&tmp, bytes).is_ok() {
                        let _ = std::fs::rename(&tmp, path);
                    }
                }
                (fresh.cpus, fresh.memory_bytes, fresh.gpus)
            }
        };
        Ok(Capacity {
            cpus,
            memory_bytes,
            gpus,
        })
    }

    async fn create(&self, spec: &LaunchSpec) -> Result<String> {
        let mut port_bindings = HashMap::new();
        for p in &spec.ports {
            port_bindings.insert(
                format!("{}/tcp", p.container_port),
                Some(vec![PortBinding {
                    host_ip: Some(p.host_ip.to_string()),
                    host_port: Some(p.host_port.to_string()),
                }]),
            );
        }
        // The command is argv as given; a shell only runs if the user writes `sh -c`. None
        // runs the image's own CMD and ENTRYPOINT.
        let (entrypoint, cmd) = match spec.command.split_first() {
            Some((program, args)) => (Some(vec![program.clone()]), Some(args.to_vec())),
            None => (None, None),
        };
        // The devices the queue gave the job, so jobs side by side never share a GPU.
        let gpus = (spec.machine.gpus > 0).then(|| {
            let (count, device_ids) = if spec.gpu_devices.is_empty() {
                (Some(spec.machine.gpus.into()), None)
            } else {
                (
                    None,
                    Some(spec.gpu_devices.iter().map(ToString::to_string).collect()),
                )
            };
            vec![DeviceRequest {
                driver: Some("nvidia".into()),
                count,
                device_ids,
                capabilities: Some(vec![vec!["gpu".into()]]),
                ..Default::default()
            }]
        });
        let memory = i64::try_from(spec.machine.memory_bytes).unwrap_or(i64::MAX);
        // Typed mounts, never legacy binds: a bind of a path the engine's machine lacks fails
        // loudly instead of becoming an empty folder there.
        let workspace = match &spec.workspace {
            Workspace::Folder(path) => bind_mount(path, "/workspace", false),
            Workspace::Layered {
                snapshot,
                changes,
                work,
            } => overlay_mount(snapshot, changes, work)?,
            Workspace::Volumes { code, layers, job } => {
                let code = Path::new(&self.volume_path(code).await?).join(super::remote::CODE_TREE);
                let layer = PathBuf::from(self.volume_path(layers).await?).join(job.to_string());
                overlay_mount(&code, &layer.join("upper"), &layer.join("work"))?
            }
        };
        let storage = match &spec.storage {
            super::Storage::Folder(path) => bind_mount(path, "/storage", spec.storage_read_only),
            super::Storage::Volume(volume) => {
                super::helpers::volume_mount(volume, "/storage", spec.storage_read_only)
            }
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            entrypoint,
            cmd,
            env: Some(
                spec.env
                    .iter()
                    .map(|e| format!("{}={}", e.name, e.value))
                    .collect(),
            ),
            working_dir: Some("/workspace".into()),
            user: spec.user.clone(),
            labels: Some(spec.labels.clone()),
            exposed_ports: Some(port_bindings.keys().cloned().collect()),
            host_config: Some(HostConfig {
                mounts: Some(vec![workspace, storage]),
                nano_cpus: Some((spec.machine.cpus * 1e9) as i64),
                memory: Some(memory),
                // Swap equal to memory means none: over the limit is an OOM kill, not a crawl.
                memory_swap: Some(memory),
                device_requests: gpus,
                port_bindings: Some(port_bindings),
                // An init process forwards SIGTERM to the command, so stop is quick.
                init: Some(true),
                // No setuid way up, and a fork bomb stops at the machine type's limit.
                security_opt: Some(vec!["no-new-privileges".into()]),
                pids_limit: Some(i64::from(spec.machine.pids)),
                cap_drop: spec.drop_capabilities.then(|| vec!["ALL".into()]),
                log_config: Some(HostConfigLogConfig {
                    typ: Some("json-file".into()),
                    // mlbench's log file keeps the output; Docker's copy is only the buffer a
                    // follower reads from. A daemon's small rotation (e.g. 3 × 10 MB) drops
                    // lines the follower has not read yet when a job prints fast.
                    config: Some(HashMap::from([
                        ("max-size".to_string(), "1g".to_string()),
                        ("max-file".to_string(), "2".to_string()),
                    ])),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&spec.name).build();
        let created = match self.docker.create_container(Some(options), body).await {
            Ok(created) => created,
            Err(BollardError::DockerResponseServerError { status_code: 404, .. }) => {
                return Err(Error::ImageMissing {
                    image: spec.image.clone(),
                });
            }
            // The name is taken: a launch of this same job was cut short (its process killed
            // while Docker still created the container). That container is this job's.
            Err(BollardError::DockerResponseServerError { status_code: 409, .. })
                if self.becomes_same_job(&spec.name, &spec.labels).await =>
            {
                return self.id_of(&spec.name).await;
            }
            Err(other) => return Err(other.into()),
        };
        Ok(created.id)
    }

    /// Attaches to the container's output before starting it, so the follower gets every byte
    /// straight from the engine. Reading Docker's log back instead costs the daemon about three
    /// times the CPU (it decodes its json-file as it is written) and was the log pipeline's
    /// bottleneck.
    async fn start(&self, handle: &str) -> Result<()> {
        if self.has_started(handle).await? {
            return Ok(());
        }
        let options = AttachContainerOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .stream(true)
            .build();
        let attached = self.docker.attach_container(handle, Some(options)).await?;
        if let Err(err) = self.docker.start_container(handle, None).await {
            let _ = self.remove(handle).await;
            return Err(err.into());
        }
        self.attached
            .lock()
            .map_err(|_| Error::Other("runtime lock poisoned".into()))?
            .insert(handle.to_string(), attached);
        Ok(())
    }

    async fn find(&self, job: i64, labels: &HashMap<String, String>) -> Result<Option<String>> {
        let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        wanted.push(format!("{JOB_LABEL}={job}"));
        Ok(self
            .containers_labelled(wanted)
            .await?
            .into_iter()
            .find_map(|c| c.id))
    }

    async fn leftovers(&self, labels: &HashMap<String, String>) -> Result<Vec<(i64, String)>> {
        let wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Ok(self
            .containers_labelled(wanted)
            .await?
            .into_iter()
            .filter_map(|c| {
                let job = c.labels.as_ref()?.get(JOB_LABEL)?.parse().ok()?;
                Some((job, c.id?))
            })
            .collect())
    }

    async fn follow(
        &self,
        handle: &str,
        resume: Option<ResumePoint>,
        log: &mut impl OutputSink,
    ) -> Result<()> {
        let attached = self
            .attached
            .lock()
            .map_err(|_| Error::Other("runtime lock poisoned".into()))?
            .remove(handle);
        if let Some(attached) = attached {
            return copy_attached(attached, log).await;
        }
        // Started by an earlier supervisor: what it wrote is in Docker's log.
        let passed = self.copy_logged(handle, resume.as_ref(), true, log).await?;
        // A live follow can end before it has sent everything the container wrote (seen with
        // Docker 20.10's json-file driver on a fast burst): read the rest.
        self.copy_logged(handle, Some(&passed), false, log).await?;
        Ok(())
    }

    async fn exit_status(&self, handle: &str) -> Result<Option<Exit>> {
        let inspected = match self.docker.inspect_container(handle, None).await {
            Ok(c) => c,
            Err(err) if is_not_found(&err) => return Ok(Some(Exit::Vanished)),
            Err(err) => return Err(err.into()),
        };
        let state = inspected.state.unwrap_or_default();
        if state.running == Some(true) || state.restarting == Some(true) || state.paused == Some(true) {
            return Ok(None);
        }
        if !ever_started(&state) {
            return Ok(Some(Exit::Vanished));
        }
        // Docker's own end time: a supervisor that reattaches long after the end records when
        // the job ended, not when it looked.
        let finished_at = state
            .finished_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .filter(|t| t.timestamp() > 0)
            .map(|t| {
                t.with_timezone(&chrono::Utc)
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            });
        Ok(Some(Exit::Code {
            code: state.exit_code.unwrap_or(-1),
            oom_killed: state.oom_killed == Some(true),
            finished_at,
        }))
    }

    async fn stop(&self, handle: &str, grace: Duration) -> Result<()> {
        let options = StopContainerOptionsBuilder::default()
            .t(grace.as_secs().try_into().unwrap_or(i32::MAX))
            .build();
        match self.docker.stop_container(handle, Some(options)).await {
            Err(err) if !is_not_found(&err) => Err(err.into()),
            _ => Ok(()),
        }
    }

    async fn usage(&self, handle: &str) -> Result<Option<super::usage::Usage>> {
        super::usage::of_container(&self.docker, handle).await
    }

    async fn exec(&self, handle: &str, spec: &super::exec::ExecSpec) -> Result<i64> {
        super::exec::in_container(&self.docker, handle, spec).await
    }

    async fn remove(&self, handle: &str) -> Result<()> {
        // `v`: the anonymous volume of a layered workspace goes with its container.
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(handle, Some(options)).await {
            Err(err) if !is_not_found(&err) => Err(err.into()),
            _ => Ok(()),
        }
    }
}

/// A bind mount of the engine machine's folder `path` at `target`.
fn bind_mount(path: &Path, target: &str, read_only: bool) -> Mount {
    Mount {
        target: Some(target.into()),
        source: Some(path.display().to_string()),
        typ: Some(MountType::BIND),
        read_only: Some(read_only),
        ..Default::default()
    }
}

/// /workspace as an overlay of the read-only `snapshot` under the job's own `changes`: an
/// anonymous volume of the engine's `local` driver, which the daemon mounts (mlbench needs no
/// privilege) and removes with the container.
fn overlay_mount(snapshot: &Path, changes: &Path, work: &Path) -> Result<Mount> {
    let paths = [snapshot, changes, work].map(|p| p.display().to_string());
    // The mount options are a comma-separated list and lowerdir a colon-separated one.
    if let Some(odd) = paths.iter().find(|p| p.contains([',', ':'])) {
        return Err(Error::Invalid(format!(
            "{odd} holds a comma or colon, which an overlay mount cannot name: set workspaces = \"copied\" in the config, or move MLBENCH_HOME"
        )));
    }
    let [lower, upper, work] = paths;
    Ok(Mount {
        target: Some("/workspace".into()),
        typ: Some(MountType::VOLUME),
        volume_options: Some(MountVolumeOptions {
            driver_config: Some(MountVolumeOptionsDriverConfig {
                name: Some("local".into()),
                options: Some(HashMap::from([
                    ("type".to_string(), "overlay".to_string()),
                    ("device".to_string(), "overlay".to_string()),
                    (
                        "o".to_string(),
                        format!("lowerdir={lower},upperdir={upper},workdir={work}"),
                    ),
                ])),
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Whether a container in this state was ever started: one only created has no start time
/// (Docker says year 1).
fn ever_started(state: &ContainerState) -> bool {
    state.running == Some(true)
        || state
            .started_at
            .as_deref()
            .is_some_and(|t| !t.starts_with("0001-"))
}

/// Feeds each frame to `push` as it comes, and flushes `log` only when the stream has nothing
/// ready: a burst is written in large blocks and a quiet job's lines reach the file at once.
/// Ends with the stream, or when the container is gone.
pub(super) async fn copy_frames<L: OutputSink>(
    frames: impl futures_util::Stream<Item = std::result::Result<LogOutput, BollardError>>,
    log: &mut L,
    mut push: impl FnMut(Stream, &[u8], &mut L) -> std::io::Result<()>,
) -> Result<()> {
    let mut frames = std::pin::pin!(frames);
    loop {
        let next = match frames.next().now_or_never() {
            Some(next) => next,
            None => {
                log.flush()
                    .map_err(|e| Error::io("cannot write the job log", e))?;
                frames.next().await
            }
        };
        let frame = match next {
            None => return Ok(()),
            Some(Ok(frame)) => frame,
            Some(Err(err)) if is_not_found(&err) => return Ok(()),
            Some(Err(err)) => return Err(err.into()),
        };
        let (stream, message) = match frame {
            LogOutput::StdOut { message } => (Stream::Stdout, message),
            LogOutput::StdErr { message } | LogOutput::Console { message } => (Stream::Stderr, message),
            LogOutput::StdIn { .. } => continue,
        };
        push(stream, &message, log).map_err(|e| Error::io("cannot write the job log", e))?;
    }
}

/// Copies what an attached container writes, until it ends. Each line is stamped when it
/// arrives.
async fn copy_attached(attached: AttachContainerResults, log: &mut impl OutputSink) -> Result<()> {
    let AttachContainerResults { output, input } = attached;
    // Held until the end: dropping the writing half could close the connection early.
    let _input = input;
    let mut lines = RawLines::default();
    copy_frames(output, log, |stream, bytes, log| lines.push(stream, bytes, log)).await?;
    lines
        .finish(log)
        .map_err(|e| Error::io("cannot write the job log", e))?;
    log.flush().map_err(|e| Error::io("cannot write the job log", e))
}

/// Turns Docker's log frames into whole lines. Each frame is one log entry, `TIMESTAMP text`;
/// an entry without a final newline is part of a longer line (the json-file driver splits
/// lines over 16 KiB), so it is held until the rest of that line arrives, up to the log's cap
/// (past it, the line goes out in cut pieces). A resume judges a line by its first piece: the
/// file keeps that one of a cut line.
pub(super) struct LineAssembler {
    filter: ResumeFilter,
    held: [HeldLine; 2],
    /// Per stream, whether the line being cut is new (its first piece was judged).
    cut_is_new: [bool; 2],
    /// Every whole line sent, new or skipped: where a later read of the same log resumes.
    pub(super) passed: ResumePoint,
    /// Per stream, the time of the last whole line passed and how many passed lines were in
    /// its second: where a read from that second on (`since`) resumes.
    pub(super) last_at: [Option<([u8; TS_LEN], usize)>; 2],
}

impl LineAssembler {
    pub(super) fn new(filter: ResumeFilter) -> LineAssembler {
        LineAssembler {
            filter,
            held: [HeldLine::default(), HeldLine::default()],
            cut_is_new: [true, true],
            passed: ResumePoint::default(),
            last_at: [None, None],
        }
    }

    pub(super) fn push(
        &mut self,
        stream: Stream,
        frame: &[u8],
        log: &mut impl OutputSink,
    ) -> std::io::Result<()> {
        let slot = usize::from(stream == Stream::Stderr);
        let mut rest = frame;
        while !rest.is_empty() {
            let (entry, complete) = match memchr::memchr(b'\n', rest) {
                Some(nl) => (&rest[..nl], true),
                None => (rest, false),
            };
            rest = &rest[(entry.len() + usize::from(complete)).min(rest.len())..];
            let (ts, text) = match entry.iter().position(|b| *b == b' ') {
                Some(sp) => (normalize_docker_ts(&entry[..sp]), &entry[sp + 1..]),
                None => (normalize_docker_ts(entry), &[][..]),
            };
            let Some(ts) = ts else { continue };
            let (filter, passed) = (&mut self.filter, &mut self.passed);
            let cut_is_new = &mut self.cut_is_new[slot];
            let max = log.max_line();
            let mut emit = |text: &[u8], piece: Piece| {
                let text = if piece.is_cut() { text } else { without_cr(text) };
                // Whole lines are what the file counts, judged by what it keeps of them: a
                // line, or a cut line's first piece.
                let new = match piece {
                    Piece::Whole | Piece::First => {
                        passed.last[slot].clear();
                        passed.last[slot].extend_from_slice(text);
                        *cut_is_new = filter.is_new(stream, text);
                        *cut_is_new
                    }
                    Piece::Middle | Piece::Last => *cut_is_new,
                };
                if !matches!(piece, Piece::First | Piece::Middle) {
                    passed.seen[slot] += 1;
                }
                match (new, piece.is_cut()) {
                    (false, _) => Ok(()),
                    (true, true) => log.cut(&ts, stream, text),
                    (true, false) => log.line(&ts, stream, text),
                }
            };
            if complete {
                self.held[slot].end(text, max, &mut emit)?;
            } else {
                self.held[slot].add(text, max, &mut emit)?;
                continue;
            }
            // The fixed-width form starts with the second, `YYYY-MM-DDTHH:MM:SS`.
            self.last_at[slot] = match self.last_at[slot] {
                Some((at, count)) if at[..19] == ts[..19] => Some((ts, count + 1)),
                _ => Some((ts, 1)),
            };
        }
        Ok(())
    }

    /// Writes what is left at the stream's end, and says so when the resume did not line up.
    pub(super) fn finish(&mut self, log: &mut impl OutputSink) -> std::io::Result<()> {
        let ts = now_ts();
        let passed = &mut self.passed;
        for (slot, stream) in [(0, Stream::Stdout), (1, Stream::Stderr)] {
            if !self.held[slot].is_open() {
                continue;
            }
            let cut_is_new = self.cut_is_new[slot];
            self.held[slot].end(&[], usize::MAX, &mut |text, piece| {
                passed.seen[slot] += 1;
                // An unfinished last line is written as it is (as it always was): only a cut
                // one's fate was judged, at its first piece.
                let new = if piece == Piece::Whole {
                    passed.last[slot] = text.to_vec();
                    true
                } else {
                    cut_is_new
                };
                if new {
                    log.line(ts.as_bytes(), stream, text)
                } else {
                    Ok(())
                }
            })?;
        }
        self.say_mismatch(log)
    }

    /// Says so in the log when the lines a resume skipped did not line up with the file.
    pub(super) fn say_mismatch(&self, log: &mut impl OutputSink) -> std::io::Result<()> {
        if self.filter.mismatched() {
            log.line(
                now_ts().as_bytes(),
                Stream::Note,
                b"Docker's copy of this log did not line up with the file when following it again (Docker keeps 2 GB of it): lines around here may be missing or repeated",
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps what a follower writes, as the log file would: `<ts> <o|e|m> <text>` (a cut
    /// piece's stream in capitals), with lines cut at the given length.
    struct Lines(Vec<String>, usize);

    impl Default for Lines {
        fn default() -> Lines {
            Lines(Vec::new(), mlbench_domain::output::DEFAULT_MAX_LINE)
        }
    }

    impl OutputSink for Lines {
        fn line(&mut self, ts: &[u8], stream: Stream, text: &[u8]) -> std::io::Result<()> {
            let (ts, text) = (String::from_utf8_lossy(ts), String::from_utf8_lossy(text));
            self.0
                .push(format!("{ts} {} {text}", char::from(stream.marker())));
            Ok(())
        }

        fn cut(&mut self, ts: &[u8], stream: Stream, text: &[u8]) -> std::io::Result<()> {
            let (ts, text) = (String::from_utf8_lossy(ts), String::from_utf8_lossy(text));
            let marker = char::from(stream.marker()).to_ascii_uppercase();
            self.0.push(format!("{ts} {marker} {text}"));
            Ok(())
        }

        fn max_line(&self) -> usize {
            self.1
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn frames_become_lines_and_split_lines_are_joined() {
        let mut log = Lines::default();
        let mut lines = LineAssembler::new(ResumeFilter::new(None));
        lines
            .push(Stream::Stdout, b"2026-11-23T12:00:01.1Z first\n", &mut log)
            .unwrap();
        lines
            .push(Stream::Stdout, b"2026-11-23T12:00:01.2Z long-", &mut log)
            .unwrap();
        lines
            .push(Stream::Stderr, b"2026-11-23T12:00:01.25Z err\r\n", &mut log)
            .unwrap();
        lines
            .push(Stream::Stdout, b"2026-11-23T12:00:01.3Z line\n", &mut log)
            .unwrap();
        lines
            .push(Stream::Stdout, b"2026-11-23T12:00:01.4Z tail", &mut log)
            .unwrap();
        lines.finish(&mut log).unwrap();
        let got: Vec<&str> = log.0.iter().map(|l| &l[31..]).collect();
        assert_eq!(got, ["o first", "e err", "o long-line", "o tail"]);
        assert_eq!(log.0[0], "2026-11-23T12:00:01.100000000Z o first");
    }

    #[test]
    fn lines_past_the_cap_go_out_in_pieces_and_a_resume_skips_them_whole() {
        let mut log = Lines(Vec::new(), 4);
        let mut raw = RawLines::default();
        raw.push(Stream::Stdout, b"abcdefg", &mut log).unwrap();
        raw.push(Stream::Stdout, b"hij\nok\nendless", &mut log).unwrap();
        raw.finish(&mut log).unwrap();
        let got: Vec<&str> = log.0.iter().map(|l| &l[31..]).collect();
        assert_eq!(got, ["O abcd", "O efgh", "o ij", "o ok", "O endl", "o ess"]);

        // Docker's log sends the cut line again after a resume: the file has it (known by its
        // first piece) and the line after it, so only what follows is written.
        let mut point = ResumePoint::default();
        point.seen[0] = 2;
        point.last[0] = b"ok".to_vec();
        let mut log = Lines(Vec::new(), 4);
        let mut lines = LineAssembler::new(ResumeFilter::new(Some(&point)));
        for frame in [
            &b"2026-11-23T12:00:01Z abcdef"[..],
            b"2026-11-23T12:00:01Z ghij\n",
            b"2026-11-23T12:00:02Z ok\n",
            b"2026-11-23T12:00:03Z new-and-long\n",
        ] {
            lines.push(Stream::Stdout, frame, &mut log).unwrap();
        }
        lines.finish(&mut log).unwrap();
        let got: Vec<&str> = log.0.iter().map(|l| &l[31..]).collect();
        assert_eq!(got, ["O new-", "O and-", "o long"]);
        assert_eq!(lines.passed.seen[0], 3);
        assert_eq!(lines.passed.last[0], b"new-");
    }

    #[test]
    fn attached_output_is_split_into_lines_per_stream() {
        let mut log = Lines::default();
        let mut lines = RawLines::default();
        lines.push(Stream::Stdout, b"one\ntw", &mut log).unwrap();
        lines.push(Stream::Stderr, b"oops\r\nhalf", &mut log).unwrap();
        lines.push(Stream::Stdout, b"o\n\nthree", &mut log).unwrap();
        lines.push(Stream::Stderr, b" done\n", &mut log).unwrap();
        lines.finish(&mut log).unwrap();
        let got: Vec<&str> = log.0.iter().map(|l| &l[31..]).collect();
        assert_eq!(got, ["o one", "e oops", "o two", "o ", "e half done", "o three"]);
    }
}
