//! The built-in demos: `salary` (the train → deploy tutorial: its data and one training job
//! of the built-in trainer) and `iris` (the tree trainer swept over `max_depth`).

use mlbench_domain::sweep::{Goal, Space};
use mlbench_domain::{FromIo, JobKind, JobSpec, Source};

use crate::experiments::sweeps::SweepRequest;
use crate::jobs::{ImageSource, JobRequest};
use crate::{Engine, Error, Result};

const SALARY_DATA: &[u8] = include_bytes!("../../../../examples/salary/data/sal.csv");
const IRIS_DATA: &[u8] = include_bytes!("../../../../data/iris.csv");

/// Creates `project` if missing and writes the demo's code folder: `data/<file>` holding
/// `data`. Returns the folder.
fn prepare_folder(engine: &Engine, project: &str, file: &str, data: &[u8]) -> Result<std::path::PathBuf> {
    if !engine.store.projects()?.iter().any(|p| p.name == project) {
        engine.store.create_project(project)?;
    }
    let folder = engine.home.root().join("demo").join(project);
    let data_dir = folder.join("data");
    std::fs::create_dir_all(&data_dir).map_err(Error::at(&data_dir, "cannot create"))?;
    std::fs::write(data_dir.join(file), data).map_err(Error::at(&data_dir, "cannot write to"))?;
    Ok(folder)
}

/// Creates the project and the demo's code folder if missing; returns the training job's spec.
pub fn prepare(engine: &Engine) -> Result<JobSpec> {
    let folder = prepare_folder(engine, "salary", "sal.csv", SALARY_DATA)?;
    let command = ["mlbench", "train", "-i", "data/sal.csv", "-o", "/storage/salary"];
    Ok(JobSpec {
        kind: JobKind::Training,
        deployment: None,
        storage_read_only: false,
        project: "salary".into(),
        machine: engine.config.default_machine.clone(),
        image: crate::jobs::default_image(engine),
        build_dockerfile: None,
        source: Source::Folder { path: folder },
        command: command.iter().map(std::string::ToString::to_string).collect(),
        env: vec![],
        ports: vec![],
        placement: Vec::new(),
        engine: mlbench_domain::LOCAL_ENGINE.into(),
    })
}

/// The iris demo: project `iris` and its data; returns the sweep of the tree trainer over
/// `max_depth=1..6`, maximizing `Accuracy`.
pub fn prepare_iris(engine: &Engine) -> Result<SweepRequest> {
    let folder = prepare_folder(engine, "iris", "iris.csv", IRIS_DATA)?;
    let command = [
        "mlbench",
        "train",
        "-i",
        "data/iris.csv",
        // The data's first column numbers its rows, which are sorted by species: a tree
        // that may split on it learns the row order, not the flowers.
        "--drop",
        "Id",
        "-o",
        "/storage/iris/depth-{max_depth}",
        "--model",
        "tree",
        "--max-depth",
        "{max_depth}",
    ];
    Ok(SweepRequest {
        job: JobRequest {
            project: "iris".into(),
            machine: None,
            image: ImageSource::Default,
            repo: folder.to_string_lossy().into_owned(),
            reference: None,
            command: command.iter().map(std::string::ToString::to_string).collect(),
            env: vec![],
            ports: vec![],
            placement: Vec::new(),
            engine: mlbench_domain::LOCAL_ENGINE.into(),
            force: false,
        },
        space: Space::Grid {
            axes: vec!["max_depth=1..6".parse()?],
        },
        metric: "Accuracy".into(),
        goal: Goal::Maximize,
        parallel: None,
        early_stop: None,
    })
}
