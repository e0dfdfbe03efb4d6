//! The real binary's workbench, driven in tmux: keys in, screen text out.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Sandbox;
use common::tmux::{Tmux, tmux_available};

#[test]
fn the_workbench_lists_jobs_opens_logs_searches_and_quits() {
    if !tmux_available("the_workbench_lists_jobs_opens_logs_searches_and_quits") {
        return;
    }
    let s = Sandbox::new("local");
    s.ok(&["project", "create", "demo"]);
    let repo = s.folder("code", &[]);
    let script = "for i in 1 2 3; do echo step $i; done; echo 'MSE : 42.5'; echo oops >&2";
    s.ok(&[
        "run",
        "--project",
        "demo",
        "--repo",
        repo.to_str().unwrap(),
        "-f",
        "--",
        "sh",
        "-c",
        script,
    ]);

    let tmux = Tmux::start(&s, "workbench");
    let screen = tmux.wait_for("jobs of demo");
    assert!(screen.contains("succeeded"), "{screen}");
    assert!(
        screen.contains("MSE        42.5"),
        "the job's metric is in its details: {screen}"
    );
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("step 3");
    assert!(screen.contains("job 1 succeeded"), "{screen}");
    assert!(screen.contains("! oops"), "stderr is marked: {screen}");
    tmux.keys(&["/", "s", "t", "e", "p", "Enter"]);
    tmux.wait_for("/step: 3 matches");
    tmux.keys(&["?"]);
    tmux.wait_for("keys: logs");
    tmux.keys(&["Escape", "Escape"]);
    tmux.wait_for("jobs of demo");
    // The form starts from the latest job: Enter through it runs that again.
    tmux.keys(&["n"]);
    tmux.wait_for("new experiment in demo");
    tmux.keys(&["Enter"; 7]); // from the repo field to the last, which submits
    tmux.wait_for("job 2 submitted");
    let screen = tmux.wait_for("2   succeeded");
    assert!(screen.contains("1   succeeded"), "{screen}");
    tmux.keys(&["q"]);
    tmux.wait_for("EXITED 0");
}

#[test]
fn a_first_start_trains_the_demo_in_docker_then_charts_serves_predicts_and_reopens() {
    let test = "a_first_start_trains_the_demo_in_docker_then_charts_serves_predicts_and_reopens";
    if !tmux_available(test) || !common::docker_available(test) {
        return;
    }
    let s = Sandbox::new("docker");
    let tmux = Tmux::start_with(&s, "first", "docker");
    tmux.wait_for("jobs of salary");
    let screen = tmux.wait_for("succeeded");
    assert!(screen.contains("command mlbench train -i"), "{screen}");
    // An experiment created by keyboard: the form starts from the demo job; Enter through it.
    tmux.keys(&["n"]);
    tmux.wait_for("new experiment in salary");
    tmux.keys(&["Enter"; 7]);
    // The iris sweep's trials take ids beside it: read which id the new job got.
    let screen = tmux.wait_for(" submitted");
    let job: i64 = screen
        .split("job ")
        .filter_map(|rest| rest.split_once(" submitted"))
        .find_map(|(id, _)| id.parse().ok())
        .expect("the status line names the job");
    tmux.wait_for_any(&[
        &format!("{job:<3} preparing"),
        &format!("{job:<3} running"),
        &format!("{job:<3} succeeded"),
    ]);
    tmux.keys(&["g", "Enter"]);
    tmux.wait_for(&format!("job {job} "));
    tmux.wait_for("MSE : ");
    tmux.wait_for("Model written to /storage/salary/model.json");
    tmux.keys(&["Escape", "c"]);
    tmux.wait_for("y = 103126 + 1841·x");
    tmux.keys(&["e"]);
    // Exports go to the home's exports/ folder, never the folder mlbench was started in.
    let png = s.home.join(format!("exports/fit-job{job}.png"));
    let screen = tmux.wait_for(&format!("wrote {}", png.display()));
    assert!(png.exists(), "{screen}");
    assert!(
        !s.dir.path().join(format!("fit-job{job}.png")).exists(),
        "{screen}"
    );
    tmux.keys(&["Escape"]);
    // Serve the model on a free port, ask it for 25 years, stop serving.
    let port = common::free_port();
    tmux.keys(&["s"]);
    tmux.wait_for("8080:8080");
    tmux.keys(&["BSpace"; 9]);
    tmux.keys(&[&format!("{port}:8080"), "Enter"]);
    tmux.wait_for("serving salary at"); // the status line: ready
    tmux.wait_for(&format!("http://127.0.0.1:{port}")); // the details: the serving job
    tmux.wait_for("(running)");
    tmux.keys(&["p"]);
    tmux.wait_for("predict: salary at");
    tmux.keys(&["2", "5", "Enter"]);
    let screen = tmux.wait_for("→ 149147");
    assert!(screen.contains("25 → 149147"), "{screen}");
    tmux.keys(&["Escape", "s"]);
    tmux.wait_for("Stop deployment salary?");
    tmux.keys(&["y"]);
    tmux.wait_for("stopped serving");
    tmux.keys(&["q"]);
    tmux.wait_for("EXITED 0");
    drop(tmux);
    // Opened again, it shows the finished jobs.
    let again = Tmux::start_with(&s, "again", "docker");
    // The first project (iris) is selected; salary is the next.
    again.wait_for("jobs of iris");
    again.keys(&["Tab", "Down"]);
    let screen = again.wait_for("jobs of salary");
    assert!(
        screen.contains("succeeded") && screen.contains("stopped"),
        "{screen}"
    );
    again.keys(&["q"]);
    again.wait_for("EXITED 0");
}

