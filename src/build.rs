//! Build script: decides whether the PostgreSQL half of the integration suite
//! is compiled. It is when `SIGIL_TEST_POSTGRES_URL` is set (as `.ci/run` does
//! on machines with PostgreSQL); otherwise cargo prints a warning and the suite
//! shows one ignored test saying the PostgreSQL tests were skipped.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(sigil_postgres_tests)");
    println!("cargo::rerun-if-env-changed=SIGIL_TEST_POSTGRES_URL");
    println!("cargo::rerun-if-changed=src/build.rs");
    match std::env::var("SIGIL_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => println!("cargo::rustc-cfg=sigil_postgres_tests"),
        // Test builds use the dev profile; a release build for running the
        // service has no tests to skip.
        _ if std::env::var("PROFILE").as_deref() != Ok("release") => println!(
            "cargo::warning=SIGIL_TEST_POSTGRES_URL is not set: the PostgreSQL half of the test suite is SKIPPED"
        ),
        _ => {}
    }
}
