//! Tests of PostgreSQL's refresh in one round trip (`sigil_rotate_refresh`):
//! every case of the policy's table gives the outcome the policy gives for
//! the token as the full path reads it, only a rotation skips the write
//! transaction, and two instances presenting one token at once still rotate
//! it once, the loser falling back to be answered as reuse or as a repeat.
//! They skip loudly without `SIGIL_TEST_POSTGRES_URL` (see `database`).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use uuid::Uuid;

use super::database::TestDatabase;
use super::new_user;
use crate::store::refresh::Verdict;
use crate::store::{
    PostgresStore, RefreshOutcome, SealedSuccessor, SessionOrigin, Store, Successor,
};

const INTERVAL: Duration = Duration::from_secs(10);

/// A store on a fresh database for `test`, or `None` (reported) without a
/// server.
async fn fresh(test: &str) -> Option<(TestDatabase, PostgresStore)> {
    let db = TestDatabase::create(&format!("{}::{test}", module_path!())).await?;
    let store = PostgresStore::connect(db.url()).await.expect("connect");
    Some((db, store))
}

/// A new user (`email`) with a family holding `first`, valid until
/// `expires_at`; returns both ids.
async fn family(
    store: &PostgresStore,
    email: &str,
    first: &[u8],
    expires_at: DateTime<Utc>,
) -> (Uuid, Uuid) {
    let user = store.create_user(new_user(email)).await.unwrap();
    let family = store
        .create_refresh_family(
            user.id,
            "read",
            first,
            expires_at,
            &SessionOrigin::default(),
        )
        .await
        .unwrap();
    (user.id, family)
}

/// Presents `presented` at `now` with `next` (sealed as `sealed`) as its
/// successor.
async fn present(
    store: &PostgresStore,
    presented: &[u8],
    next: &[u8],
    sealed: &[u8],
    now: DateTime<Utc>,
    interval: Duration,
) -> RefreshOutcome {
    let successor = Successor {
        hash: next,
        expires_at: now + TimeDelta::days(1),
        sealed: Some(sealed),
    };
    store
        .rotate_refresh(presented, successor, now, interval)
        .await
        .unwrap()
}

/// The outcome the policy gives for `verdict` of a token of `family_id`
/// owned by `user_id`, whose successor (if handed back) was sealed as
/// `sealed`.
fn outcome_of(
    verdict: Option<Verdict>,
    user_id: Uuid,
    family_id: Uuid,
    sealed: &[u8],
) -> RefreshOutcome {
    match verdict {
        None => RefreshOutcome::Unknown,
        Some(Verdict::Revoked) => RefreshOutcome::Revoked,
        Some(Verdict::Expired) => RefreshOutcome::Expired,
        Some(Verdict::Reused) => RefreshOutcome::Reused { user_id, family_id },
        Some(Verdict::Repeat) => RefreshOutcome::Repeated {
            user_id,
            family_id,
            scope: "read".to_owned(),
            sealed_successor: SealedSuccessor(sealed.to_vec()),
        },
        Some(Verdict::Rotate) => RefreshOutcome::Rotated {
            user_id,
            family_id,
            scope: "read".to_owned(),
        },
    }
}

