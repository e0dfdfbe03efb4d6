//! The interactive workbench: `mlbench` with no arguments. The loop owns the state; background
//! threads (store refresh, log follow, stop, re-run) send it owned messages; pending events
//! are drained before each draw, and a frame is drawn only when something changed.

mod ansi;
pub mod app;
pub mod form;
pub mod keys;
pub mod ui;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedSender;

use app::{App, Effect, Event, LogLine, Message, update};
use ui::Theme;

use crate::engine::Engine;
use crate::home::Home;
use crate::store::Store;
use crate::store::logfile::{LogTail, offset_of_last_lines, parse_record};
use crate::{Error, Result};

const REFRESH: Duration = Duration::from_millis(500);

pub async fn run() -> Result<()> {
    let engine = Engine::open()?;
    let home = engine.home.clone();
    let first_start = engine.store.projects()?.is_empty();
    let in_config = |e: String| Error::Invalid(format!("config: {e}"));
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let theme = Theme::new(color, &engine.config.colors).map_err(in_config)?;
    let keys = Arc::new(keys::KeyMap::with_overrides(&engine.config.keys).map_err(in_config)?);
    drop(engine);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Message>();
    spawn_refresher(home.clone(), tx.clone());
    spawn_engine_probe(tx.clone());
    if first_start {
        spawn_demo(tx.clone());
    }
    let followed = Arc::new(AtomicI64::new(0));
    let mut events = EventStream::new();
    let mut app = App::new(chrono::Utc::now());
    app.keys = keys;
    let mut terminal = ratatui::init();
    set_mouse(true);
    if let Ok(size) = terminal.size() {
        update(&mut app, Event::Resize(size.width, size.height));
    }
    let mut dirty = true;
    let mut frame_log = FrameLog::from_env();
    let mut key_at: Option<Instant> = None;
    let outcome: Result<()> = loop {
        if dirty {
            let mut rows = None;
            if let Err(e) = terminal.draw(|frame| rows = ui::draw(frame, &app, theme)) {
                break Err(Error::io("cannot draw", e));
            }
            if let Some(rows) = rows.filter(|r| app.logs.as_ref().is_some_and(|l| l.page != *r)) {
                update(&mut app, Event::LogRows(rows));
            }
            dirty = false;
            if let Some(log) = frame_log.as_mut() {
                log.frame(app.jobs.len(), key_at.take());
            }
        }
        let first = tokio::select! {
            event = events.next() => match event {
                Some(Ok(TermEvent::Key(key))) if key.kind != KeyEventKind::Release => {
                    key_at.get_or_insert_with(Instant::now);
                    Some(Event::Key(key))
                }
                Some(Ok(TermEvent::Resize(width, height))) => Some(Event::Resize(width, height)),
                Some(Ok(TermEvent::Mouse(mouse))) => Some(Event::Mouse(mouse)),
                Some(Ok(_)) => None,
                Some(Err(e)) => break Err(Error::io("cannot read the terminal", e)),
                None => break Ok(()),
            },
            message = rx.recv() => message.map(Event::Message),
        };
        // Everything already waiting is applied before the next frame.
        let mut pending: Vec<Event> = first.into_iter().collect();
        while let Ok(message) = rx.try_recv() {
            pending.push(Event::Message(message));
        }
        for event in pending {
            dirty = true;
            match update(&mut app, event) {
                Effect::None => {}
                Effect::FollowLog(job) => spawn_log_follower(home.clone(), job, followed.clone(), tx.clone()),
                Effect::Stop(job) => spawn_stop(job, tx.clone()),
                Effect::Rerun(job) => spawn_rerun(job, tx.clone()),
                Effect::LoadChart(job) => spawn_chart(job, tx.clone(), false),
                Effect::ToggleServing(job) => spawn_toggle_serving(job, tx.clone()),
                Effect::OpenForm(project) => spawn_form_options(project, tx.clone()),
                Effect::Submit(submission) => spawn_submit(submission, tx.clone()),
                Effect::Deploy { project, model, port } => spawn_deploy(project, model, port, tx.clone()),
                Effect::Predict { project, url, input } => spawn_predict(project, url, input, tx.clone()),
                Effect::ExportChart(job) => spawn_chart(job, tx.clone(), true),
                Effect::Mouse(on) => set_mouse(on),
            }
        }
        if app.logs.is_none() {
            followed.store(0, Ordering::Relaxed);
        }
        if app.quit {
            break Ok(());
        }
    };
    set_mouse(false);
    ratatui::restore();
    let running = app.running() + app.queued();
    if running > 0 {
        eprintln!(
            "mlbench: {running} job(s) keep running; `mlbench jobs` lists them, `mlbench` shows them again"
        );
    }
    outcome
}

