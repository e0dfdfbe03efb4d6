//! What a fit chart draws for a job: the line (from its model file, or from the Intercept and
//! Slope metrics a user's script printed) and the data points. Used by `mlbench plot` and the
//! workbench's chart.

use std::path::{Path, PathBuf};

use mlbench_ml::csvscan;
use mlbench_ml::model::{self, Model, ModelFile};
use mlbench_ml::train::MODEL_LINE;
use mlbench_store::JobRecord;

use crate::{Engine, Error, Result};

struct FitSource {
    x_name: String,
    y_name: String,
    intercept: f64,
    slope: f64,
    data: PathBuf,
    /// Where the data set's name came from, for saying what was used.
    data_from: &'static str,
}

/// Maps a path as a job saw it (`/storage/...`, or relative to /workspace) to this machine.
/// The job wrote both places and may have left links there: a path that resolves outside its
/// storage or workspace is refused.
fn host_path(engine: &Engine, job: &JobRecord, seen: &str) -> Result<PathBuf> {
    let seen = Path::new(seen);
    let storage = engine.home.storage_dir(&job.spec.project);
    let in_workspace = |relative: &Path| {
        let (path, root) = crate::jobs::workspaces::host_file(&engine.home, job, relative);
        (root, path, format!("the workspace of job {}", job.id))
    };
    let (root, path, place) = if let Ok(rest) = seen.strip_prefix("/storage") {
        (
            storage.clone(),
            storage.join(rest),
            format!("the /storage of project {}", job.spec.project),
        )
    } else if let Ok(rest) = seen.strip_prefix("/workspace") {
        in_workspace(rest)
    } else if seen.is_absolute() {
        // A local-process job ran with its real paths.
        return Ok(seen.to_path_buf());
    } else {
        in_workspace(seen)
    };
    crate::projects::storage::confined(&root, &path, &place)
}

/// The model file the job's trainer reported, from the job's log.
pub(crate) fn model_of_job(engine: &Engine, job: &JobRecord) -> Result<Option<PathBuf>> {
    let path = engine.home.job_log(job.id);
    let Ok(text) = std::fs::read(&path) else {
        return Ok(None);
    };
    let found = text.split(|b| *b == b'\n').rev().find_map(|line| {
        let record = mlbench_store::logfile::parse_record(line)?;
        let text = std::str::from_utf8(record.text).ok()?;
        text.strip_prefix(MODEL_LINE).map(str::to_string)
    });
    found.map(|seen| host_path(engine, job, &seen)).transpose()
}

/// The line and the data set to draw for a job; `model` and `data` override what the job says.
fn fit_source(engine: &Engine, job: i64, model: Option<PathBuf>, data: Option<PathBuf>) -> Result<FitSource> {
    let job = engine.store.job(job)?;
    let model_path = match model {
        Some(path) => Some(path),
        None => model_of_job(engine, &job)?,
    };
    let model = model_path.as_deref().map(ModelFile::load).transpose()?;
    let (intercept, slope, x_name, y_name, trained_on) = match &model {
        Some(m) => match &m.model {
            Model::Linear {
                intercept,
                coefficients,
            } => (
                *intercept,
                coefficients[0],
                m.features[0].clone(),
                m.target.clone(),
                Some(m.data.path.clone()),
            ),
            Model::Tree { .. } => {
                return Err(Error::Invalid(format!(
                    "job {} trained a decision tree: the fit chart is for linear models",
                    job.id
                )));
            }
        },
        None => {
            // A user's own script: the line comes from its metrics.
            let metrics = engine.store.metric_summaries(job.id)?;
            let value = |key: &str| {
                metrics
                    .iter()
                    .find(|m| m.key.eq_ignore_ascii_case(key))
                    .map(|m| m.last)
            };
            let (Some(intercept), Some(slope)) = (value("Intercept"), value("Slope")) else {
                return Err(Error::Invalid(format!(
                    "job {} wrote no {} and printed no `Intercept :` and `Slope :` metrics: nothing to draw",
                    job.id,
                    model::FILE_NAME
                )));
            };
            (intercept, slope, "x".to_string(), "y".to_string(), None)
        }
    };
    let (data, data_from) = match (data, trained_on) {
        (Some(path), _) => (given_data(engine, &job, path)?, "--data"),
        (None, Some(seen)) => (host_path(engine, &job, &seen)?, "the model file"),
        (None, None) => match data_in_command(&job.spec.command) {
            Some(seen) => (host_path(engine, &job, &seen)?, "the job's command"),
            None => {
                return Err(Error::Invalid(format!(
                    "job {} wrote no model file and its command names no .csv data set: name the data set with --data",
                    job.id
                )));
            }
        },
    };
    Ok(FitSource {
        x_name,
        y_name,
        intercept,
        slope,
        data,
        data_from,
    })
}

