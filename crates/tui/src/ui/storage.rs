//! The storage browser: one folder of the project's /storage with sizes and times, and a preview
//! of the selected file beside it.

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
    let entries = &view.folder.entries;
    let total: u64 = entries.iter().map(|e| e.bytes).sum();
    let title = format!(
        " {} of {} · {} entries, {} ",
        view.folder.path,
        view.project,
        entries.len(),
        human_bytes(total)
    );
    let block = Block::bordered().title(title).border_style(theme.border(true));
    if entries.is_empty() {
        let text = "empty: jobs write here (a model with `mlbench train -o /storage/NAME`)";
        frame.render_widget(Paragraph::new(text).block(block), area);
        return;
    }
    // Only the rows that fit are built: a folder may hold a few hundred thousand files.
    let visible = area.height.saturating_sub(3).max(1) as usize;
    let start = view.row.saturating_sub(visible - 1);
    let rows: Vec<Row> = entries
        .iter()
        .skip(start)
        .take(visible)
        .map(|e| {
            // The title says which folder: the rows say what is in it.
            let name = e.path.rsplit('/').next().unwrap_or(&e.path);
            let path = match (&e.link, e.special) {
                (Some(target), _) => format!("{name} → {} (link)", target.display()),
                (None, Some(what)) => format!("{name} ({what})"),
                (None, None) if e.is_folder => format!("{name}/"),
                (None, None) => name.to_string(),
            };
            let modified = e
                .modified
                .map(|m| m.format("%m-%d %H:%M").to_string())
                .unwrap_or_default();
            let size = if e.is_folder {
                String::new()
            } else {
                human_bytes(e.bytes)
            };
            Row::new(vec![path, size, modified])
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
    let mut state = TableState::default().with_selected(Some(view.row - start));
    frame.render_stateful_widget(table, area, &mut state);
}

fn draw_preview(frame: &mut Frame, area: Rect, view: &StorageView, copy_key: &str, theme: Theme) {
    let lines: Vec<Line> = match &view.preview {
        None => vec![Line::styled(
            format!("Enter: open the folder or preview the file · Esc: up · {copy_key}: copy it out"),
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
