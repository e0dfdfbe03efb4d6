//! The help popup, drawn from the key map.

use ratatui::Frame;
use ratatui::layout::Rect;

use super::{Theme, popup};
use crate::tui::keys::{Screen, bindings};

pub fn draw(frame: &mut Frame, area: Rect, screen: Screen, _theme: Theme) {
    let mut lines: Vec<String> = bindings(screen)
        .map(|b| format!("{:<8} {}", b.label, b.help))
        .collect();
    lines.push(String::new());
    lines.push("any key closes this help".into());
    let title = match screen {
        Screen::Workbench => "keys: workbench",
        Screen::Logs => "keys: logs",
        Screen::Chart => "keys: fit chart",
    };
    popup(frame, area, title, &lines);
}
