//! Verification keys: what checks a signature. [`PublicKey`] is built from a
//! published JWK alone, for verifiers that only see the JWK Set; the server's
//! own signing keys implement [`VerifyingKey`] too (in `keys`).

use aws_lc_rs::signature::{
    ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
};

use super::jwk::{Jwk, thumbprint};
use super::{Algorithm, JoseError, base64url_decode};

/// Something that verifies signatures with one fixed algorithm: its own.
pub trait VerifyingKey {
    /// The only algorithm this key verifies.
    fn alg(&self) -> Algorithm;
    /// Whether `signature` over `message` is valid under this key.
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool;
}

/// Smallest RSA modulus accepted from a JWK, in bytes (2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// A public key built from a JWK alone, parsed once for its own algorithm.
pub struct PublicKey {
    kid: String,
    alg: Algorithm,
    parsed: ParsedPublicKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl PublicKey {
    /// Builds the key from a JWK, refusing anything sigil would not publish:
    /// a `kty` that does not fit `alg`, a use other than `sig`, RSA under 2048
    /// bits, an Ed25519 key that is not 32 bytes, or a `kid` that is not the
    /// RFC 7638 thumbprint of the key.
    pub fn from_jwk(jwk: &Jwk) -> Result<PublicKey, JoseError> {
        let invalid = |why: &str| JoseError::InvalidKey(format!("JWK {:?}: {why}", jwk.kid));
        if jwk.use_ != "sig" {
            return Err(invalid("use is not sig"));
        }
        let decode = |member: &Option<String>, name: &str| {
            member
                .as_deref()
                .and_then(base64url_decode)
                .ok_or_else(|| invalid(&format!("{name} missing or not base64url")))
        };
        let parsed = match (jwk.alg, jwk.kty.as_str()) {
            (Algorithm::Rs256, "RSA") => {
                let n = decode(&jwk.n, "n")?;
                let e = decode(&jwk.e, "e")?;
                if n.len() < MIN_RSA_MODULUS_BYTES {
                    return Err(invalid("RSA modulus under 2048 bits"));
                }
                RsaPublicKeyComponents { n: &n, e: &e }
                    .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
                    .map_err(|_| invalid("not a valid RSA public key"))?
            }
            (Algorithm::EdDsa, "OKP") if jwk.crv.as_deref() == Some("Ed25519") => {
                let x = decode(&jwk.x, "x")?;
                if x.len() != 32 {
                    return Err(invalid("Ed25519 key is not 32 bytes"));
                }
                ParsedPublicKey::new(&ED25519, &x)
                    .map_err(|_| invalid("not a valid Ed25519 public key"))?
            }
            _ => return Err(invalid("kty/crv do not fit alg")),
        };
        if thumbprint(jwk) != jwk.kid {
            return Err(invalid("kid is not the key's RFC 7638 thumbprint"));
        }
        Ok(PublicKey {
            kid: jwk.kid.clone(),
            alg: jwk.alg,
            parsed,
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

impl VerifyingKey for PublicKey {
    fn alg(&self) -> Algorithm {
        self.alg
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.parsed.verify_sig(message, signature).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};

    use super::*;

    fn ed25519() -> (Ed25519KeyPair, Jwk) {
        let pair = Ed25519KeyPair::generate().unwrap();
        let jwk = Jwk::ed25519(pair.public_key().as_ref());
        (pair, jwk)
    }

    #[test]
    fn a_public_key_from_the_jwk_verifies_what_the_private_key_signed() {
        let (pair, jwk) = ed25519();
        let public = PublicKey::from_jwk(&jwk).unwrap();
        let signature = pair.sign(b"message");
        assert!(VerifyingKey::verify(
            &public,
            b"message",
            signature.as_ref()
        ));
        assert!(!VerifyingKey::verify(&public, b"other", signature.as_ref()));
        assert_eq!(public.kid(), jwk.kid);
    }

    #[test]
    fn a_jwk_whose_kid_is_not_its_thumbprint_is_refused() {
        let (_, mut jwk) = ed25519();
        jwk.kid = "chosen-by-attacker".into();
        assert!(PublicKey::from_jwk(&jwk).is_err());
    }

    #[test]
    fn a_jwk_whose_kty_does_not_fit_its_alg_is_refused() {
        let (_, mut jwk) = ed25519();
        jwk.alg = Algorithm::Rs256;
        assert!(PublicKey::from_jwk(&jwk).is_err());
    }

    #[test]
    fn a_jwk_for_another_use_is_refused() {
        let (_, mut jwk) = ed25519();
        jwk.use_ = "enc".into();
        assert!(PublicKey::from_jwk(&jwk).is_err());
    }
}
