//! `sigil keys import FILE` through the real binary, with keys made by
//! openssl: the imported key becomes `next`, a running server publishes it
//! and, after a rotation, signs with it, checked against the public key that
//! openssl derives (with ring, not sigil's code); every refused import prints
//! one line, exits non-zero and changes no byte of the folder.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sigil::keys::Algorithm;
use sigil::reload::Trigger;

use super::fixture::{Keys, run, sigil_keys, stderr, stdout, succeed};
use crate::helpers::keys::{kids_in_jwks, openssl_available, openssl_ok};
use crate::helpers::{Options, segment, spawn_app_with};

/// `openssl genpkey <args> -out <dir>/<name>`; returns the file.
fn genpkey(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let file = dir.join(name);
    let mut all = vec!["genpkey"];
    all.extend_from_slice(args);
    all.extend(["-out", file.to_str().unwrap()]);
    openssl_ok(&all);
    file
}

/// A public key as openssl derives it from a private key file.
enum OpensslPublicKey {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ed25519(Vec<u8>),
}

impl OpensslPublicKey {
    fn of(key_file: &Path, alg: Algorithm) -> OpensslPublicKey {
        let key = key_file.to_str().unwrap();
        match alg {
            Algorithm::Rs256 => {
                let modulus = openssl_ok(&["rsa", "-in", key, "-noout", "-modulus"]);
                let modulus = String::from_utf8(modulus.stdout).unwrap();
                let hex = modulus.trim().strip_prefix("Modulus=").unwrap();
                let n = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect();
                let text = openssl_ok(&["pkey", "-in", key, "-pubout", "-noout", "-text"]);
                let text = String::from_utf8(text.stdout).unwrap();
                assert!(text.contains("Exponent: 65537"), "{text}");
                OpensslPublicKey::Rsa {
                    n,
                    e: vec![1, 0, 1],
                }
            }
            Algorithm::EdDsa => {
                let der = openssl_ok(&["pkey", "-in", key, "-pubout", "-outform", "DER"]).stdout;
                // SubjectPublicKeyInfo of Ed25519 (RFC 8410): 12 bytes, then the key.
                let prefix = [
                    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
                ];
                assert_eq!(der.len(), 44);
                assert_eq!(der[..12], prefix);
                OpensslPublicKey::Ed25519(der[12..].to_vec())
            }
        }
    }

    /// The RFC 7638 thumbprint, computed here from the required members in
    /// lexicographic order.
    fn thumbprint(&self) -> String {
        let json = match self {
            OpensslPublicKey::Rsa { n, e } => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                URL_SAFE_NO_PAD.encode(e),
                URL_SAFE_NO_PAD.encode(n)
            ),
            OpensslPublicKey::Ed25519(x) => format!(
                r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                URL_SAFE_NO_PAD.encode(x)
            ),
        };
        URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, json.as_bytes()))
    }

    /// Whether the compact JWS `token` carries a valid signature by this key.
    fn verifies(&self, token: &str) -> bool {
        let (input, signature) = token.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        match self {
            OpensslPublicKey::Rsa { n, e } => ring::signature::RsaPublicKeyComponents { n, e }
                .verify(
                    &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                    input.as_bytes(),
                    &signature,
                )
                .is_ok(),
            OpensslPublicKey::Ed25519(x) => {
                ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, x)
                    .verify(input.as_bytes(), &signature)
                    .is_ok()
            }
        }
    }
}

