//! The storage browser: the project's /storage with sizes and times, and a preview of the
//! selected file beside it.

use mlbench_domain::numfmt::human_bytes;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row, Table, TableState};

use mlbench_config::keymap::Command;

use super::Theme;
use crate::app::{App, StorageView};

pub(crate) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let Some(view) = &app.storage else { return };
    let [list, preview] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    draw_list(frame, list, view, theme);
    draw_preview(frame, preview, view, app.keys.key_of(Command::CopyOut), theme);
}

fn draw_list(frame: &mut Frame, area: Rect, view: &StorageView, theme: Theme) {
    let total: u64 = view.entries.iter().map(|e| e.bytes).sum();
    let title = format!(
        " /storage of {} · {} files, {} ",
        view.project,
        view.entries.len(),
        human_bytes(total)
    );
    let block = Block::bordered().title(title).border_style(theme.border(true));
    if view.entries.is_empty() {
        let text = "empty: jobs write here (a model with `mlbench train -o /storage/NAME`)";
        frame.render_widget(Paragraph::new(text).block(block), area);
        return;
    }
    let rows: Vec<Row> = view
        .entries
        .iter()
        .map(|e| {
            // The title says /storage: the rows say what is in it.
            let shown = e.path.strip_prefix("/storage/").unwrap_or(&e.path);
            let path = match (&e.link, e.special) {
                (Some(target), _) => format!("{shown} → {} (link)", target.display()),
                (None, Some(what)) => format!("{shown} ({what})"),
                (None, None) => shown.to_string(),
            };
            let modified = e
                .modified
                .map(|m| m.format("%m-%d %H:%M").to_string())
                .unwrap_or_default();
            Row::new(vec![path, human_bytes(e.bytes), modified])
        })
        .collect();
    let header = Row::new(vec!["PATH", "SIZE", "UTC"]).style(Style::default().add_modifier(Modifier::BOLD));
    let table = Table::new(
        rows,
        [Constraint::Min(12), Constraint::Length(9), Constraint::Length(11)],
    )
    .header(header)
    .block(block)
    .row_highlight_style(theme.selected())
    .highlight_symbol("▶");
    let mut state = TableState::default().with_selected(Some(view.row));
    frame.render_stateful_widget(table, area, &mut state);
}

fn draw_preview(frame: &mut Frame, area: Rect, view: &StorageView, copy_key: &str, theme: Theme) {
    let lines: Vec<Line> = match &view.preview {
        None => vec![Line::styled(
            "Enter: preview the file · e: copy it to the current folder",
            theme.fg(Color::DarkGray),
        )],
        Some(preview) => match &preview.text {
            Some(text) => text
                .iter()
                .skip(view.scroll)
                .map(|l| Line::raw(l.clone()))
                .collect(),
            None => vec![Line::raw(format!(
                "{}: {} of binary data, not shown ({} copies it out)",
                preview.path,
                human_bytes(preview.bytes),
                copy_key
            ))],
        },
    };
    let title = match &view.preview {
        Some(p) => format!(" {} · {} ", p.path, human_bytes(p.bytes)),
        None => " preview ".to_string(),
    };
    frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(title)), area);
}
