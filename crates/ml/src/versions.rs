//! Model versions: every model written into a folder is kept as `DIR/versions/<n>/model.json`
//! (n counting up from 1, never reused) and `DIR/model.json` is a copy of the newest, so a
//! deployment can pin an older one or roll back to it while training goes on.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use mlbench_domain::FromIo;

use super::model::{FILE_NAME, ModelFile};
use crate::{Error, Result};

pub const DIR_NAME: &str = "versions";

/// Where version `n` of the model in `dir` lives.
pub fn path(dir: &Path, n: u32) -> PathBuf {
    dir.join(DIR_NAME).join(n.to_string()).join(FILE_NAME)
}

/// The version a folder under `versions/` is, by its name.
pub fn number_of(name: &OsStr) -> Option<u32> {
    name.to_str()?.parse::<u32>().ok().filter(|n| *n > 0)
}

/// The version numbers kept in `dir`, oldest first.
pub fn numbers(dir: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(dir.join(DIR_NAME)) else {
        return Vec::new();
    };
    let mut numbers: Vec<u32> = entries
        .filter_map(|e| number_of(&e.ok()?.file_name()))
        .filter(|n| path(dir, *n).is_file())
        .collect();
    numbers.sort_unstable();
    numbers
}

/// The refusal of version `n` of the model in `dir`, which keeps `kept`.
pub fn not_kept(dir: &Path, n: u32, kept: &[u32]) -> Error {
    let kept = if kept.is_empty() {
        "none are kept".to_string()
    } else {
        format!(
            "kept: {}",
            kept.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
        )
    };
    Error::NotFound(format!("{} has no model version {n} ({kept})", dir.display()))
}

/// Writes `model` as the next version of `dir` and as its current `model.json`; returns the
/// version's number. A `model.json` written before versions existed is kept as a version first.
pub(crate) fn save(dir: &Path, model: &ModelFile) -> Result<u32> {
    let current = dir.join(FILE_NAME);
    if let Ok(previous) = ModelFile::load(&current)
        && previous.version.is_none_or(|n| !path(dir, n).is_file())
    {
        let n = claim(dir)?;
        write_numbered(dir, n, previous)?;
    }
    let n = claim(dir)?;
    let mut numbered = model.clone();
    numbered.version = Some(n);
    write_numbered(dir, n, numbered.clone())?;
    numbered.write_atomic(&current)?;
    Ok(n)
}

fn write_numbered(dir: &Path, n: u32, mut model: ModelFile) -> Result<()> {
    model.version = Some(n);
    model.write_atomic(&path(dir, n))
}

/// The next free number: its folder is created here, so two trainers writing into one folder
/// at once never take the same number.
fn claim(dir: &Path) -> Result<u32> {
    let root = dir.join(DIR_NAME);
    std::fs::create_dir_all(&root).map_err(Error::at(&root, "cannot create"))?;
    let mut n = numbers(dir).last().map_or(1, |last| last + 1);
    loop {
        let folder = root.join(n.to_string());
        match std::fs::create_dir(&folder) {
            Ok(()) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => return Err(Error::io(format!("cannot create {}", folder.display()), e)),
        }
    }
}

/// The model `dir` serves as version `n` (`None`: the current one).
pub fn load(dir: &Path, n: Option<u32>) -> Result<ModelFile> {
    match n {
        None => ModelFile::load(&dir.join(FILE_NAME)),
        Some(n) => {
            let file = path(dir, n);
            if !file.is_file() {
                return Err(not_kept(dir, n, &numbers(dir)));
            }
            ModelFile::load(&file)
        }
    }
}
