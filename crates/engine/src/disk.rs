//! Disk space: what a filesystem has free, what a folder takes, and removing one (with what
//! jobs left in it as root). Below the rooms: submit, `jobs rm`, `project rm`, gc and doctor
//! all use it.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use futures_util::future::LocalBoxFuture;
use mlbench_domain::FromIo;
use mlbench_runtime::DockerRuntime;

use crate::{Engine, Error, Result};

/// Bytes an unprivileged user may still write on the filesystem holding `path`.
#[allow(unsafe_code)] // statvfs(3) has no safe wrapper in std
pub(crate) fn free_bytes(path: &Path) -> Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::Invalid(format!("{} holds a NUL byte", path.display())))?;
    // SAFETY: statvfs writes only into `stats`, which is a plain C struct of integers, and
    // reads the NUL-terminated path, which lives until the call returns.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &raw mut stats) };
    if rc != 0 {
        return Err(Error::io(
            format!("cannot read the free space of {}", path.display()),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
}

/// Below this much free space a disk counts as full: a job's log and the store need room to grow.
const FULL_BELOW: u64 = 1 << 20;

/// When the disk holding `path` is full, a refusal that says so and what to do (`doing`: what
/// cannot go on); `None` while it has room, or when its free space cannot be read.
pub(crate) fn full(path: &Path, doing: &str) -> Option<Error> {
    let free = free_bytes(path).ok().filter(|free| *free < FULL_BELOW)?;
    Some(Error::DiskFull(format!(
        "the disk holding {} is full ({} free): {doing}; free some space (`mlbench gc` removes what finished jobs left) and try again",
        path.display(),
        mlbench_domain::numfmt::human_bytes(free)
    )))
}

/// The bytes the files under `dir` take on disk (allocated blocks, so sparse files count what
/// they hold), each hard-linked file once; links are not followed. Unreadable entries are
/// skipped: this is an estimate for a warning and for what `gc` frees.
pub(crate) fn used_bytes(dir: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0u64;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
            continue;
        }
        total = total.saturating_add(meta.blocks().saturating_mul(512));
        if meta.is_dir()
            && let Ok(entries) = std::fs::read_dir(&path)
        {
            pending.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
        }
    }
    total
}

/// Removes a folder that jobs wrote in (a job's folder, a project's storage) with everything in
/// it. A job whose image ran as root leaves files this user may not remove, and the overlay
/// leaves its `work/work` (mode 000, root's): those go through a helper container on the Docker
/// Engine, as root. One already gone is fine.
pub(crate) fn remove_job_files<'a>(engine: &'a Engine, path: &'a Path) -> LocalBoxFuture<'a, Result<()>> {
    Box::pin(async move {
        match std::fs::remove_dir_all(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
            Err(e) => return Err(Error::io(format!("cannot remove {}", path.display()), e)),
        }
        let docker = DockerRuntime::connect(Some(engine.home.capacity_cache()))
            .await
            .map_err(|err| {
                Error::Invalid(format!(
                    "cannot remove {}: a job left files there that only root may remove, and no Docker Engine answered to remove them ({}): remove the folder as root",
                    path.display(),
                    mlbench_domain::error::brief(&err.to_string())
                ))
            })?;
        docker
            .empty_as_root(path, &crate::home_labels(&engine.home))
            .await?;
        remove_folder(path)
    })
}

/// Removes a folder and everything in it; one already gone is fine.
pub(crate) fn remove_folder(path: &Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io(format!("cannot remove {}", path.display()), e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_counts_its_files_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let empty = used_bytes(dir.path());
        std::fs::write(dir.path().join("a"), vec![7u8; 1 << 20]).unwrap();
        std::fs::hard_link(dir.path().join("a"), dir.path().join("b")).unwrap();
        let used = used_bytes(dir.path()) - empty;
        assert!((1 << 20..(1 << 20) + 65536).contains(&used), "{used}");
        assert!(free_bytes(dir.path()).unwrap() > 0);
        assert!(free_bytes(&dir.path().join("missing")).is_err());
    }
}
