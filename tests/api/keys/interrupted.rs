//! Rotations killed midway (SIGKILL at random moments, and at moments the
//! test sees the rotation writing) never leave a folder the server cannot
//! load.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use sigil::keys::{Algorithm, KeyFolder};

use super::fixture::{Keys, stdout, succeed};
use crate::helpers::kill_at_a_random_moment;

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
        if kill_at_a_random_moment(&mut keys.sigil(&["rotate", "--force"]), whole) {
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
