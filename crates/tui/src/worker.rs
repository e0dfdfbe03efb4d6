//! The workbench's one background worker: one thread with one tokio runtime, one [`Engine`] and
//! one runtime client, fed effects over a channel and answering with messages. Each effect is
//! a task on the worker; the log follower is cancelled when the view leaves its job, and
//! requests to refresh coalesce into the next look at the store.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant};

use mlbench_config::keymap::Command;
use mlbench_domain::FromIo;
use mlbench_engine::experiments::curves::{Curves, CurvesOf};
use mlbench_engine::experiments::fit::Fit;
use mlbench_engine::serving::deploy::{self, ModelDeployment, ServingOfJob};
use mlbench_engine::serving::stats::{self, Scrape};
use mlbench_engine::{AnyRuntime, Engine, experiments, jobs, projects, serving, upkeep};
use mlbench_store::Store;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::{Notify, OnceCell};
use tokio::task::{JoinHandle, LocalSet, spawn_local};

use super::app::{Effect, Message, PredictionRow, Progress};
use super::form::FormOptions;
use super::{log_pages, ui};
use crate::{Error, Result};

/// How often the store is looked at when nothing asks for it sooner.
const REFRESH: Duration = Duration::from_millis(500);
/// Metrics are read for the most recent jobs only: enough for every screen, cheap with many.
const METRIC_JOBS: usize = 200;

/// The handle the event loop keeps: effects go in, messages come back on the loop's channel.
pub(crate) struct Worker {
    effects: UnboundedSender<Effect>,
}

impl Worker {
    /// Starts the worker's thread; with `first_start`, it runs the demo too.
    pub(crate) fn start(
        engine: Engine,
        first_start: bool,
        messages: UnboundedSender<Message>,
    ) -> Result<Worker> {
        let (effects, requests) = unbounded_channel();
        std::thread::Builder::new()
            .name("mlbench-worker".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = messages.send(Message::Failed(format!(
                            "the workbench cannot work in the background ({e}): restart mlbench"
                        )));
                        return;
                    }
                };
                let context = Rc::new(Context {
                    engine,
                    runtime: OnceCell::new(),
                    messages,
                    refresh: Notify::new(),
                });
                LocalSet::new().block_on(&runtime, serve(context, first_start, requests));
            })
            .map_err(|e| Error::io("cannot start the workbench's worker", e))?;
        Ok(Worker { effects })
    }

    /// Hands an effect to the worker (a closed worker has already said why).
    pub(crate) fn send(&self, effect: Effect) {
        let _ = self.effects.send(effect);
    }
}

/// What every task on the worker shares.
struct Context {
    engine: Engine,
    /// Chosen on first use and kept: one client for the worker's life.
    runtime: OnceCell<AnyRuntime>,
    messages: UnboundedSender<Message>,
    /// Wakes the refresher early; many wakes before it runs are one look at the store.
    refresh: Notify,
}

impl Context {
    async fn runtime(&self) -> Result<&AnyRuntime> {
        self.runtime
            .get_or_try_init(|| async { AnyRuntime::choose(&self.engine, &mut |_| {}).await })
            .await
    }

    fn send(&self, message: Message) {
        let _ = self.messages.send(message);
    }

    /// A reporter for slow steps: each line moves the status line's progress bar.
    fn progress(&self) -> impl FnMut(&str) + '_ {
        |line: &str| self.send(Message::Progress(Progress::from_line(line)))
    }
}

async fn serve(context: Rc<Context>, first_start: bool, mut requests: UnboundedReceiver<Effect>) {
    spawn_local(refresher(context.clone()));
    spawn_local(traffic_watcher(context.clone()));
    spawn_local(usage_watcher(context.clone()));
    spawn_local(health_watcher(context.clone()));
    let probe = context.clone();
    spawn_local(async move {
        let text = match probe.runtime().await {
            Ok(runtime) => runtime.describe(&probe.engine),
            Err(e) => e.to_string(),
        };
        probe.send(Message::Engine(text));
    });
    if first_start {
        spawn_effect(&context, Effect::RunDemo);
    }
    let mut follower: Option<JoinHandle<()>> = None;
    while let Some(effect) = requests.recv().await {
        match effect {
            Effect::FollowLog {
                job,
                generation,
                filter,
            } => {
                let path = context.engine.home.job_log(job);
                let follow = log_pages::follow(path, generation, filter, context.messages.clone());
                if let Some(old) = follower.replace(spawn_local(follow)) {
                    old.abort();
                }
            }
            Effect::StopFollowing => {
                if let Some(old) = follower.take() {
                    old.abort();
                }
            }
            effect => spawn_effect(&context, effect),
        }
    }
}

