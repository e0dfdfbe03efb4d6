//! Jobs on remote Docker engines over real SSH, in the engine lab: engines in namespaces of
//! their own (they see none of this machine's files), each with its own sshd and host key.
//! One lab for the whole run, its steps in order: the salary tutorial there (train, logs,
//! metrics, storage, plot, deploy, predict through the tunnel), an image only this machine has,
//! a supervisor killed, exec, top and stop there, the link cut and restored, a sweep spread over
//! three engines, a changed host key, /storage never a host path, and an engine reached over
//! tcp:// with TLS.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::engine_lab::EngineLab;
use common::tmux::{Tmux, tmux_available};
use common::{BUSYBOX, Sandbox, busybox_image};

/// A machine type that fits once per engine of the lab (each has 2 vCPUs): a sweep of it
/// spreads.
const WIDE: &str = "[machines.WIDE]\ncpus = 1.5\nmemory = \"256MiB\"\n";

fn lab_sandbox(lab: &EngineLab) -> Sandbox {
    let s = Sandbox::new("docker");
    s.configure("", &format!("{}\n{WIDE}", lab.engine_tables()));
    busybox_image(&s);
    s.ok(&["project", "create", "p"]);
    s
}

/// Project p's salary model as `storage get` copies it out of `engine`'s storage.
fn salary_model_on(s: &Sandbox, engine: &str) -> serde_json::Value {
    let got = s.dir.path().join(format!("model-{engine}.json"));
    s.ok(&[
        "storage",
        "get",
        "p",
        "salary/model.json",
        "--engine",
        engine,
        "-o",
        got.to_str().unwrap(),
    ]);
    json(&std::fs::read_to_string(&got).unwrap())
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Waits until job `id`'s row satisfies `done`; returns the row.
fn wait_for(
    s: &Sandbox,
    id: i64,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let job = s.job(id);
        if done(&job) {
            return job;
        }
        assert!(Instant::now() < deadline, "job {id} never {what}: {job}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The job's stdout lines, in order.
fn printed(s: &Sandbox, id: i64) -> Vec<String> {
    s.log_records(id)
        .into_iter()
        .filter(|(stream, _)| *stream == 'o')
        .map(|(_, text)| text)
        .collect()
}

fn assert_counted(lines: &[String], n: usize) {
    assert_eq!(
        lines.len(),
        n,
        "every line once: {:?}",
        &lines[lines.len().saturating_sub(3)..]
    );
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line, &format!("line {}", i + 1), "in order");
    }
}

#[test]
fn remote_engines_over_ssh_in_the_lab() {
    let Some(lab) = EngineLab::up("remote_engines_over_ssh_in_the_lab", 2) else {
        return;
    };
    if !common::docker_available("remote_engines_over_ssh_in_the_lab") {
        return;
    }
    let mut s = lab_sandbox(&lab);
    let checkout = env!("CARGO_MANIFEST_DIR");

    // The lab's engines are elsewhere: none of this machine's files are there.
    for path in ["/work", checkout, &s.home.display().to_string()] {
        let seen = lab.in_engine(1, &["ls", path]);
        assert!(!seen.status.success(), "{path} exists inside the lab's engine");
    }

    let engines = json(&s.ok(&["engines", "--json"]));
    let names: Vec<&str> = engines
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["local", "lab1", "lab2"]);
    for engine in engines.as_array().unwrap() {
        assert!(engine["docker_version"].is_string(), "{engine}");
    }

    the_salary_tutorial_runs_there(&lab, &s);
    the_workbench_runs_it_there_too(&s);
    an_image_only_here_is_sent(&lab, &s);
    a_killed_supervisor_is_replaced_with_nothing_lost(&s);
    exec_top_and_stop_reach_a_remote_job(&s);
    a_cut_link_is_waited_for_and_nothing_is_lost(&lab, &s);
    a_sweep_spreads_over_three_engines_sending_its_code_once_to_each(&s);
    a_changed_host_key_is_refused(&lab, &s);
    gc_frees_what_ended_jobs_left_on_the_engines(&lab, &s);
    a_tls_engine_serves_on_its_own_address(&lab, &mut s);
}

