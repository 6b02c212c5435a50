//! A downstream poem app behind `sigil::verify::poem::BearerAuth`.

use std::sync::Arc;

use poem::web::{Data, Json};
use poem::{EndpointExt, Route, get, handler};
use serde_json::{Value, json};
use sigil::jose::AccessClaims;
use sigil::verify::JwksVerifier;
use sigil::verify::poem::BearerAuth;

use super::{
    assert_answers_503_without_keys, assert_protects_routes_like_sigil, verifier_for,
    verifier_without_keys,
};
use crate::helpers::spawn_app;

#[handler]
fn whoami(Data(claims): Data<&AccessClaims>) -> Json<Value> {
    Json(json!({"sub": claims.sub, "scope": claims.scope}))
}

/// Serves the app on a free loopback port; returns its base URL.
async fn spawn_poem(verifier: Arc<JwksVerifier>) -> String {
    let app = Route::new()
        .at(
            "/whoami",
            get(whoami).with(BearerAuth::new(verifier.clone())),
        )
        .at(
            "/admin",
            get(whoami).with(BearerAuth::new(verifier).require_scope("admin")),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    base
}

#[tokio::test]
async fn a_poem_app_behind_the_middleware_accepts_and_refuses_tokens_as_sigil_does() {
    let app = spawn_app().await;
    let downstream = spawn_poem(verifier_for(&app)).await;

    assert_protects_routes_like_sigil(&app, &downstream).await;
}

#[tokio::test]
async fn the_poem_middleware_answers_503_when_the_issuer_keys_cannot_be_fetched() {
    let app = spawn_app().await;
    let downstream = spawn_poem(verifier_without_keys(&app)).await;

    assert_answers_503_without_keys(&app, &downstream).await;
}
