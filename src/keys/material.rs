//! Key material: generation, PKCS#8 import/export, signing and verification.
//!
//! aws-lc-rs does all of it: on this project's machines it signs RSA as fast
//! as ring or faster (twice as fast where the CPU has AVX-512) and Ed25519
//! three times as fast (`cargo bench --bench crypto` measures both), and it
//! generates RSA and Ed25519 keys and writes them as PKCS#8 v1 through its
//! own API, so no second crypto crate and no hand-written DER is needed. A
//! new key is exported to PKCS#8 at once and parsed like any loaded key, so
//! every key goes through the same code path. Each key is parsed once, when
//! it is loaded; signing and verifying reuse the parsed private and public
//! key.
//!
//! An Ed25519 key is always kept, and so written, as PKCS#8 v1 (RFC 8410,
//! seed only), the form OpenSSL reads: a v2 file of an older sigil (seed and
//! public key, which OpenSSL 3.0 cannot read) still loads, and the folder's
//! next writer rewrites it as v1 ([`SigningKey::file_is_outdated`]). What an
//! imported key must be beyond that lives in `material/import.rs`.

use std::fmt;

use aws_lc_rs::encoding::{AsDer as _, Pkcs8V1Der};
use aws_lc_rs::error::KeyRejected;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ED25519, Ed25519KeyPair, KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
    RSA_PKCS1_SHA256, RsaKeyPair,
};
use chrono::{DateTime, SubsecRound, Utc};
use zeroize::Zeroizing;

use super::jwk::Jwk;
use super::{Algorithm, KeyError, KeyMeta, KeyState, pem_codec};

/// The library that generates keys, signs and verifies, as the crypto
/// benchmark names it.
pub const SIGNATURE_LIBRARY: &str = "aws-lc-rs";

/// RSA modulus sizes sigil generates.
pub const RSA_KEY_SIZES: [usize; 3] = [2048, 3072, 4096];

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
    /// Kept for writing the key file (Ed25519 always as v1); wiped on drop.
    pkcs8: Zeroizing<Vec<u8>>,
    /// The document this key was read from is not `pkcs8` (an Ed25519 v2).
    outdated: bool,
    jwk: Jwk,
    /// RSA PKCS#1 v1.5 signing uses randomness for blinding.
    rng: SystemRandom,
}

impl SigningKey {
    /// Generates a new key in state `next`, created now.
    ///
    /// `rsa_bits` (2048, 3072 or 4096) is checked and used for RS256 only.
    pub fn generate(alg: Algorithm, rsa_bits: usize) -> Result<SigningKey, KeyError> {
        let der = generate_pkcs8(alg, rsa_bits)?;
        let parsed = parse_pkcs8(&der)?;
        debug_assert_eq!(parsed.alg, alg);
        let meta = KeyMeta::new(parsed.jwk.kid.clone(), alg, KeyState::Next, now());
        Ok(SigningKey::assemble(meta, parsed, &der))
    }

    /// A first key set: an `active` and a `next` key of `alg`.
    pub fn first_set(alg: Algorithm, rsa_bits: usize) -> Result<[SigningKey; 2], KeyError> {
        let mut active = SigningKey::generate(alg, rsa_bits)?;
        active.set_state(KeyState::Active, active.meta().created_at);
        Ok([active, SigningKey::generate(alg, rsa_bits)?])
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
        let parsed = parse_pkcs8(der)?;
        if parsed.alg != meta.alg {
            return Err(KeyError::AlgorithmMismatch {
                expected: meta.alg,
                found: parsed.alg,
            });
        }
        if parsed.jwk.kid != meta.kid {
            return Err(KeyError::KidMismatch {
                expected: meta.kid,
                actual: parsed.jwk.kid,
            });
        }
        Ok(SigningKey::assemble(meta, parsed, der))
    }

    /// A key from its parts; `der` is the document it was parsed from.
    fn assemble(meta: KeyMeta, parsed: Parsed, der: &[u8]) -> SigningKey {
        let (pkcs8, outdated) = match parsed.v1 {
            Some(v1) => {
                let outdated = v1[..] != *der;
                (v1, outdated)
            }
            None => (Zeroizing::new(der.to_vec()), false),
        };
        SigningKey {
            meta,
            pair: parsed.pair,
            public_key: parsed.public_key,
            pkcs8,
            outdated,
            jwk: parsed.jwk,
            rng: SystemRandom::new(),
        }
    }

