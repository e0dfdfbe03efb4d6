//! What a new user meets first: `--version`, shell completions, man pages and `doctor` on a
//! healthy machine, without Docker, with a stopped engine and with a full disk.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::Sandbox;

#[test]
fn version_names_the_commit_it_was_built_from() {
    let s = Sandbox::new("local");
    let version = s.ok(&["--version"]);
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    assert!(
        version.starts_with(&format!("mlbench {} ({head}", env!("CARGO_PKG_VERSION"))),
        "{version} does not name HEAD {head}"
    );
}

#[test]
fn bash_completion_loads_and_completes_commands_and_options() {
    if !common::tool_available("bash", "--version", "bash_completion") {
        return;
    }
    let s = Sandbox::new("local");
    let script = s.dir.path().join("mlbench.bash");
    std::fs::write(&script, s.ok(&["completions", "bash"])).unwrap();
    let complete = |words: &str, index: usize| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source {}; COMP_WORDS=({words}); COMP_CWORD={index}; COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; _mlbench mlbench \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; echo \"${{COMPREPLY[@]}}\"",
                script.display()
            ))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let commands = complete("mlbench dep", 1);
    assert_eq!(commands, "deploy deployments", "{commands}");
    let options = complete("mlbench run --fol", 2);
    assert_eq!(options, "--follow", "{options}");
    let shells = s.run(&["completions", "tcsh"]);
    assert_eq!(shells.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&shells.stderr).contains("invalid value 'tcsh'"));
}

#[test]
fn man_pages_cover_every_command() {
    let s = Sandbox::new("local");
    let dir = s.dir.path().join("man/man1");
    let said = s.ok(&["man", "--dir", dir.to_str().unwrap()]);
    assert!(said.contains("man pages in"), "{said}");
    let page = std::fs::read_to_string(dir.join("mlbench-run.1")).unwrap();
    assert!(page.starts_with(".ie") || page.contains(".TH"), "{page}");
    assert!(page.contains("\\-\\-follow"), "run's page lacks --follow");
    for command in [
        "mlbench.1",
        "mlbench-doctor.1",
        "mlbench-sweep-resume.1",
        "mlbench-deploy-rollback.1",
    ] {
        assert!(dir.join(command).is_file(), "no {command}");
    }
    assert!(
        !dir.join("mlbench-__supervise.1").exists(),
        "a hidden command got a page"
    );
}

/// Runs `doctor --json` and returns its exit code and findings by check.
fn doctor(s: &Sandbox) -> (i32, Vec<serde_json::Value>) {
    let out = s.run(&["doctor", "--json"]);
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor --json: {e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap(), findings.as_array().unwrap().clone())
}

fn finding<'a>(findings: &'a [serde_json::Value], check: &str) -> &'a serde_json::Value {
    findings
        .iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no {check} finding in {findings:?}"))
}

#[test]
fn doctor_without_docker_says_to_install_it() {
    let mut s = Sandbox::new("auto");
    let socket = s.dir.path().join("no-such-docker.sock");
    s.env
        .push(("DOCKER_HOST", format!("unix://{}", socket.display())));
    let (code, findings) = doctor(&s);
    assert_eq!(code, 1);
    let docker = finding(&findings, "docker");
    assert_eq!(docker["status"], "fail");
    assert!(
        docker["detail"]
            .as_str()
            .unwrap()
            .starts_with("no Docker Engine: nothing at unix://")
    );
    assert!(docker["fix"].as_str().unwrap().contains("install Docker Engine"));
    // Everything else is fine, and the plain output is one line per check.
    assert_eq!(finding(&findings, "home")["status"], "ok");
    let plain = s.run(&["doctor"]);
    let text = String::from_utf8_lossy(&plain.stdout);
    let docker_line = text.lines().find(|l| l.contains(" docker ")).unwrap();
    assert!(docker_line.starts_with("FAIL"), "{text}");
    assert!(docker_line.contains(": install Docker Engine"), "{text}");
}