/// Looks at the store every half second (reconciling first, so jobs left by an earlier
/// mlbench are followed again) and sends what it holds when a commit changed it.
fn spawn_refresher(home: Home, tx: UnboundedSender<Message>) {
    std::thread::spawn(move || {
        let store = match Store::open(&home) {
            Ok(store) => store,
            Err(e) => {
                let _ = tx.send(Message::Failed(e.to_string()));
                return;
            }
        };
        let mut seen: Option<i64> = None;
        for round in 0u64.. {
            if let Err(e) = crate::engine::reconcile(&home, &store) {
                let _ = tx.send(Message::Failed(e.to_string()));
            }
            // Reading everything only when a commit happened keeps an idle workbench idle.
            let version = store.data_version().ok();
            if version.is_none() || version != seen {
                seen = version;
                let message = snapshot(&store).unwrap_or_else(|e| Message::Failed(e.to_string()));
                if tx.send(message).is_err() {
                    return;
                }
            } else if round % 10 == 0 && tx.send(Message::Tick).is_err() {
                // Ages move on even when nothing else does.
                return;
            }
            std::thread::sleep(REFRESH);
        }
    });
}

/// Metrics are read for the most recent jobs only: enough for every screen, cheap with many.
const METRIC_JOBS: usize = 200;

fn snapshot(store: &Store) -> Result<Message> {
    let projects = store.projects()?;
    let jobs = store.jobs(None)?;
    let last = jobs.last().map_or(0, |j| j.id);
    let first = jobs
        .get(jobs.len().saturating_sub(METRIC_JOBS))
        .map_or(0, |j| j.id);
    let metrics = store.metric_summaries_from(first, last)?;
    Ok(Message::Snapshot {
        projects,
        jobs,
        metrics,
    })
}

fn spawn_engine_probe(tx: UnboundedSender<Message>) {
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        let text = runtime.block_on(async {
            if std::env::var("MLBENCH_RUNTIME").as_deref() == Ok("local") {
                return "jobs run as local processes (MLBENCH_RUNTIME=local)".to_string();
            }
            match crate::runtime::DockerRuntime::connect(None).await {
                Ok(_) => format!("Docker Engine at {}", crate::runtime::DockerRuntime::address()),
                Err(_) => "no Docker Engine found: jobs run as local processes".to_string(),
            }
        });
        let _ = tx.send(Message::Engine(text));
    });
}

/// Sends the job's log lines, the last window first, then what is appended, until the view
/// follows another job or closes.
fn spawn_log_follower(home: Home, job: i64, followed: Arc<AtomicI64>, tx: UnboundedSender<Message>) {
    followed.store(job, Ordering::Relaxed);
    std::thread::spawn(move || {
        let path = home.job_log(job);
        let mut tail: Option<LogTail> = None;
        while followed.load(Ordering::Relaxed) == job {
            if tail.is_none() && path.exists() {
                let offset = offset_of_last_lines(&path, app::LOG_WINDOW).unwrap_or(0);
                tail = LogTail::open(&path, offset).ok();
            }
            let mut lines = Vec::new();
            if let Some(tail) = tail.as_mut() {
                let _ = tail.read_new(|raw| {
                    if let Some(record) = parse_record(raw) {
                        let (text, runs) = ansi::parse(&String::from_utf8_lossy(record.text));
                        lines.push(LogLine {
                            ts: record.ts.to_string(),
                            stream: record.stream,
                            text,
                            runs,
                        });
                    }
                    Ok(())
                });
            }
            if !lines.is_empty() && tx.send(Message::LogLines { job, lines }).is_err() {
                return;
            }
            // A burst is sent in large batches; the UI draws once per batch.
            std::thread::sleep(Duration::from_millis(30));
        }
    });
}

