//! Shared by the integration tests: a sandboxed mlbench home, the real binary, and the Docker
//! Engine check (a test that needs Docker fails under CI=true when it is missing, and is
//! skipped with a notice elsewhere).
#![allow(dead_code)] // each test binary uses its own part of this module
#![allow(unreachable_pub)] // a test binary has no API: `pub` shares a helper between its modules

pub mod engine_lab;
pub mod lab;
pub mod lab_host;
pub mod tmux;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const BUSYBOX: &str = "mlbench-test/busybox:1";

/// A tiny machine type so that memory limits are quick to hit.
/// And one with few processes, for the PIDs limit.
const TEST_CONFIG: &str = "stop_grace_secs = 10\n[machines.TINY]\ncpus = 0.5\nmemory = \"48MiB\"\n[machines.FEWPIDS]\ncpus = 0.5\nmemory = \"64MiB\"\npids = 24\n";

pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub runtime: &'static str,
    /// Where jobs' folders are: the home, or the config's storage_root.
    pub files: PathBuf,
    /// Set for every mlbench this sandbox runs (DOCKER_HOST of a swarm, say).
    pub env: Vec<(&'static str, String)>,
    /// A command that runs mlbench (`setpriv --reuid …` to run it as another user); none: it
    /// runs as this process.
    pub wrapper: Vec<String>,
}

impl Sandbox {
    pub fn new(runtime: &'static str) -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = dir.path().join("home");
        std::fs::write(dir.path().join("config.toml"), TEST_CONFIG).expect("config");
        Sandbox {
            dir,
            files: home.clone(),
            home,
            runtime,
            env: Vec::new(),
            wrapper: Vec::new(),
        }
    }

    /// The test config with `keys` (top-level settings) before it and `tables` after it.
    pub fn configure(&self, keys: &str, tables: &str) {
        let text = format!("{keys}\n{TEST_CONFIG}\n{tables}");
        std::fs::write(self.dir.path().join("config.toml"), text).expect("config");
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mlbench = env!("CARGO_BIN_EXE_mlbench");
        let mut cmd = match self.wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut cmd = Command::new(program);
                cmd.args(wrapper_args).arg(mlbench);
                cmd
            }
            None => Command::new(mlbench),
        };
        cmd.args(args)
            .env("MLBENCH_HOME", &self.home)
            .env("MLBENCH_CONFIG", self.dir.path().join("config.toml"))
            .env("MLBENCH_RUNTIME", self.runtime)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run mlbench")
    }

    /// Runs mlbench and insists that it succeeds; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "mlbench {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A folder with the given files, usable as `--repo`.
    pub fn folder(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.dir.path().join(name);
        for (path, text) in files {
            let file = dir.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    pub fn jobs(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["jobs", "--json"])).expect("jobs json")
    }

    pub fn job(&self, id: i64) -> serde_json::Value {
        self.jobs()
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == id)
            .cloned()
            .expect("job listed")
    }

    pub fn wait_for_state(
        &self,
        id: i64,
        done: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let job = self.job(id);
            if done(job["state"].as_str().unwrap()) {
                return job;
            }
            assert!(Instant::now() < deadline, "job {id} stayed {}", job["state"]);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The job's log records as (stream, text).
    pub fn log_records(&self, id: i64) -> Vec<(char, String)> {
        let text = std::fs::read_to_string(self.files.join(format!("jobs/{id}/output.log"))).unwrap();
        text.lines()
            .map(|l| (l.as_bytes()[31] as char, l.get(33..).unwrap_or("").to_string()))
            .collect()
    }

    /// Kills the job's supervisor with SIGKILL, as a crash would; returns its pid.
    pub fn kill_supervisor(&self, job: i64) -> i64 {
        let pid = self.job(job)["supervisor_pid"].as_i64().expect("supervisor pid");
        let killed = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success(), "cannot kill supervisor {pid}");
        pid
    }

    /// The ids of every container of this sandbox's home, running or not.
    pub fn containers(&self) -> Vec<String> {
        if !self.home.exists() {
            return Vec::new();
        }
        let label = mlbench_store::Home::at(self.home.clone()).unwrap().label();
        let ids = Command::new("docker")
            .args(["ps", "-aq", "--filter", &format!("label=mlbench.home={label}")])
            .output();
        ids.map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
    }
}

