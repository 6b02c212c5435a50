//! `sigil keys list | rotate | prune` through the real binary: rotation,
//! refusals, an algorithm switch, pruning.

use std::process::Command;
use std::time::Duration;

use sigil::keys::Algorithm;

use super::fixture::{Keys, run, stderr, stdout, succeed, succeed_once_allowed};

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
    let out = succeed_once_allowed(keys.sigil(&["rotate"]).env("SIGIL_JWKS_MAX_AGE", "1s"));

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
    // Prune again until the grace is over, bounded: nothing else changes.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let late = loop {
        let out = succeed(&mut prune);
        if !stdout(&out).is_empty() {
            break out;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the grace never ended"
        );
        std::thread::sleep(Duration::from_millis(100));
    };

    assert_eq!(stdout(&late), format!("{retired}\n"));
    assert!(keys.kids("retired").is_empty());
    assert!(!keys.file(&retired).exists());
    assert_eq!(keys.list().len(), 2, "active and next stay");
}

#[test]
fn keys_prune_keeps_a_retired_key_for_the_grace_it_was_retired_with_not_the_pruners() {
    let keys = Keys::new(Algorithm::EdDsa);
    // Retired under a grace of an hour...
    succeed(
        keys.sigil(&["rotate", "--force"])
            .env("SIGIL_KEY_GRACE", "1h"),
    );
    let retired = keys.kid("retired");
    // ...then pruned, after the shortest grace the pruner's environment
    // would allow on its own was over.
    std::thread::sleep(Duration::from_millis(2100));

    let out = succeed(
        keys.sigil(&["prune"])
            .env("SIGIL_ACCESS_TTL", "1s")
            .env("SIGIL_KEY_GRACE", "1s"),
    );

    assert_eq!(
        stdout(&out),
        "",
        "the key was retired for an hour: {}",
        stderr(&out)
    );
    assert_eq!(keys.kids("retired"), std::slice::from_ref(&retired));
    assert!(keys.file(&retired).exists());
    // `keys list` shows the end of the recorded grace, whatever SIGIL_KEY_GRACE says.
    let listed = keys.list();
    let entry = listed
        .iter()
        .find(|k| k["kid"] == retired.as_str())
        .unwrap();
    let retired_at =
        chrono::DateTime::parse_from_rfc3339(entry["retired_at"].as_str().unwrap()).unwrap();
    let prunable_at =
        chrono::DateTime::parse_from_rfc3339(entry["prunable_at"].as_str().unwrap()).unwrap();
    assert_eq!((prunable_at - retired_at).num_seconds(), 3600, "{entry}");
}
