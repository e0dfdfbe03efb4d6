//! The workbench's state and the one function that changes it. `update` is plain: it takes
//! an event, changes the state, and names the side effect (if any) for the worker to run, so
//! every key flow is tested without a terminal. Each screen's keys live in a module of its own.

mod chart;
mod compare;
mod curves;
mod form;
mod job_query;
mod logs;
mod prompt;
mod storage;
mod traffic;
mod usage;
mod workbench;

use std::collections::{HashMap, HashSet};

use crossterm::event::{KeyCode, KeyEvent, MouseEvent};

pub(crate) use compare::CompareView;
pub(crate) use curves::CurvesView;
pub(crate) use job_query::{JobFilter, JobSort};
pub(crate) use logs::{LOG_PAGE, LOG_WINDOW, LogLine, LogPage, LogView, Typing};
pub(crate) use prompt::{NameProblem, PredictionRow, Prompt, PromptFor, new_project_problem};
pub(crate) use storage::StorageView;
pub(crate) use traffic::Traffic;
pub(crate) use usage::UsageView;

use mlbench_config::keymap::{self as keys, Command, Screen};
use mlbench_domain::{JobState, PortMapping};
use mlbench_engine::experiments::compare::Comparison;
use mlbench_engine::experiments::curves::{Curves, CurvesOf};
use mlbench_engine::experiments::fit::{Fit, FitView};
use mlbench_engine::experiments::sweeps::{SweepRequest, SweepSummary};
use mlbench_engine::jobs::JobRequest;
use mlbench_engine::serving::client::ModelInputs;
use mlbench_engine::{jobs, projects, serving};
use mlbench_store::logscan::LineFilter;
use mlbench_store::{JobRecord, MetricSummary, ProjectRecord};

/// What a y/n question asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Confirm {
    Stop(i64),
    DeleteJob(i64),
    /// Stop a deployment (its replicas), as `s` on a served job asks.
    StopServing(String),
    StopSweep(i64),
    DeleteSweep(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Panel {
    Projects,
    Jobs,
}

/// A slow step under way (an image build or pull), for the status line's bar.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Progress {
    pub(crate) label: String,
    /// 0.0 to 1.0.
    pub(crate) ratio: f64,
}

impl Progress {
    /// Reads Docker's build (`Step 3/5 : COPY …`) and pull (`… 42%`) output; other lines are
    /// shown without a bar.
    pub(crate) fn from_line(line: &str) -> Option<Progress> {
        let label = line.chars().take(60).collect::<String>();
        if let Some(rest) = line.strip_prefix("Step ")
            && let Some((done, total)) = rest.split(' ').next().and_then(|s| s.split_once('/'))
            && let (Ok(done), Ok(total)) = (done.parse::<f64>(), total.parse::<f64>())
            && total > 0.0
        {
            return Some(Progress {
                label,
                ratio: (done / total).clamp(0.0, 1.0),
            });
        }
        let percent = line.rsplit(' ').next()?.strip_suffix('%')?.parse::<f64>().ok()?;
        Some(Progress {
            label,
            ratio: (percent / 100.0).clamp(0.0, 1.0),
        })
    }
}

