//! Jobs on a real Docker Swarm: three engines on this machine, each in a network namespace of
//! its own, with a registry on the lab's network (`scripts/swarm-lab`). One test runs every
//! scenario in turn, since the lab is one per machine; the lab is removed when it ends, passed
//! or failed. Needs root, dockerd and Debian's docker-registry: under CI=true a missing piece
//! fails the test, elsewhere it is skipped with a notice.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::lab::Lab;
use common::{BUSYBOX, Sandbox, busybox_image};

/// Machine types sized against the lab's nodes (each sees this machine's 2 vCPU): FULL takes a
/// whole node, HALF leaves too little beside it for G1.
const SWARM_MACHINES: &str =
    "[machines.FULL]\ncpus = 2\nmemory = \"64MiB\"\n[machines.HALF]\ncpus = 1.5\nmemory = \"64MiB\"\n";

/// A sandbox whose jobs run on the lab: its config is the one `up` wrote, with the test
/// machine types; the busybox image is on the manager only, and a project `p` exists.
fn lab_sandbox(lab: &Lab) -> Sandbox {
    let mut s = Sandbox::new("swarm");
    s.configure(&lab.config(), SWARM_MACHINES);
    s.env.push(("DOCKER_HOST", lab.socket(1)));
    busybox_image(&s);
    s.ok(&["project", "create", "p"]);
    let label = mlbench_store::Home::at(s.home.clone()).unwrap().label();
    s.files = lab.shared_files(&label);
    s
}

/// Submits `command` in the busybox image with `flags`; returns the job's id.
fn submit(s: &Sandbox, repo: &Path, flags: &[&str], command: &str) -> i64 {
    let mut args = vec![
        "run",
        "--project",
        "p",
        "--image",
        BUSYBOX,
        "--repo",
        repo.to_str().unwrap(),
    ];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["--", "sh", "-c", command]);
    s.ok(&args).trim().parse().expect("run prints the job's id")
}

fn lines_of(records: &[(char, String)], stream: char) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.0 == stream)
        .map(|r| r.1.clone())
        .collect()
}

fn wait_until(what: &str, timeout: Duration, done: impl FnMut() -> bool) {
    wait_until_else(what, timeout, done, String::new);
}

/// As [`wait_until`], with `seen()` said when it fails.
fn wait_until_else(what: &str, timeout: Duration, mut done: impl FnMut() -> bool, seen: impl Fn() -> String) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {timeout:?}; {}",
            seen()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn jobs_run_on_a_swarm_of_three_engines() {
    let Some(lab) = Lab::up("jobs_run_on_a_swarm_of_three_engines") else {
        return;
    };
    let s = lab_sandbox(&lab);
    let repo = s.folder("code", &[("train.sh", "echo trained > /storage/model.txt\n")]);
    eprintln!("a job placed on a worker");
    a_job_on_a_worker_runs_with_its_limits_and_complete_logs(&lab, &s, &repo);
    eprintln!("a killed follower");
    a_killed_follower_is_replaced_and_no_line_is_lost_or_doubled(&s, &repo);
    eprintln!("refusals at submit");
    what_cannot_run_is_refused_at_submit(&s, &repo);
    eprintln!("a sweep");
    a_sweep_spreads_over_the_nodes(&s, &repo);
    eprintln!("waiting for a node");
    a_job_no_node_has_room_for_says_why_it_waits(&s, &repo);
    eprintln!("serving from two nodes");
    a_model_trained_on_a_worker_serves_from_two_nodes_on_one_port(&lab, &s);
    eprintln!("a dead node");
    a_job_on_a_dead_node_is_lost_naming_it(&lab, &s, &repo);
}

