//! Three instances on one database, no shared folder: the first start
//! (all three at once) makes one key set, and all three publish it byte for
//! byte with the same ETag; none writes a key file. And a first start on
//! the database beside a keys folder that holds a set refuses to orphan it.

use std::time::Duration;

use super::fleet::{Fleet, jwks, key_files_under, kid_in_state, run_bounded, sigil_lines};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_starting_at_once_make_one_key_set_and_publish_it_identically() {
    let Some(fleet) = Fleet::new().await else {
        return;
    };

    let instances = fleet.start_many(3, &[]);

    let http = reqwest::Client::new();
    let mut served = Vec::new();
    for instance in &instances {
        served.push(jwks(&http, instance.base()).await);
    }
    for (i, s) in served.iter().enumerate() {
        assert_eq!(s.0, served[0].0, "instance {i} publishes the same bytes");
        assert_eq!(s.1, served[0].1, "instance {i} sends the same ETag");
    }
    let (rows, _) = fleet.table().await;
    assert_eq!(rows.len(), 2, "one set: an active and a next key");
    let list = fleet.list();
    let active = kid_in_state(&list, "active");
    let next = kid_in_state(&list, "next");
    let published: serde_json::Value = serde_json::from_str(&served[0].0).unwrap();
    let kids = crate::helpers::keys::kids_in_jwks(&published);
    assert_eq!(kids, [active, next].into_iter().collect());
    for (i, instance) in instances.iter().enumerate() {
        let files = key_files_under(instance.dir.path());
        assert!(
            files.is_empty(),
            "instance {i} wrote key files: {files:?}"
        );
    }
}

/// Creating a new set in the database while the instance's keys folder
/// holds one would leave every token its keys signed unverifiable: the
/// start stops with one line naming the migration, and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_database_start_beside_a_keys_folder_with_a_set_stops_and_names_the_migration() {
    let Some(fleet) = Fleet::new().await else {
        return;
    };
    // A folder instance's working directory, with its key set.
    let dir = tempfile::tempdir().unwrap();
    let folder = fleet.start_in(dir, &[("SIGIL_KEY_STORE", Some("folder"))]);
    let before = key_files_under(folder.dir.path());
    assert!(!before.is_empty(), "the folder instance made its key set");
    let dir = folder.dir;
    drop(folder.server);

    let out = run_bounded(
        &mut fleet.serve_command(dir.path(), &[]),
        Duration::from_secs(30),
    );

    assert!(!out.status.success());
    let lines = sigil_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("sigil keys migrate --to database"),
        "{}",
        lines[0]
    );
    let (rows, _) = fleet.table().await;
    assert!(rows.is_empty(), "no key set was created in the database");
    assert_eq!(key_files_under(dir.path()), before, "the folder is untouched");
}
