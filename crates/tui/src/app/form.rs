//! Keys on the new-experiment form, and what becomes of its submission.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{App, Effect};
use crate::form::{Field, FormRequest};
use crate::line_input::Edit;

pub(super) fn on_form_key(app: &mut App, key: KeyEvent) -> Effect {
    let Some(form) = app.form.as_mut() else {
        return Effect::None;
    };
    if form.edit(key) != Edit::Ignored {
        return Effect::None;
    }
    // Alt-Enter submits from any field and opens the new job's log.
    let follow = key.modifiers.contains(KeyModifiers::ALT);
    match key.code {
        KeyCode::Esc => {
            app.form = None;
            app.status = Some("cancelled: nothing was created".into());
        }
        // Tab in the repo field completes a folder first, as a shell does (the worker reads
        // the folder; with nothing to complete, the answer moves the focus on).
        KeyCode::Tab if form.focus == Field::Repo => return Effect::CompleteRepo(form.text.repo.clone()),
        KeyCode::Tab | KeyCode::Down => {
            form.image_query.clear();
            form.focus = form.next_field(form.focus);
        }
        KeyCode::BackTab | KeyCode::Up => form.focus = form.previous_field(form.focus),
        KeyCode::Left => form.cycle(-1),
        KeyCode::Right => form.cycle(1),
        KeyCode::Enter if form.focus != Field::LAST && !follow => form.focus = form.next_field(form.focus),
        KeyCode::Enter => match form.request() {
            Ok(request) => {
                // Kept aside: a refusal from the engine opens it again at the field concerned.
                app.submitting = app.form.take();
                app.follow_submitted = follow;
                app.status = Some("submitting…".into());
                return match request {
                    FormRequest::Job(job) => Effect::Submit(job),
                    FormRequest::Sweep(sweep) => Effect::StartSweep(Box::new(sweep)),
                };
            }
            Err((field, error)) => {
                form.focus = field;
                app.status = Some(format!("{}: {error}", field.name()));
            }
        },
        _ => {}
    }
    Effect::None
}

/// The engine refused the submitted form over one field: the form comes back with the refusal
/// beside that field.
pub(super) fn refused(app: &mut App, field: &str, text: String) {
    app.follow_submitted = false;
    match (app.submitting.take(), Field::named(field)) {
        (Some(mut form), Some(field)) => {
            form.focus = field;
            form.refusal = Some((field, text.clone()));
            app.form = Some(form);
            app.status = Some(format!("{}: {text}", field.name()));
        }
        _ => app.status = Some(text),
    }
}
