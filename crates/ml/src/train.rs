//! `mlbench train`: fit a model on a CSV file and write `model.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlbench_domain::FromIo;
use sha2::{Digest, Sha256};

use super::csvscan::{self, Selection, Split};
use super::model::{DataRef, Model, ModelFile, Rows};
use super::table::Table;
use super::{linear, tree};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    Linear,
    Tree,
}

#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub input: PathBuf,
    pub output: PathBuf,
    pub kind: ModelKind,
    /// Feature columns; empty means every column but the target and `drop`.
    pub features: Vec<String>,
    /// Target column; `None` means `y` if there is one, else the last column.
    pub target: Option<String>,
    pub drop: Vec<String>,
    pub test_fraction: f64,
    pub seed: u64,
    pub max_depth: Option<usize>,
}

#[derive(Debug)]
pub struct TrainReport {
    /// The lines the tutorial's script prints (`Intercept : …`, `MSE : …`).
    pub lines: Vec<String>,
    pub model_path: PathBuf,
    /// The version it was kept as beside `model.json`.
    pub version: u32,
    /// What the user should know about the data (a feature that numbers the rows).
    pub warnings: Vec<String>,
}

/// How the trainer says where the model went, after its metrics (`Model written to
/// /storage/salary/model.json (version 3)`); the engine finds the model a job wrote in its log
/// by this.
pub const MODEL_LINE: &str = "Model written to ";

/// What follows the path on the model line.
pub fn model_line(path: &Path, version: u32) -> String {
    format!("{MODEL_LINE}{} (version {version})", path.display())
}

/// The path and version a model line names; a line from before versions names only the path.
pub fn parse_model_line(line: &str) -> Option<(PathBuf, Option<u32>)> {
    let rest = line.strip_prefix(MODEL_LINE)?;
    if let Some((path, tail)) = rest.rsplit_once(" (version ")
        && let Some(Ok(version)) = tail.strip_suffix(')').map(str::parse)
    {
        return Some((PathBuf::from(path), Some(version)));
    }
    Some((PathBuf::from(rest), None))
}

/// The environment variable a job's number is passed in, so what it writes can name it.
pub const JOB_ID_VAR: &str = "MLBENCH_JOB_ID";

/// Where `/storage/...` is when the job runs as a local process: `$MLBENCH_STORAGE`.
pub fn resolve_output(output: &Path) -> PathBuf {
    match (
        output.strip_prefix("/storage"),
        std::env::var_os("MLBENCH_STORAGE"),
    ) {
        (Ok(rest), Some(storage)) if !Path::new("/storage").exists() => PathBuf::from(storage).join(rest),
        _ => output.to_path_buf(),
    }
}

fn sha256_of(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(Error::at(path, "cannot read"))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(Error::at(path, "cannot read"))?;
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

pub fn train(options: &TrainOptions) -> Result<TrainReport> {
    if !(0.0..1.0).contains(&options.test_fraction) {
        return Err(Error::Invalid(format!(
            "--test-size {} is out of range: give a fraction from 0 (train on everything) to below 1",
            options.test_fraction
        )));
    }
    let path = &options.input;
    let header = csvscan::read_header(path).map_err(|e| match e {
        Error::NotFound(why) => Error::NotFound(format!("{why}: give the data set with -i")),
        other => other,
    })?;
    let target_name = match &options.target {
        Some(t) => t.clone(),
        None if header.names.iter().any(|n| n == "y") => "y".to_string(),
        None => header.names.last().cloned().unwrap_or_default(),
    };
    let target = header.column(path, &target_name)?;
    for name in &options.drop {
        header.column(path, name)?;
    }
    let features: Vec<usize> = if options.features.is_empty() {
        (0..header.names.len())
            .filter(|&i| i != target && !options.drop.contains(&header.names[i]))
            .collect()
    } else {
        options
            .features
            .iter()
            .map(|f| header.column(path, f))
            .collect::<Result<_>>()?
    };
    if features.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: there are no feature columns left besides {target_name:?}",
            path.display()
        )));
    }
    if let Some(&same) = features.iter().find(|&&f| f == target) {
        return Err(Error::Invalid(format!(
            "column {:?} cannot be both a feature and the target",
            header.names[same]
        )));
    }
    let feature_names: Vec<String> = features.iter().map(|&i| header.names[i].clone()).collect();

    // The data file's hash is read beside the fit, on its own thread.
    let (fitted, sha256) = std::thread::scope(|scope| {
        let hash = scope.spawn(|| sha256_of(path));
        let fitted = fit(options, &header, &features, target, &feature_names);
        (
            fitted,
            hash.join().unwrap_or_else(|_| {
                Err(Error::io(
                    "hashing failed",
                    std::io::Error::other("the hashing thread panicked"),
                ))
            }),
        )
    });
    let (model, metrics, rows) = fitted?;
    let mut lines = Vec::new();
    match &model {
        Model::Linear {
            intercept,
            coefficients,
        } => {
            // Every digit is printed: the engine reads these lines back as the job's metrics,
            // and a value rounded here could never be shown truly there.
            lines.push(format!("Intercept : {intercept}"));
            for (c, name) in coefficients.iter().zip(&feature_names) {
                // One feature keeps the tutorial's plain `Slope`; with several, each names its own.
                let label = if coefficients.len() == 1 {
                    "Slope".to_string()
                } else {
                    format!("Slope[{name}]")
                };
                lines.push(format!("{label} : {c}"));
            }
        }
        Model::Tree { nodes, .. } => lines.push(format!("Nodes : {}", nodes.len())),
    }
    lines.extend(metrics.iter().map(|(k, v)| format!("{k} : {v}")));
    let file = ModelFile {
        format_version: super::model::FORMAT_VERSION,
        model,
        features: feature_names,
        target: target_name,
        metrics,
        rows,
        data: DataRef {
            path: path.display().to_string(),
            sha256: sha256?,
        },
        mlbench_version: env!("CARGO_PKG_VERSION").to_string(),
        version: None,
        job: std::env::var(JOB_ID_VAR).ok().and_then(|id| id.parse().ok()),
    };
    let (model_path, version) = file.save(&resolve_output(&options.output))?;
    Ok(TrainReport {
        lines,
        model_path,
        version,
        warnings: row_index_warnings(path, &features, &file.features)?,
    })
}

