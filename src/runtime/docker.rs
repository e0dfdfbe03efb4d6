//! The Docker Engine runtime, through bollard. Honours `DOCKER_HOST`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::errors::Error as BollardError;
use bollard::models::{ContainerCreateBody, DeviceRequest, HostConfig, HostConfigLogConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::{FutureExt, StreamExt};

use super::{Exit, LaunchSpec, Runtime};
use crate::domain::Capacity;
use crate::domain::output::{OutputSink, ResumeFilter, ResumePoint, Stream, normalize_docker_ts};
use crate::{Error, Result};

pub const JOB_LABEL: &str = "mlbench.job";
pub const HOME_LABEL: &str = "mlbench.home";

/// How long the engine's CPU and memory totals are taken as known: asking costs ~45 ms (the
/// daemon gathers its whole `/info`), which would otherwise sit between submit and start.
const CAPACITY_TTL_SECS: i64 = 600;

#[derive(Clone)]
pub struct DockerRuntime {
    pub(crate) docker: Docker,
    capacity_cache: Option<PathBuf>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CachedCapacity {
    address: String,
    fetched_unix: i64,
    cpus: f64,
    memory_bytes: u64,
}

fn is_not_found(err: &BollardError) -> bool {
    matches!(
        err,
        BollardError::DockerResponseServerError { status_code: 404, .. }
    )
}

impl DockerRuntime {
    /// Connects and agrees on an API version; `Err` says why no engine answered.
    /// `capacity_cache` is a file where the engine's totals are kept between processes.
    pub async fn connect(capacity_cache: Option<PathBuf>) -> Result<DockerRuntime> {
        let docker = Docker::connect_with_defaults()?;
        let docker = tokio::time::timeout(Duration::from_secs(3), docker.negotiate_version())
            .await
            .map_err(|_| Error::Docker("no answer within 3 s".into()))??;
        Ok(DockerRuntime {
            docker,
            capacity_cache,
        })
    }

    /// Where the engine is reached, for messages.
    pub fn address() -> String {
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
    }
}

impl DockerRuntime {
    /// Every container, running or not, that carries all of `labels` (`key=value` each).
    async fn containers_labelled(
        &self,
        labels: Vec<String>,
    ) -> Result<Vec<bollard::models::ContainerSummary>> {
        let filters = HashMap::from([("label".to_string(), labels)]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        Ok(self.docker.list_containers(Some(options)).await?)
    }

    /// Whether the container called `name` carries exactly these labels (home and job).
    async fn is_same_job(&self, name: &str, labels: &HashMap<String, String>) -> bool {
        let Ok(found) = self.docker.inspect_container(name, None).await else {
            return false;
        };
        let theirs = found.config.and_then(|c| c.labels).unwrap_or_default();
        labels.iter().all(|(k, v)| theirs.get(k) == Some(v))
    }

    /// Whether the container holding `name` turns out to be this job's. The daemon reserves a
    /// name before the container it creates can be inspected, so this waits a little for it.
    async fn becomes_same_job(&self, name: &str, labels: &HashMap<String, String>) -> bool {
        for _ in 0..30 {
            if self.is_same_job(name, labels).await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Takes over a job's container from a launch that was cut short: one created but never
    /// started is started now. Returns its id.
    async fn adopt(&self, name_or_id: &str) -> Result<String> {
        let found = self.docker.inspect_container(name_or_id, None).await?;
        let id = found.id.unwrap_or_else(|| name_or_id.to_string());
        let state = found.state.unwrap_or_default();
        let never_started =
            state.running != Some(true) && state.started_at.as_deref().is_none_or(|t| t.starts_with("0001-"));
        if never_started {
            self.docker.start_container(&id, None).await?;
        }
        Ok(id)
    }
}

impl Runtime for DockerRuntime {
    async fn capacity(&self) -> Result<Capacity> {
        let now = chrono::Utc::now().timestamp();
        let address = DockerRuntime::address();
        let cached = self
            .capacity_cache
            .as_ref()
            .and_then(|path| std::fs::read(path).ok())
            .and_then(|bytes| serde_json::from_slice::<CachedCapacity>(&bytes).ok())
            .filter(|c| c.address == address && (0..CAPACITY_TTL_SECS).contains(&(now - c.fetched_unix)));
        let (cpus, memory_bytes) = match cached {
            Some(c) => (c.cpus, c.memory_bytes),
            None => {
                let info = self.docker.info().await?;
                let fresh = CachedCapacity {
                    address,
                    fetched_unix: now,
                    cpus: info.ncpu.unwrap_or(1) as f64,
                    memory_bytes: info.mem_total.unwrap_or(0).max(0) as u64,
                };
                if let (Some(path), Ok(bytes)) = (&self.capacity_cache, serde_json::to_vec(&fresh)) {
                    // Written whole then renamed, so a reader never sees half a file.
                    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
                    if std::fs::write(&tmp, bytes).is_ok() {
                        let _ = std::fs::rename(&tmp, path);
                    }
                }
                (fresh.cpus, fresh.memory_bytes)
            }
        };
        Ok(Capacity {
            cpus,
            memory_bytes,
            gpus: super::host::gpus(),
        })
    }

    async fn launch(&self, spec: &LaunchSpec) -> Result<String> {
        let mut port_bindings = HashMap::new();
        for p in &spec.ports {
            port_bindings.insert(
                format!("{}/tcp", p.container_port),
                Some(vec![PortBinding {
                    host_ip: Some(p.host_ip.to_string()),
                    host_port: Some(p.host_port.to_string()),
                }]),
            );
        }
        // The command is argv as given; a shell only runs if the user writes `sh -c`. None
        // runs the image's own CMD and ENTRYPOINT.
        let (entrypoint, cmd) = match spec.command.split_first() {
            Some((program, args)) => (Some(vec![program.clone()]), Some(args.to_vec())),
            None => (None, None),
        };
        // The devices the queue gave the job, so jobs side by side never share a GPU.
        let gpus = (spec.machine.gpus > 0).then(|| {
            let (count, device_ids) = if spec.gpu_devices.is_empty() {
                (Some(spec.machine.gpus.into()), None)
            } else {
                (
                    None,
                    Some(spec.gpu_devices.iter().map(ToString::to_string).collect()),
                )
            };
            vec![DeviceRequest {
                driver: Some("nvidia".into()),
                count,
                device_ids,
                capabilities: Some(vec![vec!["gpu".into()]]),
                ..Default::default()
            }]
        });
        let memory = i64::try_from(spec.machine.memory_bytes).unwrap_or(i64::MAX);
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            entrypoint,
            cmd,
            env: Some(
                spec.env
                    .iter()
                    .map(|e| format!("{}={}", e.name, e.value))
                    .collect(),
            ),
            working_dir: Some("/workspace".into()),
            user: spec.user.clone(),
            labels: Some(spec.labels.clone()),
            exposed_ports: Some(port_bindings.keys().cloned().collect()),
            host_config: Some(HostConfig {
                binds: Some(vec![
                    format!("{}:/workspace", spec.workspace.display()),
                    format!(
                        "{}:/storage{}",
                        spec.storage.display(),
                        if spec.storage_read_only { ":ro" } else { "" }
                    ),
                ]),
                nano_cpus: Some((spec.machine.cpus * 1e9) as i64),
                memory: Some(memory),
                // Swap equal to memory means none: over the limit is an OOM kill, not a crawl.
                memory_swap: Some(memory),
                device_requests: gpus,
                port_bindings: Some(port_bindings),
                // An init process forwards SIGTERM to the command, so stop is quick.
                init: Some(true),
                // No setuid way up, and a fork bomb stops at the machine type's limit.
                security_opt: Some(vec!["no-new-privileges".into()]),
                pids_limit: Some(i64::from(spec.machine.pids)),
                cap_drop: spec.drop_capabilities.then(|| vec!["ALL".into()]),
                log_config: Some(HostConfigLogConfig {
                    typ: Some("json-file".into()),
                    // mlbench's log file keeps the output; Docker's copy is only the buffer a
                    // follower reads from. A daemon's small rotation (e.g. 3 × 10 MB) drops
                    // lines the follower has not read yet when a job prints fast.
                    config: Some(HashMap::from([
                        ("max-size".to_string(), "1g".to_string()),
                        ("max-file".to_string(), "2".to_string()),
                    ])),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&spec.name).build();
        let created = match self.docker.create_container(Some(options), body).await {
            Ok(created) => created,
            Err(BollardError::DockerResponseServerError { status_code: 404, .. }) => {
                return Err(Error::ImageMissing {
                    image: spec.image.clone(),
                });
            }
            // The name is taken: a launch of this same job was cut short (its process killed
            // while Docker still created the container). That container is this job's.
            Err(BollardError::DockerResponseServerError { status_code: 409, .. })
                if self.becomes_same_job(&spec.name, &spec.labels).await =>
            {
                return self.adopt(&spec.name).await;
            }
            Err(other) => return Err(other.into()),
        };
        if let Err(err) = self.docker.start_container(&created.id, None).await {
            let _ = self.remove(&created.id).await;
            return Err(err.into());
        }
        Ok(created.id)
    }

    async fn find(&self, job: i64, labels: &HashMap<String, String>) -> Result<Option<String>> {
        let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        wanted.push(format!("{JOB_LABEL}={job}"));
        match self
            .containers_labelled(wanted)
            .await?
            .into_iter()
            .find_map(|c| c.id)
        {
            Some(id) => self.adopt(&id).await.map(Some),
            None => Ok(None),
        }
    }

    async fn leftovers(&self, labels: &HashMap<String, String>) -> Result<Vec<(i64, String)>> {
        let wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Ok(self
            .containers_labelled(wanted)
            .await?
            .into_iter()
            .filter_map(|c| {
                let job = c.labels.as_ref()?.get(JOB_LABEL)?.parse().ok()?;
                Some((job, c.id?))
            })
            .collect())
    }

    async fn follow(
        &self,
        handle: &str,
        resume: Option<ResumePoint>,
        log: &mut impl OutputSink,
        live: bool,
    ) -> Result<()> {
        let since = resume.as_ref().map_or(0, |r| r.since_secs.max(0));
        let options = LogsOptionsBuilder::default()
            .follow(live)
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .since(i32::try_from(since).unwrap_or(0))
            .build();
        let mut frames = self.docker.logs(handle, Some(options));
        let mut lines = LineAssembler::new(ResumeFilter::new(resume.as_ref()));
        loop {
            // Write as frames come; flush only when the stream has nothing ready, so a burst
            // is written in large blocks and a quiet job's lines reach the file at once.
            let next = match frames.next().now_or_never() {
                Some(next) => next,
                None => {
                    log.flush()
                        .map_err(|e| Error::io("cannot write the job log", e))?;
                    frames.next().await
                }
            };
            let frame = match next {
                None => break,
                Some(Ok(frame)) => frame,
                Some(Err(err)) if is_not_found(&err) => break,
                Some(Err(err)) => return Err(err.into()),
            };
            let (stream, message) = match frame {
                LogOutput::StdOut { message } => (Stream::Stdout, message),
                LogOutput::StdErr { message } | LogOutput::Console { message } => (Stream::Stderr, message),
                LogOutput::StdIn { .. } => continue,
            };
            lines
                .push(stream, &message, log)
                .map_err(|e| Error::io("cannot write the job log", e))?;
        }
        lines
            .finish(log)
            .map_err(|e| Error::io("cannot write the job log", e))?;
        log.flush().map_err(|e| Error::io("cannot write the job log", e))
    }

    async fn exit_status(&self, handle: &str) -> Result<Option<Exit>> {
        let inspected = match self.docker.inspect_container(handle, None).await {
            Ok(c) => c,
            Err(err) if is_not_found(&err) => return Ok(Some(Exit::Vanished)),
            Err(err) => return Err(err.into()),
        };
        let state = inspected.state.unwrap_or_default();
        if state.running == Some(true) || state.restarting == Some(true) || state.paused == Some(true) {
            return Ok(None);
        }
        if state.started_at.as_deref().is_none_or(|t| t.starts_with("0001-")) {
            return Ok(Some(Exit::Vanished));
        }
        // Docker's own end time: a supervisor that reattaches long after the end records when
        // the job ended, not when it looked.
        let finished_at = state
            .finished_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .filter(|t| t.timestamp() > 0)
            .map(|t| {
                t.with_timezone(&chrono::Utc)
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            });
        Ok(Some(Exit::Code {
            code: state.exit_code.unwrap_or(-1),
            oom_killed: state.oom_killed == Some(true),
            finished_at,
        }))
    }

    async fn stop(&self, handle: &str, grace: Duration) -> Result<()> {
        let options = StopContainerOptionsBuilder::default()
            .t(grace.as_secs().try_into().unwrap_or(i32::MAX))
            .build();
        match self.docker.stop_container(handle, Some(options)).await {
            Err(err) if !is_not_found(&err) => Err(err.into()),
            _ => Ok(()),
        }
    }

    async fn usage(&self, handle: &str) -> Result<Option<super::usage::Usage>> {
        super::usage::of_container(&self.docker, handle).await
    }

    async fn exec(&self, handle: &str, spec: &super::exec::ExecSpec) -> Result<i64> {
        super::exec::in_container(&self.docker, handle, spec).await
    }

    async fn remove(&self, handle: &str) -> Result<()> {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        match self.docker.remove_container(handle, Some(options)).await {
            Err(err) if !is_not_found(&err) => Err(err.into()),
            _ => Ok(()),
        }
    }
}

/// Turns Docker's log frames into whole lines. Each frame is one log entry, `TIMESTAMP text`;
/// an entry without a final newline is part of a longer line (the json-file driver splits
/// lines over 16 KiB), so it is held until the rest of that line arrives.
struct LineAssembler {
    filter: ResumeFilter,
    partial: [Vec<u8>; 2],
}

impl LineAssembler {
    fn new(filter: ResumeFilter) -> LineAssembler {
        LineAssembler {
            filter,
            partial: [Vec::new(), Vec::new()],
        }
    }

    fn push(&mut self, stream: Stream, frame: &[u8], log: &mut impl OutputSink) -> std::io::Result<()> {
        let slot = usize::from(stream == Stream::Stderr);
        let mut rest = frame;
        while !rest.is_empty() {
            let (entry, complete) = match rest.iter().position(|b| *b == b'\n') {
                Some(nl) => (&rest[..nl], true),
                None => (rest, false),
            };
            rest = &rest[(entry.len() + usize::from(complete)).min(rest.len())..];
            let (ts, text) = match entry.iter().position(|b| *b == b' ') {
                Some(sp) => (normalize_docker_ts(&entry[..sp]), &entry[sp + 1..]),
                None => (normalize_docker_ts(entry), &[][..]),
            };
            let Some(ts) = ts else { continue };
            if !complete {
                self.partial[slot].extend_from_slice(text);
                continue;
            }
            // Whole lines are what the file counts, so whole lines are what a resume skips.
            if !self.filter.is_new(stream) {
                self.partial[slot].clear();
                continue;
            }
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            if self.partial[slot].is_empty() {
                log.line(&ts, stream, text)?;
            } else {
                let mut line = std::mem::take(&mut self.partial[slot]);
                line.extend_from_slice(text);
                log.line(&ts, stream, &line)?;
            }
        }
        Ok(())
    }

    /// A last line without a newline is still output.
    fn finish(&mut self, log: &mut impl OutputSink) -> std::io::Result<()> {
        for (slot, stream) in [(0, Stream::Stdout), (1, Stream::Stderr)] {
            if !self.partial[slot].is_empty() {
                let line = std::mem::take(&mut self.partial[slot]);
                log.line(crate::domain::output::now_ts().as_bytes(), stream, &line)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps what a follower writes, as the log file would: `<ts> <o|e|m> <text>`.
    #[derive(Default)]
    struct Lines(Vec<String>);

    impl OutputSink for Lines {
        fn line(&mut self, ts: &[u8], stream: Stream, text: &[u8]) -> std::io::Result<()> {
            let (ts, text) = (String::from_utf8_lossy(ts), String::from_utf8_lossy(text));
            self.0
                .push(format!("{ts} {} {text}", char::from(stream.marker())));
            Ok(())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn frames_become_lines_and_split_lines_are_joined() {
        let mut log = Lines::default();
        let mut lines = LineAssembler::new(ResumeFilter::new(None));
        lines
            .push(Stream::Stdout, b"2026-11-23T12:00:01.1Z first\n", &mut log)
            .unwrap();
        lines
            .push(Stream::Stdout, b"2026-11-23T12:00:01.2Z long-", &mut log)
            .unwrap();
        lines
            .push(Stream::Stderr, b"2026-11-23T12:00:01.25Z err\r\n", &mut log)
            .unwrap();
        lines
            .push(Stream::Stdout, b"2026-11-23T12:00:01.3Z line\n", &mut log)
            .unwrap();
        lines
            .push(Stream::Stdout, b"2026-11-23T12:00:01.4Z tail", &mut log)
            .unwrap();
        lines.finish(&mut log).unwrap();
        let got: Vec<&str> = log.0.iter().map(|l| &l[31..]).collect();
        assert_eq!(got, ["o first", "e err", "o long-line", "o tail"]);
        assert_eq!(log.0[0], "2026-11-23T12:00:01.100000000Z o first");
    }
}
