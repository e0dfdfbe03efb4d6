//! The config's errors: each names the file or key and what to write instead.

use mlbench_domain::IoError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key or value the config refuses; the message names it.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Io(#[from] IoError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
