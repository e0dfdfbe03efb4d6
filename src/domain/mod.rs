//! Plain data and rules: no tokio, bollard or terminal code lives here.

pub mod job;
pub(crate) mod machine;
pub(crate) mod output;
pub(crate) mod port;
pub(crate) mod project;
mod runtime_kind;
pub mod sweep;

pub use job::{EnvVar, JobKind, JobSpec, JobState, Source};
pub use machine::{Capacity, MachineType};
pub use port::PortMapping;
pub use runtime_kind::RuntimeKind;
