//! Brings the store and the running jobs back together: every live job gets a supervisor.
//! A supervisor holds an exclusive lock on its job's lock file for as long as it lives, so a
//! free lock means nobody follows the job (mlbench was killed, the machine rebooted, ...).

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::process::{Command, Stdio};

use mlbench_domain::FromIo;
use mlbench_store::Store;
use mlbench_store::home::Home;

use crate::{Error, Result};

fn lock_file(dir: &Path, name: &str) -> Result<File> {
    std::fs::create_dir_all(dir).map_err(Error::at(dir, "cannot create"))?;
    let path = dir.join(name);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(Error::at(&path, "cannot open"))
}

/// Takes `file`'s lock, or `None` when another process holds it; with `wait`, waits for it.
fn lock(file: File, wait: bool) -> Result<Option<File>> {
    if wait {
        file.lock().map_err(|e| Error::io("cannot lock", e))?;
        return Ok(Some(file));
    }
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io("cannot lock", e)),
    }
}

/// Takes the job's supervisor lock, or `None` when another supervisor holds it. With `wait`,
/// waits for the holder to let go instead (a launch handing the job over).
pub(crate) fn acquire_supervisor_lock(home: &Home, job: i64, wait: bool) -> Result<Option<File>> {
    lock(lock_file(&home.job_dir(job), "supervisor.lock")?, wait)
}

/// Takes the sweep's driver lock, or `None` when another driver holds it.
pub(crate) fn acquire_driver_lock(home: &Home, sweep: i64) -> Result<Option<File>> {
    lock(lock_file(&home.sweep_dir(sweep), "driver.lock")?, false)
}

/// Starts `mlbench ARGS` detached from this terminal: its own process group (Ctrl-C here does
/// not reach it), no stdin, its errors appended to `errors`.
fn spawn_detached(home: &Home, args: &[String], errors: &Path, what: &str) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(|e| Error::io("cannot find the mlbench binary", e))?;
    let error_file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(errors)
        .map_err(Error::at(errors, "cannot open"))?;
    Command::new(exe)
        .args(args)
        .env("MLBENCH_HOME", home.root())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(error_file)
        .process_group(0)
        .spawn()
        .map_err(|e| Error::io(format!("cannot start {what}"), e))?;
    Ok(())
}

/// Starts `mlbench __supervise JOB` detached. With `handover`, it gets ready and then waits
/// for the caller, who holds the job's lock, to let go of it.
pub(crate) fn spawn_supervisor(home: &Home, job: i64, handover: bool) -> Result<()> {
    let mut args = vec!["__supervise".to_string(), job.to_string()];
    if handover {
        args.push("--handover".into());
    }
    let errors = home.job_dir(job).join("supervisor.err");
    spawn_detached(home, &args, &errors, "the job's supervisor")
}

/// Starts `mlbench __drive-sweep SWEEP` detached: it submits the sweep's trials as capacity and
/// `--parallel` allow, prunes, and marks the sweep finished.
pub(crate) fn spawn_driver(home: &Home, sweep: i64) -> Result<()> {
    let dir = home.sweep_dir(sweep);
    std::fs::create_dir_all(&dir).map_err(Error::at(&dir, "cannot create"))?;
    let args = ["__drive-sweep".to_string(), sweep.to_string()];
    spawn_detached(home, &args, &dir.join("driver.err"), "the sweep's driver")
}

/// Starts a supervisor for `job` if it is live and nobody supervises it (its supervisor died);
/// true when one was started. A follower calls this when the log stops growing.
pub fn ensure_supervised(home: &Home, store: &Store, job: i64) -> Result<bool> {
    if store.job(job)?.state.is_final() {
        return Ok(false);
    }
    let orphaned = acquire_supervisor_lock(home, job, false)?.is_some();
    if orphaned {
        spawn_supervisor(home, job, false)?;
    }
    Ok(orphaned)
}

/// Gives every live job without a supervisor a new one, and every open sweep without a driver
/// a new one; returns how many were started. Also clears staging folders of submits that were
/// killed before their job was stored.
pub fn reconcile(home: &Home, store: &Store) -> Result<usize> {
    sweep_staging(home);
    let mut started = 0;
    for sweep in store.open_sweeps()? {
        if acquire_driver_lock(home, sweep)?.is_some() {
            spawn_driver(home, sweep)?;
            started += 1;
        }
    }
    for job in store.live_jobs()? {
        // Holding the lock for a moment proves nobody else does; the new supervisor takes it.
        let orphaned = acquire_supervisor_lock(home, job.id, false)?.is_some();
        if orphaned {
            spawn_supervisor(home, job.id, false)?;
            started += 1;
        }
    }
    Ok(started)
}

/// Staging folders carry the pid of the submit that made them, so one left by a killed submit
/// can be told from one in use.
pub(crate) fn staging_prefix(pid: u32) -> String {
    format!("job-{pid}-")
}

/// The pid in a staging folder's name made with [`staging_prefix`].
fn staging_owner(name: &str) -> Option<u32> {
    name.strip_prefix("job-")?.split('-').next()?.parse().ok()
}

/// Removes `staging/job-<pid>-*` folders whose submit process is gone. Best effort: a folder
/// that cannot be removed now is tried again at the next reconcile.
fn sweep_staging(home: &Home) {
    for leftover in staging_leftovers(home) {
        let _ = std::fs::remove_dir_all(leftover);
    }
}

/// Staging folders whose submitting process is gone: what a killed submit left.
pub(crate) fn staging_leftovers(home: &Home) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(home.staging_dir()) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .and_then(staging_owner)
                .is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
        })
        .map(|entry| entry.path())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staging_name_gives_back_its_pid() {
        assert_eq!(
            staging_owner(&format!("{}Ab3xYz", staging_prefix(4242))),
            Some(4242)
        );
        assert_eq!(staging_owner("build-123"), None);
    }
}
