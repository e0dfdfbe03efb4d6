//! The runtimes' errors: each prints as one line; a missing image and the engine's own answer
//! are kept as facts a caller can act on.

use mlbench_domain::IoError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request this runtime cannot do (an empty command, an overlay without Docker); the
    /// message says what to do instead.
    #[error("{0}")]
    Invalid(String),
    /// A Dockerfile, node or job handle that is not there.
    #[error("{0}")]
    NotFound(String),
    /// The image a job names is not on the engine.
    #[error(
        "image {image} is not present locally: build it with `mlbench images build` or pull it with `mlbench images pull`"
    )]
    ImageMissing { image: String },
    /// The Docker Engine answered with an error (kept whole: its status code says which).
    #[error("Docker Engine: {}", engine_message(.0))]
    Engine(#[from] bollard::errors::Error),
    /// The Docker Engine did something mlbench cannot go on from; says what.
    #[error("Docker Engine: {0}")]
    Docker(String),
    #[error(transparent)]
    Io(#[from] IoError),
    /// A local process or a lock that failed in a way no input explains.
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The engine's own words: its message for an error answer, else what the client saw, on one
/// line.
pub(crate) fn engine_message(err: &bollard::errors::Error) -> String {
    match err {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.trim().to_string(),
        other => {
            // A failure on the client's side (connect, TLS) wraps its cause a few layers deep
            // ("client error (Connect)"): the deepest says what happened.
            let mut cause: &dyn std::error::Error = other;
            while let Some(source) = cause.source() {
                cause = source;
            }
            cause.to_string().replace('\n', " ")
        }
    }
}
