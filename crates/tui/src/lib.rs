//! The interactive workbench: `mlbench` with no arguments. The loop owns the state and hands
//! effects to one background worker, which answers with owned messages; pending events are
//! drained before each draw, and a frame is drawn only when something changed.

mod ansi;
mod app;
mod form;
mod layout;
mod line_input;
mod log_pages;
mod terminal;
mod ui;
mod worker;

/// The least columns and rows the workbench draws in.
pub const MIN_SIZE: (u16, u16) = (ui::MIN_WIDTH, ui::MIN_HEIGHT);

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use mlbench_domain::FromIo;
use mlbench_engine::{Engine, jobs};
// The workbench is a face of the engine: it shows the engine's errors and adds none a caller
// acts on.
use mlbench_engine::{Error, Result};

use app::{App, Effect, Event, Message, update};
use ui::Theme;
use worker::Worker;

pub fn run() -> LocalBoxFuture<'static, Result<()>> {
    Box::pin(async move {
        use std::io::IsTerminal;
        if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
            return Err(Error::Invalid(
                "the workbench needs a terminal: run `mlbench` in one, or use its commands (`mlbench --help`)"
                    .into(),
            ));
        }
        let engine = Engine::open()?;
        let first_start = engine.store.projects()?.is_empty();
        let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let theme = Theme::new(color, engine.config.colors, engine.config.light);
        let keys = Arc::new(engine.config.keys.clone());
        let exports = engine.export_path(std::path::Path::new(""))?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Message>();
        let worker = Worker::start(engine, first_start, tx.clone())?;
        let mut events = EventStream::new();
        let mut app = App::new(chrono::Utc::now());
        app.keys = keys;
        app.exports = exports;
        let mut terminal = terminal::enter(tx).map_err(|e| Error::io("cannot set up the terminal", e))?;
        terminal::set_mouse(true);
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
                    log.frame(app.jobs.len(), key_at.take(), app.screen);
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
                    Some(Ok(TermEvent::Paste(text))) => Some(Event::Paste(text)),
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
            let mut lost = None;
            for event in pending {
                dirty = true;
                match update(&mut app, event) {
                    Effect::None => {}
                    Effect::Mouse(on) => terminal::set_mouse(on),
                    Effect::Copy(text) => terminal::copy(&text),
                    Effect::Shell(job) => {
                        // The terminal's keys are the shell's until it ends: nothing else reads them.
                        drop(std::mem::replace(&mut events, EventStream::new()));
                        let said = shell(job).await;
                        match terminal::resume(app.mouse) {
                            Ok(resumed) => terminal = resumed,
                            Err(e) => {
                                lost = Some(Error::io("cannot take the terminal back", e));
                                break;
                            }
                        }
                        update(&mut app, Event::Message(said));
                    }
                    effect => worker.send(effect),
                }
            }
            if let Some(e) = lost {
                break Err(e);
            }
            if app.quit {
                break Ok(());
            }
        };
        terminal::leave();
        let running = app.running() + app.queued();
        if running > 0 {
            eprintln!(
                "mlbench: {running} job(s) keep running; `mlbench jobs` lists them, `mlbench` shows them again"
            );
        }
        outcome
    })
}

/// Hands the terminal to the configured shell in the running job; says how it went.
async fn shell(job: i64) -> Message {
    terminal::hand_over();
    println!("mlbench: a shell in job {job}; `exit` (or Ctrl-D) returns to the workbench");
    let size = crossterm::terminal::size().ok();
    let ran = match Engine::open() {
        Ok(engine) => jobs::exec::exec(&engine, job, None, true, size).await,
        Err(e) => Err(e),
    };
    match ran {
        Ok(code @ (126 | 127)) => Message::Failed(format!(
            "the shell in job {job} could not start (exit code {code}): the image may have no such shell; set `shell` in the config"
        )),
        Ok(code) => Message::Done(format!("the shell in job {job} ended (exit code {code})")),
        Err(e) => Message::Failed(mlbench_domain::error::one_line(&e.to_string())),
    }
}

/// With `MLBENCH_FRAME_LOG=FILE`, one line a frame: when it was drawn (Unix µs), how many jobs
/// it showed, how long after a key press (µs) when one caused it (else `-`), and the screen
/// (`Workbench`, `Compare`, …). The workbench benchmarks read this.
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

    fn frame(&mut self, jobs: usize, key_at: Option<Instant>, screen: mlbench_config::keymap::Screen) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        let key = key_at.map_or_else(|| "-".to_string(), |t| t.elapsed().as_micros().to_string());
        let _ = writeln!(self.file, "{now} {jobs} {key} {screen:?}");
    }
}