/// Runs `work` with an engine on its own thread; its text (or error) goes to the status line.
fn with_engine(
    tx: UnboundedSender<Message>,
    work: impl AsyncFnOnce(&mut Engine) -> Result<String> + Send + 'static,
) {
    with_engine_message(tx, async move |engine: &mut Engine| {
        Ok(Message::Done(work(engine).await?))
    });
}

fn spawn_stop(job: i64, tx: UnboundedSender<Message>) {
    with_engine(tx, async move |engine: &mut Engine| {
        let grace = Duration::from_secs(engine.config.stop_grace_secs);
        let state = crate::engine::stop(engine, job, grace).await?;
        Ok(format!("job {job} {state}"))
    });
}

fn spawn_rerun(job: i64, tx: UnboundedSender<Message>) {
    with_engine(tx, async move |engine: &mut Engine| {
        let spec = engine.store.job(job)?.spec;
        let runtime = crate::engine::AnyRuntime::choose(&engine.home, |_| {}).await?;
        let submitted = crate::engine::submit(engine, &runtime, spec, |_| {}).await?;
        Ok(format!("job {} submitted (a re-run of job {job})", submitted.job))
    });
}

/// A first start shows something real: the demo project and its training job, running.
fn spawn_demo(tx: UnboundedSender<Message>) {
    let progress = tx.clone();
    with_engine(tx, async move |engine: &mut Engine| {
        let spec = crate::engine::demo::prepare(engine)?;
        let runtime = crate::engine::AnyRuntime::choose(&engine.home, |_| {}).await?;
        // The runtime image is built on first use: its steps move the progress bar.
        let report = |line: &str| {
            let _ = progress.send(Message::Progress(app::Progress::from_line(line)));
        };
        let submitted = crate::engine::submit(engine, &runtime, spec, report).await;
        let _ = progress.send(Message::Progress(None));
        let submitted = submitted?;
        Ok(format!(
            "welcome: demo job {} trains the salary model (Enter shows its log)",
            submitted.job
        ))
    });
}

/// Loads a job's fit for the chart screen, or (`export`) writes it as `fit-job<N>.png` in the
/// current folder with the trainer's plotting code.
fn spawn_chart(job: i64, tx: UnboundedSender<Message>, export: bool) {
    std::thread::spawn(move || {
        let loaded = Engine::open().and_then(|engine| {
            let source = crate::engine::fit::fit_source(&engine, job, None, None)?;
            let points = crate::engine::fit::sample_points(&source.data, &source.x_name, &source.y_name)?;
            Ok((source, points))
        });
        let message = match loaded {
            Err(e) => Message::Failed(e.to_string()),
            Ok((source, points)) if export => {
                let path = std::path::PathBuf::from(format!("fit-job{job}.png"));
                let chart = crate::plot::FitChart {
                    x_name: &source.x_name,
                    y_name: &source.y_name,
                    intercept: source.intercept,
                    slope: source.slope,
                    points: &points,
                };
                match crate::plot::write_png(&chart, &path) {
                    Ok(()) => Message::Done(format!(
                        "wrote {}",
                        std::fs::canonicalize(&path).unwrap_or(path).display()
                    )),
                    Err(e) => Message::Failed(e.to_string()),
                }
            }
            Ok((source, points)) => Message::Chart(app::ChartData {
                job,
                x_name: source.x_name,
                y_name: source.y_name,
                intercept: source.intercept,
                slope: source.slope,
                points,
            }),
        };
        let _ = tx.send(message);
    });
}

/// Runs `work` with an engine on its own thread and runtime; sends the message it makes, or
/// the error as a failure.
fn with_engine_message(
    tx: UnboundedSender<Message>,
    work: impl AsyncFnOnce(&mut Engine) -> Result<Message> + Send + 'static,
) {
    std::thread::spawn(move || {
        let outcome = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("cannot start a runtime", e))
            .and_then(|runtime| {
                runtime.block_on(async move {
                    let mut engine = Engine::open()?;
                    work(&mut engine).await
                })
            });
        let _ = tx.send(outcome.unwrap_or_else(|e| Message::Failed(e.to_string())));
    });
}

