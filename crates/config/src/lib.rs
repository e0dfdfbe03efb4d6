//! The config file (TOML): defaults and user machine types. An embedded default documents
//! every key and is what a missing file means.

pub mod edit;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod keymap;

pub use error::{Error, Result};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlbench_domain::machine::{self, MachineType, builtin_catalogue};
use mlbench_domain::{EngineAddress, FromIo, JobState, RuntimeKind};
use ratatui::style::Color;
use serde::Deserialize;

use crate::keymap::KeyMap;

pub(crate) const DEFAULT_CONFIG: &str = include_str!("../../../assets/config.toml");

/// The least CPU and memory a container may be limited to.
const MIN_CPUS: f64 = 0.01;
const MIN_MEMORY_BYTES: u64 = 6 << 20;
const MIN_PIDS: u32 = 8;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MachineEntry {
    cpus: f64,
    memory: String,
    #[serde(default)]
    gpus: u32,
    #[serde(default = "default_pids")]
    pids: u32,
}

fn default_pids() -> u32 {
    machine::DEFAULT_PIDS
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct EngineTable {
    host: String,
    #[serde(default)]
    ssh_config: Option<PathBuf>,
    #[serde(default)]
    socket: Option<String>,
    #[serde(default)]
    tls_ca: Option<PathBuf>,
    #[serde(default)]
    tls_cert: Option<PathBuf>,
    #[serde(default)]
    tls_key: Option<PathBuf>,
}

/// A Docker Engine the config names beside the local one (`[engines.NAME]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineEntry {
    pub name: String,
    pub address: EngineAddress,
    /// An ssh config file used instead of the user's (`ssh -F`); for the engine lab, or a key of
    /// its own.
    pub ssh_config: Option<PathBuf>,
    /// The engine's socket on its machine, which SSH forwards.
    pub socket: String,
    /// A `tcp://` engine's TLS files: the CA, the client's certificate and key.
    pub tls: Option<Tls>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Where Docker Engines keep their socket unless the engine's table says otherwise.
pub const DEFAULT_ENGINE_SOCKET: &str = "/var/run/docker.sock";

impl EngineTable {
    fn entry(self, name: &str) -> Result<EngineEntry> {
        let bad = |e: mlbench_domain::Error| Error::Invalid(format!("engines.{name}: {e}"));
        mlbench_domain::engine::check_engine_name(name).map_err(bad)?;
        let address: EngineAddress = self.host.parse().map_err(bad)?;
        let tls = match (self.tls_ca, self.tls_cert, self.tls_key) {
            (None, None, None) => None,
            (Some(ca), Some(cert), Some(key)) => Some(Tls { ca, cert, key }),
            _ => {
                return Err(Error::Invalid(format!(
                    "engines.{name}: give all three of tls_ca, tls_cert and tls_key, or none"
                )));
            }
        };
        if tls.is_some() && !matches!(address, EngineAddress::Tcp { .. }) {
            return Err(Error::Invalid(format!(
                "engines.{name}: tls_ca, tls_cert and tls_key are for a tcp:// engine; {address} is reached without them"
            )));
        }
        if self.ssh_config.is_some() && !matches!(address, EngineAddress::Ssh { .. }) {
            return Err(Error::Invalid(format!(
                "engines.{name}: ssh_config is for an ssh:// engine, not {address}"
            )));
        }
        let socket = self.socket.unwrap_or_else(|| DEFAULT_ENGINE_SOCKET.into());
        if !socket.starts_with('/') {
            return Err(Error::Invalid(format!(
                "engines.{name}: socket {socket:?} is not an absolute path on the engine's machine, such as \"{DEFAULT_ENGINE_SOCKET}\""
            )));
        }
        Ok(EngineEntry {
            name: name.to_string(),
            address,
            ssh_config: self.ssh_config,
            socket,
            tls,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    default_machine: String,
    default_image: String,
    stop_grace_secs: u64,
    max_repo_size: String,
    max_line_size: String,
    disk_use_warning: String,
    workspaces: String,
    run_as: String,
    shell: String,
    exports: String,
    theme: String,
    runtime: String,
    registry: String,
    storage_root: String,
    #[serde(default)]
    machines: BTreeMap<String, MachineEntry>,
    #[serde(default)]
    engines: BTreeMap<String, EngineTable>,
    #[serde(default)]
    keys: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    colors: BTreeMap<String, String>,
}

/// The largest piece a log line may be kept in: a reader holds one piece at a time.
const MAX_LINE_CAP: u64 = 64 << 20;

/// The longest grace a stop gives a job between SIGTERM and SIGKILL: a day.
const MAX_GRACE_SECS: u64 = 86_400;

#[derive(Debug, Clone)]
pub struct Config {
    pub default_machine: String,
    /// `None` means mlbench's runtime image.
    pub default_image: Option<String>,
    pub stop_grace_secs: u64,
    /// A repo folder holding more than this is not copied into a job without `--force`.
    pub max_repo_bytes: u64,
    /// A job's output line longer than this is kept in the log in pieces of this size.
    pub max_line_bytes: usize,
    /// Above this many bytes in the home, the workbench and `doctor` suggest `mlbench gc`.
    pub disk_use_warning_bytes: u64,
    /// Whether Docker jobs share their code's snapshot through an overlay, or copy it.
    pub workspaces: Workspaces,
    /// Who a user's image runs as; `None` keeps the image's own user.
    pub run_as: Option<RunAs>,
    /// The shell a job is entered with (`E`, `mlbench exec`), split into words.
    pub shell: Vec<String>,
    /// Where the workbench's exports go; `None`: the home's `exports/`.
    pub exports: Option<PathBuf>,
    pub machines: Vec<MachineType>,
    /// The workbench's keys: the defaults with `[keys]` (command name → keys) in their place.
    pub keys: KeyMap,
    /// The workbench's job-state colours: the defaults with `[colors]` in their place.
    pub colors: StateColors,
    /// Colours chosen for a light terminal background instead of a dark one.
    pub light: bool,
    /// Where new jobs run; `None` picks Docker when an engine answers, else local processes.
    /// `MLBENCH_RUNTIME` overrides it.
    pub(crate) runtime: Option<RuntimeKind>,
    /// `HOST:PORT` of the registry every Swarm node pulls from.
    pub registry: Option<String>,
    /// A folder mounted at the same path on every Swarm node; jobs' workspaces and projects'
    /// storage live under it.
    pub storage_root: Option<PathBuf>,
    /// The Docker Engines named beside the local one, by name.
    pub engines: Vec<EngineEntry>,
}

/// How a Docker job gets its code from the snapshot (see the config's `workspaces`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workspaces {
    Layered,
    Copied,
}

/// Who a job's container runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunAs {
    /// The user who runs mlbench (files in /storage are theirs).
    Invoking,
    /// `uid` or `uid:gid`.
    Id(String),
}

impl RunAs {
    fn parse(text: &str) -> Result<Option<RunAs>> {
        let text = text.trim();
        // A uid and a gid are 32-bit numbers on Linux.
        let numeric = |part: &str| part.parse::<u32>().is_ok() && part.chars().all(|c| c.is_ascii_digit());
        match text {
            "" => Ok(None),
            "invoking" => Ok(Some(RunAs::Invoking)),
            id if id.split(':').count() <= 2 && id.split(':').all(numeric) => {
                Ok(Some(RunAs::Id(id.to_string())))
            }
            other => Err(Error::Invalid(format!(
                "run_as: {other:?} is not a user: use \"invoking\", a uid, or uid:gid (empty keeps the image's own)"
            ))),
        }
    }
}

/// A colour per job state, in [`JobState::ALL`]'s order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateColors([Color; JobState::ALL.len()]);

impl Default for StateColors {
    fn default() -> StateColors {
        StateColors([
            Color::Gray,
            Color::Gray,
            Color::Cyan,
            Color::Green,
            Color::Red,
            Color::Yellow,
            Color::Blue,
            Color::Magenta,
            Color::DarkGray,
        ])
    }
}

impl StateColors {
    /// The defaults with `overrides` (state name → colour name) in place.
    fn with_overrides(overrides: &BTreeMap<String, String>) -> Result<StateColors> {
        let mut colors = StateColors::default();
        for (name, value) in overrides {
            let row = JobState::ALL
                .iter()
                .position(|s| s.as_str() == name)
                .ok_or_else(|| {
                    let names: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
                    Error::Invalid(format!(
                        "colors.{name} is not a job state: the states are {}",
                        names.join(", ")
                    ))
                })?;
            colors.0[row] = value.parse().map_err(|_| {
                Error::Invalid(format!(
                    "colors.{name}: {value:?} is not a colour (a name such as lightred, or #rrggbb)"
                ))
            })?;
        }
        Ok(colors)
    }

    pub fn of(self, state: JobState) -> Color {
        let row = JobState::ALL.iter().position(|s| *s == state).unwrap_or(0);
        self.0[row]
    }
}

impl Config {
    /// `MLBENCH_CONFIG`, else `$XDG_CONFIG_HOME/mlbench/config.toml`.
    pub fn path() -> Option<PathBuf> {
        std::env::var_os("MLBENCH_CONFIG")
            .map(PathBuf::from)
            .or_else(|| dirs::config_dir().map(|d| d.join("mlbench").join("config.toml")))
    }

    pub fn load() -> Result<Config> {
        match Config::path() {
            Some(path) if path.exists() => Config::load_from(&path),
            _ => Config::parse(DEFAULT_CONFIG),
        }
    }

    /// The config file at `path`.
    pub fn load_from(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(Error::at(path, "cannot read config"))?;
        Config::parse(&text).map_err(|e| Error::Invalid(format!("config {}: {e}", path.display())))
    }

    /// Parses a config; keys the file leaves out take the embedded default's value.
    pub fn parse(text: &str) -> Result<Config> {
        let defaults: toml::Table = DEFAULT_CONFIG
            .parse()
            .map_err(|e| Error::Invalid(format!("{e}")))?;
        let user: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| Error::Invalid(one_line(&e)))?;
        let mut merged = defaults.clone();
        merged.extend(user.clone());
        let file: ConfigFile = merged.try_into().map_err(|e: toml::de::Error| {
            // The merged table has no positions: name the key whose value is wrong.
            let culprit = user.iter().find(|(key, value)| {
                let mut alone = defaults.clone();
                alone.insert((*key).clone(), (*value).clone());
                alone.try_into::<ConfigFile>().is_err()
            });
            match culprit {
                Some((key, _)) if !e.message().contains("unknown field") => {
                    Error::Invalid(format!("{key}: {}", one_line(&e)))
                }
                _ => Error::Invalid(one_line(&e)),
            }
        })?;
        let mut machines = builtin_catalogue();
        for (name, entry) in file.machines {
            // Docker's own floors: it refuses less than 0.01 CPU or 6 MiB at launch, after the
            // job was stored; refusing here keeps the job from being stored at all.
            if !(entry.cpus.is_finite() && entry.cpus >= MIN_CPUS) {
                return Err(Error::Invalid(format!(
                    "machine type {name}: cpus must be a number of at least {MIN_CPUS}, not {}",
                    entry.cpus
                )));
            }
            let memory_bytes = machine::parse_bytes(&entry.memory)
                .map_err(|e| Error::Invalid(format!("machine type {name}: {e}")))?;
            if memory_bytes < MIN_MEMORY_BYTES {
                return Err(Error::Invalid(format!(
                    "machine type {name}: memory must be at least 6MiB, not {}",
                    entry.memory
                )));
            }
            if entry.pids < MIN_PIDS {
                return Err(Error::Invalid(format!(
                    "machine type {name}: pids must be at least {MIN_PIDS} (the job's init and command), not {}",
                    entry.pids
                )));
            }
            let custom = MachineType {
                name: name.clone(),
                cpus: entry.cpus,
                memory_bytes,
                gpus: entry.gpus,
                pids: entry.pids,
            };
            match machines.iter_mut().find(|m| m.name == name) {
                Some(existing) => *existing = custom,
                None => machines.push(custom),
            }
        }
        let config = Config {
            default_machine: file.default_machine,
            default_image: Some(file.default_image).filter(|s| !s.trim().is_empty()),
            stop_grace_secs: match file.stop_grace_secs {
                secs @ 0..=MAX_GRACE_SECS => secs,
                secs => {
                    return Err(Error::Invalid(format!(
                        "stop_grace_secs: {secs} is more than a day ({MAX_GRACE_SECS}): a stop would hang that long; give fewer seconds"
                    )));
                }
            },
            max_repo_bytes: machine::parse_bytes(&file.max_repo_size)
                .map_err(|e| Error::Invalid(format!("max_repo_size: {e}")))?,
            max_line_bytes: match machine::parse_bytes(&file.max_line_size)
                .map_err(|e| Error::Invalid(format!("max_line_size: {e}")))?
            {
                bytes @ 1024..=MAX_LINE_CAP => bytes as usize,
                _ => {
                    return Err(Error::Invalid(format!(
                        "max_line_size: {:?} is not between 1KiB and 64MiB: a line is kept in pieces of this size",
                        file.max_line_size
                    )));
                }
            },
            disk_use_warning_bytes: machine::parse_bytes(&file.disk_use_warning)
                .map_err(|e| Error::Invalid(format!("disk_use_warning: {e}")))?,
            workspaces: match file.workspaces.as_str() {
                "layered" => Workspaces::Layered,
                "copied" => Workspaces::Copied,
                other => {
                    return Err(Error::Invalid(format!(
                        "workspaces: {other:?} is not a way to give jobs their code: use \"layered\" or \"copied\""
                    )));
                }
            },
            run_as: RunAs::parse(&file.run_as)?,
            shell: match file
                .shell
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
            {
                words if words.is_empty() => {
                    return Err(Error::Invalid(
                        "shell: empty: name the shell to enter jobs with, such as \"sh\" or \"bash -l\""
                            .into(),
                    ));
                }
                words => words,
            },
            exports: match file.exports.trim() {
                "" => None,
                path if Path::new(path).is_absolute() => Some(PathBuf::from(path)),
                path => {
                    return Err(Error::Invalid(format!(
                        "exports: {path:?} is relative: give an absolute folder (or leave it empty for the home's exports/)"
                    )));
                }
            },
            machines,
            keys: KeyMap::with_overrides(&file.keys).map_err(Error::Invalid)?,
            colors: StateColors::with_overrides(&file.colors)?,
            runtime: match file.runtime.as_str() {
                "auto" | "" => None,
                name => Some(
                    name.parse()
                        .map_err(|e| Error::Invalid(format!("runtime: {e}")))?,
                ),
            },
            registry: parse_registry(&file.registry)?,
            storage_root: match file.storage_root.trim() {
                "" => None,
                root if Path::new(root).is_absolute() => Some(PathBuf::from(root)),
                root => {
                    return Err(Error::Invalid(format!(
                        "storage_root: {root:?} is not an absolute path: name the shared folder as every node mounts it, such as \"/mnt/mlbench\""
                    )));
                }
            },
            engines: file
                .engines
                .into_iter()
                .map(|(name, table)| table.entry(&name))
                .collect::<Result<_>>()?,
            light: match file.theme.as_str() {
                "dark" => false,
                "light" => true,
                other => {
                    return Err(Error::Invalid(format!(
                        "theme: {other:?} is not a theme: use \"dark\" (a dark terminal background) or \"light\""
                    )));
                }
            },
        };
        config.machine(&config.default_machine)?;
        Ok(config)
    }

    /// The runtime `MLBENCH_RUNTIME` names, else the config's; `None` is auto.
    pub fn chosen_runtime(&self) -> Result<Option<RuntimeKind>> {
        match std::env::var("MLBENCH_RUNTIME") {
            Ok(name) if !name.is_empty() && name != "auto" => Ok(Some(
                name.parse()
                    .map_err(|e| Error::Invalid(format!("MLBENCH_RUNTIME: {e}")))?,
            )),
            _ => Ok(self.runtime),
        }
    }

    /// The engine the config names `name`; `None` for `local`, the one `DOCKER_HOST` names.
    pub fn engine(&self, name: &str) -> Result<Option<&EngineEntry>> {
        if name == mlbench_domain::LOCAL_ENGINE {
            return Ok(None);
        }
        self.engines.iter().find(|e| e.name == name).map(Some).ok_or_else(|| {
            let mut names = vec![mlbench_domain::LOCAL_ENGINE];
            names.extend(self.engines.iter().map(|e| e.name.as_str()));
            Error::Invalid(format!(
                "engine {name:?} is not in the config: choose one of {} (`mlbench engines add NAME HOST` names another)",
                names.join(", ")
            ))
        })
    }

    pub fn machine(&self, name: &str) -> Result<&MachineType> {
        self.machines
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let names: Vec<&str> = self.machines.iter().map(|m| m.name.as_str()).collect();
                Error::Invalid(format!(
                    "machine type {name:?} is unknown: choose one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// A registry as images name it: `HOST[:PORT]`, no scheme and no path.
fn parse_registry(text: &str) -> Result<Option<String>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let (host, port) = text.split_once(':').unwrap_or((text, "1"));
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if !host_ok || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(Error::Invalid(format!(
            "registry: {text:?} is not HOST:PORT: name it as images do, such as \"10.0.0.2:5000\" (no http://, no path)"
        )));
    }
    Ok(Some(text.to_string()))
}

fn one_line(err: &toml::de::Error) -> String {
    let span = err
        .span()
        .map(|s| format!(" (at byte {})", s.start))
        .unwrap_or_default();
    format!("{}{span}", err.message())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses() {
        let config = Config::parse(DEFAULT_CONFIG).unwrap();
        assert_eq!(config.default_machine, "G1");
        assert_eq!(config.default_image, None);
        assert!(config.machine("c3").is_ok());
    }

    #[test]
    fn user_machines_join_the_catalogue() {
        let config = Config::parse("[machines.TINY]\ncpus = 0.5\nmemory = \"64MiB\"\n").unwrap();
        let tiny = config.machine("TINY").unwrap();
        assert_eq!((tiny.cpus, tiny.memory_bytes, tiny.gpus), (0.5, 64 << 20, 0));
        assert_eq!(config.stop_grace_secs, 10);
    }

    #[test]
    fn workbench_keys_and_colours_are_read() {
        let config = Config::parse("[keys]\nstop = [\"Delete\"]\n[colors]\nrunning = \"blue\"\n").unwrap();
        let delete = crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Delete);
        assert_eq!(
            config.keys.lookup(crate::keymap::Screen::Workbench, delete),
            Some(crate::keymap::Command::Stop)
        );
        assert_eq!(config.colors.of(JobState::Running), Color::Blue);
    }

    #[test]
    fn bad_config_says_what_is_wrong() {
        let err = Config::parse("[machines.X]\ncpus = 1\nmemory = \"lots\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("machine type X"), "{err}");
        let err = Config::parse("colour = 1\n").unwrap_err().to_string();
        assert!(err.contains("unknown field"), "{err}");
        let err = Config::parse("default_machine = \"Z9\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"Z9\" is unknown"), "{err}");
    }
}
