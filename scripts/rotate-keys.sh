#!/usr/bin/env bash
# Rotates sigil's signing keys, tells running servers to reload them, and
# prints the new active kid. Run with --help for details.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/rotate-keys.sh [--alg RS256|EdDSA] [--force]

Rotates sigil's signing keys: the next key becomes active, the active key is
retired (it still verifies until `sigil keys prune` removes it after its
grace), and a new next key is published. Then every running server named by a
pid file gets SIGHUP to reload the keys at once, and the new active kid is
printed on stdout as the last line.

Options:
  --alg RS256|EdDSA  algorithm of the new next key
                     (default: SIGIL_SIGNING_ALG, itself RS256 by default)
  --force            rotate even if the next key has been published for less
                     than the JWK Set max-age (SIGIL_JWKS_MAX_AGE)
  -h, --help         show this help

The script works from the project root (the folder above scripts/), wherever
it is started from: relative paths, and the .env file, are taken from there.

Environment (also read from .env, where the environment wins):
  SIGIL_KEYS_DIR    keys folder (default: keys)
  SIGIL_KEY_STORE   folder (default) or database; with database (and
                    SIGIL_DATABASE_URL, SIGIL_KEY_ENCRYPTION_KEY) the rotation
                    is one transaction in PostgreSQL and every server, on
                    any machine, swaps the new set in within about a second
  SIGIL_PID_FILE    pid file of a server (default: data/sigil.pid)
  SIGIL_PID_FILES   several pid files, separated by spaces; replaces the
                    default pid file (an explicit SIGIL_PID_FILE is still used)
  SIGIL_BIN         the sigil binary, used as it is (nothing is built); a
                    relative path is taken from the directory the script is
                    started from. Default: `cargo build --release` (quick when
                    up to date), then the binary cargo built, in the target
                    folder `cargo metadata` names (CARGO_TARGET_DIR honoured);
                    without cargo, `sigil` on PATH.
  Every other SIGIL_* setting of `sigil keys rotate` (see its --help).

A pid file whose process is gone, or is not sigil (a reused pid), is skipped
with a warning: running servers also notice the change by watching the keys
folder within seconds (or through the database's notifications).
Exit status: 0 on success; non-zero, with a message on stderr, on any failure.
EOF
}