/// One case of the policy's table, arranged in the database.
struct Case {
    name: &'static str,
    token: &'static [u8],
    user_id: Uuid,
    family_id: Uuid,
    /// When it is presented.
    at: DateTime<Utc>,
    interval: Duration,
    /// The verdict the case is arranged to get (`None`: not stored).
    intended: Option<Verdict>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_case_of_the_policy_gives_its_outcome_and_only_a_rotation_skips_the_transaction() {
    let Some((_db, store)) = fresh(
        "every_case_of_the_policy_gives_its_outcome_and_only_a_rotation_skips_the_transaction",
    )
    .await
    else {
        return;
    };
    let now = Utc::now().trunc_subsecs(6);
    let live = now + TimeDelta::days(1);
    let mut cases = Vec::new();
    let mut case = |name, token, (user_id, family_id), at, interval, intended| {
        cases.push(Case {
            name,
            token,
            user_id,
            family_id,
            at,
            interval,
            intended,
        });
    };

    // Arrange one token per case of the table.
    let ids = family(&store, "rotate@example.com", b"rotate", live).await;
    case(
        "rotate",
        b"rotate",
        ids,
        now,
        Duration::ZERO,
        Some(Verdict::Rotate),
    );
    let ids = family(&store, "rotate-i@example.com", b"rotate-i", live).await;
    case(
        "rotate, interval on",
        b"rotate-i",
        ids,
        now,
        INTERVAL,
        Some(Verdict::Rotate),
    );

    let ids = family(&store, "revoked@example.com", b"revoked", live).await;
    assert!(store.revoke_family_of(b"revoked", now).await.unwrap());
    case(
        "revoked family",
        b"revoked",
        ids,
        now,
        INTERVAL,
        Some(Verdict::Revoked),
    );

    // Disabled behind the store's back: the family itself is not revoked.
    let ids = family(&store, "disabled@example.com", b"disabled", live).await;
    sqlx::query("UPDATE users SET disabled = true WHERE id = $1")
        .bind(ids.0)
        .execute(store.pool())
        .await
        .unwrap();
    case(
        "disabled owner",
        b"disabled",
        ids,
        now,
        INTERVAL,
        Some(Verdict::Revoked),
    );

    let ids = family(&store, "repeat@example.com", b"repeat", live).await;
    present(&store, b"repeat", b"repeat-next", b"sealed", now, INTERVAL).await;
    case(
        "repeat within the interval",
        b"repeat",
        ids,
        now,
        INTERVAL,
        Some(Verdict::Repeat),
    );

    let ids = family(&store, "expired@example.com", b"expired", now).await;
    case(
        "expired, unused",
        b"expired",
        ids,
        now,
        INTERVAL,
        Some(Verdict::Expired),
    );

    // Used up for a successor that is used up too, then past its expiry.
    let ids = family(
        &store,
        "spent@example.com",
        b"spent",
        now + TimeDelta::seconds(1),
    )
    .await;
    present(
        &store,
        b"spent",
        b"spent-next",
        b"sealed",
        now,
        Duration::ZERO,
    )
    .await;
    present(
        &store,
        b"spent-next",
        b"spent-last",
        b"sealed",
        now,
        Duration::ZERO,
    )
    .await;
    let past_it = now + TimeDelta::seconds(1);
    case(
        "expired, used up",
        b"spent",
        ids,
        past_it,
        INTERVAL,
        Some(Verdict::Expired),
    );

    let ids = family(&store, "reuse@example.com", b"reuse", live).await;
    present(
        &store,
        b"reuse",
        b"reuse-next",
        b"sealed",
        now,
        Duration::ZERO,
    )
    .await;
    case(
        "reuse",
        b"reuse",
        ids,
        now,
        Duration::ZERO,
        Some(Verdict::Reused),
    );

    let ids = family(&store, "late@example.com", b"late", live).await;
    let before = now - TimeDelta::seconds(20);
    present(&store, b"late", b"late-next", b"sealed", before, INTERVAL).await;
    case(
        "reuse after the interval",
        b"late",
        ids,
        now,
        INTERVAL,
        Some(Verdict::Reused),
    );

    case(
        "unknown",
        b"nope",
        (Uuid::nil(), Uuid::nil()),
        now,
        INTERVAL,
        None,
    );

    for c in cases {
        let verdict = store.policy_verdict(c.token, c.at, c.interval).await;
        assert_eq!(
            verdict, c.intended,
            "{}: the case is arranged as meant",
            c.name
        );
        let expected = outcome_of(verdict, c.user_id, c.family_id, b"sealed");
        let before = store.transactions_begun();

        // Act
        let next = format!("{}: next", c.name);
        let outcome = present(
            &store,
            c.token,
            next.as_bytes(),
            b"sealed new",
            c.at,
            c.interval,
        )
        .await;

        // Assert
        assert_eq!(outcome, expected, "{}", c.name);
        // No transaction for a rotation (the one statement) nor for what the
        // first read settles (unknown, revoked, unused and expired); one for
        // the rest.
        let settled_by_reading =
            matches!(verdict, None | Some(Verdict::Revoked)) || c.name == "expired, unused";
        let expected_transactions =
            u64::from(verdict != Some(Verdict::Rotate) && !settled_by_reading);
        assert_eq!(
            store.transactions_begun() - before,
            expected_transactions,
            "{}: write transactions begun",
            c.name
        );
    }
    store.close().await;
}

/// How many sessions of the database `db` wait for a lock.
async fn waiting_for_a_lock(probe: &mut sqlx::PgConnection, db: &TestDatabase) -> i64 {
    let name = db.url().rsplit('/').next().unwrap().to_owned();
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
    )
    .bind(name)
    .fetch_one(probe)
    .await
    .unwrap()
}

