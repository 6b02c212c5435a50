//! Every counter with a known set of labels is on `/metrics` from start-up,
//! at 0, so that dashboards and alerts see the series before the first event.

use super::helpers::spawn_app;

#[tokio::test]
async fn a_fresh_server_lists_every_known_label_set_at_zero() {
    let app = spawn_app().await;

    let text = app.get("/metrics", None).await.text().await.unwrap();

    let mut missing = Vec::new();
    for series in [
        r#"sigil_logins_failed_total{reason="bad_credentials"}"#,
        r#"sigil_logins_failed_total{reason="throttled"}"#,
        r#"sigil_logins_failed_total{reason="abandoned"}"#,
        r#"sigil_logins_failed_total{reason="bad_client"}"#,
        r#"sigil_key_reloads_total{outcome="ok"}"#,
        r#"sigil_key_reloads_total{outcome="error"}"#,
        r#"sigil_tokens_issued_total{alg="RS256"}"#,
        r#"sigil_tokens_issued_total{alg="EdDSA"}"#,
        "sigil_refresh_reuse_detected_total",
    ] {
        if !text.lines().any(|l| l == format!("{series} 0")) {
            missing.push(series);
        }
    }
    assert!(
        missing.is_empty(),
        "{} series not at 0 from start-up: {missing:?}\n{text}",
        missing.len()
    );
}
