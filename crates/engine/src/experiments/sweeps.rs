//! Sweeps as use cases: start one from a request (running the same spec again resumes it),
//! resume, stop, and the driver that runs a sweep's trials. The driver is a detached process
//! (`mlbench __drive-sweep`) like a job's supervisor: it submits trials as `--parallel` and the
//! capacity queue allow, prunes by the median rule, and marks the sweep finished.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use mlbench_domain::sweep::{EarlyStop, Goal, Space, SweepSpec};
use mlbench_domain::{Capacity, JobState, MachineType, RuntimeKind, Source};
use mlbench_runtime::Runtime;
use mlbench_store::{Store, TrialOf, TrialStatus};
use serde::Serialize;

use crate::engines::placement::{self, Choice};
use crate::experiments::compare::compare;
use crate::jobs::reconcile::{acquire_driver_lock, spawn_driver};
use crate::jobs::submit::{preflight, submit_as};
use crate::jobs::supervisor::note;
use crate::jobs::{ImageSource, JobRequest};
use crate::{AnyRuntime, Engine, Error, Result};

/// A sweep as a user asks for it: a job request whose command and env values hold `{NAME}`
/// placeholders, the parameter space, and how trials are judged and scheduled.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepRequest {
    pub job: JobRequest,
    pub space: Space,
    pub metric: String,
    pub goal: Goal,
    pub parallel: Option<usize>,
    pub early_stop: Option<EarlyStop>,
}

/// What starting (or resuming) a sweep did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepStarted {
    pub sweep: i64,
    pub points: usize,
    /// Points that will run now (all, for a new sweep).
    pub to_run: usize,
    /// The same spec had run before: only its points that did not succeed run again.
    pub resumed: bool,
}

/// Checks the request whole, stores the sweep (or finds the same one), and starts its driver.
pub fn start<'a>(
    engine: &'a Engine,
    runtime: &'a AnyRuntime,
    request: SweepRequest,
    progress: &'a mut dyn FnMut(&str),
) -> LocalBoxFuture<'a, Result<SweepStarted>> {
    Box::pin(async move {
        if matches!(
            request.job.image,
            ImageSource::Pull(_) | ImageSource::Build { .. }
        ) {
            return Err(Error::field(
                "image",
                Error::Invalid(
                    "a sweep runs an image the engine has: build or pull it first (`mlbench images`)".into(),
                ),
            ));
        }
        let base = request.job.spec(engine)?;
        if !base.ports.is_empty() {
            return Err(Error::field(
                "ports",
                Error::Invalid("a sweep's trials run side by side, so they cannot map host ports".into()),
            ));
        }
        if let Source::Folder { path } = &base.source
            && !path.is_dir()
        {
            return Err(Error::field(
                "repo",
                Error::NotFound(format!(
                    "{} is not a folder: give the code's folder or a git URL",
                    path.display()
                )),
            ));
        }
        if request.parallel == Some(0) {
            return Err(Error::field(
                "parallel",
                Error::Invalid("--parallel must be at least 1".into()),
            ));
        }
        let mut spec = SweepSpec {
            base,
            space: request.space,
            metric: request.metric,
            goal: request.goal,
            parallel: request.parallel,
            early_stop: request.early_stop,
        };
        let points = spec.validate().map_err(|e| Error::field("parameters", e))?;
        preflight(engine, runtime, &mut spec.base, &mut *progress).await?;
        if let Some(asked) = spec.parallel {
            let machine = engine.config.machine(&spec.base.machine)?;
            let host = crate::with_runtime!(runtime, rt => rt.capacity().await)?;
            let fit = default_parallel(machine, &host);
            if asked > fit {
                progress(&format!(
                    "--parallel {asked}: {fit} trial(s) of machine type {} fit at once, so {fit} run at once (a waiting trial would hold a process for nothing)",
                    machine.name
                ));
            }
        }
        if let Some(existing) = engine.store.find_sweep(&spec)? {
            return resume(engine, existing);
        }
        let sweep = engine.store.insert_sweep(&spec, runtime.kind(), &points)?;
        spawn_driver(&engine.home, sweep)?;
        Ok(SweepStarted {
            sweep,
            points: points.len(),
            to_run: points.len(),
            resumed: false,
        })
    })
}

/// A point a resume runs again: never started, or its latest job ended without success and
/// was not pruned (a pruned trial was judged, not lost).
fn needs_rerun(trial: &TrialStatus) -> bool {
    trial.state.is_none_or(|state| {
        matches!(
            state,
            JobState::Failed | JobState::Lost | JobState::Stopped | JobState::OomKilled
        )
    })
}