/// Runs one effect as its own task; its outcome (or error) becomes a message, and the store is
/// looked at again right after.
fn spawn_effect(context: &Rc<Context>, effect: Effect) {
    let context = context.clone();
    spawn_local(async move {
        let message = run_effect(&context, effect)
            .await
            .unwrap_or_else(|e| Message::Failed(mlbench_domain::error::one_line(&e.to_string())));
        context.send(message);
        context.refresh.notify_one();
    });
}

/// Lines of a failed job's log its details show.
const FAILURE_TAIL: usize = 10;

async fn run_effect(context: &Context, effect: Effect) -> Result<Message> {
    let engine = &context.engine;
    let grace = Duration::from_secs(engine.config.stop_grace_secs);
    Ok(match effect {
        Effect::Stop(job) => {
            let state = mlbench_engine::stop(engine, context.runtime.get(), job, grace).await?;
            Message::Done(format!("job {job} {state}"))
        }
        Effect::Rerun(job) => {
            let runtime = context.runtime().await?;
            let submitted = jobs::rerun(engine, runtime, job, &mut |_| {}).await?;
            Message::Done(format!("job {} submitted (a re-run of job {job})", submitted.job))
        }
        Effect::RunDemo => {
            let spec = experiments::demo::prepare(engine)?;
            let runtime = context.runtime().await?;
            // The runtime image is built on first use: its steps move the progress bar.
            let submitted = mlbench_engine::submit(engine, runtime, spec, &mut context.progress()).await;
            context.send(Message::Progress(None));
            let job = submitted?.job;
            // The iris sweep is cheap (six small trees, one after another beside the salary
            // job), so it runs too: the compare screen has something to show at once.
            let iris = experiments::demo::prepare_iris(engine)?;
            let sweep = experiments::sweeps::start(engine, runtime, iris, &mut |_| {})
                .await?
                .sweep;
            // The salary job is selected, though the iris project sorts first.
            context.send(Message::Submitted(job));
            Message::Done(format!(
                "welcome: demo job {job} trains the salary model ({} shows its log); sweep {sweep} tries 6 tree depths on iris",
                engine.config.keys.key_of(Command::Open)
            ))
        }
        Effect::LoadChart(job) => match Fit::load(engine, job, None, None).await {
            Ok(fit) => Message::Chart(Box::new(fit)),
            // No fit to draw (not the built-in trainer's job): its metric curves, if any.
            Err(no_fit) => match Curves::load(&engine.store, CurvesOf::Job(job)) {
                Ok(curves) => Message::Curves {
                    curves,
                    reload: false,
                },
                Err(_) => return Err(no_fit),
            },
        },
        Effect::LoadCurves { of, reload } => Message::Curves {
            curves: Curves::load(&engine.store, of)?,
            reload,
        },
        Effect::ExportCurves { of, metric } => {
            let name = match of {
                CurvesOf::Job(job) => format!("curves-job{job}-{metric}.png"),
                CurvesOf::Sweep(sweep) => format!("curves-sweep{sweep}-{metric}.png"),
            };
            let name = name.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '.', "_");
            let path = engine.export_path(std::path::Path::new(&name))?;
            Curves::load(&engine.store, of)?.write_png(&metric, &path)?;
            Message::Done(format!("wrote {}", path.display()))
        }
        Effect::LoadCompare {
            sweep,
            all_columns,
            reload,
        } => Message::Comparison {
            comparison: experiments::compare::compare(&engine.store, sweep, all_columns)?,
            reload,
        },
        Effect::ExportChart(job, view) => {
            let path = engine.export_path(std::path::Path::new(&format!("fit-job{job}.png")))?;
            Fit::load(engine, job, None, None).await?.write_png(view, &path)?;
            Message::Done(format!("wrote {}", path.display()))
        }
        Effect::ToggleServing(job) => match deploy::serving_of_job(engine, job)? {
            ServingOfJob::NeedsPort {
                project,
                model,
                engine: on,
            } => Message::AskPort {
                project,
                model,
                engine: on,
            },
            ServingOfJob::Running { name } => Message::ConfirmStopServing(name),
        },
        Effect::StopServing(name) => {
            deploy::stop_deployment(engine, context.runtime.get(), &name, grace).await?;
            Message::Done(format!("stopped serving {name}"))
        }
        Effect::StopSweep(sweep) => {
            let stopped = experiments::sweeps::stop(engine, context.runtime.get(), sweep, grace).await?;
            Message::Done(format!(
                "sweep {sweep} stopped ({stopped} running trials stopped)"
            ))
        }
        Effect::DeleteSweep(sweep) => {
            let jobs = experiments::sweeps::remove(engine, sweep).await?;
            Message::Done(format!("deleted sweep {sweep} and its {jobs} trial jobs"))
        }
        Effect::Deploy {
            project,
            model,
            engine: on,
            port,
        } => {
            let mut remote = None;
            let runtime = runtime_for(context, &on, None, &mut remote).await?;
            let request = ModelDeployment::single(project, model, port);
            let (name, replicas) = deploy::deploy_model(engine, runtime, request, &mut |_| {}).await?;
            let url = replicas.first().map(|r| r.url.clone()).unwrap_or_default();
            Message::Done(format!(
                "serving {name} at {url}: {} asks it",
                engine.config.keys.key_of(Command::Predict)
            ))
        }
        Effect::CompleteRepo(typed) => {
            let completion = crate::form::complete_folder(&typed);
            Message::RepoCompleted { typed, completion }
        }
        Effect::LoadFailureTail(job) => Message::FailureTail(
            job,
            log_pages::last_lines(engine.home.job_log(job), FAILURE_TAIL).await?,
        ),
        Effect::DescribeModel { project, url } => Message::AskPredict {
            model: serving::client::describe(&url).await?,
            project,
            url,
        },
        Effect::Predict {
            project,
            url,
            model,
            input,
        } => {
            // A refusal (ours or the server's) stays in the prompt's history, beside the answers.
            let refused = |why: String| PredictionRow {
                project: project.clone(),
                input: input.clone(),
                output: Err(why),
                point: None,
                latency_ms: 0.0,
            };
            let rows = match model.rows(std::slice::from_ref(&input)) {
                Ok(rows) => rows,
                Err(e) => return Ok(Message::Prediction(refused(e.to_string()))),
            };
            let mut answers = Vec::new();
            for row in rows {
                let shown = row.iter().map(|v| ui::compact(*v)).collect::<Vec<_>>().join(" ");
                let message = match serving::client::predict(&url, &model, &row).await {
                    Ok(answer) => Message::Prediction(PredictionRow {
                        project: project.clone(),
                        input: shown,
                        output: Ok(answer.shown()),
                        point: match row.as_slice() {
                            [x] => answer.number().map(|y| (*x, y)),
                            _ => None,
                        },
                        latency_ms: answer.latency_ms,
                    }),
                    Err(e) => Message::Prediction(refused(e.to_string())),
                };
                answers.push(message);
            }
            // Each answer is listed as it came; the last is this effect's own message.
            let last = answers.pop();
            for answer in answers {
                context.send(answer);
            }
            last.unwrap_or_else(|| Message::Prediction(refused("nothing to ask".into())))
        }
        Effect::OpenForm(project) => {
            let runtime = context.runtime().await?;
            let choices = jobs::choices::job_choices(engine, runtime, &project).await?;
            Message::FormOptions(Box::new(FormOptions::new(project, choices)))
        }
        Effect::Submit(request) => {
            let mut remote = None;
            let placed = runtime_for(context, &request.engine, request.machine.as_deref(), &mut remote).await;
            let submitted = match placed {
                Ok(runtime) => jobs::run(engine, runtime, request, &mut context.progress()).await,
                Err(err) => Err(err),
            };
            context.send(Message::Progress(None));
            match submitted {
                Ok(submitted) => Message::Submitted(submitted.job),
                Err(err) => match err.field_name() {
                    Some(field) => Message::Refused {
                        field,
                        text: err.to_string(),
                    },
                    None => return Err(err),
                },
            }
        }
        Effect::StartSweep(request) => {
            let mut remote = None;
            let placed = runtime_for(
                context,
                &request.job.engine,
                request.job.machine.as_deref(),
                &mut remote,
            )
            .await;
            let started = match placed {
                Ok(runtime) => {
                    experiments::sweeps::start(engine, runtime, *request, &mut context.progress()).await
                }
                Err(err) => Err(err),
            };
            context.send(Message::Progress(None));
            match started {
                Ok(started) => {
                    let said = if started.resumed {
                        format!(
                            "sweep {} resumed: {} of its {} trials run again",
                            started.sweep, started.to_run, started.points
                        )
                    } else {
                        format!(
                            "sweep {} started: {} trials ({} compares them)",
                            started.sweep,
                            started.points,
                            engine.config.keys.key_of(Command::Compare)
                        )
                    };
                    Message::SweepStarted(started.sweep, said)
                }
                Err(err) => match err.field_name() {
                    Some(field) => Message::Refused {
                        field,
                        text: err.to_string(),
                    },
                    None => return Err(err),
                },
            }
        }
        // Handled by the loop (mouse) or by `serve` (the follower).
        Effect::LoadLog {
            job,
            generation,
            filter,
            page,
        } => {
            let (lines, at_end) = log_pages::page(engine.home.job_log(job), page, filter).await?;
            Message::LogPage {
                generation,
                page,
                lines,
                at_end,
            }
        }
        Effect::LoadStorage {
            project,
            engine: on,
            folder,
            select,
        } => Message::Storage {
            folder: projects::storage::list_folder(engine, &project, &on, folder.as_deref()).await?,
            project,
            engine: on,
            select,
        },
        Effect::PreviewStorage {
            project,
            engine: on,
            path,
        } => Message::StoragePreview(projects::storage::preview(engine, &project, &on, &path).await?),
        Effect::CopyOutStorage {
            project,
            engine: on,
            path,
        } => {
            let name = std::path::Path::new(&path)
                .file_name()
                .map_or_else(|| std::path::PathBuf::from(&project), std::path::PathBuf::from);
            let dest = engine.export_path(&name)?;
            let (dest, skipped) = projects::storage::get(engine, &project, &on, &path, Some(dest)).await?;
            let left_out = if skipped.is_empty() {
                String::new()
            } else {
                format!(" ({} link(s) or special file(s) left out)", skipped.len())
            };
            Message::Done(format!("copied {path} to {}{left_out}", dest.display()))
        }
        Effect::CreateProject(name) => {
            projects::create(engine, &name)?;
            Message::ProjectCreated(name)
        }
        Effect::DeleteProject(name) => {
            let removed = projects::remove(engine, &name).await?;
            Message::Done(format!(
                "deleted project {name}: {} job(s), {} freed",
                removed.jobs,
                mlbench_domain::machine::format_bytes(removed.bytes)
            ))
        }
        Effect::DeleteJob(job) => {
            jobs::remove_finished(engine, &[job]).await?;
            Message::Done(format!("deleted job {job} with its log"))
        }
        Effect::SaveLog { job, filter, path } => {
            let path = engine.export_path(&path)?;
            Message::Done(log_pages::save(engine.home.job_log(job), filter, path).await?)
        }
        Effect::None
        | Effect::Mouse(_)
        | Effect::Copy(_)
        | Effect::Shell(_)
        | Effect::FollowLog { .. }
        | Effect::StopFollowing => {
            return Err(Error::Other("an effect reached the wrong handler".into()));
        }
    })
}

