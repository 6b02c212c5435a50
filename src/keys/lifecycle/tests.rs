//! Tests of rotation and pruning: the transitions themselves, their
//! refusals, concurrent callers, and crashes at every step.
//!
//! Over ~400 lines on purpose: one state machine's tests, which read best
//! side by side with the shared fixtures at the top.

use std::collections::BTreeSet;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use super::*;
use crate::keys::{KeySet, MANIFEST_FILE};
use chrono::SubsecRound as _;

const HOUR: TimeDelta = TimeDelta::hours(1);
const MAX_AGE: Duration = Duration::from_secs(300);

/// A freshly initialised EdDSA folder (cheap) inside a temp dir.
fn initialised() -> (tempfile::TempDir, KeyFolder, KeySet) {
    let dir = tempfile::tempdir().unwrap();
    let folder = KeyFolder::new(dir.path().join("keys"));
    let set = folder.load_or_init(Algorithm::EdDsa, 2048).unwrap();
    (dir, folder, set)
}

/// The grace `options` retires keys with.
const GRACE: Duration = Duration::from_secs(30 * 60);

fn options(min_next_age: Duration, force: bool) -> RotateOptions {
    RotateOptions {
        alg: Algorithm::EdDsa,
        rsa_bits: 2048,
        min_next_age,
        force,
        grace: GRACE,
    }
}

/// Rotates as if the clock said `now`.
fn rotate_at(folder: &KeyFolder, now: DateTime<Utc>) -> Rotation {
    let lock = folder.lock().unwrap();
    let keys = folder.load().unwrap().into_keys();
    folder
        .rotate_locked(&lock, keys, &options(MAX_AGE, false), now)
        .unwrap()
}

/// Commits the loaded set minus the keys `drop` selects, as an operator's
/// edit (or the first half of an interrupted prune) would leave it.
fn commit_without(folder: &KeyFolder, drop: impl Fn(&SigningKey) -> bool) {
    let lock = folder.lock().unwrap();
    let keys = folder.load().unwrap().into_keys();
    let kept: Vec<&SigningKey> = keys.iter().filter(|k| !drop(k)).collect();
    folder.write(&lock, &kept).unwrap();
}

fn state_of(set: &KeySet, kid: &str) -> KeyState {
    set.by_kid(kid).unwrap().state()
}

fn kid_of(set: &KeySet, state: KeyState) -> String {
    let mut kids = set.keys().iter().filter(|k| k.state() == state);
    let kid = kids.next().unwrap().kid().to_owned();
    assert!(kids.next().is_none(), "more than one {state} key");
    kid
}

fn states(set: &KeySet) -> Vec<KeyState> {
    set.keys().iter().map(SigningKey::state).collect()
}

fn visible_files(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect()
}

fn pem_file(folder: &KeyFolder, kid: &str) -> std::path::PathBuf {
    folder.path().join(format!("{kid}.pem"))
}

