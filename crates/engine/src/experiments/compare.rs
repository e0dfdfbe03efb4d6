//! Comparing a sweep's trials: one row per point with the parameters that vary (constant ones
//! hidden unless asked for), the sweep's metric (last, and best for the goal), the other
//! metrics, state and duration; the best trial marked. The CLI prints it, the workbench draws it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use mlbench_domain::sweep::{Goal, Params};
use mlbench_store::{MetricSummary, Store, SweepRecord, TrialStatus};
use serde::Serialize;

use crate::{Error, Result};

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub sweep: i64,
    pub metric: String,
    pub goal: Goal,
    /// The job of the best trial.
    pub best: Option<i64>,
    /// The parameter columns shown: those that vary, or all with `all_columns`.
    #[serde(skip)]
    pub params: Vec<String>,
    /// Metrics other than the sweep's, in name order.
    #[serde(skip)]
    pub other_metrics: Vec<String>,
    pub trials: Vec<TrialRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrialRow {
    pub point: usize,
    pub job: Option<i64>,
    pub params: Params,
    /// The job's state, or `pending` before its first start.
    pub state: String,
    /// The last value of each metric the trial printed.
    pub metrics: BTreeMap<String, f64>,
    /// The sweep's metric: its last value, and its best for the goal.
    pub last: Option<f64>,
    pub best: Option<f64>,
    pub duration_secs: Option<i64>,
}

/// The fixed columns around the parameters and other metrics.
const JOB: &str = "job";
const LAST: &str = "last";
const BEST: &str = "best";
const STATE: &str = "state";
const DURATION: &str = "duration";

impl Comparison {
    pub(crate) fn build(
        sweep: &SweepRecord,
        trials: Vec<TrialStatus>,
        summaries: &HashMap<i64, Vec<MetricSummary>>,
        all_columns: bool,
    ) -> Comparison {
        let spec = &sweep.spec;
        let names: Vec<String> = spec.space.names().iter().map(ToString::to_string).collect();
        let params = names
            .into_iter()
            .filter(|name| {
                all_columns || {
                    let mut values = trials.iter().map(|t| t.params.get(name));
                    let first = values.next().flatten();
                    values.any(|v| v != first)
                }
            })
            .collect();
        let mut other_metrics = BTreeSet::new();
        let rows: Vec<TrialRow> = trials
            .into_iter()
            .map(|trial| {
                let series = trial
                    .job
                    .and_then(|j| summaries.get(&j))
                    .map_or(&[][..], Vec::as_slice);
                let mut metrics = BTreeMap::new();
                let (mut last, mut best) = (None, None);
                for s in series {
                    metrics.insert(s.key.clone(), s.last);
                    if s.key == spec.metric {
                        last = Some(s.last);
                        best = Some(match spec.goal {
                            Goal::Minimize => s.min,
                            Goal::Maximize => s.max,
                        });
                    } else {
                        other_metrics.insert(s.key.clone());
                    }
                }
                TrialRow {
                    point: trial.point,
                    job: trial.job,
                    params: trial.params,
                    state: trial
                        .state
                        .map_or_else(|| "pending".to_string(), |s| s.to_string()),
                    metrics,
                    last,
                    best,
                    duration_secs: trial
                        .started_at
                        .as_deref()
                        .and_then(|s| mlbench_domain::timefmt::secs_between(s, trial.finished_at.as_deref())),
                }
            })
            .collect();
        let best = rows
            .iter()
            .filter_map(|r| Some((r.job?, r.best?)))
            .filter(|(_, v)| v.is_finite())
            .reduce(|a, b| if spec.goal.better(b.1, a.1) { b } else { a })
            .map(|(job, _)| job);
        Comparison {
            sweep: sweep.id,
            metric: spec.metric.clone(),
            goal: spec.goal,
            best,
            params,
            other_metrics: other_metrics.into_iter().collect(),
            trials: rows,
        }
    }

    /// Every column in display order: job, the parameters, the metric (last, best), the
    /// other metrics, state, duration.
    pub fn columns(&self) -> Vec<String> {
        let mut columns = vec![JOB.to_string()];
        columns.extend(self.params.iter().cloned());
        columns.push(format!("{} {LAST}", self.metric));
        columns.push(format!("{} {BEST}", self.metric));
        columns.extend(self.other_metrics.iter().cloned());
        columns.push(STATE.into());
        columns.push(DURATION.into());
        columns
    }

