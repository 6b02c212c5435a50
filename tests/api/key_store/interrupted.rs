//! `sigil keys rotate` killed with SIGKILL at random moments, and after its
//! transaction wrote and before it committed, never leaves a key set
//! in the database that cannot be loaded or that has other than one active
//! key: a transaction that did not commit changed nothing.

use std::process::Stdio;
use std::time::{Duration, Instant};

use super::fleet::{Fleet, jwks, kid_in_state, succeed};
use super::helpers::keys::kids_in_jwks;
use super::helpers::kill_at_a_random_moment;

/// After a kill: `sigil keys list` works (and opens every key), one active
/// and one next key, and the table holds what the listing shows.
async fn assert_consistent(fleet: &Fleet, what: &str) {
    let list = fleet.list();
    kid_in_state(&list, "active");
    kid_in_state(&list, "next");
    let (rows, _) = fleet.table().await;
    assert_eq!(rows.len(), list.len(), "{what}: {list:#?}");
}

/// Whether another session of this database is in a transaction that has
/// written something and not yet committed: a rotation's write phase (the
/// instance only reads the set; the listener writes nothing).
async fn writing(conn: &mut sqlx::PgConnection) -> bool {
    sqlx::query_scalar(
        "SELECT count(*) > 0 FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND backend_xid IS NOT NULL",
    )
    .fetch_one(conn)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_killed_at_random_moments_and_inside_their_transaction_leave_a_loadable_set() {
    let Some(fleet) = Fleet::new().await else {
        return;
    };
    let instance = fleet.start(&[]);
    let started = Instant::now();
    succeed(&mut fleet.keys(&["rotate", "--force"]));
    // Kills spread over a whole run of the command (start, connect,
    // transaction, exit) land in every phase of it.
    let whole = started.elapsed();
    let mut finished = 0;

    for round in 0..10 {
        if kill_at_a_random_moment(&mut fleet.keys(&["rotate", "--force"]), whole) {
            finished += 1;
        }
        assert_consistent(&fleet, &format!("random kill {round}")).await;
    }
    eprintln!("{finished} of 10 rotations finished before the kill (a whole one: {whole:?})");

    // Random moments may all miss the transaction: watch the server and
    // kill the moment the rotation has written and not yet committed.
    let mut watcher = fleet.connect().await;
    let (mut landed, mut attempts) = (0, 0);
    while landed < 3 {
        attempts += 1;
        assert!(
            attempts <= 100,
            "no kill landed inside the transaction in 100 attempts ({landed} did)"
        );
        let mut child = fleet
            .keys(&["rotate", "--force"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen_writing = false;
        while child.try_wait().unwrap().is_none() {
            if writing(&mut watcher).await {
                seen_writing = true;
                break;
            }
            assert!(Instant::now() < deadline, "the rotation did not end");
        }
        let _ = child.kill();
        let killed = !child.wait().unwrap().success();
        if seen_writing && killed {
            landed += 1;
        }
        assert_consistent(&fleet, &format!("kill attempt {attempts}")).await;
    }
    eprintln!("{landed} kills landed inside the transaction in {attempts} attempts");

    // Still rotatable; the running instance and a new one serve the set.
    succeed(&mut fleet.keys(&["rotate", "--force"]));
    let list = fleet.list();
    let kids: std::collections::HashSet<String> = list
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let served = loop {
        let served = jwks(&http, instance.base()).await;
        let set: serde_json::Value = serde_json::from_str(&served.0).unwrap();
        if kids_in_jwks(&set) == kids {
            break served;
        }
        assert!(Instant::now() < deadline, "the instance serves {set}, not {kids:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let fresh = fleet.start(&[]);
    assert_eq!(jwks(&http, fresh.base()).await, served);
}
