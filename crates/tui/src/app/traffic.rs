//! Each running deployment's traffic as the worker scrapes it: the latest numbers and a short
//! history of requests a second for the details panel's sparkline.

use std::collections::{BTreeMap, HashMap, VecDeque};

use mlbench_engine::serving::stats::ServingRate;

/// Scrapes kept per deployment: a sparkline's width.
pub(crate) const HISTORY: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Traffic {
    pub(crate) latest: ServingRate,
    pub(crate) req_per_s: VecDeque<f64>,
}

/// Adds a round of scrapes; deployments missing from it have stopped and are dropped.
pub(crate) fn record(traffic: &mut HashMap<String, Traffic>, rates: BTreeMap<String, ServingRate>) {
    traffic.retain(|name, _| rates.contains_key(name));
    for (name, rate) in rates {
        let entry = traffic.entry(name).or_insert_with(|| Traffic {
            latest: rate,
            req_per_s: VecDeque::with_capacity(HISTORY),
        });
        entry.latest = rate;
        if entry.req_per_s.len() == HISTORY {
            entry.req_per_s.pop_front();
        }
        entry.req_per_s.push_back(rate.req_per_s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(req_per_s: f64) -> ServingRate {
        ServingRate {
            req_per_s,
            p50_ms: None,
            p99_ms: None,
            errors: 0,
        }
    }

    #[test]
    fn history_is_kept_to_its_width_and_stopped_deployments_leave() {
        let mut traffic = HashMap::new();
        for i in 0..40 {
            record(
                &mut traffic,
                BTreeMap::from([("salary".to_string(), rate(f64::from(i)))]),
            );
        }
        let salary = &traffic["salary"];
        assert_eq!(salary.req_per_s.len(), HISTORY);
        assert_eq!((salary.req_per_s[0], salary.latest.req_per_s), (8.0, 39.0));
        record(&mut traffic, BTreeMap::new());
        assert!(traffic.is_empty());
    }
}
