//! A job's log file, the source of truth for its output. One record a line:
//! `<timestamp> <stream> <text>`, where the timestamp is RFC 3339 UTC with nine fraction digits
//! (fixed width, so records compare as strings) and the stream is `o` (stdout), `e` (stderr)
//! or `m` (mlbench's own notes, such as image build output).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::domain::output::{OutputSink, ResumePoint, Stream, TS_LEN, now_ts};

#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub ts: &'a str,
    pub stream: Stream,
    pub text: &'a [u8],
}

/// Splits one line of the file (without its newline) into its parts.
pub fn parse_record(line: &[u8]) -> Option<Record<'_>> {
    if line.len() < TS_LEN + 2 || line[TS_LEN] != b' ' {
        return None;
    }
    let ts = std::str::from_utf8(&line[..TS_LEN]).ok()?;
    let stream = Stream::from_marker(line[TS_LEN + 1])?;
    let text = line.get(TS_LEN + 3..).unwrap_or(&[]);
    Some(Record { ts, stream, text })
}

impl OutputSink for LogWriter {
    fn line(&mut self, ts: &[u8], stream: Stream, text: &[u8]) -> io::Result<()> {
        self.write(ts, stream, text)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

pub struct LogWriter {
    out: BufWriter<File>,
}

impl LogWriter {
    pub fn open(path: &Path) -> io::Result<LogWriter> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(LogWriter {
            out: BufWriter::with_capacity(1 << 16, file),
        })
    }

    pub fn write(&mut self, ts: &[u8], stream: Stream, text: &[u8]) -> io::Result<()> {
        self.out.write_all(ts)?;
        self.out.write_all(&[b' ', stream.marker(), b' '])?;
        // A record is one line: a stray carriage return or newline inside it would split it.
        self.out.write_all(text)?;
        self.out.write_all(b"\n")
    }

    pub fn note(&mut self, text: &str) -> io::Result<()> {
        for line in text.lines() {
            self.write(now_ts().as_bytes(), Stream::Note, line.as_bytes())?;
        }
        self.out.flush()
    }
}

/// How far before the last line on disk a resume asks from: more than any cross-stream skew.
const RESUME_MARGIN_SECS: i64 = 5;

/// Cuts off a half-written last line (the writer died mid-line; the line will come again) and
/// finds the resume point by reading the file backwards.
pub fn prepare_resume(path: &Path) -> io::Result<Option<ResumePoint>> {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let complete = offset_of_last_lines(path, 0)?;
    file.set_len(complete)?;
    let mut resume: Option<(String, ResumePoint)> = None;
    super::logscan::each_line_backwards(&mut file, complete, |_, line| {
        let Some(record) = parse_record(line).filter(|r| r.stream != Stream::Note) else {
            return true;
        };
        let (since, point) = resume.get_or_insert_with(|| {
            let since_secs = unix_secs(record.ts).unwrap_or(0) - RESUME_MARGIN_SECS;
            (
                ts_of_secs(since_secs),
                ResumePoint {
                    since_secs,
                    seen: [0, 0],
                },
            )
        });
        if record.ts >= since.as_str() {
            point.seen[usize::from(record.stream == Stream::Stderr)] += 1;
            return true;
        }
        // Well before the resume second, skew cannot reach: stop reading.
        record.ts >= ts_of_secs(point.since_secs - RESUME_MARGIN_SECS).as_str()
    })?;
    Ok(resume.map(|(_, point)| point))
}

/// The file's form of a whole second.
fn ts_of_secs(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map_or_else(String::new, |t| t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string())
}

fn unix_secs(ts: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.timestamp())
}

/// Reads records that have been completely written, from a byte offset on; the caller keeps
/// the offset to read on from later (tailing).
pub struct LogTail {
    file: File,
    offset: u64,
    partial: Vec<u8>,
}

impl LogTail {
    pub fn open(path: &Path, offset: u64) -> io::Result<LogTail> {
        Ok(LogTail {
            file: File::open(path)?,
            offset,
            partial: Vec::new(),
        })
    }

    /// How far the file has been read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Calls `each` for every complete line written since the last call, with where it starts.
    pub fn read_new(&mut self, mut each: impl FnMut(u64, &[u8]) -> io::Result<()>) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(self.offset))?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = self.file.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            // Where the first line of this read starts: before the part held over.
            let mut line_start = self.offset - self.partial.len() as u64;
            self.offset += n as u64;
            let mut data = &buf[..n];
            while let Some(nl) = memchr::memchr(b'\n', data) {
                if self.partial.is_empty() {
                    each(line_start, &data[..nl])?;
                    line_start += nl as u64 + 1;
                } else {
                    self.partial.extend_from_slice(&data[..nl]);
                    let line = std::mem::take(&mut self.partial);
                    each(line_start, &line)?;
                    line_start += line.len() as u64 + 1;
                }
                data = &data[nl + 1..];
            }
            self.partial.extend_from_slice(data);
        }
    }
}

