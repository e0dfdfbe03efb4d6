//! The static (musl) mlbench runs a job in its own runtime image, which is one file `FROM
//! scratch` (the static mlbench-job beside it), where the usual build's image carries the
//! libraries it loads. The binary is `MLBENCH_STATIC_BIN`, which `scripts/test` builds with its
//! mlbench-job (`cargo build --release --target x86_64-unknown-linux-musl --bin mlbench --bin
//! mlbench-job`). Its own test binary: the runtime image's tag is shared, and no other test may
//! rebuild it meanwhile.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Sandbox;

fn static_binary() -> Option<PathBuf> {
    let path = std::env::var_os("MLBENCH_STATIC_BIN").map(PathBuf::from);
    match path.filter(|p| p.is_file()) {
        Some(path) => Some(path),
        None => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "MLBENCH_STATIC_BIN names no binary, and CI=true needs the static build (scripts/test makes it)"
            );
            eprintln!("skipped the static binary's test: set MLBENCH_STATIC_BIN (scripts/test builds it)");
            None
        }
    }
}

/// Runs `binary` as mlbench in the sandbox's home and config.
fn run(s: &Sandbox, binary: &Path, args: &[&str]) -> String {
    let out = Command::new(binary)
        .args(args)
        .env("MLBENCH_HOME", &s.home)
        .env("MLBENCH_CONFIG", s.dir.path().join("config.toml"))
        .env("MLBENCH_RUNTIME", s.runtime)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        binary.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The files of the runtime image, as a container made from it holds them.
fn runtime_image_files() -> Vec<String> {
    let tag = format!("mlbench/runtime:{}", env!("CARGO_PKG_VERSION"));
    let created = Command::new("docker")
        .args(["create", &tag, "mlbench"])
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let id = String::from_utf8_lossy(&created.stdout).trim().to_string();
    let export = Command::new("sh")
        .arg("-c")
        .arg(format!("docker export {id} | tar -t"))
        .output()
        .unwrap();
    let _ = Command::new("docker").args(["rm", "-v", &id]).output();
    String::from_utf8_lossy(&export.stdout)
        .lines()
        .filter(|l| !l.ends_with('/'))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_static_binary_runs_a_job_in_its_own_one_file_image() {
    let Some(binary) = static_binary() else {
        return;
    };
    if !common::docker_available("the_static_binary_runs_a_job") {
        return;
    }
    let ldd = Command::new("ldd").arg(&binary).output().unwrap();
    let said = String::from_utf8_lossy(&ldd.stdout) + String::from_utf8_lossy(&ldd.stderr);
    assert!(
        said.contains("not a dynamic executable") || said.contains("statically linked"),
        "{} loads libraries: {said}",
        binary.display()
    );
    let s = Sandbox::new("docker");
    let usual = Path::new(env!("CARGO_BIN_EXE_mlbench"));
    // The usual build's image carries the C library it loads.
    run(&s, usual, &["images", "build-runtime", "--force"]);
    let with_libraries = runtime_image_files();
    assert!(
        with_libraries.iter().any(|f| f.contains("libc.so")),
        "{with_libraries:?}"
    );
    // The static build's image is the binary alone (and Docker's own mount points).
    run(&s, &binary, &["images", "build-runtime", "--force"]);
    let files = runtime_image_files();
    let ours: Vec<&String> = files
        .iter()
        .filter(|f| {
            !matches!(
                f.as_str(),
                ".dockerenv" | "etc/hostname" | "etc/hosts" | "etc/resolv.conf" | "etc/mtab"
            )
        })
        .filter(|f| !f.starts_with("dev/") && !f.starts_with("proc/") && !f.starts_with("sys/"))
        .collect();
    assert_eq!(ours, ["tmp/.keep", "usr/local/bin/mlbench"], "{files:?}");
    // That one file is the slim binary built beside the static mlbench, not mlbench itself.
    let sha256 = |path: &Path| {
        let out = Command::new("sha256sum").arg(path).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    let carried = Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            "{{index .Config.Labels \"mlbench.binary-sha256\"}}",
            &format!("mlbench/runtime:{}", env!("CARGO_PKG_VERSION")),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&carried.stdout).trim(),
        sha256(&binary.with_file_name("mlbench-job"))
    );
    assert_ne!(sha256(&binary), sha256(&binary.with_file_name("mlbench-job")));
    run(&s, &binary, &["project", "create", "p"]);
    let repo = s.folder("code", &[]);
    let ran = run(
        &s,
        &binary,
        &[
            "run",
            "--project",
            "p",
            "--repo",
            repo.to_str().unwrap(),
            "-f",
            "--",
            "mlbench",
            "--version",
        ],
    );
    assert_eq!(ran.trim(), run(&s, &binary, &["--version"]).trim());
}
