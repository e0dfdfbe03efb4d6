//! A remote engine reached over SSH, with the user's own OpenSSH client and config (agent,
//! `~/.ssh/config`, known_hosts; host keys are always checked). One master connection per
//! engine, kept under the home, serves every mlbench process: it forwards the engine's socket to
//! a Unix socket here, which bollard talks to as to a local engine, and it carries the port
//! forwards of the deployments that run there. A 200-trial sweep opens one SSH session, not 200.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mlbench_domain::{EngineAddress, FromIo};

use crate::{Error, Result};

/// How long a new connection may take to forward the engine's socket.
const CONNECT_WITHIN: Duration = Duration::from_secs(20);

/// Unix socket paths are at most 107 bytes: a folder longer than this moves to a short one.
const MAX_DIR_BYTES: usize = 80;

/// One engine's SSH link.
#[derive(Debug, Clone)]
pub struct SshLink {
    /// The engine's name in the config, for messages.
    name: String,
    address: EngineAddress,
    ssh_config: Option<PathBuf>,
    /// The engine's socket on its machine.
    remote_socket: String,
    /// Where the control socket, the forwarded socket and ssh's own words are kept (0700).
    dir: PathBuf,
}

impl SshLink {
    /// The link to engine `name` at `address` (an `ssh://` one), kept in `dir`.
    pub fn new(
        name: &str,
        address: EngineAddress,
        ssh_config: Option<PathBuf>,
        remote_socket: &str,
        dir: &Path,
    ) -> SshLink {
        SshLink {
            name: name.to_string(),
            address,
            ssh_config,
            remote_socket: remote_socket.to_string(),
            dir: short_dir(dir),
        }
    }

    fn control(&self) -> PathBuf {
        self.dir.join("ssh.ctl")
    }

