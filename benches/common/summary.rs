//! The one summary table a `cargo bench` run ends with. Each bench adds its figures to a file
//! of its run (named after cargo's process id, the parent of every bench of one run) and
//! prints the table of every figure the run has so far: the last bench prints the whole run's.
#![allow(unreachable_pub)] // a bench has no API: `pub` shares the summary between its modules

use std::io::Write;
use std::path::PathBuf;

/// What a figure must reach, as a ratio to its baseline.
#[derive(Clone, Copy)]
#[allow(dead_code)] // each bench sets the goals it has
pub enum Goal {
    AtLeast(f64),
    AtMost(f64),
}

pub struct Figure {
    pub name: String,
    pub value: String,
    pub baseline: String,
    pub ratio: f64,
    pub goal: Goal,
}

impl Figure {
    pub fn new(name: &str, value: String, baseline: String, ratio: f64, goal: Goal) -> Figure {
        Figure {
            name: name.to_string(),
            value,
            baseline,
            ratio,
            goal,
        }
    }
}

fn run_file() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-summary");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("run-{}.tsv", std::os::unix::process::parent_id()))
}

/// Adds `bench`'s figures to its run's file and prints the run's table.
pub fn record(bench: &str, figures: &[Figure]) {
    let file = run_file();
    // Files of earlier runs are of no use to this one.
    if let Ok(entries) = std::fs::read_dir(file.parent().unwrap()) {
        for entry in entries.flatten() {
            if entry.path() != file {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .unwrap();
    for f in figures {
        let (goal, met) = match f.goal {
            Goal::AtLeast(g) => (format!(">= {g}"), f.ratio >= g),
            Goal::AtMost(g) => (format!("<= {g}"), f.ratio <= g),
        };
        let met = if met { "yes" } else { "NO" };
        let ratio = if f.ratio >= 10.0 {
            format!("{:.1}", f.ratio)
        } else {
            format!("{:.3}", f.ratio)
        };
        writeln!(
            out,
            "{bench}\t{}\t{}\t{}\t{ratio}\t{goal}\t{met}",
            f.name, f.value, f.baseline
        )
        .unwrap();
    }
    drop(out);
    print_table(&std::fs::read_to_string(&file).unwrap());
}

fn print_table(text: &str) {
    let header = ["bench", "figure", "mlbench", "baseline", "ratio", "goal", "met"];
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("| {} |", padded.join(" | "))
    };
    println!("\nsummary of this cargo bench run so far:");
    println!("{}", line(&header));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    println!("|-{}-|", rule.join("-|-"));
    for row in &rows {
        println!("{}", line(row));
    }
}
