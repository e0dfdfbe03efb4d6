//! What a fit chart draws for a job: the line (from its model file, or from the Intercept and
//! Slope metrics a user's script printed) and the data points. Used by `mlbench plot` and the
//! workbench's chart.

use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use mlbench_domain::FromIo;
use mlbench_domain::numfmt::{compact, human_bytes};
use mlbench_ml::model::{self, Model, ModelFile, Prediction};
use mlbench_ml::train::parse_model_line;
use mlbench_ml::{csvscan, versions};
use mlbench_store::JobRecord;

use futures_util::future::LocalBoxFuture;

use crate::beneath::{Beneath, Cap};
use crate::projects::files::{STORAGE_MOUNT, StorageFiles};
use crate::{Engine, Error, Result};

/// A file a job saw, as this machine reaches it.
pub(crate) struct SeenFile {
    pub(crate) path: PathBuf,
    within: Within,
}

/// Where a file a job saw is read from.
enum Within {
    /// A path of the user's own, outside anything a job writes (`--data`, a local-process
    /// job's).
    Mine,
    /// The folder the job could write that holds it (its storage or workspace), read without
    /// following a link.
    Folder(Beneath),
    /// A remote job's storage: its bytes, fetched through the engine.
    Fetched(Vec<u8>),
}

/// A file as read: from disk, or from memory.
trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

/// The most of a data set a chart reads: it samples rows but reads every one for the means.
const DATA_FILE: Cap = Cap {
    bytes: 4 << 30,
    what: "a data set to chart (chart a sample with --data)",
};

const MODEL_FILE: Cap = Cap {
    bytes: ModelFile::MAX_BYTES,
    what: "a model file",
};

impl SeenFile {
    /// A path of the user's own, outside anything a job writes.
    fn mine(path: PathBuf) -> SeenFile {
        SeenFile {
            path,
            within: Within::Mine,
        }
    }

    /// The regular file, refused above `cap`.
    fn open(&self, cap: Cap) -> Result<Box<dyn ReadSeek + '_>> {
        match &self.within {
            Within::Folder(folder) => return Ok(Box::new(folder.open_file(&self.path, cap)?.0)),
            Within::Fetched(bytes) => return Ok(Box::new(std::io::Cursor::new(bytes.as_slice()))),
            Within::Mine => {}
        }
        // Checked before the open: opening a FIFO waits for a writer.
        let meta = std::fs::metadata(&self.path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound(format!("{}: no such file", self.path.display())),
            _ => Error::io(format!("cannot read {}", self.path.display()), e),
        })?;
        if !meta.is_file() || meta.len() > cap.bytes {
            return Err(Error::Invalid(format!(
                "{} is not a regular file of at most {}: mlbench reads only those as {}",
                self.path.display(),
                human_bytes(cap.bytes),
                cap.what
            )));
        }
        Ok(Box::new(
            File::open(&self.path).map_err(Error::at(&self.path, "cannot read"))?,
        ))
    }

    fn model(&self) -> Result<ModelFile> {
        let mut bytes = Vec::new();
        self.open(MODEL_FILE)?
            .take(MODEL_FILE.bytes)
            .read_to_end(&mut bytes)
            .map_err(Error::at(&self.path, "cannot read the model file"))?;
        Ok(ModelFile::parse(bytes, &self.path)?)
    }
}

/// Maps a path as a job saw it (`/storage/...`, or relative to /workspace) to this machine.
/// The job wrote both places and may have left links or special files there: the file is
/// reached without following any. A remote job's storage is read through its engine (up to
/// `cap`); its workspace is the code it was sent, whose snapshot is here.
async fn seen_file(engine: &Engine, job: &JobRecord, seen: &str, cap: Cap) -> Result<SeenFile> {
    let seen = Path::new(seen);
    if job.engine != mlbench_domain::LOCAL_ENGINE && seen.starts_with(STORAGE_MOUNT) {
        let folder = seen.parent().unwrap_or(Path::new(STORAGE_MOUNT));
        let storage = StorageFiles::open(engine, &job.spec.project, &job.engine, Some(folder), true).await?;
        return Ok(SeenFile {
            path: seen.to_path_buf(),
            within: Within::Fetched(storage.read(seen, cap)?),
        });
    }
    let (root, path, place) = if let Ok(rest) = seen.strip_prefix("/storage") {
        let storage = engine.home.storage_dir(&job.spec.project);
        (
            storage.clone(),
            storage.join(rest),
            format!("the /storage of project {}", job.spec.project),
        )
    } else if seen.is_absolute() && seen.strip_prefix("/workspace").is_err() {
        // A local-process job ran with its real paths.
        return Ok(SeenFile::mine(seen.to_path_buf()));
    } else {
        let relative = seen.strip_prefix("/workspace").unwrap_or(seen);
        let (path, root) = crate::jobs::workspaces::host_file(&engine.home, job, relative);
        (root, path, format!("the workspace of job {}", job.id))
    };
    Ok(SeenFile {
        path,
        within: Within::Folder(Beneath::open(&root, place)?),
    })
}