/// The jobs of the sweep's points that have not ended.
fn live_jobs(trials: &[TrialStatus]) -> impl Iterator<Item = i64> + '_ {
    trials
        .iter()
        .filter(|t| t.state.is_some_and(|s| !s.is_final()))
        .filter_map(|t| t.job)
}

/// Runs the sweep's failed, lost, stopped and never-started points again; never one that
/// succeeded, was pruned, or still runs.
pub fn resume(engine: &Engine, sweep: i64) -> Result<SweepStarted> {
    engine.store.sweep(sweep)?;
    let trials = engine.store.trial_statuses(sweep)?;
    let rerun: Vec<usize> = trials
        .iter()
        .filter(|t| needs_rerun(t))
        .map(|t| t.point)
        .collect();
    engine.store.reopen_sweep(sweep, &rerun)?;
    if acquire_driver_lock(&engine.home, sweep)?.is_some() {
        spawn_driver(&engine.home, sweep)?;
    }
    Ok(SweepStarted {
        sweep,
        points: trials.len(),
        to_run: rerun.len(),
        resumed: true,
    })
}

/// Stops the sweep: no trial starts any more, and the running ones are stopped. Returns how
/// many trials were stopped.
pub fn stop<'a>(
    engine: &'a Engine,
    known: Option<&'a AnyRuntime>,
    sweep: i64,
    grace: Duration,
) -> LocalBoxFuture<'a, Result<usize>> {
    Box::pin(async move {
        engine.store.sweep(sweep)?;
        engine.store.request_sweep_stop(sweep, None)?;
        // A driver in the middle of a submit finishes it and then sees the stop: wait for it to let
        // go, so no trial starts after the live ones are listed below.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while acquire_driver_lock(&engine.home, sweep)?.is_none() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let live: Vec<i64> = live_jobs(&engine.store.trial_statuses(sweep)?).collect();
        let stops = live.iter().map(|job| crate::stop(engine, known, *job, grace));
        for outcome in futures_util::future::join_all(stops).await {
            outcome?;
        }
        Ok(live.len())
    })
}

/// Deletes a stopped or finished sweep whole: its trials' jobs' folders and its own first, then
/// its record and its jobs' rows. Returns how many jobs went.
pub fn remove(engine: &Engine, sweep: i64) -> LocalBoxFuture<'_, Result<usize>> {
    Box::pin(async move {
        if engine.store.sweep(sweep)?.state() == "running" {
            return Err(Error::Invalid(format!(
                "sweep {sweep} is running: stop it first with `mlbench sweep stop {sweep}`"
            )));
        }
        // Held to the end: a driver still holding the sweep could start a trial after the check
        // below, and none can start while this is held.
        let Some(_driver) = acquire_driver_lock(&engine.home, sweep)? else {
            return Err(Error::Invalid(format!(
                "sweep {sweep} is still being driven: stop it first with `mlbench sweep stop {sweep}`"
            )));
        };
        for job in engine.store.removable_sweep(sweep)? {
            crate::disk::remove_job_files(engine, &engine.home.job_dir(job)).await?;
        }
        crate::disk::remove_folder(&engine.home.sweep_dir(sweep))?;
        Ok(engine.store.delete_sweep(sweep)?.len())
    })
}

/// Trials at once when the sweep does not say, and the most when it does: as many of its
/// machine type as fit the host.
fn default_parallel(machine: &MachineType, host: &Capacity) -> usize {
    let mut fit = (host.cpus / machine.cpus.max(1e-9)).floor() as usize;
    if let Some(n) = host.memory_bytes.checked_div(machine.memory_bytes) {
        fit = fit.min(n as usize);
    }
    if let Some(n) = host.gpus.checked_div(machine.gpus) {
        fit = fit.min(n as usize);
    }
    fit.max(1)
}

/// How often a slot looks whether its trial has ended: the next one starts this soon after.
const SLOT_POLL: Duration = Duration::from_millis(20);
/// How often the driver looks whether the sweep was stopped, and judges running trials.
const WATCH_TICK: Duration = Duration::from_millis(200);

