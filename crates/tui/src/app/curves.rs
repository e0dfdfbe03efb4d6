//! The metric-curves screen's state and keys: one metric at a time (Tab for the next), `c`
//! back to the fit chart, `e` to write a PNG.

use mlbench_config::keymap::{Command, Screen};
use mlbench_engine::experiments::curves::{Curves, CurvesOf};

use super::{App, Effect};

#[derive(Debug, Clone)]
pub(crate) struct CurvesView {
    pub(crate) curves: Curves,
    /// Which of `curves.metrics` is drawn.
    pub(crate) metric: usize,
}

impl CurvesView {
    pub(crate) fn metric(&self) -> &str {
        self.curves.metrics.get(self.metric).map_or("", String::as_str)
    }
}

pub(super) fn reload(app: &App) -> Effect {
    match &app.curves {
        Some(view) => Effect::LoadCurves {
            of: view.curves.of,
            reload: true,
        },
        None => Effect::None,
    }
}

/// Curves arrived: shown, on the same metric as before when they are a reload.
pub(super) fn show(app: &mut App, curves: Curves, reload: bool) {
    // A reload that lands after the view was left is not an opening.
    if reload && app.curves.is_none() {
        return;
    }
    let metric = match &app.curves {
        Some(view) if view.curves.of == curves.of => {
            let name = view.metric().to_string();
            curves.metrics.iter().position(|m| *m == name).unwrap_or(0)
        }
        _ => 0,
    };
    app.curves = Some(CurvesView { curves, metric });
    if !reload && app.screen != Screen::Curves {
        app.chart = None;
        app.screen = Screen::Curves;
        app.status = None;
    }
}

pub(super) fn curves_command(app: &mut App, command: Command) -> Effect {
    let Some(view) = app.curves.as_mut() else {
        app.screen = Screen::Workbench;
        return Effect::None;
    };
    match command {
        Command::Quit => app.quit = true,
        Command::Help => app.help = true,
        Command::Back => {
            app.curves = None;
            app.screen = app.screen_below();
        }
        Command::NextSeries => view.metric = (view.metric + 1) % view.curves.metrics.len().max(1),
        Command::Export => {
            return Effect::ExportCurves {
                of: view.curves.of,
                metric: view.metric().to_string(),
            };
        }
        Command::Chart => {
            if let CurvesOf::Job(job) = view.curves.of {
                app.status = Some(format!("loading the fit of job {job}…"));
                return Effect::LoadChart(job);
            }
        }
        _ => {}
    }
    Effect::None
}
