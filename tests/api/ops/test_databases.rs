//! The database a PostgreSQL test makes is gone when the test ends, whether
//! it passed or failed (`helpers::postgres`).
use super::helpers::{postgres, skip::skip, spawn_app};

#[tokio::test]
async fn a_test_database_is_dropped_when_its_app_is_dropped() {
    let Some(app) = spawn_app().await else {
        return;
    };
    let base = postgres::base_url().unwrap();
    let name = app.postgres_database().unwrap().to_owned();
    assert_eq!(app.get("/readyz", None).await.status(), 200);
    assert!(postgres::exists(&base, &name).await, "{name} was made");

    drop(app);

    assert!(!postgres::exists(&base, &name).await, "{name} is gone");
}

#[tokio::test]
async fn a_test_database_is_dropped_when_its_test_panics() {
    let Some(base) = postgres::base_url() else {
        return skip("SIGIL_TEST_POSTGRES_URL is not set");
    };
    let database = postgres::PostgresDatabase::create(&base).await;
    let name = database.name().to_owned();
    assert!(postgres::exists(&base, &name).await);

    let failed = tokio::spawn(async move {
        let _owned = database;
        panic!("a failing test");
    })
    .await
    .unwrap_err();

    assert!(failed.is_panic());
    assert!(!postgres::exists(&base, &name).await, "{name} is gone");
}