/// The runtime for a job asking for the engine `request` (a name, `auto`, names with commas):
/// the workbench's own for `local`; else placed for `machine` and connected now, kept in `slot`.
async fn runtime_for<'a>(
    context: &'a Context,
    request: &str,
    machine: Option<&str>,
    slot: &'a mut Option<AnyRuntime>,
) -> Result<&'a AnyRuntime> {
    if request == mlbench_domain::LOCAL_ENGINE {
        return context.runtime().await;
    }
    let runtime =
        mlbench_engine::engines::runtime_for(&context.engine, request, machine, &mut |_| {}).await?;
    Ok(slot.insert(runtime))
}

/// Looks at the store every half second or when woken (reconciling first, so jobs left by an
/// earlier mlbench are followed again) and sends what it holds when a commit changed it. The
/// very first look sends the newest jobs and the live ones at once, then everything.
async fn refresher(context: Rc<Context>) {
    let (engine, mut seen) = (&context.engine, None);
    let mut disk_full = None;
    match first_look(&engine.store) {
        Ok(message) => context.send(message),
        Err(e) => context.send(Message::Failed(e.to_string())),
    }
    for round in 0u64.. {
        if let Err(e) = mlbench_engine::reconcile(&engine.home, &engine.store) {
            context.send(Message::Failed(e.to_string()));
        }
        // Reading everything only when a commit happened keeps an idle workbench idle.
        let version = engine.store.data_version().ok();
        if version.is_none() || version != seen {
            seen = version;
            context.send(snapshot(&engine.store).unwrap_or_else(|e| Message::Failed(e.to_string())));
        } else if round % 10 == 0 {
            // Ages move on even when nothing else does.
            context.send(Message::Tick);
        }
        // A full disk holds running jobs' logs back, and their supervisors may not be able
        // to say so in the store: the workbench looks for itself.
        if round % 4 == 0 {
            let now = upkeep::full_disk(engine);
            if now != disk_full {
                disk_full.clone_from(&now);
                context.send(Message::DiskFull(now));
            }
        }
        if context.messages.is_closed() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(REFRESH) => {}
            // An effect ran: its own commits do not move this connection's data_version, so
            // the store is read regardless.
            () = context.refresh.notified() => seen = None,
        }
    }
}

