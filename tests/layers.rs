//! The layers of `src/lib.rs`'s `# Layout`, enforced: a module may name
//! `crate::X` (or reach `X` through `super::super::…`) only when `X` is in its
//! row of [`LAYERS`], and every module in that row sits on a lower rank.
//! Comments and string literals are ignored; `#[cfg(test)]` modules inside
//! `src/` obey the same rule (a test that needs a higher layer belongs in
//! `tests/`). A back-edge fails with the file, the line and the rule.
//!
//! Over 400 lines on purpose: the rank table (one row per module, with why),
//! and a small lexer that also sees paths inside macro calls and attributes,
//! which a parser such as `syn` leaves as opaque token streams.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One layer: a top-level module, its rank, and the modules it may use.
struct Layer {
    module: &'static str,
    rank: u8,
    may_use: &'static [&'static str],
}

/// The table of `src/lib.rs` # Layout, lowest first.
const LAYERS: &[Layer] = &[
    Layer {
        module: "jose",
        rank: 0,
        may_use: &[],
    },
    Layer {
        module: "verify",
        rank: 1,
        may_use: &["jose"],
    },
    Layer {
        module: "config",
        rank: 1,
        may_use: &["jose"],
    },
    Layer {
        module: "keys",
        rank: 1,
        may_use: &["jose"],
    },
    Layer {
        module: "telemetry",
        rank: 2,
        may_use: &["config"],
    },
    Layer {
        module: "token",
        rank: 2,
        may_use: &["jose", "keys"],
    },
    Layer {
        module: "password",
        rank: 2,
        may_use: &["config", "jose"],
    },
    Layer {
        module: "store",
        rank: 3,
        may_use: &["config", "jose", "keys", "token"],
    },
    Layer {
        module: "accounts",
        rank: 4,
        may_use: &[
            "jose",
            "verify",
            "config",
            "keys",
            "telemetry",
            "token",
            "password",
            "store",
        ],
    },
    Layer {
        module: "key_store",
        rank: 4,
        may_use: &["config", "keys", "telemetry", "store"],
    },
    Layer {
        module: "reload",
        rank: 5,
        may_use: &["config", "keys", "telemetry", "key_store"],
    },
    Layer {
        module: "http",
        rank: 5,
        may_use: &[
            "jose",
            "verify",
            "config",
            "keys",
            "telemetry",
            "token",
            "password",
            "accounts",
        ],
    },
    Layer {
        module: "cli",
        rank: 5,
        may_use: &[
            "jose",
            "verify",
            "config",
            "keys",
            "telemetry",
            "token",
            "password",
            "store",
            "key_store",
            "accounts",
        ],
    },
    Layer {
        module: "startup",
        rank: 6,
        may_use: &[
            "jose",
            "verify",
            "config",
            "keys",
            "telemetry",
            "token",
            "password",
            "store",
            "key_store",
            "reload",
            "accounts",
            "http",
            "cli",
        ],
    },
];

/// Files at the top of `src/` that are not modules of the library.
fn outside_the_layers(relative: &Path) -> bool {
    let first = relative
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    matches!(
        first.as_deref(),
        Some("lib.rs" | "main.rs" | "build.rs" | "bin")
    )
}

/// One use of another module.
#[derive(Debug, PartialEq, Eq)]
struct Edge {
    line: usize,
    target: String,
}

fn layer(module: &str) -> Option<&'static Layer> {
    LAYERS.iter().find(|l| l.module == module)
}

/// Why `from` may not use `to`, or `None` when it may.
fn violation(from: &str, to: &str) -> Option<String> {
    if from == to {
        return None;
    }
    let Some(rules) = layer(from) else {
        return Some(format!(
            "module {from} is not in the layer table of tests/layers.rs; give it a rank there and in src/lib.rs # Layout"
        ));
    };
    if rules.may_use.contains(&to) {
        return None;
    }
    let allowed = if rules.may_use.is_empty() {
        "no other module".to_owned()
    } else {
        rules.may_use.join(", ")
    };
    let target = match layer(to) {
        Some(t) => format!("{to} (rank {})", t.rank),
        None => format!("{to} (not in the layer table)"),
    };
    Some(format!(
        "{from} (rank {}) may only use {allowed}, not {target}; layers point down, see src/lib.rs # Layout",
        rules.rank
    ))
}

