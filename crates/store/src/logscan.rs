//! Reading a job's log file by pages rather than whole: the last lines before a point (read
//! backwards), the lines after a point, and counts, all through an optional line filter. The log
//! view uses these to show any part of a log of millions of lines with bounded memory.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::logfile::parse_record;

/// Shows the lines whose visible text (escape codes left out) holds `text`, or with `invert`
/// (typed `!text`) the lines that do not.
#[derive(Clone)]
pub struct LineFilter {
    pub text: String,
    pub invert: bool,
    /// The text's searcher, built once: a filter looks at millions of lines. (Boxed: it is
    /// large, and filters travel in messages.)
    finder: Box<memchr::memmem::Finder<'static>>,
}

impl PartialEq for LineFilter {
    fn eq(&self, other: &LineFilter) -> bool {
        (&self.text, self.invert) == (&other.text, other.invert)
    }
}

impl Eq for LineFilter {}

impl std::fmt::Debug for LineFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LineFilter({:?})", self.typed())
    }
}

impl LineFilter {
    /// `text` or `!text`; nothing typed is no filter.
    pub fn parse(typed: &str) -> Option<LineFilter> {
        let (invert, text) = match typed.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, typed),
        };
        (!text.is_empty()).then(|| LineFilter {
            text: text.to_string(),
            invert,
            finder: Box::new(memchr::memmem::Finder::new(text.as_bytes()).into_owned()),
        })
    }

    /// As typed.
    pub fn typed(&self) -> String {
        format!("{}{}", if self.invert { "!" } else { "" }, self.text)
    }

    /// Whether a record's text (as the file holds it) is shown.
    pub fn matches(&self, text: &[u8]) -> bool {
        let found = self.finder.find(&visible(text)).is_some();
        found != self.invert
    }

    /// Whether none of a block of lines can be shown: the text is nowhere in it (and no
    /// escape code could split it), so its lines need not be looked at one by one.
    fn skips(&self, block: &[u8]) -> bool {
        !self.invert && memchr::memchr(0x1b, block).is_none() && self.finder.find(block).is_none()
    }
}