/// The model a job's trainer reported in its log, as the job saw it: the path of
/// `model.json` and the version it was kept as (none from a trainer older than versions).
fn reported_model(engine: &Engine, job: &JobRecord) -> Option<(PathBuf, Option<u32>)> {
    let text = std::fs::read(engine.home.job_log(job.id)).ok()?;
    text.split(|b| *b == b'\n').rev().find_map(|line| {
        let record = mlbench_store::logfile::parse_record(line)?;
        parse_model_line(std::str::from_utf8(record.text).ok()?)
    })
}

/// The folder under /storage of the `model.json` a job's trainer wrote (`salary`, as the job
/// saw `/storage/salary/model.json`); none when it wrote none there.
pub(crate) fn model_of_job(engine: &Engine, job: &JobRecord) -> Option<String> {
    let (seen, _) = reported_model(engine, job)?;
    let dir = seen.parent()?;
    // A local-process job saw its storage's real folder.
    let folder = dir
        .strip_prefix(STORAGE_MOUNT)
        .or_else(|_| dir.strip_prefix(engine.home.storage_dir(&job.spec.project)))
        .ok()?;
    Some(folder.display().to_string()).filter(|f| !f.is_empty())
}

/// The model version a job wrote, and its number: not whatever `model.json` is now, since a
/// later job may have trained into the same folder.
async fn written_model(engine: &Engine, job: &JobRecord) -> Result<Option<(SeenFile, Option<u32>)>> {
    let Some((seen, version)) = reported_model(engine, job) else {
        return Ok(None);
    };
    let seen = match (version, seen.parent()) {
        (Some(n), Some(dir)) => versions::path(dir, n),
        _ => seen,
    };
    Ok(Some((
        seen_file(engine, job, &seen.to_string_lossy(), MODEL_FILE).await?,
        version,
    )))
}

/// What the chart shows: one feature's partial dependence, or actual against predicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitView {
    Feature(usize),
    ActualVsPredicted,
}

/// How the model predicts; a user's script that printed `Intercept` and `Slope` is a linear
/// model of one feature.
#[derive(Debug, Clone, PartialEq)]
enum Predictor {
    Linear { intercept: f64, coefficients: Vec<f64> },
    Tree(Box<ModelFile>),
}

impl Predictor {
    fn predict(&self, row: &[f64]) -> f64 {
        match self {
            Predictor::Linear {
                intercept,
                coefficients,
            } => model::linear(*intercept, coefficients, row),
            Predictor::Tree(model) => match (&model.model, model.predict(row)) {
                (Model::Tree { classes, .. }, Ok(Prediction::Class(class))) => classes
                    .iter()
                    .position(|c| *c == class)
                    .map_or(f64::NAN, |i| i as f64),
                _ => f64::NAN,
            },
        }
    }
}

/// What is drawn of a model: how it predicts, from which columns.
struct Drawn {
    predictor: Predictor,
    features: Vec<String>,
    target: String,
    classes: Option<Vec<String>>,
}

impl Drawn {
    fn from_model(model: ModelFile) -> Drawn {
        let (features, target) = (model.features.clone(), model.target.clone());
        match model.model {
            Model::Linear {
                intercept,
                coefficients,
            } => Drawn {
                predictor: Predictor::Linear {
                    intercept,
                    coefficients,
                },
                features,
                target,
                classes: None,
            },
            Model::Tree { ref classes, .. } => Drawn {
                classes: Some(classes.clone()),
                predictor: Predictor::Tree(Box::new(model)),
                features,
                target,
            },
        }
    }
}

