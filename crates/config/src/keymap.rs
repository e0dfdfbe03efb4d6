//! The workbench's key map: one table says which keys run which command on which screen; the help popup is
//! drawn from it, and the config file's `[keys]` table replaces a command's keys.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Workbench,
    Logs,
    Chart,
    /// A sweep's trials side by side.
    Compare,
    /// Metric series against their steps.
    Curves,
    /// A project's /storage.
    Storage,
}

impl Screen {
    pub(crate) const ALL: [Screen; 6] = [
        Screen::Workbench,
        Screen::Logs,
        Screen::Chart,
        Screen::Compare,
        Screen::Curves,
        Screen::Storage,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Quit,
    Help,
    Up,
    Down,
    Top,
    Bottom,
    PageUp,
    PageDown,
    NextPanel,
    Open,
    Back,
    Stop,
    Rerun,
    ToggleTimestamps,
    ToggleWrap,
    Search,
    NextMatch,
    PreviousMatch,
    Chart,
    Export,
    Serve,
    Predict,
    New,
    Mouse,
    Compare,
    SortNext,
    SortReverse,
    ToggleColumns,
    NextSeries,
    NextFeature,
    ActualVsPredicted,
    NewProject,
    Delete,
    Shell,
    Storage,
    CopyOut,
    Filter,
    FilterJobs,
    Select,
    Copy,
    Save,
}

const ALL: &[Screen] = &Screen::ALL;
const MOVING: &[Screen] = &[Screen::Workbench, Screen::Logs, Screen::Compare, Screen::Storage];
const WORKBENCH: &[Screen] = &[Screen::Workbench];
const OPENING: &[Screen] = &[Screen::Workbench, Screen::Compare, Screen::Storage];
const LOGS: &[Screen] = &[Screen::Logs];
const CHARTS: &[Screen] = &[Screen::Chart, Screen::Curves];
const CHART: &[Screen] = &[Screen::Chart];
const CHARTS_AND_WORKBENCH: &[Screen] = &[Screen::Workbench, Screen::Chart, Screen::Curves];
const CHART_AND_WORKBENCH: &[Screen] = &[Screen::Workbench, Screen::Chart];
const COMPARE: &[Screen] = &[Screen::Compare];
const COMPARE_AND_WORKBENCH: &[Screen] = &[Screen::Workbench, Screen::Compare];
const CURVES: &[Screen] = &[Screen::Curves];
const STORAGE: &[Screen] = &[Screen::Storage];

/// (command, its name in the config file, screens, default keys, help)
type Default = (
    Command,
    &'static str,
    &'static [Screen],
    &'static [&'static str],
    &'static str,
);

