//! Tests of `import`: the key joins as `next` in place of the generated one,
//! and every refusal leaves the folder exactly as it was.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use super::*;
use crate::keys::test_support::{ed25519_key, rsa_key};
use crate::keys::{Algorithm, KeySet, RotateOptions};

/// A freshly initialised EdDSA folder (cheap) inside a temp dir.
fn initialised() -> (tempfile::TempDir, KeyFolder, KeySet) {
    let dir = tempfile::tempdir().unwrap();
    let folder = KeyFolder::new(dir.path().join("keys"));
    let set = folder.load_or_init(Algorithm::EdDsa, 2048).unwrap();
    (dir, folder, set)
}

/// Every entry of the folder: name → (mode, content).
fn snapshot(folder: &KeyFolder) -> BTreeMap<String, (u32, Vec<u8>)> {
    fs::read_dir(folder.path())
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let mode = e.metadata().unwrap().permissions().mode();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, (mode, fs::read(e.path()).unwrap()))
        })
        .collect()
}

/// Writes `bytes` as a file to import, next to the folder.
fn source(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn an_imported_key_replaces_the_next_key_and_signs_after_the_following_rotation() {
    let (dir, folder, before) = initialised();
    let old_next = before.keys()[1].kid().to_owned();
    let file = source(&dir, "rsa.pem", rsa_key().to_pkcs8_pem().as_bytes());

    let import = folder.import(&file).unwrap();

    assert_eq!(import.imported.kid, rsa_key().kid());
    assert_eq!(import.imported.alg, Algorithm::Rs256);
    assert_eq!(import.imported.state, KeyState::Next);
    assert_eq!(
        import.replaced.iter().map(|m| &m.kid).collect::<Vec<_>>(),
        [&old_next]
    );
    let after = folder.load().unwrap();
    assert_eq!(after.keys().len(), 2);
    assert_eq!(after.active().kid(), before.active().kid());
    assert_eq!(
        after.by_kid(rsa_key().kid()).unwrap().state(),
        KeyState::Next
    );
    assert!(after.by_kid(&old_next).is_none());
    assert!(!folder.path().join(format!("{old_next}.pem")).exists());
    let written = folder.path().join(format!("{}.pem", rsa_key().kid()));
    assert_eq!(
        fs::metadata(&written).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let rotation = folder
        .rotate(RotateOptions {
            alg: Algorithm::EdDsa,
            rsa_bits: 2048,
            min_next_age: Duration::from_secs(300),
            force: true,
            grace: Duration::from_secs(960),
        })
        .unwrap();
    assert_eq!(rotation.active.kid, rsa_key().kid());
}

#[test]
fn an_ed25519_v2_file_is_imported_and_written_as_v1() {
    let (dir, folder, _) = initialised();
    let key = ed25519_key(KeyState::Next);
    let v1 = crate::keys::pem_codec::decode_private_key(&key.to_pkcs8_pem()).unwrap();
    let v2 = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(&v1)
        .unwrap()
        .to_pkcs8()
        .unwrap();
    let pem = crate::keys::pem_codec::encode_private_key(v2.as_ref());
    let file = source(&dir, "v2.pem", pem.as_bytes());

    let import = folder.import(&file).unwrap();

    assert_eq!(import.imported.kid, key.kid());
    let written = fs::read_to_string(folder.path().join(format!("{}.pem", key.kid()))).unwrap();
    assert_eq!(written, *key.to_pkcs8_pem(), "stored as PKCS#8 v1");
}

#[test]
fn refused_imports_change_no_byte_name_or_mode_of_the_folder() {
    let (dir, folder, set) = initialised();
    let active = folder.path().join(format!("{}.pem", set.active().kid()));
    let rsa = rsa_key().to_pkcs8_pem();
    let cases: Vec<(std::path::PathBuf, &str)> = vec![
        (
            source(&dir, "garbage", b"hello, world\n"),
            "no PEM begin line",
        ),
        (
            source(&dir, "binary", &[0xff, 0xfe, 0x00, 0x80]),
            "not text",
        ),
        (
            source(&dir, "big", &vec![b'A'; MAX_IMPORT_FILE_BYTES + 1]),
            "larger than 64 KiB",
        ),
        (
            source(
                &dir,
                "pkcs1",
                rsa.replace("PRIVATE KEY", "RSA PRIVATE KEY").as_bytes(),
            ),
            "openssl pkcs8 -topk8",
        ),
        (active.clone(), "already in the key set (state active)"),
        (dir.path().join("missing.pem"), "read the file to import"),
    ];
    let before = snapshot(&folder);

    for (file, expected) in cases {
        let message = folder.import(&file).unwrap_err().to_string();

        assert!(message.contains(expected), "{file:?}: {message}");
        assert!(!message.contains('\n'), "one line: {message}");
        assert_eq!(snapshot(&folder), before, "{file:?} changed the folder");
    }
}

#[test]
fn a_folder_without_a_key_set_is_refused_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let folder = KeyFolder::new(dir.path().join("keys"));
    let file = source(&dir, "rsa.pem", rsa_key().to_pkcs8_pem().as_bytes());

    let err = folder.import(&file).unwrap_err();

    assert!(matches!(err, KeyError::NoManifest { .. }), "{err}");
    assert!(!folder.path().exists());
}
