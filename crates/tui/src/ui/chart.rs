//! The fit chart: the data as points, the fitted line, the equation and metrics beside it.

use mlbench_plot::{FitChart, equation};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph};

use super::{Theme, compact};
use crate::app::App;

pub(crate) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let Some(data) = &app.chart else { return };
    let [chart_area, side] = Layout::horizontal([Constraint::Min(40), Constraint::Length(30)]).areas(area);
    let line_of = |x: f64| data.intercept + data.slope * x;
    let (mut x_min, mut x_max) = (f64::MAX, f64::MIN);
    let (mut y_min, mut y_max) = (f64::MAX, f64::MIN);
    let project = app
        .jobs
        .iter()
        .find(|j| j.id == data.job)
        .map(|j| j.spec.project.clone());
    let asked: Vec<(f64, f64)> = app
        .predictions
        .iter()
        .filter(|p| Some(&p.project) == project.as_ref())
        .filter_map(|p| p.point)
        .collect();
    // Predictions asked below are part of the picture, even beyond the data.
    for &(x, y) in data.points.iter().chain(&asked) {
        (x_min, x_max, y_min, y_max) = (x_min.min(x), x_max.max(x), y_min.min(y), y_max.max(y));
    }
    if data.points.is_empty() {
        (x_min, x_max, y_min, y_max) = (0.0, 1.0, 0.0, 1.0);
    }
    for y in [line_of(x_min), line_of(x_max)] {
        (y_min, y_max) = (y_min.min(y), y_max.max(y));
    }
    let line = [(x_min, line_of(x_min)), (x_max, line_of(x_max))];
    let datasets = vec![
        // The line first, so the points are drawn over it.
        Dataset::default()
            .name("fit")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme.fg(Color::Red))
            .data(&line),
        Dataset::default()
            .name("data")
            .marker(Marker::Dot)
            .graph_type(GraphType::Scatter)
            .style(theme.fg(Color::Cyan))
            .data(&data.points),
        Dataset::default()
            .name("asked")
            .marker(Marker::Block)
            .graph_type(GraphType::Scatter)
            .style(theme.fg(Color::Yellow))
            .data(&asked),
    ];
    let labels = |lo: f64, hi: f64| vec![compact(lo), compact((lo + hi) / 2.0), compact(hi)];
    let fit = FitChart {
        x_name: &data.x_name,
        y_name: &data.y_name,
        intercept: data.intercept,
        slope: data.slope,
        points: &[],
    };
    let chart = Chart::new(datasets)
        .block(Block::bordered().title(format!(" job {} · {} ", data.job, equation(&fit))))
        .x_axis(
            Axis::default()
                .title(data.x_name.as_str())
                .bounds([x_min, x_max])
                .labels(labels(x_min, x_max)),
        )
        .y_axis(
            Axis::default()
                .title(data.y_name.as_str())
                .bounds([y_min, y_max])
                .labels(labels(y_min, y_max)),
        );
    frame.render_widget(chart, chart_area);
    let mut lines = vec![
        Line::from(format!("points   {}", data.points.len())),
        Line::from(format!("intercept {}", compact(data.intercept))),
        Line::from(format!("slope    {}", compact(data.slope))),
        Line::from(""),
    ];
    for m in app.metrics.get(&data.job).into_iter().flatten() {
        lines.push(Line::from(format!("{:<9} {}", m.key, compact(m.last))));
    }
    lines.push(Line::from(""));
    lines.push(Line::from("e: write as PNG"));
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" fit ")),
        side,
    );
}
