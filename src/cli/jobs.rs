//! `mlbench run`, `jobs`, `logs`, `stop` and `demo`.

use std::process::ExitCode;
use std::time::Duration;

use mlbench_domain::JobState;
use mlbench_engine::jobs::{ImageSource, JobRequest};
use mlbench_engine::{AnyRuntime, Engine, Submitted, experiments, jobs};
use mlbench_store::JobRecord;

use super::follow::{Backoff, FollowEnd, LogPrint, print_log};
use super::{RunArgs, table};
use crate::{Error, Result};

pub(crate) async fn run(engine: &Engine, args: RunArgs) -> Result<ExitCode> {
    let job = args.job;
    let placement = job.placement();
    let image = match (job.image, args.dockerfile) {
        (tag, Some(dockerfile)) => ImageSource::Build { dockerfile, tag },
        (Some(name), None) => ImageSource::Named(name),
        (None, None) => ImageSource::Default,
    };
    let request = JobRequest {
        project: args.project,
        machine: job.machine,
        image,
        repo: job.repo,
        reference: job.reference,
        command: args.command,
        env: job.env,
        ports: args.ports,
        placement,
        engine: job.engine,
        force: args.force,
    };
    let runtime = mlbench_engine::engines::runtime_for(
        engine,
        &request.engine,
        request.machine.as_deref(),
        &mut |notice| eprintln!("mlbench: {notice}"),
    )
    .await?;
    let submitted = jobs::run(engine, &runtime, request, &mut super::shown::say).await?;
    let follow = args
        .follow
        .then(|| LogPrint::notes_for_terminal(false, args.notes));
    report(engine, submitted, follow).await
}

async fn choose_runtime(engine: &Engine) -> Result<AnyRuntime> {
    AnyRuntime::choose(engine, &mut |notice| eprintln!("mlbench: {notice}")).await
}

/// Says what became of a submitted job; with `follow`, follows it to its end.
async fn report(engine: &Engine, submitted: Submitted, follow: Option<LogPrint>) -> Result<ExitCode> {
    let job = submitted.job;
    let commit = submitted
        .commit
        .map(|c| format!(", commit {}", &c[..c.len().min(12)]))
        .unwrap_or_default();
    eprintln!("job {job} submitted{commit}");
    if let Some(printer) = follow {
        // The log says, in order, what happens: an image build, a wait in the queue, where it
        // started, then the program's output.
        return follow_to_exit(engine, job, printer).await;
    }
    let record = wait_until_started(engine, job).await?;
    match record.state {
        JobState::Queued => eprintln!("job {job} queued: {}", record.detail.unwrap_or_default()),
        JobState::Failed if record.handle.is_none() => {
            return Err(Error::Other(format!(
                "job {job} failed before its command ran: {}",
                record.detail.unwrap_or_default()
            )));
        }
        state => eprintln!("job {job} {state}{}", handle_note(&record)),
    }
    println!("{job}");
    Ok(ExitCode::SUCCESS)
}

fn handle_note(record: &JobRecord) -> String {
    match (&record.handle, record.runtime) {
        (Some(h), mlbench_domain::RuntimeKind::Docker) => {
            format!(" in container {}", &h[..h.len().min(12)])
        }
        (Some(h), mlbench_domain::RuntimeKind::Local) => format!(" as process {h}"),
        (Some(h), mlbench_domain::RuntimeKind::Swarm) => match &record.node {
            Some(node) => format!(" as service {} on node {node}", &h[..h.len().min(12)]),
            None => format!(" as service {}", &h[..h.len().min(12)]),
        },
        (None, _) => String::new(),
    }
}

/// Waits while the job is being prepared (image builds can take a while); a job waiting for
/// capacity is reported at once.
async fn wait_until_started(engine: &Engine, job: i64) -> Result<JobRecord> {
    let mut poll = Backoff::default();
    loop {
        let record = engine.store.job(job)?;
        let waiting = record.state == JobState::Queued && record.detail.is_some();
        if waiting || !matches!(record.state, JobState::Queued | JobState::Preparing) {
            return Ok(record);
        }
        tokio::time::sleep(poll.next(false)).await;
    }
}

/// Follows the job's output to its end; the exit code is the job's, as with `docker run`.
async fn follow_to_exit(engine: &Engine, job: i64, printer: LogPrint) -> Result<ExitCode> {
    match print_log(engine, job, true, None, printer).await? {
        FollowEnd::Detached => {
            eprintln!("detached: job {job} keeps running; follow it again with `mlbench logs -f {job}`");
            Ok(ExitCode::from(130))
        }
        FollowEnd::JobEnded => {
            let record = engine.store.job(job)?;
            let detail = record
                .detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            eprintln!("job {job} {}{}{detail}", record.state, exit_note(&record));
            let code = match record.state {
                JobState::Succeeded => 0,
                _ => record
                    .exit_code
                    .and_then(|c| u8::try_from(c).ok())
                    .filter(|c| *c != 0)
                    .unwrap_or(1),
            };
            Ok(ExitCode::from(code))
        }
    }
}

