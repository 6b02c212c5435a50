//! Tests of the keys folder: first start, reloads, concurrent starts and
//! every way a folder can be broken.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;

use chrono::Utc;
use serde_json::Value;

use super::super::test_support::ed25519_key;
use super::super::{Algorithm, KeyState};
use super::lock::LOCK_FILE;
use super::*;

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn kids(set: &KeySet) -> Vec<String> {
    set.keys().iter().map(|k| k.kid().to_owned()).collect()
}

fn visible_files(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect()
}

/// A freshly initialised EdDSA folder (cheap) inside a temp dir.
fn initialised() -> (tempfile::TempDir, KeyFolder, KeySet) {
    let dir = tempfile::tempdir().unwrap();
    let folder = KeyFolder::new(dir.path().join("keys"));
    let set = folder.load_or_init(Algorithm::EdDsa, 2048).unwrap();
    (dir, folder, set)
}

fn read_manifest_json(folder: &KeyFolder) -> Value {
    serde_json::from_slice(&fs::read(folder.manifest_path()).unwrap()).unwrap()
}

fn write_manifest_json(folder: &KeyFolder, manifest: &Value) {
    fs::write(
        folder.manifest_path(),
        serde_json::to_vec_pretty(manifest).unwrap(),
    )
    .unwrap();
}

#[test]
fn load_or_init_on_an_empty_folder_creates_a_manifest_and_two_private_key_files() {
    let (_dir, folder, set) = initialised();
    assert_eq!(mode(folder.path()), 0o700);

    let active = set.active().kid().to_owned();
    let next = set.keys()[1].kid().to_owned();
    assert_eq!(set.keys().len(), 2);
    assert_eq!(set.keys()[1].state(), KeyState::Next);
    assert!(set.active().meta().activated_at.is_some());
    assert_eq!(
        visible_files(folder.path()),
        BTreeSet::from([
            MANIFEST_FILE.to_owned(),
            format!("{active}.pem"),
            format!("{next}.pem"),
        ])
    );
    for kid in [&active, &next] {
        let path = folder.path().join(format!("{kid}.pem"));
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"));
    }
    assert_eq!(mode(&folder.manifest_path()), 0o600);

    let manifest = read_manifest_json(&folder);
    assert_eq!(manifest["version"], 1);
    let entry = &manifest["keys"][0];
    assert_eq!(entry["kid"], active.as_str());
    assert_eq!(entry["alg"], "EdDSA");
    assert_eq!(entry["state"], "active");
    assert_eq!(entry["file"], format!("{active}.pem"));
    assert!(entry["retired_at"].is_null());
    assert_eq!(manifest["keys"][1]["state"], "next");
}

#[test]
fn a_second_start_loads_the_same_keys_without_generating_new_ones() {
    let (_dir, folder, first) = initialised();
    let second = folder.load_or_init(Algorithm::EdDsa, 2048).unwrap();
    assert_eq!(kids(&first), kids(&second));
    assert_eq!(first.etag(), second.etag());
    assert_eq!(first.active().meta(), second.active().meta());
    assert_eq!(visible_files(folder.path()).len(), 3);
    let loaded = folder.load().unwrap();
    assert_eq!(kids(&first), kids(&loaded));
}

#[test]
fn an_rs256_folder_round_trips_through_disk() {
    let dir = tempfile::tempdir().unwrap();
    let folder = KeyFolder::new(dir.path());
    let created = folder.load_or_init(Algorithm::Rs256, 2048).unwrap();
    let loaded = folder.load().unwrap();
    assert_eq!(kids(&created), kids(&loaded));
    assert_eq!(loaded.active().alg(), Algorithm::Rs256);
    let signature = created.active().sign(b"m");
    assert!(loaded.active().verify(b"m", &signature));
}

#[test]
fn concurrent_first_starts_end_with_one_key_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys");
    let sets: Vec<Vec<String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let folder = KeyFolder::new(&path);
                scope.spawn(move || kids(&folder.load_or_init(Algorithm::EdDsa, 2048).unwrap()))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(sets.iter().all(|kids| kids == &sets[0]), "{sets:?}");
    assert_eq!(visible_files(&path).len(), 3);
}

#[test]
fn writing_leaves_no_temporary_files_behind() {
    let (_dir, folder, _set) = initialised();
    let hidden: Vec<String> = fs::read_dir(folder.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert_eq!(hidden, [LOCK_FILE]);
}

#[test]
fn a_rotated_set_can_be_written_and_keeps_existing_key_files() {
    let (_dir, folder, set) = initialised();
    let old_active = set.active().kid().to_owned();
    let old_file = folder.path().join(format!("{old_active}.pem"));
    let old_bytes = fs::read(&old_file).unwrap();

    let lock = folder.lock().unwrap();
    let now = Utc::now();
    let mut keys = folder.load().unwrap().into_keys();
    for key in &mut keys {
        let state = match key.state() {
            KeyState::Active => KeyState::Retired,
            _ => KeyState::Active,
        };
        key.set_state(state, now);
    }
    keys.push(ed25519_key(KeyState::Next));
    folder
        .write(&lock, &keys.iter().collect::<Vec<_>>())
        .unwrap();
    drop(lock);

    let rotated = folder.load().unwrap();
    let states: Vec<_> = rotated.keys().iter().map(SigningKey::state).collect();
    assert_eq!(
        states,
        [KeyState::Active, KeyState::Next, KeyState::Retired]
    );
    assert_eq!(rotated.keys()[2].kid(), old_active);
    assert_eq!(fs::read(&old_file).unwrap(), old_bytes);
    assert_eq!(visible_files(folder.path()).len(), 4);
    assert_ne!(rotated.etag(), set.etag());
}

#[test]
fn writing_an_invalid_set_is_refused_before_touching_the_folder() {
    let (_dir, folder, _set) = initialised();
    let before = fs::read(folder.manifest_path()).unwrap();
    let lock = folder.lock().unwrap();
    let (a, b) = (ed25519_key(KeyState::Active), ed25519_key(KeyState::Active));
    let err = folder.write(&lock, &[&a, &b]).unwrap_err();
    assert!(err.to_string().contains("exactly one"), "{err}");
    assert_eq!(fs::read(folder.manifest_path()).unwrap(), before);
    assert_eq!(visible_files(folder.path()).len(), 3);
}

#[test]
fn a_truncated_key_file_is_an_error_naming_the_file() {
    let (_dir, folder, set) = initialised();
    let path = folder.path().join(format!("{}.pem", set.active().kid()));
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, &text[..text.len() / 2]).unwrap();
    let err = folder.load().unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, KeyError::KeyFile { .. }), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    // No line of the key's base64 may appear in the message.
    for line in text.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!message.contains(line), "{message}");
    }
}

