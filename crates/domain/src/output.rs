//! The vocabulary of a job's output, shared by the runtimes that produce it and the log file
//! that keeps it: streams, timestamps in the file's fixed-width form, where output goes, and
//! where a resumed follow starts. Plain data and rules: no I/O.

use std::io;

pub const TS_LEN: usize = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
    Note,
}

impl Stream {
    pub fn marker(self) -> u8 {
        match self {
            Stream::Stdout => b'o',
            Stream::Stderr => b'e',
            Stream::Note => b'm',
        }
    }

    pub fn from_marker(marker: u8) -> Option<Stream> {
        match marker {
            b'o' => Some(Stream::Stdout),
            b'e' => Some(Stream::Stderr),
            b'm' => Some(Stream::Note),
            _ => None,
        }
    }
}

pub fn now_ts() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

/// Turns Docker's RFC3339Nano time (trailing fraction zeros trimmed, always UTC) into the
/// fixed-width form of the file.
pub fn normalize_docker_ts(raw: &[u8]) -> Option<[u8; TS_LEN]> {
    let body = raw.strip_suffix(b"Z")?;
    if body.len() < 19 || body[10] != b'T' {
        return None;
    }
    let (secs, fraction) = body.split_at(19);
    let digits = match fraction {
        [] => &[][..],
        [b'.', digits @ ..] if digits.len() <= 9 && digits.iter().all(u8::is_ascii_digit) => digits,
        _ => return None,
    };
    let mut out = *b"0000-00-00T00:00:00.000000000Z";
    out[..19].copy_from_slice(secs);
    out[20..20 + digits.len()].copy_from_slice(digits);
    Some(out)
}

/// Where a follower puts each output line: the log file, and whatever reads along with it.
pub trait OutputSink {
    fn line(&mut self, ts: &[u8], stream: Stream, text: &[u8]) -> io::Result<()>;
    /// Called when the source has nothing more ready: written lines must reach their target.
    fn flush(&mut self) -> io::Result<()>;
    /// Where a cluster put the job, or why it has not yet; a single engine never says.
    fn placement(&mut self, _news: Placement<'_>) -> io::Result<()> {
        Ok(())
    }
}

/// News from a cluster's scheduler about a job's task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement<'a> {
    /// No node takes it yet, and the scheduler's reason.
    Waiting(&'a str),
    /// It was given to this node (its name and address).
    OnNode { name: &'a str, address: &'a str },
}

/// Where a resumed follow starts: after as many lines of each stream as the log file holds.
/// Counting lines is exact however the two streams interleave and whoever stamped them (a
/// live follow stamps lines as they arrive, Docker's log stamps them as they were written),
/// at the price of Docker sending its whole copy of the log again on a resume. Docker keeps up
/// to 2 GB of it (see the runtime's log options); a resume past that is noticed (`last`) and
/// said, not hidden.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResumePoint {
    /// Lines of (stdout, stderr) in the file.
    pub seen: [usize; 2],
    /// The text of each stream's last line in the file.
    pub last: [Vec<u8>; 2],
}

/// Drops the lines a resumed follow already has: per stream, the first `seen` lines the
/// runtime sends again, checking that the last of them is the file's last.
pub struct ResumeFilter {
    skip: [usize; 2],
    last: [Vec<u8>; 2],
    mismatched: bool,
}

impl ResumeFilter {
    pub fn new(point: Option<&ResumePoint>) -> ResumeFilter {
        let point = point.cloned().unwrap_or_default();
        ResumeFilter {
            skip: point.seen,
            last: point.last,
            mismatched: false,
        }
    }

    pub fn is_new(&mut self, stream: Stream, text: &[u8]) -> bool {
        let slot = usize::from(stream == Stream::Stderr);
        match self.skip[slot] {
            0 => true,
            left => {
                self.skip[slot] = left - 1;
                if left == 1 && text != self.last[slot].as_slice() {
                    self.mismatched = true;
                }
                false
            }
        }
    }

    /// At the end of the runtime's stream: whether its copy of the log did not line up with
    /// the file (it lost its start, rotated away, or holds fewer lines), so lines around the
    /// resume may be missing or repeated.
    pub fn mismatched(&self) -> bool {
        self.mismatched || self.skip != [0, 0]
    }
}
