//! `mlbench`: the workbench and every command, on the user's machine. The layers below are the
//! workspace's crates; this binary is their command line.

mod cli;
mod version;

// The CLI is a face of the engine: its commands end with the engine's errors.
use mlbench_engine::{Error, Result};
use version::VERSION;

fn main() -> std::process::ExitCode {
    cli::main()
}
