//! The log view's state and keys: a bounded window of the job's lines, following at the bottom
//! until scrolled up. Scrolling past the window's top or bottom reads the next page of the log
//! file, so the whole log can be read with memory bounded; a filter shows only matching lines of
//! the whole file; search, a visual selection to copy, and saving.

use std::collections::VecDeque;

use crossterm::event::{KeyCode, KeyEvent};
use mlbench_config::keymap::{Command, Screen};
use mlbench_domain::output::Stream;
use mlbench_store::logscan::LineFilter;

use super::{App, Effect, Prompt, PromptFor};
use crate::line_input::{Edit, LineInput};

/// Log lines kept in memory per open log view; the file keeps them all.
pub(crate) const LOG_WINDOW: usize = 10_000;

/// Lines read at once when the view scrolls past its window.
pub(crate) const LOG_PAGE: usize = 2_000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LogLine {
    /// Where the line starts in the log file: it names the line across reads.
    pub(crate) at: u64,
    pub(crate) ts: String,
    pub(crate) stream: Stream,
    /// Without escape codes: what search looks at.
    pub(crate) text: String,
    /// The colours the program printed, as styled runs (empty when it printed none).
    pub(crate) runs: Vec<(String, ratatui::style::Style)>,
}

/// Which part of the log file a page read brings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogPage {
    /// The lines before the one starting at this byte.
    Before(u64),
    /// The lines after the one starting at this byte.
    After(u64),
    /// The first lines of the file.
    Start,
}

/// What is typed at the foot of the log view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Typing {
    Search,
    Filter,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LogView {
    pub(crate) job: i64,
    /// Which opening of the view this is: lines from an earlier follower are not this view's.
    pub(crate) generation: u64,
    pub(crate) lines: VecDeque<LogLine>,
    /// The number of `lines[0]`, counted from the first line the view received.
    first: i64,
    /// How many (shown) lines of the file come before the view's first received line, once
    /// counted.
    before_start: Option<u64>,
    /// Lines that left the window's top, less those read back above it.
    shift: i64,
    /// The window was scrolled up into the history and let go of the live end: new lines wait
    /// in the file until the view reaches the end again.
    pub(crate) cut_below: bool,
    /// A page of the file is being read.
    pub(crate) loading: bool,
    /// How many lines above the bottom the view is; 0 follows.
    pub(crate) offset: usize,
    pub(crate) wrap: bool,
    pub(crate) timestamps: bool,
    pub(crate) filter: Option<LineFilter>,
    pub(crate) search: Option<String>,
    pub(crate) typing: Option<(Typing, LineInput)>,
    /// Which match (counted from the bottom) `n`/`N` went to.
    pub(crate) match_index: usize,
    /// The lines that hold the search text, by number.
    matches: VecDeque<i64>,
    /// Where a visual selection started (a line's number), while one is made.
    pub(crate) selection: Option<i64>,
    /// Rows the view had when last drawn, for paging.
    pub(crate) page: usize,
}

impl LogView {
    pub(crate) fn new(job: i64, generation: u64) -> LogView {
        LogView {
            job,
            generation,
            lines: VecDeque::new(),
            first: 0,
            before_start: None,
            shift: 0,
            cut_below: false,
            loading: false,
            offset: 0,
            wrap: false,
            timestamps: false,
            filter: None,
            search: None,
            typing: None,
            match_index: 0,
            matches: VecDeque::new(),
            selection: None,
            page: 20,
        }
    }

    /// The same view of the same job opened again (a new follower), keeping its settings.
    fn reopened(&self, generation: u64) -> LogView {
        LogView {
            wrap: self.wrap,
            timestamps: self.timestamps,
            filter: self.filter.clone(),
            search: self.search.clone(),
            page: self.page,
            ..LogView::new(self.job, generation)
        }
    }

    pub(crate) fn following(&self) -> bool {
        self.offset == 0 && !self.cut_below
    }

    pub(crate) fn match_count(&self) -> usize {
        self.matches.len()
    }

    /// Lines of the file (shown by the filter) above the window, once counted.
    pub(crate) fn earlier(&self) -> Option<u64> {
        self.before_start
            .map(|n| u64::try_from(n as i64 + self.shift).unwrap_or(0))
    }

    /// Shown lines in the whole file so far, once counted.
    pub(crate) fn total(&self) -> Option<u64> {
        self.earlier().map(|n| n + self.lines.len() as u64)
    }

