//! Jobs: what to run (the spec) and where it is in its life (the state machine).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::PortMapping;
use crate::Error;

/// Where a job's code comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Source {
    /// A folder on this machine, copied into the job's workspace.
    Folder { path: PathBuf },
    /// A git repository cloned at a branch, tag or commit.
    Git { url: String, reference: Option<String> },
}

impl Source {
    /// Tells a git URL from a folder: URLs with a scheme or scp-like `user@host:path`, or any
    /// path when a ref is asked for (only git knows refs).
    pub fn parse(repo: &str, reference: Option<String>) -> Source {
        let is_url =
            repo.contains("://") || (repo.contains('@') && repo.contains(':') && !repo.starts_with('/'));
        if is_url || reference.is_some() {
            Source::Git {
                url: repo.to_string(),
                reference,
            }
        } else {
            Source::Folder {
                path: PathBuf::from(repo),
            }
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Folder { path } => write!(f, "{}", path.display()),
            Source::Git {
                url,
                reference: Some(r),
            } => write!(f, "{url}@{r}"),
            Source::Git { url, reference: None } => write!(f, "{url}"),
        }
    }
}

/// Letters, digits and `_`, not starting with a digit: what environment variables and sweep
/// parameters are named.
pub(crate) fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

impl FromStr for EnvVar {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let (name, value) = text
            .split_once('=')
            .ok_or_else(|| Error::Invalid(format!("environment variable {text:?} is not KEY=VALUE")))?;
        if !is_identifier(name) {
            return Err(Error::Invalid(format!(
                "environment variable name {name:?} is not valid: use letters, digits and '_'"
            )));
        }
        Ok(EnvVar {
            name: name.to_string(),
            value: value.to_string(),
        })
    }
}

/// What a job is for: a run that ends (training) or a server that runs until stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    #[default]
    Training,
    Serving,
}

/// Everything a job needs to run: machine type + image + code + command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    #[serde(default)]
    pub kind: JobKind,
    /// The deployment a serving job is a replica of.
    #[serde(default)]
    pub deployment: Option<String>,
    /// Mount the project's /storage read-only (a server only reads the model).
    #[serde(default)]
    pub storage_read_only: bool,
    pub project: String,
    pub machine: String,
    pub image: String,
    /// Build `image` from the workspace's Dockerfile (at this path inside it) before running.
    pub build_dockerfile: Option<String>,
    pub source: Source,
    pub command: Vec<String>,
    pub env: Vec<EnvVar>,
    pub ports: Vec<PortMapping>,
    /// Where on a cluster the job may run: Swarm placement constraints such as
    /// `node.hostname==gpu1` or `node.labels.gpu==true`; ignored by a single engine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement: Vec<String>,
    /// The engine asked for: `local` (the default), a name from the config's `[engines]`,
    /// `auto`, or names with commas (mlbench picks among them when the job is submitted; the
    /// job's row says where it went).
    #[serde(default = "local_engine", skip_serializing_if = "is_local_engine")]
    pub engine: String,
}

fn local_engine() -> String {
    crate::LOCAL_ENGINE.to_string()
}

fn is_local_engine(engine: &String) -> bool {
    engine == crate::LOCAL_ENGINE
}

/// Words as a POSIX shell reads them back: plain where nothing in them is special, else in
/// single quotes (a quote inside written `'\''`). `sh -c 'echo $HOME'` stays one argument.
pub fn shell_words(words: &[String]) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-{}".contains(c);
    words
        .iter()
        .map(|word| {
            if !word.is_empty() && word.chars().all(plain) {
                word.clone()
            } else {
                format!("'{}'", word.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl JobSpec {
    /// How a job holding a resource is named in messages: "job 4", or "job 4 of deployment salary".
    pub fn holder(&self, id: i64) -> String {
        match &self.deployment {
            Some(name) => format!("job {id} of deployment {name}"),
            None => format!("job {id}"),
        }
    }

    /// The command as a user would type it (shell-quoted); none is the image's own.
    pub fn command_text(&self) -> String {
        if self.command.is_empty() {
            "(the image's own command)".to_string()
        } else {
            shell_words(&self.command)
        }
    }

    /// Rules that hold whatever the machine: a program to run when a command is given (none
    /// runs the image's own), no host port twice, and placement constraints Swarm can read.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(bad) = self.placement.iter().find(|c| {
            let (name, value) = c
                .split_once("==")
                .or_else(|| c.split_once("!="))
                .unwrap_or(("", ""));
            name.trim().is_empty() || value.trim().is_empty()
        }) {
            return Err(Error::Invalid(format!(
                "placement constraint {bad:?} is not NAME==VALUE or NAME!=VALUE: e.g. 'node.labels.gpu==true'"
            )));
        }
        if self.command.first().is_some_and(|c| c.trim().is_empty()) {
            return Err(Error::Invalid(
                "the command starts with an empty word: give it after `--`, e.g. `-- python train.py`".into(),
            ));
        }
        for (i, a) in self.ports.iter().enumerate() {
            if self.ports[..i]
                .iter()
                .any(|b| b.host_port == a.host_port && b.host_ip == a.host_ip)
            {
                return Err(Error::Invalid(format!(
                    "host port {} is mapped twice",
                    a.host_port
                )));
            }
        }
        Ok(())
    }
}

/// queued → preparing → running → succeeded | failed | stopped | pruned | oom-killed | lost
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    Queued,
    Preparing,
    Running,
    Succeeded,
    Failed,
    Stopped,
    /// Stopped early by its sweep's median rule: a judgement on its results, not a failure.
    Pruned,
    OomKilled,
    Lost,
}

