//! Each running job's CPU and memory as the worker reads them: the latest reading and a short
//! history of CPU for the details panel's sparkline.

use std::collections::{HashMap, VecDeque};

use mlbench_engine::jobs::usage::JobUsage;

/// Readings kept per job: a sparkline's width.
pub(crate) const HISTORY: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UsageView {
    pub(crate) latest: JobUsage,
    /// Cores used, one value a reading.
    pub(crate) cpus: VecDeque<f64>,
}

/// Adds a round of readings; jobs missing from it have ended and are dropped.
pub(crate) fn record(views: &mut HashMap<i64, UsageView>, round: Vec<JobUsage>) {
    views.retain(|job, _| round.iter().any(|u| u.job == *job));
    for usage in round {
        let cpus = usage.cpus;
        let view = views.entry(usage.job).or_insert_with(|| UsageView {
            latest: usage.clone(),
            cpus: VecDeque::with_capacity(HISTORY),
        });
        view.latest = usage;
        if let Some(cpus) = cpus {
            if view.cpus.len() == HISTORY {
                view.cpus.pop_front();
            }
            view.cpus.push_back(cpus);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn usage(job: i64, cpus: Option<f64>) -> JobUsage {
        JobUsage {
            job,
            project: "p".into(),
            machine: "G1".into(),
            cpus,
            cpu_limit: 1.0,
            memory_bytes: 100 << 20,
            memory_limit: 1741 << 20,
        }
    }

    #[test]
    fn history_is_kept_to_its_width_and_ended_jobs_leave() {
        let mut views = HashMap::new();
        record(&mut views, vec![usage(3, None)]);
        assert!(views[&3].cpus.is_empty(), "a first reading has no rate");
        for i in 0..40 {
            record(&mut views, vec![usage(3, Some(f64::from(i) / 40.0))]);
        }
        assert_eq!(views[&3].cpus.len(), HISTORY);
        assert_eq!(views[&3].latest.cpus, Some(39.0 / 40.0));
        record(&mut views, Vec::new());
        assert!(views.is_empty());
    }
}
