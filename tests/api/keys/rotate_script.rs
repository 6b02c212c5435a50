//! `scripts/rotate-keys.sh` as an operator runs it: it rotates, signals the
//! servers of the pid files (and only sigil processes), stops on a refused
//! rotation, and works from any directory.

use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Child, Command};

use sigil::keys::Algorithm;

use super::fixture::{Keys, last_line, run, stderr, stdout, succeed, succeed_once_allowed};

/// A process standing in for a server: `sleep`, which dies of SIGHUP, run
/// under the name `sigil-stand-in` (the script only signals processes whose
/// command line names sigil). Killed on drop if the test ends before it does.
struct StandIn(Child);

impl StandIn {
    /// Starts one and writes its pid to `pid_file`.
    fn start(pid_file: &Path) -> StandIn {
        StandIn::start_as("sigil-stand-in", pid_file)
    }

    /// Starts one under the name `argv0`.
    fn start_as(argv0: &str, pid_file: &Path) -> StandIn {
        let child = Command::new("bash")
            .args(["-c", &format!("exec -a {argv0} sleep 30")])
            .spawn()
            .unwrap();
        std::fs::write(pid_file, format!("{}\n", child.id())).unwrap();
        StandIn(child)
    }

    /// Waits for it to end and returns the signal that ended it.
    fn signal(&mut self) -> Option<i32> {
        self.0.wait().unwrap().signal()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const SIGHUP: i32 = 1;

#[test]
fn the_rotate_script_rotates_signals_the_server_and_prints_the_new_active_kid() {
    let keys = Keys::new(Algorithm::EdDsa);
    let pid_file = keys.dir.path().join("sigil.pid");
    let mut server = StandIn::start(&pid_file);
    let old_next = keys.kid("next");

    let out = succeed(&mut keys.script(&["--force"], &pid_file));

    assert_eq!(last_line(&stdout(&out)), old_next);
    assert_eq!(keys.kid("active"), old_next);
    assert_eq!(server.signal(), Some(SIGHUP), "{}", stderr(&out));
    assert!(stderr(&out).contains("SIGHUP"), "{}", stderr(&out));
}

#[test]
fn the_rotate_script_skips_a_pid_file_whose_process_is_gone_and_signals_the_others() {
    let keys = Keys::new(Algorithm::EdDsa);
    let live = keys.dir.path().join("a.pid");
    let stale = keys.dir.path().join("b.pid");
    let mut server = StandIn::start(&live);
    let mut gone = Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    std::fs::write(&stale, format!("{}\n", gone.id())).unwrap();
    let files = format!("{} {}", stale.display(), live.display());

    let out = succeed(
        keys.script(&["--force"], Path::new(""))
            .env("SIGIL_PID_FILES", &files),
    );

    let messages = stderr(&out);
    assert!(messages.contains("is gone"), "{messages}");
    assert!(messages.contains("watching the keys folder"), "{messages}");
    assert_eq!(server.signal(), Some(SIGHUP), "{messages}");
    assert_eq!(last_line(&stdout(&out)), keys.kid("active"));
}

#[test]
fn the_rotate_script_does_not_signal_a_process_that_is_not_sigil() {
    let keys = Keys::new(Algorithm::EdDsa);
    let pid_file = keys.dir.path().join("sigil.pid");
    // A pid file left behind by a killed server, its pid reused by something else.
    let mut other = StandIn::start_as("postgres-worker", &pid_file);

    let out = succeed(&mut keys.script(&["--force"], &pid_file));

    let messages = stderr(&out);
    assert!(messages.contains("is not sigil"), "{messages}");
    assert!(
        other.0.try_wait().unwrap().is_none(),
        "the other process was left alone"
    );
    assert_eq!(last_line(&stdout(&out)), keys.kid("active"));
}

#[test]
fn the_rotate_script_stops_before_signalling_when_the_rotation_is_refused() {
    let keys = Keys::new(Algorithm::EdDsa);
    let pid_file = keys.dir.path().join("sigil.pid");
    let mut server = StandIn::start(&pid_file);
    let before = keys.manifest();

    let out = run(&mut keys.script(&[], &pid_file));

    assert!(!out.status.success());
    let messages = stderr(&out);
    assert!(messages.contains("--force"), "{messages}");
    assert!(messages.contains("no server was signalled"), "{messages}");
    assert!(out.stdout.is_empty());
    assert_eq!(keys.manifest(), before);
    assert!(
        server.0.try_wait().unwrap().is_none(),
        "the server was left alone"
    );
}

#[test]
fn the_rotate_script_fails_on_a_pid_file_that_holds_no_pid_but_still_rotates() {
    let keys = Keys::new(Algorithm::EdDsa);
    let pid_file = keys.dir.path().join("sigil.pid");
    std::fs::write(&pid_file, "not a pid\n").unwrap();

    let out = run(&mut keys.script(&["--force"], &pid_file));

    assert!(!out.status.success());
    assert!(stderr(&out).contains("process id"), "{}", stderr(&out));
    assert_eq!(
        last_line(&stdout(&out)),
        keys.kid("active"),
        "the kid is still printed"
    );
}

#[test]
fn the_rotate_script_help_exits_0_and_describes_its_options() {
    let keys = Keys::new(Algorithm::EdDsa);

    let out = succeed(&mut keys.script(&["--help"], Path::new("")));

    let help = stdout(&out);
    for word in [
        "--alg",
        "--force",
        "SIGIL_PID_FILE",
        "SIGIL_PID_FILES",
        "SIGIL_BIN",
    ] {
        assert!(help.contains(word), "{word} missing from {help}");
    }
    let bad = run(&mut keys.script(&["--frce"], Path::new("")));
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("unknown argument"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn the_rotate_script_works_from_another_directory_with_a_relative_sigil_bin() {
    let keys = Keys::new(Algorithm::EdDsa);
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::create_dir(elsewhere.path().join("bin")).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_sigil"),
        elsewhere.path().join("bin/sigil"),
    )
    .unwrap();
    let old_next = keys.kid("next");
    // Refused (before any signal) until the next key is old enough.
    let out = succeed_once_allowed(
        keys.script(&[], Path::new(""))
            .current_dir(elsewhere.path())
            .env("SIGIL_BIN", "bin/sigil")
            .env("SIGIL_JWKS_MAX_AGE", "1s"),
    );

    assert_eq!(last_line(&stdout(&out)), old_next);
    assert_eq!(keys.kid("active"), old_next);
}

/// Without `SIGIL_BIN`, the script builds with cargo and runs the binary
/// cargo built, wherever `CARGO_TARGET_DIR` put it. A stand-in `cargo` on
/// PATH logs `cargo build` instead of building (a release build here would
/// take many minutes) and hands every other command, `cargo metadata`
/// included, to the real cargo; the target folder holds the test's own
/// sigil as `release/sigil`, and the project root has no `target/release`.
#[test]
fn the_rotate_script_runs_the_binary_cargo_built_into_cargo_target_dir() {
    let keys = Keys::new(Algorithm::EdDsa);
    let scratch = tempfile::tempdir().unwrap();
    let target = scratch.path().join("elsewhere-target");
    std::fs::create_dir_all(target.join("release")).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_sigil"), target.join("release/sigil")).unwrap();
    let tools = scratch.path().join("bin");
    std::fs::create_dir(&tools).unwrap();
    let builds = scratch.path().join("builds.log");
    let stand_in = tools.join("cargo");
    std::fs::write(
        &stand_in,
        format!(
            "#!/bin/sh\nif [ \"$1\" = build ]; then echo \"$*\" >>'{}'; exit 0; fi\nexec '{}' \"$@\"\n",
            builds.display(),
            env!("CARGO"),
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &stand_in,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        tools.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let old_next = keys.kid("next");

    let mut script = keys.script(&["--force"], Path::new(""));
    script
        .env_remove("SIGIL_BIN")
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", &target);
    if let Some(home) = std::env::var_os("HOME") {
        script.env("HOME", home);
    }
    let out = succeed(&mut script);

    assert_eq!(last_line(&stdout(&out)), old_next, "{}", stderr(&out));
    assert_eq!(keys.kid("active"), old_next);
    let logged = std::fs::read_to_string(&builds).unwrap_or_default();
    assert!(
        logged.contains("build --release"),
        "cargo build ran: {logged:?}"
    );
}