fn write_private(path: &Path, bytes: &[u8]) {
    use std::io::Write as _;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

#[test]
fn rotate_promotes_the_next_key_retires_the_active_one_and_publishes_a_fresh_next_key() {
    let (_dir, folder, before) = initialised();
    let old_active = kid_of(&before, KeyState::Active);
    let old_next = kid_of(&before, KeyState::Next);
    let signature = before.active().sign(b"header.claims");

    let rotation = folder.rotate(options(Duration::ZERO, false)).unwrap();

    assert_eq!(rotation.active.kid, old_next);
    assert_eq!(rotation.retired.kid, old_active);
    assert!(![&old_active, &old_next].contains(&&rotation.next.kid));
    let after = folder.load().unwrap();
    assert_eq!(after.active().kid(), old_next);
    assert_eq!(state_of(&after, &old_active), KeyState::Retired);
    assert_eq!(state_of(&after, &rotation.next.kid), KeyState::Next);
    assert_eq!(
        states(&after),
        [KeyState::Active, KeyState::Next, KeyState::Retired]
    );
    let promoted = after.active().meta();
    assert!(promoted.activated_at.is_some());
    assert_eq!(promoted.activated_at, rotation.active.activated_at);
    let retired = after.by_kid(&old_active).unwrap();
    assert_eq!(retired.meta().retired_at, promoted.activated_at);
    // Tokens signed before the rotation still verify, and its key is published.
    assert!(retired.verify(b"header.claims", &signature));
    let jwks = String::from_utf8(after.jwks_body().to_vec()).unwrap();
    for kid in [&old_active, &old_next, &rotation.next.kid] {
        assert!(jwks.contains(kid.as_str()), "{kid} missing from {jwks}");
    }
    assert_eq!(visible_files(folder.path()).len(), 4);
}

#[test]
fn rotate_refuses_a_next_key_published_for_less_than_the_max_age_unless_forced() {
    let (_dir, folder, before) = initialised();
    let manifest = fs::read(folder.manifest_path()).unwrap();

    let err = folder.rotate(options(MAX_AGE, false)).unwrap_err();

    let KeyError::NextKeyTooNew {
        kid,
        published,
        required,
    } = &err
    else {
        panic!("expected a refusal, got {err}");
    };
    assert_eq!(kid, &kid_of(&before, KeyState::Next));
    assert!(*published < MAX_AGE);
    assert_eq!(*required, MAX_AGE);
    let message = err.to_string();
    assert!(message.contains("--force"), "{message}");
    assert!(message.contains("at least 5m"), "{message}");
    assert!(!message.contains('\n'), "{message}");
    assert_eq!(fs::read(folder.manifest_path()).unwrap(), manifest);
    assert_eq!(visible_files(folder.path()).len(), 3);

    let rotation = folder.rotate(options(MAX_AGE, true)).unwrap();
    assert_eq!(rotation.active.kid, kid_of(&before, KeyState::Next));
    assert_eq!(folder.load().unwrap().active().kid(), rotation.active.kid);
}

#[test]
fn rotate_without_a_next_key_publishes_one_and_refuses_unless_forced() {
    let (_dir, folder, before) = initialised();
    let active = kid_of(&before, KeyState::Active);
    commit_without(&folder, |k| k.state() == KeyState::Next);

    let err = folder.rotate(options(MAX_AGE, false)).unwrap_err();

    let KeyError::NoNextKey { published, .. } = &err else {
        panic!("expected a refusal, got {err}");
    };
    assert!(err.to_string().contains("--force"), "{err}");
    let after = folder.load().unwrap();
    assert_eq!(after.active().kid(), active, "nothing unpublished signs");
    assert_eq!(&kid_of(&after, KeyState::Next), published);

    // The published key then becomes active at the next rotation.
    let rotation = folder.rotate(options(Duration::ZERO, false)).unwrap();
    assert_eq!(&rotation.active.kid, published);

    // Forced, a new key signs at once and a fresh next key is published.
    commit_without(&folder, |k| k.state() == KeyState::Next);
    let forced = folder.rotate(options(MAX_AGE, true)).unwrap();
    let after = folder.load().unwrap();
    assert_eq!(after.active().kid(), forced.active.kid);
    assert_eq!(forced.retired.kid, rotation.active.kid);
    assert_eq!(kid_of(&after, KeyState::Next), forced.next.kid);
    assert_ne!(forced.active.kid, forced.next.kid);
}

#[test]
fn switching_algorithm_keeps_the_old_algorithms_keys_published_until_pruned() {
    let (_dir, folder, before) = initialised();
    let eddsa: Vec<String> = before.keys().iter().map(|k| k.kid().to_owned()).collect();
    let to_rsa = RotateOptions {
        alg: Algorithm::Rs256,
        ..options(Duration::ZERO, false)
    };

    let first = folder.rotate(to_rsa).unwrap();
    assert_eq!(
        first.active.alg,
        Algorithm::EdDsa,
        "the switch takes two rotations"
    );
    assert_eq!(first.next.alg, Algorithm::Rs256);
    let second = folder.rotate(to_rsa).unwrap();

    let after = folder.load().unwrap();
    assert_eq!(after.active().alg(), Algorithm::Rs256);
    assert_eq!(after.active().kid(), first.next.kid);
    for kid in &eddsa {
        let key = after.by_kid(kid).unwrap();
        assert_eq!(
            (key.alg(), key.state()),
            (Algorithm::EdDsa, KeyState::Retired)
        );
    }
    let pruned = folder.prune(Duration::ZERO, Utc::now() + HOUR).unwrap();
    let mut pruned: Vec<String> = pruned.into_iter().map(|m| m.kid).collect();
    pruned.sort();
    let mut expected = eddsa.clone();
    expected.sort();
    assert_eq!(pruned, expected);
    let after = folder.load().unwrap();
    assert!(after.keys().iter().all(|k| k.alg() == Algorithm::Rs256));
    assert_eq!(kid_of(&after, KeyState::Next), second.next.kid);
}

#[test]
fn prune_removes_only_retired_keys_past_their_grace_and_their_files() {
    let (_dir, folder, _before) = initialised();
    let t0 = Utc::now().trunc_subsecs(0);
    let first = rotate_at(&folder, t0 + HOUR);
    let second = rotate_at(&folder, t0 + HOUR * 2);
    let grace = Duration::from_secs(30 * 60);

    let nothing = folder.prune(grace, t0 + HOUR + TimeDelta::minutes(29));
    assert_eq!(nothing.unwrap(), []);
    assert!(pem_file(&folder, &first.retired.kid).exists());

    let pruned = folder.prune(grace, t0 + HOUR * 2).unwrap();

    assert_eq!(pruned.len(), 1);
    assert_eq!(pruned[0].kid, first.retired.kid);
    let after = folder.load().unwrap();
    assert!(after.by_kid(&first.retired.kid).is_none());
    assert!(!pem_file(&folder, &first.retired.kid).exists());
    assert_eq!(state_of(&after, &second.retired.kid), KeyState::Retired);
    assert!(pem_file(&folder, &second.retired.kid).exists());

    // However late, next and active keys stay.
    let pruned = folder.prune(Duration::ZERO, t0 + HOUR * 1000).unwrap();
    assert_eq!(pruned.len(), 1);
    let after = folder.load().unwrap();
    assert_eq!(
        (after.active().kid(), kid_of(&after, KeyState::Next)),
        (second.active.kid.as_str(), second.next.kid.clone())
    );
    assert_eq!(visible_files(folder.path()).len(), 3);
}

#[test]
fn prune_counts_the_grace_of_a_retired_key_without_a_date_from_its_first_run() {
    let (_dir, folder, _before) = initialised();
    let rotation = rotate_at(&folder, Utc::now() + HOUR);
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(folder.manifest_path()).unwrap()).unwrap();
    manifest["keys"][2]["retired_at"] = serde_json::Value::Null;
    manifest["keys"][2]["grace_until"] = serde_json::Value::Null;
    fs::write(folder.manifest_path(), manifest.to_string()).unwrap();
    let t = Utc::now().trunc_subsecs(0) + HOUR;

    assert_eq!(folder.prune(Duration::from_secs(60), t).unwrap(), []);
    let stamped = folder.load().unwrap();
    let retired = stamped.by_kid(&rotation.retired.kid).unwrap().meta();
    assert_eq!(retired.retired_at, Some(t));

    let pruned = folder.prune(Duration::from_secs(60), t + HOUR).unwrap();
    assert_eq!(pruned[0].kid, rotation.retired.kid);
}

