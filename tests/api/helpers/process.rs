//! `sigil serve` as a child process, the way an operator runs it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A `sigil serve` child process on port 0, with every stderr line kept.
pub struct ServerProcess {
    /// The child.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Every log line so far (JSON unless the test chose text).
    pub log: Arc<Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Starts `sigil serve` in `dir` with cheap argon2, no registration limit
    /// and JSON logs, then `env` on top.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> ServerProcess {
        let mut cmd = Self::bare_command(dir);
        cmd.env("RUST_LOG", "info")
            .args(["serve", "--bind", "127.0.0.1:0", "--log-format", "json"])
            // Cheap hashing and no registration limit, as variables so that
            // `env` below can set them otherwise.
            .env("SIGIL_ARGON2_MEMORY_KIB", "256")
            .env("SIGIL_ARGON2_ITERATIONS", "1")
            .env("SIGIL_ADDRESS_FREE_REGISTRATIONS", "1000000");
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self::spawn(cmd)
    }

    /// `sigil` in `dir` with nothing from the developer's environment: no
    /// variables, and (the working directory being `dir`) no `.env` of theirs.
    pub fn bare_command(dir: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sigil"));
        cmd.env_clear().current_dir(dir);
        cmd
    }

    /// Spawns `cmd` (a `sigil serve`) and waits, bounded, for the line that
    /// reports its address, in JSON (`"address"`) or text (`address=`) logs.
    pub fn spawn(mut cmd: Command) -> ServerProcess {
        let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                // Kept before the address is reported, so that a test that
                // has the address also finds the line in the log.
                let addr = reported_address(&line);
                sink.lock().unwrap().push(line);
                if let Some(addr) = addr {
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("server reports its address; log: {:?}", log.lock()));
        ServerProcess {
            child,
            base: format!("http://{addr}"),
            log,
        }
    }

    /// Sends a signal by name (`HUP`, `TERM`, `INT`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits, bounded, for the process to exit.
    pub fn wait_for_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits, bounded, until a log line parsed as JSON satisfies `found`.
    pub fn wait_for_log(&self, what: &str, found: impl Fn(&Value) -> bool) {
        self.wait_for_lines(what, |lines| lines.iter().any(&found));
    }

    /// Waits, bounded, until the JSON log lines so far satisfy `enough`.
    pub fn wait_for_lines(&self, what: &str, enough: impl Fn(&[Value]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !enough(&self.json_lines()) {
            assert!(Instant::now() < deadline, "no log line for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every log line so far, parsed as JSON (lines that are not are left out).
    pub fn json_lines(&self) -> Vec<Value> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect()
    }
}

/// The address in a "sigil listening" line, JSON or text.
fn reported_address(line: &str) -> Option<String> {
    if let Ok(v) = serde_json::from_str::<Value>(line) {
        return v["address"].as_str().map(str::to_owned);
    }
    let rest = &line[line.find("address=")? + "address=".len()..];
    Some(rest.split_whitespace().next()?.to_owned())
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` (its output discarded), kills it (SIGKILL) at a random
/// moment within `within`, and says whether it had finished successfully
/// before the kill: crash tests spread such kills over every phase of a
/// command.
pub fn kill_at_a_random_moment(cmd: &mut Command, within: std::time::Duration) -> bool {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let micros = u64::try_from(within.as_micros()).unwrap_or(u64::MAX);
    std::thread::sleep(std::time::Duration::from_micros(random_below(micros + 1)));
    let _ = child.kill();
    child.wait().unwrap().success()
}

/// A number in `0..limit`, different on every call.
fn random_below(limit: u64) -> u64 {
    let mut bytes = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).unwrap();
    u64::from_le_bytes(bytes) % limit.max(1)
}
