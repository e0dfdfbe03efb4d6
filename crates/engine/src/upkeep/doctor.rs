//! `mlbench doctor`: what this machine has for mlbench and what is wrong, one finding per line,
//! each failure with its fix. It reads and asks; it changes nothing but creating the home.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use mlbench_config::Config;
use mlbench_domain::RuntimeKind;
use mlbench_domain::numfmt::human_bytes;
use mlbench_runtime::images::{RuntimeImage, runtime_tag};
use mlbench_runtime::{DockerRuntime, SwarmRuntime};
use mlbench_store::home::Home;
use mlbench_store::{SCHEMA_VERSION, file_schema_version};
use serde::Serialize;

use crate::disk;

/// Below this much free space a job's log, workspace or model may not fit.
const MIN_FREE_BYTES: u64 = 256 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Worth knowing, nothing to fix (the runtime image is built on first use, say).
    Note,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do, for a failure or a note that has an action.
    pub fix: Option<String>,
}

impl Finding {
    pub fn ok(check: &'static str, detail: String) -> Finding {
        Finding {
            check,
            status: Status::Ok,
            detail,
            fix: None,
        }
    }

    pub fn note(check: &'static str, detail: String, fix: Option<String>) -> Finding {
        Finding {
            check,
            status: Status::Note,
            detail,
            fix,
        }
    }

    pub fn fail(check: &'static str, detail: String, fix: String) -> Finding {
        Finding {
            check,
            status: Status::Fail,
            detail,
            fix: Some(fix),
        }
    }

    /// The finding as one line: what was found, then what to do.
    pub fn line(&self) -> String {
        match &self.fix {
            Some(fix) => format!("{}: {}: {fix}", self.check, self.detail),
            None => format!("{}: {}", self.check, self.detail),
        }
    }
}

/// Every check but the terminal's (the face that has one checks it), in the order a problem
/// in one explains those after it.
pub fn diagnose() -> LocalBoxFuture<'static, Vec<Finding>> {
    Box::pin(async move {
        let mut found = Vec::new();
        let config = check_config(&mut found);
        let home = check_home(&mut found, config.as_ref());
        if let Some(home) = &home {
            check_store(&mut found, home);
            check_disk(&mut found, home, config.as_ref());
        }
        if let Some(config) = &config {
            check_runtime(&mut found, config).await;
        }
        found
    })
}

fn check_config(found: &mut Vec<Finding>) -> Option<Config> {
    let place = Config::path().map_or_else(
        || "no config folder is known".to_string(),
        |p| p.display().to_string(),
    );
    match Config::load() {
        Ok(config) => {
            let detail = match Config::path() {
                Some(path) if path.exists() => format!("{place} is valid"),
                _ => format!("no file at {place}: the defaults apply"),
            };
            found.push(Finding::ok("config", detail));
            Some(config)
        }
        Err(err) => {
            found.push(Finding::fail(
                "config",
                mlbench_domain::error::brief(&err.to_string()),
                "fix what it names (assets/config.toml documents every key), or set MLBENCH_CONFIG to another file".into(),
            ));
            None
        }
    }
}

