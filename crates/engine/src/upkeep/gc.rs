//! `mlbench gc`: removes what finished jobs and killed submits left, code snapshots no job runs
//! (here, and as volumes on remote engines), and runtime images a newer build replaced; never a project's /storage, never a job that has not finished, never a row
//! or a metric (a cleaned job stays listed, with when it was cleaned).

use std::collections::HashSet;
use std::path::PathBuf;

use futures_util::future::LocalBoxFuture;
use mlbench_runtime::DockerRuntime;
use mlbench_runtime::remote::{VolumeKind, VolumeNames};
use serde::Serialize;

use crate::jobs::workspaces;
use crate::{AnyRuntime, Engine, Error, Result, disk};

/// What to collect.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only jobs that finished longer ago than this.
    pub older_than: chrono::Duration,
    /// Leave failed, OOM-killed and lost jobs' files for a post-mortem.
    pub keep_failed: bool,
    /// Say what would go, and remove nothing.
    pub dry_run: bool,
}

/// What was (or, in a dry run, would be) freed, by kind.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Freed {
    pub jobs: Vec<i64>,
    pub job_bytes: u64,
    /// Code snapshots no remaining job runs (and none used within the last hour).
    pub snapshots: usize,
    pub snapshot_bytes: u64,
    pub staging: usize,
    pub staging_bytes: u64,
    pub images: Vec<String>,
    pub image_bytes: u64,
    /// Why images were not looked at (no Docker Engine), if so.
    pub images_skipped: Option<String>,
    /// On remote engines, as `engine/volume`: code no live job there runs (ended jobs' layers
    /// go too, from the engine's layers volume).
    pub remote_volumes: Vec<String>,
    /// Remote engines not looked at, each with why.
    pub engines_skipped: Vec<String>,
}

impl Freed {
    pub fn total_bytes(&self) -> u64 {
        self.job_bytes + self.snapshot_bytes + self.staging_bytes + self.image_bytes
    }
}

/// `30d`, `12h`, `90m`, `45s` or `0`: how long ago a job must have finished.
pub fn parse_age(text: &str) -> Result<chrono::Duration> {
    let text = text.trim();
    let bad = || {
        Error::Invalid(format!(
            "--older-than {text:?} is not an age: give a number with d, h, m or s (30d, 12h), or 0"
        ))
    };
    if text == "0" {
        return Ok(chrono::Duration::zero());
    }
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let count: i64 = text[..split].parse().map_err(|_| bad())?;
    let seconds = match &text[split..] {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(bad()),
    };
    count
        .checked_mul(seconds)
        .and_then(chrono::Duration::try_seconds)
        .ok_or_else(bad)
}

/// Collects: finished jobs' folders (workspace and log) first, then staging leftovers, then
/// dangling runtime images on the engine `runtime` reaches.
pub fn collect<'a>(
    engine: &'a Engine,
    runtime: Option<&'a AnyRuntime>,
    options: &'a Options,
) -> LocalBoxFuture<'a, Result<Freed>> {
    Box::pin(async move {
        let mut freed = Freed::default();
        let cutoff =
            (chrono::Utc::now() - options.older_than).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        for job in engine.store.finished_before(&cutoff, options.keep_failed)? {
            let dir = engine.home.job_dir(job);
            freed.job_bytes += disk::used_bytes(&dir);
            if !options.dry_run {
                disk::remove_job_files(engine, &dir).await?;
                engine.store.mark_cleaned(job)?;
            }
            freed.jobs.push(job);
        }
        // No submit is between picking a snapshot and storing the job that names it.
        let held = workspaces::hold_snapshots(&engine.home, true)?;
        let in_use: HashSet<String> = engine
            .store
            .snapshot_users()?
            .into_iter()
            .filter(|(job, _)| !freed.jobs.contains(job))
            .map(|(_, key)| key)
            .collect();
        for (snapshot, bytes) in unused_snapshots(engine, &in_use) {
            freed.snapshots += 1;
            freed.snapshot_bytes += bytes;
            if !options.dry_run {
                disk::remove_folder(&snapshot)?;
            }
        }
        drop(held);
        for leftover in crate::jobs::reconcile::staging_leftovers(&engine.home) {
            freed.staging += 1;
            freed.staging_bytes += disk::used_bytes(&leftover);
            if !options.dry_run {
                disk::remove_folder(&leftover)?;
            }
        }
        let docker: Option<&DockerRuntime> = match runtime {
            Some(AnyRuntime::Docker(docker)) => Some(docker),
            Some(AnyRuntime::Swarm(swarm)) => Some(swarm.manager()),
            Some(AnyRuntime::Local(_)) | None => None,
        };
        match docker {
            Some(docker) => {
                for (id, bytes) in docker.dangling_runtime_images().await? {
                    if !options.dry_run {
                        docker.remove_image(&id).await?;
                    }
                    freed.image_bytes += bytes;
                    freed.images.push(mlbench_runtime::images::short_id(&id));
                }
            }
            None => freed.images_skipped = Some("no Docker Engine: images were not looked at".into()),
        }
        for entry in &engine.config.engines {
            if let Err(err) = collect_on(engine, &entry.name, options, &mut freed).await {
                freed.engines_skipped.push(format!(
                    "{}: {}",
                    entry.name,
                    mlbench_domain::error::brief(&err.to_string())
                ));
            }
        }
        Ok(freed)
    })
}

