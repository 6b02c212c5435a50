//! The API contract: schemathesis generates requests for every operation of
//! `/openapi.json` against a live `sigil serve` and checks every answer (no
//! 5xx, documented statuses, content types, headers and bodies), through
//! `scripts/schemathesis.sh`. schemathesis comes from PyPI into
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
    assert!(
        stdout.contains(" passed"),
        "schemathesis ran no test cases:\n{stdout}"
    );
}
