//! Where mlbench keeps its state: `MLBENCH_HOME`, else the XDG data dir.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use mlbench_domain::FromIo;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
    /// Where jobs' folders, projects' storage and staging live: the root, or a folder every
    /// node of a cluster mounts at the same path (the config's `storage_root`).
    shared: PathBuf,
}

impl Home {
    pub fn discover() -> Result<Home> {
        let root = match std::env::var_os("MLBENCH_HOME") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => dirs::data_dir()
                .ok_or_else(|| Error::Invalid("no data directory is known: set MLBENCH_HOME".into()))?
                .join("mlbench"),
        };
        Home::at(root)
    }

    /// The home at `root`, created if missing. It holds jobs' env values (tokens, say), so it
    /// is the user's alone: 0700, tightened if an older mlbench left it open.
    pub fn at(root: PathBuf) -> Result<Home> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(Error::at(&root, "cannot create"))?;
        let root = root.canonicalize().map_err(Error::at(&root, "cannot resolve"))?;
        only_for_owner(&root, 0o700)?;
        Ok(Home {
            shared: root.clone(),
            root,
        })
    }

    /// This home with its jobs' and projects' files under `storage_root` (in a folder named
    /// after the home, so homes sharing a root never meet), or under its root when `None`.
    /// The database stays in the root: only this machine opens it.
    pub fn sharing(self, storage_root: Option<&Path>) -> Result<Home> {
        let Some(storage_root) = storage_root else {
            return Ok(self);
        };
        if !storage_root.is_dir() {
            return Err(Error::Invalid(format!(
                "storage_root {} is not a folder: mount the shared folder there, or fix the config",
                storage_root.display()
            )));
        }
        let shared = storage_root.join(format!("mlbench-{}", self.label()));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&shared)
            .map_err(Error::at(&shared, "cannot create"))?;
        Ok(Home { shared, ..self })
    }

    /// The database file, created 0600 (and tightened to it) before SQLite opens it; SQLite
    /// gives its -wal and -shm files the same mode.
    pub(crate) fn private_db_path(&self) -> Result<PathBuf> {
        let path = self.db_path();
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(Error::at(&path, "cannot create"))?;
        only_for_owner(&path, 0o600)?;
        Ok(path)
    }

    /// Where jobs' folders (their logs, workspaces) are.
    pub(crate) fn jobs_root(&self) -> PathBuf {
        self.shared.join("jobs")
    }

    /// Whether any job's folder is here: a home that has run jobs.
    pub(crate) fn has_job_files(&self) -> bool {
        std::fs::read_dir(self.jobs_root()).is_ok_and(|mut entries| entries.next().is_some())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folders this home's files are in: its root, and the shared root when it is elsewhere.
    pub fn folders(&self) -> Vec<&Path> {
        if self.shared.starts_with(&self.root) {
            vec![&self.root]
        } else {
            vec![&self.root, &self.shared]
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.root.join("mlbench.db")
    }

    pub fn storage_dir(&self, project: &str) -> PathBuf {
        self.shared.join("projects").join(project).join("storage")
    }

    pub fn job_dir(&self, job: i64) -> PathBuf {
        self.jobs_root().join(job.to_string())
    }

    /// Where a sweep's driver keeps its lock and its error file.
    pub fn sweep_dir(&self, sweep: i64) -> PathBuf {
        self.root.join("sweeps").join(sweep.to_string())
    }

    pub fn job_log(&self, job: i64) -> PathBuf {
        self.job_dir(job).join("output.log")
    }

    pub fn job_workspace(&self, job: i64) -> PathBuf {
        self.job_dir(job).join("workspace")
    }

    /// One read-only copy of the code per content: jobs of the same commit or folder share it.
    pub fn snapshots_dir(&self) -> PathBuf {
        self.shared.join("snapshots")
    }

    /// A job's writable layer over its snapshot: what it wrote or deleted in /workspace.
    pub fn job_changes(&self, job: i64) -> PathBuf {
        self.job_dir(job).join("changes")
    }

    /// The overlay's scratch folder, beside the job's layer on the same filesystem.
    pub fn job_overlay_work(&self, job: i64) -> PathBuf {
        self.job_dir(job).join("overlay-work")
    }

    /// The Docker Engine's CPU and memory totals, kept between processes.
    pub fn capacity_cache(&self) -> PathBuf {
        self.root.join("engine-capacity.json")
    }

    /// What mlbench keeps of a named engine: its SSH link's sockets and ssh's own words, and its
    /// CPU and memory totals.
    pub fn engine_dir(&self, engine: &str) -> PathBuf {
        self.root.join("engines").join(engine)
    }

    /// The CPU and memory totals of the engine called `engine` (`local` or a named one).
    pub fn engine_capacity_cache(&self, engine: &str) -> PathBuf {
        if engine == mlbench_domain::LOCAL_ENGINE {
            return self.capacity_cache();
        }
        self.engine_dir(engine).join("capacity.json")
    }

    /// Workspaces are prepared here before their job exists, so that a failed clone stores nothing.
    pub fn staging_dir(&self) -> PathBuf {
        self.shared.join("staging")
    }

    /// Tells this home's containers from those of another home on the same engine.
    pub fn label(&self) -> String {
        let digest = Sha256::digest(self.root.as_os_str().as_encoded_bytes());
        digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
    }

    /// The container name of a job: unique per home, readable in `docker ps`.
    pub fn container_name(&self, job: i64) -> String {
        format!("mlbench-{}-{job}", self.label())
    }
}

/// Takes group and other permissions away from `path` if it has any.
fn only_for_owner(path: &Path, mode: u32) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(Error::at(path, "cannot read"))?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(Error::at(path, "cannot restrict"))?;
    }
    Ok(())
}
