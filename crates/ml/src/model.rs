//! The model file, `model.json`: what `mlbench train` writes, the server loads and the chart
//! reads. Written atomically (a temporary file renamed over the old one).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlbench_domain::FromIo;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

pub const FORMAT_VERSION: u32 = 1;
pub const FILE_NAME: &str = "model.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Model {
    Linear {
        intercept: f64,
        coefficients: Vec<f64>,
    },
    Tree {
        classes: Vec<String>,
        nodes: Vec<TreeNode>,
    },
}

/// A decision tree as a flat list; node 0 is the root. A row goes left when its feature value
/// is below the threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TreeNode {
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    Leaf {
        class: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rows {
    pub train: u64,
    pub test: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRef {
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    pub format_version: u32,
    #[serde(flatten)]
    pub model: Model,
    pub features: Vec<String>,
    pub target: String,
    pub metrics: BTreeMap<String, f64>,
    pub rows: Rows,
    pub data: DataRef,
    pub mlbench_version: String,
    /// Its number among the versions kept beside it (see `versions`); absent in files written
    /// before versions were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// The mlbench job that wrote it (`MLBENCH_JOB_ID` in the job's environment), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<i64>,
}

/// One prediction: a number (linear) or a class label (tree).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Prediction {
    Value(f64),
    Class(String),
}

impl ModelFile {
    /// The most of a model file mlbench reads: a tree of any data set this tool trains is far
    /// below it; a larger file is refused unread.
    pub const MAX_BYTES: u64 = 64 << 20;

    /// Reads the model file at `path`, a regular file of at most [`ModelFile::MAX_BYTES`].
    pub fn load(path: &Path) -> Result<ModelFile> {
        use std::io::Read;
        // Checked before the open: opening a FIFO waits for a writer.
        let meta = std::fs::metadata(path).map_err(Error::at(path, "cannot read the model file"))?;
        if !meta.is_file() {
            return Err(Error::Invalid(format!(
                "{} is not a regular file: a model file is one",
                path.display()
            )));
        }
        let file = std::fs::File::open(path).map_err(Error::at(path, "cannot read the model file"))?;
        let mut bytes = Vec::new();
        file.take(Self::MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(Error::at(path, "cannot read the model file"))?;
        if bytes.len() as u64 > Self::MAX_BYTES {
            return Err(Error::Invalid(format!(
                "{} is more than the {} MiB mlbench reads of a model file",
                path.display(),
                Self::MAX_BYTES >> 20
            )));
        }
        ModelFile::parse(bytes, path)
    }

    /// The model file whose content is `bytes`, read from `path`.
    pub fn parse(bytes: Vec<u8>, path: &Path) -> Result<ModelFile> {
        let Ok(text) = String::from_utf8(bytes) else {
            return Err(Error::Invalid(format!(
                "{} is not a model.json but a binary file (a Python pickle?): mlbench reads only the model.json `mlbench train` writes",
                path.display()
            )));
        };
        let model: ModelFile = serde_json::from_str(&text)
            .map_err(|e| Error::Invalid(format!("{} is not a model file: {e}", path.display())))?;
        if model.format_version != FORMAT_VERSION {
            return Err(Error::Invalid(format!(
                "{} has format version {}, this mlbench reads {FORMAT_VERSION}",
                path.display(),
                model.format_version
            )));
        }
        model.check()?;
        Ok(model)
    }

    /// Structural checks, so that a prediction can never index out of bounds.
    fn check(&self) -> Result<()> {
        let bad = |why: &str| Err(Error::Invalid(format!("the model file is inconsistent: {why}")));
        match &self.model {
            Model::Linear {
                coefficients,
                intercept,
            } => {
                if coefficients.len() != self.features.len() {
                    return bad("one coefficient per feature is expected");
                }
                if !intercept.is_finite() || coefficients.iter().any(|c| !c.is_finite()) {
                    return bad("coefficients must be finite");
                }
            }
            Model::Tree { classes, nodes } => {
                if nodes.is_empty() {
                    return bad("the tree has no nodes");
                }
                for (i, node) in nodes.iter().enumerate() {
                    let ok = match node {
                        TreeNode::Split {
                            feature, left, right, ..
                        } => {
                            *feature < self.features.len()
                                && *left > i
                                && *right > i
                                && *left < nodes.len()
                                && *right < nodes.len()
                        }
                        TreeNode::Leaf { class } => *class < classes.len(),
                    };
                    if !ok {
                        return bad(&format!("tree node {i} points outside the tree"));
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes the model as the next version in `dir` and as `dir/model.json`; returns the path
    /// of `model.json` and the version's number. Each file is replaced only by a whole new one.
    pub fn save(&self, dir: &Path) -> Result<(PathBuf, u32)> {
        std::fs::create_dir_all(dir).map_err(Error::at(dir, "cannot create"))?;
        let version = super::versions::save(dir, self)?;
        Ok((dir.join(FILE_NAME), version))
    }

    /// Writes `path` through a temporary file renamed over it.
    pub(crate) fn write_atomic(&self, path: &Path) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let tmp = dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(&tmp, text + "\n").map_err(Error::at(&tmp, "cannot write"))?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(format!("cannot replace {}", path.display()), e)
        })
    }

    /// A linear model's values for many rows of finite inputs, each as wide as `features`, in
    /// one tight loop (`None` for a tree). A value that is not finite is returned as it is.
    pub fn linear_values<'r>(&self, rows: impl Iterator<Item = &'r [f64]>) -> Option<Vec<f64>> {
        match &self.model {
            Model::Linear {
                intercept,
                coefficients,
            } => Some(rows.map(|row| linear(*intercept, coefficients, row)).collect()),
            Model::Tree { .. } => None,
        }
    }

    /// Predicts one row of feature values (in `features` order).
    pub fn predict(&self, row: &[f64]) -> Result<Prediction> {
        if row.len() != self.features.len() {
            return Err(Error::Invalid(format!(
                "expected {} feature values ({}), got {}",
                self.features.len(),
                self.features.join(", "),
                row.len()
            )));
        }
        if let Some(v) = row.iter().find(|v| !v.is_finite()) {
            return Err(Error::Invalid(format!("{v} is not a finite number")));
        }
        Ok(match &self.model {
            Model::Linear {
                intercept,
                coefficients,
            } => Prediction::Value(linear(*intercept, coefficients, row)),
            Model::Tree { classes, nodes } => {
                let mut i = 0;
                loop {
                    match &nodes[i] {
                        TreeNode::Leaf { class } => break Prediction::Class(classes[*class].clone()),
                        TreeNode::Split {
                            feature,
                            threshold,
                            left,
                            right,
                        } => {
                            i = if row[*feature] < *threshold { *left } else { *right };
                        }
                    }
                }
            }
        })
    }
}

/// A linear model's value for one row of inputs.
pub fn linear(intercept: f64, coefficients: &[f64], row: &[f64]) -> f64 {
    intercept + coefficients.iter().zip(row).map(|(c, x)| c * x).sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linear() -> ModelFile {
        ModelFile {
            format_version: FORMAT_VERSION,
            model: Model::Linear {
                intercept: 100.0,
                coefficients: vec![2.0],
            },
            features: vec!["x".into()],
            target: "y".into(),
            metrics: BTreeMap::from([("MSE".to_string(), 1.5)]),
            rows: Rows { train: 10, test: 3 },
            data: DataRef {
                path: "d.csv".into(),
                sha256: "00".into(),
            },
            mlbench_version: "0".into(),
            version: None,
            job: None,
        }
    }

    #[test]
    fn saves_atomically_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let (path, version) = linear().save(dir.path()).unwrap();
        assert_eq!(version, 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"kind\": \"linear\""), "{text}");
        let loaded = ModelFile::load(&path).unwrap();
        assert_eq!(loaded.version, Some(1));
        assert_eq!(
            ModelFile {
                version: None,
                ..loaded
            },
            linear()
        );
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["model.json", "versions"], "a temporary file was left");
        assert_eq!(linear().predict(&[25.0]).unwrap(), Prediction::Value(150.0));
        assert!(linear().predict(&[1.0, 2.0]).is_err());
    }

    #[test]
    fn every_save_keeps_a_version_and_a_file_from_before_versions_is_kept_too() {
        let dir = tempfile::tempdir().unwrap();
        // A model.json written by an mlbench that kept no versions.
        let text = serde_json::to_string(&linear()).unwrap();
        std::fs::write(dir.path().join(FILE_NAME), text).unwrap();
        let mut second = linear();
        second.metrics.insert("MSE".into(), 0.5);
        second.save(dir.path()).unwrap();
        second.save(dir.path()).unwrap();
        assert_eq!(super::super::versions::numbers(dir.path()), [1, 2, 3]);
        let first = super::super::versions::load(dir.path(), Some(1)).unwrap();
        assert_eq!(
            first.metrics["MSE"], 1.5,
            "the file from before versions is version 1"
        );
        let current = super::super::versions::load(dir.path(), None).unwrap();
        assert_eq!((current.version, current.metrics["MSE"]), (Some(3), 0.5));
        let missing = super::super::versions::load(dir.path(), Some(9)).unwrap_err();
        assert!(
            missing.to_string().contains("no model version 9 (kept: 1, 2, 3)"),
            "{missing}"
        );
    }

    #[test]
    fn trees_predict_and_bad_trees_are_refused() {
        let mut tree = linear();
        tree.model = Model::Tree {
            classes: vec!["a".into(), "b".into()],
            nodes: vec![
                TreeNode::Split {
                    feature: 0,
                    threshold: 2.5,
                    left: 1,
                    right: 2,
                },
                TreeNode::Leaf { class: 0 },
                TreeNode::Leaf { class: 1 },
            ],
        };
        assert_eq!(tree.predict(&[1.0]).unwrap(), Prediction::Class("a".into()));
        assert_eq!(tree.predict(&[3.0]).unwrap(), Prediction::Class("b".into()));
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = tree.save(dir.path()).unwrap();
        assert_eq!(ModelFile::load(&path).unwrap().model, tree.model);
        let looped = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"left\": 1", "\"left\": 0");
        std::fs::write(&path, looped).unwrap();
        assert!(
            ModelFile::load(&path)
                .unwrap_err()
                .to_string()
                .contains("points outside the tree")
        );
    }
}
