//! `mlbench images`: list, build, pull, build-runtime. These need a Docker Engine.

use std::io::Write;

use mlbench_domain::{FromIo, Source};
use mlbench_engine::Engine;
use mlbench_engine::jobs::sources;
use mlbench_runtime::DockerRuntime;

use super::table;
use crate::{Error, Result};

/// The engine called `name`: the local one (`DOCKER_HOST`), or one the config names.
async fn docker(engine: &Engine, name: &str) -> Result<DockerRuntime> {
    if name != mlbench_domain::LOCAL_ENGINE {
        return mlbench_engine::engines::connect(engine, name).await;
    }
    DockerRuntime::connect(None).await.map_err(|err| {
        Error::Runtime(mlbench_runtime::Error::Docker(format!(
            "no engine answered at {} ({err}): images need a Docker Engine",
            DockerRuntime::address()
        )))
    })
}

pub(crate) async fn list(engine: &Engine, on: &str, json: bool) -> Result<()> {
    let images = docker(engine, on).await?.list_images().await?;
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
                format!(
                    "{} ago",
                    mlbench_domain::timefmt::short_duration(now - i.created_unix)
                ),
            ]
        })
        .collect();
    table::print(&["IMAGE", "ID", "SIZE", "CREATED"], &rows);
    Ok(())
}

pub(crate) async fn build(
    engine: &Engine,
    on: &str,
    repo: &str,
    reference: Option<String>,
    dockerfile: &str,
    tag: &str,
) -> Result<()> {
    let docker = docker(engine, on).await?;
    let staging_root = engine.home.staging_dir();
    std::fs::create_dir_all(&staging_root).map_err(Error::at(&staging_root, "cannot create"))?;
    let context = tempfile::Builder::new()
        .prefix("build-")
        .tempdir_in(&staging_root)
        .map_err(Error::at(&staging_root, "cannot create a folder in"))?;
    let dest = context.path().join("context");
    let rules = sources::FolderRules {
        skip: vec![engine.home.root().to_path_buf()],
        max_bytes: None,
    };
    sources::prepare(&Source::parse(repo, reference), &dest, &rules)?;
    let mut out = std::io::stdout().lock();
    docker
        .build(&dest, dockerfile, tag, &Default::default(), &mut |line| {
            let _ = writeln!(out, "{line}");
        })
        .await?;
    println!("built {tag}");
    Ok(())
}

pub(crate) async fn pull(engine: &Engine, on: &str, name: &str) -> Result<()> {
    let docker = docker(engine, on).await?;
    docker.pull(name, &mut |line| eprintln!("{line}")).await?;
    println!("pulled {name}");
    Ok(())
}

pub(crate) async fn build_runtime(engine: &Engine, on: &str, force: bool) -> Result<()> {
    let docker = docker(engine, on).await?;
    let (tag, built) = docker
        .ensure_runtime_image(force, &mut |line| eprintln!("{line}"))
        .await?;
    if built {
        println!("built {tag}");
    } else {
        println!("{tag} is up to date (it holds this mlbench binary)");
    }
    Ok(())
}
