//! The bad-input corpus: every refusal the CLI gives for a wrong flag, name, file or value, as the
//! user reads it (its one line on stderr and the exit code), kept in one snapshot. The messages
//! were recorded before the code moved into a workspace of crates, so a refactor that changes
//! what a user reads fails here. No Docker Engine is needed: Docker's cases point `DOCKER_HOST`
//! at a socket that does not exist.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fmt::Write as _;
use std::io::Read as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Sandbox;

/// How long a refusal may take; a command still running then was not refused.
const LIMIT: Duration = Duration::from_secs(30);

/// The sandbox the corpus runs in: project `p` with data files, a finished job 1 and a model.
fn corpus_sandbox() -> Sandbox {
    let s = Sandbox::new("local");
    s.ok(&["project", "create", "p"]);
    s.folder(
        "code",
        &[
            ("data.csv", "x,y\n1,2\n2,4\n3,6\n4,8\n5,10\n"),
            ("text.csv", "x,y\n1,2\n2,abc\n"),
            ("empty.csv", ""),
            ("header.csv", "x,y\n"),
            ("const.csv", "x,y\n1,2\n1,3\n1,4\n1,5\n"),
            ("labels.csv", "a,b,label\n1,2,cat\n2,3,dog\n3,1,cat\n4,4,dog\n"),
            ("not-a-model.json", "{\"kind\": \"forest\"}"),
            ("broken.json", "{"),
            ("Dockerfile", "FROM scratch\n"),
        ],
    );
    let code = s.dir.path().join("code");
    s.ok(&[
        "run",
        "--project",
        "p",
        "--repo",
        code.to_str().unwrap(),
        "-f",
        "--",
        "true",
    ]);
    let storage = s.home.join("projects/p/storage");
    s.ok(&[
        "train",
        "-i",
        code.join("data.csv").to_str().unwrap(),
        "-o",
        storage.join("line").to_str().unwrap(),
    ]);
    s
}

