//! Plain data and rules: no tokio, bollard or terminal code lives here.

pub mod job;
pub mod machine;
pub mod output;
pub mod port;
pub mod project;
mod runtime_kind;

pub use job::{EnvVar, JobKind, JobSpec, JobState, Source};
pub use machine::{Capacity, MachineType};
pub use port::PortMapping;
pub use runtime_kind::RuntimeKind;