/// How often running deployments' `/metrics` are scraped for the serving panel.
const TRAFFIC: Duration = Duration::from_secs(1);

/// Scrapes every running deployment of mlbench's server each [`TRAFFIC`] and sends the rates
/// since the scrape before. With nothing served, it only reads the store.
async fn traffic_watcher(context: Rc<Context>) {
    let mut before: HashMap<String, (Scrape, Instant)> = HashMap::new();
    loop {
        tokio::time::sleep(TRAFFIC).await;
        if context.messages.is_closed() {
            return;
        }
        let Ok(live) = context.engine.store.live_jobs() else {
            continue;
        };
        let deployments = stats::served_deployments(&live);
        if deployments.is_empty() && before.is_empty() {
            continue;
        }
        let mut now = HashMap::new();
        let mut rates = BTreeMap::new();
        for (name, replicas) in deployments {
            let Some(scrape) = stats::scrape_replicas(&replicas).await else {
                continue;
            };
            let at = Instant::now();
            if let Some((earlier, then)) = before.get(&name) {
                let seconds = at.duration_since(*then).as_secs_f64();
                rates.insert(name.clone(), stats::rate(earlier, &scrape, seconds));
            }
            now.insert(name, (scrape, at));
        }
        before = now;
        context.send(Message::Traffic(rates));
    }
}

