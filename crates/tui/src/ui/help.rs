//! The help popup, drawn from the key map; it scrolls when the screen is too short for it.

use mlbench_config::keymap::{KeyMap, Screen};
use ratatui::Frame;
use ratatui::layout::Rect;

use super::popup;

pub(crate) fn draw(frame: &mut Frame, area: Rect, screen: Screen, keys: &KeyMap, scroll: usize) {
    let keys: Vec<String> = keys
        .bindings(screen)
        .map(|b| format!("{:<12} {}", b.labels.join("/"), b.help))
        .collect();
    // Borders, the blank line and the closing line take four rows.
    let rows = usize::from(area.height.saturating_sub(4)).max(1);
    let scroll = scroll.min(keys.len().saturating_sub(rows));
    let mut lines: Vec<String> = keys.iter().skip(scroll).take(rows).cloned().collect();
    lines.push(String::new());
    lines.push(if keys.len() > rows {
        format!(
            "{}–{} of {}: j/k scroll, any other key closes this help",
            scroll + 1,
            scroll + lines.len() - 1,
            keys.len()
        )
    } else {
        "any key closes this help".into()
    });
    let title = match screen {
        Screen::Workbench => "keys: workbench",
        Screen::Logs => "keys: logs",
        Screen::Chart => "keys: fit chart",
        Screen::Compare => "keys: compare",
        Screen::Curves => "keys: metric curves",
        Screen::Storage => "keys: storage",
    };
    popup(frame, area, title, &lines);
}