fn exit_note(record: &JobRecord) -> String {
    record
        .exit_code
        .map(|c| format!(" (exit code {c})"))
        .unwrap_or_default()
}

pub(crate) fn list(engine: &Engine, project: Option<&str>, json: bool) -> Result<()> {
    mlbench_engine::reconcile(&engine.home, &engine.store)?;
    let jobs = engine.store.jobs(project)?;
    // Said here too: with no room at all, the supervisors cannot say it in the jobs' rows.
    if jobs.iter().any(|j| !j.state.is_final())
        && let Some(full) = mlbench_engine::upkeep::full_disk(engine)
    {
        eprintln!("mlbench: {full}");
    }
    if json {
        return table::print_json(&jobs);
    }
    // A NODE column only where jobs ran on a cluster.
    let on_nodes = jobs.iter().any(|j| j.node.is_some());
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            let age = mlbench_domain::timefmt::secs_between(&j.created_at, None)
                .map(mlbench_domain::timefmt::short_duration)
                .unwrap_or_default();
            let ran = j
                .started_at
                .as_deref()
                .and_then(|s| mlbench_domain::timefmt::secs_between(s, j.finished_at.as_deref()))
                .map(mlbench_domain::timefmt::short_duration)
                .unwrap_or_default();
            let mut row = vec![
                j.id.to_string(),
                j.spec.project.clone(),
                j.state_shown(),
                j.spec.machine.clone(),
            ];
            if on_nodes {
                row.push(j.node.clone().unwrap_or_else(|| "-".into()));
            }
            row.extend([
                j.spec.image.clone(),
                age,
                ran,
                j.exit_code.map(|c| c.to_string()).unwrap_or_default(),
                j.spec.command_text(),
            ]);
            row
        })
        .collect();
    let mut header = vec!["ID", "PROJECT", "STATE", "MACHINE"];
    if on_nodes {
        header.push("NODE");
    }
    header.extend(["IMAGE", "AGE", "RAN", "EXIT", "COMMAND"]);
    table::print(&header, &rows);
    Ok(())
}

pub(crate) async fn logs(
    engine: &Engine,
    job: i64,
    follow: bool,
    tail: Option<usize>,
    printer: LogPrint,
) -> Result<()> {
    if let Some(at) = engine.store.job(job)?.cleaned_at {
        return Err(Error::NotFound(format!(
            "job {job}'s log was removed by `mlbench gc` at {at}; its metrics are kept: `mlbench metrics {job}`"
        )));
    }
    mlbench_engine::reconcile(&engine.home, &engine.store)?;
    if let FollowEnd::Detached = print_log(engine, job, follow, tail, printer).await? {
        eprintln!("detached: job {job} keeps running; follow it again with `mlbench logs -f {job}`");
    }
    Ok(())
}

/// Runs a command (default: the configured shell) in a running job on this terminal; exits
/// with the command's code.
pub(crate) async fn exec(engine: &Engine, job: i64, command: Vec<String>) -> Result<ExitCode> {
    use std::io::IsTerminal;
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let size = if tty {
        crossterm::terminal::size().ok()
    } else {
        None
    };
    let code = jobs::exec::exec(engine, job, Some(command), tty, size).await?;
    Ok(ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1)))
}

/// Deletes finished jobs with their logs and workspaces: all of them, or (a live one among
/// them) none.
pub(crate) async fn remove(engine: &Engine, ids: &[i64]) -> Result<()> {
    jobs::remove_finished(engine, ids).await?;
    let listed: Vec<String> = ids.iter().map(ToString::to_string).collect();
    println!("deleted job(s) {} with their logs", listed.join(", "));
    Ok(())
}

pub(crate) async fn stop(engine: &Engine, job: i64, grace: Option<u64>) -> Result<()> {
    let grace = Duration::from_secs(grace.unwrap_or(engine.config.stop_grace_secs));
    let before = engine.store.job(job)?.state;
    let state = mlbench_engine::stop(engine, None, job, grace).await?;
    if before.is_final() {
        println!("job {job} had already ended: {state}");
    } else {
        println!("job {job} {state}");
    }
    Ok(())
}

/// The salary example (project `salary`, the tutorial's data, the built-in trainer), or the
/// iris sweep (project `iris`, the tree trainer over `max_depth=1..6`).
pub(crate) async fn demo(engine: &Engine, which: DemoName, detach: bool) -> Result<ExitCode> {
    let runtime = choose_runtime(engine).await?;
    match which {
        DemoName::Salary => {
            let spec = experiments::demo::prepare(engine)?;
            let submitted = mlbench_engine::submit(engine, &runtime, spec, &mut super::shown::say).await?;
            let follow = (!detach).then(|| LogPrint::notes_for_terminal(false, false));
            report(engine, submitted, follow).await
        }
        DemoName::Iris => {
            let request = experiments::demo::prepare_iris(engine)?;
            let started =
                experiments::sweeps::start(engine, &runtime, request, &mut super::shown::say).await?;
            super::sweeps::report(engine, started, !detach).await
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum DemoName {
    Salary,
    Iris,
}
