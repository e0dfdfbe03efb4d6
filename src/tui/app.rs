//! The workbench's state and the one function that changes it. `update` is plain: it takes
//! an event, changes the state, and names the side effect (if any) for the event loop to run,
//! so every key flow is tested without a terminal.

use std::collections::{HashMap, VecDeque};

use crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};

use super::keys::{self, Command, Screen};
use crate::store::logfile::Stream;
use crate::store::{JobRecord, MetricSummary, ProjectRecord};

/// Log lines kept in memory per open log view; the file keeps them all.
pub const LOG_WINDOW: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    Projects,
    Jobs,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub ts: String,
    pub stream: Stream,
    /// Without escape codes: what search looks at.
    pub text: String,
    /// The colours the program printed, as styled runs (empty when it printed none).
    pub runs: Vec<(String, ratatui::style::Style)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogView {
    pub job: i64,
    pub lines: VecDeque<LogLine>,
    /// Lines that fell out of the window (still in the log file).
    pub dropped: u64,
    /// How many lines above the bottom the view is; 0 follows.
    pub offset: usize,
    pub wrap: bool,
    pub timestamps: bool,
    pub search: Option<String>,
    /// The search being typed after `/`.
    pub typing: Option<String>,
    /// Which match (counted from the bottom) `n`/`N` went to.
    pub match_index: usize,
    /// Rows the view had when last drawn, for paging.
    pub page: usize,
}

impl LogView {
    fn new(job: i64) -> LogView {
        LogView {
            job,
            lines: VecDeque::new(),
            dropped: 0,
            offset: 0,
            wrap: false,
            timestamps: false,
            search: None,
            typing: None,
            match_index: 0,
            page: 20,
        }
    }

    pub fn following(&self) -> bool {
        self.offset == 0
    }

    /// Indices of the lines that hold the search text, from the top.
    pub fn matches(&self) -> Vec<usize> {
        let Some(query) = self.search.as_deref().filter(|q| !q.is_empty()) else {
            return Vec::new();
        };
        self.lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.text.contains(query))
            .map(|(i, _)| i)
            .collect()
    }

    fn push(&mut self, lines: Vec<LogLine>) {
        let added = lines.len();
        self.lines.extend(lines);
        while self.lines.len() > LOG_WINDOW {
            self.lines.pop_front();
            self.dropped += 1;
        }
        // A paused view stays on the lines it shows.
        if self.offset > 0 {
            self.offset = (self.offset + added).min(self.lines.len().saturating_sub(1));
        }
    }

    fn scroll_up(&mut self, rows: usize) {
        self.offset = (self.offset + rows).min(self.lines.len().saturating_sub(1));
    }

    fn scroll_down(&mut self, rows: usize) {
        self.offset = self.offset.saturating_sub(rows);
    }

    /// Scrolls so that match `index` (0 = the last) is the bottom line.
    fn go_to_match(&mut self, step: isize) {
        let matches = self.matches();
        if matches.is_empty() {
            return;
        }
        let count = matches.len() as isize;
        self.match_index = (self.match_index as isize + step).rem_euclid(count) as usize;
        let line = matches[matches.len() - 1 - self.match_index];
        self.offset = self.lines.len() - 1 - line;
    }
}

/// A fit chart's contents, loaded in the background.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartData {
    pub job: i64,
    pub x_name: String,
    pub y_name: String,
    pub intercept: f64,
    pub slope: f64,
    pub points: Vec<(f64, f64)>,
}

/// A line of input the user is typing, and what it is for.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub purpose: PromptFor,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PromptFor {
    /// The port mapping for serving `model` of `project`.
    Port { project: String, model: String },
    /// An input value for the model served at `url`.
    Predict { project: String, url: String },
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

/// One answered query, kept listed under the prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionRow {
    pub project: String,
    pub input: String,
    pub output: String,
    /// The input and output as numbers, for the chart.
    pub point: Option<(f64, f64)>,
    pub latency_ms: f64,
}

