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
}

/// Where a resumed follow starts. Docker stamps each stream's lines in order, but the two
/// streams are written to its log by two copiers, so across streams the order can be off by a
/// little. A resume therefore asks for everything since a whole second a margin before the
/// last line on disk, and skips, per stream, as many lines as the file already holds from
/// that second on: exact whatever the interleaving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumePoint {
    /// Unix seconds to ask Docker for lines since.
    pub since_secs: i64,
    /// Lines of (stdout, stderr) on disk stamped at or after `since_secs`.
    pub seen: [usize; 2],
}

/// Drops the lines a resumed follow already has: per stream, the first `seen` lines Docker
/// sends again.
pub struct ResumeFilter {
    skip: [usize; 2],
}

impl ResumeFilter {
    pub fn new(point: Option<&ResumePoint>) -> ResumeFilter {
        ResumeFilter {
            skip: point.map_or([0, 0], |p| p.seen),
        }
    }

    pub fn is_new(&mut self, stream: Stream) -> bool {
        let slot = &mut self.skip[usize::from(stream == Stream::Stderr)];
        if *slot > 0 {
            *slot -= 1;
            false
        } else {
            true
        }
    }
}
