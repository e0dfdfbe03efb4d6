//! The job list's filter and sort (`/`, `o`, `O` on the workbench): which rows show, in what
//! order. A sweep's trials stay under their sweep's row whatever the order.

use mlbench_domain::job::shell_words;
use mlbench_engine::experiments::fit::is_line_term;
use mlbench_store::{JobRecord, MetricSummary};

use super::{App, JobRow};

/// Scores and errors trainers commonly print, most telling first: the key metric of a job
/// that is no sweep's trial, when it printed one of them.
const SCORES: [&str; 12] = [
    "mse",
    "rmse",
    "mae",
    "loss",
    "val_loss",
    "accuracy",
    "acc",
    "val_accuracy",
    "f1",
    "auc",
    "r2",
    "error",
];

/// Rows that hold (or, inverted, lack) a text in their state, command, parameters or where
/// they run; case does not matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JobFilter {
    /// As typed: `!` first inverts.
    pub(crate) typed: String,
    text: String,
    invert: bool,
}

impl JobFilter {
    /// `None` for an empty text: no filter.
    pub(crate) fn parse(typed: &str) -> Option<JobFilter> {
        let typed = typed.trim();
        let (invert, text) = match typed.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, typed),
        };
        (!text.is_empty()).then(|| JobFilter {
            typed: typed.to_string(),
            text: text.to_lowercase(),
            invert,
        })
    }

    fn keeps(&self, described: &str) -> bool {
        described.to_lowercase().contains(&self.text) != self.invert
    }
}

/// The columns the job list sorts by, in the order `o` steps through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobSort {
    Id,
    State,
    Metric,
    Command,
}

impl JobSort {
    pub(crate) fn next(sort: Option<JobSort>) -> JobSort {
        match sort {
            None => JobSort::Id,
            Some(JobSort::Id) => JobSort::State,
            Some(JobSort::State) => JobSort::Metric,
            Some(JobSort::Metric) => JobSort::Command,
            Some(JobSort::Command) => JobSort::Id,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            JobSort::Id => "id",
            JobSort::State => "state",
            JobSort::Metric => "metric",
            JobSort::Command => "command",
        }
    }
}

/// What the filter looks in: a job's state, command, parameters and where it runs.
fn described(row: JobRow<'_>) -> String {
    match row {
        JobRow::Job(job) | JobRow::Trial(job) => {
            let params: Vec<String> = job
                .params
                .iter()
                .flatten()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!(
                "{} {} {} {} {}",
                job.state,
                job.spec.command_text(),
                params.join(" "),
                job.runtime,
                job.node.as_deref().unwrap_or("")
            )
        }
        JobRow::Sweep(sweep) => format!("{} {} {}", sweep.state, shell_words(&sweep.command), sweep.metric),
    }
}

impl App {
    /// The metric worth a column: a trial's sweep metric; else a score the job printed; else
    /// its first metric that is not a line's term (by name: metrics are kept per name).
    pub(crate) fn key_metric(&self, job: &JobRecord) -> Option<&MetricSummary> {
        let metrics = self.metrics.get(&job.id)?;
        if let Some(sweep) = job
            .sweep
            .and_then(|id| self.sweeps.iter().find(|s| s.sweep == id))
        {
            return metrics.iter().find(|m| m.key == sweep.metric);
        }
        SCORES
            .iter()
            .find_map(|score| metrics.iter().find(|m| m.key.eq_ignore_ascii_case(score)))
            .or_else(|| metrics.iter().find(|m| !is_line_term(&m.key)))
            .or_else(|| metrics.first())
    }

    /// `rows` as the filter and sort leave them: a sweep shows when it or one of its trials
    /// matches, a trial when it or its sweep does.
    pub(super) fn filtered_and_sorted<'a>(&'a self, rows: Vec<JobRow<'a>>) -> Vec<JobRow<'a>> {
        // Each block is a top-level row and the trials under it.
        let mut blocks: Vec<Vec<JobRow<'a>>> = Vec::new();
        for row in rows {
            match (row, blocks.last_mut()) {
                (JobRow::Trial(_), Some(block)) => block.push(row),
                _ => blocks.push(vec![row]),
            }
        }
        if let Some(filter) = &self.job_filter {
            blocks = blocks
                .into_iter()
                .filter_map(|block| {
                    let head_matches = filter.keeps(&described(block[0]));
                    let trials = match block[0] {
                        JobRow::Sweep(sweep) => self
                            .jobs
                            .iter()
                            .filter(|j| j.sweep == Some(sweep.sweep))
                            .any(|j| filter.keeps(&described(JobRow::Trial(j)))),
                        _ => false,
                    };
                    if !head_matches && !trials {
                        return None;
                    }
                    let kept: Vec<JobRow<'a>> = block
                        .into_iter()
                        .enumerate()
                        .filter(|(i, row)| *i == 0 || head_matches || filter.keeps(&described(*row)))
                        .map(|(_, row)| row)
                        .collect();
                    Some(kept)
                })
                .collect();
        }
        if let Some((column, descending)) = self.job_sort {
            blocks.sort_by(|a, b| {
                let order = self.compare_rows(column, a[0], b[0]);
                if descending { order.reverse() } else { order }
            });
        }
        blocks.into_iter().flatten().collect()
    }

    fn compare_rows(&self, column: JobSort, a: JobRow<'_>, b: JobRow<'_>) -> std::cmp::Ordering {
        let id = |row: JobRow<'_>| match row {
            JobRow::Job(j) | JobRow::Trial(j) => j.id,
            JobRow::Sweep(s) => s.first_job.unwrap_or(i64::MAX),
        };
        match column {
            JobSort::Id => id(a).cmp(&id(b)),
            JobSort::State => self.state_of(a).cmp(&self.state_of(b)),
            JobSort::Command => self.command_of(a).cmp(&self.command_of(b)),
            // Rows without the metric sort last either way up.
            JobSort::Metric => match (self.metric_of(a), self.metric_of(b)) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            },
        }
    }

    fn state_of(&self, row: JobRow<'_>) -> String {
        match row {
            JobRow::Job(j) | JobRow::Trial(j) => j.state.to_string(),
            JobRow::Sweep(s) => s.state.to_string(),
        }
    }

    fn command_of(&self, row: JobRow<'_>) -> String {
        match row {
            JobRow::Job(j) | JobRow::Trial(j) => j.spec.command_text(),
            JobRow::Sweep(s) => shell_words(&s.command),
        }
    }

    fn metric_of(&self, row: JobRow<'_>) -> Option<f64> {
        match row {
            JobRow::Job(j) | JobRow::Trial(j) => self.key_metric(j).map(|m| m.last),
            JobRow::Sweep(s) => s.best_value,
        }
    }
}
