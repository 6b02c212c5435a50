//! `sigil keys migrate`: a folder instance's key set moved into the
//! database is served by a database instance with the same kids (the same
//! JWK Set bytes), so a token issued before the move verifies after it;
//! moved back into a folder, the same. Run twice, it says the keys are
//! already there; into a destination holding another set, it refuses with
//! one line and changes nothing.

use std::path::Path;
use std::time::Duration;

use sigil::keys::{Algorithm, KeyFolder};

use super::fleet::{Fleet, all_output, jwks, run_bounded, sigil_lines, succeed};
use super::helpers::register_at;

/// The folder store: the fleet's settings without the database store.
const FOLDER: [(&str, Option<&str>); 2] = [
    ("SIGIL_KEY_STORE", None),
    ("SIGIL_KEY_ENCRYPTION_KEY", None),
];

fn migrate(fleet: &Fleet, to: &str, keys_dir: &Path) -> std::process::Output {
    let dir = keys_dir.display().to_string();
    run_bounded(
        &mut fleet.keys_with(&["migrate", "--to", to], &[("SIGIL_KEYS_DIR", Some(&dir))]),
        Duration::from_secs(60),
    )
}

fn kids(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Every file of a folder with its content (but the empty lock file).
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name() != ".lock")
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    files.sort();
    files
}

async fn me(http: &reqwest::Client, base: &str, token: &str) -> u16 {
    http.get(format!("{base}/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_to_the_database_and_back_keeps_every_kid_and_every_token_valid() {
    let Some(fleet) = Fleet::new().await else {
        return;
    };
    let http = reqwest::Client::new();
    // One machine with a keys folder, and a user with a token.
    let folder_instance = fleet.start(&FOLDER);
    let keys_dir = folder_instance.dir.path().join("keys");
    let before_move = jwks(&http, folder_instance.base()).await;
    let registered = register_at(&http, folder_instance.base()).await;
    let early = registered["access_token"].as_str().unwrap().to_owned();
    // The machine stops; its folder stays.
    let super::fleet::Instance { server, dir: _folder_dir } = folder_instance;
    drop(server);

    let out = migrate(&fleet, "database", &keys_dir);
    assert!(out.status.success(), "{}", all_output(&out));
    let moved = kids(&out);
    assert_eq!(moved.len(), 2, "{}", all_output(&out));

    let database_instance = fleet.start(&[]);
    assert_eq!(
        jwks(&http, database_instance.base()).await,
        before_move,
        "the database store publishes the same JWK Set and ETag"
    );
    assert_eq!(me(&http, database_instance.base(), &early).await, 200);
    let table = fleet.table().await;
    let mut in_table: Vec<String> = table.0.iter().map(|r| r.0.clone()).collect();
    let mut expected = moved.clone();
    in_table.sort();
    expected.sort();
    assert_eq!(in_table, expected, "every kid kept");

    // Again: already there, nothing written.
    let again = migrate(&fleet, "database", &keys_dir);
    assert!(again.status.success(), "{}", all_output(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already"),
        "{}",
        all_output(&again)
    );
    assert_eq!(fleet.table().await, table, "nothing was written");

    // A token issued by the database store, then back to a fresh folder.
    let later = register_at(&http, database_instance.base()).await;
    let later = later["access_token"].as_str().unwrap().to_owned();
    let back_dir = tempfile::tempdir().unwrap();
    let back_keys = back_dir.path().join("keys");
    let back = migrate(&fleet, "folder", &back_keys);
    assert!(back.status.success(), "{}", all_output(&back));
    assert_eq!(kids(&back).len(), 2);
    let folder_again = fleet.start_in(back_dir, &FOLDER);
    assert_eq!(
        jwks(&http, folder_again.base()).await,
        before_move,
        "the folder publishes the same JWK Set again"
    );
    assert_eq!(me(&http, folder_again.base(), &early).await, 200);
    assert_eq!(me(&http, folder_again.base(), &later).await, 200);
    let again = migrate(&fleet, "folder", &back_keys);
    assert!(again.status.success(), "{}", all_output(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already"),
        "{}",
        all_output(&again)
    );
    assert_eq!(fleet.table().await, table, "the source is left as it was");
}

#[tokio::test]
async fn migrating_into_a_store_that_holds_another_key_set_is_refused_and_changes_nothing() {
    let Some(fleet) = Fleet::new().await else {
        return;
    };
    drop(fleet.start(&[]));
    let table = fleet.table().await;
    let other = tempfile::tempdir().unwrap();
    let other_keys = other.path().join("keys");
    KeyFolder::new(&other_keys)
        .load_or_init(Algorithm::EdDsa, 2048)
        .unwrap();
    let folder = snapshot(&other_keys);

    for to in ["folder", "database"] {
        let out = migrate(&fleet, to, &other_keys);
        let text = all_output(&out);
        assert!(!out.status.success(), "--to {to}: {text}");
        assert_eq!(sigil_lines(&out).len(), 1, "--to {to}: one line: {text}");
        assert!(!text.contains(&fleet.kek), "{text}");
        assert_eq!(snapshot(&other_keys), folder, "--to {to}: the folder is unchanged");
        assert_eq!(fleet.table().await, table, "--to {to}: the table is unchanged");
    }
    // The refusal was about the other set: an empty folder is fine.
    let empty = tempfile::tempdir().unwrap();
    succeed(&mut fleet.keys_with(
        &["migrate", "--to", "folder"],
        &[(
            "SIGIL_KEYS_DIR",
            Some(&empty.path().join("keys").display().to_string()),
        )],
    ));
}
