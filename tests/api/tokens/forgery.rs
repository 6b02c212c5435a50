//! Forged tokens an attacker would try beyond the rules of SPEC §3 (those are
//! in `tokens`): hostile `kid` values, a published `kid` on a token signed by
//! another key, algorithm confusion between RS256 and EdDSA keys, and base64
//! tricks in each segment of otherwise correctly signed tokens. Each is sent
//! to sigil (`/me`) and to the downstream verifier (`sigil::verify`).

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sigil::keys::{Algorithm, KeyFolder};
use sigil::verify::{JwksVerifier, VerifyError};

use super::helpers::{Options, TestApp, keys, segment, spawn_app, spawn_app_with};

/// The private key file of the server's key with `kid`.
fn key_file(app: &TestApp, kid: &str) -> PathBuf {
    app.keys_dir.join(format!("{kid}.pem"))
}

/// Valid claims for the user `sub` of `app`.
fn claims(app: &TestApp, sub: &str) -> String {
    app.valid_claims(sub).to_string()
}

/// A server with keys of `alg`, one user, and that user's id.
async fn app_and_user(alg: Algorithm) -> (TestApp, String) {
    let app = spawn_app_with(Options {
        alg,
        ..Options::default()
    })
    .await;
    let (_, access, _) = app.signed_up_user().await;
    let sub = segment(&access, 1)["sub"].as_str().unwrap().to_owned();
    (app, sub)
}

fn verifier(app: &TestApp) -> JwksVerifier {
    JwksVerifier::new(
        app.url("/.well-known/jwks.json").parse().unwrap(),
        &app.issuer,
        &app.issuer,
    )
}

/// Sigil answers 401 `invalid_token` (or 431 for a header past the size
/// limit) and the downstream verifier calls the token invalid. A token with
/// a line break cannot travel in an HTTP header at all; it goes to the
/// verifier only.
async fn assert_forgery_rejected(app: &TestApp, verifier: &JwksVerifier, token: &str, case: &str) {
    assert!(
        matches!(verifier.verify(token).await, Err(VerifyError::Invalid(_))),
        "case {case:?} passed the downstream verifier"
    );
    if token.contains(['\r', '\n']) {
        return;
    }
    let resp = app.get("/me", Some(token)).await;
    match resp.status().as_u16() {
        401 => assert_eq!(
            resp.headers()["www-authenticate"],
            r#"Bearer error="invalid_token""#,
            "case {case:?}"
        ),
        431 => assert!(
            token.len() > 8 * 1024,
            "case {case:?}: 431 for a short token"
        ),
        other => panic!("case {case:?} got {other}"),
    }
}

#[tokio::test]
async fn control_tokens_signed_by_the_test_itself_are_accepted_by_both_checkers() {
    for alg in [Algorithm::Rs256, Algorithm::EdDsa] {
        let (app, sub) = app_and_user(alg).await;
        let kid = app.active_kid();
        let alg_name = if alg == Algorithm::Rs256 {
            "RS256"
        } else {
            "EdDSA"
        };
        let header = json!({"alg": alg_name, "typ": "at+jwt", "kid": kid}).to_string();

        let token = keys::sign_json(&key_file(&app, &kid), alg, &header, &claims(&app, &sub));

        assert_eq!(
            app.get("/me", Some(&token)).await.status(),
            200,
            "{alg_name}"
        );
        assert!(verifier(&app).verify(&token).await.is_ok(), "{alg_name}");
    }
}

#[tokio::test]
async fn hostile_kid_values_are_unknown_kids_and_nothing_more() {
    let (app, sub) = app_and_user(Algorithm::Rs256).await;
    let verifier = verifier(&app);
    let file = key_file(&app, &app.active_kid());
    let junk: String = (0..10 * 1024)
        .map(|i| (b'!' + (i % 90) as u8) as char)
        .collect();
    let kids = [
        json!("../../etc/passwd"),
        json!("../../../../../../proc/self/environ"),
        json!(format!("{}/../keyset.json", app.keys_dir.display())),
        json!("' OR '1'='1"),
        json!("\"; DROP TABLE users; --"),
        json!("kid\u{0000}with-nul"),
        json!(junk),
        json!(42),
        json!(["a", "b"]),
        json!({"kid": app.active_kid()}),
        json!(null),
    ];
    for kid in kids {
        let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": kid}).to_string();
        let token = keys::sign_json(&file, Algorithm::Rs256, &header, &claims(&app, &sub));
        let case = format!(
            "kid {}",
            kid.to_string().chars().take(40).collect::<String>()
        );

        assert_forgery_rejected(&app, &verifier, &token, &case).await;
    }
    assert_eq!(
        app.get("/.well-known/jwks.json", None).await.status(),
        200,
        "the key set is untouched"
    );
}