#[test]
fn doctor_with_a_stopped_engine_says_to_start_it() {
    let mut s = Sandbox::new("docker");
    // A socket nobody listens on any more: what a stopped engine leaves.
    let socket = s.dir.path().join("stopped.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    s.env
        .push(("DOCKER_HOST", format!("unix://{}", socket.display())));
    let (code, findings) = doctor(&s);
    assert_eq!(code, 1);
    let docker = finding(&findings, "docker");
    assert_eq!(docker["status"], "fail");
    assert!(
        docker["detail"].as_str().unwrap().contains("does not answer"),
        "{docker}"
    );
    assert!(
        docker["fix"].as_str().unwrap().starts_with("start it"),
        "{docker}"
    );
}

#[test]
fn doctor_with_a_full_disk_says_how_much_is_free() {
    let root = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&root.stdout).trim() != "0" {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "a full disk is simulated with a tmpfs, which needs root, and CI=true needs it"
        );
        eprintln!("skipped doctor_with_a_full_disk: mounting a tmpfs needs root");
        return;
    }
    let mut s = Sandbox::new("local");
    let disk = s.dir.path().join("small-disk");
    std::fs::create_dir(&disk).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&disk)
        .status()
        .unwrap();
    assert!(mounted.success());
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(disk.clone());
    s.home = disk.join("home");
    s.ok(&["project", "create", "p"]);
    // Fill the disk to the last block, as a runaway job's log would.
    let filled = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", disk.join("filler").display()))
        .output()
        .unwrap();
    assert!(!filled.status.success(), "the tmpfs did not fill");
    let (code, findings) = doctor(&s);
    assert_eq!(code, 1);
    let space = finding(&findings, "disk");
    assert_eq!(space["status"], "fail");
    let detail = space["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("0 B free under") || detail.contains(" B free under"),
        "{detail}"
    );
    assert!(space["fix"].as_str().unwrap().contains("mlbench gc"), "{space}");
    s.home = s.dir.path().join("home");
}

#[test]
fn doctor_on_a_healthy_machine_exits_zero() {
    if !common::docker_available("doctor_on_a_healthy_machine") {
        return;
    }
    let s = Sandbox::new("docker");
    s.ok(&["project", "create", "p"]);
    let (code, findings) = doctor(&s);
    assert_eq!(code, 0, "{findings:#?}");
    let docker = finding(&findings, "docker");
    assert_eq!(docker["status"], "ok");
    let detail = docker["detail"].as_str().unwrap();
    assert!(detail.starts_with("Docker Engine "), "{detail}");
    assert!(detail.contains("(API 1."), "{detail}");
    assert!(detail.contains("cgroup v"), "{detail}");
    assert_eq!(finding(&findings, "config")["status"], "ok");
    assert!(
        finding(&findings, "store")["detail"]
            .as_str()
            .unwrap()
            .contains("(schema ")
    );
    // Output piped into a test is no terminal: a note, not a failure.
    assert_eq!(finding(&findings, "terminal")["status"], "note");
    assert!(findings.iter().all(|f| f["status"] != "fail"));
}

#[test]
fn doctor_counts_and_checks_the_shared_storage_root_too() {
    let s = Sandbox::new("local");
    let shared = s.dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    s.configure(
        &format!(
            "storage_root = \"{}\"\ndisk_use_warning = \"1MiB\"",
            shared.display()
        ),
        "",
    );
    s.ok(&["project", "create", "p"]);
    // The project's files are under the shared root, not the home: doctor must see them.
    let files = std::fs::read_dir(&shared)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(files.join("projects/p/storage/big.bin"), vec![7u8; 2 << 20]).unwrap();
    let (code, findings) = doctor(&s);
    assert_eq!(code, 1);
    let disks: Vec<&serde_json::Value> = findings.iter().filter(|f| f["check"] == "disk").collect();
    assert_eq!(disks.len(), 2, "{disks:?}");
    assert!(
        disks[1]["detail"]
            .as_str()
            .unwrap()
            .contains(&files.display().to_string()),
        "{disks:?}"
    );
    let used = finding(&findings, "disk use");
    assert_eq!(used["status"], "fail");
    assert!(
        used["detail"]
            .as_str()
            .unwrap()
            .contains("above disk_use_warning (1.0 MiB)"),
        "{used}"
    );
}