/// `source` without comments and string or character literals (each replaced
/// by spaces, newlines kept, so line numbers stay right).
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && matches!(next, Some('"' | '#'))
            && !ident_char(chars.get(i.wrapping_sub(1)).copied())
        {
            // A raw string r"…" or r#"…"#: ends at a quote followed by as many hashes.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                match chars.get(j) {
                    None => break,
                    Some('"') if (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    _ => j += 1,
                }
            }
            for &ch in &chars[i..j.min(chars.len())] {
                out.push(blank(ch));
            }
            i = j;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A character literal ('x', '\n', '\u{..}'); a lifetime has no closing quote.
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Splits code into identifiers, `::` and single punctuation, with line numbers.
fn tokens(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut line = 1;
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if ident_char(Some(c)) {
            let start = i;
            while ident_char(chars.get(i).copied()) {
                i += 1;
            }
            out.push((line, chars[start..i].iter().collect()));
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push((line, "::".to_owned()));
            i += 2;
        } else {
            out.push((line, c.to_string()));
            i += 1;
        }
    }
    out
}

/// The top-level modules that `source` (the file of module path `path`, e.g.
/// `["keys", "folder"]`) names, through `crate::` or enough `super::`s.
fn edges(path: &[String], source: &str) -> Vec<Edge> {
    let tokens = tokens(&code_only(source));
    let text = |k: usize| tokens.get(k).map(|(_, t)| t.as_str());
    let mut found = Vec::new();
    // Inline `mod name {` blocks deepen the path; remember the brace depth each opened at.
    let mut braces = 0usize;
    let mut inline_mods: Vec<usize> = Vec::new();
    let mut k = 0;
    while k < tokens.len() {
        let (line, token) = (&tokens[k].0, tokens[k].1.as_str());
        match token {
            "{" => braces += 1,
            "}" => {
                if inline_mods.last() == Some(&braces) {
                    inline_mods.pop();
                }
                braces = braces.saturating_sub(1);
            }
            "mod" if text(k + 2) == Some("{") => inline_mods.push(braces + 1),
            "crate" if text(k + 1) == Some("::") && text(k.wrapping_sub(1)) != Some("::") => {
                for target in path_heads(&tokens, k + 2) {
                    found.push(Edge {
                        line: *line,
                        target,
                    });
                }
            }
            "super" if text(k.wrapping_sub(1)) != Some("::") => {
                let mut supers = 0;
                let mut j = k;
                while text(j) == Some("super") && text(j + 1) == Some("::") {
                    supers += 1;
                    j += 2;
                }
                // Each `super` climbs one module; at the crate root the next name is a top module.
                if supers >= path.len() + inline_mods.len() {
                    for target in path_heads(&tokens, j) {
                        found.push(Edge {
                            line: *line,
                            target,
                        });
                    }
                }
                k = j.max(k + 1);
                continue;
            }
            _ => {}
        }
        k += 1;
    }
    found
}

/// The first names of the path(s) starting at token `k`: `http` in
/// `http::x`, `http` and `keys` in `{http::x, keys}`.
fn path_heads(tokens: &[(usize, String)], k: usize) -> Vec<String> {
    let Some((_, first)) = tokens.get(k) else {
        return Vec::new();
    };
    if first != "{" {
        return if ident_char(first.chars().next()) {
            vec![first.clone()]
        } else {
            Vec::new()
        };
    }
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect_head = true;
    for (_, t) in &tokens[k..] {
        match t.as_str() {
            "{" => {
                depth += 1;
                expect_head = depth == 1;
            }
            "}" => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            "," if depth == 1 => expect_head = true,
            name if expect_head && depth == 1 && ident_char(name.chars().next()) => {
                if name != "self" {
                    heads.push(name.to_owned());
                }
                expect_head = false;
            }
            _ => {}
        }
    }
    heads
}