/// Runs the sweep until every point has run or it is stopped. Holds the sweep's driver lock
/// (a second driver returns at once). `--parallel` slots each run one trial after another, so
/// a trial starts as soon as one ends; a watcher beside them sees a stop and prunes.
pub fn drive<'a>(engine: &'a Engine, sweep: i64) -> LocalBoxFuture<'a, Result<()>> {
    Box::pin(async move {
        let Some(_lock) = acquire_driver_lock(&engine.home, sweep)? else {
            return Ok(());
        };
        let record = engine.store.sweep(sweep)?;
        let spec = record.spec;
        let engines = TrialEngines::of_sweep(engine, record.runtime, &spec.base.engine).await?;
        // Never more trials in flight than fit: each holds a supervisor process, and one that
        // can only wait for capacity would hold it for nothing (--parallel 1000 made 291).
        let machine = engine.config.machine(&spec.base.machine)?;
        let fit = engines.fit(engine, machine).await?;
        let parallel = spec.parallel.map_or(fit, |asked| asked.min(fit));
        loop {
            let record = engine.store.sweep(sweep)?;
            if record.stop_requested || record.finished_at.is_some() {
                return Ok(());
            }
            let trials = engine.store.trial_statuses(sweep)?;
            let live: Vec<i64> = live_jobs(&trials).collect();
            let queue: VecDeque<TrialStatus> = trials.into_iter().filter(|t| t.job.is_none()).collect();
            // A resume may have opened points since the last look: finished only when none is left.
            if queue.is_empty() && live.is_empty() && engine.store.finish_sweep(sweep)? {
                return Ok(());
            }
            let run = Run {
                engine,
                engines: &engines,
                sweep,
                spec: &spec,
                queue: RefCell::new(queue),
                stopped: Cell::new(false),
                slots_left: Cell::new(parallel),
            };
            // Trials a previous driver left running count against the slots.
            let slots =
                (0..parallel).map(|i| run.slot(live.iter().copied().skip(i).step_by(parallel).collect()));
            let (slots, watched) =
                futures_util::future::join(futures_util::future::join_all(slots), run.watch()).await;
            for outcome in slots {
                outcome?;
            }
            watched?;
            if run.stopped.get() {
                return Ok(());
            }
        }
    })
}

/// The engines a sweep's trials run on: the one it names, or those it lets mlbench pick among
/// (each trial placed when it is submitted, so they spread), with a runtime kept for each.
struct TrialEngines {
    choice: Choice,
    runtimes: RefCell<HashMap<String, Rc<AnyRuntime>>>,
    /// Held from a trial's placement until it is stored, when there is a choice: the next
    /// placement then sees it on its engine (slots placing at once would all pick the same).
    placing: tokio::sync::Mutex<()>,
}

impl TrialEngines {
    async fn of_sweep(engine: &Engine, kind: RuntimeKind, request: &str) -> Result<TrialEngines> {
        let choice = Choice::parse(engine, request)?;
        let runtimes = RefCell::new(HashMap::new());
        if choice == Choice::One(mlbench_domain::LOCAL_ENGINE.into()) {
            // The sweep's own runtime on this machine: its engine, a swarm, or local processes.
            let local = Rc::new(AnyRuntime::of(kind, engine).await?);
            runtimes
                .borrow_mut()
                .insert(mlbench_domain::LOCAL_ENGINE.to_string(), local);
        }
        Ok(TrialEngines {
            choice,
            runtimes,
            placing: tokio::sync::Mutex::new(()),
        })
    }

    fn names(&self) -> Vec<String> {
        match &self.choice {
            Choice::One(name) => vec![name.clone()],
            Choice::Among(names) => names.clone(),
        }
    }

    async fn runtime(&self, engine: &Engine, name: &str) -> Result<Rc<AnyRuntime>> {
        if let Some(runtime) = self.runtimes.borrow().get(name) {
            return Ok(runtime.clone());
        }
        let runtime = Rc::new(AnyRuntime::on_engine(engine, name, &mut |_| {}).await?);
        self.runtimes
            .borrow_mut()
            .insert(name.to_string(), runtime.clone());
        Ok(runtime)
    }

    /// How many trials of `machine` fit at once over every engine that answers.
    async fn fit(&self, engine: &Engine, machine: &MachineType) -> Result<usize> {
        let mut fit = 0;
        let mut last_error = None;
        for name in self.names() {
            let capacity = match self.runtime(engine, &name).await {
                Ok(runtime) => runtime.capacity().await,
                Err(err) => Err(err),
            };
            match capacity {
                // An engine too small for the machine type holds none of its trials.
                Ok(host) if machine.shortfall(&host).is_none() => fit += default_parallel(machine, &host),
                Ok(_) => {}
                Err(err) => last_error = Some(err),
            }
        }
        match (fit, last_error) {
            (0, Some(err)) => Err(err),
            (0, None) => Ok(1),
            (fit, _) => Ok(fit),
        }
    }

