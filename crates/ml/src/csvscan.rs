//! One parallel pass over a numeric CSV file into least-squares sums. The file is cut into
//! one byte range per core; each core reads its range in blocks (memory stays a few MB
//! whatever the file size) and parses only the columns the model uses. A quoted field could
//! hide a newline that a range boundary would split, so a file with quotes is read again
//! with the full CSV parser, on one core.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

use mlbench_domain::FromIo;

use super::is_test_row;
use super::linear::{Shift, Stats};
use crate::{Error, Result};

const BLOCK: usize = 1 << 20;

/// The header row and where the data starts.
#[derive(Debug, Clone)]
pub struct Header {
    pub(crate) names: Vec<String>,
    pub(crate) data_start: u64,
}

/// Which columns feed the model: features, then the target last.
#[derive(Debug, Clone)]
pub(crate) struct Selection {
    pub(crate) columns: Vec<usize>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Split {
    pub(crate) seed: u64,
    pub(crate) test_fraction: f64,
}

pub(crate) struct Scan {
    pub(crate) train: Stats,
    pub(crate) test: Stats,
    pub(crate) shift: Shift,
}

/// A problem in one row: where (byte offset of the row) and what.
struct RowError {
    offset: u64,
    column: Option<usize>,
    problem: String,
}

/// Reads the header: a UTF-8 BOM and CRLF are fine, names may be quoted.
pub fn read_header(path: &Path) -> Result<Header> {
    let mut file = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound(format!("{}: no such file", path.display())),
        _ => Error::io(format!("cannot read {}", path.display()), e),
    })?;
    read_header_from(&mut file, path)
}

/// Reads the header from the start of `file`, which was opened from `path`.
pub fn read_header_from(file: &mut impl Read, path: &Path) -> Result<Header> {
    let mut head = Vec::new();
    let mut buf = [0u8; 8192];
    let newline = loop {
        let n = file.read(&mut buf).map_err(Error::at(path, "cannot read"))?;
        head.extend_from_slice(&buf[..n]);
        if let Some(pos) = head.iter().position(|b| *b == b'\n') {
            break Some(pos);
        }
        if n == 0 {
            break None;
        }
    };
    let end = newline.unwrap_or(head.len());
    let line = &head[..end];
    let bom = if line.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    let line = line[bom..].strip_suffix(b"\r").unwrap_or(&line[bom..]);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::Invalid(format!(
            "{}: the file is empty: it needs a header row and data rows",
            path.display()
        )));
    }
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(line);
    let record = reader
        .records()
        .next()
        .and_then(std::result::Result::ok)
        .ok_or_else(|| {
            Error::Invalid(format!(
                "{}:1: the header row cannot be read as CSV",
                path.display()
            ))
        })?;
    let names: Vec<String> = record.iter().map(|n| n.trim().to_string()).collect();
    if let Some(column) = names.iter().position(String::is_empty) {
        return Err(Error::Invalid(format!(
            "{}:1: column {} has no name in the header: name every column",
            path.display(),
            column + 1
        )));
    }
    Ok(Header {
        names,
        data_start: newline.map_or(head.len() as u64, |p| p as u64 + 1),
    })
}

