//! The trainer's and the model file's errors: each prints as one line that says what to fix.

use mlbench_domain::IoError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The data or the options cannot make a model (a text value in a number column, a constant
    /// feature, too few rows); the message says which and what to do.
    #[error("{0}")]
    Invalid(String),
    /// A data set, model or kept version that is not there.
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// A fit the numeric library refused, said in its words.
    #[error("{0}")]
    Fit(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