#[test]
fn rotate_if_due_rotates_once_per_interval_however_many_instances_ask() {
    let (_dir, folder, before) = initialised();
    let start = before.active().meta().in_service_since();
    let opts = options(MAX_AGE, false);

    let early = folder.rotate_if_due(
        Duration::from_secs(3600),
        opts,
        start + TimeDelta::minutes(59),
    );
    assert_eq!(early.unwrap(), None);

    let due = start + HOUR;
    let results: Vec<Option<Rotation>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let folder = folder.clone();
                scope.spawn(move || folder.rotate_if_due(Duration::from_secs(3600), opts, due))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect()
    });

    let rotations: Vec<&Rotation> = results.iter().flatten().collect();
    assert_eq!(rotations.len(), 1, "{results:?}");
    assert_eq!(rotations[0].active.kid, kid_of(&before, KeyState::Next));
    assert_eq!(rotations[0].active.activated_at, Some(due));
    let again = folder.rotate_if_due(
        Duration::from_secs(3600),
        opts,
        due + TimeDelta::minutes(59),
    );
    assert_eq!(again.unwrap(), None);
    let next_interval = folder.rotate_if_due(Duration::from_secs(3600), opts, due + HOUR);
    assert!(next_interval.unwrap().is_some());
}

#[test]
fn two_forced_rotations_at_once_run_one_after_the_other() {
    let (_dir, folder, before) = initialised();

    let [a, b]: [Rotation; 2] = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let folder = folder.clone();
                scope.spawn(move || folder.rotate(options(MAX_AGE, true)).unwrap())
            })
            .collect();
        let rotations: Vec<Rotation> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        rotations.try_into().unwrap()
    });

    let (first, second) = if b.retired.kid == a.active.kid {
        (a, b)
    } else {
        (b, a)
    };
    assert_eq!(second.retired.kid, first.active.kid, "{first:?} {second:?}");
    assert_eq!(second.active.kid, first.next.kid);
    assert_eq!(first.active.kid, kid_of(&before, KeyState::Next));
    let after = folder.load().unwrap();
    assert_eq!(after.active().kid(), second.active.kid);
    assert_eq!(
        states(&after),
        [
            KeyState::Active,
            KeyState::Next,
            KeyState::Retired,
            KeyState::Retired
        ]
    );
}

