//! A home made by mlbench 0.1.0 (tests/fixtures/mlbench-0.1.0, see its MADE.md), opened by this
//! mlbench: every project, job, log line and metric is still there and reads the same.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::Sandbox;
use serde_json::Value;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mlbench-0.1.0")
}

fn said(name: &str) -> String {
    std::fs::read_to_string(fixture().join("said").join(name)).unwrap()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// A sandbox whose home is a fresh copy of the 0.1.0 home.
fn old_home() -> Sandbox {
    let s = Sandbox::new("local");
    copy_tree(&fixture().join("home"), &s.home);
    s
}

#[test]
fn a_0_1_0_home_keeps_every_project_job_and_metric() {
    let s = old_home();
    let then: Value = serde_json::from_str(&said("jobs.json")).unwrap();
    let now = s.jobs();
    let (then, now) = (then.as_array().unwrap(), now.as_array().unwrap());
    assert_eq!(now.len(), then.len());
    for (old, new) in then.iter().zip(now) {
        for field in [
            "id",
            "spec",
            "runtime",
            "state",
            "created_at",
            "started_at",
            "finished_at",
            "exit_code",
        ] {
            let old_value = &old[field];
            let new_value = if field == "spec" {
                // Fields added since 0.1.0 come with their defaults; the old ones are unchanged.
                &Value::Object(
                    new[field]
                        .as_object()
                        .unwrap()
                        .iter()
                        .filter(|(k, _)| old[field].get(k.as_str()).is_some())
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                )
            } else {
                &new[field]
            };
            assert_eq!(new_value, old_value, "job {}: {field}", old["id"]);
        }
        assert_eq!(new["node"], Value::Null);
    }
    let projects: Value = serde_json::from_str(&s.ok(&["projects", "--json"])).unwrap();
    let old_projects: Value = serde_json::from_str(&said("projects.json")).unwrap();
    for (old, new) in old_projects
        .as_array()
        .unwrap()
        .iter()
        .zip(projects.as_array().unwrap())
    {
        assert_eq!((&new["name"], &new["jobs"]), (&old["name"], &old["jobs"]));
    }
    for job in ["1", "2"] {
        let then: Value = serde_json::from_str(&said(&format!("metrics{job}.json"))).unwrap();
        let now: Value = serde_json::from_str(&s.ok(&["metrics", job, "--json"])).unwrap();
        let (then, now) = (then.as_array().unwrap(), now.as_array().unwrap());
        assert_eq!(now.len(), then.len(), "job {job}'s metrics");
        for (old, new) in then.iter().zip(now) {
            for field in ["key", "last", "min", "max", "count"] {
                assert_eq!(
                    new[field], old[field],
                    "job {job}: metric {}: {field}",
                    old["key"]
                );
            }
        }
    }
    let notes = s.ok(&["storage", "ls", "salary"]);
    assert!(notes.contains("notes.txt"), "{notes}");
}

#[test]
fn a_0_1_0_home_keeps_every_log_line_on_its_stream() {
    let s = old_home();
    for job in ["1", "2"] {
        // With its notes: every line the 0.1.0 home kept, each on its stream.
        let out = s.run(&["logs", job, "--notes"]);
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            said(&format!("logs{job}.out")),
            "job {job} stdout"
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            said(&format!("logs{job}.err")),
            "job {job} stderr"
        );
    }
    assert_eq!(s.ok(&["logs", "1", "-t"]), said("logs1t.out"));
}

#[test]
fn a_0_1_0_home_takes_new_jobs_after_its_old_ones() {
    let s = old_home();
    let repo = s.folder("repo", &[("a.txt", "a")]);
    s.ok(&[
        "run",
        "--project",
        "salary",
        "--repo",
        repo.to_str().unwrap(),
        "-f",
        "--",
        "sh",
        "-c",
        "echo 'MSE : 5'",
    ]);
    let job = s.job(3);
    assert_eq!(job["state"], "succeeded");
    let metrics: Value = serde_json::from_str(&s.ok(&["metrics", "3", "--json"])).unwrap();
    assert_eq!(metrics[0]["last"], 5.0);
    // The first job is still the first.
    assert_eq!(s.job(1)["exit_code"], 0);
}
