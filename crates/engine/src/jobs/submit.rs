//! Submitting a job: everything the user typed is checked before anything is stored, so bad
//! input leaves no job, no workspace and no container behind.

use std::net::TcpListener;
use std::path::Path;

use futures_util::future::LocalBoxFuture;
use mlbench_config::Workspaces;
use mlbench_domain::{FromIo, IoError, JobSpec, JobState, PortInUse, PortMapping};
use mlbench_runtime::images::runtime_tag;
use mlbench_runtime::{DockerRuntime, Runtime};
use mlbench_store::{Code, TrialOf};

use crate::jobs::reconcile::{acquire_supervisor_lock, spawn_supervisor, staging_prefix};
use crate::jobs::supervisor::Start;
use crate::jobs::{sources, workspaces};
use crate::{AnyRuntime, Engine, Error, Result};

pub struct Submitted {
    pub job: i64,
    pub commit: Option<String>,
}

/// Checks and stores the job, puts its workspace in place and starts its supervisor.
/// `progress` hears about slow steps (building the runtime image).
pub fn submit<'a>(
    engine: &'a Engine,
    runtime: &'a AnyRuntime,
    spec: JobSpec,
    progress: &'a mut dyn FnMut(&str),
) -> LocalBoxFuture<'a, Result<Submitted>> {
    Box::pin(async move { submit_sized(engine, runtime, spec, false, progress).await })
}

/// [`submit`], where `force` copies a repo folder over the config's size limit.
pub fn submit_sized<'a>(
    engine: &'a Engine,
    runtime: &'a AnyRuntime,
    spec: JobSpec,
    force: bool,
    progress: &'a mut dyn FnMut(&str),
) -> LocalBoxFuture<'a, Result<Submitted>> {
    Box::pin(async move { submit_as(engine, runtime, spec, force, None, progress).await })
}

/// [`submit_sized`], for the job that runs one point of a sweep when `trial` is given.
pub(crate) async fn submit_as(
    engine: &Engine,
    runtime: &AnyRuntime,
    mut spec: JobSpec,
    force: bool,
    trial: Option<TrialOf<'_>>,
    progress: &mut dyn FnMut(&str),
) -> Result<Submitted> {
    preflight(engine, runtime, &mut spec, &mut *progress).await?;
    let staging_root = engine.home.staging_dir();
    std::fs::create_dir_all(&staging_root).map_err(Error::at(&staging_root, "cannot create"))?;
    // Removed on drop unless its workspace was moved into the job's folder.
    let staging = tempfile::Builder::new()
        .prefix(&staging_prefix(std::process::id()))
        .tempdir_in(&staging_root)
        .map_err(Error::at(&staging_root, "cannot create a folder in"))?;
    let rules = sources::FolderRules {
        // mlbench's home may sit inside the folder (`--repo .` from above it): never copied.
        skip: vec![engine.home.root().to_path_buf()],
        max_bytes: (!force).then_some(engine.config.max_repo_bytes),
    };
    // Until the job is stored (and names its snapshot), gc must not remove the one picked.
    let held = workspaces::hold_snapshots(&engine.home, false)?;
    let snapshot =
        workspaces::take(&engine.home, &spec.source, staging.path(), &rules).map_err(|e| {
            match e.field_name() {
                Some(_) => e,
                None => Error::field("repo", e),
            }
        })?;
    if !snapshot.left_out.is_empty() {
        let names: Vec<String> = snapshot
            .left_out
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        progress(&format!(
            "left out of the code: {} (FIFOs, sockets and devices are not copied)",
            names.join(", ")
        ));
    }
    if let Some(dockerfile) = &spec.build_dockerfile
        && !snapshot.dir.join(dockerfile).is_file()
    {
        return Err(Error::field(
            "image",
            Error::NotFound(format!(
                "the repo has no {dockerfile} to build the image from: name it with --dockerfile"
            )),
        ));
    }
    // A Docker job layers its own changes over the shared snapshot; every other job gets a copy.
    // A remote job's code goes to its engine when it starts: nothing of it stays here.
    let layered = matches!(runtime, AnyRuntime::Docker(_)) && engine.config.workspaces == Workspaces::Layered;
    let remote = runtime.remote().is_some();
    let copy = staging.path().join("workspace");
    if !layered && !remote {
        sources::copy_tree(&snapshot.dir, &copy)?;
    }
    let files = if remote {
        JobFiles::OnItsEngine
    } else if layered {
        JobFiles::Layered
    } else {
        JobFiles::Copy(&copy)
    };
    let submitted = place_job(engine, &spec, runtime, files, &snapshot, trial)?;
    drop(held);
    // A tcp:// engine publishes ports on its own host: the job's URLs name it from the start.
    if let Some(host) = runtime.remote().and_then(DockerRuntime::ports_host)
        && !spec.ports.is_empty()
    {
        engine.store.set_address(submitted.job, &host)?;
    }
    start_now(engine, runtime, submitted.job, spec.build_dockerfile.is_none()).await?;
    Ok(submitted)
}