/// A job's model and (a sample of) its data, from which each view is drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub job: i64,
    /// The model version drawn: the one the job wrote.
    pub version: Option<u32>,
    pub features: Vec<String>,
    pub target: String,
    /// A tree's classes: its target values, drawn at 0, 1, 2, …
    pub classes: Option<Vec<String>>,
    predictor: Predictor,
    /// Sampled rows: feature values in `features` order, and the actual target (a class's
    /// position for a tree).
    rows: Vec<Vec<f64>>,
    actual: Vec<f64>,
    /// Each feature's mean over every row of the data, where partial dependence holds it.
    means: Vec<f64>,
    /// The data set drawn, and where its name came from (`--data`, the model file, the job's
    /// command).
    pub data: PathBuf,
    pub data_from: &'static str,
}

/// One view of a fit, ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct FitPicture {
    pub title: String,
    pub x_name: String,
    pub y_name: String,
    pub points: Vec<(f64, f64)>,
    /// What the line is, for the legend.
    pub line_name: &'static str,
    pub x_classes: Option<Vec<String>>,
    pub y_classes: Option<Vec<String>>,
}

impl Fit {
    /// The job's fit; `model` and `data` override what the job says. A remote job's files are
    /// read through its engine.
    pub fn load(
        engine: &Engine,
        job: i64,
        model: Option<PathBuf>,
        data: Option<PathBuf>,
    ) -> LocalBoxFuture<'_, Result<Fit>> {
        Box::pin(async move {
            let job = engine.store.job(job)?;
            let (model_file, version) = match model {
                Some(path) => (Some(SeenFile::mine(path)), None),
                None => match written_model(engine, &job).await? {
                    Some((file, version)) => (Some(file), version),
                    None => (None, None),
                },
            };
            let model = model_file.as_ref().map(SeenFile::model).transpose()?;
            let trained_on = model.as_ref().map(|m| m.data.path.clone());
            let drawn = match model {
                Some(model) => Drawn::from_model(model),
                None => {
                    let (intercept, slope) = line_from_metrics(engine, &job)?;
                    Drawn {
                        predictor: Predictor::Linear {
                            intercept,
                            coefficients: vec![slope],
                        },
                        features: vec!["x".to_string()],
                        target: "y".to_string(),
                        classes: None,
                    }
                }
            };
            let (data, data_from) = match (data, trained_on) {
                (Some(path), _) => (given_data(engine, &job, path).await?, "--data"),
                (None, Some(seen)) => (seen_file(engine, &job, &seen, DATA_FILE).await?, "the model file"),
                (None, None) => match data_in_command(&job.spec.command) {
                    Some(seen) => (
                        seen_file(engine, &job, &seen, DATA_FILE).await?,
                        "the job's command",
                    ),
                    None => {
                        return Err(Error::Invalid(format!(
                            "job {} wrote no model file and its command names no .csv data set: name the data set with --data",
                            job.id
                        )));
                    }
                },
            };
            Fit::of(job.id, version, drawn, (data, data_from))
        })
    }

    /// The fit of a model file on a data set, as a job's fit is drawn.
    pub fn of_model(job: i64, model: ModelFile, data: PathBuf) -> Result<Fit> {
        let version = model.version;
        Fit::of(
            job,
            version,
            Drawn::from_model(model),
            (SeenFile::mine(data), "--data"),
        )
    }

    /// The fit of a model on a data set (read here).
    fn of(
        job: i64,
        version: Option<u32>,
        drawn: Drawn,
        (data, data_from): (SeenFile, &'static str),
    ) -> Result<Fit> {
        let sample = sample_rows(&data, &drawn.features, &drawn.target, drawn.classes.as_deref())?;
        let data = data.path;
        Ok(Fit {
            job,
            version,
            features: drawn.features,
            target: drawn.target,
            classes: drawn.classes,
            predictor: drawn.predictor,
            rows: sample.rows,
            actual: sample.actual,
            means: sample.means,
            data,
            data_from,
        })
    }

    /// The view a chart opens on: a linear model's first feature, a tree's actual against
    /// predicted (its classes are not a line over one feature).
    pub fn first_view(&self) -> FitView {
        match self.predictor {
            Predictor::Linear { .. } => FitView::Feature(0),
            Predictor::Tree(_) => FitView::ActualVsPredicted,
        }
    }

    /// The view after `view` as `Tab` steps: each feature in turn, then around.
    pub fn next_feature(&self, view: FitView) -> FitView {
        match view {
            FitView::Feature(i) => FitView::Feature((i + 1) % self.features.len().max(1)),
            FitView::ActualVsPredicted => FitView::Feature(0),
        }
    }

    /// The feature view named `name`, or an error listing the model's features.
    pub fn feature_view(&self, name: &str) -> Result<FitView> {
        self.features
            .iter()
            .position(|f| f == name)
            .map(FitView::Feature)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "the model of job {} has no feature {name:?}: its features are {}",
                    self.job,
                    self.features.join(", ")
                ))
            })
    }

    /// The model's terms as the chart's side lists them: a linear model's intercept and one
    /// slope per feature; nothing for a tree.
    pub fn terms(&self) -> Vec<(String, f64)> {
        match &self.predictor {
            Predictor::Linear {
                intercept,
                coefficients,
            } => std::iter::once(("intercept".to_string(), *intercept))
                .chain(
                    self.features
                        .iter()
                        .zip(coefficients)
                        .map(|(f, c)| (format!("slope[{f}]"), *c)),
                )
                .collect(),
            Predictor::Tree(_) => Vec::new(),
        }
    }

    /// What `view` draws: its title, axes and points. The line comes from `line`.
    pub fn picture(&self, view: FitView) -> FitPicture {
        match view {
            FitView::Feature(i) => {
                let i = i.min(self.features.len().saturating_sub(1));
                let points = self
                    .rows
                    .iter()
                    .zip(&self.actual)
                    .map(|(row, &y)| (row[i], y))
                    .collect();
                FitPicture {
                    title: self.feature_title(i),
                    x_name: self.features[i].clone(),
                    y_name: self.target.clone(),
                    points,
                    line_name: if self.features.len() == 1 {
                        "fit"
                    } else {
                        "partial dependence"
                    },
                    x_classes: None,
                    y_classes: self.classes.clone(),
                }
            }
            FitView::ActualVsPredicted => {
                // Predicted once: the title is scored on the same pairs that are drawn.
                let pairs: Vec<(f64, f64)> = self
                    .rows
                    .iter()
                    .zip(&self.actual)
                    .map(|(row, &y)| (y, self.predictor.predict(row)))
                    .collect();
                let title = self.actual_vs_predicted_title(&pairs);
                let points: Vec<(f64, f64)> = pairs.into_iter().filter(|(_, p)| p.is_finite()).collect();
                let points = match self.classes {
                    // Many rows share a cell: spread them over it so its size shows.
                    Some(_) => points
                        .iter()
                        .enumerate()
                        .map(|(k, &(a, p))| jitter(k, a, p))
                        .collect(),
                    None => points,
                };
                FitPicture {
                    title,
                    x_name: format!("actual {}", self.target),
                    y_name: format!("predicted {}", self.target),
                    points,
                    line_name: "predicted = actual",
                    x_classes: self.classes.clone(),
                    y_classes: self.classes.clone(),
                }
            }
        }
    }

    /// The line `view` draws across `from..=to` on its x axis: the partial dependence of the
    /// feature (the others held at their means), or the diagonal where predicted = actual.
    pub fn line(&self, view: FitView, from: f64, to: f64) -> Vec<(f64, f64)> {
        match view {
            FitView::ActualVsPredicted => vec![(from, from), (to, to)],
            FitView::Feature(i) => {
                // A straight line needs its ends; a tree's steps need a fine grid.
                let steps = match self.predictor {
                    Predictor::Linear { .. } => 1,
                    Predictor::Tree(_) => 200,
                };
                (0..=steps)
                    .map(|k| {
                        let x = from + (to - from) * f64::from(k) / f64::from(steps);
                        (x, self.partial(i, x))
                    })
                    .collect()
            }
        }
    }

    /// The model's prediction with feature `i` at `x` and every other at its mean.
    fn partial(&self, i: usize, x: f64) -> f64 {
        let mut row = self.means.clone();
        if let Some(slot) = row.get_mut(i) {
            *slot = x;
        }
        self.predictor.predict(&row)
    }

    fn feature_title(&self, i: usize) -> String {
        let others = self.features.len() > 1;
        let held = if others { " (others at means)" } else { "" };
        match &self.predictor {
            Predictor::Linear { coefficients, .. } => {
                // The line's intercept takes in the other terms at their means.
                let at_zero = self.partial(i, 0.0);
                let slope = coefficients[i];
                let sign = if slope < 0.0 { '-' } else { '+' };
                format!(
                    "{} = {} {sign} {}·{}{held}",
                    self.target,
                    compact(at_zero),
                    compact(slope.abs()),
                    self.features[i]
                )
            }
            Predictor::Tree(_) => format!("{} by {}{held}", self.target, self.features[i]),
        }
    }

    /// The title over (actual, predicted) pairs: how many a tree gets right, a line's R².
    fn actual_vs_predicted_title(&self, pairs: &[(f64, f64)]) -> String {
        let n = pairs.len();
        match self.predictor {
            Predictor::Tree(_) => {
                let right = pairs.iter().filter(|(a, p)| a == p).count();
                format!("actual vs predicted · {right} of {n} rows right")
            }
            Predictor::Linear { .. } => {
                let mean = pairs.iter().map(|(a, _)| a).sum::<f64>() / n.max(1) as f64;
                let residual: f64 = pairs.iter().map(|(a, p)| (a - p).powi(2)).sum();
                let total: f64 = pairs.iter().map(|(a, _)| (a - mean).powi(2)).sum();
                let r2 = if total > 0.0 {
                    1.0 - residual / total
                } else {
                    f64::NAN
                };
                format!("actual vs predicted · R² {} over {n} rows", compact(r2))
            }
        }
    }

    /// Writes `view` as PNG with the trainer's plotting code.
    pub fn write_png(&self, view: FitView, path: &Path) -> Result<()> {
        let picture = self.picture(view);
        let (from, to) = x_extent(&picture.points);
        let line = self.line(view, from, to);
        let chart = mlbench_plot::FitChart {
            title: &format!("job {} · {}", self.job, picture.title),
            x_name: &picture.x_name,
            y_name: &picture.y_name,
            points: &picture.points,
            line: &line,
            x_classes: picture.x_classes.as_deref(),
            y_classes: picture.y_classes.as_deref(),
        };
        Ok(mlbench_plot::write_png(&chart, path)?)
    }
}