/// lab1 again, over tcp:// with the lab's CA and client certificate, from the hub (the only
/// place its address answers): the model trained there is read and served, its URL on the
/// engine's host, since a tcp:// engine's 127.0.0.1 is not this machine's.
fn a_tls_engine_serves_on_its_own_address(lab: &EngineLab, s: &mut Sandbox) {
    s.configure(
        "",
        &format!("{}\n{}", lab.engine_tables(), lab.tls_engine_tables()),
    );
    s.wrapper = lab.in_hub();
    let engines = json(&s.ok(&["engines", "--json"]));
    let tls = engines
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "lab1tls")
        .unwrap_or_else(|| panic!("no lab1tls in {engines}"));
    assert!(tls["docker_version"].is_string(), "{tls}");

    let model = salary_model_on(s, "lab1tls");
    let want = model["intercept"].as_f64().unwrap() + model["coefficients"][0].as_f64().unwrap() * 7.5;

    let port = common::free_port();
    let deploy = |mapping: &str| {
        s.run(&[
            "deploy",
            "--project",
            "p",
            "--model",
            "salary",
            "--engine",
            "lab1tls",
            "--port",
            mapping,
        ])
    };
    let loopback = deploy(&format!("{port}:8080"));
    let said = String::from_utf8_lossy(&loopback.stderr);
    assert!(
        !loopback.status.success()
            && said.contains("127.0.0.1")
            && said.contains(&format!("0.0.0.0:{port}:8080")),
        "{said}"
    );
    let out = deploy(&format!("0.0.0.0:{port}:8080"));
    let url = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        url.trim(),
        format!("http://10.79.0.11:{port}"),
        "the engine's host"
    );
    let answer = json(&s.ok(&["predict", "7.5", "--json"]));
    let got = answer[0]["salary"]
        .as_f64()
        .unwrap_or_else(|| panic!("no prediction in {answer}"));
    assert!((got - want).abs() < 1e-6 * want.abs(), "{got} != {want}");
    s.ok(&["deploy", "stop", "salary"]);
    s.wrapper.clear();
}

/// The engines' images are listed through them; gc removes the code volumes no live job runs
/// and keeps the projects' storage.
fn gc_frees_what_ended_jobs_left_on_the_engines(lab: &EngineLab, s: &Sandbox) {
    assert!(s.ok(&["images", "--engine", "lab2"]).contains(BUSYBOX));
    let label = mlbench_store::Home::at(s.home.clone()).unwrap().label();
    let code = format!("mlbench-{label}-code-");
    assert!(lab.docker(1, &["volume", "ls", "-q"]).contains(&code));
    let freed = s.ok(&["gc", "--older-than", "0"]);
    assert!(
        freed.contains("volume(s) of code and ended jobs' layers on remote engines: lab1/"),
        "{freed}"
    );
    for n in [1, 2] {
        let volumes = lab.docker(n, &["volume", "ls", "-q"]);
        assert!(!volumes.contains(&code), "lab{n}: {volumes}");
        // Every job there has ended: no layer is left.
        let layers = lab.in_engine(
            n,
            &[
                "ls",
                &format!("/var/lib/docker/volumes/mlbench-{label}-layers/_data"),
            ],
        );
        let left = String::from_utf8_lossy(&layers.stdout);
        assert!(
            layers.status.success() && left.trim().is_empty(),
            "lab{n}: {left}"
        );
        assert!(
            volumes.contains(&format!("mlbench-{label}-storage-")),
            "lab{n}: {volumes}"
        );
    }
}

