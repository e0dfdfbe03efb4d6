//! Training benchmark: `mlbench train` against the Python baseline (pandas + scikit-learn,
//! `../shared/bench/baseline_train.py`) and the strongest peers, DuckDB (`regr_intercept` /
//! `regr_slope` over `read_csv`) and polars (`read_csv` + numpy least squares), on the same
//! 10-million-row CSV, in the same run. Reports wall time and peak memory of each, their
//! ratios, checks that the coefficients agree to 1e-6 relative, and measures two floors in
//! this process: reading the file (page cache to memory) and parsing its floats (two threads,
//! `str::parse::<f64>` per field).
//!
//! Run: `cargo bench --bench train` (needs python3 with numpy, pandas, scikit-learn, joblib,
//! duckdb and polars). `BENCH_ROWS=N` changes the row count; the data file is generated once
//! and kept under target/bench-data.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/summary.rs"]
mod summary;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use summary::{Figure, Goal};

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

    let peer = |script: &str| {
        best_of(rounds, || {
            measure(
                Command::new("python3")
                    .arg(shared.join(script))
                    .arg(&data)
                    .args(["x", "y"]),
            )
        })
    };
    let duckdb = peer("anchor_duckdb.py");
    let polars = peer("anchor_polars.py");

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
    let (read_floor, parse_floor) = floors(&data);

    println!(
        "train on {rows} rows ({:.0} MB of CSV), best of {rounds}",
        std::fs::metadata(&data).unwrap().len() as f64 / 1e6
    );
    for (name, m) in [
        ("mlbench train", &ours),
        ("DuckDB", &duckdb),
        ("polars + numpy", &polars),
        ("pandas + sklearn", &theirs),
    ] {
        println!(
            "    {name:<20} {:>7.3} s  {:>7.1} MB peak",
            m.wall.as_secs_f64(),
            m.peak_mb
        );
    }
    println!(
        "    floors: reading the file {:.3} s; parsing its floats (2 threads) {:.3} s; mlbench is {:.1}x the read and {:.1}x the parse",
        read_floor.as_secs_f64(),
        parse_floor.as_secs_f64(),
        ours.wall.as_secs_f64() / read_floor.as_secs_f64(),
        ours.wall.as_secs_f64() / parse_floor.as_secs_f64()
    );
    let faster = |m: &Measured| m.wall.as_secs_f64() / ours.wall.as_secs_f64();
    println!(
        "    wall time: {:.1}x less than pandas (goal >= 10x), {:.2}x less than DuckDB (goal >= 2x); peak memory: {:.3} of pandas' (goal <= 0.1), {:.3} of DuckDB's (goal <= 0.1)",
        faster(&theirs),
        faster(&duckdb),
        ours.peak_mb / theirs.peak_mb,
        ours.peak_mb / duckdb.peak_mb
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
    for (name, m) in [("DuckDB", &duckdb), ("polars", &polars)] {
        let (i, s) = printed_coefficients(&m.stdout);
        let (di, ds) = (relative(our_intercept, i), relative(our_slope, s));
        println!("    {name}: intercept {i:.6}, slope {s:.6} (relative differences {di:.1e}, {ds:.1e})");
        assert!(di <= 1e-6 && ds <= 1e-6, "the coefficients differ from {name}'s");
    }
    let secs = |m: &Measured| format!("{:.3} s", m.wall.as_secs_f64());
    let mb = |m: &Measured| format!("{:.1} MB", m.peak_mb);
    summary::record(
        "train",
        &[
            Figure::new(
                "wall time vs pandas + sklearn (x less)",
                secs(&ours),
                secs(&theirs),
                faster(&theirs),
                Goal::AtLeast(10.0),
            ),
            Figure::new(
                "wall time vs DuckDB (x less)",
                secs(&ours),
                secs(&duckdb),
                faster(&duckdb),
                Goal::AtLeast(2.0),
            ),
            Figure::new(
                "peak memory vs pandas + sklearn",
                mb(&ours),
                mb(&theirs),
                ours.peak_mb / theirs.peak_mb,
                Goal::AtMost(0.1),
            ),
            Figure::new(
                "peak memory vs DuckDB",
                mb(&ours),
                mb(&duckdb),
                ours.peak_mb / duckdb.peak_mb,
                Goal::AtMost(0.1),
            ),
            Figure::new(
                "wall time vs polars + numpy (x less)",
                secs(&ours),
                secs(&polars),
                faster(&polars),
                Goal::AtLeast(1.0),
            ),
        ],
    );
}

/// `Intercept : x` and `Slope : y` as the peers print them.
fn printed_coefficients(stdout: &str) -> (f64, f64) {
    let value = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {key} in {stdout}"))
    };
    (value("Intercept :"), value("Slope :"))
}

/// The floors under any trainer of this file, best of three each: reading it (from the page
/// cache, 1 MiB at a time) and parsing its floats (two threads, each half of the lines,
/// `str::parse::<f64>` per field, summed so that nothing is skipped).
fn floors(data: &Path) -> (Duration, Duration) {
    let read = (0..3)
        .map(|_| {
            let started = Instant::now();
            let mut file = std::fs::File::open(data).unwrap();
            let mut buffer = vec![0u8; 1 << 20];
            let mut total = 0usize;
            loop {
                let n = std::io::Read::read(&mut file, &mut buffer).unwrap();
                if n == 0 {
                    break;
                }
                total += n;
            }
            assert!(total > 0);
            started.elapsed()
        })
        .min()
        .unwrap();
    let bytes = std::fs::read(data).unwrap();
    let body = &bytes[bytes.iter().position(|b| *b == b'\n').unwrap() + 1..];
    let mut middle = body.len() / 2;
    while middle < body.len() && body[middle] != b'\n' {
        middle += 1;
    }
    let (first, second) = body.split_at(middle);
    let parse = (0..3)
        .map(|_| {
            let started = Instant::now();
            let sums: Vec<f64> = std::thread::scope(|scope| {
                [first, second]
                    .map(|half| {
                        scope.spawn(move || {
                            let mut sum = 0.0;
                            for line in half.split(|b| *b == b'\n') {
                                for field in line.split(|b| *b == b',') {
                                    if let Ok(v) =
                                        std::str::from_utf8(field).unwrap_or("").trim().parse::<f64>()
                                    {
                                        sum += v;
                                    }
                                }
                            }
                            sum
                        })
                    })
                    .map(|h| h.join().unwrap())
                    .to_vec()
            });
            assert!(sums.iter().all(|s| s.is_finite()));
            started.elapsed()
        })
        .min()
        .unwrap();
    (read, parse)
}
