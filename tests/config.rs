//! The config file is checked whole when it is read, `[keys]` and `[colors]` included: every file
//! under tests/configs/valid parses, and every file under tests/configs/invalid is refused with
//! the one-line message its first line (`# error: …`) names, by the library and by a command
//! that does not open the workbench.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use mlbench_config::Config;

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/configs")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no {kind} fixtures");
    files
}

#[test]
fn valid_configs_parse() {
    for file in fixtures("valid") {
        let text = std::fs::read_to_string(&file).unwrap();
        if let Err(e) = Config::parse(&text) {
            panic!("{}: {e}", file.display());
        }
    }
}

#[test]
fn invalid_configs_are_refused_with_their_message() {
    let mut wrong = Vec::new();
    for file in fixtures("invalid") {
        let text = std::fs::read_to_string(&file).unwrap();
        let expected = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# error: "))
            .unwrap_or_else(|| panic!("{} has no `# error: ` first line", file.display()));
        match Config::parse(&text) {
            Ok(_) => wrong.push(format!("{}: accepted", file.display())),
            Err(e) if e.to_string() != expected => {
                wrong.push(format!("{}: said {:?}", file.display(), e.to_string()));
            }
            Err(_) => {}
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_command_refuses_a_bad_workbench_section_too() {
    let home = tempfile::tempdir().unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/invalid/bad_colour.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_mlbench"))
        .args(["jobs"])
        .env("MLBENCH_HOME", home.path())
        .env("MLBENCH_CONFIG", &config)
        .env("MLBENCH_RUNTIME", "local")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("colors.failed: \"blurple\" is not a colour"),
        "{stderr}"
    );
}