impl JobState {
    pub const ALL: [JobState; 9] = [
        JobState::Queued,
        JobState::Preparing,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Stopped,
        JobState::Pruned,
        JobState::OomKilled,
        JobState::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Preparing => "preparing",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Stopped => "stopped",
            JobState::Pruned => "pruned",
            JobState::OomKilled => "oom-killed",
            JobState::Lost => "lost",
        }
    }

    pub fn is_final(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Preparing | JobState::Running)
    }

    /// Ended without doing its work: failed, killed for memory, or lost.
    pub fn failed(self) -> bool {
        matches!(self, JobState::Failed | JobState::OomKilled | JobState::Lost)
    }

    /// The moves the engine may make. A job can be stopped or lost from any live state, and
    /// fail while preparing; final states never change.
    pub fn can_become(self, next: JobState) -> bool {
        use JobState::*;
        match (self, next) {
            (Queued, Preparing) | (Preparing, Running) => true,
            (Preparing, Queued) => true, // its supervisor died before the launch; it starts over
            (Queued | Preparing, Failed | Stopped | Pruned | Lost) => true,
            (Running, Succeeded | Failed | Stopped | Pruned | OomKilled | Lost) => true,
            _ => false,
        }
    }

    /// The final state of a job whose process has ended; `requested` is the end someone asked
    /// for (stopped, or pruned), which wins over how the process exited. A job whose own
    /// command exited 0 succeeded, even when the engine saw a process in it killed for memory
    /// (a child it could do without).
    pub fn from_exit(exit_code: i64, oom_killed: bool, requested: Option<JobState>) -> JobState {
        if let Some(requested) = requested {
            requested
        } else if exit_code == 0 {
            JobState::Succeeded
        } else if oom_killed {
            JobState::OomKilled
        } else {
            JobState::Failed
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        JobState::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| Error::Invalid(format!("job state {text:?} is unknown")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_read_as_they_would_be_typed() {
        let words = |w: &[&str]| w.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        assert_eq!(
            shell_words(&words(&[
                "mlbench",
                "train",
                "-i",
                "data/sal.csv",
                "-o",
                "/storage/depth-{max_depth}"
            ])),
            "mlbench train -i data/sal.csv -o /storage/depth-{max_depth}"
        );
        assert_eq!(
            shell_words(&words(&["sh", "-c", "echo $HOME; exit 3", "", "it's"])),
            r"sh -c 'echo $HOME; exit 3' '' 'it'\''s'"
        );
    }

    #[test]
    fn states_round_trip_and_only_live_states_move() {
        for s in JobState::ALL {
            assert_eq!(s.as_str().parse::<JobState>().unwrap(), s);
            if s.is_final() {
                assert!(JobState::ALL.iter().all(|n| !s.can_become(*n)), "{s} moved");
            }
        }
        assert!(JobState::Queued.can_become(JobState::Preparing));
        assert!(!JobState::Queued.can_become(JobState::Succeeded));
        assert!(JobState::Running.can_become(JobState::OomKilled));
    }

    #[test]
    fn exit_decides_the_final_state() {
        assert_eq!(JobState::from_exit(0, false, None), JobState::Succeeded);
        assert_eq!(JobState::from_exit(3, false, None), JobState::Failed);
        assert_eq!(JobState::from_exit(137, true, None), JobState::OomKilled);
        assert_eq!(JobState::from_exit(0, true, None), JobState::Succeeded);
        assert_eq!(
            JobState::from_exit(143, false, Some(JobState::Stopped)),
            JobState::Stopped
        );
        assert_eq!(
            JobState::from_exit(143, false, Some(JobState::Pruned)),
            JobState::Pruned
        );
    }

    #[test]
    fn env_and_command_are_checked() {
        assert_eq!("A=b=c".parse::<EnvVar>().unwrap().value, "b=c");
        assert!("=x".parse::<EnvVar>().is_err());
        assert!(
            "NOEQUALS"
                .parse::<EnvVar>()
                .unwrap_err()
                .to_string()
                .contains("KEY=VALUE")
        );
        let spec = JobSpec {
            kind: JobKind::Training,
            deployment: None,
            storage_read_only: false,
            project: "p".into(),
            machine: "G1".into(),
            image: "i".into(),
            build_dockerfile: None,
            source: Source::Folder { path: ".".into() },
            command: vec![" ".into()],
            env: vec![],
            ports: vec!["80:80".parse().unwrap(), "80:81".parse().unwrap()],
            placement: Vec::new(),
            engine: crate::LOCAL_ENGINE.into(),
        };
        assert!(
            spec.validate()
                .unwrap_err()
                .to_string()
                .contains("starts with an empty word")
        );
        let spec = JobSpec {
            command: vec!["true".into()],
            ..spec
        };
        assert_eq!(
            spec.validate().unwrap_err().to_string(),
            "host port 80 is mapped twice"
        );
    }

    #[test]
    fn git_urls_are_told_from_folders() {
        assert!(matches!(
            Source::parse("https://x/y.git", None),
            Source::Git { .. }
        ));
        assert!(matches!(
            Source::parse("git@host:org/repo", None),
            Source::Git { .. }
        ));
        assert!(matches!(
            Source::parse("file:///tmp/r", Some("v1".into())),
            Source::Git { .. }
        ));
        assert!(matches!(
            Source::parse("./examples/salary", None),
            Source::Folder { .. }
        ));
    }
}
