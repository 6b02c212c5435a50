//! Third-party verifiers accept sigil's tokens: PyJWT's `PyJWKClient` and
//! Node's `jose` (`createRemoteJWKSet` + `jwtVerify`) fetch the live JWK Set
//! and check signature, `iss`, `aud`, algorithm and (jose) `typ`.
//!
//! The scripts are in `tests/interop/`; `.ci/run` installs what they need (a
//! venv at `target/interop-venv`, `npm ci` in `tests/interop`). Where a
//! verifier is missing, its test is skipped (`helpers::skip`: SKIPPED outside
//! CI, a failure under `CI=true`).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use sigil::keys::Algorithm;

use crate::helpers::skip::skip;
use crate::helpers::{Options, TestApp, b64, segment, spawn_app_with};
use crate::interop::tools::{interop_dir, node_with, run_bounded, venv_python};

/// The audience the servers under test put in `aud`; not the issuer, so a
/// verifier that confused the two would be caught.
const AUDIENCE: &str = "https://api.interop.example";

/// Exit status of a script that verified the token.
const VALID: i32 = 0;
/// Exit status of a script that rejected the token (2 means it could not run).
const REJECTED: i32 = 3;

/// A verifier run as a child process.
struct Verifier {
    name: &'static str,
    program: PathBuf,
    script: PathBuf,
}

/// PyJWT from the venv `.ci/run` makes (`SIGIL_INTEROP_VENV` to use another).
fn pyjwt() -> Result<Verifier, String> {
    Ok(Verifier {
        name: "PyJWT",
        program: venv_python("jwt, cryptography")?,
        script: interop_dir().join("verify_pyjwt.py"),
    })
}

/// jose from `tests/interop/node_modules`, run by the `node` on PATH.
fn jose() -> Result<Verifier, String> {
    Ok(Verifier {
        name: "jose",
        program: node_with("jose")?,
        script: interop_dir().join("verify_jose.mjs"),
    })
}

impl Verifier {
    /// Runs the script on `token` against `app`'s JWK Set; returns its exit
    /// status and what it printed.
    async fn check(&self, app: &TestApp, audience: &str, token: &str) -> (i32, String) {
        let mut command = Command::new(&self.program);
        command.arg(&self.script).args([
            &app.url("/.well-known/jwks.json"),
            &app.issuer,
            audience,
            token,
        ]);
        // Blocking wait off the runtime thread: the server answers the script's
        // JWKS request on this same runtime.
        tokio::task::spawn_blocking(move || run_bounded(command, Duration::from_secs(60)))
            .await
            .unwrap()
    }

    async fn assert_accepts(&self, app: &TestApp, token: &str, what: &str) {
        let (code, output) = self.check(app, AUDIENCE, token).await;
        assert_eq!(code, VALID, "{} should accept {what}: {output}", self.name);
    }

    async fn assert_rejects(&self, app: &TestApp, audience: &str, token: &str, what: &str) {
        let (code, output) = self.check(app, audience, token).await;
        assert_eq!(
            code, REJECTED,
            "{} should reject {what}: {output}",
            self.name
        );
    }
}

/// `token` with its payload changed to grant `admin`; header and signature kept.
fn with_admin_scope(token: &str) -> String {
    let mut claims = segment(token, 1);
    claims["scope"] = "profile admin".into();
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(claims.to_string().as_bytes()),
        parts[2]
    );
    assert_ne!(forged, token);
    forged
}