/// The smallest and largest x of `points` (0..1 when there are none).
pub fn x_extent(points: &[(f64, f64)]) -> (f64, f64) {
    let (lo, hi) = points
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &(x, _)| (lo.min(x), hi.max(x)));
    if lo > hi { (0.0, 1.0) } else { (lo, hi) }
}

/// A point of a class-against-class chart moved within its cell, the same way every time.
fn jitter(k: usize, actual: f64, predicted: f64) -> (f64, f64) {
    // A low-discrepancy walk (golden ratio steps) fills the cell evenly.
    let step = |seed: f64| ((k as f64 + 1.0) * seed).fract() * 0.5 - 0.25;
    (actual + step(0.618_033_988_7), predicted + step(0.754_877_666_2))
}

/// Whether a metric is a term of a fitted line (`Intercept`, `Slope`, `Slope[x]`) rather than a
/// score: the fit chart lists the model's own terms, and a job's key metric is never one.
pub fn is_line_term(key: &str) -> bool {
    key.eq_ignore_ascii_case("intercept") || key.to_ascii_lowercase().starts_with("slope")
}

/// The line a user's script printed as its `Intercept` and `Slope` metrics.
fn line_from_metrics(engine: &Engine, job: &JobRecord) -> Result<(f64, f64)> {
    let metrics = engine.store.metric_summaries(job.id)?;
    let value = |key: &str| {
        metrics
            .iter()
            .find(|m| m.key.eq_ignore_ascii_case(key))
            .map(|m| m.last)
    };
    match (value("Intercept"), value("Slope")) {
        (Some(intercept), Some(slope)) => Ok((intercept, slope)),
        _ => Err(Error::Invalid(format!(
            "job {} wrote no {} and printed no `Intercept :` and `Slope :` metrics: nothing to draw",
            job.id,
            model::FILE_NAME
        ))),
    }
}