impl Header {
    /// The index of a named column, or an error listing the names there are.
    pub fn column(&self, path: &Path, name: &str) -> Result<usize> {
        self.names.iter().position(|n| n == name).ok_or_else(|| {
            Error::Invalid(format!(
                "{}: there is no column {name:?}: the columns are {}",
                path.display(),
                self.names
                    .iter()
                    .map(|n| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }
}

/// Sums the selected columns of every data row into train and test statistics.
pub(crate) fn scan(path: &Path, header: &Header, selection: &Selection, split: Split) -> Result<Scan> {
    let file = File::open(path).map_err(Error::at(path, "cannot read"))?;
    let len = file.metadata().map_err(Error::at(path, "cannot read"))?.len();
    let features = selection.columns.len() - 1;
    let mut by_column: Vec<(usize, usize)> = selection
        .columns
        .iter()
        .enumerate()
        .map(|(slot, &c)| (c, slot))
        .collect();
    by_column.sort_unstable();
    let mut slot_of_column = vec![None; by_column.last().map_or(0, |(c, _)| c + 1)];
    for &(column, slot) in &by_column {
        slot_of_column[column] = Some(slot);
    }
    let context = ScanContext {
        file: &file,
        stop_on_quote: false,
        by_column,
        slot_of_column,
        selection,
        split,
    };
    // The first row gives the shift; it is also where an empty file is caught.
    let shift = match first_row(&context, header.data_start, len) {
        Ok(Some(values)) => Shift {
            x: values[..features].to_vec(),
            y: values[features],
        },
        Ok(None) => {
            return Err(Error::Invalid(format!(
                "{}: there are no data rows, only a header: add rows below it",
                path.display()
            )));
        }
        Err(err) => return Err(describe(path, header, &file, err)),
    };
    let context = ScanContext {
        stop_on_quote: true,
        ..context
    };
    let shift_ref = &shift;
    let cores = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .max(1) as u64;
    let span = (len - header.data_start).div_ceil(cores).max(1);
    let results: Vec<std::result::Result<Partial, RowError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..cores)
            .map(|k| {
                let start = (header.data_start + k * span).min(len);
                let end = (start + span).min(len);
                let context = &context;
                scope.spawn(move || context.scan_range(start, end, header.data_start, shift_ref))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(panicked())))
            .collect()
    });
    let mut train = Stats::new(features);
    let mut test = Stats::new(features);
    let mut first_error: Option<RowError> = None;
    let mut quoted = false;
    for result in results {
        match result {
            Ok(Partial::Sums(a, b)) => {
                train.merge(&a);
                test.merge(&b);
            }
            Ok(Partial::Quoted) => quoted = true,
            Err(err) => {
                if first_error.as_ref().is_none_or(|e| err.offset < e.offset) {
                    first_error = Some(err);
                }
            }
        }
    }
    if quoted {
        return scan_quoted(path, header, selection, split, shift);
    }
    if let Some(err) = first_error {
        return Err(describe(path, header, &file, err));
    }
    Ok(Scan { train, test, shift })
}

fn panicked() -> RowError {
    RowError {
        offset: 0,
        column: None,
        problem: "a worker thread failed".into(),
    }
}

enum Partial {
    Sums(Stats, Stats),
    /// The range holds a quote character: the whole file is read again with the CSV parser.
    Quoted,
}

/// How a pass over a range ended.
enum Scanned {
    Done,
    /// A quote character was seen (only looked for when `stop_on_quote`).
    Quoted,
}

struct ScanContext<'a> {
    file: &'a File,
    /// The parallel pass stops at quotes; the first-row read handles them itself.
    stop_on_quote: bool,
    /// (column, slot) pairs in column order, for one left-to-right walk over a row.
    by_column: Vec<(usize, usize)>,
    /// For each column up to the last wanted one, the slot it fills.
    slot_of_column: Vec<Option<usize>>,
    selection: &'a Selection,
    split: Split,
}

impl ScanContext<'_> {
    /// Parses the rows that start in [start, end).
    fn scan_range(
        &self,
        start: u64,
        end: u64,
        data_start: u64,
        shift: &Shift,
    ) -> std::result::Result<Partial, RowError> {
        let features = self.selection.columns.len() - 1;
        let mut train = Stats::new(features);
        let mut test = Stats::new(features);
        let mut shifted = vec![0.0; features];
        let mut values = vec![0.0; features + 1];
        let outcome = self.each_line(start, end, data_start, |offset, line| {
            if !self.parse_line(offset, line, &mut values)? {
                return Ok(true);
            }
            for i in 0..features {
                shifted[i] = values[i] - shift.x[i];
            }
            let stats = if is_test_row(self.split.seed, offset, self.split.test_fraction) {
                &mut test
            } else {
                &mut train
            };
            stats.add(&shifted, values[features] - shift.y);
            Ok(true)
        });
        Ok(match outcome? {
            Scanned::Quoted => Partial::Quoted,
            Scanned::Done => Partial::Sums(train, test),
        })
    }

