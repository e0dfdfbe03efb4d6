//! What a deployment's servers report on `GET /metrics`, summed over its replicas, and the
//! requests a second, latency percentiles and errors between two such scrapes: the numbers the
//! workbench's serving panel and `mlbench deployments` show.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use mlbench_domain::{JobKind, JobState};
use mlbench_store::JobRecord;
use serde::Serialize;

use crate::serving::client;
use crate::serving::deploy::job_url;

/// Counters read from one or more scrapes of mlbench's server, added up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scrape {
    pub(crate) requests: u64,
    /// Answers with a status of 400 or more.
    pub(crate) errors: u64,
    /// Requests at or under each latency bound in seconds, cumulative; the last bound is +Inf.
    pub(crate) buckets: Vec<(f64, u64)>,
}

impl Scrape {
    /// Reads the counters out of Prometheus text; lines it does not know are passed over.
    pub(crate) fn parse(text: &str) -> Scrape {
        let mut scrape = Scrape::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let count = value as u64;
            if let Some(labels) = series.strip_prefix("mlbench_requests_total{") {
                // Health checks and scrapes (the workbench's own among them) are not traffic.
                if label(labels, "route").is_some_and(mlbench_domain::probes::is_probe) {
                    continue;
                }
                scrape.requests += count;
                let code = label(labels, "code").and_then(|c| c.parse::<u16>().ok());
                // A code outside the server's list is counted as `other`: one it did not expect.
                if code.is_none_or(|c| c >= 400) {
                    scrape.errors += count;
                }
            } else if let Some(labels) = series.strip_prefix("mlbench_request_duration_seconds_bucket{") {
                let bound = match label(labels, "le") {
                    Some("+Inf") => f64::INFINITY,
                    Some(b) => match b.parse::<f64>() {
                        Ok(b) => b,
                        Err(_) => continue,
                    },
                    None => continue,
                };
                scrape.buckets.push((bound, count));
            }
        }
        scrape
    }

    /// Adds another replica's counters (the same server, so the same buckets).
    pub(crate) fn add(&mut self, other: &Scrape) {
        self.requests += other.requests;
        self.errors += other.errors;
        if self.buckets.is_empty() {
            self.buckets.clone_from(&other.buckets);
        } else {
            for ((_, mine), (_, theirs)) in self.buckets.iter_mut().zip(&other.buckets) {
                *mine += theirs;
            }
        }
    }
}

fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    labels
        .trim_end_matches('}')
        .split(',')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix("=\"")?.strip_suffix('"'))
}

/// A deployment's traffic between two scrapes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ServingRate {
    pub req_per_s: f64,
    /// Latency percentiles in milliseconds; none when no request was answered.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Answers of 400 or more in the window.
    pub errors: u64,
}

/// The traffic from `earlier` to `later`, `seconds` apart. A counter that went down (a replica
/// restarted) counts from zero.
pub fn rate(earlier: &Scrape, later: &Scrape, seconds: f64) -> ServingRate {
    let delta = |a: u64, b: u64| if b >= a { b - a } else { b };
    let requests = delta(earlier.requests, later.requests);
    let buckets: Vec<(f64, u64)> = later
        .buckets
        .iter()
        .enumerate()
        .map(|(i, (bound, count))| {
            let before = earlier.buckets.get(i).map_or(0, |(_, c)| *c);
            (*bound, delta(before, *count))
        })
        .collect();
    ServingRate {
        req_per_s: if seconds > 0.0 {
            requests as f64 / seconds
        } else {
            0.0
        },
        p50_ms: quantile(&buckets, 0.5).map(|s| s * 1e3),
        p99_ms: quantile(&buckets, 0.99).map(|s| s * 1e3),
        errors: delta(earlier.errors, later.errors),
    }
}

