//! A missing, malformed or wrong `SIGIL_KEY_ENCRYPTION_KEY`, and the
//! database store on SQLite, stop `sigil serve` with one `sigil: ` line on
//! stderr and a non-zero exit, having written nothing; no output ever holds
//! a key-encryption key.

use std::time::Duration;

use super::fleet::{Fleet, all_output, new_kek, run_bounded, sigil_lines, succeed};

/// Tables in the fleet's database (none before any instance started).
async fn tables(fleet: &Fleet) -> i64 {
    let mut conn = fleet.connect().await;
    sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

/// Runs a start that must fail; returns its one `sigil: ` line, checking
/// that no output quotes any of `secrets`.
fn failed_start(fleet: &Fleet, extra: &[(&str, Option<&str>)], secrets: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = run_bounded(
        &mut fleet.serve_command(dir.path(), extra),
        Duration::from_secs(60),
    );
    let text = all_output(&out);
    assert!(!out.status.success(), "the start failed: {text}");
    let lines = sigil_lines(&out);
    assert_eq!(lines.len(), 1, "one sigil: line in {text}");
    for secret in secrets {
        assert!(!text.contains(secret), "the output quotes a secret: {text}");
    }
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(files.is_empty(), "nothing written to the working directory: {files:?}");
    lines[0].clone()
}

#[tokio::test]
async fn a_missing_or_malformed_key_encryption_key_stops_the_start_with_one_line_and_writes_nothing()
{
    let Some(fleet) = Fleet::new().await else {
        return;
    };
    let short = "c2hvcnQta2V5LXNlY3JldA==";
    let not_base64 = "not base64 at all, but secret!";
    for (kek, secrets) in [
        (None, vec![]),
        (Some(short), vec![short, "c2hvcnQta2V5LXNlY3JldA"]),
        (Some(not_base64), vec![not_base64]),
        (Some(""), vec![]),
    ] {
        let line = failed_start(&fleet, &[("SIGIL_KEY_ENCRYPTION_KEY", kek)], &secrets);
        assert!(
            line.contains("SIGIL_KEY_ENCRYPTION_KEY"),
            "the line names the setting: {line}"
        );
    }
    assert_eq!(tables(&fleet).await, 0, "nothing was written to the database");
}

#[tokio::test]
async fn a_wrong_key_encryption_key_stops_the_start_and_the_commands_and_changes_nothing() {
    let Some(fleet) = Fleet::new().await else {
        return;
    };
    let instance = fleet.start(&[]);
    succeed(&mut fleet.keys(&["rotate", "--force"]));
    let log = instance.server.log.lock().unwrap().join("\n");
    assert!(!log.contains(&fleet.kek), "the instance's log quotes its key");
    drop(instance);
    let before = fleet.table().await;
    let wrong = new_kek();

    let line = failed_start(
        &fleet,
        &[("SIGIL_KEY_ENCRYPTION_KEY", Some(&wrong))],
        &[&wrong, &fleet.kek],
    );
    assert!(
        line.contains("SIGIL_KEY_ENCRYPTION_KEY"),
        "the line names the setting: {line}"
    );
    for args in [
        &["rotate", "--force"][..],
        &["list"],
        &["reseal"],
        &["prune"],
    ] {
        let out = run_bounded(
            &mut fleet.keys_with(args, &[("SIGIL_KEY_ENCRYPTION_KEY", Some(&wrong))]),
            Duration::from_secs(60),
        );
        let text = all_output(&out);
        assert!(!out.status.success(), "keys {args:?} under the wrong key: {text}");
        assert_eq!(sigil_lines(&out).len(), 1, "keys {args:?}: {text}");
        assert!(!text.contains(&wrong) && !text.contains(&fleet.kek), "{text}");
    }
    assert_eq!(fleet.table().await, before, "nothing was written");
    // The right key still opens it all.
    fleet.list();
}

#[tokio::test]
async fn the_database_store_on_sqlite_stops_the_start_with_one_line() {
    let Some(fleet) = Fleet::new().await else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", scratch.path().join("sigil.db").display());

    let line = failed_start(
        &fleet,
        &[("SIGIL_DATABASE_URL", Some(&sqlite))],
        &[&fleet.kek],
    );

    assert!(line.contains("SIGIL_KEY_STORE"), "{line}");
    assert!(
        !scratch.path().join("sigil.db").exists(),
        "no SQLite database was made"
    );
}
