//! `mlbench gc` frees what it says and nothing else: finished jobs' folders past the age, staging
//! leftovers of killed submits, runtime images a newer build replaced; never /storage, never a
//! running or recent job, never a row or a metric.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::Sandbox;
use serde_json::Value;

/// What `du` says the folders hold, in bytes (the store is left out: its WAL moves with every
/// write).
fn used(dirs: &[&Path]) -> u64 {
    dirs.iter()
        .filter(|d| d.exists())
        .map(|dir| {
            let out = Command::new("du").args(["-s", "-B1"]).arg(dir).output().unwrap();
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum()
}

/// Makes job `id` look finished `days` ago.
fn finished_days_ago(s: &Sandbox, id: i64, days: i64) {
    let conn = rusqlite::Connection::open(s.home.join("mlbench.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    let at = (chrono::Utc::now() - chrono::Duration::days(days))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    conn.execute(
        "UPDATE jobs SET finished_at = ?1 WHERE id = ?2",
        rusqlite::params![at, id],
    )
    .unwrap();
}

fn gc_json(s: &Sandbox, args: &[&str]) -> Value {
    let mut all = vec!["gc", "--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&s.ok(&all)).unwrap()
}

#[test]
fn gc_frees_finished_jobs_and_leftovers_and_nothing_else() {
    let s = Sandbox::new("local");
    s.ok(&["project", "create", "p"]);
    let repo = s.folder("repo", &[("data.bin", &"x".repeat(300_000))]);
    let repo = repo.to_str().unwrap();
    let run = |cmd: &str| {
        let _ = s.run(&[
            "run",
            "--project",
            "p",
            "--repo",
            repo,
            "-f",
            "--",
            "sh",
            "-c",
            cmd,
        ]);
    };
    run("echo 'MSE : 3'; head -c 200000 /dev/zero > out.bin"); // 1: succeeded, old
    run("echo 'MSE : 4'; exit 2"); // 2: failed, old
    run("echo recent"); // 3: succeeded, recent
    s.ok(&["run", "--project", "p", "--repo", repo, "--", "sleep", "30"]); // 4: running
    s.wait_for_state(4, |st| st == "running", Duration::from_secs(10));
    finished_days_ago(&s, 1, 40);
    finished_days_ago(&s, 2, 40);
    std::fs::write(s.home.join("projects/p/storage/model.json"), "{}").unwrap();
    // What a submit killed mid-copy leaves: a staging folder whose process is gone.
    let dead_pid = (900_000..)
        .find(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        .unwrap();
    let leftover = s.home.join(format!("staging/job-{dead_pid}-abc123"));
    std::fs::create_dir_all(&leftover).unwrap();
    std::fs::write(leftover.join("half.bin"), vec![1u8; 100_000]).unwrap();

    let jobs_dir = s.home.join("jobs");
    let staging_dir = s.home.join("staging");
    let before = used(&[&jobs_dir, &staging_dir]);
    let dry = gc_json(&s, &["--dry-run"]);
    assert_eq!(dry["jobs"], serde_json::json!([1, 2]));
    assert_eq!(dry["staging"], 1);
    assert_eq!(
        used(&[&jobs_dir, &staging_dir]),
        before,
        "a dry run removed something"
    );
    assert!(s.home.join("jobs/1/output.log").exists());

    let kept_failed = gc_json(&s, &["--keep-failed"]);
    assert_eq!(kept_failed["jobs"], serde_json::json!([1]));
    assert_eq!(kept_failed["staging"], 1);
    assert!(
        s.home.join("jobs/2/output.log").exists(),
        "--keep-failed removed a failed job's log"
    );
    let rest = gc_json(&s, &[]);
    assert_eq!(rest["jobs"], serde_json::json!([2]));
    let after = used(&[&jobs_dir, &staging_dir]);
    let said = [&kept_failed, &rest]
        .iter()
        .map(|f| f["job_bytes"].as_u64().unwrap() + f["staging_bytes"].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(
        before - after,
        said,
        "gc said it freed {said} bytes, du says {}",
        before - after
    );
    assert_eq!(
        said,
        dry["job_bytes"].as_u64().unwrap() + dry["staging_bytes"].as_u64().unwrap()
    );

    // Nothing else went: the recent job, the running one, /storage, rows and metrics.
    assert!(!s.home.join("jobs/1").exists() && !leftover.exists());
    for job in [3, 4] {
        assert!(
            s.home.join(format!("jobs/{job}/output.log")).exists(),
            "job {job}'s log went"
        );
    }
    assert!(s.home.join("projects/p/storage/model.json").exists());
    assert_eq!(s.job(4)["state"], "running");
    assert!(s.job(1)["cleaned_at"].is_string());
    assert_eq!(s.job(3)["cleaned_at"], Value::Null);
    let metrics: Value = serde_json::from_str(&s.ok(&["metrics", "1", "--json"])).unwrap();
    assert_eq!(metrics[0]["last"], 3.0);
    let logs = s.run(&["logs", "1"]);
    assert_eq!(logs.status.code(), Some(1));
    let err = String::from_utf8_lossy(&logs.stderr);
    assert!(err.contains("job 1's log was removed by `mlbench gc`"), "{err}");
    // A second pass finds nothing; --older-than 0 takes the recent job, never the running one.
    assert_eq!(gc_json(&s, &[])["jobs"], serde_json::json!([]));
    assert_eq!(
        gc_json(&s, &["--older-than", "0"])["jobs"],
        serde_json::json!([3])
    );
    let plain = s.ok(&["gc", "--dry-run"]);
    assert!(plain.contains("would free 0 B"), "{plain}");
    let bad = s.run(&["gc", "--older-than", "soon"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not an age"));
}

#[test]
fn gc_removes_runtime_images_a_newer_build_replaced() {
    if !common::docker_available("gc_removes_runtime_images") {
        return;
    }
    let s = Sandbox::new("docker");
    // Two builds under one tag, each labelled as mlbench labels its runtime image: the first
    // loses its tag and dangles, as an old runtime image does when mlbench is rebuilt.
    let tag = format!("mlbench-test/gc-{}:1", std::process::id());
    let mut ids = Vec::new();
    for content in ["first", "second"] {
        let context = s.folder(
            &format!("ctx-{content}"),
            &[
                (
                    "Dockerfile",
                    "FROM scratch\nCOPY marker /marker\nLABEL mlbench.binary-sha256=test\n",
                ),
                ("marker", content),
            ],
        );
        let built = Command::new("docker")
            .args(["build", "-q", "-t", &tag])
            .arg(&context)
            .output()
            .unwrap();
        assert!(
            built.status.success(),
            "{}",
            String::from_utf8_lossy(&built.stderr)
        );
        ids.push(String::from_utf8_lossy(&built.stdout).trim().to_string());
    }
    let exists = |id: &str| {
        Command::new("docker")
            .args(["image", "inspect", id])
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(exists(&ids[0]));
    let dry = gc_json(&s, &["--dry-run"]);
    let short: String = ids[0].trim_start_matches("sha256:").chars().take(12).collect();
    assert!(
        dry["images"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i == &Value::String(short.clone())),
        "{dry}"
    );
    assert!(exists(&ids[0]));
    let freed = gc_json(&s, &[]);
    assert!(
        freed["images"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i == &Value::String(short.clone()))
    );
    assert!(!exists(&ids[0]), "the replaced image is still there");
    assert!(exists(&tag), "the tagged image went");
    let _ = Command::new("docker").args(["rmi", "-f", &tag]).output();
}

#[test]
fn gc_removes_a_snapshot_once_no_job_runs_it_and_none_took_it_lately() {
    let s = Sandbox::new("local");
    s.ok(&["project", "create", "p"]);
    let old = s.folder("old", &[("train.py", "print(1)")]);
    let new = s.folder("new", &[("train.py", "print(2)")]);
    for repo in [&old, &new] {
        s.ok(&[
            "run",
            "--project",
            "p",
            "--repo",
            repo.to_str().unwrap(),
            "-f",
            "--",
            "true",
        ]);
    }
    let snapshots = || -> Vec<std::path::PathBuf> {
        let mut all: Vec<_> = std::fs::read_dir(s.home.join("snapshots"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        all.sort();
        all
    };
    assert_eq!(snapshots().len(), 2);
    let old_key = s.job(1)["snapshot"].as_str().unwrap().to_string();
    let old_snapshot = s.home.join("snapshots").join(&old_key);
    finished_days_ago(&s, 1, 40);
    // Job 1 goes; its snapshot was taken just now, and a submit may be about to use it.
    let first = gc_json(&s, &[]);
    assert_eq!(first["jobs"], serde_json::json!([1]));
    assert_eq!(first["snapshots"], 0);
    // An hour and more later, nothing runs it: it goes. Job 2's stays.
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::open(&old_snapshot)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let used_by_two = s
        .home
        .join("snapshots")
        .join(s.job(2)["snapshot"].as_str().unwrap());
    std::fs::File::open(&used_by_two)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let dry = gc_json(&s, &["--dry-run"]);
    assert_eq!(dry["snapshots"], 1);
    assert!(old_snapshot.exists());
    let second = gc_json(&s, &[]);
    assert_eq!(second["snapshots"], 1);
    assert!(second["snapshot_bytes"].as_u64().unwrap() > 0);
    assert_eq!(snapshots(), vec![used_by_two]);
    // The same code again makes its snapshot anew.
    s.ok(&[
        "run",
        "--project",
        "p",
        "--repo",
        old.to_str().unwrap(),
        "-f",
        "--",
        "cat",
        "train.py",
    ]);
    assert!(old_snapshot.join("train.py").is_file());
}
