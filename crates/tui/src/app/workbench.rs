//! The workbench screen's keys and mouse: projects, jobs, and what runs on the selected job.

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use mlbench_config::keymap::{Command, Screen};
use mlbench_engine::experiments::curves::CurvesOf;
use ratatui::layout::Rect;

use super::logs::{logs_command, open_log};
use super::prompt::{Prompt, PromptFor, open_predict};
use super::{App, Confirm, Effect, JobRow, Panel};
use crate::layout;
use crate::line_input::LineInput;

pub(super) fn workbench_command(app: &mut App, command: Command) -> Effect {
    let jobs = app.project_rows().len();
    let projects = app.projects.len();
    match (command, app.focus) {
        (Command::Quit, _) => app.quit = true,
        (Command::Help, _) => app.help = true,
        (Command::NextPanel, Panel::Projects) => app.focus = Panel::Jobs,
        (Command::NextPanel, Panel::Jobs) => app.focus = Panel::Projects,
        (Command::Up, Panel::Projects) => select_project(app, app.project_row().saturating_sub(1)),
        (Command::Down, Panel::Projects) => {
            select_project(app, (app.project_row() + 1).min(projects.saturating_sub(1)));
        }
        (Command::Top, Panel::Projects) => select_project(app, 0),
        (Command::Bottom, Panel::Projects) => select_project(app, projects.saturating_sub(1)),
        (Command::Up, Panel::Jobs) => app.job_row = app.job_row.saturating_sub(1),
        (Command::Down, Panel::Jobs) => app.job_row = (app.job_row + 1).min(jobs.saturating_sub(1)),
        (Command::Top, Panel::Jobs) => app.job_row = 0,
        (Command::Bottom, Panel::Jobs) => app.job_row = jobs.saturating_sub(1),
        (Command::Open, _) => match app.selected_row() {
            Some(JobRow::Sweep(sweep)) => {
                let id = sweep.sweep;
                if !app.expanded.remove(&id) {
                    app.expanded.insert(id);
                }
            }
            Some(JobRow::Job(job) | JobRow::Trial(job)) => {
                let job = job.id;
                return open_log(app, job);
            }
            None => {}
        },
        (Command::Compare, _) => match app.selected_sweep() {
            Some(sweep) => {
                app.status = Some(format!("loading sweep {sweep}…"));
                return Effect::LoadCompare {
                    sweep,
                    all_columns: false,
                    reload: false,
                };
            }
            None => {
                app.status = Some(format!(
                    "{} compares a sweep's trials: select a sweep or one of its trials",
                    app.keys.key_of(Command::Compare)
                ));
            }
        },
        (Command::Stop, _) if matches!(app.selected_row(), Some(JobRow::Sweep(_))) => {
            if let Some(JobRow::Sweep(sweep)) = app.selected_row() {
                if sweep.state == "running" {
                    app.confirm = Some(Confirm::StopSweep(sweep.sweep));
                } else {
                    app.status = Some(format!(
                        "sweep {} has already ended: {}",
                        sweep.sweep, sweep.state
                    ));
                }
            }
        }
        (Command::Stop, _) => match app.selected_job() {
            Some(job) if !job.state.is_final() => app.confirm = Some(Confirm::Stop(job.id)),
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
        (Command::Predict, _) => return open_predict(app),
        (Command::Chart, _) => match app.selected_row() {
            Some(JobRow::Sweep(sweep)) => {
                let sweep = sweep.sweep;
                app.status = Some(format!("loading the curves of sweep {sweep}…"));
                return Effect::LoadCurves {
                    of: CurvesOf::Sweep(sweep),
                    reload: false,
                };
            }
            Some(JobRow::Job(job) | JobRow::Trial(job)) => {
                let job = job.id;
                app.status = Some(format!("loading the charts of job {job}…"));
                return Effect::LoadChart(job);
            }
            None => {}
        },
        (Command::Rerun, _) => {
            if let Some(job) = app.selected_job() {
                return Effect::Rerun(job.id);
            }
        }
        (Command::Shell, _) => match app.selected_job() {
            Some(job) if job.state == mlbench_domain::JobState::Running => return Effect::Shell(job.id),
            Some(job) => {
                app.status = Some(format!(
                    "job {} is {}: {} enters a running job",
                    job.id,
                    job.state,
                    app.keys.key_of(Command::Shell)
                ));
            }
            None => {}
        },
        (Command::Storage, _) => {
            if let Some(project) = app.selected_project().map(|p| p.name.clone()) {
                // A project has a storage on each engine its jobs ran on: the selected job's.
                let engine = app
                    .selected_job()
                    .map_or_else(|| mlbench_domain::LOCAL_ENGINE.to_string(), |j| j.engine.clone());
                app.status = Some(format!("listing the storage of {project}…"));
                return Effect::LoadStorage {
                    project,
                    engine,
                    folder: None,
                    select: None,
                };
            }
        }
        (Command::NewProject, _) => {
            app.prompt = Some(Prompt {
                purpose: PromptFor::NewProject,
                input: LineInput::default(),
            });
        }
        (Command::Delete, Panel::Projects) => {
            if let Some(project) = app.selected_project() {
                app.prompt = Some(Prompt {
                    purpose: PromptFor::DeleteProject {
                        name: project.name.clone(),
                        jobs: project.jobs,
                    },
                    input: LineInput::default(),
                });
            }
        }
        (Command::Delete, Panel::Jobs) => match app.selected_row() {
            Some(JobRow::Sweep(sweep)) if sweep.state == "running" => {
                app.status = Some(format!(
                    "sweep {} is running: stop it first ({}), then delete it",
                    sweep.sweep,
                    app.keys.key_of(Command::Stop)
                ));
            }
            Some(JobRow::Sweep(sweep)) => app.confirm = Some(Confirm::DeleteSweep(sweep.sweep)),
            Some(JobRow::Job(job) | JobRow::Trial(job)) if !job.state.is_final() => {
                app.status = Some(format!(
                    "job {} is {}: stop it first ({}), then delete it",
                    job.id,
                    job.state,
                    app.keys.key_of(Command::Stop)
                ));
            }
            Some(JobRow::Job(job) | JobRow::Trial(job)) => app.confirm = Some(Confirm::DeleteJob(job.id)),
            None => {}
        },
        (Command::FilterJobs, _) => {
            let typed = app
                .job_filter
                .as_ref()
                .map(|f| f.typed.clone())
                .unwrap_or_default();
            app.prompt = Some(super::Prompt {
                purpose: super::PromptFor::FilterJobs,
                input: crate::line_input::LineInput::new(typed),
            });
        }
        (Command::SortNext, _) => {
            let column = super::JobSort::next(app.job_sort.map(|(c, _)| c));
            app.job_sort = Some((column, false));
            app.job_row = 0;
            app.status = Some(format!("jobs sorted by {}", column.name()));
        }
        (Command::SortReverse, _) => {
            let (column, descending) = app.job_sort.unwrap_or((super::JobSort::Id, true));
            app.job_sort = Some((column, !descending));
            app.job_row = 0;
        }
        (Command::Back, _) if app.job_filter.is_some() => {
            app.job_filter = None;
            app.status = Some("filter off: every job".into());
        }
        (Command::Back, _) => app.status = None,
        _ => {}
    }
    Effect::None
}

/// Selects the project on `row`; the job list starts again at its top.
fn select_project(app: &mut App, row: usize) {
    if row != app.project_row() {
        app.project = app.projects.get(row).map(|p| p.name.clone());
        app.job_row = 0;
    }
}

/// The wheel moves like the arrow keys; a click on a project or a job selects it.
pub(super) fn on_mouse(app: &mut App, mouse: MouseEvent) -> Effect {
    if app.help || app.prompt.is_some() || app.form.is_some() || app.confirm.is_some() {
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
            let [projects, _, _] = layout::workbench_panels(main_area(app));
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
        Screen::Compare => {
            super::compare::compare_command(app, command);
            Effect::None
        }
        Screen::Chart | Screen::Curves | Screen::Storage => Effect::None,
    }
}

fn main_area(app: &App) -> Rect {
    let [main, _] = layout::screen(Rect::new(0, 0, app.size.0, app.size.1));
    main
}

fn click(app: &mut App, column: u16, row: u16) {
    let [projects, jobs, _] = layout::workbench_panels(main_area(app));
    let inside = |r: Rect| column >= r.x && column < r.x + r.width && row > r.y && row + 1 < r.y + r.height;
    if inside(projects) {
        app.focus = Panel::Projects;
        let project_row = (row - projects.y - 1) as usize;
        if project_row < app.projects.len() {
            select_project(app, project_row);
        }
    } else if inside(jobs) && row > jobs.y + 1 {
        app.focus = Panel::Jobs;
        // Rows below the header; a list taller than the panel has scrolled to keep the selection.
        let visible = jobs.height.saturating_sub(3) as usize;
        let offset = app.job_row.saturating_sub(visible.saturating_sub(1));
        let job_row = offset + (row - jobs.y - 2) as usize;
        if job_row < app.project_rows().len() {
            app.job_row = job_row;
        }
    }
}
