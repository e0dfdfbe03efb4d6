//! `GET /metrics` in Prometheus text format (0.0.4), hand-written: the counters and the latency
//! histogram are atomics in per-thread shards, so a request costs a few relaxed increments on
//! its own cache lines, not a lock.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::Served;

/// The routes requests are counted by; a path that matches none is `other`.
const ROUTES: [&str; 14] = [
    "/",
    "/sal/{x}",
    "/predict",
    "/metrics",
    "/v2/health/live",
    "/v2/health/ready",
    "/v2/models/{name}",
    "/v2/models/{name}/ready",
    "/v2/models/{name}/infer",
    "/v2/models/{name}/versions/{version}",
    "/v2/models/{name}/versions/{version}/ready",
    "/v2/models/{name}/versions/{version}/infer",
    "/openapi.json",
    "other",
];

/// Which of `ROUTES` only watch the server (see `mlbench_domain::probes`).
static PROBES: std::sync::LazyLock<[bool; ROUTES.len()]> =
    std::sync::LazyLock::new(|| ROUTES.map(mlbench_domain::probes::is_probe));

/// The status codes the server answers with; any other counts as `other`.
const CODES: [&str; 12] = [
    "200", "400", "404", "405", "408", "413", "414", "415", "422", "500", "503", "other",
];

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// One thread's counters. Requests on two cores incrementing the same counters made their
/// cache lines travel between the cores on every request (15 % of the throughput); each
/// thread counts in its own shard, and a scrape adds them up.
#[repr(align(128))]
struct Shard {
    requests: [[AtomicU64; CODES.len()]; ROUTES.len()],
    /// Requests per latency bucket (not cumulative; the last is +Inf).
    latency: [AtomicU64; BUCKETS.len() + 1],
    latency_micros: AtomicU64,
    /// Requests begun; those answered are the sum of `requests`.
    begun: AtomicU64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard {
            requests: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_micros: AtomicU64::new(0),
            begun: AtomicU64::new(0),
        }
    }
}

/// More shards than the server has threads on most machines; threads beyond share.
const SHARDS: usize = 16;

thread_local! {
    /// This thread's shard, handed out in turn.
    static SHARD: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS
    };
}

pub(crate) struct ServeMetrics {
    shards: Box<[Shard; SHARDS]>,
    reloads: AtomicU64,
    refused_reloads: AtomicU64,
    started: Instant,
}

impl Default for ServeMetrics {
    fn default() -> Self {
        ServeMetrics {
            shards: Box::new(std::array::from_fn(|_| Shard::default())),
            reloads: AtomicU64::new(0),
            refused_reloads: AtomicU64::new(0),
            started: Instant::now(),
        }
    }
}

/// The route a path was served by, as an index into `ROUTES` (the last: `other`). Read without
/// allocating: it runs on every request.
fn route_of(path: &str) -> usize {
    let mut parts = path.trim_end_matches('/').split('/').skip(1);
    let mut next = || parts.next();
    match [next(), next(), next(), next(), next(), next(), next()] {
        [None, ..] => 0,
        [Some("sal"), Some(_), None, ..] => 1,
        [Some("predict"), None, ..] => 2,
        [Some("metrics"), None, ..] => 3,
        [Some("v2"), Some("health"), Some("live"), None, ..] => 4,
        [Some("v2"), Some("health"), Some("ready"), None, ..] => 5,
        [Some("v2"), Some("models"), Some(_), None, ..] => 6,
        [Some("v2"), Some("models"), Some(_), Some("ready"), None, ..] => 7,
        [Some("v2"), Some("models"), Some(_), Some("infer"), None, ..] => 8,
        [
            Some("v2"),
            Some("models"),
            Some(_),
            Some("versions"),
            Some(_),
            None,
            _,
        ] => 9,
        [
            Some("v2"),
            Some("models"),
            Some(_),
            Some("versions"),
            Some(_),
            Some("ready"),
            None,
        ] => 10,
        [
            Some("v2"),
            Some("models"),
            Some(_),
            Some("versions"),
            Some(_),
            Some("infer"),
            None,
        ] => 11,
        [Some("openapi.json"), None, ..] => 12,
        _ => ROUTES.len() - 1,
    }
}

