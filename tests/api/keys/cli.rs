//! `sigil keys list | rotate | prune` through the real binary, and
//! `scripts/rotate-keys.sh` as an operator runs it: rotation, refusals, an
//! algorithm switch, pruning, signalling servers, and rotations killed midway.

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sigil::keys::{Algorithm, KeyFolder};
use tempfile::TempDir;

use crate::helpers::keys;

/// An initialised keys folder in a temp dir.
struct Keys {
    dir: TempDir,
    path: PathBuf,
}

impl Keys {
    /// One active and one next key of `alg`, made by the library as a first
    /// start of the server would.
    fn new(alg: Algorithm) -> Keys {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        KeyFolder::new(&path).load_or_init(alg, 2048).unwrap();
        Keys { dir, path }
    }

    /// `sigil keys <args>` on this folder, EdDSA for new keys, nothing
    /// from the developer's environment or .env.
    fn sigil(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sigil"));
        cmd.env_clear()
            .env("RUST_LOG", "info")
            .env("SIGIL_KEYS_DIR", &self.path)
            .env("SIGIL_SIGNING_ALG", "EdDSA")
            .current_dir(self.dir.path())
            .arg("keys")
            .args(args);
        cmd
    }

    /// `bash scripts/rotate-keys.sh <args>` on this folder, started from an
    /// unrelated directory, signalling only the servers of `pid_file`.
    fn script(&self, args: &[&str], pid_file: &Path) -> Command {
        let mut cmd = keys::rotate_script(&self.path);
        cmd.env("RUST_LOG", "warn")
            .env("SIGIL_SIGNING_ALG", "EdDSA")
            .env("SIGIL_PID_FILE", pid_file)
            .current_dir(self.dir.path())
            .args(args);
        cmd
    }

