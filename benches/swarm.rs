//! Swarm benchmark, on the swarm lab (`scripts/swarm-lab`, three engines on this machine):
//! mlbench against plain `docker service` in the same run, the task placed on a worker.
//!
//! (a) submit → first log line: `mlbench run -f` vs `docker service create` then
//!     `docker service logs -f` of the same image (by the digest mlbench pushed) and command;
//! (b) 100,000 lines through task logs: lines/s reaching mlbench's log file vs
//!     `docker service logs -f` (lines counted by the bench).
//!
//! Run: `cargo bench --bench swarm` as root (the lab makes network namespaces), with dockerd
//! and Debian's docker-registry; no lab may be up. `BENCH_LINES=N` changes the line count.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/docker.rs"]
mod docker;
#[path = "common/follow.rs"]
mod follow;
#[path = "common/summary.rs"]
mod summary;

#[path = "../tests/common/lab.rs"]
#[allow(dead_code)] // the tests use the rest of it
mod lab;
#[path = "../tests/common/lab_host.rs"]
mod lab_host;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use docker::{IMAGE, check};
use follow::{assert_log_holds, count_lines, first_line, median, print_rounds, wait_for_log_line};
use summary::{Figure, Goal};

const WORKER: &str = "mlblab-n2";

struct Bench {
    lab: lab::Lab,
    home: std::path::PathBuf,
    config: std::path::PathBuf,
}

impl Bench {
    fn mlbench(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlbench"));
        cmd.env("MLBENCH_HOME", &self.home)
            .env("MLBENCH_CONFIG", &self.config)
            .env("MLBENCH_RUNTIME", "swarm")
            .env("DOCKER_HOST", self.lab.socket(1));
        cmd
    }

    fn docker(&self) -> Command {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_HOST", self.lab.socket(1));
        cmd
    }

    /// `docker service create` of `command` on the worker, detached; returns the service's name.
    fn service_create(&self, image: &str, name: &str, command: &str) -> String {
        check(self.docker().args([
            "service",
            "create",
            "--detach",
            "--quiet",
            "--name",
            name,
            "--restart-condition",
            "none",
            "--constraint",
            &format!("node.hostname=={WORKER}"),
            "--log-opt",
            "max-size=1g",
            image,
            "sh",
            "-c",
            command,
        ]));
        name.to_string()
    }

    fn service_logs(&self, name: &str) -> Child {
        self.docker()
            .args(["service", "logs", "-f", "--raw", name])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn service_rm(&self, name: &str) {
        check(self.docker().args(["service", "rm", name]));
    }

    fn job_field(&self, id: &str, field: &str) -> serde_json::Value {
        let jobs: serde_json::Value =
            serde_json::from_str(&check(self.mlbench().args(["jobs", "--json"]))).unwrap();
        jobs.as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"].as_i64().map(|n| n.to_string()).as_deref() == Some(id))
            .unwrap()[field]
            .clone()
    }
}

fn main() {
    let Some(lab) = lab::Lab::up("the swarm bench") else {
        return;
    };
    let lines: u64 = std::env::var("BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let bench = Bench {
        home: dir.path().join("home"),
        config: dir.path().join("config.toml"),
        lab,
    };
    std::fs::write(&bench.config, bench.lab.config()).unwrap();
    docker::build_busybox_image(dir.path(), bench.mlbench());
    check(bench.mlbench().args(["project", "create", "bench"]));
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let run = |follow: bool, command: &str| {
        let mut cmd = bench.mlbench();
        cmd.args(["run", "--project", "bench", "--image", IMAGE, "--node", WORKER])
            .args(["--repo", repo.to_str().unwrap()]);
        if follow {
            cmd.arg("-f");
        }
        cmd.args(["--", "sh", "-c", command]);
        cmd
    };
    // The first run pushes the image and has the worker pull it: not part of any round.
    check(&mut run(true, "echo warm"));
    let digest = digest_of(&bench, IMAGE);

    // (a) submit → first log line, alternating the two so drift hits both alike.
    let rounds = 7;
    let command = "echo first; sleep 1";
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let started = Instant::now();
        let mut child = run(true, command)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        ours.push(first_line(&mut child, started));
        child.wait().unwrap();
        let started = Instant::now();
        let name = bench.service_create(&digest, &format!("bench-first-{round}"), command);
        let mut logs = bench.service_logs(&name);
        theirs.push(first_line(&mut logs, started));
        let _ = logs.kill();
        let _ = logs.wait();
        bench.service_rm(&name);
    }
    print_rounds(&ours, &theirs);
    let (ours, theirs) = (median(ours), median(theirs));
    let ratio = ours.as_secs_f64() / theirs.as_secs_f64();
    println!("(a) submit -> first log line on a worker ({command}), median of {rounds}");
    println!(
        "    mlbench run -f                          {:>8.1} ms",
        ours.as_secs_f64() * 1e3
    );
    println!(
        "    docker service create + service logs -f {:>8.1} ms",
        theirs.as_secs_f64() * 1e3
    );
    println!("    ratio mlbench/docker {ratio:.2} (goal <= 1.0)");
    let mut figures = vec![Figure::new(
        "swarm: submit to first log line, vs docker service create + logs -f",
        format!("{:.1} ms", ours.as_secs_f64() * 1e3),
        format!("{:.1} ms", theirs.as_secs_f64() * 1e3),
        ratio,
        Goal::AtMost(1.0),
    )];

