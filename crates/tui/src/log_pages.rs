//! The worker's side of the log view: following a job's log file (through a filter), reading
//! the pages the view scrolls to, and saving a log. File reads run on blocking threads so a
//! scan of a large log never stalls the worker's other tasks.

use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use mlbench_domain::FromIo;
use mlbench_store::logfile::{LogTail, parse_record};
use mlbench_store::logscan::{self, LineFilter, RawLine};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::spawn_blocking;

use super::ansi;
use super::app::{LOG_PAGE, LOG_WINDOW, LogLine, LogPage, Message};
use crate::{Error, Result};

/// How often a followed log file is read: a burst arrives in large batches, drawn once each.
const LOG_POLL: std::time::Duration = std::time::Duration::from_millis(30);

/// The most of one record the view holds: more than a screenful, however wide the terminal.
const SHOWN_BYTES: usize = 16 << 10;

/// A record of the file as the view shows it; None for a line that is not a record or that the
/// filter hides. A long record is shown by its start and its length; a piece of a line longer
/// than the log keeps in one record says that the line goes on.
fn log_line(at: u64, raw: &[u8], filter: Option<&LineFilter>) -> Option<LogLine> {
    let record = parse_record(raw)?;
    if filter.is_some_and(|f| !f.matches(record.text)) {
        return None;
    }
    let mut shown = String::from_utf8_lossy(&record.text[..record.text.len().min(SHOWN_BYTES)]).into_owned();
    let more = record.text.len().saturating_sub(SHOWN_BYTES);
    match (more, record.cut) {
        (0, false) => {}
        (0, true) => shown.push_str(" … (the line goes on)"),
        (more, cut) => shown.push_str(&format!(
            " … ({} more{})",
            mlbench_domain::numfmt::human_bytes(more as u64),
            if cut { ", and the line goes on" } else { "" }
        )),
    }
    let (text, runs) = ansi::parse(&shown);
    Some(LogLine {
        at,
        ts: record.ts.to_string(),
        stream: record.stream,
        text,
        runs,
    })
}

fn log_lines(raw: Vec<RawLine>) -> Vec<LogLine> {
    raw.into_iter()
        .filter_map(|l| log_line(l.at, &l.bytes, None))
        .collect()
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e.to_string())))
}

/// Shown lines found before the first are sent: a tall screen's rows, so a filter that
/// matches rarely still shows its first screen before the file has been read through.
const FIRST_SCREEN: usize = 64;

/// Sends the job's last (shown) lines: a first screen at once, then the rest of the window
/// above it, then the count of those before; then every new line, until aborted.
pub(crate) async fn follow(
    path: PathBuf,
    generation: u64,
    filter: Option<LineFilter>,
    messages: UnboundedSender<Message>,
) {
    let mut tail: Option<LogTail> = None;
    loop {
        if tail.is_none() && path.exists() {
            let (file, shown) = (path.clone(), filter.clone());
            // The file's end now: what is written later, the tail reads.
            let first = blocking(move || {
                let end = mlbench_store::logfile::offset_of_last_lines(&file, 0)?;
                Ok((
                    end,
                    logscan::lines_before(&file, end, FIRST_SCREEN, shown.as_ref())?,
                ))
            })
            .await;
            let Ok((end, first)) = first else {
                tokio::time::sleep(LOG_POLL).await;
                continue;
            };
            let start = first.first().map_or(end, |line| line.at);
            if !first.is_empty() {
                let lines = log_lines(first);
                if messages.send(Message::LogLines { generation, lines }).is_err() {
                    return;
                }
            }
            tail = LogTail::open(&path, end).ok();
            tokio::spawn(fill_window(
                path.clone(),
                generation,
                filter.clone(),
                start,
                messages.clone(),
            ));
        }
        let mut lines = Vec::new();
        if let Some(tail) = tail.as_mut() {
            let _ = tail.read_new(|at, raw| {
                lines.extend(log_line(at, raw, filter.as_ref()));
                Ok(())
            });
        }
        if !lines.is_empty() && messages.send(Message::LogLines { generation, lines }).is_err() {
            return;
        }
        tokio::time::sleep(LOG_POLL).await;
    }
}

/// The window above the first screen (which starts at byte `start`), then the count of the
/// shown lines before `start`.
async fn fill_window(
    path: PathBuf,
    generation: u64,
    filter: Option<LineFilter>,
    start: u64,
    messages: UnboundedSender<Message>,
) {
    let (file, shown) = (path.clone(), filter.clone());
    let above =
        blocking(move || logscan::lines_before(&file, start, LOG_WINDOW - FIRST_SCREEN, shown.as_ref()))
            .await;
    if let Ok(above) = above {
        let _ = messages.send(Message::LogPage {
            generation,
            page: LogPage::Before(start),
            lines: log_lines(above),
            at_end: false,
        });
    }
    if let Ok(before_start) = blocking(move || logscan::count_before(&path, start, filter.as_ref())).await {
        let _ = messages.send(Message::LogCount {
            generation,
            before_start,
        });
    }
}

