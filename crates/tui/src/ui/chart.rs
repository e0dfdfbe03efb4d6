//! The fit chart: the data as points, the model's line through them (one feature's partial
//! dependence, or the diagonal of actual against predicted), its terms and metrics beside it.

use mlbench_engine::experiments::fit::{FitView, is_line_term, x_extent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph};

use super::{Theme, compact, cut, legend};
use crate::app::App;

pub(crate) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let Some(fit) = &app.chart else { return };
    let [chart_area, side] = Layout::horizontal([Constraint::Min(40), Constraint::Length(30)]).areas(area);
    let view = app.chart_view;
    let picture = fit.picture(view);
    let project = app
        .jobs
        .iter()
        .find(|j| j.id == fit.job)
        .map(|j| j.spec.project.clone());
    // Predictions asked below are part of the picture, even beyond the data: only where a
    // point is one input and its answer, a one-feature model's own axes.
    let asked: Vec<(f64, f64)> = match view {
        FitView::Feature(_) if fit.features.len() == 1 => app
            .predictions
            .iter()
            .filter(|p| Some(&p.project) == project.as_ref())
            .filter_map(|p| p.point)
            .collect(),
        _ => Vec::new(),
    };
    let (x_min, x_max) = x_extent(&[picture.points.as_slice(), &asked].concat());
    let line = fit.line(view, x_min, x_max);
    let (mut y_min, mut y_max) = (f64::MAX, f64::MIN);
    for &(_, y) in picture.points.iter().chain(&asked).chain(&line) {
        (y_min, y_max) = (y_min.min(y), y_max.max(y));
    }
    if y_min > y_max {
        (y_min, y_max) = (0.0, 1.0);
    }
    let mut datasets = vec![
        // The line first, so the points are drawn over it.
        Dataset::default()
            .name(picture.line_name)
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme.fg(Color::Red))
            .data(&line),
        Dataset::default()
            .name("data")
            .marker(Marker::Dot)
            .graph_type(GraphType::Scatter)
            .style(theme.fg(Color::Cyan))
            .data(&picture.points),
    ];
    // The legend lists only what is drawn.
    if !asked.is_empty() {
        datasets.push(
            Dataset::default()
                .name("asked")
                .marker(Marker::Block)
                .graph_type(GraphType::Scatter)
                .style(theme.fg(Color::Yellow))
                .data(&asked),
        );
    }
    let labels = |lo: f64, hi: f64, classes: Option<&Vec<String>>| match classes {
        Some(names) => names.clone(),
        None => vec![compact(lo), compact((lo + hi) / 2.0), compact(hi)],
    };
    // Class positions are drawn at their whole numbers, half a step inside the edges.
    let bounds = |lo: f64, hi: f64, classes: Option<&Vec<String>>| match classes {
        Some(names) => [-0.5, names.len() as f64 - 0.5],
        None => [lo, hi],
    };
    let x_bounds = bounds(x_min, x_max, picture.x_classes.as_ref());
    let y_bounds = bounds(y_min, y_max, picture.y_classes.as_ref());
    let drawn: Vec<(f64, f64)> = [picture.points.as_slice(), &asked, &line].concat();
    let names = [picture.line_name, "data", "asked"];
    let legend_share = legend::share(&names[..if asked.is_empty() { 2 } else { 3 }], chart_area);
    let version = fit.version.map(|v| format!(" · model v{v}")).unwrap_or_default();
    let chart = Chart::new(datasets)
        .block(Block::bordered().title(format!(" {} ", picture.title)))
        .legend_position(Some(legend::free_corner(
            &drawn,
            x_bounds,
            y_bounds,
            legend_share,
        )))
        .hidden_legend_constraints(legend::SHOWN_UP_TO)
        .x_axis(
            Axis::default()
                .title(picture.x_name.as_str())
                .bounds(x_bounds)
                .labels(labels(x_min, x_max, picture.x_classes.as_ref())),
        )
        .y_axis(
            Axis::default()
                .title(picture.y_name.as_str())
                .bounds(y_bounds)
                .labels(labels(y_min, y_max, picture.y_classes.as_ref())),
        );
    frame.render_widget(chart, chart_area);
    let mut lines = vec![Line::from(format!("points    {}", picture.points.len()))];
    lines.extend(
        fit.terms()
            .into_iter()
            .map(|(name, value)| side_line(&name, value)),
    );
    lines.push(Line::from(""));
    // The terms above are the drawn model's own; the job's other metrics follow.
    for m in app
        .metrics
        .get(&fit.job)
        .into_iter()
        .flatten()
        .filter(|m| !is_line_term(&m.key))
    {
        lines.push(side_line(&m.key, m.last));
    }
    lines.push(Line::from(""));
    if fit.features.len() > 1 {
        lines.push(Line::from("Tab: next feature"));
    }
    lines.push(Line::from(match view {
        FitView::ActualVsPredicted => "a: back to a feature",
        FitView::Feature(_) => "a: actual vs predicted",
    }));
    lines.push(Line::from("e: write as PNG"));
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(format!(" job {}{version} ", fit.job))),
        side,
    );
}

/// `name value` in the side panel's 28 columns: the value whole, the name cut to make room.
fn side_line(name: &str, value: f64) -> Line<'static> {
    let value = compact(value);
    let room = 28usize.saturating_sub(value.chars().count() + 1).max(1);
    Line::from(format!("{:<room$} {value}", cut(name, room)))
}
