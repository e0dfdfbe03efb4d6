//! The storage browser: one folder of a project's /storage at a time (size, time), Enter to go
//! into a folder or preview a file, Esc to go back up, and copying a file out, as `mlbench
//! storage get` does. Only the folder shown is read, so a storage of any size opens at once.

use mlbench_config::keymap::{Command, Screen};
use mlbench_engine::projects::storage::{Entry, Folder, Preview};

use super::{App, Effect};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StorageView {
    pub(crate) project: String,
    /// The engine whose storage this is.
    pub(crate) engine: String,
    pub(crate) folder: Folder,
    pub(crate) row: usize,
    /// The selected file's start, once Enter asked for it.
    pub(crate) preview: Option<Preview>,
    /// How far the preview is scrolled.
    pub(crate) scroll: usize,
}

impl StorageView {
    pub(crate) fn selected(&self) -> Option<&Entry> {
        self.folder.entries.get(self.row)
    }
}

/// A folder's listing arrived: the browser shows it, on the entry `select` names if given (the
/// folder it came up from).
pub(super) fn show(app: &mut App, project: String, engine: String, folder: Folder, select: Option<&str>) {
    let row = select
        .and_then(|path| folder.entries.iter().position(|e| e.path == path))
        .unwrap_or(0);
    app.storage = Some(StorageView {
        project,
        engine,
        folder,
        row,
        preview: None,
        scroll: 0,
    });
    app.screen = Screen::Storage;
    app.status = None;
}

/// The folder above `path` (`/storage/a/b` → `/storage/a`); none above `/storage`.
fn parent(path: &str) -> Option<&str> {
    let (up, _) = path.rsplit_once('/')?;
    up.starts_with("/storage").then_some(up)
}

pub(super) fn storage_command(app: &mut App, command: Command) -> Effect {
    let Some(view) = app.storage.as_mut() else {
        app.screen = Screen::Workbench;
        return Effect::None;
    };
    let last = view.folder.entries.len().saturating_sub(1);
    match (command, view.preview.is_some()) {
        (Command::Quit, _) => app.quit = true,
        (Command::Help, _) => app.help = true,
        (Command::Back, true) => view.preview = None,
        (Command::Back, false) => match parent(&view.folder.path) {
            Some(up) => {
                return Effect::LoadStorage {
                    project: view.project.clone(),
                    engine: view.engine.clone(),
                    folder: Some(up.to_string()),
                    select: Some(view.folder.path.clone()),
                };
            }
            None => {
                app.storage = None;
                app.screen = Screen::Workbench;
            }
        },
        (Command::Up, true) => view.scroll = view.scroll.saturating_sub(1),
        (Command::Down, true) => view.scroll += 1,
        (Command::Top, true) => view.scroll = 0,
        (Command::Up, false) => view.row = view.row.saturating_sub(1),
        (Command::Down, false) => view.row = (view.row + 1).min(last),
        (Command::Top, false) => view.row = 0,
        (Command::Bottom, false) => view.row = last,
        (Command::Open, _) => {
            if let Some(entry) = view.selected() {
                let path = entry.path.clone();
                if entry.is_folder {
                    return Effect::LoadStorage {
                        project: view.project.clone(),
                        engine: view.engine.clone(),
                        folder: Some(path),
                        select: None,
                    };
                }
                view.scroll = 0;
                return Effect::PreviewStorage {
                    project: view.project.clone(),
                    engine: view.engine.clone(),
                    path,
                };
            }
        }
        (Command::CopyOut, _) => {
            if let Some(entry) = view.selected() {
                app.status = Some(format!("copying {} out…", entry.path));
                return Effect::CopyOutStorage {
                    project: view.project.clone(),
                    engine: view.engine.clone(),
                    path: entry.path.clone(),
                };
            }
        }
        _ => {}
    }
    Effect::None
}

#[cfg(test)]
mod tests {
    use super::parent;

    #[test]
    fn the_folder_above_stops_at_the_storage() {
        assert_eq!(parent("/storage/a/b"), Some("/storage/a"));
        assert_eq!(parent("/storage/a"), Some("/storage"));
        assert_eq!(parent("/storage"), None);
    }
}
