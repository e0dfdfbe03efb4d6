//! Which runtime a job was started on: stored with the job, so it is shared vocabulary.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    Docker,
    Local,
    /// A Docker Swarm: each job a one-replica service, reached through a manager.
    Swarm,
}

impl RuntimeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Docker => "docker",
            RuntimeKind::Local => "local",
            RuntimeKind::Swarm => "swarm",
        }
    }
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RuntimeKind {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        match text {
            "docker" => Ok(RuntimeKind::Docker),
            "local" => Ok(RuntimeKind::Local),
            "swarm" => Ok(RuntimeKind::Swarm),
            other => Err(Error::Invalid(format!(
                "runtime {other:?} is unknown: use docker, swarm or local"
            ))),
        }
    }
}
