//! `mlbench storage ls|get`: a project's persistent /storage from the host.

use std::path::{Component, Path, PathBuf};

use super::table;
use crate::engine::Engine;
use crate::{Error, Result};

/// Resolves a path given as inside /storage (`/storage/x`, `x` or `/x`), refusing `..`.
fn resolve(engine: &Engine, project: &str, path: Option<&str>) -> Result<PathBuf> {
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
    if !resolved.exists() {
        return Err(Error::NotFound(format!(
            "{path} is not in the storage of project {project}: `mlbench storage ls {project}` lists it"
        )));
    }
    Ok(resolved)
}

pub fn ls(engine: &Engine, project: &str, path: Option<&str>) -> Result<()> {
    let dir = resolve(engine, project, path)?;
    let root = engine.home.storage_dir(project);
    let mut rows = Vec::new();
    let mut pending = vec![dir];
    while let Some(next) = pending.pop() {
        let meta = std::fs::metadata(&next).map_err(Error::at(&next, "cannot read"))?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&next)
                .map_err(Error::at(&next, "cannot read"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            pending.extend(entries.into_iter().rev());
            continue;
        }
        let modified = meta.modified().ok().map(chrono::DateTime::<chrono::Utc>::from);
        rows.push(vec![
            format!("/storage/{}", next.strip_prefix(&root).unwrap_or(&next).display()),
            meta.len().to_string(),
            modified
                .map(|m| m.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default(),
        ]);
    }
    rows.sort();
    table::print(&["PATH", "BYTES", "MODIFIED (UTC)"], &rows);
    Ok(())
}

pub fn get(engine: &Engine, project: &str, path: &str, output: Option<PathBuf>) -> Result<()> {
    let source = resolve(engine, project, Some(path))?;
    let name = source
        .file_name()
        .map_or_else(|| PathBuf::from(project), PathBuf::from);
    let dest = output.unwrap_or(name);
    if dest.exists() {
        return Err(Error::Invalid(format!(
            "{} already exists: choose another place with -o",
            dest.display()
        )));
    }
    copy(&source, &dest)?;
    println!("{}", dest.display());
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to).map_err(Error::at(to, "cannot create"))?;
        for entry in std::fs::read_dir(from).map_err(Error::at(from, "cannot read"))? {
            let entry = entry.map_err(Error::at(from, "cannot read"))?;
            copy(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(from, to)
            .map(|_| ())
            .map_err(Error::at(from, "cannot copy"))
    }
}
