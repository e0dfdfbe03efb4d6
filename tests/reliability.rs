//! Hostile cases: what a job leaves in the folders it can write (links, FIFOs, device nodes,
//! files swapped under mlbench's feet) must not make mlbench read, write or wait on anything of
//! the host's. Each test plants what a hostile job would and runs the real binary.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Sandbox;

/// Runs mlbench with a deadline: a command that waits on a planted FIFO fails the test instead
/// of hanging it.
fn run_within(s: &Sandbox, args: &[&str], limit: Duration) -> Output {
    let mut child = s
        .cmd(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("mlbench {args:?} still ran after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The one-line refusal of a command that must fail.
fn refused(s: &Sandbox, args: &[&str]) -> String {
    let out = run_within(s, args, Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{args:?} was accepted: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

/// A project `p` whose storage holds a trained model `salary` (version 1).
fn project_with_model() -> (Sandbox, PathBuf) {
    let s = Sandbox::new("local");
    s.ok(&["project", "create", "p"]);
    let storage = s.home.join("projects/p/storage");
    let sal = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sal.csv");
    let model = storage.join("salary");
    s.ok(&[
        "train",
        "-i",
        sal.to_str().unwrap(),
        "-o",
        model.to_str().unwrap(),
    ]);
    (s, storage)
}

fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(made.success());
}

#[test]
fn a_job_cannot_make_mlbench_write_through_links_it_plants_in_storage() {
    let (s, storage) = project_with_model();
    let outside = s.dir.path().join("host");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("salary"), "host file").unwrap();
    // `pins` is where deploy writes the deployment's pin: a job links it to a host folder.
    symlink(&outside, storage.join("salary/pins")).unwrap();
    let port = common::free_port().to_string();
    let mapping = format!("127.0.0.1:{port}:8080");
    let deploy = [
        "deploy",
        "--project",
        "p",
        "--model",
        "salary",
        "--port",
        &mapping,
    ];
    let stderr = refused(&s, &deploy);
    assert!(stderr.contains("is a symbolic link"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(outside.join("salary")).unwrap(),
        "host file"
    );
    assert!(s.jobs().as_array().unwrap().is_empty(), "a replica was started");

    // A kept version linked out of the storage is not a version.
    std::fs::remove_file(storage.join("salary/pins")).unwrap();
    let versions = storage.join("salary/versions");
    std::fs::rename(versions.join("1"), outside.join("1")).unwrap();
    symlink(outside.join("1"), versions.join("1")).unwrap();
    let models: serde_json::Value = serde_json::from_str(&s.ok(&["models", "--json"])).unwrap();
    assert_eq!(models[0]["versions"], serde_json::json!([]), "{models}");
    let pinned = [&deploy[..], &["--version", "1"]].concat();
    let stderr = refused(&s, &pinned);
    assert!(stderr.contains("versions/1 is a symbolic link"), "{stderr}");
    assert!(!outside.join("1/pins").exists() && !storage.join("salary/pins").exists());
}

#[test]
fn storage_get_never_copies_a_host_file_a_job_swaps_in() {
    let s = Sandbox::new("local");
    s.ok(&["project", "create", "p"]);
    let storage = s.home.join("projects/p/storage");
    let secret = s.dir.path().join("secret");
    std::fs::write(&secret, "host secret").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The job: a regular file, then a link to the host's secret renamed over it, again and again.
    let swapper = {
        let (storage, secret, stop) = (storage.clone(), secret.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut round = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let file = storage.join(format!("f.{round}"));
                let link = storage.join(format!("l.{round}"));
                std::fs::write(&file, "job data").unwrap();
                std::fs::rename(&file, storage.join("swap")).unwrap();
                symlink(&secret, &link).unwrap();
                std::fs::rename(&link, storage.join("swap")).unwrap();
                round += 1;
            }
        })
    };
    let (mut copied, mut tries) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(8);
    while Instant::now() < deadline || tries < 100 {
        let dest = s.dir.path().join(format!("got.{tries}"));
        let out = s.run(&["storage", "get", "p", "swap", "-o", dest.to_str().unwrap()]);
        if out.status.success() {
            let got = std::fs::read_to_string(&dest).unwrap();
            assert_eq!(got, "job data", "try {tries} copied the host's file");
            copied += 1;
        } else {
            assert!(!dest.exists(), "a refused copy left {}", dest.display());
        }
        tries += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    swapper.join().unwrap();
    eprintln!("{copied} of {tries} copies got the job's file; none the host's");
}

#[test]
fn special_files_a_job_leaves_are_refused_not_waited_on() {
    let (s, storage) = project_with_model();
    mkfifo(&storage.join("fifo"));
    std::fs::create_dir_all(storage.join("zero")).unwrap();
    symlink("/dev/zero", storage.join("zero/model.json")).unwrap();
    // The current model itself made a FIFO: reading it would wait for a writer for good.
    std::fs::remove_file(storage.join("salary/model.json")).unwrap();
    mkfifo(&storage.join("salary/model.json"));

    let stderr = refused(&s, &["storage", "get", "p", "fifo", "-o", "/dev/null/x"]);
    assert!(stderr.contains("is a FIFO, not a regular file"), "{stderr}");
    let listed = s.ok(&["storage", "ls", "p"]);
    assert!(listed.contains("/storage/fifo (a FIFO, not read)"), "{listed}");
    let models = run_within(&s, &["models", "--json"], Duration::from_secs(20));
    assert!(models.status.success());
    let models: serde_json::Value = serde_json::from_slice(&models.stdout).unwrap();
    assert_eq!(models.as_array().unwrap().len(), 1, "{models}");
    assert_eq!(models[0]["name"], "salary");
    assert_eq!(models[0]["current"], serde_json::Value::Null, "{models}");
    let port = common::free_port().to_string();
    let mapping = format!("127.0.0.1:{port}:8080");
    for model in ["zero", "salary"] {
        let stderr = refused(
            &s,
            &["deploy", "--project", "p", "--model", model, "--port", &mapping],
        );
        assert!(
            stderr.contains("symbolic link") || stderr.contains("is a FIFO"),
            "{stderr}"
        );
    }

    // A FIFO in a repo folder is left out of the job's code, with a note; the run goes on.
    let repo = s.folder("code", &[("run.sh", "echo ran")]);
    mkfifo(&repo.join("pipe"));
    let out = run_within(
        &s,
        &[
            "run",
            "--project",
            "p",
            "--repo",
            repo.to_str().unwrap(),
            "-f",
            "--",
            "sh",
            "run.sh",
        ],
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("left out of the code: pipe"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("ran"));
}

/// Runs `mlbench ARGS` on a terminal of its own (util-linux's `script` gives it a pty) and
/// returns what the terminal received.
fn on_a_terminal(s: &Sandbox, args: &[&str]) -> String {
    let line = std::iter::once(env!("CARGO_BIN_EXE_mlbench"))
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let cmd = s.cmd(&[]);
    let out = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn escapes_a_job_prints_reach_a_terminal_shown_not_obeyed_and_a_pipe_unchanged() {
    if !common::tool_available("script", "--version", "escapes_a_job_prints_reach_a_terminal") {
        return;
    }
    let s = Sandbox::new("local");
    s.ok(&["project", "create", "p"]);
    let repo = s.folder("code", &[]);
    // The clipboard (OSC 52), the title (OSC 2), a clear screen, and a colour.
    let script = r"printf '\033]52;c;cHduZWQ=\007 \033]2;pwned\033\\ \033[2J \033[31mred\033[0m\n'";
    s.ok(&[
        "run",
        "--project",
        "p",
        "--repo",
        repo.to_str().unwrap(),
        "-f",
        "--",
        "sh",
        "-c",
        script,
    ]);
    let raw = "\x1b]52;c;cHduZWQ=\x07 \x1b]2;pwned\x1b\\ \x1b[2J \x1b[31mred\x1b[0m";
    let piped = s.ok(&["logs", "1"]);
    assert!(piped.contains(raw), "a pipe gets the job's bytes: {piped:?}");
    let seen = on_a_terminal(&s, &["logs", "1"]);
    assert!(
        seen.contains("^[]52;c;cHduZWQ=^G ^[]2;pwned^[\\ ^[[2J \x1b[31mred\x1b[0m"),
        "{seen:?}"
    );
    assert!(!seen.contains("\x1b]") && !seen.contains("\x07"), "{seen:?}");

    // A file name a job chose is printed the same way.
    let storage = s.home.join("projects/p/storage");
    std::fs::write(storage.join("\x1b]2;title\x07name"), "x").unwrap();
    let listed = on_a_terminal(&s, &["storage", "ls", "p"]);
    assert!(listed.contains("/storage/^[]2;title^Gname"), "{listed:?}");
}

/// The peak memory of a running process, from /proc.
fn peak_rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak memory for {pid}: {status}"));
    kib * 1024
}

/// A job that prints 60 MB without a newline: the supervisor writes it in pieces of the
/// configured size and `logs -f` prints it back whole, neither holding it (each stays under
/// 50 MB).
#[test]
fn a_line_without_end_is_kept_in_pieces_and_never_held_whole() {
    const LINE: u64 = 60_000_000;
    const MOST: u64 = 50 << 20;
    let s = Sandbox::new("local");
    s.configure("max_line_size = \"1MiB\"", "");
    s.ok(&["project", "create", "p"]);
    let repo = s.folder("code", &[]);
    let script = format!("head -c {LINE} /dev/zero | tr '\\0' a; sleep 5");
    s.ok(&[
        "run",
        "--project",
        "p",
        "--repo",
        repo.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &script,
    ]);
    let log = s.files.join("jobs/1/output.log");
    let deadline = Instant::now() + Duration::from_secs(60);
    // All but the last piece, which waits for the line's end (the job's, here).
    let most_of_it = LINE - (2 << 20);
    while std::fs::metadata(&log).map_or(0, |m| m.len()) < most_of_it {
        assert!(Instant::now() < deadline, "the job's line did not reach the log");
        std::thread::sleep(Duration::from_millis(50));
    }
    let job = s.job(1);
    let supervisor =
        u32::try_from(job["supervisor_pid"].as_i64().unwrap_or_else(|| panic!("{job}"))).unwrap();
    let held = peak_rss_bytes(supervisor);
    assert!(held < MOST, "the supervisor held {held} bytes");

    let printed = s.dir.path().join("printed");
    let mut follow = s
        .cmd(&["logs", "-f", "1"])
        .stdout(std::fs::File::create(&printed).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while std::fs::metadata(&printed).map_or(0, |m| m.len()) < most_of_it {
        assert!(Instant::now() < deadline, "logs -f did not print the line");
        std::thread::sleep(Duration::from_millis(50));
    }
    let follower = peak_rss_bytes(follow.id());
    assert!(follow.wait().unwrap().success());
    assert!(follower < MOST, "logs -f held {follower} bytes");
    eprintln!("peak memory: supervisor {held} bytes, logs -f {follower} bytes");
    let text = std::fs::read(&printed).unwrap();
    assert_eq!(
        text.len() as u64,
        LINE + 1,
        "the line came back whole, with its newline"
    );
    assert!(text[..LINE as usize].iter().all(|b| *b == b'a') && text.ends_with(b"\n"));
    let records = std::fs::read(&log).unwrap();
    let cut = records
        .split(|b| *b == b'\n')
        .filter(|r| r.get(31) == Some(&b'O'))
        .count();
    assert_eq!(
        cut as u64,
        LINE / (1 << 20),
        "pieces of 1 MiB, each but the last marked cut"
    );
}

/// Whether this test process runs as root. Without root, under CI=true the test fails, elsewhere
/// it prints a notice and the caller skips.
fn root_available(test: &str) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: needs root, and CI=true needs it to run"
        );
        eprintln!("skipped {test}: needs root");
    }
    root
}

/// A small tmpfs mounted on a folder, unmounted when dropped (after the sandbox using it, when
/// made before it).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(at).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(at)
            .status()
            .unwrap();
        assert!(mounted.success(), "cannot mount a tmpfs on {}", at.display());
        SmallDisk(at.to_path_buf())
    }

    fn resize(&self, size: &str) {
        let done = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(done.success());
    }

    fn free_bytes(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.0)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .unwrap()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The home's disk fills while a job prints: the job goes on, `run` and `stop` say the disk is
/// full at once instead of hanging, `jobs` says why logs wait, and once there is room again the
/// log goes on from Docker's copy with every line once, in order, and the end is recorded.
#[test]
fn a_full_disk_holds_a_log_back_and_loses_nothing() {
    const LINES: usize = 60_000;
    if !root_available("a_full_disk_holds_a_log_back_and_loses_nothing") {
        return;
    }
    let Some(probe) = common::docker_sandbox("a_full_disk_holds_a_log_back_and_loses_nothing") else {
        return;
    };
    drop(probe);
    let outer = tempfile::tempdir().unwrap();
    // Made before the sandbox, so it is unmounted after the sandbox has stopped its jobs.
    let disk = SmallDisk::mount(&outer.path().join("disk"), "4m");
    let mut s = Sandbox::new("docker");
    s.home = disk.0.join("home");
    s.files = s.home.clone();
    s.ok(&["project", "create", "p"]);
    let repo = s.folder("code", &[]);
    // ~100 bytes a record: 60,000 lines are about 6 MB, more than the disk holds.
    let script = format!(
        "i=0; while [ $i -lt {LINES} ]; do i=$((i+1)); echo \"line $i ................................................\"; done; sleep 600"
    );
    let (image, repo) = (common::BUSYBOX, repo.to_str().unwrap());
    let run = [
        "run",
        "--project",
        "p",
        "--image",
        image,
        "--repo",
        repo,
        "--",
        "sh",
        "-c",
    ];
    s.ok(&[&run[..], &[script.as_str()]].concat());
    let deadline = Instant::now() + Duration::from_secs(120);
    while disk.free_bytes() > 64 << 10 {
        assert!(
            Instant::now() < deadline,
            "the disk did not fill: {} free",
            disk.free_bytes()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let refusal = refused(&s, &[&run[..], &["true"]].concat());
    assert!(refusal.contains("is full"), "{refusal}");
    let listed = run_within(&s, &["jobs"], Duration::from_secs(10));
    let said = String::from_utf8_lossy(&listed.stderr);
    assert!(
        said.contains("is full") && said.contains("logs wait for room"),
        "{said}"
    );
    let started = Instant::now();
    let stop = run_within(&s, &["stop", "1", "--grace", "1"], Duration::from_secs(10));
    let stop_said = String::from_utf8_lossy(&stop.stderr);
    assert!(
        !stop.status.success() && stop_said.contains("is full"),
        "{stop_said}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        started.elapsed()
    );

    disk.resize("32m");
    // The stop may or may not have been recorded before the disk was full: stop it now.
    s.ok(&["stop", "1", "--grace", "1"]);
    let job = s.wait_for_state(1, |st| st == "stopped", Duration::from_secs(60));
    assert!(job["trouble"].is_null(), "{job}");
    let records = s.log_records(1);
    let printed: Vec<&str> = records
        .iter()
        .filter(|(stream, _)| *stream == 'o')
        .map(|(_, text)| text.as_str())
        .collect();
    assert_eq!(printed.len(), LINES, "every line once");
    for (i, line) in printed.iter().enumerate() {
        assert!(
            line.starts_with(&format!("line {} ", i + 1)),
            "line {}: {line}",
            i + 1
        );
    }
    assert!(
        records
            .iter()
            .any(|(stream, text)| *stream == 'm' && text.starts_with("the disk was full from")),
        "the log says it waited"
    );
}

/// The Docker socket's group, so a user without root may still reach the engine.
fn docker_group() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/var/run/docker.sock").unwrap().gid()
}

/// mlbench run by a user without root (nobody, in the Docker socket's group), whose jobs' images
/// run as root: what they leave in the job's folder and in /storage is root's, and the overlay's
/// `work/work` is root's with mode 000. `jobs rm`, `gc`, `sweep rm` and `project rm` remove it
/// all through the engine, and never drop a row while its files remain.
#[test]
fn upkeep_as_a_user_removes_what_root_jobs_left() {
    const NOBODY: u32 = 65534;
    let test = "upkeep_as_a_user_removes_what_root_jobs_left";
    if !root_available(test) || !common::tool_available("setpriv", "--version", test) {
        return;
    }
    let Some(probe) = common::docker_sandbox(test) else {
        return;
    };
    drop(probe);
    let mut s = Sandbox::new("docker");
    let open = |path: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    open(s.dir.path());
    std::fs::create_dir_all(&s.home).unwrap();
    std::os::unix::fs::chown(&s.home, Some(NOBODY), Some(NOBODY)).unwrap();
    s.wrapper = [
        "setpriv",
        &format!("--reuid={NOBODY}"),
        &format!("--regid={NOBODY}"),
        &format!("--groups={}", docker_group()),
        "--",
    ]
    .map(str::to_string)
    .to_vec();
    s.ok(&["project", "create", "p"]);
    let repo = s.folder("code", &[("train.sh", "echo hi\n")]);
    open(&repo);
    let script = "mkdir -p /workspace/made/deep && echo x > /workspace/made/deep/f && chmod 700 /workspace/made && mkdir -p /storage/out && echo y > /storage/out/model && chmod 700 /storage/out";
    let (image, repo) = (common::BUSYBOX, repo.to_str().unwrap());
    let run = [
        "run",
        "--project",
        "p",
        "--image",
        image,
        "--repo",
        repo,
        "-f",
        "--",
        "sh",
        "-c",
        script,
    ];
    for _ in 0..3 {
        s.ok(&run);
    }
    let job_dir = |id: i64| s.files.join(format!("jobs/{id}"));
    // What a job left is root's: this user could not remove it alone.
    let left = job_dir(1).join("changes/made");
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&left).unwrap());
    assert_eq!(owner, 0, "{} is not root's", left.display());

    s.ok(&["jobs", "rm", "1"]);
    assert!(!job_dir(1).exists(), "jobs rm left {}", job_dir(1).display());
    assert!(s.jobs().as_array().unwrap().iter().all(|j| j["id"] != 1));

    let freed = s.ok(&["gc", "--older-than", "0"]);
    assert!(!job_dir(2).exists(), "gc left {}: {freed}", job_dir(2).display());
    assert!(!s.job(2)["cleaned_at"].is_null(), "gc marks what it cleaned");
    assert!(job_dir(3).exists() || !s.job(3)["cleaned_at"].is_null());

    s.ok(&["project", "rm", "p", "--yes"]);
    assert!(
        !s.files.join("projects/p").exists(),
        "project rm left the storage"
    );
    assert!(s.jobs().as_array().unwrap().is_empty());
    assert!(s.containers().is_empty(), "a helper was left behind");
}