/// Rows of a house price that three features make exactly: price = 20000 + 150·sqft +
/// 9000·bedrooms − 700·age (a retrain uses other coefficients).
fn houses(coefficients: [f64; 4]) -> (String, Vec<[f64; 3]>) {
    let mut csv = String::from("sqft,bedrooms,age,price\n");
    let mut rows = Vec::new();
    for i in 0..30 {
        let i = f64::from(i);
        let row = [800.0 + 37.0 * i, 1.0 + (i * 7.0) % 5.0, 5.0 + (i * 13.0) % 40.0];
        let [c0, c1, c2, c3] = coefficients;
        csv += &format!(
            "{},{},{},{}\n",
            row[0],
            row[1],
            row[2],
            c0 + c1 * row[0] + c2 * row[1] + c3 * row[2]
        );
        rows.push(row);
    }
    (csv, rows)
}

/// The line a fit chart's title draws for `feature`: `price = A + B·feature (others at means)`
/// → (A, B), as the four significant digits shown.
fn title_line(screen: &str, feature: &str) -> (f64, f64) {
    let title = screen
        .lines()
        .find(|l| l.contains(&format!("·{feature} (others at means)")))
        .unwrap_or_else(|| panic!("no line of {feature}: {screen}"));
    let equation = title.split("price = ").nth(1).unwrap();
    let (a, rest) = equation.split_once(" + ").unwrap();
    let b = rest.split('·').next().unwrap();
    (a.trim().parse().unwrap(), b.trim().parse().unwrap())
}

/// Whether `shown` is `truth` to the four significant digits numbers are shown with.
fn close(shown: f64, truth: f64) -> bool {
    (shown - truth).abs() <= truth.abs() * 1e-3
}

