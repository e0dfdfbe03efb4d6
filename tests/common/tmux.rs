//! The real binary's workbench in tmux, for the tests that drive it: keys in, screen text out.
#![allow(unreachable_pub)] // a test binary has no API: `pub` shares the driver between its modules

use std::process::Command;
use std::time::{Duration, Instant};

use super::Sandbox;

/// True when tmux is here. Without it: under CI=true the test fails, elsewhere it is skipped.
pub fn tmux_available(test: &str) -> bool {
    super::tool_available("tmux", "-V", test)
}

pub struct Tmux {
    pub session: String,
    socket: String,
}

impl Tmux {
    pub fn start(s: &Sandbox, name: &str) -> Tmux {
        Tmux::start_with(s, name, "local")
    }

    pub fn start_with(s: &Sandbox, name: &str, runtime: &str) -> Tmux {
        let socket = s
            .dir
            .path()
            .join(format!("tmux-{name}.sock"))
            .display()
            .to_string();
        let session = name.to_string();
        let command = format!(
            "cd {} && echo before-mlbench && env MLBENCH_HOME={} MLBENCH_CONFIG={} MLBENCH_RUNTIME={runtime} NO_COLOR=1 {}; echo EXITED $?; sleep 30",
            s.dir.path().display(),
            s.home.display(),
            s.dir.path().join("config.toml").display(),
            env!("CARGO_BIN_EXE_mlbench")
        );
        let ok = Command::new("tmux")
            .args([
                "-S",
                &socket,
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                "100",
                "-y",
                "30",
                &command,
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux did not start");
        Tmux { session, socket }
    }

    /// A tmux command on this session's server; its output.
    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-S", &self.socket])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn keys(&self, keys: &[&str]) {
        for key in keys {
            Command::new("tmux")
                .args(["-S", &self.socket, "send-keys", "-t", &self.session, key])
                .status()
                .unwrap();
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-S", &self.socket, "capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn wait_for(&self, text: &str) -> String {
        self.wait_for_any(&[text])
    }

    pub fn wait_for_any(&self, texts: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let screen = self.screen();
            if texts.iter().any(|t| screen.contains(t)) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{texts:?} never showed; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-S", &self.socket, "kill-server"])
            .status();
    }
}
