//! `mlbench-job`: the slim binary the runtime image carries as `mlbench` (train and serve only).

#[path = "../version.rs"]
mod version;

fn main() -> std::process::ExitCode {
    mlbench_job::main(version::VERSION)
}
