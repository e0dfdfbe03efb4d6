//! `mlbench train`: the built-in trainer's flags, and what it prints.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use mlbench_ml::train::{ModelKind, TrainOptions, model_line};

use crate::Result;

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Linear,
    Tree,
}

#[derive(Args)]
pub struct TrainArgs {
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

/// Trains as the flags say, printing what the tutorial's script prints and where the model went.
pub(crate) fn train(args: TrainArgs) -> Result<()> {
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
    let report = mlbench_ml::train::train(&options)?;
    for warning in &report.warnings {
        eprintln!("{warning}");
    }
    for line in &report.lines {
        println!("{line}");
    }
    println!("{}", model_line(&report.model_path, report.version));
    Ok(())
}
