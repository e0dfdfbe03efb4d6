//! Engine benchmark: mlbench against plain `docker` in the same run.
//!
//! (a) submit → first log line: `mlbench run -f` vs `docker run --rm`, same image and command;
//! (b) 5 million lines printed as fast as a container can: lines/s reaching mlbench's log file
//!     vs `docker logs -f` and vs `docker run` attached (lines counted by the bench), and the
//!     peak memory of mlbench's follower.
//!
//! Run: `cargo bench --bench engine` (needs a Docker Engine and /bin/busybox from
//! busybox-static). `BENCH_LINES=N` changes the line count.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/docker.rs"]
mod docker;
#[path = "common/follow.rs"]
mod follow;
#[path = "common/summary.rs"]
mod summary;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use docker::{IMAGE, check};
use follow::{count_lines, first_line, median};
use summary::{Figure, Goal};

fn mlbench(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlbench"));
    cmd.env("MLBENCH_HOME", home).env("MLBENCH_RUNTIME", "docker");
    cmd
}

/// Time from spawning `cmd` until it prints its first stdout line.
fn time_to_first_line(cmd: &mut Command) -> Duration {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let elapsed = first_line(&mut child, started);
    child.wait().expect("wait");
    elapsed
}

/// Runs `cmd` and counts the lines it prints to stdout.
fn count_output(cmd: &mut Command) -> u64 {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let counted = count_lines(child.stdout.take().unwrap(), u64::MAX);
    assert!(child.wait().unwrap().success());
    counted
}

fn vm_hwm_kib(pid: i64) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn job_field(home: &Path, id: &str, field: &str) -> serde_json::Value {
    let jobs: serde_json::Value =
        serde_json::from_str(&check(mlbench(home).args(["jobs", "--json"]))).unwrap();
    jobs.as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"].as_i64().map(|n| n.to_string()).as_deref() == Some(id))
        .unwrap()[field]
        .clone()
}

/// Removes the bench's containers even when it fails half-way.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(home) = mlbench_store::Home::at(self.0.clone()) else {
            return;
        };
        let filter = format!("label=mlbench.home={}", home.label());
        if let Ok(out) = Command::new("docker")
            .args(["ps", "-aq", "--filter", &filter])
            .output()
        {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("docker").args(["rm", "-f", id]).output();
            }
        }
    }
}

