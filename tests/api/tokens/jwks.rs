//! The JWK Set, checked the way a downstream verifier would use it: keys built
//! from the published JWK alone, never from the server's files.

use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};
use sigil::keys::Algorithm;

use crate::helpers::{Options, b64, segment, spawn_app, spawn_app_with};

fn decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

/// RFC 7638: the required members in lexicographic order, no whitespace.
fn thumbprint(jwk: &Value) -> String {
    let canonical = match jwk["kty"].as_str().unwrap() {
        "RSA" => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            jwk["e"].as_str().unwrap(),
            jwk["n"].as_str().unwrap()
        ),
        "OKP" => format!(
            r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
            jwk["crv"].as_str().unwrap(),
            jwk["x"].as_str().unwrap()
        ),
        other => panic!("unexpected kty {other}"),
    };
    b64(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
}

/// Verifies a compact JWS with a key built only from `jwk`.
fn verify_with_jwk(token: &str, jwk: &Value) -> bool {
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = decode(sig);
    match jwk["kty"].as_str().unwrap() {
        "RSA" => ring::signature::RsaPublicKeyComponents {
            n: decode(jwk["n"].as_str().unwrap()),
            e: decode(jwk["e"].as_str().unwrap()),
        }
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            input.as_bytes(),
            &sig,
        )
        .is_ok(),
        "OKP" => ring::signature::UnparsedPublicKey::new(
            &ring::signature::ED25519,
            decode(jwk["x"].as_str().unwrap()),
        )
        .verify(input.as_bytes(), &sig)
        .is_ok(),
        _ => false,
    }
}

async fn independent_check(alg: Algorithm, expected_alg: &str, expected_kty: &str) {
    let app = spawn_app_with(Options {
        alg,
        ..Options::default()
    })
    .await;
    let (_, access, _) = app.signed_up_user().await;

    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();

    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "active and next are published");
    for jwk in keys {
        assert_eq!(
            jwk["kid"].as_str().unwrap(),
            thumbprint(jwk),
            "kid is the RFC 7638 thumbprint"
        );
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["alg"], expected_alg);
        assert_eq!(jwk["kty"], expected_kty);
        let mut members: Vec<_> = jwk.as_object().unwrap().keys().cloned().collect();
        members.sort();
        let expected: &[&str] = if expected_kty == "RSA" {
            &["alg", "e", "kid", "kty", "n", "use"]
        } else {
            &["alg", "crv", "kid", "kty", "use", "x"]
        };
        assert_eq!(members, expected, "public members only");
    }
    let header = segment(&access, 0);
    assert_eq!(header["alg"], expected_alg);
    let jwk = keys
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the token's kid is published");
    assert!(
        verify_with_jwk(&access, jwk),
        "the token verifies with the published key alone"
    );
    let other = keys.iter().find(|k| k["kid"] != header["kid"]).unwrap();
    assert!(
        !verify_with_jwk(&access, other),
        "and not with the other key"
    );
}

#[tokio::test]
async fn an_rs256_token_verifies_with_the_published_jwk_alone() {
    independent_check(Algorithm::Rs256, "RS256", "RSA").await;
}

#[tokio::test]
async fn an_eddsa_token_verifies_with_the_published_jwk_alone() {
    independent_check(Algorithm::EdDsa, "EdDSA", "OKP").await;
}

#[tokio::test]
async fn the_jwk_set_is_cacheable_with_a_strong_etag_and_answers_304() {
    let app = spawn_app().await;

    let first = app.get("/.well-known/jwks.json", None).await;

    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["cache-control"], "public, max-age=300");
    assert!(
        first.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"),
        "strong etag {etag}"
    );

    let again = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"], etag.as_str());
    assert!(again.bytes().await.unwrap().is_empty());

    let stale = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("if-none-match", "\"old\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
}

#[tokio::test]
async fn jwks_max_age_follows_the_setting() {
    let app = spawn_app_with(Options {
        tweak: Box::new(|s| s.jwks_max_age = std::time::Duration::from_secs(60)),
        ..Options::default()
    })
    .await;

    let resp = app.get("/.well-known/jwks.json", None).await;

    assert_eq!(resp.headers()["cache-control"], "public, max-age=60");
}

#[tokio::test]
async fn key_files_are_owner_only_pkcs8_pem_with_one_active_and_one_next() {
    let app = spawn_app().await;

    let manifest = app.manifest();

    let keys = manifest["keys"].as_array().unwrap();
    let mut states: Vec<_> = keys
        .iter()
        .map(|k| k["state"].as_str().unwrap().to_owned())
        .collect();
    states.sort();
    assert_eq!(states, ["active", "next"]);
    for key in keys {
        let path = app
            .keys_dir
            .join(format!("{}.pem", key["kid"].as_str().unwrap()));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{path:?}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("-----BEGIN PRIVATE KEY-----\n"),
            "PKCS#8, not PKCS#1"
        );
        assert!(pem::parse(&text).unwrap().tag() == "PRIVATE KEY");
    }
}

#[tokio::test]
async fn a_fresh_keys_folder_is_created_on_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("fresh-keys");
    let keys_for_settings = keys.clone();
    let app = spawn_app_with(Options {
        alg: Algorithm::EdDsa,
        tweak: Box::new(move |s| s.keys_dir = keys_for_settings),
    })
    .await;

    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();

    let manifest: Value =
        serde_json::from_slice(&std::fs::read(keys.join("keyset.json")).unwrap()).unwrap();
    assert_eq!(manifest["keys"].as_array().unwrap().len(), 2);
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    assert_eq!(jwks["keys"][0]["alg"], json!("EdDSA"));
    let dir_mode = std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
}
