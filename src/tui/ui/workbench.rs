//! The workbench: projects on the left, the selected project's jobs in the middle, the
//! selected job's details on the right.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, List, ListItem, ListState, Paragraph, Row, Table, TableState, Wrap};

use super::{Theme, compact};
use crate::domain::JobState;
use crate::engine::sweeps::SweepSummary;
use crate::store::{JobRecord, MetricSummary};
use crate::timefmt::{secs_between, short_duration};
use crate::tui::app::{App, JobRow, Panel};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let [projects, jobs, details] = crate::tui::layout::workbench_panels(area);
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

/// The metric worth a column: the error or score a trainer prints.
fn key_metric(app: &App, job: &JobRecord) -> String {
    let Some(metrics) = app.metrics.get(&job.id) else {
        return String::new();
    };
    ["MSE", "loss", "Accuracy", "R2"]
        .iter()
        .find_map(|k| metrics.iter().find(|m| m.key == *k))
        .map(|m| format!("{} {}", m.key, compact(m.last)))
        .unwrap_or_default()
}

fn age(app: &App, created_at: &str) -> String {
    secs_between(created_at, Some(&app.now.to_rfc3339()))
        .map(short_duration)
        .unwrap_or_default()
}

/// A sweep's row: its progress and best value so far; ▸ when its trials are hidden, ▾ shown.
fn sweep_row<'a>(app: &App, sweep: &SweepSummary, wide: bool, theme: Theme) -> Row<'a> {
    let state = match sweep.state {
        "running" => JobState::Running,
        "finished" => JobState::Succeeded,
        _ => JobState::Stopped,
    };
    let best = sweep
        .best_value
        .map(|v| format!("{} {}", sweep.metric, compact(v)))
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
        cells.push(Span::raw(""));
        cells.push(Span::raw(""));
        cells.push(Span::raw(best));
        cells.push(Span::raw(format!("{progress}: {}", sweep.command.join(" "))));
    } else {
        cells.push(Span::raw(format!("{progress} {best}")));
    }
    Row::new(cells).style(Style::default().add_modifier(Modifier::BOLD))
}

