//! The database password never reaches the output, whichever form of the URL
//! carries it (user-info, `?password=`, an encoded key, a parameter the
//! driver does not know) and whichever command opens the database: the real
//! binary, debug logs on, every byte of stdout and stderr searched.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "hunter2-xyz";

/// What a finished command printed.
pub(super) struct Printed {
    pub(super) code: Option<i32>,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

/// Runs `sigil ARGS` in a fresh folder with nothing of the developer's
/// environment but `env`, debug logs on (dependencies included), and waits
/// for it to exit, bounded: a command that keeps running fails the test.
pub(super) fn run_sigil(args: &[&str], env: &[(&str, &str)]) -> Printed {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sigil"));
    cmd.env_clear()
        .current_dir(dir.path())
        .env("RUST_LOG", "debug")
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // `users create` reads a password first; the others never read stdin.
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(b"correct horse battery\n");
    drop(stdin);
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        text
    });
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`sigil {}` did not exit within 30 s; stderr: {}",
                args.join(" "),
                stderr.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Printed {
        code: status.code(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Database URLs of a server that refuses connections, each carrying the
/// password in another form.
const URLS: [&str; 5] = [
    "postgres://u:hunter2-xyz@127.0.0.1:1/db",
    "postgres://u@127.0.0.1:1/db?password=hunter2-xyz",
    "postgresql://u@127.0.0.1:1/db?sslmode=disable&password=hunter2-xyz&application_name=x",
    "postgres://u@127.0.0.1:1/db?pass%77ord=hunter2-xyz",
    "postgres://u@127.0.0.1:1/db?sslpassword=hunter2-xyz",
];

fn assert_hidden(what: &str, url: &str, printed: &Printed) {
    assert_ne!(printed.code, Some(0), "{what} with {url} must fail");
    for (stream, text) in [("stdout", &printed.stdout), ("stderr", &printed.stderr)] {
        assert!(
            !text.contains(SECRET),
            "{what} with {url}: the password is on {stream}: {text}"
        );
    }
    let last = printed.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("sigil: "),
        "{what} with {url} ends with one line saying why: {}",
        printed.stderr
    );
}

#[test]
fn sigil_serve_with_an_unreachable_database_never_prints_its_password() {
    for url in URLS {
        let printed = run_sigil(
            &["serve", "--bind", "127.0.0.1:0"],
            &[("SIGIL_DATABASE_URL", url)],
        );
        assert_hidden("sigil serve", url, &printed);
    }
}

#[test]
fn the_database_url_flag_of_serve_users_and_clients_never_prints_its_password() {
    for url in URLS {
        for (what, args) in [
            ("serve", &["serve", "--bind", "127.0.0.1:0"][..]),
            (
                "users create",
                &["users", "create", "--email", "a@example.com", "--name", "A"][..],
            ),
            ("clients list", &["clients", "list"][..]),
        ] {
            let mut args = args.to_vec();
            args.extend(["--database-url", url]);
            let printed = run_sigil(&args, &[]);
            assert_hidden(what, url, &printed);
        }
    }
}