#[tokio::test]
async fn a_token_signed_by_another_key_under_a_published_kid_is_rejected() {
    for alg in [Algorithm::Rs256, Algorithm::EdDsa] {
        let (app, sub) = app_and_user(alg).await;
        let verifier = verifier(&app);
        let elsewhere = tempfile::tempdir().unwrap();
        let other = KeyFolder::new(elsewhere.path())
            .load_or_init(alg, 2048)
            .unwrap();
        let other_file = elsewhere
            .path()
            .join(format!("{}.pem", other.active().kid()));
        let alg_name = if alg == Algorithm::Rs256 {
            "RS256"
        } else {
            "EdDSA"
        };

        for kid in [app.active_kid(), app.kid_in_state("next")] {
            let header = json!({"alg": alg_name, "typ": "at+jwt", "kid": kid}).to_string();
            let token = keys::sign_json(&other_file, alg, &header, &claims(&app, &sub));

            assert_forgery_rejected(&app, &verifier, &token, &format!("{alg_name} {kid}")).await;
        }
    }
}

#[tokio::test]
async fn an_eddsa_key_cannot_be_used_under_rs256_and_an_rsa_key_not_under_eddsa() {
    let cases = [
        // (server keys, the header's claim, the key that really signs)
        (Algorithm::EdDsa, "RS256", Algorithm::EdDsa),
        (Algorithm::Rs256, "EdDSA", Algorithm::Rs256),
    ];
    for (server_alg, claimed, signer) in cases {
        let (app, sub) = app_and_user(server_alg).await;
        let verifier = verifier(&app);
        let kid = app.active_kid();
        let header = json!({"alg": claimed, "typ": "at+jwt", "kid": kid}).to_string();

        let token = keys::sign_json(&key_file(&app, &kid), signer, &header, &claims(&app, &sub));

        assert_forgery_rejected(&app, &verifier, &token, &format!("{claimed} over {kid}")).await;
    }
}

#[tokio::test]
async fn keys_of_both_algorithms_in_one_set_never_stand_in_for_each_other() {
    // An RS256 server whose JWK Set also publishes an EdDSA key (after an
    // algorithm switch): a token naming the Ed25519 kid but claiming RS256
    // and signed by the RSA key must fail, and the reverse.
    let app = spawn_app().await;
    let (_, access, _) = app.signed_up_user().await;
    let sub = segment(&access, 1)["sub"].as_str().unwrap().to_owned();
    let folder = KeyFolder::new(&app.keys_dir);
    let options = sigil::keys::RotateOptions {
        alg: Algorithm::EdDsa,
        rsa_bits: 2048,
        min_next_age: std::time::Duration::ZERO,
        force: true,
        grace: std::time::Duration::from_secs(960),
    };
    folder.rotate(options).unwrap();
    app.reloader
        .reload(sigil::reload::Trigger::Signal)
        .await
        .unwrap();
    let rsa_kid = app.active_kid();
    let ed_kid = app.kid_in_state("next");
    let verifier = verifier(&app);

    let cases = [
        ("RS256", ed_kid.clone(), rsa_kid.clone(), Algorithm::Rs256),
        ("EdDSA", rsa_kid.clone(), ed_kid.clone(), Algorithm::EdDsa),
    ];
    for (claimed, named_kid, signing_kid, signer) in cases {
        let header = json!({"alg": claimed, "typ": "at+jwt", "kid": named_kid}).to_string();
        let token = keys::sign_json(
            &key_file(&app, &signing_kid),
            signer,
            &header,
            &claims(&app, &sub),
        );

        assert_forgery_rejected(
            &app,
            &verifier,
            &token,
            &format!("{claimed} naming {named_kid}"),
        )
        .await;
    }
}

