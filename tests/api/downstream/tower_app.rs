//! A downstream axum app behind `sigil::verify::tower::BearerAuthLayer`.

use std::sync::Arc;

use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use sigil::jose::AccessClaims;
use sigil::verify::JwksVerifier;
use sigil::verify::tower::BearerAuthLayer;

use super::{
    assert_answers_503_without_keys, assert_protects_routes_like_sigil, verifier_for,
    verifier_without_keys,
};
use crate::helpers::spawn_app;

async fn whoami(Extension(claims): Extension<AccessClaims>) -> Json<Value> {
    Json(json!({"sub": claims.sub, "scope": claims.scope}))
}

/// Serves the app on a free loopback port; returns its base URL.
async fn spawn_axum(verifier: Arc<JwksVerifier>) -> String {
    let app = Router::new()
        .route("/whoami", get(whoami))
        .layer(BearerAuthLayer::new(verifier.clone()))
        .merge(
            Router::new()
                .route("/admin", get(whoami))
                .layer(BearerAuthLayer::new(verifier).require_scope("admin")),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test]
async fn an_axum_app_behind_the_tower_layer_accepts_and_refuses_tokens_as_sigil_does() {
    let app = spawn_app().await;
    let downstream = spawn_axum(verifier_for(&app)).await;

    assert_protects_routes_like_sigil(&app, &downstream).await;
}

#[tokio::test]
async fn the_tower_layer_answers_503_when_the_issuer_keys_cannot_be_fetched() {
    let app = spawn_app().await;
    let downstream = spawn_axum(verifier_without_keys(&app)).await;

    assert_answers_503_without_keys(&app, &downstream).await;
}