/// How many rows the row-index check reads: enough to tell, cheap beside any fit.
const INDEX_CHECK_ROWS: usize = 10_000;

/// A warning for each feature that looks like a row index: named `id`, or counting up by one
/// from row to row (over the first rows read). Such a column tells a model where a row sits
/// in the file, not what it is; nothing is dropped here, the user decides. `columns` are the
/// features' columns, `features` their names.
fn row_index_warnings(path: &Path, columns: &[usize], features: &[String]) -> Result<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_path(path)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    let mut previous: Vec<Option<f64>> = vec![None; columns.len()];
    let mut counting = vec![true; columns.len()];
    let mut rows = 0usize;
    for record in reader.records().take(INDEX_CHECK_ROWS) {
        let Ok(record) = record else { break };
        rows += 1;
        for (k, &c) in columns.iter().enumerate() {
            let value = record.get(c).and_then(|v| v.parse::<f64>().ok());
            counting[k] &= match (previous[k], value) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(p), Some(v)) => v - p == 1.0,
            };
            previous[k] = value;
        }
    }
    Ok(features
        .iter()
        .zip(&counting)
        .filter(|(name, counts)| name.eq_ignore_ascii_case("id") || (**counts && rows >= 3))
        .map(|(name, _)| {
            format!(
                "warning: feature {name:?} looks like a row index (named id, or counting up by one from row to row): a model that uses it learns the row order; leave it out with --drop {name}"
            )
        })
        .collect())
}

type Fitted = (Model, BTreeMap<String, f64>, Rows);

