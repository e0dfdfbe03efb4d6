//! The job engine against the real Docker Engine.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{BUSYBOX, Sandbox, docker_sandbox, free_port};

fn run_args<'a>(repo: &'a str, extra: &[&'a str], command: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "--project", "p", "--image", BUSYBOX, "--repo", repo];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(command);
    args
}

#[test]
fn a_failing_job_keeps_every_line_of_both_streams_in_order() {
    let Some(s) = docker_sandbox("a_failing_job_keeps_every_line_of_both_streams_in_order") else {
        return;
    };
    let repo = s.folder("code", &[]);
    let script = "seq 100000 | sed 's/^/out /'; seq 100000 | sed 's/^/err /' >&2; exit 3";
    let out = s.run(&run_args(repo.to_str().unwrap(), &["-f"], &["sh", "-c", script]));
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job = s.job(1);
    assert_eq!(
        (job["state"].as_str(), job["exit_code"].as_i64()),
        (Some("failed"), Some(3))
    );

    let records = s.log_records(1);
    let stdout: Vec<&str> = records
        .iter()
        .filter(|r| r.0 == 'o')
        .map(|r| r.1.as_str())
        .collect();
    let stderr: Vec<&str> = records
        .iter()
        .filter(|r| r.0 == 'e')
        .map(|r| r.1.as_str())
        .collect();
    assert_eq!(stdout.len(), 100_000);
    assert_eq!(stderr.len(), 100_000);
    for (i, (o, e)) in stdout.iter().zip(&stderr).enumerate() {
        assert_eq!(*o, format!("out {}", i + 1));
        assert_eq!(*e, format!("err {}", i + 1));
    }
    // `logs` gives each stream back on its own descriptor.
    let logs = s.run(&["logs", "1", "--tail", "3"]);
    let (o, e) = (
        String::from_utf8_lossy(&logs.stdout),
        String::from_utf8_lossy(&logs.stderr),
    );
    // Docker's two stream copiers may interleave the ends of the streams either way.
    let last: Vec<&(char, String)> = records.iter().rev().take(3).collect();
    let expect = |stream: char| {
        last.iter()
            .rev()
            .filter(|r| r.0 == stream)
            .map(|r| r.1.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(o.lines().collect::<Vec<_>>(), expect('o'));
    assert_eq!(e.lines().collect::<Vec<_>>(), expect('e'));
    // Into files, `logs` gives exactly what the job printed, stream by stream, byte for byte:
    // mlbench's own notes (it ran in a container, it ended) only with --notes.
    let whole = s.run(&["logs", "1"]);
    let printed = |stream: &str| {
        (1..=100_000)
            .map(|i| format!("{stream} {i}\n"))
            .collect::<String>()
    };
    assert!(
        whole.stdout == printed("out").as_bytes(),
        "stdout differs from what the job printed"
    );
    assert!(
        whole.stderr == printed("err").as_bytes(),
        "stderr differs from what the job printed: {:?}",
        String::from_utf8_lossy(&whole.stderr[..whole.stderr.len().min(200)])
    );
    let noted = s.run(&["logs", "1", "--notes"]);
    assert_eq!(noted.stdout, whole.stdout);
    assert!(String::from_utf8_lossy(&noted.stderr).contains("[mlbench] "));
    // Finished containers are removed; their logs are kept.
    assert!(s.home.join("jobs/1/output.log").exists());
}

#[test]
fn a_queued_docker_job_says_why_it_waits_once() {
    let Some(s) = docker_sandbox("a_queued_docker_job_says_why_it_waits_once") else {
        return;
    };
    let cpus = std::thread::available_parallelism().unwrap().get();
    s.configure(
        "",
        &format!("[machines.HOST]\ncpus = {cpus}\nmemory = \"64MiB\"\n[machines.ONE]\ncpus = 1\nmemory = \"64MiB\"\n"),
    );
    let repo = s.folder("code", &[]);
    let repo = repo.to_str().unwrap();
    s.ok(&run_args(repo, &["--machine", "HOST"], &["sleep", "600"]));
    s.ok(&run_args(repo, &["--machine", "ONE"], &["true"]));
    // The submit that launches Docker jobs looks first, then the job's supervisor: the reason
    // is written once, not by each.
    std::thread::sleep(Duration::from_millis(1500));
    let notes: Vec<String> = s
        .log_records(2)
        .into_iter()
        .filter(|r| r.1.starts_with("queued: "))
        .map(|r| r.1)
        .collect();
    assert_eq!(
        notes,
        [format!("queued: waits for 1 vCPU: 0 free, job 1 holds {cpus}")]
    );
    s.ok(&["stop", "1", "--grace", "1"]);
    s.wait_for_state(2, |state| state == "succeeded", Duration::from_secs(30));
}

/// A user's image keeps its own user unless the config's run_as names another.
#[test]
fn run_as_in_the_config_chooses_the_user_of_a_users_image() {
    let Some(s) = docker_sandbox("run_as_in_the_config_chooses_the_user_of_a_users_image") else {
        return;
    };
    let repo = s.folder("code", &[]);
    let command = ["sh", "-c", "echo $(id -u):$(id -g)"];
    s.ok(&run_args(repo.to_str().unwrap(), &["-f"], &command));
    let config = s.dir.path().join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.insert_str(0, "run_as = \"1234:5678\"\n");
    std::fs::write(&config, text).unwrap();
    s.ok(&run_args(repo.to_str().unwrap(), &["-f"], &command));
    assert_eq!(
        s.log_records(1).last().unwrap().1,
        "0:0",
        "the image's own user is root"
    );
    assert_eq!(s.log_records(2).last().unwrap().1, "1234:5678");
}

/// Jobs get no new privileges, and a fork bomb stops at the machine type's PIDs limit (24 for
/// FEWPIDS), not at the host's: the job ends and the host goes on.
#[test]
fn a_job_cannot_gain_privileges_and_a_fork_bomb_stops_at_the_pids_limit() {
    let Some(s) = docker_sandbox("a_job_cannot_gain_privileges_and_a_fork_bomb_stops_at_the_pids_limit")
    else {
        return;
    };
    let repo = s.folder("code", &[]);
    let script = "grep NoNewPrivs /proc/self/status; \
        n=0; for i in $(seq 100); do sleep 2 & n=$((n+1)); done; wait; echo asked for $n";
    let out = s.run(&run_args(
        repo.to_str().unwrap(),
        &["--machine", "FEWPIDS", "-f"],
        &["sh", "-c", script],
    ));
    let records = s.log_records(1);
    let text: Vec<&str> = records.iter().map(|r| r.1.as_str()).collect();
    assert!(
        text.iter().any(|l| l.split_whitespace().eq(["NoNewPrivs:", "1"])),
        "{text:?}"
    );
    assert!(text.iter().any(|l| l.contains("can't fork")), "{text:?}");
    assert!(
        !text.contains(&"asked for 100"),
        "100 processes started: {text:?}"
    );
    assert!(s.job(1)["state"].as_str().is_some(), "{out:?}");
    // The host is fine: mlbench itself still starts processes.
    s.ok(&["jobs"]);
}

#[test]
fn a_job_over_its_memory_limit_is_oom_killed() {
    let Some(s) = docker_sandbox("a_job_over_its_memory_limit_is_oom_killed") else {
        return;
    };
    let repo = s.folder("code", &[]);
    let script = "x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo survived";
    let out = s.run(&run_args(
        repo.to_str().unwrap(),
        &["--machine", "TINY", "-f"],
        &["sh", "-c", script],
    ));
    assert!(!out.status.success());
    let job = s.job(1);
    assert_eq!(job["state"], "oom-killed", "{job}");
    assert!(!s.log_records(1).iter().any(|r| r.1 == "survived"));
}

#[test]
fn a_job_whose_child_was_oom_killed_but_which_exits_0_succeeded_with_a_note() {
    let Some(s) = docker_sandbox("a_job_whose_child_was_oom_killed_but_which_exits_0_succeeded_with_a_note")
    else {
        return;
    };
    let repo = s.folder("code", &[]);
    // The child (sort, holding one 300 MB line) is killed; the job's own shell goes on.
    let script = "head -c 300000000 /dev/zero | sort > /dev/null; echo survived; exit 0";
    let out = s.run(&run_args(
        repo.to_str().unwrap(),
        &["--machine", "TINY", "-f"],
        &["sh", "-c", script],
    ));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let job = s.job(1);
    assert_eq!(
        (job["state"].as_str(), job["exit_code"].as_i64()),
        (Some("succeeded"), Some(0)),
        "{job}"
    );
    let records = s.log_records(1);
    assert!(records.iter().any(|r| r.1 == "survived"), "{records:?}");
    assert!(
        records.iter().any(|r| r.0 == 'm'
            && r.1
                .contains("a process in the job was killed for using more memory")),
        "{records:?}"
    );
}

/// A job given no command runs its image's own CMD; a Dockerfile build adds no step of
/// mlbench's to the user's image; `run -f` says the build, where it started, then the output,
/// in that order.
#[test]
fn a_dockerfile_job_without_a_command_runs_the_images_cmd_in_order() {
    let Some(s) = docker_sandbox("a_dockerfile_job_without_a_command_runs_the_images_cmd_in_order") else {
        return;
    };
    let tag = format!("mlbench-test/own-cmd:{}", std::process::id());
    let dockerfile = format!("FROM {BUSYBOX}\nCMD [\"sh\", \"-c\", \"echo from-the-cmd\"]\n");
    let repo = s.folder("code", &[("Dockerfile", dockerfile.as_str())]);
    let out = s.run(&[
        "run",
        "--project",
        "p",
        "--dockerfile",
        "Dockerfile",
        "--image",
        &tag,
        "--repo",
        repo.to_str().unwrap(),
        "-f",
        "--notes",
    ]);
    let labels = Command::new("docker")
        .args(["image", "inspect", "--format", "{{json .Config.Labels}}", &tag])
        .output()
        .unwrap();
    let _ = Command::new("docker").args(["rmi", "-f", &tag]).output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-the-cmd\n");
    let at = |text: &str| {
        stderr
            .find(text)
            .unwrap_or_else(|| panic!("no {text:?} in {stderr}"))
    };
    assert!(at("building image") < at("Step 2/2 : CMD"), "{stderr}");
    assert!(
        at("Step 2/2 : CMD") < at("[mlbench] running in container"),
        "{stderr}"
    );
    assert!(!stderr.contains("LABEL"), "mlbench added build steps: {stderr}");
    assert_eq!(String::from_utf8_lossy(&labels.stdout).trim(), "null");
    assert!(s.ok(&["jobs"]).contains("(the image's own command)"));

    // An image without a CMD is refused before anything is stored.
    let refused = s.run(&[
        "run",
        "--project",
        "p",
        "--image",
        BUSYBOX,
        "--repo",
        repo.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "image {BUSYBOX} has no CMD or ENTRYPOINT: give the command after `--`"
        )),
        "{stderr}"
    );
    assert_eq!(s.jobs().as_array().unwrap().len(), 1);
}

/// `mlbench top` reads a running container's CPU (held to its machine type's share) and memory
/// from the engine.
#[test]
fn top_shows_a_jobs_cpu_against_its_limit() {
    let Some(s) = docker_sandbox("top_shows_a_jobs_cpu_against_its_limit") else {
        return;
    };
    let repo = s.folder("code", &[]);
    s.ok(&run_args(
        repo.to_str().unwrap(),
        &["--machine", "TINY"],
        &["sh", "-c", "while :; do :; done"],
    ));
    std::thread::sleep(Duration::from_millis(500));
    let top: serde_json::Value = serde_json::from_str(&s.ok(&["top", "--json"])).unwrap();
    let job = &top[0];
    assert_eq!(
        (job["job"].as_i64(), job["machine"].as_str()),
        (Some(1), Some("TINY")),
        "{top}"
    );
    let cpus = job["cpus"].as_f64().unwrap();
    // TINY has half a vCPU: a busy loop uses about that, never much more.
    assert!((0.2..0.7).contains(&cpus), "{top}");
    assert_eq!(job["memory_limit"].as_u64(), Some(48 << 20));
    assert!(job["memory_bytes"].as_u64().unwrap() > 0, "{top}");
    let table = s.ok(&["top"]);
    assert!(table.contains("VCPU USED") && table.contains("/ 0.5"), "{table}");
    s.ok(&["stop", "1", "--grace", "1"]);
    assert_eq!(s.ok(&["top"]).trim(), "no job is running");
}

/// `mlbench exec` runs in the job's own container, streams apart, its exit code passed on;
/// an ended job refuses.
#[test]
fn exec_runs_a_command_in_the_running_jobs_container() {
    let Some(s) = docker_sandbox("exec_runs_a_command_in_the_running_jobs_container") else {
        return;
    };
    let repo = s.folder("code", &[("marker.txt", "in the workspace\n")]);
    s.ok(&run_args(repo.to_str().unwrap(), &[], &["sleep", "600"]));
    assert_eq!(s.job(1)["state"], "running");
    let out = s.run(&[
        "exec",
        "1",
        "--",
        "sh",
        "-c",
        "cat marker.txt; hostname; echo to-stderr >&2; exit 3",
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(3), "{stdout} {stderr}");
    assert!(stdout.starts_with("in the workspace\n"), "{stdout}");
    let container = s.job(1)["handle"].as_str().unwrap().to_string();
    assert!(
        container.starts_with(stdout.lines().nth(1).unwrap()),
        "{stdout} vs {container}"
    );
    assert_eq!(stderr, "to-stderr\n");
    // Input reaches the command and its end ends it.
    let mut child = s.cmd(&["exec", "1", "--", "sh", "-c", "read line; echo got $line"]);
    let child = child
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.as_ref().unwrap(), b"typed\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got typed\n");
    s.ok(&["stop", "1", "--grace", "1"]);
    let out = s.run(&["exec", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("job 1 is stopped: only a running job can be entered"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn stop_ends_a_sleeping_job_within_the_grace_period() {
    let Some(s) = docker_sandbox("stop_ends_a_sleeping_job_within_the_grace_period") else {
        return;
    };
    let repo = s.folder("code", &[]);
    s.ok(&run_args(repo.to_str().unwrap(), &[], &["sleep", "600"]));
    assert_eq!(s.job(1)["state"], "running");
    let started = Instant::now();
    let out = s.ok(&["stop", "1", "--grace", "5"]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        started.elapsed()
    );
    assert!(out.contains("job 1 stopped"), "{out}");
    assert_eq!(s.job(1)["state"], "stopped");
    let again = s.ok(&["stop", "1"]);
    assert!(again.contains("already ended"), "{again}");
}

/// Regression: `logs -f` already following when the supervisor died printed a few lines and then
/// waited forever; now it starts a new supervisor and ends with the job.
#[test]
fn a_follower_outlives_a_dead_supervisor_and_ends_with_the_job() {
    let Some(s) = docker_sandbox("a_follower_outlives_a_dead_supervisor_and_ends_with_the_job") else {
        return;
    };
    let repo = s.folder("code", &[]);
    let script = "for i in $(seq 15); do echo line $i; usleep 200000; done";
    s.ok(&run_args(repo.to_str().unwrap(), &[], &["sh", "-c", script]));
    let follower = s
        .cmd(&["logs", "-f", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    s.kill_supervisor(1);
    let mut follower = follower;
    let mut stdout = follower.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
        text
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = follower.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = follower.kill();
            panic!("logs -f hung after its supervisor died");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let printed: Vec<String> = reader.join().unwrap().lines().map(str::to_string).collect();
    let expected: Vec<String> = (1..=15).map(|i| format!("line {i}")).collect();
    assert_eq!(printed, expected);
    assert_eq!(s.job(1)["state"], "succeeded");
}

/// Killing `mlbench run` at any instant of its launch (SIGKILL or SIGHUP, 0 to 150 ms after it
/// starts) leaves no job broken: none fails on a container-name conflict, none is lost, no
/// container or staging copy is left behind once the jobs have ended.
#[test]
fn a_run_killed_at_any_instant_of_its_launch_leaves_nothing_broken() {
    let Some(s) = docker_sandbox("a_run_killed_at_any_instant_of_its_launch_leaves_nothing_broken") else {
        return;
    };
    let repo = s.folder("code", &[("a.txt", "a")]);
    let tries = 24u64;
    for i in 0..tries {
        let mut run = s
            .cmd(&run_args(repo.to_str().unwrap(), &[], &["cat", "a.txt"]))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(i * 150 / tries));
        let signal = if i % 2 == 0 { "-KILL" } else { "-HUP" };
        let _ = Command::new("kill")
            .args([signal, &run.id().to_string()])
            .status();
        let _ = run.wait();
    }
    // Listing the jobs reconciles: every stored job gets a supervisor and runs to its end.
    let deadline = Instant::now() + Duration::from_secs(120);
    let jobs = loop {
        let jobs = s.jobs();
        let all = jobs.as_array().unwrap().clone();
        if all.iter().all(|j| {
            matches!(
                j["state"].as_str(),
                Some("succeeded" | "failed" | "stopped" | "oom-killed" | "lost")
            )
        }) {
            break all;
        }
        assert!(Instant::now() < deadline, "jobs did not end: {jobs}");
        std::thread::sleep(Duration::from_millis(300));
    };
    for job in &jobs {
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(
            s.log_records(job["id"].as_i64().unwrap())
                .last()
                .map(|r| r.1.as_str()),
            Some("a"),
            "{job}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.containers().is_empty() {
        assert!(Instant::now() < deadline, "containers left: {:?}", s.containers());
        std::thread::sleep(Duration::from_millis(200));
    }
    let staging: Vec<_> = std::fs::read_dir(s.home.join("staging"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(staging.is_empty(), "staging leftovers: {staging:?}");
}

/// A job's end time is Docker's, even when its supervisor reattaches long after; a container
/// stopped from outside mlbench says so in the log.
#[test]
fn the_end_is_dockers_time_and_an_outside_stop_is_explained() {
    let Some(s) = docker_sandbox("the_end_is_dockers_time_and_an_outside_stop_is_explained") else {
        return;
    };
    let repo = s.folder("code", &[]);
    s.ok(&run_args(repo.to_str().unwrap(), &[], &["sleep", "1"]));
    s.kill_supervisor(1);
    // Nobody watches while the job ends; the next command reattaches 5 s later.
    std::thread::sleep(Duration::from_secs(5));
    let job = s.wait_for_state(1, |st| st == "succeeded", Duration::from_secs(30));
    let at = |key: &str| chrono::DateTime::parse_from_rfc3339(job[key].as_str().unwrap()).unwrap();
    let ran = at("finished_at") - at("started_at");
    assert!(
        ran.num_milliseconds() < 3_000,
        "finished_at is the reattach time: ran {ran}"
    );

    s.ok(&run_args(repo.to_str().unwrap(), &[], &["sleep", "600"]));
    let handle = s.job(2)["handle"].as_str().unwrap().to_string();
    assert!(
        Command::new("docker")
            .args(["stop", "-t", "1", &handle])
            .output()
            .unwrap()
            .status
            .success()
    );
    let job = s.wait_for_state(2, |st| st != "running", Duration::from_secs(30));
    assert_eq!(
        (job["state"].as_str(), job["exit_code"].as_i64()),
        (Some("failed"), Some(143)),
        "{job}"
    );
    let said = s
        .log_records(2)
        .into_iter()
        .any(|(stream, text)| stream == 'm' && text.contains("from outside mlbench"));
    assert!(said, "{:?}", s.log_records(2));
}

/// Closing the terminal of `run -f` (SIGHUP) detaches, as Ctrl-C does: the job runs on.
#[test]
fn a_hangup_detaches_a_follower_and_the_job_runs_on() {
    let Some(s) = docker_sandbox("a_hangup_detaches_a_follower_and_the_job_runs_on") else {
        return;
    };
    let repo = s.folder("code", &[]);
    let script = "for i in $(seq 10); do echo line $i; usleep 200000; done";
    let run = s
        .cmd(&run_args(repo.to_str().unwrap(), &["-f"], &["sh", "-c", script]))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    assert!(
        Command::new("kill")
            .args(["-HUP", &run.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = run.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("detached"));
    let job = s.wait_for_state(1, |st| st == "succeeded", Duration::from_secs(30));
    assert_eq!(job["exit_code"], 0);
    let output = s.log_records(1).into_iter().filter(|r| r.0 != 'm').count();
    assert_eq!(output, 10);
}

#[test]
fn a_killed_follower_is_replaced_and_no_line_is_lost_or_doubled() {
    let Some(s) = docker_sandbox("a_killed_follower_is_replaced_and_no_line_is_lost_or_doubled") else {
        return;
    };
    let repo = s.folder("code", &[]);
    // Both streams: the new follower counts each stream's lines in the file to resume.
    let script = "i=0; while [ $i -lt 500 ]; do echo line $i; \
                  if [ $((i % 5)) -eq 0 ]; then echo err $i >&2; fi; i=$((i+1)); usleep 10000; done";
    s.ok(&run_args(repo.to_str().unwrap(), &[], &["sh", "-c", script]));
    std::thread::sleep(Duration::from_millis(1500));
    let pid = s.kill_supervisor(1);
    std::thread::sleep(Duration::from_millis(1500));
    // `logs -f` notices that nobody follows the job, starts a new follower and prints to the end.
    let out = s.run(&["logs", "-f", "1"]);
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout);
    let job = s.wait_for_state(1, |st| st == "succeeded", Duration::from_secs(30));
    assert_ne!(
        job["supervisor_pid"].as_i64(),
        Some(pid),
        "the follower was not replaced"
    );
    let records = s.log_records(1);
    let of_stream = |marker: char| -> Vec<String> {
        records
            .iter()
            .filter(|r| r.0 == marker)
            .map(|r| r.1.clone())
            .collect()
    };
    let expected: Vec<String> = (0..500).map(|i| format!("line {i}")).collect();
    let expected_errors: Vec<String> = (0..500).step_by(5).map(|i| format!("err {i}")).collect();
    assert_eq!(of_stream('o'), expected);
    assert_eq!(of_stream('e'), expected_errors);
    assert!(
        !records.iter().any(|r| r.1.contains("did not line up")),
        "the resume was said not to line up"
    );
    assert_eq!(printed.lines().collect::<Vec<_>>(), expected);
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    Some(body)
}

#[test]
fn a_port_mapping_answers_on_the_host_port() {
    let Some(s) = docker_sandbox("a_port_mapping_answers_on_the_host_port") else {
        return;
    };
    let repo = s.folder("site", &[("index.html", "hello from the job\n")]);
    let port = free_port();
    let mapping = format!("{port}:8080");
    s.ok(&run_args(
        repo.to_str().unwrap(),
        &["--port", &mapping],
        &["httpd", "-f", "-p", "8080", "-h", "/workspace"],
    ));
    let deadline = Instant::now() + Duration::from_secs(15);
    let body = loop {
        if let Some(body) = http_get(port, "/index.html").filter(|b| b.contains("200")) {
            break body;
        }
        assert!(Instant::now() < deadline, "nothing answered on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(body.contains("hello from the job"), "{body}");
    // The same host port again is refused before anything is stored.
    let out = s.run(&run_args(
        repo.to_str().unwrap(),
        &["--port", &mapping],
        &["true"],
    ));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("host port {port} on 127.0.0.1 is not free"))
    );
    s.ok(&["stop", "1", "--grace", "2"]);
    assert_eq!(s.jobs().as_array().unwrap().len(), 1);
}

#[test]
fn a_git_workspace_runs_the_tagged_files_and_records_the_commit() {
    let Some(s) = docker_sandbox("a_git_workspace_runs_the_tagged_files_and_records_the_commit") else {
        return;
    };
    let repo = s.folder("repo", &[("version.txt", "one\n")]);
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(&["init", "-q"]);
    git(&["-c", "user.email=t@t", "-c", "user.name=t", "add", "."]);
    git(&[
        "-c",
        "user.email=t@t",
        "-c",
        "user.name=t",
        "commit",
        "-qm",
        "one",
    ]);
    git(&["tag", "v1"]);
    std::fs::write(repo.join("version.txt"), "two\n").unwrap();
    git(&[
        "-c",
        "user.email=t@t",
        "-c",
        "user.name=t",
        "commit",
        "-qam",
        "two",
    ]);
    let url = format!("file://{}", repo.display());
    let out = s.ok(&run_args(&url, &["--ref", "v1", "-f"], &["cat", "version.txt"]));
    assert_eq!(out.trim(), "one");
    assert_eq!(
        s.job(1)["commit"].as_str(),
        Some(git(&["rev-parse", "v1"]).as_str())
    );
}

/// The names under the home's `snapshots/`.
fn snapshots(s: &Sandbox) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(s.home.join("snapshots"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn jobs_of_one_repo_share_one_snapshot_and_never_see_each_others_writes() {
    let Some(s) = docker_sandbox("jobs_of_one_repo_share_one_snapshot") else {
        return;
    };
    let repo = s.folder(
        "code",
        &[("shared.txt", "original\n"), ("keep/data.csv", "x,y\n1,2\n")],
    );
    let repo = repo.to_str().unwrap();
    // Both write the same file at once, wait, then read it back: each must see only its own.
    let script = |me: &str| {
        format!(
            "echo {me} > shared.txt && echo {me} > only-{me}.txt && rm keep/data.csv && sleep 1 && cat shared.txt && ls -R"
        )
    };
    s.ok(&run_args(repo, &[], &["sh", "-c", &script("a")]));
    s.wait_for_state(1, |st| st == "running", Duration::from_secs(20));
    // The container's /workspace is an anonymous volume that goes with it.
    let container = s.containers().pop().expect("job 1's container");
    let inspect = Command::new("docker")
        .args([
            "inspect",
            "--format",
            "{{range .Mounts}}{{if eq .Destination \"/workspace\"}}{{.Name}}{{end}}{{end}}",
            &container,
        ])
        .output()
        .unwrap();
    let volume = String::from_utf8_lossy(&inspect.stdout).trim().to_string();
    assert!(!volume.is_empty(), "job 1 has no /workspace volume");
    let b = s.ok(&run_args(repo, &["-f"], &["sh", "-c", &script("b")]));
    let a = s.wait_for_state(1, |st| st != "running" && st != "queued", Duration::from_secs(20));
    assert_eq!(a["state"], "succeeded");
    let a_out = s.ok(&["logs", "1"]);
    assert!(a_out.starts_with("a\n"), "job 1 read {a_out}");
    assert!(b.starts_with("b\n"), "job 2 read {b}");
    assert!(
        !a_out.contains("only-b.txt") && !b.contains("only-a.txt"),
        "{a_out}\n{b}"
    );
    assert!(!a_out.contains("data.csv") && !b.contains("data.csv"));
    // One snapshot, untouched; each job's writes (and its deletion) in its own layer.
    let names = snapshots(&s);
    assert_eq!(names.len(), 1, "{names:?}");
    assert_eq!(s.job(1)["snapshot"], names[0].as_str());
    assert_eq!(s.job(2)["snapshot"], names[0].as_str());
    let snapshot = s.home.join("snapshots").join(&names[0]);
    assert_eq!(
        std::fs::read_to_string(snapshot.join("shared.txt")).unwrap(),
        "original\n"
    );
    assert!(snapshot.join("keep/data.csv").is_file());
    for (job, me) in [(1, "a"), (2, "b")] {
        let changes = s.home.join(format!("jobs/{job}/changes"));
        assert_eq!(
            std::fs::read_to_string(changes.join("shared.txt")).unwrap(),
            format!("{me}\n")
        );
        assert!(
            !s.home.join(format!("jobs/{job}/workspace")).exists(),
            "job {job} got a copy"
        );
    }
    let gone = Command::new("docker")
        .args(["volume", "inspect", &volume])
        .output()
        .unwrap();
    assert!(
        !gone.status.success(),
        "job 1's /workspace volume outlived its container"
    );
    // Changed code is a new snapshot; the same code again is not.
    std::fs::write(Path::new(repo).join("shared.txt"), "edited\n").unwrap();
    let edited = s.ok(&run_args(repo, &["-f"], &["cat", "shared.txt"]));
    assert_eq!(edited, "edited\n");
    assert_eq!(snapshots(&s).len(), 2);
    s.ok(&run_args(repo, &["-f"], &["true"]));
    assert_eq!(snapshots(&s).len(), 2);
}

#[test]
fn copied_workspaces_give_each_job_its_own_copy_of_the_snapshot() {
    let Some(s) = docker_sandbox("copied_workspaces") else {
        return;
    };
    s.configure("workspaces = \"copied\"", "");
    let repo = s.folder("code", &[("shared.txt", "original\n")]);
    let repo = repo.to_str().unwrap();
    let out = s.ok(&run_args(
        repo,
        &["-f"],
        &["sh", "-c", "echo mine > shared.txt && cat shared.txt"],
    ));
    assert_eq!(out, "mine\n");
    assert_eq!(
        std::fs::read_to_string(s.home.join("jobs/1/workspace/shared.txt")).unwrap(),
        "mine\n"
    );
    assert!(!s.home.join("jobs/1/changes").exists());
    let names = snapshots(&s);
    assert_eq!(names.len(), 1);
    let kept = s.home.join("snapshots").join(&names[0]).join("shared.txt");
    assert_eq!(std::fs::read_to_string(kept).unwrap(), "original\n");
}

#[test]
fn jobs_of_one_project_share_its_storage() {
    let Some(s) = docker_sandbox("jobs_of_one_project_share_its_storage") else {
        return;
    };
    let repo = s.folder("code", &[]);
    s.ok(&run_args(
        repo.to_str().unwrap(),
        &["-f"],
        &["sh", "-c", "mkdir -p /storage/m && echo 42 > /storage/m/answer"],
    ));
    let out = s.ok(&run_args(
        repo.to_str().unwrap(),
        &["-f"],
        &["cat", "/storage/m/answer"],
    ));
    assert_eq!(out.trim(), "42");
    let listed = s.ok(&["storage", "ls", "p"]);
    assert!(listed.contains("/storage/m/answer"), "{listed}");
    let dest = s.dir.path().join("answer-copy");
    s.ok(&[
        "storage",
        "get",
        "p",
        "/storage/m/answer",
        "-o",
        dest.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read_to_string(dest).unwrap(), "42\n");
}

#[test]
fn bad_input_is_one_line_a_failure_and_stores_nothing() {
    let Some(s) = docker_sandbox("bad_input_is_one_line_a_failure_and_stores_nothing") else {
        return;
    };
    let repo = s.folder("code", &[]);
    let repo = repo.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "run",
                "--project",
                "p",
                "--image",
                BUSYBOX,
                "--repo",
                repo,
                "--machine",
                "Z9",
                "--",
                "true",
            ],
            "machine type \"Z9\" is unknown",
        ),
        (
            vec![
                "run",
                "--project",
                "p",
                "--image",
                BUSYBOX,
                "--repo",
                repo,
                "--machine",
                "C7",
                "--",
                "true",
            ],
            "does not fit this host",
        ),
        (
            vec![
                "run",
                "--project",
                "p",
                "--image",
                BUSYBOX,
                "--repo",
                repo,
                "--port",
                "8080:99999",
                "--",
                "true",
            ],
            "container port 99999 is out of range 1–65535",
        ),
        (
            vec![
                "run",
                "--project",
                "p",
                "--image",
                "no/such:image",
                "--repo",
                repo,
                "--",
                "true",
            ],
            "image no/such:image is not present locally",
        ),
        (
            vec!["run", "--project", "p", "--image", BUSYBOX, "--repo", repo],
            "has no CMD or ENTRYPOINT: give the command after `--`",
        ),
        (
            vec![
                "run",
                "--project",
                "p",
                "--image",
                BUSYBOX,
                "--repo",
                "/no/such/folder",
                "--",
                "true",
            ],
            "repo folder /no/such/folder does not exist",
        ),
        (
            vec![
                "run",
                "--project",
                "p",
                "--image",
                BUSYBOX,
                "--repo",
                repo,
                "--ref",
                "v9",
                "--",
                "true",
            ],
            "cannot clone",
        ),
        (
            vec![
                "run",
                "--project",
                "nope",
                "--image",
                BUSYBOX,
                "--repo",
                repo,
                "--",
                "true",
            ],
            "project nope does not exist",
        ),
        (
            vec![
                "run",
                "--project",
                "p",
                "--image",
                BUSYBOX,
                "--repo",
                repo,
                "--env",
                "1X=2",
                "--",
                "true",
            ],
            "environment variable name",
        ),
        (vec!["logs", "99"], "job 99 does not exist"),
        (vec!["stop", "99"], "job 99 does not exist"),
        (vec!["storage", "get", "p", "../../etc/passwd"], "leaves /storage"),
    ];
    for (args, expected) in cases {
        let out = s.run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    assert_eq!(s.jobs(), serde_json::json!([]));
    assert!(
        !s.home.join("jobs").exists() || std::fs::read_dir(s.home.join("jobs")).unwrap().next().is_none()
    );
    assert_eq!(
        std::fs::read_dir(s.home.join("staging")).unwrap().count(),
        0,
        "a workspace was left half-made"
    );
}

#[test]
fn the_runtime_image_runs_mlbench_itself() {
    let Some(s) = docker_sandbox("the_runtime_image_runs_mlbench_itself") else {
        return;
    };
    s.ok(&["images", "build-runtime"]);
    let listed = s.ok(&["images"]);
    assert!(
        listed.contains(&format!("mlbench/runtime:{}", env!("CARGO_PKG_VERSION"))),
        "{listed}"
    );
    let repo = s.folder("code", &[]);
    let out = s.ok(&[
        "run",
        "--project",
        "p",
        "--repo",
        repo.to_str().unwrap(),
        "-f",
        "--",
        "mlbench",
        "--version",
    ]);
    // The very binary: the same version and commit as the one that built the image.
    assert_eq!(out.trim(), s.ok(&["--version"]).trim());
}

#[test]
fn an_image_built_from_the_repo_dockerfile_runs_the_job() {
    let Some(s) = docker_sandbox("an_image_built_from_the_repo_dockerfile_runs_the_job") else {
        return;
    };
    let repo = s.folder(
        "code",
        &[(
            "docker/Dockerfile",
            &format!("FROM {BUSYBOX}\nENV GREETING=built-here\n"),
        )],
    );
    let out = s.ok(&[
        "run",
        "--project",
        "p",
        "--repo",
        repo.to_str().unwrap(),
        "--dockerfile",
        "docker/Dockerfile",
        "--image",
        "mlbench-test/built:1",
        "-f",
        "--",
        "sh",
        "-c",
        "echo $GREETING",
    ]);
    assert_eq!(out.trim(), "built-here");
    let log = s.log_records(1);
    assert!(
        log.iter()
            .any(|r| r.0 == 'm' && r.1.contains("Successfully tagged mlbench-test/built:1")),
        "{log:?}"
    );
}
