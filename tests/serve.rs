//! The model server in-process (every route and refusal), its reload and shutdown, and
//! deployments in the real Docker Engine.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Sandbox, docker_available, free_port};
use mlbench_engine::serving::client;
use mlbench_ml::model::{DataRef, Model, ModelFile, Rows, TreeNode};
use mlbench_serve::{Served, router};

fn linear(intercept: f64, slope: f64) -> ModelFile {
    ModelFile {
        format_version: 1,
        model: Model::Linear {
            intercept,
            coefficients: vec![slope],
        },
        features: vec!["x".into()],
        target: "y".into(),
        metrics: BTreeMap::new(),
        rows: Rows { train: 1, test: 0 },
        data: DataRef {
            path: "d.csv".into(),
            sha256: String::new(),
        },
        mlbench_version: "test".into(),
        version: None,
        job: None,
    }
}

/// Serves `model` on a free loopback port for the rest of the test.
async fn start(name: &str, model: ModelFile) -> String {
    let served = Arc::new(Served::new(name.to_string(), model));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(served, false, Duration::from_secs(5))).await });
    format!("http://{addr}")
}

async fn call(base: &str, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
    let response = client::send(&format!("{base}{path}"), method, body, Duration::from_secs(5))
        .await
        .unwrap();
    let value = serde_json::from_str(&response.body)
        .unwrap_or_else(|_| panic!("{path}: not JSON: {}", response.body));
    (response.status, value)
}