/// Two instances (two stores, two pools) present `t0` at the same moment,
/// both held at the token's row lock until both wait there; returns each
/// one's outcome and how many write transactions it began.
async fn race_two_instances(test: &str, interval: Duration) -> Option<Vec<(RefreshOutcome, u64)>> {
    use sqlx::Connection as _;
    let (db, a) = fresh(test).await?;
    let b = PostgresStore::connect(db.url()).await.expect("connect b");
    let now = Utc::now().trunc_subsecs(6);
    family(&a, "ada@example.com", b"t0", now + TimeDelta::days(1)).await;
    let mut holder = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let mut probe = sqlx::PgConnection::connect(db.url()).await.unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("SELECT id FROM refresh_tokens WHERE token_hash = 't0' FOR UPDATE")
        .execute(&mut holder)
        .await
        .unwrap();

    let stores = [Arc::new(a), Arc::new(b)];
    let tasks: Vec<_> = stores
        .iter()
        .zip([b"a", b"b"])
        .map(|(store, name)| {
            let store = Arc::clone(store);
            tokio::spawn(async move {
                let outcome = present(&store, b"t0", name, name, now, interval).await;
                (outcome, store.transactions_begun())
            })
        })
        .collect();
    // Both have read the token unused and wait for its row in their one
    // statement; then the row is let go.
    // (A liveness guard, not a measurement: a minute is far beyond need.)
    let mut polls = 0;
    while waiting_for_a_lock(&mut probe, &db).await < 2 {
        polls += 1;
        assert!(
            polls < 6000,
            "the presentations never both waited for the row"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    for store in &stores {
        store.close().await;
    }
    Some(results)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_presenting_one_token_at_once_rotate_it_once_and_the_other_is_reuse() {
    let Some(results) = race_two_instances(
        "two_instances_presenting_one_token_at_once_rotate_it_once_and_the_other_is_reuse",
        Duration::ZERO,
    )
    .await
    else {
        return;
    };
    let rotated: Vec<_> = results
        .iter()
        .filter(|(o, _)| matches!(o, RefreshOutcome::Rotated { .. }))
        .collect();
    let reused: Vec<_> = results
        .iter()
        .filter(|(o, _)| matches!(o, RefreshOutcome::Reused { .. }))
        .collect();
    assert_eq!((rotated.len(), reused.len()), (1, 1), "{results:?}");
    assert_eq!(rotated[0].1, 0, "the winner rotated in its one statement");
    assert_eq!(
        reused[0].1, 1,
        "the loser fell back to the write transaction"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_presenting_one_token_at_once_within_the_interval_share_one_successor() {
    let Some(results) = race_two_instances(
        "two_instances_presenting_one_token_at_once_within_the_interval_share_one_successor",
        INTERVAL,
    )
    .await
    else {
        return;
    };
    let names: [&[u8]; 2] = [b"a", b"b"];
    let winner = results
        .iter()
        .position(|(o, _)| matches!(o, RefreshOutcome::Rotated { .. }))
        .expect("one rotated");
    let (loser, begun) = &results[1 - winner];
    assert_eq!(
        results[winner].1, 0,
        "the winner rotated in its one statement"
    );
    assert_eq!(*begun, 1, "the loser fell back to the write transaction");
    assert!(
        matches!(loser, RefreshOutcome::Repeated { sealed_successor, .. }
            if *sealed_successor == SealedSuccessor(names[winner].to_vec())),
        "the loser is a repeat handed the winner's successor: {results:?}"
    );
}
