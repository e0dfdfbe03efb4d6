//! `mlbench storage ls|get`: a project's persistent /storage from the host.

use std::path::PathBuf;

use mlbench_engine::Engine;
use mlbench_engine::projects::storage;

use super::table;
use crate::Result;

pub(crate) async fn ls(engine: &Engine, project: &str, on: &str, path: Option<&str>) -> Result<()> {
    let rows: Vec<Vec<String>> = storage::list(engine, project, on, path)
        .await?
        .into_iter()
        .map(|e| {
            let path = match (&e.link, e.special) {
                (Some(target), _) => format!("{} -> {} (link, not followed)", e.path, target.display()),
                (None, Some(what)) => format!("{} ({what}, not read)", e.path),
                (None, None) => e.path,
            };
            let modified = e
                .modified
                .map(|m| m.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default();
            vec![path, e.bytes.to_string(), modified]
        })
        .collect();
    table::print(&["PATH", "BYTES", "MODIFIED (UTC)"], &rows);
    Ok(())
}

pub(crate) async fn get(
    engine: &Engine,
    project: &str,
    on: &str,
    path: &str,
    output: Option<PathBuf>,
) -> Result<()> {
    let (dest, skipped) = storage::get(engine, project, on, path, output).await?;
    for (path, why) in skipped {
        eprintln!(
            "mlbench: left out {}: {why}",
            super::shown::err(&path.display().to_string())
        );
    }
    println!("{}", dest.display());
    Ok(())
}
