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
                for trial in &comparison.trials {
                    let Some(job) = trial.job else { continue };
                    let params: Vec<String> = trial.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    for (key, series) in store.job_series(job)? {
                        curves.entry(key).or_default().push(Curve {
                            label: format!("{job}: {}", params.join(" ")),
                            points: thin(&series),
                            best: comparison.best == Some(job),
                        });
                    }
                }
                (
                    format!("sweep {sweep}: {}", comparison.metric),
                    Some(comparison.metric),
                )
            }
        };
        // A series of one point is a number, not a curve.
        curves.retain(|_, c| c.iter().any(|c| c.points.len() > 1));
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
        Ok(mlbench_plot::write_curves_png(&self.title, metric, &drawn, path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_series_are_thinned_but_keep_their_last_point() {
        let series: Vec<(i64, f64)> = (0..10_001).map(|i| (i, i as f64)).collect();
        let thinned = thin(&series);
        assert!(thinned.len() <= MAX_POINTS + 1, "{}", thinned.len());
        assert_eq!(thinned.last(), Some(&(10_000.0, 10_000.0)));
        assert_eq!(thin(&series[..3]).len(), 3);
    }
}
