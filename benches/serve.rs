//! Serving benchmark: wrk on loopback (2 threads, 32 connections) against `GET /sal/25` of
//! `mlbench serve`, of the Python baseline (`../shared/bench/baseline_serve.py`: Flask,
//! reloading its pickle per request like the tutorial) and of a bare axum route returning a
//! constant (the floor; it and mlbench take turns, three rounds each, medians compared), in one
//! run; then `POST /v2/models/salary/infer` with 1 row and with
//! 1,000 rows a request against MLServer, the Open Inference Protocol's reference server
//! (`../shared/bench/anchor_mlserver.sh`, serving the same scikit-learn pickle).
//!
//! Run: `cargo bench --bench serve` (needs wrk from Debian's packages, python3 with flask,
//! joblib, scikit-learn and pandas, and python3 -m venv: the MLServer script installs mlserver
//! into a venv on first use). `BENCH_SECS=N` changes the 10 s per measurement.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/port.rs"]
mod port;
#[path = "common/summary.rs"]
mod summary;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use port::free_port;
use summary::{Figure, Goal};

struct Wrk {
    requests_per_sec: f64,
    p99_ms: f64,
    errors: u64,
}

fn wrk(url: &str, secs: u64, script: Option<&Path>) -> Wrk {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", "-c32", &format!("-d{secs}s"), "--latency"]);
    if let Some(script) = script {
        cmd.arg("-s").arg(script);
    }
    let out = cmd.arg(url).output().expect("wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_string()))
    };
    let duration_ms = |v: &str| {
        let (number, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
        let n: f64 = number.parse().unwrap_or(f64::NAN);
        match unit {
            "us" => n / 1e3,
            "ms" => n,
            "s" => n * 1e3,
            _ => f64::NAN,
        }
    };
    let errors = field("Non-2xx or 3xx responses:").map_or(0, |v| v.parse().unwrap_or(u64::MAX))
        + field("Socket errors:").map_or(0, |v| {
            v.split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum()
        });
    Wrk {
        requests_per_sec: field("Requests/sec:").and_then(|v| v.parse().ok()).unwrap_or(0.0),
        p99_ms: field("99%").map_or(f64::NAN, |v| duration_ms(&v)),
        errors,
    }
}

fn wait_until_answering(port: u16) {
    wait_until_answering_within(port, Duration::from_secs(30));
}

/// Ends a server child when the bench ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        // A server started in a process group of its own (a script and what it runs) goes whole.
        #[allow(unsafe_code)]
        // SAFETY: kill(2) on our own child's process group, plain integers.
        unsafe {
            libc::kill(-(self.0.id() as i32), libc::SIGTERM);
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The floor: the same stack with nothing to do.
fn bare_axum(port: u16) {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let app = axum::Router::new().route(
                "/sal/{x}",
                axum::routing::get(|| async { axum::Json(serde_json::json!({"salary": 149146.5663716814})) }),
            );
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
}

fn main() {
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/bench");
    let dir = tempfile::tempdir().unwrap();
    let data = root.join("data/sal.csv");
    // The baseline reads its CSV with pandas, which keeps a BOM in the header: drop it here.
    let plain = dir.path().join("sal.csv");
    let text = std::fs::read_to_string(&data).unwrap();
    std::fs::write(&plain, text.trim_start_matches('\u{feff}')).unwrap();
    let model_dir = dir.path().join("salary");
    let mlbench = env!("CARGO_BIN_EXE_mlbench");
    let trained = Command::new(mlbench)
        .args(["train", "--test-size", "0", "-i"])
        .arg(&plain)
        .arg("-o")
        .arg(&model_dir)
        .output()
        .unwrap();
    assert!(trained.status.success());
    let pickled = Command::new("python3")
        .arg(shared.join("baseline_train.py"))
        .arg(&plain)
        .arg(dir.path().join("py"))
        .output()
        .unwrap();
    assert!(
        pickled.status.success(),
        "baseline_train.py: {}",
        String::from_utf8_lossy(&pickled.stderr)
    );

    let (ours, flask, floor) = (free_port(), free_port(), free_port());
    let _ours = Server(
        Command::new(mlbench)
            .args(["serve", "--host", "127.0.0.1", "--port", &ours.to_string(), "-m"])
            .arg(model_dir.join("model.json"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let _flask = Server(
        Command::new("python3")
            .arg(shared.join("baseline_serve.py"))
            .arg(dir.path().join("py/model.pkl"))
            .arg(flask.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    bare_axum(floor);
    for port in [ours, flask, floor] {
        wait_until_answering(port);
    }

    let run = |name: &str, port: u16| {
        let result = wrk(&format!("http://127.0.0.1:{port}/sal/25"), secs, None);
        println!(
            "    {name:<24} {:>10.0} req/s   p99 {:>8.2} ms   errors {}",
            result.requests_per_sec, result.p99_ms, result.errors
        );
        result
    };
    println!("GET /sal/25, wrk -t2 -c32 -d{secs}s on loopback");
    let flask_result = run("Flask (pickle per request)", flask);
    // mlbench and the floor take turns, three rounds each, and their medians are compared: on
    // this 2-core VM one 10 s run of the same server varies by ±10 %, more than the goal's
    // margin, and taking turns keeps a slow stretch of the machine from landing on one side.
    let mut rounds = Vec::new();
    for _ in 0..3 {
        rounds.push((run("mlbench serve", ours), run("bare axum (constant)", floor)));
    }
    let median = |pick: fn(&(Wrk, Wrk)) -> &Wrk| {
        let mut sorted: Vec<&(Wrk, Wrk)> = rounds.iter().collect();
        sorted.sort_by(|a, b| pick(a).requests_per_sec.total_cmp(&pick(b).requests_per_sec));
        pick(sorted[sorted.len() / 2])
    };
    let ours_result = median(|r| &r.0);
    let floor_result = median(|r| &r.1);
    assert!(
        rounds.iter().all(|r| r.0.errors == 0),
        "mlbench answered with errors"
    );
    println!(
        "    medians: mlbench {:.0}, bare {:.0} req/s; every round mlbench/bare: {}",
        ours_result.requests_per_sec,
        floor_result.requests_per_sec,
        rounds
            .iter()
            .map(|r| format!("{:.2}", r.0.requests_per_sec / r.1.requests_per_sec))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "    mlbench/Flask {:.0}x (goal >= 100x); mlbench/bare {:.2} (goal >= 0.9); p99 {:.2} ms (goal < 5); errors {} (goal 0)",
        ours_result.requests_per_sec / flask_result.requests_per_sec,
        ours_result.requests_per_sec / floor_result.requests_per_sec,
        ours_result.p99_ms,
        ours_result.errors
    );

    let mlserver = free_port();
    let _mlserver = Server(
        Command::new("bash")
            .arg(shared.join("anchor_mlserver.sh"))
            .arg(dir.path().join("py/model.pkl"))
            .arg(mlserver.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap(),
    );
    // The first start installs MLServer into its venv: minutes, not seconds.
    wait_until_answering_within(mlserver, Duration::from_secs(600));
    let infer = |port: u16, rows: usize| {
        let values: Vec<String> = (0..rows).map(|i| format!("{}", i % 40)).collect();
        let body = format!(
            r#"{{"inputs": [{{"name": "x", "shape": [{rows}, 1], "datatype": "FP64", "data": [{}]}}]}}"#,
            values.join(",")
        );
        let script = dir.path().join(format!("infer-{rows}.lua"));
        std::fs::write(
            &script,
            format!("wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = '{body}'\n"),
        )
        .unwrap();
        wrk(
            &format!("http://127.0.0.1:{port}/v2/models/salary/infer"),
            secs,
            Some(&script),
        )
    };
    let mut oip = Vec::new();
    for rows in [1, 1000] {
        println!("POST /v2/models/salary/infer, {rows} row(s) a request, wrk -t2 -c32 -d{secs}s");
        let ours_infer = infer(ours, rows);
        let theirs_infer = infer(mlserver, rows);
        for (name, r) in [
            ("mlbench serve", &ours_infer),
            ("MLServer (sklearn)", &theirs_infer),
        ] {
            println!(
                "    {name:<24} {:>10.0} req/s = {:>11.0} rows/s   p99 {:>8.2} ms   errors {}",
                r.requests_per_sec,
                r.requests_per_sec * rows as f64,
                r.p99_ms,
                r.errors
            );
        }
        let goal = if rows == 1 { 40.0 } else { 15.0 };
        let ratio = ours_infer.requests_per_sec / theirs_infer.requests_per_sec;
        println!("    mlbench/MLServer {ratio:.1}x (goal >= {goal}x)");
        assert_eq!(ours_infer.errors, 0, "mlbench answered with errors");
        oip.push((rows, ours_infer, theirs_infer, ratio, goal));
    }

    let req = |r: &Wrk| format!("{:.0} req/s", r.requests_per_sec);
    let mut figures = vec![
        Figure::new(
            "GET /sal/25 vs Flask",
            req(ours_result),
            req(&flask_result),
            ours_result.requests_per_sec / flask_result.requests_per_sec,
            Goal::AtLeast(100.0),
        ),
        Figure::new(
            "GET /sal/25 vs bare axum, medians of 3 rounds",
            req(ours_result),
            req(floor_result),
            ours_result.requests_per_sec / floor_result.requests_per_sec,
            Goal::AtLeast(0.9),
        ),
        Figure::new(
            "GET /sal/25 p99 (ms, vs 5)",
            format!("{:.2} ms", ours_result.p99_ms),
            "5 ms".into(),
            ours_result.p99_ms / 5.0,
            Goal::AtMost(1.0),
        ),
    ];
    for (rows, ours_infer, theirs_infer, ratio, goal) in &oip {
        figures.push(Figure::new(
            &format!("OIP infer {rows} row(s) vs MLServer"),
            req(ours_infer),
            req(theirs_infer),
            *ratio,
            Goal::AtLeast(*goal),
        ));
    }
    let one_row = &oip[0].1;
    figures.push(Figure::new(
        "OIP infer 1 row p99 (ms, vs 5)",
        format!("{:.2} ms", one_row.p99_ms),
        "5 ms".into(),
        one_row.p99_ms / 5.0,
        Goal::AtMost(1.0),
    ));
    summary::record("serve", &figures);
}

fn wait_until_answering_within(port: u16, limit: Duration) {
    let deadline = Instant::now() + limit;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
