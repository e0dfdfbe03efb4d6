//! Printing a job's log file, and following it while the job runs.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use mlbench_domain::FromIo;
use mlbench_domain::output::Stream;
use mlbench_engine::Engine;
use mlbench_store::logfile::{self, LogTail};
use mlbench_store::logwatch::LogWatch;

use crate::{Error, Result};

/// What ended a follow.
pub(crate) enum FollowEnd {
    JobEnded,
    Detached,
}

/// How a log is printed: with each line's time, and with mlbench's own notes or without.
pub(crate) struct LogPrint {
    pub(crate) timestamps: bool,
    /// mlbench's notes (`[mlbench] queued: …`) on stderr beside the job's own: for a person at
    /// a terminal (or asked with `--notes`), never into a file that holds the job's stderr.
    pub(crate) notes: bool,
    /// Per stream (stdout, stderr): the last record was a cut piece, so the next one goes on
    /// with the same line (no time before it).
    continuing: std::cell::Cell<[bool; 2]>,
}

impl LogPrint {
    /// Notes when stderr is a terminal, or when asked.
    pub(crate) fn notes_for_terminal(timestamps: bool, asked: bool) -> LogPrint {
        LogPrint {
            timestamps,
            notes: asked || super::shown::is_terminal(false),
            continuing: std::cell::Cell::new([false; 2]),
        }
    }

    /// Program output goes to the stream it came from; mlbench's own notes go to stderr.
    fn print(&self, line: &[u8], out: &mut impl Write, err: &mut impl Write) -> io::Result<()> {
        let Some(record) = logfile::parse_record(line) else {
            return Ok(());
        };
        if record.stream == Stream::Note && !self.notes {
            return Ok(());
        }
        let to_stdout = record.stream == Stream::Stdout;
        let target: &mut dyn Write = if to_stdout { out } else { err };
        let mut continuing = self.continuing.get();
        let slot = usize::from(!to_stdout);
        let goes_on = std::mem::replace(&mut continuing[slot], record.cut);
        self.continuing.set(continuing);
        if self.timestamps && !goes_on {
            target.write_all(record.ts.as_bytes())?;
            target.write_all(b" ")?;
        }
        if record.stream == Stream::Note {
            target.write_all(b"[mlbench] ")?;
        }
        // A terminal gets the job's colours and sees its other escapes; a pipe gets its bytes.
        if super::shown::is_terminal(to_stdout) {
            let text = String::from_utf8_lossy(record.text);
            target.write_all(mlbench_domain::controls::escaped(&text).as_bytes())?;
        } else {
            target.write_all(record.text)?;
        }
        // A piece of an over-long line: the next record of its stream goes on with it.
        if record.cut {
            return Ok(());
        }
        target.write_all(b"\n")
    }
}

/// Prints the log (the last `tail` lines, if given) and, with `follow`, what comes after
/// until the job ends or Ctrl-C detaches.
pub(crate) async fn print_log(
    engine: &Engine,
    job: i64,
    follow: bool,
    tail: Option<usize>,
    printer: LogPrint,
) -> Result<FollowEnd> {
    let path = engine.home.job_log(job);
    let mut reader: Option<LogTail> = None;
    let stdout = io::stdout();
    let stderr = io::stderr();
    let mut detach = std::pin::pin!(detach_signal());
    let mut poll = Backoff::default();
    let mut changed = LogWatch::new(&path);
    let mut read_to = 0;
    let mut quiet_since = Instant::now();
    loop {
        // The state is read before the file, so a job seen as ended has all its lines on disk.
        let ended = engine.store.job(job)?.state.is_final();
        if reader.is_none() && path.exists() {
            let offset = match tail {
                Some(n) => {
                    logfile::offset_of_last_lines(&path, n).map_err(Error::at(&path, "cannot read"))?
                }
                None => 0,
            };
            reader = Some(LogTail::open(&path, offset).map_err(Error::at(&path, "cannot read"))?);
        }
        if let Some(reader) = reader.as_mut() {
            let (mut out, mut err) = (
                io::BufWriter::new(stdout.lock()),
                io::BufWriter::new(stderr.lock()),
            );
            let printed = reader
                .read_new(|_, line| printer.print(line, &mut out, &mut err))
                .and_then(|_| out.flush())
                .and_then(|_| err.flush());
            match printed {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(FollowEnd::Detached),
                other => other.map_err(|e| Error::io("cannot print the log", e))?,
            }
        }
        let offset = reader.as_ref().map_or(0, LogTail::offset);
        let grew = offset != read_to;
        read_to = offset;
        if !follow || ended {
            return Ok(FollowEnd::JobEnded);
        }
        // A quiet log may mean a dead supervisor: nobody would ever record the end. Making sure
        // one runs is a lock probe, cheap once a second.
        if grew {
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() > SUPERVISOR_CHECK {
            mlbench_engine::ensure_supervised(&engine.home, &engine.store, job)?;
            quiet_since = Instant::now();
        }
        tokio::select! {
            () = &mut detach => return Ok(FollowEnd::Detached),
            () = changed.changed_or(poll.next(grew)) => {}
        }
    }
}

/// How long a followed log may stay quiet before the follower checks that the job has a
/// supervisor.
const SUPERVISOR_CHECK: Duration = Duration::from_secs(1);

/// Ctrl-C, or the terminal closing (SIGHUP): both detach a follower, leaving the job running.
async fn detach_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::interrupt()), signal(SignalKind::hangup())) {
        (Ok(mut int), Ok(mut hup)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = hup.recv() => {}
            }
        }
        _ => std::future::pending::<()>().await,
    }
}

/// How long to wait before looking at a file again (unless a [`LogWatch`] wakes the reader):
/// quick while it grows, so a new line shows within milliseconds, a millisecond slower each
/// quiet look (up to 50 ms, reached after about a second), so an idle follow costs next to
/// nothing.
#[derive(Default)]
pub(crate) struct Backoff {
    delay_ms: u64,
}

impl Backoff {
    pub(crate) fn next(&mut self, progressed: bool) -> Duration {
        self.delay_ms = if progressed {
            1
        } else {
            (self.delay_ms + 1).min(50)
        };
        Duration::from_millis(self.delay_ms)
    }
}
