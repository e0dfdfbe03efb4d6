//! Projects: the boundary around jobs and their shared /storage. Creating and deleting one (the
//! store's rows and the folders that go with them: its /storage, its jobs' workspaces and logs);
//! `storage` browses and copies out of a project's /storage without following a link in it;
//! `model_folder` reads and writes a model's folder there the same way.

pub(crate) mod files;
pub(crate) mod model_folder;
pub mod storage;

use futures_util::future::LocalBoxFuture;
use mlbench_domain::FromIo;

use crate::{Engine, Error, Result};

pub fn create(engine: &Engine, name: &str) -> Result<std::path::PathBuf> {
    engine.store.create_project(name)?;
    let storage = engine.home.storage_dir(name);
    std::fs::create_dir_all(&storage).map_err(Error::at(&storage, "cannot create"))?;
    Ok(storage)
}

/// What deleting a project removed.
#[derive(Debug, PartialEq, Eq)]
pub struct Removed {
    pub jobs: usize,
    pub bytes: u64,
}

/// Deletes a project whose jobs have all ended: its jobs' folders and its /storage first, then
/// its rows (all or none), so no row outlives files it names.
pub fn remove<'a>(engine: &'a Engine, name: &'a str) -> LocalBoxFuture<'a, Result<Removed>> {
    Box::pin(async move {
        let jobs = engine.store.removable_project(name)?;
        let mut folders: Vec<std::path::PathBuf> = jobs.iter().map(|id| engine.home.job_dir(*id)).collect();
        // The project's own folder holds its /storage.
        folders.extend(
            engine
                .home
                .storage_dir(name)
                .parent()
                .map(std::path::Path::to_path_buf),
        );
        let mut bytes = 0;
        for folder in folders {
            bytes += size_of(&folder);
            crate::disk::remove_job_files(engine, &folder).await?;
        }
        let jobs = engine.store.delete_project(name)?;
        Ok(Removed {
            jobs: jobs.len(),
            bytes,
        })
    })
}

/// The bytes of the files under `path`, links not followed (0 when it is gone).
fn size_of(path: &std::path::Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .filter_map(std::result::Result::ok)
        .map(|entry| size_of(&entry.path()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlbench_config::Config;
    use mlbench_domain::JobState;
    use mlbench_store::Store;
    use mlbench_store::home::Home;

    #[tokio::test]
    async fn a_project_goes_with_its_jobs_and_storage_once_nothing_runs() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().to_path_buf()).unwrap();
        let engine = Engine {
            store: Store::open(&home).unwrap(),
            config: Config::parse("").unwrap(),
            home,
        };
        let storage = create(&engine, "doomed").unwrap();
        create(&engine, "kept").unwrap();
        std::fs::write(storage.join("model.json"), "{}").unwrap();
        let spec = |project: &str| mlbench_domain::JobSpec {
            kind: mlbench_domain::JobKind::Training,
            deployment: None,
            storage_read_only: false,
            project: project.into(),
            machine: "C1".into(),
            image: "img".into(),
            build_dockerfile: None,
            source: mlbench_domain::Source::Folder { path: ".".into() },
            command: vec!["true".into()],
            env: vec![],
            ports: vec![],
            placement: Vec::new(),
            engine: mlbench_domain::LOCAL_ENGINE.into(),
        };
        let local = mlbench_domain::RuntimeKind::Local;
        let job = engine.store.insert_job(&spec("doomed"), local, None).unwrap();
        let other = engine.store.insert_job(&spec("kept"), local, None).unwrap();
        std::fs::create_dir_all(engine.home.job_dir(job)).unwrap();
        std::fs::write(engine.home.job_log(job), "log").unwrap();
        let err = remove(&engine, "doomed").await.unwrap_err().to_string();
        assert!(err.contains(&format!("job {job} of doomed is queued")), "{err}");
        assert!(storage.join("model.json").exists(), "a refusal removes nothing");
        engine.store.finish(job, JobState::Failed, Some(1), None).unwrap();
        assert_eq!(
            remove(&engine, "doomed").await.unwrap(),
            Removed { jobs: 1, bytes: 5 }
        );
        assert!(!storage.exists() && !engine.home.job_dir(job).exists());
        let names: Vec<String> = engine
            .store
            .projects()
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["kept"]);
        assert!(engine.store.job(other).is_ok());
        assert!(
            remove(&engine, "doomed").await.is_err(),
            "no such project any more"
        );
    }
}
