//! The model server's errors: each prints as one line that says what to fix.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An address, port or option the server cannot use; the message says which.
    #[error("{0}")]
    Invalid(String),
    /// The model cannot be loaded.
    #[error(transparent)]
    Model(#[from] mlbench_ml::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
