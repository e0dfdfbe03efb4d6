//! A project's /storage seen from the host. Jobs write there and may plant symbolic links
//! (`ln -s /etc/shadow /storage/x`); host-side reads never follow a link out of the project's
//! storage: a path is resolved and must stay inside, and listings and copies do not follow links.

use std::path::{Component, Path, PathBuf};

use super::Engine;
use crate::{Error, Result};

/// One file (or link) under /storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// As a job sees it: `/storage/...`.
    pub path: String,
    pub bytes: u64,
    pub modified: Option<chrono::DateTime<chrono::Utc>>,
    /// Where a symbolic link points; it is listed, never followed.
    pub link: Option<PathBuf>,
}

/// A host path of the project's storage, after links are resolved: refused unless it is
/// still inside the storage.
pub fn inside(engine: &Engine, project: &str, host_path: &Path) -> Result<PathBuf> {
    let root = engine.home.storage_dir(project);
    confined(&root, host_path, &format!("the /storage of project {project}"))
}

/// `path` with links resolved, refused unless it stays under `root` (`place` names it). A path
/// that does not exist is returned as it is: the read that follows says it is missing.
pub fn confined(root: &Path, path: &Path, place: &str) -> Result<PathBuf> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(path.to_path_buf());
    }
    let root = root.canonicalize().map_err(Error::at(root, "cannot resolve"))?;
    let real = path.canonicalize().map_err(Error::at(path, "cannot resolve"))?;
    if !real.starts_with(&root) {
        return Err(Error::Invalid(format!(
            "{} leads outside {place} (a symbolic link): mlbench does not follow it",
            path.display()
        )));
    }
    Ok(real)
}

/// `/storage/...` for a host path under the storage root.
fn shown(root: &Path, host_path: &Path) -> String {
    let relative = host_path.strip_prefix(root).unwrap_or(host_path);
    format!("/storage/{}", relative.display())
}

/// A path given as inside /storage (`/storage/x`, `x` or `/x`), refusing `..` and links out.
pub fn resolve(engine: &Engine, project: &str, path: Option<&str>) -> Result<PathBuf> {
    engine.store.require_project(project)?;
    let root = engine.home.storage_dir(project);
    let Some(path) = path else { return Ok(root) };
    let inner = path.strip_prefix("/storage").unwrap_or(path);
    let mut resolved = root.clone();
    for part in Path::new(inner).components() {
        match part {
            Component::Normal(p) => resolved.push(p),
            Component::RootDir | Component::CurDir => {}
            _ => {
                return Err(Error::Invalid(format!(
                    "path {path:?} leaves /storage: give a path inside it"
                )));
            }
        }
    }
    if std::fs::symlink_metadata(&resolved).is_err() {
        return Err(Error::NotFound(format!(
            "{path} is not in the storage of project {project}: `mlbench storage ls {project}` lists it"
        )));
    }
    inside(engine, project, &resolved)
}

/// Every file under `dir` (a folder or a file of the storage), links listed but not followed.
pub fn list(engine: &Engine, project: &str, dir: &Path) -> Result<Vec<Entry>> {
    let root = engine.home.storage_dir(project);
    let root = root.canonicalize().map_err(Error::at(&root, "cannot resolve"))?;
    let mut entries = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        let meta = std::fs::symlink_metadata(&next).map_err(Error::at(&next, "cannot read"))?;
        if meta.is_dir() {
            let children = std::fs::read_dir(&next).map_err(Error::at(&next, "cannot read"))?;
            pending.extend(children.filter_map(|e| e.ok().map(|e| e.path())));
            continue;
        }
        let link = if meta.file_type().is_symlink() {
            Some(std::fs::read_link(&next).map_err(Error::at(&next, "cannot read"))?)
        } else {
            None
        };
        entries.push(Entry {
            path: shown(&root, &next),
            bytes: if link.is_some() { 0 } else { meta.len() },
            modified: meta.modified().ok().map(chrono::DateTime::<chrono::Utc>::from),
            link,
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// Copies a file or folder of the storage to `to`; links inside a folder are not followed but
/// named in the returned list of what was left out.
pub fn copy_out(from: &Path, to: &Path) -> Result<Vec<PathBuf>> {
    let mut skipped = Vec::new();
    copy(from, to, &mut skipped)?;
    Ok(skipped)
}

fn copy(from: &Path, to: &Path, skipped: &mut Vec<PathBuf>) -> Result<()> {
    let meta = std::fs::symlink_metadata(from).map_err(Error::at(from, "cannot read"))?;
    if meta.file_type().is_symlink() {
        skipped.push(from.to_path_buf());
        return Ok(());
    }
    if meta.is_dir() {
        std::fs::create_dir_all(to).map_err(Error::at(to, "cannot create"))?;
        for entry in std::fs::read_dir(from).map_err(Error::at(from, "cannot read"))? {
            let entry = entry.map_err(Error::at(from, "cannot read"))?;
            copy(&entry.path(), &to.join(entry.file_name()), skipped)?;
        }
        return Ok(());
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(Error::at(from, "cannot copy"))
}
