//! What the benches that follow a job share: the time to a child's first line, a median, the
//! rounds printed, waiting for a log file's last line, and counting lines as they come.
#![allow(dead_code)] // each bench uses its own part
#![allow(unreachable_pub)] // a bench has no API: `pub` shares a helper between its modules

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// Reads `child`'s stdout until its first line; the time since `started`.
pub fn first_line(child: &mut Child, started: Instant) -> Duration {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("read");
    assert!(!line.is_empty(), "printed nothing");
    started.elapsed()
}

pub fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// Whether `line` is among the last 64 KiB of the file at `path` (false while there is no file).
pub fn file_ends_with_line(path: &Path, line: &str) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(len.saturating_sub(1 << 16))).unwrap();
    file.read_to_end(&mut tail).unwrap();
    tail.windows(line.len()).any(|w| w == line.as_bytes())
}

/// Prints every round's time of both sides, in ms, before their medians are taken.
pub fn print_rounds(ours: &[Duration], theirs: &[Duration]) {
    let ms = |values: &[Duration]| {
        let each: Vec<String> = values
            .iter()
            .map(|d| format!("{:.0}", d.as_secs_f64() * 1e3))
            .collect();
        each.join(" ")
    };
    println!("    rounds, mlbench ms: {}; docker ms: {}", ms(ours), ms(theirs));
}

/// Waits until mlbench's log file at `path` holds stdout line `last` (its last one).
pub fn wait_for_log_line(path: &Path, last: u64) {
    let line = format!(" o {last}\n");
    while !file_ends_with_line(path, &line) {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Checks that mlbench's log file at `path` holds `lines` stdout lines, none lost or doubled.
pub fn assert_log_holds(path: &Path, lines: u64) {
    let log = std::fs::read_to_string(path).unwrap();
    let written = log
        .lines()
        .filter(|l| l.as_bytes().get(31) == Some(&b'o'))
        .count() as u64;
    assert_eq!(written, lines, "the log file lost or doubled lines");
}

/// Reads lines from `output` until `lines` of them came (or it ends); how many came.
pub fn count_lines(output: impl Read, lines: u64) -> u64 {
    let mut reader = BufReader::with_capacity(1 << 16, output);
    let (mut counted, mut buf) = (0u64, Vec::new());
    while counted < lines && reader.read_until(b'\n', &mut buf).unwrap() > 0 {
        counted += 1;
        buf.clear();
    }
    counted
}