fn check_home(found: &mut Vec<Finding>, config: Option<&Config>) -> Option<Home> {
    let home = match Home::discover() {
        Ok(home) => home,
        Err(err) => {
            found.push(Finding::fail(
                "home",
                mlbench_domain::error::brief(&err.to_string()),
                "make the folder writable, or set MLBENCH_HOME to one that is".into(),
            ));
            return None;
        }
    };
    let root = home.root();
    let finding = match std::fs::metadata(root) {
        Ok(meta) if meta.uid() != current_uid() => Finding::fail(
            "home",
            format!("{} belongs to uid {}, not to you", root.display(), meta.uid()),
            "run mlbench as that user, or set MLBENCH_HOME to a folder of yours".into(),
        ),
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => Finding::fail(
            "home",
            format!(
                "{} is open to others (mode {:o}): jobs' env values may be read",
                root.display(),
                meta.permissions().mode() & 0o777
            ),
            format!("chmod 700 {}", root.display()),
        ),
        Ok(_) => match tempfile::tempfile_in(root) {
            Ok(_) => Finding::ok("home", format!("{} (yours, mode 700, writable)", root.display())),
            Err(err) => Finding::fail(
                "home",
                format!("cannot write in {}: {err}", root.display()),
                "free space or fix its permissions, or set MLBENCH_HOME to another folder".into(),
            ),
        },
        Err(err) => Finding::fail(
            "home",
            format!("cannot read {}: {err}", root.display()),
            "set MLBENCH_HOME to a folder of yours".into(),
        ),
    };
    found.push(finding);
    // Jobs' files live under the config's storage_root when it names one, as for every
    // command: the disk checks look there too.
    let storage_root = config.and_then(|c| c.storage_root.as_deref());
    match home.clone().sharing(storage_root) {
        Ok(shared) => Some(shared),
        Err(err) => {
            found.push(Finding::fail(
                "home",
                mlbench_domain::error::brief(&err.to_string()),
                "mount the shared folder at storage_root, or fix the config".into(),
            ));
            Some(home)
        }
    }
}

fn current_uid() -> u32 {
    std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid())
}

fn check_store(found: &mut Vec<Finding>, home: &Home) {
    let path = home.db_path();
    let finding = if !path.exists() {
        Finding::ok("store", format!("{} is made on first use", path.display()))
    } else {
        match file_schema_version(&path) {
            Ok(version) if version > SCHEMA_VERSION => Finding::fail(
                "store",
                format!(
                    "{} was written by a newer mlbench (schema {version}, this one knows {SCHEMA_VERSION})",
                    path.display()
                ),
                "upgrade mlbench, or set MLBENCH_HOME to another home".into(),
            ),
            Ok(version) if version < SCHEMA_VERSION => Finding::note(
                "store",
                format!(
                    "{} is at schema {version}; the next command moves it to {SCHEMA_VERSION}, keeping every job",
                    path.display()
                ),
                None,
            ),
            Ok(_) => Finding::ok("store", format!("{} (schema {SCHEMA_VERSION})", path.display())),
            Err(err) => Finding::fail(
                "store",
                format!(
                    "cannot read {}: {}",
                    path.display(),
                    mlbench_domain::error::brief(&err.to_string())
                ),
                "restore it from a backup, or set MLBENCH_HOME to another home".into(),
            ),
        }
    };
    found.push(finding);
}

fn check_disk(found: &mut Vec<Finding>, home: &Home, config: Option<&Config>) {
    for folder in home.folders() {
        found.push(match disk::free_bytes(folder) {
            Ok(free) if free < MIN_FREE_BYTES => Finding::fail(
                "disk",
                format!(
                    "{} free under {} (mlbench needs {} for jobs' logs, workspaces and models)",
                    human_bytes(free),
                    folder.display(),
                    human_bytes(MIN_FREE_BYTES)
                ),
                "free space there (`mlbench gc` removes what finished jobs left), or set MLBENCH_HOME to a bigger disk".into(),
            ),
            Ok(free) => Finding::ok("disk", format!("{} free under {}", human_bytes(free), folder.display())),
            Err(err) => Finding::fail(
                "disk",
                mlbench_domain::error::brief(&err.to_string()),
                "set MLBENCH_HOME to a folder on a mounted disk".into(),
            ),
        });
    }
    if let Some(config) = config {
        found.push(home_use(home, config.disk_use_warning_bytes));
    }
}

/// How much the home holds against the config's `disk_use_warning`.
fn home_use(home: &Home, warning_bytes: u64) -> Finding {
    let used = home
        .folders()
        .iter()
        .map(|dir| disk::used_bytes(dir))
        .sum::<u64>();
    if used > warning_bytes {
        Finding::fail(
            "disk use",
            format!(
                "the mlbench home holds {}, above disk_use_warning ({})",
                human_bytes(used),
                human_bytes(warning_bytes)
            ),
            "`mlbench gc --older-than 30d --dry-run` shows what finished jobs left; run it without --dry-run to free it".into(),
        )
    } else {
        Finding::ok(
            "disk use",
            format!(
                "the mlbench home holds {} (warning above {})",
                human_bytes(used),
                human_bytes(warning_bytes)
            ),
        )
    }
}

