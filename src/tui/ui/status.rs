//! The status line: the engine, running and queued counts, the last message, the help key.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::Theme;
use crate::tui::app::App;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let mut spans = vec![
        Span::styled(app.engine.clone(), theme.fg(Color::Gray)),
        Span::raw(format!(" │ {} running, {} queued", app.running(), app.queued())),
    ];
    if let Some(status) = &app.status {
        spans.push(Span::raw(" │ "));
        spans.push(Span::styled(status.clone(), theme.fg(Color::Yellow)));
    }
    let hint = " ? help ";
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    let pad = (area.width as usize).saturating_sub(used + hint.len());
    spans.push(Span::raw(" ".repeat(pad)));
    spans.push(Span::styled(hint, theme.fg(Color::Cyan)));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
