//! Upkeep: keeping a machine fit for mlbench. `doctor` checks the config, home, store, disk,
//! engine, runtime image, swarm and terminal, each failure with its fix; `gc` removes what
//! finished jobs left behind.

pub mod doctor;
pub mod gc;

/// When the home's disk is full, the line that says running jobs' logs wait for room.
pub fn full_disk(engine: &crate::Engine) -> Option<String> {
    crate::disk::full(engine.home.root(), "running jobs' logs wait for room").map(|e| e.to_string())
}