/// What the loop learns from outside: the store's contents, new log lines, results.
#[derive(Debug, Clone)]
pub enum Message {
    Snapshot {
        projects: Vec<ProjectRecord>,
        jobs: Vec<JobRecord>,
        metrics: HashMap<i64, Vec<MetricSummary>>,
    },
    Engine(String),
    LogLines {
        job: i64,
        lines: Vec<LogLine>,
    },
    Chart(ChartData),
    AskPort {
        project: String,
        model: String,
    },
    FormOptions(Box<super::form::FormOptions>),
    Prediction(PredictionRow),
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

/// Work the loop does for `update`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    None,
    FollowLog(i64),
    Stop(i64),
    Rerun(i64),
    LoadChart(i64),
    ExportChart(i64),
    /// Capture the mouse (true) or leave it to the terminal.
    Mouse(bool),
    ToggleServing(i64),
    OpenForm(String),
    Submit(super::form::Submission),
    Deploy {
        project: String,
        model: String,
        port: crate::domain::PortMapping,
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
    pub project: usize,
    pub job: usize,
    pub focus: Panel,
    pub screen: Screen,
    pub help: bool,
    pub confirm_stop: Option<i64>,
    pub logs: Option<LogView>,
    pub chart: Option<ChartData>,
    pub prompt: Option<Prompt>,
    pub form: Option<super::form::Form>,
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
            project: 0,
            job: 0,
            focus: Panel::Jobs,
            screen: Screen::Workbench,
            help: false,
            confirm_stop: None,
            logs: None,
            chart: None,
            prompt: None,
            form: None,
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

    pub fn selected_project(&self) -> Option<&ProjectRecord> {
        self.projects.get(self.project)
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
        self.project_jobs().get(self.job).copied()
    }

    pub fn running(&self) -> usize {
        self.jobs
            .iter()
            .filter(|j| j.state == crate::domain::JobState::Running)
            .count()
    }

    pub fn queued(&self) -> usize {
        self.jobs
            .iter()
            .filter(|j| {
                matches!(
                    j.state,
                    crate::domain::JobState::Queued | crate::domain::JobState::Preparing
                )
            })
            .count()
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
        Event::Mouse(mouse) => on_mouse(app, mouse),
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
            app.project = app.project.min(app.projects.len().saturating_sub(1));
            // The selection stays on the same job when new jobs arrive above it.
            let jobs = app.project_jobs();
            app.job = keep_job
                .and_then(|id| jobs.iter().position(|j| j.id == id))
                .unwrap_or(0);
            app.now = chrono::Utc::now();
        }
        Message::Engine(text) => app.engine = text,
        Message::LogLines { job, lines } => {
            if let Some(logs) = app.logs.as_mut().filter(|l| l.job == job) {
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
        Message::Done(text) | Message::Failed(text) => app.status = Some(text),
        Message::Tick => app.now = chrono::Utc::now(),
        Message::Progress(progress) => app.progress = progress,
    }
}

/// The wheel moves like the arrow keys; a click on a project or a job selects it.
fn on_mouse(app: &mut App, mouse: MouseEvent) -> Effect {
    if app.help || app.prompt.is_some() || app.form.is_some() || app.confirm_stop.is_some() {
        return Effect::None;
    }
    let command = match mouse.kind {
        MouseEventKind::ScrollUp => Command::Up,
        MouseEventKind::ScrollDown => Command::Down,
        MouseEventKind::Down(MouseButton::Left) if app.screen == Screen::Workbench => {
            click(app, mouse.column, mouse.row);
            return Effect::None;
        }
        _ => return Effect::None,
    };
    match app.screen {
        Screen::Workbench => {
            let [projects, _, _] = super::ui::workbench::areas(main_area(app));
            app.focus = if mouse.column < projects.x + projects.width {
                Panel::Projects
            } else {
                Panel::Jobs
            };
            workbench_command(app, command)
        }
        Screen::Logs => {
            for _ in 0..3 {
                logs_command(app, command);
            }
            Effect::None
        }
        Screen::Chart => Effect::None,
    }
}

fn main_area(app: &App) -> ratatui::layout::Rect {
    ratatui::layout::Rect::new(0, 0, app.size.0, app.size.1.saturating_sub(1))
}

fn click(app: &mut App, column: u16, row: u16) {
    let [projects, jobs, _] = super::ui::workbench::areas(main_area(app));
    let inside = |r: ratatui::layout::Rect| {
        column >= r.x && column < r.x + r.width && row > r.y && row + 1 < r.y + r.height
    };
    if inside(projects) {
        app.focus = Panel::Projects;
        let index = (row - projects.y - 1) as usize;
        if index < app.projects.len() {
            select_project(app, index);
        }
    } else if inside(jobs) && row > jobs.y + 1 {
        app.focus = Panel::Jobs;
        // Rows below the header; a list taller than the panel has scrolled to keep the selection.
        let visible = jobs.height.saturating_sub(3) as usize;
        let offset = app.job.saturating_sub(visible.saturating_sub(1));
        let index = offset + (row - jobs.y - 2) as usize;
        if index < app.project_jobs().len() {
            app.job = index;
        }
    }
}

fn on_key(app: &mut App, key: KeyEvent) -> Effect {
    if let Some(job) = app.confirm_stop.take() {
        return if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
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
        return on_prompt_key(app, key);
    }
    if app.form.is_some() {
        return on_form_key(app, key);
    }
    if let Some(typing) = app.logs.as_mut().and_then(|l| l.typing.as_mut()) {
        match key.code {
            KeyCode::Char(c) => typing.push(c),
            KeyCode::Backspace => {
                typing.pop();
            }
            KeyCode::Enter => {
                if let Some(logs) = app.logs.as_mut() {
                    logs.search = logs.typing.take().filter(|q| !q.is_empty());
                    logs.match_index = usize::MAX; // the first `next` lands on the last match
                    logs.go_to_match(1);
                }
            }
            KeyCode::Esc => {
                if let Some(logs) = app.logs.as_mut() {
                    logs.typing = None;
                }
            }
            _ => {}
        }
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
        Screen::Workbench => workbench_command(app, command),
        Screen::Logs => logs_command(app, command),
        Screen::Chart => chart_command(app, command),
    }
}

fn on_form_key(app: &mut App, key: KeyEvent) -> Effect {
    use super::form::FIELDS;
    let Some(form) = app.form.as_mut() else {
        return Effect::None;
    };
    let last = FIELDS.len() - 1;
    match key.code {
        KeyCode::Esc => {
            app.form = None;
            app.status = Some("cancelled: nothing was created".into());
        }
        KeyCode::Tab | KeyCode::Down => form.focus = (form.focus + 1).min(last),
        KeyCode::BackTab | KeyCode::Up => form.focus = form.focus.saturating_sub(1),
        KeyCode::Left => form.cycle(-1),
        KeyCode::Right => form.cycle(1),
        KeyCode::Backspace => form.backspace(),
        KeyCode::Char(c) => form.type_char(c),
        KeyCode::Enter if form.focus < last => form.focus += 1,
        KeyCode::Enter => match form.submission() {
            Ok(submission) => {
                app.form = None;
                app.status = Some("submitting…".into());
                return Effect::Submit(submission);
            }
            Err((field, error)) => {
                form.focus = field;
                app.status = Some(format!("{}: {error}", FIELDS[field]));
            }
        },
        _ => {}
    }
    Effect::None
}

fn on_prompt_key(app: &mut App, key: KeyEvent) -> Effect {
    let Some(prompt) = app.prompt.as_mut() else {
        return Effect::None;
    };
    match key.code {
        KeyCode::Char(c) => prompt.text.push(c),
        KeyCode::Backspace => {
            prompt.text.pop();
        }
        KeyCode::Esc => app.prompt = None,
        KeyCode::Enter => match prompt.purpose.clone() {
            PromptFor::Port { project, model } => {
                match prompt.text.trim().parse::<crate::domain::PortMapping>() {
                    Ok(port) => {
                        app.prompt = None;
                        app.status = Some(format!("starting to serve {model} on {port}…"));
                        return Effect::Deploy { project, model, port };
                    }
                    Err(e) => app.status = Some(e.to_string()),
                }
            }
            PromptFor::Predict { project, url } => {
                let input = std::mem::take(&mut prompt.text);
                if !input.trim().is_empty() {
                    return Effect::Predict {
                        project,
                        url,
                        input: input.trim().to_string(),
                    };
                }
            }
        },
        _ => {}
    }
    Effect::None
}

/// The URL of a running serving job of the selected project, if there is one.
pub fn serving_url(app: &App) -> Option<String> {
    let project = app.selected_project()?;
    app.jobs
        .iter()
        .rev()
        .find(|j| {
            j.spec.project == project.name
                && j.spec.kind == crate::domain::JobKind::Serving
                && j.state == crate::domain::JobState::Running
        })
        .and_then(|j| j.spec.ports.first())
        .map(crate::engine::deploy::url_of)
}

fn open_predict(app: &mut App) {
    let Some(project) = app.selected_project().map(|p| p.name.clone()) else {
        return;
    };
    match serving_url(app) {
        Some(url) => {
            app.prompt = Some(Prompt {
                purpose: PromptFor::Predict { project, url },
                text: String::new(),
            })
        }
        None => {
            app.status = Some(format!(
                "nothing serves in {project}: press s on a trained job first"
            ))
        }
    }
}

fn workbench_command(app: &mut App, command: Command) -> Effect {
    let jobs = app.project_jobs().len();
    match (command, app.focus) {
        (Command::Quit, _) => app.quit = true,
        (Command::Help, _) => app.help = true,
        (Command::NextPanel, Panel::Projects) => app.focus = Panel::Jobs,
        (Command::NextPanel, Panel::Jobs) => app.focus = Panel::Projects,
        (Command::Up, Panel::Projects) => select_project(app, app.project.saturating_sub(1)),
        (Command::Down, Panel::Projects) => {
            select_project(app, (app.project + 1).min(app.projects.len().saturating_sub(1)))
        }
        (Command::Top, Panel::Projects) => select_project(app, 0),
        (Command::Bottom, Panel::Projects) => select_project(app, app.projects.len().saturating_sub(1)),
        (Command::Up, Panel::Jobs) => app.job = app.job.saturating_sub(1),
        (Command::Down, Panel::Jobs) => app.job = (app.job + 1).min(jobs.saturating_sub(1)),
        (Command::Top, Panel::Jobs) => app.job = 0,
        (Command::Bottom, Panel::Jobs) => app.job = jobs.saturating_sub(1),
        (Command::Open, _) => {
            if let Some(job) = app.selected_job().map(|j| j.id) {
                app.logs = Some(LogView::new(job));
                app.screen = Screen::Logs;
                return Effect::FollowLog(job);
            }
        }
        (Command::Stop, _) => match app.selected_job() {
            Some(job) if !job.state.is_final() => app.confirm_stop = Some(job.id),
            Some(job) => app.status = Some(format!("job {} has already ended: {}", job.id, job.state)),
            None => {}
        },
        (Command::New, _) => {
            if let Some(project) = app.selected_project().map(|p| p.name.clone()) {
                app.status = Some("opening the new-experiment form…".into());
                return Effect::OpenForm(project);
            }
        }
        (Command::Serve, _) => {
            if let Some(job) = app.selected_job().map(|j| j.id) {
                return Effect::ToggleServing(job);
            }
        }
        (Command::Predict, _) => open_predict(app),
        (Command::Chart, _) => {
            if let Some(job) = app.selected_job().map(|j| j.id) {
                app.status = Some(format!("loading the fit of job {job}…"));
                return Effect::LoadChart(job);
            }
        }
        (Command::Rerun, _) => {
            if let Some(job) = app.selected_job() {
                return Effect::Rerun(job.id);
            }
        }
        (Command::Back, _) => app.status = None,
        _ => {}
    }
    Effect::None
}

fn select_project(app: &mut App, index: usize) {
    if index != app.project {
        app.project = index;
        app.job = 0;
    }
}

fn chart_command(app: &mut App, command: Command) -> Effect {
    match command {
        Command::Quit => app.quit = true,
        Command::Help => app.help = true,
        Command::Back => {
            app.chart = None;
            app.screen = Screen::Workbench;
        }
        Command::Export => {
            if let Some(chart) = &app.chart {
                return Effect::ExportChart(chart.job);
            }
        }
        Command::Predict => open_predict(app),
        _ => {}
    }
    Effect::None
}

fn logs_command(app: &mut App, command: Command) -> Effect {
    let Some(logs) = app.logs.as_mut() else {
        app.screen = Screen::Workbench;
        return Effect::None;
    };
    let page = logs.page;
    match command {
        Command::Quit => app.quit = true,
        Command::Help => app.help = true,
        Command::Back => {
            app.logs = None;
            app.screen = Screen::Workbench;
        }
        Command::Up => logs.scroll_up(1),
        Command::Down => logs.scroll_down(1),
        Command::PageUp => logs.scroll_up(page),
        Command::PageDown => logs.scroll_down(page),
        Command::Top => logs.offset = logs.lines.len().saturating_sub(1),
        Command::Bottom => logs.offset = 0,
        Command::ToggleTimestamps => logs.timestamps = !logs.timestamps,
        Command::ToggleWrap => logs.wrap = !logs.wrap,
        Command::Search => logs.typing = Some(String::new()),
        Command::NextMatch => logs.go_to_match(1),
        Command::PreviousMatch => logs.go_to_match(-1),
        _ => {}
    }
    Effect::None
}

#[cfg(test)]
mod tests {
    use super::*;
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
        app.logs = Some(LogView::new(7));
        app.screen = Screen::Logs;
        let lines = (0..lines).map(|i| line(&format!("line {i}"))).collect();
        update(&mut app, Event::Message(Message::LogLines { job: 7, lines }));
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
                job: 7,
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
        assert_eq!(logs.matches().len(), 11); // line 1, line 10..19
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
}
