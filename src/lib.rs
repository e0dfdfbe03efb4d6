//! mlbench: a terminal workbench for machine learning. Jobs run as local Docker containers
//! (or local processes), their output is kept in per-job log files, and state lives in SQLite.

pub mod cli;
pub mod config;
pub mod domain;
pub mod engine;
mod error;
pub mod home;
pub mod keymap;
pub mod ml;
pub mod plot;
pub mod runtime;
pub mod serve;
pub mod store;
pub mod timefmt;
pub mod tui;
pub mod workspace;

pub use error::{Error, Result};
