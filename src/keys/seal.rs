//! Private keys sealed for the database store: AES-256-GCM under a
//! key-encryption key (`SIGIL_KEY_ENCRYPTION_KEY`), so that a database dump
//! or backup holds no usable private key.
//!
//! A sealed key is `[format = 1][nonce, 12 bytes][ciphertext + tag]`: the
//! plaintext is the key's PKCS#8 DER, the nonce is random for every seal
//! (a key-encryption key seals a handful of keys per rotation, far below the
//! 2^32 seals a random 96-bit nonce allows), and the associated data is the
//! kid, so a sealed key copied into another row does not open there. Each
//! sealed key carries the id of the key-encryption key that sealed it
//! ([`KeyEncryptionKey::id`]), so that a [`Sealer`] holding the current and
//! the previous key knows which one to use, and an error can say which key
//! is missing without showing any key.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

use super::{KeyError, KeyMeta, SigningKey};

/// The first byte of every sealed key: the layout described above.
const FORMAT: u8 = 1;
/// AES-GCM's tag length.
const TAG_LEN: usize = 16;
/// Domain separation of key-encryption-key ids from any other hash of the key.
const ID_CONTEXT: &[u8] = b"sigil key-encryption key id\0";

/// A 32-byte AES-256 key that seals private keys. Its bytes are wiped on
/// drop; `Debug` shows its id only.
pub struct KeyEncryptionKey {
    bytes: Zeroizing<[u8; 32]>,
    id: String,
}

impl KeyEncryptionKey {
    /// The key with these bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> KeyEncryptionKey {
        let bytes = Zeroizing::new(bytes);
        let mut input = Zeroizing::new(Vec::with_capacity(ID_CONTEXT.len() + 32));
        input.extend_from_slice(ID_CONTEXT);
        input.extend_from_slice(&*bytes);
        let id = digest(&SHA256, &input).as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        KeyEncryptionKey { bytes, id }
    }

    /// The key from 32 bytes in base64 (standard or URL-safe alphabet,
    /// padding optional, surrounding white space ignored). The error never
    /// quotes the text.
    pub fn from_base64(text: &str) -> Result<KeyEncryptionKey, KeyError> {
        let text = text.trim().trim_end_matches('=');
        let decoded = Zeroizing::new(
            STANDARD_NO_PAD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text))
                .map_err(|_| KeyError::KeyEncryptionKey("not base64"))?,
        );
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::KeyEncryptionKey("not 32 bytes"))?;
        Ok(KeyEncryptionKey::from_bytes(bytes))
    }

    /// The key's id: the first 16 hex digits of SHA-256 over a fixed
    /// context and the key. Stored beside every key it seals; reveals
    /// nothing usable about the key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The AEAD key, built for one operation.
    fn aead(&self) -> Result<RandomizedNonceKey, &'static str> {
        RandomizedNonceKey::new(&AES_256_GCM, &*self.bytes)
            .map_err(|_| "the key-encryption key was refused by AES-256-GCM")
    }
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEncryptionKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A private key as the database holds it: the id of the key-encryption
/// key that sealed it and the sealed bytes (see the module documentation).
#[derive(Clone, PartialEq, Eq)]
pub struct SealedKey {
    /// [`KeyEncryptionKey::id`] of the sealing key.
    pub kek_id: String,
    /// `[1][nonce][ciphertext + tag]`.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for SealedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedKey")
            .field("kek_id", &self.kek_id)
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .finish()
    }
}

/// Seals keys under the current key-encryption key and opens keys sealed
/// under the current or the previous one (while `sigil keys reseal` moves
/// rows from the previous to the current).
#[derive(Debug)]
pub struct Sealer {
    current: KeyEncryptionKey,
    previous: Option<KeyEncryptionKey>,
}

impl Sealer {
    /// A sealer that seals under `current` and opens under either key.
    pub fn new(current: KeyEncryptionKey, previous: Option<KeyEncryptionKey>) -> Sealer {
        Sealer { current, previous }
    }

    /// The id of the key every new seal uses.
    pub fn current_id(&self) -> &str {
        self.current.id()
    }

