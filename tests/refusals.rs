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

/// One invocation: its arguments and the environment it runs with.
type Case<'a> = (Vec<String>, &'a [(&'a str, &'a str)]);

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
    let no_docker = format!("unix://{sandbox}/no-docker.sock");
    let docker: &[(&str, &str)] = &[("MLBENCH_RUNTIME", "docker"), ("DOCKER_HOST", &no_docker)];
    let none: &[(&str, &str)] = &[];
    let long_name = "a".repeat(70);
    // Arguments as typed, split at spaces; `$S` is the sandbox, `$RUN` a job of project p with
    // its code, `$SWEEP` a sweep of it, `$MODEL` the trained model. The few arguments with a
    // space, or none, come whole.
    let typed = |line: &str| -> Vec<String> {
        line.replace("$RUN", "run --project p --repo $S/code")
            .replace("$SWEEP", "sweep --project p --repo $S/code")
            .replace("$MODEL", "$S/home/projects/p/storage/line/model.json")
            .replace("$S", &sandbox)
            .split(' ')
            .map(str::to_string)
            .collect()
    };
    let whole = |args: &[&str]| -> Vec<String> { args.iter().map(|a| (*a).to_string()).collect() };
    let cases: Vec<Case> = vec![
        // Projects.
        (typed("project create p"), none),
        (whole(&["project", "create", "Bad Name"]), none),
        (whole(&["project", "create", ""]), none),
        (whole(&["project", "create", &long_name]), none),
        (typed("project rm p"), none),
        (typed("project rm nosuch --yes"), none),
        // Jobs.
        (typed("run --project nosuch --repo $S/code -- true"), none),
        (typed("$RUN --machine NOPE -- true"), none),
        (typed("$RUN --port abc -- true"), none),
        (typed("$RUN --port 0:80 -- true"), none),
        (typed("$RUN --port 70000:80 -- true"), none),
        (typed("$RUN --port 8080:0 -- true"), none),
        (typed("$RUN --port 1.2.3:80:80 -- true"), none),
        (typed("$RUN --port 8080:80 --port 8080:81 -- true"), none),
        (typed("$RUN --env NOEQUALS -- true"), none),
        (typed("$RUN --env =value -- true"), none),
        (typed("$RUN --ref main -- true"), none),
        (typed("$RUN"), none),
        (typed("$RUN --node n1 -- true"), none),
        (typed("run --project p --repo $S/missing -- true"), none),
        (typed("$RUN -- true"), docker),
        (typed("logs 99"), none),
        (typed("logs x"), none),
        (typed("stop 99"), none),
        (typed("stop 1"), none),
        (typed("exec 99 -- true"), none),
        (typed("exec 1 -- true"), none),
        (typed("metrics 99"), none),
        (typed("jobs rm 99"), none),
        (typed("jobs --project nosuch"), none),
        (typed("demo iris"), docker),
        (typed("images"), docker),
        (
            typed("images build --repo $S/code --dockerfile Nope -t x:1"),
            docker,
        ),
        // The trainer.
        (typed("train -i $S/missing.csv -o $S/out"), none),
        (typed("train -i $S/code/empty.csv -o $S/out"), none),
        (typed("train -i $S/code/header.csv -o $S/out"), none),
        (typed("train -i $S/code/text.csv -o $S/out"), none),
        (typed("train -i $S/code/const.csv -o $S/out"), none),
        (typed("train -i $S/code/data.csv -o $S/out --y nosuch"), none),
        (typed("train -i $S/code/data.csv -o $S/out --x nosuch"), none),
        (typed("train -i $S/code/data.csv -o $S/out --drop x"), none),
        (typed("train -i $S/code/data.csv -o $S/out --test-size 1.5"), none),
        (typed("train -i $S/code/labels.csv -o $S/out"), none),
        (
            typed("train -i $S/code/labels.csv -o $S/out --model tree --max-depth 0"),
            none,
        ),
        (typed("train -i $S/code/data.csv -o $S/code/data.csv"), none),
        // Charts and metrics.
        (typed("plot 1 -o $S/fit.png"), none),
        (typed("plot 99 -o $S/fit.png"), none),
        (
            typed("plot 1 -o $S/fit.png --model $MODEL --data $S/missing.csv"),
            none,
        ),
        // The model server.
        (typed("serve -m $S/missing/model.json"), none),
        (typed("serve -m $S/code/not-a-model.json"), none),
        (typed("serve -m $S/code/broken.json"), none),
        (typed("serve -m $MODEL --client-timeout 0"), none),
        (typed("serve -m $MODEL --max-connections 0"), none),
        (typed("serve -m $MODEL --version 3"), none),
        (
            [
                typed("serve -m $MODEL --host"),
                whole(&["not an address", "--port", "0"]),
            ]
            .concat(),
            none,
        ),
        // Deployments, models and predictions.
        (typed("deploy --project p --model nosuch --port 18555:8080"), none),
        (
            typed("deploy --project nosuch --model line --port 18555:8080"),
            none,
        ),
        (typed("deploy --project p --model line --port bad"), none),
        (typed("deploy --project p --model line --replicas 0"), none),
        (
            typed("deploy --project p --model line --version 7 --port 18555:8080"),
            none,
        ),
        (typed("deploy --model line"), none),
        (
            typed("deploy --project p --model line --name ../../x --port 18555:8080"),
            none,
        ),
        (typed("deploy stop nosuch"), none),
        (typed("deploy rollback nosuch"), none),
        (typed("deploy rm nosuch"), none),
        (typed("deploy pin nosuch 2"), none),
        (typed("models --project nosuch"), none),
        (typed("predict --deployment nosuch 25"), none),
        (typed("predict --url http://127.0.0.1:1 25"), none),
        (typed("predict 25"), none),
        // Storage.
        (typed("storage ls nosuch"), none),
        (typed("storage ls p missing"), none),
        (typed("storage get p ../../../etc/passwd -o $S/out"), none),
        (typed("storage get p missing -o $S/out"), none),
        // Sweeps.
        (typed("$SWEEP --grid x -- echo {x}"), none),
        (typed("$SWEEP --grid x=1,2 -- echo {y}"), none),
        (typed("$SWEEP --grid x=1,2 -- echo"), none),
        (typed("$SWEEP --random 3 --space x=5..1 -- echo {x}"), none),
        (typed("$SWEEP --grid x=1..3 --early-stop bogus -- echo {x}"), none),
        (typed("$SWEEP --grid x=1,2 --parallel 0 -- echo {x}"), none),
        (
            typed("$SWEEP --grid x=1,2 --metric loss --minimize -- echo {y}"),
            none,
        ),
        (
            typed("$SWEEP --grid x=1,2 --metric loss --minimize -- echo"),
            none,
        ),
        (
            typed("$SWEEP --grid x=1..3 --metric loss --minimize --early-stop bogus -- echo {x}"),
            none,
        ),
        (
            typed("$SWEEP --grid x=1,2 --metric loss --minimize --parallel 0 -- echo {x}"),
            none,
        ),
        (typed("sweep resume 99"), none),
        (typed("sweep stop 99"), none),
        (typed("sweep rm 99"), none),
        (
            typed("$SWEEP --grid x=0..1:1e-20 --metric loss --minimize -- echo {x}"),
            none,
        ),
        (
            typed("$SWEEP --random 2 --seed 1 --space x=-1e308..1e308 --metric loss --minimize -- echo {x}"),
            none,
        ),
        (typed("run --project p --repo $S/code/data.csv -- echo"), none),
        (typed("stop 1 --grace 99999999999"), none),
        (typed("compare 99"), none),
        (typed("sweeps --project nosuch"), none),
        // Engines.
        (typed("$RUN --engine nosuch -- echo"), none),
        (typed("$RUN --engine local,nosuch -- echo"), none),
        (typed("storage ls p --engine nosuch"), none),
        (typed("models --engine nosuch"), none),
        (typed("images --engine nosuch"), none),
        (typed("engines add gpu1 gpu1.lab"), none),
        (typed("engines add local ssh://gpu1.lab"), none),
        (typed("engines add Bad ssh://gpu1.lab"), none),
        (typed("engines add gpu1 ssh://-oProxyCommand=x"), none),
        (typed("engines rm nosuch"), none),
        (typed("engines rm local"), none),
        // Upkeep and the rest.
        (typed("gc --older-than forever"), none),
        (typed("gc --older-than -3d"), none),
        (typed("nodes"), none),
        (typed("top"), docker),
        (typed("completions tcsh"), none),
        (typed("man --dir $S/code/data.csv"), none),
        (typed("bogus"), none),
        (vec![], none),
    ];
    let mut corpus = String::new();
    for (args, env) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        corpus.push_str(&refusal(&s, &args, env));
    }
    // The config is read before anything else: a broken one is refused by every command.
    std::fs::write(
        s.dir.path().join("config.toml"),
        "[machines.X]\ncpus = \"many\"\n",
    )
    .unwrap();
    corpus.push_str(&refusal(&s, &["jobs"], none));
    std::fs::write(s.dir.path().join("config.toml"), "runtime = \"kubernetes\"\n").unwrap();
    corpus.push_str(&refusal(&s, &["jobs"], none));
    // A store written by a newer mlbench is refused before anything writes to it. SQLite keeps
    // the schema version in the file's header, at byte 60 (big-endian).
    std::fs::write(s.dir.path().join("config.toml"), "").unwrap();
    let db = s.home.join("mlbench.db");
    let bytes_at_60 = |db: &std::path::Path, version: u32| {
        let mut bytes = std::fs::read(db).unwrap();
        bytes[60..64].copy_from_slice(&version.to_be_bytes());
        std::fs::write(db, bytes).unwrap();
    };
    bytes_at_60(&db, 99);
    corpus.push_str(&refusal(&s, &["jobs"], none));
    // Nothing the refused `deploy --name ../../x` wrote is outside the model's folder.
    assert!(!s.home.join("projects/p/storage/x").exists());
    // A schema version no mlbench writes is damage, said as such.
    bytes_at_60(&db, u32::MAX);
    corpus.push_str(&refusal(&s, &["jobs"], none));
    // An empty store beside jobs' files is a lost store, never a new one.
    std::fs::write(&db, b"").unwrap();
    for wal in ["mlbench.db-wal", "mlbench.db-shm"] {
        let _ = std::fs::remove_file(s.home.join(wal));
    }
    std::fs::create_dir_all(s.home.join("jobs/1")).unwrap();
    corpus.push_str(&refusal(&s, &["jobs"], none));
    assert_eq!(std::fs::read(&db).unwrap(), b"", "the empty store was written to");
    // The running mlbench names itself in that refusal: its version and commit.
    let version = s.ok(&["--version"]);
    let version = version.trim().trim_start_matches("mlbench ");
    insta::assert_snapshot!("bad_input_corpus", corpus.replace(version, "$VERSION"));
}
