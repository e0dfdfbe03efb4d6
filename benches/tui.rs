//! Workbench benchmark, the real binary in tmux: time to the first frame showing 10,000 jobs;
//! key-press-to-frame latency while following a job that prints about 100,000 lines/s; memory
//! after following 5 million lines; a filter over that 5M-line log (time to its first screen,
//! memory after it has counted the whole file); CPU when idle; CPU while reading the CPU and
//! memory of 20 running Docker jobs. The workbench writes its frame times to
//! `MLBENCH_FRAME_LOG`; jobs run as local processes (Docker ones for the last figure) so the
//! numbers are the workbench's own.
//!
//! Run: `cargo bench --bench tui` (needs tmux; the last figure needs a Docker Engine and
//! busybox-static, and is skipped with a notice without them).

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/summary.rs"]
mod summary;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mlbench_domain::{JobKind, JobSpec, RuntimeKind, Source};
use mlbench_store::{Home, Store};

struct Session {
    socket: PathBuf,
    frames: PathBuf,
}

impl Session {
    fn start(dir: &Path, home: &Path, name: &str) -> Session {
        Session::start_with(dir, home, name, "local")
    }

    fn start_with(dir: &Path, home: &Path, name: &str, runtime: &str) -> Session {
        let socket = dir.join(format!("{name}.sock"));
        let frames = dir.join(format!("{name}.frames"));
        let command = format!(
            "cd {} && env MLBENCH_HOME={} MLBENCH_RUNTIME={runtime} MLBENCH_CONFIG={} MLBENCH_FRAME_LOG={} {}; sleep 60",
            dir.display(),
            home.display(),
            dir.join("config.toml").display(),
            frames.display(),
            env!("CARGO_BIN_EXE_mlbench")
        );
        let ok = Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args(["new-session", "-d", "-x", "120", "-y", "40", &command])
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
            .args(["send-keys"])
            .args(keys)
            .status()
            .unwrap();
    }

    /// (Unix µs, jobs shown, key latency µs) of every frame so far.
    fn frames(&self) -> Vec<(u128, usize, Option<u128>)> {
        let text = std::fs::read_to_string(&self.frames).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let mut parts = l.split(' ');
                Some((
                    parts.next()?.parse().ok()?,
                    parts.next()?.parse().ok()?,
                    parts.next()?.parse().ok(),
                ))
            })
            .collect()
    }

    fn wait_for_frame(
        &self,
        done: impl Fn(&(u128, usize, Option<u128>)) -> bool,
    ) -> (u128, usize, Option<u128>) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(frame) = self.frames().into_iter().find(&done) {
                return frame;
            }
            assert!(Instant::now() < deadline, "the awaited frame never came");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["capture-pane", "-p"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// How long until the screen shows `text`, polled every 2 ms.
    fn time_until(&self, text: &str, since: Instant) -> Duration {
        let deadline = since + Duration::from_secs(60);
        loop {
            if self.screen().contains(text) {
                return since.elapsed();
            }
            assert!(Instant::now() < deadline, "{text:?} never showed");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The workbench's process: the pane's shell runs it as its child.
    fn pid(&self) -> u32 {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["list-panes", "-F", "#{pane_pid}"])
            .output()
            .unwrap();
        let shell: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        let children =
            std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).unwrap_or_default();
        children
            .split_whitespace()
            .find_map(|c| c.parse().ok())
            .unwrap_or(shell)
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

fn unix_micros() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros()
}

fn spec(command: &[&str], repo: &Path) -> JobSpec {
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
        command: command.iter().map(std::string::ToString::to_string).collect(),
        env: vec![],
        ports: vec![],
        placement: Vec::new(),
        engine: mlbench_domain::LOCAL_ENGINE.into(),
    }
}

fn mlbench(home: &Path, args: &[&str]) -> String {
    mlbench_on(home, "local", args)
}

