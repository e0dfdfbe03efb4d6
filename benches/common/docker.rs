//! What the Docker benches share: running a command that must succeed, and the busybox image
//! they run, built without a registry (`FROM scratch` plus Debian's static busybox).
#![allow(dead_code)] // each bench uses its own part
#![allow(unreachable_pub)] // a bench has no API: `pub` shares a helper between its modules

use std::path::Path;
use std::process::Command;

pub const IMAGE: &str = "mlbench-bench/busybox:1";

/// Runs `cmd` and insists that it succeeds; returns its stdout.
pub fn check(cmd: &mut Command) -> String {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds [`IMAGE`] from a context made in `dir`, with `mlbench` (a command already set to run
/// mlbench in some home).
pub fn build_busybox_image(dir: &Path, mut mlbench: Command) {
    let context = dir.join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::copy("/bin/busybox", context.join("busybox"))
        .expect("/bin/busybox (apt-get install busybox-static)");
    std::fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    )
    .unwrap();
    check(mlbench.args([
        "images",
        "build",
        "--repo",
        context.to_str().unwrap(),
        "-t",
        IMAGE,
    ]));
}
