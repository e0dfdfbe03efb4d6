//! Picks up a replaced model file (a new training run) while requests go on: the new model is
//! loaded beside the old one and swapped in whole; a broken file keeps the old model serving.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::Served;
use crate::ml::model::ModelFile;

const POLL: Duration = Duration::from_millis(500);

/// Identifies one version of the file: the trainer renames a new file over the old one.
fn version(path: &PathBuf) -> Option<(u64, i64, i64, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.ino(), m.mtime(), m.mtime_nsec(), m.len()))
}

pub async fn watch(path: PathBuf, served: Arc<Served>) {
    let mut seen = version(&path);
    loop {
        tokio::time::sleep(POLL).await;
        let now = version(&path);
        if now == seen || now.is_none() {
            continue;
        }
        seen = now;
        match ModelFile::load(&path) {
            Ok(model) => {
                served.replace(model);
                served.metrics.reloaded(true);
                eprintln!("reloaded model {} from {}", served.name, path.display());
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