/// The checks a job passes before anything of it is stored: its command and ports, its project,
/// a machine type that fits this host (its name made canonical in `spec`), free host ports, and
/// its image (mlbench's runtime image is built here on first use).
pub(crate) async fn preflight(
    engine: &Engine,
    runtime: &AnyRuntime,
    spec: &mut JobSpec,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    spec.validate()?;
    if let Some(full) = crate::disk::full(engine.home.root(), "a job needs room for its log and workspace") {
        return Err(full);
    }
    if !spec.placement.is_empty() && !matches!(runtime, AnyRuntime::Swarm(_)) {
        return Err(Error::Invalid(
            "--node and --constraint place a job on a swarm's nodes, and jobs here do not run on a swarm: set runtime = \"swarm\" (or MLBENCH_RUNTIME=swarm)".into(),
        ));
    }
    engine.store.require_project(&spec.project)?;
    let machine = engine
        .config
        .machine(&spec.machine)
        .map_err(|e| Error::field("machine", e))?
        .clone();
    spec.machine = machine.name.clone();
    let host = crate::with_runtime!(runtime, rt => rt.capacity().await)?;
    if let AnyRuntime::Swarm(swarm) = runtime {
        // The swarm's total says nothing of whether one node can hold the job.
        swarm
            .check_fits(&machine)
            .await
            .map_err(|e| Error::field("machine", e))?;
    } else if let Some(shortfall) = machine.shortfall(&host) {
        return Err(Error::field(
            "machine",
            Error::Invalid(format!(
                "machine type {} does not fit this host: it {shortfall}; `mlbench machines` lists those that do",
                machine.name
            )),
        ));
    }
    if let Some(host) = runtime.remote().and_then(DockerRuntime::ports_host)
        && let Some(port) = spec.ports.iter().find(|p| p.host_ip.is_loopback())
    {
        return Err(Error::field(
            "ports",
            Error::Invalid(format!(
                "engine {} is reached over tcp://, so a port on its 127.0.0.1 does not answer here: publish it on {host}'s addresses with --port 0.0.0.0:{}:{}",
                runtime.engine_name(),
                port.host_port,
                port.container_port
            )),
        ));
    }
    for port in &spec.ports {
        ensure_port_free(engine, runtime, port, spec.deployment.as_deref())?;
    }
    check_image(runtime, spec, progress).await?;
    check_own_command(runtime, spec).await
}

/// A job given no command runs its image's own (CMD/ENTRYPOINT): only a user's image has one,
/// and only a container can run it. A Dockerfile's image is checked when it is built.
async fn check_own_command(runtime: &AnyRuntime, spec: &JobSpec) -> Result<()> {
    if !spec.command.is_empty() || spec.build_dockerfile.is_some() {
        return Ok(());
    }
    let refuse = |why: String| Err(Error::field("command", Error::Invalid(why)));
    let docker = match runtime {
        AnyRuntime::Docker(docker) => docker,
        AnyRuntime::Swarm(swarm) => swarm.manager(),
        AnyRuntime::Local(_) => {
            return refuse("the local runtime runs a command, not an image: give it after `--`".into());
        }
    };
    if spec.image == runtime_tag() {
        return refuse(format!(
            "{} has no command of its own: give one after `--`, e.g. `-- mlbench train -i data.csv`",
            spec.image
        ));
    }
    if !docker.image_has_command(&spec.image).await? {
        return refuse(format!(
            "image {} has no CMD or ENTRYPOINT: give the command after `--`",
            spec.image
        ));
    }
    Ok(())
}

/// Launches a Docker or Swarm job from here when there is room, so the start does not wait for
/// a new process; the supervisor then only follows. Local jobs must be children of their
/// supervisor, and a job that waits for capacity waits in its supervisor.
async fn start_now(engine: &Engine, runtime: &AnyRuntime, job: i64, image_checked: bool) -> Result<()> {
    if let AnyRuntime::Local(_) = runtime {
        return spawn_supervisor(&engine.home, job, false);
    }
    // Held while launching, so no reconcile starts a second supervisor that launches too. The
    // supervisor starts meanwhile and takes the lock over when it is let go.
    let Some(_lock) = acquire_supervisor_lock(&engine.home, job, false)? else {
        return Ok(());
    };
    spawn_supervisor(&engine.home, job, true)?;
    let mut start = Start::for_launcher(image_checked);
    if let Err(err) = crate::with_runtime!(runtime, rt => start.advance(engine, rt, job).await) {
        engine
            .store
            .finish(job, JobState::Failed, None, Some(&err.to_string()))?;
        return Err(err);
    }
    Ok(())
}

