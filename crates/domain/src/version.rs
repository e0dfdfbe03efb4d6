//! Which mlbench is running: its version and the commit it was built from. Only the binaries
//! know the commit (their build script asks git, and a crate lower down would be rebuilt on
//! every edit if it did); each says it once when it starts, and a library that names it in a
//! message (a store written by a newer mlbench) reads it here.

use std::sync::OnceLock;

static RUNNING: OnceLock<&'static str> = OnceLock::new();

/// Records the running binary's version line; the first one said stays.
pub fn announce(version: &'static str) {
    let _ = RUNNING.set(version);
}

/// The running binary's version line, or the package version when no binary said it (a test).
pub fn running() -> &'static str {
    RUNNING.get().copied().unwrap_or(env!("CARGO_PKG_VERSION"))
}
