//! Jobs: everything from a request to a finished job. `submit` checks a spec, finds or makes
//! its code's snapshot (`sources`, `workspaces`), stores the job and hands it to a supervisor
//! process (`supervisor`), which launches it, copies its output (`output`) and waits for its end;
//! `reconcile` picks up jobs whose supervisor died; `stop`, `exec` and `usage` act on a live job;
//! `choices` lists what a new job may pick. Here: [`JobRequest`], which the CLI's flags and the
//! workbench's form fill alike, and the one place that turns it into a stored, started job.

pub mod choices;
pub mod exec;
pub(crate) mod output;
pub mod reconcile;
pub mod sources;
pub mod stop;
pub mod submit;
pub mod supervisor;
pub mod usage;
pub(crate) mod workspaces;

use futures_util::future::LocalBoxFuture;
use mlbench_domain::sweep::SweepSpec;
use mlbench_domain::{EnvVar, JobKind, JobSpec, PortMapping, Source};
use mlbench_runtime::images::runtime_tag;

use crate::{AnyRuntime, Engine, Error, Result, Submitted, submit, submit_sized};

/// Where a job's image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// The config's default image, else mlbench's runtime image.
    Default,
    /// An image the engine has.
    Named(String),
    /// Built from a Dockerfile in the job's repo before it runs, tagged `tag` (default: the
    /// project's build tag).
    Build { dockerfile: String, tag: Option<String> },
    /// Pulled by this name before the job is submitted.
    Pull(String),
}

/// A training job as a user asks for it; every field is checked when it is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRequest {
    pub project: String,
    /// A machine type name; `None` is the config's default.
    pub machine: Option<String>,
    pub image: ImageSource,
    /// A folder or a git URL.
    pub repo: String,
    pub reference: Option<String>,
    pub command: Vec<String>,
    /// `KEY=VALUE` each.
    pub env: Vec<String>,
    /// `[HOST_IP:]HOST_PORT:CONTAINER_PORT` each.
    pub ports: Vec<String>,
    /// Swarm placement constraints (`node.hostname==NAME`, `node.labels.KEY==VALUE`, …).
    pub placement: Vec<String>,
    /// The engine asked for: `local`, a configured engine's name, `auto`, or names with commas.
    pub engine: String,
    /// Copy a repo folder even when it holds more than the config's limit.
    pub force: bool,
}

/// The tag of an image built from a project's Dockerfile when the user names none.
pub(crate) fn build_tag(project: &str) -> String {
    format!("mlbench-build/{project}:latest")
}

/// The image a job runs when the user names none.
pub(crate) fn default_image(engine: &Engine) -> String {
    engine.config.default_image.clone().unwrap_or_else(runtime_tag)
}

impl JobRequest {
    /// The job's spec, with the config's defaults filled in; bad env or ports are refused
    /// naming the field.
    pub(crate) fn spec(self, engine: &Engine) -> Result<JobSpec> {
        let env = self
            .env
            .iter()
            .map(|e| e.parse::<EnvVar>().map_err(|err| Error::field("env", err)))
            .collect::<Result<Vec<_>>>()?;
        let ports = self
            .ports
            .iter()
            .map(|p| p.parse::<PortMapping>().map_err(|err| Error::field("ports", err)))
            .collect::<Result<Vec<_>>>()?;
        let (image, build_dockerfile) = match self.image {
            ImageSource::Default => (default_image(engine), None),
            ImageSource::Named(name) | ImageSource::Pull(name) => (name, None),
            ImageSource::Build { dockerfile, tag } => {
                (tag.unwrap_or_else(|| build_tag(&self.project)), Some(dockerfile))
            }
        };
        Ok(JobSpec {
            kind: JobKind::Training,
            deployment: None,
            storage_read_only: false,
            machine: self
                .machine
                .unwrap_or_else(|| engine.config.default_machine.clone()),
            project: self.project,
            image,
            build_dockerfile,
            source: absolute(Source::parse(&self.repo, self.reference)),
            command: self.command,
            env,
            ports,
            placement: self.placement,
            engine: self.engine,
        })
    }
}

/// A folder source as the absolute path it names from here: `r` from another folder, or a
/// sweep's trial, must run the same code.
fn absolute(source: Source) -> Source {
    match source {
        Source::Folder { path } => Source::Folder {
            path: std::fs::canonicalize(&path)
                .or_else(|_| std::path::absolute(&path))
                .unwrap_or(path),
        },
        git => git,
    }
}