    /// Seals `key`'s PKCS#8 DER under the current key-encryption key, with
    /// a fresh random nonce and the kid as associated data.
    pub fn seal(&self, key: &SigningKey) -> Result<SealedKey, KeyError> {
        let failed = |reason| KeyError::Seal {
            kid: key.kid().to_owned(),
            reason,
        };
        let aead = self.current.aead().map_err(failed)?;
        // The plaintext buffer becomes the ciphertext; wiped if sealing fails.
        let mut in_out = Zeroizing::new(Vec::with_capacity(key.pkcs8_der().len() + TAG_LEN));
        in_out.extend_from_slice(key.pkcs8_der());
        let nonce = aead
            .seal_in_place_append_tag(Aad::from(key.kid().as_bytes()), &mut *in_out)
            .map_err(|_| failed("AES-256-GCM sealing failed"))?;
        let mut bytes = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
        bytes.push(FORMAT);
        bytes.extend_from_slice(nonce.as_ref());
        bytes.extend_from_slice(&in_out);
        Ok(SealedKey {
            kek_id: self.current.id().to_owned(),
            bytes,
        })
    }

    /// Opens `sealed`, the private key of the row described by `meta`,
    /// and parses it as that key (algorithm and kid checked). Refuses, naming
    /// the kid and the key-encryption key id: a key sealed under a key this
    /// sealer does not hold, or sealed for another kid, and damaged bytes.
    /// The decrypted DER is wiped after parsing.
    pub fn open(&self, meta: KeyMeta, sealed: &SealedKey) -> Result<SigningKey, KeyError> {
        let refuse = |reason: String| KeyError::Unseal {
            kid: meta.kid.clone(),
            kek_id: sealed.kek_id.clone(),
            reason,
        };
        let kek = [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|kek| kek.id() == sealed.kek_id)
            .ok_or_else(|| refuse(self.missing_key()))?;
        let (format, rest) = sealed
            .bytes
            .split_first()
            .ok_or_else(|| refuse("the sealed key is empty".into()))?;
        if *format != FORMAT {
            return Err(refuse(format!("unknown sealing format {format}")));
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(refuse("the sealed key is truncated".into()));
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| refuse("the sealed key is truncated".into()))?;
        let aead = kek.aead().map_err(|reason| refuse(reason.into()))?;
        let mut in_out = Zeroizing::new(ciphertext.to_vec());
        let der = aead
            .open_in_place(nonce, Aad::from(meta.kid.as_bytes()), &mut in_out)
            .map_err(|_| {
                refuse(
                    "it does not open: it was sealed for another kid (copied from another row) \
                     or is damaged"
                        .into(),
                )
            })?;
        SigningKey::from_pkcs8_der(der, meta.clone()).map_err(|e| refuse(e.to_string()))
    }

