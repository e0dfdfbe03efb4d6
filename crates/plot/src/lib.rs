//! Charts as PNG (plotters, with an embedded font: no system font libraries needed): the fit
//! chart (the data as a scatter, the fitted line, the equation as the title) and metric curves
//! (each series against its step, the best one drawn bold).

mod error;

pub use error::{Error, Result};

use std::path::Path;

use mlbench_domain::FromIo;
use plotters::prelude::*;

const FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSansMono.ttf");
const FONT_NAME: &str = "mlbench-mono";
pub const WIDTH: u32 = 960;
pub const HEIGHT: u32 = 640;

/// A fit chart: the data as points and the model's line through them, under a title that
/// says what the line is. Class labels, when given, name the integer positions of an axis.
pub struct FitChart<'a> {
    pub title: &'a str,
    pub x_name: &'a str,
    pub y_name: &'a str,
    pub points: &'a [(f64, f64)],
    pub line: &'a [(f64, f64)],
    pub x_classes: Option<&'a [String]>,
    pub y_classes: Option<&'a [String]>,
}

fn plot_error(e: impl std::fmt::Display) -> Error {
    Error::Drawing(e.to_string())
}

/// The range a chart shows for values from `lo` to `hi`: 5 % more on each side.
fn padded(lo: f64, hi: f64) -> std::ops::Range<f64> {
    let p = ((hi - lo) * 0.05).max(1e-9);
    (lo - p)..(hi + p)
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// Draws a PNG with `draw` beside `path`, then renames it over `path`: no half-written image
/// is ever there.
fn write_with(path: &Path, draw: impl FnOnce(&Area) -> Result<()>) -> Result<()> {
    if path
        .extension()
        .and_then(|e| e.to_str())
        .is_none_or(|e| !e.eq_ignore_ascii_case("png"))
    {
        return Err(Error::Invalid(format!(
            "{} does not end in .png: the chart is a PNG image",
            path.display()
        )));
    }
    // Registering twice is harmless; the font is needed before the first text is drawn.
    let _ = plotters::style::register_font(FONT_NAME, FontStyle::Normal, FONT);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.partial.png"));
    {
        let root = BitMapBackend::new(&tmp, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        draw(&root)?;
        root.present().map_err(plot_error)?;
    }
    std::fs::rename(&tmp, path).map_err(Error::at(path, "cannot write"))
}

type Axes<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Every chart's frame: the title above, named axes over the given ranges, a light grid.
fn axes<'a, 'b>(
    root: &'a Area<'b>,
    title: &str,
    (x_name, x_range): (&str, std::ops::Range<f64>),
    (y_name, y_range): (&str, std::ops::Range<f64>),
) -> Result<Axes<'a, 'b>> {
    let mut ctx = ChartBuilder::on(root)
        .caption(title, (FONT_NAME, 24))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(x_range, y_range)
        .map_err(plot_error)?;
    ctx.configure_mesh()
        .x_desc(x_name)
        .y_desc(y_name)
        .label_style((FONT_NAME, 14))
        .axis_desc_style((FONT_NAME, 16))
        .draw()
        .map_err(plot_error)?;
    Ok(ctx)
}

pub fn write_png(chart: &FitChart, path: &Path) -> Result<()> {
    if chart.points.is_empty() {
        return Err(Error::Invalid("there are no data points to draw".into()));
    }
    let (mut x_min, mut x_max, mut y_min, mut y_max) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in chart.points.iter().chain(chart.line) {
        (x_min, x_max, y_min, y_max) = (x_min.min(x), x_max.max(x), y_min.min(y), y_max.max(y));
    }
    write_with(path, |root| {
        let class_of = |classes: Option<&[String]>, v: f64| {
            let i = v.round();
            match classes {
                Some(names) if (v - i).abs() < 1e-9 && i >= 0.0 => {
                    names.get(i as usize).cloned().unwrap_or_default()
                }
                Some(_) => String::new(),
                None => mlbench_domain::numfmt::compact(v),
            }
        };
        let mut ctx = ChartBuilder::on(root)
            .caption(chart.title, (FONT_NAME, 22))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(130)
            .build_cartesian_2d(padded(x_min, x_max), padded(y_min, y_max))
            .map_err(plot_error)?;
        let x_format = |v: &f64| class_of(chart.x_classes, *v);
        let y_format = |v: &f64| class_of(chart.y_classes, *v);
        ctx.configure_mesh()
            .x_desc(chart.x_name)
            .y_desc(chart.y_name)
            .x_label_formatter(&x_format)
            .y_label_formatter(&y_format)
            .label_style((FONT_NAME, 14))
            .axis_desc_style((FONT_NAME, 16))
            .draw()
            .map_err(plot_error)?;
        ctx.draw_series(LineSeries::new(chart.line.iter().copied(), RED.stroke_width(2)))
            .map_err(plot_error)?;
        ctx.draw_series(
            chart
                .points
                .iter()
                .map(|&(x, y)| Circle::new((x, y), 4, BLUE.mix(0.6).filled())),
        )
        .map_err(plot_error)?;
        Ok(())
    })
}

/// One metric series to draw: its name in the legend, (step, value) points, and whether it is
/// the best one.
pub struct Curve<'a> {
    pub label: &'a str,
    pub points: &'a [(f64, f64)],
    pub best: bool,
}

/// Metric curves as PNG: each series against its step, the best drawn bold in red.
pub fn write_curves_png(
    title: &str,
    (x_name, metric): (&str, &str),
    curves: &[Curve],
    path: &Path,
) -> Result<()> {
    let all = curves.iter().flat_map(|c| c.points.iter());
    let (mut x_min, mut x_max, mut y_min, mut y_max) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        (x_min, x_max, y_min, y_max) = (x_min.min(x), x_max.max(x), y_min.min(y), y_max.max(y));
    }
    if x_min > x_max {
        return Err(Error::Invalid(format!("{metric} has no values to draw")));
    }
    write_with(path, |root| {
        let mut ctx = axes(
            root,
            title,
            (x_name, padded(x_min, x_max)),
            (metric, padded(y_min, y_max)),
        )?;
        // The others first, so the best is drawn over them.
        for curve in curves
            .iter()
            .filter(|c| !c.best)
            .chain(curves.iter().filter(|c| c.best))
        {
            let style = if curve.best {
                RED.stroke_width(3)
            } else {
                BLUE.mix(0.5).stroke_width(1)
            };
            let series = ctx
                .draw_series(LineSeries::new(curve.points.iter().copied(), style))
                .map_err(plot_error)?;
            if curve.best || curves.len() <= 10 {
                series
                    .label(curve.label)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
            }
        }
        ctx.configure_series_labels()
            .label_font((FONT_NAME, 14))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(plot_error)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_is_a_png_of_the_expected_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fit.png");
        let points: Vec<(f64, f64)> = (0..20)
            .map(|i| (f64::from(i), 100.0 + 2.0 * f64::from(i) + f64::from(i % 3)))
            .collect();
        let line = [(0.0, 100.0), (19.0, 138.0)];
        let chart = FitChart {
            title: "y = 100 + 2·x",
            x_name: "x",
            y_name: "y",
            points: &points,
            line: &line,
            x_classes: None,
            y_classes: None,
        };
        write_png(&chart, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR: width and height, big-endian, right after the chunk header.
        let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!((width, height), (WIDTH, HEIGHT));
    }

    #[test]
    fn curves_are_a_png_and_an_empty_series_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curves.png");
        let falling: Vec<(f64, f64)> = (0..30).map(|i| (f64::from(i), 1.0 / f64::from(i + 1))).collect();
        let flat: Vec<(f64, f64)> = (0..30).map(|i| (f64::from(i), 0.5)).collect();
        let curves = [
            Curve {
                label: "job 1",
                points: &falling,
                best: true,
            },
            Curve {
                label: "job 2",
                points: &flat,
                best: false,
            },
        ];
        write_curves_png("sweep 1", ("step", "loss"), &curves, &path).unwrap();
        assert_eq!(&std::fs::read(&path).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
        let empty = [Curve {
            label: "job 3",
            points: &[],
            best: false,
        }];
        let err = write_curves_png("t", ("step", "loss"), &empty, &dir.path().join("e.png")).unwrap_err();
        assert_eq!(err.to_string(), "loss has no values to draw");
    }
}