/// On the remote engine called `name`: the layers of jobs that ended, the code volumes no live
/// job of this home runs there, and the runtime images a newer build replaced. A volume a
/// container still mounts is refused by the engine and stays.
async fn collect_on(engine: &Engine, name: &str, options: &Options, freed: &mut Freed) -> Result<()> {
    let docker = crate::engines::connect(engine, name).await?;
    let names = VolumeNames::of_home(&engine.home.label());
    let live: Vec<mlbench_store::JobRecord> = engine
        .store
        .live_jobs()?
        .into_iter()
        .filter(|j| j.engine == name)
        .collect();
    let labels = crate::home_labels(&engine.home);
    if !options.dry_run {
        let ended: Vec<i64> = engine
            .store
            .jobs(None)?
            .into_iter()
            .filter(|j| j.engine == name && j.state.is_final())
            .map(|j| j.id)
            .collect();
        docker.remove_layers(&names, &ended, &labels).await?;
    }
    for volume in docker.volumes_labelled(&labels).await? {
        let unused = match names.kind_of(&volume) {
            Some(VolumeKind::Code(key)) => !live.iter().any(|j| j.snapshot.as_deref() == Some(key)),
            Some(VolumeKind::Layers | VolumeKind::Storage(_)) | None => false,
        };
        if !unused {
            continue;
        }
        if !options.dry_run && docker.remove_volume(&volume).await.is_err() {
            // In use by a container (a job submitted meanwhile): it stays.
            continue;
        }
        freed.remote_volumes.push(format!("{name}/{volume}"));
    }
    for (id, bytes) in docker.dangling_runtime_images().await? {
        if !options.dry_run {
            docker.remove_image(&id).await?;
        }
        freed.image_bytes += bytes;
        freed
            .images
            .push(format!("{name}/{}", mlbench_runtime::images::short_id(&id)));
    }
    Ok(())
}

/// Snapshots no job in `in_use` runs and none took within [`workspaces::UNUSED_FOR`], with
/// their sizes.
fn unused_snapshots(engine: &Engine, in_use: &HashSet<String>) -> Vec<(PathBuf, u64)> {
    let Ok(entries) = std::fs::read_dir(engine.home.snapshots_dir()) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|key| !in_use.contains(key))
        })
        .filter(|entry| {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|at| at.elapsed().is_ok_and(|age| age > workspaces::UNUSED_FOR))
        })
        .map(|entry| {
            let bytes = disk::used_bytes(&entry.path());
            (entry.path(), bytes)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A submit holds the snapshots from picking one until its job is stored: gc waits for it
    /// instead of removing the snapshot it picked (it looks unused until the job is stored).
    #[test]
    fn gc_waits_for_a_submit_between_picking_a_snapshot_and_storing_its_job() {
        use mlbench_store::home::Home;
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().join("home")).unwrap();
        let snapshot = home.snapshots_dir().join("folder-picked");
        std::fs::create_dir_all(&snapshot).unwrap();
        std::fs::write(snapshot.join("train.py"), "print(1)").unwrap();
        let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        std::fs::File::open(&snapshot)
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();

        let submit = workspaces::hold_snapshots(&home, false).unwrap();
        let root = home.root().to_path_buf();
        let gc = std::thread::spawn(move || {
            let home = Home::at(root).unwrap();
            let engine = Engine {
                store: mlbench_store::Store::open(&home).unwrap(),
                config: mlbench_config::Config::parse("").unwrap(),
                home,
            };
            let options = Options {
                older_than: chrono::Duration::zero(),
                keep_failed: false,
                dry_run: false,
            };
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            runtime.block_on(collect(&engine, None, &options)).unwrap()
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(!gc.is_finished(), "gc went on while a submit held the snapshots");
        assert!(snapshot.join("train.py").exists());
        drop(submit);
        // Nothing names it once the submit is gone without a job: now it is unused.
        assert_eq!(gc.join().unwrap().snapshots, 1);
        assert!(!snapshot.exists());
    }

    #[test]
    fn ages_have_a_unit_or_are_zero() {
        assert_eq!(parse_age("30d").unwrap(), chrono::Duration::days(30));
        assert_eq!(parse_age("12h").unwrap(), chrono::Duration::hours(12));
        assert_eq!(parse_age("0").unwrap(), chrono::Duration::zero());
        for bad in ["", "30", "d", "3w", "-1d", "99999999999999999d"] {
            let err = parse_age(bad).unwrap_err().to_string();
            assert!(err.contains("is not an age"), "{bad}: {err}");
        }
    }
}