#[test]
fn a_three_feature_model_is_charted_served_asked_and_keeps_its_own_line_after_a_retrain() {
    let test = "a_three_feature_model_is_charted_served_asked_and_keeps_its_own_line_after_a_retrain";
    if !tmux_available(test) {
        return;
    }
    let s = Sandbox::new("local");
    s.ok(&["project", "create", "house"]);
    let first = [20_000.0, 150.0, 9_000.0, -700.0];
    let (csv, rows) = houses(first);
    let repo = s.folder("code", &[("data/houses.csv", &csv)]);
    let train = |repo: &std::path::Path| {
        s.ok(&[
            "run",
            "--project",
            "house",
            "--repo",
            repo.to_str().unwrap(),
            "-f",
            "--",
            "mlbench",
            "train",
            "-i",
            "data/houses.csv",
            "-o",
            "/storage/house",
        ])
    };
    train(&repo);
    let tmux = Tmux::start(&s, "house");
    tmux.wait_for("jobs of house");
    tmux.keys(&["c"]);
    // Independently: the line of sqft at the other features' means, from the data itself.
    let mean = |c: usize| rows.iter().map(|r| r[c]).sum::<f64>() / rows.len() as f64;
    let at_zero = |skip: usize| {
        first[0]
            + (0..3)
                .filter(|&c| c != skip)
                .map(|c| first[c + 1] * mean(c))
                .sum::<f64>()
    };
    let screen = tmux.wait_for("·sqft (others at means)");
    assert!(screen.contains("job 1 · model v1"), "{screen}");
    let (a, b) = title_line(&screen, "sqft");
    assert!(
        close(a, at_zero(0)) && close(b, 150.0),
        "{a} + {b}·sqft, expected {}: {screen}",
        at_zero(0)
    );
    tmux.keys(&["Tab"]);
    let screen = tmux.wait_for("·bedrooms (others at means)");
    let (a, b) = title_line(&screen, "bedrooms");
    assert!(
        close(a, at_zero(1)) && close(b, 9000.0),
        "{a} + {b}·bedrooms: {screen}"
    );
    tmux.keys(&["a"]);
    tmux.wait_for("actual vs predicted · R² 1 over 30 rows");
    tmux.keys(&["Escape"]);
    // Served, and asked with the model's three inputs.
    let port = common::free_port();
    tmux.keys(&["s"]);
    tmux.wait_for("8080:8080");
    tmux.keys(&["BSpace"; 9]);
    tmux.keys(&[&format!("{port}:8080"), "Enter"]);
    tmux.wait_for("serving house at");
    tmux.keys(&["p"]);
    tmux.wait_for("sqft bedrooms age:");
    tmux.keys(&["1500 3 20", "Enter"]);
    // 20000 + 150·1500 + 9000·3 − 700·20
    tmux.wait_for("1500 3 20 → 258000");
    tmux.keys(&["sqft=1000 bedrooms=2 age=10", "Enter"]);
    tmux.wait_for("1000 2 10 → 181000");
    tmux.keys(&["1500 3", "Enter"]);
    tmux.wait_for("✗ the model takes 3 inputs");
    tmux.keys(&["Escape", "s"]);
    tmux.wait_for("Stop deployment house?");
    tmux.keys(&["y"]);
    tmux.wait_for("stopped serving house");
    // A retrain into the same folder: the first job's chart still draws its own model.
    let (csv, _) = houses([50_000.0, 100.0, 5_000.0, -200.0]);
    let retrained = s.folder("code2", &[("data/houses.csv", &csv)]);
    train(&retrained);
    // Job 2 was the serving job.
    tmux.wait_for("3   succeeded");
    tmux.keys(&["G", "c"]);
    let screen = tmux.wait_for("job 1 · model v1");
    assert!(close(title_line(&screen, "sqft").1, 150.0), "{screen}");
    tmux.keys(&["Escape", "g", "c"]);
    let screen = tmux.wait_for("job 3 · model v2");
    assert!(close(title_line(&screen, "sqft").1, 100.0), "{screen}");
    tmux.keys(&["Escape", "q"]);
    tmux.wait_for("EXITED 0");
    // `models` says which job wrote each version.
    let models: serde_json::Value = serde_json::from_str(&s.ok(&["models", "--json"])).unwrap();
    let writers: Vec<i64> = models[0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["job"].as_i64().unwrap())
        .collect();
    assert_eq!(writers, [1, 3], "{models}");
}