/// Reads the page of the log the view scrolled to: the lines, and whether they reach the end.
pub(crate) async fn page(
    path: PathBuf,
    page: LogPage,
    filter: Option<LineFilter>,
) -> Result<(Vec<LogLine>, bool)> {
    let read = blocking(move || {
        let filter = filter.as_ref();
        Ok(match page {
            LogPage::Before(at) => (logscan::lines_before(&path, at, LOG_PAGE, filter)?, false),
            // The line at `at` is the view's last: one more is read so a full page is new.
            LogPage::After(at) => logscan::lines_from(&path, at, LOG_PAGE + 1, filter)?,
            LogPage::Start => logscan::lines_from(&path, 0, LOG_PAGE, filter)?,
        })
    })
    .await
    .map_err(|e| Error::io("cannot read the job's log", e))?;
    Ok((log_lines(read.0), read.1))
}

/// Writes the job's (shown) lines, escape codes left out, to `out`, a file that must not exist
/// yet; a half-written file never stands under that name. Says how many lines it wrote where.
/// The last `n` whole lines of a log (a failed job's, for its details).
pub(crate) async fn last_lines(log: PathBuf, n: usize) -> Result<Vec<LogLine>> {
    let raw = blocking(move || {
        let end = mlbench_store::logfile::offset_of_last_lines(&log, 0)?;
        logscan::lines_before(&log, end, n, None)
    })
    .await
    .map_err(|e| Error::io("cannot read the job's log", e))?;
    Ok(log_lines(raw))
}

pub(crate) async fn save(log: PathBuf, filter: Option<LineFilter>, out: PathBuf) -> Result<String> {
    let out = std::path::absolute(&out).map_err(|e| Error::io("cannot save the log", e))?;
    if out.exists() {
        return Err(Error::Invalid(format!(
            "{} exists: save the log under another name",
            out.display()
        )));
    }
    let target = out.clone();
    let lines = blocking(move || write_log(&log, filter.as_ref(), &target))
        .await
        .map_err(Error::at(&out, "cannot save the log to"))?;
    Ok(format!(
        "saved {lines} line{} to {}",
        if lines == 1 { "" } else { "s" },
        out.display()
    ))
}

fn write_log(log: &Path, filter: Option<&LineFilter>, out: &Path) -> io::Result<u64> {
    let name = out
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let partial = out.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    let written = (|| {
        let mut writer = io::BufWriter::new(std::fs::File::create_new(&partial)?);
        let (mut lines, mut line) = (0u64, Vec::new());
        let mut reader = BufReader::new(std::fs::File::open(log)?);
        while reader.read_until(b'\n', &mut line)? > 0 {
            if let Some(record) = parse_record(line.strip_suffix(b"\n").unwrap_or(&line))
                && filter.is_none_or(|f| f.matches(record.text))
            {
                writer.write_all(&logscan::visible(record.text))?;
                writer.write_all(b"\n")?;
                lines += 1;
            }
            line.clear();
        }
        writer
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?
            .sync_all()?;
        // Not over a file that appeared meanwhile.
        std::fs::hard_link(&partial, out)?;
        Ok(lines)
    })();
    let _ = std::fs::remove_file(&partial);
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_file(dir: &Path, lines: &[&str]) -> PathBuf {
        let path = dir.join("log");
        let text: String = lines
            .iter()
            .map(|l| format!("2026-11-24T10:00:00.000000000Z o {l}\n"))
            .collect();
        std::fs::write(&path, text).unwrap();
        path
    }

    #[tokio::test]
    async fn a_saved_log_is_its_visible_text_and_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_file(dir.path(), &["epoch 1", "\x1b[32mMSE : 3.5\x1b[0m", "epoch 2"]);
        let out = dir.path().join("saved.log");
        let said = save(log.clone(), LineFilter::parse("MSE"), out.clone())
            .await
            .unwrap();
        assert_eq!(said, format!("saved 1 line to {}", out.display()));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "MSE : 3.5\n");
        let err = save(log.clone(), None, out.clone())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("exists: save the log under another name"), "{err}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "MSE : 3.5\n");
        let missing = dir.path().join("no/such/dir/x.log");
        assert!(save(log, None, missing.clone()).await.is_err());
        assert!(!missing.exists());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(std::result::Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[tokio::test]
    async fn the_follower_sends_the_filtered_window_then_the_count_then_new_lines() {
        let dir = tempfile::tempdir().unwrap();
        let lines: Vec<String> = (0..LOG_WINDOW + 100)
            .map(|i| format!("{} {i}", if i % 2 == 0 { "even" } else { "odd" }))
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let log = log_file(dir.path(), &refs);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let follower = tokio::spawn(follow(log.clone(), 3, LineFilter::parse("odd"), tx));
        let mut window = Vec::new();
        let mut count = None;
        while window.len() < LOG_WINDOW / 2 + 50 || count.is_none() {
            match tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv()).await {
                Ok(Some(Message::LogLines { generation: 3, lines })) => window.extend(lines),
                Ok(Some(Message::LogPage {
                    generation: 3, lines, ..
                })) => window.splice(0..0, lines).for_each(drop),
                Ok(Some(Message::LogCount {
                    generation: 3,
                    before_start,
                })) => count = Some(before_start),
                other => panic!("unexpected {other:?}"),
            }
        }
        follower.abort();
        // Every odd line of the file is in the window (fewer than it holds), the first screen
        // and the part above it; the count is of those before the first screen.
        assert_eq!(window.len() as u64, (LOG_WINDOW as u64 + 100) / 2);
        assert_eq!(count.unwrap(), window.len() as u64 - FIRST_SCREEN as u64);
        assert!(window.iter().all(|l| l.text.starts_with("odd")));
        assert_eq!(window.last().unwrap().text, format!("odd {}", LOG_WINDOW + 99));
    }
}