/// Pulls the image first when asked, then submits the job. `progress` hears about slow steps
/// (pulls, the runtime image's build).
pub fn run<'a>(
    engine: &'a Engine,
    runtime: &'a AnyRuntime,
    request: JobRequest,
    progress: &'a mut dyn FnMut(&str),
) -> LocalBoxFuture<'a, Result<Submitted>> {
    Box::pin(async move {
        if let ImageSource::Pull(name) = &request.image {
            let AnyRuntime::Docker(docker) = runtime else {
                return Err(Error::field(
                    "image",
                    Error::Invalid("pulling an image needs a Docker Engine".into()),
                ));
            };
            docker.pull(name, &mut *progress).await?;
        }
        let force = request.force;
        let spec = request.spec(engine)?;
        submit_sized(engine, runtime, spec, force, progress).await
    })
}

/// Runs a stored job's spec again as a new job.
pub fn rerun<'a>(
    engine: &'a Engine,
    runtime: &'a AnyRuntime,
    job: i64,
    progress: &'a mut dyn FnMut(&str),
) -> LocalBoxFuture<'a, Result<Submitted>> {
    Box::pin(async move {
        let spec = engine.store.job(job)?.spec;
        submit(engine, runtime, spec, progress).await
    })
}

/// What a new experiment starts from: the latest training job of a project, or the sweep it
/// was a trial of (whose spec still has its placeholders).
#[derive(Debug, Clone, PartialEq)]
pub enum Latest {
    Job(JobSpec),
    Sweep(SweepSpec),
}

/// Deletes finished jobs: their folders (workspace and log) first, then their rows and
/// metrics. A live job refuses the whole deletion; a row goes only once its files are gone
/// (one whose files went before another's failed stays, marked cleaned), so a new job never
/// takes an id whose old folder is still there.
pub fn remove_finished<'a>(engine: &'a Engine, ids: &'a [i64]) -> LocalBoxFuture<'a, Result<()>> {
    Box::pin(async move {
        engine.store.removable_jobs(ids)?;
        for id in ids {
            crate::disk::remove_job_files(engine, &engine.home.job_dir(*id)).await?;
            engine.store.mark_cleaned(*id)?;
        }
        engine.store.delete_finished_jobs(ids)?;
        Ok(())
    })
}

pub(crate) fn latest_training(engine: &Engine, project: &str) -> Result<Option<Latest>> {
    let job = engine
        .store
        .jobs(Some(project))?
        .into_iter()
        .rev()
        .find(|j| j.spec.kind == JobKind::Training);
    Ok(match job {
        Some(job) => Some(match job.sweep {
            Some(sweep) => Latest::Sweep(engine.store.sweep(sweep)?.spec),
            None => Latest::Job(job.spec),
        }),
        None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlbench_config::Config;
    use mlbench_store::Store;
    use mlbench_store::home::Home;

    fn engine(dir: &std::path::Path) -> Engine {
        let home = Home::at(dir.to_path_buf()).unwrap();
        Engine {
            store: Store::open(&home).unwrap(),
            config: Config::parse("default_machine = \"C4\"\n").unwrap(),
            home,
        }
    }

    fn request(image: ImageSource) -> JobRequest {
        JobRequest {
            project: "salary".into(),
            machine: None,
            image,
            repo: "/tmp".into(),
            reference: None,
            command: vec!["true".into()],
            env: vec!["A=1".into()],
            ports: vec!["8080:80".into()],
            placement: Vec::new(),
            engine: mlbench_domain::LOCAL_ENGINE.into(),
            force: false,
        }
    }

    #[test]
    fn a_request_takes_the_configs_defaults_and_the_projects_build_tag() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(dir.path());
        let spec = request(ImageSource::Default).spec(&engine).unwrap();
        assert_eq!((spec.machine.as_str(), spec.image), ("C4", runtime_tag()));
        let build = ImageSource::Build {
            dockerfile: "Dockerfile".into(),
            tag: None,
        };
        let spec = request(build).spec(&engine).unwrap();
        assert_eq!(spec.image, "mlbench-build/salary:latest");
        assert_eq!(spec.build_dockerfile.as_deref(), Some("Dockerfile"));
        assert_eq!(spec.ports[0].to_string(), "127.0.0.1:8080:80");
        // A relative folder is recorded as the absolute one it names from here.
        let mut here = request(ImageSource::Default);
        here.repo = ".".into();
        let spec = here.spec(&engine).unwrap();
        let cwd = std::fs::canonicalize(".").unwrap();
        assert_eq!(spec.source, Source::Folder { path: cwd });
    }

    #[test]
    fn a_bad_port_or_env_is_refused_naming_its_field() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(dir.path());
        let mut bad = request(ImageSource::Default);
        bad.ports = vec!["8080:0".into()];
        let err = bad.spec(&engine).unwrap_err();
        assert_eq!(err.field_name(), Some("ports"));
        let mut bad = request(ImageSource::Default);
        bad.env = vec!["=x".into()];
        assert_eq!(bad.spec(&engine).unwrap_err().field_name(), Some("env"));
    }
}
