# Sourced by scripts/rotate-keys.sh and scripts/bench.sh (not run on its own).
#
# cargo_target_dir: prints the folder cargo builds this project into, as
# `cargo metadata` reports it: CARGO_TARGET_DIR, a .cargo/config.toml's
# build.target-dir, or target/ in the project, whichever cargo itself uses.
# Run it from the project root. Fails, printing nothing, when cargo cannot
# tell (no cargo, a broken Cargo.toml, a path JSON had to escape).
cargo_target_dir() {
    local metadata dir
    metadata="$(cargo metadata --format-version 1 --no-deps 2>/dev/null)" || return 1
    # One line of JSON; a path with a quote or a backslash would be escaped
    # there, and is refused rather than guessed at.
    dir="$(printf '%s\n' "$metadata" |
        sed -n 's/.*"target_directory":"\([^"\\]*\)".*/\1/p' | head -n 1)"
    [[ -n "$dir" ]] || return 1
    printf '%s\n' "$dir"
}
