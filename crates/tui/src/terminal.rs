//! Entering and leaving the terminal's full-screen mode, and what a panic does to it.
//! ratatui's own `init` hook restores the terminal for a panic on *any* thread, so a worker's
//! panic would leave the loop drawing into a restored terminal, and it never turns mouse
//! capture off. Here a panic on the UI thread leaves full-screen mode (mouse capture first) and
//! is printed; a panic elsewhere is sent to the status line and the workbench goes on.

use std::io::{Stdout, stdout};
use std::panic::PanicHookInfo;
use std::thread::ThreadId;

use crossterm::clipboard::CopyToClipboard;
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::terminal::{
    Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc::UnboundedSender;

use super::app::Message;

/// Full-screen mode on; panics handled as the module says, with worker panics sent as messages.
pub(crate) fn enter(
    messages: UnboundedSender<Message>,
) -> std::io::Result<Terminal<CrosstermBackend<Stdout>>> {
    let ui = std::thread::current().id();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        match on_panic(ui, std::thread::current().id()) {
            PanicAction::Leave => {
                leave();
                previous(info);
            }
            PanicAction::Report => {
                let _ = messages.send(Message::Failed(format!(
                    "internal error in the background ({}): please report it; the workbench goes on",
                    panic_text(info)
                )));
            }
        }
    }));
    enable_raw_mode()?;
    // Pasted text arrives whole, not as keys that could run commands.
    crossterm::execute!(stdout(), EnterAlternateScreen, EnableBracketedPaste)?;
    Terminal::new(CrosstermBackend::new(stdout()))
}

/// Back to the terminal as it was: mouse capture off, raw mode off, the main screen.
pub(crate) fn leave() {
    // Each step is tried even when one fails: a half-restored terminal is worse.
    let _ = crossterm::execute!(stdout(), DisableMouseCapture);
    let _ = crossterm::execute!(stdout(), DisableBracketedPaste);
    let _ = disable_raw_mode();
    let _ = crossterm::execute!(stdout(), LeaveAlternateScreen);
}

/// The terminal for a shell in a job: mouse capture, pasting in brackets and raw mode off, on
/// a cleared alternate screen. The shell stays on the alternate screen, so the main screen
/// still holds what was there before mlbench when it quits.
pub(crate) fn hand_over() {
    let _ = crossterm::execute!(stdout(), DisableMouseCapture);
    let _ = crossterm::execute!(stdout(), DisableBracketedPaste);
    let _ = disable_raw_mode();
    let _ = crossterm::execute!(
        stdout(),
        Clear(ClearType::All),
        crossterm::cursor::MoveTo(0, 0),
        crossterm::cursor::Show
    );
}

/// Full-screen mode again after [`hand_over`] (a shell in a job had the terminal), on a cleared
/// screen with a terminal whose next frame is drawn whole. (ratatui's own `clear` asks the
/// terminal where its cursor is first, which a terminal just handed back may not answer.)
pub(crate) fn resume(mouse: bool) -> std::io::Result<Terminal<CrosstermBackend<Stdout>>> {
    enable_raw_mode()?;
    crossterm::execute!(
        stdout(),
        EnterAlternateScreen,
        Clear(ClearType::All),
        EnableBracketedPaste
    )?;
    set_mouse(mouse);
    Terminal::new(CrosstermBackend::new(stdout()))
}

pub(crate) fn set_mouse(on: bool) {
    // A terminal without mouse support just ignores this.
    let _ = if on {
        crossterm::execute!(stdout(), EnableMouseCapture)
    } else {
        crossterm::execute!(stdout(), DisableMouseCapture)
    };
}

/// Asks the terminal to put `text` on the clipboard (OSC 52); one that does not support it
/// ignores the request.
pub(crate) fn copy(text: &str) {
    let _ = crossterm::execute!(stdout(), CopyToClipboard::to_clipboard_from(text));
}

#[derive(Debug, PartialEq, Eq)]
enum PanicAction {
    /// The loop itself panicked: give the terminal back, then print.
    Leave,
    /// A worker panicked: the terminal stays the workbench's; say it in the status line.
    Report,
}

fn on_panic(ui: ThreadId, panicking: ThreadId) -> PanicAction {
    if ui == panicking {
        PanicAction::Leave
    } else {
        PanicAction::Report
    }
}

fn panic_text(info: &PanicHookInfo) -> String {
    let payload = info.payload();
    let text = payload
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into());
    match info.location() {
        Some(at) => format!("{text} at {}:{}", at.file(), at.line()),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_panic_on_the_ui_thread_gives_the_terminal_back() {
        let ui = std::thread::current().id();
        let worker = std::thread::spawn(|| std::thread::current().id()).join().unwrap();
        assert_eq!(on_panic(ui, ui), PanicAction::Leave);
        assert_eq!(on_panic(ui, worker), PanicAction::Report);
    }
}
