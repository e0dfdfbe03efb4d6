//! The workbench: projects on the left, the selected project's jobs in the middle, the
//! selected job's details on the right.

use mlbench_config::keymap::Command;
use mlbench_domain::JobState;
use mlbench_domain::job::shell_words;
use mlbench_domain::machine::{fmt_cpus, format_bytes};
use mlbench_domain::output::Stream;
use mlbench_domain::timefmt::{secs_between, short_duration};
use mlbench_engine::experiments::sweeps::SweepSummary;
use mlbench_engine::jobs::usage::MEMORY_WARN;
use mlbench_engine::serving;
use mlbench_store::{JobRecord, MetricSummary};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, List, ListItem, ListState, Paragraph, Row, Table, TableState, Wrap};

use super::{Theme, compact, cut};
use crate::app::{App, JobRow, Panel, Traffic, UsageView};

pub(crate) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let [projects, jobs, details] = crate::layout::workbench_panels(area);
    draw_projects(frame, projects, app, theme);
    draw_jobs(frame, jobs, app, theme);
    draw_details(frame, details, app, theme);
}

fn draw_projects(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let items: Vec<ListItem> = app
        .projects
        .iter()
        .map(|p| {
            let running = if p.running > 0 {
                format!(" ({} ▶)", p.running)
            } else {
                String::new()
            };
            ListItem::new(format!("{}{running}", p.name))
        })
        .collect();
    let block = Block::bordered()
        .title(" projects ")
        .border_style(theme.border(app.focus == Panel::Projects));
    let list = if items.is_empty() {
        List::new(vec![ListItem::new("none yet")]).block(block)
    } else {
        List::new(items)
            .block(block)
            .highlight_style(theme.selected())
            .highlight_symbol("▶")
    };
    let mut state =
        ListState::default().with_selected((!app.projects.is_empty()).then_some(app.project_row()));
    frame.render_stateful_widget(list, area, &mut state);
}

/// `name value` in `width` columns: the value always whole, the name cut to make room.
fn metric_cell(name: &str, value: f64, width: usize) -> String {
    let value = compact(value);
    let room = width.saturating_sub(value.chars().count() + 1);
    if room <= 1 {
        return value;
    }
    format!("{} {value}", cut(name, room))
}

/// Width of the key-metric column, in a wide table and a narrow one (80 columns).
const METRIC_WIDTH: u16 = 14;
const NARROW_METRIC_WIDTH: u16 = 8;

fn age(app: &App, created_at: &str) -> String {
    secs_between(created_at, Some(&app.now.to_rfc3339()))
        .map(short_duration)
        .unwrap_or_default()
}

/// A sweep's row: its progress and best value so far; ▸ when its trials are hidden, ▾ shown.
/// A sweep's row; `columns` are the table's widths (wide, full, with an ENGINE column).
fn sweep_row<'a>(
    app: &App,
    sweep: &SweepSummary,
    (wide, full, on_engines): (bool, bool, bool),
    theme: Theme,
) -> Row<'a> {
    let state = match sweep.state {
        "running" => JobState::Running,
        "finished" => JobState::Succeeded,
        _ => JobState::Stopped,
    };
    let best = sweep
        .best_value
        .map(|v| {
            metric_cell(
                &sweep.metric,
                v,
                usize::from(if wide { METRIC_WIDTH } else { NARROW_METRIC_WIDTH }),
            )
        })
        .unwrap_or_default();
    let open = if app.expanded.contains(&sweep.sweep) {
        "▾"
    } else {
        "▸"
    };
    let mut cells = vec![
        Span::raw(format!("S{}", sweep.sweep)),
        Span::styled(sweep.state, theme.state(state)),
        Span::raw(age(app, &sweep.created_at)),
    ];
    let progress = format!("{open} sweep {}/{}", sweep.done, sweep.trials);
    if wide {
        // Under MACHINE, (ENGINE,) EXIT and CPU MEM a sweep has nothing of its own: its
        // trials say theirs.
        let blanks = match (full, on_engines) {
            (true, true) => 4,
            (true, false) => 3,
            (false, _) => 1,
        };
        cells.extend(std::iter::repeat_n(Span::raw(""), blanks));
        cells.push(Span::raw(best));
        // While a trial waits, why it waits says more than the command.
        cells.push(Span::raw(match &sweep.waiting {
            Some(why) => format!("{progress} · waiting: {why}"),
            None => format!("{progress}: {}", shell_words(&sweep.command)),
        }));
    } else {
        cells.push(Span::raw(best));
        cells.push(Span::raw(progress));
    }
    Row::new(cells).style(Style::default().add_modifier(Modifier::BOLD))
}