/// The byte offset where the last `n` lines of the file begin.
pub fn offset_of_last_lines(path: &Path, n: usize) -> io::Result<u64> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut pos = len;
    let mut newlines = 0usize;
    let mut chunk = vec![0u8; 1 << 16];
    // The file ends with a newline; the (n+1)-th newline from the end precedes the n-th line.
    while pos > 0 {
        let step = (chunk.len() as u64).min(pos);
        pos -= step;
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut chunk[..step as usize])?;
        for (i, b) in chunk[..step as usize].iter().enumerate().rev() {
            if *b == b'\n' {
                newlines += 1;
                if newlines == n + 1 {
                    return Ok(pos + i as u64 + 1);
                }
            }
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::output::{ResumeFilter, normalize_docker_ts};

    fn ts(s: &str) -> [u8; TS_LEN] {
        normalize_docker_ts(s.as_bytes()).unwrap()
    }

    #[test]
    fn docker_times_become_fixed_width() {
        assert_eq!(&ts("2026-11-23T12:00:01.5Z"), b"2026-11-23T12:00:01.500000000Z");
        assert_eq!(&ts("2026-11-23T12:00:01Z"), b"2026-11-23T12:00:01.000000000Z");
        assert_eq!(
            &ts("2026-11-23T12:00:01.123456789Z"),
            b"2026-11-23T12:00:01.123456789Z"
        );
        assert!(normalize_docker_ts(b"2026-11-23T12:00:01.1234567891Z").is_none());
        assert!(normalize_docker_ts(b"garbage").is_none());
    }

    #[test]
    fn records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = LogWriter::open(&path).unwrap();
        w.write(&ts("2026-11-23T12:00:01Z"), Stream::Stderr, b"oops")
            .unwrap();
        w.write(&ts("2026-11-23T12:00:02Z"), Stream::Stdout, b"").unwrap();
        w.flush().unwrap();
        let mut seen = Vec::new();
        LogTail::open(&path, 0)
            .unwrap()
            .read_new(|_, line| {
                let r = parse_record(line).unwrap();
                seen.push((r.stream, String::from_utf8_lossy(r.text).to_string()));
                Ok(())
            })
            .unwrap();
        assert_eq!(
            seen,
            vec![
                (Stream::Stderr, "oops".to_string()),
                (Stream::Stdout, String::new())
            ]
        );
    }

    #[test]
    fn resume_trims_a_torn_line_and_counts_each_streams_recent_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = LogWriter::open(&path).unwrap();
        // Enough old lines to cross the 64 KiB read chunk; they are before the margin.
        for i in 0..5000 {
            let t = ts(&format!("2026-11-23T12:00:{:02}.{:03}Z", i / 1000, i % 1000));
            w.write(&t, Stream::Stdout, b"x-padding-padding").unwrap();
        }
        // Within the margin (from 12:00:15), slightly out of order across the streams.
        w.write(&ts("2026-11-23T12:00:16Z"), Stream::Stdout, b"a")
            .unwrap();
        w.write(&ts("2026-11-23T12:00:19.5Z"), Stream::Stderr, b"b")
            .unwrap();
        w.write(&ts("2026-11-23T12:00:19.4Z"), Stream::Stdout, b"c")
            .unwrap();
        w.write(&ts("2026-11-23T12:00:20Z"), Stream::Note, b"note")
            .unwrap();
        w.flush().unwrap();
        drop(w);
        let full = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"2026-11-23T12:00:21.0")
            .unwrap();
        let point = prepare_resume(&path).unwrap().unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            full,
            "torn line left in place"
        );
        assert_eq!(point.since_secs, unix_secs("2026-11-23T12:00:14Z").unwrap());
        assert_eq!(point.seen, [2, 1]);
        let mut filter = ResumeFilter::new(Some(&point));
        assert!(!filter.is_new(Stream::Stderr));
        assert!(filter.is_new(Stream::Stderr));
        assert!(!filter.is_new(Stream::Stdout));
        assert!(!filter.is_new(Stream::Stdout));
        assert!(filter.is_new(Stream::Stdout));
    }

    #[test]
    fn resume_of_a_missing_or_note_only_log_starts_at_the_beginning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        assert_eq!(prepare_resume(&path).unwrap(), None);
        LogWriter::open(&path).unwrap().note("building image").unwrap();
        assert_eq!(prepare_resume(&path).unwrap(), None);
    }

    #[test]
    fn last_lines_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "a\nbb\nccc\n").unwrap();
        assert_eq!(offset_of_last_lines(&path, 1).unwrap(), 5);
        assert_eq!(offset_of_last_lines(&path, 2).unwrap(), 2);
        assert_eq!(offset_of_last_lines(&path, 10).unwrap(), 0);
    }
}