/// Ways to write a segment that a lenient decoder would read as the same bytes.
fn encoding_tricks(bytes: &[u8]) -> Vec<(&'static str, String)> {
    let honest = URL_SAFE_NO_PAD.encode(bytes);
    let mut tricks = vec![
        (
            "padding",
            STANDARD.encode(bytes).replace('+', "-").replace('/', "_"),
        ),
        ("explicit '==' padding", format!("{honest}==")),
        ("leading space", format!(" {honest}")),
        ("trailing newline", format!("{honest}\n")),
        ("space inside", format!("{} {}", &honest[..4], &honest[4..])),
        ("tab inside", format!("{}\t{}", &honest[..4], &honest[4..])),
        (
            "CRLF inside",
            format!("{}\r\n{}", &honest[..4], &honest[4..]),
        ),
        ("standard alphabet", STANDARD_NO_PAD.encode(bytes)),
        (
            "percent-encoded",
            honest.replacen(&honest[..1], &format!("%{:02X}", honest.as_bytes()[0]), 1),
        ),
    ];
    if let Some(last) = non_canonical_last_char(&honest) {
        let mut s = honest.clone();
        s.pop();
        s.push(last);
        tricks.push(("non-canonical trailing bits", s));
    }
    // Only tricks that change the text test anything.
    tricks.retain(|(_, t)| *t != honest);
    tricks
}

/// The last character with one of its unused low bits set, if the segment
/// has unused bits at all (length 2 or 3 mod 4).
fn non_canonical_last_char(encoded: &str) -> Option<char> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let unused_mask = match encoded.len() % 4 {
        2 => 0b1111,
        3 => 0b11,
        _ => return None,
    };
    let last = *encoded.as_bytes().last()?;
    let index = ALPHABET.iter().position(|c| *c == last)?;
    Some(ALPHABET[(index | 1) & 63] as char).filter(|_| index & unused_mask == 0)
}

#[tokio::test]
async fn base64_tricks_in_any_segment_of_a_correctly_signed_token_are_rejected() {
    let (app, sub) = app_and_user(Algorithm::Rs256).await;
    let verifier = verifier(&app);
    let kid = app.active_kid();
    let file = key_file(&app, &kid);
    // Lengths chosen so each segment has unused trailing bits and needs padding.
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": kid}).to_string();
    let mut claims_json = claims(&app, &sub);
    while claims_json.len().is_multiple_of(3) {
        claims_json.insert(1, ' ');
    }
    assert!(
        encoding_tricks(claims_json.as_bytes())
            .iter()
            .any(|(trick, _)| trick.starts_with("non-canonical")),
        "the claims segment has unused bits to abuse"
    );
    let honest_header = URL_SAFE_NO_PAD.encode(&header);
    let honest_claims = URL_SAFE_NO_PAD.encode(&claims_json);

    let mut tried = 0;
    for (trick, h) in encoding_tricks(header.as_bytes()) {
        // The signature covers the tricked text: only the decoder can refuse.
        let token = keys::sign_input(&file, Algorithm::Rs256, &format!("{h}.{honest_claims}"));
        assert_forgery_rejected(&app, &verifier, &token, &format!("header: {trick}")).await;
        tried += 1;
    }
    for (trick, c) in encoding_tricks(claims_json.as_bytes()) {
        let token = keys::sign_input(&file, Algorithm::Rs256, &format!("{honest_header}.{c}"));
        assert_forgery_rejected(&app, &verifier, &token, &format!("claims: {trick}")).await;
        tried += 1;
    }
    let good = keys::sign_json(&file, Algorithm::Rs256, &header, &claims_json);
    let (input, signature) = good.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    for (trick, s) in encoding_tricks(&signature) {
        let token = format!("{input}.{s}");
        assert_forgery_rejected(&app, &verifier, &token, &format!("signature: {trick}")).await;
        tried += 1;
    }

    assert!(tried >= 24, "only {tried} tricks applied");
    assert_eq!(
        app.get("/me", Some(&good)).await.status(),
        200,
        "the honest token works"
    );
}

#[tokio::test]
async fn a_header_that_is_not_a_json_object_is_rejected() {
    let (app, sub) = app_and_user(Algorithm::Rs256).await;
    let verifier = verifier(&app);
    let file = key_file(&app, &app.active_kid());
    let c = claims(&app, &sub);
    let headers: [Value; 4] = [json!(["RS256"]), json!("RS256"), json!(null), json!(42)];
    for header in headers {
        let token = keys::sign_json(&file, Algorithm::Rs256, &header.to_string(), &c);

        assert_forgery_rejected(&app, &verifier, &token, &header.to_string()).await;
    }
    let bom = format!(
        "\u{feff}{}",
        json!({"alg": "RS256", "typ": "at+jwt", "kid": app.active_kid()})
    );
    let token = keys::sign_json(&file, Algorithm::Rs256, &bom, &c);
    assert_forgery_rejected(&app, &verifier, &token, "byte-order mark").await;
}