fn draw_jobs(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let jobs = app.project_rows();
    let mut title = match app.selected_project() {
        Some(p) => format!(" jobs of {} ", p.name),
        None => " jobs ".to_string(),
    };
    if let Some(filter) = &app.job_filter {
        title.push_str(&format!("· /{} ", filter.typed));
    }
    if let Some((column, descending)) = app.job_sort {
        title.push_str(&format!(
            "· by {} {} ",
            column.name(),
            if descending { "↓" } else { "↑" }
        ));
    }
    let block = Block::bordered()
        .title(title)
        .border_style(theme.border(app.focus == Panel::Jobs));
    if jobs.is_empty() {
        let hint = format!(
            "no jobs yet: {} opens the new-experiment form (or `mlbench run --project NAME -- COMMAND`)",
            app.keys.key_of(Command::New)
        );
        frame.render_widget(Paragraph::new(hint).wrap(Wrap { trim: true }).block(block), area);
        return;
    }
    // A narrow table keeps what tells jobs apart; a wide one adds usage and the metric's
    // name; a full one the machine and exit code too (else in the details), so the command
    // always keeps room.
    let wide = area.width >= 70;
    let full = area.width >= 100;
    // An ENGINE column where jobs ran elsewhere than here, and room for it.
    let on_engines = full
        && jobs.iter().any(|row| match row {
            JobRow::Job(j) | JobRow::Trial(j) => j.engine != mlbench_domain::LOCAL_ENGINE,
            JobRow::Sweep(_) => false,
        });
    // Only the rows that fit are built: with thousands of jobs, building them all per frame
    // would be most of the frame's cost.
    let visible = area.height.saturating_sub(3).max(1) as usize;
    let start = app.job_row.saturating_sub(visible - 1);
    let rows: Vec<Row> = jobs
        .iter()
        .skip(start)
        .take(visible)
        .map(|row| match row {
            JobRow::Sweep(sweep) => sweep_row(app, sweep, (wide, full, on_engines), theme),
            JobRow::Job(j) | JobRow::Trial(j) => {
                let mut cells = vec![
                    Span::raw(j.id.to_string()),
                    // The cell is narrow: a mark says something holds the job back, the
                    // details say what.
                    match j.trouble.as_ref().filter(|_| !j.state.is_final()) {
                        Some(_) => Span::styled(format!("{} ⚠", j.state), theme.fg(Color::Yellow)),
                        None => Span::styled(j.state.to_string(), theme.state(j.state)),
                    },
                    Span::raw(age(app, &j.created_at)),
                ];
                let metric_width = usize::from(if wide { METRIC_WIDTH } else { NARROW_METRIC_WIDTH });
                let metric = app
                    .key_metric(j)
                    .map(|m| metric_cell(&m.key, m.last, metric_width))
                    .unwrap_or_default();
                if full {
                    cells.push(Span::raw(j.spec.machine.clone()));
                    if on_engines {
                        cells.push(Span::raw(j.engine.clone()));
                    }
                    cells.push(Span::raw(j.exit_code.map(|c| c.to_string()).unwrap_or_default()));
                }
                if wide {
                    cells.push(usage_cell(app, j.id, theme));
                }
                cells.push(Span::raw(metric));
                cells.push(Span::raw(match (row, &j.params) {
                    // A trial says its parameters: the command is the sweep's. Narrow, the
                    // values alone (the sweep's row names what is swept).
                    (JobRow::Trial(_), Some(params)) if wide => {
                        let values: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        format!("  └ {}", values.join(" "))
                    }
                    (JobRow::Trial(_), Some(params)) => {
                        let values: Vec<String> = params.values().map(ToString::to_string).collect();
                        format!("└ {}", values.join(" "))
                    }
                    _ => j.spec.command_text(),
                }));
                Row::new(cells)
            }
        })
        .collect();
    let (widths, header) = if full {
        let mut widths = vec![
            Constraint::Length(4),
            Constraint::Length(10),
            Constraint::Length(4),
            Constraint::Length(7),
            Constraint::Length(4),
            Constraint::Length(8),
            Constraint::Length(METRIC_WIDTH),
            Constraint::Min(10),
        ];
        let mut header = vec![
            "ID", "STATE", "AGE", "MACHINE", "EXIT", "CPU MEM", "METRIC", "COMMAND",
        ];
        if on_engines {
            widths.insert(4, Constraint::Length(7));
            header.insert(4, "ENGINE");
        }
        (widths, header)
    } else if wide {
        (
            vec![
                Constraint::Length(4),
                Constraint::Length(10),
                Constraint::Length(4),
                Constraint::Length(8),
                Constraint::Length(METRIC_WIDTH),
                Constraint::Min(10),
            ],
            vec!["ID", "STATE", "AGE", "CPU MEM", "METRIC", "COMMAND"],
        )
    } else {
        // Narrow, the metric and a trial's parameters stay; the command is cut first.
        (
            vec![
                Constraint::Length(3),
                Constraint::Length(10),
                Constraint::Length(3),
                Constraint::Length(NARROW_METRIC_WIDTH),
                Constraint::Min(3),
            ],
            vec!["ID", "STATE", "AGE", "METRIC", "COMMAND"],
        )
    };
    let header = Row::new(header).style(Style::default().add_modifier(Modifier::BOLD));
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .row_highlight_style(theme.selected())
        .highlight_symbol("▶");
    let mut state = TableState::default().with_selected(Some(app.job_row - start));
    frame.render_stateful_widget(table, area, &mut state);
}

