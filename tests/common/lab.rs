//! The swarm lab (`scripts/swarm-lab`) for the tests and benches that need a real swarm: three
//! engines on this machine, each in a network namespace of its own, and a registry on the
//! lab's network. It is one per machine; dropping a [`Lab`] removes it, whatever happened.
#![allow(unreachable_pub)] // a test binary has no API: `pub` shares the lab between its modules

use super::lab_host;

use std::path::PathBuf;
use std::process::{Command, Output};

const LAB_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/swarm-lab");

pub struct Lab {
    pub dir: PathBuf,
}

impl Lab {
    /// Brings a lab of three nodes up. Without root or the tools it needs: under CI=true this
    /// fails, elsewhere it prints a notice and gives `None` (the caller skips).
    pub fn up(what: &str) -> Option<Lab> {
        let tools = ["dockerd", "docker-registry", "nsenter", "unshare", "ip"];
        if !lab_host::can_run(what, "swarm lab", &tools) {
            return None;
        }
        lab_host::refuse_one_up("mlblab-hub", "scripts/swarm-lab");
        let dir = std::env::temp_dir().join(format!("mlbench-swarm-lab-{}", std::process::id()));
        let lab = Lab { dir };
        let out = lab.script(&["up", "--nodes", "3"]);
        assert!(
            out.status.success(),
            "swarm-lab up failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(lab)
    }

    fn script(&self, args: &[&str]) -> Output {
        Command::new(LAB_SCRIPT)
            .args(args)
            .env("MLBENCH_LAB", &self.dir)
            .output()
            .unwrap()
    }

    /// `DOCKER_HOST` of node `node` (1 is the manager).
    pub fn socket(&self, node: u32) -> String {
        format!("unix://{}/n{node}/docker.sock", self.dir.display())
    }

    /// The mlbench config `up` wrote: the swarm runtime, the registry, the shared root.
    pub fn config(&self) -> String {
        std::fs::read_to_string(self.dir.join("config.toml")).unwrap()
    }

    /// Where the jobs' folders of the home labelled `label` are, under the shared root.
    pub fn shared_files(&self, label: &str) -> PathBuf {
        self.dir.join("shared").join(format!("mlbench-{label}"))
    }

    /// `cmd` run in the lab's hub namespace, on the network the nodes' addresses are on (the
    /// host's own namespace has no route there).
    pub fn on_network(&self, cmd: Command) -> Command {
        let mut wrapped = Command::new("nsenter");
        wrapped
            .arg("--net=/run/netns/mlblab-hub")
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (key, value) in cmd.get_envs() {
            match value {
                Some(value) => wrapped.env(key, value),
                None => wrapped.env_remove(key),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            wrapped.current_dir(dir);
        }
        wrapped
    }

    /// `docker` against one node's own engine; its stdout, trimmed.
    pub fn docker(&self, node: u32, args: &[&str]) -> String {
        let out = Command::new("docker")
            .arg("-H")
            .arg(self.socket(node))
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let out = self.script(&["down"]);
        if !out.status.success() {
            eprintln!("swarm-lab down failed: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}
