//! The fit chart screen's keys: `Tab` steps through the features, `a` shows actual against
//! predicted, `c` switches to the job's metric curves.

use mlbench_config::keymap::Command;
use mlbench_engine::experiments::curves::CurvesOf;
use mlbench_engine::experiments::fit::FitView;

use super::prompt::open_predict;
use super::{App, Effect};

pub(super) fn chart_command(app: &mut App, command: Command) -> Effect {
    match command {
        Command::Quit => app.quit = true,
        Command::Help => app.help = true,
        Command::Back => {
            app.chart = None;
            app.screen = app.screen_below();
        }
        Command::Chart => {
            if let Some(chart) = &app.chart {
                return Effect::LoadCurves {
                    of: CurvesOf::Job(chart.job),
                    reload: false,
                };
            }
        }
        Command::Export => {
            if let Some(chart) = &app.chart {
                return Effect::ExportChart(chart.job, app.chart_view);
            }
        }
        Command::NextFeature => {
            if let Some(chart) = &app.chart {
                app.chart_view = chart.next_feature(app.chart_view);
            }
        }
        Command::ActualVsPredicted => {
            if let Some(chart) = &app.chart {
                app.chart_view = match app.chart_view {
                    FitView::ActualVsPredicted => chart.next_feature(FitView::ActualVsPredicted),
                    FitView::Feature(_) => FitView::ActualVsPredicted,
                };
            }
        }
        Command::Predict => return open_predict(app),
        _ => {}
    }
    Effect::None
}
