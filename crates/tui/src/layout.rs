//! Where things are on the screen: shared by drawing and by mapping mouse clicks to panels, so
//! neither has to ask the other.

use ratatui::layout::{Constraint, Layout, Rect};

/// The screen's main area and the status line below it.
pub(crate) fn screen(area: Rect) -> [Rect; 2] {
    Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area)
}

/// Projects, jobs and details, side by side.
pub(crate) fn workbench_panels(area: Rect) -> [Rect; 3] {
    Layout::horizontal([
        Constraint::Length(18),
        Constraint::Percentage(50),
        Constraint::Min(28),
    ])
    .areas(area)
}