    /// The runtime of the engine the next trial goes to.
    async fn for_trial(&self, engine: &Engine, machine: &MachineType) -> Result<Rc<AnyRuntime>> {
        let name = placement::place(engine, &self.choice, machine).await?;
        self.runtime(engine, &name).await
    }
}

/// What a driver's slots and watcher share (one task: cells, not locks).
struct Run<'a> {
    engine: &'a Engine,
    engines: &'a TrialEngines,
    sweep: i64,
    spec: &'a SweepSpec,
    queue: RefCell<VecDeque<TrialStatus>>,
    stopped: Cell<bool>,
    slots_left: Cell<usize>,
}

impl Run<'_> {
    /// Waits for the trials in `first`, then runs queued trials one after another until the
    /// queue is empty or the sweep is stopped.
    async fn slot(&self, first: Vec<i64>) -> Result<()> {
        let outcome = async {
            for job in first {
                self.wait_for_end(job).await?;
            }
            while !self.stopped.get() {
                let Some(trial) = self.queue.borrow_mut().pop_front() else {
                    break;
                };
                let tag = TrialOf {
                    sweep: self.sweep,
                    point: trial.point,
                    params: &trial.params,
                };
                let job_spec = self.spec.trial_spec(&trial.params);
                let machine = self.engine.config.machine(&job_spec.machine)?;
                let turn = match self.engines.choice {
                    Choice::Among(_) => Some(self.engines.placing.lock().await),
                    Choice::One(_) => None,
                };
                let placed = self.engines.for_trial(self.engine, machine).await;
                let submitted = match &placed {
                    Ok(runtime) => {
                        submit_as(self.engine, runtime, job_spec, false, Some(tag), &mut |_| {}).await
                    }
                    Err(err) => Err(Error::Other(err.to_string())),
                };
                drop(turn);
                match submitted {
                    Ok(submitted) => self.wait_for_end(submitted.job).await?,
                    // A trial stored and then failed at its launch is a failed trial; one
                    // that could not even be stored (its repo vanished, the image was removed)
                    // would fail the same way for every point, so the sweep stops and says why.
                    Err(err) if !self.engine.store.trial_has_job(self.sweep, trial.point)? => {
                        let why = format!("trial {} could not start: {err}", trial.point + 1);
                        self.engine.store.request_sweep_stop(self.sweep, Some(&why))?;
                        self.stopped.set(true);
                        return Err(Error::Other(why));
                    }
                    Err(_) => {}
                }
            }
            Ok(())
        }
        .await;
        self.slots_left.set(self.slots_left.get() - 1);
        outcome
    }

    async fn wait_for_end(&self, job: i64) -> Result<()> {
        while !self.stopped.get() && !self.engine.store.job_state(job)?.is_final() {
            tokio::time::sleep(SLOT_POLL).await;
        }
        Ok(())
    }

    /// Until every slot is done: sees a stop (the slots then start nothing more and let go of
    /// their trials, which `sweep stop` stops), and prunes by the median rule.
    async fn watch(&self) -> Result<()> {
        while self.slots_left.get() > 0 {
            if self.engine.store.sweep(self.sweep)?.stop_requested {
                self.stopped.set(true);
            } else if let Some(rule) = &self.spec.early_stop {
                let trials = self.engine.store.trial_statuses(self.sweep)?;
                prune(self.engine, self.sweep, self.spec, rule, &trials).await?;
            }
            tokio::time::sleep(WATCH_TICK).await;
        }
        Ok(())
    }
}

