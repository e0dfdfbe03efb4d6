//! Persistent state: projects and jobs in SQLite, and each job's append-only log file.

mod db;
pub(crate) mod logfile;
pub mod logscan;
pub mod logwatch;
mod sweeps;

pub use db::{
    Claim, Code, JobRecord, MetricSummary, ProjectRecord, SCHEMA_VERSION, Store, TrialOf, file_schema_version,
};
pub use sweeps::{SweepRecord, TrialStatus};