fn mlbench_on(home: &Path, runtime: &str, args: &[&str]) -> String {
    let config = home.parent().unwrap().join("config.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_mlbench"))
        .args(args)
        .env("MLBENCH_HOME", home)
        .env("MLBENCH_RUNTIME", runtime)
        .env("MLBENCH_CONFIG", config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    fields.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// The CPU share of a core the workbench uses while 20 Docker jobs run (it reads their CPU and
/// memory each second), and the engine's own share meanwhile; None without Docker or busybox.
fn cpu_with_20_docker_jobs(dir: &Path, repo: &Path) -> Option<(f64, f64)> {
    let docker = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    let busybox = Path::new("/bin/busybox");
    if !docker || !busybox.exists() {
        println!("skipped: CPU with 20 Docker jobs needs a Docker Engine and busybox-static");
        return None;
    }
    let context = dir.join("busybox-context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::copy(busybox, context.join("busybox")).unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    )
    .unwrap();
    let image = "mlbench-bench/busybox:1";
    let built = Command::new("docker")
        .args(["build", "-q", "-t", image])
        .arg(&context)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let home = dir.join("docker-jobs");
    mlbench_on(&home, "docker", &["project", "create", "bench"]);
    let repo = repo.to_str().unwrap();
    for _ in 0..20 {
        mlbench_on(
            &home,
            "docker",
            &[
                "run",
                "--project",
                "bench",
                "--machine",
                "MICRO",
                "--image",
                image,
                "--repo",
                repo,
                "--",
                "sleep",
                "600",
            ],
        );
    }
    let session = Session::start_with(dir, &home, "docker-jobs", "docker");
    session.wait_for_frame(|f| f.1 == 20);
    std::thread::sleep(Duration::from_secs(3));
    let pid = session.pid();
    let dockerd: u32 =
        String::from_utf8_lossy(&Command::new("pidof").arg("dockerd").output().unwrap().stdout)
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
    let (ticks, engine_ticks) = (cpu_ticks(pid), cpu_ticks(dockerd));
    std::thread::sleep(Duration::from_secs(10));
    let share = (cpu_ticks(pid) - ticks) as f64 / 10.0;
    let engine_share = (cpu_ticks(dockerd) - engine_ticks) as f64 / 10.0;
    drop(session);
    let label = format!("mlbench.home={}", Home::at(home).unwrap().label());
    let ids = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label={label}")])
        .output()
        .unwrap();
    let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
        .split_whitespace()
        .map(String::from)
        .collect();
    if !ids.is_empty() {
        let _ = Command::new("docker").args(["rm", "-f"]).args(&ids).output();
    }
    Some((share, engine_share))
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    // MICRO: twenty of them fit beside each other on two cores.
    std::fs::write(
        dir.path().join("config.toml"),
        "[machines.MICRO]\ncpus = 0.05\nmemory = \"16MiB\"\n",
    )
    .unwrap();

    // 1. First frame with 10,000 finished jobs in the store.
    let many = dir.path().join("many");
    {
        let home = Home::at(many.clone()).unwrap();
        let store = Store::open(&home).unwrap();
        store.create_project("bench").unwrap();
        for _ in 0..10_000 {
            store
                .insert_job(&spec(&["true"], &repo), RuntimeKind::Local, None)
                .unwrap();
        }
        let db = rusqlite::Connection::open(home.db_path()).unwrap();
        db.execute("UPDATE jobs SET state = 'succeeded', exit_code = 0, started_at = created_at, finished_at = created_at", []).unwrap();
    }
    let started = unix_micros();
    let session = Session::start(dir.path(), &many, "many");
    let frame = session.wait_for_frame(|f| f.1 == 10_000);
    let first_frame_ms = (frame.0 - started) as f64 / 1e3;
    drop(session);

    // 2. Keys while a job prints about 100,000 lines/s.
    let busy = dir.path().join("busy");
    mlbench(&busy, &["project", "create", "bench"]);
    let repo_arg = repo.to_str().unwrap();
    let id = mlbench(
        &busy,
        &[
            "run",
            "--project",
            "bench",
            "--repo",
            repo_arg,
            "--",
            "sh",
            "-c",
            "while :; do seq 10000; sleep 0.1; done",
        ],
    );
    let id = id.trim().to_string();
    let session = Session::start(dir.path(), &busy, "busy");
    session.wait_for_frame(|f| f.1 == 1);
    session.keys(&["Enter"]);
    std::thread::sleep(Duration::from_secs(1));
    let log = busy.join(format!("jobs/{id}/output.log"));
    let lines_before = std::fs::read(&log).map_or(0, |b| b.iter().filter(|c| **c == b'\n').count());
    let measured_from = Instant::now();
    for i in 0..200 {
        session.keys(&[if i % 2 == 0 { "k" } else { "j" }]);
        std::thread::sleep(Duration::from_millis(25));
    }
    std::thread::sleep(Duration::from_millis(300));
    let lines_after = std::fs::read(&log).map_or(0, |b| b.iter().filter(|c| **c == b'\n').count());
    let rate = (lines_after - lines_before) as f64 / measured_from.elapsed().as_secs_f64();
    let mut latencies: Vec<u128> = session.frames().into_iter().filter_map(|f| f.2).collect();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(f64::NAN, |v| *v as f64 / 1e3)
    };
    mlbench(&busy, &["stop", &id, "--grace", "1"]);
    drop(session);

    // 3. Memory after following 5 million lines, and 4. CPU when idle.
    let big = dir.path().join("big");
    mlbench(&big, &["project", "create", "bench"]);
    let id = mlbench(
        &big,
        &[
            "run",
            "--project",
            "bench",
            "--repo",
            repo_arg,
            "--",
            "seq",
            "5000000",
        ],
    );
    let session = Session::start(dir.path(), &big, "big");
    session.wait_for_frame(|f| f.1 == 1);
    session.keys(&["Enter"]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !mlbench(&big, &["jobs"]).contains("succeeded") {
        assert!(Instant::now() < deadline, "the 5M-line job did not end");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2)); // the view catches up with the file
    let pid = session.pid();
    let memory = rss_mb(pid);
    // A filter over the whole 5M-line file: its last match (4912345) is 87,655 lines from the
    // end, so no unfiltered screen shows it.
    session.keys(&["f"]);
    session.keys(&["12345"]);
    std::thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    session.keys(&["Enter"]);
    let filter_first_screen_ms = session.time_until("4912345", asked).as_secs_f64() * 1e3;
    session.time_until("filter 12345: ", asked);
    let counted = session.time_until(" lines ", asked).as_secs_f64() * 1e3;
    let filter_memory = rss_mb(pid);
    session.keys(&["Escape"]);
    std::thread::sleep(Duration::from_secs(1));
    let ticks_before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(10));
    let idle_percent = (cpu_ticks(pid) - ticks_before) as f64 / 10.0; // 100 ticks a second
    let _ = id;
    drop(session);

    // 5. CPU while reading the use of 20 running Docker jobs.
    let docker_jobs = cpu_with_20_docker_jobs(dir.path(), &repo);

    println!("workbench (mlbench in tmux, 120x40)");
    println!("    first frame with 10,000 jobs        {first_frame_ms:>8.1} ms (goal < 100 ms)");
    println!(
        "    key → frame while following a job at {:.0} lines/s: p50 {:.1} ms, p99 {:.1} ms over {} keys (goal p99 < 50 ms)",
        rate,
        percentile(0.5),
        percentile(0.99),
        latencies.len()
    );
    println!("    memory after following 5M lines     {memory:>8.1} MB (goal < 100 MB)");
    println!(
        "    filter over the 5M-line log: first screen {filter_first_screen_ms:.1} ms (goal < 200 ms), whole file counted in {counted:.0} ms, memory then {filter_memory:.1} MB (goal < 100 MB)"
    );
    println!("    CPU when idle                       {idle_percent:>8.2} % of a core (goal < 1 %)");
    if let Some((share, engine_share)) = docker_jobs {
        println!(
            "    CPU with 20 Docker jobs' use read each second: {share:.2} % of a core (goal < 2 %); the engine meanwhile: {engine_share:.2} %"
        );
    }
    let within = |name: &str, value: f64, unit: &str, goal: f64| {
        summary::Figure::new(
            name,
            format!("{value:.1} {unit}"),
            format!("goal {goal} {unit}"),
            value / goal,
            summary::Goal::AtMost(1.0),
        )
    };
    summary::record(
        "tui",
        &[
            within("first frame, 10,000 jobs", first_frame_ms, "ms", 100.0),
            within("key to frame p99 while following", percentile(0.99), "ms", 50.0),
            within("memory after following 5M lines", memory, "MB", 100.0),
            within("CPU when idle", idle_percent, "% of a core", 1.0),
            within(
                "filter of 5M lines, first screen",
                filter_first_screen_ms,
                "ms",
                200.0,
            ),
            within("memory after filtering 5M lines", filter_memory, "MB", 100.0),
        ]
        .into_iter()
        .chain(
            docker_jobs
                .map(|(share, _)| within("CPU with 20 Docker jobs' use read", share, "% of a core", 2.0)),
        )
        .collect::<Vec<_>>(),
    );
}
