//! What the keys tests share: an initialised keys folder in a temp dir, and
//! running `sigil keys …` and `scripts/rotate-keys.sh` on it.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use sigil::keys::{Algorithm, KeyFolder};
use tempfile::TempDir;

use crate::helpers::keys;

/// An initialised keys folder in a temp dir.
pub(super) struct Keys {
    pub(super) dir: TempDir,
    pub(super) path: PathBuf,
}

impl Keys {
    /// One active and one next key of `alg`, made by the library as a first
    /// start of the server would.
    pub(super) fn new(alg: Algorithm) -> Keys {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        KeyFolder::new(&path).load_or_init(alg, 2048).unwrap();
        Keys { dir, path }
    }

    /// `sigil keys <args>` on this folder, EdDSA for new keys, nothing
    /// from the developer's environment or .env.
    pub(super) fn sigil(&self, args: &[&str]) -> Command {
        sigil_keys(&self.path, args)
    }

    /// Every entry of the folder, hidden ones too, and the folder itself
    /// (as `.`): name → (mode, SHA-256 of the content).
    pub(super) fn snapshot(&self) -> BTreeMap<String, (u32, Vec<u8>)> {
        let mode = |m: std::fs::Metadata| m.permissions().mode();
        let mut entries = BTreeMap::new();
        let folder = std::fs::metadata(&self.path).unwrap();
        entries.insert(".".to_owned(), (mode(folder), Vec::new()));
        for entry in std::fs::read_dir(&self.path).unwrap() {
            let entry = entry.unwrap();
            let content = std::fs::read(entry.path()).unwrap();
            let digest = ring::digest::digest(&ring::digest::SHA256, &content);
            entries.insert(
                entry.file_name().to_string_lossy().into_owned(),
                (mode(entry.metadata().unwrap()), digest.as_ref().to_vec()),
            );
        }
        entries
    }

    /// `bash scripts/rotate-keys.sh <args>` on this folder, started from an
    /// unrelated directory, signalling only the servers of `pid_file`.
    pub(super) fn script(&self, args: &[&str], pid_file: &Path) -> Command {
        let mut cmd = keys::rotate_script(&self.path);
        cmd.env("RUST_LOG", "warn")
            .env("SIGIL_SIGNING_ALG", "EdDSA")
            .env("SIGIL_PID_FILE", pid_file)
            .current_dir(self.dir.path())
            .args(args);
        cmd
    }

    /// The keys as `sigil keys list --json` reports them.
    pub(super) fn list(&self) -> Vec<Value> {
        let out = succeed(&mut self.sigil(&["list", "--json"]));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// kids of the keys in `state`.
    pub(super) fn kids(&self, state: &str) -> Vec<String> {
        self.list()
            .iter()
            .filter(|k| k["state"] == state)
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The one kid in `state`.
    pub(super) fn kid(&self, state: &str) -> String {
        let kids = self.kids(state);
        assert_eq!(kids.len(), 1, "expected one {state} key: {kids:?}");
        kids.into_iter().next().unwrap()
    }

    pub(super) fn file(&self, kid: &str) -> PathBuf {
        self.path.join(format!("{kid}.pem"))
    }

    pub(super) fn manifest(&self) -> Vec<u8> {
        std::fs::read(self.path.join("keyset.json")).unwrap()
    }
}

/// `sigil keys <args>` on the folder `keys_dir`, EdDSA for new keys,
/// nothing from the developer's environment or .env (it runs in the
/// folder's parent).
pub(super) fn sigil_keys(keys_dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sigil"));
    cmd.env_clear()
        .env("RUST_LOG", "info")
        .env("SIGIL_KEYS_DIR", keys_dir)
        .env("SIGIL_SIGNING_ALG", "EdDSA")
        .current_dir(keys_dir.parent().unwrap())
        .arg("keys")
        .args(args);
    cmd
}

pub(super) fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap()
}

pub(super) fn succeed(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub(super) fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub(super) fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

pub(super) fn last_line(text: &str) -> &str {
    text.lines().last().unwrap_or_default()
}

/// Runs `cmd` until it succeeds, bounded: for a rotation the folder refuses
/// until the next key has been published for the JWK Set max-age, so the
/// test waits on the folder's answer instead of the clock.
pub(super) fn succeed_once_allowed(cmd: &mut Command) -> Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let out = run(cmd);
        if out.status.success() {
            return out;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still refused: {}",
            stderr(&out)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
