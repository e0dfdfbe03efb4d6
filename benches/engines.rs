//! Remote engines benchmark, on the engine lab (`scripts/engine-lab`, two engines reached over
//! real SSH): mlbench against the Docker CLI's own `docker -H ssh://…` in the same run.
//!
//! (a) submit → first log line on a remote engine: `mlbench run --engine lab1 -f` vs `docker -H
//!     ssh://root@lab1 run` of the same image and command (mlbench keeps one SSH link per
//!     engine; the CLI dials SSH for every command);
//! (b) lines/s from a remote job into mlbench's log file vs `docker -H ssh://… run` attached;
//! (c) a 200-trial sweep over both engines: the bytes of code sent (mlbench: once per engine
//!     and content) and the wall time, vs 200 `docker -H ssh://… create` + `cp` of the code +
//!     `start -a` + `rm`, as many at once as the sweep runs.
//!
//! Run: `cargo bench --bench engines` as root (the lab makes namespaces), with dockerd,
//! openssh-server and netcat-openbsd; no lab may be up. `BENCH_LINES=N` changes (b)'s line
//! count, `BENCH_TRIALS=N` (c)'s trials.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/docker.rs"]
mod docker;
#[path = "common/follow.rs"]
mod follow;
#[path = "common/summary.rs"]
mod summary;

#[path = "../tests/common/engine_lab.rs"]
#[allow(dead_code)] // the tests use the rest of it
mod engine_lab;
#[path = "../tests/common/lab_host.rs"]
mod lab_host;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use docker::{IMAGE, check};
use follow::{assert_log_holds, count_lines, first_line, median, print_rounds, wait_for_log_line};
use summary::{Figure, Goal};

struct Bench {
    lab: engine_lab::EngineLab,
    home: PathBuf,
    config: PathBuf,
    /// Holds an `ssh` that reads the lab's ssh config, first on the CLI's PATH.
    ssh_wrapper: PathBuf,
}

impl Bench {
    fn mlbench(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlbench"));
        cmd.env("MLBENCH_HOME", &self.home)
            .env("MLBENCH_CONFIG", &self.config)
            .env("MLBENCH_RUNTIME", "docker");
        cmd
    }

