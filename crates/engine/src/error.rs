//! The engine's errors, which both faces show: each prints as one line that names the problem and
//! what to do. A lower crate's error passes through unchanged (its variants stay matchable); the
//! engine adds the refusals of its use cases and the facts a face acts on: which input field a
//! refusal is about (the workbench reopens its form there), and an engine that does not answer.

use mlbench_domain::{IoError, PortInUse};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user's input is wrong; the message says what to do instead.
    #[error("{0}")]
    Invalid(String),
    /// One input field (a form field, a flag) is wrong: `field` names it.
    #[error("{source}")]
    Field { field: &'static str, source: Box<Error> },
    /// A project, job, deployment or file that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A host port a job would publish is taken.
    #[error(transparent)]
    PortInUse(#[from] PortInUse),
    /// No Docker Engine answered where one was needed.
    #[error("no Docker Engine answered at {address} ({reason}): start Docker")]
    DockerUnavailable { address: String, reason: String },
    #[error(transparent)]
    Io(#[from] IoError),
    /// A disk mlbench writes to is full; the message names it and what to do.
    #[error("{0}")]
    DiskFull(String),
    /// A step of a use case that failed in a way no input explains; says which.
    #[error("{0}")]
    Other(String),
    #[error(transparent)]
    Domain(#[from] mlbench_domain::Error),
    #[error(transparent)]
    Ml(#[from] mlbench_ml::Error),
    #[error(transparent)]
    Plot(#[from] mlbench_plot::Error),
    #[error(transparent)]
    Config(#[from] mlbench_config::Error),
    #[error(transparent)]
    Store(#[from] mlbench_store::Error),
    #[error(transparent)]
    Runtime(#[from] mlbench_runtime::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether this failed because a disk is full: a write refused with ENOSPC or EDQUOT, or a
    /// store SQLite found full, however deep in the chain of causes.
    pub fn is_disk_full(&self) -> bool {
        match self {
            Error::DiskFull(_) => true,
            Error::Store(store) => store.is_disk_full() || disk_full_in(store),
            other => disk_full_in(other),
        }
    }

    /// Says which input field `source` is about.
    pub fn field(field: &'static str, source: impl Into<Error>) -> Error {
        Error::Field {
            field,
            source: Box::new(source.into()),
        }
    }

    /// The input field this error is about, if it is about one. A host port that is taken is
    /// always about the ports, whoever found it.
    pub fn field_name(&self) -> Option<&'static str> {
        match self {
            Error::Field { field, .. } => Some(field),
            Error::PortInUse(_) | Error::Store(mlbench_store::Error::PortInUse(_)) => Some("ports"),
            _ => None,
        }
    }
}

/// Whether `err` or one of its causes is a full disk. An `io::Error` made from another error
/// hides it from `source()`, so its inner error is looked into too.
fn disk_full_in(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && (io.kind() == std::io::ErrorKind::StorageFull
                || io.kind() == std::io::ErrorKind::QuotaExceeded
                || io.get_ref().is_some_and(|inner| disk_full_in(inner)))
        {
            return true;
        }
        if err
            .downcast_ref::<mlbench_store::Error>()
            .is_some_and(mlbench_store::Error::is_disk_full)
        {
            return true;
        }
        next = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_error_prints_its_cause_and_names_the_field() {
        let err = Error::field("ports", Error::Invalid("host port 0 is out of range".into()));
        assert_eq!(err.to_string(), "host port 0 is out of range");
        assert_eq!(err.field_name(), Some("ports"));
        assert_eq!(Error::Other("x".into()).field_name(), None);
    }

    #[test]
    fn a_port_the_store_finds_taken_is_about_the_ports() {
        let taken = mlbench_domain::PortInUse {
            ip: std::net::IpAddr::from([127, 0, 0, 1]),
            port: 8080,
            holder: Some("job 2".into()),
            source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
        };
        let err = Error::from(mlbench_store::Error::from(taken));
        assert_eq!(err.field_name(), Some("ports"));
        assert!(err.to_string().contains("held by job 2"), "{err}");
    }
}
