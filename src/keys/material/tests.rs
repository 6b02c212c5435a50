//! Tests of key material: generation, the PKCS#8 files sigil and OpenSSL
//! write, signing and verification, and refusals.

use std::ffi::OsStr;

use super::super::test_support::{copy_with_state, ed25519_key, rsa_key, rsa_key_2};
use super::*;

#[test]
fn generated_rsa_and_ed25519_keys_sign_and_verify() {
    let ed = ed25519_key(KeyState::Active);
    for key in [rsa_key(), &ed] {
        let signature = key.sign(b"header.payload");
        assert!(key.verify(b"header.payload", &signature), "{key:?}");
        assert!(!key.verify(b"header.payload2", &signature), "{key:?}");
    }
    assert_eq!(rsa_key().sign(b"m").len(), 256);
    assert_eq!(ed25519_key(KeyState::Next).sign(b"m").len(), 64);
}

#[test]
fn a_signature_by_one_key_does_not_verify_under_another() {
    let (ed_a, ed_b) = (ed25519_key(KeyState::Next), ed25519_key(KeyState::Next));
    assert!(!ed_b.verify(b"m", &ed_a.sign(b"m")));
    assert!(!rsa_key_2().verify(b"m", &rsa_key().sign(b"m")));
}

#[test]
fn an_rs256_key_refuses_ed25519_signatures_and_vice_versa() {
    let ed = ed25519_key(KeyState::Next);
    let rsa = rsa_key();
    assert!(!rsa.verify(b"m", &ed.sign(b"m")));
    assert!(!ed.verify(b"m", &rsa.sign(b"m")));
    // Truncating an RSA signature to Ed25519 length does not help either.
    assert!(!ed.verify(b"m", &rsa.sign(b"m")[..64]));
}

#[test]
fn the_kid_is_the_rfc_7638_thumbprint_of_the_public_jwk() {
    for key in [rsa_key(), &ed25519_key(KeyState::Next)] {
        assert_eq!(key.kid(), super::super::thumbprint(key.jwk()));
        assert_eq!(key.kid(), key.jwk().kid);
        assert_eq!(key.kid().len(), 43);
    }
}

#[test]
fn rsa_jwks_carry_the_modulus_and_exponent_of_the_key() {
    let jwk = rsa_key().jwk();
    assert_eq!(jwk.kty, "RSA");
    assert_eq!(jwk.alg, Algorithm::Rs256);
    assert_eq!(jwk.e.as_deref(), Some("AQAB"));
    // 2048 bits = 256 bytes = 342 base64url characters, no leading zero.
    assert_eq!(jwk.n.as_deref().map(str::len), Some(342));
    assert!(jwk.crv.is_none() && jwk.x.is_none());
}

#[test]
fn keys_round_trip_through_pkcs8_pem() {
    for key in [rsa_key(), &ed25519_key(KeyState::Active)] {
        let pem = key.to_pkcs8_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let loaded = SigningKey::from_pkcs8_pem(&pem, key.meta().clone()).unwrap();
        assert_eq!(loaded.jwk(), key.jwk());
        assert!(key.verify(b"m", &loaded.sign(b"m")));
    }
}

#[test]
fn loading_refuses_a_kid_or_algorithm_that_does_not_match_the_key() {
    let key = ed25519_key(KeyState::Next);
    let mut meta = key.meta().clone();
    meta.kid = "not-the-thumbprint".into();
    let err = SigningKey::from_pkcs8_pem(&key.to_pkcs8_pem(), meta).unwrap_err();
    assert!(matches!(err, KeyError::KidMismatch { .. }), "{err}");

    let mut meta = key.meta().clone();
    meta.alg = Algorithm::Rs256;
    let err = SigningKey::from_pkcs8_pem(&key.to_pkcs8_pem(), meta).unwrap_err();
    assert!(matches!(err, KeyError::AlgorithmMismatch { .. }), "{err}");
}

/// RFC 8410 PKCS#8 v1 of an Ed25519 key: this 16-byte prefix, then the
/// 32-byte seed.
const ED25519_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

#[test]
fn ed25519_keys_are_written_as_rfc_8410_pkcs8_v1() {
    let key = ed25519_key(KeyState::Next);
    let der = pem_codec::decode_private_key(&key.to_pkcs8_pem()).unwrap();
    assert_eq!(der.len(), 48, "v1 holds the seed only");
    assert_eq!(der[..16], ED25519_V1_PREFIX);
}

#[test]
fn an_ed25519_pkcs8_v2_file_of_an_older_sigil_still_loads_and_keeps_its_kid() {
    let key = ed25519_key(KeyState::Next);
    let v1 = pem_codec::decode_private_key(&key.to_pkcs8_pem()).unwrap();
    // Older versions wrote v2 (seed and public key), as this does.
    let v2 = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&v1)
        .unwrap()
        .to_pkcs8()
        .unwrap();
    assert!(v2.as_ref().len() > 48, "a v2 document");
    let pem = pem_codec::encode_private_key(v2.as_ref());
    let loaded = SigningKey::from_pkcs8_pem(&pem, key.meta().clone()).unwrap();
    assert_eq!(loaded.kid(), key.kid());
    assert!(key.verify(b"m", &loaded.sign(b"m")));
    // Written back as v1, which OpenSSL reads; the folder's next writer
    // replaces the file.
    assert!(loaded.file_is_outdated());
    assert_eq!(loaded.to_pkcs8_pem(), key.to_pkcs8_pem());
    assert!(!key.file_is_outdated(), "a v1 file is current");
}

