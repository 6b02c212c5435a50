//! Key files are readable by standard tools: `openssl pkey` reads every key
//! file a server writes, RS256 and EdDSA, before and after a rotation; and
//! an Ed25519 file in the PKCS#8 v2 form of older versions still loads and
//! is rewritten as v1 by the next rotation.

use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::Value;
use sigil::keys::Algorithm;

use super::fixture::{Keys, sigil_keys, stdout, succeed};
use crate::helpers::keys::{kid_in_state, openssl_available, openssl_ok};
use crate::helpers::{ServerProcess, keys::kids_in_jwks};

fn key_files(keys_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(keys_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pem"))
        .collect();
    files.sort();
    files
}

/// `openssl pkey -noout` reads each key file, and `-text` names its type.
fn assert_openssl_reads_every_key_file(keys_dir: &Path, alg: Algorithm, expected_files: usize) {
    let files = key_files(keys_dir);
    assert_eq!(files.len(), expected_files, "{files:?}");
    let kind = match alg {
        Algorithm::Rs256 => "Private-Key: (2048 bit",
        Algorithm::EdDsa => "ED25519 Private-Key",
    };
    for file in files {
        let path = file.to_str().unwrap();
        openssl_ok(&["pkey", "-in", path, "-noout"]);
        let text = openssl_ok(&["pkey", "-in", path, "-noout", "-text"]);
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(
            text.contains(kind),
            "{path}: {}",
            text.lines().next().unwrap_or("")
        );
    }
}

fn every_key_file_of_a_server_is_read_by_openssl_before_and_after_a_rotation(alg: Algorithm) {
    if !openssl_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The server generates its keys on first start.
    let _server = ServerProcess::start(dir.path(), &[("SIGIL_SIGNING_ALG", alg.as_str())]);
    let keys_dir = dir.path().join("keys");

    assert_openssl_reads_every_key_file(&keys_dir, alg, 2);

    let mut rotate = sigil_keys(&keys_dir, &["rotate", "--force"]);
    succeed(rotate.env("SIGIL_SIGNING_ALG", alg.as_str()));
    assert_openssl_reads_every_key_file(&keys_dir, alg, 3);
}

#[test]
fn openssl_pkey_reads_every_key_file_of_an_rs256_server_before_and_after_a_rotation() {
    every_key_file_of_a_server_is_read_by_openssl_before_and_after_a_rotation(Algorithm::Rs256);
}

#[test]
fn openssl_pkey_reads_every_key_file_of_an_eddsa_server_before_and_after_a_rotation() {
    every_key_file_of_a_server_is_read_by_openssl_before_and_after_a_rotation(Algorithm::EdDsa);
}

/// The DER inside a one-block PEM file.
fn der_of(file: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(file).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

/// Replaces `file` (an Ed25519 PKCS#8 v1 key) with the same key as PKCS#8
/// v2, the form older versions of sigil wrote (aws-lc-rs's `to_pkcs8`).
fn rewrite_as_v2(file: &Path) {
    let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(&der_of(file)).unwrap();
    let v2 = pair.to_pkcs8().unwrap();
    let body = base64::engine::general_purpose::STANDARD.encode(v2.as_ref());
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
    std::fs::remove_file(file).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .and_then(|mut f| std::io::Write::write_all(&mut f, pem.as_bytes()))
        .unwrap();
}

#[tokio::test]
async fn an_ed25519_v2_key_file_of_an_older_sigil_still_loads_and_the_next_rotation_rewrites_it_as_v1()
 {
    if !openssl_available() {
        return;
    }
    let keys = Keys::new(Algorithm::EdDsa);
    let next = keys.kid("next");
    let file = keys.file(&next);
    rewrite_as_v2(&file);
    assert!(
        der_of(&file).len() > 48,
        "a v2 document with its public key"
    );

    // A server starts on the folder and publishes the key.
    let server = ServerProcess::start(keys.dir.path(), &[("SIGIL_SIGNING_ALG", "EdDSA")]);
    let jwks: Value = reqwest::get(format!("{}/.well-known/jwks.json", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(kids_in_jwks(&jwks).contains(&next), "{jwks}");

    let rotated = succeed(&mut keys.sigil(&["rotate", "--force"]));

    assert_eq!(stdout(&rotated).trim(), next, "the v2 key signs now");
    assert_eq!(kid_in_state(&keys.path, "active"), next);
    let der = der_of(&file);
    assert_eq!(der.len(), 48, "rewritten as PKCS#8 v1 (RFC 8410)");
    assert_eq!(der[4], 0x00, "version 0");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_openssl_reads_every_key_file(&keys.path, Algorithm::EdDsa, 3);
}