    fn more_above(&self) -> bool {
        let starts_later = self.lines.front().is_some_and(|l| l.at > 0);
        starts_later && self.earlier().is_none_or(|n| n > 0)
    }

    fn query(&self) -> Option<&str> {
        self.search.as_deref().filter(|q| !q.is_empty())
    }

    /// The numbers of `lines`, were they put after the window, that hold the search text.
    fn matches_in(&self, lines: &[LogLine], first: i64) -> Vec<i64> {
        let Some(query) = self.query() else {
            return Vec::new();
        };
        lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.text.contains(query))
            .map(|(i, _)| first + i as i64)
            .collect()
    }

    fn last_number(&self) -> i64 {
        self.first + self.lines.len() as i64 - 1
    }

    /// New lines from the follower: appended unless the view let go of the live end.
    pub(crate) fn push(&mut self, lines: Vec<LogLine>) {
        if !self.cut_below {
            self.append(lines);
        }
    }

    /// Lines after the window, skipping any it already has.
    fn append(&mut self, mut lines: Vec<LogLine>) {
        if let Some(last) = self.lines.back() {
            let last = last.at;
            lines.retain(|l| l.at > last);
        }
        let added = lines.len();
        let found = self.matches_in(&lines, self.last_number() + 1);
        self.matches.extend(found);
        self.lines.extend(lines);
        while self.lines.len() > LOG_WINDOW {
            self.lines.pop_front();
            self.first += 1;
            self.shift += 1;
        }
        while self.matches.front().is_some_and(|n| *n < self.first) {
            self.matches.pop_front();
        }
        // A paused view stays on the lines it shows.
        if self.offset > 0 || self.cut_below {
            self.offset = (self.offset + added).min(self.lines.len().saturating_sub(1));
        }
    }

    /// Lines before the window, read from the file as the view scrolled up; the window's bottom
    /// gives way when it is full.
    fn prepend(&mut self, mut lines: Vec<LogLine>) {
        if let Some(first) = self.lines.front() {
            let first = first.at;
            lines.retain(|l| l.at < first);
        }
        let added = lines.len() as i64;
        let start = self.first - added;
        let found = self.matches_in(&lines, start);
        for number in found.into_iter().rev() {
            self.matches.push_front(number);
        }
        for line in lines.into_iter().rev() {
            self.lines.push_front(line);
        }
        self.first = start;
        self.shift -= added;
        while self.lines.len() > LOG_WINDOW {
            self.lines.pop_back();
            self.cut_below = true;
            self.offset = self.offset.saturating_sub(1);
        }
        let last = self.last_number();
        while self.matches.back().is_some_and(|n| *n > last) {
            self.matches.pop_back();
        }
    }

    /// A page read from the file arrived.
    pub(crate) fn page_read(&mut self, page: LogPage, lines: Vec<LogLine>, at_end: bool) {
        self.loading = false;
        match page {
            LogPage::Before(_) => {
                if lines.is_empty() {
                    // Nothing shown lies above: the count is known.
                    self.before_start = Some(u64::try_from(-self.shift).unwrap_or(0));
                }
                self.prepend(lines);
            }
            LogPage::After(_) => {
                self.append(lines);
                self.cut_below = !at_end;
            }
            LogPage::Start => {
                // A fresh window (the search kept: append finds its matches) shown from its top.
                *self = LogView {
                    before_start: Some(0),
                    ..self.reopened(self.generation)
                };
                self.append(lines);
                self.cut_below = !at_end;
                self.offset = self.highest_offset();
            }
        }
    }

    /// The count of shown lines before the follower's first line arrived.
    pub(crate) fn counted(&mut self, before_start: u64) {
        self.before_start = Some(before_start);
    }

    /// Searches for `query` (None clears the search) and goes to the last match.
    fn set_search(&mut self, query: Option<String>) {
        self.search = query;
        self.matches = match self.query() {
            Some(query) => self
                .lines
                .iter()
                .enumerate()
                .filter(|(_, l)| l.text.contains(query))
                .map(|(i, _)| self.first + i as i64)
                .collect(),
            None => VecDeque::new(),
        };
        self.match_index = usize::MAX; // the first `next` lands on the last match
        self.go_to_match(1);
    }

    /// The offset that shows the window's first line at the top of the page: the view is a
    /// page, as in `less`, so it never scrolls the lines off above an empty screen.
    fn highest_offset(&self) -> usize {
        self.lines.len().saturating_sub(self.page.max(1))
    }

    /// Scrolls up; at the window's top, the page above is asked for.
    fn scroll_up(&mut self, rows: usize) -> Option<LogPage> {
        let top = self.highest_offset();
        self.offset = (self.offset + rows).min(top);
        (self.offset == top && self.more_above() && !self.loading).then(|| {
            self.loading = true;
            LogPage::Before(self.lines.front().map_or(0, |l| l.at))
        })
    }

    /// Scrolls down; at the bottom of a window cut from the live end, the page below is asked for.
    fn scroll_down(&mut self, rows: usize) -> Option<LogPage> {
        self.offset = self.offset.saturating_sub(rows);
        (self.offset == 0 && self.cut_below && !self.loading).then(|| {
            self.loading = true;
            LogPage::After(self.lines.back().map_or(0, |l| l.at))
        })
    }

    /// Scrolls so that match `match_index` (0 = the last) is near the top of the page, with
    /// what follows it in view.
    fn go_to_match(&mut self, step: isize) {
        let count = self.matches.len();
        if count == 0 {
            return;
        }
        self.match_index = (self.match_index as isize + step).rem_euclid(count as isize) as usize;
        let line = (self.matches[count - 1 - self.match_index] - self.first) as usize;
        // The match on the page's second row: the row above it gives context.
        let bottom = (line + self.page.max(2) - 2).min(self.lines.len().saturating_sub(1));
        self.offset = (self.lines.len() - 1 - bottom).min(self.highest_offset());
    }

    /// The number of the bottom line on screen.
    fn bottom_number(&self) -> i64 {
        self.last_number() - self.offset as i64
    }

    /// The lines selected with `v` (the anchor to the bottom line on screen), by index.
    pub(crate) fn selected(&self) -> Option<std::ops::RangeInclusive<usize>> {
        let anchor = self.selection?;
        let (a, b) = (anchor.min(self.bottom_number()), anchor.max(self.bottom_number()));
        let first = usize::try_from(a - self.first).unwrap_or(0);
        let last = usize::try_from(b - self.first).ok()?;
        Some(first..=last.min(self.lines.len().saturating_sub(1)))
    }

    /// The selection's text, or without one the lines on screen, and how many lines that is.
    fn copied(&self) -> (String, usize) {
        let range = self.selected().unwrap_or_else(|| {
            let end = self.lines.len().saturating_sub(self.offset);
            end.saturating_sub(self.page)..=end.saturating_sub(1)
        });
        let lines: Vec<&str> = self.lines.range(range).map(|l| l.text.as_str()).collect();
        (lines.join("\n"), lines.len())
    }
}

