//! `mlbench sweep`, `sweeps` and `compare`: many runs of one command over parameter values.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use mlbench_domain::FromIo;
use mlbench_domain::sweep::{EarlyStop, Goal, GridAxis, RandomAxis, Space};
use mlbench_engine::experiments::compare::{Comparison, compare};
use mlbench_engine::experiments::sweeps::{SweepRequest, SweepStarted};
use mlbench_engine::jobs::{ImageSource, JobRequest};
use mlbench_engine::{Engine, experiments};

use super::table;
use crate::{Error, Result};

#[derive(Args)]
pub(crate) struct SweepArgs {
    #[command(subcommand)]
    action: Option<SweepAction>,
    #[arg(long)]
    project: Option<String>,
    #[command(flatten)]
    job: super::JobArgs,
    /// NAME=V1,V2,... | NAME=A..B (integers) | NAME=A..B:STEP; several make the cross product.
    #[arg(long = "grid", value_name = "NAME=VALUES")]
    grid: Vec<String>,
    /// Draw N random points from --space ranges instead of a grid.
    #[arg(long, value_name = "N", conflicts_with = "grid")]
    random: Option<usize>,
    /// The seed of --random: the same seed draws the same points.
    #[arg(long, default_value_t = 0, requires = "random")]
    seed: u64,
    /// NAME=LO..HI or NAME=LO..HI:log, repeatable, for --random.
    #[arg(long = "space", value_name = "NAME=LO..HI", requires = "random")]
    space: Vec<String>,
    /// The metric the sweep optimizes, as the code prints it (e.g. Accuracy).
    #[arg(long)]
    metric: Option<String>,
    #[arg(long, conflicts_with = "maximize")]
    minimize: bool,
    #[arg(long)]
    maximize: bool,
    /// Trials at once (default: as many as the machine type fits on this host).
    #[arg(long, value_name = "K")]
    parallel: Option<usize>,
    /// Prune clearly worse trials: median[:warmup=W,startup=S].
    #[arg(long, value_name = "RULE")]
    early_stop: Option<String>,
    /// Wait for the sweep to end, printing each trial's end, then its comparison.
    #[arg(short, long)]
    follow: bool,
    /// The command, after `--`, with {NAME} placeholders.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

#[derive(Subcommand)]
enum SweepAction {
    /// Run the sweep's failed, lost, stopped and never-started points again.
    Resume {
        sweep: i64,
        #[arg(short, long)]
        follow: bool,
    },
    /// Stop the sweep and its running trials.
    Stop {
        sweep: i64,
        /// Seconds between SIGTERM and SIGKILL (default from the config).
        #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(..=86_400))]
        grace: Option<u64>,
    },
    /// Delete a stopped or finished sweep whole: its trials' jobs, logs and metrics.
    Rm { sweep: i64 },
}

#[derive(Args)]
pub(crate) struct CompareArgs {
    sweep: i64,
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    #[arg(long)]
    csv: bool,
    /// Show parameters that are the same in every trial too.
    #[arg(long)]
    all_columns: bool,
    /// Sort by this column (a parameter, a metric, state, duration); default: the point order.
    #[arg(long, value_name = "COLUMN")]
    sort: Option<String>,
    /// Sort descending.
    #[arg(long)]
    desc: bool,
}

fn request(args: SweepArgs) -> Result<SweepRequest> {
    let project = args
        .project
        .ok_or_else(|| Error::Invalid("a sweep needs --project P".into()))?;
    let space = match args.random {
        Some(trials) => Space::Random {
            trials,
            seed: args.seed,
            axes: args
                .space
                .iter()
                .map(|s| s.parse::<RandomAxis>())
                .collect::<Result<_, _>>()?,
        },
        None => Space::Grid {
            axes: args
                .grid
                .iter()
                .map(|g| g.parse::<GridAxis>())
                .collect::<Result<_, _>>()?,
        },
    };
    let metric = args.metric.ok_or_else(|| {
        Error::Invalid(
            "a sweep needs the metric it optimizes: --metric NAME with --minimize or --maximize".into(),
        )
    })?;
    let goal = match (args.minimize, args.maximize) {
        (true, _) => Goal::Minimize,
        (_, true) => Goal::Maximize,
        _ => {
            return Err(Error::Invalid(format!(
                "say whether {metric} is better low or high: --minimize or --maximize"
            )));
        }
    };
    let early_stop = args
        .early_stop
        .as_deref()
        .map(str::parse::<EarlyStop>)
        .transpose()?;
    Ok(SweepRequest {
        job: JobRequest {
            placement: args.job.placement(),
            project,
            machine: args.job.machine,
            image: args.job.image.map_or(ImageSource::Default, ImageSource::Named),
            repo: args.job.repo,
            reference: args.job.reference,
            command: args.command,
            env: args.job.env,
            ports: Vec::new(),
            engine: args.job.engine,
            force: false,
        },
        space,
        metric,
        goal,
        parallel: args.parallel,
        early_stop,
    })
}

pub(crate) async fn sweep(engine: &Engine, args: SweepArgs) -> Result<ExitCode> {
    match args.action {
        Some(SweepAction::Resume { sweep, follow }) => {
            let started = experiments::sweeps::resume(engine, sweep)?;
            report(engine, started, follow).await
        }
        Some(SweepAction::Stop { sweep, grace }) => {
            let grace = Duration::from_secs(grace.unwrap_or(engine.config.stop_grace_secs));
            let stopped = experiments::sweeps::stop(engine, None, sweep, grace).await?;
            eprintln!("sweep {sweep} stopped ({stopped} running trials stopped)");
            Ok(ExitCode::SUCCESS)
        }
        Some(SweepAction::Rm { sweep }) => {
            let jobs = experiments::sweeps::remove(engine, sweep).await?;
            eprintln!("deleted sweep {sweep} and its {jobs} trial jobs");
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let follow = args.follow;
            let request = request(args)?;
            // The sweep is checked on one of its engines; each trial is placed when it starts.
            let runtime = mlbench_engine::engines::runtime_for(
                engine,
                &request.job.engine,
                request.job.machine.as_deref(),
                &mut |notice| eprintln!("mlbench: {notice}"),
            )
            .await?;
            let started =
                experiments::sweeps::start(engine, &runtime, request, &mut |line| eprintln!("{line}"))
                    .await?;
            report(engine, started, follow).await
        }
    }
}

pub(super) async fn report(engine: &Engine, started: SweepStarted, follow: bool) -> Result<ExitCode> {
    let SweepStarted {
        sweep,
        points,
        to_run,
        resumed,
    } = started;
    if resumed {
        eprintln!(
            "sweep {sweep} resumed: {to_run} of its {points} trials run again (the others succeeded, were pruned or still run)"
        );
    } else {
        eprintln!("sweep {sweep} started: {points} trials; `mlbench compare {sweep}` shows them");
    }
    if !follow {
        return Ok(ExitCode::SUCCESS);
    }
    let mut said = std::collections::HashSet::new();
    let mut waiting_said = None;
    loop {
        mlbench_engine::reconcile(&engine.home, &engine.store)?;
        let record = engine.store.sweep(sweep)?;
        let statuses = engine.store.trial_statuses(sweep)?;
        // Why trials wait, as `run -f` says it: each time the reason changes.
        let waiting = statuses
            .iter()
            .filter(|t| t.state == Some(mlbench_domain::JobState::Queued))
            .filter_map(|t| t.job)
            .find_map(|job| Some((job, engine.store.job(job).ok()?.detail?)));
        if let Some((job, why)) = &waiting
            && waiting_said.as_ref() != Some(why)
        {
            eprintln!("waiting: job {job} {why}");
            waiting_said = Some(why.clone());
        }
        for trial in statuses {
            let (Some(job), Some(state)) = (trial.job, trial.state.filter(|s| s.is_final())) else {
                continue;
            };
            if said.insert(job) {
                let params: Vec<String> = trial.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let metric = &record.spec.metric;
                let value = engine
                    .store
                    .metric_summaries(job)?
                    .into_iter()
                    .find(|s| &s.key == metric)
                    .map(|s| format!(", {metric} {}", s.last))
                    .unwrap_or_default();
                eprintln!(
                    "trial {} ({}): job {} {}{value}",
                    trial.point + 1,
                    params.join(" "),
                    job,
                    state
                );
            }
        }
        if record.state() != "running" {
            let comparison = compare(&engine.store, sweep, false)?;
            print_table(&comparison);
            return match record.detail {
                Some(why) => Err(Error::Other(why)),
                None => Ok(ExitCode::SUCCESS),
            };
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub(crate) fn list(engine: &Engine, project: Option<&str>, json: bool) -> Result<()> {
    mlbench_engine::reconcile(&engine.home, &engine.store)?;
    let sweeps = experiments::sweeps::summaries(&engine.store, project)?;
    if json {
        return table::print_json(&sweeps);
    }
    let rows: Vec<Vec<String>> = sweeps
        .iter()
        .map(|s| {
            let best = match (s.best, s.best_value) {
                (Some(job), Some(value)) => format!("{value} (job {job})"),
                _ => "-".into(),
            };
            vec![
                s.sweep.to_string(),
                s.project.clone(),
                s.state.to_string(),
                format!("{}/{}", s.done, s.trials),
                format!("{} ({})", s.metric, s.goal.as_str()),
                best,
                mlbench_domain::job::shell_words(&s.command),
            ]
        })
        .collect();
    table::print(
        &["SWEEP", "PROJECT", "STATE", "DONE", "METRIC", "BEST", "COMMAND"],
        &rows,
    );
    Ok(())
}

pub(crate) fn compare_command(engine: &Engine, args: CompareArgs) -> Result<()> {
    mlbench_engine::reconcile(&engine.home, &engine.store)?;
    let mut comparison = compare(&engine.store, args.sweep, args.all_columns)?;
    if let Some(column) = &args.sort {
        comparison.sort_by(column, args.desc)?;
    }
    if args.json {
        return table::print_json(&comparison);
    }
    if args.csv {
        return print_csv(&comparison);
    }
    print_table(&comparison);
    Ok(())
}

fn print_table(comparison: &Comparison) {
    let columns = comparison.columns();
    let header: Vec<String> = columns.iter().map(|c| c.to_uppercase()).collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = comparison
        .trials
        .iter()
        .map(|row| columns.iter().map(|c| comparison.cell(row, c)).collect())
        .collect();
    table::print(&header, &rows);
}

fn print_csv(comparison: &Comparison) -> Result<()> {
    let columns = comparison.columns();
    let mut out = csv::Writer::from_writer(std::io::stdout().lock());
    let fail = |e: csv::Error| Error::Other(format!("cannot write the CSV: {e}"));
    out.write_record(&columns).map_err(fail)?;
    for row in &comparison.trials {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| comparison.cell(row, c).trim_start_matches("★ ").to_string())
            .collect();
        out.write_record(&cells).map_err(fail)?;
    }
    out.flush().map_err(|e| Error::io("cannot write the CSV", e))
}
