//! A service that depends on sigil for the verifier alone compiles none of
//! the server: `cargo tree` of the `verify` features names no crate of the
//! server's stack. (`poem` is allowed with `verify-poem`, which is a poem
//! middleware; `poem-openapi` is not.)

use std::process::Command;

/// Crates only the server needs, with their families (`sqlx-core`,
/// `clap_builder`…).
const SERVER_ONLY: &[&str] = &[
    "poem",
    "poem-openapi",
    "sqlx",
    "argon2",
    "notify",
    "clap",
    "rsa",
    "prometheus-client",
];

/// Whether `krate` is `banned` or one of its family.
fn of_family(krate: &str, banned: &str) -> bool {
    krate == banned
        || krate
            .strip_prefix(banned)
            .is_some_and(|rest| rest.starts_with(['-', '_']))
}

/// The crate names of `cargo tree -e normal` with `features` only, or why it
/// could not run.
fn normal_dependencies(features: &str) -> Result<Vec<String>, String> {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--locked", "-e", "normal", "--prefix", "none"])
        .args([
            "--format",
            "{p}",
            "--no-default-features",
            "--features",
            features,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .map_err(|e| format!("cannot run cargo tree: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let crates: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    Ok(crates)
}

/// Fails naming every server crate in the tree of `features`, except those
/// in `allowed`.
fn assert_no_server_crates(features: &str, allowed: &[&str]) {
    let crates = match normal_dependencies(features) {
        Ok(crates) => crates,
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("--features {features}: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED: --features {features}: {why}");
            return;
        }
    };
    assert!(
        crates.iter().any(|c| c == "sigil") && crates.iter().any(|c| c == "aws-lc-rs"),
        "--features {features}: the tree lacks sigil or its crypto, so it was not read: {crates:?}"
    );
    // A crate counts as the most specific family it belongs to, so that
    // allowing `poem` allows `poem-derive` but not `poem-openapi`.
    let family = |krate: &str| {
        SERVER_ONLY
            .iter()
            .copied()
            .filter(|banned| of_family(krate, banned))
            .max_by_key(|banned| banned.len())
    };
    let mut found: Vec<&str> = crates
        .iter()
        .map(String::as_str)
        .filter(|krate| family(krate).is_some_and(|f| !allowed.contains(&f)))
        .collect();
    found.sort_unstable();
    found.dedup();
    assert!(
        found.is_empty(),
        "--features {features} compiles server crates: {}",
        found.join(", ")
    );
}

#[test]
fn the_verify_feature_compiles_no_server_crate() {
    assert_no_server_crates("verify", &[]);
}

#[test]
fn the_tower_layer_feature_compiles_no_server_crate() {
    assert_no_server_crates("verify-tower", &[]);
}

#[test]
fn the_poem_middleware_feature_compiles_poem_but_no_other_server_crate() {
    assert_no_server_crates("verify-poem", &["poem"]);
}

#[test]
fn crate_families_are_recognized_and_unrelated_names_are_not() {
    assert!(of_family("sqlx-core", "sqlx"));
    assert!(of_family("clap_builder", "clap"));
    assert!(of_family("poem-openapi-derive", "poem-openapi"));
    assert!(!of_family("rsa-lite", "rs"));
    assert!(!of_family("notifyx", "notify"));
    assert!(!of_family("clapper", "clap"));
}
