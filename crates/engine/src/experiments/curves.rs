//! Metric curves: each series of a job against its step, or one metric of every trial of a
//! sweep overlaid with the best trial marked. The workbench draws them; `e` writes a PNG.

use std::collections::BTreeMap;
use std::path::Path;

use mlbench_store::Store;

use crate::experiments::compare::compare;
use crate::{Error, Result};

/// Whose curves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurvesOf {
    Job(i64),
    Sweep(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    pub label: String,
    /// (step, value), in step order.
    pub points: Vec<(f64, f64)>,
    pub best: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Curves {
    pub of: CurvesOf,
    pub title: String,
    /// The metrics that have curves; a sweep's own metric first.
    pub metrics: Vec<String>,
    pub curves: BTreeMap<String, Vec<Curve>>,
    /// Metrics drawn against a swept parameter (its name) rather than their step: a sweep
    /// whose trials print the metric once.
    pub against: BTreeMap<String, String>,
}

impl Curves {
    /// What `metric`'s x axis is: its step, or the swept parameter.
    pub fn x_name(&self, metric: &str) -> &str {
        self.against.get(metric).map_or("step", String::as_str)
    }
}

/// A sweep's metrics printed once per trial, each as one curve against the first parameter
/// whose values are all numbers and differ (the plot an MLflow user expects), the best trial
/// as a marked point of its own.
fn against_parameter(
    comparison: &crate::experiments::compare::Comparison,
    finals: &BTreeMap<String, Vec<(i64, f64)>>,
) -> Option<(String, BTreeMap<String, Vec<Curve>>)> {
    let trials: Vec<_> = comparison.trials.iter().filter(|t| t.job.is_some()).collect();
    let first = trials.first()?;
    let parameter = first.params.keys().find(|name| {
        let values: Vec<Option<f64>> = trials.iter().map(|t| t.params.get(*name)?.parse().ok()).collect();
        values.iter().all(Option::is_some) && values.windows(2).any(|w| w[0] != w[1])
    })?;
    let x_of = |job: i64| -> Option<f64> {
        trials
            .iter()
            .find(|t| t.job == Some(job))
            .and_then(|t| t.params.get(parameter)?.parse().ok())
    };
    let mut curves = BTreeMap::new();
    for (metric, values) in finals {
        let mut points: Vec<(f64, f64)> = values
            .iter()
            .filter_map(|&(job, v)| Some((x_of(job)?, v)))
            .collect();
        if points.len() < 2 {
            continue;
        }
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut drawn = vec![Curve {
            label: format!("{metric} by {parameter}"),
            points,
            best: false,
        }];
        if let Some(best) = comparison.best
            && let Some(&(_, v)) = values.iter().find(|(job, _)| *job == best)
            && let Some(x) = x_of(best)
        {
            drawn.push(Curve {
                label: format!("best: job {best}"),
                points: vec![(x, v)],
                best: true,
            });
        }
        curves.insert(metric.clone(), drawn);
    }
    (!curves.is_empty()).then(|| (parameter.clone(), curves))
}

/// Points beyond this per curve are thinned evenly: a terminal has far fewer columns.
const MAX_POINTS: usize = 2_000;

fn thin(points: &[(i64, f64)]) -> Vec<(f64, f64)> {
    let stride = points.len().div_ceil(MAX_POINTS).max(1);
    let mut thinned: Vec<(f64, f64)> = points
        .iter()
        .step_by(stride)
        .map(|(s, v)| (*s as f64, *v))
        .collect();
    // The last point always shows: it is where the run is now.
    if let Some(&(s, v)) = points.last()
        && thinned.last() != Some(&(s as f64, v))
    {
        thinned.push((s as f64, v));
    }
    thinned
}

impl Curves {
    pub fn load(store: &Store, of: CurvesOf) -> Result<Curves> {
        let mut curves: BTreeMap<String, Vec<Curve>> = BTreeMap::new();
        let mut against = BTreeMap::new();
        let (title, first) = match of {
            CurvesOf::Job(job) => {
                for (key, series) in store.job_series(job)? {
                    curves.entry(key).or_default().push(Curve {
                        label: format!("job {job}"),
                        points: thin(&series),
                        best: false,
                    });
                }
                (format!("metrics of job {job}"), None)
            }
            CurvesOf::Sweep(sweep) => {
                let comparison = compare(store, sweep, false)?;
                // Each trial's last value of each metric, for metrics printed once.
                let mut finals: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
                for trial in &comparison.trials {
                    let Some(job) = trial.job else { continue };
                    let params: Vec<String> = trial.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    for (key, series) in store.job_series(job)? {
                        if let Some(&(_, last)) = series.last() {
                            finals.entry(key.clone()).or_default().push((job, last));
                        }
                        curves.entry(key).or_default().push(Curve {
                            label: format!("{job}: {}", params.join(" ")),
                            points: thin(&series),
                            best: comparison.best == Some(job),
                        });
                    }
                }
                // A metric no trial printed more than once is drawn against the parameter.
                finals.retain(|metric, _| {
                    curves
                        .get(metric)
                        .is_some_and(|c| c.iter().all(|c| c.points.len() <= 1))
                });
                if let Some((parameter, by_parameter)) = against_parameter(&comparison, &finals) {
                    for (metric, drawn) in by_parameter {
                        against.insert(metric.clone(), parameter.clone());
                        curves.insert(metric, drawn);
                    }
                }
                (
                    format!("sweep {sweep}: {}", comparison.metric),
                    Some(comparison.metric),
                )
            }
        };
        // A series of one point is a number, not a curve.
        curves.retain(|metric, c| against.contains_key(metric) || c.iter().any(|c| c.points.len() > 1));
        if curves.is_empty() {
            return Err(Error::NotFound(
                "no metric series to draw: the code printed no metric more than once".into(),
            ));
        }
        let mut metrics: Vec<String> = curves.keys().cloned().collect();
        if let Some(pos) = first.and_then(|m| metrics.iter().position(|k| *k == m)) {
            let own = metrics.remove(pos);
            metrics.insert(0, own);
        }
        Ok(Curves {
            of,
            title,
            metrics,
            curves,
            against,
        })
    }

    /// Writes the curves of `metric` as PNG.
    pub fn write_png(&self, metric: &str, path: &Path) -> Result<()> {
        let curves = self.curves.get(metric).map_or(&[][..], Vec::as_slice);
        let drawn: Vec<mlbench_plot::Curve> = curves
            .iter()
            .map(|c| mlbench_plot::Curve {
                label: &c.label,
                points: &c.points,
                best: c.best,
            })
            .collect();
        Ok(mlbench_plot::write_curves_png(
            &self.title,
            (self.x_name(metric), metric),
            &drawn,
            path,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiments::compare::{Comparison, TrialRow};
    use mlbench_domain::sweep::Goal;

    #[test]
    fn a_metric_printed_once_per_trial_is_drawn_against_the_swept_parameter() {
        let trial = |job: i64, depth: &str, seed: &str| TrialRow {
            point: job as usize,
            job: Some(job),
            params: [
                ("max_depth".to_string(), depth.to_string()),
                ("seed".to_string(), seed.to_string()),
            ]
            .into(),
            state: "succeeded".into(),
            metrics: BTreeMap::new(),
            last: None,
            best: None,
            duration_secs: None,
        };
        let comparison = Comparison {
            sweep: 1,
            metric: "Accuracy".into(),
            goal: Goal::Maximize,
            best: Some(12),
            params: vec![],
            other_metrics: vec![],
            // The seed is the same everywhere: the depth is what was swept.
            trials: vec![trial(10, "3", "7"), trial(11, "1", "7"), trial(12, "2", "7")],
        };
        let finals = BTreeMap::from([("Accuracy".to_string(), vec![(10, 0.93), (11, 0.6), (12, 0.96)])]);
        let (parameter, curves) = against_parameter(&comparison, &finals).unwrap();
        assert_eq!(parameter, "max_depth");
        let drawn = &curves["Accuracy"];
        assert_eq!(
            drawn[0].points,
            [(1.0, 0.6), (2.0, 0.96), (3.0, 0.93)],
            "in the parameter's order"
        );
        assert_eq!(
            (drawn[1].points.as_slice(), drawn[1].best),
            (&[(2.0, 0.96)][..], true)
        );
        // Nothing numeric that varies: nothing to draw against.
        let mut words = comparison.clone();
        for t in &mut words.trials {
            t.params.remove("max_depth");
        }
        assert!(against_parameter(&words, &finals).is_none());
    }

    #[test]
    fn long_series_are_thinned_but_keep_their_last_point() {
        let series: Vec<(i64, f64)> = (0..10_001).map(|i| (i, i as f64)).collect();
        let thinned = thin(&series);
        assert!(thinned.len() <= MAX_POINTS + 1, "{}", thinned.len());
        assert_eq!(thinned.last(), Some(&(10_000.0, 10_000.0)));
        assert_eq!(thin(&series[..3]).len(), 3);
    }
}