fn draw_details(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let block = Block::bordered().title(" details ");
    let label = |name: &str| field_label(name, theme);
    if let Some(JobRow::Sweep(sweep)) = app.selected_row() {
        let best = match (sweep.best, sweep.best_value) {
            (Some(job), Some(value)) => format!("{} (job {job})", compact(value)),
            _ => "none yet".into(),
        };
        let mut lines = vec![
            Line::from(vec![label("sweep"), Span::raw(sweep.sweep.to_string())]),
            Line::from(vec![label("state"), Span::raw(sweep.state)]),
            Line::from(vec![
                label("trials"),
                Span::raw(format!(
                    "{} of {} done, {} running",
                    sweep.done, sweep.trials, sweep.running
                )),
            ]),
            Line::from(vec![
                label("metric"),
                Span::raw(format!("{} ({})", sweep.metric, sweep.goal.as_str())),
            ]),
            Line::from(vec![label("best"), Span::raw(best)]),
        ];
        let width = usize::from(area.width.saturating_sub(2));
        lines.extend(prose(
            "command",
            &shell_words(&sweep.command),
            Style::default(),
            width,
            theme,
        ));
        if let Some(why) = &sweep.waiting {
            lines.extend(prose("waiting", why, theme.fg(Color::Yellow), width, theme));
        }
        if let Some(detail) = &sweep.detail {
            lines.extend(prose("note", detail, theme.fg(Color::Yellow), width, theme));
        }
        lines.push(Line::from(""));
        lines.push(Line::from(format!(
            "{} trials · {} compare · {} curves",
            app.keys.key_of(Command::Open),
            app.keys.key_of(Command::Compare),
            app.keys.key_of(Command::Chart),
        )));
        lines.push(Line::from(format!(
            "{} stop · {} delete",
            app.keys.key_of(Command::Stop),
            app.keys.key_of(Command::Delete)
        )));
        frame.render_widget(Paragraph::new(lines).block(block), area);
        return;
    }
    let Some(job) = app.selected_job() else {
        frame.render_widget(Paragraph::new("").block(block), area);
        return;
    };
    let mut lines = vec![
        Line::from(vec![
            label("job"),
            Span::raw(format!("{} ({})", job.id, job.runtime)),
        ]),
        Line::from(vec![
            label("state"),
            Span::styled(job.state.to_string(), theme.state(job.state)),
        ]),
        Line::from(vec![label("machine"), Span::raw(job.spec.machine.clone())]),
        Line::from(vec![label("image"), Span::raw(job.spec.image.clone())]),
        Line::from(vec![label("code"), Span::raw(job.spec.source.to_string())]),
    ];
    if job.engine != mlbench_domain::LOCAL_ENGINE {
        lines.push(Line::from(vec![label("engine"), Span::raw(job.engine.clone())]));
    }
    if let Some(node) = &job.node {
        lines.push(Line::from(vec![label("node"), Span::raw(node.clone())]));
    }
    if let Some(commit) = &job.commit {
        lines.push(Line::from(vec![
            label("commit"),
            Span::raw(commit.chars().take(12).collect::<String>()),
        ]));
    }
    let width = usize::from(area.width.saturating_sub(2));
    lines.extend(prose(
        "command",
        &job.spec.command_text(),
        Style::default(),
        width,
        theme,
    ));
    if !job.spec.ports.is_empty() {
        let ports: Vec<String> = job
            .spec
            .ports
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        lines.push(Line::from(vec![label("ports"), Span::raw(ports.join(", "))]));
    }
    if let Some(usage) = app.usage.get(&job.id) {
        // Gauges where the panel has room for them and the numbers.
        lines.extend(usage_lines(usage, area.width >= 44, theme));
    }
    if let Some(code) = job.exit_code {
        lines.push(Line::from(vec![label("exit"), Span::raw(code.to_string())]));
    }
    if let Some(detail) = &job.detail {
        lines.extend(prose("note", detail, theme.fg(Color::Yellow), width, theme));
    }
    if let Some(trouble) = job.trouble.as_ref().filter(|_| !job.state.is_final()) {
        lines.extend(prose("trouble", trouble, theme.fg(Color::Yellow), width, theme));
    }
    let serving: Vec<&JobRecord> = app
        .jobs
        .iter()
        .filter(|j| {
            j.spec.project == job.spec.project
                && j.spec.kind == mlbench_domain::JobKind::Serving
                && !j.state.is_final()
        })
        .collect();
    // A deployment's traffic is its replicas' summed: shown once, under its first.
    let mut shown = std::collections::HashSet::new();
    for s in serving {
        let url = serving::deploy::job_url(s).unwrap_or_default();
        let name = s.spec.deployment.clone().unwrap_or_default();
        lines.extend(prose(
            "serving",
            &format!("{name} {url} ({})", s.state),
            theme.state(s.state),
            width,
            theme,
        ));
        if let Some(traffic) = app.traffic.get(&name).filter(|_| shown.insert(name.clone())) {
            lines.extend(traffic_lines(traffic, theme));
        }
    }
    if let Some(metrics) = app.metrics.get(&job.id).filter(|m| !m.is_empty()) {
        lines.extend(metric_lines(metrics, theme));
    }
    if let Some(Some(tail)) = app.failure_tails.get(&job.id) {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(
            "last lines of its log",
            theme.fg(Color::DarkGray),
        )));
        lines.extend(tail.iter().map(|l| {
            let style = if l.stream == Stream::Stderr {
                theme.fg(Color::LightRed)
            } else {
                Style::default()
            };
            Line::from(Span::styled(l.text.clone(), style))
        }));
    }
    // Lines are cut at the panel's edge, never wrapped: a wrapped sparkline or value reads
    // as another line.
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// The job's metrics: last value, range and count, and a sparkline of the whole series.
fn metric_lines(metrics: &[MetricSummary], theme: Theme) -> Vec<Line<'static>> {
    let mut lines = vec![
        Line::from(""),
        Line::from(Span::styled(
            "metrics  last (min … max, count)",
            theme.fg(Color::DarkGray),
        )),
    ];
    for m in metrics {
        let range = if m.count > 1 {
            format!(" ({} … {}, {})", compact(m.min), compact(m.max), m.count)
        } else {
            String::new()
        };
        // The value right after the name, so a narrow panel cuts the range, not the value.
        lines.push(Line::from(format!(
            "{:<10} {}{range}",
            cut(&m.key, 10),
            compact(m.last)
        )));
        if m.shape.len() > 1 {
            let spark = format!("{:<10} {}", "", sparkline(&m.shape));
            lines.push(Line::from(Span::styled(spark, theme.fg(Color::Cyan))));
        }
    }
    lines
}