/// Stops the deployment of the job's model if one runs; otherwise asks for its port mapping.
fn spawn_toggle_serving(job: i64, tx: UnboundedSender<Message>) {
    with_engine_message(tx, async move |engine: &mut Engine| {
        let record = engine.store.job(job)?;
        let model_file = crate::engine::fit::model_of_job(engine, &record)?.ok_or_else(|| {
            Error::Invalid(format!(
                "job {job} wrote no model file: serving needs a job of `mlbench train -o /storage/NAME`"
            ))
        })?;
        let storage = engine.home.storage_dir(&record.spec.project);
        let model = model_file
            .parent()
            .and_then(|dir| dir.strip_prefix(&storage).ok())
            .map(|m| m.display().to_string())
            .filter(|m| !m.is_empty())
            .ok_or_else(|| {
                Error::Invalid(format!("the model of job {job} is not in its project's /storage"))
            })?;
        let name = deployment_name(&model);
        if crate::engine::deploy::live_replicas(engine, &name)?.is_empty() {
            return Ok(Message::AskPort {
                project: record.spec.project,
                model,
            });
        }
        let grace = Duration::from_secs(engine.config.stop_grace_secs);
        crate::engine::deploy::stop_deployment(engine, &name, grace).await?;
        Ok(Message::Done(format!("stopped serving {name}")))
    });
}

/// A deployment is named after its model folder (`team/salary` → `team-salary`).
fn deployment_name(model: &str) -> String {
    model.to_ascii_lowercase().replace(['/', ' '], "-")
}

fn spawn_deploy(
    project: String,
    model: String,
    port: crate::domain::PortMapping,
    tx: UnboundedSender<Message>,
) {
    with_engine_message(tx, async move |engine: &mut Engine| {
        use crate::engine::deploy::{DeployRequest, Readiness, deploy, model_server_spec};
        let runtime = crate::engine::AnyRuntime::choose(&engine.home, |_| {}).await?;
        let name = deployment_name(&model);
        let template = model_server_spec(engine, &runtime, &project, &model, &name, &port, None, None)?;
        let request = DeployRequest {
            template,
            name: name.clone(),
            port,
            replicas: 1,
            readiness: Readiness::Http("/v2/health/ready".into()),
            timeout: Duration::from_secs(60),
        };
        let replicas = deploy(engine, &runtime, request, |_| {}).await?;
        let url = replicas.first().map(|r| r.url.clone()).unwrap_or_default();
        Ok(Message::Done(format!("serving {name} at {url}: p asks it")))
    });
}

fn spawn_predict(project: String, url: String, input: String, tx: UnboundedSender<Message>) {
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        let message = match runtime.block_on(crate::serve::client::predict(&url, &input)) {
            Err(e) => Message::Failed(e.to_string()),
            Ok(answer) => {
                let number = answer.number();
                let output = number.map_or_else(|| answer.output.to_string(), ui::compact);
                let point = input.parse::<f64>().ok().zip(number);
                Message::Prediction(app::PredictionRow {
                    project,
                    input,
                    output,
                    point,
                    latency_ms: answer.latency_ms,
                })
            }
        };
        let _ = tx.send(message);
    });
}

/// Loads what the form offers: machine types with what this host lacks for each, the local
/// images, and the project's latest job to start from.
fn spawn_form_options(project: String, tx: UnboundedSender<Message>) {
    with_engine_message(tx, async move |engine: &mut Engine| {
        use crate::domain::machine::{fmt_cpus, format_bytes};
        use crate::runtime::Runtime;
        use form::{COMMAND, ENV, FormOptions, MachineChoice, PORTS, REF, REPO};
        let runtime = crate::engine::AnyRuntime::choose(&engine.home, |_| {}).await?;
        let host = crate::with_runtime!(&runtime, rt => rt.capacity().await)?;
        let machines: Vec<MachineChoice> = engine
            .config
            .machines
            .iter()
            .map(|m| MachineChoice {
                name: m.name.clone(),
                label: format!(
                    "{} vCPU · {} · {} GPU",
                    fmt_cpus(m.cpus),
                    format_bytes(m.memory_bytes),
                    m.gpus
                ),
                unfit: m.shortfall(&host),
            })
            .collect();
        let mut images = vec![
            engine
                .config
                .default_image
                .clone()
                .unwrap_or_else(crate::runtime::images::runtime_tag),
        ];
        if let crate::engine::AnyRuntime::Docker(docker) = &runtime {
            for image in docker.list_images().await? {
                for tag in image.tags {
                    if !images.contains(&tag) {
                        images.push(tag);
                    }
                }
            }
        }
        let latest = engine
            .store
            .jobs(Some(&project))?
            .into_iter()
            .rev()
            .find(|j| j.spec.kind == crate::domain::JobKind::Training);
        let mut text: [String; 7] = Default::default();
        let (mut machine, mut image) = (engine.config.default_machine.clone(), images[0].clone());
        if let Some(job) = latest {
            let spec = job.spec;
            (text[REPO], text[REF]) = match spec.source {
                crate::domain::Source::Folder { path } => (path.display().to_string(), String::new()),
                crate::domain::Source::Git { url, reference } => (url, reference.unwrap_or_default()),
            };
            text[COMMAND] = form::join_command(&spec.command);
            text[ENV] = spec
                .env
                .iter()
                .map(|e| format!("{}={}", e.name, e.value))
                .collect::<Vec<_>>()
                .join(" ");
            text[PORTS] = spec
                .ports
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(" ");
            if !images.contains(&spec.image) {
                images.push(spec.image.clone());
            }
            (machine, image) = (spec.machine, spec.image);
        }
        Ok(Message::FormOptions(Box::new(FormOptions {
            project,
            machine: machines.iter().position(|m| m.name == machine).unwrap_or(0),
            image: images.iter().position(|i| *i == image).unwrap_or(0),
            machines,
            images,
            text,
        })))
    });
}

