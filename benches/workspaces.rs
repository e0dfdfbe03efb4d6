//! Shared workspaces benchmark, against a baseline measured in the same run: 200 jobs of one
//! repo (a folder of 100 files, 20 MB in all) submitted one after another with `mlbench run`,
//! with `workspaces = "copied"` (each job a full copy of the code, as before snapshots) and
//! with `workspaces = "layered"` (one snapshot, each Docker job an overlay layer of its own):
//!
//! (a) the mean time of one `mlbench run` (goal: layered ≤ 1.0× copied);
//! (b) the disk the jobs' folders and snapshots take once all 200 ended (goal ≤ 0.1×).
//!
//! Run: `cargo bench --bench workspaces` (needs a Docker Engine and /bin/busybox from
//! busybox-static). `BENCH_JOBS=N` changes the 200, `BENCH_REPO_MB=M` the 20 MB.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/docker.rs"]
mod docker;
#[path = "common/summary.rs"]
mod summary;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use docker::{IMAGE, check};
use summary::Figure;

fn mlbench(home: &Path, config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlbench"));
    cmd.env("MLBENCH_HOME", home)
        .env("MLBENCH_CONFIG", config)
        .env("MLBENCH_RUNTIME", "docker");
    cmd
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A repo of code and data: 100 files, `megabytes` in all.
fn make_repo(dir: &Path, megabytes: usize) {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let per_file = megabytes * 1_000_000 / 100;
    for i in 0..100 {
        // Varied bytes, so no filesystem makes them smaller than they are.
        let bytes: Vec<u8> = (0..per_file).map(|j| ((i * 31 + j * 7) % 251) as u8).collect();
        std::fs::write(dir.join(format!("data/part-{i:03}.bin")), bytes).unwrap();
    }
    std::fs::write(dir.join("train.py"), "print('MSE : 1.0')\n").unwrap();
}

fn du(paths: &[&Path]) -> u64 {
    paths
        .iter()
        .filter(|p| p.exists())
        .map(|p| {
            let out = Command::new("du").args(["-s", "-B1"]).arg(p).output().unwrap();
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum()
}

/// Submits `jobs` jobs of `repo` with the given `workspaces` setting; returns the mean submit
/// time and the disk the jobs' folders and snapshots take once all ended.
fn run_mode(dir: &Path, repo: &Path, mode: &str, jobs: usize) -> (Duration, u64) {
    let home = dir.join(format!("home-{mode}"));
    let config = dir.join(format!("config-{mode}.toml"));
    std::fs::write(&config, format!("workspaces = \"{mode}\"\n")).unwrap();
    check(mlbench(&home, &config).args(["project", "create", "bench"]));
    let mut total = Duration::ZERO;
    for _ in 0..jobs {
        let started = Instant::now();
        check(mlbench(&home, &config).args([
            "run",
            "--project",
            "bench",
            "--image",
            IMAGE,
            "--repo",
            repo.to_str().unwrap(),
            "--",
            "true",
        ]));
        total += started.elapsed();
    }
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let listed = check(mlbench(&home, &config).args(["jobs", "--json"]));
        let all: serde_json::Value = serde_json::from_str(&listed).unwrap();
        let live = all
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| matches!(j["state"].as_str(), Some("queued" | "preparing" | "running")))
            .count();
        if live == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{live} jobs never ended");
        std::thread::sleep(Duration::from_millis(500));
    }
    let snapshots = std::fs::read_dir(home.join("snapshots")).unwrap().count();
    assert_eq!(snapshots, 1, "{jobs} jobs of one repo made {snapshots} snapshots");
    let disk = du(&[&home.join("jobs"), &home.join("snapshots")]);
    (total / u32::try_from(jobs).unwrap(), disk)
}

fn main() {
    let jobs = env_number("BENCH_JOBS", 200);
    let megabytes = env_number("BENCH_REPO_MB", 20);
    let dir = tempfile::tempdir().unwrap();
    let image_home = dir.path().join("image-home");
    let no_config = dir.path().join("none.toml");
    docker::build_busybox_image(dir.path(), mlbench(&image_home, &no_config));
    let repo = dir.path().join("repo");
    make_repo(&repo, megabytes);
    let (copied_submit, copied_disk) = run_mode(dir.path(), &repo, "copied", jobs);
    let (layered_submit, layered_disk) = run_mode(dir.path(), &repo, "layered", jobs);
    let mib = |bytes: u64| bytes as f64 / f64::from(1u32 << 20);
    println!(
        "(a) {jobs} jobs of a {megabytes} MB repo, mean submit: layered {:.1} ms, copied {:.1} ms, ratio {:.2} (goal ≤ 1.0)",
        layered_submit.as_secs_f64() * 1e3,
        copied_submit.as_secs_f64() * 1e3,
        layered_submit.as_secs_f64() / copied_submit.as_secs_f64()
    );
    println!(
        "(b) disk of the jobs' folders and snapshots: layered {:.1} MiB, copied {:.1} MiB, ratio {:.3} (goal ≤ 0.1)",
        mib(layered_disk),
        mib(copied_disk),
        layered_disk as f64 / copied_disk as f64
    );
    summary::record(
        "workspaces",
        &[
            Figure::new(
                &format!("mean submit of {jobs} jobs of one {megabytes} MB repo, layered vs copied"),
                format!("{:.1} ms", layered_submit.as_secs_f64() * 1e3),
                format!("{:.1} ms", copied_submit.as_secs_f64() * 1e3),
                layered_submit.as_secs_f64() / copied_submit.as_secs_f64(),
                summary::Goal::AtMost(1.0),
            ),
            Figure::new(
                &format!("disk of {jobs} jobs' folders and snapshots, layered vs copied"),
                format!("{:.1} MiB", mib(layered_disk)),
                format!("{:.1} MiB", mib(copied_disk)),
                layered_disk as f64 / copied_disk as f64,
                summary::Goal::AtMost(0.1),
            ),
        ],
    );
}
