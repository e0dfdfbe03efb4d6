//! The store's errors: each prints as one line; the ones a caller acts on carry their facts.

use std::path::PathBuf;

use mlbench_domain::{IoError, PortInUse};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request the store refuses (a project name taken, a job in the wrong state); the
    /// message says what to do.
    #[error("{0}")]
    Invalid(String),
    /// A project, job or sweep that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A host port a new job asks for is claimed by a live job of this home.
    #[error(transparent)]
    PortInUse(#[from] PortInUse),
    /// The store file was written by a newer mlbench: this one would not know its columns.
    #[error(
        "{} was written by a newer mlbench (schema version {found}; this {} knows up to {known}): upgrade mlbench, or set MLBENCH_HOME to another home",
        path.display(),
        mlbench_domain::version::running()
    )]
    NewerSchema {
        path: PathBuf,
        found: usize,
        known: usize,
    },
    /// A name or value the domain refuses (a project name, a state read back).
    #[error(transparent)]
    Domain(#[from] mlbench_domain::Error),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored spec or parameter set that does not read back.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether SQLite refused a write because the disk (or the database's size limit) is full.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Error::Sqlite(err) if err.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull))
    }
}
