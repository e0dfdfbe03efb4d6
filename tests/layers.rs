//! The layers point one way: domain (no I/O) ← store, runtime ← engine ← cli, tui, serve.
//! Every `crate::` path in a top-level module must name a module of a lower layer, so no two
//! modules can depend on each other (ARCHITECTURE.md draws the same picture).

// A test harness: a failed unwrap is a failed run, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each top-level module (or crate-root item) and its layer; a module may use only lower ones.
const LAYERS: &[(&str, u8)] = &[
    ("error", 0),
    ("timefmt", 0),
    ("numfmt", 0),
    ("keymap", 0),
    ("VERSION", 0), // the root's version line, built from Cargo.toml and the commit
    ("domain", 1),
    ("home", 1),
    ("ml", 1),
    ("plot", 1),
    ("config", 2),
    ("workspace", 2),
    ("store", 2),
    ("runtime", 2),
    ("engine", 3),
    ("serve", 4),
    ("tui", 4),
    ("cli", 5),
    ("fuzzing", 5),
];

/// The module a crate-root item comes from.
fn module_of(name: &str) -> &str {
    match name {
        "Error" | "Result" => "error",
        "with_runtime" => "engine", // a macro exported at the root
        other => other,
    }
}

fn layer(name: &str) -> Option<u8> {
    LAYERS.iter().find(|(n, _)| *n == name).map(|(_, l)| *l)
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

#[test]
fn modules_use_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let own = layer(&top).unwrap_or_else(|| panic!("module {top} has no layer in tests/layers.rs"));
        for name in crate_paths(&std::fs::read_to_string(&file).unwrap()) {
            let name = module_of(&name);
            if name == top {
                continue;
            }
            match layer(name) {
                Some(l) if l < own => {}
                Some(_) => wrong.push(format!("{} uses crate::{name}", relative.display())),
                None => wrong.push(format!(
                    "{} uses crate::{name}, which has no layer",
                    relative.display()
                )),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn paths_are_read_from_single_uses_and_groups() {
    let names = crate_paths(
        "use crate::{Error, Result, workspace};\n// crate::cli\nlet x = crate::engine::fit::Fit::load();",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["Error", "Result", "engine", "workspace"]
    );
}
