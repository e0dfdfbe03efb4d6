//! mlbench: a terminal workbench for machine learning. Jobs run as local Docker containers
//! (or local processes), their output is kept in per-job log files, and state lives in SQLite.
//! Modules are public only where the binary, a test or a bench reaches them.

pub mod cli;
pub mod config;
pub mod domain;
pub mod engine;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod home;
pub(crate) mod keymap;
pub mod ml;
pub(crate) mod numfmt;
pub mod plot;
pub(crate) mod runtime;
pub mod serve;
pub mod store;
pub(crate) mod timefmt;
pub(crate) mod tui;
pub(crate) mod workspace;

pub use error::{Error, Result};

/// `mlbench --version`: the package version and the commit it was built from (`-dirty` when
/// the tree had uncommitted changes, `unknown` outside a git checkout).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("MLBENCH_COMMIT"), ")");
