//! What the benches that follow a job share: the time to a child's first line, a median, and
//! whether a log file has reached its last line.
#![allow(dead_code)] // each bench uses its own part
#![allow(unreachable_pub)] // a bench has no API: `pub` shares a helper between its modules

use std::io::{BufRead, BufReader};
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