/// A deployment's traffic over the last scrape, and a sparkline of its requests a second
/// (from zero: an idle server is a flat low line).
fn traffic_lines(traffic: &Traffic, theme: Theme) -> Vec<Line<'static>> {
    let t = &traffic.latest;
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.2} ms"));
    let errors = Span::styled(
        format!(", {} errors", t.errors),
        if t.errors > 0 {
            theme.fg(Color::Red)
        } else {
            Style::default()
        },
    );
    let rates: Vec<f64> = traffic.req_per_s.iter().copied().collect();
    // Never zero: an idle server draws its lowest bars.
    let top = rates.iter().copied().fold(1e-9, f64::max);
    vec![
        Line::from(vec![
            field_label("traffic", theme),
            Span::raw(format!("{} req/s", compact(t.req_per_s))),
            errors,
        ]),
        Line::from(vec![
            field_label("latency", theme),
            Span::raw(format!("p50 {}, p99 {}", ms(t.p50_ms), ms(t.p99_ms))),
        ]),
        Line::from(vec![
            field_label("", theme),
            Span::styled(sparkline_within(&rates, 0.0, top), theme.fg(Color::Cyan)),
        ]),
    ]
}

/// Memory's colour: warned before it is near enough the limit for an OOM kill.
fn memory_style(share: f64, theme: Theme) -> Style {
    if share >= 0.95 {
        theme.fg(Color::Red).add_modifier(Modifier::BOLD)
    } else if share >= MEMORY_WARN {
        theme.fg(Color::Yellow)
    } else {
        Style::default()
    }
}

