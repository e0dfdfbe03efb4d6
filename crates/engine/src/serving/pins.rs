//! Moving a running deployment of a model to another kept version: the pin file its servers
//! follow is rewritten, and every replica is asked until it serves the new version. Each
//! server swaps the model in whole between requests (the reload path), so none is dropped.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::future::LocalBoxFuture;
use mlbench_domain::JobState;
use mlbench_store::JobRecord;

use crate::projects::model_folder::ModelFolder;
use crate::serving::client;
use crate::serving::deploy::{job_url, live_replicas};
use crate::{Engine, Error, Result};

/// The version to move a deployment to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The kept version before the one it serves.
    Previous,
    Version(u32),
    /// The current `model.json`, followed as training replaces it.
    Current,
}

impl std::str::FromStr for Target {
    type Err = Error;

    fn from_str(text: &str) -> Result<Target> {
        match text {
            "current" => Ok(Target::Current),
            n => n
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .map(Target::Version)
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "{n:?} is not a version: give a number from `mlbench models`, or current"
                    ))
                }),
        }
    }
}

/// What a move did: the version served before and after, by every replica.
#[derive(Debug)]
pub struct Moved {
    pub from: u32,
    pub to: u32,
    pub replicas: usize,
}

/// How long the replicas may take to pick up a new pin (they look twice a second).
const PICKUP: Duration = Duration::from_secs(10);

pub fn move_deployment<'a>(
    engine: &'a Engine,
    name: &'a str,
    target: Target,
) -> LocalBoxFuture<'a, Result<Moved>> {
    Box::pin(async move {
        let replicas: Vec<JobRecord> = live_replicas(engine, name)?
            .into_iter()
            .filter(|j| j.state == JobState::Running)
            .collect();
        let first = replicas.first().ok_or_else(|| {
            Error::NotFound(format!(
                "deployment {name} is not running: `mlbench deployments` lists them"
            ))
        })?;
        let (folder, pin) = served_files(engine, first).await.ok_or_else(|| {
            Error::Invalid(format!(
                "deployment {name} does not serve a model of mlbench's with versions: deploy it again with `mlbench deploy --model`"
            ))
        })?;
        let folder = folder?;
        let from = served_version(first).await?.ok_or_else(|| {
            Error::Invalid(format!(
                "deployment {name} serves a model written before versions were kept: train it again to start its versions"
            ))
        })?;
        let (to, pinned) = match target {
            Target::Previous => {
                let before = folder.before(from).ok_or_else(|| {
                    Error::Invalid(format!(
                        "deployment {name} serves version {from}, the oldest kept: there is none to roll back to"
                    ))
                })?;
                (before, Some(before))
            }
            Target::Version(n) => {
                // Says which versions are kept when n is not one of them.
                folder.load(Some(n))?;
                (n, Some(n))
            }
            Target::Current => {
                let current = folder.load(None)?.version.ok_or_else(|| {
                    Error::Invalid(format!(
                        "{} has no numbered current model",
                        folder.dir().display()
                    ))
                })?;
                (current, None)
            }
        };
        folder.write_pin(&pin, pinned)?;
        folder.commit().await?;
        let deadline = Instant::now() + PICKUP;
        for replica in &replicas {
            while served_version(replica).await? != Some(to) {
                if Instant::now() > deadline {
                    return Err(Error::Other(format!(
                        "job {} of deployment {name} did not switch to version {to} within {} s: see `mlbench logs {}`",
                        replica.id,
                        PICKUP.as_secs(),
                        replica.id
                    )));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(Moved {
            from,
            to,
            replicas: replicas.len(),
        })
    })
}

/// The model folder a serving job's command names (opened in its project's storage, on the
/// job's engine) and the name of its pin there; none when the command is not mlbench's server
/// with a pin.
pub(crate) async fn served_files(engine: &Engine, job: &JobRecord) -> Option<(Result<ModelFolder>, String)> {
    let argument = |flag: &str| {
        let at = job.spec.command.iter().position(|a| a == flag)?;
        job.spec.command.get(at + 1).map(PathBuf::from)
    };
    let model = argument("-m")?;
    let pin = argument("--pin-file")?.file_name()?.to_str()?.to_string();
    // Inside a container /storage is the project's storage; a local process names its folder.
    let dir = model.parent()?;
    let inside = match dir.strip_prefix(crate::projects::files::STORAGE_MOUNT) {
        Ok(inside) => inside.to_path_buf(),
        Err(_) => dir
            .strip_prefix(engine.home.storage_dir(&job.spec.project))
            .ok()?
            .to_path_buf(),
    };
    let folder = ModelFolder::open(
        engine,
        &job.spec.project,
        &job.engine,
        &inside.display().to_string(),
    )
    .await;
    Some((folder, pin))
}

/// The version a replica says it serves (`GET /`).
async fn served_version(job: &JobRecord) -> Result<Option<u32>> {
    let url = job_url(job).ok_or_else(|| Error::Other(format!("job {} publishes no port", job.id)))?;
    let answer = client::send(&format!("{url}/"), "GET", None, Duration::from_secs(2)).await?;
    let body: serde_json::Value = serde_json::from_str(&answer.body)
        .map_err(|e| Error::Other(format!("job {} did not answer with JSON: {e}", job.id)))?;
    Ok(body["version"].as_u64().and_then(|n| u32::try_from(n).ok()))
}
