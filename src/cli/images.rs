//! `mlbench images`: list, build, pull, build-runtime. These need a Docker Engine.

use std::io::Write;

use super::table;
use crate::domain::Source;
use crate::engine::Engine;
use crate::runtime::DockerRuntime;
use crate::{Error, Result, workspace};

async fn docker() -> Result<DockerRuntime> {
    DockerRuntime::connect(None).await.map_err(|err| {
        Error::Docker(format!(
            "no engine answered at {} ({err}): images need a Docker Engine",
            DockerRuntime::address()
        ))
    })
}

pub async fn list(json: bool) -> Result<()> {
    let images = docker().await?.list_images().await?;
    if json {
        return table::print_json(&images);
    }
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<Vec<String>> = images
        .iter()
        .map(|i| {
            vec![
                if i.tags.is_empty() {
                    "<none>".into()
                } else {
                    i.tags.join(", ")
                },
                i.id.clone(),
                format!("{:.1} MB", i.size_bytes as f64 / 1e6),
                format!("{} ago", crate::timefmt::short_duration(now - i.created_unix)),
            ]
        })
        .collect();
    table::print(&["IMAGE", "ID", "SIZE", "CREATED"], &rows);
    Ok(())
}

pub async fn build(
    engine: &Engine,
    repo: &str,
    reference: Option<String>,
    dockerfile: &str,
    tag: &str,
) -> Result<()> {
    let docker = docker().await?;
    let staging_root = engine.home.staging_dir();
    std::fs::create_dir_all(&staging_root).map_err(Error::at(&staging_root, "cannot create"))?;
    let context = tempfile::Builder::new()
        .prefix("build-")
        .tempdir_in(&staging_root)
        .map_err(Error::at(&staging_root, "cannot create a folder in"))?;
    let dest = context.path().join("context");
    let rules = workspace::FolderRules {
        skip: vec![engine.home.root().to_path_buf()],
        max_bytes: None,
    };
    workspace::prepare(&Source::parse(repo, reference), &dest, &rules)?;
    let mut out = std::io::stdout().lock();
    docker
        .build(&dest, dockerfile, tag, &Default::default(), |line| {
            let _ = writeln!(out, "{line}");
        })
        .await?;
    println!("built {tag}");
    Ok(())
}

pub async fn pull(name: &str) -> Result<()> {
    let docker = docker().await?;
    docker.pull(name, |line| eprintln!("{line}")).await?;
    println!("pulled {name}");
    Ok(())
}

pub async fn build_runtime(force: bool) -> Result<()> {
    let docker = docker().await?;
    let (tag, built) = docker
        .ensure_runtime_image(force, |line| eprintln!("{line}"))
        .await?;
    if built {
        println!("built {tag}");
    } else {
        println!("{tag} is up to date (it holds this mlbench binary)");
    }
    Ok(())
}