#[test]
fn an_rsa_key_is_written_back_exactly_as_it_was_read() {
    let pem = rsa_key().to_pkcs8_pem();
    let loaded = SigningKey::from_pkcs8_pem(&pem, rsa_key().meta().clone()).unwrap();
    assert!(!loaded.file_is_outdated());
    assert_eq!(loaded.to_pkcs8_pem(), pem);
}

/// Runs `openssl ARGS`; `None` when openssl is not installed (which
/// fails the test under `CI=true`, where a check must not be skipped).
fn openssl(args: &[&OsStr]) -> Option<std::process::Output> {
    match std::process::Command::new("openssl").args(args).output() {
        Ok(out) => Some(out),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("openssl is required in CI: {e}")
        }
        Err(_) => {
            eprintln!("SKIPPED: openssl is not installed");
            None
        }
    }
}

#[test]
fn generated_key_files_are_readable_by_openssl_pkey() {
    let dir = tempfile::tempdir().unwrap();
    for key in [rsa_key(), &ed25519_key(KeyState::Next)] {
        let file = dir.path().join(format!("{}.pem", key.kid()));
        std::fs::write(&file, key.to_pkcs8_pem().as_bytes()).unwrap();
        let args = [
            OsStr::new("pkey"),
            OsStr::new("-in"),
            file.as_os_str(),
            OsStr::new("-noout"),
        ];
        let Some(out) = openssl(&args) else { return };
        assert!(
            out.status.success(),
            "{}: {}",
            key.alg(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn keys_generated_by_openssl_load() {
    let dir = tempfile::tempdir().unwrap();
    for (alg, args) in [
        (Algorithm::EdDsa, &["-algorithm", "ed25519"][..]),
        (
            Algorithm::Rs256,
            &["-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:2048"][..],
        ),
    ] {
        let file = dir.path().join(format!("{alg}.pem"));
        let mut command = vec![OsStr::new("genpkey")];
        command.extend(args.iter().map(OsStr::new));
        command.extend([OsStr::new("-out"), file.as_os_str()]);
        let Some(out) = openssl(&command) else { return };
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pem = Zeroizing::new(std::fs::read_to_string(&file).unwrap());
        let key = SigningKey::import_pkcs8_pem(&pem, KeyState::Next).unwrap();
        assert_eq!(key.alg(), alg);
        assert!(key.verify(b"m", &key.sign(b"m")));
    }
}

#[test]
fn every_supported_rsa_size_has_an_aws_lc_rs_key_size_of_that_many_bits() {
    for bits in RSA_KEY_SIZES {
        let size = rsa_key_size(bits).unwrap();
        assert_eq!(size.len() * 8, bits);
    }
}

#[test]
fn unsupported_rsa_sizes_are_refused_before_generating() {
    for bits in [0, 1024, 2047, 2049, 8192] {
        let err = SigningKey::generate(Algorithm::Rs256, bits).unwrap_err();
        assert!(matches!(err, KeyError::UnsupportedRsaBits(b) if b == bits));
    }
    // rsa_bits means nothing for EdDSA.
    assert!(SigningKey::generate(Algorithm::EdDsa, 0).is_ok());
}

#[test]
fn garbage_and_foreign_key_types_are_errors_not_panics() {
    let meta = ed25519_key(KeyState::Next).meta().clone();
    for der in [&b""[..], b"\x30", b"\x30\x03\x02\x01\x00", &[0xffu8; 40]] {
        let pem = pem_codec::encode_private_key(der);
        assert!(SigningKey::from_pkcs8_pem(&pem, meta.clone()).is_err());
    }
    let corrupt = SigningKey::from_pkcs8_der(b"\x30\x03\x02\x01\x00", meta.clone());
    let message = corrupt.unwrap_err().to_string();
    assert!(message.contains("truncated or corrupt"), "{message}");
    // A P-256 key: valid PKCS#8 of another algorithm.
    let ec = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &SystemRandom::new(),
    )
    .unwrap();
    let ec = ec.as_ref();
    let err = SigningKey::from_pkcs8_der(ec, meta).unwrap_err();
    assert!(
        err.to_string().contains("unsupported key algorithm"),
        "{err}"
    );
}

#[test]
fn debug_output_hides_the_key_material() {
    let key = ed25519_key(KeyState::Active);
    let debug = format!("{key:?}");
    assert!(
        debug.contains(key.kid()) && debug.contains("<hidden>"),
        "{debug}"
    );
    assert!(
        debug.contains("Active") && debug.contains("EdDsa"),
        "{debug}"
    );
    let pem = key.to_pkcs8_pem();
    let body = pem.lines().nth(1).unwrap();
    assert!(!debug.contains(&body[..20]));
}

#[test]
fn set_state_stamps_activation_and_retirement_times() {
    let mut key = copy_with_state(rsa_key(), KeyState::Next);
    let at = now();
    key.set_state(KeyState::Active, at);
    assert_eq!(
        (key.state(), key.meta().activated_at),
        (KeyState::Active, Some(at))
    );
    key.set_state(KeyState::Retired, at);
    assert_eq!(key.meta().retired_at, Some(at));
    assert_eq!(key.meta().activated_at, Some(at));
}