/// Train, its logs and metrics, the model in the engine's storage (not here), plot and get from
/// there, deploy there, predict through the SSH tunnel, stop.
fn the_salary_tutorial_runs_there(lab: &EngineLab, s: &Sandbox) {
    let repo = s.folder("salary", &[]);
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sal.csv"),
        repo.join("sal.csv"),
    )
    .unwrap();
    let out = s.run(&[
        "run",
        "--project",
        "p",
        "--engine",
        "lab1",
        "--repo",
        repo.to_str().unwrap(),
        "-f",
        "--",
        "mlbench",
        "train",
        "-i",
        "sal.csv",
        "-o",
        "/storage/salary",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Model written to /storage/salary/model.json (version 1)"),
        "{stdout}"
    );
    let job = s.job(1);
    assert_eq!(
        (job["engine"].as_str(), job["state"].as_str()),
        (Some("lab1"), Some("succeeded"))
    );
    assert!(s.ok(&["logs", "1"]).contains("Slope : "), "the log is kept here");
    let metrics = json(&s.ok(&["metrics", "1", "--json"]));
    assert!(metrics.to_string().contains("\"Slope\""), "{metrics}");

    // Nothing of it here but its log and metrics: the storage is the engine's volume.
    assert!(
        !s.home.join("projects/p/storage/salary").exists(),
        "a host path became its storage"
    );
    assert!(!s.home.join("jobs/1/workspace").exists() && !s.home.join("jobs/1/changes").exists());
    let label = mlbench_store::Home::at(s.home.clone()).unwrap().label();
    let volumes = lab.docker(1, &["volume", "ls", "-q"]);
    for held in ["storage-p", "layers"] {
        assert!(volumes.contains(&format!("mlbench-{label}-{held}")), "{volumes}");
    }
    let listed = s.ok(&["storage", "ls", "p", "--engine", "lab1"]);
    assert!(
        listed.contains("/storage/salary/versions/1/model.json"),
        "{listed}"
    );
    assert!(
        !s.ok(&["storage", "ls", "p"]).contains("salary"),
        "the local storage is another"
    );
    let model = salary_model_on(s, "lab1");
    let intercept = model["intercept"].as_f64().unwrap();
    let slope = model["coefficients"][0].as_f64().unwrap();
    let models = json(&s.ok(&["models", "--engine", "lab1", "--json"]));
    assert_eq!(models[0]["versions"][0]["job"], 1, "{models}");

    let png = s.dir.path().join("fit.png");
    s.ok(&["plot", "1", "-o", png.to_str().unwrap()]);
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));

    let port = common::free_port();
    let url = s.ok(&[
        "deploy",
        "--project",
        "p",
        "--model",
        "salary",
        "--engine",
        "lab1",
        "--port",
        &format!("{port}:8080"),
    ]);
    assert_eq!(
        url.trim(),
        format!("http://127.0.0.1:{port}"),
        "one local URL, through the tunnel"
    );
    let answer = json(&s.ok(&["predict", "25", "--json"]));
    let want = intercept + slope * 25.0;
    let got = answer[0]["salary"]
        .as_f64()
        .unwrap_or_else(|| panic!("no prediction in {answer}"));
    assert!((got - want).abs() < 1e-6 * want.abs(), "{got} != {want}");
    s.ok(&["deploy", "stop", "salary"]);
}

/// The same tutorial from the workbench: the form's engine field, the job's log, the fit chart
/// from the engine's storage, serving there and a prediction through the SSH tunnel.
fn the_workbench_runs_it_there_too(s: &Sandbox) {
    if !tmux_available("remote_engines_over_ssh_in_the_lab (the workbench)") {
        return;
    }
    s.ok(&["project", "create", "w"]);
    let repo = s.folder("workbench", &[]);
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sal.csv"),
        repo.join("sal.csv"),
    )
    .unwrap();
    let tmux = Tmux::start_with(s, "remote", "docker");
    tmux.wait_for("jobs of p");
    tmux.keys(&["Tab", "Down"]);
    tmux.wait_for("jobs of w");
    tmux.keys(&["n"]);
    tmux.wait_for("new experiment in w");
    // From the repo field up to the engine's: local, lab1, lab2, auto.
    tmux.keys(&["Up", "Up"]);
    tmux.wait_for("▶ engine");
    tmux.keys(&["Right"]);
    tmux.wait_for("‹ lab1 · ");
    tmux.keys(&["Down", "Down", repo.to_str().unwrap(), "Enter", "Enter"]);
    tmux.keys(&["mlbench train -i sal.csv -o /storage/salary"]);
    tmux.keys(&["Enter"; 5]);
    let screen = tmux.wait_for(" submitted");
    let job: i64 = screen
        .split("job ")
        .filter_map(|rest| rest.split_once(" submitted"))
        .find_map(|(id, _)| id.parse().ok())
        .expect("the status line names the job");
    tmux.wait_for(&format!("{job:<3} succeeded"));
    assert_eq!(s.job(job)["engine"], "lab1");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Model written to /storage/salary/model.json");
    tmux.keys(&["Escape", "c"]);
    tmux.wait_for("y = 103126 + 1841·x");
    tmux.keys(&["Escape"]);
    let port = common::free_port();
    tmux.keys(&["s"]);
    tmux.wait_for("8080:8080");
    tmux.keys(&["BSpace"; 9]);
    tmux.keys(&[&format!("{port}:8080"), "Enter"]);
    tmux.wait_for("serving salary at");
    tmux.keys(&["p"]);
    tmux.wait_for("predict: w at");
    tmux.keys(&["2", "5", "Enter"]);
    tmux.wait_for("25 → 149147");
    tmux.keys(&["Escape", "s"]);
    tmux.wait_for("Stop deployment salary?");
    tmux.keys(&["y"]);
    tmux.wait_for("stopped serving");
    tmux.keys(&["q"]);
    tmux.wait_for("EXITED 0");
}