/// The module path of a file under `src/`: `keys/folder.rs` → `[keys, folder]`,
/// `keys/mod.rs` → `[keys]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if stem != "mod" {
            parts.push(stem.to_owned());
        }
    }
    parts
}

/// Every rule broken by the file at `relative` (under `src/`) with `source`,
/// one line each.
fn check_file(relative: &Path, source: &str) -> Vec<String> {
    let path = module_path(relative);
    let Some(from) = path.first() else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    for edge in edges(&path, source) {
        let Some(why) = violation(from, &edge.target) else {
            continue;
        };
        problems.push(format!(
            "src/{}:{} uses crate::{}: {why}",
            relative.display(),
            edge.line,
            edge.target
        ));
    }
    problems
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    let mut modules = std::collections::BTreeSet::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        if outside_the_layers(relative) {
            continue;
        }
        modules.insert(module_path(relative)[0].clone());
        let source = std::fs::read_to_string(file).unwrap();
        problems.extend(check_file(relative, &source));
    }
    for module in &modules {
        if layer(module).is_none() {
            problems.push(format!(
                "src/{module}: module {module} has no rank; add it to LAYERS in tests/layers.rs and to src/lib.rs # Layout"
            ));
        }
    }
    let mut report = String::new();
    for p in &problems {
        writeln!(report, "{p}").unwrap();
    }
    assert!(problems.is_empty(), "layers point down only:\n{report}");
}

#[test]
fn every_allowed_use_points_to_a_strictly_lower_rank() {
    for l in LAYERS {
        for used in l.may_use {
            let target = layer(used).unwrap_or_else(|| panic!("{used} is not in LAYERS"));
            assert!(
                target.rank < l.rank,
                "{} (rank {}) may use {used} (rank {}): same or higher rank",
                l.module,
                l.rank,
                target.rank
            );
        }
    }
}

#[test]
fn a_back_edge_is_reported_with_its_file_line_and_rule() {
    let source = "//! config, with a mistake.\n\
                  use std::time::Duration;\n\
                  use crate::jose::Algorithm;\n\
                  use crate::{jose::Jwk, http::client_addr::TrustedProxies};\n";
    let problems = check_file(Path::new("config/mod.rs"), source);
    assert_eq!(
        problems,
        [
            "src/config/mod.rs:4 uses crate::http: config (rank 1) may only use jose, not http (rank 5); layers point down, see src/lib.rs # Layout"
        ]
    );
}

#[test]
fn comments_strings_and_a_modules_own_paths_are_not_uses() {
    let source = r##"
        //! See [`crate::http`] for the routes.
        /* crate::startup wires it */
        use crate::password::HashError;
        const HINT: &str = "crate::http::app";
        const RAW: &str = r#"use crate::cli;"#;
        fn f<'a>(x: &'a str) -> char { let _ = '"'; 'x' }
        use crate::accounts::Accounts;
        mod tests {
            use super::super::super::store::Store;
        }
    "##;
    let found: Vec<String> = edges(&["http".to_owned(), "auth".to_owned()], source)
        .into_iter()
        .map(|e| e.target)
        .collect();
    assert_eq!(found, ["password", "accounts", "store"]);
    assert!(
        violation("http", "store").is_some(),
        "http goes through accounts"
    );
    assert!(violation("http", "accounts").is_none());
}

#[test]
fn super_paths_that_stay_inside_the_module_are_not_uses() {
    let source = "pub(super) fn f() {} mod tests { use super::super::test_support::rsa_key; }";
    assert!(edges(&["keys".to_owned(), "set".to_owned()], source).is_empty());
    let source = "use super::super::reload::KeyReloader;";
    let found: Vec<String> = edges(&["keys".to_owned(), "set".to_owned()], source)
        .into_iter()
        .map(|e| e.target)
        .collect();
    assert_eq!(found, ["reload"]);
}