/// Runs one case; its line in the corpus: the arguments, then what was printed and the code.
fn refusal(s: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut child = s
        .cmd(args)
        .envs(env.iter().copied())
        .current_dir(s.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let sandbox = s.dir.path().to_str().unwrap();
    let mut case = String::new();
    let shown: Vec<String> = env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .chain(std::iter::once("mlbench".to_string()))
        .chain(args.iter().map(|a| {
            if a.contains(' ') || a.is_empty() {
                format!("{a:?}")
            } else {
                (*a).to_string()
            }
        }))
        .collect();
    writeln!(case, "$ {}", shown.join(" ")).unwrap();
    for line in stderr.lines() {
        writeln!(case, "  {line}").unwrap();
    }
    match status {
        Some(status) => writeln!(case, "  exit {}", status.code().map_or(-1, |c| c)).unwrap(),
        None => writeln!(case, "  still running after {} s", LIMIT.as_secs()).unwrap(),
    }
    case.replace(sandbox, "$SANDBOX")
}

#[test]
fn every_refusal_reads_as_it_did() {
    let s = corpus_sandbox();
    let sandbox = s.dir.path().to_str().unwrap().to_string();
    let at = |path: &str| format!("{sandbox}/{path}");
    let (code, storage) = (at("code"), at("home/projects/p/storage"));
    let (data, text, empty, header, constant, labels) = (
        at("code/data.csv"),
        at("code/text.csv"),
        at("code/empty.csv"),
        at("code/header.csv"),
        at("code/const.csv"),
        at("code/labels.csv"),
    );
    let (model, not_a_model, broken) = (
        format!("{storage}/line/model.json"),
        at("code/not-a-model.json"),
        at("code/broken.json"),
    );
    let out = at("out");
    let no_docker = format!("unix://{sandbox}/no-docker.sock");
    let docker: &[(&str, &str)] = &[("MLBENCH_RUNTIME", "docker"), ("DOCKER_HOST", &no_docker)];
    let none: &[(&str, &str)] = &[];
    let run = |rest: &[&str]| -> Vec<String> {
        ["run", "--project", "p", "--repo", &code]
            .iter()
            .chain(rest)
            .map(|a| (*a).to_string())
            .collect()
    };
    let cases: Vec<(Vec<String>, &[(&str, &str)])> = vec![
        // Projects.
        (vec!["project".into(), "create".into(), "p".into()], none),
        (vec!["project".into(), "create".into(), "Bad Name".into()], none),
        (vec!["project".into(), "create".into(), String::new()], none),
        (vec!["project".into(), "create".into(), "a".repeat(70)], none),
        (vec!["project".into(), "rm".into(), "p".into()], none),
        (vec!["project".into(), "rm".into(), "nosuch".into(), "--yes".into()], none),
        // Jobs.
        (
            ["run", "--project", "nosuch", "--repo", &code, "--", "true"]
                .map(String::from)
                .to_vec(),
            none,
        ),
        (run(&["--machine", "NOPE", "--", "true"]), none),
        (run(&["--port", "abc", "--", "true"]), none),
        (run(&["--port", "0:80", "--", "true"]), none),
        (run(&["--port", "70000:80", "--", "true"]), none),
        (run(&["--port", "8080:0", "--", "true"]), none),
        (run(&["--port", "1.2.3:80:80", "--", "true"]), none),
        (run(&["--port", "8080:80", "--port", "8080:81", "--", "true"]), none),
        (run(&["--env", "NOEQUALS", "--", "true"]), none),
        (run(&["--env", "=value", "--", "true"]), none),
        (run(&["--ref", "main", "--", "true"]), none),
        (run(&[]), none),
        (run(&["--node", "n1", "--", "true"]), none),
        (
            ["run", "--project", "p", "--repo", &at("missing"), "--", "true"]
                .map(String::from)
                .to_vec(),
            none,
        ),
        (run(&["--", "true"]), docker),
        (vec!["logs".into(), "99".into()], none),
        (vec!["logs".into(), "x".into()], none),
        (vec!["stop".into(), "99".into()], none),
        (vec!["stop".into(), "1".into()], none),
        (vec!["exec".into(), "99".into(), "--".into(), "true".into()], none),
        (vec!["exec".into(), "1".into(), "--".into(), "true".into()], none),
        (vec!["metrics".into(), "99".into()], none),
        (vec!["jobs".into(), "rm".into(), "99".into()], none),
        (vec!["jobs".into(), "--project".into(), "nosuch".into()], none),
        (vec!["demo".into(), "iris".into()], docker),
        (vec!["images".into()], docker),
        (
            ["images", "build", "--repo", &code, "--dockerfile", "Nope", "-t", "x:1"]
                .map(String::from)
                .to_vec(),
            docker,
        ),
        // The trainer.
        (["train", "-i", &at("missing.csv"), "-o", &out].map(String::from).to_vec(), none),
        (["train", "-i", &empty, "-o", &out].map(String::from).to_vec(), none),
        (["train", "-i", &header, "-o", &out].map(String::from).to_vec(), none),
        (["train", "-i", &text, "-o", &out].map(String::from).to_vec(), none),
        (["train", "-i", &constant, "-o", &out].map(String::from).to_vec(), none),
        (["train", "-i", &data, "-o", &out, "--y", "nosuch"].map(String::from).to_vec(), none),
        (["train", "-i", &data, "-o", &out, "--x", "nosuch"].map(String::from).to_vec(), none),
        (["train", "-i", &data, "-o", &out, "--drop", "x"].map(String::from).to_vec(), none),
        (["train", "-i", &data, "-o", &out, "--test-size", "1.5"].map(String::from).to_vec(), none),
        (["train", "-i", &labels, "-o", &out].map(String::from).to_vec(), none),
        (
            ["train", "-i", &labels, "-o", &out, "--model", "tree", "--max-depth", "0"]
                .map(String::from)
                .to_vec(),
            none,
        ),
        (["train", "-i", &data, "-o", &data].map(String::from).to_vec(), none),
        // Charts and metrics.
        (["plot", "1", "-o", &at("fit.png")].map(String::from).to_vec(), none),
        (["plot", "99", "-o", &at("fit.png")].map(String::from).to_vec(), none),
        (
            ["plot", "1", "-o", &at("fit.png"), "--model", &model, "--data", &at("missing.csv")]
                .map(String::from)
                .to_vec(),
            none,
        ),
        // The model server.
        (["serve", "-m", &at("missing/model.json")].map(String::from).to_vec(), none),
        (["serve", "-m", &not_a_model].map(String::from).to_vec(), none),
        (["serve", "-m", &broken].map(String::from).to_vec(), none),
        (["serve", "-m", &model, "--client-timeout", "0"].map(String::from).to_vec(), none),
        (["serve", "-m", &model, "--max-connections", "0"].map(String::from).to_vec(), none),
        (["serve", "-m", &model, "--version", "3"].map(String::from).to_vec(), none),
        (["serve", "-m", &model, "--host", "not an address", "--port", "0"].map(String::from).to_vec(), none),
        // Deployments, models and predictions.
        (
            ["deploy", "--project", "p", "--model", "nosuch", "--port", "18555:8080"]
                .map(String::from)
                .to_vec(),
            none,
        ),
        (
            ["deploy", "--project", "nosuch", "--model", "line", "--port", "18555:8080"]
                .map(String::from)
                .to_vec(),
            none,
        ),
        (
            ["deploy", "--project", "p", "--model", "line", "--port", "bad"]
                .map(String::from)
                .to_vec(),
            none,
        ),
        (
            ["deploy", "--project", "p", "--model", "line", "--replicas", "0"]
                .map(String::from)
                .to_vec(),
            none,
        ),
        (
            ["deploy", "--project", "p", "--model", "line", "--version", "7", "--port", "18555:8080"]
                .map(String::from)
                .to_vec(),
            none,
        ),
        (vec!["deploy".into(), "--model".into(), "line".into()], none),
        (vec!["deploy".into(), "stop".into(), "nosuch".into()], none),
        (vec!["deploy".into(), "rollback".into(), "nosuch".into()], none),
        (vec!["deploy".into(), "rm".into(), "nosuch".into()], none),
        (vec!["deploy".into(), "pin".into(), "nosuch".into(), "2".into()], none),
        (vec!["models".into(), "--project".into(), "nosuch".into()], none),
        (vec!["predict".into(), "--deployment".into(), "nosuch".into(), "25".into()], none),
        (vec!["predict".into(), "--url".into(), "http://127.0.0.1:1".into(), "25".into()], none),
        (vec!["predict".into(), "25".into()], none),
        // Storage.
        (vec!["storage".into(), "ls".into(), "nosuch".into()], none),
        (vec!["storage".into(), "ls".into(), "p".into(), "missing".into()], none),
        (
            ["storage", "get", "p", "../../../etc/passwd", "-o", &out]
                .map(String::from)
                .to_vec(),
            none,
        ),
        (["storage", "get", "p", "missing", "-o", &out].map(String::from).to_vec(), none),
        // Sweeps.
        (
            ["sweep", "--project", "p", "--repo", &code, "--grid", "x", "--", "echo", "{x}"]
                .map(String::from)
                .to_vec(),
            none,
        ),
        (
            ["sweep", "--project", "p", "--repo", &code, "--grid", "x=1,2", "--", "echo", "{y}"]
                .map(String::from)
                .to_vec(),
            none,
        ),
        (
            ["sweep", "--project", "p", "--repo", &code, "--grid", "x=1,2", "--", "echo"]
                .map(String::from)
                .to_vec(),
            none,
        ),
        (
            [
                "sweep", "--project", "p", "--repo", &code, "--random", "3", "--space", "x=5..1", "--",
                "echo", "{x}",
            ]
            .map(String::from)
            .to_vec(),
            none,
        ),
        (
            [
                "sweep", "--project", "p", "--repo", &code, "--grid", "x=1..3", "--early-stop", "bogus",
                "--", "echo", "{x}",
            ]
            .map(String::from)
            .to_vec(),
            none,
        ),
        (
            [
                "sweep", "--project", "p", "--repo", &code, "--grid", "x=1,2", "--parallel", "0", "--",
                "echo", "{x}",
            ]
            .map(String::from)
            .to_vec(),
            none,
        ),
        (
            [
                "sweep", "--project", "p", "--repo", &code, "--grid", "x=1,2", "--metric", "loss",
                "--minimize", "--", "echo", "{y}",
            ]
            .map(String::from)
            .to_vec(),
            none,
        ),
        (
            [
                "sweep", "--project", "p", "--repo", &code, "--grid", "x=1,2", "--metric", "loss",
                "--minimize", "--", "echo",
            ]
            .map(String::from)
            .to_vec(),
            none,
        ),
        (
            [
                "sweep", "--project", "p", "--repo", &code, "--grid", "x=1..3", "--metric", "loss",
                "--minimize", "--early-stop", "bogus", "--", "echo", "{x}",
            ]
            .map(String::from)
            .to_vec(),
            none,
        ),
        (
            [
                "sweep", "--project", "p", "--repo", &code, "--grid", "x=1,2", "--metric", "loss",
                "--minimize", "--parallel", "0", "--", "echo", "{x}",
            ]
            .map(String::from)
            .to_vec(),
            none,
        ),
        (vec!["sweep".into(), "resume".into(), "99".into()], none),
        (vec!["sweep".into(), "stop".into(), "99".into()], none),
        (vec!["compare".into(), "99".into()], none),
        (vec!["sweeps".into(), "--project".into(), "nosuch".into()], none),
        // Upkeep and the rest.
        (vec!["gc".into(), "--older-than".into(), "forever".into()], none),
        (vec!["gc".into(), "--older-than".into(), "-3d".into()], none),
        (vec!["nodes".into()], none),
        (vec!["top".into()], docker),
        (vec!["completions".into(), "tcsh".into()], none),
        (vec!["man".into(), "--dir".into(), format!("{code}/data.csv")], none),
        (vec!["bogus".into()], none),
        (vec![], none),
    ];
    let mut corpus = String::new();
    for (args, env) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        corpus.push_str(&refusal(&s, &args, env));
    }
    // The config is read before anything else: a broken one is refused by every command.
    std::fs::write(s.dir.path().join("config.toml"), "[machines.X]\ncpus = \"many\"\n").unwrap();
    corpus.push_str(&refusal(&s, &["jobs"], none));
    std::fs::write(s.dir.path().join("config.toml"), "runtime = \"kubernetes\"\n").unwrap();
    corpus.push_str(&refusal(&s, &["jobs"], none));
    // A store written by a newer mlbench is refused before anything writes to it. SQLite keeps
    // the schema version in the file's header, at byte 60 (big-endian).
    std::fs::write(s.dir.path().join("config.toml"), "").unwrap();
    let db = s.home.join("mlbench.db");
    let mut bytes = std::fs::read(&db).unwrap();
    bytes[60..64].copy_from_slice(&99u32.to_be_bytes());
    std::fs::write(&db, bytes).unwrap();
    corpus.push_str(&refusal(&s, &["jobs"], none));
    // The running mlbench names itself in that refusal: its version and commit.
    let version = s.ok(&["--version"]);
    let version = version.trim().trim_start_matches("mlbench ");
    insta::assert_snapshot!("bad_input_corpus", corpus.replace(version, "$VERSION"));
}