/// What the loop learns from the worker: the store's contents, new log lines, results.
#[derive(Debug, Clone)]
pub(crate) enum Message {
    Snapshot {
        projects: Vec<ProjectRecord>,
        jobs: Vec<JobRecord>,
        metrics: HashMap<i64, Vec<MetricSummary>>,
        sweeps: Vec<SweepSummary>,
    },
    /// Where jobs run, for the status line.
    Engine(String),
    /// Doctor's first failing line (`None`: all is well).
    Health(Option<String>),
    /// The home's disk is full, so running jobs' logs wait for room (`None`: it has room).
    DiskFull(Option<String>),
    /// The running deployments' traffic since the last scrape.
    Traffic(std::collections::BTreeMap<String, serving::stats::ServingRate>),
    /// The running jobs' CPU and memory, read just now.
    Usage(Vec<jobs::usage::JobUsage>),
    LogLines {
        /// The log view opening these lines are for.
        generation: u64,
        lines: Vec<LogLine>,
    },
    /// A page of the log file the view asked for.
    LogPage {
        generation: u64,
        page: LogPage,
        lines: Vec<LogLine>,
        /// The page reached the file's end.
        at_end: bool,
    },
    /// How many (shown) lines the log file has before the follower's first line.
    LogCount {
        generation: u64,
        before_start: u64,
    },
    Chart(Box<Fit>),
    /// A sweep's comparison; `reload` when it refreshes an open view (dropped if that view
    /// was closed meanwhile).
    Comparison {
        comparison: Comparison,
        reload: bool,
    },
    Curves {
        curves: Curves,
        reload: bool,
    },
    AskPort {
        project: String,
        model: String,
        /// The engine whose storage holds the model: where it is served.
        engine: String,
    },
    FormOptions(Box<super::form::FormOptions>),
    Prediction(PredictionRow),
    /// The last lines of a failed job's log.
    FailureTail(i64, Vec<LogLine>),
    /// The repo field's completion of what was typed (`None`: nothing to add).
    RepoCompleted {
        typed: String,
        completion: Option<String>,
    },
    /// The job's model is served by this deployment: ask before stopping it.
    ConfirmStopServing(String),
    /// The model served at `url` takes these inputs: ask for them.
    AskPredict {
        project: String,
        url: String,
        model: ModelInputs,
    },
    /// A folder of a project's /storage on an engine, listed; `select` names the entry to
    /// select.
    Storage {
        project: String,
        engine: String,
        folder: projects::storage::Folder,
        select: Option<String>,
    },
    StoragePreview(projects::storage::Preview),
    /// The form's job was submitted as this job.
    Submitted(i64),
    /// A project was created: it becomes the selected one.
    ProjectCreated(String),
    /// The form's sweep started (or resumed) as this sweep.
    SweepStarted(i64, String),
    /// The engine refused the form's job over one of its fields.
    Refused {
        field: &'static str,
        text: String,
    },
    Done(String),
    Failed(String),
    /// Time passed: ages on screen move on.
    Tick,
    /// A slow step moved on, or (None) ended.
    Progress(Option<Progress>),
}

pub(crate) enum Event {
    Key(KeyEvent),
    Mouse(MouseEvent),
    /// The terminal's size (columns, rows).
    Resize(u16, u16),
    Message(Message),
    /// The terminal's log view height, after a draw.
    LogRows(usize),
    /// Text pasted into the terminal.
    Paste(String),
}

