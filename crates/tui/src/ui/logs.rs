//! The log view: the job's output, following at the bottom until scrolled up; filter, search,
//! a selection, timestamps, wrap; stderr marked.

use mlbench_config::keymap::Command;
use mlbench_domain::output::Stream;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::Theme;
use crate::app::{App, LogLine, LogView, Typing};

/// Draws the view; returns how many rows the lines get (for paging).
pub(crate) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: Theme) -> Option<usize> {
    let logs = app.logs.as_ref()?;
    let job = app.jobs.iter().find(|j| j.id == logs.job);
    let state = job
        .map(|j| (j.state_shown(), theme.state(j.state)))
        .unwrap_or_default();
    let paused = format!(" · paused ({} follows) ", app.keys.key_of(Command::Bottom));
    let history = format!(" · history ({}: the live end) ", app.keys.key_of(Command::Bottom));
    let mut title = vec![
        Span::raw(format!(" job {} ", logs.job)),
        Span::styled(state.0, state.1),
        Span::raw(if logs.following() {
            " · following "
        } else if logs.cut_below {
            &history
        } else {
            &paused
        }),
    ];
    // What the user is doing comes first: the title is cut at the right.
    if let Some(selected) = logs.selected() {
        title.push(Span::styled(
            format!(
                "· {} selected ({} copies) ",
                selected.count(),
                app.keys.key_of(Command::Copy)
            ),
            theme.fg(Color::Cyan),
        ));
    }
    if let Some(filter) = &logs.filter {
        let count = logs
            .total()
            .map_or_else(|| "counting".to_string(), |n| format!("{n} lines"));
        title.push(Span::styled(
            format!("· filter {}: {count} ", filter.typed()),
            theme.fg(Color::Yellow),
        ));
    }
    if let Some(query) = &logs.search {
        title.push(Span::raw(format!("· /{query}: {} matches ", logs.match_count())));
    }
    if let Some(earlier) = logs.earlier().filter(|n| *n > 0) {
        title.push(Span::raw(format!("· {earlier} above (g: first) ")));
    }
    if logs.loading {
        title.push(Span::raw("· reading… "));
    }
    let [body, prompt] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(u16::from(logs.typing.is_some())),
    ])
    .areas(area);
    let block = Block::bordered().title(Line::from(title));
    let inner = block.inner(body);
    let rows = inner.height as usize;
    let end = logs.lines.len().saturating_sub(logs.offset);
    let start = if logs.wrap {
        first_line_filling(logs, end, rows, inner.width)
    } else {
        end.saturating_sub(rows)
    };
    let query = logs.search.as_deref().filter(|q| !q.is_empty());
    let selected = logs.selected();
    let lines: Vec<Line> = logs
        .lines
        .range(start..end)
        .enumerate()
        .map(|(i, line)| {
            let styled = styled_line(line, logs.timestamps, query, theme);
            if selected.as_ref().is_some_and(|s| s.contains(&(start + i))) {
                styled.patch_style(Style::default().add_modifier(Modifier::REVERSED))
            } else {
                styled
            }
        })
        .collect();
    let mut paragraph = Paragraph::new(lines);
    if logs.wrap {
        paragraph = paragraph.wrap(Wrap { trim: false });
        // The lines may wrap to more rows than there are: the bottom line must show, so the
        // top ones scroll out.
        let overflow = paragraph.line_count(inner.width).saturating_sub(rows);
        paragraph = paragraph.scroll((u16::try_from(overflow).unwrap_or(u16::MAX), 0));
    }
    let paragraph = paragraph.block(block);
    frame.render_widget(paragraph, body);
    if let Some((typing, input)) = &logs.typing {
        let lead = match typing {
            Typing::Search => "/",
            Typing::Filter => "filter (!text: lines without it): ",
        };
        let room = usize::from(prompt.width).saturating_sub(lead.chars().count());
        frame.render_widget(Paragraph::new(format!("{lead}{}", input.view(room))), prompt);
    }
    Some(rows)
}

/// The first line to draw so that the lines up to `end`, wrapped at `width`, fill at least
/// `rows` rows (a line takes at least one row; counting characters is enough for a lower bound).
fn first_line_filling(logs: &LogView, end: usize, rows: usize, width: u16) -> usize {
    let width = usize::from(width.max(1));
    let extra = if logs.timestamps { 24 } else { 0 } + 2;
    let mut filled = 0;
    let mut start = end;
    while start > 0 && filled < rows {
        start -= 1;
        filled += (logs.lines[start].text.chars().count() + extra)
            .div_ceil(width)
            .max(1);
    }
    start
}

/// One log line as drawn: its time (when shown), a stream marker, and the program's colours
/// unless a search match or NO_COLOR takes their place.
fn styled_line<'a>(line: &'a LogLine, timestamps: bool, query: Option<&str>, theme: Theme) -> Line<'a> {
    let mut spans = Vec::new();
    if timestamps {
        spans.push(Span::styled(
            format!("{} ", &line.ts[..line.ts.len().min(23)]),
            theme.fg(Color::DarkGray),
        ));
    }
    match line.stream {
        Stream::Stderr => spans.push(Span::styled("! ", theme.fg(Color::Red))),
        Stream::Note => spans.push(Span::styled("· ", theme.fg(Color::Cyan))),
        Stream::Stdout => {}
    }
    let highlighted = query.is_some_and(|q| line.text.contains(q));
    let style = if highlighted {
        theme.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    } else if line.stream == Stream::Stderr {
        theme.fg(Color::LightRed)
    } else {
        Style::default()
    };
    if line.runs.is_empty() || highlighted || !theme.color {
        spans.push(Span::styled(line.text.as_str(), style));
    } else {
        // The program's own colours.
        spans.extend(
            line.runs
                .iter()
                .map(|(text, style)| Span::styled(text.as_str(), *style)),
        );
    }
    Line::from(spans)
}
