//! A real linkleaf process, as a user runs it: configured through `LINKLEAF_*` variables,
//! listening on ports it picks, its log lines collected; stopped with SIGTERM or killed with
//! SIGKILL (and killed when dropped). The binary's path comes from the test
//! (`env!("CARGO_BIN_EXE_linkleaf")`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct Instance {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// `host:port` of the pages and the API.
    pub addr: String,
    /// `host:port` of `/metrics`, `/healthz`, `/readyz`.
    pub ops: String,
    /// What it logged up to announcing its address.
    pub startup: Vec<String>,
}

impl Instance {
    /// Starts `bin serve` with `env` (on ports of its own choosing) and waits for it to listen.
    pub fn start(bin: &str, dir: &std::path::Path, env: &[(&str, String)]) -> Self {
        Self::start_command(bin, &["serve"], dir, env)
    }

    pub fn start_command(
        bin: &str,
        args: &[&str],
        dir: &std::path::Path,
        env: &[(&str, String)],
    ) -> Self {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .current_dir(dir)
            .env_remove("LINKLEAF_CONFIG")
            .env("LINKLEAF_SERVER__LISTEN", "127.0.0.1:0")
            .env("LINKLEAF_SERVER__OPS_LISTEN", "127.0.0.1:0")
            .env("LINKLEAF_LOG__FILTER", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self::from_command(cmd)
    }

    /// Starts a prepared command (a shell that sets limits first, say) and waits for the
    /// address it announces.
    pub fn from_command(mut cmd: Command) -> Self {
        let mut child = cmd.stderr(Stdio::piped()).spawn().expect("start linkleaf");
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut startup = Vec::new();
        let (addr, ops) = loop {
            let line = lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("linkleaf did not announce its address: {startup:#?}"));
            startup.push(line.clone());
            // `serve` announces both addresses, `consume` only the operations one
            if let Some(rest) = line.split("health on http://").nth(1) {
                let ops = rest.split(')').next().unwrap_or_default().to_owned();
                let addr = line
                    .split("listening on http://")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .unwrap_or_default()
                    .to_owned();
                break (addr, ops);
            }
        };
        Self {
            child,
            lines,
            addr,
            ops,
            startup,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ops_url(&self, path: &str) -> String {
        format!("http://{}{}", self.ops, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Log lines since the last call.
    pub fn log(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// SIGKILL, and waits for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM; returns whether it exited successfully within `within`.
    pub fn terminate(&mut self, within: Duration) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.success();
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `bin keys create --scopes scopes`, run in `dir` with `env` as an operator runs it: the new
/// key, printed once.
pub fn create_key(
    bin: &str,
    dir: &std::path::Path,
    env: &[(&str, String)],
    scopes: &str,
) -> String {
    let out = Command::new(bin)
        .args(["keys", "create", "--name", "test", "--scopes", scopes])
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run keys create");
    assert!(
        out.status.success(),
        "keys create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("a key is text")
        .trim()
        .to_owned()
}