/// Work for the worker (or, for the mouse, the terminal).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Effect {
    None,
    /// Send the job's last lines (those the filter shows) and then its new ones, tagged with
    /// the view's generation; replaces any follower.
    FollowLog {
        job: i64,
        generation: u64,
        filter: Option<LineFilter>,
    },
    /// Read a page of the job's log file for the view.
    LoadLog {
        job: i64,
        generation: u64,
        filter: Option<LineFilter>,
        page: LogPage,
    },
    /// Write the job's log (the lines the filter shows) to a new file, escape codes left out.
    SaveLog {
        job: i64,
        filter: Option<LineFilter>,
        path: std::path::PathBuf,
    },
    /// Put the text on the clipboard (the terminal's, through OSC 52).
    Copy(String),
    /// Leave the workbench for a shell in the running job, and come back when it ends.
    Shell(i64),
    /// List a folder of a project's /storage on an engine (`None`: the storage itself), then
    /// select the entry `select` names.
    LoadStorage {
        project: String,
        engine: String,
        folder: Option<String>,
        select: Option<String>,
    },
    PreviewStorage {
        project: String,
        engine: String,
        path: String,
    },
    /// Copy a file of the storage to the exports folder.
    CopyOutStorage {
        project: String,
        engine: String,
        path: String,
    },
    /// The log view closed: its follower stops.
    StopFollowing,
    Stop(i64),
    Rerun(i64),
    CreateProject(String),
    /// Delete a project with its jobs and storage (the user typed its name).
    DeleteProject(String),
    /// Delete a finished job with its log.
    DeleteJob(i64),
    /// Create the demo project and run its training job (a first start).
    RunDemo,
    /// The job's fit chart, or its metric curves when it has no fit.
    LoadChart(i64),
    ExportChart(i64, FitView),
    LoadCurves {
        of: CurvesOf,
        reload: bool,
    },
    ExportCurves {
        of: CurvesOf,
        metric: String,
    },
    LoadCompare {
        sweep: i64,
        all_columns: bool,
        reload: bool,
    },
    /// Capture the mouse (true) or leave it to the terminal.
    Mouse(bool),
    /// Serve the job's model, or ask before stopping the deployment that serves it.
    ToggleServing(i64),
    StopServing(String),
    StopSweep(i64),
    DeleteSweep(i64),
    OpenForm(String),
    Submit(JobRequest),
    StartSweep(Box<SweepRequest>),
    Deploy {
        project: String,
        model: String,
        engine: String,
        port: PortMapping,
    },
    /// The last lines of a failed job's log, for its details.
    LoadFailureTail(i64),
    /// Complete the form's repo field from the folders there.
    CompleteRepo(String),
    /// What the model served at `url` takes, to open the prediction prompt.
    DescribeModel {
        project: String,
        url: String,
    },
    Predict {
        project: String,
        url: String,
        model: ModelInputs,
        input: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct App {
    pub(crate) now: chrono::DateTime<chrono::Utc>,
    pub(crate) projects: Vec<ProjectRecord>,
    pub(crate) jobs: Vec<JobRecord>,
    pub(crate) metrics: HashMap<i64, Vec<MetricSummary>>,
    pub(crate) sweeps: Vec<SweepSummary>,
    /// Sweeps whose trials show under their row.
    pub(crate) expanded: HashSet<i64>,
    /// The selected project, by name: a project created elsewhere does not move it.
    pub(crate) project: Option<String>,
    /// The selected row of the project's job list (newest first; see [`App::project_rows`]).
    pub(crate) job_row: usize,
    /// A row to select once a snapshot lists it: a job or sweep the worker has just started.
    pub(crate) select_when_listed: Option<RowId>,
    pub(crate) focus: Panel,
    pub(crate) screen: Screen,
    pub(crate) help: bool,
    /// How far the help popup is scrolled, when its lines do not all fit.
    pub(crate) help_scroll: usize,
    /// A y/n question about to run an effect.
    pub(crate) confirm: Option<Confirm>,
    pub(crate) logs: Option<LogView>,
    /// How many times a log view has been opened: each opening's follower has its own number.
    pub(crate) log_generation: u64,
    pub(crate) chart: Option<Fit>,
    /// What the fit chart shows: a feature's partial dependence, or actual against predicted.
    pub(crate) chart_view: FitView,
    pub(crate) compare: Option<CompareView>,
    pub(crate) curves: Option<CurvesView>,
    pub(crate) storage: Option<StorageView>,
    pub(crate) prompt: Option<Prompt>,
    pub(crate) form: Option<super::form::Form>,
    /// The form last submitted, until the engine has taken or refused it.
    pub(crate) submitting: Option<super::form::Form>,
    /// The form was submitted with Alt-Enter: the new job's log opens once it is submitted.
    pub(crate) follow_submitted: bool,
    pub(crate) predictions: Vec<PredictionRow>,
    /// Running deployments' traffic, by deployment.
    pub(crate) traffic: HashMap<String, Traffic>,
    /// Running jobs' CPU and memory, by job.
    pub(crate) usage: HashMap<i64, UsageView>,
    pub(crate) engine: String,
    /// What `mlbench doctor` finds wrong first, if anything.
    pub(crate) health: Option<String>,
    /// Why running jobs' logs wait, when the home's disk is full.
    pub(crate) disk_full: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) quit: bool,
    pub(crate) keys: std::sync::Arc<keys::KeyMap>,
    /// The last lines of failed jobs' logs, for their details (`None`: asked for).
    pub(crate) failure_tails: HashMap<i64, Option<Vec<LogLine>>>,
    /// The job list's filter (`/`) and sort (`o`, `O`: descending).
    pub(crate) job_filter: Option<JobFilter>,
    pub(crate) job_sort: Option<(JobSort, bool)>,
    /// The folder exports go to (the config's `exports`), shown in their prompts.
    pub(crate) exports: std::path::PathBuf,
    pub(crate) mouse: bool,
    pub(crate) progress: Option<Progress>,
    /// The terminal's size, for mapping mouse clicks to panels.
    pub(crate) size: (u16, u16),
}

impl App {
    pub(crate) fn new(now: chrono::DateTime<chrono::Utc>) -> App {
        App {
            now,
            projects: Vec::new(),
            jobs: Vec::new(),
            metrics: HashMap::new(),
            sweeps: Vec::new(),
            expanded: HashSet::new(),
            project: None,
            job_row: 0,
            select_when_listed: None,
            focus: Panel::Jobs,
            screen: Screen::Workbench,
            help: false,
            help_scroll: 0,
            confirm: None,
            logs: None,
            log_generation: 0,
            chart: None,
            chart_view: FitView::Feature(0),
            compare: None,
            curves: None,
            storage: None,
            prompt: None,
            form: None,
            submitting: None,
            follow_submitted: false,
            predictions: Vec::new(),
            traffic: HashMap::new(),
            usage: HashMap::new(),
            engine: "connecting to the Docker Engine…".into(),
            health: None,
            disk_full: None,
            status: None,
            quit: false,
            keys: std::sync::Arc::new(keys::KeyMap::defaults()),
            failure_tails: HashMap::new(),
            job_filter: None,
            job_sort: None,
            exports: std::path::PathBuf::from("/exports"),
            mouse: true,
            progress: None,
            size: (80, 24),
        }
    }

