//! Sweep benchmark, against a baseline measured in the same run:
//!
//! (a) scheduling overhead: a sweep of 200 trials of a command that exits at once, `--parallel
//!     2`, from `mlbench sweep -f` to its end, vs the same 200 containers started by
//!     `xargs -P2 docker run --rm` (goal ≤ 1.1× its time);
//! (b) the compare screen's first frame for a sweep of 10,000 trials, from the key `C` (goal
//!     < 100 ms);
//! (c) the workbench's first frame with 100,000 jobs in the store, from starting tmux (goal
//!     < 100 ms; the first look reads the newest 1,000 and the live ones, then all of them).
//!
//! Run: `cargo bench --bench sweep` (needs a Docker Engine, /bin/busybox from busybox-static,
//! and tmux). `BENCH_TRIALS=N` changes the 200 of (a).

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/docker.rs"]
mod docker;
#[path = "common/summary.rs"]
mod summary;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use docker::{IMAGE, check};
use mlbench_domain::sweep::{Goal, Space, SweepSpec};
use mlbench_domain::{JobKind, JobSpec, RuntimeKind, Source};
use mlbench_store::{Code, Home, Store, TrialOf};
use summary::Figure;

fn mlbench(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlbench"));
    cmd.env("MLBENCH_HOME", home).env("MLBENCH_RUNTIME", "docker");
    cmd
}

fn unix_micros() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros()
}

/// The workbench in tmux, writing its frames to a file.
struct Session {
    socket: PathBuf,
    frames: PathBuf,
}

impl Session {
    fn start(dir: &Path, home: &Path, name: &str) -> Session {
        let socket = dir.join(format!("{name}.sock"));
        let frames = dir.join(format!("{name}.frames"));
        let command = format!(
            "env MLBENCH_HOME={} MLBENCH_RUNTIME=local MLBENCH_FRAME_LOG={} {}; sleep 60",
            home.display(),
            frames.display(),
            env!("CARGO_BIN_EXE_mlbench")
        );
        let ok = Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args(["new-session", "-d", "-x", "140", "-y", "40", &command])
            .status()
            .expect("tmux (apt-get install tmux)")
            .success();
        assert!(ok);
        Session { socket, frames }
    }

    fn keys(&self, keys: &[&str]) {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("send-keys")
            .args(keys)
            .status()
            .unwrap();
    }

    /// The first frame (Unix µs) whose line satisfies `done`: (time, jobs, key µs, screen).
    fn wait_for_frame(&self, done: impl Fn(usize, &str) -> bool) -> u128 {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let text = std::fs::read_to_string(&self.frames).unwrap_or_default();
            let found = text.lines().find_map(|l| {
                let parts: Vec<&str> = l.split(' ').collect();
                let (time, jobs, screen) = (
                    parts.first()?.parse().ok()?,
                    parts.get(1)?.parse().ok()?,
                    *parts.get(3)?,
                );
                done(jobs, screen).then_some(time)
            });
            if let Some(time) = found {
                return time;
            }
            assert!(Instant::now() < deadline, "the awaited frame never came");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .status();
    }
}

fn spec(repo: &Path, command: &[&str]) -> JobSpec {
    JobSpec {
        kind: JobKind::Training,
        deployment: None,
        storage_read_only: false,
        project: "bench".into(),
        machine: "G1".into(),
        image: "none".into(),
        build_dockerfile: None,
        source: Source::Folder {
            path: repo.to_path_buf(),
        },
        command: command.iter().map(ToString::to_string).collect(),
        env: vec![],
        ports: vec![],
        placement: Vec::new(),
        engine: mlbench_domain::LOCAL_ENGINE.into(),
    }
}