fn code_index(status: u16) -> usize {
    match status {
        200 => 0,
        400 => 1,
        404 => 2,
        405 => 3,
        408 => 4,
        413 => 5,
        414 => 6,
        415 => 7,
        422 => 8,
        500 => 9,
        503 => 10,
        _ => CODES.len() - 1,
    }
}

impl ServeMetrics {
    pub(crate) fn reloaded(&self, ok: bool) {
        let counter = if ok { &self.reloads } else { &self.refused_reloads };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn shard(&self) -> &Shard {
        &self.shards[SHARD.with(|s| *s)]
    }

    fn begin(&self) {
        self.shard().begun.fetch_add(1, Ordering::Relaxed);
    }

    fn record(&self, route: usize, status: u16, seconds: f64) {
        let shard = self.shard();
        shard.requests[route][code_index(status)].fetch_add(1, Ordering::Relaxed);
        // Health checks and scrapes are counted above, by route, but are not traffic: their
        // time would pull the percentiles of an idle server's predictions.
        if PROBES[route] {
            return;
        }
        let bucket = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        shard.latency[bucket].fetch_add(1, Ordering::Relaxed);
        shard
            .latency_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// A counter summed over the shards.
    fn total(&self, counter: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|s| counter(s).load(Ordering::Relaxed))
            .sum()
    }

    /// The text a Prometheus scrape reads; `version` is the served model's.
    pub(crate) fn render(&self, model: &str, version: Option<u32>) -> String {
        let mut out = String::with_capacity(4096);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP mlbench_requests_total Requests answered, by route and status code."
        );
        let _ = writeln!(out, "# TYPE mlbench_requests_total counter");
        let mut answered = 0;
        for (r, route) in ROUTES.iter().enumerate() {
            for (c, code) in CODES.iter().enumerate() {
                let count = self.total(|s| &s.requests[r][c]);
                answered += count;
                if count > 0 {
                    let _ = writeln!(
                        out,
                        "mlbench_requests_total{{route=\"{route}\",code=\"{code}\"}} {count}"
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP mlbench_request_duration_seconds Time from a request's arrival to its answer (health checks and scrapes left out)."
        );
        let _ = writeln!(out, "# TYPE mlbench_request_duration_seconds histogram");
        let mut cumulative = 0;
        for (b, bound) in BUCKETS.iter().enumerate() {
            cumulative += self.total(|s| &s.latency[b]);
            let _ = writeln!(
                out,
                "mlbench_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += self.total(|s| &s.latency[BUCKETS.len()]);
        let _ = writeln!(
            out,
            "mlbench_request_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let sum = self.total(|s| &s.latency_micros) as f64 / 1e6;
        let _ = writeln!(out, "mlbench_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "mlbench_request_duration_seconds_count {cumulative}");
        let in_flight = self.total(|s| &s.begun).saturating_sub(answered);
        let gauges = [
            (
                "mlbench_requests_in_flight",
                "Requests being answered now (this scrape included).",
                in_flight.to_string(),
            ),
            (
                "process_resident_memory_bytes",
                "Resident memory of the server process.",
                resident_bytes().to_string(),
            ),
            (
                "process_uptime_seconds",
                "Seconds since the server started.",
                format!("{:.3}", self.started.elapsed().as_secs_f64()),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        }
        let _ = writeln!(
            out,
            "# HELP mlbench_model_reloads_total Model files picked up, or refused (the old model kept serving)."
        );
        let _ = writeln!(out, "# TYPE mlbench_model_reloads_total counter");
        let _ = writeln!(
            out,
            "mlbench_model_reloads_total{{outcome=\"ok\"}} {}",
            load(&self.reloads)
        );
        let _ = writeln!(
            out,
            "mlbench_model_reloads_total{{outcome=\"refused\"}} {}",
            load(&self.refused_reloads)
        );
        let _ = writeln!(out, "# HELP mlbench_model_info The model served.");
        let _ = writeln!(out, "# TYPE mlbench_model_info gauge");
        let version = version.map_or_else(String::new, |n| n.to_string());
        let _ = writeln!(
            out,
            "mlbench_model_info{{name=\"{}\",version=\"{version}\"}} 1",
            model.replace(['"', '\\', '\n'], "_")
        );
        out
    }
}

/// Resident memory from /proc (0 where there is none).
fn resident_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .unwrap_or(0);
    pages * 4096
}

/// A request being counted: begun when it arrived, recorded with its answer's status.
pub(crate) struct RequestTimer {
    route: usize,
    started: Instant,
}

impl ServeMetrics {
    pub(crate) fn start(&self, path: &str) -> RequestTimer {
        self.begin();
        RequestTimer {
            route: route_of(path),
            started: Instant::now(),
        }
    }

    pub(crate) fn finish(&self, timer: RequestTimer, response: &Response) {
        self.record(
            timer.route,
            response.status().as_u16(),
            timer.started.elapsed().as_secs_f64(),
        );
    }
}

pub(crate) async fn scrape(State(served): State<std::sync::Arc<Served>>) -> Response {
    let mut response = served
        .metrics
        .render(&served.name, served.model().version)
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_count_under_their_route_and_codes_under_their_status() {
        assert_eq!(ROUTES[route_of("/sal/25")], "/sal/{x}");
        assert_eq!(
            ROUTES[route_of("/v2/models/salary/infer")],
            "/v2/models/{name}/infer"
        );
        assert_eq!(ROUTES[route_of("/")], "/");
        assert_eq!(ROUTES[route_of("/v2/health/ready")], "/v2/health/ready");
        assert_eq!(
            ROUTES[route_of("/v2/models/salary/ready")],
            "/v2/models/{name}/ready"
        );
        assert_eq!(ROUTES[route_of("/metrics")], "/metrics");
        assert_eq!(ROUTES[route_of("/predict")], "/predict");
        assert_eq!(
            ROUTES[route_of("/v2/models/salary/versions/2/infer")],
            "/v2/models/{name}/versions/{version}/infer"
        );
        assert_eq!(
            ROUTES[route_of("/v2/models/salary/versions/2")],
            "/v2/models/{name}/versions/{version}"
        );
        assert_eq!(ROUTES[route_of("/openapi.json")], "/openapi.json");
        for (i, code) in CODES.iter().enumerate().take(CODES.len() - 1) {
            assert_eq!(code_index(code.parse().unwrap()), i);
        }
        assert_eq!(ROUTES[route_of("/nope/at/all")], "other");
        assert_eq!(CODES[code_index(418)], "other");
        let metrics = ServeMetrics::default();
        metrics.record(route_of("/sal/25"), 200, 0.0003);
        metrics.record(route_of("/sal/x"), 400, 2.0);
        // Watching the server is counted by its route, but stays out of the latencies.
        metrics.record(route_of("/metrics"), 200, 0.5);
        metrics.record(route_of("/v2/health/ready"), 200, 0.5);
        let text = metrics.render("salary", Some(2));
        assert!(
            text.contains("mlbench_requests_total{route=\"/metrics\",code=\"200\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("mlbench_requests_total{route=\"/sal/{x}\",code=\"200\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("mlbench_request_duration_seconds_bucket{le=\"0.0005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("mlbench_request_duration_seconds_bucket{le=\"1\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("mlbench_request_duration_seconds_bucket{le=\"+Inf\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("mlbench_request_duration_seconds_count 2\n"),
            "{text}"
        );
        assert!(
            text.contains("mlbench_model_info{name=\"salary\",version=\"2\"} 1\n"),
            "{text}"
        );
    }
}
