//! The workbench's state and the one function that changes it. `update` is plain: it takes
//! an event, changes the state, and names the side effect (if any) for the worker to run, so
//! every key flow is tested without a terminal. Each screen's keys live in a module of its own.

mod chart;
mod form;
mod logs;
mod prompt;
mod workbench;

use std::collections::HashMap;

use crossterm::event::{KeyCode, KeyEvent, MouseEvent};

pub use logs::{LOG_WINDOW, LogLine, LogView};
pub use prompt::{PredictionRow, Prompt, PromptFor};

use crate::domain::{JobState, PortMapping};
use crate::engine::fit::Fit;
use crate::engine::jobs::JobRequest;
use crate::keymap::{self as keys, Command, Screen};
use crate::store::{JobRecord, MetricSummary, ProjectRecord};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    Projects,
    Jobs,
}

/// A slow step under way (an image build or pull), for the status line's bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub label: String,
    /// 0.0 to 1.0.
    pub ratio: f64,
}

impl Progress {
    /// Reads Docker's build (`Step 3/5 : COPY …`) and pull (`… 42%`) output; other lines are
    /// shown without a bar.
    pub fn from_line(line: &str) -> Option<Progress> {
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
pub enum Message {
    Snapshot {
        projects: Vec<ProjectRecord>,
        jobs: Vec<JobRecord>,
        metrics: HashMap<i64, Vec<MetricSummary>>,
    },
    /// Where jobs run, for the status line.
    Engine(String),
    LogLines {
        /// The log view opening these lines are for.
        generation: u64,
        lines: Vec<LogLine>,
    },
    Chart(Fit),
    AskPort {
        project: String,
        model: String,
    },
    FormOptions(Box<super::form::FormOptions>),
    Prediction(PredictionRow),
    /// The form's job was submitted as this job.
    Submitted(i64),
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

pub enum Event {
    Key(KeyEvent),
    Mouse(MouseEvent),
    /// The terminal's size (columns, rows).
    Resize(u16, u16),
    Message(Message),
    /// The terminal's log view height, after a draw.
    LogRows(usize),
}

/// Work for the worker (or, for the mouse, the terminal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    None,
    /// Send the job's log lines, tagged with the view's generation; replaces any follower.
    FollowLog {
        job: i64,
        generation: u64,
    },
    /// The log view closed: its follower stops.
    StopFollowing,
    Stop(i64),
    Rerun(i64),
    /// Create the demo project and run its training job (a first start).
    RunDemo,
    LoadChart(i64),
    ExportChart(i64),
    /// Capture the mouse (true) or leave it to the terminal.
    Mouse(bool),
    ToggleServing(i64),
    OpenForm(String),
    Submit(JobRequest),
    Deploy {
        project: String,
        model: String,
        port: PortMapping,
    },
    Predict {
        project: String,
        url: String,
        input: String,
    },
}

#[derive(Debug, Clone)]
pub struct App {
    pub now: chrono::DateTime<chrono::Utc>,
    pub projects: Vec<ProjectRecord>,
    pub jobs: Vec<JobRecord>,
    pub metrics: HashMap<i64, Vec<MetricSummary>>,
    /// The selected project, by name: a project created elsewhere does not move it.
    pub project: Option<String>,
    /// The selected row of the project's job list (newest first).
    pub job_row: usize,
    pub focus: Panel,
    pub screen: Screen,
    pub help: bool,
    pub confirm_stop: Option<i64>,
    pub logs: Option<LogView>,
    /// How many times a log view has been opened: each opening's follower has its own number.
    pub log_generation: u64,
    pub chart: Option<Fit>,
    pub prompt: Option<Prompt>,
    pub form: Option<super::form::Form>,
    /// The form last submitted, until the engine has taken or refused it.
    pub submitting: Option<super::form::Form>,
    pub predictions: Vec<PredictionRow>,
    pub engine: String,
    pub status: Option<String>,
    pub quit: bool,
    pub keys: std::sync::Arc<keys::KeyMap>,
    pub mouse: bool,
    pub progress: Option<Progress>,
    /// The terminal's size, for mapping mouse clicks to panels.
    pub size: (u16, u16),
}

impl App {
    pub fn new(now: chrono::DateTime<chrono::Utc>) -> App {
        App {
            now,
            projects: Vec::new(),
            jobs: Vec::new(),
            metrics: HashMap::new(),
            project: None,
            job_row: 0,
            focus: Panel::Jobs,
            screen: Screen::Workbench,
            help: false,
            confirm_stop: None,
            logs: None,
            log_generation: 0,
            chart: None,
            prompt: None,
            form: None,
            submitting: None,
            predictions: Vec::new(),
            engine: "connecting to the Docker Engine…".into(),
            status: None,
            quit: false,
            keys: std::sync::Arc::new(keys::KeyMap::defaults()),
            mouse: true,
            progress: None,
            size: (80, 24),
        }
    }

    /// The row of the selected project in the project list (the first when none is).
    pub fn project_row(&self) -> usize {
        self.project
            .as_ref()
            .and_then(|name| self.projects.iter().position(|p| &p.name == name))
            .unwrap_or(0)
    }

    pub fn selected_project(&self) -> Option<&ProjectRecord> {
        self.projects.get(self.project_row())
    }

    /// The selected project's jobs, newest first.
    pub fn project_jobs(&self) -> Vec<&JobRecord> {
        let Some(project) = self.selected_project() else {
            return Vec::new();
        };
        self.jobs
            .iter()
            .rev()
            .filter(|j| j.spec.project == project.name)
            .collect()
    }

    pub fn selected_job(&self) -> Option<&JobRecord> {
        self.project_jobs().get(self.job_row).copied()
    }

    pub fn running(&self) -> usize {
        self.jobs.iter().filter(|j| j.state == JobState::Running).count()
    }

    pub fn queued(&self) -> usize {
        self.jobs
            .iter()
            .filter(|j| matches!(j.state, JobState::Queued | JobState::Preparing))
            .count()
    }

    /// Selects a job by id (in its project) if it is in the list.
    fn select_job(&mut self, id: i64) {
        let Some(project) = self
            .jobs
            .iter()
            .find(|j| j.id == id)
            .map(|j| j.spec.project.clone())
        else {
            return;
        };
        self.project = Some(project);
        if let Some(row) = self.project_jobs().iter().position(|j| j.id == id) {
            self.job_row = row;
        }
    }
}

pub fn update(app: &mut App, event: Event) -> Effect {
    match event {
        Event::Message(message) => {
            on_message(app, message);
            Effect::None
        }
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
    }
}

fn on_message(app: &mut App, message: Message) {
    match message {
        Message::Snapshot {
            projects,
            jobs,
            metrics,
        } => {
            let keep_job = app.selected_job().map(|j| j.id);
            app.projects = projects;
            app.jobs = jobs;
            app.metrics = metrics;
            // A selected project that is gone gives way to the first.
            if app.selected_project().map(|p| &p.name) != app.project.as_ref() {
                app.project = app.projects.first().map(|p| p.name.clone());
            }
            // The selection stays on the same job when new jobs arrive above it.
            let jobs = app.project_jobs();
            app.job_row = keep_job
                .and_then(|id| jobs.iter().position(|j| j.id == id))
                .unwrap_or(0);
            app.now = chrono::Utc::now();
        }
        Message::Engine(text) => app.engine = text,
        Message::LogLines { generation, lines } => {
            if let Some(logs) = app.logs.as_mut().filter(|l| l.generation == generation) {
                logs.push(lines);
            }
        }
        Message::Chart(chart) => {
            app.chart = Some(chart);
            app.screen = Screen::Chart;
            app.status = None;
        }
        Message::AskPort { project, model } => {
            app.prompt = Some(Prompt {
                purpose: PromptFor::Port { project, model },
                text: "8080:8080".into(),
            });
            app.status = None;
        }
        Message::Prediction(row) => app.predictions.push(row),
        Message::FormOptions(options) => {
            app.form = Some(super::form::Form::new(*options));
            app.status = None;
        }
        Message::Submitted(job) => {
            app.submitting = None;
            app.select_job(job);
            app.status = Some(format!("job {job} submitted"));
        }
        Message::Refused { field, text } => form::refused(app, field, text),
        Message::Done(text) | Message::Failed(text) => app.status = Some(text),
        Message::Tick => app.now = chrono::Utc::now(),
        Message::Progress(progress) => app.progress = progress,
    }
}

fn on_key(app: &mut App, key: KeyEvent) -> Effect {
    if let Some(job) = app.confirm_stop.take() {
        return if matches!(key.code, KeyCode::Char('y' | 'Y')) {
            Effect::Stop(job)
        } else {
            Effect::None
        };
    }
    if app.help {
        app.help = false;
        return Effect::None;
    }
    if app.prompt.is_some() {
        return prompt::on_prompt_key(app, key);
    }
    if app.form.is_some() {
        return form::on_form_key(app, key);
    }
    if logs::on_search_key(app, key) {
        return Effect::None;
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::output::Stream;
    use crossterm::event::KeyModifiers;

    fn key(app: &mut App, code: KeyCode) -> Effect {
        update(app, Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    fn line(text: &str) -> LogLine {
        LogLine {
            ts: "2026-11-23T12:00:00.000000000Z".into(),
            stream: Stream::Stdout,
            text: text.into(),
            runs: Vec::new(),
        }
    }

    fn app_with_logs(lines: usize) -> App {
        let mut app = App::new(chrono::Utc::now());
        app.logs = Some(LogView::new(7, 1));
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
        assert_eq!(logs.lines[logs.lines.len() - 1 - logs.offset].text, "line 19");
        key(&mut app, KeyCode::Char('n'));
        let logs = app.logs.as_ref().unwrap();
        assert_eq!(logs.lines[logs.lines.len() - 1 - logs.offset].text, "line 18");
        key(&mut app, KeyCode::Char('N'));
        key(&mut app, KeyCode::Char('N'));
        let logs = app.logs.as_ref().unwrap();
        assert_eq!(
            logs.lines[logs.lines.len() - 1 - logs.offset].text,
            "line 1",
            "N wraps to the first match"
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
        assert_eq!((logs.lines.len(), logs.dropped), (LOG_WINDOW, 500));
    }

    #[test]
    fn stop_asks_first_and_esc_leaves_logs() {
        let mut app = App::new(chrono::Utc::now());
        app.confirm_stop = Some(3);
        assert_eq!(key(&mut app, KeyCode::Char('n')), Effect::None);
        app.confirm_stop = Some(3);
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
        assert_eq!(logs.dropped, 2_500);
        assert_eq!(logs.match_count(), expected(logs));
        key(&mut app, KeyCode::Char('n'));
        let logs = app.logs.as_ref().unwrap();
        assert!(logs.lines[logs.lines.len() - 1 - logs.offset].text.contains('7'));
    }
}