async fn an_openssl_key_imported_into_a_running_server_signs_after_a_rotation(
    server_alg: Algorithm,
    key_alg: Algorithm,
    genpkey_args: &[&str],
) {
    if !openssl_available() {
        return;
    }
    let app = spawn_app_with(Options {
        alg: server_alg,
        ..Default::default()
    })
    .await;
    let made = tempfile::tempdir().unwrap();
    let file = genpkey(made.path(), "key.pem", genpkey_args);
    let public = OpensslPublicKey::of(&file, key_alg);
    let old_next = app.kid_in_state("next");

    let imported = succeed(&mut sigil_keys(
        &app.keys_dir,
        &["import", file.to_str().unwrap()],
    ));

    let kid = stdout(&imported).trim().to_owned();
    assert_eq!(
        kid,
        public.thumbprint(),
        "the kid is the RFC 7638 thumbprint"
    );
    let summary = stderr(&imported);
    assert!(
        summary.contains(key_alg.as_str()) && summary.contains(&old_next),
        "{summary}"
    );
    assert_eq!(app.kid_in_state("next"), kid);
    assert!(
        !app.keys_dir.join(format!("{old_next}.pem")).exists(),
        "the generated next key is gone"
    );
    app.reloader.reload(Trigger::Signal).await.unwrap();
    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        kids_in_jwks(&jwks).contains(&kid),
        "published as next: {jwks}"
    );
    assert!(!kids_in_jwks(&jwks).contains(&old_next));

    let rotated = succeed(&mut sigil_keys(&app.keys_dir, &["rotate", "--force"]));
    assert_eq!(stdout(&rotated).trim(), kid);
    app.reloader.reload(Trigger::Signal).await.unwrap();

    let (_, access, _) = app.signed_up_user().await;
    let header = segment(&access, 0);
    assert_eq!(header["kid"], kid.as_str());
    assert_eq!(header["alg"], key_alg.as_str());
    assert!(
        public.verifies(&access),
        "the signature verifies under openssl's public key"
    );
    assert_eq!(app.get("/me", Some(&access)).await.status(), 200);
}

#[tokio::test]
async fn an_openssl_rsa_2048_key_imported_into_an_eddsa_server_signs_its_tokens_after_a_rotation() {
    an_openssl_key_imported_into_a_running_server_signs_after_a_rotation(
        Algorithm::EdDsa,
        Algorithm::Rs256,
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    )
    .await;
}

#[tokio::test]
async fn an_openssl_ed25519_key_imported_into_an_rs256_server_signs_its_tokens_after_a_rotation() {
    an_openssl_key_imported_into_a_running_server_signs_after_a_rotation(
        Algorithm::Rs256,
        Algorithm::EdDsa,
        &["-algorithm", "ed25519"],
    )
    .await;
}