    /// Why no configured key fits: which ids are configured.
    fn missing_key(&self) -> String {
        match &self.previous {
            None => format!(
                "the configured key-encryption key is {}; set SIGIL_KEY_ENCRYPTION_KEY_PREVIOUS \
                 to the key it was sealed under",
                self.current.id()
            ),
            Some(previous) => format!(
                "the configured key-encryption keys are {} (current) and {} (previous); neither \
                 sealed it",
                self.current.id(),
                previous.id()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::KeyState;
    use super::super::test_support::{copy_with_state, ed25519_key, rsa_key};
    use super::*;

    fn kek(fill: u8) -> KeyEncryptionKey {
        KeyEncryptionKey::from_bytes([fill; 32])
    }

    #[test]
    fn a_sealed_key_opens_to_the_same_key() {
        let sealer = Sealer::new(kek(1), None);
        for key in [
            ed25519_key(KeyState::Active),
            copy_with_state(rsa_key(), KeyState::Next),
        ] {
            let sealed = sealer.seal(&key).unwrap();
            assert_eq!(sealed.kek_id, sealer.current_id());
            assert_eq!(sealed.bytes[0], FORMAT);
            let opened = sealer.open(key.meta().clone(), &sealed).unwrap();
            assert_eq!(opened.meta(), key.meta());
            assert_eq!(opened.jwk(), key.jwk());
            assert!(key.verify(b"message", &opened.sign(b"message")));
            // Sealed, not stored in the clear.
            let der = key.pkcs8_der();
            assert!(!sealed.bytes.windows(der.len()).any(|w| w == der));
        }
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let sealer = Sealer::new(kek(1), None);
        let key = ed25519_key(KeyState::Next);
        let (a, b) = (sealer.seal(&key).unwrap(), sealer.seal(&key).unwrap());
        assert_ne!(a.bytes[1..1 + NONCE_LEN], b.bytes[1..1 + NONCE_LEN]);
    }

    #[test]
    fn a_sealed_key_moved_to_another_kid_is_refused_naming_the_kid() {
        let sealer = Sealer::new(kek(1), None);
        let (a, b) = (ed25519_key(KeyState::Active), ed25519_key(KeyState::Next));
        let sealed_a = sealer.seal(&a).unwrap();
        let err = sealer.open(b.meta().clone(), &sealed_a).unwrap_err();
        let KeyError::Unseal { kid, kek_id, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(kid, b.kid());
        assert_eq!(kek_id, sealer.current_id());
        assert!(err.to_string().contains("another kid"), "{err}");
    }

    #[test]
    fn a_key_sealed_under_another_key_encryption_key_is_refused() {
        let key = ed25519_key(KeyState::Active);
        let sealed = Sealer::new(kek(1), None).seal(&key).unwrap();
        let other = Sealer::new(kek(2), None);

        let err = other.open(key.meta().clone(), &sealed).unwrap_err();
        assert!(
            matches!(&err, KeyError::Unseal { kid, kek_id, .. } if kid == key.kid() && *kek_id == kek(1).id()),
            "{err:?}"
        );
        assert!(err.to_string().contains(kek(2).id()), "{err}");

        // The same bytes claiming the other key's id do not open either.
        let forged = SealedKey {
            kek_id: other.current_id().to_owned(),
            ..sealed
        };
        let err = other.open(key.meta().clone(), &forged).unwrap_err();
        assert!(matches!(err, KeyError::Unseal { .. }), "{err:?}");
    }

    #[test]
    fn the_previous_key_encryption_key_still_opens_what_it_sealed() {
        let key = ed25519_key(KeyState::Active);
        let sealed = Sealer::new(kek(1), None).seal(&key).unwrap();
        let rotated = Sealer::new(kek(2), Some(kek(1)));
        let opened = rotated.open(key.meta().clone(), &sealed).unwrap();
        assert_eq!(opened.kid(), key.kid());
        assert_eq!(rotated.seal(&opened).unwrap().kek_id, kek(2).id());
    }

    #[test]
    fn a_tampered_or_truncated_sealed_key_is_refused() {
        let sealer = Sealer::new(kek(1), None);
        let key = ed25519_key(KeyState::Active);
        let sealed = sealer.seal(&key).unwrap();
        for at in [0, 1, 1 + NONCE_LEN, sealed.bytes.len() - 1] {
            let mut tampered = sealed.clone();
            tampered.bytes[at] ^= 0x01;
            let err = sealer.open(key.meta().clone(), &tampered).unwrap_err();
            assert!(matches!(err, KeyError::Unseal { .. }), "byte {at}: {err:?}");
        }
        for len in [0, 1, 1 + NONCE_LEN + TAG_LEN - 1, sealed.bytes.len() - 1] {
            let truncated = SealedKey {
                kek_id: sealed.kek_id.clone(),
                bytes: sealed.bytes[..len].to_vec(),
            };
            let err = sealer.open(key.meta().clone(), &truncated).unwrap_err();
            assert!(
                matches!(err, KeyError::Unseal { .. }),
                "length {len}: {err:?}"
            );
        }
    }

    #[test]
    fn debug_output_shows_ids_and_no_key_bytes() {
        let key = KeyEncryptionKey::from_bytes([0xab; 32]);
        let sealer = Sealer::new(kek(0xab), Some(kek(0xcd)));
        for text in [format!("{key:?}"), format!("{sealer:?}")] {
            assert!(text.contains(key.id()), "{text}");
            assert!(!text.contains("171, 171"), "{text}");
            assert!(!text.to_lowercase().contains("abababab"), "{text}");
        }
        let sealed = sealer.seal(&ed25519_key(KeyState::Next)).unwrap();
        assert_eq!(
            format!("{sealed:?}"),
            format!(
                "SealedKey {{ kek_id: {:?}, bytes: <{} bytes> }}",
                key.id(),
                sealed.bytes.len()
            )
        );
    }

    #[test]
    fn key_encryption_keys_are_read_from_either_base64_alphabet() {
        let bytes: [u8; 32] = std::array::from_fn(|i| 250 - i as u8);
        let id = KeyEncryptionKey::from_bytes(bytes).id().to_owned();
        assert_eq!(id.len(), 16);
        for text in [
            STANDARD_NO_PAD.encode(bytes) + "=",
            URL_SAFE_NO_PAD.encode(bytes),
        ] {
            assert_eq!(KeyEncryptionKey::from_base64(&text).unwrap().id(), id);
        }
        let short = KeyEncryptionKey::from_base64(&STANDARD_NO_PAD.encode([1u8; 16])).unwrap_err();
        assert!(short.to_string().contains("32 bytes"), "{short}");
        assert!(KeyEncryptionKey::from_base64("not base64!").is_err());
    }
}