const DEFAULTS: &[Default] = &[
    (Command::Quit, "quit", ALL, &["q"], "quit (jobs keep running)"),
    (Command::Help, "help", ALL, &["?"], "this help"),
    (Command::Up, "up", MOVING, &["k", "Up"], "up"),
    (Command::Down, "down", MOVING, &["j", "Down"], "down"),
    (
        Command::Top,
        "top",
        MOVING,
        &["g", "Home"],
        "top (logs: the log's first line)",
    ),
    (
        Command::Bottom,
        "bottom",
        MOVING,
        &["G", "End"],
        "bottom (logs: follow again)",
    ),
    (Command::PageUp, "page_up", LOGS, &["PageUp", "C-u"], "page up"),
    (
        Command::PageDown,
        "page_down",
        LOGS,
        &["PageDown", "C-d"],
        "page down",
    ),
    (
        Command::NextPanel,
        "next_panel",
        WORKBENCH,
        &["Tab"],
        "next panel",
    ),
    (
        Command::Open,
        "open",
        OPENING,
        &["Enter"],
        "open the job's logs (sweep: its trials; storage: a preview)",
    ),
    (Command::Back, "back", ALL, &["Esc"], "back"),
    (
        Command::Mouse,
        "mouse",
        ALL,
        &["m"],
        "mouse on/off (off lets the terminal select text)",
    ),
    (
        Command::New,
        "new",
        WORKBENCH,
        &["n"],
        "new experiment (a form; Enter through it re-runs the latest job)",
    ),
    (
        Command::NewProject,
        "new_project",
        WORKBENCH,
        &["P"],
        "new project (its name is checked as you type)",
    ),
    (
        Command::Delete,
        "delete",
        WORKBENCH,
        &["D"],
        "delete the finished job, or on projects the project",
    ),
    (
        Command::Shell,
        "shell",
        WORKBENCH,
        &["E"],
        "a shell in the running job (exit returns here)",
    ),
    (
        Command::Storage,
        "storage",
        WORKBENCH,
        &["b"],
        "browse the project's /storage",
    ),
    (
        Command::CopyOut,
        "copy_out",
        STORAGE,
        &["e"],
        "copy the file to the exports folder (the config's `exports`; as storage get)",
    ),
    (
        Command::Stop,
        "stop",
        WORKBENCH,
        &["x"],
        "stop the job (asks y/n)",
    ),
    (
        Command::Rerun,
        "rerun",
        WORKBENCH,
        &["r"],
        "run the job again (same spec)",
    ),
    (
        Command::Chart,
        "chart",
        CHARTS_AND_WORKBENCH,
        &["c"],
        "the fit chart, or metric curves (on a chart: switch between them)",
    ),
    (
        Command::Export,
        "export",
        CHARTS,
        &["e"],
        "write the chart as PNG",
    ),
    (
        Command::Compare,
        "compare",
        WORKBENCH,
        &["C"],
        "compare the sweep's trials",
    ),
    (
        Command::SortNext,
        "sort",
        COMPARE_AND_WORKBENCH,
        &["o"],
        "sort by the next column",
    ),
    (
        Command::SortReverse,
        "sort_reverse",
        COMPARE_AND_WORKBENCH,
        &["O"],
        "reverse the sort",
    ),
    (
        Command::ToggleColumns,
        "all_columns",
        COMPARE,
        &["a"],
        "show or hide parameters that never change",
    ),
    (
        Command::NextSeries,
        "next_series",
        CURVES,
        &["Tab"],
        "next metric",
    ),
    (
        Command::NextFeature,
        "next_feature",
        CHART,
        &["Tab"],
        "the next feature's partial dependence (the others at their means)",
    ),
    (
        Command::ActualVsPredicted,
        "actual_vs_predicted",
        CHART,
        &["a"],
        "actual against predicted (any model), or back to the feature",
    ),
    (
        Command::Serve,
        "serve",
        WORKBENCH,
        &["s"],
        "serve the job's model, or stop serving it",
    ),
    (
        Command::Predict,
        "predict",
        CHART_AND_WORKBENCH,
        &["p"],
        "ask the project's serving job for predictions",
    ),
    (
        Command::ToggleTimestamps,
        "timestamps",
        LOGS,
        &["t"],
        "timestamps",
    ),
    (Command::ToggleWrap, "wrap", LOGS, &["w"], "wrap"),
    (Command::Search, "search", LOGS, &["/"], "search"),
    (Command::NextMatch, "next_match", LOGS, &["n"], "next match"),
    (
        Command::PreviousMatch,
        "previous_match",
        LOGS,
        &["N"],
        "previous match",
    ),
    (
        Command::Filter,
        "filter",
        LOGS,
        &["f"],
        "show only lines with the text (!text: without it), whole log",
    ),
    (
        Command::FilterJobs,
        "filter_jobs",
        WORKBENCH,
        &["/"],
        "show only jobs with the text in their state, command, parameters or runtime (!text: without it)",
    ),
    (
        Command::Select,
        "select",
        LOGS,
        &["v"],
        "select lines (j/k extend the selection; v again or Esc ends it)",
    ),
    (
        Command::Copy,
        "copy",
        LOGS,
        &["y"],
        "copy the selected (or visible) lines to the clipboard",
    ),
    (
        Command::Save,
        "save",
        LOGS,
        &["S"],
        "save the log (as filtered) to a file, no colour codes",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) code: KeyCode,
    pub(crate) ctrl: bool,
}

/// Reads `q`, `?`, `Enter`, `Esc`, `Tab`, `Up`, `PageDown`, `Home`, `F5`, `C-u` (Ctrl) …
pub(crate) fn parse_key(text: &str) -> Result<Key, String> {
    let (ctrl, name) = match text.strip_prefix("C-") {
        Some(rest) if !rest.is_empty() => (true, rest),
        _ => (false, text),
    };
    let code = match name {
        "Enter" => KeyCode::Enter,
        "Esc" => KeyCode::Esc,
        "Tab" => KeyCode::Tab,
        "Backspace" => KeyCode::Backspace,
        "Delete" => KeyCode::Delete,
        "Up" => KeyCode::Up,
        "Down" => KeyCode::Down,
        "Left" => KeyCode::Left,
        "Right" => KeyCode::Right,
        "Home" => KeyCode::Home,
        "End" => KeyCode::End,
        "PageUp" => KeyCode::PageUp,
        "PageDown" => KeyCode::PageDown,
        "Space" => KeyCode::Char(' '),
        f if f.len() > 1
            && f.starts_with('F')
            && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) =>
        {
            KeyCode::F(f[1..].parse().unwrap_or(1))
        }
        c if c.chars().count() == 1 => KeyCode::Char(c.chars().next().unwrap_or(' ')),
        other => {
            return Err(format!(
                "{other:?} is not a key: use one character, Enter, Esc, Tab, Up, Down, Left, Right, Home, End, PageUp, PageDown, Delete, Backspace, Space or F1–F12, with C- for Ctrl"
            ));
        }
    };
    Ok(Key { code, ctrl })
}

