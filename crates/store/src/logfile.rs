//! A job's log file, the source of truth for its output. One record a line:
//! `<timestamp> <stream> <text>`, where the timestamp is RFC 3339 UTC with nine fraction digits
//! (fixed width, so records compare as strings) and the stream is `o` (stdout), `e` (stderr)
//! or `m` (mlbench's own notes, such as image build output). A line longer than the log's cap
//! is written in pieces: each but the last has its stream in capitals (`O`, `E`), "cut: the
//! line goes on in the next record of this stream".

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use mlbench_domain::output::{DEFAULT_MAX_LINE, OutputSink, ResumePoint, Stream, TS_LEN, now_ts};

#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub ts: &'a str,
    pub stream: Stream,
    pub text: &'a [u8],
    /// A piece of a longer line, which goes on in the stream's next record.
    pub cut: bool,
}

/// Splits one line of the file (without its newline) into its parts.
pub fn parse_record(line: &[u8]) -> Option<Record<'_>> {
    if line.len() < TS_LEN + 2 || line[TS_LEN] != b' ' {
        return None;
    }
    let ts = std::str::from_utf8(&line[..TS_LEN]).ok()?;
    let marker = line[TS_LEN + 1];
    let cut = matches!(marker, b'O' | b'E');
    let stream = Stream::from_marker(marker.to_ascii_lowercase())?;
    let text = line.get(TS_LEN + 3..).unwrap_or(&[]);
    Some(Record {
        ts,
        stream,
        text,
        cut,
    })
}

impl OutputSink for LogWriter {
    fn line(&mut self, ts: &[u8], stream: Stream, text: &[u8]) -> io::Result<()> {
        self.write(ts, stream.marker(), text)
    }

    fn cut(&mut self, ts: &[u8], stream: Stream, text: &[u8]) -> io::Result<()> {
        self.write(ts, stream.marker().to_ascii_uppercase(), text)
    }

