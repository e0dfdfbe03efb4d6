//! The new-experiment form, as a popup: one line a field, its problem beside it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::{Theme, centered};
use crate::form::{Field, Form, ImageChoice};
use crate::line_input;

pub(crate) fn draw(frame: &mut Frame, area: Rect, form: &Form, theme: Theme) {
    let width = area.width.saturating_sub(4).min(100);
    let height = (form.fields().count() as u16 * 2 + 4).min(area.height);
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    let errors = form.errors();
    // The borders, the marker and the field's name take 15 columns.
    let room = usize::from(width.saturating_sub(15));
    let mut lines = Vec::new();
    for field in form.fields() {
        let (name, focused) = (field.name(), field == form.focus);
        let marker = if focused { "▶ " } else { "  " };
        let value = match field {
            Field::Machine => form
                .machine()
                .map_or(String::new(), |m| format!("‹ {} · {} ›", m.name, m.label)),
            Field::Engine => form
                .engine()
                .map_or(String::new(), |e| format!("‹ {} · {} ›", e.name, e.label)),
            Field::Image => match form.image() {
                ImageChoice::Local(name) if focused && !form.image_query.is_empty() => {
                    format!("‹ {name} › /{}", form.image_query)
                }
                ImageChoice::Local(name) => format!("‹ {name} ›"),
                ImageChoice::Build => "‹ build from the repo's Dockerfile ›".to_string(),
                ImageChoice::Pull(_) if focused => format!(
                    "‹ pull: {} ›",
                    line_input::view(&form.text.pull, form.cursor_in(field), room.saturating_sub(10))
                ),
                ImageChoice::Pull(name) => format!("‹ pull: {name} ›"),
            },
            _ => {
                let text = form.text.get(field).map_or("", String::as_str);
                if focused {
                    line_input::view(text, form.cursor_in(field), room)
                } else {
                    text.to_string()
                }
            }
        };
        let mut style = if focused {
            theme.fg(Color::Cyan).add_modifier(Modifier::BOLD)
        } else {
            Default::default()
        };
        if field == Field::Machine && form.machine().is_some_and(|m| m.unfit.is_some()) {
            style = theme.fg(Color::DarkGray).add_modifier(Modifier::DIM);
        }
        lines.push(Line::from(vec![
            Span::raw(format!("{marker}{name:<10} ")),
            Span::styled(value, style),
        ]));
        let note = match (errors.of(field), field) {
            (Some(error), _) => Span::styled(format!("             {error}"), theme.fg(Color::Red)),
            // The sweep's fields say what they take while the cursor is on them.
            (None, Field::Parameters) if focused => Span::styled(
                "             NAME=V1,V2 or NAME=A..B, several for a grid; empty runs one job",
                theme.fg(Color::DarkGray),
            ),
            (None, Field::Metric) if focused => Span::styled(
                "             for a sweep: the metric, then max or min (Accuracy max)",
                theme.fg(Color::DarkGray),
            ),
            _ => Span::raw(""),
        };
        lines.push(Line::from(note));
    }
    lines.push(Line::from(
        "↑↓ move, ←→ choose · Enter next/submit · Alt-Enter submit+follow · Esc",
    ));
    let title = format!(" new experiment in {} ", form.options.project);
    frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(title)), rect);
}