    /// The keys as `sigil keys list --json` reports them.
    fn list(&self) -> Vec<Value> {
        let out = succeed(&mut self.sigil(&["list", "--json"]));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// kids of the keys in `state`.
    fn kids(&self, state: &str) -> Vec<String> {
        self.list()
            .iter()
            .filter(|k| k["state"] == state)
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The one kid in `state`.
    fn kid(&self, state: &str) -> String {
        let kids = self.kids(state);
        assert_eq!(kids.len(), 1, "expected one {state} key: {kids:?}");
        kids.into_iter().next().unwrap()
    }

    fn file(&self, kid: &str) -> PathBuf {
        self.path.join(format!("{kid}.pem"))
    }

    fn manifest(&self) -> Vec<u8> {
        std::fs::read(self.path.join("keyset.json")).unwrap()
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap()
}

fn succeed(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn last_line(text: &str) -> &str {
    text.lines().last().unwrap_or_default()
}

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
fn keys_list_prints_every_key_with_its_state_and_dates_as_a_table_or_json() {
    let keys = Keys::new(Algorithm::EdDsa);

    let out = succeed(&mut keys.sigil(&["list"]));

    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    for column in [
        "KID",
        "ALG",
        "STATE",
        "CREATED",
        "ACTIVATED",
        "RETIRED",
        "PRUNABLE",
    ] {
        assert!(lines[0].contains(column), "{table}");
    }
    let active = keys.kid("active");
    let next = keys.kid("next");
    assert!(
        lines[1].starts_with(&active) && lines[1].contains(" active "),
        "{table}"
    );
    assert!(
        lines[2].starts_with(&next) && lines[2].contains(" next "),
        "{table}"
    );
    assert!(lines[1].contains("EdDSA"), "{table}");
    let json = keys.list();
    assert_eq!(json.len(), 2);
    assert!(json[0]["created_at"].is_string() && json[0]["activated_at"].is_string());
    assert!(json[1]["activated_at"].is_null());
}

#[test]
fn keys_rotate_makes_the_former_next_key_active_and_prints_its_kid() {
    let keys = Keys::new(Algorithm::EdDsa);
    let (old_active, old_next) = (keys.kid("active"), keys.kid("next"));
    // The next key must be published for the JWK Set max-age first.
    std::thread::sleep(Duration::from_millis(1050));

    let out = succeed(keys.sigil(&["rotate"]).env("SIGIL_JWKS_MAX_AGE", "1s"));

    assert_eq!(
        stdout(&out),
        format!("{old_next}\n"),
        "the kid alone on stdout"
    );
    assert!(
        stderr(&out).contains("rotated the keys"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("key_rotated"), "audit event logged");
    assert_eq!(keys.kid("active"), old_next);
    assert_eq!(keys.kids("retired"), std::slice::from_ref(&old_active));
    let new_next = keys.kid("next");
    assert!(![&old_active, &old_next].contains(&&new_next));
    assert!(keys.file(&new_next).exists());
}

#[test]
fn keys_rotate_refuses_a_next_key_younger_than_the_jwks_max_age_unless_forced() {
    let keys = Keys::new(Algorithm::EdDsa);
    let before = keys.manifest();
    let old_next = keys.kid("next");

    let out = run(&mut keys.sigil(&["rotate"]));

    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let message = stderr(&out);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("--force"), "{message}");
    assert!(message.contains("SIGIL_JWKS_MAX_AGE"), "{message}");
    assert_eq!(keys.manifest(), before, "nothing changed");

    let forced = succeed(&mut keys.sigil(&["rotate", "--force"]));
    assert_eq!(stdout(&forced).trim(), old_next);
}

#[test]
fn keys_rotate_with_alg_eddsa_switches_an_rs256_folder_over_two_rotations() {
    let keys = Keys::new(Algorithm::Rs256);
    let rsa = [keys.kid("active"), keys.kid("next")];
    let rotate = || {
        // SIGIL_SIGNING_ALG says RS256: --alg wins.
        let mut cmd = keys.sigil(&["rotate", "--alg", "EdDSA", "--force"]);
        succeed(cmd.env("SIGIL_SIGNING_ALG", "RS256"))
    };
    let alg_of = |kid: &str| {
        let list = keys.list();
        let key = list.iter().find(|k| k["kid"] == kid).unwrap();
        key["alg"].as_str().unwrap().to_owned()
    };

    let first = rotate();
    assert_eq!(
        stdout(&first).trim(),
        rsa[1],
        "the RS256 next key signs first"
    );
    assert_eq!(alg_of(&keys.kid("next")), "EdDSA");
    assert!(
        stderr(&first).contains("the switch completes"),
        "{}",
        stderr(&first)
    );
    let second = rotate();

    let active = stdout(&second).trim().to_owned();
    assert_eq!(alg_of(&active), "EdDSA");
    let mut retired = keys.kids("retired");
    retired.sort();
    let mut expected = rsa.to_vec();
    expected.sort();
    assert_eq!(retired, expected, "RS256 keys stay published, retired");
}

#[test]
fn keys_prune_removes_a_retired_key_and_its_file_once_its_grace_is_over() {
    let keys = Keys::new(Algorithm::EdDsa);
    // Two seconds: dates are whole seconds, so a one-second grace could be
    // over by the time of the first prune.
    let short = |cmd: &mut Command| {
        cmd.env("SIGIL_ACCESS_TTL", "1s")
            .env("SIGIL_KEY_GRACE", "2s");
    };
    let mut rotate = keys.sigil(&["rotate", "--force"]);
    short(&mut rotate);
    succeed(&mut rotate);
    let retired = keys.kid("retired");
    let mut prune = keys.sigil(&["prune"]);
    short(&mut prune);

    let early = succeed(&mut prune);
    assert_eq!(stdout(&early), "", "within its grace");
    assert!(keys.file(&retired).exists());
    std::thread::sleep(Duration::from_millis(2100));
    let late = succeed(&mut prune);

    assert_eq!(stdout(&late), format!("{retired}\n"));
    assert!(keys.kids("retired").is_empty());
    assert!(!keys.file(&retired).exists());
    assert_eq!(keys.list().len(), 2, "active and next stay");
}

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
    std::thread::sleep(Duration::from_millis(1050));

    let out = succeed(
        keys.script(&[], Path::new(""))
            .current_dir(elsewhere.path())
            .env("SIGIL_BIN", "bin/sigil")
            .env("SIGIL_JWKS_MAX_AGE", "1s"),
    );

    assert_eq!(last_line(&stdout(&out)), old_next);
    assert_eq!(keys.kid("active"), old_next);
}

/// Files in the folder that its manifest does not name (besides `.lock`): a
/// rotation's temp files and the key files it wrote before its commit (the
/// manifest rename). Read on a folder no one writes to, anything new here is
/// proof that a rotation was stopped between its first write and its commit.
fn uncommitted(keys: &Keys) -> BTreeSet<String> {
    let manifest: Value = serde_json::from_slice(&keys.manifest()).unwrap();
    let named: BTreeSet<String> = manifest["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| format!("{}.pem", k["kid"].as_str().unwrap()))
        .collect();
    std::fs::read_dir(&keys.path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != ".lock" && !named.contains(name))
        .collect()
}

/// After a kill: the folder loads and holds exactly one active key.
fn assert_loadable(keys: &Keys) {
    let out = succeed(&mut keys.sigil(&["list"]));
    let actives = stdout(&out)
        .lines()
        .filter(|l| l.contains(" active "))
        .count();
    assert_eq!(actives, 1, "{}", stdout(&out));
    KeyFolder::new(&keys.path)
        .load()
        .expect("the server can load it");
}

#[test]
fn rotations_killed_at_random_moments_and_while_writing_never_leave_an_unloadable_folder() {
    let keys = Keys::new(Algorithm::EdDsa);
    // An EdDSA rotation takes a few milliseconds; kills are spread over
    // the time a whole one takes, so they land in every phase of it.
    let started = Instant::now();
    succeed(&mut keys.sigil(&["rotate", "--force"]));
    let whole = started.elapsed().min(Duration::from_millis(150));
    let mut finished = 0;

    for _ in 0..15 {
        let mut child = keys
            .sigil(&["rotate", "--force"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let micros = u64::try_from(whole.as_micros()).unwrap();
        std::thread::sleep(Duration::from_micros(random_below(micros + 1)));
        let _ = child.kill();
        if child.wait().unwrap().success() {
            finished += 1;
        }
        assert_loadable(&keys);
    }
    eprintln!("{finished} of 15 rotations finished before the kill (a whole one: {whole:?})");

    // Random moments may all miss the short write phase. So: watch the
    // folder and kill the moment a rotation is seen writing, until kills
    // provably landed between a rotation's first write and its commit.
    let mut landed = 0;
    let mut attempts = 0;
    while landed < 3 {
        attempts += 1;
        assert!(
            attempts <= 300,
            "no kill landed mid-rotation in 300 attempts ({landed} did)"
        );
        let before = uncommitted(&keys);
        let mut child = keys
            .sigil(&["rotate", "--force"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while uncommitted(&keys) == before && child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "the rotation neither wrote nor ended"
            );
        }
        let _ = child.kill();
        let killed = !child.wait().unwrap().success();
        // The child is gone: this reading cannot race a writer.
        let after = uncommitted(&keys);
        if killed && !after.is_subset(&before) {
            landed += 1;
        }
        assert_loadable(&keys);
    }
    eprintln!("{landed} kills landed mid-rotation in {attempts} attempts");

    // And it can still be rotated; stale temporary files go away.
    succeed(&mut keys.sigil(&["rotate", "--force"]));
    let temporary: Vec<String> = std::fs::read_dir(&keys.path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(temporary.is_empty(), "{temporary:?}");
}

/// A number in `0..limit`, different on every call; no crate needed.
fn random_below(limit: u64) -> u64 {
    use std::hash::BuildHasher as _;
    std::collections::hash_map::RandomState::new().hash_one(std::time::Instant::now()) % limit
}
