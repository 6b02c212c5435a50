//! Guessing one account's password from many addresses at once (a botnet,
//! or the 65,536 /64 networks of one IPv6 /48): the addresses the account
//! never logged in from share one budget, while the real user's own
//! address keeps its own. Through a trusted proxy, so that each guess can
//! come from an address of its own.

use std::time::Duration;

use super::helpers::{Options, PASSWORD, TestApp, spawn_app_with};

/// Logs in through the OAuth 2.0 form as the proxy's client `forwarded`.
async fn login_from(app: &TestApp, forwarded: &str, email: &str, password: &str) -> u16 {
    app.client
        .post(app.url("/auth/login"))
        .header("x-forwarded-for", forwarded)
        .form(&[("username", email), ("password", password)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A server behind a proxy at 127.0.0.1 that it trusts.
async fn app_behind_a_proxy() -> Option<TestApp> {
    spawn_app_with(Options::behind_loopback_proxy()).await
}

/// The `i`-th /64 network of one /48 (documentation prefix).
fn guesser(i: u32) -> String {
    format!("2001:db8:77:{i:x}::1")
}

#[tokio::test]
async fn guesses_from_a_thousand_addresses_share_one_budget_and_the_user_at_home_still_logs_in() {
    let Some(app) = app_behind_a_proxy().await else {
        return;
    };
    let (email, _, _) = app.signed_up_user().await;
    let home = "198.51.100.7";
    assert_eq!(login_from(&app, home, &email, PASSWORD).await, 200);
    // The defaults: 20 guesses from unknown addresses, then waits of 1 s,
    // 2 s, 4 s, …; the attack lasts seconds, so a few more get through.
    let (free, slack) = (20, 6);

    let mut statuses = Vec::new();
    for batch in 0..20 {
        let guesses: Vec<_> = (0..50)
            .map(|i| {
                let (client, url, email) =
                    (app.client.clone(), app.url("/auth/login"), email.clone());
                let from = guesser(batch * 50 + i);
                tokio::spawn(async move {
                    client
                        .post(&url)
                        .header("x-forwarded-for", from)
                        .form(&[("username", email.as_str()), ("password", "wrong password 123")])
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16()
                })
            })
            .collect();
        for guess in guesses {
            statuses.push(guess.await.unwrap());
        }
    }
    let at_home = login_from(&app, home, &email, PASSWORD).await;
    let newcomer = login_from(&app, "192.0.2.99", &email, PASSWORD).await;

    let checked = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + throttled, 1000, "only 401 and 429");
    assert!(
        (free..=free + slack).contains(&checked),
        "{checked} of 1000 guesses from distinct addresses were checked; \
         the shared budget is {free} and a few after each lock"
    );
    assert_eq!(
        at_home, 200,
        "the user logs in from an address the account knows"
    );
    assert_eq!(
        newcomer, 429,
        "a new address waits with the attackers, even with the right password"
    );
}

#[tokio::test]
async fn a_success_from_a_new_address_makes_it_known_and_resets_the_shared_budget() {
    let Some(app) = spawn_app_with(Options::behind_loopback_proxy_and(|s| {
        s.throttles.account_wide.free_attempts = 3;
        s.throttles.account_wide.max = Duration::from_secs(1);
    }))
    .await
    else {
        return;
    };
    let (email, _, _) = app.signed_up_user().await;
    for i in 0..2 {
        let status = login_from(&app, &guesser(i), &email, "wrong password 123").await;
        assert_eq!(status, 401);
    }
    let travelling = "203.0.113.9";
    assert_eq!(login_from(&app, travelling, &email, PASSWORD).await, 200);

    // Reset: two more failures from new addresses stay under the 3 free.
    for i in 2..4 {
        let status = login_from(&app, &guesser(i), &email, "wrong password 123").await;
        assert_eq!(status, 401, "the shared count started again");
    }
    let mut statuses = Vec::new();
    for i in 4..10 {
        statuses.push(login_from(&app, &guesser(i), &email, "wrong password 123").await);
    }
    assert!(statuses.contains(&429), "the budget runs out: {statuses:?}");

    assert_eq!(
        login_from(&app, travelling, &email, PASSWORD).await,
        200,
        "the address of the earlier success is known now"
    );
}