#[tokio::test]
async fn the_routes_answer_and_every_client_mistake_is_a_4xx_with_an_error() {
    let base = start("salary", linear(100.0, 2.0)).await;
    assert_eq!(
        call(&base, "GET", "/sal/25", None).await,
        (200, serde_json::json!({"salary": 150.0}))
    );
    assert_eq!(
        call(&base, "POST", "/predict", Some(r#"{"exp": "25"}"#)).await.1["salary"],
        150.0
    );
    assert_eq!(
        call(&base, "POST", "/predict", Some(r#"{"exp": 25}"#)).await.1["salary"],
        150.0
    );
    assert_eq!(call(&base, "GET", "/v2/health/live", None).await.0, 200);
    assert_eq!(call(&base, "GET", "/v2/health/ready", None).await.0, 200);
    assert_eq!(
        call(&base, "GET", "/v2/models/salary/ready", None).await.1["ready"],
        true
    );
    let (_, meta) = call(&base, "GET", "/v2/models/salary", None).await;
    assert_eq!(meta["inputs"][0]["shape"], serde_json::json!([-1, 1]));
    let (_, index) = call(&base, "GET", "/", None).await;
    assert_eq!(
        (index["model"].as_str(), index["inputs"][0].as_str()),
        (Some("salary"), Some("x"))
    );

    let infer = r#"{"id": "r1", "inputs": [{"name": "input", "shape": [3, 1], "datatype": "FP32", "data": [[1], [2], [3]]}]}"#;
    let (status, out) = call(&base, "POST", "/v2/models/salary/infer", Some(infer)).await;
    assert_eq!(status, 200);
    assert_eq!(
        out["outputs"][0]["data"],
        serde_json::json!([102.0, 104.0, 106.0])
    );
    assert_eq!(
        (out["id"].as_str(), out["outputs"][0]["shape"][0].as_i64()),
        (Some("r1"), Some(3))
    );
    let ints = r#"{"inputs": [{"name": "input", "shape": [2], "datatype": "INT64", "data": [1, 2]}]}"#;
    assert_eq!(
        call(&base, "POST", "/v2/models/salary/infer", Some(ints)).await.1["outputs"][0]["data"][1],
        104.0
    );

    let big = format!(r#"{{"exp": "{}"}}"#, "1".repeat(1 << 20));
    let mistakes: Vec<(&str, &str, Option<&str>, u16, &str)> = vec![
        ("GET", "/sal/abc", None, 400, "is not a number"),
        ("GET", "/sal/NaN", None, 400, "is not a finite number"),
        ("GET", "/sal/inf", None, 400, "is not a finite number"),
        // 2 × 1e308 overflows: a prediction that is not finite is refused, not sent as null.
        (
            "GET",
            "/sal/1e308",
            None,
            422,
            "is not a finite number: the inputs are too large",
        ),
        (
            "POST",
            "/v2/models/salary/infer",
            Some(r#"{"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [1, 1e308]}]}"#),
            422,
            "row 1: the prediction",
        ),
        (
            "POST",
            "/predict",
            Some(r#"{"years": 3}"#),
            400,
            "needs a field \"exp\"",
        ),
        (
            "POST",
            "/predict",
            Some(r#"{"exp": "x"}"#),
            400,
            "is not a number",
        ),
        ("POST", "/predict", Some(r#"{"exp": [1]}"#), 400, "not a number"),
        ("POST", "/predict", Some("{not json"), 400, "not JSON"),
        ("POST", "/predict", Some(big.as_str()), 413, "over 1048576 bytes"),
        ("GET", "/v2/models/other", None, 404, "is not served here"),
        (
            "POST",
            "/v2/models/other/infer",
            Some("{}"),
            404,
            "is not served here",
        ),
        (
            "POST",
            "/v2/models/salary/infer",
            Some(r#"{"inputs": []}"#),
            400,
            "expected one input tensor",
        ),
        (
            "POST",
            "/v2/models/salary/infer",
            Some(r#"{"inputs": [{"name": "i", "shape": [2, 1], "datatype": "FP64", "data": [1]}]}"#),
            400,
            "needs 2 values",
        ),
        (
            "POST",
            "/v2/models/salary/infer",
            Some(r#"{"inputs": [{"name": "i", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}]}"#),
            400,
            "takes 1 features",
        ),
        (
            "POST",
            "/v2/models/salary/infer",
            Some(r#"{"inputs": [{"name": "i", "shape": [1, 1], "datatype": "BYTES", "data": ["a"]}]}"#),
            400,
            "BYTES is not supported",
        ),
        (
            "POST",
            "/v2/models/salary/infer",
            Some(r#"{"inputs": [{"name": "i", "shape": [1, 1], "datatype": "INT32", "data": [1.5]}]}"#),
            400,
            "whole numbers",
        ),
        (
            "POST",
            "/v2/models/salary/infer",
            Some(r#"{"inputs": [{"name": "i", "shape": [1, 1], "datatype": "FP64", "data": ["1"]}]}"#),
            400,
            "is not a number",
        ),
        (
            "POST",
            "/v2/models/salary/infer",
            Some(r#"{"wrong": 1}"#),
            400,
            "not an inference request",
        ),
        ("GET", "/nowhere", None, 404, "no such route"),
        ("DELETE", "/sal/1", None, 405, "method not allowed"),
    ];
    for (method, path, body, status, message) in mistakes {
        let (got, value) = call(&base, method, path, body).await;
        assert_eq!(got, status, "{method} {path}: {value}");
        let error = value["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path}: no error field: {value}"));
        assert!(error.contains(message), "{method} {path}: {error}");
    }
}

/// `/metrics` counts requests by route and status, times them, and says what is served.
#[tokio::test]
async fn metrics_count_requests_by_route_and_status_in_prometheus_text() {
    let base = start("salary", linear(100.0, 2.0)).await;
    for path in ["/sal/25", "/sal/30", "/sal/abc", "/nowhere"] {
        let _ = call(&base, "GET", path, None).await;
    }
    let _ = call(&base, "POST", "/predict", Some(r#"{"exp": 3}"#)).await;
    let response = client::send(&format!("{base}/metrics"), "GET", None, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    let text = response.body;
    for line in [
        "mlbench_requests_total{route=\"/sal/{x}\",code=\"200\"} 2",
        "mlbench_requests_total{route=\"/sal/{x}\",code=\"400\"} 1",
        "mlbench_requests_total{route=\"other\",code=\"404\"} 1",
        "mlbench_requests_total{route=\"/predict\",code=\"200\"} 1",
        "mlbench_request_duration_seconds_count 5",
        "mlbench_requests_in_flight 1",
        "mlbench_model_info{name=\"salary\",version=\"\"} 1",
        "mlbench_model_reloads_total{outcome=\"refused\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    }
    // Every sample line is `name{labels} number`, as a Prometheus scrape reads it.
    for sample in text.lines().filter(|l| !l.starts_with('#')) {
        let value = sample.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "{sample}");
    }
}

#[tokio::test]
async fn trees_are_served_as_classes() {
    let base = start("size", tree()).await;
    let body = r#"{"inputs": [{"name": "input", "shape": [2, 1], "datatype": "FP64", "data": [3, 30]}]}"#;
    let (status, out) = call(&base, "POST", "/v2/models/size/infer", Some(body)).await;
    assert_eq!(status, 200);
    assert_eq!(out["outputs"][0]["datatype"], "BYTES");
    assert_eq!(out["outputs"][0]["data"], serde_json::json!(["small", "large"]));
}

/// A one-feature tree: below 10 is small, else large.
fn tree() -> ModelFile {
    let mut tree = linear(0.0, 0.0);
    tree.model = Model::Tree {
        classes: vec!["small".into(), "large".into()],
        nodes: vec![
            TreeNode::Split {
                feature: 0,
                threshold: 10.0,
                left: 1,
                right: 2,
            },
            TreeNode::Leaf { class: 0 },
            TreeNode::Leaf { class: 1 },
        ],
    };
    tree
}

#[test]
fn the_openapi_description_is_the_served_models_and_schemathesis_finds_the_server_true_to_it() {
    let test = "the_openapi_description_is_the_served_models_and_schemathesis_finds_the_server_true_to_it";
    let s = Sandbox::new("local");
    for (name, model, output) in [("salary", linear(100.0, 2.0), "FP64"), ("size", tree(), "BYTES")] {
        let dir = s.dir.path().join(name);
        model.save(&dir).unwrap();
        model.save(&dir).unwrap();
        let mut server = s
            .cmd(&["serve", "-m", dir.to_str().unwrap(), "--port", "0"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(server.stderr.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let base = format!("http://{}", line.trim().rsplit("http://").next().unwrap());
        let spec = format!("{base}/openapi.json");
        let doc: serde_json::Value = serde_json::from_str(&get_text(&spec)).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(
            doc["paths"]["/v2/models/{name}/versions/{version}/infer"]["post"]["parameters"][1]["schema"]["enum"],
            serde_json::json!(["1", "2"])
        );
        assert_eq!(
            doc["paths"]["/v2/models/{name}"]["get"]["parameters"][0]["schema"]["enum"],
            serde_json::json!([name])
        );
        let output_schema = &doc["components"]["schemas"]["InferenceResponse"]["properties"]["outputs"]["items"]
            ["properties"];
        assert_eq!(output_schema["datatype"]["const"], output);
        // Every check but one: a request the schema allows may still be refused, since JSON
        // Schema cannot say that a tensor's data must match its shape.
        let checked = common::tool_available("st", "--version", test).then(|| {
            std::process::Command::new("st")
                .current_dir(s.dir.path())
                .args([
                    "run",
                    &spec,
                    "--checks",
                    "all",
                    "--exclude-checks",
                    "positive_data_acceptance",
                ])
                .args(["--max-examples", "40", "--seed", "1", "--no-color"])
                .output()
                .unwrap()
        });
        let _ = server.kill();
        let _ = server.wait();
        if let Some(out) = checked {
            let report = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "schemathesis found {name}'s server untrue to its description:\n{report}"
            );
            assert!(report.contains("passed"), "{report}");
        }
    }
}

fn wait_for(url: &str, timeout: Duration) -> bool {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if runtime
            .block_on(client::send(url, "GET", None, Duration::from_secs(1)))
            .is_ok_and(|r| r.status == 200)
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The body of `GET url`, from a test that has no runtime of its own.
fn get_text(url: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(client::send(url, "GET", None, Duration::from_secs(2)))
        .unwrap()
        .body
}

fn salary_at(url: &str) -> f64 {
    serde_json::from_str::<serde_json::Value>(&get_text(url)).unwrap()["salary"]
        .as_f64()
        .unwrap()
}

/// `mlbench serve` of the linear model y = 100 + 2x on port 0 with `extra` arguments; returns
/// the server and the address its first line says it listens on.
fn serve_on_port_zero(s: &Sandbox, extra: &[&str]) -> (std::process::Child, String) {
    let dir = s.dir.path().join("salary");
    linear(100.0, 2.0).save(&dir).unwrap();
    let model = dir.join("model.json");
    let mut args = vec!["serve", "-m", model.to_str().unwrap(), "--port", "0"];
    args.extend_from_slice(extra);
    let mut server = s.cmd(&args).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let mut stderr = std::io::BufReader::new(server.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    let addr = line.trim().rsplit("http://").next().unwrap().to_string();
    (server, addr)
}

#[test]
fn serve_listens_on_loopback_by_default_and_says_the_port_it_was_given() {
    let s = Sandbox::new("local");
    let (mut server, addr) = serve_on_port_zero(&s, &[]);
    let _ = server.kill();
    let _ = server.wait();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    assert_ne!(addr, "127.0.0.1:0", "{addr}");
}

/// What a client sends on a raw connection, and what the server answered before closing (or
/// within `wait`).
fn raw(port: u16, sent: &[u8], wait: Duration) -> (std::net::TcpStream, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(sent).unwrap();
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    (stream, String::from_utf8_lossy(&answer).into_owned())
}

/// Hostile clients: headers or a body trickled in (slowloris) are cut off after the client
/// timeout, a declared body over the limit is refused before it is sent, and connections past
/// the limit get a 503 instead of starving everyone.
#[test]
fn serve_cuts_off_slow_clients_and_refuses_what_it_cannot_take() {
    let s = Sandbox::new("local");
    let (mut server, addr) = serve_on_port_zero(&s, &["--client-timeout", "1", "--max-connections", "3"]);
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();

    let started = Instant::now();
    let (_, answer) = raw(
        port,
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"error\""), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(3));

    let started = Instant::now();
    let (_, answer) = raw(
        port,
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n{\"exp\"",
        Duration::from_secs(5),
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // Three slow clients hold every connection; a fourth is refused, not queued forever.
    let slow: Vec<_> = (0..3)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            std::io::Write::write_all(&mut stream, b"GET / HTTP/1.1\r\nHo").unwrap();
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let (_, answer) = raw(
        port,
        b"GET /sal/25 HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(2),
    );
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("limit of 3 connections"), "{answer}");
    // The slow ones are cut off after the client timeout; then the server answers again.
    for mut stream in slow {
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 256];
        let closed = match std::io::Read::read(&mut stream, &mut buf) {
            Ok(n) => n == 0 || String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
            Err(_) => true,
        };
        assert!(closed, "a slowloris connection stayed open");
    }
    std::thread::sleep(Duration::from_millis(100));
    let (_, answer) = raw(
        port,
        b"GET /sal/25 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // A connection that sends nothing at all is cut off too, or it would hold a slot forever.
    let mut silent = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    silent.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let read = std::io::Read::read(&mut silent, &mut buf);
    let closed = match &read {
        Ok(n) => *n == 0,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(closed, "a silent connection stayed open: {read:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // Empty lines before the request line (which a server may skip) do not stop the clock.
    let mut blank = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::io::Write::write_all(&mut blank, b"\r\n\r\n").unwrap();
    blank.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let read = std::io::Read::read(&mut blank, &mut buf);
    let closed = match &read {
        Ok(n) => *n == 0 || String::from_utf8_lossy(&buf[..*n]).starts_with("HTTP/1.1 408"),
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(
        closed,
        "a connection that sent only empty lines stayed open: {read:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let _ = server.kill();
    let _ = server.wait();
}

/// A client cannot hold the server with headers that grow without end (refused at 64 KiB, at
/// once) or by not reading its answers (cut off after the client timeout).
#[test]
fn serve_caps_header_bytes_and_cuts_off_a_client_that_does_not_read() {
    use std::io::Write;
    let s = Sandbox::new("local");
    let (mut server, addr) = serve_on_port_zero(&s, &["--client-timeout", "2"]);
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();

    let mut endless = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
    // Above the cap, below hyper's own default (about 400 KB), which waited for more.
    endless.extend(std::iter::repeat_n(b'a', 100 << 10));
    let started = Instant::now();
    let (_, answer) = raw(port, &endless, Duration::from_secs(5));
    // A 431, or a reset when the close beat the answer to the client: at once either way.
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // A client that reads its answers a trickle at a time: pipelined requests whose answers
    // are far more than the sockets buffer, read 64 KB every 100 ms. Each write the server makes
    // restarts its wait for the next request, so only a deadline on the answer cuts it off.
    let (_, one) = raw(
        port,
        b"GET /openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    );
    let request = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n";
    let count = (32 << 20) / one.len();
    let mut trickle = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut sending = trickle.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        for _ in 0..count {
            if sending.write_all(request).is_err() {
                break;
            }
        }
    });
    trickle.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let started = Instant::now();
    let mut buf = vec![0u8; 64 << 10];
    let mut first = None;
    let cut = loop {
        match std::io::Read::read(&mut trickle, &mut buf) {
            Ok(0) => break true,
            Ok(n) if first.is_none() => first = Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(e)
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break true;
            }
            _ => {}
        }
        if started.elapsed() > Duration::from_secs(8) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let first = first.unwrap_or_default();
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(
        cut,
        "a client reading a trickle was served for {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    drop(trickle);
    sender.join().unwrap();
    let _ = server.kill();
    let _ = server.wait();
}

/// Requests hyper refuses before any route sees them still get the JSON error every refusal
/// carries: not HTTP (400), an over-long URI (414), over-large headers (431).
#[test]
fn protocol_errors_carry_the_json_error_body() {
    let s = Sandbox::new("local");
    let (mut server, addr) = serve_on_port_zero(&s, &[]);
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let long_uri = format!("GET /sal/{} HTTP/1.1\r\nHost: x\r\n\r\n", "9".repeat(70_000));
    let many_headers = format!(
        "GET /sal/25 HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..200).map(|i| format!("x-h{i}: v\r\n")).collect::<String>()
    );
    let cases: [(&[u8], &str, &str); 3] = [
        (b"NOT HTTP AT ALL\r\n\r\n", "400", "not valid HTTP"),
        (long_uri.as_bytes(), "414", "URI is longer"),
        (many_headers.as_bytes(), "431", "headers are larger"),
    ];
    for (sent, status, says) in cases {
        let (_, answer) = raw(port, sent, Duration::from_secs(3));
        assert!(answer.starts_with(&format!("HTTP/1.1 {status} ")), "{answer}");
        assert!(answer.contains("content-type: application/json"), "{answer}");
        let body = answer.split("\r\n\r\n").nth(1).unwrap();
        let error: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(error["error"].as_str().unwrap().contains(says), "{body}");
    }
    // The server still answers after them.
    let (_, answer) = raw(
        port,
        b"GET /sal/25 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn a_replaced_model_is_picked_up_a_broken_one_is_not_and_sigterm_is_quick() {
    let s = Sandbox::new("local");
    let dir = s.dir.path().join("salary");
    linear(100.0, 2.0).save(&dir).unwrap();
    let port = free_port();
    let model = dir.join("model.json");
    let mut server = s
        .cmd(&[
            "serve",
            "-m",
            model.to_str().unwrap(),
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/sal/25");
    assert!(wait_for(
        &format!("http://127.0.0.1:{port}/v2/health/ready"),
        Duration::from_secs(10)
    ));
    assert_eq!(salary_at(&url), 150.0);
    linear(1000.0, 2.0).save(&dir).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while salary_at(&url) != 1050.0 {
        assert!(Instant::now() < deadline, "the new model was not picked up");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::write(dir.join(".tmp"), "{ broken").unwrap();
    std::fs::rename(dir.join(".tmp"), &model).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(salary_at(&url), 1050.0, "a broken file replaced the model");
    let metrics = get_text(&format!("http://127.0.0.1:{port}/metrics"));
    assert!(
        metrics.contains("mlbench_model_reloads_total{outcome=\"ok\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mlbench_model_reloads_total{outcome=\"refused\"} 1\n"),
        "{metrics}"
    );

    let started = Instant::now();
    // The test sends SIGTERM as a service manager would; std only has kill -9.
    #[allow(unsafe_code)]
    // SAFETY: kill(2) on our own child's pid, plain integers.
    unsafe {
        libc::kill(server.id() as i32, libc::SIGTERM)
    };
    let status = server.wait().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert!(status.success());
    let mut log = String::new();
    std::io::Read::read_to_string(&mut server.stderr.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("reloaded model salary"), "{log}");
    assert!(log.contains("kept the previous model salary"), "{log}");
}

#[test]
fn a_deployment_answers_predicts_refuses_a_taken_port_and_stops_clean() {
    if !docker_available("a_deployment_answers_predicts_refuses_a_taken_port_and_stops_clean") {
        return;
    }
    let s = Sandbox::new("docker");
    s.ok(&["project", "create", "salary"]);
    let sal = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sal.csv");
    let storage = s.home.join("projects/salary/storage/salary");
    s.ok(&[
        "train",
        "-i",
        sal.to_str().unwrap(),
        "-o",
        storage.to_str().unwrap(),
    ]);
    let model = ModelFile::load(&storage.join("model.json")).unwrap();
    let expected = match model.model {
        Model::Linear {
            intercept,
            ref coefficients,
        } => intercept + 25.0 * coefficients[0],
        Model::Tree { .. } => unreachable!(),
    };
    let port = free_port();
    let mapping = format!("{port}:8080");
    let urls = s.ok(&[
        "deploy",
        "--project",
        "salary",
        "--model",
        "salary",
        "--port",
        &mapping,
        "--replicas",
        "2",
    ]);
    let urls: Vec<&str> = urls.split_whitespace().collect();
    assert_eq!(
        urls,
        [
            format!("http://127.0.0.1:{port}"),
            format!("http://127.0.0.1:{}", port + 1)
        ]
    );
    for url in &urls {
        assert!((salary_at(&format!("{url}/sal/25")) - expected).abs() < 1e-6);
    }
    // mlbench's own image runs as the invoking user, with no capabilities, no new privileges
    // and a PIDs limit.
    let replica = s.jobs().as_array().unwrap()[0]["handle"]
        .as_str()
        .unwrap()
        .to_string();
    let inspected = std::process::Command::new("docker")
        .args([
            "inspect",
            "--format",
            "{{.Config.User}}|{{.HostConfig.CapDrop}}|{{.HostConfig.SecurityOpt}}|{{.HostConfig.PidsLimit}}",
            &replica,
        ])
        .output()
        .unwrap();
    let inspected = String::from_utf8_lossy(&inspected.stdout).trim().to_string();
    let me = {
        use std::os::unix::fs::MetadataExt;
        let me = std::fs::metadata("/proc/self").unwrap();
        format!("{}:{}", me.uid(), me.gid())
    };
    assert_eq!(inspected, format!("{me}|[ALL]|[no-new-privileges]|2048"));
    let predicted = s.ok(&["predict", "--deployment", "salary", "25", "30"]);
    let shown = mlbench_domain::numfmt::compact(expected);
    assert!(
        predicted.starts_with(&format!("25 -> {shown}\n30 -> ")),
        "{predicted}"
    );
    // The one running deployment needs no name; --json has every digit.
    let answers: serde_json::Value = serde_json::from_str(&s.ok(&["predict", "25", "--json"])).unwrap();
    assert_eq!(answers[0]["salary"].as_f64(), Some(expected), "{answers}");
    let refused = s.run(&["predict", "--deployment", "salary", "lots"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("\"lots\" is not a number"));
    let taken = s.run(&[
        "deploy",
        "--project",
        "salary",
        "--model",
        "salary",
        "--name",
        "again",
        "--port",
        &mapping,
    ]);
    let err = String::from_utf8_lossy(&taken.stderr);
    assert!(
        err.contains(&format!("host port {port} on 127.0.0.1 is not free")) && err.contains("held by job"),
        "{err}"
    );
    let listed: serde_json::Value = serde_json::from_str(&s.ok(&["deployments", "--json"])).unwrap();
    assert_eq!(
        (listed[0]["name"].as_str(), listed[0]["running"].as_i64()),
        (Some("salary"), Some(2))
    );

    // A later replica's port is taken: refused before the first replica starts.
    let base = free_port();
    let blocker = std::net::TcpListener::bind(("127.0.0.1", base + 2));
    if blocker.is_ok() {
        let jobs_before = s.jobs().as_array().unwrap().len();
        let three = s.run(&[
            "deploy",
            "--project",
            "salary",
            "--model",
            "salary",
            "--name",
            "three",
            "--port",
            &format!("{base}:8080"),
            "--replicas",
            "3",
        ]);
        let err = String::from_utf8_lossy(&three.stderr);
        assert!(
            err.contains(&format!("host port {} on 127.0.0.1 is not free", base + 2)),
            "{err}"
        );
        assert_eq!(
            s.jobs().as_array().unwrap().len(),
            jobs_before,
            "a replica was started"
        );
    }
    drop(blocker);

    s.ok(&["deploy", "stop", "salary"]);
    assert_eq!(s.containers(), Vec::<String>::new(), "containers left behind");
    let missing = s.run(&[
        "deploy",
        "--project",
        "salary",
        "--model",
        "nope",
        "--port",
        &mapping,
    ]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("has no usable model nope"));
}

#[test]
fn a_users_own_server_deploys_and_a_failing_one_leaves_nothing_running() {
    if !docker_available("a_users_own_server_deploys_and_a_failing_one_leaves_nothing_running") {
        return;
    }
    let s = Sandbox::new("docker");
    common::busybox_image(&s);
    s.ok(&["project", "create", "p"]);
    let site = s.folder("site", &[("index.html", "hello\n")]);
    let port = free_port();
    let mapping = format!("{port}:8080");
    let base = [
        "deploy",
        "--project",
        "p",
        "--image",
        common::BUSYBOX,
        "--repo",
        site.to_str().unwrap(),
    ];
    let mut args = base.to_vec();
    args.extend([
        "--name",
        "web",
        "--port",
        &mapping,
        "--health-path",
        "/index.html",
        "--",
    ]);
    args.extend(["httpd", "-f", "-p", "8080", "-h", "/workspace"]);
    let url = s.ok(&args);
    assert_eq!(url.trim(), format!("http://127.0.0.1:{port}"));
    s.ok(&["deploy", "stop", "web"]);

    let mut failing = base.to_vec();
    failing.extend([
        "--name",
        "broken",
        "--port",
        &mapping,
        "--timeout",
        "10",
        "--",
        "sh",
        "-c",
        "echo boom; exit 1",
    ]);
    let out = s.run(&failing);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("| boom"), "{err}");
    assert!(
        err.contains("deployment broken failed: job 2 failed before it was ready"),
        "{err}"
    );
    assert_eq!(s.containers(), Vec::<String>::new(), "containers left behind");
}

/// The prediction at 25 of the y = a + 2x model a test saves as a version.
fn at_25(intercept: f64) -> f64 {
    intercept + 50.0
}

#[test]
fn versions_are_kept_listed_pinned_and_rolled_back_under_load_without_a_failed_request() {
    let test = "versions_are_kept_listed_pinned_and_rolled_back_under_load_without_a_failed_request";
    if !common::tool_available("wrk", "--version", test) {
        return;
    }
    let s = Sandbox::new("local");
    s.ok(&["project", "create", "salary"]);
    let storage = s.home.join("projects/salary/storage/salary");
    // Two runs of the trainer keep two versions, each with its data's hash and metrics.
    let sal = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sal.csv");
    for _ in 0..2 {
        s.ok(&[
            "train",
            "-i",
            sal.to_str().unwrap(),
            "-o",
            storage.to_str().unwrap(),
        ]);
    }
    let listed: serde_json::Value = serde_json::from_str(&s.ok(&["models", "--json"])).unwrap();
    assert_eq!(listed[0]["name"], "salary");
    assert_eq!(listed[0]["current"], 2);
    assert_eq!(listed[0]["versions"].as_array().unwrap().len(), 2);
    assert_eq!(
        listed[0]["versions"][0]["data_sha256"].as_str().unwrap().len(),
        64
    );
    assert!(listed[0]["versions"][1]["metrics"]["MSE"].as_f64().unwrap() > 0.0);
    // A third version with a known line, so each version's answer is told apart.
    linear(1000.0, 2.0).save(&storage).unwrap();
    let table = s.ok(&["models", "--project", "salary"]);
    assert!(table.lines().nth(1).unwrap().contains(" 3* "), "{table}");

    let missing = s.run(&[
        "deploy",
        "--project",
        "salary",
        "--model",
        "salary",
        "--version",
        "9",
    ]);
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("no model version 9 (kept: 1, 2, 3)"), "{err}");

    let port = free_port();
    let url = s
        .ok(&[
            "deploy",
            "--project",
            "salary",
            "--model",
            "salary",
            "--port",
            &format!("{port}:8080"),
        ])
        .trim()
        .to_string();
    let sal_25 = format!("{url}/sal/25");
    assert_eq!(salary_at(&sal_25), at_25(1000.0));
    let v1: serde_json::Value =
        serde_json::from_str(&get_text(&format!("{url}/v2/models/salary/versions/1"))).unwrap();
    assert_eq!(v1["versions"], serde_json::json!(["1"]));
    let all: serde_json::Value = serde_json::from_str(&get_text(&format!("{url}/v2/models/salary"))).unwrap();
    assert_eq!(all["versions"], serde_json::json!(["1", "2", "3"]));

    // Rolled back while wrk keeps 16 connections busy: not one request fails.
    let load = std::process::Command::new("wrk")
        .args(["-t2", "-c16", "-d3s", &sal_25])
        .output();
    let rollback = std::thread::spawn({
        let home = s.home.clone();
        let config = s.dir.path().join("config.toml");
        move || {
            std::thread::sleep(Duration::from_millis(1000));
            std::process::Command::new(env!("CARGO_BIN_EXE_mlbench"))
                .args(["deploy", "rollback", "salary"])
                .env("MLBENCH_HOME", home)
                .env("MLBENCH_CONFIG", config)
                .env("MLBENCH_RUNTIME", "local")
                .output()
                .unwrap()
        }
    });
    let load = load.unwrap();
    let rolled = rollback.join().unwrap();
    let said = String::from_utf8_lossy(&rolled.stdout);
    assert!(
        said.contains("deployment salary: version 3 -> 2, 1 replica"),
        "{said}{}",
        String::from_utf8_lossy(&rolled.stderr)
    );
    let report = String::from_utf8_lossy(&load.stdout);
    assert!(report.contains("requests in"), "{report}");
    assert!(
        !report.contains("Non-2xx") && !report.contains("Socket errors"),
        "{report}"
    );
    let version_2 = ModelFile::load(&storage.join("versions/2/model.json")).unwrap();
    let Model::Linear {
        intercept,
        ref coefficients,
    } = version_2.model
    else {
        unreachable!()
    };
    assert!((salary_at(&sal_25) - (intercept + 25.0 * coefficients[0])).abs() < 1e-6);

    // Pinned versions stay while training goes on; `current` follows it again.
    s.ok(&["deploy", "pin", "salary", "1"]);
    let oldest = s.run(&["deploy", "rollback", "salary"]);
    assert!(String::from_utf8_lossy(&oldest.stderr).contains("serves version 1, the oldest kept"));
    linear(5000.0, 2.0).save(&storage).unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let index: serde_json::Value = serde_json::from_str(&get_text(&format!("{url}/"))).unwrap();
    assert_eq!(index["version"], 1, "a pinned deployment moved: {index}");
    let moved = s.ok(&["deploy", "pin", "salary", "current"]);
    assert!(
        moved.contains("version 1 -> 4 (following the current model)"),
        "{moved}"
    );
    assert_eq!(salary_at(&sal_25), at_25(5000.0));

    // Any kept version answers on its own OIP routes, the current one on the plain route.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = r#"{"inputs":[{"name":"input","shape":[1,1],"datatype":"FP64","data":[25]}]}"#;
    let answer = runtime
        .block_on(client::send(
            &format!("{url}/v2/models/salary/versions/3/infer"),
            "POST",
            Some(body),
            Duration::from_secs(2),
        ))
        .unwrap();
    let answer: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(answer["model_version"], "3");
    assert_eq!(answer["outputs"][0]["data"][0], at_25(1000.0));
    let none = runtime
        .block_on(client::send(
            &format!("{url}/v2/models/salary/versions/7"),
            "GET",
            None,
            Duration::from_secs(2),
        ))
        .unwrap();
    assert_eq!(none.status, 404);
    assert!(none.body.contains("versions here: [1, 2, 3, 4]"), "{}", none.body);

    // `deployments` shows the traffic of its one-second look: requests, latency and errors.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = std::thread::spawn({
        let (stop, url) = (stop.clone(), url.clone());
        move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                get_text(&format!("{url}/sal/25"));
                get_text(&format!("{url}/sal/lots"));
            }
        }
    });
    let listed: serde_json::Value = serde_json::from_str(&s.ok(&["deployments", "--json"])).unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    traffic.join().unwrap();
    let seen = &listed[0]["traffic"];
    assert!(seen["req_per_s"].as_f64().unwrap() > 10.0, "{listed}");
    assert!(seen["errors"].as_u64().unwrap() > 5, "{listed}");
    assert!(seen["p99_ms"].as_f64().unwrap() > 0.0, "{listed}");

    // A running deployment cannot be removed; a stopped one leaves the list, stays under
    // --all, and `deploy rm` forgets it with its jobs' logs and its pin.
    let running = s.run(&["deploy", "rm", "salary"]);
    assert!(String::from_utf8_lossy(&running.stderr).contains("deployment salary is running: stop it first"));
    s.ok(&["deploy", "stop", "salary"]);
    let live: serde_json::Value = serde_json::from_str(&s.ok(&["deployments", "--json"])).unwrap();
    assert_eq!(live, serde_json::json!([]));
    let all: serde_json::Value = serde_json::from_str(&s.ok(&["deployments", "--all", "--json"])).unwrap();
    let job = all[0]["jobs"][0].as_i64().unwrap();
    assert!(s.home.join(format!("jobs/{job}/output.log")).exists());
    assert!(
        s.ok(&["deploy", "rm", "salary"])
            .contains("removed deployment salary")
    );
    let all: serde_json::Value = serde_json::from_str(&s.ok(&["deployments", "--all", "--json"])).unwrap();
    assert_eq!(all, serde_json::json!([]));
    assert!(
        !s.home.join(format!("jobs/{job}")).exists(),
        "the job's log was left"
    );
    assert!(!storage.join("pins/salary").exists(), "the pin was left");
    let again = s.run(&["deploy", "rm", "salary"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("no deployment salary"));
}
