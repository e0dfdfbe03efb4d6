//! Metric curves: one metric's series against their steps, the best trial's bold and green;
//! the metrics listed beside with the one drawn marked.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph};

use super::{Theme, compact, legend};
use crate::app::App;

/// Colours for the series that are not the best, in turn.
const PALETTE: [Color; 5] = [
    Color::Cyan,
    Color::Blue,
    Color::Magenta,
    Color::Yellow,
    Color::Gray,
];

pub(crate) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let Some(view) = &app.curves else { return };
    let [chart_area, side] = Layout::horizontal([Constraint::Min(40), Constraint::Length(30)]).areas(area);
    let metric = view.metric();
    let curves = view.curves.curves.get(metric).map_or(&[][..], Vec::as_slice);
    let (mut x_min, mut x_max, mut y_min, mut y_max) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in curves
        .iter()
        .flat_map(|c| &c.points)
        .filter(|(_, y)| y.is_finite())
    {
        (x_min, x_max, y_min, y_max) = (x_min.min(x), x_max.max(x), y_min.min(y), y_max.max(y));
    }
    if x_min > x_max {
        (x_min, x_max, y_min, y_max) = (0.0, 1.0, 0.0, 1.0);
    }
    // The others first, so the best is drawn over them.
    let order = curves
        .iter()
        .filter(|c| !c.best)
        .chain(curves.iter().filter(|c| c.best));
    let datasets: Vec<Dataset> = order
        .enumerate()
        .map(|(i, curve)| {
            let style = if curve.best {
                theme.fg(Color::Green).add_modifier(Modifier::BOLD)
            } else {
                theme.fg(PALETTE[i % PALETTE.len()])
            };
            // One point (a sweep's best, drawn against its parameter) is a mark, not a line.
            let (marker, graph) = if curve.points.len() == 1 {
                (Marker::Block, GraphType::Scatter)
            } else {
                (Marker::Braille, GraphType::Line)
            };
            Dataset::default()
                .name(curve.label.as_str())
                .marker(marker)
                .graph_type(graph)
                .style(style)
                .data(&curve.points)
        })
        .collect();
    let labels = |lo: f64, hi: f64| vec![compact(lo), compact((lo + hi) / 2.0), compact(hi)];
    let names: Vec<&str> = curves.iter().map(|c| c.label.as_str()).collect();
    let points: Vec<(f64, f64)> = curves.iter().flat_map(|c| c.points.iter().copied()).collect();
    let corner = legend::free_corner(
        &points,
        [x_min, x_max],
        [y_min, y_max],
        legend::share(&names, chart_area),
    );
    // A legend of dozens of trials would hide the chart: the side panel names the best.
    let chart = Chart::new(datasets)
        .legend_position((curves.len() <= 6).then_some(corner))
        .hidden_legend_constraints(legend::SHOWN_UP_TO)
        .block(Block::bordered().title(format!(" {} · {metric} ", view.curves.title)))
        .x_axis(
            Axis::default()
                .title(view.curves.x_name(view.metric()))
                .bounds([x_min, x_max])
                .labels(labels(x_min, x_max)),
        )
        .y_axis(
            Axis::default()
                .title(metric)
                .bounds([y_min, y_max])
                .labels(labels(y_min, y_max)),
        );
    frame.render_widget(chart, chart_area);
    let mut lines: Vec<Line> = view
        .curves
        .metrics
        .iter()
        .enumerate()
        .map(|(i, m)| Line::from(format!("{} {m}", if i == view.metric { "▶" } else { " " })))
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(format!("series   {}", curves.len())));
    if let Some(best) = curves.iter().find(|c| c.best) {
        lines.push(Line::from(format!("best     {}", best.label)));
    }
    lines.push(Line::from(""));
    lines.push(Line::from("Tab: next metric"));
    lines.push(Line::from("e: write as PNG"));
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" metrics ")),
        side,
    );
}
