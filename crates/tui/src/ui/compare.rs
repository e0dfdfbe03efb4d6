//! The compare screen: a sweep's trials side by side, the best marked, the sort column shown.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, Cell, Row, Table, TableState};

use super::Theme;
use crate::app::App;

pub(crate) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let Some(view) = &app.compare else { return };
    let comparison = &view.comparison;
    let columns = comparison.columns();
    let sorted = view.sort.as_ref().map(|(c, _)| c.as_str());
    let header: Vec<Cell> = columns
        .iter()
        .map(|c| {
            let arrow = match &view.sort {
                Some((s, descending)) if s == c => {
                    if *descending {
                        " ↓"
                    } else {
                        " ↑"
                    }
                }
                _ => "",
            };
            Cell::from(format!("{c}{arrow}"))
        })
        .collect();
    // Only the rows that fit are built: a sweep may have thousands of trials.
    let visible = area.height.saturating_sub(3).max(1) as usize;
    let start = view.row.saturating_sub(visible - 1);
    let shown: Vec<_> = comparison.trials.iter().skip(start).take(visible).collect();
    // Each cell's text once: the column widths and the rows both need it.
    let texts: Vec<Vec<String>> = shown
        .iter()
        .map(|trial| columns.iter().map(|c| comparison.cell(trial, c)).collect())
        .collect();
    let widths: Vec<Constraint> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let widest = texts.iter().map(|row| row[i].chars().count()).max().unwrap_or(0);
            Constraint::Length((widest.max(c.chars().count() + 2)) as u16)
        })
        .collect();
    let rows: Vec<Row> = shown
        .iter()
        .zip(texts)
        .map(|(trial, texts)| {
            let best = trial.job.is_some() && trial.job == comparison.best;
            let cells: Vec<Cell> = columns
                .iter()
                .zip(texts)
                .map(|(c, text)| {
                    let style = if c == "state" {
                        trial.state.parse().map_or(Style::default(), |s| theme.state(s))
                    } else if Some(c.as_str()) == sorted {
                        Style::default().add_modifier(Modifier::BOLD)
                    } else {
                        Style::default()
                    };
                    Cell::from(text).style(style)
                })
                .collect();
            let row = Row::new(cells);
            if best {
                row.style(theme.fg(Color::Green))
            } else {
                row
            }
        })
        .collect();
    let title = format!(
        " sweep {} · {} trials · {} ({}) · o sort  O reverse  a all columns  Enter log ",
        comparison.sweep,
        comparison.trials.len(),
        comparison.metric,
        comparison.goal.as_str()
    );
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(Style::default().add_modifier(Modifier::BOLD)))
        .block(Block::bordered().title(title))
        .row_highlight_style(theme.selected())
        .highlight_symbol("▶");
    let mut state = TableState::default().with_selected(Some(view.row - start));
    frame.render_stateful_widget(table, area, &mut state);
}