#[test]
fn a_rotation_that_crashed_before_its_manifest_commit_leaves_the_old_set_loadable() {
    let (_dir, folder, before) = initialised();
    // The crash: the new next key's file was written, the manifest was not.
    let orphan = SigningKey::generate(Algorithm::EdDsa, 0).unwrap();
    write_private(
        &pem_file(&folder, orphan.kid()),
        orphan.to_pkcs8_pem().as_bytes(),
    );

    let after = folder.load().unwrap();

    assert_eq!(after.etag(), before.etag());
    assert!(after.by_kid(orphan.kid()).is_none());
    assert_eq!(folder.list().unwrap().len(), 2);
    let rotation = folder.rotate(options(Duration::ZERO, false)).unwrap();
    assert_ne!(rotation.next.kid, orphan.kid());
    assert_eq!(folder.load().unwrap().keys().len(), 3);
}

#[test]
fn temporary_files_of_a_crashed_writer_are_ignored_and_removed_by_the_next_rotation() {
    let (_dir, folder, before) = initialised();
    let manifest = fs::read(folder.manifest_path()).unwrap();
    let pem = before.active().to_pkcs8_pem();
    let half_manifest = folder.path().join(format!(".{MANIFEST_FILE}.999.0.tmp"));
    let half_key = folder.path().join(".abc.pem.999.1.tmp");
    write_private(&half_manifest, &manifest[..manifest.len() / 2]);
    write_private(&half_key, &pem.as_bytes()[..pem.len() / 2]);

    assert_eq!(folder.load().unwrap().etag(), before.etag());
    folder.rotate(options(Duration::ZERO, false)).unwrap();

    assert!(!half_manifest.exists());
    assert!(!half_key.exists());
}

#[test]
fn a_prune_that_crashed_after_its_manifest_commit_leaves_a_loadable_folder() {
    let (_dir, folder, _before) = initialised();
    let rotation = rotate_at(&folder, Utc::now() + HOUR);
    // The crash: the manifest without the retired key was committed, its
    // file not deleted yet.
    commit_without(&folder, |k| k.kid() == rotation.retired.kid);
    assert!(pem_file(&folder, &rotation.retired.kid).exists());

    let after = folder.load().unwrap();

    assert!(after.by_kid(&rotation.retired.kid).is_none());
    assert_eq!(after.active().kid(), rotation.active.kid);
    assert_eq!(folder.prune(Duration::ZERO, Utc::now() + HOUR).unwrap(), []);
    assert!(folder.rotate(options(Duration::ZERO, false)).is_ok());
}

#[test]
fn loading_while_rotations_and_prunes_run_never_sees_a_missing_file() {
    let (_dir, folder, _before) = initialised();
    let t0 = Utc::now().trunc_subsecs(0);
    let done = std::sync::atomic::AtomicBool::new(false);

    let loads = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            for i in 1..=40 {
                let now = t0 + HOUR * i;
                rotate_at(&folder, now);
                folder.prune(Duration::ZERO, now).unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        let mut loads = 0;
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            let set = folder
                .load()
                .unwrap_or_else(|e| panic!("load {loads}: {e}"));
            assert_eq!(set.active().state(), KeyState::Active);
            loads += 1;
        }
        writer.join().unwrap();
        loads
    });
    assert!(loads > 0);
}

#[test]
fn transitions_refuse_a_folder_without_a_key_set_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let folder = KeyFolder::new(dir.path().join("keys"));

    let rotate = folder.rotate(options(Duration::ZERO, true)).unwrap_err();
    let prune = folder.prune(Duration::ZERO, Utc::now()).unwrap_err();

    assert!(matches!(rotate, KeyError::NoManifest { .. }), "{rotate}");
    assert!(matches!(prune, KeyError::NoManifest { .. }), "{prune}");
    assert!(!folder.path().exists());
}

