//! The models in the projects' `/storage`: every folder holding a `model.json` or kept
//! versions, with each version's metrics and data.

use std::collections::BTreeMap;
use std::path::Path;

use mlbench_ml::model::{FILE_NAME, Model};
use mlbench_ml::versions;
use serde::Serialize;

use crate::{Engine, Error, Result};

#[derive(Debug, Serialize)]
pub struct ModelEntry {
    pub project: String,
    /// Its folder under `/storage`.
    pub name: String,
    /// The version `model.json` is (none: written before versions were kept).
    pub current: Option<u32>,
    pub versions: Vec<VersionEntry>,
}

#[derive(Debug, Serialize)]
pub struct VersionEntry {
    pub version: u32,
    pub kind: &'static str,
    pub metrics: BTreeMap<String, f64>,
    pub data: String,
    pub data_sha256: String,
    pub(crate) train_rows: u64,
    /// The job that wrote it (none: written outside a job, or before jobs were recorded).
    pub job: Option<i64>,
    /// When it was written, seconds since the epoch.
    pub written: i64,
}

/// Folders deeper than this under `/storage` are not looked into.
const DEPTH: usize = 4;

pub fn list(engine: &Engine, project: Option<&str>) -> Result<Vec<ModelEntry>> {
    let projects = match project {
        Some(p) => {
            engine.store.require_project(p)?;
            vec![p.to_string()]
        }
        None => engine.store.projects()?.into_iter().map(|p| p.name).collect(),
    };
    let mut models = Vec::new();
    for project in projects {
        let storage = engine.home.storage_dir(&project);
        let mut folders = Vec::new();
        model_folders(&storage, DEPTH, &mut folders);
        folders.sort();
        for folder in folders {
            let name = folder
                .strip_prefix(&storage)
                .map_err(|_| Error::Other(format!("{} is outside /storage", folder.display())))?
                .display()
                .to_string();
            let current = versions::load(&folder, None).ok().and_then(|m| m.version);
            let versions = versions::numbers(&folder)
                .into_iter()
                .filter_map(|n| version_entry(&folder, n))
                .collect();
            models.push(ModelEntry {
                project: project.clone(),
                name,
                current,
                versions,
            });
        }
    }
    Ok(models)
}

fn version_entry(folder: &Path, n: u32) -> Option<VersionEntry> {
    let model = versions::load(folder, Some(n)).ok()?;
    let written = std::fs::metadata(versions::path(folder, n))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Some(VersionEntry {
        version: n,
        kind: match model.model {
            Model::Linear { .. } => "linear",
            Model::Tree { .. } => "tree",
        },
        metrics: model.metrics,
        data: model.data.path,
        data_sha256: model.data.sha256,
        train_rows: model.rows.train,
        job: model.job,
        written,
    })
}

/// Folders under `dir` that hold a model; a model's own `versions` and `pins` are not models.
fn model_folders(dir: &Path, depth: usize, found: &mut Vec<std::path::PathBuf>) {
    if dir.join(FILE_NAME).is_file() || dir.join(versions::DIR_NAME).is_dir() {
        found.push(dir.to_path_buf());
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    if depth == 0 {
        return;
    }
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            model_folders(&entry.path(), depth - 1, found);
        }
    }
}