fn draw_jobs(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let jobs = app.project_rows();
    let title = match app.selected_project() {
        Some(p) => format!(" jobs of {} ", p.name),
        None => " jobs ".to_string(),
    };
    let block = Block::bordered()
        .title(title)
        .border_style(theme.border(app.focus == Panel::Jobs));
    if jobs.is_empty() {
        let hint =
            "no jobs yet: n opens the new-experiment form (or `mlbench run --project NAME -- COMMAND`)";
        frame.render_widget(Paragraph::new(hint).wrap(Wrap { trim: true }).block(block), area);
        return;
    }
    // A narrow table keeps what tells jobs apart; a wide one shows everything.
    let wide = area.width >= 70;
    // Only the rows that fit are built: with thousands of jobs, building them all per frame
    // would be most of the frame's cost.
    let visible = area.height.saturating_sub(3).max(1) as usize;
    let start = app.job_row.saturating_sub(visible - 1);
    let rows: Vec<Row> = jobs
        .iter()
        .skip(start)
        .take(visible)
        .map(|row| match row {
            JobRow::Sweep(sweep) => sweep_row(app, sweep, wide, theme),
            JobRow::Job(j) | JobRow::Trial(j) => {
                let mut cells = vec![
                    Span::raw(j.id.to_string()),
                    Span::styled(j.state.to_string(), theme.state(j.state)),
                    Span::raw(age(app, &j.created_at)),
                ];
                if wide {
                    cells.push(Span::raw(j.spec.machine.clone()));
                    cells.push(Span::raw(j.exit_code.map(|c| c.to_string()).unwrap_or_default()));
                    cells.push(Span::raw(key_metric(app, j)));
                }
                let command = j.spec.command.join(" ");
                cells.push(Span::raw(match (row, &j.params) {
                    // A trial says its parameters: the command is the sweep's.
                    (JobRow::Trial(_), Some(params)) => {
                        let values: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        format!("  └ {}", values.join(" "))
                    }
                    _ => command,
                }));
                Row::new(cells)
            }
        })
        .collect();
    let (widths, header) = if wide {
        (
            vec![
                Constraint::Length(4),
                Constraint::Length(10),
                Constraint::Length(4),
                Constraint::Length(7),
                Constraint::Length(4),
                Constraint::Length(14),
                Constraint::Min(10),
            ],
            vec!["ID", "STATE", "AGE", "MACHINE", "EXIT", "METRIC", "COMMAND"],
        )
    } else {
        (
            vec![
                Constraint::Length(3),
                Constraint::Length(10),
                Constraint::Length(4),
                Constraint::Min(8),
            ],
            vec!["ID", "STATE", "AGE", "COMMAND"],
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
    let label = |name: &str| Span::styled(format!("{name:<8}"), theme.fg(Color::Gray));
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
            Line::from(vec![label("command"), Span::raw(sweep.command.join(" "))]),
        ];
        if let Some(detail) = &sweep.detail {
            lines.push(Line::from(vec![
                label("note"),
                Span::styled(detail.clone(), theme.fg(Color::Yellow)),
            ]));
        }
        lines.push(Line::from(""));
        lines.push(Line::from("Enter trials · C compare · c curves"));
        frame.render_widget(
            Paragraph::new(lines).wrap(Wrap { trim: false }).block(block),
            area,
        );
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
    if let Some(commit) = &job.commit {
        lines.push(Line::from(vec![
            label("commit"),
            Span::raw(commit.chars().take(12).collect::<String>()),
        ]));
    }
    lines.push(Line::from(vec![
        label("command"),
        Span::raw(job.spec.command.join(" ")),
    ]));
    if !job.spec.ports.is_empty() {
        let ports: Vec<String> = job
            .spec
            .ports
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        lines.push(Line::from(vec![label("ports"), Span::raw(ports.join(", "))]));
    }
    if let Some(code) = job.exit_code {
        lines.push(Line::from(vec![label("exit"), Span::raw(code.to_string())]));
    }
    if let Some(detail) = &job.detail {
        lines.push(Line::from(vec![
            label("note"),
            Span::styled(detail.clone(), theme.fg(Color::Yellow)),
        ]));
    }
    let serving: Vec<&JobRecord> = app
        .jobs
        .iter()
        .filter(|j| {
            j.spec.project == job.spec.project
                && j.spec.kind == crate::domain::JobKind::Serving
                && !j.state.is_final()
        })
        .collect();
    for s in serving {
        let url = s
            .spec
            .ports
            .first()
            .map(crate::engine::deploy::url_of)
            .unwrap_or_default();
        let name = s.spec.deployment.clone().unwrap_or_default();
        lines.push(Line::from(vec![
            label("serving"),
            Span::styled(format!("{name} {url} ({})", s.state), theme.state(s.state)),
        ]));
    }
    if let Some(metrics) = app.metrics.get(&job.id).filter(|m| !m.is_empty()) {
        lines.extend(metric_lines(metrics, theme));
    }
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(block),
        area,
    );
}

/// The job's metrics: last value, range and count, and a sparkline of the whole series.
fn metric_lines(metrics: &[MetricSummary], theme: Theme) -> Vec<Line<'static>> {
    let mut lines = vec![
        Line::from(""),
        Line::from(Span::styled(
            "metrics  last (min … max, count)",
            theme.fg(Color::Gray),
        )),
    ];
    for m in metrics {
        let range = if m.count > 1 {
            format!(" ({} … {}, {})", compact(m.min), compact(m.max), m.count)
        } else {
            String::new()
        };
        lines.push(Line::from(format!("{:<10} {}{range}", m.key, compact(m.last))));
        if m.shape.len() > 1 {
            let spark = format!("{:<10} {}", "", sparkline(&m.shape));
            lines.push(Line::from(Span::styled(spark, theme.fg(Color::Cyan))));
        }
    }
    lines
}

/// A series in block characters, lowest to highest: ▁▂▃▄▅▆▇█
pub fn sparkline(values: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
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