#[test]
fn a_rotation_that_cannot_generate_its_key_changes_nothing() {
    let (_dir, folder, _before) = initialised();
    let manifest = fs::read(folder.manifest_path()).unwrap();
    let bad = RotateOptions {
        alg: Algorithm::Rs256,
        rsa_bits: 1024,
        ..options(Duration::ZERO, false)
    };

    let err = folder.rotate(bad).unwrap_err();

    assert!(matches!(err, KeyError::UnsupportedRsaBits(1024)), "{err}");
    assert_eq!(fs::read(folder.manifest_path()).unwrap(), manifest);
    assert_eq!(visible_files(folder.path()).len(), 3);
}

#[test]
fn prunable_at_is_retired_at_plus_grace_for_retired_keys_only() {
    let at = Utc::now().trunc_subsecs(0);
    let mut meta = KeyMeta::new("kid", Algorithm::EdDsa, KeyState::Active, at);
    assert_eq!(meta.prunable_at(Duration::ZERO), None);
    assert_eq!(meta.in_service_since(), at);
    meta.state = KeyState::Retired;
    assert_eq!(
        meta.prunable_at(Duration::ZERO),
        None,
        "no date, no deadline"
    );
    meta.retired_at = Some(at + HOUR);
    assert_eq!(
        meta.prunable_at(Duration::from_secs(60)),
        Some(at + HOUR + TimeDelta::minutes(1))
    );
    assert_eq!(meta.prunable_at(Duration::MAX), None);
    meta.grace_until = Some(at + HOUR * 3);
    assert_eq!(
        meta.prunable_at(Duration::from_secs(60)),
        Some(at + HOUR * 3),
        "the recorded grace wins over the caller's"
    );
}

#[test]
fn prune_keeps_a_retired_key_for_the_grace_it_was_retired_with_whatever_its_own() {
    let (_dir, folder, _before) = initialised();
    let t0 = Utc::now().trunc_subsecs(0) + HOUR;
    let lock = folder.lock().unwrap();
    let keys = folder.load().unwrap().into_keys();
    let an_hour = RotateOptions {
        grace: Duration::from_secs(3600),
        ..options(MAX_AGE, false)
    };
    let rotation = folder.rotate_locked(&lock, keys, &an_hour, t0).unwrap();
    drop(lock);
    assert_eq!(rotation.retired.grace_until, Some(t0 + HOUR));
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(folder.manifest_path()).unwrap()).unwrap();
    let recorded = manifest["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == rotation.retired.kid.as_str())
        .unwrap();
    assert!(recorded["grace_until"].is_string(), "{manifest}");

    let early = folder.prune(Duration::ZERO, t0 + TimeDelta::minutes(59));

    assert_eq!(early.unwrap(), [], "a grace of 0 here does not shorten it");
    assert!(pem_file(&folder, &rotation.retired.kid).exists());
    let pruned = folder
        .prune(Duration::from_secs(24 * 3600), t0 + HOUR)
        .unwrap();
    assert_eq!(pruned.len(), 1, "nor does a longer one lengthen it");
    assert_eq!(pruned[0].kid, rotation.retired.kid);
}

#[test]
fn a_key_retired_by_an_older_sigil_without_a_recorded_grace_gets_the_pruners_grace() {
    let (_dir, folder, _before) = initialised();
    let t0 = Utc::now().trunc_subsecs(0) + HOUR;
    let rotation = rotate_at(&folder, t0);
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(folder.manifest_path()).unwrap()).unwrap();
    for key in manifest["keys"].as_array_mut().unwrap() {
        key.as_object_mut().unwrap().remove("grace_until");
    }
    fs::write(folder.manifest_path(), manifest.to_string()).unwrap();
    let old = folder.load().unwrap();
    assert_eq!(
        old.by_kid(&rotation.retired.kid)
            .unwrap()
            .meta()
            .grace_until,
        None
    );

    let minute = Duration::from_secs(60);
    assert_eq!(
        folder.prune(minute, t0 + TimeDelta::seconds(59)).unwrap(),
        []
    );
    let pruned = folder.prune(minute, t0 + TimeDelta::seconds(60)).unwrap();

    assert_eq!(pruned.len(), 1);
    assert_eq!(pruned[0].kid, rotation.retired.kid);
}
