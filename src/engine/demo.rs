//! The built-in demo: project `salary`, the tutorial's data, and its training job.

use super::Engine;
use crate::domain::{JobKind, JobSpec, Source};
use crate::{Error, Result};

const DATA: &[u8] = include_bytes!("../../examples/salary/data/sal.csv");

/// Creates the project and the demo's code folder if missing; returns the training job's spec.
pub fn prepare(engine: &Engine) -> Result<JobSpec> {
    if !engine.store.projects()?.iter().any(|p| p.name == "salary") {
        engine.store.create_project("salary")?;
    }
    let folder = engine.home.root().join("demo").join("salary");
    let data = folder.join("data");
    std::fs::create_dir_all(&data).map_err(Error::at(&data, "cannot create"))?;
    std::fs::write(data.join("sal.csv"), DATA).map_err(Error::at(&data, "cannot write to"))?;
    let command = ["mlbench", "train", "-i", "data/sal.csv", "-o", "/storage/salary"];
    Ok(JobSpec {
        kind: JobKind::Training,
        deployment: None,
        storage_read_only: false,
        project: "salary".into(),
        machine: engine.config.default_machine.clone(),
        image: super::jobs::default_image(engine),
        build_dockerfile: None,
        source: Source::Folder { path: folder },
        command: command.iter().map(std::string::ToString::to_string).collect(),
        env: vec![],
        ports: vec![],
    })
}
