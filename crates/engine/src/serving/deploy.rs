//! Deployments: serving jobs (one per replica, on consecutive host ports) that are started
//! together, waited on until they answer, and stopped together.

use std::time::{Duration, Instant};

use futures_util::future::LocalBoxFuture;
use mlbench_domain::{FromIo, JobKind, JobSpec, JobState, PortMapping, RuntimeKind, Source};
use mlbench_ml::model::FILE_NAME;
use mlbench_store::JobRecord;

use crate::projects::model_folder::{ModelFolder, PINS};
use crate::serving::client;
use crate::{AnyRuntime, Engine, Error, Result, stop, submit};

/// How to tell that a replica is ready.
#[derive(Debug, Clone)]
pub enum Readiness {
    /// `GET path` answers 2xx (mlbench's server: /v2/health/ready).
    Http(String),
    /// The port accepts a TCP connection.
    Tcp,
}

pub struct DeployRequest {
    /// Everything but the port and the deployment fields, which each replica gets.
    pub template: JobSpec,
    pub name: String,
    pub port: PortMapping,
    pub replicas: u16,
    pub readiness: Readiness,
    pub timeout: Duration,
}

pub struct Replica {
    pub job: i64,
    pub url: String,
}

/// A serving job's spec, before its port and deployment are set per replica.
pub fn serving_spec(
    engine: &Engine,
    project: &str,
    machine: Option<String>,
    image: String,
    source: Source,
    command: Vec<String>,
) -> JobSpec {
    JobSpec {
        kind: JobKind::Serving,
        deployment: None,
        storage_read_only: true,
        project: project.to_string(),
        machine: machine.unwrap_or_else(|| engine.config.default_machine.clone()),
        image,
        build_dockerfile: None,
        source,
        command,
        env: vec![],
        ports: vec![],
        placement: Vec::new(),
        engine: mlbench_domain::LOCAL_ENGINE.into(),
    }
}

/// mlbench's own server for the project's `/storage/<model>/model.json` (or a kept version of
/// it) in `model_folder`, which must load now, so a missing or broken model is refused before
/// anything starts. The server follows the deployment's pin file, `/storage/<model>/pins/<name>`.
fn model_server_spec(
    engine: &Engine,
    runtime: &AnyRuntime,
    request: &ModelDeployment,
    name: &str,
    model_folder: &ModelFolder,
) -> Result<JobSpec> {
    let (project, model) = (request.project.as_str(), request.model.as_str());
    let folder = model_folder.dir().to_path_buf();
    model_folder.load(request.version).map_err(|e| {
        Error::NotFound(format!(
            "project {project} has no usable model {model} (train one into /storage/{model}): {e}"
        ))
    })?;
    let pin = model_folder.pin_file(name);
    // A local process listens on the host port itself; a container on its own port.
    let (host, listen_port, model_path, pin_path) = match runtime {
        AnyRuntime::Docker(_) | AnyRuntime::Swarm(_) => (
            "0.0.0.0".to_string(),
            request.port.container_port,
            format!("/storage/{model}/{FILE_NAME}"),
            format!("/storage/{model}/{PINS}/{name}"),
        ),
        AnyRuntime::Local(_) => (
            request.port.host_ip.to_string(),
            request.port.host_port,
            folder.join(FILE_NAME).display().to_string(),
            pin.display().to_string(),
        ),
    };
    let command: Vec<String> = [
        "mlbench",
        "serve",
        "-m",
        &model_path,
        "--pin-file",
        &pin_path,
        "--name",
        name,
        "--host",
        &host,
        "--port",
    ]
    .iter()
    .map(std::string::ToString::to_string)
    .chain([listen_port.to_string()])
    .collect();
    let image = request
        .image
        .clone()
        .unwrap_or_else(|| crate::jobs::default_image(engine));
    // mlbench's server needs no code: its workspace is an empty folder.
    let workspace = engine.home.root().join("empty-workspace");
    std::fs::create_dir_all(&workspace).map_err(Error::at(&workspace, "cannot create"))?;
    let mut spec = serving_spec(
        engine,
        project,
        request.machine.clone(),
        image,
        Source::Folder { path: workspace },
        command,
    );
    spec.engine = runtime.engine_name().to_string();
    Ok(spec)
}

/// The one naming rule for a deployment of a model: its folder under /storage, lowercased,
/// with `/` and spaces as `-` (`team/salary` → `team-salary`).
pub(crate) fn deployment_name(model: &str) -> String {
    model
        .trim_matches('/')
        .to_ascii_lowercase()
        .replace(['/', ' '], "-")
}