fn a_job_on_a_worker_runs_with_its_limits_and_complete_logs(lab: &Lab, s: &Sandbox, repo: &Path) {
    let script = "seq 0 99999 | sed 's/^/line /'; seq 0 10 99999 | sed 's/^/err /' >&2; \
                  sh train.sh; echo 'MSE : 12.5'; sleep 3; exit 3";
    let job = submit(s, repo, &["--machine", "TINY", "--node", "mlblab-n2"], script);
    // The task's container on the worker, read through that worker's own engine.
    let mut container = String::new();
    wait_until(
        "the task's container on mlblab-n2",
        Duration::from_secs(30),
        || {
            container = lab.docker(2, &["ps", "-q", "--filter", &format!("label=mlbench.job={job}")]);
            !container.is_empty()
        },
    );
    let limits = lab.docker(
        2,
        &[
            "inspect",
            "--format",
            "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}",
            &container,
        ],
    );
    assert_eq!(limits, format!("500000000 {} 2048", 48 << 20));
    let record = s.wait_for_state(job, |st| st == "failed", Duration::from_secs(60));
    assert_eq!(record["exit_code"], 3);
    assert_eq!(record["node"], "mlblab-n2");
    let records = s.log_records(job);
    let expected: Vec<String> = (0..100_000)
        .map(|i| format!("line {i}"))
        .chain(["MSE : 12.5".into()])
        .collect();
    assert_eq!(lines_of(&records, 'o'), expected, "stdout complete and in order");
    let errors: Vec<String> = (0..100_000).step_by(10).map(|i| format!("err {i}")).collect();
    assert_eq!(lines_of(&records, 'e'), errors, "stderr complete and in order");
    assert!(
        records
            .iter()
            .any(|r| r.0 == 'm' && r.1 == "placed on node mlblab-n2 (10.78.0.12)")
    );
    let metrics = s.ok(&["metrics", &job.to_string(), "--json"]);
    assert!(
        metrics.contains("12.5"),
        "the metric was not picked up: {metrics}"
    );
    // The model is in the project's storage under the shared root, where every node sees it.
    let copy = s.dir.path().join("model-copy.txt");
    s.ok(&["storage", "get", "p", "model.txt", "-o", copy.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), "trained\n");
    assert!(
        lab.docker(1, &["service", "ls", "-q"]).is_empty(),
        "the ended job's service was left behind"
    );
}

