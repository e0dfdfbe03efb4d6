//! The help popup, drawn from the key map.

use ratatui::Frame;
use ratatui::layout::Rect;

use super::popup;
use crate::keymap::{KeyMap, Screen};

pub fn draw(frame: &mut Frame, area: Rect, screen: Screen, keys: &KeyMap) {
    let mut lines: Vec<String> = keys
        .bindings(screen)
        .map(|b| format!("{:<12} {}", b.labels.join("/"), b.help))
        .collect();
    lines.push(String::new());
    lines.push("any key closes this help".into());
    let title = match screen {
        Screen::Workbench => "keys: workbench",
        Screen::Logs => "keys: logs",
        Screen::Chart => "keys: fit chart",
        Screen::Compare => "keys: compare",
        Screen::Curves => "keys: metric curves",
    };
    popup(frame, area, title, &lines);
}
