//! Jobs' code: one read-only snapshot per content in the home's `snapshots/` (a git commit, or
//! a folder's files as they were), shared by every job that runs it. A Docker job sees it at
//! /workspace through an overlay whose writable layer is its own (`jobs/<id>/changes`), so a
//! sweep of 1,000 trials keeps one copy of its code; a local or Swarm job, or any job with
//! `workspaces = "copied"`, gets a full copy of the snapshot.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use mlbench_domain::{FromIo, Source};
use mlbench_runtime::Workspace;
use mlbench_store::JobRecord;
use mlbench_store::home::Home;

use crate::jobs::sources::{self, FolderRules};
use crate::{Error, Result};

/// A snapshot a gc may remove only once no job has used it for this long: a submit that just
/// found it has not stored its job yet.
pub(crate) const UNUSED_FOR: Duration = Duration::from_secs(3600);

/// The snapshot a new job runs.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    /// Its folder's name under `snapshots/`: `git-<commit>` or `folder-<identity>`.
    pub(crate) key: String,
    pub(crate) dir: PathBuf,
    /// The commit the code came from, when git knows one.
    pub(crate) commit: Option<String>,
    /// Special files of the folder (FIFOs, sockets, devices) that are not in it.
    pub(crate) left_out: Vec<PathBuf>,
}

/// The snapshot of `source`, made (in `staging`, then moved into place) only when no job has
/// run the same content before.
pub(crate) fn take(home: &Home, source: &Source, staging: &Path, rules: &FolderRules) -> Result<Snapshot> {
    let root = home.snapshots_dir();
    std::fs::create_dir_all(&root).map_err(Error::at(&root, "cannot create"))?;
    let fresh = staging.join("snapshot");
    let identity = sources::folder_identity(source, rules)?;
    let snapshot = if let (Some((identity, left_out)), Source::Folder { path }) = (identity, source) {
        let key = format!("folder-{identity}");
        let dir = root.join(&key);
        if !dir.is_dir() {
            sources::prepare(source, &fresh, rules)?;
            publish(&fresh, &dir)?;
        }
        Snapshot {
            key,
            dir,
            commit: sources::folder_commit(path),
            left_out,
        }
    } else {
        // A repository is cloned to learn which commit the ref names; the clone is the
        // snapshot unless that commit already has one.
        let commit = sources::prepare(source, &fresh, rules)?
            .ok_or_else(|| Error::Other("git named no commit for the checkout".into()))?;
        let key = format!("git-{commit}");
        let dir = root.join(&key);
        if !dir.is_dir() {
            publish(&fresh, &dir)?;
        }
        Snapshot {
            key,
            dir,
            commit: Some(commit),
            left_out: Vec::new(),
        }
    };
    mark_used(&snapshot.dir);
    Ok(snapshot)
}

/// Moves a finished snapshot into place; another submit that got there first with the same
/// content wins, and this one is left in staging to go with it.
fn publish(fresh: &Path, dir: &Path) -> Result<()> {
    match std::fs::rename(fresh, dir) {
        Ok(()) => Ok(()),
        Err(_) if dir.is_dir() => Ok(()),
        Err(e) => Err(Error::io(
            format!("cannot keep the snapshot {}", dir.display()),
            e,
        )),
    }
}

/// Moves the snapshot's modification time to now: gc leaves recently used snapshots alone.
fn mark_used(dir: &Path) {
    if let Ok(folder) = std::fs::File::open(dir) {
        let _ = folder.set_modified(SystemTime::now());
    }
}

/// A hold on the snapshots: shared by every submit from before it picks a snapshot until its
/// job is stored (which names the snapshot), exclusive for gc while it decides which to remove
/// and removes them. So a snapshot a submit picked is never removed under it. An advisory
/// lock on a file beside the snapshots; it goes with the process that holds it.
pub(crate) struct SnapshotsHeld {
    _lock: std::fs::File,
}

/// Takes the hold on the snapshots, waiting for one of the other kind to go.
pub(crate) fn hold_snapshots(home: &Home, exclusive: bool) -> Result<SnapshotsHeld> {
    use rustix::fs::{FlockOperation, flock};
    let path = home.root().join("snapshots.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(Error::at(&path, "cannot open"))?;
    let operation = if exclusive {
        FlockOperation::LockExclusive
    } else {
        FlockOperation::LockShared
    };
    flock(&file, operation).map_err(|e| Error::io(format!("cannot lock {}", path.display()), e.into()))?;
    Ok(SnapshotsHeld { _lock: file })
}

/// The snapshot folder `key` names.
pub(crate) fn snapshot_dir(home: &Home, key: &str) -> PathBuf {
    home.snapshots_dir().join(key)
}

/// Whether a job's /workspace is its snapshot under a layer of its own (else a folder of its own).
fn is_layered(home: &Home, job: &JobRecord) -> bool {
    job.snapshot.is_some() && home.job_changes(job.id).is_dir()
}

/// The job's /workspace, for its runtime.
pub(crate) fn of_job(home: &Home, job: &JobRecord) -> Workspace {
    match &job.snapshot {
        Some(key) if is_layered(home, job) => Workspace::Layered {
            snapshot: snapshot_dir(home, key),
            changes: home.job_changes(job.id),
            work: home.job_overlay_work(job.id),
        },
        _ => Workspace::Folder(home.job_workspace(job.id)),
    }
}

/// The job's code as it was submitted: what a Dockerfile is built from. A remote job has no
/// folder of its own here: its code is its snapshot.
pub(crate) fn code_of_job(home: &Home, job: &JobRecord) -> PathBuf {
    match &job.snapshot {
        Some(key) if is_layered(home, job) || job.engine != mlbench_domain::LOCAL_ENGINE => {
            snapshot_dir(home, key)
        }
        _ => home.job_workspace(job.id),
    }
}

/// Where on this machine the file the job saw at `/workspace/<relative>` is, and the folder it
/// must stay inside: the job's layer when it wrote (or deleted: an overlay whiteout, which
/// reads as no data) the file, else its snapshot (a remote job's, always: its layer is on its
/// engine).
pub(crate) fn host_file(home: &Home, job: &JobRecord, relative: &Path) -> (PathBuf, PathBuf) {
    // A remote job's layer stayed on its engine: what it was sent is its snapshot, here.
    if let Some(key) = job
        .snapshot
        .as_deref()
        .filter(|_| job.engine != mlbench_domain::LOCAL_ENGINE)
    {
        let snapshot = snapshot_dir(home, key);
        return (snapshot.join(relative), snapshot);
    }
    let Some(key) = job.snapshot.as_deref().filter(|_| is_layered(home, job)) else {
        let root = home.job_workspace(job.id);
        return (root.join(relative), root);
    };
    let changes = home.job_changes(job.id);
    let written = changes.join(relative);
    if std::fs::symlink_metadata(&written).is_ok() {
        (written, changes)
    } else {
        let snapshot = snapshot_dir(home, key);
        (snapshot.join(relative), snapshot)
    }
}