/// How often running jobs' CPU and memory are read.
const USAGE: Duration = Duration::from_secs(1);

/// Reads every running job's CPU and memory each [`USAGE`] and sends them. With nothing
/// running, it only reads the store.
async fn usage_watcher(context: Rc<Context>) {
    let mut watch = jobs::usage::UsageWatch::default();
    let mut any_before = false;
    loop {
        tokio::time::sleep(USAGE).await;
        if context.messages.is_closed() {
            return;
        }
        let docker = match context.runtime().await {
            Ok(AnyRuntime::Docker(docker)) => Some(docker),
            _ => None,
        };
        let Ok(round) = watch.read(&context.engine, docker).await else {
            continue;
        };
        // An empty round is sent once, so the last job's gauges leave with it.
        if !round.is_empty() || any_before {
            any_before = !round.is_empty();
            context.send(Message::Usage(round));
        }
    }
}

/// How often doctor's checks run again (the home's disk use grows as jobs run).
const HEALTH: Duration = Duration::from_secs(300);

/// Runs doctor's checks (all but the terminal's: the workbench is drawing in it) a second after
/// the start and every [`HEALTH`], and sends the first failure's line, or `None` once all is well again.
async fn health_watcher(context: Rc<Context>) {
    // The first frame and the first look at the store come first.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut last = None;
    loop {
        // The checks walk the home and wait on the engine: on a thread of their own, so the
        // worker's refreshes never wait behind them.
        let findings = tokio::task::spawn_blocking(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            Some(runtime.block_on(upkeep::doctor::diagnose()))
        })
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
        let first_failure = findings
            .iter()
            .find(|f| f.status == upkeep::doctor::Status::Fail)
            .map(upkeep::doctor::Finding::line);
        if first_failure != last {
            last.clone_from(&first_failure);
            context.send(Message::Health(first_failure));
        }
        tokio::time::sleep(HEALTH).await;
        if context.messages.is_closed() {
            return;
        }
    }
}