/// The README's walk: a model trained on a worker into the shared storage, then served by two
/// replicas, each on a node of its own, on the one port; both answer `/sal/25`. The nodes'
/// addresses are on the lab's network, so the CLI that asks them runs there.
fn a_model_trained_on_a_worker_serves_from_two_nodes_on_one_port(lab: &Lab, s: &Sandbox) {
    s.ok(&["project", "create", "salary"]);
    let code = s.folder("salary-code", &[("sal.csv", include_str!("../data/sal.csv"))]);
    s.ok(&[
        "run",
        "--project",
        "salary",
        "--repo",
        code.to_str().unwrap(),
        "--node",
        "mlblab-n2",
        "-f",
        "--",
        "mlbench",
        "train",
        "-i",
        "sal.csv",
        "-o",
        "/storage/salary",
    ]);
    let model = s.files.join("projects/salary/storage/salary/model.json");
    assert!(model.is_file(), "no model in the shared storage at {model:?}");
    let on_lab = |args: &[&str]| {
        let out = lab.on_network(s.cmd(args)).output().unwrap();
        assert!(
            out.status.success(),
            "mlbench {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let urls = on_lab(&[
        "deploy",
        "--project",
        "salary",
        "--model",
        "salary",
        "--port",
        "8080:8080",
        "--replicas",
        "2",
        "--timeout",
        "120",
    ]);
    let mut urls: Vec<&str> = urls.split_whitespace().collect();
    urls.sort_unstable();
    urls.dedup();
    assert_eq!(urls.len(), 2, "two replicas on two nodes: {urls:?}");
    let mut answers = Vec::new();
    for url in &urls {
        assert!(url.ends_with(":8080"), "{url}");
        let mut wget = std::process::Command::new("busybox");
        wget.args(["wget", "-qO-", &format!("{url}/sal/25")]);
        let out = lab.on_network(wget).output().unwrap();
        assert!(out.status.success(), "{url}/sal/25 did not answer");
        answers.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    assert_eq!(answers[0], answers[1], "the replicas disagree");
    let predicted = on_lab(&["predict", "--deployment", "salary", "25"]);
    assert!(predicted.starts_with("25 -> "), "{predicted}");
    let nodes: Vec<String> = s
        .jobs()
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["spec"]["deployment"] == "salary")
        .map(|j| j["node"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(nodes.len(), 2);
    assert_ne!(nodes[0], nodes[1], "both replicas on one node");
    s.ok(&["deploy", "stop", "salary"]);
    wait_until(
        "the replicas' services are removed",
        Duration::from_secs(30),
        || lab.docker(1, &["service", "ls", "-q"]).is_empty(),
    );
}

fn a_killed_follower_is_replaced_and_no_line_is_lost_or_doubled(s: &Sandbox, repo: &Path) {
    let script = "i=0; while [ $i -lt 500 ]; do echo line $i; \
                  if [ $((i % 5)) -eq 0 ]; then echo err $i >&2; fi; i=$((i+1)); usleep 10000; done";
    let job = submit(s, repo, &["--machine", "TINY", "--node", "mlblab-n3"], script);
    std::thread::sleep(Duration::from_millis(2500));
    let pid = s.kill_supervisor(job);
    std::thread::sleep(Duration::from_millis(1000));
    let out = s.run(&["logs", "-f", &job.to_string()]);
    assert!(out.status.success());
    let record = s.wait_for_state(job, |st| st == "succeeded", Duration::from_secs(60));
    assert_ne!(
        record["supervisor_pid"].as_i64(),
        Some(pid),
        "the follower was not replaced"
    );
    let records = s.log_records(job);
    let expected: Vec<String> = (0..500).map(|i| format!("line {i}")).collect();
    let errors: Vec<String> = (0..500).step_by(5).map(|i| format!("err {i}")).collect();
    assert_eq!(lines_of(&records, 'o'), expected);
    assert_eq!(lines_of(&records, 'e'), errors);
    assert!(
        !records.iter().any(|r| r.1.contains("did not line up")),
        "the resume was said not to line up"
    );
}

fn what_cannot_run_is_refused_at_submit(s: &Sandbox, repo: &Path) {
    let before = s.jobs().as_array().unwrap().len();
    let refused = |args: &[&str], config: Option<&Path>| {
        let mut cmd = s.cmd(args);
        if let Some(config) = config {
            cmd.env("MLBENCH_CONFIG", config);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let repo = repo.to_str().unwrap();
    let too_big = refused(
        &[
            "run",
            "--project",
            "p",
            "--image",
            BUSYBOX,
            "--repo",
            repo,
            "--machine",
            "C5",
            "--",
            "true",
        ],
        None,
    );
    assert!(too_big.contains("fits no node of the swarm"), "{too_big}");
    let bad_constraint = refused(
        &[
            "run",
            "--project",
            "p",
            "--image",
            BUSYBOX,
            "--repo",
            repo,
            "--constraint",
            "node.role",
            "--",
            "true",
        ],
        None,
    );
    assert!(
        bad_constraint.contains("placement constraint"),
        "{bad_constraint}"
    );
    // The lab's config without one of its keys: a plain run is refused.
    let config = std::fs::read_to_string(s.dir.path().join("config.toml")).unwrap();
    let refused_without = |key: &str| {
        let path = s.dir.path().join(format!("no-{key}.toml"));
        let kept: Vec<&str> = config.lines().filter(|l| !l.starts_with(key)).collect();
        std::fs::write(&path, kept.join("\n")).unwrap();
        let run = [
            "run",
            "--project",
            "p",
            "--image",
            BUSYBOX,
            "--repo",
            repo,
            "--",
            "true",
        ];
        refused(&run, Some(&path))
    };
    // Without a registry the nodes cannot get an image only the manager has.
    let unreachable = refused_without("registry");
    assert!(
        unreachable.contains("only on the manager") && unreachable.contains("registry"),
        "{unreachable}"
    );
    // Without a shared storage root, no swarm job at all.
    let unshared = refused_without("storage_root");
    assert!(unshared.contains("storage_root"), "{unshared}");
    assert_eq!(
        s.jobs().as_array().unwrap().len(),
        before,
        "a refused job was stored"
    );
}

fn a_sweep_spreads_over_the_nodes(s: &Sandbox, repo: &Path) {
    let out = s.run(&[
        "sweep",
        "--project",
        "p",
        "--machine",
        "FULL",
        "--image",
        BUSYBOX,
        "--repo",
        repo.to_str().unwrap(),
        "--grid",
        "x=1..3",
        "--metric",
        "score",
        "--maximize",
        "--parallel",
        "3",
        "-f",
        "--",
        "sh",
        "-c",
        "sleep 2; echo score : {x}",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let jobs = s.jobs();
    let mut nodes: Vec<&str> = jobs
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["sweep"].is_i64())
        .map(|j| {
            assert_eq!(j["state"], "succeeded");
            j["node"].as_str().unwrap()
        })
        .collect();
    nodes.sort_unstable();
    // Each trial takes a whole node, so Swarm had to put them on three.
    assert_eq!(nodes, ["mlblab-n1", "mlblab-n2", "mlblab-n3"]);
}

fn a_job_no_node_has_room_for_says_why_it_waits(s: &Sandbox, repo: &Path) {
    let halves: Vec<i64> = (0..3)
        .map(|_| submit(s, repo, &["--machine", "HALF"], "sleep 120"))
        .collect();
    // Running is not yet placed: each must hold its node before G1 comes, or G1 could take
    // the room a HALF is still waiting for.
    for &job in &halves {
        s.wait_for_state(job, |st| st == "running", Duration::from_secs(30));
        wait_until("a HALF job placed", Duration::from_secs(30), || {
            s.job(job)["node"].is_string()
        });
    }
    // 1.5 vCPU is free in all, 0.5 on each node: mlbench lets it go, no node takes it.
    let waiting = submit(s, repo, &["--machine", "G1"], "echo placed at last");
    wait_until_else(
        "the scheduler's reason in the job's row",
        Duration::from_secs(30),
        || {
            s.job(waiting)["detail"]
                .as_str()
                .is_some_and(|d| d.contains("no suitable node"))
        },
        || {
            format!(
                "the job: {}; its log: {:?}",
                s.job(waiting),
                s.log_records(waiting)
            )
        },
    );
    assert!(
        s.log_records(waiting)
            .iter()
            .any(|r| r.0 == 'm' && r.1.starts_with("waiting: no suitable node"))
    );
    s.ok(&["stop", &halves[0].to_string(), "--grace", "1"]);
    let record = s.wait_for_state(waiting, |st| st == "succeeded", Duration::from_secs(60));
    assert!(
        record["detail"].is_null(),
        "the reason stayed after the wait: {}",
        record["detail"]
    );
    assert!(record["node"].is_string());
    for job in &halves[1..] {
        s.ok(&["stop", &job.to_string(), "--grace", "1"]);
    }
}

fn a_job_on_a_dead_node_is_lost_naming_it(lab: &Lab, s: &Sandbox, repo: &Path) {
    let job = submit(
        s,
        repo,
        &["--machine", "TINY", "--node", "mlblab-n3"],
        "echo up; sleep 300",
    );
    s.wait_for_state(job, |st| st == "running", Duration::from_secs(30));
    wait_until("the job's first line", Duration::from_secs(30), || {
        s.log_records(job).iter().any(|r| r.1 == "up")
    });
    let pid = std::fs::read_to_string(lab.dir.join("n3/docker.pid")).unwrap();
    assert!(
        Command::new("kill")
            .args(["-9", pid.trim()])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    let record = s.wait_for_state(job, |st| st == "lost", Duration::from_secs(90));
    eprintln!("lost {:?} after the node's engine was killed", started.elapsed());
    let detail = record["detail"].as_str().unwrap();
    assert!(detail.contains("node mlblab-n3 went down"), "{detail}");
}