/// Keys while a search or filter is typed; false when none is being typed.
pub(super) fn on_typing_key(app: &mut App, key: KeyEvent) -> Option<Effect> {
    let logs = app.logs.as_mut()?;
    let (typing, input) = logs.typing.as_mut()?;
    if input.key(key) != Edit::Ignored {
        return Some(Effect::None);
    }
    let typing = *typing;
    match key.code {
        KeyCode::Enter => {
            let typed = logs.typing.take().map(|(_, mut input)| input.take());
            let typed = typed.filter(|t| !t.is_empty());
            return Some(match typing {
                Typing::Search => {
                    logs.set_search(typed);
                    Effect::None
                }
                Typing::Filter => {
                    let filter = typed.as_deref().and_then(LineFilter::parse);
                    app.status = Some(match &filter {
                        Some(f) if f.invert => format!("showing lines without {:?}", f.text),
                        Some(f) => format!("showing lines with {:?}", f.text),
                        None => "filter off: every line".into(),
                    });
                    logs.filter = filter;
                    reopen(app)
                }
            });
        }
        KeyCode::Esc => logs.typing = None,
        _ => {}
    }
    Some(Effect::None)
}

/// Opens the job's log view; its follower is a new generation.
pub(super) fn open_log(app: &mut App, job: i64) -> Effect {
    app.log_generation += 1;
    let generation = app.log_generation;
    app.logs = Some(LogView::new(job, generation));
    app.screen = Screen::Logs;
    Effect::FollowLog {
        job,
        generation,
        filter: None,
    }
}