#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub(crate) command: Command,
    pub(crate) name: &'static str,
    pub(crate) screens: &'static [Screen],
    pub(crate) keys: Vec<Key>,
    pub labels: Vec<String>,
    pub help: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeyMap {
    bindings: Vec<Binding>,
}

impl KeyMap {
    pub fn defaults() -> KeyMap {
        KeyMap::with_overrides(&BTreeMap::new()).unwrap_or(KeyMap { bindings: Vec::new() })
    }

    /// The defaults with the config's `[keys]` (command name → keys) in place of theirs.
    pub(crate) fn with_overrides(overrides: &BTreeMap<String, Vec<String>>) -> Result<KeyMap, String> {
        if let Some(unknown) = overrides
            .keys()
            .find(|n| !DEFAULTS.iter().any(|d| d.1 == n.as_str()))
        {
            let names: Vec<&str> = DEFAULTS.iter().map(|d| d.1).collect();
            return Err(format!(
                "keys.{unknown} is not a command: the commands are {}",
                names.join(", ")
            ));
        }
        let mut bindings = Vec::new();
        for &(command, name, screens, keys, help) in DEFAULTS {
            let labels: Vec<String> = match overrides.get(name) {
                Some(keys) => keys.clone(),
                None => keys.iter().map(std::string::ToString::to_string).collect(),
            };
            let keys = labels
                .iter()
                .map(|k| parse_key(k))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("keys.{name}: {e}"))?;
            bindings.push(Binding {
                command,
                name,
                screens,
                keys,
                labels,
                help,
            });
        }
        let map = KeyMap { bindings };
        for screen in Screen::ALL {
            let mut seen: Vec<(Key, &str)> = Vec::new();
            for b in map.bindings(screen) {
                for key in &b.keys {
                    if let Some((_, other)) = seen.iter().find(|(k, _)| k == key) {
                        return Err(format!(
                            "keys.{} and keys.{other} share a key on one screen",
                            b.name
                        ));
                    }
                    seen.push((*key, b.name));
                }
            }
        }
        Ok(map)
    }

    /// The command a key means on a screen, if any.
    pub fn lookup(&self, screen: Screen, key: KeyEvent) -> Option<Command> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        self.bindings(screen)
            .find(|b| b.keys.contains(&Key { code: key.code, ctrl }))
            .map(|b| b.command)
    }

    /// The key a command is on, as the user set it (`[keys]`) or by default: what messages
    /// name ("press x"), so a remapped key is never named by its default.
    pub fn key_of(&self, command: Command) -> &str {
        self.bindings
            .iter()
            .find(|b| b.command == command)
            .and_then(|b| b.labels.first())
            .map_or("?", String::as_str)
    }

    /// The bindings of a screen, for the help popup.
    pub fn bindings(&self, screen: Screen) -> impl Iterator<Item = &Binding> {
        self.bindings.iter().filter(move |b| b.screens.contains(&screen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_consistent() {
        let map = KeyMap::defaults();
        assert_eq!(map.bindings.len(), DEFAULTS.len());
        let key = KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL);
        assert_eq!(map.lookup(Screen::Logs, key), Some(Command::PageDown));
        assert_eq!(map.lookup(Screen::Workbench, key), None);
    }

    #[test]
    fn the_config_replaces_keys_and_says_what_is_wrong() {
        let overrides = BTreeMap::from([("stop".to_string(), vec!["Delete".to_string(), "C-k".to_string()])]);
        let map = KeyMap::with_overrides(&overrides).unwrap();
        let delete = KeyEvent::new(KeyCode::Delete, KeyModifiers::NONE);
        assert_eq!(map.lookup(Screen::Workbench, delete), Some(Command::Stop));
        assert_eq!(
            (map.key_of(Command::Stop), map.key_of(Command::Rerun)),
            ("Delete", "r")
        );
        assert_eq!(
            map.lookup(
                Screen::Workbench,
                KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE)
            ),
            None
        );
        let err = |name: &str, key: &str| {
            KeyMap::with_overrides(&BTreeMap::from([(name.to_string(), vec![key.to_string()])])).unwrap_err()
        };
        assert!(err("explode", "x").starts_with("keys.explode is not a command"));
        assert!(err("stop", "Ctrl+X").starts_with("keys.stop: \"Ctrl+X\" is not a key"));
        assert_eq!(
            err("stop", "q"),
            "keys.stop and keys.quit share a key on one screen"
        );
    }
}
