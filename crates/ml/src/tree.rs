//! Decision-tree classification with linfa-trees, exported to the model file's flat tree.

use std::path::Path;

use linfa::prelude::*;
use linfa_trees::DecisionTree;
use ndarray::{Array1, Array2};

use super::is_test_row;
use super::model::TreeNode;
use super::table::Table;
use crate::{Error, Result};

pub(crate) struct TreeFit {
    pub(crate) classes: Vec<String>,
    pub(crate) nodes: Vec<TreeNode>,
    pub(crate) accuracy: f64,
    pub(crate) train_rows: u64,
    pub(crate) test_rows: u64,
}

pub(crate) struct TreeOptions<'a> {
    pub(crate) features: &'a [usize],
    pub(crate) target: usize,
    pub(crate) max_depth: Option<usize>,
    pub(crate) seed: u64,
    pub(crate) test_fraction: f64,
}

pub(crate) fn fit(path: &Path, table: &Table, options: &TreeOptions) -> Result<TreeFit> {
    let mut classes: Vec<String> = table
        .rows
        .iter()
        .map(|(_, r)| r[options.target].clone())
        .collect();
    classes.sort();
    classes.dedup();
    let mut train = (Vec::new(), Vec::new());
    let mut test = (Vec::new(), Vec::new());
    for (index, (line, row)) in table.rows.iter().enumerate() {
        let mut values = Vec::with_capacity(options.features.len());
        for &column in options.features {
            let cell = &row[column];
            let value: f64 = cell.parse().map_err(|_| {
                Error::Invalid(format!(
                    "{}:{line}: column {:?}: {cell:?} is not a number (drop the column with --drop)",
                    path.display(),
                    table.names[column]
                ))
            })?;
            if !value.is_finite() {
                return Err(Error::Invalid(format!(
                    "{}:{line}: column {:?}: {cell:?} is not a finite number",
                    path.display(),
                    table.names[column]
                )));
            }
            values.push(value);
        }
        let class = classes.binary_search(&row[options.target]).unwrap_or_default();
        let part = if is_test_row(options.seed, index as u64, options.test_fraction) {
            &mut test
        } else {
            &mut train
        };
        part.0.extend(values);
        part.1.push(class);
    }
    if train.1.is_empty() {
        return Err(Error::Invalid(
            "the test split leaves no training rows: lower --test-size".into(),
        ));
    }
    let width = options.features.len();
    let records = |values: Vec<f64>, rows: usize| {
        Array2::from_shape_vec((rows, width), values).map_err(|e| Error::Fit(e.to_string()))
    };
    let (train_rows, test_rows) = (train.1.len(), test.1.len());
    let dataset = Dataset::new(records(train.0, train_rows)?, Array1::from(train.1));
    let tree = DecisionTree::params()
        .max_depth(options.max_depth)
        .fit(&dataset)
        .map_err(|e| Error::Invalid(format!("the decision tree cannot be fitted: {e}")))?;
    // Evaluated on the test rows, or on the training rows when there is no test split.
    let (eval_x, eval_y) = if test.1.is_empty() {
        (dataset.records().clone(), dataset.targets().clone())
    } else {
        let rows = test.1.len();
        (records(test.0, rows)?, Array1::from(test.1))
    };
    let predicted = tree.predict(&eval_x);
    let correct = predicted
        .iter()
        .zip(eval_y.iter())
        .filter(|(p, y)| p == y)
        .count();
    let mut nodes = Vec::new();
    export(tree.root_node(), &mut nodes);
    Ok(TreeFit {
        classes,
        nodes,
        accuracy: correct as f64 / eval_y.len() as f64,
        train_rows: train_rows as u64,
        test_rows: test_rows as u64,
    })
}

/// Appends `node` and its subtree in pre-order; returns the node's index.
fn export(node: &linfa_trees::TreeNode<f64, usize>, out: &mut Vec<TreeNode>) -> usize {
    let index = out.len();
    match node.prediction() {
        Some(class) => out.push(TreeNode::Leaf { class }),
        None => {
            let (feature, threshold, _) = node.split();
            out.push(TreeNode::Leaf { class: 0 }); // replaced once the children have indices
            let children = node.children();
            let left = children[0].as_deref().map(|c| export(c, out));
            let right = children[1].as_deref().map(|c| export(c, out));
            out[index] = match (left, right) {
                (Some(left), Some(right)) => TreeNode::Split {
                    feature,
                    threshold,
                    left,
                    right,
                },
                // linfa marks a node with one child a leaf; this cannot be reached, but a leaf
                // of the one side is the safe reading.
                (Some(only), None) | (None, Some(only)) => out[only].clone(),
                (None, None) => TreeNode::Leaf { class: 0 },
            };
        }
    }
    index
}