impl Drop for Sandbox {
    /// No test leaves jobs, processes or containers behind, whatever it asserted.
    fn drop(&mut self) {
        // Sweeps first, so that no driver starts a trial after the jobs are stopped.
        if let Ok(out) = self.cmd(&["sweeps", "--json"]).output()
            && let Ok(serde_json::Value::Array(sweeps)) = serde_json::from_slice(&out.stdout)
        {
            for sweep in sweeps.iter().filter(|s| s["state"] == "running") {
                let id = sweep["sweep"].to_string();
                let _ = self.cmd(&["sweep", "stop", &id, "--grace", "1"]).output();
            }
        }
        if let Ok(out) = self.cmd(&["jobs", "--json"]).output()
            && let Ok(serde_json::Value::Array(jobs)) = serde_json::from_slice(&out.stdout)
        {
            for job in jobs
                .iter()
                .filter(|j| matches!(j["state"].as_str(), Some("queued" | "preparing" | "running")))
            {
                let id = job["id"].to_string();
                let _ = self.cmd(&["stop", &id, "--grace", "1"]).output();
            }
        }
        for id in self.containers() {
            let _ = Command::new("docker").args(["rm", "-f", "-v", &id]).output();
        }
        // The SSH links to remote engines this home's mlbench kept.
        if let Ok(engines) = std::fs::read_dir(self.home.join("engines")) {
            for control in engines.flatten().map(|e| e.path().join("ssh.ctl")) {
                if control.exists() {
                    let _ = Command::new("ssh")
                        .arg("-S")
                        .arg(&control)
                        .args(["-O", "exit", "engine"])
                        .output();
                }
            }
        }
    }
}

/// True when a Docker Engine answers. Without one: under CI=true the test fails, elsewhere it
/// prints a notice and the caller skips.
pub fn docker_available(test: &str) -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    let available = *AVAILABLE.get_or_init(|| {
        Command::new("docker")
            .args(["version", "--format", "{{.Server.Version}}"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !available {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: no Docker Engine answers, and CI=true needs one"
        );
        eprintln!("skipped {test}: no Docker Engine answers here");
    }
    available
}

/// A Docker sandbox with the busybox image and a project `p`; `None` (the test skips) when no
/// Docker Engine answers outside CI.
pub fn docker_sandbox(test: &str) -> Option<Sandbox> {
    if !docker_available(test) {
        return None;
    }
    let sandbox = Sandbox::new("docker");
    busybox_image(&sandbox);
    sandbox.ok(&["project", "create", "p"]);
    Some(sandbox)
}

/// Builds the busybox test image once per test binary (no registry: `FROM scratch` plus the
/// static busybox from Debian's busybox-static).
pub fn busybox_image(sandbox: &Sandbox) {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let busybox = Path::new("/bin/busybox");
        assert!(busybox.exists(), "the Docker tests need /bin/busybox: apt-get install busybox-static");
        let dir = sandbox.folder(
            "busybox-context",
            &[("Dockerfile", "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n")],
        );
        std::fs::copy(busybox, dir.join("busybox")).unwrap();
        sandbox.ok(&["images", "build", "--repo", dir.to_str().unwrap(), "-t", BUSYBOX]);
    });
}

/// True when `program` runs (asked for its version with `version_flag`). Without it: under
/// CI=true the test fails, elsewhere it prints a notice and the caller skips.
pub fn tool_available(program: &str, version_flag: &str, test: &str) -> bool {
    let available = Command::new(program)
        .arg(version_flag)
        .output()
        .is_ok_and(|o| o.status.success() || !o.stdout.is_empty() || !o.stderr.is_empty());
    if !available {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: {program} is missing, and CI=true needs it"
        );
        eprintln!("skipped {test}: {program} is not installed");
    }
    available
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
