//! Clients behind a trusted proxy: every form of `X-Forwarded-For` and
//! RFC 7239 `Forwarded` a proxy writes names the client that is throttled,
//! never the proxy itself, and a header from the trusted proxy that names no
//! client is refused with 400 instead of charging the proxy (which would
//! lock out everyone behind it). The counters live in the database, so this
//! runs on every backend.

use reqwest::header::HeaderValue;

use super::helpers::{
    Options, PASSWORD, TestApp, assert_oauth_error, assert_problem, spawn_app_with, unique_email,
};

/// More wrong logins than one address is allowed (20 by default), each for
/// a different unknown email so that only the address counter trips.
const WRONG_LOGINS: usize = 25;

/// A server that believes the forwarding headers of 127.0.0.1, where every
/// test request comes from.
async fn app_behind_proxy() -> Option<TestApp> {
    spawn_app_with(Options::behind_loopback_proxy()).await
}

/// A header as the proxy would write it: `name: value` (raw bytes allowed).
type Forwarding<'a> = &'a [(&'a str, &'a [u8])];

/// Logs in through the OAuth 2.0 form with the given forwarding headers.
async fn login_through(
    app: &TestApp,
    headers: Forwarding<'_>,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let mut req = app.client.post(app.url("/auth/login"));
    for (name, value) in headers {
        req = req.header(*name, HeaderValue::from_bytes(value).unwrap());
    }
    req.form(&[("username", email), ("password", password)])
        .send()
        .await
        .unwrap()
}

/// `attacker` fails [`WRONG_LOGINS`] logins and ends locked out (429), its
/// lock follows the client (another port of the same client is still
/// locked, when `attacker_again` is given), and `other`, a different client
/// through the same proxy, logs in to a real account.
async fn assert_only_the_forwarded_client_is_locked(
    attacker: Forwarding<'_>,
    attacker_again: Option<Forwarding<'_>>,
    other: Forwarding<'_>,
) {
    let Some(app) = app_behind_proxy().await else {
        return;
    };
    let (email, _, _) = app.signed_up_user().await;
    let mut statuses = Vec::new();
    for _ in 0..WRONG_LOGINS {
        let resp = login_through(&app, attacker, &unique_email(), "wrong password 123").await;
        statuses.push(resp.status().as_u16());
    }

    let user = login_through(&app, other, &email, PASSWORD).await;
    let again = match attacker_again {
        Some(headers) => Some(login_through(&app, headers, &email, PASSWORD).await),
        None => None,
    };

    assert_eq!(statuses.first(), Some(&401), "{statuses:?}");
    assert_eq!(
        statuses.last(),
        Some(&429),
        "the forwarded client ends locked: {statuses:?}"
    );
    assert_eq!(
        user.status(),
        200,
        "another client behind the same proxy is not locked"
    );
    if let Some(again) = again {
        assert_eq!(
            again.status(),
            429,
            "the same client from another port is the same client"
        );
    }
}

#[tokio::test]
async fn an_x_forwarded_for_entry_with_a_port_locks_only_that_client() {
    assert_only_the_forwarded_client_is_locked(
        &[("x-forwarded-for", b"198.51.100.7:5678")],
        Some(&[("x-forwarded-for", b"198.51.100.7:6000")]),
        &[("x-forwarded-for", b"203.0.113.9:5678")],
    )
    .await;
}

#[tokio::test]
async fn a_bracketed_ipv6_x_forwarded_for_entry_with_a_port_locks_only_that_client() {
    assert_only_the_forwarded_client_is_locked(
        &[("x-forwarded-for", b"[2001:db8::1]:443")],
        Some(&[("x-forwarded-for", b"2001:db8::1")]),
        &[("x-forwarded-for", b"[2001:db8:1::2]:443")],
    )
    .await;
}

#[tokio::test]
async fn a_forwarded_header_locks_only_the_client_it_names() {
    assert_only_the_forwarded_client_is_locked(
        &[(
            "forwarded",
            b"for=\"[2001:db8::1]:443\";proto=https;by=203.0.113.43",
        )],
        Some(&[("forwarded", b"For=\"[2001:db8::1]\"")]),
        &[("forwarded", b"for=192.0.2.60;proto=http;by=203.0.113.43")],
    )
    .await;
}

