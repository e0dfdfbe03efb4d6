/// `mlbench --version`: the package version and the commit it was built from (`-dirty` when the
/// tree had uncommitted changes, `unknown` outside a git checkout). Both binaries say the same.
pub(crate) const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("MLBENCH_COMMIT"), ")");
