//! The input popups: the port mapping for serving, and predictions with their history.

use ratatui::Frame;
use ratatui::layout::Rect;

use super::popup;
use crate::app::{App, NameProblem, PromptFor, new_project_problem};

/// Queries listed above the prediction prompt.
const HISTORY: usize = 8;

pub(crate) fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let Some(prompt) = &app.prompt else { return };
    // Borders, padding and the "> " leave the rest of the screen's width to the text.
    let input = format!(
        "> {}",
        prompt.input.view(usize::from(area.width.saturating_sub(8)))
    );
    match &prompt.purpose {
        PromptFor::Port { model, .. } => {
            let lines = [
                "port mapping: [host ip:]host port:container port".to_string(),
                input,
                String::new(),
                "Enter: start serving   Esc: cancel".to_string(),
            ];
            popup(frame, area, &format!("serve {model}"), &lines);
        }
        PromptFor::NewProject => {
            let typed = prompt.input.text.trim();
            let rule = "lowercase letters, digits, - _ . (starting with a letter or digit)";
            let check = match new_project_problem(app, typed) {
                _ if typed.is_empty() => rule.to_string(),
                None => "✓ a good name".to_string(),
                Some(NameProblem::Exists) => format!("{typed} exists: pick another name"),
                Some(NameProblem::Invalid(_)) => format!("✗ {rule}"),
            };
            let lines = [
                "project name:".to_string(),
                input,
                check,
                String::new(),
                "Enter: create   Esc: cancel".to_string(),
            ];
            popup(frame, area, "new project", &lines);
        }
        PromptFor::DeleteProject { name, jobs } => {
            let lines = [
                format!("This deletes project {name}: its {jobs} job(s), their logs,"),
                "and everything in its /storage (models included). It cannot be undone.".to_string(),
                format!("Type {name} to delete it:"),
                input,
                String::new(),
                "Enter: delete   Esc: keep it".to_string(),
            ];
            popup(frame, area, &format!("delete project {name}"), &lines);
        }
        PromptFor::SaveLog { job, filter } => {
            let what = match filter {
                Some(filter) => format!(
                    "the lines of job {job}'s log that filter {} shows",
                    filter.typed()
                ),
                None => format!("job {job}'s whole log"),
            };
            let lines = [
                format!("save {what}, without colour codes, to:"),
                input,
                String::new(),
                "Enter: save (a file that exists is kept)   Esc: cancel".to_string(),
            ];
            popup(frame, area, "save the log", &lines);
        }
        PromptFor::FilterJobs => {
            let lines = [
                "show only jobs with this text in their state, command, parameters or runtime".to_string(),
                "(!text: those without it; empty: every job)".to_string(),
                input,
                String::new(),
                "Enter: filter   Esc: cancel".to_string(),
            ];
            popup(frame, area, "filter jobs", &lines);
        }
        PromptFor::Predict { project, url, model } => {
            let asked: Vec<_> = app.predictions.iter().filter(|p| &p.project == project).collect();
            let mut lines: Vec<String> = asked
                .iter()
                .skip(asked.len().saturating_sub(HISTORY))
                .map(|p| match &p.output {
                    Ok(output) => format!("{:>10} → {:<16} {:>7.1} ms", p.input, output, p.latency_ms),
                    Err(why) => format!("{:>10} ✗ {why}", p.input),
                })
                .collect();
            if lines.is_empty() {
                // The model's own inputs, never a sentence about one model.
                lines.push(model.hint());
            }
            let typed = input.strip_prefix("> ").unwrap_or(&input);
            lines.push(format!("{}: {typed}", model.label()));
            lines.push(String::new());
            lines.push("Enter: ask   Esc: close".into());
            popup(frame, area, &format!("predict: {project} at {url}"), &lines);
        }
    }
}
