//! The runtime image that carries the slim binary (`mlbench-job`, train and serve only) against
//! the one that carries the whole `mlbench` (the image before the workspace), both from the
//! static (musl) build, measured in the same run:
//!
//! (a) the image's size (goal: slim ≤ 0.5× whole);
//! (b) a serving job's start: `mlbench deploy` of a trained model, from submit to every replica
//!     answering, median of `BENCH_JOBS` (default 9) per image in two alternating rounds
//!     (goal ≤ 1.0×);
//! (c) a training job's start: `mlbench run -f -- mlbench --version`, submit to end, the same
//!     way (goal ≤ 1.0×);
//! (d) what a remote engine pays to receive the image: `docker save` to a file, the image
//!     removed, `docker load` of the file; median of `BENCH_JOBS` (goal ≤ 1.0×).
//!
//! Run: `cargo build --release --target x86_64-unknown-linux-musl --bin mlbench --bin
//! mlbench-job` first (needs `rustup target add x86_64-unknown-linux-musl` and Debian's
//! musl-tools), then `cargo bench --bench runtime_image` (needs a Docker Engine).
//! `MLBENCH_STATIC_BIN` names another static mlbench (its mlbench-job beside it).

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/docker.rs"]
mod docker;
#[path = "common/port.rs"]
mod port;
#[path = "common/summary.rs"]
mod summary;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use docker::check;
use port::free_port;
use summary::Figure;

fn tag() -> String {
    format!("mlbench/runtime:{}", env!("CARGO_PKG_VERSION"))
}

/// The two images: which binary each carries as `mlbench`, and the home its jobs are run from.
struct Variant {
    name: &'static str,
    /// `MLBENCH_JOB_BIN`: the whole static mlbench for the image before the workspace; none for
    /// the slim one (mlbench-job beside mlbench).
    carries: Option<PathBuf>,
    home: PathBuf,
}

impl Variant {
    fn mlbench(&self, binary: &Path) -> Command {
        let mut cmd = Command::new(binary);
        cmd.env("MLBENCH_HOME", &self.home)
            .env("MLBENCH_CONFIG", self.home.with_extension("toml"))
            .env("MLBENCH_RUNTIME", "docker");
        match &self.carries {
            Some(binary) => cmd.env("MLBENCH_JOB_BIN", binary),
            None => cmd.env_remove("MLBENCH_JOB_BIN"),
        };
        cmd
    }
}

fn image_size() -> u64 {
    check(Command::new("docker").args(["image", "inspect", "--format", "{{.Size}}", &tag()]))
        .trim()
        .parse()
        .unwrap()
}

#[derive(Default)]
struct Times {
    size: u64,
    serving: Vec<Duration>,
    training: Vec<Duration>,
    transfer: Vec<Duration>,
}

/// Builds the variant's image, then times `jobs` serving starts, training starts and image
/// transfers with it.
fn round(variant: &Variant, binary: &Path, repo: &Path, jobs: usize, into: &mut Times) {
    check(
        variant
            .mlbench(binary)
            .args(["images", "build-runtime", "--force"]),
    );
    into.size = image_size();
    for _ in 0..jobs {
        let name = format!("bench-{}", into.serving.len());
        let port = format!("{}:8080", free_port());
        let started = Instant::now();
        check(variant.mlbench(binary).args([
            "deploy",
            "--project",
            "bench",
            "--model",
            "salary",
            "--name",
            &name,
            "--port",
            &port,
        ]));
        into.serving.push(started.elapsed());
        check(
            variant
                .mlbench(binary)
                .args(["deploy", "stop", &name, "--grace", "1"]),
        );
        check(variant.mlbench(binary).args(["deploy", "rm", &name]));

        let started = Instant::now();
        check(variant.mlbench(binary).args([
            "run",
            "--project",
            "bench",
            "--repo",
            repo.to_str().unwrap(),
            "-f",
            "--",
            "mlbench",
            "--version",
        ]));
        into.training.push(started.elapsed());
    }
    // The image goes only once no container of this home holds it.
    let label = mlbench_store::Home::at(variant.home.clone()).unwrap().label();
    let filter = format!("label=mlbench.home={label}");
    while !check(Command::new("docker").args(["ps", "-aq", "--filter", &filter]))
        .trim()
        .is_empty()
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let saved = repo.with_file_name(format!("{}.tar", variant.name));
    for _ in 0..jobs {
        let started = Instant::now();
        check(Command::new("docker").args(["save", "-o", saved.to_str().unwrap(), &tag()]));
        let took_to_save = started.elapsed();
        check(Command::new("docker").args(["image", "rm", &tag()]));
        let started = Instant::now();
        check(Command::new("docker").args(["load", "-i", saved.to_str().unwrap()]));
        into.transfer.push(took_to_save + started.elapsed());
    }
    std::fs::remove_file(&saved).unwrap();
}