/// `--data` as given: a relative path that is not here is looked up in the job's workspace,
/// where the job saw it.
async fn given_data(engine: &Engine, job: &JobRecord, path: PathBuf) -> Result<SeenFile> {
    if path.is_absolute() || path.exists() {
        return Ok(SeenFile::mine(path));
    }
    seen_file(engine, job, &path.to_string_lossy(), DATA_FILE).await
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

/// At most this many rows are drawn; a larger data set is sampled evenly.
const MAX_POINTS: usize = 5_000;

struct Sample {
    rows: Vec<Vec<f64>>,
    actual: Vec<f64>,
    means: Vec<f64>,
}

/// Reads the model's columns from the data: an even sample of whole rows to draw, and each
/// feature's mean over every row. A row with a value that is not a finite number (or, for a
/// tree, a class the model does not know) is left out.
fn sample_rows(
    data: &SeenFile,
    features: &[String],
    target: &str,
    classes: Option<&[String]>,
) -> Result<Sample> {
    let path = data.path.as_path();
    let mut file = data.open(DATA_FILE).map_err(|e| match e {
        Error::NotFound(why) => Error::NotFound(format!("{why}: name the data set with --data")),
        other => other,
    })?;
    let header = csvscan::read_header_from(&mut file, path)?;
    file.seek(std::io::SeekFrom::Start(0))
        .map_err(Error::at(path, "cannot read"))?;
    let columns: Vec<usize> = features
        .iter()
        .map(|f| header.column(path, f))
        .collect::<std::result::Result<_, _>>()?;
    let y = header.column(path, target)?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(std::io::BufReader::new(file.take(DATA_FILE.bytes)));
    let mut sample = Sample {
        rows: Vec::new(),
        actual: Vec::new(),
        means: vec![0.0; features.len()],
    };
    let (mut sums, mut counted) = (vec![0.0; features.len()], 0u64);
    let mut stride = 1usize;
    let mut kept = 0usize;
    for record in reader.records() {
        let record = record.map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        let number = |c: usize| {
            record
                .get(c)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite())
        };
        let Some(row) = columns.iter().map(|&c| number(c)).collect::<Option<Vec<f64>>>() else {
            continue;
        };
        let actual = match classes {
            Some(names) => record
                .get(y)
                .and_then(|v| names.iter().position(|n| n == v))
                .map(|i| i as f64),
            None => number(y),
        };
        let Some(actual) = actual else { continue };
        for (sum, v) in sums.iter_mut().zip(&row) {
            *sum += v;
        }
        counted += 1;
        kept += 1;
        if !(kept - 1).is_multiple_of(stride) {
            continue;
        }
        sample.rows.push(row);
        sample.actual.push(actual);
        if sample.rows.len() == 2 * MAX_POINTS {
            // Keep every other row and halve how often new ones are taken.
            sample.rows = sample.rows.into_iter().step_by(2).collect();
            sample.actual = sample.actual.into_iter().step_by(2).collect();
            stride *= 2;
        }
    }
    if counted > 0 {
        sample.means = sums.iter().map(|s| s / counted as f64).collect();
    }
    Ok(sample)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlbench_ml::train::{ModelKind, TrainOptions, train};

    fn trained(data: &Path, kind: ModelKind, target: Option<&str>, drop: &[&str]) -> ModelFile {
        let out = data.with_file_name("out");
        let report = train(&TrainOptions {
            input: data.to_path_buf(),
            output: out,
            kind,
            features: vec![],
            target: target.map(str::to_string),
            drop: drop.iter().map(|d| (*d).to_string()).collect(),
            test_fraction: 0.0,
            seed: 1,
            max_depth: None,
        })
        .unwrap();
        ModelFile::load(&report.model_path).unwrap()
    }

    /// A house price that three features make exactly, with the features far from zero so a
    /// line that drops two terms lands far from the points.
    fn houses(dir: &Path) -> (PathBuf, Vec<[f64; 4]>) {
        let rows: Vec<[f64; 4]> = (0..40)
            .map(|i| {
                let i = f64::from(i);
                let (sqft, bedrooms, age) =
                    (800.0 + 37.0 * i, 1.0 + (i * 7.0) % 5.0, 5.0 + (i * 13.0) % 40.0);
                [
                    sqft,
                    bedrooms,
                    age,
                    20_000.0 + 150.0 * sqft + 9_000.0 * bedrooms - 700.0 * age,
                ]
            })
            .collect();
        let mut text = String::from("sqft,bedrooms,age,price\n");
        for r in &rows {
            text += &format!("{},{},{},{}\n", r[0], r[1], r[2], r[3]);
        }
        let path = dir.join("houses.csv");
        std::fs::write(&path, text).unwrap();
        (path, rows)
    }

    #[test]
    fn a_model_of_three_features_is_drawn_through_its_points() {
        let dir = tempfile::tempdir().unwrap();
        let (data, rows) = houses(dir.path());
        let model = trained(&data, ModelKind::Linear, None, &[]);
        let fit = Fit::of(
            7,
            Some(1),
            Drawn::from_model(model),
            (SeenFile::mine(data), "--data"),
        )
        .unwrap();
        assert_eq!(fit.first_view(), FitView::Feature(0));
        // Independently: the other features' means, and the price a row at those means has.
        let n = rows.len() as f64;
        let mean = |c: usize| rows.iter().map(|r| r[c]).sum::<f64>() / n;
        for (i, feature) in ["sqft", "bedrooms", "age"].iter().enumerate() {
            let view = fit.feature_view(feature).unwrap();
            let picture = fit.picture(view);
            assert!(picture.title.ends_with(" (others at means)"), "{}", picture.title);
            assert_eq!(picture.points.len(), rows.len());
            // Least squares with an intercept goes through the means: at the feature's mean the
            // line is the mean price. A line that drops the other terms misses by 100,000s.
            let (lo, hi) = x_extent(&picture.points);
            let line = fit.line(view, lo, hi);
            let at = |x: f64| line[0].1 + (line[1].1 - line[0].1) * (x - line[0].0) / (line[1].0 - line[0].0);
            assert!(
                (at(mean(i)) - mean(3)).abs() < 1e-3,
                "{feature}: {} vs {}",
                at(mean(i)),
                mean(3)
            );
        }
        assert_eq!(fit.next_feature(FitView::Feature(2)), FitView::Feature(0));
        let avp = fit.picture(FitView::ActualVsPredicted);
        assert_eq!(avp.title, "actual vs predicted · R² 1 over 40 rows");
        for (&(actual, predicted), row) in avp.points.iter().zip(&rows) {
            assert_eq!(actual, row[3]);
            assert!((predicted - row[3]).abs() < 1e-3, "{predicted} vs {}", row[3]);
        }
        let missing = fit.feature_view("rooms").unwrap_err().to_string();
        assert!(
            missing.contains("its features are sqft, bedrooms, age"),
            "{missing}"
        );
    }

    #[test]
    fn a_tree_is_drawn_actual_against_predicted_over_its_classes() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("iris.csv");
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/iris.csv"),
            &data,
        )
        .unwrap();
        let model = trained(&data, ModelKind::Tree, Some("Species"), &["Id"]);
        // Independently: the rows the model gets right, predicted one by one.
        let mut reader = csv::Reader::from_path(&data).unwrap();
        let (mut right, mut total) = (0, 0);
        for record in reader.records() {
            let record = record.unwrap();
            let row: Vec<f64> = (1..5).map(|c| record[c].parse().unwrap()).collect();
            total += 1;
            if model.predict(&row).unwrap() == Prediction::Class(record[5].to_string()) {
                right += 1;
            }
        }
        let fit = Fit::of(
            3,
            None,
            Drawn::from_model(model),
            (SeenFile::mine(data), "--data"),
        )
        .unwrap();
        assert_eq!(fit.first_view(), FitView::ActualVsPredicted);
        let avp = fit.picture(FitView::ActualVsPredicted);
        assert_eq!(
            avp.title,
            format!("actual vs predicted · {right} of {total} rows right")
        );
        assert_eq!(avp.x_classes.as_ref().map(Vec::len), Some(3));
        // Every point stays inside its cell.
        assert!(
            avp.points
                .iter()
                .all(|(a, p)| (a - a.round()).abs() <= 0.25 && (p - p.round()).abs() <= 0.25)
        );
        let by_petal = fit.picture(fit.feature_view("PetalLengthCm").unwrap());
        assert_eq!(by_petal.title, "Species by PetalLengthCm (others at means)");
    }

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
