//! What the swarm and engine labs ask of this machine before they start: root, their tools,
//! and no lab of theirs up already.
#![allow(unreachable_pub)] // a test binary has no API: `pub` shares the checks between its modules

use std::process::Command;

/// True when this process is root and every one of `tools` is there (a name on the PATH, or a
/// path). Otherwise: under CI=true `what` fails, elsewhere it prints a notice and gives false
/// (the caller skips).
pub fn can_run(what: &str, lab: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if missing.is_empty() && root {
        return true;
    }
    let why = if root {
        format!("missing {}", missing.join(", "))
    } else {
        "not root".to_string()
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what}: the {lab} cannot run ({why}), and CI=true needs it"
    );
    eprintln!("skipped {what}: the {lab} cannot run here ({why})");
    false
}

/// Fails when the network namespace `hub` exists: a lab is up already, and `script down` ends it
/// (each test brings its own).
pub fn refuse_one_up(hub: &str, script: &str) {
    let namespaces = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&namespaces.stdout)
            .split_whitespace()
            .any(|name| name == hub),
        "a lab is up already: `{script} down` first (this brings its own)"
    );
}
