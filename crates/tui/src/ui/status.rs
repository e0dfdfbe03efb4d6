//! The status line: the last message first (what the user just did is what they look for),
//! then a full disk that holds running jobs' logs back, what doctor finds wrong, the running and queued counts and the engine; the help key
//! always shows.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::Theme;
use crate::app::App;

const HINT: &str = " ? help ";

pub(crate) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let mut text = format!(
        "{} running, {} queued │ {}",
        app.running(),
        app.queued(),
        app.engine
    );
    if let Some(health) = &app.health {
        text = format!("⚠ {health} │ {text}");
    }
    // Before doctor's line: this one is about jobs running now.
    if let Some(full) = &app.disk_full {
        text = format!("⚠ {full} │ {text}");
    }
    if let Some(status) = &app.status {
        text = format!("{status} │ {text}");
    }
    if let Some(progress) = &app.progress {
        let filled = ((progress.ratio * 10.0).round() as usize).min(10);
        text = format!(
            "[{}{}] {} │ {text}",
            "█".repeat(filled),
            "░".repeat(10 - filled),
            progress.label
        );
    }
    // The end gives way, so the help key always shows.
    let room = (area.width as usize).saturating_sub(HINT.len());
    let shown = super::cut(&text, room);
    let pad = room.saturating_sub(shown.chars().count());
    let line = Line::from(vec![
        Span::raw(shown),
        Span::raw(" ".repeat(pad)),
        Span::styled(HINT, theme.fg(Color::Cyan)),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}
