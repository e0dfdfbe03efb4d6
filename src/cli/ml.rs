//! `mlbench metrics` and `plot` (`train` is the job crate's: it runs inside containers too).

use std::path::PathBuf;

use clap::Args;
use mlbench_engine::Engine;
use mlbench_engine::experiments::fit::Fit;

use super::table;
use crate::Result;

pub(crate) fn metrics(engine: &Engine, job: i64, json: bool) -> Result<()> {
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

pub(crate) fn plot(engine: &Engine, args: PlotArgs) -> Result<()> {
    let fit = Fit::load(engine, args.job, args.model, args.data)?;
    eprintln!("data: {} (named by {})", fit.data.display(), fit.data_from);
    fit.write_png(&args.output)?;
    println!("{}", args.output.display());
    Ok(())
}
