//! Key material: generation, PKCS#8 import/export, signing and verification.
//!
//! aws-lc-rs does all signing and verification: on this project's machines
//! it signs RSA as fast as ring or faster (twice as fast where the CPU has
//! AVX-512) and Ed25519 three times as fast (`sigil bench crypto` measures
//! both). Each key is parsed once, when it is loaded; signing and verifying
//! reuse the parsed private and public key. The `rsa` crate is used only to
//! generate RSA keys; its key is exported to PKCS#8 at once and parsed like
//! any loaded key, so every key goes through the same code path.

use std::fmt;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{
    ED25519, Ed25519KeyPair, KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
    RSA_PKCS1_SHA256, RsaKeyPair,
};
use chrono::{DateTime, SubsecRound, Utc};
use rsa::pkcs8::EncodePrivateKey as _;
use zeroize::Zeroizing;

use super::jwk::Jwk;
use super::{Algorithm, KeyError, KeyMeta, KeyState, pem_codec};

/// The library that signs and verifies, as `sigil bench crypto` names it.
pub const SIGNATURE_LIBRARY: &str = "aws-lc-rs";

/// RSA modulus sizes sigil generates.
pub const RSA_KEY_SIZES: [usize; 3] = [2048, 3072, 4096];

/// DER contents of the rsaEncryption OID, 1.2.840.113549.1.1.1.
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// DER contents of the Ed25519 OID, 1.3.101.112.
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// A parsed key pair.
enum Pair {
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A private key ready to sign, with its public JWK and its metadata.
///
/// The `Debug` output shows kid, algorithm and state only.
pub struct SigningKey {
    meta: KeyMeta,
    pair: Pair,
    /// The public key, parsed for the key's own verification algorithm.
    public_key: ParsedPublicKey,
    /// Kept for writing the key file; wiped on drop.
    pkcs8: Zeroizing<Vec<u8>>,
    jwk: Jwk,
    /// RSA PKCS#1 v1.5 signing uses randomness for blinding.
    rng: SystemRandom,
}

impl SigningKey {
    /// Generates a new key in state `next`, created now.
    ///
    /// `rsa_bits` (2048, 3072 or 4096) is checked and used for RS256 only.
    pub fn generate(alg: Algorithm, rsa_bits: usize) -> Result<SigningKey, KeyError> {
        let rng = SystemRandom::new();
        let pkcs8 = match alg {
            Algorithm::Rs256 => generate_rsa_pkcs8(&rng, rsa_bits)?,
            Algorithm::EdDsa => {
                let document =
                    Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Generate {
                        alg,
                        reason: "the system random generator failed".into(),
                    })?;
                Zeroizing::new(document.as_ref().to_vec())
            }
        };
        let (found, pair, public_key, jwk) = parse_pkcs8(&pkcs8)?;
        debug_assert_eq!(found, alg);
        let meta = KeyMeta::new(jwk.kid.clone(), alg, KeyState::Next, now());
        Ok(SigningKey {
            meta,
            pair,
            public_key,
            pkcs8,
            jwk,
            rng,
        })
    }

    /// Loads a `PRIVATE KEY` PEM (PKCS#8: RSA, or Ed25519 v1 or v2).
    ///
    /// The algorithm comes from the key itself and must equal `meta.alg`;
    /// the kid is recomputed and must equal `meta.kid`.
    pub fn from_pkcs8_pem(pem: &str, meta: KeyMeta) -> Result<SigningKey, KeyError> {
        let der = pem_codec::decode_private_key(pem)?;
        SigningKey::from_pkcs8_der(&der, meta)
    }

    /// Like [`SigningKey::from_pkcs8_pem`], from DER.
    pub fn from_pkcs8_der(der: &[u8], meta: KeyMeta) -> Result<SigningKey, KeyError> {
        let (alg, pair, public_key, jwk) = parse_pkcs8(der)?;
        if alg != meta.alg {
            return Err(KeyError::AlgorithmMismatch {
                expected: meta.alg,
                found: alg,
            });
        }
        if jwk.kid != meta.kid {
            return Err(KeyError::KidMismatch {
                expected: meta.kid,
                actual: jwk.kid,
            });
        }
        Ok(SigningKey {
            meta,
            pair,
            public_key,
            pkcs8: Zeroizing::new(der.to_vec()),
            jwk,
            rng: SystemRandom::new(),
        })
    }

    /// Imports an operator's key whose kid is not known yet: algorithm and
    /// kid are derived from the key, `created_at` is now.
    pub fn import_pkcs8_pem(pem: &str, state: KeyState) -> Result<SigningKey, KeyError> {
        let der = pem_codec::decode_private_key(pem)?;
        let (alg, _, _, jwk) = parse_pkcs8(&der)?;
        let mut key = SigningKey::from_pkcs8_der(&der, KeyMeta::new(jwk.kid, alg, state, now()))?;
        key.set_state(state, key.meta.created_at);
        Ok(key)
    }

