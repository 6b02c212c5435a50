//! `/metrics`: it parses as OpenMetrics text, and a scripted session moves
//! each counter by exactly what the session did.

use std::collections::HashMap;

use serde_json::json;

use super::helpers::{Options, PASSWORD, TestApp, spawn_app, spawn_app_with};

/// Samples by `name{labels}` (labels as the server wrote them).
type Samples = HashMap<String, f64>;

/// Parses an OpenMetrics text exposition strictly: metadata lines, samples
/// with well-formed labels and a number, and `# EOF` as the last line.
fn parse(text: &str) -> Samples {
    let mut samples = Samples::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.last(),
        Some(&"# EOF"),
        "the exposition ends with # EOF"
    );
    let mut typed = HashMap::new();
    for line in &lines[..lines.len() - 1] {
        if let Some(meta) = line.strip_prefix("# ") {
            let mut parts = meta.splitn(3, ' ');
            let (kind, name) = (parts.next().unwrap(), parts.next().unwrap());
            assert!(is_metric_name(name), "bad name in {line:?}");
            match kind {
                "HELP" | "UNIT" => {}
                "TYPE" => {
                    let t = parts.next().unwrap();
                    assert!(
                        [
                            "counter",
                            "gauge",
                            "histogram",
                            "info",
                            "stateset",
                            "unknown",
                            "summary"
                        ]
                        .contains(&t),
                        "{line:?}"
                    );
                    typed.insert(name.to_owned(), t.to_owned());
                }
                other => panic!("unknown metadata {other:?} in {line:?}"),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name = series.split('{').next().unwrap();
        assert!(is_metric_name(name), "bad name in {line:?}");
        assert!(
            typed.keys().any(|family| name.starts_with(family.as_str())),
            "{name} has no TYPE line before it"
        );
        let labels = &series[name.len()..];
        if !labels.is_empty() {
            assert!(labels.starts_with('{') && labels.ends_with('}'), "{line:?}");
            for pair in split_labels(&labels[1..labels.len() - 1]) {
                let (k, v) = pair.split_once('=').expect("label=value");
                assert!(is_metric_name(k), "bad label name in {line:?}");
                assert!(
                    v.starts_with('"') && v.ends_with('"') && v.len() >= 2,
                    "{line:?}"
                );
            }
        }
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "{series} twice"
        );
    }
    samples
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Splits `a="x",b="y,z"` at the commas outside quotes.
fn split_labels(labels: &str) -> Vec<&str> {
    let (mut out, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in labels.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&labels[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&labels[start..]);
    out
}

async fn scrape(app: &TestApp) -> Samples {
    let resp = app.get("/metrics", None).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
    );
    parse(&resp.text().await.unwrap())
}

fn get(samples: &Samples, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn a_scripted_session_moves_each_counter_by_what_it_did() {
    // No reuse interval: the second presentation below is reuse at once.
    let app = spawn_app_with(Options {
        tweak: Box::new(|s| s.refresh_reuse_interval = std::time::Duration::ZERO),
        ..Options::default()
    })
    .await;
    let before = scrape(&app).await;

    // Two registrations and one login: three access tokens.
    let (email, access, refresh) = app.signed_up_user().await;
    app.signed_up_user().await;
    assert_eq!(app.login_form(&email, PASSWORD).await.status(), 200);
    // Three wrong passwords.
    for _ in 0..3 {
        assert_eq!(
            app.login_form(&email, "wrong password 1").await.status(),
            401
        );
    }
    // A refresh (a fourth token), then reuse of the used-up token.
    assert_eq!(app.refresh(&refresh).await.status(), 200);
    assert_eq!(app.refresh(&refresh).await.status(), 401);
    // Two /me calls and one unknown path.
    for _ in 0..2 {
        assert_eq!(app.get("/me", Some(&access)).await.status(), 200);
    }
    assert_eq!(app.get("/no/such/route", None).await.status(), 404);
    // A reload that swaps in a rotated set.
    sigil::keys::KeyFolder::new(&app.keys_dir)
        .rotate(sigil::keys::RotateOptions {
            alg: sigil::keys::Algorithm::Rs256,
            rsa_bits: 2048,
            min_next_age: std::time::Duration::ZERO,
            force: true,
            grace: std::time::Duration::from_secs(960),
        })
        .unwrap();
    app.reloader
        .reload(sigil::reload::Trigger::Signal)
        .await
        .unwrap();

    let after = scrape(&app).await;
    let delta = |series: &str| get(&after, series) - get(&before, series);

    assert_eq!(delta(r#"sigil_tokens_issued_total{alg="RS256"}"#), 4.0);
    assert_eq!(
        delta(r#"sigil_logins_failed_total{reason="bad_credentials"}"#),
        3.0
    );
    assert_eq!(delta("sigil_refresh_reuse_detected_total"), 1.0);
    assert_eq!(delta(r#"sigil_key_reloads_total{outcome="ok"}"#), 1.0);
    assert_eq!(
        delta(r#"sigil_http_requests_total{route="/me",method="GET",status="200"}"#),
        2.0
    );
    assert_eq!(
        delta(r#"sigil_http_requests_total{route="/auth/login",method="POST",status="401"}"#),
        3.0
    );
    assert_eq!(
        delta(r#"sigil_http_requests_total{route="/auth/refresh",method="POST",status="401"}"#),
        1.0
    );
    assert_eq!(
        delta(r#"sigil_http_requests_total{route="other",method="GET",status="404"}"#),
        1.0
    );
    assert_eq!(
        delta(r#"sigil_http_request_duration_seconds_count{route="/auth/login"}"#),
        4.0
    );
    assert_eq!(
        delta(r#"sigil_http_requests_total{route="/metrics",method="GET",status="200"}"#),
        1.0,
        "the first scrape was counted once it was answered"
    );
    let age = get(&after, "sigil_active_key_age_seconds");
    assert!(
        (0.0..60.0).contains(&age),
        "the new active key is young: {age}"
    );
    assert_eq!(get(&after, "sigil_password_hashes_running"), 0.0);
    assert_eq!(get(&after, "sigil_password_hashes_waiting"), 0.0);
}

#[tokio::test]
async fn metrics_carry_no_path_ids_or_secrets() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = uuid::Uuid::new_v4();
    app.client
        .patch(app.url(&format!("/admin/users/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();

    let text = app.get("/metrics", None).await.text().await.unwrap();

    assert!(text.contains(r#"route="/admin/users/{id}""#), "{text}");
    assert!(!text.contains(&id.to_string()));
    assert!(!text.contains(&admin));
}
