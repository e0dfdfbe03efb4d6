//! Persistent state: the home (where `$MLBENCH_HOME` keeps everything), projects, jobs, metrics
//! and sweeps in SQLite, and each job's append-only log file.

mod db;
mod error;
pub mod home;
pub mod logfile;
pub mod logscan;
pub mod logwatch;
mod sweeps;

pub use db::{
    Claim, Code, EngineLoad, JobRecord, MetricSummary, ProjectRecord, SCHEMA_VERSION, Store, TrialOf,
    file_schema_version,
};
pub use error::{Error, Result};
pub use home::Home;
pub use sweeps::{SweepRecord, TrialStatus};