fn median(times: &[Duration]) -> Duration {
    let mut times = times.to_vec();
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let built =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/x86_64-unknown-linux-musl/release/mlbench");
    let binary = std::env::var_os("MLBENCH_STATIC_BIN").map_or(built, PathBuf::from);
    let slim = binary.with_file_name("mlbench-job");
    if !binary.is_file() || !slim.is_file() {
        println!(
            "skipped runtime_image: no static mlbench and mlbench-job at {}: cargo build --release --target x86_64-unknown-linux-musl --bin mlbench --bin mlbench-job",
            binary.display()
        );
        return;
    }
    let jobs = std::env::var("BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(9);
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let variants = [
        Variant {
            name: "whole",
            carries: Some(binary.clone()),
            home: dir.path().join("whole"),
        },
        Variant {
            name: "slim",
            carries: None,
            home: dir.path().join("slim"),
        },
    ];
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sal.csv");
    for variant in &variants {
        check(variant.mlbench(&binary).args(["project", "create", "bench"]));
        let model = variant.home.join("projects/bench/storage/salary");
        check(variant.mlbench(&binary).args([
            "train",
            "-i",
            data.to_str().unwrap(),
            "-o",
            model.to_str().unwrap(),
        ]));
    }
    let (mut whole, mut slim_times) = (Times::default(), Times::default());
    for number in 1..=2 {
        round(&variants[0], &binary, &repo, jobs, &mut whole);
        round(&variants[1], &binary, &repo, jobs, &mut slim_times);
        println!("round {number} done");
    }
    let mib = |bytes: u64| format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20));
    let timed = |name: &str, slim: &[Duration], whole: &[Duration]| {
        let (slim, whole) = (median(slim), median(whole));
        Figure::new(
            name,
            ms(slim),
            ms(whole),
            slim.as_secs_f64() / whole.as_secs_f64(),
            summary::Goal::AtMost(1.0),
        )
    };
    let figures = [
        Figure::new(
            "runtime image size, slim (mlbench-job) vs whole mlbench",
            mib(slim_times.size),
            mib(whole.size),
            slim_times.size as f64 / whole.size as f64,
            summary::Goal::AtMost(0.5),
        ),
        timed(
            "serving job start (deploy to ready), slim image vs whole",
            &slim_times.serving,
            &whole.serving,
        ),
        timed(
            "training job start (run -f), slim image vs whole",
            &slim_times.training,
            &whole.training,
        ),
        timed(
            "image to an engine (docker save, then load), slim vs whole",
            &slim_times.transfer,
            &whole.transfer,
        ),
    ];
    for f in &figures {
        println!("{}: {} vs {} ({:.2}×)", f.name, f.value, f.baseline, f.ratio);
    }
    // The next job of the usual build rebuilds the image from its own mlbench-job; the images
    // each forced build untagged go too.
    let _ = Command::new("docker")
        .args(["image", "rm", "-f", &tag()])
        .output();
    let _ = Command::new("docker")
        .args(["image", "prune", "-f", "--filter", "label=mlbench.binary-sha256"])
        .output();
    summary::record("runtime_image", &figures);
}
