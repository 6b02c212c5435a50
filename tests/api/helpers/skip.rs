//! The one decision about a check whose tool is missing (chromium, the
//! PyJWT venv, jose, schemathesis, PostgreSQL): outside CI the test writes
//! one loud `SKIPPED:` line and passes; under `CI=true` it fails with the
//! reason, so CI cannot pass a check that did not run.

use std::io::Write as _;

/// Whether this run is CI (`CI` set to anything but empty, `0` or `false`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// Reports that the running test cannot do its check because `why`; the
/// caller returns right after. Panics under CI.
pub fn skip(why: &str) {
    // libtest names each test's thread after the test.
    let current = std::thread::current();
    let test = current.name().unwrap_or("a test");
    assert!(
        !in_ci(),
        "{test} could not run, and CI=true does not allow skipping it: {why}"
    );
    // libtest captures eprintln!, not direct writes to the stderr handle.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {why}");
}
