//! The library's error: each variant prints as one line that names the problem.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user's input is wrong; the message says what to do instead.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("Docker Engine: {0}")]
    Docker(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("store: {0}")]
    Store(#[from] rusqlite::Error),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn at(path: &Path, action: &str) -> impl FnOnce(std::io::Error) -> Error {
        let context = format!("{action} {}", path.display());
        move |source| Error::Io { context, source }
    }
}

impl From<bollard::errors::Error> for Error {
    fn from(err: bollard::errors::Error) -> Self {
        use bollard::errors::Error as B;
        match err {
            B::DockerResponseServerError { message, .. } => Error::Docker(message.trim().to_string()),
            other => Error::Docker(other.to_string().replace('\n', " ")),
        }
    }
}