/// (a) 200 trials through mlbench, and the same containers through xargs, alternately.
fn scheduling(dir: &Path, trials: usize) -> Vec<Figure> {
    let mut figures = Vec::new();
    let home = dir.join("sched");
    docker::build_busybox_image(dir, mlbench(&home));
    check(mlbench(&home).args(["project", "create", "bench"]));
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let last = trials.to_string();
    for round in 1..=2 {
        let grid = format!("i=1..{last}");
        // Each round its own command, so the second is a new sweep, not a resume of the first.
        let marker = format!("MLBENCH_PARAM_i{round}");
        let started = Instant::now();
        check(mlbench(&home).args([
            "sweep",
            "--project",
            "bench",
            "--image",
            IMAGE,
            "--repo",
            repo.to_str().unwrap(),
            "--grid",
            &grid,
            "--metric",
            "x",
            "--minimize",
            "--parallel",
            "2",
            "-f",
            "--",
            "true",
            "{i}",
            &marker,
        ]));
        let ours = started.elapsed();
        let started = Instant::now();
        let mut xargs = Command::new("xargs")
            .args(["-P2", "-I{}", "docker", "run", "--rm", IMAGE, "true", "{}"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let list: String = (1..=trials).map(|i| format!("{i}\n")).collect();
        std::io::Write::write_all(xargs.stdin.as_mut().unwrap(), list.as_bytes()).unwrap();
        drop(xargs.stdin.take());
        assert!(xargs.wait().unwrap().success());
        let theirs = started.elapsed();
        println!(
            "(a) round {round}: {trials} trials, --parallel 2: mlbench {:.1} s, xargs -P2 docker run --rm {:.1} s, ratio {:.2} (goal ≤ 1.1)",
            ours.as_secs_f64(),
            theirs.as_secs_f64(),
            ours.as_secs_f64() / theirs.as_secs_f64()
        );
        figures.push(Figure::new(
            &format!("sweep of {trials} trials vs xargs docker run, round {round}"),
            format!("{:.1} s", ours.as_secs_f64()),
            format!("{:.1} s", theirs.as_secs_f64()),
            ours.as_secs_f64() / theirs.as_secs_f64(),
            summary::Goal::AtMost(1.1),
        ));
    }
    figures
}

/// A time against an absolute goal: the ratio is the time over the goal.
fn within(name: &str, ms: f64, goal_ms: f64) -> Figure {
    Figure::new(
        name,
        format!("{ms:.1} ms"),
        format!("goal {goal_ms} ms"),
        ms / goal_ms,
        summary::Goal::AtMost(1.0),
    )
}

/// (b) A finished sweep of 10,000 trials with metrics; the compare screen opened on it.
fn compare_screen(dir: &Path) -> Figure {
    let home_dir = dir.join("compare");
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    {
        let home = Home::at(home_dir.clone()).unwrap();
        let store = Store::open(&home).unwrap();
        store.create_project("bench").unwrap();
        let sweep = SweepSpec {
            base: spec(&repo, &["train", "{lr}", "{depth}"]),
            space: Space::Grid {
                axes: vec!["lr=1..100".parse().unwrap(), "depth=1..100".parse().unwrap()],
            },
            metric: "loss".into(),
            goal: Goal::Minimize,
            parallel: None,
            early_stop: None,
        };
        let points = sweep.validate().unwrap();
        let id = store.insert_sweep(&sweep, RuntimeKind::Local, &points).unwrap();
        for (point, params) in points.iter().enumerate() {
            let job = store
                .insert_placed_job(
                    &sweep.trial_spec(params),
                    RuntimeKind::Local,
                    mlbench_domain::LOCAL_ENGINE,
                    &Code {
                        commit: None,
                        snapshot: None,
                    },
                    Some(TrialOf {
                        sweep: id,
                        point,
                        params,
                    }),
                    |_| Ok(()),
                )
                .unwrap();
            let loss: Vec<(String, i64, f64)> = (0..5)
                .map(|s| ("loss".to_string(), s, 1.0 / (job + s) as f64))
                .collect();
            store.insert_metrics(job, &loss).unwrap();
        }
        store.finish_sweep(id).unwrap();
        let db = rusqlite::Connection::open(home.db_path()).unwrap();
        db.execute("UPDATE jobs SET state = 'succeeded', exit_code = 0, started_at = created_at, finished_at = created_at", []).unwrap();
    }
    let session = Session::start(dir, &home_dir, "compare");
    session.wait_for_frame(|jobs, _| jobs == 10_000);
    std::thread::sleep(Duration::from_millis(500));
    let pressed = unix_micros();
    session.keys(&["C"]);
    let shown = session.wait_for_frame(|_, screen| screen == "Compare");
    let ms = (shown - pressed) as f64 / 1e3;
    println!("(b) compare screen, 10,000 trials: first frame {ms:.1} ms after the key (goal < 100 ms)");
    within("compare screen, 10,000 trials: key to frame", ms, 100.0)
}

/// (c) 100,000 finished jobs; the workbench started on them.
fn many_jobs(dir: &Path) -> Figure {
    let home_dir = dir.join("many");
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    {
        let home = Home::at(home_dir.clone()).unwrap();
        let store = Store::open(&home).unwrap();
        store.create_project("bench").unwrap();
        store
            .insert_job(&spec(&repo, &["true"]), RuntimeKind::Local, None)
            .unwrap();
        // Copies of the first row: a hundred thousand inserts one by one would take minutes.
        let db = rusqlite::Connection::open(home.db_path()).unwrap();
        db.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)
             INSERT INTO jobs (project_id, spec, runtime, state, created_at)
             SELECT project_id, spec, runtime, state, created_at FROM jobs, n WHERE jobs.id = 1;
             UPDATE jobs SET state = 'succeeded', exit_code = 0, started_at = created_at, finished_at = created_at;",
        )
        .unwrap();
    }
    let started = unix_micros();
    let session = Session::start(dir, &home_dir, "many");
    let first = session.wait_for_frame(|jobs, _| jobs > 0);
    let all = session.wait_for_frame(|jobs, _| jobs == 100_000);
    println!(
        "(c) workbench, 100,000 jobs: first frame with the job list {:.1} ms after starting tmux (goal < 100 ms); all 100,000 read after {:.1} ms",
        (first - started) as f64 / 1e3,
        (all - started) as f64 / 1e3
    );
    within(
        "workbench first frame, 100,000 jobs",
        (first - started) as f64 / 1e3,
        100.0,
    )
}

fn main() {
    let trials: usize = std::env::var("BENCH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let mut figures = vec![many_jobs(dir.path()), compare_screen(dir.path())];
    figures.extend(scheduling(dir.path(), trials));
    summary::record("sweep", &figures);
}
