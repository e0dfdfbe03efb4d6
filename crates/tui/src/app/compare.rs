//! The compare screen's state and keys: a sweep's trials as a table, sortable by any column,
//! constant parameters hidden or shown, Enter opening a trial's log.

use mlbench_config::keymap::{Command, Screen};
use mlbench_engine::experiments::compare::Comparison;

use super::logs::open_log;
use super::{App, Effect};

#[derive(Debug, Clone)]
pub(crate) struct CompareView {
    pub(crate) comparison: Comparison,
    pub(crate) row: usize,
    /// The column sorted by (a name of [`Comparison::columns`]) and whether descending.
    pub(crate) sort: Option<(String, bool)>,
    pub(crate) all_columns: bool,
}

impl CompareView {
    fn apply_sort(&mut self) {
        if let Some((column, descending)) = &self.sort
            && self.comparison.sort_by(column, *descending).is_err()
        {
            // The column is gone (a metric no trial prints any more): back to point order.
            self.sort = None;
        }
    }
}

/// Reloads the open comparison: a trial moved on, or other columns were asked for.
pub(super) fn reload(app: &App) -> Effect {
    match &app.compare {
        Some(view) => Effect::LoadCompare {
            sweep: view.comparison.sweep,
            all_columns: view.all_columns,
            reload: true,
        },
        None => Effect::None,
    }
}

/// A comparison arrived: a new view, or the open one with its row and sort kept.
pub(super) fn show(app: &mut App, comparison: Comparison, reload: bool) {
    // A reload that lands after the view was left is not an opening.
    if reload && app.compare.is_none() {
        return;
    }
    let view = match app.compare.take() {
        Some(mut view) if view.comparison.sweep == comparison.sweep => {
            keep_row_while(&mut view, |view| {
                view.comparison = comparison;
                view.apply_sort();
            });
            view
        }
        _ => CompareView {
            comparison,
            row: 0,
            sort: None,
            all_columns: false,
        },
    };
    app.compare = Some(view);
    if !reload && app.screen == super::Screen::Workbench {
        app.screen = Screen::Compare;
        app.status = None;
    }
}

pub(super) fn compare_command(app: &mut App, command: Command) -> Effect {
    let Some(view) = app.compare.as_mut() else {
        app.screen = Screen::Workbench;
        return Effect::None;
    };
    let rows = view.comparison.trials.len();
    match command {
        Command::Quit => app.quit = true,
        Command::Help => app.help = true,
        Command::Back => {
            app.compare = None;
            app.screen = Screen::Workbench;
        }
        Command::Up => view.row = view.row.saturating_sub(1),
        Command::Down => view.row = (view.row + 1).min(rows.saturating_sub(1)),
        Command::Top => view.row = 0,
        Command::Bottom => view.row = rows.saturating_sub(1),
        Command::SortNext => {
            let columns = view.comparison.columns();
            let next = match &view.sort {
                None => 0,
                Some((column, _)) => columns
                    .iter()
                    .position(|c| c == column)
                    .map_or(0, |i| (i + 1) % columns.len()),
            };
            view.sort = columns.get(next).map(|c| (c.clone(), false));
            keep_row_while(view, CompareView::apply_sort);
            app.status = view.sort.as_ref().map(|(c, _)| format!("sorted by {c}"));
        }
        Command::SortReverse => {
            if let Some((_, descending)) = view.sort.as_mut() {
                *descending = !*descending;
                keep_row_while(view, CompareView::apply_sort);
            }
        }
        Command::ToggleColumns => {
            view.all_columns = !view.all_columns;
            return reload(app);
        }
        Command::Open => {
            if let Some(job) = view.comparison.trials.get(view.row).and_then(|t| t.job) {
                return open_log(app, job);
            }
            app.status = Some("this trial has not started yet".into());
        }
        _ => {}
    }
    Effect::None
}

/// Runs `change` with the selection staying on the same trial.
fn keep_row_while(view: &mut CompareView, change: impl FnOnce(&mut CompareView)) {
    let point = view.comparison.trials.get(view.row).map(|t| t.point);
    change(view);
    view.row = point
        .and_then(|p| view.comparison.trials.iter().position(|t| t.point == p))
        .unwrap_or(0);
}
