//! Upkeep: keeping a machine fit for mlbench. `doctor` checks the config, home, store, disk,
//! engine, runtime image, swarm and terminal, each failure with its fix; `gc` removes what
//! finished jobs left behind.

pub mod doctor;
pub mod gc;
