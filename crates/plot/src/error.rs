//! The charts' errors: each prints as one line.

use mlbench_domain::IoError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing to draw, or a size that cannot be drawn; the message says which.
    #[error("{0}")]
    Invalid(String),
    /// The drawing library failed.
    #[error("cannot draw the chart: {0}")]
    Drawing(String),
    #[error(transparent)]
    Io(#[from] IoError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