/// A deployment of mlbench's own server for a model in a project's /storage.
pub struct ModelDeployment {
    pub project: String,
    /// The model's folder under /storage.
    pub model: String,
    /// The deployment's name; `None` follows `deployment_name`.
    pub name: Option<String>,
    pub port: PortMapping,
    pub machine: Option<String>,
    pub image: Option<String>,
    /// A kept version to serve; `None`: the current model, followed as training replaces it.
    pub version: Option<u32>,
    pub replicas: u16,
    pub timeout: Duration,
}

impl ModelDeployment {
    /// One replica of the model with the defaults the workbench uses.
    pub fn single(project: String, model: String, port: PortMapping) -> ModelDeployment {
        ModelDeployment {
            project,
            model,
            name: None,
            port,
            machine: None,
            image: None,
            version: None,
            replicas: 1,
            timeout: Duration::from_secs(60),
        }
    }
}

/// A deployment's name names files (its pin, its jobs' labels): only a plain name will do.
fn check_name(name: &str) -> Result<()> {
    mlbench_domain::project::validate_name(name).map_err(|_| {
        Error::Invalid(format!(
            "deployment name {name:?} is not valid: use lowercase letters, digits, '-', '_' or '.'"
        ))
    })
}

/// Serves a model: checks it loads, starts the replicas and waits until each is ready.
pub fn deploy_model<'a>(
    engine: &'a Engine,
    runtime: &'a AnyRuntime,
    request: ModelDeployment,
    progress: &'a mut dyn FnMut(&str),
) -> LocalBoxFuture<'a, Result<(String, Vec<Replica>)>> {
    Box::pin(async move {
        let name = request
            .name
            .clone()
            .unwrap_or_else(|| deployment_name(&request.model));
        // Before the pin is written: a name like `../../x` must not name a file.
        check_name(&name)?;
        engine.store.require_project(&request.project)?;
        // The model is read where the deployment runs: this machine's storage, or the
        // engine's volume.
        let folder =
            ModelFolder::open(engine, &request.project, runtime.engine_name(), &request.model).await?;
        let template = model_server_spec(engine, runtime, &request, &name, &folder)?;
        // The pin is the running deployment's if there is one: refuse before touching it.
        refuse_running(engine, &name)?;
        folder.write_pin(&name, request.version)?;
        folder.commit().await?;
        let replicas = deploy(
            engine,
            runtime,
            DeployRequest {
                template,
                name: name.clone(),
                port: request.port,
                replicas: request.replicas,
                readiness: Readiness::Http("/v2/health/ready".into()),
                timeout: request.timeout,
            },
            progress,
        )
        .await?;
        Ok((name, replicas))
    })
}

/// Whether a training job's model is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServingOfJob {
    /// Nothing serves the job's model: serving it (on the job's engine, from its storage
    /// there) needs a port mapping.
    NeedsPort {
        project: String,
        model: String,
        engine: String,
    },
    /// This deployment serves it.
    Running { name: String },
}

/// Whether the model a training job wrote is served, and by which deployment; the workbench's
/// `s` starts serving it, or asks before stopping that deployment.
pub fn serving_of_job(engine: &Engine, job: i64) -> Result<ServingOfJob> {
    let record = engine.store.job(job)?;
    let model = crate::experiments::fit::model_of_job(engine, &record).ok_or_else(|| {
        Error::Invalid(format!(
            "job {job} wrote no model file in its project's /storage: serving needs a job of `mlbench train -o /storage/NAME`"
        ))
    })?;
    let name = deployment_name(&model);
    Ok(if live_replicas(engine, &name)?.is_empty() {
        ServingOfJob::NeedsPort {
            project: record.spec.project,
            model,
            engine: record.engine,
        }
    } else {
        ServingOfJob::Running { name }
    })
}

/// The URL of a running replica of a deployment.
pub fn deployment_url(engine: &Engine, name: &str) -> Result<String> {
    let replicas = live_replicas(engine, name)?;
    let job = replicas
        .iter()
        .find(|j| j.state == JobState::Running)
        .ok_or_else(|| {
            Error::NotFound(format!(
                "deployment {name} is not running: `mlbench deployments` lists them"
            ))
        })?;
    job_url(job).ok_or_else(|| Error::Other(format!("deployment {name} publishes no port")))
}

/// The name of the one running deployment, for commands that may leave it out; with none or
/// several, an error that says which to name.
pub fn only_deployment(engine: &Engine) -> Result<String> {
    let mut names: Vec<String> = engine
        .store
        .live_jobs()?
        .into_iter()
        .filter(|j| j.state == JobState::Running)
        .filter_map(|j| j.spec.deployment)
        .collect();
    names.sort();
    names.dedup();
    match names.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::Invalid(
            "no deployment is running: start one with `mlbench deploy`, or say where to ask with --url URL"
                .into(),
        )),
        several => Err(Error::Invalid(format!(
            "{} deployments are running ({}): say which with --deployment NAME",
            several.len(),
            several.join(", ")
        ))),
    }
}