    /// The engine's socket, forwarded here.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("ssh.log")
    }

    /// `[user@]host`, and the flags every ssh of this link takes before it.
    fn destination(&self) -> (String, Vec<OsString>) {
        let mut flags: Vec<OsString> = Vec::new();
        if let Some(config) = &self.ssh_config {
            flags.push("-F".into());
            flags.push(config.into());
        }
        let EngineAddress::Ssh { user, host, port } = &self.address else {
            return (self.address.host(), flags);
        };
        if let Some(port) = port {
            flags.push("-p".into());
            flags.push(port.to_string().into());
        }
        // Never a question on a terminal (a password, an unknown host key): a refusal instead.
        for option in ["BatchMode=yes", "ConnectTimeout=10"] {
            flags.push("-o".into());
            flags.push(option.into());
        }
        flags.push("-o".into());
        let mut control = OsString::from("ControlPath=");
        control.push(self.control());
        flags.push(control);
        let destination = match user {
            Some(user) => format!("{user}@{host}"),
            None => host.clone(),
        };
        (destination, flags)
    }

    /// Whether the forwarded socket answers now.
    fn answers(&self) -> bool {
        UnixStream::connect(self.socket()).is_ok()
    }

    /// Makes sure the master connection runs and forwards the engine's socket; returns the
    /// socket. Processes that ask at once start one connection between them.
    pub fn ensure(&self) -> Result<PathBuf> {
        if self.answers() {
            return Ok(self.socket());
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(Error::at(&self.dir, "cannot create"))?;
        // Made by an older mlbench, or with another umask: the link's files are the user's alone.
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
            .map_err(Error::at(&self.dir, "cannot set the mode of"))?;
        let lock_path = self.dir.join("link.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(Error::at(&lock_path, "cannot open"))?;
        lock.lock().map_err(|e| Error::io("cannot lock", e))?;
        if self.answers() {
            return Ok(self.socket());
        }
        // A master whose forward died (its engine restarted) is of no use: end it first.
        self.exit();
        let _ = std::fs::remove_file(self.socket());
        let log = std::fs::File::create(self.log()).map_err(Error::at(&self.log(), "cannot create"))?;
        let (destination, flags) = self.destination();
        let mut forward = OsString::from(self.socket());
        forward.push(":");
        forward.push(&self.remote_socket);
        let mut ssh = Command::new("ssh");
        ssh.args(&flags)
            .args([
                "-o",
                "ControlMaster=yes",
                "-o",
                "ControlPersist=no",
                "-o",
                "ExitOnForwardFailure=yes",
                "-o",
                "StreamLocalBindUnlink=yes",
                // A dead link is noticed within 15 s, and the supervisors reconnect.
                "-o",
                "ServerAliveInterval=5",
                "-o",
                "ServerAliveCountMax=3",
                "-nNT",
                "-L",
            ])
            .arg(forward)
            .arg(&destination)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        {
            use std::os::unix::process::CommandExt;
            // Its own process group: Ctrl-C in the terminal that started it does not end the
            // link other mlbench processes use.
            ssh.process_group(0);
        }
        let mut child = ssh
            .spawn()
            .map_err(|e| Error::io("cannot run ssh (is the OpenSSH client installed?)", e))?;
        let deadline = Instant::now() + CONNECT_WITHIN;
        loop {
            if self.answers() {
                return Ok(self.socket());
            }
            if let Ok(Some(_)) = child.try_wait() {
                return Err(self.refusal());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::Docker(format!(
                    "engine {} ({}) did not answer within {} s over ssh",
                    self.name,
                    self.address,
                    CONNECT_WITHIN.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Why ssh gave up, in its own words, naming the engine.
    fn refusal(&self) -> Error {
        let mut said = String::new();
        if let Ok(mut log) = std::fs::File::open(self.log()) {
            let _ = log.read_to_string(&mut said);
        }
        let changed = said.contains("REMOTE HOST IDENTIFICATION HAS CHANGED");
        let words = said
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty() && !l.starts_with('@'))
            .unwrap_or("ssh ended without a word")
            .to_string();
        Error::Docker(if changed {
            format!(
                "engine {} ({}): its host key has changed, so ssh refused it ({words}); if the server was reinstalled, check its new key and replace the old one in known_hosts",
                self.name, self.address
            )
        } else {
            format!(
                "engine {} ({}) does not answer over ssh: {words}",
                self.name, self.address
            )
        })
    }

    /// Forwards `127.0.0.1:local` here to `127.0.0.1:remote` on the engine's machine, through the
    /// master connection.
    pub fn forward_port(&self, local: u16, remote: u16) -> Result<()> {
        self.ensure()?;
        let spec = format!("127.0.0.1:{local}:127.0.0.1:{remote}");
        self.control_command(&["-O", "forward", "-L", &spec])
    }

    /// The GPUs the engine's machine shows (its NVIDIA device nodes), asked over the link.
    pub fn gpus(&self) -> Result<u32> {
        self.ensure()?;
        let (destination, flags) = self.destination();
        let out = Command::new("ssh")
            .args(&flags)
            .args([&destination, "ls", "/dev"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::io("cannot run ssh", e))?;
        let names = String::from_utf8_lossy(&out.stdout);
        Ok(crate::host::count_gpus(
            names.split_whitespace().map(str::to_string),
        ))
    }

    /// Ends the master connection, and every forward it carries; nothing when none runs.
    pub fn exit(&self) {
        if self.control().exists() {
            let _ = self.control_command(&["-O", "exit"]);
        }
    }

    fn control_command(&self, args: &[&str]) -> Result<()> {
        let (destination, flags) = self.destination();
        let out = Command::new("ssh")
            .args(&flags)
            .args(args)
            .arg(&destination)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::io("cannot run ssh", e))?;
        if out.status.success() {
            return Ok(());
        }
        let said = String::from_utf8_lossy(&out.stderr);
        Err(Error::Docker(format!(
            "engine {} ({}): ssh {}: {}",
            self.name,
            self.address,
            args.join(" "),
            mlbench_domain::error::brief(&said)
        )))
    }
}

/// `dir`, or a short folder of the user's own for it when its path is too long for the sockets
/// kept in it.
fn short_dir(dir: &Path) -> PathBuf {
    if dir.as_os_str().len() <= MAX_DIR_BYTES {
        return dir.to_path_buf();
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(dir.as_os_str().as_encoded_bytes());
    let short: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    // SAFETY: getuid(2) cannot fail and touches no memory of ours.
    #[allow(unsafe_code)]
    let uid = unsafe { libc::getuid() };
    std::env::temp_dir().join(format!("mlbench-{uid}")).join(short)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_home_moves_the_sockets_to_a_short_folder_of_the_users() {
        let short = Path::new("/home/u/.local/share/mlbench/engines/gpu1");
        assert_eq!(short_dir(short), short);
        let long = PathBuf::from(format!("/home/{}/engines/gpu1", "x".repeat(100)));
        let moved = short_dir(&long);
        assert!(moved.as_os_str().len() <= MAX_DIR_BYTES, "{}", moved.display());
        assert_eq!(moved, short_dir(&long), "the same folder each time");
    }

    #[test]
    fn ssh_is_told_the_port_the_config_and_never_to_ask() {
        let link = SshLink::new(
            "gpu1",
            "ssh://alice@gpu1.lab:2222".parse().unwrap(),
            Some(PathBuf::from("/lab/ssh_config")),
            "/var/run/docker.sock",
            Path::new("/h/engines/gpu1"),
        );
        let (destination, flags) = link.destination();
        assert_eq!(destination, "alice@gpu1.lab");
        let flags: Vec<String> = flags.iter().map(|f| f.to_string_lossy().into_owned()).collect();
        assert_eq!(
            flags,
            [
                "-F",
                "/lab/ssh_config",
                "-p",
                "2222",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=10",
                "-o",
                "ControlPath=/h/engines/gpu1/ssh.ctl"
            ]
        );
    }
}