#[test]
fn a_sweep_typed_into_the_form_runs_in_docker_and_is_compared() {
    let test = "a_sweep_typed_into_the_form_runs_in_docker_and_is_compared";
    if !tmux_available(test) || !common::docker_available(test) {
        return;
    }
    let s = Sandbox::new("docker");
    common::busybox_image(&s);
    s.ok(&["project", "create", "p"]);
    let repo = s.folder("code", &[]);
    // A first job, so the form starts from its image, repo and command.
    s.ok(&[
        "run",
        "--project",
        "p",
        "--machine",
        "TINY",
        "--image",
        common::BUSYBOX,
        "--repo",
        repo.to_str().unwrap(),
        "-f",
        "--",
        "true",
    ]);
    let tmux = Tmux::start_with(&s, "sweep", "docker");
    tmux.wait_for("jobs of p");
    tmux.keys(&["n"]);
    tmux.wait_for("new experiment in p");
    // repo → ref → command: type the trial's command with its placeholder.
    tmux.keys(&["Down", "Down", "BSpace", "BSpace", "BSpace", "BSpace"]);
    tmux.keys(&["sh -c 'echo loss: {n}'"]);
    tmux.keys(&["Down", "Down", "Down", "n=1..3"]);
    tmux.keys(&["Down", "loss min"]);
    tmux.wait_for("loss min");
    tmux.keys(&["Enter"]);
    tmux.wait_for("sweep 1 started");
    let screen = tmux.wait_for("sweep 3/3");
    assert!(screen.contains("S1"), "{screen}");
    tmux.keys(&["C"]);
    tmux.wait_for("sweep 1 · 3 trials · loss (minimize)");
    let screen = tmux.wait_for("★");
    // n=1 has the lowest loss: its row is marked, and every trial succeeded.
    let best = screen.lines().find(|l| l.contains('★')).unwrap();
    assert!(best.split_whitespace().nth(3) == Some("1"), "{screen}");
    assert_eq!(screen.matches("succeeded").count(), 3, "{screen}");
    tmux.keys(&["o", "o", "O"]);
    tmux.wait_for("n ↓");
    tmux.keys(&["Escape", "q"]);
    tmux.wait_for("EXITED 0");
}

/// Daily use in a real terminal against the real Docker Engine: a project made with P, a job's
/// log filtered, copied to the clipboard (tmux keeps OSC 52 copies in its paste buffer), saved,
/// and a shell opened in the job with E and left again.
#[test]
fn a_project_made_with_p_runs_a_job_whose_log_is_filtered_copied_saved_and_entered() {
    let test = "a_project_made_with_p_runs_a_job_whose_log_is_filtered_copied_saved_and_entered";
    if !tmux_available(test) || !common::docker_available(test) {
        return;
    }
    let s = Sandbox::new("docker");
    common::busybox_image(&s);
    // A project already there: this is not a first start (which would run the demo).
    s.ok(&["project", "create", "other"]);
    let tmux = Tmux::start_with(&s, "daily", "docker");
    tmux.tmux(&["set", "-g", "set-clipboard", "on"]);
    tmux.wait_for("jobs of other");
    tmux.keys(&["P"]);
    tmux.wait_for("new project");
    tmux.keys(&["Fit"]);
    tmux.wait_for("✗ lowercase letters");
    tmux.keys(&["C-u", "fit"]);
    tmux.wait_for("✓ a good name");
    tmux.keys(&["Enter"]);
    tmux.wait_for("created project fit");
    tmux.wait_for("jobs of fit");

    let repo = s.folder("code", &[]);
    let script = "for i in $(seq 1 60); do echo line $i; done; echo 'MSE : 3.5'; sleep 600";
    s.ok(&[
        "run",
        "--project",
        "fit",
        "--machine",
        "TINY",
        "--image",
        common::BUSYBOX,
        "--repo",
        repo.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        script,
    ]);
    tmux.wait_for("1   running");
    tmux.keys(&["Enter"]);
    tmux.wait_for("MSE : 3.5");
    // Only the lines with "line 4": 4 and 40–49, counted over the whole log.
    tmux.keys(&["f", "line 4", "Enter"]);
    let screen = tmux.wait_for("filter line 4: 11 lines");
    assert!(
        !screen.contains("line 39") && screen.contains("line 49"),
        "{screen}"
    );
    tmux.keys(&["y"]);
    tmux.wait_for("copied 11 lines");
    let pasted = tmux.tmux(&["show-buffer"]);
    assert!(
        pasted.starts_with("line 4\nline 40\n") && pasted.ends_with("line 49"),
        "{pasted:?}"
    );
    tmux.keys(&["S"]);
    tmux.wait_for("job-1-filtered.log");
    tmux.keys(&["Enter"]);
    tmux.wait_for("saved 11 lines");
    let saved = std::fs::read_to_string(s.home.join("exports/job-1-filtered.log")).unwrap();
    assert_eq!(saved.lines().count(), 11, "{saved}");

    // A shell in the job's container, and back.
    tmux.keys(&["Escape", "E"]);
    tmux.wait_for("a shell in job 1");
    tmux.keys(&["echo hi-from-$HOSTNAME", "Enter"]);
    let screen = tmux.wait_for("hi-from-");
    let container = s.job(1)["handle"].as_str().unwrap().to_string();
    let said = screen.lines().find(|l| l.starts_with("hi-from-")).unwrap();
    assert!(
        container.starts_with(said.trim_start_matches("hi-from-").trim()),
        "{screen}"
    );
    tmux.keys(&["exit", "Enter"]);
    tmux.wait_for("the shell in job 1 ended (exit code 0)");
    tmux.wait_for("jobs of fit");
    tmux.keys(&["x", "y"]);
    tmux.wait_for("1   stopped");
    tmux.keys(&["q"]);
    // The shell ran on the workbench's own screen: what was there before mlbench is back.
    let screen = tmux.wait_for("EXITED 0");
    assert!(
        screen.contains("before-mlbench") && !screen.contains("hi-from-"),
        "{screen}"
    );
}