async fn check_runtime(found: &mut Vec<Finding>, config: &Config) {
    let chosen = match config.chosen_runtime() {
        Ok(chosen) => chosen,
        Err(err) => {
            found.push(Finding::fail(
                "runtime",
                err.to_string(),
                "set MLBENCH_RUNTIME to auto, docker, local or swarm".into(),
            ));
            return;
        }
    };
    match chosen {
        Some(RuntimeKind::Local) => found.push(Finding::note(
            "runtime",
            "local: jobs run as processes on this machine, without containers or limits".into(),
            None,
        )),
        Some(RuntimeKind::Swarm) => {
            if check_engine(found, "manager").await.is_some() {
                check_swarm(found, config).await;
            }
        }
        Some(RuntimeKind::Docker) | None => {
            if let Some(engine) = check_engine(found, "docker").await {
                found.push(check_runtime_image(&engine).await);
            }
        }
    }
}

/// The Docker Engine: where, which, and whether machine types can be enforced.
async fn check_engine(found: &mut Vec<Finding>, check: &'static str) -> Option<DockerRuntime> {
    let address = DockerRuntime::address();
    let engine = match DockerRuntime::connect(None).await {
        Ok(engine) => engine,
        Err(err) => {
            found.push(unreachable_engine(check, &address, &err.to_string()));
            return None;
        }
    };
    let info = match engine.info().await {
        Ok(info) => info,
        Err(err) => {
            found.push(unreachable_engine(check, &address, &err.to_string()));
            return None;
        }
    };
    let version = info.server_version.as_deref().unwrap_or("?");
    let api = engine.api_version();
    let driver = info.driver.as_deref().unwrap_or("?");
    let cgroup = info
        .cgroup_version
        .map_or_else(|| "?".to_string(), |v| v.to_string());
    let cgroup_driver = info
        .cgroup_driver
        .map_or_else(|| "?".to_string(), |d| d.to_string());
    let about = format!(
        "Docker Engine {version} (API {api}) at {address}: storage {driver}, cgroup v{cgroup} ({cgroup_driver})"
    );
    let missing: Vec<&str> = [
        (info.memory_limit, "memory"),
        (info.cpu_cfs_quota, "CPU"),
        (info.pids_limit, "pids"),
    ]
    .iter()
    .filter(|(works, _)| *works != Some(true))
    .map(|(_, name)| *name)
    .collect();
    found.push(if missing.is_empty() {
        Finding::ok(
            check,
            format!("{about}; memory, CPU and pids limits work, and OOM kills are reported"),
        )
    } else {
        let oom = if missing.contains(&"memory") {
            " and OOM kills are not reported"
        } else {
            ""
        };
        Finding::fail(
            check,
            format!(
                "{about}; {} limits do not work{oom}: machine types are not enforced",
                missing.join(", ")
            ),
            "enable those cgroup controllers (cgroup v2: the kernel's systemd.unified_cgroup_hierarchy=1) and restart the engine".into(),
        )
    });
    Some(engine)
}

fn unreachable_engine(check: &'static str, address: &str, reason: &str) -> Finding {
    let reason = mlbench_domain::error::brief(reason);
    let socket = address.strip_prefix("unix://").map(Path::new);
    if socket.is_some_and(|s| !s.exists()) {
        Finding::fail(
            check,
            format!(
                "no Docker Engine: nothing at {address}; jobs run as local processes, without containers or limits"
            ),
            "install Docker Engine (apt-get install docker.io) and start it, or point DOCKER_HOST at one"
                .into(),
        )
    } else {
        Finding::fail(
            check,
            format!("the Docker Engine at {address} does not answer ({reason})"),
            "start it (systemctl start docker), or point DOCKER_HOST at one that runs".into(),
        )
    }
}

