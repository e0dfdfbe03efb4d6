//! The storage browser: a project's /storage as a list (size, time), a preview of the selected
//! file, and copying it out, as `mlbench storage get` does.

use mlbench_config::keymap::{Command, Screen};
use mlbench_engine::projects::storage::{Entry, Preview};

use super::{App, Effect};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StorageView {
    pub(crate) project: String,
    pub(crate) entries: Vec<Entry>,
    pub(crate) row: usize,
    /// The selected file's start, once Enter asked for it.
    pub(crate) preview: Option<Preview>,
    /// How far the preview is scrolled.
    pub(crate) scroll: usize,
}

impl StorageView {
    pub(crate) fn selected(&self) -> Option<&Entry> {
        self.entries.get(self.row)
    }
}

/// The listing arrived: the browser opens on it.
pub(super) fn show(app: &mut App, project: String, entries: Vec<Entry>) {
    app.storage = Some(StorageView {
        project,
        entries,
        row: 0,
        preview: None,
        scroll: 0,
    });
    app.screen = Screen::Storage;
    app.status = None;
}

pub(super) fn storage_command(app: &mut App, command: Command) -> Effect {
    let Some(view) = app.storage.as_mut() else {
        app.screen = Screen::Workbench;
        return Effect::None;
    };
    let last = view.entries.len().saturating_sub(1);
    match (command, view.preview.is_some()) {
        (Command::Quit, _) => app.quit = true,
        (Command::Help, _) => app.help = true,
        (Command::Back, true) => view.preview = None,
        (Command::Back, false) => {
            app.storage = None;
            app.screen = Screen::Workbench;
        }
        (Command::Up, true) => view.scroll = view.scroll.saturating_sub(1),
        (Command::Down, true) => view.scroll += 1,
        (Command::Top, true) => view.scroll = 0,
        (Command::Up, false) => view.row = view.row.saturating_sub(1),
        (Command::Down, false) => view.row = (view.row + 1).min(last),
        (Command::Top, false) => view.row = 0,
        (Command::Bottom, false) => view.row = last,
        (Command::Open, _) => {
            if let Some(path) = view.selected().map(|e| e.path.clone()) {
                view.scroll = 0;
                return Effect::PreviewStorage {
                    project: view.project.clone(),
                    path,
                };
            }
        }
        (Command::CopyOut, _) => {
            if let Some(entry) = view.selected() {
                app.status = Some(format!("copying {} out…", entry.path));
                return Effect::CopyOutStorage {
                    project: view.project.clone(),
                    path: entry.path.clone(),
                };
            }
        }
        _ => {}
    }
    Effect::None
}