/// Stops, as pruned, each running trial the median rule judges clearly worse than the
/// finished ones.
async fn prune(
    engine: &Engine,
    sweep: i64,
    spec: &SweepSpec,
    rule: &EarlyStop,
    trials: &[TrialStatus],
) -> Result<()> {
    let with_state = |state: JobState| {
        trials
            .iter()
            .filter(move |t| t.state == Some(state))
            .filter_map(|t| t.job)
    };
    let running: Vec<i64> = with_state(JobState::Running).collect();
    if running.is_empty() {
        return Ok(());
    }
    let series = engine.store.sweep_series(sweep, &spec.metric)?;
    let finished: Vec<Vec<(i64, f64)>> = with_state(JobState::Succeeded)
        .filter_map(|job| series.get(&job).cloned())
        .collect();
    for job in running {
        let Some(own) = series.get(&job) else { continue };
        if !rule.prunes(spec.goal, own, &finished) {
            continue;
        }
        // Read whole only now: one being stopped already is left to its stop.
        let record = engine.store.job(job)?;
        if record.stop_requested {
            continue;
        }
        let why = format!(
            "pruned by the median rule: its best {} so far is worse than the median of {} finished trials at step {}",
            spec.metric,
            finished.len(),
            own.last().map_or(0, |(s, _)| *s)
        );
        note(engine, job, &why);
        engine.store.set_detail(job, Some(&why))?;
        engine.store.request_prune(job)?;
        if let Some(handle) = &record.handle {
            let grace = Duration::from_secs(engine.config.stop_grace_secs);
            let runtime = AnyRuntime::of_job(&record, engine).await?;
            crate::with_runtime!(&runtime, rt => rt.stop(handle, grace).await)?;
        }
    }
    Ok(())
}

/// A sweep in a listing: its progress and its best value so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepSummary {
    pub sweep: i64,
    pub project: String,
    /// running, finished or stopped.
    pub state: &'static str,
    pub metric: String,
    pub goal: Goal,
    pub trials: usize,
    /// Trials whose latest job has ended.
    pub done: usize,
    pub running: usize,
    /// The best trial's job, and its best value of the metric.
    pub best: Option<i64>,
    pub best_value: Option<f64>,
    /// The first job of the sweep: where its row sits among the project's jobs.
    pub first_job: Option<i64>,
    pub command: Vec<String>,
    pub created_at: String,
    pub detail: Option<String>,
    /// Why a trial waits in the queue, when one does.
    pub waiting: Option<String>,
}

/// Every sweep (of `project`), oldest first.
/// Why the sweep's first queued trial waits, as its row says (`job 12 waits for 2 vCPU: …`).
fn waiting_trial(
    store: &Store,
    comparison: &crate::experiments::compare::Comparison,
) -> Result<Option<String>> {
    for job in comparison
        .trials
        .iter()
        .filter(|t| t.state == "queued")
        .filter_map(|t| t.job)
    {
        if let Some(why) = store.job(job)?.detail {
            return Ok(Some(format!("job {job} {why}")));
        }
    }
    Ok(None)
}

pub fn summaries(store: &Store, project: Option<&str>) -> Result<Vec<SweepSummary>> {
    let mut listed = Vec::new();
    for sweep in store.sweeps(project)? {
        let comparison = compare(store, sweep.id, false)?;
        // A pending point has no job state; every other has its job's.
        let ended = |t: &&crate::experiments::compare::TrialRow| {
            t.state.parse::<JobState>().is_ok_and(JobState::is_final)
        };
        let best = comparison.best;
        listed.push(SweepSummary {
            sweep: sweep.id,
            project: sweep.spec.base.project.clone(),
            state: sweep.state(),
            metric: sweep.spec.metric.clone(),
            goal: sweep.spec.goal,
            trials: comparison.trials.len(),
            done: comparison.trials.iter().filter(ended).count(),
            running: comparison.trials.iter().filter(|t| t.state == "running").count(),
            best,
            best_value: comparison
                .trials
                .iter()
                .find(|t| best.is_some() && t.job == best)
                .and_then(|t| t.best),
            first_job: comparison.trials.iter().filter_map(|t| t.job).min(),
            command: sweep.spec.base.command.clone(),
            created_at: sweep.created_at.clone(),
            detail: sweep.detail.clone(),
            waiting: waiting_trial(store, &comparison)?,
        });
    }
    Ok(listed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlbench_domain::machine::builtin_catalogue;

    #[test]
    fn by_default_as_many_trials_run_as_the_machine_type_fits() {
        let cat = builtin_catalogue();
        let host = Capacity {
            cpus: 8.0,
            memory_bytes: 32 << 30,
            gpus: 0,
        };
        for machine in &cat {
            let n = default_parallel(machine, &host);
            assert!(n >= 1);
            if machine.shortfall(&host).is_none() {
                let holders: Vec<(i64, &MachineType)> = (1..n as i64).map(|id| (id, machine)).collect();
                assert_eq!(machine.waits_for(&holders, &host), None, "{} × {n}", machine.name);
            }
        }
    }
}
