//! The command line: every workbench action has a twin here, for scripts.

mod doctor;
mod engines;
mod follow;
mod gc;
mod images;
mod jobs;
mod manuals;
mod ml;
mod nodes;
mod project;
mod serving;
mod shown;
mod storage;
mod sweeps;
mod table;
mod usage;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use mlbench_engine::Engine;
use mlbench_job::{JobCommand, argument_error, report};

use crate::Result;

#[derive(Parser)]
#[command(
    name = "mlbench",
    version = crate::VERSION,
    about = "A terminal workbench for machine learning: jobs run as local Docker containers"
)]
pub(crate) struct Cli {
    /// Without a command, the interactive workbench opens.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Projects: the boundary around jobs and their shared /storage.
    Project {
        #[command(subcommand)]
        action: ProjectAction,
    },
    /// List projects.
    Projects {
        #[arg(long)]
        json: bool,
    },
    /// The machine-type catalogue and which types fit this host.
    Machines {
        #[arg(long)]
        json: bool,
    },
    /// The swarm's nodes: state, resources, labels and this home's jobs on each (Swarm only).
    Nodes {
        #[arg(long)]
        json: bool,
    },
    /// The Docker Engines jobs run on: the local one and those the config names, whether each
    /// answers, what it has and holds; `engines add NAME HOST`, `engines rm NAME`.
    Engines {
        #[command(subcommand)]
        action: Option<EnginesAction>,
        #[arg(long)]
        json: bool,
    },
    /// Local images; build, pull, or build mlbench's runtime image.
    Images {
        #[command(subcommand)]
        action: Option<ImagesAction>,
        #[arg(long)]
        json: bool,
        /// The Docker Engine whose images these are (`mlbench engines`).
        #[arg(long, global = true, default_value = "local")]
        engine: String,
    },
    /// Run a job: machine type + image + code + command.
    Run(RunArgs),
    /// List jobs (and pick up jobs left running by an earlier mlbench); `jobs rm JOB…`.
    #[command(args_conflicts_with_subcommands = true)]
    Jobs {
        #[command(subcommand)]
        action: Option<JobsAction>,
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Running jobs' CPU and memory against their machine types' limits (over one second).
    Top {
        #[arg(long)]
        json: bool,
        /// Keep watching: a new reading every second, in place on a terminal (as `docker
        /// stats`), one after another to a pipe (with --json, one JSON array per line).
        #[arg(short, long)]
        watch: bool,
    },
    /// Print a job's output; -f follows it until the job ends.
    Logs {
        job: i64,
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(long, value_name = "N")]
        tail: Option<usize>,
        /// Show each line's time.
        #[arg(short, long)]
        timestamps: bool,
        /// Show mlbench's own notes (queued, started, …) on stderr even when stderr is not a
        /// terminal; without it a file gets exactly the job's own output.
        #[arg(long)]
        notes: bool,
    },
    /// Run a command in a running job (default: the configured shell), this terminal attached.
    Exec {
        job: i64,
        /// The command and its arguments (after `--`).
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Stop a job: SIGTERM, then SIGKILL after the grace period.
    Stop {
        job: i64,
        /// Seconds between SIGTERM and SIGKILL (default from the config, 10).
        #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(..=86_400))]
        grace: Option<u64>,
    },
    /// Train a model on a CSV file and write model.json (the built-in trainer, for jobs).
    Train(mlbench_job::TrainArgs),
    /// A job's metrics, read from its output: last value, min, max and count per series.
    Metrics {
        job: i64,
        #[arg(long)]
        json: bool,
    },
    /// Draw a job's fit as PNG: the data as points, the fitted line, the equation as title.
    Plot(ml::PlotArgs),
    /// Serve a model over HTTP (the tutorial's routes and Open Inference Protocol v2).
    Serve(mlbench_job::ServeArgs),
    /// Start a deployment (a serving job per replica) and wait until it answers; `deploy stop NAME`.
    Deploy(serving::DeployArgs),
    /// List running deployments (`--all`: stopped ones too).
    Deployments {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// List the models in the projects' /storage and the versions kept of each.
    Models {
        #[arg(long)]
        project: Option<String>,
        /// The engine whose storage to look in (`mlbench engines`).
        #[arg(long, default_value = "local")]
        engine: String,
        #[arg(long)]
        json: bool,
    },
    /// Ask a deployment (or any server with POST /predict) for predictions.
    Predict(serving::PredictArgs),
    /// A project's persistent /storage.
    Storage {
        #[command(subcommand)]
        action: StorageAction,
    },
    /// Run a built-in demo: the salary training job (project `salary`), or the iris sweep
    /// (project `iris`, a decision tree over max_depth=1..6).
    Demo {
        #[arg(value_enum, default_value = "salary")]
        which: jobs::DemoName,
        /// Return once submitted instead of following the output.
        #[arg(long)]
        detach: bool,
    },
    /// Run one command over many parameter values (a grid or random draws), each point a
    /// trial job; `sweep resume SWEEP`, `sweep stop SWEEP`.
    #[command(args_conflicts_with_subcommands = true)]
    Sweep(sweeps::SweepArgs),
    /// List sweeps: progress and the best value so far.
    Sweeps {
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Compare a sweep's trials: the parameters that vary, the metrics, state and duration.
    Compare(sweeps::CompareArgs),
    /// Remove finished jobs' logs and workspaces, staging leftovers and replaced runtime
    /// images (never /storage, never a running job); says what it freed.
    Gc {
        /// Only jobs that finished longer ago than this: 30d, 12h, 90m, or 0 for all.
        #[arg(long, value_name = "AGE", default_value = "30d")]
        older_than: String,
        /// Keep failed, OOM-killed and lost jobs' files.
        #[arg(long)]
        keep_failed: bool,
        /// Say what would go; remove nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Check this machine for mlbench: the engine, the runtime image, disk, home, config,
    /// terminal (and a swarm's manager, nodes, registry and storage); exit 0 only when all is well.
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script: `source <(mlbench completions bash)`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages (mlbench.1 and one per command) into a folder.
    Man {
        /// The folder (created if missing), e.g. ~/.local/share/man/man1.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Runs one sweep's trials to the end (started by mlbench itself, detached).
    #[command(name = "__drive-sweep", hide = true)]
    DriveSweep { sweep: i64 },
    /// Follows one job to its end (started by mlbench itself, detached from the terminal).
    #[command(name = "__supervise", hide = true)]
    Supervise {
        job: i64,
        #[arg(long)]
        handover: bool,
    },
}

#[derive(Subcommand)]
enum ProjectAction {
    /// Create a project.
    Create { name: String },
    /// Delete a project: its jobs (none may be running), their logs, and its /storage.
    Rm {
        name: String,
        /// Delete without asking (required: the storage does not come back).
        #[arg(long)]
        yes: bool,
    },
    /// List projects.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum JobsAction {
    /// Delete finished jobs with their logs and workspaces (a running job refuses them all).
    Rm {
        #[arg(required = true)]
        jobs: Vec<i64>,
    },
}

#[derive(Subcommand)]
enum ImagesAction {
    /// Build an image from a Dockerfile in a folder or git repo; output is streamed.
    Build {
        #[arg(long)]
        repo: String,
        #[arg(long = "ref")]
        reference: Option<String>,
        /// Path of the Dockerfile inside the repo.
        #[arg(long, default_value = "Dockerfile")]
        dockerfile: String,
        #[arg(short = 't', long = "tag")]
        tag: String,
    },
    /// Pull an image, with progress.
    Pull { name: String },
    /// Build mlbench/runtime:<version> from mlbench-job, the slim binary beside this one (no
    /// registry needed).
    BuildRuntime {
        /// Build even when the image already holds this binary.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum EnginesAction {
    /// Name an engine in the config: HOST is ssh://[user@]host[:port], tcp://host:port or
    /// unix:///path.
    Add {
        name: String,
        host: String,
        /// An ssh config file to reach it with instead of yours (ssh -F).
        #[arg(long, value_name = "PATH")]
        ssh_config: Option<PathBuf>,
    },
    /// Take an engine out of the config (none of this home's jobs may live there).
    Rm { name: String },
}

#[derive(Subcommand)]
enum StorageAction {
    /// List files under /storage (or a folder in it).
    Ls {
        project: String,
        path: Option<String>,
        /// The engine whose storage to list (`mlbench engines`).
        #[arg(long, default_value = "local")]
        engine: String,
    },
    /// Copy a file or folder out of /storage.
    Get {
        project: String,
        path: String,
        /// Where to put it (default: its name, in the current folder).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// The engine whose storage to copy from (`mlbench engines`).
        #[arg(long, default_value = "local")]
        engine: String,
    },
}

/// What a job runs on and with; `run` and `sweep` share these.
#[derive(Args)]
pub(crate) struct JobArgs {
    /// Machine type (`mlbench machines`); default from the config.
    #[arg(long)]
    machine: Option<String>,
    /// Container image; default mlbench/runtime:<version>.
    #[arg(long)]
    image: Option<String>,
    /// A folder or git URL with the code.
    #[arg(long, default_value = ".")]
    repo: String,
    /// Branch, tag or commit of a git repo.
    #[arg(long = "ref")]
    reference: Option<String>,
    /// KEY=VALUE, repeatable (in a sweep, values may hold {NAME} placeholders).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Swarm: run on this node (its hostname, as `mlbench nodes` lists it).
    #[arg(long)]
    node: Option<String>,
    /// Swarm: a placement constraint such as 'node.labels.gpu==true', repeatable.
    #[arg(long = "constraint", value_name = "EXPR")]
    constraints: Vec<String>,
    /// The Docker Engine to run on: local, a name from `mlbench engines`, auto (where the
    /// machine type fits now), or names with commas.
    #[arg(long, default_value = "local")]
    engine: String,
}

impl JobArgs {
    /// `--node` and `--constraint` as Swarm placement constraints.
    fn placement(&self) -> Vec<String> {
        let node = self.node.iter().map(|n| format!("node.hostname=={n}"));
        node.chain(self.constraints.iter().cloned()).collect()
    }
}

#[derive(Args)]
pub(crate) struct RunArgs {
    #[arg(long)]
    project: String,
    #[command(flatten)]
    job: JobArgs,
    /// Build the image from this Dockerfile in the repo first (tagged with --image).
    #[arg(long)]
    dockerfile: Option<String>,
    /// [HOST_IP:]HOST_PORT:CONTAINER_PORT, repeatable.
    #[arg(long = "port", value_name = "MAPPING")]
    ports: Vec<String>,
    /// Follow the output until the job ends, and exit with its exit code.
    #[arg(short, long)]
    follow: bool,
    /// While following, show mlbench's own notes (an image build, a wait in the queue, where
    /// the job started) even when stderr is not a terminal.
    #[arg(long, requires = "follow")]
    notes: bool,
    /// Copy the repo folder even when it holds more than `max_repo_size`.
    #[arg(long)]
    force: bool,
    /// The command, after `--` (none: the image's own CMD and ENTRYPOINT).
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// Parses the arguments, runs the command and turns any error into one line and exit code 1.
pub(crate) fn main() -> ExitCode {
    mlbench_domain::version::announce(crate::VERSION);
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return argument_error(&err),
    };
    if cli.command.as_ref().is_some_and(prints_a_listing) {
        exit_quietly_on_a_closed_pipe();
    }
    let command = match cli.command {
        // The trainer and the server run inside jobs, where there is no mlbench home to open.
        Some(Command::Train(args)) => return JobCommand::Train(args).run(),
        Some(Command::Serve(args)) => return JobCommand::Serve(args).run(),
        other => other,
    };
    // Everything else waits on I/O, and one thread does.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("mlbench: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match command {
        Some(command) => runtime.block_on(dispatch(command)),
        None => runtime.block_on(mlbench_tui::run()).map(|()| ExitCode::SUCCESS),
    };
    report(outcome)
}

/// Commands whose output is a listing a user may pipe into `head`. The others handle a closed
/// pipe themselves (`logs`, `run -f`) or must outlive one (the server, the supervisor).
fn prints_a_listing(command: &Command) -> bool {
    matches!(
        command,
        Command::Project { .. }
            | Command::Projects { .. }
            | Command::Machines { .. }
            | Command::Nodes { .. }
            | Command::Engines { action: None, .. }
            | Command::Images { action: None, .. }
            | Command::Jobs { .. }
            | Command::Top { .. }
            | Command::Storage { .. }
            | Command::Deployments { .. }
            | Command::Models { .. }
            | Command::Metrics { .. }
            | Command::Predict(_)
            | Command::Sweeps { .. }
            | Command::Compare(_)
            | Command::Completions { .. }
    )
}

/// `mlbench jobs | head` ends like any Unix tool when `head` has enough: quietly, by SIGPIPE.
/// Rust ignores SIGPIPE, which turns the closed pipe into a panic inside `println!`.
#[allow(unsafe_code)] // std has no safe way to restore a signal's default action
fn exit_quietly_on_a_closed_pipe() {
    // SAFETY: called before any other thread exists; setting a signal's disposition to the
    // default touches no memory of ours.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

async fn dispatch(command: Command) -> Result<ExitCode> {
    // Completions and man pages need no home.
    let command = match command {
        Command::Completions { shell } => {
            manuals::completions(shell);
            return Ok(ExitCode::SUCCESS);
        }
        Command::Man { dir } => return manuals::man_pages(&dir).map(|()| ExitCode::SUCCESS),
        // Doctor explains a home or config that cannot be opened instead of failing on it.
        Command::Doctor { json } => return doctor::doctor(json).await,
        other => other,
    };
    let engine = Engine::open()?;
    let ok = Ok(ExitCode::SUCCESS);
    match command {
        Command::Project {
            action: ProjectAction::Create { name },
        } => project::create(&engine, &name).and(ok),
        Command::Project {
            action: ProjectAction::Rm { name, yes },
        } => project::remove(&engine, &name, yes).await.and(ok),
        Command::Project {
            action: ProjectAction::List { json },
        }
        | Command::Projects { json } => project::list(&engine, json).and(ok),
        Command::Machines { json } => project::machines(&engine, json).await.and(ok),
        Command::Nodes { json } => nodes::list(&engine, json).await.and(ok),
        Command::Engines { action: None, json } => engines::list(&engine, json).await.and(ok),
        Command::Engines {
            action:
                Some(EnginesAction::Add {
                    name,
                    host,
                    ssh_config,
                }),
            ..
        } => engines::add(&name, &host, ssh_config.as_deref()).and(ok),
        Command::Engines {
            action: Some(EnginesAction::Rm { name }),
            ..
        } => engines::remove(&engine, &name).and(ok),
        Command::Images {
            action: None,
            json,
            engine: on,
        } => images::list(&engine, &on, json).await.and(ok),
        Command::Images {
            action:
                Some(ImagesAction::Build {
                    repo,
                    reference,
                    dockerfile,
                    tag,
                }),
            engine: on,
            ..
        } => images::build(&engine, &on, &repo, reference, &dockerfile, &tag)
            .await
            .and(ok),
        Command::Images {
            action: Some(ImagesAction::Pull { name }),
            engine: on,
            ..
        } => images::pull(&engine, &on, &name).await.and(ok),
        Command::Images {
            action: Some(ImagesAction::BuildRuntime { force }),
            engine: on,
            ..
        } => images::build_runtime(&engine, &on, force).await.and(ok),
        Command::Run(args) => jobs::run(&engine, args).await,
        Command::Jobs {
            action: Some(JobsAction::Rm { jobs: ids }),
            ..
        } => jobs::remove(&engine, &ids).await.and(ok),
        Command::Jobs {
            action: None,
            project,
            json,
        } => jobs::list(&engine, project.as_deref(), json).and(ok),
        Command::Logs {
            job,
            follow,
            tail,
            timestamps,
            notes,
        } => {
            let printer = follow::LogPrint::notes_for_terminal(timestamps, notes);
            jobs::logs(&engine, job, follow, tail, printer).await.and(ok)
        }
        Command::Stop { job, grace } => jobs::stop(&engine, job, grace).await.and(ok),
        Command::Exec { job, command } => jobs::exec(&engine, job, command).await,
        Command::Top { json, watch } => usage::top(&engine, json, watch).await.and(ok),
        Command::Gc {
            older_than,
            keep_failed,
            dry_run,
            json,
        } => gc::gc(&engine, &older_than, keep_failed, dry_run, json)
            .await
            .and(ok),
        Command::Storage {
            action:
                StorageAction::Ls {
                    project,
                    path,
                    engine: on,
                },
        } => storage::ls(&engine, &project, &on, path.as_deref()).await.and(ok),
        Command::Storage {
            action:
                StorageAction::Get {
                    project,
                    path,
                    output,
                    engine: on,
                },
        } => storage::get(&engine, &project, &on, &path, output).await.and(ok),
        Command::Demo { which, detach } => jobs::demo(&engine, which, detach).await,
        Command::Train(_)
        | Command::Serve(_)
        | Command::Completions { .. }
        | Command::Man { .. }
        | Command::Doctor { .. } => {
            unreachable!("handled above")
        }
        Command::Deploy(args) => serving::deploy(&engine, args).await.and(ok),
        Command::Deployments { all, json } => serving::list(&engine, all, json).await.and(ok),
        Command::Models {
            project,
            engine: on,
            json,
        } => serving::models(&engine, project.as_deref(), &on, json)
            .await
            .and(ok),
        Command::Predict(args) => serving::predict(&engine, args).await.and(ok),
        Command::Metrics { job, json } => ml::metrics(&engine, job, json).and(ok),
        Command::Plot(args) => ml::plot(&engine, args).await.and(ok),
        Command::Sweep(args) => sweeps::sweep(&engine, args).await,
        Command::Sweeps { project, json } => sweeps::list(&engine, project.as_deref(), json).and(ok),
        Command::Compare(args) => sweeps::compare_command(&engine, args).and(ok),
        Command::DriveSweep { sweep } => {
            // Like a supervisor, the driver outlives the terminal it was started from.
            let _ = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
            mlbench_engine::experiments::sweeps::drive(&engine, sweep)
                .await
                .and(ok)
        }
        Command::Supervise { job, handover } => {
            // A supervisor outlives the terminal it was started from: once tokio handles
            // SIGHUP, the signal no longer ends the process (the handler stays for its life).
            let _ = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
            mlbench_engine::jobs::supervisor::supervise(&engine, job, handover)
                .await
                .and(ok)
        }
    }
}