/// The `q` quantile of a cumulative histogram, interpolated within its bucket as Prometheus'
/// `histogram_quantile` does; in the +Inf bucket, the largest finite bound.
fn quantile(buckets: &[(f64, u64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let (mut lower, mut below) = (0.0, 0);
    for (bound, count) in buckets {
        if *count as f64 >= rank {
            if bound.is_infinite() {
                return Some(lower);
            }
            let inside = (count - below) as f64;
            let fraction = if inside > 0.0 {
                (rank - below as f64) / inside
            } else {
                1.0
            };
            return Some(lower + (bound - lower) * fraction);
        }
        (lower, below) = (*bound, *count);
    }
    Some(lower)
}

/// The live replicas of mlbench's own server, by deployment.
pub fn served_deployments(live: &[JobRecord]) -> BTreeMap<String, Vec<JobRecord>> {
    let mut deployments: BTreeMap<String, Vec<JobRecord>> = BTreeMap::new();
    for job in live {
        if let (JobKind::Serving, JobState::Running, Some(name)) =
            (job.spec.kind, job.state, &job.spec.deployment)
        {
            deployments.entry(name.clone()).or_default().push(job.clone());
        }
    }
    deployments
}

/// The replicas' counters added up; `None` when none answered (a user's own server may have
/// no `/metrics`).
pub fn scrape_replicas<'a>(replicas: &'a [JobRecord]) -> LocalBoxFuture<'a, Option<Scrape>> {
    Box::pin(async move {
        let mut total: Option<Scrape> = None;
        for job in replicas {
            let Some(url) = job_url(job) else {
                continue;
            };
            let url = format!("{url}/metrics");
            let Ok(answer) = client::send(&url, "GET", None, Duration::from_secs(1)).await else {
                continue;
            };
            if answer.status != 200 {
                continue;
            }
            let scrape = Scrape::parse(&answer.body);
            total.get_or_insert_with(Scrape::default).add(&scrape);
        }
        total
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE mlbench_requests_total counter\n\
        mlbench_requests_total{route=\"/sal/{x}\",code=\"200\"} 90\n\
        mlbench_requests_total{route=\"/sal/{x}\",code=\"400\"} 8\n\
        mlbench_requests_total{route=\"other\",code=\"other\"} 2\n\
        mlbench_request_duration_seconds_bucket{le=\"0.001\"} 50\n\
        mlbench_request_duration_seconds_bucket{le=\"0.01\"} 99\n\
        mlbench_request_duration_seconds_bucket{le=\"+Inf\"} 100\n\
        mlbench_request_duration_seconds_count 100\n";

    #[test]
    fn a_scrape_is_read_added_up_and_turned_into_rates_and_percentiles() {
        let one = Scrape::parse(TEXT);
        assert_eq!((one.requests, one.errors), (100, 10));
        assert_eq!(one.buckets, [(0.001, 50), (0.01, 99), (f64::INFINITY, 100)]);
        let mut two = one.clone();
        two.add(&one);
        assert_eq!((two.requests, two.errors, two.buckets[2].1), (200, 20, 200));
        let rate = rate(&Scrape::default(), &one, 2.0);
        assert_eq!(rate.req_per_s, 50.0);
        assert_eq!(rate.errors, 10);
        // Half the requests took at most 1 ms: the median is that bucket's top.
        assert!((rate.p50_ms.unwrap() - 1.0).abs() < 1e-9, "{rate:?}");
        // The 99th is the 99th request, the last one under 10 ms.
        assert!((rate.p99_ms.unwrap() - 10.0).abs() < 1e-9, "{rate:?}");
        let idle = super::rate(&one, &one, 1.0);
        assert_eq!((idle.req_per_s, idle.p50_ms, idle.errors), (0.0, None, 0));
        // A replica that restarted counts from zero again.
        assert_eq!(super::rate(&two, &one, 1.0).req_per_s, 100.0);
    }

    #[test]
    fn health_checks_and_scrapes_are_not_traffic() {
        let watched = format!(
            "{TEXT}mlbench_requests_total{{route=\"/metrics\",code=\"200\"}} 600\n\
             mlbench_requests_total{{route=\"/v2/health/ready\",code=\"503\"}} 3\n\
             mlbench_requests_total{{route=\"/v2/models/{{name}}/ready\",code=\"200\"}} 7\n"
        );
        let scrape = Scrape::parse(&watched);
        assert_eq!((scrape.requests, scrape.errors), (100, 10));
        // An idle deployment scraped once a second reads 0 req/s.
        let later = Scrape::parse(&watched.replace("} 600", "} 660"));
        assert_eq!(rate(&scrape, &later, 60.0).req_per_s, 0.0);
    }
}