/// A user's image only this machine's engine has goes to the remote one before the job starts.
fn an_image_only_here_is_sent(lab: &EngineLab, s: &Sandbox) {
    assert!(lab.docker(2, &["images", "-q", BUSYBOX]).is_empty());
    let repo = s.folder("empty", &[]);
    let out = s.run(&[
        "run",
        "--project",
        "p",
        "--engine",
        "lab2",
        "--image",
        BUSYBOX,
        "--repo",
        repo.to_str().unwrap(),
        "-f",
        "--",
        "sh",
        "-c",
        "echo hi > /storage/x; cat /storage/x",
    ]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!("image {BUSYBOX} sent to engine lab2")),
        "{said}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hi");
    assert!(!lab.docker(2, &["images", "-q", BUSYBOX]).is_empty());
    assert!(!s.home.join("projects/p/storage/x").exists());
}

/// Starts a job on lab1 printing `line 1` … `line N`, `pause` seconds apart; returns its id.
fn counting_job(s: &Sandbox, lines: usize, pause: &str) -> i64 {
    let repo = s.folder("count", &[]);
    let script =
        format!("i=0; while [ $i -lt {lines} ]; do i=$((i+1)); echo \"line $i\"; sleep {pause}; done");
    let out = s.ok(&[
        "run",
        "--project",
        "p",
        "--engine",
        "lab1",
        "--image",
        BUSYBOX,
        "--repo",
        repo.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &script,
    ]);
    out.trim().parse().unwrap()
}

fn a_killed_supervisor_is_replaced_with_nothing_lost(s: &Sandbox) {
    let id = counting_job(s, 300, "0.01");
    wait_for(s, id, "printed", |_| printed(s, id).len() > 20);
    s.kill_supervisor(id);
    let job = wait_for(s, id, "ended", |j| {
        j["state"] == "succeeded" || j["state"] == "failed"
    });
    assert_eq!(job["exit_code"], 0, "{job}");
    assert_counted(&printed(s, id), 300);
}

/// `exec` runs in the job's container there (its code under its own layer), `top` reads its
/// usage from that engine, `stop` ends it.
fn exec_top_and_stop_reach_a_remote_job(s: &Sandbox) {
    let repo = s.folder("entered", &[("marker.txt", "in the workspace\n")]);
    let id: i64 = s
        .ok(&[
            "run",
            "--project",
            "p",
            "--engine",
            "lab2",
            "--image",
            BUSYBOX,
            "--repo",
            repo.to_str().unwrap(),
            "--",
            "sleep",
            "600",
        ])
        .trim()
        .parse()
        .unwrap();
    wait_for(s, id, "ran", |j| j["state"] == "running");
    let out = s.run(&[
        "exec",
        &id.to_string(),
        "--",
        "sh",
        "-c",
        "cat marker.txt; echo written > own.txt; cat own.txt; exit 3",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "in the workspace\nwritten\n");
    let top = json(&s.ok(&["top", "--json"]));
    let row = top
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["job"] == id)
        .unwrap_or_else(|| panic!("job {id} not in {top}"));
    assert!(row["memory_bytes"].as_u64().unwrap() > 0, "{row}");
    s.ok(&["stop", &id.to_string(), "--grace", "1"]);
    assert_eq!(s.job(id)["state"], "stopped");
}