#[test]
fn refused_imports_print_one_line_exit_non_zero_and_change_no_byte_of_the_folder() {
    if !openssl_available() {
        return;
    }
    let keys = Keys::new(Algorithm::EdDsa);
    let made = tempfile::tempdir().unwrap();
    let dir = made.path();
    let path = |p: &PathBuf| p.to_str().unwrap().to_owned();
    let rsa_1024 = genpkey(
        dir,
        "rsa-1024.pem",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
    );
    let ed25519 = genpkey(dir, "ed25519.pem", &["-algorithm", "ed25519"]);
    let encrypted = genpkey(
        dir,
        "encrypted.pem",
        &["-algorithm", "ed25519", "-aes256", "-pass", "pass:x"],
    );
    let proc_type = dir.join("proc-type.pem");
    openssl_ok(&[
        "rsa",
        "-in",
        &path(&rsa_1024),
        "-traditional",
        "-aes256",
        "-passout",
        "pass:x",
        "-out",
        &path(&proc_type),
    ]);
    let pkcs1 = dir.join("pkcs1.pem");
    openssl_ok(&[
        "rsa",
        "-in",
        &path(&rsa_1024),
        "-traditional",
        "-out",
        &path(&pkcs1),
    ]);
    let public = dir.join("public.pem");
    openssl_ok(&[
        "pkey",
        "-in",
        &path(&ed25519),
        "-pubout",
        "-out",
        &path(&public),
    ]);
    let p256 = genpkey(
        dir,
        "p256.pem",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    let ed448 = genpkey(dir, "ed448.pem", &["-algorithm", "ed448"]);
    let exponent_3 = genpkey(
        dir,
        "e3.pem",
        &[
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-pkeyopt",
            "rsa_keygen_pubexp:3",
        ],
    );
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, b"not a key at all\n").unwrap();
    let binary = dir.join("binary.der");
    std::fs::write(&binary, [0x30, 0x82, 0xff, 0xfe, 0x00, 0x80]).unwrap();
    let huge = dir.join("huge.pem");
    std::fs::write(&huge, vec![b'A'; 1024 * 1024]).unwrap();
    let active = keys.file(&keys.kid("active"));
    let cases: [(&Path, &str); 13] = [
        (&rsa_1024, "smaller than 2048 bits"),
        (&encrypted, "encrypted"),
        (&proc_type, "encrypted"),
        (&pkcs1, "openssl pkcs8 -topk8"),
        (&public, "public key"),
        (&p256, "and Ed25519 (EdDSA) keys are supported"),
        (&ed448, "and Ed25519 (EdDSA) keys are supported"),
        (&exponent_3, "exponent"),
        (&garbage, "PEM"),
        (&binary, "not text"),
        (&huge, "larger than"),
        (&active, "already in the key set"),
        (&dir.join("missing.pem"), "No such file"),
    ];
    let before = keys.snapshot();

    for (file, expected) in cases {
        let out = run(&mut keys.sigil(&["import", file.to_str().unwrap()]));

        let message = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{file:?}: {message}");
        assert!(out.stdout.is_empty(), "{file:?}");
        assert_eq!(message.lines().count(), 1, "{file:?}: {message}");
        assert!(message.contains(expected), "{file:?}: {message}");
        let content = std::fs::read(file).unwrap_or_default();
        for line in String::from_utf8_lossy(&content).lines() {
            // Base64 lines of the body (not the armour, not `Proc-Type:` headers).
            if line.len() >= 16 && !line.starts_with("-----") && !line.contains(':') {
                assert!(
                    !message.contains(line),
                    "{file:?}: the message quotes the key"
                );
            }
        }
        assert_eq!(keys.snapshot(), before, "{file:?} changed the folder");
    }
}

#[test]
fn importing_the_same_key_twice_is_refused_the_second_time() {
    if !openssl_available() {
        return;
    }
    let keys = Keys::new(Algorithm::EdDsa);
    let made = tempfile::tempdir().unwrap();
    let file = genpkey(made.path(), "ed25519.pem", &["-algorithm", "ed25519"]);
    let first = succeed(&mut keys.sigil(&["import", file.to_str().unwrap()]));
    let kid = stdout(&first).trim().to_owned();
    let before = keys.snapshot();

    let second = run(&mut keys.sigil(&["import", file.to_str().unwrap()]));

    assert_eq!(second.status.code(), Some(2));
    let message = stderr(&second);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains(&kid) && message.contains("state next"),
        "{message}"
    );
    assert_eq!(keys.snapshot(), before);
    assert_eq!(keys.kid("next"), kid);
}

#[test]
fn a_key_piped_through_dev_stdin_is_imported_without_a_file() {
    if !openssl_available() {
        return;
    }
    let keys = Keys::new(Algorithm::EdDsa);
    let key = openssl_ok(&["genpkey", "-algorithm", "ed25519"]).stdout;
    let mut child = keys
        .sigil(&["import", "/dev/stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &key).unwrap();

    let out = child.wait_with_output().unwrap();

    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(keys.kid("next"), stdout(&out).trim());
}

#[test]
fn keys_import_help_says_what_becomes_of_the_next_key_and_what_is_refused() {
    let keys = Keys::new(Algorithm::EdDsa);

    let out = succeed(&mut keys.sigil(&["import", "--help"]));

    let help = stdout(&out);
    for phrase in [
        "replaces the current next key",
        "following rotation",
        "openssl pkey -in FILE -out PLAIN.pem",
        "openssl pkcs8 -topk8 -nocrypt",
        "RFC 7638",
    ] {
        assert!(help.contains(phrase), "{phrase:?} missing from:\n{help}");
    }
}
