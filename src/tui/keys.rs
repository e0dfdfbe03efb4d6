//! The key map: one table says which key does what on which screen; the help screen is drawn
//! from the same table.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Workbench,
    Logs,
    Chart,
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
}

pub struct Binding {
    pub keys: &'static [KeyCode],
    pub ctrl: bool,
    pub screens: &'static [Screen],
    pub command: Command,
    pub label: &'static str,
    pub help: &'static str,
}

const ALL: &[Screen] = &[Screen::Workbench, Screen::Logs, Screen::Chart];
const BOTH: &[Screen] = &[Screen::Workbench, Screen::Logs];
const WORKBENCH: &[Screen] = &[Screen::Workbench];
const LOGS: &[Screen] = &[Screen::Logs];
const CHART: &[Screen] = &[Screen::Chart];
const CHART_AND_WORKBENCH: &[Screen] = &[Screen::Workbench, Screen::Chart];

pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[KeyCode::Char('q')],
        ctrl: false,
        screens: ALL,
        command: Command::Quit,
        label: "q",
        help: "quit (jobs keep running)",
    },
    Binding {
        keys: &[KeyCode::Char('?')],
        ctrl: false,
        screens: ALL,
        command: Command::Help,
        label: "?",
        help: "this help",
    },
    Binding {
        keys: &[KeyCode::Char('k'), KeyCode::Up],
        ctrl: false,
        screens: BOTH,
        command: Command::Up,
        label: "k/↑",
        help: "up",
    },
    Binding {
        keys: &[KeyCode::Char('j'), KeyCode::Down],
        ctrl: false,
        screens: BOTH,
        command: Command::Down,
        label: "j/↓",
        help: "down",
    },
    Binding {
        keys: &[KeyCode::Char('g'), KeyCode::Home],
        ctrl: false,
        screens: BOTH,
        command: Command::Top,
        label: "g/Home",
        help: "top",
    },
    Binding {
        keys: &[KeyCode::Char('G'), KeyCode::End],
        ctrl: false,
        screens: BOTH,
        command: Command::Bottom,
        label: "G/End",
        help: "bottom (logs: follow again)",
    },
    Binding {
        keys: &[KeyCode::PageUp],
        ctrl: false,
        screens: LOGS,
        command: Command::PageUp,
        label: "PgUp",
        help: "page up",
    },
    Binding {
        keys: &[KeyCode::PageDown],
        ctrl: false,
        screens: LOGS,
        command: Command::PageDown,
        label: "PgDn",
        help: "page down",
    },
    Binding {
        keys: &[KeyCode::Char('u')],
        ctrl: true,
        screens: LOGS,
        command: Command::PageUp,
        label: "C-u",
        help: "page up",
    },
    Binding {
        keys: &[KeyCode::Char('d')],
        ctrl: true,
        screens: LOGS,
        command: Command::PageDown,
        label: "C-d",
        help: "page down",
    },
    Binding {
        keys: &[KeyCode::Tab],
        ctrl: false,
        screens: WORKBENCH,
        command: Command::NextPanel,
        label: "Tab",
        help: "next panel",
    },
    Binding {
        keys: &[KeyCode::Enter],
        ctrl: false,
        screens: WORKBENCH,
        command: Command::Open,
        label: "Enter",
        help: "open the job's logs",
    },
    Binding {
        keys: &[KeyCode::Esc],
        ctrl: false,
        screens: ALL,
        command: Command::Back,
        label: "Esc",
        help: "back",
    },
    Binding {
        keys: &[KeyCode::Char('x')],
        ctrl: false,
        screens: WORKBENCH,
        command: Command::Stop,
        label: "x",
        help: "stop the job (asks y/n)",
    },
    Binding {
        keys: &[KeyCode::Char('r')],
        ctrl: false,
        screens: WORKBENCH,
        command: Command::Rerun,
        label: "r",
        help: "run the job again (same spec)",
    },
    Binding {
        keys: &[KeyCode::Char('c')],
        ctrl: false,
        screens: WORKBENCH,
        command: Command::Chart,
        label: "c",
        help: "the job's fit chart",
    },
    Binding {
        keys: &[KeyCode::Char('e')],
        ctrl: false,
        screens: CHART,
        command: Command::Export,
        label: "e",
        help: "write the chart as PNG",
    },
    Binding {
        keys: &[KeyCode::Char('n')],
        ctrl: false,
        screens: WORKBENCH,
        command: Command::New,
        label: "n",
        help: "new experiment (a form; Enter through it re-runs the latest job)",
    },
    Binding {
        keys: &[KeyCode::Char('s')],
        ctrl: false,
        screens: WORKBENCH,
        command: Command::Serve,
        label: "s",
        help: "serve the job's model, or stop serving it",
    },
    Binding {
        keys: &[KeyCode::Char('p')],
        ctrl: false,
        screens: CHART_AND_WORKBENCH,
        command: Command::Predict,
        label: "p",
        help: "ask the project's serving job for predictions",
    },
    Binding {
        keys: &[KeyCode::Char('t')],
        ctrl: false,
        screens: LOGS,
        command: Command::ToggleTimestamps,
        label: "t",
        help: "timestamps",
    },
    Binding {
        keys: &[KeyCode::Char('w')],
        ctrl: false,
        screens: LOGS,
        command: Command::ToggleWrap,
        label: "w",
        help: "wrap",
    },
    Binding {
        keys: &[KeyCode::Char('/')],
        ctrl: false,
        screens: LOGS,
        command: Command::Search,
        label: "/",
        help: "search",
    },
    Binding {
        keys: &[KeyCode::Char('n')],
        ctrl: false,
        screens: LOGS,
        command: Command::NextMatch,
        label: "n",
        help: "next match",
    },
    Binding {
        keys: &[KeyCode::Char('N')],
        ctrl: false,
        screens: LOGS,
        command: Command::PreviousMatch,
        label: "N",
        help: "previous match",
    },
];

/// The command a key means on a screen, if any.
pub fn lookup(screen: Screen, key: KeyEvent) -> Option<Command> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    BINDINGS
        .iter()
        .find(|b| b.screens.contains(&screen) && b.ctrl == ctrl && b.keys.contains(&key.code))
        .map(|b| b.command)
}

/// The bindings of a screen, for the help screen and the key hints.
pub fn bindings(screen: Screen) -> impl Iterator<Item = &'static Binding> {
    BINDINGS.iter().filter(move |b| b.screens.contains(&screen))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_means_two_things_on_one_screen() {
        for screen in [Screen::Workbench, Screen::Logs, Screen::Chart] {
            let mut seen = Vec::new();
            for b in bindings(screen) {
                for key in b.keys {
                    assert!(!seen.contains(&(key, b.ctrl)), "{key:?} twice on {screen:?}");
                    seen.push((key, b.ctrl));
                }
            }
        }
        let key = KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL);
        assert_eq!(lookup(Screen::Logs, key), Some(Command::PageDown));
        assert_eq!(lookup(Screen::Workbench, key), None);
    }
}
