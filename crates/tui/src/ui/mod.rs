//! Drawing: one function per screen or panel. Nothing here changes state.

mod chart;
mod compare;
mod curves;
mod form;
mod help;
mod legend;
mod logs;
mod prompt;
mod status;
mod storage;
pub(crate) mod workbench;

use mlbench_config::StateColors;
use mlbench_config::keymap::Screen;
use mlbench_domain::JobState;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::app::{App, Confirm};

pub(crate) use mlbench_domain::numfmt::compact;

/// `text` in at most `width` columns: whole, or cut with `…` as its last column.
pub(crate) fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    text.chars()
        .take(width.saturating_sub(1))
        .chain((width > 0).then_some('…'))
        .collect()
}

pub(crate) const MIN_WIDTH: u16 = 80;
pub(crate) const MIN_HEIGHT: u16 = 24;

/// The colours in use: a colour per job state (the config's `[colors]` may change them), the
/// light theme's darker shades on a light background, all plain when NO_COLOR is set. Text
/// itself stays in the terminal's own foreground colour.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Theme {
    pub(crate) color: bool,
    states: StateColors,
    light: bool,
}

impl Theme {
    pub(crate) fn new(color: bool, states: StateColors, light: bool) -> Theme {
        Theme { color, states, light }
    }

    pub(crate) fn fg(self, color: Color) -> Style {
        if self.color {
            Style::default().fg(self.shade(color))
        } else {
            Style::default()
        }
    }

    /// On a light background the pale colours would fade: each has a darker stand-in.
    fn shade(self, color: Color) -> Color {
        if !self.light {
            return color;
        }
        match color {
            Color::Yellow | Color::LightYellow => Color::Indexed(130),
            Color::Cyan | Color::LightCyan => Color::Blue,
            Color::Green | Color::LightGreen => Color::Indexed(28),
            Color::LightRed => Color::Red,
            Color::LightBlue => Color::Blue,
            Color::LightMagenta => Color::Magenta,
            Color::Gray | Color::White => Color::DarkGray,
            other => other,
        }
    }

    pub(crate) fn state(self, state: JobState) -> Style {
        self.fg(self.states.of(state))
    }

    pub(crate) fn selected(self) -> Style {
        if self.color && self.light {
            Style::default()
                .bg(Color::Indexed(252))
                .add_modifier(Modifier::BOLD)
        } else if self.color {
            Style::default().bg(Color::DarkGray).add_modifier(Modifier::BOLD)
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        }
    }

    pub(crate) fn border(self, focused: bool) -> Style {
        if focused {
            self.fg(Color::Cyan)
        } else {
            Style::default()
        }
    }
}

pub(crate) fn draw(frame: &mut Frame, app: &App, theme: Theme) -> Option<usize> {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "terminal too small: {}x{}, mlbench needs {MIN_WIDTH}x{MIN_HEIGHT}",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return None;
    }
    let [main, status_line] = super::layout::screen(area);
    let log_rows = match app.screen {
        Screen::Workbench => {
            workbench::draw(frame, main, app, theme);
            None
        }
        Screen::Logs => logs::draw(frame, main, app, theme),
        Screen::Chart => {
            chart::draw(frame, main, app, theme);
            None
        }
        Screen::Compare => {
            compare::draw(frame, main, app, theme);
            None
        }
        Screen::Curves => {
            curves::draw(frame, main, app, theme);
            None
        }
        Screen::Storage => {
            storage::draw(frame, main, app, theme);
            None
        }
    };
    status::draw(frame, status_line, app, theme);
    prompt::draw(frame, area, app);
    if let Some(form) = &app.form {
        form::draw(frame, area, form, theme);
    }
    if app.help {
        help::draw(frame, area, app.screen, &app.keys, app.help_scroll);
    }
    match &app.confirm {
        Some(Confirm::StopServing(name)) => popup(
            frame,
            area,
            "stop serving",
            &[
                format!("Stop deployment {name}? Its replicas get SIGTERM, then SIGKILL."),
                String::new(),
                "y: stop   any other key: keep it serving".into(),
            ],
        ),
        Some(Confirm::StopSweep(sweep)) => popup(
            frame,
            area,
            "stop sweep",
            &[
                format!("Stop sweep {sweep}? No trial starts any more; running ones are stopped."),
                String::new(),
                "y: stop   any other key: keep it running".into(),
            ],
        ),
        Some(Confirm::DeleteSweep(sweep)) => popup(
            frame,
            area,
            "delete sweep",
            &[
                format!("Delete sweep {sweep} with every trial's job, log and workspace?"),
                "Models and files in /storage stay.".into(),
                String::new(),
                "y: delete   any other key: keep it".into(),
            ],
        ),
        Some(Confirm::Stop(job)) => popup(
            frame,
            area,
            "stop",
            &[
                format!("Stop job {job}? It gets SIGTERM, then SIGKILL."),
                String::new(),
                "y: stop   any other key: keep it running".into(),
            ],
        ),
        Some(Confirm::DeleteJob(job)) => popup(
            frame,
            area,
            "delete",
            &[
                format!("Delete job {job} with its log and workspace?"),
                "Its model and files in /storage stay.".into(),
                String::new(),
                "y: delete   any other key: keep it".into(),
            ],
        ),
        None => {}
    }
    log_rows
}

/// A `width` × `height` rectangle in the middle of `area` (which must hold it).
pub(crate) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    )
}

/// A bordered box in the middle of `area`.
pub(crate) fn popup(frame: &mut Frame, area: Rect, title: &str, lines: &[String]) {
    let width = (lines.iter().map(|l| l.chars().count()).max().unwrap_or(10) as u16 + 4).min(area.width);
    let height = (lines.len() as u16 + 2).min(area.height);
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    let text: Vec<Line> = lines.iter().map(|l| Line::from(l.as_str())).collect();
    frame.render_widget(
        Paragraph::new(text).block(Block::bordered().title(format!(" {title} "))),
        rect,
    );
}

#[cfg(test)]
mod tests;