    /// The key as a `PRIVATE KEY` PEM, in a buffer wiped on drop. Ed25519
    /// keys come out as PKCS#8 v1 whatever form they were read from.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        pem_codec::encode_private_key(&self.pkcs8)
    }

    /// The key as PKCS#8 DER (Ed25519 as v1), for sealing it; the buffer
    /// is the key's own and is wiped when the key is dropped.
    pub(super) fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// Whether the file this key was read from holds another encoding than
    /// [`SigningKey::to_pkcs8_pem`] writes (an Ed25519 PKCS#8 v2 of an older
    /// sigil), so that the folder's next writer replaces it.
    pub(crate) fn file_is_outdated(&self) -> bool {
        self.outdated
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

    /// Records until when a retired key stays published (see
    /// [`KeyMeta::grace_until`]). Like [`SigningKey::set_state`], for
    /// building a new set before it is written.
    pub fn set_grace_until(&mut self, until: Option<DateTime<Utc>>) {
        self.meta.grace_until = until;
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

/// What [`parse_pkcs8`] found.
struct Parsed {
    alg: Algorithm,
    pair: Pair,
    /// The public key, parsed for verification with `alg` only.
    public_key: ParsedPublicKey,
    /// The public JWK, with its kid.
    jwk: Jwk,
    /// For Ed25519: the key as PKCS#8 v1, whatever form it was read from.
    v1: Option<Zeroizing<Vec<u8>>>,
}

/// Parses PKCS#8 DER into the key pair, its public key and its JWK.
///
/// aws-lc parses the PrivateKeyInfo and reports a key of another type as
/// `WrongAlgorithm`, so trying RSA and then Ed25519 tells a foreign key type
/// (say P-256) from a corrupt document without reading the DER ourselves.
fn parse_pkcs8(der: &[u8]) -> Result<Parsed, KeyError> {
    let rejected = |alg: &str, e: KeyRejected| KeyError::InvalidKey(format!("{alg}: {e}"));
    let rsa_error = match RsaKeyPair::from_pkcs8(der) {
        Ok(pair) => {
            let components: PublicKeyComponents<Vec<u8>> = pair.public_key().into();
            let jwk = Jwk::rsa(&components.n, &components.e);
            let public_key = components
                .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
                .map_err(|e| rejected("RSA", e))?;
            return Ok(Parsed {
                alg: Algorithm::Rs256,
                pair: Pair::Rsa(pair),
                public_key,
                jwk,
                v1: None,
            });
        }
        Err(e) => e,
    };
    let size_hint = "use an RSA key of 2048 to 8192 bits";
    match rsa_error.description_() {
        "WrongAlgorithm" => {}
        // aws-lc cannot tell a corrupt document from a key type it does
        // not know at all (Ed448, say), so the message names both.
        "InvalidEncoding" => {
            return Err(KeyError::InvalidKey(
                "not a DER PrivateKeyInfo that aws-lc reads: truncated or corrupt, or of a \
                 key type it does not know (only RSA (RS256) and Ed25519 (EdDSA) keys are \
                 supported)"
                    .into(),
            ));
        }
        "TooSmall" => {
            return Err(KeyError::InvalidKey(format!(
                "the RSA key is smaller than 2048 bits, too weak to sign with; {size_hint}"
            )));
        }
        "TooLarge" => {
            return Err(KeyError::InvalidKey(format!(
                "the RSA key is larger than 8192 bits; {size_hint}"
            )));
        }
        _ => return Err(rejected("RSA", rsa_error)),
    }
    // `maybe_unchecked` accepts PKCS#8 v1 (seed only, RFC 8410), which sigil
    // and OpenSSL write, as well as v2, which sigil wrote before; for v2 it
    // still checks that the embedded public key matches the seed.
    match Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
        Ok(pair) => {
            let jwk = Jwk::ed25519(pair.public_key().as_ref());
            let public_key = ParsedPublicKey::new(&ED25519, pair.public_key().as_ref())
                .map_err(|_| KeyError::InvalidKey("Ed25519: invalid public key".into()))?;
            // The document wipes itself on drop; the copy kept does too.
            let v1: Pkcs8V1Der<'static> = pair
                .as_der()
                .map_err(|_| KeyError::InvalidKey("Ed25519: cannot encode as PKCS#8 v1".into()))?;
            Ok(Parsed {
                alg: Algorithm::EdDsa,
                pair: Pair::Ed25519(pair),
                public_key,
                jwk,
                v1: Some(Zeroizing::new(v1.as_ref().to_vec())),
            })
        }
        Err(e) if is_wrong_algorithm(&e) => Err(KeyError::InvalidKey(
            "unsupported key algorithm: only RSA (RS256) and Ed25519 (EdDSA) keys are supported"
                .into(),
        )),
        Err(e) => Err(rejected("Ed25519", e)),
    }
}

/// aws-lc-rs names the reason of a [`KeyRejected`] by its description only.
fn is_wrong_algorithm(e: &KeyRejected) -> bool {
    e.description_() == "WrongAlgorithm"
}

/// aws-lc-rs's name for one of [`RSA_KEY_SIZES`].
fn rsa_key_size(bits: usize) -> Option<KeySize> {
    match bits {
        2048 => Some(KeySize::Rsa2048),
        3072 => Some(KeySize::Rsa3072),
        4096 => Some(KeySize::Rsa4096),
        _ => None,
    }
}

/// A new key of `alg` as PKCS#8 v1 DER, straight from aws-lc-rs.
fn generate_pkcs8(alg: Algorithm, rsa_bits: usize) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let failed = |what: &str| KeyError::Generate {
        alg,
        reason: format!("aws-lc-rs could not {what}"),
    };
    // Both documents wipe themselves on drop, so only our Zeroizing copy
    // outlives this call.
    let der = match alg {
        Algorithm::Rs256 => {
            let size = rsa_key_size(rsa_bits).ok_or(KeyError::UnsupportedRsaBits(rsa_bits))?;
            let pair = RsaKeyPair::generate(size).map_err(|_| failed("generate the key"))?;
            let document: Pkcs8V1Der<'static> =
                pair.as_der().map_err(|_| failed("encode the key"))?;
            document.as_ref().to_vec()
        }
        Algorithm::EdDsa => {
            // PKCS#8 v1 (RFC 8410, seed only), as SPEC §4 asks: the form
            // every OpenSSL reads, where v2 adds the public key.
            let pair = Ed25519KeyPair::generate().map_err(|_| failed("generate the key"))?;
            let document: Pkcs8V1Der<'static> =
                pair.as_der().map_err(|_| failed("encode the key"))?;
            document.as_ref().to_vec()
        }
    };
    Ok(Zeroizing::new(der))
}

mod import;

#[cfg(test)]
mod tests;