say() { printf 'rotate-keys: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

rotate_args=()
while (($# > 0)); do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --force)
        rotate_args+=(--force)
        ;;
    --alg)
        (($# >= 2)) || die "--alg needs a value: RS256 or EdDSA"
        rotate_args+=(--alg "$2")
        shift
        ;;
    --alg=*)
        rotate_args+=(--alg "${1#--alg=}")
        ;;
    *)
        say "error: unknown argument: $1"
        usage >&2
        exit 2
        ;;
    esac
    shift
done

# A relative SIGIL_BIN means what it meant where the script was started.
if [[ -n "${SIGIL_BIN:-}" && "$SIGIL_BIN" == */* && "$SIGIL_BIN" != /* ]]; then
    SIGIL_BIN="$PWD/$SIGIL_BIN"
fi

root="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)" ||
    die "cannot find the project root above $(dirname -- "${BASH_SOURCE[0]}")"
cd -- "$root"
# shellcheck source=scripts/lib/cargo-target.sh
source "$root/scripts/lib/cargo-target.sh"

# Prints the value of variable $1 from .env (sigil reads .env itself; the
# script needs only the pid-file settings and the key store). Quotes around the
# value are removed.
dotenv_value() {
    [[ -f .env ]] || return 0
    local line value
    line="$(grep -E "^[[:space:]]*(export[[:space:]]+)?$1=" .env | tail -n 1)" || return 0
    value="${line#*=}"
    value="${value%$'\r'}"
    if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then
        value="${BASH_REMATCH[1]}"
    fi
    printf '%s' "$value"
}

for name in SIGIL_PID_FILE SIGIL_PID_FILES SIGIL_BIN SIGIL_KEY_STORE; do
    if [[ -z "${!name+set}" ]]; then
        value="$(dotenv_value "$name")"
        if [[ -n "$value" ]]; then
            printf -v "$name" '%s' "$value"
        fi
    fi
done

if [[ -n "${SIGIL_BIN:-}" ]]; then
    bin="$SIGIL_BIN"
    [[ -x "$bin" ]] || command -v -- "$bin" >/dev/null 2>&1 ||
        die "SIGIL_BIN=$bin is not an executable"
elif command -v cargo >/dev/null 2>&1; then
    # Build first, so that the binary is the one of this source; cargo may
    # build outside target/ (CARGO_TARGET_DIR, build.target-dir): ask it where.
    say "building sigil (cargo build --release)…"
    cargo build --release --quiet --bin sigil || die "cargo build --release failed"
    target_dir="$(cargo_target_dir)" ||
        die "cargo metadata did not name the target folder; set SIGIL_BIN to the sigil binary"
    bin="$target_dir/release/sigil"
    [[ -x "$bin" ]] || die "cargo built no $bin; set SIGIL_BIN to the sigil binary"
elif command -v sigil >/dev/null 2>&1; then
    bin="$(command -v sigil)"
else
    die "no sigil binary: set SIGIL_BIN, install Rust to build it, or put sigil on PATH"
fi

# sigil prints its summary on stderr (passed through) and the new kid on stdout.
if ! kid="$("$bin" keys rotate "${rotate_args[@]}")"; then
    die "the rotation failed (see above); no server was signalled"
fi
kid="$(printf '%s\n' "$kid" | tail -n 1)"
[[ -n "$kid" ]] || die "sigil keys rotate printed no kid"

pid_files=()
if [[ -n "${SIGIL_PID_FILES:-}" ]]; then
    read -r -a pid_files <<<"$SIGIL_PID_FILES"
    if [[ -n "${SIGIL_PID_FILE:-}" ]]; then
        pid_files+=("$SIGIL_PID_FILE")
    fi
elif [[ -z "${SIGIL_PID_FILE+set}" ]]; then
    pid_files=(data/sigil.pid)
elif [[ -n "$SIGIL_PID_FILE" ]]; then
    pid_files=("$SIGIL_PID_FILE")
fi

store="${SIGIL_KEY_STORE:-folder}"
if [[ "${store,,}" == database ]]; then
    watching="servers on the database key store receive the change within about a second anyway"
else
    watching="running servers also notice the change by watching the keys folder within seconds"
fi
failed=0
for pid_file in "${pid_files[@]}"; do
    if [[ ! -e "$pid_file" ]]; then
        say "warning: no pid file $pid_file, so no server to signal there; $watching"
        continue
    fi
    pid="$(tr -d '[:space:]' <"$pid_file" 2>/dev/null)" || {
        say "error: cannot read pid file $pid_file"
        failed=1
        continue
    }
    # Never pid 1 (init) or 0 (our own process group), whatever the file says.
    if [[ ! "$pid" =~ ^[1-9][0-9]*$ || "$pid" == 1 ]]; then
        say "error: pid file $pid_file does not hold a server's process id"
        failed=1
        continue
    fi
    # A pid file left behind by a killed server may name a reused pid: signal
    # only a process whose command line names sigil.
    if [[ -r "/proc/$pid/cmdline" ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q sigil; then
        say "warning: process $pid from $pid_file is not sigil (stale pid file?), skipped; $watching"
        continue
    fi
    if kill -HUP "$pid" 2>/dev/null; then
        say "sent SIGHUP to server $pid ($pid_file)"
    elif [[ -e "/proc/$pid" ]] || ps -p "$pid" >/dev/null 2>&1; then
        say "error: cannot signal process $pid from $pid_file (not ours?)"
        failed=1
    else
        say "warning: process $pid from $pid_file is gone (stale pid file), skipped; $watching"
    fi
done

printf '%s\n' "$kid"
if ((failed)); then
    die "the keys were rotated (active kid $kid), but not every server was signalled; $watching"
fi