    /// Sorts the rows by `column` (a name [`Comparison::columns`] gives, or a parameter or
    /// metric name); rows without a value go last.
    pub fn sort_by(&mut self, column: &str, descending: bool) -> Result<()> {
        let key = self.sort_key(column)?;
        self.trials.sort_by(|a, b| {
            let (ka, kb) = (key(a), key(b));
            match (&ka, &kb) {
                (SortKey::Missing, SortKey::Missing) => a.point.cmp(&b.point),
                (SortKey::Missing, _) => std::cmp::Ordering::Greater,
                (_, SortKey::Missing) => std::cmp::Ordering::Less,
                _ => {
                    let order = ka.cmp(&kb).then(a.point.cmp(&b.point));
                    if descending { order.reverse() } else { order }
                }
            }
        });
        Ok(())
    }

    fn sort_key(&self, column: &str) -> Result<RowKey> {
        let metric_last = format!("{} {LAST}", self.metric);
        let metric_best = format!("{} {BEST}", self.metric);
        let column = column.trim();
        Ok(if column == JOB || column == "point" {
            Box::new(|r: &TrialRow| SortKey::Number(r.point as f64))
        } else if column == metric_last || column == self.metric || column == LAST {
            Box::new(|r: &TrialRow| SortKey::of(r.last))
        } else if column == metric_best || column == BEST {
            Box::new(|r: &TrialRow| SortKey::of(r.best))
        } else if column == STATE {
            Box::new(|r: &TrialRow| SortKey::Text(r.state.clone()))
        } else if column == DURATION {
            Box::new(|r: &TrialRow| SortKey::of(r.duration_secs.map(|d| d as f64)))
        } else if self.params.iter().any(|p| p == column)
            || self.trials.iter().any(|t| t.params.contains_key(column))
        {
            let name = column.to_string();
            Box::new(move |r: &TrialRow| match r.params.get(&name) {
                None => SortKey::Missing,
                Some(v) => v
                    .parse::<f64>()
                    .map_or_else(|_| SortKey::Text(v.clone()), SortKey::Number),
            })
        } else if self.other_metrics.iter().any(|m| m == column) {
            let name = column.to_string();
            Box::new(move |r: &TrialRow| SortKey::of(r.metrics.get(&name).copied()))
        } else {
            return Err(Error::Invalid(format!(
                "the comparison has no column {column:?}: sort by one of {}",
                self.columns().join(", ")
            )));
        })
    }

    /// The text of `column` in `row`, as a table shows it.
    pub fn cell(&self, row: &TrialRow, column: &str) -> String {
        let number = |v: Option<f64>| v.map_or_else(|| "-".into(), mlbench_domain::numfmt::compact);
        match column {
            JOB => match row.job {
                Some(job) if Some(job) == self.best => format!("★ {job}"),
                Some(job) => job.to_string(),
                None => "-".into(),
            },
            STATE => row.state.clone(),
            DURATION => row
                .duration_secs
                .map_or_else(|| "-".into(), mlbench_domain::timefmt::short_duration),
            c if c == format!("{} {LAST}", self.metric) => number(row.last),
            c if c == format!("{} {BEST}", self.metric) => number(row.best),
            c => match row.params.get(c) {
                Some(v) => v.clone(),
                None => number(row.metrics.get(c).copied()),
            },
        }
    }
}

/// What a row is sorted by, for one column.
type RowKey = Box<dyn Fn(&TrialRow) -> SortKey>;

#[derive(PartialEq, PartialOrd)]
enum SortKey {
    Number(f64),
    Text(String),
    Missing,
}

impl SortKey {
    fn of(value: Option<f64>) -> SortKey {
        value
            .filter(|v| !v.is_nan())
            .map_or(SortKey::Missing, SortKey::Number)
    }

    fn cmp(&self, other: &SortKey) -> std::cmp::Ordering {
        self.partial_cmp(other).unwrap_or(std::cmp::Ordering::Equal)
    }
}