    /// The Docker CLI against engine `n` over SSH (`docker -H ssh://root@labN`).
    fn docker(&self, n: u32) -> Command {
        let mut cmd = Command::new("docker");
        let path = format!(
            "{}:{}",
            self.ssh_wrapper.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.env("PATH", path).args(["-H", &format!("ssh://root@lab{n}")]);
        cmd
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let Some(lab) = engine_lab::EngineLab::up("the engines bench", 2) else {
        return;
    };
    let lines = env_number("BENCH_LINES", 100_000);
    let trials = env_number("BENCH_TRIALS", 200);
    let dir = tempfile::tempdir().unwrap();
    let ssh_wrapper = dir.path().join("ssh-wrapper");
    std::fs::create_dir_all(&ssh_wrapper).unwrap();
    let wrapper = ssh_wrapper.join("ssh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec /usr/bin/ssh -F {} \"$@\"\n",
            lab.ssh_config().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bench = Bench {
        home: dir.path().join("home"),
        config: dir.path().join("config.toml"),
        ssh_wrapper,
        lab,
    };
    std::fs::write(&bench.config, bench.lab.engine_tables()).unwrap();
    docker::build_busybox_image(dir.path(), bench.mlbench());
    check(bench.mlbench().args(["project", "create", "bench"]));
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let run = |follow: bool, engine: &str, repo: &Path, command: &str| {
        let mut cmd = bench.mlbench();
        cmd.args(["run", "--project", "bench", "--engine", engine, "--image", IMAGE])
            .args(["--repo", repo.to_str().unwrap()]);
        if follow {
            cmd.arg("-f");
        }
        cmd.args(["--", "sh", "-c", command]);
        cmd
    };
    // The first runs send the image and the code to each engine: not part of any round.
    for engine in ["lab1", "lab2"] {
        check(&mut run(true, engine, &repo, "echo warm"));
    }

    // (a) submit → first log line, alternating the two so drift hits both alike.
    let rounds = 7;
    let command = "echo first; sleep 1";
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let started = Instant::now();
        let mut child = run(true, "lab1", &repo, command)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        ours.push(first_line(&mut child, started));
        child.wait().unwrap();
        let started = Instant::now();
        let mut child = bench
            .docker(1)
            .args(["run", "--rm", IMAGE, "sh", "-c", command])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        theirs.push(first_line(&mut child, started));
        child.wait().unwrap();
    }
    print_rounds(&ours, &theirs);
    let (ours, theirs) = (median(ours), median(theirs));
    let ratio = ours.as_secs_f64() / theirs.as_secs_f64();
    println!("(a) submit -> first log line on a remote engine ({command}), median of {rounds}");
    println!(
        "    mlbench run --engine lab1 -f      {:>8.1} ms",
        ours.as_secs_f64() * 1e3
    );
    println!(
        "    docker -H ssh://root@lab1 run     {:>8.1} ms",
        theirs.as_secs_f64() * 1e3
    );
    println!("    ratio mlbench/docker {ratio:.2} (goal <= 1.0)");
    let mut figures = vec![Figure::new(
        "engines: submit to first log line over SSH, vs docker -H ssh:// run",
        format!("{:.1} ms", ours.as_secs_f64() * 1e3),
        format!("{:.1} ms", theirs.as_secs_f64() * 1e3),
        ratio,
        Goal::AtMost(1.0),
    )];

    // (b) lines from a remote job: submit to the last line in mlbench's log file, vs the CLI's
    // attached run counted to its last line.
    let script = format!("seq {lines}");
    let started = Instant::now();
    let id = check(&mut run(false, "lab1", &repo, &script)).trim().to_string();
    let log_path = bench.home.join(format!("jobs/{id}/output.log"));
    wait_for_log_line(&log_path, lines);
    let ours = started.elapsed();
    assert_log_holds(&log_path, lines);
    let started = Instant::now();
    let mut child = bench
        .docker(1)
        .args(["run", "--rm", IMAGE, "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let counted = count_lines(child.stdout.take().unwrap(), lines);
    let theirs = started.elapsed();
    child.wait().unwrap();
    assert_eq!(counted, lines, "docker run lost lines");
    let (our_rate, their_rate) = (
        lines as f64 / ours.as_secs_f64(),
        lines as f64 / theirs.as_secs_f64(),
    );
    println!("(b) {lines} lines from a job on a remote engine, submit to the last line");
    println!(
        "    mlbench -> log file            {our_rate:>10.0} lines/s ({:.2} s)",
        ours.as_secs_f64()
    );
    println!(
        "    docker -H ssh:// run attached  {their_rate:>10.0} lines/s ({:.2} s)",
        theirs.as_secs_f64()
    );
    println!(
        "    ratio mlbench/docker {:.2} (goal >= 1.0)",
        our_rate / their_rate
    );
    figures.push(Figure::new(
        &format!("engines: log lines/s over SSH, {lines} lines, vs docker -H ssh:// run"),
        format!("{our_rate:.0}/s"),
        format!("{their_rate:.0}/s"),
        our_rate / their_rate,
        Goal::AtLeast(1.0),
    ));

    figures.extend(sweep_over_two_engines(&bench, dir.path(), trials));
    summary::record("engines", &figures);
}

/// (c): the same trials through `mlbench sweep --engine lab1,lab2` and through the Docker CLI
/// (their code `docker cp`'d into each container), as many at once as the sweep runs.
fn sweep_over_two_engines(bench: &Bench, dir: &Path, trials: u64) -> Vec<Figure> {
    // Code of some size: what a trial's repo holds.
    let code = dir.join("sweep-code");
    std::fs::create_dir_all(&code).unwrap();
    for i in 0..16 {
        let text: String = (0..2_000)
            .map(|j| format!("{i} {j} some code of the model\n"))
            .collect();
        std::fs::write(code.join(format!("module{i}.py")), text).unwrap();
    }
    std::fs::write(code.join("train.sh"), "echo \"score : $1\"\n").unwrap();
    let code_bytes = tar_size(&code);
    let started = Instant::now();
    check(bench.mlbench().args([
        "sweep",
        "--project",
        "bench",
        "--engine",
        "lab1,lab2",
        "--image",
        IMAGE,
        "--repo",
        code.to_str().unwrap(),
        "--grid",
        &format!("x=1..{trials}"),
        "--metric",
        "score",
        "--minimize",
        "-f",
        "--",
        "sh",
        "train.sh",
        "{x}",
    ]));
    let ours = started.elapsed();
    let jobs: serde_json::Value =
        serde_json::from_str(&check(bench.mlbench().args(["jobs", "--json"]))).unwrap();
    let trial_jobs: Vec<&serde_json::Value> = jobs
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| !j["sweep"].is_null())
        .collect();
    assert_eq!(trial_jobs.len() as u64, trials);
    let (mut sends, mut sent_bytes) = (0u64, 0u64);
    for job in &trial_jobs {
        let log = std::fs::read_to_string(bench.home.join(format!("jobs/{}/output.log", job["id"]))).unwrap();
        for line in log.lines().filter(|l| l.contains(" m sent the code to engine")) {
            sends += 1;
            sent_bytes += bytes_in_note(line);
        }
    }
    // As many at once as the sweep ran: its default, a trial of its machine type (G1, 1 vCPU)
    // for each vCPU of the two engines.
    let engines: serde_json::Value =
        serde_json::from_str(&check(bench.mlbench().args(["engines", "--json"]))).unwrap();
    let parallel: u64 = engines
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] != "local")
        .map(|e| e["cpus"].as_f64().unwrap_or(1.0).floor() as u64)
        .sum();
    let started = Instant::now();
    let next = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..parallel {
            scope.spawn(|| {
                loop {
                    let trial = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if trial >= trials {
                        return;
                    }
                    let engine = 1 + (trial % 2) as u32;
                    let id = check(bench.docker(engine).args([
                        "create",
                        "-w",
                        "/workspace",
                        IMAGE,
                        "sh",
                        "train.sh",
                        &trial.to_string(),
                    ]))
                    .trim()
                    .to_string();
                    check(bench.docker(engine).args([
                        "cp",
                        &format!("{}/.", code.display()),
                        &format!("{id}:/workspace"),
                    ]));
                    check(bench.docker(engine).args(["start", "-a", &id]));
                    check(bench.docker(engine).args(["rm", &id]));
                }
            });
        }
    });
    let theirs = started.elapsed();
    let their_bytes = code_bytes * trials;
    println!("(c) {trials} trials over lab1 and lab2, code of {code_bytes} bytes (as a tar)");
    println!(
        "    mlbench sweep          {:>8.1} s, code sent {sends} time(s), {sent_bytes} bytes",
        ours.as_secs_f64()
    );
    println!(
        "    docker create+cp+start {:>8.1} s, code sent {trials} times, {their_bytes} bytes",
        theirs.as_secs_f64()
    );
    println!(
        "    time ratio mlbench/docker {:.2} (goal <= 1.0); code sends {sends} (goal: 2, once per engine)",
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
    vec![
        Figure::new(
            &format!("engines: {trials}-trial sweep over 2 engines, wall time vs docker create+cp+start"),
            format!("{:.1} s", ours.as_secs_f64()),
            format!("{:.1} s", theirs.as_secs_f64()),
            ours.as_secs_f64() / theirs.as_secs_f64(),
            Goal::AtMost(1.0),
        ),
        Figure::new(
            &format!("engines: {trials}-trial sweep, bytes of code sent vs docker cp per trial"),
            format!("{sent_bytes} B ({sends} sends)"),
            format!("{their_bytes} B"),
            sent_bytes as f64 / their_bytes as f64,
            Goal::AtMost(2.0 / trials as f64),
        ),
    ]
}

/// The size of `dir` as a tar (what `docker cp` sends).
fn tar_size(dir: &Path) -> u64 {
    let out = check(Command::new("sh").args(["-c", &format!("tar -C {} -cf - . | wc -c", dir.display())]));
    out.trim().parse().unwrap()
}

/// The bytes a "sent the code to engine lab1 (12.3 KiB)" note names.
fn bytes_in_note(line: &str) -> u64 {
    let amount = line
        .rsplit_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(inside, _)| inside)
        .unwrap_or_default();
    let (number, unit) = amount.split_once(' ').unwrap_or((amount, "B"));
    let number: f64 = number.parse().unwrap_or(0.0);
    let scale = match unit {
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => 1.0,
    };
    (number * scale) as u64
}