    /// The row of the selected project in the project list (the first when none is).
    pub(crate) fn project_row(&self) -> usize {
        self.project
            .as_ref()
            .and_then(|name| self.projects.iter().position(|p| &p.name == name))
            .unwrap_or(0)
    }

    pub(crate) fn selected_project(&self) -> Option<&ProjectRecord> {
        self.projects.get(self.project_row())
    }

    /// The selected project's job list, newest first: its jobs, and a row per sweep (where
    /// its first trial started) with the sweep's trials under it when expanded.
    pub(crate) fn project_rows(&self) -> Vec<JobRow<'_>> {
        let Some(project) = self.selected_project() else {
            return Vec::new();
        };
        let mut sweeps: Vec<&SweepSummary> =
            self.sweeps.iter().filter(|s| s.project == project.name).collect();
        // A sweep with no job yet is the newest thing in the list.
        sweeps.sort_by_key(|s| std::cmp::Reverse(s.first_job.unwrap_or(i64::MAX)));
        let mut sweeps = sweeps.into_iter().peekable();
        let mut rows = Vec::new();
        let jobs = self.jobs.iter().rev().filter(|j| j.spec.project == project.name);
        for job in jobs {
            while let Some(sweep) = sweeps.next_if(|s| s.first_job.unwrap_or(i64::MAX) >= job.id) {
                rows.push(JobRow::Sweep(sweep));
                self.push_trials(&mut rows, sweep.sweep);
            }
            if job.sweep.is_none() {
                rows.push(JobRow::Job(job));
            }
        }
        for sweep in sweeps {
            rows.push(JobRow::Sweep(sweep));
            self.push_trials(&mut rows, sweep.sweep);
        }
        self.filtered_and_sorted(rows)
    }

    fn push_trials<'a>(&'a self, rows: &mut Vec<JobRow<'a>>, sweep: i64) {
        if self.expanded.contains(&sweep) {
            rows.extend(
                self.jobs
                    .iter()
                    .rev()
                    .filter(|j| j.sweep == Some(sweep))
                    .map(JobRow::Trial),
            );
        }
    }

    pub(crate) fn selected_row(&self) -> Option<JobRow<'_>> {
        self.project_rows().get(self.job_row).copied()
    }

    /// The selected job (a trial of a sweep too); none on a sweep's row.
    pub(crate) fn selected_job(&self) -> Option<&JobRecord> {
        match self.selected_row()? {
            JobRow::Job(job) | JobRow::Trial(job) => Some(job),
            JobRow::Sweep(_) => None,
        }
    }

    /// The selected sweep: its row, or one of its trials.
    pub(crate) fn selected_sweep(&self) -> Option<i64> {
        match self.selected_row()? {
            JobRow::Sweep(sweep) => Some(sweep.sweep),
            JobRow::Trial(job) | JobRow::Job(job) => job.sweep,
        }
    }

    pub(crate) fn running(&self) -> usize {
        self.jobs.iter().filter(|j| j.state == JobState::Running).count()
    }

    pub(crate) fn queued(&self) -> usize {
        self.jobs
            .iter()
            .filter(|j| matches!(j.state, JobState::Queued | JobState::Preparing))
            .count()
    }

    /// The screen a view opened from the workbench or the compare screen goes back to.
    fn screen_below(&self) -> Screen {
        if self.compare.is_some() {
            Screen::Compare
        } else {
            Screen::Workbench
        }
    }

    /// Selects a job's or a sweep's row (switching to its project; a trial's sweep opens), now
    /// if the list has it, else when a snapshot brings it.
    fn select(&mut self, id: RowId) {
        let project = match id {
            RowId::Job(job) => self
                .jobs
                .iter()
                .find(|j| j.id == job)
                .map(|j| (j.spec.project.clone(), j.sweep)),
            RowId::Sweep(sweep) => self
                .sweeps
                .iter()
                .find(|s| s.sweep == sweep)
                .map(|s| (s.project.clone(), None)),
        };
        let Some((project, sweep)) = project else {
            self.select_when_listed = Some(id);
            return;
        };
        self.select_when_listed = None;
        self.project = Some(project);
        self.expanded.extend(sweep);
        if let Some(row) = self.project_rows().iter().position(|r| r.id() == id) {
            self.job_row = row;
        }
    }
}