    /// The key as a `PRIVATE KEY` PEM, in a buffer wiped on drop.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        pem_codec::encode_private_key(&self.pkcs8)
    }

    /// The private key as PKCS#8 DER, for `sigil bench crypto` to load the
    /// same key into another library.
    pub(crate) fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// Key id (RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        &self.meta.kid
    }

    /// Signing algorithm.
    pub fn alg(&self) -> Algorithm {
        self.meta.alg
    }

    /// Life-cycle state.
    pub fn state(&self) -> KeyState {
        self.meta.state
    }

    /// All metadata.
    pub fn meta(&self) -> &KeyMeta {
        &self.meta
    }

    /// Public JWK (no private members).
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// Moves the key to `state` at time `at`, stamping `activated_at` or
    /// `retired_at`. For building a new set (first start, rotation) before
    /// it is written; keys inside a [`super::KeySet`] are immutable.
    pub fn set_state(&mut self, state: KeyState, at: DateTime<Utc>) {
        match state {
            KeyState::Next => {}
            KeyState::Active => self.meta.activated_at = Some(at),
            KeyState::Retired => self.meta.retired_at = Some(at),
        }
        self.meta.state = state;
    }

    /// Signs `message`: RSASSA-PKCS1-v1_5 SHA-256 for RS256, Ed25519 for
    /// EdDSA. Returns the raw JWS signature bytes.
    ///
    /// # Panics
    /// Only if the operating system's random generator fails (RSA blinding
    /// needs it); use [`SigningKey::try_sign`] to get an error instead.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self.try_sign(message) {
            Ok(signature) => signature,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`SigningKey::sign`], returning an error instead of panicking.
    pub fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.pair {
            Pair::Rsa(pair) => {
                let mut signature = vec![0u8; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut signature)
                    .map_err(|_| KeyError::Sign {
                        kid: self.meta.kid.clone(),
                        reason: "the RSA signature failed",
                    })?;
                Ok(signature)
            }
            Pair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }

    /// Verifies `signature` over `message` with this key's public key and
    /// its own algorithm only, so an EdDSA signature never verifies under an
    /// RS256 key or the other way round.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        // `public_key` was parsed for this key's algorithm only.
        self.public_key.verify_sig(message, signature).is_ok()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.meta.kid)
            .field("alg", &self.meta.alg)
            .field("state", &self.meta.state)
            .field("key", &"<hidden>")
            .finish()
    }
}

/// Timestamps in whole seconds keep the manifest readable.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// Parses PKCS#8 DER; returns the algorithm, the key pair, the parsed public
/// key for verification and the public JWK (with its kid).
fn parse_pkcs8(der: &[u8]) -> Result<(Algorithm, Pair, ParsedPublicKey, Jwk), KeyError> {
    let rejected =
        |alg: &str, e: aws_lc_rs::error::KeyRejected| KeyError::InvalidKey(format!("{alg}: {e}"));
    match pkcs8_algorithm_oid(der) {
        Some(OID_RSA_ENCRYPTION) => {
            let pair = RsaKeyPair::from_pkcs8(der).map_err(|e| rejected("RSA", e))?;
            let components: aws_lc_rs::rsa::PublicKeyComponents<Vec<u8>> = pair.public_key().into();
            let jwk = Jwk::rsa(&components.n, &components.e);
            let public_key = components
                .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
                .map_err(|e| rejected("RSA", e))?;
            Ok((Algorithm::Rs256, Pair::Rsa(pair), public_key, jwk))
        }
        Some(OID_ED25519) => {
            // `maybe_unchecked` accepts PKCS#8 v1 (seed only), which OpenSSL
            // writes, as well as v2; for v2 it still checks that the
            // embedded public key matches the seed.
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                .map_err(|e| rejected("Ed25519", e))?;
            let jwk = Jwk::ed25519(pair.public_key().as_ref());
            let public_key = ParsedPublicKey::new(&ED25519, pair.public_key().as_ref())
                .map_err(|_| KeyError::InvalidKey("Ed25519: invalid public key".into()))?;
            Ok((Algorithm::EdDsa, Pair::Ed25519(pair), public_key, jwk))
        }
        Some(_) => Err(KeyError::InvalidKey(
            "unsupported key algorithm: only RSA (RS256) and Ed25519 (EdDSA) keys are supported"
                .into(),
        )),
        None => Err(KeyError::InvalidKey(
            "not a DER PrivateKeyInfo (truncated or corrupt)".into(),
        )),
    }
}

