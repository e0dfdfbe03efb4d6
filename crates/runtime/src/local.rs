//! The local-process runtime: the command runs as a child of its supervisor, in the workspace,
//! with the project's storage at `$MLBENCH_STORAGE`. Used when no Docker Engine answers.
//! Images and resource limits do not apply here; a child cannot outlive its supervisor (it
//! could not be followed again), so a supervisor's death makes the job `lost`.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use mlbench_domain::output::{OutputSink, ResumePoint, Stream};
use mlbench_domain::{Capacity, FromIo};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Child;

use super::lines::RawLines;
use super::{Exit, LaunchSpec, Runtime};
use crate::{Error, Result};

#[derive(Default)]
pub struct LocalRuntime {
    children: Mutex<HashMap<String, Child>>,
}

fn host_memory() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// Whether a process exists and has not yet ended (a zombie has ended).
/// Sends `signal` to the job's process group (the job leads it).
#[allow(unsafe_code)] // libc::kill has no safe wrapper in std
fn signal_group(pid: i32, signal: i32) {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; a gone group is
    // an error return, not undefined behaviour.
    unsafe { libc::kill(-pid, signal) };
}

fn is_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

impl Runtime for LocalRuntime {
    async fn capacity(&self) -> Result<Capacity> {
        Ok(Capacity {
            cpus: std::thread::available_parallelism().map_or(1, std::num::NonZero::get) as f64,
            memory_bytes: host_memory(),
            gpus: super::host::gpus(),
        })
    }

    async fn create(&self, spec: &LaunchSpec) -> Result<String> {
        let (program, args) = spec
            .command
            .split_first()
            .ok_or_else(|| Error::Invalid("the command is empty".into()))?;
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .current_dir(spec.workspace.folder()?)
            .env("MLBENCH_STORAGE", spec.storage.folder()?)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // The job's GPUs, the way CUDA programs on this machine are told which to use.
        if !spec.gpu_devices.is_empty() {
            let devices: Vec<String> = spec.gpu_devices.iter().map(ToString::to_string).collect();
            command.env("CUDA_VISIBLE_DEVICES", devices.join(","));
        }
        // `mlbench` inside a job means this mlbench, as it does in the runtime image.
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(std::path::Path::to_path_buf))
        {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let joined = std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(&path)))
                .map_err(|e| Error::Other(e.to_string()))?;
            command.env("PATH", joined);
        }
        for var in &spec.env {
            command.env(&var.name, &var.value);
        }
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the child when
        // its supervisor dies.
        #[allow(unsafe_code)] // the only way to set the parent-death signal before exec
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|e| Error::Invalid(format!("cannot start {program}: {e}")))?;
        let pid = child
            .id()
            .ok_or_else(|| Error::Other(format!("{program} ended before it could be followed")))?;
        self.children
            .lock()
            .map_err(|_| Error::Other("runtime lock poisoned".into()))?
            .insert(pid.to_string(), child);
        Ok(pid.to_string())
    }

    /// The process started when it was made: its pipes hold its output until it is followed.
    async fn start(&self, _handle: &str) -> Result<()> {
        Ok(())
    }

    async fn find(&self, _job: i64, _labels: &HashMap<String, String>) -> Result<Option<String>> {
        Ok(None)
    }

    async fn follow(
        &self,
        handle: &str,
        _resume: Option<ResumePoint>,
        log: &mut impl OutputSink,
    ) -> Result<()> {
        let (stdout, stderr) = {
            let mut children = self
                .children
                .lock()
                .map_err(|_| Error::Other("runtime lock poisoned".into()))?;
            let Some(child) = children.get_mut(handle) else {
                return Ok(());
            };
            (child.stdout.take(), child.stderr.take())
        };
        // Raw reads, not lines: a line without end must not be held whole (RawLines caps it).
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(Stream, Vec<u8>)>(64);
        let readers = [
            stdout.map(|s| spawn_reader(s, Stream::Stdout, tx.clone())),
            stderr.map(|s| spawn_reader(s, Stream::Stderr, tx.clone())),
        ];
        drop(tx);
        let mut lines = RawLines::default();
        while let Some((stream, bytes)) = rx.recv().await {
            lines
                .push(stream, &bytes, log)
                .map_err(|e| Error::io("cannot write the job log", e))?;
            if rx.is_empty() {
                log.flush()
                    .map_err(|e| Error::io("cannot write the job log", e))?;
            }
        }
        for reader in readers.into_iter().flatten() {
            let _ = reader.await;
        }
        lines
            .finish(log)
            .map_err(|e| Error::io("cannot write the job log", e))?;
        log.flush().map_err(|e| Error::io("cannot write the job log", e))
    }

    async fn exit_status(&self, handle: &str) -> Result<Option<Exit>> {
        let child = self
            .children
            .lock()
            .map_err(|_| Error::Other("runtime lock poisoned".into()))?
            .remove(handle);
        let Some(mut child) = child else {
            return Ok(Some(Exit::Vanished));
        };
        let status = child
            .wait()
            .await
            .map_err(|e| Error::io("cannot wait for the job", e))?;
        use std::os::unix::process::ExitStatusExt;
        let code = status
            .code()
            .map(i64::from)
            .or(status.signal().map(|s| 128 + i64::from(s)))
            .unwrap_or(-1);
        Ok(Some(Exit::Code {
            code,
            oom_killed: false,
            finished_at: None,
        }))
    }

    async fn stop(&self, handle: &str, grace: Duration) -> Result<()> {
        let pid: i32 = handle
            .parse()
            .map_err(|_| Error::Other(format!("bad process id {handle}")))?;
        signal_group(pid, libc::SIGTERM);
        let deadline = tokio::time::Instant::now() + grace;
        while is_alive(pid) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if is_alive(pid) {
            signal_group(pid, libc::SIGKILL);
        }
        Ok(())
    }

    async fn remove(&self, _handle: &str) -> Result<()> {
        Ok(())
    }

    async fn usage(&self, handle: &str) -> Result<Option<super::usage::Usage>> {
        Ok(handle.parse().ok().and_then(super::usage::of_process_group))
    }

    async fn exec(&self, _handle: &str, spec: &super::exec::ExecSpec) -> Result<i64> {
        super::exec::in_workspace(spec).await
    }

    /// A local job's process dies with its supervisor: nothing is ever left over.
    async fn leftovers(&self, _labels: &HashMap<String, String>) -> Result<Vec<(i64, String)>> {
        Ok(Vec::new())
    }
}

fn spawn_reader(
    source: impl AsyncRead + Unpin + Send + 'static,
    stream: Stream,
    tx: tokio::sync::mpsc::Sender<(Stream, Vec<u8>)>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut source = source;
        let mut buf = vec![0u8; 16 << 10];
        loop {
            match source.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.send((stream, buf[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
            }
        }
    })
}