#[tokio::test]
async fn forwarded_and_x_forwarded_for_that_agree_name_the_client() {
    assert_only_the_forwarded_client_is_locked(
        &[
            ("x-forwarded-for", b"198.51.100.7"),
            ("forwarded", b"for=198.51.100.7"),
        ],
        None,
        &[
            ("x-forwarded-for", b"203.0.113.9"),
            ("forwarded", b"for=203.0.113.9"),
        ],
    )
    .await;
}

/// Sends [`WRONG_LOGINS`] wrong logins with `headers`, each answered 400
/// `invalid_request`, then shows that nobody was charged: another client
/// through the same proxy, and the proxy itself, still log in.
async fn assert_refused_without_charging_the_proxy(headers: Forwarding<'_>) {
    let Some(app) = app_behind_proxy().await else {
        return;
    };
    let (email, _, _) = app.signed_up_user().await;
    let mut bodies = Vec::new();
    for _ in 0..WRONG_LOGINS {
        let resp = login_through(&app, headers, &unique_email(), "wrong password 123").await;
        let status = resp.status().as_u16();
        assert_eq!(status, 400, "a header that names no client: {headers:?}");
        bodies.push(assert_oauth_error(resp, status).await);
    }

    let user = login_through(&app, &[("x-forwarded-for", b"203.0.113.9")], &email, PASSWORD).await;
    let proxy = login_through(&app, &[], &email, PASSWORD).await;

    assert!(
        bodies.iter().all(|b| b["error"] == "invalid_request"),
        "{bodies:?}"
    );
    assert!(
        bodies.iter().all(|b| !b.to_string().contains("203.0.113")),
        "the header is not echoed"
    );
    assert_eq!(user.status(), 200, "another client is not locked");
    assert_eq!(proxy.status(), 200, "the proxy was never charged");
}

#[tokio::test]
async fn a_non_ascii_x_forwarded_for_from_the_trusted_proxy_is_a_400_not_a_lock_on_the_proxy() {
    assert_refused_without_charging_the_proxy(&[("x-forwarded-for", "198.51.100.7, 2001:db8::é".as_bytes())])
        .await;
}

#[tokio::test]
async fn an_unparseable_x_forwarded_for_from_the_trusted_proxy_is_a_400() {
    assert_refused_without_charging_the_proxy(&[("x-forwarded-for", b"198.51.100.7, not-an-address")]).await;
}

#[tokio::test]
async fn an_obfuscated_or_unknown_forwarded_client_is_a_400() {
    assert_refused_without_charging_the_proxy(&[("forwarded", b"for=_hidden;proto=https")]).await;
    assert_refused_without_charging_the_proxy(&[("forwarded", b"for=unknown")]).await;
}

#[tokio::test]
async fn forwarded_and_x_forwarded_for_that_disagree_are_a_400() {
    assert_refused_without_charging_the_proxy(&[
        ("x-forwarded-for", b"203.0.113.77"),
        ("forwarded", b"for=198.51.100.7"),
    ])
    .await;
}

#[tokio::test]
async fn the_refusal_is_problem_json_outside_the_oauth_endpoints() {
    let Some(app) = app_behind_proxy().await else {
        return;
    };

    let resp = app
        .client
        .post(app.url("/auth/register"))
        .header("forwarded", "for=_hidden")
        .json(&serde_json::json!({"email": unique_email(), "password": PASSWORD, "name": "Ada"}))
        .send()
        .await
        .unwrap();

    let body = assert_problem(resp, 400).await;
    assert!(body.get("error").is_none(), "{body}");
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored_even_when_unusable() {
    let Some(app) = spawn_app_with(Options {
        tweak: Box::new(|s| {
            s.trusted_proxies =
                sigil::http::client_addr::TrustedProxies::parse("10.0.0.0/8").unwrap();
        }),
        ..Options::default()
    })
    .await
    else {
        return;
    };
    let (email, _, _) = app.signed_up_user().await;

    let resp = login_through(
        &app,
        &[
            ("x-forwarded-for", "é, not-an-address".as_bytes()),
            ("forwarded", b"for=_hidden"),
        ],
        &email,
        PASSWORD,
    )
    .await;

    assert_eq!(resp.status(), 200, "the peer is the client; headers unread");
}