/// The comparison of a sweep's trials, sorted by point.
pub fn compare(store: &Store, sweep: i64, all_columns: bool) -> Result<Comparison> {
    let record = store.sweep(sweep)?;
    let trials = store.trial_statuses(sweep)?;
    let jobs = trials.iter().filter_map(|t| t.job);
    let summaries = match (jobs.clone().min(), jobs.max()) {
        (Some(first), Some(last)) => store.metric_stats_from(first, last)?,
        _ => HashMap::new(),
    };
    Ok(Comparison::build(&record, trials, &summaries, all_columns))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlbench_domain::sweep::{GridAxis, Space, SweepSpec};
    use mlbench_domain::{JobKind, JobSpec, JobState, RuntimeKind, Source};

    fn sweep() -> SweepRecord {
        let axes: Vec<GridAxis> = ["depth=1..3", "criterion=gini"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        SweepRecord {
            id: 1,
            spec: SweepSpec {
                base: JobSpec {
                    kind: JobKind::Training,
                    deployment: None,
                    storage_read_only: false,
                    project: "iris".into(),
                    machine: "C4".into(),
                    image: "img".into(),
                    build_dockerfile: None,
                    source: Source::Folder { path: ".".into() },
                    command: vec!["train".into(), "{depth}".into(), "{criterion}".into()],
                    env: vec![],
                    ports: vec![],
                    placement: Vec::new(),
                    engine: mlbench_domain::LOCAL_ENGINE.into(),
                },
                space: Space::Grid { axes },
                metric: "Accuracy".into(),
                goal: Goal::Maximize,
                parallel: None,
                early_stop: None,
            },
            runtime: RuntimeKind::Docker,
            created_at: "2026-11-24T00:00:00.000Z".into(),
            finished_at: None,
            stop_requested: false,
            detail: None,
        }
    }

    fn trial(point: usize, depth: &str, job: Option<(i64, JobState)>) -> TrialStatus {
        TrialStatus {
            point,
            params: [
                ("depth".to_string(), depth.to_string()),
                ("criterion".to_string(), "gini".to_string()),
            ]
            .into(),
            job: job.map(|(id, _)| id),
            state: job.map(|(_, state)| state),
            started_at: job.map(|_| "2026-11-24T00:00:00.000Z".into()),
            finished_at: job.map(|_| "2026-11-24T00:01:30.000Z".into()),
        }
    }

    fn summary(key: &str, last: f64, min: f64, max: f64) -> MetricSummary {
        MetricSummary {
            key: key.into(),
            last,
            min,
            max,
            count: 2,
            shape: vec![],
        }
    }

    fn comparison(all_columns: bool) -> Comparison {
        let trials = vec![
            trial(0, "1", Some((10, JobState::Succeeded))),
            trial(1, "2", Some((11, JobState::Pruned))),
            trial(2, "3", None),
        ];
        let summaries = HashMap::from([
            (
                10,
                vec![
                    summary("Accuracy", 0.9, 0.5, 0.9),
                    summary("nodes", 3.0, 3.0, 3.0),
                ],
            ),
            (11, vec![summary("Accuracy", 0.6, 0.6, 0.95)]),
        ]);
        Comparison::build(&sweep(), trials, &summaries, all_columns)
    }

    #[test]
    fn only_varying_parameters_show_unless_all_are_asked_for() {
        let c = comparison(false);
        assert_eq!(
            c.columns(),
            [
                "job",
                "depth",
                "Accuracy last",
                "Accuracy best",
                "nodes",
                "state",
                "duration"
            ]
        );
        assert_eq!(comparison(true).params, ["depth", "criterion"]);
    }

    #[test]
    fn the_best_is_marked_by_the_goal_and_missing_values_show_as_dashes() {
        let c = comparison(false);
        // Job 11's best (0.95) beats job 10's, though its last value is lower.
        assert_eq!(c.best, Some(11));
        let cells = |row: &TrialRow| c.columns().iter().map(|col| c.cell(row, col)).collect::<Vec<_>>();
        assert_eq!(
            cells(&c.trials[1]),
            ["★ 11", "2", "0.6", "0.95", "-", "pruned", "1m"]
        );
        assert_eq!(cells(&c.trials[2]), ["-", "3", "-", "-", "-", "pending", "-"]);
    }

    #[test]
    fn rows_sort_by_any_column_with_missing_values_last() {
        let mut c = comparison(false);
        c.sort_by("Accuracy best", true).unwrap();
        let jobs: Vec<_> = c.trials.iter().map(|t| t.job).collect();
        assert_eq!(jobs, [Some(11), Some(10), None]);
        c.sort_by("depth", true).unwrap();
        assert_eq!(c.trials[0].params["depth"], "3");
        c.sort_by("Accuracy best", false).unwrap();
        assert_eq!(c.trials[2].job, None, "missing values go last both ways");
        let err = c.sort_by("colour", false).unwrap_err().to_string();
        assert!(
            err.contains("has no column \"colour\": sort by one of job, depth"),
            "{err}"
        );
    }
}