/// One row of a project's job list.
#[derive(Debug, Clone, Copy)]
pub(crate) enum JobRow<'a> {
    Job(&'a JobRecord),
    Sweep(&'a SweepSummary),
    /// A job that is a trial of the sweep above it.
    Trial(&'a JobRecord),
}

/// What a row shows, kept across refreshes so the selection stays on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowId {
    Job(i64),
    Sweep(i64),
}

impl JobRow<'_> {
    pub(crate) fn id(&self) -> RowId {
        match self {
            JobRow::Job(job) | JobRow::Trial(job) => RowId::Job(job.id),
            JobRow::Sweep(sweep) => RowId::Sweep(sweep.sweep),
        }
    }
}

pub(crate) fn update(app: &mut App, event: Event) -> Effect {
    let effect = handle(app, event);
    if effect != Effect::None || app.screen != Screen::Workbench {
        return effect;
    }
    // A failed job selected (by a key, a click or a refresh) shows why: its log's last lines.
    match app.selected_job() {
        Some(job) if job.state.failed() && !app.failure_tails.contains_key(&job.id) => {
            let job = job.id;
            app.failure_tails.insert(job, None);
            Effect::LoadFailureTail(job)
        }
        _ => Effect::None,
    }
}

fn handle(app: &mut App, event: Event) -> Effect {
    match event {
        Event::Message(message) => on_message(app, message),
        Event::LogRows(rows) => {
            if let Some(logs) = app.logs.as_mut() {
                logs.page = rows.max(1);
            }
            Effect::None
        }
        Event::Key(key) => on_key(app, key),
        Event::Resize(width, height) => {
            app.size = (width, height);
            Effect::None
        }
        Event::Mouse(mouse) => workbench::on_mouse(app, mouse),
        Event::Paste(text) => {
            on_paste(app, &text);
            Effect::None
        }
    }
}

/// Pasted text goes into whatever is being typed: a prompt, the form, a search or filter.
fn on_paste(app: &mut App, text: &str) {
    if let Some(prompt) = app.prompt.as_mut() {
        prompt.input.paste(text);
    } else if let Some(form) = app.form.as_mut() {
        form.paste(text);
    } else if let Some((_, input)) = app.logs.as_mut().and_then(|l| l.typing.as_mut()) {
        input.paste(text);
    }
}