    // (b) lines through task logs, from submit to the last line in mlbench's log file (as
    // docker's side counts to the last line on its stdout); the job's end is told apart.
    let script = format!("seq {lines}");
    let started = Instant::now();
    let id = check(&mut run(false, &script)).trim().to_string();
    let label = mlbench_store::Home::at(bench.home.clone()).unwrap().label();
    let log_path = bench
        .lab
        .shared_files(&label)
        .join(format!("jobs/{id}/output.log"));
    wait_for_log_line(&log_path, lines);
    let ours = started.elapsed();
    while !matches!(
        bench.job_field(&id, "state").as_str(),
        Some("succeeded" | "failed" | "lost")
    ) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let ended = started.elapsed();
    assert_eq!(bench.job_field(&id, "state"), "succeeded");
    assert_log_holds(&log_path, lines);

    // `docker service logs -f` never ends (the task's end does not end it): count to the last.
    let started = Instant::now();
    let name = bench.service_create(&digest, "bench-lines", &script);
    let mut logs = bench.service_logs(&name);
    let counted = count_lines(logs.stdout.take().unwrap(), lines);
    let theirs = started.elapsed();
    let _ = logs.kill();
    let _ = logs.wait();
    bench.service_rm(&name);
    assert_eq!(counted, lines, "docker service logs -f lost lines");
    let (our_rate, their_rate) = (
        lines as f64 / ours.as_secs_f64(),
        lines as f64 / theirs.as_secs_f64(),
    );
    println!("(b) {lines} lines from one task on a worker, submit to the last line");
    println!(
        "    mlbench -> log file        {our_rate:>10.0} lines/s ({:.2} s)",
        ours.as_secs_f64()
    );
    println!(
        "    (the job ended, its log checked: {:.2} s)",
        ended.as_secs_f64()
    );
    println!(
        "    docker service logs -f     {their_rate:>10.0} lines/s ({:.2} s)",
        theirs.as_secs_f64()
    );
    println!(
        "    ratio mlbench/docker {:.2} (goal >= 0.9)",
        our_rate / their_rate
    );
    figures.push(Figure::new(
        &format!("swarm: log lines/s, {lines} lines, vs docker service logs -f"),
        format!("{our_rate:.0}/s"),
        format!("{their_rate:.0}/s"),
        our_rate / their_rate,
        Goal::AtLeast(0.9),
    ));
    summary::record("swarm", &figures);
}

/// The registry reference by digest mlbench pushed `image` under.
fn digest_of(bench: &Bench, image: &str) -> String {
    let digests = check(bench.docker().args([
        "image",
        "inspect",
        "--format",
        "{{range .RepoDigests}}{{println .}}{{end}}",
        image,
    ]));
    digests
        .lines()
        .find(|d| d.contains('@'))
        .expect("mlbench pushed the image")
        .to_string()
}
