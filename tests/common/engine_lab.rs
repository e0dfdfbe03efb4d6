//! The engine lab (`scripts/engine-lab`) for the tests and benches that need remote Docker
//! engines: dockerd and sshd in namespaces of their own (network, mount, PID), reached over real
//! SSH through the lab's hub namespace. Dropping an [`EngineLab`] removes it, whatever happened.
#![allow(unreachable_pub)] // a test binary has no API: `pub` shares the lab between its modules

use super::lab_host;

use std::path::PathBuf;
use std::process::{Command, Output};

const LAB_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/engine-lab");

pub struct EngineLab {
    pub dir: PathBuf,
    pub engines: u32,
}

impl EngineLab {
    /// Brings a lab of `engines` engines up. Without root or the tools it needs: under CI=true
    /// this fails, elsewhere it prints a notice and gives `None` (the caller skips).
    pub fn up(what: &str, engines: u32) -> Option<EngineLab> {
        let tools = [
            "dockerd",
            "nsenter",
            "unshare",
            "ip",
            "ssh",
            "ssh-keygen",
            "nc",
            "openssl",
            "/usr/sbin/sshd",
        ];
        if !lab_host::can_run(what, "engine lab", &tools) {
            return None;
        }
        lab_host::refuse_one_up("mlbeng-hub", "scripts/engine-lab");
        let dir = std::env::temp_dir().join(format!("mlbench-engine-lab-{}", std::process::id()));
        let lab = EngineLab { dir, engines };
        let out = lab.script(&["up", "--engines", &engines.to_string()]);
        assert!(
            out.status.success(),
            "engine-lab up failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(lab)
    }

    fn script(&self, args: &[&str]) -> Output {
        Command::new(LAB_SCRIPT)
            .args(args)
            .env("MLBENCH_ENGINE_LAB", &self.dir)
            .output()
            .unwrap()
    }

    /// The `[engines.labN]` tables `up` wrote, for a test's config.
    pub fn engine_tables(&self) -> String {
        std::fs::read_to_string(self.dir.join("engines.toml")).unwrap()
    }

    /// The `[engines.labNtls]` tables: the same engines over tcp:// with TLS, reachable from
    /// the hub only.
    pub fn tls_engine_tables(&self) -> String {
        std::fs::read_to_string(self.dir.join("tls.toml")).unwrap()
    }

    /// What runs a command in the lab's hub network namespace, where the engines' addresses are.
    pub fn in_hub(&self) -> Vec<String> {
        vec!["nsenter".into(), "--net=/run/netns/mlbeng-hub".into()]
    }

    /// The lab's ssh config: its key, its pinned known_hosts, the way through the hub.
    pub fn ssh_config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }

    /// `args` run inside engine `n`'s namespaces (its files, network and processes); the output.
    pub fn in_engine(&self, n: u32, args: &[&str]) -> Output {
        let holder = std::fs::read_to_string(self.dir.join(format!("e{n}/holder.pid"))).unwrap();
        Command::new("nsenter")
            .args(["-t", holder.trim(), "-m", "-n", "-p"])
            .args(args)
            .output()
            .unwrap()
    }

    /// `docker` against engine `n`, from inside it; its stdout, trimmed.
    pub fn docker(&self, n: u32, args: &[&str]) -> String {
        let mut all = vec!["docker"];
        all.extend_from_slice(args);
        String::from_utf8_lossy(&self.in_engine(n, &all).stdout)
            .trim()
            .to_string()
    }

    /// Cuts engine `n` off the lab's network (`up: false`), or puts it back.
    pub fn set_link(&self, n: u32, up: bool) {
        let state = if up { "up" } else { "down" };
        let done = Command::new("ip")
            .args(["-n", &format!("mlbeng-e{n}"), "link", "set", "eth0", state])
            .status()
            .unwrap();
        assert!(done.success(), "cannot set engine {n}'s link {state}");
    }
}

impl Drop for EngineLab {
    fn drop(&mut self) {
        let out = self.script(&["down"]);
        if !out.status.success() {
            eprintln!("engine-lab down failed: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}