fn fit(
    options: &TrainOptions,
    header: &csvscan::Header,
    features: &[usize],
    target: usize,
    names: &[String],
) -> Result<Fitted> {
    let path = &options.input;
    match options.kind {
        ModelKind::Linear => {
            let mut columns = features.to_vec();
            columns.push(target);
            let split = Split {
                seed: options.seed,
                test_fraction: options.test_fraction,
            };
            let scan = csvscan::scan(path, header, &Selection { columns }, split)?;
            if scan.train.rows == 0 {
                return Err(Error::Invalid(
                    "the test split leaves no training rows: lower --test-size".into(),
                ));
            }
            let fit = linear::fit(&scan.train, &scan.shift, names)?;
            // Scored on the held-out rows, or on the training rows when nothing is held out.
            let scored = if scan.test.rows > 0 {
                &scan.test
            } else {
                &scan.train
            };
            let (mse, r2) = linear::evaluate(&fit, scored);
            let mut metrics = BTreeMap::from([("MSE".to_string(), mse)]);
            if r2.is_finite() {
                metrics.insert("R2".to_string(), r2);
            }
            let rows = Rows {
                train: scan.train.rows,
                test: scan.test.rows,
            };
            Ok((
                Model::Linear {
                    intercept: fit.intercept,
                    coefficients: fit.coefficients,
                },
                metrics,
                rows,
            ))
        }
        ModelKind::Tree => {
            let table = Table::load(path)?;
            let options = tree::TreeOptions {
                features,
                target,
                max_depth: options.max_depth,
                seed: options.seed,
                test_fraction: options.test_fraction,
            };
            let fit = tree::fit(path, &table, &options)?;
            let metrics = BTreeMap::from([("Accuracy".to_string(), fit.accuracy)]);
            let rows = Rows {
                train: fit.train_rows,
                test: fit.test_rows,
            };
            Ok((
                Model::Tree {
                    classes: fit.classes,
                    nodes: fit.nodes,
                },
                metrics,
                rows,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(input: &Path, output: &Path) -> TrainOptions {
        TrainOptions {
            input: input.to_path_buf(),
            output: output.to_path_buf(),
            kind: ModelKind::Linear,
            features: vec![],
            target: None,
            drop: vec![],
            test_fraction: 0.25,
            seed: 10,
            max_depth: None,
        }
    }

    #[test]
    fn the_tutorial_data_trains_and_writes_a_model() {
        let dir = tempfile::tempdir().unwrap();
        let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/salary/data/sal.csv");
        let report = train(&options(&input, &dir.path().join("out"))).unwrap();
        assert!(report.lines[0].starts_with("Intercept : "), "{:?}", report.lines);
        assert!(report.lines.iter().any(|l| l.starts_with("MSE : ")));
        let model = ModelFile::load(&report.model_path).unwrap();
        assert_eq!(
            (model.features.as_slice(), model.target.as_str()),
            (&["x".to_string()][..], "y")
        );
        assert_eq!(model.rows.train + model.rows.test, 21);
        assert_eq!(model.data.sha256.len(), 64);
        let Model::Linear { coefficients, .. } = model.model else {
            panic!("not linear")
        };
        assert!(coefficients[0] > 1000.0, "{coefficients:?}");
    }

    #[test]
    fn a_failed_training_leaves_the_old_model_alone() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.csv");
        std::fs::write(&good, "x,y\n1,2\n2,4\n3,6.5\n4,8\n").unwrap();
        let out = dir.path().join("out");
        let mut opts = options(&good, &out);
        opts.test_fraction = 0.0;
        let report = train(&opts).unwrap();
        let before = std::fs::read(&report.model_path).unwrap();
        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, "x,y\n1,2\n2,oops\n").unwrap();
        let err = train(&TrainOptions {
            input: bad,
            ..opts.clone()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.ends_with("bad.csv:3: column \"y\": \"oops\" is not a number"),
            "{err}"
        );
        assert_eq!(std::fs::read(&report.model_path).unwrap(), before);
        let err = train(&TrainOptions {
            test_fraction: 1.0,
            ..opts.clone()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("--test-size 1 is out of range"), "{err}");
        let err = train(&TrainOptions {
            target: Some("z".into()),
            ..opts
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("there is no column \"z\""), "{err}");
    }

    #[test]
    fn iris_trains_a_tree() {
        let dir = tempfile::tempdir().unwrap();
        let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/iris.csv");
        let mut opts = options(&input, dir.path());
        opts.kind = ModelKind::Tree;
        opts.target = Some("Species".into());
        opts.drop = vec!["Id".into()];
        let report = train(&opts).unwrap();
        assert_eq!(report.warnings, Vec::<String>::new());
        let model = ModelFile::load(&report.model_path).unwrap();
        assert!(model.metrics["Accuracy"] > 0.85, "{:?}", model.metrics);
        assert_eq!(model.features.len(), 4);
        let setosa = model.predict(&[5.1, 3.5, 1.4, 0.2]).unwrap();
        assert_eq!(
            setosa,
            super::super::model::Prediction::Class("Iris-setosa".into())
        );
        // Kept, the Id column is named as a row index; it is still used, as asked.
        opts.drop.clear();
        let report = train(&opts).unwrap();
        assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
        assert!(report.warnings[0].contains("feature \"Id\" looks like a row index"));
        assert!(report.warnings[0].ends_with("--drop Id"));
        assert_eq!(ModelFile::load(&report.model_path).unwrap().features.len(), 5);
    }

    #[test]
    fn a_column_counting_up_by_one_is_named_whatever_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("d.csv");
        std::fs::write(&data, "row,x,y\n7,1,2\n8,3,4.1\n9,2,5.9\n10,6,8.2\n").unwrap();
        let report = train(&options(&data, &dir.path().join("out"))).unwrap();
        assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
        assert!(report.warnings[0].contains("\"row\""));
        std::fs::write(&data, "row,x,y\n7,1,2\n9,3,4.1\n8,2,5.9\n10,6,8.2\n").unwrap();
        assert!(
            train(&options(&data, &dir.path().join("out")))
                .unwrap()
                .warnings
                .is_empty()
        );
    }
}