/// A message changes the state; a new snapshot also reloads the open comparison or curves.
fn on_message(app: &mut App, message: Message) -> Effect {
    match message {
        Message::Snapshot {
            projects,
            jobs,
            metrics,
            sweeps,
        } => {
            let keep = app.selected_row().map(|r| r.id());
            app.projects = projects;
            app.jobs = jobs;
            app.metrics = metrics;
            app.sweeps = sweeps;
            // A selected project that is gone gives way to the first.
            if app.selected_project().map(|p| &p.name) != app.project.as_ref() {
                app.project = app.projects.first().map(|p| p.name.clone());
            }
            // The selection stays on the same row when new jobs arrive above it.
            let rows = app.project_rows();
            app.job_row = keep
                .and_then(|id| rows.iter().position(|r| r.id() == id))
                .unwrap_or(0);
            if let Some(id) = app.select_when_listed {
                app.select(id);
            }
            app.now = chrono::Utc::now();
            return match app.screen {
                Screen::Compare => compare::reload(app),
                Screen::Curves => curves::reload(app),
                _ => Effect::None,
            };
        }
        Message::Engine(text) => app.engine = text,
        Message::Health(line) => app.health = line,
        Message::DiskFull(line) => app.disk_full = line,
        Message::Traffic(rates) => traffic::record(&mut app.traffic, rates),
        Message::Usage(round) => usage::record(&mut app.usage, round),
        Message::LogLines { generation, lines } => {
            if let Some(logs) = app.logs.as_mut().filter(|l| l.generation == generation) {
                logs.push(lines);
            }
        }
        Message::LogPage {
            generation,
            page,
            lines,
            at_end,
        } => {
            if let Some(logs) = app.logs.as_mut().filter(|l| l.generation == generation) {
                logs.page_read(page, lines, at_end);
            }
        }
        Message::LogCount {
            generation,
            before_start,
        } => {
            if let Some(logs) = app.logs.as_mut().filter(|l| l.generation == generation) {
                logs.counted(before_start);
            }
        }
        Message::Chart(chart) => {
            app.chart_view = chart.first_view();
            app.chart = Some(*chart);
            app.curves = None;
            app.screen = Screen::Chart;
            app.status = None;
        }
        Message::Comparison { comparison, reload } => compare::show(app, comparison, reload),
        Message::Curves { curves, reload } => curves::show(app, curves, reload),
        Message::AskPort {
            project,
            model,
            engine,
        } => {
            app.prompt = Some(Prompt {
                purpose: PromptFor::Port {
                    project,
                    model,
                    engine,
                },
                input: crate::line_input::LineInput::new("8080:8080"),
            });
            app.status = None;
        }
        Message::Prediction(row) => app.predictions.push(row),
        Message::RepoCompleted { typed, completion } => {
            if let Some(form) = app.form.as_mut() {
                form.completed(&typed, completion);
            }
        }
        Message::FailureTail(job, lines) => {
            app.failure_tails.insert(job, Some(lines));
        }
        Message::ConfirmStopServing(name) => {
            app.confirm = Some(Confirm::StopServing(name));
            app.status = None;
        }
        Message::AskPredict { project, url, model } => {
            app.prompt = Some(Prompt {
                purpose: PromptFor::Predict { project, url, model },
                input: crate::line_input::LineInput::default(),
            });
            app.status = None;
        }
        Message::FormOptions(options) => {
            app.form = Some(super::form::Form::new(*options));
            app.status = None;
        }
        Message::Storage {
            project,
            engine,
            folder,
            select,
        } => storage::show(app, project, engine, folder, select.as_deref()),
        Message::StoragePreview(preview) => {
            if let Some(view) = app.storage.as_mut() {
                view.preview = Some(preview);
            }
        }
        Message::ProjectCreated(name) => {
            app.status = Some(format!(
                "created project {name}: {} starts an experiment in it",
                app.keys.key_of(Command::New)
            ));
            app.project = Some(name);
            app.job_row = 0;
            app.focus = Panel::Jobs;
        }
        Message::Submitted(job) => {
            app.submitting = None;
            app.select(RowId::Job(job));
            app.status = Some(format!("job {job} submitted"));
            if std::mem::take(&mut app.follow_submitted) {
                return logs::open_log(app, job);
            }
        }
        Message::SweepStarted(sweep, said) => {
            app.submitting = None;
            app.follow_submitted = false;
            app.select(RowId::Sweep(sweep));
            app.status = Some(said);
        }
        Message::Refused { field, text } => form::refused(app, field, text),
        Message::Done(text) | Message::Failed(text) => app.status = Some(text),
        Message::Tick => app.now = chrono::Utc::now(),
        Message::Progress(progress) => app.progress = progress,
    }
    Effect::None
}

