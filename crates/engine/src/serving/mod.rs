//! Serving: a deployment is one serving job per replica, each `mlbench serve` (or a user's own
//! server) behind a port mapping. `deploy` starts, stops, rolls back and forgets deployments and
//! waits until every replica answers; `pins` moves a running deployment between kept versions of
//! its model through the pin file the servers follow; `client` is the model servers' client
//! (`predict`, the workbench's `p`); `stats` reads the servers' `/metrics` into traffic rates.

pub mod client;
pub mod deploy;
pub mod pins;
pub mod stats;
