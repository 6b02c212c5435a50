//! A `pg_dump` of the database holds no private key in the clear: not the
//! PEM body, not the PKCS#8 DER (base64 or hex), not an Ed25519 seed. The
//! keys to look for come out of the database through `sigil keys migrate
//! --to folder`; the dump is shown to hold the sealed bytes (so a plain key
//! stored the same way would be found).

use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};

use super::fleet::{Fleet, succeed};
use super::helpers::skip::skip;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The plain-text dump of `url`, or `None` (skipped; a failure in CI)
/// without `pg_dump`.
fn pg_dump(url: &str) -> Option<String> {
    match Command::new("pg_dump").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            skip(&format!("`pg_dump --version` failed: {:?}", out.status));
            return None;
        }
        Err(e) => {
            skip(&format!("pg_dump is not installed: {e}"));
            return None;
        }
    }
    let out = Command::new("pg_dump")
        .args(["--no-owner", "--dbname", url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

/// Every form of the private key in `pem_text` a dump could show it in.
fn forms_of(pem_text: &str) -> Vec<(String, String)> {
    let body: Vec<&str> = pem_text
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.trim().is_empty())
        .collect();
    let der = pem::parse(pem_text).unwrap().into_contents();
    let mut forms = vec![
        ("the PEM body".to_owned(), body.concat()),
        ("the DER in base64".to_owned(), STANDARD.encode(&der)),
        ("the DER in base64 without padding".to_owned(), STANDARD_NO_PAD.encode(&der)),
        ("the DER in base64url".to_owned(), URL_SAFE_NO_PAD.encode(&der)),
        ("the DER in hex".to_owned(), hex(&der)),
        ("the DER in upper-case hex".to_owned(), hex(&der).to_uppercase()),
    ];
    for (i, line) in body.iter().enumerate().filter(|(_, l)| l.len() >= 40) {
        forms.push((format!("line {i} of the PEM body"), (*line).to_owned()));
    }
    // Ed25519's PKCS#8 ends with the 32-byte seed, which is the key.
    let seed = &der[der.len() - 32..];
    forms.push(("the last 32 bytes in hex".to_owned(), hex(seed)));
    forms.push(("the last 32 bytes in base64".to_owned(), STANDARD_NO_PAD.encode(seed)));
    forms
}

#[tokio::test]
async fn a_database_dump_holds_no_private_key_in_the_clear() {
    let Some(fleet) = Fleet::new().await else {
        return;
    };
    drop(fleet.start(&[]));
    succeed(&mut fleet.keys(&["rotate", "--force"]));
    let Some(dump) = pg_dump(&fleet.url) else {
        return;
    };
    let out_dir = tempfile::tempdir().unwrap();
    let keys_dir = out_dir.path().join("keys");
    succeed(&mut fleet.keys_with(
        &["migrate", "--to", "folder"],
        &[("SIGIL_KEYS_DIR", Some(&keys_dir.display().to_string()))],
    ));

    let (rows, _) = fleet.table().await;
    assert_eq!(rows.len(), 3);
    for (kid, _, sealed, _) in &rows {
        assert!(dump.contains(kid.as_str()), "the dump holds the key table");
        assert!(
            dump.contains(&hex(sealed)),
            "the dump shows bytea as hex, so a plain DER would show"
        );
        let pem_text = std::fs::read_to_string(keys_dir.join(format!("{kid}.pem"))).unwrap();
        for (form, text) in forms_of(&pem_text) {
            assert!(text.len() >= 40, "{form} is long enough to mean something");
            assert!(
                !dump.contains(&text),
                "the dump holds {form} of the private key {kid}"
            );
        }
    }
}
