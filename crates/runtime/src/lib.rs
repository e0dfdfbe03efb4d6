//! Where jobs run: Docker containers (bollard), or plain child processes when no Docker Engine
//! answers. The engine talks to both through [`Runtime`].

pub mod docker;
mod error;
pub mod exec;
mod helpers;
mod host;
pub mod images;
mod lines;
pub(crate) mod local;
pub mod remote;
pub mod ssh;
pub(crate) mod swarm;
mod tls;
pub mod usage;
pub mod volume_files;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use mlbench_domain::output::{OutputSink, ResumePoint};
use mlbench_domain::{Capacity, EnvVar, MachineType, PortMapping};

pub use docker::{DockerRuntime, EngineRef, NamedEngine};
pub use error::{Error, Result};
pub use local::LocalRuntime;
pub use swarm::SwarmRuntime;

/// Everything a runtime needs to start one job.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub name: String,
    pub image: String,
    pub command: Vec<String>,
    pub env: Vec<EnvVar>,
    pub workspace: Workspace,
    pub storage: Storage,
    pub storage_read_only: bool,
    pub machine: MachineType,
    pub ports: Vec<PortMapping>,
    pub labels: HashMap<String, String>,
    /// `uid:gid` to run as instead of the image's own user.
    pub user: Option<String>,
    /// Start with no Linux capabilities (mlbench's own image needs none).
    pub drop_capabilities: bool,
    /// The GPUs (by index) the job was given; empty: as many as the machine type has, any.
    pub gpu_devices: Vec<u32>,
    /// Placement constraints on a cluster (see [`mlbench_domain::JobSpec::placement`]).
    pub placement: Vec<String>,
}

/// The job's code as it sees it at /workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workspace {
    /// A folder of the job's own.
    Folder(PathBuf),
    /// A shared read-only snapshot under a writable layer of the job's own: Docker mounts the
    /// two as an overlay, so what the job writes lands in `changes` and nothing is copied.
    Layered {
        snapshot: PathBuf,
        changes: PathBuf,
        work: PathBuf,
    },
    /// On a remote engine: the code volume (its files under `tree/`) under the job's own layer
    /// (`<job>/upper`, `<job>/work` of the layers volume), mounted as an overlay there.
    Volumes { code: String, layers: String, job: i64 },
}

/// The project's /storage as the job sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// A folder of the engine's machine (the local engine's is this machine).
    Folder(PathBuf),
    /// A volume of a remote engine.
    Volume(String),
}

impl Storage {
    /// The folder a runtime that runs jobs beside this machine's files mounts.
    pub(crate) fn folder(&self) -> Result<&std::path::Path> {
        match self {
            Storage::Folder(path) => Ok(path),
            Storage::Volume(volume) => Err(Error::Invalid(format!(
                "storage volume {volume} is on a remote engine: only a Docker job there can mount it"
            ))),
        }
    }
}

impl Workspace {
    /// The folder a runtime that cannot mount an overlay runs the job in.
    pub(crate) fn folder(&self) -> Result<&std::path::Path> {
        match self {
            Workspace::Folder(path) => Ok(path),
            Workspace::Layered { .. } => Err(Error::Invalid(
                "a layered workspace needs the Docker Engine to mount it: set workspaces = \"copied\" in the config".into(),
            )),
            Workspace::Volumes { .. } => Err(Error::Invalid(
                "a remote job's workspace is a volume of its engine: only a Docker job there can mount it".into(),
            )),
        }
    }
}

/// How a job's process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Code {
        code: i64,
        oom_killed: bool,
        /// When it ended, as the runtime saw it (RFC 3339), if it says.
        finished_at: Option<String>,
    },
    /// The container or process is gone and nothing tells how it ended.
    Vanished,
    /// It ended and nothing says with which exit code (a node refused its task, or Swarm
    /// removed the task of a stopped job); why.
    NoCode(String),
    /// The node it ran on is gone, so nothing will tell how it ends; why, naming the node.
    Lost(String),
}

#[allow(async_fn_in_trait)] // used with concrete types only, never as `dyn` or across threads
pub trait Runtime {
    /// CPUs, memory and GPUs that jobs may share.
    async fn capacity(&self) -> Result<Capacity>;

    /// Makes the job's container, not yet started, or starts its process (a local job runs as
    /// its supervisor's child); returns its handle (container id or process id).
    async fn create(&self, spec: &LaunchSpec) -> Result<String>;

    /// Starts what [`Runtime::create`] made, so that [`Runtime::follow`] misses none of its
    /// output; does nothing when it has started already.
    async fn start(&self, handle: &str) -> Result<()>;

    /// The handle of a job launched earlier, found by its label, if it still exists.
    async fn find(&self, job: i64, labels: &HashMap<String, String>) -> Result<Option<String>>;

    /// Appends the job's output to `log`, starting after `resume`, until its process ends and
    /// all it wrote is in `log`; or until the runtime stops answering (the caller tries again).
    async fn follow(
        &self,
        handle: &str,
        resume: Option<ResumePoint>,
        log: &mut impl OutputSink,
    ) -> Result<()>;

    /// How the job ended, or `None` while it still runs.
    async fn exit_status(&self, handle: &str) -> Result<Option<Exit>>;

    /// SIGTERM, then SIGKILL once `grace` has passed.
    async fn stop(&self, handle: &str, grace: Duration) -> Result<()>;

    /// Frees what the ended job held (the container); its log stays.
    async fn remove(&self, handle: &str) -> Result<()>;

    /// What the live job uses now; `None` when it is gone.
    async fn usage(&self, handle: &str) -> Result<Option<usage::Usage>>;

    /// Runs a command in the live job with this process's stdin, stdout and stderr; returns
    /// its exit code.
    async fn exec(&self, handle: &str, spec: &exec::ExecSpec) -> Result<i64>;

    /// Every job's handle that still exists with the home's `labels`, as (job, handle).
    async fn leftovers(&self, labels: &HashMap<String, String>) -> Result<Vec<(i64, String)>>;
}
