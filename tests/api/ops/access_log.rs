//! The access log: one line per request, target `sigil::access`, written by
//! a background thread that drops nothing and writes out what it still holds
//! when the server stops.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStderr, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::ServerProcess;

/// Requests of the burst: their lines (about 250 bytes each in JSON) are far
/// more than a pipe holds (64 KiB), so most are still queued in the server
/// when it is told to stop.
const BURST: usize = 1_000;

/// `sigil serve` with its stderr on a pipe that the test reads only when it
/// chooses to.
struct Stalled {
    child: Child,
    base: String,
    /// Not read between the listening line and the stop.
    stderr: Option<BufReader<ChildStderr>>,
    /// Lines read before the burst (up to the listening line).
    early: Vec<String>,
}

impl Drop for Stalled {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `sigil serve` in `format` and reads its stderr up to the line that
/// reports its address, then no further.
fn start_stalled(dir: &std::path::Path, format: &str, rust_log: &str) -> Stalled {
    let mut cmd = ServerProcess::bare_command(dir);
    cmd.env("RUST_LOG", rust_log)
        .env("SIGIL_ARGON2_MEMORY_KIB", "256")
        .env("SIGIL_ARGON2_ITERATIONS", "1")
        .args(["serve", "--bind", "127.0.0.1:0", "--log-format", format])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut early = Vec::new();
    let address = loop {
        let mut line = String::new();
        let read = stderr.read_line(&mut line).unwrap();
        assert!(read > 0, "the server ended before listening: {early:?}");
        let address = listening_address(&line);
        early.push(line);
        if let Some(address) = address {
            break address;
        }
    };
    Stalled {
        child,
        base: format!("http://{address}"),
        stderr: Some(stderr),
        early,
    }
}

fn listening_address(line: &str) -> Option<String> {
    if !line.contains("sigil listening") {
        return None;
    }
    if let Ok(v) = serde_json::from_str::<Value>(line) {
        return v["address"].as_str().map(str::to_owned);
    }
    let rest = &line[line.find("address=")? + "address=".len()..];
    Some(rest.split_whitespace().next()?.to_owned())
}

/// Sends `count` health checks, 16 at a time, each with the id `burst-<i>`,
/// and checks every answer.
async fn burst(base: &str, count: usize) -> Vec<String> {
    let http = reqwest::Client::new();
    let ids: Vec<String> = (0..count).map(|i| format!("burst-{i}")).collect();
    for chunk in ids.chunks(16) {
        let sent = chunk.iter().map(|id| {
            http.get(format!("{base}/healthz"))
                .header("x-request-id", id)
                .send()
        });
        for resp in futures_util::future::join_all(sent).await {
            assert_eq!(resp.unwrap().status(), 200);
        }
    }
    ids
}

/// Sends SIGTERM, then reads the rest of stderr to its end (bounded) and
/// waits for the exit. Every line, the early ones first.
fn stop_and_read(server: &mut Stalled) -> Vec<String> {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Read on a thread so that a server that never closes stderr fails the
    // test instead of hanging it.
    let mut stderr = server.stderr.take().expect("stderr is read once");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut rest = Vec::new();
        let mut line = String::new();
        while stderr.read_line(&mut line).unwrap_or(0) > 0 {
            rest.push(std::mem::take(&mut line));
        }
        let _ = tx.send(rest);
    });
    let rest = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server closes its stderr after SIGTERM");
    let deadline = Instant::now() + Duration::from_secs(60);
    let exit = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "SIGTERM is a clean stop: {exit:?}");
    server.early.iter().cloned().chain(rest).collect()
}

#[tokio::test]
async fn every_request_of_a_burst_has_its_access_line_after_sigterm_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_stalled(dir.path(), "json", "info");
    let ids = burst(&server.base, BURST).await;
    let lines = stop_and_read(&mut server);

    let access: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "request finished")
        .collect();
    assert!(
        access.iter().all(|v| v["target"] == "sigil::access"),
        "the access line's target: {:?}",
        access.first()
    );
    let mut logged: Vec<&str> = access
        .iter()
        .filter_map(|v| v["span"]["id"].as_str())
        .filter(|id| id.starts_with("burst-"))
        .collect();
    logged.sort_unstable();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(
        logged.len(),
        expected.len(),
        "one access line per answered request, none lost at the stop"
    );
    assert_eq!(logged, expected);
    let first = access
        .iter()
        .find(|v| v["span"]["id"] == "burst-0")
        .unwrap();
    assert_eq!(first["span"]["path"], "/healthz");
    assert_eq!(first["span"]["method"], "GET");
    assert_eq!(first["status"], 200);
    assert!(first["elapsed_ms"].is_number(), "{first}");
}

#[tokio::test]
async fn every_request_of_a_burst_has_its_access_line_after_sigterm_in_text() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_stalled(dir.path(), "text", "info");
    let ids = burst(&server.base, BURST).await;
    let lines = stop_and_read(&mut server);

    let access: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" sigil::access: request finished"))
        .collect();
    for id in &ids {
        let needle = format!("id={id} ");
        let of_request = access.iter().filter(|l| l.contains(&needle)).count();
        assert_eq!(of_request, 1, "the access line of {id}");
    }
    let first = access.iter().find(|l| l.contains("id=burst-0 ")).unwrap();
    assert!(
        first.contains("method=GET path=/healthz client=127.0.0.1")
            && first.contains("status=200 elapsed_ms="),
        "{first}"
    );
}

#[tokio::test]
async fn rust_log_turns_off_the_access_line_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_stalled(dir.path(), "json", "info,sigil::access=off");
    let http = reqwest::Client::new();
    // A failed login logs an audit line inside its request; the health
    // check logs nothing but its access line.
    let resp = http
        .post(format!("{}/auth/login", server.base))
        .header("x-request-id", "quiet-login")
        .form(&[
            ("username", "nobody@example.com"),
            ("password", "wrong 1234"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let lines = stop_and_read(&mut server);
    let parsed: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();

    assert!(
        !parsed
            .iter()
            .any(|v| v["message"] == "request finished" || v["target"] == "sigil::access"),
        "no access line: {parsed:?}"
    );
    assert!(
        parsed
            .iter()
            .any(|v| v["event"] == "login_failed" && v["span"]["id"] == "quiet-login"),
        "the audit line of the request is still there, with its id: {parsed:?}"
    );
    assert!(
        parsed.iter().any(|v| v["message"] == "sigil listening"),
        "the other lines are still there"
    );
}