    /// Calls `each(offset, line)` for every line starting in [start, end), without its line
    /// ending, until it returns false.
    fn each_line(
        &self,
        start: u64,
        end: u64,
        data_start: u64,
        mut each: impl FnMut(u64, &[u8]) -> std::result::Result<bool, RowError>,
    ) -> std::result::Result<Scanned, RowError> {
        let io_error = |e: std::io::Error| RowError {
            offset: start,
            column: None,
            problem: format!("cannot read: {e}"),
        };
        let mut buf = vec![0u8; BLOCK];
        let mut filled = 0usize; // bytes in buf
        let mut buf_offset = start; // file offset of buf[0]
        let mut pos = start; // file offset of the next unread byte
        // A range that starts mid-line leaves that line to the range before it.
        let mut skipping = start > data_start && {
            let mut prev = [0u8];
            self.file.read_exact_at(&mut prev, start - 1).map_err(io_error)?;
            prev[0] != b'\n'
        };
        loop {
            let n = self.file.read_at(&mut buf[filled..], pos).map_err(io_error)?;
            if self.stop_on_quote && memchr::memchr(b'"', &buf[filled..filled + n]).is_some() {
                return Ok(Scanned::Quoted);
            }
            pos += n as u64;
            filled += n;
            let eof = n == 0;
            let mut consumed = 0usize;
            loop {
                let rest = &buf[consumed..filled];
                let (line, next) = match memchr::memchr(b'\n', rest) {
                    Some(nl) => (&rest[..nl], consumed + nl + 1),
                    None if eof && !rest.is_empty() => (rest, filled),
                    None => break,
                };
                let line_offset = buf_offset + consumed as u64;
                if line_offset >= end {
                    return Ok(Scanned::Done);
                }
                consumed = next;
                if skipping {
                    skipping = false;
                    continue;
                }
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if !each(line_offset, line)? {
                    return Ok(Scanned::Done);
                }
            }
            if eof {
                return Ok(Scanned::Done);
            }
            // Keep the unfinished line; grow the block for lines longer than it.
            buf.copy_within(consumed..filled, 0);
            filled -= consumed;
            buf_offset += consumed as u64;
            if filled == buf.len() {
                buf.resize(buf.len() * 2, 0);
            }
        }
    }

    /// Fills `values` from one line; false for a blank line.
    fn parse_line(
        &self,
        offset: u64,
        line: &[u8],
        values: &mut [f64],
    ) -> std::result::Result<bool, RowError> {
        if self.parse_plain_line(line, values) {
            return Ok(true);
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(false);
        }
        // Walk the fields left to right once, taking the wanted ones in column order.
        let mut field_start = 0usize;
        let mut index = 0usize;
        let mut commas = memchr::memchr_iter(b',', line);
        for &(column, slot) in &self.by_column {
            while index < column {
                match commas.next() {
                    Some(comma) => field_start = comma + 1,
                    None => {
                        let fields = memchr::memchr_iter(b',', line).count() + 1;
                        let problem = format!("the row has {fields} fields, fewer than the header");
                        return Err(RowError {
                            offset,
                            column: None,
                            problem,
                        });
                    }
                }
                index += 1;
            }
            let field_end =
                memchr::memchr(b',', &line[field_start..]).map_or(line.len(), |i| field_start + i);
            values[slot] = parse_number(&line[field_start..field_end]).map_err(|problem| RowError {
                offset,
                column: Some(column),
                problem,
            })?;
        }
        Ok(true)
    }
}

impl ScanContext<'_> {
    /// The common case in one pass over the bytes: every field a plain decimal, no spaces.
    /// Returns false for anything else (the general path then parses or explains the line).
    #[inline]
    fn parse_plain_line(&self, line: &[u8], values: &mut [f64]) -> bool {
        let (mut column, mut filled) = (0usize, 0usize);
        let (mut mantissa, mut digits, mut fraction, mut negative) = (0u64, 0usize, None::<usize>, false);
        let mut finish =
            |column: usize, mantissa: u64, digits: usize, fraction: Option<usize>, negative: bool| {
                let Some(&Some(slot)) = self.slot_of_column.get(column) else {
                    return true;
                };
                if digits == 0 || digits > 15 {
                    return false;
                }
                let value = mantissa as f64 / POW10[fraction.unwrap_or(0)];
                values[slot] = if negative { -value } else { value };
                filled += 1;
                true
            };
        for &b in line {
            match b {
                b'0'..=b'9' => {
                    mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
                    digits += 1;
                    if let Some(f) = fraction.as_mut() {
                        *f += 1;
                    }
                }
                b'.' if fraction.is_none() => fraction = Some(0),
                b'-' if digits == 0 && fraction.is_none() && !negative => negative = true,
                b',' => {
                    if !finish(column, mantissa, digits, fraction, negative) {
                        return false;
                    }
                    column += 1;
                    (mantissa, digits, fraction, negative) = (0, 0, None, false);
                }
                _ => return false,
            }
        }
        finish(column, mantissa, digits, fraction, negative) && filled == self.by_column.len()
    }
}

const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// Plain decimals (`-12.375`) with at most 15 digits are exact as an integer over a power of
/// ten, and one division rounds them correctly (Clinger's fast path); anything else goes to
/// the full parser. Both give the correctly rounded value.
#[inline]
fn parse_plain_decimal(text: &[u8]) -> Option<f64> {
    let (negative, digits) = match text.first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let mut mantissa = 0u64;
    let mut fraction_digits = None;
    let mut count = 0usize;
    for (i, &b) in digits.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                count += 1;
            }
            b'.' if fraction_digits.is_none() => fraction_digits = Some(digits.len() - i - 1),
            _ => return None,
        }
    }
    if count == 0 || count > 15 {
        return None;
    }
    let value = mantissa as f64 / POW10[fraction_digits.unwrap_or(0)];
    Some(if negative { -value } else { value })
}

