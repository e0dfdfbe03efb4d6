//! The model server's routes that are not traffic: health checks and scrapes. The server keeps
//! them out of its latency histogram and the serving panel out of its requests a second, so an
//! idle deployment reads 0 req/s however often it is watched.

/// Routes (as `/metrics` labels them) that only watch the server.
pub const PROBE_ROUTES: [&str; 5] = [
    "/metrics",
    "/v2/health/live",
    "/v2/health/ready",
    "/v2/models/{name}/ready",
    "/v2/models/{name}/versions/{version}/ready",
];

/// Whether a request to `route` only watches the server.
pub fn is_probe(route: &str) -> bool {
    PROBE_ROUTES.contains(&route)
}
