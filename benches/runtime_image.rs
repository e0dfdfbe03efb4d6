//! The runtime image built from the static (musl) mlbench against the one built from the usual
//! (glibc) build, measured in the same run:
//!
//! (a) the image's size (goal: static ≤ 1.0× usual);
//! (b) a job's start, `mlbench run -f -- mlbench --version` from submit to its end, median of
//!     `BENCH_JOBS` (default 9) per image, in two alternating rounds (goal ≤ 1.0×).
//!
//! Run: `cargo build --release --target x86_64-unknown-linux-musl --bin mlbench` first (needs
//! `rustup target add x86_64-unknown-linux-musl` and Debian's musl-tools), then
//! `cargo bench --bench runtime_image` (needs a Docker Engine). `MLBENCH_STATIC_BIN` names
//! another static binary.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/docker.rs"]
mod docker;
#[path = "common/summary.rs"]
mod summary;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use docker::check;
use summary::Figure;

fn mlbench(binary: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(binary);
    cmd.env("MLBENCH_HOME", home)
        .env("MLBENCH_CONFIG", home.with_extension("toml"))
        .env("MLBENCH_RUNTIME", "docker");
    cmd
}

fn image_size() -> u64 {
    let tag = format!("mlbench/runtime:{}", env!("CARGO_PKG_VERSION"));
    check(Command::new("docker").args(["image", "inspect", "--format", "{{.Size}}", &tag]))
        .trim()
        .parse()
        .unwrap()
}

/// Builds the runtime image from `binary`, then times `jobs` jobs in it; (size, start times).
fn round(binary: &Path, home: &Path, repo: &Path, jobs: usize) -> (u64, Vec<Duration>) {
    check(mlbench(binary, home).args(["images", "build-runtime", "--force"]));
    let size = image_size();
    let times = (0..jobs)
        .map(|_| {
            let started = Instant::now();
            check(mlbench(binary, home).args([
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
            started.elapsed()
        })
        .collect();
    (size, times)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let usual = PathBuf::from(env!("CARGO_BIN_EXE_mlbench"));
    let built =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/x86_64-unknown-linux-musl/release/mlbench");
    let static_binary = std::env::var_os("MLBENCH_STATIC_BIN").map_or(built, PathBuf::from);
    if !static_binary.is_file() {
        println!(
            "skipped runtime_image: no static binary at {}: cargo build --release --target x86_64-unknown-linux-musl --bin mlbench",
            static_binary.display()
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
    let homes = [dir.path().join("usual"), dir.path().join("static")];
    for (binary, home) in [(&usual, &homes[0]), (&static_binary, &homes[1])] {
        check(mlbench(binary, home).args(["project", "create", "bench"]));
    }
    let (mut usual_times, mut static_times) = (Vec::new(), Vec::new());
    let (mut usual_size, mut static_size) = (0, 0);
    for number in 1..=2 {
        let (size, times) = round(&usual, &homes[0], &repo, jobs);
        usual_size = size;
        usual_times.extend(times);
        let (size, times) = round(&static_binary, &homes[1], &repo, jobs);
        static_size = size;
        static_times.extend(times);
        println!("round {number} done");
    }
    let mib = |bytes: u64| bytes as f64 / f64::from(1u32 << 20);
    let (usual_start, static_start) = (median(usual_times), median(static_times));
    println!(
        "(a) runtime image: static {:.1} MiB, usual {:.1} MiB, ratio {:.2} (goal ≤ 1.0)",
        mib(static_size),
        mib(usual_size),
        static_size as f64 / usual_size as f64
    );
    println!(
        "(b) job start (run -f, median of {}): static {:.0} ms, usual {:.0} ms, ratio {:.2} (goal ≤ 1.0)",
        2 * jobs,
        static_start.as_secs_f64() * 1e3,
        usual_start.as_secs_f64() * 1e3,
        static_start.as_secs_f64() / usual_start.as_secs_f64()
    );
    // The next job of the usual build rebuilds its image; leave it as the tests expect it.
    check(mlbench(&usual, &homes[0]).args(["images", "build-runtime", "--force"]));
    summary::record(
        "runtime_image",
        &[
            Figure::new(
                "runtime image size, static build vs usual build",
                format!("{:.1} MiB", mib(static_size)),
                format!("{:.1} MiB", mib(usual_size)),
                static_size as f64 / usual_size as f64,
                summary::Goal::AtMost(1.0),
            ),
            Figure::new(
                "job start (run -f), static build's image vs usual build's",
                format!("{:.0} ms", static_start.as_secs_f64() * 1e3),
                format!("{:.0} ms", usual_start.as_secs_f64() * 1e3),
                static_start.as_secs_f64() / usual_start.as_secs_f64(),
                summary::Goal::AtMost(1.0),
            ),
        ],
    );
}
