//! Picks up a replaced model file (a new training run) or a new pin (a rollback) while requests
//! go on: the new model is loaded beside the old one and swapped in whole; a broken file keeps
//! the old model serving.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mlbench_ml::model::FILE_NAME;
use mlbench_ml::versions;

use super::Served;

const POLL: Duration = Duration::from_millis(500);

/// Which version a server serves: the one a pin file names (read again when it changes), else
/// a fixed one, else (`None`) the current `model.json`.
pub(crate) struct Pin {
    pub(crate) file: Option<PathBuf>,
    pub(crate) fixed: Option<u32>,
}

impl Pin {
    /// The version to serve now; `before` when the pin file cannot be read as one.
    pub(crate) fn read(&self, before: Option<u32>) -> Option<u32> {
        match &self.file {
            Some(file) => match std::fs::read_to_string(file) {
                Ok(text) => parse_pin(&text).unwrap_or(before),
                Err(_) => self.fixed,
            },
            None => self.fixed,
        }
    }
}

/// A pin file's text: a version number, or `current`. `None` when it is neither (a file being
/// written, or garbage): the server keeps what it serves.
pub(crate) fn parse_pin(text: &str) -> Option<Option<u32>> {
    match text.trim() {
        "current" => Some(None),
        n => n.parse::<u32>().ok().filter(|n| *n > 0).map(Some),
    }
}

/// Identifies one version of a file: the trainer renames a new file over the old one.
fn stamp(path: &Path) -> Option<(u64, i64, i64, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.ino(), m.mtime(), m.mtime_nsec(), m.len()))
}

fn file_of(folder: &Path, chosen: Option<u32>) -> PathBuf {
    chosen.map_or_else(|| folder.join(FILE_NAME), |n| versions::path(folder, n))
}

pub(crate) async fn watch(folder: PathBuf, pin: Pin, mut chosen: Option<u32>, served: Arc<Served>) {
    let mut seen = stamp(&file_of(&folder, chosen));
    loop {
        tokio::time::sleep(POLL).await;
        let now_chosen = pin.read(chosen);
        let path = file_of(&folder, now_chosen);
        let now = stamp(&path);
        if (now_chosen, now) == (chosen, seen) || now.is_none() {
            continue;
        }
        (chosen, seen) = (now_chosen, now);
        match versions::load(&folder, now_chosen) {
            Ok(model) => {
                let version = model.version;
                served.replace(model);
                served.metrics.reloaded(true);
                let which = version.map_or_else(String::new, |n| format!(" version {n}"));
                eprintln!("reloaded model {}{which} from {}", served.name, path.display());
            }
            Err(err) => {
                served.metrics.reloaded(false);
                eprintln!(
                    "kept the previous model {}: the new file is not usable: {err}",
                    served.name
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_names_a_version_or_the_current_model_and_garbage_changes_nothing() {
        assert_eq!(parse_pin("3\n"), Some(Some(3)));
        assert_eq!(parse_pin("current"), Some(None));
        assert_eq!(parse_pin(""), None);
        assert_eq!(parse_pin("0"), None);
        assert_eq!(parse_pin("three"), None);
    }
}