/// `--data` as given: a relative path that is not here is looked up in the job's workspace,
/// where the job saw it.
fn given_data(engine: &Engine, job: &JobRecord, path: PathBuf) -> Result<PathBuf> {
    if path.is_absolute() || path.exists() {
        return Ok(path);
    }
    host_path(engine, job, &path.to_string_lossy())
}

/// The data set a job's command names: the value of `-i`/`--input`, or else its first
/// argument ending in `.csv`.
fn data_in_command(command: &[String]) -> Option<String> {
    let flagged = command
        .iter()
        .enumerate()
        .find_map(|(i, arg)| match arg.as_str() {
            "-i" | "--input" => command.get(i + 1).cloned(),
            _ => arg.strip_prefix("--input=").map(str::to_string),
        });
    flagged.or_else(|| {
        // A shell command line is one argument: look at its words too.
        command
            .iter()
            .flat_map(|arg| arg.split_whitespace())
            .map(|word| word.trim_matches(['"', '\'']))
            .find(|word| word.to_ascii_lowercase().ends_with(".csv"))
            .map(str::to_string)
    })
}

/// A job's fit as a chart draws it: the line and (a sample of) the data.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub job: i64,
    pub x_name: String,
    pub y_name: String,
    pub intercept: f64,
    pub slope: f64,
    pub points: Vec<(f64, f64)>,
    /// The data set drawn, and where its name came from (`--data`, the model file, the job's
    /// command).
    pub data: PathBuf,
    pub data_from: &'static str,
}

impl Fit {
    /// The job's fit; `model` and `data` override what the job says.
    pub fn load(engine: &Engine, job: i64, model: Option<PathBuf>, data: Option<PathBuf>) -> Result<Fit> {
        let source = fit_source(engine, job, model, data)?;
        let points = sample_points(&source.data, &source.x_name, &source.y_name)?;
        Ok(Fit {
            job,
            x_name: source.x_name,
            y_name: source.y_name,
            intercept: source.intercept,
            slope: source.slope,
            points,
            data: source.data,
            data_from: source.data_from,
        })
    }

    /// Writes the chart as PNG with the trainer's plotting code.
    pub fn write_png(&self, path: &Path) -> Result<()> {
        let chart = mlbench_plot::FitChart {
            x_name: &self.x_name,
            y_name: &self.y_name,
            intercept: self.intercept,
            slope: self.slope,
            points: &self.points,
        };
        Ok(mlbench_plot::write_png(&chart, path)?)
    }
}

/// At most this many points are drawn; a larger data set is sampled evenly.
const MAX_POINTS: usize = 5_000;

fn sample_points(path: &Path, x_name: &str, y_name: &str) -> Result<Vec<(f64, f64)>> {
    let header = csvscan::read_header(path).map_err(|e| match e {
        mlbench_ml::Error::NotFound(why) => Error::NotFound(format!("{why}: name the data set with --data")),
        other => other.into(),
    })?;
    let (x, y) = (header.column(path, x_name)?, header.column(path, y_name)?);
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_path(path)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    let mut points = Vec::new();
    let mut stride = 1usize;
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        if i % stride != 0 {
            continue;
        }
        let value = |c: usize| {
            record
                .get(c)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite())
        };
        if let (Some(a), Some(b)) = (value(x), value(y)) {
            points.push((a, b));
        }
        if points.len() == 2 * MAX_POINTS {
            // Keep every other point and halve how often new ones are taken.
            points = points.into_iter().step_by(2).collect();
            stride *= 2;
        }
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(command: &[&str]) -> Vec<String> {
        command.iter().map(|w| (*w).to_string()).collect()
    }

    #[test]
    fn the_data_set_is_read_off_the_command() {
        assert_eq!(
            data_in_command(&words(&[
                "python",
                "train/train.py",
                "-i",
                "./data/sal.csv",
                "-o",
                "/storage/salary"
            ])),
            Some("./data/sal.csv".into())
        );
        assert_eq!(
            data_in_command(&words(&["python", "t.py", "--input=d.csv"])),
            Some("d.csv".into())
        );
        assert_eq!(
            data_in_command(&words(&["sh", "-c", "python fit.py 'data/Sal.CSV' > out"])),
            Some("data/Sal.CSV".into())
        );
        assert_eq!(data_in_command(&words(&["python", "fit.py"])), None);
    }
}
