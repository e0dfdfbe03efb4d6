//! A model's folder in a project's /storage, as the host reads and writes it: its kept
//! versions, its current `model.json` and the pins of its deployments. A job can write the
//! folder, so all of it goes through [`Beneath`]: no link is followed, model files are read
//! only when they are regular files under [`ModelFile::MAX_BYTES`], and a pin is replaced
//! through an exclusive temporary file.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use mlbench_ml::model::{FILE_NAME, ModelFile};
use mlbench_ml::versions;

use crate::beneath::{Beneath, Cap, Kind};
use crate::{Engine, Result};

/// The folder, inside a model's folder, of the files that say which version each deployment
/// of it serves.
pub(crate) const PINS: &str = "pins";

const MODEL_FILE: Cap = Cap {
    bytes: ModelFile::MAX_BYTES,
    what: "a model file",
};

pub(crate) struct ModelFolder {
    storage: Beneath,
    /// The folder's host path.
    dir: PathBuf,
}

impl ModelFolder {
    /// The folder `/storage/<model>` of `project`.
    pub(crate) fn open(engine: &Engine, project: &str, model: &str) -> Result<ModelFolder> {
        let storage = crate::projects::storage::open(engine, project)?;
        let dir = storage.root().join(model);
        Ok(ModelFolder { storage, dir })
    }

    /// The folder at host path `dir` of a storage already open.
    pub(crate) fn within(storage: Beneath, dir: PathBuf) -> ModelFolder {
        ModelFolder { storage, dir }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The version numbers kept, oldest first: folders of `versions/` holding a regular
    /// `model.json`.
    pub(crate) fn numbers(&self) -> Vec<u32> {
        let Ok(entries) = self.storage.list(&self.dir.join(versions::DIR_NAME)) else {
            return Vec::new();
        };
        entries
            .into_iter()
            .filter(|(_, found)| found.kind == Kind::Folder)
            .filter_map(|(name, _)| versions::number_of(&name))
            .filter(|n| {
                let file = self.storage.find(&versions::path(&self.dir, *n));
                matches!(file, Ok(Some(found)) if found.kind == Kind::File)
            })
            .collect::<std::collections::BTreeSet<u32>>()
            .into_iter()
            .collect()
    }

    /// The version kept before `n`, if any.
    pub(crate) fn before(&self, n: u32) -> Option<u32> {
        self.numbers().into_iter().rev().find(|v| *v < n)
    }

    /// Version `n` of the model (`None`: the current `model.json`).
    pub(crate) fn load(&self, n: Option<u32>) -> Result<ModelFile> {
        let file = match n {
            None => self.dir.join(FILE_NAME),
            Some(n) => {
                let file = versions::path(&self.dir, n);
                if self.storage.find(&file)?.is_none() {
                    return Err(versions::not_kept(&self.dir, n, &self.numbers()).into());
                }
                file
            }
        };
        Ok(ModelFile::parse(self.storage.read(&file, MODEL_FILE)?, &file)?)
    }

    /// When version `n` was written.
    pub(crate) fn written(&self, n: u32) -> Option<SystemTime> {
        self.storage.find(&versions::path(&self.dir, n)).ok()??.modified
    }

    /// The host path of a deployment's pin: one file per deployment, holding `current` or a
    /// number.
    pub(crate) fn pin_file(&self, deployment: &str) -> PathBuf {
        self.dir.join(PINS).join(deployment)
    }

    /// Writes a deployment's pin as a whole, so a server never reads half of one.
    pub(crate) fn write_pin(&self, deployment: &str, version: Option<u32>) -> Result<()> {
        let text = version.map_or_else(|| "current".to_string(), |n| n.to_string());
        self.storage
            .write(&self.pin_file(deployment), format!("{text}\n").as_bytes())
    }

    pub(crate) fn remove_pin(&self, deployment: &str) -> Result<()> {
        self.storage.remove(&self.pin_file(deployment))
    }
}