async fn check_runtime_image(engine: &DockerRuntime) -> Finding {
    let tag = runtime_tag();
    match engine.runtime_image().await {
        Ok(RuntimeImage::Current) => Finding::ok("image", format!("{tag} holds this build's mlbench-job")),
        Ok(RuntimeImage::OfAnotherBinary) => Finding::note(
            "image",
            format!("{tag} holds another build's mlbench-job: the next job rebuilds it (a few seconds)"),
            Some("mlbench images build-runtime".into()),
        ),
        Ok(RuntimeImage::Missing) => Finding::note(
            "image",
            format!("{tag} is not built yet: the first job builds it from mlbench-job (a few seconds)"),
            Some("mlbench images build-runtime".into()),
        ),
        Err(err) => Finding::fail(
            "image",
            format!(
                "cannot inspect {tag}: {}",
                mlbench_domain::error::brief(&err.to_string())
            ),
            "check the engine's logs".into(),
        ),
    }
}

/// The swarm behind the manager: its nodes, the registry they pull from, the shared root.
async fn check_swarm(found: &mut Vec<Finding>, config: &Config) {
    let swarm = match SwarmRuntime::connect(config.registry.clone()).await {
        Ok(swarm) => swarm,
        Err(err) => {
            found.push(Finding::fail(
                "swarm",
                mlbench_domain::error::brief(&err.to_string()),
                "point DOCKER_HOST at a manager of your swarm".into(),
            ));
            return;
        }
    };
    found.push(match swarm.nodes(None).await {
        Ok(nodes) => {
            let taking = nodes.iter().filter(|n| n.takes_jobs()).count();
            let names: Vec<String> = nodes
                .iter()
                .map(|n| format!("{} {}/{}", n.name, n.state, n.availability))
                .collect();
            let detail = format!(
                "{} nodes, {taking} taking jobs ({})",
                nodes.len(),
                names.join(", ")
            );
            if taking == 0 {
                Finding::fail(
                    "nodes",
                    detail,
                    "bring a node up, or `docker node update --availability active NODE`".into(),
                )
            } else {
                Finding::ok("nodes", detail)
            }
        }
        Err(err) => Finding::fail(
            "nodes",
            mlbench_domain::error::brief(&err.to_string()),
            "check the manager's logs".into(),
        ),
    });
    found.push(match &config.registry {
        None => Finding::fail(
            "registry",
            "none configured: nodes cannot get images that only the manager has".into(),
            "set registry = \"HOST:PORT\" in the config".into(),
        ),
        Some(registry) => {
            let url = format!("http://{registry}/v2/");
            match crate::serving::client::send(&url, "GET", None, Duration::from_secs(3)).await {
                Ok(response) if response.status == 200 || response.status == 401 => {
                    Finding::ok("registry", format!("{registry} answers"))
                }
                Ok(response) => Finding::fail(
                    "registry",
                    format!("{url} answered {}", response.status),
                    "check that registry is a Docker registry (API v2)".into(),
                ),
                Err(err) => Finding::fail(
                    "registry",
                    format!(
                        "{registry} does not answer: {}",
                        mlbench_domain::error::brief(&err.to_string())
                    ),
                    "start the registry, or fix registry in the config".into(),
                ),
            }
        }
    });
    found.push(match &config.storage_root {
        None => Finding::fail(
            "storage",
            "no storage_root: jobs on other nodes would not see their files".into(),
            "mount a shared folder at the same path on every node and set storage_root to it".into(),
        ),
        Some(root) => match tempfile::tempfile_in(root) {
            Ok(_) => Finding::ok(
                "storage",
                format!(
                    "{} is writable (mount it at the same path on every node)",
                    root.display()
                ),
            ),
            Err(err) => Finding::fail(
                "storage",
                format!("cannot write in storage_root {}: {err}", root.display()),
                "mount the shared folder there and make it writable".into(),
            ),
        },
    });
}
