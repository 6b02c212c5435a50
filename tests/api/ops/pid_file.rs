//! The pid file as `scripts/rotate-keys.sh` reads it: an empty setting means
//! none; one pid file holds one live server (a second is refused and the
//! first keeps its file); a server removes the file only while it holds its
//! own pid.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::helpers::ServerProcess;

/// Every `*.pid` file under `dir`, at any depth.
fn pid_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "pid") {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// Runs `cmd` to its end, bounded: a server that does not stop within 30 s
/// is killed and the test fails.
fn run_to_exit(mut cmd: Command) -> (Option<i32>, String) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "the second server did not stop; its log: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_empty_sigil_pid_file_variable_means_no_pid_file() {
    let dir = tempfile::tempdir().unwrap();

    let _server = ServerProcess::start(dir.path(), &[("SIGIL_PID_FILE", "")]);

    assert_eq!(pid_files(dir.path()), Vec::<String>::new());
}

#[test]
fn an_empty_pid_file_flag_means_no_pid_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = ServerProcess::bare_command(dir.path());
    cmd.env("SIGIL_ARGON2_MEMORY_KIB", "256").args([
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--pid-file",
        "",
    ]);

    let _server = ServerProcess::spawn(cmd);

    assert_eq!(pid_files(dir.path()), Vec::<String>::new());
}

#[test]
fn a_second_server_on_a_live_servers_pid_file_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("shared.pid");
    let pid_setting = ("SIGIL_PID_FILE", pid_file.to_str().unwrap());
    let first = ServerProcess::start(dir.path(), &[pid_setting]);
    let first_pid = first.child.id().to_string();
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        first_pid
    );

    let mut second = ServerProcess::bare_command(dir.path());
    second
        .env("SIGIL_ARGON2_MEMORY_KIB", "256")
        .env(pid_setting.0, pid_setting.1)
        .args(["serve", "--bind", "127.0.0.1:0"]);
    let (code, log) = run_to_exit(second);

    assert_eq!(code, Some(2), "refused; log: {log}");
    let refusal: Vec<&str> = log.lines().filter(|l| l.starts_with("sigil: ")).collect();
    assert_eq!(refusal.len(), 1, "one line; log: {log}");
    assert!(
        refusal[0].contains(&first_pid) && refusal[0].contains("SIGIL_PID_FILE"),
        "names the live server and the setting: {}",
        refusal[0]
    );
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        first_pid,
        "the first server's pid stays"
    );
}

#[test]
fn a_stale_pid_file_of_a_process_that_is_not_sigil_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("stale.pid");
    // This test binary is alive but is not sigil.
    std::fs::write(&pid_file, format!("{}\n", std::process::id())).unwrap();

    let server = ServerProcess::start(
        dir.path(),
        &[("SIGIL_PID_FILE", pid_file.to_str().unwrap())],
    );

    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        server.child.id().to_string()
    );
}

#[test]
fn a_server_leaves_a_pid_file_that_no_longer_holds_its_pid() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("sigil.pid");
    let mut server = ServerProcess::start(
        dir.path(),
        &[("SIGIL_PID_FILE", pid_file.to_str().unwrap())],
    );
    // Another server took the file over (say, started by hand meanwhile).
    let other = format!("{}\n", std::process::id());
    std::fs::write(&pid_file, &other).unwrap();

    server.signal("TERM");
    assert_eq!(server.wait_for_exit().code(), Some(0));

    assert_eq!(
        std::fs::read_to_string(&pid_file).ok().as_deref(),
        Some(other.as_str()),
        "the other server's pid file is left alone"
    );
}