/// The open view starts again at the live end (a new filter, or back from the history).
fn reopen(app: &mut App) -> Effect {
    app.log_generation += 1;
    let generation = app.log_generation;
    let Some(logs) = app.logs.as_mut() else {
        return Effect::None;
    };
    *logs = logs.reopened(generation);
    Effect::FollowLog {
        job: logs.job,
        generation,
        filter: logs.filter.clone(),
    }
}

fn load(logs: &LogView, page: Option<LogPage>) -> Effect {
    match page {
        Some(page) => Effect::LoadLog {
            job: logs.job,
            generation: logs.generation,
            filter: logs.filter.clone(),
            page,
        },
        None => Effect::None,
    }
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
        Command::Back if logs.selection.is_some() => logs.selection = None,
        Command::Back => {
            app.logs = None;
            app.screen = app.screen_below();
            return Effect::StopFollowing;
        }
        Command::Up => {
            return {
                let page = logs.scroll_up(1);
                load(logs, page)
            };
        }
        Command::Down => {
            return {
                let page = logs.scroll_down(1);
                load(logs, page)
            };
        }
        Command::PageUp => {
            return {
                let page = logs.scroll_up(page);
                load(logs, page)
            };
        }
        Command::PageDown => {
            return {
                let page = logs.scroll_down(page);
                load(logs, page)
            };
        }
        Command::Top if logs.more_above() => {
            logs.loading = true;
            return load(logs, Some(LogPage::Start));
        }
        Command::Top => logs.offset = logs.highest_offset(),
        Command::Bottom if logs.cut_below => return reopen(app),
        Command::Bottom => logs.offset = 0,
        Command::ToggleTimestamps => logs.timestamps = !logs.timestamps,
        Command::ToggleWrap => logs.wrap = !logs.wrap,
        Command::Search => logs.typing = Some((Typing::Search, LineInput::default())),
        Command::Filter => {
            let typed = logs.filter.as_ref().map(LineFilter::typed).unwrap_or_default();
            logs.typing = Some((Typing::Filter, LineInput::new(typed)));
        }
        Command::NextMatch => logs.go_to_match(1),
        Command::PreviousMatch => logs.go_to_match(-1),
        Command::Select => {
            logs.selection = match logs.selection {
                Some(_) => None,
                None => Some(logs.bottom_number()),
            };
        }
        Command::Copy => {
            let (text, count) = logs.copied();
            logs.selection = None;
            app.status = Some(format!(
                "copied {count} line{} to the clipboard (through the terminal: OSC 52)",
                if count == 1 { "" } else { "s" }
            ));
            return Effect::Copy(text);
        }
        Command::Save => {
            let (job, filter) = (logs.job, logs.filter.clone());
            let name = match filter {
                Some(_) => format!("job-{job}-filtered.log"),
                None => format!("job-{job}.log"),
            };
            // Shown and used whole: a log is never saved into a repository by surprise.
            app.prompt = Some(Prompt {
                purpose: PromptFor::SaveLog { job, filter },
                input: LineInput::new(app.exports.join(name).display().to_string()),
            });
        }
        _ => {}
    }
    Effect::None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(at: u64, text: &str) -> LogLine {
        LogLine {
            at,
            ts: "2026-11-24T12:00:00.000000000Z".into(),
            stream: Stream::Stdout,
            text: text.into(),
            runs: Vec::new(),
        }
    }

    /// Lines numbered `from..to`, each at byte 100 × its number.
    fn lines(from: u64, to: u64) -> Vec<LogLine> {
        (from..to).map(|i| line(i * 100, &format!("line {i}"))).collect()
    }

    #[test]
    fn scrolling_past_the_top_reads_the_page_above_and_lets_the_bottom_go() {
        let mut view = LogView::new(1, 1);
        view.search = Some("7".into());
        view.push(lines(50_000, 50_000 + LOG_WINDOW as u64));
        view.counted(50_000);
        assert_eq!(view.total(), Some(60_000));
        let asked = view.scroll_up(LOG_WINDOW);
        assert_eq!(asked, Some(LogPage::Before(5_000_000)));
        // Asked once until it arrives.
        assert_eq!(view.scroll_up(1), None);
        let shown = view.lines[view.lines.len() - 1 - view.offset].at;
        view.page_read(LogPage::Before(5_000_000), lines(48_000, 50_000), false);
        assert_eq!(view.lines.len(), LOG_WINDOW, "memory stays bounded");
        assert!(view.cut_below && !view.following());
        assert_eq!(view.earlier(), Some(48_000));
        // The line on screen stays on screen.
        assert_eq!(view.lines[view.lines.len() - 1 - view.offset].at, shown);
        // New lines wait in the file while the live end is let go.
        view.push(lines(60_000, 60_010));
        assert_eq!(view.lines.back().unwrap().text, "line 57999");
        // Matches stay exact across both ends.
        let expected = view.lines.iter().filter(|l| l.text.contains('7')).count();
        assert_eq!(view.match_count(), expected);
        // Down at the bottom reads the page below, skipping what the window has.
        view.offset = 0;
        let asked = view.scroll_down(1).unwrap();
        assert_eq!(asked, LogPage::After(5_799_900));
        view.page_read(asked, lines(57_999, 60_010), true);
        assert!(!view.cut_below);
        assert_eq!(view.lines.back().unwrap().text, "line 60009");
        assert_eq!(view.lines.len(), LOG_WINDOW);
        assert_eq!(view.total(), Some(60_010));
    }

    #[test]
    fn the_start_of_the_file_replaces_the_window_and_knows_nothing_is_above() {
        let mut view = LogView::new(1, 1);
        view.push(lines(100, 200));
        assert!(view.more_above(), "the first line is not at byte 0");
        view.page_read(LogPage::Start, lines(0, 50), false);
        assert_eq!((view.earlier(), view.lines[0].at), (Some(0), 0));
        assert!(!view.more_above() && view.cut_below);
        assert_eq!(view.offset, 30, "the first line shows at the top of a full page");
        // An empty page above means nothing shown lies above: the count is exact.
        let mut view = LogView::new(1, 1);
        view.push(lines(10, 20));
        view.page_read(LogPage::Before(1000), Vec::new(), false);
        assert_eq!(view.earlier(), Some(0));
        assert!(!view.more_above());
    }

    /// The lines a page of `view` shows, first to last.
    fn on_screen(view: &LogView) -> Vec<String> {
        let end = view.lines.len() - view.offset;
        view.lines
            .range(end.saturating_sub(view.page)..end)
            .map(|l| l.text.clone())
            .collect()
    }

    #[test]
    fn the_view_is_a_page_as_in_less() {
        // A log shorter than the screen: scrolling does nothing, every line stays shown.
        let mut view = LogView::new(1, 1);
        view.page = 10;
        view.push(lines(0, 4));
        view.page_read(LogPage::Before(0), Vec::new(), false);
        assert_eq!(view.scroll_up(1), None);
        assert_eq!((view.offset, on_screen(&view).len()), (0, 4));
        // g shows lines 1..N of a longer one, a full page.
        let mut view = LogView::new(1, 1);
        view.page = 10;
        view.push(lines(0, 50));
        view.page_read(LogPage::Before(0), Vec::new(), false);
        view.offset = view.highest_offset();
        assert_eq!(on_screen(&view).first().map(String::as_str), Some("line 0"));
        assert_eq!(on_screen(&view).len(), 10);
        // k at the top stays on a full page.
        view.scroll_up(5);
        assert_eq!(on_screen(&view).len(), 10);
        // A match lands near the top, with the lines after it in view.
        view.set_search(Some("line 25".into()));
        let shown = on_screen(&view);
        assert_eq!(shown[1], "line 25", "{shown:?}");
        assert_eq!(shown.len(), 10);
        // A match in the last page shows the last page whole.
        view.set_search(Some("line 48".into()));
        assert_eq!(on_screen(&view).last().map(String::as_str), Some("line 49"));
        assert_eq!(on_screen(&view).len(), 10);
    }

    #[test]
    fn a_selection_runs_from_its_anchor_to_the_bottom_line_on_screen() {
        let mut view = LogView::new(1, 1);
        view.page = 5;
        view.push(lines(0, 30));
        // No selection: the lines on screen.
        assert_eq!(
            view.copied(),
            (
                (25..30)
                    .map(|i| format!("line {i}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                5
            )
        );
        view.selection = Some(view.bottom_number());
        view.scroll_up(3);
        assert_eq!(view.selected(), Some(26..=29));
        assert_eq!(view.copied().1, 4);
        assert!(view.copied().0.starts_with("line 26\n"));
    }
}
