//! The API contract: schemathesis generates requests for every operation of
//! `/openapi.json` against a live `sigil serve` and checks every answer (no
//! 5xx, documented statuses, content types, headers and bodies), through
//! `scripts/schemathesis.sh`: once as an administrator (bearer), once with
//! HTTP Basic of a confidential client for the operations that take client
//! authentication. schemathesis comes from PyPI into
//! `target/schemathesis-venv` (`scripts/schemathesis.sh --install`, which
//! `.ci/run` runs); without it this test is skipped (`helpers::skip`: SKIPPED
//! outside CI, a failure under `CI=true`).

use std::path::Path;
use std::process::Command;

use crate::helpers::skip::skip;

#[test]
fn schemathesis_finds_no_answer_that_breaks_the_openapi_document() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !root
        .join("target/schemathesis-venv/bin/schemathesis")
        .exists()
    {
        skip(
            "no schemathesis in target/schemathesis-venv \
             (run scripts/schemathesis.sh --install; .ci/run does it)",
        );
        return;
    }

    let out = Command::new("bash")
        .arg(root.join("scripts/schemathesis.sh"))
        .env("SIGIL_BIN", env!("CARGO_BIN_EXE_sigil"))
        .output()
        .unwrap();

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis reported failures:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Two runs: every operation with the administrator's bearer token, then
    // the client-authenticated ones (token endpoint, /oauth/revoke,
    // /oauth/introspect) with HTTP Basic of a confidential client.
    let (bearer_run, basic_run) = stdout
        .split_once("== run 2 of 2")
        .unwrap_or_else(|| panic!("the client-authentication run did not start:\n{stdout}"));
    for (run, output) in [("bearer", bearer_run), ("client authentication", basic_run)] {
        assert!(
            output.contains(" passed"),
            "schemathesis's {run} run ran no test cases:\n{stdout}"
        );
    }
    // POST /auth/login, /oauth/revoke and /oauth/introspect.
    assert!(
        basic_run.contains("Selected: 3/"),
        "the client-authentication run did not test the three operations:\n{basic_run}"
    );
}
