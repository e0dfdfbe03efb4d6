//! The fit chart screen's keys.

use super::prompt::open_predict;
use super::{App, Effect};
use crate::keymap::{Command, Screen};

pub(super) fn chart_command(app: &mut App, command: Command) -> Effect {
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