#[test]
fn the_status_line_shows_what_doctor_finds_wrong() {
    if !tmux_available("the_status_line_shows_what_doctor_finds_wrong") {
        return;
    }
    let s = Sandbox::new("local");
    // A home over its disk_use_warning: the first thing doctor fails on.
    s.configure("disk_use_warning = \"1KiB\"", "");
    s.ok(&["project", "create", "demo"]);
    let doctor = s.run(&["doctor"]);
    assert_eq!(doctor.status.code(), Some(1));
    let tmux = Tmux::start(&s, "health");
    let screen = tmux.wait_for("⚠ disk use: the mlbench home holds");
    let status = screen.lines().rev().find(|l| l.contains('⚠')).unwrap();
    assert!(status.contains("above disk_use_warning (1.0 KiB)"), "{status}");
    tmux.keys(&["q"]);
    tmux.wait_for("EXITED 0");
}

/// The peak memory of the workbench tmux runs (the pane's shell's child), from /proc.
fn workbench_peak_rss(tmux: &Tmux) -> u64 {
    let shell = tmux.tmux(&["list-panes", "-t", &tmux.session, "-F", "#{pane_pid}"]);
    let shell = shell.trim();
    let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).unwrap();
    let pid = children
        .split_whitespace()
        .next()
        .expect("mlbench runs in the pane");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

/// A storage of 300,000 files in 300 folders: the browser reads one folder at a time, so it
/// opens at once and the workbench stays small (it took 509 MB when it listed everything).
#[test]
fn the_storage_browser_opens_a_huge_storage_one_folder_at_a_time() {
    const FOLDERS: usize = 300;
    const FILES: usize = 1_000;
    if !tmux_available("the_storage_browser_opens_a_huge_storage_one_folder_at_a_time") {
        return;
    }
    let s = Sandbox::new("local");
    s.ok(&["project", "create", "big"]);
    let storage = s.home.join("projects/big/storage");
    for folder in 0..FOLDERS {
        let dir = storage.join(format!("shard-{folder:03}"));
        std::fs::create_dir_all(&dir).unwrap();
        for file in 0..FILES {
            std::fs::File::create(dir.join(format!("part-{file:04}.csv"))).unwrap();
        }
    }
    let tmux = Tmux::start(&s, "storage");
    tmux.wait_for("jobs of big");
    tmux.keys(&["b"]);
    let screen = tmux.wait_for("/storage of big · 300 entries");
    assert!(screen.contains("shard-000/"), "{screen}");
    tmux.keys(&["j", "Enter"]);
    let screen = tmux.wait_for("/storage/shard-001 of big · 1000 entries");
    assert!(screen.contains("part-0000.csv"), "{screen}");
    tmux.keys(&["G"]);
    tmux.wait_for("▶part-0999.csv");
    tmux.keys(&["Escape"]);
    let screen = tmux.wait_for("/storage of big · 300 entries");
    assert!(
        screen.contains("▶shard-001/"),
        "back on the folder it came from: {screen}"
    );
    let peak = workbench_peak_rss(&tmux);
    eprintln!("the workbench's peak memory: {peak} bytes");
    assert!(peak < 64 << 20, "the workbench held {peak} bytes");
    tmux.keys(&["Escape", "q"]);
    tmux.wait_for("EXITED 0");
}
