//! The keys folder's mode on first start: a folder that git made 0755
//! (the repository ships `keys/README.md`) is tightened by sigil when it
//! creates the key set there, and said once; a loose folder that already
//! holds a key set keeps the warning.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use super::helpers::ServerProcess;

const LOOSE: &str = "the keys folder is accessible to group or others; chmod 700 it";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A 0755 `keys/` holding only a README, as a fresh clone has it.
fn cloned_keys_folder(dir: &Path) -> std::path::PathBuf {
    let keys = dir.join("keys");
    std::fs::create_dir(&keys).unwrap();
    std::fs::write(keys.join("README.md"), "Keys live here.\n").unwrap();
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o755)).unwrap();
    keys
}

fn lines_with(server: &ServerProcess, text: &str) -> usize {
    server
        .json_lines()
        .iter()
        .filter(|v| v["message"].as_str().is_some_and(|m| m.contains(text)))
        .count()
}

#[test]
fn first_start_in_a_cloned_keys_folder_tightens_it_without_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let keys = cloned_keys_folder(dir.path());

    let server = ServerProcess::start(dir.path(), &[]);

    assert_eq!(mode(&keys), 0o700);
    assert_eq!(lines_with(&server, LOOSE), 0, "{:?}", server.json_lines());
    assert_eq!(
        lines_with(&server, "tightened the keys folder"),
        1,
        "{:?}",
        server.json_lines()
    );
}

#[test]
fn a_loose_keys_folder_that_holds_a_key_set_keeps_the_warning() {
    let dir = tempfile::tempdir().unwrap();
    let keys = cloned_keys_folder(dir.path());
    drop(ServerProcess::start(dir.path(), &[]));
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o755)).unwrap();

    let server = ServerProcess::start(dir.path(), &[]);

    assert_eq!(lines_with(&server, LOOSE), 1, "{:?}", server.json_lines());
    assert_eq!(lines_with(&server, "tightened the keys folder"), 0);
    assert_eq!(
        mode(&keys),
        0o755,
        "an existing set's folder is the operator's"
    );
}