/// The URL a serving job's `port` answers on from this machine: on a swarm, the address of
/// the node its task runs on, where the port is published.
pub fn url_of(job: &JobRecord, port: &PortMapping) -> String {
    let ip = match job.node_address.as_deref() {
        Some(address) => address.to_string(),
        None if port.host_ip.is_unspecified() => "127.0.0.1".to_string(),
        None => port.host_ip.to_string(),
    };
    if ip.contains(':') {
        format!("http://[{ip}]:{}", port.host_port)
    } else {
        format!("http://{ip}:{}", port.host_port)
    }
}

/// The URL of a serving job's first published port.
pub fn job_url(job: &JobRecord) -> Option<String> {
    job.spec.ports.first().map(|port| url_of(job, port))
}

/// The live replicas of a deployment.
pub(crate) fn live_replicas(engine: &Engine, name: &str) -> Result<Vec<JobRecord>> {
    Ok(engine
        .store
        .live_jobs()?
        .into_iter()
        .filter(|j| j.spec.deployment.as_deref() == Some(name))
        .collect())
}

fn refuse_running(engine: &Engine, name: &str) -> Result<()> {
    let running: Vec<String> = live_replicas(engine, name)?
        .iter()
        .map(|j| j.id.to_string())
        .collect();
    if running.is_empty() {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "deployment {name} is already running (job {}): stop it with `mlbench deploy stop {name}`",
        running.join(", ")
    )))
}

/// Starts the replicas and waits until each is ready. On any failure, everything started is
/// stopped again and `progress` is given the failing replica's last log lines.
pub fn deploy<'a>(
    engine: &'a Engine,
    runtime: &'a AnyRuntime,
    request: DeployRequest,
    progress: &'a mut dyn FnMut(&str),
) -> LocalBoxFuture<'a, Result<Vec<Replica>>> {
    Box::pin(async move {
        let mut request = request;
        // A rerun of a replica goes where the deployment runs.
        request.template.engine = runtime.engine_name().to_string();
        check_name(&request.name)?;
        refuse_running(engine, &request.name)?;
        if request.replicas == 0 {
            return Err(Error::Invalid("--replicas must be at least 1".into()));
        }
        let on_swarm = matches!(runtime, AnyRuntime::Swarm(_));
        if !on_swarm && request.port.host_port.checked_add(request.replicas - 1).is_none() {
            return Err(Error::Invalid(format!(
                "{} replicas from host port {} run past port 65535",
                request.replicas, request.port.host_port
            )));
        }
        if matches!(runtime, AnyRuntime::Local(_)) && request.replicas > 1 {
            return Err(Error::Invalid(
                "replicas need a Docker Engine: local processes cannot share a container port".into(),
            ));
        }
        if let AnyRuntime::Swarm(swarm) = runtime {
            let open = swarm.nodes(None).await?.iter().filter(|n| n.takes_jobs()).count();
            if usize::from(request.replicas) > open {
                return Err(Error::Invalid(format!(
                    "{} replicas on one port need as many nodes, and {open} of the swarm's nodes take jobs: ask for fewer replicas",
                    request.replicas
                )));
            }
        }
        // Every replica's port is checked before the first starts: a taken later port must not
        // leave a started-and-stopped replica behind.
        for i in 0..request.replicas {
            crate::jobs::submit::ensure_port_free(
                engine,
                runtime,
                &replica_port(runtime, &request.port, i),
                Some(&request.name),
            )?;
        }
        let mut started: Vec<Replica> = Vec::new();
        let outcome = start_replicas(engine, runtime, &request, &mut started, &mut *progress).await;
        if let Err(err) = outcome {
            for replica in &started {
                let _ = stop(engine, Some(runtime), replica.job, Duration::from_secs(2)).await;
            }
            return Err(err);
        }
        Ok(started)
    })
}

async fn start_replicas(
    engine: &Engine,
    runtime: &AnyRuntime,
    request: &DeployRequest,
    started: &mut Vec<Replica>,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    for i in 0..request.replicas {
        let port = replica_port(runtime, &request.port, i);
        let spec = JobSpec {
            kind: JobKind::Serving,
            deployment: Some(request.name.clone()),
            ports: vec![port],
            placement: Vec::new(),
            ..request.template.clone()
        };
        let submitted = submit(engine, runtime, spec, &mut *progress).await?;
        started.push(Replica {
            job: submitted.job,
            url: String::new(),
        });
    }
    for replica in started.iter_mut() {
        replica.url = wait_ready(engine, replica.job, request, progress).await?;
    }
    Ok(())
}

/// Replica `i`'s host port: consecutive ports on one engine; on a swarm every replica
/// publishes the deployment's one port, each on the node Swarm gives it.
fn replica_port(runtime: &AnyRuntime, port: &PortMapping, i: u16) -> PortMapping {
    match runtime {
        AnyRuntime::Swarm(_) => *port,
        _ => PortMapping {
            host_port: port.host_port + i,
            ..*port
        },
    }
}

