//! Where a chart's legend goes: the corner where it covers the fewest drawn points, shown
//! unless it would take more than half the chart either way.

use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::LegendPosition;

/// The most of a chart's width and height a legend may take and still be shown.
pub(crate) const SHOWN_UP_TO: (Constraint, Constraint) = (Constraint::Ratio(1, 2), Constraint::Ratio(1, 2));

/// The legend's share of the plot (across, down): its longest name and frame across, a row per
/// series and its frame down (the axes take about 10 columns and 5 rows).
pub(crate) fn share(names: &[&str], area: Rect) -> (f64, f64) {
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(4) + 2;
    (
        width as f64 / f64::from(area.width.saturating_sub(10).max(1)),
        (names.len() + 2) as f64 / f64::from(area.height.saturating_sub(5).max(1)),
    )
}

/// The corner where the legend covers the fewest drawn points (none, where one is free); the
/// legend takes `share` (across, down) of the plot there.
pub(crate) fn free_corner(
    points: &[(f64, f64)],
    x: [f64; 2],
    y: [f64; 2],
    share: (f64, f64),
) -> LegendPosition {
    let (dx, dy) = ((x[1] - x[0]) * share.0, (y[1] - y[0]) * share.1);
    let corners = [
        (LegendPosition::TopLeft, x[0]..=x[0] + dx, y[1] - dy..=y[1]),
        (LegendPosition::TopRight, x[1] - dx..=x[1], y[1] - dy..=y[1]),
        (LegendPosition::BottomRight, x[1] - dx..=x[1], y[0]..=y[0] + dy),
        (LegendPosition::BottomLeft, x[0]..=x[0] + dx, y[0]..=y[0] + dy),
    ];
    corners
        .into_iter()
        .min_by_key(|(_, xs, ys)| {
            points
                .iter()
                .filter(|(px, py)| xs.contains(px) && ys.contains(py))
                .count()
        })
        .map_or(LegendPosition::TopLeft, |(corner, _, _)| corner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legend_goes_where_no_points_are() {
        // A rising line fills the bottom left and top right.
        let rising: Vec<(f64, f64)> = (0..=30).map(|i| (f64::from(i), f64::from(i))).collect();
        assert_eq!(
            free_corner(&rising, [0.0, 30.0], [0.0, 30.0], (0.3, 0.3)),
            LegendPosition::TopLeft
        );
        let falling: Vec<(f64, f64)> = (0..=30).map(|i| (f64::from(i), f64::from(30 - i))).collect();
        assert_eq!(
            free_corner(&falling, [0.0, 30.0], [0.0, 30.0], (0.3, 0.3)),
            LegendPosition::TopRight
        );
    }
}