#[test]
fn a_manifest_naming_a_missing_file_is_an_error_naming_the_file() {
    let (_dir, folder, set) = initialised();
    let path = folder.path().join(format!("{}.pem", set.keys()[1].kid()));
    fs::remove_file(&path).unwrap();
    let err = folder.load().unwrap_err();
    assert!(matches!(err, KeyError::Io { .. }), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn a_kid_that_does_not_match_its_file_is_an_error() {
    let (_dir, folder, _set) = initialised();
    let mut manifest = read_manifest_json(&folder);
    let first_file = manifest["keys"][0]["file"].clone();
    manifest["keys"][0]["file"] = manifest["keys"][1]["file"].clone();
    manifest["keys"][1]["file"] = first_file;
    write_manifest_json(&folder, &manifest);
    let err = folder.load().unwrap_err();
    let KeyError::KeyFile { source, .. } = &err else {
        panic!("expected a key file error, got {err}");
    };
    assert!(matches!(**source, KeyError::KidMismatch { .. }), "{err}");
}

#[test]
fn a_manifest_with_two_active_keys_is_an_error() {
    let (_dir, folder, _set) = initialised();
    let mut manifest = read_manifest_json(&folder);
    manifest["keys"][1]["state"] = "active".into();
    write_manifest_json(&folder, &manifest);
    let err = folder.load().unwrap_err();
    assert!(matches!(err, KeyError::Manifest { .. }), "{err}");
    assert!(err.to_string().contains("2 keys are active"), "{err}");
}

#[test]
fn a_garbage_or_unsupported_manifest_is_an_error() {
    let (_dir, folder, _set) = initialised();
    let good = read_manifest_json(&folder);
    let mut newer = good.clone();
    newer["version"] = 2.into();
    let mut wrong_alg = good.clone();
    wrong_alg["keys"][0]["alg"] = "RS256".into();
    let mut bad_state = good.clone();
    bad_state["keys"][0]["state"] = "current".into();
    let mut escaping = good.clone();
    escaping["keys"][0]["file"] = "../elsewhere.pem".into();
    let mut empty = good.clone();
    empty["keys"] = Value::Array(Vec::new());
    let cases: [(&str, Vec<u8>); 8] = [
        ("garbage", b"\x00not json at all".to_vec()),
        ("empty file", Vec::new()),
        ("no version", b"{\"keys\":[]}".to_vec()),
        ("newer version", newer.to_string().into_bytes()),
        ("algorithm mismatch", wrong_alg.to_string().into_bytes()),
        ("unknown state", bad_state.to_string().into_bytes()),
        ("path escape", escaping.to_string().into_bytes()),
        ("no keys", empty.to_string().into_bytes()),
    ];
    for (case, bytes) in cases {
        fs::write(folder.manifest_path(), bytes).unwrap();
        let err = folder.load().unwrap_err();
        assert!(
            matches!(err, KeyError::Manifest { .. } | KeyError::KeyFile { .. }),
            "{case}: {err}"
        );
    }
}

#[test]
fn load_without_a_manifest_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let err = KeyFolder::new(dir.path()).load().unwrap_err();
    assert!(matches!(err, KeyError::NoManifest { .. }), "{err}");
}

#[test]
fn first_start_refuses_to_write_next_to_an_operators_files() {
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("signing.pem");
    fs::write(&theirs, "operator's key").unwrap();
    // Hidden files, directories and README notes do not count.
    fs::write(dir.path().join(".gitkeep"), "").unwrap();
    fs::write(dir.path().join("README.md"), "# keys").unwrap();
    fs::create_dir(dir.path().join("lost+found")).unwrap();
    let folder = KeyFolder::new(dir.path());
    let err = folder.load_or_init(Algorithm::EdDsa, 2048).unwrap_err();
    assert!(
        matches!(&err, KeyError::UnmanagedFiles { files, .. } if files == &["signing.pem"]),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&theirs).unwrap(), "operator's key");
    assert!(!folder.manifest_path().exists());
}

#[test]
fn a_bad_rsa_size_is_reported_even_when_keys_exist() {
    let (_dir, folder, _set) = initialised();
    let err = folder.load_or_init(Algorithm::Rs256, 1024).unwrap_err();
    assert!(matches!(err, KeyError::UnsupportedRsaBits(1024)), "{err}");
}

#[test]
fn stale_temporary_files_are_removed_by_the_next_writer() {
    let (_dir, folder, _set) = initialised();
    let stale = folder.path().join(".abc.pem.1.0.tmp");
    fs::write(&stale, "half a key").unwrap();
    let lock = folder.lock().unwrap();
    let keys = folder.load().unwrap().into_keys();
    folder
        .write(&lock, &keys.iter().collect::<Vec<_>>())
        .unwrap();
    assert!(!stale.exists());
}