fn main() {
    let lines: u64 = std::env::var("BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000);
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let _cleanup = Cleanup(home.clone());
    docker::build_busybox_image(dir.path(), mlbench(&home));
    check(mlbench(&home).args(["project", "create", "bench"]));
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let repo = repo.to_str().unwrap();

    // (a) submit → first log line, for a command that goes on after its first line (as a
    // training job does) and for one that exits at once.
    let rounds = 15;
    let mut figures = Vec::new();
    for (what, command) in [
        ("prints, then runs on", vec!["sh", "-c", "echo first; sleep 1"]),
        ("prints and exits", vec!["echo", "first"]),
    ] {
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for _ in 0..rounds {
            let mut run = vec![
                "run",
                "--project",
                "bench",
                "--image",
                IMAGE,
                "--repo",
                repo,
                "-f",
                "--",
            ];
            run.extend(&command);
            ours.push(time_to_first_line(mlbench(&home).args(&run)));
            let mut docker = vec!["run", "--rm", IMAGE];
            docker.extend(&command);
            theirs.push(time_to_first_line(Command::new("docker").args(&docker)));
        }
        let (ours, theirs) = (median(ours), median(theirs));
        println!(
            "(a) submit -> first log line, {what} ({}), median of {rounds}",
            command.join(" ")
        );
        println!("    mlbench run -f   {:>8.1} ms", ours.as_secs_f64() * 1e3);
        println!("    docker run --rm  {:>8.1} ms", theirs.as_secs_f64() * 1e3);
        println!(
            "    ratio mlbench/docker {:.2} (goal <= 1.0)",
            ours.as_secs_f64() / theirs.as_secs_f64()
        );
        figures.push(Figure::new(
            &format!("submit to first log line, {what}, vs docker run"),
            format!("{:.1} ms", ours.as_secs_f64() * 1e3),
            format!("{:.1} ms", theirs.as_secs_f64() * 1e3),
            ours.as_secs_f64() / theirs.as_secs_f64(),
            Goal::AtMost(1.0),
        ));
    }

    // (b) throughput of a container printing as fast as it can
    let script = format!("seq {lines}");
    let started = Instant::now();
    let id = check(mlbench(&home).args([
        "run",
        "--project",
        "bench",
        "--image",
        IMAGE,
        "--repo",
        repo,
        "--",
        "sh",
        "-c",
        &script,
    ]));
    let id = id.trim().to_string();
    // The follower starts right after the launch; wait for it to record itself.
    let pid = loop {
        if let Some(pid) = job_field(&home, &id, "supervisor_pid").as_i64() {
            break pid;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut peak_kib = 0;
    while job_field(&home, &id, "state") == "running" {
        peak_kib = peak_kib.max(vm_hwm_kib(pid).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(50));
    }
    let ours = started.elapsed();
    let log = std::fs::read_to_string(home.join(format!("jobs/{id}/output.log"))).unwrap();
    let written = log
        .lines()
        .filter(|l| l.as_bytes().get(31) == Some(&b'o'))
        .count() as u64;
    assert_eq!(written, lines, "the log file lost lines");

    // The same log buffer mlbench gives its jobs, so that docker's follower loses no lines either.
    let docker_run = |mode: &str| {
        let mut cmd = Command::new("docker");
        cmd.args([
            "run",
            mode,
            "--log-opt",
            "max-size=1g",
            "--log-opt",
            "max-file=2",
            IMAGE,
        ])
        .args(["sh", "-c", &script]);
        cmd
    };
    let started = Instant::now();
    let cid = check(&mut docker_run("-d"));
    let counted = count_output(Command::new("docker").args(["logs", "-f", cid.trim()]));
    let theirs = started.elapsed();
    check(Command::new("docker").args(["rm", "-f", cid.trim()]));
    assert_eq!(counted, lines, "docker logs -f lost lines");

    // Docker's own client attached to the container, as `docker run` in the foreground reads:
    // the same stream mlbench follows, so this is the floor of the engine's side.
    let started = Instant::now();
    let counted = count_output(&mut docker_run("--rm"));
    let attached = started.elapsed();
    assert_eq!(counted, lines, "docker run lost lines");

    let (our_rate, their_rate, attached_rate) = (
        lines as f64 / ours.as_secs_f64(),
        lines as f64 / theirs.as_secs_f64(),
        lines as f64 / attached.as_secs_f64(),
    );
    println!("(b) {lines} lines from one container");
    println!(
        "    mlbench -> log file     {:>10.0} lines/s ({:.2} s)",
        our_rate,
        ours.as_secs_f64()
    );
    println!(
        "    docker logs -f           {:>10.0} lines/s ({:.2} s)",
        their_rate,
        theirs.as_secs_f64()
    );
    println!(
        "    docker run (attached)    {:>10.0} lines/s ({:.2} s)",
        attached_rate,
        attached.as_secs_f64()
    );
    println!(
        "    ratio mlbench/docker logs -f {:.2} (goal >= 1.0), mlbench/docker run {:.2} (goal >= 0.9)",
        our_rate / their_rate,
        our_rate / attached_rate
    );
    println!(
        "    mlbench follower peak memory {:.1} MB (goal < 50 MB)",
        peak_kib as f64 / 1024.0
    );
    figures.push(Figure::new(
        &format!("log lines/s, {lines} lines, vs docker logs -f"),
        format!("{our_rate:.0}/s"),
        format!("{their_rate:.0}/s"),
        our_rate / their_rate,
        Goal::AtLeast(1.0),
    ));
    figures.push(Figure::new(
        &format!("log lines/s, {lines} lines, vs docker run attached"),
        format!("{our_rate:.0}/s"),
        format!("{attached_rate:.0}/s"),
        our_rate / attached_rate,
        Goal::AtLeast(0.9),
    ));
    let peak_mb = peak_kib as f64 / 1024.0;
    figures.push(Figure::new(
        "follower peak memory",
        format!("{peak_mb:.1} MB"),
        "goal 50 MB".into(),
        peak_mb / 50.0,
        Goal::AtMost(1.0),
    ));
    summary::record("engine", &figures);
}
