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

/// The longest line a log keeps in one record unless the config says otherwise: a longer one
/// is written in pieces of this size, so no reader or writer ever holds a line whole.
pub const DEFAULT_MAX_LINE: usize = 1 << 20;

/// Where a follower puts each output line: the log file, and whatever reads along with it.
pub trait OutputSink {
    fn line(&mut self, ts: &[u8], stream: Stream, text: &[u8]) -> io::Result<()>;
    /// A piece of a line longer than [`OutputSink::max_line`]: the line goes on in the next
    /// record of its stream.
    fn cut(&mut self, ts: &[u8], stream: Stream, text: &[u8]) -> io::Result<()>;
    /// The longest line kept in one record.
    fn max_line(&self) -> usize {
        DEFAULT_MAX_LINE
    }
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

/// What part of a line a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    /// All of it.
    Whole,
    /// The first piece of a line longer than the cap.
    First,
    /// A piece after the first, with more to come.
    Middle,
    /// The rest of a line that was cut.
    Last,
}

impl Piece {
    /// Whether the line goes on in the stream's next record.
    pub fn is_cut(self) -> bool {
        matches!(self, Piece::First | Piece::Middle)
    }
}

/// One stream's unfinished line, held until its newline comes, but never more than a record's
/// worth: what passes the cap goes out at once as cut pieces.
#[derive(Debug, Default)]
pub struct HeldLine {
    held: Vec<u8>,
    /// Pieces of this line already cut off.
    cut: bool,
}

impl HeldLine {
    /// Adds bytes from the middle of the line; each `max` bytes past what fits go to `emit`.
    pub fn add(
        &mut self,
        mut bytes: &[u8],
        max: usize,
        emit: &mut impl FnMut(&[u8], Piece) -> io::Result<()>,
    ) -> io::Result<()> {
        let max = max.max(1);
        while self.held.len() + bytes.len() > max {
            let room = max - self.held.len();
            let piece = if self.cut { Piece::Middle } else { Piece::First };
            if self.held.is_empty() {
                emit(&bytes[..room], piece)?;
            } else {
                self.held.extend_from_slice(&bytes[..room]);
                emit(&self.held, piece)?;
                self.held.clear();
            }
            self.cut = true;
            bytes = &bytes[room..];
        }
        self.held.extend_from_slice(bytes);
        Ok(())
    }

    /// Ends the line with `last`: cut pieces as in [`HeldLine::add`], then the rest as
    /// [`Piece::Last`] (or the line as [`Piece::Whole`]).
    pub fn end(
        &mut self,
        last: &[u8],
        max: usize,
        emit: &mut impl FnMut(&[u8], Piece) -> io::Result<()>,
    ) -> io::Result<()> {
        // The common case: a whole line in one read, passed on without a copy.
        if self.held.is_empty() && !self.cut && last.len() <= max {
            return emit(last, Piece::Whole);
        }
        self.add(last, max, emit)?;
        let piece = if std::mem::take(&mut self.cut) {
            Piece::Last
        } else {
            Piece::Whole
        };
        let ended = emit(&self.held, piece);
        self.held.clear();
        ended
    }

    /// Whether part of a line is held or was cut off (the stream ended inside a line).
    pub fn is_open(&self) -> bool {
        !self.held.is_empty() || self.cut
    }
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
    /// The text of each stream's last line in the file (of a cut line, its first piece).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_line_never_grows_past_its_cap() {
        let mut held = HeldLine::default();
        let mut out: Vec<(String, Piece)> = Vec::new();
        let mut emit = |text: &[u8], piece: Piece| {
            out.push((String::from_utf8_lossy(text).into_owned(), piece));
            Ok(())
        };
        held.add(b"abc", 4, &mut emit).unwrap();
        held.add(b"defghij", 4, &mut emit).unwrap();
        assert!(held.held.len() <= 4);
        held.end(b"kl", 4, &mut emit).unwrap();
        held.end(b"short", 8, &mut emit).unwrap();
        held.end(b"exactly8", 8, &mut emit).unwrap();
        let expected = [
            ("abcd", Piece::First),
            ("efgh", Piece::Middle),
            ("ijkl", Piece::Last),
            ("short", Piece::Whole),
            ("exactly8", Piece::Whole),
        ];
        let got: Vec<(&str, Piece)> = out.iter().map(|(t, p)| (t.as_str(), *p)).collect();
        assert_eq!(got, expected);
        assert!(!held.is_open());
    }
}