/// For each algorithm: a fresh token verifies; a tampered one and one checked
/// against another audience are rejected; and (RS256, which the test can sign
/// itself) a validly signed token whose `typ` is not `at+jwt` is rejected.
async fn verifier_accepts_sigil_tokens_and_rejects_forgeries(verifier: Verifier) {
    for (alg, alg_name) in [(Algorithm::Rs256, "RS256"), (Algorithm::EdDsa, "EdDSA")] {
        let app = spawn_app_with(Options {
            alg,
            tweak: Box::new(|s| s.audience = Some(AUDIENCE.to_owned())),
        })
        .await;
        let (_, token, _) = app.signed_up_user().await;
        assert_eq!(segment(&token, 0)["alg"], alg_name);
        assert_eq!(segment(&token, 1)["aud"], AUDIENCE);

        verifier
            .assert_accepts(&app, &token, &format!("a fresh {alg_name} token"))
            .await;
        verifier
            .assert_rejects(
                &app,
                AUDIENCE,
                &with_admin_scope(&token),
                &format!("a {alg_name} token whose payload was changed"),
            )
            .await;
        verifier
            .assert_rejects(
                &app,
                "https://another-api.example",
                &token,
                &format!("a {alg_name} token checked for another audience"),
            )
            .await;
        if alg == Algorithm::Rs256 {
            // Correctly signed by sigil's key, but not typed as an access token.
            let mut header = segment(&token, 0);
            header["typ"] = "JWT".into();
            let plain_jwt = app.sign_with_active_key(&header, &segment(&token, 1));
            verifier
                .assert_rejects(
                    &app,
                    AUDIENCE,
                    &plain_jwt,
                    "a signed token whose typ is JWT",
                )
                .await;
        }
    }
}

#[tokio::test]
async fn pyjwt_accepts_sigil_tokens_and_rejects_tampered_or_misaddressed_ones() {
    match pyjwt() {
        Ok(verifier) => verifier_accepts_sigil_tokens_and_rejects_forgeries(verifier).await,
        Err(why) => skip(&why),
    }
}

#[tokio::test]
async fn jose_accepts_sigil_tokens_and_rejects_tampered_or_misaddressed_ones() {
    match jose() {
        Ok(verifier) => verifier_accepts_sigil_tokens_and_rejects_forgeries(verifier).await,
        Err(why) => skip(&why),
    }
}

/// Arguments a verifier accepts as to their form; never used for a request,
/// since it stops before (`127.0.0.1:1` refuses connections anyway).
const UNUSED_ARGS: [&str; 4] = [
    "http://127.0.0.1:1/.well-known/jwks.json",
    "http://127.0.0.1:1",
    "http://127.0.0.1:1",
    "a.b.c",
];

/// Exit status of a verifier that could not run at all.
const CANNOT_RUN: i32 = 2;

/// `script` copied alone into a fresh folder, so that no `node_modules` (or
/// anything else of tests/interop) is beside it: a fresh clone before
/// `npm ci`, as far as the script can tell.
fn copied_alone(script: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join(script);
    std::fs::copy(interop_dir().join(script), &copy).unwrap();
    (dir, copy)
}

#[test]
fn the_jose_verifier_exits_2_when_jose_is_not_installed() {
    let node_runs = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !node_runs {
        return skip("node is not on PATH");
    }
    let (dir, script) = copied_alone("verify_jose.mjs");
    let mut command = Command::new("node");
    command
        .arg(&script)
        .args(UNUSED_ARGS)
        .current_dir(dir.path())
        .env_remove("NODE_PATH");

    let (code, output) = run_bounded(command, Duration::from_secs(60));

    assert_eq!(code, CANNOT_RUN, "{output}");
    assert!(output.contains("jose"), "says what is missing: {output}");
    assert!(output.contains("npm ci"), "says how to get it: {output}");
}

#[test]
fn the_pyjwt_verifier_exits_2_when_pyjwt_is_not_installed() {
    let python_runs = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !python_runs {
        return skip("python3 is not on PATH");
    }
    let (dir, script) = copied_alone("verify_pyjwt.py");
    let mut command = Command::new("python3");
    // -S: no site-packages, so no PyJWT whatever this machine has installed;
    // -I: no PYTHONPATH or user site either.
    command
        .args(["-I", "-S"])
        .arg(&script)
        .args(UNUSED_ARGS)
        .current_dir(dir.path());

    let (code, output) = run_bounded(command, Duration::from_secs(60));

    assert_eq!(code, CANNOT_RUN, "{output}");
    assert!(output.contains("jwt"), "says what is missing: {output}");
    assert!(
        output.contains("requirements.txt"),
        "says how to get it: {output}"
    );
}
