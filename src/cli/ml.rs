//! `mlbench metrics` and `plot` (`train` is the job crate's: it runs inside containers too).

use std::path::PathBuf;

use clap::Args;
use mlbench_domain::numfmt::compact;
use mlbench_engine::Engine;
use mlbench_engine::experiments::fit::{Fit, FitView};

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
                compact(m.last),
                compact(m.min),
                compact(m.max),
                m.count.to_string(),
            ]
        })
        .collect();
    table::print(&["METRIC", "LAST", "MIN", "MAX", "COUNT"], &rows);
    Ok(())
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
    /// The model file (default: the version the job's trainer wrote).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Draw this feature's partial dependence, the other features held at their means
    /// (default: the first feature; a tree: actual against predicted).
    #[arg(long, conflicts_with = "actual_vs_predicted")]
    feature: Option<String>,
    /// Draw actual against predicted values on the data: for any model, trees included.
    #[arg(long)]
    actual_vs_predicted: bool,
}

pub(crate) async fn plot(engine: &Engine, args: PlotArgs) -> Result<()> {
    let fit = Fit::load(engine, args.job, args.model, args.data).await?;
    let view = match (&args.feature, args.actual_vs_predicted) {
        (_, true) => FitView::ActualVsPredicted,
        (Some(name), false) => fit.feature_view(name)?,
        (None, false) => fit.first_view(),
    };
    eprintln!("data: {} (named by {})", fit.data.display(), fit.data_from);
    fit.write_png(view, &args.output)?;
    println!("{}", args.output.display());
    Ok(())
}