/// Waits until serving job `job` answers; returns its URL. On a swarm the URL is known once
/// Swarm has placed the job on a node.
async fn wait_ready(
    engine: &Engine,
    job: i64,
    request: &DeployRequest,
    progress: &mut dyn FnMut(&str),
) -> Result<String> {
    let deadline = Instant::now() + request.timeout;
    loop {
        let job = engine.store.job(job)?;
        let url = job_url(&job).filter(|_| job.runtime != RuntimeKind::Swarm || job.node_address.is_some());
        let answered = match (&url, &request.readiness) {
            (None, _) => false,
            (Some(url), Readiness::Http(path)) => {
                client::send(&format!("{url}{path}"), "GET", None, Duration::from_secs(1))
                    .await
                    .is_ok_and(|r| (200..300).contains(&r.status))
            }
            (Some(url), Readiness::Tcp) => tcp_answers(url.trim_start_matches("http://")).await,
        };
        if let (true, Some(url)) = (answered, url) {
            return Ok(url);
        }
        let why = if job.state.is_final() {
            Some(format!("job {} {} before it was ready", job.id, job.state))
        } else if Instant::now() > deadline {
            Some(format!(
                "job {} was not ready within {} s",
                job.id,
                request.timeout.as_secs()
            ))
        } else {
            None
        };
        if let Some(why) = why {
            for line in last_lines(engine, job.id, 20) {
                progress(&line);
            }
            return Err(Error::Other(format!("deployment {} failed: {why}", request.name)));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Docker's port proxy accepts connections even when nothing listens in the container, and
/// then closes them at once; a server keeps the connection open (or greets).
async fn tcp_answers(authority: &str) -> bool {
    use tokio::io::AsyncReadExt;
    let Ok(mut stream) = tokio::net::TcpStream::connect(authority).await else {
        return false;
    };
    let mut byte = [0u8; 1];
    match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut byte)).await {
        Err(_) => true,     // still open and waiting for a request
        Ok(Ok(n)) => n > 0, // a greeting, or closed at once
        Ok(Err(_)) => false,
    }
}

fn last_lines(engine: &Engine, job: i64, n: usize) -> Vec<String> {
    let path = engine.home.job_log(job);
    let Ok(text) = std::fs::read(&path) else {
        return Vec::new();
    };
    let lines: Vec<String> = text
        .split(|b| *b == b'\n')
        .filter_map(mlbench_store::logfile::parse_record)
        .map(|r| format!("  | {}", String::from_utf8_lossy(r.text)))
        .collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// Forgets a deployment that is not running: its serving jobs with their logs, and its pin.
/// Returns the jobs removed.
pub fn remove_deployment<'a>(engine: &'a Engine, name: &'a str) -> LocalBoxFuture<'a, Result<Vec<i64>>> {
    Box::pin(async move {
        let jobs: Vec<JobRecord> = engine
            .store
            .jobs(None)?
            .into_iter()
            .filter(|j| j.spec.kind == JobKind::Serving && j.spec.deployment.as_deref() == Some(name))
            .collect();
        if jobs.is_empty() {
            return Err(Error::NotFound(format!(
                "no deployment {name}: `mlbench deployments --all` lists them"
            )));
        }
        if jobs.iter().any(|j| !j.state.is_final()) {
            return Err(Error::Invalid(format!(
                "deployment {name} is running: stop it first with `mlbench deploy stop {name}`"
            )));
        }
        let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
        crate::jobs::remove_finished(engine, &ids).await?;
        for job in &jobs {
            if let Some((folder, pin)) = crate::serving::pins::served_files(engine, job).await {
                let folder = folder?;
                folder.remove_pin(&pin)?;
                folder.commit().await?;
            }
        }
        Ok(ids)
    })
}

/// Stops every live replica of a deployment; returns their final states.
pub fn stop_deployment<'a>(
    engine: &'a Engine,
    runtime: Option<&'a AnyRuntime>,
    name: &'a str,
    grace: Duration,
) -> LocalBoxFuture<'a, Result<Vec<(i64, JobState)>>> {
    Box::pin(async move {
        let replicas = live_replicas(engine, name)?;
        if replicas.is_empty() {
            return Err(Error::NotFound(format!(
                "deployment {name} is not running: `mlbench deployments` lists them"
            )));
        }
        let mut ended = Vec::new();
        for job in replicas {
            ended.push((job.id, stop(engine, runtime, job.id, grace).await?));
        }
        Ok(ended)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_gives_its_deployment_one_name() {
        assert_eq!(deployment_name("salary"), "salary");
        assert_eq!(deployment_name("Team/Salary v2"), "team-salary-v2");
        assert_eq!(deployment_name("/team/salary/"), "team-salary");
    }
}
