//! Where the outside tools of the interop tests are and how a script is run:
//! the Python venv `.ci/run` makes (`target/interop-venv`, or
//! `SIGIL_INTEROP_VENV`), node with `tests/interop/node_modules`, and a
//! bounded run of a script that keeps everything it printed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `tests/interop`, where the scripts and their `package.json` live.
pub(crate) fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// The Python of the interop venv if it can import every module of
/// `modules` (comma-separated, as in an `import` line).
pub(crate) fn venv_python(modules: &str) -> Result<PathBuf, String> {
    let venv = std::env::var_os("SIGIL_INTEROP_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/interop-venv"));
    let python = venv.join("bin/python");
    let probe = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match probe {
        Ok(status) if status.success() => Ok(python),
        _ => Err(format!(
            "{} cannot import {modules} (.ci/run installs tests/interop/requirements.txt there)",
            venv.display()
        )),
    }
}

/// `node`, if it is on PATH and `tests/interop/node_modules` has `package`.
pub(crate) fn node_with(package: &str) -> Result<PathBuf, String> {
    let node_ok = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !node_ok {
        return Err("node is not on PATH".into());
    }
    let manifest = interop_dir().join(format!("node_modules/{package}/package.json"));
    if !manifest.exists() {
        return Err(format!(
            "{} is missing (run `npm ci` in tests/interop; .ci/run does it)",
            manifest.display()
        ));
    }
    Ok(PathBuf::from("node"))
}

/// Runs `command` to completion within `limit` (killed and failed after it);
/// returns its exit status and everything it printed, stdout then stderr.
pub(crate) fn run_bounded(mut command: Command, limit: Duration) -> (i32, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the script starts");
    // Read both pipes while the script runs, so a long output cannot block it.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the script did not finish within {limit:?}; it printed:\n{}{}",
                stdout.join().unwrap(),
                stderr.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = format!("{}{}", stdout.join().unwrap(), stderr.join().unwrap());
    (status.code().unwrap_or(-1), output.trim().to_owned())
}