/// Submits the form's job: pulls its image first if asked; slow steps (pulls, the runtime
/// image's build) move the status line's progress bar.
fn spawn_submit(submission: form::Submission, tx: UnboundedSender<Message>) {
    let progress = tx.clone();
    with_engine_message(tx, async move |engine: &mut Engine| {
        let report = |line: &str| {
            let _ = progress.send(Message::Progress(app::Progress::from_line(line)));
        };
        let env = submission
            .env
            .iter()
            .map(|e| e.parse())
            .collect::<Result<Vec<_>>>()?;
        let ports = submission
            .ports
            .iter()
            .map(|p| p.parse())
            .collect::<Result<Vec<_>>>()?;
        let runtime = crate::engine::AnyRuntime::choose(&engine.home, |_| {}).await?;
        let (image, build_dockerfile) = match submission.image {
            form::ImageChoice::Local(name) => (name, None),
            form::ImageChoice::Build => (
                format!("mlbench-build/{}:latest", submission.project),
                Some("Dockerfile".to_string()),
            ),
            form::ImageChoice::Pull(name) => {
                let crate::engine::AnyRuntime::Docker(docker) = &runtime else {
                    return Err(Error::Invalid("pulling an image needs a Docker Engine".into()));
                };
                docker.pull(&name, report).await?;
                (name, None)
            }
        };
        let spec = crate::domain::JobSpec {
            kind: crate::domain::JobKind::Training,
            deployment: None,
            storage_read_only: false,
            project: submission.project,
            machine: submission.machine,
            image,
            build_dockerfile,
            source: crate::domain::Source::parse(&submission.repo, submission.reference),
            command: submission.command,
            env,
            ports,
        };
        let submitted = crate::engine::submit(engine, &runtime, spec, report).await;
        let _ = progress.send(Message::Progress(None));
        Ok(Message::Done(format!("job {} submitted", submitted?.job)))
    });
}

fn set_mouse(on: bool) {
    use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
    let mut out = std::io::stdout();
    // A terminal without mouse support just ignores this.
    let _ = if on {
        crossterm::execute!(out, EnableMouseCapture)
    } else {
        crossterm::execute!(out, DisableMouseCapture)
    };
}

/// With `MLBENCH_FRAME_LOG=FILE`, one line a frame: when it was drawn (Unix µs), how many jobs
/// it showed, and how long after a key press (µs) when one caused it. The workbench benchmark
/// reads this.
struct FrameLog {
    file: std::fs::File,
}

impl FrameLog {
    fn from_env() -> Option<FrameLog> {
        let path = std::env::var_os("MLBENCH_FRAME_LOG")?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()?;
        Some(FrameLog { file })
    }

    fn frame(&mut self, jobs: usize, key_at: Option<Instant>) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        let key = key_at.map_or_else(|| "-".to_string(), |t| t.elapsed().as_micros().to_string());
        let _ = writeln!(self.file, "{now} {jobs} {key}");
    }
}
