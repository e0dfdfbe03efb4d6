//! `mlbench train`, `metrics` and `plot`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::table;
use crate::Result;
use crate::engine::Engine;
use crate::engine::fit::{Fit, MODEL_LINE};
use crate::ml::train::{ModelKind, TrainOptions};

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

pub fn plot(engine: &Engine, args: PlotArgs) -> Result<()> {
    let fit = Fit::load(engine, args.job, args.model, args.data)?;
    eprintln!("data: {} (named by {})", fit.data.display(), fit.data_from);
    fit.write_png(&args.output)?;
    println!("{}", args.output.display());
    Ok(())
}
