//! The log view's state and keys: a bounded window of the job's lines, following at the bottom
//! until scrolled up, with search (matches kept as lines arrive, not rescanned per frame).

use std::collections::VecDeque;

use crossterm::event::{KeyCode, KeyEvent};

use super::{App, Effect};
use crate::domain::output::Stream;
use crate::keymap::{Command, Screen};

/// Log lines kept in memory per open log view; the file keeps them all.
pub const LOG_WINDOW: usize = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub ts: String,
    pub stream: Stream,
    /// Without escape codes: what search looks at.
    pub text: String,
    /// The colours the program printed, as styled runs (empty when it printed none).
    pub runs: Vec<(String, ratatui::style::Style)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogView {
    pub job: i64,
    /// Which opening of the view this is: lines from an earlier follower are not this view's.
    pub generation: u64,
    pub lines: VecDeque<LogLine>,
    /// Lines that fell out of the window (still in the log file).
    pub dropped: u64,
    /// How many lines above the bottom the view is; 0 follows.
    pub offset: usize,
    pub wrap: bool,
    pub timestamps: bool,
    pub search: Option<String>,
    /// The search being typed after `/`.
    pub typing: Option<String>,
    /// Which match (counted from the bottom) `n`/`N` went to.
    pub match_index: usize,
    /// The lines that hold the search text, by their number since the view opened.
    matches: VecDeque<u64>,
    /// Rows the view had when last drawn, for paging.
    pub page: usize,
}

impl LogView {
    pub fn new(job: i64, generation: u64) -> LogView {
        LogView {
            job,
            generation,
            lines: VecDeque::new(),
            dropped: 0,
            offset: 0,
            wrap: false,
            timestamps: false,
            search: None,
            typing: None,
            match_index: 0,
            matches: VecDeque::new(),
            page: 20,
        }
    }

    pub fn following(&self) -> bool {
        self.offset == 0
    }

    pub fn match_count(&self) -> usize {
        self.matches.len()
    }

    fn query(&self) -> Option<&str> {
        self.search.as_deref().filter(|q| !q.is_empty())
    }

    pub fn push(&mut self, lines: Vec<LogLine>) {
        let added = lines.len();
        let first = self.dropped + self.lines.len() as u64;
        if let Some(query) = self.query() {
            let found: Vec<u64> = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| l.text.contains(query))
                .map(|(i, _)| first + i as u64)
                .collect();
            self.matches.extend(found);
        }
        self.lines.extend(lines);
        while self.lines.len() > LOG_WINDOW {
            self.lines.pop_front();
            self.dropped += 1;
        }
        while self.matches.front().is_some_and(|n| *n < self.dropped) {
            self.matches.pop_front();
        }
        // A paused view stays on the lines it shows.
        if self.offset > 0 {
            self.offset = (self.offset + added).min(self.lines.len().saturating_sub(1));
        }
    }

    /// Searches for `query` (None clears the search) and goes to the last match.
    fn set_search(&mut self, query: Option<String>) {
        self.search = query;
        let dropped = self.dropped;
        self.matches = match self.query() {
            Some(query) => self
                .lines
                .iter()
                .enumerate()
                .filter(|(_, l)| l.text.contains(query))
                .map(|(i, _)| dropped + i as u64)
                .collect(),
            None => VecDeque::new(),
        };
        self.match_index = usize::MAX; // the first `next` lands on the last match
        self.go_to_match(1);
    }

    fn scroll_up(&mut self, rows: usize) {
        self.offset = (self.offset + rows).min(self.lines.len().saturating_sub(1));
    }

    fn scroll_down(&mut self, rows: usize) {
        self.offset = self.offset.saturating_sub(rows);
    }

    /// Scrolls so that match `match_index` (0 = the last) is the bottom line.
    fn go_to_match(&mut self, step: isize) {
        let count = self.matches.len();
        if count == 0 {
            return;
        }
        self.match_index = (self.match_index as isize + step).rem_euclid(count as isize) as usize;
        let line = (self.matches[count - 1 - self.match_index] - self.dropped) as usize;
        self.offset = self.lines.len() - 1 - line;
    }
}

/// Keys while a search is typed after `/`; false when no search is being typed.
pub(super) fn on_search_key(app: &mut App, key: KeyEvent) -> bool {
    let Some(logs) = app.logs.as_mut() else {
        return false;
    };
    let Some(typing) = logs.typing.as_mut() else {
        return false;
    };
    match key.code {
        KeyCode::Char(c) => typing.push(c),
        KeyCode::Backspace => {
            typing.pop();
        }
        KeyCode::Enter => {
            let query = logs.typing.take().filter(|q| !q.is_empty());
            logs.set_search(query);
        }
        KeyCode::Esc => logs.typing = None,
        _ => {}
    }
    true
}

/// Opens the job's log view; its follower is a new generation.
pub(super) fn open_log(app: &mut App, job: i64) -> Effect {
    app.log_generation += 1;
    let generation = app.log_generation;
    app.logs = Some(LogView::new(job, generation));
    app.screen = Screen::Logs;
    Effect::FollowLog { job, generation }
}

pub(super) fn logs_command(app: &mut App, command: Command) -> Effect {
    let Some(logs) = app.logs.as_mut() else {
        app.screen = Screen::Workbench;
        return Effect::None;
    };
    let page = logs.page;
    match command {
        Command::Quit => app.quit = true,
        Command::Help => app.help = true,
        Command::Back => {
            app.logs = None;
            app.screen = app.screen_below();
            return Effect::StopFollowing;
        }
        Command::Up => logs.scroll_up(1),
        Command::Down => logs.scroll_down(1),
        Command::PageUp => logs.scroll_up(page),
        Command::PageDown => logs.scroll_down(page),
        Command::Top => logs.offset = logs.lines.len().saturating_sub(1),
        Command::Bottom => logs.offset = 0,
        Command::ToggleTimestamps => logs.timestamps = !logs.timestamps,
        Command::ToggleWrap => logs.wrap = !logs.wrap,
        Command::Search => logs.typing = Some(String::new()),
        Command::NextMatch => logs.go_to_match(1),
        Command::PreviousMatch => logs.go_to_match(-1),
        _ => {}
    }
    Effect::None
}
