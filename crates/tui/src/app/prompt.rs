//! One-line prompts: the port mapping to serve on, and inputs for the served model.

use crossterm::event::{KeyCode, KeyEvent};
use mlbench_domain::PortMapping;
use mlbench_engine::serving;
use mlbench_engine::serving::client::ModelInputs;

use super::{App, Effect};
use crate::line_input::{Edit, LineInput};

/// A line of input the user is typing, and what it is for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Prompt {
    pub(crate) purpose: PromptFor,
    pub(crate) input: LineInput,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PromptFor {
    /// The port mapping for serving `model` of `project` from its storage on `engine`.
    Port {
        project: String,
        model: String,
        engine: String,
    },
    /// Inputs for the model served at `url`.
    Predict {
        project: String,
        url: String,
        model: ModelInputs,
    },
    /// The name of a new project.
    NewProject,
    /// The name of the project to delete, typed again to confirm.
    DeleteProject { name: String, jobs: i64 },
    /// The job list's filter.
    FilterJobs,
    /// The file to save a job's log into.
    SaveLog {
        job: i64,
        filter: Option<mlbench_store::logscan::LineFilter>,
    },
}

/// What is wrong with a name typed for a new project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NameProblem {
    Exists,
    /// Not a project name: why.
    Invalid(String),
}

/// The one check of a new project's name, for the prompt as it is typed and on Enter.
pub(crate) fn new_project_problem(app: &App, name: &str) -> Option<NameProblem> {
    if let Err(e) = mlbench_domain::project::validate_name(name) {
        return Some(NameProblem::Invalid(e.to_string()));
    }
    app.projects
        .iter()
        .any(|p| p.name == name)
        .then_some(NameProblem::Exists)
}

/// One answered (or refused) query, kept listed under the prompt.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PredictionRow {
    pub(crate) project: String,
    pub(crate) input: String,
    /// The answer, or why there is none.
    pub(crate) output: Result<String, String>,
    /// The input and output as numbers, for the chart (one-input models).
    pub(crate) point: Option<(f64, f64)>,
    pub(crate) latency_ms: f64,
}

pub(super) fn on_prompt_key(app: &mut App, key: KeyEvent) -> Effect {
    let Some(prompt) = app.prompt.as_mut() else {
        return Effect::None;
    };
    if prompt.input.key(key) != Edit::Ignored {
        return Effect::None;
    }
    match key.code {
        KeyCode::Esc => app.prompt = None,
        KeyCode::Enter => match prompt.purpose.clone() {
            PromptFor::Port {
                project,
                model,
                engine,
            } => match prompt.input.text.trim().parse::<PortMapping>() {
                Ok(port) => {
                    app.prompt = None;
                    app.status = Some(format!("starting to serve {model} on {port}…"));
                    return Effect::Deploy {
                        project,
                        model,
                        engine,
                        port,
                    };
                }
                Err(e) => app.status = Some(e.to_string()),
            },
            PromptFor::NewProject => {
                let name = prompt.input.text.trim().to_string();
                match new_project_problem(app, &name) {
                    Some(NameProblem::Exists) => {
                        app.status = Some(format!("project {name} exists: pick another name"));
                    }
                    Some(NameProblem::Invalid(why)) => app.status = Some(why),
                    None => {
                        app.prompt = None;
                        return Effect::CreateProject(name);
                    }
                }
            }
            PromptFor::DeleteProject { name, .. } => {
                if prompt.input.text.trim() == name {
                    app.prompt = None;
                    app.status = Some(format!("deleting project {name}…"));
                    return Effect::DeleteProject(name);
                }
                app.status = Some(format!("type {name} to delete it, or Esc to keep it"));
            }
            PromptFor::FilterJobs => {
                let typed = prompt.input.text.clone();
                app.prompt = None;
                app.job_filter = super::JobFilter::parse(&typed);
                app.job_row = 0;
                app.status = Some(match &app.job_filter {
                    Some(f) => format!("showing jobs matching {}", f.typed),
                    None => "filter off: every job".into(),
                });
            }
            PromptFor::SaveLog { job, filter } => {
                let path = std::path::PathBuf::from(prompt.input.text.trim());
                if path.as_os_str().is_empty() {
                    app.status = Some("type the file to save the log into".into());
                } else {
                    app.prompt = None;
                    return Effect::SaveLog { job, filter, path };
                }
            }
            PromptFor::Predict { project, url, model } => {
                let input = prompt.input.take();
                if !input.trim().is_empty() {
                    return Effect::Predict {
                        project,
                        url,
                        model,
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
pub(crate) fn serving_url(app: &App) -> Option<String> {
    let project = app.selected_project()?;
    app.jobs
        .iter()
        .rev()
        .find(|j| {
            j.spec.project == project.name
                && j.spec.kind == mlbench_domain::JobKind::Serving
                && j.state == mlbench_domain::JobState::Running
        })
        .and_then(serving::deploy::job_url)
}

pub(super) fn open_predict(app: &mut App) -> Effect {
    let Some(project) = app.selected_project().map(|p| p.name.clone()) else {
        return Effect::None;
    };
    match serving_url(app) {
        Some(url) => {
            app.status = Some(format!("asking {url} what its model takes…"));
            return Effect::DescribeModel { project, url };
        }
        None => {
            app.status = Some(format!(
                "nothing serves in {project}: press {} on a trained job first",
                app.keys.key_of(mlbench_config::keymap::Command::Serve)
            ));
        }
    }
    Effect::None
}