/// The lab's network taken from lab1 and its SSH master killed mid-job: the row says since when
/// the engine is unreachable; once it is back, the job's every line is there once and its end
/// is recorded.
fn a_cut_link_is_waited_for_and_nothing_is_lost(lab: &EngineLab, s: &Sandbox) {
    let id = counting_job(s, 120, "0.1");
    wait_for(s, id, "printed", |_| printed(s, id).len() > 5);
    lab.set_link(1, false);
    let control = s.home.join("engines/lab1/ssh.ctl");
    let killed = Command::new("ssh")
        .arg("-S")
        .arg(&control)
        .args(["-O", "exit", "lab1"])
        .output()
        .unwrap();
    assert!(
        killed.status.success(),
        "{}",
        String::from_utf8_lossy(&killed.stderr)
    );
    let job = wait_for(s, id, "said its engine is unreachable", |j| {
        j["trouble"]
            .as_str()
            .is_some_and(|t| t.starts_with("lab1 unreachable since"))
    });
    assert_eq!(job["state"], "running");
    let listed = s.ok(&["jobs"]);
    assert!(listed.contains("running (lab1 unreachable since"), "{listed}");
    std::thread::sleep(Duration::from_secs(3));
    lab.set_link(1, true);
    let job = wait_for(s, id, "ended", |j| {
        j["state"] == "succeeded" || j["state"] == "failed"
    });
    assert_eq!(job["exit_code"], 0, "{job}");
    assert!(job["trouble"].is_null(), "{job}");
    assert_counted(&printed(s, id), 120);
    let notes: Vec<String> = s
        .log_records(id)
        .into_iter()
        .filter(|(stream, _)| *stream == 'm')
        .map(|(_, text)| text)
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("engine lab1 was unreachable from")),
        "{notes:?}"
    );
}

fn a_sweep_spreads_over_three_engines_sending_its_code_once_to_each(s: &Sandbox) {
    let repo = s.folder("sweep", &[("train.sh", "sleep 1; echo \"score : $1\"\n")]);
    let out = s.run(&[
        "sweep",
        "--project",
        "p",
        "--engine",
        "auto",
        "--machine",
        "WIDE",
        "--image",
        BUSYBOX,
        "--repo",
        repo.to_str().unwrap(),
        "--grid",
        "x=1..6",
        "--metric",
        "score",
        "--minimize",
        "-f",
        "--",
        "sh",
        "train.sh",
        "{x}",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let jobs = s.jobs();
    let trials: Vec<&serde_json::Value> = jobs
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| !j["sweep"].is_null())
        .collect();
    assert_eq!(trials.len(), 6);
    let mut engines: Vec<&str> = trials.iter().map(|j| j["engine"].as_str().unwrap()).collect();
    engines.sort_unstable();
    assert_eq!(
        engines,
        ["lab1", "lab1", "lab2", "lab2", "local", "local"],
        "spread evenly"
    );
    for engine in ["lab1", "lab2"] {
        let sent = trials
            .iter()
            .filter(|j| j["engine"] == engine)
            .filter(|j| {
                s.log_records(j["id"].as_i64().unwrap())
                    .iter()
                    .any(|(stream, text)| *stream == 'm' && text.starts_with("sent the code to engine"))
            })
            .count();
        assert_eq!(sent, 1, "the code went to {engine} once");
    }
}

/// An engine whose host key is not the one known_hosts pins is refused, naming it, in one line.
fn a_changed_host_key_is_refused(lab: &EngineLab, s: &Sandbox) {
    let known = std::fs::read_to_string(lab.dir.join("known_hosts")).unwrap();
    let keys: Vec<&str> = known.lines().collect();
    // lab2's address pinned to lab1's key: what a reinstalled (or impersonated) server looks like.
    let lab1_key = keys[0].split_once(' ').unwrap().1;
    let lab2_address = keys[1].split_once(' ').unwrap().0;
    let tampered = s.dir.path().join("known_hosts");
    std::fs::write(&tampered, format!("{lab2_address} {lab1_key}\n")).unwrap();
    let config = std::fs::read_to_string(lab.ssh_config()).unwrap().replace(
        &lab.dir.join("known_hosts").display().to_string(),
        &tampered.display().to_string(),
    );
    let ssh_config = s.dir.path().join("ssh_config");
    std::fs::write(&ssh_config, config).unwrap();
    s.ok(&[
        "engines",
        "add",
        "moved",
        "ssh://root@lab2",
        "--ssh-config",
        ssh_config.to_str().unwrap(),
    ]);
    let repo = s.folder("empty", &[]);
    let out = s.run(&[
        "run",
        "--project",
        "p",
        "--engine",
        "moved",
        "--image",
        BUSYBOX,
        "--repo",
        repo.to_str().unwrap(),
        "--",
        "true",
    ]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(
        said.contains("engine moved (ssh://root@lab2)") && said.contains("host key has changed"),
        "{said}"
    );
    let engines = s.ok(&["engines", "--json"]);
    assert!(engines.contains("host key has changed"), "{engines}");
    s.ok(&["engines", "rm", "moved"]);
}