/// The text without its terminal escape sequences (colours, cursor moves): what a user sees.
pub fn visible(text: &[u8]) -> Cow<'_, [u8]> {
    if !text.contains(&0x1b) {
        return Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        if b != 0x1b {
            out.push(b);
            continue;
        }
        match bytes.next() {
            // CSI: parameters, then one final byte in @..~.
            Some(b'[') => {
                for b in bytes.by_ref() {
                    if (0x40..=0x7e).contains(&b) {
                        break;
                    }
                }
            }
            // OSC: up to BEL or ESC \.
            Some(b']') => {
                while let Some(b) = bytes.next() {
                    if b == 0x07 || (b == 0x1b && bytes.next_if_eq(&b'\\').is_some()) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    Cow::Owned(out)
}

/// One line of the file and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    pub at: u64,
    pub bytes: Vec<u8>,
}

fn shown(filter: Option<&LineFilter>, line: &[u8]) -> bool {
    match filter {
        None => true,
        Some(filter) => parse_record(line).is_some_and(|r| filter.matches(r.text)),
    }
}

/// The last `n` lines (that pass `filter`) starting before byte `end`, in file order. `end`
/// is where a line starts, or the end of the file's whole lines (a line still being written is
/// the caller's to leave out: `offset_of_last_lines(path, 0)`).
pub fn lines_before(
    path: &Path,
    end: u64,
    n: usize,
    filter: Option<&LineFilter>,
) -> io::Result<Vec<RawLine>> {
    let mut file = File::open(path)?;
    let mut found = Vec::new();
    if n > 0 {
        each_block_backwards(&mut file, end, |at, block| {
            if filter.is_some_and(|f| f.skips(block)) {
                return true;
            }
            lines_of_block_backwards(at, block, |at, line| {
                if shown(filter, line) {
                    found.push(RawLine {
                        at,
                        bytes: line.to_vec(),
                    });
                }
                found.len() < n
            })
        })?;
    }
    found.reverse();
    Ok(found)
}

/// Up to `n` lines (that pass `filter`) starting at or after byte `start`, and whether the
/// file's end was reached. A last line still being written is not read.
pub fn lines_from(
    path: &Path,
    start: u64,
    n: usize,
    filter: Option<&LineFilter>,
) -> io::Result<(Vec<RawLine>, bool)> {
    let mut reader = BufReader::with_capacity(1 << 16, File::open(path)?);
    reader.seek(SeekFrom::Start(start))?;
    let (mut at, mut found, mut line) = (start, Vec::new(), Vec::new());
    while found.len() < n {
        line.clear();
        let read = reader.read_until(b'\n', &mut line)?;
        if read == 0 || line.last() != Some(&b'\n') {
            return Ok((found, true));
        }
        let text = &line[..line.len() - 1];
        if shown(filter, text) {
            found.push(RawLine {
                at,
                bytes: text.to_vec(),
            });
        }
        at += read as u64;
    }
    // Exactly at the end is the end too.
    let at_end = reader.fill_buf()?.is_empty();
    Ok((found, at_end))
}

/// How many lines (that pass `filter`) start before byte `end`.
pub fn count_before(path: &Path, end: u64, filter: Option<&LineFilter>) -> io::Result<u64> {
    let mut reader = File::open(path)?.take(end);
    let mut buf = vec![0u8; 1 << 20];
    let (mut held, mut count) = (0usize, 0u64);
    loop {
        let read = reader.read(&mut buf[held..])?;
        let filled = held + read;
        // Whole lines only; the rest waits for the next read (or is the end's last line).
        let whole = if read == 0 {
            filled
        } else {
            memchr::memrchr(b'\n', &buf[..filled]).map_or(0, |nl| nl + 1)
        };
        let block = &buf[..whole];
        count += match filter {
            None => memchr::memchr_iter(b'\n', block).count() as u64,
            Some(f) if f.skips(block) => 0,
            Some(f) => block
                .split(|b| *b == b'\n')
                .filter(|line| !line.is_empty() && shown(Some(f), line))
                .count() as u64,
        };
        if read == 0 {
            return Ok(count);
        }
        buf.copy_within(whole..filled, 0);
        held = filled - whole;
        if held == buf.len() {
            // One line longer than the buffer: room for more of it.
            buf.resize(buf.len() * 2, 0);
        }
    }
}

/// Calls `each` with blocks of whole lines of `file[..end]` (where `end` follows a newline) and
/// where each block starts, from the last block to the first, until it returns false. A
/// block's lines are joined by newlines, with none at its end.
fn each_block_backwards(
    file: &mut File,
    end: u64,
    mut each: impl FnMut(u64, &[u8]) -> bool,
) -> io::Result<()> {
    // Large reads: a filter skips most blocks at memchr speed, so reading is the cost.
    const CHUNK: u64 = 1 << 20;
    let mut pos = end.saturating_sub(1); // the final newline ends the last line
    let mut buf: Vec<u8> = Vec::new(); // file[pos..]: the start of what was read, maybe a partial line
    while pos > 0 {
        let step = CHUNK.min(pos) as usize;
        pos -= step as u64;
        let held = buf.len();
        buf.resize(step + held, 0);
        buf.copy_within(0..held, step);
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut buf[..step])?;
        // The first line may start before what was read: it waits for the next round.
        let Some(first_end) = memchr::memchr(b'\n', &buf) else {
            continue;
        };
        if !each(pos + first_end as u64 + 1, &buf[first_end + 1..]) {
            return Ok(());
        }
        buf.truncate(first_end);
    }
    if end > 0 {
        each(0, &buf);
    }
    Ok(())
}

/// Calls `each` with each line of a block (as [`each_block_backwards`] gives them) and where it
/// starts, from the last, until it returns false; says whether it went through.
fn lines_of_block_backwards(at: u64, block: &[u8], mut each: impl FnMut(u64, &[u8]) -> bool) -> bool {
    let mut line_end = block.len();
    for newline in memchr::memrchr_iter(b'\n', block) {
        if !each(at + newline as u64 + 1, &block[newline + 1..line_end]) {
            return false;
        }
        line_end = newline;
    }
    each(at, &block[..line_end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(lines: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let text: String = lines
            .iter()
            .map(|l| format!("2026-11-24T10:00:00.000000000Z o {l}\n"))
            .collect();
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn texts(lines: &[RawLine]) -> Vec<String> {
        lines
            .iter()
            .map(|l| String::from_utf8_lossy(parse_record(&l.bytes).unwrap().text).into_owned())
            .collect()
    }

    #[test]
    fn filters_match_visible_text_and_invert() {
        let filter = LineFilter::parse("MSE").unwrap();
        assert!(filter.matches(b"MSE : 12.5"));
        // Colour codes between the letters do not hide a match.
        assert!(filter.matches(b"\x1b[1mM\x1b[0mSE : 12.5"));
        assert!(!filter.matches(b"epoch 3"));
        let inverted = LineFilter::parse("!MSE").unwrap();
        assert!(inverted.invert && !inverted.matches(b"MSE : 1") && inverted.matches(b"epoch 3"));
        assert_eq!(inverted.typed(), "!MSE");
        assert_eq!(LineFilter::parse(""), None);
        assert_eq!(LineFilter::parse("!"), None);
        assert_eq!(
            &*visible(b"\x1b]0;title\x07plain \x1b[31mred\x1b[0m"),
            b"plain red"
        );
    }

    #[test]
    fn pages_before_and_after_a_point_with_their_offsets() {
        let lines: Vec<String> = (0..1000).map(|i| format!("step {i} loss {}", i % 7)).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (_dir, path) = log(&refs);
        let len = std::fs::metadata(&path).unwrap().len();
        let last = lines_before(&path, len, 3, None).unwrap();
        assert_eq!(
            texts(&last),
            ["step 997 loss 3", "step 998 loss 4", "step 999 loss 5"]
        );
        let filter = LineFilter::parse("loss 0").unwrap();
        let last = lines_before(&path, len, 2, Some(&filter)).unwrap();
        assert_eq!(texts(&last), ["step 987 loss 0", "step 994 loss 0"]);
        // Before the first of those: the page above, ending where it starts.
        let above = lines_before(&path, last[0].at, 1, Some(&filter)).unwrap();
        assert_eq!(texts(&above), ["step 980 loss 0"]);
        let (after, at_end) = lines_from(&path, last[0].at, 10, Some(&filter)).unwrap();
        assert_eq!((texts(&after).len(), at_end), (2, true));
        let (first, at_end) = lines_from(&path, 0, 2, None).unwrap();
        assert_eq!(
            (texts(&first), at_end),
            (vec!["step 0 loss 0".to_string(), "step 1 loss 1".into()], false)
        );
        assert_eq!(first[1].at, first[0].bytes.len() as u64 + 1);
        // Every line is found backwards from the end, the first one included.
        assert_eq!(lines_before(&path, len, 5000, None).unwrap().len(), 1000);
        assert_eq!(count_before(&path, last[0].at, Some(&filter)).unwrap(), 141);
        assert_eq!(count_before(&path, len, None).unwrap(), 1000);
    }

    /// Over many read blocks every line is found once, with its offset, filtered or not.
    #[test]
    fn reads_across_blocks_find_every_line_once() {
        let lines: Vec<String> = (0..120_000)
            .map(|i| format!("row {i} {}", "x".repeat(i % 50)))
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (_dir, path) = log(&refs);
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(len > 4 << 20, "several blocks: {len}");
        let all = lines_before(&path, len, usize::MAX, None).unwrap();
        assert_eq!(texts(&all), lines);
        let bytes = std::fs::read(&path).unwrap();
        assert!(all.iter().all(|l| bytes[l.at as usize..].starts_with(&l.bytes)));
        let filter = LineFilter::parse("row 11999").unwrap();
        let found = lines_before(&path, len, usize::MAX, Some(&filter)).unwrap();
        assert_eq!(texts(&found).len(), 11, "row 11999 and 119990-119999");
        assert_eq!(count_before(&path, len, Some(&filter)).unwrap(), 11);
        assert_eq!(count_before(&path, len, None).unwrap(), 120_000);
    }

    #[test]
    fn a_line_still_being_written_is_not_read() {
        let (_dir, path) = log(&["done"]);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"2026-11-24T10:00:00.000000000Z o hal"))
            .unwrap();
        let (lines, at_end) = lines_from(&path, 0, 10, None).unwrap();
        assert_eq!((texts(&lines), at_end), (vec!["done".to_string()], true));
    }
}
