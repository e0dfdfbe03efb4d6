//! The layers point one way. Between crates the compiler holds them (cargo refuses a cycle); this
//! test holds the order ARCHITECTURE.md draws, so a crate cannot lean sideways or up even where
//! that would compile, and the rules inside a crate the compiler cannot see: the engine's rooms
//! and the workbench's pure `update`. It also proves the slim binary inside containers carries no
//! workbench, Docker client, SQLite or charting code.

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Each crate of the workspace and its layer; a crate may depend only on lower ones.
const CRATES: &[(&str, u8)] = &[
    ("mlbench-domain", 0),
    ("mlbench-ml", 1),
    ("mlbench-plot", 1),
    ("mlbench-serve", 2),
    ("mlbench-store", 2),
    ("mlbench-runtime", 2),
    ("mlbench-config", 2),
    ("mlbench-job", 3),
    ("mlbench-engine", 3),
    ("mlbench-tui", 4),
    ("mlbench", 5),
];

/// The engine's rooms, lowest first: a room names only rooms below it (`disk`, `error` and the
/// crate root sit under all of them).
const ENGINE_ROOMS: &[&str] = &["engines", "projects", "jobs", "experiments", "serving", "upkeep"];

/// What the slim binary must not carry, and what proves the check can see a crate at all.
const NOT_IN_THE_SLIM_BINARY: &[&str] = &["ratatui", "crossterm", "bollard", "rusqlite", "plotters"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn layer(name: &str) -> u8 {
    CRATES.iter().find(|(n, _)| *n == name).map_or_else(
        || panic!("crate {name} has no layer in tests/layers.rs"),
        |(_, l)| *l,
    )
}

/// The workspace crates a manifest names under `[dependencies]` (not dev-dependencies: a test
/// may reach anything).
fn workspace_dependencies(manifest: &Path) -> Vec<String> {
    let table: toml::Table = std::fs::read_to_string(manifest).unwrap().parse().unwrap();
    table
        .get("dependencies")
        .and_then(toml::Value::as_table)
        .map(|deps| {
            deps.keys()
                .filter(|k| k.starts_with("mlbench-"))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn crates_depend_only_on_lower_layers() {
    let mut manifests = vec![("mlbench".to_string(), root().join("Cargo.toml"))];
    for entry in std::fs::read_dir(root().join("crates")).unwrap() {
        let dir = entry.unwrap().path();
        let name = format!("mlbench-{}", dir.file_name().unwrap().to_string_lossy());
        manifests.push((name, dir.join("Cargo.toml")));
    }
    let mut wrong = Vec::new();
    for (name, manifest) in &manifests {
        for dependency in workspace_dependencies(manifest) {
            if layer(&dependency) >= layer(name) {
                wrong.push(format!("{name} depends on {dependency}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "dependencies against the layers:\n{}",
        wrong.join("\n")
    );
    assert_eq!(manifests.len(), CRATES.len(), "a crate is missing from CRATES");
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level names a file reaches with `crate::name` or `crate::{a, b}`, outside comments.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (i, _) in line.match_indices("crate::") {
            let rest = &line[i + "crate::".len()..];
            let group = rest.strip_prefix('{').map(|g| g.split('}').next().unwrap_or(""));
            let words: Vec<&str> = match group {
                Some(group) => group.split(',').collect(),
                None => vec![rest],
            };
            for word in words {
                let name: String = word
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != "self" {
                    names.insert(name);
                }
            }
        }
    }
    names
}

/// Each file under `src` with the `crate::` names it reaches, by its top-level module.
fn uses_by_module(src: &Path) -> Vec<(String, String, BTreeSet<String>)> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files
        .into_iter()
        .map(|file| {
            let relative = file.strip_prefix(src).unwrap();
            let top = relative
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            let names = crate_paths(&std::fs::read_to_string(&file).unwrap());
            (top, relative.display().to_string(), names)
        })
        .collect()
}

#[test]
fn the_engines_rooms_use_only_lower_rooms() {
    let rank = |name: &str| ENGINE_ROOMS.iter().position(|r| *r == name);
    let mut wrong = Vec::new();
    for (room, file, names) in uses_by_module(&root().join("crates/engine/src")) {
        let Some(own) = rank(&room) else { continue };
        for name in names.iter().filter(|n| **n != room) {
            if rank(name).is_some_and(|other| other > own) {
                wrong.push(format!("{file} uses crate::{name}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "rooms used against their order:\n{}",
        wrong.join("\n")
    );
}

/// The workbench's `update` is pure (ARCHITECTURE.md): its state knows nothing of drawing or of
/// the worker that does I/O, and drawing never runs an effect.
#[test]
fn the_workbenchs_state_neither_draws_nor_does_io() {
    let forbidden: &[(&str, &[&str])] = &[("app", &["ui", "worker", "terminal"]), ("ui", &["worker"])];
    let mut wrong = Vec::new();
    for (module, file, names) in uses_by_module(&root().join("crates/tui/src")) {
        for (owner, never) in forbidden {
            if module == *owner {
                for name in names.iter().filter(|n| never.contains(&n.as_str())) {
                    wrong.push(format!("{file} uses crate::{name}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "the workbench's layers:\n{}", wrong.join("\n"));
}

/// rustc compiles an async fn's body in the crate that awaits it: a crate's public async entry
/// points return a boxed future made at home, or every edit of the workbench would compile the
/// engine's async code (and bollard's, hyper's and axum's) again.
#[test]
fn no_crate_exports_an_async_fn() {
    let mut files = Vec::new();
    rust_files(&root().join("crates"), &mut files);
    let exported: Vec<String> = files
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            let relative = file.strip_prefix(root()).unwrap().display().to_string();
            text.lines()
                .enumerate()
                .filter(|(_, line)| line.trim_start().starts_with("pub async fn"))
                .map(|(i, line)| format!("{relative}:{}: {}", i + 1, line.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        exported.is_empty(),
        "return a LocalBoxFuture instead:\n{}",
        exported.join("\n")
    );
}

#[test]
fn paths_are_read_from_single_uses_and_groups() {
    let names = crate_paths(
        "use crate::{Error, Result, jobs};\n// crate::upkeep\nlet x = crate::experiments::fit::Fit::load();",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["Error", "Result", "experiments", "jobs"]
    );
}

/// `cargo tree` of the slim binary's crate: no workbench, Docker, SQLite or charting crate, even
/// deep down.
#[test]
fn the_slim_binarys_crate_depends_on_no_workbench_crate() {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            "mlbench-job",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8_lossy(&out.stdout);
    let names: BTreeSet<&str> = tree.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(names.contains("linfa") && names.contains("axum"), "{names:?}");
    let carried: Vec<&&str> = NOT_IN_THE_SLIM_BINARY
        .iter()
        .filter(|c| names.contains(**c))
        .collect();
    assert!(carried.is_empty(), "mlbench-job depends on {carried:?}");
}

/// The built binaries themselves: every crate leaves its name in the binary (its symbols and the
/// source paths of its panics), so the full `mlbench` shows each of them and `mlbench-job` none.
#[test]
fn the_slim_binary_links_none_of_them() {
    let contains =
        |haystack: &[u8], needle: &str| haystack.windows(needle.len()).any(|w| w == needle.as_bytes());
    let full = std::fs::read(env!("CARGO_BIN_EXE_mlbench")).unwrap();
    let slim = std::fs::read(env!("CARGO_BIN_EXE_mlbench-job")).unwrap();
    for name in NOT_IN_THE_SLIM_BINARY {
        assert!(
            contains(&full, name),
            "the check cannot see {name} even in mlbench"
        );
        assert!(!contains(&slim, name), "mlbench-job carries {name}");
    }
    for name in ["linfa", "axum"] {
        assert!(
            contains(&slim, name),
            "the check cannot see {name} in mlbench-job"
        );
    }
    assert!(
        slim.len() * 2 < full.len(),
        "mlbench-job is {} bytes, mlbench {}",
        slim.len(),
        full.len()
    );
}
