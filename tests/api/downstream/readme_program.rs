//! The README's Rust verifier is a whole program that compiles as pasted: it
//! is `tests/examples/verify_token.rs` (an example, so `cargo test` and
//! clippy build it), byte for byte, and the `Cargo.toml` lines before it
//! name what that program needs.

use std::path::Path;

/// The README section that shows the program.
const SECTION: &str = "### Rust: `sigil::verify::JwksVerifier`";

/// The body of the first fenced block of `lang` in `text`, up to its closing fence.
fn first_block<'a>(text: &'a str, lang: &str) -> &'a str {
    let fence = format!("```{lang}\n");
    let start = text
        .find(&fence)
        .unwrap_or_else(|| panic!("a {fence:?} block"))
        + fence.len();
    let end = text[start..]
        .find("\n```\n")
        .unwrap_or_else(|| panic!("the {lang} block ends"));
    &text[start..start + end + 1]
}

#[test]
fn the_readme_rust_verifier_is_the_example_program_cargo_builds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("tests/examples/verify_token.rs")).unwrap();
    let section = &readme[readme.find(SECTION).expect("the Rust verifier section")..];

    let program = first_block(section, "rust");
    let manifest = first_block(section, "toml");

    assert!(
        program == example,
        "the README's program differs from tests/examples/verify_token.rs:\n--- README\n{program}--- example\n{example}"
    );
    let line = |name: &str| {
        manifest
            .lines()
            .find(|l| l.starts_with(&format!("{name} = ")))
            .unwrap_or_else(|| panic!("a `{name} = …` line in:\n{manifest}"))
    };
    let sigil = line("sigil");
    assert!(sigil.contains("default-features = false"), "{sigil}");
    assert!(sigil.contains(r#"features = ["verify"]"#), "{sigil}");
    // `#[tokio::main]` on the multi-threaded runtime.
    let tokio = line("tokio");
    assert!(tokio.contains("\"macros\""), "{tokio}");
    assert!(tokio.contains("\"rt-multi-thread\""), "{tokio}");
}