/// A running job's CPU and memory as shares of its limits, for its row.
fn usage_cell(app: &App, job: i64, theme: Theme) -> Span<'static> {
    let Some(view) = app.usage.get(&job) else {
        return Span::raw("");
    };
    let u = &view.latest;
    let cpu = u.cpus.filter(|_| u.cpu_limit > 0.0).map_or_else(
        || "  -".to_string(),
        |c| format!("{:>3.0}", c / u.cpu_limit * 100.0),
    );
    let share = u.memory_share();
    Span::styled(
        format!("{cpu}% {:>2.0}%", share * 100.0),
        memory_style(share, theme),
    )
}

/// A text gauge `width` cells wide, filled to `share`.
fn gauge(share: f64, width: usize) -> String {
    let filled = ((share.clamp(0.0, 1.0) * width as f64).round() as usize).min(width);
    format!("▕{}{}▏", "█".repeat(filled), "░".repeat(width - filled))
}

/// A running job's CPU and memory against its machine type, and its CPU over the last readings.
fn usage_lines(view: &UsageView, gauges: bool, theme: Theme) -> Vec<Line<'static>> {
    let u = &view.latest;
    let cpus = u.cpus.unwrap_or(0.0);
    let cpu_share = if u.cpu_limit > 0.0 {
        cpus / u.cpu_limit
    } else {
        0.0
    };
    let share = u.memory_share();
    let history: Vec<f64> = view.cpus.iter().copied().collect();
    let bar = |share: f64| {
        if gauges {
            format!("{} ", gauge(share, 10))
        } else {
            String::new()
        }
    };
    vec![
        Line::from(vec![
            field_label("cpu", theme),
            Span::raw(format!(
                "{}{cpus:.2}/{} vCPU",
                bar(cpu_share),
                fmt_cpus(u.cpu_limit)
            )),
        ]),
        Line::from(vec![
            field_label("memory", theme),
            Span::styled(
                format!(
                    "{}{}/{} ({:.0}%)",
                    bar(share),
                    format_bytes(u.memory_bytes),
                    format_bytes(u.memory_limit),
                    share * 100.0
                ),
                memory_style(share, theme),
            ),
        ]),
        Line::from(vec![
            field_label("", theme),
            Span::styled(
                sparkline_within(&history, 0.0, u.cpu_limit.max(1e-9)),
                theme.fg(Color::Cyan),
            ),
        ]),
    ]
}

/// A details line's name, in its column.
/// A field whose value is words (a command, a note): wrapped at word ends under its label,
/// where values and sparklines are cut, so nothing of it is lost in a narrow panel.
fn prose(name: &str, text: &str, style: Style, width: usize, theme: Theme) -> Vec<Line<'static>> {
    let room = width.saturating_sub(8).max(8);
    let mut rows: Vec<String> = vec![String::new()];
    for word in text.split(' ') {
        let row = rows.last_mut().map_or(0, |r| r.chars().count());
        if row > 0 && row + 1 + word.chars().count() > room {
            rows.push(String::new());
        }
        if let Some(row) = rows.last_mut() {
            if !row.is_empty() {
                row.push(' ');
            }
            row.push_str(word);
        }
    }
    rows.into_iter()
        .enumerate()
        .map(|(i, row)| {
            let label = if i == 0 {
                field_label(name, theme)
            } else {
                field_label("", theme)
            };
            Line::from(vec![label, Span::styled(row, style)])
        })
        .collect()
}

fn field_label(name: &str, theme: Theme) -> Span<'static> {
    Span::styled(format!("{name:<8}"), theme.fg(Color::DarkGray))
}

/// A series in block characters, lowest to highest: ▁▂▃▄▅▆▇█
pub(crate) fn sparkline(values: &[f64]) -> String {
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    sparkline_within(values, lo, hi)
}

/// A series drawn between `lo` (the lowest bar) and `hi` (the highest).
fn sparkline_within(values: &[f64], lo: f64, hi: f64) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    values
        .iter()
        .map(|v| {
            if hi > lo {
                BARS[(((v - lo) / (hi - lo)) * 7.0).round() as usize]
            } else {
                BARS[3]
            }
        })
        .collect()
}