/// Reads the algorithm OID of a PKCS#8 PrivateKeyInfo without parsing the
/// key, so a wrong key type gets a clear error instead of whatever the
/// first parser tried happens to say.
fn pkcs8_algorithm_oid(der: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const OID: u8 = 0x06;
    let (SEQUENCE, info, _) = der_element(der)? else {
        return None;
    };
    let (INTEGER, _version, rest) = der_element(info)? else {
        return None;
    };
    let (SEQUENCE, algorithm, _) = der_element(rest)? else {
        return None;
    };
    let (OID, oid, _) = der_element(algorithm)? else {
        return None;
    };
    Some(oid)
}

/// Splits one DER element off `input`: (tag, contents, rest).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (len_bytes, rest) = rest.split_at(count);
        let len = len_bytes
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

/// Generates an RSA key with the `rsa` crate and exports it as PKCS#8 DER.
fn generate_rsa_pkcs8(rng: &SystemRandom, bits: usize) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    if !RSA_KEY_SIZES.contains(&bits) {
        return Err(KeyError::UnsupportedRsaBits(bits));
    }
    let failed = |reason: String| KeyError::Generate {
        alg: Algorithm::Rs256,
        reason,
    };
    // `rsa::PrivateKey` wipes itself on drop and `to_pkcs8_der` returns a
    // wiping `SecretDocument`, so only our Zeroizing copy outlives this call.
    let key = rsa::PrivateKey::new(&mut SystemRng(rng), bits).map_err(|e| failed(e.to_string()))?;
    let document = key.to_pkcs8_der().map_err(|e| failed(e.to_string()))?;
    Ok(Zeroizing::new(document.as_bytes().to_vec()))
}

/// Lets the `rsa` crate draw from the operating system's random generator
/// through aws-lc-rs, so no second RNG dependency is needed.
struct SystemRng<'a>(&'a SystemRandom);

/// `rand_core` needs an error type that implements `std::error::Error`.
#[derive(Debug)]
struct RngFailed;

impl fmt::Display for RngFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the system random generator failed")
    }
}

impl std::error::Error for RngFailed {}

impl rsa::rand_core::TryRng for SystemRng<'_> {
    type Error = RngFailed;

    fn try_next_u32(&mut self) -> Result<u32, RngFailed> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, RngFailed> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), RngFailed> {
        self.0.fill(dst).map_err(|_| RngFailed)
    }
}

/// aws-lc-rs's `SystemRandom` is the OS CSPRNG.
impl rsa::rand_core::TryCryptoRng for SystemRng<'_> {}

#[cfg(test)]
mod tests {
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

    #[test]
    fn an_ed25519_pkcs8_v1_key_loads_and_keeps_its_kid() {
        let key = ed25519_key(KeyState::Next);
        // Generated keys are v2: a 16-byte prefix, the 32-byte seed, then the
        // public key. v1 (RFC 8410 as OpenSSL writes it) is prefix + seed.
        let v2 = pem_codec::decode_private_key(&key.to_pkcs8_pem()).unwrap();
        let seed = &v2[16..48];
        let mut v1 = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        v1.extend_from_slice(seed);
        let pem = pem_codec::encode_private_key(&v1);
        let loaded = SigningKey::from_pkcs8_pem(&pem, key.meta().clone()).unwrap();
        assert_eq!(loaded.kid(), key.kid());
        assert!(key.verify(b"m", &loaded.sign(b"m")));
        // Written back as it was read.
        assert_eq!(loaded.to_pkcs8_pem(), pem);
    }

    #[test]
    fn keys_generated_by_openssl_load_when_openssl_is_installed() {
        let dir = tempfile::tempdir().unwrap();
        for (alg, args) in [
            (Algorithm::EdDsa, &["-algorithm", "ed25519"][..]),
            (
                Algorithm::Rs256,
                &["-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:2048"][..],
            ),
        ] {
            let out = dir.path().join(format!("{alg}.pem"));
            let status = std::process::Command::new("openssl")
                .arg("genpkey")
                .args(args)
                .arg("-out")
                .arg(&out)
                .stderr(std::process::Stdio::null())
                .status();
            if !matches!(status, Ok(s) if s.success()) {
                eprintln!("openssl not available, skipping");
                return;
            }
            let pem = Zeroizing::new(std::fs::read_to_string(&out).unwrap());
            let key = SigningKey::import_pkcs8_pem(&pem, KeyState::Next).unwrap();
            assert_eq!(key.alg(), alg);
            assert!(key.verify(b"m", &key.sign(b"m")));
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
        // A P-256 key: valid PKCS#8, wrong algorithm (id-ecPublicKey OID).
        let ec = [
            0x30, 0x13, 0x02, 0x01, 0x00, 0x30, 0x0e, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
            0x02, 0x01, 0x06, 0x03, 0x2b, 0x65, 0x70,
        ];
        let err = SigningKey::from_pkcs8_der(&ec, meta).unwrap_err();
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
}
