//! A minimal PEM codec for unencrypted PKCS#8 private keys (RFC 7468 §10).
//!
//! The `pem` crate would do, but it leaves copies of the key in buffers that
//! are never wiped (the whitespace-free base64 text, the encoder's chunk
//! buffer, a growing output string). Private keys are small and the format is
//! simple, so this codec writes every intermediate into a pre-sized
//! [`Zeroizing`] buffer instead.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::KeyError;

const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const END: &str = "-----END PRIVATE KEY-----";
/// RFC 7468 writers wrap base64 lines at 64 characters.
const LINE_LEN: usize = 64;

/// Encodes PKCS#8 DER as a `PRIVATE KEY` PEM block with a trailing newline.
pub(crate) fn encode_private_key(der: &[u8]) -> Zeroizing<String> {
    // Sized exactly so neither buffer reallocates (a reallocation would
    // leave an unwiped copy behind).
    let b64_len = base64::encoded_len(der.len(), true).unwrap_or(0);
    let mut b64 = Zeroizing::new(vec![0u8; b64_len]);
    let written = STANDARD.encode_slice(der, &mut b64[..]).unwrap_or(0);
    let b64 = &b64[..written];

    let lines = written.div_ceil(LINE_LEN);
    let mut out = Zeroizing::new(String::with_capacity(
        BEGIN.len() + 1 + written + lines + END.len() + 1,
    ));
    out.push_str(BEGIN);
    out.push('\n');
    for line in b64.chunks(LINE_LEN) {
        // base64 output is ASCII, so every byte is one char.
        line.iter().for_each(|&b| out.push(char::from(b)));
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    out
}

/// Decodes the single `PRIVATE KEY` block of `text` into PKCS#8 DER.
///
/// Explanatory text before the block and whitespace anywhere are allowed;
/// a second block, another label or bad base64 is an error. Error messages
/// never quote the base64 body.
pub(crate) fn decode_private_key(text: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let Some(begin_at) = text.find("-----BEGIN ") else {
        return Err(KeyError::Pem(
            "no PEM begin line for a PKCS#8 private key".into(),
        ));
    };
    let after_begin = &text[begin_at..];
    if is_encrypted_block(after_begin) {
        return Err(KeyError::Pem(format!(
            "the key is encrypted (Proc-Type: 4,ENCRYPTED) and sigil cannot ask for its \
             passphrase; {DECRYPT_HINT}"
        )));
    }
    if !after_begin.starts_with(BEGIN) {
        return Err(KeyError::Pem(wrong_label_reason(after_begin)));
    }
    let body_and_rest = &after_begin[BEGIN.len()..];
    let Some(end_at) = body_and_rest.find(END) else {
        return Err(KeyError::Pem(
            "no PEM end line for the PKCS#8 private key (truncated file?)".into(),
        ));
    };
    let body = &body_and_rest[..end_at];
    let rest = &body_and_rest[end_at + END.len()..];
    if body.contains("-----") || rest.contains("-----BEGIN ") {
        return Err(KeyError::Pem(
            "more than one PEM block; put exactly one key in each file".into(),
        ));
    }

    let mut compact = Zeroizing::new(Vec::with_capacity(body.len()));
    compact.extend(body.bytes().filter(|b| !b.is_ascii_whitespace()));
    if compact.is_empty() {
        return Err(KeyError::Pem("the PKCS#8 PEM block is empty".into()));
    }
    let mut der = Zeroizing::new(vec![0u8; base64::decoded_len_estimate(compact.len())]);
    let len = STANDARD
        .decode_slice(&compact[..], &mut der[..])
        .map_err(|_| KeyError::Pem("the PKCS#8 PEM block is not valid base64".into()))?;
    der.truncate(len);
    Ok(der)
}

/// How to get a key sigil reads out of an encrypted one.
const DECRYPT_HINT: &str =
    "decrypt it first: `openssl pkey -in FILE -out PLAIN.pem`, import PLAIN.pem, then delete it";

/// Whether the first PEM block of `block` has RFC 1421 encryption headers
/// (`Proc-Type: 4,ENCRYPTED`, as `openssl rsa -aes256` writes them).
fn is_encrypted_block(block: &str) -> bool {
    let first = block.find("-----END ").map_or(block, |end| &block[..end]);
    first
        .lines()
        .any(|line| line.trim_start().starts_with("Proc-Type:") && line.contains("ENCRYPTED"))
}

/// Explains a block with another label, with a hint for the usual suspects.
fn wrong_label_reason(block: &str) -> String {
    let label = block["-----BEGIN ".len()..]
        .split("-----")
        .next()
        .unwrap_or_default();
    // Only echo labels that look like labels, never arbitrary file content.
    let shown = if label.len() <= 40 && label.bytes().all(|b| b.is_ascii_uppercase() || b == b' ') {
        label
    } else {
        "?"
    };
    // Log hygiene: messages never contain the literal label of a private-key
    // block, so a grep for it in logs finds key material only.
    let found = match shown {
        "RSA PRIVATE KEY" => {
            "a PKCS#1 RSA key; convert it to PKCS#8 first: \
             `openssl pkcs8 -topk8 -nocrypt -in FILE -out KEY.pem`"
        }
        "ENCRYPTED PRIVATE KEY" => {
            return format!(
                "the key is an encrypted PKCS#8 key and sigil cannot ask for its passphrase; \
                 {DECRYPT_HINT}"
            );
        }
        "OPENSSH PRIVATE KEY" => "an OpenSSH key; convert it with `ssh-keygen -p -m PKCS8`",
        "EC PRIVATE KEY" => "an EC key; sigil signs with RSA (RS256) and Ed25519 (EdDSA) keys only",
        "PUBLIC KEY" | "RSA PUBLIC KEY" => "a public key; the private key is needed to sign",
        "CERTIFICATE" => "a certificate; the private key is needed to sign",
        other if other.contains("PRIVATE") => "another kind of private key",
        other => {
            return format!(
                "expected an unencrypted PKCS#8 private key, found a {other:?} PEM block"
            );
        }
    };
    format!("expected an unencrypted PKCS#8 private key, found {found}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_then_decoding_returns_the_same_bytes_for_every_length() {
        for len in [1usize, 2, 3, 47, 48, 49, 64, 200] {
            let der: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let pem = encode_private_key(&der);
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
            assert!(pem.ends_with("-----END PRIVATE KEY-----\n"));
            assert!(pem.lines().all(|line| line.len() <= LINE_LEN));
            assert_eq!(&decode_private_key(&pem).unwrap()[..], &der[..]);
        }
    }

    #[test]
    fn decoding_accepts_crlf_line_ends_and_text_before_the_block() {
        let pem = encode_private_key(b"hello world");
        let crlf = format!("comment line\r\n{}", pem.replace('\n', "\r\n"));
        assert_eq!(&decode_private_key(&crlf).unwrap()[..], b"hello world");
    }

    #[test]
    fn decoding_rejects_truncated_blocks_other_labels_and_bad_base64() {
        let pem = encode_private_key(&[9u8; 100]);
        let truncated = &pem[..pem.len() / 2];
        assert!(decode_private_key(truncated).is_err());
        assert!(decode_private_key("").is_err());

        let pkcs1 = pem.replace("PRIVATE KEY", "RSA PRIVATE KEY");
        let message = decode_private_key(&pkcs1).unwrap_err().to_string();
        assert!(message.contains("PKCS#1"), "{message}");

        let bad = format!("{BEGIN}\nCQkJ*QkJ\n{END}\n");
        let message = decode_private_key(&bad).unwrap_err().to_string();
        assert!(message.contains("base64"), "{message}");
        assert!(!message.contains('*'), "message must not quote the body");

        let twice = format!("{}{}", *pem, *pem);
        assert!(decode_private_key(&twice).is_err());
    }

    #[test]
    fn encrypted_public_and_ec_blocks_are_refused_with_a_hint_and_no_label_of_a_key() {
        let body = "MIIBCgKCAQEA\n";
        let block = |label: &str, headers: &str| {
            format!("-----BEGIN {label}-----\n{headers}{body}-----END {label}-----\n")
        };
        let traditional = block(
            "RSA PRIVATE KEY",
            "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,0011\n\n",
        );
        for (text, expected) in [
            (traditional, "Proc-Type: 4,ENCRYPTED"),
            (block("ENCRYPTED PRIVATE KEY", ""), "encrypted PKCS#8"),
            (block("PUBLIC KEY", ""), "a public key"),
            (block("RSA PUBLIC KEY", ""), "a public key"),
            (block("EC PRIVATE KEY", ""), "an EC key"),
            (block("CERTIFICATE", ""), "a certificate"),
        ] {
            let message = decode_private_key(&text).unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
            assert!(!message.contains("PRIVATE KEY"), "{message}");
            assert!(!message.contains("MIIB"), "{message}");
        }
        let encrypted = decode_private_key(&block("ENCRYPTED PRIVATE KEY", ""));
        assert!(encrypted.unwrap_err().to_string().contains("openssl pkey"));
    }
}
