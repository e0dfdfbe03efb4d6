//! The models in the projects' `/storage`: every folder holding a `model.json` or kept
//! versions, with each version's metrics and data.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlbench_ml::model::Model;
use serde::Serialize;

use std::rc::Rc;

use futures_util::future::LocalBoxFuture;

use crate::beneath::Kind;
use crate::projects::files::StorageFiles;
use crate::projects::model_folder::ModelFolder;
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

/// The models in the storage of `project` (none: every project) on the engine called
/// `engine_name`.
pub fn list<'a>(
    engine: &'a Engine,
    project: Option<&'a str>,
    engine_name: &'a str,
) -> LocalBoxFuture<'a, Result<Vec<ModelEntry>>> {
    Box::pin(async move {
        let projects = match project {
            Some(p) => {
                engine.store.require_project(p)?;
                vec![p.to_string()]
            }
            None => engine.store.projects()?.into_iter().map(|p| p.name).collect(),
        };
        let mut models = Vec::new();
        for project in projects {
            let storage = Rc::new(StorageFiles::open(engine, &project, engine_name, None, true).await?);
            let root = storage.root().to_path_buf();
            let mut folders = Vec::new();
            model_folders(&storage, &root, DEPTH, &mut folders);
            folders.sort();
            for dir in folders {
                let name = dir
                    .strip_prefix(&root)
                    .map_err(|_| Error::Other(format!("{} is outside /storage", dir.display())))?
                    .display()
                    .to_string();
                let folder = ModelFolder::within(storage.clone(), dir);
                let current = folder.load(None).ok().and_then(|m| m.version);
                let versions = folder
                    .numbers()
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
    })
}

fn version_entry(folder: &ModelFolder, n: u32) -> Option<VersionEntry> {
    let model = folder.load(Some(n)).ok()?;
    let written = folder
        .written(n)
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

/// Folders under `dir` that hold a model; a model's own `versions` and `pins` are not models,
/// and no link is followed.
fn model_folders(storage: &StorageFiles, dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    let Ok(entries) = storage.list(dir) else {
        return;
    };
    let file = |name: &str, kind: Kind| entries.iter().any(|(n, f)| n == name && f.kind == kind);
    if file(mlbench_ml::model::FILE_NAME, Kind::File) || file(mlbench_ml::versions::DIR_NAME, Kind::Folder) {
        found.push(dir.to_path_buf());
        return;
    }
    if depth == 0 {
        return;
    }
    for (name, child) in &entries {
        if child.kind == Kind::Folder {
            model_folders(storage, &dir.join(name), depth - 1, found);
        }
    }
}
