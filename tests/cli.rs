//! The command line without a Docker Engine: projects, machines, config, the local runtime.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Sandbox;

#[test]
fn projects_are_created_once_and_listed() {
    let s = Sandbox::new("local");
    s.ok(&["project", "create", "salary"]);
    let out = s.run(&["project", "create", "salary"]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "mlbench: project salary already exists"
    );
    let bad = s.run(&["project", "create", "Bad Name"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not valid"));
    let listed: serde_json::Value = serde_json::from_str(&s.ok(&["projects", "--json"])).unwrap();
    assert_eq!(listed[0]["name"], "salary");
    assert!(s.home.join("projects/salary/storage").is_dir());
}

#[test]
fn machines_include_the_config_types_and_say_what_does_not_fit() {
    let s = Sandbox::new("local");
    let listed: serde_json::Value = serde_json::from_str(&s.ok(&["machines", "--json"])).unwrap();
    let find = |name: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(find("TINY")["memory_bytes"], 48 << 20);
    assert_eq!(find("TINY")["fits"], true);
    let a100 = find("A100");
    assert_eq!(a100["fits"], false);
    assert!(a100["why_not"].as_str().unwrap().contains("1 GPU (host has 0)"));
}

#[test]
fn a_broken_config_is_one_clear_line() {
    let s = Sandbox::new("local");
    std::fs::write(
        s.dir.path().join("config.toml"),
        "[machines.X]\ncpus = \"many\"\nmemory = \"1GiB\"\n",
    )
    .unwrap();
    let out = s.run(&["machines"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("config.toml"), "{err}");
}

#[test]
fn the_local_runtime_runs_the_command_in_its_workspace_with_storage() {
    let s = Sandbox::new("local");
    s.ok(&["project", "create", "p"]);
    let repo = s.folder("code", &[("hello.txt", "from the workspace\n")]);
    let script = "cat hello.txt; echo \"$MLBENCH_STORAGE\"; echo to-stderr >&2; echo kept > \"$MLBENCH_STORAGE/out\"; exit 4";
    let out = s.run(&[
        "run",
        "--project",
        "p",
        "--repo",
        repo.to_str().unwrap(),
        "-f",
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("from the workspace\n"), "{stdout}");
    assert!(stdout.contains("projects/p/storage"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("to-stderr"));
    assert_eq!(
        std::fs::read_to_string(s.home.join("projects/p/storage/out")).unwrap(),
        "kept\n"
    );
    let job = s.job(1);
    assert_eq!(
        (job["state"].as_str(), job["runtime"].as_str()),
        (Some("failed"), Some("local"))
    );
}

#[test]
fn stopping_a_local_job_ends_it_as_stopped() {
    let s = Sandbox::new("local");
    s.ok(&["project", "create", "p"]);
    let repo = s.folder("code", &[]);
    s.ok(&[
        "run",
        "--project",
        "p",
        "--repo",
        repo.to_str().unwrap(),
        "--",
        "sleep",
        "600",
    ]);
    let out = s.ok(&["stop", "1", "--grace", "3"]);
    assert!(out.contains("job 1 stopped"), "{out}");
}

/// The home holds jobs' env values (tokens): it and its database are the user's alone, also when
/// an older mlbench left them open.
#[test]
fn the_home_and_its_database_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let s = Sandbox::new("local");
    s.ok(&["project", "create", "secret"]);
    assert_eq!(mode(&s.home), 0o700);
    for file in ["mlbench.db", "mlbench.db-wal"] {
        let path = s.home.join(file);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{file}");
        }
    }
    std::fs::set_permissions(&s.home, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(s.home.join("mlbench.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    s.ok(&["projects"]);
    assert_eq!((mode(&s.home), mode(&s.home.join("mlbench.db"))), (0o700, 0o600));
}

/// `mlbench storage ls P | head -1`: the listing ends quietly when its reader goes away.
#[test]
fn a_listing_piped_into_head_ends_quietly() {
    use std::io::BufRead;
    let s = Sandbox::new("local");
    s.ok(&["project", "create", "many"]);
    let storage = s.home.join("projects/many/storage");
    for i in 0..3_000 {
        std::fs::write(storage.join(format!("file-{i:05}.txt")), "x").unwrap();
    }
    let mut child = s
        .cmd(&["storage", "ls", "many"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone (as `head` would be) before the listing is written out.
    let out = child.wait_with_output().unwrap();
    assert!(first.starts_with("PATH"), "{first}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// An engine asked for by name that does not answer like Docker is an error in one line, not a
/// silent fall-back to running jobs unisolated on the host.
#[test]
fn an_explicit_docker_host_that_is_not_docker_is_refused_in_one_line() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Answers every request with an HTML page, as a web server on the wrong port would.
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let page =
                "<html>\n<head><title>Welcome</title></head>\n<body>\n<h1>It works</h1>\n</body>\n</html>\n";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
        }
    });
    let s = Sandbox::new("");
    s.ok(&["project", "create", "p"]);
    let repo = s.folder("code", &[("a.txt", "a")]);
    let out = s
        .cmd(&[
            "run",
            "--project",
            "p",
            "--repo",
            repo.to_str().unwrap(),
            "--",
            "true",
        ])
        .env("DOCKER_HOST", format!("tcp://127.0.0.1:{port}"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("no Docker Engine answered at tcp://127.0.0.1:{port}")),
        "{stderr}"
    );
    let jobs: serde_json::Value = serde_json::from_str(&s.ok(&["jobs", "--json"])).unwrap();
    assert_eq!(jobs, serde_json::json!([]), "a job was stored");
}

/// A job may plant symbolic links in /storage; the host-side commands never follow one out.
#[test]
fn storage_commands_do_not_follow_links_out_of_storage() {
    use std::os::unix::fs::symlink;
    let s = Sandbox::new("local");
    s.ok(&["project", "create", "p"]);
    let storage = s.home.join("projects/p/storage");
    std::fs::write(storage.join("real.txt"), "mine").unwrap();
    symlink("/etc/hostname", storage.join("leak")).unwrap();
    symlink("/etc", storage.join("etc")).unwrap();
    symlink("loop", storage.join("loop")).unwrap();
    let outside = s.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("model.json"), "{}").unwrap();
    symlink(&outside, storage.join("model")).unwrap();

    let listed = s.ok(&["storage", "ls", "p"]);
    assert_eq!(listed.lines().count(), 6, "{listed}");
    assert!(
        listed.contains("/storage/leak -> /etc/hostname (link, not followed)"),
        "{listed}"
    );
    assert!(listed.contains("/storage/real.txt"), "{listed}");

    let refused = |args: &[&str]| {
        let out = s.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{args:?} was accepted");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        stderr
    };
    let dest = s.dir.path().join("got");
    assert!(
        refused(&["storage", "get", "p", "leak", "-o", dest.to_str().unwrap()])
            .contains("is a symbolic link")
    );
    assert!(!dest.exists());
    assert!(
        refused(&["storage", "get", "p", "etc/passwd", "-o", dest.to_str().unwrap()])
            .contains("is a symbolic link")
    );
    let deploy = refused(&[
        "deploy",
        "--project",
        "p",
        "--model",
        "model",
        "--port",
        "18081:8080",
    ]);
    assert!(
        deploy.contains("does not follow links in the /storage of project p"),
        "{deploy}"
    );

    let all = s.dir.path().join("all");
    let out = s.run(&["storage", "get", "p", "/", "-o", all.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(all.join("real.txt")).unwrap(), "mine");
    assert!(!all.join("leak").exists() && !all.join("etc").exists());
    assert!(String::from_utf8_lossy(&out.stderr).contains("left out"));
}

/// A job waiting in the queue holds its host ports: a second job asking for one is refused at
/// submit, naming the holder, instead of failing when it launches.
#[test]
fn a_queued_job_holds_its_ports() {
    let s = Sandbox::new("local");
    let cpus = std::thread::available_parallelism().unwrap().get();
    std::fs::write(
        s.dir.path().join("config.toml"),
        format!("[machines.HOST]\ncpus = {cpus}\nmemory = \"64MiB\"\n[machines.ONE]\ncpus = 1\nmemory = \"64MiB\"\n"),
    )
    .unwrap();
    s.ok(&["project", "create", "p"]);
    let repo = s.folder("code", &[]);
    let repo = repo.to_str().unwrap();
    let port = common::free_port().to_string();
    let mapping = format!("127.0.0.1:{port}:80");
    s.ok(&[
        "run",
        "--project",
        "p",
        "--machine",
        "HOST",
        "--repo",
        repo,
        "--",
        "sleep",
        "600",
    ]);
    let queued = s.run(&[
        "run",
        "--project",
        "p",
        "--machine",
        "ONE",
        "--repo",
        repo,
        "--port",
        &mapping,
        "--",
        "true",
    ]);
    // A queued job says what it waits for and who holds it, at submit, in its row and its log.
    let why = format!("waits for 1 vCPU: 0 free, job 1 holds {cpus}");
    assert!(
        String::from_utf8_lossy(&queued.stderr).contains(&format!("job 2 queued: {why}")),
        "{queued:?}"
    );
    assert_eq!(s.job(2)["state"], "queued");
    assert_eq!(s.job(2)["detail"], why.as_str());
    assert!(
        s.log_records(2).contains(&('m', format!("queued: {why}"))),
        "{:?}",
        s.log_records(2)
    );
    let refused = s.run(&[
        "run",
        "--project",
        "p",
        "--machine",
        "ONE",
        "--repo",
        repo,
        "--port",
        &format!("{port}:81"),
        "--",
        "true",
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains(&format!("host port {port} on 127.0.0.1 is not free"))
            && stderr.contains("held by job 2"),
        "{stderr}"
    );
    assert_eq!(
        s.jobs().as_array().unwrap().len(),
        2,
        "the refused job was stored"
    );
}

/// A mistake in the arguments is one line with the usage, exit code 2; the workbench without a
/// terminal says so instead of panicking.
#[test]
fn argument_mistakes_and_a_missing_terminal_are_one_line() {
    let s = Sandbox::new("local");
    let out = s.run(&["run", "--bogus"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("unexpected argument '--bogus'") && stderr.contains("usage: mlbench run"),
        "{stderr}"
    );
    let out = s.cmd(&[]).stdin(std::process::Stdio::null()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr.trim(),
        "mlbench: the workbench needs a terminal: run `mlbench` in one, or use its commands (`mlbench --help`)"
    );
}

/// `jobs rm` and `project rm` refuse what runs and delete, with their files, what has ended.
#[test]
fn finished_jobs_and_projects_are_deleted_and_running_ones_refuse() {
    let s = Sandbox::new("local");
    s.ok(&["project", "create", "p"]);
    let repo = s.folder("code", &[]);
    let path = repo.to_str().unwrap();
    s.ok(&["run", "--project", "p", "--repo", path, "-f", "--", "true"]);
    s.ok(&["run", "--project", "p", "--repo", path, "--", "sleep", "600"]);
    std::fs::write(s.home.join("projects/p/storage/model.json"), "{}").unwrap();
    assert!(s.home.join("jobs/1").exists());

    let refused = s.run(&["jobs", "rm", "1", "2"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("job 2 is running: stop it first"), "{stderr}");
    assert!(s.home.join("jobs/1").exists(), "a refusal deletes nothing");

    let refused = s.run(&["project", "rm", "p"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("--yes"), "{stderr}");
    let refused = s.run(&["project", "rm", "p", "--yes"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("job 2 of p is running"), "{stderr}");

    assert!(s.ok(&["jobs", "rm", "1"]).contains("deleted job(s) 1"));
    assert!(!s.home.join("jobs/1").exists());
    assert_eq!(s.jobs().as_array().unwrap().len(), 1);

    s.ok(&["stop", "2", "--grace", "3"]);
    let out = s.ok(&["project", "rm", "p", "--yes"]);
    assert!(out.starts_with("deleted project p: 1 job(s)"), "{out}");
    assert!(!s.home.join("projects/p").exists() && !s.home.join("jobs/2").exists());
    assert_eq!(s.ok(&["projects", "--json"]).trim(), "[]");
}

/// A local job is entered in its workspace, with its storage named as the job sees it.
#[test]
fn exec_in_a_local_job_runs_in_its_workspace() {
    let s = Sandbox::new("local");
    s.ok(&["project", "create", "p"]);
    let repo = s.folder("code", &[("hello.txt", "from the workspace\n")]);
    s.ok(&[
        "run",
        "--project",
        "p",
        "--repo",
        repo.to_str().unwrap(),
        "--",
        "sleep",
        "600",
    ]);
    let out = s.run(&[
        "exec",
        "1",
        "--",
        "sh",
        "-c",
        "cat hello.txt; echo \"$MLBENCH_STORAGE\"; exit 5",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(5), "{stdout}");
    assert!(
        stdout.starts_with("from the workspace\n") && stdout.contains("projects/p/storage"),
        "{stdout}"
    );
    s.ok(&["stop", "1", "--grace", "1"]);
}

/// With no command a job runs its image's own, which the local runtime cannot: it says so.
#[test]
fn the_local_runtime_refuses_a_job_without_a_command() {
    let s = Sandbox::new("local");
    s.ok(&["project", "create", "p"]);
    let repo = s.folder("code", &[]);
    let out = s.run(&["run", "--project", "p", "--repo", repo.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the local runtime runs a command, not an image: give it after `--`"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(s.jobs().as_array().unwrap().len(), 0);
}

#[test]
fn a_job_printing_a_new_metric_name_per_line_keeps_the_first_thousand() {
    let s = Sandbox::new("local");
    s.ok(&["project", "create", "p"]);
    let repo = s.folder("code", &[]);
    let script = "i=0; while [ $i -lt 1200 ]; do echo \"m$i : $i\"; i=$((i+1)); done";
    s.ok(&[
        "run",
        "--project",
        "p",
        "--repo",
        repo.to_str().unwrap(),
        "-f",
        "--",
        "sh",
        "-c",
        script,
    ]);
    let metrics: serde_json::Value = serde_json::from_str(&s.ok(&["metrics", "1", "--json"])).unwrap();
    assert_eq!(metrics.as_array().unwrap().len(), 1_000);
    // The log keeps every line, and says once which name was the first left out.
    let records = s.log_records(1);
    assert_eq!(records.iter().filter(|r| r.0 == 'o').count(), 1_200);
    let notes: Vec<&String> = records
        .iter()
        .filter(|r| r.0 == 'm' && r.1.contains("are not kept as metrics"))
        .map(|r| &r.1)
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with("metric \"m1000\" and any other new name past 1000"),
        "{notes:?}"
    );
}

/// A configured engine nothing listens for is listed with the client's own reason, once, and a
/// job sent there is refused in one line naming it; nothing is stored.
#[test]
fn an_engine_that_refuses_connections_is_listed_and_refused_with_its_reason() {
    // A port just closed: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = Sandbox::new("");
    s.configure(
        "",
        &format!("[engines.gone]\nhost = \"tcp://127.0.0.1:{port}\"\n"),
    );
    s.ok(&["project", "create", "p"]);
    let listed = s.ok(&["engines"]);
    let row = listed
        .lines()
        .find(|l| l.starts_with("gone "))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(row.contains("does not answer: Connection refused"), "{row}");
    assert!(!row.contains("hyper") && !row.contains("engine gone"), "{row}");

    let repo = s.folder("code", &[("a.txt", "a")]);
    let out = s.run(&[
        "run",
        "--project",
        "p",
        "--engine",
        "gone",
        "--repo",
        repo.to_str().unwrap(),
        "--",
        "true",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "engine gone (tcp://127.0.0.1:{port}) does not answer: Connection refused"
        )),
        "{stderr}"
    );
    let jobs: serde_json::Value = serde_json::from_str(&s.ok(&["jobs", "--json"])).unwrap();
    assert_eq!(jobs, serde_json::json!([]), "a job was stored");
}