/// Jobs in the first look: more than any screen shows at once.
const FIRST_LOOK_JOBS: usize = 1_000;

/// A quick first snapshot of a long history: what a first frame shows, before all of it is read.
fn first_look(store: &Store) -> Result<Message> {
    snapshot_of(store, store.recent_jobs(FIRST_LOOK_JOBS)?)
}

fn snapshot(store: &Store) -> Result<Message> {
    snapshot_of(store, store.jobs(None)?)
}

fn snapshot_of(store: &Store, jobs: Vec<mlbench_store::JobRecord>) -> Result<Message> {
    let projects = store.projects()?;
    let last = jobs.last().map_or(0, |j| j.id);
    let first = jobs
        .get(jobs.len().saturating_sub(METRIC_JOBS))
        .map_or(0, |j| j.id);
    let metrics = store.metric_summaries_from(first, last)?;
    let sweeps = experiments::sweeps::summaries(store, None)?;
    Ok(Message::Snapshot {
        projects,
        jobs,
        metrics,
        sweeps,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Instant;

    use tokio::sync::mpsc::UnboundedReceiver;

    use super::*;
    use mlbench_config::Config;
    use mlbench_store::home::Home;

    /// Messages until `want` matches one, or none within `wait`.
    fn wait_for(
        messages: &mut UnboundedReceiver<Message>,
        wait: Duration,
        want: impl Fn(&Message) -> bool,
    ) -> Option<Message> {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            match messages.try_recv() {
                Ok(message) if want(&message) => return Some(message),
                Ok(_) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        None
    }

    fn append(path: &std::path::Path, text: &str) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(file, "2026-11-23T12:00:00.000000000Z o {text}").unwrap();
    }

    #[test]
    fn the_worker_refreshes_follows_a_log_and_stops_following_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().to_path_buf()).unwrap();
        let engine = Engine {
            store: Store::open(&home).unwrap(),
            config: Config::parse("").unwrap(),
            home: home.clone(),
        };
        let (tx, mut messages) = unbounded_channel();
        let worker = Worker::start(engine, false, tx).unwrap();
        let snapshot = wait_for(&mut messages, Duration::from_secs(5), |m| {
            matches!(m, Message::Snapshot { .. })
        });
        assert!(snapshot.is_some(), "no snapshot of the store");

        std::fs::create_dir_all(home.job_dir(1)).unwrap();
        let log = home.job_log(1);
        append(&log, "first");
        worker.send(Effect::FollowLog {
            job: 1,
            generation: 7,
            filter: None,
        });
        let lines = wait_for(&mut messages, Duration::from_secs(5), |m| {
            matches!(m, Message::LogLines { .. })
        });
        let Some(Message::LogLines { generation, lines }) = lines else {
            panic!("no log lines");
        };
        assert_eq!((generation, lines[0].text.as_str()), (7, "first"));

        worker.send(Effect::StopFollowing);
        std::thread::sleep(Duration::from_millis(200));
        append(&log, "after the view closed");
        let late = wait_for(&mut messages, Duration::from_millis(500), |m| {
            matches!(m, Message::LogLines { .. })
        });
        assert!(late.is_none(), "a cancelled follower still sent {late:?}");
    }
}