    fn max_line(&self) -> usize {
        self.max_line
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

pub struct LogWriter {
    out: BufWriter<File>,
    max_line: usize,
}

impl LogWriter {
    pub fn open(path: &Path) -> io::Result<LogWriter> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(LogWriter {
            out: BufWriter::with_capacity(1 << 16, file),
            max_line: DEFAULT_MAX_LINE,
        })
    }

    /// Lines longer than `bytes` are written in pieces.
    pub fn with_max_line(mut self, bytes: usize) -> LogWriter {
        self.max_line = bytes.max(1);
        self
    }

    fn write(&mut self, ts: &[u8], marker: u8, text: &[u8]) -> io::Result<()> {
        self.out.write_all(ts)?;
        self.out.write_all(&[b' ', marker, b' '])?;
        // A record is one line: a stray carriage return or newline inside it would split it.
        self.out.write_all(text)?;
        self.out.write_all(b"\n")
    }

    pub fn note(&mut self, text: &str) -> io::Result<()> {
        for line in text.lines() {
            self.write(now_ts().as_bytes(), Stream::Note.marker(), line.as_bytes())?;
        }
        self.out.flush()
    }
}

/// Cuts off a half-written last line (the writer died mid-line; the line will come again) and
/// counts each stream's lines, keeping its last one.
pub fn prepare_resume(path: &Path) -> io::Result<Option<ResumePoint>> {
    let file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let complete = offset_of_last_lines(path, 0)?;
    file.set_len(complete)?;
    let mut point = ResumePoint::default();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    // Per stream: inside a cut line, whose first piece is what a resume compares.
    let mut cut_line: [Option<Vec<u8>>; 2] = [None, None];
    while reader.read_until(b'\n', &mut line)? > 0 {
        let whole = line.strip_suffix(b"\n").unwrap_or(&line);
        if let Some(record) = parse_record(whole).filter(|r| r.stream != Stream::Note) {
            let slot = usize::from(record.stream == Stream::Stderr);
            if record.cut {
                cut_line[slot].get_or_insert_with(|| record.text.to_vec());
            } else {
                point.seen[slot] += 1;
                point.last[slot] = cut_line[slot].take().unwrap_or_else(|| record.text.to_vec());
            }
        }
        line.clear();
    }
    Ok((point.seen != [0, 0]).then_some(point))
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
    use mlbench_domain::output::{ResumeFilter, normalize_docker_ts};

    fn ts(s: &str) -> [u8; TS_LEN] {
        normalize_docker_ts(s.as_bytes()).unwrap()
    }

    #[test]
    fn a_cut_line_counts_once_for_a_resume_and_is_known_by_its_first_piece() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = LogWriter::open(&path).unwrap().with_max_line(4);
        w.line(&ts("2026-11-23T12:00:01Z"), Stream::Stdout, b"one")
            .unwrap();
        w.cut(&ts("2026-11-23T12:00:02Z"), Stream::Stdout, b"abcd")
            .unwrap();
        w.cut(&ts("2026-11-23T12:00:02Z"), Stream::Stdout, b"efgh")
            .unwrap();
        w.line(&ts("2026-11-23T12:00:02Z"), Stream::Stdout, b"ij")
            .unwrap();
        w.flush().unwrap();
        assert_eq!(w.max_line(), 4);
        let text = std::fs::read(&path).unwrap();
        let records: Vec<Record> = text.split(|b| *b == b'\n').filter_map(parse_record).collect();
        let cut: Vec<bool> = records.iter().map(|r| r.cut).collect();
        assert_eq!(cut, [false, true, true, false]);
        assert!(records.iter().all(|r| r.stream == Stream::Stdout));
        let point = prepare_resume(&path).unwrap().unwrap();
        assert_eq!((point.seen, point.last[0].as_slice()), ([2, 0], &b"abcd"[..]));
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
        w.line(&ts("2026-11-23T12:00:01Z"), Stream::Stderr, b"oops")
            .unwrap();
        w.line(&ts("2026-11-23T12:00:02Z"), Stream::Stdout, b"").unwrap();
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
    fn resume_trims_a_torn_line_and_counts_each_streams_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = LogWriter::open(&path).unwrap();
        // Enough lines to cross a read buffer's refill.
        for i in 0..50_000 {
            let t = ts(&format!("2026-11-23T12:00:{:02}.{:03}Z", i / 1000 % 60, i % 1000));
            w.line(&t, Stream::Stdout, format!("line {i} padding").as_bytes())
                .unwrap();
        }
        // The stamps need not be in order: only the count matters.
        w.line(&ts("2026-11-23T12:00:19.5Z"), Stream::Stderr, b"b")
            .unwrap();
        w.line(&ts("2026-11-23T12:00:19.4Z"), Stream::Stdout, b"c")
            .unwrap();
        w.line(&ts("2026-11-23T12:00:20Z"), Stream::Note, b"note")
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
        assert_eq!(point.seen, [50_001, 1]);
        assert_eq!(point.last, [b"c".to_vec(), b"b".to_vec()]);

        let mut filter = ResumeFilter::new(Some(&point));
        assert!(!filter.is_new(Stream::Stderr, b"b"));
        assert!(filter.is_new(Stream::Stderr, b"new"));
        for i in 0..50_000 {
            assert!(!filter.is_new(Stream::Stdout, format!("line {i} padding").as_bytes()));
        }
        assert!(!filter.is_new(Stream::Stdout, b"c"));
        assert!(filter.is_new(Stream::Stdout, b"d"));
        assert!(!filter.mismatched());
    }

    #[test]
    fn a_resume_that_does_not_line_up_is_noticed() {
        let point = ResumePoint {
            seen: [2, 0],
            last: [b"two".to_vec(), Vec::new()],
        };
        // The runtime's copy lost its first line: what it sends second is the file's third.
        let mut filter = ResumeFilter::new(Some(&point));
        assert!(!filter.is_new(Stream::Stdout, b"two"));
        assert!(!filter.is_new(Stream::Stdout, b"three"));
        assert!(filter.mismatched());
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
