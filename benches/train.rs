//! Training benchmark: `mlbench train` against the Python baseline (pandas + scikit-learn,
//! `../shared/bench/baseline_train.py`) on the same 10-million-row CSV, in the same run.
//! Reports wall time and peak memory of each, their ratios, and checks that the coefficients
//! agree to 1e-6 relative.
//!
//! Run: `cargo bench --bench train` (needs python3 with numpy, pandas, scikit-learn and
//! joblib). `BENCH_ROWS=N` changes the row count; the data file is generated once and kept
//! under target/bench-data.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Measured {
    wall: Duration,
    peak_mb: f64,
    stdout: String,
}

/// Runs a command to its end; wall time and the child's peak resident memory (getrusage).
#[allow(clippy::zombie_processes)] // reaped by wait4 below, which also gives its rusage
fn measure(cmd: &mut Command) -> Measured {
    let started = Instant::now();
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    let stdout = child.stdout.map(|mut out| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut out, &mut text).expect("read stdout");
        text
    });
    let mut status = 0;
    // wait4 is the one call that gives the child's peak memory; std has no wrapper.
    #[allow(unsafe_code)]
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let (waited, usage) = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        (libc::wait4(pid, &mut status, 0, &mut usage), usage)
    };
    let wall = started.elapsed();
    assert_eq!(waited, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed"
    );
    Measured {
        wall,
        peak_mb: usage.ru_maxrss as f64 / 1024.0,
        stdout: stdout.unwrap_or_default(),
    }
}

fn best_of(rounds: usize, mut run: impl FnMut() -> Measured) -> Measured {
    (0..rounds)
        .map(|_| run())
        .min_by_key(|m| m.wall)
        .expect("at least one round")
}

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(f64::MIN_POSITIVE)
}

fn main() {
    let rows: u64 = std::env::var("BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/bench");
    let data_dir = root.join("target/bench-data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let data = data_dir.join(format!("salary-{rows}.csv"));
    if !data.exists() {
        let partial = data.with_extension("partial");
        let ok = Command::new("python3")
            .arg(shared.join("gen_salary.py"))
            .arg(rows.to_string())
            .arg(&partial)
            .status()
            .expect("python3")
            .success();
        assert!(ok, "gen_salary.py failed (pip install numpy)");
        std::fs::rename(&partial, &data).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let ours_dir: PathBuf = out.path().join("mlbench");
    let theirs_dir: PathBuf = out.path().join("baseline");
    let rounds = 3;

    let ours = best_of(rounds, || {
        measure(
            Command::new(env!("CARGO_BIN_EXE_mlbench"))
                .args(["train", "--test-size", "0", "-i"])
                .arg(&data)
                .arg("-o")
                .arg(&ours_dir),
        )
    });
    let theirs = best_of(rounds, || {
        measure(
            Command::new("python3")
                .arg(shared.join("baseline_train.py"))
                .arg(&data)
                .arg(&theirs_dir),
        )
    });

    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ours_dir.join("model.json")).unwrap()).unwrap();
    let (our_intercept, our_slope) = (
        model["intercept"].as_f64().unwrap(),
        model["coefficients"][0].as_f64().unwrap(),
    );
    let script = "import sys, joblib; m = joblib.load(sys.argv[1]); print(repr(float(m.intercept_)), repr(float(m.coef_[0])))";
    let printed = measure(
        Command::new("python3")
            .args(["-c", script])
            .arg(theirs_dir.join("model.pkl")),
    )
    .stdout;
    let values: Vec<f64> = printed.split_whitespace().map(|v| v.parse().unwrap()).collect();
    let (their_intercept, their_slope) = (values[0], values[1]);

    println!(
        "train on {rows} rows ({:.0} MB of CSV), best of {rounds}",
        std::fs::metadata(&data).unwrap().len() as f64 / 1e6
    );
    println!(
        "    mlbench train        {:>7.3} s  {:>7.1} MB peak",
        ours.wall.as_secs_f64(),
        ours.peak_mb
    );
    println!(
        "    pandas + sklearn     {:>7.3} s  {:>7.1} MB peak",
        theirs.wall.as_secs_f64(),
        theirs.peak_mb
    );
    println!(
        "    wall time: {:.1}x less (goal >= 10x); peak memory: {:.3} of the baseline's (goal <= 0.1)",
        theirs.wall.as_secs_f64() / ours.wall.as_secs_f64(),
        ours.peak_mb / theirs.peak_mb
    );
    let (di, ds) = (
        relative(our_intercept, their_intercept),
        relative(our_slope, their_slope),
    );
    println!("    intercept {our_intercept:.6} vs {their_intercept:.6} (relative difference {di:.1e})");
    println!("    slope     {our_slope:.6} vs {their_slope:.6} (relative difference {ds:.1e}; goal <= 1e-6)");
    assert!(
        di <= 1e-6 && ds <= 1e-6,
        "the coefficients differ from scikit-learn's"
    );
}