fn on_key(app: &mut App, key: KeyEvent) -> Effect {
    if let Some(confirm) = app.confirm.take() {
        return match (key.code, confirm) {
            (KeyCode::Char('y' | 'Y'), Confirm::Stop(job)) => Effect::Stop(job),
            (KeyCode::Char('y' | 'Y'), Confirm::DeleteJob(job)) => Effect::DeleteJob(job),
            (KeyCode::Char('y' | 'Y'), Confirm::StopServing(name)) => Effect::StopServing(name),
            (KeyCode::Char('y' | 'Y'), Confirm::StopSweep(sweep)) => Effect::StopSweep(sweep),
            (KeyCode::Char('y' | 'Y'), Confirm::DeleteSweep(sweep)) => Effect::DeleteSweep(sweep),
            _ => Effect::None,
        };
    }
    if app.help {
        match key.code {
            KeyCode::Char('j') | KeyCode::Down => app.help_scroll += 1,
            KeyCode::Char('k') | KeyCode::Up => app.help_scroll = app.help_scroll.saturating_sub(1),
            _ => {
                app.help = false;
                app.help_scroll = 0;
            }
        }
        return Effect::None;
    }
    if app.prompt.is_some() {
        return prompt::on_prompt_key(app, key);
    }
    if app.form.is_some() {
        return form::on_form_key(app, key);
    }
    if let Some(effect) = logs::on_typing_key(app, key) {
        return effect;
    }
    let Some(command) = app.keys.lookup(app.screen, key) else {
        return Effect::None;
    };
    if command == Command::Mouse {
        app.mouse = !app.mouse;
        app.status = Some(
            if app.mouse {
                "mouse on"
            } else {
                "mouse off: the terminal selects text"
            }
            .into(),
        );
        return Effect::Mouse(app.mouse);
    }
    match app.screen {
        Screen::Workbench => workbench::workbench_command(app, command),
        Screen::Logs => logs::logs_command(app, command),
        Screen::Chart => chart::chart_command(app, command),
        Screen::Compare => compare::compare_command(app, command),
        Screen::Curves => curves::curves_command(app, command),
        Screen::Storage => storage::storage_command(app, command),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;
    use mlbench_domain::output::Stream;

    fn key(app: &mut App, code: KeyCode) -> Effect {
        update(app, Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    thread_local! {
        /// Where the next test line starts in its made-up log file.
        static NEXT_AT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    fn line(text: &str) -> LogLine {
        let at = NEXT_AT.get();
        NEXT_AT.set(at + text.len() as u64 + 34);
        LogLine {
            at,
            ts: "2026-11-23T12:00:00.000000000Z".into(),
            stream: Stream::Stdout,
            text: text.into(),
            runs: Vec::new(),
        }
    }

    fn app_with_logs(lines: usize) -> App {
        let mut app = App::new(chrono::Utc::now());
        app.logs = Some(LogView::new(7, 1));
        app.log_generation = 1;
        app.screen = Screen::Logs;
        let lines = (0..lines).map(|i| line(&format!("line {i}"))).collect();
        update(
            &mut app,
            Event::Message(Message::LogLines { generation: 1, lines }),
        );
        app
    }

    #[test]
    fn scrolling_up_pauses_and_g_follows_again() {
        let mut app = app_with_logs(100);
        assert!(app.logs.as_ref().unwrap().following());
        key(&mut app, KeyCode::Up);
        key(&mut app, KeyCode::Up);
        assert_eq!(app.logs.as_ref().unwrap().offset, 2);
        // New lines do not move a paused view.
        update(
            &mut app,
            Event::Message(Message::LogLines {
                generation: 1,
                lines: vec![line("new")],
            }),
        );
        assert_eq!(app.logs.as_ref().unwrap().offset, 3);
        key(&mut app, KeyCode::Char('G'));
        assert!(app.logs.as_ref().unwrap().following());
    }

    /// The line on the page's second row, where a search puts its match.
    fn match_row(logs: &LogView) -> &str {
        let end = logs.lines.len() - logs.offset;
        &logs.lines[end.saturating_sub(logs.page) + 1].text
    }

    #[test]
    fn search_counts_and_cycles_matches() {
        let mut app = app_with_logs(50);
        key(&mut app, KeyCode::Char('/'));
        for c in "line 1".chars() {
            key(&mut app, KeyCode::Char(c));
        }
        key(&mut app, KeyCode::Enter);
        let logs = app.logs.as_ref().unwrap();
        assert_eq!(logs.match_count(), 11); // line 1, line 10..19
        assert_eq!(match_row(logs), "line 19");
        key(&mut app, KeyCode::Char('n'));
        assert_eq!(match_row(app.logs.as_ref().unwrap()), "line 18");
        key(&mut app, KeyCode::Char('N'));
        key(&mut app, KeyCode::Char('N'));
        assert_eq!(
            match_row(app.logs.as_ref().unwrap()),
            "line 1",
            "N wraps to the first match"
        );
    }

    fn typed(app: &mut App, text: &str) {
        for c in text.chars() {
            key(app, KeyCode::Char(c));
        }
    }

    #[test]
    fn a_filter_reopens_the_view_over_the_whole_file() {
        let mut app = app_with_logs(50);
        key(&mut app, KeyCode::Char('t'));
        key(&mut app, KeyCode::Char('f'));
        typed(&mut app, "!MSE");
        assert_eq!(app.logs.as_ref().unwrap().typing.as_ref().unwrap().1.text, "!MSE");
        let effect = key(&mut app, KeyCode::Enter);
        let filter = LineFilter::parse("!MSE");
        assert_eq!(
            effect,
            Effect::FollowLog {
                job: 7,
                generation: app.log_generation,
                filter: filter.clone(),
            }
        );
        let logs = app.logs.as_ref().unwrap();
        assert!(logs.lines.is_empty() && logs.timestamps && logs.filter == filter);
        // Lines of the old follower are not the filtered view's.
        update(
            &mut app,
            Event::Message(Message::LogLines {
                generation: 1,
                lines: vec![line("MSE : 1")],
            }),
        );
        assert!(app.logs.as_ref().unwrap().lines.is_empty());
        // f again starts from the filter as typed; clearing it shows every line.
        key(&mut app, KeyCode::Char('f'));
        update(
            &mut app,
            Event::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)),
        );
        let Effect::FollowLog { filter, .. } = key(&mut app, KeyCode::Enter) else {
            panic!("no follower");
        };
        assert_eq!(filter, None);
    }

    #[test]
    fn copy_takes_the_selection_or_the_screen_and_save_asks_where() {
        let mut app = app_with_logs(50);
        update(&mut app, Event::LogRows(10));
        let Effect::Copy(text) = key(&mut app, KeyCode::Char('y')) else {
            panic!("nothing copied");
        };
        assert_eq!(text.lines().count(), 10);
        assert!(app.status.as_deref().unwrap().starts_with("copied 10 lines"));
        key(&mut app, KeyCode::Char('v'));
        key(&mut app, KeyCode::Char('k'));
        key(&mut app, KeyCode::Char('k'));
        assert_eq!(
            key(&mut app, KeyCode::Char('y')),
            Effect::Copy("line 47\nline 48\nline 49".into())
        );
        assert_eq!(app.logs.as_ref().unwrap().selection, None);
        // Esc ends a selection before it leaves the view.
        key(&mut app, KeyCode::Char('v'));
        key(&mut app, KeyCode::Esc);
        assert_eq!(app.screen, Screen::Logs);
        key(&mut app, KeyCode::Char('S'));
        // The exports folder, shown whole: never the folder mlbench was started in.
        assert_eq!(app.prompt.as_ref().unwrap().input.text, "/exports/job-7.log");
        update(
            &mut app,
            Event::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)),
        );
        update(&mut app, Event::Paste("/tmp/saved.log".into()));
        assert_eq!(
            key(&mut app, KeyCode::Enter),
            Effect::SaveLog {
                job: 7,
                filter: None,
                path: "/tmp/saved.log".into(),
            }
        );
    }

    #[test]
    fn progress_is_read_from_build_and_pull_output() {
        let step = Progress::from_line("Step 3/5 : ENV PATH=/usr/local/bin").unwrap();
        assert!((step.ratio - 0.6).abs() < 1e-9);
        let pull = Progress::from_line("a1b2c3: Downloading 42%").unwrap();
        assert!((pull.ratio - 0.42).abs() < 1e-9);
        assert_eq!(Progress::from_line("Successfully built 1234"), None);
    }

    #[test]
    fn the_window_is_bounded() {
        let app = app_with_logs(LOG_WINDOW + 500);
        let logs = app.logs.as_ref().unwrap();
        assert_eq!(
            (logs.lines.len(), logs.lines[0].text.as_str()),
            (LOG_WINDOW, "line 500")
        );
    }

    #[test]
    fn stop_asks_first_and_esc_leaves_logs() {
        let mut app = App::new(chrono::Utc::now());
        app.confirm = Some(Confirm::Stop(3));
        assert_eq!(key(&mut app, KeyCode::Char('n')), Effect::None);
        app.confirm = Some(Confirm::Stop(3));
        assert_eq!(key(&mut app, KeyCode::Char('y')), Effect::Stop(3));
        let mut app = app_with_logs(3);
        key(&mut app, KeyCode::Esc);
        assert_eq!((app.screen, app.logs.is_none()), (Screen::Workbench, true));
        key(&mut app, KeyCode::Char('q'));
        assert!(app.quit);
    }

    /// Regression: the search rescanned the whole window on every frame; now matches are kept
    /// as lines arrive and leave the window, and must stay exact.
    #[test]
    fn search_matches_follow_new_and_dropped_lines() {
        let mut app = app_with_logs(LOG_WINDOW);
        key(&mut app, KeyCode::Char('/'));
        key(&mut app, KeyCode::Char('7'));
        key(&mut app, KeyCode::Enter);
        let expected = |logs: &LogView| logs.lines.iter().filter(|l| l.text.contains('7')).count();
        let logs = app.logs.as_ref().unwrap();
        assert_eq!(logs.match_count(), expected(logs));
        let more = (0..2_500).map(|i| line(&format!("more {i}"))).collect();
        update(
            &mut app,
            Event::Message(Message::LogLines {
                generation: 1,
                lines: more,
            }),
        );
        let logs = app.logs.as_ref().unwrap();
        assert_eq!(logs.lines[0].text, "line 2500");
        assert_eq!(logs.match_count(), expected(logs));
        key(&mut app, KeyCode::Char('n'));
        let logs = app.logs.as_ref().unwrap();
        // Near the end the last page shows whole, the match somewhere on it.
        if logs.offset > 0 {
            assert!(match_row(logs).contains('7'));
        } else {
            let end = logs.lines.len();
            assert!(
                logs.lines
                    .range(end - logs.page..end)
                    .any(|l| l.text.contains('7'))
            );
        }
    }
}
