//! Records the commit mlbench is built from, for `mlbench --version` and `doctor`.

use std::process::Command;

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    // Uncommitted changes to tracked files make the binary something no commit names.
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let described = match commit {
        Some(sha) if dirty => format!("{sha}-dirty"),
        Some(sha) => sha,
        // A source tarball has no history to ask.
        None => "unknown".to_string(),
    };
    println!("cargo:rustc-env=MLBENCH_COMMIT={described}");
    // A new commit or checkout moves HEAD or the ref it points at; the index moves with edits.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        for file in ["HEAD", "index"] {
            println!("cargo:rerun-if-changed={dir}/{file}");
        }
        if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{reference}");
        }
    }
    // An edit to a tracked file moves neither: the sources are watched for the dirty mark. Only
    // the binaries run this script, so an edit rebuilds the crates it touches, not every one.
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=crates");
    println!("cargo:rerun-if-changed=build.rs");
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