fn parse_number(text: &[u8]) -> std::result::Result<f64, String> {
    let trimmed = text.trim_ascii();
    if let Some(value) = parse_plain_decimal(trimmed) {
        return Ok(value);
    }
    match fast_float2::parse::<f64, _>(trimmed) {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!(
            "{:?} is not a finite number",
            String::from_utf8_lossy(trimmed)
        )),
        Err(_) if trimmed.is_empty() => Err("the cell is empty".to_string()),
        Err(_) => Err(format!("{:?} is not a number", String::from_utf8_lossy(trimmed))),
    }
}

fn first_row(
    context: &ScanContext,
    data_start: u64,
    len: u64,
) -> std::result::Result<Option<Vec<f64>>, RowError> {
    let mut values = vec![0.0; context.selection.columns.len()];
    let mut found = None;
    context.each_line(data_start, len, data_start, |offset, line| {
        if line.contains(&b'"') {
            // Quoted data is read by the CSV parser; unquote this row with it too.
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(line);
            let record = reader
                .byte_records()
                .next()
                .and_then(std::result::Result::ok)
                .unwrap_or_default();
            for (slot, &column) in context.selection.columns.iter().enumerate() {
                let cell = record.get(column).unwrap_or_default();
                values[slot] = parse_number(cell).map_err(|problem| RowError {
                    offset,
                    column: Some(column),
                    problem,
                })?;
            }
            found = Some(values.clone());
            return Ok(false);
        }
        if context.parse_line(offset, line, &mut values)? {
            found = Some(values.clone());
            return Ok(false);
        }
        Ok(true)
    })?;
    Ok(found)
}

/// The one-core path for files with quoted fields, through the csv crate.
fn scan_quoted(
    path: &Path,
    header: &Header,
    selection: &Selection,
    split: Split,
    shift: Shift,
) -> Result<Scan> {
    let file = File::open(path).map_err(Error::at(path, "cannot read"))?;
    // The csv crate takes a quote still open at the end of the file as closed by it: an odd
    // count of quotes (escaped ones come in pairs) means a field was never closed.
    let quotes = count_quotes(&file).map_err(Error::at(path, "cannot read"))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(file);
    let mut last_line = 1u64;
    let features = selection.columns.len() - 1;
    let (mut train, mut test) = (Stats::new(features), Stats::new(features));
    let mut shifted = vec![0.0; features];
    let mut record = csv::ByteRecord::new();
    loop {
        let more = reader.read_byte_record(&mut record).map_err(|e| {
            let line = e.position().map_or(0, csv::Position::line);
            Error::Invalid(format!("{}:{line}: {e}", path.display()))
        })?;
        if !more {
            break;
        }
        let position = record.position().cloned().unwrap_or_else(csv::Position::new);
        last_line = position.line();
        if record.iter().all(|f| f.trim_ascii().is_empty()) {
            continue;
        }
        let mut values = Vec::with_capacity(selection.columns.len());
        for &column in &selection.columns {
            let cell = record.get(column).ok_or_else(|| {
                Error::Invalid(format!(
                    "{}:{}: the row has {} fields, fewer than the header",
                    path.display(),
                    position.line(),
                    record.len()
                ))
            })?;
            values.push(parse_number(cell).map_err(|problem| {
                Error::Invalid(format!(
                    "{}:{}: column {:?}: {problem}",
                    path.display(),
                    position.line(),
                    header.names[column]
                ))
            })?);
        }
        for i in 0..features {
            shifted[i] = values[i] - shift.x[i];
        }
        let stats = if is_test_row(split.seed, position.byte(), split.test_fraction) {
            &mut test
        } else {
            &mut train
        };
        stats.add(&shifted, values[features] - shift.y);
    }
    if quotes % 2 == 1 {
        return Err(Error::Invalid(format!(
            "{}:{last_line}: a quoted field is never closed: close its quote or remove it",
            path.display()
        )));
    }
    Ok(Scan { train, test, shift })
}

fn count_quotes(file: &File) -> std::io::Result<u64> {
    let mut buf = vec![0u8; BLOCK];
    let (mut pos, mut count) = (0u64, 0u64);
    loop {
        let n = file.read_at(&mut buf, pos)?;
        if n == 0 {
            return Ok(count);
        }
        count += memchr::memchr_iter(b'"', &buf[..n]).count() as u64;
        pos += n as u64;
    }
}

