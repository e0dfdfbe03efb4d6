//! `mlbench train`, `metrics` and `plot`.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::table;
use crate::engine::Engine;
use crate::ml::csvscan;
use crate::ml::model::{self, Model, ModelFile};
use crate::ml::train::{ModelKind, TrainOptions};
use crate::plot::{FitChart, write_png};
use crate::{Error, Result};

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Linear,
    Tree,
}

#[derive(Args)]
pub(crate) struct TrainArgs {
    /// The data set (CSV with a header row).
    #[arg(short, long)]
    input: PathBuf,
    /// Folder for model.json (created if missing).
    #[arg(short, long)]
    output: PathBuf,
    #[arg(long, value_enum, default_value = "linear")]
    model: Kind,
    /// Feature columns, comma-separated (default: every column but the target).
    #[arg(long, value_delimiter = ',')]
    x: Vec<String>,
    /// Target column (default: `y`, else the last column).
    #[arg(long)]
    y: Option<String>,
    /// Columns to leave out, comma-separated.
    #[arg(long, value_delimiter = ',')]
    drop: Vec<String>,
    /// Share of rows held out to score the model (0 trains and scores on every row).
    #[arg(long, default_value_t = 0.25)]
    test_size: f64,
    #[arg(long, default_value_t = 10)]
    seed: u64,
    /// Deepest level of a decision tree.
    #[arg(long)]
    max_depth: Option<usize>,
}

pub fn train(args: TrainArgs) -> Result<()> {
    let options = TrainOptions {
        input: args.input,
        output: args.output,
        kind: match args.model {
            Kind::Linear => ModelKind::Linear,
            Kind::Tree => ModelKind::Tree,
        },
        features: args.x,
        target: args.y,
        drop: args.drop,
        test_fraction: args.test_size,
        seed: args.seed,
        max_depth: args.max_depth,
    };
    let report = crate::ml::train::train(&options)?;
    for line in &report.lines {
        println!("{line}");
    }
    println!("{}{}", MODEL_LINE, report.model_path.display());
    Ok(())
}

/// How the trainer says where the model went; `plot` finds it in the job's log by this.
const MODEL_LINE: &str = "Model written to ";

pub fn metrics(engine: &Engine, job: i64, json: bool) -> Result<()> {
    engine.store.job(job)?;
    let summaries = engine.store.metric_summaries(job)?;
    if json {
        return table::print_json(&summaries);
    }
    let rows: Vec<Vec<String>> = summaries
        .iter()
        .map(|m| {
            vec![
                m.key.clone(),
                fmt(m.last),
                fmt(m.min),
                fmt(m.max),
                m.count.to_string(),
            ]
        })
        .collect();
    table::print(&["METRIC", "LAST", "MIN", "MAX", "COUNT"], &rows);
    Ok(())
}

fn fmt(v: f64) -> String {
    format!("{v:.6}")
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_string()
}

#[derive(Args)]
pub(crate) struct PlotArgs {
    job: i64,
    /// Where to write the PNG.
    #[arg(short, long)]
    output: PathBuf,
    /// The data set to draw (default: the one the model was trained on).
    #[arg(long)]
    data: Option<PathBuf>,
    /// The model file (default: the one the job's trainer wrote).
    #[arg(long)]
    model: Option<PathBuf>,
}

/// Maps a path as a job saw it (`/storage/...`, or relative to /workspace) to this machine.
fn host_path(engine: &Engine, job: &crate::store::JobRecord, seen: &str) -> PathBuf {
    let seen = Path::new(seen);
    if let Ok(rest) = seen.strip_prefix("/storage") {
        return engine.home.storage_dir(&job.spec.project).join(rest);
    }
    if let Ok(rest) = seen.strip_prefix("/workspace") {
        return engine.home.job_workspace(job.id).join(rest);
    }
    // A local-process job ran with its real paths; a relative one is inside its workspace.
    if seen.is_absolute() {
        seen.to_path_buf()
    } else {
        engine.home.job_workspace(job.id).join(seen)
    }
}

/// The model file the job's trainer reported, from the job's log.
fn model_of_job(engine: &Engine, job: &crate::store::JobRecord) -> Result<Option<PathBuf>> {
    let path = engine.home.job_log(job.id);
    let Ok(text) = std::fs::read(&path) else {
        return Ok(None);
    };
    let found = text.split(|b| *b == b'\n').rev().find_map(|line| {
        let record = crate::store::logfile::parse_record(line)?;
        let text = std::str::from_utf8(record.text).ok()?;
        text.strip_prefix(MODEL_LINE).map(str::to_string)
    });
    Ok(found.map(|seen| host_path(engine, job, &seen)))
}

pub fn plot(engine: &Engine, args: PlotArgs) -> Result<()> {
    let job = engine.store.job(args.job)?;
    let model_path = match args.model {
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
    let data = match (args.data, trained_on) {
        (Some(path), _) => path,
        (None, Some(seen)) => host_path(engine, &job, &seen),
        (None, None) => {
            return Err(Error::Invalid(format!(
                "job {} has no model file: name the data set with --data",
                job.id
            )));
        }
    };
    let points = sample_points(&data, &x_name, &y_name)?;
    let chart = FitChart {
        x_name: &x_name,
        y_name: &y_name,
        intercept,
        slope,
        points: &points,
    };
    write_png(&chart, &args.output)?;
    println!("{}", args.output.display());
    Ok(())
}

/// At most this many points are drawn; a larger data set is sampled evenly.
const MAX_POINTS: usize = 5_000;

fn sample_points(path: &Path, x_name: &str, y_name: &str) -> Result<Vec<(f64, f64)>> {
    let header = csvscan::read_header(path)?;
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
