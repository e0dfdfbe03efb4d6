//! A model's folder in a project's /storage, as mlbench reads and writes it from here: its kept
//! versions, its current `model.json` and the pins of its deployments. A job can write the
//! folder, so all of it goes through [`StorageFiles`]: no link is followed, model files are read
//! only when they are regular files under [`ModelFile::MAX_BYTES`], and a pin here is replaced
//! through an exclusive temporary file (on a remote engine, sent at [`ModelFolder::commit`]).

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::SystemTime;

use mlbench_ml::model::{FILE_NAME, ModelFile};
use mlbench_ml::versions;

use crate::beneath::{Cap, Kind};
use crate::projects::files::StorageFiles;
use crate::{Engine, Result};

/// The folder, inside a model's folder, of the files that say which version each deployment
/// of it serves.
pub(crate) const PINS: &str = "pins";

const MODEL_FILE: Cap = Cap {
    bytes: ModelFile::MAX_BYTES,
    what: "a model file",
};

pub(crate) struct ModelFolder {
    storage: Rc<StorageFiles>,
    /// The folder's path: a host path here, `/storage/<model>` on a remote engine.
    dir: PathBuf,
}

impl ModelFolder {
    /// The folder `/storage/<model>` of `project` on the engine called `engine_name`.
    pub(crate) async fn open(
        engine: &Engine,
        project: &str,
        engine_name: &str,
        model: &str,
    ) -> Result<ModelFolder> {
        let inside = Path::new(crate::projects::files::STORAGE_MOUNT).join(model);
        let storage = StorageFiles::open(engine, project, engine_name, Some(&inside), true).await?;
        let dir = storage.root().join(model);
        Ok(ModelFolder {
            storage: Rc::new(storage),
            dir,
        })
    }

    /// The folder at `dir` of a storage already open.
    pub(crate) fn within(storage: Rc<StorageFiles>, dir: PathBuf) -> ModelFolder {
        ModelFolder { storage, dir }
    }

    /// Sends what was written to a remote engine's storage; nothing to do here.
    pub(crate) async fn commit(&self) -> Result<()> {
        self.storage.commit().await
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