/// Refuses a host port that one of this home's live jobs claims (queued ones too) or that
/// something else listens on. The store checks the claim again when the job is stored.
/// On a swarm the port is published on the nodes, not here, and Swarm places the replicas of
/// one `deployment` on nodes of their own.
pub(crate) fn ensure_port_free(
    engine: &Engine,
    runtime: &AnyRuntime,
    port: &PortMapping,
    deployment: Option<&str>,
) -> Result<()> {
    let on_swarm = matches!(runtime, AnyRuntime::Swarm(_));
    engine
        .store
        .refuse_claimed_ports(std::slice::from_ref(port), deployment.filter(|_| on_swarm))?;
    // Published elsewhere (a node of the swarm, a tcp:// engine's host): this machine's ports
    // say nothing; the engine refuses a taken one when the job starts.
    if on_swarm || runtime.remote().and_then(DockerRuntime::ports_host).is_some() {
        return Ok(());
    }
    TcpListener::bind((port.host_ip, port.host_port)).map_err(|source| {
        Error::field(
            "ports",
            PortInUse {
                ip: port.host_ip,
                port: port.host_port,
                holder: None,
                source,
            },
        )
    })?;
    Ok(())
}

/// The job's image must be there before anything is stored; mlbench's runtime image is built
/// on first use. A job that builds its image from the repo builds it when it runs.
/// On a swarm the image is then pushed to its registry, so no node lacks it.
async fn check_image(runtime: &AnyRuntime, spec: &JobSpec, progress: &mut dyn FnMut(&str)) -> Result<()> {
    let docker = match runtime {
        AnyRuntime::Docker(docker) => docker,
        AnyRuntime::Swarm(swarm) => swarm.manager(),
        AnyRuntime::Local(_) => return Ok(()),
    };
    if spec.build_dockerfile.is_some() {
        return Ok(());
    }
    if spec.image == runtime_tag() {
        let (tag, built) = docker.ensure_runtime_image(false, &mut *progress).await?;
        if built {
            progress(&format!("built {tag}"));
        }
    } else if matches!(runtime, AnyRuntime::Docker(_))
        && !docker.image_exists(&spec.image).await?
        && !crate::jobs::supervisor::send_local_image(docker, &spec.image, &mut *progress).await?
    {
        return Err(Error::field(
            "image",
            mlbench_runtime::Error::ImageMissing {
                image: spec.image.clone(),
            },
        ));
    }
    if let AnyRuntime::Swarm(swarm) = runtime {
        // Says itself when the image is missing: one named by its registry may be there only.
        swarm
            .distribute(&spec.image, &mut *progress)
            .await
            .map_err(|e| Error::field("image", e))?;
    }
    Ok(())
}

/// Where a new job's files go.
enum JobFiles<'a> {
    /// A copy of the snapshot of its own, made in the staging folder.
    Copy(&'a Path),
    /// An empty layer of its own over the shared snapshot.
    Layered,
    /// Its engine's volumes (a remote job): here, only its log.
    OnItsEngine,
}

/// Stores the job and puts its workspace in place, in one transaction: a kill at any point
/// leaves either no job, or a job with its workspace.
fn place_job(
    engine: &Engine,
    spec: &JobSpec,
    runtime: &AnyRuntime,
    files: JobFiles<'_>,
    snapshot: &workspaces::Snapshot,
    trial: Option<TrialOf<'_>>,
) -> Result<Submitted> {
    // The store calls this inside the transaction that inserts the job.
    let place = |job: i64| -> mlbench_store::Result<()> {
        let dir = engine.home.job_dir(job);
        // A folder under this new id is a leftover of a submit killed before its commit.
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(IoError::at(&dir, "cannot clear"))?;
        }
        let placed = (|| {
            std::fs::create_dir_all(&dir).map_err(IoError::at(&dir, "cannot create"))?;
            match files {
                JobFiles::Copy(copy) => {
                    let dest = engine.home.job_workspace(job);
                    std::fs::rename(copy, &dest)
                        .map_err(IoError::at(&dest, "cannot move the workspace to"))?;
                }
                JobFiles::Layered => {
                    for layer in [engine.home.job_changes(job), engine.home.job_overlay_work(job)] {
                        std::fs::create_dir(&layer).map_err(IoError::at(&layer, "cannot create"))?;
                    }
                }
                JobFiles::OnItsEngine => return Ok(()),
            }
            let storage = engine.home.storage_dir(&spec.project);
            std::fs::create_dir_all(&storage).map_err(IoError::at(&storage, "cannot create"))?;
            Ok(())
        })();
        if placed.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        placed
    };
    let code = Code {
        commit: snapshot.commit.as_deref(),
        snapshot: Some(&snapshot.key),
    };
    let job =
        engine
            .store
            .insert_placed_job(spec, runtime.kind(), runtime.engine_name(), &code, trial, place)?;
    Ok(Submitted {
        job,
        commit: snapshot.commit.clone(),
    })
}
