//! Keys as the test sees them: the manifest read from disk, tokens signed
//! by the test's own code (ring, not sigil's) with a key file of the folder,
//! and `scripts/rotate-keys.sh` run as an operator runs it.

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sigil::keys::Algorithm;

/// The manifest of the keys folder `keys_dir`, read by the test itself.
pub fn manifest(keys_dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(keys_dir.join("keyset.json")).unwrap()).unwrap()
}

/// The kid of the one key in `state` (`active`, `next`) of the folder.
pub fn kid_in_state(keys_dir: &Path, state: &str) -> String {
    let manifest = manifest(keys_dir);
    manifest["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["state"] == state)
        .unwrap_or_else(|| panic!("no {state} key in {manifest}"))["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Signs `input` (`header.claims`, already encoded) with the PKCS#8 PEM key
/// in `file` the way `alg` signs, and returns the compact token.
pub fn sign_input(file: &Path, alg: Algorithm, input: &str) -> String {
    let der = pem::parse(std::fs::read_to_string(file).unwrap()).unwrap();
    let signature = match alg {
        Algorithm::Rs256 => {
            let key = ring::signature::RsaKeyPair::from_pkcs8(der.contents()).unwrap();
            let mut sig = vec![0; key.public().modulus_len()];
            key.sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .unwrap();
            sig
        }
        Algorithm::EdDsa => {
            let key = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der.contents())
                .unwrap();
            key.sign(input.as_bytes()).as_ref().to_vec()
        }
    };
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// A token over `header` and `claims` (JSON text), encoded the honest way.
pub fn sign_json(file: &Path, alg: Algorithm, header: &str, claims: &str) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    sign_input(file, alg, &input)
}

/// `bash scripts/rotate-keys.sh` on `keys_dir`, with nothing from the
/// developer's environment but `PATH`, from `/` (the script must not depend
/// on the working directory); callers add the pid files, settings and args.
pub fn rotate_script(keys_dir: &Path) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/rotate-keys.sh"
    ))
    .env_clear()
    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
    .env("SIGIL_BIN", env!("CARGO_BIN_EXE_sigil"))
    .env("SIGIL_KEYS_DIR", keys_dir)
    .current_dir("/");
    cmd
}

/// The kids of a JWK Set document.
pub fn kids_in_jwks(set: &Value) -> std::collections::HashSet<String> {
    set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Whether the `openssl` binary runs here; if not, the calling test is
/// skipped ([`super::skip::skip`], a failure under `CI=true`) and returns.
pub fn openssl_available() -> bool {
    match Command::new("openssl").arg("version").output() {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            super::skip::skip(&format!("`openssl version` failed: {:?}", out.status));
            false
        }
        Err(e) => {
            super::skip::skip(&format!("openssl is not installed: {e}"));
            false
        }
    }
}

/// Runs `openssl <args>` with no input and returns what it did.
pub fn openssl(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl runs (check openssl_available first)")
}

/// Runs `openssl <args>` (plain strings) and asserts that it succeeded.
pub fn openssl_ok(args: &[&str]) -> std::process::Output {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    let out = openssl(&args);
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
