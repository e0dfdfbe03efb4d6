//! What runs inside a job's container: `mlbench train` and `mlbench serve` (and, to come, the
//! gateway and data staging). The user's `mlbench` runs the same commands through
//! [`JobCommand::run`]; the slim binary `mlbench-job`, which the runtime image carries as `mlbench`,
//! offers only them, so it links no terminal, Docker or SQLite code.

mod outcome;
mod serve;
mod train;
mod upkeep;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

pub use outcome::{argument_error, report};
pub use serve::ServeArgs;
pub use train::TrainArgs;
pub use upkeep::{EmptyFolderArgs, OwnFolderArgs, RemovePathsArgs};

/// Why a command inside a job failed; each prints as one line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag's value is wrong; the message says what to give instead.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Ml(#[from] mlbench_ml::Error),
    #[error(transparent)]
    Serve(#[from] mlbench_serve::Error),
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Parser)]
#[command(
    name = "mlbench",
    about = "mlbench inside a job's container: the built-in trainer and the model server (the workbench and its other commands run on the host)"
)]
struct JobCli {
    #[command(subcommand)]
    command: JobCommand,
}

/// A command that runs inside a job's container.
#[derive(Subcommand)]
pub enum JobCommand {
    /// Train a model on a CSV file and write model.json (the built-in trainer, for jobs).
    Train(TrainArgs),
    /// Serve a model over HTTP (the tutorial's routes and Open Inference Protocol v2).
    Serve(ServeArgs),
    /// Remove everything inside a folder, links not followed (mlbench's upkeep runs it in a
    /// helper container, as root, for files a job left that the user may not remove).
    #[command(hide = true)]
    EmptyFolder(EmptyFolderArgs),
    /// Give a folder to UID:GID (mlbench runs it in a helper container, as root, on a new
    /// volume whose jobs run as the user).
    #[command(hide = true)]
    OwnFolder(OwnFolderArgs),
    /// Remove files or folders, links not followed (mlbench runs it in a helper container on a
    /// remote engine: a deployment's pin, ended jobs' layers).
    #[command(hide = true)]
    RemovePaths(RemovePathsArgs),
}

/// The slim binary: parses its arguments and runs the one command, each error one line and a
/// non-zero exit. `version` is the binary's version line (`mlbench --version`).
pub fn main(version: &'static str) -> ExitCode {
    mlbench_domain::version::announce(version);
    let parsed = JobCli::command()
        .version(version)
        .try_get_matches()
        .and_then(|matches| JobCli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(err) => return argument_error(&err),
    };
    cli.command.run()
}

impl JobCommand {
    /// Runs the command to its end (the server until the process is stopped); its error is one
    /// line and a non-zero exit.
    pub fn run(self) -> ExitCode {
        match self {
            JobCommand::Train(args) => report(train::train(args).map(|()| ExitCode::SUCCESS)),
            JobCommand::EmptyFolder(args) => report(upkeep::empty_folder(&args).map(|()| ExitCode::SUCCESS)),
            JobCommand::OwnFolder(args) => report(upkeep::own_folder(&args).map(|()| ExitCode::SUCCESS)),
            JobCommand::RemovePaths(args) => report(upkeep::remove_paths(&args).map(|()| ExitCode::SUCCESS)),

            JobCommand::Serve(args) => {
                // The model server wants every core.
                let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        eprintln!("mlbench: cannot start the async runtime: {err}");
                        return ExitCode::FAILURE;
                    }
                };
                report(runtime.block_on(serve::serve(args)).map(|()| ExitCode::SUCCESS))
            }
        }
    }
}
