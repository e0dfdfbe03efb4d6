//! Sweeps against the real Docker Engine: the iris sweep and its comparison, resume after a
//! stop, the median rule pruning a clearly worse trial, and bad input refused with nothing
//! stored.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{BUSYBOX, Sandbox, docker_sandbox};

/// `mlbench sweep` of `command` in the busybox image on the TINY machine type, with `extra`
/// flags (the grid, the metric, ...).
fn busybox_sweep<'a>(repo: &'a str, extra: &[&'a str], command: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "sweep",
        "--project",
        "p",
        "--machine",
        "TINY",
        "--image",
        BUSYBOX,
        "--repo",
        repo,
    ];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(command);
    args
}

fn json(s: &Sandbox, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&s.ok(args)).unwrap()
}

/// Waits until the sweep's comparison satisfies `done`.
fn wait_for(s: &Sandbox, sweep: &str, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let comparison = json(s, &["compare", sweep, "--json"]);
        if done(&comparison) {
            return comparison;
        }
        assert!(
            Instant::now() < deadline,
            "sweep {sweep} did not get there: {comparison:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn states(comparison: &serde_json::Value) -> Vec<String> {
    comparison["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_iris_sweep_finds_the_best_depth_and_each_trial_is_a_job() {
    let Some(s) = docker_sandbox("the_iris_sweep_finds_the_best_depth_and_each_trial_is_a_job") else {
        return;
    };
    let iris = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/iris.csv")).unwrap();
    let repo = s.folder("iris", &[("data/iris.csv", &iris)]);
    let sweep = [
        "sweep",
        "--project",
        "p",
        "--machine",
        "TINY",
        "--repo",
        repo.to_str().unwrap(),
        "--grid",
        "max_depth=1..4",
        "--metric",
        "Accuracy",
        "--maximize",
        "--parallel",
        "2",
        "-f",
        "--",
        "mlbench",
        "train",
        "-i",
        "data/iris.csv",
        "-o",
        "/storage/iris-{max_depth}",
        "--model",
        "tree",
        "--max-depth",
        "{max_depth}",
    ];
    let out = s.run(&sweep);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Two trials start at once, so which job id each point gets is a race: not asserted.
    let said = stderr
        .lines()
        .find(|l| l.starts_with("trial 1 (max_depth=1): job "))
        .unwrap_or("");
    assert!(said.contains(" succeeded, Accuracy "), "{stderr}");
    let comparison = json(&s, &["compare", "1", "--json"]);
    assert_eq!(states(&comparison), ["succeeded"; 4]);
    let trials = comparison["trials"].as_array().unwrap();
    let accuracy = |t: &serde_json::Value| t["best"].as_f64().unwrap();
    let best = trials.iter().map(accuracy).fold(f64::MIN, f64::max);
    let marked = trials.iter().find(|t| t["job"] == comparison["best"]).unwrap();
    assert_eq!(accuracy(marked), best);
    assert!(accuracy(&trials[0]) < best, "a stump should lose: {comparison:#}");
    // The table marks the best and shows the varying parameter.
    let table = s.ok(&["compare", "1"]);
    assert!(table.lines().next().unwrap().contains("MAX_DEPTH"), "{table}");
    assert!(table.contains(&format!("★ {}", comparison["best"])), "{table}");
    // Each trial is an ordinary job that carries its sweep and parameters.
    let third = comparison["trials"][2]["job"].as_i64().unwrap();
    let job = s.job(third);
    assert_eq!(
        (job["sweep"].as_i64(), job["params"]["max_depth"].as_str()),
        (Some(1), Some("3"))
    );
    assert!(s.home.join("projects/p/storage/iris-3/model.json").exists());
    let sweeps = json(&s, &["sweeps", "--json"]);
    assert_eq!(
        (sweeps[0]["state"].as_str(), sweeps[0]["done"].as_i64()),
        (Some("finished"), Some(4))
    );
    // The same spec again runs nothing that succeeded.
    let again = s.run(&sweep);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("sweep 1 resumed: 0 of its 4 trials run again"),
        "{stderr}"
    );
    assert_eq!(s.jobs().as_array().unwrap().len(), 4);
}

#[test]
fn a_resume_after_a_stop_reruns_only_what_did_not_succeed() {
    let Some(s) = docker_sandbox("a_resume_after_a_stop_reruns_only_what_did_not_succeed") else {
        return;
    };
    let repo = s.folder("code", &[]);
    // Point 3 hangs until /storage/go exists; the others print their score and end.
    let script = "echo score: {n}; if [ {n} = 3 ]; then while [ ! -f /storage/go ]; do sleep 0.2; done; fi";
    let repo = repo.to_str().unwrap();
    let grid = [
        "--grid",
        "n=1..3",
        "--metric",
        "score",
        "--minimize",
        "--parallel",
        "3",
    ];
    s.ok(&busybox_sweep(repo, &grid, &["sh", "-c", script]));
    let comparison = wait_for(&s, "1", |c| states(c) == ["succeeded", "succeeded", "running"]);
    let first_jobs: Vec<i64> = comparison["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["job"].as_i64().unwrap())
        .collect();
    // A running sweep is not deleted: it says how to stop it.
    let refused = s.run(&["sweep", "rm", "1"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("sweep 1 is running: stop it first"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let stderr = String::from_utf8_lossy(&s.run(&["sweep", "stop", "1", "--grace", "1"]).stderr).into_owned();
    assert!(
        stderr.contains("sweep 1 stopped (1 running trials stopped)"),
        "{stderr}"
    );
    assert_eq!(
        states(&json(&s, &["compare", "1", "--json"])),
        ["succeeded", "succeeded", "stopped"]
    );
    assert_eq!(json(&s, &["sweeps", "--json"])[0]["state"], "stopped");

    std::fs::write(s.home.join("projects/p/storage/go"), "").unwrap();
    let out = s.run(&["sweep", "resume", "1", "-f"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("sweep 1 resumed: 1 of its 3 trials run again"),
        "{stderr}"
    );
    let comparison = json(&s, &["compare", "1", "--json"]);
    assert_eq!(states(&comparison), ["succeeded"; 3]);
    let jobs: Vec<i64> = comparison["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["job"].as_i64().unwrap())
        .collect();
    assert_eq!(jobs[..2], first_jobs[..2], "a succeeded point ran again");
    assert_ne!(jobs[2], first_jobs[2]);
    assert_eq!(comparison["best"].as_i64(), Some(jobs[0]));
    // The stopped job stays in the history, with its sweep.
    assert_eq!(s.job(first_jobs[2])["state"], "stopped");

    // Deleted whole: the sweep, every trial's job (the stopped one too) and their folders.
    let out = s.run(&["sweep", "rm", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("deleted sweep 1 and its 4 trial jobs"),
        "{stderr}"
    );
    assert_eq!(json(&s, &["sweeps", "--json"]), serde_json::json!([]));
    assert_eq!(s.jobs(), serde_json::json!([]));
    for job in jobs.iter().chain(&first_jobs) {
        assert!(
            !s.home.join(format!("jobs/{job}")).exists(),
            "job {job}'s folder stayed"
        );
    }
    let missing = s.run(&["sweep", "resume", "1"]);
    assert!(!missing.status.success(), "a resume of a deleted sweep succeeded");
}

#[test]
fn the_median_rule_prunes_a_clearly_worse_trial() {
    let Some(s) = docker_sandbox("the_median_rule_prunes_a_clearly_worse_trial") else {
        return;
    };
    let repo = s.folder("code", &[]);
    // The loss falls with the steps and grows with the parameter: q=9 is far worse than 1 and 2.
    let script = "for step in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do echo \"step=$step loss=$(( {q} * 100 - step ))\"; sleep 0.2; done";
    let repo = repo.to_str().unwrap();
    let grid = [
        "--grid",
        "q=1,2,9",
        "--metric",
        "loss",
        "--minimize",
        "--parallel",
        "1",
        "--early-stop",
        "median:warmup=2,startup=2",
        "-f",
    ];
    let out = s.run(&busybox_sweep(repo, &grid, &["sh", "-c", script]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let comparison = json(&s, &["compare", "1", "--json"]);
    assert_eq!(
        states(&comparison),
        ["succeeded", "succeeded", "pruned"],
        "{stderr}"
    );
    let pruned = &comparison["trials"][2];
    let steps = pruned["metrics"]["loss"].as_f64().unwrap();
    assert!(steps > 885.0, "pruned too late: its last loss is {steps}");
    let job = s.job(pruned["job"].as_i64().unwrap());
    assert!(job["detail"].as_str().unwrap().contains("median"), "{job:#}");
}

#[test]
fn bad_sweeps_are_refused_in_one_line_with_nothing_stored() {
    let s = Sandbox::new("local");
    s.ok(&["project", "create", "p"]);
    let repo = s.folder("code", &[]);
    let repo = repo.to_str().unwrap();
    let cases: [(&[&str], &str); 7] = [
        (&["--grid", "n=", "--", "echo", "{n}"], "has no values"),
        (
            &["--grid", "n=1,2", "--", "echo", "{m}"],
            "placeholder {m} has no parameter",
        ),
        (
            &["--grid", "n=1,2", "--", "echo", "hi"],
            "parameter n is used nowhere",
        ),
        (&["--grid", "n=5..1", "--", "echo", "{n}"], "yields nothing"),
        (&["--grid", "n=1..2", "--", "echo", "{n}"], "--metric"),
        (
            &["--grid", "n=1..2", "--metric", "loss", "--", "echo", "{n}"],
            "--minimize or --maximize",
        ),
        (
            &[
                "--random",
                "3",
                "--space",
                "lr=1..0",
                "--metric",
                "loss",
                "--minimize",
                "--",
                "echo",
                "{lr}",
            ],
            "yields nothing",
        ),
    ];
    for (args, says) in cases {
        let mut full = vec!["sweep", "--project", "p", "--repo", repo];
        full.extend_from_slice(args);
        if !args.contains(&"--metric") && says != "--metric" {
            full.splice(5..5, ["--metric", "loss", "--minimize"]);
        }
        let out = s.run(&full);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{full:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{full:?}: {stderr}");
    }
    assert_eq!(s.ok(&["sweeps", "--json"]).trim(), "[]");
    assert_eq!(s.jobs(), serde_json::json!([]));
}

/// `--parallel` above what fits runs only what fits: a trial that could only wait for capacity
/// would hold a supervisor process for nothing (`--parallel 1000` made 291 of them).
#[test]
fn parallel_above_what_fits_runs_only_what_fits() {
    let s = Sandbox::new("local");
    let cpus = std::thread::available_parallelism().unwrap().get();
    s.configure(
        "",
        &format!("[machines.WHOLE]\ncpus = {cpus}\nmemory = \"64MiB\"\n"),
    );
    s.ok(&["project", "create", "p"]);
    let repo = s.folder("code", &[]);
    let out = s.run(&[
        "sweep",
        "--project",
        "p",
        "--machine",
        "WHOLE",
        "--repo",
        repo.to_str().unwrap(),
        "--grid",
        "x=1..5",
        "--metric",
        "m",
        "--minimize",
        "--parallel",
        "1000",
        "--",
        "sh",
        "-c",
        "echo m : {x}; sleep 0.3",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--parallel 1000: 1 trial(s) of machine type WHOLE fit at once"),
        "{stderr}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut most_live = 0;
    loop {
        let jobs = s.jobs();
        let jobs = jobs.as_array().unwrap();
        let live = jobs
            .iter()
            .filter(|j| {
                !matches!(
                    j["state"].as_str(),
                    Some("succeeded" | "failed" | "stopped" | "lost" | "oom-killed")
                )
            })
            .count();
        most_live = most_live.max(live);
        if jobs.len() == 5 && live == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the sweep did not finish: {jobs:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(most_live, 1, "more trials were in flight than fit");
}