/// Turns a row error into `file:line: column "name": problem`, counting lines only now.
fn describe(path: &Path, header: &Header, file: &File, err: RowError) -> Error {
    let mut line = 1u64;
    let mut buf = vec![0u8; BLOCK];
    let mut pos = 0u64;
    while pos < err.offset {
        let want = ((err.offset - pos) as usize).min(BLOCK);
        let Ok(n) = file.read_at(&mut buf[..want], pos) else {
            break;
        };
        if n == 0 {
            break;
        }
        line += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        pos += n as u64;
    }
    let column = err
        .column
        .map(|c| format!(" column {:?}:", header.names[c]))
        .unwrap_or_default();
    Error::Invalid(format!("{}:{line}:{column} {}", path.display(), err.problem))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_text(text: &str, x: &[&str], y: &str) -> Result<Scan> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        std::fs::write(&path, text).unwrap();
        let header = read_header(&path)?;
        let mut columns: Vec<usize> = x.iter().map(|n| header.column(&path, n)).collect::<Result<_>>()?;
        columns.push(header.column(&path, y)?);
        scan(
            &path,
            &header,
            &Selection { columns },
            Split {
                seed: 1,
                test_fraction: 0.0,
            },
        )
        .map_err(|e| Error::Invalid(e.to_string().replace(&path.display().to_string(), "d.csv")))
    }

    #[test]
    fn real_world_files_parse() {
        let plain = scan_text("x,y\n1,10\n2,20\n3,31\n", &["x"], "y").unwrap();
        let messy = scan_text(
            "\u{feff}x,y,extra\r\n1,10,a\r\n2,20,b\r\n3,31,c\r\n\r\n\r\n",
            &["x"],
            "y",
        )
        .unwrap();
        let quoted = scan_text("\"x\",\"y\"\n\"1\",\"10\"\n2,\"20\"\n3,31\n\n", &["x"], "y").unwrap();
        assert_eq!(plain.train, messy.train);
        assert_eq!(plain.train, quoted.train);
        assert_eq!(plain.train.rows, 3);
    }

    #[test]
    fn bad_data_names_file_line_and_column() {
        let err = |text: &str| scan_text(text, &["x"], "y").err().unwrap().to_string();
        assert_eq!(
            err("x,y\n1,2\n3,abc\n"),
            "d.csv:3: column \"y\": \"abc\" is not a number"
        );
        assert_eq!(
            err("x,y\n1,2\nNaN,4\n"),
            "d.csv:3: column \"x\": \"NaN\" is not a finite number"
        );
        assert_eq!(
            err("x,y\n1,2\n3,inf\n"),
            "d.csv:3: column \"y\": \"inf\" is not a finite number"
        );
        assert_eq!(
            err("x,y\n1,2\n3\n"),
            "d.csv:3: the row has 1 fields, fewer than the header"
        );
        assert_eq!(err("x,y\n1,\n"), "d.csv:2: column \"y\": the cell is empty");
        assert!(err("x,y\n").contains("no data rows"));
        assert!(err("").contains("the file is empty"));
        assert!(err("a,b\n1,2\n").contains("there is no column \"x\": the columns are \"a\", \"b\""));
    }

    #[test]
    fn the_fast_number_path_matches_the_full_parser() {
        for text in [
            "0",
            "-0",
            "12",
            "-12.375",
            "103100.00",
            "0.1",
            "3.14159265358979",
            "+7.",
            ".5",
            "99999999999999",
        ] {
            let full: f64 = fast_float2::parse(text.as_bytes()).unwrap();
            assert_eq!(
                parse_number(text.as_bytes()).unwrap().to_bits(),
                full.to_bits(),
                "{text}"
            );
        }
        for text in ["1e5", "1234567890123456789", "0.12345678901234567"] {
            assert!(parse_plain_decimal(text.as_bytes()).is_none(), "{text}");
            assert!(parse_number(text.as_bytes()).is_ok(), "{text}");
        }
        assert!(parse_plain_decimal(b".").is_none() && parse_plain_decimal(b"-").is_none());
    }

    #[test]
    fn parallel_ranges_see_every_row_once() {
        let mut text = String::from("x,y\n");
        for i in 0..50_000 {
            text.push_str(&format!("{i},{}\n", 2 * i + 1));
        }
        let scan = scan_text(&text, &["x"], "y").unwrap();
        assert_eq!(scan.train.rows, 50_000);
        let fit = super::super::linear::fit(&scan.train, &scan.shift, &["x".into()]).unwrap();
        assert!(
            (fit.coefficients[0] - 2.0).abs() < 1e-9 && (fit.intercept - 1.0).abs() < 1e-6,
            "{fit:?}"
        );
    }
}
