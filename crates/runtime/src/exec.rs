//! A command run inside a live job with the user's terminal attached (`E` in the workbench,
//! `mlbench exec`): what to run, and the terminal's keys read without stealing any from
//! whoever reads the terminal next.

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt;
use mlbench_domain::{EnvVar, FromIo};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::{Error, Result};

/// What to run inside a job.
#[derive(Debug, Clone)]
pub struct ExecSpec {
    pub command: Vec<String>,
    /// Give the command a terminal (the user's is one).
    pub tty: bool,
    /// The terminal's columns and rows, for a `tty` command.
    pub size: Option<(u16, u16)>,
    /// Where a local job's command runs (a container's runs where the container works).
    pub workdir: PathBuf,
    /// A local job's environment (a container has its own).
    pub env: Vec<EnvVar>,
}

/// Runs the command in the job's container through the engine's exec API, the terminal's
/// keys in and its output out (stderr apart unless it is a terminal), following the
/// terminal's size; returns the command's exit code.
pub(crate) async fn in_container(docker: &Docker, container: &str, spec: &ExecSpec) -> Result<i64> {
    let created = docker
        .create_exec(
            container,
            CreateExecOptions {
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(spec.tty),
                env: spec.tty.then(|| vec!["TERM=xterm-256color".to_string()]),
                cmd: Some(spec.command.clone()),
                ..Default::default()
            },
        )
        .await?;
    let options = StartExecOptions {
        detach: false,
        tty: spec.tty,
        output_capacity: None,
    };
    let StartExecResults::Attached {
        mut output,
        mut input,
    } = docker.start_exec(&created.id, Some(options)).await?
    else {
        return Err(Error::Docker("the engine started the command detached".into()));
    };
    let resize =
        |(width, height): (u16, u16)| docker.resize_exec(&created.id, ResizeExecOptions { height, width });
    if let Some(size) = spec.size.filter(|_| spec.tty) {
        // A shell that has already ended cannot be resized: nothing to report.
        let _ = resize(size).await;
    }
    // The command's terminal echoes and edits: this one passes every key on as typed.
    let raw = spec.tty && crossterm::terminal::enable_raw_mode().is_ok();
    let (typed_tx, mut typed) = unbounded_channel();
    let pump = StdinPump::start(typed_tx);
    let mut window = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok();
    let (mut stdout, mut stderr) = (tokio::io::stdout(), tokio::io::stderr());
    let mut stdin_open = true;
    let ended: Result<()> = loop {
        tokio::select! {
            frame = output.next() => match frame {
                Some(Ok(LogOutput::StdErr { message })) => {
                    let _ = stderr.write_all(&message).await;
                    let _ = stderr.flush().await;
                }
                Some(Ok(frame)) => {
                    let _ = stdout.write_all(&frame.into_bytes()).await;
                    let _ = stdout.flush().await;
                }
                Some(Err(e)) => break Err(e.into()),
                None => break Ok(()),
            },
            keys = typed.recv(), if stdin_open => match keys {
                Some(keys) => {
                    if input.write_all(&keys).await.is_err() {
                        stdin_open = false;
                    }
                }
                None => {
                    stdin_open = false;
                    let _ = input.shutdown().await;
                }
            },
            Some(()) = async { window.as_mut()?.recv().await }, if spec.tty => {
                if let Ok(size) = crossterm::terminal::size() {
                    let _ = resize(size).await;
                }
            }
        }
    };
    drop(pump);
    if raw {
        let _ = crossterm::terminal::disable_raw_mode();
    }
    ended?;
    let inspected = docker.inspect_exec(&created.id).await?;
    Ok(inspected.exit_code.unwrap_or(-1))
}

/// Runs the command as a child in a local job's workspace, with its environment, on this
/// terminal; returns its exit code.
pub(crate) async fn in_workspace(spec: &ExecSpec) -> Result<i64> {
    let Some((program, args)) = spec.command.split_first() else {
        return Err(Error::Invalid("no command to run in the job".into()));
    };
    // The child shares this terminal and its Ctrl-C: mlbench waits instead of dying of it
    // (tokio's handler stays installed, which is harmless for a process that then exits or
    // reads keys in raw mode).
    let _interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    let _quit = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::quit());
    let status = tokio::process::Command::new(program)
        .args(args)
        .current_dir(&spec.workdir)
        .envs(spec.env.iter().map(|e| (&e.name, &e.value)))
        .status()
        .await
        .map_err(|e| Error::io(format!("cannot run {program} in the job's workspace"), e))?;
    // A command ended by a signal reports it as a shell does: 128 + the signal.
    Ok(status.code().map_or_else(
        || 128 + i64::from(std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)),
        i64::from,
    ))
}

/// How long the key reader waits before it looks whether it should stop: the delay between a
/// command's end and the terminal going back to its next reader.
const STDIN_POLL_MS: i32 = 50;

/// Reads what is typed at the terminal (stdin) and sends it on, on a thread of its own. It
/// reads only what is already there, so once stopped no key typed later is consumed.
pub(crate) struct StdinPump {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StdinPump {
    pub(crate) fn start(typed: UnboundedSender<Vec<u8>>) -> StdinPump {
        StdinPump::start_on(std::io::stdin().as_raw_fd(), typed)
    }

    /// Reads `fd` (which must stay open while the pump runs) instead of stdin.
    fn start_on(fd: i32, typed: UnboundedSender<Vec<u8>>) -> StdinPump {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stopping.load(Ordering::SeqCst) {
                if !readable(fd, STDIN_POLL_MS) {
                    continue;
                }
                match read(fd, &mut buf) {
                    // End of input: the command gets end of input too.
                    0 => return,
                    n if n > 0 => {
                        if typed.send(buf[..n as usize].to_vec()).is_err() {
                            return;
                        }
                    }
                    _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
                    _ => return,
                }
            }
        });
        StdinPump {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for StdinPump {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether `fd` has bytes to read (or has ended) within `timeout_ms`.
#[allow(unsafe_code)] // poll(2) has no safe wrapper in std
fn readable(fd: i32, timeout_ms: i32) -> bool {
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, its count 1; poll writes only its revents.
    let ready = unsafe { libc::poll(&raw mut poll, 1, timeout_ms) };
    ready > 0 && poll.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
}

/// One read(2) of what is there: bytes read, 0 at the end, negative on an error.
#[allow(unsafe_code)] // std's stdin is buffered: it could read past what the command takes
fn read(fd: i32, buf: &mut [u8]) -> isize {
    // SAFETY: the pointer and length describe `buf`, which lives through the call.
    unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pump passes on what is typed, and once stopped leaves later input unread.
    #[test]
    fn a_stopped_pump_leaves_later_input_alone() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (reader, mut writer) = std::io::pipe().unwrap();
        let fd = reader.as_raw_fd();
        assert!(!readable(fd, 10));
        let pump = StdinPump::start_on(fd, tx);
        std::io::Write::write_all(&mut writer, b"ls\n").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let typed = loop {
            if let Ok(bytes) = rx.try_recv() {
                break bytes;
            }
            assert!(std::time::Instant::now() < deadline, "nothing passed on");
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert_eq!(typed, b"ls\n");
        drop(pump);
        std::io::Write::write_all(&mut writer, b"q").unwrap();
        let mut buf = [0u8; 16];
        assert!(readable(fd, 10));
        assert_eq!(
            read(fd, &mut buf),
            1,
            "the key typed after the stop is still there"
        );
        assert_eq!(buf[0], b'q');
        drop(writer);
        assert!(readable(fd, 10), "the end of input is readable");
        assert_eq!(read(fd, &mut buf), 0);
    }
}
