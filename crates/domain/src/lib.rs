//! The lowest layer: plain data and rules (jobs and their states, machine types, ports,
//! projects, sweeps, engines' names and addresses, the output vocabulary), errors every crate shares, and how numbers and
//! times read. No tokio, bollard, SQLite or terminal code lives here, so the slim binary inside
//! containers carries it too.

pub mod controls;
pub mod engine;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod job;
pub mod machine;
pub mod numfmt;
pub mod output;
pub(crate) mod port;
pub mod probes;
pub mod project;
mod runtime_kind;
pub mod sweep;
pub mod timefmt;
pub mod version;

pub use engine::{EngineAddress, LOCAL_ENGINE};
pub use error::{Error, FromIo, IoError, PortInUse};
pub use job::{EnvVar, JobKind, JobSpec, JobState, Source};
pub use machine::{Capacity, MachineType};
pub use port::PortMapping;
pub use runtime_kind::RuntimeKind;
