//! The notification connection cut (only it, through a relay that reads
//! each connection's startup message): the instance says so on its gauge,
//! keeps its database pool, and still gets the next rotation by polling;
//! restored, the gauge is back to 1 and rotations arrive by notification.

use std::time::{Duration, Instant};

use serde_json::json;

use super::fleet::{
    Fleet, printed_kid, succeed, wait_for_gauge, wait_for_reload, wait_until_all_serve_new, jwks,
};
use super::helpers::relay::Relay;
use super::helpers::{PASSWORD, unique_email};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_notification_connection_falls_back_to_polling_and_comes_back() {
    let Some(fleet) = Fleet::new().await else {
        return;
    };
    let relay = Relay::start(&fleet.server_address()).await;
    let through_relay = relay.url(&fleet.url);
    let instance = fleet.start(&[("SIGIL_DATABASE_URL", Some(&through_relay))]);
    let http = reqwest::Client::new();
    wait_for_gauge(&http, instance.base(), 1.0, Duration::from_secs(10)).await;
    assert!(
        relay.listeners_open() >= 1,
        "the listener goes through the relay"
    );
    let pool_connections = relay.others_seen();
    assert!(pool_connections >= 1, "the pool goes through the relay");

    relay.cut_listeners();

    wait_for_gauge(&http, instance.base(), 0.0, Duration::from_secs(10)).await;
    assert!(relay.listeners_cut() >= 1);
    // The pool still works: a registration writes to the database.
    let registered = http
        .post(format!("{}/auth/register", instance.base()))
        .json(&json!({"email": unique_email(), "password": PASSWORD, "name": "Pool"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201, "the pool's connections were left alone");
    assert_eq!(
        http.get(format!("{}/readyz", instance.base()))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let (_, before) = jwks(&http, instance.base()).await;
    let kid = printed_kid(&succeed(&mut fleet.keys(&["rotate", "--force"])));
    let rotated = Instant::now();
    wait_for_reload(&instance.server, "Poll", &kid, Duration::from_secs(3));
    eprintln!("the rotation arrived by polling after {:?}", rotated.elapsed());
    wait_until_all_serve_new(&http, &[&instance], &before, Duration::from_secs(1)).await;
    assert_eq!(
        super::fleet::notifications_gauge(&http, instance.base()).await,
        0.0,
        "still cut"
    );

    relay.restore_listeners();

    wait_for_gauge(&http, instance.base(), 1.0, Duration::from_secs(10)).await;
    let (_, before) = jwks(&http, instance.base()).await;
    let kid = printed_kid(&succeed(&mut fleet.keys(&["rotate", "--force"])));
    let rotated = Instant::now();
    wait_for_reload(&instance.server, "Notification", &kid, Duration::from_secs(3));
    eprintln!(
        "after the restore, the rotation arrived by notification after {:?}",
        rotated.elapsed()
    );
    wait_until_all_serve_new(&http, &[&instance], &before, Duration::from_secs(1)).await;
}

/// The relay itself: with a listener connection and a pool-like one open
/// through it, a cut closes the first and refuses it anew, leaves the
/// second working, and a restore lets listener connections in again.
#[tokio::test]
async fn the_relay_cuts_only_connections_named_sigil_key_listener() {
    use sqlx::{ConnectOptions as _, Connection as _};

    let Some(fleet) = Fleet::new().await else {
        return;
    };
    let relay = Relay::start(&fleet.server_address()).await;
    let options: sqlx::postgres::PgConnectOptions = relay.url(&fleet.url).parse().unwrap();
    let listener_options = options
        .clone()
        .application_name(super::helpers::relay::LISTENER_APPLICATION_NAME)
        .disable_statement_logging();
    let mut listener = sqlx::PgConnection::connect_with(&listener_options)
        .await
        .unwrap();
    let mut other = sqlx::PgConnection::connect_with(&options).await.unwrap();
    assert_eq!(relay.listeners_open(), 1);

    relay.cut_listeners();

    let deadline = Instant::now() + Duration::from_secs(5);
    while relay.listeners_open() > 0 {
        assert!(Instant::now() < deadline, "the listener connection was not closed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(listener.ping().await.is_err(), "the listener connection is gone");
    assert!(
        sqlx::PgConnection::connect_with(&listener_options)
            .await
            .is_err(),
        "new listener connections are refused"
    );
    other.ping().await.expect("other connections keep working");
    sqlx::PgConnection::connect_with(&options)
        .await
        .expect("new other connections are let through");

    relay.restore_listeners();

    let mut again = sqlx::PgConnection::connect_with(&listener_options)
        .await
        .unwrap();
    again.ping().await.unwrap();
    // A client that asks for TLS first gets "N" from the relay and goes on
    // in plain text, so its startup message is read too.
    let preferring = listener_options
        .clone()
        .ssl_mode(sqlx::postgres::PgSslMode::Prefer);
    let mut plain = sqlx::PgConnection::connect_with(&preferring)
        .await
        .unwrap();
    plain.ping().await.unwrap();
    assert_eq!(relay.listeners_open(), 2);
}
